"""The ``mallsense pos`` commands that open a live port: ``capture`` and ``sniff``.

They run the same code as the daemon (``drivers.pos.line.recorder`` and
``SerialPosSource``) on a worker thread, while the main thread waits for
Ctrl-C or ``--seconds``; errors name the port and what to check (exit 2).
pyserial is imported here, not by ``mallsense`` itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from drivers.pos.line.capture_format import CaptureWriter, create_private
from drivers.pos.result import Receipt
from edge.cli.common import err_console
from edge.errors import CaptureError, SensorError
from edge.sensors.pos.config import PosSensorConfig

__all__ = ["record_line", "sniff_line"]

T = TypeVar("T")


def _serial() -> None:
    try:
        import serial  # type: ignore[import-untyped]  # noqa: F401
    except ImportError as exc:
        raise SensorError(
            f"reading a serial port needs pyserial ({exc}); install it with"
            " `pip install 'mallsense[pos]'`"
        ) from exc


def _until_stopped(work: Callable[[threading.Event], T], stop: threading.Event) -> T:
    """Run ``work(stop)`` on a thread; Ctrl-C sets ``stop``; its error is raised here."""
    result: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(work(stop))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target, name="pos-cli", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.2)
    except KeyboardInterrupt:
        stop.set()
        thread.join(10)
    if failure:
        raise failure[0]
    return result[0]


def _stop_after(seconds: float | None, stop: threading.Event) -> threading.Timer | None:
    if seconds is None:
        return None
    timer = threading.Timer(seconds, stop.set)
    timer.daemon = True
    timer.start()
    return timer


def record_line(
    sensor: PosSensorConfig,
    out: Path,
    encoding: str | None,
    seconds: float | None,
    force: bool = False,
) -> None:
    """``pos capture``: open, settle the rate, record until stopped; print a summary.

    The file is created with mode 0600 (it holds card numbers unmasked).
    """
    _serial()
    from drivers.pos.line.line import LineError
    from drivers.pos.line.recorder import Recorder
    from edge.sensors.pos.settings import line_settings

    recorder = Recorder(sensor.port, line_settings(sensor), passthrough=sensor.passthrough_port,
                        encoding=encoding)  # fmt: skip
    stop = threading.Event()
    started = time.monotonic()
    try:
        stream = create_private(out, replace=force)
    except FileExistsError as exc:
        raise CaptureError(f"{out} exists; give --force to overwrite it") from exc
    except OSError as exc:
        raise CaptureError(f"cannot write {out}: {exc.strerror or exc}") from exc
    try:
        with stream, err_console.status(f"opening {sensor.port}") as status:

            def progress(writer: CaptureWriter) -> None:
                status.update(f"capturing {sensor.port}: {writer.bytes:,} bytes in"
                              f" {writer.chunks:,} chunks (Ctrl-C to stop)")  # fmt: skip

            def work(stop: threading.Event) -> CaptureWriter | None:
                if recorder.open(stop).rate is None:
                    return None
                return recorder.record(stream, stop, progress)

            _stop_after(seconds, stop)  # detecting the rate counts too

            writer = _until_stopped(work, stop)
    except LineError as exc:
        raise SensorError(str(exc)) from exc
    finally:
        recorder.close()
    if writer is None:
        out.unlink(missing_ok=True)
        raise SensorError(
            f"stopped before the baud rate of {sensor.port} was found (nothing written): the POS"
            " printed nothing readable meanwhile; print receipts while it listens, or give --baud"
        )
    choice = recorder.choice
    err_console.print(
        f"wrote {out}: {writer.bytes:,} bytes in {writer.chunks:,} chunks in"
        f" {time.monotonic() - started:.0f} s, at {choice.rate} baud ({choice.method}); it holds"
        " the raw line (card and phone numbers unmasked): keep it on this box, delete it when done",
        soft_wrap=True,
        markup=False,
    )


def sniff_line(
    sensor: PosSensorConfig, show: Callable[[list[Receipt]], None], seconds: float | None
) -> dict[str, object]:
    """``pos sniff``: the daemon's source on the port, receipts shown as they come."""
    _serial()
    from drivers.pos.line.line import LineError
    from drivers.pos.line.serial_line import SerialLine
    from drivers.pos.line.serial_source import SerialPosSource
    from edge.sensors.pos.settings import decoder_factory, line_settings, pos_line

    settings = line_settings(sensor)
    for port in (sensor.port, sensor.passthrough_port):
        if port is not None:
            try:  # a wrong port is this command's error, not a reconnect loop
                SerialLine(port, settings.at(settings.baudrate or 9600)).close()
            except LineError as exc:
                raise SensorError(str(exc)) from exc
    source = SerialPosSource(pos_line(sensor), decoder_factory(sensor))
    stop = threading.Event()
    _stop_after(seconds, stop)
    through = f", forwarding to {sensor.passthrough_port}" if sensor.passthrough_port else ""
    err_console.print(
        f"reading {sensor.port}{through}; Ctrl-C to stop", soft_wrap=True, markup=False
    )

    def work(stop: threading.Event) -> None:
        source.run(show, stop)

    _until_stopped(work, stop)
    return source.stats()
