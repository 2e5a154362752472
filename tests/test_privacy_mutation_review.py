"""Tests written by a mutation review of srmsim's small-count protection (srmsim.privacy,
srmsim.risk.protected, srmsim.data.kanon): each pins a decision that some small change to the
code survived the other tests with, by asserting the privacy property itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_privacy_attack import T, recovered  # the attacker written apart from srmsim

from srmsim.data.kanon import generalise_rare, hierarchy, k_anonymise
from srmsim.data.schema import MAX_AGE_MONTHS, MIN_AGE_MONTHS, STUDENTS, conform
from srmsim.privacy import protect_cells, suppress_small_counts, suppression_masks

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
        # points, not a share: as a share the cuts splitting b's 20 with the outcome 10/10
        # lie near 0.5, where the fences of srmsim.risk.protected.fence_plan (10 pupils from
        # the 298 below 0.5, and from the median's rank) leave none; this is not about them
        df["score"] *= 1000
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


# --------------------------------------------------------------------------------------------
# small-count suppression (srmsim.privacy)


def _attack(printed: pd.DataFrame, truth: np.ndarray, rows_sum: bool, cols_sum: bool,
            subsets: list[tuple[int, int]] = ()) -> list[tuple[int, float]]:
    """test_privacy_attack's attacker (its own integer programmes, apart from srmsim's audit)
    on a printed table: every printed number is fixed, the last row is the column totals
    (``rows_sum``), the last column the row totals (``cols_sum``), and column ``p`` is at most
    column ``w`` in every row for each ``(p, w)`` in ``subsets``. Returns (cell, width) of every
    hidden true count under T pinned narrower than T."""
    nrow, ncol = truth.shape
    eqs: list[tuple[dict[int, float], float]] = []
    if rows_sum:
        eqs += [({**{r * ncol + c: 1.0 for r in range(nrow - 1)}, (nrow - 1) * ncol + c: -1.0},
                 0.0) for c in range(ncol)]
    if cols_sum:
        eqs += [({**{r * ncol + c: 1.0 for c in range(ncol - 1)}, r * ncol + ncol - 1: -1.0},
                 0.0) for r in range(nrow)]
    les = [({r * ncol + p: 1.0, r * ncol + w: -1.0}, 0.0) for p, w in subsets
           for r in range(nrow)]
    return _recovered(printed, truth, eqs, les)


def _recovered(printed: pd.DataFrame, truth: np.ndarray, eqs: list, les: list
               ) -> list[tuple[int, float]]:
    """:func:`test_privacy_attack.recovered` with the printed numbers (checked to be the true
    ones) fixed and the hidden ones ("c") unknown."""
    cells = printed.to_numpy(dtype=str).ravel()
    shown = np.array([c.isdigit() for c in cells])
    values = truth.ravel().astype(float)
    assert (cells[shown].astype(float) == values[shown]).all()  # shown cells are the true ones
    fixed = {int(i): values[i] for i in np.flatnonzero(shown)}
    return recovered(values, ~shown, eqs, les, fixed)


def _two_way(rng: np.random.Generator, nrow: int, ncol: int, zeros: float = 0.15
             ) -> pd.DataFrame:
    body = rng.integers(0, 40, (nrow, ncol)) * (rng.random((nrow, ncol)) > zeros)
    body[rng.random((nrow, ncol)) < 0.25] = rng.integers(1, 10)  # plenty of small counts
    cols = [f"c{j}" for j in range(ncol)]
    t = pd.DataFrame(body, columns=cols, index=[f"g{i}" for i in range(nrow)])
    t["total"] = t[cols].sum(axis=1)
    t.loc["Total"] = t.sum(axis=0)
    return t.astype("int64")


@pytest.mark.parametrize("seed", range(12))
def test_no_small_count_of_a_two_way_table_can_be_worked_out(seed) -> None:
    """Row totals, column totals and the grand total printed beside a suppressed body: for
    every hidden count under 10, an attacker solving the table's identities exactly cannot
    pin it to a range narrower than 10. Zeros suppressed or shown (``suppress_zeros``)."""
    rng = np.random.default_rng(seed)
    t = _two_way(rng, int(rng.integers(2, 6)), int(rng.integers(2, 5)))
    zeros = seed % 2 == 0
    out = suppress_small_counts(t, suppress_zeros=zeros)
    truth = t.to_numpy(dtype=float)
    printed = out[t.columns]
    assert _attack(printed, truth, rows_sum=True, cols_sum=True) == []
    small = (truth < T) if zeros else ((truth < T) & (truth > 0))
    assert (printed.to_numpy()[small] == "c").all()  # every small count is hidden
    if not zeros:
        assert (printed.to_numpy()[truth == 0] == "0").all()


@pytest.mark.parametrize("with_remainders", [True, False])
@pytest.mark.parametrize("seed", range(8))
def test_no_small_count_is_recovered_from_a_part_and_its_whole(seed, with_remainders) -> None:
    """A count column that is part of another (FSM pupils of all pupils, ``subsets``) with a
    Total row: no hidden count under 10 can be pinned narrower than 10 by the Totals and
    ``part <= whole``; with ``complements`` the remainder ``whole - part`` is protected too
    (the attacker then targets it as well)."""
    rng = np.random.default_rng(50 + seed)
    nrow = int(rng.integers(3, 7))
    whole = rng.integers(1, 60, nrow)
    whole[rng.random(nrow) < 0.3] = rng.integers(1, 10)
    part = np.minimum(whole, rng.integers(0, 20, nrow))
    near_whole = rng.random(nrow) < 0.4  # remainders 1 to 9
    part[near_whole] = np.maximum(whole[near_whole] - rng.integers(1, 10, near_whole.sum()), 0)
    t = pd.DataFrame({"fsm": part, "students": whole}, index=[f"s{i}" for i in range(nrow)])
    t.loc["Total"] = t.sum(axis=0)
    t = t.astype("int64")
    out = suppress_small_counts(t, subsets={"fsm": "students"},
                                complements=["fsm"] if with_remainders else [])
    if not with_remainders:
        truth = t.to_numpy(dtype=float)
        assert _attack(out[t.columns], truth, rows_sum=True, cols_sum=False,
                       subsets=[(0, 1)]) == []
        return
    # the attacker also targets the remainder, a column of its own tied to part and whole
    truth = np.c_[t.to_numpy(dtype=float), t["students"] - t["fsm"]]
    printed = out[["fsm", "students"]].copy()
    printed["rest"] = "c"
    assert _attack_with_remainder(printed, truth) == []


def _attack_with_remainder(printed: pd.DataFrame, truth: np.ndarray
                           ) -> list[tuple[int, float]]:
    """``_attack`` for columns (part, whole, rest) with rest = whole - part in every row and
    a Total row; a remainder of 0 counts as small too (the default ``zero_remainder_ok=()``)."""
    nrow, ncol = truth.shape
    eqs = [({**{r * ncol + c: 1.0 for r in range(nrow - 1)}, (nrow - 1) * ncol + c: -1.0}, 0.0)
           for c in range(ncol)]
    eqs += [({r * ncol: 1.0, r * ncol + 1: -1.0, r * ncol + 2: 1.0}, 0.0) for r in range(nrow)]
    return _recovered(printed, truth, eqs, [])


@pytest.mark.parametrize("a, b, hidden_c", [(3, 6, True), (3, 7, False), (0, 9, True),
                                           (1, 9, False)])
def test_two_hidden_counts_whose_sum_is_printed_need_a_range_of_ten(a, b, hidden_c) -> None:
    """Two small counts hidden in a column whose Total and third count are printed: their sum
    is known, so each lies in 0..sum. A sum of 9 is a range of width 9, narrower than 10:
    the third count must be hidden too. A sum of 10 gives width 10, enough, and the third
    count stays printed (the rule is "narrower than the threshold", not "at most")."""
    t = pd.DataFrame({"school": ["A", "B", "C", "Total"], "n": [a, b, 40, a + b + 40]})
    out = suppress_small_counts(t)
    assert out["n"].tolist()[:2] == ["c", "c"]
    assert (out["n"].iloc[2] == "c") == hidden_c
    truth = t[["n"]].to_numpy(dtype=float)
    assert _attack(out[["n"]], truth, rows_sum=True, cols_sum=False) == []


def test_a_part_is_bounded_by_its_whole_in_the_audit() -> None:
    """FSM pupils are at most all pupils: the audit must know it, as the attacker does. Row
    s0 has 3 FSM of 11, s1 20 of 21, Totals 23 of 32. Hiding s1's FSM count makes s0's look
    free (0 to 23) by the Totals alone, but with ``fsm <= students`` in both rows s0's lies
    in 23 - 21 = 2 to 11: a width of 9. More must be hidden."""
    t = pd.DataFrame({"fsm": [3, 20, 23], "students": [11, 21, 32]},
                     index=["s0", "s1", "Total"])
    out = suppress_small_counts(t, subsets={"fsm": "students"})
    assert out.loc["s0", "fsm"] == "c"
    assert _attack(out[t.columns], t.to_numpy(dtype=float), rows_sum=True, cols_sum=False,
                   subsets=[(0, 1)]) == []


def _linked(margin_hidden: bool, own_withheld: bool = False):
    """A ``--by school,sex`` table (rows 0-3, Total 4) audited with its ``--by school`` margin
    appended (rows 5, 6: schools A and B, sums of rows 0-1 and 2-3). Every count here is at
    least 10; the margin table hid both schools (``margin_hidden``: to protect a count of
    its own) or showed them. ``own_withheld``: row 0 equals a count another table hid."""
    t = pd.DataFrame({"group": ["A F", "A M", "B F", "B M", "Total", "A", "B"],
                      "students": [15, 30, 12, 40, 97, 45, 52]})
    withheld = np.zeros((7, 1), bool)
    published = np.zeros((7, 1), bool)
    withheld[5:, 0] = margin_hidden
    published[5:, 0] = not margin_hidden
    withheld[0, 0] = own_withheld
    primary, secondary = suppression_masks(t, ["students"], total_row=4, total_column=None,
                                           sums=[(5, [0, 1]), (6, [2, 3])],
                                           withheld=withheld, published=published)
    return (primary | secondary)["students"].to_numpy()


def test_a_count_a_linked_table_hides_is_not_given_back_by_its_parts() -> None:
    """The margin (``--by school``) hid schools A and B; printing both of A's sex counts
    would give A = 15 + 30 back, so one of them must be hidden (and likewise for B), even
    though every count is large. When the margin shows A and B, nothing here is hidden."""
    hide = _linked(margin_hidden=True)
    assert hide[0] or hide[1]
    assert hide[2] or hide[3]
    assert not _linked(margin_hidden=False)[:5].any()


def test_a_cell_of_this_table_another_table_hid_is_printed_hidden() -> None:
    """``withheld`` on a row of the table itself (it equals a count a margin hid) is
    suppressed here too, though it is 15, not small."""
    hide = _linked(margin_hidden=False, own_withheld=True)
    assert hide[0]


def test_an_audit_the_solver_gives_up_on_fails_closed(monkeypatch) -> None:
    """If the integer programme ends without an answer (a time or iteration limit, a numerical
    failure), nothing is known about the cell's range; it used to be taken as 0 to infinity,
    i.e. safe, so the small count was printed beside what pins it. Now such a cell counts as
    pinned: the audit goes on hiding until nothing is left to hide."""
    import scipy.optimize

    from srmsim.privacy import feasible_ranges

    class GaveUp:
        status, x, message = 1, None, "time limit reached"

    t = pd.DataFrame({"school": ["A", "B", "C", "Total"], "n": [3, 50, 40, 93]})
    normal = suppress_small_counts(t)["n"].tolist()
    assert normal[0] == "c" and normal.count("c") < 4
    monkeypatch.setattr(scipy.optimize, "milp", lambda *a, **k: GaveUp())
    values = np.array([3.0, 50.0, 40.0, 93.0])
    hidden = np.array([True, True, False, False])
    lo, hi = feasible_ranges(values, hidden, [{0: 1.0, 1: 1.0, 2: 1.0, 3: -1.0}], relax=False)
    assert (lo[:2] == values[:2]).all() and (hi[:2] == values[:2]).all()
    assert suppress_small_counts(t)["n"].tolist() == ["c"] * 4


def test_when_nothing_more_can_be_hidden_or_rounds_run_out_everything_is_hidden() -> None:
    """The audit's last resort, documented as "every cell is hidden": A = 3 in A + B + C =
    Total with B, C and the Total published elsewhere (``keep``) cannot be protected, so every
    cell that may be hidden is (here D, E, F of another identity: the table prints nothing
    more); and when ``max_rounds`` runs out before the audit passes, likewise."""
    values = np.array([3.0, 50.0, 40.0, 93.0, 20.0, 25.0, 45.0])
    eqs = [{0: 1.0, 1: 1.0, 2: 1.0, 3: -1.0}, {4: 1.0, 5: 1.0, 6: -1.0}]
    primary = np.zeros(7, bool)
    primary[0] = True
    keep = np.array([False, True, True, True, False, False, False])
    assert protect_cells(values, primary, eqs, keep=keep).tolist() == [False] * 4 + [True] * 3
    normal = protect_cells(values, primary, eqs)
    assert normal.sum() == 1
    assert protect_cells(values, primary, eqs, max_rounds=1).tolist() == [False] + [True] * 6


def test_a_total_row_in_a_multiindex_is_found() -> None:
    """A crossed table indexed by (school, year) with its Total row labelled ("Total", "")
    gets the same secondary suppression as a flat one: without it, 53 - 50 prints A's 3."""
    t = pd.DataFrame({"n": [3, 50, 40, 93]},
                     index=pd.MultiIndex.from_tuples([("A", 7), ("B", 7), ("C", 7),
                                                      ("Total", "")],
                                                     names=["school", "year"]))
    out = suppress_small_counts(t, label_columns=["year"])  # a numeric index is declared
    assert out["n"].tolist().count("c") >= 2
    assert _attack(out[["n"]], t.to_numpy(dtype=float), rows_sum=True, cols_sum=False) == []


