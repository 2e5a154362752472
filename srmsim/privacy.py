"""Privacy helpers for real pupil data: keyed pseudonyms and small-count suppression.

**Pseudonyms.** ``pseudonymise(values, key, label)`` is ``HMAC-SHA256(key, label + "\\x1f" +
value)`` as lowercase hex, truncated to 16 characters (64 bits). The same key and label always
give the same pseudonym, so records of one student link across tables and across imports made
with the same key; without the key a pseudonym cannot be reversed or recomputed from a guessed
id (a plain hash could be). The label separates kinds of id, so a school and a student with the
same raw id get different pseudonyms. The key is read from a file or an environment variable
(:func:`load_key`), must be at least 16 bytes, and is never written with the data; only
:func:`key_id`, a one-way fingerprint, is stored so that two datasets can be checked to share a key.

**Small counts.** Every count table srmsim prints or writes from real data goes through
:func:`suppress_small_counts`, whose secondary suppression is decided by an exact audit
(:func:`protect_cells`, :func:`feasible_ranges`): no hidden count below the threshold may be
pinned by the table's identities to a range narrower than the threshold. (Threshold tables are
protected by their grid instead: :mod:`srmsim.risk.protected`.) The symbols follow UK official statistics practice (GSS guidance,
as used on DfE Explore Education Statistics):

- ``c`` -- confidential: a count below the threshold (default 10), or a count suppressed to stop
  a small one being worked out from totals or other identities (secondary suppression);
- ``low`` -- a rate, percentage or mean computed from a suppressed count (primary or
  secondary alike: two symbols would tell the small hidden counts from the large ones);
- ``x`` -- not available / withheld: a value that is missing.

(On Explore Education Statistics ``low`` means "rounds to 0 but is not 0"; srmsim uses it for
rates based on small numbers, which is the case it protects against.) Thresholds and symbols are
configurable.

>>> import pandas as pd
>>> t = pd.DataFrame({"school": ["A", "B", "C"], "students": [120, 7, 45], "pa": [20, 3, 0]})
>>> suppress_small_counts(t, threshold=10)["students"].tolist()
['120', 'c', '45']
"""

from __future__ import annotations

import hashlib
import hmac
import numbers
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from srmsim.errors import DataError
from srmsim.inputs import input_file_problem
from srmsim.labels import agree

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_THRESHOLD = 10
PSEUDONYM_HEX = 16
MIN_KEY_BYTES = 16
_TOTAL_NAMES = {"total", "all", "overall"}


@dataclass(frozen=True)
class Symbols:
    """The symbols written in place of withheld values (UK official statistics convention)."""

    confidential: str = "c"
    low: str = "low"
    withheld: str = "x"


DEFAULT_SYMBOLS = Symbols()


# --------------------------------------------------------------------------------------------
# keys and pseudonyms


#: the fewest distinct bytes a key may hold: a run of one character is no secret
MIN_KEY_SYMBOLS = 6


def load_key(file: str | Path | None = None, env: str | None = None) -> bytes:
    """The pseudonymisation key from a file or an environment variable (exactly one).

    A trailing newline in the file is not part of the key. Keys shorter than 16 bytes are refused:
    a short key can be found by trying every possibility.
    """
    if (file is None) == (env is None):
        raise DataError("give the pseudonymisation key as a file or an environment variable "
                        "(exactly one of --key-file / --key-env)")
    if file is not None:
        path = Path(file)
        problem = input_file_problem(path)
        if problem and problem != "file not found":
            raise DataError(f"key file {path}: {problem}")
        try:
            key = path.read_bytes().rstrip(b"\r\n")
        except FileNotFoundError:
            raise DataError(f"key file {path}: not found") from None
        except OSError as err:
            raise DataError(f"key file {path}: cannot read ({err})") from None
        where = f"key file {path}"
    else:
        value = os.environ.get(str(env))
        if value is None:
            raise DataError(f"environment variable {env} is not set (it should hold the key)")
        key = value.encode("utf-8")
        where = f"environment variable {env}"
    if len(key) < MIN_KEY_BYTES:
        raise DataError(f"{where}: the key is {len(key)} bytes; at least {MIN_KEY_BYTES} are "
                        "needed (e.g. python -c \"import secrets; print(secrets.token_hex(32))\")")
    if len(set(key)) < MIN_KEY_SYMBOLS:  # 20 spaces or 32 zero bytes were accepted
        raise DataError(f"{where}: the key holds only {len(set(key))} distinct "
                        f"{'character' if len(set(key)) == 1 else 'characters'}, a key anyone "
                        "could guess; use a random one (e.g. python -c \"import secrets; "
                        "print(secrets.token_hex(32))\")")
    return key


def key_file_exposed(file: str | Path) -> str | None:
    """A note when the key file can be read by other users of the machine (group or others
    may read it, as a file written under the usual umask 022 can), or None. Why: whoever
    holds the key can recompute each pupil's pseudonym from their id and link the pooled
    data back to the pupils; ssh refuses a private key so exposed. A note, not a refusal: the
    file is the user's, and on a machine of one user it may be intended."""
    try:
        mode = Path(file).stat().st_mode
    except OSError:
        return None
    if os.name != "posix" or not mode & 0o044:
        return None
    return (f"key file {file} can be read by other users of this machine (mode "
            f"{mode & 0o777:o}): anyone holding the key can link the pseudonyms back to the "
            f"pupils' ids; make it private (chmod 600 {file})")


def key_id(key: bytes) -> str:
    """A one-way fingerprint of the key, safe to store next to the data (12 hex characters)."""
    return hmac.new(key, b"srmsim key id", hashlib.sha256).hexdigest()[:12]


def _id_text(v: Any) -> str:
    """Canonical text of an id, so 1001, 1001.0 and '1001 ' give the same pseudonym."""
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    return str(v).strip()


