"""srmsim's statistics against independent references, part 2 (review).

The first review (``test_stats_references_review.py``) covered the group-time DiD, RDD,
PowerUp! MDES for four designs, Newcombe's interval, REML and GEE edge cases. These tests cover
the rest of :mod:`srmsim.stats`: regression sandwiches written out in numpy, effect sizes from
their published formulas and tables, design formulas, and the trial analysis against the same
functions called directly. Each reference figure names its source.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from srmsim import stats
from srmsim.errors import SrmsimError

# ------------------------------------------------------------------ NNT (Altman 1998)


@pytest.mark.parametrize("rd, low, high, fewer, more", [
    # Altman (1998, BMJ 317:1309): a risk-difference CI that includes 0 gives the NNT interval
    # "NNTB 1/|low| to infinity to NNTH 1/high"
    (-0.02, -0.10, 0.05, 10.0, 20.0),
    # the estimate on the "more" side, the interval's wider reach on the "fewer" side: the
    # smallest NNT (ci_low = 10) is a "fewer" bound, the "more" side starts at 50
    (0.003, -0.10, 0.02, 10.0, 50.0),
    # an interval touching 0 from one side holds no RD of the other sign
    (0.05, 0.0, 0.10, math.inf, 10.0),
])
def test_nnt_through_infinity_keeps_both_of_altmans_bounds(rd, low, high, fewer, more):
    """With the RD interval through 0 only ``ci_low`` (the smaller of the two bounds) was
    returned, without its side: nnt(0.003, -0.10, 0.02) is NNT 333 for one *more* case with
    ci_low 10, yet 10 is the bound for one *fewer* case; the "more" side starts at 50."""
    k = stats.nnt(rd, low, high)
    assert k.crosses_zero and math.isinf(k.ci_high)
    assert k.ci_low == pytest.approx(min(fewer, more))
    assert (k.fewer_from, k.more_from) == pytest.approx((fewer, more))
    text = k.describe()
    for bound, side in ((fewer, "fewer"), (more, "more")):
        if math.isfinite(bound):
            assert f"{bound:.1f} for one {side} case" in text


def test_nnt_without_an_interval_says_no_interval():
    """An NNT from a bare risk difference printed "(CI nan to nan)"."""
    text = stats.nnt(-0.1).describe()
    assert text == "treat 10.0 students for one fewer case"
    k = stats.nnt(stats.risk_difference(30, 200, 50, 200))  # interval not through 0
    assert math.isnan(k.fewer_from) and math.isnan(k.more_from)


@pytest.mark.parametrize("low, high", [(0.05, None), (None, 0.2)])
def test_nnt_with_one_bound_of_the_interval_is_refused(low, high):
    """nnt(0.1, 0.05) returned NNT 10 with no interval, the bound given silently dropped."""
    with pytest.raises(SrmsimError, match="both ci_low and ci_high"):
        stats.nnt(0.1, low, high)


# ------------------------------------------------------------------ design effect


def test_design_effect_with_unequal_clusters_is_kerry_and_blands():
    """Eldridge et al.'s (2006) 1 + ((cv^2 + 1) m - 1) rho, cv over the clusters with divisor
    k, is Kerry & Bland's (2001) 1 + (sum m_i^2 / sum m_i - 1) rho (the docstring's advice)."""
    sizes = np.array([4, 9, 15, 22, 30, 61])
    kerry_bland = 1 + (np.sum(sizes**2) / np.sum(sizes) - 1) * 0.12
    cv = sizes.std() / sizes.mean()
    assert stats.design_effect(sizes.mean(), 0.12, cv) == pytest.approx(kerry_bland, rel=1e-13)
    assert stats.design_effect(sizes.mean(), 0.12, sizes.std(ddof=1) / sizes.mean()) > kerry_bland


# ------------------------------------------------------------------ regression sandwiches


def _panel(seed: int = 3, n: int = 157) -> pd.DataFrame:
    """Firm-year rows, unbalanced (firms and years drawn at random), two rows missing z."""
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n),
                      "firm": rng.integers(0, 13, n), "year": rng.integers(0, 7, n)})
    d["y"] = (1 + 0.5 * d["x"] - 0.2 * d["z"] + rng.normal(size=n)
              + 0.5 * rng.normal(size=13)[d["firm"]] + 0.7 * rng.normal(size=7)[d["year"]])
    d.loc[[3, 50], "z"] = np.nan
    return d


def _cr1(X: np.ndarray, e: np.ndarray, M: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """One CR1 sandwich, Cameron, Gelbach & Miller's (2011) c = G/(G-1) (N-1)/(N-k)."""
    _, inv = np.unique(codes, return_inverse=True)
    scores = np.zeros((inv.max() + 1, X.shape[1]))
    np.add.at(scores, inv, X * e[:, None])
    (N, k), G = X.shape, inv.max() + 1
    return G / (G - 1) * (N - 1) / (N - k) * M @ scores.T @ scores @ M


