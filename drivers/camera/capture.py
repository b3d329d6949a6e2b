"""Camera capture with OpenCV (RTSP over TCP, USB, files), a frame-rate cap and a watchdog.

``supervise`` keeps one camera delivering frames for as long as it is asked to:
a reader thread owns the OpenCV capture and hands frames over through a queue
of two; when no frame came for ``stall_s`` seconds (default 20 s, the value
Frigate and Home Assistant settled on) or the stream ends, the capture is
abandoned and opened again after a capped, jittered backoff, without
restarting the process (Frigate users schedule nightly restarts instead: its
issues #6502, #6031). Errors say which camera and which URL, password redacted.

Live sources stamp frames with the wall clock when read; ``ReplaySource`` stamps
them with a configured start plus the file's own frame timestamps
(``CAP_PROP_POS_MSEC``), so a replay counts in the recording's time. A replay
given a ``Timeline`` is *played*: each frame is held back until its event time
comes on the timeline (``mallsense run --simulate``, a video file configured as
a camera), and it may loop, its timestamps continuing.
RTSP goes over TCP through FFmpeg's ``rtsp_transport`` option
(``OPENCV_FFMPEG_CAPTURE_OPTIONS``, read by OpenCV when a capture opens).

A failed ``read()`` is not the end of the stream: a damaged frame in a file
(flipped bytes, a bad copy) or a corrupt packet on a camera's stream makes one
read fail, and the next one decodes again. Sources read on past such frames,
count them (``Frame.skipped``, ``CaptureStats.damaged``) and give up only after
many failed reads in a row: at the end of a file, or when a camera's stream is
broken (then the watchdog reconnects, as before). ``supervise`` logs damage
once per burst. A file's frames keep the times of the file, so a skipped frame
leaves a gap in time, as a frame the motion gate skips does.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from drivers.camera.urls import redact_url, with_credentials
from drivers.timeline import Timeline

__all__ = [
    "DAMAGE_QUIET_S",
    "FILE_BAD_RUN",
    "LIVE_BAD_RUN",
    "CameraError",
    "CameraSpec",
    "CaptureStats",
    "DamageLog",
    "Frame",
    "FrameSource",
    "OpenCVSource",
    "RateCap",
    "ReplaySource",
    "StopSignal",
    "open_source",
    "read_past_damage",
    "redact_url",
    "restarted",
    "supervise",
    "with_credentials",
]

log = logging.getLogger("mallsense.camera")
_LOOP_GAP_S = 0.1
"""Between a looped video's last frame and its first again (one frame at 10 fps)."""
_RATE_SLACK = 0.01
"""Share of a frame period a timestamp may come early (float rounding of file times)."""
FILE_BAD_RUN = 250
"""Failed reads in a row after which a file has ended: past its end every read fails at
once, and a damaged stretch longer than this (25 s at 10 fps) is lost anyway."""
LIVE_BAD_RUN = 50
"""Failed reads in a row after which a camera's stream counts as broken (reconnect)."""
DAMAGE_QUIET_S = 60.0
"""A burst of damaged frames ends after this long without one (one warning per burst)."""
_MAX_FILE_JUMP_S = 3600.0
"""A file timestamp further than this past the previous one is damage, not a pause."""


class StopSignal(Protocol):
    """``threading.Event`` or ``multiprocessing.Event``: set to stop capturing."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class CameraError(OSError):
    """A camera cannot be opened or stopped delivering frames."""


@dataclass(frozen=True)
class CameraSpec:
    """One camera as configured."""

    name: str
    url: str
    """``rtsp://user:pass@host/path``, ``usb:0`` (V4L2 device index) or a video file."""
    fps_cap: float | None = None
    """Deliver at most this many frames a second (None: every frame)."""
    rtsp_tcp: bool = True
    stall_s: float = 20.0
    """Reconnect when no frame came for this long."""
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    open_timeout_s: float = 10.0
    replay_start: float | None = None
    """Set for a replay: event time of the file's first frame (seconds since the epoch)."""
    pace: Timeline | None = None
    """A replay on a timeline is played at the timeline's pace instead of at full speed."""
    loop: bool = False
    """A replay starts over when it ends (with ``pace``: a simulated camera)."""

    @property
    def where(self) -> str:
        """How errors name the camera: its name and its URL with the password redacted."""
        return f"camera {self.name} ({redact_url(self.url)})"


