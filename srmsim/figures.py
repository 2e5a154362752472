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
            if _refit_titles(self):  # the axes moved: their fitted titles fit again
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


#: the attribute a fitted title keeps its whole text and settings in (see :func:`fitted_title`)
_FITTED = "_srmsim_fitted_title"


def _title_room(ax: Any, loc: str) -> float:
    """Pixels a title of ``ax`` may take: from the axes' left edge (a left title) to the next
    axes on its right, or to the figure's edge; a centred one, the axes' width."""
    fig = ax.figure
    pos = ax.get_position()
    if loc != "left":
        return float(fig.bbox.width * pos.width)
    right = min([o.get_position().x0 for o in fig.axes if o is not ax
                 and o.get_position().x0 > pos.x0 + 1e-9
                 and o.get_position().y1 > pos.y0 and o.get_position().y0 < pos.y1],
                default=1.0)
    return float(fig.bbox.width * (right - pos.x0) * 0.97)


def _wrapped(ax: Any, text: str, fontsize: float, loc: str, fontweight: Any) -> str:
    """``text`` broken at spaces onto lines of at most :func:`_title_room` (measured in its font);
    a word longer than a line is broken within."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    room = _title_room(ax, loc)
    probe = Text(0, 0, "", fontsize=fontsize, fontweight=fontweight, figure=fig)
    probe.set_parse_math(False)

    def fits(words: str) -> bool:
        probe.set_text(words)
        return bool(probe.get_window_extent(renderer).width <= room)

    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            while len(word) > 1 and not fits(word):
                cut = len(word) - 1
                while cut > 1 and not fits(word[:cut]):
                    cut -= 1
                if line:
                    lines.append(line)
                    line = ""
                lines.append(word[:cut])
                word = word[cut:]
            candidate = f"{line} {word}" if line else word
            if line and not fits(candidate):
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return "\n".join(lines)


def fitted_title(ax: Any, text: str, fontsize: float = 9, loc: str = "left",
                 **kwargs: Any) -> Text:
    """Set ``ax``'s title broken onto lines that fit within the figure: a long outcome label or
    user-written name ran past the figure's edge, where the PNG was clipped or, saved with
    ``bbox_inches="tight"``, widened until the plot was a strip. The figure's ``tight_layout``
    fits it again once the axes have moved (:meth:`PlainFigure.tight_layout`)."""
    weight = kwargs.get("fontweight", "normal")
    title = ax.set_title(_wrapped(ax, text, fontsize, loc, weight), fontsize=fontsize, loc=loc,
                         **kwargs)
    setattr(title, _FITTED, (text, fontsize, loc, weight))
    return title


def _refit_titles(fig: Figure) -> bool:
    """Fit every :func:`fitted_title` again to where its axes are now; whether one changed."""
    changed = False
    for ax in fig.axes:
        for where in ("title", "_left_title", "_right_title"):  # matplotlib's three titles
            title: Any = getattr(ax, where, None)
            fitted = getattr(title, _FITTED, None)
            if fitted is None:
                continue
            text, fontsize, loc, weight = fitted
            again = _wrapped(ax, text, fontsize, loc, weight)
            if again != title.get_text():
                title.set_text(again)
                changed = True
    return changed


def legend_beside(ax: Any, fontsize: float = 7, **kwargs: Any) -> Any:
    """The axes' legend outside it, at its right: a legend inside (``loc="best"``) covered bars
    of a histogram that fills its axes, whatever corner it chose. ``tight_layout`` makes room."""
    return ax.legend(fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                     borderaxespad=0.0, **kwargs)


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
