"""The weekly figures of request streams, computed once for ``requests_weekly.parquet`` and the
stream rows of ``weekly.parquet``.

The simulation counts each week's arrivals, completions, drop-outs, backlog, waits and staff
minutes as it runs (:meth:`srmsim.admin.desk.StreamDesk.close_week`); the deadline figures are
added here from the requests (:func:`srmsim.admin.measures.deadline_cohort`, the same definition
as the summary's), so the weekly columns add up to the summary's totals.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from srmsim import calendar
from srmsim.admin.config import DAYS_PER_WEEK, RequestStream
from srmsim.admin.measures import deadline_cohort

#: stream rows of weekly.parquet name every figure with this prefix (so ``completed`` of
#: requests_weekly.parquet is ``requests_completed``): no clash with the schools' columns
PREFIX = "requests_"


def stream_weekly(counted: pd.DataFrame, requests: pd.DataFrame,
                  streams: dict[str, RequestStream]) -> pd.DataFrame:
    """``counted`` (the desk's weekly rows) with, per stream and week, ``due`` (requests whose
    deadline fell in the week), ``met_deadline`` (of those, completed within it) and
    ``within_deadline`` (their ratio); empty for streams without a deadline."""
    out = counted.copy()
    due = np.full(len(out), math.nan)
    met = np.full(len(out), math.nan)
    for name, config in streams.items():
        rows = np.flatnonzero((out["stream"] == name).to_numpy())
        if config.deadline_days is None or not len(rows):
            continue
        n_weeks = len(rows)
        r = requests[requests["stream"] == name]
        is_due, is_met = deadline_cohort(r, config.deadline_days, n_weeks * DAYS_PER_WEEK)
        # the week the deadline fell in: (7w, 7w + 7] is week w, so a deadline at the run's
        # last instant is in its last week
        deadline = r["arrival_day"].to_numpy()[is_due] + config.deadline_days
        week = np.clip(np.ceil(deadline / DAYS_PER_WEEK).astype(np.int64) - 1, 0, n_weeks - 1)
        weeks = out["run_week"].to_numpy()[rows]
        due[rows] = np.bincount(week, minlength=n_weeks)[weeks]
        met[rows] = np.bincount(week, weights=is_met[is_due], minlength=n_weeks)[weeks]
    out["due"] = pd.array(due, dtype="Int64")  # whole numbers, missing without a deadline
    out["met_deadline"] = pd.array(met, dtype="Int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        out["within_deadline"] = np.where(due > 0, met / due, math.nan)
    return out


def stream_rows(requests_weekly: pd.DataFrame) -> pd.DataFrame:
    """The stream rows of weekly.parquet: ``year``, ``week`` and ``run_week`` as on the schools'
    rows, ``stream``, and every figure of ``requests_weekly`` prefixed with :data:`PREFIX`."""
    keep = {"stream", "run_week"}
    rows = requests_weekly.rename(columns=lambda c: c if c in keep else PREFIX + c)
    week = rows["run_week"].to_numpy()
    rows.insert(0, "year", week // calendar.WEEKS_PER_YEAR)
    rows.insert(1, "week", week % calendar.WEEKS_PER_YEAR)
    return rows


def with_stream_rows(weekly: pd.DataFrame, requests_weekly: pd.DataFrame) -> pd.DataFrame:
    """The run's weekly table: one row per school and week, then one per stream and week.

    On stream rows the schools' columns are empty (``school`` is a nullable integer), on
    school rows the streams' columns are; ``groupby("school")`` leaves the stream rows out.
    """
    rows = stream_rows(requests_weekly)
    columns = list(dict.fromkeys([*weekly.columns, *rows.columns]))
    if weekly.empty:  # a trust without schools: the schools' columns stay, empty
        out = rows.reindex(columns=columns)
    else:
        out = pd.concat([weekly, rows], ignore_index=True)[columns]
    if "school" in out.columns:
        out["school"] = out["school"].astype("Int64")
    out["stream"] = out["stream"].astype("category")
    return out
