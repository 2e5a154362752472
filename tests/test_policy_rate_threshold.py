"""A rule comparing a share window with a number (``attendance(4) < 0.9``) divides in float32
against a proved threshold instead of in float64: the answers must be the float64 ones for
every numerator and denominator the window can hold, for every comparison and threshold,
including thresholds a float32 cannot tell from a fraction next to them."""

from __future__ import annotations

import numpy as np
import pytest

from srmsim.policy.profile import _rate, vocabulary
from srmsim.policy.rules import _float32_threshold, evaluate_rules, parse_rules

#: thresholds: plain shares, fractions exactly and a float64 step either side of them (where a
#: float32 rounds both to the same number), whole numbers, negatives, beyond 1
TRICKY = [0.9, 0.6, 0.95, 1 / 3, 2 / 3, 0.5, 0.0, 1.0, -0.5, 1.5, 2.0, 1e-9, 0.999]
TRICKY += [float(np.nextafter(f, s)) for f in (0.9, 7 / 13, 0.6, 1 / 3, 1.0) for s in (0.0, 2.0)]


def _grid(bound: int) -> tuple[np.ndarray, np.ndarray]:
    k = np.arange(-bound, bound + 1, dtype=np.int16)
    num, den = np.meshgrid(k, k, indexing="ij")
    return num.ravel(), den.ravel()


@pytest.mark.parametrize("c", TRICKY)
def test_float32_threshold_gives_the_float64_answer_for_every_pair(c):
    bound = 128 * 3
    num, den = _grid(bound)
    with np.errstate(all="ignore"):
        q64 = np.divide(num, den, dtype=np.float64)
        q32 = np.divide(num, den, dtype=np.float32)
    for strict in (True, False):
        t = _float32_threshold(c, strict, bound)
        assert t is not None
        below = q64 < c if strict else q64 <= c
        above = q64 >= c if strict else q64 > c
        assert np.array_equal(q32 < t, below)
        assert np.array_equal(q32 >= t, above)


def test_a_plain_float32_comparison_would_have_been_wrong():
    """The case the proof is for: 9/10 is below the float64 just above 0.9, but in float32
    both are 0.9f."""
    c = float(np.nextafter(0.9, 1.0))
    assert np.float64(9) / np.float64(10) < c
    assert not np.float32(9) / np.float32(10) < np.float32(c)
    assert np.float32(9) / np.float32(10) < _float32_threshold(c, True, 128)


def test_no_threshold_where_none_can_be_proved():
    assert _float32_threshold(float("nan"), True, 128) is None
    assert _float32_threshold(float("inf"), True, 128) is None
    assert _float32_threshold(1e30, True, 128) is None


class _Shares:
    """A context with one share window, ``attendance(n)``: as float64 rates only (the plain
    path), or with the integer parts too (the float32 path)."""

    def __init__(self, num: np.ndarray, den: np.ndarray, params: dict, parts: bool):
        self.num, self.den, self.params = num, den, params
        if parts:
            self.window_parts = lambda name, n: (self.num, self.den, 128 * n)

    def field(self, name: str) -> np.ndarray:
        return np.zeros(len(self.num), dtype=np.int16)

    def window(self, name: str, n: int) -> np.ndarray:
        return _rate(self.num, self.den)

    def parameter(self, name: str) -> float:
        return self.params[name]


@pytest.mark.parametrize("threshold", [0.9, float(np.nextafter(0.9, 1.0)), 0.6, 1, 0])
def test_share_rules_give_the_same_answers_with_and_without_the_parts(threshold):
    rng = np.random.default_rng(5)
    den = rng.integers(0, 41, 20_000).astype(np.int16)
    num = (den * rng.random(20_000)).round().astype(np.int16)
    num[:2000], den[:2000] = 9, 10  # exactly 0.9
    num[2000:2100] = 0  # 0 / 0 and 0 / d
    den[2100:2200] = 0  # k / 0
    params = {"x": threshold}
    texts = {f"r{i}": t for i, t in enumerate([
        "attendance(4) < x", "attendance(4) <= x", "attendance(4) > x", "attendance(4) >= x",
        "x > attendance(4)", "x <= attendance(4)", f"attendance(4) < {threshold!r}",
        "attendance(4) == x", "0.5 < attendance(4) < x"])}
    rules = parse_rules(texts, vocabulary(params))
    plain = evaluate_rules(rules, _Shares(num, den, params, parts=False))
    fast = evaluate_rules(rules, _Shares(num, den, params, parts=True))
    for name in texts:
        assert plain[name].dtype == fast[name].dtype == np.bool_
        assert np.array_equal(plain[name], fast[name]), texts[name]
    assert any(0 < v.sum() < len(num) for v in plain.values())


def test_a_share_compared_with_a_number_is_not_divided_in_float64():
    """The float32 path is the one taken (the tests above compare it with something)."""
    ctx = _Shares(np.array([9, 3], dtype=np.int16), np.array([10, 0], dtype=np.int16),
                  {"x": 0.9}, parts=True)
    ctx.window = None  # reading the float64 share would fail
    rules = parse_rules({"r": "attendance(4) < x", "s": "0.95 <= attendance(4)"},
                        vocabulary({"x": 0.9}))
    got = evaluate_rules(rules, ctx)
    assert got["r"].tolist() == [False, False] and got["s"].tolist() == [False, True]
