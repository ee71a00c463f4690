"""Evidence at rest (4-8-6(10)): AES-GCM with a 0600 key file, bound to its name and hash."""

from __future__ import annotations

import hashlib
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.cameras.crypto import (
    MAGIC,
    EvidenceCipher,
    EvidenceKeyError,
    EvidenceTampered,
    load_or_create_key,
)
from gateway.cameras.store import EvidenceMissing, EvidenceStore, micros, parse_name

TS = datetime(2026, 11, 26, 7, 30, 15, 123456, tzinfo=UTC)
JPEG = b"\xff\xd8\xff\xe0" + os.urandom(2000) + b"\xff\xd9"


@pytest.fixture
def store(tmp_path: Path) -> EvidenceStore:
    """A store with a fresh key."""
    key = load_or_create_key(tmp_path / "keys" / "camera-evidence.key")
    return EvidenceStore(tmp_path / "evidence", EvidenceCipher(key), "hq")


def test_the_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "camera-evidence.key"
    key = load_or_create_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_or_create_key(path) == key  # never overwritten


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "camera-evidence.key"
    load_or_create_key(path)
    path.chmod(0o644)
    with pytest.raises(EvidenceKeyError, match="chmod 600"):
        load_or_create_key(path)


@pytest.mark.parametrize("text", ["zz", "00" * 16, ""])
def test_a_key_file_that_is_not_a_key_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "camera-evidence.key"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(EvidenceKeyError):
        load_or_create_key(path)


def test_saved_pictures_are_encrypted_and_read_back_checked(store: EvidenceStore) -> None:
    item = store.save("camera.snapshot", "sr-cam", TS, "jpg", JPEG)
    assert item.sha256 == hashlib.sha256(JPEG).hexdigest()
    assert item.bytes == len(JPEG)
    path = store.root / item.file
    blob = path.read_bytes()
    assert blob.startswith(MAGIC) and JPEG[4:100] not in blob  # ciphertext, not the picture
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store.load(item.file, item.sha256) == JPEG
    name = parse_name(item.file)
    assert name is not None
    assert (name.kind, name.ts, name.camera, name.ext) == ("camera.snapshot", TS, "sr-cam", "jpg")
    assert item.file.startswith(f"camera.snapshot/2026-11-26/{micros(TS)}-sr-cam-")


def test_a_changed_byte_does_not_open(store: EvidenceStore) -> None:
    item = store.save("camera.snapshot", "sr-cam", TS, "jpg", JPEG)
    path = store.root / item.file
    blob = bytearray(path.read_bytes())
    blob[40] ^= 1
    path.write_bytes(bytes(blob))
    with pytest.raises(EvidenceTampered):
        store.load(item.file, item.sha256)


def test_a_file_swapped_under_another_name_does_not_open(store: EvidenceStore) -> None:
    a = store.save("camera.snapshot", "sr-cam", TS, "jpg", JPEG)
    b = store.save("camera.snapshot", "sr-cam", TS, "jpg", b"\xff\xd8other\xff\xd9")
    (store.root / b.file).write_bytes((store.root / a.file).read_bytes())
    with pytest.raises(EvidenceTampered):
        store.load(b.file, b.sha256)


def test_a_record_hash_that_does_not_match_is_refused(store: EvidenceStore) -> None:
    item = store.save("camera.snapshot", "sr-cam", TS, "jpg", JPEG)
    with pytest.raises(EvidenceTampered, match="SHA-256"):
        store.load(item.file, "0" * 64)


def test_another_sites_key_does_not_open_it(store: EvidenceStore, tmp_path: Path) -> None:
    item = store.save("camera.snapshot", "sr-cam", TS, "jpg", JPEG)
    other = EvidenceStore(store.root, EvidenceCipher(os.urandom(32)), "hq")
    with pytest.raises(EvidenceTampered):
        other.load(item.file, item.sha256)


@pytest.mark.parametrize(
    "rel",
    [
        "../camera-evidence.key",
        "camera.snapshot/2026-11-26/../../x.jpg.sek",
        "/etc/passwd",
        "camera.snapshot/2026-11-26/1-sr-cam-0123456789ab.exe.sek",
    ],
)
def test_names_that_are_not_evidence_are_refused(store: EvidenceStore, rel: str) -> None:
    with pytest.raises(EvidenceTampered):
        store.load(rel, "0" * 64)
    assert store.delete(rel) is False


def test_a_missing_file_is_told_apart(store: EvidenceStore) -> None:
    item = store.save("camera.snapshot", "sr-cam", TS, "jpg", JPEG)
    assert store.delete(item.file) is True
    with pytest.raises(EvidenceMissing):
        store.load(item.file, item.sha256)
    assert store.delete(item.file) is False


def test_files_are_listed_by_kind_and_time(store: EvidenceStore) -> None:
    early = store.save("camera.snapshot", "sr-cam", TS, "jpg", JPEG)
    store.save("camera.snapshot", "sr-cam", TS.replace(day=27), "jpg", JPEG)
    store.save("camera.clip", "sr-cam", TS, "mjpeg", JPEG)
    assert store.kinds() == ["camera.clip", "camera.snapshot"]
    found = store.files("camera.snapshot", TS.replace(day=27))
    assert [rel for rel, _ in found] == [early.file]
