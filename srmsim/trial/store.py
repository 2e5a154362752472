"""A trial's resume store: each finished replication's row, kept in ``store/`` of the output
folder, so a killed ``srmsim trial`` continues with ``--resume`` where it stopped.

Layout (the shared parts in :mod:`srmsim.store`)::

    <out>/store/manifest.json                 trial hash, seeds, versions, sessions
    <out>/store/runs/trial/rep-00012.parquet  replication 12's row of trial_runs.csv, and the
                                              SHA-256 of its group detail (sha256:groups)
    <out>/store/detail/rep-00012-groups.parquet  its outcomes by group (trial_groups.csv)

Every read of the store (resuming, building the results) checks each group detail file against
the SHA-256 its replication recorded, so an edited or damaged file is refused by name; a store of
an srmsim older than that check is read with a note that its detail is unchecked.

A replication that raised is stored like any other (its ``error`` is part of the trial's
result and the same seed raises again); delete its file to run it again with ``--resume``.
The final files (trial_runs.csv, ...) are built from the store whether or not the trial was
interrupted, so a resumed trial writes the same bytes as an uninterrupted one; the output
folder is replaced whole at the end with the store carried into it.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from srmsim.errors import SrmsimError
from srmsim.inputs import whole
from srmsim.labels import agree
from srmsim.outputs import check_out, holds_only
from srmsim.results import write_parquet
from srmsim.store import (
    DETAIL_SHA256_KEY,
    LARGEST_VALUE,
    THEN_RUN,
    RunStore,
    root_seed_gives,
    sha256_column,
    versions,
)
from srmsim.trial.spec import MAX_REPLICATIONS, Trial

STORE_DIR = "store"
#: files that mark a folder as an earlier trial's, which a new trial may replace
TRIAL_MARKERS = ("trial.json", "trial_runs.csv", f"{STORE_DIR}/manifest.json")
#: every entry a trial folder may hold (its results, its report and the resume store)
TRIAL_FILES = ("trial.json", "trial_runs.csv", "trial_summary.csv", "trial.png", "scenario.yaml",
               "trial_groups.csv", "trial_subgroups.csv", "trial_subgroup_summary.csv",
               "trial_failures.json", "report.html", STORE_DIR)
VARIANT = "trial"  # the store keys runs by variant; a trial has one
GROUPS = "groups"  # the kind of a replication's detail file (its SHA-256 column's suffix)
SUBGROUPS = "subgroups"  # ... and of its subgroup estimates
#: the manifest key saying every finished replication keeps its subgroup estimates (a store of
#: an srmsim before them, or of a stepped wedge, has none: its trial reports no subgroups)
SUBGROUP_KEY = "subgroup_detail"


class TrialStore(RunStore):
    kind = "trial"
    hash_key = "trial_hash"
    source_key = "trial_file"
    single_variant = VARIANT

    def __init__(self, root: str | os.PathLike[str]):
        super().__init__(root)
        #: the note about unchecked detail is said once, though resuming reads the store twice
        self._noted = False
        #: the finished replications' group detail, by replication, as the last load checked it
        self._groups: dict[int, pd.DataFrame] = {}
        #: ... and their subgroup estimates (none in a store without :data:`SUBGROUP_KEY`)
        self._subgroups: dict[int, pd.DataFrame] = {}
        #: the trial's significance level, once known: a stored row's ``rejected`` must agree
        self._alpha: float | None = None
        #: the root seed and seeds last found to agree (:meth:`manifest`)
        self._seeds_checked: tuple[Any, tuple[Any, ...]] | None = None

    @property
    def folder(self) -> Path:
        return self.root.parent

    @property
    def group_detail(self) -> dict[int, pd.DataFrame]:
        """The finished replications' group detail, by replication, as the last :meth:`load`
        checked it (each file against the SHA-256 its row records)."""
        return dict(self._groups)

    @property
    def subgroup_detail(self) -> dict[int, pd.DataFrame]:
        """The finished replications' subgroup estimates, by replication, as the last
        :meth:`load` checked them."""
        return dict(self._subgroups)

    def keeps_subgroups(self) -> bool:
        """Whether this store's replications keep their subgroup estimates (its manifest says
        so: one begun by an srmsim before them keeps none, and its new ones add none, so a
        resumed trial gives the same files as an uninterrupted one)."""
        try:
            manifest = self.manifest()
        except SrmsimError:
            return False
        return bool(manifest and manifest.get(SUBGROUP_KEY) is True)

    @classmethod
    def of(cls, out: str | Path) -> TrialStore:
        """The store inside the output folder ``out``."""
        return cls(Path(out) / STORE_DIR)

    def manifest(self) -> dict[str, Any] | None:
        """The manifest, checked: its replication count is a trial's and matches its seeds (an
        edited count of 10**12 had every later step look for that many run files, for ever)."""
        manifest = super().manifest()
        if manifest is None:
            return None
        n = manifest.get("replications")
        if not whole(n) or not 1 <= n <= MAX_REPLICATIONS or n != len(manifest["seeds"]):
            raise SrmsimError(f"{self.root / 'manifest.json'}: not an srmsim trial manifest "
                              "(hand-edited or corrupt); run the trial into a new --out directory")
        checked = (manifest.get("root_seed"), tuple(manifest["seeds"]))
        if "root_seed" in manifest and checked != self._seeds_checked:
            # checked once, not at each read (one a replication: keeps_subgroups)
            if not root_seed_gives(manifest["root_seed"], manifest["seeds"]):
                raise SrmsimError(f"{self.root / 'manifest.json'}: its root_seed "
                                  f"{str(manifest['root_seed'])[:40]} does not give its seeds "
                                  "(hand-edited or corrupt); run the trial into a new --out "
                                  "directory")
            self._seeds_checked = checked
        return manifest

    def resume_options(self, manifest: dict[str, Any]) -> list[str]:
        """--replications: the trial's hash depends on it, and it may not be the file's."""
        n = manifest.get("replications")
        return ["--replications", str(n)] if isinstance(n, int) else []

    def recorded_inputs(self, manifest: dict[str, Any]) -> Any:
        return manifest.get("input_files")

    def stored(self, n: int) -> list[int]:
        return [r for r in range(n) if self.has(VARIANT, r)]

    def belongs_to(self, trial: Trial) -> bool:
        """The store holds this very trial's replications (and a readable manifest)."""
        try:
            manifest = self.manifest()
        except SrmsimError:
            return False
        return manifest is not None and manifest.get(self.hash_key) == trial.digest()

    def start(self, trial: Trial, n: int, resume: bool, subgroups: bool = True
              ) -> dict[str, Any]:
        """Check the folder and the store, or create the manifest; returns the manifest.

        A finished trial (of this trial file or another) may be run again into its folder:
        the same trial only reports again, another replaces it whole at the end. An
        unfinished one is continued with ``resume`` and otherwise refused, as is a foreign
        folder, a changed trial file and a damaged store.
        """
        if self.root.is_dir() and not any(self.root.iterdir()):
            # a store whose manifest was never written (killed while it wrote it: the command
            # holding the lock has removed its temporary): the folder refused as not srmsim's
            self.root.rmdir()
        check_out(self.folder, holds_only(TRIAL_MARKERS, TRIAL_FILES))
        self._alpha = trial.config.analysis.alpha
        digest, seeds = trial.digest(), trial.seeds(n)
        current = self.manifest()
        if current is not None and current.get(self.hash_key) != digest and not resume:
            other = current["replications"]
            if len(self.stored(other)) < other:
                self.check_inputs(current, trial.input_files)  # --resume could not continue it
                raise SrmsimError(
                    f"{self.folder} holds an unfinished run of trial "
                    f"{current.get('name')!r} ({len(self.stored(other))} of {other} "
                    "replications stored); continue it with --resume and its trial file, or "
                    "choose another --out")
            self.discard()  # a finished trial of another file: its outputs stay until the swap
            current = None
        complete = current is not None and len(self.stored(n)) == n
        current = self.reopen(digest, trial.source, resume, complete=complete, seeds=seeds,
                              inputs=trial.input_files)
        self.protect(trial.from_records)
        if current is not None:
            return current
        manifest = {"kind": "trial", "name": trial.name, self.hash_key: digest,
                    **self.source_entries(trial.source), "settings": trial.settings,
                    "replications": n,
                    "input_files": dict(sorted(trial.input_files.items())),
                    "root_seed": trial.root_seed,
                    "seeds": seeds, "versions": versions(),
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "sessions": [],
                    DETAIL_SHA256_KEY: True}  # every finished replication records it
        if subgroups and trial.unit != "stepped_wedge":
            manifest[SUBGROUP_KEY] = True
        self.write_manifest(manifest)
        return manifest

    def discard(self) -> None:
        """Remove the store; moved aside first, so a kill part way leaves no half store."""
        aside = Path(tempfile.mkdtemp(prefix=".store.old-", dir=self.folder))
        os.replace(self.root, aside / STORE_DIR)
        shutil.rmtree(aside, ignore_errors=True)

    def groups_path(self, replication: int) -> Path:
        return self.root / "detail" / f"rep-{replication:05d}-groups.parquet"

    def subgroups_path(self, replication: int) -> Path:
        return self.root / "detail" / f"rep-{replication:05d}-subgroups.parquet"

    def save(self, row: dict[str, Any], digest: str) -> None:
        """One finished replication's row (a failed one's with its traceback), its group
        detail and subgroup estimates first, so a stored row always has its detail."""
        row = dict(row)
        groups = row.pop("_groups", None)
        subgroups = row.pop("_subgroups", None)
        if groups is not None:
            path = self.groups_path(row["replication"])
            write_parquet(groups, path, private=self.private)
            self.record_detail(row, GROUPS, path)
        if subgroups is not None and self.keeps_subgroups():
            path = self.subgroups_path(row["replication"])
            write_parquet(subgroups, path, private=self.private)
            self.record_detail(row, SUBGROUPS, path)
        self.save_run({**row, "variant": VARIANT, self.hash_key: digest})

    def rows(self, trial: Trial, n: int) -> list[dict[str, Any]]:
        """Replications 0 .. n-1 as rows, each file checked; an error if one is missing."""
        missing = [r for r in range(n) if not self.has(VARIANT, r)]
        if missing:
            raise SrmsimError(f"{self.root}: {agree(len(missing), 'replication')} {missing[:5]} "
                              f"not stored{THEN_RUN}{self.resume_command()}")
        self._alpha = trial.config.analysis.alpha
        runs = self.load(trial.digest(), trial.seeds(n))
        runs = runs.drop(columns=["variant", self.hash_key, sha256_column(GROUPS),
                                  sha256_column(SUBGROUPS)], errors="ignore")
        # only failed rows carry a traceback: the others' is a gap the table filled in
        rows = [{k: v for k, v in row.items() if k != "traceback" or isinstance(v, str)}
                for row in runs.to_dict("records")]
        for row in rows:
            groups = self._groups.get(int(row["replication"]))
            if groups is not None:  # a finished replication (a failed one has no group detail)
                row["_groups"] = groups
            subgroups = self._subgroups.get(int(row["replication"]))
            if subgroups is not None:
                row["_subgroups"] = subgroups
        return rows

    @staticmethod
    def _finished(runs: pd.DataFrame) -> pd.DataFrame:
        """The replications that did not raise: each has its group detail."""
        if runs.empty or "error" not in runs.columns:
            return runs
        return runs[~runs["error"].map(lambda e: isinstance(e, str) and bool(e))]

    def load(self, digest: str | None = None, seeds: list[int] | None = None,
             allow_empty: bool = False) -> pd.DataFrame:
        """As the run store's, and every finished replication's group detail checked too, so
        a resumed trial refuses a damaged store before it runs anything."""
        runs = super().load(digest, seeds, allow_empty)
        digests = self.detail_digests(GROUPS, self._finished(runs))
        self._groups = {replication: self.read_groups(replication, recorded)
                        for (_, replication), recorded in sorted(digests.items())}
        self._subgroups = {}
        if self.keeps_subgroups():
            sub = self.detail_digests(SUBGROUPS, self._finished(runs))
            self._subgroups = {replication: self.read_subgroups(replication, recorded)
                               for (_, replication), recorded in sorted(sub.items())}
        if not self._noted:
            self._noted = True
            self.note_unchecked(sum(h is None for h in digests.values()), GROUPS)
        return runs

    def _read_run(self, path: Path, digest: str | None, seeds: list[int] | None
                  ) -> pd.DataFrame:
        """As the run store's, and the row is one a replication writes (:func:`row_problem`):
        an edited row went into trial_runs.csv and the summary as it was, or stopped the
        report with a traceback (an estimate of 'abc' or inf)."""
        from srmsim.trial.run import OPTIONAL_RUN_COLUMNS

        df = super()._read_run(path, digest, seeds)
        problem = row_problem(df, self._alpha)
        for column in OPTIONAL_RUN_COLUMNS:  # an older srmsim's row: not recorded then
            if column not in df.columns:
                df[column] = math.nan
        if problem:
            raise SrmsimError(f"{path}: not a replication's row as a trial stores it: "
                              f"{problem} (hand-edited or corrupt); {self.rerun_hint()}")
        return df

    def _read_detail(self, path: Path, replication: int, what: str, hint: str) -> pd.DataFrame:
        """A stored replication's detail file (``what``: its group detail, its subgroup
        estimates) read: refused as a link, missing or unreadable, naming it."""
        self.refuse_link(path)
        if not path.is_file():
            raise SrmsimError(f"{path}: missing, but replication {replication} is stored "
                              f"(every finished replication has its {what}); {hint}")
        try:
            return pd.read_parquet(path)
        except Exception as err:  # noqa: BLE001 - pyarrow raises many types for bad files
            from srmsim.inputs import parquet_damage

            raise SrmsimError(f"{path}: unreadable {what}: {parquet_damage(path, err)}; {hint}"
                              ) from None

    def read_groups(self, replication: int, recorded: str | None) -> pd.DataFrame:
        """A finished replication's group detail, checked (against the SHA-256 its row
        ``recorded``, unless an older srmsim stored it): a missing, damaged, edited or foreign
        file would otherwise leave the replication out of trial_groups.csv, or pass its
        numbers off as the simulation's."""
        from srmsim.store import names_records
        from srmsim.trial.groups import (
            COLUMNS,
            DETAIL_COLUMNS,
            NUMBERS,
            WITHHELD_COLUMN,
            withheld_cells,
            withheld_text,
        )

        path = self.groups_path(replication)
        hint = self.rerun_hint(self.run_path(VARIANT, replication))
        groups = self._read_detail(path, replication, "group detail", hint)
        older = list(groups.columns) == COLUMNS  # an srmsim before the withheld column
        marks = groups[WITHHELD_COLUMN] if WITHHELD_COLUMN in groups.columns else None
        if not (older or list(groups.columns) == DETAIL_COLUMNS) \
                or groups[["group", "outcome"]].isna().any(axis=None) \
                or not all(pd.api.types.is_numeric_dtype(groups[c]) for c in NUMBERS) \
                or (marks is not None and not marks.map(
                    lambda m: isinstance(m, str) and set(m.split()) <= set(NUMBERS)).all()):
            raise SrmsimError(f"{path}: not a trial's group detail (columns "
                              f"{list(groups.columns)[:10]}, expected {DETAIL_COLUMNS} with "
                              f"numbers in {list(NUMBERS)}; hand-edited or corrupt); {hint}")
        if recorded is not None:
            self.check_detail(path, recorded, VARIANT, replication, hint)
        if older:  # its blanks from real records are withheld, as that srmsim's report read
            groups = groups.assign(**{WITHHELD_COLUMN: withheld_text(withheld_cells(
                groups, names_records(self.manifest())))})
        return groups

    def read_subgroups(self, replication: int, recorded: str | None) -> pd.DataFrame:
        """A finished replication's subgroup estimates, checked against the SHA-256 its row
        recorded: an edited file would pass its numbers off as the trial's analysis."""
        from srmsim.trial.subgroups import COLUMNS

        path = self.subgroups_path(replication)
        hint = self.rerun_hint(self.run_path(VARIANT, replication))
        if recorded is None:  # pragma: no cover - detail_digests refuses a missing SHA-256
            raise SrmsimError(f"{path}: its replication records no SHA-256 of it; {hint}")
        table = self._read_detail(path, replication, "subgroup estimates", hint)
        self.check_detail(path, recorded, VARIANT, replication, hint)
        if list(table.columns) != COLUMNS:
            raise SrmsimError(f"{path}: not a trial's subgroup estimates (columns "
                              f"{list(table.columns)[:10]}, expected {COLUMNS}); {hint}")
        return table


