"""Regression discontinuity at a risk threshold: recovers a known jump, with sound intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from srmsim import stats
from srmsim.errors import DataError, EstimationError, SrmsimError

JUMP = 4.0  # points of reading score gained by students flagged below 90% attendance


def threshold_school(seed: int, n: int = 2000, schools: int = 0, curved: bool = True):
    """Attendance (%) runs 70-100; below 90 triggers mentoring, which adds JUMP points."""
    rng = np.random.default_rng(seed)
    attendance = rng.uniform(70, 100, n)
    x = (attendance - 90) / 10
    base = 100 + 8 * x - (3 * x**2 if curved else 0) + np.where(x < 0, 1.5 * x**2, 0)
    y = base + JUMP * (attendance < 90) + rng.normal(0, 6, n)
    df = pd.DataFrame({"attendance": attendance, "reading": y})
    if schools:
        school = rng.integers(0, schools, n)
        df["reading"] += rng.normal(0, 3, schools)[school]
        df["school"] = school
    return df


def test_recovers_known_jump_with_data_driven_bandwidth():
    res = stats.rdd(threshold_school(1), "reading", "attendance", cutoff=90, treated_side="below")
    assert res.ci_low < JUMP < res.ci_high
    assert res.robust_ci_low < JUMP < res.robust_ci_high
    assert res.bandwidth_rule.startswith("Imbens-Kalyanaraman")
    assert 2 < res.bandwidth < 20
    assert res.n_below > 100 and res.n_above > 100 and res.n_treated == res.n_below
    assert "jump" in res.summary()


def test_treated_side_sets_the_sign():
    df = threshold_school(2)
    below = stats.rdd(df, "reading", "attendance", 90, treated_side="below")
    above = stats.rdd(df, "reading", "attendance", 90, treated_side="above")
    assert above.estimate == pytest.approx(-below.estimate)
    assert above.bandwidth == below.bandwidth


def test_bandwidth_approaches_the_infeasible_mse_optimum():
    """IK's estimate is centred on the optimum computed from the true curve.

    y = 1 + x + 2 x^2 sign(x) + 0.5 [x >= 0] + e, x ~ U(-1, 1): f(0) = 1/2, second derivatives
    +4 and -4, so h* = 3.4375 (2 sigma^2 / (f(0) 64))^(1/5) N^(-1/5). A bandwidth estimate is
    noisy (it rests on curvature estimates), so the check is on the median over 10 datasets.
    """
    n = 20000
    ratios, noise_ratios = [], []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        x = rng.uniform(-1, 1, n)
        mean = 1 + x + np.where(x >= 0, 2, -2) * x**2 + 0.5 * (x >= 0)
        h1 = stats.ik_bandwidth(x, mean + rng.normal(0, 1, n), cutoff=0.0)
        h2 = stats.ik_bandwidth(x, mean + rng.normal(0, 2, n), cutoff=0.0)
        ratios.append(h1 / (3.4375 * (2 / (0.5 * 64)) ** 0.2 * n**-0.2))
        noise_ratios.append(h2 / h1)
    assert np.median(ratios) == pytest.approx(1.0, abs=0.15)
    # data driven, not a fixed fraction of the range: 4x the noise variance widens it ~4^(1/5)
    assert np.median(noise_ratios) == pytest.approx(4**0.2, rel=0.2)


def _xy(df):
    return ((df["attendance"] - 90) / 10).to_numpy(), df["reading"].to_numpy()


def test_given_bandwidth_and_kernels():
    df = threshold_school(4)
    tri = stats.rdd(df, "reading", "attendance", 90, bandwidth=6)
    uni = stats.rdd(df, "reading", "attendance", 90, bandwidth=6, kernel="uniform")
    assert tri.bandwidth == 6 and tri.bandwidth_rule == "given"
    assert tri.estimate != uni.estimate
    inside = df[(df["attendance"] - 90).abs() < 6]
    assert uni.n_below + uni.n_above == len(inside)


def test_uniform_kernel_equals_ols_on_the_window():
    df = threshold_school(5)
    res = stats.rdd(df, "reading", "attendance", 90, bandwidth=5, kernel="uniform")
    w = df[(df["attendance"] - 90).abs() <= 5]
    left, right = w[w.attendance < 90], w[w.attendance >= 90]
    fit_l = np.polyfit(left.attendance - 90, left.reading, 1)
    fit_r = np.polyfit(right.attendance - 90, right.reading, 1)
    assert res.estimate == pytest.approx(fit_l[1] - fit_r[1], rel=1e-9)


@pytest.mark.parametrize("bandwidth", [None, 5.0])
def test_outcome_level_does_not_move_the_jump(bandwidth):
    """An outcome of 1e9 + y (an outcome in small units beside a large level) shifts only the
    intercepts: the jump, its SEs and the bandwidth are those of the same (rounded) values
    without the level, and the jump that of least squares each side (numpy's polyfit, on the
    window of the uniform kernel). The normal equations on the raw level moved the jump by 5e-6
    and its SE by 8e-7 of itself."""
    df = threshold_school(5, curved=False)
    high = df.assign(reading=df["reading"] + 1e9)
    rounded = df.assign(reading=high["reading"] - 1e9)  # the values the shifted table holds
    kw = {"cutoff": 90, "bandwidth": bandwidth, "kernel": "uniform"}
    a = stats.rdd(high, "reading", "attendance", **kw)
    b = stats.rdd(rounded, "reading", "attendance", **kw)
    assert a.bandwidth == pytest.approx(b.bandwidth, rel=1e-12)
    for name in ("estimate", "se", "df", "robust_estimate", "robust_se"):
        assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-10), name
    w = rounded[(rounded["attendance"] - 90).abs() <= a.bandwidth]
    left, right = w[w.attendance < 90], w[w.attendance >= 90]
    jump = (np.polyfit(left.attendance - 90, left.reading, 1)[1]
            - np.polyfit(right.attendance - 90, right.reading, 1)[1])
    assert a.estimate == pytest.approx(jump, rel=1e-9)


def test_uniform_kernel_keeps_rows_exactly_one_bandwidth_away():
    """A whole-number score and a whole-number bandwidth: the rows exactly h from the cutoff are
    in the window (|u| <= 1, as rdrobust weighs), so the jump is OLS each side on 85..95."""
    rng = np.random.default_rng(11)
    score = rng.integers(70, 111, 3000).astype(float)
    y = 0.05 * score + 0.6 * (score < 90) + rng.normal(0, 1, score.size)
    df = pd.DataFrame({"score": score, "y": y})
    res = stats.rdd(df, "y", "score", 90, bandwidth=5, kernel="uniform")
    w = df[(df.score - 90).abs() <= 5]
    assert w.score.min() == 85 and w.score.max() == 95
    left, right = w[w.score < 90], w[w.score >= 90]
    assert (res.n_below, res.n_above) == (len(left), len(right))
    fit_l = np.polyfit(left.score - 90, left.y, 1)
    fit_r = np.polyfit(right.score - 90, right.y, 1)
    assert res.estimate == pytest.approx(fit_l[1] - fit_r[1], rel=1e-9)
    # the kernels that weigh |u| = 1 at 0 leave those rows out of the counts
    tri = stats.rdd(df, "y", "score", 90, bandwidth=5, kernel="triangular")
    assert tri.n_below == int(((df.score < 90) & (df.score > 85)).sum())


def test_cluster_robust_se_uses_schools():
    df = threshold_school(6, n=4000, schools=30)
    res = stats.rdd(df, "reading", "attendance", 90, cluster="school")
    assert res.n_clusters == 30 and 20 < res.df < 29  # the jump's Bell-McCaffrey df (CR2)
    assert res.ci_low < JUMP < res.ci_high
    plain = stats.rdd(df, "reading", "attendance", 90, bandwidth=res.bandwidth)
    assert plain.estimate == pytest.approx(res.estimate) and plain.se != res.se


@pytest.mark.once
def test_coverage_over_replications():
    cover = cover_robust = 0
    n = 150
    for seed in range(n):
        res = stats.rdd(threshold_school(300 + seed, n=1500), "reading", "attendance", 90)
        cover += res.ci_low < JUMP < res.ci_high
        cover_robust += res.robust_ci_low < JUMP < res.robust_ci_high
    tol = 3 * np.sqrt(0.95 * 0.05 / n)
    assert abs(cover_robust / n - 0.95) < tol
    assert cover / n > 0.95 - tol - 0.03  # conventional CI may undercover slightly (bias)


def test_binned_plot(tmp_path):
    df = threshold_school(7)
    fig = stats.rdd_plot(df, "reading", "attendance", 90, bins=15, path=tmp_path / "rd.png")
    assert (tmp_path / "rd.png").stat().st_size > 5000
    assert len(fig.axes[0].lines) >= 3  # two fitted lines and the cutoff
    res = stats.rdd(df, "reading", "attendance", 90)
    res.plot(tmp_path / "rd2.png")
    assert (tmp_path / "rd2.png").exists()


def test_rdd_input_errors():
    df = threshold_school(8)
    with pytest.raises(DataError, match=r"'attend' \(running variable\) not found"):
        stats.rdd(df, "reading", "attend", 90)
    with pytest.raises(DataError, match="no values at or above the cutoff 120"):
        stats.rdd(df, "reading", "attendance", 120)
    with pytest.raises(EstimationError, match="widen the bandwidth"):
        stats.rdd(df, "reading", "attendance", 90, bandwidth=0.01)
    with pytest.raises(SrmsimError, match="treated_side='left'"):
        stats.rdd(df, "reading", "attendance", 90, treated_side="left")
    with pytest.raises(DataError, match="outcome column 'reading' has no values"):
        stats.rdd(df.assign(reading=np.nan), "reading", "attendance", 90)
    missing = df.copy()
    missing.loc[:9, "reading"] = np.nan
    assert stats.rdd(missing, "reading", "attendance", 90).missing.n_dropped == 10


def test_binned_plot_refuses_absurd_bin_counts_before_allocating():
    """bins=10**9 ran out of memory; RddResult.plot did not check bins at all."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, 300)
    df = pd.DataFrame({"x": x, "y": x + (x >= 0) + rng.normal(0, 0.3, 300)})
    for bins in (10**9, 1, 2.5, True):
        with pytest.raises(SrmsimError, match="bins must be a whole number from 2 to 1000"):
            stats.rdd_plot(df, "y", "x", 0.0, bins=bins)
    with pytest.raises(SrmsimError, match="bins must be"):
        stats.rdd(df, "y", "x", 0.0).plot(bins=10**9)


