"""``threshold_table(..., by=...)`` counts every group at once; each group's rows must still be
counted as ``confusion_at`` counts them on that group alone. (Scores are finite: the table
refuses others; thresholds may be infinite.)

The by-group table was one ``confusion_at`` a group, with every row's label compared with each
group's (8 s for 2,000 schools at 400k pupils; ``benchmarks/thresholds.py``). It is now one sort
of (group, score rank) keys: these tests hold it to the plain per-group count on ties, signed
zeros, missing values, groups with no complete row, both directions, and thresholds between,
on and beyond the scores.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from srmsim.errors import DataError
from srmsim.risk import confusion_at, threshold_table
from srmsim.risk._columns import group_labels, group_numbers, group_order
from srmsim.risk.thresholds import left_out_problem


def _per_group(df: pd.DataFrame, col: str, thresholds: np.ndarray,
               direction: str) -> pd.DataFrame:
    """The by-group rows the slow way: each group's complete rows counted on their own."""
    labels = group_labels(df, col)
    rows_of = pd.Series(np.arange(len(df))).groupby(labels).indices  # label -> its rows
    parts = []
    for g in group_order(labels):
        mine = df.iloc[rows_of[g]]
        complete = mine.dropna(subset=["s", "y"])
        part = confusion_at(complete["s"].to_numpy(), complete["y"].to_numpy(), thresholds,
                            direction)
        parts.append(part.assign(by=col, group=g, n_missing=len(mine) - len(complete)))
    return pd.concat(parts, ignore_index=True)


