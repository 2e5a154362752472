"""Review of srmsim.risk on hostile input: ties in costs, non-probability risks, and arguments
that used to reach numpy or pandas (a raw traceback) instead of a DataError naming them."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from srmsim import risk
from srmsim.errors import DataError, RuleError


def test_equal_costs_go_to_the_threshold_flagging_fewer():
    """7 missed at 7 and 7 needless at 25 cost 175 either way; relative costs rounded to
    7.000000000000001 and 7.0, and flagging all 32 was chosen over flagging none."""
    df = pd.DataFrame({"s": [2.0] * 7 + [1.0] * 25, "y": [0] * 7 + [1] * 25})
    r = risk.cost_minimising_threshold(df, "s", "y", "above", cost_missed=7, cost_needless=25)
    assert r.table["cost"].tolist() == [175.0, 350.0, 175.0]
    assert (r.flagged, r.threshold, r.cost) == (0, 2.0, 175.0)
    r = risk.cost_minimising_threshold(df, "s", "y", "above", cost_missed=14, cost_needless=50)
    assert r.flagged == 0
    # a real difference still wins
    r = risk.cost_minimising_threshold(df, "s", "y", "above", cost_missed=7.01, cost_needless=25)
    assert r.flagged == 32


def test_evaluate_risk_brier_and_log_loss_only_of_probabilities():
    r = np.array([0.9, 0.5, 0.5, 0.5, 0.1, 0.2])
    y = np.array([1, 0, 1, 0, 0, 1])
    ev = risk.evaluate_risk(r, y, 0.5)
    assert ev["brier"] == pytest.approx(np.mean((r - y) ** 2))
    counts = risk.evaluate_risk(r * 10, y, 0.5)  # a count, not a probability
    assert np.isnan(counts["brier"]) and np.isnan(counts["log_loss"])
    assert counts["auc"] == ev["auc"] and counts["precision_at_capacity"] == 1.0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"ridge_sd": 0}, "ridge_sd=0 must be a positive number"),
    ({"ridge_sd": -1}, "ridge_sd=-1 must be a positive number"),
    ({"ridge_sd": "2"}, "ridge_sd='2' must be a number, not text"),
    ({"offset": ["a"] * 6}, "offset must be numbers, one per row"),
    ({"offset": np.zeros(3)}, r"offset must hold one number per row \(6\), got shape \(3,\)"),
    ({"offset": np.zeros((6, 2))}, r"offset must hold one number per row \(6\)"),
])
def test_fit_logistic_checks_its_arguments(kwargs, message):
    X = np.c_[np.ones(6), [0.1, 0.4, 0.2, 0.9, 0.5, 0.3]]
    with pytest.raises(DataError, match=message):
        risk.fit_logistic(X, [0, 1, 0, 1, 1, 0], **kwargs)


def test_fit_logistic_refuses_empty_and_overflowing_designs():
    with pytest.raises(DataError, match=r"2-d design matrix with an intercept column, got "
                                        r"shape \(5, 0\)"):
        risk.fit_logistic(np.empty((5, 0)), [0, 1, 0, 1, 0])
    X = np.c_[np.ones(6), [1e200, -1e200, 2e200, 0, 1, 3]]  # X'X overflows: LinAlgError before
    with pytest.raises(DataError, match=r"beyond \+-1e\+150"):
        risk.fit_logistic(X, [0, 1, 0, 1, 1, 0])


DF = pd.DataFrame({"s": [0.1, 0.5, 0.5, 0.9, 0.3], "y": [1, 0, 1, 0, 0],
                   "g": ["a", "b", "a", None, "b"]})


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"by": "g", "reference": "a"}, "reference must map a by column to its reference group"),
    ({"by": [None]}, r"by must name columns, got \[None\]"),
    ({"by": [["g"]]}, r"column \(by\) must be one column name, got \['g'\]"),
])
def test_threshold_table_refuses_malformed_by_and_reference(kwargs, message):
    with pytest.raises(DataError, match=message):
        risk.threshold_table(DF, "s", "y", **kwargs)


def test_a_falsy_column_name_is_still_a_by_column():
    df = pd.DataFrame({"s": [0.1, 0.5, 0.9], "y": [1, 0, 0], 0: ["a", "b", "b"]})
    t = risk.threshold_table(df, "s", "y", thresholds=[0.3], by=0)
    assert t["group"].tolist() == ["a", "b"] and t["flagged"].tolist() == [1, 0]


def test_duplicated_column_names_are_refused_by_name():
    dup = pd.DataFrame([[0.1, 0.2, 1], [0.5, 0.6, 0]], columns=["s", "s", "y"])
    with pytest.raises(DataError, match=r"column 's' \(score\) appears more than once"):
        risk.threshold_table(dup, "s", "y")
    dup_by = pd.DataFrame([[0.1, 1, "a", "b"]], columns=["s", "y", "g", "g"])
    with pytest.raises(DataError, match=r"column 'g' \(by\) appears more than once"):
        risk.threshold_table(dup_by, "s", "y", by="g")


def test_array_helpers_refuse_text_scores():
    with pytest.raises(DataError, match="score must be numeric, found 'a'"):
        risk.flag(["a", "b"], 2, "below")
    with pytest.raises(DataError, match="score must be numeric, found 'a'"):
        risk.default_thresholds(["a"])
    with pytest.raises(DataError, match="score must be finite, found inf"):
        risk.default_thresholds([np.inf, 1.0])
    assert risk.flag([0.1, np.nan, 3.0], 2, "below").tolist() == [True, False, False]
    assert risk.default_thresholds([2.0, np.nan, 1.0, 2.0]).tolist() == [1.0, 2.0]


def test_best_row_refuses_a_text_metric():
    with pytest.raises(DataError, match=r"column 'f1' \(metric\) holds .* values, not rates"):
        risk.best_row(pd.DataFrame({"f1": ["low", "0.5"]}), "f1")


def test_published_helpers_name_missing_columns():
    table = risk.threshold_table(DF, "s", "y")
    with pytest.raises(DataError, match=r"column 'nope' \(published table\) not found"):
        risk.published_numbers(table, ["nope"])
    with pytest.raises(DataError, match=r"column 'threshold' \(threshold table\) not found"):
        risk.band_counts(pd.DataFrame({"a": [1]}))
    with pytest.raises(DataError, match=r"column 'threshold' \(published table\) not found"):
        risk.published_curves(pd.DataFrame({"a": [1]}))


def test_count_score_refuses_malformed_conditions():
    with pytest.raises(RuleError, match="conditions must map a name to"):
        risk.count_score(DF, [("s", ">", 0.2)])
    with pytest.raises(RuleError, match=r"compare column 's' with one value, not \[1, 2\]"):
        risk.count_score(DF, {"a": ("s", "==", [1, 2])})
    with pytest.raises(DataError, match="must be one column name"):
        risk.count_score(DF, {"a": (["s"], ">", 0.2)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert risk.count_score(DF, {"a": ("s", ">", 0.2)}).tolist() == [0, 1, 1, 1, 1]
