"""Track recovery: a person hidden for a while keeps their track (OC-SORT-style third stage)."""

from __future__ import annotations

import numpy as np

from drivers.camera.count import Line, LineCounter
from drivers.camera.detect import Detections
from drivers.camera.track import ByteTracker, Track, TrackerConfig


def box(x: float, y: float = 100, w: float = 20, h: float = 60) -> Detections:
    return Detections(np.asarray([[x, y, x + w, y + h]], np.float32), np.asarray([0.9], np.float32))


Seen = list[tuple[int, tuple[float, float]]]
"""Per frame: (id, foot) of the tracks the detector saw on it."""


def seen(tracks: list[Track]) -> Seen:
    return [(t.id, t.foot) for t in tracks if t.misses == 0]


def hidden_walk(config: TrackerConfig, hidden: int = 8, step: float = 10) -> list[Seen]:
    """Seen on 4 frames walking right, hidden for ``hidden`` frames, seen on 4 more."""
    tracker = ByteTracker(config)
    frames = [seen(tracker.update(box(step * i))) for i in range(4)]
    frames += [seen(tracker.update(Detections.empty())) for _ in range(hidden)]
    frames += [seen(tracker.update(box(step * i))) for i in range(4 + hidden, 8 + hidden)]
    return frames


def ids(frames: list[Seen]) -> set[int]:
    return {track for feet in frames for track, _ in feet}


def test_a_hidden_walker_is_found_again_with_their_id() -> None:
    frames = hidden_walk(TrackerConfig(birth_hits=2, max_misses=20, recover_distance=1.0))
    assert ids(frames) == {1}


def test_without_recovery_the_filter_loses_them() -> None:
    """The Kalman velocity after four frames is too slow: the prediction lags behind."""
    frames = hidden_walk(TrackerConfig(birth_hits=2, max_misses=20, recover_distance=0))
    assert ids(frames) == {1, 2}


def test_a_stranger_far_away_is_not_taken_for_them() -> None:
    tracker = ByteTracker(TrackerConfig(birth_hits=2, max_misses=20, recover_distance=1.0))
    for i in range(4):
        tracker.update(box(10 * i))
    for _ in range(3):
        tracker.update(Detections.empty())
    for _ in range(3):
        alive = tracker.update(box(400))  # six heights away from the lost person
    assert sorted(t.id for t in alive) == [1, 2]
    assert tracker.recovered == 0


def test_a_recovered_track_counts_its_crossing() -> None:
    """Lost before the band, found beyond it: the counter remembers the side it left."""
    counter = LineCounter(Line("door", (60, 200), (60, 0), band=20), confirm_frames=2)
    frames = hidden_walk(TrackerConfig(birth_hits=2, max_misses=20, recover_distance=1.0))
    events = []
    for t, feet in enumerate(frames):
        events += counter.update(float(t), feet)
    assert events == [(1, "in")]