#: stored columns holding counts (whole numbers, at least 0)
_COUNTS = ("n", "n_treated", "n_control", "n_clusters", "n_missing", "n_truth_missing",
           "n_served", "n_naive", "baseline_changed")
_FLAGS = ("covered", "rejected")


def row_problem(df: pd.DataFrame, alpha: float | None) -> str | None:
    """What makes a one-row run file not a row :func:`srmsim.trial.run.replicate` (or a failed
    replication) writes, or None: every column of trial_runs.csv, numbers
    where numbers go (finite, or missing: df may be infinite, a normal reference), counts whole
    and not negative, and ``covered``/``rejected`` as its interval, truth and p-value give."""
    from srmsim.trial.run import OPTIONAL_RUN_COLUMNS, RUN_COLUMNS

    missing = [c for c in RUN_COLUMNS if c not in df.columns and c not in OPTIONAL_RUN_COLUMNS]
    if missing:  # the hash: the run store's check
        return f"no column {', '.join(map(repr, missing[:5]))}"
    row = df.iloc[0]
    if not isinstance(row["error"], str):
        return f"error is {_shown(row['error'])}, not text"
    numbers = [c for c in RUN_COLUMNS if c not in (*_FLAGS, "error", "replication", "seed")
               and c in df.columns]
    for column in numbers:
        problem = _value_problem(column, df[column])
        if problem:
            return problem
    for flag in _FLAGS:
        if not pd.api.types.is_bool_dtype(df[flag]):
            return f"{flag} is {_shown(row[flag])}, not true/false"
    if row["error"]:  # a failed replication: the blanks _failed_row writes, no estimate
        if not math.isnan(float(row["estimate"])) or row["covered"] or row["rejected"]:
            return "error is set, but the row has an estimate (a finished replication's)"
        return None
    covered = bool(row["ci_low"] <= row["true_effect"] <= row["ci_high"])
    if bool(row["covered"]) != covered:
        return f"covered is {bool(row['covered'])} but its interval and true effect say {covered}"
    if alpha is not None and bool(row["rejected"]) != bool(row["p_value"] < alpha):
        return (f"rejected is {bool(row['rejected'])} but its p-value {row['p_value']:g} and "
                f"alpha {alpha:g} say {not bool(row['rejected'])}")
    return None


def _value_problem(column: str, values: pd.Series) -> str | None:
    """Why a stored number is not one a replication writes, or None."""
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return f"{column} is {_shown(values.iloc[0])}, not a number"
    value = float(values.iloc[0])
    if column in _COUNTS:  # blank in a failed replication's row (n)
        if not (math.isnan(value) or (value.is_integer() and value >= 0)):
            return f"{column} is {_shown(values.iloc[0])}, not a count"
        return None
    if not (math.isfinite(value) or math.isnan(value) or (column == "df" and value == math.inf)):
        return f"{column} is {value!r}, not a finite number"
    if column != "df" and abs(value) > LARGEST_VALUE:  # its square in the summary: inf
        return f"{column} is {value!r}, too large (beyond {LARGEST_VALUE:g})"
    if column == "p_value" and not (math.isnan(value) or 0.0 <= value <= 1.0):
        return f"p_value is {value!r}, outside 0 to 1"
    if column in ("se", "df", "outcome_sd") and value < 0:
        return f"{column} is {value!r}, below 0"
    return None


def _shown(value: object) -> str:
    """A stored value as the user would write it: 5, not np.int64(5)."""
    return repr(value.item() if isinstance(value, np.generic) else value)
