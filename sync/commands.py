"""Commands from the platform: ``cmd/<name>`` in, ``cmd/<name>/reply`` out.

Everything that arrives on one of this box's command topics gets exactly one
answer, unless it arrives faster than the rate limit allows even for refusals:
an unknown name, a payload that is not JSON or not a ``CommandRequest``, wrong
arguments and a rate-limited command get an error reply saying what was wrong,
so the platform's operator is never left guessing. A handler's exception becomes
an error reply too; nothing a command does can stop the uplink.

Size and nesting depth are checked before the JSON parser runs
(``sync.payload_limits``): a payload of nested brackets once ended the agent with
``RecursionError``. Every refusal is counted in ``rejected`` by kind.

This module only parses, limits and answers; what each command does is the
agent's (``sync.control``), run on the agent's thread (the SQLite rule).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from edge.errors import MallsenseError
from edge.messages import COMMANDS, CommandReply, CommandRequest, ResendArgs
from sync.envelope import TOPIC_ROOT, reply_topic
from sync.payload_limits import MAX_COMMAND_BYTES, PayloadRejected, loads_limited

__all__ = [
    "ARGUMENTS",
    "MAX_COMMAND_BYTES",
    "CommandError",
    "Commands",
    "Handler",
    "NoArgs",
    "Reply",
    "Request",
    "TokenBucket",
    "explain_validation",
]

log = logging.getLogger("mallsense.sync")

_SHOWN_PROBLEMS = 5  # validation problems named in an error reply
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class NoArgs(BaseModel):
    """Arguments of a command that takes none: ``args`` must be ``{}`` or left out."""

    model_config = ConfigDict(extra="forbid", frozen=True)


ARGUMENTS: dict[str, type[BaseModel]] = {
    "ping": NoArgs,
    "status": NoArgs,
    "config": NoArgs,
    "resend": ResendArgs,
}
if set(ARGUMENTS) != set(COMMANDS):  # pragma: no cover - caught by any test run
    raise ImportError("sync.commands.ARGUMENTS must name every command of edge.messages")


class CommandError(MallsenseError):
    """A command that cannot be done as asked; the message becomes the error reply."""


@dataclass(frozen=True, slots=True)
class Request:
    """A parsed, validated command."""

    name: str
    id: str
    args: BaseModel
    correlation_data: bytes | None


@dataclass(frozen=True, slots=True)
class Reply:
    """One reply to publish (QoS 1, not retained)."""

    topic: str
    payload: bytes
    correlation_data: bytes | None


Handler = Callable[[Request], dict[str, Any] | None]
"""Runs a command; returns the result, or None when it answers later (``resend``)."""


class TokenBucket:
    """``rate_per_min`` tokens a minute, at most ``rate_per_min`` saved up (the burst)."""

    def __init__(self, rate_per_min: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(rate_per_min)
        self.per_s = rate_per_min / 60.0
        self.tokens = self.capacity
        self.clock = clock
        self.updated = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.per_s)
        self.updated = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


def explain_validation(exc: ValidationError, prefix: str = "") -> str:
    """A pydantic error in words: ``args.from_seq: Input should be ... (got 0)``."""
    problems = []
    errors = exc.errors()
    for error in errors[:_SHOWN_PROBLEMS]:
        where = (prefix + ".".join(str(part) for part in error["loc"]))[:60]
        shown = json.dumps(error["input"], default=repr)[:60]
        got = "" if error["type"] == "missing" else f" (got {shown})"
        problems.append(f"{where or 'payload'}: {error['msg']}{got}")
    if len(errors) > _SHOWN_PROBLEMS:  # a reply must not be bigger than the request
        problems.append(f"and {len(errors) - _SHOWN_PROBLEMS} more")
    return "; ".join(problems)


def _one_line(text: str) -> str:
    """``text`` with control characters shown escaped: a reply's error is one line."""
    return _CONTROL.sub(lambda m: json.dumps(m.group())[1:-1], text)


def _loads(payload: bytes) -> object:
    """The parsed payload, or None when it is too large, too deep or not JSON."""
    try:
        return loads_limited(payload, max_bytes=MAX_COMMAND_BYTES)
    except PayloadRejected:
        return None


def _readable_id(payload: object) -> str | None:
    """The request id to echo in an error reply, if one can be read at all."""
    if isinstance(payload, dict):
        rid = payload.get("id")
        if isinstance(rid, str) and 1 <= len(rid) <= 64:
            return rid
    return None


