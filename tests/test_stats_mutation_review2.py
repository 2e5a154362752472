"""Mutation review of srmsim.stats.mixed (beyond its df), two-way clustering (regress,
estimate_effect, did_twfe's cluster column) and srmsim.policy.heterogeneity: behaviour no other
test pinned.

Each test was written against a small change to the code (ML fitted as REML, the highest
log-likelihood no longer chosen, an absolute boundary threshold, the second clustering way
forgotten, a missing modifier value not counted as the centre ...) that left every other test
passing. The references are independent: closed forms written out here (balanced one-way ANOVA
estimators of the variance components, the t-test on school means, the Gaussian log-density,
the CGM sandwich), a one-dimensional profile REML search, statsmodels' OLS, the documented
multiplier rule, and the engine's own delivery of an effect."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.regression.mixed_linear_model import MixedLM
from test_stats_regression import cr1  # one-way CR1 written out

from srmsim import stats
from srmsim.errors import EstimationError, SrmsimError
from srmsim.stats import StatsWarning


# ------------------------------------------------------------------ random intercepts
def balanced(seed: int, groups: int = 12, size: int = 8, tau: float = 2.0, sigma: float = 4.0,
             arms: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), size)
    treated = (g % 2 == 0).astype(float) if arms else np.zeros(g.size)
    y = 50 + 0.5 * treated + rng.normal(0, tau, groups)[g] + rng.normal(0, sigma, g.size)
    return pd.DataFrame({"y": y, "g": g, "tr": treated,
                         "arm": np.where(treated == 1, "t", "c")})


def anova(df: pd.DataFrame, reml: bool) -> dict[str, float]:
    """Balanced one-way random effects (Searle, Casella & McCulloch 1992, ch. 3): REML is the
    ANOVA estimator sigma2 = MSW, tau2 = (MSB - MSW) / n; ML divides the between sum of squares
    by G instead of G - 1. The intercept's variance is (tau2 + sigma2 / n) / G."""
    G, n = df["g"].nunique(), len(df) // df["g"].nunique()
    means = df.groupby("g")["y"].transform("mean").to_numpy()
    y = df["y"].to_numpy()
    msw = float(((y - means) ** 2).sum()) / (G * (n - 1))
    between = n * float(((df.groupby("g")["y"].mean() - y.mean()) ** 2).sum())
    mean_square = between / (G - 1 if reml else G)
    return {"tau2": (mean_square - msw) / n, "sigma2": msw, "se": math.sqrt(mean_square / (n * G))}


def gaussian_loglik(df: pd.DataFrame, mu: float, tau2: float, sigma2: float, reml: bool) -> float:
    """The log-density of y under y_g ~ N(mu 1, sigma2 I + tau2 J), written out with scipy; REML
    adds -1/2 log|X'V^-1 X| + p/2 log(2 pi) (statsmodels' constant, p = 1 here)."""
    ll, info = 0.0, 0.0
    for _, part in df.groupby("g"):
        n = len(part)
        V = sigma2 * np.eye(n) + tau2 * np.ones((n, n))
        ll += sps.multivariate_normal(np.full(n, mu), V).logpdf(part["y"].to_numpy())
        info += float(np.ones(n) @ np.linalg.solve(V, np.ones(n)))
    return ll + (-0.5 * math.log(info) + 0.5 * math.log(2 * math.pi) if reml else 0.0)


@pytest.mark.parametrize("reml", [True, False])
def test_balanced_fit_is_the_anova_estimator_and_its_log_likelihood(reml):
    """ML is ML: a mutation that searched REML and evaluated the ML likelihood at the REML
    optimum passed every test (HSB is fitted by REML only)."""
    df = balanced(1)
    ref = anova(df, reml)
    assert ref["tau2"] > 0  # an interior optimum, where the closed form is the fit
    fit = stats.random_intercept(df, "y", "g", reml=reml)
    assert fit.group_variance == pytest.approx(ref["tau2"], rel=1e-6)
    assert fit.residual_variance == pytest.approx(ref["sigma2"], rel=1e-6)
    assert fit.fixed.loc["Intercept", "estimate"] == pytest.approx(df["y"].mean(), rel=1e-12)
    assert fit.fixed.loc["Intercept", "se"] == pytest.approx(ref["se"], rel=1e-6)
    assert fit.loglik == pytest.approx(
        gaussian_loglik(df, df["y"].mean(), ref["tau2"], ref["sigma2"], reml), abs=1e-6)