def test_regress_sandwiches_are_the_textbook_formulas_on_unbalanced_data_with_gaps():
    """HC0-HC3 (MacKinnon & White 1985; Long & Ervin 2000) and CGM two-way (V_firm + V_year -
    V_firm-year, each CR1) written out in numpy, on an unbalanced panel with two rows missing a
    covariate (left out, as the rows' report says)."""
    d = _panel()
    dd = d.dropna()
    X = np.column_stack([np.ones(len(dd)), dd["x"], dd["z"]])
    y = dd["y"].to_numpy()
    M = np.linalg.inv(X.T @ X)
    e = y - X @ (M @ X.T @ y)
    h = np.einsum("ij,jk,ik->i", X, M, X)
    N, k = X.shape

    def sandwich(u: np.ndarray) -> np.ndarray:
        return M @ (X * u[:, None]).T @ (X * u[:, None]) @ M

    ref = {"classical": e @ e / (N - k) * M, "hc0": sandwich(e),
           "hc1": sandwich(e) * N / (N - k), "hc2": sandwich(e / np.sqrt(1 - h)),
           "hc3": sandwich(e / (1 - h))}
    for se, V in ref.items():
        r = stats.regress(d, "y ~ x + z", se=se)
        assert r.n == N and r.missing.n_dropped == 2
        assert r.table["se"].to_numpy() == pytest.approx(np.sqrt(np.diag(V)), rel=1e-10)
        assert (r.table["df"] == N - k).all()
    firm, year = dd["firm"].to_numpy(), dd["year"].to_numpy()
    V = _cr1(X, e, M, firm) + _cr1(X, e, M, year) - _cr1(X, e, M, firm * 100 + year)
    r = stats.regress(d, "y ~ x + z", se="cluster", cluster=["firm", "year"])
    assert r.table["se"].to_numpy() == pytest.approx(np.sqrt(np.diag(V)), rel=1e-10)
    assert (r.table["df"] == min(len(np.unique(firm)), len(np.unique(year))) - 1).all()
    # and the same two-way SE for an arm contrast through estimate_effect
    d["arm"] = np.where(d["x"] > 0, "t", "c")
    e2 = stats.estimate_effect(d, "y", "arm", "c", cluster=["firm", "year"], se="cluster",
                               covariates=["z"]).effect()
    r2 = stats.regress(d.assign(t=(d["arm"] == "t").astype(float)), "y ~ t + z",
                       se="cluster", cluster=["firm", "year"]).coef("t")
    assert (e2["estimate"], e2["se"], e2["df"]) == pytest.approx(
        (r2["estimate"], r2["se"], r2["df"]), rel=1e-12)


