"""Staggered DiD: TWFE is biased under dynamic effects, group-time effects recover the truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as scipy_t

from srmsim import stats
from srmsim.errors import DataError, EstimationError, SrmsimError
from srmsim.stats import StatsWarning

COHORTS = (4, 6, 8, np.inf)  # first treated term; inf = never treated
PERIODS = np.arange(1, 11)


def effect(g: float, t: int) -> float:
    """Dynamic, cohort-specific effects: early adopters gain more, and gains grow with time."""
    if not np.isfinite(g) or t < g:
        return 0.0
    return (t - g + 1) * (0.5 if g == 4 else 0.2)


def staggered(seed: int, per_cohort: int = 15, noise: float = 0.5, students: int = 0):
    """Schools adopting at different terms; one row per school-term, or per student."""
    rng = np.random.default_rng(seed)
    rows = []
    school = 0
    for g in COHORTS:
        for _ in range(per_cohort):
            level = rng.normal()
            for t in PERIODS:
                mean = level + 0.1 * t + effect(g, t)
                if students:
                    for y in mean + rng.normal(0, noise * np.sqrt(students), students):
                        rows.append((f"S{school}", t, g, y))
                else:
                    rows.append((f"S{school}", t, g, mean + rng.normal(0, noise)))
            school += 1
    df = pd.DataFrame(rows, columns=["school", "term", "first_term", "y"])
    df["first_term"] = df["first_term"].replace(np.inf, np.nan)  # never treated = missing
    return df


def true_event_effects(per_cohort: int = 15) -> dict[int, float]:
    out = {}
    for e in range(0, 7):
        vals = [effect(g, g + e) for g in COHORTS[:-1] if g + e <= PERIODS[-1]]
        out[e] = float(np.mean(vals))  # equal cohort sizes: cohort-size weights are equal
    return out


def true_overall() -> float:
    cells = [effect(g, t) for g in COHORTS[:-1] for t in PERIODS if t >= g]
    return float(np.mean(cells))


@pytest.fixture(scope="module")
def panel():
    return staggered(1)


@pytest.fixture(scope="module")
def cs(panel):
    return stats.did_group_time(panel, "y", "school", "term", "first_term", n_boot=499, seed=7)


def test_twfe_is_biased_under_staggered_dynamic_effects(panel):
    twfe = stats.did_twfe(panel, "y", "school", "term", "first_term")
    truth = true_overall()
    assert twfe.ci_high < truth  # far below: already-treated schools serve as controls
    assert twfe.estimate < 0.5 * truth
    assert twfe.df == 59 and twfe.n_units == 60 and twfe.n_treated_units == 45


def test_twfe_matches_dummy_regression_on_unbalanced_panel(panel):
    import statsmodels.api as sm

    df = panel.sample(frac=0.8, random_state=3).reset_index(drop=True)  # unbalanced
    twfe = stats.did_twfe(df, "y", "school", "term", "first_term")
    D = (df["term"] >= df["first_term"]).astype(float).rename("D")
    X = pd.concat([D, pd.get_dummies(df["school"], drop_first=True, dtype=float),
                   pd.get_dummies(df["term"], prefix="t", drop_first=True, dtype=float)], axis=1)
    ref = sm.OLS(df["y"], sm.add_constant(X)).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(df["school"])[0]})
    assert twfe.estimate == pytest.approx(ref.params["D"], rel=1e-8)
    # same sandwich; statsmodels counts the nested school dummies in k, we do not (as Stata and
    # fixest, whose K keeps the intercept: D + 9 term dummies + 1)
    n, k_sm, k_ours = len(df), X.shape[1] + 1, 1 + 9 + 1
    adjust = np.sqrt((n - k_sm) / (n - k_ours))
    assert twfe.se == pytest.approx(ref.bse["D"] * adjust, rel=1e-6)


@pytest.mark.parametrize("se", ["cluster", "cr2"])
def test_twfe_outcome_level_does_not_move_its_se(panel, se):
    """An outcome of 1e9 + y shifts nothing but the level: the estimate and SE are those of
    the same (rounded) values without the level, and both match the dummy regression
    (statsmodels, regress()). The projections stopped on the level's size (1e-2 short of 1e9),
    and the SE moved by 6e-6 of itself (CR2 2e-5)."""
    df = panel.sample(frac=0.8, random_state=3).reset_index(drop=True)  # unbalanced: iterated
    high = df.assign(y=df["y"] + 1e9)
    rounded = df.assign(y=high["y"] - 1e9)  # the same values as the shifted table holds
    shifted = stats.did_twfe(high, "y", "school", "term", "first_term", se=se)
    level = stats.did_twfe(rounded, "y", "school", "term", "first_term", se=se)
    assert shifted.estimate == pytest.approx(level.estimate, rel=1e-12)
    assert shifted.se == pytest.approx(level.se, rel=1e-10)
    treated = rounded.assign(D=(rounded["term"] >= rounded["first_term"]).astype(float))
    ref = stats.regress(treated, "y ~ D + C(school) + C(term)", se=se, cluster="school")
    if se == "cr2":  # CR2 of the full dummy design; CR1 counts the school dummies in k
        assert shifted.se == pytest.approx(ref.table.loc["D", "se"], rel=1e-9)
        assert shifted.df == pytest.approx(ref.table.loc["D", "df"], rel=1e-9)
    assert shifted.estimate == pytest.approx(ref.table.loc["D", "estimate"], rel=1e-12)


def test_twfe_with_several_rows_per_cell_weighs_rows_and_says_so():
    """Students within school units: each row counts once (a dummy regression on the rows),
    and a note tells the user that a cell with more rows weighs more."""
    import statsmodels.api as sm

    df = staggered(5, per_cohort=6, students=3)
    df = df.drop(index=df.index[::7]).reset_index(drop=True)  # cells of 2 or 3 rows
    twfe = stats.did_twfe(df, "y", "school", "term", "first_term")
    D = (df["term"] >= df["first_term"]).astype(float).rename("D")
    X = pd.concat([D, pd.get_dummies(df["school"], drop_first=True, dtype=float),
                   pd.get_dummies(df["term"], prefix="t", drop_first=True, dtype=float)], axis=1)
    ref = sm.OLS(df["y"], sm.add_constant(X)).fit()
    assert twfe.estimate == pytest.approx(ref.params["D"], rel=1e-8)
    cells = df.groupby(["school", "term"]).ngroups
    assert cells == 24 * 10 < len(df)
    assert f"{len(df)} rows in {cells} unit-period cells" in " ".join(twfe.notes)
    one_per_cell = stats.did_twfe(staggered(5, per_cohort=6), "y", "school", "term", "first_term")
    assert not any("unit-period cells" in n for n in one_per_cell.notes)


def test_group_time_recovers_overall_and_event_study(cs):
    truth = true_overall()
    o = cs.overall
    assert o["ci_low"] < truth < o["ci_high"]
    es = cs.event_study.set_index("event_time")
    for e, value in true_event_effects().items():
        assert es.loc[e, "band_low"] < value < es.loc[e, "band_high"], e
    pre = es[es.index < 0]
    assert ((pre["band_low"] < 0) & (pre["band_high"] > 0)).all()  # no pre-trends
    assert list(cs.event_study.columns[:5]) == ["event_time", "estimate", "se", "ci_low", "ci_high"]
    assert (es["band_high"] - es["band_low"] >= es["ci_high"] - es["ci_low"]).all()


def test_att_gt_cells_are_two_by_two_dids(panel, cs):
    row = cs.att_gt[(cs.att_gt["group"] == 6) & (cs.att_gt["time"] == 8)].iloc[0]
    wide = panel.pivot(index="school", columns="term", values="y")
    g = panel.groupby("school")["first_term"].first()
    diff = wide[8] - wide[5]
    manual = diff[g == 6].mean() - diff[g.isna()].mean()
    assert row["att"] == pytest.approx(manual, rel=1e-12)
    assert row["event_time"] == 2 and row["n_treated"] == 15 and row["n_control"] == 15


def test_not_yet_treated_controls_and_universal_base(panel):
    res = stats.did_group_time(panel, "y", "school", "term", "first_term", control="notyet",
                               base_period="universal", n_boot=299, seed=2)
    assert res.overall["ci_low"] < true_overall() < res.overall["ci_high"]
    assert -1 not in set(res.event_study["event_time"])  # the universal base period itself
    cell = res.att_gt[(res.att_gt["group"] == 4) & (res.att_gt["time"] == 5)].iloc[0]
    assert cell["n_control"] == 45  # cohorts 6, 8 and never are all untreated at term 5


def test_bootstrap_is_seeded(panel):
    a = stats.did_group_time(panel, "y", "school", "term", "first_term", n_boot=99, seed=3)
    b = stats.did_group_time(panel, "y", "school", "term", "first_term", n_boot=99, seed=3)
    c = stats.did_group_time(panel, "y", "school", "term", "first_term", n_boot=99, seed=4)
    assert a.event_study.equals(b.event_study)
    # pointwise SEs are analytic; the multiplier bootstrap only sets the simultaneous band
    assert np.allclose(a.event_study["se"], c.event_study["se"])
    assert not np.allclose(a.event_study["band_high"], c.event_study["band_high"])


def test_student_rows_are_averaged_to_school_terms():
    df = staggered(5, per_cohort=10, noise=0.4, students=8)
    res = stats.did_group_time(df, "y", "school", "term", "first_term", n_boot=199, seed=1)
    assert res.n_units == 40
    assert res.overall["ci_low"] < true_overall() < res.overall["ci_high"]
    twfe = stats.did_twfe(df, "y", "school", "term", "first_term")
    assert twfe.n == len(df) and twfe.n_clusters == 40


@pytest.mark.once
def test_event_study_plot_is_written(cs, tmp_path):
    path = tmp_path / "figs" / "event_study.png"
    fig = cs.plot(path)
    assert path.exists() and path.stat().st_size > 5000
    assert fig.axes[0].get_xlabel().startswith("periods since")
    assert "overall ATT" in cs.summary()


def test_did_input_errors(panel):
    bad = panel.copy()
    bad.loc[0, "first_term"] = 3.0  # school S0 (cohort 4) now disagrees with itself
    with pytest.raises(DataError, match=r"first_treated column 'first_term' must be constant.*'S0'"):
        stats.did_group_time(bad, "y", "school", "term", "first_term")
    with pytest.raises(DataError, match=r"'year' \(time\) not found"):
        stats.did_twfe(panel, "y", "school", "year", "first_term")
    treated_only = panel[panel["first_term"].notna()]
    with pytest.raises(DataError, match="no unit in 'school' is never treated.*notyet"):
        stats.did_group_time(treated_only, "y", "school", "term", "first_term")
    with pytest.raises(SrmsimError, match="control='sometimes'"):
        stats.did_group_time(panel, "y", "school", "term", "first_term", control="sometimes")
    with pytest.raises(DataError, match="time column 'school' must be numeric"):
        stats.did_twfe(panel, "y", "term", "school", "first_term")


def test_early_and_late_adopters_are_reported():
    df = staggered(6, per_cohort=5)
    df.loc[df["school"] == "S0", "first_term"] = 1  # treated from the first term
    df.loc[df["school"] == "S1", "first_term"] = 99  # after the panel ends
    res = stats.did_group_time(df, "y", "school", "term", "first_term", n_boot=99)
    text = " ".join(res.notes)
    assert "no pre-period" in text and "after the last period" in text
    assert res.n_units == 19


DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    """R did::mpdta (Callaway & Sant'Anna 2021): teen employment in 500 US counties, 2003-2007."""
    df = pd.read_csv(DATA / "mpdta.csv.gz")
    assert df.shape == (2500, 4)
    return df.assign(first_treat=df["first.treat"].replace(0, np.nan))  # 0 = never treated


def test_reproduces_published_mpdta_figures(mpdta):
    """Published: simple ATT -0.0400 (SE about 0.0115-0.0119), ATT(2004, 2004) -0.0105."""
    res = stats.did_group_time(mpdta, "lemp", "countyreal", "year", "first_treat", seed=1)
    assert round(res.overall["estimate"], 4) == -0.0400
    cell = res.att_gt[(res.att_gt["group"] == 2004) & (res.att_gt["time"] == 2004)].iloc[0]
    assert round(cell["att"], 4) == -0.0105
    # influence-function SE; the small-cluster factor sqrt(G/(G-1)) adds about 1% here
    # (smallest cohort: 20 counties), so it stays close to the published analytic/bootstrap SEs
    assert 0.0115 <= res.overall["se"] <= 0.0125
    assert res.overall["df"] > 100  # many counties: t is practically normal
    assert res.aggregates.loc["dynamic", "estimate"] == pytest.approx(-0.0772, abs=5e-5)


def random_cohort_panel(seed: int, units: int = 60, periods: int = 8) -> pd.DataFrame:
    """Units assigned to cohorts 3, 5, 7 or never with equal probability (10-20 per cohort),
    AR(1) errors within unit, effect 0.3 + 0.1 (t - g) once treated."""
    rng = np.random.default_rng(seed)
    g = np.array([3, 5, 7, np.inf])[rng.integers(0, 4, units)]
    t = np.arange(1, periods + 1)
    e = np.empty((units, periods))
    e[:, 0] = rng.normal(size=units)
    for k in range(1, periods):
        e[:, k] = 0.5 * e[:, k - 1] + np.sqrt(0.75) * rng.normal(size=units)
    effect = np.where(t[None, :] >= g[:, None], 0.3 + 0.1 * (t[None, :] - g[:, None]), 0.0)
    y = rng.normal(size=units)[:, None] + 0.2 * t[None, :] + effect + e
    return pd.DataFrame({"unit": np.repeat(np.arange(units), periods), "t": np.tile(t, units),
                         "g": np.repeat(np.where(np.isfinite(g), g, np.nan), periods),
                         "y": y.ravel()})


@pytest.mark.slow
def test_group_time_coverage_with_few_units_per_cohort():
    """300 panels, 10-20 units per cohort: intervals cover 95% within Monte-Carlo error.

    Truth: cohorts are equally likely, so the population simple ATT weights every post cell
    equally; ATT(g, t) cells are checked against their own effects.
    """
    post = [(g, t) for g in (3, 5, 7) for t in range(1, 9) if t >= g]
    truth = float(np.mean([0.3 + 0.1 * (t - g) for g, t in post]))
    n, cover, cells = 300, 0, []
    for seed in range(n):
        res = stats.did_group_time(random_cohort_panel(5000 + seed), "y", "unit", "t", "g",
                                   n_boot=199, seed=seed)
        cover += res.overall["ci_low"] < truth < res.overall["ci_high"]
        a = res.att_gt
        effect = np.where(a["time"] >= a["group"], 0.3 + 0.1 * (a["time"] - a["group"]), 0.0)
        cells += list((a["ci_low"] < effect) & (effect < a["ci_high"]))
    assert abs(cover / n - 0.95) < 0.03
    assert abs(np.mean(cells) - 0.95) < 0.01  # 6,300 cell intervals (correlated within panels)


def test_group_time_results_do_not_depend_on_row_order():
    """Shuffling the rows once moved the sup-t band by 0.28: the multiplier bootstrap's weights
    went to clusters in order of first appearance. Rows are now put in one canonical order."""
    rng = np.random.default_rng(11)
    u = np.repeat(np.arange(30), 6)
    t = np.tile(np.arange(2010, 2016), 30).astype(float)
    g = np.where(u < 9, 2012.0, np.where(u < 20, 2014.0, np.nan))
    panel = pd.DataFrame({"y": rng.normal(size=u.size) + (t >= g), "u": u, "t": t, "g": g})
    panel = panel.drop(index=rng.choice(len(panel), 10, replace=False))  # unbalanced
    a = stats.did_group_time(panel, "y", "u", "t", "g", n_boot=99)
    b = stats.did_group_time(panel.sample(frac=1, random_state=5), "y", "u", "t", "g", n_boot=99)
    pd.testing.assert_frame_equal(a.event_study, b.event_study, check_exact=True)
    pd.testing.assert_frame_equal(a.att_gt, b.att_gt, check_exact=True)
    twfe = [stats.did_twfe(p, "y", "u", "t", "g").estimate
            for p in (panel, panel.sample(frac=1, random_state=2))]
    assert twfe[0] == twfe[1]


# ---- exact fits, degenerate panels and argument checks (fuzzing report) ------------------------


def _noiseless_panel() -> pd.DataFrame:
    """y = unit effect + time trend + 0.5 once treated, with no noise: TWFE reproduces it."""
    rows = [(u, t, 3.0 if u >= 4 else np.nan, u + 0.1 * t + 0.5 * (u >= 4 and t >= 3))
            for u in range(8) for t in range(1, 5)]
    return pd.DataFrame(rows, columns=["unit", "time", "g", "y"])


def test_exact_fits_are_refused_not_given_round_off_standard_errors():
    """TWFE reported se 7e-17 (p 4e-109), group-time se 1e-16 (p 2e-49) on a noiseless panel."""
    p = _noiseless_panel()
    with pytest.raises(EstimationError, match="did_twfe: the model reproduces the outcome"):
        stats.did_twfe(p, "y", "unit", "time", "g")
    with pytest.raises(EstimationError,
                       match="did_group_time: the model reproduces the outcome exactly"):
        stats.did_group_time(p, "y", "unit", "time", "g", n_boot=99)


def test_two_by_two_and_two_unit_panels_have_no_standard_error():
    """A 2 x 2 DiD returned se 0.0, p 0.0 and CI [2.3, 2.3]; with two units and more periods the
    two clusters' scores cancel and the SE was 4e-17."""
    two_by_two = pd.DataFrame({"u": [0, 0, 1, 1], "t": [1, 2, 1, 2], "g": [2, 2, np.nan, np.nan],
                               "y": [1.0, 3.3, 0.5, 0.5]})
    with pytest.raises(EstimationError, match=r"4 rows for 2 unit and 2 period effects.*2 x 2"):
        stats.did_twfe(two_by_two, "y", "u", "t", "g")
    rng = np.random.default_rng(1)
    rows = [(u, t, 3.0 if u == 0 else np.nan, rng.normal()) for u in range(2) for t in range(1, 6)]
    two_units = pd.DataFrame(rows, columns=["u", "t", "g", "y"])
    with pytest.raises(EstimationError, match="cluster-robust variance is zero up to round-off"):
        stats.did_twfe(two_units, "y", "u", "t", "g")


def test_group_time_with_one_unit_per_arm_names_that_cause():
    """With 2 units the refusal said 'the model reproduces the outcome exactly', though the
    outcome was noise: each arm holds one unit, so no change can spread around its mean."""
    rng = np.random.default_rng(1)
    rows = [(u, t, 3.0 if u == 0 else np.nan, rng.normal()) for u in range(2) for t in range(1, 6)]
    two_units = pd.DataFrame(rows, columns=["u", "t", "g", "y"])
    with pytest.warns(StatsWarning, match="only 1 treated cluster"), \
            pytest.raises(EstimationError, match=r"single treated unit with a single control unit "
                          r"\(cohort first treated in 3\)") as err:
        stats.did_group_time(two_units, "y", "u", "t", "g", n_boot=99)
    assert "exactly" not in str(err.value)
    # two cohorts of one unit each and one never-treated unit: still one unit per arm
    rows = [(u, t, [3.0, 4.0, np.nan][u], rng.normal()) for u in range(3) for t in range(1, 6)]
    three = pd.DataFrame(rows, columns=["u", "t", "g", "y"])
    with pytest.warns(StatsWarning), pytest.raises(EstimationError,
                                                   match=r"cohorts first treated in 3, 4"):
        stats.did_group_time(three, "y", "u", "t", "g", n_boot=99)
    # not yet treated units as controls give the first cohort two controls: estimable
    with pytest.warns(StatsWarning, match="a single cluster"):
        res = stats.did_group_time(three, "y", "u", "t", "g", n_boot=99, control="notyet")
    assert np.isfinite(res.att_gt["att"]).all()


def test_group_time_effects_without_spread_in_their_arms_have_no_standard_error():
    """Noise only from period 3 on: the pre-period cell (2 vs 1) has no spread, so its SE is
    missing (with a warning) instead of 1e-17; the post-period effects keep theirs."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(12):
        g, level = (3.0 if u < 6 else np.nan), rng.normal()
        for t in range(1, 6):
            rows.append((u, t, g, level + 0.1 * t + 0.5 * (u < 6 and t >= 3)
                         + (rng.normal() if t >= 3 else 0.0)))
    p = pd.DataFrame(rows, columns=["u", "t", "g", "y"])
    with pytest.warns(StatsWarning, match="no variation within their treated and control arms"):
        res = stats.did_group_time(p, "y", "u", "t", "g", n_boot=99)
    es = res.event_study.set_index("event_time")
    assert np.isnan(es.loc[-1, "se"]) and np.isnan(es.loc[-1, "p_value"])
    assert (es.loc[0:, "se"] > 0.1).all() and np.isfinite(res.overall["se"])


def _adoption_panel(first: np.ndarray, periods: int, seed: int, clusters=None) -> pd.DataFrame:
    """One row per unit and period, effect 0.5 from each unit's first treated period."""
    rng = np.random.default_rng(seed)
    n = len(first)
    u, t = np.repeat(np.arange(n), periods), np.tile(np.arange(periods), n)
    treated = t >= np.nan_to_num(first[u], nan=np.inf)
    y = rng.normal(size=n)[u] + 0.1 * t + 0.5 * treated + rng.normal(size=n * periods)
    df = pd.DataFrame({"y": y, "u": u, "t": t, "g": first[u]})
    return df if clusters is None else df.assign(c=np.asarray(clusters)[u])


def test_group_time_t_intervals_use_the_arms_each_estimate_rests_on():
    """Not-yet-treated controls with one never-treated unit. A cell's arms are its treated
    cohort and its pooled control group, so its t interval has Welch's df (the lone unit's
    own 'arm' once gave a NaN df that was read as the normal: about 90% coverage for nominal
    95%). An aggregate's arms follow the same rule: the units that are controls in its cells
    and treated in none are one arm (event time -2: cohort 2 and the never-treated unit), so it
    has a df and an interval; it had its SE alone, the never-treated unit counted as an arm of
    its own (tests/test_stats235.py)."""
    one_never = np.array([2.0] * 4 + [3.0] * 4 + [4.0] * 4 + [np.nan])
    with pytest.warns(StatsWarning, match="single control cluster"):
        res = stats.did_group_time(_adoption_panel(one_never, 6, 1), "y", "u", "t", "g",
                                   control="notyet", n_boot=99)
    ok = res.att_gt.dropna(subset=["se"])
    assert len(ok) >= 6 and np.isfinite(ok["df"]).all() and (ok["df"] < 12).all()
    crit = (ok["ci_high"] - ok["att"]) / ok["se"]
    assert np.allclose(crit, scipy_t.ppf(0.975, ok["df"]))  # t quantiles, not 1.96
    first = ok.iloc[0]  # ATT(2, 1): 4 treated units against 9 pooled controls, by hand
    t, c = res.att_gt.iloc[0][["n_treated", "n_control"]]
    assert (t, c) == (4, 9) and 3 < first["df"] < 4 + 9 - 2
    es = res.event_study.set_index("event_time")
    assert 1 < es.loc[-2, "df"] < 12 and es.loc[-2, ["ci_low", "p_value", "band_low"]].notna().all()
    assert (es.loc[-2, "ci_high"] - es.loc[-2, "estimate"]) / es.loc[-2, "se"] == pytest.approx(
        scipy_t.ppf(0.975, es.loc[-2, "df"]))
    assert not any("rest on an arm" in n or "rests on an arm" in n for n in res.notes)


def test_a_cell_without_standard_error_leaves_the_aggregates_it_does_not_enter_alone():
    """Cohort 5's three units share one cluster, so its cells have no SE; event times 2-4
    come from cohort 2 alone and keep their cells' SEs (a NaN row of the influence matrix once
    entered every aggregate as 0 x NaN)."""
    first = np.array([2.0] * 10 + [5.0] * 3 + [np.nan] * 17)
    clusters = np.r_[np.arange(10), [100] * 3, np.arange(13, 30)]
    with pytest.warns(StatsWarning, match="single cluster"):
        res = stats.did_group_time(_adoption_panel(first, 7, 11, clusters), "y", "u", "t", "g",
                                   cluster="c", n_boot=99)
    es = res.event_study.set_index("event_time")
    cells = res.att_gt.set_index(["group", "time"])
    assert (es.loc[[2, 3, 4], "n_cohorts"] == 1).all()
    assert es.loc[[2, 3, 4], "se"].to_numpy() == pytest.approx(
        cells.loc[[(2.0, 4.0), (2.0, 5.0), (2.0, 6.0)], "se"].to_numpy(), rel=1e-12)
    assert es.loc[[2, 3, 4], "band_low"].notna().all()
    assert np.isnan(cells.loc[(5.0, 5.0), "se"]) and np.isnan(es.loc[0, "se"])
    # a pre-period placebo without SE (one control unit observed in period 0) leaves the
    # overall ATT, which uses post-period cells only, as it is without that period
    panel = _adoption_panel(np.array([3.0] * 15 + [np.nan] * 15), 6, 4)
    panel = panel[~((panel["t"] == 0) & (panel["u"] > 15))]
    with pytest.warns(StatsWarning):
        res = stats.did_group_time(panel, "y", "u", "t", "g", n_boot=99)
    assert np.isnan(res.att_gt.set_index("time").loc[1, "se"])
    without = stats.did_group_time(panel[panel["t"] > 0], "y", "u", "t", "g", n_boot=99)
    assert res.overall["estimate"] == pytest.approx(without.overall["estimate"], rel=1e-12)
    assert res.overall["se"] == pytest.approx(without.overall["se"], rel=1e-9)
    assert np.isfinite(res.overall["ci_low"])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"seed": -1}, r"seed=-1 is out of range: it must be from 0 to 2\*\*63 - 1"),
    ({"seed": 2**63}, r"seed=9223372036854775808 is out of range"),
    ({"seed": 2.5}, r"seed must be a whole number from 0 to 2\*\*63 - 1, got 2.5"),
    ({"seed": True}, r"seed must be a whole number .* got True"),
    ({"n_boot": 10**9}, r"n_boot=1000000000 is out of range: it must be from 50 to 100,000"),
    ({"n_boot": 49}, r"n_boot=49 is out of range"),
    ({"n_boot": 99.0}, r"n_boot must be a whole number from 50 to 100,000, got 99.0"),
])
def test_group_time_refuses_bad_seed_and_n_boot_by_name(kwargs, message):
    """seed=-1 and 2.5 escaped as raw ValueError/TypeError; n_boot=10**9 asked for 60 GiB."""
    p = staggered(2, per_cohort=3)
    with pytest.raises(SrmsimError, match=message):
        stats.did_group_time(p, "y", "school", "term", "first_term", **kwargs)


