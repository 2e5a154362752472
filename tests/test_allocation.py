"""Joint allocation of a week's referrals to actions within each role's free minutes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from srmsim.policy.allocation import greedy_allocation


def brute_force(value, need, group, free, pool=None):
    """The best total gain over every assignment (an action or none per referral) that fits:
    each referral's minutes come from its school's free minutes, or else from the pool's."""
    n, k = value.shape
    best, best_pick = -np.inf, None
    for pick in itertools.product(range(-1, k), repeat=n):
        if any(a >= 0 and not np.isfinite(value[i, a]) for i, a in enumerate(pick)):
            continue
        if fits(pick, need, group, free, pool):
            total = sum(value[i, a] for i, a in enumerate(pick) if a >= 0)
            if total > best + 1e-12:
                best, best_pick = total, pick
    return best, best_pick


def fits(pick, need, group, free, pool):
    """Whether some split of the chosen actions between the schools and the pool fits
    (with no pool: whether each school's total fits)."""
    used = np.zeros_like(free, dtype=float)
    for i, a in enumerate(pick):
        if a >= 0:
            used[group[i]] += need[a]
    over = np.maximum(used - free, 0).sum(axis=0)
    if pool is None:
        return not over.any()
    return bool(np.all(over <= pool + 1e-9))  # a relaxation: exact for one role, 1 school


def total(value, pick):
    return sum(value[i, a] for i, a in enumerate(pick) if a >= 0)


def check_feasible_and_maximal(value, need, group, free, pick):
    used = np.zeros_like(free, dtype=float)
    for i, a in enumerate(pick):
        if a >= 0:
            used[group[i]] += need[a]
    assert np.all(used <= free + 1e-9)
    left = free - used
    for i, a in enumerate(pick):
        if a < 0:  # nothing it may use still fits
            for j in range(value.shape[1]):
                assert not (np.isfinite(value[i, j]) and np.all(need[j] <= left[group[i]] + 1e-9))


def test_hand_built_week_fills_both_roles_where_best_per_referral_queues_for_one():
    """Two roles: a TA action that is best for everyone and a teacher action nearly as good
    for two of the four students. One TA place and one teacher place are free: choosing each
    referral's best action gives all four the TA action (one served, 5.0 months); the joint
    allocation serves two (8.4). The optimum (brute force) is 8.8: student 1 to the teacher and
    student 2 to the TA, a swap the density greedy does not look for (documented)."""
    need = np.array([[30.0, 0.0],    # reading_club: 30 TA minutes
                     [0.0, 30.0]])   # tuition: 30 teacher minutes
    value = np.array([[5.0, 4.8],    # gains in reading months
                      [4.0, 1.0],
                      [3.5, 3.4],
                      [3.0, 0.5]])
    group = np.zeros(4, dtype=np.int64)
    free = np.array([[30.0, 30.0]])
    pick = greedy_allocation(value, need, group, free)
    assert pick.tolist() == [0, -1, 1, -1]   # 5.0 + 3.4 = 8.4
    best, best_pick = brute_force(value, need, group, free)
    assert np.isclose(best, 8.8) and list(best_pick) == [1, 0, -1, -1]
    independent = value.argmax(axis=1)
    assert (independent == 0).all()  # each on its own: everyone queues for the TA ...
    assert np.isclose(total(value, pick), 8.4) and 8.4 > value[:, 0].max()  # ... only 5.0 served
    # with room for one more TA case the greedy is optimal again
    free2 = np.array([[60.0, 30.0]])
    pick2 = greedy_allocation(value, need, group, free2)
    assert np.isclose(total(value, pick2), brute_force(value, need, group, free2)[0])


def test_inputs_are_not_modified_and_unusable_actions_are_never_given():
    need = np.array([[30.0], [30.0]])
    value = np.array([[np.nan, 1.0], [2.0, -np.inf]])
    free = np.array([[60.0]])
    before = free.copy()
    pick = greedy_allocation(value, need, np.zeros(2, dtype=np.int64), free)
    assert pick.tolist() == [1, 0] and np.array_equal(free, before)
    assert greedy_allocation(np.full((2, 2), np.nan), need, np.zeros(2, dtype=np.int64),
                             free).tolist() == [-1, -1]


