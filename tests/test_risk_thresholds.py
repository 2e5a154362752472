"""Threshold tables: hand-computed counts and ratios, tie semantics, missing rows, group gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from srmsim import risk
from srmsim.errors import DataError, RuleError, SrmsimError

SCORES = [0.5, 0.6, 0.7, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 1.0]
OUTCOME = [1, 1, 0, 1, 0, 1, 0, 0, 0, 0]


@pytest.fixture
def ten() -> pd.DataFrame:
    return pd.DataFrame({"att": SCORES, "left": [bool(v) for v in OUTCOME]})


def row_at(table: pd.DataFrame, t: float) -> pd.Series:
    return table.loc[np.isclose(table["threshold"], t)].iloc[0]


def test_every_column_hand_computed_below(ten):
    t = risk.threshold_table(ten, "att", "left", "below", thresholds=[0.5, 0.7, 0.75, 1.01])
    assert list(t.columns) == [
        "threshold", "n", "n_pos", "flagged", "flag_rate", "tp", "fp", "fn", "tn",
        "sensitivity", "specificity", "precision", "npv", "f1",
    ]
    r = row_at(t, 0.75)  # flags 0.5, 0.6, 0.7, 0.7: three of them left
    assert (r.n, r.n_pos, r.flagged, r.tp, r.fp, r.fn, r.tn) == (10, 4, 4, 3, 1, 1, 5)
    assert r.flag_rate == pytest.approx(0.4)
    assert r.sensitivity == pytest.approx(3 / 4)
    assert r.specificity == pytest.approx(5 / 6)
    assert r.precision == pytest.approx(3 / 4)
    assert r.npv == pytest.approx(5 / 6)
    assert r.f1 == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))
    # strict "<": the two 0.7s are not flagged at threshold 0.7
    r = row_at(t, 0.7)
    assert (r.flagged, r.tp, r.fp, r.fn, r.tn) == (2, 2, 0, 2, 6)
    assert r.precision == 1.0 and r.npv == pytest.approx(6 / 8) and r.f1 == pytest.approx(4 / 6)
    # nobody flagged: precision is 0/0 -> NaN, not 0
    r = row_at(t, 0.5)
    assert r.flagged == 0 and np.isnan(r.precision)
    assert r.sensitivity == 0 and r.specificity == 1 and r.npv == pytest.approx(0.6) and r.f1 == 0
    # everybody flagged: npv is 0/0 -> NaN
    r = row_at(t, 1.01)
    assert (r.flagged, r.tp, r.fp, r.fn, r.tn) == (10, 4, 6, 0, 0)
    assert np.isnan(r.npv) and r.specificity == 0 and r.f1 == pytest.approx(8 / 14)


def test_above_direction_is_strict(ten):
    t = risk.threshold_table(ten, "att", "left", "above", thresholds=[0.9, 0.95])
    r = row_at(t, 0.9)  # > 0.9: 0.95, 0.97, 1.0, none of whom left
    assert (r.flagged, r.tp, r.fp, r.fn, r.tn) == (3, 0, 3, 4, 3)
    assert r.precision == 0 and r.npv == pytest.approx(3 / 7) and r.specificity == 0.5
    assert row_at(t, 0.95).flagged == 2


def test_no_positives_gives_nan_sensitivity():
    df = pd.DataFrame({"s": [1.0, 2.0, 3.0], "y": [0, 0, 0]})
    t = risk.threshold_table(df, "s", "y", thresholds=[0.0, 2.5])
    assert t["sensitivity"].isna().all()
    assert np.isnan(t["f1"].iloc[0])  # 0 / 0
    assert t["f1"].iloc[1] == 0.0  # 0 / (0 + 2 + 0)


def test_missing_rows_counted_not_dropped_silently(ten):
    df = pd.concat(
        [ten, pd.DataFrame({"att": [np.nan, 0.4, np.nan], "left": [True, None, None]})],
        ignore_index=True,
    )
    df["left"] = df["left"].astype("boolean")
    t = risk.threshold_table(df, "att", "left", thresholds=[0.75])
    assert t.attrs["n_missing_score"] == 2
    assert t.attrs["n_missing_outcome"] == 2
    assert t.attrs["n_missing_both"] == 1
    assert t.attrs["n_used"] == 10
    assert t["flagged"].iloc[0] == 4


def test_outcome_must_be_boolean_or_01(ten):
    bad = ten.assign(left=["maybe"] * 5 + ["no"] * 5)
    with pytest.raises(DataError, match=r"column 'left'.*'maybe'"):
        risk.threshold_table(bad, "att", "left")
    # an export's Y/N (or yes/no, any case) is read as import reads it
    words = ten.assign(left=[{1: " Yes", 0: "N"}[v] for v in OUTCOME])
    assert risk.threshold_table(words, "att", "left", thresholds=[0.75])["tp"].iloc[0] == 3
    with pytest.raises(DataError, match=r"column 'left'.*2"):
        risk.threshold_table(ten.assign(left=[0, 1, 2, 0, 0, 0, 0, 0, 0, 0]), "att", "left")
    ok = risk.threshold_table(ten.assign(left=OUTCOME), "att", "left", thresholds=[0.75])
    assert ok["tp"].iloc[0] == 3


def test_missing_column_and_text_score(ten):
    with pytest.raises(DataError, match="column 'attendance'"):
        risk.threshold_table(ten, "attendance", "left")
    with pytest.raises(DataError, match="column 'left2'"):
        risk.threshold_table(ten, "att", "left2")
    with pytest.raises(DataError, match=r"column 'att'.*'high'"):
        risk.threshold_table(ten.assign(att=["high"] * 10), "att", "left")
    with pytest.raises(DataError, match="direction"):
        risk.threshold_table(ten, "att", "left", direction="under")


def test_default_grid_distinct_then_quantiles(ten):
    t = risk.threshold_table(ten, "att", "left")
    assert t["threshold"].tolist() == sorted(set(SCORES))
    rng = np.random.default_rng(0)
    big = pd.DataFrame({"s": rng.random(5000), "y": rng.random(5000) < 0.2})
    tb = risk.threshold_table(big, "s", "y")
    assert len(tb) == 101
    assert tb["threshold"].iloc[0] == big["s"].min() and tb["threshold"].iloc[-1] == big["s"].max()


def test_matches_brute_force_on_random_data():
    rng = np.random.default_rng(5)
    s = np.round(rng.random(300), 2)
    y = rng.random(300) < 0.3
    df = pd.DataFrame({"s": s, "y": y})
    for direction in ("below", "above"):
        t = risk.threshold_table(df, "s", "y", direction)
        for _, r in t.iterrows():
            f = s < r.threshold if direction == "below" else s > r.threshold
            assert r.flagged == f.sum() and r.tp == (f & y).sum() and r.tn == (~f & ~y).sum()


def test_group_table_and_gaps():
    df = pd.DataFrame(
        {
            "s": [1, 2, 3, 4, 1, 2, 3, 4, 5, 6],
            "y": [1, 0, 1, 0, 1, 1, 0, 0, 0, 0],
            "fsm": [True] * 4 + [False] * 6,
        }
    )
    t = risk.threshold_table(df, "s", "y", thresholds=[2.5], by="fsm")
    assert set(t["group"]) == {"True", "False"} and (t["by"] == "fsm").all()
    g_true = t[t["group"] == "True"].iloc[0]
    g_false = t[t["group"] == "False"].iloc[0]
    # fsm: s < 2.5 flags 1, 2 -> tp 1 of 2 positives; flag rate 2/4
    assert (g_true.flagged, g_true.tp, g_true.n_pos) == (2, 1, 2)
    assert g_true.flag_rate == 0.5 and g_true.sensitivity == 0.5
    # non-fsm: flags 1, 2 -> both positive; flag rate 2/6, sensitivity 1
    assert g_false.flag_rate == pytest.approx(2 / 6) and g_false.sensitivity == 1.0
    assert g_true.flag_rate_gap == pytest.approx(0.5 - 2 / 6)
    assert g_true.sensitivity_gap == pytest.approx(0.5)
    # differences from the whole population: flag rate 4/10, sensitivity 3/4
    assert g_true.flag_rate_diff == pytest.approx(0.5 - 0.4)
    assert g_false.sensitivity_diff == pytest.approx(1 - 0.75)
    # an explicit reference group
    t2 = risk.threshold_table(df, "s", "y", thresholds=[2.5], by="fsm", reference={"fsm": "False"})
    assert t2[t2["group"] == "True"]["sensitivity_diff"].iloc[0] == pytest.approx(-0.5)
    gaps = risk.group_gaps(t)
    assert gaps["flag_rate_max_group"].iloc[0] == "True"
    assert gaps["sensitivity_min_group"].iloc[0] == "True"
    assert gaps["sensitivity_gap"].iloc[0] == pytest.approx(0.5)


def test_group_missing_values_form_a_group_and_several_by_columns():
    df = pd.DataFrame(
        {
            "s": [1.0, 2, 3, 4, np.nan, 6],
            "y": [1, 0, 1, 0, 1, 0],
            "sex": ["F", "M", None, "F", "M", "M"],
            "sen": [True, False, False, False, True, False],
        }
    )
    t = risk.threshold_table(df, "s", "y", thresholds=[3.5], by=["sex", "sen"])
    assert set(t["by"]) == {"sex", "sen"}
    sex = t[t["by"] == "sex"].set_index("group")
    assert set(sex.index) == {"F", "M", "(missing)"}
    assert sex.loc["M", "n_missing"] == 1 and sex.loc["M", "n"] == 2
    assert sex["n"].sum() + sex["n_missing"].sum() == len(df)


def test_count_score_combined_rule():
    df = pd.DataFrame(
        {
            "att": [0.80, 0.95, 0.85, 0.99, np.nan],
            "incidents": [3, 0, 1, 0, 2],
            "left": [True, False, True, False, True],
        }
    )
    conds = {"low_att": ("att", "<", 0.9), "behaviour": ("incidents", ">=", 1)}
    c = risk.count_score(df, conds)
    assert c.tolist()[:4] == [2.0, 0.0, 2.0, 0.0] and np.isnan(c.iloc[4])
    assert risk.count_score(df, conds, missing="false").iloc[4] == 1.0
    df["count"] = c
    t = risk.threshold_table(df, "count", "left", "above", thresholds=[1.5])  # count >= 2
    assert t["flagged"].iloc[0] == 2 and t["tp"].iloc[0] == 2
    assert t.attrs["n_missing_score"] == 1
    with pytest.raises(RuleError, match="operator"):
        risk.count_score(df, {"x": ("att", "=<", 0.9)})
    with pytest.raises(DataError, match="column 'nope'"):
        risk.count_score(df, {"x": ("nope", "<", 0.9)})


def test_single_rule_and_model_score_work_too(ten):
    ten["rule"] = ten["att"] < 0.75  # a boolean rule as a score
    t = risk.threshold_table(ten, "rule", "left", "above")
    r = row_at(t, 0.0)  # rule > 0 means the rule fired
    assert (r.flagged, r.tp) == (4, 3)
    ten["p"] = 1 - ten["att"]  # a model's probability
    tp = risk.threshold_table(ten, "p", "left", "above", thresholds=[0.25])
    assert tp["flagged"].iloc[0] == 4 and tp["tp"].iloc[0] == 3


# --------------------------------------------------------------------------- bad input (fuzzing)

SIX = pd.DataFrame({"s": [.1, .2, .3, .4, .5, .6], "y": [1, 0, 1, 0, 0, 1],
                    "g": ["x", np.nan, "a", "a", "b", "b"]})


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"thresholds": ["abc"]}, "thresholds must be numbers .* found 'abc'"),
    ({"thresholds": [0.3, True]}, "found True"),
    ({"thresholds": [np.nan]}, "found nan"),
    ({"thresholds": []}, "thresholds is empty"),
    ({"protect": "10"}, "protect must be a whole number"),
    ({"protect": float("nan")}, "protect must be a whole number"),
    ({"protect": 0}, "protect=0 is out of range"),
])
def test_threshold_table_arguments_are_validated(kwargs, message):
    with pytest.raises(SrmsimError, match=message):
        risk.threshold_table(SIX, "s", "y", **kwargs)


def test_infinite_thresholds_still_mean_everyone_or_nobody():
    t = risk.threshold_table(SIX, "s", "y", thresholds=[np.inf, -np.inf])
    assert t["flagged"].tolist() == [0, 6]


def test_no_complete_rows_is_an_error_with_or_without_protection():
    for protect in (None, 10):
        with pytest.raises(DataError, match="no rows with both a score and an outcome"):
            risk.threshold_table(SIX.assign(s=np.nan), "s", "y", protect=protect)


def test_a_real_group_named_like_the_missing_marker_is_refused():
    table = risk.threshold_table(SIX, "s", "y", thresholds=[0.35], by="g")
    assert table.set_index("group")["n"].to_dict() == {"(missing)": 1, "a": 2, "b": 2, "x": 1}
    with pytest.raises(DataError, match="'\\(missing\\)' .* label srmsim.risk gives to missing"):
        risk.threshold_table(SIX.assign(g=["(missing)", *SIX["g"][1:]]), "s", "y", by="g")


@pytest.mark.parametrize(("scores", "message"), [
    ([1j, 2j, 3j, 4j, 5j, 6j], "complex numbers"),
    (pd.Series([1j, 2j, 3j, 4j, 5j, 6j], dtype=object), "complex numbers"),
    (pd.date_range("2020", periods=6), "datetime64"),
    (pd.date_range("2020", periods=6, tz="UTC"), "datetime64"),
    (pd.to_timedelta(range(6), unit="D"), "timedelta64"),
])
def test_non_real_scores_are_refused(scores, message):
    with pytest.raises(DataError, match=message):
        risk.threshold_table(SIX.assign(s=scores), "s", "y")


def test_confusion_at_checks_its_arrays():
    with pytest.raises(DataError, match="outcome must be boolean or 0/1"):
        risk.confusion_at(np.array([.1, .2]), np.array([0.0, 2.0]), [0.15], "below")
    with pytest.raises(DataError, match="missing"):
        risk.confusion_at(np.array([.1, np.nan]), np.array([0, 1]), [0.15], "below")
    with pytest.raises(DataError, match="found 'x'"):
        risk.confusion_at(np.array([.1, .2]), np.array([0, 1]), ["x"], "below")
    t = risk.confusion_at(np.array([.1, .2]), np.array([True, False]), [0.3, 0.15], "below")
    assert t["flagged"].tolist() == [2, 1]  # thresholds kept in the order given


def test_rule_conditions_refuse_missing_values_and_text_against_numbers():
    cs = pd.DataFrame({"fsm": [True, False, True], "att": [.85, .97, .5]})
    with pytest.raises(RuleError, match="a missing value"):
        risk.count_score(cs, {"low": ("att", "<", np.nan)})
    with pytest.raises(RuleError, match="a missing value"):
        risk.count_score(cs, {"low": ("att", "==", None)})
    with pytest.raises(RuleError, match="compare it with a number, not the text '0.5'"):
        risk.count_score(cs, {"low": ("att", "==", "0.5")})
    with pytest.raises(RuleError, match="compare it with True or False, not 'yes'"):
        risk.count_score(cs, {"fsm": ("fsm", "==", "yes")})


def test_boolean_columns_compare_with_their_text_labels():
    cs = pd.DataFrame({"fsm": [True, False, True]})
    assert risk.count_score(cs, {"f": ("fsm", "==", "True")}).tolist() == [1.0, 0.0, 1.0]
    assert risk.count_score(cs, {"f": ("fsm", "!=", "True")}).tolist() == [0.0, 1.0, 0.0]
    with_blank = pd.DataFrame({"fsm": [True, None, False]})  # object column of booleans
    assert risk.count_score(with_blank, {"f": ("fsm", "==", "False")}).fillna(-1).tolist() == [
        0.0, -1.0, 1.0]
    text = pd.DataFrame({"sex": ["F", "M", "F"]})  # text columns compare with text as before
    assert risk.count_score(text, {"f": ("sex", "==", "F")}).tolist() == [1.0, 0.0, 1.0]


@pytest.mark.parametrize("dtype", [object, "string"])
def test_text_columns_are_not_ordered_letter_by_letter(dtype):
    """Year groups read as text: "year >= '10'" held for Years 7, 8 and 9 ("7" > "10")."""
    df = pd.DataFrame({"year": pd.Series(["7", "8", "9", "10", "11"], dtype=dtype)})
    for op in ("<", "<=", ">", ">="):
        with pytest.raises(RuleError, match="holds text, which .* letter by letter"):
            risk.count_score(df, {"ks4": ("year", op, "10")})
    assert risk.count_score(df, {"y10": ("year", "==", "10")}).tolist() == [0, 0, 0, 1, 0]
    numbers = df.assign(year=pd.to_numeric(df["year"]))
    assert risk.count_score(numbers, {"ks4": ("year", ">=", 10)}).tolist() == [0, 0, 0, 1, 1]
    # ordered categories and dates compare by their own order, as before
    cats = pd.DataFrame({"band": pd.Categorical(["low", "mid", "high"],
                                                categories=["low", "mid", "high"], ordered=True),
                         "seen": pd.to_datetime(["2025-01-06", "2025-03-03", "2025-05-05"])})
    assert risk.count_score(cats, {"b": ("band", ">=", "mid")}).tolist() == [0, 1, 1]
    assert risk.count_score(cats, {"s": ("seen", "<", "2025-03-01")}).tolist() == [1, 0, 0]


@pytest.mark.parametrize(("values", "dtype", "op", "value", "expected"), [
    ([True, False, None, True], "boolean", "==", True, [1.0, 0.0, None, 1.0]),
    ([0, 2, None, 1], "Int64", ">=", 1, [0.0, 1.0, None, 1.0]),
    ([0.8, 0.95, None, 0.85], "Float64", "<", 0.9, [1.0, 0.0, None, 1.0]),
])
def test_nullable_columns_give_nan_or_not_met_where_missing(values, dtype, op, value, expected):
    """A pandas nullable column with pd.NA raised pandas' own "cannot convert to 'bool'"."""
    df = pd.DataFrame({"c": pd.array(values, dtype=dtype)})
    got = risk.count_score(df, {"k": ("c", op, value)})
    assert got.isna().tolist() == [e is None for e in expected]
    assert got.fillna(-1).tolist() == [-1 if e is None else e for e in expected]
    not_met = risk.count_score(df, {"k": ("c", op, value)}, missing="false")
    assert not_met.tolist() == [0.0 if e is None else e for e in expected]
