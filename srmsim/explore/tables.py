"""An experiment's results as the explore tools read them: parameters and outcomes per run.

Each replication is one state of the world (one point of the ``uncertain:`` design). For a
variant, outcome ``x`` is its value, ``x_diff`` the paired difference from the baseline in the same
replication (same seed, same parameters), and ``x_baseline`` the baseline's value.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from srmsim.errors import SrmsimError
from srmsim.experiment.compare import load_runs
from srmsim.experiment.outcomes import DERIVED_SUFFIXES


class Explored:
    """Runs, manifest and parameter draws of one results directory."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.runs, self.manifest = load_runs(self.path)
        params = self.path / "parameters.csv"
        if not self.manifest.get("uncertain") or not params.exists():
            raise SrmsimError(f"{self.path}: the experiment has no uncertain: parameters to "
                              "explore (add an uncertain: section and a design: to it)")
        self.parameters = pd.read_csv(params).set_index("replication").sort_index()
        self.names = sorted(self.manifest["uncertain"])
        self.bounds = {k: tuple(v) for k, v in self.manifest["uncertain"].items()}
        self.design = self.manifest.get("design") or {"method": "lhs"}
        self.baseline: str = self.manifest["baseline"]
        self.outcomes: list[str] = list(self.manifest["outcomes"])
        self.variants = sorted(set(self.runs["variant"]))

    def variant(self, name: str | None) -> str:
        """A variant to look at: the one named, or the only one besides the baseline."""
        others = [v for v in self.variants if v != self.baseline]
        if name is None:
            if len(others) != 1:
                raise SrmsimError(f"{self.path}: name the variant to look at (--variant), one of "
                                  f"{', '.join(others) or '(none but the baseline)'}")
            return others[0]
        if name not in self.variants:
            raise SrmsimError(f"{self.path}: no variant {name!r} (variants: "
                              f"{', '.join(self.variants)})")
        return name

    def outcome_table(self, variant: str) -> pd.DataFrame:
        """One row per replication: outcomes, ``_diff`` and ``_baseline`` columns."""
        arm = self.runs[self.runs["variant"] == variant].set_index("replication")[self.outcomes]
        table = arm.astype(float)
        if variant != self.baseline:
            base = self.runs[self.runs["variant"] == self.baseline].set_index("replication")
            base = base[self.outcomes].astype(float).reindex(table.index)
            diff, baseline = DERIVED_SUFFIXES
            table = pd.concat([table, (table - base).add_suffix(diff),
                               base.add_suffix(baseline)], axis=1)
        return table.sort_index()

    def complete_replications(self, variant: str) -> pd.Index:
        """Replications finished in this variant and (for a difference) the baseline too."""
        reps = set(self.runs.loc[self.runs["variant"] == variant, "replication"])
        if variant != self.baseline:
            reps &= set(self.runs.loc[self.runs["variant"] == self.baseline, "replication"])
        return pd.Index(sorted(reps))
