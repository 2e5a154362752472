"""Statistics left open by reviews 225/230/231 (helper 235); each section says what was wrong."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.regression.linear_model import OLS

from srmsim import stats
from srmsim.errors import EstimationError
from srmsim.stats._checks import StatsWarning


def _trial(seed: int = 0, schools: int = 8, per_school: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    school = np.repeat(np.arange(schools), per_school)
    arm = np.where(school % 2 == 0, "control", "treat")
    y = 0.3 * (arm == "treat") + rng.normal(0, 0.5, schools)[school] + rng.normal(size=school.size)
    return pd.DataFrame({"school": school, "arm": arm, "t": (arm == "treat").astype(int),
                         "x": rng.normal(size=school.size), "y": y})


# 3. GEE's lone-arm refusal in the shared words ---------------------------------------------------
# GEE refused an arm in one cluster in its own words; now through refuse_arms_in_one_cluster.

def test_gee_refuses_an_arm_in_one_cluster_in_the_shared_words():
    d = _trial()
    d.loc[d["arm"] == "control", "school"] = 0  # the control arm all in one school
    shared = (r"effect of 'arm' with {}: arm 'control' lies in a single cluster of 'school', so "
              r"the cluster-robust SE holds none of that cluster's own shock.*at least two "
              r"clusters in every arm")
    with pytest.raises(EstimationError, match=shared.format("GEE's robust SEs") + ".*Mancl-DeRouen"):
        stats.estimate_effect(d, "y", "arm", "control", cluster="school", method="gee")
    with pytest.raises(EstimationError, match=shared.format("cluster-robust SEs")):
        stats.estimate_effect(d, "y", "arm", "control", cluster="school", se="cr2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatsWarning)  # model-based: not refused, as before
        assert np.isfinite(stats.estimate_effect(d, "y", "arm", "control", cluster="school",
                                                 method="gee", se="classical").effect()["se"])


# 4. CR2 and HC2 with a covariate far from zero ---------------------------------------------------
# The fit's own residuals carried its rounding into the directions (I - H_gg)^(-1/2)
# amplifies (SEs 8e-7 off at 2e6 + x); the sandwich now uses the centred design's fit.

def _far(offset: float) -> pd.DataFrame:
    """5 schools of 3 pupils, a covariate offset + x (x mostly school-level); the reference
    is the same fit with x itself, which spans the same space (the arm's SE is the same)."""
    rng = np.random.default_rng(14)
    school = np.repeat(np.arange(5), 3)
    t = school % 2
    x = rng.normal(size=5)[school] + 0.2 * rng.normal(size=school.size)
    y = 0.3 * t + 0.5 * x + rng.normal(size=school.size) + 0.5 * rng.normal(size=5)[school]
    return pd.DataFrame({"y": y, "t": t, "arm": np.where(t == 1, "b", "a"), "xc": x,
                         "x": offset + x, "s": school})


def test_cr2_with_a_covariate_far_from_zero_matches_the_centred_fit():
    d = _far(2e6)
    far = stats.regress(d, "y ~ t + x", se="cr2", cluster="s").table
    near = stats.regress(d, "y ~ t + xc", se="cr2", cluster="s").table
    for term, ref in (("t", "t"), ("x", "xc")):
        assert far.loc[term, "se"] == pytest.approx(near.loc[ref, "se"], rel=1e-9)  # was 8e-7 off
        assert far.loc[term, "df"] == pytest.approx(near.loc[ref, "df"], rel=1e-9)
    # the estimates are the fit's own, unchanged by the centring of the sandwich
    raw = OLS(d["y"].to_numpy(float), np.column_stack([np.ones(len(d)), d["t"], d["x"]])).fit()
    assert far.loc["t", "estimate"] == raw.params[1]
    # estimate_effect's CR2 and HC2 go through the same fit
    for se, cl in (("cr2", "s"), ("hc2", None)):
        a = stats.estimate_effect(d, "y", "arm", "a", covariates=["x"], cluster=cl, se=se).effect()
        b = stats.estimate_effect(d, "y", "arm", "a", covariates=["xc"], cluster=cl,
                                  se=se).effect()
        assert a["se"] == pytest.approx(b["se"], rel=1e-9), se
        assert a["df"] == pytest.approx(b["df"], rel=1e-9), se
