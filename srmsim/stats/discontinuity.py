"""Sharp regression discontinuity at a risk threshold (local linear, data-driven bandwidth).

Why RDD: a rule such as "attendance below 90% triggers a mentor" assigns the intervention by a
threshold on a running variable, so students just either side are comparable and the jump in
the outcome at the threshold is the effect there - with no randomisation.

Estimator: weighted least squares of the outcome on (1, side, x - c, side * (x - c)) within the
bandwidth h, kernel weights K((x - c) / h) (triangular by default). The effect is the limit on
the treated side minus the limit on the untreated side. Standard errors: HC2, or CR2 cluster-
robust when ``cluster`` is given (students in a school share shocks), each with t intervals on
the jump's Bell-McCaffrey df, which a side with few rows or clusters brings down (HC1 with n - k
df covered 61% with 5 rows on one side).

Bandwidth (``bandwidth=None``): Imbens & Kalyanaraman (2012, REStud, section 4.2) MSE-optimal
rule for local linear regression: pilot h1 = 1.84 S_X N^(-1/5) for the density and conditional
variances each side, a global cubic (with a jump) between the medians of x each side for the third
derivative, pilot bandwidths h2 for second derivatives each side, the regularisation terms
r = 2160 sigma^2 / (N_2 h2^4), and h = C_K ((s2_- + s2_+) / (f(c) ((m2_+ - m2_-)^2 + r_+ + r_-)))^(1/5)
N^(-1/5) with C_K = 3.4375 (triangular), 2.7019 (uniform), 3.1999 (Epanechnikov). Unlike R's
``rdd::IKbandwidth`` m3^2 has no floor (0.01 is in the units of y / x^3, so the bandwidth then
depended on the running variable's units): every step is in x's units, so rescaling x by c scales
h by c, shifting x and the cutoff changes nothing, and rescaling y leaves h unchanged. A pilot h2
wider than the data on its side is cut to the farthest row there (the same rows are used, and r,
the variance of that fit's curvature, must be the variance of the fit made).

Because an MSE-optimal h leaves bias of the same order as the SE, the result also gives a robust
bias-corrected interval (Calonico, Cattaneo & Titiunik 2014) with pilot bandwidth equal to h
(rho = 1), for which the bias-corrected estimate and its robust SE are the local-quadratic ones.

Convention: a student exactly at the cutoff belongs to the "above" side. For a rule written
``x <= c`` with treated_side="below", pass the next value above c as the cutoff.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from srmsim.errors import DataError, EstimationError, SrmsimError
from srmsim.figures import new_figure, save
from srmsim.labels import agree, given_percent, plural

from . import _checks as ck
from ._inference import cluster_sandwich, cr2_sandwich, wald

KERNEL_CONSTANTS = {"triangular": 3.4375, "uniform": 2.7019, "epanechnikov": 3.1999}
_MIN_SIDE = 5
_MAX_BINS = 1000  # per side of a binned scatter
_LARGEST_SPAN = 1e50  # |x - c| beyond this overflows x**3 sums in the IK rule


def _kernel(u: np.ndarray, kernel: str) -> np.ndarray:
    """K(u) on the closed window |u| <= 1, as rdrobust weighs: with a whole-number running
    variable (a test score, days absent) and a whole-number bandwidth, the uniform kernel keeps
    the rows exactly h from the cutoff (the other kernels give them weight 0)."""
    a = np.abs(u)
    if kernel == "triangular":
        w = 1 - a
    elif kernel == "uniform":
        w = np.full_like(a, 0.5)
    else:
        w = 0.75 * (1 - a**2)
    return np.where(a <= 1, w, 0.0)


def _column_norms(X: np.ndarray) -> np.ndarray:
    norms = np.sqrt((X**2).sum(axis=0))
    norms[norms == 0] = 1.0
    return norms


def _full_rank(X: np.ndarray) -> bool:
    """Rank of the design with columns scaled to unit length (x**3 on a wide scale is not a
    reason to call it singular; two distinct x values under a quadratic is)."""
    return int(np.linalg.matrix_rank(X / _column_norms(X))) == X.shape[1]


def _lstsq(X: np.ndarray, y: np.ndarray, singular: str) -> np.ndarray:
    """Least squares that refuses a singular design (lstsq would return its minimum-norm answer,
    an arbitrary number); ``singular`` says which fit and what to do. Solved on unit-length
    columns: x**3 in days beside 1 lost digits that x**3 in years kept (units must not matter)."""
    with np.errstate(all="ignore"):
        if not np.all(np.isfinite(X)):
            raise EstimationError("local polynomial terms overflow: rescale the running variable")
        try:
            if not _full_rank(X):
                raise EstimationError(singular)
            norms = _column_norms(X)
            return np.linalg.lstsq(X / norms, y, rcond=None)[0] / norms
        except np.linalg.LinAlgError:
            raise EstimationError("local polynomial fit failed (singular or overflowing "
                                  "terms): rescale the running variable") from None


def _as_cutoff(cutoff: object) -> float:
    """rdd, rdd_plot and ik_bandwidth read a cutoff alike: a finite number (text refused, as
    every number of the statistics functions)."""
    return ck.finite_number(cutoff, "cutoff")


def _as_bandwidth(bandwidth: object) -> float:
    h = ck.finite_number(bandwidth, "bandwidth")
    if not h > 0:
        raise SrmsimError(f"bandwidth must be a positive number, got {bandwidth!r}")
    return h


def _distinct(x: np.ndarray) -> int:
    return int(np.unique(x).size)


def _check_xy(x: np.ndarray, y: np.ndarray, cutoff: float) -> None:
    """Name the real cause before any count-based check: NaN, a constant outcome, a bad cutoff."""
    if x.shape != y.shape or x.ndim != 1:
        raise DataError(
            f"running variable and outcome must be 1-d and of equal length, got shapes "
            f"{x.shape} and {y.shape}"
        )
    if not math.isfinite(cutoff):
        raise SrmsimError(f"cutoff must be a finite number, got {cutoff!r}")
    for values, role in ((x, "running variable"), (y, "outcome")):
        bad = ~np.isfinite(values)
        if bad.any():
            first = ", ".join(str(i) for i in np.flatnonzero(bad)[:5])
            raise DataError(
                f"{role} has {plural(bad.sum(), 'missing or non-finite value')} "
                f"({agree(int(bad.sum()), 'position')} {first}"
                f"{', ...' if bad.sum() > 5 else ''}); drop those rows first, or call rdd(), "
                "which drops and reports them"
            )
    span = float(np.abs(x - cutoff).max()) if x.size else 0.0
    if span > _LARGEST_SPAN:
        raise DataError(
            f"running variable lies up to {span:.3g} from the cutoff (beyond {_LARGEST_SPAN:g} "
            "its powers in the bandwidth rule overflow); rescale it (e.g. to days or percentage "
            "points)"
        )
    top = float(np.abs(y).max()) if y.size else 0.0
    if top > ck.LARGEST_VALUE:  # as rdd() refuses it: y**2 overflowed and the IK rule blamed
        raise DataError(  # "a strongly curved global cubic"
            f"outcome reaches {top:.3g} (beyond +-{ck.LARGEST_VALUE:g} its squares overflow); "
            "rescale it")
    if y.size and np.ptp(y) == 0:
        raise DataError(
            f"outcome is constant (every value is {y[0]:g}): there is no jump to estimate and the "
            "bandwidth, which scales with the outcome's variance, is undefined"
        )


def ik_bandwidth(x: np.ndarray, y: np.ndarray, cutoff: float, kernel: str = "triangular") -> float:
    """Imbens-Kalyanaraman (2012) MSE-optimal bandwidth for local linear RD (see module doc)."""
    ck.check_choice(kernel, tuple(KERNEL_CONSTANTS), "kernel")
    cutoff = _as_cutoff(cutoff)
    try:
        x, y = np.asarray(x, float), np.asarray(y, float)
    except (TypeError, ValueError):
        raise DataError("running variable and outcome must be arrays of numbers") from None
    _check_xy(x, y, cutoff)
    y = y - float(np.mean(y))  # its level is no part of the rule (variances, curvatures)
    N = x.size
    left, right = x < cutoff, x >= cutoff
    n_l, n_r = int(left.sum()), int(right.sum())
    if min(n_l, n_r) < 2 * _MIN_SIDE:
        raise EstimationError(
            f"too few observations for a bandwidth: {n_l} below and {n_r} above the cutoff"
        )
    h1 = 1.84 * x.std(ddof=1) * N ** (-1 / 5)
    in_l = left & (x >= cutoff - h1)
    in_r = right & (x <= cutoff + h1)
    if in_l.sum() < 2 or in_r.sum() < 2:
        raise EstimationError("too few observations near the cutoff to estimate the bandwidth")
    s2_l = y[in_l].var(ddof=1)
    s2_r = y[in_r].var(ddof=1)
    if s2_l + s2_r == 0:
        raise EstimationError(
            f"the outcome does not vary within the pilot bandwidth {h1:.4g} of the cutoff (both "
            "sides constant): the IK bandwidth is undefined; give bandwidth= explicitly"
        )
    f_c = (in_l.sum() + in_r.sum()) / (2 * N * h1)
    med_l, med_r = np.median(x[left]), np.median(x[right])
    mid = (x >= med_l) & (x <= med_r)
    xc = x[mid] - cutoff
    X3 = np.column_stack([np.ones(xc.size), (x[mid] >= cutoff), xc, xc**2, xc**3])
    m3 = 6 * _lstsq(X3, y[mid], (
        f"IK bandwidth: the running variable takes only {_distinct(x[mid])} distinct values "
        "between the medians of the two sides, too few for the IK rule's global cubic: give "
        "bandwidth= explicitly"))[4]
    # IK eq. (15) as published: no floor on m3^2. R's rdd floors it at 0.01, a constant in the
    # units of y / x^3, so rescaling x (days vs years) changed the bandwidth by more than the
    # scale. A pilot window wider than the data on its side holds the same rows as one reaching
    # the farthest of them, so h2 is that reach at most: the regularisation r below, the variance
    # of the curvature estimate, is then that of the fit actually made instead of shrinking
    # towards 0 as m3 -> 0 (a straight line each side gave h = 1135 on x in [-1, 1]).
    reach_l, reach_r = cutoff - float(x[left].min()), float(x[right].max()) - cutoff
    with np.errstate(divide="ignore", over="ignore"):  # m3^2 -> 0 gives h2 = inf, then reach
        h2_l, h2_r = (min(3.56 * (s2 / (f_c * m3**2)) ** (1 / 7) * n ** (-1 / 7), reach)
                      for s2, n, reach in ((s2_l, n_l, reach_l), (s2_r, n_r, reach_r)))

    def second_derivative(side: np.ndarray, lo: float, hi: float) -> tuple[float, int]:
        sel = side & (x >= lo) & (x <= hi)
        if sel.sum() < 4:
            raise EstimationError(
                f"IK bandwidth: only {plural(sel.sum(), 'observation')} on one side within the "
                "rule's pilot window for the curvature (the data's global cubic is strongly "
                "curved); a local quadratic needs at least 4: give bandwidth= explicitly")
        d = x[sel] - cutoff
        coef = _lstsq(np.column_stack([np.ones(d.size), d, d**2]), y[sel], (
            f"IK bandwidth: the running variable takes only "
            f"{plural(_distinct(d), 'distinct value')} on "
            "one side within the IK rule's pilot bandwidth; its local quadratic needs at least 3: "
            "give bandwidth= explicitly"))
        return 2 * coef[2], int(sel.sum())

    m2_l, n2_l = second_derivative(left, cutoff - h2_l, cutoff)
    m2_r, n2_r = second_derivative(right, cutoff, cutoff + h2_r)
    r_l = 2160 * s2_l / (n2_l * h2_l**4)
    r_r = 2160 * s2_r / (n2_r * h2_r**4)
    h = KERNEL_CONSTANTS[kernel] * (
        (s2_l + s2_r) / (f_c * ((m2_r - m2_l) ** 2 + r_l + r_r))
    ) ** (1 / 5) * N ** (-1 / 5)
    return float(h)


def _require_distinct_sides(xc: np.ndarray, order: int, running: str, h: float) -> None:
    """A polynomial of order p each side needs p + 1 distinct x values there: a discrete running
    variable with fewer makes the fit singular (it once gave a robust estimate with SE 5e6, or a
    negative variance)."""
    fit = "local linear fit" if order == 1 else "local quadratic (robust bias-corrected) fit"
    for name, side in (("below", xc < 0), ("at or above", xc >= 0)):
        k = _distinct(xc[side])
        if k < order + 1:
            raise EstimationError(
                f"running variable {running!r} takes only {plural(k, 'distinct value')} {name} the "
                f"cutoff within the bandwidth {h:.4g}; a {fit} needs at least {order + 1} "
                "(widen the bandwidth)"
            )


def _local_fit(
    xc: np.ndarray, y: np.ndarray, treated: np.ndarray, w: np.ndarray, codes: np.ndarray, order: int
) -> tuple[float, float, float]:
    """Jump (treated minus untreated limit), its CR2 SE and Bell-McCaffrey df from a weighted
    local polynomial (``codes``: clusters, or one per row: HC2).

    Why CR2 and not CR1/HC1 with n - k or G - 1 df: the jump is the difference of two
    intercepts, each fitted to its own side only, so a side with few rows (or few clusters)
    sets its variance while n - k counted every row. HC1's 95% interval covered 61% with 5 rows
    above the cutoff and 300 below, 78% with 10, 92% with 30 each side (robust interval 50%,
    68%, 88%); CR2 with each coefficient's Bell-McCaffrey df covered 96-98% and 95%, and
    clustered (20 schools, 8 rows above) 98% where CR1 with G - 1 covered 73%. Kernel weights
    enter as in a weighted regression (the fit on sqrt(w) X, sqrt(w) y), as clubSandwich treats
    a weighted lm.
    """
    fit = "local linear fit" if order == 1 else "local quadratic (robust bias-corrected) fit"
    cols = [np.ones(xc.size), treated]
    for p in range(1, order + 1):
        cols += [xc**p, treated * xc**p]
    X = np.column_stack(cols)
    sw = np.sqrt(w)
    # the outcome's level is the intercept's, not the jump's: taken out first, so an outcome
    # of 1e9 + y (or in pence beside a small effect) does not cost the normal equations their
    # digits (the jump moved by 5e-6 and its SE by 8e-7 of itself; the residuals are the same)
    y = y - float(np.mean(y))
    Xw, yw = X * sw[:, None], y * sw
    if not _full_rank(Xw):
        raise EstimationError(f"rdd: the {fit} is singular (too few distinct running-variable "
                              "values within the bandwidth): widen the bandwidth")
    bread = np.linalg.inv(Xw.T @ Xw)
    beta = bread @ (Xw.T @ yw)
    resid = y - X @ beta
    ck.require_residual_variation(resid, y, f"rdd ({fit} within the bandwidth)")
    V, dof = cr2_sandwich(Xw, resid * sw, codes, [1])
    var, df = float(V[1, 1]), float(dof[1])
    clustered = codes.max() + 1 < codes.size
    if clustered:  # the clusters' scores can cancel (one cluster each side)
        rows = cluster_sandwich(X * w[:, None], resid, np.arange(codes.size), bread, X.shape[1])
        ck.require_informative_se(np.array([math.sqrt(max(var, 0.0))]),
                                  np.array([math.sqrt(rows[1, 1])]), ["jump"],
                                  "cluster-robust (CR2)", f"rdd ({fit})")
    if not (math.isfinite(var) and var > 0 and math.isfinite(df) and df > 0):
        raise EstimationError(f"rdd: the {fit} gives no usable variance for the jump (variance "
                              f"{var:.3g}, Bell-McCaffrey df {df:.3g})")
    return float(beta[1]), math.sqrt(var), df


def _refuse_lone_side_cluster(xs: np.ndarray, codes: np.ndarray, cluster: str, h: float) -> None:
    """Refuse clustered SEs when the rows of a side of the cutoff within the bandwidth all lie
    in one cluster.

    Why: that side's limit is fitted to that cluster's rows alone, so its residuals sum to zero
    along the side's columns and the cluster sandwich holds none of its shock, which the jump
    carries whole: the SE came from the other side alone. With 20 schools above the cutoff and
    one below (school SD 0.5) the CR2 SE was 0.13 where the jump's SD is 0.53, and 43% of 95%
    intervals held the true jump (20 schools each side: 95%). It was only warned."""
    lone = [name for name, side in (("below", xs < 0), ("at or above", xs >= 0))
            if np.unique(codes[side]).size < 2]
    if lone:
        where = "on each side of" if len(lone) == 2 else lone[0]
        raise EstimationError(
            f"rdd: within the bandwidth {h:.4g} the rows {where} the cutoff lie in a single "
            f"cluster of {cluster!r}: that side's limit is that cluster's own level, and no "
            "cluster-robust SE can tell its shock from the jump (the SE would come from the "
            "other side alone); more clusters on each side are needed (or widen the "
            "bandwidth)")


@dataclass
class RddResult:
    """Jump at the cutoff with conventional and robust bias-corrected inference."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    df: float | None
    bandwidth: float
    bandwidth_rule: str
    kernel: str
    cutoff: float
    treated_side: str
    n_below: int
    n_above: int
    n_clusters: int | None
    robust_estimate: float
    robust_se: float
    robust_ci_low: float
    robust_ci_high: float
    robust_p_value: float
    alpha: float
    outcome: str
    running: str
    missing: ck.MissingReport
    notes: list[str] = field(default_factory=list)
    robust_df: float | None = None
    """t df of the robust interval: the local quadratic's jump's Bell-McCaffrey df."""
    _x: np.ndarray | None = field(default=None, repr=False)
    _y: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_treated(self) -> int:
        return self.n_below if self.treated_side == "below" else self.n_above

    @property
    def n_control(self) -> int:
        return self.n_above if self.treated_side == "below" else self.n_below

    def summary(self) -> str:
        level = given_percent(1 - self.alpha)
        se_kind = (f"CR2 clustered, {self.n_clusters} clusters" if self.n_clusters else "HC2") + \
            f", t({self.df:.1f})"
        lines = [
            f"Regression discontinuity in {self.outcome!r} at {self.running!r} = {self.cutoff:g} "
            f"(treated {self.treated_side} the cutoff)",
            f"  local linear, {self.kernel} kernel, bandwidth {self.bandwidth:.4g} "
            f"({self.bandwidth_rule}); {self.n_below} obs below and {self.n_above} above within it",
            f"  jump {self.estimate:.4f} (SE {self.se:.4f}, {se_kind}), {level} CI "
            f"{self.ci_low:.4f} to {self.ci_high:.4f}, p = {self.p_value:.4g}",
            f"  robust bias-corrected (CCT, rho = 1): {self.robust_estimate:.4f} "
            f"(SE {self.robust_se:.4f}), {level} CI {self.robust_ci_low:.4f} to "
            f"{self.robust_ci_high:.4f}, p = {self.robust_p_value:.4g}",
            f"  rows: {self.missing.describe()}",
        ]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def plot(self, path: str | Path | None = None, *, bins: int = 20, title: str | None = None):
        """Binned scatter with the local linear fits each side of the cutoff."""
        if self._x is None or self._y is None:
            raise SrmsimError("this RD result carries no data to plot; re-run the estimate")
        return _binned_plot(
            self._x, self._y, self.cutoff, self.bandwidth, self.kernel, bins,
            xlabel=self.running, ylabel=self.outcome, path=path,
            title=title or f"RD at {self.running} = {self.cutoff:g}: jump {self.estimate:.3f}",
        )


