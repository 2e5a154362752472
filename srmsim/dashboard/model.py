"""The trust model the dashboard drives: keyword parameters (so Mesa's SolaraViz can rebuild it
on Reset), a "no policy" twin stepped in lockstep, and a Mesa DataCollector of trust figures.

The twin runs the same scenario without its policy on the same seed. Every random draw comes
from the counter-based CRN keyed by (seed, decision, week, student), so the two runs differ only
by what the policy did: the comparison is exact, not a second sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from mesa import DataCollector

from srmsim import calendar
from srmsim.dashboard.settings import apply_settings, check_for_page, parse_seed
from srmsim.errors import ScenarioError
from srmsim.model import TrustModel
from srmsim.scenario import Scenario, default_scenario
from srmsim.students import ENROLLED

# Trust figures the DataCollector records each week (column name = legend, with its unit)
ATTENDANCE = "Attendance this week, with policy (%)"
ATTENDANCE_NP = "Attendance this week, no policy (%)"
READING = "Reading gap, with policy (months)"
READING_NP = "Reading gap, no policy (months)"
FLAGGED = "Flagged by a risk rule this week (students)"
# (a case is one student in one workflow: a student in two workflows is two cases)
WAITING = "Waiting for staff (cases)"
IN_SUPPORT = "Receiving support (cases)"
MINUTES_USED = "Staff minutes used (school staff)"
MINUTES_AVAILABLE = "Staff minutes available (school staff)"
POOL_USED = "Staff minutes used (trust pool)"
POOL_AVAILABLE = "Staff minutes available (trust pool)"
GROUPS = ("fsm", "sen", "eal")
GROUP_NAMES = {"fsm": "FSM (free school meals)", "sen": "SEN (special educational needs)",
               "eal": "EAL (English as an additional language)"}


def reading_gap(model: TrustModel) -> np.ndarray:
    """Each enrolled student's reading gap at their latest reading test (months; NaN before)."""
    t = model.students
    gap = t.reading_obs - t.reading_obs_age
    return np.where(t.status == ENROLLED, gap, np.nan)


def mean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else float("nan")


