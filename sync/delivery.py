"""What a data batch's PUBACK means for its rows: delivered, nobody took it, or refused.

- Success (0x00): the rows are deleted (``AgentRun._commit_acks``) and the batch is
  remembered for ``resend``.
- 0x10 "No matching subscribers": the broker gave it to nobody. The rows stay and
  further data is held until a platform consumer is there (``sync.untaken``).
- A failure code: split, quarantine or back off (``sync.quarantine``).

These run on the agent's thread, on behalf of one ``AgentRun`` (``sync.run``).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from edge.store import Store
from edge.store.uplink import SentBatch, outbox_rows
from sync.envelope import TOPIC_ROOT, Envelope, build_envelope, data_topic
from sync.link import Acked
from sync.quarantine import advice
from sync.untaken import NO_MATCHING_SUBSCRIBERS

if TYPE_CHECKING:
    from sync.run import AgentRun

__all__ = ["HELD_KEY", "TAKEOVERS_KEY", "UNTAKEN_KEY", "bump", "on_ack", "republish_held"]

log = logging.getLogger("mallsense.sync")

HELD_KEY = "sync.held"
"""Store key: why data batches are held right now, in words ("" while data flows)."""
UNTAKEN_KEY = "sync.untaken_batches"
"""Store key: data batches the broker gave to nobody (PUBACK 0x10), ever."""
TAKEOVERS_KEY = "sync.takeovers"
"""Store key: times another client took this box's client id (DISCONNECT 0x8E), ever."""


def bump(store: Store, key: str) -> int:
    """Add one to a counter kept in the store's key/value table; returns the new value."""
    value = int(store.get(key, "0") or 0) + 1
    store.put(key, str(value))
    return value


def on_ack(run: AgentRun, event: Acked) -> None:
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


def _on_delivered(run: AgentRun, envelope: Envelope) -> None:
    run.acked.extend(envelope.row_ids)
    run.latency.observe(max(run.agent.clock() - envelope.sent_at, 0.0))
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
            data_topic(run.agent.mall, run.agent.box, envelope.kind),
            len(run.untaken.held),
        )
        run.set_held(None)


def _on_untaken(run: AgentRun, envelope: Envelope) -> None:
    """PUBACK 0x10: nobody received it. Keep the rows; hold data; try again later."""
    agent = run.agent
    topic = data_topic(agent.mall, agent.box, envelope.kind)
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
        agent.url,
        what,
        run.untaken.reason(),
        waiting,
        delay,
        TOPIC_ROOT,
        agent.mall,
        agent.box,
    )
    run.set_held(run.untaken.held_words())


def republish_held(run: AgentRun) -> bool:
    """Publish the oldest held batch again, as it was numbered (nobody received it).

    Its rows are read again (retention may have removed some) and it gets a new
    ``sent_at``. Returns False when no held batch is left to send.
    """
    link = run.link
    while link is not None and (held := run.untaken.next_held()) is not None:
        rows = outbox_rows(run.store, held.row_ids)
        if not rows:
            continue
        agent = run.agent
        envelope = build_envelope(
            agent.mall,
            agent.box,
            rows,
            seq=held.seq,
            batch_id=held.batch_id,
            now=agent.clock(),
            historical_after_s=run.cfg.historical_after_s,
            stream=run.window.stream,
        )
        topic = data_topic(agent.mall, agent.box, envelope.kind)
        run.window.sent(link.publish(topic, envelope.payload), envelope)
        return True
    return False


def _on_refusal(run: AgentRun, envelope: Envelope, code: int, refusal: str) -> None:
    url = run.agent.url
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
        prefix = f"{TOPIC_ROOT}/{run.agent.mall}/{run.agent.box}"
        hint = advice(code, prefix, verdict)
        run.broken = run.broken or f"{url} refused {what}: {refusal}; {hint}"


def _quarantine(run: AgentRun, envelope: Envelope, refusal: str) -> None:
    url = run.agent.url
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
