"""BLE recordings: JSON lines of what bleak reports, one advertisement a line.

``mallsense ble record`` writes them from a live adapter; ``mallsense replay --ble``,
``mallsense ble watch --file`` and ``mallsense run --simulate`` read them. A line
holds bleak's fields as they were reported, so a recording replays through the very
code a live scan runs (``advert_builder.AdvertBuilder``)::

    {"t": 1773482400.125, "address": "5A:3C:11:22:33:44", "address_type": "random",
     "rssi": -61, "manufacturer_data": {"76": "1005031c1d2e3f"}, "tx_power": 12}

``t`` is epoch seconds (UTC); ``manufacturer_data`` is keyed by the decimal company id
(``"0x004c"`` is read too), values are hex; ``service_data`` is keyed by service UUID;
``local_name``, ``service_uuids``, ``tx_power`` and ``address_type`` (BlueZ's
``public``/``random``) are left out when bleak reported nothing. The first line may
be a header ``{"format": "mallsense-ble-jsonl/1", ...}``.

A recording holds raw Bluetooth addresses and device names: it is a technician's
local file, never shipped; replaying it stores only pseudonyms. Reading never raises
on a bad line: it is counted (``rejected``) and skipped, and a last line cut short
marks the recording ``truncated``. A time that cannot be a recording's (negative, or
after 2100: ``"t": 1e308`` would overflow every date conversion after it) is such a
bad line, with its reason and line number in ``problems``; the sensor's time gate
(``drivers.timegate``) then judges the rest against their neighbours. A file whose
first line is not JSON at all is not a recording (``RecordingFormatError``).
"""

from __future__ import annotations

import json
import math
from collections import Counter, deque
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, NamedTuple

from drivers.timegate import LATEST, show_time

__all__ = [
    "FORMAT",
    "RAW_ADDRESS_WARNING",
    "BleRecord",
    "RecordingFormatError",
    "RecordingReader",
    "RecordingWriter",
    "bounded_lines",
    "parse_record",
    "record_line",
]

FORMAT: Final = "mallsense-ble-jsonl/1"
RAW_ADDRESS_WARNING: Final = (
    "this recording holds raw Bluetooth addresses and device names: keep it on the"
    " technician's machine, never share or upload it (replaying it stores only pseudonyms)"
)
_MAX_ADDRESS: Final = 64
_MAX_LINE: Final = 16_384
_PROBLEMS_KEPT: Final = 5
_RSSI_RANGE: Final = range(-126, 21)
"""BlueZ reports -127 when the adapter gave no RSSI (HCI: 127, not available)."""


class RecordingFormatError(ValueError):
    """The file is not a BLE recording (its first line is not a JSON object)."""


class BleRecord(NamedTuple):
    """One advertisement as bleak reported it (raw: holds the address)."""

    t: float
    address: str
    address_type: str | None
    rssi: int | None
    local_name: str | None
    manufacturer_data: dict[int, bytes]
    service_data: dict[str, bytes]
    service_uuids: list[str]
    tx_power: int | None


def record_line(record: BleRecord) -> str:
    """The JSON line of one record (compact; empty fields left out)."""
    out: dict[str, object] = {"t": round(record.t, 6), "address": record.address}
    if record.address_type is not None:
        out["address_type"] = record.address_type
    if record.rssi is not None:
        out["rssi"] = record.rssi
    if record.local_name is not None:
        out["local_name"] = record.local_name
    if record.manufacturer_data:
        out["manufacturer_data"] = {str(k): v.hex() for k, v in record.manufacturer_data.items()}
    if record.service_data:
        out["service_data"] = {k: v.hex() for k, v in record.service_data.items()}
    if record.service_uuids:
        out["service_uuids"] = list(record.service_uuids)
    if record.tx_power is not None:
        out["tx_power"] = record.tx_power
    return json.dumps(out, separators=(",", ":"))  # ASCII: any name survives any file system


def parse_record(obj: Mapping[str, Any]) -> BleRecord | None:
    """A record from one decoded JSON line; None when a field has the wrong type."""
    t: Any = obj.get("t")
    address = obj.get("address")
    if not _number(t) or not isinstance(address, str) or not 0 < len(address) <= _MAX_ADDRESS:
        return None
    try:
        manufacturer = _manufacturer(obj.get("manufacturer_data", {}))
        service = _service(obj.get("service_data", {}))
        uuids = _uuids(obj.get("service_uuids", []))
    except (TypeError, ValueError, AttributeError):
        return None
    address_type = obj.get("address_type")
    name = obj.get("local_name")
    return BleRecord(
        t=float(t),
        address=address,
        address_type=address_type if address_type in ("public", "random") else None,
        rssi=_int_in(obj.get("rssi"), _RSSI_RANGE),
        local_name=name if isinstance(name, str) else None,
        manufacturer_data=manufacturer,
        service_data=service,
        service_uuids=uuids,
        tx_power=_int_in(obj.get("tx_power"), range(-127, 128)),
    )


