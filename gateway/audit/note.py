"""C2SP signed notes with Ed25519 keys, byte-compatible with Go's ``golang.org/x/mod/sumdb/note``.

A signed note is UTF-8 text ending in a newline, a blank line, then signature lines
``— <name> <base64(key id || signature)>``. The key id is the first four bytes of
SHA-256(name || 0x0A || 0x01 || public key); 0x01 marks Ed25519. Keys travel as text:

- signer (private) key: ``PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || 32-byte seed)>``
- verifier (public) key: ``<name>+<key id hex>+<base64(0x01 || 32-byte public key)>``
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALG_ED25519: Final = 1
_DASH: Final = "— "  # em dash U+2014, space
_MAX_SIGNATURES: Final = 100
_MAX_NOTE_BYTES: Final = 1 << 20


class NoteError(ValueError):
    """A key or a note is malformed, or no trusted signature on it verifies."""


def _valid_name(name: str) -> bool:
    """A key name: non-empty, no whitespace, no plus sign (C2SP signed-note)."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_id(name: str, public: bytes) -> int:
    """The 32-bit id of an Ed25519 key named ``name``."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public).digest()
    return int(struct.unpack(">I", digest[:4])[0])


def _b64decode(text: str) -> bytes:
    """Strict standard base64 (RFC 4648 section 4), NoteError otherwise."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise NoteError("not standard base64") from None


@dataclass(frozen=True, slots=True)
class Verifier:
    """A public key that checks signatures on notes."""

    name: str
    id: int
    public: bytes  # 32 bytes

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """Parse ``<name>+<id hex>+<base64(0x01 || key)>``; NoteError when malformed."""
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3 or not _valid_name(parts[0]) or len(parts[1]) != 8:
            raise NoteError("malformed verifier key")
        try:
            claimed = int(parts[1], 16)
        except ValueError:
            raise NoteError("malformed verifier key") from None
        raw = _b64decode(parts[2])
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("verifier key is not an Ed25519 key")
        public = raw[1:]
        if key_id(parts[0], public) != claimed:
            raise NoteError("verifier key id does not match the key")
        return cls(parts[0], claimed, public)

    @property
    def vkey(self) -> str:
        """The key as text."""
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.public).decode()
        return f"{self.name}+{self.id:08x}+{encoded}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is this key's Ed25519 signature of ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True, slots=True)
class Signer:
    """A private key that signs notes."""

    name: str
    id: int
    seed: bytes  # 32 bytes

    @classmethod
    def generate(cls, name: str) -> Signer:
        """A new random key named ``name``."""
        if not _valid_name(name):
            raise NoteError(f"key name {name!r} must be non-empty, without spaces or '+'")
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
        return cls(name, key_id(name, public), seed)

    @classmethod
    def parse(cls, skey: str) -> Signer:
        """Parse ``PRIVATE+KEY+<name>+<id hex>+<base64(0x01 || seed)>``."""
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("malformed signer key")
        name, id_hex, encoded = parts[2:]
        if not _valid_name(name) or len(id_hex) != 8:
            raise NoteError("malformed signer key")
        raw = _b64decode(encoded)
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("signer key is not an Ed25519 key")
        signer = cls(name, 0, raw[1:])
        try:
            claimed = int(id_hex, 16)
        except ValueError:
            raise NoteError("malformed signer key") from None
        real = key_id(name, signer.verifier().public)
        if real != claimed:
            raise NoteError("signer key id does not match the key")
        return cls(name, real, raw[1:])

    @property
    def skey(self) -> str:
        """The private key as text (keep it in a 0600 file)."""
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.id:08x}+{encoded}"

    def verifier(self) -> Verifier:
        """The matching public key."""
        public = (
            Ed25519PrivateKey.from_private_bytes(self.seed)
            .public_key()
            .public_bytes(Encoding.Raw, PublicFormat.Raw)
        )
        return Verifier(self.name, key_id(self.name, public), public)

    def sign(self, message: bytes) -> bytes:
        """The Ed25519 signature of ``message``."""
        return Ed25519PrivateKey.from_private_bytes(self.seed).sign(message)

    def __repr__(self) -> str:
        """Never show the seed."""
        return f"Signer({self.name!r}, {self.id:08x})"


def _check_text(text: str) -> None:
    """NoteError unless ``text`` may be the body of a note."""
    if not text.endswith("\n") or "\n\n" in text or len(text.encode()) > _MAX_NOTE_BYTES:
        raise NoteError("malformed note text")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteError("note text holds a control character")


def sign_note(text: str, signer: Signer) -> str:
    """``text`` with a blank line and ``signer``'s signature line after it."""
    _check_text(text)
    signature = struct.pack(">I", signer.id) + signer.sign(text.encode())
    return f"{text}\n{_DASH}{signer.name} {base64.b64encode(signature).decode()}\n"


@dataclass(frozen=True, slots=True)
class SignedNote:
    """A note whose signature by a trusted key verified."""

    text: str
    verified_by: tuple[str, ...]  # names of the keys whose signatures verified


def open_note(message: str, verifiers: list[Verifier]) -> SignedNote:
    """Check ``message``'s signatures against ``verifiers``; NoteError unless one verifies.

    Signatures by unknown keys are ignored; a signature by a known key that does not verify
    rejects the whole note.
    """
    if len(message.encode()) > _MAX_NOTE_BYTES:
        raise NoteError("note too large")
    split = message.rfind("\n\n")
    if split < 0 or not message.endswith("\n"):
        raise NoteError("malformed note: no signature block")
    text, block = message[: split + 1], message[split + 2 :]
    _check_text(text)
    lines = block[:-1].split("\n")
    if not lines or len(lines) > _MAX_SIGNATURES:
        raise NoteError("malformed note: signature count")
    known = {(v.name, v.id): v for v in verifiers}
    verified: list[str] = []
    for line in lines:
        if not line.startswith(_DASH):
            raise NoteError("malformed note: a signature line must start with an em dash")
        name, _, encoded = line[len(_DASH) :].partition(" ")
        if not _valid_name(name) or not encoded or " " in encoded:
            raise NoteError("malformed note: signature line")
        raw = _b64decode(encoded)
        if len(raw) < 5:
            raise NoteError("malformed note: signature too short")
        (sig_id,) = struct.unpack(">I", raw[:4])
        verifier = known.get((name, sig_id))
        if verifier is None:
            continue
        if not verifier.verify(text.encode(), raw[4:]):
            raise NoteError(f"invalid signature for key {name}+{sig_id:08x}")
        if name not in verified:
            verified.append(name)
    if not verified:
        raise NoteError("note has no signature by a trusted key")
    return SignedNote(text, tuple(verified))
