"""Import a school's export: validate it, write the reject report, and write the Parquet dataset.

Why the dataset is not written when rows were rejected (unless ``allow_rejects``): a dataset that
silently lacks a fifth of a school would calibrate a wrong simulation. The reject report
(``rejects.csv``, ``summary.json``) is always written so the export can be fixed.

``rejects.csv`` holds the raw values of rejected rows, which can be personal data: keep the
import directory as private as the export itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from srmsim.data.dataset import Dataset, base_meta, write_dataset
from srmsim.data.mapping import Mapping
from srmsim.data.validate import ValidationResult, validate_files
from srmsim.errors import DataError

REJECTS_FILE = "rejects.csv"
SUMMARY_FILE = "summary.json"


def write_report(result: ValidationResult, out: str | Path) -> tuple[Path, Path]:
    """Write ``rejects.csv`` (one row per violation) and ``summary.json`` into ``out``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    rej_path, sum_path = out / REJECTS_FILE, out / SUMMARY_FILE
    result.rejects.to_csv(rej_path, index=False, encoding="utf-8")
    sum_path.write_text(json.dumps(result.summary, indent=2, default=str) + "\n",
                        encoding="utf-8")
    return rej_path, sum_path


def to_dataset(result: ValidationResult, mapping: Mapping, files: dict[str, list[Any]]
               ) -> Dataset:
    """The accepted rows as a :class:`Dataset` with import metadata."""
    meta = base_meta(
        reference_date=mapping.reference_date.isoformat() if mapping.reference_date else None,
        period_origin=result.summary.get("period_origin", {}),
        source={"mapping": mapping.source,
                "files": {t: [str(p) for p in ps] for t, ps in files.items()}},
        import_summary={k: result.summary[k] for k in ("rows_read", "accepted", "rejected",
                                                       "by_rule")},
        notes=list(result.summary.get("notes", [])),
    )
    return Dataset(students=result.students, observations=result.observations, meta=meta)


def import_files(files: dict[str, list[Any]], mapping: Mapping, out: str | Path,
                 allow_rejects: bool = False, overwrite: bool = False
                 ) -> tuple[ValidationResult, bool]:
    """Validate and import; returns the result and whether the dataset was written."""
    if not files.get("students"):
        raise DataError("import needs a students file (observations are linked to it); give one "
                        "that matches the mapping's students 'files' pattern or --students")
    from srmsim.data.dataset import META_FILE

    if (Path(out) / META_FILE).exists() and not overwrite:
        raise DataError(f"--out {out}: already holds a dataset ({META_FILE}); choose another "
                        "directory or pass --overwrite")
    result = validate_files(files, mapping)
    write_report(result, out)
    if not result.ok and not allow_rejects:
        return result, False
    write_dataset(to_dataset(result, mapping, files), out, overwrite=overwrite)
    return result, True
