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
    (Epanechnikov). The constants srmsim uses (IK 2012 and R's rdd, to 4-5 digits) agree."""
    from scipy.integrate import quad

    from srmsim.stats.discontinuity import KERNEL_CONSTANTS, _kernel

    def k(u: float) -> float:
        return float(_kernel(np.array([u]), kernel)[0])

    nu = [quad(lambda u, j=j: u**j * k(u), 0, 1)[0] for j in range(3)]

    def k_star(u: float) -> float:
        return (nu[2] - nu[1] * u) * k(u) / (nu[0] * nu[2] - nu[1] ** 2)

    var = quad(lambda u: k_star(u) ** 2, 0, 1)[0]
    bias = quad(lambda u: u * u * k_star(u), 0, 1)[0]
    assert KERNEL_CONSTANTS[kernel] == pytest.approx((var / bias**2) ** 0.2, rel=2e-4)


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
