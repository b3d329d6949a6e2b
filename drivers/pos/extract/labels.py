"""The words receipts label their fields with, in Chinese and English (plus a few others).

Kept in one place so that masking and extraction agree on them: a number on
a receipt-number line is never masked as a card number, and a number on a
member line is masked before anything reads the text.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "ANY_PAYMENT_METHOD",
    "CARD_LABEL",
    "CHANGE",
    "DISCOUNT",
    "ITEM_COUNT",
    "MEMBER_LABEL",
    "NOT_A_TOTAL",
    "PAYMENT_LABEL",
    "PAYMENT_METHODS",
    "PHONE_LABEL",
    "RECEIPT_NO",
    "REFUND_HEADING",
    "REFUND_WORD",
    "SUBTOTAL",
    "TAX",
    "TENDERED",
    "TOTAL_LABELS",
    "classify_payment",
]

_I: Final = re.IGNORECASE

RECEIPT_NO: Final = re.compile(
    r"(?:小票(?:编)?号|单据(?:编)?号|(?:交易)?流水号|交易(?:单)?号|(?:销售|收银|订单|结算)?单号|"
    r"订单编号|票号|凭证号|账单号|"
    r"\b(?:RECEIPT|INVOICE|TRANS(?:ACTION)?|TXN|ORDER|TICKET|CHECK|BILL|SALE|REF)\.?\s*"
    r"(?:NO\b\.?|NUMBER\b|NUM\b|ID\b|#)|\bTXN\b|^\s*(?:NO\b\.?|#)(?=\s*[:：]?\s*[A-Z0-9]*\d))"
    r"\s*[:：#]?\s*(?P<value>[A-Z0-9][A-Z0-9/_.-]*)",
    _I | re.MULTILINE,
)
"""A receipt-number label and its value (the value must contain a digit: checked by users)."""

CARD_LABEL: Final = re.compile(
    r"卡号|银行卡|信用卡|借记卡|\bCARD\b|\bPAN\b|\bVISA\b|MASTER\s?CARD|\bAMEX\b|\bACCT\b|ACCOUNT",
    _I,
)
PHONE_LABEL: Final = re.compile(
    r"(?:手机|电话|電話|联系电话|TEL|PHONE|MOBILE|CELL)(?:号码?|\s*NO\.?)?\s*[:：]?\s*", _I
)
MEMBER_LABEL: Final = re.compile(
    r"(?:会员|會員|VIP)(?:卡号|卡號|编号|号|號|卡|\s*ID|\s*NO\.?)?\s*[:：#]\s*|"
    r"(?:会员|會員|VIP)(?:卡号|卡號|编号|号|號|卡)\s*|"
    r"(?:积分卡|顾客号|客户号|客户编号)\s*[:：#]?\s*|"
    r"(?:购方|購方|买方)?(?:税号|稅號|纳税人识别号|納稅人識別號)\s*[:：#]?\s*|"
    r"(?:发票抬头|發票抬頭|购买方名称|身份证号?|身份證號?)\s*[:：#]?\s*|"
    r"\b(?:TAX\s*ID|VAT\s*(?:NO|ID)|TIN)\b\.?\s*[:：#]\s*|"
    r"\b(?:MEMBER(?:SHIP)?|LOYALTY|CUSTOMER|CLUB|REWARDS?)\s*(?:CARD\s*)?"
    r"(?:NO\b\.?|NUMBER\b|ID\b|#|CARD\b)\s*[:：#]?\s*|"
    r"\b(?:MEMBER(?:SHIP)?|LOYALTY)\s*[:：#]\s*",
    _I,
)
"""A member or loyalty label, or an invoice's buyer (tax id, invoice title, id card), up to
where its value starts: numbers and names that identify a person."""

TOTAL_LABELS: Final[tuple[tuple[int, re.Pattern[str]], ...]] = (
    # (rank, label): the final amount due or paid outranks a plain total.
    (
        30,
        re.compile(
            r"实付(?:金额|款)?|应付(?:金额|总额|款)?|应收(?:金额|款)?|支付金额|付款金额|实际支付|"
            r"實付|應付|應收|總計|"
            r"退款金额|退货金额|"
            r"\b(?:AMOUNT|BALANCE|TOTAL)\s+DUE\b|\bGRAND\s+TOTAL\b|\bTOTAL\s+AMOUNT\b|"
            r"\bNET\s+TOTAL\b|\bTOTAL\s+TO\s+PAY\b|\b(?:REFUND|RETURN)\s+TOTAL\b|"
            r"\bTOTAL\s+(?:REFUND|RETURN)\b|\bTOTAL\s+TTC\b|总计",
            _I,
        ),
    ),
    (
        20,
        re.compile(
            r"(?<!小)合计(?:金额)?|(?<!小)合計|总(?:金)?额|總(?:金)?額|总价|"
            r"(?<!SUB )(?<!SUB-)\bTOTALE?\b(?!\s+(?:PAID|TENDERED))|\bSUMME\b|"
            r"\bAMOUNT\b(?!\s+(?:PAID|TENDERED|RECEIVED))|(?<!实收)(?<!收款)金额",
            _I,
        ),
    ),
    (10, re.compile(r"小计|小計|\bSUB[\s-]?TOTAL\b", _I)),
)
SUBTOTAL: Final = TOTAL_LABELS[2][1]
TENDERED: Final = re.compile(
    r"实收(?:金额)?|實收|收款|\b(?:AMOUNT\s+)?TENDERED\b|\b(?:AMOUNT|TOTAL)\s+PAID\b|\bPAID\b", _I
)
"""What the customer handed over: the sale total only when no change was given."""
CHANGE: Final = re.compile(r"找零|找赎|找续|找贖|找續|\bCHANGE\b", _I)
TAX: Final = re.compile(r"税|\bTAX\b|\bVAT\b|\bGST\b|\bHST\b|\bMWST\b|\bTVA\b|\bIVA\b", _I)
DISCOUNT: Final = re.compile(
    r"优惠|優惠|折扣|折让|折讓|减免|減免|满减|滿減|抹零|"
    r"\bDISCOUNT\b|\bSAVINGS?\b|\bYOU\s+SAVED\b|\bCOUPON\b",
    _I,
)
NOT_A_TOTAL: Final = re.compile(
    r"数量|件数|\bQTY\b|\bQUANTITY\b|\bITEMS?\b|\bPCS\b|\bUNITS?\b|积分|\bPOINTS?\b|"
    r"\bWEIGHT\b|重量|\bTIPS?\b",
    _I,
)
"""Words that make a total label count something other than money."""
ITEM_COUNT: Final = re.compile(
    r"(?:总?数量(?:合计)?|件数|合计数量|商品数量|总件数|\bTOTAL\s+(?:ITEMS?|QTY|QUANTITY|UNITS)|"
    r"\bITEM\s+COUNT|\bNO\.?\s+OF\s+ITEMS|\bITEMS?\s+SOLD|\bQTY\s+TOTAL)\s*[:：]?\s*(?P<n>\d+)(?!\d*[.,]\d)|"
    r"共\s*(?P<n2>\d+)\s*(?:件|个|樣|样)|(?P<n3>\d+)\s+ITEMS?\b(?!\s*[:：]?\s*\d)",
    _I,
)
PAYMENT_LABEL: Final = re.compile(
    r"支付方式|付款方式|结算方式|支付类型|付款|支付|退回|退至|\bPAYMENT\b|\bPAID\s+(?:BY|WITH)\b|"
    r"\bREFUNDED\s+TO\b|\bTENDER\b|"
    r"\bPAY\s+METHOD\b|\bMETHOD\b",
    _I,
)
PAYMENT_METHODS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    ("wechat", re.compile(r"微信|\bWE\s?CHAT\b|\bWEIXIN\b|\bWX\s?PAY\b", _I)),
    ("alipay", re.compile(r"支付宝|\bALI\s?PAY\b", _I)),
    ("unionpay", re.compile(r"银联|云闪付|\bUNION\s?PAY\b|\bCUP\b|\bQUICK\s?PASS\b", _I)),
    (
        "mobile",
        re.compile(r"\b(?:APPLE|GOOGLE|SAMSUNG)\s?PAY\b|数字人民币|\bE-?CNY\b|\bDCEP\b", _I),
    ),
    (
        "stored_value",
        re.compile(r"储值|儲值|预付卡|会员卡支付|八達通|八达通|\bOCTOPUS\b|\bSTORE\s+CREDIT\b", _I),
    ),
    ("voucher", re.compile(r"礼券|代金券|购物券|购物卡|\bGIFT\s?(?:CARD|CERT)|\bVOUCHER\b", _I)),
    (
        "card",
        re.compile(
            r"刷卡|银行卡|信用卡|借记卡|储蓄卡|\bVISA\b|MASTER\s?CARD|\bAMEX\b|AMERICAN\s+EXPRESS|"
            r"\bJCB\b|\bDISCOVER\b|\bMAESTRO\b|\bDEBIT\b|\bCREDIT\b|\bEFTPOS\b|\bCARD\b|"
            r"\bCONTACTLESS\b",
            _I,
        ),
    ),
    ("cash", re.compile(r"现金|現金|\bCASH\b|\bESP[EÈ]CES\b|\bEFECTIVO\b|\bCONTANTI\b", _I)),
)
ANY_PAYMENT_METHOD: Final = re.compile(
    "|".join(f"(?:{pattern.pattern})" for _, pattern in PAYMENT_METHODS), _I
)
"""Any payment method word: finds the few lines worth classifying in one pass."""
REFUND_WORD: Final = re.compile(
    r"退货|退貨|退款|退单|\bREFUND(?:ED)?\b|\bRETURN(?:ED|S)?\b|\bCREDIT\s+NOTE\b", _I
)
REFUND_HEADING: Final = re.compile(
    r"^[\s*=#\-\[\]【】()（）]*(?:销售)?(?:退货|退貨|退款|退单)(?:单|小票|凭证|单据)?"
    r"[\s*=#\-\[\]【】()（）]*$|"
    r"^[\s*=#\-\[\]()]*(?:REFUND|RETURN|MERCHANDISE\s+RETURN|CREDIT\s+NOTE)"
    r"(?:\s+(?:RECEIPT|SLIP|INVOICE|TRANSACTION))?[\s*=#\-\[\]()]*$",
    _I | re.MULTILINE,
)
"""A line that says what the whole receipt is: a refund (not a returns policy)."""


def classify_payment(text: str) -> str | None:
    """The payment method a piece of text names, the most specific first."""
    for method, pattern in PAYMENT_METHODS:
        if pattern.search(text):
            return method
    return None
