"""Row-level validation of a school's export against the schema, vectorised with pandas.

Why reject and not repair: a guessed fix (a swapped date, a capped attendance) would enter the
simulation as if the school had recorded it. Every row with any violation is rejected whole and
reported with file, row, source column, schema field, value and rule; accepted + rejected always
equals the rows read. Row numbers: header = row 1, first data row = row 2 (see ``readers``).
"""

from __future__ import annotations

import datetime as dt
from collections import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from srmsim.data.dataset import email_addresses, full_names, pupils_own_values
from srmsim.data.mapping import (
    IDENTITY_SOURCE,
    Mapping,
    MappingError,
    TableMapping,
    missing_words,
    normalise_column,
    student_id_column,
)
from srmsim.data.readers import MAX_SHOWN, RawFile, comma_numbers, read_raw
from srmsim.data.schema import (
    MAX_AGE_MONTHS,
    MAX_WEEKLY_SESSIONS,
    MIN_AGE_MONTHS,
    OBSERVATIONS,
    STUDENTS,
    TABLES,
    Field,
    Table,
    pandas_dtype,
)
from srmsim.errors import DataError
from srmsim.inputs import BOOL_WORDS
from srmsim.labels import (
    HEADER_OF_VALUES,
    IDENTIFIER_FORBIDDEN_PATTERN,
    agree,
    cut,
    excerpt,
    header_holds_values,
    identifier_character,
    plural,
    printable,
    value_may_identify,
)

#: said instead of a file's column names when none of them is mapped and one may name a pupil
NO_HEADER_MAPPED = ("not shown: none of the first row's cells is a column the mapping names, and "
                    "one may be a pupil's name or id (a file without a header row, or the wrong "
                    "mapping?)")

#: Every rule a row can break, with what it means (also in data/README.md).
RULES: dict[str, str] = {
    "missing_required_column": "a required column is not in the file: every row of the file "
                               "is rejected",
    "duplicate_column": "two columns of the file have one name once case and spaces are "
                        "ignored (whether or not a field maps them, unless the mapping "
                        "ignores them): every row is rejected",
    "names_as_ids": "the column mapped to student_id holds pupils' names (two or more words "
                    "of letters, no digit) or email addresses, not pseudonymised ids: every "
                    "row of the file is rejected; the names are never shown",
    "wrong_field_count": "the row has more or fewer cells than the header",
    "bad_encoding": "bytes that are not valid in the declared encoding",
    "missing_value": "a required field is empty",
    "wrong_type": "not a number / whole number / date as the field needs",
    "out_of_range": "a number outside the field's allowed range",
    "unknown_category": "a value that is not one of the field's categories (add it to the "
                        "mapping's 'values')",
    "impossible_age": "age (or date of birth) gives an age under 3 or over 25 years, or a "
                      "birth after the reference date, or an age_months more than 12 months "
                      "from the one its date of birth gives",
    "placeholder_date": "a date a system writes for 'no date' (before 1901, such as "
                        "0001-01-01, 1753-01-01, 1899-12-30 or 1900-01-01; 1970-01-01; or "
                        "in the year 9999): leave the cell empty where the date is unknown",
    "duplicate_student_id": "the student id appears on more than one students row (every "
                            "copy is rejected)",
    "duplicate_upn": "the UPN (a pupil's own number; a value of another shape, such as a "
                     "placeholder, is not judged) is on students rows of different student "
                     "ids: one pupil listed twice (every copy is rejected)",
    "duplicate_observation": "more than one observation row for the same student and period",
    "attended_exceeds_possible": "sessions_attended > sessions_possible",
    "on_time_exceeds_set": "assignments_on_time > assignments_set",
    "control_character": "an identifier (student or school id) holds a control character or "
                         "line break (C0/C1 control, DEL, U+2028/U+2029, a bidirectional "
                         "control) or an invisible one (zero-width space or joiner, word "
                         "joiner, a byte-order mark inside the value); the value is never shown",
    "unknown_school": "school not in the mapping's 'schools' list, or not the student's school "
                      "in the students table",
    "unknown_student": "observation for a student id with no accepted students row",
}

FILE_LEVEL_RULES = ("missing_required_column", "duplicate_column", "names_as_ids")
#: a value that can be a UPN (a letter, then 10 or 11 digits, then a digit or a letter): one
#: pupil's own number, whose repeats under other student ids are ``duplicate_upn``
UPN_SHAPE = r"[A-Z][0-9]{10,11}[0-9A-Z]"
#: how far a given age_months may lie from its date of birth's age at the reference date (an
#: export's age is often of its own day, up to a school year later)
AGE_DOB_SLACK_MONTHS = 12


REJECT_COLUMNS = ["file", "table", "row", "column", "field", "value", "rule", "message"]


@dataclass
class Source:
    """One input file and how its columns map onto a schema table."""

    raw: RawFile
    table: str
    colpos: dict[str, int] = field(default_factory=dict)  # field -> column position
    colname: dict[str, str] = field(default_factory=dict)  # field -> source column name
    constants: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    missing_optional: list[str] = field(default_factory=list)
    file_problems: list[tuple[str, str, str, str]] = field(default_factory=list)


@dataclass
class ValidationResult:
    """Accepted rows per table (schema dtypes), one reject record per violation, and a summary."""

    tables: dict[str, pd.DataFrame]
    rejects: pd.DataFrame
    summary: dict[str, Any]

    @property
    def students(self) -> pd.DataFrame:
        return self.tables["students"]

    @property
    def observations(self) -> pd.DataFrame:
        return self.tables["observations"]

    @property
    def rows_read(self) -> int:
        return int(self.summary["rows_read"])

    @property
    def accepted(self) -> int:
        return int(self.summary["accepted"])

    @property
    def rejected(self) -> int:
        return int(self.summary["rejected"])

    @property
    def ok(self) -> bool:
        """True when nothing was rejected."""
        return self.rejected == 0 and not len(self.rejects)


def assign_tables(files: list[str | Path], mapping: Mapping,
                  students: list[str | Path] | None = None,
                  observations: list[str | Path] | None = None) -> dict[str, list[Path]]:
    """Which table each file holds: explicit lists first, then the mapping's file patterns."""
    out: dict[str, list[Path]] = {name: [] for name in TABLES}
    for p in students or []:
        out["students"].append(Path(p))
    for p in observations or []:
        out["observations"].append(Path(p))
    for p in files:
        out[mapping.classify(p)].append(Path(p))
    seen: set[Path] = set()
    for paths in out.values():
        for p in paths:
            if p.resolve() in seen:
                raise DataError(f"{p}: given twice")
            seen.add(p.resolve())
    return out


def validate_files(files: abc.Mapping[str, abc.Sequence[str | Path]], mapping: Mapping
                   ) -> ValidationResult:
    """Read and validate files per table (``{"students": [...], "observations": [...]}``)."""
    unknown = set(files) - set(TABLES)
    if unknown:
        raise DataError(f"unknown {agree(len(unknown), 'table')} {sorted(unknown)}; expected "
                        f"{sorted(TABLES)}")
    if not any(files.values()):
        raise DataError("no input files given")
    _check_constants(mapping)  # before any file is read
    sources: dict[str, list[Source]] = {name: [] for name in TABLES}
    for name, paths in files.items():
        tm = mapping.for_table(name)
        for p in paths:
            raw = read_raw(p, mapping.encoding_for(name), mapping.missing_values)
            if not raw.n_rows and not raw.problems:  # a failed export, not 0 students (a
                # file in another encoding than declared can read as one line: its rejects say)
                raise DataError(f"{p}: has column names but no rows: no {name} to read "
                                "(export it again, or leave it out)")
            sources[name].append(_map_source(raw, tm))
    return _validate(sources, mapping)


