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
(Kwakkel 2017). Quasi-p values (Bryant and Lempert 2010) test each restricted parameter: the
chance of the box's density if its limits were dropped (one-sided binomial; EMA Workbench drops
one limit at a time, which differs for a parameter limited at both ends).

A parameter given as a column of whole numbers (an integer or true/false column of ``x``: a
staff count, a number of weeks) has its limits shown as the whole numbers kept (``<= 2``, not
``<= 2.5``, which read as a fractional member of staff); the runs inside are the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from srmsim.errors import DataError, SrmsimError
from srmsim.labels import plural
from srmsim.stats import _checks as ck


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
    #: parameters that take whole numbers (integer or true/false columns of ``x``): their
    #: limits in ``limits`` and :meth:`box` are the whole numbers kept
    integers: list[str] = field(default_factory=list)
    #: the limits as PRIM placed them (midway between runs), which decide whether a parameter
    #: is restricted; ``limits`` is these with whole-number parameters' limits rounded inward
    raw_limits: list[pd.DataFrame] = field(default_factory=list)

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
        # restricted or not as PRIM placed the limits: a whole-number parameter's range given
        # as (-0.5, 6.5) is shown from 0, but a limit still at -0.5 restricts nothing
        raw = self.raw_limits[step] if len(self.raw_limits) == len(self.limits) else lim
        rows = []
        inside = self.members[step]
        cases = int(self.y[inside].sum())
        for j, name in enumerate(self.names):
            low, high = lim.loc["low", name], lim.loc["high", name]
            if (raw.loc["low", name] == self.initial.loc["low", name]
                    and raw.loc["high", name] == self.initial.loc["high", name]):
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


def check_runs(x: object, y: object, where: str) -> tuple[pd.DataFrame, np.ndarray]:
    """``x`` (one row of finite parameter values per run, distinct text column names) and ``y``
    (one true/false or 0/1 per run), checked: NaN read as a bool is True (a case), 2 counted as
    a case, a text column or a repeated name failed with numpy's or pandas' own errors."""
    frame = ck.require_frame(x, f"{where}: x")
    if frame.shape[1] == 0:
        raise DataError(f"{where}: x has no parameter columns")
    if frame.columns.has_duplicates or not all(isinstance(c, str) for c in frame.columns):
        raise DataError(f"{where}: x's columns must be distinct parameter names")
    frame = pd.DataFrame({c: ck.numeric_column(frame, c, f"{where}: parameter")
                          for c in frame.columns}, index=frame.index)
    values = frame.to_numpy()
    if not np.isfinite(values).all():
        row, col = np.argwhere(~np.isfinite(values))[0]
        raise DataError(f"{where}: parameter {frame.columns[col]!r} is missing or not finite "
                        f"in row {frame.index.tolist()[row]!r}")
    cases = np.asarray(y)
    if cases.ndim != 1 or len(cases) != len(frame):
        raise DataError(f"{where}: {plural(len(frame), 'run')} but y has shape {cases.shape}; "
                        "give one true/false per run")
    if cases.dtype != bool:
        if cases.dtype.kind not in "iuf" or not np.isin(cases, (0, 1)).all():
            raise DataError(f"{where}: y must be true/false (or 0/1) for each run")
        cases = cases.astype(bool)
    return frame, cases


def check_bounds(frame: pd.DataFrame, bounds: object, where: str) -> np.ndarray:
    """Each parameter's finite (low, high), low < high, holding every run: rows low and high,
    one column per parameter. A run outside its range was left out of the first box, so
    coverage and density were of fewer runs than given (none: a division by zero)."""
    if not isinstance(bounds, Mapping):
        raise DataError(f"{where}: bounds must map each parameter to (low, high), got "
                        f"{type(bounds).__name__}")
    limits = []
    for name in frame.columns:
        pair = bounds.get(name)
        if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
            raise DataError(f"{where}: bounds has no (low, high) for parameter {name!r}")
        low = ck.finite_number(pair[0], f"{where}: bounds[{name!r}] low")
        high = ck.finite_number(pair[1], f"{where}: bounds[{name!r}] high")
        if not low < high:
            raise DataError(f"{where}: bounds[{name!r}] = ({low:g}, {high:g}) must have "
                            "low < high")
        # a design's point at a bound may lie an ulp past it (SALib's Morris grid maps the
        # top level of (-0.8, -0.1) to -0.8 + 0.7000000000000001 = -0.09999999999999998)
        slack = 8 * np.finfo(float).eps * max(abs(low), abs(high))
        outside = ~frame[name].between(low - slack, high + slack).to_numpy()
        if outside.any():
            row = frame.index.tolist()[np.flatnonzero(outside)[0]]  # 0, not np.int64(0)
            raise DataError(f"{where}: parameter {name!r} is {frame.at[row, name]:g} in row "
                            f"{row!r}, outside its bounds ({low:g}, {high:g})")
        limits.append((low, high))
    return np.array(limits, dtype=float).T


