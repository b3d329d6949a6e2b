"""Charts as inline SVG, drawn here: grouped bars and a heat-map matrix.

No library, no script, no external reference: the HTML report must open on a
manager's laptop without a network. Every bar and cell carries a ``<title>``
(the browser's tooltip) with its exact value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from edge.report.fmt import number

__all__ = ["PALETTE", "Bars", "bar_chart", "heatmap", "nice_max"]

PALETTE = ("#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c", "#319795", "#b7791f", "#4a5568")
_FONT = 'font-family="system-ui, sans-serif" font-size="12"'


@dataclass(frozen=True, slots=True)
class Bars:
    """One series of a bar chart: a value (or none) per category."""

    name: str
    values: Sequence[float | None]
    color: str


def nice_max(value: float) -> float:
    """A round top for an axis of four steps at or above ``value`` (4 for small counts)."""
    if value <= 0:
        return 1.0
    if 1 <= value <= 4:
        return 4.0
    base = 10.0 ** math.floor(math.log10(value))
    for step in (1, 1.2, 1.6, 2, 2.4, 3.2, 4, 5, 6, 8):
        if value <= step * base * (1 + 1e-9):
            return float(step * base)
    return 10.0 * base


def bar_chart(
    labels: Sequence[str],
    series: Sequence[Bars],
    *,
    title: str,
    fmt: Callable[[float], str] = number,
    width: int = 720,
    height: int = 260,
) -> str:
    """Grouped vertical bars: one group per label, one bar per series."""
    left, right, top, bottom = 56, 12, 34, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = nice_max(max((v for s in series for v in s.values if v is not None), default=0))
    parts = [_open(width, height, title)]
    for i in range(5):
        value = top_value * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"'
            f' stroke="#e2e8f0"/><text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end"'
            f' fill="#4a5568">{escape(fmt(value))}</text>'
        )
    group_w = plot_w / max(len(labels), 1)
    bar_w = min(group_w * 0.8 / max(len(series), 1), 40.0)
    for g, label in enumerate(labels):
        x0 = left + (g + 0.5) * group_w - bar_w * len(series) / 2
        parts.append(
            f'<text x="{left + (g + 0.5) * group_w:.1f}" y="{height - bottom + 16}"'
            f' text-anchor="middle" fill="#4a5568">{escape(label)}</text>'
        )
        for k, s in enumerate(series):
            bar = s.values[g]
            if bar is None:
                continue
            h = plot_h * bar / top_value
            parts.append(
                f'<rect x="{x0 + k * bar_w:.1f}" y="{top + plot_h - h:.1f}"'
                f' width="{max(bar_w - 1, 1):.1f}" height="{h:.1f}" fill="{s.color}">'
                f"<title>{escape(f'{s.name}, {label}: {fmt(bar)}')}</title></rect>"
            )
    parts.append(_legend(series, left, top - 16))
    parts.append("</svg>")
    return "".join(parts)


def heatmap(
    rows: Sequence[str],
    cols: Sequence[str],
    matrix: Sequence[Sequence[int]],
    *,
    title: str,
    row_caption: str = "from",
    col_caption: str = "to",
) -> str:
    """A matrix of counts as coloured cells (darker: more), each with its number."""
    cell, left, top = 56, 120, 56
    width, height = left + cell * len(cols) + 12, top + cell * len(rows) + 12
    most = max((n for row in matrix for n in row), default=0) or 1
    parts = [_open(width, height, title)]
    parts.append(f'<text x="{left}" y="16" fill="#4a5568">{escape(col_caption)} →</text>')
    parts.append(f'<text x="8" y="{top - 8}" fill="#4a5568">{escape(row_caption)} ↓</text>')
    for j, name in enumerate(cols):
        parts.append(
            f'<text x="{left + (j + 0.5) * cell:.1f}" y="{top - 8}" text-anchor="middle">'
            f"{escape(_short(name))}</text>"
        )
    for i, name in enumerate(rows):
        y = top + i * cell
        parts.append(
            f'<text x="{left - 8}" y="{y + cell / 2 + 4:.1f}" text-anchor="end">'
            f"{escape(_short(name))}</text>"
        )
        for j, n in enumerate(matrix[i]):
            share = n / most
            fill = _blend(share)
            ink = "#ffffff" if share > 0.55 else "#1a202c"
            tip = f"{name} → {cols[j]}: {n:,}"
            parts.append(
                f'<rect x="{left + j * cell}" y="{y}" width="{cell - 2}" height="{cell - 2}"'
                f' fill="{fill}" rx="3"><title>{escape(tip)}</title></rect>'
                f'<text x="{left + j * cell + (cell - 2) / 2:.1f}" y="{y + cell / 2 + 3:.1f}"'
                f' text-anchor="middle" fill="{ink}">{n:,}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _open(width: int, height: int, title: str) -> str:
    return (
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img"'
        f" {_FONT}><title>{escape(title)}</title>"
    )


def _legend(series: Sequence[Bars], x: int, y: int) -> str:
    parts = []
    for s in series:
        parts.append(
            f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{s.color}"/>'
            f'<text x="{x + 14}" y="{y}">{escape(s.name)}</text>'
        )
        x += 24 + 7 * len(s.name)
    return "".join(parts)


def _blend(share: float) -> str:
    """From near-white (0) to the palette's blue (1)."""
    low, high = (247, 250, 252), (43, 108, 176)
    r, g, b = (round(a + (z - a) * share) for a, z in zip(low, high, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def _short(name: str, limit: int = 14) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"
