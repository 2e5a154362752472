"""How experiments turn runs into effects: the paired difference, its interval, the verdict and
relative change, checked against independent computations on synthetic run tables, and
hostile results folders through `srmsim compare`."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from test_experiment import write_experiment

from srmsim.cli import main
from srmsim.errors import SrmsimError
from srmsim.experiment import compare, load_experiment, run_experiment
from srmsim.experiment.compare import compare_frame, format_effects
from srmsim.experiment.custom import build_outcomes
from srmsim.experiment.outcomes import OUTCOMES, Cohort
from srmsim.experiment.result import ExperimentResult

OUTS = ["attendance", "persistent_absence", "cost", "reading_gap_end", "attainment",
        "weeks_waited"]


def _independent(runs: pd.DataFrame, variant: str, baseline: str, outcome: str,
                 level: float = 0.95) -> dict:
    """The effect by a merge on replication and scipy's t interval (not the code under test)."""
    m = runs[runs["variant"] == variant].merge(runs[runs["variant"] == baseline],
                                               on="replication", suffixes=("", "_b"))
    a, b = m[outcome].to_numpy(float), m[f"{outcome}_b"].to_numpy(float)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    d = a - b
    out = {"n": len(d), "difference": d.mean() if len(d) else np.nan,
           "mean_baseline": b.mean() if len(d) else np.nan}
    if len(d) >= 2:
        lo, hi = stats.t.interval(level, len(d) - 1, loc=d.mean(), scale=stats.sem(d)) \
            if d.std() > 0 else (d.mean(), d.mean())
        if OUTCOMES[outcome].scale == "share" and ((a >= 0) & (a <= 1) & (b >= 0)
                                                   & (b <= 1)).all():
            lo, hi = max(lo, -1.0), min(hi, 1.0)  # two shares differ by at most 100 pp
        out |= {"ci_low": lo, "ci_high": hi}
    return out


def test_paired_effects_match_an_independent_computation_with_failed_and_missing_runs():
    """Random tables: runs missing in either arm (failed), NaN outcomes (empty groups), ties,
    one or zero paired replications, rows shuffled: every number as a merge + scipy gives it."""
    rng = np.random.default_rng(5)
    checked = 0
    for trial in range(60):
        reps = int(rng.integers(1, 9))
        rows = []
        for v in range(int(rng.integers(2, 5))):
            for r in range(reps):
                if rng.random() < 0.2:  # this run failed
                    continue
                row = {"variant": f"v{v}", "replication": r}
                for o in OUTS:
                    x = rng.normal(0.5 + 0.1 * v, 0.1)
                    row[o] = np.nan if rng.random() < 0.1 else 0.5 if rng.random() < 0.1 else x
                rows.append(row)
        runs = pd.DataFrame(rows)
        if "v0" not in set(runs["variant"]):
            continue
        effects = compare_frame(runs.sample(frac=1, random_state=trial), "v0", OUTS)
        for e in effects.itertuples(index=False):
            want = _independent(runs, e.variant, "v0", e.outcome)
            assert e.replications == want["n"]
            if want["n"] == 0:
                assert e.verdict == "not measured" and math.isnan(e.difference)
                continue
            assert e.difference == pytest.approx(want["difference"], rel=1e-12, abs=1e-15)
            assert e.mean_variant - e.mean_baseline == pytest.approx(e.difference, abs=1e-12)
            if want["n"] == 1:
                assert e.verdict == "one run: no interval" and math.isnan(e.ci_low)
                continue
            assert e.ci_low == pytest.approx(want["ci_low"], rel=1e-9, abs=1e-14)
            assert e.ci_high == pytest.approx(want["ci_high"], rel=1e-9, abs=1e-14)
            checked += 1
    assert checked > 100


