"""`sekisho audit ...`, `keys`, `backup`, `restore` on real SQLite files (4-8-6(4)(17))."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from api.accounts import create_account
from gateway.audit.export import ExportFilters, stream_export
from gateway.audit.keyfile import load_signer
from gateway.audit.site_lock import site_lock
from gateway.audit.tree_store import latest_checkpoint
from gateway.clock import utcnow
from gateway.storage.engine import make_engine
from gateway.storage.record_log import RecordLog
from sekisho import demo_site
from sekisho.app import open_site
from sekisho.audit_runtime import checkpoint_policy
from sekisho.cli import app
from tests.gateway.audit.audit_support import append_all, record

runner = CliRunner()
SITE = demo_site.SITE_ID


@pytest.fixture
def site_path(tmp_path: Path) -> Path:
    """A demo site file with a checkpoint key, a migrated store and 400 signed records."""
    path = tmp_path / "site.yaml"
    demo_site.write_yaml(path, demo_site.site_file(tmp_path, 15020))
    result = runner.invoke(app, ["keys", "create-checkpoint-key", "--config", str(path)])
    assert result.exit_code == 0, result.output
    site = open_site(path)
    log = RecordLog(site.engine, SITE, checkpoints=checkpoint_policy(site))
    log.start()
    try:
        asyncio.run(append_all(log, [record(i) for i in range(400)]))
    finally:
        log.close(timeout=30)
    site.engine.dispose()
    return path


def _db(site_path: Path) -> Path:
    """The site's SQLite file."""
    return site_path.parent / "sekisho.db"


def test_the_key_is_0600_never_overwritten_and_its_public_half_is_printed(
    site_path: Path,
) -> None:
    """keys create-checkpoint-key: private 0600, .pub beside it, a second run refused."""
    key = site_path.parent / "keys" / "checkpoint.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    vkey = (site_path.parent / "keys" / "checkpoint.key.pub").read_text().strip()
    assert load_signer(key).verifier().vkey == vkey
    result = runner.invoke(app, ["keys", "create-checkpoint-key", "--config", str(site_path)])
    assert result.exit_code == 2 and "never overwritten" in result.output
    key.chmod(0o644)
    result = runner.invoke(app, ["audit", "verify", "--config", str(site_path)])
    assert result.exit_code == 0  # verification needs only the .pub
    with pytest.raises(ValueError, match="chmod 600"):
        load_signer(key)


def test_verify_names_the_first_bad_record(site_path: Path) -> None:
    """OK on the intact log; after an edit behind the guard's back, exit 1 and the seq."""
    result = runner.invoke(app, ["audit", "verify", "--config", str(site_path)])
    assert result.exit_code == 0, result.output
    assert "OK: 400 records of site demo-hq verified" in result.output
    with sqlite3.connect(_db(site_path)) as conn:
        conn.execute("DROP TRIGGER record_no_update")
        conn.execute("UPDATE record SET person_id = 'someone-else' WHERE seq = 77")
    result = runner.invoke(app, ["audit", "verify", "--config", str(site_path)])
    assert result.exit_code == 1
    assert "first bad record 77" in result.output and "edited" in result.output


def test_a_saved_checkpoint_catches_a_rollback(site_path: Path, tmp_path: Path) -> None:
    """Save the checkpoint, put an older copy back: verify --from-checkpoint fails."""
    older = tmp_path / "older.db"
    with sqlite3.connect(_db(site_path)) as src, sqlite3.connect(older) as dst:
        src.backup(dst)
    site = open_site(site_path)
    log = RecordLog(site.engine, SITE, checkpoints=checkpoint_policy(site))
    log.start()
    asyncio.run(append_all(log, [record(i) for i in range(30)]))
    log.close()
    site.engine.dispose()
    result = runner.invoke(app, ["audit", "checkpoint", "--config", str(site_path)])
    assert result.exit_code == 0 and result.output.split("\n")[1] == "430"
    saved = tmp_path / "saved.checkpoint"
    saved.write_text(result.output)
    with sqlite3.connect(older) as src, sqlite3.connect(_db(site_path)) as dst:
        src.backup(dst)
    result = runner.invoke(
        app, ["audit", "verify", "--config", str(site_path), "--from-checkpoint", str(saved)]
    )
    assert result.exit_code == 1
    assert "first bad record 401" in result.output and "rolled back" in result.output


