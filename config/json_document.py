"""A state file holding one pydantic model as JSON: read whole (bounded), replaced atomically.

What the device keeps between runs (the person's outcomes, the last PPT at
each spot): a missing file is the empty model, a bad one an error naming the
file and the field - never silently replaced - and a write leaves the old
document or the new one, never half of one (``config.atomic``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from config.atomic import atomic_write_bytes
from config.loader import validated
from config.reading import read_regular

_Model = TypeVar("_Model", bound=BaseModel)


def load_document(path: Path, model: type[_Model], limit_bytes: int) -> _Model:
    """``path`` as ``model``; ``model()`` before anything was stored there."""
    if not path.exists():
        return model()
    data = read_regular(path, limit_bytes)
    return validated(path, lambda: model.model_validate_json(data))


def save_document(path: Path, document: BaseModel, *, by_alias: bool = False) -> None:
    """``document`` as indented JSON in place of ``path``."""
    data = document.model_dump(mode="json", by_alias=by_alias)
    atomic_write_bytes(path, (json.dumps(data, indent=1) + "\n").encode("utf-8"))
