"""The money lines of a receipt: what was bought, taken off, added, due, handed over, paid.

Chinese receipts print a ladder: ``合计 92.00`` (gross), ``优惠 -5.00`` (a
discount), ``服务费 24.00`` (a service charge), ``应收 87.00`` (due),
``实收 100.00`` / ``找零 13.00`` (cash handed over and change), and the
payments (``微信 50.00``, ``现金 37.00``). The amount the customer paid is the
highest rung printed:

1. ``实付``, ``实际支付``, ``支付金额`` (paid), and ``实收`` when no change was
   given (with change, ``实收`` is the cash handed over: paid = ``实收 - 找零``);
2. the amount due (``应收``, ``应付``, ``TOTAL``, ``AMOUNT DUE``...);
3. tendered minus change, then the payments summed;
4. gross minus discounts plus service charge (and tax, printed on top).

Every rung printed is checked against the others (``doubts``), and every amount
line that is neither an item nor a known label is reported (``unexplained``).
The words are listed in ``docs/pos.md``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Final, NamedTuple

from drivers.pos.extract.amounts import AMOUNT, CURRENCY_TOKEN, parse_amount
from drivers.pos.extract.labels import classify_payment
from drivers.pos.result import Payment

__all__ = ["Money", "Pair", "find_money", "pairs_of"]

_I: Final = re.IGNORECASE
# Roles, tried in this order on the words before an amount (the first that matches wins),
# simplified and traditional Chinese and English; docs/pos.md lists them with their meaning.
_ROLE_WORDS: Final[tuple[tuple[str, str], ...]] = (
    (
        "ignore",  # printed with an amount that is not money paid: counts, balances, ids
        r"余额|餘額|积分(?!抵)|积点|数量|數量|件数|单价|單價|折扣率|税号|稅號|会员号|卡号|电话|"
        r"\bQTY\b|\bPOINTS?\b|\bBALANCE\b(?!\s+DUE)|\bPRICE\b|\bITEMS?\b|\bRATE\b|含税|\bINCL",
    ),
    ("change", r"找零|找赎|找续|找贖|找續|\bCHANGE\b"),
    (
        "service",
        r"服务费|服務費|茶位费|茶位|包间费|加一|\bSERVICE(?:\s+CHARGE)?\b|\bSVC\b|\bTIPS?\b",
    ),
    (
        "discount",
        r"优惠|優惠|折扣|折让|折讓|减免|減免|满减|滿減|抹零|抵扣|券|立减|\bDISCOUNT\b|"
        r"\bCOUPON\b|\bSAVINGS?\b|\bPROMO(?:TION)?\b|\bROUNDING\b",
    ),
    ("tax", r"税额|税金|稅額|增值税|\bTAX\b|\bVAT\b|\bGST\b|\bHST\b|\bSST\b"),
    ("cash_received", r"实收(?:金额|现金)?|實收|收款|\bTENDERED\b|\bCASH\s+RECEIVED\b"),
    (
        "paid",
        r"实付(?:金额|款)?|實付|实际支付|支付金额|付款金额|实际付款|退款金额|退款金額|退货金额|"
        r"\b(?:AMOUNT|TOTAL)\s+PAID\b|\bREFUND\s+TOTAL\b|\bTOTAL\s+REFUND\b",
    ),
    (
        "due",
        r"应收|应付|應收|應付|待付|\b(?:AMOUNT|BALANCE|TOTAL)\s+DUE\b|\bGRAND\s+TOTAL\b|"
        r"\bNET\s+TOTAL\b|\bTOTAL\s+AMOUNT\b|\bTOTAL\s+TO\s+PAY\b|"
        r"(?<!SUB)(?<!SUB-)(?<!SUB )\bTOTALE?\b|\bAMOUNT\b|\bSUMME\b",
    ),
    (
        "gross",
        r"合计|合計|小计|小計|总计|總計|总金额|總金額|总额|總額|总价|商品金额|消费金额|原价|"
        r"\bSUB[\s-]?TOTAL\b",
    ),
)
_ROLES: Final = tuple((role, re.compile(words, _I)) for role, words in _ROLE_WORDS)
_AMOUNT_TOKEN: Final = re.compile(
    r"(?P<neg>[-−(])?\s*(?P<cur>" + CURRENCY_TOKEN + r")?\s*(?P<neg2>[-−])?\s*"
    r"(?P<amt>" + AMOUNT + r")(?P<unit>\s*(?:%|折|件|个|個|份|杯|张|張|PCS)|[:/-]\d)?",
    _I,
)
"""An amount as printed (``-5.00``, ``¥ 87.00``, ``(3.20)``); ``unit``: a rate, a count,
or part of a date or time, not money."""
_CENTS_IN_TEXT: Final = re.compile(r"\d[.,]\d{2}(?!\d)")
_MAX_INTEGER_DIGITS: Final = 7
"""On receipts without cents, longer digit runs are ids (transaction numbers), not money."""
_LABEL_EDGES: Final = " \t:：=/"
_CENTS: Final = re.compile(r"[.,]\d{2}$")
_DIGIT: Final = re.compile(r"\d")
_TOLERANCE: Final = Decimal("0.011")
_ZERO: Final = Decimal(0)


class Pair(NamedTuple):
    """One amount on a line and the words printed before it."""

    line: int
    label: str
    role: str | None
    value: Decimal
    cents: bool
    """Printed with two decimals (a money amount, not a count or a date part)."""
    currency: str | None = None
    """The currency symbol or code printed with it."""


class Money(NamedTuple):
    """The money ladder of one receipt (None: not printed)."""

    gross: Decimal | None
    discount: Decimal | None
    """Everything taken off, as a positive amount."""
    service: Decimal | None
    tax: Decimal | None
    due: Decimal | None
    tendered: Decimal | None
    change: Decimal | None
    payments: tuple[Payment, ...]
    total: Decimal | None
    """The amount paid (net): the figure the figures use."""
    total_line: int | None
    total_printed: Pair | None
    """The printed amount the total is (None: computed from others)."""
    doubts: tuple[str, ...]
    paid: bool
    """An amount paid, cash handed over or a payment was printed (a bill has none)."""
    held: int
    """Relations between the figures that could be checked and held."""
    explained: frozenset[int]
    """Lines whose amounts the ladder explains."""


def _role(label: str) -> str | None:
    for role, pattern in _ROLES:
        if pattern.search(label):
            return role
    if classify_payment(label) is not None:
        return "payment"
    return None


def pairs_of(lines: Sequence[str], start: int = 0) -> list[Pair]:
    """Every money amount on the lines from ``start``, labelled by the words before it
    (back to the previous amount: ``实收 100.00  找零 13.00`` gives two, ``满减(满1000减200)
    -200.00`` one). Money has cents, unless the receipt prints none anywhere (TWD, JPY).
    The item lines above the first total line are ``items``' business."""
    integers = not any(_CENTS_IN_TEXT.search(lines[n]) for n in range(start, len(lines)))
    found = []
    for number in range(start, len(lines)):
        line = lines[number]
        if _DIGIT.search(line) is None:
            continue
        label_from = 0
        for match in _AMOUNT_TOKEN.finditer(line):
            token = match.group("amt")
            cents = _CENTS.search(token) is not None
            if match.group("unit") or not (cents or _whole_money(token, integers)):
                continue
            value = parse_amount(token)
            if value is None:
                continue
            if match.group("neg") or match.group("neg2"):
                value = -value
            label = line[label_from : match.start()].strip(_LABEL_EDGES)
            found.append(Pair(number, label, _role(label), value, cents, match.group("cur")))
            label_from = match.end()
    return found