def validate_frames(students: pd.DataFrame, observations: pd.DataFrame | None = None,
                    reference_date: dt.date | None = None, name: str = "<frame>"
                    ) -> ValidationResult:
    """Validate frames already in the schema (e.g. from a loader) with the same rules."""
    from srmsim.data.mapping import identity_mapping

    mapping = identity_mapping()
    mapping.reference_date = reference_date
    sources: dict[str, list[Source]] = {name_: [] for name_ in TABLES}
    for tname, frame in (("students", students), ("observations", observations)):
        if frame is None:
            continue
        raw = _frame_to_raw(frame, f"{name}:{tname}")
        sources[tname].append(_map_source(raw, mapping.for_table(tname)))
    return _validate(sources, mapping)


def _frame_to_raw(frame: pd.DataFrame, path: str) -> RawFile:
    """Typed columns back to text (vectorised), so frames go through the same parsers as files."""
    cols = {}
    for i, c in enumerate(frame.columns):
        s = frame[c]
        if pd.api.types.is_bool_dtype(s):
            text = s.map({True: "true", False: "false"})
        elif pd.api.types.is_datetime64_any_dtype(s):
            text = s.dt.strftime("%Y-%m-%d")
        else:
            text = s.astype("str")
        cols[i] = text.astype("str").where(s.notna().to_numpy())
    body = pd.DataFrame(cols, index=range(len(frame))) if cols else pd.DataFrame(
        index=range(len(frame)))
    raw = RawFile(path=path, header=[str(c) for c in frame.columns], frame=body,
                  rows=np.arange(2, len(frame) + 2, dtype=np.int64))
    raw.structural = np.asarray([], dtype=np.int64)
    return raw


def _isna(v: object) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _map_source(raw: RawFile, tm: TableMapping) -> Source:
    """Find each schema field's column in the file's header."""
    tbl = tm.table
    src = Source(raw=raw, table=tbl.name, constants=dict(tm.constants))
    by_norm: dict[str, list[int]] = {}
    for i, h in enumerate(raw.header):
        by_norm.setdefault(normalise_column(h), []).append(i)
    wanted: dict[str, str] = {}  # field -> normalised source name
    for s, f in tm.columns.items():
        wanted[f] = normalise_column(s)
    ignore = {normalise_column(c) for c in tm.ignore}
    for f in tbl.names:  # a column already named like the field maps itself, unless ignored
        norm = normalise_column(f)  # ('ignore: [Name, Notes]' stored the names and notes)
        if f not in wanted and f not in tm.constants and norm in by_norm and norm not in ignore:
            wanted[f] = norm
    used: set[int] = set()
    for f, norm in wanted.items():
        pos = by_norm.get(norm)
        if not pos:
            continue
        if len(pos) > 1:
            names = ", ".join(repr(raw.header[i]) for i in pos)
            src.file_problems.append((raw.header[pos[0]], f, "duplicate_column",
                                      f"columns {names} all map to field {f}"))
            used.update(pos)
            continue
        src.colpos[f] = pos[0]
        src.colname[f] = raw.header[pos[0]]
        used.add(pos[0])
    for f in tm.constants:
        src.colname[f] = "(constant in mapping)"
    for i, h in enumerate(raw.header):
        if i in used:
            continue
        (src.ignored if normalise_column(h) in ignore else src.unmapped).append(h)
    for norm, pos in by_norm.items():
        if len(pos) > 1 and norm and norm not in ignore and not used.intersection(pos):
            # a pair no field maps (yet): which one a mapping naming it meant cannot be told,
            # and `srmsim thresholds` refuses the file (one verdict for one file)
            names = ", ".join(repr(raw.header[i]) for i in pos)
            src.file_problems.append((raw.header[pos[0]], "", "duplicate_column",
                                      f"columns {names} are one name once case and spaces "
                                      "are ignored; rename the copies (or list the name under "
                                      "'ignore' in the mapping)"))
    for fld in tbl.fields:
        if fld.name in src.colpos or fld.name in src.constants:
            continue
        if any(p[1] == fld.name for p in src.file_problems):
            continue
        expected = tm.source_for(fld.name) or fld.name
        src.colname.setdefault(fld.name, expected)
        if fld.required:
            src.file_problems.append((expected, fld.name, "missing_required_column",
                                      f"required column {excerpt(expected)} (field {fld.name}) not found"))
        elif fld.name in tm.columns.values():
            src.missing_optional.append(expected)
    for group in tbl.one_of:
        if not any(g in src.colpos or g in src.constants for g in group):
            names = " or ".join(repr(tm.source_for(g) or g) for g in group)
            src.file_problems.append((names, "/".join(group), "missing_required_column",
                                      f"needs a column for {' or '.join(group)} ({names}); "
                                      "none found"))
    if any(p[2] == "missing_required_column" for p in src.file_problems):
        _title_rows_above(raw, set(wanted.values()))
    _names_as_ids(src)
    return src


def _names_as_ids(src: Source) -> None:
    """A file whose student_id column holds pupils' full names (a 'Student' column of names
    mapped as the id) is a file-level problem naming the column and the first such row, never
    a name. Why: it was imported as it was, the names kept as ids in the dataset, and every
    command that read the dataset later (a scenario's population.records, thresholds) refused
    it; names are not ids (two pupils of one name were one) and not pseudonymised data."""
    pos = src.colpos.get("student_id")
    if pos is None:
        return
    emails = email_addresses(src.raw.frame[pos])
    named = full_names(src.raw.frame[pos]) | emails
    if not named.any():
        return
    column = src.colname["student_id"]
    at = int(named.argmax())
    what = "email addresses" if emails[at] else "names"
    src.file_problems.append((column, "student_id", "names_as_ids", (
        f"column {excerpt(column)} (student_id) holds pupils' {what}, not ids, from row "
        f"{int(src.raw.rows[at]):,} (not shown); map a pseudonymised id column to student_id "
        "(a names column may be mapped to name, which anonymise drops)")))


def _title_rows_above(raw: RawFile, wanted: set[str]) -> None:
    """Refuse, naming the row, a file whose column names are a few rows down (a report title,
    a date line or a two-row header above them): each required column was reported missing
    and every row rejected, with no word of why."""
    for i in range(min(5, raw.n_rows)):
        cells = {normalise_column(v) for v in raw.frame.iloc[i].dropna().astype(str)}
        if len(cells & wanted) >= 2:
            raise DataError(f"{raw.path}: the column names are on row {int(raw.rows[i])}, not "
                            "row 1: delete the title (or other) rows above them")


