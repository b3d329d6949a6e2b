"""What a TLS certificate says and why a TLS connection failed, in a technician's words.

Python's ``ssl`` reports a failed verification as an OpenSSL code and one line
("Hostname mismatch, certificate is not valid for 'localhost'."), which does not
say which names the certificate *is* valid for, who issued it or until when. To
say that, the certificate the broker presents is fetched again without
verification (``peer_certificate``), only to describe it: nothing is ever sent
on such a connection.

With TLS 1.3 the broker judges the box's client certificate after the client has
finished its handshake, so a refused certificate shows up as an alert on the
first read, not as a handshake error; ``client_certificate_verdict`` waits for
that verdict. ``sync.check`` uses all of this; ``sync.link`` can too.
"""

from __future__ import annotations

import _ssl
import datetime as dt
import re
import socket
import ssl
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "CertInfo",
    "client_certificate_verdict",
    "client_context",
    "explain_refusal",
    "explain_verification",
    "peer_certificate",
    "read_certificate",
    "tls_reason",
    "trusted_label",
]

# OpenSSL verification codes (X509_V_ERR_*) that all mean "signed by a CA we do not trust".
_UNKNOWN_ISSUER = {2, 18, 19, 20, 21, 27}
_EXPIRED, _NOT_YET_VALID = 10, 9
_NAME_MISMATCH = {62, 63, 64}  # host name, e-mail, IP address
_SOON_DAYS = 30
_VERDICT_POLL_S = 0.05
# "[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca (_ssl.c:2580)": paho only logs text.
_REASON_IN_TEXT = re.compile(r"\[SSL: ([A-Z0-9_]+)\]")


@dataclass(frozen=True, slots=True)
class CertInfo:
    """The parts of an X.509 certificate a technician needs to recognise it."""

    subject: str
    issuer: str
    names: tuple[str, ...]  # subjectAltName DNS names and IP addresses
    not_before: dt.datetime
    not_after: dt.datetime

    @classmethod
    def from_peercert(cls, cert: dict[str, Any]) -> CertInfo:
        """From the dictionary ``SSLSocket.getpeercert()`` returns."""
        names = tuple(str(value) for kind, value in cert.get("subjectAltName", ()) if kind in _SAN)
        return cls(
            subject=_dn(cert.get("subject", ())),
            issuer=_dn(cert.get("issuer", ())),
            names=names,
            not_before=_when(cert["notBefore"]),
            not_after=_when(cert["notAfter"]),
        )

    @property
    def hostnames(self) -> tuple[str, ...]:
        """Names a client may connect with; without subjectAltName clients fall back to CN."""
        if self.names:
            return self.names
        cn = self.subject.removeprefix("CN=") if self.subject.startswith("CN=") else ""
        return (cn,) if cn and "," not in cn else ()

    def validity(self) -> str:
        return f"valid {_day(self.not_before)} to {_day(self.not_after)}"

    def days_left(self, now: dt.datetime) -> int:
        return (self.not_after - now).days

    def describe(self) -> str:
        """'CN=broker (for localhost, 127.0.0.1), issued by CN=mall-ca, valid ... to ...'."""
        names = f" (for {', '.join(self.names)})" if self.names else ""
        return f"{self.subject}{names}, issued by {self.issuer}, {self.validity()}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "names": list(self.names),
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
        }


_SAN = ("DNS", "IP Address")


def _dn(rdns: Any) -> str:
    """('commonName', 'x'),... as 'CN=x, O=y' (most specific attributes first: CN, then O)."""
    short = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU"}
    parts = [(short.get(k, k), v) for rdn in rdns for k, v in rdn if k in short]
    order = {"CN": 0, "OU": 1, "O": 2}
    return ", ".join(f"{k}={v}" for k, v in sorted(parts, key=lambda p: order[p[0]])) or "(none)"