def _hmac_hex(key: bytes, label: str, length: int) -> Callable[[bytes], str]:
    """The pseudonym of one id's UTF-8 bytes under ``key`` and ``label`` (checked here).

    HMAC-SHA256 spelled out (RFC 2104), the padded keys hashed once and their SHA-256 states
    copied for each id: the same digests as hmac.new per value, at about a third of its cost
    (2 compressions an id, not 4), for the millions of ids of a national run."""
    if not isinstance(key, bytes | bytearray) or len(key) < MIN_KEY_BYTES:
        raise DataError(f"pseudonymisation key must be at least {MIN_KEY_BYTES} bytes")
    if not label:
        raise DataError("pseudonymise needs a non-empty label (e.g. 'student' or 'school')")
    if not 8 <= length <= 64:
        raise DataError("pseudonym length must be 8 to 64 hex characters")
    block = (hashlib.sha256(key).digest() if len(key) > 64 else bytes(key)).ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block) + label.encode("utf-8") + b"\x1f")
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def one(text: bytes) -> str:
        h = inner.copy()
        h.update(text)
        o = outer.copy()
        o.update(h.digest())
        return o.hexdigest()[:length]

    return one


def pseudonymise(values: Iterable[Any] | pd.Series, key: bytes, label: str,
                 length: int = PSEUDONYM_HEX) -> np.ndarray | pd.Series:
    """Keyed pseudonyms: HMAC-SHA256(key, label + '\\x1f' + value), hex, first ``length`` chars.

    A pandas Series gives a Series (same index, missing stays missing); anything else gives a
    numpy array of str and must not contain missing values.
    """
    hashed_bytes = _hmac_hex(key, label, length)

    def one(v: Any) -> str:
        return hashed_bytes(_id_text(v).encode("utf-8"))

    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":  # uids: no missing values
        flat = values.ravel()
        if np.all(flat[1:] > flat[:-1]):  # already distinct and sorted (a roll of uids)
            ids, inverse = flat, None
        else:
            ids, inverse = np.unique(flat, return_inverse=True)
        hashed = np.array([hashed_bytes(str(u).encode()) for u in ids.tolist()], dtype=str)
        return (hashed if inverse is None else hashed[inverse]).reshape(values.shape)
    if isinstance(values, pd.Series):
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        hashed = np.array([one(u) for u in uniques] + [""], dtype=object)
        out = pd.Series(hashed[codes], index=values.index, dtype="str", name=values.name)
        return out.where(codes >= 0)
    arr = list(values)
    missing = [i for i, v in enumerate(arr) if v is None or (isinstance(v, float) and
                                                             np.isnan(v)) or v is pd.NA]
    if missing:
        raise DataError(f"cannot pseudonymise a missing value (position {missing[0]})")
    uniq = {v: one(v) for v in dict.fromkeys(arr)}
    return np.array([uniq[v] for v in arr], dtype=str)


def pseudonymise_ids(ids: np.ndarray, key: bytes, label: str,
                     length: int = PSEUDONYM_HEX) -> pa.Array:
    """:func:`pseudonymise` of distinct whole-number ids, as an Arrow string array.

    Why: for the millions of students of a national run, numpy's fixed-width strings (64 bytes
    an id) and pandas' conversion of them to its own strings took longer than the digests; an
    Arrow array is taken from (``.take``) and handed to pandas (``.to_pandas()``) without
    either."""
    import pyarrow as pa

    hashed_bytes = _hmac_hex(key, label, length)
    return pa.array([hashed_bytes(str(u).encode()) for u in np.asarray(ids).tolist()],
                    type=pa.string())


# --------------------------------------------------------------------------------------------
# small-count suppression


def _holds_numbers(column: pd.Series) -> bool:
    """Whether a column prints numbers: a numeric or boolean dtype, or numbers (a bool too)
    among the Python objects of an object column. Such a column may carry a count."""
    if pd.api.types.is_numeric_dtype(column.dtype):
        return True
    if column.dtype != object:
        return False
    return any(isinstance(v, numbers.Number | np.bool_) for v in column.dropna().tolist())


def _count_columns(table: pd.DataFrame, count_columns: Sequence[str] | None,
                   declared: Iterable[Any] = ()) -> list[str]:
    """The count columns: as named, or by default every integer column not ``declared``
    otherwise (a label or a rate), refusing numbers held as Python objects (count or label?)."""
    if table.columns.has_duplicates:
        twice = sorted({str(c) for c in table.columns[table.columns.duplicated()]})
        raise DataError(f"suppress_small_counts: {agree(len(twice), 'column')} {twice} "
                        f"{agree(len(twice), 'appears', 'appear')} more than once in the table")
    if isinstance(count_columns, str):  # "n" would be read letter by letter
        raise DataError(f"suppress_small_counts: count_columns {count_columns!r}: give a list "
                        "of columns")
    if count_columns is not None:
        missing = [c for c in count_columns if c not in table.columns]
        if missing:
            raise DataError(f"suppress_small_counts: count {agree(len(missing), 'column')} "
                            f"{missing} "
                            f"{agree(len(missing), 'is', 'are')} not in the table "
                            f"(columns: {list(table.columns)})")
        return list(count_columns)
    skip = set(declared)
    counts = [c for c in table.columns if c not in skip
              and pd.api.types.is_integer_dtype(table[c])
              and not pd.api.types.is_bool_dtype(table[c])]
    for c in table.columns:  # numbers in a column of Python objects: a count or a label?
        if c in skip or table[c].dtype != object:
            continue
        if _holds_numbers(table[c]):
            raise DataError(f"suppress_small_counts: column {c!r} holds numbers as Python "
                            "objects: name it in count_columns if it is a count, or in "
                            "label_columns if it is a label not computed from counts (else "
                            "it would be printed as it is, unprotected)")
    return counts


