"""POS sensors: a receipt printer's line -> receipts -> ``transaction`` records.

Record mapping (``edge.records.Transaction``), one record per receipt that
looks like a receipt (garbage from a misconfigured line is counted and warned
about by the source, never recorded):

- ``store``/``zone``/``sensor``: the POS sensor's configuration;
- ``start``/``end``: when the receipt's first and last bytes were read (the
  source's clock: event time, not the date printed on the receipt);
- ``total`` (negative for a refund), ``currency``, ``items``, ``receipt_no``,
  ``printed_at``, ``payment``, ``refund``, ``raster_only``, ``extractor``,
  ``confidence``, ``text_sha256``: the decoder's fields (``drivers.pos``).

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

from drivers.pos.line import LineError
from drivers.pos.mask import mask_value
from drivers.pos.replay_line import CaptureLine, CaptureOpener
from drivers.pos.result import Receipt
from drivers.registry import load_driver
from drivers.timeline import Timeline
from edge.aggregate.ids import Record, iso, record_id
from edge.config.sensors import PosSensorConfig
from edge.errors import CaptureError, StoreError
from edge.runtime.pipeline import Pipeline
from edge.runtime.sensors import Emit, SensorPlugin, Source
from edge.runtime.sensors.pos_config import decoder_factory, pos_line
from edge.store.receipts import ReceiptText, save_receipt_texts

__all__ = ["PLUGIN", "mask_record", "transaction_record"]

log = logging.getLogger("mallsense.pos")
SOURCE = load_driver("pos")
"""The live source class, loaded with this module: without pyserial the daemon leaves POS
sensors out with the registry's message (what to install), and runs the others."""


# -- receipts -> records ----------------------------------------------------------------------

_OURS = frozenset({"id", "kind", "schema", "mall", "box", "supersedes", "start", "end",
                   "text_sha256"})  # fmt: skip
"""Record keys this module makes itself (ids, times, a hash): the only ones not masked."""


def mask_record(record: Record) -> Record:
    """The last step before a record is stored: every value that came from the receipt is
    masked once more, so a field added later cannot carry a card number past the masker."""
    masked = dict(record)
    for key, value in record.items():
        if key not in _OURS:
            masked[key] = mask_value(value)[0]
    return masked


def transaction_record(mall: str, box: str, sensor: PosSensorConfig, receipt: Receipt) -> Record:
    """The ``transaction`` record of one receipt, in wire form (as ``edge.aggregate.emit``)."""
    start = receipt.t_start
    key = f"{mall}\x1f{box}\x1ftransaction\x1f{sensor.name}\x1f{start!r}\x1f{receipt.text_sha256}"
    record: Record = {
        "id": record_id(start, key),
        "kind": "transaction",
        "schema": "transaction/1",
        "mall": mall,
        "box": box,
        "supersedes": None,
        "store": sensor.store,
        "zone": sensor.zone,
        "sensor": sensor.name,
        "start": iso(start),
        "end": iso(receipt.t_end),
        "total": None if receipt.total is None else float(receipt.total),
        "currency": receipt.currency,
        "items": receipt.items,
        "receipt_no": receipt.receipt_no,
        "printed_at": receipt.printed_at,
        "payment": receipt.payment,
        "refund": receipt.refund,
        "raster_only": receipt.raster_only,
        "extractor": receipt.extractor,
        "confidence": round(min(max(receipt.confidence, 0.0), 1.0), 3),
        "text_sha256": receipt.text_sha256,
    }
    return mask_record(record)


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


def _make_source(
    sensor: PosSensorConfig, pipeline: Pipeline, clock: Callable[[], float], override: Any
) -> Source:
    line = pos_line(sensor)
    kwargs: dict[str, Any] = {"clock": clock}
    if override is not None:  # a recording: never forward it to a real printer
        kwargs["opener"] = override
        line = replace(line, passthrough=None)
    source: Source = SOURCE(line, decoder_factory(sensor), **kwargs)
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
    return {"port": sensor.port, "store": sensor.store} | counters


def _simulate(sensor: PosSensorConfig, path: Path, timeline: Timeline) -> CaptureOpener:
    """A capture file played once as the POS side of the line, on the shared timeline."""
    try:
        CaptureLine(path, timeline)  # read now: a damaged file is the command's error
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