# ---- exact fits, discrete running variables and cutoffs (fuzzing report) ----------------------


def test_exact_fits_are_refused_not_given_round_off_standard_errors():
    """An outcome exactly linear each side got se 7e-16 and p = 0 (robust p = 0 too)."""
    x = np.linspace(-1, 1, 200)
    linear = pd.DataFrame({"x": x, "y": 1 + 0.5 * x + 0.4 * (x < 0)})
    exact = r"rdd \(local linear fit .*\): the model reproduces the outcome exactly"
    with pytest.raises(EstimationError, match=exact):
        stats.rdd(linear, "y", "x", 0.0, bandwidth=0.5)
    quadratic = linear.assign(y=linear["y"] + x**2)  # only the robust local quadratic is exact
    with pytest.raises(EstimationError, match=r"local quadratic .* reproduces the outcome exactly"):
        stats.rdd(quadratic, "y", "x", 0.0, bandwidth=0.5)


@pytest.mark.parametrize("seed", [0, 4])
def test_discrete_running_variable_with_too_few_values_is_refused(seed):
    """Two values below the cutoff: the local quadratic is singular. It returned a robust estimate
    of -2.5 with SE 5e6 (seed 0), or a raw 'math domain error' (seed 4)."""
    x = np.repeat([-2.0, -1.0, 0.0, 1.0, 2.0], 20)
    y = x + 0.5 * (x < 0) + np.random.default_rng(seed).normal(size=x.size)
    df = pd.DataFrame({"x": x, "y": y})
    with pytest.raises(EstimationError, match=r"'x' takes only 2 distinct values below the "
                       r"cutoff within the bandwidth 2.5; a local quadratic .* needs at least 3"):
        stats.rdd(df, "y", "x", 0.0, bandwidth=2.5)
    with pytest.raises(EstimationError, match="a local linear fit needs at least 2"):
        stats.rdd(df, "y", "x", 0.0, bandwidth=1.5, kernel="uniform")
    with pytest.raises(EstimationError, match="IK bandwidth: .* distinct values .* bandwidth="):
        stats.rdd(df, "y", "x", 0.0)  # the IK rule's cubic was a minimum-norm guess too


