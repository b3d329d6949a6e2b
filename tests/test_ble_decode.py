"""Decoding real and specified advertisements, against the public decoders' outputs.

Vectors: ``tests/data/ble_vectors.json`` (ours, each named after its device) and the
public decoders' vectors in ``../shared/data/ble`` (read in place, skipped when
absent): beacontools, bluetooth-data-tools, ibeacon-ble and Theengs decoder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from shared_data import shared_data

from drivers.ble.decode import (
    CONTRACT_FIELDS,
    DEVICE_CLASSES,
    KINDS,
    Decoded,
    decode_advertisement,
    decode_fields,
    decode_hex,
    to_json,
)
from drivers.ble.decode.classify import feature_tuple
from drivers.ble.decode.normalize import normalize_fields

OWN = Path(__file__).parent / "data" / "ble_vectors.json"
SHARED = shared_data() / "ble"


def load_own() -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = json.loads(OWN.read_text())["vectors"]
    return vectors


def shared(name: str) -> Any:
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (shared sample data not checked out)")
    return json.loads(path.read_text())


def from_fields(fields: dict[str, Any]) -> Decoded:
    """Decode bleak's form as the JSON files write it (hex values, decimal company ids)."""
    return decode_fields(
        {int(k): bytes.fromhex(v) for k, v in fields.get("manufacturer_data", {}).items()},
        {k: bytes.fromhex(v) for k, v in fields.get("service_data", {}).items()},
        fields.get("service_uuids", []),
        fields.get("local_name"),
        fields.get("tx_power"),
    )


# -- our vectors file ------------------------------------------------------------------


@pytest.mark.parametrize("vector", load_own(), ids=lambda v: v["device"])
def test_own_vectors(vector: dict[str, Any]) -> None:
    assert vector["source"] and vector["license"]
    if "adv_hex" in vector:
        decoded = decode_hex(vector["adv_hex"])
    else:
        decoded = from_fields(vector["fields"])
    if vector["expect"] is None:
        assert decoded is None
        return
    assert decoded is not None
    got = to_json(decoded)
    assert {k: got[k] for k in vector["expect"]} == vector["expect"]
    assert got["kind"] in KINDS
    assert got["device_class"] in DEVICE_CLASSES


def test_json_contract_names_and_order() -> None:
    decoded = decode_hex("0201061aff4c0002154142434445464748494041424344454600010002f8")
    assert decoded is not None
    out = to_json(decoded)
    assert tuple(out)[: len(CONTRACT_FIELDS)] == CONTRACT_FIELDS
    assert json.loads(json.dumps(out)) == out
    assert out["apple_types"] == []


def test_hex_input_forms() -> None:
    plain = decode_hex("0201061aff4c0002154142434445464748494041424344454600010002f8")
    assert plain is not None
    assert (
        decode_hex("0x02 01 06 1a:ff:4c:00:02:15" + "4142434445464748494041424344454600010002f8")
        == plain
    )
    assert decode_hex("zz") is None
    assert decode_hex("") is None


# -- beacontools (citruz/beacontools 2.1.0, MIT) ------------------------------------------

BEACONTOOLS_KIND = {
    "EddystoneUIDFrame": "eddystone_uid",
    "EddystoneURLFrame": "eddystone_url",
    "EddystoneTLMFrame": "eddystone_tlm",
    "EddystoneEncryptedTLMFrame": "eddystone_tlm",
    "EddystoneEIDFrame": "eddystone_eid",
    "IBeaconAdvertisement": "ibeacon",
    "ExposureNotificationFrame": "google",
}


