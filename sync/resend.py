"""The ``resend`` command: publish batches ``from_seq..to_seq`` again, from the database.

The platform asks when it saw a gap in ``seq``. The box remembers what each
acknowledged batch carried (``sent_batches``) for ``mqtt.resend_window_s`` /
``mqtt.resend_window_batches``, and re-reads those records from the ``records``
table while local retention keeps them. A re-sent batch gets a new seq (a seq
is never reused) and all its records carry ``historical: true``; the records
keep their ids, so the platform's de-duplication absorbs what it already had.

A job is planned at once (so a range outside the window is refused at once) and
published batch by batch as the in-flight window has room; the reply, listing
old and new seqs, goes out when the job's last batch has been published. A
re-sent batch lost with a connection is not sent a third time on its own: the
platform sees its new seq missing and can ask again. Re-sent batches are not
held by the platform gate: the platform asking is the platform listening.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from edge.messages import ResendArgs
from edge.store import Store
from edge.store.uplink import SentBatch, resend_window, sent_batches
from sync.commands import CommandError, Request

__all__ = ["MAX_RESEND_BATCHES", "ResendJob", "plan_resend"]

MAX_RESEND_BATCHES = 1000  # per command, and queued at once: the memory and time a job takes
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


def _window_text(window: tuple[int, int] | None) -> str:
    if window is None:
        return "this box remembers no sent batch yet (none acknowledged, or all pruned)"
    return (
        f"this box can resend batches {window[0]}..{window[1]}"
        " (mqtt.resend_window_s and mqtt.resend_window_batches)"
    )


def plan_resend(store: Store, request: Request, last_seq: int, queued: int) -> ResendJob:
    """The job for a validated ``resend``; ``CommandError`` when it cannot be done."""
    args = request.args
    if not isinstance(args, ResendArgs):  # the command table guarantees it
        raise CommandError("resend needs from_seq and to_seq")
    first, last = args.from_seq, args.to_seq
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
