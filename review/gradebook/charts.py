"""Server-rendered distributions of the gradebook: one SVG histogram per component.

Rendered with matplotlib's object API on the Agg/SVG backends (no pyplot, so no global figure
state is shared between requests) and served from a route as ``image/svg+xml``: the page shows
them with ``<img src>``, which the strict CSP allows and which works without JavaScript.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable

import numpy as np
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

BINS = np.arange(0, 101, 10)


def distribution_svg(values: Iterable[float], title: str) -> bytes:
    """A histogram of percentages (0-100, bins of 10; 100 falls in the last bin) as SVG bytes."""
    numbers = np.array([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    figure = Figure(figsize=(4.2, 2.4), dpi=100)
    FigureCanvasSVG(figure)
    axes = figure.add_subplot()
    clipped = np.clip(numbers, 0, 100)
    axes.hist(clipped, bins=BINS, color="#3b6ea5", edgecolor="white")
    blank = "" if len(numbers) else " (no grades yet)"
    mean = f", mean {numbers.mean():.1f}" if len(numbers) else ""
    axes.set_title(f"{title}{blank}", fontsize=10)
    axes.set_xlabel(f"percent (n={len(numbers)}{mean})", fontsize=8)
    axes.set_ylabel("students", fontsize=8)
    axes.set_xlim(0, 100)
    axes.set_xticks(BINS)
    axes.tick_params(labelsize=7)
    axes.yaxis.get_major_locator().set_params(integer=True)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()
