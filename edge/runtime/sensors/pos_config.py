"""A POS sensor's configuration as the POS drivers take it (no pyserial needed here).

Shared by the daemon's POS plugin and by ``mallsense pos parse`` and
``test-template``, which decode recordings on machines without pyserial.
"""

from __future__ import annotations

from collections.abc import Callable

from drivers.pos.decoder import PosDecoder
from drivers.pos.line import LineSettings, PosLine
from edge.config.sensors import PosSensorConfig

__all__ = ["decoder_factory", "line_settings", "pos_line"]


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


def decoder_factory(sensor: PosSensorConfig) -> Callable[[], PosDecoder]:
    """Builds the sensor's decoder (the source makes a new one if a decoder ever fails)."""
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
        )

    return build
