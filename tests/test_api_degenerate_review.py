"""Degenerate input to the Python API: clear errors and right counts, not plausible numbers.

Found by probing the public functions of srmsim.risk, srmsim.trial and srmsim.stats with empty,
all-missing, mislabelled and sentinel-coded input (2026-12-06).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from srmsim import risk, stats
from srmsim.errors import DataError, SrmsimError
from srmsim.trial import summarise


# ------------------------------------------------------------ capacity with no usable row
@pytest.mark.parametrize("frame", [pd.DataFrame({"s": [np.nan] * 3, "y": [1, 0, 1]}),
                                   pd.DataFrame({"s": [0.1, 0.2], "y": [np.nan, np.nan]}),
                                   pd.DataFrame({"s": pd.Series([], dtype=float),
                                                 "y": pd.Series([], dtype=float)})])
def test_no_row_with_a_score_and_an_outcome_is_refused_everywhere(frame):
    """threshold_at_capacity gave threshold=inf (below: flag everyone) from no rows at all."""
    for call in (lambda: risk.threshold_at_capacity(frame, "s", "y", "below", capacity_cases=2),
                 lambda: risk.cost_minimising_threshold(frame, "s", "y"),
                 lambda: risk.threshold_table(frame, "s", "y")):
        with pytest.raises(DataError, match="no rows with both a score and an outcome: column "
                                            r"'s' is missing in \d+ and 'y' in \d+ of the "
                                            rf"{len(frame)} rows"):
            call()


def test_a_categorical_outcome_is_named_as_categories():
    df = pd.DataFrame({"s": [0.1, 0.2, 0.3, 0.4], "y": pd.Categorical([0, 1, 0, 1])})
    with pytest.raises(DataError, match=r"column 'y': outcome must be boolean or 0/1, found "
                                        r"category values \(categories 0, 1\)"):
        risk.threshold_table(df, "s", "y")


# ------------------------------------------------------------ a trial's summary and its alpha
def _runs(alpha_run: float = 0.05, replications: int = 200) -> pd.DataFrame:
    """Replications of a null trial as a trial at ``alpha_run`` records them."""
    rng = np.random.default_rng(0)
    est, se = rng.normal(scale=0.1, size=replications), 0.1
    z = sps.norm.ppf(1 - alpha_run / 2)
    runs = pd.DataFrame({"error": "", "estimate": est, "true_effect": 0.0,
                         "true_effect_served": 0.0, "se": se, "ci_low": est - z * se,
                         "ci_high": est + z * se, "p_value": 2 * sps.norm.sf(abs(est) / se),
                         "df": np.inf, "naive": np.nan, "naive_truth": np.nan,
                         "baseline_changed": 0.0, "outcome_sd": 1.0})
    runs["covered"] = (runs["ci_low"] <= 0) & (runs["ci_high"] >= 0)
    runs["rejected"] = runs["p_value"] < alpha_run
    return runs


def test_a_summary_at_another_alpha_than_the_runs_is_refused():
    """The stored rejections (p < 0.05) and 95% CIs were labelled 'p < 0.1' and '90% CI'."""
    runs = _runs(0.05)
    with pytest.raises(DataError, match=r"analysed at another significance level than "
                                        r"alpha=0.1: \d+ replications with p from 0\.0\d+ to "
                                        r"0\.0\d+ were not rejected there"):
        summarise(runs, alpha=0.10)
    table = summarise(runs, alpha=0.05).set_index("measure")
    assert table.loc["rejection rate (p < 0.05)", "value"] == pytest.approx(
        (runs["p_value"] < 0.05).mean())
    assert table.loc["coverage of the 95% CI", "value"] == pytest.approx(runs["covered"].mean())
    table = summarise(_runs(0.10), alpha=0.10).set_index("measure")
    assert "coverage of the 90% CI" in table.index


@pytest.mark.parametrize("alpha", [2, 0, -0.5, float("nan"), "0.05", True])
def test_a_summary_alpha_outside_0_1_is_refused(alpha):
    with pytest.raises(SrmsimError, match="alpha"):
        summarise(_runs(), alpha=alpha)


def test_a_summary_of_a_table_without_the_trial_columns_names_them():
    with pytest.raises(DataError, match=r"runs lacks 2 columns 'se', 'error': give the "
                                        "replications as trial_runs.csv holds them"):
        summarise(_runs().drop(columns=["se", "error"]))
    with pytest.raises(DataError, match="runs must be a table of replications .* not list"):
        summarise([1, 2, 3])  # type: ignore[arg-type]
    failed = _runs().assign(error=np.nan)  # read back from CSV: an empty error is NaN
    assert summarise(failed).set_index("measure").loc["replications", "value"] == 200


# ------------------------------------------------------------ DiD: units ever treated
@pytest.mark.parametrize("never", [9999, np.nan, 0])
def test_did_twfe_counts_units_treated_in_a_period_observed(never):
    """A sentinel for never treated after the panel (9999) was counted as 'ever treated'."""
    rng = np.random.default_rng(7)
    units, periods = 20, 6
    u = np.repeat(np.arange(units), periods)
    t = np.tile(np.arange(2001, 2007), units)
    g = np.where(np.arange(units) < 10, 2004, never)[u]
    y = rng.normal(size=units)[u] + 0.5 * (t >= g) + rng.normal(size=units * periods)
    fit = stats.did_twfe(pd.DataFrame({"y": y, "u": u, "t": t, "g": g}), "y", "u", "t", "g")
    if never == 0:  # treated from before the panel: always treated, and said so
        assert fit.n_treated_units == 20
        assert any("10 units are treated in every period observed, 10 of them with 'g' before "
                   "the first period (e.g. 0)" in n and "R's did uses 0" in n for n in fit.notes)
    else:
        assert fit.n_treated_units == 10
        assert "(10 ever treated)" in fit.summary()
        assert not any("every period observed" in n for n in fit.notes)
