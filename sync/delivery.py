"""Data batches out and their PUBACKs in: what goes next, and what an answer means.

``fill_window`` publishes while the in-flight window has room: batches the platform
asked for again, then the batches nobody took (``republish_held``), then the outbox,
while the platform's gate and the hold on untaken data let data flow.

A data batch's PUBACK (``on_ack``) says what happens to its rows:

- Success (0x00): the rows are deleted (``AgentRun._commit_acks``) and the batch is
  remembered for ``resend``.
- 0x10 "No matching subscribers": the broker gave it to nobody. The rows stay and
  further data is held until a platform consumer is there (``sync.untaken``).
- A failure code: split, quarantine or back off (``sync.quarantine``).

These run on the agent's thread, on behalf of one ``AgentRun`` (``sync.run``), which
they see through ``DeliveryRun``: what publishing and a PUBACK touch, nothing else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from edge.runtime.backoff import Backoff
from edge.runtime.metrics import LatencyHistogram
from edge.store import OutboxRow, Store
from edge.store.uplink import SentBatch, outbox_rows
from sync.control import Control
from sync.envelope import TOPIC_ROOT, Envelope, build_envelope, data_topic
from sync.link import Acked, Link
from sync.quarantine import RejectionPolicy, advice
from sync.settings import AgentSettings
from sync.untaken import NO_MATCHING_SUBSCRIBERS, Untaken
from sync.window import OutboxWindow

__all__ = [
    "HELD_KEY",
    "TAKEOVERS_KEY",
    "UNTAKEN_KEY",
    "DeliveryRun",
    "bump",
    "fill_window",
    "on_ack",
    "republish_held",
]

log = logging.getLogger("mallsense.sync")

HELD_KEY = "sync.held"
"""Store key: why data batches are held right now, in words ("" while data flows)."""
UNTAKEN_KEY = "sync.untaken_batches"
"""Store key: data batches the broker gave to nobody (PUBACK 0x10), ever."""
TAKEOVERS_KEY = "sync.takeovers"
"""Store key: times another client took this box's client id (DISCONNECT 0x8E), ever."""


class DeliveryRun(Protocol):
    """What publishing and handling a PUBACK read and change of the run they belong to.

    They change the run's state through methods (``set_held``, ``mark_broken``) or by
    adding to the lists the run hands over (``acked``, ``sent``); they never assign
    the run's fields.
    """

    @property
    def settings(self) -> AgentSettings: ...
    @property
    def clock(self) -> Callable[[], float]: ...
    @property
    def store(self) -> Store: ...
    @property
    def link(self) -> Link | None: ...
    @property
    def window(self) -> OutboxWindow: ...
    @property
    def control(self) -> Control: ...
    @property
    def untaken(self) -> Untaken: ...
    @property
    def rejections(self) -> RejectionPolicy: ...
    @property
    def backoff(self) -> Backoff: ...
    @property
    def latency(self) -> LatencyHistogram: ...
    @property
    def acked(self) -> list[int]:
        """Row ids delivered, to delete at the next commit."""

    @property
    def sent(self) -> list[SentBatch]:
        """Batches delivered, to remember for ``resend`` at the next commit."""

    def set_held(self, reason: str | None) -> None: ...
    def mark_broken(self, why: str) -> None:
        """Drop the connection after this pass of the loop (the first reason is kept)."""


def bump(store: Store, key: str) -> int:
    """Add one to a counter kept in the store's key/value table; returns the new value."""
    value = int(store.get(key, "0") or 0) + 1
    store.put(key, str(value))
    return value


def fill_window(run: DeliveryRun) -> bool:
    """Publish batches while the window has room; True if anything went out.

    Batches the platform asked for again go first and are not held by the
    platform gate: the platform asking is the platform listening.
    """
    published = False
    while (link := run.link) is not None and not run.window.full:
        again = run.control.take_resend()
        if again is not None:
            job, batch, old_rows = again
            run.control.resent(job, batch, _publish(run, link, old_rows, batch.seq))
        elif _data_may_flow(run):
            if not republish_held(run):
                rows = run.window.take()
                if rows is None:
                    break
                _publish(run, link, rows, None)
        else:
            break
        published = True
    return published


