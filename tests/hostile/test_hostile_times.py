"""Absurd times (issue 17, case 6): every time from outside is checked before it drives anything.

A record dated 2106 in a 2026 capture, a pcapng whose interface adds a huge time offset,
a BLE line with ``"t": 1e308``: each is a counted rejection naming the file and record,
and the rest of the recording gives the records it gives without it. A real jump of a
sensor's clock (a capture resumed after the night) is believed once frames agree on it.
"""

from __future__ import annotations

import json
import math
import struct
import time
from datetime import datetime
from pathlib import Path

import pytest
from cli_helpers import SAMPLES, SHOP, counts, invoke, json_lines, stored
from hostile_settings import FUZZ
from hypothesis import given
from hypothesis import strategies as st

from drivers.observations import Probe
from drivers.timegate import CONFIRM_FRAMES, EARLIEST, LATEST, TimeGate, time_problem
from drivers.timeline import Timeline
from drivers.wifi.pcap import open_capture
from drivers.wifi.replay import RadioReplay
from edge.aggregate.ids import iso, record_id
from edge.cli.replay_cmd import replay_config
from edge.config import Config, replay_defaults
from edge.errors import CaptureError
from edge.runtime.pipeline import Pipeline
from edge.runtime.radio import radio_handler
from edge.runtime.replay import replay
from edge.store import Store

KEY = bytes(range(32))
BLE = SAMPLES / "ble.jsonl"
_REC = struct.Struct("<IIII")


def _records(data: bytes) -> list[int]:
    """Offsets of a little-endian microsecond pcap's record headers."""
    offsets, pos = [], 24
    while pos + 16 <= len(data):
        offsets.append(pos)
        pos += 16 + _REC.unpack_from(data, pos)[2]
    return offsets


def _with_time(path: Path, index: int, seconds: int) -> Path:
    """A copy of shop.pcap whose record ``index`` (0-based) is dated ``seconds``."""
    data = bytearray(SHOP.read_bytes())
    struct.pack_into("<I", data, _records(bytes(data))[index], seconds)
    path.write_bytes(data)
    return path


def _replay_json(tmp_path: Path, *args: str | Path) -> dict[str, object]:
    result = invoke("replay", *args, "--db", tmp_path / "r.db", "--json")
    assert result.exit_code == 0, result.output + result.stderr
    (summary,) = json_lines(result.stdout)
    return summary


def _sensor(summary: dict[str, object], name: str) -> dict[str, object]:
    sensors = summary["sensors"]
    assert isinstance(sensors, dict)
    found = sensors[name]
    assert isinstance(found, dict)
    return found


# -- case 6a: one record dated 2106 ---------------------------------------------------------


def test_a_record_dated_2106_is_rejected_and_the_capture_counts_as_without_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "clean").mkdir()
    clean = _replay_json(tmp_path / "clean", "--wifi", SHOP)
    hostile = _with_time(tmp_path / "shop.pcap", 500, 0xFFFF_FF00)  # 2106-02-07
    summary = _replay_json(tmp_path, "--wifi", hostile)
    shop = _sensor(summary, "shop")
    assert shop["time_rejected"] == {"time_invalid": 1}
    problems = shop["time_problems"]
    assert isinstance(problems, list) and len(problems) == 1
    problem = problems[0]
    assert f"{hostile} record 501: " in problem and "2106" in problem and "\n" not in problem
    assert summary["records"] == clean["records"]  # 120 presence records, not 36
    latest = max(r["end"] for r in stored(tmp_path / "r.db", "presence"))
    assert latest < "2027"


def test_a_record_a_month_ahead_is_a_counted_jump_not_a_new_present(tmp_path: Path) -> None:
    (tmp_path / "clean").mkdir()
    clean = _replay_json(tmp_path / "clean", "--wifi", SHOP)
    first = _REC.unpack_from(SHOP.read_bytes(), 24)[0]
    hostile = _with_time(tmp_path / "shop.pcap", 700, first + 30 * 86_400)
    summary = _replay_json(tmp_path, "--wifi", hostile)
    shop = _sensor(summary, "shop")
    assert shop["time_rejected"] == {"time_jump": 1} and shop["time_jumps"] == 0
    assert "record 701: " in shop["time_problems"][0]  # type: ignore[index]
    assert summary["records"] == clean["records"]


