"""A resumable store of replications: one file per finished run and a manifest, each written
atomically. Experiments (:mod:`srmsim.experiment.store`) and trials (:mod:`srmsim.trial.store`)
share it.

Layout under the store's folder::

    manifest.json                      what made the runs: its hash, the seeds, versions, sessions
    runs/<variant>/rep-00012.parquet   one row: variant, replication, seed, the hash, results
    failures/<variant>/rep-00012.json  error and seed of a run that raised (experiments)
    detail/...                         each run's detail files; its row records their SHA-256

Each run's file appears by an atomic rename once the run is finished, so a run killed at any
moment (Ctrl-C, kill -9) leaves only whole files and ``--resume`` runs exactly the missing ones.
Reading checks every file, so a damaged store is an error naming the file, never a wrong table.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from srmsim import __version__
from srmsim.errors import MAX_LINE, SrmsimError
from srmsim.inputs import input_file_problem, load_json, whole
from srmsim.labels import agree, printable
from srmsim.outputs import json_dumps, make_dir, restrict_tree
from srmsim.results import file_sha256, write_parquet, write_text

DEPENDENCIES = ("numpy", "scipy", "pandas", "statsmodels", "mesa", "pyarrow", "pydantic")
#: how a hint line that gives the resume command starts (the command must fit after it)
THEN_RUN = "\n  then run: "
#: a stored number beyond this is refused: its square (any variance or sum of squares) would
#: overflow to inf (as :mod:`srmsim.stats` refuses its inputs)
LARGEST_VALUE = 1e150
#: what a failure record holds (with the study's hash): what :func:`run_one` returns for a run
#: that raised
FAILURE_FIELDS = ("variant", "replication", "seed", "error", "traceback", "runtime_seconds")
#: how a run row's column with the SHA-256 of one kind of its detail files starts (a name no
#: outcome can have): reading checks the file against it, so a truncated, edited, replaced or
#: swapped detail file is never read as the run's
SHA256_PREFIX = "sha256:"
#: how a run row's column that marks a user-defined outcome whose value was beyond
#: +-:data:`LARGEST_VALUE` starts (a name no outcome can have: its value is stored as missing,
#: and the effects table says why it is not measured)
BEYOND_PREFIX = "beyond:"
#: the manifest key that says every run of the store records its detail files' SHA-256 (a
#: store without it was written by an older srmsim: its detail is read unchecked, with a note)
DETAIL_SHA256_KEY = "detail_sha256"


def root_seed_gives(root: object, seeds: object) -> bool:
    """Whether the root seed a manifest records gives its seeds (each replication's, or one
    common seed repeated for a design): the root seed printed as the study's must be the one
    its runs' seeds came from, and an edited one, or an extra seed, went unnoticed. A record
    with no seeds has nothing to check (a store refuses a manifest without them)."""
    from srmsim.rng import replication_seeds

    if not isinstance(seeds, list) or not seeds:
        return True
    n = len(seeds)
    return (whole(root) and 0 <= root < 2**128
            and seeds in (replication_seeds(root, n), replication_seeds(root, 1) * n))


def sha256_column(kind: str) -> str:
    """The run row's column with the SHA-256 of its ``kind`` detail file."""
    return f"{SHA256_PREFIX}{kind}"


def versions() -> dict[str, str]:
    """srmsim's, Python's and the main dependencies' versions, for the record."""
    out = {"srmsim": __version__, "python": platform.python_version()}
    for dep in DEPENDENCIES:
        try:
            out[dep] = metadata.version(dep)
        except metadata.PackageNotFoundError:  # pragma: no cover
            out[dep] = "not installed"
    return out


def names_records(manifest: object) -> bool:
    """Whether a study's manifest records a trust's pupil records among its input files
    (``records:<path>``, :func:`srmsim.experiment.spec.record_files`)."""
    if not isinstance(manifest, dict):
        return False
    config = manifest.get("experiment_config")
    recorded = [manifest.get("input_files"),
                config.get("input_files") if isinstance(config, dict) else None]
    return any(isinstance(files, dict) and any(str(k).startswith("records:") for k in files)
               for files in recorded)


