"""What to do when the broker refuses a batch (a PUBACK with a failure reason code).

Reason codes fall in three groups:

- *the payload*: sending the same bytes again can never succeed (0x99 payload
  format invalid; 0x83 implementation specific error, which brokers' validation
  hooks and rule engines use to refuse content; 0x95 packet too large, which
  mosquitto sends although MQTT 5 does not list it for PUBACK). The batch is
  split in halves until the refused record is alone, and that record is
  quarantined (``edge.store.uplink.quarantine``), never retried.
- *the configuration*: 0x87 not authorized, 0x90 topic name invalid. Every batch
  of this box would be refused the same way, so no record is at fault: keep the
  rows, reconnect with back-off, and tell the technician to check the broker's
  access rules.
- *the moment*: everything else (0x97 quota exceeded, which mosquitto sends when
  its queue for the client is full; 0x80 unspecified; 0x91 packet id in use):
  keep the rows, reconnect with back-off.

A broker that refuses every record with a "payload" code is not pointing at bad
records but is broken or misconfigured itself; quarantining the whole backlog
would hide that. So after ``blind_limit`` records quarantined in a row with no
batch accepted in between, such refusals are blamed on the broker: the rows are
kept and the agent backs off, as for the configuration kind.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["CONFIG_CODES", "PAYLOAD_CODES", "RejectionPolicy", "Verdict", "advice", "classify"]

PAYLOAD_CODES = frozenset({0x83, 0x95, 0x99})
CONFIG_CODES = frozenset({0x87, 0x90})

Verdict = Literal["split", "quarantine", "broker", "configuration", "transient"]

_CONFIG_ADVICE = {
    0x87: "check the broker's access rules: this box must be allowed to write {prefix}/#",
    0x90: "the broker does not accept this box's topics; check mall and box ids",
}


def classify(code: int) -> Literal["payload", "configuration", "transient"]:
    if code in PAYLOAD_CODES:
        return "payload"
    if code in CONFIG_CODES:
        return "configuration"
    return "transient"


def advice(code: int, prefix: str, verdict: Verdict) -> str:
    """What a technician should do about a refusal that is not one record's fault."""
    if verdict == "broker":
        return (
            "the broker refuses every record, not a few bad ones; the rows are kept: check the"
            " broker's validation rules or plugins"
        )
    text = _CONFIG_ADVICE.get(code)
    if text is not None:
        return text.format(prefix=prefix)
    return "the broker refused it for now; it is sent again after a reconnect"


class RejectionPolicy:
    """Decides, refusal by refusal, whether to split, quarantine or back off."""

    def __init__(self, blind_limit: int = 5) -> None:
        self.blind_limit = blind_limit
        self.blind = 0  # records quarantined since the broker last accepted a batch

    def accepted(self) -> None:
        """A data batch was accepted: the broker works, refusals point at records again."""
        self.blind = 0

    def verdict(self, code: int, records: int) -> Verdict:
        """What to do with a refused batch of ``records`` records."""
        group = classify(code)
        if group != "payload":
            return group
        if records > 1:
            return "split"
        if self.blind >= self.blind_limit:
            return "broker"
        self.blind += 1
        return "quarantine"