def test_group_time_n_boot_cap_is_the_shared_repetition_cap(monkeypatch):
    """One cap on every repetition count (bootstrap draws, orderings): lowering the shared
    MAX_REPEATS lowers did_group_time's too, as it does curves' and pooling's."""
    from srmsim.stats import _checks

    monkeypatch.setattr(_checks, "MAX_REPEATS", 60)
    p = staggered(2, per_cohort=3)
    with pytest.raises(SrmsimError, match="n_boot=61 is out of range: it must be from 50 to 60"):
        stats.did_group_time(p, "y", "school", "term", "first_term", n_boot=61)


def test_group_time_band_is_the_same_whatever_the_bootstrap_chunk(monkeypatch):
    """Multiplier draws are made in chunks (memory); the draws and the band must not change."""
    from srmsim.stats import did

    p = staggered(3, per_cohort=4)
    whole = stats.did_group_time(p, "y", "school", "term", "first_term", n_boot=250,
                                 seed=np.int64(2**63 - 1))
    monkeypatch.setattr(did, "_BOOT_CHUNK", 7)
    chunked = stats.did_group_time(p, "y", "school", "term", "first_term", n_boot=250,
                                   seed=2**63 - 1)
    pd.testing.assert_frame_equal(whole.event_study, chunked.event_study, check_exact=True)
    assert whole.seed == 2**63 - 1 and isinstance(whole.seed, int)


