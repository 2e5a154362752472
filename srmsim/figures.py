"""Figures without pyplot: library plots must not switch a notebook's backend or leak figures.

A bare :class:`matplotlib.figure.Figure` with an Agg canvas renders to PNG anywhere (servers,
workers, CI) and still displays in Jupyter when returned. Every plot in srmsim starts here.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def new_figure(width: float = 6.4, height: float = 4.0, nrows: int = 1, ncols: int = 1,
               **subplots: Any) -> tuple[Figure, Any]:
    """A figure and its axes (one Axes, or an array of them as ``Figure.subplots`` gives)."""
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, **subplots)
    return fig, axes


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
