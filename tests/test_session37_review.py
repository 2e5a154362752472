"""Review of session 37 (aa14746..b0a2b05) by fresh eyes: each test failed before its fix."""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from srmsim.experiment.compare import compare_frame
from srmsim.stats._inference import paired_ratio_interval

sys.path.insert(0, str(Path(__file__).parent))


def _fieller_by_hand(d: np.ndarray, b: np.ndarray, t: float) -> tuple[float, float]:
    """The roots of (mean d - theta mean b)^2 = t^2 var(mean(d - theta b)), in exact
    fractions-free float64 on numbers of order one (the caller's scale taken out)."""
    n = len(d)
    c = np.cov(np.vstack([d, b]), ddof=1) / n
    md, mb = d.mean(), b.mean()
    qa, qb = mb * mb - t * t * c[1, 1], -2 * (md * mb - t * t * c[0, 1])
    qc = md * md - t * t * c[0, 0]
    root = math.sqrt(qb * qb - 4 * qa * qc)
    return (-qb - root) / (2 * qa), (-qb + root) / (2 * qa)


@pytest.mark.parametrize("scale_d, scale_b", [(1e-160, 1.0), (1e-5, 1e300), (1.0, 1e-300),
                                              (1e150, 1e-150), (1e-200, 1e-200)])
def test_the_relative_interval_does_not_depend_on_the_outcome_s_scale(scale_d, scale_b):
    """Fieller's interval of (d x s_d) / (b x s_b) is the interval of d / b times s_d / s_b.
    Scaling both by the baseline mean alone squared d / mean(b): with differences 1e-160 of
    the baseline (or a baseline of 1e300 and differences of 1e-5) the squares underflowed to
    0, and the interval collapsed to one number that was not even the relative change
    ([1.30e-305, 1.30e-305] for a relative change of 1.36e-305); with a baseline of 1e-300
    they overflowed, and a bounded interval came out NaN, with RuntimeWarnings."""
    rng = np.random.default_rng(4)
    b = rng.normal(1.0, 0.1, 8)
    d = 0.2 * b + rng.normal(0.05, 0.05, 8)
    t = stats.t.ppf(0.975, 7)
    lo, hi = _fieller_by_hand(d, b, t)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = paired_ratio_interval(d * scale_d, b * scale_b, t)
    ratio = scale_d / scale_b
    assert got[0] == pytest.approx(lo * ratio, rel=1e-9)
    assert got[1] == pytest.approx(hi * ratio, rel=1e-9)
    assert got[0] < d.mean() * scale_d / (b.mean() * scale_b) < got[1]


def test_effects_relative_interval_holds_the_relative_change_for_tiny_differences():
    """A share whose paired differences are tiny beside the baseline (1e-170 in one
    replication, none in the others) got a relative interval of no width, [2.0e-171 /
    (1 - g)] twice, that left out its own relative change (2.5e-171): the baseline's
    uncertainty vanished with the squares of the differences."""
    b = np.array([2e-170, 0.9, 0.8, 0.85, 0.95])
    a = b.copy()
    a[0] = 3e-170
    n = len(b)
    runs = pd.DataFrame({"variant": ["base"] * n + ["v"] * n,
                         "replication": np.r_[np.arange(n), np.arange(n)],
                         "attendance": np.r_[b, a]})
    row = compare_frame(runs, "base", ["attendance"]).iloc[0]
    assert row["relative_low"] < row["relative_change"] < row["relative_high"]
    # the differences count as equal (up to rounding, as for ci_low/ci_high): the interval is
    # the baseline mean's uncertainty alone, |d - theta mean b| = t theta se(b)
    assert row["half_width"] == 0
    t = stats.t.ppf(0.975, n - 1)
    mean_d = row["difference"]
    lo, hi = _fieller_by_hand(np.full(n, 1.0), b, t)
    assert row["relative_low"] == pytest.approx(lo * mean_d, rel=1e-9)
    assert row["relative_high"] == pytest.approx(hi * mean_d, rel=1e-9)


class _NoParts:
    """The engine's own context without its window parts: every share divided in float64."""

    def __init__(self, ctx):
        self.field, self.window, self.parameter = ctx.field, ctx.window, ctx.parameter


def test_share_rules_on_a_run_s_own_buffers_match_the_float64_answer():
    """The float32 path reads the run's int8 buffers (window_parts), where the existing tests
    give it synthetic parts: every window length 1-13, each comparison either way round, and
    thresholds at and a float64 step beside fractions, on the model's week-by-week windows
    across a year end (leavers, the new intake)."""
    from conftest import REPO_ROOT

    from srmsim.model import TrustModel
    from srmsim.policy.profile import vocabulary
    from srmsim.policy.rules import evaluate_rules, parse_rules
    from srmsim.scenario import load_scenario

    params = {"a": 0.9, "b": float(np.nextafter(0.9, 1.0)), "c": 1 / 3, "d": 0.0, "e": 1.0,
              "f": 2.0**-30, "g": -1.0, "h": 1e9, "i": float(np.nextafter(8 / 11, 0.0))}
    texts = {}
    for n in range(1, 14):
        p = "abcdefghi"[n % 9]
        texts[f"lt{n}"] = f"attendance({n}) < {p}"
        texts[f"le{n}"] = f"attendance({n}) <= {p}"
        texts[f"gt{n}"] = f"{p} > on_time_rate({n})"
        texts[f"ge{n}"] = f"{p} >= attendance({n})"
        texts[f"k{n}"] = f"attendance({n}) > {n / 13!r}"
    rules = parse_rules(texts, vocabulary(params))
    scenario = load_scenario(REPO_ROOT / "scenarios" / "attendance_escalation_small.yaml")
    model = TrustModel(scenario.with_overrides({"years": 2, "trust.n_schools": 2}, "test"),
                       seed=3)
    model.policy.ctx.parameters.update(params)
    split = 0
    for week in range(60):
        model.step()
        if week % 3:
            continue
        ctx = model.policy.ctx
        fast = evaluate_rules(rules, ctx, len(model.students))
        plain = evaluate_rules(rules, _NoParts(ctx), len(model.students))
        for name in texts:
            assert np.array_equal(fast[name], plain[name]), (week, texts[name])
            split += 0 < plain[name].sum() < len(model.students)
    assert split > 100  # the thresholds cut the students, not all or none
