"""The one exception root.  Errors a user can fix carry a one-line message."""

from __future__ import annotations


class PresspointError(Exception):
    """Base of every error presspoint raises on purpose.

    ``str(err)`` is a complete, one-line message for the person at the
    terminal; the CLI prints it and exits with code 2, never a traceback.
    """


class InputFileError(PresspointError):
    """A file the user gave (config, plan, trace) is missing or malformed.

    The message names the file and, where known, the line or field and the
    rule that was broken.
    """

    def __init__(self, path: object, where: str | None, problem: str) -> None:
        self.path = str(path)
        self.where = where
        self.problem = problem
        location = f"{self.path}: {where}" if where else self.path
        super().__init__(f"{location}: {problem}")
