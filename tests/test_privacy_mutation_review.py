"""Tests written by a mutation review of srmsim's small-count protection (srmsim.privacy,
srmsim.risk.protected, srmsim.data.kanon): each pins a decision that some small change to the
code survived the other tests with, by asserting the privacy property itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from srmsim.data.kanon import generalise_rare, hierarchy, k_anonymise
from srmsim.data.schema import MAX_AGE_MONTHS, MIN_AGE_MONTHS, STUDENTS, conform

# --------------------------------------------------------------------------------------------
# k-anonymity (srmsim.data.kanon)


@pytest.mark.parametrize("name, values", [("year_group", range(1, 14)),
                                          ("age_months", range(MIN_AGE_MONTHS,
                                                               MAX_AGE_MONTHS + 1))])
def test_each_generalised_band_holds_its_value_and_bands_do_not_overlap(name, values) -> None:
    """A published band must hold the pupil's true value (a year 7 pupil printed as years 3-6
    is a false record), and the bands of one level must not overlap: with whole years written
    as 132-144 and 144-156, a pupil of 144 months sits in both and the bounds say more than a
    year. Every value of the field's range, at every level: each band is a contiguous
    partition cell."""
    s = pd.Series(list(values), dtype="Int64")
    h = hierarchy(name)
    for level in range(1, h.max_level + 1):
        lo, hi = h.bounds(s, level)
        assert ((lo <= s) & (s <= hi)).all(), (name, level)
        bands = sorted(set(zip(lo.tolist(), hi.tolist(), strict=True)))
        for (_, a_hi), (b_lo, _) in zip(bands, bands[1:], strict=False):
            assert a_hi < b_lo, (name, level, bands)  # disjoint
        # every value of a band maps to that band (the band is exactly its members' range)
        for b_lo, b_hi in bands:
            members = s[(lo == b_lo) & (hi == b_hi)]
            assert members.min() >= b_lo and members.max() <= b_hi


def test_a_category_held_by_fewer_than_k_students_is_recoded_and_k_is_not() -> None:
    """``generalise_rare``: a category of ``k - 1`` students is rare (printed, it names a group
    smaller than k); one of exactly ``k`` is not. Both sides of the boundary."""
    k = 5
    for n_other, recoded in ((k - 1, True), (k, False), (1, True)):
        sex = ["F"] * 30 + ["M"] * 30 + ["other"] * n_other
        st = conform(pd.DataFrame({"student_id": [f"s{i}" for i in range(len(sex))],
                                   "school": "A", "sex": sex}), STUDENTS)
        out, changed = generalise_rare(st, k)
        assert ("other" in changed.get("sex", {})) == recoded, n_other
        assert ("other" in set(out["sex"].dropna())) == (not recoded), n_other
        if recoded:
            assert changed["sex"]["other"] == n_other


def test_k_anonymised_year_groups_are_printed_in_their_own_band() -> None:
    """End to end: ``k_anonymise`` generalising year groups writes bounds that hold every kept
    pupil's year group and never overlap (key stage 3 is 7-9, key stage 4 is 10-11)."""
    rng = np.random.default_rng(5)
    n = 300
    st = conform(pd.DataFrame({"student_id": [f"s{i}" for i in range(n)], "school": "A",
                               "year_group": rng.integers(7, 12, n),
                               "sex": rng.choice(["F", "M"], n)}), STUDENTS)
    st.loc[:3, "year_group"] = 10  # a few pupils in each year, then generalised by k
    res = k_anonymise(st, ["year_group", "sex"], k=70, max_suppressed=0.0)
    assert res.levels["year_group"] >= 1
    out, kept = res.frame, st.loc[~res.suppressed]
    y = kept["year_group"].to_numpy()
    assert ((out["year_group_min"].to_numpy() <= y) & (y <= out["year_group_max"].to_numpy())
            ).all()


def test_generalisation_goes_on_while_more_than_max_suppressed_would_be_removed() -> None:
    """``max_suppressed`` is a limit on pupils removed: with it 0 and one pupil alone in year 9,
    the year group must be generalised (key stage 3 holds 7-9) rather than the pupil dropped;
    and when no generalisation can help (a school of two, with only ``school`` declared) the
    result must say the limit was exceeded, which ``anonymise`` reports."""
    years = [7] * 20 + [8] * 20 + [9]
    st = conform(pd.DataFrame({"student_id": [f"s{i}" for i in range(len(years))],
                               "school": "A", "year_group": years}), STUDENTS)
    res = k_anonymise(st, ["year_group"], k=5, max_suppressed=0.0)
    assert not res.suppressed.any() and not res.max_suppressed_exceeded
    assert res.levels["year_group"] == 1
    st2 = conform(pd.DataFrame({"student_id": [f"s{i}" for i in range(32)],
                                "school": ["A"] * 30 + ["B"] * 2}), STUDENTS)
    res2 = k_anonymise(st2, ["school"], k=5, max_suppressed=0.05)
    assert res2.suppressed.sum() == 2 and res2.max_suppressed_exceeded
    assert res2.achieved["k"] >= 5
    res3 = k_anonymise(st2, ["school"], k=5, max_suppressed=0.1)  # 2 of 32 is within 10 %
    assert res3.suppressed.sum() == 2 and not res3.max_suppressed_exceeded