def _number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _int_in(value: object, allowed: range) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value in allowed:
        return value
    return None


def _manufacturer(raw: object) -> dict[int, bytes]:
    if not isinstance(raw, dict):
        raise TypeError("manufacturer_data is not an object")
    out: dict[int, bytes] = {}
    for key, value in raw.items():
        company = int(key, 16) if key.lower().startswith("0x") else int(key)
        if not 0 <= company <= 0xFFFF:
            raise ValueError(f"company id {key} out of range")
        out[company] = bytes.fromhex(value)
    return out


def _service(raw: object) -> dict[str, bytes]:
    if not isinstance(raw, dict):
        raise TypeError("service_data is not an object")
    return {str(key): bytes.fromhex(value) for key, value in raw.items()}


def _uuids(raw: object) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(u, str) for u in raw):
        raise TypeError("service_uuids is not a list of strings")
    return list(raw)


class RecordingReader:
    """Iterates the records of one recording, counting what it skips."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: IO[bytes] = self.path.open("rb")  # FileNotFoundError for the caller
        self.header: dict[str, Any] = {}
        self.records = 0
        self.rejected: Counter[str] = Counter()
        """Lines skipped, by reason: ``json`` (not a JSON object), ``fields`` (a field of
        the wrong type), ``time`` (negative or after 2100), ``too_long``."""
        self.problems: deque[str] = deque(maxlen=_PROBLEMS_KEPT)
        """The last few lines skipped for their time, one line each (file and line)."""
        self.lines = 0
        self.truncated = False
        self.bytes_read = 0
        self._first = True

    def __iter__(self) -> Iterator[BleRecord]:
        try:
            for line in bounded_lines(self._file, _MAX_LINE):
                self.lines += 1
                self.bytes_read += len(line)
                record = self._record(line)
                if record is not None:
                    self.records += 1
                    yield record
        finally:
            self._file.close()

    def _record(self, line: bytes) -> BleRecord | None:
        if not line.strip():
            return None
        if len(line) > _MAX_LINE:
            self.rejected["too_long"] += 1
            return None
        first, self._first = self._first, False
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            obj = None
        if not isinstance(obj, dict):
            self._bad_json(line, first)
            return None
        if first and "format" in obj:
            self.header = obj
            return None
        record = parse_record(obj)
        if record is None:
            self.rejected["fields"] += 1
        elif not 0.0 <= record.t < LATEST:
            self.rejected["time"] += 1
            when = "negative" if record.t < 0 else "after 2100"
            self.problems.append(
                f"{self.path} line {self.lines}: time {show_time(record.t)} is {when}; skipped"
            )
            return None
        return record

    def _bad_json(self, line: bytes, first: bool) -> None:
        if first:
            raise RecordingFormatError(
                f"{self.path} is not a BLE recording (JSON lines of bleak advertisements,"
                " as `mallsense ble record` writes them)"
            )
        if not line.endswith(b"\n"):
            self.truncated = True  # the last line, cut short by a crash or a full disk
        else:
            self.rejected["json"] += 1


class RecordingWriter:
    """Writes a recording: a header line, then one line per advertisement."""

    def __init__(self, path: str | Path, adapter: str | None = None) -> None:
        self.path = Path(path)
        self._file: IO[str] = self.path.open("w", encoding="utf-8")
        self.records = 0
        header = {"format": FORMAT, "adapter": adapter, "warning": RAW_ADDRESS_WARNING}
        self._file.write(json.dumps(header, separators=(",", ":")) + "\n")

    def write(self, record: BleRecord) -> None:
        self._file.write(record_line(record) + "\n")
        self.records += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def bounded_lines(file: IO[bytes], limit: int) -> Iterator[bytes]:
    """The lines of ``file``; a line longer than ``limit`` is read in parts and given as
    ``limit + 1`` bytes of it (for the caller to count as too long), so one line with no
    newline in a huge file never sits in memory whole."""
    while line := file.readline(limit + 1):
        if len(line) > limit and not line.endswith(b"\n"):
            while (rest := file.readline(limit)) and not rest.endswith(b"\n"):
                pass  # the rest of the over-long line, dropped part by part
        yield line
