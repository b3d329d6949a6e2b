"""BLE advertising data from outside (issue 17, case 13): a truncated AD structure is explained.

``mallsense ble decode`` used to drop an AD structure whose length byte runs past the end
without a word; now it is counted and explained ("AD structure at byte 30 claims 9 bytes,
4 left: truncated") while the structures before it are still decoded. Any bytes give
structures, counted errors and one explanation per error, never an exception.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from cli_helpers import invoke
from hostile_settings import FUZZ
from hypothesis import given
from hypothesis import strategies as st

from drivers.ble.decode import parse_ad
from drivers.ble.decode.ad_structures import encode_ad
from drivers.ble.recording import RecordingReader, bounded_lines

IBEACON = "0201061aff4c000215e2c56db5dffb48d2b060d0f5a71096e000010002c5"
"""Flags, then Apple's iBeacon (30 bytes: the next structure starts at byte 30)."""
TRUNCATED = IBEACON + "09ff4c0002"
"""... then a manufacturer structure claiming 9 bytes with only 4 after its length byte."""
WARNING = "AD structure at byte 30 claims 9 bytes, 4 left: truncated"


def test_decode_explains_a_truncated_last_structure_and_decodes_the_rest() -> None:
    result = invoke("ble", "decode", TRUNCATED)
    assert result.exit_code == 0, result.output
    assert f"warning: {WARNING}" in result.stdout
    assert "kind: ibeacon" in result.stdout and "major: 1" in result.stdout


def test_decode_json_counts_and_explains_it() -> None:
    result = invoke("ble", "decode", TRUNCATED, "--json")
    assert result.exit_code == 0, result.output
    decoded = json.loads(result.stdout)
    assert decoded["kind"] == "ibeacon" and decoded["minor"] == 2
    assert decoded["errors"] == 1 and decoded["problems"] == [WARNING]
    assert [s["type"] for s in decoded["structures"]] == [0x01, 0xFF]


def test_a_clean_advertisement_has_no_warning() -> None:
    result = invoke("ble", "decode", IBEACON, "--json")
    assert json.loads(result.stdout)["problems"] == []
    assert "warning" not in invoke("ble", "decode", IBEACON).stdout


def test_only_a_truncated_structure_is_refused_with_the_reason() -> None:
    result = invoke("ble", "decode", "09ff4c0002")
    assert result.exit_code == 2
    assert "AD structure at byte 0 claims 9 bytes, 4 left: truncated" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_a_structure_too_short_for_its_type_is_explained() -> None:
    ad = parse_ad(bytes.fromhex("020106010a0219ff03ff4c00"))
    assert ad.errors == 2 and ad.tx_power is None and ad.manufacturer_data == {0x4C: b""}
    assert ad.problems[0].startswith("AD structure at byte 3 (type 0x0a) has 0 data bytes")
    assert ad.problems[1].startswith("AD structure at byte 5 (type 0x19) has 1 data bytes")


_STRUCTURES = st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=30)), max_size=6).map(
    encode_ad
)


@FUZZ
@given(_STRUCTURES, st.binary(max_size=40))
def test_any_bytes_give_structures_and_one_explanation_per_error(good: bytes, tail: bytes) -> None:
    ad = parse_ad(good + tail)
    assert ad.errors == len(ad.problems)
    assert all("\n" not in p and p.startswith("AD structure at byte ") for p in ad.problems)
    # What comes before the damage is decoded as if the damage were not there.
    clean = parse_ad(good)
    assert ad.structures[: len(clean.structures)] == clean.structures


def test_a_line_without_end_is_read_in_parts_and_the_lines_after_it_are_read() -> None:
    """A recording with one 8 MB line and no newline in it: never held whole in memory;
    counted as too long, and the next lines are read."""
    huge = b'{"t": 1, "pad": "' + b"x" * (8 * 1024 * 1024)
    good = b'{"t": 1773482401.5, "address": "D7:64:C4:98:0B:B8", "rssi": -58}\n'
    lines = list(bounded_lines(io.BytesIO(good + huge + b"\n" + good), 16_384))
    assert [len(line) <= 16_385 for line in lines] == [True, True, True]
    assert lines[0] == good and lines[-1] == good and len(lines) == 3


def test_a_recording_with_an_endless_line_counts_it_and_goes_on(tmp_path: Path) -> None:
    good = b'{"t": 1773482401.5, "address": "D7:64:C4:98:0B:B8", "rssi": -58}\n'
    path = tmp_path / "ble.jsonl"
    path.write_bytes(good + b"[" * (2 * 1024 * 1024) + b"\n" + good)
    reader = RecordingReader(path)
    assert len(list(reader)) == 2
    assert reader.rejected["too_long"] == 1