def test_l_diversity_does_not_count_a_missing_value_as_a_distinct_one() -> None:
    """A class whose sensitive field is True for some pupils and missing for the rest shows one
    value: every pupil whose value is known is known to be True. Counting "missing" as a
    second value would pass it as 2-diverse."""
    from srmsim.data.kanon import measure

    t = pd.DataFrame({"school": ["A"] * 6 + ["B"] * 6,
                      "sen": pd.array([True, True, None, None, True, None] +
                                      [True, False, True, False, None, True], dtype="boolean")})
    m = measure(t, ["school"], ["sen"])
    assert m["l_by_field"]["sen"] == 1 and m["l"] == 1
    res = k_anonymise(t, ["school"], k=2, l_diversity=2, sensitive=["sen"], max_suppressed=1.0)
    assert res.suppressed.tolist() == [True] * 6 + [False] * 6


def test_each_round_generalises_the_field_that_leaves_fewest_pupils_at_risk() -> None:
    """Datafly's choice: recoding sex to ``unknown`` leaves the lone year 9 pupil at risk,
    banding year groups leaves no one, so only the year group is generalised (the least
    information given up for the same protection)."""
    years = [7] * 20 + [8] * 20 + [9]
    sex = (["F", "M"] * 21)[:len(years)]
    st = conform(pd.DataFrame({"student_id": [f"s{i}" for i in range(len(years))],
                               "school": "A", "year_group": years, "sex": sex}), STUDENTS)
    res = k_anonymise(st, ["year_group", "sex"], k=5, max_suppressed=0.0)
    assert res.levels == {"year_group": 1, "sex": 0}
    assert not res.suppressed.any()


# --------------------------------------------------------------------------------------------
# threshold tables (srmsim.risk.protected)


