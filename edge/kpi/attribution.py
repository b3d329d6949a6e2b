"""Which pseudonymous device was at the counter when a receipt printed (opt-in).

Off by default (``privacy.attribution``): it ties a purchase to a device pseudonym.
When on, each transaction is matched with the devices whose session in the store's
counter zone was live around the receipt's time; the strongest signal wins, with
its share of the received power as the confidence (two phones side by side at the
till give about 0.5 each, a lone customer 1.0).
"""

from __future__ import annotations

from typing import cast

from edge.aggregate import Aggregator
from edge.aggregate.ids import Record, record_id
from edge.config.models import Config
from edge.kpi.hours import epoch
from edge.record_dicts import AttributionDict
from edge.records import Radio
from edge.sensors.pos.config import PosSensorConfig

__all__ = ["Attributor"]


class Attributor:
    """Makes ``attribution`` records for transactions, from the aggregator's live sessions."""

    def __init__(self, config: Config) -> None:
        self._mall, self._box = config.mall, config.box
        self._window = config.privacy.attribution_window_s
        self._counters: dict[str, str] = {
            s.store: s.counter_zone or s.zone
            for s in config.sensors
            if isinstance(s, PosSensorConfig)
        }

    def attribute(self, transactions: list[Record], aggregator: Aggregator) -> list[Record]:
        out = []
        for tx in transactions:
            if tx.get("receipt_kind") not in (None, "sale", "refund"):
                continue  # a reprint, void, pre-bill or kitchen ticket is nobody's purchase
            zone = self._counters.get(tx["store"]) or str(tx["zone"])
            t = epoch(tx["end"])
            candidates = aggregator.devices_at(zone, t, self._window)
            if candidates:
                out.append(self._record(tx, zone, candidates))
        return out

    def _record(self, tx: Record, zone: str, candidates: list[tuple[str, str, float]]) -> Record:
        power = [10 ** (rssi / 10) for _, _, rssi in candidates]
        best = max(range(len(candidates)), key=power.__getitem__)
        device, source, _ = candidates[best]
        natural = f"{self._mall}\x1f{self._box}\x1fattribution\x1f{tx['id']}"
        record: AttributionDict = {
            "id": record_id(epoch(tx["end"]), natural),
            "kind": "attribution",
            "schema": "attribution/1",
            "mall": self._mall,
            "box": self._box,
            "supersedes": None,
            "transaction": tx["id"],
            "store": tx["store"],
            "zone": zone,
            "start": tx["end"],
            "device": device,
            "source": cast(Radio, source),  # the aggregator hears only radios
            "confidence": round(power[best] / sum(power), 4),
            "candidates": len(candidates),
        }
        return cast(Record, record)
