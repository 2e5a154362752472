"""Review 50: Callaway-Sant'Anna anticipation on panels with gaps, and hostile numerics."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from srmsim import stats
from srmsim.errors import DataError, SrmsimError


def _gap_panel(seed: int = 0, units: int = 600) -> pd.DataFrame:
    """Years 1-8 with year 5 missing (no rows, e.g. no tests that year). Cohorts first treated
    in 3, in 5 (the missing year) and in 8, a third never. With anticipation 1 each unit
    responds by -1 in the year before its first treated year and by +1 from it on."""
    rng = np.random.default_rng(seed)
    t = np.array([1, 2, 3, 4, 6, 7, 8], dtype=float)
    g = np.array([3.0, 5.0, 8.0, np.nan])[rng.integers(0, 4, units)]
    gi = np.nan_to_num(g, nan=np.inf)[:, None]
    effect = np.where(t >= gi, 1.0, np.where(t >= gi - 1, -1.0, 0.0))
    y = (rng.normal(size=units)[:, None] + 0.3 * t + effect
         + 0.3 * rng.normal(size=(units, t.size)))
    return pd.DataFrame({"u": np.repeat(np.arange(units), t.size), "t": np.tile(t, units),
                         "g": np.repeat(g, t.size), "y": y.ravel()})


@pytest.mark.parametrize("control", ["never", "notyet"])
def test_anticipation_reads_first_treated_values_in_a_missing_period(control):
    """Units first treated in the missing year 5 join cohort 6 (event times count observed
    periods), but with anticipation 1 they respond in year 4: their base is year 3 (3 + 1 < 5),
    and they are no not-yet-treated control for a cell whose later period is 4 (5 > 4 + 1 is
    false). Was: year 4 (4 + 1 < 6, the cohort's label) was the base and every post-treatment
    effect of cohort 6 was 2.0 instead of 1 (the response of -1 in the base counted as effect),
    and the 5 cohort stood as a control in cohort 3's year-4 cell."""
    df = _gap_panel()
    res = stats.did_group_time(df, "y", "u", "t", "g", control=control, anticipation=1,
                               n_boot=50)
    wide = df.pivot(index="u", columns="t", values="y")
    g = df.groupby("u")["g"].first()
    cells = res.att_gt.set_index(["group", "time"])
    for year in (6.0, 7.0, 8.0):
        change = wide[year] - wide[3.0]
        ctrl = g.isna() | ((g > year + 1) if control == "notyet" else False)
        by_hand = change[g == 5].mean() - change[ctrl].mean()
        assert cells.loc[(6.0, year), "att"] == pytest.approx(by_hand, rel=1e-12)
        assert cells.loc[(6.0, year), "n_control"] == ctrl.sum()
        assert abs(cells.loc[(6.0, year), "att"] - 1) < 0.15  # the truth; was about 2
    if control == "notyet":  # cohort 3 at year 4 against base 1: only units first treated after 5
        change = wide[4.0] - wide[1.0]
        ctrl = g.isna() | (g > 5)
        assert cells.loc[(3.0, 4.0), "n_control"] == ctrl.sum()
        assert cells.loc[(3.0, 4.0), "att"] == pytest.approx(
            change[g == 3].mean() - change[ctrl].mean(), rel=1e-12)
    assert abs(res.overall["estimate"] - 1) < 0.1


@pytest.mark.parametrize("control", ["never", "notyet"])
@pytest.mark.parametrize("base_period", ["varying", "universal"])
def test_anticipation_in_tenths_is_the_same_as_in_whole_periods(control, base_period):
    """Periods 0.1 to 0.8 (as read from a file), anticipation 0.1: the same design as periods
    1 to 8 with anticipation 1, so every cell must match. Was: in binary 0.7 + 0.1 < 0.8, so
    the 0.8 cohort's base was 0.7, the period it already responds in (its ATT at 0.8 was 2.04
    for a true 1), and with not-yet-treated controls the 0.8 cohort stood as a control in the
    cells ending in 0.7."""
    rng = np.random.default_rng(0)
    units, t = 300, np.arange(1, 9, dtype=float)
    g = np.array([4.0, 6.0, 8.0, np.nan])[rng.integers(0, 4, units)]
    gi = np.nan_to_num(g, nan=np.inf)[:, None]
    effect = np.where(t >= gi, 1.0, np.where(t >= gi - 1, -1.0, 0.0))
    y = rng.normal(size=units)[:, None] + 0.1 * t + effect + 0.2 * rng.normal(size=(units, 8))
    whole = pd.DataFrame({"u": np.repeat(np.arange(units), 8), "t": np.tile(t, units),
                          "g": np.repeat(g, 8), "y": y.ravel()})
    tenths = whole.assign(t=[float(f"{v / 10:g}") for v in whole["t"]],
                          g=[float(f"{v / 10:g}") for v in whole["g"]])
    kw = {"control": control, "base_period": base_period, "n_boot": 50}
    a = stats.did_group_time(whole, "y", "u", "t", "g", anticipation=1, **kw).att_gt
    b = stats.did_group_time(tenths, "y", "u", "t", "g", anticipation=0.1, **kw).att_gt
    assert len(a) == len(b)
    np.testing.assert_allclose(b[["group", "time"]] * 10, a[["group", "time"]], rtol=1e-12)
    for col in ("att", "se", "n_treated", "n_control", "event_time"):
        np.testing.assert_allclose(b[col], a[col], rtol=1e-10, err_msg=col)
    post8 = b[(b["group"] == 0.8) & (b["time"] == 0.8)]
    assert abs(float(post8["att"].iloc[0]) - 1) < 0.15


def test_units_first_treated_just_after_the_panel_are_not_yet_treated_controls_while_clean():
    """Periods 1-8, anticipation 1, 15 units first treated in 8.5 (after the panel, within the
    anticipation of its end): they may respond from 7.5, so R's did uses them as not-yet-treated
    controls in the cells ending in 7 or before (8.5 > 7 + 1) and not in those ending in 8. Was:
    left out of every cell, so the not-yet-treated cells ending by 7 lost 15 clean controls and
    differed from R's; they are now those of the same units marked never treated, and the cells
    ending in 8 those of the units dropped."""
    rng = np.random.default_rng(5)
    units, t = 150, np.arange(1, 9, dtype=float)
    g = np.array([4.0, 6.0, np.nan])[rng.integers(0, 3, units)]
    g[np.flatnonzero(np.isnan(g))[:15]] = 8.5
    y = rng.normal(size=units)[:, None] + 0.3 * t + rng.normal(size=(units, 8))
    df = pd.DataFrame({"u": np.repeat(np.arange(units), 8), "t": np.tile(t, units),
                       "g": np.repeat(g, 8), "y": y.ravel()})
    kw = {"control": "notyet", "anticipation": 1, "n_boot": 50}
    res = stats.did_group_time(df, "y", "u", "t", "g", **kw).att_gt.set_index(["group", "time"])
    as_never = stats.did_group_time(df.assign(g=df["g"].replace(8.5, np.nan)), "y", "u", "t",
                                    "g", **kw).att_gt.set_index(["group", "time"])
    dropped = stats.did_group_time(df[df["g"] != 8.5], "y", "u", "t", "g",
                                   **kw).att_gt.set_index(["group", "time"])
    assert res.index.equals(as_never.index)
    ends = res.index.get_level_values("time").to_numpy()
    for ref, rows in ((as_never, ends <= 7), (dropped, ends == 8)):
        for col in ("att", "se", "n_control"):
            np.testing.assert_allclose(res.loc[rows, col], ref.loc[res.index[rows], col],
                                       rtol=1e-12, err_msg=col)
    assert (res.loc[ends <= 7, "n_control"] == dropped.loc[res.index[ends <= 7],
                                                           "n_control"] + 15).all()


@pytest.mark.parametrize("continuity", [1e-320, 5e-324])
def test_risk_ratio_with_a_subnormal_continuity_is_named_not_a_math_domain_error(continuity):
    """0/50 against 10/50 with continuity=5e-324: the risk 5e-324 / 50 underflowed to 0 and
    math.log raised 'math domain error'; now the interval-overflow error names the cause, as
    it already did for continuity=1e-300."""
    with pytest.raises(DataError, match="continuity=.* is too small"):
        stats.risk_ratio(0, 50, 10, 50, continuity=continuity)
    with pytest.raises(DataError, match="continuity=.* is too small"):
        stats.risk_ratio(0, 10**9, 10, 50, continuity=continuity)
    ok = stats.risk_ratio(10, 50, 20, 50, continuity=continuity)  # no zero arm: 0.5 as ever
    assert ok.estimate == pytest.approx(0.5, rel=1e-12)


def test_never_treated_coded_just_after_the_panel_is_explained_with_anticipation():
    """Never-treated units coded as 9 (the period after a panel of 1-8), anticipation 1: by R's
    rule only values after 9 count as never treated, so control='never' has none. Was: 'no unit
    is never treated', though 38 units were meant to be; now the error says which values count
    and that those units may respond already."""
    df = _gap_panel(units=120)
    df["g"] = df["g"].fillna(9.0)
    with pytest.raises(DataError, match=r"is never treated \(\d+ units first treated after the "
                       r"last period 8, e\.g\. in 9, are within the anticipation \(1\).*only "
                       r"values after 9 count as never treated"):
        stats.did_group_time(df, "y", "u", "t", "g", anticipation=1, n_boot=50)


def test_gee_fits_an_outcome_far_from_zero_as_ols_does():
    """Outcomes of 1e8 +- 1 (e.g. an identifier-like score scale, or pence): the GEE stopping
    rule asked the coefficients' update to fall below 1e-8 SD, under the round-off of an
    intercept of 1e8 (1.5e-8), so it stopped with 'GEE fit is unsound: Iteration limit reached'
    though OLS and the mixed model fit the same rows. The effect and SE are those of the outcome
    less 1e8."""
    rng = np.random.default_rng(0)
    school = np.repeat(np.arange(12), 10)
    arm = np.where(school % 2 == 0, "T", "C")
    y = rng.normal(size=school.size) + 0.3 * (arm == "T") + rng.normal(size=12)[school]
    df = pd.DataFrame({"y": y, "arm": arm, "school": school})
    near = stats.estimate_effect(df, "y", "arm", "C", cluster="school", method="gee")
    far = stats.estimate_effect(df.assign(y=df["y"] + 1e8), "y", "arm", "C", cluster="school",
                                method="gee")
    for col in ("estimate", "se"):
        assert float(far.table[col].iloc[0]) == pytest.approx(float(near.table[col].iloc[0]),
                                                              rel=1e-6)


def test_left_out_units_in_clusters_of_their_own_do_not_raise_the_df():
    """200 units in 10 districts (both arms in each), plus 12 units treated from the first
    period (left out: no pre-period) in 6 districts of their own. Those units carry nothing,
    yet their districts counted in the cap G - 1 of every Satterthwaite df: t(15) instead of
    t(9) for 10 districts, a narrower interval, while n_clusters said 10. Now every df, interval
    and p-value is that of the data without them, and no df exceeds the districts used - 1."""
    rng = np.random.default_rng(0)
    t = np.arange(1, 6, dtype=float)
    shock = rng.normal(size=(10, t.size))
    rows = [(u, tt, [3.0, np.nan][u % 2],
             rng.normal() + shock[(u // 2) % 10, k] + (tt >= 3 and u % 2 == 0), f"d{(u // 2) % 10}")
            for u in range(200) for k, tt in enumerate(t)]
    df = pd.DataFrame(rows, columns=["u", "t", "g", "y", "district"])
    extra = pd.DataFrame([(1000 + k, tt, 1.0, rng.normal(), f"e{k % 6}")
                          for k in range(12) for tt in t], columns=df.columns)
    kw = {"cluster": "district", "n_boot": 200, "seed": 3}
    a = stats.did_group_time(df, "y", "u", "t", "g", **kw)
    b = stats.did_group_time(pd.concat([df, extra]), "y", "u", "t", "g", **kw)
    assert b.n_clusters == 10 and any("left out" in n for n in b.notes)
    for x, y in ((a.att_gt, b.att_gt), (a.event_study, b.event_study), (a.aggregates,
                                                                         b.aggregates)):
        for col in ("df", "ci_low", "ci_high", "p_value"):
            np.testing.assert_allclose(y[col], x[col], rtol=1e-12, err_msg=col)
    assert (b.att_gt["df"] <= 9).all() and b.overall["df"] <= 9


def _schools() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    school = np.repeat(np.arange(12), 10)
    return pd.DataFrame({"y": rng.normal(size=120), "x": rng.normal(size=120), "school": school,
                         "arm": np.where(rng.random(120) < 0.5, "T", "C")})


@pytest.mark.parametrize(("call", "shown"), [
    (lambda d: stats.estimate_effect(d, "y", "y", 0.0), "'y' is named as both the outcome and "
     "the treatment"),
    (lambda d: stats.estimate_effect(d, "y", "arm", "C", covariates=["x", "x"]),
     "'x' is named twice as a covariate"),
    (lambda d: stats.estimate_effect(d, "y", "arm", "C", covariates=["arm"]),
     "'arm' is named as both the treatment and the covariate"),
    (lambda d: stats.estimate_effect(d, "y", "arm", "C", fixed_effects=["school", "school"]),
     "'school' is named twice as a fixed effect"),
    (lambda d: stats.random_intercept(d, "y", "school", covariates=["y"]),
     "'y' is named as both the outcome and the covariate"),
    (lambda d: stats.rdd(d, "x", "x", 0.0), "'x' is named as both the outcome and the running"),
    (lambda d: stats.binary_effects(d, "arm", "arm", "C"), "'arm' is named as both"),
])
def test_a_column_in_two_roles_is_named(call, shown):
    """Was: outcome = treatment listed 120 outcome values as arms ("reference arm '0' not
    found"), covariates=['x', 'x'] said "terms 'x', 'x', 'x' add nothing", the treatment as a
    covariate "terms 'arm[T]', 'arm[T]', 'arm[T]' are collinear", the same fixed effect twice
    listed eleven school dummies, and rdd's outcome as its running variable 'the model
    reproduces the outcome exactly'."""
    with pytest.raises(DataError, match=shown):
        call(_schools())


def test_did_roles_must_differ_and_a_cluster_may_be_the_unit():
    df = _gap_panel(units=60)
    with pytest.raises(DataError, match="'u' is named as both the unit and the time"):
        stats.did_twfe(df, "y", "u", "u", "g")
    with pytest.raises(DataError, match="'t' is named as both the time and the first_treated"):
        stats.did_group_time(df, "y", "u", "t", "t")
    res = stats.did_group_time(df, "y", "u", "t", "g", cluster="u", n_boot=50)
    assert res.n_clusters == res.n_units
    fe = stats.estimate_effect(_schools(), "y", "arm", "C", fixed_effects="school",
                               cluster="school", se="cluster")
    assert np.isfinite(fe.table["se"].iloc[0])


def _mixed_inputs() -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(12), 10)
    y = rng.normal(size=120) + rng.normal(size=12)[groups]
    return y, pd.DataFrame({"Intercept": np.ones(120)}), groups


@pytest.mark.parametrize(("change", "shown"), [
    (lambda y, X, g: (y, X.assign(Intercept=np.where(np.arange(120) == 2, np.nan, 1.0)), g),
     "X holds nan at position 2"),  # was LinAlgError 'SVD did not converge'
    (lambda y, X, g: (np.where(np.arange(120) == 3, np.inf, y), X, g), "y holds inf at position 3"),
    (lambda y, X, g: (y, X, np.where(np.arange(120) == 4, np.nan, g)),
     "groups has a missing label at position 4"),  # was a numpy casting TypeError
    (lambda y, X, g: (y, X, g[:-1]), "must have one entry"),  # was a statsmodels ValueError
    (lambda y, X, g: (y, X.iloc[:-1], g), "must have one entry"),  # was LinAlgError
    (lambda y, X, g: (y * 1e-200, X, g), "within \\+-1e-150 of 0"),  # was ZeroDivisionError
    (lambda y, X, g: (y * 1e200, X, g), "within \\+-1e\\+150"),  # was "within-group spread nan"
    (lambda y, X, g: (y, X.assign(Intercept="a"), g), "must be numeric"),
])
def test_fit_mixedlm_checks_its_arrays(change, shown):
    """fit_mixedlm is public and takes arrays: hostile ones are named, not numpy, LAPACK or
    statsmodels tracebacks."""
    with pytest.raises(DataError, match=shown):
        stats.fit_mixedlm(*change(*_mixed_inputs()))


def test_fit_mixedlm_reads_labels_arrays_and_one_optimiser_name():
    """Text group labels (was a casting TypeError), X as an array (was AttributeError) and
    optimizers='powell' (was read letter by letter: optimisers 'p', 'o', ... all rejected) give
    the fit of the integer-coded, DataFrame call."""
    y, X, g = _mixed_inputs()
    ref = stats.fit_mixedlm(y, X, g, optimizers=("powell",))[0].params.to_numpy()
    for args in ((y, X, np.char.add("school ", g.astype(str))), (y, X.to_numpy(), g)):
        got = stats.fit_mixedlm(*args, optimizers="powell")[0].params.to_numpy()
        np.testing.assert_allclose(got, ref, rtol=1e-10)
    with pytest.raises(SrmsimError, match="optimizer='foo' is not one of"):
        stats.fit_mixedlm(y, X, g, optimizers=["foo"])


def test_the_early_note_shows_the_anticipation_and_its_sum():
    """Cohort 3 with anticipation 2 has no clean period: the note was 'treated by the first
    observed period + anticipation (3)', the sum read as the anticipation."""
    res = stats.did_group_time(_gap_panel(units=120), "y", "u", "t", "g", anticipation=2,
                               n_boot=50)
    assert any("treated by the first observed period plus the anticipation (1 + 2 = 3) have no "
               "pre-period and are left out" in n for n in res.notes), res.notes


def test_the_band_is_never_narrower_than_the_pointwise_interval():
    """A 2 x 2 design, 5 treated and 5 never-treated units: one event time, so the sup-t band
    is that event time's own interval. The Mammen multiplier law of 10 units is lumpy and its
    95% quantile fell below t's: in 16 of these 20 panels the 'simultaneous' band was narrower
    than the pointwise interval, without a word. Now it is at least that interval (R's did
    falls back the same way), with a warning saying so."""
    from srmsim.stats import StatsWarning

    warned = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        g = np.r_[np.full(5, 2.0), np.full(5, np.nan)]
        y = rng.normal(size=(10, 2)) + np.c_[np.zeros(10), 0.5 * np.isfinite(g)]
        df = pd.DataFrame({"u": np.repeat(np.arange(10), 2), "t": np.tile([1.0, 2.0], 10),
                           "g": np.repeat(g, 2), "y": y.ravel()})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = stats.did_group_time(df, "y", "u", "t", "g", n_boot=50, seed=seed)
        es = res.event_study.iloc[0]
        assert es["band_low"] <= es["ci_low"] + 1e-12 and es["band_high"] >= es["ci_high"] - 1e-12
        fell = [w for w in caught if issubclass(w.category, StatsWarning)
                and "fell below the pointwise one" in str(w.message)]
        warned += bool(fell)
        assert bool(fell) == any("fell below the pointwise one" in n for n in res.notes)
    assert warned >= 10  # the case is common with so few units
