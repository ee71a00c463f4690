"""The sim spec file (YAML or JSON): which simulated devices a site has and how they are wired.

Unknown keys are refused everywhere; every cross-reference (tamper wiring, door readers) is
checked, so a typo fails at load time with the path that is wrong rather than at badge time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Ident = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
_CARD_KEY = re.compile(r"^[A-Za-z0-9]+:\d+:\d+$")
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
CONTROL_FILE = "sim-control.json"


class SpecError(Exception):
    """The spec file cannot be used; the message names the file and what is wrong in it."""


class _Strict(BaseModel):
    """Base of every section: unknown keys are an error, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ControlSpec(_Strict):
    """Where the sim's HTTP control surface listens (loopback only)."""

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)  # 0 = any free port

    @field_validator("host")
    @classmethod
    def _loopback(cls, host: str) -> str:
        """Refuse any address that is not loopback."""
        if host not in _LOOPBACK:
            raise ValueError("the control surface listens on loopback only (127.0.0.1 or ::1)")
        return host


class OsdpReaderSpec(_Strict):
    """One simulated OSDP reader (a PD) on a bus."""

    id: Ident
    address: int = Field(ge=0, le=126)
    scbk_file: str | None = None  # hex key file, relative to state_dir; missing = factory-fresh
    keypad: bool = True