def protect_records_study(folder: str | Path) -> bool:
    """Make a study folder of a trust built from real records owner-only again (folder 0700,
    every file 0600) and say whether it is one, by the input files its manifest recorded
    (``records:<path>``, :func:`srmsim.experiment.spec.record_files`). Why: compare and a
    re-report of such a folder copied with open permissions (``cp -r``) wrote effects.csv
    and report.html readable by everyone, as they went by the folder's mode alone."""
    folder = Path(folder)
    found = False
    for where in ("manifest.json", "store/manifest.json"):  # an experiment's, a trial's
        try:
            manifest = load_json(folder / where)
        except ValueError:
            continue
        found = found or names_records(manifest)
    if not found:
        return False
    if folder.is_symlink():
        # chmod follows a link (Linux has no lchmod): the folder it points to, wherever it
        # is, was made owner-only through it; srmsim never makes a study folder a link, and
        # refuses one for any command that writes the folder (experiment, compare)
        raise SrmsimError(f"{folder}: is a symbolic link (to {printable(os.readlink(folder))}) "
                          "to a study of pupil records, whose folder srmsim keeps owner-only, "
                          "changing no permissions through a link\n  give the folder it points "
                          f"to: {printable(os.path.realpath(folder))}")
    make_dir(folder, private=True)
    restrict_tree(folder)
    return True


