"""Receipts written by python-escpos, an independent ESC/POS implementation, decode back.

Layouts: English with a logo in each of python-escpos's three image encodings
(GS v 0, ESC * columns, GS ( L graphics), a barcode, a native QR code and a
drawer kick; Chinese in GB18030 (cut and uncut); European text with code-page
switches; a refund; receipts printed as one picture.
"""

from __future__ import annotations

import random

import pytest
from pos_receipts import LAYOUTS, Generated

from drivers.pos.decoder import PosDecoder, decode_chunks
from drivers.pos.result import Receipt


def decode(generated: Generated, chunks: list[tuple[float, bytes]] | None = None) -> list[Receipt]:
    decoder = PosDecoder(
        generated.encoding, currency="CNY" if generated.currency == "CNY" else None
    )
    return decode_chunks(chunks or [(0.0, generated.data)], decoder)


@pytest.fixture(params=sorted(LAYOUTS), scope="module")
def generated(request: pytest.FixtureRequest) -> Generated:
    return LAYOUTS[request.param]()


def test_text_and_fields(generated: Generated) -> None:
    (receipt,) = decode(generated)
    assert receipt.text == generated.text
    assert receipt.total == generated.total
    assert receipt.currency == generated.currency
    for name, value in generated.fields.items():
        assert getattr(receipt, name) == value, name
    assert receipt.boundary == ("cut" if generated.cut else "end")
    assert (receipt.stats.graphics > 0) == generated.graphics
    assert receipt.stats.unknown == receipt.stats.malformed == receipt.stats.replaced == 0


def test_random_reads_give_the_same_receipt(generated: Generated) -> None:
    rng = random.Random(len(generated.data))
    data = generated.data
    for _ in range(5):
        cuts = sorted(rng.sample(range(1, len(data)), min(40, len(data) - 1)))
        pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        assert decode(generated, [(0.0, piece) for piece in pieces]) == decode(generated)


def test_uncut_receipts_are_separated_by_the_idle_gap() -> None:
    first, second = LAYOUTS["chinese-gb18030-uncut"](), LAYOUTS["chinese-gb18030-uncut"]()
    chunks = [(1000.0, first.data[:50]), (1000.2, first.data[50:]), (1010.0, second.data)]
    receipts = decode(first, chunks)
    assert [r.boundary for r in receipts] == ["idle", "end"]
    assert [(r.t_start, r.t_end) for r in receipts] == [(1000.0, 1000.2), (1010.0, 1010.0)]
    assert receipts[0].text == receipts[1].text == first.text


def test_a_day_of_receipts_in_one_stream() -> None:
    layouts = [LAYOUTS[name]() for name in sorted(LAYOUTS) if "gb18030" not in name]
    stream = b"".join(g.data for g in layouts)
    receipts = decode_chunks([(0.0, stream)], PosDecoder())
    assert [r.text for r in receipts] == [g.text for g in layouts]
    assert [r.raster_only for r in receipts] == ["raster-only" in n for n in sorted(LAYOUTS)
                                                 if "gb18030" not in n]  # fmt: skip


def test_card_and_phone_numbers_never_reach_the_receipt() -> None:
    for generated in (LAYOUTS["english-raster-logo"](), LAYOUTS["chinese-gb18030-cut"]()):
        (receipt,) = decode(generated)
        assert "4111 1111 1111 1111" not in receipt.text
        assert "13812345678" not in receipt.text
        assert receipt.masked == 1