def _check_declared(table: pd.DataFrame, counts: Sequence[Any], rates: Iterable[Any],
                    labels: Sequence[Any]) -> None:
    """Refuse a table with a number that is neither a count, a rate nor a declared label.

    Every number printed must be protected or said to be safe: a ``mean_minutes`` or an
    integer column left out of ``count_columns`` printed as it is gives a small count back
    (the mean times the row's count of pupils), whatever is hidden beside it. The index is
    printed too, so a numeric index (``groupby("siblings").size()``) needs the same word,
    unless it only numbers the rows 0, 1, 2, ...
    """
    rate_names = list(rates)
    index_names = [n for n in table.index.names if n is not None]
    unknown = [c for c in labels if c not in table.columns and c not in index_names]
    if unknown:
        raise DataError(f"suppress_small_counts: label {agree(len(unknown), 'column')} "
                        f"{unknown} {agree(len(unknown), 'is', 'are')} not in the table "
                        f"(columns: {list(table.columns)}; index: {index_names})")
    for what, names in (("a count", counts), ("a rate", rate_names)):
        both = [c for c in labels if c in names]
        if both:
            raise DataError(f"suppress_small_counts: {agree(len(both), 'column')} {both} "
                            f"cannot be both {what} and a label")
    both = [c for c in rate_names if c in counts]
    if both:
        raise DataError(f"suppress_small_counts: {agree(len(both), 'column')} {both} "
                        "cannot be both a count and a rate")
    declared = {*counts, *rate_names, *labels}
    loose = [c for c in table.columns if c not in declared and _holds_numbers(table[c])]
    if loose:
        raise DataError(f"suppress_small_counts: {agree(len(loose), 'column')} {loose} "
                        f"{agree(len(loose), 'holds', 'hold')} numbers but "
                        f"{agree(len(loose), 'is', 'are')} not declared: name each in "
                        "count_columns (a count), rate_columns (a rate, share or mean, with "
                        "the counts it is computed from) or label_columns (a label not "
                        "computed from counts, such as a school number or a year group); "
                        "else it would be printed as it is, unprotected")
    if isinstance(table.index, pd.RangeIndex):
        return
    for i in range(table.index.nlevels):
        level = table.index.get_level_values(i)
        name = table.index.names[i]
        if name is not None and name in labels:
            continue
        if not _holds_numbers(pd.Series(level, dtype=level.dtype)):
            continue
        if table.index.nlevels == 1 and np.array_equal(level.to_numpy(),
                                                       np.arange(len(level))):
            continue  # numbers the rows, as a RangeIndex does
        what = (f"index level {name!r}" if name is not None else "the index"
                if table.index.nlevels == 1 else f"index level {i} (unnamed)")
        raise DataError(f"suppress_small_counts: {what} holds numbers, and the index is "
                        "printed too: name it and list it in label_columns if it is a label "
                        "not computed from counts, or move it into the columns "
                        "(reset_index) and declare it there")


def _count_values(table: pd.DataFrame, counts: Sequence[str]) -> np.ndarray:
    """The count cells as float64 (NaN: missing, printed as withheld), refused unless each is
    a whole number from 0: 12.5 would print as 12, infinity stop the printing with a traceback,
    and a negative count is no count."""
    values = table[list(counts)].apply(pd.to_numeric, errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan)
    refuse_non_counts(values, counts, table.index)
    return values


def refuse_non_counts(values: np.ndarray, counts: Sequence[str], index: Sequence[Any]) -> None:
    """Refuse count cells (rows ``index``, columns ``counts``) that are not whole numbers from
    0 or NaN (missing), naming the first such cell."""
    with np.errstate(invalid="ignore"):
        bad = ~np.isnan(values) & ~(np.isfinite(values) & (values >= 0)
                                    & (values == np.floor(values)))
    if bad.any():
        i, j = (int(k[0]) for k in np.nonzero(bad))
        row = index[i]
        row = row.item() if isinstance(row, np.generic) else row
        raise DataError(f"suppress_small_counts: count column {counts[j]!r}, row {row!r}: "
                        f"{float(values[i, j]):g} is not a count (a whole number, 0 or more)")


def primary_cells(values: np.ndarray, threshold: int = DEFAULT_THRESHOLD,
                  suppress_zeros: bool = True) -> np.ndarray:
    """Which count cells primary suppression hides: under ``threshold`` (zero included unless
    ``suppress_zeros=False``), never a missing one (NaN). The one rule of
    :func:`suppression_masks` and :func:`srmsim.trial.groups.under_threshold`."""
    with np.errstate(invalid="ignore"):
        primary = ~np.isnan(values) & (values < threshold)
    if not suppress_zeros:
        primary &= values != 0
    return primary


def _whole_number_rates(table: pd.DataFrame, rates: Iterable[str]) -> None:
    """Refuse a float column taken as a rate by default whose values are all whole numbers:
    most likely a count made float by a missing value, which a rate's printing would show
    unprotected (3.0 beside counts of at least 10)."""
    for c in rates:
        values = pd.to_numeric(table[c], errors="coerce").to_numpy(dtype="float64",
                                                                   na_value=np.nan)
        finite = values[np.isfinite(values)]
        if len(finite) and np.array_equal(finite, np.floor(finite)):
            raise DataError(f"suppress_small_counts: float column {c!r} holds only whole "
                            "numbers: name it in count_columns if it is a count (a count with "
                            "a missing value is stored as float), or in rate_columns if it is "
                            "a rate")


