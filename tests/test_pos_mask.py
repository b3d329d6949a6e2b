"""Masking: card, phone and member numbers go; receipt numbers, codes, amounts and dates stay."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.pos.extract.mask import luhn_valid, mask_text


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ("VISA 4111 1111 1111 1111", "VISA **** **** **** 1111"),
        ("4111-1111-1111-1111", "****-****-****-1111"),
        ("AMEX 3782 822463 10005", "AMEX **** ****** *0005"),
        ("银联 6222021234567890003", "银联 ***************0003"),
        ("卡号:6222021234567890003", "卡号:***************0003"),
        ("CARD 5500000000000004 APPROVED", "CARD ************0004 APPROVED"),
        # A plausible card number is masked on a receipt-number line too (issue 17).
        ("单号: 4000000000000002", "单号: ************0002"),
        ("XS4000000000000002", "XS************0002"),
    ],
)
def test_card_numbers_keep_their_last_four_digits(line: str, masked: str) -> None:
    assert mask_text(line) == (masked, 1)


@pytest.mark.parametrize(
    "line",
    [
        "4111111111111112",  # fails the Luhn check
        "流水号: 20260314100511003",  # passes Luhn by chance, but no card starts with 20
        "6901234567892 可乐 3.00",  # an EAN-13 article code (Luhn-valid, prefix 69)
        "单号: 4000000000000003",  # fails Luhn, on a receipt-number line
        "RECEIPT NO 1000000000000008",  # Luhn-valid, but no card starts with 1
        "VISA ************1234",  # already masked by the terminal
        "2026-03-14 10:05:11  TOTAL 1,234.56",
        "XS4000000000000003",  # part of a longer code (fails Luhn)
    ],
)
def test_other_long_numbers_stay(line: str) -> None:
    assert mask_text(line) == (line, 0)


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ("手机: 13812345678", "手机: *******5678"),
        ("138 1234 5678", "*** **** 5678"),
        ("+86 138-1234-5678", "+** ***-****-5678"),
        ("Call +44 20 7946 0958", "Call +** ** **** 0958"),
        ("TEL: 021-6543 1234", "TEL: ***-**** 1234"),
        ("电话 021-65431234", "电话 ***-****1234"),
    ],
)
def test_phone_numbers(line: str, masked: str) -> None:
    assert mask_text(line) == (masked, 1)


def test_a_mobile_number_as_receipt_number_stays() -> None:
    assert mask_text("流水号: 13812345678") == ("流水号: 13812345678", 0)


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ("会员号: 8800123456", "会员号: ******3456"),
        ("会员卡号 VIP00123456", "会员卡号 *******3456"),
        ("MEMBER NO: M123456789", "MEMBER NO: ******6789"),
        ("Loyalty card # 99887766", "Loyalty card # ****7766"),
        ("会员: 张三丰", "会员: 张**"),
        ("会员号:12345", "会员号:*****"),
    ],
)
def test_member_numbers(line: str, masked: str) -> None:
    assert mask_text(line) == (masked, 1)


@pytest.mark.parametrize("line", ["会员积分: 1234", "会员价 12.50", "MEMBER PRICE 3.00"])
def test_member_words_without_a_number_label_stay(line: str) -> None:
    assert mask_text(line) == (line, 0)


def test_a_whole_receipt() -> None:
    text = "\n".join(
        [
            "单号: 20260314100511003",
            "合计: 21.30",
            "刷卡 6222021234567890003",
            "会员手机: 13812345678",
            "会员号: 8800123456",
        ]
    )
    masked = mask_text(text)
    assert masked.masked == 3
    assert masked.text.split("\n") == [
        "单号: 20260314100511003",
        "合计: 21.30",
        "刷卡 ***************0003",
        "会员手机: *******5678",
        "会员号: ******3456",
    ]


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789 -:#会员号卡手机TELVISA\n", max_size=80))
def test_masking_is_total_and_keeps_the_layout(text: str) -> None:
    masked = mask_text(text)
    assert len(masked.text) == len(text)  # digits become '*', nothing moves
    assert masked.text.count("\n") == text.count("\n")
    assert mask_text(masked.text).text == masked.text  # idempotent
