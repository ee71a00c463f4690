"""``sekisho sim ...``: drive a running simulated site from the terminal.

Every command but ``serve`` finds the sim through ``DATA_DIR/sim-control.json`` and talks to
its control surface on loopback. Exit codes: 0 done, 1 the sim refused or the input is bad,
3 no sim is running there. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer

from sekisho_sim.spec import CONTROL_FILE, SpecError, load_spec

EXIT_REFUSED = 1
EXIT_NOT_RUNNING = 3
_REQUEST_TIMEOUT_S = 15.0  # a badge with a PIN waits up to 2 s for the prompt
DEFAULT_DATA_DIR = "sekisho-demo"

app = typer.Typer(
    help="Drive the simulated readers, doors and I/O modules of a running sim.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder holding sim-control.json [default: $SEKISHO_DATA_DIR, else ./sekisho-demo]",
        show_default=False,
    ),
]


class CliError(Exception):
    """A command failed; the message is printed as one line, then exit with ``code``."""

    def __init__(self, message: str, code: int = EXIT_REFUSED) -> None:
        """A message for the user and the exit code to leave with."""
        super().__init__(message)
        self.code = code


def _fail(exc: CliError) -> typer.Exit:
    """Print a one-line error and build the matching exit."""
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(exc.code)


def _control_file(data_dir: Path | None) -> Path:
    """Where sim-control.json is: --data-dir, else $SEKISHO_DATA_DIR, else ./sekisho-demo."""
    folder = data_dir or Path(os.environ.get("SEKISHO_DATA_DIR") or DEFAULT_DATA_DIR)
    return folder / CONTROL_FILE


def _base_url(data_dir: Path | None) -> str:
    """The running sim's control URL, or CliError(not running)."""
    path = _control_file(data_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        url = data["url"]
    except FileNotFoundError:
        raise CliError(
            f"no sim is running for {path.parent} (no {CONTROL_FILE}; start it with "
            "`sekisho demo` or `python -m sekisho_sim serve SPEC`)",
            EXIT_NOT_RUNNING,
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CliError(f"{path} is unreadable: {exc}", EXIT_NOT_RUNNING) from None
    if not isinstance(url, str) or not url.startswith(("http://127.0.0.1:", "http://[::1]:")):
        raise CliError(f"{path} names a non-loopback URL {url!r}", EXIT_NOT_RUNNING)
    return url


def _call(
    data_dir: Path | None, method: str, route: str, body: dict[str, Any] | None = None
) -> Any:
    """One request to the control surface; CliError with the sim's own message on failure."""
    base = _base_url(data_dir)
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - the URL is checked to be loopback http above
        base + route, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=_REQUEST_TIMEOUT_S) as reply:  # noqa: S310 - loopback http only
            return json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read())["error"]
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {exc.code}"
        raise CliError(str(message)) from None
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CliError(
            f"no sim answers at {base} ({reason}); is it still running? "
            f"(stale {_control_file(data_dir)})",
            EXIT_NOT_RUNNING,
        ) from None
    except ValueError as exc:
        raise CliError(f"the sim sent a reply that is not JSON: {exc}") from None


def _run(data_dir: Path | None, method: str, route: str, body: dict[str, Any] | None = None) -> Any:
    """``_call`` for a command: errors become a one-line message and an exit code."""
    try:
        return _call(data_dir, method, route, body)
    except CliError as exc:
        raise _fail(exc) from None


def _on_off(flag: bool, word: str) -> str:
    """``word`` when set, else nothing (for compact status columns)."""
    return word if flag else ""


