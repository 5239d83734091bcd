"""The link between the real-time process and the service never blocks its sender."""

from __future__ import annotations

import os
import struct

import pytest

from firmware.realtime.link import FrameDecoder, Link, LinkClosed


def _pair(buffer_bytes: int = 4096) -> tuple[Link, Link]:
    r, w = os.pipe()
    return Link(None, w, buffer_bytes=buffer_bytes), Link(r, None)


def test_messages_arrive_whole_and_in_order() -> None:
    sender, receiver = _pair()
    for i in range(50):
        assert sender.send({"n": i, "force_n": 1.5 * i})
    assert receiver.receive() == [{"n": i, "force_n": 1.5 * i} for i in range(50)]
    assert receiver.receive() == []


def test_a_frame_split_anywhere_decodes_the_same() -> None:
    sender, receiver = _pair()
    sender.send(("sample", 0.0125, 29.4))
    assert sender.write_fd is not None and receiver.read_fd is not None
    data = os.read(receiver.read_fd, 1 << 16)
    for cut in range(len(data) + 1):
        decoder = FrameDecoder()
        assert decoder.feed(data[:cut]) + decoder.feed(data[cut:]) == [("sample", 0.0125, 29.4)]


def test_a_stalled_reader_never_blocks_the_sender_and_drops_only_droppable_messages() -> None:
    sender, receiver = _pair(buffer_bytes=4096)
    blob = b"x" * 1000
    sent = [sender.send(("batch", blob), droppable=True) for _ in range(200)]  # far more than a pipe holds
    assert not all(sent) and sender.dropped == sent.count(False)
    assert sender.send(("summary", "kept"))  # past the soft bound, under the hard one
    got = []
    while True:
        got.extend(receiver.receive())
        sender.flush()
        if sender.pending_bytes == 0:
            got.extend(receiver.receive())
            break
    assert got[-1] == ("summary", "kept")
    assert len(got) == sent.count(True) + 1


def test_a_dead_reader_marks_the_peer_gone_without_raising() -> None:
    sender, receiver = _pair()
    receiver.close()
    sender.send("anything")
    assert sender.peer_gone
    assert not sender.send("more")


def test_end_of_stream_and_a_corrupt_frame_close_the_link() -> None:
    sender, receiver = _pair()
    sender.send("last words")
    sender.close()
    assert receiver.receive() == ["last words"]
    with pytest.raises(LinkClosed):
        receiver.receive()
    with pytest.raises(LinkClosed, match="over the"):
        FrameDecoder().feed(struct.pack("!I", 1 << 30))
