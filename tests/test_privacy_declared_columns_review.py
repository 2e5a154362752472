"""suppress_small_counts accounts for every number it prints: a count, a rate, or a label the
caller declares (``label_columns``). With ``count_columns`` or ``rate_columns`` given, other
columns used to pass through as they were, so a mean or an integer column left undeclared
printed a small count back beside its hidden cell."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from srmsim.errors import DataError
from srmsim.privacy import suppress_small_counts, suppression_masks


def schools(urn: bool = False) -> pd.DataFrame:
    """Three schools and a Total: school B has 4 pupils, 3 of them FSM; with ``urn`` their
    school numbers (a label that is a number)."""
    t = pd.DataFrame({"school": ["A", "B", "C", "Total"],
                      "students": [40, 4, 56, 100], "fsm": [12, 3, 15, 30]})
    if urn:
        t.insert(1, "urn", [100234, 100567, 100891, 0])
    return t


def test_an_undeclared_float_beside_rate_columns_is_refused_naming_it() -> None:
    """``minutes_per_pupil`` (minutes of support over the school's pupils) is not in
    ``rate_columns``: printed as it was, 150 minutes / 37.5 gives B's 4 pupils, hidden as c."""
    t = schools()
    t["fsm_pct"] = 100 * t["fsm"] / t["students"]
    t["minutes_per_pupil"] = 150 / t["students"]
    with pytest.raises(DataError) as err:
        suppress_small_counts(t, rate_columns={"fsm_pct": ["fsm", "students"]})
    msg = str(err.value)
    assert "'minutes_per_pupil'" in msg and "rate_columns" in msg and "label_columns" in msg
    assert "fsm_pct" not in msg  # only the undeclared column is named
    # declared as a rate of the pupils, B's becomes low
    out = suppress_small_counts(t, rate_columns={"fsm_pct": ["fsm", "students"],
                                                 "minutes_per_pupil": ["students"]})
    assert out["students"].tolist()[1] == "c" and out["minutes_per_pupil"].tolist()[1] == "low"


def test_an_integer_column_left_out_of_count_columns_is_refused_naming_it() -> None:
    """``fsm`` is a count the caller forgot: printed as it was, B's 3 FSM pupils showed."""
    t = schools()
    with pytest.raises(DataError) as err:
        suppress_small_counts(t, count_columns=["students"])
    msg = str(err.value)
    assert "['fsm']" in msg and "count_columns" in msg and "label_columns" in msg
    # several are named together
    with pytest.raises(DataError, match=r"\['urn', 'fsm'\]"):
        suppress_small_counts(schools(urn=True), count_columns=["students"])


@pytest.mark.parametrize("column", [
    pd.Series([True, False, True, False]),                  # a flag: a count of 0 or 1
    pd.Series([12, 3, 15, 30], dtype=object),               # numbers held as Python objects
    pd.Series([12, 3, 15, "(all)"], dtype=object),          # ... beside text
    pd.Series([12.0, 3.0, 15.0, 30.0], dtype="Float64"),    # a nullable float
])
def test_every_kind_of_number_needs_a_declaration(column: pd.Series) -> None:
    t = schools()
    t["extra"] = column
    with pytest.raises(DataError, match="'extra'"):
        suppress_small_counts(t, count_columns=["students", "fsm"])
    out = suppress_small_counts(t, count_columns=["students", "fsm"], label_columns=["extra"])
    assert out["extra"].tolist() == column.tolist()


def test_declared_labels_are_printed_as_they_are_and_counts_protected() -> None:
    """A school number and a year group are labels, not counts: printed unchanged, not hidden
    as small counts (year 7 is no count of 7 pupils), with explicit counts or the defaults."""
    t = schools(urn=True)
    t["year"] = [7, 7, 7, 0]
    for kwargs in ({"count_columns": ["students", "fsm"]}, {}):
        out = suppress_small_counts(t, label_columns=["urn", "year"], **kwargs)
        assert out["urn"].tolist() == t["urn"].tolist()
        assert out["year"].tolist() == [7, 7, 7, 0]
        assert out["students"].tolist()[1] == "c" and out["fsm"].tolist()[1] == "c"
    primary, _ = suppression_masks(t, label_columns=["urn", "year"])
    assert list(primary.columns) == ["students", "fsm"]


def test_a_column_declared_twice_or_absent_is_refused() -> None:
    t = schools(urn=True)
    with pytest.raises(DataError, match="both a count and a label"):
        suppress_small_counts(t, count_columns=["students", "fsm"], label_columns=["urn", "fsm"])
    with pytest.raises(DataError, match="'week'.*not in the table"):
        suppress_small_counts(t, label_columns=["urn", "week"])
    with pytest.raises(DataError, match="label_columns 'urn': give a list"):
        suppress_small_counts(t, label_columns="urn")  # not the columns 'u', 'r' and 'n'


def test_the_defaults_are_unchanged() -> None:
    """Nothing declared: every integer column a count and every float one a rate of all the
    row's counts, as before (a regression guard: the defaults were cautious already)."""
    t = pd.DataFrame({"school": ["A", "B", "C"], "students": [120, 7, 45], "pa": [20, 3, 11],
                      "pa_pct": [100 * 20 / 120, 100 * 3 / 7, 100 * 11 / 45]})
    out = suppress_small_counts(t, total_row=None)
    assert out["students"].tolist() == ["120", "c", "45"]
    assert out["pa"].tolist() == ["20", "c", "11"]
    assert out["pa_pct"].tolist() == ["16.7", "low", "24.4"]
    assert out["school"].tolist() == ["A", "B", "C"]


def test_a_numeric_index_is_declared_like_a_column() -> None:
    """The index is printed too: ``set_index("roll")`` put each school's pupils there."""
    t = schools(urn=True).set_index(["school", "urn"])
    with pytest.raises(DataError, match="index level 'urn'.*label_columns"):
        suppress_small_counts(t)
    out = suppress_small_counts(t, label_columns=["urn"])
    assert out["students"].tolist()[1] == "c"
    by_roll = schools().iloc[:3].set_index("students")  # the index holds counts
    with pytest.raises(DataError, match="index level 'students'"):
        suppress_small_counts(by_roll, count_columns=["fsm"])
    unnamed = schools().iloc[:3].set_axis([40, 4, 56])
    with pytest.raises(DataError, match="the index holds numbers"):
        suppress_small_counts(unnamed, total_row=None)
    # row numbers (a default index, or 0, 1, ... kept after filtering the last row) are fine
    rows = schools().iloc[:3].set_axis(pd.Index([0, 1, 2]))
    assert suppress_small_counts(rows, total_row=None)["students"].tolist() == ["40", "c", "56"]


def test_masks_that_miss_a_count_column_are_refused() -> None:
    """Masks audited over other columns gave a KeyError traceback."""
    t = schools()
    masks = suppression_masks(t, ["students"])
    with pytest.raises(DataError, match=r"masks.*\['fsm'\]"):
        suppress_small_counts(t, masks=masks)


def test_threshold_tables_declare_their_labels_and_protect_their_gaps() -> None:
    """``srmsim thresholds`` on real data: the threshold, ``by`` and ``group`` are labels;
    the gap columns of the by-group table (the spread of the groups' rates) are rates, as
    the ``_diff`` columns are, not numbers printed as they are."""
    import sys
    from pathlib import Path

    from srmsim import risk
    from srmsim.commands.thresholds import _Disclosure

    sys.path.insert(0, str(Path(__file__).parent))
    from test_risk_cli import students  # noqa: E402

    df = students()
    grid, _ = risk.protected_grid(df, "attendance_rate", "withdrawn", "below", by=["fsm"])
    by_table = risk.threshold_table(df, "attendance_rate", "withdrawn", "below", grid,
                                    by=["fsm"]).drop(columns="n_missing")
    out = _Disclosure(True, 10).table(by_table)
    assert out["threshold"].tolist() == by_table["threshold"].tolist()
    for gap in ("flag_rate_gap", "sensitivity_gap"):
        assert out[gap].tolist() == [f"{v:.4f}" for v in by_table[gap]]
    overall = risk.threshold_table(df, "attendance_rate", "withdrawn", "below", grid)
    assert _Disclosure(True, 10).table(overall)["threshold"].tolist() == \
        overall["threshold"].tolist()
    assert np.isfinite(by_table["flag_rate_gap"]).all()


def test_count_columns_given_as_one_string_is_refused_not_read_letter_by_letter() -> None:
    """``count_columns="ab"`` was read as the columns ``a`` and ``b``: with such columns in the
    table, the wrong ones were protected and ``ab`` printed as it is."""
    table = pd.DataFrame({"group": ["x", "y"], "ab": [3, 40], "a": [1, 2], "b": [5, 6]})
    for call in (lambda: suppress_small_counts(table, count_columns="ab"),
                 lambda: suppression_masks(table, count_columns="ab")):
        with pytest.raises(DataError, match="count_columns 'ab': give a list"):
            call()
    shown = suppress_small_counts(table, count_columns=["ab", "a", "b"])
    assert shown["ab"].tolist()[0] == "c"
