"""What a run produces, as DataFrames and as files.

Files written by :meth:`RunResult.write` (the README explains every column):
``students.parquet`` (one row per student), ``weekly.parquet`` (one row per school per week),
``events.parquet`` (workflow events, with a policy), ``history.parquet`` (per-student weeks for the
history sample), ``summary.json`` and ``scenario.yaml`` (the fully resolved scenario).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from srmsim import __version__
from srmsim.scenario import Scenario
from srmsim.students import STATUS_NAMES, WITHDRAWN, StudentTable

if TYPE_CHECKING:
    from srmsim.model import TrustModel

PERSISTENT_ABSENCE = 0.10  # DfE: missing 10% or more of possible sessions
SEVERE_ABSENCE = 0.50  # DfE: missing 50% or more
PERSISTENT_ABSENCE_DENOMINATOR = 10
SEVERE_ABSENCE_DENOMINATOR = 2


_SEX_LABELS = np.array(["F", "M"], dtype=object)


def student_frame(t: StudentTable) -> pd.DataFrame:
    """One row per student, the columns documented in the README."""
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = t.attended / t.possible
        on_time = t.on_time_total / t.set_total
    missed = (t.possible - t.attended).astype(np.int64)
    possible = t.possible.astype(np.int64)
    df = pd.DataFrame({
        "uid": t.uid,
        "school": t.school,
        "year_group": t.year_group.astype(np.int16),
        "age_months": np.round(t.age_months, 1),
        # two shared str objects, not a new one per student (400 MB at 8M students)
        "sex": _SEX_LABELS[(t.sex == 1).view(np.int8)],
        "fsm": t.fsm,
        "sen": t.sen,
        "eal": t.eal,
        "status": pd.Categorical.from_codes(t.status, [STATUS_NAMES[i] for i in range(3)]),
        "entry_week": t.entry_step,
        "exit_week": t.exit_step,
        "prior_attainment": t.prior_attainment,
        "sessions_possible": t.possible,
        "sessions_attended": t.attended,
        "attendance_rate": rate,
        "attendance_autumn": t.attendance_autumn,
        "attendance_spring": t.attendance_spring,
        "attendance_summer": t.attendance_summer,
        # whole-session arithmetic: 39 missed of 390 is exactly 10% (floats would say 9.99..%)
        "persistent_absent": missed * PERSISTENT_ABSENCE_DENOMINATOR >= possible,
        "severe_absent": missed * SEVERE_ABSENCE_DENOMINATOR >= possible,
        "incidents": t.incidents,
        "lms_logins": t.logins,
        "assignments_set": t.set_total,
        "assignments_on_time": t.on_time_total,
        "on_time_rate": on_time,
        "reading_gap_start": t.reading_gap_start,
        "reading_gap_end": t.reading_obs - t.reading_obs_age,
        "attainment": t.attainment,
        "assessment": t.assessment,
        "satisfaction": t.satisfaction,
        "exam_score": t.exam_score,
        "withdrawn": t.status == WITHDRAWN,
        "interventions": t.interventions,
        "weeks_waited": t.weeks_waited,
        "staff_minutes": t.staff_minutes,
        "cost": t.cost,
    })
    no_sessions = t.possible == 0
    df.loc[no_sessions, ["persistent_absent", "severe_absent"]] = False
    if len(t) > 1 and not np.all(t.uid[1:] > t.uid[:-1]):  # a one-year table is in uid order
        df = df.sort_values("uid", kind="stable")
    return df.reset_index(drop=True)


def headline(students: pd.DataFrame) -> dict[str, float]:
    """The figures `srmsim run` prints and summary.json keeps."""
    s = students.loc[students["sessions_possible"] > 0,  # only the columns read: 8M rows
                     ["sessions_attended", "sessions_possible", "persistent_absent",
                      "severe_absent", "fsm"]]
    fsm, non = s[s["fsm"]], s[~s["fsm"]]

    def rate(x: pd.Series) -> float:
        return float(x.mean()) if len(x) else float("nan")

    return {
        "students": int(len(students)),
        "attendance": float(s["sessions_attended"].sum() / max(s["sessions_possible"].sum(), 1)),
        "persistent_absence": rate(s["persistent_absent"]),
        "persistent_absence_fsm": rate(fsm["persistent_absent"]),
        "persistent_absence_non_fsm": rate(non["persistent_absent"]),
        "severe_absence": rate(s["severe_absent"]),
        "reading_gap_start": float(np.nanmean(students["reading_gap_start"])),
        "reading_gap_end": float(np.nanmean(students["reading_gap_end"])),
        "mean_attainment": float(students["attainment"].mean()),
        "withdrawals": int(students["withdrawn"].sum()),
        "interventions": int(students["interventions"].sum()),
        "staff_hours": float(students["staff_minutes"].sum() / 60.0),
        "cost": float(students["cost"].sum()),
    }


def write_atomic(path: Path, write) -> None:
    """Write via a temporary file and rename, so a killed run never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_parquet(df: pd.DataFrame, path: Path) -> None:
    write_atomic(Path(path), lambda tmp: df.to_parquet(tmp, index=False))


