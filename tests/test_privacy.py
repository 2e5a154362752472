"""Keyed pseudonyms and small-count suppression (srmsim.privacy)."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srmsim.errors import DataError
from srmsim.privacy import (
    Symbols,
    key_id,
    load_key,
    parse_symbols,
    pseudonymise,
    suppress_small_counts,
    suppression_masks,
)

KEY = b"0123456789abcdef-trust-key"
OTHER = b"fedcba9876543210-other-key"


def test_pseudonym_is_documented_hmac() -> None:
    expected = hmac.new(KEY, b"student\x1fP1001", hashlib.sha256).hexdigest()[:16]
    assert pseudonymise(["P1001"], KEY, "student")[0] == expected


def test_pseudonyms_stable_under_one_key_differ_under_another() -> None:
    ids = [f"P{i}" for i in range(500)]
    a = pseudonymise(ids, KEY, "student")
    assert np.array_equal(a, pseudonymise(ids, KEY, "student"))
    b = pseudonymise(ids, OTHER, "student")
    assert not set(a) & set(b)
    assert len(set(a)) == 500 and all(len(p) == 16 for p in a)
    assert all(int(p, 16) >= 0 for p in a)  # hex
    # the label separates kinds of id
    assert not set(a) & set(pseudonymise(ids, KEY, "school"))


def test_series_keeps_index_and_missing_and_canonicalises_ids() -> None:
    s = pd.Series(["1001", None, " 1001 ", "7"], index=[10, 11, 12, 13], dtype="str")
    out = pseudonymise(s, KEY, "student")
    assert list(out.index) == [10, 11, 12, 13] and out.isna().tolist() == [False, True, False,
                                                                          False]
    assert out[10] == out[12] == pseudonymise([1001], KEY, "student")[0]
    assert pseudonymise([1001.0], KEY, "student")[0] == out[10]
    with pytest.raises(DataError, match="missing value"):
        pseudonymise(["a", None], KEY, "student")


def test_keys_must_be_long_enough() -> None:
    with pytest.raises(DataError, match="at least 16 bytes"):
        pseudonymise(["a"], b"short", "student")
    with pytest.raises(DataError, match="label"):
        pseudonymise(["a"], KEY, "")


def test_load_key_from_file_and_env(tmp_path: Path, monkeypatch) -> None:
    f = tmp_path / "k"
    f.write_bytes(KEY + b"\n")
    assert load_key(file=f) == KEY
    monkeypatch.setenv("SRMSIM_TEST_KEY", KEY.decode())
    assert load_key(env="SRMSIM_TEST_KEY") == KEY
    with pytest.raises(DataError, match="exactly one"):
        load_key(file=f, env="SRMSIM_TEST_KEY")
    with pytest.raises(DataError, match="exactly one"):
        load_key()
    with pytest.raises(DataError, match="SRMSIM_NOT_SET is not set"):
        load_key(env="SRMSIM_NOT_SET")
    with pytest.raises(DataError, match="not found"):
        load_key(file=tmp_path / "missing")
    f.write_bytes(b"tooshort\n")
    with pytest.raises(DataError, match=r"key file .*: the key is 8 bytes; at least 16"):
        load_key(file=f)
    f.write_bytes(b"")
    with pytest.raises(DataError, match="0 bytes"):
        load_key(file=f)


def test_key_id_is_a_fingerprint_not_the_key() -> None:
    assert key_id(KEY) == key_id(KEY) != key_id(OTHER)
    assert KEY.hex()[:12] != key_id(KEY) and len(key_id(KEY)) == 12


# ---------------------------------------------------------------------------------------------
# suppression


def test_primary_suppression_and_formatting() -> None:
    t = pd.DataFrame({"school": ["A", "B", "C"], "students": [120, 7, 45], "pa": [20, 3, 0],
                      "pa_pct": [16.667, 42.857, 0.0]})
    out = suppress_small_counts(t)
    assert out["students"].tolist() == ["120", "c", "45"]
    assert out["pa"].tolist() == ["20", "c", "c"]  # zero is suppressed too by default
    assert out["pa_pct"].tolist() == ["16.7", "low", "low"]
    assert out["school"].tolist() == ["A", "B", "C"]
    assert out.attrs["suppression"]["primary"] == 3
    keep0 = suppress_small_counts(t, suppress_zeros=False)
    assert keep0["pa"].tolist() == ["20", "c", "0"]


def test_secondary_suppression_with_total_row() -> None:
    t = pd.DataFrame({"school": ["A", "B", "C", "Total"], "pa": [25, 4, 40, 69],
                      "pupils": [200, 80, 300, 580]})
    t["pa_pct"] = 100 * t["pa"] / t["pupils"]
    out = suppress_small_counts(t, rate_columns={"pa_pct": ["pa", "pupils"]})
    # B is small; the smallest other cell (A) goes too, so 69 - 40 gives only A + B
    assert out["pa"].tolist() == ["c", "c", "40", "69"]
    assert out["pa_pct"].tolist() == ["low", "low", "13.3", "11.9"]
    assert out["pupils"].tolist() == ["200", "80", "300", "580"]
    assert out.attrs["suppression"]["secondary"] == 1


def test_a_rate_does_not_tell_a_small_hidden_count_from_a_large_one() -> None:
    """A's 10 was hidden to protect B's 4 and its rate printed ``x``, B's ``low``: a rate
    told which hidden count is under 10, so A + B = 14 with A at least 10 put B at 0 to 4.
    Now the two hidden rows print the same, and B can be anything from 0 to 14."""
    t = pd.DataFrame({"school": ["A", "B", "C", "Total"], "pa": [10, 4, 40, 54],
                      "pupils": [200, 80, 300, 580]})
    t["pa_pct"] = 100 * t["pa"] / t["pupils"]
    out = suppress_small_counts(t, rate_columns={"pa_pct": ["pa", "pupils"]})
    assert out["pa"].tolist() == ["c", "c", "40", "54"]
    printed = out.drop(columns=["school", "pupils"])
    assert printed.iloc[0].tolist() == printed.iloc[1].tolist()  # nothing tells A from B
    # what an attacker keeps of B: every b with A = 14 - b where A's and B's printed symbols
    # do not rule it out (a symbol seen only beside small counts marks A as small too)
    small = {s for s, v in zip(out["pa_pct"], t["pa"], strict=True) if v < 10}
    large = {s for s, v, h in zip(out["pa_pct"], t["pa"], out["pa"], strict=True)
             if v >= 10 and h == "c"}
    told = small.isdisjoint(large)  # the symbol of a hidden count says which kind it is
    b_range = [b for b in range(15) if not (told and 14 - b < 10)]
    assert max(b_range) - min(b_range) >= 10


def test_secondary_suppression_with_total_column_and_index_total() -> None:
    t = pd.DataFrame({"fsm": [3, 40, 43], "not_fsm": [50, 60, 110], "total": [53, 100, 153]},
                     index=["Year 7", "Year 8", "All"])
    prim, sec = suppression_masks(t)
    assert prim.to_numpy().sum() == 1 and prim.loc["Year 7", "fsm"]
    out = suppress_small_counts(t)
    # row Year 7: 3 hidden -> 50 hidden; column fsm: 3 hidden -> 40 hidden; column not_fsm:
    # 50 hidden -> 60 hidden; row Year 8: 40 and 60 hidden -> fine
    assert out.loc["Year 7"].tolist() == ["c", "c", "53"]
    assert out.loc["Year 8"].tolist() == ["c", "c", "100"]
    assert out.loc["All"].tolist() == ["43", "110", "153"]


def test_no_totals_no_secondary() -> None:
    t = pd.DataFrame({"g": ["a", "b"], "n": [3, 30]})
    _, sec = suppression_masks(t)
    assert not sec.to_numpy().any()


def test_missing_counts_and_custom_symbols() -> None:
    t = pd.DataFrame({"n": pd.array([30, None, 2], dtype="Int64"), "rate": [0.5, np.nan, 0.1]})
    out = suppress_small_counts(t, symbols=Symbols("*", "~", "-"), threshold=5)
    assert out["n"].tolist() == ["30", "-", "*"]
    assert out["rate"].tolist() == ["0.5", "-", "~"]
    assert parse_symbols("c,low,x") == Symbols()
    out2 = suppress_small_counts(t, symbols={"confidential": "[c]"}, threshold=5)
    assert out2["n"].tolist() == ["30", "x", "[c]"]
    with pytest.raises(DataError):
        parse_symbols("c,low")


def test_bad_arguments_name_the_column() -> None:
    t = pd.DataFrame({"n": [1, 2]})
    with pytest.raises(DataError, match=r"count column \['m'\] is not in the table"):
        suppress_small_counts(t, count_columns=["m"])
    with pytest.raises(DataError, match="rate column 'r'"):
        suppress_small_counts(t, rate_columns={"r": "n"})
    with pytest.raises(DataError, match="total_row 'Total'"):
        suppress_small_counts(t, total_row="Total")


def test_a_count_stored_as_float_is_not_printed_as_a_rate() -> None:
    """A count with a missing value is a float column: taken as a rate by default, its 3 was
    printed beside counts of at least 10. A float column of whole numbers must now be named;
    named as a count, its 3 is hidden."""
    t = pd.DataFrame({"school": ["A", "B", "C"], "pupils": [120, 30, 45],
                      "excluded": [3.0, 40.0, np.nan]})
    with pytest.raises(DataError, match="float column 'excluded' holds only whole numbers"):
        suppress_small_counts(t, total_row=None)
    out = suppress_small_counts(t, count_columns=["pupils", "excluded"], total_row=None)
    assert out["excluded"].tolist() == ["c", "40", "x"]
    # a real rate is still a rate by default, and an all-missing float column prints x
    t["pct"], t["none"] = [2.5, 33.3, np.nan], np.nan
    out = suppress_small_counts(t.drop(columns="excluded"), total_row=None)
    assert out["pct"].tolist() == ["2.5", "33.3", "x"] and out["none"].tolist() == ["x"] * 3


def test_numbers_held_as_objects_are_not_taken_for_labels() -> None:
    """A count column of Python objects (a column once mixed with text) is not an integer
    column: by default it was passed through as a label, its 4 printed."""
    t = pd.DataFrame({"school": ["A", "B"], "pupils": pd.Series([4, 30], dtype=object)})
    with pytest.raises(DataError, match="column 'pupils' holds numbers as Python objects"):
        suppress_small_counts(t, total_row=None)
    out = suppress_small_counts(t, count_columns=["pupils"], total_row=None)
    assert out["pupils"].tolist() == ["c", "30"]


@pytest.mark.parametrize(("value", "shown"), [(12.5, "12.5"), (np.inf, "inf"), (-4, "-4"),
                                              (-np.inf, "-inf")])
def test_a_count_that_is_no_count_is_refused_naming_the_cell(value, shown) -> None:
    """12.5 printed as 12 (int() truncates), infinity raised OverflowError from int(), -4 was
    hidden as if small: each is a wrong input, refused with its column and row."""
    t = pd.DataFrame({"n": [30.0, value, 25.0]}, index=["A", "B", "C"])
    for call in (suppress_small_counts, suppression_masks):
        with pytest.raises(DataError, match=rf"count column 'n', row 'B': {shown} is not a count"):
            call(t, count_columns=["n"], total_row=None)


@pytest.mark.parametrize("text", ["5,low,x", "c,low,0.5", "nan,low,x", "c,c,x", "c,lo\nw,x"])
def test_suppression_symbols_never_look_like_values(text):
    """--symbols 5,low,x printed every hidden count as '5'; identical symbols say nothing."""
    from srmsim.privacy import parse_symbols

    with pytest.raises(DataError, match="--symbols"):
        parse_symbols(text)
    assert parse_symbols("[c], [low], [x]").confidential == "[c]"


def _random_crossed_table(rng: np.random.Generator, top: int = 25
                          ) -> tuple[np.ndarray, list, list, np.ndarray]:
    """A table with row and column totals, a part-of-whole column (``part <= whole`` in each
    row, like FSM pupils of all pupils) and floors of 1 on some cells: values, equations,
    inequalities, floor."""
    nrow, ncol = int(rng.integers(2, 7)), int(rng.integers(2, 5))
    body = rng.integers(0, top, (nrow, ncol)) * (rng.random((nrow, ncol)) < 0.8)
    body[:, 0] = np.minimum(body[:, 0], body[:, 1])  # column 0 is a part of column 1
    grid = np.zeros((nrow + 1, ncol + 1))
    grid[:nrow, :ncol] = body
    grid[nrow, :] = grid[:nrow].sum(axis=0)
    grid[:, ncol] = grid[:, :ncol].sum(axis=1)
    w = ncol + 1
    eqs = [{**{r * w + c: 1.0 for c in range(ncol)}, r * w + ncol: -1.0} for r in range(nrow + 1)]
    eqs += [{**{r * w + c: 1.0 for r in range(nrow)}, nrow * w + c: -1.0} for c in range(w)]
    ineqs = [{r * w: 1.0, r * w + 1: -1.0} for r in range(nrow + 1)]
    floor = ((grid > 0) & (rng.random(grid.shape) < 0.3)).astype(float).ravel()
    return grid.ravel(), eqs, ineqs, floor


@pytest.mark.parametrize("seed", range(16))
def test_ranges_seen_wide_are_inside_the_exact_ones_and_narrow_ones_are_exact(seed) -> None:
    """``feasible_ranges(enough=T)`` skips solving for cells seen at least T wide (and scouts
    for such points first): their range is then inside the exact one and still T wide; every
    narrower cell's range is exact, so the audit's question ("narrower than T?") gets the same
    answer. The exact reference solves every end as an integer programme (``relax=False``);
    the linear relaxation's shortcut must give the same ends."""
    from srmsim.privacy import feasible_ranges

    rng = np.random.default_rng(seed)
    values, eqs, ineqs, floor = _random_crossed_table(rng)
    hidden = rng.random(values.size) < 0.45
    lo, hi = feasible_ranges(values, hidden, eqs, ineqs, floor=floor, relax=False)
    lo1, hi1 = feasible_ranges(values, hidden, eqs, ineqs, floor=floor)
    assert np.array_equal(lo, lo1) and np.array_equal(hi, hi1)  # the relaxation is exact
    seen = (values.copy(), values.copy())
    lo2, hi2 = feasible_ranges(values, hidden, eqs, ineqs, floor=floor, enough=10, seen=seen)
    for c in np.flatnonzero(hidden):
        if hi[c] - lo[c] < 10:
            assert (lo2[c], hi2[c]) == (lo[c], hi[c])
        else:
            assert lo[c] <= lo2[c] <= values[c] <= hi2[c] <= hi[c]
            assert hi2[c] - lo2[c] >= 10
        assert lo[c] <= seen[0][c] <= seen[1][c] <= hi[c]  # only feasible points are kept
    assert np.array_equal(lo[~hidden], lo2[~hidden]) and np.array_equal(hi[~hidden],
                                                                           hi2[~hidden])