@pytest.mark.parametrize("reml", [True, False])
def test_the_optimiser_log_is_in_the_outcomes_units(reml):
    """attempts: each optimiser's log-likelihood and group variance as the fit reports them,
    not those of the standardised outcome the search ran on: every accepted attempt reached the
    same optimum, so its log-likelihood is the fit's and its variance the closed form's."""
    df = balanced(1).assign(y=lambda d: d["y"] * 1000)  # SD about 4,400: units matter
    ref = anova(df, reml)
    fit = stats.random_intercept(df, "y", "g", reml=reml)
    accepted = fit.attempts[fit.attempts["status"] == "accepted"]
    assert len(accepted) >= 2
    assert accepted["loglik"].to_numpy() == pytest.approx(fit.loglik, abs=1e-4)
    assert accepted["group_variance"].to_numpy() == pytest.approx(ref["tau2"], rel=1e-3)


def test_school_level_effect_is_the_t_test_on_school_means():
    """Balanced, treatment by school: the REML effect, its SE and between-within df G - 2 are
    those of the two-sample t-test on the school means; ML's SE divides the between-school sum
    of squares by G instead of G - 2. Through random_intercept and estimate_effect alike."""
    df = balanced(4, groups=10, size=6, tau=0.6, sigma=1.0, arms=True)
    m = df.groupby("g").agg(y=("y", "mean"), tr=("tr", "first"))
    treated, control = m.loc[m["tr"] == 1, "y"], m.loc[m["tr"] == 0, "y"]
    tt = sps.ttest_ind(treated, control)
    diff = treated.mean() - control.mean()
    se = diff / float(tt.statistic)
    fit = stats.random_intercept(df, "y", "g", covariates=["tr"])
    row = fit.fixed.loc["tr"]
    assert (row["estimate"], row["se"], row["df"]) == pytest.approx((diff, se, 8), rel=1e-6)
    assert row["p_value"] == pytest.approx(float(tt.pvalue), rel=1e-5)
    eff = stats.estimate_effect(df, "y", "arm", "c", cluster="g", method="mixed").effect()
    assert (eff["estimate"], eff["se"], eff["df"]) == pytest.approx((diff, se, 8), rel=1e-6)
    ml = stats.estimate_effect(df, "y", "arm", "c", cluster="g", method="mixed",
                               reml=False).effect()
    resid = m["y"] - m.groupby("tr")["y"].transform("mean")
    ml_se = math.sqrt(float((resid**2).sum()) / 10 * (1 / 5 + 1 / 5))
    assert (ml["estimate"], ml["se"]) == pytest.approx((diff, ml_se), rel=1e-5)


def test_intervals_at_another_level_use_t_with_the_terms_df():
    """random_intercept(alpha=0.1) and conf_int(0.1): estimate -+ t(0.95, df) SE, the df of
    each term (a normal quantile passed the tests)."""
    df = balanced(4, groups=10, size=6, tau=0.6, sigma=1.0, arms=True)
    fit = stats.random_intercept(df, "y", "g", covariates=["tr"], alpha=0.1)
    again = stats.random_intercept(df, "y", "g", covariates=["tr"]).conf_int(0.1)
    crit = sps.t.ppf(0.95, 8)
    for ci in (fit.fixed[["ci_low", "ci_high"]], again, fit.conf_int()):
        assert ci.loc["tr"].to_numpy() == pytest.approx(
            fit.fixed.loc["tr", "estimate"] + np.array([-1, 1]) * crit * fit.fixed.loc["tr", "se"],
            rel=1e-9)


