"""Data nobody took: a PUBACK "No matching subscribers" is not delivery.

MQTT 5 lets a broker answer a QoS 1 PUBLISH with reason 0x10 "No matching
subscribers": it accepted the message and gave it to nobody, so it is gone.
Deleting the batch's rows then would lose them (no platform consumer was
subscribed, or its session had expired). So such a batch keeps its rows in the
outbox, and the agent holds further data batches: after a back-off it sends one
batch again (the first one held, under its own seq and batch id, since nobody
received it: a batch published again keeps its seq, ``edge.messages.SEQ_TEXT``),
and only when a batch is taken does the data flow again.

The hold is for all data, not per topic: a consumer that subscribes to some
kinds only still gets nothing new until the others are taken too, which keeps
the outbox in order and the log's message simple (subscribe to ``data/+``).
"""

from __future__ import annotations

import logging
from collections import deque

from edge.runtime.backoff import Backoff
from sync.envelope import Envelope

__all__ = ["NO_MATCHING_SUBSCRIBERS", "Untaken"]

log = logging.getLogger("mallsense.sync")

NO_MATCHING_SUBSCRIBERS = 0x10
"""PUBACK reason code: accepted, but no subscription matched the topic."""


class Untaken:
    """Batches answered "no matching subscribers", and when to try again."""

    def __init__(self, initial_s: float, maximum_s: float) -> None:
        # Full jitter, as the reconnects: many boxes wait for the same consumer.
        self.backoff = Backoff(initial_s, maximum_s, jitter="full")
        self.held: deque[Envelope] = deque()
        """Batches nobody took on this connection, oldest first (their rows are kept)."""
        self.retry_at: float | None = None
        """Monotonic time of the next try while holding; None while data flows."""
        self.topic: str | None = None
        """The last topic nobody was subscribed to."""
        self.count = 0
        """Batches answered "no matching subscribers", this run."""
        self.rounds = 0
        """Tries that found nobody since data last flowed (1: the hold just started)."""

    @property
    def holding(self) -> bool:
        return self.retry_at is not None

    @property
    def busy(self) -> bool:
        """Holding, or held batches still to send again: the outbox is not drained."""
        return self.retry_at is not None or bool(self.held)

    def may_send(self, in_flight: int, now: float) -> bool:
        """Whether a data batch may go out: always while data flows; while holding, one
        batch at a time once the back-off has passed (a probe for a consumer)."""
        if self.retry_at is None:
            return True
        return now >= self.retry_at and in_flight == 0

    def untaken(self, envelope: Envelope, topic: str, now: float) -> float | None:
        """A data batch nobody took: keep it for a retry.

        Returns the delay when this starts a new wait (the caller logs it), None
        when it is one more answer of the same round (batches already in flight).
        """
        self.count += 1
        self.topic = topic
        if envelope.row_ids:  # a batch re-sent by `resend` has no rows of its own
            # A probe that found nobody goes back to the front: the outbox's order holds.
            self.held = deque(sorted([*self.held, envelope], key=lambda e: e.seq))
        if self.retry_at is not None and now < self.retry_at:
            return None
        delay = max(self.backoff.initial, self.backoff.next_delay())
        self.retry_at = now + delay
        self.rounds += 1
        return delay

    def taken(self) -> bool:
        """A data batch was delivered; True if that ends a hold."""
        ended = self.retry_at is not None
        self.retry_at = None
        self.rounds = 0
        self.backoff.reset()
        return ended

    def next_held(self) -> Envelope | None:
        """The oldest held batch, to publish again (None when there is none)."""
        return self.held.popleft() if self.held else None

    def forget(self) -> list[Envelope]:
        """The connection is gone: hand the held batches to the window, which publishes
        them again first, each under its own seq (a hold in force stays in force)."""
        held = list(self.held)
        self.held.clear()
        return held

    def reason(self) -> str:
        """Why nothing received the last batch, in words."""
        return f"no platform consumer is subscribed to {self.topic}"

    def held_words(self) -> str:
        """Why data is held, for ``status`` and ``doctor``."""
        return f"{self.reason()}; data batches held, retried with back-off"
