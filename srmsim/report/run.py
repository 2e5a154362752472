"""The report of one run's folder: the trust's year in pictures, by group and by school."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from srmsim.errors import SrmsimError
from srmsim.experiment.outcomes import (
    OUTCOMES,
    Cohort,
    columns_read,
    group_cohorts,
    measure,
    student_kind_counts,
)
from srmsim.experiment.withhold import LOW
from srmsim.inputs import whole
from srmsim.labels import cut, plural
from srmsim.report.files import (
    AGAIN,
    TEXT_LIMIT,
    json_finite,
    json_text,
    need_columns,
    need_numbers,
    read_json,
    read_parquet,
)
from srmsim.report.page import Page
from srmsim.report.requests import run_section as requests_section
from srmsim.report.words import describe_policy, describe_requests, describe_trust
from srmsim.results import check_student_rows

if TYPE_CHECKING:
    from srmsim.scenario import Scenario

#: outcomes a run report shows, in this order
RUN_OUTCOMES = ["attendance", "persistent_absence", "severe_absence", "reading_gap_end",
                "reading_behind_2y", "attainment", "incidents", "withdrawal"]
POLICY_OUTCOMES = ["students_served", "interventions", "weeks_waited", "staff_hours", "cost"]
#: whether an outcome the report shows reads the workflow events (an outcome that does names
#: the students' "student" column, which events join on, or no columns at all): none does, so
#: a report does not load events.parquet, the run's largest file (25.5M rows for England with
#: a policy: 8 s to read and 8 s to join to the students), but for a run from records, whose
#: spending is withheld by each kind of action's count (:class:`Withheld`)
_READ = columns_read(RUN_OUTCOMES + POLICY_OUTCOMES)
EVENTS_READ = _READ is None or "student" in _READ
#: the students and weekly columns the report computes with: present and numeric, or an error
STUDENT_NUMBERS = sorted({"school", "fsm", "sen", "eal", "reading_gap_start",
                          *(c for n in RUN_OUTCOMES + POLICY_OUTCOMES
                            for c in OUTCOMES[n].columns or ())})
WEEKLY_NUMBERS = ["run_week", "school", "attendance_rate", "sessions_attended",
                  "sessions_possible"]
#: every schools' column of weekly.parquet (docs/outputs.md), and a policy's, which the report's
#: queue figure sums: a table stripped of one is not the run's
WEEKLY_COLUMNS = ["run_week", "year", "week", "school", "enrolled", "sessions_possible",
                  "sessions_attended", "attendance_rate", "incidents", "lms_logins",
                  "assignments_set", "assignments_on_time", "withdrawals"]
POLICY_WEEKLY_NUMBERS = ["flags", "referrals", "active_cases", "queue_length",
                         "staff_minutes_used", "staff_minutes_available"]
#: every column of requests.parquet and the stream columns requests_weekly.parquet always has
REQUEST_COLUMNS = ["stream", "request", "arrival_day", "finish_day", "status", "days_in_system",
                   "queue_days", "staff_minutes", "reworks"]
REQUESTS_WEEKLY_COLUMNS = ["stream", "run_week", "arrivals", "completed", "dropped", "in_system",
                           "waiting_for_staff"]


class _Run:
    """The files of a run folder (what :meth:`RunResult.write` saved)."""

    def __init__(self, path: Path):
        from srmsim.scenario import load_scenario

        self.path = path
        self.summary = read_json(path / "summary.json")
        sc = path / "scenario.yaml"
        self.scenario = load_scenario(sc) if sc.exists() else None
        check_summary(path, self.summary, self.scenario)
        self.students = read_parquet(path / "students.parquet")
        need_numbers(self.students, STUDENT_NUMBERS, path / "students.parquet")
        ev = path / "events.parquet"
        #: the run had a policy (its events were written)
        self.has_events = ev.exists()
        self.events = read_parquet(ev) if self.has_events and EVENTS_READ else None
        weekly = read_parquet(path / "weekly.parquet")
        need_columns(weekly, WEEKLY_COLUMNS, path / "weekly.parquet")
        had_policy = (self.scenario is not None and self.scenario.policy is not None) \
            or any(c in weekly.columns for c in POLICY_WEEKLY_NUMBERS)
        if had_policy and not self.has_events:
            # a run with a policy always writes its events (none referred: an empty table);
            # without them the page dropped its cost, staff hours and queues without a word
            raise SrmsimError(f"{ev}: missing, though the run had a policy (its scenario.yaml "
                              f"or weekly.parquet says so): deleted or not copied; {AGAIN}")
        need_numbers(weekly, WEEKLY_NUMBERS + (POLICY_WEEKLY_NUMBERS if self.has_events
                                               else []), path / "weekly.parquet")
        check_rows(path, self.summary, self.students, weekly)
        if "stream" in weekly.columns:  # request streams' rows: the report reads their own file
            weekly = weekly[weekly["stream"].isna()]
        self.weekly = weekly
        self.requests = self.requests_weekly = None
        if self.summary.get("requests"):  # each stream summary.json names, with its tables
            self.requests = read_parquet(path / "requests.parquet")
            self.requests_weekly = read_parquet(path / "requests_weekly.parquet")
            check_streams(path, self.summary, self.requests, self.requests_weekly)


def check_rows(path: Path, summary: dict, students: pd.DataFrame, weekly: pd.DataFrame) -> None:
    """students.parquet has the run's students and weekly.parquet one row for each school in
    each week run, as many as summary.json counts: an emptied, cut or padded table would still
    make a report (of a trust with no weeks, or fewer students) passed off as the run's.

    The messages name no count: a run from real records must not print its group sizes."""
    where = path / "summary.json"
    for key in ("schools", "weeks"):
        if key not in summary:
            raise SrmsimError(f"{where}: has no {key!r}, which every run records (hand-edited or "
                              f"corrupt); {AGAIN}")
    check_student_rows(path, summary, len(students))
    schools = weekly[weekly["stream"].isna()] if "stream" in weekly.columns else weekly
    n_schools, weeks = summary["schools"], summary["weeks"]
    if not (len(schools) == n_schools * weeks
            and schools["school"].between(0, n_schools - 1).all()
            and schools["run_week"].between(0, weeks - 1).all()
            and not schools.duplicated(["school", "run_week"]).any()):
        raise SrmsimError(f"{path / 'weekly.parquet'}: its rows are not one for each of the "
                          f"{plural(n_schools, 'school')} in each of the {plural(weeks, 'week')} run, as "
                          f"summary.json says (emptied, cut or edited); {AGAIN}")


#: the run's whole numbers in summary.json that the report shows
SUMMARY_COUNTS = ("seed", "schools", "years", "weeks", "students")


def check_summary(path: Path, summary: dict, scenario: Scenario | None) -> None:
    """The fields of summary.json the page shows are of their kind, and scenario.yaml is the
    scenario summary.json says was run: a scenario.yaml copied from another run or edited
    would be described as this run's trust and policy."""
    where = path / "summary.json"
    for key in SUMMARY_COUNTS:
        value = summary.get(key)
        if key in summary and not (whole(value) and value >= 0):
            raise SrmsimError(f"{where}: {key} is {str(value)[:40]!r}, not a whole number >= 0 "
                              f"(hand-edited or corrupt); {AGAIN}")
    if not isinstance(summary.get("scenario", ""), str):
        raise SrmsimError(f"{where}: scenario is not a name (hand-edited or corrupt); {AGAIN}")
    dearest = summary.get("dearest_week", {})
    if not (isinstance(dearest, dict) and set(dearest) <= {"staff_minutes", "cost"} and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            and v >= 0 for v in dearest.values())):
        raise SrmsimError(f"{where}: dearest_week is {str(dearest)[:60]!r}, not a week's "
                          "staff_minutes and cost (numbers >= 0) (hand-edited or corrupt); "
                          f"{AGAIN}")
    prices = summary.get("week_prices", {})
    if not (isinstance(prices, dict) and all(
            isinstance(k, str) and isinstance(v, dict) and set(v) == {"staff_minutes", "cost"}
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                    and x >= 0 for x in v.values()) for k, v in prices.items())):
        raise SrmsimError(f"{where}: week_prices is {str(prices)[:60]!r}, not a week's "
                          "staff_minutes and cost (numbers >= 0) of each action (hand-edited or "
                          f"corrupt); {AGAIN}")
    recorded = summary.get("scenario_hash")
    if scenario is not None and recorded is not None and scenario.digest() != recorded:
        raise SrmsimError(f"{path / 'scenario.yaml'}: not the scenario this run was made from "
                          f"(its digest {scenario.digest()}, summary.json's {str(recorded)[:20]}; "
                          f"copied from another run or edited); {AGAIN}")
    if scenario is not None:
        # the page shows summary.json's seed beside scenario.yaml's trust and policy: a run
        # always records its scenario's own (the seed given is saved in scenario.yaml), so an
        # edited `seed: 7` was printed as the run's seed, the digest check passing
        for key, saved in (("seed", scenario.seed), ("years", scenario.years)):
            if key in summary and summary[key] != saved:
                raise SrmsimError(f"{where}: its {key} {repr(summary[key])[:40]} is not that of "
                                  f"the run's scenario.yaml ({saved!r}): hand-edited, or copied "
                                  f"from another run; {AGAIN}")


