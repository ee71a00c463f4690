"""Tamper drills on a real SQLite file: each change is found and its first bad record named.

The attacker here holds the database file: the storage guard (triggers) is dropped first, as
anyone with the file could do. What stays is the cryptography: commitments, the tree, and
checkpoints signed with a key the attacker does not have (4-8-6(4)).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from gateway.audit.entry import canonical_entry, commitment, detail_text, sqlite_ts_text
from gateway.audit.note import Signer
from gateway.audit.tree_store import checkpoints, latest_checkpoint
from gateway.audit.verify import VerifyReport, verify_log
from gateway.storage.engine import make_engine
from gateway.storage.errors import WriteFailed
from gateway.storage.migrate import upgrade
from gateway.storage.record_log import RecordLog
from tests.gateway.audit.audit_support import ORIGIN, SITE, filled, raw

COUNT = 700  # checkpoints at 100, 200, ... 700; tiles of 256


@pytest.fixture
def signer() -> Signer:
    """The gateway's checkpoint key (the attacker does not have it)."""
    return Signer.generate(ORIGIN)


@pytest.fixture
def db(tmp_path: Path, signer: Signer) -> Iterator[tuple[Path, Engine]]:
    """A SQLite file with 700 signed records."""
    path = tmp_path / "sekisho.db"
    engine = make_engine(sqlite_path=path)
    upgrade(engine)
    filled(engine, signer, COUNT, every=100)
    engine.dispose()
    yield path, engine
    engine.dispose()


def _checkpoint_sizes(engine: Engine) -> list[int]:
    """Sizes of the stored checkpoints (they fall where batches crossed each 100)."""
    with engine.connect() as conn:
        return [c.size for c in checkpoints(conn, SITE)]


def _verify(engine: Engine, signer: Signer, saved: str | None = None) -> VerifyReport:
    """Full verification with the trusted key."""
    engine.dispose()  # drop pooled connections: the file changed under them
    return verify_log(engine, SITE, keys=[signer.verifier()], origin=ORIGIN, saved_checkpoint=saved)


def test_an_untouched_log_verifies(db: tuple[Path, Engine], signer: Signer) -> None:
    """The baseline: no problem, every checkpoint checked."""
    report = _verify(db[1], signer)
    assert report.ok, report.problems
    assert report.size == COUNT and report.checkpoints == len(_checkpoint_sizes(db[1])) >= 7


def test_edit_a_row(db: tuple[Path, Engine], signer: Signer) -> None:
    """A denial turned into a grant is named: its fields no longer match its commitment."""
    path, engine = db
    with raw(path) as conn:
        conn.execute(
            f"UPDATE record SET outcome = 'granted' WHERE seq = 251 AND site_id = '{SITE}'"
        )
    report = _verify(engine, signer)
    assert report.first_bad is not None and report.first_bad.seq == 251
    assert "edited" in report.first_bad.what


def test_edit_a_row_and_its_commitment(db: tuple[Path, Engine], signer: Signer) -> None:
    """Recomputing the commitment too (the salt is there) is caught by the signed checkpoint:
    the tree at 300 is not the one signed; the record lies after the last good checkpoint."""
    path, engine = db
    with raw(path) as conn:
        row = conn.execute(
            "SELECT seq, ts, kind, door_id, zone_id, reader_id, person_id, person_kind, credential,"
            " direction, outcome, reason, actor, detail, salt FROM record WHERE seq = 251"
        ).fetchone()
        names = ("seq", "ts", "kind", "door_id", "zone_id", "reader_id", "person_id",
                 "person_kind", "credential", "direction", "outcome", "reason",
                 "actor")  # fmt: skip
        fields = dict(zip(names, row[:13], strict=True))
        fields["outcome"] = "granted"
        entry = canonical_entry(
            SITE, 251, sqlite_ts_text(fields["ts"]), fields, detail_text(json.loads(row[13]))
        )
        conn.execute(
            "UPDATE record SET outcome = 'granted', commitment = ? WHERE seq = 251",
            (commitment(row[14], entry),),
        )
    report = _verify(engine, signer)
    good = max(s for s in _checkpoint_sizes(engine) if s < 251)
    assert report.first_bad is not None and report.first_bad.seq == good + 1
    assert report.first_bad.seq <= 251 <= (report.first_bad.upto or 0)
    assert "changed together with its commitment" in report.first_bad.what


def test_delete_a_row(db: tuple[Path, Engine], signer: Signer) -> None:
    """A deleted record leaves a gap that is named."""
    path, engine = db
    with raw(path) as conn:
        conn.execute("DELETE FROM record WHERE seq = 123")
    report = _verify(engine, signer)
    assert report.first_bad is not None and report.first_bad.seq == 123
    assert "missing" in report.first_bad.what