def _find_total_row(table: pd.DataFrame, counts: list[str], total_row: Any) -> int | None:
    """Position of the totals row: a label 'Total'/'All' in the index or in a label column."""
    if total_row is None or total_row is False:
        return None
    if total_row != "auto":
        if total_row not in table.index:
            raise DataError(f"suppress_small_counts: total_row {total_row!r} is not in the index")
        return int(table.index.get_loc(total_row))
    def is_total(v: Any) -> bool:
        return isinstance(v, str) and v.strip().casefold() in _TOTAL_NAMES
    for i, label in enumerate(table.index):
        if is_total(label) or (isinstance(label, tuple) and any(is_total(x) for x in label)):
            return i
    for c in table.columns:
        if c in counts or pd.api.types.is_numeric_dtype(table[c]):
            continue
        hits = [i for i, v in enumerate(table[c].tolist()) if is_total(v)]
        if hits:
            return hits[0]
    return None


def _find_total_column(counts: list[str], total_column: Any) -> str | None:
    if total_column is None or total_column is False:
        return None
    if total_column != "auto":
        if total_column not in counts:
            raise DataError(f"suppress_small_counts: total_column {total_column!r} must be one "
                            f"of the count columns {counts}")
        return str(total_column)
    for c in counts:
        if str(c).strip().casefold() in _TOTAL_NAMES:
            return c
    return None


Equation = Mapping[int, float]