#: each request stream's counts and measures in summary.json (the report formats them)
STREAM_COUNTS = ("backlog_start", "arrivals", "completed", "dropped", "backlog_end")
STREAM_MEASURES = ("median_days", "p90_days", "p99_days", "oldest_open_days",
                   "throughput_per_week", "staff_hours", "deadline_days", "within_deadline")


def check_streams(path: Path, run: dict, requests: pd.DataFrame, weekly: pd.DataFrame) -> None:
    """The request streams of summary.json (``run``), each with whole counts, numbers (or
    null) for its measures and its rows in the tables: a hand-edited summary was a traceback,
    and a stream named there but absent from the tables, or with its requests deleted, an
    empty section passed off as the run's."""
    where = path / "summary.json"
    streams = run["requests"]
    need_columns(requests, REQUEST_COLUMNS, path / "requests.parquet")
    need_numbers(requests, ["days_in_system"], path / "requests.parquet")
    need_columns(weekly, REQUESTS_WEEKLY_COLUMNS, path / "requests_weekly.parquet")
    need_numbers(weekly, ["run_week", "in_system", "arrivals", "completed"],
                 path / "requests_weekly.parquet")
    if not isinstance(streams, dict) or not all(isinstance(v, dict) for v in streams.values()):
        raise SrmsimError(f"{where}: 'requests' is not a mapping of stream name to its summary "
                          f"(hand-edited or corrupt); {AGAIN}")
    present = set(weekly["stream"].dropna()) if "stream" in weekly.columns else set()
    for name, summary in streams.items():
        if name not in present:
            raise SrmsimError(f"{where}: request stream {name!r} has no rows in "
                              f"requests_weekly.parquet (hand-edited or copied); {AGAIN}")
        for key in (*STREAM_COUNTS, *STREAM_MEASURES,
                    *(k for k in summary if k.startswith("utilisation_"))):
            value = summary.get(key)
            count = key in STREAM_COUNTS
            if (value is None and not count) or (
                    whole(value) and value >= 0 if count else json_finite(value)):
                continue
            raise SrmsimError(f"{where}: requests.{name}.{key} is {str(value)[:40]!r}, not "
                              f"{'a whole number >= 0' if count else 'a number'}; {AGAIN}")
        roles = [k.removeprefix("utilisation_") for k in summary if k.startswith("utilisation_")]
        need_numbers(weekly, [f"staff_minutes_{use}_{role}" for role in roles
                              for use in ("used", "available")], path / "requests_weekly.parquet")
    check_stream_rows(path, run, requests, weekly)


