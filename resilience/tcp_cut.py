"""A TCP relay on 127.0.0.1 that can cut a link, and lose a reply after the request went through.

It stands between a client (the gateway's record writer, an MQTT link) and a real server
(PostgreSQL, Mosquitto): ``cut()`` drops every connection and refuses new ones until
``restore()``; ``lose_reply_after(pattern)`` lets the next client message containing
``pattern`` reach the server, swallows the server's answer and then drops the connection — the
client cannot tell whether its request (e.g. an autocommitted INSERT) took effect.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field


@dataclass(eq=False)
class _Pair:
    """One relayed connection."""

    client: socket.socket
    server: socket.socket
    tripped: threading.Event = field(default_factory=threading.Event)

    def close(self) -> None:
        """Close both sockets (shut down first, so blocked reads return)."""
        for s in (self.client, self.server):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()


class TcpCut:
    """Relay 127.0.0.1:``port`` → ``target``; a context manager that stops its threads."""

    def __init__(self, target: tuple[str, int]) -> None:
        """Listen on a free loopback port at once; relaying starts with the first client."""
        self._target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: set[_Pair] = set()
        self._cut = False
        self._stop = threading.Event()
        self._trip: bytes | None = None
        self.lost_replies = 0  # requests that went through while their reply was lost
        self.accepted = 0
        self._thread = threading.Thread(target=self._accept, name="tcp-cut", daemon=True)
        self._thread.start()

    def __enter__(self) -> TcpCut:
        """The relay itself."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop relaying and close everything."""
        self.close()

    def cut(self) -> None:
        """Drop every connection; refuse new ones until :meth:`restore`."""
        with self._lock:
            self._cut = True
            pairs, self._pairs = self._pairs, set()
        for pair in pairs:
            pair.close()

    def restore(self) -> None:
        """Accept and relay connections again."""
        with self._lock:
            self._cut = False

    def lose_reply_after(self, pattern: bytes) -> None:
        """Arm: the next request containing ``pattern`` goes through; its reply is lost."""
        with self._lock:
            self._trip = pattern

    def close(self) -> None:
        """Stop the relay."""
        self._stop.set()
        self.cut()
        self._thread.join(5)
        with contextlib.suppress(OSError):
            self._listener.close()

    def _accept(self) -> None:
        """Accept clients and start two pumps per connection, until stopped."""
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                refused = self._cut
            if refused:
                client.close()
                continue
            try:
                server = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            pair = _Pair(client, server)
            with self._lock:
                self._pairs.add(pair)
                self.accepted += 1
            for src, dst, upstream in ((client, server, True), (server, client, False)):
                threading.Thread(
                    target=self._pump, args=(pair, src, dst, upstream), daemon=True
                ).start()

    def _pump(self, pair: _Pair, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        """Copy one direction; lose the reply to a tripped request and drop the pair."""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if upstream:
                    with self._lock:
                        trip = self._trip
                        if trip is not None and trip in data:
                            self._trip = None
                            pair.tripped.set()
                    dst.sendall(data)
                elif pair.tripped.is_set():
                    # The server answered the tripped request: it took effect. Lose the answer.
                    with self._lock:
                        self.lost_replies += 1
                    break
                else:
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._pairs.discard(pair)
            pair.close()
