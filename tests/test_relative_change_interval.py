"""The relative change of `srmsim experiment` has an interval: Fieller's, for paired replications.

``relative_change`` is mean(variant - baseline) / mean(baseline). Its interval
(``relative_low`` to ``relative_high`` in effects.csv) is every theta for which the paired t test
of ``(variant - baseline) - theta x baseline`` does not reject at the table's level: checked
here against scipy's one-sample t test at the interval's ends (an independent computation),
by recovering a known ratio from simulated pairs (coverage), against the delta method on many
replications, and on the quickstart's own runs.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from srmsim.experiment.compare import compare_frame, format_effects
from srmsim.report import write_report
from srmsim.stats._inference import paired_ratio_interval

sys.path.insert(0, str(Path(__file__).parent))
from test_experiment_coverage_review import BASELINE, _outcomes, _pool  # noqa: E402


def _pairs(rng: np.random.Generator, n: int, mean_b: float, sd_b: float, ratio: float,
           noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Baseline and variant runs whose expected ratio is ``ratio`` (variant = ratio x baseline
    plus independent noise: correlated pairs, as common random numbers make them)."""
    b = rng.normal(mean_b, sd_b, n)
    return ratio * b + rng.normal(0.0, noise, n), b


@pytest.mark.parametrize("mean_b, sd_b, ratio, noise, n", [
    (0.93, 0.004, 1.005, 0.001, 30),      # attendance: a share, tightly paired
    (0.19, 0.01, 0.97, 0.004, 10),        # persistent absence
    (180_000.0, 9_000.0, 1.8, 20_000.0, 8),  # cost in pounds
    (5.0, 2.0, 0.6, 1.5, 3),              # a noisy count on three replications
])
def test_the_ends_are_where_scipys_paired_t_test_starts_to_reject(mean_b, sd_b, ratio, noise, n):
    rng = np.random.default_rng(int(mean_b * 1000) % 2**32 + n)
    a, b = _pairs(rng, n, mean_b, sd_b, ratio, noise)
    t = stats.t.ppf(0.975, n - 1)
    low, high = paired_ratio_interval(a - b, b, t)
    estimate = (a - b).mean() / b.mean()
    assert low < estimate < high
    for end in (low, high):
        statistic = stats.ttest_1samp((a - b) - end * b, 0.0).statistic
        assert abs(statistic) == pytest.approx(t, rel=1e-9)
    width = high - low
    for inside in (low + 0.01 * width, estimate, high - 0.01 * width):
        assert stats.ttest_1samp((a - b) - inside * b, 0.0).pvalue > 0.05
    for outside in (low - 0.01 * width, high + 0.01 * width):
        assert stats.ttest_1samp((a - b) - outside * b, 0.0).pvalue < 0.05


@pytest.mark.parametrize("n", [5, 10, 30])
@pytest.mark.parametrize("paired", [True, False])
def test_it_covers_a_known_ratio_95_percent_of_the_time(n, paired):
    """4,000 simulated experiments a case: 95% within 3 binomial SEs (0.010), for pairs whose
    difference moves with the baseline (variant = 0.8 x baseline + noise) and for a difference
    independent of it (variant = baseline - 2 + noise). The difference's interval divided by
    the baseline mean ignores that the baseline mean is estimated too: with the independent
    difference it covered 0.80-0.85 here (n = 30 to 5)."""
    rng = np.random.default_rng(n + 100 * paired)
    truth = -0.2  # E[variant] / E[baseline] - 1 in both cases
    t = stats.t.ppf(0.975, n - 1)
    covered = naive = 0
    runs = 4000
    for _ in range(runs):
        if paired:
            a, b = _pairs(rng, n, 10.0, 3.0, 0.8, 0.5)
        else:
            b = rng.normal(10.0, 3.0, n)
            a = b - 2.0 + rng.normal(0.0, 0.5, n)
        low, high = paired_ratio_interval(a - b, b, t)
        covered += low <= truth <= high
        d = a - b
        half = t * d.std(ddof=1) / math.sqrt(n) / b.mean()
        naive += abs(d.mean() / b.mean() - truth) <= half
    assert covered / runs == pytest.approx(0.95, abs=0.0105)
    if not paired:
        assert naive / runs < 0.9  # what Fieller corrects


def test_on_many_replications_it_agrees_with_the_delta_method():
    rng = np.random.default_rng(7)
    a, b = _pairs(rng, 5000, 50.0, 5.0, 1.1, 2.0)
    d = a - b
    theta = d.mean() / b.mean()
    # delta method: the ratio's SE from the covariance of the two means
    cov = np.cov(d, b, ddof=1) / len(d)
    se = math.sqrt(cov[0, 0] - 2 * theta * cov[0, 1] + theta**2 * cov[1, 1]) / b.mean()
    z = stats.t.ppf(0.975, len(d) - 1)
    low, high = paired_ratio_interval(d, b, z)
    assert low == pytest.approx(theta - z * se, rel=2e-3)
    assert high == pytest.approx(theta + z * se, rel=2e-3)


