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
import time
from collections.abc import Callable
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


class _Session:
    """One paho client and one connection's worth of state."""

    def __init__(self, client: paho.Client, loop: asyncio.AbstractEventLoop) -> None:
        """A session of ``client``, its futures on ``loop``."""
        self.client = client
        self.connack: asyncio.Future[str | None] = loop.create_future()  # None: accepted
        self.suback: asyncio.Future[list[bool]] = loop.create_future()
        self.closed: asyncio.Future[str] = loop.create_future()
        self.pending: dict[int, asyncio.Future[None]] = {}
        self.subscribe_mid: int | None = None
        self.up = False

    def fail_pending(self, reason: str) -> None:
        """Every unacknowledged publish fails: the caller keeps it for the next connection."""
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(LinkError(f"MQTT connection lost before PUBACK: {reason}"))
        self.pending.clear()


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
        props = None
        if msg.expiry_s is not None:
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]  # paho: unannotated
            props.MessageExpiryInterval = msg.expiry_s
        try:
            info = s.client.publish(
                msg.topic, msg.payload, qos=msg.qos, retain=msg.retain, properties=props
            )
        except (ValueError, TypeError) as exc:  # invalid topic or payload
            fut.set_exception(PublishRefused(f"{msg.topic!r}: {exc}"))
            return fut
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            fut.set_exception(LinkError(f"MQTT publish not sent: {paho.error_string(info.rc)}"))
            return fut
        s.pending[info.mid] = fut
        return fut

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
            later(self._on_puback, mid, rc.getName() if rc.is_failure else None)

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

    def _on_puback(self, session: _Session, mid: int, refused: str | None) -> None:
        """A publish was acknowledged or refused."""
        fut = session.pending.pop(mid, None)
        if fut is None or fut.done():
            return
        if refused is None:
            fut.set_result(None)
        else:
            fut.set_exception(PublishRefused(f"broker refused the message: {refused}"))

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
