"""``mallsense pos``: parse, capture, sniff, test-template, receipts, and their errors (exit 2).

``parse --json`` is a contract (one object per receipt with ``text`` and the
fields under fixed names); it is checked on the shared escpos-php samples and
on receipts python-escpos writes. ``capture`` and ``sniff`` run on a real
pseudo-terminal with a thread playing the POS terminal.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import invoke, json_lines, write_text
from pos_pty import PtyPair, pty_pairs
from pos_receipts import LAYOUTS, pos_file

from drivers.pos.line.capture_format import CaptureHeader, CaptureWriter, read_capture_file
from edge.store import Store
from edge.store.receipts import ReceiptText, save_receipt_texts

CONTRACT: dict[str, type | tuple[type, ...]] = {
    "text": str,
    "total": (float, type(None)),
    "currency": (str, type(None)),
    "items": (int, type(None)),
    "receipt_no": (str, type(None)),
    "printed_at": (str, type(None)),
    "payment": (str, type(None)),
    "refund": bool,
    "raster_only": bool,
    "extractor": str,
    "confidence": float,
}
COMMANDS = ("parse", "capture", "sniff", "test-template", "receipts")


def keeps_the_contract(receipt: dict[str, object]) -> None:
    for name, types in CONTRACT.items():
        assert isinstance(receipt[name], types), (name, receipt[name])
    if receipt["refund"] and receipt["total"] is not None:
        assert isinstance(receipt["total"], float) and receipt["total"] < 0


def capture_file(path: Path, *names: str, encoding: str = "cp437", gap: float = 10.0) -> Path:
    with path.open("wb") as stream:
        writer = CaptureWriter(stream, CaptureHeader(port="/dev/ttyUSB0", encoding=encoding))
        for index, name in enumerate(names):
            writer.write(1_773_482_400.0 + gap * index, LAYOUTS[name]().data)
    return path


# -- help ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = invoke("pos", command, "--help")
    assert result.exit_code == 0, result.output
    assert "Example" in result.stdout and f"mallsense pos {command}" in result.stdout


# -- parse --------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_parse_json_on_the_shared_escpos_php_receipt() -> None:
    result = invoke("pos", "parse", pos_file("receipt-with-logo.bin"), "--json")
    assert result.exit_code == 0, result.output
    (receipt,) = json_lines(result.stdout)
    keeps_the_contract(receipt)
    assert (receipt["total"], receipt["currency"], receipt["items"]) == (14.25, "USD", 4)
    assert receipt["text"].startswith("ExampleMart Ltd.\nShop No. 42.")


@pytest.mark.realdata
def test_parse_json_on_the_shared_chinese_sample() -> None:
    sample = pos_file("synthetic_gb18030_python-escpos.bin")
    result = invoke("pos", "parse", sample, "--encoding", "gb18030", "--currency", "CNY", "--json")
    assert result.exit_code == 0, result.output
    (receipt,) = json_lines(result.stdout)
    keeps_the_contract(receipt)
    expected = pos_file("synthetic_gb18030_python-escpos.expected.txt").read_text("utf-8")
    assert receipt["text"] == expected.rstrip("\n")


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_parse_json_on_python_escpos_receipts(tmp_path: Path, name: str) -> None:
    generated = LAYOUTS[name]()
    dump = tmp_path / "dump.bin"
    dump.write_bytes(generated.data)
    args = ["--encoding", generated.encoding] + (
        ["--currency", "CNY"] if generated.currency == "CNY" else []
    )
    result = invoke("pos", "parse", dump, *args, "--json")
    assert result.exit_code == 0, result.output
    (receipt,) = json_lines(result.stdout)
    keeps_the_contract(receipt)
    assert receipt["text"] == generated.text
    assert receipt["total"] == (None if generated.total is None else float(generated.total))
    assert receipt["raster_only"] == (name.startswith("raster-only"))
    assert receipt["quality"]["score"] >= 0.9


def test_parse_a_capture_splits_receipts_and_prints_a_summary(tmp_path: Path) -> None:
    path = capture_file(tmp_path / "shop.poscap", "english-raster-logo", "refund", "raster-only")
    result = invoke("pos", "parse", path, "--text")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "receipt 1: ended by cut, " in out and ", read at 2026-03-14T10:00:00.000Z" in out
    assert "total 7.55 · 4 items · card · receipt no. 000482" in out
    assert "receipt 2 REFUND" in out and "total -29.99" in out
    assert "printed as an image only" in out
    assert "  | CARD **** **** **** 1111" in out and "4111 1111" not in out
    assert "3 receipt(s): 1 refund(s), 1 printed as images; sum -22.44 ?" in out


def test_parse_errors_name_the_file(tmp_path: Path) -> None:
    missing = invoke("pos", "parse", tmp_path / "nope.poscap")
    assert missing.exit_code == 2 and "nope.poscap" in missing.stderr
    damaged = tmp_path / "damaged.poscap"
    damaged.write_bytes(b"MSPOSCAP\x01\xff\xff\x00\x00{")
    result = invoke("pos", "parse", damaged)
    assert result.exit_code == 2
    assert f"{damaged} is a damaged capture file: truncated or damaged header" in result.stderr
    result = invoke("pos", "parse", capture_file(tmp_path / "ok.poscap", "refund"),
                    "--encoding", "klingon")  # fmt: skip
    assert result.exit_code == 2 and "'klingon' is unknown" in result.stderr


def test_parse_warns_about_a_truncated_recording(tmp_path: Path) -> None:
    path = capture_file(tmp_path / "cut.poscap", "refund", "european-cafe")
    path.write_bytes(path.read_bytes()[:-10])
    result = invoke("pos", "parse", path, "--json")
    assert result.exit_code == 0
    assert "truncated chunk" in result.stderr and "the recording was cut short" in result.stderr
    assert [r["total"] for r in json_lines(result.stdout)] == [-29.99]


# -- test-template ------------------------------------------------------------------------------


def box_config(tmp_path: Path, templates: str = "") -> Path:
    return write_text(
        tmp_path / "box.toml",
        f"""
