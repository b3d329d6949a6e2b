"""Printers in Chinese mode out of the box: the encoding found per printer, kept, overridden.

A printer in Chinese mode prints raw GB18030 (Big5 in Hong Kong and Taiwan) without
``FS &``; read as cp437 its receipts are box-drawing characters. With no encoding
configured (``auto``) the decoder finds out from the first receipts, the daemon keeps
the choice per sensor next to its database, and a configured encoding wins.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from drivers.pos.decoder import PosDecoder, decode_chunks
from drivers.pos.escpos.sniff import DECIDE_AFTER, EncodingSniffer
from edge.sensors.pos.config import PosSensorConfig
from edge.sensors.pos.settings import (
    ENCODING_FILE,
    EncodingMemory,
    decoder_factory,
    describe_encoding,
    encoding_text,
)

CORPUS = Path(__file__).parent / "data" / "pos" / "corpus"


def corpus(*names: str) -> list[tuple[float, bytes]]:
    """Receipts of the corpus printed one after the other, 20 s apart."""
    return [(20.0 * n, (CORPUS / f"{name}.bin").read_bytes()) for n, name in enumerate(names)]


GB_PRINTER = ("hotpot_discount", "supermarket_cash_change", "cinema_stored_value",
              "pharmacy_points_unionpay")  # fmt: skip
BIG5_PRINTER = ("hk_cafe_big5", "tw_bento_big5_integers", "hk_cafe_big5")
ENGLISH_PRINTER = ("english_us_tax_cash", "english_sg_gst_service", "english_refund")


@pytest.mark.parametrize(
    ("names", "encoding"),
    [(GB_PRINTER, "gb18030"), (BIG5_PRINTER, "big5"), (("android_pos_utf8",) * 3, "utf-8")],
)
def test_a_chinese_mode_printer_is_detected_and_read(names: tuple[str, ...], encoding: str) -> None:
    decoder = PosDecoder()  # no encoding configured
    receipts = decode_chunks(corpus(*names), decoder)
    assert all(r.total is not None and r.encoding == encoding for r in receipts)
    status = decoder.encoding_status()
    assert status["encoding"] == encoding and status["how"] == "detected"


def test_the_raw_gb18030_printer_of_the_issue_needs_no_encoding_option() -> None:
    auto = decode_chunks(corpus(*GB_PRINTER), PosDecoder())
    forced = decode_chunks(corpus(*GB_PRINTER), PosDecoder("cp437"))
    assert [r.total for r in auto] == [Decimal(v) for v in ("250.80", "86.80", "128.00", "74.40")]
    assert [r.receipt_no for r in auto][1] == "000183726"
    assert "─" in forced[0].text or "═" in forced[0].text or "╩" in forced[0].text
    assert all(r.encoding == "cp437" for r in forced)


def test_a_single_byte_printer_stays_single_byte() -> None:
    box_rules = b"\x1b@" + b"\xc4" * 96 + b"\nCaf\x82 cr\x8ame  4.50\nTOTAL  4.50\n\x1dV\x00"
    decoder = PosDecoder()
    receipts = decode_chunks([*corpus(*ENGLISH_PRINTER), (99.0, box_rules)], decoder)
    assert receipts[-1].text.startswith("─" * 96)
    assert "Café crème" in receipts[-1].text
    assert decoder.encoding_status()["encoding"] == "cp437"


def test_the_choice_is_kept_for_the_printer_until_it_is_overridden() -> None:
    sniffer = EncodingSniffer()
    text = "合计 实收 找零 现金 谢谢惠顾 欢迎光临 收银员 单号 数量 单价 金额 优惠 会员折扣 拿铁"
    sniffer((text * 2).encode("gb18030"))
    assert sniffer.evidence["gb18030"].chars >= DECIDE_AFTER
    assert sniffer.choice == "gb18030" and sniffer.detected
    # what follows is read as GB18030 even when it alone would not tell
    assert sniffer("合".encode("gb18030")) == "合"
    kept = PosDecoder(detected="gb18030")
    assert kept.encoding_status()["how"] == "kept"
    configured = PosDecoder("big5", detected="gb18030")
    assert configured.encoding_status() == {
        "encoding": "big5", "detected": False, "how": "configured"}  # fmt: skip


def sensor(**settings: object) -> PosSensorConfig:
    fields = {"type": "pos", "name": "till", "zone": "shop", "store": "s-07",
              "port": "/dev/ttyUSB0"} | settings  # fmt: skip
    return PosSensorConfig.model_validate(fields)


def test_the_configuration_says_auto_unless_an_encoding_is_set() -> None:
    assert sensor().encoding == "auto"
    assert sensor(encoding="gb18030").encoding == "gb18030"
    with pytest.raises(ValueError, match="auto"):
        sensor(encoding="klingon")
    with pytest.raises(ValueError, match="double-byte"):
        sensor(double_byte_encoding="auto")


def test_the_detected_encoding_is_kept_next_to_the_database(tmp_path: Path) -> None:
    memory = EncodingMemory(tmp_path)
    assert memory.get("till") is None
    memory.keep("till", "gb18030")
    assert json.loads((tmp_path / ENCODING_FILE).read_text()) == {"till": "gb18030"}
    again = EncodingMemory(tmp_path)
    assert again.get("till") == "gb18030"
    decoder = decoder_factory(sensor(), again.get("till"))()
    assert decoder.encoding_status()["encoding"] == "gb18030"
    assert decoder_factory(sensor(encoding="cp437"), "gb18030")().encoding_status()["how"] == (
        "configured"
    )
    assert describe_encoding(sensor(), tmp_path) == "gb18030 (detected and kept)"
    assert describe_encoding(sensor(encoding="big5"), tmp_path) == "big5 (configured)"
    assert describe_encoding(sensor(name="other"), tmp_path).startswith("auto (not detected yet")


@pytest.mark.parametrize(
    "content", [b"{not json", b"[1, 2]", b'{"till": "klingon", "x": 3}', b"{" + b" " * 70_000]
)
def test_a_damaged_encoding_file_means_detecting_again(tmp_path: Path, content: bytes) -> None:
    (tmp_path / ENCODING_FILE).write_bytes(content)
    assert EncodingMemory(tmp_path).get("till") is None


def test_status_text_of_the_encoding() -> None:
    decoder = PosDecoder()
    decode_chunks(corpus(*GB_PRINTER), decoder)
    assert encoding_text({"decoder": decoder.stats()}) == "gb18030 (detected)"
    assert encoding_text({"decoder": PosDecoder("cp437").stats()}) == "cp437 (configured)"
    assert encoding_text({"decoder": PosDecoder().stats()}) == "undecided (cp437 so far)"
    assert encoding_text({}) == "unknown"


def test_short_receipts_whose_fields_are_found_confirm_the_guess() -> None:
    sniffer = EncodingSniffer()
    sniffer("合計 實收 找零 現金".encode("big5"))  # too little to decide alone
    assert sniffer.status()["encoding"] == "undecided (big5 so far)"
    sniffer.confirm(True)
    assert sniffer.status()["how"] == "undecided"
    sniffer.confirm(True)
    assert sniffer.status()["encoding"] == "big5" and sniffer.status()["how"] == "detected"
    single = EncodingSniffer()
    single(b"\xc4\xc4\xc4\xc4")
    single.confirm(True)
    single.confirm(True)
    assert single.choice is None  # a guess of the single-byte page waits for evidence


def test_the_daemon_detects_keeps_and_shows_the_encoding(tmp_path: Path) -> None:
    """A GB18030 printer with no encoding configured, played as the line of a real daemon."""
    from test_pos_daemon import recording, simulate

    from edge.config import parse_config
    from edge.store import Store

    db = tmp_path / "edge.db"
    cfg = parse_config(
        f"""
mall = "m1"
box = "b1"
[[zones]]
id = "market"
[[sensors]]
type = "pos"
name = "till-gb"
zone = "market"
store = "b1-12"
port = "/dev/ttyUSB0"
[store]
path = "{db}"
"""
    )
    t0 = 1_773_482_405.0
    pieces = [(t0 + t, data) for t, data in corpus(*GB_PRINTER)]
    capture = recording(tmp_path / "gb.poscap", pieces, "auto")
    stats = simulate(cfg, {"till-gb": capture}, len(GB_PRINTER), db)
    with Store(db, create=False) as store:
        totals = [r["total"] for r in store.records("transaction")]
    assert totals == [250.8, 86.8, 128.0, 74.4]
    assert stats["till-gb"]["encoding"] == "gb18030 (detected)"
    assert EncodingMemory(tmp_path).get("till-gb") == "gb18030"