def test_estimate_effect_warns_of_the_boundary_that_was_hit():
    """method='mixed' passes (group, residual) variance to the boundary check in that order:
    group means forced equal warn of a zero group variance, identical members of a zero residual
    variance, and neither is warned for the other (swapped, each said the other)."""
    rng = np.random.default_rng(9)
    g = np.repeat(np.arange(12), 6)
    e = rng.normal(size=g.size)
    e -= pd.Series(e).groupby(g).transform("mean").to_numpy()
    arm = np.where(g % 2 == 0, "t", "c")
    flat = pd.DataFrame({"y": 5 + e, "g": g, "arm": arm})
    lumpy = pd.DataFrame({"y": 5 + rng.normal(size=12)[g] + 1e-5 * e, "g": g, "arm": arm})
    for df, hit, other in ((flat, "group variance is estimated at zero",
                            "residual variance is estimated at zero"),
                           (lumpy, "residual variance is estimated at zero",
                            "group variance is estimated at zero")):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est = stats.estimate_effect(df, "y", "arm", "c", cluster="g", method="mixed",
                                        se="classical")
        said = [str(w.message) for w in caught] + est.notes
        assert any(hit in s for s in said) and not any(other in s for s in said)


def test_summary_counts_rows_and_groups():
    fit = stats.random_intercept(balanced(1), "y", "g")
    assert "96 rows in 12 groups" in fit.summary()


class _Doctored:
    """A real MixedLM result with one attribute changed: an optimiser that lies about one thing."""

    def __init__(self, real, **changed):
        self._real, self._changed = real, changed

    def __getattr__(self, name):
        return self._changed[name] if name in self._changed else getattr(self._real, name)


@pytest.mark.parametrize(("change", "reason"), [
    (lambda r: {"llf": r.llf + 5.0}, "differs from its re-evaluation"),
    (lambda r: {"bse_fe": r.bse_fe * 0.0}, "standard error is zero or negative"),
    (lambda r: {"cov_re": np.full((1, 1), -0.1)}, "not a finite non-negative number"),
    (lambda r: {"scale": 0.0}, "residual variance 0.0 is not positive"),
], ids=["inconsistent-loglik", "zero-se", "negative-variance", "zero-residual-variance"])
def test_an_optimiser_reporting_an_impossible_fit_is_rejected(monkeypatch, change, reason):
    """The module's rule: an attempt with an inconsistent log-likelihood, a zero SE, a negative
    variance or a zero residual variance is rejected (and the log says why), whatever else it
    claims; the fit is then the other optimiser's. Each check could be dropped unnoticed."""
    df = balanced(2)
    real_fit = MixedLM.fit

    def patched(self, *args, method=None, **kwargs):
        result = real_fit(self, *args, method=method, **kwargs)
        return _Doctored(result, **change(result)) if method == "powell" else result

    monkeypatch.setattr(MixedLM, "fit", patched)
    fit = stats.random_intercept(df, "y", "g", optimizers=("powell", "nm"))
    log = fit.attempts.set_index("optimizer")
    assert log.loc["powell", "status"] == "rejected"
    assert reason in log.loc["powell", "reason"]
    assert fit.group_variance == pytest.approx(anova(df, True)["tau2"], rel=1e-5)


