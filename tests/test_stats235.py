"""Statistics left open by reviews 225/230/231 (helper 235); each section says what was wrong."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.regression.linear_model import OLS

from srmsim import stats

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