def feasible_ranges(values: np.ndarray, hidden: np.ndarray, equations: Sequence[Equation],
                    inequalities: Sequence[Equation] = (), cells: Iterable[int] | None = None,
                    free: np.ndarray | None = None, enough: float | None = None,
                    floor: np.ndarray | None = None,
                    seen: tuple[np.ndarray, np.ndarray] | None = None, relax: bool = True
                    ) -> tuple[np.ndarray, np.ndarray]:
    """What an attacker learns: the least and greatest value of each hidden cell.

    Every shown cell is fixed at its value; hidden cells are non-negative integers; each
    ``equations`` entry ``{cell: coefficient}`` sums to zero and each ``inequalities`` entry to
    at most zero. Solved exactly as integer programmes (``scipy.optimize.milp``, HiGHS). Returns
    (lo, hi) over all cells (shown cells: their value; ``inf`` where unbounded). ``free`` marks
    cells whose value is unknown to everyone (missing), which are hidden but never audited.

    With ``enough``, a cell already seen at least that wide is not solved for: every solution
    found (and the true counts) is a point the attacker cannot rule out, so the values seen
    across them are inside its range. Its (lo, hi) are then those seen, narrower than the
    exact ones but at least ``enough`` apart; cells narrower than ``enough`` stay exact. The
    audit asks only "narrower than the threshold?", so this saves solves without changing it;
    points in random directions are looked for first (:func:`_scout`), each of which shows many
    cells wide at once.

    ``floor``: the least value of each cell that everyone knows (1 for the pupils of a group
    printed as a row: a group with no pupil has no row); 0 where not given.

    ``seen``: the least and greatest value of every cell over feasible points found before,
    widened in place by the points found here. A point stays feasible when more cells are
    hidden (a cell newly hidden keeps its value there), so an audit that hides cells round by
    round passes the same pair to every call.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_array

    values = np.asarray(values, dtype=float)
    hidden = np.asarray(hidden, dtype=bool)
    lo, hi = values.copy(), values.copy()
    var = np.flatnonzero(hidden)
    if not var.size:
        return lo, hi
    pos = {int(c): i for i, c in enumerate(var)}
    at_row: list[int] = []
    at_col: list[int] = []
    coefs: list[float] = []
    lbs: list[float] = []
    ubs: list[float] = []
    for eqs, is_eq in ((equations, True), (inequalities, False)):
        for eq in eqs:
            coef: dict[int, float] = {}
            rhs = 0.0
            for c, a in eq.items():
                if int(c) in pos:
                    coef[pos[int(c)]] = coef.get(pos[int(c)], 0.0) + a
                else:
                    rhs -= a * values[int(c)]
            coef = {i: a for i, a in coef.items() if a}
            if not coef:
                continue
            at_row += [len(lbs)] * len(coef)
            at_col += list(coef)
            coefs += list(coef.values())
            lbs.append(rhs if is_eq else -np.inf)
            ubs.append(rhs)
    big = 1e9
    matrix = csr_array((coefs, (at_row, at_col)), shape=(len(lbs), var.size))
    constraints = [LinearConstraint(matrix, lbs, ubs)] if lbs else []
    least = np.zeros(var.size) if floor is None else np.asarray(floor, dtype=float)[var]
    bounds = Bounds(least, np.full(var.size, big))
    integrality = np.ones(var.size)
    audit = var.tolist() if cells is None else [c for c in cells if hidden[c]]
    skip = np.zeros(len(values), dtype=bool) if free is None else np.asarray(free, dtype=bool)
    # the least and greatest value of each hidden cell over the feasible points found so far
    seen_lo, seen_hi = ((values[var].copy(), values[var].copy()) if seen is None
                        else (seen[0][var], seen[1][var]))

    def solve(obj: np.ndarray) -> Any:
        res = milp(obj, constraints=constraints, bounds=bounds, integrality=integrality)
        if res.status == 0 and res.x is not None:
            np.minimum(seen_lo, res.x, out=seen_lo)
            np.maximum(seen_hi, res.x, out=seen_hi)
            if seen is not None:
                seen[0][var], seen[1][var] = seen_lo, seen_hi
        return res

    if enough is not None:
        _scout(solve, np.array([pos[int(c)] for c in audit if not skip[c]], dtype=int),
               seen_lo, seen_hi, enough)
    truth = matrix @ values[var]  # the true counts, a point every audit starts from
    consistent = bool(np.all(truth >= np.array(lbs) - 1e-6) and np.all(truth <= np.array(ubs)
                                                                       + 1e-6))
    relaxed = (_Relaxation(matrix, np.array(lbs), np.array(ubs), bounds)
               if consistent and relax else None)
    for c in audit:
        if skip[c]:
            lo[c], hi[c] = 0.0, np.inf
            continue
        i = pos[int(c)]
        obj = np.zeros(var.size)
        obj[i] = 1.0
        ends = []
        for sign in (1.0, -1.0):
            if enough is not None and seen_hi[i] - seen_lo[i] >= enough:
                ends = [seen_lo[i], seen_hi[i]]
                break
            # the relaxation's bound, when a point seen reaches it, is the end: no integer
            # programme needed (every cell pinned by the identities is found so)
            end = None if relaxed is None else relaxed.end(obj, sign)
            if end is not None and (seen_lo[i] <= end if sign > 0 else seen_hi[i] >= end):
                ends.append(end)
                continue
            res = solve(sign * obj)
            # infeasible (the identities contradict the true counts: a wrong model) or the
            # solver gave up: fail closed, as if pinned; an unknown end is no proof of safety
            if res.status != 0 or res.x is None:
                ends.append(values[c])
            else:
                ends.append(float(np.round(res.x[i])))
        lo[c] = ends[0]
        hi[c] = np.inf if ends[1] >= big / 2 else ends[1]
    return lo, hi


class _Relaxation:
    """The linear relaxation of the audit's integer programme: cheaper to solve, and its
    optimum bounds the integer one (rounded inwards), so it gives an end of a cell's range
    exactly whenever an integer point already seen reaches that bound."""

    def __init__(self, matrix: Any, lbs: np.ndarray, ubs: np.ndarray, bounds: Any) -> None:
        equal = lbs == ubs
        self.a_eq: Any = matrix[equal] if equal.any() else None
        self.b_eq: Any = ubs[equal] if equal.any() else None
        upper = ~equal  # rows lb <= a.x <= ub with lb = -inf (the only other kind)
        self.a_ub: Any = matrix[upper] if upper.any() else None
        self.b_ub: Any = ubs[upper] if upper.any() else None
        self.bounds = np.c_[bounds.lb, bounds.ub]

    def end(self, obj: np.ndarray, sign: float) -> float | None:
        """Least (``sign`` 1) or greatest (-1) value of ``obj . x`` over the integer points,
        as far as the relaxation bounds it; None if it does not solve."""
        from scipy.optimize import linprog

        res = linprog(sign * obj, A_ub=self.a_ub, b_ub=self.b_ub, A_eq=self.a_eq,
                      b_eq=self.b_eq, bounds=self.bounds, method="highs")
        if res.status != 0 or res.fun is None:
            return None
        tol = 1e-6  # the solver's tolerances: the bound is rounded inwards only past them
        end = np.ceil(res.fun - tol) if sign > 0 else np.floor(-res.fun + tol)
        return float(end) + 0.0  # + 0.0: never -0.0


def _scout(solve: Any, targets: np.ndarray, seen_lo: np.ndarray, seen_hi: np.ndarray,
           enough: float) -> None:
    """Feasible points in random directions over the audited cells not yet seen ``enough``
    wide, while they pay: one such solve costs what one cell's does, and on a crossed summary
    each shows a few dozen cells wide at once (most hidden cells are wide), leaving the
    per-cell solves to the narrow ones. Only widens ``seen_lo``/``seen_hi`` (every point is
    feasible), so the audit's verdicts are unchanged; the seed is fixed, so are the points.
    """
    rng = np.random.default_rng(0)
    gains: list[int] = []
    while True:
        open_ = targets[seen_hi[targets] - seen_lo[targets] < enough]
        # stop when four solves in a row showed fewer than four cells wide in all
        if open_.size < 2 or (len(gains) >= 4 and sum(gains[-4:]) < 4):
            return
        obj = np.zeros(seen_lo.size)
        obj[open_] = rng.choice((-1.0, 1.0), open_.size) * rng.uniform(0.5, 1.0, open_.size)
        if solve(obj).status != 0:
            return
        gains.append(int(open_.size - np.count_nonzero(
            seen_hi[open_] - seen_lo[open_] < enough)))


def protect_cells(values: np.ndarray, primary: np.ndarray, equations: Sequence[Equation],
                  inequalities: Sequence[Equation] = (), threshold: int = DEFAULT_THRESHOLD,
                  priority: np.ndarray | None = None, free: np.ndarray | None = None,
                  keep: np.ndarray | None = None, max_rounds: int = 500,
                  guard: np.ndarray | None = None, floor: np.ndarray | None = None
                  ) -> np.ndarray:
    """Secondary (complementary) suppression by audit: which further cells must be hidden.

    Audit-and-add, as in statistical offices' cell-suppression tools: compute each hidden
    cell's feasible range (:func:`feasible_ranges`); for every hidden count below ``threshold``
    whose range is narrower than ``threshold``, hide one more shown cell that shares an
    identity with it or with a hidden cell pinned next to it -- the lowest ``priority`` first
    (totals get 1), then the smallest value at least the missing width, else the largest --
    and audit again. If no candidate is left, every cell is hidden. Returns the secondary mask
    (primary cells excluded). The final audit is exact, so the result is safe whatever the
    heuristic picked; the heuristic only decides how much is hidden. ``keep`` marks cells that
    are published elsewhere anyway and so cannot be hidden; ``free`` marks unpublished helper
    cells (they are unknowns, never audited); ``guard`` marks hidden cells kept at least
    ``threshold`` wide whatever their value (counts another table hides to protect its own);
    ``floor`` the least value of each cell everyone knows (:func:`feasible_ranges`).
    """
    values = np.asarray(values, dtype=float)
    primary = np.asarray(primary, dtype=bool)
    hidden = primary.copy()
    prio = np.zeros(len(values)) if priority is None else np.asarray(priority, dtype=float)
    free_mask = np.zeros(len(values), dtype=bool) if free is None else np.asarray(free, bool)
    guarded = np.zeros(len(values), dtype=bool) if guard is None else np.asarray(guard, bool)
    sensitive = hidden & ((values < threshold) | guarded) & ~free_mask
    if not sensitive.any():
        return np.zeros(len(values), dtype=bool)
    kept = np.zeros(len(values), dtype=bool) if keep is None else np.asarray(keep, bool)
    links = [set(map(int, eq)) for eq in [*equations, *inequalities]]
    # hiding more cells only widens ranges, so a cell once safe stays safe: audit the rest
    pending = sensitive.copy()
    wide = free_mask.copy()  # cells already found at least `threshold` wide: they stay so
    seen = (values.copy(), values.copy())  # feasible points stay feasible as more is hidden
    for _ in range(max_rounds):
        lo, hi = feasible_ranges(values, hidden, equations, inequalities,
                                 cells=np.flatnonzero(pending), free=free_mask,
                                 enough=threshold, floor=floor, seen=seen)
        width = hi - lo
        bad = np.flatnonzero(pending & (width < threshold))
        wide |= pending & (width >= threshold)
        pending[:] = False
        pending[bad] = True
        if not bad.size:
            break
        # the hidden cells tied to a bad one, and which of them are pinned too narrowly
        around = {c for cs in links if cs & set(bad.tolist()) for c in cs
                  if hidden[c] and not wide[c]}
        lo2, hi2 = feasible_ranges(values, hidden, equations, inequalities,
                                   cells=sorted(around), free=free_mask, enough=threshold,
                                   floor=floor, seen=seen)
        narrow = {c for c in around if hi2[c] - lo2[c] < threshold}
        wide[[c for c in around if c not in narrow]] = True
        added = False
        for b_cell in bad.tolist():
            need = threshold - float(width[b_cell])
            near = {c for cs in links if b_cell in cs or cs & narrow for c in cs}
            cands = [c for c in near if not hidden[c] and values[c] > 0 and not kept[c]]
            if not cands:
                continue
            cands.sort(key=lambda c: (prio[c], values[c] < need,
                                      values[c] if values[c] >= need else -values[c], c))
            hidden[cands[0]] = True
            added = True
        if not added:
            hidden[~kept] = True
            break
    else:
        hidden[~kept] = True
    return hidden & ~primary


def suppression_masks(table: pd.DataFrame, count_columns: Sequence[str] | None = None,
                      threshold: int = DEFAULT_THRESHOLD, total_row: Any = "auto",
                      total_column: Any = "auto", suppress_zeros: bool = True,
                      subsets: Mapping[str, str] | None = None,
                      complements: Sequence[str] = (),
                      sums: Sequence[tuple[int, Sequence[int]]] = (),
                      withheld: np.ndarray | None = None,
                      published: np.ndarray | None = None,
                      zero_remainder_ok: Sequence[str] = (),
                      known: np.ndarray | None = None,
                      known_remainders: Iterable[tuple[int, str]] = (),
                      at_least: np.ndarray | None = None,
                      label_columns: Sequence[str] = (),
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Which count cells are suppressed: (primary, secondary) boolean frames over count columns.

    Primary: counts below ``threshold`` (zero included unless ``suppress_zeros=False``).
    Secondary: the table's identities (each row/column of cells adds up to its total, and with
    ``subsets={"fsm": "students"}`` a count is at most another in its row) are handed to
    :func:`protect_cells`, which hides further cells until no small count can be worked out
    from the cells shown: for each hidden cell below the threshold the range of values
    consistent with everything shown must be at least ``threshold`` wide. ``complements``
    names parts of ``subsets`` whose remainder (``whole - part``: the non-FSM pupils beside the
    FSM ones) is a count to protect too, though never printed; for the parts in
    ``zero_remainder_ok`` a remainder of 0 may be worked out (every pupil of the row has
    attendance records: a fact about the export, not about a pupil), 1 to 9 may not.

    Tables published elsewhere that share counts with this one (the ``--by school`` margin of a
    ``--by school,sex`` table) are audited together with it: their rows are appended to
    ``table``, ``sums`` lists ``(row, rows)`` pairs where row ``row`` is the sum of rows
    ``rows`` in every count column, ``withheld`` marks cells those tables hide and
    ``published`` cells they show (known to everyone, so never hidden here). Such cells are
    only the attacker's knowledge: the caller prints the rows of its own table.

    What the table's definitions tell everyone, hidden or not, is fixed in the audit too, so
    that no small count is judged safe by a freedom the attacker does not have: ``known`` marks
    cells whose value follows from their labels (the FSM count of the non-FSM group is 0; a
    count that is not available, missing (NaN), adds 0 to its total), ``known_remainders``
    ``(row, part)`` pairs whose remainder ``whole - part`` does (all of the FSM group is FSM),
    and ``at_least`` the least value of each cell (a group printed as a row has a pupil).

    ``label_columns``: integer columns that are labels, not counts (a year group), left out
    of the default count columns, as in :func:`suppress_small_counts`. This prints nothing:
    what is printed is checked there, which refuses a number neither a count, a rate nor a
    declared label, and masks that do not cover its count columns.
    """
    counts = _count_columns(table, count_columns, label_columns)
    values = _count_values(table, counts)
    missing = np.isnan(values)
    primary = primary_cells(values, threshold, suppress_zeros)
    t_row = _find_total_row(table, counts, total_row)
    t_col = _find_total_column(counts, total_column)
    lines: list[tuple[list[tuple[int, int]], tuple[int, int]]] = []
    nrow, ncol = values.shape
    if t_col is not None:
        tc = counts.index(t_col)
        for r in range(nrow):
            lines.append(([(r, c) for c in range(ncol) if c != tc], (r, tc)))
    if t_row is not None:  # rows of linked tables (parents in ``sums``) are not its parts
        parents = {int(p) for p, _ in sums}
        for c in range(ncol):
            lines.append(([(r, c) for r in range(nrow) if r != t_row and r not in parents],
                          (t_row, c)))
    equations = []
    for parent, children in sums:
        for c in range(ncol):
            eq = {r * ncol + c: 1.0 for r in children}
            eq[parent * ncol + c] = eq.get(parent * ncol + c, 0.0) - 1.0
            equations.append(eq)
    for cells, total in lines:
        row = {r * ncol + c: 1.0 for r, c in cells}
        row[total[0] * ncol + total[1]] = -1.0
        equations.append(row)
    inequalities = []
    for part, whole in (subsets or {}).items():
        if part not in counts or whole not in counts:
            raise DataError(f"suppress_small_counts: subset {part!r} <= {whole!r}: both must be "
                            f"count columns ({counts})")
        pc, wc = counts.index(part), counts.index(whole)
        inequalities += [{r * ncol + pc: 1.0, r * ncol + wc: -1.0} for r in range(nrow)]
    is_total = np.zeros((nrow, ncol), dtype=bool)
    if t_col is not None:
        is_total[:, counts.index(t_col)] = True
    if t_row is not None:
        is_total[t_row, :] = True
    flat = np.where(missing, 0.0, values).ravel()
    elsewhere = np.zeros((nrow, ncol), dtype=bool) if withheld is None else np.asarray(
        withheld, dtype=bool)
    shown = np.zeros((nrow, ncol), dtype=bool) if published is None else np.asarray(
        published, dtype=bool)
    given = np.zeros((nrow, ncol), dtype=bool) if known is None else np.asarray(known, bool)
    hidden0 = ((primary | missing | elsewhere) & ~given).ravel()
    free, prio = (missing & ~given).ravel(), is_total.ravel()
    keep = (shown | given).ravel() & ~hidden0  # hiding a known cell would hide nothing
    rest: list[float] = []  # the remainders: hidden cells of their own, tied to part and whole
    zero_ok: list[bool] = []
    fixed_rest: list[bool] = []
    told = {(int(r), str(p)) for r, p in known_remainders}
    for part in complements:
        if part not in (subsets or {}):
            raise DataError(f"suppress_small_counts: complement {part!r} is not a subset")
        pc, wc = counts.index(part), counts.index(subsets[part])  # type: ignore[index]
        for r in range(nrow):
            if missing[r, pc] or missing[r, wc]:
                continue
            k = flat.size + len(rest)
            rest.append(values[r, wc] - values[r, pc])
            zero_ok.append(part in zero_remainder_ok)
            fixed_rest.append((r, part) in told)
            equations.append({k: 1.0, r * ncol + wc: -1.0, r * ncol + pc: 1.0})
    if rest:
        extra_v = np.array(rest)
        unaudited = (extra_v == 0) & (np.array(zero_ok) | (not suppress_zeros))
        flat = np.r_[flat, extra_v]
        hidden0 = np.r_[hidden0, ~np.array(fixed_rest, dtype=bool)]
        free = np.r_[free, unaudited & ~np.array(fixed_rest, dtype=bool)]
        prio = np.r_[prio, np.zeros(len(rest), bool)]
        keep = np.r_[keep, np.array(fixed_rest, dtype=bool)]
    # a count a linked table hides (to protect one of its own) must not be given back here
    guard = np.r_[(elsewhere & ~given).ravel(), np.zeros(flat.size - nrow * ncol, bool)]
    floor = None if at_least is None else np.r_[np.asarray(at_least, float).ravel(),
                                                np.zeros(flat.size - nrow * ncol)]
    extra = protect_cells(flat, hidden0, equations, inequalities, threshold,
                          priority=prio.astype(int), free=free, keep=keep, guard=guard,
                          floor=floor)
    secondary = (extra[:nrow * ncol].reshape(nrow, ncol) | elsewhere) & ~missing & ~primary
    idx = table.index
    return (pd.DataFrame(primary, index=idx, columns=counts),
            pd.DataFrame(secondary, index=idx, columns=counts))