def check_stream_rows(path: Path, run: dict, requests: pd.DataFrame,
                      weekly: pd.DataFrame) -> None:
    """Each stream's requests are its backlog at the start and its arrivals, each once, and it
    has one row a week run in requests_weekly.parquet; no stream summary.json does not name
    has rows. Messages name no count (as :func:`check_rows`)."""
    streams = run["requests"]
    table = path / "requests.parquet"
    counts = requests["stream"].astype(str).value_counts()
    week_counts = weekly["stream"].astype(str).value_counts()
    for name, summary in streams.items():
        if counts.get(name, 0) != summary["backlog_start"] + summary["arrivals"]:
            raise SrmsimError(f"{table}: the rows of stream {name!r} are not its backlog at the "
                              f"start and its arrivals as summary.json counts them (emptied, cut "
                              f"or edited); {AGAIN}")
        if week_counts.get(name, 0) != run["weeks"]:
            raise SrmsimError(f"{path / 'requests_weekly.parquet'}: stream {name!r} has not one "
                              f"row for each of the {plural(run['weeks'], 'week')} run (emptied, cut or "
                              f"edited); {AGAIN}")
    other = sorted((set(counts.index) | set(week_counts.index)) - set(map(str, streams)))
    if other or requests.duplicated(["stream", "request"]).any() \
            or weekly.duplicated(["stream", "run_week"]).any():
        raise SrmsimError(f"{table} or requests_weekly.parquet: rows of a stream summary.json "
                          f"does not name{f' ({other[0][:40]!r})' if other else ''}, or a "
                          f"request or week twice (copied or edited); {AGAIN}")


