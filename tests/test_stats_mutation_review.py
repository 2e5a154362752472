"""Mutation review of srmsim.stats, srmsim.risk and srmsim.trial: behaviour no other test pinned.

Each test here was written against a small change to the code (a dropped correction factor, a
df off by one, ``<`` for ``<=``, a swapped weight) that left every other test passing. They
recover a known truth: an independent implementation (statsmodels, scipy, scikit-learn), a
closed form, a published figure, or a simulation with a known effect.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from srmsim import stats


# ------------------------------------------------------------------ proportions
def test_wilson_and_newcombe_reproduce_newcombe_1998():
    """Newcombe (1998, Stat Med 17: 857 and 873): Wilson's interval of 81/263 is 0.2553 to
    0.3662, and the hybrid-score interval of 56/70 - 48/80 is 0.0524 to 0.3339; statsmodels'
    own implementations agree to machine precision."""
    from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

    from srmsim.stats._inference import wilson

    low, high = wilson(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    for k, n, alpha in ((81, 263, 0.05), (0, 20, 0.05), (3, 7, 0.1), (19, 20, 0.01)):
        assert wilson(k, n, alpha) == pytest.approx(
            proportion_confint(k, n, alpha=alpha, method="wilson"), rel=1e-12, abs=1e-15)
    rd = stats.risk_difference(56, 70, 48, 80)
    assert (round(rd.ci_low, 4), round(rd.ci_high, 4)) == (0.0524, 0.3339)
    for counts in ((56, 70, 48, 80), (2, 40, 9, 38), (30, 200, 50, 200)):
        rd = stats.risk_difference(*counts)
        ref = confint_proportions_2indep(*counts, method="newcomb", compare="diff")
        assert (rd.ci_low, rd.ci_high) == pytest.approx(tuple(map(float, ref)), rel=1e-10)


# ------------------------------------------------------------------ sandwiches
def test_cluster_sandwich_is_statsmodels_cr1():
    """The CR1 helper (RDD's reference for a vanishing clustered SE) is Stata's CR1 with both
    small-sample factors, G/(G-1) and (N-1)/(N-k): statsmodels' cluster covariance with
    ``use_correction`` and ``df_correction``."""
    import statsmodels.api as sm

    from srmsim.stats._inference import cluster_sandwich

    rng = np.random.default_rng(3)
    n, G = 60, 7
    codes = rng.integers(0, G, n)
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, n)])
    y = X @ [1.0, 0.5, -0.3] + rng.normal(size=G)[codes] + rng.normal(size=n)
    fit = sm.OLS(y, X).fit()
    ref = sm.OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": codes, "use_correction": True,
                                                         "df_correction": True})
    bread = np.linalg.inv(X.T @ X)
    mine = cluster_sandwich(X, np.asarray(fit.resid), codes, bread, X.shape[1])
    assert mine == pytest.approx(np.asarray(ref.cov_params()), rel=1e-10)
    # one row per cluster: HC1, N/(N - k)
    hc1 = sm.OLS(y, X).fit(cov_type="HC1").cov_params()
    rows = cluster_sandwich(X, np.asarray(fit.resid), np.arange(n), bread, X.shape[1])
    assert rows == pytest.approx(np.asarray(hc1), rel=1e-10)


# ------------------------------------------------------------------ difference-in-differences
DATA = __import__("pathlib").Path(__file__).parent / "data"

#: R did 2.x README (Callaway & Sant'Anna 2021), att_gt(yname="lemp", gname="first.treat", ...,
#: data=mpdta), never-treated controls, varying base period: (group, time) -> (ATT, SE)
MPDTA_ATT_GT = {
    (2004, 2004): (-0.0105, 0.0233), (2004, 2005): (-0.0704, 0.0310),
    (2004, 2006): (-0.1373, 0.0364), (2004, 2007): (-0.1008, 0.0344),
    (2006, 2004): (0.0065, 0.0233), (2006, 2005): (-0.0028, 0.0196),
    (2006, 2006): (-0.0046, 0.0178), (2006, 2007): (-0.0412, 0.0202),
    (2007, 2004): (0.0305, 0.0150), (2007, 2005): (-0.0027, 0.0164),
    (2007, 2006): (-0.0311, 0.0179), (2007, 2007): (-0.0261, 0.0167),
}
#: aggte(type = "dynamic") of the same fit: event time -> estimate
MPDTA_EVENT = {-3: 0.0305, -2: -0.0006, -1: -0.0245, 0: -0.0199, 1: -0.0510, 2: -0.1373,
               3: -0.1008}


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    df = pd.read_csv(DATA / "mpdta.csv.gz")
    return df.assign(first_treat=df["first.treat"].replace(0, np.nan))


def test_group_time_reproduces_every_published_mpdta_cell_and_its_small_cluster_factor(mpdta):
    """All twelve ATT(g, t) of R's did (pre-periods on the varying base included) and the event
    study to four decimals. The SEs are R's analytic ones with each arm's sqrt(G/(G - 1)): the
    2004 cohort has 20 counties, so its cells' SEs are 2.6% above R's (not equal to them)."""
    res = stats.did_group_time(mpdta, "lemp", "countyreal", "year", "first_treat", seed=1)
    cells = res.att_gt.set_index(["group", "time"])
    assert len(cells) == len(MPDTA_ATT_GT)
    for (g, t), (att, se_r) in MPDTA_ATT_GT.items():
        row = cells.loc[(float(g), float(t))]
        assert round(row["att"], 4) == att, (g, t)
        n_t, n_c = int(row["n_treated"]), int(row["n_control"])
        factor_t, factor_c = math.sqrt(n_t / (n_t - 1)), math.sqrt(n_c / (n_c - 1))
        # R's SE (rounded to 4 decimals) scaled by the smaller and the larger arm factor
        assert (se_r - 5e-5) * factor_c <= row["se"] <= (se_r + 5e-5) * factor_t, (g, t)
        if g == 2004:  # the treated arm dominates: the correction shows
            assert row["se"] > (se_r + 5e-5) * 1.01, (g, t)
    es = res.event_study.set_index("event_time")["estimate"]
    assert {int(e): round(v, 4) for e, v in es.items()} == MPDTA_EVENT


def test_not_yet_treated_cells_are_two_by_two_dids_against_units_untreated_at_both_periods(mpdta):
    """control='notyet': ATT(g, t) compares cohort g with units not treated by t nor by the
    base period (R's did: G > max(t, base)); a unit first treated in period t is treated then
    and is no control. Computed by hand from the county means."""
    res = stats.did_group_time(mpdta, "lemp", "countyreal", "year", "first_treat",
                               control="notyet", seed=1)
    wide = mpdta.pivot(index="countyreal", columns="year", values="lemp")
    first = mpdta.groupby("countyreal")["first_treat"].first().fillna(np.inf)
    for _, row in res.att_gt.iterrows():
        g, t = int(row["group"]), int(row["time"])
        base = g - 1 if t >= g else t - 1
        change = wide[t] - wide[base]
        control = first > max(t, base)
        expected = change[first == g].mean() - change[control & (first != g)].mean()
        assert row["att"] == pytest.approx(expected, rel=1e-10, abs=1e-14), (g, t)
        assert row["n_control"] == int((control & (first != g)).sum())


def test_twfe_interval_and_p_value_use_t_with_clusters_minus_one_df():
    """Stata and statsmodels judge a CR1 coefficient against t(G - 1): with 8 schools the 95%
    interval is +-2.365 SE, not +-2.306 (t with G df)."""
    rng = np.random.default_rng(5)
    rows = []
    for s in range(8):
        first = (3, 4, 5, np.inf)[s % 4]
        level = rng.normal()
        for t in range(1, 7):
            rows.append((s, t, first, level + 0.1 * t + 0.4 * (t >= first) + rng.normal(0, 0.3)))
    df = pd.DataFrame(rows, columns=["school", "t", "first", "y"]).replace(np.inf, np.nan)
    res = stats.did_twfe(df, "y", "school", "t", "first")
    assert res.df == 7
    crit = sps.t.ppf(0.975, 7)
    assert (res.ci_low, res.ci_high) == pytest.approx(
        (res.estimate - crit * res.se, res.estimate + crit * res.se), rel=1e-12)
    assert res.p_value == pytest.approx(2 * sps.t.sf(abs(res.estimate / res.se), 7), rel=1e-10)


def test_group_time_df_never_exceed_clusters_minus_one():
    """A cluster coarser than the unit (schools within 6 areas, every area holding treated and
    never-treated schools): each arm's variance has G_arm - 1 df, whose Welch sum reaches
    2 (G - 1) here, but all of them come from the same G = 6 cluster totals, so t has at most
    G - 1 = 5 df."""
    rng = np.random.default_rng(11)
    units, periods = 36, 6
    first = np.where(np.arange(units) % 2 == 0, 3.0, np.nan)
    area = np.arange(units) % 12 // 2  # 6 areas, each with 3 treated and 3 never-treated units
    u, t = np.repeat(np.arange(units), periods), np.tile(np.arange(periods), units)
    y = (rng.normal(size=units)[u] + rng.normal(size=6)[area[u]] + 0.1 * t
         + 0.5 * (t >= np.nan_to_num(first[u], nan=np.inf)) + rng.normal(size=units * periods))
    df = pd.DataFrame({"y": y, "u": u, "t": t, "g": first[u], "area": area[u]})
    res = stats.did_group_time(df, "y", "u", "t", "g", cluster="area", n_boot=99)
    dfs = np.r_[res.att_gt["df"], res.event_study["df"], res.aggregates["df"]]
    assert np.isfinite(dfs).all() and (dfs <= 5 + 1e-12).all()
    assert (dfs == 5).any()  # the cap binds: Welch's sum of the arms' df is larger here


def test_group_time_aggregate_ses_agree_with_a_jackknife():
    """The overall ATT weights cohorts by their estimated sizes; with effects of 0 and 3 in the
    two cohorts, which units happen to fall in which cohort moves the ATT more than the noise
    does. The influence-function SE must carry that (Callaway & Sant'Anna 2021): it agrees with
    a leave-one-unit-out jackknife of the same estimator computed here by hand (0.152 against
    0.153); without the shares' influence it was a third of that. The dynamic aggregate, the
    mean of the event-study estimates after treatment, has the mean of their influence
    functions (their sum gave three times the SE)."""
    rng = np.random.default_rng(2)
    units, periods = 150, 5
    first = rng.choice([2.0, 3.0, np.nan], size=units, p=[0.3, 0.3, 0.4])
    u, t = np.repeat(np.arange(units), periods), np.tile(np.arange(periods), units)
    effect = np.where(t >= np.nan_to_num(first[u], nan=np.inf), np.where(first[u] == 3, 3.0, 0.0),
                      0.0)
    y = rng.normal(size=units)[u] + 0.1 * t + effect + rng.normal(0, 0.3, units * periods)
    df = pd.DataFrame({"y": y, "u": u, "t": t, "g": first[u]})
    res = stats.did_group_time(df, "y", "u", "t", "g", n_boot=50)

    Y = df.pivot(index="u", columns="t", values="y").to_numpy()

    def simple(keep: np.ndarray) -> float:
        never = keep & np.isnan(first)
        num = den = 0.0
        for g in (2, 3):
            cohort = keep & (first == g)
            for k in range(g, periods):
                change = Y[:, k] - Y[:, g - 1]
                num += cohort.sum() * (change[cohort].mean() - change[never].mean())
                den += cohort.sum()
        return num / den

    def dynamic(keep: np.ndarray) -> float:
        """Mean over event times 0, 1, 2 of the cohort-size weighted ATT at that event time."""
        never = keep & np.isnan(first)
        by_event = []
        for e in range(periods - 2):
            num = den = 0.0
            for g in (2, 3):
                cohort = keep & (first == g)
                if g + e < periods:
                    change = Y[:, g + e] - Y[:, g - 1]
                    num += cohort.sum() * (change[cohort].mean() - change[never].mean())
                    den += cohort.sum()
            by_event.append(num / den)
        return float(np.mean(by_event))

    everyone = np.ones(units, bool)
    dyn = res.aggregates.loc["dynamic"]
    for name, fn, row in (("simple", simple, res.overall), ("dynamic", dynamic, dyn)):
        assert row["estimate"] == pytest.approx(fn(everyone), rel=1e-12), name
        jack = np.array([fn(np.arange(units) != i) for i in range(units)])
        se_jack = math.sqrt((units - 1) / units * ((jack - jack.mean()) ** 2).sum())
        assert row["se"] == pytest.approx(se_jack, rel=0.05), name


def test_sup_t_band_with_one_event_time_is_the_pointwise_interval():
    """With a single event time the supremum of |t| over event times is |t| itself, so the
    simultaneous band's critical value is the (1 - alpha) quantile of |N(0, 1)|, 1.96, and the
    band is the pointwise interval up to Monte-Carlo error (1% here): Mammen's weights have mean
    0 and variance 1, and the band uses 1 - alpha, not 1 - alpha/2 (2.24)."""
    rng = np.random.default_rng(8)
    units = 200
    first = np.where(np.arange(units) < 100, 1.0, np.nan)
    u, t = np.repeat(np.arange(units), 2), np.tile([0, 1], units)
    y = rng.normal(size=units)[u] + 0.2 * t + 0.5 * (t >= np.nan_to_num(first[u], nan=9)) \
        + rng.normal(size=2 * units)
    df = pd.DataFrame({"y": y, "u": u, "t": t, "g": first[u]})
    res = stats.did_group_time(df, "y", "u", "t", "g", n_boot=20_000, seed=3)
    es = res.event_study.iloc[0]
    assert list(res.event_study["event_time"]) == [0]
    ratio = (es["band_high"] - es["estimate"]) / (es["ci_high"] - es["estimate"])
    assert ratio == pytest.approx(1.0, abs=0.04)


def test_mammen_weights_have_mean_zero_variance_one_third_moment_one():
    from srmsim.stats.did import _mammen

    v = _mammen(np.random.default_rng(0), 400_000, 1).ravel()
    assert set(np.round(np.unique(v), 12)) == {round(-(5**0.5 - 1) / 2, 12),
                                               round((5**0.5 + 1) / 2, 12)}
    assert v.mean() == pytest.approx(0.0, abs=0.01)
    assert (v**2).mean() == pytest.approx(1.0, abs=0.01)
    assert (v**3).mean() == pytest.approx(1.0, abs=0.02)


# ------------------------------------------------------------------ regression discontinuity
@pytest.mark.parametrize("kernel", ["triangular", "uniform", "epanechnikov"])
def test_ik_kernel_constants_follow_from_the_boundary_equivalent_kernel(kernel):
    """IK's C_K = (int K*^2 / (int u^2 K*)^2)^(1/5) with K* the local linear boundary
    equivalent kernel of K on [0, 1]: 3.43754 (triangular), 2.70192 (uniform), 3.19990
    (Epanechnikov). The constants srmsim uses (IK 2012 to 5 significant digits) agree."""
    from scipy.integrate import quad

    from srmsim.stats.discontinuity import KERNEL_CONSTANTS, _kernel

    def k(u: float) -> float:
        return float(_kernel(np.array([u]), kernel)[0])

    nu = [quad(lambda u, j=j: u**j * k(u), 0, 1)[0] for j in range(3)]

    def k_star(u: float) -> float:
        return (nu[2] - nu[1] * u) * k(u) / (nu[0] * nu[2] - nu[1] ** 2)

    var = quad(lambda u: k_star(u) ** 2, 0, 1)[0]
    bias = quad(lambda u: u * u * k_star(u), 0, 1)[0]
    assert KERNEL_CONSTANTS[kernel] == pytest.approx((var / bias**2) ** 0.2, rel=2e-5)


def test_ik_bandwidth_converges_on_the_infeasible_optimum_in_large_samples():
    """With 200,000 students the IK estimate's pilot steps (density at the cutoff, variances,
    curvatures) are close to the truth, so its median over five samples lies within 8% of
    h* = 3.4375 (2 sigma^2 / (f(0) (m2+ - m2-)^2))^(1/5) N^(-1/5) (x ~ U(-1, 1): f(0) = 1/2;
    second derivatives +4 and -4). A density estimate off by a factor 2 moves h by 13%."""
    n = 200_000
    ratios = []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        x = rng.uniform(-1, 1, n)
        y = 1 + x + np.where(x >= 0, 2, -2) * x**2 + 0.5 * (x >= 0) + rng.normal(0, 1, n)
        h = stats.ik_bandwidth(x, y, cutoff=0.0)
        ratios.append(h / (3.4375 * (2 / (0.5 * 64)) ** 0.2 * n**-0.2))
    assert np.median(ratios) == pytest.approx(1.0, abs=0.08)


@pytest.mark.parametrize(("kernel", "weight"), [
    ("triangular", lambda u: 1 - np.abs(u)),
    ("uniform", lambda u: np.full_like(u, 0.5)),
    ("epanechnikov", lambda u: 0.75 * (1 - u**2)),
])
def test_rdd_jump_is_weighted_least_squares_with_the_kernel_weights(kernel, weight):
    import statsmodels.api as sm

    rng = np.random.default_rng(4)
    x = rng.uniform(-2, 2, 3000)
    y = 1 + 0.8 * x - 0.3 * x**2 + 0.7 * (x < 0) + rng.normal(0, 1, x.size)
    res = stats.rdd(pd.DataFrame({"x": x, "y": y}), "y", "x", 0.0, bandwidth=1.3, kernel=kernel)
    inside = np.abs(x) < 1.3
    xs, treated = x[inside], (x[inside] < 0).astype(float)
    X = np.column_stack([np.ones(xs.size), treated, xs, treated * xs])
    fit = sm.WLS(y[inside], X, weights=weight(xs / 1.3)).fit()
    assert res.estimate == pytest.approx(fit.params[1], rel=1e-9)


# ------------------------------------------------------------------ design
@pytest.mark.parametrize(("effect", "n", "tails"), [(0.3, 60, 2), (0.3, 60, 1), (0.0, 40, 2),
                                                    (-0.5, 24, 2), (0.8, 10, 2)])
def test_individual_power_is_the_two_sample_t_test_power(effect, n, tails):
    """Students randomised half and half, no covariates: the design is the two-sample t test
    with n - 2 df and noncentrality d sqrt(n/4); statsmodels' exact power agrees, both tails
    counted (at d = 0 power is alpha, not alpha/2)."""
    from statsmodels.stats.power import TTestIndPower

    alternative = "two-sided" if tails == 2 else "larger"
    ref = TTestIndPower().power(effect, n / 2, 0.05, ratio=1, alternative=alternative)
    got = stats.power("individual", effect, n=n, tails=tails)
    assert got.df == n - 2
    assert got.power == pytest.approx(ref, rel=1e-9)


def test_blocked_designs_df_are_the_fixed_effects_regressions_residual_df():
    """BIRA2_1f estimates the effect within each of J blocks (block and block x treatment
    terms: 2J) and g1 covariates, so df = Jn - 2J - g1, the residual df of that regression;
    BCRA3_2f likewise at the school level: K blocks of J schools, df = KJ - 2K - g2."""
    import statsmodels.formula.api as smf

    rng = np.random.default_rng(0)
    J, n = 5, 12
    df = pd.DataFrame({"block": np.repeat(np.arange(J), n), "treat": np.tile([0, 1], J * n // 2),
                       "x": rng.normal(size=J * n), "y": rng.normal(size=J * n)})
    fit = smf.ols("y ~ C(block) * treat + x", data=df).fit()
    assert stats.mdes("blocked_individual", n=n, J=J, g1=1).df == fit.df_resid
    K, schools = 4, 6
    sch = pd.DataFrame({"block": np.repeat(np.arange(K), schools),
                        "treat": np.tile([0, 1], K * schools // 2),
                        "y": rng.normal(size=K * schools)})
    fit = smf.ols("y ~ C(block) * treat", data=sch).fit()
    assert stats.mdes("blocked_cluster3_fixed", rho2=0.1, n=20, J=schools, K=K).df == fit.df_resid


def test_blocked_cluster_se_is_the_cluster_trials_with_all_schools():
    """With fixed blocks the school-level design's SE is that of a two-level cluster trial
    with J K schools (Dong & Maynard 2013: the blocks change the df only), covariates at each
    level reducing their own level's variance."""
    kw = {"n": 25, "p": 0.4, "r2_level1": 0.5, "r2_level2": 0.2}
    blocked = stats.mdes("blocked_cluster3_fixed", rho2=0.15, J=8, K=5, **kw)
    cluster = stats.mdes("cluster2", rho=0.15, J=40, **kw)
    assert blocked.se == pytest.approx(cluster.se, rel=1e-12)


# ------------------------------------------------------------------ effect sizes
def test_clustered_hedges_g_recovers_the_effect_and_its_standard_error():
    """4,000 cluster trials (40 schools of 20, ICC 0.2, true effect 0.3 SD of the total
    variance): the cluster-adjusted g is centred on 0.3 and its SE (Hedges 2007) is its
    sampling SD to Monte-Carlo error; without the design effect 1 + (n - 1) rho it was less
    than half of it."""
    rng = np.random.default_rng(1)
    reps, schools, m, rho, delta = 4000, 40, 20, 0.2, 0.3
    y = (rng.normal(0, math.sqrt(rho), (reps, schools))[:, :, None]
         + rng.normal(0, math.sqrt(1 - rho), (reps, schools, m))
         + delta * (np.arange(schools) < schools // 2)[None, :, None])
    t, c = y[:, : schools // 2].reshape(reps, -1), y[:, schools // 2:].reshape(reps, -1)
    n = t.shape[1]
    g = np.array([stats.hedges_g(mt, mc, st, sc, n, n, cluster_size=m, icc=rho).g
                  for mt, mc, st, sc in zip(t.mean(1), c.mean(1), t.std(1, ddof=1),
                                            c.std(1, ddof=1), strict=True)])
    se = stats.hedges_g_from_d(delta, n, n, cluster_size=m, icc=rho).se
    assert g.mean() == pytest.approx(delta, abs=0.01)
    assert g.std(ddof=1) == pytest.approx(se, rel=0.06)


def test_hedges_g_from_clustered_data_uses_the_students_per_cluster():
    """hedges_g_data with cluster= and icc= is hedges_g on the arms' summaries with cluster
    size N / G (students analysed over clusters)."""
    rng = np.random.default_rng(6)
    school = np.repeat(np.arange(12), rng.integers(8, 30, 12))
    arm = np.where(school < 6, "t", "c")
    y = rng.normal(size=12)[school] + 0.4 * (arm == "t") + rng.normal(size=school.size)
    df = pd.DataFrame({"y": y, "arm": arm, "school": school})
    got = stats.hedges_g_data(df, "y", "arm", "c", cluster="school", icc=0.15)
    yt, yc = y[arm == "t"], y[arm == "c"]
    ref = stats.hedges_g(yt.mean(), yc.mean(), yt.std(ddof=1), yc.std(ddof=1), yt.size, yc.size,
                         cluster_size=school.size / 12, icc=0.15)
    assert (got.g, got.se, got.cluster_size) == pytest.approx((ref.g, ref.se, school.size / 12),
                                                              rel=1e-12)


# ------------------------------------------------------------------ risk: fairness tables
def test_a_gap_needs_two_groups_with_a_defined_rate():
    """Sensitivity is undefined (NaN) in a group without the outcome; a gap across groups with
    one defined sensitivity is undefined too, not 0 ("no difference" where nothing was
    compared), as group_gaps says for the same table."""
    from srmsim import risk

    df = pd.DataFrame({"s": [1, 2, 3, 4, 1, 2, 3, 4], "y": [1, 0, 1, 0, 0, 0, 0, 0],
                       "sen": ["yes"] * 4 + ["no"] * 4})
    t = risk.threshold_table(df, "s", "y", thresholds=[2.5], by="sen").set_index("group")
    assert np.isnan(t.loc["no", "sensitivity"]) and t.loc["yes", "sensitivity"] == 0.5
    assert t["sensitivity_gap"].isna().all()
    assert (t["flag_rate_gap"] == 0.0).all()  # both flag rates defined (and equal)
    assert np.isnan(risk.group_gaps(t.reset_index())["sensitivity_gap"].iloc[0])


# ------------------------------------------------------------------ risk: capacity and curves
def _risk_frame(seed: int, n: int = 300, schools: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    score = rng.permutation(n) / n  # untied
    y = (rng.uniform(size=n) < 0.6 - 0.5 * score).astype(int)  # lower score, more at risk
    df = pd.DataFrame({"s": score, "y": y})
    if schools:
        df["school"] = rng.integers(0, schools, n)
    return df


def test_capacity_counts_boundary_ties_only_when_they_cost_a_place():
    """Untied scores fill capacity exactly: no tie kept anyone out (0), whatever the score at
    the threshold; three students tied across the boundary leave two places spare and are
    the tie counted."""
    from srmsim import risk

    res = risk.threshold_at_capacity(_risk_frame(1), "s", "y", capacity_cases=40)
    assert (res.flagged, res.spare_capacity, res.n_boundary_ties) == (40, 0, 0)
    df = pd.DataFrame({"s": [1, 2, 3, 4, 4, 4, 5, 6], "y": [1, 0, 1, 1, 0, 0, 0, 0]})
    res = risk.threshold_at_capacity(df, "s", "y", capacity_cases=5)
    assert (res.flagged, res.spare_capacity, res.n_boundary_ties) == (3, 2, 3)


def test_capacity_in_whole_cases_is_rounded_down():
    """59 minutes at 20 a case is 2 cases (a third would overrun the time), 60 minutes 3."""
    from srmsim import risk

    assert risk.capacity_in_cases(staff_minutes_available=59, minutes_per_case=20) == 2
    assert risk.capacity_in_cases(staff_minutes_available=60, minutes_per_case=20) == 3
    assert risk.capacity_in_cases(staff_minutes_available=0.7, minutes_per_case=0.1) == 7


def test_cost_minimum_within_capacity_may_use_the_whole_capacity():
    """'Within capacity' is flagged <= capacity: by brute force over every cut point."""
    from srmsim import risk

    df = _risk_frame(2)
    for cap in (0, 1, 17, 60, 299):
        res = risk.cost_minimising_threshold(df, "s", "y", cost_missed=5, cost_needless=1,
                                             capacity_cases=cap)
        s, y = df["s"].to_numpy(), df["y"].to_numpy()
        best = min((5 * ((s >= t) & (y == 1)).sum() + ((s < t) & (y == 0)).sum(), (s < t).sum())
                   for t in np.r_[np.sort(s), np.inf] if (s < t).sum() <= cap)
        assert (res.cost, res.flagged) == best, cap
        assert res.flagged <= cap


def test_bootstrap_interval_is_the_central_percentile_interval_of_its_replicates():
    """A 95% band runs from the 2.5th to the 97.5th percentile of the school-bootstrap AUCs
    (and APs), not from the 5th to the 95th."""
    from srmsim import risk

    bands = risk.bootstrap_curves(_risk_frame(3, n=600, schools=25), "s", "y",
                                  cluster="school", n_boot=400, seed=1)
    assert bands.auc_samples.size == 400
    assert (bands.auc_low, bands.auc_high) == pytest.approx(
        tuple(np.percentile(bands.auc_samples, [2.5, 97.5])), rel=1e-12)
    assert (bands.ap_low, bands.ap_high) == pytest.approx(
        tuple(np.percentile(bands.ap_samples, [2.5, 97.5])), rel=1e-12)


def test_bootstrap_pr_band_is_drawn_on_interpolated_precision():
    """The PR curve on the band's grid is the interpolated precision: at recall r, the best
    precision reached at any recall >= r (so the curve is monotone), from pr_curve's points."""
    from srmsim import risk

    df = _risk_frame(4, n=400, schools=20)
    bands = risk.bootstrap_curves(df, "s", "y", cluster="school", n_boot=40, seed=0)
    points = risk.pr_curve(df, "s", "y")
    recall, precision = points["recall"].to_numpy(), points["precision"].fillna(0).to_numpy()
    expected = [precision[recall >= r].max() for r in bands.pr["recall"]]
    assert bands.pr["precision"].to_numpy() == pytest.approx(expected, rel=1e-12)
    assert (np.diff(bands.pr["precision"]) <= 0).all()


def test_protected_grid_leaves_enough_of_each_outcome_beyond_the_last_threshold():
    """Students above the last published threshold are a band too (n - flagged, n_pos - tp):
    it must hold min_count with and min_count without the outcome. Here the highest scores all
    have the outcome, so the negatives run out first at that end."""
    from srmsim import risk
    from srmsim.risk.protected import band_counts, protected_grid

    s = np.arange(200.0)
    y = np.where(s < 150, s % 2 == 0, True).astype(int)
    df = pd.DataFrame({"s": s, "y": y})
    grid, _ = protected_grid(df, "s", "y", min_count=10)
    bands = band_counts(risk.threshold_table(df, "s", "y", thresholds=grid))
    assert len(grid) >= 3
    assert bands["positives"].min() >= 10 and bands["negatives"].min() >= 10


def test_nnt_interval_through_infinity_starts_at_the_largest_effect_in_the_interval():
    """A risk difference of -0.02 with CI -0.10 to 0.05 (Altman 1998): NNT 50; the NNT runs
    from 10 (benefit, 1/0.10) through infinity, so its smallest value is 10, not 20."""
    k = stats.nnt(-0.02, -0.10, 0.05)
    assert k.value == pytest.approx(50.0) and k.crosses_zero
    assert k.ci_low == pytest.approx(10.0) and math.isinf(k.ci_high)
    k = stats.nnt(0.03, -0.04, 0.125)
    assert k.ci_low == pytest.approx(8.0) and k.direction == "more"


def test_simulated_power_interval_rests_on_the_replications_analysed():
    """Failed replications are excluded from the power and from its Monte-Carlo interval:
    Wilson's interval of rejections over the replications analysed (statsmodels' agrees)."""
    from statsmodels.stats.proportion import proportion_confint

    from srmsim.errors import SrmsimError

    def simulate(seed: int) -> pd.DataFrame:
        return pd.DataFrame({"seed": [seed]})

    def estimate(df: pd.DataFrame) -> float:
        u = np.random.default_rng(int(df["seed"].iloc[0])).uniform()
        if u < 0.3:
            raise SrmsimError("unsound fit")
        return (u - 0.3) / 0.7 * 0.2  # a p-value: below 0.05 a quarter of the time

    res = stats.simulated_power(simulate, estimate, n_sims=200, seed=4, on_error="count")
    analysed = res.n_sims - res.n_failed
    assert 30 < res.n_failed < 90
    assert res.power == res.n_rejected / analysed
    assert (res.ci_low, res.ci_high) == pytest.approx(
        proportion_confint(res.n_rejected, analysed, method="wilson"), rel=1e-12)


# ------------------------------------------------------------------ trial: the truth
def test_stepped_wedge_truth_leaves_out_the_period_when_every_school_is_treated():
    """Two steps: schools start in period 1 or 2, and in period 2 every school is treated, so
    nothing identifies that period's effect (here 100 where it is 1 before): the true effect is
    the mean over treated school-periods before it, each school once a period (3 students in
    one school count as much as 1 in another)."""
    from types import SimpleNamespace

    from srmsim.trial.analyse import CF, truths

    config = SimpleNamespace(outcome="y", baseline=None, naive=None,
                             randomise=SimpleNamespace(unit="stepped_wedge", steps=2))
    rows = []
    for school, start, students in ((0, 1, 3), (1, 1, 1), (2, 2, 2)):
        for period in range(3):
            for k in range(students):
                treated = period >= start
                gain = (100.0 if period == 2 else 1.0 + school) if treated else 0.0
                rows.append({"school": school, "period": period, "uid": 10 * school + k,
                             "arm": "treated" if treated else "control", "served": True,
                             "y": 5.0 + k + gain, "y" + CF: 5.0 + k})
    analysed = pd.DataFrame(rows)
    students = analysed.drop_duplicates("uid")[["uid", "arm", "served"]].assign(arm="treated")
    out = truths(SimpleNamespace(config=config), analysed, students)
    # treated school-periods with a control school left: (school 0, period 1), (1, 1)
    assert out["true_effect"] == pytest.approx((1.0 + 2.0) / 2)


def test_students_are_randomised_within_each_school_not_taken_in_roll_order():
    """Complete randomisation within blocks: every school treats round(share * n) students,
    and over many seeds each student is treated with probability share, whatever their place
    on the roll (taking them in uid order treated the same five every time)."""
    from srmsim.trial.assign import StudentAssignment

    uid = np.arange(100, 130)
    school = np.repeat([0, 1, 2], 10)
    counts = np.zeros(uid.size)
    seeds = 400
    for seed in range(seeds):
        treated = StudentAssignment(seed, 0.5, "school").treated(uid, school)
        assert np.bincount(school, weights=treated).tolist() == [5, 5, 5]
        counts += treated
    share = counts / seeds
    # binomial SD 0.025 a student: every one within 4.5 SD of 0.5
    assert np.abs(share - 0.5).max() < 0.11
