"""Checkpoints in the C2SP tlog-checkpoint format: origin, tree size, root hash, signed as a note.

The body is three lines (origin, decimal size, base64 root) and one extension line of ours,
``time <RFC 3339 UTC>``, saying when the gateway signed it; standard tools ignore extensions.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from gateway.audit.merkle import HASH_SIZE
from gateway.audit.note import NoteError, Signer, Verifier, open_note, sign_note

_SIZE: Final = re.compile(r"^(0|[1-9][0-9]{0,18})$")
TIME_PREFIX: Final = "time "


class CheckpointError(ValueError):
    """A checkpoint is malformed or its signature does not verify."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement: the log ``origin`` had ``size`` records with tree head ``root``."""

    origin: str
    size: int
    root: bytes
    signed_at: datetime | None
    note: str  # the whole signed note, as served and saved by clients

    @property
    def root_b64(self) -> str:
        """The root hash in standard base64, as the note carries it."""
        return base64.b64encode(self.root).decode()


def checkpoint_body(origin: str, size: int, root: bytes, signed_at: datetime) -> str:
    """The note text of a checkpoint."""
    if not origin or any(c.isspace() for c in origin) or "+" in origin:
        raise CheckpointError(f"origin {origin!r} must be non-empty, without spaces or '+'")
    if len(root) != HASH_SIZE or size < 0:
        raise CheckpointError("a checkpoint needs a size >= 0 and a 32-byte root")
    stamp = signed_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n{TIME_PREFIX}{stamp}\n"


def sign_checkpoint(
    signer: Signer, origin: str, size: int, root: bytes, signed_at: datetime
) -> Checkpoint:
    """A new checkpoint signed by ``signer``."""
    note = sign_note(checkpoint_body(origin, size, root, signed_at), signer)
    return Checkpoint(origin, size, root, signed_at.astimezone(UTC), note)


def parse_body(text: str) -> tuple[str, int, bytes, datetime | None]:
    """Origin, size, root and signing time from a checkpoint's note text."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise CheckpointError("a checkpoint has at least three lines")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not _SIZE.match(size_text):
        raise CheckpointError(f"checkpoint size {size_text!r} is not a decimal number")
    try:
        root = base64.b64decode(root_text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise CheckpointError("checkpoint root is not base64") from None
    if len(root) != HASH_SIZE:
        raise CheckpointError("checkpoint root is not 32 bytes")
    signed_at = None
    for extra in lines[3:-1]:
        if extra.startswith(TIME_PREFIX):
            try:
                signed_at = datetime.strptime(extra[len(TIME_PREFIX) :], "%Y-%m-%dT%H:%M:%S.%f%z")
            except ValueError:
                raise CheckpointError("checkpoint time is not RFC 3339 UTC") from None
            signed_at = signed_at.astimezone(UTC)
    return origin, int(size_text), root, signed_at


def open_checkpoint(note: str, verifiers: list[Verifier], origin: str | None = None) -> Checkpoint:
    """Verify a signed checkpoint; ``origin``, when given, must match. CheckpointError if not."""
    try:
        opened = open_note(note, verifiers)
    except NoteError as exc:
        raise CheckpointError(f"checkpoint signature: {exc}") from None
    name, size, root, signed_at = parse_body(opened.text)
    if origin is not None and name != origin:
        raise CheckpointError(f"checkpoint is for log {name!r}, not {origin!r}")
    return Checkpoint(name, size, root, signed_at, note)


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    """When the record writer signs a checkpoint: every N records or T seconds, whichever first."""

    signer: Signer
    origin: str
    every_records: int = 1000
    every_s: float = 60.0

    def __post_init__(self) -> None:
        """Refuse intervals that make no sense."""
        if self.every_records < 1 or self.every_s <= 0:
            raise ValueError("checkpoint intervals must be positive")
        checkpoint_body(self.origin, 0, bytes(32), datetime.now(UTC))  # validates the origin
