"""Statistics that never fail silently: unidentified fits refuse, boundary fits warn, causes named."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from srmsim import stats
from srmsim.errors import DataError, EstimationError, SrmsimError
from srmsim.stats import StatsWarning


def two_level(seed: int, groups: int, size: int, tau2: float, sigma2: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), size)
    y = 10 + rng.normal(0, np.sqrt(tau2), groups)[g] + rng.normal(0, np.sqrt(sigma2), g.size)
    arm = np.where(g % 2 == 0, "treated", "control")
    return pd.DataFrame({"y": y, "school": g, "arm": arm})


# ---- random intercepts ------------------------------------------------------------------------


def test_known_variance_components_are_recovered_without_warnings():
    df = two_level(1, groups=200, size=10, tau2=0.5, sigma2=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", StatsWarning)
        fit = stats.random_intercept(df, "y", "school", optimizers=("lbfgs", "bfgs"))
    # sampling SEs: tau2 about sqrt(2/G) (tau2 + sigma2/n) = 0.07; sigma2 about sigma2 sqrt(2/(N-G))
    assert fit.group_variance == pytest.approx(0.5, abs=3 * 0.07)
    assert fit.residual_variance == pytest.approx(2.0, abs=3 * 0.067)
    assert not fit.at_boundary


def test_singleton_groups_are_refused_not_split_arbitrarily():
    df = two_level(2, groups=80, size=1, tau2=0.5, sigma2=1.0)
    with pytest.raises(EstimationError, match="single member.*not identified"):
        stats.random_intercept(df, "y", "school")
    with pytest.raises(EstimationError, match="not identified"):
        stats.estimate_effect(df, "y", "arm", "control", cluster="school", method="mixed",
                              se="classical")
    # Hedges' g would have used that arbitrary ICC: it refuses too and says what to do
    with pytest.raises(EstimationError, match="ICC of 'y' within 'school' cannot be estimated.*icc="):
        stats.hedges_g_data(df, "y", "arm", "control", cluster="school")
    g = stats.hedges_g_data(df, "y", "arm", "control", cluster="school", icc=0.2)
    assert np.isfinite(g.g)


def _no_between_variation(seed: int) -> pd.DataFrame:
    """Group means forced equal: the REML group variance is exactly on its boundary (zero)."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(12), 5)
    e = rng.normal(size=g.size)
    e -= pd.Series(e).groupby(g).transform("mean").to_numpy()
    return pd.DataFrame({"y": 5 + e, "school": g, "arm": np.where(g < 6, "treated", "control")})


def test_boundary_fit_warns_and_notes():
    df = _no_between_variation(3)
    with pytest.warns(StatsWarning, match="group variance is estimated at zero"):
        fit = stats.random_intercept(df, "y", "school", optimizers=("powell",))
    assert fit.at_boundary and fit.icc == pytest.approx(0, abs=1e-6)
    assert any("boundary" in n for n in fit.notes)
    with pytest.warns(StatsWarning, match="boundary"):
        est = stats.estimate_effect(df, "y", "arm", "control", cluster="school", method="mixed",
                                    se="classical")
    assert any("boundary" in n for n in est.notes)
    with pytest.warns(StatsWarning, match="boundary"):  # Hedges' g passes the caveat on
        stats.hedges_g_data(df, "y", "arm", "control", cluster="school")


# ---- regression discontinuity -----------------------------------------------------------------


def test_ik_bandwidth_names_the_real_cause():
    x = np.linspace(-1, 1, 400)
    y = x + (x < 0)
    x_nan = x.copy()
    x_nan[[3, 7]] = np.nan
    with pytest.raises(DataError, match="running variable has 2 missing or non-finite"):
        stats.ik_bandwidth(x_nan, y, 0.0)
    with pytest.raises(DataError, match="outcome is constant"):
        stats.ik_bandwidth(x, np.full(400, 3.0), 0.0)
    with pytest.raises(EstimationError, match="does not vary within the pilot bandwidth"):
        stats.ik_bandwidth(x, np.where(x < 0, 1.0, 2.0), 0.0)
    with pytest.raises(DataError, match="equal length"):
        stats.ik_bandwidth(x, y[:-1], 0.0)
    df = pd.DataFrame({"att": x, "score": y})
    df.loc[5, "att"] = np.inf
    with pytest.raises(DataError, match="'att' / 'score': running variable has 1"):
        stats.rdd(df, "score", "att", 0.0)
    with pytest.raises(DataError, match="outcome is constant"):
        stats.rdd(df.assign(att=x, score=1.0), "score", "att", 0.0, bandwidth=0.5)


# ---- difference-in-differences ----------------------------------------------------------------


def _panel(treated_schools: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(12):
        first = 4 if s < treated_schools else np.nan
        for t in range(1, 7):
            rows.append((f"S{s}", t, first, rng.normal() + 0.5 * (t >= (first or 99))))
    return pd.DataFrame(rows, columns=["school", "term", "first", "y"])


@pytest.mark.filterwarnings("error::RuntimeWarning")  # no "Mean of empty slice" gets through
def test_did_warns_on_one_treated_cluster_and_leaks_no_numpy_warnings():
    one = _panel(1)
    with pytest.warns(StatsWarning, match="only 1 treated cluster"):
        twfe = stats.did_twfe(one, "y", "school", "term", "first")
    assert any("treated cluster" in n for n in twfe.notes)
    with pytest.warns(StatsWarning, match="only 1 treated cluster"):
        cs = stats.did_group_time(one, "y", "school", "term", "first", n_boot=99)
    assert np.isnan(cs.overall["se"])  # no standard error exists, and none is invented
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        many = stats.did_group_time(_panel(6), "y", "school", "term", "first", n_boot=99,
                                    control="notyet")
    assert np.isfinite(many.overall["se"])


def test_list_valued_cluster_is_refused_by_name_where_unsupported():
    df = _panel(6)
    for call in (
        lambda: stats.did_twfe(df, "y", "school", "term", "first", cluster=["school", "term"]),
        lambda: stats.did_group_time(df, "y", "school", "term", "first", cluster=["school"]),
        lambda: stats.rdd(df, "y", "term", 3.5, cluster=["school", "term"]),
        lambda: stats.hedges_g_data(df.assign(arm=df["first"].notna()), "y", "arm", False,
                                    cluster=["school", "term"]),
    ):
        with pytest.raises(SrmsimError, match="must be one column name; two-way clustering"):
            call()
    trial = df.assign(arm=np.where(df["first"].notna(), "t", "c"))
    with pytest.raises(SrmsimError, match="two-way clustering is available for method='ols'"):
        stats.estimate_effect(trial, "y", "arm", "c", cluster=["school", "term"], method="gee")
    with pytest.raises(SrmsimError, match="at most two clustering columns"):
        stats.estimate_effect(trial, "y", "arm", "c", cluster=["school", "term", "y"],
                              se="cluster")
