"""Real MQTT peers for the tests: our own Mosquitto processes, a paho observer, a TCP cutter.

Nothing here stands in for Sekisho code: the broker is ``/usr/sbin/mosquitto`` on a free port,
the observer is a plain paho client, and the cutter is a TCP relay that can drop every
connection (a network fault between the gateway and a broker that stays up).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import os
import pwd
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"
SYSTEM_BROKER = ("127.0.0.1", 1883)  # the machine's own, anonymous
WAIT_S = 20.0  # generous: a loaded 2-core machine


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_until(cond: Callable[[], bool], within: float = WAIT_S, what: str = "") -> None:
    """Poll ``cond`` until it holds, or fail saying what was awaited."""
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what or cond}")
        await asyncio.sleep(0.02)


# --- Mosquitto -------------------------------------------------------------------------------


@dataclass
class Mosquitto:
    """One broker process with its own config, password file and ACL, on a fixed free port."""

    root: Path
    port: int
    conf_lines: list[str]
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        """The broker's log file."""
        return self.root / "mosquitto.log"

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        conf = self.root / "mosquitto.conf"
        conf.write_text("\n".join(self.conf_lines) + "\n", encoding="utf-8")
        out = self.log.open("ab")
        self.proc = subprocess.Popen(  # our own broker binary and config, no shell
            [MOSQUITTO, "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT
        )
        out.close()
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited ({self.proc.returncode}): {self.tail()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.port}: {self.tail()}")

    def stop(self) -> None:
        """SIGTERM (the broker saves its persistence file) and wait for the exit."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def tail(self, n: int = 2000) -> str:
        """The end of the broker's log."""
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-n:]
        except OSError:
            return "(no log)"


def write_passwords(path: Path, users: dict[str, str]) -> None:
    """A Mosquitto password file (hashed by mosquitto_passwd), mode 0600."""
    path.write_text("", encoding="utf-8")
    os.chmod(path, 0o600)
    for user, password in users.items():
        subprocess.run(  # a fixed tool and test credentials
            [MOSQUITTO_PASSWD, "-b", str(path), user, password], check=True, capture_output=True
        )


def broker_conf(
    root: Path,
    port: int,
    *,
    users: dict[str, str] | None = None,
    acl: Iterable[str] | None = None,
    tls: TlsFiles | None = None,
    require_certificate: bool = False,
    persistence: bool = False,
) -> list[str]:
    """Mosquitto config lines for one listener on 127.0.0.1:``port``."""
    # Started as root, Mosquitto would switch to the "mosquitto" user: stay who we are.
    me = pwd.getpwuid(os.getuid()).pw_name
    lines = [f"user {me}", "per_listener_settings false", f"listener {port} 127.0.0.1"]
    if tls is not None:
        lines += [
            f"cafile {tls.ca}",
            f"certfile {tls.server_cert}",
            f"keyfile {tls.server_key}",
            f"require_certificate {'true' if require_certificate else 'false'}",
            "tls_version tlsv1.2",
        ]
    if users is not None:
        write_passwords(root / "passwd", users)
        lines += ["allow_anonymous false", f"password_file {root / 'passwd'}"]
    else:
        lines.append("allow_anonymous true")
    if acl is not None:
        (root / "acl").write_text("\n".join(acl) + "\n", encoding="utf-8")
        lines.append(f"acl_file {root / 'acl'}")
    if persistence:
        lines += ["persistence true", f"persistence_location {root}/", "autosave_interval 1"]
    else:
        lines.append("persistence false")
    lines += [
        f"log_dest file {root / 'mosquitto.log'}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "max_queued_messages 100000",
    ]
    return lines


def site_acl(prefix: str, gateway_user: str, *, extra: Iterable[str] = ()) -> list[str]:
    """The ACL docs/mqtt.md recommends: each user commands only under its own name."""
    return [
        f"user {gateway_user}",
        f"topic write {prefix}/status",
        f"topic write {prefix}/door/#",
        f"topic write {prefix}/zone/#",
        f"topic write {prefix}/reader/#",
        f"topic write {prefix}/sensor/#",
        f"topic write {prefix}/event/#",
        f"topic write {prefix}/alarm/#",
        f"topic write {prefix}/reply/#",
        f"topic read {prefix}/cmd/#",
        "topic readwrite homeassistant/#",
        "topic read zigbee2mqtt/#",
        "",
        "user observer",
        "topic read #",
        "topic write zigbee2mqtt/#",
        "topic write homeassistant/status",
        "",
        *extra,
        "",
        f"pattern write {prefix}/cmd/%u/#",
        f"pattern read {prefix}/reply/%u",
    ]


