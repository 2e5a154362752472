"""The column-mapping file: how a school's own export maps onto the srmsim schema.

Why a mapping and not renaming: a school exports the same report every term, with its own column
names and codes ("Y"/"N", "Girl"/"Boy"). The mapping is written once and the export is imported
as it is. It is YAML::

    encoding: utf-8               # of CSV files (default utf-8); per table too
    reference_date: 2024-09-01    # ages are computed at this date (needed with date_of_birth)
    missing_values: ["", "NA", "N/A", "NULL", "-"]   # cells that mean "no value"
    schools: [NORTH, SOUTH]       # optional: the only school ids allowed
    students:
      files: ["*pupil*"]          # glob(s) on the file name that mark a students file
      columns: {"Pupil Ref": student_id, "D.O.B.": date_of_birth, "Gender": sex}
      constants: {school: NORTH}  # a field with one value for every row of the file
      values: {sex: {Girl: F, Boy: M}, fsm: {"Y": true, "N": false}}
      date_formats: {date_of_birth: "%d/%m/%Y"}
      ignore: [Form, House]       # source columns deliberately not imported
    observations:
      files: ["*attendance*"]
      columns: {...}

Source column names match after trimming spaces and ignoring case, so ``" Pupil ref"`` matches
``"Pupil Ref"``. Plain numbers in the file are the text written (``schools: [010]`` is the
school ``"010"``, not ten); a recoded number field reads its text as YAML 1.2 does. Every mistake in the file is a :class:`MappingError` naming the file and the key.
"""

from __future__ import annotations

import codecs
import datetime as dt
import fnmatch
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srmsim.data.schema import TABLES, Table
from srmsim.errors import ScenarioError
from srmsim.labels import LABEL_RULE, cut, excerpt, is_label

DEFAULT_MISSING = ("", "NA", "N/A", "n/a", "NULL", "null", "NaN", "nan", "None", "#N/A")


def missing_words(words: Iterable[str] = DEFAULT_MISSING) -> str:
    """How a file says "no value", for a message refusing a cell that is neither a value nor
    missing: ``an empty cell or one of NA, N/A, ...``. Why: '-nan' or '#NA' (missing to pandas,
    text here) was refused as "text" with no word of what a missing cell may be written as."""
    shown = [w for w in dict.fromkeys(words) if w]
    return "an empty cell" + (f" or one of {', '.join(shown)}" if shown else "")

_TOP_KEYS = {"encoding", "reference_date", "missing_values", "schools", "version", *TABLES}
_TABLE_KEYS = {"files", "columns", "constants", "values", "date_formats", "ignore", "encoding"}


class MappingError(ScenarioError):
    """The mapping file is malformed: names the file, the key path and what is wrong."""


def normalise_column(name: str) -> str:
    """How source column names are compared: trimmed, case-folded, inner spaces collapsed."""
    return " ".join(str(name).split()).casefold()


#: student id columns: those of srmsim's own files (a run's students.parquet, an imported
#: dataset's students, a policy's events) and the usual export names ('Student ID', 'Pupil',
#: 'UPN'), matched as import matches column names (trimmed, in any case, '_' as a space); the
#: first a table has is checked for repeats (``srmsim thresholds``, a scenario's
#: population.records) and named by import when no column is mapped to student_id. 'pupil' and
#: 'student' alike: a column headed 'Pupil' was no id, so a pupil listed twice counted twice
STUDENT_ID_COLUMNS = ("uid", "student_id", "student", "pupil_id", "pupil", "id", "upn")


def student_id_column(columns: Iterable[object]) -> str | None:
    """The table's student id column (:data:`STUDENT_ID_COLUMNS`), or ``None``."""

    def key(name: object) -> str:
        return normalise_column(str(name).replace("_", " "))

    names = {key(c): c for c in reversed(list(columns))}  # the first of one name
    for wanted in STUDENT_ID_COLUMNS:
        if key(wanted) in names:
            return str(names[key(wanted)])
    return None


@dataclass
class TableMapping:
    """How one schema table is found in the export."""

    table: Table
    files: list[str] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # source column -> schema field
    constants: dict[str, str] = field(default_factory=dict)  # field -> raw value
    values: dict[str, dict[str, Any]] = field(default_factory=dict)  # field -> {raw: value}
    date_formats: dict[str, str] = field(default_factory=dict)
    ignore: list[str] = field(default_factory=list)
    encoding: str | None = None

    def source_for(self, field_name: str) -> str | None:
        for src, dst in self.columns.items():
            if dst == field_name:
                return src
        return None


