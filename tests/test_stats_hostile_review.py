"""Hostile inputs to the statistics API that gave a traceback or a number that should not exist.

Each test names the input; before the fixes they raised AttributeError/TypeError/LinAlgError/
OverflowError from inside pandas, numpy or statsmodels, or returned a zero-width interval with
p = 1e-181, or an unreliable SE without the warning other estimators give.
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from srmsim import stats
from srmsim.errors import DataError, EstimationError, SrmsimError
from srmsim.stats import StatsWarning
from srmsim.stats._inference import critical_value, wald


def _trial(n: int = 40, schools: int = 8, seed: int = 0) -> pd.DataFrame:
    """Schools randomised whole: even schools control, odd schools treated."""
    rng = np.random.default_rng(seed)
    school = np.repeat(np.arange(schools), n // schools)
    arm = np.where(school % 2 == 0, "control", "treat")
    y = rng.normal(size=n) + 0.3 * (arm == "treat") + rng.normal(size=schools)[school]
    return pd.DataFrame({"y": y, "arm": arm, "school": school, "x": rng.normal(size=n)})


def _panel() -> pd.DataFrame:
    rows = [{"u": u, "t": t, "g": (np.nan if u < 4 else 3.0), "y": float(u + t + (u * t) % 3)}
            for u in range(8) for t in range(1, 5)]
    return pd.DataFrame(rows)


def _rd(n: int = 400, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    y = 0.5 * (x < 0) + x + rng.normal(scale=0.3, size=n)
    return pd.DataFrame({"x": x, "y": y, "s": rng.integers(0, 20, n).astype(float)})


@pytest.mark.parametrize("call, shown", [
    (lambda: stats.estimate_effect(_trial(), ["y"], "arm", "control"), "['y']"),
    (lambda: stats.estimate_effect(_trial(), "y", ("arm",), "control"), "('arm',)"),
    (lambda: stats.did_twfe(_panel(), "y", ["u"], "t", "g"), "['u']"),
    (lambda: stats.did_group_time(_panel(), ["y"], "u", "t", "g"), "['y']"),
    (lambda: stats.rdd(_rd(), "y", ["x"], 0.0), "['x']"),
    (lambda: stats.hedges_g_data(_trial(), ["y"], "arm", "control"), "['y']"),
    (lambda: stats.binary_effects(_trial().assign(b=1.0), ["b"], "arm", "control"), "['b']"),
    (lambda: stats.random_intercept(_trial(), "y", ["school"]), "['school']"),
])
def test_a_single_column_role_given_as_a_list_is_named(call, shown):
    # before: AttributeError ('DataFrame' has no 'dtype'), TypeError (unhashable list) or
    # ValueError (truth value of a Series) from inside pandas
    with pytest.raises(DataError, match="column name must be a string, got " + re.escape(shown)):
        call()


def test_gee_with_one_cluster_per_arm_is_refused_not_a_linalg_error():
    two = _trial()[lambda d: d["school"].isin([0, 1])]
    with pytest.raises(EstimationError, match="one cluster in an arm.*Mancl-DeRouen"):
        stats.estimate_effect(two, "y", "arm", "control", cluster="school", method="gee")


@pytest.mark.parametrize("method, se", [("gee", "hc1"), ("gee", "classical"), ("mixed", "classical")])
def test_gee_and_mixed_refuse_an_outcome_that_copies_the_treatment(method, se):
    # before: estimate 1.0, SE 2.8e-13, CI [1.0, 1.0], p = 5e-181 (OLS already refused this)
    df = _trial(80, 16)
    df["y"] = (df["arm"] == "treat") * 1.0 + 1e-12 * df["x"]
    with pytest.raises(EstimationError, match="reproduces the outcome exactly"):
        stats.estimate_effect(df, "y", "arm", "control", cluster="school", method=method, se=se)


def test_random_intercept_refuses_an_outcome_its_covariate_reproduces():
    df = _trial(80, 16)
    df["y"] = 2 * df["x"] + 1e-13 * np.sin(np.arange(len(df)))  # before: SE 8e-15, p = 0
    with pytest.raises(EstimationError, match="mixed model: the model reproduces the outcome"):
        stats.random_intercept(df, "y", "school", covariates=["x"])


# GEE's robust SE is refused there instead (its Mancl-DeRouen sandwich does not exist):
# tests/test_stats_references_review.py
@pytest.mark.parametrize("method, se", [("ols", "cluster"), ("ols", "cr2")])
def test_a_reference_arm_in_one_cluster_is_refused_as_any_other_arm(method, se):
    """Was warned; refused since its intervals covered 65% (tests/test_stats_lone_arm230.py)."""
    df = _trial(80, 16)
    df.loc[df["arm"] == "control", "school"] = 0  # every control student in one school
    with pytest.raises(EstimationError, match="arm 'control' lies in a single cluster of "
                                              "'school'"):
        stats.estimate_effect(df, "y", "arm", "control", cluster="school", method=method, se=se)


def test_a_reference_arm_over_several_clusters_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", StatsWarning)
        est = stats.estimate_effect(_trial(80, 16), "y", "arm", "control", cluster="school",
                                    se="cluster")
    assert not any("single cluster" in n for n in est.notes)


def test_rdd_clustered_by_side_is_refused_not_a_zero_width_interval():
    df = _rd()
    df["s"] = (df["x"] < 0).astype(float)  # one cluster each side: the scores cancel
    # before: SE 1e-15 and the interval 0.53203335052014 to 0.53203335052016
    with pytest.raises(EstimationError, match="rows on each side of the cutoff lie in a single "
                                              "cluster of 's'"):
        stats.rdd(df, "y", "x", 0.0, cluster="s")


def test_rdd_refuses_a_side_of_the_cutoff_in_one_cluster():
    # warned before: its SE came from the other side alone (see test_stats_degenerate225.py)
    df = _rd()
    df["s"] = np.where(df["x"] < 0, 0.0, np.arange(len(df)))
    with pytest.raises(EstimationError, match="rows below the cutoff lie in a single cluster of "
                                              "'s'"):
        stats.rdd(df, "y", "x", 0.0, cluster="s")
    with warnings.catch_warnings():
        warnings.simplefilter("error", StatsWarning)
        res = stats.rdd(_rd(), "y", "x", 0.0, cluster="s")  # 20 schools each side: no warning
    assert res.notes == []


def test_hedges_g_ignores_the_sd_of_an_arm_of_one_student_even_when_huge():
    # before: OverflowError squaring 1e300, though an arm of one has weight n - 1 = 0
    huge = stats.hedges_g(1.0, 0.0, 1e300, 2.0, 1, 10)
    assert huge.g == stats.hedges_g(1.0, 0.0, 1.0, 2.0, 1, 10).g == pytest.approx(
        (1 - 3 / (4 * 11 - 9)) * 0.5)


def test_wald_and_critical_value_give_no_interval_for_a_nan_df_or_a_zero_se():
    assert math.isnan(critical_value(0.05, math.nan))  # before: 1.959964, the normal's
    assert math.isnan(critical_value(0.05, 0.0))
    assert critical_value(0.05, math.inf) == pytest.approx(1.959964, abs=1e-6)
    assert critical_value(0.05, None) == pytest.approx(1.959964, abs=1e-6)
    assert critical_value(0.05, 10) == pytest.approx(2.228139, abs=1e-6)
    for se in (0.0, -1.0, math.inf, math.nan):  # before (se=0): the interval (2, 2) and p = 0
        lo, hi, p = wald(2.0, se, 10, 0.05)
        assert math.isnan(lo) and math.isnan(hi) and math.isnan(p)
    lo, hi, p = wald(np.array([2.0, 2.0]), np.array([1.0, 0.0]), np.array([10.0, 10.0]), 0.05)
    assert hi[0] - lo[0] == pytest.approx(2 * 2.228139, abs=1e-5) and np.isnan([lo[1], p[1]]).all()


def test_simulated_power_names_an_argument_that_is_not_a_function():
    with pytest.raises(SrmsimError, match="simulate must be a function, got int"):
        stats.simulated_power(3, lambda df: 0.01, n_sims=2)  # before: TypeError in the loop
    with pytest.raises(SrmsimError, match="estimate must be a function, got str"):
        stats.simulated_power(lambda seed: _trial(), "estimate_effect", n_sims=2)


@pytest.mark.parametrize("factor", [1e15, 1e-16])
def test_ols_refuses_a_covariate_whose_scale_rounding_would_drop(factor):
    # before: a statsmodels SingularMatrixWarning only, and the arm effect 100% off (1e15) or
    # the covariate's coefficient lost (1e-16)
    df = _trial(60, 12).assign(x=lambda d: d["x"] * factor)
    with pytest.raises(DataError, match=r"effect of 'arm': term .* times the size of term .*"
                       r"rescale the covariate") as err:
        stats.estimate_effect(df, "y", "arm", "control", covariates=["x"])
    assert "'x'" in str(err.value)
    with pytest.raises(DataError, match=r"regression 'y ~ x \+ arm': term .* times the size") as err:
        stats.regress(df, "y ~ x + arm")
    assert "'x'" in str(err.value)


def test_ols_accepts_covariates_in_any_reasonable_unit():
    df = _trial(60, 12)
    ref = stats.estimate_effect(df, "y", "arm", "control", covariates=["x"]).effect()
    for factor in (1e-10, 1e8):
        est = stats.estimate_effect(df.assign(x=df["x"] * factor), "y", "arm", "control",
                                    covariates=["x"]).effect()
        assert est["estimate"] == pytest.approx(ref["estimate"], rel=1e-6)
        assert est["se"] == pytest.approx(ref["se"], rel=1e-6)


def test_ik_bandwidth_names_an_outcome_too_large_to_square():
    df = _rd()
    # before: EstimationError blaming "a strongly curved global cubic" (y**2 had overflowed)
    with pytest.raises(DataError, match=r"outcome reaches 1\.\d+e\+200 .*rescale it"):
        stats.ik_bandwidth(df["x"].to_numpy(), df["y"].to_numpy() * 1e200, 0.0)
    h = stats.ik_bandwidth(df["x"].to_numpy(), df["y"].to_numpy() * 1e100, 0.0)
    assert h == pytest.approx(stats.ik_bandwidth(df["x"].to_numpy(), df["y"].to_numpy(), 0.0))


def test_risk_ratio_refuses_a_continuity_correction_that_swamps_the_counts():
    # before: continuity=1e300 gave the ratio 1 with the zero-width interval (1, 1)
    with pytest.raises(SrmsimError, match="continuity must be from 0 to 1"):
        stats.risk_ratio(0, 10, 1, 10, continuity=1e300)
    rr = stats.risk_ratio(0, 10, 1, 10, continuity=1)
    assert rr.estimate == pytest.approx((1 / 12) / (2 / 12)) and rr.ci_low < rr.ci_high


def test_a_numeric_covariate_stored_beside_a_blank_is_a_number_not_dummies():
    df = _trial(200, 20)
    df["prior"] = np.round(df["x"] * 2).astype(int)
    blank = df.assign(prior=df["prior"].astype(object))
    blank.loc[0, "prior"] = None  # as a JSON or Excel export leaves it: an object column
    est = stats.estimate_effect(blank, "y", "arm", "control", covariates=["prior"])
    ref = stats.estimate_effect(df.drop(index=0), "y", "arm", "control", covariates=["prior"])
    # before: 12 dummies 'prior[-6]', ... with a note calling the column categorical
    assert est.terms == ["Intercept", "arm[treat]", "prior"]
    assert est.effect()["estimate"] == pytest.approx(ref.effect()["estimate"], rel=1e-12)
    assert est.rows_dropped == 1 and not any("categorical" in n for n in est.notes)