def test_discrete_running_variable_with_enough_values_is_estimated():
    x = np.repeat(np.arange(-6.0, 7.0), 30)
    y = x + 2.0 * (x < 0) + np.random.default_rng(1).normal(size=x.size)
    res = stats.rdd(pd.DataFrame({"x": x, "y": y}), "y", "x", 0.0, bandwidth=5)
    assert res.ci_low < 2.0 < res.ci_high and res.robust_ci_low < 2.0 < res.robust_ci_high
    assert 0 < res.robust_se < 2


def test_ik_bandwidth_reads_the_cutoff_as_rdd_does():
    """None gave a raw TypeError and "20" a UFuncTypeError; text is refused everywhere, as for
    every number the statistics functions take."""
    rng = np.random.default_rng(3)
    x = rng.uniform(10, 30, 600)
    y = 0.1 * x + (x >= 20) + rng.normal(0, 0.5, 600)
    df = pd.DataFrame({"x": x, "y": y})
    for bad in (None, "twenty", "20", [20], True):
        for call in (lambda c: stats.ik_bandwidth(x, y, c), lambda c: stats.rdd(df, "y", "x", c),
                     lambda c: stats.rdd_plot(df, "y", "x", c)):
            with pytest.raises(SrmsimError, match="cutoff=.* must be a number"):
                call(bad)
    assert stats.rdd(df, "y", "x", np.float32(20)).bandwidth == stats.ik_bandwidth(x, y, 20)
    with pytest.raises(SrmsimError, match="bandwidth=.* must be a number"):
        stats.rdd_plot(df, "y", "x", 20, bandwidth="wide")
    with pytest.raises(SrmsimError, match="bandwidth must be a positive number"):
        stats.rdd(df, "y", "x", 20, bandwidth=-1)