def test_the_text_summary_names_the_file_and_record(tmp_path: Path) -> None:
    hostile = _with_time(tmp_path / "shop.pcap", 3, 0xFFFF_FF00)
    result = invoke("replay", "--wifi", hostile, "--db", tmp_path / "r.db")
    assert result.exit_code == 0
    assert "times: 1 impossible, 0 far from their neighbours: skipped" in result.stdout
    assert f"warning: {hostile} record 4: time" in result.stdout


def test_a_capture_resumed_after_the_night_is_believed_whole(tmp_path: Path) -> None:
    """Two copies of shop.pcap, the second 14 hours later: a real gap, nothing lost."""
    data = SHOP.read_bytes()
    later = bytearray(data[24:])
    for pos in _records(data):
        sec = _REC.unpack_from(data, pos)[0]
        struct.pack_into("<I", later, pos - 24, sec + 14 * 3600)
    path = tmp_path / "two-days.pcap"
    path.write_bytes(data + bytes(later))
    summary = _replay_json(tmp_path, "--wifi", path)
    shop = _sensor(summary, "two-days")
    assert shop["time_rejected"] == {} and shop["time_jumps"] == 1
    assert shop["probes"] == 2 * len(_records(data))


# -- case 6b: a pcapng interface with a time offset ----------------------------------------


def _block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", btype, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))