def _whole_money(token: str, integers: bool) -> bool:
    return integers and token.isdigit() and len(token) <= _MAX_INTEGER_DIGITS


def _last(pairs: list[Pair], role: str) -> Pair | None:
    chosen = [p for p in pairs if p.role == role]
    return chosen[-1] if chosen else None


def _sum(pairs: list[Pair], role: str) -> Decimal | None:
    values = [abs(p.value) for p in pairs if p.role == role]
    return sum(values, _ZERO) if values else None


def _close(a: Decimal, b: Decimal) -> bool:
    return abs(a - b) < _TOLERANCE


def _cash_side(pairs: list[Pair]) -> tuple[Decimal | None, Decimal | None, Pair | None]:
    """(tendered, change, the ``实收`` pair when it is the amount paid, not the cash given)."""
    change_pair = _last(pairs, "change")
    received = _last(pairs, "cash_received")
    cash = [p for p in pairs if p.role == "payment" and classify_payment(p.label) == "cash"]
    change = None if change_pair is None else abs(change_pair.value)
    if change:  # change given: 实收 / 现金 / 收款 is what was handed over
        handed = received or (cash[-1] if cash else None)
        return (None if handed is None else abs(handed.value)), change, None
    if change is not None and received is not None:  # 找零 0.00: handed over exactly
        return abs(received.value), change, received
    return None, change, received


def _payments(pairs: list[Pair]) -> tuple[Payment, ...]:
    found = []
    for pair in pairs:
        method = classify_payment(pair.label) if pair.role == "payment" else None
        if method is not None and pair.value:
            found.append(Payment(method, abs(pair.value)))
    return tuple(found)


class _Ladder(NamedTuple):
    rank: int
    value: Decimal
    line: int | None


def _nets(roles: list[Pair], grosses: list[Pair]) -> list[Decimal]:
    """Each gross printed, less the discounts and plus the charges printed after it
    (``小计 240 / 服务费 24 / 合计 264``: both grosses give 264)."""
    nets = []
    for gross in grosses:
        net = abs(gross.value)
        for pair in roles:
            if pair.line > gross.line and pair.role == "discount":
                net -= abs(pair.value)
            elif pair.line > gross.line and pair.role == "service":
                net += abs(pair.value)
        nets.append(net)
    return nets


