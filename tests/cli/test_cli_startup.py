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


def test_building_the_parser_imports_no_heavy_module() -> None:
    code = (
        "import sys\n"
        "from firmware.cli.main import _registrars, build_parser\n"
        "build_parser(_registrars())\n"
        "print(' '.join(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_building_the_parser_leaves_the_real_time_process_unloaded() -> None:
    """``run``'s help names the admission timeout; it comes from the options, not the link hooks."""
    code = (
        "import sys\n"
        "from firmware.cli.main import _registrars, build_parser\n"
        "build_parser(_registrars())\n"
        "print(' '.join(sorted(name for name in sys.modules if name.startswith('firmware.'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    assert not {"firmware.device.link_hooks", "firmware.realtime.link"} & loaded, sorted(loaded)
