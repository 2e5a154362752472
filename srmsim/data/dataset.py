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

import pandas as pd
import pyarrow.parquet as pq

from srmsim import __version__
from srmsim.data.schema import OBSERVATIONS, SCHEMA_VERSION, STUDENTS, TABLES, from_arrow, to_arrow
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
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
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
    return Dataset(students=frames["students"], observations=frames["observations"], meta=meta)
