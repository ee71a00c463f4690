"""C2SP signed notes and checkpoints, checked against Go's sumdb/note test vectors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.audit.checkpoint import CheckpointError, open_checkpoint, sign_checkpoint
from gateway.audit.note import NoteError, Signer, Verifier, open_note, sign_note

# golang.org/x/mod/sumdb/note note_test.go (BSD-style licence): a fixed key and its signature.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_B64 = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)
ENOCH_B64 = (
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ="
)
PETER_SIG = f"— PeterNeumann {PETER_B64}\n"
ENOCH_SIG = f"— EnochRoot {ENOCH_B64}\n"


def test_signing_reproduces_go_exactly() -> None:
    """Same key, same text: the same signed note, byte for byte (Ed25519 is deterministic)."""
    signer = Signer.parse(PETER_SKEY)
    assert signer.skey == PETER_SKEY
    assert signer.verifier().vkey == PETER_VKEY
    assert sign_note(TEXT, signer) == TEXT + "\n" + PETER_SIG
    assert "AYEKFAL" not in repr(signer)


def test_open_verifies_known_keys_and_ignores_unknown_ones() -> None:
    """Peter's signature verifies; Enoch's (unknown key) is ignored; a bad one rejects the note."""
    peter = Verifier.parse(PETER_VKEY)
    note = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter])
    assert note.text == TEXT and note.verified_by == ("PeterNeumann",)
    with pytest.raises(NoteError):
        open_note(TEXT + "\n" + ENOCH_SIG, [peter])
    bad = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(TEXT + "\n" + bad, [peter])
    tampered = TEXT.replace("problem,", "problem;")
    with pytest.raises(NoteError):
        open_note(tampered + "\n" + PETER_SIG, [peter])


@pytest.mark.parametrize(
    "message",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT + "\n" + f"— Bad Name {PETER_B64}\n",
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + PETER_SIG * 101,
    ],
)
def test_malformed_notes_are_refused(message: str) -> None:
    """The malformed notes of Go's tests are refused, never half-read."""
    with pytest.raises(NoteError):
        open_note(message, [Verifier.parse(PETER_VKEY)])


@pytest.mark.parametrize(
    "key",
    [
        PETER_VKEY[:-1],
        PETER_VKEY.replace("c74f20a3", "c74f20a4"),
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_mangled_verifier_keys_are_refused(key: str) -> None:
    """Truncated keys, wrong ids, wrong lengths, unknown algorithms, bad names."""
    with pytest.raises(NoteError):
        Verifier.parse(key)
    with pytest.raises(NoteError):
        Signer.parse(PETER_SKEY.replace("c74f20a3", "c74f20a4"))


def test_checkpoint_round_trip_and_tampering() -> None:
    """A checkpoint opens with its key and origin; another key, origin or size is refused."""
    signer = Signer.generate("sekisho/hq")
    at = datetime(2026, 11, 26, 1, 2, 3, 456789, tzinfo=UTC)
    checkpoint = sign_checkpoint(signer, "sekisho/hq", 42, bytes(range(32)), at)
    lines = checkpoint.note.split("\n")
    assert lines[:3] == ["sekisho/hq", "42", checkpoint.root_b64]
    assert lines[3] == "time 2026-11-26T01:02:03.456789Z"
    opened = open_checkpoint(checkpoint.note, [signer.verifier()], "sekisho/hq")
    assert (opened.size, opened.root, opened.signed_at) == (42, bytes(range(32)), at)
    with pytest.raises(CheckpointError):
        open_checkpoint(checkpoint.note, [Signer.generate("sekisho/hq").verifier()])
    with pytest.raises(CheckpointError):
        open_checkpoint(checkpoint.note, [signer.verifier()], "sekisho/other")
    with pytest.raises(CheckpointError):
        open_checkpoint(checkpoint.note.replace("\n42\n", "\n43\n"), [signer.verifier()])
