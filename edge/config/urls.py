"""Broker URLs: ``mqtt://HOST[:PORT]`` (plain, 1883) and ``mqtts://HOST[:PORT]`` (TLS, 8883).

The configuration (``mqtt.url``), ``--broker`` options and the sync agent all
parse URLs here, so one set of rules applies and the message says what is
wrong in words: the person reading it is a technician editing ``mallsense.toml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

__all__ = ["DEFAULT_PORTS", "BrokerUrl", "parse_broker_url"]

Scheme = Literal["mqtt", "mqtts"]
DEFAULT_PORTS: dict[Scheme, int] = {"mqtt": 1883, "mqtts": 8883}
_EXAMPLE = "expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT], e.g. mqtts://broker.example:8883"


@dataclass(frozen=True, slots=True)
class BrokerUrl:
    """Where the broker is and whether to speak TLS to it."""

    scheme: Scheme
    host: str
    port: int

    @property
    def tls(self) -> bool:
        return self.scheme == "mqtts"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_broker_url(url: str) -> BrokerUrl:
    """Parse a broker URL; ``ValueError`` names the URL and what is wrong with it."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError for a non-numeric or out-of-range port
    except ValueError as exc:
        raise ValueError(f"broker URL {url!r} has an invalid port ({exc}); {_EXAMPLE}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("mqtt", "mqtts"):
        got = f"scheme {parts.scheme!r}" if "://" in text else "no scheme"
        raise ValueError(f"broker URL {url!r} has {got}; {_EXAMPLE}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            f"broker URL {url!r} contains credentials; put the user in mqtt.username and the"
            " password in MALLSENSE_MQTT_PASSWORD or mqtt.password_file"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"broker URL {url!r} has a path, query or fragment; {_EXAMPLE}")
    host = parts.hostname
    if not host:
        raise ValueError(f"broker URL {url!r} has no host; {_EXAMPLE}")
    if port == 0:
        raise ValueError(f"broker URL {url!r} has port 0; {_EXAMPLE}")
    checked: Scheme = "mqtts" if scheme == "mqtts" else "mqtt"
    return BrokerUrl(checked, host, DEFAULT_PORTS[checked] if port is None else port)
