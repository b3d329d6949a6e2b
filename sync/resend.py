"""The ``resend`` command: publish batches ``from_seq..to_seq`` again, from the database.

The platform asks when it saw a gap in ``seq``. The box remembers what each
acknowledged batch carried (``sent_batches``) for ``mqtt.resend_window_s`` /
``mqtt.resend_window_batches``, and re-reads those records from the ``records``
table while local retention keeps them. A re-sent batch keeps its seq (one
meaning of seq, ``edge.messages.SEQ_TEXT``: the platform fills the gap it saw
with exactly that seq), gets a new batch id, and all its records carry
``historical: true``; the records keep their ids, so the platform's
de-duplication absorbs what it already had. A re-sent batch holds the records of
the original still stored: fewer when local retention removed some.

The seqs are those of the box's current stream (its database): a platform that
saw a gap in an earlier stream (a replaced database) cannot get it back, and the
window check refuses it as outside.

A job is planned at once (so a range outside the window is refused at once) and
published batch by batch as the in-flight window has room; the reply, listing
each re-sent seq (``new_seq`` is the same seq, kept for readers of the 1.0
reply), goes out when the job's last batch has been published. A re-sent batch
lost with a connection is not sent a third time on its own: the platform still
misses that seq and can ask again. Re-sent batches are not
held by the platform gate: the platform asking is the platform listening.

A small command can ask for a lot of data (40 two-kilobyte requests once made a
box publish 70 MB in 26 s), so resending has a budget per rolling window
(``ResendBudget``): at most ``RESEND_BUDGET_BATCHES`` batches and
``RESEND_BUDGET_BYTES`` bytes every ``RESEND_BUDGET_WINDOW_S``. A request that
does not fit is refused saying when it may be asked again; a job that runs out of
bytes on the way skips the rest with that same advice. A batch is charged before it
is published, at its exact size, so the budget is never overshot.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from edge.messages import ResendArgs
from edge.store import Store
from edge.store.uplink import SentBatch, resend_window, sent_batches, stream_id
from sync.commands import CommandError, Request
from sync.envelope import iso_utc

__all__ = [
    "MAX_RESEND_BATCHES",
    "RESEND_BUDGET_BATCHES",
    "RESEND_BUDGET_BYTES",
    "RESEND_BUDGET_WINDOW_S",
    "ResendBudget",
    "ResendJob",
    "plan_resend",
]

MAX_RESEND_BATCHES = 1000  # per command, and queued at once: the memory and time a job takes
RESEND_BUDGET_WINDOW_S = 600.0
RESEND_BUDGET_BATCHES = 500
"""Batches re-sent per window: a lost hour of a busy box is well under it, in one ask."""
RESEND_BUDGET_BYTES = 16 * 1024 * 1024
"""Bytes re-sent per window: about 27 kB/s at most on average, whatever is asked."""
_NOT_ACKNOWLEDGED = (
    "never acknowledged by the broker (lost with a connection, refused, or still in flight):"
    " its records went, or go, in another batch"
)


@dataclass
class ResendJob:
    """One ``resend`` command being carried out."""

    request: Request
    args: ResendArgs
    batches: deque[SentBatch]
    resent: list[dict[str, int]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def result(self) -> dict[str, Any]:
        """The reply's ``result``: what went out again under which seq, and what did not."""
        return {
            "from_seq": self.args.from_seq,
            "to_seq": self.args.to_seq,
            "resent": self.resent,
            "skipped": self.skipped,
        }


