"""What a policy's actions delivered, by the simulator's truth: months of reading age, attainment
(SD) and days of attendance.

Reading and attainment are the growth the engine adds while actions run. Attendance is counted
each week as the sessions a student is expected to attend with the actions' effects in place
(absence shifts, and engagement and wellbeing shifts through the absence model, including effects
still fading after an action ended) minus the same week without them, from the same latent state
and weekly noise: an expectation, not a sampled difference. It is reported in days (two sessions
a day), so that "days of attendance gained per 100 staff hours" reads as a head teacher would
count it. Effects after the run ends are not counted.

Totals are kept for the run, by FSM/SEN/EAL group, and (when ``detail``) by school for each week's
report, from which the learning outcomes compute per-100-staff-hour figures term by term.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from srmsim.dynamics import absence_probability

if TYPE_CHECKING:
    from srmsim.dynamics import WeekObservation
    from srmsim.model import TrustModel

TARGETS = ("reading", "attainment", "attendance")
#: what each target's total counts, for column names and docs
UNITS = {"reading": "months of reading age", "attainment": "SD of attainment",
         "attendance": "days of attendance"}
GROUPS = ("fsm", "sen", "eal")
#: effect targets that move attendance through the absence model
ATTENDANCE_ROUTES = ("absence", "engagement", "wellbeing")


class Delivered:
    """Running totals of what actions delivered: ``delivered["reading"]`` is the run's total."""

    def __init__(self, model: TrustModel, detail: bool, attendance: bool):
        self.model = model
        self.detail = detail
        self.count_attendance = detail and attendance
        self.totals = dict.fromkeys(TARGETS, 0.0)
        self.by_group = {t: np.zeros(len(GROUPS)) for t in TARGETS}
        self.week = {t: np.zeros(len(model.schools)) for t in TARGETS}

    def __getitem__(self, target: str) -> float:
        return self.totals[target]

    def new_week(self) -> None:
        for v in self.week.values():
            v[:] = 0.0

    def add(self, target: str, rows: np.ndarray, amount: np.ndarray) -> None:
        """Students ``rows`` gained ``amount`` (one value per row; a row may repeat)."""
        self.totals[target] += float(amount.sum())
        if not self.detail or len(rows) == 0:
            return
        t = self.model.students
        for k, g in enumerate(GROUPS):
            self.by_group[target][k] += float(amount @ getattr(t, g)[rows].astype(np.float64))
        self.week[target] += np.bincount(t.school[rows], weights=amount,
                                         minlength=len(self.week[target]))

    def attendance(self, obs: WeekObservation) -> None:
        """Count this week's expected days of attendance the actions' effects added."""
        if not self.count_attendance:
            return
        m = self.model
        t, d = m.students, m.config.dynamics
        moved = (t.eff_absence != 0) | (t.eff_engagement != 0) | (t.eff_wellbeing != 0)
        rows = np.flatnonzero(moved & (obs.possible > 0))
        if len(rows) == 0:
            return
        z_abs = m.crn.normal2("week.noise", m.week_index, t.uid[rows])[0]
        static = t.absence_static[rows]
        engagement0 = t.engagement_base[rows] + t.engagement_ar[rows]
        wellbeing0 = t.wellbeing_base[rows] + t.wellbeing_ar[rows]
        with_effects = absence_probability(d, m.week, static, t.engagement(rows),
                                           t.wellbeing(rows), t.eff_absence[rows], z_abs)
        without = absence_probability(d, m.week, static, engagement0, wellbeing0,
                                      np.float32(0.0), z_abs)
        sessions = obs.possible[rows] * (without.astype(np.float64) - with_effects)
        self.add("attendance", rows, sessions / 2.0)

    def weekly_report(self) -> dict[str, np.ndarray]:
        """Per school, this week: ``reading_delivered``, ``attainment_delivered``,
        ``attendance_days_delivered`` (empty without ``detail``)."""
        if not self.detail:
            return {}
        return {weekly_column(t): v.copy() for t, v in self.week.items()}

    def summary(self) -> dict[str, float]:
        """``<target>_delivered`` and ``<target>_delivered_<group>`` for summary.json."""
        out = {}
        for t in TARGETS:  # attendance 0 when no action moves it
            out[f"{t}_delivered"] = round(self.totals[t], 6)
            if self.detail:
                out.update({f"{t}_delivered_{g}": round(float(v), 6)
                            for g, v in zip(GROUPS, self.by_group[t], strict=True)})
        return out


def weekly_column(target: str) -> str:
    """The weekly table's column of a target's per-school delivery."""
    return "attendance_days_delivered" if target == "attendance" else f"{target}_delivered"

