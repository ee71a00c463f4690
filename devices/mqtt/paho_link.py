"""The broker connection: paho-mqtt 2.x, CallbackAPIVersion.VERSION2, MQTT v5.

Every connection is a fresh paho client with clean start and a zero session expiry: paho
resends its unacknowledged QoS 1 messages on a reconnect and a broker session queues messages
for an absent client, and neither may happen here (the outbox resends events; commands are
never replayed). paho's callbacks run on its network thread and are handed to the event loop
with ``call_soon_threadsafe``. Every paho, socket and TLS exception is caught in this module and
becomes a :class:`devices.errors.DeviceError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from devices.errors import ConfigurationRefused, DeviceError, LinkError
from gateway.mqtt.link import (
    BatchBroken,
    BatchResult,
    Incoming,
    LinkDown,
    LinkEvent,
    LinkUp,
    MessageRefused,
    Outgoing,
    SessionPlan,
)
from gateway.mqtt.tasks import cancel_and_wait

log = logging.getLogger(__name__)


class PublishRefused(DeviceError, MessageRefused):
    """The broker refused a message (e.g. its ACL does not let us publish on that topic)."""


class BatchLost(DeviceError, BatchBroken):
    """The link failed before every message of a batch was answered (``answered`` were)."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """TLS material: CA bundle (None: the system's), optional client certificate and key."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """Where the broker is and how to log in."""

    host: str
    port: int
    client_id: str
    username: str | None = None
    password: str | None = None
    tls: TlsFiles | None = None
    keepalive_s: int = 30
    connect_timeout_s: float = 10.0
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0


def tls_context(files: TlsFiles) -> ssl.SSLContext:
    """A client context that verifies the broker's certificate and host name (TLS 1.2+)."""
    try:
        ctx = ssl.create_default_context(cafile=files.ca_file)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if files.cert_file is not None:
            ctx.load_cert_chain(files.cert_file, files.key_file)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise ConfigurationRefused(f"MQTT TLS files unusable: {exc}") from None
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class _Batch:
    """Messages handed to paho together and answered together: one event-loop wake-up when the
    last is answered, however many there are (``publish`` is a batch of one).

    Answers are counted on paho's thread under the session's lock; the future is settled on the
    event loop.
    """

    __slots__ = ("answered", "done", "failure", "future", "left", "refused", "single")

    def __init__(self, size: int, future: asyncio.Future[Any], *, single: bool) -> None:
        """A batch of ``size`` messages whose outcome goes to ``future``."""
        self.future = future
        self.single = single  # the future is publish()'s (None or an error), not a BatchResult
        self.answered = bytearray(size)  # 1: the broker answered message i
        self.left = size  # messages still to be answered
        self.refused: list[tuple[int, str]] = []
        self.failure: str | None = None  # why messages from some index on were never handed over
        self.done = False  # settled, or about to be (set under the session's lock)

    def mark(self, index: int, refused: str | None) -> bool:
        """Message ``index`` was answered; True when that was the last one (under the lock)."""
        if self.done or self.answered[index]:
            return False
        self.answered[index] = 1
        if refused is not None:
            self.refused.append((index, refused))
        self.left -= 1
        if self.left == 0:
            self.done = True
            return True
        return False

    def prefix(self) -> int:
        """How many leading messages were answered."""
        gap = self.answered.find(0)
        return len(self.answered) if gap < 0 else gap

    def settle(self, broken: str | None = None) -> None:
        """Resolve the future (on the event loop): answered, or ``broken`` (the link failed)."""
        fut = self.future
        if fut.done():
            return
        reason = broken if broken is not None else self.failure
        if self.single:
            if reason is not None:
                fut.set_exception(LinkError(reason))
            elif self.refused:
                fut.set_exception(PublishRefused(self.refused[0][1]))
            else:
                fut.set_result(None)
            return
        refused = tuple(sorted(self.refused))
        if reason is not None:
            answered = self.prefix()
            fut.set_exception(
                BatchLost(reason, answered, tuple(r for r in refused if r[0] < answered))
            )
        else:
            fut.set_result(BatchResult(refused))


_NOT_YET: Any = object()  # no early answer for a message id


class _Session:
    """One paho client and one connection's worth of state."""

    def __init__(self, client: paho.Client, loop: asyncio.AbstractEventLoop) -> None:
        """A session of ``client``, its futures on ``loop``."""
        self.client = client
        self.connack: asyncio.Future[str | None] = loop.create_future()  # None: accepted
        self.suback: asyncio.Future[list[bool]] = loop.create_future()
        self.closed: asyncio.Future[str] = loop.create_future()
        # Message id -> (batch, index): publishes waiting for their answer. paho's thread may
        # answer a message before publish() has returned its id: the answer waits in ``early``.
        self.lock = threading.Lock()
        self.inflight: dict[int, tuple[_Batch, int]] = {}
        self.early: dict[int, str | None] = {}
        self.subscribe_mid: int | None = None
        self.up = False

    def fail_pending(self, reason: str) -> None:
        """Every unanswered publish fails: the caller keeps it for the next connection."""
        with self.lock:
            waiting = {id(b): b for b, _ in self.inflight.values() if not b.done}
            self.inflight.clear()
            self.early.clear()
            for b in waiting.values():
                b.done = True
        for b in waiting.values():
            b.settle(f"MQTT connection lost before PUBACK: {reason}")


class PahoLink:
    """``gateway.mqtt.link.MqttLink`` over paho-mqtt."""

    def __init__(self, settings: BrokerSettings) -> None:
        """Check the TLS files now (ConfigurationRefused); nothing connects before start()."""
        self._s = settings
        self._tls = tls_context(settings.tls) if settings.tls is not None else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sink: Callable[[LinkEvent], None] | None = None
        self._plan: SessionPlan | None = None
        self._task: asyncio.Task[None] | None = None
        self._session: _Session | None = None
        self._stopping = False
        self.attempts = 0  # connection attempts made (for health and tests)
        self.last_error: str | None = None

    @property
    def connected(self) -> bool:
        """True between LinkUp and LinkDown."""
        return self._session is not None and self._session.up

    async def start(self, sink: Callable[[LinkEvent], None], plan: SessionPlan) -> None:
        """Begin connecting in the background."""
        self._loop = asyncio.get_running_loop()
        self._sink, self._plan = sink, plan
        self._stopping = False
        self._task = self._loop.create_task(self._run(), name=f"mqtt-{self._s.client_id}")

    async def stop(self) -> None:
        """Disconnect cleanly (the broker does not send the last will) and stop reconnecting."""
        self._stopping = True
        if self._task is not None:
            # closing waits for paho's thread (about a second at most); bounded all the same
            await cancel_and_wait([self._task], 15.0)
            self._task = None
        self._sink = None

    def publish(self, msg: Outgoing) -> asyncio.Future[None]:
        """Hand ``msg`` to paho now; the future resolves on PUBACK (QoS 1) or once written."""
        loop = self._loop or asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        s = self._session
        if s is None or not s.up:
            fut.set_exception(LinkError("MQTT broker not connected"))
            return fut
        self._send(s, _Batch(1, fut, single=True), (msg,))
        return fut

    def publish_batch(self, msgs: Sequence[Outgoing]) -> asyncio.Future[BatchResult]:
        """Hand ``msgs`` to paho now, in order; one future for all their answers."""
        loop = self._loop or asyncio.get_running_loop()
        fut: asyncio.Future[BatchResult] = loop.create_future()
        s = self._session
        if s is None or not s.up:
            fut.set_exception(BatchLost("MQTT broker not connected", 0))
            return fut
        if not msgs:
            fut.set_result(BatchResult())
            return fut
        self._send(s, _Batch(len(msgs), fut, single=False), msgs)
        return fut

    def _send(self, s: _Session, batch: _Batch, msgs: Sequence[Outgoing]) -> None:
        """Publish every message of ``batch`` (event-loop thread), then note their ids."""
        sent: list[tuple[int, int]] = []  # (message id, index)
        refused: list[tuple[int, str]] = []  # refused before sending: invalid topic or payload
        stop = len(msgs)
        client = s.client
        for i, msg in enumerate(msgs):
            props = None
            if msg.expiry_s is not None:
                props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]  # paho: unannotated
                props.MessageExpiryInterval = msg.expiry_s
            try:
                info = client.publish(
                    msg.topic, msg.payload, qos=msg.qos, retain=msg.retain, properties=props
                )
            except (ValueError, TypeError) as exc:  # invalid topic or payload
                refused.append((i, f"{msg.topic!r}: {exc}"))
                continue
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                batch.failure = f"MQTT publish not sent: {paho.error_string(info.rc)}"
                stop = i
                break
            sent.append((info.mid, i))
        with s.lock:
            finished = False
            for mid, i in sent:
                answer = s.early.pop(mid, _NOT_YET)
                if answer is _NOT_YET:
                    s.inflight[mid] = (batch, i)
                else:
                    finished |= batch.mark(i, answer)
            for i, reason in refused:
                finished |= batch.mark(i, reason)
            if stop < len(msgs):  # never handed over: nothing to wait for
                batch.left -= len(msgs) - stop
                if batch.left == 0 and not batch.done:
                    batch.done = finished = True
        if finished:
            batch.settle()

    # --- connection loop (event-loop side) ---------------------------------------------------

    async def _run(self) -> None:
        """Connect, stay connected, and reconnect with back-off until stopped."""
        delay = self._s.reconnect_min_s
        while not self._stopping:
            self.attempts += 1
            session = _Session(self._client(), self._running_loop())
            self._session = session
            up_at: float | None = None
            reason = "stopped"
            try:
                await self._open(session)
                up_at = time.monotonic()
                reason = await session.closed
            except DeviceError as exc:
                reason = str(exc)
            finally:
                await self._end(session, reason)
            self.last_error = reason
            if up_at is not None and time.monotonic() - up_at > 10.0:
                delay = self._s.reconnect_min_s  # it had been up a while: retry soon
            log.warning(
                "MQTT %s:%d: %s; retrying in %.1f s", self._s.host, self._s.port, reason, delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._s.reconnect_max_s)

    async def _open(self, session: _Session) -> None:
        """Connect, wait for CONNACK, subscribe and wait for SUBACK; then emit LinkUp."""
        assert self._plan is not None
        client = session.client
        self._bind(client, session)
        await self._running_loop().run_in_executor(None, self._connect, client)
        client.loop_start()
        timeout = self._s.connect_timeout_s
        await self._first(session, session.connack, timeout, "no CONNACK")
        refused = session.connack.result()
        if refused is not None:
            raise LinkError(f"broker refused the connection: {refused}")
        subs = self._plan.subscriptions
        granted: list[bool] = []
        if subs:
            options = [
                (
                    sub.topic_filter,
                    SubscribeOptions(
                        qos=sub.qos,
                        retainAsPublished=sub.see_retain_flag,
                        retainHandling=SubscribeOptions.RETAIN_SEND_ON_SUBSCRIBE
                        if sub.retained
                        else SubscribeOptions.RETAIN_DO_NOT_SEND,
                    ),
                )
                for sub in subs
            ]
            rc, mid = client.subscribe(options)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                raise LinkError(f"subscribe not sent: {paho.error_string(rc)}")
            session.subscribe_mid = mid
            await self._first(session, session.suback, timeout, "no SUBACK")
            granted = session.suback.result()
        refused_filters = tuple(
            sub.topic_filter for sub, ok in zip(subs, granted, strict=False) if not ok
        )
        for f in refused_filters:
            log.warning("MQTT broker refused the subscription %r", f)
        session.up = True
        self.last_error = None
        self._emit(LinkUp(refused_filters))

    async def _end(self, session: _Session, reason: str) -> None:
        """Fail what was in flight, tell the sink (if it had been up), close the client."""
        was_up = session.up
        session.up = False
        self._session = None
        session.fail_pending(reason)
        if was_up:
            self._emit(LinkDown(reason))
        await self._close(session)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        """The event loop start() ran on."""
        assert self._loop is not None, "start() first"
        return self._loop

    async def _first(
        self, session: _Session, fut: asyncio.Future[Any], within: float, what: str
    ) -> None:
        """Wait for ``fut``; LinkError if the connection closes or time runs out first."""
        done, _ = await asyncio.wait(
            {fut, session.closed}, timeout=within, return_when=asyncio.FIRST_COMPLETED
        )
        if fut in done:
            return
        if session.closed in done:
            raise LinkError(f"connection closed: {session.closed.result()}")
        raise LinkError(f"{what} within {within:g} s")

    async def _close(self, session: _Session) -> None:
        """Disconnect (if still connected) and stop paho's thread."""
        client = session.client
        with contextlib.suppress(Exception):  # best effort on a socket that may be dead
            client.disconnect()
        await self._running_loop().run_in_executor(None, client.loop_stop)

    def _client(self) -> paho.Client:
        """A new paho client: MQTT v5, credentials, TLS and the last will; no auto-reconnect."""
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._s.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            reconnect_on_failure=False,
        )
        client.connect_timeout = self._s.connect_timeout_s
        if self._s.username is not None:
            client.username_pw_set(self._s.username, self._s.password)
        if self._tls is not None:
            client.tls_set_context(self._tls)
            client.tls_insecure_set(value=False)
        assert self._plan is not None
        will = self._plan.will
        client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        return client

    def _connect(self, client: paho.Client) -> None:
        """Blocking TCP (and TLS) connect and CONNECT packet, in a worker thread."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho: unannotated
        props.SessionExpiryInterval = 0  # no session kept: nothing queued for us while away
        try:
            client.connect(
                self._s.host,
                self._s.port,
                keepalive=self._s.keepalive_s,
                clean_start=True,
                properties=props,
            )
        except (OSError, ValueError) as exc:  # refused, unreachable, TLS failure, bad host
            raise LinkError(f"cannot connect to {self._s.host}:{self._s.port}: {exc}") from None

    # --- paho callbacks (paho's thread) -----------------------------------------------------

    def _bind(self, client: paho.Client, session: _Session) -> None:
        """Hand paho's callbacks (on its thread) to the event loop."""

        def later(fn: Callable[..., None], *args: object) -> None:
            loop = self._loop
            if loop is None:
                return
            with contextlib.suppress(RuntimeError):  # the loop is closing: nothing to tell
                loop.call_soon_threadsafe(fn, session, *args)

        def on_connect(_c: paho.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
            later(self._on_connack, None if not rc.is_failure else rc.getName())

        def on_disconnect(
            _c: paho.Client, _u: object, _f: object, rc: ReasonCode, _p: object
        ) -> None:
            later(self._on_closed, f"connection lost ({rc.getName()})")

        def on_subscribe(
            _c: paho.Client, _u: object, mid: int, rcs: list[ReasonCode], _p: object
        ) -> None:
            later(self._on_suback, mid, [not r.is_failure for r in rcs])

        def on_publish(_c: paho.Client, _u: object, mid: int, rc: ReasonCode, _p: object) -> None:
            refused = f"broker refused the message: {rc.getName()}" if rc.is_failure else None
            with session.lock:  # counted here; the loop is woken once per batch, at its end
                entry = session.inflight.pop(mid, None)
                if entry is None:  # answered before publish() returned its id
                    session.early[mid] = refused
                    return
                batch, index = entry
                finished = batch.mark(index, refused)
            if finished:
                later(self._on_answered, batch)

        def on_message(_c: paho.Client, _u: object, m: paho.MQTTMessage) -> None:
            try:
                topic = m.topic
            except UnicodeDecodeError:
                log.warning("MQTT message with a topic that is not UTF-8 dropped")
                return
            expiry = getattr(m.properties, "MessageExpiryInterval", None) if m.properties else None
            msg = Incoming(
                topic,
                bytes(m.payload),
                bool(m.retain),
                int(expiry) if isinstance(expiry, int) else None,
                time.perf_counter_ns(),
            )
            later(self._on_message, msg)

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_subscribe = on_subscribe
        client.on_publish = on_publish
        client.on_message = on_message

    # --- the same, on the event loop ---------------------------------------------------------

    def _on_connack(self, session: _Session, refused: str | None) -> None:
        """CONNACK arrived (None: accepted, else the broker's reason)."""
        if not session.connack.done():
            session.connack.set_result(refused)

    def _on_closed(self, session: _Session, reason: str) -> None:
        """The connection ended."""
        if not session.closed.done():
            session.closed.set_result(reason)

    def _on_suback(self, session: _Session, mid: int, granted: list[bool]) -> None:
        """SUBACK arrived: which filters were granted."""
        if mid == session.subscribe_mid and not session.suback.done():
            session.suback.set_result(granted)

    def _on_answered(self, _session: _Session, batch: _Batch) -> None:
        """Every message of ``batch`` was acknowledged or refused."""
        batch.settle()

    def _on_message(self, session: _Session, msg: Incoming) -> None:
        """A message for this session, if it is still the current one."""
        if session is self._session and session.up:
            self._emit(msg)

    def _emit(self, ev: LinkEvent) -> None:
        """Give an event to the sink; its failures are logged, never raised here."""
        sink = self._sink
        if sink is None or self._stopping:
            return
        try:
            sink(ev)
        except Exception:  # a sink's bug must not end the connection loop
            log.exception("MQTT event handler failed on %s", type(ev).__name__)
