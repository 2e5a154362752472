"""Administrative request streams in a report: for a run, each stream's backlog over time,
waiting-time distribution, throughput, staff utilisation by role and deadlines met; for an
experiment, each stream's backlog over time per variant (mean over replications).

The run's numbers are those of ``summary.json`` (:func:`srmsim.admin.measures.stream_summary`), so
the report and ``srmsim run``'s printout never disagree.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pandas as pd

from srmsim.experiment.outcomes import format_value
from srmsim.experiment.runner import BACKLOG_PREFIX
from srmsim.report.page import Page

WORDS = (
    "Requests arrive, queue for staff at each step and leave completed (or dropped, when the "
    "requester gives up). The <b>backlog</b> is the number in the system (waiting or being "
    "worked on); <b>waiting time</b> is days from arrival to completion of the requests "
    "completed in the run (the 90th percentile: 9 in 10 were faster); <b>throughput</b> is "
    "completions a week; <b>utilisation</b> is the share of a role's staff time spent on the "
    "stream, and a role near 100% is the bottleneck that grows the backlog.")


def _days(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f} days"


def _per_week(value: float | None) -> str:
    """Requests completed a week, ``–`` when the stream ran no weeks (never ``nan a week``)."""
    return "–" if value is None else f"{value:,.1f} requests a week"


def stream_rows(s: dict[str, Any]) -> list[tuple[str, str, float]]:
    """(measure, shown value, raw value) for one stream's summary."""
    nan = float("nan")

    def num(key: str) -> float:
        v = s.get(key)
        return float(v) if v is not None else nan

    rows = [("requests waiting at the start", f"{s['backlog_start']:,}", num("backlog_start")),
            ("arrivals", f"{s['arrivals']:,}", num("arrivals")),
            ("completed", f"{s['completed']:,}", num("completed")),
            ("dropped (requester gave up)", f"{s['dropped']:,}", num("dropped")),
            ("backlog at the end", f"{s['backlog_end']:,}", num("backlog_end")),
            ("median wait", _days(s.get("median_days")), num("median_days")),
            ("90th percentile wait", _days(s.get("p90_days")), num("p90_days")),
            ("99th percentile wait", _days(s.get("p99_days")), num("p99_days")),
            ("oldest request still open", _days(s.get("oldest_open_days")),
             num("oldest_open_days")),
            ("throughput", _per_week(s.get("throughput_per_week")),
             num("throughput_per_week")),
            ("staff hours", format_value(num("staff_hours"), "hours"), num("staff_hours"))]
    if s.get("deadline_days") is not None:
        rows.append((f"completed within the deadline ({s['deadline_days']:g} days)",
                     format_value(num("within_deadline"), "share"), num("within_deadline")))
    return rows


def utilisation_table(weekly: pd.DataFrame, summary: dict[str, Any]) -> pd.DataFrame:
    """Per role: staff hours used and available over the run, and the summary's utilisation."""
    rows = []
    for key, share in summary.items():
        if not key.startswith("utilisation_"):
            continue
        role = key.removeprefix("utilisation_")
        used = float(weekly[f"staff_minutes_used_{role}"].sum()) / 60
        available = float(weekly[f"staff_minutes_available_{role}"].sum()) / 60
        rows.append({"role": role.replace("_", " "), "hours used": format_value(used, "hours"),
                     "hours available": format_value(available, "hours"),
                     "utilisation": format_value(share, "share") if share is not None else "–",
                     "_share": share if share is not None else float("nan")})
    return pd.DataFrame(rows)


def weekly_figure(weekly: pd.DataFrame, roles: list[str], stream: str):
    """Completions and arrivals each week, and each role's weekly utilisation."""
    from srmsim.figures import new_figure

    fig, (ax1, ax2) = new_figure(10, 3.4, ncols=2)
    week = weekly["run_week"] + 1
    ax1.plot(week, weekly["arrivals"], color="tab:grey", label="arrivals")
    ax1.plot(week, weekly["completed"], color="tab:blue", label="completed (throughput)")
    ax1.set_xlabel("week")
    ax1.set_ylabel("requests per week")
    ax1.set_title("Arrivals and completions", fontsize=9, loc="left")
    ax1.legend(fontsize=7)
    for role in roles:
        available = weekly[f"staff_minutes_available_{role}"]
        share = 100 * weekly[f"staff_minutes_used_{role}"] / available.where(available > 0)
        ax2.plot(week, share, label=role.replace("_", " "))
    ax2.axhline(100, color="black", lw=0.8, ls="--")
    ax2.set_xlabel("week")
    ax2.set_ylabel("staff time used (%)")
    ax2.set_title("Staff utilisation by role", fontsize=9, loc="left")
    ax2.legend(fontsize=7)
    fig.suptitle(f"Request stream '{stream}': throughput and staff use", fontsize=10)
    fig.tight_layout()
    return fig


