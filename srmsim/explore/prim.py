"""PRIM, the patient rule induction method (Friedman and Fisher 1999), for scenario discovery.

Given the uncertain parameters of each run (``x``) and whether a condition held in it (``y``, true
for a "case of interest"), PRIM finds a box of parameter ranges inside which the condition mostly
holds. Starting from the whole space it peels, step by step, the ``peel_alpha`` share of the
points at the low or high end of one parameter, choosing the peel that raises the share of cases
in the box the most per point removed (EMA Workbench's default "lenient1" objective), until no peel
helps or the box would hold less than ``mass_min`` of the runs; then it pastes back (widens a
limit by ``paste_alpha``) where that raises the share further. Every box on the way is kept: the
peeling trajectory trades coverage (share of all cases that fall in the box) against density
(share of the box's runs that are cases), as in Bryant and Lempert (2010) and EMA Workbench
(Kwakkel 2017). Quasi-p values (Bryant and Lempert 2010) test each limit: the chance of the box's
density if that limit were dropped (one-sided binomial).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from srmsim.errors import SrmsimError


@dataclass
class PrimResult:
    """The peeling trajectory and the limits of every box on it."""

    names: list[str]
    initial: pd.DataFrame  # rows low/high, one column per parameter
    trajectory: pd.DataFrame  # step, phase, coverage, density, mass, res_dim, n, cases
    limits: list[pd.DataFrame] = field(default_factory=list)
    members: list[np.ndarray] = field(default_factory=list)
    x: np.ndarray | None = None
    y: np.ndarray | None = None

    def box(self, step: int | None = None) -> pd.DataFrame:
        """Limits of a box on the trajectory (default: the last), restricted parameters only,
        with quasi-p values."""
        if self.x is None or self.y is None:
            raise SrmsimError("this PrimResult has no runs (x and y): make it with prim()")
        step = len(self.limits) - 1 if step is None else step
        if not 0 <= step < len(self.limits):
            raise SrmsimError(f"the peeling trajectory has boxes 0 to {len(self.limits) - 1}; "
                              f"no box {step}")
        lim = self.limits[step]
        rows = []
        inside = self.members[step]
        cases = int(self.y[inside].sum())
        for j, name in enumerate(self.names):
            low, high = lim.loc["low", name], lim.loc["high", name]
            if low == self.initial.loc["low", name] and high == self.initial.loc["high", name]:
                continue
            others = np.ones(len(self.y), dtype=bool)
            for k, other in enumerate(self.names):
                if k != j:
                    others &= (self.x[:, k] >= lim.loc["low", other]) & (
                        self.x[:, k] <= lim.loc["high", other])
            p0 = float(self.y[others].mean())
            # p0 == 1: the limit is redundant (the box is as dense without it)
            qp = float(stats.binomtest(cases, int(inside.sum()), p0, alternative="greater").pvalue
                       ) if p0 < 1 else 1.0
            rows.append({"parameter": name, "low": low, "high": high,
                         "range_low": self.initial.loc["low", name],
                         "range_high": self.initial.loc["high", name], "quasi_p": qp})
        return pd.DataFrame(rows, columns=["parameter", "low", "high", "range_low", "range_high",
                                           "quasi_p"])


def _in(x: np.ndarray, lim: np.ndarray) -> np.ndarray:
    return np.all((x >= lim[0]) & (x <= lim[1]), axis=1)


def _objective(y_old: np.ndarray, y_new: np.ndarray) -> float:
    """Gain in the share of cases per run removed (or added): EMA Workbench's lenient1, which
    for continuous parameters is Friedman and Fisher's criterion."""
    if len(y_new) == 0 or len(y_new) == len(y_old):
        return 0.0
    return (y_new.mean() - y_old.mean()) / abs(len(y_old) - len(y_new))


