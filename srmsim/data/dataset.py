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

import json
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from srmsim import __version__
from srmsim.data.schema import (
    OBSERVATIONS,
    SCHEMA_VERSION,
    STUDENTS,
    TABLES,
    Table,
    from_arrow,
    to_arrow,
)
from srmsim.errors import DataError
from srmsim.inputs import input_file_problem
from srmsim.outputs import make_dir, write_atomic, write_file

META_FILE = "dataset.json"
#: every file a dataset directory holds (what may be replaced by a new one)
DATASET_FILES = (META_FILE, "students.parquet", "observations.parquet")
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
    write_file(out / META_FILE, json.dumps(meta, indent=2, default=str) + "\n", private=private)
    return out


def read_dataset(path: str | Path) -> Dataset:
    """Read a dataset directory written by srmsim, with schema dtypes."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{path}: not a dataset directory (expected {META_FILE}, "
                        "students.parquet, observations.parquet)")
    meta_path = path / META_FILE
    if not meta_path.exists():
        raise DataError(f"{path}: no {META_FILE}; is this the --out of 'srmsim data import'?")
    problem = input_file_problem(meta_path)
    if problem:
        raise DataError(f"{meta_path}: {problem}")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"), object_pairs_hook=_unique_keys)
    except (ValueError, OSError) as err:
        raise DataError(f"{meta_path}: not readable JSON ({str(err)[:200]})") from None
    except RecursionError:
        raise DataError(f"{meta_path}: not readable JSON (nested too deeply)") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("tables", {}), dict) or not all(
            isinstance(t, dict) for t in meta.get("tables", {}).values()):
        raise DataError(f"{meta_path}: not a dataset description written by srmsim "
                        "(wrong shape: hand-edited or corrupt)")
    if meta.get("format") != FORMAT:
        raise DataError(f"{meta_path}: 'format' is {meta.get('format')!r}, expected {FORMAT!r}")
    frames = {}
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
        try:
            frames[name] = from_arrow(pq.read_table(p), tbl)
        except Exception as err:  # pyarrow raises several types for a broken file
            raise DataError(f"{p}: not a readable Parquet file ({err})") from None
    for name, tbl in TABLES.items():
        check_values(frames[name], tbl, path / meta["tables"].get(name, {}).get(
            "file", f"{name}.parquet") if isinstance(meta.get("tables"), dict) else path)
    return Dataset(students=frames["students"], observations=frames["observations"], meta=meta)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different: with two ``"real_data"`` keys the last
    would silently win."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {str(key)[:60]!r}")
        out[key] = value
    return out


#: (part, whole): a count that cannot exceed another in its row
_AT_MOST = (("sessions_attended", "sessions_possible"), ("assignments_on_time", "assignments_set"))


_BOOL_TEXT = {"true", "false", "1", "0", "1.0", "0.0", "yes", "no", "y", "n", "t", "f"}


def check_values(frame: pd.DataFrame, tbl: Table, source: str | Path, keys: bool = True
                 ) -> None:
    """The rules every reader relies on, checked again on a dataset read from disk: its
    Parquet files may have been edited or written by other tools, and an infinite prior
    attainment or a negative session count would flow silently into every moment.

    Keys present (unless ``keys=False``) and unique, numbers finite and in the schema's range,
    categories and flags known, a part never above its whole. Anonymised datasets pass
    (generalised values are missing).
    """
    def fail(field: str, bad: np.ndarray, what: str) -> None:
        rows = np.flatnonzero(bad)
        shown = ""
        if tbl[field].kind == "data" and what != "is missing":  # never print an identifier
            shown = f" ({str(frame[field].iloc[rows[0]])[:40]!r})"
        raise DataError(f"{source}: {field} {what}: {len(rows)} row(s), first row {rows[0] + 1}"
                        f"{shown}; not a dataset as srmsim writes it (re-import the export)")

    for f in tbl.fields:
        if f.name not in frame.columns:
            if f.required and f.kind == "id" and keys:
                raise DataError(f"{source}: no column {f.name}; not a dataset as srmsim "
                                "writes it (re-import the export)")
            continue
        col = frame[f.name]
        missing = col.isna().to_numpy()
        if f.kind == "id" and f.required and missing.any():
            fail(f.name, missing, "is missing")
        if f.type in ("int", "float"):
            vals = pd.to_numeric(col, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
            if (np.isnan(vals) & ~missing).any():
                fail(f.name, np.isnan(vals) & ~missing, "is not a number")
            ok = ~missing
            with np.errstate(invalid="ignore"):
                if (ok & ~np.isfinite(vals)).any():
                    fail(f.name, ok & ~np.isfinite(vals), "is not finite")
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
    for part, whole in _AT_MOST:
        if part in frame.columns and whole in frame.columns:
            a = frame[part].to_numpy(dtype="float64", na_value=np.nan)
            b = frame[whole].to_numpy(dtype="float64", na_value=np.nan)
            with np.errstate(invalid="ignore"):
                if (a > b).any():
                    fail(part, a > b, f"exceeds {whole}")