class _Collector:
    """Collects violations for one table's combined frame, vectorised."""

    def __init__(self, frame: pd.DataFrame, sources: list[Source], table: str):
        self.frame = frame
        self.sources = sources
        self.table = table
        self.src = frame["_src"].to_numpy()
        self.rows = frame["_row"].to_numpy()
        self.files = np.array([s.raw.path for s in sources] + [""], dtype=object)
        self.bad = np.zeros(len(frame), dtype=bool)
        self.parts: list[pd.DataFrame] = []
        self.file_level: list[dict] = []

    def column_names(self, fname: str) -> np.ndarray:
        return np.array([s.colname.get(fname, fname) for s in self.sources] + [""], dtype=object)

    def add(self, mask: np.ndarray | pd.Series, fname: str, rule: str, message: Any,
            value: Any = None) -> None:
        mask = np.asarray(mask, dtype=bool)
        idx = np.flatnonzero(mask)
        if not len(idx):
            return
        self.bad[idx] = True
        src = self.src[idx]
        if value is None:
            value = (self.frame[fname].to_numpy(dtype=object, na_value="")[idx]
                     if fname in self.frame.columns else "")
        elif isinstance(value, pd.Series | np.ndarray):
            value = np.asarray(value, dtype=object)[idx]
        if callable(message):  # built only for the offending rows
            message = np.asarray(message(idx), dtype=object)
        elif isinstance(message, pd.Series | np.ndarray):
            message = np.asarray(message, dtype=object)[idx]
        self.parts.append(pd.DataFrame({
            "file": self.files[src], "table": self.table, "row": self.rows[idx],
            "column": self.column_names(fname)[src], "field": fname, "value": value,
            "rule": rule, "message": message, "_pos": idx,
        }))

    def add_file_level(self, s_index: int, column: str, fname: str, rule: str,
                       message: str) -> None:
        mask = self.src == s_index
        self.bad[mask] = True
        n = int(mask.sum())
        # (not "all 3 rows": the report prints a count under the threshold as 'c', and the
        # message beside it gave the file's row count away)
        self.file_level.append({
            "file": self.files[s_index], "table": self.table, "row": pd.NA, "column": column,
            "field": fname, "value": "", "rule": rule,
            "message": f"{message}; every row of the file rejected", "_pos": -1,
            "_src": s_index, "_n": n})

    def records(self) -> pd.DataFrame:
        parts = [p for p in self.parts if len(p)]
        if self.file_level:
            parts.insert(0, pd.DataFrame(self.file_level).drop(columns=["_src", "_n"]))
        if not parts:
            return pd.DataFrame({c: pd.Series([], dtype=object) for c in REJECT_COLUMNS + ["_pos"]})
        return pd.concat(parts, ignore_index=True)


def _combine(sources: list[Source], tbl: Table) -> pd.DataFrame:
    """One frame of raw text per schema field over all files of a table, plus _src and _row."""
    frames = []
    for i, s in enumerate(sources):
        n = s.raw.n_rows
        cols: dict[str, Any] = {}
        for f in tbl.names:
            if f in s.colpos:
                cols[f] = s.raw.frame[s.colpos[f]].reset_index(drop=True)
            elif f in s.constants:
                cols[f] = pd.Series([s.constants[f]] * n, dtype="str")
            else:
                cols[f] = pd.Series([pd.NA] * n, dtype="str")
        cols["_src"] = pd.Series(np.full(n, i, dtype=np.int64))
        cols["_row"] = pd.Series(s.raw.rows.astype(np.int64))
        frames.append(pd.DataFrame(cols))
    if not frames:
        empty = {f: pd.Series([], dtype="str") for f in tbl.names}
        empty["_src"] = pd.Series([], dtype=np.int64)
        empty["_row"] = pd.Series([], dtype=np.int64)
        return pd.DataFrame(empty)
    return pd.concat(frames, ignore_index=True)


def _value_map(tm: TableMapping, fname: str) -> dict[str, Any]:
    return {str(k).casefold(): v for k, v in tm.values.get(fname, {}).items()}


#: the dates read without a ``date_formats`` entry: ISO 8601 dates, and date-times with "T" or a
#: space (an SQL export's "2013-02-01 10:30:00"), whose time is dropped; only "T" with seconds
#: was read, so "2013-02-01 10:30" was rejected where "2013-02-01T10:30:00" was the same day
ISO_DATE_FORMS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S",
                  "%Y-%m-%d %H:%M")


#: a time of day followed by a time zone (``+01:00``, ``-0500``, ``Z``), as Python and pandas
#: write a zoned timestamp
_ZONED_TIME = r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[+-]\d{2}:?\d{2}|Z|UTC)$"


def _parse_field(raw: pd.Series, f: Field, tm: TableMapping, col: _Collector,
                 missing: tuple[str, ...] | None = None) -> pd.Series:
    """Parse one field's text into its type; unparseable values become violations.
    ``missing``: the cells that mean "no value" (the mapping's), named where a number is
    unreadable, as thresholds names them (None: a mapping's constant, never missing)."""
    present = raw.notna().to_numpy()
    vmap = _value_map(tm, f.name)
    folded = raw.str.casefold() if (vmap or f.type in ("category", "bool")) else raw
    if f.type in ("category", "bool"):
        lookup: dict[str, Any] = {}
        if f.type == "bool":
            lookup.update(BOOL_WORDS)
        else:
            lookup.update({c.casefold(): c for c in f.categories})
        lookup.update({k: (_canonical(f, v) if f.categories else v) for k, v in vmap.items()})
        parsed = folded.map(lookup)
        bad = present & parsed.isna().to_numpy()
        allowed = f.allowed + (" (or a value listed under 'values' in the mapping)")
        col.add(bad, f.name, "unknown_category", f"{f.name} must be one of {allowed}")
        return parsed.astype(pandas_dtype(f))
    hit = folded.isin(list(vmap)).to_numpy() if vmap else np.zeros(len(raw), dtype=bool)
    if f.type == "str":
        if hit.any():
            mapped = folded.map({k: str(v) for k, v in vmap.items()})
            text = raw.where(~hit, mapped).astype("str")
        else:
            text = raw.astype("str")
        if f.kind == "id":  # the row is rejected; no other rule repeats the value
            text = text.where(~_control_characters(text, f, col))
        return text
    rest = raw.where(~hit)
    if f.type in ("int", "float"):
        num = pd.Series(_to_float(rest), index=raw.index, dtype="float64")
        if hit.any():
            num[hit] = folded[hit].map(vmap).astype("float64")
        arr = num.to_numpy()
        bad = present & ~np.isfinite(arr)
        what = "a whole number" if f.type == "int" else "a number"
        if f.type == "int":
            with np.errstate(invalid="ignore"):
                frac = np.isfinite(arr) & (arr != np.floor(arr))
            bad |= frac
        message = f"{f.name} must be {what}"
        messages = _number_messages(raw, bad, message, col)
        unreadable = present & ~np.isfinite(arr)  # text ('-nan', '#NA'), not a fraction
        if missing is not None and unreadable.any():
            # '-nan' was refused as "must be a number", not saying how a missing cell is written
            if isinstance(messages, str):
                messages = np.full(len(raw), messages, dtype=object)
            plain = unreadable & (messages == message)
            messages[plain] = f"{message}; a missing value is {missing_words(missing)}"
        col.add(bad, f.name, "wrong_type", messages)
        num = num.where(~bad)
        ok = num.notna().to_numpy()
        out = np.zeros(len(raw), dtype=bool)
        if f.min is not None:
            out |= ok & (arr < f.min)
        if f.max is not None:
            out |= ok & (arr > f.max)
        if f.type == "int":  # beyond 2**53 a count is not exact (and beyond 2**63 not an int64)
            huge = ok & (np.abs(np.where(ok, arr, 0.0)) >= 2.0**53)
            col.add(huge & ~out, f.name, "out_of_range", f"{f.name} must be below 2**53")
            num = num.where(~huge)
        if f.name == "age_months":
            col.add(out, f.name, "impossible_age",
                    f"age_months must be {MIN_AGE_MONTHS} to {MAX_AGE_MONTHS} (3 to 25 years)")
        else:
            col.add(out, f.name, "out_of_range", f"{f.name} must be {f.allowed}")
        num = num.where(~out)
        return num.round().astype("Int64") if f.type == "int" else num
    if f.type == "date":
        fmt = tm.date_formats.get(f.name)
        parsed = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[s]")
        todo = rest.notna()
        for form in ([fmt] if fmt else []) + list(ISO_DATE_FORMS):
            if not todo.any():
                break
            got = pd.to_datetime(rest.where(todo), format=form, errors="coerce")
            got = got.dt.floor("D").astype("datetime64[s]")
            parsed = parsed.where(got.isna(), got)
            todo &= got.isna()
        bad = todo.to_numpy()
        shown = fmt or "YYYY-MM-DD (a time after it, as in 2013-02-01 10:30, is ignored)"
        message = f"{f.name} must be a date in the format {shown}"
        # a time with a zone (a Parquet timestamp stored in UTC: a London midnight in summer
        # is 23:00 the day before) was told its time "is ignored", which it was not
        zoned = rest.str.contains(_ZONED_TIME, regex=True, na=False).to_numpy() & bad
        col.add(zoned, f.name, "wrong_type", f"{f.name} is a date and time with a time zone, "
                "whose day depends on the zone: export the date alone (YYYY-MM-DD)")
        col.add(bad & ~zoned, f.name, "wrong_type", message)
        placeholder = placeholder_dates(parsed)
        col.add(placeholder, f.name, "placeholder_date",
                f"{f.name} is a placeholder date (a system's 'no date'), not a real one: leave "
                "the cell empty where the date is unknown")
        return parsed.where(~placeholder)
    raise AssertionError(f"unhandled type {f.type}")


