"""Figures without pyplot: library plots must not switch a notebook's backend or leak figures.

A bare :class:`matplotlib.figure.Figure` with an Agg canvas renders to PNG anywhere (servers,
workers, CI) and still displays in Jupyter when returned. Every plot in srmsim starts here.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text


class PlainFigure(Figure):
    """A figure whose texts are drawn as written, never read as TeX: ``$`` in a name a user
    wrote (an outcome's label, a school id, a variant edited into a folder) is a character,
    and an unbalanced one (``a$\\frac{1}{$b``) no longer raises ValueError, a traceback, when
    the figure is laid out or drawn. No srmsim figure typesets mathematics."""

    def _plain_text(self) -> None:
        for text in self.findobj(Text):
            text.set_parse_math(False)
        # except the numbers matplotlib's own formatters write: a log axis labels its ticks
        # "$\mathdefault{10^{2}}$", which was drawn as those characters (the request report's
        # waiting times); these formatters write numbers only, never a user's text
        from matplotlib.ticker import LogFormatter, ScalarFormatter

        for ax in self.axes:
            for axis in (ax.xaxis, ax.yaxis):
                for formatter, labels in ((axis.get_major_formatter(), axis.get_majorticklabels),
                                          (axis.get_minor_formatter(), axis.get_minorticklabels)):
                    if isinstance(formatter, LogFormatter | ScalarFormatter):
                        for text in labels():
                            text.set_parse_math(True)

    def draw(self, renderer: Any) -> None:
        self._plain_text()
        super().draw(renderer)

    def tight_layout(self, *args: Any, **kwargs: Any) -> None:
        """As matplotlib's, without its warning when the layout cannot be tightened (a long
        legend): the figure is drawn as it is, and the warning, a file path and a line of
        matplotlib, reached the user's terminal from `srmsim report`."""
        self._plain_text()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Tight layout not applied",
                                    category=UserWarning)
            super().tight_layout(*args, **kwargs)

    def get_tightbbox(self, *args: Any, **kwargs: Any) -> Any:
        self._plain_text()
        return super().get_tightbbox(*args, **kwargs)


def new_figure(width: float = 6.4, height: float = 4.0, nrows: int = 1, ncols: int = 1,
               **subplots: Any) -> tuple[Figure, Any]:
    """A figure and its axes (one Axes, or an array of them as ``Figure.subplots`` gives)."""
    fig = PlainFigure(figsize=(width, height))
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, **subplots)
    return fig, axes


def effect_rows(ax: Any, rows: list[tuple[float, float, float, float, str, str]],
                capsize: float = 3, fontsize: float = 7) -> None:
    """Effects as points with their intervals, one ``(difference, y, low, high, colour, words)``
    a row (the forest plot's, the report's by-group figure's). A difference without an interval
    (one replication) is a point with ``words`` beside it, on the side with room; a row with no
    difference (not measured) shows ``words`` alone: a bare point read as exact, and an empty
    row as no effect."""
    import math

    lone = []
    for d, y, lo, hi, colour, words in rows:
        if math.isfinite(lo) and math.isfinite(hi):
            ax.errorbar([d], [y], xerr=[[d - lo], [hi - d]], fmt="o", color=colour,
                        capsize=capsize)
        elif math.isfinite(d):
            ax.plot([d], [y], "o", color=colour)
            lone.append((d, y, words))
        else:
            ax.text(0.5, y, words, transform=ax.get_yaxis_transform(), ha="center",
                    va="center", fontsize=fontsize, color="dimgrey")
    middle = sum(ax.get_xlim()) / 2  # (after every point: the limits they set)
    for d, y, words in lone:
        right = d > middle
        ax.annotate(words, (d, y), xytext=(-7 if right else 7, 0), textcoords="offset points",
                    ha="right" if right else "left", va="center", fontsize=fontsize,
                    color="dimgrey")


def png_bytes(fig: Figure, dpi: int = 120) -> bytes:
    """The figure as PNG bytes: one rendering that a file and a report can share."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def save(fig: Figure, path: str | Path | None, dpi: int = 120) -> Path | None:
    """Write a PNG (or any format matplotlib infers from the suffix) when a path is given."""
    if path is None:
        return None
    path = Path(path)
    if path.suffix.lower() == ".png":
        return save_png(png_bytes(fig, dpi), path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def save_png(data: bytes, path: str | Path) -> Path:
    """Write PNG bytes already rendered (:func:`png_bytes`): every PNG file srmsim writes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