@pytest.mark.parametrize("n1, n0", [(5, 30), (12, 12), (3, 40)])
def test_hc2_of_two_arms_is_welchs_se_with_imbens_kolesars_bell_mccaffrey_df(n1, n0):
    """Imbens & Kolesar (2016, Review of Economics and Statistics 98(4), section on a binary
    regressor): HC2's SE of a difference in means is Welch's (unequal-variance) SE, and its
    Bell-McCaffrey df have the closed form (N0 + N1)^2 (N0 - 1)(N1 - 1) / (N1^2 (N1 - 1) +
    N0^2 (N0 - 1)), not Welch-Satterthwaite's (which depends on the sample variances)."""
    rng = np.random.default_rng(n1 * 100 + n0)
    y1, y0 = 3 * rng.normal(size=n1), rng.normal(size=n0)
    d = pd.DataFrame({"y": np.r_[y1, y0], "arm": ["t"] * n1 + ["c"] * n0})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.StatsWarning)
        got = stats.estimate_effect(d, "y", "arm", "c", se="hc2").effect()
    welch = sps.ttest_ind(y1, y0, equal_var=False)
    se = np.sqrt(y1.var(ddof=1) / n1 + y0.var(ddof=1) / n0)
    df = (n0 + n1) ** 2 * (n0 - 1) * (n1 - 1) / (n1**2 * (n1 - 1) + n0**2 * (n0 - 1))
    assert got["estimate"] == pytest.approx(y1.mean() - y0.mean(), rel=1e-12)
    assert got["se"] == pytest.approx(se, rel=1e-10)
    assert got["se"] == pytest.approx(abs(got["estimate"]) / abs(welch.statistic), rel=1e-10)
    assert got["df"] == pytest.approx(df, rel=1e-9)
    assert got["p_value"] == pytest.approx(2 * sps.t.sf(abs(welch.statistic), df), rel=1e-9)


# ------------------------------------------------------------------ risk ratio (Katz)


@pytest.mark.parametrize("a, n1, c, n0", [(15, 50, 25, 50), (1, 40, 9, 38), (3, 7, 1, 9)])
def test_risk_ratio_is_statsmodels_katz_log_interval(a, n1, c, n0):
    """statsmodels' Table2x2.riskratio_confint (the log, Katz, method) where no cell is 0."""
    got = stats.risk_ratio(a, n1, c, n0)
    table = sm_table(a, n1, c, n0)
    assert got.estimate == pytest.approx(table.riskratio, rel=1e-12)
    assert (got.ci_low, got.ci_high) == pytest.approx(table.riskratio_confint(), rel=1e-10)


def sm_table(a: int, n1: int, c: int, n0: int):
    from statsmodels.stats.contingency_tables import Table2x2

    return Table2x2(np.array([[a, n1 - a], [c, n0 - c]]), shift_zeros=False)


def test_risk_ratio_with_every_treated_student_an_event_needs_no_correction():
    """40/40 against 30/41: Katz's se(log RR) = sqrt(1/a - 1/n1 + 1/c - 1/n0) is finite (the
    zero is a non-event cell), so no continuity correction is applied, where statsmodels'
    Table2x2 (shift_zeros=True by default) adds 0.5 to every cell and reports 1.3498."""
    got = stats.risk_ratio(40, 40, 30, 41)
    se = np.sqrt(1 / 40 - 1 / 40 + 1 / 30 - 1 / 41)
    z = sps.norm.isf(0.025)
    assert got.estimate == pytest.approx(41 / 30, rel=1e-12)
    assert (got.ci_low, got.ci_high) == pytest.approx(
        (41 / 30 * np.exp(-z * se), 41 / 30 * np.exp(z * se)), rel=1e-12)
    assert got.method == "log"


# ------------------------------------------------------------------ simulated against analytic


