"""Second-pass attack review of the real-data workflow (import -> summary -> calibrate -> ...).

``srmsim calibrate`` printed the pooled attendance (sessions attended / possible) of real
records beside hidden counts of persistently and severely absent pupils. With one school
calendar (every pupil the same sessions) the attendance is the mean of the pupils' rates, and a
persistently absent pupil attends at most 90%, a severely absent one at most 50%: so
``0.1 absent + 0.4 severe <= (1 - attendance) n``. 88 pupils at 98.0% (``n`` is the Total
``srmsim data summary`` prints, which calibrate's audit takes as known) have at most 3 severely
absent; a shown count of persistently absent pupils tightens it further. The attacker here
adds those inequalities to the identities of the moments table and solves for each hidden count.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srmsim.calibrate.disclosure import CELLS, protect_moments
from srmsim.cli import main
from srmsim.data.dataset import Dataset, base_meta, write_dataset

sys.path.insert(0, str(Path(__file__).parent))
from test_privacy_attack import T, recovered  # noqa: E402

WEEKS = 4


def high_attendance(n: int = 88, severe: int = 3, seed: int = 5) -> Dataset:
    """``n`` pupils in two schools, four weeks of ten sessions each (one calendar); ``severe``
    of them at 30%, the rest at 95% to 100%: a trust attendance near 95%."""
    rng = np.random.default_rng(seed)
    students, obs = [], []
    for i in range(n):
        sid, school = f"P{i:03d}", "AB"[i % 2]
        students.append({"student_id": sid, "school": school, "year_group": 7 + i % 3,
                         "fsm": i % 3 == 0, "age_months": 140 + i % 12})
        weeks = [3] * WEEKS if i < severe else [10, 10, 10, int(rng.integers(8, 11))]
        for w, a in enumerate(weeks, start=1):
            obs.append({"student_id": sid, "school": school, "period_type": "week",
                        "period": w, "sessions_possible": 10, "sessions_attended": a})
    return Dataset(pd.DataFrame(students), pd.DataFrame(obs), base_meta())


def calibrate_report(ds: Dataset, tmp_path: Path) -> tuple[int, dict, str]:
    write_dataset(ds, tmp_path / "ds")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["calibrate", str(tmp_path / "ds"), "--out", str(tmp_path / "fit"),
                       "--params", "dynamics.absence_logit", "--max-evals", "1",
                       "--replications", "1", "--quiet"])
    report = (json.loads((tmp_path / "fit" / "fit.json").read_text()) if status == 0 else {})
    return status, report, out.getvalue() + err.getvalue()


def truth(ds: Dataset) -> dict[str, float]:
    obs = ds.observations.groupby("student_id")[["sessions_possible", "sessions_attended"]].sum()
    missed = obs["sessions_possible"] - obs["sessions_attended"]
    return {"students": float(len(obs)),
            "absent": float((missed * 10 >= obs["sessions_possible"]).sum()),
            "severe": float((missed * 2 >= obs["sessions_possible"]).sum()),
            "attendance": float(obs["sessions_attended"].sum() / obs["sessions_possible"].sum())}


def mean_attack(moments: list[dict], known: dict[str, float]) -> list[str]:
    """The counts of absent and severely absent pupils (and their remainders) under T that the
    published moments pin to a range narrower than T, knowing the pupils (the summary's Total,
    all with sessions) and reading the attendance, the shown counts and shares, and the
    quantiles as bounds."""
    names = ["students", "absent", "severe", "not_absent", "not_severe", "absent_not_severe"]
    pos = {c: i for i, c in enumerate(names)}
    values = np.array([known["students"], known["absent"], known["severe"],
                       known["students"] - known["absent"], known["students"] - known["severe"],
                       known["absent"] - known["severe"]])
    eqs = [({pos["not_absent"]: 1.0, pos["students"]: -1.0, pos["absent"]: 1.0}, 0.0),
           ({pos["not_severe"]: 1.0, pos["students"]: -1.0, pos["severe"]: 1.0}, 0.0),
           ({pos["absent_not_severe"]: 1.0, pos["absent"]: -1.0, pos["severe"]: 1.0}, 0.0)]
    les: list[tuple[dict[int, float], float]] = []
    fixed = {pos["students"]: known["students"]}
    n = known["students"]
    by = {m["moment"]: m for m in moments}
    for moment, cell in (("persistent_absence", "absent"), ("severe_absence", "severe")):
        m = by.get(moment, {})
        if re.fullmatch(r"\d+", str(m.get("events", ""))):
            fixed[pos[cell]] = float(m["events"])
        elif isinstance(m.get("target"), float):  # a share of the n pupils gives its count
            fixed[pos[cell]] = round(m["target"] * n)
    a = by.get("attendance", {}).get("target")
    if isinstance(a, float):
        les.append(({pos["absent"]: 0.1, pos["severe"]: 0.4}, (1 - a) * n + 1e-6))
        les.append(({pos["absent"]: -0.4, pos["severe"]: -0.5}, -(0.9 - a) * n + 1e-6))
    for moment, p in (("attendance_p10", 0.10), ("attendance_p25", 0.25),
                      ("attendance_p50", 0.50)):
        q = by.get(moment, {}).get("target")
        if not isinstance(q, float):
            continue
        h = p * (n - 1)
        for cell, cut in (("absent", 0.9), ("severe", 0.5)):
            les.append(({pos[cell]: -1.0}, -(np.floor(h) + 1)) if q <= cut
                       else ({pos[cell]: 1.0}, float(np.ceil(h))))
    hidden = np.array([i not in fixed for i in range(len(names))])
    return [names[i] for i, _ in recovered(values, hidden, eqs, les, fixed)]


def test_the_attendance_cannot_bound_a_small_count_of_absent_pupils(tmp_path) -> None:
    """88 pupils at 95%: the attendance said at most 8 are severely absent. It is withheld
    (and not fitted), and nothing the report prints pins a count under 10."""
    ds = high_attendance()
    known = truth(ds)
    assert known["severe"] == 3 and 2 * (1 - known["attendance"]) * known["students"] < T
    status, report, printed = calibrate_report(ds, tmp_path)
    # nothing else informs absence_logit here: a clear refusal, or a report that hides it
    if status == 0:
        assert mean_attack(report["moments"], known) == []
    else:
        assert status == 2 and "Traceback" not in printed
        assert "attendance" in printed and "withheld" in printed
        assert not (tmp_path / "fit").exists()
    # negative control: the attendance printed (as before) beside the hidden counts gives the
    # severely absent away (0 to 8)
    leaky = [{"moment": "attendance", "target": known["attendance"]},
             {"moment": "severe_absence", "target": "low", "events": "c"},
             {"moment": "persistent_absence", "target": "low", "events": "c"}]
    assert "severe" in mean_attack(leaky, known)


def test_a_shown_count_of_absent_pupils_with_the_attendance_is_audited() -> None:
    """300 pupils at 97%, 60 persistently absent shown: at most (9 - 6) / 0.4 = 7 severely
    absent. The attendance alone leaves 0 to 18, so it stays; the 60 is hidden instead --
    unless the 60 are known anyway (a summary's Total prints them): then the attendance goes."""
    counts = pd.DataFrame({"moment": list(CELLS), "n": 300, "events": 0, "value": 0.5})
    for m, n, e, v in (("attendance", 300, 0, 0.97), ("persistent_absence", 300, 60, 0.2),
                       ("severe_absence", 300, 3, 0.01),
                       ("persistent_absence_fsm", 100, 25, 0.25),
                       ("persistent_absence_non_fsm", 200, 35, 0.175),
                       ("attendance_p10", 300, 0, 0.86), ("attendance_p25", 300, 0, 0.93),
                       ("attendance_p50", 300, 0, 0.98)):
        counts.loc[counts["moment"] == m, ["n", "events", "value"]] = [n, e, v]
    w = protect_moments(counts, list(CELLS))
    assert "attendance" not in w.moments
    assert {"persistent_absence", "severe_absence"} <= w.moments
    assert ("persistent_absence", "events") in w.counts
    # with the records' counts a summary prints known, its Total's 60 persistently absent are
    # known whatever this table hides: the attendance goes instead (review 49)
    population = {"students": 300, "fsm_all": 100, "non_fsm_all": 200, "fsm_unknown_all": 0}
    w = protect_moments(counts, list(CELLS), population=population)
    assert "attendance" in w.moments and "severe_absence" in w.moments
    # the same without the attendance published: 60 of 300 absent may be shown
    for known in (None, population):
        w = protect_moments(counts, [m for m in CELLS if m != "attendance"], population=known)
        assert "persistent_absence" not in w.moments


def test_the_sample_keeps_its_attendance_moment() -> None:
    """The shipped sample (445 pupils at 91.5%): the attendance bounds nothing under 10."""
    from srmsim.calibrate.disclosure import population_counts
    from srmsim.calibrate.moments import MomentSpec, moment_counts, student_measures

    root = Path(__file__).resolve().parents[1] / "data" / "sample"
    students = pd.read_csv(root / "students.csv")
    obs = pd.read_csv(root / "observations.csv")
    spec = MomentSpec.from_data(students, obs)
    measures = student_measures(students, obs, spec)
    w = protect_moments(moment_counts(measures), spec.available,
                        population=population_counts(measures))
    assert "attendance" not in w.moments and "persistent_absence" not in w.moments


def test_one_attendance_rate_for_every_pupil_has_no_icc_and_no_slope() -> None:
    """Every pupil at 25 of 30 sessions: there is no variation to split between schools and
    no slope on attendance (documented as undefined, as for 100%). Rounding in the group means
    gave an attendance ICC of about 0.9, and the rate's variance of 3e-30 a slope of noise,
    both printed and fitted as targets."""
    from srmsim.calibrate.moments import MomentSpec, moment_counts, student_measures

    rng = np.random.default_rng(3)
    students, obs = [], []
    for i in range(61):  # 61: the rate's variance then rounds to 3e-30, not 0
        sid, school = f"P{i:03d}", "ABC"[i % 3]
        students.append({"student_id": sid, "school": school, "year_group": 7,
                         "fsm": i % 4 == 0, "age_months": 140})
        for w, a in enumerate([8, 8, 9], start=1):
            obs.append({"student_id": sid, "school": school, "period_type": "week",
                        "period": w, "sessions_possible": 10, "sessions_attended": a})
        obs.append({"student_id": sid, "school": school, "period_type": "term", "period": 1,
                    "assessment_score": float(rng.normal(100, 15))})
    students, obs = pd.DataFrame(students), pd.DataFrame(obs)
    spec = MomentSpec.from_data(students, obs)
    values = moment_counts(student_measures(students, obs, spec)).set_index("moment")["value"]
    assert values["attendance"] == pytest.approx(25 / 30)
    assert np.isnan(values["attendance_icc"])
    assert np.isnan(values["attainment_attendance_slope"])
    assert np.isfinite(values["attainment_icc"])  # the scores vary: defined