def beacontools_expectation(frame: dict[str, Any]) -> dict[str, Any]:
    """beacontools' fields under our names."""
    kind = frame["type"]
    if kind.startswith("Estimote"):  # Estimote telemetry: not decoded, a beacon all the same
        return {"kind": "unknown", "device_class": "beacon"}
    out: dict[str, Any] = {"kind": BEACONTOOLS_KIND[kind]}
    renames = {
        "tx_power": "tx_power",
        "namespace": "namespace",
        "instance": "instance",
        "url": "url",
        "uuid": "uuid",
        "major": "major",
        "minor": "minor",
        "voltage": "battery_mv",
        "temperature": "temperature_c",
        "advertising_count": "adv_count",
        "eid": "identifier",
        "identifier": "identifier",
        "encrypted_metadata": "metadata",
    }
    out.update({ours: frame[theirs] for theirs, ours in renames.items() if theirs in frame})
    if "seconds_since_boot" in frame:
        out["uptime_s"] = frame["seconds_since_boot"] / 10  # beacontools keeps 0.1 s units
    if kind == "EddystoneEncryptedTLMFrame":
        out["subtype"] = "encrypted"
    return out


@pytest.mark.realdata
def test_beacontools_vectors() -> None:
    checked = 0
    for vector in shared("beacontools_vectors.json"):
        decoded = decode_hex(vector["adv_hex"])
        expected = vector["beacontools_2_1_0"]
        if expected is None:  # beacontools rejects: we reject or find no beacon
            assert decoded is None or decoded.kind == "unknown", vector["test"]
            continue
        assert decoded is not None, vector["test"]
        got = to_json(decoded)
        want = beacontools_expectation(expected)
        assert {k: got[k] for k in want} == pytest.approx(want), vector["test"]
        checked += 1
    assert checked >= 15


# -- bluetooth-data-tools (Bluetooth-Devices, Apache-2.0): its parse is bleak's form -------


@pytest.mark.realdata
def test_bluetooth_data_tools_parse_equals_ours_and_decodes_alike() -> None:
    """bluetooth-data-tools parsed these raw adverts into bleak's fields: our raw parse
    agrees field by field, and decoding either form gives the same result."""
    vectors = shared("bluetooth_data_tools_real_advs.json")
    for vector in vectors:
        raw = decode_hex(vector["adv_hex"])
        assert raw is not None
        assert raw == from_fields(vector), vector["adv_hex"]
    for vector in shared("beacontools_vectors.json"):
        gap = vector["bluetooth_data_tools_gap"]
        raw = decode_hex(vector["adv_hex"])
        if raw is not None:
            assert raw == from_fields(gap), vector["test"]
    assert len(vectors) == 31


def test_bleak_advertisement_data_decodes_like_the_raw_bytes() -> None:
    scanner = pytest.importorskip("bleak.backends.scanner")
    adv = scanner.AdvertisementData(
        local_name=None,
        manufacturer_data={0x004C: bytes.fromhex("0f08d00a7f6e7400080c10022304")},
        service_data={},
        service_uuids=[],
        tx_power=6,
        rssi=-61,
        platform_data=(),
    )
    assert decode_advertisement(adv) == decode_hex(
        "02011a020a0611ff4c000f08d00a7f6e7400080c10022304"
    )


# -- ibeacon-ble (Bluetooth-Devices, MIT): a BlueCharm beacon ------------------------------


@pytest.mark.realdata
def test_ibeacon_ble_bluecharm() -> None:
    vector = shared("ibeacon_ble_bluecharm_vector.json")
    decoded = from_fields(vector)
    upstream = vector["ibeacon_ble_1_2_0_parse"]
    tlm = vector["beacontools_2_1_0_eddystone_tlm_from_feaa"]
    assert (decoded.kind, decoded.uuid, decoded.major, decoded.minor, decoded.tx_power) == (
        "ibeacon",
        upstream["uuid"],
        upstream["major"],
        upstream["minor"],
        upstream["power"],
    )
    assert (decoded.battery_mv, decoded.temperature_c) == (tlm["voltage"], tlm["temperature"])


# -- Theengs decoder (theengs/decoder 2.5.0, GPL-3.0: read in place, not copied) ----------

