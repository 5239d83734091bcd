"""One force bar and its legend, shared by ``therapist watch`` and ``simulate --realtime``.

The bar is plain text so a pipe, a test and a terminal all see the same
marks; only its width changes (a fixed width for plain lines, the terminal's
width for a live view).  A mark sits where its force falls on a scale that
reaches a little past the highest mark, so every mark is always visible.

``LiveScreen`` is the terminal side: a few lines redrawn in place (rich's
``Live``), with news printed above them, every line cut to the terminal's
width so nothing wraps into a scroll of repeated bars.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import TextIO

#: Headroom of the scale past its highest mark.
HEADROOM = 1.1

#: The narrowest bar still worth drawing.
MIN_WIDTH = 10


@dataclass(frozen=True)
class BarMarks:
    """The forces drawn on the bar, in newtons; a mark with no value is left out."""

    band_low_n: float
    band_high_n: float
    tolerance_n: float
    therapist_max_n: float | None = None

    def placed(self) -> list[tuple[float, str]]:
        """(force, mark) pairs, lowest mark first so a higher one wins a shared cell."""
        marks = [(self.band_low_n, "["), (self.band_high_n, "]"), (self.tolerance_n, "|")]
        if self.therapist_max_n is not None:
            marks.append((self.therapist_max_n, "!"))
        return marks

    @property
    def scale_n(self) -> float:
        return max(value for value, _ in self.placed()) * HEADROOM


def force_bar(force_n: float | None, marks: BarMarks, width: int) -> str:
    """``width`` cells: ``#`` up to the force (none when unknown), ``.`` after, the marks on top."""
    width = max(MIN_WIDTH, width)
    scale = marks.scale_n
    filled = 0 if force_n is None else max(0, min(width, round(force_n / scale * width)))
    cells = list("#" * filled + "." * (width - filled))
    for value, mark in marks.placed():
        cells[min(width - 1, round(value / scale * width))] = mark
    return "".join(cells)


def legend(marks: BarMarks) -> str:
    """One short line (under 60 columns) naming every mark the bar shows with ``marks``."""
    parts = ["# force", "[ ] target band", "| tolerance"]
    if marks.therapist_max_n is not None:
        parts.append("! therapist max")
    return "legend: " + "  ".join(parts)


class LiveScreen:
    """A block of lines redrawn in place on a terminal, news printed above it.

    rich is imported here, not with the module: the bar and the summary are
    also used by ``presspoint run``, whose service process must stay small.
    """

    def __init__(self, out: TextIO) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.text import Text

        self.console = Console(file=out, force_terminal=True, highlight=False, markup=False, emoji=False)
        self._live = Live(
            Text(""),
            console=self.console,
            auto_refresh=False,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )

    @property
    def width(self) -> int:
        """The terminal's width now (it follows a resize)."""
        return self.console.width

    def __enter__(self) -> LiveScreen:
        self._live.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def update(self, news: list[str], block: list[str]) -> None:
        """Print ``news`` (lines that stay; long ones wrap) above the block, then redraw ``block``.

        Each block line is cut to the width, never wrapped, so the block keeps its height.
        """
        from rich.console import Group
        from rich.text import Text

        self._live.update(Group(*(Text(line, no_wrap=True, overflow="ellipsis") for line in block)))
        for line in news:  # each print redraws the block under it: the new block, set just above
            self._live.console.print(Text(line, overflow="fold"))
        self._live.refresh()

    def close(self) -> None:
        self._live.stop()
