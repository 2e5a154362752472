"""Statistics checked in general (not on the published cases): references on random data of
odd shapes and magnitudes, and degenerate or non-real input refused rather than computed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from srmsim.errors import SrmsimError
from srmsim.experiment.compare import compare


def _runs(base: list, variant: list) -> pd.DataFrame:
    n = len(base)
    return pd.DataFrame({"variant": ["base"] * n + ["v"] * n,
                         "replication": list(range(n)) * 2, "y": [*base, *variant]})


@pytest.mark.parametrize("scale", [1.0, 1e-12, 1e-300, 1e12])
def test_compare_interval_does_not_depend_on_the_outcome_units(scale):
    """Paired differences of 1e-300 once had an SD of 0 (their squares underflow): a
    zero-width interval and the verdict 'higher', with certainty, for differences that vary."""
    base, variant = np.array([1.0, 2.0, 3.0]), np.array([1.5, 2.2, 3.1])
    row = compare(_runs(list(base * scale), list(variant * scale)), baseline="base",
                  outcomes=["y"]).iloc[0]
    d = variant - base
    sd = d.std(ddof=1)
    assert row["sd_paired"] / scale == pytest.approx(sd, rel=1e-9)
    assert row["half_width"] / scale == pytest.approx(4.302652729911275 * sd / np.sqrt(3),
                                                      rel=1e-9)
    assert row["verdict"] == "no clear change"
    unpaired = base.var(ddof=1) + variant.var(ddof=1)
    assert row["variance_reduction"] == pytest.approx(unpaired / sd**2, rel=1e-9)
    if scale >= 1e-12:  # ordinary sizes: the same bits as without the scaling
        a, b = variant * scale, base * scale
        assert row["sd_paired"] == (a - b).std(ddof=1)
        assert row["variance_reduction"] == (a.var(ddof=1) + b.var(ddof=1)) / (a - b).std(ddof=1) ** 2


@pytest.mark.parametrize("values, what", [
    (pd.to_timedelta([1, 2, 3, 2, 3, 5], unit="D"), "dates or durations"),
    (pd.to_datetime([1, 2, 3, 2, 3, 5], unit="D"), "dates or durations"),
    (np.array([1, 2, 3, 2, 3, 5 + 1j]), "complex numbers"),
    (pd.Series([1, 2, 3, 2, 3, 5 + 1j], dtype=object), "complex numbers"),
])
def test_compare_refuses_outcomes_that_are_not_real_numbers(values, what):
    """Durations and dates were compared in nanoseconds since 1970 and complex numbers lost
    their imaginary part, each without a word."""
    runs = _runs([0, 0, 0], [0, 0, 0]).assign(y=list(values) if isinstance(values, pd.Series)
                                              else values)
    with pytest.raises(SrmsimError, match=what):
        compare(runs, baseline="base", outcomes=["y"])


def test_hedges_g_data_with_an_arm_without_spread():
    """A control arm whose outcome never varies (no absences at all) gave "sd_c must be a
    positive number", an argument the caller never passed, for a well-defined g: the pooled SD
    rests on the other arm (WWC)."""
    from srmsim.stats import hedges_g_data

    df = pd.DataFrame({"y": [0, 0, 0, 0, 1, 0, 2, 1.0], "arm": list("aaaabbbb")})
    g = hedges_g_data(df, "y", "arm", "a")
    pooled = np.sqrt(3 * np.var([1, 0, 2, 1], ddof=1) / 6)
    assert g.d == pytest.approx(1.0 / pooled)
    assert g.g == pytest.approx((1 - 3 / (4 * 8 - 9)) / pooled)
    flat = pd.DataFrame({"y": [0, 0, 0, 1, 1, 1.0], "arm": list("aaabbb")})
    with pytest.raises(SrmsimError, match="no spread"):
        hedges_g_data(flat, "y", "arm", "a")


def test_intervals_stay_finite_for_a_tiny_alpha_and_keep_their_bits_otherwise():
    """``ppf(1 - alpha/2)`` is infinite below alpha of about 1e-16 (1 - alpha/2 rounds to 1):
    an interval of infinite width with no word. The upper tail gives the quantile there; at
    ordinary levels the quantiles are the same bits as before."""
    from scipy import stats as sps

    from srmsim.stats._inference import critical_value, wald, wilson

    for alpha in (1e-17, 1e-30, 1e-9):
        assert critical_value(alpha, None) == pytest.approx(sps.norm.isf(alpha / 2), rel=1e-12)
        assert critical_value(alpha, 12.0) == pytest.approx(sps.t.isf(alpha / 2, 12), rel=1e-12)
        lo, hi, _ = wald(1.0, 0.5, np.array([np.inf, 8.0]), alpha)
        assert np.isfinite(lo).all() and np.isfinite(hi).all() and (lo < 1).all()
        low, high = wilson(3, 40, alpha)
        assert 0.0 <= low < 3 / 40 < high <= 1.0
    for alpha in (0.05, 0.1, 0.01):
        assert critical_value(alpha, None) == sps.norm.ppf(1 - alpha / 2)
        assert critical_value(alpha, 7.0) == sps.t.ppf(1 - alpha / 2, 7.0)


@pytest.mark.parametrize("n", [1, 7, 60, 100, 400, 2999])
def test_wilson_bounds_of_none_and_all_are_exactly_0_and_1(n):
    """0 of n and n of n: the Wilson bound at the observed end is exactly 0 or 1 (centre -+ half
    reached it only up to rounding: 60 of 60 gave 0.9999999999999998, which the trial's table
    printed as ">99.9%" for a rejection rate that was certainly 100% in its replications)."""
    from srmsim.labels import percent_of_runs
    from srmsim.stats._inference import wilson

    assert wilson(n, n)[1] == 1.0 and wilson(0, n)[0] == 0.0
    assert percent_of_runs(wilson(n, n)[1], 1) == "100.0%"
    low, high = wilson(n, n)
    assert 0 < low < 1 and wilson(0, n)[1] == pytest.approx(1 - low)  # the mirror image


def test_a_blank_text_cell_is_missing_and_text_numbers_warn():
    """A covariate of numbers written as text with one empty cell: the blank was a level of its
    own ("rows: none dropped"), and one dummy per number came with only a note. The blank is
    now a missing row, as for a number, and the dummy coding of numbers warns."""
    import warnings

    import statsmodels.formula.api as smf

    from srmsim import stats
    from srmsim.stats import StatsWarning

    rng = np.random.default_rng(1)
    n = 300
    arm = np.where(rng.random(n) < 0.5, "t", "c")
    x = rng.integers(0, 10, n).astype(float)
    df = pd.DataFrame({"y": 0.3 * (arm == "t") + 0.5 * x + rng.normal(size=n), "arm": arm,
                       "x": x})
    text = df.assign(x=df["x"].map(lambda v: f"{v:g}"))
    text.loc[0, "x"] = "  "
    with pytest.warns(StatsWarning, match="every level is a number written as text"):
        got = stats.estimate_effect(text, "y", "arm", "c", covariates=["x"])
    assert got.missing.by_column["x"] == 1 and got.missing.n_used == n - 1
    # the same model with x as categories and row 0 missing, by statsmodels
    ref = smf.ols("y ~ C(arm, Treatment('c')) + C(x)", df.iloc[1:]).fit(cov_type="HC1")
    assert got.table["estimate"].iloc[0] == pytest.approx(ref.params.iloc[1], rel=1e-10)
    assert got.table["se"].iloc[0] == pytest.approx(ref.bse.iloc[1], rel=1e-10)
    # a blank arm is a missing row too, not an arm named ""
    arms = df.assign(arm=df["arm"].where(df.index != 5, ""))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e = stats.estimate_effect(arms, "y", "arm", "c")
    assert e.missing.by_column["arm"] == 1
    assert e.table["arm"].tolist() == ["t"]
    assert int(e.table["n"].iloc[0] + e.table["n_reference"].iloc[0]) == n - 1
    # words as categories keep their plain note, no warning
    words = df.assign(x=np.where(df["x"] > 4, "high", "low"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w = stats.estimate_effect(words, "y", "arm", "c", covariates=["x"])
    assert any("is categorical" in note for note in w.notes)
