"""A simulated run as school records in the schema (``students`` and ``observations``).

Why: calibration compares a trust's records with simulated ones, and the comparison is only fair
if both are measured by the same code. Exporting a run into exactly the tables a school's import
produces lets :mod:`srmsim.calibrate.moments` treat them identically. The same export makes the
synthetic sample shipped in ``data/sample`` (``python -m srmsim.calibrate.export``).

What a run becomes (it needs ``outputs.history: all``, the per-student weekly record):

- ``students``: one row per student seen in the run. ``student_id`` is ``P`` + the uid (5+
  digits), ``school`` is ``S01``, ``S02``, ... (or the record ids when the trust was built from
  records). ``year_group`` and ``age_months`` are at the *reference date*, the first day of the
  run (age in completed months; for a later intake, their age then). ``prior_attainment`` is on a
  standardised-score scale, ``100 + 15 z`` (z = the simulator's SD units), one decimal.
- ``observations``, ``period_type: week``: one row per student per week they were enrolled at the
  start of the week; ``period`` = run week + 1. Sessions possible/attended, incidents, LMS
  logins, assignments set/on time. ``reading_age_months`` on the week of the September baseline
  reading test (week 1 of each year). ``withdrawn`` is true on the week the student withdrew.
- ``observations``, ``period_type: term``: one row per student enrolled at each term end;
  ``period`` = 3 x year + term (1, 2, 3 in the first year). ``assessment_score`` (``100 + 15 z``,
  one decimal), ``reading_age_months`` (the end-of-term test, whole months), ``satisfaction``
  (1-5), and ``exam_score`` (``100 + 15 z``) on the last term of a leaver who sat the exam.
  Sessions are on week rows only, so summing sessions over all rows never counts a week twice.

Not exported, because a school would not see it: the latent engagement, wellbeing and
attainment, and the action effects.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from srmsim import calendar
from srmsim.argtypes import out_argument, path_argument, seed_argument
from srmsim.data.schema import OBSERVATIONS, STUDENTS, conform
from srmsim.errors import DataError
from srmsim.outputs import json_dumps, write_csv
from srmsim.results import RunResult
from srmsim.students import ENROLLED, WITHDRAWN

#: Scores (prior attainment, assessments, exams) are written as ``SCORE_MEAN + SCORE_SD * z``.
SCORE_MEAN = 100.0
SCORE_SD = 15.0
WEEK_MONTHS = 12.0 / calendar.WEEKS_PER_YEAR


def school_labels(result: RunResult) -> list[str]:
    """School ids: the records' own ids when the trust came from records, else S01, S02, ..."""
    ids = result.school_ids
    if ids:
        return [str(s) for s in ids]
    n = int(result.summary.get("schools", int(result.students["school"].max()) + 1))
    width = max(2, len(str(n)))
    return [f"S{i + 1:0{width}d}" for i in range(n)]


def _score(z: np.ndarray) -> np.ndarray:
    return np.round(SCORE_MEAN + SCORE_SD * np.asarray(z, dtype=float), 1)