@dataclass
class Mapping:
    """A parsed, checked mapping file."""

    source: str = "<mapping>"
    encoding: str = "utf-8"
    reference_date: dt.date | None = None
    missing_values: tuple[str, ...] = DEFAULT_MISSING
    schools: list[str] | None = None
    tables: dict[str, TableMapping] = field(default_factory=dict)

    def for_table(self, name: str) -> TableMapping:
        """The mapping of table ``name``; an identity mapping if the file does not mention it."""
        tm = self.tables.get(name)
        if tm is None:
            tm = TableMapping(table=TABLES[name])
            self.tables[name] = tm
        return tm

    def encoding_for(self, name: str) -> str:
        tm = self.tables.get(name)
        return (tm.encoding if tm and tm.encoding else None) or self.encoding

    def classify(self, path: str | Path) -> str:
        """Which table a file holds, from the ``files`` patterns (matched on the file name)."""
        base = Path(path).name
        hits = [name for name, tm in self.tables.items()
                if any(fnmatch.fnmatch(base.casefold(), p.casefold()) for p in tm.files)]
        if len(hits) == 1:
            return hits[0]
        from srmsim.errors import DataError

        if not hits:
            if not Path(path).exists():  # a mistyped name: say so, not which names are read
                from srmsim.inputs import hint_clause

                raise DataError(f"{path}: file not found{hint_clause(path)}")
            if self.source == IDENTITY_SOURCE:  # no mapping: the tables' own names
                patterns = " or ".join(p for tm in self.tables.values() for p in tm.files)
                raise DataError(
                    f"{path}: cannot tell which table this file holds: without a --mapping its "
                    f"name must match {patterns} (or pass it with --students / "
                    "--observations)")
            raise DataError(
                f"{path}: cannot tell which table this file holds: its name matches no 'files' "
                f"pattern in {self.source} (or pass it with --students / --observations)")
        raise DataError(f"{path}: file name matches the 'files' patterns of both {hits[0]} and "
                        f"{hits[1]} in {self.source}; make the patterns distinct")


#: the source of the mapping used when no mapping file is given
IDENTITY_SOURCE = "<schema names>"


def identity_mapping() -> Mapping:
    """A mapping for files already in the schema (column names are the field names)."""
    m = Mapping(source=IDENTITY_SOURCE)
    for name, tbl in TABLES.items():
        m.tables[name] = TableMapping(table=tbl, files=[f"{name}*"])
    return m


def load_mapping(path: str | Path) -> Mapping:
    """Read and check a mapping YAML file."""
    from srmsim.yamlio import read_yaml_file, refuse_empty

    path = Path(path)
    # ids and cell values as written: `schools: [010]` is the school '010', not ten
    raw = read_yaml_file(path, error=MappingError, numbers_as_text=True)
    # a truncated mapping is not "the files use the schema's names", which no --mapping gives
    raw = refuse_empty(raw, str(path), "mapping", "give no --mapping for files whose columns "
                       "have the schema's names", error=MappingError)
    from srmsim.inputs import wrong_kind

    why = wrong_kind(raw, path, "data mapping")  # a scenario listed its every key as unknown
    if why is not None:
        raise MappingError(str(path), why)
    return parse_mapping(raw, source=str(path))


def parse_mapping(raw: Any, source: str = "<mapping>") -> Mapping:
    """Check a mapping given as a dict (the parsed YAML); collect every problem, then raise."""
    problems: list[tuple[str, str]] = []
    m = Mapping(source=source)
    if not isinstance(raw, dict):
        raise MappingError(source, "expected a mapping (key: value) at the top level")
    for key in raw:
        if key not in _TOP_KEYS:
            problems.append((cut(str(key)), "unknown key; " + _one_of(sorted(_TOP_KEYS))))
    if "encoding" in raw:
        m.encoding = _check_encoding(raw["encoding"], "encoding", problems) or m.encoding
    if raw.get("reference_date") is not None:
        m.reference_date = _check_date(raw["reference_date"], "reference_date", problems)
    if "missing_values" in raw:
        mv = raw["missing_values"]
        if not isinstance(mv, list) or not all(isinstance(v, str | int | float) for v in mv):
            problems.append(("missing_values", "must be a list of strings"))
        else:
            m.missing_values = tuple(str(v).strip() for v in mv)
    if raw.get("schools") is not None:
        sc = raw["schools"]
        if not isinstance(sc, list) or not sc:
            problems.append(("schools", "must be a non-empty list of school ids"))
        else:
            # a school id labels tables and may become a file or folder name: a label, never
            # a path ('../x', 'a/b', '/etc', '.'), an empty text or a control character
            ids = [str(s).strip() if isinstance(s, str | int) else s for s in sc]
            bad = [i for i, (s, v) in enumerate(zip(sc, ids, strict=True))
                   if isinstance(s, bool) or not is_label(v)]
            if bad:
                problems.append((f"schools[{bad[0]}]", f"{excerpt(sc[bad[0]])}: each school id "
                                 f"must be {LABEL_RULE}: not a path, a list, a mapping or "
                                 "true/false"))
            elif len(set(ids)) != len(ids):
                problems.append(("schools", "lists a school id twice"))
            else:
                m.schools = ids
    for name, tbl in TABLES.items():
        if name in raw:
            m.tables[name] = _parse_table(raw[name], tbl, problems)
    if problems:
        raise MappingError(source, problems)
    return m