# ---- equivariance: units of the running variable and outcome, shifts, row order -----------------


def _fits(res):
    return np.array([res.estimate, res.se, res.ci_low, res.ci_high, res.robust_estimate,
                     res.robust_se, res.robust_ci_low, res.robust_ci_high])


@pytest.mark.parametrize("kernel", sorted(stats.discontinuity.KERNEL_CONSTANTS))
@pytest.mark.parametrize("given", [False, True])
def test_running_variable_units_and_origin_do_not_matter(kernel, given):
    """x -> c x + d with the cutoff moved alike scales the bandwidth by c and leaves the jump, its
    SEs and intervals unchanged. The IK rule floored m3^2 at 0.01 (R's rdd), a constant in the units
    of y / x^3: attendance in per-mille (c = 1e3) got bandwidth 3.8 instead of ~1100 and was
    refused; in fractions (c = 1e-3) it was 9% off."""
    df = threshold_school(11)
    x = (df["attendance"].to_numpy() - 90) / 10
    ref = stats.rdd(pd.DataFrame({"x": x, "y": df["reading"]}), "y", "x", 0.0, kernel=kernel,
                    bandwidth=0.7 if given else None)
    for c, shift in ((1e-3, 0.0), (1.0, 37.5), (1e3, 0.0), (1e3, -2.5e4), (1e-3, 0.125)):
        moved = pd.DataFrame({"x": c * x + shift, "y": df["reading"]})
        res = stats.rdd(moved, "y", "x", shift, kernel=kernel, bandwidth=0.7 * c if given else None)
        assert res.bandwidth == pytest.approx(c * ref.bandwidth, rel=1e-9)
        assert (res.n_below, res.n_above) == (ref.n_below, ref.n_above)
        np.testing.assert_allclose(_fits(res), _fits(ref), rtol=1e-8)
        if not given:
            h = stats.ik_bandwidth(c * x + shift, df["reading"].to_numpy(), shift, kernel)
            assert h == pytest.approx(c * ref.bandwidth, rel=1e-9)


@pytest.mark.parametrize("kernel", sorted(stats.discontinuity.KERNEL_CONSTANTS))
def test_outcome_units_scale_the_jump_not_the_bandwidth(kernel):
    df = threshold_school(12, schools=25)
    ref = stats.rdd(df, "reading", "attendance", 90, kernel=kernel, cluster="school")
    for c in (1e-3, 1e3, -2.0):
        res = stats.rdd(df.assign(reading=c * df["reading"] + 50), "reading", "attendance", 90,
                        kernel=kernel, cluster="school")
        assert res.bandwidth == pytest.approx(ref.bandwidth, rel=1e-9)
        assert res.estimate == pytest.approx(c * ref.estimate, rel=1e-8)
        assert res.se == pytest.approx(abs(c) * ref.se, rel=1e-8)
        assert res.robust_se == pytest.approx(abs(c) * ref.robust_se, rel=1e-8)
        assert res.p_value == pytest.approx(ref.p_value, rel=1e-6)


