"""Modules behind stand-ins (``deferred_imports``): nothing heavy loaded at import, the real answers on use.

Each check runs in a fresh interpreter (this one has the modules loaded by
pytest, where the stand-ins rightly do nothing), importing the real
libraries that import them at their top: pydantic (with a model built, when
its plugin lookup runs), gpiozero and paho-mqtt.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

#: The heavy modules the stand-ins keep out until a name is used.
HEAVY = ("email", "zipfile", "tempfile", "http.client")
IMPORTS = """
import json, os, sys
import firmware.device.deferred_imports
import pydantic
class Model(pydantic.BaseModel):
    x: int
Model(x=1)
import gpiozero, gpiozero.pins.mock
import hal.factory
import paho.mqtt.client
DEFERRED = ("importlib.metadata", "importlib.resources", "urllib.request")
"""
CHECK = IMPORTS + """
heavy = sorted(set(sys.argv[1:]) & set(sys.modules))
types_before = [type(sys.modules[n]).__name__ for n in DEFERRED]
plugins_off = os.environ.get("PYDANTIC_DISABLE_PLUGINS")
from importlib.metadata import entry_points, version
factories = sorted(ep.name for ep in entry_points(group="gpiozero_pin_factories"))
import importlib, importlib.metadata, importlib.resources, urllib.request
font = importlib.resources.files("gpiozero.fonts").joinpath("7seg.txt").read_text()[:20]
proxies = urllib.request.getproxies_environment()
print(json.dumps({
    "heavy_at_import": heavy, "types_before": types_before, "plugins_off": plugins_off,
    "factories": factories, "version": version("pydantic"), "font": font, "proxies": proxies,
    "real_after": [type(sys.modules[n]).__name__ for n in DEFERRED],
    "attribute_is_real": importlib.metadata is sys.modules["importlib.metadata"],
    "heavy_after": sorted(set(sys.argv[1:]) & set(sys.modules)),
}))
"""
#: The same answers without the stand-ins.
PLAIN = """
import json, importlib.metadata as m, importlib.resources as r, urllib.request as u
print(json.dumps({
    "proxies": u.getproxies_environment(),
    "factories": sorted(ep.name for ep in m.entry_points(group="gpiozero_pin_factories")),
    "version": m.version("pydantic"),
    "font": r.files("gpiozero.fonts").joinpath("7seg.txt").read_text()[:20],
}))
"""


def run_python(code: str, *args: str) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), http_proxy="http://proxy.invalid:3128")
    env.pop("PYDANTIC_DISABLE_PLUGINS", None)
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return answer


def test_pydantic_and_gpiozero_import_without_the_heavy_modules_and_get_the_real_answers_on_use() -> None:
    got = run_python(CHECK, *HEAVY)
    plain = run_python(PLAIN)
    assert got["heavy_at_import"] == []
    assert got["types_before"] == ["DeferredModule"] * 3
    assert got["plugins_off"] == "__all__"  # pydantic's own lookup would load importlib.metadata
    assert plain["factories"] and "mock" in plain["factories"]  # type: ignore[operator]
    assert {key: got[key] for key in plain} == plain
    assert got["real_after"] == ["module"] * 3 and got["attribute_is_real"] is True
    assert set(got["heavy_after"]) == set(HEAVY)  # the real modules are in use


def test_a_process_that_loaded_them_already_keeps_them_and_its_plugins() -> None:
    code = "import importlib.metadata, importlib.resources, urllib.request\n" + CHECK
    got = run_python(code, *HEAVY)
    assert got["types_before"] == ["module"] * 3
    assert got["plugins_off"] is None


#: A put-off module whose real import uses another put-off one: both load, nested, on one thread.
NESTED = """
import json, sys, tempfile, pathlib
import firmware.device.deferred_imports as d
package = pathlib.Path(tempfile.mkdtemp()) / "nestpkg"
package.mkdir()
(package / "__init__.py").write_text("")
(package / "user.py").write_text("import importlib.metadata\\nVERSION = importlib.metadata.version('pydantic')\\n")
sys.path.insert(0, str(package.parent))
assert d.defer("nestpkg.user")
import nestpkg.user
print(json.dumps({"version": nestpkg.user.VERSION, "real": type(sys.modules["importlib.metadata"]).__name__}))
"""


def test_a_put_off_module_whose_import_uses_another_loads_both() -> None:
    got = run_python(NESTED)
    assert got["version"] == run_python(PLAIN)["version"] and got["real"] == "module"