@pytest.mark.once
def test_simulated_power_agrees_with_powerups_individual_design():
    """Students randomised 30/30, effect 0.5 SD, a t-test: PowerUp!'s IRA power (noncentral t,
    0.478, as G*Power's for d = 0.5 with 30 per group) lies in the Monte-Carlo interval."""
    def simulate(seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        return pd.DataFrame({"t": np.repeat([True, False], 30),
                             "y": np.repeat([0.5, 0.0], 30) + rng.normal(size=60)})

    def estimate(d: pd.DataFrame) -> tuple[float, float]:
        t = sps.ttest_ind(d.loc[d["t"], "y"], d.loc[~d["t"], "y"])
        return float(d.loc[d["t"], "y"].mean() - d.loc[~d["t"], "y"].mean()), float(t.pvalue)

    analytic = stats.power("individual", 0.5, n=60).power
    assert analytic == pytest.approx(0.4779, abs=5e-5)
    sim = stats.simulated_power(simulate, estimate, n_sims=3000, seed=11)
    assert sim.ci_low < analytic < sim.ci_high
    assert sim.mean_estimate == pytest.approx(0.5, abs=0.02)


# ------------------------------------------------------------------ cost per outcome


@pytest.mark.parametrize("cost, gain, dominated, says", [
    # the cost-effectiveness plane (Drummond et al., Methods for the Economic Evaluation of
    # Health Care Programmes, ch. 4): dominated = costs more for no gain, or no less for a loss
    (100.0, 0.0, True, "dominated"),
    (100.0, -0.05, True, "dominated"),
    (0.0, -0.05, True, "dominated"),
    # a saving at no change in outcome dominates the comparator
    (-100.0, 0.0, False, "dominant"),
    # south-west quadrant: 100 saved for 0.05 fewer outcomes, 2000 per outcome lost
    (-100.0, -0.05, False, "trade-off, not dominated): 2000 saved per outcome lost"),
    (0.0, 0.0, False, "no difference in cost or outcome"),
])
def test_cost_per_outcome_calls_only_a_policy_that_costs_no_less_dominated(cost, gain,
                                                                             dominated, says):
    """cost_per_outcome(-100, 0) (saves 100, same outcomes) and (-100, -0.05) (saves money,
    loses outcomes) were both reported "policy is dominated" with dominated=True."""
    r = stats.cost_per_outcome(cost, gain)
    assert math.isinf(r.value) and r.dominated is dominated
    assert says in r.note
    if not dominated:
        assert "is dominated" not in r.note


# ------------------------------------------------------------------ a balanced cluster trial


def _cluster_trial(seed: int = 2, G: int = 10, m: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    s = np.repeat(np.arange(G), m)
    arm = np.where(s < G // 2, "t", "c")
    y = 0.3 * (arm == "t") + 0.6 * rng.normal(size=G)[s] + rng.normal(size=G * m)
    return pd.DataFrame({"y": y, "arm": arm, "s": s})


def test_balanced_cluster_trial_mixed_and_cr2_are_t_tests_on_school_means():
    """Equal schools, no covariates: the REML random-intercept effect with between-within df is
    the pooled t-test on the school means (Donner & Klar 2000, ch. 6: the cluster-level
    analysis), and CR2 with Bell-McCaffrey df is Welch's test on them with df G - 2 (Imbens &
    Kolesar's closed form with 5 schools an arm: 100 * 16 / 200 = 8)."""
    d = _cluster_trial()
    means = d.groupby("s")["y"].mean()
    arm = d.groupby("s")["arm"].first()
    yt, yc = means[arm == "t"], means[arm == "c"]
    pooled, welch = sps.ttest_ind(yt, yc), sps.ttest_ind(yt, yc, equal_var=False)
    diff = yt.mean() - yc.mean()
    mixed = stats.estimate_effect(d, "y", "arm", "c", cluster="s", method="mixed",
                                  se="classical").effect()
    assert mixed["estimate"] == pytest.approx(diff, rel=1e-9)
    assert mixed["se"] == pytest.approx(diff / pooled.statistic, rel=1e-6)
    assert mixed["df"] == 8 and mixed["p_value"] == pytest.approx(pooled.pvalue, rel=1e-6)
    cr2 = stats.estimate_effect(d, "y", "arm", "c", cluster="s", se="cr2").effect()
    assert cr2["se"] == pytest.approx(diff / welch.statistic, rel=1e-10)
    assert cr2["df"] == pytest.approx(8, rel=1e-10)


# ------------------------------------------------------------------ CR1 with nested fixed effects


def _blocked(seed: int = 4, G: int = 20, m: int = 6) -> pd.DataFrame:
    """Students randomised within G schools of m, a baseline covariate, school shocks."""
    rng = np.random.default_rng(seed)
    s = np.repeat(np.arange(G), m)
    arm = np.where(rng.permutation(G * m) % 2 == 0, "t", "c")
    base = rng.normal(size=G * m)
    y = 0.3 * (arm == "t") + 0.5 * base + rng.normal(size=G)[s] + rng.normal(size=G * m)
    return pd.DataFrame({"y": y, "arm": arm, "s": s, "base": base})


def test_cr1_leaves_school_effects_nested_in_school_clusters_out_of_k():
    """R's fixest (feols(y ~ t + base | s, cluster = ~s), default ssc: fixef.K = "nested") and
    Stata's xtreg, fe count k without fixed effects nested in the clusters, as srmsim's
    did_twfe does: CR1 = G/(G-1) (N-1)/(N-K) M S'S M on the within-school design with K = 2
    slopes + 1 (fixest keeps the intercept: R/VCOV.R adds 1 when every fixed effect is nested,
    and its tests expect dof.K = 2 for y ~ x | fe1 + fe2 with both nested). estimate_effect
    counted the intercept and 19 school dummies: 20 schools of 6 gave an SE 9.3% larger
    (0.1899 against 0.1738); then dropped the intercept too (0.1731)."""
    d = _blocked()
    est = stats.estimate_effect(d, "y", "arm", "c", cluster="s", fixed_effects="s",
                                covariates=["base"], se="cluster")
    t = (d["arm"] == "t").astype(float)
    X = np.column_stack([t - t.groupby(d["s"]).transform("mean"),
                         d["base"] - d.groupby("s")["base"].transform("mean")])
    yw = (d["y"] - d.groupby("s")["y"].transform("mean")).to_numpy()
    M = np.linalg.inv(X.T @ X)
    b = M @ X.T @ yw
    scores = np.zeros((20, 2))
    np.add.at(scores, d["s"].to_numpy(), X * (yw - X @ b)[:, None])
    N, K, G = len(d), 2 + 1, 20
    V = G / (G - 1) * (N - 1) / (N - K) * M @ scores.T @ scores @ M
    row = est.effect()
    assert row["estimate"] == pytest.approx(b[0], rel=1e-10)
    assert row["se"] == pytest.approx(np.sqrt(V[0, 0]), rel=1e-10)
    assert row["df"] == G - 1
    assert any("nested in the clusters" in n for n in est.notes)
    # the statsmodels result underneath carries the same covariance
    assert est.result.bse["arm[t]"] == pytest.approx(row["se"], rel=1e-12)


def test_estimate_effect_cr1_is_did_twfe_on_a_school_panel():
    """A school-by-period panel: estimate_effect with school and period fixed effects, clustered
    by school, is did_twfe's CR1 (which has always left the nested unit effects out of k)."""
    rng = np.random.default_rng(9)
    G, T = 8, 4
    school, period = np.repeat(np.arange(G), T * 5), np.tile(np.repeat(np.arange(T), 5), G)
    start = np.array([1, 2, 3, 99, 1, 2, 3, 99])[school]
    y = 0.4 * (period >= start) + rng.normal(size=G)[school] + 0.2 * period + rng.normal(
        size=school.size)
    d = pd.DataFrame({"y": y, "s": school, "p": period, "start": start,
                      "arm": np.where(period >= start, "t", "c")})
    twfe = stats.did_twfe(d.assign(start=d["start"].where(d["start"] < 99)), "y", "s", "p",
                          "start", se="cluster")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.StatsWarning)
        est = stats.estimate_effect(d, "y", "arm", "c", cluster="s", fixed_effects=["s", "p"],
                                    se="cluster").effect()
    assert est["estimate"] == pytest.approx(twfe.estimate, rel=1e-10)
    assert est["se"] == pytest.approx(twfe.se, rel=1e-10)
    assert est["df"] == twfe.df == G - 1


# ------------------------------------------------------------------ PowerUpR's power cross-checks


@pytest.mark.parametrize("design, effect, mdes, params, df, se", [
    # PowerUpR 1.1.0 man/ira.Rd: mdes.ira(n=250) (0.356), then power.ira(es=.356, n=250)
    ("ira", 0.356, 0.356, {"n": 250}, 248, np.sqrt(1 / (0.25 * 250))),
    # man/cra2.Rd: mdes.cra2(rho2=.17, n=15, J=20) (0.629), then power.cra2(es=.629, ...)
    ("cra2", 0.629, 0.629, {"rho": 0.17, "n": 15, "J": 20}, 18,
     np.sqrt(0.17 / (0.25 * 20) + 0.83 / (0.25 * 20 * 15))),
])
@pytest.mark.parametrize("tails", [1, 2])
def test_power_of_ira_and_cra2_is_powerupr_at_its_cross_check(design, effect, mdes, params, df,
                                                               se, tails):
    """The designs the first review checked for MDES only: power is PowerUpR's .power.fun
    (noncentral t, lambda = es / SSE), and the MDES printed to 3 decimals has power 0.80."""
    r = stats.power(design, effect, tails=tails, **params)
    assert (r.df, r.se) == (df, pytest.approx(se, rel=1e-12))
    t1 = sps.t.isf(0.05 / tails, df)
    ref = sps.nct.sf(t1, df, effect / se) + (sps.nct.cdf(-t1, df, effect / se) if tails == 2
                                             else 0.0)
    assert r.power == pytest.approx(ref, rel=1e-9)
    if tails == 2:
        assert round(stats.mdes(design, **params).mdes, 3) == mdes
        assert r.power == pytest.approx(0.80, abs=1e-3)


# ------------------------------------------------------------------ Hedges' g from data


def test_hedges_g_data_refuses_an_icc_without_clusters():
    """hedges_g_data(df, ..., icc=0.2) without cluster= returned the unadjusted g (gamma 1),
    the ICC silently dropped, where hedges_g_from_d refuses an icc without cluster_size."""
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"y": rng.normal(size=60), "arm": ["t", "c"] * 30,
                      "s": np.repeat(np.arange(6), 10)})
    with pytest.raises(SrmsimError, match="icc=0.2 is for the cluster adjustment"):
        stats.hedges_g_data(d, "y", "arm", "c", icc=0.2)
    with pytest.raises(SrmsimError, match="give both cluster_size and icc"):
        stats.hedges_g_from_d(0.3, 30, 30, icc=0.2)


