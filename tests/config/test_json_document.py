"""A JSON state document: missing is empty, bad is one line naming file and field, a save reads back."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from config.errors import InputFileError
from config.json_document import load_document, save_document


class Counts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    per_spot: dict[str, int] = Field(default_factory=dict, alias="perSpot")


def test_a_missing_document_is_the_empty_model(tmp_path: Path) -> None:
    assert load_document(tmp_path / "counts.json", Counts, 1000) == Counts()


def test_a_saved_document_reads_back_with_or_without_aliases(tmp_path: Path) -> None:
    path = tmp_path / "counts.json"
    save_document(path, Counts(per_spot={"neck": 2}), by_alias=True)
    assert path.read_text(encoding="utf-8") == '{\n "perSpot": {\n  "neck": 2\n }\n}\n'
    assert load_document(path, Counts, 1000) == Counts(per_spot={"neck": 2})
    save_document(path, Counts(per_spot={"neck": 3}))
    assert '"per_spot"' in path.read_text(encoding="utf-8")
    assert load_document(path, Counts, 1000).per_spot == {"neck": 3}


def test_a_bad_document_is_one_error_naming_the_file_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "counts.json"
    path.write_text('{"perSpot": {"neck": "many"}}', encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        load_document(path, Counts, 1000)
    assert str(path) in str(caught.value) and "perSpot.neck" in str(caught.value)
    assert "\n" not in str(caught.value)