def test_purge_dry_run_then_purge_with_an_approver(site_path: Path) -> None:
    """Dry run changes nothing; the real purge needs a chief and the gateway stopped."""
    site = open_site(site_path)
    with Session(site.engine) as session:
        create_account(session, SITE, "boss", "correct horse battery staple", "chief")
        session.commit()
    site.engine.dispose()
    text = site_path.read_text() + "audit:\n  retention:\n    days: 1\n    approved_by: boss\n"
    site_path.write_text(text)
    result = runner.invoke(app, ["audit", "purge", "--dry-run", "--config", str(site_path)])
    assert result.exit_code == 0, result.output
    assert "access.decision: 400 records" in result.output and "would be purged" in result.output
    with site_lock(site.engine, SITE):  # as the running gateway holds it
        result = runner.invoke(app, ["audit", "purge", "--config", str(site_path)])
        assert result.exit_code == 2 and "gateway is running" in result.output
    result = runner.invoke(app, ["audit", "purge", "--config", str(site_path)])
    assert result.exit_code == 0, result.output
    assert "purge record 401: 400 records purged" in result.output
    result = runner.invoke(app, ["audit", "verify", "--config", str(site_path)])
    assert result.exit_code == 0 and "400 purged by retention" in result.output


def test_backup_while_records_are_written_then_restore_and_verify(
    site_path: Path, tmp_path: Path
) -> None:
    """A backup taken while a writer appends is consistent; restored, its log verifies."""
    site = open_site(site_path)
    log = RecordLog(site.engine, SITE, checkpoints=checkpoint_policy(site))
    log.start()
    stop = threading.Event()

    def write() -> None:
        i = 1000
        while not stop.is_set():
            log.submit(record(i)).result(30)
            i += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        deadline = time.monotonic() + 60
        while log.last_seq < 450:
            assert writer.is_alive() and time.monotonic() < deadline, "the writer stalled"
            stop.wait(0.01)
        result = runner.invoke(app, ["backup", str(tmp_path / "b.db"), "--config", str(site_path)])
        assert result.exit_code == 0, result.output
        assert "OK:" in result.output  # the copy's own log verifies
    finally:
        stop.set()
        writer.join(30)
        log.close(timeout=30)
    written = log.last_seq
    site.engine.dispose()
    with site_lock(site.engine, SITE):
        result = runner.invoke(app, ["restore", str(tmp_path / "b.db"), "--config", str(site_path)])
        assert result.exit_code == 2 and "stop it" in result.output
    result = runner.invoke(app, ["restore", str(tmp_path / "b.db"), "--config", str(site_path)])
    assert result.exit_code == 0, result.output
    assert "OK:" in result.output
    restored = make_engine(sqlite_path=_db(site_path))
    with restored.connect() as conn:
        checkpoint = latest_checkpoint(conn, SITE)
    restored.dispose()
    assert checkpoint is not None and 400 <= checkpoint.size < written
    result = runner.invoke(app, ["backup", str(tmp_path / "b.db"), "--config", str(site_path)])
    assert result.exit_code == 2 and "never overwrites" in result.output


def test_verify_export_checks_a_file_offline(site_path: Path, tmp_path: Path) -> None:
    """An export file verifies with the site's public key; a changed byte is caught."""
    site = open_site(site_path)
    with site.engine.connect() as conn:
        checkpoint = latest_checkpoint(conn, SITE)
    assert checkpoint is not None
    body = b"".join(
        stream_export(
            site.engine, SITE, ExportFilters(door_id="d1"), checkpoint,
            fmt="csv", exported_by="aud", exported_at=utcnow(),
        )
    )  # fmt: skip
    site.engine.dispose()
    good = tmp_path / "export.csv"
    good.write_bytes(body)
    pub = site_path.parent / "keys" / "checkpoint.key.pub"
    result = runner.invoke(app, ["audit", "verify-export", str(good), "--key", str(pub)])
    assert result.exit_code == 0, result.output
    assert "OK: 200 records of site demo-hq" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_bytes(body.replace(b"maintenance", b"maintenancf", 1))
    result = runner.invoke(app, ["audit", "verify-export", str(bad), "--key", str(pub)])
    assert result.exit_code == 1 and "first bad record 2" in result.output
    result = runner.invoke(app, ["audit", "verify-export", str(good)])
    assert result.exit_code == 0 and "no --key given" in result.output
    (tmp_path / "junk.json").write_text("{}")
    result = runner.invoke(app, ["audit", "verify-export", str(tmp_path / "junk.json")])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_pg_role_prints_its_sql() -> None:
    """The SQL for the PostgreSQL application role, for a DBA to run as the owner."""
    result = runner.invoke(app, ["audit", "pg-role", "--config", "x.yaml", "--print"])
    assert result.exit_code == 0
    assert (
        "REVOKE UPDATE, DELETE, TRUNCATE ON record, audit_node, audit_checkpoint" in result.output
    )
