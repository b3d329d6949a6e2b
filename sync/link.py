"""One MQTT 5 connection to the broker, wrapped so the agent's thread never sees paho's.

Every connection attempt gets a fresh paho ``Client``: paho keeps unacknowledged
messages in memory and would re-send them itself after a reconnect, under message
ids that mean nothing any more. The outbox is our queue, so a lost connection
simply throws its client (and its ids) away.

paho runs its network loop and callbacks on its own thread; the callbacks only put
events on a ``queue.Queue`` that the agent's thread (the only one that touches
SQLite) reads: acknowledgements, and the messages the agent subscribed to
(commands, the platform's STATE), which it therefore also handles on its thread.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags
from paho.mqtt.enums import CallbackAPIVersion, LogLevel, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge.config.urls import BrokerUrl
from edge.errors import UplinkError
from sync.payload_limits import AGENT_MAX_PACKET_BYTES
from sync.tlsinfo import (
    explain_refusal,
    explain_verification,
    peer_certificate,
    read_certificate,
    tls_reason,
    trusted_label,
)

__all__ = [
    "Acked",
    "ConnectFailed",
    "Connected",
    "Disconnected",
    "Link",
    "LinkEvent",
    "LinkSettings",
    "Received",
    "Subscribed",
    "closed_by_broker",
    "explain_connack",
    "explain_socket_error",
    "mqtt5_client",
    "socket_error_logged",
]

log = logging.getLogger("mallsense.sync")

# MQTT 5 reason codes: 0x04 asks the broker to publish our will (after its delay) even
# though we disconnect on purpose, because we mean to come back.
_DISCONNECT_WITH_WILL = 0x04
# DISCONNECT from the broker: another connection with the same client id replaced this one.
_SESSION_TAKEN_OVER = 0x8E
_CONNACK_HINTS = {
    0x85: "; check mqtt.client_id",
    0x86: "; check mqtt.username and the password (MALLSENSE_MQTT_PASSWORD or mqtt.password_file)",
    0x87: "; check mqtt.username, the password and the broker's access rules",
    0x88: "; the broker is unavailable, probably restarting",
    0x89: "; the broker is overloaded",
    0x8A: "; the broker has banned this client",
    0x9F: "; the broker limits how often clients connect",
}


class ConnectFailed(UplinkError):
    """One connection attempt failed; the agent tries again after a back-off."""


@dataclass(frozen=True, slots=True)
class Connected:
    """CONNACK arrived; ``reason`` says whether the broker accepted us."""

    reason: ReasonCode
    receive_maximum: int
    maximum_packet_size: int | None


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The connection is gone (``reason`` in plain words).

    ``taken_over`` is MQTT 5's DISCONNECT reason 0x8E "Session taken over": another
    client connected with this box's client id, and the broker closed this one.
    """

    reason: str
    taken_over: bool = False


@dataclass(frozen=True, slots=True)
class Acked:
    """A PUBACK for message id ``mid``; a failure ``reason`` means the broker refused it."""

    mid: int
    reason: ReasonCode


@dataclass(frozen=True, slots=True)
class Received:
    """A message on a topic the agent subscribed to.

    ``correlation_data`` is the MQTT 5 Correlation Data property, if the sender set one.
    """

    topic: str
    payload: bytes
    retain: bool
    correlation_data: bytes | None


@dataclass(frozen=True, slots=True)
class Subscribed:
    """A SUBACK for SUBSCRIBE ``mid`` (one topic filter): ``reason`` says if it was granted."""

    mid: int
    reason: ReasonCode


LinkEvent = Connected | Disconnected | Acked | Received | Subscribed


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """Everything a connection needs; built once by the agent."""

    url: BrokerUrl
    client_id: str
    keepalive_s: int
    username: str | None
    password: str | None
    ca_file: Path | None
    cert_file: Path | None
    key_file: Path | None
    will_topic: str
    will_payload: bytes
    will_delay_s: int
    max_inflight: int


def explain_socket_error(exc: BaseException) -> str:
    """Why a TCP or TLS connection could not be made, in a technician's words."""
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name (DNS: {exc.strerror})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens on that port; is the broker running?)"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate rejected ({exc.verify_message}); check mqtt.ca_file and the host"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed ({exc.reason or exc}); is the port really mqtts?"
    if isinstance(exc, TimeoutError):
        return "timed out (wrong host or port, or a firewall dropping the traffic?)"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


def explain_connack(reason: ReasonCode) -> str:
    """A refused CONNACK in plain words, with the reason code for the broker's admin."""
    hint = _CONNACK_HINTS.get(reason.value, "")
    return (
        f"the broker refused the connection: {reason} (CONNACK reason 0x{reason.value:02X}){hint}"
    )