THEENGS_MODEL: dict[str, dict[str, Any]] = {
    "IBEACON": {"kind": "ibeacon", "device_class": "beacon"},
    "ABTemp": {"kind": "ibeacon", "device_class": "beacon"},
    "MS-CDP": {"kind": "microsoft", "device_class": "computer"},
    "APPLE_CONT": {"kind": "apple"},
    "APPLE_CONTAT": {"kind": "apple"},
    "APPLEAIRPODS": {"kind": "apple", "device_class": "earbuds", "subtype": "proximity_pairing"},
    "APPLEWATCH": {"kind": "apple", "device_class": "wearable"},
    "APPLEDEVICE": {"kind": "apple", "device_class": "phone"},
    "GAEN": {"kind": "google", "subtype": "exposure_notification"},
    "TILE": {"device_class": "tag"},
    "RuuviTag_RAWv1": {"kind": "unknown", "company_id": 0x0499},
}


def theengs_decode(given: dict[str, Any]) -> Decoded | None:
    """Theengs inputs: manufacturer data with its company id in front, or one service data."""
    if "manufacturerdata" in given:
        try:
            data = bytes.fromhex(given["manufacturerdata"])
        except ValueError:
            return None  # the upstream "xxxx" placeholder
        manufacturer = {data[0] | data[1] << 8: data[2:]} if len(data) >= 2 else {}
        return decode_fields(manufacturer, {}, [], given.get("name"))
    uuid = given["servicedatauuid"]
    return decode_fields({}, {uuid: bytes.fromhex(given["servicedata"])}, [])


@pytest.mark.realdata
def test_theengs_vectors() -> None:
    checked = 0
    for vector in shared("theengs_ble_vectors_beacons_apple_ms_gaen.json"):
        # the upstream output is the reference where the suite's expectation is looser
        expected = vector["theengsdecoder_2_5_0_output"]
        want = THEENGS_MODEL.get(expected["model_id"])
        given = vector["input"]
        if want is None or (expected["model_id"] == "TILE" and "manufacturerdata" in given):
            continue  # Theengs tells these by their name; names are not decoded here
        decoded = theengs_decode(given)
        assert decoded is not None, given
        got = to_json(decoded)
        assert {k: got[k] for k in want} == want, vector["input"]
        if want.get("kind") == "ibeacon":
            assert str(got["uuid"]).replace("-", "") == expected["uuid"]
            assert got["major"] == expected["major"]
            if "txpower" in expected:
                assert got["tx_power"] == expected["txpower"]
        if "rpi" in expected:
            assert (got["identifier"], got["metadata"]) == (expected["rpi"], expected["aem"])
        checked += 1
    assert checked >= 24


# -- device class, features, merge ---------------------------------------------------------


def apple(payload_hex: str, tx_power: int | None = None) -> Decoded:
    return decode_fields({0x004C: bytes.fromhex(payload_hex)}, {}, [], None, tx_power)


@pytest.mark.parametrize(
    ("payload", "device_class"),
    [
        ("1219" + "30" + "00" * 24, "earbuds"),  # Find My, device type 3: AirPods
        ("1219" + "20" + "00" * 24, "tag"),  # Find My accessory
        ("1219" + "00" + "00" * 24, "phone"),  # Find My, Apple device
        ("0b0301" + "0000", "wearable"),  # magic switch
        ("0c0e00" + "00" * 13, "phone"),  # Handoff alone
        ("0a0100", "phone"),  # AirPlay source
        ("0906031300000000", "computer"),  # AirPlay target
        ("0306000000000000", "unknown"),  # AirPrint
        ("", "unknown"),
        ("1005", "unknown"),  # Nearby Info cut short: no whole message
    ],
)
def test_apple_device_classes(payload: str, device_class: str) -> None:
    assert apple(payload).device_class == device_class


def test_features_stay_when_transient_apple_messages_and_auth_tags_change() -> None:
    """An iPhone's Nearby Info auth tag and its Handoff come and go; the features stay."""
    first = apple("10061a1ea1b2c3d4", tx_power=12)
    later = apple("0c0e00" + "11" * 13 + "10065b1e55667788", tx_power=12)
    assert first.features == later.features
    assert first.features != apple("10061a1ea1b2c3d4", tx_power=7).features
    assert first.features != apple("10051a1ea1b2c3", tx_power=12).features