def _candidates(
    pairs: list[Pair],
    nets: list[Decimal],
    cash: tuple[Decimal | None, Decimal | None, Pair | None],
    payments: tuple[Payment, ...],
) -> list[_Ladder]:
    """The figures that could be the amount paid, highest rung first."""
    tendered, change, paid_received = cash
    found = [_Ladder(40, abs(p.value), p.line) for p in pairs if p.role == "paid"]
    if paid_received is not None:
        found.append(_Ladder(40, abs(paid_received.value), paid_received.line))
    found += [_Ladder(30, abs(p.value), p.line) for p in pairs if p.role == "due"]
    if tendered is not None and change is not None:
        found.append(_Ladder(25, tendered - change, None))
    if payments:
        found.append(_Ladder(20, sum((p.amount for p in payments), _ZERO) - (change or 0), None))
    found += [_Ladder(10, net, None) for net in nets]
    # ``BALANCE DUE 0.00`` after the tender: nothing left to pay is not the sale's amount
    return [c for c in found if c.value or c.rank < 30] or found


def find_money(lines: Sequence[str], first_total: int) -> Money:
    """The money ladder of a receipt's lines; ``first_total``: where items end."""
    # discounts above the first total line belong to items (already in the gross)
    pairs = pairs_of(lines, first_total if first_total < len(lines) else 0)
    roles = [p for p in pairs if p.role is not None and p.role != "ignore"]
    grosses = [p for p in roles if p.role == "gross"]
    gross = abs(grosses[0].value) if grosses else None  # before anything taken off or added
    discount, service, tax = _sum(roles, "discount"), _sum(roles, "service"), _sum(roles, "tax")
    cash = _cash_side(roles)
    payments = _payments(roles)
    nets = _nets(roles, grosses)
    ladder = _candidates(roles, nets[-1:], cash, payments)
    best = max(ladder, key=lambda c: (c.rank, -1 if c.line is None else c.line), default=None)
    due_pair = _last(roles, "due")
    if gross is None and discount and due_pair is not None and best and best.rank > 30:
        gross = abs(due_pair.value)  # 应收 92.00 / 优惠 5.00 / 实收 87.00: 应收 is the gross
    money = Money(
        gross=gross,
        discount=discount,
        service=service,
        tax=tax,
        due=None if due_pair is None else abs(due_pair.value),
        tendered=cash[0],
        change=cash[1],
        payments=payments,
        total=None if best is None else best.value,
        total_line=None if best is None else best.line,
        total_printed=_printed(roles, best),
        doubts=(),
        paid=bool(payments) or any(p.role in ("paid", "cash_received") for p in roles),
        held=0,
        explained=frozenset(p.line for p in pairs if p.role is not None),
    )
    held, failed = _relations(money, nets)
    doubts = _doubts(money, ladder, best, pairs, first_total) + failed
    return money._replace(doubts=tuple(doubts), held=held)


def _printed(roles: list[Pair], best: _Ladder | None) -> Pair | None:
    if best is None or best.line is None:
        return None
    return next((p for p in roles if p.line == best.line and abs(p.value) == best.value), None)


def _doubts(
    money: Money, ladder: list[_Ladder], best: _Ladder | None, pairs: list[Pair], first: int
) -> list[str]:
    """Why the amount paid may be wrong: figures that disagree, lines nobody explained."""
    doubts = []
    total = money.total
    if best is not None and total is not None:
        rivals = {c.value for c in ladder if c.rank == best.rank and c.line is not None}
        if len(rivals) > 1 and not (best.rank == 30 and money.discount):
            doubts.append("total_candidates: " + " / ".join(f"{v:.2f}" for v in sorted(rivals)))
    for pair in pairs:
        unexplained = pair.role is None and pair.cents and pair.line not in money.explained
        if unexplained and pair.line >= first:
            doubts.append(f"unexplained_amount: line {pair.line + 1}")
    return doubts


def _relations(money: Money, nets: list[Decimal]) -> tuple[int, list[str]]:
    """The relations between the printed figures: how many held, and the failures."""
    total = money.total
    if total is None:
        return 0, []
    held, failed = 0, []
    if nets:
        taxed = [net + money.tax for net in nets] if money.tax is not None else []
        if any(_close(net, total) for net in nets + taxed):
            held += 1
        else:
            failed.append(f"gross_vs_total: {nets[0]:.2f} from the gross, {total:.2f} paid")
    if money.tendered is not None and money.change is not None:
        if _close(money.tendered - money.change, total):
            held += 1
        else:
            failed.append(
                f"change_vs_total: {money.tendered:.2f} - {money.change:.2f} is not {total:.2f}"
            )
    if money.payments:
        paid = sum((p.amount for p in money.payments), _ZERO) - (money.change or _ZERO)
        if _close(paid, total):
            held += 1
        else:
            failed.append(f"payments_vs_total: payments give {paid:.2f}, {total:.2f} paid")
    return held, failed