#: how the page shows an outcome with no value (no student has the column it reads)
NOT_MEASURED = "not measured"


def measured(run: _Run, names: list[str], cohort: Cohort) -> dict[str, float]:
    """Each outcome over ``cohort``; NaN when a column it reads is blank for every student
    (never measured: a share of students below a reading gap counted blanks as not below, and
    showed 0.0%, a sum as £0)."""
    values = measure(run, [OUTCOMES[n] for n in names], cohort)
    s = cohort.students
    for n in names:
        columns = [c for c in OUTCOMES[n].columns or () if c in s.columns]
        if len(s) and columns and s[columns].isna().all().any():
            values[n] = float("nan")
    return values


def _shown(name: str, value: float) -> str:
    return OUTCOMES[name].format_value(value) if np.isfinite(value) else NOT_MEASURED


#: how the report of a run from real records shows a count, and a value, that would give a
#: count of under 10 students away (docs/privacy.md's symbols)
CONFIDENTIAL = "c"
#: the fewest students a count from real records may show (docs/privacy.md)
SMALL = 10
#: the outcomes whose value is a mean over the students served, withheld with their count
_WITH_SERVED = ("weeks_waited",)
#: the whole trust's row of :class:`Withheld`
ALL = "trust"


class Withheld:
    """What the report of a run from real records leaves out: by the rule of a trial on records
    (:func:`srmsim.trial.groups.withhold_small_groups`), a group of under 10 students withholds
    its partition (both groups of a flag, every school), and a share its partition where the
    students with it, or without it, are under 10; so does the whole trust's. Why: the run's
    students copy the records, and its report printed "Severe absence 0.4%" of "students 690"
    (3 students) and a group of 11 SEN students at 9.1% persistent absence (1 student). A run
    of a simulated trust shows every count: this is made for a run from records only."""

    def __init__(self, run: _Run, names: list[str], shown: list[str],
                 cohorts: dict[str, Cohort]):
        """``names``: the whole trust's outcomes shown; ``shown``: each group's."""
        self.values = {ALL: measured(run, names, Cohort(run.students, run.events))}
        self.sizes = {ALL: float(len(run.students))}
        for group, cohort in cohorts.items():
            self.values[group] = measured(run, shown, cohort)
            self.sizes[group] = float(len(cohort.students))
        # the trial's rule and labels (its whole arm is this whole trust); imported here: the
        # trial package is not loaded for the report of a simulated run
        from srmsim.trial.groups import ALL as WHOLE_ARM
        from srmsim.trial.groups import withhold_small_groups

        label = {ALL: WHOLE_ARM}
        table = pd.DataFrame([{"group": label.get(g, g), "outcome": n, "trial": v,
                               "counterfactual": v, "students": self.sizes[g]}
                              for g, vs in self.values.items() for n, v in vs.items()])
        # the columns the rule reads; the schools as one when they are not listed (a mask
        # for each of a national run's 8,000 schools over 8M students would be 64 GB)
        columns = ["school", "fsm", "sen", "eal", "sessions_possible", "persistent_absent",
                   "severe_absent", "reading_gap_end", "interventions", "withdrawn",
                   "staff_minutes", "cost"]
        students = run.students[[c for c in columns if c in run.students.columns]]
        if not any(g.startswith("school ") for g in cohorts):
            students = students.assign(school=0)
        # each kind's actions and weeks, from the events (read for a run from records only)
        events = run.events
        if events is None and run.has_events:
            events = read_parquet(run.path / "events.parquet")
        prices = run.summary.get("week_prices")
        kinds = student_kind_counts(run.students, events, prices if run.has_events else {})
        kept = withhold_small_groups(table, students, students,
                                     np.ones(len(students), dtype=bool),
                                     dearest_week=run.summary.get("dearest_week"),
                                     kinds=kinds)
        back = {WHOLE_ARM: ALL}
        for row in kept.itertuples(index=False):
            group = back.get(str(row.group), str(row.group))
            if np.isnan(row.students):
                self.sizes[group] = float("nan")
            if np.isnan(row.trial):
                self.values[group][str(row.outcome)] = float("nan")
        served = self.values[ALL].get("students_served", 0.0)
        for name in _WITH_SERVED:  # a mean over the students served: over a count withheld
            if name in self.values[ALL] and not np.isfinite(served):
                self.values[ALL][name] = float("nan")

    def value(self, group: str, name: str, measured_value: float) -> str:
        """``name`` over ``group`` as the page shows it: ``low`` where withheld."""
        shown = self.values[group][name]
        # a withheld group's "not measured" would say it has no student (a count of 0)
        if self.hidden(group) or (np.isfinite(measured_value) and not np.isfinite(shown)):
            return LOW
        return _shown(name, shown)

    def count(self, group: str) -> str:
        """The students of ``group``: ``c`` where withheld."""
        n = self.sizes[group]
        return f"{int(n):,}" if np.isfinite(n) else CONFIDENTIAL

    def hidden(self, group: str) -> bool:
        return not np.isfinite(self.sizes[group])