def test_features_tuple_is_small_and_named() -> None:
    fields = normalize_fields({0x004C: bytes.fromhex("10061a1ea1b2c3d4")}, {}, ["180f"], "x", 7)
    decoded = decode_fields({0x004C: bytes.fromhex("10061a1ea1b2c3d4")}, {}, ["180f"], "x", 7)
    assert feature_tuple(fields, decoded) == (
        "apple",
        (0x004C,),
        ("0000180f-0000-1000-8000-00805f9b34fb",),
        7,
        True,
        (("nearby_info", 6),),
    )
    assert len(decoded.features) == 16


def test_unknown_company_is_kept_as_id_and_length() -> None:
    decoded = decode_fields({0x0075: b"\x42\x04\x01"}, {}, [], None, None)
    assert (decoded.kind, decoded.company_id, decoded.payload_len) == ("unknown", 0x0075, 3)


def test_lowest_company_id_is_reported_whatever_the_dict_order() -> None:
    a = decode_fields({0x0900: b"\x01", 0x0075: b"\x02"}, {}, [])
    b = decode_fields({0x0075: b"\x02", 0x0900: b"\x01"}, {}, [])
    assert a == b
    assert a.company_id == 0x0075


def test_eddystone_edge_cases() -> None:
    def eddy(frame: str) -> Decoded:
        return decode_fields({}, {"feaa": bytes.fromhex(frame)}, [])

    assert eddy("").subtype == "eddystone_empty"
    assert eddy("00e3").kind == "unknown"  # UID cut short
    assert eddy("10f804").kind == "unknown"  # reserved URL scheme
    assert eddy("10f80361e0").subtype == "invalid_url"  # 0xE0 is a reserved URL octet
    plain = eddy("20000000800000000000" + "00000000")  # no battery, no temperature
    assert (plain.battery_mv, plain.temperature_c) == (None, None)
    cold = eddy("20000bb8fd80" + "00" * 8)
    assert cold.temperature_c == -2.5  # 8.8 fixed point, signed
    assert eddy("2002" + "00" * 12).kind == "unknown"  # unknown TLM version


def test_a_malformed_eddystone_frame_does_not_hide_other_data() -> None:
    frame = {"feaa": b"\x00"}
    with_apple = decode_fields({0x004C: bytes.fromhex("10061a1ea1b2c3d4")}, frame, [])
    assert (with_apple.kind, with_apple.device_class) == ("apple", "phone")
    with_other = decode_fields({0x0059: b"\x01\x02"}, frame, [])
    assert (with_other.kind, with_other.company_id) == ("unknown", 0x0059)
    assert with_other.subtype == "eddystone_malformed"


def test_microsoft_and_google_edge_cases() -> None:
    assert decode_fields({6: b"\x01"}, {}, []).subtype == "malformed"
    assert decode_fields({6: b"\x05\x09"}, {}, []).subtype == "scenario_5"
    assert decode_fields({6: b"\x01\x1f"}, {}, []).subtype == "device_type_31"
    assert decode_fields({6: b"\x01\x28"}, {}, []).device_class == "phone"  # v1, Android
    le_audio = decode_fields({}, {"fe2c": bytes.fromhex("0037aabbcc1801")}, [])
    assert (le_audio.subtype, le_audio.model_id) == ("fast_pair", "aabbcc")
    assert decode_fields({}, {"fe2c": b"\x10"}, []).subtype == "fast_pair_unknown"
    short = decode_fields({}, {"fd6f": b"\x01\x02"}, [])
    assert short.subtype == "exposure_notification_malformed"
    google = decode_fields({0x00E0: b"\x01\x02"}, {}, [])
    assert (google.kind, google.subtype, google.payload_len) == ("google", "manufacturer_data", 2)


def test_service_uuid_and_company_class_tables() -> None:
    assert decode_fields({}, {}, ["0000feed-0000-1000-8000-00805f9b34fb"]).device_class == "tag"
    assert decode_fields({}, {}, ["180d"]).device_class == "wearable"
    assert decode_fields({0x0087: b"\x00"}, {}, []).device_class == "wearable"
    assert decode_fields({}, {}, []).device_class == "unknown"