def test_without_the_polish_the_highest_log_likelihood_still_wins(monkeypatch):
    """fit_mixedlm(polish=False): among sound attempts the highest log-likelihood wins, not the
    first (the polish from the winner hid a mutation that kept the first)."""
    from statsmodels.regression.mixed_linear_model import MixedLMParams

    df = balanced(3)
    real_fit = MixedLM.fit

    def patched(self, *args, method=None, **kwargs):
        if method == "bfgs" and "start_params" not in kwargs:  # stuck near zero group variance
            pinned = MixedLMParams.from_components(np.array([1.0]), np.full((1, 1), 1e-6))
            free = MixedLMParams.from_components(np.ones(1), np.zeros((1, 1)))
            return real_fit(self, *args, method="bfgs", start_params=pinned, free=free, **kwargs)
        return real_fit(self, *args, method=method, **kwargs)

    monkeypatch.setattr(MixedLM, "fit", patched)
    X = pd.DataFrame({"Intercept": np.ones(len(df))})
    result, attempts, chosen = stats.fit_mixedlm(df["y"].to_numpy(), X, df["g"].to_numpy(),
                                                 optimizers=("bfgs", "nm"), polish=False)
    assert [a.status for a in attempts] == ["accepted", "accepted"]
    assert attempts[0].loglik < attempts[1].loglik - 1
    assert chosen == "nm"
    assert float(np.asarray(result.cov_re)[0, 0]) == pytest.approx(anova(df, True)["tau2"], rel=1e-4)


def profile_reml(y: np.ndarray, g: np.ndarray) -> tuple[float, float]:
    """REML of y = mu + u_g + e for unbalanced groups by a 1-d search over tau2 / sigma2, with
    mu and sigma2 profiled out (as Searle et al. 1992, 6.6); returns (tau2, sigma2)."""
    from scipy.optimize import minimize_scalar

    s = pd.Series(y)
    n_j = s.groupby(g).size().to_numpy()
    ybar = s.groupby(g).mean().to_numpy()
    ssw = float(((y - s.groupby(g).transform("mean").to_numpy()) ** 2).sum())

    def parts(log_ratio):
        ratio = math.exp(log_ratio)
        w = n_j / (1 + n_j * ratio)
        mu = float((w * ybar).sum() / w.sum())
        s2 = (ssw + float((w * (ybar - mu) ** 2).sum())) / (y.size - 1)
        return 0.5 * ((y.size - 1) * math.log(s2) + np.log(1 + n_j * ratio).sum()
                      + math.log(w.sum())), ratio * s2, s2

    best = minimize_scalar(lambda v: parts(v)[0], bounds=(-12, 4), method="bounded",
                           options={"xatol": 1e-12})
    return parts(best.x)[1], parts(best.x)[2]


def test_groups_of_one_among_larger_groups_are_fitted():
    """Only data where *every* group has one member are unidentified (check_identified): some
    singleton groups among larger ones are ordinary unbalanced data, fitted as the profile REML
    says (refusing them whenever the smallest group had one member went unnoticed)."""
    df = balanced(5, groups=15, size=6)
    rng = np.random.default_rng(6)
    extra = pd.DataFrame({"y": 50 + rng.normal(0, 4.5, 6), "g": np.arange(15, 21)})
    data = pd.concat([df[["y", "g"]], extra], ignore_index=True)
    fit = stats.random_intercept(data, "y", "g")
    tau2, sigma2 = profile_reml(data["y"].to_numpy(), data["g"].to_numpy())
    assert fit.n_groups == 21
    assert (fit.group_variance, fit.residual_variance) == pytest.approx((tau2, sigma2), rel=1e-5)


# ---- boundaries: relative to the residual variance (module constant _BOUNDARY = 1e-8)
def _exact_ratio(ratio: float, groups: int = 20, size: int = 10) -> pd.DataFrame:
    """Data whose ANOVA (= REML) estimates are sigma2 = 1 and tau2 = ratio exactly."""
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(groups), size)
    e = rng.normal(size=g.size)
    e -= pd.Series(e).groupby(g).transform("mean").to_numpy()
    e /= math.sqrt(float((e**2).sum()) / (groups * (size - 1)))  # MSW = 1
    d = rng.normal(size=groups)
    d -= d.mean()
    d *= math.sqrt((1 + size * ratio) * (groups - 1) / size / float((d**2).sum()))  # MSB
    return pd.DataFrame({"y": 3 + d[g] + e, "g": g})


def _boundary_warnings(df: pd.DataFrame):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = stats.random_intercept(df, "y", "g")
    return fit, [str(w.message) for w in caught if issubclass(w.category, StatsWarning)]


