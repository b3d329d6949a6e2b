"""A ByteTrack-style multi-object tracker for people boxes.

After Zhang et al., "ByteTrack: Multi-Object Tracking by Associating Every
Detection Box" (ECCV 2022) and its reference ``byte_tracker.py``: every track
is predicted by a constant-velocity Kalman filter; high-score detections are
associated first (IoU), then the tracks left over are associated with the
low-score detections, which keeps people tracked while the detector is unsure
of them (partly visible, seen from behind). A track is born tentative from a
confident unmatched detection, confirmed after ``birth_hits`` consecutive hits
and ended after ``max_misses`` detector runs without a match. The Kalman state
is centre, width, height and their velocities, with noise proportional to the
box size (as BoT-SORT). Association is greedy by IoU, which equals the optimal
assignment when people do not overlap much (an entrance camera's common case).

Recovery (after Cao et al., "Observation-Centric SORT", CVPR 2023): a person hidden
behind another for a second or two is missed by the detector, and while missed the
Kalman prediction drifts, so IoU no longer finds them when they reappear. A third
association stage gives the detections still unmatched to the tracks missed on recent
runs, by distance from where the track's *observations* (not its filter) say the person
is now: the last observed box moved on at the observed walking speed, measured in the
person's own heights, so the same threshold fits people near and far. A recovered track
keeps its id (a counting line remembers which side it was on) and its filter restarts on
the new box with the velocity of the gap (OC-SORT's observation-centric re-update).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from drivers.camera.detect import Detections

__all__ = ["ByteTracker", "KalmanBox", "Track", "TrackerConfig", "greedy_match", "iou_matrix"]

FloatArray = npt.NDArray[np.float64]

_W_POS = 1 / 20  # ByteTrack's std weights
_W_VEL = 1 / 160
_F = np.eye(8)
_F[:4, 4:] = np.eye(4)
_H = np.eye(4, 8)


def _to_cxcywh(box: npt.ArrayLike) -> FloatArray:
    x1, y1, x2, y2 = np.asarray(box, np.float64)
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1])


class KalmanBox:
    """Constant-velocity Kalman filter over (cx, cy, w, h)."""

    def __init__(self, box: npt.ArrayLike) -> None:
        z = _to_cxcywh(box)
        self.mean = np.concatenate([z, np.zeros(4)])
        w, h = max(z[2], 1.0), max(z[3], 1.0)
        std = [2 * _W_POS * w, 2 * _W_POS * h] * 2 + [10 * _W_VEL * w, 10 * _W_VEL * h] * 2
        self.cov = np.diag(np.square(std))

    def predict(self) -> None:
        w, h = max(self.mean[2], 1.0), max(self.mean[3], 1.0)
        std = [_W_POS * w, _W_POS * h] * 2 + [_W_VEL * w, _W_VEL * h] * 2
        self.mean = _F @ self.mean
        self.cov = _F @ self.cov @ _F.T + np.diag(np.square(std))

    def update(self, box: npt.ArrayLike) -> None:
        z = _to_cxcywh(box)
        w, h = max(self.mean[2], 1.0), max(self.mean[3], 1.0)
        r = np.diag(np.square([_W_POS * w, _W_POS * h] * 2))
        s = _H @ self.cov @ _H.T + r
        gain = np.linalg.solve(s, _H @ self.cov).T
        self.mean = self.mean + gain @ (z - _H @ self.mean)
        self.cov = self.cov - gain @ _H @ self.cov

    @property
    def box(self) -> FloatArray:
        cx, cy, w, h = self.mean[:4]
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


@dataclass(eq=False)
class Track:
    """One person followed across frames (``id`` 0 until confirmed)."""

    kalman: KalmanBox
    score: float
    id: int = 0
    hits: int = 1
    misses: int = 0
    """Consecutive detector runs without a match (0: seen on the last run)."""
    since_high: int = 0
    """Frames since a high-score detection matched (every ``update`` counts)."""
    observed: deque[tuple[int, FloatArray]] = field(default_factory=lambda: deque(maxlen=4))
    """The last few (tracker frame, detection box) pairs: OC-SORT's observations."""

    @property
    def confirmed(self) -> bool:
        return self.id > 0

    @property
    def box(self) -> FloatArray:
        return self.kalman.box

    @property
    def foot(self) -> tuple[float, float]:
        """Bottom centre of the box: where the person stands."""
        x1, _, x2, y2 = self.kalman.box
        return float((x1 + x2) / 2), float(y2)