#: the dates systems write for "no date": every date before this (0001-01-01 of .NET and
#: SQL, 1753-01-01 of SQL Server, 1899-12-30 and 1900-01-01 of Excel), the Unix epoch, and
#: the year 9999 (9999-12-31, "forever")
PLACEHOLDER_BEFORE = "1901-01-01"
PLACEHOLDER_DATES = ("1970-01-01",)
PLACEHOLDER_FROM_YEAR = 9999


def placeholder_dates(dates: pd.Series) -> np.ndarray:
    """Which of ``dates`` (parsed, missing as NaT) are a system's placeholder for "no date"
    (:data:`PLACEHOLDER_BEFORE`, :data:`PLACEHOLDER_DATES`, :data:`PLACEHOLDER_FROM_YEAR`).
    Why: a period_start of 0001-01-01 was imported, and numbered every week of the export from
    it ("week 1 starts 0001-01-01": the real weeks became weeks 105,000 and more)."""
    days = dates.dt.floor("D")
    found = ((days < pd.Timestamp(PLACEHOLDER_BEFORE))
             | days.isin(pd.to_datetime(list(PLACEHOLDER_DATES)))
             | (dates.dt.year >= PLACEHOLDER_FROM_YEAR))
    return found.fillna(False).to_numpy(dtype=bool)


def _number_messages(raw: pd.Series, bad: np.ndarray, message: str, col: _Collector
                     ) -> str | np.ndarray:
    """``message``, or one for each row, saying what is wrong where a bad cell is a number
    written with a comma ("93,5" from a spreadsheet in a European language): "must be a
    number" alone did not say. Each file's column is judged on its own
    (:func:`~srmsim.data.readers.comma_numbers`)."""
    messages: str | np.ndarray = message
    for s in np.unique(col.src[bad]):
        rows = np.flatnonzero(bad & (col.src == s))
        comma, hint = comma_numbers(raw.iloc[rows])
        if hint:
            if isinstance(messages, str):
                messages = np.full(len(raw), message, dtype=object)
            messages[rows[comma]] = f"{message}; it {hint}"
    return messages


def _control_characters(ids: pd.Series, f: Field, col: _Collector) -> np.ndarray:
    """Rows whose identifier holds a control character or line break, rejected: it would flow
    into pseudonyms, file names and messages (ending a report line early, or driving the
    terminal that prints it). So does an invisible character: ``S1`` and ``S1\u200b`` were two
    schools (and two pupils) that print alike. The value is not repeated, only which character
    it holds; free-text fields may hold line breaks and are not checked."""
    bad = ids.str.contains(IDENTIFIER_FORBIDDEN_PATTERN, regex=True).fillna(False).to_numpy(
        dtype=bool)
    if bad.any():
        col.add(bad, f.name, "control_character",
                lambda idx: [f"{f.name} holds the control or invisible character "
                             f"{identifier_character(v)}; an identifier must be plain "
                             "printable text"
                             for v in ids.iloc[idx]], value="")
    return bad


def _text(s: pd.Series) -> np.ndarray:
    """Values as text for messages (missing -> empty), as an object array that + can join."""
    return s.astype("str").fillna("").to_numpy(dtype=object)


_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def _to_float(text: pd.Series) -> np.ndarray:
    """Parse decimal numbers in Arrow (fast); anything else -- '7a', 'inf', '1,5' -- is NaN."""
    arr = pa.array(text.astype("str"), type=pa.large_string(), from_pandas=True)
    valid = pc.match_substring_regex(arr, _NUMBER)
    nums = pc.cast(pc.if_else(valid, arr, pa.scalar(None, pa.large_string())), pa.float64())
    return nums.to_numpy(zero_copy_only=False)


def _canonical(f: Field, v: Any) -> str:
    for c in f.categories:
        if str(v).casefold() == c.casefold():
            return c
    return str(v)


def age_in_months(dob: pd.Series, ref: dt.date) -> pd.Series:
    """Completed months of age at ``ref`` (a month is completed on the day-of-month of birth)."""
    year = dob.dt.year.astype("float64")
    month = dob.dt.month.astype("float64")
    day = dob.dt.day.astype("float64")
    months = (ref.year - year) * 12 + (ref.month - month) - (day > ref.day).astype("float64")
    return months.where(dob.notna()).astype("Int64")


def _validate_table(tbl: Table, sources: list[Source], mapping: Mapping
                    ) -> tuple[pd.DataFrame, _Collector]:
    tm = mapping.for_table(tbl.name)
    frame = _combine(sources, tbl)
    col = _Collector(frame, sources, tbl.name)
    for i, s in enumerate(sources):
        for column, fname, rule, message in s.file_problems:
            col.add_file_level(i, column, fname, rule, message)
        _add_read_problems(col, i, s)
    parsed = pd.DataFrame(index=frame.index)
    for f in tbl.fields:
        parsed[f.name] = _parse_field(frame[f.name], f, tm, col, mapping.missing_values)
    present_cols = np.array([[f in s.colpos or f in s.constants for s in sources] + [False]
                             for f in tbl.names], dtype=bool)
    has_col = {f: present_cols[j][col.src] for j, f in enumerate(tbl.names)}

    for f in tbl.fields:
        if f.required:
            miss = frame[f.name].isna().to_numpy() & has_col[f.name]
            col.add(miss, f.name, "missing_value", f"required field {f.name} is empty")
    for group in tbl.one_of:
        any_col = np.zeros(len(frame), dtype=bool)
        all_na = np.ones(len(frame), dtype=bool)
        for g in group:
            any_col |= has_col[g]
            all_na &= frame[g].isna().to_numpy()
        col.add(any_col & all_na, group[0], "missing_value",
                f"needs a value for {' or '.join(group)}; all are empty")

    if mapping.schools is not None:
        allowed = set(mapping.schools)
        sch = parsed["school"]
        unknown = sch.notna().to_numpy() & ~sch.isin(list(allowed)).to_numpy()
        col.add(unknown, "school", "unknown_school",
                f"school is not in the mapping's schools list {sorted(allowed)}")

    if tbl is STUDENTS:
        _check_students(frame, parsed, mapping, col)
    else:
        _check_observations(frame, parsed, col)
    return parsed, col


