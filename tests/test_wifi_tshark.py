"""The parser against tshark on synthetic captures: same probes, fields and identities."""

from __future__ import annotations

import functools
import random
import struct
from collections import defaultdict
from pathlib import Path

import pytest
from wifi_frames import (
    BROADCAST,
    RT_FIELDS,
    T0,
    RtWord,
    VendorWord,
    build_radiotap,
    channel_field,
    freq_to_channel,
    intel_radiotap,
    make_parser,
    non_probe_frames,
    probe_body,
    radiotap,
    run_tshark,
    signal_field,
    tshark_path,
    write_pcap,
    xchannel_field,
)

from drivers.observations import Probe
from drivers.wifi.pcap import open_capture

pytestmark = pytest.mark.skipif(tshark_path() is None, reason="tshark is not installed")

FREQS = [2412, 2417, 2437, 2462, 2472, 2484, 5180, 5240, 5500, 5745, 5825, 5955, 6135, 7115]
SSIDS = [
    b"",
    b"",
    b"",
    b"MallGuest",
    b"eduroam",
    b"HomeNet-5G",
    b"\xe5\x95\x86\xe5\xba\x97",
    b"x" * 32,
]
PROBE_FIELDS = [
    "frame.number",
    "frame.time_epoch",
    "radiotap.dbm_antsignal",
    "radiotap.channel.freq",
    "wlan.sa",
    "wlan.seq",
    "radiotap.flags.badfcs",
]


def random_mac(rng: random.Random) -> str:
    first = rng.randrange(256) & 0xFE  # unicast; the LA bit is random
    return ":".join(f"{b:02x}" for b in [first, *rng.randbytes(5)])


def random_frame(rng: random.Random, macs: list[str], seq: int) -> bytes:
    """A probe request (mostly) or another frame, with one of several radiotap layouts."""
    rssi = rng.randint(-100, -20)
    freq = rng.choice(FREQS)
    kind = rng.random()
    if kind < 0.12:
        return radiotap(rssi=rssi, freq=freq, flags=0) + rng.choice(
            non_probe_frames(rng.choice(macs))
        )
    body = functools.partial(
        probe_body,
        rng.choice(macs),
        seq,
        rng.choice(SSIDS),
        ds_channel=rng.choice([None, 1, 6, 11, 36]),
        ht_cap=rng.choice([None, bytes(26), bytes(range(26))]),
    )
    layout = rng.random()
    if layout < 0.05:  # bad FCS: tshark shows it, the parser rejects it
        return radiotap(rssi=rssi, freq=freq, flags=0x50) + body(fcs=True)
    if layout < 0.2:
        tsft = rng.getrandbits(64)
        return radiotap(rssi=rssi, freq=freq, flags=0x10, tsft=tsft) + body(fcs=True)
    if layout < 0.35:
        antennas = [rng.randint(-100, -20) for _ in range(rng.randint(1, 3))]
        return intel_radiotap(rssi, antennas, freq) + body()
    if layout < 0.45:
        header = build_radiotap(
            [
                RtWord({1: b"\0", 3: channel_field(freq)}),
                VendorWord(data=rng.randbytes(rng.randint(0, 9))),
                RtWord({0: rng.randbytes(8), 5: signal_field(rssi)}),
            ]
        )
        return header + body()
    return radiotap(rssi=rssi, freq=freq, flags=rng.choice([None, 0, 2])) + body()


@pytest.fixture(scope="module")
def synthetic_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(2024)
    macs = [random_mac(rng) for _ in range(60)]
    frames = []
    t = T0
    for i in range(400):
        t += rng.choice([0.0, 0.000001, 0.0123, 0.5, 3.0]) + rng.randrange(1_000_000) * 1e-6
        frames.append((round(t, 6), random_frame(rng, macs, (i * 37) % 4096)))
    return write_pcap(tmp_path_factory.mktemp("tshark") / "synthetic.pcap", frames)


def parse_capture(path: Path) -> tuple[dict[int, Probe], dict[str, object]]:
    parser = make_parser()
    probes = {}
    for number, (t, linktype, frame) in enumerate(open_capture(path), start=1):
        probe = parser.parse(t, frame, linktype)
        if probe is not None:
            probes[number] = probe
    return probes, parser.stats()


def test_synthetic_capture_matches_tshark(synthetic_capture: Path) -> None:
    rows = run_tshark(synthetic_capture, PROBE_FIELDS, "wlan.fc.type_subtype == 4")
    probes, stats = parse_capture(synthetic_capture)
    good = [r for r in rows if r[6] not in ("1", "True")]
    bad_fcs = len(rows) - len(good)
    assert bad_fcs > 5 and len(good) > 250
    assert sorted(probes) == [int(r[0]) for r in good]
    for number, time_epoch, signal, freq, _sa, seq, _bad in good:
        probe = probes[int(number)]
        assert abs(probe.t - float(time_epoch)) < 1e-6, number
        assert probe.rssi == int(signal.split(",")[0]), number
        assert probe.channel == freq_to_channel(int(freq)), number
        assert probe.channel is not None
        assert probe.seq == int(seq), number
    total = len(run_tshark(synthetic_capture, ["frame.number"]))
    assert stats == {
        "frames": total,
        "probes": len(good),
        "ignored": total - len(rows),
        "rejected": {"bad_fcs": bad_fcs},
    }


