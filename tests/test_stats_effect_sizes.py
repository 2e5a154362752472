"""Effect sizes: WWC Hedges' g vectors, EEF months, risks, NNT and cost per outcome."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from srmsim import stats
from srmsim.errors import DataError, SrmsimError


def test_hedges_g_small_sample_vector():
    """WWC Procedures Handbook v4.1: means 6 vs 5, SD 1, 3 + 3 students -> g = 0.8 (omega = 1 - 3/15)."""
    g = stats.hedges_g(6, 5, 1, 1, 3, 3)
    assert round(g.g, 4) == 0.8000 and g.d == 1.0 and g.omega == pytest.approx(0.8)
    assert g.gamma == 1.0


def test_hedges_g_cluster_vector():
    """d 0.3, 500 + 500, cluster size 25, ICC .2 -> 0.298329 (omega 1 - 3/(4N-9), gamma)."""
    g = stats.hedges_g_from_d(0.3, 500, 500, cluster_size=25, icc=0.2)
    assert round(g.g, 6) == 0.298329
    assert g.gamma == pytest.approx(math.sqrt(1 - 2 * 24 * 0.2 / 998))
    assert g.omega == pytest.approx(1 - 3 / (4 * 1000 - 9))
    # the WWC v5.0 variant with Hedges' cluster df h in omega gives a slightly smaller value
    h = stats.hedges_g_from_d(0.3, 500, 500, cluster_size=25, icc=0.2, small_sample="h")
    assert round(h.g, 6) == 0.298120
    # without clustering the two small-sample factors coincide
    assert stats.hedges_g_from_d(0.3, 40, 40, small_sample="h").g == pytest.approx(
        stats.hedges_g_from_d(0.3, 40, 40).g)


def test_hedges_g_standard_error_and_clustering_widen_ci():
    plain = stats.hedges_g_from_d(0.3, 500, 500)
    assert plain.se == pytest.approx(plain.omega * math.sqrt(1000 / 250000 + 0.09 / 1996))
    clustered = stats.hedges_g_from_d(0.3, 500, 500, cluster_size=25, icc=0.2)
    assert clustered.se > 2 * plain.se  # design effect 1 + 24 * .2 = 5.8
    assert clustered.ci_low < clustered.g < clustered.ci_high


def test_hedges_g_from_data_matches_summary_statistics():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"arm": np.repeat(["control", "tutoring"], 50),
                       "score": np.r_[rng.normal(100, 15, 50), rng.normal(106, 15, 50)]})
    g = stats.hedges_g_data(df, "score", "arm", "control")
    t, c = df[df.arm == "tutoring"].score, df[df.arm == "control"].score
    ref = stats.hedges_g(t.mean(), c.mean(), t.std(), c.std(), 50, 50)
    assert g.g == pytest.approx(ref.g)
    assert g.months == stats.eef_months(g.g)


def test_hedges_g_from_clustered_data_estimates_icc():
    rng = np.random.default_rng(2)
    school = np.repeat(np.arange(40), 25)
    arm = np.where(school % 2 == 0, "control", "reading_club")
    y = 0.3 * (arm == "reading_club") + rng.normal(0, math.sqrt(0.2), 40)[school]
    y = y + rng.normal(0, math.sqrt(0.8), school.size)
    df = pd.DataFrame({"y": y, "arm": arm, "school": school})
    g = stats.hedges_g_data(df, "y", "arm", "control", cluster="school")
    assert g.cluster_size == 25 and 0.05 < g.icc < 0.45
    given = stats.hedges_g_data(df, "y", "arm", "control", cluster="school", icc=0.2)
    assert given.icc == 0.2 and given.gamma == pytest.approx(math.sqrt(1 - 2 * 24 * 0.2 / 998))


@pytest.mark.once
def test_hedges_g_from_clustered_data_does_not_depend_on_units():
    """g and the ICC have no units; the ICC's mixed model is fitted on the outcome in SD units
    (in units of 1e100 it failed, so no g at all)."""
    rng = np.random.default_rng(3)
    school = np.repeat(np.arange(30), 20)
    arm = np.where(school % 2 == 0, "control", "mentor")
    y = 0.3 * (arm == "mentor") + rng.normal(0, 0.4, 30)[school] + rng.normal(size=school.size)
    df = pd.DataFrame({"y": y, "arm": arm, "school": school})
    ref = stats.hedges_g_data(df, "y", "arm", "control", cluster="school")
    for c, d in ((1e100, 0.0), (1e-100, 1e-99), (-3.0, 7.0)):
        g = stats.hedges_g_data(df.assign(y=c * y + d), "y", "arm", "control", cluster="school")
        assert g.icc == pytest.approx(ref.icc, rel=1e-9)
        assert g.g == pytest.approx(math.copysign(1, c) * ref.g, rel=1e-9)
        assert g.se == pytest.approx(ref.se, rel=1e-9)
    # school 7 read from one file as a number and from another as text is one school, as in the
    # ICC's model: the average cluster size was halved (10 instead of 20) and g moved
    mixed = df.assign(school=[s if i % 2 else str(s) for i, s in enumerate(school)])
    again = stats.hedges_g_data(mixed.astype({"school": object}), "y", "arm", "control",
                                cluster="school")
    assert again.cluster_size == ref.cluster_size == 20 and again.g == pytest.approx(ref.g)


def test_hedges_g_input_errors():
    with pytest.raises(SrmsimError, match="both cluster_size and icc"):
        stats.hedges_g_from_d(0.3, 10, 10, cluster_size=5)
    with pytest.raises(SrmsimError, match="sd_c must be a positive number"):
        stats.hedges_g(1, 0, 1, 0, 10, 10)
    with pytest.raises(SrmsimError, match="icc must be in"):
        stats.hedges_g_from_d(0.3, 10, 10, cluster_size=5, icc=1.2)
    df = pd.DataFrame({"arm": ["a", "b", "c"] * 4, "y": range(12)})
    with pytest.raises(SrmsimError, match="name the arm"):
        stats.hedges_g_data(df, "y", "arm", "a")
    with pytest.raises(DataError, match="arm 'd' not found"):
        stats.hedges_g_data(df, "y", "arm", "a", arm="d")


@pytest.mark.parametrize(
    "es,months",
    [(0.0, 0), (0.01, 0), (0.02, 1), (0.09, 1), (0.10, 2), (0.18, 2), (0.19, 3), (0.26, 3),
     (0.27, 4), (0.35, 4), (0.36, 5), (0.44, 5), (0.45, 6), (0.52, 6), (0.53, 7), (0.61, 7),
     (0.62, 8), (0.69, 8), (0.70, 9), (0.78, 9), (0.79, 10), (0.87, 10), (0.88, 11),
     (0.95, 11), (0.96, 12), (1.5, 12), (-0.30, -4), (-0.01, 0), (-0.96, -12)],
)
def test_eef_months_table(es, months):
    assert stats.eef_months(es) == months


def test_eef_months_rounds_to_two_decimals_and_vectorises():
    assert stats.eef_months(0.094) == 1 and stats.eef_months(0.095) == 2
    assert stats.eef_months([0.05, -0.5, 0.3]).tolist() == [1, -6, 4]


def test_risk_difference_ratio_and_nnt():
    # persistent absence: 30/200 with mentoring vs 50/200 without
    rd = stats.risk_difference(30, 200, 50, 200)
    assert rd.estimate == pytest.approx(-0.10)
    assert rd.ci_low < -0.10 < rd.ci_high < 0
    wald = stats.risk_difference(30, 200, 50, 200, method="wald")
    se = math.sqrt(0.15 * 0.85 / 200 + 0.25 * 0.75 / 200)
    assert (wald.ci_low, wald.ci_high) == pytest.approx((-0.1 - 1.959964 * se, -0.1 + 1.959964 * se))
    rr = stats.risk_ratio(30, 200, 50, 200)
    assert rr.estimate == pytest.approx(0.6)
    se_log = math.sqrt(1 / 30 - 1 / 200 + 1 / 50 - 1 / 200)
    assert rr.ci_low == pytest.approx(0.6 * math.exp(-1.959964 * se_log), rel=1e-6)
    assert rr.ci_high == pytest.approx(0.6 * math.exp(1.959964 * se_log), rel=1e-6)
    k = stats.nnt(rd)
    assert k.value == pytest.approx(10.0) and k.direction == "fewer" and not k.crosses_zero
    assert k.ci_low < 10 < k.ci_high
    assert "10.0 students for one fewer case" in k.describe()


def test_wald_risk_difference_stays_a_difference_of_shares():
    """9/10 against 0/10 gave the Wald interval 0.71 to 1.086 (a difference of two shares cannot
    exceed 1); 10/10 against 0/10 gave the zero-width interval 1 to 1, false certainty."""
    wald = stats.risk_difference(9, 10, 0, 10, method="wald")
    se = math.sqrt(0.9 * 0.1 / 10)
    assert wald.ci_low == pytest.approx(0.9 - 1.959964 * se) and wald.ci_high == 1.0
    assert "truncated to [-1, 1]" in wald.method
    assert stats.risk_difference(0, 10, 9, 10, method="wald").ci_low == -1.0
    for events_t, events_c in ((10, 0), (0, 0), (10, 10)):
        with pytest.raises(DataError, match="zero width .* method='newcombe'"):
            stats.risk_difference(events_t, 10, events_c, 10, method="wald")
        newcombe = stats.risk_difference(events_t, 10, events_c, 10)
        assert -1 <= newcombe.ci_low < newcombe.ci_high <= 1


def test_nnt_interval_through_infinity_when_ci_includes_zero():
    rd = stats.risk_difference(45, 200, 50, 200)
    k = stats.nnt(rd)
    assert k.crosses_zero and math.isinf(k.ci_high) and k.ci_low > 0
    assert "infinity" in k.describe()
    assert math.isinf(stats.nnt(0.0).value)


def test_risk_ratio_zero_events_names_arm_unless_corrected():
    with pytest.raises(DataError, match="treatment arm .* zero events.*continuity=0.5"):
        stats.risk_ratio(0, 100, 5, 100)
    rr = stats.risk_ratio(0, 100, 5, 100, continuity=0.5)
    assert rr.estimate == pytest.approx((0.5 / 101) / (5.5 / 101)) and "continuity" in rr.method


def test_risk_ratio_refuses_a_zero_width_interval_when_every_student_has_the_event():
    # se(log RR) = sqrt(1/a - 1/n1 + 1/c - 1/n0) is 0 here, yet the Newcombe risk difference
    # for the same counts spans about -0.24 to 0.30: the ratio is not pinned at 1
    with pytest.raises(DataError, match="zero width when every student in both arms"):
        stats.risk_ratio(12, 12, 9, 9)
    rd = stats.risk_difference(12, 12, 9, 9)
    assert rd.ci_low < -0.2 and rd.ci_high > 0.25
    rr = stats.risk_ratio(12, 12, 9, 9, continuity=0.5)
    assert rr.ci_low < 1 < rr.ci_high
    assert stats.risk_ratio(12, 12, 8, 9).ci_high > stats.risk_ratio(12, 12, 8, 9).ci_low
    df = pd.DataFrame({"arm": ["a"] * 9 + ["b"] * 12, "event": [1] * 21})
    out = stats.binary_effects(df, "event", "arm", "a").set_index("arm")
    assert out.loc["b", ["risk_ratio", "rr_ci_low", "rr_ci_high"]].isna().all()
    assert "every student in both arms" in out.loc["b", "note"]


def test_binary_effects_from_table():
    df = pd.DataFrame({
        "arm": ["control"] * 200 + ["texts"] * 200 + ["mentor"] * 200,
        "withdrawn": [1] * 20 + [0] * 180 + [1] * 16 + [0] * 184 + [True] * 10 + [False] * 190,
    })
    df.loc[0, "withdrawn"] = None
    out = stats.binary_effects(df, "withdrawn", "arm", "control").set_index("arm")
    assert list(out.index) == ["mentor", "texts"]
    assert out.loc["mentor", "risk_reference"] == pytest.approx(19 / 199)
    assert out.loc["mentor", "risk_difference"] == pytest.approx(10 / 200 - 19 / 199)
    assert out.loc["mentor", "rows_dropped"] == 1
    with pytest.raises(DataError, match="must be 0/1"):
        stats.binary_effects(df.assign(withdrawn=2.0), "withdrawn", "arm", "control")


def test_cost_per_outcome():
    # 200 per student, 0.10 fewer persistent absentees per student -> 2000 per case avoided
    c = stats.cost_per_outcome(200, 0.10, gain_ci=(0.03, 0.17))
    assert c.value == pytest.approx(2000) and not c.dominated
    assert (c.ci_low, c.ci_high) == pytest.approx((200 / 0.17, 200 / 0.03))
    wide = stats.cost_per_outcome(200, 0.10, gain_ci=(-0.01, 0.2))
    assert math.isinf(wide.ci_high) and "includes 0" in wide.note
    none = stats.cost_per_outcome(200, 0.0)
    assert none.dominated and math.isinf(none.value) and "dominated" in none.note


def test_cost_per_outcome_and_risk_ratio_refuse_non_finite_inputs():
    # a NaN bound gave a zero-width interval (33.3 to 33.3); a reversed one was sorted silently
    with pytest.raises(SrmsimError, match="gain_ci low=nan must be a finite number"):
        stats.cost_per_outcome(100, 2, gain_ci=(float("nan"), 3))
    with pytest.raises(SrmsimError, match="must run from low to high around the gain"):
        stats.cost_per_outcome(100, 2, gain_ci=(3, 1))
    assert "dominant" in stats.cost_per_outcome(-100, 2).note
    with pytest.raises(SrmsimError, match="continuity=nan must be a finite number"):
        stats.risk_ratio(1, 10, 2, 10, continuity=float("nan"))  # was an all-NaN ratio


def test_hedges_g_h_correction_refused_where_undefined():
    """2-3 clusters with a high ICC give h < 1: omega was negative (g -0.353 for d 0.5, se < 0)."""
    with pytest.raises(DataError, match=r"small_sample='h'.*h = 0.513 <= 1"):
        stats.hedges_g_from_d(0.5, 100, 100, cluster_size=90, icc=0.95, small_sample="h")
    for d, size, icc, small in [(0.5, 90, 0.95, "N"), (0.5, 50, 0.6, "h"), (-0.4, 2, 0.3, "h"),
                                (0.2, 10, 0.0, "h"), (1.0, 1, 0.5, "N")]:
        g = stats.hedges_g_from_d(d, 100, 100, cluster_size=size, icc=icc, small_sample=small)
        assert 0 < g.omega < 1 and g.se > 0 and g.ci_low < g.g < g.ci_high
        assert math.copysign(1, g.g) == math.copysign(1, d)


def test_hedges_g_needs_four_students():
    """N = 3 gave omega = 1 - 3/(4N - 9) = 0, so g = se = 0 and the CI [0, 0]."""
    with pytest.raises(DataError, match="at least 4 students in all, got 3.*N <= 3"):
        stats.hedges_g(6, 5, 1, 1, 2, 1)
    with pytest.raises(DataError, match="at least 4 students in all, got 3"):
        stats.hedges_g_from_d(2.0, 2, 1)
    g = stats.hedges_g_from_d(2.0, 2, 2)
    assert g.omega == pytest.approx(1 - 3 / 7) and g.se > 0
    assert stats.hedges_g(6, 5, 1, 1, 3, 1).g > 0  # one student in an arm: the other arm's SD


def test_hedges_g_extreme_summaries_are_scaled_or_refused():
    # huge SDs used to overflow (OverflowError) although d = 1 is well defined
    assert stats.hedges_g(1e200, 0, 1e200, 1e200, 10, 10).g == pytest.approx(
        stats.hedges_g(1, 0, 1, 1, 10, 10).g)
    assert stats.hedges_g(1e-200, 0, 1e-200, 1e-200, 10, 10).d == pytest.approx(1.0)
    with pytest.raises(DataError, match=r"SDs are \(close to\) zero"):
        stats.hedges_g(1, 0, 1e-200, 1e-200, 10, 10)  # was ZeroDivisionError
    with pytest.raises(DataError, match="mean_t - mean_c overflows"):
        stats.hedges_g(1e308, -1e308, 1, 1, 10, 10)
    with pytest.raises(DataError, match=r"n_t=1e\+308 is beyond 2\*\*53"):
        stats.hedges_g_from_d(0.3, 1e308, 1e308)  # was OverflowError
    with pytest.raises(DataError, match="d=1e.200 is beyond"):
        stats.hedges_g_from_d(1e200, 10, 10)
    tiny = stats.hedges_g_from_d(0.3, 40, 40, alpha=1e-17)  # ppf(1 - 5e-18) was inf
    assert math.isfinite(tiny.ci_low) and tiny.ci_low < tiny.g < tiny.ci_high
    as_numpy = stats.hedges_g_from_d(np.float64(0.3), np.int64(500), np.int64(500))
    assert as_numpy.g == stats.hedges_g_from_d(0.3, 500, 500).g


@pytest.mark.parametrize(("call", "message"), [
    (lambda: stats.hedges_g_from_d("0.3", 10, 10), "d='0.3' must be a number, not text"),
    (lambda: stats.hedges_g_from_d(0.3, True, 10), "n_t=True must be a number, not bool"),
    (lambda: stats.hedges_g_from_d(0.3, 10, 10, alpha="0.05"), "alpha='0.05' must be a number"),
    (lambda: stats.hedges_g_from_d(0.3, 10, 10, cluster_size=2, icc="0.1"), "icc='0.1'"),
    (lambda: stats.hedges_g_from_d(0.3, 10, 10, cluster_size=0.5, icc=0.1), "at least 1"),
    (lambda: stats.hedges_g(None, 0, 1, 1, 10, 10), "mean_t=None must be a number"),
    (lambda: stats.eef_months(None), "effect_size=None must be a number"),
    (lambda: stats.eef_months("0.3"), "effect_size='0.3' must be a number, not text"),
    (lambda: stats.eef_months([0.3, None]), r"effect_size\[1\]=None"),
    (lambda: stats.eef_months(float("nan")), "effect_size=nan must be a finite number"),
    (lambda: stats.risk_difference("5", 10, 3, 10), "events_t='5' must be a number"),
    (lambda: stats.risk_difference(5, 10, 3, True), "n_c=True must be a number"),
    (lambda: stats.risk_difference(2.5, 10, 3, 10), "events_t=2.5 must be a whole number"),
    (lambda: stats.risk_ratio(5, 10, 3, 10, continuity="0.5"), "continuity='0.5' must be a num"),
    (lambda: stats.risk_ratio(1e-300, 10, 3, 10), "events_t=1e-300 must be a whole number"),
    (lambda: stats.risk_ratio(0, 10, 3, 10, continuity=1e-300), "interval overflows"),
    (lambda: stats.cost_per_outcome("abc", 0.1), "cost='abc' must be a number, not text"),
    (lambda: stats.cost_per_outcome(1e308, 1e-10), r"cost / gain = 1e\+308 / 1e-10 overflows"),
    (lambda: stats.cost_per_outcome(1, 0, gain_ci=(5, 3)), "must run from low to high"),
    (lambda: stats.nnt("0.1"), "risk difference='0.1' must be a number"),
])
def test_effect_size_inputs_refused_with_data_error(call, message):
    """These raised raw TypeError/ValueError/OverflowError/ZeroDivisionError (fuzzing report)."""
    with pytest.raises(SrmsimError, match=message):
        call()


def test_eef_months_of_huge_effects_and_numpy_input():
    assert stats.eef_months(1e308) == 12 and stats.eef_months(-1e308) == -12  # was OverflowError
    assert stats.eef_months(np.float64(0.3)) == 4 and stats.eef_months(np.array(0.3)) == 4
    assert stats.eef_months(np.array([[0.3, -0.5]])).tolist() == [[4, -6]]
    assert stats.risk_difference(np.int64(30), np.int64(200), 50.0, 200.0).estimate == (
        pytest.approx(-0.10))


def test_cost_per_outcome_negative_cost_with_gain_ci_spanning_zero():
    """A saving with a gain CI through 0 gave (-500, inf), which excludes the estimate -1000."""
    c = stats.cost_per_outcome(-100, 0.1, gain_ci=(-0.05, 0.2))
    assert c.value == -1000 and (c.ci_low, c.ci_high) == (-math.inf, -500)
    assert "no finite lower bound" in c.note
    assert (stats.cost_per_outcome(-100, 0.1, gain_ci=(0.05, 0.2)).ci_low,
            stats.cost_per_outcome(-100, 0.1, gain_ci=(0.05, 0.2)).ci_high) == (-2000, -500)
    zero = stats.cost_per_outcome(0, 0.1, gain_ci=(-0.05, 0.2))
    assert (zero.value, zero.ci_low, zero.ci_high) == (0, 0, 0) and "gain nothing" in zero.note
    lost = stats.cost_per_outcome(100, -0.01, gain_ci=(-0.05, 0.2))
    assert lost.dominated and (lost.ci_low, lost.ci_high) == (500, math.inf)


_GAIN_CIS = {"positive": (0.05, 0.2), "negative": (-0.2, -0.05), "spanning": (-0.05, 0.2),
             "touching at low": (0.0, 0.2), "touching at high": (-0.2, 0.0)}


@pytest.mark.parametrize("cost", [-100.0, 0.0, 100.0])
@pytest.mark.parametrize("which", sorted(_GAIN_CIS))
def test_cost_per_outcome_interval_contains_estimate_and_every_ratio(cost, which):
    """Every sign of cost against every kind of gain interval: the estimate lies inside, and so
    does cost / g for every positive gain g in the gain interval."""
    g_lo, g_hi = _GAIN_CIS[which]
    for gain in np.linspace(g_lo, g_hi, 7):
        r = stats.cost_per_outcome(cost, float(gain), gain_ci=(g_lo, g_hi))
        assert not any(math.isnan(v) for v in (r.value, r.ci_low, r.ci_high))
        assert r.ci_low <= r.value <= r.ci_high, (cost, gain, r)
        for g in np.linspace(g_lo, g_hi, 41):
            if g > 0:
                assert r.ci_low <= cost / g <= r.ci_high, (cost, gain, g, r)


def test_hedges_g_cluster_adjustment_refuses_clusters_holding_both_arms():
    """Students randomised within schools: every school holds both arms, yet the cluster-
    randomised adjustment (gamma, from the school ICC) was applied and shrank g silently."""
    rng = np.random.default_rng(4)
    school = np.repeat(np.arange(20), 30)
    arm = rng.permutation(np.resize(["control", "mentor"], school.size))
    y = 0.3 * (arm == "mentor") + rng.normal(0, 0.6, 20)[school] + rng.normal(size=school.size)
    df = pd.DataFrame({"y": y, "arm": arm, "school": school})
    with pytest.raises(DataError, match=r"clusters '0', .* of 'school' hold students of both arms 'mentor' and 'control'"):
        stats.hedges_g_data(df, "y", "arm", "control", cluster="school")
    with pytest.raises(DataError, match="both arms"):
        stats.hedges_g_data(df, "y", "arm", "control", cluster="school", icc=0.2)
    plain = stats.hedges_g_data(df, "y", "arm", "control")
    assert plain.gamma == 1.0 and plain.cluster_size is None


def test_results_print_readably_with_units():
    """hedges_g_data's result had no table, summary() or notes (the ICC's boundary caveat was
    a passing warning pointing into srmsim), and it and the binary effects printed as raw
    dataclass reprs."""
    import pandas as pd

    from srmsim import stats
    from srmsim.stats import StatsWarning

    rng = np.random.default_rng(7)
    school = np.repeat(np.arange(12), 10)
    arm = np.where(school % 2 == 0, "t", "c")
    df = pd.DataFrame({"y": 0.3 * (arm == "t") + rng.normal(size=school.size), "arm": arm,
                       "school": school})
    df.loc[[0, 5], "y"] = np.nan
    with pytest.warns(StatsWarning, match="the ICC of the cluster adjustment") as caught:
        g = stats.hedges_g_data(df, "y", "arm", "c", cluster="school")
    assert caught[0].filename == __file__  # the caller's line, not srmsim's
    assert g.missing.by_column == {"y": 2, "arm": 0, "school": 0}
    assert g.notes and "the ICC of the cluster adjustment" in g.notes[0]
    text = str(g)
    assert text.startswith(f"Hedges' g {g.g:+.3f} SD (95% CI {g.ci_low:+.3f} to")
    assert "2 dropped for missing values (missing per column: 'y': 2)" in text
    assert "note: the ICC" in text
    assert g.table.loc[0, "g"] == g.g and g.table.loc[0, "eef_months"] == g.months
    rd = stats.risk_difference(30, 250, 38, 251)
    assert str(rd).startswith(f"risk difference {100 * rd.estimate:+.2f} pp (95% CI")
    assert "12.0% (30 of 250) in the arm against 15.1% (38 of 251)" in str(rd)
    assert str(stats.cost_per_outcome(12000, 10, gain_ci=(5, 15))).startswith(
        "1,200 a unit of outcome gained (CI 800 to 2,400): cost 12,000")


def test_binary_effects_with_an_arm_whose_outcomes_are_all_missing():
    """binary_effects stopped with "n_t must be a positive number, got 0" when an arm's outcomes
    were all missing; that arm is now named (a warning) and left out, and the other arm's row
    is its own risk difference (Newcombe, from the counts)."""
    df = pd.DataFrame({"y": [0, 1, 0, 1, None, None, 1, 0, 0, 0],
                       "arm": ["c", "c", "t", "t", "u", "u", "c", "t", "t", "c"]})
    with pytest.warns(stats.StatsWarning, match="arm 'u' of 'arm' has no row left"):
        table = stats.binary_effects(df, "y", "arm", "c")
    assert list(table["arm"]) == ["t"]
    rd = stats.risk_difference(1, 4, 2, 4)
    row = table.iloc[0]
    assert (row["events"], row["n"], row["events_reference"], row["n_reference"]) == (1, 4, 2, 4)
    assert (row["rd_ci_low"], row["rd_ci_high"]) == pytest.approx((rd.ci_low, rd.ci_high))
    assert row["rows_dropped"] == 2
