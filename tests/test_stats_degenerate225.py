"""Helper 225: estimates that looked fine but were meaningless.

A cluster-robust SE of a contrast between two single clusters (an arm in one school, the other
arm in another; a side of an RD cutoff in one school) cannot see those clusters' shocks, which
the estimate carries whole: each is refused, naming the term or side and the clustering column.
Designs with 2+ clusters on each side are checked to recover a known effect as before. And the
mixed model's optimiser guard records numerical failures only, never a bug in the call.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.regression.mixed_linear_model import MixedLM

from srmsim import stats
from srmsim.errors import EstimationError, SrmsimError


def _schools(per_arm: int, seed: int = 0, size: int = 30) -> pd.DataFrame:
    """Whole schools randomised (odd schools treated), school SD 0.5, effect 0.3."""
    rng = np.random.default_rng(seed)
    school = np.repeat(np.arange(2 * per_arm), size)
    treated = school % 2 == 1
    x = rng.normal(size=school.size)
    y = 0.3 * treated + 0.5 * x + 0.5 * rng.normal(size=2 * per_arm)[school] \
        + rng.normal(size=school.size)
    return pd.DataFrame({"y": y, "x": x, "school": school,
                         "arm": np.where(treated, "treat", "control"),
                         "t": treated.astype(int), "tb": treated})


# (formula's arm part, the term, the column named): a text arm (the path that escaped), a
# numeric 0/1 arm, the same as a category, and a true/false one
ARMS = [("arm", "arm[T.treat]", "'arm'"), ("t", "t", None), ("C(t)", "C(t)[T.1]", "'t'"),
        ("tb", "tb[T.True]", "'tb'")]


@pytest.mark.parametrize("se", ["cluster", "cr2"])
@pytest.mark.parametrize("covariates", ["", " + x"])
@pytest.mark.parametrize(("arm", "term", "column"), ARMS)
def test_regress_refuses_one_cluster_per_arm_naming_the_arm_and_the_cluster(arm, term, column,
                                                                           covariates, se):
    """Before: a text arm with a covariate got CR1/CR2 SE 0.003 (the estimate's SD over
    replications is 0.74) and no warning; without one, a 'zero to rounding' error that named
    neither the arm's column nor the clustering."""
    shown = term.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(").replace(")", r"\)")
    of = f" \\(column {column}\\)" if column else ""
    with pytest.raises(EstimationError, match=f"term '{shown}'{of} is 1 in a single cluster and 0 "
                                              "in a single other one, clustered by 'school'"):
        stats.regress(_schools(1), f"y ~ {arm}{covariates}", se=se, cluster="school")


@pytest.mark.parametrize("se", ["cluster", "cr2"])
def test_regress_with_two_or_more_schools_an_arm_is_unaffected(se):
    """Two schools an arm: reported (no refusal, no single-cluster warning); school fixed
    effects clustered by school (a category's dummies, each in one cluster) are not refused."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = stats.regress(_schools(2), "y ~ arm + x", se=se, cluster="school")
    assert not [w for w in caught if "single cluster" in str(w.message)]
    assert 0 < fit.coef("arm[T.treat]")["se"] < 1
    d = _schools(3).assign(t=lambda f: np.random.default_rng(3).integers(0, 2, len(f)))
    fe = stats.regress(d, "y ~ t + x + C(school)", se=se, cluster="school")
    assert 0 < fe.coef("t")["se"] < 1


def test_regress_with_two_schools_an_arm_recovers_the_effect():
    """The truth (0.3) by simulation: CR2 95% intervals cover it with 2 schools an arm (95% in
    400 replications when checked); with one school an arm the refused SE had covered 27%."""
    hits = []
    for seed in range(150):
        row = stats.regress(_schools(2, seed), "y ~ arm + x", se="cr2",
                            cluster="school").coef("arm[T.treat]")
        hits.append(row["ci_low"] <= 0.3 <= row["ci_high"])
    coverage, mcse = float(np.mean(hits)), float(np.sqrt(0.95 * 0.05 / len(hits)))
    assert abs(coverage - 0.95) < 3 * mcse, coverage


def _three_arms(per_arm: int, seed: int = 0) -> pd.DataFrame:
    d = _schools(3 * per_arm, seed).iloc[: 3 * per_arm * 30]  # 3 x per_arm schools of 30
    return d.assign(arm=np.array(["control", "a", "b"])[d["school"] % 3])


@pytest.mark.parametrize("se", ["cluster", "cr2"])
@pytest.mark.parametrize("covariates", ["", " + x"])
def test_regress_refuses_three_arms_of_one_cluster_each(covariates, se):
    """Before: y ~ arm + x with three schools, one an arm, got SEs of 0.003 and 0.006 (school
    SD 0.5) and no warning: each of the 0/1 rule's dummies has its 0s in two schools."""
    with pytest.raises(EstimationError, match="column 'arm' has one cluster of 'school' per "
                                              r"value \(3 values"):
        stats.regress(_three_arms(1), f"y ~ arm{covariates}", se=se, cluster="school")


@pytest.mark.parametrize("se", ["cluster", "cr2"])
def test_three_arms_of_two_clusters_each_and_school_effects_are_reported(se):
    fit = stats.regress(_three_arms(2), "y ~ arm + x", se=se, cluster="school")
    assert (fit.table["se"] > 0).all() and np.isfinite(fit.table["se"]).all()
    # school fixed effects clustered by school: the clustering column's own dummies
    d = _three_arms(2).assign(t=lambda f: np.random.default_rng(5).integers(0, 2, len(f)))
    assert np.isfinite(stats.regress(d, "y ~ t + x + C(school)", se=se,
                                     cluster="school").coef("t")["se"])


