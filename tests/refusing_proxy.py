"""A TCP proxy in front of a real mosquitto that refuses chosen PUBLISHes with a PUBACK
reason code, the way a broker with payload validation (a rule engine, a schema
check in a plugin) does.

Mosquitto 2.0 itself never refuses a QoS 1 PUBLISH for its content with a reason
code paho accepts: ``message_size_limit`` answers PUBACK 0x95, which MQTT 5 does
not allow in a PUBACK, so paho drops the connection as a protocol error; and it
does not check the payload format indicator (0x99). Everything else, the
connection, the other publishes and their PUBACKs, is the real broker's.

The proxy reads both directions packet by packet (fixed header, remaining
length), so an injected PUBACK never lands inside a packet it is relaying.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

__all__ = ["Refusal", "RefusingProxy"]

Refusal = Callable[[str, bytes], int | None]
"""(topic, whole PUBLISH packet body) -> a PUBACK reason code to refuse with, or None."""

_PUBLISH = 3
_SESSION_TAKEN_OVER = 0x8E


def _read_exactly(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_packet(sock: socket.socket) -> tuple[int, bytes, bytes] | None:
    """(first byte, raw header bytes, body) of the next MQTT packet, or None at EOF."""
    first = _read_exactly(sock, 1)
    if first is None:
        return None
    header, length, shift = first, 0, 0
    while True:
        byte = _read_exactly(sock, 1)
        if byte is None:
            return None
        header += byte
        length |= (byte[0] & 0x7F) << shift
        shift += 7
        if not byte[0] & 0x80:
            break
    body = _read_exactly(sock, length) if length else b""
    return None if body is None else (first[0], header, body)


def publish_topic_and_mid(first: int, body: bytes) -> tuple[str, int | None]:
    """The topic and (for QoS > 0) packet id of a PUBLISH body."""
    size = int.from_bytes(body[:2], "big")
    topic = body[2 : 2 + size].decode()
    qos = (first >> 1) & 3
    mid = int.from_bytes(body[2 + size : 4 + size], "big") if qos else None
    return topic, mid


class RefusingProxy:
    """Listens on a free loopback port and relays to ``upstream`` (host, port)."""

    def __init__(self, upstream: tuple[str, int], refuse: Refusal) -> None:
        self.upstream = upstream
        self.refuse = refuse
        self.refused: list[tuple[str, int]] = []  # (topic, reason code) of each refusal
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            broker = socket.create_connection(self.upstream)
            self._sockets += [client, broker]
            lock = threading.Lock()
            threading.Thread(target=self._up, args=(client, broker, lock), daemon=True).start()
            threading.Thread(target=self._down, args=(broker, client, lock), daemon=True).start()

    def _up(self, client: socket.socket, broker: socket.socket, lock: threading.Lock) -> None:
        with contextlib.suppress(OSError):
            while (packet := read_packet(client)) is not None:
                first, header, body = packet
                code = None
                if first >> 4 == _PUBLISH:
                    topic, mid = publish_topic_and_mid(first, body)
                    code = None if mid is None else self.refuse(topic, body)
                if code is None:
                    broker.sendall(header + body)
                    continue
                self.refused.append((topic, code))
                with lock:  # PUBACK: packet id and reason code, no properties
                    client.sendall(bytes([0x40, 3]) + (mid or 0).to_bytes(2, "big") + bytes([code]))
        self._close(client, broker)

    def _down(self, broker: socket.socket, client: socket.socket, lock: threading.Lock) -> None:
        with contextlib.suppress(OSError):
            while (packet := read_packet(broker)) is not None:
                _, header, body = packet
                with lock:
                    client.sendall(header + body)
        self._close(client, broker)

    @staticmethod
    def _close(*sockets: socket.socket) -> None:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def take_over(self) -> None:
        """Close every relayed connection the way a broker does when another client
        connects with the same client id: MQTT 5 DISCONNECT, reason 0x8E "Session taken
        over" (Mosquitto 2.0 closes without saying why; EMQX and HiveMQ say it)."""
        sockets, self._sockets = self._sockets, []
        for client in sockets[0::2]:  # (client, broker) pairs
            with contextlib.suppress(OSError):
                client.sendall(bytes([0xE0, 2, _SESSION_TAKEN_OVER, 0]))
        self._close(*sockets)

    def close(self) -> None:
        self._closed = True
        self._server.close()
        self._close(*self._sockets)

    def __enter__(self) -> RefusingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
