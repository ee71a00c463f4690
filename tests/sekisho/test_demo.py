"""`sekisho demo` as a user runs it: a separate process, the simulator beside it, the banner,
generated accounts, a badge through `sekisho sim`, the record through the API, a clean stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

SEKISHO = [sys.executable, "-c", "from sekisho.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SEKISHO_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [*SEKISHO, *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


@pytest.fixture
def demo(tmp_path: Path):  # type: ignore[no-untyped-def]  # generator fixture
    data_dir = tmp_path / "demo"
    port = free_port()
    log = (tmp_path / "demo.log").open("w+")
    proc = subprocess.Popen(
        [*SEKISHO, "demo", "--data-dir", str(data_dir), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        log.seek(0)
        out = log.read()
        if "Dashboard:" in out or proc.poll() is not None:
            break
        time.sleep(0.2)
    log.seek(0)
    out = log.read()
    assert "Dashboard:" in out, out
    try:
        yield data_dir, port, proc, out
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()


def test_demo_runs_end_to_end(demo) -> None:  # type: ignore[no-untyped-def]
    data_dir, port, proc, banner = demo
    accounts = json.loads((data_dir / "demo-accounts.json").read_text())
    assert (data_dir / "demo-accounts.json").stat().st_mode & 0o077 == 0
    assert set(accounts) == {"chief", "manager", "operator", "auditor", "admin"}
    assert len({a["password"] for a in accounts.values()}) == 5  # generated, all different
    assert f"http://127.0.0.1:{port}/" in banner

    listed = run_cli("sim", "list", "--json", data_dir=data_dir)
    assert listed.returncode == 0, listed.stderr
    assert "sr-in" in listed.stdout and "Sato Hanako" in listed.stdout

    base = f"http://127.0.0.1:{port}/api/v1"
    with httpx.Client(base_url=base, timeout=10) as http:
        token = http.post(
            "/auth/token",
            data={"username": "operator", "password": accounts["operator"]["password"]},
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # readers come up with Secure Channel
            doors = http.get("/doors", headers=auth).json()
            if all(d["state"] == "locked" for d in doors):
                break
            time.sleep(0.2)
        assert all(d["state"] == "locked" for d in doors), doors

        badge = run_cli("sim", "badge", "sr-in", "Sato Hanako", "--pin", "2468", data_dir=data_dir)
        assert badge.returncode == 0, badge.stderr
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # the person pulls the door once the strike clicks
            door = http.get("/doors/sr-door", headers=auth).json()
            if door["strike_released"]:
                break
            time.sleep(0.1)
        assert door["strike_released"], door
        opened = run_cli("sim", "door", "sr-door", "open", data_dir=data_dir)
        assert opened.returncode == 0, opened.stderr + opened.stdout

        deadline = time.monotonic() + 15
        items: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            items = http.get("/events", params={"kind": "door.access_taken"}, headers=auth).json()[
                "items"
            ]
            if items:
                break
            time.sleep(0.2)
        assert items and items[0]["door_id"] == "sr-door"
        grant = http.get(f"/events/{items[0]['detail']['decision_seq']}", headers=auth).json()
        assert grant["outcome"] == "granted" and grant["credential"] == "H10301:…001"

    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0
    assert not (data_dir / "sim-control.json").exists()  # the simulator was stopped too


def test_sim_cli_without_a_running_demo_says_so(tmp_path: Path) -> None:
    result = run_cli("sim", "list", data_dir=tmp_path / "none")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