def test_no_interval_when_the_baseline_mean_could_be_zero():
    """A ratio over a baseline whose own interval includes zero can be any size: NaN, not a
    finite interval (the quadratic's roots would then bound the outside of the set)."""
    rng = np.random.default_rng(2)
    b = rng.normal(0.5, 3.0, 6)
    a = b + rng.normal(1.0, 0.5, 6)
    t = stats.t.ppf(0.975, 5)
    assert stats.ttest_1samp(b, 0.0).pvalue > 0.05
    assert all(math.isnan(x) for x in paired_ratio_interval(a - b, b, t))
    assert all(math.isnan(x) for x in paired_ratio_interval(a[:1] - b[:1], b[:1], t))


def _runs(values: dict[str, tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    n = len(next(iter(values.values()))[0])
    return pd.DataFrame({"variant": ["base"] * n + ["v"] * n,
                         "replication": np.r_[np.arange(n), np.arange(n)],
                         **{k: np.r_[b, a] for k, (a, b) in values.items()}})


def test_effects_table_carries_the_interval_where_a_relative_change_means_something():
    rng = np.random.default_rng(11)
    share_b = rng.normal(0.93, 0.004, 12)
    cost_b = np.zeros(12)  # a cost of £0 in the baseline: no ratio, no interval
    same = rng.normal(0.2, 0.01, 12)
    effects = compare_frame(_runs({
        "attendance": (share_b + rng.normal(0.004, 0.001, 12), share_b),
        "cost": (cost_b + 1000.0, cost_b),
        "persistent_absence": (same, same),  # a variant that does not touch the outcome
    }), "base", ["attendance", "cost", "persistent_absence"]).set_index("outcome")
    att = effects.loc["attendance"]
    assert att["relative_low"] < att["relative_change"] < att["relative_high"]
    assert att["relative_change"] == pytest.approx(att["difference"] / att["mean_baseline"])
    assert math.isnan(effects.loc["cost", "relative_change"])
    assert math.isnan(effects.loc["cost", "relative_low"])
    assert math.isnan(effects.loc["cost", "relative_high"])
    pa = effects.loc["persistent_absence"]
    assert (pa["relative_low"], pa["relative_change"], pa["relative_high"]) == (0.0, 0.0, 0.0)
    # equal differences (every replication +0.4 pp): the difference's interval has no width,
    # the relative change's only the baseline mean's uncertainty, |d - theta b| <= t theta s_b
    for level in (0.95, 0.99):
        row = compare_frame(_runs({"attendance": (share_b + 0.004, share_b)}), "base",
                            ["attendance"], level=level).iloc[0]
        assert row["half_width"] == 0
        t = stats.t.ppf(0.5 + level / 2, 11)
        se_b = share_b.std(ddof=1) / math.sqrt(12)
        for end in (row["relative_low"], row["relative_high"]):
            assert abs(0.004 - end * share_b.mean()) == pytest.approx(t * end * se_b, rel=1e-9)
        assert row["relative_low"] < 0.004 / share_b.mean() < row["relative_high"]
    assert "its interval and more columns in effects.csv" in format_effects(effects.reset_index())


@pytest.mark.once
def test_quickstart_relative_intervals_cover_the_rest_of_the_replications(tmp_path):
    """As the difference's fast coverage test: 40 replications of the quickstart on 2 schools
    of 30 a year group, four disjoint experiments of 10, each relative interval checked
    against the relative change of the other 30 replications (itself noisy: a correct 95%
    interval holds it about 92% of the time)."""
    runs = _pool(tmp_path, 40, 2, 30, 44)
    rows = []
    for k in range(4):
        inside = (runs["replication"] >= 10 * k) & (runs["replication"] < 10 * k + 10)
        rest = runs[~inside]
        truth = compare_frame(rest, BASELINE, _outcomes()).set_index(["variant", "outcome"])
        for r in compare_frame(runs[inside], BASELINE, _outcomes()).itertuples(index=False):
            if math.isnan(r.relative_change):
                assert math.isnan(r.relative_low) and math.isnan(r.relative_high)
                continue
            assert r.relative_low <= r.relative_change <= r.relative_high
            if r.relative_high > r.relative_low:
                rel = truth.loc[(r.variant, r.outcome), "relative_change"]
                rows.append(r.relative_low <= rel <= r.relative_high)
    assert len(rows) >= 30
    assert np.mean(rows) >= 0.85
    # the HTML report's effects table shows the interval, each cell holding effects.csv's number
    page = (tmp_path / "pool" / "report.html")
    write_report(tmp_path / "pool", page)
    html = page.read_text()
    effects = compare_frame(runs, BASELINE, _outcomes())
    cells = {col: [float(v) for v in re.findall(
        rf"<td class='num' data-col='{col}' data-value='([^']+)'>", html)]
        for col in ("relative_change", "relative_low", "relative_high")}
    for col, values in cells.items():
        assert len(values) == len(effects)
        assert np.allclose(np.sort(values), np.sort(effects[col].to_numpy()), rtol=1e-9,
                           equal_nan=True)  # (the report orders variants as the file lists them)
    assert "<th>Relative change 95% interval: low</th>" in html and "(Fieller" in html
