"""Start ``sekisho run --config SITE`` as a process of its own, fast enough for many restarts.

Two ways, the same command line and the same code path (``sekisho.cli.main``):

* ``exec``: a fresh interpreter per start (``.venv/bin/sekisho run ...``): what an operator
  does; costs the ~1.5 s import of FastAPI, SQLAlchemy, OpenCV ... every time.
* ``fork``: a *launcher* process imports ``sekisho.cli`` once, then forks one child per start;
  the child sets its argv and calls ``main()``. The child is a separate process with its own
  pid, descriptors and locks, killed with SIGKILL like any other; only the import is shared.
  The launcher starts no thread before it forks (BLAS is held to one thread).

Run as ``python -m resilience.launcher``, the module is the launcher itself: it reads one JSON
object per line on stdin (``{"args": [...], "log": "/path"}``) and answers each with the
child's pid on stdout. Children are reaped by the kernel (SIGCHLD ignored).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import IO, Literal

Mode = Literal["fork", "exec"]

_CHILD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


class LaunchError(RuntimeError):
    """The gateway process could not be started."""


def sekisho_command() -> list[str]:
    """The ``sekisho`` console script beside this interpreter, else ``python -c``."""
    script = Path(sys.executable).with_name("sekisho")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from sekisho.cli import main; main()"]


class GatewayProcess:
    """One running ``sekisho run`` started by a :class:`Launcher`."""

    def __init__(self, pid: int, popen: subprocess.Popen[bytes] | None) -> None:
        """Wrap a started process (``popen`` for exec mode, None for a forked child)."""
        self.pid = pid
        self._popen = popen

    def alive(self) -> bool:
        """True while the process exists."""
        if self._popen is not None:
            return self._popen.poll() is None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return not _zombie(self.pid)

    def kill9(self, timeout_s: float = 10.0) -> None:
        """SIGKILL, and wait until the process is gone (its locks and ports released)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.wait_gone(timeout_s)

    def terminate(self, timeout_s: float = 20.0) -> None:
        """SIGTERM (an orderly stop), SIGKILL if it is still there after ``timeout_s``."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        try:
            self.wait_gone(timeout_s)
        except LaunchError:
            self.kill9()

    def wait_gone(self, timeout_s: float) -> None:
        """Wait until the process has exited; LaunchError after ``timeout_s``."""
        if self._popen is not None:
            try:
                self._popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                raise LaunchError(f"gateway {self.pid} still running") from None
            return
        deadline = time.monotonic() + timeout_s
        while self.alive():
            if time.monotonic() > deadline:
                raise LaunchError(f"gateway {self.pid} still running")
            time.sleep(0.005)


class Launcher:
    """Starts gateways by fork (from a pre-imported launcher process) or by exec."""

    def __init__(self, mode: Mode = "fork") -> None:
        """Nothing runs until the first :meth:`spawn`."""
        self.mode: Mode = mode
        self._server: subprocess.Popen[bytes] | None = None

    def spawn(
        self, args: list[str], log: Path, *, env: dict[str, str] | None = None
    ) -> GatewayProcess:
        """Start ``sekisho ARGS`` with stdout and stderr appended to ``log``."""
        if self.mode == "exec":
            with log.open("ab") as out:
                popen = subprocess.Popen(  # noqa: S603 -- our own console script, no shell
                    [*sekisho_command(), *args],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **_CHILD_ENV, **(env or {})},
                    start_new_session=True,
                )
            return GatewayProcess(popen.pid, popen)
        server = self._ensure_server()
        assert server.stdin is not None
        assert server.stdout is not None
        request = {"args": args, "log": str(log), "env": env or {}}
        server.stdin.write(json.dumps(request).encode() + b"\n")
        server.stdin.flush()
        line = server.stdout.readline()
        if not line.strip().isdigit():
            raise LaunchError(f"launcher answered {line!r}")
        return GatewayProcess(int(line), None)

    def close(self) -> None:
        """Stop the launcher process (its children are the caller's to stop)."""
        if self._server is None:
            return
        server, self._server = self._server, None
        assert server.stdin is not None
        with contextlib.suppress(OSError):
            server.stdin.close()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)

    def _ensure_server(self) -> subprocess.Popen[bytes]:
        """The launcher process, started on first use (again if it died)."""
        if self._server is None or self._server.poll() is not None:
            self._server = subprocess.Popen(
                [sys.executable, "-m", "resilience.launcher"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env={**os.environ, **_CHILD_ENV},
                cwd=Path(__file__).resolve().parent.parent,
            )
        return self._server


def _zombie(pid: int) -> bool:
    """True when ``pid`` has exited but is not reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _child(args: list[str], log: str, env: dict[str, str], main: object) -> None:
    """In the forked child: become ``sekisho ARGS`` and never return."""
    code = 1
    try:
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.environ.update(env)
        sys.argv = ["sekisho", *args]
        try:
            main()  # type: ignore[operator]  # sekisho.cli.main
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 -- the child must end here, whatever happened
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve(stdin: IO[str], stdout: IO[str]) -> None:
    """The launcher's loop: import once, fork a gateway per request line."""
    from sekisho.cli import main  # noqa: PLC0415 -- the point: imported once, before any fork

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the children
    for line in stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(list(request["args"]), str(request["log"]), dict(request["env"]), main)
        stdout.write(f"{pid}\n")
        stdout.flush()


if __name__ == "__main__":
    serve(sys.stdin, sys.stdout)
