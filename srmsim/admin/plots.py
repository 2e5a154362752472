"""Backlog and waiting-time figures for request streams, one line or box per run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from srmsim.errors import SrmsimError
from srmsim.figures import new_figure
from srmsim.stats._checks import check_choice


def _check_stream(results: Mapping[str, Any], stream: str) -> None:
    """Every run has request streams and ``stream`` among them: a misspelt stream drew an
    empty figure without a word, and a run without streams a TypeError."""
    if not results:
        raise SrmsimError("backlog_and_waits needs at least one run")
    for label, result in results.items():
        weekly = getattr(result, "requests_weekly", None)
        if weekly is None or not len(weekly):
            raise SrmsimError(f"run {label!r} has no request streams (requests:)")
        check_choice(stream, sorted(weekly["stream"].astype(str).unique()), "stream")


def backlog_and_waits(results: Mapping[str, Any], stream: str) -> Figure:
    """Left: requests in the system week by week; right: days from arrival to completion.

    ``results`` maps a label (e.g. "paper", "fully automated") to a run's result.
    """
    _check_stream(results, stream)
    fig, (left, right) = new_figure(11, 4.2, 1, 2)
    labels, waits = [], []
    for label, result in results.items():
        weekly = result.requests_weekly
        w = weekly[weekly["stream"] == stream]
        left.plot(w["run_week"] + 1, w["in_system"], label=label, lw=2)
        r = result.requests
        done = r[(r["stream"] == stream) & (r["status"] == "completed")]
        labels.append(label)
        waits.append(np.maximum(done["days_in_system"].to_numpy(), 0.01))
    left.set_xlabel("week")
    left.set_ylabel("requests in the system (backlog)")
    left.set_title("Backlog over time")
    left.legend(frameon=False)
    left.set_ylim(bottom=0)
    for i, days in enumerate(waits):  # box: quartiles; line: 1st-99th percentile; dot: median
        if not len(days):
            continue
        p1, q1, med, q3, p99 = np.percentile(days, [1, 25, 50, 75, 99])
        right.plot([p1, p99], [i, i], color="black", lw=1)
        right.barh(i, q3 - q1, left=q1, height=0.4, color="C0", alpha=0.5)
        right.plot(med, i, "o", color="C3")
    right.set_yticks(range(len(labels)), labels)
    right.set_xscale("log")
    right.set_xlabel("days from arrival to completion (log scale)\nbox: quartiles, dot: median, line: 1st-99th percentile")
    right.set_title("Waiting time of completed requests")
    for x, name in ((7, "a week"), (30, "a month"), (365, "a year")):
        right.axvline(x, color="grey", lw=0.8, ls=":")
        right.text(x, 0.99, f" {name}", transform=right.get_xaxis_transform(), va="top",
                   fontsize=8, color="grey")
    fig.suptitle(f"Request stream '{stream}'")
    fig.tight_layout()
    return fig