@pytest.mark.parametrize("rest, zero_ok, pinned_ok", [(0, False, False), (0, True, True),
                                                      (1, True, False), (1, False, False)])
def test_a_remainder_is_protected_unless_it_is_an_allowed_zero(rest, zero_ok, pinned_ok
                                                               ) -> None:
    """Row s0 has 30 pupils of whom ``30 - rest`` are FSM, both counts large and printed
    unprotected they give the remainder (non-FSM pupils) exactly. A remainder from 1 to 9
    must be protected always; one of 0 only when the part is named in ``zero_remainder_ok``
    (every pupil has attendance records: a fact about the export)."""
    t = pd.DataFrame({"part": [30 - rest, 25, 55 - rest], "whole": [30, 60, 90]},
                     index=["s0", "s1", "Total"])
    p, s = suppression_masks(t, subsets={"part": "whole"}, complements=["part"],
                             zero_remainder_ok=["part"] if zero_ok else [])
    hidden = (p | s).to_numpy()
    assert hidden.any() != pinned_ok
    # what is printed: the remainder's range from the Totals and part <= whole
    out = suppress_small_counts(t, masks=(p, s))
    truth = np.c_[t.to_numpy(dtype=float), t["whole"] - t["part"]]
    printed = out[["part", "whole"]].copy()
    printed["rest"] = "c"
    found = _attack_with_remainder(printed, truth)
    assert (found == []) != pinned_ok