def whole_number_columns(x: pd.DataFrame) -> list[str]:
    """The columns of ``x`` that hold whole numbers by type: integer or true/false (a float
    column is continuous even when its values happen to be whole, e.g. a Morris grid)."""
    return [c for c in x.columns if pd.api.types.is_integer_dtype(x[c].dtype)
            or pd.api.types.is_bool_dtype(x[c].dtype)]


def whole_limits(lim: np.ndarray, integer: np.ndarray) -> np.ndarray:
    """Limits as shown: those of a whole-number parameter rounded inward to the whole numbers
    kept (a low of 2.5 is 3, a high of 2.5 is 2). The parameter's values are whole, so
    ``x >= 2.5`` and ``x >= 3`` hold for the same runs: the box is the same."""
    shown = lim.copy()
    shown[0, integer] = np.ceil(lim[0, integer])
    shown[1, integer] = np.floor(lim[1, integer])
    return shown


def _in(x: np.ndarray, lim: np.ndarray) -> np.ndarray:
    return np.all((x >= lim[0]) & (x <= lim[1]), axis=1)


def _objective(y_old: np.ndarray, y_new: np.ndarray) -> float:
    """Gain in the share of cases per run removed (or added): EMA Workbench's lenient1, which
    for continuous parameters is Friedman and Fisher's criterion."""
    if len(y_new) == 0 or len(y_new) == len(y_old):
        return 0.0
    return (y_new.mean() - y_old.mean()) / abs(len(y_old) - len(y_new))


def _restricted(lim: np.ndarray, init: np.ndarray) -> int:
    return int(np.sum((lim[0] > init[0]) | (lim[1] < init[1])))


def _peel_cut(values: np.ndarray, alpha: float, side: int) -> tuple[np.ndarray, float] | None:
    """Runs kept and the new limit when the ``alpha`` share at one end of ``values`` is peeled.

    As EMA Workbench (after sdtoolkit): all runs at or beyond the ``alpha`` quantile's value go,
    ties with it included, and the limit lies midway between the last run peeled and the first
    kept. A peel that would leave nothing peels the runs strictly beyond instead; ``None`` when
    there is nothing to peel.
    """
    s = np.sort(values)
    if side == 0:
        cut = s[int(np.floor((len(s) - 1) * alpha))]
        keep = values > cut if (values > cut).any() else values >= cut
    else:
        cut = s[int(np.ceil((len(s) - 1) * (1 - alpha)))]
        keep = values < cut if (values < cut).any() else values <= cut
    if keep.all():
        return None
    gone, kept = values[~keep], values[keep]
    limit = _between(gone.max(), kept.min()) if side == 0 else _between(gone.min(), kept.max())
    return keep, limit


def _paste_limit(slab: np.ndarray, alpha: float, side: int) -> float:
    """The widened limit that pastes back the ``alpha`` share of the slab's runs nearest the box
    (at least one, with its ties), midway to the next run of the slab (EMA Workbench's rule)."""
    s = np.sort(slab)
    if side == 0:  # the slab lies below the box: paste from its top
        first = s[int(np.ceil((len(s) - 1) * (1 - alpha)))]
        below = s[s < first]
        return _between(below.max(), first) if len(below) else float(first)
    first = s[int(np.floor((len(s) - 1) * alpha))]
    above = s[s > first]
    return _between(above.min(), first) if len(above) else float(first)


def _between(outside: float, inside: float) -> float:
    """A limit midway between the nearest run left out and the nearest kept in; the kept run's
    own value when the two are too close for a float between them (the limit must still leave
    the one out and keep the other in)."""
    mid = (float(outside) + float(inside)) / 2
    return mid if min(outside, inside) < mid < max(outside, inside) else float(inside)


def check_options(peel_alpha: object, paste_alpha: object = 0.05, mass_min: object = 0.05,
                  options: bool = False) -> None:
    """PRIM's options: an SrmsimError, never a DataError (which callers read as a problem of
    the runs: `discover --peel-alpha nan` was blamed on the results folder). ``options``: named
    as the command's options (``--peel-alpha 0.7``), which `srmsim discover` checks before it
    reads the runs; from Python, as the arguments (``peel_alpha=0.7``)."""
    for name, value, top in (("peel_alpha", peel_alpha, 0.5), ("paste_alpha", paste_alpha, 0.5),
                             ("mass_min", mass_min, 1.0)):
        flag = "--" + name.replace("_", "-")
        try:
            number = ck.finite_number(value, flag if options else f"PRIM: {name}")
        except DataError as err:
            raise SrmsimError(str(err)) from None
        if not 0 < number < top:
            given = f"{flag} {value!r}" if options else f"PRIM: {name}={value!r}"
            raise SrmsimError(f"{given} must lie strictly between 0 and {top:g}")


