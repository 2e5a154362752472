"""Statistics left open by reviews 225/230/231 (helper 235); each section says what was wrong."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.regression.linear_model import OLS

from srmsim import stats
from srmsim.errors import EstimationError, SrmsimError
from srmsim.stats._checks import StatsWarning


def _trial(seed: int = 0, schools: int = 8, per_school: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    school = np.repeat(np.arange(schools), per_school)
    arm = np.where(school % 2 == 0, "control", "treat")
    y = 0.3 * (arm == "treat") + rng.normal(0, 0.5, schools)[school] + rng.normal(size=school.size)
    return pd.DataFrame({"school": school, "arm": arm, "t": (arm == "treat").astype(int),
                         "x": rng.normal(size=school.size), "y": y})


# 1. cluster= with an se that does not use it ----------------------------------------------------
# It was only warned: the named clustering was ignored (HC1, the default, HC2, classical).

@pytest.mark.parametrize("se, kind", [(None, "heteroskedasticity-robust (HC1)"),
                                      ("hc2", "heteroskedasticity-robust (HC2)"),
                                      ("classical", "classical (iid)")])
def test_estimate_effect_refuses_a_cluster_its_se_would_ignore(se, kind):
    kw = {} if se is None else {"se": se}
    shown = se or "hc1"  # the default
    with pytest.raises(SrmsimError, match=(
            rf"cluster='school' given with se='{shown}': {re.escape(kind)} standard errors do "
            r"not use the clustering; pass se='cr2' \(fewer than 30 clusters\) or "
            r"se='cluster' for cluster-robust ones, or leave out cluster=")):
        stats.estimate_effect(_trial(), "y", "arm", "control", cluster="school", **kw)
    # what the message offers works; GEE and the mixed model use cluster= with their own SEs
    assert stats.estimate_effect(_trial(), "y", "arm", "control", cluster="school",
                                 se="cr2").effect()["df"] > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatsWarning)  # fewer than 10 clusters
        assert np.isfinite(stats.estimate_effect(_trial(), "y", "arm", "control",
                                                 cluster="school", method="gee").effect()["se"])


@pytest.mark.parametrize("se", ["hc1", "hc3", "classical"])
def test_regress_refuses_a_cluster_its_se_would_ignore(se):
    with pytest.raises(SrmsimError, match=rf"cluster='school' given with se='{se}'.*se='cr2'"):
        stats.regress(_trial(), "y ~ t + x", se=se, cluster="school")
    with pytest.raises(SrmsimError, match=r"cluster=\['school'\] given with se='hc1'"):
        stats.regress(_trial(), "y ~ t + x", cluster=["school"])  # the default se
    assert stats.regress(_trial(), "y ~ t + x", se=se).coef("t")["se"] > 0  # without cluster=


# 2. did_group_time's aggregates: SE, df and interval by the cells' rule, or none --------------
# control="notyet" with the never-treated units in one cluster gave some aggregates an SE but
# no df or interval, beside the very same cell with all three.

from test_stats_did_lone231 import _classes  # noqa: E402  (its panel of classes in schools)


def _notyet(panel: pd.DataFrame):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = stats.did_group_time(panel, "y", "class", "t", "g", control="notyet",
                                   cluster="school")
    return fit, [str(w.message) for w in caught]


def _se_comes_with_df_and_interval(table: pd.DataFrame) -> None:
    has_se = np.isfinite(table["se"].to_numpy(dtype=float))
    for col in ("df", "ci_low", "ci_high", "p_value"):
        assert (np.isfinite(table[col].to_numpy(dtype=float)) == has_se).all(), col


def test_an_event_time_of_one_cell_has_that_cells_se_df_and_interval():
    """The never-treated classes all in school s0, staggered starts in 2, 3 and 4: event time
    -3 is cohort 4's cell in period 1 alone (controls: the not-yet-treated cohorts 2 and 3 and
    s0, six schools). The cell had df 2.09 and an interval; the event time the same SE with no
    df, for s0 counted as an arm of its own."""
    fit, _ = _notyet(_classes({s: float(2 + s % 3) for s in range(1, 8)}))
    cell = fit.att_gt.set_index(["group", "time"]).loc[(4.0, 1.0)]
    event = fit.event_study.set_index("event_time").loc[-3]
    assert np.isfinite(cell["df"]) and cell["df"] > 1
    for col in ("se", "df", "ci_low", "ci_high", "p_value"):
        assert event[col] == pytest.approx(cell[col], rel=1e-12)
    assert event["estimate"] == pytest.approx(cell["att"], rel=1e-12)
    _se_comes_with_df_and_interval(fit.event_study)
    _se_comes_with_df_and_interval(fit.aggregates)
    _se_comes_with_df_and_interval(fit.att_gt)


def test_an_aggregate_on_an_arm_of_one_cluster_is_withheld_with_its_reason():
    """Cohorts 3 and 4 two schools each, the never treated one school: event time -2 averages
    cohort 3's cell in period 1 (controls: cohort 4 and s0) and cohort 4's in period 2
    (controls: cohort 3 and s0). Each cell has an SE, df and interval; in the average, s0 is
    the only unit that is a control and never treated, an arm of one cluster whose part of the
    variance nothing estimates: it had an SE (0.65) without df or interval."""
    fit, said = _notyet(_classes({1: 3.0, 2: 3.0, 3: 4.0, 4: 4.0}, schools=5))
    cells = fit.att_gt.set_index(["group", "time"])
    assert np.isfinite(cells.loc[[(3.0, 1.0), (4.0, 2.0)], ["se", "df", "ci_low"]]).all().all()
    event = fit.event_study.set_index("event_time").loc[-2]
    assert np.isfinite(event["estimate"])
    assert event[["se", "df", "ci_low", "ci_high", "p_value"]].isna().all()
    assert any("1 effect or aggregate rests on an arm (a cohort, or the controls treated in "
               "none of its cells) with a single cluster" in m and "no standard error" in m
               for m in said)
    assert any("no standard error, interval" in n for n in fit.notes)
    _se_comes_with_df_and_interval(fit.event_study)
    _se_comes_with_df_and_interval(fit.aggregates)


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