def _parse_table(raw: Any, tbl: Table, problems: list[tuple[str, str]]) -> TableMapping:
    tm = TableMapping(table=tbl)
    p = tbl.name
    if raw is None:
        return tm
    if not isinstance(raw, dict):
        problems.append((p, "must be a mapping with keys such as 'columns' and 'files'"))
        return tm
    for key in raw:
        if key not in _TABLE_KEYS:
            problems.append((f"{p}.{cut(str(key))}", "unknown key; " + _one_of(sorted(_TABLE_KEYS))))
    files = raw.get("files", [])
    if isinstance(files, str):
        files = [files]
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        problems.append((f"{p}.files", "must be a list of file-name patterns such as '*pupil*'"))
    else:
        tm.files = files
    if "encoding" in raw:
        tm.encoding = _check_encoding(raw["encoding"], f"{p}.encoding", problems)

    cols = _mapping_section(raw, "columns", p, problems,
                            "must map source column names to schema fields")
    seen_src: dict[str, str] = {}
    for src, dst in cols.items():
        kp = f'{p}.columns."{cut(str(src))}"'
        if not isinstance(src, str):
            problems.append((kp, f"source column name {excerpt(src)} must be quoted text"))
            continue
        if not isinstance(dst, str) or dst not in tbl:
            problems.append((kp, f"unknown {p} field {excerpt(dst)}; " + _one_of(tbl.names)))
            continue
        norm = normalise_column(src)
        if norm in seen_src:
            problems.append((kp, f"same column as {excerpt(seen_src[norm])} once case and spaces are "
                                 "ignored"))
            continue
        seen_src[norm] = src
        if dst in tm.columns.values():
            problems.append((kp, f"field {excerpt(dst)} is already mapped from "
                                 f"{excerpt(tm.source_for(dst))}"))
            continue
        tm.columns[src] = dst

    consts = _mapping_section(raw, "constants", p, problems,
                              "must map schema fields to one value each")
    for fname, value in consts.items():
        kp = f"{p}.constants.{cut(str(fname))}"
        if fname not in tbl:
            problems.append((kp, f"unknown {p} field {excerpt(fname)}; " + _one_of(tbl.names)))
        elif fname in tm.columns.values():
            problems.append((kp, f"field {excerpt(fname)} is also mapped from column "
                                 f"{excerpt(tm.source_for(fname))}; use one or the other"))
        elif isinstance(value, dict | list) or value is None:
            problems.append((kp, "must be a single value"))
        elif not _raw_text(value):  # '' would fill a required field with nothing, unnoticed
            problems.append((kp, "must not be empty (leave the field out instead)"))
        else:
            tm.constants[fname] = _raw_text(value)

    vals = _mapping_section(raw, "values", p, problems,
                            "must map schema fields to {source value: value}")
    for fname, vmap in vals.items():
        kp = f"{p}.values.{cut(str(fname))}"
        if fname not in tbl:
            problems.append((kp, f"unknown {p} field {excerpt(fname)}; " + _one_of(tbl.names)))
            continue
        if not isinstance(vmap, dict):
            problems.append((kp, "must map source values to schema values"))
            continue
        fld = tbl[fname]
        if fld.type == "date":
            problems.append((kp, "dates cannot be recoded; give the format under 'date_formats'"))
            continue
        clean: dict[str, Any] = {}
        folded: dict[str, str] = {}  # values are matched ignoring case: "Yes" is "yes"
        for src, dst in vmap.items():
            vkp = f"{kp}.{cut(str(src))}"
            if isinstance(src, bool) or src is None:
                problems.append((vkp, f"the key was read as {excerpt(src)} by YAML; quote it "
                                      "(for example \"Yes\": true)"))
                continue
            if fld.categories and (not isinstance(dst, str) or
                                   dst.casefold() not in {c.casefold() for c in fld.categories}):
                problems.append((vkp, f"{excerpt(dst)} is not one of {list(fld.categories)}"))
                continue
            if fld.type == "bool" and not isinstance(dst, bool):
                problems.append((vkp, f"{excerpt(dst)} must be true or false"))
                continue
            if fld.type == "str" and (isinstance(dst, bool) or not isinstance(dst, str | int)
                                      or not str(dst).strip()):
                # null became the text 'None', '' an empty (required) id, a list its repr
                problems.append((vkp, f"{excerpt(dst)} must be a text or whole number (not "
                                      "empty, null, true/false, a list or a mapping)"))
                continue
            if fld.type in ("int", "float") and isinstance(dst, str):
                # a mapping file keeps numbers as the text written: read it as YAML would
                from srmsim.yamlio import yaml_number

                dst = yaml_number(dst.strip()) if dst.strip() else None
            if fld.type in ("int", "float") and (isinstance(dst, bool) or
                                                 not isinstance(dst, int | float)
                                                 or not math.isfinite(dst)):
                problems.append((vkp, f"{excerpt(vmap[src])} must be a finite number"))
                continue
            key = _raw_text(src).casefold()
            if key in folded:
                problems.append((vkp, f"same source value as {excerpt(folded[key])} once case is "
                                      "ignored; give it once"))
                continue
            folded[key] = str(src)
            clean[_raw_text(src)] = _raw_text(dst) if fld.type == "str" else dst
        tm.values[fname] = clean

    dfmt = _mapping_section(raw, "date_formats", p, problems,
                            "must map date fields to formats like '%d/%m/%Y'")
    for fname, fmt in dfmt.items():
        kp = f"{p}.date_formats.{cut(str(fname))}"
        if fname not in tbl or tbl[fname].type != "date":
            dates = [f.name for f in tbl.fields if f.type == "date"]
            problems.append((kp, f"{excerpt(fname)} is not a date field of {p}; date fields: {dates}"))
        elif not isinstance(fmt, str) or "%" not in fmt or not _valid_format(fmt):
            problems.append((kp, "must be a strftime format such as '%d/%m/%Y'"))
        else:
            tm.date_formats[fname] = fmt

    ign = raw.get("ignore") or []
    if not isinstance(ign, list) or not all(isinstance(c, str) for c in ign):
        problems.append((f"{p}.ignore", "must be a list of source column names"))
    else:
        tm.ignore = ign
    return tm