def prim(x: pd.DataFrame, y: np.ndarray, peel_alpha: float = 0.05, paste_alpha: float = 0.05,
         mass_min: float = 0.05, bounds: dict[str, tuple[float, float]] | None = None
         ) -> PrimResult:
    """Peel and paste one box for the cases ``y`` (true/false or 0/1 per row of ``x``).

    ``bounds`` (each parameter's range, holding every run) is the first box; without it, the
    runs' own ranges. An integer (or true/false) column of ``x`` is a whole-number parameter:
    its limits are the whole numbers kept (:func:`whole_limits`). Ties between peels (or
    pastes) that score alike go to the one that leaves fewer parameters restricted, as in EMA
    Workbench.
    """
    frame, y = check_runs(x, y, "PRIM")
    integers = whole_number_columns(ck.require_frame(x, "PRIM: x"))
    check_options(peel_alpha, paste_alpha, mass_min)
    if not y.any():
        raise SrmsimError("the condition holds in none of the runs: nothing to discover")
    names = list(frame.columns)
    xv = frame.to_numpy(dtype=float)
    n, total = len(y), int(y.sum())
    if bounds is not None:
        init = check_bounds(frame, bounds, "PRIM")
        # a run an ulp past a bound (which check_bounds lets through) is at the bound: outside
        # the first box it left every box, and coverage and density, without it
        xv = np.clip(xv, init[0], init[1])
    else:
        init = np.vstack([xv.min(axis=0), xv.max(axis=0)])
    lim = init.copy()
    inside = _in(xv, lim)
    result = PrimResult(names, pd.DataFrame(init, index=["low", "high"], columns=names),
                        pd.DataFrame(), x=xv, y=y, integers=integers)
    integer = np.array([name in integers for name in names])
    rows: list[dict] = []

    def record(phase: str) -> None:
        cases = int(y[inside].sum())
        m = int(inside.sum())
        rows.append({"box": len(rows), "phase": phase, "coverage": cases / total,
                     "density": cases / m, "mass": m / n, "res_dim": _restricted(lim, init),
                     "runs": m, "cases": cases})
        result.raw_limits.append(pd.DataFrame(lim.copy(), index=["low", "high"], columns=names))
        result.limits.append(pd.DataFrame(whole_limits(lim, integer), index=["low", "high"],
                                          columns=names))
        result.members.append(inside.copy())

    record("start")
    while True:  # peeling
        step = _best_peel(xv, y, inside, lim, init, float(peel_alpha))
        if step is None or step[0] <= 0 or step[2].sum() / n < mass_min:
            break
        lim, inside = step[1], step[2]
        record("peel")
    while True:  # pasting: widen a restricted limit where that raises the density
        step = _best_paste(xv, y, inside, lim, init, float(paste_alpha))
        if step is None:
            break
        lim, inside = step[1], step[2]
        record("paste")
    result.trajectory = pd.DataFrame(rows)
    return result


Step = tuple[float, np.ndarray, np.ndarray]  # score, limits, runs inside


def _better(new: Step, new_restricted: int, best: tuple[Step, int] | None) -> bool:
    """Higher score wins; on a tie, fewer restricted parameters (EMA Workbench's order)."""
    return best is None or (new[0], -new_restricted) > (best[0][0], -best[1])


def _best_peel(xv: np.ndarray, y: np.ndarray, inside: np.ndarray, lim: np.ndarray,
               init: np.ndarray, alpha: float) -> Step | None:
    """The peel that raises the density most per run removed (``None``: no run can go)."""
    best: tuple[Step, int] | None = None
    idx = np.flatnonzero(inside)
    for j in range(xv.shape[1]):
        for side in (1, 0):  # upper first, as EMA Workbench lists them
            cut = _peel_cut(xv[idx, j], alpha, side)
            if cut is None:
                continue
            keep, value = cut
            new = lim.copy()
            new[side, j] = value
            members = np.zeros_like(inside)
            members[idx[keep]] = True
            step = (_objective(y[idx], y[idx[keep]]), new, members)
            if _better(step, _restricted(new, init), best):
                best = (step, _restricted(new, init))
    return None if best is None else best[0]


def _best_paste(xv: np.ndarray, y: np.ndarray, inside: np.ndarray, lim: np.ndarray,
                init: np.ndarray, alpha: float) -> Step | None:
    """The widening of a restricted limit that raises the density most per run added
    (``None``: none raises it)."""
    best: tuple[Step, int] | None = None
    for j in range(xv.shape[1]):
        for side in (0, 1):  # lower first, as EMA Workbench lists them
            if lim[side, j] == init[side, j]:
                continue
            slab = lim.copy()
            slab[:, j] = (init[0, j], lim[0, j]) if side == 0 else (lim[1, j], init[1, j])
            outside = xv[_in(xv, slab) & ~inside, j]
            new = lim.copy()
            new[side, j] = _paste_limit(outside, alpha, side) if len(outside) else init[side, j]
            members = _in(xv, new)
            if members.sum() <= inside.sum():
                continue
            step = (_objective(y[inside], y[members]), new, members)
            if step[0] > 0 and _better(step, _restricted(new, init), best):
                best = (step, _restricted(new, init))
    return None if best is None else best[0]
