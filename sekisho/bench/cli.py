"""``sekisho bench``: the benchmark at scale, a table of figures beside targets, JSON results."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from sekisho.bench.figures import TARGET_BY_KEY
from sekisho.bench.report import Results, ResultsError, load, print_table, save
from sekisho.bench.runner import FULL, QUICK, SECTIONS, Folders, run, with_overrides
from sekisho.bench.scale_site import layout_for


def _count(what: str) -> Any:
    """A count option that overrides the mode's default."""
    return typer.Option(min=0, show_default=False, help=what)


def _echo(line: str) -> None:
    """Progress goes to stderr; the table and the results file name to stdout."""
    typer.echo(line, err=True)


def bench(  # every option keyword-only: typer reads them by name
    *,
    quick: Annotated[
        bool, typer.Option(help="A few minutes: shorter runs, 500,000 and 1 M instead of 2 M/10 M.")
    ] = False,
    out: Annotated[Path, typer.Option(help="Folder for the JSON results.")] = Path("bench/results"),
    compare: Annotated[
        Path | None, typer.Option(help="An earlier results file: print the change since it.")
    ] = None,
    show: Annotated[
        Path | None, typer.Option(help="Print a results file's table instead of running.")
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option(help=f"Run only these sections: {', '.join(SECTIONS)}.")
    ] = None,
    skip: Annotated[list[str] | None, typer.Option(help="Leave these sections out.")] = None,
    cache_dir: Annotated[
        Path, typer.Option(help="Generated credentials and logs, kept for later runs.")
    ] = Path("bench/results/cache"),
    work_dir: Annotated[
        Path | None, typer.Option(help="Scratch folder, kept (default: a temporary one).")
    ] = None,
    keep_work: Annotated[
        bool, typer.Option(help="Keep the temporary scratch folder (site files, logs).")
    ] = False,
    credentials: Annotated[
        int | None, _count("People (one card each) in the main population [100,000].")
    ] = None,
    big_credentials: Annotated[
        int | None, _count("People in the big population: memory and lookups [2 M; quick 500,000].")
    ] = None,
    audit_records: Annotated[
        int | None, _count("Records in the audit log [10 M; quick 1 M].")
    ] = None,
    badge_seconds: Annotated[
        float | None, _count("Seconds of badging at 1 badge/s/door [60; quick 20].")
    ] = None,
    big_badge_seconds: Annotated[
        float | None, _count("Seconds of badging with the big population [20; quick 0].")
    ] = None,
    decisions: Annotated[
        int | None,
        _count("People whose decision is timed inside the gateway [20,000; quick 5,000]."),
    ] = None,
    inject_seconds: Annotated[
        float | None, _count("Seconds of card reads offered at 2,000/s [10; quick 5].")
    ] = None,
    ingest: Annotated[
        int | None, _count("Records appended by 64 writers [50,000; quick 20,000].")
    ] = None,
    backlog: Annotated[
        int | None, _count("Events in the MQTT outbox backlog to drain [50,000; quick 10,000].")
    ] = None,
    retry_backlog: Annotated[
        int | None, _count("Records in the recorder's retry backlog [5,000; quick 2,000].")
    ] = None,
    camera_seconds: Annotated[
        float | None, _count("Seconds of camera analysis timing [5; quick 3].")
    ] = None,
    doors: Annotated[int | None, _count("Doors in the site (2 readers each) [64].")] = None,
) -> None:
    """Measure Sekisho at scale and print each figure beside its target (issue 9)."""
    previous = None
    try:
        if compare is not None:
            previous = load(compare)
        if show is not None:
            _print_saved(show, previous)
            return
    except ResultsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    sections = tuple(s for s in (only or SECTIONS) if s not in (skip or ()))
    unknown = sorted({*(only or ()), *(skip or ())} - set(SECTIONS))
    if unknown:
        typer.echo(f"error: unknown section(s) {', '.join(unknown)}", err=True)
        raise typer.Exit(2)
    settings = with_overrides(
        QUICK if quick else FULL,
        sections=sections,
        credentials=credentials,
        big_credentials=big_credentials,
        audit_records=audit_records,
        badge_s=badge_seconds,
        big_badge_s=big_badge_seconds,
        decisions=decisions,
        inject_s=inject_seconds,
        ingest=ingest,
        backlog=backlog,
        retry_backlog=retry_backlog,
        camera_analysis_s=camera_seconds,
        layout=layout_for(doors),
    )
    folders = Folders(cache_dir, work_dir, keep_work)
    results: Results = asyncio.run(run(settings, folders, _echo))
    path = save(results, out)
    print_table(results, sys.stdout, previous)
    typer.echo(f"\nresults: {path}")


def _print_saved(path: Path, previous: dict[str, object] | None) -> None:
    """The table of a saved results file."""
    data = load(path)
    results = Results(str(data.get("mode", "?")), dict(data.get("parameters", {})))
    results.started_at = str(data.get("started_at", ""))
    results.load_before = list(data.get("machine", {}).get("load_before", []))
    for key, figure in data["figures"].items():
        if isinstance(figure, dict) and key in TARGET_BY_KEY:
            if isinstance(figure.get("value"), int | float):
                results.put(key, float(figure["value"]), str(figure.get("on", "")))
            if figure.get("unavailable"):
                results.unavailable[key] = str(figure["unavailable"])
    print_table(results, sys.stdout, previous)


def register(app: typer.Typer) -> None:
    """Add ``bench`` to the ``sekisho`` command."""
    app.command("bench")(bench)
