"""``sekisho sim ...`` against a running site: human output, JSON, errors and exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from sekisho_sim.cli import app
from sekisho_sim.site import SimSite, SiteError
from sekisho_sim.spec import load_spec

SPEC = """
rdm6300_readers:
  - {id: vault-in, link: dev/rdm-vault-in}
osdp_buses:
  - id: bus1
    link: dev/osdp-bus1
    readers:
      - {id: sr-in, address: 1, keypad: true}
modules:
  - id: io1
    doors:
      - {id: sr-door, strike_coil: 0, contact_input: 0, rex_input: 1, pass_time_s: 0.5}
    named_inputs: {smoke: 6}
reader_tamper_inputs: {vault-in: "io1:5"}
door_readers: {sr-door: [sr-in]}
cards:
  - {label: "Sato Hanako (staff)", card: "H10301:12:1001", pin: "2468"}
  - {label: "Vault tag", card: "EM4100:3:4660"}
"""


async def sim(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run a CLI command in a worker thread (the site answers on this test's loop)."""
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, app, list(args), env=env)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[SimSite]:
    """A started site from the test spec in tmp_path."""
    (tmp_path / "sim.yaml").write_text(SPEC)
    s = SimSite(load_spec(tmp_path / "sim.yaml"))
    await s.start()
    yield s
    await s.stop()


async def test_list_shows_readers_doors_modules_and_cards(site: SimSite, tmp_path: Path) -> None:
    result = await sim("list", "--data-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in ("vault-in", "sr-in", "sr-door", "io1", "Sato Hanako (staff)", "PIN 2468"):
        assert text in out
    assert f"127.0.0.1:{site.module_port('io1')}" in out
    as_json = await sim("list", "--json", "--data-dir", str(tmp_path))
    assert json.loads(as_json.stdout)["modules"][0]["port"] == site.module_port("io1")


async def test_data_dir_comes_from_the_environment(site: SimSite, tmp_path: Path) -> None:
    result = await sim("list", "--json", env={"SEKISHO_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["state_dir"] == str(tmp_path)


async def test_door_commands_and_a_refusal(site: SimSite, tmp_path: Path) -> None:
    d = ("--data-dir", str(tmp_path))
    refused = await sim("door", "sr-door", "open", *d)
    assert refused.exit_code == 1
    assert refused.stderr.strip() == "error: sr-door: locked, not opened"
    assert "Traceback" not in refused.output
    forced = await sim("door", "sr-door", "force", *d)
    assert forced.exit_code == 0
    assert forced.stdout.strip() == "sr-door: forced open (now open, strike locked)"
    assert (await sim("door", "sr-door", "close", *d)).exit_code == 0
    assert (await sim("door", "sr-door", "rex", *d)).exit_code == 0
    bad = await sim("door", "sr-door", "kick", *d)
    assert bad.exit_code == 1
    assert "unknown door action 'kick'" in bad.stderr


async def test_badge_fault_tamper_input_noise(site: SimSite, tmp_path: Path) -> None:
    d = ("--data-dir", str(tmp_path))
    badge = await sim("badge", "vault-in", "Vault tag", *d)
    assert badge.stdout.strip() == "vault-in: presented EM4100:3:4660"
    unknown = await sim("badge", "ghost", "H10301:1:1", *d)
    assert unknown.exit_code == 1
    assert "no reader 'ghost'" in unknown.stderr
    cut = await sim("fault", "io1", "cut", *d)
    assert cut.stdout.strip() == "io1: cut"
    assert "CUT" in (await sim("list", *d)).stdout
    assert (await sim("fault", "io1", "restore", *d)).exit_code == 0
    tamper = await sim("tamper", "vault-in", *d)
    assert tamper.stdout.strip() == "vault-in: tamper active via io1 input 5"
    assert "cleared" in (await sim("tamper", "vault-in", "--clear", *d)).stdout
    assert (await sim("input", "io1", "smoke", *d)).exit_code == 0
    assert (await sim("noise", "vault-in", *d)).exit_code == 0
    missing = await sim("input", "io1", "flood", *d)
    assert missing.exit_code == 1
    assert "no input 'flood'" in missing.stderr


async def test_no_sim_running_is_exit_3_with_one_line(tmp_path: Path) -> None:
    result = await sim("list", "--data-dir", str(tmp_path))
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1
    assert "no sim is running" in result.stderr
    with socket.socket() as s:  # a port nobody listens on: a stale control file
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "sim-control.json").write_text(json.dumps({"url": f"http://127.0.0.1:{port}"}))
    stale = await sim("door", "sr-door", "open", "--data-dir", str(tmp_path))
    assert stale.exit_code == 3
    assert "no sim answers" in stale.stderr
    (tmp_path / "sim-control.json").write_text("{broken")
    broken = await sim("list", "--data-dir", str(tmp_path))
    assert broken.exit_code == 3
    assert "unreadable" in broken.stderr


@pytest.mark.slow
async def test_serve_runs_until_sigterm_and_refuses_a_second_sim(tmp_path: Path) -> None:
    (tmp_path / "sim.yaml").write_text(SPEC)
    env = {**os.environ, "SEKISHO_DATA_DIR": str(tmp_path)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sekisho_sim",
        "serve",
        str(tmp_path / "sim.yaml"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    control = tmp_path / "sim-control.json"
    try:
        deadline = time.monotonic() + 30
        while not await asyncio.to_thread(control.exists):
            assert proc.returncode is None, "the sim exited early"
            assert time.monotonic() < deadline, "the sim did not start in time"
            await asyncio.sleep(0.05)
        listed = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "sekisho_sim",
            "list",
            "--json",
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        listing, _ = await asyncio.wait_for(listed.communicate(), timeout=60)
        assert listed.returncode == 0
        assert json.loads(listing)["readers"][0]["id"] == "sr-in"
        second = SimSite(load_spec(tmp_path / "sim.yaml"))
        with pytest.raises(SiteError, match=f"another sim \\(pid {proc.pid}\\)"):
            await second.start()
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.communicate()
    assert proc.returncode == 0, err
    assert b"sim running: control http://127.0.0.1:" in out
    assert b"Traceback" not in err
    assert not await asyncio.to_thread(control.exists)


def test_serve_with_a_bad_spec_is_one_line_and_exit_1(tmp_path: Path) -> None:
    (tmp_path / "sim.yaml").write_text("modules: [{id: io1, bogus: 1}]")
    result = CliRunner().invoke(app, ["serve", str(tmp_path / "sim.yaml")])
    assert result.exit_code == 1
    assert "modules.0.bogus: Extra inputs are not permitted" in result.stderr
    assert result.stderr.count("\n") == 1