class OsdpBusSpec(_Strict):
    """One simulated RS-485 line: a pty link and the readers answering on it."""

    id: Ident
    link: str  # path of the pty link the gateway opens, relative to state_dir
    readers: list[OsdpReaderSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_addresses(self) -> Self:
        """Refuse two readers at one address on a bus."""
        seen: set[int] = set()
        for reader in self.readers:
            if reader.address in seen:
                raise ValueError(f"address {reader.address} is used twice on bus {self.id}")
            seen.add(reader.address)
        return self


class Rdm6300Spec(_Strict):
    """One simulated RDM6300 125 kHz serial reader."""

    id: Ident
    link: str


class DoorWiringSpec(_Strict):
    """A door wired to a module: its strike relay, contact and REX button."""

    id: Ident
    strike_coil: int = Field(ge=0)
    contact_input: int = Field(ge=0)
    rex_input: int | None = Field(default=None, ge=0)
    pass_time_s: float = Field(default=2.0, gt=0, le=600)


class SensorSpec(_Strict):
    """A simulated environment sensor on a module (see ``sekisho_sim.sensors``)."""

    id: Ident
    type: Literal["contact", "analog", "loop"]
    label: str = ""  # what it is: smoke, water leak, temperature ...
    input: int | None = Field(default=None, ge=0)  # contact: discrete input point
    input_register: int | None = Field(default=None, ge=0)  # analog/loop: input register
    scale: float = 1.0  # analog: value = raw * scale
    value: bool | float | str | None = None  # initial value (default off / 0 / normal)

    @model_validator(mode="after")
    def _wiring(self) -> Self:
        """A contact has an input; analog and loop sensors have an input register."""
        if self.type == "contact" and (self.input is None or self.input_register is not None):
            raise ValueError(f"sensor {self.id}: a contact needs input (and no input_register)")
        if self.type != "contact" and (self.input_register is None or self.input is not None):
            raise ValueError(f"sensor {self.id}: needs input_register (and no input)")
        if self.scale == 0:
            raise ValueError(f"sensor {self.id}: scale must not be 0")
        return self


class ModuleSpec(_Strict):
    """One simulated Modbus TCP I/O module."""

    id: Ident
    port: int = Field(default=0, ge=0, le=65535)  # 0 = any free port
    device_id: int = Field(default=1, ge=1, le=247)
    watchdog_s: float | None = Field(default=None, gt=0)
    coil_count: int = Field(default=16, ge=1, le=2000)
    input_count: int = Field(default=16, ge=1, le=2000)
    doors: list[DoorWiringSpec] = Field(default_factory=list)
    named_inputs: dict[str, int] = Field(default_factory=dict)
    register_count: int = Field(default=0, ge=0, le=125)  # input registers (sensor values)
    sensors: list[SensorSpec] = Field(default_factory=list)


class CameraSpec(_Strict):
    """A simulated doorway camera serving MJPEG on loopback (see ``sekisho_sim.camera``)."""

    id: Ident
    port: int = Field(default=0, ge=0, le=65535)  # 0 = any free port
    width: int = Field(default=320, ge=64, le=1920)
    height: int = Field(default=240, ge=48, le=1080)
    fps: float = Field(default=10.0, gt=0, le=60)
    door: Ident | None = None  # the door it looks down on (shown by ``sim list``)
    walk_s: float = Field(default=2.0, ge=0.5, le=30)  # how long one person takes through
    spacing_s: float = Field(default=1.0, ge=0.2, le=30)  # one behind the other


class SampleCard(_Strict):
    """A card shown by ``sim list`` and usable by its label in ``sim badge``."""

    label: str = Field(min_length=1)
    card: str
    pin: str | None = Field(default=None, pattern=r"^\d{4,12}$")

    @field_validator("card")
    @classmethod
    def _card_key(cls, card: str) -> str:
        """Refuse a card that is not FORMAT:FACILITY:NUMBER."""
        if not _CARD_KEY.match(card):
            raise ValueError(f"{card!r} is not a card key FORMAT:FACILITY:NUMBER")
        return card


class SimSpec(_Strict):
    """The whole spec file."""

    state_dir: Path | None = None  # default: the spec file's folder
    control: ControlSpec = ControlSpec()
    osdp_buses: list[OsdpBusSpec] = Field(default_factory=list)
    rdm6300_readers: list[Rdm6300Spec] = Field(default_factory=list)
    modules: list[ModuleSpec] = Field(default_factory=list)
    reader_tamper_inputs: dict[str, str] = Field(default_factory=dict)  # reader: "module:input"
    door_readers: dict[str, list[str]] = Field(default_factory=dict)  # for ``sim list`` only
    cards: list[SampleCard] = Field(default_factory=list)
    cameras: list[CameraSpec] = Field(default_factory=list)

    @property
    def reader_ids(self) -> list[str]:
        """Every reader, OSDP first, in file order."""
        ids = [r.id for bus in self.osdp_buses for r in bus.readers]
        return ids + [r.id for r in self.rdm6300_readers]

    @property
    def door_ids(self) -> list[str]:
        """Every door wired to a module, in file order."""
        return [d.id for m in self.modules for d in m.doors]

    @property
    def sensor_ids(self) -> list[str]:
        """Every sensor on a module, in file order."""
        return [s.id for m in self.modules for s in m.sensors]

    def tamper_wiring(self, reader_id: str) -> tuple[str, int] | None:
        """The (module, input point) a reader's tamper switch is wired to, if any."""
        ref = self.reader_tamper_inputs.get(reader_id)
        if ref is None:
            return None
        module_id, _, name = ref.partition(":")
        module = next(m for m in self.modules if m.id == module_id)  # validated below
        return module_id, module.named_inputs[name] if name in module.named_inputs else int(name)

    @model_validator(mode="after")
    def _cross_references(self) -> Self:
        """Refuse duplicates and references to readers, modules, inputs or doors not declared."""
        self._check_unique()
        readers = set(self.reader_ids)
        modules = {m.id: m for m in self.modules}
        for reader_id, ref in self.reader_tamper_inputs.items():
            where = f"reader_tamper_inputs.{reader_id}"
            if reader_id not in readers:
                raise ValueError(f"{where}: no reader {reader_id!r}")
            module_id, sep, point = ref.partition(":")
            module = modules.get(module_id)
            if not sep or module is None:
                raise ValueError(f"{where}: {ref!r} is not MODULE:INPUT of a declared module")
            if point not in module.named_inputs and not (
                point.isdigit() and int(point) < module.input_count
            ):
                raise ValueError(f"{where}: module {module_id} has no input {point!r}")
        doors = set(self.door_ids)
        for camera in self.cameras:
            if camera.door is not None and camera.door not in doors:
                raise ValueError(f"cameras.{camera.id}.door: no door {camera.door!r} on any module")
        for door_id, door_readers in self.door_readers.items():
            if door_id not in doors:
                raise ValueError(f"door_readers.{door_id}: no door {door_id!r} on any module")
            for reader_id in door_readers:
                if reader_id not in readers:
                    raise ValueError(f"door_readers.{door_id}: no reader {reader_id!r}")
        return self

    def _check_unique(self) -> None:
        """Refuse ids, links or labels used twice."""
        groups: dict[str, Sequence[object]] = {
            "reader id": self.reader_ids,
            "device id": [b.id for b in self.osdp_buses]
            + self.reader_ids
            + [m.id for m in self.modules],
            "door id": self.door_ids,
            "sensor id": self.sensor_ids,
            "link": [b.link for b in self.osdp_buses] + [r.link for r in self.rdm6300_readers],
            "card label": [c.label for c in self.cards],
            "fixed module port": [m.port for m in self.modules if m.port]
            + [c.port for c in self.cameras if c.port],
            "camera id": [c.id for c in self.cameras],
        }
        for what, values in groups.items():
            seen: set[object] = set()
            for value in values:
                if value in seen:
                    raise ValueError(f"{what} {value!r} is used twice")
                seen.add(value)


def parse_spec(text: str, file: Path) -> SimSpec:
    """Validate spec text (YAML or JSON); ``state_dir`` comes back absolute."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{file}: not valid YAML/JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SpecError(f"{file}: the top level must be a mapping (modules:, osdp_buses:, ...)")
    try:
        spec = SimSpec.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            path = ".".join(str(p) for p in err["loc"]) or "(top level)"
            problems.append(f"{path}: {err['msg']}")
        raise SpecError(f"{file}: " + "; ".join(problems)) from exc
    folder = file.resolve().parent
    state_dir = folder if spec.state_dir is None else folder / spec.state_dir.expanduser()
    return spec.model_copy(update={"state_dir": state_dir.resolve()})


def load_spec(path: str | Path) -> SimSpec:
    """Read and validate a spec file; raise SpecError naming the file and the problem."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{file}: cannot read: {exc.strerror or exc}") from exc
    return parse_spec(text, file)
