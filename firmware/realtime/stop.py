"""The one "stop now" request the button, signals and shutdown set."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class StopRequest:
    """A stop flag that also wakes whoever waits on it; the first source is kept."""

    source: str | None = None
    _event: asyncio.Event = field(default_factory=asyncio.Event)

    def request(self, source: str) -> None:
        if self.source is None:
            self.source = source
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        await self._event.wait()