def _pupils(seed: int, n: int = 400, rare_pos: int | None = None) -> pd.DataFrame:
    """Scores, an outcome and two grouping columns; with ``rare_pos`` group ``g`` = "b" holds
    exactly that many pupils with the outcome (and 60 without)."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"score": rng.uniform(0, 1, n).round(3),
                       "out": rng.random(n) < 0.3,
                       "fsm": rng.random(n) < 0.4})
    if rare_pos is not None:
        pos = np.flatnonzero(df["out"])[:rare_pos]
        neg = np.flatnonzero(~df["out"])[:60]
        df["g"] = "a"
        df.loc[np.r_[pos, neg], "g"] = "b"
    return df


def _differenced(table: pd.DataFrame) -> list[int]:
    """Positives and negatives in every band of scores a published threshold table gives by
    differencing neighbours (below the first threshold, between, beyond the last), per unit;
    computed from the printed tp/fp/n/n_pos alone, not by ``band_counts``."""
    out = []
    units = [table] if "by" not in table else [g for _, g in table.groupby(["by", "group"])]
    for u in units:
        u = u.sort_values("flagged", kind="stable")
        n_pos, n = int(u["n_pos"].iloc[0]), int(u["n"].iloc[0])
        out += np.diff(np.r_[0, u["tp"].astype(int), n_pos]).tolist()
        out += np.diff(np.r_[0, u["fp"].astype(int), n - n_pos]).tolist()
    return out


@pytest.mark.parametrize("direction", ["below", "above"])
@pytest.mark.parametrize("min_count", [4, 10])
@pytest.mark.parametrize("seed, common_outcome", [(0, False), (1, False), (4, True)])
def test_no_band_of_a_protected_grid_is_small_overall_or_in_a_group(direction, min_count,
                                                                     seed, common_outcome
                                                                     ) -> None:
    """The grid's guarantee, checked by the attacker's arithmetic: differencing any two
    neighbouring published thresholds (and the ends against ``n``/``n_pos``), overall and in
    each group of a ``by`` column kept, never gives fewer than ``min_count`` pupils with or
    without the outcome. And the grid is not empty (it does protect, not just refuse). With
    ``common_outcome`` pupils without the outcome are the scarce ones, so the limits on
    negatives are the ones that bind."""
    from srmsim.risk import protected_grid, threshold_table

    df = _pupils(seed)
    if common_outcome:
        df["out"] = ~df["out"]
    grid, withheld = protected_grid(df, "score", "out", direction, by=["fsm"],
                                    min_count=min_count)
    assert withheld == [] and grid.size >= 2
    overall = threshold_table(df, "score", "out", direction, grid)
    groups = threshold_table(df, "score", "out", direction, grid, by=["fsm"])
    assert min(_differenced(overall)) >= min_count
    assert min(_differenced(groups)) >= min_count
    # a band of exactly min_count is allowed (the rule is >=, so the grid is not coarser
    # than it must be): some band somewhere sits at the limit with these data
    if min_count == 4:
        assert min(_differenced(overall) + _differenced(groups)) == min_count


@pytest.mark.parametrize("min_count", [5, 10])
def test_a_group_is_kept_from_twice_the_threshold_with_the_outcome_and_withheld_below(
        min_count) -> None:
    """A group needs ``2 * min_count`` pupils with (and without) the outcome to cut at least
    one threshold into two bands each holding ``min_count``; at ``2 * min_count - 1`` its whole
    ``by`` column is withheld (dropping the group alone would leave it as Total minus the
    rest)."""
    from srmsim.risk import protected_grid, threshold_table

    for rare_pos, kept in ((2 * min_count, True), (2 * min_count - 1, False)):
        df = _pupils(3, n=600, rare_pos=rare_pos)
        grid, withheld = protected_grid(df, "score", "out", by=["g"], min_count=min_count)
        assert withheld == ([] if kept else ["g"]), rare_pos
        if kept:
            groups = threshold_table(df, "score", "out", thresholds=grid, by=["g"])
            assert min(_differenced(groups)) >= min_count


@pytest.mark.parametrize("direction", ["below", "above"])
def test_band_counts_are_the_bands_differencing_gives(direction) -> None:
    """``band_counts`` is documented as what an attacker differencing the table obtains: every
    band including the one beyond the last threshold, so positives add up to ``n_pos`` and
    negatives to ``n - n_pos`` in each unit, and they are the differences of the printed
    running totals in the direction flags grow."""
    from srmsim.risk import band_counts, protected_grid, threshold_table

    df = _pupils(2)
    grid, _ = protected_grid(df, "score", "out", direction, by=["fsm"], min_count=10)
    table = threshold_table(df, "score", "out", direction, grid, by=["fsm"])
    cells = band_counts(table, direction)
    for (_, group), u in table.groupby(["by", "group"]):
        mine = cells[cells["group"] == group]
        assert len(mine) == len(u) + 1
        assert mine["positives"].sum() == u["n_pos"].iloc[0]
        assert mine["negatives"].sum() == u["n"].iloc[0] - u["n_pos"].iloc[0]
    assert sorted(_differenced(table)) == sorted([*cells["positives"], *cells["negatives"]])
    assert cells[["positives", "negatives"]].to_numpy().min() >= 10


def test_a_threshold_under_one_is_refused_as_a_data_error() -> None:
    """``min_count`` 0 would publish every threshold (no band is under 0): refused, as the
    DataError every other bad input to a real-data command raises (the CLI reports it)."""
    from srmsim.errors import DataError
    from srmsim.risk import protected_grid

    df = _pupils(0)
    for bad in (0, -3):
        with pytest.raises(DataError, match="at least 1"):
            protected_grid(df, "score", "out", min_count=bad)


def test_curves_leave_out_rows_whose_rates_are_withheld() -> None:
    """A figure from real data draws only what the table prints: a row whose specificity is
    withheld (``low``/``c``/``x``) gives no ROC point (not a point at an unknown place), and a
    row whose precision is withheld gives no precision-recall point."""
    from srmsim.risk import published_curves

    table = pd.DataFrame({"threshold": [0.2, 0.4, 0.6, 0.8],
                          "sensitivity": ["0.3", "0.5", "0.7", "0.9"],
                          "specificity": ["0.9", "low", "0.6", "x"],
                          "precision": ["0.5", "0.4", "c", "0.2"]}, dtype="str")
    roc, pr = published_curves(table)
    assert roc["threshold"].tolist() == [0.2, 0.6] and not roc.isna().any().any()
    assert sorted(pr["threshold"].tolist()) == [0.2, 0.4, 0.8] and not pr.isna().any().any()


@pytest.mark.parametrize("flip", [False, True])
def test_the_band_beyond_the_last_threshold_needs_min_count_of_each_too(flip) -> None:
    """Hand-made scores in order: 3 with and 3 without the outcome, then 3 with and 2
    without. A threshold after the sixth pupil cuts a first band of 3 + 3 but leaves 2 of one
    kind beyond it, which ``n - n_pos`` minus the printed counts gives away: with
    ``min_count=3`` no threshold is safe. One more pupil of the scarce kind at the top makes
    that threshold safe. ``flip`` swaps with and without (so both tail checks bind)."""
    from srmsim.risk import protected_grid

    def grid_for(outcomes: list[int]) -> list[float]:
        out = np.array(outcomes, dtype=bool)
        n = len(out)
        df = pd.DataFrame({"score": (np.arange(n) + 1) / 100, "out": ~out if flip else out})
        mids = (np.arange(1, n) + 0.5) / 100
        return protected_grid(df, "score", "out", thresholds=mids, min_count=3)[0].tolist()

    head = [1, 0, 1, 0, 1, 0]
    assert grid_for(head + [1, 1, 1, 0, 0]) == []
    assert grid_for(head + [1, 1, 1, 0, 0, 0]) == [0.065]
