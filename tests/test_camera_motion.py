"""Motion gating on synthetic frames (numpy, no video)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from drivers.camera.motion import GateConfig, MotionGate, changed_fraction, small_grey


def frame(x: int | None = None, noise: int = 0, seed: int = 0) -> npt.NDArray[np.uint8]:
    """A 320 x 180 grey frame, with a dark 40 x 80 'person' at column ``x``."""
    rng = np.random.default_rng(seed)
    image = np.full((180, 320, 3), 150, np.int16)
    if noise:
        image += rng.integers(-noise, noise + 1, image.shape, dtype=np.int16)
    if x is not None:
        image[60:140, x : x + 40] = 20
    return np.clip(image, 0, 255).astype(np.uint8)


def test_small_grey_and_changed_fraction() -> None:
    a, b = small_grey(frame(), 160), small_grey(frame(100), 160)
    assert a.shape == (90, 160) and a.dtype == np.uint8
    assert changed_fraction(a, a, 20) == 0.0
    assert 0.04 < changed_fraction(a, b, 20) < 0.1  # the 'person' is 5.6 % of the picture


def test_sensor_noise_is_not_motion() -> None:
    gate = MotionGate(GateConfig(idle_refresh_frames=1000))
    runs = [gate.should_detect(frame(noise=8, seed=i), has_tracks=False) for i in range(50)]
    assert runs[0] and not any(runs[1:])  # the first frame becomes the reference


def test_a_walking_person_is_detected_on_every_frame() -> None:
    gate = MotionGate()
    assert all(gate.should_detect(frame(10 + 15 * i), has_tracks=True) for i in range(15))


def test_a_standing_person_is_refreshed_and_an_empty_scene_rarely() -> None:
    cfg = GateConfig(refresh_frames=20, idle_refresh_frames=100)
    standing = MotionGate(cfg)
    runs = [standing.should_detect(frame(100), has_tracks=True) for _ in range(100)]
    assert sum(runs) == 1 + 99 // 20  # the first frame, then one run every 20 frames
    empty = MotionGate(cfg)
    runs = [empty.should_detect(frame(), has_tracks=False) for _ in range(250)]
    assert sum(runs) == 1 + 249 // 100
    assert (empty.frames, empty.detected) == (250, 3)


def test_an_unsure_track_forces_detection() -> None:
    gate = MotionGate()
    gate.should_detect(frame(100), has_tracks=True)
    assert not gate.should_detect(frame(100), has_tracks=True)
    assert gate.should_detect(frame(100), has_tracks=True, unsure=True)