def _pcapng(offset: int, frames: list[tuple[float, bytes]], tick: float = 1e-6) -> bytes:
    shb = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    options = struct.pack("<HHq", 14, 8, offset) + struct.pack("<HH", 0, 0)
    idb = _block(1, struct.pack("<HHI", 127, 0, 262144) + options)
    out = shb + idb
    for t, frame in frames:
        ticks = round(t / tick)
        head = struct.pack("<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame))
        out += _block(6, head + frame)
    return out


def _shop_frames(n: int = 400) -> list[tuple[float, bytes]]:
    frames = []
    for t, _linktype, frame in open_capture(SHOP):
        frames.append((t, frame))
        if len(frames) == n:
            break
    return frames


def test_a_pcapng_interface_offset_beyond_any_date_is_rejected_not_a_crash(
    tmp_path: Path,
) -> None:
    path = tmp_path / "offset.pcapng"
    path.write_bytes(_pcapng(2**62, _shop_frames()))
    summary = _replay_json(tmp_path, "--wifi", path)
    offset = _sensor(summary, "offset")
    assert offset["time_rejected"] == {"time_invalid": 400}
    problems = offset["time_problems"]  # the last few
    assert isinstance(problems, list) and len(problems) == 5
    assert problems[-1].endswith("offset.pcapng record 400: time 4.61169e+18 is not between"
                                 " 2000 and 2100; skipped")  # fmt: skip


def test_a_pcapng_with_a_sane_interface_offset_is_read_as_recorded(tmp_path: Path) -> None:
    frames = _shop_frames()
    base = int(frames[0][0])
    path = tmp_path / "relative.pcapng"  # timestamps relative to the interface's offset
    path.write_bytes(_pcapng(base, [(t - base, f) for t, f in frames]))
    summary = _replay_json(tmp_path, "--wifi", path)
    relative = _sensor(summary, "relative")
    assert relative["time_rejected"] == {} and relative["probes"] == 400


def test_record_dates_and_ids_never_raise() -> None:
    for t in (math.nan, math.inf, -math.inf, 1e308, -1e308, 9.2e18, 2.0**63, -4e10):
        assert datetime.fromisoformat(iso(t)).tzinfo is not None  # a date the contract reads
        assert len(record_id(t, "zone")) == 36
    assert iso(1_773_482_400.125) == "2026-03-14T10:00:00.125Z"


# -- case 6c: a BLE line with "t": 1e308 ---------------------------------------------------


def test_a_ble_line_dated_1e308_is_a_counted_line_not_an_overflow(tmp_path: Path) -> None:
    lines = BLE.read_text().splitlines(keepends=True)
    bad = '{"t": 1e308, "address": "5A:3C:11:22:33:44", "rssi": -50}\n'
    negative = '{"t": -5, "address": "5A:3C:11:22:33:45", "rssi": -50}\n'
    path = tmp_path / "ble.jsonl"
    path.write_text("".join([*lines[:50], bad, *lines[50:60], negative, *lines[60:]]))
    (tmp_path / "clean").mkdir()
    clean = _replay_json(tmp_path / "clean", "--ble", BLE)
    summary = _replay_json(tmp_path, "--ble", path)
    ble = _sensor(summary, "ble")
    assert ble["rejected"] == {"line_time": 2}
    problems = ble["time_problems"]
    assert isinstance(problems, list) and len(problems) == 2
    assert f"{path} line 51: time 1e+308 is after 2100" in problems[0]
    assert f"{path} line 62: " in problems[1] and "negative" in problems[1]
    assert summary["records"] == clean["records"]
    assert counts(tmp_path / "r.db") == counts(tmp_path / "clean" / "r.db")


# -- the gate itself -----------------------------------------------------------------------


def _frames(times: list[float]) -> list[tuple[float, int]]:
    return [(t, i) for i, t in enumerate(times)]


T0 = 1_773_482_400.0


def test_the_gate_holds_the_first_frames_so_an_absurd_first_one_cannot_lead() -> None:
    gate = TimeGate("s", "x.pcap", "record")
    times = [T0 + 40 * 86_400] + [T0 + i for i in range(20)]
    got = gate.admit(_frames(times))
    assert [t for t, _ in got] == times[1:]
    assert gate.rejected == {"time_jump": 1} and gate.jumps == 0
    assert gate.problems[0].startswith("x.pcap record 1: time 2026-04-23")


def test_the_gate_rejects_an_outlier_between_neighbours_in_any_batching() -> None:
    times = [T0 + i for i in range(30)]
    times[17] = T0 + 5 * 3600
    for size in (1, 3, 7, 30):
        gate = TimeGate("s")
        got = []
        for start in range(0, len(times), size):
            got += gate.admit(_frames(times)[start : start + size])
        got += gate.finish()
        assert [i for _, i in got] == [i for i in range(30) if i != 17]
        assert gate.rejected == {"time_jump": 1}


def test_the_gate_believes_a_jump_once_frames_agree_and_loses_none_of_them() -> None:
    gate = TimeGate("s")
    times = [T0 + i for i in range(20)] + [T0 + 86_400 + i for i in range(20)]
    got = gate.admit(_frames(times[:20])) + gate.admit(_frames(times[20:]))
    assert len(got) == 40 and gate.jumps == 1 and not gate.rejected
    assert CONFIRM_FRAMES <= 20


def test_the_gate_rejects_a_jump_still_unconfirmed_at_the_end() -> None:
    gate = TimeGate("s")
    gate.admit(_frames([T0 + i for i in range(20)] + [T0 + 7200.0] * 3))
    assert gate.finish() == [] and gate.rejected == {"time_jump": 3}
    tiny = TimeGate("t")
    assert tiny.admit(_frames([T0, T0 + 1])) == [] and len(tiny.finish()) == 2


@FUZZ
@given(
    st.lists(
        st.floats(allow_nan=True, allow_infinity=True)
        | st.floats(T0 - 86_400, T0 + 86_400)
        | st.sampled_from([T0, T0 + 1.0, EARLIEST, LATEST, -1.0]),
        max_size=60,
    ),
    st.integers(1, 20),
)
def test_the_gate_passes_only_sane_times_in_order_and_counts_the_rest(
    times: list[float], size: int
) -> None:
    gate = TimeGate("s")
    got = []
    for start in range(0, len(times), size):
        got += gate.admit(_frames(times)[start : start + size])
    got += gate.finish()
    assert [i for _, i in got] == sorted(i for _, i in got)  # order kept, nothing twice
    assert all(time_problem(t) is None for t, _ in got)
    assert len(got) + sum(gate.rejected.values()) == len(times)
    assert all("\n" not in p for p in gate.problems)


# -- the live path: the daemon's radio handler, and a recording played as a radio -------


def test_the_daemons_radio_handler_gates_probes_before_the_aggregation() -> None:
    pipeline = Pipeline(replay_defaults(["shop"], Path("unused.db")), KEY, None)
    handle = radio_handler(pipeline, Probe, lambda agg, probes: agg.observe_batch(probes))

    def probe(t: float) -> Probe:
        return Probe(t, "shop", "dev", False, -50, 6, 1, False, None, "fp")

    handle([probe(T0 + i) for i in range(10)])
    handle([probe(T0 + 10), probe(LATEST + 1e6), probe(T0 + 40 * 86_400), probe(T0 + 11)])
    assert pipeline.aggregator.clock == T0 + 11
    gate = pipeline.gates["shop"]
    assert gate.rejected == {"time_invalid": 1, "time_jump": 1}
    assert pipeline.sensor_stats()["shop"]["time_rejected"] == dict(gate.rejected)


def test_a_recording_played_as_a_radio_does_not_wait_for_2106(tmp_path: Path) -> None:
    hostile = _with_time(tmp_path / "shop.pcap", 100, 0xFFFF_FF00)
    radio = RadioReplay(hostile, Timeline(speed=1e7))
    received = 0
    deadline = time.monotonic() + 20
    while not radio.exhausted and time.monotonic() < deadline:
        if radio.wait(0.01) and radio.recv() is not None:
            received += 1
    assert radio.exhausted and received == len(_records(SHOP.read_bytes())) - 1
    assert radio.gate.rejected == {"time_invalid": 1}


# -- fuzzing: mutated captures and BLE lines ----------------------------------------------

_SMALL = SHOP.read_bytes()[: _records(SHOP.read_bytes())[60]]
_SMALL_RECORDS = _records(_SMALL)
_CONFIG = replay_defaults(["fuzz", "fuzz-ble"], Path("unused.db"))


def _replayed(path: Path, ble: Path | None = None) -> Pipeline | None:
    """A replay of ``path`` (or of ``ble``) into a real database next to it: the pipeline,
    or None for a one-line error. Every stored record is dated between 2000 and 2100."""
    started = time.monotonic()
    source = path if ble is None else ble
    try:
        captures = {"fuzz": path} if ble is None else {}
        recordings = {} if ble is None else {"fuzz-ble": ble}
        config = _CONFIG if ble is None else _ble_config()
        with Store(source.with_suffix(".db")) as store:
            pipeline = replay(config, captures, KEY, store, ble=recordings)
            records = list(store.records())
    except CaptureError as exc:
        assert "\n" not in str(exc) and source.name in str(exc)
        return None
    finally:
        assert time.monotonic() - started < 10
    for record in records:
        for field in ("start", "end", "enter", "exit", "interval_start", "interval_end"):
            if isinstance(record.get(field), str):
                assert "2000" <= record[field] < "2100", record
    return pipeline


def _ble_config() -> Config:
    return replay_config({}, {"fuzz-ble": BLE}, Path("unused.db"))


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(_SMALL_RECORDS) - 1),
            st.integers(0, 3),  # which header field: seconds, fraction, lengths
            st.integers(0, 2**32 - 1),
        ),
        max_size=6,
    ),
    st.lists(st.tuples(st.integers(0, len(_SMALL) - 1), st.integers(0, 255)), max_size=4),
)
def test_any_mutated_pcap_gives_a_one_line_error_or_counted_rejections(
    tmp_path_factory: pytest.TempPathFactory,
    headers: list[tuple[int, int, int]],
    flips: list[tuple[int, int]],
) -> None:
    data = bytearray(_SMALL)
    for record, field, value in headers:
        struct.pack_into("<I", data, _SMALL_RECORDS[record] + 4 * field, value)
    for pos, value in flips:
        data[pos] = value
    path = tmp_path_factory.mktemp("pcap") / "fuzz.pcap"
    path.write_bytes(data)
    pipeline = _replayed(path)
    if pipeline is not None:
        gate = pipeline.gates["fuzz"]
        assert pipeline.parsers["fuzz"].frames + sum(gate.rejected.values()) == gate.seen


