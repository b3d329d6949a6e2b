"""Field extraction: the default extractor on common layouts, store templates, confidence."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.pos.extract.amounts import find_currency, parse_amount
from drivers.pos.extract.dates import find_printed_at
from drivers.pos.extract.extract import Extractor
from drivers.pos.extract.fields import Fields
from drivers.pos.extract.mask import mask_text
from drivers.pos.extract.templates import Template

SUPERMARKET_CN = """华联超市(五角场店)
电话: 021-65431234
收银员: 008   机号: 03
单号: 20260314100511003
日期: 2026-03-14 10:05:11
--------------------------------
品名          数量  单价    金额
农夫山泉550ml
              2    2.00    4.00
康师傅红烧牛肉面
              1    4.50    4.50
鸡蛋(10枚)
              1   12.80   12.80
--------------------------------
数量合计: 4
合计:                   21.30
优惠:                   -1.30
应收:                   20.00
实收:                   50.00
找零:                   30.00
支付方式: 现金
会员号: 8800123456
谢谢惠顾,欢迎再次光临!
如需退货请凭小票在7日内办理"""

CAFE_CN = """星巴克 上海来福士店
订单号:A1234567
2026年3月14日 15:32
拿铁(大杯) x1      ¥36.00
蓝莓麦芬 x2        ¥44.00
小计               ¥80.00
会员折扣           -¥8.00
实付金额           ¥72.00
微信支付           ¥72.00"""

SUPERMARKET_EN = """SUPERSTORE
ST# 1234 OP# 00001 TE# 12 TR# 05678
BANANAS           0.56
MILK 2% GAL       3.48
BREAD WHEAT       2.50
EGGS LARGE        2 @ 2.19   4.38
SUBTOTAL         10.92
TAX 1  7.000 %    0.76
TOTAL            11.68
VISA TEND        11.68
CHANGE DUE        0.00
# ITEMS SOLD 5
03/14/26 10:05:11
RECEIPT # 00123
Returns accepted within 30 days"""

REFUND_EN = """ABC STORE
*** REFUND ***
Receipt No: R-000981
14/03/2026 11:22
Blue shirt           -29.99
REFUND TOTAL         29.99
Refunded to MASTERCARD"""

REFUND_CN = """某某百货
退货单
流水号: 1020260314000123
2026/3/14 16:20
退货 商品A  1  -12.50
退款金额: 12.50
退款方式: 支付宝"""

ALIPAY_CN = """便利蜂
交易时间: 2026.03.14 08:01
饭团            5.50
豆浆            3.00
总计: 8.50
支付宝: 8.50"""

EURO = """Café de Flore
14/03/2026 12:30
2 Espresso        5,00 €
1 Croissant       2,40 €
TOTAL TTC         7,40 €
CB CONTACTLESS    7,40 €"""


def extract(text: str, **options: object) -> Fields:
    return Extractor(**options).extract(mask_text(text).text)  # type: ignore[arg-type]


def test_chinese_supermarket() -> None:
    fields = extract(SUPERMARKET_CN, default_currency="CNY")
    assert fields.total == Decimal("20.00")  # 应收 (due, after the discount), not 合计 or 实收
    assert fields.currency == "CNY"
    assert fields.items == 4  # 数量合计 printed
    assert [(i.name, i.quantity, i.amount) for i in fields.item_lines] == [
        ("农夫山泉550ml", Decimal(2), Decimal("4.00")),
        ("康师傅红烧牛肉面", Decimal(1), Decimal("4.50")),
        ("鸡蛋(10枚)", Decimal(1), Decimal("12.80")),
    ]
    assert fields.receipt_no == "20260314100511003"
    assert fields.printed_at == "2026-03-14T10:05:11"
    assert fields.payment == "cash"
    assert not fields.refund  # "如需退货..." is the returns policy, not a refund
    assert fields.extractor == "default"
    assert fields.confidence == 1.0


def test_chinese_cafe() -> None:
    fields = extract(CAFE_CN)
    assert (fields.total, fields.currency, fields.items) == (Decimal("72.00"), "CNY", 3)
    assert (fields.receipt_no, fields.payment) == ("A1234567", "wechat")
    assert fields.printed_at == "2026-03-14T15:32:00"


def test_english_supermarket() -> None:
    fields = extract(SUPERMARKET_EN, day_first=False)
    assert fields.total == Decimal("11.68")
    assert fields.currency is None
    assert fields.items == 5
    assert fields.receipt_no == "00123"
    assert fields.printed_at == "2026-03-14T10:05:11"
    assert fields.payment == "card"
    assert not fields.refund
    assert fields.confidence >= 0.9  # subtotal + tax = total


@pytest.mark.parametrize(("text", "payment"), [(REFUND_EN, "card"), (REFUND_CN, "alipay")])
def test_refunds_are_negative(text: str, payment: str) -> None:
    fields = extract(text)
    assert fields.refund
    assert fields.total is not None and fields.total < 0
    assert fields.payment == payment


def test_other_layouts() -> None:
    alipay = extract(ALIPAY_CN, default_currency="CNY")
    assert (alipay.total, alipay.payment, alipay.items) == (Decimal("8.50"), "alipay", 2)
    assert alipay.printed_at == "2026-03-14T08:01:00"
    euro = extract(EURO)
    assert (euro.total, euro.currency, euro.items, euro.payment) == (
        Decimal("7.40"),
        "EUR",
        3,
        "card",
    )


def test_inconsistent_items_lower_the_confidence() -> None:
    consistent = extract("A item   1.00\nB item   2.00\nTOTAL 3.00")
    inconsistent = extract("A item   1.00\nB item   2.00\nTOTAL 9.00")
    assert (consistent.total, inconsistent.total) == (Decimal("3.00"), Decimal("9.00"))
    assert consistent.confidence > inconsistent.confidence


def test_nothing_to_extract() -> None:
    fields = extract("Thank you for shopping")
    assert fields == Fields(
        total=None, currency=None, items=None, item_lines=(), receipt_no=None,
        printed_at=None, payment=None, refund=False, extractor="default", confidence=0.0,
    )  # fmt: skip


BAKERY = {
    "name": "b1-bakery",
    "match": "面包工坊",
    "total": r"实付\s*[:：]\s*(?P<total>[\d.,]+)",
    "receipt_no": r"NO\.(?P<receipt_no>\d+)",
    "printed_at": r"^(\d{8} \d{6})$",
    "printed_at_format": "%Y%m%d %H%M%S",
    "payment": r"付款[:：]\s*(\S+)",
    "items": r"^(?P<name>\S+)\*(?P<qty>\d+)=(?P<amount>\d+\.\d{2})$",
    "currency": "cny",
}
BAKERY_RECEIPT = """面包工坊
NO.000871
20260314 093015
可颂*2=17.00
法棍*1=12.00
实付: 29.00
付款: 扫码"""


def test_store_template() -> None:
    fields = Extractor([BAKERY]).extract(BAKERY_RECEIPT)
    assert fields.extractor == "b1-bakery"
    assert (fields.total, fields.currency, fields.receipt_no) == (Decimal("29.00"), "CNY", "000871")
    assert fields.printed_at == "2026-03-14T09:30:15"
    assert fields.payment == "扫码"  # not a known method: what the template captured
    assert [(i.name, i.quantity, i.amount) for i in fields.item_lines] == [
        ("可颂", Decimal(2), Decimal("17.00")),
        ("法棍", Decimal(1), Decimal("12.00")),
    ]
    assert fields.items == 3
    assert fields.confidence == 1.0


def test_template_applies_only_where_it_matches() -> None:
    extractor = Extractor([Template.from_dict(BAKERY)], default_currency="CNY")
    assert extractor.extract(CAFE_CN).extractor == "default"


def test_template_fields_it_does_not_name_come_from_the_default() -> None:
    only_total = {"name": "t", "total": r"实付金额\s*¥(?P<value>\S+)"}
    fields = Extractor([only_total]).extract(CAFE_CN)
    assert (fields.extractor, fields.total, fields.payment) == ("t", Decimal("72.00"), "wechat")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ({"total": "x"}, "'name'"),
        ({"name": "t", "totl": "x"}, "unknown template key"),
        ({"name": "t", "total": "(unclosed"}, "'total': bad regular expression"),
        ({"name": "t", "items": r"(?P<name>\S+)"}, "'amount'"),
        ({"name": "t", "total": 5}, "must be a regular expression"),
    ],
)
def test_bad_templates_are_refused_with_the_key(template: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Template.from_dict(template)


@pytest.mark.parametrize(
    ("token", "value"),
    [
        ("14.25", "14.25"),
        ("1,234.50", "1234.50"),
        ("1.234,50", "1234.50"),
        ("12,5", "12.5"),
        ("1,234", "1234"),
        ("0.500", "0.500"),
        ("19900", "19900"),
        ("1'234.50", "1234.50"),
    ],
)
def test_amounts(token: str, value: str) -> None:
    assert parse_amount(token) == Decimal(value)


@pytest.mark.parametrize("token", ["1.2.3", "1,2345", "", "12.", ".5"])
def test_not_amounts(token: str) -> None:
    assert parse_amount(token) is None


def test_currencies() -> None:
    assert find_currency("合计 ¥15.50") == "CNY"
    assert find_currency("合计 ¥15.50", "JPY") == "JPY"
    assert find_currency("Total $ 14.25") == "USD"
    assert find_currency("Total $ 14.25", "SGD") == "SGD"
    assert find_currency("TOTAL 7,40 €") == "EUR"
    assert find_currency("HK$ 30.00") == "HKD"
    assert find_currency("no money here") is None


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2026-03-14 10:05:11", "2026-03-14T10:05:11"),
        ("日期:2026/3/14 时间:10:05", "2026-03-14T10:05:00"),
        ("2026年3月14日 10时05分22秒", "2026-03-14T10:05:22"),
        ("14/03/2026", "2026-03-14"),
        ("Monday 6th of April 2015 02:56:25 PM", "2015-04-06T14:56:25"),
        ("March 14, 2026 9:05am", "2026-03-14T09:05:00"),
        ("14 Mar 2026 23:59", "2026-03-14T23:59:00"),
        ("Date: 2026-03-14\nTime: 10:05:11", "2026-03-14T10:05:11"),
    ],
)
def test_printed_dates(text: str, iso: str) -> None:
    assert find_printed_at(text) == iso


def test_ambiguous_dates_follow_the_setting() -> None:
    assert find_printed_at("04/05/2026") == "2026-05-04"
    assert find_printed_at("04/05/2026", day_first=False) == "2026-04-05"
    assert find_printed_at("2026-02-30 10:00") is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_extraction_never_raises(text: str) -> None:
    fields = Extractor([BAKERY]).extract(text)
    assert 0.0 <= fields.confidence <= 1.0
