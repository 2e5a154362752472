"""Attacks across commands (review): ``srmsim data summary`` and ``srmsim calibrate`` on the same
records, each protected on its own, must not give a count under 10 away together.

Two leaks this file reproduces:

- the two commands counted persistent absence differently (the summary: attendance below 90%;
  calibrate, as the DfE and simulated runs: 10% or more of sessions missed), so the pupils at
  exactly 90% were calibrate's count minus the summary's: on the shipped sample
  ``persistent_absence`` events 115 - ``persistently_absent`` 114 = 1 pupil, and 79 - 78 = 1
  said that pupil is not FSM. The summary also summed weekly and termly rows (a pupil's
  sessions twice) where calibrate measures one kind, so pupils with only termly attendance were
  "with sessions" in one and not the other;
- calibrate's audit did not know the number of pupils the summary prints: 80 pupils in the
  summary and ``n`` 76 for ``attainment_icc`` said 4 have no score; 445 and 442 for
  ``attendance`` said 3 have no (weekly) attendance record.

The attacker here knows every number both commands print and solves for the least and greatest
value of every count it cannot see (integer programme, :func:`test_privacy_attack.recovered`).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srmsim.calibrate.disclosure import CELLS, DERIVED, UNKNOWN, apply, protect_moments
from srmsim.calibrate.moments import MomentSpec, moment_counts, student_measures
from srmsim.data.dataset import Dataset, base_meta, read_dataset
from srmsim.data.describe import describe

sys.path.insert(0, str(Path(__file__).parent))
from test_privacy_attack import T, recovered  # noqa: E402
from test_privacy_calibrate import fitted_moments, missing_few, quiet, truth_cells  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NUMBER = re.compile(r"\d+")

#: counts of the records the summary prints (``--by fsm``: its rows and Total)
POPULATION = ("students", "fsm_all", "non_fsm_all")
#: pupils a calibration moment leaves out, given the summary's counts
LEFT_OUT = {"unknown_all": {"students": 1, "fsm_all": -1, "non_fsm_all": -1},
            "no_sessions": {"students": 1, "sessions": -1},
            "fsm_no_sessions": {"fsm_all": 1, "fsm": -1},
            "non_fsm_no_sessions": {"non_fsm_all": 1, "non_fsm": -1},
            "unknown_no_sessions": {"unknown_all": 1, "fsm_unknown": -1},
            "no_attainment": {"students": 1, "attainment": -1},
            "no_reading": {"students": 1, "reading": -1}}


def summary_counts(ds: Dataset) -> dict[str, str]:
    """What ``data summary --by fsm`` prints of the records' size: the pupils, FSM and non-FSM
    pupils (as printed: a number or ``c``)."""
    table = describe(ds, ["fsm"]).set_index("fsm_group")
    return {"students": str(table.loc["Total", "students"]),
            "fsm_all": str(table.loc["Total", "fsm"]),
            "non_fsm_all": str(table.loc["False", "students"]) if "False" in table.index
            else "0"}


def population_truth(ds: Dataset, cells: dict[str, float]) -> dict[str, float]:
    fsm = ds.students["fsm"].astype("boolean")
    out = {**cells, "students": float(len(ds.students)), "fsm_all": float((fsm == True).sum()),  # noqa: E712
           "non_fsm_all": float((fsm == False).sum())}  # noqa: E712
    for name, parts in LEFT_OUT.items():
        out[name] = sum(k * out[p] for p, k in parts.items())
    return out


def joint_attack(table: pd.DataFrame, summary: dict[str, str],
                 cells: dict[str, float]) -> list[tuple[str, float]]:
    """Hidden counts under T that calibrate's moments table (``table``, as written) together
    with the summary's counts pin to a range narrower than T."""
    names = list(cells)
    pos = {c: i for i, c in enumerate(names)}
    truth = np.array([cells[c] for c in names])
    fixed: dict[int, float] = {pos[c]: float(v) for c, v in summary.items()
                               if NUMBER.fullmatch(v)}
    eqs, les = [], []
    for name, parts in {**DERIVED, **UNKNOWN, **LEFT_OUT}.items():
        eqs.append(({pos[name]: 1.0, **{pos[p]: -float(k) for p, k in parts.items()}}, 0.0))
    les += [({pos["absent_fsm_unknown"]: 1.0, pos["fsm_unknown"]: -1.0}, 0.0),
            ({pos["both"]: 1.0, pos["attainment"]: -1.0}, 0.0),
            ({pos["both"]: 1.0, pos["sessions"]: -1.0}, 0.0),
            # pupils with a score but no sessions are among those without sessions, ...
            ({pos["attainment_no_sessions"]: 1.0, pos["no_sessions"]: -1.0}, 0.0),
            ({pos["sessions_no_attainment"]: 1.0, pos["no_attainment"]: -1.0}, 0.0)]
    for _, row in table.iterrows():
        n_cell, e_cell = CELLS[row["moment"]]
        for col, cell in (("n", n_cell), ("events", e_cell)):
            if cell and NUMBER.fullmatch(str(row[col])):
                fixed[pos[cell]] = float(row[col])
        text = str(row["target"])
        if e_cell and re.fullmatch(r"-?\d+(\.\d*)?", text):  # a share: events / n, rounded
            half = 0.5 * 10.0 ** -len(text.partition(".")[2]) + 1e-9
            les.append(({pos[e_cell]: 1.0, pos[n_cell]: -(float(text) + half)}, 0.0))
            les.append(({pos[e_cell]: -1.0, pos[n_cell]: float(text) - half}, 0.0))
    rows = table.set_index("moment")
    n_text = str(rows.loc["attendance", "n"])
    for moment, p in (("attendance_p10", 0.10), ("attendance_p25", 0.25),
                      ("attendance_p50", 0.50)):
        text = str(rows.loc[moment, "target"])
        if not (NUMBER.fullmatch(n_text) and re.fullmatch(r"[\d.]+", text)):
            continue
        h = p * (int(n_text) - 1)
        for cell, cut in (("absent", 0.9), ("severe", 0.5)):
            les.append(({pos[cell]: -1.0}, -(np.floor(h) + 1)) if float(text) <= cut
                       else ({pos[cell]: 1.0}, float(np.ceil(h))))
    # a count of pupils something is missing for is a count too, unless it is 0 (none missing)
    hidden = np.array([i not in fixed and (names[i] not in {**UNKNOWN, **LEFT_OUT}
                                           or truth[i] > 0) for i in range(len(names))])
    return [(names[i], w) for i, w in recovered(truth, hidden, eqs, les, fixed)]


