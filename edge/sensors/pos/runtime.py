"""POS sensors: a receipt printer's line -> receipts -> ``transaction`` records.

Record mapping (``edge.records.Transaction``), one record per receipt that
looks like a receipt (garbage from a misconfigured line is counted and warned
about by the source, never recorded):

- ``store``/``zone``/``sensor``: the POS sensor's configuration;
- ``start``/``end``: when the receipt's first and last bytes were read (the
  source's clock: event time, not the date printed on the receipt);
- ``total`` (the amount paid, net; negative for a refund), ``currency``,
  ``items``, ``receipt_no``, ``printed_at``, ``payment``, ``refund``,
  ``raster_only``, ``extractor``, ``confidence``, ``text_sha256``, the money
  ladder (``gross``, ``discount``, ``tendered``, ``change``, ``payments``),
  ``doubts`` and ``receipt_kind``: the decoder's fields (``drivers.pos``). A
  reprint, void, pre-bill or kitchen ticket is recorded with its kind, and the
  figures (``edge.kpi``) count only sales and refunds.

With ``encoding = "auto"`` the printer's encoding is found from its first
receipts and kept in ``pos-encoding.json`` next to the database (per sensor),
so a restart reads the next receipt right at once; ``status`` shows it.

Ids are ``record_id(start, natural key)`` with the sensor and the text's hash
in the key, so decoding the same recording again gives the same ids. The
masked text goes to the ``receipt_texts`` table under the record's id, for
``raw_text_retention_h`` hours (none with 0), written off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from drivers.pos.line.line import LineError
from drivers.pos.line.replay import CaptureOpener, LineReplay
from drivers.pos.result import Receipt
from drivers.timeline import Timeline
from edge.aggregate.ids import Record
from edge.errors import CaptureError, StoreError
from edge.runtime.pipeline import Pipeline
from edge.sensors.plugin import Emit, SensorPlugin, Source
from edge.sensors.pos.config import PosSensorConfig
from edge.sensors.pos.records import transaction_record
from edge.sensors.pos.settings import (
    EncodingMemory,
    decoder_factory,
    encoding_of,
    encoding_text,
    pos_line,
)
from edge.sensors.table import load_driver
from edge.store.receipts import ReceiptText, save_receipt_texts

__all__ = ["PLUGIN"]

log = logging.getLogger("mallsense.pos")
SOURCE = load_driver("pos")
"""The live source class, loaded with this module: without pyserial the daemon leaves POS
sensors out with the registry's message (what to install), and runs the others."""


def _text_row(sensor: PosSensorConfig, record: Record, receipt: Receipt) -> ReceiptText:
    return ReceiptText(
        record["id"],
        sensor.name,
        sensor.store,
        record["start"],
        receipt.text,
        receipt.extractor,
        record["confidence"],
        receipt.t_end,
        receipt.t_end + sensor.raw_text_retention_h * 3600,
    )


def _save_texts(path: Path, rows: list[ReceiptText], now: float) -> None:
    try:
        save_receipt_texts(path, rows, now)
    except StoreError as exc:  # the records are unaffected; only the technician's copy is lost
        log.error("receipt texts not kept: %s", exc)


def _saver(path: Path) -> Callable[[list[ReceiptText]], None]:
    """Writes texts on a worker thread when called on the event loop (the daemon), else now."""

    def save(rows: list[ReceiptText]) -> None:
        now = max(row.created for row in rows)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            _save_texts(path, rows, now)
            return
        loop.run_in_executor(None, _save_texts, path, rows, now)

    return save


# -- the plugin ---------------------------------------------------------------------------------


_MEMORIES: dict[Path, EncodingMemory] = {}
"""One memory per database folder: the health report and the metrics both read it."""


def _encodings(pipeline: Pipeline) -> EncodingMemory | None:
    if pipeline.store is None:
        return None
    folder = pipeline.store.path.parent
    return _MEMORIES.setdefault(folder, EncodingMemory(folder))


def _make_source(
    sensor: PosSensorConfig, pipeline: Pipeline, clock: Callable[[], float], override: Any
) -> Source:
    line = pos_line(sensor)
    memory = _encodings(pipeline)
    known = memory.get(sensor.name) if memory is not None else None
    kwargs: dict[str, Any] = {"clock": clock}
    if override is not None:  # a recording: never forward it to a real printer
        kwargs["opener"] = override
        line = replace(line, passthrough=None)
    source: Source = SOURCE(line, decoder_factory(sensor, known), **kwargs)
    return source


def _make_handler(sensor: PosSensorConfig, pipeline: Pipeline) -> Emit:
    mall, box = pipeline.config.mall, pipeline.config.box
    keep = pipeline.store is not None and sensor.raw_text_retention_h > 0
    save = _saver(pipeline.store.path) if pipeline.store is not None and keep else None

    def handle(batch: list[Any]) -> None:
        receipts = [item for item in batch if isinstance(item, Receipt)]
        records = [transaction_record(mall, box, sensor, r) for r in receipts]
        if records:
            pipeline.add_records(records)
        if save is not None and records:
            save([_text_row(sensor, rec, r) for rec, r in zip(records, receipts, strict=True)])

    return handle


def _counters(sensor: PosSensorConfig, pipeline: Pipeline, source: Any) -> dict[str, object]:
    stats = getattr(source, "stats", None)
    counters: dict[str, object] = stats() if callable(stats) else {}
    encoding = encoding_of(counters)
    if encoding is not None:
        memory = _encodings(pipeline)
        if memory is not None and encoding.get("how") == "detected":
            memory.keep(sensor.name, str(encoding["encoding"]))
        counters["encoding"] = encoding_text(counters)
    return {"port": sensor.port, "store": sensor.store} | counters


def _simulate(sensor: PosSensorConfig, path: Path, timeline: Timeline) -> CaptureOpener:
    """A capture file played once as the POS side of the line, on the shared timeline."""
    try:
        LineReplay(path, timeline)  # read now: a damaged file is the command's error
    except LineError as exc:
        raise CaptureError(f"sensor {sensor.name}: {exc}") from exc
    return CaptureOpener(path, timeline)


PLUGIN = SensorPlugin(
    make_source=_make_source,
    make_handler=_make_handler,
    silence_timeout=lambda sensor: None,  # a shop's printer is silent all night
    device=lambda sensor: sensor.port,
    counters=_counters,
    simulate=_simulate,
)
