"""A clip as multipart JPEG frames: written and read back, malformed bytes refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.cameras.clip import BOUNDARY, ClipError, pack, unpack
from gateway.cameras.port import Still

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def stills(n: int) -> list[Still]:
    """``n`` fake JPEG payloads (the container does not look inside them)."""
    return [
        Still(b"\xff\xd8" + bytes([i]) * (10 + i) + b"\xff\xd9", i, T0 + timedelta(seconds=i), 4, 3)
        for i in range(n)
    ]


def test_frames_and_times_come_back_in_order() -> None:
    frames = stills(5)
    blob = pack(frames)
    assert blob.startswith(f"--{BOUNDARY}\r\n".encode())
    assert unpack(blob) == [(s.ts, s.jpeg) for s in frames]


def test_an_empty_clip_is_just_the_closing_boundary() -> None:
    assert unpack(pack([])) == []


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"not a clip",
        pack(stills(2))[:-30],  # cut short
        pack(stills(1)).replace(b"Content-Length: 14", b"Content-Length: 99999"),
        pack(stills(1)).replace(b"X-Timestamp", b"X-Whatever"),
    ],
)
def test_malformed_clips_are_refused(blob: bytes) -> None:
    with pytest.raises(ClipError):
        unpack(blob)