def write_text(text: str, path: Path) -> None:
    def _write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)

    write_atomic(Path(path), _write)


@dataclass
class RunResult:
    """Outputs of one run; ``write(dir)`` saves them as the README describes."""

    scenario: Scenario
    seed: int
    students: pd.DataFrame
    weekly: pd.DataFrame
    history: pd.DataFrame
    events: pd.DataFrame | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_model(cls, model: TrustModel) -> RunResult:
        students = student_frame(model.all_students())
        events = None
        if model.policy is not None:
            events = model.policy.events()
            # the pseudonym events.parquet names each student by, to join the two tables
            students.insert(1, "student", model.policy.pseudonyms(students["uid"].to_numpy()))
        student_weeks = int(students["sessions_possible"].sum() // 10)
        summary = {
            "scenario": model.config.name,
            "scenario_hash": model.config.digest(),
            "seed": model.seed,
            "srmsim_version": __version__,
            "schools": len(model.schools),
            "years": model.config.years,
            "weeks": model.week_index,
            **({"school_ids": model.records.school_ids} if model.records is not None else {}),
            **headline(students),
            "runtime_seconds": round(model._runtime, 3),
            "student_weeks_per_second": round(student_weeks / max(model._runtime, 1e-9)),
        }
        return cls(model.config, model.seed, students, model.weekly(), model.history(),
                   events, summary)

    def write(self, out: str | Path) -> Path:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        write_parquet(self.students, out / "students.parquet")
        write_parquet(self.weekly, out / "weekly.parquet")
        if len(self.history):
            write_parquet(self.history, out / "history.parquet")
        if self.events is not None:
            write_parquet(self.events, out / "events.parquet")
        write_text(self.scenario.to_yaml(), out / "scenario.yaml")
        write_text(json.dumps(self.summary, indent=2) + "\n", out / "summary.json")
        return out

    def summary_table(self) -> pd.DataFrame:
        s = self.summary
        rows = [
            ("students", f"{s['students']:,}"),
            ("attendance", f"{s['attendance']:.1%}"),
            ("persistent absence (all)", f"{s['persistent_absence']:.1%}"),
            ("persistent absence (FSM)", f"{s['persistent_absence_fsm']:.1%}"),
            ("persistent absence (non-FSM)", f"{s['persistent_absence_non_fsm']:.1%}"),
            ("severe absence", f"{s['severe_absence']:.1%}"),
            ("mean reading gap, start -> end (months)",
             f"{s['reading_gap_start']:.1f} -> {s['reading_gap_end']:.1f}"),
            ("withdrawals", f"{s['withdrawals']:,}"),
        ]
        if self.events is not None:
            rows += [("interventions started", f"{s['interventions']:,}"),
                     ("staff hours", f"{s['staff_hours']:,.0f}"), ("cost", f"{s['cost']:,.0f}")]
        return pd.DataFrame(rows, columns=["measure", "value"])