def test_a_small_but_real_group_variance_is_not_a_boundary():
    """tau2 / sigma2 = 1e-4 is 10,000 times the boundary fraction: estimated as such, with no
    warning and at_boundary False (a threshold of 1e-3 passed every test)."""
    fit, caught = _boundary_warnings(_exact_ratio(1e-4))
    assert fit.group_variance == pytest.approx(1e-4, rel=1e-2)
    assert fit.residual_variance == pytest.approx(1.0, rel=1e-6)
    assert not fit.at_boundary and caught == [] and fit.notes == []


def test_the_boundary_does_not_depend_on_the_outcomes_units():
    """ICC 0.2 in an outcome measured in units of 1e5 (variances near 1e-11): not a boundary;
    an absolute threshold of 1e-8 called it one."""
    df = balanced(7, groups=20, size=10, tau=0.5, sigma=1.0).assign(y=lambda d: d["y"] * 1e-5)
    fit, caught = _boundary_warnings(df)
    ref = anova(df, True)
    assert ref["tau2"] < 1e-8 * 1e-2  # far below any absolute threshold ...
    assert fit.group_variance == pytest.approx(ref["tau2"], rel=1e-5)  # ... but not zero
    assert not fit.at_boundary and caught == []


def test_a_residual_variance_at_zero_is_warned():
    """Members of each group (almost) identical: the other boundary, ICC 1, is warned."""
    rng = np.random.default_rng(8)
    g = np.repeat(np.arange(20), 10)
    df = pd.DataFrame({"y": 3 + rng.normal(size=20)[g] + 1e-5 * rng.normal(size=g.size), "g": g})
    fit, caught = _boundary_warnings(df)
    assert fit.residual_variance <= 1e-8 * fit.group_variance
    assert fit.icc == pytest.approx(1.0, abs=1e-8)
    assert any("residual variance is estimated at zero" in m for m in caught)
    assert any("residual variance is estimated at zero" in n for n in fit.notes)


# ------------------------------------------------------------------ two-way clustering
def school_term_panel(seed: int = 2, schools: int = 30, terms: int = 4) -> pd.DataFrame:
    """Students in schools over terms, with school and term shocks in x and in the error."""
    rng = np.random.default_rng(seed)
    s = np.repeat(np.arange(schools), terms * 3)
    t = np.tile(np.repeat(np.arange(terms), 3), schools)
    x = rng.normal(size=schools)[s] + rng.normal(size=terms)[t] + rng.normal(size=s.size)
    y = 0.3 * x + rng.normal(0, 0.5, schools)[s] + rng.normal(0, 0.5, terms)[t] \
        + rng.normal(size=s.size)
    return pd.DataFrame({"school": s, "term": t, "x": x, "y": y})


def test_two_way_with_few_clusters_in_one_column_says_so_and_its_fit_agrees():
    """Two-way CGM (V_school + V_term - V_school-term, each CR1) with 30 schools and 4 terms:
    t(3) from the smaller count, named 'two-way' in the SE type, and the note on few clusters
    counts the 4 terms, not the 30 schools (the first column); the statsmodels fit underneath
    judges its coefficients on the same t(3)."""
    df = school_term_panel()
    r = stats.regress(df, "y ~ x", se="cluster", cluster=["school", "term"])
    X = np.column_stack([np.ones(len(df)), df["x"]])
    e = df["y"].to_numpy() - X @ r.table["estimate"].to_numpy()
    V = (cr1(X, e, df["school"].to_numpy()) + cr1(X, e, df["term"].to_numpy())
         - cr1(X, e, (df["school"] * 10 + df["term"]).to_numpy()))
    assert r.table["se"].to_numpy() == pytest.approx(np.sqrt(np.diag(V)), rel=1e-10)
    assert r.n_clusters == [30, 4] and (r.table["df"] == 3).all()
    assert "two-way" in r.se_type
    assert any(n.startswith("only 4 clusters: CR1 with t(3)") for n in r.notes)
    crit = sps.t.ppf(0.975, 3)
    half = crit * r.table["se"].to_numpy()
    assert r.table["ci_high"].to_numpy() == pytest.approx(r.table["estimate"] + half, rel=1e-12)
    assert np.asarray(r.result.conf_int()) == pytest.approx(
        r.table[["ci_low", "ci_high"]].to_numpy(), rel=1e-10)
    # estimate_effect, two-way: the same t(3) and the same few-clusters note
    d = df.assign(arm=np.where(df["x"] > 0, "high", "low"))
    est = stats.estimate_effect(d, "y", "arm", "low", cluster=["school", "term"], se="cluster")
    assert est.effect()["df"] == 3
    assert any(n.startswith("only 4 clusters") for n in est.notes)


