"""What a camera's source keeps of its process's open interval (drivers.camera.handover)."""

from __future__ import annotations

from drivers.camera.handover import KeptCounts
from drivers.camera.observations import LineCount, ZoneDwell
from drivers.camera.process import CameraHealth, CameraMessage


def health(pid: int, out: int, start: float = 0.0) -> CameraMessage:
    counts = (LineCount("cam", "exit", start, start + 60, 0, out, cut=start + 30),)
    report = CameraHealth("cam", 1, 1, 0, None, None, pid=pid, open_counts=counts)
    return CameraMessage("health", health=report)


def outs(counts: tuple[object, ...]) -> list[tuple[float, int, float | None]]:
    """(start, out, cut) of each line count."""
    return [(c.start, c.exited, c.cut) for c in counts if isinstance(c, LineCount)]


def closed(start: float, out: int) -> CameraMessage:
    return CameraMessage("observations", (LineCount("cam", "exit", start, start + 60, 0, out),))


def test_a_process_that_ends_without_finishing_leaves_its_last_report() -> None:
    kept = KeptCounts()
    for message in (health(7, 1), health(7, 2)):
        assert kept.note(message) == ()
    assert outs(kept.take()) == [(0.0, 2, 30.0)]
    assert kept.take() == ()  # handed on once


def test_a_closed_interval_is_not_handed_on_twice() -> None:
    kept = KeptCounts()
    kept.note(health(7, 3))
    kept.note(closed(0.0, 3))  # the interval closed: its own record carries the 3
    assert kept.take() == ()
    kept.note(health(7, 1, start=60.0))
    assert outs(kept.take()) == [(60.0, 1, 90.0)]


def test_stays_do_not_close_the_interval() -> None:
    kept = KeptCounts()
    kept.note(health(7, 2))
    kept.note(CameraMessage("observations", (ZoneDwell("cam", "table", 1, 0.0, 9.0),)))
    assert outs(kept.take()) == [(0.0, 2, 30.0)]


def test_a_dead_process_is_handed_on_when_its_successor_first_reports() -> None:
    kept = KeptCounts()
    kept.note(health(7, 2))
    orphaned = kept.note(health(8, 0))
    assert outs(orphaned) == [(0.0, 2, 30.0)]
    assert outs(kept.take()) == [(0.0, 0, 30.0)]  # the successor's own


def test_a_finished_process_leaves_nothing() -> None:
    kept = KeptCounts()
    kept.note(health(7, 2))
    kept.note(CameraMessage("observations", (LineCount("cam", "exit", 0, 60, 0, 2, 31.0),)))
    done = CameraHealth("cam", 1, 1, 0, None, None, pid=7)
    kept.note(CameraMessage("done", health=done))
    assert kept.take() == ()
