"""Server-rendered distributions of the gradebook: one SVG with a histogram per component.

Written as SVG text directly: ten bars per panel need no plotting library, and matplotlib cost
3-7 s per drawing and ~40 MB per worker. Served from a route as ``image/svg+xml``: the page
shows it with ``<img src>``, which the strict CSP allows and which works without JavaScript.
Only presentation attributes are used (no ``style``), and every label is escaped. One image for
all components, so a page view computes the gradebook once for its charts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from xml.sax.saxutils import escape, quoteattr

BINS = tuple(range(0, 101, 10))
COLUMNS = 3
PANEL_WIDTH, PANEL_HEIGHT = 400, 240
# The plot area inside a panel: room for the title above, tick labels and the axis title below.
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 30, 46
BAR_COLOUR, AXIS_COLOUR, TEXT_COLOUR = "#3b6ea5", "#444444", "#222222"

NO_GRADES_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="360" height="40" viewBox="0 0 360 40">'
    b'<text x="8" y="24" font-family="sans-serif" font-size="14">No grades yet.</text></svg>'
)


def _numbers(values: Iterable[float]) -> list[float]:
    return [float(v) for v in values if v is not None and not math.isnan(v)]


def _counts(numbers: Sequence[float]) -> list[int]:
    """Counts per bin of 10 points; 100 (and anything above) falls in the last bin, anything
    below 0 in the first, as numpy.histogram does with the values clipped to 0-100."""
    counts = [0] * (len(BINS) - 1)
    for value in numbers:
        counts[min(len(counts) - 1, max(0, int(value // 10)))] += 1
    return counts


def _y_ticks(top: int) -> list[int]:
    """Round whole-number ticks (steps of 1, 2, 5, 10, 20, 25, 50, ...) from 0 to at least
    ``top``, at most six of them."""
    magnitude = 10 ** max(0, len(str(max(1, top))) - 2)
    step = next(m * magnitude for m in (1, 2, 5, 10, 20, 25, 50, 100) if m * magnitude * 5 >= top)
    return list(range(0, top + step, step)) if top % step else list(range(0, top + 1, step))


def _text(x: float, y: float, content: str, size: int, anchor: str = "middle",
          rotate: bool = False) -> str:
    transform = f' transform="rotate(-90 {x:.1f} {y:.1f})"' if rotate else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="{TEXT_COLOUR}"{transform}>{escape(content)}</text>')


def _panel(title: str, numbers: Sequence[float], left: float, top: float) -> list[str]:
    counts = _counts(numbers)
    ticks = _y_ticks(max(counts))
    width = PANEL_WIDTH - LEFT - RIGHT
    height = PANEL_HEIGHT - TOP - BOTTOM
    x0, y0 = left + LEFT, top + TOP + height  # the plot's origin (bottom left)

    def y(count: float) -> float:
        return y0 - count / ticks[-1] * height

    bar = width / len(counts)
    parts = [_text(left + PANEL_WIDTH / 2, top + 18, title, 13)]
    for count, start in zip(counts, BINS):
        if count:
            parts.append(f'<rect x="{x0 + start / 10 * bar:.1f}" y="{y(count):.1f}" '
                         f'width="{bar - 1:.1f}" height="{y0 - y(count):.1f}" fill="{BAR_COLOUR}">'
                         f'<title>{start}-{start + 10}%: {count}</title></rect>')
    parts.append(f'<path d="M{x0:.1f} {top + TOP:.1f}V{y0:.1f}H{x0 + width:.1f}" fill="none" '
                 f'stroke="{AXIS_COLOUR}"/>')
    for tick in BINS:
        x = x0 + tick / 100 * width
        parts.append(f'<path d="M{x:.1f} {y0:.1f}v4" stroke="{AXIS_COLOUR}"/>')
        parts.append(_text(x, y0 + 15, str(tick), 9))
    for tick in ticks:
        parts.append(f'<path d="M{x0:.1f} {y(tick):.1f}h-4" stroke="{AXIS_COLOUR}"/>')
        parts.append(_text(x0 - 7, y(tick) + 3, str(tick), 9, anchor="end"))
    mean = sum(numbers) / len(numbers)
    parts.append(_text(x0 + width / 2, y0 + 34, f"percent (n={len(numbers)}, mean {mean:.1f})",
                       10))
    parts.append(_text(left + 14, top + TOP + height / 2, "students", 10, rotate=True))
    return parts


def distributions_svg(panels: Sequence[tuple[str, Iterable[float]]]) -> bytes:
    """Histograms of percentages (0-100, bins of 10, 100 in the last bin), one per panel.

    A panel without any grade is left out rather than drawn as an empty axis; with no grades
    at all, a one-line image says so."""
    graded = [(title, numbers) for title, numbers in
              ((title, _numbers(values)) for title, values in panels) if numbers]
    if not graded:
        return NO_GRADES_SVG
    columns = min(COLUMNS, len(graded))
    rows = math.ceil(len(graded) / columns)
    width, height = columns * PANEL_WIDTH, rows * PANEL_HEIGHT
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" role="img" '
             f'aria-label={quoteattr("Distributions: " + ", ".join(t for t, _ in graded))}>']
    for index, (title, numbers) in enumerate(graded):
        row, column = divmod(index, columns)
        parts.extend(_panel(title, numbers, column * PANEL_WIDTH, row * PANEL_HEIGHT))
    parts.append("</svg>")
    return "\n".join(parts).encode("utf-8")