def test_a_term_within_one_cluster_of_the_second_way_is_refused():
    """A policy tried in one term (in half the schools): its arm lies in a single term cluster,
    so the two-way SE reads that term's shock as the effect (95% intervals covered 75% of 281
    such panels with no effect). regress checks every way (a check of the first way only
    passed), and both it and estimate_effect refuse it (they warned), as for one-way."""
    df = school_term_panel()
    df["new"] = ((df["term"] == 3) & (df["school"] % 2 == 0)).astype(int)
    df["arm"] = np.where(df["new"] == 1, "new", "old")

    for clusters in (["school", "term"], ["term", "school"]):
        with pytest.raises(EstimationError, match="term 'new' is 1 lie in a single cluster of "
                                                  "'term'"):
            stats.regress(df, "y ~ x + new", se="cluster", cluster=clusters)
        with pytest.raises(EstimationError, match="arm 'new' lies in a single cluster of "
                                                  "'term'"):
            stats.estimate_effect(df, "y", "arm", "old", cluster=clusters, se="cluster")
    with warnings.catch_warnings():  # clustered by school alone the arm is in 15 clusters
        warnings.simplefilter("error", StatsWarning)
        fit = stats.regress(df, "y ~ x + new", se="cluster", cluster="school")
        stats.estimate_effect(df, "y", "arm", "old", cluster="school", se="cluster")
    assert not [n for n in fit.notes if "single cluster" in n]


def test_two_way_clustering_needs_two_distinct_columns_with_two_clusters_each():
    """A way with one cluster has no G/(G-1): refused by name, as is a column named twice
    (V_1 + V_1 - V_1 would be one-way clustering reported as two-way)."""
    df = school_term_panel().assign(trust="one")
    with pytest.raises(EstimationError, match=r"at least 2 clusters per dimension; found \[30, 1\]"):
        stats.regress(df, "y ~ x", se="cluster", cluster=["school", "trust"])
    with pytest.raises(SrmsimError, match="names the same column twice"):
        stats.regress(df, "y ~ x", se="cluster", cluster=["school", "school"])



def test_twfe_clustered_by_a_coarser_column_is_the_dummy_regression_clustered_by_it():
    """did_twfe(cluster="district"): CR1 over districts, t(districts - 1), the school dummies
    (nested in districts) not counted in k. Reference: statsmodels' dummy regression clustered
    by district, rescaled from its k to ours as tests/test_stats_did.py does for schools (the
    column was ignored and the schools used, unnoticed)."""
    import statsmodels.api as sm

    rng = np.random.default_rng(11)
    rows = []
    for school in range(24):
        first = (3, 4, np.inf)[school % 3]
        level = rng.normal()
        for t in range(1, 7):
            rows.append((school, school // 3, t, first,
                         level + 0.1 * t + 0.4 * (t >= first) + rng.normal(0, 0.5)))
    df = pd.DataFrame(rows, columns=["school", "district", "t", "first", "y"])
    df["first"] = df["first"].replace(np.inf, np.nan)
    res = stats.did_twfe(df, "y", "school", "t", "first", cluster="district")
    D = (df["t"] >= df["first"]).astype(float).rename("D")
    X = pd.concat([D, pd.get_dummies(df["school"], prefix="s", drop_first=True, dtype=float),
                   pd.get_dummies(df["t"], prefix="t", drop_first=True, dtype=float)], axis=1)
    ref = sm.OLS(df["y"], sm.add_constant(X)).fit(cov_type="cluster",
                                                  cov_kwds={"groups": df["district"]})
    n, k_sm, k_ours = len(df), X.shape[1] + 1, 1 + 5 + 1  # D, 5 terms, the intercept
    assert res.estimate == pytest.approx(ref.params["D"], rel=1e-8)
    assert res.se == pytest.approx(ref.bse["D"] * math.sqrt((n - k_sm) / (n - k_ours)), rel=1e-6)
    assert (res.n_clusters, res.df) == (8, 7)


