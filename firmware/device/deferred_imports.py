"""Modules ``presspoint run`` imports but does not use until later, loaded on first use: imported first by each process.

Each is imported at the top of a library for one call the run makes late
or never, and pulls in much more (2.3 MiB of RSS per process for the first
two, with email, zipfile, csv, tempfile, shutil, bz2, lzma; 1.2 MiB for the
third, with http.client and email in the service):

- ``importlib.metadata``: pydantic's plugin loader, gpiozero's device and
  mock-pin modules and ``hal.factory``, each for ``entry_points``.
  pydantic's plugin lookup (the one call at run time, on the first model
  built) is switched off with its own ``PYDANTIC_DISABLE_PLUGINS`` -
  presspoint uses no pydantic plugin, and none may run in the safety loop;
  the rest find a pin factory by name, which the device does once at start.
- ``importlib.resources``: gpiozero's boards, for the fonts of its
  seven-segment displays.
- ``urllib.request``: paho-mqtt, for the proxy settings when it connects
  (so with a broker configured the service loads it then).

A stand-in holds each module's place; its ``entry_points`` (or any other
name) imports the real module then and answers from it: nothing changes but
when the cost is paid.  Does nothing for a module loaded already (a test's
interpreter: pytest loads the first two for its plugins), so there pydantic
plugins keep their default.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
import types
from typing import Any

#: The modules put off.
METADATA, RESOURCES, URL_REQUESTS = "importlib.metadata", "importlib.resources", "urllib.request"
#: pydantic's switch that keeps its plugin lookup from loading ``METADATA``.
PLUGINS_OFF = ("PYDANTIC_DISABLE_PLUGINS", "__all__")

_loading = threading.RLock()  # re-entrant: a real module that imports another put-off one while loading


class DeferredModule(types.ModuleType):
    """Stands in for a module in ``sys.modules`` until one of its names is used."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)  # the import system's probes (__file__, ...) load nothing
        return getattr(load_real(self.__name__), name)

    def entry_points(self, **selection: Any) -> Any:
        """``importlib.metadata.entry_points``, the real module imported at the first call."""
        return load_real(self.__name__).entry_points(**selection)


def load_real(name: str) -> types.ModuleType:
    """The real module ``name``, imported now if a stand-in holds its place (and in its place from then on)."""
    with _loading:
        held = sys.modules.get(name)
        if not isinstance(held, DeferredModule):
            return importlib.import_module(name)
        del sys.modules[name]
        try:
            return importlib.import_module(name)  # the import also makes it the parent package's attribute
        except BaseException:
            sys.modules[name] = held
            raise


def defer(name: str) -> bool:
    """Put a ``DeferredModule`` in the place of submodule ``name`` unless it is loaded; whether it did."""
    if name in sys.modules:
        return False
    parent, _, child = name.rpartition(".")
    stand_in = DeferredModule(name, f"stand-in for {name}: the real module is imported at first use")
    spec = importlib.util.find_spec(name)  # finds it, runs nothing
    stand_in.__spec__ = spec  # ``find_spec`` of it answers as for the real one
    if spec is not None and spec.submodule_search_locations is not None:
        stand_in.__path__ = list(spec.submodule_search_locations)  # its submodules import as they are
    sys.modules[name] = stand_in
    setattr(importlib.import_module(parent), child, stand_in)
    return True


def is_stand_in(module: object) -> bool:
    """Whether ``module`` (a ``sys.modules`` value) is a stand-in, not the module: for module reports."""
    return isinstance(module, DeferredModule)


if defer(METADATA):
    os.environ.setdefault(*PLUGINS_OFF)
defer(RESOURCES)
defer(URL_REQUESTS)