@FUZZ
@given(
    st.integers(-(2**63), 2**63 - 1),
    st.integers(0, 255),
    st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=30),
)
def test_any_pcapng_offset_resolution_and_timestamps_are_read_or_counted(
    tmp_path_factory: pytest.TempPathFactory, offset: int, tsresol: int, stamps: list[int]
) -> None:
    frames = _shop_frames(len(stamps))
    body = struct.pack("<HHI", 127, 0, 262144) + struct.pack("<HHq", 14, 8, offset)
    body += struct.pack("<HHB3x", 9, 1, tsresol) + struct.pack("<HH", 0, 0)
    data = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)) + _block(1, body)
    for ticks, (_, frame) in zip(stamps, frames, strict=False):
        head = struct.pack("<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame))
        data += _block(6, head + frame)
    path = tmp_path_factory.mktemp("ng") / "fuzz.pcapng"
    path.write_bytes(data)
    pipeline = _replayed(path)
    assert pipeline is not None
    gate = pipeline.gates["fuzz"]
    assert gate.seen == len(stamps)


_JSON_VALUE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.sampled_from([1e308, -1e308, T0, 2**64, "NaN"])
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@FUZZ
@given(
    st.lists(
        st.fixed_dictionaries(
            {"address": st.sampled_from(["5A:3C:11:22:33:44", "D7:64:C4:98:0B:B8"])},
            optional={
                "t": _JSON_VALUE,
                "rssi": _JSON_VALUE,
                "tx_power": _JSON_VALUE,
                "manufacturer_data": _JSON_VALUE
                | st.just({"76": "02155354a1ff0000400080000000000000070007002ac2"}),
                "service_data": _JSON_VALUE,
                "service_uuids": _JSON_VALUE,
            },
        ),
        max_size=12,
    )
)
def test_any_json_values_in_ble_lines_are_read_or_counted(
    tmp_path_factory: pytest.TempPathFactory, objects: list[dict[str, object]]
) -> None:
    head = BLE.read_text().splitlines(keepends=True)[:30]
    path = tmp_path_factory.mktemp("ble") / "fuzz.jsonl"
    path.write_text("".join(head) + "".join(json.dumps(o) + "\n" for o in objects))
    pipeline = _replayed(path.with_suffix(".pcap"), path)
    assert pipeline is not None
    builder = pipeline.ble["fuzz-ble"]
    assert builder.frames + sum(builder.rejected.values()) >= 29


def test_the_daemon_metrics_count_time_rejections_per_sensor(tmp_path: Path) -> None:
    from prometheus_client import generate_latest

    from edge.runtime.daemon import EdgeDaemon
    from edge.runtime.metrics import edge_registry

    config = replay_defaults(["shop"], tmp_path / "edge.db")
    with Store(tmp_path / "edge.db") as store:
        daemon = EdgeDaemon(config, KEY, store)
        handle = radio_handler(daemon.pipeline, Probe, lambda a, p: a.observe_batch(p))
        probes = [Probe(T0 + i, "shop", "d", False, -50, 6, i, False, None, "f") for i in range(9)]
        probes[4] = probes[4]._replace(t=math.inf)
        handle(probes)
        text = generate_latest(edge_registry(daemon)).decode()
    assert 'mallsense_sensor_time_rejected_total{reason="time_invalid",sensor="shop"} 1.0' in text
    assert 'mallsense_sensor_time_rejected_total{reason="time_jump",sensor="shop"} 0.0' in text


def test_a_ble_recording_played_as_an_adapter_skips_a_line_dated_2090(tmp_path: Path) -> None:
    from drivers.ble.replay import Playback

    lines = BLE.read_text().splitlines(keepends=True)
    bad = '{"t": 3800000000, "address": "5A:3C:11:22:33:44", "rssi": -50}\n'
    path = tmp_path / "ble.jsonl"
    path.write_text("".join([*lines[:40], bad, *lines[40:]]))
    playback = Playback(path, Timeline(speed=1e7), loop=False)
    times = []
    while (item := playback.peek()) is not None:
        times.append(item[0])
        playback.advance()
    assert len(times) == len(lines) - 1 and max(times) - min(times) < 86_400
    assert playback.gate.rejected == {"time_jump": 1}


def test_out_of_order_times_within_the_gate_do_not_break_the_grouping(tmp_path: Path) -> None:
    """Found by the pcap fuzz above: two records whose microsecond field says 97 and 260 s
    (a damaged header, within the hour the time gate allows) put probes out of order;
    the grouper then met a pseudonym whose group it had closed, and raised KeyError."""
    data = bytearray(_SMALL)
    for index, fraction in ((0, 96_985_242), (14, 260_248_177)):
        struct.pack_into("<I", data, _SMALL_RECORDS[index] + 4, fraction)
    path = tmp_path / "disordered.pcap"
    path.write_bytes(bytes(data))
    pipeline = _replayed(path)
    assert pipeline is not None and pipeline.stats.records_written > 0
