"""Callaway-Sant'Anna with anticipation (R's ``did`` argument ``anticipation``).

R's definitions (``compute.att_gt``, ``pre_process_did``): a cohort first treated in g takes as
the base of its post-treatment effects its last period t with t + anticipation < g; a
not-yet-treated control is untreated beyond the later of the cell's two periods plus
anticipation; units first treated by the first period plus anticipation are dropped; units first
treated after the last period plus anticipation are never treated. Under a universal base period
those rules are exactly the anticipation-0 rules on first-treated periods moved back by the
anticipation, which gives an independent check on the published-figure-tested code path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srmsim import stats
from srmsim.errors import DataError

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    df = pd.read_csv(DATA / "mpdta.csv.gz")
    return df.assign(g=df["first.treat"].replace(0, np.nan))  # 0 = never treated


def _cells(res: stats.GroupTimeResult) -> pd.DataFrame:
    return res.att_gt.set_index(["group", "time"]).sort_index()


def _panel(seed: int, units: int = 400, periods: int = 8, anticipation: float = 1.0,
           gap: bool = False) -> pd.DataFrame:
    """Cohorts first treated in 4, 6 or 8, a third of the units never; each unit responds by
    -1 from ``anticipation`` periods before its first treated period, then by 1 + (t - g)
    (the effect at event time e is e + 1). Unit and period effects, AR(1) noise."""
    rng = np.random.default_rng(seed)
    g = np.array([4.0, 6.0, 8.0, np.nan, np.nan])[rng.integers(0, 5, units)]
    t = np.arange(1, periods + 1, dtype=float)
    if gap:  # a period with no rows: event times count observed periods
        t = t[t != 5]
    gi = np.nan_to_num(g, nan=np.inf)[:, None]
    effect = np.where(t[None, :] >= gi, 1.0 + (t[None, :] - gi), 0.0)
    effect = np.where((t[None, :] < gi) & (t[None, :] >= gi - anticipation), -1.0, effect)
    noise = np.empty((units, len(t)))
    noise[:, 0] = rng.normal(size=units)
    for k in range(1, len(t)):
        noise[:, k] = 0.5 * noise[:, k - 1] + np.sqrt(0.75) * rng.normal(size=units)
    y = rng.normal(size=units)[:, None] + 0.3 * t[None, :] + effect + 0.5 * noise
    return pd.DataFrame({"u": np.repeat(np.arange(units), len(t)), "t": np.tile(t, units),
                         "g": np.repeat(g, len(t)), "y": y.ravel()})


@pytest.mark.parametrize("control", ["never", "notyet"])
@pytest.mark.parametrize("anticipation", [1, 2])
def test_universal_base_is_the_rules_on_first_treated_moved_back(mpdta, control, anticipation):
    """mpdta (2003-2007; cohorts 2004, 2006, 2007): with anticipation a, every ATT(g, t), SE,
    interval and count equals the anticipation-0 cell of cohort g - a at t (the same units,
    periods and controls), and the 2004 cohort (no period t with t + a < 2004) is left out."""
    res = stats.did_group_time(mpdta, "lemp", "countyreal", "year", "g", control=control,
                               base_period="universal", anticipation=anticipation, seed=1)
    moved = stats.did_group_time(mpdta.assign(g=mpdta["g"] - anticipation), "lemp",
                                 "countyreal", "year", "g", control=control,
                                 base_period="universal", seed=1)
    a, b = _cells(res), _cells(moved)
    b.index = b.index.set_levels(b.index.levels[0] + anticipation, level="group")
    assert 2004 not in a.index.get_level_values("group")
    assert len(a) > 0 and a.index.equals(b.index)
    for col in ("att", "se", "ci_low", "ci_high", "n_treated", "n_control"):
        np.testing.assert_allclose(a[col], b[col], rtol=1e-12, atol=1e-15, err_msg=col)
    # the event times are those of the true first treated period
    assert (a["event_time"] == b["event_time"] - anticipation).all()
    assert res.n_units == moved.n_units == 500 - 20  # the 20 counties of 2004 left out
    assert res.n_clusters == 480  # (counted among the units used)
    assert f"anticipation = {anticipation}" in res.summary()


def test_varying_base_keeps_the_anticipation_window_as_short_differences(mpdta):
    """Varying base: cells from g on and before g - 1 are those of the moved-back data (long
    differences to the same base, short differences before); the cells in between (t from
    g - 1 to g - 1: 2005 for the 2006 cohort) are each period against the one before, computed
    here by hand, and the overall ATT averages only cells from g on."""
    res = stats.did_group_time(mpdta, "lemp", "countyreal", "year", "g", anticipation=1, seed=1)
    moved = stats.did_group_time(mpdta.assign(g=mpdta["g"] - 1), "lemp", "countyreal", "year",
                                 "g", seed=1)
    a, b = _cells(res), _cells(moved)
    b.index = b.index.set_levels(b.index.levels[0] + 1, level="group")
    g, t = (a.index.get_level_values(k).to_numpy() for k in ("group", "time"))
    window = (t < g) & (t >= g - 1)
    assert window.sum() == 2  # 2005 for the 2006 cohort, 2006 for the 2007 cohort
    same = a[~window].index
    np.testing.assert_allclose(a.loc[same, "att"], b.loc[same, "att"], rtol=1e-12, atol=1e-15)
    wide = mpdta.pivot(index="countyreal", columns="year", values="lemp")
    first = mpdta.groupby("countyreal")["g"].first()
    never = first.isna()
    for (cohort, year), row in a[window].iterrows():
        change = wide[year] - wide[year - 1]
        by_hand = change[first == cohort].mean() - change[never].mean()
        assert row["att"] == pytest.approx(by_hand, rel=1e-12)
        assert row["event_time"] == -1
    post = res.att_gt[res.att_gt["time"] >= res.att_gt["group"]]
    share = post["group"].map(first.value_counts())
    assert res.overall["estimate"] == pytest.approx(np.average(post["att"], weights=share),
                                                    rel=1e-12)


@pytest.mark.parametrize("control", ["never", "notyet"])
def test_recovers_effects_that_start_before_treatment(control):
    """R's own anticipation check, with a known truth: units respond by -1 one period before
    their first treated period and by e + 1 at event time e >= 0. With anticipation = 1 the
    event study recovers e + 1 (and -1 at e = -1, a pre-treatment cell); ignoring it uses the
    responding period as the base and overstates every effect by 1 (by more with not-yet
    treated controls, which then include units already responding)."""
    df = _panel(11)
    res = stats.did_group_time(df, "y", "u", "t", "g", control=control, anticipation=1,
                               n_boot=99)
    naive = stats.did_group_time(df, "y", "u", "t", "g", control=control, n_boot=99)
    es = res.event_study.set_index("event_time")
    es0 = naive.event_study.set_index("event_time")
    for e in (0, 1, 2):
        assert abs(es.loc[e, "estimate"] - (e + 1)) < 4 * es.loc[e, "se"]
        assert es0.loc[e, "estimate"] - (e + 1) > 0.8  # biased upwards by the base's -1
        if control == "never":  # by exactly that -1 (not-yet controls respond too: more)
            assert abs(es0.loc[e, "estimate"] - (e + 2)) < 4 * es0.loc[e, "se"]
    assert abs(es.loc[-1, "estimate"] + 1) < 4 * es.loc[-1, "se"]
    for e in (-3, -2):  # no response yet: parallel trends hold before the window
        assert abs(es.loc[e, "estimate"]) < 4 * es.loc[e, "se"]
    truth = res.att_gt.query("time >= group").eval("1 + time - group")
    weights = res.att_gt.query("time >= group")["n_treated"]
    assert abs(res.overall["estimate"] - np.average(truth, weights=weights)) < 4 * res.overall["se"]


def test_event_times_count_observed_periods_with_anticipation():
    """Period 5 has no rows: anticipation is in the units of time (R's), so cohort 6's base is
    4 (4 + 1 < 6) and its anticipation window, period 5, is simply not observed; event times
    still count observed periods (cohort 6 at t = 6 is event time 0, t = 4 is -1)."""
    df = _panel(3, gap=True)
    res = stats.did_group_time(df, "y", "u", "t", "g", anticipation=1, n_boot=99,
                               base_period="universal")
    c6 = res.att_gt[res.att_gt["group"] == 6].set_index("time")
    assert 4 not in c6.index  # the base itself
    assert c6.loc[6, "event_time"] == 0 and c6.loc[3, "event_time"] == -2
    assert abs(c6.loc[6, "att"] - 1) < 4 * c6.loc[6, "se"]


def test_units_treated_just_after_the_panel_are_no_cohort_and_never_never_treated():
    """R counts units first treated after the last period plus anticipation as never treated;
    those within the anticipation of the last period may respond already: no never-treated
    control (left out with control='never', noted), but, as in R's did, not-yet-treated
    controls in the cells ending more than the anticipation before their first treated period
    (tests/test_stats_review50.py checks which)."""
    df = _panel(5, units=120)
    late = df["u"].isin(np.flatnonzero(df.groupby("u")["g"].first().isna())[:15])
    df.loc[late, "g"] = 8.5  # after the last period 8
    plain = stats.did_group_time(df, "y", "u", "t", "g", n_boot=99, control="notyet")
    res = stats.did_group_time(df, "y", "u", "t", "g", n_boot=99, control="notyet",
                               anticipation=1)
    assert any("after the last period 8 but within the anticipation (1)" in n for n in res.notes)
    assert any("as never" in n for n in plain.notes)
    assert res.n_units == plain.n_units  # not-yet-treated controls in cells ending by 7
    left = stats.did_group_time(df, "y", "u", "t", "g", n_boot=99, control="never",
                                anticipation=1)
    assert left.n_units == plain.n_units - 15
    assert any("are left out" in n for n in left.notes)
    assert res.anticipation == 1 and plain.anticipation == 0
    far = stats.did_group_time(df.assign(g=df["g"].replace(8.5, 9.5)), "y", "u", "t", "g",
                               n_boot=99, control="notyet", anticipation=1)
    assert far.n_units == plain.n_units  # beyond the anticipation: never treated again
    assert any("after the last period (anticipation 1) counts as never" in n
               or "after the last period (anticipation 1) count as never" in n
               for n in far.notes)


def test_every_cohort_inside_the_first_anticipation_is_a_clear_error(mpdta):
    only_2004 = mpdta[mpdta["g"].isna() | (mpdta["g"] == 2004)]
    with pytest.raises(DataError, match=r"first observed period 2003 \(anticipation 1\) or before"):
        stats.did_group_time(only_2004, "lemp", "countyreal", "year", "g", anticipation=1)


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "1", True, None])
def test_anticipation_is_checked(mpdta, bad):
    with pytest.raises(DataError, match="anticipation"):
        stats.did_group_time(mpdta, "lemp", "countyreal", "year", "g", anticipation=bad)