def _add_read_problems(col: _Collector, s_index: int, s: Source) -> None:
    """Faults found while reading the file (encoding, ragged rows) become violations."""
    if not s.raw.problems:
        return
    base = np.flatnonzero(col.src == s_index)
    pos_to_field = {p: f for f, p in s.colpos.items()}
    for prob in s.raw.problems:
        if prob["row"] is None:
            col.file_level.append({
                "file": s.raw.path, "table": col.table, "row": pd.NA, "column": "",
                "field": "", "value": "", "rule": prob["rule"],
                "message": prob["message"] + " (column names may not match the mapping)",
                "_pos": -1, "_src": s_index, "_n": 0})
            continue
        k = int(np.searchsorted(s.raw.rows, prob["row"]))
        idx = base[k]
        mask = np.zeros(len(col.frame), dtype=bool)
        mask[idx] = True
        fld = pos_to_field.get(prob["col"], "") if prob["col"] is not None else ""
        column = s.raw.header[prob["col"]] if prob["col"] is not None else ""
        col.bad[idx] = True
        col.parts.append(pd.DataFrame({
            "file": [s.raw.path], "table": [col.table], "row": [prob["row"]],
            "column": [column], "field": [fld], "value": [prob["value"]], "rule": [prob["rule"]],
            "message": [prob["message"]], "_pos": [idx]}))


def _check_students(frame: pd.DataFrame, parsed: pd.DataFrame, mapping: Mapping,
                    col: _Collector) -> None:
    dob = parsed["date_of_birth"]
    if dob.notna().any():
        ref = mapping.reference_date
        if ref is None and mapping.source == IDENTITY_SOURCE:  # no mapping file was given
            raise DataError("the students file has dates of birth: ages are computed at a "
                            "reference date, which a mapping file gives; write one holding "
                            "the line 'reference_date: 2024-09-01' (the first day of the "
                            "school year) and pass it with --mapping FILE")
        if ref is None:
            raise MappingError(mapping.source, [(
                "reference_date", "needed because date_of_birth is given: ages are computed at "
                "this date (e.g. reference_date: 2024-09-01)")])
        age = age_in_months(dob, ref)
        arr = age.to_numpy(dtype="float64", na_value=np.nan)
        bad = np.isfinite(arr) & ((arr < MIN_AGE_MONTHS) | (arr > MAX_AGE_MONTHS))
        col.add(bad, "date_of_birth", "impossible_age",
                "age " + _text(age) + f" months at "
                f"{ref.isoformat()}; a pupil must be {MIN_AGE_MONTHS} to {MAX_AGE_MONTHS} "
                "months (3 to 25 years) old")
        # both given: an age_months may be of the export's day, not the reference date, but
        # not more than a year off what the date of birth gives (age 200 months beside a birth
        # giving 139 was stored as 200: one of the two is wrong, and which is not known)
        given = parsed["age_months"].astype("float64").to_numpy(na_value=np.nan)
        with np.errstate(invalid="ignore"):
            apart = np.isfinite(arr) & np.isfinite(given) & ~bad & (
                np.abs(given - arr) > AGE_DOB_SLACK_MONTHS)
        col.add(apart, "age_months", "impossible_age",  # (the birth's age is not shown)
                "age_months " + _text(parsed["age_months"]) + " is more than "
                f"{AGE_DOB_SLACK_MONTHS} months from the age the date of birth gives at "
                f"{ref.isoformat()}: one of them is wrong")
        fill = parsed["age_months"].isna() & age.notna()
        parsed.loc[fill, "age_months"] = age[fill]
    ids = parsed["student_id"]
    dup = ids.notna().to_numpy() & ids.duplicated(keep=False).to_numpy()
    if dup.any():
        counts = ids[dup].map(ids[dup].value_counts())
        where = _where_listing(frame, col, dup, ids)
        msg = pd.Series("", index=frame.index, dtype=object)
        msg[dup] = ("student_id appears " + counts.astype(str) + " times (" + where[dup] + ")")
        col.add(dup, "student_id", "duplicate_student_id", msg.to_numpy())
    if "upn" in parsed.columns:
        # a UPN is one pupil's, nationally: one under two student ids (two schools' exports
        # both listing a pupil who moved, or is dual-registered) counted the pupil twice
        upn = parsed["upn"].astype("string").str.strip().str.upper()
        # only a value shaped like a UPN: a placeholder ("UNKNOWN", "TBC", "0") is no pupil's
        known = upn.str.fullmatch(UPN_SHAPE).fillna(False).astype(bool) & ids.notna()
        holders = ids[known].groupby(upn[known]).transform("nunique")
        twice = np.zeros(len(parsed), dtype=bool)
        twice[np.flatnonzero(known.to_numpy())[(holders > 1).to_numpy()]] = True
        if twice.any():
            where = _where_listing(frame, col, twice, upn)
            col.add(twice, "upn", "duplicate_upn",
                    ("the same upn is on rows with other student ids (" + where[twice]
                     + "): one pupil listed twice?").reindex(frame.index).to_numpy())


def _where_listing(frame: pd.DataFrame, col: _Collector, mask: np.ndarray,
                   key: pd.Series) -> pd.Series:
    """For duplicated keys, 'rows 3, 9 of a.csv' so the user can find every copy."""
    sub = pd.DataFrame({"key": key[mask], "file": col.files[col.src[mask]],
                        "row": col.rows[mask]})
    listing = sub.groupby(["key", "file"], sort=False)["row"].agg(
        lambda r: ", ".join(str(x) for x in r[:10]) + (" ..." if len(r) > 10 else ""))
    listing = listing.reset_index()
    listing["text"] = "rows " + listing["row"] + " of " + listing["file"].map(
        lambda p: Path(p).name)
    per_key = listing.groupby("key", sort=False)["text"].agg("; ".join)
    out = pd.Series("", index=frame.index, dtype=object)
    out[mask] = key[mask].map(per_key).to_numpy(dtype=object)
    return out


def _check_observations(frame: pd.DataFrame, parsed: pd.DataFrame, col: _Collector) -> None:
    pos = parsed["sessions_possible"].astype("float64").to_numpy()
    att = parsed["sessions_attended"].astype("float64").to_numpy()
    def pair(a: str, b: str) -> Any:
        return lambda idx: (f"{a} " + _text(frame[a].iloc[idx]) + f" > {b} "
                            + _text(frame[b].iloc[idx]))

    with np.errstate(invalid="ignore"):
        col.add(att > pos, "sessions_attended", "attended_exceeds_possible",
                pair("sessions_attended", "sessions_possible"))
        weekly = (parsed["period_type"] == "week").fillna(False).to_numpy()
        col.add(weekly & (pos > MAX_WEEKLY_SESSIONS), "sessions_possible", "out_of_range",
                f"more than {MAX_WEEKLY_SESSIONS} sessions possible in one week")
        st = parsed["assignments_set"].astype("float64").to_numpy()
        ot = parsed["assignments_on_time"].astype("float64").to_numpy()
        col.add(ot > st, "assignments_on_time", "on_time_exceeds_set",
                pair("assignments_on_time", "assignments_set"))
    # duplicate (student, period type, period) -- the period as it will be stored: given, or
    # numbered from its start date (two dates of one week, or a number and a date of the same
    # week, made a dataset that its own reader refused)
    numbers, _ = _period_numbers(parsed, parsed)
    keys = pd.DataFrame({"s": parsed["student_id"], "t": parsed["period_type"], "p": numbers})
    complete = (parsed["student_id"].notna() & parsed["period_type"].notna()
                & numbers.notna()).to_numpy()
    dup = complete & keys.duplicated(keep=False).to_numpy()
    if dup.any():
        per = pd.Series(np.where(parsed["period"].notna().to_numpy(), _text(parsed["period"]),
                                 "starting " + _text(parsed["period_start"].dt.strftime(
                                     "%Y-%m-%d")) + ", numbered " + _text(numbers)),
                        index=parsed.index, dtype=object)
        key = pd.Series(_text(parsed["student_id"]) + "|" + _text(parsed["period_type"]) + "|"
                        + _text(numbers), index=parsed.index)
        where = _where_listing(frame, col, dup, key)
        col.add(dup, "student_id", "duplicate_observation",
                ("more than one row for this student and " + _text(parsed["period_type"])
                 + " " + per.to_numpy(dtype=object) + " (" + where.to_numpy(dtype=object)
                 + ")"))


