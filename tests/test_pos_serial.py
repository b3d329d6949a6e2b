"""The live POS source over real pseudo-terminals: passthrough, baud detection, reconnects, garbage.

A pty pair stands for each serial cable: the test writes as the POS terminal
on one master, the source opens the slave by name with pyserial (exactly as
it opens /dev/ttyUSB0), and a second pair plays the printer. What a pty can
prove: bytes forwarded unchanged and in order, while the decoder fails too;
status replies carried back; a port that disappears and comes back (also
under a by-id symlink); the detector setting each rate on the real port and
choosing. What it cannot: a physical rate. The fake POS reads the rate the
source set (the pty's shared termios) and sends what a UART at that rate
would receive (``pos_pty.uart_resample``, a bit-level model).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pos_pty import FakePos, FakePrinter, PtyPair, by_id_link, pty_pairs, uart_resample
from pos_receipts import LAYOUTS, pos_file

from drivers.pos.decoder import PosDecoder
from drivers.pos.line.baud import Sampling, detect_from_traffic, status_byte
from drivers.pos.line.line import COMMON_RATES, LineError, LineSettings, PosLine
from drivers.pos.line.quality import ACCEPT, score_receipt, score_sample, score_silent
from drivers.pos.line.serial_line import SerialLine
from drivers.pos.line.serial_source import SerialPosSource
from drivers.pos.result import Receipt

FAST = Sampling(listen_s=0.3, quiet_s=0.1, max_s=1.0)
RECEIPTS = ("english-raster-logo", "european-cafe", "refund", "raster-only")


def receipts_bytes(*names: str) -> bytes:
    return b"".join(LAYOUTS[name]().data for name in names)


class Running:
    """A source on its own thread, as the daemon runs it; stopped (and joined) at exit."""

    def __init__(self, source: SerialPosSource) -> None:
        self.source = source
        self.receipts: list[Receipt] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=source.run, args=(self.receipts.extend, self.stop))

    def __enter__(self) -> Running:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive(), "the source did not stop"

    def until(self, predicate: Callable[[], bool], timeout: float = 8.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert self.thread.is_alive(), "the source thread ended"
            assert time.monotonic() < deadline, f"not in time; counters {self.source.stats()}"
            time.sleep(0.02)


def source_on(
    port: str,
    baud: int | None = 19200,
    printer: str | None = None,
    decoder: Callable[[], PosDecoder] | None = None,
    idle_gap: float = 0.3,
) -> SerialPosSource:
    line = PosLine("till", port, LineSettings(baudrate=baud), passthrough=printer)
    factory = decoder or (lambda: PosDecoder("cp437", idle_gap=idle_gap))
    return SerialPosSource(line, factory, sampling=FAST)


def send_in_pieces(pos: PtyPair, data: bytes, seed: int = 7) -> None:
    """Write as a POS does: bursts of random sizes with short pauses."""
    rng = random.Random(seed)
    offset = 0
    while offset < len(data):
        size = rng.randint(1, 700)
        pos.write(data[offset : offset + size])
        offset += size
        if rng.random() < 0.2:
            time.sleep(0.005)


@pytest.fixture
def line_and_printer() -> Iterator[tuple[PtyPair, PtyPair]]:
    with pty_pairs(2) as (pos, printer):
        yield pos, printer


# -- passthrough ------------------------------------------------------------------------------


def test_the_printer_gets_every_byte_unchanged_and_in_order(
    line_and_printer: tuple[PtyPair, PtyPair],
) -> None:
    pos, printer = line_and_printer
    data = receipts_bytes(*RECEIPTS) * 3
    with FakePrinter(printer) as fake, Running(source_on(pos.path, printer=printer.path)) as run:
        run.until(lambda: run.source.counters.state == "reading")
        send_in_pieces(pos, data)
        assert fake.wait_for(len(data)) == data
        run.until(lambda: len(run.receipts) == 3 * len(RECEIPTS))
    assert [r.total for r in run.receipts[:3]] == [LAYOUTS[name]().total for name in RECEIPTS[:3]]
    stats = run.source.stats()
    passthrough = stats["passthrough"]
    assert isinstance(passthrough, dict)
    assert passthrough["lost_bytes"] == 0 and passthrough["latency"]["chunks"] > 0
    assert isinstance(stats["passthrough_p99_ms"], float) and stats["passthrough_p99_ms"] < 50


class BrokenDecoder(PosDecoder):
    """A decoder with a bug: every chunk makes it raise."""

    def feed(self, t: float, data: bytes) -> list[Receipt]:
        raise RuntimeError("decoder bug")


def test_printing_goes_on_while_the_decoder_fails(
    line_and_printer: tuple[PtyPair, PtyPair], caplog: pytest.LogCaptureFixture
) -> None:
    pos, printer = line_and_printer
    data = receipts_bytes(*RECEIPTS)
    source = source_on(pos.path, printer=printer.path, decoder=BrokenDecoder)
    with FakePrinter(printer) as fake, Running(source) as run:
        run.until(lambda: run.source.counters.state == "reading")
        send_in_pieces(pos, data, seed=3)
        assert fake.wait_for(len(data)) == data
        run.until(lambda: run.source.counters.parser_errors > 0)
        assert run.source.counters.state == "reading"
    assert run.receipts == []
    assert "the decoder failed" in caplog.text and "the bytes were forwarded" in caplog.text


def test_the_printers_status_replies_reach_the_pos(
    line_and_printer: tuple[PtyPair, PtyPair],
) -> None:
    pos, printer = line_and_printer
    with FakePrinter(printer) as fake, Running(source_on(pos.path, printer=printer.path)) as run:
        run.until(lambda: run.source.counters.state == "reading")
        pos.write(b"\x10\x04\x01")  # the POS asks whether the printer is ready
        reply = b""
        deadline = time.monotonic() + 5
        while not reply and time.monotonic() < deadline:
            reply = pos.read(0.1)
    assert fake.received.endswith(b"\x10\x04\x01")
    assert len(reply) == 1 and status_byte(reply[0])
    passthrough = run.source.stats()["passthrough"]
    assert isinstance(passthrough, dict) and passthrough["reply_bytes"] == 1


# -- baud rate --------------------------------------------------------------------------------


def test_auto_baud_asks_the_printer_at_each_rate(
    line_and_printer: tuple[PtyPair, PtyPair], caplog: pytest.LogCaptureFixture
) -> None:
    pos, printer = line_and_printer
    caplog.set_level(logging.INFO, "mallsense.pos")
    source = source_on(pos.path, baud=None, printer=printer.path)
    with FakePrinter(printer, rate=57600) as fake, Running(source) as run:
        run.until(lambda: run.source.counters.state == "reading")
        counters = run.source.counters
        assert (counters.baudrate, counters.baud_method) == (57600, "printer-status")
        # One request per rate up to the printer's, then ESC @ clears the junk they left.
        assert fake.wait_for(4 * 3 + 2) == b"\x10\x04\x01" * 4 + b"\x1b@"
        data = receipts_bytes("refund")
        FakePos(pos, 57600).send(data)
        assert fake.wait_for(14 + len(data))[14:] == data
    assert "57600 baud, from the printer's status reply" in caplog.text


def test_auto_baud_from_the_traffic_picks_the_best_scored_rate(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "mallsense.pos")
    with pty_pairs(1) as (pos,), Running(source_on(pos.path, baud=None)) as run:
        pos_terminal = FakePos(pos, 38400)
        data = receipts_bytes("english-column-logo")
        while run.source.counters.baudrate is None:  # the shop keeps printing
            assert run.thread.is_alive()
            pos_terminal.send(data)
            time.sleep(0.15)
        counters = run.source.counters
        assert (counters.baudrate, counters.baud_method) == (38400, "traffic")
        assert counters.baud_scores["38400"] >= ACCEPT
        assert all(s < ACCEPT for r, s in counters.baud_scores.items() if r != "38400")
        count = len(run.receipts)
        pos_terminal.send(data)
        run.until(lambda: len(run.receipts) > count)
    assert run.receipts[-1].total == LAYOUTS["english-column-logo"]().total
    assert "38400 baud chosen from the POS traffic (scores 9600:" in caplog.text


class GarblingLine:
    """An in-memory line: its samples are a receipt garbled for the rate it is set to."""

    tunable = True
    port = device = "memory"

    def __init__(self, data: bytes, rate: int) -> None:
        self.data, self.rate, self.current = data, rate, COMMON_RATES[0]
        self.visited: list[int] = []
        self._pending = b""

    def set_baudrate(self, rate: int) -> None:
        self.current = rate
        self.visited.append(rate)

    def discard_input(self) -> None:
        self._pending = uart_resample(self.data, self.rate, self.current)

    def read(self, timeout: float) -> bytes:
        data, self._pending = self._pending, b""
        return data

    def write(self, data: bytes, stop: threading.Event | None = None) -> int:
        return len(data)

    def close(self) -> None:
        pass


@pytest.mark.parametrize("rate", COMMON_RATES)
def test_the_detector_samples_each_rate_in_turn_and_keeps_the_right_one(rate: int) -> None:
    line = GarblingLine(receipts_bytes("chinese-gb18030-cut", "refund"), rate)
    choice = detect_from_traffic(line, threading.Event(), sampling=FAST)
    assert choice.rate == rate and choice.method == "traffic"
    assert line.visited == list(COMMON_RATES[: COMMON_RATES.index(rate) + 1])
    assert choice.sample == line.data  # what it read at the right rate goes on to the decoder


SAMPLES = {
    **{name: (LAYOUTS[name]().data, LAYOUTS[name]().encoding) for name in RECEIPTS},
    "english-graphics-logo": (LAYOUTS["english-graphics-logo"]().data, "cp437"),
    "european-cafe": (LAYOUTS["european-cafe"]().data, "cp437"),
}


@pytest.mark.parametrize("sent", [9600, 38400, 115200])
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_the_score_separates_the_right_rate_from_the_wrong_ones(name: str, sent: int) -> None:
    data, encoding = SAMPLES[name]
    for read in COMMON_RATES:
        score = score_sample(uart_resample(data, sent, read), encoding)
        if read == sent:
            assert score.score >= 0.9 and score.cause is None, score
        else:
            assert score.score < ACCEPT and score.cause == "baud", (read, score)


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["receipt-with-logo.bin", "demo.bin", "qr-code.bin"])
def test_the_score_of_real_escpos_php_streams(name: str) -> None:
    data = pos_file(name).read_bytes()
    assert score_sample(data).score >= 0.9
    assert score_sample(uart_resample(data[:3000], 19200, 57600)).score < ACCEPT


def test_the_likely_causes_of_garbage() -> None:
    chinese = LAYOUTS["chinese-gb18030-cut"]()
    assert score_sample(chinese.data, "cp437").cause == "encoding"
    zpl = b"^XA\n^FO50,50^A0N,50,50^FDShelf label^FS\n^XZ\n" * 5
    assert score_sample(zpl).cause == "not-escpos"
    assert score_silent(bytes(200)) is not None  # NULs: what a UART at the wrong rate reads
    assert score_silent(b"\x10\x04\x01" * 40) is None  # status polls are not garbage
    (receipt,) = PosDecoder("gb18030").feed(0.0, chinese.data)
    assert score_receipt(receipt).score >= 0.9


# -- the port comes and goes ------------------------------------------------------------------


def test_the_adapter_unplugged_and_back_under_its_by_id_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "mallsense.pos")
    first = PtyPair()
    link = by_id_link(tmp_path, first.path)
    data = receipts_bytes("refund")
    with Running(source_on(str(link))) as run:
        run.until(lambda: run.source.counters.state == "reading")
        first.write(data)
        run.until(lambda: len(run.receipts) == 1)
        first.close()  # unplugged
        run.until(lambda: run.source.counters.state == "waiting")
        with pty_pairs(1) as (second,):  # plugged back in: a new device behind the same name
            by_id_link(tmp_path, second.path)
            run.until(lambda: run.source.counters.state == "reading")
            second.write(data)
            run.until(lambda: len(run.receipts) == 2)
            assert run.source.counters.device == second.path
            assert run.source.counters.disconnects == 1
    assert f"POS sensor till: {link}" in caplog.text  # the message names the configured port
    assert f"{link} (-> {second.path}) is back after" in caplog.text


def test_the_same_device_path_comes_back(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "mallsense.pos")
    first = PtyPair()
    path = first.path
    with Running(source_on(path)) as run:
        run.until(lambda: run.source.counters.state == "reading")
        first.close()
        run.until(lambda: run.source.counters.state == "waiting")
        with pty_pairs(1) as (second,):
            if second.path != path:
                pytest.skip(f"the kernel numbered the new pty {second.path}, not {path}")
            run.until(lambda: run.source.counters.state == "reading")
            second.write(receipts_bytes("refund"))
            run.until(lambda: len(run.receipts) == 1)
    assert f"POS sensor till: {path} is back after" in caplog.text


def test_a_port_missing_at_start_is_waited_for(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link = tmp_path / "usb-Prolific_PL2303-if00-port0"
    link.symlink_to(tmp_path / "nothing-there")
    with Running(source_on(str(link))) as run:
        run.until(lambda: run.source.counters.open_failures >= 1)
        with pty_pairs(1) as (pos,):
            link.unlink()
            link.symlink_to(pos.path)
            run.until(lambda: run.source.counters.state == "reading")
    assert f"{link} (-> {tmp_path / 'nothing-there'}) does not exist" in caplog.text
    assert "is the USB serial adapter plugged in?" in caplog.text


def test_a_port_held_by_another_program_is_named() -> None:
    with pty_pairs(1) as (pos,):
        held = SerialLine(pos.path, LineSettings())
        try:
            with pytest.raises(LineError, match=f"{pos.path} is in use by another program"):
                SerialLine(pos.path, LineSettings())
        finally:
            held.close()


# -- garbage ----------------------------------------------------------------------------------


def test_the_wrong_baud_rate_warns_once_and_records_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pty_pairs(1) as (pos,), Running(source_on(pos.path, baud=9600)) as run:
        run.until(lambda: run.source.counters.state == "reading")
        pos_terminal = FakePos(pos, 115200)  # the printer was set to 115200
        for _ in range(4):
            pos_terminal.send(receipts_bytes("refund", "english-raster-logo"))
            time.sleep(0.4)  # each burst ends by the idle gap
        run.until(lambda: run.source.counters.garbage_bytes > 0)
    assert run.receipts == []
    warnings = [r for r in caplog.records if "do not look like ESC/POS" in r.getMessage()]
    assert len(warnings) == 1  # then rate-limited
    message = warnings[0].getMessage()
    assert f"POS line {pos.path} (9600 8N1 flow none)" in message
    assert "likely cause: wrong baud rate" in message


def test_noise_never_stops_the_source() -> None:
    rng = random.Random(11)
    with pty_pairs(1) as (pos,), Running(source_on(pos.path)) as run:
        run.until(lambda: run.source.counters.state == "reading")
        for _ in range(20):
            pos.write(rng.randbytes(rng.randint(1, 3000)))
        pos.write(receipts_bytes("refund"))  # a real receipt after the noise still counts
        run.until(lambda: run.source.counters.bytes > 0)
        time.sleep(0.5)
        assert run.thread.is_alive() and run.source.counters.parser_errors == 0