def test_reorder_two_rows(db: tuple[Path, Engine], signer: Signer) -> None:
    """Swapping two records' places (their seqs) is caught at the first of them."""
    path, engine = db
    with raw(path) as conn:
        conn.execute("UPDATE record SET seq = -1 WHERE seq = 400")
        conn.execute("UPDATE record SET seq = 400 WHERE seq = 401")
        conn.execute("UPDATE record SET seq = 401 WHERE seq = -1")
    report = _verify(engine, signer)
    assert report.first_bad is not None and report.first_bad.seq == 400


def test_truncate_the_tail(db: tuple[Path, Engine], signer: Signer) -> None:
    """Records cut off the end are missing against the newest stored checkpoint."""
    path, engine = db
    with raw(path) as conn:
        conn.execute("DELETE FROM record WHERE seq > 650")
    report = _verify(engine, signer)
    assert report.first_bad is not None and report.first_bad.seq == 651
    assert "truncated" in report.first_bad.what


def test_truncate_the_tail_and_its_checkpoints(db: tuple[Path, Engine], signer: Signer) -> None:
    """Deleting the checkpoints too hides it from the database alone, not from a client that
    kept the checkpoint of 700 records."""
    path, engine = db
    with engine.connect() as conn:
        saved = latest_checkpoint(conn, SITE)
    assert saved is not None and saved.size == COUNT
    with raw(path) as conn:
        conn.execute("DELETE FROM record WHERE seq > 650")
        conn.execute("DELETE FROM audit_checkpoint WHERE size > 650")
    assert _verify(engine, signer).ok  # consistent in itself...
    report = _verify(engine, signer, saved=saved.note)
    assert report.first_bad is not None and report.first_bad.seq == 651
    assert "rolled back" in report.first_bad.what


def test_roll_back_to_an_older_copy(
    db: tuple[Path, Engine], signer: Signer, tmp_path: Path
) -> None:
    """An older copy of the file put back: the client's newer checkpoint finds it."""
    path, engine = db
    older = tmp_path / "older.db"
    shutil.copy(path, older)
    filled(engine, signer, 50, every=100)  # the log moves on (records 701..750)
    with engine.connect() as conn:
        saved = latest_checkpoint(conn, SITE)
    assert saved is not None and saved.size == 750
    engine.dispose()
    shutil.copy(older, path)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    report = _verify(engine, signer, saved=saved.note)
    assert report.first_bad is not None and report.first_bad.seq == 701
    assert "rolled back" in report.first_bad.what


def test_a_fork_fails_the_consistency_proof(
    db: tuple[Path, Engine], signer: Signer, tmp_path: Path
) -> None:
    """Rolled back and then written on (a fork): same length again, different history."""
    path, engine = db
    older = tmp_path / "older.db"
    shutil.copy(path, older)
    filled(engine, signer, 50, every=100)
    with engine.connect() as conn:
        saved = latest_checkpoint(conn, SITE)
    assert saved is not None
    engine.dispose()
    shutil.copy(older, path)
    other = make_engine(sqlite_path=path)
    filled(other, signer, 80, every=100)  # different records 701..780 after the rollback
    other.dispose()
    report = _verify(engine, signer, saved=saved.note)
    assert not report.ok
    whats = " ".join(p.what for p in report.problems)
    assert "forked" in whats and "consistency proof" in whats
    assert report.first_bad is not None and report.first_bad.seq <= 750


def test_forged_checkpoint_and_tile(db: tuple[Path, Engine], signer: Signer) -> None:
    """A checkpoint signed with another key and a rewritten tile hash are both reported."""
    path, engine = db
    third = _checkpoint_sizes(engine)[2]
    with raw(path) as conn:
        note = conn.execute(
            "SELECT note FROM audit_checkpoint WHERE size = ?", (third,)
        ).fetchone()[0]
        forged = note.replace(f"\n{third}\n", f"\n{third - 1}\n")
        conn.execute("UPDATE audit_checkpoint SET note = ? WHERE size = ?", (forged, third))
        conn.execute("UPDATE audit_node SET hash = zeroblob(32) WHERE level = 8 AND idx = 1")
    report = _verify(engine, signer)
    whats = [p.what for p in report.problems]
    assert any(f"checkpoint at size {third}" in w for w in whats)
    assert any("(8, 1)" in w for w in whats)
    assert report.first_bad is not None and 257 <= report.first_bad.seq <= 512


def test_upgrade_of_a_damaged_tree_is_refused_by_the_writer(
    db: tuple[Path, Engine], signer: Signer
) -> None:
    """A writer will not append to a log whose stored tree lost a commitment."""
    path, engine = db
    with raw(path) as conn:
        conn.execute("UPDATE record SET commitment = NULL WHERE seq = 700")
    engine.dispose()
    log = RecordLog(engine, SITE)
    with pytest.raises(WriteFailed, match="sekisho audit verify"):
        log.start()
    report = _verify(engine, signer)
    assert report.first_bad is not None and report.first_bad.seq == 700
