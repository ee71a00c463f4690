"""Secrets kept in files that only the gateway's user can read (0600), created on first use."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a new file with mode 0600 (never briefly readable by others)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def load_or_create_token(path: Path, nbytes: int = 48) -> str:
    """The secret stored at ``path``; a new random one is created there when none exists."""
    if not path.exists():
        write_private(path, secrets.token_urlsafe(nbytes) + "\n")
    if path.stat().st_mode & 0o077:
        raise PermissionError(f"{path} is readable by others: chmod 600 it")
    return path.read_text(encoding="utf-8").strip()


def create_scbk(path: Path) -> bytes:
    """Create a new random 16-byte OSDP Secure Channel key file (hex), unless one exists."""
    if not path.exists():
        write_private(path, secrets.token_bytes(16).hex() + "\n")
    return bytes.fromhex(path.read_text(encoding="ascii").strip())