def _properties(packet_type: int) -> Properties:
    return Properties(packet_type)  # type: ignore[no-untyped-call]  # paho leaves it unannotated


def _connect_properties(will_delay_s: int) -> Properties:
    props = _properties(PacketTypes.CONNECT)
    # The broker must not send us a packet larger than this: it drops an oversized
    # "command" instead of making the agent read 200 MB into memory to refuse it. The
    # value holds the largest message the agent subscribes to (see the constant).
    props.MaximumPacketSize = AGENT_MAX_PACKET_BYTES
    # Per MQTT 5 the will is published when the session ends if that comes before the
    # will delay; a session lasting as long as the delay makes the delay effective.
    if will_delay_s > 0:
        props.SessionExpiryInterval = will_delay_s
    return props


def mqtt5_client(client_id: str, username: str | None, password: str | None) -> Client:
    """A paho MQTT 5 client that never reconnects by itself (its owner does, with its own
    back-off, or gives up), logged in when a user or a password is configured."""
    client = Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5,
        reconnect_on_failure=False,
    )
    if username is not None or password is not None:
        client.username_pw_set(username, password)
    return client


def closed_by_broker(reason: ReasonCode) -> str:
    """Why the connection ended, when the broker said so with a DISCONNECT."""
    return f"the broker closed the connection: {reason} (reason 0x{reason.value:02X})"


def socket_error_logged(level: int, text: str) -> bool:
    """A paho log line saying why its socket failed (paho only logs it)."""
    return level == LogLevel.MQTT_LOG_ERR and "socket" in text


