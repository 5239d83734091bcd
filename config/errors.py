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


def one_line(value: BaseException | str, *, with_type: bool = False, escape: bool = False) -> str:
    """``value`` as one line, for a log line, an error message or an sd_notify field.

    An exception gives the first line of its message (its type name when the
    message is empty), or ``Type: first line`` with ``with_type``.  Text has
    its line breaks joined with spaces, or with ``escape`` written as ``\\n``
    and ``\\r`` (and ``\\`` doubled), so a multi-line log record stays one
    line in the journal yet can be read back exactly.
    """
    if isinstance(value, BaseException):
        lines = str(value).strip().splitlines()
        first = lines[0] if lines else ""
        if with_type:
            return f"{type(value).__name__}: {first}".rstrip(": ")
        return first or type(value).__name__
    if escape:
        return value.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")
    return " ".join(value.splitlines()).strip()
