"""estimate_effect with a small arm: HC1 under-covers and warns; se="hc2" keeps its interval.

HC1's 95% interval (t with N - k df) covered 85% with an arm of 5 students against 300 (77%
with 3, 90% with 10): the small arm's variance is estimated from a few residuals shrunk by their
leverage and its t has the whole sample's df. HC2 removes the shrinkage and Bell-McCaffrey's df
follow the small arm, as CR2 does for few schools (HC2 is CR2 with a student per cluster)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from test_stats_regression import cr2_by_definition

from srmsim import stats
from srmsim.errors import EstimationError, SrmsimError
from srmsim.stats import StatsWarning


def trial(rng: np.random.Generator, small: int, big: int = 300, effect: float = 0.0,
          sd_small: float = 1.0) -> pd.DataFrame:
    arm = np.r_[np.full(small, "tutoring"), np.full(big, "control")]
    y = np.r_[rng.normal(effect, sd_small, small), rng.normal(0.0, 1.0, big)]
    return pd.DataFrame({"score": y, "arm": arm, "prior": rng.normal(0, 1, small + big)})


def test_hc2_is_statsmodels_hc2_with_bell_mccaffrey_df() -> None:
    import statsmodels.api as sm

    df = trial(np.random.default_rng(3), small=7, effect=0.4, sd_small=2.0)
    est = stats.estimate_effect(df, "score", "arm", "control", covariates=["prior"], se="hc2")
    X = np.column_stack([np.ones(len(df)), (df.arm == "tutoring").to_numpy(float),
                         df.prior.to_numpy()])
    ref = sm.OLS(df.score.to_numpy(), X).fit(cov_type="HC2")
    row = est.table.iloc[0]
    assert row["estimate"] == pytest.approx(ref.params[1], rel=1e-10)
    assert row["se"] == pytest.approx(ref.bse[1], rel=1e-10)
    _, dof = cr2_by_definition(X, np.asarray(sm.OLS(df.score.to_numpy(), X).fit().resid),
                               np.arange(len(df)))
    assert row["df"] == pytest.approx(dof[1], rel=1e-8) and row["df"] < 10
    crit = sps.t.ppf(0.975, dof[1])
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(
        (ref.params[1] - crit * ref.bse[1], ref.params[1] + crit * ref.bse[1]), rel=1e-10)
    assert est.se_type.startswith("HC2") and any("Bell-McCaffrey" in n for n in est.notes)


def test_hc1_warns_for_an_arm_much_smaller_than_the_rest_only() -> None:
    """The warning follows the design, not a fixed size: 10 against 300 (HC1 covered 91% in
    simulations) warns; 10 against 10 (95%) and 40 against 300 do not; nor does HC2."""
    rng = np.random.default_rng(4)
    with pytest.warns(StatsWarning, match=r"HC1's 95% interval, with N - k = 308 df, covers less "
                      r"than that .*'tutoring' \(10 students: about 9\d%, Welch-Satterthwaite df "
                      r"\d+\.\d\).*se='hc2'"):
        small = stats.estimate_effect(trial(rng, small=10), "score", "arm", "control")
    assert any("Welch-Satterthwaite" in n for n in small.notes)
    with warnings.catch_warnings():
        warnings.simplefilter("error", StatsWarning)
        for df in (trial(rng, small=10, big=10), trial(rng, small=40)):
            est = stats.estimate_effect(df, "score", "arm", "control")
            assert not any("Welch" in n for n in est.notes)
        stats.estimate_effect(trial(rng, small=10), "score", "arm", "control", se="hc2")
        stats.estimate_effect(trial(rng, small=10), "score", "arm", "control", se="classical")
    with pytest.warns(StatsWarning, match=r"90% interval"):
        stats.estimate_effect(trial(rng, small=4), "score", "arm", "control", alpha=0.1)


@pytest.mark.slow  # 600 trials (9 s); HC2 against statsmodels' and its df run by default
def test_hc2_covers_95_percent_where_hc1_does_not() -> None:
    """600 trials of 5 against 300 students, no effect: HC1 covers about 85%, HC2 about 95%
    (binomial SE of a 95% coverage over 600 trials: 0.9 points)."""
    rng = np.random.default_rng(5)
    covered = {"hc1": 0, "hc2": 0}
    for _ in range(600):
        df = trial(rng, small=5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StatsWarning)
            for se in covered:
                row = stats.estimate_effect(df, "score", "arm", "control", se=se).table.iloc[0]
                covered[se] += row["ci_low"] < 0 < row["ci_high"]
    assert covered["hc1"] / 600 < 0.90
    assert 0.925 < covered["hc2"] / 600 < 0.975


def test_hc2_refuses_what_robust_variances_cannot_do() -> None:
    rng = np.random.default_rng(6)
    with pytest.raises(EstimationError, match=r"single student.*heteroskedasticity-robust \(HC2\)"):
        stats.estimate_effect(trial(rng, small=1), "score", "arm", "control", se="hc2")
    df = trial(rng, small=40).assign(school=lambda d: np.arange(len(d)) % 8)
    with pytest.raises(SrmsimError, match=r"se='hc2' is for method='ols'"):
        stats.estimate_effect(df, "score", "arm", "control", cluster="school", method="gee",
                              se="hc2")
    with pytest.raises(SrmsimError, match="cluster='school' given with se='hc2'"):
        stats.estimate_effect(df, "score", "arm", "control", cluster="school", se="hc2")