def suppress_small_counts(table: pd.DataFrame, count_columns: Sequence[str] | None = None,
                          threshold: int = DEFAULT_THRESHOLD,
                          symbols: Symbols | Mapping[str, str] | None = None,
                          rate_columns: Mapping[str, str | Sequence[str]] | Sequence[str] |
                          None = None, total_row: Any = "auto", total_column: Any = "auto",
                          suppress_zeros: bool = True, decimals: int = 1,
                          subsets: Mapping[str, str] | None = None,
                          complements: Sequence[str] = (),
                          masks: tuple[pd.DataFrame, pd.DataFrame] | None = None,
                          label_columns: Sequence[str] = ()
                          ) -> pd.DataFrame:
    """A copy of ``table`` safe to print or write: small counts and what they reveal withheld.

    ``count_columns`` default to every integer column (numbers held as Python objects are
    refused: name them). ``rate_columns`` maps a rate, percentage or mean column to the count
    column(s) it was computed from; by default every float column is a rate based on all the
    row's counts (the cautious choice), except one of whole numbers only, refused as most
    likely a count (one with a missing value is float). Counts must be whole numbers from 0
    (or missing). A rate becomes ``low`` if a base
    count is suppressed, for whatever reason (``x`` is for missing values). Totals are found by
    the label ``Total``/``All`` in the index or a text column (``total_row``) and a count column
    named ``total``/``all`` (``total_column``); pass ``None`` to say there are none. Count and
    rate columns come back as text (``str`` dtype); other columns are unchanged. ``masks``:
    (primary, secondary) already decided by :func:`suppression_masks` (e.g. audited together
    with linked tables), applied as given.

    ``label_columns`` names columns (or index levels) that are labels, not computed from
    counts (a school number, a year group, a week, a threshold): printed as they are, and left
    out of the defaults above. Every other number of the table (an integer, float or boolean
    column, numbers held as Python objects, a numeric index other than row numbers 0, 1, ...)
    must be a count or a rate, or the table is refused naming it: a ``mean_minutes`` left out
    of ``rate_columns`` would be printed as it is and give a small count back.
    """
    from srmsim.stats._checks import MAX_COUNT, whole_number

    # NaN, 0, -1, 2.5 and True hid nothing (the 5 was printed); '10' met numpy's ufunc error
    threshold = whole_number(threshold, "suppress_small_counts: threshold", 1, MAX_COUNT)
    sym = _symbols(symbols)
    for arg, given in (("rate_columns", rate_columns), ("label_columns", label_columns)):
        if isinstance(given, str):
            raise DataError(f"suppress_small_counts: {arg} {given!r}: give a list of columns"
                            + (" or a mapping from each to its count columns"
                               if arg == "rate_columns" else ""))
    labels = list(label_columns)
    named_rates = [] if rate_columns is None else list(rate_columns)
    counts = _count_columns(table, count_columns, [*labels, *named_rates])
    if rate_columns is None:
        rates = {c: counts for c in table.columns if c not in counts and c not in labels
                 and pd.api.types.is_float_dtype(table[c])}
        _whole_number_rates(table, rates)
    elif isinstance(rate_columns, Mapping):
        rates = {r: ([b] if isinstance(b, str) else list(b)) for r, b in rate_columns.items()}
    else:
        rates = {r: counts for r in rate_columns}
    for r, bases in rates.items():
        bad = [c for c in [r, *bases] if c not in table.columns]
        if bad:
            raise DataError(f"suppress_small_counts: rate column {r!r}: "
                            f"{agree(len(bad), 'column')} "
                            f"{bad} {agree(len(bad), 'is', 'are')} not in the table")
        if any(b not in counts for b in bases):
            odd = [b for b in bases if b not in counts]
            raise DataError(f"suppress_small_counts: rate column {r!r}: "
                            f"{agree(len(odd), 'base')} {odd} {agree(len(odd), 'is', 'are')} "
                            f"not {agree(len(odd), 'a count column', 'count columns')}")
    _check_declared(table, counts, rates, labels)  # before the audit, which may take minutes
    values = _count_values(table, counts)
    if masks is not None:
        primary, secondary = masks
        for mask in (primary, secondary):
            lacking = [c for c in counts if c not in mask.columns]
            if lacking or len(mask) != len(table):
                raise DataError(f"suppress_small_counts: masks must have a row for each of the "
                                f"table's {len(table)} rows and a column for each count column "
                                f"(lacking: {lacking})")
    else:
        primary, secondary = suppression_masks(table, counts, threshold, total_row,
                                               total_column, suppress_zeros, subsets,
                                               complements)
    out = table.copy()
    for j, c in enumerate(counts):
        text = [sym.withheld if np.isnan(v) else str(int(v)) for v in values[:, j].tolist()]
        hide = (primary[c] | secondary[c]).to_numpy()
        out[c] = pd.Series(np.where(hide, sym.confidential, np.array(text, dtype=object)),
                           index=table.index, dtype="str")
    for r, bases in rates.items():
        # one symbol whatever hid the base: ``low`` for a small count and ``x`` for a secondary
        # one told which hidden counts are at least the threshold (A + B = 14 with A's rate
        # ``x`` gives B at most 4)
        hidden = (primary[bases] | secondary[bases]).any(axis=1).to_numpy()
        vals = pd.to_numeric(table[r], errors="coerce")
        rate_text = np.array([sym.withheld if pd.isna(v) else f"{v:.{decimals}f}"
                              for v in vals.tolist()], dtype=object)
        rate_text = np.where(hidden, sym.low, rate_text)
        out[r] = pd.Series(rate_text, index=table.index, dtype="str")
    out.attrs["suppression"] = {
        "threshold": threshold, "primary": int(primary.to_numpy().sum()),
        "secondary": int(secondary.to_numpy().sum()),
        "symbols": {"confidential": sym.confidential, "low": sym.low, "withheld": sym.withheld},
    }
    return out


