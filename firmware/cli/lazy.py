"""A sub-command's handler that imports its module only when the command runs.

Registering every sub-command must stay cheap: ``presspoint --help`` or a
refused ``config check`` should not load MQTT, SQLite, plotting or the
hardware stacks that only one command needs.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable


def lazy_command(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """``module.name(args)``, with ``module`` imported at the first call."""

    def run(args: argparse.Namespace) -> int:
        result: int = getattr(importlib.import_module(module), name)(args)
        return result

    return run