@dataclass(frozen=True)
class TrackerConfig:
    """ByteTrack thresholds (its defaults: 0.5 / 0.1 / 0.6, IoU 0.2 and 0.5)."""

    high: float = 0.4
    """Detections at or above this score go to the first association."""
    low: float = 0.1
    """Detections between ``low`` and ``high`` only extend existing confirmed tracks."""
    birth: float = 0.5
    """An unmatched detection starts a track only at this score or above."""
    match_iou: float = 0.2
    low_match_iou: float = 0.4
    birth_hits: int = 3
    """Consecutive matches before a track is confirmed (and counted)."""
    max_misses: int = 20
    """Detector runs without a match before a confirmed track ends (2 s at 10 fps: long
    enough for a person hidden behind a passer-by to be recovered, docs/accuracy.md)."""
    low_only_frames: int = 50
    """Frames a track may live on low-score boxes alone (5 s at 10 fps); afterwards it
    needs a high-score box again, so that it cannot stick to static clutter (a pillar,
    a table) that the detector scores at 0.1-0.2 after its person left."""
    recover_distance: float = 1.6
    """Recovery stage: a missed track takes an unmatched high-score box whose centre is
    within this many of the track's box heights from where its observations put it now;
    0 turns recovery off."""
    recover_frames: int = 10
    """Frames of walking the recovery stage extrapolates at most (1 s at 10 fps): a
    person hidden longer is looked for around the last extrapolated place."""
    recover_window: int = 20
    """Frames after its last observation a track can still be recovered (2 s at 10 fps).
    Counted in frames, not detector runs: with the motion gate an empty scene is detected
    only every few seconds, and a person who left must not come back as the next one."""
    recover_size: float = 1.5
    """Largest ratio of box heights (either way) between a lost track and its recovery."""


def _observed_velocity(track: Track) -> FloatArray:
    """Centre pixels per frame between the oldest and newest kept observation."""
    (f0, b0), (f1, b1) = track.observed[0], track.observed[-1]
    if f1 <= f0:
        return np.zeros(2)
    return np.asarray(((b1[:2] + b1[2:]) - (b0[:2] + b0[2:])) / 2 / (f1 - f0), np.float64)


