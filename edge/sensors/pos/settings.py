"""A POS sensor's configuration as the POS drivers take it (no pyserial needed here).

Shared by the daemon's POS plugin and by ``mallsense pos parse`` and
``test-template``, which decode recordings on machines without pyserial.

``EncodingMemory`` keeps the encoding detected per printer (``encoding =
"auto"``) in a small JSON file next to the database: the file is ours, read
as hostile input (size bound, known encodings only), written atomically.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Final

from drivers.pos.decoder import PosDecoder
from drivers.pos.escpos.sniff import CANDIDATES
from drivers.pos.line.line import LineSettings, PosLine
from edge.config.models import StoreConfig
from edge.sensors.pos.config import PosSensorConfig

__all__ = [
    "ENCODING_FILE",
    "EncodingMemory",
    "decoder_factory",
    "describe_encoding",
    "encoding_of",
    "encoding_text",
    "line_settings",
    "pos_line",
]

log = logging.getLogger("mallsense.pos")
ENCODING_FILE: Final = "pos-encoding.json"
_MAX_FILE_BYTES: Final = 64 * 1024
_KEPT: Final = frozenset({*CANDIDATES, "cp437"})


class EncodingMemory:
    """The encoding found for each POS sensor's printer, kept across restarts."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / ENCODING_FILE
        self._known: dict[str, str] | None = None
        self._lock = threading.Lock()  # the health report and the metrics thread both keep

    def get(self, sensor: str) -> str | None:
        with self._lock:
            return self._load().get(sensor)

    def keep(self, sensor: str, encoding: str) -> None:
        """Remember ``encoding`` for ``sensor`` (written only when it changed)."""
        with self._lock:
            self._keep(sensor, encoding)

    def _keep(self, sensor: str, encoding: str) -> None:
        known = self._load()
        if encoding not in _KEPT or known.get(sensor) == encoding:
            return
        known[sensor] = encoding
        temporary = self.path.with_suffix(".tmp")
        try:
            temporary.write_text(json.dumps(known, sort_keys=True), encoding="utf-8")
            temporary.replace(self.path)
        except OSError as exc:  # detection runs again at the next start: nothing is lost
            log.warning("POS encoding not kept in %s: %s", self.path, exc)
            return
        log.info("POS sensor %s: printer encoding %s detected and kept", sensor, encoding)

    def _load(self) -> dict[str, str]:
        if self._known is None:
            self._known = self._read()
        return self._known

    def _read(self) -> dict[str, str]:
        try:
            if self.path.stat().st_size > _MAX_FILE_BYTES:
                raise ValueError("too large")
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("%s ignored (%s): printer encodings are detected again", self.path, exc)
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and v in _KEPT}


def line_settings(sensor: PosSensorConfig) -> LineSettings:
    """The serial settings (``baudrate`` None for ``auto``)."""
    return LineSettings(
        baudrate=None if sensor.baudrate == "auto" else sensor.baudrate,
        bytesize=sensor.bytesize,
        parity=sensor.parity,
        stopbits=float(sensor.stopbits),
        flow=sensor.flow,
    )


def pos_line(sensor: PosSensorConfig) -> PosLine:
    return PosLine(
        sensor=sensor.name,
        port=sensor.port,
        settings=line_settings(sensor),
        passthrough=sensor.passthrough_port,
        encoding=sensor.encoding,
        double_byte=sensor.double_byte_encoding,
    )


def decoder_factory(
    sensor: PosSensorConfig, detected: str | None = None
) -> Callable[[], PosDecoder]:
    """Builds the sensor's decoder (the source makes a new one if a decoder ever fails);
    ``detected``: the encoding kept for this printer, used when ``encoding = "auto"``."""
    templates = sensor.compiled_templates()

    def build() -> PosDecoder:
        return PosDecoder(
            sensor.encoding,
            double_byte=sensor.double_byte_encoding,
            idle_gap=sensor.idle_gap_s,
            max_bytes=sensor.max_receipt_bytes,
            templates=templates,
            currency=sensor.currency,
            day_first=sensor.day_first,
            detected=detected if sensor.encoding == "auto" else None,
        )

    return build


def encoding_of(stats: dict[str, object]) -> dict[str, object] | None:
    """The decoder's encoding status in a POS source's ``stats()``."""
    decoder = stats.get("decoder")
    encoding = decoder.get("encoding") if isinstance(decoder, dict) else None
    return encoding if isinstance(encoding, dict) else None


def encoding_text(stats: dict[str, object]) -> str:
    """``gb18030 (detected)``, ``cp437 (configured)``, ``undecided (cp437 so far)``."""
    encoding = encoding_of(stats)
    if encoding is None:
        return "unknown"
    how, name = encoding.get("how"), str(encoding.get("encoding"))
    return name if how == "undecided" else f"{name} ({how})"


def describe_encoding(sensor: PosSensorConfig, directory: Path | None = None) -> str:
    """For ``doctor``: the configured encoding, or the one kept for this printer.

    ``directory``: where the database is (default: the installed box's).
    """
    if sensor.encoding != "auto":
        return f"{sensor.encoding} (configured)"
    kept = EncodingMemory(directory or StoreConfig().path.parent).get(sensor.name)
    if kept is None:
        return "auto (not detected yet: found from the first receipts, see `mallsense status`)"
    return f"{kept} (detected and kept)"