# ------------------------------------------------------------------ effect modifiers
def _modifier_model():
    """Two actions with modifiers on an observed field that is missing before the first reading
    test (reading_gap), a boolean, and a latent field; year 7 referred to the first."""
    from srmsim.model import TrustModel
    from srmsim.scenario import scenario_from_dict

    acts = {"a": {"take_up": 1.0, "staff_minutes": {"tutor": 10}, "weeks": 4,
                  "effect": {"reading": 4.0},
                  "modifiers": {"reading_gap": {"per_unit": 0.05, "center": -6}, "fsm": 0.5}},
            "b": {"take_up": 1.0, "staff_minutes": {"tutor": 10}, "weeks": 4,
                  "effect": {"reading": 2.0},
                  "modifiers": {"latent_reading_gap": {"per_unit": -0.02, "center": 3},
                                "latent_engagement": 0.3, "latent_attainment": -0.4}}}
    pol = {"rules": {"r": {"when": "year_group == 7", "cadence": "weekly"}}, "actions": acts,
           "workflows": {"w": {"trigger": "r", "cooldown_weeks": 30, "steps": [{"action": "a"}]}},
           "staff": {"school": {"tutor": 10_000}}}
    sc = scenario_from_dict({"trust": {"n_schools": 2, "students_per_year_group": 30,
                                       "size_cv": 0.0},
                             "outputs": {"history": "none"}, "policy": pol}, "t")
    return TrustModel(sc, seed=1)


def test_a_missing_value_counts_as_the_centre():
    """docs/learning.md: 'a missing value (no reading test yet) counts as the centre'. Before
    the first test every reading_gap is missing, so only fsm moves the multiplier; after it,
    each student's own gap does. (Missing as NaN, or as 0, passed every test.)"""
    m = _modifier_model()
    e, t = m.policy, m.students
    a = e.policy.action_names.index("a")
    rows = np.arange(len(t))
    assert np.isnan(e.ctx.field("reading_gap")).all()
    np.testing.assert_allclose(e.modifiers.of_action(e.ctx, rows, a), 1 + 0.5 * t.fsm)
    m.step()
    gap = (t.reading_obs - t.reading_obs_age).astype(float)
    assert np.isfinite(gap).all()
    expect = np.maximum(1 + 0.05 * (gap + 6) + 0.5 * t.fsm, 0)
    np.testing.assert_allclose(e.modifiers.of_action(e.ctx, rows, a), expect, rtol=1e-6)


def test_latent_modifiers_read_the_documented_state_and_each_case_its_own_action():
    """latent_reading_gap is the true reading age minus age, latent_engagement the engagement
    now, latent_attainment the attainment now (docs/learning.md); scale() gives each case the
    multiplier of its own action (1 for an action without modifiers)."""
    m = _modifier_model()
    for _ in range(3):
        m.step()
    e, t = m.policy, m.students
    names = e.policy.action_names
    a, b, plain = names.index("a"), names.index("b"), names.index("reading_club")
    rows = np.arange(len(t))
    truth_b = np.maximum(1 - 0.02 * ((t.reading_age - t.age_months).astype(float) - 3)
                         + 0.3 * t.engagement() - 0.4 * t.attainment, 0)
    np.testing.assert_allclose(e.modifiers.of_action(e.ctx, rows, b), truth_b, rtol=1e-5)
    action = np.array([a, b, plain])[rows % 3]
    got = e.modifiers.scale(e.ctx, rows, action)
    np.testing.assert_allclose(got[rows % 3 == 0], e.modifiers.of_action(e.ctx, rows, a)[rows % 3 == 0])
    np.testing.assert_allclose(got[rows % 3 == 1], truth_b[rows % 3 == 1], rtol=1e-5)
    assert (got[rows % 3 == 2] == 1).all()