def test_the_95_percent_interval_covers_the_true_difference_95_percent_of_the_time():
    """2,000 synthetic experiments (10 paired replications, a shared run-level noise as common
    random numbers give, a known difference): the interval covers it 94-96% of the time."""
    rng = np.random.default_rng(2026)
    n_exp, reps, delta = 2000, 10, -0.004
    common = rng.normal(0.15, 0.03, (reps, n_exp))
    base = common + rng.normal(0, 0.01, (reps, n_exp))
    var = common + delta + rng.normal(0, 0.01, (reps, n_exp))
    cols = [f"o{k}" for k in range(n_exp)]
    runs = pd.concat([pd.DataFrame(base, columns=cols).assign(variant="base"),
                      pd.DataFrame(var, columns=cols).assign(variant="v")])
    runs["replication"] = np.tile(np.arange(reps), 2)
    eff = compare_frame(runs, "base", cols)
    covered = ((eff["ci_low"] <= delta) & (delta <= eff["ci_high"])).mean()
    assert 0.94 <= covered <= 0.96, covered  # 0.95 with this seed
    # the unpaired variance is much larger than the paired one: pairing pays
    assert 5 < eff["variance_reduction"].median() < 20  # 10 in expectation here


@pytest.mark.parametrize("outcome,d,verdict", [
    ("attendance", +0.01, "better"), ("attendance", -0.01, "worse"),
    ("persistent_absence", -0.01, "better"), ("persistent_absence", +0.01, "worse"),
    ("cost", +100.0, "higher"), ("cost", -100.0, "lower"),
    ("staff_hours", +5.0, "higher"), ("weeks_waited", +0.5, "worse"),
    ("attendance", 0.0, "no clear change"),
])
def test_verdict_follows_the_better_direction_of_each_outcome(outcome, d, verdict):
    base = np.array([0.90, 0.92, 0.91, 0.93]) * (1000 if outcome == "cost" else 1)
    noise = np.array([0.001, -0.001, 0.0005, -0.0005])
    runs = pd.DataFrame({"variant": ["b"] * 4 + ["v"] * 4, "replication": [0, 1, 2, 3] * 2,
                         outcome: np.r_[base, base + d + noise]})
    e = compare_frame(runs, "b", [outcome]).iloc[0]
    assert e["verdict"] == verdict
    assert e["better"] == (OUTCOMES[outcome].better or "")


def test_an_interval_straddling_zero_and_a_zero_variance_difference():
    runs = pd.DataFrame({"variant": ["b"] * 3 + ["v"] * 3 + ["w"] * 3 + ["z"] * 3,
                         "replication": [0, 1, 2] * 4,
                         "persistent_absence": [0.2, 0.3, 0.25, 0.21, 0.28, 0.26,
                                                0.1, 0.2, 0.15, 0.2, 0.3, 0.25]})
    eff = compare_frame(runs, "b", ["persistent_absence"]).set_index("variant")
    assert eff.loc["v", "ci_low"] < 0 < eff.loc["v", "ci_high"]
    assert eff.loc["v", "verdict"] == "no clear change"
    # every paired difference -0.1 (to rounding): a (near) zero-width interval, clearly better
    assert eff.loc["w", "ci_high"] < 0 and eff.loc["w", "verdict"] == "better"
    assert eff.loc["w", "half_width"] == pytest.approx(0, abs=1e-12)
    # identical runs: no difference, no variance-reduction factor (empty, not infinite)
    assert eff.loc["z", "difference"] == 0 and eff.loc["z", "verdict"] == "no clear change"
    assert np.isnan(eff.loc["z", "variance_reduction"])


def test_relative_change_only_on_ratio_scales_with_a_positive_baseline():
    custom = build_outcomes([{"name": "gap", "statistic": "share", "of": "persistent_absent",
                              "where": "fsm", "minus_where": "not fsm", "scale": "share",
                              "better": "lower"}])
    cols = {"attendance": ([0.9, 0.92], [0.91, 0.93]),          # share: yes
            "reading_gap_end": ([3.0, 4.0], [3.5, 4.6]),         # months: no, even if > 0
            "attainment": ([0.1, 0.2], [0.15, 0.22]),            # SD: no
            "cost": ([0.0, 0.0], [10.0, 12.0]),                  # money from £0: no
            "staff_hours": ([100.0, 110.0], [120.0, 130.0]),     # hours: yes
            "gap": ([0.05, 0.06], [0.04, 0.05])}                 # a gap between groups: no
    runs = pd.DataFrame({"variant": ["b", "b", "v", "v"], "replication": [0, 1, 0, 1],
                         **{k: b + v for k, (b, v) in cols.items()}})
    eff = compare_frame(runs, "b", list(cols), registry=custom).set_index("outcome")
    rel = eff["relative_change"]
    assert rel["attendance"] == pytest.approx(0.01 / 0.91)
    assert rel["staff_hours"] == pytest.approx(20 / 105)
    assert rel[["reading_gap_end", "attainment", "cost", "gap"]].isna().all()
    text = format_effects(eff.reset_index())
    row = next(line for line in text.splitlines() if line.startswith("v        Attendance"))
    # a share's levels in %, its difference in percentage points, its relative change in %
    assert "91.0%" in row and "+1.00 pp" in row and "+1.1%" in row