def from_records(run: _Run) -> bool:
    """Whether the run's trust was built from real records: its summary says so, or its
    scenario names them (a summary edited to drop the flag is not believed alone)."""
    return bool(run.summary.get("from_records")) or bool(
        run.scenario is not None and run.scenario.population.records)


def headline_rows(run: _Run, names: list[str], withheld: Withheld | None = None
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    values = measured(run, names, Cohort(run.students, run.events))
    if withheld is None:
        text = [_shown(n, values[n]) for n in names]
        raw_values = [values[n] for n in names]
    else:
        text = [withheld.value(ALL, n, values[n]) for n in names]
        raw_values = [withheld.values[ALL][n] for n in names]
    shown = pd.DataFrame({"outcome": [OUTCOMES[n].label for n in names],
                          "value": text,
                          "what it is": [OUTCOMES[n].description for n in names]})
    raw = pd.DataFrame({"value": raw_values})
    return shown, raw


#: above this many schools the run report tabulates the groups only (a row per school of a
#: national run would be 8,000 rows, and 80 s of measuring), and draws the schools' weekly
#: attendance as a band rather than a line (and a legend entry) each
MAX_SCHOOL_ROWS = 50
MAX_SCHOOL_LINES = 20


def group_frame(run: _Run, names: list[str], cohorts: dict[str, Cohort] | None = None,
                withheld: Withheld | None = None) -> pd.DataFrame:
    """A row of ``names`` for each of ``cohorts`` (default: the groups and every school);
    ``withheld``: what a run from records leaves out (``c``, ``low``)."""
    rows = []
    for group, cohort in (group_cohorts(run) if cohorts is None else cohorts).items():
        values = measured(run, names, cohort)
        if withheld is None:
            row = {"students": group, "number": f"{len(cohort.students):,}"}
            row.update({OUTCOMES[n].label: _shown(n, values[n]) for n in names})
        else:
            row = {"students": group, "number": withheld.count(group)}
            row.update({OUTCOMES[n].label: withheld.value(group, n, values[n]) for n in names})
        rows.append(row)
    return pd.DataFrame(rows)


def attendance_figure(run: _Run, schools_shown: bool = True):
    """Each school's weekly attendance (``schools_shown`` False: the trust's alone, as for a
    run from records whose schools are withheld) and the trust's."""
    from srmsim.figures import new_figure

    fig, ax = new_figure(9, 3.6)
    weekly = run.weekly
    n_schools = weekly["school"].nunique()
    if not schools_shown:
        pass
    elif n_schools <= MAX_SCHOOL_LINES:
        for school, w in weekly.groupby("school"):
            ax.plot(w["run_week"], 100 * w["attendance_rate"], lw=1, label=f"school {school}")
    else:  # a band: a line for each of thousands of schools is a blot, its legend a page
        spread = (100 * weekly.groupby("run_week")["attendance_rate"]
                  .quantile([0.0, 0.1, 0.9, 1.0]).unstack())
        ax.fill_between(spread.index, spread[0.0], spread[1.0], color="tab:blue", alpha=0.15,
                        lw=0, label=f"{n_schools:,} schools: lowest to highest")
        ax.fill_between(spread.index, spread[0.1], spread[0.9], color="tab:blue", alpha=0.35,
                        lw=0, label="schools: 10th to 90th percentile")
    trust = weekly.groupby("run_week")[["sessions_attended", "sessions_possible"]].sum()
    ax.plot(trust.index, 100 * trust["sessions_attended"] / trust["sessions_possible"], "k",
            lw=2.2, label="trust")
    ax.set_xlabel("week of the run")
    ax.set_ylabel("attendance (% of sessions)")
    ax.set_title("Attendance each week, by school", fontsize=10, loc="left")
    ax.legend(fontsize=6, ncol=2 if 6 < n_schools <= MAX_SCHOOL_LINES else 1, loc="lower left")
    fig.tight_layout()
    return fig


def reading_figure(run: _Run):
    from srmsim.figures import new_figure

    fig, ax = new_figure(7, 3.4)
    s = run.students
    start, end = s["reading_gap_start"].dropna(), s["reading_gap_end"].dropna()
    both = pd.concat([start, end])
    bins = np.linspace(both.quantile(0.005), both.quantile(0.995), 40) if len(both) else 10
    ax.hist(start, bins=bins, alpha=0.5, label="September test")
    ax.hist(end, bins=bins, alpha=0.5, label="last test of the year")
    ax.axvline(-24, color="tab:red", lw=1, ls="--", label="two years behind")
    ax.set_xlabel("reading age minus age (months; negative = behind)")
    ax.set_ylabel("students")
    ax.set_title("Reading gap at the start and end of the year", fontsize=10, loc="left")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def groups_figure(run: _Run, cohorts: dict[str, Cohort] | None = None,
                  withheld: Withheld | None = None):
    """Persistent absence of each group (``withheld``: those a run from records shows)."""
    from srmsim.figures import new_figure

    fig, ax = new_figure(7, 3.2)
    cohorts = {k: v for k, v in (group_cohorts(run, schools=False) if cohorts is None
                                 else cohorts).items() if not k.startswith("school ")}
    o = OUTCOMES["persistent_absence"]
    if withheld is not None:
        cohorts = {k: v for k, v in cohorts.items()
                   if np.isfinite(withheld.values[k]["persistent_absence"])}
    values = [100 * o(c) for c in cohorts.values()]
    ax.barh(list(cohorts)[::-1], values[::-1], color="tab:blue")
    trust = 100 * o(Cohort(run.students, run.events))
    if withheld is None or np.isfinite(withheld.values[ALL]["persistent_absence"]):
        ax.axvline(trust, color="black", lw=1, ls="--", label=f"trust: {trust:.1f}%")
    ax.set_xlabel("persistent absence (% of students missing 10%+ of sessions)")
    ax.set_title("Persistent absence by group", fontsize=10, loc="left")
    if ax.get_legend_handles_labels()[0]:  # (no trust line: withheld from records)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def workload_figure(run: _Run):
    from srmsim.figures import new_figure

    w = run.weekly.groupby("run_week")[["queue_length", "active_cases", "staff_minutes_used",
                                        "staff_minutes_available", "referrals"]].sum()
    fig, (ax1, ax2) = new_figure(10, 3.5, ncols=2)
    ax1.plot(w.index, w["queue_length"], label="waiting for an action")
    ax1.plot(w.index, w["active_cases"], label="open cases")
    ax1.bar(w.index, w["referrals"], color="tab:grey", alpha=0.4, label="new referrals")
    ax1.set_xlabel("week of the run")
    ax1.set_ylabel("cases")  # the caption: a student in two workflows is two cases
    ax1.set_title("Referrals, open cases and queue (trust)", fontsize=9, loc="left")
    ax1.legend(fontsize=7)
    ax2.plot(w.index, w["staff_minutes_used"] / 60, label="used")
    ax2.plot(w.index, w["staff_minutes_available"] / 60, "k--", lw=0.8, label="available")
    ax2.set_xlabel("week of the run")
    ax2.set_ylabel("staff hours per week")
    ax2.set_title("Staff hours used and available (trust)", fontsize=9, loc="left")
    ax2.legend(fontsize=7)
    fig.suptitle("Queues and staff use over the year", fontsize=10)
    fig.tight_layout()
    return fig


def build(path: Path) -> Page:
    run = _Run(path)
    s = run.summary
    name = cut(s.get("scenario", path.name), TEXT_LIMIT)  # check_summary: text
    desc = run.scenario.description if run.scenario is not None else ""
    page = Page(f"Run report: {name}", desc)
    page.h2("What was run", "what")
    if run.scenario is not None:
        page.p(describe_trust(run.scenario))
        if len(run.students):
            page.p(describe_policy(run.scenario))
        for sentence in describe_requests(run.scenario):
            page.p(sentence)
    made = time.strftime("%Y-%m-%d %H:%M", time.localtime((path / "summary.json").stat().st_mtime))
    students = f"{len(run.students):,}"
    if from_records(run) and len(run.students) < SMALL:  # (0 is a run of no students)
        students = CONFIDENTIAL if len(run.students) else students
    page.definitions([("scenario", str(name)), ("seed", str(s.get("seed"))),
                      ("schools", str(s.get("schools"))), ("students", students),
                      ("weeks", str(s.get("weeks"))),
                      ("srmsim version",
                       json_text(s, "srmsim_version", path / "summary.json", "?")),
                      ("made", made)])
    weeks = s.get("weeks")
    span = f"its {weeks} weeks" if isinstance(weeks, int) and weeks > 0 else "its weeks"
    who = "trust" if len(run.students) else "service"
    page.note(f"One run is one possible course of {span} for the simulated {who}, one draw of "
              "chance. Compare policies with <code>srmsim experiment</code>, which repeats "
              "runs and gives simulation intervals.")

    if len(run.students):
        students_sections(page, run)
    if run.requests is not None:
        requests_section(page, run.summary["requests"], run.requests, run.requests_weekly)
    return page


def students_sections(page: Page, run: _Run) -> None:
    """The students' year: outcomes, cost, groups and schools, pictures, queues."""
    page.h2("The year in numbers", "headline")
    names = RUN_OUTCOMES + (POLICY_OUTCOMES if run.has_events else [])
    n_schools = run.weekly["school"].nunique()  # as the attendance figure counts them
    shown = ["attendance", "persistent_absence", "reading_gap_end", "attainment"] + (
        ["students_served", "staff_hours"] if run.has_events else [])
    # each group a copy of the columns its figures read, not of the whole table (at 8M
    # students, 9 s of copying for six groups)
    cohorts = group_cohorts(run, columns_read(shown), schools=n_schools <= MAX_SCHOOL_ROWS)
    withheld = Withheld(run, names, shown, cohorts) if from_records(run) else None
    if withheld is not None:
        page.note("The trust is built from real pupil records (<code>population.records</code>)"
                  ": a count of students below 10, or one that would give such a count away "
                  "(with a share, or beside the other groups' counts), is shown as "
                  f"<code>{CONFIDENTIAL}</code>, and a share or mean based on it as "
                  f"<code>{LOW}</code>, as in a trial on records (docs/privacy.md). Pictures "
                  "that count students in small bins or weeks are not drawn.")
    shown_h, raw = headline_rows(run, names, withheld)
    page.table(shown_h, {"value"}, "headline", raw=raw)

    if run.has_events:
        page.h2("Cost and staff hours", "cost")
        served = int((run.students["interventions"] > 0).sum())
        # a column blank for every student was never measured: its sum is not £0 or 0 h
        cost, minutes = (float(run.students[c].sum(min_count=1)) for c in ("cost", "staff_minutes"))
        hours = minutes / 60
        served_hidden = withheld is not None and not np.isfinite(
            withheld.values[ALL]["students_served"])
        whole_hidden = withheld is not None and withheld.hidden(ALL)  # as in the headline
        # a price per action times the actions: hidden where they are few, as in the headline;
        # a value never measured is "not measured", not low (nothing of it was withheld)
        cost_hidden, hours_hidden = (whole_hidden or withheld is not None and np.isfinite(raw)
                                     and not np.isfinite(withheld.values[ALL].get(name, np.nan))
                                     for name, raw in (("cost", cost), ("staff_hours", hours)))
        rows = [("cost of actions", LOW if cost_hidden else _shown("cost", cost)),
                ("staff hours", LOW if hours_hidden else _shown("staff_hours", hours)),
                ("students who received any action",
                 CONFIDENTIAL if served_hidden else f"{served:,}")]
        if served and not served_hidden:
            rows += [("cost per student served",
                      LOW if cost_hidden else _shown("cost", cost / served)),
                     ("staff hours per student served",
                      LOW if hours_hidden else f"{hours / served:,.1f} h"
                      if np.isfinite(hours) else NOT_MEASURED)]
        page.definitions(rows)

    page.h2("By group and by school", "groups")
    page.table(group_frame(run, shown, cohorts, withheld), set())
    if n_schools > MAX_SCHOOL_ROWS:
        page.note(f"The {n_schools:,} schools are not listed one by one (more than "
                  f"{MAX_SCHOOL_ROWS}): their weekly attendance is drawn below as a band, and "
                  "each student's school is in <code>students.parquet</code>.")
    if withheld is not None and withheld.hidden(ALL):
        return  # a trust of under 10 students: its pictures would show what the tables withhold
    page.h2("The trust's year in pictures", "pictures")
    schools_shown = withheld is None or not any(
        withheld.hidden(g) for g in cohorts if g.startswith("school "))
    page.figure(attendance_figure(run, schools_shown),
                "Weekly attendance of the trust (its schools are withheld: a school has too "
                "few students to show)." if not schools_shown else
                "Weekly attendance of each school and the trust."
                if n_schools <= MAX_SCHOOL_LINES else "Weekly attendance of the trust, and the "
                "spread of the schools' (lowest to highest, and 10th to 90th percentile).")
    page.figure(groups_figure(run, cohorts, withheld), "Persistent absence among FSM, SEN "
                "and EAL students and their peers" + (" (groups withheld above are left out)."
                                                      if withheld is not None else "."))
    if run.students["reading_gap_start"].notna().any() and withheld is None:
        # (from records not drawn: a bin of the histogram is a count of a few students)
        page.figure(reading_figure(run), "Distribution of the reading gap at the September test "
                    "and at the last test of the year.")
    if run.has_events and withheld is None:
        # (from records not drawn: a week's referrals or cases are often a few students)
        page.h2("Queues and staff use over the year", "weeks")
        page.figure(workload_figure(run), "New referrals, open cases, cases waiting and "
                    "staff hours each week, summed over the schools (a student in two "
                    "workflows is two cases).")