def test_an_unknown_modifier_field_is_reported_with_its_key_path():
    """docs/learning.md: unknown fields are reported with the key path; the fields listed are
    the numeric and boolean profile fields and the four latent ones."""
    from srmsim.errors import ScenarioError
    from srmsim.scenario import scenario_from_dict

    data = {"policy": {"actions": {"reading_club": {"modifiers": {"bogus": 1.0}}}}}
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(data, "bad.yaml")
    text = str(err.value)
    assert "policy.actions.reading_club.modifiers.bogus" in text
    listed = text.split("(fields: ")[1]
    for name in ("fsm", "sen", "prior_attainment", "reading_gap", "attendance_rate",
                 "latent_engagement", "latent_wellbeing", "latent_attainment",
                 "latent_reading_gap"):
        assert name in listed


@pytest.mark.parametrize("step_weeks", [1, 2, 4, 8])
def test_course_gain_is_what_the_engine_delivers(step_weeks):
    """course_gain, the oracle's true gain (docs/learning.md): a growth effect accrues
    size / (course weeks - onset) a week from the onset to the review, nothing for a step no
    longer than its onset; a level shift counts shift x weeks it acts, with the sign turned for
    absence and incidents. The reference is the engine itself: the reading age a run adds over a
    run without the effect, and the weekly absence shifts while the step runs."""
    from srmsim.model import TrustModel
    from srmsim.policy.heterogeneity import course_gain
    from srmsim.scenario import scenario_from_dict

    onset, course, reading, absence = 2, 6, 6.0, -0.05

    def model(effect: dict) -> TrustModel:
        act = {"take_up": 1.0, "staff_minutes": {"tutor": 10}, "weeks": course,
               "effect": {"onset_weeks": onset, **effect}}
        pol = {"rules": {"r": {"when": "year_group == 7", "cadence": "weekly"}},
               "actions": {"a": act},
               "workflows": {"w": {"trigger": "r", "cooldown_weeks": 30,
                                   "steps": [{"action": "a", "weeks": step_weeks}]}},
               "staff": {"school": {"tutor": 10_000}}}
        sc = scenario_from_dict({"trust": {"n_schools": 1, "students_per_year_group": 20,
                                           "size_cv": 0.0},
                                 "outputs": {"history": "none"}, "policy": pol}, "t")
        return TrustModel(sc, seed=4)

    m, base = model({"reading": reading, "absence": absence}), model({})
    seven = m.students.year_group == 7
    shifts = []
    for _ in range(step_weeks + 1):
        m.step()
        base.step()
        shifts.append(m.students.eff_absence[seven].astype(float))
    gained = (m.students.reading_age - base.students.reading_age)[seven]
    w = np.array([step_weeks])

    def gain(target, size):
        return course_gain(target, np.array([size]), w, np.array([onset]),
                           np.array([course - onset]), target == "reading")[0]

    hand = reading * max(step_weeks - onset, 0) / (course - onset)
    assert gain("reading", reading) == pytest.approx(hand, rel=1e-12)
    np.testing.assert_allclose(gained, hand, atol=2e-3)
    acted = -np.sum(shifts[:step_weeks], axis=0)  # the shifts while the step runs, helping > 0
    assert gain("absence", absence) == pytest.approx(-absence * max(step_weeks - onset, 0))
    np.testing.assert_allclose(acted, gain("absence", absence), atol=1e-6)
    assert gain("incidents", -0.5) == pytest.approx(0.5 * max(step_weeks - onset, 0))
    assert gain("engagement", 0.2) == pytest.approx(0.2 * max(step_weeks - onset, 0))