def _link_observations(obs: pd.DataFrame, col: _Collector, students: pd.DataFrame,
                       all_student_ids: pd.Series) -> None:
    """Observations must belong to an accepted student, at that student's school."""
    school_of = students.set_index("student_id")["school"]
    sid = obs["student_id"]
    their_school = sid.map(school_of)
    known = their_school.notna().to_numpy()
    present = sid.notna().to_numpy()
    listed = pd.Index(all_student_ids.unique()).get_indexer(sid) >= 0
    in_rejected = listed & ~known
    col.add(present & ~known & ~in_rejected, "student_id", "unknown_student",
            "student_id is not in the students table")
    col.add(present & in_rejected, "student_id", "unknown_student",
            "this student's row in the students table was rejected")
    mismatch = (present & known & obs["school"].notna().to_numpy()
                & (their_school.astype("str") != obs["school"]).fillna(False).to_numpy())
    col.add(mismatch, "school", "unknown_school",
            "student is at school " + _text(their_school)
            + " in the students table")


def _period_numbers(obs: pd.DataFrame, export: pd.DataFrame
                    ) -> tuple[pd.Series, dict[str, str]]:
    """Each row's period: as given, else numbered from ``period_start``, with the origin taken
    from every row of ``export`` (the whole observations export, rejected rows included, so
    the rows kept are numbered as the duplicate check numbered them).

    Weeks: week 1 is the calendar week (Monday to Sunday) of the earliest week start in the
    export, and a later week is numbered by elapsed calendar weeks (so holidays leave gaps): a
    term starting on a Wednesday, with the next week's rows dated Monday, is weeks 1 and 2
    (counting days from that Wednesday made them 1 and 1, and every later week one too low).
    Terms: the distinct term start dates in order are terms 1, 2, 3, ...
    """
    period = obs["period"].copy()
    origin: dict[str, str] = {}
    need = period.isna() & obs["period_start"].notna()
    if not need.any():
        return period, origin
    for ptype in ("week", "term"):
        rows = need & (obs["period_type"] == ptype).fillna(False)
        if not rows.any():
            continue
        dates = export.loc[(export["period_type"] == ptype).fillna(False),
                           "period_start"].dropna()
        if ptype == "week":
            def monday(d: pd.Series) -> pd.Series:
                return d.dt.normalize() - pd.to_timedelta(d.dt.day_of_week, unit="D")

            first = monday(dates).min()
            origin[ptype] = first.date().isoformat()
            days = (monday(obs.loc[rows, "period_start"]) - first).dt.days
            period.loc[rows] = (days // 7 + 1).astype("Int64")
        else:
            origin[ptype] = dates.min().date().isoformat()
            ranks = {d: i + 1 for i, d in enumerate(sorted(dates.unique()))}
            period.loc[rows] = obs.loc[rows, "period_start"].map(ranks).astype("Int64")
    return period.astype("Int64"), origin


#: periods a school year at most: calendar weeks, and terms (three, or six half-terms)
_PERIODS_A_YEAR = {"week": 53, "term": 6}


def _far_periods(observations: pd.DataFrame) -> list[str]:
    """A note for each period type whose periods reach past :data:`srmsim.scenario.MAX_YEARS`
    school years. Why: one mistyped year (2204-09-09, or 1902 for 2024) numbered the other weeks
    from it, thousands of weeks apart, and was imported without a word; `srmsim calibrate` then
    refused the dataset. Which row is wrong is not known (a stray early date moves every
    other row), so this is a note, not a reject."""
    from srmsim.scenario import MAX_YEARS

    notes = []
    for ptype, per_year in _PERIODS_A_YEAR.items():
        periods = observations.loc[(observations["period_type"] == ptype).fillna(False),
                                   "period"].dropna()
        if len(periods) and int(periods.max()) > per_year * MAX_YEARS:
            notes.append(f"{ptype}s reach {ptype} {int(periods.max()):,}, more than "
                         f"{MAX_YEARS} school years: is a period or period_start far from the "
                         "others (a mistyped year)? srmsim calibrate refuses such a dataset")
    return notes


def _check_constants(mapping: Mapping) -> None:
    """A constant its field cannot hold (``constants: {sex: Female}``, not a category) is a
    mistake in the mapping and is named there: read as a cell, it rejected every row of the
    file, each with the cell's message. Checked the way a cell is (after any recoding under
    ``values``)."""
    problems: list[tuple[str, str]] = []
    for name, tm in mapping.tables.items():
        for fname, value in tm.constants.items():
            frame = pd.DataFrame({fname: pd.Series([value], dtype="str"), "_src": [0],
                                  "_row": [0]})
            col = _Collector(frame, [], name)
            _parse_field(frame[fname], tm.table[fname], tm, col)
            if col.bad.any():
                message = str(pd.concat(col.parts)["message"].iloc[0]) if col.parts else ""
                problems.append((f"{name}.constants.{fname}", f"{excerpt(value)}: {message}"))
    if problems:
        raise MappingError(mapping.source, problems)


def _validate(sources: dict[str, list[Source]], mapping: Mapping) -> ValidationResult:
    parsed: dict[str, pd.DataFrame] = {}
    cols: dict[str, _Collector] = {}
    for name, tbl in TABLES.items():
        parsed[name], cols[name] = _validate_table(tbl, sources[name], mapping)
    notes: list[str] = [f"{s.raw.path}: {s.raw.encoding_hint}, or set 'encoding: cp1252' in "
                        "the mapping" for name in TABLES for s in sources[name]
                        if s.raw.encoding_hint]
    st_ok = ~cols["students"].bad
    students = parsed["students"].loc[st_ok].reset_index(drop=True)
    if sources["observations"]:
        if sources["students"]:
            all_ids = parsed["students"]["student_id"].dropna()
            _link_observations(parsed["observations"], cols["observations"], students, all_ids)
        else:
            notes.append("no students file: observations were not checked against students")
    for name in TABLES:
        structural = np.zeros(len(cols[name].frame), dtype=bool)
        for i, s in enumerate(sources[name]):
            if s.raw.structural is not None and len(s.raw.structural):
                base = np.flatnonzero(cols[name].src == i)
                structural[base[s.raw.structural]] = True
        cols[name].structural = structural  # type: ignore[attr-defined]
    if len(students) and pupils_own_values(students["school"]):
        # said at import, not only when a summary refuses to publish it
        notes.append("most school values are each one pupil's own: a name or pupil id in the "
                     "school column? (check the export and the mapping; `data summary` will "
                     "not publish such a column)")
    obs_ok = ~cols["observations"].bad
    observations = parsed["observations"].loc[obs_ok].reset_index(drop=True)
    observations = observations.copy()
    observations["period"], origin = _period_numbers(observations, parsed["observations"])
    if origin:
        starts = "; ".join(f"{ptype} 1 starts {day}" for ptype, day in origin.items())
        notes.append(f"period numbered from period_start: {starts}")
    notes.extend(_far_periods(observations))

    rejects = []
    for name in TABLES:
        rec = cols[name].records()
        if len(rec) and cols[name].structural.any():  # type: ignore[attr-defined]
            # a ragged row is reported once, not once per empty cell it produced
            pos = rec["_pos"].to_numpy()
            ragged = np.zeros(len(rec), dtype=bool)
            ok_pos = pos >= 0
            ragged[ok_pos] = cols[name].structural[pos[ok_pos]]  # type: ignore[attr-defined]
            rec = rec.loc[~ragged | (rec["rule"] == "wrong_field_count").to_numpy()]
        rejects.append(rec)
    rej = pd.concat(rejects, ignore_index=True)
    rej["row"] = rej["row"].astype("Int64")
    rej["_order"] = rej["row"].fillna(-1)
    rej["_table"] = rej["table"].map({name: i for i, name in enumerate(TABLES)})
    rej = rej.sort_values(["_table", "file", "_order"], kind="stable").drop(
        columns=["_order", "_pos", "_table"]).reset_index(drop=True)
    rej = rej[REJECT_COLUMNS]
    rej["row"] = rej["row"].astype("Int64")
    for c in ("file", "table", "column", "field", "value", "rule", "message"):
        rej[c] = rej[c].astype("str")

    summary = _summary(sources, cols, rej, notes, mapping)
    tables = {"students": students, "observations": observations}
    result = ValidationResult(tables=tables, rejects=rej, summary=summary)
    result.summary["period_origin"] = origin
    return result


def _id_column_unmapped(src: Source) -> str | None:
    """The file's column not imported whose name makes it the student id elsewhere
    (:func:`srmsim.data.mapping.student_id_column`: 'Pupil', 'Student ID'), when no column is
    the table's student_id. Why: thresholds and population.records take such a column as the
    id, while import said only that it was not imported, then that student_id was missing."""
    if "student_id" not in TABLES[src.table] or "student_id" in src.colpos \
            or "student_id" in src.constants:
        return None
    own = student_id_column(src.unmapped)
    return None if own is None or normalise_column(own) == "upn" else own


def _summary(sources: dict[str, list[Source]], cols: dict[str, _Collector], rej: pd.DataFrame,
             notes: list[str], mapping: Mapping) -> dict[str, Any]:
    files = []
    by_rule_total: dict[str, int] = {}
    tables: dict[str, dict[str, int]] = {}
    for name in TABLES:
        c = cols[name]
        t_read = t_rej = 0
        for i, s in enumerate(sources[name]):
            mask = c.src == i
            n = int(mask.sum())
            nrej = int(c.bad[mask].sum())
            sub = rej[(rej["table"] == name) & (rej["file"] == s.raw.path)]
            by_rule: dict[str, int] = {}
            row_level = sub[sub["row"].notna()]
            for rule, grp in row_level.groupby("rule", sort=True):
                by_rule[str(rule)] = int(grp["row"].nunique())
            for fl in c.file_level:
                if fl["_src"] == i and fl["_n"]:  # a file-level fault rejects every row
                    by_rule[fl["rule"]] = max(by_rule.get(fl["rule"], 0), fl["_n"])
            for rule, v in by_rule.items():
                by_rule_total[rule] = by_rule_total.get(rule, 0) + v
            files.append({
                "file": s.raw.path, "table": name, "rows_read": n, "accepted": n - nrej,
                "rejected": nrej, "blank_rows_skipped": s.raw.blank_rows, "by_rule": by_rule,
                "columns": {f: s.colname[f] for f in c.frame.columns
                            if f in s.colpos or f in s.constants},
                "ignored_columns": s.ignored, "unmapped_columns": s.unmapped,
                "mapped_columns_not_found": s.missing_optional,
            })
            for columns, what in ((s.unmapped, "not in the mapping and not imported (list under "
                                "'ignore' to silence this)"),
                               (s.missing_optional, "mapped but not in the file")):
                if header_holds_values(columns):  # no header row: the names are a pupil's
                    notes.append(f"{s.raw.path}: {plural(len(columns), 'column')} "
                                 f"{what.split(' (')[0]}, {HEADER_OF_VALUES}")
                elif not s.colpos and any(value_may_identify(c) for c in columns):
                    # nothing of row 1 mapped, and a cell of it may be a pupil's name ('Alice
                    # Smith' was printed as a column of a file without its header row)
                    notes.append(f"{s.raw.path}: {plural(len(columns), 'column')} "
                                 f"{what.split(' (')[0]}, {NO_HEADER_MAPPED}")
                elif len(columns) == 1:
                    notes.append(f"{s.raw.path}: column {excerpt(columns[0])} is {what}")
                elif columns:  # one line, not one per column of a very wide file
                    shown = ", ".join(excerpt(h) for h in columns[:10])
                    more = f" and {len(columns) - 10} more" if len(columns) > 10 else ""
                    notes.append(f"{s.raw.path}: columns {shown}{more} are {what}")
            own = _id_column_unmapped(s)
            if own is not None:
                notes.append(f"{s.raw.path}: column {excerpt(own)} is by its name the student "
                             "id (as thresholds and population.records take it): map it to "
                             f"student_id in a --mapping file ({name}: {{columns: "
                             f"{{{excerpt(own)}: student_id}}}})")
            t_read += n
            t_rej += nrej
        tables[name] = {"rows_read": t_read, "accepted": t_read - t_rej, "rejected": t_rej}
    total_read = sum(t["rows_read"] for t in tables.values())
    total_rej = sum(t["rejected"] for t in tables.values())
    return {
        "mapping": mapping.source,
        "reference_date": mapping.reference_date.isoformat() if mapping.reference_date else None,
        "rows_read": total_read, "accepted": total_read - total_rej, "rejected": total_rej,
        "violations": int(len(rej)), "tables": tables, "by_rule": dict(sorted(
            by_rule_total.items())), "files": files, "notes": notes,
        "row_numbers": "header = row 1, first data row = row 2",
    }


@dataclass
class PrintedCounts:
    """The counts of rows a validation or import prints, each as text: a count under the
    threshold, or one that would give such a count away, is ``c``."""

    files: list[dict[str, Any]]  # per file: read, accepted, rejected, by_rule {rule: text}
    tables: dict[str, dict[str, str]]  # per table: read, accepted, rejected
    total: dict[str, str]  # read, accepted, rejected
    hidden: bool  # whether any count printed is ``c``


def printed_counts(summary: dict[str, Any], threshold: int | None = None) -> PrintedCounts:
    """The counts of ``summary`` (a :class:`ValidationResult`'s) as printed, small ones withheld
    by the one small-count rule (:func:`srmsim.privacy.suppression_masks`).

    Why: the rows of a students file are pupils and those of an observations file a pupil's
    weeks, and printed text is pasted into reports: "300 rows read, 297 accepted, 3 rejected"
    gave 3 pupils whose records were wrong. Each file's rows read, rejected and per rule
    rejected, its table's and the whole total are one table (a total is the sum of its files,
    a rule's rows are some of the rejected); the rows accepted are printed (they are the
    dataset's) when at least the threshold and none is under it, so the audit takes them as
    known. A zero is printed: no row rejected says nothing of a pupil."""
    from srmsim.privacy import DEFAULT_SYMBOLS, DEFAULT_THRESHOLD, suppression_masks

    limit = DEFAULT_THRESHOLD if threshold is None else threshold
    files = summary["files"]
    names = list(TABLES)
    rules = sorted({r for f in files for r in f["by_rule"]})
    rows: list[dict[str, float]] = []
    for f in files:
        rows.append({"read": float(f["rows_read"]), "rejected": float(f["rejected"]),
                     **{f"rule:{r}": float(f["by_rule"].get(r, 0)) for r in rules}})
    sums: list[tuple[int, list[int]]] = []
    for name in names:
        members = [i for i, f in enumerate(files) if f["table"] == name]
        sums.append((len(rows), members))
        rows.append({c: sum(rows[i][c] for i in members) for c in rows[0]} if rows and members
                    else {"read": 0.0, "rejected": 0.0,
                          **{f"rule:{r}": 0.0 for r in rules}})
    parts = list(range(len(files)))
    rows.append({c: sum(rows[i][c] for i in parts) for c in rows[0]} if parts
                else {"read": 0.0, "rejected": 0.0, **{f"rule:{r}": 0.0 for r in rules}})
    table = pd.DataFrame(rows)
    cols = list(table.columns)
    values = table.to_numpy()
    accepted = values[:, 0] - values[:, 1]
    # the rows accepted are printed when at least the threshold (or none): taken as known. If
    # one is small, only the zeros are: the total's 16 less the students' 13 gave the
    # observations' 3, and the audit cannot hide counts it takes as known
    small = (accepted > 0) & (accepted < limit)
    told = [(r, "rejected") for r in range(len(table))
            if accepted[r] == 0 or (accepted[r] >= limit and not small.any())]
    # a table's counts and the total's per rule are not printed, but they are sums of the
    # files': audited as if printed, which can only hide more
    known = np.zeros(values.shape, dtype=bool)
    for j, c in enumerate(cols):  # a rule a file's rows did not break is not printed: 0
        if c.startswith("rule:"):
            known[:len(files), j] = values[:len(files), j] == 0
    primary, secondary = suppression_masks(
        table, cols, limit, total_row=len(table) - 1 if files else None, total_column=None,
        suppress_zeros=False, subsets={"rejected": "read", **{c: "rejected" for c in cols
                                                               if c.startswith("rule:")}},
        complements=["rejected"], sums=sums, known=known, known_remainders=told)
    hide = (primary | secondary).to_numpy().copy()
    shown_accepted = np.zeros(len(table), dtype=bool)
    shown_accepted[[r for r, _ in told]] = True
    pupils = [i for i, f in enumerate(files) if f["table"] == "students"]
    weeks = [i for i, f in enumerate(files) if f["table"] != "students"]
    weeks += [len(files) + k for k, n in enumerate(names) if n != "students"]
    # observations per pupil would give the pupils back (as in anonymise's report): 3 pupils
    # rejected, their 9 weeks with them (unknown_student: 9 rows), 12 in all; 7 pupils
    # imported and their 14 weeks
    if hide[pupils, :2].any():
        hide[[*weeks, len(table) - 1], :] = True
    if not shown_accepted[[*pupils, len(files) + names.index("students")]].all():
        shown_accepted[[*weeks, len(table) - 1]] = False
    told = [(r, part) for r, part in told if shown_accepted[r]]
    for r, _ in told:  # read and accepted printed: their difference is no secret
        hide[r, 1] &= bool(hide[r, 0])
    c = DEFAULT_SYMBOLS.confidential

    def text(r: int, j: int) -> str:
        return c if hide[r, j] else f"{int(values[r, j]):,}"

    def line(r: int) -> dict[str, str]:
        return {"read": text(r, 0), "rejected": text(r, 1),
                "accepted": f"{int(accepted[r]):,}" if (r, "rejected") in told else c}

    shown_files: list[dict[str, Any]] = []
    for i, f in enumerate(files):
        shown_files.append({**line(i), "by_rule": {
            r: text(i, cols.index(f"rule:{r}")) for r in f["by_rule"]}})
    tables = {name: line(len(files) + k) for k, name in enumerate(names)}
    total = line(len(table) - 1)
    hidden = any(c in d.values() for d in [*tables.values(), total]) or any(
        c in (f["read"], f["accepted"], f["rejected"], *f["by_rule"].values())
        for f in shown_files)
    return PrintedCounts(files=shown_files, tables=tables, total=total, hidden=hidden)


def _rows(text: str) -> str:
    """``"1 row"``, ``"300 rows"``, ``"c rows"``."""
    return f"{text} {'row' if text == '1' else 'rows'}"


def small_count_note(threshold: int | None = None) -> str:
    """The legend of ``c`` in printed counts of rows or pupils."""
    from srmsim.privacy import DEFAULT_SYMBOLS, DEFAULT_THRESHOLD

    return (f"{DEFAULT_SYMBOLS.confidential} = a count of rows (pupils, or their weeks or "
            f"terms) below {threshold or DEFAULT_THRESHOLD}, or one hidden so that none can be "
            "worked out")


#: rejects a report lists when not told how many (``--show``)
SHOWN_REJECTS = 20


def format_report(result: ValidationResult, max_rejects: int | None = None,
                  full_list: str | None = "rejects.csv") -> str:
    """A plain-text report: per-file counts, counts per rule, then the first rejects.

    Counts of rows (each a pupil, or a pupil's week) are printed as a summary prints counts
    (:func:`printed_counts`): the report is pasted into reports too. The rejects listed are
    each a row's position in its file, for the data owner to fix (all in ``rejects.csv``).
    ``max_rejects`` None: the first :data:`SHOWN_REJECTS`, but none when a count above is
    withheld (``c``): a list of 3 rejected rows, each naming its file, counts them again.
    """
    from srmsim.privacy import DEFAULT_THRESHOLD

    s = result.summary
    shown = printed_counts(s)
    lines = []
    for f, p in zip(s["files"], shown.files, strict=True):
        lines.append(f"{f['file']} ({f['table']}): {_rows(p['read'])} read, "
                     f"{p['accepted']} accepted, {p['rejected']} rejected"
                     + (f", {plural(f['blank_rows_skipped'], 'blank row')} skipped"
                        if f["blank_rows_skipped"] else ""))
        for rule in f["by_rule"]:
            lines.append(f"    {rule}: {_rows(p['by_rule'][rule])}")
    t = shown.total
    lines.append(f"total: {_rows(t['read'])} read, {t['accepted']} accepted, "
                 f"{t['rejected']} rejected")
    if shown.hidden:
        lines.append(small_count_note())
    for note in s["notes"]:
        lines.append(f"note: {note}")
    rej = result.rejects
    # where every reject is: the report folder's rejects.csv, or (data validate without --out)
    # the option that writes one
    where = (f"all in {full_list}" if full_list
             else "data validate --out DIR writes them all to rejects.csv")
    # how many violations (each row's problems) would bound the rows rejected: said only when
    # at least the threshold and no count of rows is withheld (3 pupils' and their 9 weeks'
    # rows rejected: 12 violations)
    many = len(rej) >= DEFAULT_THRESHOLD and not shown.hidden
    if len(rej) and max_rejects is None and shown.hidden:
        lines.append("violations not listed: the list would count the rows withheld as c "
                     f"above ({where}; --show N lists the first N for you)")
        return "\n".join(printable(line) for line in lines)
    if max_rejects is None:
        max_rejects = SHOWN_REJECTS
    if len(rej) and max_rejects <= 0:
        lines.append(f"{plural(len(rej), 'violation') if many else 'violations'} "
                     f"({where}; --show N prints the first N)")
    elif len(rej):
        lines.append("")
        lines.append("rejects (file:row column [field] value -- rule: message):")
        for r in rej.head(max_rejects).itertuples(index=False):
            row = "" if pd.isna(r.row) else str(r.row)
            fld = f" [{r.field}]" if r.field and r.field != r.column else ""
            width = MAX_SHOWN + 40  # room for the "... (N characters)" a reader may have added
            val = f" '{cut(r.value, width)}'" if r.value else ""
            lines.append(f"  {r.file}:{row} {cut(r.column, width)}{fld}{val} -- {r.rule}: "
                         f"{cut(r.message, width)}")
        if len(rej) > max_rejects:
            more = len(rej) - max_rejects
            lines.append(f"  ... and {f'{more:,} ' if many and more >= DEFAULT_THRESHOLD else ''}"
                         "more "
                         f"({f'see {full_list}' if full_list else where})")
    # values, column names and file names come from the export: never raw control characters
    return "\n".join(printable(line) for line in lines)


__all__ = ["RULES", "ValidationResult", "assign_tables", "validate_files", "validate_frames",
           "format_report", "printed_counts", "OBSERVATIONS", "STUDENTS"]
