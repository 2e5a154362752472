"""Import a school's export: validate it, write the reject report, and write the Parquet dataset.

Why the dataset is not written when rows were rejected (unless ``allow_rejects``): a dataset that
silently lacks a fifth of a school would calibrate a wrong simulation. The reject report
(``rejects.csv``, ``summary.json``) is always written so the export can be fixed.

Privacy: the import folder holds raw personal data, so it and its files are owner-only (0700 /
0600), whatever the umask. ``rejects.csv`` and the printed report show a rejected value of an
identifying field (names, UPNs, addresses, dates of birth, notes, student ids) as
``(withheld)`` unless ``show_identifiers`` is given; the file and row still say where to look.
The whole folder is built beside ``--out`` and swapped in at the end: a failed import leaves the
previous folder as it was, and a re-import never mixes an old dataset with new reports.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from srmsim.data.dataset import DATASET_FILES, META_FILE, Dataset, base_meta, write_dataset
from srmsim.data.describe import carry_ledger
from srmsim.data.exports import carry_exports
from srmsim.data.mapping import Mapping
from srmsim.data.schema import TABLES
from srmsim.data.validate import ValidationResult, validate_files
from srmsim.errors import DataError
from srmsim.labels import value_may_identify
from srmsim.outputs import (
    check_inputs_outside,
    check_out,
    check_out_of_results,
    holds_only,
    json_dumps,
    replace_dir,
    write_csv,
    write_file,
)

REJECTS_FILE = "rejects.csv"
SUMMARY_FILE = "summary.json"
REPORT_FILES = (REJECTS_FILE, SUMMARY_FILE)  # data validate --out
IMPORT_FILES = (*DATASET_FILES, *REPORT_FILES)  # data import
WITHHELD = "(withheld)"
#: Field kinds whose raw values identify a person (schema ``Field.kind``).
IDENTIFYING_KINDS = ("id", "direct", "dob", "free_text")


def identifying(table: str, field: str) -> bool:
    """Does a raw value of this field identify a student? (Breakdown fields such as the school
    code do not.) A value of no field -- a whole ragged row, a cell of a column the mapping
    does not name -- may hold anything (names, UPNs), so it counts as identifying."""
    tbl = TABLES.get(str(table))
    if tbl is not None and (field is None or pd.isna(field) or str(field) == ""):
        return True
    if tbl is None or field not in tbl:
        return False
    f = tbl[field]
    return f.kind in IDENTIFYING_KINDS and not f.breakdown


def mask_identifiers(result: ValidationResult) -> ValidationResult:
    """The result with identifying fields' raw values withheld from the reject table."""
    rej = result.rejects
    if not len(rej):
        return result
    rej = rej.copy()
    values = rej["value"].astype(object).tolist()
    # an identifying field's value, and any value that may identify whatever its field (a
    # date of birth in year_group, a name in sex: an export whose columns shifted)
    hide = [identifying(t, f) or (isinstance(v, str) and value_may_identify(v))
            for t, f, v in zip(rej["table"], rej["field"], values, strict=True)]
    messages = rej["message"].astype(object).tolist()
    for i, h in enumerate(hide):
        if not h:
            continue
        v = values[i]
        if isinstance(v, str) and v and isinstance(messages[i], str):
            messages[i] = messages[i].replace(v, WITHHELD)
        values[i] = WITHHELD if (v is not None and not pd.isna(v) and str(v) != "") else v
    rej["value"] = pd.Series(values, index=rej.index, dtype=object)
    rej["message"] = pd.Series(messages, index=rej.index, dtype=object)
    return replace(result, rejects=rej)


def write_report(result: ValidationResult, out: str | Path) -> tuple[Path, Path]:
    """Write ``rejects.csv`` (one row per violation) and ``summary.json`` into the folder
    ``out``, owner-only. Pass a result from :func:`mask_identifiers` unless identifiers are
    to be shown."""
    out = Path(out)
    rej_path, sum_path = out / REJECTS_FILE, out / SUMMARY_FILE
    write_csv(result.rejects, rej_path, private=True)
    write_file(sum_path, json_dumps(result.summary, indent=2, default=str) + "\n",
               private=True)
    return rej_path, sum_path


def report_only(folder: Path) -> bool:
    """A folder of an earlier ``data validate --out`` (reports, no dataset): replaceable."""
    return holds_only(REPORT_FILES, REPORT_FILES)(folder)


def check_report_dir(out: str | Path) -> None:
    """May ``data validate --out`` write its reports into ``out``? Asked before the files are
    read, so that a refusal does not come after the report is printed."""
    if (Path(out) / META_FILE).exists():
        raise DataError(f"--out {out}: holds an imported dataset; write the report elsewhere")
    check_out_of_results(out)  # rows of raw records never sit among a run's or a study's files
    check_out(out, report_only)


def write_report_dir(result: ValidationResult, out: str | Path) -> tuple[Path, Path]:
    """``data validate --out``: a private folder holding only the two reports, replaced whole."""
    out = Path(out)
    check_report_dir(out)
    with replace_dir(out, private=True, replaceable=report_only) as tmp:
        write_report(result, tmp)
    return out / REJECTS_FILE, out / SUMMARY_FILE


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
                 allow_rejects: bool = False, overwrite: bool = False,
                 show_identifiers: bool = False) -> tuple[ValidationResult, bool]:
    """Validate and import; returns the result and whether the dataset was written.

    The new folder (reports, and the dataset when accepted) replaces ``out`` as a whole, so
    an accepted import never leaves a stale file of the old one. A rejected import into a
    folder that holds a dataset (with ``overwrite``) leaves it as it was, reports and all:
    its reports beside the old dataset would read as that dataset's, and replacing the folder
    deleted a dataset because a new export had one bad row. An error on the way leaves
    ``out`` untouched too. The returned result has identifying values withheld unless
    ``show_identifiers``.
    """
    if not files.get("students"):
        raise DataError("import needs a students file (observations are linked to it); give one "
                        "that matches the mapping's students 'files' pattern or --students")
    out = Path(out)
    if (out / META_FILE).exists() and not overwrite:
        raise DataError(f"--out {out}: already holds a dataset ({META_FILE}); choose another "
                        "directory or pass --overwrite")
    check_inputs_outside(out, [p for ps in files.values() for p in ps])
    check_out_of_results(out)  # raw records never sit among a run's or a study's files
    replaceable = holds_only(IMPORT_FILES, IMPORT_FILES)
    check_out(out, replaceable)  # refused now, not after the files are read
    result = validate_files(files, mapping)
    shown = result if show_identifiers else mask_identifiers(result)
    written = result.ok or allow_rejects
    if not written and (out / META_FILE).exists():
        return shown, False  # the dataset already there stays, untouched
    with replace_dir(out, private=True, replaceable=replaceable) as tmp:
        write_report(shown, tmp)
        if written:
            write_dataset(to_dataset(result, mapping, files), tmp, private=True)
        carry_ledger(out, tmp)  # what was published from the folder still binds it
        carry_exports(out, tmp)  # ... and what was exported of it
    return shown, written