def rdd(
    df: pd.DataFrame,
    outcome: str,
    running: str,
    cutoff: float,
    bandwidth: float | None = None,
    kernel: str = "triangular",
    cluster: str | None = None,
    treated_side: str = "below",
    *,
    alpha: float = 0.05,
) -> RddResult:
    """Sharp RD effect at ``cutoff``: treated side limit minus untreated side limit.

    ``treated_side="below"`` for rules like "attendance below 90%" (x < cutoff is treated);
    ``"above"`` for "risk score at or above c". ``bandwidth=None`` uses the IK (2012) rule.
    """
    ck.check_choice(kernel, tuple(KERNEL_CONSTANTS), "kernel")
    ck.check_choice(treated_side, ("below", "above"), "treated_side")
    ck.one_cluster(cluster, "regression discontinuity")
    alpha = ck.check_alpha(alpha)
    ck.require_frame(df)
    ck.single_columns({"outcome": outcome, "running variable": running})
    ck.require_columns(df, {"outcome": outcome, "running variable": running, "cluster": cluster})
    ck.numeric_column(df, outcome, "outcome")
    ck.require_some_values(df, outcome, "outcome")
    ck.numeric_column(df, running, "running variable")
    ck.require_some_values(df, running, "running variable")
    cutoff = _as_cutoff(cutoff)
    data, missing = ck.drop_incomplete(df, [outcome, running, *([cluster] if cluster else [])])
    x = ck.numeric_column(data, running, "running variable").to_numpy()
    y = ck.numeric_column(data, outcome, "outcome").to_numpy()
    try:
        _check_xy(x, y, cutoff)
    except DataError as err:
        raise DataError(f"columns {running!r} / {outcome!r}: {err}") from None
    # an outcome of 1 + 1e-15 y: the jump was round-off (6% off), as the regressions refuse it
    ck.require_variation(y, outcome)
    n_lo, n_hi = int((x < cutoff).sum()), int((x >= cutoff).sum())
    if n_lo == 0 or n_hi == 0:
        raise DataError(
            f"running variable {running!r} has no values {'below' if n_lo == 0 else 'at or above'} "
            f"the cutoff {cutoff:g} (range {x.min():g} to {x.max():g})"
        )
    notes: list[str] = []
    if bandwidth is None:
        h = ik_bandwidth(x, y, cutoff, kernel)
        rule = "Imbens-Kalyanaraman 2012"
    else:
        h = _as_bandwidth(bandwidth)
        rule = "given"
    w_all = _kernel((x - cutoff) / h, kernel)
    sel = w_all > 0
    below = int((sel & (x < cutoff)).sum())
    above = int((sel & (x >= cutoff)).sum())
    if min(below, above) < _MIN_SIDE:
        raise EstimationError(
            f"bandwidth {h:.4g} leaves {below} observations below and {above} above the cutoff; "
            f"need at least {_MIN_SIDE} each side (widen the bandwidth)"
        )
    xs, ys, ws = x[sel] - cutoff, y[sel], w_all[sel]
    side_above = (xs >= 0).astype(float)
    treated = side_above if treated_side == "above" else 1 - side_above
    if cluster:
        codes = pd.factorize(ck.labels(data[cluster]).to_numpy()[sel])[0]
        G = int(codes.max()) + 1
        if G < 2:
            raise EstimationError("cluster-robust SEs need at least 2 clusters within the bandwidth")
    else:
        codes, G = np.arange(xs.size), None
    _require_distinct_sides(xs, 1, running, h)
    if cluster:
        _refuse_lone_side_cluster(xs, codes, cluster, h)
    _require_distinct_sides(xs, 2, running, h)  # the robust estimate is a local quadratic
    est, se, df_t = _local_fit(xs, ys, treated, ws, codes, order=1)
    lo, hi, p = (float(v) for v in wald(est, se, df_t, alpha))
    if below + above < 6 * 2 + 2:
        notes.append("few observations in the bandwidth: the robust interval is unreliable")
    r_est, r_se, r_df = _local_fit(xs, ys, treated, ws, codes, order=2)
    r_lo, r_hi, r_p = (float(v) for v in wald(r_est, r_se, r_df, alpha))
    ck.note_share_bounds(ys, [lo, r_lo], [hi, r_hi], notes, f"rdd jump in {outcome!r}")
    return RddResult(
        estimate=est,
        se=se,
        ci_low=lo,
        ci_high=hi,
        p_value=p,
        df=df_t,
        bandwidth=h,
        bandwidth_rule=rule,
        kernel=kernel,
        cutoff=cutoff,
        treated_side=treated_side,
        n_below=below,
        n_above=above,
        n_clusters=G,
        robust_estimate=r_est,
        robust_se=r_se,
        robust_ci_low=r_lo,
        robust_ci_high=r_hi,
        robust_p_value=r_p,
        alpha=alpha,
        outcome=outcome,
        running=running,
        missing=missing,
        notes=notes,
        robust_df=r_df,
        _x=x,
        _y=y,
    )