def run_section(page: Page, summary: dict[str, Any], requests: pd.DataFrame,
                weekly: pd.DataFrame) -> None:
    """One sub-section per stream of a run: figures, waits, throughput, staff, deadlines."""
    from srmsim.admin.plots import backlog_and_waits

    page.h2("Administrative requests", "requests")
    page.raw(f"<p>{WORDS}</p>")
    for name, s in summary.items():
        page.h3(f"Stream: {name}")
        rows = stream_rows(s)
        page.table(pd.DataFrame({"measure": [r[0] for r in rows], "value": [r[1] for r in rows]}),
                   {"value"}, f"requests_{name}", raw=pd.DataFrame({"value": [r[2] for r in rows]}))
        w = weekly[weekly["stream"] == name]
        util = utilisation_table(w, s)
        if not util.empty:
            page.table(util.drop(columns="_share"), {"hours used", "hours available",
                                                     "utilisation"}, f"utilisation_{name}",
                       raw=util[["_share"]].rename(columns={"_share": "utilisation"}))
        run = SimpleNamespace(requests=requests, requests_weekly=weekly)
        page.figure(backlog_and_waits({"this run": run}, name),
                    "Left: requests in the system each week. Right: days from arrival to "
                    "completion (box: quartiles, dot: median, line: 1st to 99th percentile).")
        roles = [k.removeprefix("utilisation_") for k in s if k.startswith("utilisation_")]
        page.figure(weekly_figure(w, roles, name), "Left: requests arriving and completed each "
                    "week. Right: each role's staff time used on the stream (100%: fully "
                    "busy).")


def backlog_columns(weeks: pd.DataFrame | None) -> list[str]:
    if weeks is None:
        return []
    return [c for c in weeks.columns if c.startswith(BACKLOG_PREFIX)]


def backlog_table(weeks: pd.DataFrame, variants: list[str], column: str
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per variant: mean, peak and final backlog of a stream (means over replications)."""
    rows, raw = [], []
    for v in variants:
        x = weeks.loc[weeks["variant"] == v].sort_values("run_week")[column]
        if x.empty:
            continue
        values = (float(x.mean()), float(x.max()), float(x.iloc[-1]))
        rows.append({"variant": v, **{k: f"{n:,.1f}" for k, n in
                                      zip(("mean backlog", "peak backlog", "backlog at the end"),
                                          values, strict=True)}})
        raw.append(dict(zip(("mean backlog", "peak backlog", "backlog at the end"), values,
                            strict=True)))
    return pd.DataFrame(rows), pd.DataFrame(raw)


def backlog_figure(weeks: pd.DataFrame, variants: list[str], column: str):
    from srmsim.figures import new_figure

    fig, ax = new_figure(8, 3.4)
    for v in variants:
        x = weeks.loc[weeks["variant"] == v].sort_values("run_week")
        ax.plot(x["run_week"] + 1, x[column], label=v, lw=1.8)
    ax.set_xlabel("week")
    ax.set_ylabel("requests in the system")
    ax.set_ylim(bottom=0)
    ax.set_title(f"Backlog of '{column.removeprefix(BACKLOG_PREFIX)}' over time (mean over "
                 "replications)", fontsize=9, loc="left")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def experiment_section(page: Page, weeks: pd.DataFrame, variants: list[str]) -> None:
    """Each stream's backlog over time, one line per variant."""
    page.h2("Administrative requests over time", "requests")
    page.p("Requests in the system (waiting or being worked on) each week, mean over "
           "replications; the request outcomes with their intervals are in the effects table "
           "above.")
    for column in backlog_columns(weeks):
        stream = column.removeprefix(BACKLOG_PREFIX)
        page.h3(f"Stream: {stream}")
        shown, raw = backlog_table(weeks, variants, column)
        page.table(shown, set(raw.columns), f"backlog_{stream}", raw=raw)
        page.figure(backlog_figure(weeks, variants, column),
                    f"Backlog of the {stream} stream each week, per variant.")
