"""The ByteTrack-style tracker, fed detections directly."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.camera.detect import Detections
from drivers.camera.track import (
    ByteTracker,
    KalmanBox,
    TrackerConfig,
    greedy_match,
    iou_matrix,
)


def dets(*items: tuple[float, float, float, float, float]) -> Detections:
    """Detections from (x1, y1, x2, y2, score) tuples."""
    if not items:
        return Detections.empty()
    arr = np.asarray(items, np.float32)
    return Detections(arr[:, :4].copy(), arr[:, 4].copy())


def person(
    x: float, score: float = 0.9, y: float = 100
) -> tuple[float, float, float, float, float]:
    return (x, y, x + 50, y + 150, score)


def test_iou_and_greedy_match() -> None:
    iou = iou_matrix([[0, 0, 10, 10], [20, 20, 30, 30]], [[0, 0, 10, 10], [0, 5, 10, 15]])
    assert iou[0, 0] == pytest.approx(1.0)
    assert iou[0, 1] == pytest.approx(50 / 150)
    assert iou[1].tolist() == [0.0, 0.0]
    assert greedy_match(iou, 0.2) == [(0, 0)]
    assert greedy_match(np.zeros((0, 3)), 0.2) == []


def test_kalman_follows_constant_velocity() -> None:
    kf = KalmanBox([0, 0, 10, 20])
    for step in range(1, 20):
        kf.predict()
        kf.update([step * 5, 0, step * 5 + 10, 20])
    kf.predict()
    assert kf.box[0] == pytest.approx(100, abs=2)
    assert kf.box[2] - kf.box[0] == pytest.approx(10, abs=0.5)


def test_birth_after_n_hits_and_loss_after_m_misses() -> None:
    tracker = ByteTracker(TrackerConfig(birth_hits=3, max_misses=4))
    assert tracker.update(dets(person(100))) == []
    assert tracker.update(dets(person(102))) == []
    confirmed = tracker.update(dets(person(104)))
    assert [t.id for t in confirmed] == [1]
    for _ in range(4):
        assert len(tracker.update(dets())) == 1
        assert tracker.ended == []
    assert tracker.update(dets()) == []
    assert [t.id for t in tracker.ended] == [1]


def test_a_tentative_track_dies_on_its_first_miss() -> None:
    tracker = ByteTracker(TrackerConfig(birth_hits=3))
    tracker.update(dets(person(100)))
    tracker.update(dets())
    assert tracker.tracks == []
    assert tracker.ended == []  # never confirmed: nothing to report


def test_low_scores_extend_tracks_but_never_start_one() -> None:
    tracker = ByteTracker(TrackerConfig(high=0.4, low=0.1, birth_hits=2, max_misses=1))
    for x in (100, 104):
        tracker.update(dets(person(x)))
    for x in range(108, 200, 4):  # seen from behind: the detector is unsure
        alive = tracker.update(dets(person(x, score=0.2)))
        assert [t.id for t in alive] == [1]
        assert alive[0].misses == 0
    lonely = ByteTracker(TrackerConfig(birth_hits=1))
    for x in range(0, 40, 4):
        assert lonely.update(dets(person(x, score=0.3))) == []


def test_update_without_detections_holds_tracks() -> None:
    tracker = ByteTracker(TrackerConfig(birth_hits=2))
    for x in (100, 110, 120):
        tracker.update(dets(person(x)))
    box = tracker.tracks[0].box.copy()
    for _ in range(50):  # motion gate: nothing moved
        alive = tracker.update(None)
    assert len(alive) == 1
    assert alive[0].misses == 0
    np.testing.assert_allclose(alive[0].box, box)


def test_two_people_walking_past_each_other_keep_their_ids() -> None:
    tracker = ByteTracker(TrackerConfig(birth_hits=2))
    ids: dict[int, list[float]] = {}
    for step in range(30):
        a, b = 50 + step * 10, 400 - step * 10
        alive = tracker.update(dets(person(a, y=100), person(b, y=300)))
        for track in alive:
            ids.setdefault(track.id, []).append(track.foot[1])
    assert sorted(ids) == [1, 2]
    assert all(max(ys) - min(ys) < 20 for ys in ids.values())  # nobody swapped rows


def test_a_false_detection_for_one_frame_does_not_become_a_track() -> None:
    tracker = ByteTracker(TrackerConfig(birth_hits=3))
    for step in range(10):
        extra = (person(600, score=0.7),) if step == 4 else ()
        tracker.update(dets(person(100 + step * 3), *extra))
    assert [t.id for t in tracker.tracks] == [1]


def test_low_scores_alone_keep_a_track_only_for_a_while() -> None:
    """After its person left, a track must not live on clutter the detector half-sees."""
    tracker = ByteTracker(TrackerConfig(birth_hits=2, max_misses=3, low_only_frames=10))
    for _ in range(3):
        tracker.update(dets(person(100)))
    lived = 0
    while tracker.update(dets(person(100, score=0.15))) and lived < 100:
        lived += 1
    assert lived == 10 + 3  # ten frames on low scores, then three misses
    assert [t.id for t in tracker.ended] == [1]
