"""The imported dataset on disk: a directory of two Parquet files and a ``dataset.json``.

Why a directory and not one file: the two tables have different grains (a student, a student-week)
and the calibration code reads them separately; ``dataset.json`` says what the files are (raw or
anonymised, reference date, which fields the school actually supplied, generalisations applied)
so a reader never has to guess. Layout::

    DIR/students.parquet      one row per student (schema table ``students``)
    DIR/observations.parquet  one row per student per period (schema table ``observations``)
    DIR/dataset.json          metadata, see data/README.md

Written by ``srmsim data import`` / ``anonymise`` / ``rdataset``; read with :func:`read_dataset`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from srmsim import __version__
from srmsim.data.readers import arrow_schema_problem, comma_numbers
from srmsim.data.schema import (
    OBSERVATIONS,
    SCHEMA_VERSION,
    STUDENTS,
    TABLES,
    Field,
    Table,
    arrow_type,
    from_arrow,
    to_arrow,
)
from srmsim.errors import DataError
from srmsim.inputs import BOOL_WORDS, hint_clause, input_file_problem, load_json, whole
from srmsim.labels import (
    IDENTIFIER_FORBIDDEN_PATTERN,
    excerpt,
    plural,
    printable,
    value_may_identify,
)
from srmsim.outputs import json_dumps, make_dir, write_atomic, write_file

META_FILE = "dataset.json"
#: the groupings of the summaries published from a dataset (srmsim.data.describe.record_summary)
LEDGER_FILE = "published.json"
#: the anonymised exports made of a dataset's records (srmsim.data.exports)
EXPORTS_FILE = "exports.json"
#: every file a dataset directory holds (what may be replaced by a new one)
DATASET_FILES = (META_FILE, "students.parquet", "observations.parquet", LEDGER_FILE,
                 EXPORTS_FILE)
FORMAT = "srmsim-dataset"


@dataclass
class Dataset:
    """Students and observations in the schema, with the metadata of ``dataset.json``."""

    students: pd.DataFrame
    observations: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    def table(self, name: str) -> pd.DataFrame:
        return self.students if name == "students" else self.observations

    @property
    def anonymised(self) -> bool:
        return bool(self.meta.get("anonymised", False))


def base_meta(**extra: Any) -> dict[str, Any]:
    """Metadata every dataset carries; callers add their own keys."""
    meta: dict[str, Any] = {
        "format": FORMAT, "schema_version": SCHEMA_VERSION, "srmsim_version": __version__,
        "real_data": True, "anonymised": False, "reference_date": None, "period_origin": {},
        "key_id": None, "quasi_identifiers": [], "sensitive": [], "k": None, "l": None,
        "generalisation": {}, "notes": [],
    }
    meta.update(extra)
    return meta


def fields_present(frame: pd.DataFrame, tbl_name: str) -> list[str]:
    """Schema fields with at least one value: the rest were not supplied by the school."""
    tbl = TABLES[tbl_name]
    return [f for f in frame.columns if f in tbl and frame[f].notna().any()]


def write_dataset(ds: Dataset, out: str | Path, overwrite: bool = False,
                  private: bool | None = None) -> Path:
    """Write the two Parquet files and ``dataset.json`` into ``out`` (created if needed).

    ``private`` (default: when the data are real) makes the folder 0700 and the files 0600.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out}: exists and is not a directory")
    if (out / META_FILE).exists() and not overwrite:
        raise DataError(f"--out {out}: already holds a dataset ({META_FILE}); choose another "
                        "directory or pass --overwrite")
    if private is None:
        private = bool(ds.meta.get("real_data", True))
    make_dir(out, private=private)
    meta = dict(ds.meta)
    meta["tables"] = {}
    for name, frame, tbl in (("students", ds.students, STUDENTS),
                             ("observations", ds.observations, OBSERVATIONS)):
        fname = f"{name}.parquet"
        arrow = to_arrow(frame.reset_index(drop=True), tbl)
        write_atomic(out / fname, partial(pq.write_table, arrow), private=private)
        meta["tables"][name] = {"file": fname, "rows": int(len(frame)),
                                "columns": [str(c) for c in frame.columns],
                                "fields_present": fields_present(frame, name)}
    write_file(out / META_FILE, json_dumps(meta, indent=2, default=str) + "\n", private=private)
    return out


