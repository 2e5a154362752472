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
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def run_path(self, variant: str, replication: int) -> Path:
        return self.root / "runs" / variant / f"rep-{replication:05d}.parquet"

    def failure_path(self, variant: str, replication: int) -> Path:
        return self.root / "failures" / variant / f"rep-{replication:05d}.json"

    def has(self, variant: str, replication: int) -> bool:
        return self.run_path(variant, replication).exists()

    def save_run(self, row: dict[str, Any]) -> None:
        fail = self.failure_path(row["variant"], row["replication"])
        if fail.exists():
            fail.unlink()
        write_parquet(pd.DataFrame([row]), self.run_path(row["variant"], row["replication"]))

    def save_failure(self, row: dict[str, Any]) -> None:
        write_text(json.dumps(row, indent=2) + "\n",
                   self.failure_path(row["variant"], row["replication"]))

    def failures(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted(self.root.glob("failures/*/*.json"))]

    def manifest(self) -> dict[str, Any] | None:
        path = self.root / "manifest.json"
        return json.loads(path.read_text()) if path.exists() else None

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
            return current
        manifest = {
            "name": experiment.name,
            "experiment_hash": digest,
            "experiment_file": str(experiment.source),
            "baseline": experiment.baseline,
            "variants": {k: v.digest() for k, v in experiment.variants.items()},
            "outcomes": experiment.outcomes,
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
        try:
            text = Path(experiment.source).read_text(encoding="utf-8")
            write_text(text, self.root / "experiment.yaml")
        except OSError:  # pragma: no cover - the file was read moments ago
            pass
        return manifest

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_text(json.dumps(manifest, indent=2) + "\n", self.root / "manifest.json")

    def load(self) -> pd.DataFrame:
        files = sorted(self.root.glob("runs/*/*.parquet"))
        if not files:
            raise SrmsimError(f"{self.root}: no finished runs (expected runs/*/*.parquet)")
        df = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
        return df.sort_values(["variant", "replication"], kind="stable").reset_index(drop=True)
