"""A receipt -> its ``transaction`` record, in wire form, masked once more on the way.

Record mapping (``edge.records.Transaction``): ``store``/``zone``/``sensor`` from the
sensor's configuration; ``start``/``end`` when the receipt's first and last bytes
were read (event time, not the date printed on it); the rest is the decoder's
(``drivers.pos``). Ids are ``record_id(start, natural key)`` with the sensor and the
text's hash in the key, so decoding the same recording again gives the same ids.
"""

from __future__ import annotations

from typing import cast

from drivers.pos.extract.mask import mask_value
from drivers.pos.result import Receipt, money_json, payments_json
from edge.aggregate.ids import Record, iso, record_id
from edge.record_dicts import TransactionDict
from edge.sensors.pos.config import PosSensorConfig

__all__ = ["mask_record", "transaction_record"]

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
    record: TransactionDict = {
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
        "total": money_json(receipt.total),
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
        "gross": money_json(receipt.gross),
        "discount": money_json(receipt.discount),
        "tendered": money_json(receipt.tendered),
        "change": money_json(receipt.change),
        "payments": payments_json(receipt.payments) or None,
        "doubts": list(receipt.doubts),
        "receipt_kind": receipt.kind,
    }
    return mask_record(cast(Record, record))