def is_dataset_folder(folder: str | Path) -> bool:
    """Whether ``folder`` holds an srmsim dataset: a ``dataset.json`` of srmsim's format (one
    that cannot be read as JSON counts too; another project's ``dataset.json``, without srmsim's
    ``format``, does not, so outputs under such a folder are not refused)."""
    meta = Path(folder) / META_FILE
    if not meta.is_file():
        return False
    try:
        found = load_json(meta, max_bytes=1 << 20)
    except ValueError:
        return True  # damaged: keep away from it
    return isinstance(found, dict) and found.get("format") == FORMAT


def check_outside_datasets(out: str | Path) -> None:
    """Refuse an output file in any dataset folder (one holding ``dataset.json``), however
    deep: it would replace the dataset's own files (``--out DATA/dataset.json``) or sit
    among the raw records. Links are followed."""
    target = Path(os.path.abspath(out)).resolve()
    for folder in target.parents:
        if is_dataset_folder(folder):
            raise DataError(f"--out {out}: inside the dataset folder {folder} (it holds private "
                            "records, and outputs are kept apart from them); write it elsewhere")


def read_dataset(path: str | Path) -> Dataset:
    """Read a dataset directory written by srmsim, with schema dtypes."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such folder{hint_clause(path)}")
    if not path.is_dir():
        raise DataError(f"{path}: not a dataset directory (expected {META_FILE}, "
                        "students.parquet, observations.parquet)")
    meta_path = path / META_FILE
    if not meta_path.exists():
        raise DataError(f"{path}: no {META_FILE}; is this the --out of 'srmsim data import'?")
    try:  # a regular file, of a sane size, without duplicate keys
        meta = load_json(meta_path)
    except ValueError as err:
        raise DataError(f"{meta_path}: not readable JSON ({str(err)[:200]})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("tables", {}), dict) or not all(
            isinstance(t, dict) for t in meta.get("tables", {}).values()):
        raise DataError(f"{meta_path}: not a dataset description written by srmsim "
                        "(wrong shape: hand-edited or corrupt)")
    if meta.get("format") != FORMAT:
        raise DataError(f"{meta_path}: 'format' is {excerpt(meta.get('format'))}, expected {FORMAT!r}")
    version = meta.get("schema_version", SCHEMA_VERSION)
    if isinstance(version, bool) or version != SCHEMA_VERSION:  # (one schema so far)
        raise DataError(f"{meta_path}: schema_version is {excerpt(version)}, not the record "
                        f"schema this srmsim reads ({SCHEMA_VERSION}); re-import the export")
    frames: dict[str, pd.DataFrame] = {}
    files: dict[str, Path] = {}
    for name, tbl in TABLES.items():
        fname = meta.get("tables", {}).get(name, {}).get("file", f"{name}.parquet")
        if not isinstance(fname, str) or Path(fname).name != fname or fname in ("", ".", ".."):
            raise DataError(f"{meta_path}: tables.{name}.file must be a file name inside "
                            f"{path} (got {str(fname)[:60]!r})")
        p = path / fname
        if not p.exists():
            raise DataError(f"{path}: {fname} is missing")
        problem = input_file_problem(p)
        if problem:
            raise DataError(f"{p}: {problem}")
        frames[name] = _read_table(p, tbl)
        check_values(frames[name], tbl, p)
        files[name] = p
    _check_links(frames["students"], frames["observations"], files["observations"])
    for name, frame in frames.items():
        _check_recorded_rows(meta, name, len(frame), meta_path, files[name])
    ds = Dataset(students=frames["students"], observations=frames["observations"], meta=meta)
    meta["real_data"] = _is_real(ds, meta_path)
    _meta_flag(meta, "anonymised", False, meta_path)
    return ds


def _check_recorded_rows(meta: dict[str, Any], name: str, rows: int, meta_path: Path,
                         table: Path) -> None:
    """The rows ``dataset.json`` records for a table are the rows its file holds: a table
    replaced or cut by hand (one school's pupils taken out of both) was read as the import's,
    and summarised without a word."""
    recorded = meta.get("tables", {}).get(name, {}).get("rows")
    if recorded is None:  # (written by every srmsim that wrote tables; a missing one: older)
        return
    if not whole(recorded) or int(recorded) != rows:
        raise DataError(f"{meta_path}: tables.{name}.rows is {excerpt(recorded)}, but "
                        f"{table.name} holds {rows:,} rows (a table replaced or edited); "
                        "re-import the export")


def _meta_flag(meta: dict[str, Any], key: str, default: bool, meta_path: Path) -> bool:
    """A true/false entry of ``dataset.json``; any other value (a hand-edited "no", which
    read as true) is an error naming the file and the entry."""
    claimed = meta.get(key, default)
    if not isinstance(claimed, bool):
        kind = {"NoneType": "null", "str": "text", "int": "a number", "float": "a number",
                "list": "a list", "dict": "an object"}.get(type(claimed).__name__,
                                                           "another type")
        raise DataError(f"{meta_path}: {key} must be true or false (got {kind}); "
                        "hand-edited or corrupt, re-import the export")
    return claimed


def _is_real(ds: Dataset, meta_path: Path) -> bool:
    """Whether the dataset holds real pupils' records, whatever ``dataset.json`` says: only a
    public dataset srmsim can check (:func:`~srmsim.data.loaders.is_public_copy`) is not. Why:
    the flag turns small-count suppression off, and a hand-edited ``false`` on imported records
    must not; a damaged flag is an error rather than a guess."""
    if _meta_flag(ds.meta, "real_data", True, meta_path):
        return True
    from srmsim.data.loaders import is_public_copy  # it builds on this module

    return not is_public_copy(ds)


def _short(err: BaseException) -> str:
    return " ".join(str(err).split())[:200]


def _read_table(p: Path, tbl: Table) -> pd.DataFrame:
    """One Parquet table of a dataset with srmsim's dtypes, every schema column of the Arrow
    type srmsim writes (or one that converts without loss): a file written by another tool
    gets the project's error naming file, column and row, not pyarrow's (or a wrong value)."""
    try:
        problem = arrow_schema_problem(pq.read_schema(p))
        tab = None if problem else pq.read_table(p)
    except Exception as err:  # noqa: BLE001 - pyarrow raises several types for a broken file
        from srmsim.inputs import parquet_damage

        raise DataError(f"{p}: {parquet_damage(p, err)}; import the records again") from None
    if problem or tab is None:
        raise DataError(f"{p}: not a dataset as srmsim writes it: {problem}")
    columns = []
    for name, col in zip(tab.column_names, tab.columns, strict=True):
        if pa.types.is_dictionary(col.type):  # a category column written by pandas
            col = col.cast(col.type.value_type)
        columns.append(_schema_column(col, tbl[name], p) if name in tbl else col)
    try:
        return from_arrow(pa.Table.from_arrays(columns, names=tab.column_names), tbl)
    except Exception as err:  # noqa: BLE001 - e.g. a date pandas cannot hold
        raise DataError(f"{p}: not a dataset as srmsim writes it ({_short(err)})") from None


#: Largest whole number a count may be: import refuses 2**53 and above (a float64, which every
#: moment uses, no longer holds each whole number exactly there)
MAX_COUNT = 2.0 ** 53


def _schema_column(col: pa.ChunkedArray, f: Field, source: Path) -> pa.ChunkedArray:
    """``col`` as the Arrow type of field ``f``; a column of another kind of value, or an
    integer column holding NaN, an infinity, a fraction or a number beyond 2**53, is refused."""
    kind = col.type
    if pa.types.is_null(kind):  # no value at all
        return col.cast(arrow_type(f))

    def wrong(expected: str) -> DataError:
        return DataError(f"{source}: column {f.name} holds {kind} values, expected {expected}; "
                         "not a dataset as srmsim writes it (re-import the export)")

    numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind)
    if f.type in ("str", "category"):
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)
                or pa.types.is_string_view(kind)):
            raise wrong("text")
        return col.cast(pa.string())
    if f.type == "bool":
        if not pa.types.is_boolean(kind):
            raise wrong("true/false")
        return col
    if f.type == "date":
        if not (pa.types.is_date(kind) or pa.types.is_timestamp(kind)):
            raise wrong("dates")
        return pc.cast(col, pa.date32(), safe=False)
    if f.type == "float":
        if not (numeric or pa.types.is_decimal(kind)):
            raise wrong("numbers")
        return col.cast(pa.float64())
    if not numeric:
        raise wrong("whole numbers")
    values = col.cast(pa.float64(), safe=False).to_numpy()  # nulls: NaN, told apart below
    present = ~col.is_null().to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        for bad, what in ((present & np.isnan(values), "is NaN (a missing count is null)"),
                          (present & np.isinf(values), "is not finite"),
                          (present & np.isfinite(values) & (values != np.floor(values)),
                           "is not a whole number"),
                          (present & (np.abs(values) >= MAX_COUNT), "is beyond 2**53")):
            if bad.any():
                raise _row_error(source, f, bad, what, values)
    return col.cast(pa.int64())


def _check_links(students: pd.DataFrame, observations: pd.DataFrame, source: Path) -> None:
    """As import guarantees: every observation belongs to a student of the students table, at
    that student's school (an edited table would count observations of no one, or of a
    student under another school's moments)."""
    school_of = students.set_index("student_id")["school"]
    theirs = observations["student_id"].map(school_of)
    unknown = theirs.isna().to_numpy()
    if unknown.any():
        raise _row_error(source, OBSERVATIONS["student_id"], unknown,
                         "is not in the students table", np.array([]))
    other = (theirs.astype("str") != observations["school"].astype("str")).to_numpy(dtype=bool)
    if other.any():
        raise _row_error(source, OBSERVATIONS["school"], other,
                         "is not the student's school in the students table", np.array([]))


#: (part, whole): a count that cannot exceed another in its row
_AT_MOST = (("sessions_attended", "sessions_possible"), ("assignments_on_time", "assignments_set"))


_BOOL_TEXT = {*BOOL_WORDS, "1.0", "0.0"}


#: what to do about a bad value in a dataset srmsim wrote
DATASET_HINT = "not a dataset as srmsim writes it (re-import the export)"


def _row_error(source: str | Path, f: Field, bad: np.ndarray, what: str,
               values: np.ndarray, file_rows: np.ndarray | None = None,
               hint: str = DATASET_HINT) -> DataError:
    """The error for the rows ``bad`` of field ``f``: how many (``fewer than 10`` when under
    10: the rows are pupils', and `data validate` prints such a count as `c`), the first, and
    its value only when the field is plain data (an id, a name, a date of birth or a note is
    never printed). The first is numbered as in ``file_rows`` (a CSV's rows as a spreadsheet
    numbers them, the header row 1), else 1 = the table's first row."""
    from srmsim.privacy import DEFAULT_THRESHOLD

    rows = np.flatnonzero(bad)
    shown = ""
    if f.kind == "data" and what != "is missing" and not value_may_identify(values[rows[0]]):
        shown = f" ({printable(str(values[rows[0]])[:40])!r})"
    first = int(file_rows[rows[0]]) if file_rows is not None else int(rows[0]) + 1
    many = (plural(len(rows), "row") if len(rows) >= DEFAULT_THRESHOLD
            else f"fewer than {DEFAULT_THRESHOLD} rows")
    return DataError(f"{source}: {f.name} {what}: {many}, first row {first}{shown}; {hint}")


def check_values(frame: pd.DataFrame, tbl: Table, source: str | Path, keys: bool = True,
                 file_rows: np.ndarray | None = None, hint: str = DATASET_HINT) -> None:
    """The rules every reader relies on, checked again on a dataset read from disk: its
    Parquet files may have been edited or written by other tools, and an infinite prior
    attainment or a negative session count would flow silently into every moment.

    Keys present (unless ``keys=False``) and unique, numbers finite and in the schema's range,
    categories and flags known, a part never above its whole. Anonymised datasets pass
    (generalised values are missing). ``file_rows`` and ``hint``: as :func:`_row_error`'s,
    for a table read from a user's own file.
    """
    def fail(field: str, bad: np.ndarray, what: str) -> None:
        raise _row_error(source, tbl[field], bad, what, frame[field].to_numpy(dtype=object),
                         file_rows, hint)

    for f in tbl.fields:
        key = keys and f.name in tbl.key
        if f.name not in frame.columns:
            if (f.required and f.kind == "id" or key) and keys:
                raise DataError(f"{source}: no column {f.name}; not a dataset as srmsim "
                                "writes it (re-import the export)")
            continue
        col = frame[f.name]
        missing = col.isna().to_numpy()
        if (f.kind == "id" and f.required or key) and missing.any():
            fail(f.name, missing, "is missing")
        if f.kind == "id":  # as import refuses them: they would reach pseudonyms and messages
            control = col.astype("str").str.contains(IDENTIFIER_FORBIDDEN_PATTERN, regex=True)
            if control.fillna(False).any():
                fail(f.name, control.fillna(False).to_numpy(dtype=bool),
                     "holds a control character, line break or invisible character")
        if f.type in ("int", "float"):
            vals = pd.to_numeric(col, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
            if (np.isnan(vals) & ~missing).any():
                bad = np.isnan(vals) & ~missing
                comma, comma_hint = comma_numbers(col[bad])  # "93,5": say so, never convert
                if comma_hint and comma[0]:
                    raise _row_error(source, f, bad, "is not a number",
                                     col.to_numpy(dtype=object), file_rows, f"it {comma_hint}")
                fail(f.name, bad, "is not a number")
            ok = ~missing
            with np.errstate(invalid="ignore"):
                if (ok & ~np.isfinite(vals)).any():
                    fail(f.name, ok & ~np.isfinite(vals), "is not finite")
                if f.type == "int" and (ok & (vals != np.floor(vals))).any():
                    fail(f.name, ok & (vals != np.floor(vals)), "is not a whole number")
                if f.type == "int" and (ok & (np.abs(vals) >= MAX_COUNT)).any():
                    fail(f.name, ok & (np.abs(vals) >= MAX_COUNT), "is beyond 2**53")
                if f.min is not None and (ok & (vals < f.min)).any():
                    fail(f.name, ok & (vals < f.min), f"is below {f.min:g}")
                if f.max is not None and (ok & (vals > f.max)).any():
                    fail(f.name, ok & (vals > f.max), f"is above {f.max:g}")
        elif f.type == "bool" and not pd.api.types.is_bool_dtype(col):
            text = col.astype("object").where(~missing, "").astype(str).str.strip().str.lower()
            unknown = ~missing & ~text.isin(list(_BOOL_TEXT)).to_numpy()
            if unknown.any():
                fail(f.name, unknown, "is not true or false")
        elif f.type == "category":
            unknown = ~missing & ~col.astype("str").isin(list(f.categories)).to_numpy()
            if unknown.any():
                fail(f.name, unknown, f"is not one of {', '.join(f.categories)}")
    if tbl.key == ("student_id",) and "student_id" in frame.columns:
        dup = frame["student_id"].duplicated(keep=False).to_numpy()
        if dup.any():
            fail("student_id", dup, "appears more than once")
    elif keys and len(tbl.key) > 1:  # one observation per student and period, as imported
        dup = frame[list(tbl.key)].duplicated(keep=False).to_numpy()
        if dup.any():
            fail(tbl.key[0], dup, f"appears more than once with the same "
                                  f"{' and '.join(tbl.key[1:])}")
    for part, total in _AT_MOST:
        if part in frame.columns and total in frame.columns:
            a = frame[part].to_numpy(dtype="float64", na_value=np.nan)
            b = frame[total].to_numpy(dtype="float64", na_value=np.nan)
            with np.errstate(invalid="ignore"):
                if (a > b).any():
                    fail(part, a > b, f"exceeds {total}")


def repeated_block(frame: pd.DataFrame) -> tuple[int, int] | None:
    """``(p, k)`` when the table is its first ``p`` rows written ``k`` (2 or more) times over,
    cell for cell (the smallest such ``p``), else ``None``.

    Why: a table of pupils without an id column cannot be checked for a pupil listed twice,
    and a file appended to itself (``cat a.csv a.csv``, an export run twice into one file)
    counted every pupil twice, silently. Rows alike by chance are common in a narrow table (a
    school, an attendance of 100% and no outcome), a whole table repeating itself is not: a
    block of one distinct row (every row alike) is not taken for a copy.
    """
    n = len(frame)
    if n < 2:
        return None
    cells = frame.reset_index(drop=True)
    try:
        hashes = pd.util.hash_pandas_object(cells, index=False).to_numpy()
    except TypeError:  # unhashable cells (lists of a nested Parquet column): as text
        hashes = pd.util.hash_pandas_object(cells.astype("str"), index=False).to_numpy()
    for p in range(1, n // 2 + 1):
        if n % p or not (hashes[p:] == hashes[:-p]).all():
            continue
        if len(np.unique(hashes[:p])) < 2:
            continue
        if cells.iloc[p:].reset_index(drop=True).equals(cells.iloc[:-p].reset_index(drop=True)):
            return p, n // p
    return None


def repeated_id_problem(ids: pd.Series, column: str, rows: np.ndarray | None = None
                        ) -> str | None:
    """What to tell the user when a student id (of column ``column``, not a schema key: a
    table's own 'Student ID', 'uid') is on more than one row, naming the first repeat's row and
    the row it repeats, never the id; else ``None``. ``rows``: each row's number in the file
    (default: the header is row 1, then 2, 3, ...). Missing ids are no one's."""
    repeated = ids.notna().to_numpy() & ids.duplicated(keep="first").to_numpy()
    if not repeated.any():
        return None
    numbers = np.arange(2, len(ids) + 2) if rows is None else np.asarray(rows)
    at = int(np.flatnonzero(repeated)[0])
    first = int(np.flatnonzero((ids == ids.iloc[at]).fillna(False).to_numpy(dtype=bool))[0])
    return (f"column '{column}' (student id) repeats: row {numbers[at]} has the id of row "
            f"{numbers[first]}; each row must be one student, counted once")


#: a cell that is a name or a label, not an id: words of letters (a space, an apostrophe, a
#: hyphen, a comma or a dot between them: 'Alice Smith', "O'Brien, Sean") and no digit
_NAME_LIKE = r"[^\W\d_]+(?:[\s'’.,-]+[^\W\d_]+)*[.]?"
#: a pseudonym (hex digits) that happens to hold no digit 0-9 ('deadbeefcafebabe': 1 in
#: 6.5 million of 16 characters, so one in a national file is likely) is an id, not a name
_HEX = r"[0-9A-Fa-f]{8,}"


def names_as_ids_problem(ids: pd.Series, column: str, rows: np.ndarray | None = None,
                         imported: bool = False) -> str | None:
    """What to tell the user when the column taken as the student id (``column``, chosen by
    its name: 'student', 'id') holds names or labels, words with no digit, naming the first
    such row, never its value; else ``None``. Why: names are not ids (two pupils called
    'Alice Smith' were refused as one pupil listed twice, and one pupil under two spellings
    counted twice), and a table of pupils' names is not pseudonymised data. ``rows``: each
    row's number in the file (default: the header is row 1, then 2, 3, ...). ``imported``: the
    ids of a dataset ``srmsim data import`` wrote, which import checked by its own rule
    (:func:`full_names`: codes of letters alone, 'KXBQZ', are ids there): judged by that rule,
    or a dataset import accepted was refused as ``population.records``."""
    if not (ids.dtype == object or pd.api.types.is_string_dtype(ids)):
        return None  # numbers: ids
    if imported:
        named = full_names(ids)
    else:
        text = ids.astype("string").str.strip()
        named = (text.str.fullmatch(_NAME_LIKE) & ~text.str.fullmatch(_HEX)).fillna(False)
        named = named.to_numpy(dtype=bool)
    emails = email_addresses(ids)
    if not (named | emails).any():
        return None
    numbers = np.arange(2, len(ids) + 2) if rows is None else np.asarray(rows)
    at = int((named | emails).argmax())
    what = ("an email address (not shown), not an id: it names its pupil" if emails[at] else
            "a name or a label (words with no digit; not shown), not an id: pupils who share "
            "a name would count as one")
    return (f"column '{column}' is taken as the student id (by its name), but row "
            f"{int(numbers[at]):,} holds {what}\n"
            "give pseudonymised ids (a student_id column) and rename or remove this column")


#: an email address ('alice.smith@school.org'): a pupil's own, holding their name
_EMAIL = r"[^@\s]+@[^@\s]+\.[^@\s.]+"


def email_addresses(values: pd.Series) -> np.ndarray:
    """Which of ``values`` are email addresses. Why: an export's pupil email or login column
    mapped as the student id was imported as ids, the pupils' names in every one, where a
    column of their names is refused (:func:`full_names`)."""
    if not (values.dtype == object or pd.api.types.is_string_dtype(values)):
        return np.zeros(len(values), dtype=bool)
    text = values.astype("string").str.strip()
    return text.str.fullmatch(_EMAIL).fillna(False).to_numpy(dtype=bool)


def full_names(values: pd.Series) -> np.ndarray:
    """Which of ``values`` are a person's full name: two or more words of letters and no digit
    ('Alice Smith', "O'Brien, Sean"). Stricter than :func:`names_as_ids_problem`'s one word:
    import checks every export's ids with it, and codes of letters alone ('a', 'KXB') are ids
    a school may use; a forename and surname never is one."""
    if not (values.dtype == object or pd.api.types.is_string_dtype(values)):
        return np.zeros(len(values), dtype=bool)
    text = values.astype("string").str.strip()
    named = (text.str.fullmatch(_NAME_LIKE) & text.str.contains(r"[\s,]", regex=True)
             ).fillna(False)
    return named.to_numpy(dtype=bool)


def repeated_block_problem(frame: pd.DataFrame, rows: np.ndarray | None = None,
                           ids: str = "a student_id column") -> str | None:
    """What to tell the user when ``frame`` (a table of pupils with no id column) is a block
    of rows written more than once (:func:`repeated_block`), naming the rows, or ``None``.
    ``rows``: each row's number in the file (default: the header is row 1, then 2, 3, ...);
    ``ids``: the id column(s) that would let the rows be told apart."""
    found = repeated_block(frame)
    if found is None:
        return None
    p, k = found
    numbers = np.arange(2, len(frame) + 2) if rows is None else np.asarray(rows)
    copies = "" if k == 2 else f", {k - 1} times over"
    return (f"rows {int(numbers[p]):,}-{int(numbers[-1]):,} repeat rows "
            f"{int(numbers[0]):,}-{int(numbers[p - 1]):,} cell for cell{copies} (the file "
            "appended to itself?)\nwith no id column a pupil listed twice counts as two: "
            f"remove the copy, or add {ids} if they are different pupils")


#: values each held by one pupil, at least this many and most of a column's, make it a column
#: of pupils' own values (names, ids), not of groups
SINGLE_PUPIL_VALUES = 10


def pupils_own_values(values: pd.Series) -> bool:
    """Whether a column meant to group pupils (a school) holds their own values instead: at
    least :data:`SINGLE_PUPIL_VALUES` of its values are each one pupil's, and most of them
    are. A few tiny schools among real ones are groups."""
    sizes = values.dropna().value_counts()
    singles = int((sizes == 1).sum())
    return singles >= SINGLE_PUPIL_VALUES and 2 * singles > len(sizes)
