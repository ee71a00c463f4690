"""`sekisho audit ...`, `sekisho backup`, `sekisho restore`, `sekisho keys ...` (issue 4).

Verification, exports' offline check, retention purges, the PostgreSQL application role,
backups and the checkpoint key (4-8-6(3)(4)(17), 4-8-12(1)).
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from gateway.audit.backup import BackupError, backup, restore
from gateway.audit.checkpoint import CheckpointPolicy
from gateway.audit.export import ExportInvalid, verify_export
from gateway.audit.keyfile import (
    KeyFileError,
    create_key_file,
    load_signer,
    load_verifier,
    public_path,
)
from gateway.audit.note import Verifier
from gateway.audit.pg_role import app_role_sql, setup_app_role
from gateway.audit.retention import PurgeRefused, plan_purge, purge_blocking
from gateway.audit.site_lock import SiteBusy, site_lock
from gateway.audit.tree_store import head, latest_checkpoint
from gateway.audit.verify import VerifyReport, verify_log
from gateway.clock import utcnow
from gateway.config import ConfigError, load_site
from gateway.config.site import SiteConfig
from gateway.storage.engine import describe, make_engine
from gateway.storage.errors import StorageError
from gateway.storage.record_log import RecordLog
from sekisho.app import Site, open_site

audit_app = typer.Typer(
    help="Tamper-evident records: verify, purge, checkpoints.", no_args_is_help=True
)
keys_app = typer.Typer(help="Keys: the checkpoint signing key.", no_args_is_help=True)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Site file (YAML).")]
KeyOpt = Annotated[
    str | None,
    typer.Option(
        "--key",
        help="Trusted checkpoint verifier key (text or file); default: the site's key .pub file.",
    ),
]


def _fail(message: str, code: int = 2) -> NoReturn:
    """Print an error and exit."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _site(config: Path) -> Site:
    """The site file and its storage, or a clean exit."""
    try:
        return open_site(config)
    except (ConfigError, StorageError) as exc:
        _fail(str(exc))


def key_path(site: SiteConfig, base: Path) -> Path:
    """Where the site's checkpoint signing key lives."""
    return base / site.audit.checkpoint_key


def _trusted(key: str | None, site: Site | None) -> list[Verifier]:
    """The verifier keys to trust: given, or the site's ``.pub``; empty when there is none."""
    try:
        if key is not None:
            return [load_verifier(key)]
        if site is not None:
            pub = public_path(key_path(site.config, site.base))
            if pub.is_file():
                return [load_verifier(str(pub))]
    except KeyFileError as exc:
        _fail(str(exc))
    return []


def _print_report(report: VerifyReport) -> None:
    """The verification's outcome, first bad record first."""
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if report.ok:
        typer.echo(
            f"OK: {report.size} records of site {report.site_id} verified; "
            f"{report.checkpoints} signed checkpoints match; {report.purged} purged by retention; "
            f"root {report.root.hex()}"
        )
        return
    first = report.first_bad
    assert first is not None
    typer.echo(f"FAILED: first bad record {first.seq}: {first.what}", err=True)
    for problem in report.problems:
        if problem is not first:
            typer.echo(f"  also: {problem.what}", err=True)


@audit_app.command("verify")
def audit_verify(
    config: ConfigOpt,
    from_checkpoint: Annotated[
        Path | None,
        typer.Option(help="A checkpoint saved earlier: catches a rolled-back or forked log."),
    ] = None,
    key: KeyOpt = None,
    workers: Annotated[int | None, typer.Option(help="Processes (default: one per core).")] = None,
) -> None:
    """Verify every record, tile and checkpoint offline; name the first bad record."""
    site = _site(config)
    trusted = _trusted(key, site)
    saved = None
    if from_checkpoint is not None:
        try:
            saved = from_checkpoint.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            _fail(f"cannot read {from_checkpoint}: {exc}")
    site_id = site.config.site.id
    with site.engine.connect() as conn:
        total = head(conn, site_id)
    with typer.progressbar(length=max(total, 1), label="verifying", file=sys.stderr) as bar:
        report = verify_log(
            site.engine,
            site_id,
            keys=trusted,
            saved_checkpoint=saved,
            origin=site.config.audit.origin_for(site_id),
            workers=workers,
            progress=bar.update,
        )
    _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("verify-export")