def _rd(seed: int = 0, n: int = 600, lone: str | None = "below") -> pd.DataFrame:
    """Jump 0.5 at 0, 20 schools on a side, or one school (``lone``), school SD 0.5."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    school = np.where(x >= 0, rng.integers(0, 20, n), rng.integers(20, 40, n))
    if lone == "below":
        school = np.where(x < 0, 20, school)
    elif lone == "above":
        school = np.where(x >= 0, 0, school)
    y = 0.5 * (x < 0) + x + 0.5 * rng.normal(size=40)[school] + rng.normal(scale=0.3, size=n)
    return pd.DataFrame({"x": x, "y": y, "s": school})


@pytest.mark.parametrize(("lone", "side", "treated_side"), [
    ("below", "below", "below"), ("above", "at or above", "below"),
    ("below", "below", "above")])
def test_rdd_refuses_a_side_of_the_cutoff_in_one_cluster(lone, side, treated_side):
    """Before: warned, and a CR2 SE of about 0.13 returned where the jump's SD over
    replications is 0.53 (43% of 95% intervals held the true jump)."""
    with pytest.raises(EstimationError, match=f"rdd: within the bandwidth 1 the rows {side} the "
                                              "cutoff lie in a single cluster of 's'"):
        stats.rdd(_rd(lone=lone), "y", "x", 0.0, bandwidth=1.0, cluster="s",
                  treated_side=treated_side)


def test_rdd_refuses_one_cluster_within_the_bandwidth_though_more_lie_beyond_it():
    d = _rd(lone=None)
    d.loc[(d["x"] < 0) & (d["x"] > -0.3), "s"] = 20  # near the cutoff below: one school
    with pytest.raises(EstimationError, match="bandwidth 0.25 the rows below the cutoff lie in "
                                              "a single cluster of 's'"):
        stats.rdd(d, "y", "x", 0.0, bandwidth=0.25, cluster="s")
    assert stats.rdd(d, "y", "x", 0.0, bandwidth=1.0, cluster="s").n_clusters == 40


def test_rdd_with_clusters_on_both_sides_recovers_the_jump():
    """20 schools each side: no note, and the CR2 intervals cover the true jump (95% in 300
    replications when checked)."""
    hits = []
    for seed in range(120):
        res = stats.rdd(_rd(seed, lone=None), "y", "x", 0.0, bandwidth=1.0, cluster="s")
        assert res.notes == []
        hits.append(res.ci_low <= 0.5 <= res.ci_high)
    coverage, mcse = float(np.mean(hits)), float(np.sqrt(0.95 * 0.05 / len(hits)))
    assert abs(coverage - 0.95) < 3 * mcse, coverage


def _grouped(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(30), 20)
    return pd.DataFrame({"y": 1.0 + rng.normal(0, 0.6, 30)[g] + rng.normal(size=g.size),
                         "g": g, "arm": np.where(g % 2 == 0, "control", "treat")})


def _raising(error: Exception, monkeypatch: pytest.MonkeyPatch) -> None:
    real_fit = MixedLM.fit

    def patched(self, *args, method=None, **kwargs):
        if method == "lbfgs":
            raise error
        return real_fit(self, *args, method=method, **kwargs)

    monkeypatch.setattr(MixedLM, "fit", patched)


def test_a_bug_raised_inside_an_optimiser_is_not_recorded_as_a_failed_fit(monkeypatch):
    """Before: a TypeError (a wrong argument, an API change) inside lbfgs's attempt was
    logged as 'failed' and the other optimisers returned a fit, hiding the bug."""
    _raising(TypeError("fit() got an unexpected keyword argument 'tol'"), monkeypatch)
    with pytest.raises(TypeError, match="unexpected keyword"):
        stats.random_intercept(_grouped(), "y", "g")


def test_a_numerical_failure_of_lbfgs_is_logged_by_name_and_the_others_carry_the_fit(
        monkeypatch):
    _raising(np.linalg.LinAlgError("Singular matrix"), monkeypatch)
    fit = stats.random_intercept(_grouped(), "y", "g")
    log = fit.attempts.set_index("optimizer")
    assert log.loc["lbfgs", "status"] == "failed"
    assert log.loc["lbfgs", "reason"] == "LinAlgError: Singular matrix"
    assert "note: optimiser lbfgs failed: LinAlgError: Singular matrix" in fit.summary()
    assert fit.group_variance > 0.1
    est = stats.estimate_effect(_grouped(), "y", "arm", "control", cluster="g",
                                method="mixed", se="classical")
    assert "optimiser lbfgs failed: LinAlgError: Singular matrix" in est.notes
    assert np.isfinite(est.table[["estimate", "se", "ci_low", "ci_high"]].to_numpy()).all()


@pytest.mark.parametrize("name", ["newton", "ncg"])
def test_an_optimiser_mixedlm_lacks_is_refused_by_name(name):
    """Before: accepted, then statsmodels' 'method newton not available for MixedLM' was
    logged as a failed fit and reported as 'no sound fit with any optimiser ... check that
    groups have several members and the outcome varies', blaming the data."""
    with pytest.raises(SrmsimError, match=f"optimizer='{name}' is not one of 'lbfgs', 'bfgs'"):
        stats.random_intercept(_grouped(), "y", "g", optimizers=(name,))
