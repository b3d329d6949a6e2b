"""Receipts that are not sales: a stream mixing sales, reprints, voids, pre-bills and
kitchen tickets gives exactly the sales in the ``kpi`` records.

The receipts are the corpus's bytes (tests/data/pos/corpus) decoded by the daemon's
decoder, turned into ``transaction`` records by the POS plugin, and folded by the real
``KpiTracker``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_kpi import HOUR, T0, by, close_hour, config

from drivers.pos.decoder import PosDecoder, decode_chunks
from drivers.pos.extract.kinds import receipt_kind
from edge.kpi import KpiTracker
from edge.records import Transaction
from edge.sensors.pos.config import PosSensorConfig
from edge.sensors.pos.records import transaction_record

CORPUS = Path(__file__).parent / "data" / "pos" / "corpus"
STREAM = [
    ("coffee_member_discount", "sale"),  # 87.00
    ("restaurant_reprint", "reprint"),  # 重打小票
    ("hotpot_discount", "sale"),  # 250.80
    ("void_order", "void"),  # 作废单
    ("restaurant_prebill", "prebill"),  # 预结单, 470.80 not yet paid
    ("kitchen_ticket", "kitchen"),  # 厨打单
    ("restaurant_bill_paid", "sale"),  # 450.00, the same table paid
    ("hotpot_discount", "reprint"),  # the same number and amount again
    ("cancelled_order", "void"),
    ("english_reprint", "reprint"),
    ("apparel_refund", "refund"),  # -299.00
]


def receipts_of_the_stream() -> list[tuple[float, bytes]]:
    return [
        (T0 + 60.0 * n, (CORPUS / f"{name}.bin").read_bytes()) for n, (name, _) in enumerate(STREAM)
    ]


def test_each_receipt_of_the_stream_has_its_kind() -> None:
    receipts = decode_chunks(receipts_of_the_stream(), PosDecoder())
    assert [r.kind for r in receipts] == [kind for _, kind in STREAM]


def test_the_stream_gives_exactly_its_sales_in_kpi() -> None:
    cfg = config()
    till = next(s for s in cfg.sensors if isinstance(s, PosSensorConfig))
    receipts = decode_chunks(receipts_of_the_stream(), PosDecoder())
    records = [transaction_record(cfg.mall, cfg.box, till, r) for r in receipts]
    for record in records:
        Transaction.model_validate(record)
    tracker = KpiTracker(cfg)
    out = close_hour(tracker, T0, records=records)
    out += tracker.observe([], [], T0 + 3 * HOUR)
    (kpi,) = by(out, "kpi", store="s-07")
    assert kpi["transactions"] == 3
    assert kpi["refunds"] == 1
    assert kpi["sales"] == pytest.approx(87.00 + 250.80 + 450.00 - 299.00)
    assert kpi["average_ticket"] == pytest.approx(round((87.00 + 250.80 + 450.00) / 3, 2))


def test_records_carry_the_money_ladder() -> None:
    cfg = config()
    till = next(s for s in cfg.sensors if isinstance(s, PosSensorConfig))
    data = (CORPUS / "split_payment_one_line.bin").read_bytes()
    (receipt,) = decode_chunks([(T0, data)], PosDecoder())
    record = transaction_record(cfg.mall, cfg.box, till, receipt)
    assert record["total"] == 87.0 and record["receipt_kind"] == "sale"
    assert record["payments"] == [
        {"method": "wechat", "amount": 50.0}, {"method": "cash", "amount": 37.0}]  # fmt: skip
    assert record["gross"] == 87.0 and record["discount"] is None and record["doubts"] == []
    Transaction.model_validate(record)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("如需取消订单请致电 400-800-8888\n合计 20.00\n实收 20.00", "sale"),
        ("退货单\n退款金额 -20.00", "refund"),
        ("** 补打 **\n合计 20.00", "reprint"),
        ("CUSTOMER COPY\nTOTAL 20.00\nCASH 20.00", "sale"),
        ("MERCHANT COPY\nTOTAL 20.00", "reprint"),
        ("结账单\n小计 20.00\n应付 20.00", "prebill"),
        ("宫保鸡丁 x1\n米饭 x2\n后厨", "kitchen"),
    ],
)
def test_kind_words_count_only_as_headings(text: str, kind: str) -> None:
    refund = "退" in text
    has_amount = any(char.isdigit() for char in text)
    paid = "实收" in text or "CASH" in text
    assert receipt_kind(text, refund, has_amount, paid) == kind
