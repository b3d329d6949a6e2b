"""Disk budget and age: delivered records go first, then the lowest-priority kinds, counted."""

from __future__ import annotations

from pathlib import Path

from edge.aggregate.ids import record_id
from edge.config.models import StoreConfig
from edge.store import Store
from edge.store.retention import enforce, used_bytes

T0 = 1_773_482_400.0
DAY = 86_400.0


def record(kind: str, n: int) -> dict[str, object]:
    return {
        "id": record_id(T0 + n, f"{kind}\x1f{n}"),
        "kind": kind,
        "schema": f"{kind}/1",
        "mall": "m1",
        "box": "b1",
        "supersedes": None,
        "start": "2026-03-14T10:00:00.000Z",
        "padding": "x" * 400,  # makes the budget arithmetic quick to reach
    }


def fill(store: Store, kinds: dict[str, int], now: float, first: int = 0) -> None:
    for kind, count in kinds.items():
        store.write([record(kind, first + i) for i in range(count)], now=now)


def config(max_mb: float, max_age_days: float = 30) -> StoreConfig:
    return StoreConfig(path=Path("unused"), max_mb=max_mb, max_age_days=max_age_days)


def test_nothing_happens_inside_the_budget(tmp_path: Path) -> None:
    with Store(tmp_path / "a.db") as store:
        fill(store, {"presence": 100, "dwell": 100}, T0)
        report = enforce(store, config(max_mb=100), T0)
        assert report.dropped == {} and report.deleted_delivered == 0
        assert store.counts() == {"dwell": 100, "presence": 100}


def test_delivered_records_go_before_anything_undelivered(tmp_path: Path) -> None:
    with Store(tmp_path / "a.db") as store:
        fill(store, {"presence": 1500}, T0)
        store.outbox_ack([r.id for r in store.outbox_after(0, 1500)])  # all delivered
        fill(store, {"dwell": 300}, T0)
        budget_mb = (used_bytes(store) * 0.4) / 1024 / 1024
        report = enforce(store, config(max_mb=budget_mb), T0)
        assert report.dropped == {}
        assert report.deleted_delivered > 0
        assert store.counts()["dwell"] == 300
        assert report.used_after <= budget_mb * 1024 * 1024


def test_over_budget_the_lowest_priority_kind_is_dropped_oldest_first(tmp_path: Path) -> None:
    with Store(tmp_path / "a.db") as store:
        fill(store, {"presence": 2000, "visit": 500, "dwell": 500}, T0)
        budget_mb = (used_bytes(store) * 0.7) / 1024 / 1024
        report = enforce(store, config(max_mb=budget_mb), T0)
        counts = store.counts()
        assert counts["dwell"] == 500 and counts["visit"] == 500
        assert 0 < counts.get("presence", 0) < 2000
        assert set(report.dropped) == {"disk_budget.presence"}
        assert store.drop_counts() == {"disk_budget.presence": 2000 - counts["presence"]}
        kept = [r["id"] for r in store.records("presence")]
        assert kept == sorted(str(record("presence", i)["id"]) for i in range(2000))[-len(kept) :]
        assert store.outbox_depth()[0] == sum(counts.values())  # outbox rows went with them


def test_old_records_expire_and_undelivered_ones_count_as_drops(tmp_path: Path) -> None:
    with Store(tmp_path / "a.db") as store:
        fill(store, {"presence": 10, "dwell": 5}, T0)
        store.outbox_ack([r.id for r in store.outbox_after(0, 10)])  # the presence went out
        fill(store, {"visit": 3}, T0 + 20 * DAY)
        report = enforce(store, config(max_mb=100, max_age_days=7), T0 + 21 * DAY)
        assert store.counts() == {"visit": 3}
        assert report.deleted_delivered == 10
        assert store.drop_counts() == {"expired.dwell": 5}


def test_counters_accumulate_across_passes(tmp_path: Path) -> None:
    with Store(tmp_path / "a.db") as store:
        for day in range(3):
            fill(store, {"dwell": 2}, T0 + day * DAY, first=10 * day)
        enforce(store, config(max_mb=100, max_age_days=0.5), T0 + 1.2 * DAY)
        enforce(store, config(max_mb=100, max_age_days=0.5), T0 + 2.3 * DAY)
        assert store.drop_counts() == {"expired.dwell": 4}