def test_units_origins_and_labels_do_not_change_the_estimates():
    """y -> c y + d scales every effect and SE by c; renumbering terms (2001.. instead of 1..,
    or every 10th) and renaming schools change nothing but the bootstrap band, whose draws go
    to clusters in label order (Monte Carlo noise, fixed by the seed for given labels)."""
    panel = staggered(31)
    panel = panel.drop(index=np.random.default_rng(31).choice(len(panel), 40, replace=False))
    cols = ["estimate", "se", "ci_low", "ci_high", "p_value", "df"]
    twfe = stats.did_twfe(panel, "y", "school", "term", "first_term")
    cs = stats.did_group_time(panel, "y", "school", "term", "first_term", n_boot=99)
    for c, d in ((1e-6, 3.0), (-1e4, 0.0)):
        moved = panel.assign(y=c * panel["y"] + d)
        t2 = stats.did_twfe(moved, "y", "school", "term", "first_term")
        assert (t2.estimate, t2.se) == pytest.approx((c * twfe.estimate, abs(c) * twfe.se), rel=1e-9)
        es = stats.did_group_time(moved, "y", "school", "term", "first_term", n_boot=99)
        np.testing.assert_allclose(es.event_study["estimate"], c * cs.event_study["estimate"],
                                   rtol=1e-9, atol=1e-9 * abs(c))  # d + c y keeps fewer digits
        np.testing.assert_allclose(es.event_study["se"], abs(c) * cs.event_study["se"], rtol=1e-7)
    renamed = panel.assign(term=10 * panel["term"] + 2000,
                           first_term=10 * panel["first_term"] + 2000,
                           school=panel["school"].map(lambda s: f"academy {s[::-1]}"))
    t3 = stats.did_twfe(renamed, "y", "school", "term", "first_term")
    assert (t3.estimate, t3.se) == pytest.approx((twfe.estimate, twfe.se), rel=1e-12)
    es = stats.did_group_time(renamed, "y", "school", "term", "first_term", n_boot=99)
    np.testing.assert_allclose(es.event_study[cols].to_numpy(float),
                               cs.event_study[cols].to_numpy(float), rtol=1e-9, atol=1e-15)


