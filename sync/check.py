"""``mallsense sync check``: connect as the sync agent would and say what works, step by step.

A technician at a box that does not upload needs to know which of half a dozen
things is wrong (the name, the route, the certificates, the password, the
broker's access rules) without reading a paho traceback. Each step below either
passes, fails with what happened and what to do, or is skipped because an
earlier one failed:

``dns``  the host name resolves (an IP address needs nothing);
``tcp``  the port accepts a connection (refused, timed out or unreachable);
``tls``  (mqtts only) the handshake: the broker's certificate against mqtt.ca_file or
         the system's CAs, with its names and dates, then the broker's verdict on this
         box's client certificate;
``mqtt`` CONNECT with the configured user, password and certificate (the CONNACK);
``subscribe``  SUBACK for the box's own ``cmd/+``;
``publish``    PUBACK for a QoS 1 test message to the box's own ``check`` topic.

The subscription is tried before the publish because some brokers (mosquitto
2.0) close the connection right after refusing a publish. Paho gets its own
connection with the client id ``<client id>-check``: the configured one would
take over the running sync agent's session. No will is set and nothing is
retained, so the check cannot mark the box offline or leave anything behind.
"""

from __future__ import annotations

import datetime as dt
import errno
import ipaddress
import json
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from paho.mqtt.reasoncodes import ReasonCode

from edge.config.models import MqttConfig
from edge.config.urls import BrokerUrl, parse_broker_url
from sync.link import explain_connack, explain_socket_error
from sync.probe import MqttProbe
from sync.tlsinfo import (
    CertInfo,
    client_certificate_verdict,
    client_context,
    explain_refusal,
    explain_verification,
    peer_certificate,
    read_certificate,
    tls_reason,
    trusted_label,
)

__all__ = ["STEP_NAMES", "CheckTarget", "Step", "run_checks"]

StepName = Literal["dns", "tcp", "tls", "mqtt", "subscribe", "publish"]
Status = Literal["pass", "fail", "skip"]
STEP_NAMES: tuple[StepName, ...] = ("dns", "tcp", "tls", "mqtt", "subscribe", "publish")

_VERDICT_WAIT_S = 2.0  # how long a TLS 1.3 broker gets to refuse our certificate
_EXPIRES_SOON_DAYS = 30
_PASSWORD_SOURCES = (
    "MALLSENSE_MQTT_PASSWORD, the systemd credential 'mqtt-password' or mqtt.password_file"
)
_AUTH_REFUSED = {0x86, 0x87, 0x8C}


