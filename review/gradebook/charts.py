"""Server-rendered distributions of the gradebook: one SVG with a histogram per component.

Rendered with matplotlib's object API on the SVG backend (no pyplot, so no global figure state
is shared between requests) and served from a route as ``image/svg+xml``: the page shows it with
``<img src>``, which the strict CSP allows and which works without JavaScript. One image for all
components, so a page view computes the gradebook once for its charts, not once per component.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

BINS = tuple(range(0, 101, 10))
COLUMNS = 3


def _numbers(values: Iterable[float]) -> np.ndarray:
    import numpy as np
    return np.array([v for v in values if v is not None and not math.isnan(v)], dtype=float)


NO_GRADES_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="360" height="40" viewBox="0 0 360 40">'
    b'<text x="8" y="24" font-family="sans-serif" font-size="14">No grades yet.</text></svg>'
)


def distributions_svg(panels: Sequence[tuple[str, Iterable[float]]]) -> bytes:
    """Histograms of percentages (0-100, bins of 10, 100 in the last bin), one per panel.

    A panel without any grade is left out rather than drawn as an empty axis (its title says
    which components are missing); with no grades at all, a one-line image says so."""
    import numpy as np
    from matplotlib import rc_context
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    graded = [(title, numbers) for title, numbers in
              ((title, _numbers(values)) for title, values in panels) if len(numbers)]
    if not graded:
        return NO_GRADES_SVG
    rows = max(1, math.ceil(len(graded) / COLUMNS))
    columns = min(COLUMNS, len(graded))
    figure = Figure(figsize=(4.0 * columns, 2.4 * rows), dpi=100)
    FigureCanvasSVG(figure)
    axes_grid = figure.subplots(rows, columns, squeeze=False)
    for index, axes in enumerate(axes_grid.flat):
        if index >= len(graded):
            axes.set_axis_off()  # the unused cells of the last row: no frame, no ticks
            continue
        title, numbers = graded[index]
        axes.hist(np.clip(numbers, 0, 100), bins=BINS, color="#3b6ea5", edgecolor="white")
        axes.set_title(title, fontsize=10)
        axes.set_xlabel(f"percent (n={len(numbers)}, mean {numbers.mean():.1f})", fontsize=8)
        axes.set_ylabel("students", fontsize=8)
        axes.set_xlim(0, 100)
        axes.set_xticks(BINS)
        axes.tick_params(labelsize=7)
        axes.yaxis.get_major_locator().set_params(integer=True)
    figure.tight_layout()
    buffer = io.BytesIO()
    # Real <text> elements (not glyph paths): smaller files, and screen readers can read them.
    with rc_context({"svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()
