"""Server-rendered SVG charts for the dashboards: no script, no inline styles (CSP-safe).

Every chart is an ``<svg>`` with a viewBox, so it scales with the page; colours come from
classes in rankroom.css except heatmap cells, whose colour is the datum (a fill attribute).
Hover text is an SVG ``<title>``. Missing values are drawn as their reason, never as NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from markupsafe import Markup, escape

Fmt = Callable[[float], str]


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Return round tick values covering [lo, hi] (Heckbert's nice numbers)."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    start = math.floor(lo / step) * step
    ticks, t = [], start
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 10))
        t += step
    return ticks if ticks[-1] >= hi else [*ticks, round(t, 10)]


def _svg(
    width: int, height: int, body: list[str], label: str, cls: str = "chart", fixed: bool = False
) -> Markup:
    # A fixed chart is drawn at its own size; the others stretch to the card's width.
    size = f'width="{width}" height="{height}" ' if fixed else ""
    return Markup(
        f'<svg class="{cls}" {size}viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        + "".join(body)
        + "</svg>"
    )


def _text(x: float, y: float, text: Any, cls: str = "axis", anchor: str = "start") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" class="{cls}" text-anchor="{anchor}">{escape(text)}</text>'
    )


def _nothing(label: str) -> Markup:
    return Markup(f'<p class="muted">{escape(label)}: nothing to draw yet.</p>')


def _value_axis(
    points: Sequence[tuple[str, float]], top: int, plot_h: float
) -> tuple[list[float], Callable[[float], float]]:
    """Ticks from 0 past the largest value, and the y coordinate of a value."""
    ticks = nice_ticks(0, max(v for _, v in points) or 1)
    return ticks, lambda v: top + plot_h * (1 - v / ticks[-1])


def bar_chart(
    points: Sequence[tuple[str, float]],
    *,
    label: str,
    height: int = 220,
    width: int = 1200,
    fmt: Fmt = _fmt,
) -> Markup:
    """Draw vertical bars, one per (label, value), with a y axis and thinned x labels."""
    if not points:
        return _nothing(label)
    left, bottom, top = 48, 28, 10
    plot_w, plot_h = width - left - 8, height - bottom - top
    ticks, y = _value_axis(points, top, plot_h)
    slot = plot_w / len(points)
    bar = min(slot * 0.76, 90)
    body = _y_axis(ticks, y, left, width, fmt)
    every = max(1, math.ceil(len(points) / 12))
    for k, (name, value) in enumerate(points):
        x = left + k * slot
        h = plot_h * value / ticks[-1]
        body.append(
            f'<rect class="bar" x="{x + (slot - bar) / 2:.1f}" y="{top + plot_h - h:.1f}" '
            f'width="{max(bar, 1):.1f}" height="{h:.1f}">'
            f"<title>{escape(name)}: {escape(fmt(value))}</title></rect>"
        )
        if k % every == 0:
            body.append(_text(x + slot / 2, height - 8, name, anchor="middle"))
    return _svg(width, height, body, label)


def _y_axis(
    ticks: list[float], y: Callable[[float], float], left: int, width: int, fmt: Fmt
) -> list[str]:
    out = []
    for t in ticks:
        out.append(
            f'<line class="grid" x1="{left}" x2="{width - 8}" y1="{y(t):.1f}" y2="{y(t):.1f}"/>'
        )
        out.append(_text(left - 6, y(t) + 4, fmt(t), anchor="end"))
    return out


def line_chart(
    points: Sequence[tuple[str, float]],
    *,
    label: str,
    height: int = 220,
    width: int = 1200,
    fmt: Fmt = _fmt,
) -> Markup:
    """Draw a line through (label, value) points, with a y axis from 0."""
    if not points:
        return _nothing(label)
    left, bottom, top = 64, 28, 10
    plot_w, plot_h = width - left - 8, height - bottom - top
    ticks, y = _value_axis(points, top, plot_h)
    step = plot_w / max(len(points) - 1, 1)
    xy = [(left + k * step, y(v)) for k, (_, v) in enumerate(points)]
    body = _y_axis(ticks, y, left, width, fmt)
    body.append(
        '<polyline class="line" points="' + " ".join(f"{a:.1f},{b:.1f}" for a, b in xy) + '"/>'
    )
    every = max(1, math.ceil(len(points) / 10))
    for k, ((name, value), (a, b)) in enumerate(zip(points, xy, strict=True)):
        body.append(
            f'<circle class="dot" cx="{a:.1f}" cy="{b:.1f}" r="3"><title>{escape(name)}: {escape(fmt(value))}</title></circle>'
        )
        if k % every == 0:
            body.append(_text(a, height - 8, name, anchor="middle"))
    return _svg(width, height, body, label)


def forest_plot(
    rows: Sequence[dict[str, Any]],
    *,
    label: str,
    lo: float,
    hi: float,
    marks: Sequence[float] = (0.0,),
    width: int = 1200,
    fmt: Fmt = lambda v: f"{v:.3f}",
) -> Markup:
    """Draw estimates with 95% interval whiskers, one row per {label, value, low, high, reason}."""
    if not rows:
        return _nothing(label)
    left, right, row_h, top = 300, 90, 30, 24
    height = top + row_h * len(rows) + 8
    plot_w = width - left - right
    values = [
        v for r in rows for v in (r.get("low"), r.get("value"), r.get("high")) if v is not None
    ]
    lo, hi = min([lo, *values]), max([hi, *values])
    x = lambda v: left + plot_w * (v - lo) / ((hi - lo) or 1)  # noqa: E731
    body = []
    for t in nice_ticks(lo, hi, 6):
        if lo <= t <= hi:
            body.append(
                f'<line class="grid" x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top - 6}" y2="{height - 8}"/>'
            )
            body.append(_text(x(t), top - 10, f"{t:g}", anchor="middle"))
    for m in marks:
        if lo <= m <= hi:
            body.append(
                f'<line class="mark" x1="{x(m):.1f}" x2="{x(m):.1f}" y1="{top - 6}" y2="{height - 8}"/>'
            )
    for k, r in enumerate(rows):
        cy = top + row_h * k + row_h / 2
        body.append(_text(left - 10, cy + 4, r["label"], "label", "end"))
        if r.get("value") is None:
            body.append(_text(left + 4, cy + 4, r.get("reason") or "no value", "reason"))
            continue
        if r.get("low") is not None and r.get("high") is not None:
            body.append(
                f'<line class="whisker" x1="{x(r["low"]):.1f}" x2="{x(r["high"]):.1f}" y1="{cy:.1f}" y2="{cy:.1f}"/>'
            )
            for end in (r["low"], r["high"]):
                body.append(
                    f'<line class="whisker" x1="{x(end):.1f}" x2="{x(end):.1f}" y1="{cy - 5:.1f}" y2="{cy + 5:.1f}"/>'
                )
        interval = f" [{fmt(r['low'])}, {fmt(r['high'])}]" if r.get("low") is not None else ""
        body.append(
            f'<circle class="estimate" cx="{x(r["value"]):.1f}" cy="{cy:.1f}" r="5">'
            f"<title>{escape(r['label'])}: {escape(fmt(r['value']) + interval)}</title></circle>"
        )
        body.append(_text(width - right + 8, cy + 4, fmt(r["value"]), "value"))
    return _svg(width, height, body, label)


def stacked_bar(
    parts: Sequence[tuple[str, float, str]], *, label: str, width: int = 1200
) -> Markup:
    """Draw one horizontal bar split into (name, count, css class) parts, with a legend."""
    total = sum(v for _, v, _ in parts) or 1
    body, x = [], 0.0
    for name, value, cls in parts:
        w = width * value / total
        body.append(
            f'<rect class="{cls}" x="{x:.1f}" y="0" width="{w:.1f}" height="26"><title>{escape(name)}: {value:,.0f}</title></rect>'
        )
        x += w
    lx = 0
    for name, value, cls in parts:
        body.append(f'<rect class="{cls}" x="{lx}" y="36" width="12" height="12"/>')
        text = f"{name}: {value:,.0f}"
        body.append(_text(lx + 18, 47, text, "label"))
        lx += 30 + 8 * len(text)
    return _svg(width, 56, body, label)


def box_plot(q: dict[str, float] | None, *, top: float, width: int = 120) -> Markup:
    """Draw a tiny box plot: whiskers at the 10th/90th percentile, box at the quartiles."""
    if not q:
        return Markup('<span class="muted">no timing</span>')
    x = lambda v: 4 + (width - 8) * min(v, top) / (top or 1)  # noqa: E731
    title = f"p10 {q['p10']:.0f} s · p25 {q['p25']:.0f} s · median {q['p50']:.0f} s · p75 {q['p75']:.0f} s · p90 {q['p90']:.0f} s"
    body = [
        f"<title>{escape(title)}</title>",
        f'<line class="whisker" x1="{x(q["p10"]):.1f}" x2="{x(q["p90"]):.1f}" y1="9" y2="9"/>',
        f'<rect class="box" x="{x(q["p25"]):.1f}" y="3" width="{max(x(q["p75"]) - x(q["p25"]), 1):.1f}" height="12"/>',
        f'<line class="median" x1="{x(q["p50"]):.1f}" x2="{x(q["p50"]):.1f}" y1="2" y2="16"/>',
    ]
    return _svg(width, 18, body, title, cls="spark")


def scatter(
    points: Sequence[dict[str, Any]],
    *,
    label: str,
    x_title: str,
    y_title: str,
    width: int = 1200,
    height: int = 320,
) -> Markup:
    """Draw points {x, y, name, flagged}; flagged points get the alert colour."""
    usable = [p for p in points if p["x"] is not None and p["y"] is not None]
    if not usable:
        return _nothing(label)
    left, bottom, top = 56, 40, 12
    xt = nice_ticks(0, max(p["x"] for p in usable) or 1)
    yt = nice_ticks(min(0.0, *(p["y"] for p in usable)), max(1.0, *(p["y"] for p in usable)))
    plot_w, plot_h = width - left - 12, height - bottom - top
    x = lambda v: left + plot_w * (v - xt[0]) / ((xt[-1] - xt[0]) or 1)  # noqa: E731
    y = lambda v: top + plot_h * (1 - (v - yt[0]) / ((yt[-1] - yt[0]) or 1))  # noqa: E731
    body = _y_axis(yt, y, left, width - 4, lambda v: f"{v:.2f}")
    for t in xt:
        body.append(_text(x(t), height - 22, f"{t:g}", anchor="middle"))
    body.append(_text(left + plot_w / 2, height - 4, x_title, "label", "middle"))
    body.append(
        f'<text class="label" transform="translate(14 {top + plot_h / 2:.0f}) rotate(-90)" text-anchor="middle">{escape(y_title)}</text>'
    )
    for p in usable:
        if len(usable) <= 30:
            body.append(_text(x(p["x"]) + 8, y(p["y"]) + 4, p["name"], "axis"))
        cls = "point flagged" if p.get("flagged") else "point"
        body.append(
            f'<circle class="{cls}" cx="{x(p["x"]):.1f}" cy="{y(p["y"]):.1f}" r="5">'
            f"<title>{escape(p['name'])}: {escape(p.get('detail', ''))}</title></circle>"
        )
    return _svg(width, height, body, label)


def heat_colour(value: float, lo: float = 0.0, mid: float = 0.5, hi: float = 1.0) -> str:
    """Return a diverging colour: red below ``mid``, white at it, blue above."""
    if value >= mid:
        t = min((value - mid) / ((hi - mid) or 1), 1.0)
        r, g, b = (255 - 224 * t, 255 - 160 * t, 255 - 64 * t)
    else:
        t = min((mid - value) / ((mid - lo) or 1), 1.0)
        r, g, b = (255 - 76 * t, 255 - 217 * t, 255 - 225 * t)
    return f"#{int(r):02x}{int(g):02x}{int(b):02x}"


def matrix_chart(
    names: Sequence[str], cells: Sequence[Sequence[dict[str, Any] | None]], *, label: str
) -> Markup:
    """Draw a square matrix of {value, n} cells (row beats column), coloured around 0.5."""
    if not names:
        return _nothing(label)
    size = max(26, min(56, 640 // len(names)))
    left, top = 170, 130
    width, height = left + size * len(names) + 8, top + size * len(names) + 8
    body = []
    for j, name in enumerate(names):
        cx = left + j * size + size / 2
        body.append(
            f'<text class="axis" transform="translate({cx:.1f} {top - 8}) rotate(-45)">{escape(name)}</text>'
        )
    for i, (row_name, row) in enumerate(zip(names, cells, strict=True)):
        cy = top + i * size
        body.append(_text(left - 8, cy + size / 2 + 4, row_name, "label", "end"))
        for j, cell in enumerate(row):
            x = left + j * size
            if cell is None or cell["value"] is None:
                body.append(
                    f'<rect class="empty" x="{x}" y="{cy}" width="{size - 2}" height="{size - 2}"/>'
                )
                continue
            tip = f"{row_name} beat {names[j]} in {cell['value']:.0%} of {cell['n']}"
            body.append(
                f'<rect x="{x}" y="{cy}" width="{size - 2}" height="{size - 2}" fill="{heat_colour(cell["value"])}">'
                f"<title>{escape(tip)}</title></rect>"
            )
            body.append(
                _text(
                    x + (size - 2) / 2, cy + size / 2 + 3, f"{cell['value']:.2f}", "cell", "middle"
                )
            )
    return _svg(width, height, body, label, cls="chart matrix", fixed=True)
