"""The broker: reached with TLS and the box's credentials, as ``mallsense sync check`` does it.

The steps (DNS, TCP, TLS, MQTT CONNECT, SUBSCRIBE to the box's ``cmd/+``, a QoS 1
test message to its ``check`` topic) are ``sync.check``'s; here they become one
line: the first failed step, in its own words and with its advice, or a pass.
A broker reached without TLS is a warning, and so is data the sync agent holds
(no platform consumer subscribed, or the platform not online: read from the
database, where the agent says why). ``sync`` is imported inside the check (the
edge side of the box does not need paho).
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from edge.config import Config
from edge.config.secrets import mqtt_password
from edge.doctor.host import Host, credential_file
from edge.doctor.result import Check
from edge.errors import MallsenseError, SecretError
from edge.store import Store

if TYPE_CHECKING:
    from sync.check import Step

__all__ = ["check_broker"]

_PASSWORD_CREDENTIAL = "mqtt-password"
_HELD_FIX = (
    "nothing is lost: the records wait in the outbox. Start the platform's consumer (its"
    " retained online state on mallsense/v1/STATE/<platform_id>, and a subscription to every"
    " box's data/+ with a persistent session or a shared subscription: docs/platform.md,"
    " 'Receiving without loss')"
)
_STEP_WORDS = {
    "dns": "name lookup",
    "tcp": "connection",
    "tls": "TLS",
    "mqtt": "MQTT login",
    "subscribe": "subscription",
    "publish": "test publish",
}


def check_broker(config: Config, host: Host) -> Check:
    """Connect, log in, subscribe and publish as the sync agent would."""
    from sync.check import CheckTarget, run_checks

    try:
        password = _password(config, host)
    except SecretError as exc:
        fix = "check the password file: it must exist and be readable (`sudo mallsense doctor`)"
        return Check("broker", "fail", str(exc), fix)
    try:
        target = CheckTarget.from_config(
            config.mall, config.box, config.mqtt, password, host.timeout_s
        )
    except ValueError as exc:  # validated with the configuration; kept for safety
        return Check("broker", "fail", f"mqtt.url: {exc}", "correct mqtt.url")
    steps = list(run_checks(target))
    facts = {"url": config.mqtt.url, "steps": [step.as_dict() for step in steps]}
    failed = next((step for step in steps if step.status == "fail"), None)
    if failed is not None:
        detail = f"{config.mqtt.url}: {_STEP_WORDS[failed.name]} failed: {failed.summary}"
        fix = failed.advice or "run `mallsense sync check` for each step in detail"
        return Check("broker", "fail", detail, fix, facts)
    tls = next(step for step in steps if step.name == "tls")
    who = _who(config, password)
    if tls.status == "skip":
        detail = f"{config.mqtt.url}: {who} logged in, subscribed and published, without TLS"
        return Check("broker", "warn", detail, tls.advice, facts)
    detail = f"{config.mqtt.url}: {_tls_words(steps)}; {who} logged in, subscribed and published"
    held = _held(config)
    if held is not None:
        facts["held"] = held
        return Check("broker", "warn", f"{detail}; but data is held: {held}", _HELD_FIX, facts)
    advice = _advice(steps)  # e.g. the broker's certificate expires soon
    return Check("broker", "warn" if advice else "pass", detail, advice, facts)


def _held(config: Config) -> str | None:
    """Why the sync agent last held data batches (with the records waiting), if it did."""
    try:
        with Store(config.store.path, readonly=True) as store:
            reason = store.get("sync.held")
            depth, _oldest = store.outbox_depth()
    except (MallsenseError, sqlite3.Error, OSError):
        return None  # no database yet, or one the storage check reports
    return f"{reason} ({depth:,} records kept in the outbox)" if reason else None


def _password(config: Config, host: Host) -> str | None:
    """The password the sync service gets: its environment, then the credential the unit loads."""
    password = mqtt_password(config)
    if password is not None or config.mqtt.username is None:
        return password
    try:
        path = credential_file(host, _PASSWORD_CREDENTIAL)
    except PermissionError:
        return None  # the broker's refusal says a password is missing; sudo finds it
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SecretError(f"cannot read the broker password from {path}: {exc.strerror}") from exc


def _who(config: Config, password: str | None) -> str:
    if config.mqtt.username is not None:
        with_password = "with a password" if password is not None else "without a password"
        return f"user '{config.mqtt.username}' ({with_password})"
    if config.mqtt.cert_file is not None:
        return "this box's client certificate"
    return "an anonymous client"


def _tls_words(steps: list[Step]) -> str:
    tls = next(step for step in steps if step.name == "tls")
    version = tls.facts.get("version") or "TLS"
    return f"{version}, the broker's certificate verified"


def _advice(steps: list[Step]) -> str | None:
    """A passing step's advice (a broker certificate that expires soon)."""
    return next((step.advice for step in steps if step.advice), None)