class RunStore:
    """Runs keyed by variant and replication, checked against the manifest when read.

    Subclasses name what made the runs (``kind``, for messages) and the manifest key of its hash
    (``hash_key``); every run file carries that hash too.
    """

    kind = "experiment"
    hash_key = "experiment_hash"
    #: the manifest key of the study file's path (what the resume command runs)
    source_key = "experiment_file"
    #: the variant of a store that has one (a trial's: its detail files are not by variant)
    single_variant: str | None = None

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)
        #: files are written owner-only (set by :meth:`protect`)
        self.private = False

    @property
    def folder(self) -> Path:
        """The folder the user named (``--out``), for messages."""
        return self.root

    # ------------------------------------------------------------------ paths
    def run_path(self, variant: str, replication: int) -> Path:
        return self.root / "runs" / variant / f"rep-{replication:05d}.parquet"

    def failure_path(self, variant: str, replication: int) -> Path:
        return self.root / "failures" / variant / f"rep-{replication:05d}.json"

    def has(self, variant: str, replication: int) -> bool:
        return self.run_path(variant, replication).exists()

    def run_files(self) -> list[Path]:
        return sorted(self.root.glob("runs/*/*.parquet"))

    def holds_runs(self) -> bool:
        """Any finished or failed run, whether or not a manifest says what made it."""
        return bool(self.run_files()) or any(self.root.glob("failures/*/*.json"))

    # ------------------------------------------------------------------ repair hints
    def resume_options(self, manifest: dict[str, Any]) -> list[str]:
        """Options besides ``--set`` that the study's hash depends on (none here)."""
        return []

    def resume_command(self, manifest: dict[str, Any] | None = None) -> str:
        """The command that runs this folder's missing runs: the study file and the ``--set``
        settings the manifest records (without them the study's hash differs and resuming is
        refused). Too long a list of settings for one printed line is named, not cut: a cut
        command would run something else."""
        if manifest is None:
            try:
                manifest = self.manifest()
            except SrmsimError:  # a damaged manifest is reported by name elsewhere
                manifest = None
        source = (manifest or {}).get(self.source_key)
        if manifest is None or not isinstance(source, str):
            return f"the {self.kind} again with --resume"
        source = self._source_from_here(manifest, source)
        base = shlex.join(["srmsim", self.kind, source, *self.resume_options(manifest),
                           "--resume", "--out", str(self.folder)])
        settings = manifest.get("settings")
        if not isinstance(settings, dict):  # made by an srmsim that did not record them
            return f"{base} with the --set values it was run with, if any"
        words = [w for key, value in settings.items()  # JSON is YAML, as --set reads it
                 for w in ("--set", f"{key}={json.dumps(value)}")]
        command = " ".join([base, shlex.join(words)]) if words else base
        if len(THEN_RUN) - 1 + len(command) <= MAX_LINE:
            return command
        where = (self.root / "manifest.json").relative_to(self.folder)
        return f"{base} with the same --set values as before (see {where})"

    def source_entries(self, source: str | os.PathLike[str]) -> dict[str, str]:
        """The manifest's record of the study file: as given (``source_key``), and from the
        results folder (``<source_key>_from_folder``), so that the resume command printed from
        another folder than the one the study started in names the file from there."""
        entries = {self.source_key: str(source)}
        try:
            entries[f"{self.source_key}_from_folder"] = os.path.relpath(
                os.path.abspath(source), os.path.abspath(self.folder))
        except ValueError:  # (Windows: another drive) the path as given, as before
            pass
        return entries

    def _source_from_here(self, manifest: dict[str, Any], source: str) -> str:
        """The study file as the current folder reaches it: ``srmsim report results/x`` run
        from another folder than the experiment printed a resume command naming the file
        relative to the folder it was started in, which failed ("no such file")."""
        from_folder = manifest.get(f"{self.source_key}_from_folder")
        if not isinstance(from_folder, str) or os.path.isabs(source):
            return source
        path = os.path.normpath(os.path.join(os.path.abspath(self.folder), from_folder))
        if not os.path.exists(path) and os.path.exists(source):
            # the folder was moved (or copied) since: from its old place the file was this
            # (a resume with the file where it is records that place, see reopen)
            return source
        try:
            return os.path.relpath(path)
        except ValueError:  # (Windows: another drive)
            return path

    def recorded_inputs(self, manifest: dict[str, Any]) -> Any:
        """The SHA-256 of each input file the study's hash covers, as ``manifest`` records
        them by path (none here)."""
        return None

    def check_inputs(self, manifest: dict[str, Any], inputs: dict[str, str]) -> None:
        """Refuse, naming them, the input files (arrivals, pupil records) whose SHA-256 now
        differs from the one ``manifest`` records: the study file itself may be unchanged, and
        naming it sent users looking in the wrong place."""
        recorded = self.recorded_inputs(manifest)
        if not isinstance(recorded, dict):  # an older store, or none recorded
            return
        changed = [key.removeprefix("records:") for key, sha in sorted(inputs.items())
                   if key in recorded and recorded[key] != sha]
        if changed:
            raise SrmsimError(
                f"{self.folder}: {', '.join(changed)} {agree(len(changed), 'has', 'have')} "
                "changed since its runs were made (SHA-256 not the one recorded), so new runs "
                f"would not match them; restore {agree(len(changed), 'it', 'them')} or run the "
                f"{self.kind} into a new --out directory")

    def rerun_hint(self, *files: Path) -> str:
        """Steps that repair a damaged run: delete its file (``files``, or the one the error
        names) so the run is made again, then resume with the study's settings."""
        what = "".join(f"\n    {f}" for f in files) if files else ""
        return (f"to make that run again, delete {'its files:' if files else 'it'}{what}"
                f"{THEN_RUN}{self.resume_command()}")

    def refuse_link(self, path: Path) -> None:
        """Refuse ``path``, or a folder between it and the results folder, that is a symbolic
        link, naming it and what removing it costs: srmsim never makes one, a run or detail
        file linked to a copy elsewhere was read as the store's, a resume wrote through a
        linked folder, and a study of real records made the file linked to owner-only."""
        for entry in (path, *path.parents):
            if entry == self.folder or self.folder not in entry.parents:
                return
            if entry.is_symlink():
                raise SrmsimError(f"{entry}: is a symbolic link (to "
                                  f"{printable(os.readlink(entry))}); srmsim never makes one in "
                                  f"a results store\n  {self._link_repair(entry)}")

    def refuse_links(self) -> None:
        """:meth:`refuse_link` for every entry of the store (before anything is read or
        written: a linked variant folder with no run in it yet was written through)."""
        if self.root.is_symlink() or not self.root.is_dir():
            self.refuse_link(self.root)
            return
        for dirpath, dirnames, filenames in os.walk(self.root):  # (enters no linked folder)
            for name in sorted([*dirnames, *filenames]):
                self.refuse_link(Path(dirpath) / name)

    def _link_repair(self, entry: Path) -> str:
        """What to do about a symbolic link ``entry`` in the store, and which runs that makes
        again: "delete it" of a linked variant folder deleted every run of that variant."""
        again = f"run the {self.kind} into a new --out directory"
        if entry == self.root or entry.parent == self.root:  # store/, runs/, manifest.json...
            what = "this folder's manifest" if entry.name == "manifest.json" else "what it holds"
            return f"replace the link by a copy of {what} (rm, then cp), or {again}"
        parts = entry.relative_to(self.root).parts
        runs = self.root / "runs" / parts[1]
        if entry.is_dir() and len(parts) == 2:  # runs/<variant>, failures/..., detail/...
            also = f" and {runs}" if parts[0] == "detail" else ""
            return (f"to make every run of variant {printable(parts[1])} again, remove the "
                    f"link{also} (rm {entry}: the folder it points to is left as it is; each "
                    f"of those runs is lost and made again){THEN_RUN}{self.resume_command()}")
        if parts[0] == "detail":
            try:
                replication = int(entry.name.split("-")[1])
            except (IndexError, ValueError):
                return f"move it out of the results, or {again}"
            variant = parts[1] if len(parts) == 3 else self.single_variant
            if variant is not None:  # the run and all its detail (as detail_hint names them)
                return self.rerun_hint(self.run_path(variant, replication),
                                       entry.with_name(f"rep-{replication:05d}-*.parquet"))
        return self.rerun_hint()

    # ------------------------------------------------------------------ writing
    def protect(self, private: bool) -> None:
        """A study of a trust built from real records keeps its folder owner-only (0700), as a
        run from records does: its runs, detail, report and effects are simulated aggregates of
        pupils copied from the records, so no one else may read any file in it. Every file
        is owner-only too (0600), those of earlier sessions included: a folder opened up or
        copied elsewhere must not carry readable files."""
        self.private = private
        if private:
            for folder in dict.fromkeys((self.folder, self.root)):
                make_dir(folder, private=True)
                restrict_tree(folder)

    def save_run(self, row: dict[str, Any]) -> None:
        fail = self.failure_path(row["variant"], row["replication"])
        if fail.exists():
            fail.unlink()
        write_parquet(pd.DataFrame([row]), self.run_path(row["variant"], row["replication"]),
                      private=self.private)

    def save_failure(self, row: dict[str, Any]) -> None:
        """The failure record: only :data:`FAILURE_FIELDS` (and the study's hash), so every
        record has one shape that reading can check (a run that raised after measuring has
        outcome values and detail tables in its row, which are not the record's)."""
        record = {k: row[k] for k in (*FAILURE_FIELDS, self.hash_key) if k in row}
        write_text(json_dumps(record, indent=2) + "\n",
                   self.failure_path(row["variant"], row["replication"]), private=self.private)

    def record_detail(self, row: dict[str, Any], kind: str, path: Path) -> None:
        """Record in the run's ``row`` the SHA-256 of its ``kind`` detail file just written at
        ``path`` (before the row itself is saved: a stored row always names its detail)."""
        row[sha256_column(kind)] = file_sha256(path)

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_text(json_dumps(manifest, indent=2) + "\n", self.root / "manifest.json",
                   private=self.private)

    def end_session(self, manifest: dict[str, Any], ending: BaseException | None) -> None:
        """Write the manifest as a session ends; ``ending``: the error it ends on, if any.
        Why: on a full disk the run file that failed was reported as manifest.json, whose
        write then failed too and replaced the first error; that error (or a Ctrl-C) is
        the one raised, and the manifest stays as it was (whole: a resume rewrites it)."""
        try:
            self.write_manifest(manifest)
        except OSError:
            if ending is None:
                raise

    # ------------------------------------------------------------------ reading
    def failures(self) -> list[dict[str, Any]]:
        """Every failure record, each of the shape :meth:`save_failure` writes and in the file
        its variant and replication name: a record copied to another name, or one without a
        seed or an error, would pass a deleted run off as a failed one."""
        out = []
        for p in sorted(self.root.glob("failures/*/*.json")):
            self.refuse_link(p)
            row = read_json(p)
            if not (isinstance(row, dict) and set(row) <= {*FAILURE_FIELDS, self.hash_key}
                    and isinstance(row.get("variant"), str)
                    and whole(row.get("replication")) and row["replication"] >= 0
                    and whole(row.get("seed"))
                    and isinstance(row.get("error"), str) and row["error"].strip()
                    and p == self.failure_path(row["variant"], row["replication"])):
                raise SrmsimError(f"{p}: not a failure record of srmsim, or not of the run its "
                                  f"name says (hand-made, copied or edited); {self.rerun_hint()}")
            out.append(row)
        return out

    def failed_keys(self) -> list[list[Any]]:
        """[variant, replication] of each failure record, by file name (what the manifest
        lists as ``failed``, for reading to check the records against)."""
        keys = []
        for p in sorted(self.root.glob("failures/*/rep-*.json")):
            try:
                keys.append([p.parent.name, int(p.stem.removeprefix("rep-"))])
            except ValueError:
                continue  # not a name srmsim writes: reading the records names it
        return keys

    def detail_digests(self, kind: str, runs: pd.DataFrame | None = None
                       ) -> dict[tuple[str, int], str | None]:
        """The SHA-256 each run in ``runs`` (every stored run when not given; only runs that
        have ``kind`` detail) records for its ``kind`` detail file, by (variant, replication);
        None for a run of an older srmsim, which records none (refused when the manifest says
        its runs record them: the value was removed by hand)."""
        runs = self.load() if runs is None else runs
        if runs.empty:
            return {}
        column = sha256_column(kind)
        values = runs[column] if column in runs.columns else [None] * len(runs)
        digests = {(str(v), int(r)): (h if isinstance(h, str) else None)
                   for v, r, h in zip(runs["variant"], runs["replication"], values, strict=True)}
        if (self.manifest() or {}).get(DETAIL_SHA256_KEY) is True:
            unrecorded = sorted(k for k, h in digests.items() if h is None)
            if unrecorded:
                variant, replication = unrecorded[0]
                raise SrmsimError(f"{self.run_path(variant, replication)}: records no SHA-256 "
                                  f"of its {kind} detail file, as every run of this {self.kind} "
                                  f"does (hand-edited); {self.rerun_hint()}")
        return digests

    def check_detail(self, path: Path, recorded: str, variant: str, replication: int,
                     hint: str) -> None:
        """Refuse a detail file whose bytes are not those its run wrote (``recorded``, from
        :meth:`detail_digests`), naming it and the repair (``hint``)."""
        self.refuse_link(path)
        if file_sha256(path) != recorded:
            # one path a line: a line longer than MAX_LINE is wrapped at word boundaries
            # (short_message in srmsim/cli.py), so two paths sharing one line would be split
            # wherever the width fell
            raise SrmsimError(f"{path}: not the detail file its run wrote (truncated, edited, "
                              f"replaced or swapped):\n  its SHA-256 differs from the one "
                              f"{self.run_path(variant, replication)} records\n  {hint}")

    def note_unchecked(self, count: int, kind: str) -> None:
        """Say on stdout that ``count`` ``kind`` detail files were read without a SHA-256 to
        check them against (a store of an srmsim older than that check)."""
        if count:
            print(f"note: {count} {kind} detail {agree(count, 'file')} in {self.root / 'detail'} "
                  f"{agree(count, 'is', 'are')} read unchecked: their runs record no SHA-256 "
                  "of them (results of an srmsim older than that check)")

    def manifest(self) -> dict[str, Any] | None:
        """The manifest, or None if there is none; an error if it is not one srmsim wrote."""
        path = self.root / "manifest.json"
        self.refuse_link(path)
        if not path.exists():
            return None
        manifest = read_json(path)
        seeds = manifest.get("seeds", []) if isinstance(manifest, dict) else None
        # sessions: each run of the command adds one (a text there was an AttributeError
        # traceback from --resume, after the runs)
        if not isinstance(manifest, dict) or not isinstance(manifest.get(self.hash_key), str) \
                or not isinstance(seeds, list) \
                or not all(whole(s) for s in seeds) \
                or not isinstance(manifest.get("sessions", []), list):
            raise SrmsimError(f"{path}: not an srmsim {self.kind} manifest (hand-edited or "
                              f"corrupt); run the {self.kind} into a new --out directory")
        return manifest

    def reopen(self, digest: str, source: str, resume: bool, complete: bool = False,
               seeds: list[int] | None = None, inputs: dict[str, str] | None = None
               ) -> dict[str, Any] | None:
        """The manifest of this very study, checked, or None when the store is new.

        Refuses to mix results: runs without a manifest, another study's (or a changed file's)
        results, an unfinished study without ``resume`` (unless ``complete``: then running it
        again only reports), a manifest whose seeds are not the study's, a damaged run file.
        ``inputs``: the study's input files' SHA-256 by path, so that a changed one is named.
        """
        self.refuse_links()
        current = self.manifest()
        if current is None:
            if self.holds_runs():
                raise SrmsimError(
                    f"{self.folder} holds runs but no manifest.json, so nothing says which "
                    f"{self.kind} made them; run the {self.kind} into a new --out directory")
            return None
        if current.get(self.hash_key) != digest:
            self.check_inputs(current, inputs or {})
            # the usual cause: resuming without the --set values the study was run with
            settings = current.get("settings")
            hint = (f"\n  to continue those results, run: {self.resume_command(current)}"
                    if isinstance(settings, dict) and settings else "")
            raise SrmsimError(
                f"{self.folder} holds results of another {self.kind}, or {source} (or a scenario "
                f"file it names) has changed "
                f"since they were made ({self.kind} hash {current.get(self.hash_key)} there, "
                f"{digest} now); run it into a new --out directory{hint}")
        if not (resume or complete):
            raise SrmsimError(
                f"{self.folder} already holds unfinished results of {self.kind} "
                f"{current.get('name')!r}; use --resume to continue it or choose another --out")
        if seeds is not None and current.get("seeds") != seeds:
            raise SrmsimError(f"{self.root / 'manifest.json'}: its seeds are not this "
                              f"{self.kind}'s (hand-edited); run it into a new --out directory")
        self.load(digest, current.get("seeds"), allow_empty=True)  # every stored run intact
        # the study file as given now, from where the folder is now: a folder moved or copied
        # (cp -r) since kept the old place's, and its resume command named a file not there
        current.update(self.source_entries(source))
        return current

    def load(self, digest: str | None = None, seeds: list[int] | None = None,
             allow_empty: bool = False) -> pd.DataFrame:
        """Every stored run, each file checked: readable, one row, where its name says, made by
        this study (``digest``, from the manifest if not given) with its seed."""
        self.refuse_links()
        manifest = self.manifest() or {}
        digest = digest or manifest.get(self.hash_key)
        seeds = seeds if seeds is not None else manifest.get("seeds")
        files = self.run_files()
        if not files:
            if allow_empty:
                return pd.DataFrame()
            raise SrmsimError(f"{self.root}: no finished runs (expected runs/*/*.parquet)")
        frames = [self._read_run(f, digest, seeds) for f in files]
        df = pd.concat(frames, ignore_index=True)
        return df.sort_values(["variant", "replication"], kind="stable").reset_index(drop=True)

    def _read_run(self, path: Path, digest: str | None, seeds: list[int] | None
                  ) -> pd.DataFrame:
        """One run file, or an error naming it: a store must never yield a wrong table."""
        self.refuse_link(path)  # its runs may be another folder's, and resume writes there
        problem = input_file_problem(path)  # a pipe or a device read as "not found" before
        if problem:  # (not "run file file not found")
            raise SrmsimError(f"{path}: run file "
                              f"{problem.removeprefix('file ').removesuffix('; give a saved file')}"
                              f"; {self.rerun_hint()}")
        try:
            df = pd.read_parquet(path)
        except Exception as err:  # pyarrow raises several types for truncated/empty files
            from srmsim.inputs import parquet_damage

            raise SrmsimError(f"{path}: unreadable run file: {parquet_damage(path, err)}; "
                              f"{self.rerun_hint()}") from None
        variant = path.parent.name
        try:
            replication = int(path.stem.removeprefix("rep-"))
        except ValueError:
            replication = -1
        try:
            ok = (len(df) == 1 and {"variant", "replication", "seed"} <= set(df.columns)
                  and replication >= 0 and path == self.run_path(variant, replication)
                  and df["variant"].iloc[0] == variant
                  # an integer column: int() read a replication True as 1 (and 1.5 as 1)
                  and pd.api.types.is_integer_dtype(df["replication"])
                  and int(df["replication"].iloc[0]) == replication
                  and float(df["seed"].iloc[0]).is_integer())
        except (TypeError, ValueError, OverflowError):  # a NaN or text replication or seed
            ok = False
        if not ok:
            raise SrmsimError(f"{path}: not the run its name says (copied, renamed or edited); "
                              f"{self.rerun_hint()}")
        # every run file carries its hash: one without it (a column dropped by hand) is no
        # more this store's than one with another hash
        stored = df[self.hash_key].iloc[0] if self.hash_key in df.columns else None
        if digest and stored is None:
            raise SrmsimError(f"{path}: has no {self.hash_key} column (edited); "
                              f"{self.rerun_hint()}")
        if digest and stored != digest:
            raise SrmsimError(f"{path}: made by another {self.kind} (hash {stored}, this "
                              f"store's is {digest}); run into a new --out directory")
        if seeds is not None and (replication >= len(seeds)
                                  or int(df["seed"].iloc[0]) != int(seeds[replication])):
            raise SrmsimError(f"{path}: its seed is not the one the manifest gives replication "
                              f"{replication}; {self.rerun_hint()}")
        return df


def only_hidden(folder: Path) -> bool:
    """True for a folder holding only hidden entries (a killed write's temporary files)."""
    return all(p.name.startswith(".") for p in folder.iterdir())


def read_json(path: Path) -> Any:
    """A JSON file srmsim wrote, or an error naming it."""
    try:
        return load_json(path)
    except ValueError as err:  # invalid, duplicate keys, too deep or large, not a file
        raise SrmsimError(f"{path}: unreadable ({str(err)[:120]}); it is corrupt, truncated "
                          "or hand-edited") from None
