"""Review 216: statistics at the edges (a covariate or outcome far from zero, the stepped
wedge's df, degenerate inputs). Each test compares with a fit that is known to be accurate."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from srmsim.stats import estimate_effect, random_intercept, regress


def _clustered(seed: int = 1, groups: int = 30, size: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), size)
    x = rng.normal(size=g.size)
    arm = np.where(g % 2 == 0, "t", "c")
    y = 1 + 0.5 * x + 0.3 * (arm == "t") + 0.5 * rng.normal(size=groups)[g] \
        + rng.normal(size=g.size)
    return pd.DataFrame({"y": y, "x": x, "g": g, "arm": arm})


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


# 1e6 + x is stored to 1.2e-10 (its ulp): the data themselves differ from x by that much, so
# agreement to 1e-8 is agreement to rounding; before the fix CR1's slope SE was 5e-4 off
@pytest.mark.parametrize("se", ["cluster", "hc1", "hc2", "hc3", "classical"])
def test_regress_se_does_not_move_when_a_covariate_is_shifted_far_from_zero(se):
    d = _clustered()
    cluster = "g" if se == "cluster" else None
    near = regress(d, "y ~ x + arm", se=se, cluster=cluster)
    far = regress(d.assign(x=d["x"] + 1e6), "y ~ x + arm", se=se, cluster=cluster)
    for term in ("x", "arm[T.t]"):
        assert _rel(far.coef(term)["estimate"], near.coef(term)["estimate"]) < 1e-8
        assert _rel(far.coef(term)["se"], near.coef(term)["se"]) < 1e-8
    # the intercept is the fit's at x = 0, 1e6 away: shifted exactly, its SE from the slope's
    b0, b1 = near.coef("Intercept")["estimate"], near.coef("x")["estimate"]
    assert _rel(far.coef("Intercept")["estimate"], b0 - 1e6 * b1) < 1e-8
    v = np.asarray(near.result.cov_params())  # Intercept, arm, x as statsmodels orders them
    names = list(near.table.index)
    i, j = names.index("Intercept"), names.index("x")
    shifted = v[i, i] + 1e12 * v[j, j] - 2e6 * v[i, j]
    assert _rel(far.coef("Intercept")["se"], np.sqrt(shifted)) < 1e-6
    # the statsmodels result underneath carries the same covariance as the table
    assert np.allclose(np.asarray(far.result.bse), far.table["se"].to_numpy(), rtol=1e-12)


def test_estimate_effect_cr1_se_does_not_move_with_a_far_covariate():
    d = _clustered()
    near = estimate_effect(d, "y", "arm", "c", cluster="g", covariates=["x"], se="cluster")
    far = estimate_effect(d.assign(x=d["x"] + 1e6), "y", "arm", "c", cluster="g",
                          covariates=["x"], se="cluster")
    assert _rel(far.table["se"].iloc[0], near.table["se"].iloc[0]) < 1e-8
    k = list(near.result.model.exog_names).index("x")
    assert _rel(np.asarray(far.result.bse)[k], np.asarray(near.result.bse)[k]) < 1e-8


def test_random_intercept_does_not_move_when_a_covariate_is_shifted_far_from_zero():
    d = _clustered()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        near = random_intercept(d, "y", "g", ["x"])
        far = random_intercept(d.assign(x=d["x"] + 1e6), "y", "g", ["x"])
    for col in ("estimate", "se"):
        assert _rel(far.fixed.loc["x", col], near.fixed.loc["x", col]) < 1e-8
    assert _rel(far.group_variance, near.group_variance) < 1e-8  # was 8e-3 off
    assert _rel(far.residual_variance, near.residual_variance) < 1e-8
    b0, b1 = near.fixed.loc["Intercept", "estimate"], near.fixed.loc["x", "estimate"]
    assert _rel(far.fixed.loc["Intercept", "estimate"], b0 - 1e6 * b1) < 1e-8
    assert far.fixed.loc["Intercept", "df"] == near.fixed.loc["Intercept", "df"]
    assert any("centred" in n for n in far.notes)
    assert not any("centred" in n for n in near.notes)


@pytest.mark.parametrize("shift", [1e6, 1e9])
def test_random_intercept_does_not_move_when_the_outcome_is_shifted(shift):
    """y + 1e9 (stored to 1.2e-7) gave a group variance 4e-5 of itself off (its SD's 1e-7)."""
    d = _clustered()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        near = random_intercept(d, "y", "g", ["x"])
        far = random_intercept(d.assign(y=d["y"] + shift), "y", "g", ["x"])
    tol = 1e-14 * shift  # ten ulps of the shifted outcome (the old search: 4e-5 at 1e9)
    assert _rel(far.group_variance, near.group_variance) < tol
    assert _rel(far.residual_variance, near.residual_variance) < tol
    for col in ("estimate", "se"):
        assert _rel(far.fixed.loc["x", col], near.fixed.loc["x", col]) < tol
    assert _rel(far.fixed.loc["Intercept", "se"], near.fixed.loc["Intercept", "se"]) < tol
    assert abs(far.fixed.loc["Intercept", "estimate"] - shift
               - near.fixed.loc["Intercept", "estimate"]) < shift * 1e-13


@pytest.mark.parametrize("shift", [1e6, 1e9])
def test_boundary_fit_with_a_shifted_outcome_stays_at_the_boundary(shift):
    """No group effect beyond chance: the group variance is at zero. The shifted outcome is
    searched centred; the fit must stay a boundary fit with the unshifted one's SEs (searched
    centred, these data stopped at a group variance of 2.6e-8 of the residual one: no boundary
    note; centring every outcome lost the boundary on 6 of 40 such data sets)."""
    rng = np.random.default_rng(7)
    g = np.repeat(np.arange(30), 10)
    x = rng.normal(size=g.size)
    e = rng.normal(size=g.size)
    e -= (np.bincount(g, e) / 10)[g]  # every group's mean error 0: less spread than chance
    d = pd.DataFrame({"y": 1 + 0.5 * x + e, "x": x, "g": g})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        near = random_intercept(d, "y", "g", ["x"])
        far = random_intercept(d.assign(y=d["y"] + shift), "y", "g", ["x"])
        ols = regress(d, "y ~ x", se="classical")
    for fit in (near, far):
        assert fit.at_boundary and any("boundary" in n for n in fit.notes)
    assert _rel(far.residual_variance, near.residual_variance) < 1e-6
    for term in ("Intercept", "x"):
        assert _rel(far.fixed.loc[term, "se"], near.fixed.loc[term, "se"]) < 1e-6
        # at tau^2 = 0 REML is OLS (statsmodels' observed information differs in the 4th digit)
        assert _rel(far.fixed.loc[term, "se"], ols.coef(term)["se"]) < 1e-3
    assert _rel(far.fixed.loc["x", "estimate"], near.fixed.loc["x", "estimate"]) < 1e-6


# ------------------------------------------------------------------ degenerate inputs
@pytest.mark.parametrize("formula", ["y ~ arm + x", "y ~ C(period) + x"])
def test_regress_refuses_a_categorical_term_with_one_level_instead_of_dropping_it(formula):
    """Every row in one arm: the arm's term vanished from the table without a word (a numeric
    constant column is refused as collinear)."""
    from srmsim.errors import DataError

    d = _clustered().assign(arm="t", period=2)
    with pytest.raises(DataError, match=r"is always '(t|2)' in the rows used.*cannot be "
                                        r"estimated"):
        regress(d, formula, se="hc1")
    # two levels, or an interaction that still varies, are fitted as before
    assert "arm[T.t]" in regress(_clustered(), "y ~ arm + x").table.index
    assert "arm[t]:x" in regress(d, "y ~ arm:x").table.index


@pytest.mark.parametrize("shift", [1.0, 1e6])
def test_hedges_g_and_rdd_refuse_an_outcome_that_varies_below_rounding(shift):
    """1 + 1e-15 y: g came out 4-27% off and the RDD jump 2-6% off, silently; the regression
    estimators refuse such an outcome, naming it."""
    from srmsim.errors import DataError
    from srmsim.stats import hedges_g_data, rdd

    rng = np.random.default_rng(3)
    d = _clustered().assign(run=lambda t: rng.uniform(-1, 1, len(t)))
    g0 = hedges_g_data(d, "y", "arm", "c").g
    r0 = rdd(d, "y", "run", 0.0)
    # well within resolution (1e-9 of the size): the same answers, scaled
    ok = d.assign(y=shift + 1e-9 * shift * d["y"])
    assert hedges_g_data(ok, "y", "arm", "c").g == pytest.approx(g0, rel=1e-5)
    assert rdd(ok, "y", "run", 0.0).estimate == pytest.approx(1e-9 * shift * r0.estimate,
                                                              rel=1e-5)
    bad = d.assign(y=shift + 1e-15 * shift * d["y"])
    with pytest.raises(DataError, match=r"outcome column 'y' varies by about 1 part in"):
        hedges_g_data(bad, "y", "arm", "c")
    with pytest.raises(DataError, match=r"outcome column 'y' varies by about 1 part in"):
        rdd(bad, "y", "run", 0.0)


# ------------------------------------------------------------------ stepped wedge df
@pytest.mark.slow
def test_stepped_wedge_mixed_model_interval_covers_at_its_level_with_six_schools():
    """Hussey & Hughes' design, 6 schools crossing one a step, their model true: the mixed
    analysis (period fixed effects, school random intercept, between-within df N - G - p) must
    cover within Monte-Carlo error of 95% (measured 93.7% of 599; t(G - 2) would give ~99%)."""
    G, T, m, theta = 6, 7, 10, 0.2
    from srmsim.errors import EstimationError

    hits = fits = refused = 0
    for r in range(400):
        rng = np.random.default_rng(6000 + r)
        start = np.empty(G, dtype=int)
        start[rng.permutation(G)] = 1 + np.arange(G)
        school = np.repeat(np.arange(G), T * m)
        period = np.tile(np.repeat(np.arange(T), m), G)
        treated = period >= start[school]
        y = (0.1 * period + theta * treated + np.sqrt(0.1) * rng.normal(size=G)[school]
             + np.sqrt(0.9) * rng.normal(size=school.size))
        d = pd.DataFrame({"y": y, "school": school, "period": period,
                          "arm": np.where(treated, "treated", "control")})
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est = estimate_effect(d, "y", "arm", "control", cluster="school",
                                      fixed_effects="period", method="mixed", se="classical")
        except EstimationError:  # no sound fit (1 of 1,200 in the study): refused, not wrong
            refused += 1
            continue
        row = est.table.iloc[0]
        fits += 1
        hits += int(row["ci_low"] <= theta <= row["ci_high"])
    coverage, mcse = hits / fits, np.sqrt(0.95 * 0.05 / fits)
    assert refused <= 4
    assert abs(coverage - 0.95) < 3 * mcse, coverage


@pytest.mark.parametrize("se", ["cluster", "cr2"])
def test_one_cluster_per_arm_with_a_covariate_is_refused_not_reported(se):
    """Two schools, one an arm: with a covariate, CR1/CR2 gave SE 0.0097 (the school SD is 0.5)
    and p = 0.005 from the covariate's imbalance alone, with only a warning; without one they
    are refused already, as GEE and the mixed model refuse the design."""
    from srmsim.errors import EstimationError

    d = _clustered(groups=2, size=32)
    with pytest.raises(EstimationError, match=r"arm 't' and the reference arm 'c' each lie in a "
                                              r"single cluster of 'g'"):
        estimate_effect(d, "y", "arm", "c", cluster="g", covariates=["x"], se=se)
    # the reference in a single school but the arm in two: refused too, since its intervals
    # covered 65% (tests/test_stats_lone_arm230.py); it was reported with a warning
    three = _clustered(groups=3, size=20)
    with pytest.raises(EstimationError, match=r"arm 'c' lies in a single cluster of 'g'"):
        estimate_effect(three, "y", "arm", "c", cluster="g", covariates=["x"], se=se)


@pytest.mark.parametrize("se", ["cluster", "cr2"])
def test_regress_refuses_a_dummy_that_is_one_cluster_against_another(se):
    """regress('y ~ treat + x') on two schools, one treated: an SE from x alone, warned only."""
    from srmsim.errors import EstimationError

    d = _clustered(groups=2, size=32).assign(treat=lambda t: (t["arm"] == "t").astype(int))
    with pytest.raises(EstimationError, match=r"term 'treat' is 1 in a single cluster and 0 in "
                                              r"a single other one"):
        regress(d, "y ~ treat + x", se=se, cluster="g")
    three = _clustered(groups=3, size=20).assign(treat=lambda t: (t["arm"] == "t").astype(int))
    with pytest.raises(EstimationError, match=r"term 'treat' is 0 lie in a single cluster of "
                                              r"'g'"):  # one side in two: refused too (was warned)
        regress(three, "y ~ treat + x", se=se, cluster="g")
