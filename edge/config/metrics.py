"""The ``[metrics]`` section: an optional Prometheus endpoint per daemon, on loopback.

The endpoint says how busy the box is (frames, records, drops, backlog); it is not
meant for the mall's network, so an address other than loopback is refused unless
``allow_remote`` says so on purpose.
"""

from __future__ import annotations

import ipaddress
from typing import NamedTuple, Self

from pydantic import Field, field_validator, model_validator

from edge.config.base import Strict

__all__ = ["ListenAddress", "MetricsConfig", "parse_listen"]


class ListenAddress(NamedTuple):
    host: str
    port: int

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:  # a host name: it may resolve anywhere
            return False

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_listen(value: str) -> ListenAddress:
    """``HOST:PORT`` or ``[IPV6]:PORT`` -> (host, port); ValueError in words."""
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError("expected an IPv6 address in brackets, e.g. [::1]:9477")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("expected HOST:PORT with a port from 1 to 65535, e.g. 127.0.0.1:9477")
    return ListenAddress(host, int(port))


class MetricsConfig(Strict):
    """Prometheus metrics over HTTP (``/metrics``), one endpoint per daemon.

    The default ports (9477, 9478) are not the default of an exporter a box is likely
    to run beside us: not node_exporter's 9100, nor OpenTelemetry's Prometheus
    exporter's 9464 (which this box used before)."""

    enabled: bool = Field(False, description="Serve the metrics endpoints.")
    listen: str = Field(
        "127.0.0.1:9477",
        description="HOST:PORT of the edge daemon's endpoint (mallsense run).",
    )
    sync_listen: str = Field(
        "127.0.0.1:9478",
        description="HOST:PORT of the sync daemon's endpoint (mallsense sync).",
    )
    allow_remote: bool = Field(
        False,
        description="Allow addresses other than loopback. The endpoints have no"
        " authentication: put them behind a firewall or a TLS proxy.",
    )

    @field_validator("listen", "sync_listen")
    @classmethod
    def _address(cls, value: str) -> str:
        parse_listen(value)
        return value

    @model_validator(mode="after")
    def _loopback_unless_allowed(self) -> Self:
        for key in ("listen", "sync_listen"):
            address = parse_listen(getattr(self, key))
            if not address.loopback and not self.allow_remote:
                raise ValueError(
                    f"metrics.{key} (got {str(address)!r}): expected a loopback address"
                    " (127.0.0.1, [::1] or localhost); set metrics.allow_remote = true to"
                    " serve the unauthenticated endpoint to the network on purpose"
                )
        if parse_listen(self.listen).port == parse_listen(self.sync_listen).port:
            raise ValueError(
                f"metrics.sync_listen (got {self.sync_listen!r}): expected another port than"
                f" metrics.listen ({self.listen!r}); the two daemons serve one endpoint each"
            )
        return self
