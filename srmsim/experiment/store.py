"""The experiment's results store: one Parquet file per finished run, and a manifest.

Layout under the output directory (the shared parts in :mod:`srmsim.store`)::

    manifest.json            experiment hash, seeds, versions, timings, the failed runs, the
                             SHA-256 of experiment.yaml (and each variant's scenario digest)
    parameters.csv           each replication's uncertain parameter values (if any)
    experiment.yaml          the experiment file as run
    scenarios/<variant>.yaml each variant's resolved scenario
    runs/<variant>/rep-00012.parquet   one row: variant, replication, seed, outcomes, runtime,
                                       students, actions started (older srmsim: not kept),
                                       the SHA-256 of its detail files (sha256:groups, ...)
    failures/<variant>/rep-00012.json  error, seed and experiment hash of a run that raised
    detail/<variant>/rep-00012-groups.parquet  outcomes by group and school (for the report)

Because each run's file appears by an atomic rename once the run is finished, a run killed at
any moment (Ctrl-C, kill -9) leaves only whole files; ``--resume`` runs exactly the missing ones.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from srmsim.errors import SrmsimError
from srmsim.experiment.outcomes import OUTCOMES, WITHHOLDING
from srmsim.inputs import whole
from srmsim.labels import agree, folded, plural
from srmsim.outputs import check_out
from srmsim.results import file_sha256, write_parquet, write_text
from srmsim.store import (
    DETAIL_SHA256_KEY,
    FAILURE_FIELDS,
    LARGEST_VALUE,
    SHA256_PREFIX,
    THEN_RUN,
    RunStore,
    only_hidden,
    versions,
)

if TYPE_CHECKING:
    from srmsim.scenario import Scenario

__all__ = ["RUN_COLUMNS", "ResultsStore", "run_column", "versions"]

#: the columns the report reads from each kind of per-run detail
DETAIL_COLUMNS = {"groups": {"group", "outcome", "value"}, "weekly": {"run_week"}}
#: the fewest replications a variant, without its failed runs, must share with the baseline:
#: a paired interval needs two
MIN_PAIRED_RUNS = 2
#: the run row's own columns besides its outcomes (what running and storing a run add)
RUN_COLUMNS = (*FAILURE_FIELDS, "students", *WITHHOLDING, "experiment_hash")
#: the manifest's key for why the runner stopped adding replications; None from the start of a
#: ``sequential:`` experiment's session until its stopping rule decides (a killed one leaves
#: None). Older srmsim did not write it.
STOPPED_KEY = "stopped"
#: the manifest's key for the SHA-256 of ``experiment.yaml``, the results folder's copy of the
#: experiment file as run: an edited copy was not noticed. Older srmsim did not write it
EXPERIMENT_COPY_KEY = "experiment_yaml_sha256"


def run_column(name: str) -> bool:
    """True when an outcome called ``name`` would be a column the run row has already (in any
    case, as :func:`srmsim.labels.check_distinct` compares names), or a detail file's SHA-256
    column: one value would overwrite the other in runs/ and every table read from it."""
    return (folded(name) in {folded(c) for c in RUN_COLUMNS}
            or folded(name).startswith(SHA256_PREFIX))


def _experiment_text(experiment) -> str | None:
    """The experiment file's text, as its copy in the results folder keeps it (None where it
    cannot be read: an experiment made in Python from a mapping has no file)."""
    try:
        return Path(experiment.source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _text_sha256(text: str) -> str:
    """The SHA-256 of the file :func:`srmsim.results.write_text` writes from ``text``."""
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _numeric(kind) -> bool:
    """A column type the report's sums and means read (what pandas counts as numeric)."""
    import pyarrow as pa

    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)


