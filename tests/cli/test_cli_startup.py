"""Starting the CLI loads only what parsing needs; the command's own modules load when it runs."""

from __future__ import annotations

import subprocess
import sys

from firmware.cli.main import SCHEMA_NAMES
from firmware.protocol import schemas
from tests.conftest import ROOT

#: Modules no sub-command's registration needs: storage, MQTT, plotting, the clinic, the hardware stacks.
HEAVY = ("sqlite3", "aiomqtt", "paho", "matplotlib", "rich", "sqlalchemy", "starlette", "gpiozero", "tomlkit")


def test_config_schema_offers_every_registered_schema() -> None:
    assert list(SCHEMA_NAMES) == sorted(schemas.SCHEMAS)


def modules_after_building_the_parser() -> set[str]:
    """Every module a fresh interpreter has loaded once the CLI's parser is built."""
    code = (
        "import sys\n"
        "from firmware.cli.main import _registrars, build_parser\n"
        "build_parser(_registrars())\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(done.stdout.split())


def test_building_the_parser_imports_no_heavy_module() -> None:
    loaded = {name.split(".")[0] for name in modules_after_building_the_parser()}
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_building_the_parser_leaves_the_real_time_process_unloaded() -> None:
    """``run``'s help names the admission timeout; it comes from the options, not the link hooks."""
    loaded = modules_after_building_the_parser()
    firmware = sorted(name for name in loaded if name.startswith("firmware."))
    assert not {"firmware.device.link_hooks", "firmware.realtime.link"} & loaded, firmware