def audit_verify_export(
    file: Annotated[Path, typer.Argument(help="An export (JSON or CSV) from the audit API.")],
    key: KeyOpt = None,
) -> None:
    """Verify an export offline: signature, every record, the inclusion proof."""
    trusted = _trusted(key, None)
    try:
        report = verify_export(file.read_bytes(), trusted)
    except OSError as exc:
        _fail(f"cannot read {file}: {exc}")
    except ExportInvalid as exc:
        _fail(f"{file}: {exc}")
    if not report.key_pinned:
        typer.echo(
            "warning: no --key given: trusted the key the export names (pin the site's key)",
            err=True,
        )
    if report.ok:
        typer.echo(
            f"OK: {report.records} records of site {report.site_id} are in the log signed at "
            f"size {report.tree_size}; {report.purged} purged by retention"
        )
        return
    seq, what = report.problems[0]
    where = f"record {seq}" if seq is not None else "export"
    typer.echo(f"FAILED: first bad {where}: {what}", err=True)
    raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint(config: ConfigOpt) -> None:
    """Print the newest signed checkpoint (save it: `verify --from-checkpoint` uses it later)."""
    site = _site(config)
    with site.engine.connect() as conn:
        stored = latest_checkpoint(conn, site.config.site.id)
    if stored is None:
        _fail("no checkpoint signed yet")
    typer.echo(stored.note, nl=False)


@audit_app.command("purge")
def audit_purge(
    config: ConfigOpt,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say what would be purged.")
    ] = False,
    approver: Annotated[
        str | None, typer.Option(help="Chief account approving (default: retention.approved_by).")
    ] = None,
) -> None:
    """Retention purge: blank the personal fields of records past their period (4-8-6(3))."""
    site = _site(config)
    site_id = site.config.site.id
    policy = site.config.audit.retention
    now = utcnow()
    if dry_run:
        plan = plan_purge(site.engine, site_id, policy, now)
        for kind, count in sorted(plan.counts.items()):
            if count:
                typer.echo(
                    f"{kind}: {count} records before {plan.cutoffs[kind]:%Y-%m-%d %H:%M} UTC"
                )
        typer.echo(f"dry run: {plan.total} records would be purged; nothing was changed")
        return
    try:
        with site_lock(site.engine, site_id):
            result = _purge_with_own_log(site, approver, now)
    except SiteBusy:
        _fail("the gateway is running: it purges on its schedule (or stop it first)")
    except (PurgeRefused, StorageError) as exc:
        _fail(str(exc))
    if result is None:
        typer.echo("nothing to purge")
        return
    typer.echo(f"purge record {result[0]}: {result[1]} records purged")


def _purge_with_own_log(site: Site, approver: str | None, now: datetime) -> tuple[int, int] | None:
    """Run the purge, writing its record through a log of our own (the gateway is stopped)."""
    config = site.config
    signer = None
    path = key_path(config, site.base)
    if path.is_file():
        try:
            signer = load_signer(path)
        except KeyFileError as exc:
            _fail(str(exc))
    policy = None
    if signer is not None:
        policy = CheckpointPolicy(
            signer,
            config.audit.origin_for(config.site.id),
            config.audit.checkpoint_every_records,
            config.audit.checkpoint_every_s,
        )
    log = RecordLog(site.engine, config.site.id, checkpoints=policy)
    log.start()
    try:
        result = purge_blocking(
            site.engine,
            config.site.id,
            config.audit.retention,
            approver=approver,
            now=now,
            append=lambda rec: log.submit(rec).result(60),
        )
    finally:
        log.close(timeout=60)
    if result.purge_seq is None:
        return None
    return result.purge_seq, result.purged


