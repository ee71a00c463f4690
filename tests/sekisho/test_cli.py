"""The `sekisho` command's set-up paths: broken site files, db upgrade, the first admin."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, select
from typer.testing import CliRunner

from gateway.hashing import verify_secret
from gateway.storage.engine import make_engine
from gateway.storage.models import Account
from sekisho import demo_site
from sekisho.cli import app

runner = CliRunner()


def site_file(tmp_path: Path) -> Path:
    path = tmp_path / "site.yaml"
    demo_site.write_yaml(path, demo_site.site_file(tmp_path, 15020))
    return path


def test_broken_site_file_is_a_clear_error(tmp_path: Path) -> None:
    path = site_file(tmp_path)
    path.write_text(path.read_text().replace("zone: server-room", "zone: nowhere", 1))
    result = runner.invoke(app, ["db", "upgrade", "--config", str(path)])
    assert result.exit_code == 2
    assert "unknown zone 'nowhere'" in result.output and str(path) in result.output
    assert "Traceback" not in result.output


def test_db_upgrade_then_admin_create(tmp_path: Path) -> None:
    path = site_file(tmp_path)
    result = runner.invoke(app, ["db", "upgrade", "--config", str(path)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        ["admin", "create", "--config", str(path), "--username", "root-admin", "--password-stdin"],
        input="correct horse battery staple\n",
    )
    assert result.exit_code == 0, result.output
    with Session(make_engine(sqlite_path=tmp_path / "sekisho.db")) as s:
        account = s.exec(select(Account)).one()
    assert account.role == "admin" and account.username == "root-admin"
    assert verify_secret(account.password_hash, "correct horse battery staple")
    assert "correct horse" not in account.password_hash


def test_admin_create_refuses_a_short_password(tmp_path: Path) -> None:
    path = site_file(tmp_path)
    result = runner.invoke(
        app,
        ["admin", "create", "--config", str(path), "--username", "a", "--password-stdin"],
        input="short\n",
    )
    assert result.exit_code == 2
    assert "Traceback" not in result.output
