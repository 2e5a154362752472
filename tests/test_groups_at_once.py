"""Per-group work done for every group at once gives what one group at a time gives.

``flag_top_share`` (capacity within schools) and a records population's rows by school and
resampled traits used to make a pass over every row for each school; they now sort once. Each
is checked here against the one-group-at-a-time definition, on ties, extreme values, signed zeros
and groups of one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from srmsim import risk
from srmsim.records import RecordPopulation
from srmsim.rng import CRN
from srmsim.scenario import Scenario


def _top_share_one_group_at_a_time(score: np.ndarray, share: float, groups: np.ndarray
                                   ) -> np.ndarray:
    """The definition: in each group, flag the rows riskier than its floor(share * n)-th
    riskiest row (0-based), so a tie at the boundary is left out whole."""
    flags = np.zeros(score.size, dtype=bool)
    for g in pd.unique(groups):
        rows = np.flatnonzero(groups == g)
        k = int(np.floor(share * rows.size + 1e-9))
        if k >= rows.size:
            flags[rows] = True
            continue
        boundary = np.sort(score[rows])[::-1][k]
        flags[rows] = score[rows] > boundary
    return flags


@pytest.mark.parametrize("seed", range(40))
def test_flag_top_share_is_the_one_group_definition(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 80))
    values = [rng.random(n), rng.integers(0, 3, n).astype(float),
              rng.choice([-1e300, 1e300, 0.0, -0.0, 1.0], n)]
    score = values[seed % 3]
    groups = rng.integers(0, int(rng.integers(1, 9)), n)
    share = float(rng.choice([0.0, 0.1, 1 / 3, 0.5, 0.7, 1.0, rng.random()]))
    got = risk.flag_top_share(score, share, groups)
    assert got.dtype == bool
    assert np.array_equal(got, _top_share_one_group_at_a_time(score, share, groups))
    ungrouped = risk.flag_top_share(score, share)
    assert np.array_equal(ungrouped, _top_share_one_group_at_a_time(score, share, np.zeros(n)))


def test_flag_top_share_groups_of_one_ties_and_no_rows():
    score = np.array([0.5, 0.9, 0.9, 0.2, 0.7])
    # each row its own group: a share of 0.5 of one row flags nobody (floor 0.5 = 0)
    assert not risk.flag_top_share(score, 0.5, np.arange(5)).any()
    assert risk.flag_top_share(score, 1.0, np.arange(5)).all()
    # one group of five: the top 2 would split nothing (0.9 and 0.9), so both are flagged;
    # the top 1 would split the tie, so neither is
    assert risk.flag_top_share(score, 0.4, np.zeros(5)).tolist() == [0, 1, 1, 0, 0]
    assert not risk.flag_top_share(score, 0.2, np.zeros(5)).any()
    assert risk.flag_top_share(np.zeros(0), 0.5, np.zeros(0)).shape == (0,)


def test_evaluate_risk_at_capacity_with_many_schools():
    """Thousands of schools: each flags its own share (the flags add up school by school)."""
    rng = np.random.default_rng(3)
    schools = np.repeat(np.arange(3000), 20)
    score = rng.random(schools.size)
    y = (rng.random(schools.size) < score).astype(float)
    flags = risk.flag_top_share(score, 0.1, schools)
    assert np.array_equal(np.bincount(schools, weights=flags), np.full(3000, 2.0))
    ev = risk.evaluate_risk(score, y, 0.1, schools)
    assert ev["flagged_at_capacity"] == 6000
    assert ev["precision_at_capacity"] == pytest.approx(y[flags].mean())


def _records(rng: np.random.Generator, n: int, schools: int) -> pd.DataFrame:
    return pd.DataFrame({
        "school": rng.choice([f"S{i:03d}" for i in range(schools)], n),
        "sex": rng.choice(["M", "F", None], n),
        "fsm": rng.random(n) < 0.2,
        "eal": rng.random(n) < 0.1,
        "prior_attainment": rng.normal(100, 15, n),
    })


@pytest.mark.parametrize("seed", range(12))
def test_records_rows_by_school_and_resampled_traits(seed):
    rng = np.random.default_rng(seed)
    schools = int(rng.integers(1, 25))
    records = _records(rng, int(rng.integers(schools, 300)), schools)
    pop = RecordPopulation(records)
    code = records["school"].map({s: i for i, s in enumerate(pop.school_ids)}).to_numpy()
    assert len(pop.rows_by_school) == len(pop.school_ids)
    for s, rows in enumerate(pop.rows_by_school):
        assert np.array_equal(rows, np.flatnonzero(code == s))  # in file order

    uid = np.arange(500, dtype=np.int64) + int(rng.integers(0, 10**6))
    school = rng.choice(np.unique(code), uid.size)
    crn = CRN(seed)
    traits = pop.traits(crn, uid, school, Scenario(name="t").population)
    u = crn.uniform("records.resample", 0, uid)
    for i in range(uid.size):  # each student copies a record of their own school, drawn by uid
        rows = pop.rows_by_school[school[i]]
        pick = rows[min(int(u[i] * len(rows)), len(rows) - 1)]
        assert traits["sex"][i] == pop.sex[pick] and traits["fsm"][i] == pop.fsm[pick]
        assert np.array_equal(traits["prior_attainment"][i],
                              pop.prior_attainment(Scenario(name="t").population)[pick],
                              equal_nan=True)
        assert code[pick] == school[i]