class Link:
    """One connection: open it, publish on it, close or abandon it; then make a new one."""

    def __init__(self, settings: LinkSettings) -> None:
        self.settings = settings
        self.events: queue.Queue[LinkEvent] = queue.Queue()
        self._socket_error: str | None = None  # paho only logs why a read failed
        self._client = self._make_client()
        self._up = threading.Event()

    def _make_client(self) -> Client:
        s = self.settings
        client = mqtt5_client(s.client_id, s.username, s.password)
        client.max_inflight_messages_set(s.max_inflight)
        if s.url.tls:
            self._set_tls(client)
        will_props: Properties | None = None
        if s.will_delay_s > 0:
            will_props = _properties(PacketTypes.WILLMESSAGE)
            will_props.WillDelayInterval = s.will_delay_s
        client.will_set(s.will_topic, s.will_payload, qos=1, retain=True, properties=will_props)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_log = self._on_log
        return client

    def _set_tls(self, client: Client) -> None:
        s = self.settings
        try:
            client.tls_set(
                ca_certs=None if s.ca_file is None else str(s.ca_file),
                certfile=None if s.cert_file is None else str(s.cert_file),
                keyfile=None if s.key_file is None else str(s.key_file),
            )
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            raise UplinkError(
                f"cannot set up TLS for {s.url}: {explain_socket_error(exc)}; check"
                " mqtt.ca_file, mqtt.cert_file and mqtt.key_file"
            ) from exc

    # -- paho's thread: only hand events over ---------------------------------------------

    def _on_connect(
        self,
        client: Client,
        userdata: Any,
        flags: ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        receive_max = int(getattr(properties, "ReceiveMaximum", 65535))
        max_packet = getattr(properties, "MaximumPacketSize", None)
        if not reason.is_failure:
            self._up.set()
        size = None if max_packet is None else int(max_packet)
        self.events.put(Connected(reason, receive_max, size))

    def _on_disconnect(
        self,
        client: Client,
        userdata: Any,
        flags: DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._up.clear()
        if flags.is_disconnect_packet_from_server and reason.value == _SESSION_TAKEN_OVER:
            self.events.put(Disconnected(self._taken_over_words(), taken_over=True))
            return
        if flags.is_disconnect_packet_from_server:
            text = closed_by_broker(reason)
        elif self._socket_error is not None and (why := tls_reason(self._socket_error)):
            # TLS 1.3: a refused client certificate arrives as an alert after connect().
            cert_file = self.settings.cert_file
            own = None if cert_file is None else read_certificate(cert_file)
            what, advice = explain_refusal(why, own)
            text = f"{what}; {advice}"
        else:
            text = (
                "the connection closed without a word from the broker (broker stopped,"
                " network down or keepalive timeout)"
            )
        self.events.put(Disconnected(text))

    def _taken_over_words(self) -> str:
        return (
            f"another client took this id: the broker closed this connection because a client"
            f" connected with the same client id '{self.settings.client_id}' (DISCONNECT reason"
            f" 0x{_SESSION_TAKEN_OVER:02X}, session taken over)"
        )

    def _on_log(self, client: Client, userdata: Any, level: int, text: str) -> None:
        if self._socket_error is None and socket_error_logged(level, text):
            self._socket_error = text

    def _on_publish(
        self, client: Client, userdata: Any, mid: int, reason: ReasonCode, properties: Properties
    ) -> None:
        self.events.put(Acked(mid, reason))

    def _on_message(self, client: Client, userdata: Any, msg: Any) -> None:
        correlation = getattr(msg.properties, "CorrelationData", None)
        self.events.put(
            Received(
                msg.topic,
                bytes(msg.payload),
                bool(msg.retain),
                None if correlation is None else bytes(correlation),
            )
        )

    def _on_subscribe(
        self,
        client: Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        for reason in reasons:  # one filter per SUBSCRIBE (see ``subscribe``)
            self.events.put(Subscribed(mid, reason))

    # -- the agent's thread -----------------------------------------------------------------

    def open(self, timeout: float, stop: threading.Event) -> Connected:
        """Connect and wait for a successful CONNACK, or raise ``ConnectFailed``."""
        s = self.settings
        try:
            self._client.connect(
                s.url.host,
                s.url.port,
                keepalive=s.keepalive_s,
                clean_start=True,
                properties=_connect_properties(s.will_delay_s),
            )
        except ssl.SSLCertVerificationError as exc:
            raise ConnectFailed(self._untrusted(exc, timeout)) from exc
        except (OSError, ValueError) as exc:
            raise ConnectFailed(explain_socket_error(exc)) from exc
        self._client.loop_start()
        deadline = time.monotonic() + timeout
        while not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ConnectFailed(f"no CONNACK within {timeout:.0f} s (is it an MQTT broker?)")
            try:
                event = self.events.get(timeout=min(remaining, 0.2))
            except queue.Empty:
                continue
            if isinstance(event, Connected):
                if event.reason.is_failure:
                    raise ConnectFailed(explain_connack(event.reason))
                return event
            if isinstance(event, Disconnected):
                raise ConnectFailed(event.reason)
        raise ConnectFailed("stopped while connecting")

    def _untrusted(self, exc: ssl.SSLCertVerificationError, timeout: float) -> str:
        """A rejected broker certificate, named: fetched again unverified, only to describe it."""
        s = self.settings
        shown = peer_certificate(s.url.host, s.url.port, timeout, s.cert_file, s.key_file)
        now = dt.datetime.now(dt.UTC)
        trusted = trusted_label(s.ca_file)
        what, advice = explain_verification(exc, s.url.host, shown, trusted, now)
        return f"TLS certificate rejected: {what}; {advice}"

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        retain: bool = False,
        correlation_data: bytes | None = None,
    ) -> int:
        """Publish at QoS 1; returns paho's message id (meaningful on this link only)."""
        props: Properties | None = None
        if correlation_data is not None:
            props = _properties(PacketTypes.PUBLISH)
            props.CorrelationData = correlation_data
        info = self._client.publish(topic, payload, qos=1, retain=retain, properties=props)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            # The disconnect event follows; the rows stay in the outbox and are re-sent.
            log.debug("publish on %s returned %s", topic, info.rc)
        return info.mid

    def subscribe(self, topic_filter: str, *, retained: bool) -> int:
        """Subscribe at QoS 1 to one filter; returns the SUBSCRIBE's message id.

        ``retained=False`` asks the broker not to send retained messages at all
        (Retain Handling 2): a command someone published with the retain flag must
        not run again at every reconnect. The platform's STATE is wanted retained.
        """
        options = SubscribeOptions(qos=1, noLocal=True, retainHandling=0 if retained else 2)
        result, mid = self._client.subscribe(topic_filter, options=options)
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS:
            log.debug("subscribe to %s returned %s", topic_filter, result)
        return int(mid or 0)

    def close(self, goodbye: tuple[str, bytes] | None, timeout: float) -> None:
        """Leave on purpose: publish ``goodbye`` (retained) first, then a normal DISCONNECT."""
        if goodbye is not None and self._up.is_set():
            topic, payload = goodbye
            info = self._client.publish(topic, payload, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError) as exc:
                log.debug("could not publish %s before disconnecting: %s", topic, exc)
        self._client.disconnect()
        self._client.loop_stop()

    def abandon(self) -> None:
        """Drop the connection meaning to come back: the broker keeps our will armed."""
        if self._up.is_set():
            self._client.disconnect(
                reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=_DISCONNECT_WITH_WILL)
            )
        else:
            self._client.disconnect()
        self._client.loop_stop()
