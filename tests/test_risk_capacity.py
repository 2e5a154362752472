"""Thresholds at capacity and at minimum cost."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srmsim import risk
from srmsim.errors import SrmsimError


@pytest.fixture
def untied() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame({"att": rng.random(500), "left": rng.random(500) < 0.2})


@pytest.mark.parametrize("direction", ["below", "above"])
@pytest.mark.parametrize("cap", [0, 1, 37, 499, 500, 800])
def test_capacity_flags_exactly_capacity_when_untied(untied, direction, cap):
    r = risk.threshold_at_capacity(untied, "att", "left", direction, capacity_cases=cap)
    assert r.flagged == min(cap, 500)
    flags = risk.flag(untied["att"].to_numpy(), r.threshold, direction)
    assert flags.sum() == r.flagged
    y = untied["left"].to_numpy()
    assert r.tp == (flags & y).sum()
    if r.flagged:
        assert r.precision == pytest.approx(r.tp / r.flagged)
    assert r.recall == pytest.approx(r.tp / y.sum())
    # the threshold table agrees at the returned threshold
    if np.isfinite(r.threshold):
        t = risk.threshold_table(untied, "att", "left", direction, thresholds=[r.threshold])
        assert t["flagged"].iloc[0] == r.flagged and t["tp"].iloc[0] == r.tp


def test_capacity_from_staff_minutes_and_cost(untied):
    # 10 hours of staff time, 45 minutes per case: 13 cases (13.33 rounded down)
    r = risk.threshold_at_capacity(untied, "att", "left", staff_minutes_available=600,
                                   minutes_per_case=45, cost_per_case=120.0)
    assert r.capacity_cases == 13 and r.flagged == 13
    assert r.cost == pytest.approx(13 * 120.0)
    assert r.staff_minutes == pytest.approx(13 * 45)
    assert risk.capacity_in_cases(staff_minutes_available=90, minutes_per_case=45) == 2
    with pytest.raises(SrmsimError, match="either"):
        risk.threshold_at_capacity(untied, "att", "left", capacity_cases=3,
                                   staff_minutes_available=60, minutes_per_case=30)
    with pytest.raises(SrmsimError, match="capacity needs"):
        risk.threshold_at_capacity(untied, "att", "left")


def test_ties_at_the_boundary_never_exceed_capacity():
    df = pd.DataFrame({"s": [1, 2, 2, 2, 3], "y": [1, 1, 0, 0, 0]})
    r = risk.threshold_at_capacity(df, "s", "y", "below", capacity_cases=2)
    assert r.threshold == 2 and r.flagged == 1
    assert r.spare_capacity == 1 and r.n_boundary_ties == 3
    r4 = risk.threshold_at_capacity(df, "s", "y", "below", capacity_cases=4)
    assert r4.flagged == 4 and r4.threshold == 3


@settings(max_examples=60, deadline=None)
@given(
    scores=st.lists(st.integers(0, 6), min_size=1, max_size=40),
    cap=st.integers(0, 45),
    direction=st.sampled_from(["below", "above"]),
)
def test_capacity_property_max_without_exceeding(scores, cap, direction):
    s = np.array(scores, dtype=float)
    df = pd.DataFrame({"s": s, "y": np.arange(s.size) % 2})
    r = risk.threshold_at_capacity(df, "s", "y", direction, capacity_cases=cap)
    assert r.flagged <= cap
    # no strict threshold flags more while staying within capacity
    candidates = np.append(np.unique(s), [np.inf, -np.inf])
    best = max(int(risk.flag(s, t, direction).sum()) for t in candidates
               if risk.flag(s, t, direction).sum() <= cap)
    assert r.flagged == best


def test_missing_rows_are_counted(untied):
    df = untied.copy()
    df.loc[:9, "att"] = np.nan
    r = risk.threshold_at_capacity(df, "att", "left", capacity_cases=20)
    assert r.n_missing_score == 10 and r.n_used == 490 and r.flagged == 20


def test_cost_minimising_threshold_matches_brute_force():
    rng = np.random.default_rng(11)
    y = rng.random(300) < 0.15
    s = np.round(rng.normal(size=300) - 1.2 * y, 1)
    df = pd.DataFrame({"s": s, "y": y})
    res = risk.cost_minimising_threshold(df, "s", "y", "below", cost_missed=8.0, cost_needless=1.0)
    best = None
    for t in np.append(np.unique(s), np.inf):
        f = s < t
        cost = 8.0 * (~f & y).sum() + 1.0 * (f & ~y).sum()
        if best is None or cost < best[0]:
            best = (cost, t, f.sum())
    assert res.cost == pytest.approx(best[0])
    assert res.threshold == best[1] and res.flagged == best[2]
    assert res.fn == (~(s < res.threshold) & y).sum()
    assert len(res.table) == np.unique(s).size + 1
    # only misses cost: the fewest flags that miss nobody (equal costs go to fewer flags)
    miss_only = risk.cost_minimising_threshold(df, "s", "y", cost_missed=1, cost_needless=0)
    assert miss_only.fn == 0 and miss_only.flagged == (s <= s[y].max()).sum()
    # only needless interventions cost: flag nobody
    assert risk.cost_minimising_threshold(df, "s", "y", cost_missed=0, cost_needless=1).flagged == 0
    capped = risk.cost_minimising_threshold(df, "s", "y", cost_missed=8.0, cost_needless=1.0,
                                            capacity_cases=10)
    assert capped.flagged <= 10


# --------------------------------------------------------------------------- bad input (fuzzing)

SIX = pd.DataFrame({"s": [.1, .2, .3, .4, .5, .6], "y": [1, 0, 1, 0, 0, 1]})


def test_cost_choice_ignores_a_common_scale_and_refuses_an_overflowing_total():
    base = risk.cost_minimising_threshold(SIX, "s", "y", cost_missed=1, cost_needless=1)
    assert (base.threshold, base.cost) == (0.2, 2.0)
    big = risk.cost_minimising_threshold(SIX, "s", "y", cost_missed=2.0**1000,
                                         cost_needless=2.0**1000)
    assert big.threshold == 0.2 and big.cost == 2.0 * 2.0**1000
    with pytest.raises(SrmsimError, match="beyond the floating-point range"):
        risk.cost_minimising_threshold(SIX, "s", "y", cost_missed=1e308, cost_needless=1e308)
    with pytest.raises(SrmsimError, match="beyond the floating-point range"):
        risk.threshold_at_capacity(SIX, "s", "y", capacity_cases=2, cost_per_case=1e308)


@settings(max_examples=60, deadline=None)
@given(
    missed=st.floats(0, 1e6, allow_nan=False), needless=st.floats(0, 1e6, allow_nan=False),
    power=st.integers(-1000, 1023),
    y=st.lists(st.booleans(), min_size=2, max_size=30),
)
def test_cost_choice_is_scale_invariant(missed, needless, power, y):
    """Multiplying both costs by a power of two (exact in floating point) never moves the choice,
    including far beyond where fn * cost overflowed or underflowed before."""
    rng = np.random.default_rng(len(y))
    df = pd.DataFrame({"s": np.round(rng.random(len(y)), 1), "y": y})
    a = risk.cost_minimising_threshold(df, "s", "y", cost_missed=missed, cost_needless=needless)
    factor = 2.0**power
    scaled = (missed * factor, needless * factor)

    def exact(cost: float, times: float) -> bool:  # a normal float, or zero from zero
        return times == cost == 0 or np.finfo(float).tiny <= times < np.inf

    if not all(exact(c, s) for c, s in zip((missed, needless), scaled, strict=True)):
        return  # overflowed, subnormal or underflowed: no longer exactly the same ratio
    try:
        b = risk.cost_minimising_threshold(df, "s", "y", cost_missed=scaled[0],
                                           cost_needless=scaled[1])
    except SrmsimError as err:
        assert "floating-point range" in str(err)
        return
    assert (b.threshold, b.flagged) == (a.threshold, a.flagged)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"capacity_cases": float("nan")}, "capacity_cases must be a whole number"),
    ({"capacity_cases": float("inf")}, "capacity_cases must be a whole number"),
    ({"capacity_cases": "3"}, "capacity_cases must be a whole number"),
    ({"capacity_cases": -1}, "capacity_cases=-1 is out of range"),
    ({"capacity_cases": 2**60}, "out of range"),
    ({"staff_minutes_available": 1e300, "minutes_per_case": 1e-10}, "more than 2[*][*]53 cases"),
    ({"staff_minutes_available": "600", "minutes_per_case": 45}, "must be a number, not text"),
    ({"capacity_cases": 3, "cost_per_case": "1"}, "cost_per_case='1' must be a number"),
])
def test_capacity_arguments_are_validated(kwargs, message):
    with pytest.raises(SrmsimError, match=message):
        risk.threshold_at_capacity(SIX, "s", "y", **kwargs)


def test_capacity_in_cases_overflowing_quotient_is_refused():
    with pytest.raises(SrmsimError, match="more than 2[*][*]53 cases"):
        risk.capacity_in_cases(None, 1e308, 1e-308)
    assert risk.capacity_in_cases(None, 600, 45) == 13


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"capacity_cases": float("nan")}, "capacity_cases must be a whole number"),
    ({"cost_missed": "1"}, "cost_missed='1' must be a number, not text"),
    ({"cost_needless": float("inf")}, "cost_needless=inf must be a finite number"),
    ({"cost_missed": True}, "cost_missed=True must be a number"),
    ({"cost_missed": -1}, "must be finite numbers >= 0"),
])
def test_cost_arguments_are_validated(kwargs, message):
    with pytest.raises(SrmsimError, match=message):
        risk.cost_minimising_threshold(SIX, "s", "y", **kwargs)


def test_threshold_for_top_refuses_a_negative_or_fractional_k_and_missing_scores():
    r = np.array([.9, .8, .7, .6, .5, .4, .3, .2, .1, .05])
    with pytest.raises(SrmsimError, match="k=-1 is out of range"):
        risk.threshold_for_top(r, -1, "above")
    with pytest.raises(SrmsimError, match="k must be a whole number"):
        risk.threshold_for_top(r, 2.5, "above")
    with pytest.raises(SrmsimError, match="missing value"):
        risk.threshold_for_top(np.r_[r, np.nan], 2, "above")
    with pytest.raises(SrmsimError, match="threshold=nan must be a number"):
        risk.flag(r, float("nan"), "above")
    assert risk.flag(r, risk.threshold_for_top(r, 3, "above"), "above").sum() == 3


def test_capacity_and_cost_results_print_their_choice():
    """print() of a cost result dumped its whole table of candidate thresholds."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"s": rng.normal(size=500)})
    df["y"] = rng.random(500) < 1 / (1 + np.exp(2 + 2 * df["s"]))
    cap = risk.threshold_at_capacity(df, "s", "y", "below", capacity_cases=50)
    assert str(cap) == (f"threshold {cap.threshold:.8g} flags 50 of 500 students (capacity 50): "
                        f"{cap.tp} with the outcome, precision {100 * cap.precision:.1f}%, "
                        f"recall {100 * cap.recall:.1f}%")
    cost = risk.cost_minimising_threshold(df, "s", "y", "below", 1000, 100)
    assert str(cost).startswith(f"threshold {cost.threshold:.8g}: cost {cost.cost:,.2f}")
    assert "\n" not in str(cost)
    none = risk.threshold_at_capacity(df.assign(y=False), "s", "y", "below", capacity_cases=50)
    assert "recall n/a" in str(none)