def _one_of(names: list[str]) -> str:
    """The names a key may take, on a line of their own: a line of the message stays under the
    length the command line prints whole, whatever the file's path and the value quoted."""
    return "expected one of:\n      " + ", ".join(names)


def _mapping_section(raw: dict, key: str, path: str, problems: list[tuple[str, str]],
                     expected: str) -> dict:
    """``raw[key]`` when it is a mapping; else a problem naming ``path.key`` and an empty one."""
    section = raw.get(key) or {}
    if not isinstance(section, dict):
        problems.append((f"{path}.{key}", expected))
        return {}
    return section


def _valid_format(fmt: str) -> bool:
    """A date format the parser accepts (``%Q`` raised a ValueError traceback mid-import)."""
    import pandas as pd

    try:
        pd.to_datetime(pd.Series(["2000-01-01"]), format=fmt, errors="coerce")
    except ValueError:
        return False
    return True


def _raw_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _check_encoding(value: Any, key: str, problems: list[tuple[str, str]]) -> str | None:
    if not isinstance(value, str):
        problems.append((key, "must be an encoding name such as utf-8 or cp1252"))
        return None
    try:
        codecs.lookup(value)
    except LookupError:
        problems.append((key, f"unknown encoding {excerpt(value)}"))
        return None
    from srmsim.data.readers import reads_files_in

    if not reads_files_in(value):
        problems.append((key, f"{excerpt(value)} is not a text encoding for files; use one such as "
                              "utf-8 or cp1252"))
        return None
    return value


def _check_date(value: Any, key: str, problems: list[tuple[str, str]]) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        problems.append((key, f"{excerpt(value)} is not a date in the form YYYY-MM-DD"))
        return None
