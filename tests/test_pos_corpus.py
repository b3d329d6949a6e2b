"""The receipt corpus (tests/data/pos/corpus): 30+ layouts as printers receive them.

Each layout is decoded with no encoding configured (``auto``), as a new box reads a
printer it has never seen, and must give its expected fields: the amount paid to the
cent, the money ladder (gross, discount, tendered, change, payments), the kind of
receipt and the doubts. The extractor is then fuzzed on the same bytes.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.pos.decoder import PosDecoder, decode_chunks
from drivers.pos.extract.extract import Extractor
from drivers.pos.result import Receipt

CORPUS = Path(__file__).parent / "data" / "pos" / "corpus"
LAYOUT_FILES = sorted(CORPUS.glob("*.json"))
MONEY = ("total", "gross", "discount", "tendered", "change")


def layout(path: Path) -> dict[str, Any]:
    about: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return about


def decode(data: bytes, chunk: int | None = None) -> list[Receipt]:
    size = chunk or len(data) or 1
    chunks = [(0.0, data[i : i + size]) for i in range(0, len(data), size)]
    return decode_chunks(chunks, PosDecoder())


def as_number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def test_the_corpus_has_at_least_thirty_layouts_of_every_kind() -> None:
    layouts = [layout(path) for path in LAYOUT_FILES]
    assert len(layouts) >= 30
    printers = {about["printer"].split(" ")[0] for about in layouts}
    assert {"GB18030", "single-byte", "Big5", "UTF-8", "PC437"} <= printers
    assert {about["width"] for about in layouts} == {32, 42, 48}
    kinds = {about["expected"].get("kind") for about in layouts}
    assert {"sale", "refund", "reprint", "void", "prebill", "kitchen"} <= kinds


def test_the_corpus_files_are_what_its_layouts_make() -> None:
    sys.path.insert(0, str(CORPUS))
    try:
        from layouts import LAYOUTS
        from make import receipt_bytes
    finally:
        sys.path.remove(str(CORPUS))
    assert sorted(f"{item.name}.json" for item in LAYOUTS) == [p.name for p in LAYOUT_FILES]
    for item in LAYOUTS:
        assert (CORPUS / f"{item.name}.bin").read_bytes() == receipt_bytes(item), item.name


@pytest.mark.parametrize("path", LAYOUT_FILES, ids=[p.stem for p in LAYOUT_FILES])
def test_each_layout_gives_its_fields_with_no_encoding_configured(path: Path) -> None:
    expected = layout(path)["expected"]
    receipts = decode(path.with_suffix(".bin").read_bytes())
    assert len(receipts) == 1
    receipt = receipts[0]
    for name in MONEY:
        if name in expected:
            assert as_number(getattr(receipt, name)) == expected[name], (name, receipt.text)
    if "payments" in expected:
        payments = [[p.method, float(p.amount)] for p in receipt.payments]
        assert payments == expected["payments"]
    for name in ("kind", "refund", "receipt_no", "payment", "encoding"):
        if name in expected:
            assert getattr(receipt, name) == expected[name], name
    if "doubts" in expected:
        assert sorted({d.split(":")[0] for d in receipt.doubts}) == expected["doubts"]
    for secret in expected.get("masked_absent", []):
        assert secret not in receipt.text
        assert secret not in json.dumps(receipt.as_json(), ensure_ascii=False)


@pytest.mark.parametrize("path", LAYOUT_FILES, ids=[p.stem for p in LAYOUT_FILES])
def test_confidence_is_never_certain_with_a_doubt(path: Path) -> None:
    receipt = decode(path.with_suffix(".bin").read_bytes())[0]
    if receipt.doubts:
        assert receipt.confidence < 0.9
    if receipt.total is not None and not receipt.doubts and receipt.kind == "sale":
        assert receipt.confidence >= 0.6


def test_the_issue_receipts_give_the_amount_paid_not_the_gross() -> None:
    """The two receipts of issue 12 that gave the gross with confidence 1.0."""
    coffee = decode((CORPUS / "coffee_member_discount.bin").read_bytes())[0]
    hotpot = decode((CORPUS / "hotpot_discount.bin").read_bytes())[0]
    assert (coffee.total, coffee.gross, coffee.discount) == (
        Decimal("87.00"), Decimal("92.00"), Decimal("5.00"))  # fmt: skip
    assert (hotpot.total, hotpot.gross, hotpot.discount) == (
        Decimal("250.80"), Decimal("264.00"), Decimal("13.20"))  # fmt: skip


ALL_BYTES = [path.with_suffix(".bin").read_bytes() for path in LAYOUT_FILES]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(ALL_BYTES) - 1), chunk=st.integers(1, 64))
def test_any_split_of_a_receipt_gives_the_same_fields(index: int, chunk: int) -> None:
    data = ALL_BYTES[index]
    whole, split = decode(data)[0], decode(data, chunk)[0]
    assert (split.text, split.total, split.gross, split.payments, split.kind, split.doubts) == (
        whole.text, whole.total, whole.gross, whole.payments, whole.kind, whole.doubts)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    index=st.integers(0, len(ALL_BYTES) - 1),
    edits=st.lists(st.tuples(st.integers(0, 4095), st.binary(max_size=6)), max_size=6),
    cut=st.integers(0, 4096),
)
def test_damaged_receipts_never_break_the_extractor(
    index: int, edits: list[tuple[int, bytes]], cut: int
) -> None:
    data = bytearray(ALL_BYTES[index][: cut or None])
    for position, replacement in edits:
        at = position % (len(data) + 1)
        data[at : at + len(replacement)] = replacement
    for receipt in decode(bytes(data)):
        assert receipt.kind in {"sale", "refund", "reprint", "void", "prebill", "kitchen"}
        assert 0.0 <= receipt.confidence <= 1.0
        for name in MONEY:
            value = getattr(receipt, name)
            assert value is None or value.is_finite()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "合计",
                "小计",
                "优惠",
                "实收",
                "找零",
                "应收",
                "实付",
                "服务费",
                "微信",
                "现金",
                "储值卡",
                "TOTAL",
                "CHANGE",
                "TAX",
                "-",
                "/",
                ":",
                " ",
                "\n",
                "(",
                "%",
                "折",
            ]
        )
        | st.decimals(min_value=-9999, max_value=99999, places=2).map(str)
        | st.text(max_size=4),
        max_size=40,
    )
)
def test_money_words_in_any_order_never_break_the_ladder(words: list[str]) -> None:
    fields = Extractor().extract(" ".join(words))
    assert 0.0 <= fields.confidence <= 1.0
    if fields.doubts:
        assert fields.confidence < 0.9
