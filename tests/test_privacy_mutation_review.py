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
        for (a_lo, a_hi), (b_lo, _) in zip(bands, bands[1:], strict=False):
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
