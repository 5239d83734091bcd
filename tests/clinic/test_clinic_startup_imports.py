"""The clinic app starts without matplotlib: the plots and PDFs import it when first drawn."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_building_the_clinic_app_leaves_matplotlib_unloaded() -> None:
    code = "import sys\nimport firmware.clinic.app\nprint('matplotlib' in sys.modules)\n"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False", done.stderr