# --- TLS material --------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA with a server certificate and a client certificate (PEM files)."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing of the above


def make_tls(root: Path, server_names: tuple[str, ...] = ("127.0.0.1",)) -> TlsFiles:
    """Generate a CA, a server certificate for ``server_names`` and a client certificate."""
    root.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)

    def key() -> ec.EllipticCurvePrivateKey:
        """A new P-256 key."""
        return ec.generate_private_key(ec.SECP256R1())

    def name(cn: str) -> x509.Name:
        """A name with only a common name."""
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def ca_cert(k: ec.EllipticCurvePrivateKey, cn: str) -> x509.Certificate:
        """A self-signed CA certificate."""
        return (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(name(cn))
            .public_key(k.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(k.public_key()), critical=False
            )
            .sign(k, hashes.SHA256())
        )

    def leaf(
        k: ec.EllipticCurvePrivateKey,
        cn: str,
        ca: x509.Certificate,
        ca_key: ec.EllipticCurvePrivateKey,
        sans: list[x509.GeneralName],
        usage: x509.ObjectIdentifier,
    ) -> x509.Certificate:
        """A certificate signed by the CA."""
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(ca.subject)
            .public_key(k.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(ca_key, hashes.SHA256())

    def write_key(path: Path, k: ec.EllipticCurvePrivateKey) -> Path:
        """Write a private key (PKCS#8 PEM, 0600)."""
        path.write_bytes(
            k.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        os.chmod(path, 0o600)
        return path

    def write_cert(path: Path, c: x509.Certificate) -> Path:
        """Write a certificate (PEM)."""
        path.write_bytes(c.public_bytes(serialization.Encoding.PEM))
        return path

    ca_key = key()
    ca = ca_cert(ca_key, "Sekisho test CA")
    other_key = key()
    other = ca_cert(other_key, "Some other CA")
    sans: list[x509.GeneralName] = []
    for n in server_names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    server_key = key()
    server = leaf(
        server_key, server_names[0], ca, ca_key, sans, x509.oid.ExtendedKeyUsageOID.SERVER_AUTH
    )
    client_key = key()
    client = leaf(client_key, "sekisho", ca, ca_key, [], x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH)
    return TlsFiles(
        ca=write_cert(root / "ca.pem", ca),
        server_cert=write_cert(root / "server.pem", server),
        server_key=write_key(root / "server.key", server_key),
        client_cert=write_cert(root / "client.pem", client),
        client_key=write_key(root / "client.key", client_key),
        other_ca=write_cert(root / "other-ca.pem", other),
    )


# --- an observer / test publisher ------------------------------------------------------------


@dataclass
class Seen:
    """One message the observer received."""

    topic: str
    payload: bytes
    retain: bool
    at: float  # time.monotonic()


@dataclass(eq=False)
class Observer:
    """A paho client (MQTT v5) that records what it receives and can publish."""

    port: int
    host: str = "127.0.0.1"
    username: str | None = None
    password: str | None = None
    client_id: str = ""
    persistent: bool = False  # keep a broker session across reconnects and broker restarts
    tls_ca: Path | None = None
    messages: list[Seen] = field(default_factory=list)
    acks: dict[int, str] = field(default_factory=dict)  # mid -> the broker's PUBACK reason
    connects: int = 0
    _client: paho.Client | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _connected: threading.Event = field(default_factory=threading.Event)

    def start(self, *topics: str) -> Observer:
        """Connect, subscribe (on every connect) and wait until subscribed once."""
        if self.persistent:
            # Mosquitto 2.0.11 does not restore MQTT v5 sessions from its persistence file
            # after a restart (measured: CONNACK session-present 0); v3.1.1 sessions it does.
            c = paho.Client(
                CallbackAPIVersion.VERSION2,
                client_id=self.client_id,
                clean_session=False,
                protocol=MQTTProtocolVersion.MQTTv311,
            )
        else:
            c = paho.Client(
                CallbackAPIVersion.VERSION2,
                client_id=self.client_id,
                protocol=MQTTProtocolVersion.MQTTv5,
            )
        if self.username is not None:
            c.username_pw_set(self.username, self.password)
        c.reconnect_delay_set(1, 1)
        subscribed = threading.Event()

        def on_connect(cl: paho.Client, _u: object, _f: object, rc: object, _p: object) -> None:
            self.connects += 1
            if topics:
                cl.subscribe([(t, 1) for t in topics])
            else:
                subscribed.set()
            self._connected.set()

        def on_subscribe(*_a: object) -> None:
            subscribed.set()

        def on_disconnect(*_a: object) -> None:
            self._connected.clear()

        def on_publish(_c: paho.Client, _u: object, mid: int, rc: object, _p: object) -> None:
            with self._lock:
                self.acks[mid] = str(rc)

        def on_message(_c: paho.Client, _u: object, m: paho.MQTTMessage) -> None:
            with self._lock:
                self.messages.append(
                    Seen(m.topic, bytes(m.payload), bool(m.retain), time.monotonic())
                )

        c.on_connect = on_connect
        c.on_subscribe = on_subscribe
        c.on_disconnect = on_disconnect
        c.on_message = on_message
        c.on_publish = on_publish
        c.connect(self.host, self.port, keepalive=10)
        c.loop_start()
        self._client = c
        LIVE_OBSERVERS.add(self)
        if not subscribed.wait(WAIT_S):
            raise AssertionError(f"observer could not subscribe to {topics} on {self.port}")
        return self

    def stop(self) -> None:
        """Disconnect and stop the network thread (again: nothing happens)."""
        LIVE_OBSERVERS.discard(self)
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def on(self, topic: str) -> list[Seen]:
        """Messages received on exactly ``topic``, oldest first."""
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def under(self, prefix: str) -> list[Seen]:
        """Messages on topics starting with ``prefix``."""
        with self._lock:
            return [m for m in self.messages if m.topic.startswith(prefix)]

    def publish(
        self,
        topic: str,
        payload: bytes | str,
        *,
        qos: int = 1,
        retain: bool = False,
        expiry_s: int | None = None,
    ) -> paho.MQTTMessageInfo:
        """Publish and wait until the broker has it (PUBACK) or refused it."""
        assert self._client is not None
        if not self._connected.wait(WAIT_S):
            raise AssertionError("observer is not connected")
        props = None
        if expiry_s is not None:
            props = Properties(PacketTypes.PUBLISH)
            props.MessageExpiryInterval = expiry_s
        info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        info.wait_for_publish(WAIT_S)
        return info

    def ack_of(self, info: paho.MQTTMessageInfo) -> str:
        """The broker's PUBACK reason for a QoS 1 publish (e.g. "Success", "Not authorized")."""
        with self._lock:
            return self.acks.get(info.mid, "")


LIVE_OBSERVERS: set[Observer] = set()  # started and not stopped (stopped after each test)


def clear_retained(port: int, *filters: str, host: str = "127.0.0.1") -> list[str]:
    """Delete every retained message under ``filters`` (the shared broker stays clean).

    Subscribes, gathers the retained messages the broker sends at once, and publishes an empty
    retained message on each topic; returns the topics cleared.
    """
    found: set[str] = set()
    last = [time.monotonic()]
    c = paho.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)

    def on_message(_c: paho.Client, _u: object, m: paho.MQTTMessage) -> None:
        if m.retain and m.payload:
            found.add(m.topic)
        last[0] = time.monotonic()

    c.on_message = on_message
    c.connect(host, port)
    c.loop_start()
    try:
        c.subscribe([(f, 0) for f in filters])
        while time.monotonic() - last[0] < 0.3:  # until the retained burst is over
            time.sleep(0.02)
        sent = [c.publish(t, b"", qos=1, retain=True) for t in sorted(found)]
        for info in sent:
            info.wait_for_publish(WAIT_S)
    finally:
        c.disconnect()
        c.loop_stop()
    return sorted(found)


# --- a TCP relay that can cut the line -------------------------------------------------------


class Cutter:
    """A TCP relay on 127.0.0.1:<port> to a target; ``cut()`` drops every connection and
    refuses new ones until ``restore()``."""

    def __init__(self, target_port: int) -> None:
        """A relay to ``target_port``, not listening until start()."""
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._open = True
        self._writers: set[asyncio.StreamWriter] = set()
        self.accepted = 0

    async def start(self) -> Cutter:
        """Listen on a free port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Close everything."""
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        """Drop every relayed connection; refuse new ones."""
        self._open = False
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        """Accept connections again."""
        self._open = True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Relay one connection both ways until either side closes."""
        if not self._open:
            writer.transport.abort()
            return
        self.accepted += 1
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_w}

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            """Copy one direction until EOF, then abort the other side."""
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            w.transport.abort()

        with contextlib.suppress(asyncio.CancelledError):  # the test is over
            await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))
        self._writers -= {writer, up_w}