def test_weeks_waited_is_unmeasured_when_nobody_is_served():
    """Mean weeks queued per student served, over nobody (no policy), was 0.0: every policy
    then read as making waits 'worse' against no policy."""
    nobody = pd.DataFrame({"interventions": np.zeros(5, np.int16),
                           "weeks_waited": np.zeros(5, np.int16)})
    some = pd.DataFrame({"interventions": np.array([0, 1, 2, 0, 1], np.int16),
                         "weeks_waited": np.array([4, 2, 3, 1, 1], np.int16)})
    assert math.isnan(OUTCOMES["weeks_waited"](Cohort(nobody)))
    assert OUTCOMES["weeks_waited"](Cohort(some)) == pytest.approx(2.0)
    runs = pd.DataFrame({"variant": ["none"] * 3 + ["texts"] * 3, "replication": [0, 1, 2] * 2,
                         "weeks_waited": [OUTCOMES["weeks_waited"](Cohort(nobody))] * 3
                         + [2.0, 2.5, 3.0]})
    e = compare_frame(runs, "none", ["weeks_waited"]).iloc[0]
    assert e["verdict"] == "not measured"


def test_referrals_count_flags_as_their_description_says():
    students = pd.DataFrame({"student": [0, 1, 2, 3]})
    events = pd.DataFrame({"student": [0, 0, 1], "event": ["flagged", "flagged", "flagged"],
                           "run_week": [1, 9, 3]})
    # 3 referrals of 2 students among 4: 75 per 100 (not 50 "students referred")
    assert OUTCOMES["referrals"](Cohort(students, events)) == pytest.approx(75.0)
    assert "students referred" not in OUTCOMES["referrals"].description
    assert "again" in OUTCOMES["referrals"].description
    assert math.isnan(OUTCOMES["referrals"](Cohort(students.iloc[:0], None)))  # nobody
    assert OUTCOMES["referrals"](Cohort(students, None)) == 0.0


def test_custom_statistics_match_pandas():
    rng = np.random.default_rng(0)
    n = 300
    s = pd.DataFrame({
        "student": np.arange(n), "fsm": rng.random(n) < 0.3,
        "sex": pd.Categorical(rng.choice(["M", "F"], n)),
        "reading_gap_end": np.where(rng.random(n) < 0.1, np.nan,
                                    rng.normal(-3, 10, n)).astype("float32"),
        "reading_gap_start": rng.normal(-4, 10, n).astype("float32"),
        "attendance_rate": rng.uniform(0.6, 1, n), "persistent_absent": rng.random(n) < 0.2,
        "interventions": rng.integers(0, 3, n).astype("int16"),
        "cost": rng.uniform(0, 100, n).astype("float32")})
    events = pd.DataFrame({"run_week": [3, 5, 2], "event": ["flagged", "flagged", "queued"],
                           "student": [1, 1, 2]})
    defs = {
        "m": ({"statistic": "mean", "of": "reading_gap_end - reading_gap_start", "where": "fsm"},
              (s.reading_gap_end.astype(float) - s.reading_gap_start.astype(float))[s.fsm].mean()),
        "gap": ({"statistic": "share", "of": "persistent_absent", "where": "fsm",
                 "minus_where": "not fsm"},
                s.persistent_absent[s.fsm].mean() - s.persistent_absent[~s.fsm].mean()),
        "p": ({"statistic": "percentile", "q": 10, "of": "reading_gap_end"},
              np.percentile(s.reading_gap_end.dropna().astype(float), 10)),
        "cnt": ({"statistic": "count", "of": "attendance_rate < 0.7 and male"},
                ((s.attendance_rate < 0.7) & (s.sex == "M")).sum()),
        "sm": ({"statistic": "sum", "of": "cost", "where": "served"},
               s.cost[s.interventions > 0].astype(float).sum()),
        "fl": ({"statistic": "share", "of": "flagged"}, 1 / n),
        "ffw": ({"statistic": "mean", "of": "first_flag_week"}, 3.0),
        "none": ({"statistic": "mean", "of": "attendance_rate", "where": "attendance_rate > 2"},
                 np.nan),
    }
    reg = build_outcomes([{"name": k, **d} for k, (d, _) in defs.items()])
    for name, (_, want) in defs.items():
        got = reg[name](Cohort(s, events))
        assert got == pytest.approx(want, rel=1e-9, nan_ok=True), name
    assert not reg["gap"].ratio  # a gap between groups has no relative change