def _outcome_value_problem(outcome: str, column: pd.Series) -> str:
    """What is wrong with a run file's value of ``outcome`` ("" if nothing): a run writes a
    number (NaN where it has none). A true/false value was averaged as 1 or 0 once the runs
    were put together, with no word, and a share of -5 printed as -500%; text was named
    without its file."""
    value = column.iloc[0]
    if pd.api.types.is_bool_dtype(column.dtype) or isinstance(value, bool | np.bool_):
        return f"is true/false ({bool(value)}), not a number"
    if not pd.api.types.is_numeric_dtype(column.dtype) and not (
            isinstance(value, int | float | np.number) or pd.isna(value)):
        return f"is not a number ({str(value)[:40]!r})"
    number = float(value) if not pd.isna(value) else math.nan
    if math.isinf(number) or abs(number) > LARGEST_VALUE:
        return f"is infinite or too large ({number:g}; beyond {LARGEST_VALUE:g})"
    builtin = OUTCOMES.get(outcome)
    if builtin is not None and builtin.scale == "share" and not (
            math.isnan(number) or 0.0 <= number <= 1.0):
        return f"is {number:g}, not a share from 0 to 1"
    return ""


class ResultsStore(RunStore):
    """An experiment's runs (see :class:`srmsim.store.RunStore`), with per-run detail."""

    kind = "experiment"
    hash_key = "experiment_hash"

    def manifest(self) -> dict[str, Any] | None:
        """As the run store's, with the fields every reader of the results relies on: the
        baseline variant, and the outcomes and variants when present."""
        manifest = super().manifest()
        if manifest is None:
            return None
        outcomes = manifest.get("outcomes", [])
        counts = [manifest[k] for k in ("replications", "replications_planned") if k in manifest]
        most = len(manifest["seeds"]) if "seeds" in manifest else float("inf")
        if not all(whole(n) and 1 <= n <= most for n in counts):
            raise SrmsimError(f"{self.root / 'manifest.json'}: its replications are not a whole "
                              "number from 1 to the number of its seeds (hand-edited or "
                              "corrupt); run the experiment into a new --out directory")
        if not isinstance(manifest.get(STOPPED_KEY, ""), str):  # None while unfinished
            if manifest[STOPPED_KEY] is not None:
                raise SrmsimError(f"{self.root / 'manifest.json'}: its {STOPPED_KEY!r} is not "
                                  "why the experiment stopped (hand-edited or corrupt); run the "
                                  "experiment into a new --out directory")
        # the root seed compare prints as report shows it: a NaN one was refused by report
        # and printed as "root seed nan" by compare
        from srmsim.report.files import json_text

        json_text(manifest, "root_seed", self.root / "manifest.json")
        if not isinstance(manifest.get("baseline"), str) \
                or not isinstance(outcomes, list) \
                or not all(isinstance(o, str) for o in outcomes) \
                or not isinstance(manifest.get("variants", {}), dict):
            raise SrmsimError(f"{self.root / 'manifest.json'}: not an srmsim experiment manifest "
                              "(no baseline variant, or outcomes or variants of the wrong kind: "
                              "hand-edited or corrupt); run the experiment into a new --out "
                              "directory")
        return manifest

    def detail_path(self, variant: str, replication: int, kind: str) -> Path:
        """Per-run detail for the report: ``groups`` (outcomes by FSM/SEN/EAL and school) and
        ``weekly`` (the trust's queues and staff use per week)."""
        return self.root / "detail" / variant / f"rep-{replication:05d}-{kind}.parquet"

    def load(self, digest: str | None = None, seeds: list[int] | None = None,
             allow_empty: bool = False) -> pd.DataFrame:
        """As the run store's, and every run file holds every outcome the manifest lists: a
        file without one would otherwise enter the effects as a silently missing replication."""
        self._outcomes = list((self.manifest() or {}).get("outcomes", []))
        return super().load(digest, seeds, allow_empty)

    def check_whole(self, runs: pd.DataFrame, manifest: dict[str, Any]) -> list[dict[str, Any]]:
        """Every run the manifest promises (each variant it lists x its replications) is stored
        or recorded as failed, and no variant it does not list has runs: effects, reports and
        analyses of a folder with runs deleted or copied in would pass for the whole
        experiment's. Results of an older srmsim, which say neither, are read as they are.

        Returns the failure records (the runs an analysis leaves out), each checked by
        :meth:`check_failures`; refuses when they leave a variant with too few runs."""
        failures = self.failures()
        variants = list(manifest.get("variants") or [])
        n = manifest.get("replications", manifest.get("replications_planned"))
        if not variants or n is None:
            return failures
        stray = sorted(set(runs["variant"]) - set(variants)) if len(runs) else []
        if stray:
            raise SrmsimError(f"{self.root / 'runs' / str(stray[0])}: runs of variant "
                              f"{stray[0]!r}, which manifest.json does not list (copied in or "
                              "renamed); move that folder out of the results")
        stored = set(zip(runs["variant"], runs["replication"].astype(int), strict=True)) \
            if len(runs) else set()
        self.check_failures(failures, stored, manifest)
        have = stored | {(f["variant"], f["replication"]) for f in failures}
        missing = [(v, r) for v in variants for r in range(n) if (v, r) not in have]
        again = self.resume_command(manifest)
        # a sequential experiment killed while a later batch ran leaves runs past the count
        # the manifest records: counted, they would bias the design its stopping rule makes
        past = sorted(k for k in have if k[1] >= n)
        if missing:
            variant, replication = missing[0]
            raise SrmsimError(
                f"{self.root}: {len(missing)} of {plural(len(variants) * n, 'run')} "
                f"{agree(len(missing), 'is', 'are')} missing, first "
                f"{self.run_path(variant, replication)}\n  (neither a run file nor a failure "
                f"record): the experiment did not finish, or run files were deleted{THEN_RUN}"
                f"{again}")
        if STOPPED_KEY in manifest and manifest[STOPPED_KEY] is None:
            extra = (f"; {plural(len(past), 'run')} past those {n} replications "
                     f"{agree(len(past), 'is', 'are')} stored") if past else ""
            raise SrmsimError(
                f"{self.root}: the sequential experiment did not finish: its stopping rule has "
                f"not decided how many replications to keep (stopped or killed while it added "
                f"replications{extra}),\n  so no analysis can tell its result{THEN_RUN}{again}")
        if past:
            variant, replication = past[0]
            decided = STOPPED_KEY in manifest  # else an older srmsim's: perhaps a killed run
            raise SrmsimError(
                f"{self.root}: {plural(len(past), 'run')} past the {n} replications "
                f"manifest.json records, first {self.run_path(variant, replication)}:\n  "
                + ("not among the replications the stopping rule kept (left by an earlier, "
                   "interrupted session, or copied in); move them (runs/, detail/ and "
                   "failures/) out of the results" if decided else
                   f"the experiment did not finish (a sequential one stopped or killed while it "
                   f"added replications), or they were copied in{THEN_RUN}{again}"))
        if failures:
            self.check_enough(runs, manifest, n, len(failures), again)
        return failures

    def detail_hint(self, variant: str, replication: int) -> str:
        """Steps that repair a run's damaged or missing detail file: the run is made again,
        so its run file goes too (a run stored without its detail is refused as well)."""
        return self.rerun_hint(self.run_path(variant, replication),
                               self.detail_path(variant, replication, "*"))

    def check_failures(self, failures: list[dict[str, Any]], stored: set[tuple[str, int]],
                       manifest: dict[str, Any]) -> None:
        """Each failure record is of a run this experiment planned and did not store, with the
        seed and hash the manifest gives it, and among the failures the manifest lists (when
        it lists them, as srmsim does since it checks them): a record made by hand, copied in
        or left over must not pass a deleted run off as a failed one."""
        listed = manifest.get("failed")
        if "failed" in manifest and not (
                isinstance(listed, list)
                and all(isinstance(k, list) and len(k) == 2 and isinstance(k[0], str)
                        and whole(k[1]) for k in listed)):
            raise SrmsimError(f"{self.root / 'manifest.json'}: its failed runs are not a list of "
                              "[variant, replication] (hand-edited or corrupt); run the "
                              "experiment into a new --out directory")
        failed = {(k[0], k[1]) for k in listed} if isinstance(listed, list) else None
        seeds, digest = manifest.get("seeds"), manifest.get(self.hash_key)
        for f in failures:
            variant, replication = f["variant"], f["replication"]
            if variant not in (manifest.get("variants") or {}):
                why = f"of variant {variant!r}, which manifest.json does not list"
            elif (variant, replication) in stored:
                why = "of a run that is stored (a run that finished has no failure record)"
            elif seeds is not None and (replication >= len(seeds)
                                        or f["seed"] != seeds[replication]):
                why = f"whose seed is not the one manifest.json gives replication {replication}"
            elif f.get(self.hash_key, digest) != digest:
                why = f"of another experiment (hash {str(f[self.hash_key])[:20]})"
            elif failed is not None and (self.hash_key not in f
                                         or (variant, replication) not in failed):
                why = "that is not among the failed runs manifest.json lists"
            else:
                continue
            raise SrmsimError(f"{self.failure_path(variant, replication)}: a failure record "
                              f"{why} (made by hand, copied in or left over); {self.rerun_hint()}")

    def check_enough(self, runs: pd.DataFrame, manifest: dict[str, Any], n: int, n_failed: int,
                     again: str) -> None:
        """Each variant keeps, besides its failed runs, at least :data:`MIN_PAIRED_RUNS`
        replications that the baseline finished too (fewer when fewer were planned): with
        fewer there is no interval, and an effects table would still look like a result."""
        need = min(MIN_PAIRED_RUNS, n)
        reps = {v: set(g.astype(int)) for v, g in runs.groupby("variant")["replication"]} \
            if len(runs) else {}
        base = reps.get(manifest.get("baseline"), set())
        for variant in manifest.get("variants") or {}:
            paired = reps.get(variant, set()) & base
            if len(paired) < need:
                raise SrmsimError(
                    f"{self.root}: variant {variant!r} has {plural(len(paired), 'replication')} that "
                    f"the baseline finished too, fewer than the {need} an analysis needs, as "
                    f"{plural(n_failed, 'run')} failed (errors in failures/); fix what made them fail"
                    f"{THEN_RUN}{again}")

    def _read_run(self, path: Path, digest: str | None, seeds: list[int] | None
                  ) -> pd.DataFrame:
        df = super()._read_run(path, digest, seeds)
        outcomes = getattr(self, "_outcomes", [])
        missing = [o for o in outcomes if o not in df.columns]
        if missing:
            raise SrmsimError(f"{path}: has no value for {agree(len(missing), 'outcome')} "
                              f"{missing} that the manifest "
                              f"lists (hand-edited or corrupt); {self.rerun_hint()}")
        for outcome in outcomes:
            problem = _outcome_value_problem(outcome, df[outcome])
            if problem:
                raise SrmsimError(f"{path}: outcome {outcome!r} {problem} (hand-edited or "
                                  f"corrupt); {self.rerun_hint()}")
        return df

    def save_run(self, row: dict[str, Any]) -> None:
        row = dict(row)
        for kind in ("groups", "weekly"):
            detail = row.pop(f"_{kind}", None)
            if detail is not None:
                path = self.detail_path(row["variant"], row["replication"], kind)
                write_parquet(detail, path, private=self.private)
                self.record_detail(row, kind, path)
        super().save_run(row)

    def recorded_inputs(self, manifest: dict[str, Any]) -> Any:
        """The input files' SHA-256 in the hashed settings the manifest keeps."""
        config = manifest.get("experiment_config")
        return config.get("input_files") if isinstance(config, dict) else None

    def complete(self, experiment) -> bool:
        """True when this store already holds every run of this very experiment: running it
        again only reports (so the README's main command can be repeated)."""
        current = self.manifest()
        if current is None or current.get("experiment_hash") != experiment.digest():
            return False
        if STOPPED_KEY in current and current[STOPPED_KEY] is None:
            return False  # a sequential experiment whose stopping rule has not decided
        n = int(current.get("replications", experiment.replications))
        return all(self.has(v, r) for v in experiment.variants for r in range(n))

    def failed_only(self, experiment) -> int:
        """The number of failed runs when every other run of this very experiment is stored
        (it finished, with failures), else 0: run again without --resume, such a folder is
        refused with what to do, and calling it unfinished would mislead."""
        current = self.manifest()
        if current is None or current.get("experiment_hash") != experiment.digest() \
                or (STOPPED_KEY in current and current[STOPPED_KEY] is None):
            return 0
        n = int(current.get("replications", experiment.replications))
        failed = {(k[0], k[1]) for k in self.failed_keys()}
        if not all(self.has(v, r) or (v, r) in failed
                   for v in experiment.variants for r in range(n)):
            return 0
        return sum(1 for v in experiment.variants for r in range(n)
                   if (v, r) in failed and not self.has(v, r))

    def start(self, experiment, resume: bool) -> dict[str, Any]:
        """Check or create the manifest; refuse to mix results of different experiments."""
        digest = experiment.digest()
        failed = 0 if resume else self.failed_only(experiment)
        if failed:
            them = agree(failed, "it", "them")
            raise SrmsimError(
                f"{self.folder} already holds the finished results of experiment "
                f"{experiment.name!r}, in which {plural(failed, 'run')} failed (errors in "
                f"{self.root / 'failures'})\n  to run {them} again (once what made {them} fail "
                f"is fixed): {self.resume_command(self.manifest())}\n  or choose another --out")
        current = self.reopen(digest, str(experiment.source), resume, seeds=experiment.seeds(),
                              inputs=experiment.input_files)
        if current is not None:
            self._check_before_session(current)
            self.protect(experiment.from_records)
            written = self._save_inputs(experiment, missing_only=True)
            if written is not None:  # a copy killed before it was made, or deleted
                current[EXPERIMENT_COPY_KEY] = written
                self.write_manifest(current)
            # before any run: an edited copy or scenario was refused only by the report made
            # once every run had been made again
            # (without the note on an older folder's unchecked experiment.yaml: the results
            # read after the runs print it, and a resume printed it twice)
            self.check_saved(current, experiment.variants, note=False)
            return current
        check_out(self.root, only_hidden)  # a new store: never scattered among other files
        self.protect(experiment.from_records)
        manifest = {
            "name": experiment.name,
            "experiment_hash": digest,
            **self.source_entries(experiment.source),
            "baseline": experiment.baseline,
            "variants": {k: v.digest() for k, v in experiment.variants.items()},
            "outcomes": experiment.outcomes,
            "outcome_definitions": experiment.outcome_definitions,
            # what experiment_hash hashes: the analysis checks the definitions against it
            "experiment_config": experiment.hashed_config(),
            "description": experiment.config.description,
            "replications_planned": experiment.replications,
            "settings": {k: v for k, v in experiment.settings.items()},
            "root_seed": experiment.root_seed,
            "seeds": experiment.seeds(),
            "versions": versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "sessions": [],
            "failed": [],
            DETAIL_SHA256_KEY: True,  # every run row records its detail files' SHA-256
        }
        text = _experiment_text(experiment)
        if text is not None:  # the copy _save_inputs writes (experiment.yaml)
            manifest[EXPERIMENT_COPY_KEY] = _text_sha256(text)
        if experiment.config.uncertain:  # what sensitivity and discovery analyse
            design = experiment.config.design
            manifest["uncertain"] = {k: list(v) for k, v in experiment.config.uncertain.items()}
            manifest["design"] = design.model_dump() if design is not None else {"method": "lhs"}
        # first: a folder holding anything else (a parameters.csv written before it, and the
        # command killed) was refused as not srmsim's
        self.write_manifest(manifest)
        self._save_inputs(experiment)
        return manifest

    def _check_before_session(self, manifest: dict[str, Any]) -> None:
        """What every reader checks of a results folder's manifest (its settings and outcome
        definitions) and failure records, checked before a resumed session writes anything: a
        folder the analysis then refused had been given a session in its manifest first, and
        a hand-made failure record a place among its ``failed`` runs. (Not the failed list
        itself: a session killed before its end leaves failure records the list lacks.)"""
        from srmsim.experiment.compare import check_settings, registry_of

        where = self.root / "manifest.json"
        check_settings(manifest, where)
        registry_of(manifest, where)
        failures = self.failures()
        stored = {(f["variant"], f["replication"]) for f in failures
                  if self.has(f["variant"], f["replication"])}
        self.check_failures(failures, stored, {k: v for k, v in manifest.items() if k != "failed"})
        self._check_stored_detail()

    def _check_stored_detail(self) -> None:
        """Every stored run's detail files are there and hold the bytes its run wrote (their
        SHA-256, as the report checks them), before a resumed session writes anything: with one
        truncated, the resume recorded a session in manifest.json and then failed at the
        report, leaving the folder changed by a command that said it failed. (A detail file
        with no run is left: a session killed between the two writes leaves one, and the
        resume writes it again.)"""
        runs = self.load(allow_empty=True)
        for kind in DETAIL_COLUMNS:
            for (variant, replication), recorded in self.detail_digests(kind, runs).items():
                if recorded is None:  # (an older srmsim's run: read unchecked, with a note)
                    continue
                path = self.detail_path(variant, replication, kind)
                if not path.is_file():
                    raise SrmsimError(f"{path}: missing, but its run is stored\n  "
                                      f"{self.detail_hint(variant, replication)}")
                self.check_detail(path, recorded, variant, replication,
                                  self.detail_hint(variant, replication))

    def _save_inputs(self, experiment, missing_only: bool = False) -> str | None:
        """Each variant's resolved scenario (``scenarios/<variant>.yaml``, which the report
        reads and checks against the manifest) and the experiment file as run. ``missing_only``
        (a resumed store): only those not there, as a store killed or interrupted just after
        its manifest was written lacks them (this experiment's, as its hash is the manifest's),
        and its report, once every run had been made again, was refused for good; so does
        ``parameters.csv``, the uncertain parameters' draws the explore tools read.

        Returns the SHA-256 of the ``experiment.yaml`` written (None if none was), for the
        manifest (:data:`EXPERIMENT_COPY_KEY`)."""
        path = self.root / "parameters.csv"
        if experiment.config.uncertain and not (missing_only and path.exists()):
            draws = pd.DataFrame(experiment.parameter_draws())
            draws.insert(0, "replication", range(len(draws)))
            write_text(draws.to_csv(index=False, float_format="%.17g"), path,
                       private=self.private)
        for variant, scenario in experiment.variants.items():  # resolved, --set included
            path = self.root / "scenarios" / f"{variant}.yaml"
            if not (missing_only and path.exists()):
                write_text(scenario.to_yaml(), path, private=self.private)
        path = self.root / "experiment.yaml"
        text = _experiment_text(experiment)
        if (missing_only and path.exists()) or text is None:
            return None
        write_text(text, path, private=self.private)
        return _text_sha256(text)

    def check_saved(self, manifest: dict[str, Any], variants: Iterable[str],
                    note: bool = True) -> dict[str, Scenario | None]:
        """The files saved beside the runs, checked against ``manifest``: ``experiment.yaml``
        (:meth:`check_experiment_copy`) and each of ``variants``' scenario
        (:meth:`saved_scenario`, returned by variant). The one check every reader applies
        (compare from Python, ``ExperimentResult.load``, the commands and a resume): Python's
        ``compare(path)`` checked the copy but accepted an edited variant scenario that
        ``srmsim compare`` refused."""
        self.check_experiment_copy(manifest, note)
        return {variant: self.saved_scenario(variant, manifest) for variant in variants}

    def saved_scenario(self, variant: str, manifest: dict[str, Any]) -> Scenario | None:
        """The resolved scenario ``variant`` ran (``scenarios/<variant>.yaml``), or None for
        results of an older srmsim that saved none. The one check of these files (the report,
        compare and a resume read them through it).

        The file must give the digest manifest.json records for the variant: one edited or
        copied from another experiment was described in the report as what the variant did
        (its staff, thresholds and workflows) although its runs had another, and compare
        accepted it while the report refused it."""
        from srmsim.scenario import load_scenario

        path = self.root / "scenarios" / f"{variant}.yaml"
        self.refuse_link(path)
        if not path.exists():
            if manifest.get(DETAIL_SHA256_KEY):
                # written with every variant's scenario at the start: one gone was deleted
                # (or the start was killed), and the report would describe the variant as if
                # from an older srmsim. Resuming writes it again from the experiment file
                raise SrmsimError(f"{path}: missing (srmsim saves every variant's scenario "
                                  "when an experiment starts); to write it again"
                                  f"{THEN_RUN}{self.resume_command(manifest)}")
            return None
        scenario = load_scenario(path)
        recorded = (manifest.get("variants") or {}).get(variant)
        if isinstance(recorded, str) and scenario.digest() != recorded:
            raise SrmsimError(f"{path}: not the scenario variant {variant!r} ran (its digest "
                              f"{scenario.digest()}, manifest.json's {recorded[:20]}; copied "
                              "or edited); run the experiment into a new --out directory")
        return scenario

    def check_experiment_copy(self, manifest: dict[str, Any], note: bool = True) -> None:
        """``experiment.yaml`` is the experiment file as run: its SHA-256 is the one the
        manifest records (:data:`EXPERIMENT_COPY_KEY`). Results of an srmsim that recorded
        none are read with a note saying the copy is unchecked (``note``: once a command)."""
        path = self.root / "experiment.yaml"
        where = self.root / "manifest.json"
        self.refuse_link(path)
        if EXPERIMENT_COPY_KEY not in manifest:
            if note and path.exists():
                print(f"note: {path} is not checked: manifest.json records no SHA-256 of it "
                      "(results of an srmsim older than that check)")
            return
        recorded = manifest[EXPERIMENT_COPY_KEY]
        if not (isinstance(recorded, str) and len(recorded) == 64):
            raise SrmsimError(f"{where}: its {EXPERIMENT_COPY_KEY} is not a SHA-256 "
                              "(hand-edited or corrupt); run the experiment into a new --out "
                              "directory")
        again = f"{THEN_RUN}{self.resume_command(manifest)}"
        if not path.exists():
            raise SrmsimError(f"{path}: missing (srmsim keeps a copy of the experiment file as "
                              f"run); to write it again from the experiment file{again}")
        if not path.is_file() or file_sha256(path) != recorded:
            raise SrmsimError(f"{path}: not the experiment file as run (its SHA-256 is not the "
                              "one manifest.json records: edited or replaced); to write it "
                              f"again from the experiment file, delete it{again}")

    def _check_detail_runs(self, kind: str) -> None:
        """Each stored run has its ``kind`` detail and each detail file its run (both are
        written for every finished run): with one deleted or copied in, the report's effects
        by group would pair a different set of replications than the trust-wide ones."""
        runs = {(f.parent.name, f.stem) for f in self.run_files()}
        details = {(f.parent.name, f.name.removesuffix(f"-{kind}.parquet"))
                   for f in self.root.glob(f"detail/*/rep-*-{kind}.parquet")}
        if runs - details:
            variant, stem = min(runs - details)
            raise SrmsimError(f"{self.root / 'detail' / variant / f'{stem}-{kind}.parquet'}: "
                              "missing, but its run is stored\n  "
                              f"{self.detail_hint(variant, int(stem.removeprefix('rep-')))}")
        if details - runs:
            variant, stem = min(details - runs)
            raise SrmsimError(f"{self.root / 'detail' / variant / f'{stem}-{kind}.parquet'}: "
                              f"detail of a run that is not stored ({self.root / 'runs' / variant}"
                              f"/{stem}.parquet)\n  "
                              f"{self.detail_hint(variant, int(stem.removeprefix('rep-')))}")

    def load_detail(self, kind: str, runs: pd.DataFrame | None = None) -> pd.DataFrame | None:
        """Every run's ``groups`` or ``weekly`` detail with variant and replication columns;
        None when the runs kept none (results of an older srmsim). Each file is checked
        against the SHA-256 its run (in ``runs``, read when not given) recorded; detail of an
        older srmsim, which records none, is read with a note saying it is unchecked."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = []
        needed = DETAIL_COLUMNS.get(kind, set())
        digests = self.detail_digests(kind, runs)
        unchecked = 0
        for f in sorted(self.root.glob(f"detail/*/rep-*-{kind}.parquet")):
            self.refuse_link(f)
            try:
                replication = int(f.name.split("-")[1])
                if f != self.detail_path(f.parent.name, replication, kind):
                    raise ValueError(f.name)
            except ValueError:
                raise SrmsimError(f"{f}: not a name srmsim gives a detail file (copied in or "
                                  "renamed); move it out of the results") from None
            try:  # one pandas conversion for all (a run's table is small)
                t = pq.read_table(f)
            except Exception as err:  # noqa: BLE001 - pyarrow raises many types for bad files
                from srmsim.inputs import parquet_damage

                raise SrmsimError(f"{f}: unreadable detail file: {parquet_damage(f, err)}\n  "
                                  f"{self.detail_hint(f.parent.name, replication)}") from None
            names = t.column_names
            numeric = names if kind == "weekly" else ["value"]
            if not needed <= set(names) or len(set(names)) < len(names) \
                    or {"variant", "replication"} & set(names) \
                    or (kind == "groups" and t.column("group").null_count) \
                    or not all(_numeric(t.schema.field(c).type) for c in numeric):
                raise SrmsimError(f"{f}: not a {kind} detail file of srmsim (columns "
                                  f"{names[:10]}; hand-edited or corrupt)\n  "
                                  f"{self.detail_hint(f.parent.name, replication)}")
            recorded = digests.get((f.parent.name, replication))
            if recorded is None:
                unchecked += 1  # no run (named below) or a run of an older srmsim
            else:
                self.check_detail(f, recorded, f.parent.name, replication,
                                  self.detail_hint(f.parent.name, replication))
            t = t.add_column(0, "replication", pa.repeat(replication, t.num_rows))
            tables.append(t.add_column(0, "variant", pa.repeat(f.parent.name, t.num_rows)))
        if not tables:
            if any(h is not None for h in digests.values()):
                # its runs record the files' SHA-256: they were written, and deleted since (the
                # report said the results were "made by an older srmsim")
                self._check_detail_runs(kind)
            return None
        self._check_detail_runs(kind)
        self.note_unchecked(unchecked, kind)
        # a column only some variants have (a policy's queue) is missing (NaN) in the others
        try:
            return pa.concat_tables(tables, promote_options="permissive").to_pandas()
        except (pa.ArrowInvalid, pa.ArrowTypeError) as err:  # a column of two kinds
            raise SrmsimError(f"{self.root / 'detail'}: files whose columns do not fit together "
                              f"({type(err).__name__}); run the experiment into a new "
                              "--out directory") from None
