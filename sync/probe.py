"""One paho connection for ``mallsense sync check`` that waits for each answer in turn.

Unlike ``sync.link.Link`` it sets no will and publishes nothing retained (a check
must not mark the box offline or leave anything behind), and it reports why the
connection died in words: paho only logs the TLS alert of a broker that refused
the client certificate after the handshake (TLS 1.3).
"""

from __future__ import annotations

import queue
import ssl
import time
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge.config.urls import BrokerUrl
from sync.link import closed_by_broker, explain_socket_error, mqtt5_client, socket_error_logged
from sync.tlsinfo import CertInfo, explain_refusal, tls_reason

__all__ = ["MqttProbe", "ProbeTarget"]


class ProbeTarget(Protocol):
    """Where the probe connects and as whom (``sync.check.CheckTarget`` is one)."""

    @property
    def url(self) -> BrokerUrl: ...
    @property
    def client_id(self) -> str: ...
    @property
    def username(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...
    @property
    def timeout_s(self) -> float: ...


@dataclass(frozen=True, slots=True)
class _Reply:
    """What paho's thread reported: an acknowledgement, or that the connection is gone."""

    kind: Literal["connack", "suback", "puback", "gone"]
    mid: int = 0
    reason: ReasonCode | None = None
    text: str = ""


class MqttProbe:
    """One paho connection that waits for each answer in turn (no will, nothing retained)."""

    def __init__(
        self, target: ProbeTarget, context: ssl.SSLContext | None, own_cert: CertInfo | None
    ) -> None:
        self.target = target
        self.own_cert = own_cert
        self.replies: queue.Queue[_Reply] = queue.Queue()
        self.socket_error: str | None = None  # paho only logs why a read failed
        self.started = False
        client = mqtt5_client(target.client_id, target.username, target.password)
        client.connect_timeout = target.timeout_s
        if context is not None:
            client.tls_set_context(context)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        client.on_log = self._on_log
        self.client = client

    def connect(self) -> ReasonCode | str:
        """The CONNACK's reason, or why there was none, in words."""
        url = self.target.url
        try:
            self.client.connect(url.host, url.port, keepalive=30, clean_start=True)
        except (OSError, ValueError) as exc:
            return explain_socket_error(exc)
        self.client.loop_start()
        self.started = True
        return self._wait("connack", None)

    def subscribe(self, topic: str) -> ReasonCode | str:
        rc, mid = self.client.subscribe(topic, options=SubscribeOptions(qos=1))
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return self._gone_text()
        return self._wait("suback", mid)

    def publish(self, topic: str, payload: bytes) -> ReasonCode | str:
        info = self.client.publish(topic, payload, qos=1, retain=False)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return self._gone_text()
        return self._wait("puback", info.mid)

    def close(self) -> None:
        if self.started:
            self.client.disconnect()
            self.client.loop_stop()
            self.started = False

    def _wait(self, kind: str, mid: int | None) -> ReasonCode | str:
        deadline = time.monotonic() + self.target.timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                reply = self.replies.get(timeout=remaining)
            except queue.Empty:
                break
            if reply.kind == "gone":
                return reply.text or self._gone_text()
            if reply.kind == kind and (mid is None or reply.mid == mid):
                assert reply.reason is not None
                return reply.reason
        return f"no {kind.upper()} within {self.target.timeout_s:g} s"

    def _gone_text(self) -> str:
        if self.socket_error is None:
            return "the broker closed the connection without a word"
        reason = tls_reason(self.socket_error)
        if reason:
            return explain_refusal(reason, self.own_cert)[0]
        return f"the connection failed ({self.socket_error})"

    # paho's thread: hand over only.

    def _on_connect(
        self,
        client: Client,
        userdata: Any,
        flags: ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self.replies.put(_Reply("connack", reason=reason))

    def _on_disconnect(
        self,
        client: Client,
        userdata: Any,
        flags: DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        text = ""
        if flags.is_disconnect_packet_from_server:
            text = closed_by_broker(reason)
        self.replies.put(_Reply("gone", text=text))

    def _on_subscribe(
        self,
        client: Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        self.replies.put(_Reply("suback", mid, reasons[0]))

    def _on_publish(
        self, client: Client, userdata: Any, mid: int, reason: ReasonCode, properties: Properties
    ) -> None:
        self.replies.put(_Reply("puback", mid, reason))

    def _on_log(self, client: Client, userdata: Any, level: int, text: str) -> None:
        if self.socket_error is None and socket_error_logged(level, text):
            self.socket_error = text