def _symbols(symbols: Symbols | Mapping[str, str] | None) -> Symbols:
    if symbols is None:
        return DEFAULT_SYMBOLS
    if isinstance(symbols, Symbols):
        return symbols
    unknown = set(symbols) - {"confidential", "low", "withheld"}
    if unknown:
        raise DataError(f"unknown suppression symbol {agree(len(unknown), 'name')} "
                        f"{sorted(unknown)}; use "
                        "confidential, low, withheld")
    return Symbols(**dict(symbols))


def parse_symbols(text: str) -> Symbols:
    """Symbols from the CLI form ``c,low,x`` (confidential, low, withheld)."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3 or not all(parts):
        raise DataError(f"--symbols {text!r}: give three symbols, e.g. c,low,x")
    for part in parts:  # a hidden cell shown as '5' or 'nan' reads as a published value
        try:
            float(part)
        except ValueError:
            pass
        else:
            raise DataError(f"--symbols {text!r}: {part!r} reads as a number; a withheld cell "
                            "must not look like a value")
        # nor as one to a spreadsheet: '12%' is 0.12 to Excel, '1 000' and '0x1F' numbers to
        # others, TRUE a boolean
        if any(ch.isdigit() for ch in part) or part.lower() in ("true", "false"):
            raise DataError(f"--symbols {text!r}: {part!r} holds a digit or reads as a value to "
                            "a spreadsheet; a withheld cell must not look like a value")
        if len(part) > 12 or not part.isprintable():
            raise DataError(f"--symbols {text!r}: each symbol is at most 12 printable "
                            "characters")
    if len(set(parts)) != 3:
        raise DataError(f"--symbols {text!r}: the three symbols must differ (each says "
                        "something else)")
    return Symbols(*parts)


__all__ = ["DEFAULT_THRESHOLD", "DEFAULT_SYMBOLS", "Symbols", "key_id", "load_key",
           "feasible_ranges", "parse_symbols", "protect_cells", "pseudonymise", "suppress_small_counts",
           "suppression_masks"]
