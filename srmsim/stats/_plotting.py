"""Figures without pyplot: library plots must not switch a notebook's backend or leak figures.

A bare :class:`matplotlib.figure.Figure` with an Agg canvas renders to PNG anywhere (servers,
workers, CI) and still displays in Jupyter when returned.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def new_figure(width: float = 6.4, height: float = 4.0) -> tuple[Figure, object]:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    return fig, ax


def save(fig: Figure, path: str | Path | None) -> None:
    """Write a PNG (or any format matplotlib infers from the suffix) when a path is given."""
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120, bbox_inches="tight")