@audit_app.command("pg-role")
def audit_pg_role(
    config: ConfigOpt,
    role: Annotated[
        str, typer.Option(help="The application role the gateway connects as.")
    ] = "sekisho_app",
    print_only: Annotated[bool, typer.Option("--print", help="Only print the SQL.")] = False,
) -> None:
    """PostgreSQL: give the application role INSERT/SELECT only on the log (run as the owner)."""
    try:
        statements = app_role_sql(role)
    except ValueError as exc:
        _fail(str(exc))
    if print_only:
        typer.echo(";\n".join(statements) + ";")
        return
    site = _site(config)
    try:
        setup_app_role(site.engine, role)
    except (ValueError, StorageError) as exc:
        _fail(str(exc))
    typer.echo(f"role {role}: SELECT/INSERT on the log, purge via record_purge() only")


def backup_command(
    dest: Annotated[Path, typer.Argument(help="Backup file (or folder) to create.")],
    config: ConfigOpt,
    verify: Annotated[bool, typer.Option(help="Verify the backup's log after copying.")] = True,
    key: KeyOpt = None,
) -> None:
    """Copy the SQLite store consistently while the gateway runs (4-8-6(17)); pg_dump otherwise."""
    site = _site(config)
    try:
        pages = backup(site.engine, dest)
    except BackupError as exc:
        _fail(str(exc))
    if dest.is_dir():
        dest = dest / f"{Path(str(site.engine.url.database)).stem}-backup.db"
    typer.echo(f"backup of {describe(site.engine)} written to {dest} ({pages} pages)")
    if verify:
        _verify_copy(dest, site, key)


def _verify_copy(path: Path, site: Site, key: str | None) -> None:
    """Verify the log inside a SQLite copy."""
    engine = make_engine(sqlite_path=path)
    try:
        report = verify_log(
            engine,
            site.config.site.id,
            keys=_trusted(key, site),
            origin=site.config.audit.origin_for(site.config.site.id),
        )
    finally:
        engine.dispose()
    _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def restore_command(
    source: Annotated[Path, typer.Argument(help="A backup made by `sekisho backup`.")],
    config: ConfigOpt,
    key: KeyOpt = None,
) -> None:
    """Put a backup back in place of the SQLite store (the gateway must be stopped)."""
    try:
        site_config = load_site(config)
    except ConfigError as exc:
        _fail(str(exc))
    base = config.resolve().parent
    if site_config.storage.url:
        _fail(
            "restore here is for SQLite stores; restore PostgreSQL with pg_restore (docs/audit.md)"
        )
    engine = make_engine(sqlite_path=base / site_config.storage.path)
    try:
        pages = restore(engine, site_config.site.id, source)
    except SiteBusy:
        _fail("the gateway is running: stop it before restoring")
    except BackupError as exc:
        _fail(str(exc))
    finally:
        engine.dispose()
    typer.echo(f"restored {source} ({pages} pages)")
    _verify_copy(base / site_config.storage.path, _site(config), key)


@keys_app.command("create-checkpoint-key")
def keys_create_checkpoint_key(
    config: ConfigOpt,
    out: Annotated[
        Path | None, typer.Option(help="Key file (default: audit.checkpoint_key).")
    ] = None,
) -> None:
    """Create the Ed25519 key that signs checkpoints (mode 0600) and its public .pub file."""
    try:
        site = load_site(config)
    except ConfigError as exc:
        _fail(str(exc))
    path = out or key_path(site, config.resolve().parent)
    try:
        signer = create_key_file(path, site.audit.origin_for(site.site.id))
    except (KeyFileError, OSError) as exc:
        _fail(str(exc))
    typer.echo(f"checkpoint key written to {path} (mode 0600); keep it out of any repository")
    typer.echo(f"verifier key (give it to auditors, {public_path(path)}):")
    typer.echo(signer.verifier().vkey)


def register(app: typer.Typer) -> None:
    """Add the audit, backup, restore and keys commands to the `sekisho` command."""
    app.add_typer(audit_app, name="audit")
    app.add_typer(keys_app, name="keys")
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
