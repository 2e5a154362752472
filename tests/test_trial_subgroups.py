"""Subgroup estimates of an in-silico trial: each subgroup analysed as the trial is, next to its
true effect; the interaction test finds a difference that exists and covers the truth at about
its level; small groups are "too few", and from real records no count of them is written."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats as sps

from srmsim import stats
from srmsim.cli import main
from srmsim.trial import replicate, run_trial, trial_from_dict
from srmsim.trial import subgroups as sg
from srmsim.trial.spec import Trial

pytestmark = pytest.mark.xdist_group("trial")

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "scenarios"


def fsm_only(replications: int = 3, **overrides) -> dict:
    """A reading trial whose policy refers only FSM students: its effect is FSM's alone."""
    return {
        "name": "fsm_only",
        "scenario": "reading_age.yaml",
        "overrides": {"trust.n_schools": 2, "trust.students_per_year_group": 40,
                      "policy.rules.low_reading": "fsm and reading_gap < -6", **overrides},
        "randomise": {"unit": "students"},
        "outcome": "reading_gap_end",
        "baseline": "reading_gap_start",
        "replications": replications,
        "seed": 5,
    }


def make(spec: dict) -> Trial:
    return trial_from_dict(spec, "test-trial", SCENARIOS)


@pytest.fixture(scope="module")
def fsm_result():
    return run_trial(make(fsm_only()))


def row(table: pd.DataFrame, factor: str, level: str) -> pd.Series:
    return table[(table["factor"] == factor) & (table["level"] == level)].iloc[0]


def test_an_effect_only_for_fsm_students_is_found_by_the_interaction_test(fsm_result) -> None:
    table = fsm_result.subgroups
    assert table is not None and set(table["replication"]) == {0, 1, 2}
    fsm = table[table["factor"] == "fsm"]
    not_fsm = fsm[fsm["level"] == "not FSM"]
    # nobody outside FSM is ever referred: their true effect is exactly 0 in every replication
    assert (not_fsm["true_effect"] == 0).all()
    assert (fsm.loc[fsm["level"] == "FSM", "true_effect"] > 3).all()
    diff = fsm[fsm["level"] == sg.DIFFERENCE]
    assert (diff["status"] == sg.ESTIMATED).all()
    assert (diff["p_value"] < 0.05).all()  # the difference is found in every replication
    assert diff["covered"].all()
    summary = fsm_result.subgroup_summary()
    d = row(summary, "fsm", sg.DIFFERENCE)
    assert d["replications_estimated"] == 3 and d["rejected"] == 1.0
    assert d["true_effect"] == pytest.approx(
        row(summary, "fsm", "FSM")["true_effect"] - row(summary, "fsm", "not FSM")["true_effect"])
    text = fsm_result.subgroup_table()
    assert "exploratory" in text and "interaction test" in text
    assert "FSM minus not FSM (interaction)" in text
    assert "months" in text


def test_a_subgroup_is_analysed_exactly_as_the_trial_is() -> None:
    trial = make(fsm_only(1))
    rep = replicate(trial, 0)
    fsm = rep.trial_students.set_index("uid").loc[rep.analysed["uid"], "fsm"].to_numpy()
    data = rep.analysed.assign(f=fsm.astype(float),
                               t=(rep.analysed["arm"] == "treated").to_numpy(dtype=float))
    # the trial's analysis (OLS, school fixed effects, HC1, baseline) on the FSM rows alone
    alone = stats.estimate_effect(data[fsm], "reading_gap_end", "arm", "control",
                                  covariates=["reading_gap_start"], fixed_effects="school",
                                  se="hc1").effect()
    got = row(rep.subgroups, "fsm", "FSM")
    assert got["estimate"] == pytest.approx(float(alone["estimate"]), rel=1e-9)
    assert got["ci_low"] == pytest.approx(float(alone["ci_low"]), rel=1e-9)
    tr = data[fsm & (data["arm"] == "treated")]
    truth = (tr["reading_gap_end"] - tr["reading_gap_end_counterfactual"]).mean()
    assert got["true_effect"] == pytest.approx(truth)
    # the interaction: arm x FSM in the trial's model on every analysed row
    fit = stats.regress(data, "reading_gap_end ~ t + f + t:f + reading_gap_start + C(school)",
                        se="hc1")
    term = [t for t in fit.table.index if ":" in t][0]
    diff = row(rep.subgroups, "fsm", sg.DIFFERENCE)
    assert diff["estimate"] == pytest.approx(float(fit.coef(term)["estimate"]), rel=1e-9)
    assert diff["se"] == pytest.approx(float(fit.coef(term)["se"]), rel=1e-9)
    assert diff["p_value"] == pytest.approx(float(fit.coef(term)["p_value"]), rel=1e-6)


