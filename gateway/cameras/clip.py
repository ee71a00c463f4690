"""A short clip as one file: JPEG frames in a multipart stream (``mpjpeg``).

The format is what MJPEG cameras send: each frame a part with its own headers, here also its
capture time. Browsers play it in an ``<img>`` served as ``multipart/x-mixed-replace``, and
FFmpeg reads it (``-f mpjpeg``). No video library is needed to write or read it.
"""

from __future__ import annotations

from datetime import datetime

from gateway.cameras.port import Still

BOUNDARY = "sekishoclip"
CONTENT_TYPE = f"multipart/x-mixed-replace; boundary={BOUNDARY}"
_LIMIT = 64 * 1024 * 1024


class ClipError(ValueError):
    """Bytes that are not a clip in this format."""


def pack(stills: list[Still]) -> bytes:
    """The frames as one multipart clip, in the given order."""
    out = bytearray()
    for s in stills:
        out += (
            f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(s.jpeg)}\r\n"
            f"X-Timestamp: {s.ts.isoformat()}\r\n\r\n"
        ).encode()
        out += s.jpeg + b"\r\n"
    out += f"--{BOUNDARY}--\r\n".encode()
    return bytes(out)


def unpack(blob: bytes) -> list[tuple[datetime, bytes]]:
    """The frames of a clip with their capture times; ClipError when malformed."""
    if len(blob) > _LIMIT:
        raise ClipError("clip too large")
    frames: list[tuple[datetime, bytes]] = []
    pos = 0
    opener = f"--{BOUNDARY}".encode()
    while True:
        if not blob.startswith(opener, pos):
            raise ClipError(f"no boundary at byte {pos}")
        pos += len(opener)
        if blob.startswith(b"--\r\n", pos):
            return frames
        end = blob.find(b"\r\n\r\n", pos)
        if end < 0:
            raise ClipError("part headers not terminated")
        headers = {}
        for line in blob[pos:end].decode("latin-1").split("\r\n"):
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        try:
            length = int(headers["content-length"])
            ts = datetime.fromisoformat(headers["x-timestamp"])
        except (KeyError, ValueError) as exc:
            raise ClipError(f"bad part headers: {exc}") from None
        start = end + 4
        if length < 0 or start + length + 2 > len(blob):
            raise ClipError("part longer than the clip")
        frames.append((ts, blob[start : start + length]))
        pos = start + length + 2
