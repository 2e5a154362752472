"""The results store: one Parquet file per finished run, and a manifest, written atomically.

Layout under the output directory::

    manifest.json            experiment hash, seeds, versions, timings, failures
    parameters.csv           each replication's uncertain parameter values (if any)
    experiment.yaml          the experiment file as run
    runs/<variant>/rep-00012.parquet   one row: variant, replication, seed, outcomes, runtime
    failures/<variant>/rep-00012.json  error and seed of a run that raised

Because each run's file appears by an atomic rename once the run is finished, a run killed at
any moment (Ctrl-C, kill -9) leaves only whole files; ``--resume`` runs exactly the missing ones.
"""

from __future__ import annotations

import json
import os
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from srmsim import __version__
from srmsim.errors import SrmsimError
from srmsim.results import write_parquet, write_text

DEPENDENCIES = ("numpy", "scipy", "pandas", "statsmodels", "mesa", "pyarrow", "pydantic")


def versions() -> dict[str, str]:
    out = {"srmsim": __version__, "python": platform.python_version()}
    for dep in DEPENDENCIES:
        try:
            out[dep] = metadata.version(dep)
        except metadata.PackageNotFoundError:  # pragma: no cover
            out[dep] = "not installed"
    return out


class ResultsStore:
    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def run_path(self, variant: str, replication: int) -> Path:
        return self.root / "runs" / variant / f"rep-{replication:05d}.parquet"

    def failure_path(self, variant: str, replication: int) -> Path:
        return self.root / "failures" / variant / f"rep-{replication:05d}.json"

    def detail_path(self, variant: str, replication: int, kind: str) -> Path:
        """Per-run detail for the report: ``groups`` (outcomes by FSM/SEN/EAL and school) and
        ``weekly`` (the trust's queues and staff use per week)."""
        return self.root / "detail" / variant / f"rep-{replication:05d}-{kind}.parquet"

    def has(self, variant: str, replication: int) -> bool:
        return self.run_path(variant, replication).exists()

    def save_run(self, row: dict[str, Any]) -> None:
        fail = self.failure_path(row["variant"], row["replication"])
        if fail.exists():
            fail.unlink()
        row = dict(row)
        for kind in ("groups", "weekly"):
            detail = row.pop(f"_{kind}", None)
            if detail is not None:
                write_parquet(detail, self.detail_path(row["variant"], row["replication"], kind))
        write_parquet(pd.DataFrame([row]), self.run_path(row["variant"], row["replication"]))

    def save_failure(self, row: dict[str, Any]) -> None:
        write_text(json.dumps(row, indent=2) + "\n",
                   self.failure_path(row["variant"], row["replication"]))

    def failures(self) -> list[dict[str, Any]]:
        out = []
        for p in sorted(self.root.glob("failures/*/*.json")):
            row = _read_json(p)
            if not isinstance(row, dict) or not {"variant", "replication", "error"} <= set(row):
                raise SrmsimError(f"{p}: not a failure record of srmsim (hand-edited or corrupt); "
                                  "delete it to re-run that replication with --resume")
            out.append(row)
        return out

    def manifest(self) -> dict[str, Any] | None:
        path = self.root / "manifest.json"
        if not path.exists():
            return None
        manifest = _read_json(path)
        if not isinstance(manifest, dict) or not isinstance(manifest.get("experiment_hash"), str) \
                or not isinstance(manifest.get("seeds", []), list):
            raise SrmsimError(f"{path}: not an srmsim experiment manifest (hand-edited or "
                              "corrupt); run the experiment into a new --out directory")
        return manifest

    def run_files(self) -> list[Path]:
        return sorted(self.root.glob("runs/*/*.parquet"))

    def complete(self, experiment) -> bool:
        """True when this store already holds every run of this very experiment: running it
        again only reports (so the README's main command can be repeated)."""
        current = self.manifest()
        if current is None or current.get("experiment_hash") != experiment.digest():
            return False
        n = int(current.get("replications", experiment.replications))
        return all(self.has(v, r) for v in experiment.variants for r in range(n))

    def start(self, experiment, resume: bool) -> dict[str, Any]:
        """Check or create the manifest; refuse to mix results of different experiments."""
        current = self.manifest()
        digest = experiment.digest()
        if current is None and (self.run_files() or any(self.root.glob("failures/*/*.json"))):
            raise SrmsimError(
                f"{self.root} holds runs but no manifest.json, so nothing says which experiment "
                "made them; run the experiment into a new --out directory")
        if current is not None:
            if current.get("experiment_hash") != digest:
                raise SrmsimError(
                    f"{self.root} holds results of another experiment, or {experiment.source} "
                    f"has changed since they were made (experiment hash "
                    f"{current.get('experiment_hash')} there, {digest} now); run it into a new "
                    "--out directory")
            if not resume:
                raise SrmsimError(
                    f"{self.root} already holds unfinished results of experiment "
                    f"{current.get('name')!r}; use --resume to continue it or choose another --out")
            self.load(digest, current.get("seeds"), allow_empty=True)  # every stored run intact
            return current
        manifest = {
            "name": experiment.name,
            "experiment_hash": digest,
            "experiment_file": str(experiment.source),
            "baseline": experiment.baseline,
            "variants": {k: v.digest() for k, v in experiment.variants.items()},
            "outcomes": experiment.outcomes,
            "outcome_definitions": experiment.outcome_definitions,
            "description": experiment.config.description,
            "replications_planned": experiment.replications,
            "settings": {k: v for k, v in experiment.settings.items()},
            "root_seed": experiment.root_seed,
            "seeds": experiment.seeds(),
            "versions": versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "sessions": [],
        }
        if experiment.config.uncertain:  # what sensitivity and discovery analyse
            design = experiment.config.design
            manifest["uncertain"] = {k: list(v) for k, v in experiment.config.uncertain.items()}
            manifest["design"] = design.model_dump() if design is not None else {"method": "lhs"}
            draws = pd.DataFrame(experiment.parameter_draws())
            draws.insert(0, "replication", range(len(draws)))
            write_text(draws.to_csv(index=False, float_format="%.17g"),
                       self.root / "parameters.csv")
        self.write_manifest(manifest)
        for variant, scenario in experiment.variants.items():  # resolved, --set included
            write_text(scenario.to_yaml(), self.root / "scenarios" / f"{variant}.yaml")
        try:
            text = Path(experiment.source).read_text(encoding="utf-8")
            write_text(text, self.root / "experiment.yaml")
        except OSError:  # pragma: no cover - the file was read moments ago
            pass
        return manifest

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_text(json.dumps(manifest, indent=2) + "\n", self.root / "manifest.json")

    def load_detail(self, kind: str) -> pd.DataFrame | None:
        """Every run's ``groups`` or ``weekly`` detail with variant and replication columns;
        None when the runs kept none (results of an older srmsim)."""
        frames = []
        for f in sorted(self.root.glob(f"detail/*/rep-*-{kind}.parquet")):
            df = pd.read_parquet(f)
            df.insert(0, "replication", int(f.name.split("-")[1]))
            df.insert(0, "variant", f.parent.name)
            frames.append(df)
        return pd.concat(frames, ignore_index=True) if frames else None

    def load(self, experiment_hash: str | None = None, seeds: list[int] | None = None,
             allow_empty: bool = False) -> pd.DataFrame:
        """Every stored run, each file checked: readable, one row, where its name says, made by
        this experiment (``experiment_hash``, from the manifest if not given) with its seed."""
        manifest = self.manifest() or {}
        experiment_hash = experiment_hash or manifest.get("experiment_hash")
        seeds = seeds if seeds is not None else manifest.get("seeds")
        files = self.run_files()
        if not files:
            if allow_empty:
                return pd.DataFrame()
            raise SrmsimError(f"{self.root}: no finished runs (expected runs/*/*.parquet)")
        frames = [_read_run(f, experiment_hash, seeds) for f in files]
        df = pd.concat(frames, ignore_index=True)
        return df.sort_values(["variant", "replication"], kind="stable").reset_index(drop=True)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise SrmsimError(f"{path}: unreadable ({type(err).__name__}: {str(err)[:120]}); it is "
                          "corrupt or truncated") from None