def _when(text: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(ssl.cert_time_to_seconds(text), dt.UTC)


def _day(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def read_certificate(path: Path) -> CertInfo | None:
    """Describe a PEM certificate file (the box's own), or None if it cannot be read."""
    # CPython's own decoder (the one behind getpeercert()); private but present since
    # Python 2.7, and far less risky than an ASN.1 parser of our own.
    decode = getattr(_ssl, "_test_decode_cert", None)
    if decode is None:
        return None
    try:
        return CertInfo.from_peercert(decode(str(path)))
    except (OSError, ValueError, KeyError):
        return None


def _describe_der(der: bytes) -> CertInfo | None:
    with tempfile.NamedTemporaryFile("w", suffix=".pem", encoding="ascii") as pem:
        pem.write(ssl.DER_cert_to_PEM_cert(der))
        pem.flush()
        return read_certificate(Path(pem.name))


def client_context(
    ca_file: Path | None, cert_file: Path | None, key_file: Path | None
) -> ssl.SSLContext:
    """The TLS settings paho's ``tls_set`` makes from the same three files.

    Raises ``OSError`` or ``ssl.SSLError`` (a missing file, a key that does not
    match the certificate) for the caller to explain.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the host name
    if cert_file is not None:
        context.load_cert_chain(cert_file, key_file)
    if ca_file is not None:
        context.load_verify_locations(cafile=ca_file)
    else:
        context.load_default_certs()
    return context


def peer_certificate(
    host: str, port: int, timeout: float, cert_file: Path | None, key_file: Path | None
) -> CertInfo | None:
    """The certificate the broker presents, fetched without verifying it (only to show it)."""
    unverified = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    try:
        if cert_file is not None:  # a TLS 1.2 broker that requires one refuses us without it
            unverified.load_cert_chain(cert_file, key_file)
        with (
            socket.create_connection((host, port), timeout) as raw,
            unverified.wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except OSError:
        return None
    return None if der is None else _describe_der(der)


def tls_reason(exc: BaseException | str) -> str:
    """OpenSSL's reason name ('TLSV1_ALERT_UNKNOWN_CA'), from an exception or paho's log line."""
    if isinstance(exc, ssl.SSLEOFError):
        return "EOF"
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    text = str(exc)
    match = _REASON_IN_TEXT.search(text)
    if match:
        return match.group(1)
    return "EOF" if "EOF occurred" in text else ""


def client_certificate_verdict(
    tls: ssl.SSLSocket, wait_s: float
) -> ssl.SSLError | Literal["accepted", "quiet"]:
    """After the handshake, wait for the broker to accept or refuse our client certificate.

    With TLS 1.3 the broker sends session tickets once it has accepted the client's
    handshake, and an alert if it has not. Returns the alert (the ``SSLError`` the
    read raised), "accepted" once a ticket arrived (or right away with TLS 1.2,
    where a refusal ends the handshake itself), or "quiet" when the broker said
    nothing for ``wait_s`` (one that sends no tickets).
    """
    if tls.version() != "TLSv1.3":
        return "accepted"
    deadline = time.monotonic() + wait_s
    tls.settimeout(_VERDICT_POLL_S)
    while time.monotonic() < deadline:
        try:
            if not tls.recv(1):
                return ssl.SSLEOFError("the broker closed the connection after the handshake")
            return "accepted"  # data before CONNECT is odd, but it is not a refusal
        except ssl.SSLError as exc:
            return exc
        except TimeoutError:
            session = tls.session
            if session is not None and session.has_ticket:
                return "accepted"
        except OSError as exc:  # a reset right after the handshake: a refusal without words
            return ssl.SSLEOFError(f"the broker reset the connection ({exc.strerror})")
    return "quiet"


def trusted_label(ca_file: Path | None) -> str:
    """What the broker's certificate is checked against: "issued by X, which is not ..."."""
    if ca_file is None:
        return "among the system's trusted CAs (mqtt.ca_file is not set)"
    return f"the CA in mqtt.ca_file ({ca_file})"


def explain_verification(
    exc: ssl.SSLCertVerificationError,
    host: str,
    cert: CertInfo | None,
    trusted: str,
    now: dt.datetime,
) -> tuple[str, str]:
    """Why the broker's certificate was rejected, and what to do: (what, advice).

    ``trusted`` says what it was checked against ("the CA in mqtt.ca_file (/etc/...)").
    """
    code = exc.verify_code
    if cert is None:
        return (
            f"the broker's certificate was rejected: {exc.verify_message}",
            f"check mqtt.ca_file and that {host} is the broker's name",
        )
    if code in _NAME_MISMATCH:
        names = ", ".join(cert.hostnames) or "no host name at all"
        return (
            f"the broker's certificate {cert.subject} is for {names}, not for {host}",
            f"put one of {names} in mqtt.url (or --broker), or ask the broker's administrator"
            f" for a certificate with {host} in its subjectAltName",
        )
    if code == _EXPIRED:
        return (
            f"the broker's certificate {cert.subject} expired on {_day(cert.not_after)} (the"
            f" box's clock says {_day(now)})",
            "ask the broker's administrator to renew it; if that date has not come yet, the"
            " box's clock is wrong: check time sync with `timedatectl`",
        )
    if code == _NOT_YET_VALID:
        return (
            f"the broker's certificate {cert.subject} is valid only from {_day(cert.not_before)},"
            f" but the box's clock says {_day(now)}",
            "the box's clock is probably wrong: check time sync with `timedatectl`",
        )
    if code in _UNKNOWN_ISSUER:
        return (
            f"the broker's certificate {cert.subject} ({', '.join(cert.names) or 'no names'})"
            f" was issued by {cert.issuer}, which is not {trusted}",
            "set mqtt.ca_file to the certificate of the CA that issued the broker's"
            " certificate (ask the platform team for it)",
        )
    return (
        f"the broker's certificate {cert.describe()} was rejected: {exc.verify_message}",
        "show this message to the broker's administrator",
    )


def explain_refusal(reason: str, client_cert: CertInfo | None) -> tuple[str, str]:
    """A TLS failure that is not about the broker's certificate: (what, advice).

    ``reason`` comes from ``tls_reason``; ``client_cert`` is this box's own certificate
    (mqtt.cert_file), or None when none is configured.
    """
    ours = (
        "no client certificate"
        if client_cert is None
        else f"client certificate {client_cert.subject}"
    )
    issued = "" if client_cert is None else f" (issued by {client_cert.issuer})"
    if reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED" or (
        client_cert is None and reason in ("SSLV3_ALERT_HANDSHAKE_FAILURE", "EOF")
    ):
        return (
            "the broker requires a client certificate and this box sent none",
            "set mqtt.cert_file and mqtt.key_file to this box's certificate and key",
        )
    if reason == "TLSV1_ALERT_UNKNOWN_CA":
        return (
            f"the broker does not trust this box's {ours}{issued}: it does not know that CA",
            "use a certificate issued by the CA the broker trusts (the mall's CA)",
        )
    if reason in _CERT_ALERTS:
        return (
            f"the broker refused this box's {ours}{issued}: {_CERT_ALERTS[reason]}",
            "ask the broker's administrator for a valid certificate for this box",
        )
    if reason in ("WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE"):
        return (
            "the broker's port does not speak TLS",
            "use mqtt:// for this port, or the broker's TLS port (usually 8883)",
        )
    if reason == "EOF":
        return (
            f"the broker closed the connection during the TLS handshake (this box sent {ours})",
            "the broker probably refused the client certificate: check its log, and that"
            " mqtt.cert_file was issued by the CA it trusts",
        )
    return (
        f"the TLS handshake failed ({reason or 'no reason given'}; this box sent {ours})",
        "show this message to the broker's administrator",
    )


_CERT_ALERTS = {
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "it has expired (or the broker's clock is wrong)",
    "SSLV3_ALERT_CERTIFICATE_REVOKED": "it has been revoked",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the broker considers it invalid",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "the broker could not accept it",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": "it is not meant for client authentication",
    "TLSV1_ALERT_ACCESS_DENIED": "access denied",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "the broker ended the handshake",
}
