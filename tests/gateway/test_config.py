"""Site file loading: a broken file is a clear error naming file, path and line, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, load_site

GOOD = """\
site: {id: hq, name: 本庁舎, timezone: Asia/Tokyo}
osdp_buses: [{id: bus1, port: /dev/ttyUSB0}]
readers:
  - {id: sr-in, kind: osdp, bus: bus1, address: 1, scbk_file: keys/sr-in.scbk}
  - {id: sr-out, kind: osdp, bus: bus1, address: 2, scbk_file: keys/sr-out.scbk}
  - {id: vault-in, kind: rdm6300, port: /dev/ttyUSB1, tamper_input: {module: io1, point: 5}}
modules: [{id: io1, port: 5020}]
zones:
  - {id: server-room, name: サーバ室}
  - {id: vault, name: 媒体保管庫, kind: media_vault}
doors:
  - id: sr-door
    name: Server room
    zone: server-room
    entry_reader: sr-in
    exit_reader: sr-out
    module: io1
    strike_output: 0
    contact_input: 0
    rex_input: 1
    auth: card_and_pin
  - {id: vault-door, name: Vault, zone: vault, entry_reader: vault-in, module: io1,
     strike_output: 1, contact_input: 2}
schedules:
  - {id: office, week: {mon: ["08:00-19:00"]}}
holidays: [2026-01-01]
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "site.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_good_file_loads(tmp_path: Path) -> None:
    site = load_site(write(tmp_path, GOOD))
    assert site.site.id == "hq"
    assert [d.id for d in site.doors] == ["sr-door", "vault-door"]
    assert site.schedule("always").id == "always"
    assert site.zone("vault").kind.value == "media_vault"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("port: 5020", "port: 5020, colour: red"),
            r"modules\[0\]\.colour \(line 7\): Extra inputs",
        ),
        (
            ("zone: server-room", "zone: lobby"),
            r"doors\[0\]\.zone \(line 14\): unknown zone 'lobby'",
        ),
        (
            ("strike_output: 1", "strike_output: 0"),
            r"doors\[1\]\.strike_output .*already doors\[0\]",
        ),
        (("address: 2", "address: 1"), r"readers\[1\]\.address .*sr-in has it on bus1"),
        (
            ("rex_input: 1", "rex_input: -1"),
            r"doors\[0\]\.rex_input \(line 20\): Input should be greater",
        ),
        (
            ("entry_reader: vault-in,", "entry_reader: vault-in, auth: card_and_pin,"),
            r"card_and_pin needs a keypad",
        ),
        (("08:00-19:00", "19:00-08:00"), r"schedules\[0\]\.week.*ends before it starts"),
        (
            ("bus: bus1, address: 1", "bus: bus9, address: 1"),
            r"readers\[0\]\.bus .*unknown osdp bus 'bus9'",
        ),
        (("timezone: Asia/Tokyo", "timezone: Mars/Olympus"), r"site\.timezone .*unknown time zone"),
    ],
)
def test_errors_name_path_and_line(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    text = GOOD.replace(*change, 1)
    assert text != GOOD
    with pytest.raises(ConfigError, match=expected) as err:
        load_site(write(tmp_path, text))
    assert str(err.value).startswith(str(tmp_path / "site.yaml"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("site: [unclosed", r"line 1: not valid YAML"),
        ("- just\n- a list\n", "top level must be a mapping"),
        ("", "top level must be a mapping"),
        ("site: {id: hq, name: x}\n", r"zones \(line 1\)|zones.*Field required"),
        ("site: {id: 'Bad Id', name: x}\nzones: []\ndoors: []\n", r"site\.id .*pattern"),
    ],
)
def test_malformed_files(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_site(write(tmp_path, text))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_site(tmp_path / "nope.yaml")


def test_binary_garbage_is_a_config_error(tmp_path: Path) -> None:
    p = tmp_path / "site.yaml"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError):
        load_site(p)