def test_row_order_and_school_labels_do_not_matter():
    df = threshold_school(13, schools=20)
    ref = stats.rdd(df, "reading", "attendance", 90, cluster="school")
    shuffled = df.sample(frac=1, random_state=3).reset_index(drop=True)
    shuffled["school"] = "s-" + (shuffled["school"] * 7 + 3).astype(str)
    res = stats.rdd(shuffled, "reading", "attendance", 90, cluster="school")
    assert res.bandwidth == pytest.approx(ref.bandwidth, rel=1e-9)
    np.testing.assert_allclose(_fits(res), _fits(ref), rtol=1e-8)


def test_ik_bandwidth_of_straight_lines_rests_on_the_data_not_on_round_off():
    """A straight line each side: the global cubic's m3 is round-off (1e-16), so IK's pilot
    window h2 = 3.56 (s2 / (f m3^2))^(1/7) ... is astronomically wide and its regularisation
    r = 2160 s2 / (N2 h2^4) vanished: h was 1135 on x in [-1, 1], a number set by rounding that
    changed with the units of x. The pilot window reaches the farthest row of its side at most."""
    x = np.tile(np.linspace(-1, 1, 101), 4)
    y = x + 0.5 * (x >= 0) + np.repeat([-1.0, 1.0, 1.0, -1.0], 101) * 0.1
    h = stats.ik_bandwidth(x, y, 0.0)
    assert 0.2 < h < 2
    for c in (1e-3, 1e3):
        assert stats.ik_bandwidth(c * x, y, 0.0) == pytest.approx(c * h, rel=1e-9)


def test_jump_in_a_share_with_an_interval_beyond_one_is_explained():
    rng = np.random.default_rng(14)
    x = rng.uniform(-1, 1, 120)
    y = ((x < 0) ^ (rng.uniform(size=120) < 0.05)).astype(float)  # the share jumps from 0.05 to 0.95
    with pytest.warns(stats.StatsWarning, match="difference of shares within"):
        res = stats.rdd(pd.DataFrame({"x": x, "y": y}), "y", "x", 0.0, bandwidth=0.3)
    assert max(res.ci_high, res.robust_ci_high) > 1 and any("[-1, 1]" in n for n in res.notes)


def test_robust_interval_uses_the_local_quadratics_degrees_of_freedom():
    """Uniform kernel on a narrow window: the robust estimate is OLS of a quadratic each side
    with HC2 (statsmodels) and its t interval has the quadratic's own Bell-McCaffrey df, not
    the local line's (too narrow with 11 students below the cutoff, whose extrapolated limit
    rests on a few of them: HC1 with n - 6 = 30 df was given here before)."""
    import statsmodels.api as sm
    from scipy import stats as sps
    from test_stats_regression import cr2_by_definition

    df = threshold_school(5, n=300)
    res = stats.rdd(df, "reading", "attendance", 90, bandwidth=2.0, kernel="uniform")
    w = df[(df["attendance"] - 90).abs() < 2.0]
    d, side = w["attendance"].to_numpy() - 90, (w["attendance"] < 90).to_numpy() * 1.0
    X = np.column_stack([np.ones(d.size), side, d, side * d, d**2, side * d**2])
    ref = sm.OLS(w["reading"].to_numpy(), X).fit(cov_type="HC2", use_t=True)
    _, dof = cr2_by_definition(X, np.asarray(ref.resid), np.arange(d.size))
    _, line_dof = cr2_by_definition(X[:, :4], np.asarray(sm.OLS(w["reading"].to_numpy(), X[:, :4])
                                                         .fit().resid), np.arange(d.size))
    assert res.robust_df == pytest.approx(dof[1], rel=1e-8) and res.robust_df < 5
    assert res.df == pytest.approx(line_dof[1], rel=1e-8) and res.df != res.robust_df
    assert res.robust_se == pytest.approx(ref.bse[1], rel=1e-8)
    crit = sps.t.ppf(0.975, dof[1])
    assert (res.robust_ci_low, res.robust_ci_high) == pytest.approx(
        (ref.params[1] - crit * ref.bse[1], ref.params[1] + crit * ref.bse[1]), rel=1e-8)
    assert res.robust_p_value == pytest.approx(2 * sps.t.sf(abs(ref.tvalues[1]), dof[1]),
                                               rel=1e-8)
