"""Sampling designs for an experiment's ``uncertain:`` parameters.

``lhs`` (the default) is a Latin hypercube, one point per replication. ``sobol`` is Saltelli's
design as extended by Sobol' sequences (SALib): ``n * (d + 2)`` points, or ``n * (2d + 2)`` with
``second_order``, from which first-order and total Sobol indices are estimated. ``morris`` is
Morris's elementary-effects design: ``n`` trajectories of ``d + 1`` points on a ``levels``-level
grid. With ``sobol`` and ``morris`` the design fixes the number of runs per variant, so
``replications:`` and ``sequential:`` do not apply.

``seeds``: with ``common`` every design point runs with the same random numbers (the first
replication seed), so an outcome is a function of the parameters alone and run-to-run noise does
not inflate every total index; with ``distinct`` each point has its own seed (as ``lhs`` does).
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator

from srmsim.errors import SrmsimError
from srmsim.labels import StrictModel

#: runs of one study at most (variants x runs per variant; candidates x replications): each run
#: is a stored file, and 2,000 variants x 100,000 replications planned 2e8 of them before the
#: first ran
MAX_RUNS = 1_000_000


def points_in_words(runs: str, method: str, common_seed: bool) -> str:
    """``runs`` (a count, or ``2 to 3``) of one variant of a Sobol or Morris design as what
    they are, the design's points (not replications: common seeds, dependent points; a reader
    was told "48 replications" and then that they were not)."""
    seeds = "one seed" if common_seed else "a seed each"
    return f"{runs} points of a {method.capitalize()} design ({seeds})"


class DesignConfig(StrictModel):
    method: Literal["lhs", "sobol", "morris"] = "lhs"
    n: Annotated[int, Field(ge=2, le=65_536)] | None = Field(
        None, description="sobol: base sample size (a power of 2); morris: trajectories")
    second_order: bool = False
    levels: Annotated[int, Field(ge=2, le=100)] = 4
    seeds: Literal["common", "distinct"] | None = None

    @model_validator(mode="after")
    def _check(self) -> DesignConfig:
        if self.method != "morris" and "levels" in self.model_fields_set:
            raise ValueError(f"levels is only used by method morris (not {self.method})")
        if self.method == "morris" and self.second_order:
            raise ValueError("second_order is only used by method sobol (not morris)")
        if self.method == "lhs":
            if self.n is not None or self.second_order or self.seeds == "common":
                raise ValueError("lhs draws one point per replication: set replications, not n, "
                                 "second_order or seeds: common")
            return self
        if self.n is None:
            raise ValueError(f"{self.method} needs n (e.g. n: 64)")
        if self.method == "sobol" and self.n & (self.n - 1):
            raise ValueError(f"sobol needs n to be a power of 2 (got {self.n})")
        if self.method == "morris" and self.levels % 2:
            raise ValueError(f"morris needs an even number of levels (got {self.levels})")
        return self

    @property
    def fixed_size(self) -> bool:
        """True when the design, not ``replications``, sets the number of runs per variant."""
        return self.method != "lhs"

    @property
    def common_seed(self) -> bool:
        return self.fixed_size and (self.seeds or "common") == "common"

    def runs_in_words(self, runs: str) -> str:
        """:func:`points_in_words` of this (Sobol or Morris) design."""
        return points_in_words(runs, self.method, self.common_seed)

    def size(self, d: int) -> int:
        if self.n is None:  # _check: only lhs has no n
            raise ValueError("an lhs design has as many points as replications")
        if self.method == "sobol":
            return self.n * ((2 * d + 2) if self.second_order else (d + 2))
        if self.method == "morris":
            return self.n * (d + 1)
        raise ValueError("an lhs design has as many points as replications")


def ranges(uncertain: object) -> dict[str, tuple[float, float]]:
    """Each uncertain parameter's finite (low, high), low < high, in sorted order. An experiment
    file is checked on loading; called directly, an empty mapping or a reversed range met numpy's
    or SALib's own errors ("zero-size array", "Bounds are not legal")."""
    from srmsim.stats._checks import finite_number

    if not isinstance(uncertain, dict) or not uncertain:
        raise SrmsimError("uncertain must map at least one parameter name to (low, high)")
    out = {}
    for key in sorted(uncertain, key=str):
        pair = uncertain[key]
        if not isinstance(key, str) or isinstance(pair, str) or not isinstance(
                pair, tuple | list) or len(pair) != 2:
            raise SrmsimError(f"uncertain[{key!r}] must be a (low, high) pair, got {pair!r}")
        low = finite_number(pair[0], f"uncertain[{key!r}] low")
        high = finite_number(pair[1], f"uncertain[{key!r}] high")
        if not low < high:
            raise SrmsimError(f"uncertain[{key!r}] = ({low:g}, {high:g}) must have low < high")
        out[key] = (low, high)
    return out


def problem(uncertain: dict[str, tuple[float, float]]) -> dict:
    """SALib's problem description; parameters in sorted order, as every design uses."""
    checked = ranges(uncertain)
    return {"num_vars": len(checked), "names": list(checked),
            "bounds": [list(pair) for pair in checked.values()]}


def sample(design: DesignConfig, uncertain: dict[str, tuple[float, float]], seed: int,
           n: int | None = None) -> np.ndarray:
    """The design's points, one row per run, columns in sorted parameter order."""
    from scipy.stats import qmc

    from srmsim.stats._checks import whole_number

    uncertain = ranges(uncertain)
    keys = list(uncertain)
    if design.method == "lhs":
        # an lhs point per run: n=10**12 asked numpy for 7 TB
        n = whole_number(n, "n (the number of lhs points)", 1, MAX_RUNS)
        sampler = qmc.LatinHypercube(d=len(keys), seed=np.random.default_rng(seed))
        lows = np.array([uncertain[k][0] for k in keys])
        highs = np.array([uncertain[k][1] for k in keys])
        return qmc.scale(sampler.random(n), lows, highs)
    from srmsim.explore import require

    prob = problem(uncertain)
    if design.method == "sobol":
        sobol = require("SALib.sample.sobol")
        return sobol.sample(prob, design.n, calc_second_order=design.second_order, seed=seed)
    morris = require("SALib.sample.morris")
    return morris.sample(prob, design.n, num_levels=design.levels, seed=seed)
