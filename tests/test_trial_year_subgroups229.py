"""Year group as a trial subgroup: per-level effects by the trial's own analysis beside their
truths, the joint Wald test of arm x year group with the df of the SE type used (it recovers
a known difference and rejects at about its level when there is none), withheld whole from
real records; a small subgroup's HC2 in place of HC1; the header's plain gloss of its standard
errors; trial.png's legend beside its axes."""

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
from srmsim.trial import subgroups as sg
from srmsim.trial import trial_from_dict
from srmsim.trial.report import plot
from srmsim.trial.spec import Trial

pytestmark = pytest.mark.xdist_group("trial")

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "scenarios"
YEARS = [7, 8, 9, 10, 11]


def make(unit: str = "students", n_schools: int = 4, **analysis) -> Trial:
    spec = {"name": "years", "scenario": "reading_age.yaml",
            "overrides": {"trust.n_schools": n_schools, "trust.students_per_year_group": 40},
            "randomise": {"unit": unit}, "outcome": "reading_gap_end",
            "baseline": "reading_gap_start", "replications": 1, "seed": 5}
    if analysis:
        spec["analysis"] = analysis
    return trial_from_dict(spec, "test-trial", SCENARIOS)


def synthetic(rng: np.random.Generator, effects: dict[int, float], n_schools: int = 4,
              per_school: int = 250, unit: str = "students", school_year_sd: float = 0.0,
              year_sizes: dict[int, float] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """An analysed table with a known effect per year group (``effects``), and the students
    table its year groups come from. ``unit``: students randomised within schools, or whole
    schools; ``school_year_sd``: a shock shared by a school's year group (which only a
    cluster-robust SE sees)."""
    school = np.repeat(np.arange(n_schools), per_school)
    n = len(school)
    shares = np.array([(year_sizes or {}).get(y, 1.0) for y in YEARS])
    year = rng.choice(YEARS, n, p=shares / shares.sum())
    if unit == "students":
        arm = np.zeros(n, dtype=bool)
        for s in range(n_schools):
            idx = np.flatnonzero(school == s)
            arm[rng.permutation(idx)[: len(idx) // 2]] = True
    else:
        arm = (rng.permutation(n_schools) < n_schools // 2)[school]
    base = rng.normal(0, 1, n)
    shock = rng.normal(0, school_year_sd, (n_schools, len(YEARS)))[school, year - YEARS[0]]
    y0 = 0.5 * base + 0.3 * school + shock + rng.normal(0, 1, n)
    y = y0 + np.where(arm, np.array([effects[int(v)] for v in year]), 0.0)
    uid = np.arange(n)
    analysed = pd.DataFrame({"uid": uid, "school": school,
                             "arm": np.where(arm, "treated", "control"),
                             "reading_gap_end": y, "reading_gap_end_counterfactual": y0,
                             "reading_gap_start": base})
    students = pd.DataFrame({"uid": uid, "year_group": year})
    return analysed, students


@pytest.fixture
def years_only(monkeypatch):
    """Only the year-group factor (the synthetic tables have no FSM, SEN, EAL or sex)."""
    monkeypatch.setattr(sg, "FACTORS", ())


def year_rows(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["factor"] == sg.YEAR].set_index("level")


def test_per_level_estimates_recover_known_year_effects_and_the_joint_test_finds_them(
        years_only) -> None:
    """Effects 0, 0.5, 1, 1.5 and 2 by year group in a student-randomised trial: each level's
    estimate is its truth within its interval's error (the truths are the ones built in),
    and the joint test rejects "the same effect in every year group"."""
    trial = make()
    rng = np.random.default_rng(229)
    effects = {7: 0.0, 8: 0.5, 9: 1.0, 10: 1.5, 11: 2.0}
    analysed, students = synthetic(rng, effects)
    rows = year_rows(sg.subgroup_estimates(trial, analysed, students))
    assert list(rows.index) == [*(f"Year {y}" for y in YEARS), sg.DIFFERENCE]
    for y in YEARS:
        r = rows.loc[f"Year {y}"]
        assert r["status"] == sg.ESTIMATED
        assert r["true_effect"] == pytest.approx(effects[y])
        assert abs(r["estimate"] - effects[y]) < 3.5 * r["se"], (y, r["estimate"])
        assert r["n_treated"] + r["n_control"] == (students["year_group"] == y).sum()
    joint = rows.loc[sg.DIFFERENCE]
    assert joint["status"] == sg.ESTIMATED and joint["p_value"] < 1e-6
    assert math.isnan(joint["estimate"]) and not joint["covered"]
    assert "F(4, " in joint["note"]


def test_a_level_is_analysed_exactly_as_the_trial_is_and_the_joint_test_is_statsmodels(
        years_only) -> None:
    """Year 9's row is the trial's analysis (OLS, school fixed effects, HC1, baseline) on Year
    9 alone; the joint test is statsmodels' F test of the four arm x year terms in the model
    with every year group, with N - k df."""
    trial = make()
    analysed, students = synthetic(np.random.default_rng(1), {y: 1.0 for y in YEARS})
    rows = year_rows(sg.subgroup_estimates(trial, analysed, students))
    year = students["year_group"].to_numpy()
    alone = stats.estimate_effect(analysed[year == 9], "reading_gap_end", "arm", "control",
                                  covariates=["reading_gap_start"], fixed_effects="school",
                                  se="hc1").effect()
    assert rows.loc["Year 9", "estimate"] == pytest.approx(float(alone["estimate"]), rel=1e-9)
    assert rows.loc["Year 9", "ci_high"] == pytest.approx(float(alone["ci_high"]), rel=1e-9)
    import statsmodels.formula.api as smf

    data = analysed.assign(t=(analysed["arm"] == "treated").astype(float), year=year)
    fit = smf.ols("reading_gap_end ~ t * C(year) + reading_gap_start + C(school)",
                  data).fit(cov_type="HC1")
    terms = [n for n in fit.params.index if n.startswith("t:")]
    assert len(terms) == 4
    want = fit.f_test(", ".join(f"{t} = 0" for t in terms))
    joint = rows.loc[sg.DIFFERENCE]
    assert joint["df"] == pytest.approx(float(want.df_denom))
    assert joint["p_value"] == pytest.approx(float(want.pvalue), rel=1e-6)


def test_cluster_robust_joint_test_uses_hotelling_with_the_schools_df(years_only) -> None:
    """Schools randomised, se cluster (CR1): the joint test is statsmodels' cluster-robust
    Wald statistic read as Hotelling's T^2 on G - 1 df: F(q, G - q); se auto (CR2 with 12
    schools) the same with the CR2 covariance."""
    rng = np.random.default_rng(3)
    analysed, students = synthetic(rng, {y: 1.0 for y in YEARS}, n_schools=12, per_school=60,
                                   unit="schools", school_year_sd=0.3)
    trial = make("schools", 12, se="cluster")
    joint = year_rows(sg.subgroup_estimates(trial, analysed, students)).loc[sg.DIFFERENCE]
    import statsmodels.formula.api as smf

    data = analysed.assign(t=(analysed["arm"] == "treated").astype(float),
                           year=students["year_group"].to_numpy())
    fit = smf.ols("reading_gap_end ~ t * C(year) + reading_gap_start", data).fit(
        cov_type="cluster", cov_kwds={"groups": data["school"], "use_correction": True,
                                      "df_correction": True})
    terms = [n for n in fit.params.index if n.startswith("t:")]
    wald = float(fit.wald_test(", ".join(f"{t} = 0" for t in terms), use_f=False,
                               scalar=True).statistic)
    g, q = 12, 4
    assert joint["df"] == g - q
    want = sps.f.sf(wald * (g - q) / ((g - 1) * q), q, g - q)
    assert joint["p_value"] == pytest.approx(want, rel=1e-6)
    assert "cluster-robust (CR1)" in joint["note"]
    cr2 = year_rows(sg.subgroup_estimates(make("schools", 12), analysed, students))
    assert "CR2" in cr2.loc[sg.DIFFERENCE, "note"] and cr2.loc[sg.DIFFERENCE, "df"] == g - q


def _null_rejections(trial: Trial, reps: int, seed: int, **data) -> tuple[int, int]:
    """How many of ``reps`` synthetic trials with the same effect in every year group had the
    joint test (as subgroup_estimates runs it, without the per-level fits) reject at 5%."""
    rng = np.random.default_rng(seed)
    hits = done = 0
    for _ in range(reps):
        analysed, students = synthetic(rng, {y: 1.0 for y in YEARS}, **data)
        levels = sg._year_levels(trial, students["year_group"])
        arm = (analysed["arm"] == "treated").to_numpy()
        joint = sg._joint(trial, sg.YEAR, levels, analysed, arm, None)
        if joint["status"] == sg.ESTIMATED:
            done += 1
            hits += bool(joint["p_value"] < 0.05)
    return hits, done


@pytest.mark.slow  # a simulation study (200-300 trials): out of the default run
def test_joint_test_rejects_about_5_percent_under_no_interaction() -> None:
    """Students randomised (HC1, N - k df): 200 trials with the same effect in every year
    group reject within the 99.9% binomial limits of 5%."""
    hits, done = _null_rejections(make(), 200, 11, n_schools=2, per_school=300)
    assert done == 200
    low, high = sps.binom.ppf([0.0005, 0.9995], done, 0.05)
    assert low <= hits <= high, hits


@pytest.mark.slow  # a simulation study (200-300 trials): out of the default run
@pytest.mark.parametrize("se", ["cluster", "auto"])
def test_cluster_robust_joint_test_rejects_about_5_percent_with_12_schools(se) -> None:
    """Schools randomised, 12 schools, school x year shocks: 200 null trials. The Hotelling
    form stays within the 99.9% binomial limits of 5%; W / q against F(q, G - 1) rejected 34
    (CR1) and 23 (CR2) of these 200, beyond them."""
    hits, done = _null_rejections(make("schools", 12, se=se), 200, 12, n_schools=12,
                                  per_school=60, unit="schools", school_year_sd=0.3)
    assert done == 200
    low, high = sps.binom.ppf([0.0005, 0.9995], done, 0.05)
    assert low <= hits <= high, hits


def test_a_year_group_too_few_is_not_estimated_and_its_joint_test_not_run(years_only) -> None:
    trial = make()
    analysed, students = synthetic(np.random.default_rng(5), {y: 1.0 for y in YEARS},
                                   n_schools=2, per_school=200,
                                   year_sizes={7: 1, 8: 1, 9: 1, 10: 1, 11: 0.04})
    rows = year_rows(sg.subgroup_estimates(trial, analysed, students))
    assert rows.loc["Year 11", "status"].startswith("too few students")
    assert math.isnan(rows.loc["Year 11", "estimate"])
    assert rows.loc["Year 7", "status"] == sg.ESTIMATED
    assert rows.loc[sg.DIFFERENCE, "status"].startswith("not tested")


def test_from_records_a_year_group_too_few_withholds_the_whole_factor(years_only,
                                                                     monkeypatch) -> None:
    """From real records, a year group too few shows no year group at all (the others'
    counts and the trial's total would give its size), and no count under 10 anywhere."""
    trial = make()
    analysed, students = synthetic(np.random.default_rng(5), {y: 1.0 for y in YEARS},
                                   n_schools=2, per_school=200,
                                   year_sizes={7: 1, 8: 1, 9: 1, 10: 1, 11: 0.04})
    monkeypatch.setattr(Trial, "from_records", property(lambda self: True))
    rows = year_rows(sg.subgroup_estimates(trial, analysed, students))
    numbers = ["estimate", "se", "ci_low", "ci_high", "p_value", "df", "true_effect",
               "n_treated", "n_control", "n_clusters"]
    assert rows[numbers].isna().all(axis=None)
    assert not (rows["status"] == sg.ESTIMATED).any()
    assert rows.loc["Year 7", "status"].startswith("not shown")


def test_from_records_the_year_groups_are_the_records_own(years_only, monkeypatch) -> None:
    """Records of Years 7-10 in a scenario listing 7-11: from records the levels are the
    records' (Year 11, with none, would be too few and withhold every year group)."""
    trial = make()
    analysed, students = synthetic(np.random.default_rng(6), {y: 1.0 for y in YEARS},
                                   year_sizes={7: 1, 8: 1, 9: 1, 10: 1, 11: 0})
    monkeypatch.setattr(Trial, "from_records", property(lambda self: True))
    rows = year_rows(sg.subgroup_estimates(trial, analysed, students))
    assert list(rows.index) == [*(f"Year {y}" for y in YEARS[:-1]), sg.DIFFERENCE]
    assert (rows["status"] == sg.ESTIMATED).all()
    assert "F(3, " in rows.loc[sg.DIFFERENCE, "note"]


def test_every_year_group_of_the_trust_has_a_row(years_only) -> None:
    """A year group with no analysed student still has its row, too few (so every
    replication has the same rows); a trust of one year group has no year-group rows."""
    trial = make()
    analysed, students = synthetic(np.random.default_rng(8), {y: 1.0 for y in YEARS},
                                   year_sizes={7: 1, 8: 1, 9: 1, 10: 1, 11: 0})
    rows = year_rows(sg.subgroup_estimates(trial, analysed, students))
    assert rows.loc["Year 11", "n_treated"] == 0
    assert rows.loc["Year 11", "status"].startswith("too few")
    one = trial_from_dict({"name": "one", "scenario": "reading_age.yaml",
                           "overrides": {"trust.year_groups": [7]},
                           "randomise": {"unit": "students"}, "outcome": "reading_gap_end"},
                          "t", SCENARIOS)
    assert year_rows(sg.subgroup_estimates(one, analysed, students.assign(year_group=7))).empty


def test_summary_display_and_figure_of_the_joint_test(years_only) -> None:
    """Over replications the joint test's row has a rejection rate and no coverage (there is
    no interval: 0% would read as an interval that always missed); the table names it and
    the figure draws it in words."""
    trial = make()
    rng = np.random.default_rng(2)
    frames = []
    for r in range(3):
        analysed, students = synthetic(rng, {7: 0.0, 8: 0.0, 9: 0.0, 10: 0.0, 11: 3.0},
                                       n_schools=2, per_school=200)
        frames.append(sg.subgroup_estimates(trial, analysed, students).assign(replication=r))
    table = pd.concat(frames, ignore_index=True)
    summary = sg.summarise_subgroups(table).set_index("level")
    assert math.isnan(summary.loc[sg.DIFFERENCE, "coverage"])
    assert summary.loc[sg.DIFFERENCE, "rejected"] == 1.0
    assert summary.loc["Year 11", "coverage"] >= 0  # a level's coverage as before
    shown = sg.subgroup_display(summary.reset_index(), 3)
    joint = shown[shown["subgroup"] == sg.YEAR_TEST].iloc[0]
    assert joint["interaction test"].startswith("p < 0.05 in 100%")
    assert joint["estimate"] == "" and joint[shown.columns[3]] == ""
    fig = sg.plot_subgroups(sg.summarise_subgroups(table))
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any("rejected in 100%" in t for t in texts)
    assert sg.YEAR_TEST in [t.get_text() for t in fig.axes[0].get_yticklabels()]


# ------------------------------------------------------------------ small subgroups: HC2
def _small_group_data(rng: np.random.Generator, n_small: int = 24, n_big: int = 400
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Students randomised in 2 schools, an EAL group of ``n_small`` (a dozen an arm) whose
    outcomes spread three times as much as the rest's; effects 1.0 (EAL) and 0.5."""
    n = n_small + n_big
    uid = np.arange(n)
    school = uid % 2
    eal = uid < n_small
    arm = np.zeros(n, dtype=bool)
    for group in (eal, ~eal):
        for s in range(2):
            idx = np.flatnonzero(group & (school == s))
            arm[rng.permutation(idx)[: len(idx) // 2]] = True
    base = rng.normal(0, 1, n)
    y0 = 0.5 * base + rng.normal(0, 1, n) * np.where(eal, 3.0, 1.0)
    y = y0 + np.where(arm, np.where(eal, 1.0, 0.5), 0.0)
    analysed = pd.DataFrame({"uid": uid, "school": school,
                             "arm": np.where(arm, "treated", "control"),
                             "reading_gap_end": y, "reading_gap_end_counterfactual": y0,
                             "reading_gap_start": base})
    students = pd.DataFrame({"uid": uid, "fsm": False, "sen": False, "eal": eal, "sex": "F"})
    return analysed, students


def test_a_small_subgroup_is_fitted_with_hc2_and_bell_mccaffrey_df(monkeypatch) -> None:
    """An EAL group of a dozen an arm, HC1 trial: its row and its interaction are HC2 with
    each contrast's Bell-McCaffrey df (the same as estimate_effect(se="hc2")), and say so;
    the large group keeps the trial's HC1."""
    monkeypatch.setattr(sg, "FACTORS", (("eal", "EAL", "not EAL"),))
    trial = make()
    analysed, students = _small_group_data(np.random.default_rng(4))
    table = sg.subgroup_estimates(trial, analysed, students).set_index("level")
    eal = students["eal"].to_numpy()
    hc2 = stats.estimate_effect(analysed[eal], "reading_gap_end", "arm", "control",
                                covariates=["reading_gap_start"], fixed_effects="school",
                                se="hc2").effect()
    assert table.loc["EAL", "df"] == pytest.approx(float(hc2["df"]))
    assert table.loc["EAL", "ci_low"] == pytest.approx(float(hc2["ci_low"]), rel=1e-9)
    assert "HC2" in table.loc["EAL", "note"] and "HC2" in table.loc[sg.DIFFERENCE, "note"]
    n = int((~eal).sum())
    assert table.loc["not EAL", "df"] > n - 10  # HC1's N - k
    assert "HC2" not in table.loc["not EAL", "note"]
    assert table.loc[sg.DIFFERENCE, "df"] < 40  # Bell-McCaffrey, not N - k (about 420)


@pytest.mark.slow  # a simulation study (200-300 trials): out of the default run
def test_small_subgroup_interaction_coverage_hc2_against_hc1(monkeypatch) -> None:
    """80 synthetic trials of a dozen EAL students an arm whose effect spreads: the
    interaction's 95% interval covered its truth less often with HC1 than with HC2, and HC2's
    coverage is within the 99.9% binomial limits of 95% (the paired simulation of the trial
    itself is in the report of helper 229)."""
    monkeypatch.setattr(sg, "FACTORS", (("eal", "EAL", "not EAL"),))
    trial = make()
    reps = 80
    covered = {}
    for small in (0, sg.SMALL_ARM):
        monkeypatch.setattr(sg, "SMALL_ARM", small)
        rng = np.random.default_rng(77)
        hits = 0
        for _ in range(reps):
            analysed, students = _small_group_data(rng)
            t = sg.subgroup_estimates(trial, analysed, students).set_index("level")
            hits += bool(t.loc[sg.DIFFERENCE, "covered"])
        covered[small] = hits
    assert covered[sg.SMALL_ARM] > covered[0]
    low, high = sps.binom.ppf([0.0005, 0.9995], reps, 0.95)
    assert low <= covered[sg.SMALL_ARM] <= high


# ------------------------------------------------------------------ header and figure
def test_the_header_glosses_its_standard_errors_in_plain_words() -> None:
    few = make("schools", 4)
    assert "CR2 with Bell-McCaffrey df" in few.describe()
    gloss = few.se_gloss()
    assert gloss.startswith("CR2 means") and "same school" in gloss and "few schools" in gloss
    assert "Bell-McCaffrey df is" in gloss
    assert make("schools", 40).se_gloss().startswith("CR1 means")
    assert make().se_gloss().startswith("HC1 means")
    assert make("schools", 4, method="mixed").se_gloss().startswith("classical with a mixed")


def test_trial_prints_the_gloss_and_year_groups_everywhere(tmp_path, capsys) -> None:
    """End to end (1 replication, 2 schools): the header's gloss, the year groups in the
    printed table, trial_subgroups.csv, its summary and the report."""
    spec = {"name": "years", "scenario": str(SCENARIOS / "reading_age.yaml"),
            "overrides": {"trust.n_schools": 2, "trust.students_per_year_group": 40},
            "randomise": {"unit": "students"}, "outcome": "reading_gap_end",
            "baseline": "reading_gap_start", "replications": 1, "seed": 5}
    path = tmp_path / "trial.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    assert main(["trial", str(path), "--out", str(out), "--quiet", "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    header = printed.splitlines()
    at = next(i for i, line in enumerate(header) if line.startswith("years: students"))
    assert header[at + 1].strip().startswith("(HC1 means")
    assert "Year 7" in printed and sg.YEAR_TEST in printed
    table = pd.read_csv(out / "trial_subgroups.csv")
    years = table[table["factor"] == sg.YEAR]
    assert list(years["level"]) == [*(f"Year {y}" for y in YEARS), sg.DIFFERENCE]
    summary = pd.read_csv(out / "trial_subgroup_summary.csv")
    assert "Year 11" in set(summary["level"])
    html = (out / "report.html").read_text()
    assert "Year 9" in html and sg.YEAR_TEST in html


def test_trial_png_left_legend_is_beside_its_axes() -> None:
    """The estimates panel's legend sits right of its axes (inside, "best" could cover the
    replications' points), as the errors panel's does."""
    rng = np.random.default_rng(0)
    t = rng.normal(2, 0.3, 30)
    e = t + rng.normal(0, 0.5, 30)
    runs = pd.DataFrame({"estimate": e, "ci_low": e - 1, "ci_high": e + 1, "true_effect": t,
                         "covered": (e - 1 <= t) & (t <= e + 1), "naive": t + 3,
                         "naive_truth": t, "error": ""})
    fig = plot(runs, None, scale="months", level="95%")
    fig.canvas.draw()
    left = fig.axes[0]
    legend = left.get_legend().get_window_extent()
    assert legend.x0 >= left.get_window_extent().x1
    assert legend.x1 <= fig.axes[1].get_window_extent().x0  # not over the errors panel