def _frame(seed: int, n: int, kind: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    if kind == "ties":
        s = rng.integers(0, 6, n).astype(float)
    elif kind == "signed zeros":
        s = np.round(rng.normal(size=n), 1)
        s[rng.random(n) < 0.1] = -0.0
        s[rng.random(n) < 0.1] = 0.0
    else:
        s = rng.random(n)
    s[rng.random(n) < 0.05] = np.nan
    y = (rng.random(n) < 0.3).astype(float)
    y[rng.random(n) < 0.05] = np.nan
    school = rng.integers(0, 40, n)
    return pd.DataFrame({"s": s, "y": y, "school": school,
                         "label": rng.choice(np.array(["a", "b", "10", "2", None], dtype=object), n)})


@pytest.mark.parametrize("kind", ["continuous", "ties", "signed zeros"])
@pytest.mark.parametrize("direction", ["below", "above"])
@pytest.mark.parametrize("thresholds", [None, [-np.inf, -0.0, 0.0, 0.3, 0.3, 2.0, 5.0, np.inf]])
def test_each_group_is_counted_as_on_its_own(kind: str, direction: str,
                                             thresholds: list[float] | None) -> None:
    df = _frame(7, 1500, kind)
    table = threshold_table(df, "s", "y", direction, thresholds, by=["school", "label"])
    for col in ("school", "label"):
        mine = table[table["by"] == col].reset_index(drop=True)
        t = pd.unique(mine["threshold"])  # (the given ones sorted, repeats made one)
        expected = _per_group(df, col, t, direction)
        assert_frame_equal(mine[expected.columns], expected, check_exact=True)


def test_a_group_whose_rows_all_miss_a_value_has_empty_counts() -> None:
    df = pd.DataFrame({"s": [0.1, 0.2, np.nan, 0.4, 0.5], "y": [1.0, 0.0, 1.0, np.nan, 0.0],
                       "school": ["A", "A", "B", "B", "C"]})
    table = threshold_table(df, "s", "y", "below", [0.15, 0.45], by="school")
    b = table[table["group"] == "B"]
    assert b["n"].tolist() == [0, 0] and b["n_missing"].tolist() == [2, 2]
    assert b["flagged"].tolist() == [0, 0] and b["sensitivity"].isna().all()
    a = table[table["group"] == "A"]
    assert a["flagged"].tolist() == [1, 2] and a["tp"].tolist() == [1, 1]
    c = table[table["group"] == "C"]
    assert c["flagged"].tolist() == [0, 0] and c["tn"].tolist() == [1, 1]


def test_many_groups_of_one_row_each() -> None:
    """Every row its own group: the keys of neighbouring groups must never mix."""
    rng = np.random.default_rng(3)
    n = 400
    df = pd.DataFrame({"s": rng.integers(0, 3, n).astype(float), "y": rng.random(n) < 0.5,
                       "pupil": np.arange(n)})
    for direction in ("below", "above"):
        table = threshold_table(df, "s", "y", direction, [0.0, 0.5, 1.0, 2.0, 3.0], by="pupil")
        expected = _per_group(df.assign(y=df["y"].astype(float)), "pupil",
                              np.array([0.0, 0.5, 1.0, 2.0, 3.0]), direction)
        assert_frame_equal(table[expected.columns], expected, check_exact=True)
        flags = table.pivot(index="group", columns="threshold", values="flagged")
        s = df.set_index(df["pupil"].astype(str))["s"]
        for t in flags.columns:
            hit = (s < t) if direction == "below" else (s > t)
            assert (flags[t] == hit.reindex(flags.index).astype(int)).all()


def _first_small_by_hand(df: pd.DataFrame, by: list[str], min_count: int) -> tuple[str, str] | None:
    """(where, which rows) of the first unit whose left-out rows number 1 to min_count - 1:
    the whole file, then each column's groups in reading order; counted with pandas."""
    left = df["s"].isna() | df["y"].isna()
    kinds = {"are missing": left, "have": left & (df["y"] == 1),
             "do not have": left & (df["y"] != 1)}
    units = [("", pd.Series("", index=df.index))]
    units += [(col, pd.Series(group_labels(df, col), index=df.index)) for col in by]
    for col, labels in units:
        for g in group_order(labels.to_numpy()) if col else [""]:
            for kind, rows in kinds.items():
                k = int((rows & (labels == g)).sum())
                if 0 < k < min_count:
                    return (f" in group '{g}' of '{col}'" if col else "", kind)
    return None


@pytest.mark.parametrize("seed", range(6))
def test_the_left_out_rows_refused_are_those_of_the_first_small_group(seed: int) -> None:
    """``left_out_problem`` counts every group at once; it must name the same unit and rows
    as counting them one group at a time would (a unit's 'missing' rows first)."""
    rng = np.random.default_rng(seed)
    n = 3000
    s = rng.random(n)
    s[rng.random(n) < 0.04] = np.nan
    y = (rng.random(n) < 0.4).astype(float)
    y[rng.random(n) < 0.02] = np.nan
    df = pd.DataFrame({"s": s, "y": y, "school": rng.integers(0, 12, n),
                       "label": rng.choice(np.array(["a", "b", "10", "2", None], dtype=object), n)})
    for by, min_count in ((["school"], 10), (["label", "school"], 30), (["school"], 60)):
        problem = left_out_problem(df, "s", "y", by, min_count)
        expected = _first_small_by_hand(df, by, min_count)
        if expected is None:
            assert problem is None
            continue
        where, kind = expected
        assert problem is not None and problem.startswith(f"fewer than {min_count} rows{where} ")
        head = problem.split(":")[0]
        assert (" are missing " in head) == (kind == "are missing")
        assert (" have 'y'" in head and " do not " not in head) == (kind == "have")
        assert (" do not have " in head) == (kind == "do not have")


@pytest.mark.parametrize(("target", "missing", "positive", "kind"), [
    (0, 3, 1, "are missing"), (7, 12, 5, "have"), (11, 12, 10, "do not have"),
    (4, 12, 12, None)])
def test_the_refused_group_is_the_one_with_too_few_left_out_rows(
        target: int, missing: int, positive: int, kind: str | None) -> None:
    """Twelve schools of 200 pupils: school 3 has 20 rows without a score (10 of them with the
    outcome), ``target`` has ``missing`` (``positive`` with it), the rest none. Only the
    target's rows can make a count from 1 to 9."""
    rows = []
    for school in range(12):
        lost = {3: (20, 10), target: (missing, positive)}.get(school, (0, 0))
        for i in range(200):
            gone = i < lost[0]
            rows.append({"school": f"S{school}", "s": np.nan if gone else 0.5 + i / 1000,
                         "y": 1.0 if (i < lost[1] if gone else i % 3 == 0) else 0.0})
    df = pd.DataFrame(rows)
    problem = left_out_problem(df, "s", "y", "school", 10)
    if kind is None:  # 12 missing, all 12 with the outcome: counts of 12, 12 and 0
        assert problem is None
        return
    assert problem is not None
    head = problem.split(":")[0]
    assert head.startswith(f"fewer than 10 rows in group 'S{target}' of 'school' "), head
    assert head.endswith({"are missing": "are missing 's' or 'y'", "have": "missing 's' have 'y'",
                          "do not have": "do not have 'y'"}[kind]), head


def _columns(n: int) -> dict[str, pd.Series]:
    rng = np.random.default_rng(4)
    gaps = rng.random(n) < 0.1
    return {
        "int64": pd.Series(rng.integers(-5, 30, n)),
        "uint8": pd.Series(rng.integers(0, 255, n).astype(np.uint8)),
        "bool": pd.Series(rng.random(n) < 0.5),
        "Int64": pd.Series(pd.array(np.where(gaps, None, rng.integers(0, 9, n)), dtype="Int64")),
        "boolean": pd.Series(pd.array(np.where(gaps, None, rng.random(n) < 0.5),
                                      dtype="boolean")),
        "str": pd.Series(np.where(gaps, None, rng.choice(["a", "b", "10", "2", "ü", ""], n)),
                         dtype="str"),
        "string": pd.Series(np.where(gaps, None, rng.choice(["a", "a long label"], n)),
                            dtype="string"),
        "float": pd.Series(np.where(rng.random(n) < 0.5, -0.0, 1.5)),  # row by row
    }


@pytest.mark.parametrize("kind", list(_columns(1)))
def test_group_labels_read_each_row_as_its_own_text(kind: str) -> None:
    """Whole numbers, true/false and text are made text once per distinct value; every row
    must read as it would alone (missing rows as '(missing)'), width of the text included."""
    s = _columns(400)[kind]
    labels = group_labels(pd.DataFrame({"g": s}), "g")
    by_row = s.astype(str).str.replace("-0.0", "0.0").to_numpy(dtype=object)  # row by row
    by_row[s.isna().to_numpy()] = "(missing)"
    by_row = by_row.astype(str)
    assert labels.dtype == by_row.dtype and np.array_equal(labels, by_row)
    if kind in ("bool", "boolean"):
        assert set(labels) <= {"True", "False", "(missing)"}
    if kind == "float":  # -0.0 is 0.0 (test_minus_zero_and_zero_are_one_group)
        assert set(labels) == {"0.0", "1.5"}


@pytest.mark.parametrize("dtype", ["str", "string", "object"])
def test_a_real_group_named_like_the_missing_rows_is_refused_naming_its_first_row(
        dtype: str) -> None:
    s = pd.Series(["a", None, "b", "(missing)", "(missing)"], dtype=dtype,
                  index=[10, 11, 12, 13, 14])
    with pytest.raises(DataError, match=r"the value '\(missing\)' \(row 13\)"):
        group_labels(pd.DataFrame({"g": s}), "g")


@pytest.mark.parametrize("dtype", ["float64", "Float64", "object"])
def test_minus_zero_and_zero_are_one_group(dtype: str) -> None:
    """A float group column holding 0.0 and -0.0 (``np.round`` of small negative numbers) made
    two groups, "0.0" and "-0.0", with fairness gaps between a group and itself."""
    rng = np.random.default_rng(8)
    n = 400
    df = pd.DataFrame({"s": rng.normal(size=n), "y": rng.random(n) < 0.3})
    g = np.where(np.arange(n) % 2 == 0, -0.0, 0.0)
    g[:100] = 1.0
    df["g"] = pd.Series(g, dtype=dtype) if dtype != "object" else pd.Series(list(g), dtype=object)
    table = threshold_table(df, "s", "y", by="g", thresholds=[0.0])
    assert table["group"].tolist() == ["0.0", "1.0"]
    assert table["n"].tolist() == [300, 100]
    assert set(group_labels(df, "g")) == {"0.0", "1.0"}


@pytest.mark.parametrize("values", [
    ["b", "a", None, "10", "2", "a"],
    [3, 1, 2, 3, 10],
    [1.5, -0.0, 0.0, np.nan, 2.0],
    [True, False, True],
    pd.array([1, None, 3], dtype="Int64"),
    pd.array(["x", None, "y", "x"], dtype="string"),
    pd.Series(["b", None, "a", "b"], dtype=object),  # text made row by row
    pd.Series([0.5, -0.0, 0.0, None], dtype=object),
])
def test_group_numbers_are_the_places_of_the_labels_in_their_order(values) -> None:
    """group_numbers (made from the distinct values) numbers each row as its label's place in
    group_order of group_labels, the row-by-row way."""
    df = pd.DataFrame({"g": values})
    labels = group_labels(df, "g")
    groups = group_order(labels)
    numbers, found = group_numbers(df, "g")
    assert found == groups
    assert [groups[i] for i in numbers] == list(labels)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("direction", ["below", "above"])
def test_flag_counts_are_the_plain_comparisons(seed, direction) -> None:
    """_flag_counts (no sort of the rows) gives each group's size and, per threshold, the rows
    with score < t (or > t) counted one by one: ties, signed zeros, infinite, repeated and
    unsorted thresholds, empty and one-row groups."""
    from srmsim.risk.thresholds import _flag_counts

    rng = np.random.default_rng(seed)
    n, n_groups = int(rng.integers(0, 300)), int(rng.integers(1, 12))
    score = np.round(rng.normal(size=n), 1)
    score[rng.random(n) < 0.1] = -0.0
    group = rng.integers(0, n_groups, n)
    t = np.concatenate([rng.choice(np.r_[score, 0.0, -0.0], 6), np.round(rng.normal(size=4), 1),
                        [np.inf, -np.inf, 0.0]])
    rng.shuffle(t)
    sizes, flagged = _flag_counts(score, t, direction, group, n_groups)
    flags = score[:, None] < t[None, :] if direction == "below" else score[:, None] > t[None, :]
    for g in range(n_groups):
        mine = group == g
        assert sizes[g] == mine.sum()
        assert flagged[g].tolist() == flags[mine].sum(axis=0).tolist()
    one_size, one = _flag_counts(score, t, direction)
    assert one_size.tolist() == [n] and one[0].tolist() == flags.sum(axis=0).tolist()