def restarted(spec: CameraSpec) -> CameraSpec:
    """The spec for starting a camera again: a played video begins anew at the current
    time of its timeline, as a real camera that comes back shows whoever is there then
    (replaying the past would count its people a second time)."""
    if spec.pace is None:
        return spec
    return replace(spec, replay_start=spec.pace.now())


class Frame(NamedTuple):
    """One picture and its event time."""

    t: float
    number: int
    """0 for the first frame of a connection."""
    image: npt.NDArray[np.uint8]
    skipped: int = 0
    """Damaged frames (failed reads) skipped just before this one."""


def read_past_damage(
    cap: cv2.VideoCapture, max_run: int, max_s: float = math.inf
) -> tuple[npt.NDArray[np.uint8] | None, int]:
    """The next picture ``cap`` can decode, and how many reads failed before it.

    ``(None, failed)`` after ``max_run`` failed reads in a row or ``max_s`` seconds
    without a picture: the end of a file, or a broken stream.
    """
    failed = 0
    deadline = time.monotonic() + max_s
    while True:
        try:
            ok, image = cap.read()
        except cv2.error:  # a decoder that throws on one frame: that frame is damaged
            ok, image = False, None
        if ok and image is not None:
            return np.asarray(image, np.uint8), failed
        failed += 1
        if failed >= max_run or time.monotonic() >= deadline:
            return None, failed


class FrameSource(Protocol):
    """One open connection to a camera (a test can hand in a fake)."""

    finite: bool
    """True for files: the end of the stream is the end of the work, not a failure."""

    def read(self) -> Frame | None:
        """The next frame; None when the stream ended or broke."""
        ...

    def close(self) -> None: ...


class OpenCVSource:
    """A live camera through ``cv2.VideoCapture``; frames stamped with ``clock``.

    A failed read (a corrupt packet) is skipped and counted in ``damaged``; the stream
    counts as broken after ``LIVE_BAD_RUN`` failed reads in a row or half the stall time.
    """

    finite = False

    def __init__(self, spec: CameraSpec, clock: Callable[[], float] = time.time) -> None:
        self.spec = spec
        self._clock = clock
        self._index = 0
        self.damaged = 0
        """Failed reads followed by a good frame, since this connection opened."""
        self._cap = _open_capture(spec)

    def read(self) -> Frame | None:
        image, failed = read_past_damage(self._cap, LIVE_BAD_RUN, self.spec.stall_s / 2)
        if image is None:
            return None
        self.damaged += failed
        self._index += 1
        return Frame(self._clock(), self._index - 1, image, failed)

    def close(self) -> None:
        self._cap.release()


class ReplaySource(OpenCVSource):
    """A video file; event time = ``start`` + the frame's timestamp in the file.

    With ``spec.pace`` every frame waits for its event time on that timeline; with
    ``spec.loop`` the file starts over when it ends, its times continuing.
    """

    def __init__(self, spec: CameraSpec, start: float = 0.0) -> None:
        super().__init__(spec)
        self.start = start
        self.finite = not spec.loop
        self._offset = 0.0
        self._last_t = start
        self._file_t: float | None = None
        """Time in the file of the last frame read (None before the first)."""
        count = self._cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.expected = int(count) if 0 < count < 1e8 else None
        """Frames the file says it holds (None when it does not say)."""
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self._period = 1.0 / fps if 1.0 <= fps <= 1000.0 else 0.1

    def read(self) -> Frame | None:
        image, failed = read_past_damage(self._cap, FILE_BAD_RUN)
        if image is None and self.spec.loop and self._index > 0:
            self._cap.release()
            self._cap = _open_capture(self.spec)
            self._offset = self._last_t + _LOOP_GAP_S - self.start
            self._file_t = None
            image, failed = read_past_damage(self._cap, FILE_BAD_RUN)
        if image is None:
            return None
        self.damaged += failed
        self._index += 1
        t = self.start + self._offset + self._file_time(failed)
        self._last_t = t
        if self.spec.pace is not None:
            delay = self.spec.pace.wall_delay(t)
            if delay > 0:
                time.sleep(delay)
        return Frame(t, self._index - 1, image, failed)

    @property
    def missing_at_end(self) -> int:
        """Frames the file says it holds after the last one read (a file cut short)."""
        if self.expected is None:
            return 0
        last = -1 if self._file_t is None else round(self._file_t / self._period)
        return max(0, self.expected - 1 - last)

    def _file_time(self, skipped: int) -> float:
        """The frame's time in the file; counted from the frame rate where the file's
        own time is damaged (not a number, going back, or leaping ahead)."""
        raw = self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        prev = self._file_t
        if prev is None:
            ok = math.isfinite(raw) and 0.0 <= raw <= _MAX_FILE_JUMP_S
            fallback = skipped * self._period
        else:
            ok = math.isfinite(raw) and prev <= raw <= prev + _MAX_FILE_JUMP_S
            fallback = prev + (skipped + 1) * self._period
        self._file_t = raw if ok else fallback
        return self._file_t