class Commands:
    """Accepts this box's commands, rate-limits them and produces their replies."""

    def __init__(
        self,
        mall: str,
        box: str,
        rate_per_min: int,
        handlers: dict[str, Handler],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mall = mall
        self.box = box
        self.prefix = f"{TOPIC_ROOT}/{mall}/{box}/cmd/"
        self.rate_per_min = rate_per_min
        self.handlers = handlers
        self._accepted = TokenBucket(rate_per_min, clock)
        # Refusals are answered too, but a flood must not become a flood of replies.
        self._refusals = TokenBucket(rate_per_min, clock)
        self.rejected: Counter[str] = Counter()
        """Refused commands by kind (``too_large``, ``too_deep``, ``not_json``, ...)."""

    def name_of(self, topic: str) -> str | None:
        """The command name if ``topic`` is one of this box's command topics."""
        if not topic.startswith(self.prefix):
            return None
        name = topic[len(self.prefix) :]
        return name if name and "/" not in name else None

    def handle(self, topic: str, payload: bytes, correlation_data: bytes | None) -> Reply | None:
        """The reply to a message on a command topic (None: no reply now, or none at all).

        Never raises: whatever arrives, the uplink goes on.
        """
        try:
            return self._handle(topic, payload, correlation_data)
        except Exception as exc:  # a bug must not stop the uplink; the sender hears of it
            self.rejected["internal"] += 1
            log.error("a message on %s could not be handled (%s); ignored it", topic, exc)
            name = self.name_of(topic)
            if name is None:
                return None
            return self._error(name, None, correlation_data, f"internal error: {exc}")

    def _handle(self, topic: str, payload: bytes, correlation_data: bytes | None) -> Reply | None:
        name = self.name_of(topic)
        if name is None:
            # The subscription is this box's cmd/+ only; anything else is never executed.
            log.warning("ignored a message on %s: not a command topic of this box", topic)
            return None
        if not self._accepted.take():
            self.rejected["rate_limited"] += 1
            if not self._refusals.take():
                return None
            log.warning("refused command %s: more than %d a minute", name, self.rate_per_min)
            rid = _readable_id(_loads(payload))
            return self._error(name, rid, correlation_data, self._rate_limited())
        request = self._parse(name, payload, correlation_data)
        if isinstance(request, Reply):
            return request
        return self._run(request)

    def reply(self, request: Request, result: dict[str, Any]) -> Reply:
        """A successful reply (also for handlers that answer later)."""
        body = CommandReply(id=request.id, command=request.name, ok=True, result=result)
        return self._reply(request.name, body, request.correlation_data)

    def error(self, request: Request, error: str) -> Reply:
        return self._error(request.name, request.id, request.correlation_data, error)

    def _rate_limited(self) -> str:
        return (
            f"rate limited: this box accepts at most {self.rate_per_min} commands a minute"
            " (mqtt.command_rate_per_min); try again later"
        )

    def _parse(self, name: str, payload: bytes, correlation: bytes | None) -> Request | Reply:
        try:
            data = loads_limited(payload, max_bytes=MAX_COMMAND_BYTES)
        except PayloadRejected as exc:  # size and depth are checked before parsing
            return self._refuse(exc.kind, name, None, correlation, str(exc))
        rid = _readable_id(data)
        if name not in self.handlers:
            known = ", ".join(self.handlers)
            why = f"unknown command {name!r}; known: {known}"
            return self._refuse("unknown", name, rid, correlation, why)
        try:
            request = CommandRequest.model_validate(data)
        except ValidationError as exc:
            why = f"not a command request: {explain_validation(exc)}"
            return self._refuse("invalid", name, rid, correlation, why)
        try:
            args = ARGUMENTS[name].model_validate(request.args)
        except ValidationError as exc:
            why = f"invalid arguments: {explain_validation(exc, 'args.')}"
            return self._refuse("invalid", name, rid, correlation, why)
        return Request(name, request.id, args, correlation)

    def _refuse(
        self, kind: str, name: str, rid: str | None, correlation: bytes | None, why: str
    ) -> Reply:
        self.rejected[kind] += 1
        return self._error(name, rid, correlation, why)

    def _run(self, request: Request) -> Reply | None:
        try:
            result = self.handlers[request.name](request)
        except CommandError as exc:
            return self.error(request, str(exc))
        except Exception as exc:  # a bug or a database failure must not stop the uplink
            log.exception("command %s (id %s) failed", request.name, request.id)
            return self.error(request, f"internal error: {exc}")
        if result is None:
            return None
        return self.reply(request, result)

    def _error(self, name: str, rid: str | None, correlation: bytes | None, why: str) -> Reply:
        why = _one_line(why)
        log.info("command %s (id %s) refused: %s", name, rid, why)
        body = CommandReply(id=rid, command=name, ok=False, error=why)
        return self._reply(name, body, correlation)

    def _reply(self, name: str, body: CommandReply, correlation: bytes | None) -> Reply:
        payload = body.model_dump_json(by_alias=True).encode()
        return Reply(reply_topic(self.mall, self.box, name), payload, correlation)