def test_hedges_g_data_with_clusters_is_the_wwc_formula_on_the_data():
    """Schools of unequal size, two blanks: g = omega gamma d with the pooled within-arm SD,
    omega = 1 - 3/(4N - 9), gamma = sqrt(1 - 2(n - 1) rho / (N - 2)) with n = N / M (WWC
    Procedures Handbook v4.1, Appendix E; Hedges 2007), the same as hedges_g on the summaries."""
    rng = np.random.default_rng(12)
    sizes = rng.integers(5, 30, 12)
    s = np.repeat(np.arange(12), sizes)
    arm = np.where(s % 2 == 0, "t", "c")
    y = 0.3 * (arm == "t") + 0.5 * rng.normal(size=12)[s] + rng.normal(size=s.size)
    d = pd.DataFrame({"y": y, "arm": arm, "s": s})
    d.loc[[0, 7], "y"] = np.nan
    got = stats.hedges_g_data(d, "y", "arm", "c", cluster="s", icc=0.15)
    dd = d.dropna()
    yt, yc = dd.loc[dd["arm"] == "t", "y"], dd.loc[dd["arm"] == "c", "y"]
    N, M = len(dd), dd["s"].nunique()
    sp = np.sqrt(((len(yt) - 1) * yt.var() + (len(yc) - 1) * yc.var()) / (N - 2))
    omega = 1 - 3 / (4 * N - 9)
    gamma = np.sqrt(1 - 2 * (N / M - 1) * 0.15 / (N - 2))
    assert got.g == pytest.approx(omega * gamma * (yt.mean() - yc.mean()) / sp, rel=1e-12)
    assert got.rows_dropped == 2 and got.cluster_size == pytest.approx(N / M)
    summary = stats.hedges_g(yt.mean(), yc.mean(), yt.std(), yc.std(), len(yt), len(yc),
                             cluster_size=N / M, icc=0.15)
    assert (got.g, got.se) == pytest.approx((summary.g, summary.se), rel=1e-12)
