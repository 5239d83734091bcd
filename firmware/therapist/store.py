"""The therapist's database: the clinic storage (same schema, same writes, same queries), opened from ``--db``.

``--db`` is a file (an SQLite database, as ``therapist collect`` always made)
or a database URL (``sqlite:///FILE``, ``postgresql://...``), so the terminal
tools can read what a ``clinic serve`` collected too.  Nothing here defines
a table or writes a row: ``firmware.clinic.ingest`` writes, the clinic
queries read.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from firmware.clinic import history, queries
from firmware.clinic.database import open_database
from firmware.clinic.ingest import ClinicStore, Ingested
from firmware.clinic.queries import SessionData
from firmware.protocol.ppt import PptMeasurement
from firmware.therapist.db_check import check_collect_db

__all__ = ["Ingested", "SessionData", "TherapistStore", "database_url", "shown"]


def database_url(db: Path | str) -> tuple[str, Path | None]:
    """The URL for ``--db`` and, for a file, its path (checked before it is opened)."""
    text = str(db)
    if "://" in text:
        return text, None
    path = Path(text)
    return f"sqlite:///{path.expanduser().absolute()}", path


def shown(db: Path | str) -> str:
    """``--db`` as it may be printed: a URL without its password."""
    url, path = database_url(db)
    return str(path) if path is not None else sa.make_url(url).render_as_string(hide_password=True)


class TherapistStore(ClinicStore):
    """The clinic store on ``--db``; ``create``: a missing file becomes a new database (``collect``)."""

    def __init__(self, db: Path | str, *, prefix: str = "presspoint", create: bool = True) -> None:
        url, path = database_url(db)
        if path is not None:
            check_collect_db(path, create=create)
        super().__init__(open_database(url), prefix=prefix)
        self.db = db

    def close(self) -> None:
        self.engine.dispose()

    def counts(self) -> dict[str, int]:
        return queries.counts(self.engine)

    def sessions(self, device_id: str | None = None) -> list[history.SessionListing]:
        return history.session_listing(self.engine, device_id)

    def session_ids(self, prefix: str = "") -> list[str]:
        return history.session_ids(self.engine, prefix)

    def session(self, session_id: str) -> SessionData | None:
        return queries.session_data(self.engine, session_id)

    def ppt_measurements(self, device_id: str | None = None) -> list[PptMeasurement]:
        """Oldest first (the latest is the last)."""
        return list(reversed(queries.ppt_measurements(self.engine, device_id=device_id, limit=10_000)))
