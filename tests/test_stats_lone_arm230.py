"""An arm alone in one cluster with cluster-robust SEs: refused, not warned (helper 230).

With the control arm in one school of 25 pupils and 6 treated schools (school SD 0.5, pupil SD
1, no effect), that school's residuals sum to zero along the arm's column, so the sandwich holds
none of its shock, which the estimate carries whole: nominal 95% intervals covered 63-66% of
300 simulated trials (CR1 and CR2, estimate_effect and regress alike), two-way CR1 52% and a
policy tried in one term 75%, where the mixed model (random intercept) covered 97%. srmsim
warned and returned the SE; a text arm in regress was not even warned of.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from srmsim import stats
from srmsim.errors import EstimationError
from srmsim.stats import StatsWarning

NEEDED = "at least two clusters in every arm are needed"


def _schools(lone: str = "control", others: int = 6, size: int = 25,
             seed: int = 230) -> pd.DataFrame:
    """School 0 is the ``lone`` arm; ``others`` schools the other arm; no effect, ICC 0.2."""
    rng = np.random.default_rng(seed)
    school = np.repeat(np.arange(1 + others), size)
    x = rng.normal(size=school.size)
    y = rng.normal(0, 0.5, 1 + others)[school] + 0.3 * x + rng.normal(size=school.size)
    arm = np.where(school == 0, lone, "treat" if lone == "control" else "control")
    return pd.DataFrame({"y": y, "x": x, "school": school, "arm": arm,
                         "t": (arm == "treat").astype(int),
                         "term": np.arange(school.size) % 4})


def _no_stats_warning(call):
    with warnings.catch_warnings():
        warnings.simplefilter("error", StatsWarning)
        return call()


@pytest.mark.parametrize("se", ["cluster", "cr2"])
@pytest.mark.parametrize("lone", ["control", "treat"])
@pytest.mark.parametrize("covariates", [[], ["x"]])
def test_estimate_effect_refuses_an_arm_in_one_school(se, lone, covariates):
    df = _schools(lone)
    with pytest.raises(EstimationError, match=rf"arm '{lone}' lies in a single cluster of "
                                              rf"'school'.*{NEEDED}"):
        stats.estimate_effect(df, "y", "arm", "control", cluster="school",
                              covariates=covariates, se=se)
    # the mixed model, which models that school's shock (and covered 97%), still answers, and
    # a second school in the lone arm is enough for the sandwich
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatsWarning)  # a zero group variance, if it comes
        mixed = stats.estimate_effect(df, "y", "arm", "control", cluster="school",
                                      covariates=covariates, method="mixed", se="classical")
    assert np.isfinite(mixed.effect()["se"])
    two = df.assign(arm=np.where(df["school"] <= 1, lone, df["arm"]))
    est = _no_stats_warning(lambda: stats.estimate_effect(
        two, "y", "arm", "control", cluster="school", covariates=covariates, se=se))
    assert est.effect()["se"] > 0


def test_estimate_effect_refuses_a_lone_arm_among_three_and_names_it():
    """Three arms: 'b' in one school, 'control' and 'a' in three each: 'b' is named alone."""
    df = _schools(others=6)
    df["arm"] = np.select([df["school"] == 0, df["school"] <= 3], ["b", "a"], "control")
    with pytest.raises(EstimationError, match=rf"effect of 'arm' with cluster-robust SEs: arm "
                                              rf"'b' lies in a single cluster of 'school', .*"
                                              rf"{NEEDED}"):
        stats.estimate_effect(df, "y", "arm", "control", cluster="school", se="cr2")


def test_two_way_clustering_refuses_an_arm_in_one_cluster_of_either_way():
    df = _schools()
    with pytest.raises(EstimationError, match=r"two-way cluster-robust SEs: arm 'control' lies "
                                              r"in a single cluster of 'school'"):
        stats.estimate_effect(df, "y", "arm", "control", cluster=["term", "school"],
                              covariates=["x"], se="cluster")
    with pytest.raises(EstimationError, match=r"the rows where term 't' is 0 lie in a single "
                                              r"cluster of 'school'"):
        stats.regress(df, "y ~ t + x", se="cluster", cluster=["term", "school"])


@pytest.mark.parametrize("se", ["cluster", "cr2"])
@pytest.mark.parametrize(("lone", "side"), [("control", 0), ("treat", 1)])
def test_regress_refuses_a_0_1_term_whose_1s_or_0s_are_one_school(se, lone, side):
    df = _schools(lone)
    with pytest.raises(EstimationError, match=rf"regression 'y ~ t \+ x': the rows where term "
                                              rf"'t' is {side} lie in a single cluster of "
                                              rf"'school'.*{NEEDED}"):
        stats.regress(df, "y ~ t + x", se=se, cluster="school")
    # without the covariate the intercept's SE came out 0 and the refusal named that instead
    with pytest.raises(EstimationError, match=rf"term 't' is {side} lie in a single cluster"):
        stats.regress(df, "y ~ t", se=se, cluster="school")


@pytest.mark.parametrize("formula", ["y ~ arm + x", "y ~ C(arm) + x", "y ~ 0 + arm + x"])
def test_regress_refuses_a_text_arm_with_a_value_in_one_school(formula):
    """A text arm was not even warned of: its dummy arm[T.treat] was skipped as a category."""
    df = _schools()
    with pytest.raises(EstimationError, match=rf"value 'control' of column 'arm' lies in a "
                                              rf"single cluster of 'school'.*{NEEDED}"):
        stats.regress(df, formula, se="cluster", cluster="school")
    # a reference value alone in one school among three values, the others in three each
    three = df.assign(arm=np.select([df["school"] == 0, df["school"] <= 3],
                                    ["control", "a"], "b"))
    with pytest.raises(EstimationError, match=r"value 'control' of column 'arm' lies"):
        stats.regress(three, formula, se="cr2", cluster="school")


def test_regress_leaves_the_clusters_own_fixed_effects_and_spread_terms_alone():
    """C(school) clustered by school (each value in one school by design) and an arm spread
    over schools are not refused; a lone arm beside them is."""
    df = _schools()
    df["arm"] = np.where(df.index % 2 == 0, "treat", "control")  # pupils randomised in schools
    df["t"] = (df["arm"] == "treat").astype(int)
    fit = _no_stats_warning(lambda: stats.regress(df, "y ~ t + x + C(school)", se="cluster",
                                                  cluster="school"))
    assert np.isfinite(fit.coef("t")["se"])
    fit = _no_stats_warning(lambda: stats.regress(df, "y ~ arm + x", se="cr2",
                                                  cluster="school"))
    assert np.isfinite(fit.coef("arm[T.treat]")["se"])
    df["pilot"] = (df["school"] == 2).astype(int)  # a policy tried in one school, beside them
    with pytest.raises(EstimationError, match=r"term 'pilot' is 1 lie in a single cluster"):
        stats.regress(df, "y ~ t + x + pilot", se="cluster", cluster="school")