def _read_run(path: Path, experiment_hash: str | None, seeds: list[int] | None) -> pd.DataFrame:
    """One run file, or an error naming it: a store must never yield a wrong table silently."""
    hint = "delete it to re-run that replication with --resume"
    try:
        df = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several types for truncated/empty files
        raise SrmsimError(f"{path}: unreadable run file ({type(err).__name__}); {hint}") from None
    variant, stem = path.parent.name, path.stem
    try:
        replication = int(stem.removeprefix("rep-"))
    except ValueError:
        replication = -1
    ok = (len(df) == 1 and {"variant", "replication", "seed"} <= set(df.columns)
          and stem.startswith("rep-") and df["variant"].iloc[0] == variant
          and int(df["replication"].iloc[0]) == replication)
    if not ok:
        raise SrmsimError(f"{path}: not the run its name says (copied, renamed or edited); {hint}")
    stored_hash = df["experiment_hash"].iloc[0] if "experiment_hash" in df.columns else None
    if experiment_hash and stored_hash is not None and stored_hash != experiment_hash:
        raise SrmsimError(f"{path}: made by another experiment (hash {stored_hash}, this store's "
                          f"is {experiment_hash}); run into a new --out directory")
    if seeds is not None and (replication >= len(seeds)
                              or int(df["seed"].iloc[0]) != int(seeds[replication])):
        raise SrmsimError(f"{path}: its seed is not the one the manifest gives replication "
                          f"{replication}; {hint}")
    return df