def share(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")


@dataclass(frozen=True)
class GroupGap:
    """Attendance so far this year and reading gap for a group and for everyone else."""

    group: str
    students: int
    attendance: float
    attendance_others: float
    reading: float
    reading_others: float


def group_gaps(model: TrustModel) -> list[GroupGap]:
    t = model.students
    here = t.status == ENROLLED
    gap = reading_gap(model)
    out = []
    for g in GROUPS:
        member = getattr(t, g).astype(bool)
        rows = []
        for sel in (here & member, here & ~member):
            rows.append((share(t.year_attended[sel].sum(dtype=np.int64),
                               t.year_possible[sel].sum(dtype=np.int64)), mean(gap[sel])))
        out.append(GroupGap(g, int((here & member).sum()), rows[0][0], rows[1][0], rows[0][1],
                            rows[1][1]))
    return out


@dataclass(frozen=True)
class View:
    """Everything the panels show, made at the end of each week.

    Mesa's ▶ steps the model in a worker thread while the page redraws in another, so panels
    read this snapshot (replaced in one assignment) rather than the model mid-step.
    """

    week_index: int
    week_label: str
    on_roll: int
    figures: pd.DataFrame
    by_school: pd.DataFrame
    workflow_steps: pd.DataFrame
    staff_by_role: pd.DataFrame
    gaps: pd.DataFrame
    flagged: list[int]


class DashboardModel(TrustModel):
    """A :class:`TrustModel` built from the dashboard's controls, with its "no policy" twin.

    ``base`` is the scenario picked; ``seed`` is the text typed in the seed box; ``n_schools``
    and the other keywords (keys from :func:`srmsim.dashboard.settings.model_params`) change it.
    """

    def __init__(self, base: Scenario | None = None, seed: Any = None,
                 n_schools: int | None = None, **kwargs: Any):
        # The settings arrive as ``**kwargs`` (Mesa 3.3 accepts open keywords only under that
        # name). Mesa 3.5's Reset also passes its own ``scenario`` object (a Mesa experiment
        # description, not an srmsim one); the srmsim scenario is ``base``.
        settings = {k: v for k, v in kwargs.items() if k != "scenario"}
        base = base if base is not None else default_scenario()
        try:
            scenario = apply_settings(base, n_schools, settings)
            unused = ""
        except ScenarioError as err:  # (the page's controls give none: defence in depth)
            check_for_page(base)  # the scenario itself must be one the page may show
            scenario, unused = base, f"Settings not used ({err}); the scenario as it is. "
        chosen, notice = parse_seed(seed, scenario.seed)
        self.notice = unused + notice
        super().__init__(scenario, seed=chosen)
        self.baseline: TrustModel | None = None
        if scenario.policy is not None:
            self.baseline = TrustModel(scenario.with_overrides({"policy": None}, "dashboard"),
                                       seed=chosen)
        self._school_reading: list[np.ndarray] = []
        self._school_reading_np: list[np.ndarray] = []
        self._now: dict[str, float] = {}
        self._steps_at_report: pd.DataFrame | None = None
        names = [ATTENDANCE, ATTENDANCE_NP, READING, READING_NP, FLAGGED, WAITING, IN_SUPPORT,
                 MINUTES_USED, MINUTES_AVAILABLE, POOL_USED, POOL_AVAILABLE]
        self.datacollector = DataCollector(
            model_reporters={n: (lambda m, n=n: m._now.get(n, np.nan)) for n in names})
        self.view = self._make_view()

    # ----------------------------------------------------------------- stepping
    def step(self) -> None:
        """One school week for both runs; a no-op once the configured years are over."""
        if self.done:
            self.running = False
            return
        self._steps_at_report = None
        super().step()
        if self.baseline is not None:
            self.baseline.step()
        self._observe()
        self.datacollector.collect(self)
        self.view = self._make_view()  # one assignment: readers see last week or this one
        self.running = not self.done

    def _year_end(self) -> None:
        """The open cases as the week's report counts them, kept before the year's end closes
        the leavers' cases: the page's table of open cases said 13 receiving support where its
        summary line and chart, from the report, said 15."""
        self._steps_at_report = self.workflow_steps()
        super()._year_end()

    def _make_view(self) -> View:
        steps = self._steps_at_report
        return View(week_index=self.week_index, week_label=self.week_label(),
                    on_roll=int((self.students.status == ENROLLED).sum()),
                    figures=self.figures(), by_school=self.by_school(),
                    workflow_steps=self.workflow_steps() if steps is None else steps,
                    staff_by_role=self.staff_by_role(),
                    gaps=self.gaps(), flagged=self.flagged_students())

    @property
    def twin(self) -> TrustModel:
        """The run without the policy (the model itself when the scenario has no policy)."""
        return self.baseline if self.baseline is not None else self

    def _observe(self) -> None:
        now = self._weekly[-1]  # this week's per-school report, made by TrustModel.step
        twin = self.twin._weekly[-1]
        gap, gap_np = reading_gap(self), reading_gap(self.twin)
        self._school_reading.append(self._by_school(self, gap))
        self._school_reading_np.append(self._by_school(self.twin, gap_np))
        fig = {
            ATTENDANCE: 100 * share(now["sessions_attended"].sum(), now["sessions_possible"].sum()),
            ATTENDANCE_NP: 100 * share(twin["sessions_attended"].sum(),
                                       twin["sessions_possible"].sum()),
            READING: mean(gap), READING_NP: mean(gap_np),
        }
        if self.policy is not None:
            fig.update({
                FLAGGED: float(now["flags"].sum()), WAITING: float(now["queue_length"].sum()),
                IN_SUPPORT: float(now["active_cases"].sum()),
                MINUTES_USED: float(now["staff_minutes_used"].sum()),
                MINUTES_AVAILABLE: float(now["staff_minutes_available"].sum()),
                POOL_USED: float(now["pool_minutes_used"].sum()),
                POOL_AVAILABLE: float(self.policy.pool_capacity.sum()),
            })
        self._now = fig

    @staticmethod
    def _by_school(model: TrustModel, gap: np.ndarray) -> np.ndarray:
        n = len(model.schools)
        ok = ~np.isnan(gap)
        total = np.bincount(model.students.school[ok], weights=gap[ok], minlength=n)
        count = np.bincount(model.students.school[ok], minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return total / count

    # ----------------------------------------------------------------- what panels show
    def figures(self) -> pd.DataFrame:
        """The trust figures so far, one row per week run, indexed by run week (1 = first)."""
        df = self.datacollector.get_model_vars_dataframe()
        df.index = pd.RangeIndex(1, len(df) + 1, name="week")
        return df

    def by_school(self) -> pd.DataFrame:
        """Per school and week: attendance (%) and reading gap (months), with and without the
        policy. Attendance comes from the model's own weekly reports."""
        if not self._weekly:
            return pd.DataFrame(columns=["week", "school", "attendance", "attendance_np",
                                         "reading", "reading_np"])
        w, w_np = self.weekly(), self.twin.weekly()
        table = pd.DataFrame({
            "week": w["run_week"].to_numpy() + 1,
            "school": w["school"].to_numpy(),
            "attendance": 100 * w["attendance_rate"].to_numpy(),
            "attendance_np": 100 * w_np["attendance_rate"].to_numpy(),
            "reading": np.concatenate(self._school_reading),
            "reading_np": np.concatenate(self._school_reading_np),
        })
        return table

    def workflow_steps(self) -> pd.DataFrame:
        """Open cases now, by workflow step: waiting for staff and receiving it."""
        from srmsim.policy.engine import ACTIVE, QUEUED

        cols = ["workflow", "step", "action", "waiting", "receiving"]
        if self.policy is None:
            return pd.DataFrame(columns=cols)
        p, c = self.policy.policy, self.policy.cases
        rows = []
        for w, wf in enumerate(p.workflows):
            for s, step in enumerate(wf.steps):
                here = (c.wf == w) & (c.step == s)
                rows.append((wf.name, s + 1, p.action_names[step.action_id],
                             int((here & (c.status == QUEUED)).sum()),
                             int((here & (c.status == ACTIVE)).sum())))
        return pd.DataFrame(rows, columns=cols)

    def staff_by_role(self) -> pd.DataFrame:
        """This week's staff minutes by role, used and available: school staff summed over
        schools, and the trust pool's (``where``: "schools" or "pool").

        A role has a schools row when the schools have it (``staff.school``, ``per_school``,
        not in ``pool_only`` mode) or used it, and a pool row when the pool has it: a pool-only
        role showed as 0 of 0 school minutes, and its pool minutes nowhere in the table."""
        cols = ["role", "where", "used", "available"]
        if self.policy is None or not self._weekly:
            return pd.DataFrame(columns=cols)
        now = self._weekly[-1]
        staff = self.policy.policy.config.staff
        at_schools = set(staff.school).union(*staff.per_school.values()) \
            if staff.mode != "pool_only" else set()
        pool_used = self.policy.pool_minutes_used
        rows = []
        for i, r in enumerate(self.policy.policy.roles):
            used = float(now[f"minutes_used_{r}"].sum())
            if r in at_schools or used:
                rows.append((r, "schools", used, float(now[f"minutes_available_{r}"].sum())))
            if r in staff.pool or pool_used[i]:
                rows.append((r, "pool", float(pool_used[i]), float(self.policy.pool_capacity[i])))
        return pd.DataFrame(rows, columns=cols)

    def gaps(self) -> pd.DataFrame:
        """Gaps by FSM, SEN and EAL, with and without the policy (attendance in %, reading in
        months; gap = group minus everyone else)."""
        rows = []
        for g, g_np in zip(group_gaps(self), group_gaps(self.twin), strict=True):
            rows.append({
                "group": GROUP_NAMES[g.group], "students": g.students,
                "attendance_gap": 100 * (g.attendance - g.attendance_others),
                "attendance_gap_np": 100 * (g_np.attendance - g_np.attendance_others),
                "reading_gap": g.reading - g.reading_others,
                "reading_gap_np": g_np.reading - g_np.reading_others,
            })
        return pd.DataFrame(rows)

    def flagged_students(self, limit: int = 500) -> list[int]:
        """Students with an open case now (waiting or receiving support), whose weekly history is
        recorded, by uid; at most ``limit``."""
        from srmsim.policy.engine import CLOSED

        if self.policy is None or not self.records_history:
            return []
        c = self.policy.cases
        uids = np.unique(c.uid[c.status != CLOSED])
        uids = uids[np.isin(uids, self.students.uid[self._tracked])]
        return [int(u) for u in uids[:limit]]

    @property
    def records_history(self) -> bool:
        """Whether any student's weeks are recorded (not with ``outputs.history: none``): a
        profile is drawn from them, and without them the picker listed students whose charts
        were empty."""
        return self._history_fraction > 0.0

    def profile(self, uid: int) -> pd.DataFrame:
        """One student's recorded weeks: attendance, reading gap and engagement. Read from the
        weekly history records directly (``student(uid)`` builds the whole history table first,
        too slow to redo after every step)."""
        rows = []
        for rec in self._history:
            at = np.flatnonzero(rec["uid"] == uid)
            if len(at):
                i = at[0]
                rows.append((int(rec["run_week"][i]) + 1, int(rec["attended"][i]),
                             int(rec["possible"][i]), float(rec["reading_gap"][i]),
                             float(rec["engagement"][i])))
        return pd.DataFrame(rows, columns=["week", "attended", "possible", "reading_gap",
                                           "engagement"])

    def week_label(self) -> str:
        """Where the run is, in school terms."""
        if self.week_index == 0:
            return f"Not started: {self.n_weeks} school weeks to run"
        last = self.week_index - 1
        week = last % calendar.WEEKS_PER_YEAR
        term = ("autumn", "spring", "summer")[calendar.term_of(week)]
        year = f"year {last // calendar.WEEKS_PER_YEAR + 1}, " if self.config.years > 1 else ""
        return f"Week {self.week_index} of {self.n_weeks} run ({year}{term} term)"
