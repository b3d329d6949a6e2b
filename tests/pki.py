"""A throwaway public-key infrastructure for the security tests, made with the openssl command.

The ``cryptography`` package is not a dependency of mallsense, and the openssl command is
what a mall's IT department uses anyway, so the certificates here are made the same way a
technician would make them. EC P-256 keys keep generation to a few milliseconds each.

Every certificate is issued with ``openssl ca`` so that validity dates can be set
explicitly (``x509 -req`` in OpenSSL 3.0 cannot back-date, and an expired certificate is
one of the failures `mallsense sync check` must explain).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["SHIPPED_BROKER", "Authority", "Identity", "Pki", "shipped_broker_config"]

_EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
_CA_CONFIG = """\
[ca]
default_ca = this_ca
[this_ca]
database = {dir}/index.txt
new_certs_dir = {dir}
serial = {dir}/serial
default_md = sha256
policy = any_name
unique_subject = no
[any_name]
commonName = supplied
"""


@dataclass(frozen=True, slots=True)
class Identity:
    """A certificate and its private key (PEM files)."""

    name: str
    cert: Path
    key: Path


@dataclass(frozen=True, slots=True)
class Authority:
    """A certificate authority: its own identity plus the ``openssl ca`` bookkeeping."""

    identity: Identity
    config: Path

    @property
    def cert(self) -> Path:
        return self.identity.cert


class Pki:
    """Makes CAs and the server and client certificates they sign, under one directory."""

    def __init__(self, directory: Path) -> None:
        if shutil.which("openssl") is None:
            pytest.skip("the openssl command is not installed")
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def _openssl(self, *args: str | Path) -> None:
        result = subprocess.run(
            ["openssl", *map(str, args)],
            cwd=self.directory,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(map(str, args))} failed:\n{result.stderr}")

    def authority(self, name: str) -> Authority:
        """A self-signed CA whose certificate's common name is ``name``."""
        key, cert = self.directory / f"{name}.key", self.directory / f"{name}.crt"
        constraints = ["-addext", "basicConstraints=critical,CA:TRUE"]
        usage = ["-addext", "keyUsage=critical,keyCertSign,cRLSign"]
        self._openssl(
            "req", "-x509", *_EC_KEY, "-keyout", key, "-out", cert, "-subj", f"/CN={name}",
            "-days", "90", *constraints, *usage,
        )  # fmt: skip
        books = self.directory / f"{name}.books"
        books.mkdir()
        (books / "index.txt").write_text("", encoding="utf-8")
        (books / "serial").write_text("1000\n", encoding="utf-8")
        config = self.directory / f"{name}.cnf"
        config.write_text(_CA_CONFIG.format(dir=books), encoding="utf-8")
        return Authority(Identity(name, cert, key), config)

    def server(
        self,
        ca: Authority,
        name: str,
        *,
        dns: tuple[str, ...] = (),
        ips: tuple[str, ...] = (),
        dates: tuple[str, str] | None = None,
    ) -> Identity:
        """A broker certificate valid for these DNS names and IP addresses (subjectAltName)."""
        alt = [f"DNS:{d}" for d in dns] + [f"IP:{i}" for i in ips]
        extensions = ["extendedKeyUsage=serverAuth"]
        if alt:
            extensions.append(f"subjectAltName={','.join(alt)}")
        return self._issue(ca, name, extensions, dates, None)

    def client(self, ca: Authority, name: str, *, cn: str | None = None) -> Identity:
        """A client certificate whose common name is ``cn`` (default ``name``): the box id,
        which mosquitto's ``use_identity_as_username`` makes the user name."""
        return self._issue(ca, name, ["extendedKeyUsage=clientAuth"], None, cn)

    def _issue(
        self,
        ca: Authority,
        name: str,
        extensions: list[str],
        dates: tuple[str, str] | None,
        cn: str | None,
    ) -> Identity:
        key, csr = self.directory / f"{name}.key", self.directory / f"{name}.csr"
        cert, ext = self.directory / f"{name}.crt", self.directory / f"{name}.ext"
        self._openssl("req", *_EC_KEY, "-keyout", key, "-out", csr, "-subj", f"/CN={cn or name}")
        ext.write_text("\n".join(["basicConstraints=CA:FALSE", *extensions]) + "\n", "utf-8")
        validity = (
            ["-days", "90"] if dates is None else ["-startdate", dates[0], "-enddate", dates[1]]
        )
        self._openssl(
            "ca", "-batch", "-notext", "-config", ca.config, "-cert", ca.cert,
            "-keyfile", ca.identity.key, "-in", csr, "-out", cert, "-extfile", ext, *validity,
        )  # fmt: skip
        return Identity(name, cert, key)


SHIPPED_BROKER = Path(__file__).resolve().parent.parent / "docs" / "broker"
"""The broker configuration and ACL the project ships (``docs/broker/``)."""


def shipped_broker_config(ca: Authority, server: Identity, acl: Path | None = None) -> str:
    """``docs/broker/mosquitto.conf`` for a test broker: its settings as shipped, with this
    PKI's files and ``acl`` (default: the shipped ACL file) in place of the paths.

    The ``listener`` line is left out: the test broker has its own loopback listener, and
    the settings that follow apply to it.
    """
    paths = {
        "cafile": ca.cert,
        "certfile": server.cert,
        "keyfile": server.key,
        "acl_file": acl or SHIPPED_BROKER / "mallsense.acl",
    }
    lines = []
    for line in (SHIPPED_BROKER / "mosquitto.conf").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        if key == "listener":
            continue
        lines.append(f"{key} {paths.get(key, value)}")
    return "\n".join(lines) + "\n"
