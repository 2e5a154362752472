"""Effect estimation on inputs the other tests do not contain (srmsim.stats: RDD, CR2, ...)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from test_stats_regression import cr2_by_definition

from srmsim import stats
from srmsim.stats._inference import cr2_sandwich


def _one_side_short(rng: np.random.Generator, below: int, above: int) -> pd.DataFrame:
    """A straight line each side (no bias), jump 1, unit noise; ``above`` rows above 0."""
    x = np.r_[rng.uniform(-1, 0, below), rng.uniform(0, 1, above)]
    return pd.DataFrame({"x": x, "y": 1.0 * (x < 0) + rng.normal(size=x.size)})


def test_rdd_intervals_cover_when_one_side_of_the_cutoff_has_few_rows():
    """300 rows below and 8 above within the bandwidth: HC1 with n - k df gave a 95% interval
    that covered the true jump 72% of the time (robust interval 60%), as n - k counted the 300
    rows although the side of 8 sets the variance. HC2 with the jump's Bell-McCaffrey df covers."""
    rng = np.random.default_rng(2024)
    reps, cover, cover_robust = 200, 0, 0
    for _ in range(reps):
        res = stats.rdd(_one_side_short(rng, 300, 8), "y", "x", 0.0, bandwidth=1.0)
        cover += res.ci_low <= 1.0 <= res.ci_high
        cover_robust += res.robust_ci_low <= 1.0 <= res.robust_ci_high
    assert cover / reps > 0.92 and cover_robust / reps > 0.92


def test_rdd_standard_error_and_df_are_weighted_hc2_and_bell_mccaffrey():
    """Triangular kernel: the SE is statsmodels' WLS HC2 and the df that of the definition
    (N x N matrices) on the weighted fit; the df is small when a side has 8 rows."""
    import statsmodels.api as sm

    d = _one_side_short(np.random.default_rng(7), 300, 8)
    res = stats.rdd(d, "y", "x", 0.0, bandwidth=1.0)
    x, y = d["x"].to_numpy(), d["y"].to_numpy()
    w = 1 - np.abs(x)
    side = (x < 0) * 1.0
    X = np.column_stack([np.ones(x.size), side, x, side * x])
    ref = sm.WLS(y, X, weights=w).fit(cov_type="HC2")
    _, dof = cr2_by_definition(X * np.sqrt(w)[:, None], np.asarray(ref.resid) * np.sqrt(w),
                               np.arange(x.size))
    assert res.estimate == pytest.approx(ref.params[1], rel=1e-10)
    assert res.se == pytest.approx(ref.bse[1], rel=1e-8)
    assert res.df == pytest.approx(dof[1], rel=1e-8) and res.df < 20
    half = sps.t.ppf(0.975, dof[1]) * ref.bse[1]
    assert (res.ci_low, res.ci_high) == pytest.approx((ref.params[1] - half,
                                                       ref.params[1] + half), rel=1e-8)
    assert "HC2" in res.summary()


def test_clustered_rdd_uses_cr2_with_bell_mccaffrey_df():
    """20 schools but 8 rows above the cutoff: CR1 with t(G - 1) covered 73%; the jump's SE and
    df are now CR2's on the weighted fit, as the definition gives them."""
    rng = np.random.default_rng(11)
    d = _one_side_short(rng, 300, 8)
    d["school"] = rng.integers(0, 20, len(d))
    res = stats.rdd(d, "y", "x", 0.0, bandwidth=1.0, cluster="school")
    x, y = d["x"].to_numpy(), d["y"].to_numpy()
    sw = np.sqrt(1 - np.abs(x))
    side = (x < 0) * 1.0
    X = np.column_stack([np.ones(x.size), side, x, side * x]) * sw[:, None]
    beta = np.linalg.lstsq(X, y * sw, rcond=None)[0]
    cov, dof = cr2_by_definition(X, y * sw - X @ beta, pd.factorize(d["school"])[0])
    assert res.se == pytest.approx(np.sqrt(cov[1, 1]), rel=1e-8)
    assert res.df == pytest.approx(dof[1], rel=1e-8) and res.df < 19


def test_cr2_with_one_row_per_cluster_matches_its_definition():
    """The vectorised HC2 path (every row its own cluster) gives the definition's covariance and
    df, with a row of leverage one among them (its adjustment is the pseudo-inverse's 0)."""
    rng = np.random.default_rng(3)
    n = 40
    X = np.column_stack([np.ones(n), rng.normal(size=n), (np.arange(n) == 5) * 1.0,
                         rng.uniform(size=n)])
    e = rng.normal(size=n)
    e[5] = 0.0  # OLS residual of a row its own dummy fits
    cov, dof = cr2_sandwich(X, e, np.arange(n))
    ref_cov, ref_dof = cr2_by_definition(X, e, np.arange(n))
    np.testing.assert_allclose(cov, ref_cov, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(dof, ref_dof, rtol=1e-8)


def _durations(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame({"y": rng.normal(size=n),
                         "arm": pd.to_timedelta(rng.integers(0, 2, n), unit="D"),
                         "x": pd.to_timedelta(rng.integers(0, 3, n), unit="h")})


@pytest.mark.parametrize("method", ["ols", "mixed"])
def test_a_duration_covariate_is_coded_as_categories_not_an_index_error(method):
    """A timedelta covariate raised IndexError: its levels were labelled one way ('1 day,
    0:00:00') in their order and another ('1 days 00:00:00') in the rows, so none matched."""
    d = _durations().assign(arm=np.arange(120) % 2, school=np.arange(120) % 12)
    kw = {"cluster": "school", "se": "classical"} if method == "mixed" else {}
    est = stats.estimate_effect(d, "y", "arm", 0, covariates=["x"], method=method, **kw)
    assert [t for t in est.terms if t.startswith("x[")] == ["x[0 days 01:00:00]",
                                                            "x[0 days 02:00:00]"]
    assert any("covariate 'x' is categorical: coded as 2 dummies" in n for n in est.notes)


def test_a_duration_treatment_finds_its_arms():
    """A timedelta treatment was refused as 'has no values: all rows are missing'."""
    d = _durations()
    est = stats.estimate_effect(d, "y", "arm", pd.Timedelta(0))
    assert est.reference == "0 days 00:00:00" and list(est.table["arm"]) == ["1 days 00:00:00"]
    ones = d["arm"] == pd.Timedelta(days=1)
    assert est.effect()["estimate"] == pytest.approx(d["y"][ones].mean() - d["y"][~ones].mean())


def test_group_time_did_says_when_cohorts_start_between_observed_periods():
    """Periods 1, 3, 5 and units first treated in 2: they were merged silently into the cohort
    of 3 (its label, its event times); the merge is now noted."""
    rng = np.random.default_rng(5)
    g = rng.choice([2.0, 3.0, np.nan], 60)
    rows = [(i, t, g[i], rng.normal() + 2.0 * (t >= g[i])) for i in range(60) for t in (1, 3, 5)]
    d = pd.DataFrame(rows, columns=["u", "t", "g", "y"])
    res = stats.did_group_time(d, "y", "u", "t", "g")
    n_two = int((g == 2).sum())
    assert list(res.att_gt["group"].unique()) == [3.0]
    assert any(f"{n_two} units first treated in a period with no rows (e.g. 2) are counted from "
               "the next observed period (3)" in n for n in res.notes), res.notes
    clean = stats.did_group_time(d.assign(g=d["g"].replace(2.0, 3.0)), "y", "u", "t", "g")
    assert not any("period with no rows" in n for n in clean.notes)
