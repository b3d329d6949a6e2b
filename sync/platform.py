"""Sparkplug's primary-host rule: send data only while the platform says it is online.

The platform keeps a retained ``{"online": true|false, ...}`` on
``mallsense/v1/STATE/<platform_id>`` (its Last Will sets it false). With
``mqtt.require_platform`` the box holds data batches until that says online and
stops starting new ones when it says offline: the records wait in the outbox,
where they are safe, instead of going to a broker nobody reads. Status,
telemetry and command replies are not held (the platform's operators need them
to see why data is not flowing). Without ``require_platform`` the state is only
followed and reported.
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import ValidationError

from edge.messages import PlatformState
from sync.commands import explain_validation
from sync.envelope import platform_topic

__all__ = ["PlatformGate", "PlatformView"]

log = logging.getLogger("mallsense.sync")

PlatformView = Literal["unknown", "online", "offline"]


class PlatformGate:
    """The platform's last known state, and whether data may flow."""

    def __init__(self, platform_id: str | None, required: bool) -> None:
        self.platform_id = platform_id
        self.required = required and platform_id is not None
        self.topic = None if platform_id is None else platform_topic(platform_id)
        self.state: PlatformView = "unknown"

    @property
    def open(self) -> bool:
        """True when data batches may be published."""
        return not self.required or self.state == "online"

    def reset(self) -> None:
        """At each connection: the state is unknown until the retained STATE arrives again."""
        self.state = "unknown"
        if self.required:
            log.info(
                "holding data until platform %s says it is online on %s"
                " (mqtt.require_platform is true)",
                self.platform_id,
                self.topic,
            )

    def refused(self, reason: str) -> None:
        """The broker refused the STATE subscription: say what that means for the data."""
        held = (
            "; no data will be sent until the broker's access rules let this box read it"
            if self.required
            else ""
        )
        log.warning(
            "the broker refused the subscription to %s: %s; the platform's state is unknown%s",
            self.topic,
            reason,
            held,
        )

    def update(self, payload: bytes) -> PlatformView:
        """Fold one STATE message; logs each change in plain words."""
        new = self._parse(payload)
        if new is None or new == self.state:
            return self.state
        old, self.state = self.state, new
        self._log_change(old)
        return self.state

    def _parse(self, payload: bytes) -> PlatformView | None:
        if not payload:
            return "unknown"  # the retained STATE was cleared
        try:
            return "online" if PlatformState.model_validate_json(payload).online else "offline"
        except ValidationError as exc:
            log.warning(
                "ignored an unreadable platform state on %s (%s); keeping %s",
                self.topic,
                explain_validation(exc),
                self.state,
            )
            return None

    def _log_change(self, old: PlatformView) -> None:
        name = self.platform_id
        if self.state == "online":
            tail = ": sending data" if self.required else ""
            log.info("platform %s is online%s", name, tail)
        elif self.state == "offline":
            tail = (
                "; holding new data batches until it is back (batches already sent complete)"
                if self.required
                else ""
            )
            log.warning("platform %s went offline%s", name, tail)
        else:
            tail = "; holding new data batches" if self.required else ""
            log.warning("platform %s cleared its state (was %s)%s", name, old, tail)
