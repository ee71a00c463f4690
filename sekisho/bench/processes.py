"""The benchmark's two other processes: firmware-sim (the devices) and a gateway.

Each is started with this interpreter as ``sekisho demo`` starts the sim, waited for until it
says it is up, and stopped by its own pid (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import json
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from sekisho.bench.scale_site import Layout, sim_spec, write_keys
from sekisho.demo_site import write_yaml

_STOP_GRACE_S = 30.0
_LINE_LIMIT = 64 * 1024 * 1024  # the gateway's answers carry sample lists
_PR_SET_PDEATHSIG = 1


class BenchProcessError(RuntimeError):
    """A benchmark process did not start or answer; the message says where to look."""


def _libc_prctl() -> Callable[..., int] | None:
    """libc's prctl, looked up once in the parent (the forked child must not load libraries)."""
    try:
        return cast("Callable[..., int]", ctypes.CDLL(ctypes.util.find_library("c")).prctl)
    except (OSError, AttributeError, TypeError):
        return None  # not Linux/glibc: children are stopped by pid only


_PRCTL = _libc_prctl()


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the benchmark process dies (Linux), so a killed
    run leaves no simulator or gateway behind."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


async def _stop(proc: asyncio.subprocess.Process, name: str) -> None:
    """SIGTERM, wait, then SIGKILL the process we started (by its pid only)."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), _STOP_GRACE_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        sys.stderr.write(f"{name} did not stop within {_STOP_GRACE_S:.0f} s: killed\n")


class SimProcess:
    """``python -m sekisho_sim serve`` on the layout's spec."""

    def __init__(self, layout: Layout, data_dir: Path) -> None:
        """Files go to ``data_dir``; nothing runs until ``start``."""
        self.layout = layout
        self.data_dir = data_dir
        self.url = ""
        self.modules: dict[str, int] = {}
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self, timeout_s: float = 120.0) -> None:
        """Write keys and spec, start the sim, wait for its ``sim-control.json``."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        write_keys(self.layout, self.data_dir)
        spec = self.data_dir / "sim.yaml"
        write_yaml(spec, sim_spec(self.layout, self.data_dir))
        control = self.data_dir / "sim-control.json"
        control.unlink(missing_ok=True)
        with (self.data_dir / "sim.log").open("ab") as log:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "sekisho_sim", "serve", str(spec),
                stdout=log, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
                preexec_fn=_die_with_parent,
            )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.returncode is not None:
                raise BenchProcessError(f"the sim exited; see {self.data_dir / 'sim.log'}")
            if control.exists():
                with contextlib.suppress(json.JSONDecodeError, OSError):
                    info = json.loads(control.read_text(encoding="utf-8"))
                    self.url = str(info["url"])
                    self.modules = {str(k): int(v) for k, v in info["modules"].items()}
                    return
            await asyncio.sleep(0.1)
        await self.stop()
        raise BenchProcessError(f"the sim did not come up; see {self.data_dir / 'sim.log'}")

    async def stop(self) -> None:
        """Stop the sim."""
        if self._proc is not None:
            await _stop(self._proc, "the sim")
            self._proc = None

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One request to the sim's control surface (loopback HTTP/1.1, JSON)."""
        if not self.url.startswith("http://127.0.0.1:"):
            raise BenchProcessError("the sim is not running")
        port = int(self.url.rsplit(":", 1)[1])
        payload = b"" if body is None else json.dumps(body).encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(
                f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
            raw = await asyncio.wait_for(reader.read(), 60)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        head, _, text = raw.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        answer = json.loads(text) if text else None
        if status != 200:
            raise BenchProcessError(f"sim {method} {path}: {status} {answer}")
        return answer


class GatewayProcess:
    """``python -m sekisho.bench.gateway_proc`` on a site file: a real gateway to ask things."""

    def __init__(self, site_file: Path, data_dir: Path) -> None:
        """Nothing runs until ``start``."""
        self.site_file = site_file
        self.data_dir = data_dir
        self.ready: dict[str, Any] = {}
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self, timeout_s: float) -> dict[str, Any]:
        """Start it and wait for its ready line (index loaded, drivers started, API up)."""
        with (self.data_dir / "gateway.err").open("ab") as err:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "sekisho.bench.gateway_proc",
                str(self.site_file), str(self.data_dir),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=err, start_new_session=True, limit=_LINE_LIMIT,
                preexec_fn=_die_with_parent,
            )  # fmt: skip
        try:
            self.ready = await self._read(timeout_s)
        except BenchProcessError:
            await self.stop()
            raise
        if self.ready.get("event") != "ready":
            await self.stop()
            raise BenchProcessError(f"unexpected first line from the gateway: {self.ready}")
        return self.ready

    async def _read(self, timeout_s: float) -> dict[str, Any]:
        """The next JSON line from the gateway."""
        assert self._proc is not None
        assert self._proc.stdout is not None
        try:
            line = await asyncio.wait_for(self._proc.stdout.readline(), timeout_s)
        except TimeoutError:
            raise BenchProcessError(
                f"the gateway did not answer in {timeout_s:.0f} s; "
                f"see {self.data_dir / 'gateway.log'}"
            ) from None
        if not line:
            raise BenchProcessError(f"the gateway exited; see {self.data_dir / 'gateway.log'}")
        answer = json.loads(line)
        if not isinstance(answer, dict):
            raise BenchProcessError(f"the gateway said {line[:200]!r}")
        return answer

    async def ask(self, cmd: str, timeout_s: float = 600.0, **arguments: Any) -> dict[str, Any]:
        """Run one command in the gateway; BenchProcessError if it failed there."""
        assert self._proc is not None
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"cmd": cmd, **arguments}).encode() + b"\n")
        await self._proc.stdin.drain()
        answer = await self._read(timeout_s)
        if not answer.get("ok"):
            raise BenchProcessError(f"gateway {cmd}: {answer.get('error')}")
        return answer

    async def stop(self) -> None:
        """Ask it to stop; make sure it has."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is None and proc.stdin is not None:
            with contextlib.suppress(ConnectionError):
                proc.stdin.write(b'{"cmd": "stop"}\n')
                await proc.stdin.drain()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), _STOP_GRACE_S)
        await _stop(proc, "the gateway")