def records_from_run(result: RunResult, tidy: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(students, observations)`` in the record schema, from a run with full history.

    ``tidy=False`` skips sorting the rows and casting to the schema's dtypes: the same records,
    about three times faster, for calibration's many evaluations.
    """
    hist = result.history
    st = result.students
    if hist is None or hist.empty:
        raise DataError("this run recorded no weekly history; run it with outputs.history: all "
                        "to export records")
    uids = np.unique(hist["uid"].to_numpy())
    missing = np.setdiff1d(st["uid"].to_numpy(), uids)
    if len(missing):
        raise DataError(f"weekly history was recorded for {len(uids)} of {len(st)} students "
                        f"(e.g. not uid {int(missing[0])}); run with outputs.history: all to "
                        "export records")
    labels = np.array(school_labels(result), dtype=object)
    width = max(5, len(str(int(uids.max()))))
    ids = np.array([f"P{u:0{width}d}" for u in uids], dtype=object)

    h = {c: hist[c].to_numpy() for c in hist.columns}
    if isinstance(hist["status"].dtype, pd.CategoricalDtype):  # names -> engine codes
        h["status"] = hist["status"].cat.codes.to_numpy()
    step = h["run_week"].astype(np.int64)
    row_uid = np.searchsorted(uids, h["uid"])
    age = h["age_months"].astype(float)

    # --- students: traits from the run, year group and age at the run's first day
    _, first = np.unique(h["uid"], return_index=True)  # history is in step order
    ref_age = age[first] - (step[first] + 1) * WEEK_MONTHS
    traits = st.set_index("uid").loc[uids]
    students = pd.DataFrame({
        "student_id": ids,
        "school": labels[h["school"][first]],
        "year_group": h["year_group"][first].astype(np.int64),
        "age_months": np.floor(ref_age + 1e-6).astype(np.int64),
        "sex": traits["sex"].astype(str).to_numpy(),
        "fsm": traits["fsm"].to_numpy(bool),
        "sen": traits["sen"].to_numpy(bool),
        "eal": traits["eal"].to_numpy(bool),
        "prior_attainment": _score(traits["prior_attainment"].to_numpy()),
    })

    # --- week rows: every week the student was enrolled at the start of
    wk = h["possible"] > 0
    week_in_year = h["week"]
    reading = np.round(h["reading_gap"].astype(float) + age)
    weeks = pd.DataFrame({
        "student_id": ids[row_uid[wk]],
        "school": labels[h["school"][wk]],
        "period_type": "week",
        "period": step[wk] + 1,
        "sessions_possible": h["possible"][wk].astype(np.int64),
        "sessions_attended": h["attended"][wk].astype(np.int64),
        "incidents": h["incidents"][wk].astype(np.int64),
        "reading_age_months": np.where(week_in_year[wk] == calendar.READING_TEST_WEEKS[0],
                                       reading[wk], np.nan),
        "lms_logins": h["logins"][wk].astype(np.int64),
        "assignments_set": h["assignments_set"][wk].astype(np.int64),
        "assignments_on_time": h["assignments_on_time"][wk].astype(np.int64),
        "withdrawn": h["status"][wk] == WITHDRAWN,
    })

    # --- term rows: enrolled at a term's last week, after that week's tests
    tm = np.isin(week_in_year, calendar.TERM_ENDS) & (h["status"] == ENROLLED)
    term_index = np.searchsorted(calendar.TERM_ENDS, week_in_year[tm])
    term_period = h["year"][tm].astype(np.int64) * len(calendar.TERM_ENDS) + term_index + 1
    terms = pd.DataFrame({
        "student_id": ids[row_uid[tm]],
        "school": labels[h["school"][tm]],
        "period_type": "term",
        "period": term_period,
        "assessment_score": _score(h["assessment"][tm]),
        "reading_age_months": reading[tm],
        "satisfaction": np.round(h["satisfaction"][tm].astype(float)),
        "exam_score": np.nan,
    })
    sat_exam = st[st["exam_score"].notna()]
    if len(sat_exam):
        exit_year = sat_exam["exit_week"].to_numpy(np.int64) // calendar.WEEKS_PER_YEAR
        key = pd.MultiIndex.from_arrays([
            ids[np.searchsorted(uids, sat_exam["uid"].to_numpy())],
            exit_year * len(calendar.TERM_ENDS) + len(calendar.TERM_ENDS)])
        exams = pd.Series(_score(sat_exam["exam_score"].to_numpy()), index=key)
        row_key = pd.MultiIndex.from_arrays([terms["student_id"], terms["period"]])
        terms["exam_score"] = exams.reindex(row_key).to_numpy()
        lost = ~key.isin(row_key)
        if lost.any():  # pragma: no cover - a leaver always has their last term row
            raise DataError(f"{int(lost.sum())} exam scores have no term row to go on")

    obs = pd.concat([weeks, terms], ignore_index=True)
    if not tidy:
        return students, obs
    obs = obs.sort_values(["school", "student_id", "period_type", "period"], kind="stable")
    obs = obs[[c for c in OBSERVATIONS.names if c in obs.columns]].reset_index(drop=True)
    students = students.sort_values(["school", "student_id"], kind="stable").reset_index(drop=True)
    return conform(students, STUDENTS), conform(obs, OBSERVATIONS)


def with_term_sessions(observations: pd.DataFrame) -> pd.DataFrame:
    """The exported observations plus each week's sessions again as a row of its term
    (``period_type: term``, ``period`` the run's term, 1-based; other fields empty).

    Why: records whose school reports attendance per term are measured over term rows
    (:func:`srmsim.calibrate.moments.attendance_rows`), and the export puts sessions on week
    rows only, so every simulated attendance moment came out empty and calibration failed
    ("narrow the bounds"). A student's rows of one term add up to the term's sessions.
    """
    obs = observations
    weeks = obs[(obs["period_type"].astype(str) == "week")
                & obs["sessions_possible"].notna() & obs["sessions_attended"].notna()]
    terms = pd.DataFrame({
        "student_id": weeks["student_id"].to_numpy(),
        "school": weeks["school"].to_numpy(),
        "period_type": "term",
        "period": calendar.run_term(weeks["period"].to_numpy(np.int64) - 1) + 1,
        "sessions_possible": weeks["sessions_possible"].to_numpy(),
        "sessions_attended": weeks["sessions_attended"].to_numpy(),
    })
    return pd.concat([obs, terms], ignore_index=True)


def write_records(students: pd.DataFrame, observations: pd.DataFrame, out: str | Path
                  ) -> tuple[Path, Path]:
    """Write ``students.csv`` and ``observations.csv`` (schema names: import needs no mapping)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    paths = out / "students.csv", out / "observations.csv"
    for frame, path in zip((students, observations), paths, strict=True):
        text = frame.copy()
        for c in text.columns:
            if str(text[c].dtype) == "boolean":
                text[c] = text[c].map({True: "true", False: "false"})
        write_csv(text, path)
    return paths


# --------------------------------------------------------------------------------------------
# python -m srmsim.calibrate.export: make a synthetic dataset (e.g. data/sample)


def generate(out: str | Path, schools: int = 4, per_year: int = 20, seed: int = 7,
             scenario: str | None = None, overrides: dict[str, Any] | None = None
             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run a small synthetic trust and write its records (and the scenario used) into ``out``."""
    from srmsim.model import TrustModel
    from srmsim.scenario import default_scenario, load_scenario

    base = load_scenario(scenario) if scenario else default_scenario()
    sc = base.with_overrides({"name": "sample", "trust.n_schools": schools,
                              "trust.students_per_year_group": per_year,
                              "outputs.history": "all", "seed": seed, **(overrides or {})},
                             "srmsim.calibrate.export")
    model = TrustModel(sc)
    model.run()
    result = model.results()
    model.release()
    students, observations = records_from_run(result)
    write_records(students, observations, out)
    (Path(out) / "scenario.yaml").write_text(
        "# The scenario this synthetic sample was generated from (python -m "
        "srmsim.calibrate.export).\n" + sc.to_yaml(), encoding="utf-8")
    return students, observations


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m srmsim.calibrate.export",
        description="Simulate a small trust and write its records as schema CSVs "
                    "(students.csv, observations.csv) plus the scenario used.")
    p.add_argument("--out", type=out_argument, required=True, help="directory to write into")
    p.add_argument("--schools", type=int, default=4, help="number of schools (default 4)")
    p.add_argument("--per-year", type=int, default=20,
                   help="mean students per year group per school (default 20)")
    p.add_argument("--seed", type=seed_argument, default=7, help="random seed (default 7)")
    p.add_argument("--scenario", type=path_argument,
                   default=None, help="base scenario YAML (default: built-in)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario key, e.g. --set dynamics.absence_logit=-3.8")
    args = p.parse_args(argv)
    from srmsim.errors import SrmsimError

    try:
        from srmsim.settings import parse_settings

        students, obs = generate(args.out, args.schools, args.per_year, args.seed, args.scenario,
                                 parse_settings(args.set))
    except SrmsimError as err:
        print(f"srmsim: error: {err}", file=sys.stderr)
        return err.exit_code
    counts = obs["period_type"].value_counts().to_dict()
    print(json_dumps({"out": str(args.out), "students": len(students),
                      "schools": int(students["school"].nunique()),
                      "observation_rows": {k: int(v) for k, v in counts.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