@pytest.mark.parametrize("seed", range(40))
def test_optimal_when_every_action_needs_the_same_minutes_of_one_role(seed):
    rng = np.random.default_rng(seed)
    n, k = rng.integers(2, 7), rng.integers(2, 4)
    value = rng.gamma(2.0, 2.0, (n, k))
    value[rng.random((n, k)) < 0.15] = np.nan  # some actions not available to some
    need = np.full((k, 1), 30.0)
    group = rng.integers(0, 2, n)
    free = rng.integers(0, 4, (2, 1)) * 30.0
    pick = greedy_allocation(value, need, group, free)
    check_feasible_and_maximal(value, need, group, free, pick)
    assert np.isclose(total(value, pick), brute_force(value, need, group, free)[0])


@pytest.mark.once
def test_close_to_the_optimum_on_random_two_role_weeks_and_the_pool_is_used():
    rng = np.random.default_rng(14)
    ratios = []
    for _ in range(300):
        n, k = rng.integers(3, 6), 3
        value = rng.gamma(2.0, 2.0, (n, k))
        need = rng.choice([0.0, 20.0, 30.0, 45.0], (k, 2))
        need[need.sum(axis=1) == 0, 0] = 30.0
        group = rng.integers(0, 2, n)
        free = rng.choice([0.0, 30.0, 45.0, 60.0, 90.0], (2, 2))
        pick = greedy_allocation(value, need, group, free)
        check_feasible_and_maximal(value, need, group, free, pick)
        best = brute_force(value, need, group, free)[0]
        ratios.append(total(value, pick) / best if best > 0 else 1.0)
    ratios = np.array(ratios)
    assert ratios.max() <= 1 + 1e-9
    assert ratios.mean() > 0.99 and ratios.min() > 0.7  # measured, not proven (the docstring)
    # the pool takes what a school has no room for
    need = np.array([[30.0]])
    pick = greedy_allocation(np.array([[2.0], [1.0], [3.0]]), need, np.zeros(3, dtype=np.int64),
                             np.array([[30.0]]), pool=np.array([30.0]))
    assert pick.tolist() == [0, -1, 0]


def plain_greedy(score, need, group, free, pool):
    """The greedy as the module describes it, pair by pair with nothing skipped."""
    order = sorted((-score[i, a], i, a) for i in range(score.shape[0])
                    for a in range(score.shape[1]) if np.isfinite(score[i, a]))
    free, pool = free.astype(float).copy(), pool.astype(float).copy()
    pick = np.full(score.shape[0], -1)
    for _, i, a in order:
        if pick[i] < 0:
            for room in (free[group[i]], pool):
                if np.all(need[a] <= room + 1e-9):
                    room -= need[a]
                    pick[i] = a
                    break
    return pick


@pytest.mark.parametrize("seed", range(12))
def test_long_queues_give_the_plain_greedys_allocation(seed):
    """The fast path and the pruning of pairs that can never be taken change nothing."""
    rng = np.random.default_rng(100 + seed)
    n, k, schools = 300, 3, 4
    value = rng.gamma(2.0, 2.0, (n, k))
    value[rng.random((n, k)) < 0.1] = np.nan
    need = rng.choice([0.0, 20.0, 30.0, 60.0], (k, 2))
    need[need.sum(axis=1) == 0, 1] = 30.0
    group = rng.integers(0, schools, n)
    free = rng.choice([0.0, 30.0, 60.0, 120.0, 600.0 if seed % 3 == 0 else 90.0], (schools, 2))
    pool = rng.choice([0.0, 60.0], 2)
    pick = greedy_allocation(value, need, group, free, pool)
    density = value / need.sum(axis=1)[None, :]
    plain = [plain_greedy(s, need, group, free, pool) for s in (density, value)]
    expect = plain[1] if total(value, plain[1]) > total(value, plain[0]) + 1e-12 else plain[0]
    assert pick.tolist() == expect.tolist()
