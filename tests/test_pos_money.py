"""The money ladder of a receipt: which printed amount is the amount paid, and the doubts.

Text-level cases (the corpus in tests/data/pos/corpus covers whole receipts as bytes).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from drivers.pos.extract.extract import Extractor
from drivers.pos.extract.money import find_money, pairs_of

EXTRACT = Extractor().extract


@pytest.mark.parametrize(
    ("text", "total"),
    [
        ("合计 92.00\n优惠 -5.00\n实收 87.00", "87.00"),  # 实收 without change: paid
        ("合计 56.80\n实收 100.00  找零 43.20", "56.80"),  # 实收 with change: handed over
        ("应收 92.00\n优惠 5.00\n实收 87.00", "87.00"),  # 应收 before the discount
        ("小计 240.00\n服务费(10%) 24.00\n合计 264.00\n实付 264.00", "264.00"),
        ("合计 128.56\n抹零 -0.06\n应收 128.50\n现金 130.00\n找零 1.50", "128.50"),
        ("合计 87.00\n微信 50.00 / 现金 37.00", "87.00"),
        ("合计 60.00\n储值卡 40.00\n支付宝 20.00\n储值卡余额 260.00", "60.00"),
        ("消费金额 580.00\n会员折扣(9折) -58.00\n服务费 52.20\n应付 574.20", "574.20"),
        ("合计 1,280.00\n满减(满1000减200) -200.00", "1080.00"),
        ("SUBTOTAL 43.33\nTAX 8.25% 3.57\nTOTAL 46.90\nCASH 50.00\nCHANGE DUE 3.10", "46.90"),
        ("TOTAL 46.90\nVISA 46.90\nBALANCE DUE 0.00", "46.90"),
        ("小計 96.00\n服務費 9.60\n總計 105.60\n八達通 105.60", "105.60"),
        ("合計 120\n現金 200\n找零 80", "120"),
        ("退货单\n退款金额 -299.00\n退回微信 299.00", "-299.00"),
    ],
)
def test_the_amount_paid(text: str, total: str) -> None:
    fields = EXTRACT(text)
    assert fields.total == Decimal(total), fields


def test_the_ladder_fields() -> None:
    fields = EXTRACT("合计 56.80\n会员折扣 -2.84\n应收 53.96\n实收 100.00\n找零 46.04\n现金 100.00")
    assert (fields.gross, fields.discount, fields.tendered, fields.change) == (
        Decimal("56.80"), Decimal("2.84"), Decimal("100.00"), Decimal("46.04"))  # fmt: skip
    assert [(p.method, p.amount) for p in fields.payments] == [("cash", Decimal("100.00"))]
    assert fields.doubts == () and fields.payment == "cash"


@pytest.mark.parametrize(
    ("text", "doubt"),
    [
        ("合计 92.00\n优惠 -5.00\n实付 80.00", "gross_vs_total"),
        ("应收 50.00\n实收 100.00\n找零 40.00", "change_vs_total"),
        ("合计 87.00\n实付 87.00\n微信 50.00\n现金 30.00", "payments_vs_total"),
        ("应付 43.00\n应付 45.00", "total_candidates"),
        ("合计 28.00\n打包盒 2.00\n实付 28.00", "unexplained_amount"),
        ("拿铁 36.00\n美式 28.00\n合计 92.00", "items_vs_gross"),
    ],
)
def test_each_disagreement_is_a_doubt_and_lowers_the_confidence(text: str, doubt: str) -> None:
    fields = EXTRACT(text)
    assert doubt in {d.split(":")[0] for d in fields.doubts}
    assert fields.confidence <= 0.85


def test_labels_reach_back_to_the_previous_amount() -> None:
    pairs = pairs_of(["实收 100.00  找零 13.00", "满减(满1000减200) -200.00", "TAX 1 7.000 % 0.76"])
    assert [(p.label, p.role, p.value) for p in pairs] == [
        ("实收", "cash_received", Decimal("100.00")),
        ("找零", "change", Decimal("13.00")),
        ("满减(满1000减200)", "discount", Decimal("-200.00")),
        ("TAX 1 7.000 %", "tax", Decimal("0.76")),
    ]


def test_a_receipt_without_money_lines_has_no_ladder() -> None:
    money = find_money(["宫保鸡丁 x1", "米饭 x2"], 2)
    assert money.total is None and money.doubts == () and not money.paid