def test_level_may_be_any_real_number_but_not_a_boolean():
    runs = pd.DataFrame({"variant": ["b"] * 3 + ["v"] * 3, "replication": [0, 1, 2] * 2,
                         "attendance": [0.90, 0.91, 0.92, 0.93, 0.92, 0.95]})
    a = compare(runs, "b", ["attendance"], level=np.float32(0.9))  # was refused: not "a float"
    b = compare(runs, "b", ["attendance"], level=0.9)
    assert a["ci_low"].iloc[0] == pytest.approx(b["ci_low"].iloc[0], rel=1e-6)
    with pytest.raises(SrmsimError, match="level="):
        compare(runs, "b", ["attendance"], level=True)


def test_a_missing_baseline_names_the_variants_that_have_runs():
    runs = pd.DataFrame({"variant": ["a", "a", "c", "c"], "replication": [0, 1, 0, 1],
                         "attendance": [0.9, 0.91, 0.92, 0.93]})
    with pytest.raises(SrmsimError, match="'nope' has no finished runs; variants with runs: "
                                          "'a', 'c'"):
        compare(runs, "nope", ["attendance"])


# ---------------------------------------------------------------- edited results folders
@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("effects_review")
    path = write_experiment(tmp, replications=3, outcomes=[
        "attendance", "persistent_absence", "staff_hours",
        {"name": "low", "statistic": "share", "of": "attendance_rate < 0.9", "better": "lower",
         "scale": "share"}])
    run_experiment(load_experiment(path), tmp / "o", workers=1, progress=False)
    return tmp / "o"


def _copy(finished: Path, tmp_path: Path) -> Path:
    out = tmp_path / "o"
    shutil.copytree(finished, out)
    return out


def _edit_run(out: Path, variant: str, replication: int, **values) -> None:
    path = out / "runs" / variant / f"rep-{replication:05d}.parquet"
    df = pd.read_parquet(path)
    for k, v in values.items():
        df[k] = df[k].astype(object) if isinstance(v, str) else df[k]
        df[k] = v
    df.to_parquet(path)