mall = "m1"
box = "b1"
[[zones]]
id = "shop"
[[sensors]]
type = "pos"
name = "till"
zone = "shop"
store = "b1-07"
port = "/dev/ttyUSB0"
{templates}
[store]
path = "{tmp_path / "edge.db"}"
""",
    )


TEMPLATE = """
[[sensors.templates]]
name = "freshmart"
match = "FRESH MART"
patterns = { total = 'VISA\\s+(?P<total>[\\d.]+)', receipt_no = 'Receipt No:\\s*0*(\\d+)' }
"""


def test_test_template_shows_template_and_default_side_by_side(tmp_path: Path) -> None:
    config = box_config(tmp_path, TEMPLATE)
    path = capture_file(tmp_path / "shop.poscap", "english-raster-logo", "refund")
    result = invoke("pos", "test-template", "--store", "b1-07", path, "--config", config)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "receipt 1: template freshmart" in out
    assert "receipt 2: no template applies" in out
    assert "receipt_no │ 482" in out and "│ 000482" in out
    as_json = invoke("pos", "test-template", "--store", "b1-07", path, "--config", config, "--json")
    first, second = json_lines(as_json.stdout)
    assert (
        first["template"]["extractor"] == "freshmart" and first["template"]["receipt_no"] == "482"
    )
    assert first["default"]["extractor"] == "default" and first["default"]["receipt_no"] == "000482"
    assert second["template"]["extractor"] == "default"


def test_test_template_errors(tmp_path: Path) -> None:
    path = capture_file(tmp_path / "shop.poscap", "refund")
    unknown = invoke("pos", "test-template", "--store", "zz-99", path, "--config",
                     box_config(tmp_path, TEMPLATE))  # fmt: skip
    assert unknown.exit_code == 2
    assert (
        "no POS sensor for store zz-99" in unknown.stderr and "till (store b1-07" in unknown.stderr
    )
    bare = invoke(
        "pos", "test-template", "--store", "b1-07", path, "--config", box_config(tmp_path)
    )
    assert bare.exit_code == 2 and "store b1-07 has no templates" in bare.stderr
    broken = box_config(tmp_path, TEMPLATE.replace("(?P<total>", "(?P<total"))
    result = invoke("pos", "test-template", "--store", "b1-07", path, "--config", broken)
    assert result.exit_code == 2 and "key 'total': bad regular expression" in result.stderr


# -- capture and sniff on a pseudo-terminal -------------------------------------------------------


@pytest.fixture
def pos_line() -> Iterator[PtyPair]:
    with pty_pairs(1) as (pos,):
        yield pos


def play(
    pos: PtyPair, names: list[str], delay: float = 0.6, pause: float = 0.4
) -> threading.Thread:
    """The POS terminal: prints each receipt after ``delay``, ``pause`` apart."""

    def run() -> None:
        time.sleep(delay)
        for name in names:
            pos.write(LAYOUTS[name]().data)
            time.sleep(pause)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_capture_records_the_line_and_parse_reads_it_back(
    tmp_path: Path, pos_line: PtyPair
) -> None:
    out = tmp_path / "shop.poscap"
    player = play(pos_line, ["english-raster-logo", "refund"])
    result = invoke("pos", "capture", pos_line.path, "--out", out, "--baud", "19200",
                    "--seconds", "2", "--encoding", "cp437")  # fmt: skip
    player.join()
    assert result.exit_code == 0, result.output
    assert f"wrote {out}: " in result.stderr and "at 19200 baud (configured)" in result.stderr
    capture = read_capture_file(out)
    assert capture.header is not None and capture.header.port == pos_line.path
    assert capture.header.baudrate == 19200 and capture.header.encoding == "cp437"
    expected = LAYOUTS["english-raster-logo"]().data + LAYOUTS["refund"]().data
    assert b"".join(data for _, data in capture.to_printer()) == expected
    parsed = json_lines(invoke("pos", "parse", out, "--json").stdout)
    assert [r["total"] for r in parsed] == [7.55, -29.99]


def test_capture_errors_name_the_port_and_the_file(tmp_path: Path) -> None:
    missing = invoke("pos", "capture", tmp_path / "ttyUSB9", "--out", tmp_path / "x.poscap",
                     "--baud", "9600", "--seconds", "1")  # fmt: skip
    assert missing.exit_code == 2
    assert f"{tmp_path / 'ttyUSB9'} does not exist: is the USB serial adapter" in missing.stderr
    exists = write_text(tmp_path / "old.poscap", "x")
    result = invoke("pos", "capture", "/dev/ttyUSB0", "--out", exists)
    assert result.exit_code == 2 and "old.poscap exists; give --force" in result.stderr
    bad = invoke("pos", "capture", "/dev/ttyUSB0", "--out", tmp_path / "y", "--baud", "fast")
    assert bad.exit_code == 2 and "expected bits per second" in bad.stderr


def test_sniff_shows_receipts_as_they_print(tmp_path: Path, pos_line: PtyPair) -> None:
    config = box_config(tmp_path, TEMPLATE).read_text().replace("/dev/ttyUSB0", pos_line.path)
    path = write_text(
        tmp_path / "sniff.toml", config.replace('port = "', 'baudrate = 19200\nport = "')
    )
    player = play(pos_line, ["english-raster-logo", "refund"])
    result = invoke("pos", "sniff", pos_line.path, "--config", path, "--seconds", "2.5", "--json")
    player.join()
    assert result.exit_code == 0, result.output
    receipts = json_lines(result.stdout)
    assert [(r["receipt"], r["total"], r["extractor"]) for r in receipts] == [
        (1, 7.55, "freshmart"),
        (2, -29.99, "default"),
    ]
    for receipt in receipts:
        keeps_the_contract(receipt)


def test_sniff_human_output_and_errors(tmp_path: Path, pos_line: PtyPair) -> None:
    player = play(pos_line, ["refund"], delay=0.5)
    args = ("--baud", "19200", "--seconds", "1.5", "--text")  # --text as in pos parse
    result = invoke("pos", "sniff", pos_line.path, *args)
    player.join()
    assert result.exit_code == 0, result.output
    assert "receipt 1 REFUND" in result.stdout and "  | *** REFUND ***" in result.stdout
    assert "1 receipt(s); 187 bytes read at 19200 baud" in result.stderr
    missing = invoke("pos", "sniff", tmp_path / "ttyUSB7", "--baud", "9600", "--seconds", "1")
    assert missing.exit_code == 2 and "ttyUSB7 does not exist" in missing.stderr
    unknown = invoke("pos", "sniff", pos_line.path, "--config", box_config(tmp_path))
    assert unknown.exit_code == 2 and f"no POS sensor for port {pos_line.path}" in unknown.stderr


# -- receipts ---------------------------------------------------------------------------------


def test_receipts_lists_the_kept_texts(tmp_path: Path) -> None:
    db = tmp_path / "edge.db"
    now = time.time()
    with Store(db):
        pass
    rows = [
        ReceiptText(
            "0195-a",
            "till",
            "b1-07",
            "2026-03-14T10:00:00.000Z",
            "FRESH MART\nTOTAL 7.55",
            "default",
            0.9,
            now,
            now + 3600,
        ),
        ReceiptText(
            "0195-b",
            "till",
            "b1-08",
            "2026-03-14T11:00:00.000Z",
            "OTHER SHOP",
            "default",
            0.4,
            now,
            now + 3600,
        ),
    ]
    save_receipt_texts(db, rows, now)
    result = invoke("pos", "receipts", "--db", db, "--store", "b1-07")
    assert result.exit_code == 0, result.output
    assert "store b1-07 (sensor till), record 0195-a" in result.stdout
    assert "  | TOTAL 7.55" in result.stdout and "OTHER SHOP" not in result.stdout
    every = json_lines(invoke("pos", "receipts", "--db", db, "--json").stdout)
    assert [r["record_id"] for r in every] == ["0195-b", "0195-a"]  # newest first
    gone = invoke("pos", "receipts", "--db", tmp_path / "none.db")
    assert gone.exit_code == 2 and "none.db does not exist" in gone.stderr
