"""A whole simulated site: OSDP buses, RDM6300 readers and Modbus I/O modules, run together.

``SimSite`` brings every device of a spec up on the running loop (the OSDP and RDM6300 sims
run their own threads), serves the HTTP control surface and writes ``STATE_DIR/sim-control.json``
so that the CLI and the gateway find the ports and links. Its actions are what the control
surface and in-process tests call; bad input raises a ``SiteError`` with a clear message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sekisho_sim.camera import SimCamera, SimCameraError, SimCameraSpec
from sekisho_sim.control import ControlServer
from sekisho_sim.io_module import DoorActionResult, SimDoorSpec, SimDoorView, SimIOModule
from sekisho_sim.io_module import SimModuleError as _SimModuleError
from sekisho_sim.osdp_reader import FeedbackRecord, SimOsdpBus, SimReaderSpec
from sekisho_sim.rdm6300_reader import SimRdm6300
from sekisho_sim.sensors import SensorType, SimSensorError, SimSensorSpec
from sekisho_sim.spec import CONTROL_FILE, SimSpec

PIN_PROMPT_WAIT_S = 2.0  # how long ``badge`` waits for the amber PIN prompt before typing
_KEYS = re.compile(r"^[0-9*#]{1,32}$")
_KEY_PERSIST_S = 1.0  # how often keys set by the gateway are saved (a PD's flash)


class SiteError(Exception):
    """A site action cannot be done; the message says why in words a person understands."""


class UnknownDevice(SiteError):
    """The id names no reader, bus, module or door of this site."""


class ActionRefused(SiteError):
    """The action is understood but the world says no (e.g. the door is locked)."""


def _jsonable_feedback(rec: FeedbackRecord) -> dict[str, Any]:
    """A feedback record as plain JSON."""
    return {
        "at": rec.at,
        "kind": rec.kind,
        "color": rec.color,
        "temporary": rec.temporary,
        "detail": dict(rec.detail),
    }


def _jsonable_view(view: SimDoorView) -> dict[str, Any]:
    """A door view as plain JSON."""
    return {
        "door": view.door_id,
        "open": view.open,
        "strike_released": view.strike_released,
        "held": view.held,
        "rex_active": view.rex_active,
        "forced_count": view.forced_count,
        "opened_count": view.opened_count,
    }


def _pid_alive(pid: int) -> bool:
    """True if a process with this pid exists (and is not us)."""
    if pid == os.getpid() or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SimSite:
    """Every simulated device of one spec, plus the control surface."""

    def __init__(self, spec: SimSpec) -> None:
        """Index the spec's devices; nothing starts until ``start``."""
        if spec.state_dir is None or not spec.state_dir.is_absolute():
            raise SiteError("the spec's state_dir must be absolute (use load_spec/parse_spec)")
        self.spec = spec
        self.state_dir: Path = spec.state_dir
        self._buses: dict[str, SimOsdpBus] = {}
        self._reader_bus: dict[str, str] = {}
        self._rdm: dict[str, SimRdm6300] = {}
        self._modules: dict[str, SimIOModule] = {}
        self._door_module: dict[str, str] = {}
        self._sensor_module: dict[str, str] = {}
        self._cameras: dict[str, SimCamera] = {}
        self._keys_saved: dict[str, bytes | None] = {}
        self._cut: set[str] = set()
        self._tampered: set[str] = set()
        self._control: ControlServer | None = None
        self._key_task: asyncio.Task[None] | None = None
        self._started = False
        for bus in spec.osdp_buses:
            for reader in bus.readers:
                self._reader_bus[reader.id] = bus.id
        for module in spec.modules:
            for door in module.doors:
                self._door_module[door.id] = module.id
            for sensor in module.sensors:
                self._sensor_module[sensor.id] = module.id

    # ------------------------------------------------------------------------ lifecycle

    @property
    def control_file(self) -> Path:
        """Where the running site describes itself for the CLI and the gateway."""
        return self.state_dir / CONTROL_FILE

    @property
    def url(self) -> str:
        """The control surface's base URL (once started)."""
        if self._control is None:
            raise SiteError("the site is not started")
        return self._control.url

    def link(self, device_id: str) -> Path:
        """The pty link of an OSDP bus or an RDM6300 reader (what the gateway opens)."""
        for bus in self.spec.osdp_buses:
            if bus.id == device_id:
                return self.state_dir / bus.link
        for rdm in self.spec.rdm6300_readers:
            if rdm.id == device_id:
                return self.state_dir / rdm.link
        raise UnknownDevice(f"no OSDP bus or RDM6300 reader {device_id!r}")

    def module_port(self, module_id: str) -> int:
        """The TCP port a module listens on (the bound one once started)."""
        return self._module(module_id).port

    async def start(self) -> None:
        """Bring every device up, then the control surface, then write sim-control.json."""
        if self._started:
            return
        self._refuse_if_another_sim_runs()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._started = True
        try:
            for bus_spec in self.spec.osdp_buses:
                readers = [
                    SimReaderSpec(r.id, r.address, self._load_key(r.id, r.scbk_file), r.keypad)
                    for r in bus_spec.readers
                ]
                link = self.state_dir / bus_spec.link
                link.parent.mkdir(parents=True, exist_ok=True)
                bus = SimOsdpBus(bus_spec.id, link, readers)
                await asyncio.to_thread(bus.start)
                self._buses[bus_spec.id] = bus
            for rdm_spec in self.spec.rdm6300_readers:
                link = self.state_dir / rdm_spec.link
                link.parent.mkdir(parents=True, exist_ok=True)
                rdm = SimRdm6300(rdm_spec.id, link)
                await asyncio.to_thread(rdm.start)
                self._rdm[rdm_spec.id] = rdm
            for mod_spec in self.spec.modules:
                module = SimIOModule(
                    mod_spec.id,
                    port=mod_spec.port,
                    device_id=mod_spec.device_id,
                    doors=[
                        SimDoorSpec(
                            d.id, d.strike_coil, d.contact_input, d.rex_input, d.pass_time_s
                        )
                        for d in mod_spec.doors
                    ],
                    named_inputs=mod_spec.named_inputs,
                    coil_count=mod_spec.coil_count,
                    input_count=mod_spec.input_count,
                    watchdog_s=mod_spec.watchdog_s,
                    register_count=mod_spec.register_count,
                    sensors=[
                        SimSensorSpec(
                            sensor.id,
                            SensorType(sensor.type),
                            input=sensor.input,
                            register=sensor.input_register,
                            scale=sensor.scale,
                            label=sensor.label,
                            initial=sensor.value,
                        )
                        for sensor in mod_spec.sensors
                    ],
                )
                await module.start()
                self._modules[mod_spec.id] = module
            for cam_spec in self.spec.cameras:
                camera = SimCamera(
                    SimCameraSpec(
                        cam_spec.id,
                        width=cam_spec.width,
                        height=cam_spec.height,
                        fps=cam_spec.fps,
                        port=cam_spec.port,
                        walk_s=cam_spec.walk_s,
                        spacing_s=cam_spec.spacing_s,
                    )
                )
                await camera.start()
                self._cameras[cam_spec.id] = camera
            self._control = ControlServer(self, self.spec.control.host, self.spec.control.port)
            await self._control.start()
            self._key_task = asyncio.create_task(self._persist_keys_forever(), name="sim-keys")
            self._write_control_file()
        except (OSError, ValueError, _SimModuleError, SimSensorError, SimCameraError) as exc:
            await self.stop()
            raise SiteError(f"the sim could not start: {exc}") from exc
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop everything that started; keys set by the gateway are saved first."""
        if not self._started:
            return
        self._started = False
        if self._key_task is not None:
            self._key_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._key_task
            self._key_task = None
        self._persist_keys()
        self._remove_control_file()
        if self._control is not None:
            await self._control.stop()
            self._control = None
        for camera in self._cameras.values():
            await camera.stop()
        self._cameras.clear()
        for module in self._modules.values():
            await module.stop()
        for rdm in self._rdm.values():
            await asyncio.to_thread(rdm.stop)
        for bus in self._buses.values():
            await asyncio.to_thread(bus.stop)
        self._modules.clear()
        self._rdm.clear()
        self._buses.clear()
        self._cut.clear()
        self._tampered.clear()

    def _refuse_if_another_sim_runs(self) -> None:
        """Two sims in one state_dir would fight over the same links."""
        try:
            pid = int(json.loads(self.control_file.read_text(encoding="utf-8"))["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return  # no file, or a file that is not ours to trust: overwrite it
        if _pid_alive(pid):
            raise SiteError(f"another sim (pid {pid}) is running in {self.state_dir}")

    def _write_control_file(self) -> None:
        """Describe the running site for the CLI and the gateway, atomically."""
        data = {
            "url": self.url,
            "modules": {mid: m.port for mid, m in self._modules.items()},
            "cameras": {cid: c.url for cid, c in self._cameras.items()},
            "links": {
                **{b.id: str(self.state_dir / b.link) for b in self.spec.osdp_buses},
                **{r.id: str(self.state_dir / r.link) for r in self.spec.rdm6300_readers},
            },
            "pid": os.getpid(),
        }
        tmp = self.control_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.control_file)

    def _remove_control_file(self) -> None:
        """Remove sim-control.json if it still describes this process."""
        try:
            pid = int(json.loads(self.control_file.read_text(encoding="utf-8"))["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return
        if pid == os.getpid():
            self.control_file.unlink(missing_ok=True)

    def _key_path(self, scbk_file: str) -> Path:
        """A key file's absolute path."""
        return self.state_dir / scbk_file

    def _load_key(self, reader_id: str, scbk_file: str | None) -> bytes | None:
        """A reader's Secure Channel key from its hex file; None (factory-fresh) if absent."""
        key: bytes | None = None
        if scbk_file is not None:
            path = self._key_path(scbk_file)
            try:
                text = path.read_text(encoding="ascii").strip()
            except FileNotFoundError:
                text = ""
            except (OSError, UnicodeDecodeError) as exc:
                raise SiteError(f"reader {reader_id}: cannot read {path}: {exc}") from exc
            if text:
                try:
                    key = bytes.fromhex(text)
                except ValueError:
                    key = None
                if key is None or len(key) != 16:
                    raise SiteError(f"reader {reader_id}: {path} is not 32 hex digits (16 bytes)")
        self._keys_saved[reader_id] = key
        return key

    def _persist_keys(self) -> None:
        """Save keys the gateway installed (OSDP keyset), as a PD keeps them in flash."""
        for bus_spec in self.spec.osdp_buses:
            bus = self._buses.get(bus_spec.id)
            if bus is None:
                continue
            for reader in bus_spec.readers:
                if reader.scbk_file is None:
                    continue
                key = bus.key_of(reader.id)
                if key is None or key == self._keys_saved.get(reader.id):
                    continue
                path = self._key_path(reader.scbk_file)
                with contextlib.suppress(OSError):
                    path.parent.mkdir(parents=True, exist_ok=True)
                    tmp = path.with_suffix(path.suffix + ".tmp")
                    tmp.write_text(key.hex() + "\n", encoding="ascii")
                    tmp.chmod(0o600)
                    tmp.replace(path)
                    self._keys_saved[reader.id] = key

    async def _persist_keys_forever(self) -> None:
        """Save new keys soon after the gateway sets them."""
        while True:
            await asyncio.sleep(_KEY_PERSIST_S)
            self._persist_keys()

    # ------------------------------------------------------------------------- lookups

    def _module(self, module_id: str) -> SimIOModule:
        """A started module, or UnknownDevice."""
        module = self._modules.get(module_id)
        if module is None:
            known = ", ".join(m.id for m in self.spec.modules) or "none"
            raise UnknownDevice(f"no module {module_id!r} (known: {known})")
        return module

    def _door_owner(self, door_id: str) -> SimIOModule:
        """The module a door is wired to, or UnknownDevice."""
        module_id = self._door_module.get(door_id)
        if module_id is None:
            known = ", ".join(self._door_module) or "none"
            raise UnknownDevice(f"no door {door_id!r} (known: {known})")
        return self._module(module_id)

    def _check_reader(self, reader_id: str) -> None:
        """UnknownDevice unless the id names a reader of this site."""
        if reader_id not in self._reader_bus and reader_id not in self._rdm:
            known = ", ".join(self.spec.reader_ids) or "none"
            raise UnknownDevice(f"no reader {reader_id!r} (known: {known})")

    def _osdp(self, reader_id: str) -> SimOsdpBus:
        """The bus an OSDP reader sits on (the reader is known to be OSDP)."""
        return self._buses[self._reader_bus[reader_id]]

    def resolve_card(self, card: str) -> str:
        """A card key from a key or a sample card's label (exact, then case-insensitive)."""
        for sample in self.spec.cards:
            if sample.label == card:
                return sample.card
        folded = card.strip().casefold()
        for sample in self.spec.cards:
            if sample.label.casefold() == folded:
                return sample.card
        parts = card.strip().split(":")
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            return f"{parts[0].upper()}:{int(parts[1])}:{int(parts[2])}"
        labels = ", ".join(repr(c.label) for c in self.spec.cards) or "none"
        raise SiteError(
            f"{card!r} is neither a card key FORMAT:FACILITY:NUMBER nor a sample card "
            f"label (labels: {labels})"
        )

    # ------------------------------------------------------------------------- actions

    async def badge(
        self, reader_id: str, card: str, pin: str | None = None, *, timed: bool = False
    ) -> dict[str, Any]:
        """Present a card; with a PIN, wait for the amber prompt (or 2 s), then type PIN + '#'.

        ``timed`` adds ``submitted_ns``: ``time.perf_counter_ns()`` as the card goes to the reader.
        """
        self._check_reader(reader_id)
        key = self.resolve_card(card)
        if pin is not None and not pin.isdigit():
            raise SiteError("a PIN is digits only")
        result: dict[str, Any] = {"reader": reader_id, "card": key}
        if reader_id in self._rdm:
            if pin is not None:
                raise SiteError(f"reader {reader_id} is an RDM6300: it has no keypad")
            if timed:
                result["submitted_ns"] = time.perf_counter_ns()
            self._call(lambda: self._rdm[reader_id].card(key))
            return result
        reader = next(r for b in self.spec.osdp_buses for r in b.readers if r.id == reader_id)
        if pin is not None and not reader.keypad:
            raise SiteError(f"reader {reader_id} has no keypad")
        bus = self._osdp(reader_id)
        before = bus.feedback(reader_id)
        after = before[-1].at if before else None
        if timed:
            result["submitted_ns"] = time.perf_counter_ns()  # for badge → strike from outside
        self._call(lambda: bus.card(reader_id, key))
        if pin is None:
            return result
        prompt = await asyncio.to_thread(
            bus.wait_feedback,
            reader_id,
            lambda rec: rec.color == "amber",
            PIN_PROMPT_WAIT_S,
            after,
        )
        self._call(lambda: bus.keys(reader_id, pin + "#"))
        result["pin_prompt"] = prompt is not None
        result["pin_digits"] = len(pin)
        return result

    async def keys(self, reader_id: str, keys: str) -> dict[str, Any]:
        """Type keys (digits, ``*``, ``#``) on an OSDP reader's keypad."""
        self._check_reader(reader_id)
        if reader_id in self._rdm:
            raise SiteError(f"reader {reader_id} is an RDM6300: it has no keypad")
        if not _KEYS.match(keys):
            raise SiteError("keys are 1-32 of 0-9, * and #")
        bus = self._osdp(reader_id)
        self._call(lambda: bus.keys(reader_id, keys))
        return {"reader": reader_id, "keys": len(keys)}

    async def door(self, door_id: str, action: str) -> DoorActionResult:
        """Do something to a door (open|close|hold|force|rex); ActionRefused if it cannot be."""
        module = self._door_owner(door_id)
        try:
            result = module.door_action(door_id, action)
        except _SimModuleError as exc:
            raise SiteError(str(exc)) from None
        if not result.done:
            raise ActionRefused(f"{door_id}: {result.message}")
        return result

    def door_view(self, door_id: str) -> dict[str, Any]:
        """What a door looks like now."""
        module = self._door_owner(door_id)
        return {"module": module.module_id, **_jsonable_view(module.door_view(door_id))}

    def coil_writes(self, module_id: str, since_ns: int = 0) -> dict[str, Any]:
        """Coil writes a module received since ``since_ns`` (``time.perf_counter_ns``)."""
        return {
            "module": module_id,
            "writes": [list(w) for w in self._module(module_id).coil_writes(since_ns)],
        }

    async def fault(self, device_id: str, action: str) -> dict[str, Any]:
        """Cut or restore a reader, a whole OSDP bus or a module."""
        if action not in ("cut", "restore"):
            raise SiteError(f"unknown fault action {action!r} (use cut|restore)")
        cut = action == "cut"
        if device_id in self._modules:
            module = self._modules[device_id]
            try:
                await (module.cut() if cut else module.restore())
            except _SimModuleError as exc:
                raise SiteError(str(exc)) from None
        elif device_id in self._buses:
            bus = self._buses[device_id]
            self._call(bus.cut if cut else bus.restore)
        elif device_id in self._reader_bus:
            bus = self._osdp(device_id)
            self._call(lambda: bus.cut(device_id) if cut else bus.restore(device_id))
        elif device_id in self._rdm:
            rdm = self._rdm[device_id]
            self._call(rdm.cut if cut else rdm.restore)
        else:
            known = ", ".join(sorted({*self._modules, *self._buses, *self.spec.reader_ids}))
            raise UnknownDevice(f"no reader, bus or module {device_id!r} (known: {known})")
        if cut:
            self._cut.add(device_id)
        else:
            self._cut.discard(device_id)
        return {"device": device_id, "action": action}

    async def tamper(self, reader_id: str, active: bool = True) -> dict[str, Any]:
        """Open (or close) a reader's tamper switch: OSDP status, or its wired module input."""
        self._check_reader(reader_id)
        wiring = self.spec.tamper_wiring(reader_id)
        if wiring is not None:
            module_id, point = wiring
            try:
                self._module(module_id).set_input(point, active)
            except _SimModuleError as exc:
                raise SiteError(str(exc)) from None
            via = f"{module_id} input {point}"
        elif reader_id in self._reader_bus:
            bus = self._osdp(reader_id)
            self._call(lambda: bus.tamper(reader_id, active))
            via = "OSDP tamper status"
        else:
            raise SiteError(
                f"reader {reader_id} has no tamper switch wired (map it in reader_tamper_inputs)"
            )
        if active:
            self._tampered.add(reader_id)
        else:
            self._tampered.discard(reader_id)
        return {"reader": reader_id, "tamper": active, "via": via}

    async def set_input(self, module_id: str, name_or_point: str, active: bool) -> dict[str, Any]:
        """Set a named or numbered module input (smoke, water, intrusion, UPS ...)."""
        module = self._module(module_id)
        try:
            module.set_input(name_or_point, active)
        except _SimModuleError as exc:
            raise SiteError(str(exc)) from None
        return {"module": module_id, "input": name_or_point, "active": active}

    async def sensor(self, sensor_id: str, value: str | float | bool) -> dict[str, Any]:
        """Set a sensor: on/off, a number, or a loop state (normal|alarm|open|short)."""
        module_id = self._sensor_module.get(sensor_id)
        if module_id is None:
            known = ", ".join(self._sensor_module) or "none"
            raise UnknownDevice(f"no sensor {sensor_id!r} (known: {known})")
        try:
            view = self._module(module_id).set_sensor(sensor_id, value)
        except _SimModuleError as exc:
            raise SiteError(str(exc)) from None
        return {"sensor": sensor_id, "module": module_id, "value": view.value, "raw": view.raw}

    async def noise(self, device_id: str) -> dict[str, Any]:
        """Put random bytes on a reader's line (an OSDP reader's whole bus, or an RDM6300)."""
        if device_id in self._rdm:
            rdm = self._rdm[device_id]
            self._call(rdm.noise)
            return {"device": device_id, "line": device_id}
        if device_id in self._buses:
            bus_id = device_id
        else:
            self._check_reader(device_id)
            bus_id = self._reader_bus[device_id]
        bus = self._buses[bus_id]
        self._call(bus.noise)
        return {"device": device_id, "line": bus_id}

    def sim_camera(self, camera_id: str) -> SimCamera:
        """A started camera, or UnknownDevice."""
        camera = self._cameras.get(camera_id)
        if camera is None:
            known = ", ".join(c.id for c in self.spec.cameras) or "none"
            raise UnknownDevice(f"no camera {camera_id!r} (known: {known})")
        return camera

    def camera_url(self, camera_id: str) -> str:
        """A camera's MJPEG stream URL (once started)."""
        return self.sim_camera(camera_id).url

    async def camera(
        self,
        camera_id: str,
        action: str,
        *,
        people: int = 1,
        inward: bool = True,
        seconds: float = 4.0,
    ) -> dict[str, Any]:
        """walk|wander|cover|uncover|spray|clean|freeze|unfreeze|stop|start on a camera."""
        camera = self.sim_camera(camera_id)
        result: dict[str, Any] = {"camera": camera_id, "action": action}
        try:
            if action == "walk":
                result["done_in_s"] = camera.walk(people, inward=inward)
            elif action == "wander":
                result["done_in_s"] = camera.wander(seconds)
            elif action in ("cover", "uncover"):
                camera.cover(action == "cover")
            elif action in ("spray", "clean"):
                camera.spray(action == "spray")
            elif action in ("freeze", "unfreeze"):
                camera.freeze(action == "freeze")
            elif action == "stop":
                await camera.stop_stream()
            elif action == "start":
                await camera.start_stream()
            else:
                raise SiteError(
                    f"unknown camera action {action!r} (use walk|wander|cover|uncover|spray|"
                    "clean|freeze|unfreeze|stop|start)"
                )
        except SimCameraError as exc:
            raise SiteError(str(exc)) from None
        result["view"] = camera.view()
        return result

    def camera_view(self, camera_id: str) -> dict[str, Any]:
        """What a camera does now."""
        return self.sim_camera(camera_id).view()

    def feedback(self, reader_id: str) -> list[dict[str, Any]]:
        """LED and buzzer commands the gateway sent to an OSDP reader, oldest first."""
        self._check_reader(reader_id)
        if reader_id in self._rdm:
            raise SiteError(f"reader {reader_id} is an RDM6300: it has no LED or buzzer")
        return [_jsonable_feedback(r) for r in self._osdp(reader_id).feedback(reader_id)]

    def _call(self, action: Callable[[], object]) -> None:
        """Run a device sim call, turning its ValueError/LookupError into a SiteError."""
        try:
            action()
        except (ValueError, LookupError) as exc:
            raise SiteError(str(exc)) from None

    # ------------------------------------------------------------------------ describe

    def describe(self) -> dict[str, Any]:
        """Everything ``sim list`` shows: readers, doors, modules, cards and where they are."""
        doors_of: dict[str, list[str]] = {}
        for door_id, reader_ids in self.spec.door_readers.items():
            for reader_id in reader_ids:
                doors_of.setdefault(reader_id, []).append(door_id)
        readers: list[dict[str, Any]] = []
        for bus_spec in self.spec.osdp_buses:
            bus = self._buses.get(bus_spec.id)
            for r in bus_spec.readers:
                readers.append(
                    {
                        "id": r.id,
                        "kind": "osdp",
                        "bus": bus_spec.id,
                        "address": r.address,
                        "link": str(self.state_dir / bus_spec.link),
                        "keypad": r.keypad,
                        "secure": bus.is_secure(r.id) if bus is not None else False,
                        "cut": r.id in self._cut or bus_spec.id in self._cut,
                        "tamper": r.id in self._tampered,
                        "tamper_input": self.spec.reader_tamper_inputs.get(r.id),
                        "doors": doors_of.get(r.id, []),
                    }
                )
        for rdm_spec in self.spec.rdm6300_readers:
            readers.append(
                {
                    "id": rdm_spec.id,
                    "kind": "rdm6300",
                    "link": str(self.state_dir / rdm_spec.link),
                    "keypad": False,
                    "cut": rdm_spec.id in self._cut,
                    "tamper": rdm_spec.id in self._tampered,
                    "tamper_input": self.spec.reader_tamper_inputs.get(rdm_spec.id),
                    "doors": doors_of.get(rdm_spec.id, []),
                }
            )
        modules: list[dict[str, Any]] = []
        doors: list[dict[str, Any]] = []
        sensors: list[dict[str, Any]] = []
        for mod_spec in self.spec.modules:
            module = self._modules.get(mod_spec.id)
            for sensor in mod_spec.sensors:
                now = module.sensor_view(sensor.id) if module is not None else None
                sensors.append(
                    {
                        "id": sensor.id,
                        "module": mod_spec.id,
                        "type": sensor.type,
                        "label": sensor.label,
                        "input": sensor.input,
                        "input_register": sensor.input_register,
                        "value": now.value if now is not None else None,
                        "raw": now.raw if now is not None else None,
                    }
                )
            modules.append(
                {
                    "id": mod_spec.id,
                    "host": "127.0.0.1",
                    "port": module.port if module is not None else mod_spec.port,
                    "device_id": mod_spec.device_id,
                    "running": module is not None and module.running,
                    "watchdog_s": mod_spec.watchdog_s,
                    "named_inputs": dict(mod_spec.named_inputs),
                    "doors": [d.id for d in mod_spec.doors],
                }
            )
            for d in mod_spec.doors:
                view = _jsonable_view(module.door_view(d.id)) if module is not None else {}
                doors.append(
                    {
                        "id": d.id,
                        "module": mod_spec.id,
                        "strike_coil": d.strike_coil,
                        "contact_input": d.contact_input,
                        "rex_input": d.rex_input,
                        "readers": self.spec.door_readers.get(d.id, []),
                        **{k: v for k, v in view.items() if k != "door"},
                    }
                )
        return {
            "state_dir": str(self.state_dir),
            "url": self._control.url if self._control is not None else None,
            "readers": readers,
            "buses": [
                {
                    "id": b.id,
                    "link": str(self.state_dir / b.link),
                    "readers": [r.id for r in b.readers],
                    "cut": b.id in self._cut,
                }
                for b in self.spec.osdp_buses
            ],
            "modules": modules,
            "doors": doors,
            "sensors": sensors,
            "cameras": [
                {
                    **(self._cameras[c.id].view() if c.id in self._cameras else {"camera": c.id}),
                    "door": c.door,
                }
                for c in self.spec.cameras
            ],
            "cards": [c.model_dump() for c in self.spec.cards],
        }


async def serve(spec: SimSpec, *, announce: Callable[[str], None] | None = None) -> None:
    """Run a site until SIGINT or SIGTERM, then stop it cleanly."""
    site = SimSite(spec)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await site.start()
        if announce is not None:
            announce(f"sim running: control {site.url}, state in {site.state_dir}")
        started = time.monotonic()
        await stop.wait()
        if announce is not None:
            announce(f"sim stopping after {time.monotonic() - started:.0f} s")
    finally:
        await site.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