def iou_matrix(a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
    """IoU of every box in ``a`` [N, 4] with every box in ``b`` [M, 4] (x1, y1, x2, y2)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)[:, None, :]
    b = np.asarray(b, np.float64).reshape(-1, 4)[None, :, :]
    w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = w * h
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return np.asarray(inter / np.maximum(area_a + area_b - inter, 1e-9), np.float64)


def greedy_match(iou: FloatArray, threshold: float) -> list[tuple[int, int]]:
    """(row, column) pairs, highest IoU first, each row and column used once."""
    pairs: list[tuple[int, int]] = []
    if iou.size == 0:
        return pairs
    work = iou.copy()
    while True:
        r, c = np.unravel_index(int(np.argmax(work)), work.shape)
        if work[r, c] < threshold:
            return pairs
        pairs.append((int(r), int(c)))
        work[r, :] = -1
        work[:, c] = -1


@dataclass
class ByteTracker:
    """Tracks people from per-frame detections.

    ``update(None)`` is a frame the motion gate let pass without detection: the
    picture did not change since the detector last ran, so nobody moved and the
    tracks are held where they are (predicting them would carry a person who just
    stopped further along their last velocity).
    """

    config: TrackerConfig = field(default_factory=TrackerConfig)
    tracks: list[Track] = field(default_factory=list)
    ended: list[Track] = field(default_factory=list)
    """Confirmed tracks that ended in the last ``update``."""
    _next_id: int = 1
    frame: int = 0
    """Frames seen (``update`` calls), the clock of the observations."""
    recovered: int = 0
    """Tracks found again by the recovery stage (for the technician's figures)."""

    def update(self, detections: Detections | None) -> list[Track]:
        """Advance one frame; returns the confirmed tracks that are still alive."""
        self.ended = []
        self.frame += 1
        for track in self.tracks:
            track.since_high += 1
        if detections is not None:
            for track in self.tracks:
                track.kalman.predict()
            self._associate(detections)
        return [t for t in self.tracks if t.confirmed]

    def walking(self, speed: float) -> bool:
        """Someone seen on the last run walks faster than ``speed`` of their height a frame.

        The motion gate holds tracks in place on the frames it skips, which is right for
        people standing still and wrong for people walking (docs/accuracy.md: in a crowd it
        skipped a third of the frames and lost crossings): while this is true, detect.
        """
        for track in self.tracks:
            if track.confirmed and track.misses == 0 and len(track.observed) > 1:
                height = max(float(track.observed[-1][1][3] - track.observed[-1][1][1]), 1.0)
                if float(np.hypot(*_observed_velocity(track))) > speed * height:
                    return True
        return False

    def _associate(self, detections: Detections) -> None:
        cfg = self.config
        boxes, scores = detections.boxes, detections.scores
        high = np.flatnonzero(scores >= cfg.high)
        low = np.flatnonzero((scores >= cfg.low) & (scores < cfg.high))
        matched, left = self._match(self.tracks, boxes, scores, high, cfg.match_iou)
        for track, _ in matched:
            track.since_high = 0
        used_high = {int(high[c]) for _, c in matched}
        second = [t for t in left if t.confirmed and t.since_high <= cfg.low_only_frames]
        matched_low, _ = self._match(second, boxes, scores, low, cfg.low_match_iou)
        hit = {id(t) for t, _ in matched + matched_low}
        recent = self.frame - cfg.recover_window
        lost = [
            t
            for t in left
            if id(t) not in hit and t.confirmed and t.misses > 0 and t.observed[-1][0] >= recent
        ]
        free = np.asarray([int(i) for i in high if int(i) not in used_high], np.intp)
        for track, taken in self._recover(lost, boxes, scores, free):
            hit.add(id(track))
            used_high.add(taken)
        for track in self.tracks:
            if id(track) not in hit:
                track.misses += 1
        self._prune()
        for i in high:
            if int(i) not in used_high and scores[i] >= cfg.birth:
                self.tracks.append(Track(KalmanBox(boxes[i]), float(scores[i])))
                self._hit(self.tracks[-1], boxes[i], float(scores[i]), first=True)

    def _match(
        self,
        tracks: list[Track],
        boxes: npt.NDArray[np.float32],
        scores: npt.NDArray[np.float32],
        candidates: npt.NDArray[np.intp],
        threshold: float,
    ) -> tuple[list[tuple[Track, int]], list[Track]]:
        if not tracks or candidates.size == 0:
            return [], list(tracks)
        iou = iou_matrix([t.box for t in tracks], boxes[candidates])
        pairs = greedy_match(iou, threshold)
        for r, c in pairs:
            self._hit(tracks[r], boxes[candidates[c]], float(scores[candidates[c]]))
        taken = {r for r, _ in pairs}
        return [(tracks[r], c) for r, c in pairs], [
            t for i, t in enumerate(tracks) if i not in taken
        ]

    def _hit(
        self, track: Track, box: npt.NDArray[np.float32], score: float, first: bool = False
    ) -> None:
        track.observed.append((self.frame, np.asarray(box, np.float64)))
        if first:
            return
        track.kalman.update(box)
        track.score = score
        track.hits += 1
        track.misses = 0
        if not track.confirmed and track.hits >= self.config.birth_hits:
            track.id = self._next_id
            self._next_id += 1

    def _recover(
        self,
        lost: list[Track],
        boxes: npt.NDArray[np.float32],
        scores: npt.NDArray[np.float32],
        free: npt.NDArray[np.intp],
    ) -> list[tuple[Track, int]]:
        """Third stage: missed tracks take nearby unmatched boxes, nearest first."""
        cfg = self.config
        if cfg.recover_distance <= 0 or not lost or free.size == 0:
            return []
        cost = np.stack([self._distances(t, boxes[free]) for t in lost])
        pairs = []
        # Closeness left within the limit: greedy_match takes the largest first, from 0 up.
        for r, c in greedy_match(cfg.recover_distance - cost, 0.0):
            track, i = lost[r], int(free[c])
            self._restart(track, boxes[i], float(scores[i]))
            pairs.append((track, i))
        return pairs

    def _distances(self, track: Track, boxes: npt.NDArray[np.float32]) -> FloatArray:
        """Distance of each box's centre from where ``track`` should be, in its heights.

        Boxes much taller or shorter than the track's last observation are out of reach.
        """
        cfg = self.config
        frame, last = track.observed[-1]
        height = max(last[3] - last[1], 1.0)
        ahead = min(self.frame - frame, cfg.recover_frames)
        centre = (last[:2] + last[2:]) / 2 + _observed_velocity(track) * ahead
        b = np.asarray(boxes, np.float64)
        distance = np.hypot(*(((b[:, :2] + b[:, 2:]) / 2 - centre).T)) / height
        ratio = (b[:, 3] - b[:, 1]) / height
        distance[(ratio > cfg.recover_size) | (ratio < 1 / cfg.recover_size)] = np.inf
        return np.asarray(distance, np.float64)

    def _restart(self, track: Track, box: npt.NDArray[np.float32], score: float) -> None:
        """OC-SORT's re-update: the filter restarts on the box, moving as the gap says."""
        frame, last = track.observed[-1]
        gap = max(self.frame - frame, 1)
        track.kalman = KalmanBox(box)
        track.kalman.mean[4:6] = ((box[:2] + box[2:]) / 2 - (last[:2] + last[2:]) / 2) / gap
        self._hit(track, box, score)
        track.since_high = 0
        self.recovered += 1

    def _prune(self) -> None:
        alive: list[Track] = []
        for track in self.tracks:
            if not track.confirmed and track.misses > 0:
                continue  # a tentative track must be seen on consecutive runs
            if track.misses > self.config.max_misses:
                self.ended.append(track)
                continue
            alive.append(track)
        self.tracks = alive