def _print_list(info: dict[str, Any]) -> None:
    """Human form of ``GET /list``."""
    typer.echo(f"sim at {info['url']}   state: {info['state_dir']}")
    typer.echo("\nReaders")
    for r in info["readers"]:
        where = (
            f"osdp {r['bus']} addr {r['address']}" if r["kind"] == "osdp" else "rdm6300 (125 kHz)"
        )
        flags = [
            _on_off(r.get("keypad", False), "keypad"),
            _on_off(r.get("secure", False), "secure"),
            _on_off(r["cut"], "CUT"),
            _on_off(r["tamper"], "TAMPER"),
        ]
        tamper = f"  tamper via {r['tamper_input']}" if r.get("tamper_input") else ""
        doors = f"  doors: {', '.join(r['doors'])}" if r["doors"] else ""
        typer.echo(
            f"  {r['id']:<14} {where:<22} {' '.join(f for f in flags if f):<20}{doors}{tamper}"
        )
        typer.echo(f"  {'':<14} link {r['link']}")
    typer.echo("\nDoors")
    for d in info["doors"]:
        state = "open" if d.get("open") else "closed"
        if d.get("held"):
            state = "held open"
        lock = "released" if d.get("strike_released") else "locked"
        rex = f" rex {d['rex_input']}" if d["rex_input"] is not None else ""
        readers = f"  readers: {', '.join(d['readers'])}" if d["readers"] else ""
        forced = f"  forced {d['forced_count']}x" if d.get("forced_count") else ""
        typer.echo(
            f"  {d['id']:<14} {d['module']} coil {d['strike_coil']} contact {d['contact_input']}"
            f"{rex}   {state}, {lock}{forced}{readers}"
        )
    typer.echo("\nModules")
    for m in info["modules"]:
        named = ", ".join(f"{k}={v}" for k, v in m["named_inputs"].items())
        status = "up" if m["running"] else "CUT"
        watchdog = f"  watchdog {m['watchdog_s']:g} s" if m["watchdog_s"] else ""
        typer.echo(
            f"  {m['id']:<14} modbus tcp {m['host']}:{m['port']} device {m['device_id']}  "
            f"{status}{watchdog}" + (f"  inputs: {named}" if named else "")
        )
    if info.get("sensors"):
        typer.echo("\nSensors")
        for x in info["sensors"]:
            where = (
                f"input {x['input']}"
                if x["input"] is not None
                else f"register {x['input_register']}"
            )
            typer.echo(
                f"  {x['id']:<18} {x['module']} {where:<12} {x['type']:<8} "
                f"{x['label']:<18} now {x['value']}"
            )
    if info.get("cameras"):
        typer.echo("\nCameras")
        for cam in info["cameras"]:
            flags = [
                w
                for w, on in (
                    ("STOPPED", not cam.get("streaming", False)),
                    ("COVERED", cam.get("covered")),
                    ("SPRAYED", cam.get("sprayed")),
                    ("FROZEN", cam.get("frozen")),
                )
                if on
            ]
            door = f"  over {cam['door']}" if cam.get("door") else ""
            typer.echo(f"  {cam['camera']:<14} {cam.get('url', '')}{door}  {' '.join(flags)}")
    if info["cards"]:
        typer.echo("\nCards")
        for c in info["cards"]:
            pin = f"PIN {c['pin']}" if c.get("pin") else ""
            typer.echo(f"  {c['label']:<30} {c['card']:<22} {pin}")


@app.command("list")
def list_(
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw JSON.")] = False,
) -> None:
    """Show the simulated readers, doors, modules and sample cards."""
    info = _run(data_dir, "GET", "/list")
    if as_json:
        typer.echo(json.dumps(info, indent=2))
    else:
        _print_list(info)


@app.command()
def badge(
    reader: Annotated[str, typer.Argument(help="Reader id, e.g. sr-in")],
    card: Annotated[str, typer.Argument(help="Card key FORMAT:FACILITY:NUMBER or a card label")],
    pin: Annotated[str | None, typer.Option("--pin", help="Type this PIN + '#' after")] = None,
    data_dir: DataDir = None,
) -> None:
    """Present a card at a reader (and type a PIN when the reader asks for it)."""
    body: dict[str, Any] = {"reader": reader, "card": card}
    if pin is not None:
        body["pin"] = pin
    reply = _run(data_dir, "POST", "/badge", body)
    line = f"{reader}: presented {reply['card']}"
    if pin is not None:
        seen = "after the PIN prompt" if reply.get("pin_prompt") else "(no PIN prompt within 2 s)"
        line += f", typed {reply.get('pin_digits', len(pin))}-digit PIN + # {seen}"
    typer.echo(line)


@app.command()
def keys(
    reader: Annotated[str, typer.Argument(help="Reader id")],
    keys: Annotated[str, typer.Argument(help="Keys to press: 0-9, * and #")],
    data_dir: DataDir = None,
) -> None:
    """Press keys on a reader's keypad."""
    _run(data_dir, "POST", "/keys", {"reader": reader, "keys": keys})
    typer.echo(f"{reader}: pressed {len(keys)} key(s)")


@app.command()
def door(
    door: Annotated[str, typer.Argument(help="Door id")],
    action: Annotated[str, typer.Argument(help="open|close|hold|force|rex")],
    data_dir: DataDir = None,
) -> None:
    """Do something to a door: open (needs a released strike), close, hold, force, rex."""
    reply = _run(data_dir, "POST", "/door", {"door": door, "action": action})
    view = reply["view"]
    state = "held open" if view["held"] else "open" if view["open"] else "closed"
    lock = "released" if view["strike_released"] else "locked"
    typer.echo(f"{door}: {reply['message']} (now {state}, strike {lock})")


@app.command()
def fault(
    device: Annotated[str, typer.Argument(help="Reader, OSDP bus or module id")],
    action: Annotated[str, typer.Argument(help="cut|restore")],
    data_dir: DataDir = None,
) -> None:
    """Cut a device off (wiring fault, power loss) or restore it."""
    _run(data_dir, "POST", "/fault", {"device": device, "action": action})
    typer.echo(f"{device}: {'cut' if action == 'cut' else 'restored'}")


@app.command()
def tamper(
    reader: Annotated[str, typer.Argument(help="Reader id")],
    clear: Annotated[bool, typer.Option("--clear", help="Close the tamper switch again")] = False,
    data_dir: DataDir = None,
) -> None:
    """Open a reader's tamper switch (or close it with --clear)."""
    reply = _run(data_dir, "POST", "/tamper", {"reader": reader, "active": not clear})
    typer.echo(f"{reader}: tamper {'cleared' if clear else 'active'} via {reply['via']}")


