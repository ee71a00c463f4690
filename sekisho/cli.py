"""The `sekisho` command: demo, run, sim, admin, db, reader."""

from __future__ import annotations

import asyncio
import getpass
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session

from api.accounts import create_account
from devices.errors import DeviceError
from devices.osdp_commission import commission
from gateway.audit.keyfile import KeyFileError as AuditKeyFileError
from gateway.cameras.crypto import EvidenceKeyError
from gateway.config import ConfigError, load_site
from gateway.storage.engine import describe
from gateway.storage.errors import StorageError
from gateway.storage.migrate import current
from sekisho.app import open_site, serve
from sekisho.bench.cli import register as register_bench_command
from sekisho.cli_audit import register as register_audit_commands
from sekisho.demo import DemoError
from sekisho.demo import main as demo_main
from sekisho.diagnostics import install_thread_dump
from sekisho.secret_files import create_scbk
from sekisho_sim.cli import app as sim_app

app = typer.Typer(
    help="Sekisho (関所): access-control gateway for server rooms and media vaults.",
    no_args_is_help=True,
)
admin_app = typer.Typer(help="Operator accounts.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
reader_app = typer.Typer(help="Readers.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
app.add_typer(db_app, name="db")
app.add_typer(reader_app, name="reader")

# What can stop the gateway from starting: said in one line, never a traceback.
STARTUP_ERRORS: tuple[type[Exception], ...] = (
    ConfigError,
    StorageError,
    DeviceError,
    EvidenceKeyError,
    AuditKeyFileError,
)

DEMO_ERRORS: tuple[type[Exception], ...] = (DemoError, *STARTUP_ERRORS)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Site file (YAML).", exists=False)]


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


app.add_typer(sim_app, name="sim", help="Act as people and faults on the running simulated site.")
register_audit_commands(app)  # issue 4: audit, backup, restore, keys
register_bench_command(app)  # issue 9: sekisho bench


@app.command()
def demo(
    data_dir: Annotated[Path | None, typer.Option(help="Where the demo keeps its files.")] = None,
    port: Annotated[int, typer.Option(help="HTTP port for the API and dashboard.")] = 8080,
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
) -> None:
    """Run a whole simulated site (devices, gateway, API, dashboard) on SQLite."""

    _logging()
    try:
        demo_main(data_dir, host, port)
    except DEMO_ERRORS as exc:
        _fail(str(exc))


@app.command()
def run(
    config: ConfigOpt,
    data_dir: Annotated[
        Path | None, typer.Option(help="Secrets and state; default: the site file's folder.")
    ] = None,
    port: Annotated[int, typer.Option(help="HTTP port for the API and dashboard.")] = 8080,
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
) -> None:
    """Run the gateway for a site file."""

    _logging()
    try:
        site = open_site(config)
        asyncio.run(serve(site, data_dir=data_dir or site.base, host=host, port=port))
    except STARTUP_ERRORS as exc:
        _fail(str(exc))


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt) -> None:
    """Create or migrate the database the site file names."""

    try:
        site = open_site(config)
    except ConfigError as exc:
        _fail(str(exc))
        return
    typer.echo(f"{describe(site.engine)}: at revision {current(site.engine)}")


@admin_app.command("create")
def admin_create(
    config: ConfigOpt,
    username: Annotated[str, typer.Option(help="Login name.")],
    role: Annotated[
        str, typer.Option(help="chief, manager, operator, auditor or admin.")
    ] = "admin",
    zones: Annotated[
        list[str] | None, typer.Option("--zone", help="Zones a manager manages.")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create an account (the first admin is made this way: there is no default password)."""

    try:
        site = open_site(config)
    except ConfigError as exc:
        _fail(str(exc))
        return
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            _fail("the passwords differ")
    try:
        with Session(site.engine) as s:
            create_account(
                s,
                site.config.site.id,
                username,
                password,
                role,
                zones=tuple(zones or ()),
                created_by="cli",
            )
            s.commit()
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(f"account {username!r} ({role}) created for site {site.config.site.id}")


@reader_app.command("commission")
def reader_commission(
    config: ConfigOpt,
    reader: Annotated[str, typer.Argument(help="Reader id from the site file.")],
) -> None:
    """Give a factory-fresh OSDP reader its own Secure Channel key (install mode's only use)."""

    try:
        site = load_site(config)
    except ConfigError as exc:
        _fail(str(exc))
        return
    r = next((r for r in site.readers if r.id == reader), None)
    if r is None or r.bus is None or r.scbk_file is None or r.address is None:
        _fail(f"{reader}: not an OSDP reader of this site")
        return
    bus = next(b for b in site.osdp_buses if b.id == r.bus)
    key_path = config.resolve().parent / r.scbk_file
    if key_path.exists():
        _fail(f"{key_path} exists: this reader already has a key (remove the file to re-key)")
    key = create_scbk(key_path)
    try:
        asyncio.run(commission(bus.port, r.address, key, baud=bus.baud))
    except DeviceError as exc:
        key_path.unlink(missing_ok=True)
        _fail(f"commissioning {reader} failed: {exc}")
    typer.echo(f"{reader}: Secure Channel key set; stored in {key_path} (mode 0600)")


def _logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def main() -> None:
    """Console entry point."""
    install_thread_dump()
    app()