def _binned_plot(x, y, cutoff, h, kernel, bins, *, xlabel, ylabel, path, title):
    if not (isinstance(bins, int | np.integer) and not isinstance(bins, bool)
            and 2 <= bins <= _MAX_BINS):  # 10**9 bins once ran the machine out of memory
        raise SrmsimError(f"bins must be a whole number from 2 to {_MAX_BINS}, got {bins!r}")
    fig, ax = new_figure()
    for side in (x < cutoff, x >= cutoff):
        xs, ys = x[side], y[side]
        if xs.size == 0:
            continue
        edges = np.linspace(xs.min(), xs.max() if xs.max() > xs.min() else xs.min() + 1, bins + 1)
        idx = np.clip(np.digitize(xs, edges) - 1, 0, bins - 1)
        counts = np.bincount(idx, minlength=bins)
        sums = np.bincount(idx, weights=ys, minlength=bins)
        mids = (edges[:-1] + edges[1:]) / 2
        ok = counts > 0
        ax.scatter(mids[ok], sums[ok] / counts[ok], s=18, color="tab:grey", zorder=2)
        w = _kernel((xs - cutoff) / h, kernel)
        fit = w > 0
        if fit.sum() >= 3 and _distinct(xs[fit]) >= 2:  # a line needs two distinct x values
            d = xs[fit] - cutoff
            X = np.column_stack([np.ones(d.size), d])
            sw = np.sqrt(w[fit])
            coef = _lstsq(X * sw[:, None], ys[fit] * sw, "binned plot: the local line is singular")
            grid = np.linspace(d.min(), d.max(), 50)
            ax.plot(grid + cutoff, coef[0] + coef[1] * grid, color="tab:blue", linewidth=2)
    ax.axvline(cutoff, color="black", linestyle="--", linewidth=0.8)
    ax.axvspan(cutoff - h, cutoff + h, color="tab:blue", alpha=0.06, linewidth=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"mean {ylabel} (bins)")
    ax.set_title(title)
    save(fig, path)
    return fig


def rdd_plot(
    df: pd.DataFrame,
    outcome: str,
    running: str,
    cutoff: float,
    *,
    bins: int = 20,
    bandwidth: float | None = None,
    kernel: str = "triangular",
    path: str | Path | None = None,
):
    """Binned means of the outcome against the running variable, with local linear fits.

    ``bins`` equal-width bins on each side; the shaded band is the bandwidth (IK if not given).
    Returns the matplotlib Figure and writes it to ``path`` when given.
    """
    ck.require_frame(df)
    ck.single_columns({"outcome": outcome, "running variable": running})
    ck.require_columns(df, {"outcome": outcome, "running variable": running})
    data, _ = ck.drop_incomplete(df, [outcome, running])
    x = ck.numeric_column(data, running, "running variable").to_numpy()
    y = ck.numeric_column(data, outcome, "outcome").to_numpy()
    cutoff = _as_cutoff(cutoff)
    h = ik_bandwidth(x, y, cutoff, kernel) if bandwidth is None else _as_bandwidth(bandwidth)
    return _binned_plot(
        x, y, cutoff, h, kernel, bins, xlabel=running, ylabel=outcome, path=path,
        title=f"{outcome} against {running} (cutoff {cutoff:g}, bandwidth {h:.3g})",
    )
