"""Camera images at rest: AES-256-GCM with a key file of its own (4-8-6(10)).

The key is 32 random bytes kept as hex in a file of mode 0600, created on first use and
never overwritten; a key file that others may read is refused. Each sealed blob is
``MAGIC || nonce (12 bytes) || ciphertext+tag``; the associated data binds it to where it is
stored (site and file name), so a file moved or swapped under another name does not open.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"SKEV1"
_NONCE = 12
_KEY_BYTES = 32


class EvidenceKeyError(ValueError):
    """The key file cannot be used: unreadable, readable by others, or not a key."""


class EvidenceTampered(ValueError):
    """A sealed blob does not open with this key and name: altered, swapped or foreign."""


def load_or_create_key(path: Path) -> bytes:
    """The key at ``path``; a new one (0600, in a 0700 folder) when the file does not exist."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileNotFoundError:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return load_or_create_key(path)
    except FileExistsError:
        return _load(path)
    key = secrets.token_bytes(_KEY_BYTES)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key.hex() + "\n")
        f.flush()
        os.fsync(f.fileno())
    return key


def _load(path: Path) -> bytes:
    """Read an existing key file, refusing one others may read."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvidenceKeyError(f"cannot read the camera evidence key {path}: {exc}") from None
    if mode & 0o077:
        raise EvidenceKeyError(f"{path} is readable by others: chmod 600 it")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise EvidenceKeyError(f"{path} is not a hex key") from None
    if len(key) != _KEY_BYTES:
        raise EvidenceKeyError(f"{path} holds {len(key)} bytes; an AES-256 key is 32")
    return key


class EvidenceCipher:
    """Seals and opens evidence blobs with one AES-256-GCM key."""

    def __init__(self, key: bytes) -> None:
        """Use ``key`` (32 bytes)."""
        if len(key) != _KEY_BYTES:
            raise EvidenceKeyError("an AES-256 key is 32 bytes")
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, name: bytes) -> bytes:
        """Encrypt ``plaintext`` bound to ``name`` (where it is stored)."""
        nonce = secrets.token_bytes(_NONCE)
        return MAGIC + nonce + self._aead.encrypt(nonce, plaintext, MAGIC + name)

    def open(self, blob: bytes, name: bytes) -> bytes:
        """Decrypt a sealed blob stored under ``name``; EvidenceTampered when it does not open."""
        if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + _NONCE + 16:
            raise EvidenceTampered("not a sealed evidence file")
        nonce = blob[len(MAGIC) : len(MAGIC) + _NONCE]
        try:
            return self._aead.decrypt(nonce, blob[len(MAGIC) + _NONCE :], MAGIC + name)
        except InvalidTag:
            raise EvidenceTampered("the evidence file does not open: altered or moved") from None