@pytest.mark.parametrize("seed", range(10))
def test_audit_shortcuts_hide_the_cells_the_plain_audit_hides(seed, monkeypatch) -> None:
    """Scouting, the relaxation and the points carried from round to round only save integer
    programmes: ``protect_cells`` hides exactly what it hides when every audited end is solved
    as an integer programme (a published table must not change with them)."""
    import srmsim.privacy as privacy

    rng = np.random.default_rng(100 + seed)
    values, eqs, ineqs, floor = _random_crossed_table(rng, top=40)
    primary = (values < 10) & (rng.random(values.size) < 0.9)
    fast = privacy.protect_cells(values, primary, eqs, ineqs, floor=floor)
    exact = privacy.feasible_ranges

    def plain(*a, enough=None, seen=None, relax=True, **k):  # noqa: ARG001
        return exact(*a, relax=False, **k)

    monkeypatch.setattr(privacy, "feasible_ranges", plain)
    assert np.array_equal(fast, privacy.protect_cells(values, primary, eqs, ineqs, floor=floor))


@pytest.mark.parametrize("threshold", [float("nan"), 0, -1, 2.5, True, "10"])
def test_suppress_small_counts_refuses_a_threshold_that_is_no_count(threshold) -> None:
    """NaN, 0, -1, 2.5 and True hid nothing (a count of 5 printed as it is), and '10' met
    numpy's ufunc error: the threshold must be a whole number from 1, as the risk tables'."""
    from srmsim.errors import SrmsimError
    from srmsim.privacy import suppress_small_counts

    table = pd.DataFrame({"g": ["a", "b", "c"], "n": [5, 50, 60]})
    assert suppress_small_counts(table, threshold=10)["n"].tolist() == ["c", "50", "60"]
    with pytest.raises(SrmsimError, match="suppress_small_counts: threshold"):
        suppress_small_counts(table, threshold=threshold)
