"""The BLE scanner on bleak's real BlueZ backend over a fake BlueZ (tests/ble_fakes.py).

Everything above the D-Bus properties is real: bleak's ``BleakScanner`` and BlueZ
backend class, our source thread, its watchdog, the advert builder; the adapter
reset runs a fake ``btmgmt``/``bluetoothctl`` found on PATH, as the Wi-Fi hopper
tests do with ``iw``. Also: the recording format and pseudonyms of addresses.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ble_fakes import IPHONE, MALL_BEACON, Script, device1, fake_bluez, fake_tool
from bleak.assigned_numbers import AdvertisementDataType
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.ble.advert_builder import AdvertBuilder
from drivers.ble.recording import (
    FORMAT,
    BleRecord,
    RecordingFormatError,
    RecordingReader,
    RecordingWriter,
    parse_record,
    record_line,
)
from drivers.ble.source import AdapterReset, BleAdapterError, BleScannerSource
from drivers.observations import Advert, Watermark
from drivers.privacy import Pseudonymizer

KEY = bytes(range(32))
PHONE = "5A:11:22:33:44:55"


class Running:
    """A scanner source on its own thread, as the daemon runs it."""

    def __init__(self, source: BleScannerSource) -> None:
        self.source = source
        self.items: list[Advert | Watermark] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.source.run(self.items.extend, self._stop)
        except BaseException as exc:
            self.error = exc

    @property
    def adverts(self) -> list[Advert]:
        return [i for i in self.items if isinstance(i, Advert)]

    def until(self, condition: Callable[[], bool], timeout: float = 8.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.error is None, repr(self.error)
            assert time.monotonic() < deadline, "condition not met in time"
            time.sleep(0.02)

    def __enter__(self) -> Running:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        assert not self._thread.is_alive()


def source(script: Script, **kwargs: object) -> BleScannerSource:
    builder = AdvertBuilder("ble1", Pseudonymizer(KEY))
    args: dict[str, object] = {"adapter": "hci1", "backend": fake_bluez(script)} | kwargs
    return BleScannerSource(builder, **args)  # type: ignore[arg-type]


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty folder first on PATH for fake tools; the log they write to."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    yield tmp_path / "tools.log"


def test_passive_scan_with_or_patterns_keeps_every_duplicate() -> None:
    script = Script([device1(PHONE, rssi, manufacturer={76: IPHONE}) for rssi in (-50, -52)])
    with Running(source(script)) as run:
        run.until(
            lambda: len(run.adverts) >= 40 and any(isinstance(i, Watermark) for i in run.items)
        )
    assert script.starts == ["passive"]
    (request,) = script.requests
    assert request["adapter"] == "hci1"
    assert request["filters"]["DuplicateData"] is False
    assert (0, AdvertisementDataType.FLAGS, b"\x1a") in request["or_patterns"]
    adverts = run.adverts
    assert {a.device for a in adverts} == {adverts[0].device}  # one phone, every advert kept
    assert {a.rssi for a in adverts} == {-50, -52}
    first = adverts[0]
    assert (first.sensor, first.address_kind, first.kind, first.device_class) == (
        "ble1", "resolvable", "apple", "phone",
    )  # fmt: skip
    assert first.device != PHONE and "11:22" not in first.device and len(first.device) == 16
    assert run.source.stats()["scan_mode"] == "stopped"  # after the exit
    assert run.source.builder.frames >= 40


def test_without_passive_support_it_scans_actively_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    script = Script([device1(PHONE, manufacturer={76: IPHONE})], passive_supported=False)
    with caplog.at_level(logging.WARNING), Running(source(script)) as run:
        run.until(lambda: len(run.adverts) >= 3)
        assert run.source.mode == "active"
    assert script.starts == ["active"]
    (line,) = [r.getMessage() for r in caplog.records if "passive scanning" in r.getMessage()]
    assert "hci1" in line and "scanning actively" in line and "--experimental" in line


def test_silent_adapter_restarts_then_resets_with_btmgmt(
    tools: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake_tool(tools.parent / "bin", "btmgmt", tools)
    script = Script(
        [device1(PHONE, manufacturer={76: IPHONE})],
        stall_after=3,
        resume_when=lambda: tools.exists() and "power on" in tools.read_text(),
    )
    scanner = source(script, silence_timeout_s=0.3, reset_after_restarts=2, settle_s=0.0)
    with caplog.at_level(logging.INFO), Running(scanner) as run:
        run.until(lambda: len(run.adverts) >= 10)
    stats = scanner.stats()
    assert (stats["scanner_restarts"], stats["adapter_resets"]) == (2, 1)
    assert stats["adapter_reset_failures"] == 0 and stats["silent_restarts_in_row"] == 0
    assert tools.read_text().splitlines() == ["--index 1 power off", "--index 1 power on"]
    assert script.starts == ["passive"] * 4  # first start, two restarts, start after the reset
    messages = [r.getMessage() for r in caplog.records]
    assert sum("restarting the scanner" in m for m in messages) == 2
    assert any("resetting adapter hci1" in m for m in messages)
    assert any("advertisements again on hci1" in m for m in messages)


def test_a_failed_reset_is_counted_and_says_what_to_do(
    tools: Path, caplog: pytest.LogCaptureFixture
) -> None:
    script = Script([device1(PHONE, manufacturer={76: IPHONE})], stall_after=1)
    scanner = source(script, silence_timeout_s=0.2, reset_after_restarts=1, settle_s=0.0)
    with caplog.at_level(logging.ERROR), Running(scanner) as run:
        run.until(lambda: scanner.adapter_reset_failures >= 1)
    (line,) = [r.getMessage() for r in caplog.records if "cannot reset" in r.getMessage()][:1]
    assert "btmgmt" in line and "hci1" in line and "by hand" in line


def test_bluetoothctl_resets_the_default_adapter_when_btmgmt_is_missing(tools: Path) -> None:
    fake_tool(tools.parent / "bin", "bluetoothctl", tools)
    assert AdapterReset("hci0")() is None
    assert tools.read_text().splitlines() == ["power off", "power on"]
    problem = AdapterReset("hci1")()
    assert problem is not None and "install btmgmt" in problem


def test_a_failing_reset_command_reports_its_last_line(tools: Path) -> None:
    fake_tool(tools.parent / "bin", "btmgmt", tools, exit_code=3)
    problem = AdapterReset("hci0")()
    assert problem is not None and "power off" in problem and "exit status 3" in problem


def test_bluez_out_of_reach_is_explained() -> None:
    run = Running(source(Script([], unreachable=True)))
    with run:
        deadline = time.monotonic() + 5
        while run.error is None and time.monotonic() < deadline:
            time.sleep(0.02)
    assert isinstance(run.error, BleAdapterError) and isinstance(run.error, OSError)
    message = str(run.error)
    assert "hci1" in message and "cannot reach BlueZ" in message
    assert "systemctl status bluetooth" in message and "rfkill" in message


# -- addresses and pseudonyms ----------------------------------------------------------------


def test_addresses_get_pseudonyms_of_their_own_domain() -> None:
    pseudonymizer = Pseudonymizer(KEY)
    builder = AdvertBuilder("b", pseudonymizer)
    t = 1_773_482_400.0

    def advert(address: str, address_type: str | None = "random") -> Advert:
        built = builder.build(t, address, address_type, -60, {76: IPHONE}, {}, [])
        assert built is not None
        return built

    mac = bytes.fromhex(PHONE.replace(":", ""))
    assert advert(PHONE).device != pseudonymizer.pseudonym(mac, t)  # never a Wi-Fi MAC's
    assert (
        advert(PHONE).device == advert(PHONE.lower()).device == advert("5a-11-22-33-44-55").device
    )
    assert advert(PHONE, "public").address_kind == "public"
    assert advert("C4:AA:BB:CC:DD:EE").address_kind == "static"
    assert advert("1F:AA:BB:CC:DD:EE").address_kind == "non_resolvable"
    assert builder.build(t, " ", None, -60, {}, {}, []) is None
    assert builder.stats()["rejected"] == {"no_address": 1}


def test_beacon_identity_and_missing_rssi() -> None:
    builder = AdvertBuilder("b", Pseudonymizer(KEY))
    beacon = builder.build(0.0, "C4:AA:BB:CC:DD:EE", "random", -127, {76: MALL_BEACON}, {}, [])
    assert beacon is not None and beacon.rssi is None  # BlueZ's -127: no RSSI
    assert beacon.beacon == "6d616c6c-7365-6e73-652d-626561636f6e:1:1"
    assert (beacon.kind, beacon.device_class) == ("ibeacon", "beacon")


# -- the recording format --------------------------------------------------------------------


def test_recordings_round_trip_and_count_what_they_skip(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    feaa = "0000feaa-0000-1000-8000-00805f9b34fb"
    record = BleRecord(
        1.5, PHONE, "random", -61, "Kim's iPhone", {76: IPHONE}, {feaa: b"\x00\x01"}, [feaa], 12
    )
    with RecordingWriter(path, adapter="hci0") as writer:
        writer.write(record)
        writer.write(record._replace(t=2.0, local_name=None, address_type=None, rssi=None))
    with path.open("a") as f:
        f.write('["not", "an", "object"]\n{"t": "x", "address": "A"}\n')
        f.write('{"t": 3, "address": "B", "manufacturer_data": {"0x004c": "10"}}\n{"t": 4, "addr')
    reader = RecordingReader(path)
    got = list(reader)
    assert got[:2] == [
        record,
        record._replace(t=2.0, local_name=None, address_type=None, rssi=None),
    ]
    assert got[2].manufacturer_data == {76: b"\x10"}
    assert (
        reader.header["format"] == FORMAT and "raw Bluetooth addresses" in reader.header["warning"]
    )
    assert dict(reader.rejected) == {"json": 1, "fields": 1}
    assert reader.truncated is True
    assert json.loads(path.read_text().splitlines()[2])["manufacturer_data"] == {"76": IPHONE.hex()}


def test_a_file_that_is_not_a_recording_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "capture.pcap"
    path.write_bytes(b"\xd4\xc3\xb2\xa1" + bytes(20))
    with pytest.raises(RecordingFormatError, match="not a BLE recording"):
        list(RecordingReader(path))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_FIELDS = st.sampled_from(
    ["t", "address", "address_type", "rssi", "local_name", "manufacturer_data", "service_data",
     "service_uuids", "tx_power"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries({"t": st.floats(), "address": st.text(max_size=70)}),
    st.dictionaries(_FIELDS | st.text(max_size=6), _JSON, max_size=9),
)
def test_any_json_object_is_a_record_or_none(
    base: dict[str, object], obj: dict[str, object]
) -> None:
    record = parse_record(base | obj)
    if record is not None:  # and a record survives its own line (time to the microsecond)
        again = parse_record(json.loads(record_line(record)))
        assert again is not None and again._replace(t=record.t) == record
        assert again.t == pytest.approx(record.t, abs=1e-6, rel=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40) | st.just(b"[" * 5000), max_size=6))
def test_any_bytes_after_a_header_are_read_or_counted(tmp_path_factory: pytest.TempPathFactory,
                                                       lines: list[bytes]) -> None:  # fmt: skip
    path = tmp_path_factory.mktemp("fuzz") / "r.jsonl"
    path.write_bytes(b'{"format": "mallsense-ble-jsonl/1"}\n' + b"\n".join(lines))
    reader = RecordingReader(path)
    records = list(reader)
    assert reader.records == len(records)
