"""What a request stream did: waits, backlog, throughput, staff use, deadlines met."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from srmsim.admin.config import DAYS_PER_WEEK, RequestStream


def deadline_cohort(requests: pd.DataFrame, deadline_days: float, horizon_days: float
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Which requests were due and which of those met the deadline: ``(due, met)`` masks.

    A request is due when its deadline (arrival + ``deadline_days``) fell inside the run, unless
    the requester dropped out before the deadline; it met the deadline when it was completed
    within ``deadline_days`` of arriving. A request still open past its deadline, or dropped
    after it, missed it. Once a request's deadline has passed, whether it is due and whether it
    met it never change, so each week's figures are final at the week's end.
    """
    status = requests["status"].to_numpy()
    days = requests["days_in_system"].to_numpy()
    in_time = days <= deadline_days  # NaN (still open): False
    due = ((requests["arrival_day"].to_numpy() + deadline_days <= horizon_days)
           & ~((status == "dropped") & in_time))
    return due, due & (status == "completed") & in_time


def stream_summary(name: str, config: RequestStream, requests: pd.DataFrame,
                   weekly: pd.DataFrame, mean_in_system: float) -> dict[str, Any]:
    """Headline figures of one stream over the run (days unless said otherwise).

    Waiting time is the time from arrival to completion of completed requests; ``within_deadline``
    is the share of requests due in the run that were completed in time (see
    :func:`deadline_cohort`).
    """
    r = requests[requests["stream"] == name]
    w = weekly[weekly["stream"] == name]
    weeks = len(w)
    horizon = weeks * DAYS_PER_WEEK
    done = r[r["status"] == "completed"]
    days = done["days_in_system"].to_numpy()

    def q(p: float) -> float | None:
        return float(np.quantile(days, p)) if len(days) else None

    out: dict[str, Any] = {
        "requests": int(len(r)),
        "backlog_start": int(config.backlog),
        "arrivals": int(w["arrivals"].sum()),
        "completed": int(len(done)),
        "dropped": int((r["status"] == "dropped").sum()),
        "open_at_end": int((r["status"] == "open").sum()),
        "backlog_end": int(w["in_system"].iloc[-1]) if weeks else int(config.backlog),
        "median_days": q(0.5),
        "p90_days": q(0.9),
        "p99_days": q(0.99),
        "mean_days": float(days.mean()) if len(days) else None,
        "mean_queue_days": float(done["queue_days"].mean()) if len(done) else None,
        "throughput_per_week": float(len(done) / weeks) if weeks else None,
        "mean_in_system": None if math.isnan(mean_in_system) else float(mean_in_system),
        "oldest_open_days": float(horizon - r.loc[r["status"] == "open", "arrival_day"].min())
        if (r["status"] == "open").any() else 0.0,
        "staff_hours": float(r["staff_minutes"].sum() / 60.0),
    }
    if config.deadline_days is not None:
        due, met = deadline_cohort(r, config.deadline_days, horizon)
        out["deadline_days"] = float(config.deadline_days)
        out["within_deadline"] = float(met.sum() / due.sum()) if due.any() else None
    for role in sorted(config.staff):
        used = float(w[f"staff_minutes_used_{role}"].sum())
        available = float(w[f"staff_minutes_available_{role}"].sum())
        out[f"utilisation_{role}"] = used / available if available > 0 else None
    return out


def _completed_days(result: Any) -> np.ndarray:
    r = result.requests
    if r is None or not len(r):
        return np.zeros(0)
    return r.loc[r["status"] == "completed", "days_in_system"].to_numpy()


def _quantile(p: float):
    def f(result: Any) -> float:
        days = _completed_days(result)
        return float(np.quantile(days, p)) if len(days) else float("nan")

    return f


def _total(key: str):
    def f(result: Any) -> float:
        streams = result.summary.get("requests", {})
        values = [s[key] for s in streams.values() if s.get(key) is not None]
        return float(sum(values)) if values else float("nan")

    return f


def _within_deadline(result: Any) -> float:
    r, streams = result.requests, result.summary.get("requests", {})
    if r is None:
        return float("nan")
    met = due = 0
    horizon = result.summary["weeks"] * DAYS_PER_WEEK
    for name, s in streams.items():
        if s.get("deadline_days") is None:
            continue
        d, m = deadline_cohort(r[r["stream"] == name], s["deadline_days"], horizon)
        due += int(d.sum())
        met += int(m.sum())
    return met / due if due else float("nan")


def _oldest_open(result: Any) -> float:
    return max((s["oldest_open_days"] for s in result.summary.get("requests", {}).values()),
               default=float("nan"))


#: outcomes of request streams, for experiments: name -> (label, scale, better, description,
#: function of a run); the scales are those of :mod:`srmsim.experiment.outcomes`
REQUEST_OUTCOMES = {
    "request_wait_median_days": (
        "Median wait (requests)", "days", "lower",
        "median days from arrival to completion, completed requests", _quantile(0.5)),
    "request_wait_p90_days": (
        "90th percentile wait (requests)", "days", "lower",
        "90th percentile of days from arrival to completion, completed requests",
        _quantile(0.9)),
    "request_wait_p99_days": (
        "99th percentile wait (requests)", "days", "lower",
        "99th percentile of days from arrival to completion, completed requests",
        _quantile(0.99)),
    "request_backlog_end": (
        "Backlog at the end", "requests", "lower",
        "requests in the system (neither completed nor dropped) at the end of the run",
        _total("backlog_end")),
    "request_oldest_open_days": (
        "Oldest open request", "days", "lower",
        "age of the oldest request still open at the end of the run, days", _oldest_open),
    "request_within_deadline": (
        "Completed within the deadline", "share", "higher",
        "share of requests due in the run completed within the deadline", _within_deadline),
    "request_throughput": (
        "Throughput (requests)", "per_week", "higher", "requests completed per week",
        _total("throughput_per_week")),
    "request_staff_hours": (
        "Staff hours on requests", "hours", None, "staff hours spent on requests",
        _total("staff_hours")),
}