# --------------------------------------------------------------------------------------------
# persistent absence: one definition in both commands


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("sample")
    status, _, err = quiet(["data", "import", "--students", str(ROOT / "data/sample/students.csv"),
                            "--observations", str(ROOT / "data/sample/observations.csv"),
                            "--out", str(work / "ds")])
    assert status == 0, err
    return work


def test_summary_and_calibrate_count_the_same_persistently_absent_pupils(sample,
                                                                         tmp_path) -> None:
    """On the sample one pupil attends exactly 351 of 390 sessions (90%): the summary printed
    114 persistently absent (78 non-FSM), calibrate 115 (79), so 115 - 114 = 1 pupil at 90%,
    not FSM. Both now count missing 10% or more, as the DfE does. (Those were the sample's
    counts before the population fix of 2026-12-05 regenerated it: 113 now, one still at 90%.)"""
    obs = pd.read_csv(ROOT / "data/sample/observations.csv")
    week = obs[obs["period_type"] == "week"].groupby("student_id")[
        ["sessions_possible", "sessions_attended"]].sum()
    at_90 = int(((week["sessions_possible"] - week["sessions_attended"]) * 10
                 == week["sessions_possible"]).sum())
    assert at_90 == 1  # the count the attack recovered
    status, out, err = quiet(["data", "summary", str(sample / "ds"), "--by", "fsm"])
    assert status == 0, err
    printed = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    columns = printed["fsm_group"]
    absent = {g: printed[g][columns.index("persistently_absent")]
              for g in ("False", "True", "Total")}
    table, _ = fitted_moments(read_dataset(sample / "ds"), tmp_path)
    events = table.set_index("moment")["events"]
    calibrate = {"Total": events["persistent_absence"],
                 "True": events["persistent_absence_fsm"],
                 "False": events["persistent_absence_non_fsm"]}
    for group, count in calibrate.items():
        if NUMBER.fullmatch(count) and NUMBER.fullmatch(absent[group]):
            assert int(count) == int(absent[group]), (group, count, absent[group])
    assert absent["Total"] == "113"


def term_only(n: int = 80, term_only: int = 3, seed: int = 4) -> Dataset:
    """``n`` pupils with weekly attendance (4 weeks of 10 sessions) and a termly score, except
    ``term_only`` of them, whose attendance is only in a termly row (and who have no score:
    calibrate alone then sees nothing missing, every ``n`` is 77)."""
    rng = np.random.default_rng(seed)
    students, obs = [], []
    for i in range(n):
        sid, school = f"S{i:03d}", "ABC"[i % 3]
        students.append({"student_id": sid, "school": school, "year_group": 7 + i % 2,
                         "fsm": i % 4 == 0, "age_months": 140 + i % 12})
        p = rng.beta(30, 2)
        score = float(rng.normal(100, 15))
        term = {"student_id": sid, "school": school, "period_type": "term", "period": 1}
        if i < term_only:
            term |= {"sessions_possible": 40, "sessions_attended": int(rng.binomial(40, p))}
        else:
            term["assessment_score"] = score
            for w in range(1, 5):
                obs.append({"student_id": sid, "school": school, "period_type": "week",
                            "period": w, "sessions_possible": 10,
                            "sessions_attended": int(rng.binomial(10, p))})
        obs.append(term)
    st = pd.DataFrame(students).astype({"fsm": "boolean"})
    return Dataset(st, pd.DataFrame(obs), base_meta())