def _quiet_decoder_logs() -> None:
    """FFmpeg writes a line per damaged macroblock (hundreds per bad frame) and OpenCV a
    warning per file it cannot open; sources count and report damage in plain words
    instead. A technician can still set ``OPENCV_FFMPEG_LOGLEVEL`` (read by OpenCV at
    its first FFmpeg capture) or ``OPENCV_LOG_LEVEL`` to see them."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "8")  # AV_LOG_FATAL
    if "OPENCV_LOG_LEVEL" not in os.environ:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def _open_capture(spec: CameraSpec) -> cv2.VideoCapture:
    _quiet_decoder_logs()
    url = spec.url
    if spec.rtsp_tcp and url.lower().startswith("rtsp"):
        os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = "rtsp_transport;tcp"
    timeout_ms = int(spec.open_timeout_s * 1000)
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        timeout_ms,
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        timeout_ms,
    ]
    if url.startswith("usb:"):
        cap = cv2.VideoCapture(int(url[4:]), cv2.CAP_V4L2, params)
    elif url.startswith("/dev/video"):
        cap = cv2.VideoCapture(url, cv2.CAP_V4L2, params)
    elif "://" not in url and not Path(url).is_file():
        raise CameraError(f"{spec.where}: no such video file; check the path")
    else:
        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    if not cap.isOpened():
        cap.release()
        raise CameraError(f"{spec.where} cannot be opened: {_open_hint(url)}")
    return cap


def _open_hint(url: str) -> str:
    if url.startswith(("usb:", "/dev/video")):
        return "is the camera plugged in (`ls /dev/video*`) and not used by another program?"
    if "://" in url:
        return (
            "is the camera on the network (ping it), the path right, and are the user and"
            " password accepted? Try the URL in VLC from this box"
        )
    return "OpenCV cannot decode this file; is it a complete video file?"


def open_source(spec: CameraSpec) -> FrameSource:
    """A replay for ``replay_start`` specs, else a live OpenCV capture."""
    if spec.replay_start is not None:
        return ReplaySource(spec, spec.replay_start)
    return OpenCVSource(spec)


class RateCap:
    """Lets through at most ``fps`` frames per second of event time."""

    def __init__(self, fps: float | None) -> None:
        self.period = 1.0 / fps if fps else 0.0
        self._next = float("-inf")

    def admit(self, t: float) -> bool:
        if t < self._next - self.period * _RATE_SLACK:
            return False
        if t - self._next < self.period:
            self._next += self.period  # keep the cadence
        else:
            self._next = t + self.period  # first frame, or after a gap: no burst
        return True


@dataclass
class CaptureStats:
    """What the watchdog saw (for health records and ``camera watch``)."""

    frames: int = 0
    connects: int = 0
    reconnects: int = 0
    damaged: int = 0
    """Damaged frames skipped (failed reads followed by a good frame)."""
    last_error: str | None = None
    errors: list[str] = field(default_factory=list)


class DamageLog:
    """Logs damaged frames once per burst (a burst ends after ``quiet_s`` without one)."""

    def __init__(self, where: str, quiet_s: float = DAMAGE_QUIET_S) -> None:
        self.where = where
        self.quiet_s = quiet_s
        self._last = -math.inf

    def note(self, skipped: int, total: int, now: float) -> bool:
        """Count ``skipped`` more damaged frames; True when this logged a warning."""
        first = now - self._last >= self.quiet_s
        self._last = now
        if first:
            log.warning(
                "%s: %d damaged frame%s skipped (corrupt data in the stream or file), %d so"
                " far; reading goes on. If this repeats, check the cable, the network or"
                " the file", self.where, skipped, "" if skipped == 1 else "s", total,
                extra={"reason": "damaged_frame"},
            )  # fmt: skip
        return first


_END = object()


def _reader(source: FrameSource, frames: queue.Queue[object], stop: threading.Event) -> None:
    """Owns ``source``: reads until stopped or the stream ends, then closes it.

    A camera's frame the counting cannot take within half a second is dropped (the
    next one is newer); a file's frames all wait their turn, so that a replay counts
    the same however busy the machine is.
    """
    keep_all = isinstance(source, ReplaySource)
    try:
        while not stop.is_set():
            frame = source.read()
            if frame is None:
                break
            while not stop.is_set():
                with contextlib.suppress(queue.Full):
                    frames.put(frame, timeout=0.5)
                    break
                if not keep_all:
                    break
    except Exception as exc:  # a decoder failure must not kill the watchdog
        frames.put(exc)
    finally:
        frames.put(_END)
        source.close()


def _pump(
    spec: CameraSpec,
    source: FrameSource,
    on_frame: Callable[[Frame], None],
    stop: StopSignal,
    stats: CaptureStats,
) -> str | None:
    """Deliver frames until the source ends, stalls or ``stop``; returns why it failed."""
    frames: queue.Queue[object] = queue.Queue(maxsize=2)
    done = threading.Event()
    thread = threading.Thread(
        target=_reader, args=(source, frames, done), name=f"camera-{spec.name}", daemon=True
    )
    thread.start()
    cap = RateCap(spec.fps_cap)
    damage = DamageLog(spec.where)
    last = time.monotonic()
    try:
        while not stop.is_set():
            try:
                item = frames.get(timeout=min(0.5, spec.stall_s))
            except queue.Empty:
                if time.monotonic() - last >= spec.stall_s:
                    return f"sent no frame for {spec.stall_s:g} s"
                continue
            if item is _END:
                return None if source.finite else "ended the stream"
            if isinstance(item, Exception):
                return f"failed while decoding ({item})"
            assert isinstance(item, Frame)
            if item.number == 0 and stats.connects > 1:
                log.info("%s: frames are coming in again", spec.where)
            last = time.monotonic()
            if item.skipped:
                stats.damaged += item.skipped
                damage.note(item.skipped, stats.damaged, last)
            if cap.admit(item.t):
                stats.frames += 1
                on_frame(item)
        return None
    finally:
        done.set()  # the reader closes the capture when its read returns


def _report(spec: CameraSpec, stats: CaptureStats, why: str, wait: float) -> None:
    message = f"{spec.where} {why}; reconnecting in {wait:.1f} s"
    stats.last_error = message
    stats.errors = [*stats.errors[-9:], message]
    log.warning("%s", message)


def supervise(
    spec: CameraSpec,
    on_frame: Callable[[Frame], None],
    stop: StopSignal,
    opener: Callable[[CameraSpec], FrameSource] = open_source,
    stats: CaptureStats | None = None,
) -> CaptureStats:
    """Capture ``spec`` until ``stop`` (or a replay ends), reconnecting whenever it fails."""
    stats = stats or CaptureStats()
    failures = 0
    while not stop.is_set():
        try:
            source = opener(spec)
        except (CameraError, cv2.error) as exc:
            if spec.replay_start is not None:
                raise CameraError(str(exc)) from exc  # a file will not come back
            why = str(exc).removeprefix(spec.where).strip(" :")
        else:
            stats.connects += 1
            stats.reconnects = stats.connects - 1
            before = stats.frames
            failure = _pump(spec, source, on_frame, stop, stats)
            if failure is None:
                return stats
            why = failure
            if stats.frames > before:
                failures = 0  # it worked for a while: start the backoff again
        wait = min(spec.backoff_max_s, spec.backoff_s * 2**failures) * random.uniform(0.8, 1.0)
        failures += 1
        _report(spec, stats, why, wait)
        stop.wait(wait)
        spec = restarted(spec)
    return stats
