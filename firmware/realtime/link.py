"""A framed, never-blocking message link between the real-time process and the service.

Each message is pickled and sent as a 4-byte big-endian length and the bytes.
Both ends are non-blocking: a stalled or dead peer can never make the sender
wait.  What the pipe cannot take yet waits in a bounded buffer; past the bound,
messages marked ``droppable`` (sample batches) are dropped and counted, others
(decisions, summaries) are kept up to a hard bound of four times as much.
Both processes are ours, so pickle is fine here; frames over ``MAX_FRAME_BYTES``
mean a corrupt stream and close the link.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import struct
from collections.abc import Callable
from typing import Any

HEADER = struct.Struct("!I")
MAX_FRAME_BYTES = 16 * 1024 * 1024
DEFAULT_BUFFER_BYTES = 2 * 1024 * 1024


class LinkClosed(Exception):
    """The peer closed its end, or the stream is corrupt."""


class FrameDecoder:
    """Turns a byte stream into messages, however the bytes were split."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        self._buffer += data
        messages: list[Any] = []
        while len(self._buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(self._buffer)
            if size > MAX_FRAME_BYTES:
                raise LinkClosed(f"frame of {size} bytes is over the {MAX_FRAME_BYTES} limit")
            end = HEADER.size + size
            if len(self._buffer) < end:
                break
            messages.append(pickle.loads(bytes(self._buffer[HEADER.size : end])))
            del self._buffer[:end]
        return messages


class Link:
    """One direction in (``read_fd``), one out (``write_fd``), both non-blocking."""

    def __init__(self, read_fd: int | None, write_fd: int | None, *, buffer_bytes: int = DEFAULT_BUFFER_BYTES) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        for fd in (read_fd, write_fd):
            if fd is not None:
                os.set_blocking(fd, False)
        self._decoder = FrameDecoder()
        self._out = bytearray()
        self._soft_limit = buffer_bytes
        self._hard_limit = 4 * buffer_bytes
        self.dropped = 0
        self.lost = 0
        self.peer_gone = False

    @property
    def pending_bytes(self) -> int:
        return len(self._out)

    def send(self, message: object, *, droppable: bool = False) -> bool:
        """Queue ``message`` and write what the pipe takes now; ``False`` if it was dropped."""
        if self.peer_gone or self.write_fd is None:
            return False
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        limit = self._soft_limit if droppable else self._hard_limit
        if len(self._out) + HEADER.size + len(data) > limit:
            if droppable:
                self.dropped += 1
            else:
                self.lost += 1
            self.flush()
            return False
        self._out += HEADER.pack(len(data))
        self._out += data
        self.flush()
        return True

    def flush(self) -> None:
        """Write as much of the buffer as the pipe takes without waiting."""
        while self._out and not self.peer_gone and self.write_fd is not None:
            try:
                written = os.write(self.write_fd, self._out)
            except BlockingIOError:
                return
            except OSError:  # EPIPE: the reader is gone
                self.peer_gone = True
                self._out.clear()
                return
            del self._out[:written]

    def receive(self) -> list[Any]:
        """Every complete message readable now; raises ``LinkClosed`` at end of stream."""
        if self.read_fd is None:
            return []
        messages: list[Any] = []
        while True:
            try:
                data = os.read(self.read_fd, 65536)
            except BlockingIOError:
                return messages
            except OSError as err:
                raise LinkClosed(str(err)) from err
            if not data:
                if messages:
                    return messages
                raise LinkClosed("the peer closed the link")
            messages.extend(self._decoder.feed(data))

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.read_fd = self.write_fd = None


class LoopLink:
    """A ``Link`` on an asyncio loop: messages in go to a handler, output waits for the pipe to drain.

    Used from the loop's thread only.  ``on_closed`` is called once, when the
    peer closes its end (its process died or left).
    """

    def __init__(
        self,
        link: Link,
        loop: asyncio.AbstractEventLoop,
        on_message: Callable[[Any], None],
        on_closed: Callable[[str], None],
    ) -> None:
        self.link = link
        self._loop = loop
        self._on_message = on_message
        self._on_closed = on_closed
        self._writing = False
        self.closed = False
        if link.read_fd is not None:
            loop.add_reader(link.read_fd, self._readable)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def send(self, message: object, *, droppable: bool = False) -> bool:
        sent = self.link.send(message, droppable=droppable)
        self._watch_output()
        return sent

    def close(self) -> None:
        self._stop_reading()
        self._stop_writing()
        self.link.close()

    def _watch_output(self) -> None:
        fd = self.link.write_fd
        if self.link.pending_bytes and not self._writing and fd is not None:
            self._loop.add_writer(fd, self._writable)
            self._writing = True

    def _writable(self) -> None:
        self.link.flush()
        if not self.link.pending_bytes or self.link.peer_gone:
            self._stop_writing()

    def _stop_writing(self) -> None:
        if self._writing and self.link.write_fd is not None:
            self._loop.remove_writer(self.link.write_fd)
        self._writing = False

    def _stop_reading(self) -> None:
        if self.link.read_fd is not None:
            self._loop.remove_reader(self.link.read_fd)

    def _readable(self) -> None:
        try:
            messages = self.link.receive()
        except LinkClosed as exc:
            self._stop_reading()
            if not self.closed:
                self.closed = True
                self._on_closed(str(exc))
            return
        for message in messages:
            self._on_message(message)