@app.command("input")
def input_(
    module: Annotated[str, typer.Argument(help="Module id")],
    point: Annotated[str, typer.Argument(help="Input name or number")],
    clear: Annotated[bool, typer.Option("--clear", help="Set the input inactive")] = False,
    data_dir: DataDir = None,
) -> None:
    """Set a module input (smoke, water leak, intrusion, UPS ...) active, or --clear it."""
    _run(data_dir, "POST", "/input", {"module": module, "input": point, "active": not clear})
    typer.echo(f"{module}: input {point} {'inactive' if clear else 'active'}")


@app.command()
def sensor(
    sensor_id: Annotated[str, typer.Argument(metavar="SENSOR", help="Sensor id")],
    value: Annotated[
        str,
        typer.Argument(help="on|off (contact), a number (analog), normal|alarm|open|short (loop)"),
    ],
    data_dir: DataDir = None,
) -> None:
    """Set an environment sensor: smoke on, temperature 31.5, a supervised loop open or short."""
    reply = _run(data_dir, "POST", "/sensor", {"sensor": sensor_id, "value": value})
    typer.echo(f"{sensor_id}: now {reply['value']} (raw {reply['raw']} on {reply['module']})")


@app.command()
def noise(
    reader: Annotated[str, typer.Argument(help="Reader (or OSDP bus) id")],
    data_dir: DataDir = None,
) -> None:
    """Put random bytes on a reader's line."""
    reply = _run(data_dir, "POST", "/noise", {"reader": reader})
    typer.echo(f"{reader}: noise sent on line {reply['line']}")


@app.command()
def feedback(
    reader: Annotated[str, typer.Argument(help="OSDP reader id")],
    data_dir: DataDir = None,
) -> None:
    """Show the LED and buzzer commands the gateway sent to a reader."""
    reply = _run(data_dir, "GET", f"/readers/{urllib.parse.quote(reader, safe='')}/feedback")
    if not reply["feedback"]:
        typer.echo(f"{reader}: no feedback yet")
    for rec in reply["feedback"]:
        color = f" {rec['color']}" if rec["color"] else ""
        temporary = " (temporary)" if rec["temporary"] else ""
        typer.echo(f"  {rec['at']:.3f}  {rec['kind']}{color}{temporary}")


@app.command()
def camera(
    camera_id: Annotated[str, typer.Argument(metavar="CAMERA", help="Camera id, e.g. sr-cam")],
    action: Annotated[
        str,
        typer.Argument(
            help="walk|wander|cover|uncover|spray|clean|freeze|unfreeze|stop|start",
        ),
    ],
    *,
    people: Annotated[int, typer.Option("--people", help="walk: how many, one behind another")] = 1,
    out: Annotated[bool, typer.Option("--out", help="walk: out of the zone, not in")] = False,
    seconds: Annotated[float, typer.Option("--seconds", help="wander: for how long")] = 4.0,
    data_dir: DataDir = None,
) -> None:
    """Act in front of a camera: walk people through the door, cover or freeze it, stop it."""
    body: dict[str, Any] = {"camera": camera_id, "action": action}
    if action == "walk":
        body |= {"people": people, "direction": "out" if out else "in"}
    elif action == "wander":
        body["seconds"] = seconds
    reply = _run(data_dir, "POST", "/camera", body)
    view = reply["view"]
    if action in ("walk", "wander"):
        who = f"{people} walking {'out' if out else 'in'}" if action == "walk" else "someone inside"
        typer.echo(f"{camera_id}: {who}, done in {reply['done_in_s']:.1f} s")
        return
    state = [
        w
        for w, on in (
            ("streaming", view["streaming"]),
            ("stopped", not view["streaming"]),
            ("covered", view["covered"]),
            ("sprayed", view["sprayed"]),
            ("frozen", view["frozen"]),
        )
        if on
    ]
    typer.echo(f"{camera_id}: {action} (now {', '.join(state)}; {view['url']})")


@app.command()
def serve(
    spec: Annotated[Path, typer.Argument(help="Sim spec file (YAML or JSON)")],
    verbose: Annotated[bool, typer.Option("--verbose", help="Show pymodbus logs")] = False,
) -> None:
    """Run the simulated site of SPEC until Ctrl-C / SIGTERM."""
    from sekisho_sim import site as sim_site  # noqa: PLC0415 - keeps the other commands' start-up light

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)
    if not verbose:
        # pymodbus logs frame dumps when a client hangs up mid-request: noise for a demo
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    try:
        loaded = load_spec(spec)
        asyncio.run(sim_site.serve(loaded, announce=typer.echo))
    except (SpecError, sim_site.SiteError) as exc:
        raise _fail(CliError(str(exc))) from None
    except KeyboardInterrupt:
        pass