def test_summary_measures_attendance_over_the_rows_calibrate_does() -> None:
    """Weekly and termly rows are the same sessions: counted once, over the kind calibrate
    uses, a pupil is "with sessions" in both commands or in neither."""
    ds = term_only()
    counts = describe(ds, ["school"]).set_index("school")
    spec = MomentSpec.from_data(ds.students, ds.observations)
    moments = moment_counts(student_measures(ds.students, ds.observations, spec))
    n = int(moments.set_index("moment").loc["attendance", "n"])
    assert n == 77
    shown = str(counts.loc["Total", "with_sessions"])
    assert shown in ("c", str(n))  # 80 before: 80 - 77 = 3 pupils with termly records only


# --------------------------------------------------------------------------------------------
# calibrate's audit knows the pupils the summary prints


def sample_term_only(work: Path, ids: tuple[str, ...] = ("P00200", "P00201", "P00202")
                     ) -> Dataset:
    """The shipped sample with three pupils' attendance given only in termly rows (their
    weekly rows left out): calibrate's own table shows nothing small (``attendance`` n 442,
    ``attainment_icc`` 445, the slope's n hidden)."""
    obs = pd.read_csv(ROOT / "data/sample/observations.csv")
    obs = obs[~((obs["period_type"] == "week") & obs["student_id"].isin(ids))].copy()
    term = (obs["period_type"] == "term") & obs["student_id"].isin(ids)
    obs.loc[term, ["sessions_possible", "sessions_attended"]] = [130, 100]
    obs.to_csv(work / "observations.csv", index=False)
    status, _, err = quiet(["data", "import", "--students",
                            str(ROOT / "data/sample/students.csv"), "--observations",
                            str(work / "observations.csv"), "--out", str(work / "records")])
    assert status == 0, err
    return read_dataset(work / "records")


@pytest.mark.parametrize("make, pinned, param", [
    # the summary's 445 pupils, attendance n 442: 3 without weekly attendance records; the
    # attendance (442 in its digits) is withheld, so the reading gap is fitted
    (sample_term_only, "no_sessions", "population.reading_gap_mean"),
    # the summary's 80 pupils, attainment n 76: 4 without a score
    (lambda _: missing_few(), "sessions_no_attainment", "dynamics.absence_logit"),
], ids=["term-only attendance", "no score"])
def test_calibrate_beside_the_summary_gives_no_missing_count_away(tmp_path, make,
                                                                  pinned, param) -> None:
    ds = make(tmp_path)
    cells = population_truth(ds, truth_cells(ds))
    assert 0 < cells[pinned] < T
    summary = summary_counts(ds)
    assert NUMBER.fullmatch(summary["students"])  # the summary prints the pupils
    table, _ = fitted_moments(ds, tmp_path, param)
    assert joint_attack(table, summary, cells) == []
    rows = table.set_index("moment")
    if pinned == "no_sessions":  # a value an exact fraction of 442: withheld, not just its n
        assert rows.loc["attendance", "target"] == "low" and rows.loc["attendance", "n"] == "c"
    # negative control: calibrate's audit without the summary's counts, as it was, is beaten
    spec = MomentSpec.from_data(ds.students, ds.observations)
    counts = moment_counts(student_measures(ds.students, ds.observations, spec))
    raw = counts.set_index("moment").loc[table["moment"]]
    old = apply(table.assign(n=raw["n"].to_numpy(), events=raw["events"].to_numpy()),
                protect_moments(counts, spec.available))
    old["target"] = table["target"]  # the values the attacker reads; counts as the old audit
    assert pinned in {c for c, _ in joint_attack(old.astype(str), summary, cells)}


def test_a_summary_published_with_the_old_count_is_not_followed_by_the_new(sample) -> None:
    """A summary published before this change said 114 persistently absent on the sample, one
    now says 115: the two side by side give the pupil at 90% away. The ledger of a dataset
    whose summaries were counted the old way refuses a new summary."""
    from srmsim.data.describe import AUDIT_VERSION, LEDGER_FILE

    folder = sample / "ledger"
    status, _, err = quiet(["data", "import", "--students", str(ROOT / "data/sample/students.csv"),
                            "--observations", str(ROOT / "data/sample/observations.csv"),
                            "--out", str(folder)])
    assert status == 0, err
    assert quiet(["data", "summary", str(folder), "--by", "fsm"])[0] == 0
    ledger = json.loads((folder / LEDGER_FILE).read_text())
    assert ledger["audit"] == AUDIT_VERSION > 2
    (folder / LEDGER_FILE).write_text(json.dumps({**ledger, "audit": 2}))
    status, out, err = quiet(["data", "summary", str(folder), "--by", "fsm"])
    assert status == 2 and out == "" and "published by an srmsim whose audit" in err