def _data_may_flow(run: DeliveryRun) -> bool:
    """The platform's gate (``sync.platform``), then the hold on data nobody took
    (``sync.untaken``): while holding, one batch at a time once its back-off passed."""
    gate = run.control.gate
    if not gate.open:
        run.set_held(
            f"waiting for platform {gate.platform_id} to say it is online on {gate.topic}"
            " (mqtt.require_platform)"
        )
        return False
    if not run.untaken.holding:
        run.set_held(None)
        return True
    run.set_held(run.untaken.held_words())
    if not run.untaken.may_send(run.window.in_flight, time.monotonic()):
        return False
    if not run.untaken.held:
        run.window.forget()  # nothing held on this link: start again at the first row
    return True


def _publish(
    run: DeliveryRun, link: Link, rows: list[OutboxRow], resent_from: int | None
) -> Envelope:
    """Number ``rows`` as a new batch (or one ``resent_from`` an old seq) and send it."""
    seq, batch_id = run.window.number(rows, resent_from)
    envelope = _send(run, link, rows, seq, batch_id, resent_from)
    if len(envelope.payload) > run.window.max_bytes:
        log.warning(
            "record %d (%s) alone is %d bytes, more than the %d-byte batch limit; sending"
            " it anyway",
            rows[0].id,
            envelope.kind,
            len(envelope.payload),
            run.window.max_bytes,
        )
    return envelope


def _send(
    run: DeliveryRun,
    link: Link,
    rows: list[OutboxRow],
    seq: int,
    batch_id: str,
    resent_from: int | None = None,
) -> Envelope:
    """Publish ``rows`` as batch ``seq`` and put it in the window until its PUBACK."""
    settings = run.settings
    envelope = build_envelope(
        settings.mall,
        settings.box,
        rows,
        seq=seq,
        batch_id=batch_id,
        now=run.clock(),
        historical_after_s=settings.mqtt.historical_after_s,
        resent_from=resent_from,
        stream=run.window.stream,
    )
    topic = data_topic(settings.mall, settings.box, envelope.kind)
    run.window.sent(link.publish(topic, envelope.payload), envelope)
    return envelope


def on_ack(run: DeliveryRun, event: Acked) -> None:
    """One PUBACK: a data batch's, or (through ``Control``) a status, telemetry or reply's."""
    envelope = run.window.acked(event.mid)
    reason = event.reason
    refusal = f"{reason} (PUBACK reason 0x{reason.value:02X})" if reason.is_failure else None
    if envelope is None:  # status, telemetry or a reply
        run.control.acked(event.mid, refusal)
    elif refusal is not None:
        _on_refusal(run, envelope, reason.value, refusal)
    elif reason.value == NO_MATCHING_SUBSCRIBERS:
        _on_untaken(run, envelope)
    else:
        _on_delivered(run, envelope)


def _on_delivered(run: DeliveryRun, envelope: Envelope) -> None:
    run.acked.extend(envelope.row_ids)
    run.latency.observe(max(run.clock() - envelope.sent_at, 0.0))
    run.sent.append(
        SentBatch(
            envelope.seq, envelope.kind, envelope.records, envelope.sent_at, envelope.resent_from
        )
    )
    run.rejections.accepted()
    run.backoff.reset()
    if run.untaken.taken():
        log.info(
            "a platform consumer took batch seq %d on %s: sending the held data again"
            " (%d batch(es) held first)",
            envelope.seq,
            data_topic(run.settings.mall, run.settings.box, envelope.kind),
            len(run.untaken.held),
        )
        run.set_held(None)