def test_equal_pseudonyms_iff_equal_source_addresses(synthetic_capture: Path) -> None:
    rows = run_tshark(synthetic_capture, ["frame.number", "wlan.sa"], "wlan.fc.type_subtype == 4")
    probes, _ = parse_capture(synthetic_capture)
    by_mac: defaultdict[str, set[str]] = defaultdict(set)
    by_device: defaultdict[str, set[str]] = defaultdict(set)
    for number, sa in rows:
        if int(number) in probes:
            device = probes[int(number)].device
            by_mac[sa].add(device)
            by_device[device].add(sa)
    assert len(by_mac) > 40
    assert all(len(devices) == 1 for devices in by_mac.values())
    assert all(len(macs) == 1 for macs in by_device.values())
    for number, sa in rows:
        if int(number) in probes:
            assert probes[int(number)].randomized == bool(int(sa[:2], 16) & 2)


# Random radiotap layouts: several namespaces, vendor namespaces, all alignments. tshark
# checks that the builder lays them out right, then the parser must find the same values.
# Left out: FHSS (bit 4), which the parser aligns differently (see test_wifi_parse); bit 25,
# unknown to Wireshark 4.0; bit 26 (0-length PSDU), after which tshark shows no 802.11 frame.
LAYOUT_BITS = sorted(set(RT_FIELDS) - {4, 25, 26})


def random_layout(rng: random.Random) -> tuple[bytes, int | None, int | None, int | None]:
    """A header and its first dBm signal, first Channel freq, first Channel/XChannel freq."""
    words: list[RtWord | VendorWord] = []
    signal = chan = any_freq = None
    for i in range(rng.randint(1, 5)):
        if i and rng.random() < 0.3:
            words.append(
                VendorWord(data=rng.randbytes(rng.randint(0, 12)), bits=rng.randint(1, 0xFFFF))
            )
            continue
        fields: dict[int, bytes] = {}
        for bit in sorted(rng.sample(LAYOUT_BITS, rng.randint(0, 7))):
            size = RT_FIELDS[bit][1]
            if bit == 1:  # no FCS, bad-FCS or padding flags
                fields[bit] = bytes([rng.choice([0, 0x01, 0x02, 0x80])])
            elif bit == 3:
                freq = rng.choice(FREQS)
                fields[bit] = channel_field(freq)
                chan = freq if chan is None else chan
                any_freq = freq if any_freq is None else any_freq
            elif bit == 5:
                fields[bit] = signal_field(rng.randint(-128, 127))
                if signal is None:
                    signal = struct.unpack("<b", fields[bit])[0]
            elif bit == 18:
                freq = rng.choice(FREQS)
                fields[bit] = xchannel_field(freq, freq_to_channel(freq) or 0)
                any_freq = freq if any_freq is None else any_freq
            else:
                fields[bit] = rng.randbytes(size)
        words.append(RtWord(fields))
    return build_radiotap(words), signal, chan, any_freq


def test_random_radiotap_layouts_agree_with_tshark(tmp_path: Path) -> None:
    rng = random.Random(99)
    cases = [random_layout(rng) for _ in range(400)]
    frames = [(T0 + i, header + probe_body(seq=i)) for i, (header, *_) in enumerate(cases)]
    path = write_pcap(tmp_path / "layouts.pcap", frames)
    rows = run_tshark(
        path,
        [
            "frame.number",
            "radiotap.dbm_antsignal",
            "radiotap.channel.freq",
            "wlan.seq",
            "_ws.expert",
        ],
    )
    assert len(rows) == len(cases)
    parser = make_parser()
    multi_namespace = 0
    for (number, signals, freqs, seq, expert), (header, signal, chan, any_freq) in zip(
        rows, cases, strict=True
    ):
        assert "Malformed" not in expert, number
        assert (int(signals.split(",")[0]) if signals else None) == signal, number
        assert (int(freqs.split(",")[0]) if freqs else None) == chan, number
        assert int(seq) == int(number) - 1
        probe = parser.parse(T0, header + probe_body(seq=int(seq)))
        assert probe is not None, (number, header.hex(), dict(parser.rejected))
        assert probe.rssi == signal, (number, header.hex())
        assert probe.channel == (None if any_freq is None else freq_to_channel(any_freq)), number
        multi_namespace += header[7] >= 0x80
    assert multi_namespace > 200


def test_tshark_and_parser_agree_on_a_pcap_written_by_scapy(tmp_path: Path) -> None:
    from scapy.layers.dot11 import RadioTap
    from scapy.utils import wrpcap

    packets = []
    for i, freq in enumerate(FREQS):
        pkt = RadioTap(
            radiotap(rssi=-30 - i, freq=freq) + probe_body(f"02:00:00:00:00:{i:02x}", seq=i)
        )
        pkt.time = T0 + i
        packets.append(pkt)
    path = tmp_path / "scapy.pcap"
    wrpcap(str(path), packets)
    rows = run_tshark(path, PROBE_FIELDS, "wlan.fc.type_subtype == 4")
    probes, _ = parse_capture(path)
    assert len(rows) == len(probes) == len(FREQS)
    for number, _t, signal, frequency, sa, seq, _bad in rows:
        probe = probes[int(number)]
        assert (probe.rssi, probe.channel, probe.seq) == (
            int(signal),
            freq_to_channel(int(frequency)),
            int(seq),
        )
        assert sa != BROADCAST