def prim(x: pd.DataFrame, y: np.ndarray, peel_alpha: float = 0.05, paste_alpha: float = 0.05,
         mass_min: float = 0.05, bounds: dict[str, tuple[float, float]] | None = None
         ) -> PrimResult:
    """Peel and paste one box for the cases ``y`` (bool per row of ``x``)."""
    y = np.asarray(y, dtype=bool)
    if len(y) != len(x):
        raise SrmsimError(f"PRIM: {len(x)} runs but {len(y)} outcomes")
    if not 0 < peel_alpha < 0.5 or not 0 < paste_alpha < 0.5 or not 0 < mass_min < 1:
        raise SrmsimError("PRIM: peel_alpha and paste_alpha must be in (0, 0.5), mass_min in (0, 1)")
    if not y.any():
        raise SrmsimError("the condition holds in none of the runs: nothing to discover")
    names = list(x.columns)
    xv = x.to_numpy(dtype=float)
    if not np.isfinite(xv).all():
        raise SrmsimError("PRIM: parameter values must be finite")
    n, total = len(y), int(y.sum())
    init = np.array([[bounds[k][0] for k in names], [bounds[k][1] for k in names]], float) if bounds \
        else np.vstack([xv.min(axis=0), xv.max(axis=0)])
    lim = init.copy()
    inside = _in(xv, lim)
    result = PrimResult(names, pd.DataFrame(init, index=["low", "high"], columns=names),
                        pd.DataFrame(), x=xv, y=y)
    rows: list[dict] = []

    def record(phase: str) -> None:
        cases = int(y[inside].sum())
        m = int(inside.sum())
        res = int(np.sum((lim[0] > init[0]) | (lim[1] < init[1])))
        rows.append({"box": len(rows), "phase": phase, "coverage": cases / total,
                     "density": cases / m, "mass": m / n, "res_dim": res, "runs": m,
                     "cases": cases})
        result.limits.append(pd.DataFrame(lim.copy(), index=["low", "high"], columns=names))
        result.members.append(inside.copy())

    record("start")
    while True:  # peeling
        best = None
        xin, yin = xv[inside], y[inside]
        for j in range(len(names)):
            lo = np.quantile(xin[:, j], peel_alpha, method="lower")
            hi = np.quantile(xin[:, j], 1 - peel_alpha, method="higher")
            for side, value, keep in ((0, lo, xin[:, j] >= lo), (1, hi, xin[:, j] <= hi)):
                if keep.all():  # ties: this peel would remove nothing
                    keep = xin[:, j] > lo if side == 0 else xin[:, j] < hi
                    if not keep.any():
                        continue
                    value = xin[keep, j].min() if side == 0 else xin[keep, j].max()
                score = _objective(yin, yin[keep])
                restricted = int(np.sum((lim[0] > init[0]) | (lim[1] < init[1])))
                key = (score, -restricted)
                if best is None or key > best[0]:
                    best = (key, j, side, value, keep.sum())
        if best is None:
            break
        (score, _), j, side, value, kept = best
        if score <= 0 or kept / n < mass_min:
            break
        lim[side, j] = value
        inside = _in(xv, lim)
        record("peel")
    while True:  # pasting: widen a restricted limit where that raises the density
        wider = None
        for j in range(len(names)):
            for side in (0, 1):
                if lim[side, j] == init[side, j]:
                    continue
                slab = lim.copy()
                slab[:, j] = (init[0, j], lim[0, j]) if side == 0 else (lim[1, j], init[1, j])
                cand = xv[_in(xv, slab) & ~inside, j]
                if len(cand) == 0:
                    value = init[side, j]
                else:
                    value = np.quantile(cand, 1 - paste_alpha if side == 0 else paste_alpha,
                                        method="lower" if side == 0 else "higher")
                new = lim.copy()
                new[side, j] = value
                new_in = _in(xv, new)
                if new_in.sum() <= inside.sum():
                    continue
                score = _objective(y[inside], y[new_in])
                if score > 0 and (wider is None or score > wider[0]):
                    wider = (score, new, new_in)
        if wider is None:
            break
        lim, inside = wider[1], wider[2]
        record("paste")
    result.trajectory = pd.DataFrame(rows)
    return result