@dataclass(frozen=True, slots=True)
class Step:
    """The outcome of one step: what happened and, when it failed, what to do."""

    name: StepName
    status: Status
    summary: str
    advice: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` form: one object per step."""
        return {
            "step": self.name,
            "status": self.status,
            "summary": self.summary,
            "advice": self.advice,
            "facts": self.facts,
        }


@dataclass(frozen=True, slots=True)
class CheckTarget:
    """The broker and the credentials to check, as the sync agent would use them."""

    url: BrokerUrl
    mall: str
    box: str
    client_id: str
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    timeout_s: float = 10.0

    @classmethod
    def from_config(
        cls, mall: str, box: str, mqtt: MqttConfig, password: str | None, timeout_s: float
    ) -> CheckTarget:
        """From the box's configuration (``parse_broker_url``'s ValueError for a bad URL)."""
        agent_id = mqtt.client_id or f"mallsense-{mall}-{box}"
        return cls(
            url=parse_broker_url(mqtt.url),
            mall=mall,
            box=box,
            client_id=f"{agent_id}-check",
            username=mqtt.username,
            password=password,
            ca_file=mqtt.ca_file,
            cert_file=mqtt.cert_file,
            key_file=mqtt.key_file,
            timeout_s=timeout_s,
        )

    @property
    def prefix(self) -> str:
        return f"mallsense/v1/{self.mall}/{self.box}"


def run_checks(target: CheckTarget, clock: Callable[[], float] = time.time) -> Iterator[Step]:
    """Run the steps in order, yielding each as it ends (a slow timeout shows progress)."""
    session = _Session(target, clock)
    steps: tuple[Callable[[], Step], ...] = (
        session.dns,
        session.tcp,
        session.tls,
        session.mqtt,
        session.subscribe,
        session.publish,
    )
    failed = False
    try:
        for name, run in zip(STEP_NAMES, steps, strict=True):
            step = Step(name, "skip", "not tried: an earlier step failed") if failed else run()
            failed = failed or step.status == "fail"
            yield step
    finally:
        session.close()


class _Session:
    """What the steps hand on to each other: addresses, the socket, TLS settings, paho."""

    def __init__(self, target: CheckTarget, clock: Callable[[], float]) -> None:
        self.target = target
        self.clock = clock
        self.addresses: list[tuple[socket.AddressFamily, Any]] = []
        self.sock: socket.socket | None = None
        self.context: ssl.SSLContext | None = None
        self.own_cert: CertInfo | None = None
        self.probe: MqttProbe | None = None

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.probe is not None:
            self.probe.close()

    # -- dns, tcp -------------------------------------------------------------------------

    def dns(self) -> Step:
        host, port = self.target.url.host, self.target.url.port
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            return Step(
                "dns",
                "fail",
                f"{host}: {explain_socket_error(exc)}",
                "check the host name in mqtt.url (or --broker), the box's DNS servers"
                " (`resolvectl status`) and its network link",
            )
        self.addresses = list(dict.fromkeys((info[0], info[4]) for info in infos))
        shown = [str(sockaddr[0]) for _, sockaddr in self.addresses]
        if _is_ip(host):
            summary = f"{host} is an IP address: nothing to resolve"
        else:
            summary = f"{host} resolves to {', '.join(shown)}"
        return Step("dns", "pass", summary, facts={"addresses": shown})

    def tcp(self) -> Step:
        port = self.target.url.port
        failures: list[tuple[str, OSError]] = []
        for family, sockaddr in self.addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.settimeout(self.target.timeout_s)
            started = time.monotonic()
            try:
                sock.connect(sockaddr)
            except OSError as exc:
                sock.close()
                failures.append((str(sockaddr[0]), exc))
                continue
            self.sock = sock
            ms = (time.monotonic() - started) * 1000
            facts = {"address": str(sockaddr[0]), "port": port, "ms": round(ms, 1)}
            return Step(
                "tcp", "pass", f"connected to {sockaddr[0]} port {port} in {ms:.0f} ms", facts=facts
            )
        return self._tcp_failed(failures)

    def _tcp_failed(self, failures: list[tuple[str, OSError]]) -> Step:
        host, port = self.target.url.host, self.target.url.port
        reasons = "; ".join(f"{addr}: {explain_socket_error(exc)}" for addr, exc in failures)
        if len(failures) == 1:
            address, exc = failures[0]
            summary = f"cannot connect to {address} port {port}: {explain_socket_error(exc)}"
        else:
            summary = f"cannot connect to {host} port {port} on any of its addresses ({reasons})"
        facts = {"port": port, "errors": {addr: str(exc) for addr, exc in failures}}
        return Step(
            "tcp",
            "fail",
            summary,
            _tcp_advice(failures[-1][1], host, port, self.target.timeout_s),
            facts,
        )

    # -- tls ------------------------------------------------------------------------------

    def tls(self) -> Step:
        t = self.target
        if not t.url.tls:
            return Step(
                "tls",
                "skip",
                "not used: mqtt:// sends the password and the data unencrypted",
                "use mqtts:// unless the broker is on a network the mall controls",
            )
        unreadable = _unreadable_file(t)
        if unreadable is not None:
            return Step(
                "tls",
                "fail",
                f"cannot read {unreadable}",
                "fix the path in the configuration, or the file's permissions for the service user",
            )
        try:
            self.context = client_context(t.ca_file, t.cert_file, t.key_file)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            return Step(
                "tls",
                "fail",
                f"cannot load this box's TLS files: {_file_problem(exc)}",
                "check mqtt.ca_file, mqtt.cert_file and mqtt.key_file: each must exist and be"
                " readable by the service user, and the key must belong to the certificate",
            )
        self.own_cert = None if t.cert_file is None else read_certificate(t.cert_file)
        sock, self.sock = self.sock, None
        assert sock is not None  # the tcp step passed
        try:
            tls = self.context.wrap_socket(sock, server_hostname=t.url.host)
        except ssl.SSLCertVerificationError as exc:
            return self._untrusted(exc)
        except OSError as exc:
            sock.close()
            return self._handshake_failed(exc)
        self.sock = tls
        return self._handshake_done(tls)

    def _trusted(self) -> str:
        return trusted_label(self.target.ca_file)

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC)

    def _untrusted(self, exc: ssl.SSLCertVerificationError) -> Step:
        t = self.target
        shown = peer_certificate(t.url.host, t.url.port, t.timeout_s, t.cert_file, t.key_file)
        what, advice = explain_verification(exc, t.url.host, shown, self._trusted(), self._now())
        facts = {
            "verify_code": exc.verify_code,
            "verify_message": exc.verify_message,
            "server_certificate": None if shown is None else shown.as_dict(),
        }
        return Step("tls", "fail", what, advice, facts)

    def _handshake_failed(self, exc: OSError) -> Step:
        if isinstance(exc, ssl.SSLError):
            what, advice = explain_refusal(tls_reason(exc), self.own_cert)
            return Step("tls", "fail", what, advice, {"tls_error": str(exc)})
        port = self.target.url.port
        if isinstance(exc, ConnectionResetError):
            advice = (
                f"port {port} probably does not speak TLS: use mqtt:// for it, or the"
                " broker's TLS port (usually 8883)"
            )
        else:
            advice = f"check that port {port} is the broker's TLS (mqtts) port"
        summary = f"the TLS handshake did not complete: {explain_socket_error(exc)}"
        return Step("tls", "fail", summary, advice, {"tls_error": str(exc)})

    def _handshake_done(self, tls: ssl.SSLSocket) -> Step:
        peer = tls.getpeercert()
        assert peer  # verified, so the certificate is there
        server = CertInfo.from_peercert(dict(peer))
        verdict = client_certificate_verdict(tls, min(self.target.timeout_s, _VERDICT_WAIT_S))
        facts: dict[str, Any] = {
            "version": tls.version(),
            "server_certificate": server.as_dict(),
            "client_certificate": None if self.own_cert is None else self.own_cert.as_dict(),
        }
        if isinstance(verdict, ssl.SSLError):
            what, to_do = explain_refusal(tls_reason(verdict), self.own_cert)
            return Step("tls", "fail", what, to_do, {**facts, "tls_error": str(verdict)})
        summary = (
            f"{tls.version()}; the broker's certificate {server.describe()}, verified against"
            f" {self._trusted().removeprefix('among ')}; {self._client_words(verdict)}"
        )
        advice: str | None = None
        days = server.days_left(self._now())
        if days < _EXPIRES_SOON_DAYS:
            summary += f"; the broker's certificate expires in {days} day(s)"
            advice = "ask the broker's administrator to renew its certificate soon"
        return Step("tls", "pass", summary, advice, facts)

    def _client_words(self, verdict: str) -> str:
        if self.target.cert_file is None:
            return "this box sent no client certificate (mqtt.cert_file is not set)"
        name = "" if self.own_cert is None else f" {self.own_cert.subject}"
        if verdict == "accepted":
            return f"the broker accepted this box's certificate{name}"
        return f"this box sent its certificate{name}; the broker has not refused it"

    # -- mqtt -----------------------------------------------------------------------------

    def mqtt(self) -> Step:
        if self.sock is not None:  # the TLS step's connection has done its job
            self.sock.close()
            self.sock = None
        t = self.target
        self.probe = MqttProbe(t, self.context, self.own_cert)
        reply = self.probe.connect()
        facts: dict[str, Any] = {"client_id": t.client_id, "user": self._who()}
        if isinstance(reply, str):
            return Step("mqtt", "fail", f"no MQTT session: {reply}", self._auth_advice(None), facts)
        facts["reason_code"] = reply.value
        if reply.is_failure:
            return Step("mqtt", "fail", explain_connack(reply), self._auth_advice(reply), facts)
        summary = f"the broker accepted {self._who()} as client id {t.client_id} (MQTT 5)"
        return Step("mqtt", "pass", summary, facts=facts)

    def _who(self) -> str:
        """How the broker knows this box, for messages about its access rules."""
        if self.target.username is not None:
            return f"user '{self.target.username}'"
        if self.own_cert is not None:
            return f"the certificate identity {self.own_cert.subject}"
        return "an anonymous client"

    def _auth_advice(self, reason: ReasonCode | None) -> str | None:
        t = self.target
        if reason is None:
            return (
                "check the broker's log for this connection; a broker that drops it at once"
                " usually refused the client certificate or the client id"
            )
        if reason.value not in _AUTH_REFUSED:
            return None
        if t.username is not None and t.password is None:
            return f"no password was found for user '{t.username}': set {_PASSWORD_SOURCES}"
        if t.username is not None:
            return (
                f"check mqtt.username ('{t.username}') and the password ({_PASSWORD_SOURCES});"
                " then ask the broker's administrator whether this user may connect"
            )
        if t.cert_file is not None:
            return f"ask the broker's administrator to allow {self._who()}"
        return (
            "the broker does not take anonymous clients: set mqtt.username and a password,"
            " or a client certificate"
        )

    # -- access rules ---------------------------------------------------------------------

    def subscribe(self) -> Step:
        topic = f"{self.target.prefix}/cmd/+"
        assert self.probe is not None
        reply = self.probe.subscribe(topic)
        if isinstance(reply, str):
            return Step("subscribe", "fail", f"no answer to SUBSCRIBE {topic}: {reply}")
        facts = {"topic": topic, "reason_code": reply.value}
        if reply.is_failure:
            summary = (
                f"the broker refused the subscription to {topic}: {reply} (SUBACK reason"
                f" 0x{reply.value:02X}); this box would never receive commands"
            )
            advice = (
                f"the broker's access rules must let {self._who()} read {self.target.prefix}/cmd/#"
            )
            return Step("subscribe", "fail", summary, advice, facts)
        return Step("subscribe", "pass", f"subscribed to {topic} (SUBACK: {reply})", facts=facts)

    def publish(self) -> Step:
        topic = f"{self.target.prefix}/check"
        assert self.probe is not None
        reply = self.probe.publish(topic, self._probe_payload())
        advice = f"the broker's access rules must let {self._who()} write {self.target.prefix}/#"
        if isinstance(reply, str):
            summary = f"no PUBACK for a test message to {topic}: {reply}"
            return Step("publish", "fail", summary, advice, {"topic": topic})
        facts = {"topic": topic, "reason_code": reply.value}
        if reply.is_failure:
            summary = (
                f"the broker refused a test message to {topic}: {reply} (PUBACK reason"
                f" 0x{reply.value:02X}); it would refuse this box's data the same way"
            )
            return Step("publish", "fail", summary, advice, facts)
        summary = f"published a test message to {topic} at QoS 1 (PUBACK: {reply})"
        return Step("publish", "pass", summary, facts=facts)

    def _probe_payload(self) -> bytes:
        t = self.target
        sent_at = self._now().isoformat(timespec="milliseconds").replace("+00:00", "Z")
        body = {"check": "mallsense sync check", "mall": t.mall, "box": t.box, "sent_at": sent_at}
        return json.dumps(body, separators=(",", ":")).encode()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _tcp_advice(exc: OSError, host: str, port: int, timeout: float) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return (
            f"nothing accepts connections on port {port}: check the port in mqtt.url (usually"
            " 8883 for mqtts://, 1883 for mqtt://) and that the broker is running"
        )
    if isinstance(exc, TimeoutError):
        return (
            f"no answer within {timeout:g} s: a firewall may drop the traffic; ask the mall's IT"
            f" whether this box may reach {host} on TCP port {port}"
        )
    if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return (
            "the box has no route to the broker: check its network cable or Wi-Fi, its address"
            " and its gateway (`ip route`)"
        )
    return "check the network between the box and the broker"


def _unreadable_file(target: CheckTarget) -> str | None:
    """'mqtt.cert_file (/etc/...): No such file or directory' for the first unreadable file.

    ssl's own errors for a missing file do not say which of the three it was.
    """
    files = (
        ("mqtt.ca_file", target.ca_file),
        ("mqtt.cert_file", target.cert_file),
        ("mqtt.key_file", target.key_file),
    )
    for key, path in files:
        if path is None:
            continue
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            return f"{key} ({path}): {exc.strerror}"
    return None


def _file_problem(exc: OSError | ValueError) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"{exc.reason or exc} (is the key the certificate's, and are both PEM files?)"
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc)
