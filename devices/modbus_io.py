"""Modbus TCP digital I/O module driver: strike relays out, door contacts in (4-8-7(4)).

With ``register_count`` > 0 each poll also reads that many input registers from address 0
(function 4: temperature, humidity, supervised-loop resistance ...) and reports every change
as a ``RegisterChanged`` (4-8-7(5)); a register read that fails is a failed poll like any other.

Implements ``gateway.ports.IOModule`` on pymodbus' ``AsyncModbusTcpClient``. pymodbus' own
reconnect is switched off (``reconnect_delay=0``): this driver owns the link, reconnecting with
exponential backoff and reporting ``ModuleLink`` once per change. Every pymodbus exception is
caught here and becomes a ``LinkError``; none escapes the driver.

Writes share the one TCP connection with the poll: pymodbus serialises requests behind an
``asyncio.Lock`` (FIFO), so a write waits at most for the one poll already on the wire (one
loopback round trip, ~0.1-0.3 ms; see ``bench/bench_modbus_write.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Mapping

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU

from devices.errors import ConfigurationRefused, LinkError
from gateway.events import InputChanged, ModuleLink, RegisterChanged
from gateway.ports import DeviceEventSink

_log = logging.getLogger(__name__)
_MAX_INPUTS = 2000  # Modbus limit on discrete inputs per read request
_MAX_REGISTERS = 125  # Modbus limit on registers per read request
_EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "device failure",
    6: "device busy",
    10: "gateway path unavailable",
    11: "gateway target did not respond",
}


class _PollFailed(Exception):
    """One poll went wrong; the message becomes the ModuleLink detail."""


def _describe_exception_response(pdu: ModbusPDU) -> str:
    """Name the Modbus exception code of an error response."""
    code = int(getattr(pdu, "exception_code", 0))
    return f"exception {code} ({_EXCEPTION_NAMES.get(code, 'unknown')})"


class ModbusIOModule:
    """Driver for one Modbus TCP digital I/O module."""

    def __init__(
        self,
        module_id: str,
        host: str,
        port: int,
        *,
        device_id: int = 1,
        input_count: int = 16,
        register_count: int = 0,
        poll_ms: float = 50.0,
        timeout_s: float = 1.0,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 5.0,
    ) -> None:
        """Check the settings; nothing connects until ``start``."""
        if not 1 <= port <= 65535:
            raise ConfigurationRefused(f"module {module_id}: port {port} is not 1..65535")
        if not 0 <= device_id <= 247:
            raise ConfigurationRefused(f"module {module_id}: device_id {device_id} not 0..247")
        if not 1 <= input_count <= _MAX_INPUTS:
            raise ConfigurationRefused(f"module {module_id}: input_count must be 1..{_MAX_INPUTS}")
        if not 0 <= register_count <= _MAX_REGISTERS:
            raise ConfigurationRefused(
                f"module {module_id}: register_count must be 0..{_MAX_REGISTERS}"
            )
        if not (poll_ms > 0 and timeout_s > 0 and 0 < backoff_initial_s <= backoff_max_s):
            raise ConfigurationRefused(
                f"module {module_id}: poll_ms, timeout_s and backoff must be positive, "
                "backoff_initial_s <= backoff_max_s"
            )
        self._module_id = module_id
        self._host = host
        self._port = port
        self._device_id = device_id
        self._input_count = input_count
        self._register_count = register_count
        self._poll_s = poll_ms / 1000.0
        self._timeout_s = timeout_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._sink: DeviceEventSink | None = None
        self._task: asyncio.Task[None] | None = None
        self._client: AsyncModbusTcpClient | None = None
        self._online: bool | None = None  # None until the first connect attempt settles it
        self._levels: dict[int, bool] = {}
        self._registers: dict[int, int] = {}
        self._drop_reason: str | None = None

    @property
    def module_id(self) -> str:
        """The module's id in the site file."""
        return self._module_id

    @property
    def online(self) -> bool:
        """True between a good first poll and the next failure."""
        return self._online is True

    async def start(self, sink: DeviceEventSink) -> None:
        """Begin connecting and polling in the background; events go to ``sink``."""
        if self._task is not None:
            raise ConfigurationRefused(f"module {self._module_id} is already started")
        self._sink = sink
        self._task = asyncio.create_task(self._run(), name=f"modbus-io:{self._module_id}")
        self._task.add_done_callback(self._report_crash)

    async def stop(self) -> None:
        """Stop polling and disconnect; no event is delivered after this returns."""
        self._sink = None
        task, self._task = self._task, None
        if task is not None:
            # asyncio.wait_for (Python 3.11, inside pymodbus) loses a cancel that lands as a
            # reply arrives, and the loop polls on: cancel again until the task has ended.
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=0.5)
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._close_client("driver stopped")
        self._levels = {}
        self._registers = {}
        self._online = None

    def inputs(self) -> Mapping[int, bool]:
        """The last known level of every polled input (empty while offline)."""
        return dict(self._levels)

    def registers(self) -> Mapping[int, int]:
        """The last known value of every polled input register (empty while offline)."""
        return dict(self._registers)

    async def write_output(self, point: int, active: bool) -> None:
        """Set coil ``point``; return once the module confirmed it, else raise LinkError."""
        if not 0 <= point <= 0xFFFF:
            raise ConfigurationRefused(f"module {self._module_id}: coil {point} is not 0..65535")
        client = self._client
        if client is None or not client.connected:
            raise LinkError(f"module {self._module_id} is offline")
        try:
            reply = await client.write_coil(point, active, device_id=self._device_id)
        except (TimeoutError, ModbusException, OSError) as exc:
            # the request got no answer: the link is suspect, let the poll loop reconnect
            reason = f"coil {point} write failed: {exc}"
            self._drop(client, reason)
            raise LinkError(f"module {self._module_id}: {reason}") from exc
        if reply.isError():
            raise LinkError(
                f"module {self._module_id} refused coil {point}: "
                f"{_describe_exception_response(reply)}"
            )

    # ----------------------------------------------------------------------- internals

    def _report_crash(self, task: asyncio.Task[None]) -> None:
        """Log a poll loop that ended by anything but stop() (a bug: it should run forever)."""
        if not task.cancelled() and task.exception() is not None:
            _log.error("module %s: poll loop died", self._module_id, exc_info=task.exception())

    def _emit(self, event: ModuleLink | InputChanged | RegisterChanged) -> None:
        """Hand one event to the sink, if still started; a failing sink never stops polling."""
        if self._sink is None:
            return
        try:
            self._sink(event)
        except Exception:  # noqa: BLE001 - a core bug must not silently end the module's polling
            _log.exception("module %s: event sink failed on %r", self._module_id, event)

    def _went_offline(self, detail: str) -> None:
        """Report the module unreachable once per outage and forget its inputs."""
        self._levels = {}
        self._registers = {}
        if self._online is not False:
            self._online = False
            self._emit(ModuleLink(self._module_id, online=False, detail=detail))

    async def _run(self) -> None:
        """Connect, poll until something fails, back off, repeat; forever until stopped."""
        delay = self._backoff_initial_s
        while True:
            client = await self._connect()
            if client is None:
                detail = f"cannot connect to {self._host}:{self._port}"
            else:
                detail, polled = await self._poll_until_failure(client)
                self._close_client(detail)
                if polled:
                    delay = self._backoff_initial_s  # it worked for a while: start over
            self._went_offline(detail)
            await asyncio.sleep(delay)
            delay = min(delay * 2.0, self._backoff_max_s)

    async def _connect(self) -> AsyncModbusTcpClient | None:
        """Open a fresh TCP connection with Nagle off; None if the module cannot be reached."""
        client = AsyncModbusTcpClient(
            self._host,
            port=self._port,
            name=f"modbus-io:{self._module_id}",
            reconnect_delay=0,  # no pymodbus reconnect: _run owns the link
            timeout=self._timeout_s,
            retries=0,  # a lost reply is reported, not silently retried
            trace_connect=lambda up: None if up else self._on_disconnect(client),
        )
        try:
            connected = await client.connect()
        except (TimeoutError, ModbusException, OSError):
            connected = False
        if not connected:
            client.close()
            return None
        sock = client.ctx.transport.get_extra_info("socket")
        if sock is not None:
            # asyncio sets it on TCP transports already; set it here so it never depends on that
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._drop_reason = None
        self._client = client
        return client

    async def _poll_until_failure(self, client: AsyncModbusTcpClient) -> tuple[str, bool]:
        """Poll every ``poll_ms``; return (why it stopped, whether any poll succeeded)."""
        polled = False
        next_at = time.monotonic()
        while True:
            try:
                levels = await self._poll(client)
                values = await self._poll_registers(client)
            except _PollFailed as exc:
                return self._drop_reason or str(exc), polled
            now_ns = time.perf_counter_ns()
            if not polled:
                polled = True
                self._online = True
                self._emit(ModuleLink(self._module_id, online=True))
                changed = list(range(self._input_count))
                moved = list(range(self._register_count))
            else:
                changed = [p for p in range(self._input_count) if levels[p] != self._levels[p]]
                moved = [r for r in range(self._register_count) if values[r] != self._registers[r]]
            self._levels = dict(enumerate(levels))
            self._registers = dict(enumerate(values))
            for point in changed:
                self._emit(InputChanged(self._module_id, point, levels[point], now_ns))
            for register in moved:
                self._emit(RegisterChanged(self._module_id, register, values[register], now_ns))
            next_at += self._poll_s
            now = time.monotonic()
            next_at = max(next_at, now)  # fell behind (slow loop): do not burst to catch up
            await asyncio.sleep(next_at - now)

    async def _poll(self, client: AsyncModbusTcpClient) -> list[bool]:
        """Read every discrete input once."""
        if not client.connected:
            raise _PollFailed("connection lost")
        try:
            reply = await client.read_discrete_inputs(
                0, count=self._input_count, device_id=self._device_id
            )
        except ConnectionException as exc:
            raise _PollFailed(f"connection lost: {exc}") from exc
        except ModbusIOException as exc:
            raise _PollFailed(f"no reply to poll within {self._timeout_s:g} s") from exc
        except (TimeoutError, ModbusException, OSError) as exc:
            raise _PollFailed(f"poll failed: {exc}") from exc
        if reply.isError():
            raise _PollFailed(f"poll refused: {_describe_exception_response(reply)}")
        bits = list(reply.bits)
        if len(bits) < self._input_count:
            raise _PollFailed(f"poll returned {len(bits)} inputs, expected {self._input_count}")
        return bits[: self._input_count]

    async def _poll_registers(self, client: AsyncModbusTcpClient) -> list[int]:
        """Read every input register once (nothing when ``register_count`` is 0)."""
        if self._register_count == 0:
            return []
        if not client.connected:
            raise _PollFailed("connection lost")
        try:
            reply = await client.read_input_registers(
                0, count=self._register_count, device_id=self._device_id
            )
        except ConnectionException as exc:
            raise _PollFailed(f"connection lost: {exc}") from exc
        except ModbusIOException as exc:
            raise _PollFailed(f"no reply to register poll within {self._timeout_s:g} s") from exc
        except (TimeoutError, ModbusException, OSError) as exc:
            raise _PollFailed(f"register poll failed: {exc}") from exc
        if reply.isError():
            raise _PollFailed(f"register poll refused: {_describe_exception_response(reply)}")
        values = [int(v) & 0xFFFF for v in reply.registers]
        if len(values) < self._register_count:
            raise _PollFailed(
                f"register poll returned {len(values)} registers, expected {self._register_count}"
            )
        return values[: self._register_count]

    def _on_disconnect(self, client: AsyncModbusTcpClient) -> None:
        """pymodbus saw the peer close the connection: fail the request on the wire now."""
        self._fail_inflight(client, "connection lost")

    def _fail_inflight(self, client: AsyncModbusTcpClient, reason: str) -> None:
        """Fail a request waiting for its reply instead of letting it sit out its timeout.

        pymodbus 3.16 keeps awaiting ``ctx.response_future`` after the connection is gone;
        when that attribute is missing (another version) the request just times out.
        """
        if self._drop_reason is None:
            self._drop_reason = reason
        future = getattr(client.ctx, "response_future", None)
        if isinstance(future, asyncio.Future) and not future.done():
            future.set_exception(ConnectionException(reason))

    def _drop(self, client: AsyncModbusTcpClient, reason: str) -> None:
        """Give up on a connection (a request went unanswered); the poll loop reconnects."""
        if client is self._client:
            self._close_client(reason)

    def _close_client(self, reason: str) -> None:
        """Close the current connection, failing anything still waiting on it."""
        client, self._client = self._client, None
        if client is not None:
            self._fail_inflight(client, reason)
            client.close()