def _synthetic(rng: np.random.Generator, n: int = 400, effect_fsm: float = 2.0,
               effect_other: float = 0.5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """An analysed table of a student-randomised trial in 4 schools with a known effect by FSM,
    and the students table its subgroups come from."""
    uid = np.arange(n)
    school = uid % 4
    fsm = rng.random(n) < 0.3
    arm = np.zeros(n, dtype=bool)
    for s in range(4):  # complete randomisation within schools
        idx = np.flatnonzero(school == s)
        arm[rng.permutation(idx)[: len(idx) // 2]] = True
    base = rng.normal(0, 1, n)
    y0 = 0.5 * base + school * 0.3 + rng.normal(0, 1, n)
    y = y0 + np.where(arm, np.where(fsm, effect_fsm, effect_other), 0.0)
    analysed = pd.DataFrame({"uid": uid, "school": school,
                             "arm": np.where(arm, "treated", "control"),
                             "reading_gap_end": y, "reading_gap_end_counterfactual": y0,
                             "reading_gap_start": base})
    students = pd.DataFrame({"uid": uid, "fsm": fsm, "sen": False, "eal": False, "sex": "F"})
    return analysed, students


def test_subgroup_and_interaction_intervals_cover_at_about_their_level(monkeypatch) -> None:
    """Over 40 synthetic trials with known subgroup effects (FSM +2, others +0.5), each
    subgroup's 95% interval and the interaction's cover their truth within Monte-Carlo error
    (at most 6 misses in 40; the slow study below runs the simulation itself)."""
    monkeypatch.setattr(sg, "FACTORS", (("fsm", "FSM", "not FSM"),))
    trial = make(fsm_only(1))
    rng = np.random.default_rng(2026)
    hits = {"FSM": 0, "not FSM": 0, sg.DIFFERENCE: 0}
    reps = 40
    for _ in range(reps):
        analysed, students = _synthetic(rng)
        table = sg.subgroup_estimates(trial, analysed, students).set_index("level")
        assert (table["status"] == sg.ESTIMATED).all()
        for level in hits:
            hits[level] += bool(table.loc[level, "covered"])
        # the truth of the difference is the one built in (sample truths, exactly)
        assert table.loc[sg.DIFFERENCE, "true_effect"] == pytest.approx(1.5)
    low, high = sps.binom.ppf([0.0005, 0.9995], reps, 0.95)
    for level, k in hits.items():
        assert low <= k <= high, (level, k)


def test_small_groups_are_too_few_not_estimated() -> None:
    trial = make(fsm_only(1, **{"trust.students_per_year_group": 8}))
    rep = replicate(trial, 0)
    table = rep.subgroups
    small = table[(table["level"] != sg.DIFFERENCE)
                  & ((table["n_treated"] < sg.MIN_PER_ARM) | (table["n_control"] < sg.MIN_PER_ARM))]
    assert len(small), "the setting should leave some subgroup with under 10 in an arm"
    assert small["status"].str.startswith("too few students").all()
    assert small["estimate"].isna().all() and small["ci_low"].isna().all()
    for factor in small["factor"]:
        assert row(table, factor, sg.DIFFERENCE)["status"].startswith("not tested")
    big = table[(table["level"] != sg.DIFFERENCE) & (table["n_treated"] >= sg.MIN_PER_ARM)
                & (table["n_control"] >= sg.MIN_PER_ARM)]
    assert (big["status"] != "too few students").all()


def test_from_records_no_count_of_a_factor_with_a_small_group_is_written(monkeypatch) -> None:
    trial = make(fsm_only(1, **{"trust.students_per_year_group": 8}))
    rep = replicate(trial, 0)
    monkeypatch.setattr(Trial, "from_records", property(lambda self: True))
    table = sg.subgroup_estimates(trial, rep.analysed, rep.trial_students)
    small = [f for f in table["factor"].unique()
             if (table.loc[(table["factor"] == f) & (table["level"] != sg.DIFFERENCE),
                           "status"] != sg.ESTIMATED).any()]
    assert small
    numbers = ["estimate", "se", "ci_low", "ci_high", "p_value", "df", "true_effect",
               "n_treated", "n_control", "n_clusters"]
    for factor in small:  # neither group: its count (or df, or p-value) and the total give it
        cells = table.loc[table["factor"] == factor, numbers]
        assert cells.isna().all(axis=None)
        assert not table.loc[table["factor"] == factor, "status"].eq(sg.ESTIMATED).any()
    counts = table[["n_treated", "n_control"]].to_numpy(dtype=float)
    assert not ((counts < 10) & np.isfinite(counts)).any()
    # the same trust not from records shows its counts, small ones included
    monkeypatch.undo()
    shown = sg.subgroup_estimates(trial, rep.analysed, rep.trial_students)
    assert (shown[["n_treated", "n_control"]].to_numpy(dtype=float) < 10).any()
    # ... and estimates the other group of such a factor, which from records is not shown
    other = shown[shown["factor"].isin(small) & (shown["status"] == sg.ESTIMATED)]
    assert len(other) and other["df"].notna().all()


def test_subgroup_files_are_written_and_resume_to_the_same_bytes(tmp_path, capsys) -> None:
    spec = fsm_only(3) | {"scenario": str(SCENARIOS / "reading_age.yaml")}
    path = tmp_path / "trial.yaml"
    path.write_text(yaml.safe_dump(spec))
    full, part = tmp_path / "full", tmp_path / "part"
    assert main(["trial", str(path), "--out", str(full), "--quiet", "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "Subgroups" in printed and "FSM minus not FSM (interaction)" in printed
    assert "trial_subgroups.csv" in printed
    table = pd.read_csv(full / "trial_subgroups.csv")
    assert list(table.columns) == ["replication", *sg.COLUMNS]
    assert (full / "trial_subgroup_summary.csv").is_file()
    html = (full / "report.html").read_text()
    assert "Subgroup estimates" in html and "interaction" in html
    assert "mean estimate with its 95% interval" in html  # the figure
    # an interrupted trial (replication 1 lost) resumed on 2 workers: the same files
    assert main(["trial", str(path), "--out", str(part), "--quiet", "--no-report",
                 "--workers", "1"]) == 0
    store = part / "store"
    for f in [*store.glob("runs/trial/rep-00001.parquet"), *store.glob("detail/rep-00001-*")]:
        f.unlink()
    assert main(["trial", str(path), "--out", str(part), "--quiet", "--no-report",
                 "--workers", "2", "--resume"]) == 0
    for name in ("trial_subgroups.csv", "trial_subgroup_summary.csv", "trial_runs.csv"):
        assert (part / name).read_bytes() == (full / name).read_bytes(), name
    # the report shows only what the store keeps: an edited estimate is refused by name
    edited = table.copy()
    edited.loc[0, "estimate"] = 99.0
    edited.to_csv(full / "trial_subgroups.csv", index=False)
    capsys.readouterr()
    assert main(["report", str(full)]) == 2
    err = capsys.readouterr().err
    assert "trial_subgroups.csv" in err and "hand-edited" in err and "Traceback" not in err


def test_an_edited_subgroup_file_in_the_store_is_refused(tmp_path, capsys) -> None:
    spec = fsm_only(1) | {"scenario": str(SCENARIOS / "reading_age.yaml")}
    path = tmp_path / "trial.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    assert main(["trial", str(path), "--out", str(out), "--quiet", "--no-report",
                 "--workers", "1"]) == 0
    detail = out / "store" / "detail" / "rep-00000-subgroups.parquet"
    t = pd.read_parquet(detail)
    t.loc[0, "estimate"] = 99.0
    t.to_parquet(detail)
    capsys.readouterr()
    assert main(["trial", str(path), "--out", str(out), "--quiet", "--no-report",
                 "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "rep-00000-subgroups.parquet" in err and "Traceback" not in err


def test_summary_counts_only_estimated_replications() -> None:
    table = pd.DataFrame([
        {**{c: math.nan for c in sg.COLUMNS}, "replication": r, "factor": "fsm", "level": lev,
         "estimate": 1.0, "true_effect": 1.0, "p_value": p, "covered": cov, "status": status}
        for r, (lev, p, cov, status) in enumerate([
            ("FSM", 0.01, True, sg.ESTIMATED), ("FSM", 0.2, False, sg.ESTIMATED),
            ("FSM", math.nan, False, "too few students (under 10 in an arm)")])])
    s = sg.summarise_subgroups(table).iloc[0]
    assert s["replications_estimated"] == 2 and s["coverage"] == 0.5
    shown = sg.subgroup_display(sg.summarise_subgroups(table), 3)
    assert shown["note"].iloc[0] == "estimated in 2 of 3"


@pytest.mark.slow
def test_subgroup_coverage_over_120_simulated_trials() -> None:
    """The simulation itself: 120 replications of the FSM-only trial (about 3 minutes on 2
    cores); every subgroup's 95% interval and every interaction's cover their true effects
    within Monte-Carlo error (99.9% binomial limits), and the
    FSM difference is found in nearly every replication."""
    result = run_trial(make(fsm_only(120)), workers=2)
    summary = result.subgroup_summary()
    for r in summary.itertuples():
        k = r.replications_estimated  # a small group (SEN) is too few in a few replications
        assert k >= 90, r
        if r.factor == sg.YEAR and r.level == sg.DIFFERENCE:  # a joint test: no interval
            # (the effect does not differ by year: its false-positive rate, about 5%)
            assert r.rejected * k <= sps.binom.isf(0.0005, k, 0.05), r
            continue
        assert r.coverage * k >= sps.binom.ppf(0.0005, k, 0.95), r
        assert r.coverage * k <= sps.binom.isf(0.0005, k, 0.95), r
    assert row(summary, "fsm", sg.DIFFERENCE)["rejected"] > 0.9


def test_a_trial_from_records_writes_no_subgroup_count_under_10(tmp_path, capsys) -> None:
    """End to end on pupil records (240 pupils, 2 schools, 2 replications): whatever a
    subgroup's size, no count under 10 is in trial_subgroups.csv, its summary or what is
    printed, and the folder is owner-only."""
    from conftest import two_school_records

    records = two_school_records(tmp_path)
    spec = {"name": "rec", "scenario": str(SCENARIOS / "reading_age.yaml"),
            "overrides": {"population.records": str(records)},
            "randomise": {"unit": "students"}, "outcome": "reading_gap_end",
            "baseline": "reading_gap_start", "population": "flagged", "replications": 2,
            "seed": 3}
    path = tmp_path / "trial.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    assert main(["trial", str(path), "--out", str(out), "--quiet", "--no-report",
                 "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(out / "trial_subgroups.csv")
    levels = table[table["level"] != sg.DIFFERENCE]
    assert (levels["status"] != sg.ESTIMATED).any(), "some group should be too few here"
    counts = table[["n_treated", "n_control"]].to_numpy(dtype=float)
    assert not ((counts < 10) & np.isfinite(counts)).any()
    numbers = ["estimate", "se", "ci_low", "ci_high", "p_value", "df", "true_effect",
               "n_treated", "n_control", "n_clusters"]
    for (_, factor), g in levels.groupby(["replication", "factor"]):
        if (g["status"] != sg.ESTIMATED).any():
            assert g[numbers].isna().all(axis=None), factor
    assert "Subgroups" in printed
    assert (out.stat().st_mode & 0o077) == 0
    assert ((out / "trial_subgroups.csv").stat().st_mode & 0o077) == 0


def test_a_failing_subgroup_fit_never_fails_the_replication(monkeypatch) -> None:
    """A subgroup's fit that fails in any way (a singular matrix inside statsmodels, say) is
    that row's status; the replication and its main result stand as they were."""
    import srmsim.trial.analyse as analyse

    trial = make(fsm_only(1))
    before = replicate(trial, 0).row
    real = analyse.fit_arms

    def singular(trial, data, treatment="arm", covariates=(), **kw):
        if treatment == "_interaction":
            raise np.linalg.LinAlgError("Singular matrix")
        return real(trial, data, treatment, covariates, **kw)

    monkeypatch.setattr(analyse, "fit_arms", singular)
    rep = replicate(trial, 0)
    assert pd.Series(rep.row).equals(pd.Series(before))  # NaN in the same places
    diff = rep.subgroups[rep.subgroups["level"] == sg.DIFFERENCE]
    assert diff["status"].str.startswith("not estimable: LinAlgError").all()
    assert diff["estimate"].isna().all()


def test_no_subgroups_skips_them_and_a_resumed_trial_keeps_its_first_choice(tmp_path,
                                                                            capsys) -> None:
    """--no-subgroups writes no subgroup files and the same trial_runs.csv; resumed without the
    flag, the trial keeps the choice it began with (its files as an uninterrupted run's)."""
    spec = fsm_only(2) | {"scenario": str(SCENARIOS / "reading_age.yaml")}
    path = tmp_path / "trial.yaml"
    path.write_text(yaml.safe_dump(spec))
    base = ["trial", str(path), "--quiet", "--no-report", "--workers", "1"]
    full, skip = tmp_path / "full", tmp_path / "skip"
    assert main([*base, "--out", str(full)]) == 0
    assert main([*base, "--out", str(skip), "--no-subgroups"]) == 0
    printed = capsys.readouterr().out
    assert "--no-subgroups" in printed.split("Subgroups:")[-1]
    assert not (skip / "trial_subgroups.csv").exists()
    assert not (skip / "trial_subgroup_summary.csv").exists()
    assert (skip / "trial_runs.csv").read_bytes() == (full / "trial_runs.csv").read_bytes()
    kept = (skip / "trial_runs.csv").read_bytes()
    for f in [*(skip / "store").glob("runs/trial/rep-00001.parquet"),
              *(skip / "store").glob("detail/rep-00001-*")]:
        f.unlink()
    assert main([*base, "--out", str(skip), "--resume"]) == 0
    assert not (skip / "trial_subgroups.csv").exists()
    assert not list((skip / "store" / "detail").glob("*subgroups*"))
    assert (skip / "trial_runs.csv").read_bytes() == kept