class ResendBudget:
    """What resending may still cost in the rolling window: batches and bytes.

    ``clock`` is wall time (the agent's clock), so that "ask again after" is a time
    the platform can act on.
    """

    def __init__(
        self,
        window_s: float | None = None,
        max_batches: int | None = None,
        max_bytes: int | None = None,
    ) -> None:
        # The module's values are read here, not bound as defaults, so that they stay the
        # one place to change (and to shrink in a test).
        self.window_s = RESEND_BUDGET_WINDOW_S if window_s is None else window_s
        self.max_batches = RESEND_BUDGET_BATCHES if max_batches is None else max_batches
        self.max_bytes = RESEND_BUDGET_BYTES if max_bytes is None else max_bytes
        self.spent: deque[tuple[float, int]] = deque()  # (when, bytes) per re-sent batch
        self.refused = 0
        """Requests refused and batches skipped for the budget (a counter)."""

    def _forget(self, now: float) -> None:
        while self.spent and self.spent[0][0] <= now - self.window_s:
            self.spent.popleft()

    def used(self, now: float) -> tuple[int, int]:
        """(batches, bytes) re-sent in the window ending at ``now``."""
        self._forget(now)
        return len(self.spent), sum(size for _, size in self.spent)

    def admit(self, count: int, queued: int, now: float) -> None:
        """Raise ``CommandError`` unless ``count`` more batches fit (``queued`` wait already)."""
        if count > self.max_batches:
            self.refused += 1
            raise CommandError(
                f"{count} batches asked; at most {self.max_batches} are re-sent per"
                f" {self.window_s:g} s, ask in parts"
            )
        batches, size = self.used(now)
        if batches + queued + count <= self.max_batches and size < self.max_bytes:
            return
        self.refused += 1
        when = self._room_at(
            batches + queued + count - self.max_batches, size - self.max_bytes + 1, now
        )
        raise CommandError(f"{self.spent_text(batches, size)}; {self.again_text(when, now)}")

    def fits(self, size: int, now: float) -> bool:
        """True if a batch of ``size`` bytes may go out now (then ``charge`` it)."""
        batches, used = self.used(now)
        return batches < self.max_batches and used + size <= self.max_bytes

    def charge(self, size: int, now: float) -> None:
        self.spent.append((now, size))

    def skip_reason(self, size: int, now: float) -> str:
        """Why a batch of ``size`` bytes is skipped, and when to ask for it again."""
        self.refused += 1
        if size > self.max_bytes:
            return (
                f"this batch is {size} bytes, more than the whole resend budget of"
                f" {self.max_bytes} bytes per {self.window_s:g} s; it cannot be re-sent"
            )
        batches, used = self.used(now)
        extra = max(0, used + size - self.max_bytes)
        when = self._room_at(max(0, batches + 1 - self.max_batches), extra, now)
        return f"{self.spent_text(batches, used)}; {self.again_text(when, now)}"

    def spent_text(self, batches: int, size: int) -> str:
        return (
            f"resend budget spent: {batches} batches, {size} bytes re-sent in the last"
            f" {self.window_s:g} s (at most {self.max_batches} batches and {self.max_bytes}"
            " bytes)"
        )

    @staticmethod
    def again_text(when: float | None, now: float) -> str:
        if when is None:  # more is waiting than the whole budget: after the queue is sent
            return "ask again once the resends already queued are sent"
        wait = math.ceil(max(when - now, 0.0))
        return f"ask again after {iso_utc(now + wait)} (in {wait} s)"

    def _room_at(self, batches: int, size: int, now: float) -> float | None:
        """When enough of the window has expired to free ``batches`` and ``size`` bytes
        (None: expiry alone cannot free that much)."""
        if batches <= 0 and size <= 0:
            return now
        freed_batches, freed_bytes = 0, 0
        for when, spent in self.spent:
            freed_batches, freed_bytes = freed_batches + 1, freed_bytes + spent
            if freed_batches >= batches and freed_bytes >= size:
                return when + self.window_s
        return None


def _window_text(window: tuple[int, int] | None) -> str:
    if window is None:
        return "this box remembers no sent batch yet (none acknowledged, or all pruned)"
    return (
        f"this box can resend batches {window[0]}..{window[1]}"
        " (mqtt.resend_window_s and mqtt.resend_window_batches)"
    )


def plan_resend(
    store: Store,
    request: Request,
    last_seq: int,
    queued: int,
    budget: ResendBudget,
    now: float,
) -> ResendJob:
    """The job for a validated ``resend``; ``CommandError`` when it cannot be done."""
    args = request.args
    if not isinstance(args, ResendArgs):  # the command table guarantees it
        raise CommandError("resend needs from_seq and to_seq")
    first, last = args.from_seq, args.to_seq
    current = stream_id(store)
    if args.stream is not None and args.stream != current:
        raise CommandError(
            f"batches of stream {args.stream} cannot be sent again: this box's database is"
            f" stream {current} (it was replaced, or is another box's); ask for seqs of"
            f" stream {current}"
        )
    if first > last:
        raise CommandError(f"from_seq {first} is after to_seq {last}")
    count = last - first + 1
    if count > MAX_RESEND_BATCHES:
        raise CommandError(
            f"{count} batches asked; at most {MAX_RESEND_BATCHES} per resend, ask in parts"
        )
    if queued + count > MAX_RESEND_BATCHES:
        raise CommandError(
            f"busy: {queued} batches are still waiting to be sent again; try again shortly"
        )
    budget.admit(count, queued, now)
    window = resend_window(store)
    if window is None or first < window[0] or last > max(window[1], last_seq):
        raise CommandError(
            f"batches {first}..{last} are outside the window: {_window_text(window)}"
        )
    found = sent_batches(store, first, last)
    job = ResendJob(request, args, deque(found))
    known = {b.seq for b in found}
    for seq in range(first, last + 1):
        if seq not in known:
            job.skipped.append({"seq": seq, "reason": _NOT_ACKNOWLEDGED})
    return job