def test_band_needs_a_draw_beyond_its_quantile(panel):
    """A simultaneous band at alpha takes the 1 - alpha quantile of the draws' sup |t|; with
    fewer than 1/alpha draws that quantile is beyond the largest draw, and np.quantile gave the
    largest (50 draws at alpha 0.01: a '99%' band that no draw lay beyond). It is left out
    (NaN, warned); the pointwise intervals stand, and 1/alpha draws give the band again."""
    with pytest.warns(StatsWarning, match=r"n_boot=50 draws are too few .* at least 100"):
        few = stats.did_group_time(panel, "y", "school", "term", "first_term", n_boot=50,
                                   alpha=0.01)
    assert few.event_study["band_low"].isna().all() and few.event_study["band_high"].isna().all()
    enough = stats.did_group_time(panel, "y", "school", "term", "first_term", n_boot=100,
                                  alpha=0.01)
    pd.testing.assert_frame_equal(few.event_study.drop(columns=["band_low", "band_high"]),
                                  enough.event_study.drop(columns=["band_low", "band_high"]))
    post = enough.event_study[enough.event_study["se"].notna()]
    assert post["band_low"].notna().all()
    assert (post["band_low"] <= post["ci_low"] + 1e-12).all()  # a band, never narrower
    # the pointwise intervals are t(df) at 99%, whatever the draws
    crit = scipy_t.ppf(0.995, post["df"])
    np.testing.assert_allclose(post["ci_high"] - post["estimate"], crit * post["se"], rtol=1e-10)
