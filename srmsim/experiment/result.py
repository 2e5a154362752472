"""An experiment's results as one object: runs, effects, subgroup effects, the trust's weeks.

>>> res = ExperimentResult.load("results/quickstart")      # doctest: +SKIP
>>> print(res)                    # what was run and the effects table, in units
>>> res.plot()                    # the forest plot
>>> res.report()                  # results/quickstart/report.html
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from srmsim.experiment.compare import (
    compare_frame,
    forest_plot,
    format_effects,
    load_checked,
    readable_effects,
    registry_of,
    variant_order,
)
from srmsim.experiment.outcomes import OUTCOMES, Outcome, get_outcome
from srmsim.labels import plural


@dataclass
class ExperimentResult:
    """Everything `srmsim experiment` stored in one results folder, read back."""

    path: Path
    runs: pd.DataFrame
    manifest: dict[str, Any]
    level: float = 0.95
    registry: dict[str, Outcome] = field(default_factory=dict)
    #: failure records of the runs that failed (left out of every number)
    failures: list[dict[str, Any]] = field(default_factory=list)
    _scenarios: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, path: str | Path, level: float = 0.95) -> ExperimentResult:
        # every variant's saved scenario is checked as it is read (load_checked): the report
        # read them (and refused an edited one) but compare, which does not describe the
        # variants, accepted it
        runs, manifest, failures, scenarios = load_checked(path)
        res = cls(Path(path), runs, manifest, level,
                  registry_of(manifest, Path(path) / "manifest.json"), failures, scenarios)
        if any(str(o).startswith("regret") for o in res.outcomes):
            from srmsim.experiment.learning import regret_outcomes

            # regret in the unit of its choosers' target (months of reading age), not bare
            res.registry = {**regret_outcomes(res.chooser_target()), **res.registry}
        return res

    # ------------------------------------------------------------------ what was run
    @property
    def name(self) -> str:
        return str(self.manifest.get("name", self.path.name))

    @property
    def baseline(self) -> str:
        return str(self.manifest["baseline"])

    @property
    def variants(self) -> list[str]:
        return variant_order(self.runs, self.manifest)

    @property
    def outcomes(self) -> list[str]:
        return list(self.manifest.get("outcomes") or [])

    def outcome(self, name: str) -> Outcome:
        return get_outcome(name, self.registry)

    @property
    def replications(self) -> int:
        return int(self.runs.groupby("variant")["replication"].nunique().min())

    def scenario(self, variant: str):
        """The resolved scenario a variant ran (saved in ``scenarios/<variant>.yaml``), or None
        for results of an older srmsim; checked against manifest.json
        (:meth:`srmsim.experiment.store.ResultsStore.saved_scenario`)."""
        from srmsim.experiment.store import ResultsStore

        if variant not in self._scenarios:
            self._scenarios[variant] = ResultsStore(self.path).saved_scenario(variant,
                                                                              self.manifest)
        return self._scenarios[variant]

    def chooser_target(self) -> str | None:
        """The effect every variant's chooser among candidate actions targets, whose unit regret
        is in (``reading``: months of reading age); None when they differ, none chooses, or a
        variant's saved scenario is missing or not the one it ran (then no unit is claimed)."""
        from srmsim.errors import SrmsimError
        from srmsim.policy.config import chooser_target

        try:
            scenarios = [self.scenario(v) for v in self.variants]
        except SrmsimError:  # the report refuses such a folder; a table only loses the unit
            return None
        if any(s is None for s in scenarios):  # results of an older srmsim
            return None
        return chooser_target(s.policy for s in scenarios)

    def oracle_variants(self) -> list[str]:
        """The variants whose every chooser is the oracle (their oracle match is 100% by
        construction); none when a saved scenario is missing or not the one it ran."""
        from srmsim.errors import SrmsimError
        from srmsim.policy.config import chooses_by_oracle

        try:
            scenarios = {v: self.scenario(v) for v in self.variants}
        except SrmsimError:
            return []
        return [v for v, s in scenarios.items() if s is not None and chooses_by_oracle(s.policy)]

    # ------------------------------------------------------------------ effects
    @cached_property
    def effects(self) -> pd.DataFrame:
        """Paired effects of each variant against the baseline (the rows of effects.csv)."""
        return self.withheld(compare_frame(self.runs, self.baseline, self.outcomes, self.level,
                                           self.registry, self.variants))

    @cached_property
    def from_records(self) -> bool:
        """Whether some variant's trust is built from real pupil records: the manifest names
        them, or a saved scenario does (either alone is believed)."""
        from srmsim.store import names_records

        if names_records(self.manifest):
            return True
        return any(s is not None and s.population.records
                   for s in (self.scenario(v) for v in self.variants))

    def _known_zero(self) -> frozenset[str]:
        """The variants without a policy: their 0 students served is known to everyone."""
        return frozenset(v for v in self.variants
                         if (s := self.scenario(v)) is not None and s.policy is None)

    def withheld(self, effects: pd.DataFrame) -> pd.DataFrame:
        """``effects`` as an experiment on real records may show them (small counts withheld:
        :mod:`srmsim.experiment.withhold`); unchanged for a simulated trust."""
        if not self.from_records:
            return effects
        from srmsim.experiment.withhold import GROUP_SHARES, withhold_effects

        detail = self._detail("groups") if set(GROUP_SHARES) & set(self.outcomes) else None
        return withhold_effects(effects, self.runs, self.registry, self._known_zero(),
                                definitions=self.manifest.get("outcome_definitions"),
                                detail=detail)

    def value_withheld(self, variant: str, outcome: str) -> bool:
        """Whether ``variant``'s mean of ``outcome`` is withheld as its effects rows are (a
        trust from real records: :func:`srmsim.experiment.withhold.small_test`); never for a
        simulated trust. Why: the report's resource table printed each variant's mean cost
        beside the effects that withheld it."""
        if not self.from_records:
            return False
        return self._small_test(variant, outcome)

    @cached_property
    def _small_test(self) -> Callable[[str, str], bool]:
        from srmsim.experiment.withhold import GROUP_SHARES, small_test

        detail = self._detail("groups") if set(GROUP_SHARES) & set(self.outcomes) else None
        return small_test(self.runs, self.registry, self._known_zero(), 10,
                          self.manifest.get("outcome_definitions"), detail)

    def compare(self, baseline: str | None = None) -> pd.DataFrame:
        """Paired effects against ``baseline`` (default: the experiment's own), withheld as
        :meth:`effects` is."""
        from srmsim.experiment.compare import compare_loaded

        if baseline is None or baseline == self.baseline:
            return self.effects
        return self.withheld(compare_loaded(self.runs, self.manifest, baseline))

    def _detail(self, kind: str) -> pd.DataFrame | None:
        from srmsim.experiment.store import ResultsStore

        return ResultsStore(self.path).load_detail(kind, self.runs)

    @cached_property
    def group_effects(self) -> pd.DataFrame | None:
        """Effects within FSM/SEN/EAL groups and each school (column ``group``), paired over
        replications like the trust-wide ones; None for results without per-run detail."""
        detail = self._detail("groups")
        if detail is None:
            return None
        frames = []
        # one pivot for every group, not one per group
        wide_all = detail.pivot_table(index=["group", "variant", "replication"],
                                      columns="outcome", values="value", aggfunc="first")
        groups = set(wide_all.index.get_level_values("group"))
        for group in detail["group"].unique():
            if group not in groups:
                continue
            wide = wide_all.xs(group, level="group").dropna(axis=1, how="all").reset_index()
            present = [o for o in self.outcomes if o in wide.columns]
            if self.baseline not in set(wide["variant"]) or not present:
                continue
            eff = compare_frame(wide, self.baseline, present, self.level, self.registry,
                                self.variants)
            eff.insert(0, "group", group)
            frames.append(eff)
        if not frames:
            return None
        out = pd.concat(frames, ignore_index=True)
        if self.from_records:
            from srmsim.experiment.withhold import WITHHELD, withhold_group_effects

            trust = self.effects
            hidden = frozenset(zip(trust.loc[trust["verdict"] == WITHHELD, "variant"],
                                   trust.loc[trust["verdict"] == WITHHELD, "outcome"],
                                   strict=True))
            out = withhold_group_effects(out, detail, self.baseline, self.registry,
                                         self._known_zero(), hidden,
                                         definitions=self.manifest.get("outcome_definitions"))
        return out

    @cached_property
    def weeks(self) -> pd.DataFrame | None:
        """The trust's weekly totals (queue, staff minutes, sessions), mean over replications
        per variant and run week; None for results without per-run detail."""
        detail = self._detail("weekly")
        if detail is None:
            return None
        cols = [c for c in detail.columns if c not in ("variant", "replication", "run_week")]
        return detail.groupby(["variant", "run_week"], sort=False)[cols].mean().reset_index()

    def students_per_run(self, variant: str) -> float | None:
        """The variant's mean number of students per run (None for results of an older srmsim
        that did not count them). Each run's count is a whole number >= 0: a run file edited to
        hold inf or NaN showed "inf" students and a cost of £0 per unit gained."""
        if "students" not in self.runs.columns:
            return None
        column = self.runs.loc[self.runs["variant"] == variant, "students"]
        counts = pd.to_numeric(column, errors="coerce").astype(float)
        bad = ~(np.isfinite(counts) & (counts >= 0) & (counts % 1 == 0))
        if bad.any():
            from srmsim.errors import SrmsimError

            raise SrmsimError(f"{self.path / 'runs' / variant}: a run's students count is "
                              f"{str(column[bad].iloc[0])[:40]!r}, not a whole number >= 0 "
                              "(hand-edited or corrupt); run the experiment into a new --out "
                              "directory")
        return float(counts.mean())

    # ------------------------------------------------------------------ showing it
    def summary(self) -> str:
        """What was run and the effects table, every number in its unit."""
        head = (f"experiment {self.name}: {plural(len(self.variants), 'variant')} x "
                f"{plural(self.replications, 'replication')}, baseline {self.baseline}, root seed "
                f"{self.manifest.get('root_seed')}")
        return head + "\n" + format_effects(self.effects, self.registry, self.level,
                                            self.manifest)

    def table(self) -> pd.DataFrame:
        """The effects table as a reader sees it (a DataFrame, for notebooks): headings in
        words, numbers in their units (:func:`~srmsim.experiment.compare.readable_effects`)."""
        return readable_effects(self.effects, self.registry, self.level)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (f"ExperimentResult({self.name!r}, variants={self.variants}, "
                f"replications={self.replications})")

    @cached_property
    def forest(self):
        """The forest plot as a matplotlib Figure, drawn once: forest.png and the report share
        it."""
        return forest_plot(self.effects, None, self.registry, level=self.level)

    @cached_property
    def forest_png(self) -> bytes:
        """The forest plot rendered once as PNG: forest.png and the report embed these bytes."""
        from srmsim.figures import png_bytes

        return png_bytes(self.forest)

    def plot(self, path: str | Path | None = None):
        """The forest plot (a matplotlib Figure; saved when ``path`` is given)."""
        from srmsim.figures import save

        save(self.forest, path)
        return self.forest

    def report(self, path: str | Path | None = None) -> Path:
        """Write the HTML report (default ``report.html`` in the results folder)."""
        from srmsim.report import write_report

        return write_report(self.path, path, result=self)


__all__ = ["ExperimentResult", "OUTCOMES"]
