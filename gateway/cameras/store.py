"""Evidence files in the data folder: encrypted, named for the record that carries them.

``DIR/<record kind>/<YYYY-MM-DD>/<µs since epoch>-<camera>-<token>.<jpg|mjpeg>.sek``: the kind
and the time are those of the record that names the file (its ``ts``), so that a retention
purge of that kind up to a cutoff knows exactly which files go with the records it blanked
(``gateway.cameras.retention``). Files are written atomically (temporary name, fsync, rename)
with mode 0600 in 0700 folders, sealed with ``EvidenceCipher`` under their own name.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.cameras.crypto import EvidenceCipher, EvidenceTampered

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAME = re.compile(
    r"^(?P<kind>[a-z][a-z_.]{0,47})/(?P<day>\d{4}-\d{2}-\d{2})/"
    r"(?P<us>\d{1,20})-(?P<camera>[a-z0-9][a-z0-9_-]{0,62})-(?P<token>[0-9a-f]{12})"
    r"\.(?P<ext>jpg|mjpeg)\.sek$"
)


class EvidenceMissing(LookupError):
    """The evidence file is not there (purged, or never written)."""


@dataclass(frozen=True, slots=True)
class StoredItem:
    """What a record says about an evidence file."""

    file: str  # relative to the evidence folder
    sha256: str  # hex digest of the plaintext (the JPEG or the clip)
    bytes: int  # plaintext size

    def as_detail(self) -> dict[str, object]:
        """The item as record detail."""
        return {"file": self.file, "sha256": self.sha256, "bytes": self.bytes}


@dataclass(frozen=True, slots=True)
class FileName:
    """A parsed evidence file name."""

    kind: str
    ts: datetime
    camera: str
    ext: str


def micros(ts: datetime) -> int:
    """Microseconds since the epoch, exactly (no float rounding)."""
    return (ts - _EPOCH) // timedelta(microseconds=1)


def parse_name(rel: str) -> FileName | None:
    """The parts of a relative evidence file name; None when it is not one."""
    m = _NAME.match(rel)
    if m is None:
        return None
    ts = _EPOCH + timedelta(microseconds=int(m["us"]))
    return FileName(m["kind"], ts, m["camera"], m["ext"])


class EvidenceStore:
    """Encrypted evidence files under one folder, for one site."""

    def __init__(self, root: Path, cipher: EvidenceCipher, site_id: str) -> None:
        """Keep files under ``root`` (created 0700 on first write)."""
        self.root = root
        self._cipher = cipher
        self._site = site_id

    def _aad(self, rel: str) -> bytes:
        """What a file is bound to: this site and its own name."""
        return f"{self._site}/{rel}".encode()

    def save(self, kind: str, camera_id: str, ts: datetime, ext: str, payload: bytes) -> StoredItem:
        """Seal and write ``payload`` for a record of ``kind`` stamped ``ts``; blocking."""
        rel = (
            f"{kind}/{ts.astimezone(UTC):%Y-%m-%d}/"
            f"{micros(ts)}-{camera_id}-{secrets.token_hex(6)}.{ext}.sek"
        )
        if parse_name(rel) is None:
            raise ValueError(f"cannot name evidence {rel!r}")
        path = self.root / rel
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{secrets.token_hex(6)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(self._cipher.seal(payload, self._aad(rel)))
                f.flush()
                os.fsync(f.fileno())
            tmp.replace(path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return StoredItem(rel, hashlib.sha256(payload).hexdigest(), len(payload))

    def load(self, rel: str, sha256: str) -> bytes:
        """Read, decrypt and check one file against the digest its record carries."""
        if parse_name(rel) is None:
            raise EvidenceTampered(f"{rel!r} is not an evidence file name")
        try:
            blob = (self.root / rel).read_bytes()
        except FileNotFoundError:
            raise EvidenceMissing(rel) from None
        plain = self._cipher.open(blob, self._aad(rel))
        if hashlib.sha256(plain).hexdigest() != sha256:
            raise EvidenceTampered("the picture does not match the SHA-256 in its record")
        return plain

    def files(self, kind: str, before: datetime) -> list[tuple[str, FileName]]:
        """Files of records of ``kind`` stamped before ``before``, oldest first."""
        folder = self.root / kind
        if not folder.is_dir():
            return []
        last_day = f"{before.astimezone(UTC):%Y-%m-%d}"
        out: list[tuple[str, FileName]] = []
        for day in sorted(p for p in folder.iterdir() if p.is_dir() and p.name <= last_day):
            for path in sorted(day.iterdir()):
                rel = f"{kind}/{day.name}/{path.name}"
                name = parse_name(rel)
                if name is not None and name.ts < before:
                    out.append((rel, name))
        return out

    def kinds(self) -> list[str]:
        """Record kinds that have evidence folders."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir())

    def delete(self, rel: str) -> bool:
        """Remove one file (and its day folder when empty); False when it was not there."""
        if parse_name(rel) is None:
            return False
        path = self.root / rel
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # only succeeds when the day's folder is empty
        return True