def _on_untaken(run: DeliveryRun, envelope: Envelope) -> None:
    """PUBACK 0x10: nobody received it. Keep the rows; hold data; try again later."""
    settings = run.settings
    topic = data_topic(settings.mall, settings.box, envelope.kind)
    what = f"batch seq {envelope.seq} ({len(envelope.records)} {envelope.kind} records)"
    delay = run.untaken.untaken(envelope, topic, time.monotonic())
    if envelope.resent_from is not None:
        log.warning(
            "nobody took %s, re-sent from seq %d: %s; not retried (ask again once subscribed)",
            what,
            envelope.resent_from,
            run.untaken.reason(),
        )
        return
    bump(run.store, UNTAKEN_KEY)
    if delay is None:
        return  # one more answer of the round already logged
    waiting, _oldest = run.store.outbox_depth()
    if run.untaken.rounds > 1:
        log.info(
            "still nobody took %s: %s; %d records held in the outbox; trying again in %.1f s",
            what,
            run.untaken.reason(),
            waiting,
            delay,
        )
        return
    log.warning(
        "%s answered PUBACK 0x10 'No matching subscribers' for %s: %s, so nothing received"
        " it; keeping its records in the outbox (not deleted) and holding data batches"
        " (%d records held); trying again in %.1f s. The platform's consumer must be"
        " subscribed to %s/%s/%s/data/+ (a persistent session or a shared subscription:"
        " docs/platform.md, 'Receiving without loss')",
        settings.url,
        what,
        run.untaken.reason(),
        waiting,
        delay,
        TOPIC_ROOT,
        settings.mall,
        settings.box,
    )
    run.set_held(run.untaken.held_words())


def republish_held(run: DeliveryRun) -> bool:
    """Publish the oldest held batch again, as it was numbered (nobody received it).

    Its rows are read again (retention may have removed some) and it gets a new
    ``sent_at``. Returns False when no held batch is left to send.
    """
    link = run.link
    while link is not None and (held := run.untaken.next_held()) is not None:
        rows = outbox_rows(run.store, held.row_ids)
        if not rows:
            continue
        _send(run, link, rows, held.seq, held.batch_id)
        return True
    return False


def _on_refusal(run: DeliveryRun, envelope: Envelope, code: int, refusal: str) -> None:
    url = run.settings.url
    what = f"batch seq {envelope.seq} ({len(envelope.records)} {envelope.kind} records)"
    if envelope.resent_from is not None:
        log.warning(
            "%s refused %s, re-sent from seq %d: %s; not retried (ask again)",
            url,
            what,
            envelope.resent_from,
            refusal,
        )
        return
    verdict = run.rejections.verdict(code, len(envelope.row_ids))
    if verdict == "split":
        n = run.window.split(envelope)
        log.warning(
            "%s refused %s: %s; sending its %d records again in halves to find the one(s)"
            " it refuses",
            url,
            what,
            refusal,
            n,
        )
    elif verdict == "quarantine":
        _quarantine(run, envelope, refusal)
    else:
        # Not the records' fault (access rules, a quota, a broken broker): keep the rows,
        # reconnect after a back-off rather than hammering the broker with them.
        prefix = f"{TOPIC_ROOT}/{run.settings.mall}/{run.settings.box}"
        hint = advice(code, prefix, verdict)
        run.mark_broken(f"{url} refused {what}: {refusal}; {hint}")


def _quarantine(run: DeliveryRun, envelope: Envelope, refusal: str) -> None:
    url = run.settings.url
    moved = run.window.quarantine_rows(envelope.row_ids, f"refused by {url}: {refusal}")
    log.error(
        "%s refused outbox record %s (%s) for good: %s; moved %d record(s) to the"
        " quarantine table (counted as drops.quarantined.%s), not retried",
        url,
        ", ".join(map(str, envelope.row_ids)),
        envelope.kind,
        refusal,
        moved,
        envelope.kind,
    )