def _edit_manifest(out: Path, **values) -> None:
    manifest = json.loads((out / "manifest.json").read_text())
    manifest.update(values)
    (out / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("definitions,message", [
    ([{"name": "low", "statistic": "median", "of": "attendance_rate < 0.9"}], "statistic"),
    ([{"name": "low", "statistic": "share", "of": "no_such_column"}], "no_such_column"),
    ("garbage", "not a list of outcome definitions"),
    ([["low"]], "not a list of outcome definitions"),
])
def test_edited_outcome_definitions_are_an_error_naming_the_manifest(
        finished, tmp_path, capsys, definitions, message):
    """A hand-edited manifest.json definition raised pydantic's ValidationError (a traceback,
    exit 1) from `srmsim compare` and ExperimentResult.load."""
    out = _copy(finished, tmp_path)
    _edit_manifest(out, outcome_definitions=definitions)
    assert main(["compare", str(out)]) == 2
    err = capsys.readouterr().err
    assert "manifest.json: its outcome_definitions are not ones srmsim wrote" in err
    assert message in err and "Traceback" not in err


def test_a_flipped_better_in_the_manifest_is_refused_not_a_flipped_verdict(
        finished, tmp_path, capsys):
    """Editing a custom outcome's ``better`` in manifest.json turned every verdict on it round,
    silently: the definitions are now checked against the settings the experiment hash covers
    (and, edited there too, against the hash every run carries)."""
    out = _copy(finished, tmp_path)
    assert main(["compare", str(out)]) == 0
    capsys.readouterr()
    manifest = json.loads((out / "manifest.json").read_text())
    flipped = [dict(d, better="higher") for d in manifest["outcome_definitions"]]
    _edit_manifest(out, outcome_definitions=flipped)
    assert main(["compare", str(out)]) == 2
    err = capsys.readouterr().err
    assert "outcome_definitions are not the experiment's" in err and "Traceback" not in err
    config = manifest["experiment_config"]
    config["outcomes"] = [dict(o, better="higher") if isinstance(o, dict) else o
                          for o in config["outcomes"]]
    _edit_manifest(out, experiment_config=config)
    assert main(["compare", str(out)]) == 2
    assert "no longer give its experiment_hash" in capsys.readouterr().err
    with pytest.raises(SrmsimError, match="experiment_hash"):
        ExperimentResult.load(out)
    # results of an srmsim that kept no settings are read as they are
    older = {k: v for k, v in manifest.items() if k != "experiment_config"}
    (out / "manifest.json").write_text(json.dumps(older))
    assert main(["compare", str(out)]) == 0


def test_compare_on_edited_run_files(finished, tmp_path, capsys):
    """A NaN outcome is left out of its row with a printed note; infinite or non-numeric text
    is refused naming the run; the store's own checks refuse a duplicated run file."""
    out = _copy(finished, tmp_path)
    assert main(["compare", str(out)]) == 0
    whole = pd.read_csv(out / "effects.csv")
    _edit_run(out, "texts", 1, attendance=np.nan)
    capsys.readouterr()
    assert main(["compare", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "'texts' Attendance: 2 of 3 replications" in printed
    eff = pd.read_csv(out / "effects.csv").set_index(["variant", "outcome"])
    assert eff.loc[("texts", "attendance"), "replications"] == 2
    assert eff.loc[("more_staff", "attendance"), "replications"] == 3
    runs = pd.concat(pd.read_parquet(p) for p in sorted((out / "runs").glob("*/*.parquet")))
    want = _independent(runs, "texts", "none", "attendance")
    assert eff.loc[("texts", "attendance"), "difference"] == pytest.approx(want["difference"])
    assert eff.loc[("texts", "attendance"), "ci_low"] == pytest.approx(want["ci_low"])
    # the other rows are as before
    untouched = whole.set_index(["variant", "outcome"]).drop(index=[("texts", "attendance")])
    pd.testing.assert_frame_equal(eff.drop(index=[("texts", "attendance")]), untouched)
    for value, message in ((np.inf, "is infinite"), ("n/a", "is not a number")):
        _edit_run(out, "texts", 1, attendance=value)
        assert main(["compare", str(out)]) == 2  # named by its run file
        assert f"texts/rep-00001.parquet: outcome 'attendance' {message}" in \
            capsys.readouterr().err
    shutil.copy(out / "runs" / "texts" / "rep-00002.parquet",
                out / "runs" / "texts" / "rep-00001.parquet")
    assert main(["compare", str(out)]) == 2
    assert "not the run its name says" in capsys.readouterr().err


def test_compare_with_a_baseline_that_is_not_a_variant(finished, tmp_path, capsys):
    out = _copy(finished, tmp_path)
    assert main(["compare", str(out), "--baseline", "Texts"]) == 2
    err = capsys.readouterr().err
    assert "'Texts' has no finished runs; variants with runs:" in err and "'texts'" in err


def test_pyarrow_backed_and_nullable_runs_tables():
    """A runs table read with ``dtype_backend="pyarrow"`` raised NotImplementedError ("mod not
    implemented") from the replication check; nullable and pyarrow missing values are NaN."""
    import io

    runs = pd.DataFrame({"variant": ["b"] * 3 + ["v"] * 3, "replication": [0, 1, 2] * 2,
                         "attendance": [0.90, 0.91, 0.92, 0.93, np.nan, 0.95]})
    want = compare(runs, "b", ["attendance"])
    cols = ["replications", "difference", "ci_low", "ci_high", "verdict"]
    arrow = pd.read_csv(io.StringIO(runs.to_csv(index=False)), dtype_backend="pyarrow")
    nullable = runs.astype({"attendance": "Float64", "replication": "Int64"})
    for table in (arrow, nullable):
        pd.testing.assert_frame_equal(compare(table, "b", ["attendance"])[cols], want[cols])
    assert want["replications"].iloc[0] == 2
    with pytest.raises(SrmsimError, match="not a number"):
        compare(arrow.assign(attendance=arrow["attendance"].astype("string[pyarrow]")
                             .where(arrow.index != 1, "n/a")), "b", ["attendance"])


def test_compare_report_with_another_baseline_says_why_there_is_no_report(finished, tmp_path,
                                                                          capsys):
    """`srmsim compare DIR --baseline texts --report` wrote no report.html and said nothing."""
    out = _copy(finished, tmp_path)
    (out / "report.html").unlink(missing_ok=True)
    assert main(["compare", str(out), "--baseline", "texts", "--report"]) == 0
    printed = capsys.readouterr().out
    assert not (out / "report.html").exists()
    assert "report.html is written against the experiment's own baseline (none)" in printed
    eff = pd.read_csv(out / "effects-vs-texts.csv")
    assert set(eff["baseline"]) == {"texts"} and set(eff["variant"]) == {"none", "more_staff"}
    # against another baseline the pairs are as independent code gives them
    runs = pd.concat(pd.read_parquet(p) for p in sorted((out / "runs").glob("*/*.parquet")))
    row = eff.set_index(["variant", "outcome"]).loc[("none", "attendance")]
    want = _independent(runs, "none", "texts", "attendance")
    assert row["difference"] == pytest.approx(want["difference"])
    assert row["ci_high"] == pytest.approx(want["ci_high"])


def test_reading_behind_is_a_share_of_the_students_with_a_reading_test():
    """A student never tested (blank reading_gap_end) was counted as not behind: half the
    students blank halved the share."""
    from srmsim.experiment.outcomes import OUTCOMES, Cohort

    gaps = pd.Series([-30.0, -10.0, np.nan, np.nan])
    share = OUTCOMES["reading_behind_2y"].measure(Cohort(pd.DataFrame({"reading_gap_end": gaps})))
    assert share == 0.5
    none = OUTCOMES["reading_behind_2y"].measure(
        Cohort(pd.DataFrame({"reading_gap_end": [np.nan, np.nan]})))
    assert np.isnan(none)


def test_runs_without_a_partner_are_named_not_dropped_silently():
    """A replication missing from one arm dropped its pair without a word, and two runs tables
    numbered apart (nothing in common) gave 0 replications, "not measured"."""
    import warnings

    from srmsim.experiment.compare import PairingWarning, compare

    rng = np.random.default_rng(6)
    a = rng.normal(0.9, 0.01, 8)
    runs = pd.DataFrame({"variant": ["base"] * 8 + ["pol"] * 8,
                         "replication": list(range(8)) * 2,
                         "attendance": np.r_[a, a + 0.005 + rng.normal(0, 0.002, 8)]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the complete table: no warning
        full = compare(runs, "base", ["attendance"])
    assert full["replications"].tolist() == [8]
    with pytest.warns(PairingWarning, match=r"the baseline: 1 replication with no partner in "
                                            r"'pol' \(4\)"):
        seven = compare(runs.drop(index=12), "base", ["attendance"])
    assert seven["replications"].tolist() == [7]
    apart = runs.assign(replication=runs["replication"] + 100 * (runs["variant"] == "pol"))
    with pytest.warns(PairingWarning, match=r"variant 'pol': 8 replications with no partner "
                                            r"in the baseline \(100, 101, 102, 103, 104 and 3 "
                                            r"more\)"):
        none = compare(apart, "base", ["attendance"])
    assert none["verdict"].tolist() == ["not measured"]
