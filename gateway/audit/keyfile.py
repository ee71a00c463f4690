"""The checkpoint signing key on disk: a 0600 file made by a command, never in the repository.

``PATH`` holds the signer key (``PRIVATE+KEY+...``, the Go sumdb/note text form) and
``PATH.pub`` the verifier key that auditors pin.
"""

from __future__ import annotations

import os
from pathlib import Path

from gateway.audit.note import NoteError, Signer, Verifier


class KeyFileError(ValueError):
    """The key file is missing, unreadable, readable by others, or not a key."""


def public_path(path: Path) -> Path:
    """Where the verifier key of the key at ``path`` is kept."""
    return path.with_name(path.name + ".pub")


def create_key_file(path: Path, name: str) -> Signer:
    """Create a new key named ``name`` at ``path`` (mode 0600) and its ``.pub``; never overwrite."""
    signer = Signer.generate(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path} exists: a checkpoint key is never overwritten") from None
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(signer.skey + "\n")
        f.flush()
        os.fsync(f.fileno())
    public_path(path).write_text(signer.verifier().vkey + "\n", encoding="ascii")
    return signer


def load_signer(path: Path) -> Signer:
    """The signer key at ``path``; refused when others may read the file."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read the checkpoint key {path}: {exc}") from None
    if mode & 0o077:
        raise KeyFileError(f"{path} is readable by others: chmod 600 it")
    try:
        return Signer.parse(text)
    except NoteError as exc:
        raise KeyFileError(f"{path} is not a checkpoint key: {exc}") from None


def load_verifier(text_or_path: str) -> Verifier:
    """A verifier key given as text, or as a file holding it (or holding the private key)."""
    candidate = Path(text_or_path)
    text = text_or_path
    try:
        if candidate.is_file():
            text = candidate.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read {candidate}: {exc}") from None
    try:
        if text.startswith("PRIVATE+KEY+"):
            return Signer.parse(text).verifier()
        return Verifier.parse(text)
    except NoteError as exc:
        raise KeyFileError(f"not a checkpoint verifier key: {exc}") from None
