"""An experiment's results as the explore tools read them: parameters and outcomes per run.

Each replication is one state of the world (one point of the ``uncertain:`` design). For a
variant, outcome ``x`` is its value, ``x_diff`` the paired difference from the baseline in the same
replication (same seed, same parameters), and ``x_baseline`` the baseline's value.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from srmsim.errors import DataError, SrmsimError
from srmsim.experiment.compare import load_runs
from srmsim.experiment.outcomes import DERIVED_SUFFIXES
from srmsim.inputs import input_file_problem
from srmsim.labels import agree

if TYPE_CHECKING:
    from srmsim.explore.design import DesignConfig


class Explored:
    """Runs, manifest and parameter draws of one results directory."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.runs, self.manifest = load_runs(self.path)
        params = self.path / "parameters.csv"
        if not self.manifest.get("uncertain"):
            raise SrmsimError(f"{self.path}: the experiment has no uncertain: parameters to "
                              "explore (add an uncertain: section and a design: to it)")
        if not params.exists():  # it said "no uncertain: parameters" of one that has them
            raise SrmsimError(f"{params}: missing, though the experiment has uncertain: "
                              "parameters (deleted or moved?); run the experiment again")
        where = self.path / "manifest.json"
        self.bounds, self.design = manifest_design(self.manifest, where)
        self.names = list(self.bounds)
        self.parameters = read_parameters(params, self.names)
        self.baseline: str = self.manifest["baseline"]
        self.outcomes: list[str] = list(self.manifest["outcomes"])
        if len(set(self.outcomes)) != len(self.outcomes):  # a table of each twice
            raise DataError(f"{where}: an outcome is listed twice (hand-edited or corrupt)")
        self.variants = sorted(set(self.runs["variant"]))
        # a run whose state of the world is not in parameters.csv met pandas' KeyError
        unknown = sorted(set(self.runs["replication"]) - set(self.parameters.index))
        if unknown:
            shown = ", ".join(map(str, unknown[:5])) + (", ..." if len(unknown) > 5 else "")
            raise DataError(f"{params}: no row for {agree(len(unknown), 'replication')} {shown},"
                            " which the experiment ran (hand-edited or corrupt)")
        check_draws(params, self.parameters, self.bounds, self.design,
                    self.manifest.get("root_seed"), self.manifest.get("versions"))

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


def manifest_design(manifest: dict, where: Path) -> tuple[dict[str, tuple[float, float]], dict]:
    """The manifest's uncertain ranges (finite, low < high, in sorted order) and design, checked:
    a hand-edited range or design met a TypeError, or SALib's reshape error, as a traceback."""
    from pydantic import ValidationError

    from srmsim.explore.design import ranges

    try:
        bounds = ranges(manifest["uncertain"])
    except SrmsimError as err:
        raise DataError(f"{where}: {err} (hand-edited or corrupt)") from None
    design = manifest.get("design") or {"method": "lhs"}
    try:
        if not isinstance(design, dict):
            raise TypeError(f"design is {type(design).__name__}, not a mapping")
        design_config(design)
    except (TypeError, ValidationError) as err:
        why = (err.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")
               if isinstance(err, ValidationError) else str(err))
        raise DataError(f"{where}: its design is not one srmsim wrote (hand-edited or corrupt; "
                        f"{why[:200]})") from None
    return bounds, design


def design_config(design: dict) -> DesignConfig:
    """The manifest's design as the experiment gave it (the manifest keeps every field,
    ``levels`` too when the method is not Morris's)."""
    from srmsim.explore.design import DesignConfig

    return DesignConfig.model_validate({k: v for k, v in design.items()
                                        if k != "levels" or design.get("method") == "morris"})


def check_draws(path: Path, parameters: pd.DataFrame, bounds: dict[str, tuple[float, float]],
                design: dict, seed: object, made_with: object = None) -> None:
    """The draws read are the design's points for the manifest's seed, in replication order
    (each is drawn from them alone, :func:`srmsim.explore.design.sample`). Why: the file is
    not hashed with the runs, and a parameters.csv copied from the same experiment with
    another seed (or a column reordered within its bounds) was analysed as the runs' own:
    `discover` named another parameter and region, exit 0."""
    from srmsim.explore.design import sample

    rows = len(parameters)
    if not isinstance(seed, int) or isinstance(seed, bool) or \
            list(parameters.index) != list(range(rows)):
        raise DataError(f"{path}: its replications are not 0 to {rows - 1}, or the manifest "
                        "has no seed to check them against (hand-edited or corrupt)")
    config = design_config(design)
    expected = sample(config, bounds, seed, rows if config.method == "lhs" else None)
    if expected.shape != parameters.shape or not np.array_equal(
            expected, parameters[list(bounds)].to_numpy()):
        from srmsim.store import versions

        now = versions()
        changed = [f"{lib} {made_with[lib]} then, {now[lib]} now" for lib in ("numpy", "scipy")
                   if isinstance(made_with, dict) and made_with.get(lib, now[lib]) != now[lib]]
        raise DataError(f"{path}: not the values the design and seed in manifest.json draw "
                        "(either file edited, or copied from another experiment"
                        + (f"; or drawn by other libraries: {', '.join(changed)}" if changed
                           else "") + "); run the experiment again")


def read_parameters(path: Path, names: list[str]) -> pd.DataFrame:
    """parameters.csv, one row of finite values per replication (its index), checked: a column
    missing or a replication listed twice (a hand-edited or damaged file) met pandas' KeyError
    or a mismatch of runs and outcomes, and text or a blank a PRIM error naming no file."""
    problem = input_file_problem(path)
    if problem:
        raise DataError(f"{path}: {problem}")
    try:
        table = pd.read_csv(path)
    except (ValueError, OSError) as err:  # pandas' parser errors are ValueErrors
        raise DataError(f"{path}: cannot be read as a table ({str(err)[:120]})") from None
    missing = [c for c in ["replication", *names] if c not in table.columns]
    if missing:
        raise DataError(f"{path}: no column {missing[0]!r} (columns: "
                        f"{', '.join(map(str, table.columns[:10]))})")
    reps = pd.to_numeric(table["replication"], errors="coerce")
    if reps.isna().any() or (reps != reps.round()).any() or reps.duplicated().any():
        raise DataError(f"{path}: the replication column must number each row once (0, 1, 2, "
                        "...)")
    values = table[names].apply(pd.to_numeric, errors="coerce").astype(float)
    bad = ~np.isfinite(values.to_numpy())
    if bad.any():
        row, col = np.argwhere(bad)[0]
        value = table[names[col]].iloc[row]
        shown = "blank" if pd.isna(value) else repr(value) if isinstance(value, str) else value
        raise DataError(f"{path}: parameter {names[col]!r} is not a finite number in "
                        f"replication {int(reps.iloc[row])} ({shown})")
    values.index = pd.Index(reps.astype(int), name="replication")
    return values.sort_index()

