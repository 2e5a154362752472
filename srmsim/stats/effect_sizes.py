"""Effect sizes people in education compare: Hedges' g (WWC), EEF months, risks, NNT, cost.

Why these: the What Works Clearinghouse and the Education Endowment Foundation report effects as
Hedges' g and "months of progress"; attendance and withdrawal are binary, so schools ask for the
change in risk, the number of students to treat for one fewer case, and the cost of each case
avoided.

Hedges' g. ``g = omega * gamma * (mean_T - mean_C) / S_pooled`` where

* ``gamma = sqrt(1 - 2 (n - 1) rho / (N - 2))`` is Hedges' (2007) correction of the student-level
  d for clustering (n = average cluster size, rho = ICC, N = total students); gamma = 1 without
  clustering;
* ``omega`` is the small-sample correction. ``small_sample="N"`` (default) uses
  ``omega = 1 - 3 / (4N - 9)``, the WWC Procedures Handbook (v4.1, Appendix E) factor, which
  reproduces the WWC handbook's examples (0.8 and 0.298329). ``small_sample="h"`` uses
  ``omega = 1 - 3 / (4h - 1)`` with Hedges' (2007) cluster degrees of freedom
  ``h = ((N-2) - 2(n-1)rho)^2 / ((N-2)(1-rho)^2 + n(N-2n)rho^2 + 2(N-2n)rho(1-rho))``, the
  variant of the WWC v4.1 supplement / Handbook v5.0 (eq. E.21); for the clustered vector it gives
  0.298120 instead of 0.298329. Without clustering both are identical (h = N - 2).

The standard error is Hedges' (2007) large-sample variance of the cluster-adjusted d, times omega.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from srmsim.errors import DataError, EstimationError, SrmsimError
from srmsim.labels import agree, given_percent

from . import _checks as ck
from ._inference import wilson

# EEF Teaching and Learning Toolkit: lower bound of each months-of-progress band.
EEF_BANDS: tuple[tuple[float, int], ...] = (
    (0.02, 1),
    (0.10, 2),
    (0.19, 3),
    (0.27, 4),
    (0.36, 5),
    (0.45, 6),
    (0.53, 7),
    (0.62, 8),
    (0.70, 9),
    (0.79, 10),
    (0.88, 11),
    (0.96, 12),
)


@dataclass(frozen=True)
class HedgesG:
    """Hedges' g with its parts, so a reader can check every factor."""

    g: float
    d: float
    omega: float
    gamma: float
    se: float
    ci_low: float
    ci_high: float
    n_t: int
    n_c: int
    cluster_size: float | None
    icc: float | None
    small_sample: str
    rows_dropped: int = 0
    alpha: float = 0.05
    #: rows used and dropped, per column (:func:`hedges_g_data`; None from summary figures)
    missing: ck.MissingReport | None = None
    #: what a reader must know (an ICC estimated at its boundary), as for every estimator
    notes: tuple[str, ...] = ()

    def __float__(self) -> float:
        return self.g

    @property
    def months(self) -> int:
        """EEF months of progress for this g."""
        return int(eef_months(self.g))

    @property
    def table(self) -> pd.DataFrame:
        """One row: g, its interval and every factor behind it (as the other estimators give a
        table)."""
        return pd.DataFrame([{
            "g": self.g, "se": self.se, "ci_low": self.ci_low, "ci_high": self.ci_high,
            "d": self.d, "omega": self.omega, "gamma": self.gamma, "n_t": self.n_t,
            "n_c": self.n_c, "cluster_size": self.cluster_size, "icc": self.icc,
            "eef_months": self.months}])

    def summary(self) -> str:
        """Readable report: g in SD units with its interval, its factors, rows and notes."""
        level = given_percent(1 - self.alpha)
        lines = [f"Hedges' g {self.g:+.3f} SD ({level} CI {self.ci_low:+.3f} to "
                 f"{self.ci_high:+.3f}; SE {self.se:.3f}): {self.months:+d} months of progress "
                 "(EEF)",
                 f"  d {self.d:+.3f} x small-sample correction omega {self.omega:.4f}"
                 + (f" x cluster adjustment gamma {self.gamma:.4f} (ICC {self.icc:.3f}, "
                    f"{self.cluster_size:.1f} students a cluster)"
                    if self.cluster_size is not None and self.icc is not None else ""),
                 f"  students: {self.n_t:,} in the arm, {self.n_c:,} in the reference arm"]
        if self.missing is not None:
            lines.append(f"  rows: {self.missing.describe()}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


_LOG_MAX = math.log(np.finfo(float).max)


def _z(alpha: float) -> float:
    """Two-sided normal quantile; isf keeps it finite for tiny alpha (ppf(1 - 1e-17) is inf)."""
    return float(sps.norm.isf(alpha / 2))


def _positive(value: float, name: str) -> float:
    number = ck.finite_number(value, name)
    if not number > 0:
        raise SrmsimError(f"{name} must be a positive number, got {value!r}")
    return number


def _whole(value: float, name: str) -> int:
    """A count of students: 10.5 students is a typo, not 10 (int() would truncate silently)."""
    number = _positive(value, name)
    if not number.is_integer():
        raise SrmsimError(f"{name} must be a whole number of students, got {value!r}")
    if number > ck.MAX_COUNT:
        raise DataError(f"{name}={value!r} is beyond 2**53 students, where counts are not exact")
    return int(number)


def _cluster_term(N: float, n: float, rho: float) -> float:
    """(N-2)(1-rho)^2 + n(N-2n)rho^2 + 2(N-2n)rho(1-rho): shared by the WWC cluster-adjusted
    degrees of freedom and the variance of g."""
    return (N - 2) * (1 - rho) ** 2 + n * (N - 2 * n) * rho**2 + 2 * (N - 2 * n) * rho * (1 - rho)


def _hedges_df(N: float, n: float, rho: float) -> float:
    return ((N - 2) - 2 * (n - 1) * rho) ** 2 / _cluster_term(N, n, rho)


def hedges_g_from_d(
    d: float,
    n_t: int,
    n_c: int,
    *,
    cluster_size: float | None = None,
    icc: float | None = None,
    small_sample: str = "N",
    alpha: float = 0.05,
) -> HedgesG:
    """Hedges' g from a standardised difference d (mean difference / pooled student SD).

    >>> round(hedges_g_from_d(0.3, 500, 500, cluster_size=25, icc=0.2).g, 6)
    0.298329
    """
    ck.check_choice(small_sample, ("N", "h"), "small_sample")
    alpha = ck.check_alpha(alpha)
    d = ck.finite_number(d, "d")
    if abs(d) > ck.LARGEST_VALUE:  # its square enters the variance of g
        raise DataError(f"d={d!r} is beyond +-{ck.LARGEST_VALUE:g}: not a standardised difference")
    n_t, n_c = _whole(n_t, "n_t"), _whole(n_c, "n_c")
    N = n_t + n_c
    _check_total(N)
    if (cluster_size is None) != (icc is None):
        raise SrmsimError("give both cluster_size and icc for the cluster adjustment, or neither")
    n, rho = 1.0, 0.0
    if cluster_size is not None and icc is not None:  # both or neither, checked above
        n = ck.finite_number(cluster_size, "cluster_size")
        if n < 1:
            raise DataError(f"cluster_size={cluster_size!r} must be at least 1 (students per "
                            "cluster, on average)")
        rho = ck.finite_number(icc, "icc")
        if not 0.0 <= rho < 1.0:
            raise SrmsimError(f"icc must be in [0, 1), got {icc!r}")
        if n > N / 2:
            raise SrmsimError(f"cluster_size {n} exceeds half the sample ({N} students)")
    inner = 1 - 2 * (n - 1) * rho / (N - 2)
    if inner <= 0:
        raise SrmsimError(
            f"cluster adjustment undefined: 1 - 2(n-1)rho/(N-2) = {inner:.4f} <= 0 "
            f"(cluster_size {n}, icc {rho}, N {N})"
        )
    gamma = math.sqrt(inner)
    h = _hedges_df(N, n, rho) if small_sample == "h" else N - 2
    if h <= 1:  # only reachable with "h": N >= 4 gives N - 2 >= 2
        raise DataError(
            f"small_sample='h': Hedges' cluster degrees of freedom h = {h:.3g} <= 1, where the "
            "correction 1 - 3/(4h - 1) is zero, negative or undefined (too few clusters for "
            f"this ICC: cluster_size {n:g}, icc {rho:g}, N {N}); g cannot be corrected"
        )
    omega = 1 - 3 / (4 * h - 1)  # with h = N - 2 this is 1 - 3/(4N - 9); in (0, 1) as h > 1
    delta = gamma * d
    var = (N / (n_t * n_c)) * (1 + (n - 1) * rho) + delta**2 * _cluster_term(N, n, rho) / (
        2 * (N - 2) * ((N - 2) - 2 * (n - 1) * rho))
    g = omega * delta
    se = omega * math.sqrt(var)
    z = _z(alpha)
    if not (math.isfinite(se) and math.isfinite(z * se)):
        raise DataError(f"the standard error of g overflows (d={d!r}, cluster adjustment "
                        f"{inner:.3g}): d is too large for this design")
    return HedgesG(
        g=g,
        d=float(d),
        omega=omega,
        gamma=gamma,
        se=se,
        ci_low=g - z * se,
        ci_high=g + z * se,
        n_t=n_t,
        n_c=n_c,
        cluster_size=None if cluster_size is None else n,
        icc=None if icc is None else rho,
        small_sample=small_sample,
        alpha=alpha,
    )


def _check_total(N: int) -> None:
    """omega = 1 - 3/(4N - 9) is 0 at N = 3 and negative below: g would be 0 or flip sign."""
    if N <= 3:
        raise DataError(
            f"Hedges' g needs at least 4 students in all, got {N}: the small-sample correction "
            "1 - 3/(4N - 9) is 0 or negative for N <= 3 (g would be 0 or change sign)"
        )


def _standardised(mean_t: float, mean_c: float, sd_t: float, sd_c: float, n_t: int,
                  n_c: int) -> float:
    """(mean_t - mean_c) / pooled SD. The SDs are scaled by the largest one that carries weight
    (an arm of one student has none), so squares of huge SDs do not overflow and squares of tiny
    ones do not vanish to a zero pooled SD."""
    arms = [(sd, k) for sd, k in ((sd_t, n_t), (sd_c, n_c)) if k > 1]
    s = max(sd for sd, _ in arms)
    # an arm of one adds nothing, and is left out of the sum: its SD (say 1e300) over s once
    # raised OverflowError when squared, though its weight n - 1 is 0
    pooled = s * math.sqrt(sum((k - 1) * (sd / s) ** 2 for sd, k in arms) / (n_t + n_c - 2))
    diff = mean_t - mean_c
    if not math.isfinite(diff):
        raise DataError(f"mean_t - mean_c overflows (mean_t={mean_t!r}, mean_c={mean_c!r}); "
                        "rescale the outcome")
    d = diff / pooled
    if not (math.isfinite(d) and abs(d) <= ck.LARGEST_VALUE):
        raise DataError(
            f"the standardised difference (mean_t - mean_c) / pooled SD = {diff!r} / {pooled!r} "
            f"is beyond +-{ck.LARGEST_VALUE:g}: the SDs are (close to) zero for this difference"
        )
    return d


def hedges_g(
    mean_t: float,
    mean_c: float,
    sd_t: float,
    sd_c: float,
    n_t: int,
    n_c: int,
    *,
    cluster_size: float | None = None,
    icc: float | None = None,
    small_sample: str = "N",
    alpha: float = 0.05,
) -> HedgesG:
    """Hedges' g from summary statistics (pooled within-arm SD), WWC corrections applied.

    >>> hedges_g(6, 5, 1, 1, 3, 3).g
    0.8
    """
    sd_t, sd_c = _positive(sd_t, "sd_t"), _positive(sd_c, "sd_c")
    mean_t, mean_c = ck.finite_number(mean_t, "mean_t"), ck.finite_number(mean_c, "mean_c")
    n_t, n_c = _whole(n_t, "n_t"), _whole(n_c, "n_c")
    _check_total(n_t + n_c)
    return hedges_g_from_d(
        _standardised(mean_t, mean_c, sd_t, sd_c, n_t, n_c),
        n_t,
        n_c,
        cluster_size=cluster_size,
        icc=icc,
        small_sample=small_sample,
        alpha=alpha,
    )


def hedges_g_data(
    df: pd.DataFrame,
    outcome: str,
    treatment: str,
    reference: object,
    arm: object | None = None,
    *,
    cluster: str | None = None,
    icc: float | None = None,
    small_sample: str = "N",
    alpha: float = 0.05,
) -> HedgesG:
    """Hedges' g of one arm against the reference arm, computed from a student table.

    With ``cluster=``, the cluster adjustment uses the average cluster size of the two arms and
    ``icc`` if given, otherwise the ICC of a random-intercept model with an arm term.
    """
    ck.one_cluster(cluster, "Hedges' g")
    if icc is not None and not cluster:  # was silently ignored: g without the adjustment
        raise SrmsimError(
            f"icc={icc!r} is for the cluster adjustment, which needs cluster= (the column whose "
            "clusters give the average cluster size); for summary figures use "
            "hedges_g_from_d(d, n_t, n_c, cluster_size=..., icc=...)")
    ck.require_frame(df)
    ck.single_columns({"outcome": outcome, "treatment": treatment})
    ck.require_columns(df, {"outcome": outcome, "treatment": treatment, "cluster": cluster})
    ck.numeric_column(df, outcome, "outcome")
    ck.require_some_values(df, outcome, "outcome")
    arms = ck.arm_order(df[treatment], reference, treatment)
    if arm is None:
        if len(arms) != 2:
            raise SrmsimError(f"several arms ({', '.join(arms[1:])}): name the arm with arm=")
        arm = arms[1]
    arm = ck.label(arm)
    if arm not in arms[1:]:
        raise DataError(
            f"arm {arm!r} not found in treatment column {treatment!r}; arms present: "
            f"{', '.join(arms)}"
        )
    data, missing = ck.drop_incomplete(df, [outcome, treatment, *([cluster] if cluster else [])])
    notes: list[str] = []
    lab = ck.labels(data[treatment])
    data = data[lab.isin([arms[0], arm]).to_numpy()].reset_index(drop=True)
    lab = ck.labels(data[treatment])
    y = ck.numeric_column(data, outcome, "outcome")
    yt, yc = y[(lab == arm).to_numpy()], y[(lab == arms[0]).to_numpy()]
    if len(yt) < 2 or len(yc) < 2:
        raise DataError(f"arms {arm!r} and {arms[0]!r} need 2+ students each with an outcome")
    # 1 + 1e-15 y: the difference and SDs were round-off (g 27% off at 1e6 + 1e-9 y), as
    # every regression estimator refuses
    ck.require_variation(y.to_numpy(), outcome)
    size = rho = None
    if cluster:
        codes = ck.group_codes(data[cluster])
        in_arm = (lab == arm).to_numpy()
        both = np.flatnonzero((np.bincount(codes, weights=in_arm) > 0)
                              & (np.bincount(codes, weights=~in_arm) > 0))
        if both.size:  # Hedges' gamma is for clusters assigned whole; within-school randomisation
            shown = ck._listing(pd.unique(ck.labels(data[cluster])[np.isin(codes, both)]))
            raise DataError(
                f"Hedges' g cluster adjustment: {agree(both.size, 'cluster')} {shown} of "
                f"{cluster!r} {agree(both.size, 'holds', 'hold')} students of both arms {arm!r} and "
                f"{arms[0]!r}; the adjustment (Hedges 2007, WWC) is for clusters assigned to "
                "one arm whole, and would shrink g wrongly here: for students randomised "
                "within schools leave out cluster=")
        # clusters counted as every estimator counts them (as labels: school 7 and "7" are one
        # school, as in the ICC's model); nunique() counted them twice and halved the size
        size = len(data) / (int(ck.group_codes(data[cluster]).max()) + 1)
        if icc is None:
            from .mixed import random_intercept

            # the ICC has no units: fitted on the outcome in SD units, any scale of y works
            data = data.assign(_arm=(lab == arm).to_numpy(dtype=float),
                               _y=(y - y.mean()) / (y.std() or 1.0))
            try:
                with warnings.catch_warnings():  # said again below, from the caller's line
                    warnings.simplefilter("ignore", ck.StatsWarning)
                    fit = random_intercept(data, "_y", cluster, covariates=["_arm"])
                rho = fit.icc
                for note in fit.notes:
                    ck.warn(f"the ICC of the cluster adjustment: {note}", notes, stacklevel=3)
            except EstimationError as err:
                raise EstimationError(
                    f"Hedges' g cluster adjustment: the ICC of {outcome!r} within {cluster!r} "
                    f"cannot be estimated from these data ({err}); pass icc= (e.g. from a "
                    "published study or an earlier cohort)"
                ) from None
        else:
            rho = icc
    sd_t, sd_c = float(yt.std(ddof=1)), float(yc.std(ddof=1))
    if sd_t == 0 and sd_c == 0:
        raise DataError(f"outcome {outcome!r} takes one value within arm {arm!r} and one within "
                        f"arm {arms[0]!r}: there is no spread to standardise the difference by")
    # from the data, an arm without spread is a fact, not a mistyped SD (which hedges_g
    # refuses): the pooled SD rests on the other arm, as in the WWC formula
    g = hedges_g_from_d(
        _standardised(float(yt.mean()), float(yc.mean()), sd_t, sd_c, len(yt), len(yc)),
        len(yt),
        len(yc),
        cluster_size=size,
        icc=rho,
        small_sample=small_sample,
        alpha=alpha,
    )
    return dataclasses.replace(g, rows_dropped=missing.n_dropped, missing=missing,
                               notes=tuple(notes))


def _months_one(value: object, name: str = "effect_size") -> int:
    es = ck.finite_number(value, name)
    size = min(abs(es), 10.0)  # 0.96 and above is 12 months; 1e308 * 100 would overflow
    rounded = math.floor(size * 100 + 0.5 + 1e-9) / 100  # EEF reports ES to 2 decimals
    months = 0
    for lower, m in EEF_BANDS:
        if rounded >= lower - 1e-12:
            months = m
    return -months if es < 0 else months


def eef_months(effect_size: float | Sequence[float] | np.ndarray) -> int | np.ndarray:
    """EEF months of progress for an effect size (the EEF conversion table).

    The effect size is rounded to two decimals (as the EEF reports it) and looked up; below 0.02
    is 0 months; negative effects are symmetric (-0.30 is -4 months); 0.96 and above is 12.

    >>> eef_months(0.3), eef_months(-0.3), eef_months(0.01)
    (4, -4, 0)
    """
    if isinstance(effect_size, np.ndarray) and effect_size.ndim == 0:
        effect_size = effect_size.item()
    if np.ndim(effect_size) == 0:
        return _months_one(effect_size)
    values = np.asarray(effect_size, dtype=object)  # elements checked one by one: no text
    months = [_months_one(v, f"effect_size[{i}]") for i, v in enumerate(values.ravel())]
    return np.array(months, dtype=int).reshape(values.shape)


@dataclass(frozen=True)
class BinaryEffect:
    """A risk difference or risk ratio between an arm (t) and the reference arm (c)."""

    measure: str
    estimate: float
    ci_low: float
    ci_high: float
    risk_t: float
    risk_c: float
    events_t: float
    n_t: int
    events_c: float
    n_c: int
    alpha: float
    method: str

    def __str__(self) -> str:
        level = given_percent(1 - self.alpha)
        if self.measure == "risk difference":
            value = (f"{100 * self.estimate:+.2f} pp ({level} CI {100 * self.ci_low:+.2f} to "
                     f"{100 * self.ci_high:+.2f} pp)")
        else:
            value = f"{self.estimate:.3f} ({level} CI {self.ci_low:.3f} to {self.ci_high:.3f})"
        return (f"{self.measure} {value}, {self.method}: {100 * self.risk_t:.1f}% "
                f"({self.events_t:,.0f} of {self.n_t:,}) in the arm against "
                f"{100 * self.risk_c:.1f}% ({self.events_c:,.0f} of {self.n_c:,})")


def _counts(events: float, n: int, arm: str) -> tuple[float, int]:
    """Events and students of one arm: both are counts of students, so whole numbers."""
    size = _whole(n, f"n_{arm}")
    count = ck.finite_number(events, f"events_{arm}")
    if not 0 <= count <= size:
        raise SrmsimError(f"events_{arm}={events!r} must lie between 0 and n_{arm}={size}")
    if not count.is_integer():
        raise DataError(f"events_{arm}={events!r} must be a whole number of students")
    return count, size


def risk_difference(
    events_t: float,
    n_t: int,
    events_c: float,
    n_c: int,
    *,
    alpha: float = 0.05,
    method: str = "newcombe",
) -> BinaryEffect:
    """Risk in arm minus risk in reference arm, with a Newcombe (hybrid Wilson) or Wald CI.

    Newcombe's interval is the default because trial arms often have few events (withdrawal),
    where the Wald interval collapses to zero width (refused) or leaves [-1, 1] (truncated, and
    ``method`` says so).
    """
    ck.check_choice(method, ("newcombe", "wald"), "method")
    alpha = ck.check_alpha(alpha)
    a, n1 = _counts(events_t, n_t, "t")
    c, n0 = _counts(events_c, n_c, "c")
    p1, p0 = a / n1, c / n0
    rd = p1 - p0
    if method == "wald":
        z = _z(alpha)
        se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
        if se == 0:  # both risks 0 or 1: the interval would be the single point rd
            raise DataError(
                f"the Wald interval of a risk difference has zero width when each arm's risk is "
                f"0 or 1 ({a:g}/{n1} and {c:g}/{n0}): that is not certainty; use "
                "method='newcombe'")
        lo, hi = rd - z * se, rd + z * se
        if lo < -1 or hi > 1:  # a difference of two shares lies in [-1, 1]
            lo, hi = max(lo, -1.0), min(hi, 1.0)
            method = "wald, truncated to [-1, 1] (the normal approximation fails here)"
    else:
        l1, u1 = wilson(a, n1, alpha)
        l0, u0 = wilson(c, n0, alpha)
        lo = rd - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
        hi = rd + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    return BinaryEffect("risk difference", rd, lo, hi, p1, p0, a, n1, c, n0, alpha, method)


def risk_ratio(
    events_t: float,
    n_t: int,
    events_c: float,
    n_c: int,
    *,
    alpha: float = 0.05,
    continuity: float = 0.0,
) -> BinaryEffect:
    """Risk ratio with the log-method CI: se(log RR) = sqrt(1/a - 1/n1 + 1/c - 1/n0).

    An arm with zero events makes the log ratio infinite: that is an error naming the arm unless
    ``continuity`` (e.g. 0.5, added to the events and twice to n) is asked for explicitly. So is
    every student in both arms having the event: the interval would have zero width.
    """
    alpha = ck.check_alpha(alpha)
    n1: float  # becomes fractional with a continuity correction
    n0: float
    a, n1 = _counts(events_t, n_t, "t")
    c, n0 = _counts(events_c, n_c, "c")
    a_raw, c_raw, n_t, n_c = a, c, int(n1), int(n0)
    continuity = ck.finite_number(continuity, "continuity")
    if not 0 <= continuity <= 1:  # corrections in use are 0.5 (Haldane) up to 1; 1e300 gave
        raise SrmsimError(  # the ratio 1 with the zero-width interval (1, 1)
            f"continuity must be from 0 to 1 (0.5 is Haldane's correction), got {continuity}")
    if continuity == 0:
        for events, name in ((a, "treatment arm (events_t)"), (c, "reference arm (events_c)")):
            if events == 0:
                raise DataError(
                    f"risk ratio undefined: the {name} has zero events; pass continuity=0.5 "
                    "to apply the Haldane correction, or report the risk difference"
                )
        method = "log"
    else:
        a, c = a + continuity, c + continuity
        n1, n0 = n1 + 2 * continuity, n0 + 2 * continuity
        method = f"log, continuity {continuity}"
    # logs of the counts, not of their ratio: a continuity of 1e-320 makes a / n1 underflow to 0
    # (log(0): a ValueError) where the interval-overflow check below names the cause
    log_rr = (math.log(a) - math.log(n1)) - (math.log(c) - math.log(n0))
    se = math.sqrt(1 / a - 1 / n1 + 1 / c - 1 / n0)
    if se == 0:  # every student in both arms has the event: the interval would be the point 1
        raise DataError(
            f"the log-method interval of a risk ratio has zero width when every student in both "
            f"arms has the event ({a_raw:g}/{n_t} and {c_raw:g}/{n_c}): that is not certainty; "
            "report the risk difference (method='newcombe') or pass continuity=0.5")
    half = _z(alpha) * se
    if log_rr + half > _LOG_MAX or log_rr - half < -_LOG_MAX:  # math.exp would overflow
        raise DataError(
            f"risk ratio interval overflows (log RR {log_rr:.3g} +- {half:.3g}): "
            f"continuity={continuity!r} is too small for a zero-event arm; use 0.5"
        )
    rr = (a / n1) / (c / n0)
    return BinaryEffect(
        "risk ratio",
        rr,
        rr * math.exp(-half),
        rr * math.exp(half),
        a_raw / n_t,
        c_raw / n_c,
        a_raw,
        int(n_t),
        c_raw,
        int(n_c),
        alpha,
        method,
    )


@dataclass(frozen=True)
class NNT:
    """Number needed to treat: students who get the intervention per one case changed.

    ``direction`` is "fewer" when the arm lowers the risk (RD < 0) and "more" when it raises it.
    When the risk-difference CI includes 0 the NNT interval passes through infinity (Altman 1998):
    then ``ci_low`` is the smallest NNT in the interval, in either direction, and ``ci_high`` is
    infinite. Altman's two bounds, which ``ci_low`` alone cannot tell apart, are
    ``fewer_from`` (the interval holds "treat k for one fewer case" for every k from it up) and
    ``more_from`` (the same for one more case): RD -0.02 (CI -0.10 to 0.05) is NNT 50 fewer,
    CI "10 (fewer) to infinity to 20 (more)". Both are infinite where the interval holds no RD
    of that sign, and NaN when it does not reach 0 (or no interval was given).
    """

    value: float
    ci_low: float
    ci_high: float
    direction: str
    crosses_zero: bool
    fewer_from: float = math.nan
    more_from: float = math.nan

    def describe(self) -> str:
        if self.crosses_zero:
            sides = [f"{bound:.1f} for one {side} case" for bound, side in
                     ((self.fewer_from, "fewer"), (self.more_from, "more")) if math.isfinite(bound)]
            through = (f"CI {' to infinity to '.join(sides)}" if len(sides) == 2 else
                       f"CI {sides[0]} to infinity" if sides else "CI infinite")
            if math.isinf(self.value):
                return f"no difference in risk: NNT is infinite ({through})"
            return (f"treat {self.value:.1f} students for one {self.direction} case (CI includes "
                    f"no effect: the NNT interval runs through infinity, Altman 1998: {through})")
        if math.isinf(self.value):
            return "no difference in risk: NNT is infinite"
        text = f"treat {self.value:.1f} students for one {self.direction} case"
        if math.isnan(self.ci_low):
            return text
        return text + f" (CI {self.ci_low:.1f} to {self.ci_high:.1f})"


def nnt(
    risk_diff: float | BinaryEffect, ci_low: float | None = None, ci_high: float | None = None
) -> NNT:
    """NNT = 1 / |risk difference|, with the CI from the risk difference's CI when given."""
    if isinstance(risk_diff, BinaryEffect):
        if risk_diff.measure != "risk difference":
            raise SrmsimError("nnt() needs a risk difference, not a " + risk_diff.measure)
        rd, ci_low, ci_high = risk_diff.estimate, risk_diff.ci_low, risk_diff.ci_high
    else:
        rd = ck.finite_number(risk_diff, "risk difference")
        if (ci_low is None) != (ci_high is None):  # one bound alone was silently ignored
            raise SrmsimError(f"give both ci_low and ci_high of the risk difference, or "
                              f"neither; got ci_low={ci_low!r}, ci_high={ci_high!r}")
    if not -1.0 <= rd <= 1.0:
        raise SrmsimError(f"a risk difference lies between -1 and 1, got {rd!r}")
    if ci_low is not None and ci_high is not None:
        ci_low = ck.finite_number(ci_low, "ci_low")
        ci_high = ck.finite_number(ci_high, "ci_high")
        if not ci_low <= rd <= ci_high:
            raise SrmsimError(f"the interval ({ci_low}, {ci_high}) must contain the risk "
                              f"difference {rd}")
    value = math.inf if rd == 0 else 1 / abs(rd)
    direction = "fewer" if rd < 0 else "more"
    if ci_low is None or ci_high is None:
        return NNT(value, math.nan, math.nan, direction, False)
    if ci_low > 0 or ci_high < 0:
        bounds = sorted((1 / abs(ci_low), 1 / abs(ci_high)))
        return NNT(value, bounds[0], bounds[1], direction, False)
    far = max(abs(ci_low), abs(ci_high))
    fewer = 1 / -ci_low if ci_low < 0 else math.inf  # Altman's NNT (benefit or harm) bounds
    more = 1 / ci_high if ci_high > 0 else math.inf
    return NNT(value, math.inf if far == 0 else 1 / far, math.inf, direction, True, fewer, more)


def binary_effects(
    df: pd.DataFrame,
    outcome: str,
    treatment: str,
    reference: object,
    *,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Risks, risk difference, risk ratio and NNT of each arm against the reference arm.

    ``outcome`` must be 0/1 or true/false (e.g. withdrawn, persistently absent). Unadjusted:
    for adjusted or clustered inference use :func:`estimate_effect` (a linear probability model).
    """
    ck.require_frame(df)
    ck.single_columns({"outcome": outcome, "treatment": treatment})
    ck.require_columns(df, {"outcome": outcome, "treatment": treatment})
    ck.require_some_values(df, outcome, "outcome")
    before = ck.arm_order(df[treatment], reference, treatment)
    data, missing = ck.drop_incomplete(df, [outcome, treatment])
    try:
        arms = ck.arm_order(data[treatment], reference, treatment)
    except DataError as err:
        raise DataError(f"after dropping rows ({missing.describe()}): {err}") from None
    ck.warn_lost_arms(before, arms, treatment, missing, None)
    y = ck.numeric_column(data, outcome, "outcome")
    bad = ~y.isin([0.0, 1.0])
    if bad.any():
        raise DataError(
            f"outcome column {outcome!r} must be 0/1 or true/false for risks; found values such "
            f"as {sorted(set(y[bad]))[:5]}"
        )
    lab = ck.labels(data[treatment]).to_numpy()
    ref_mask = lab == arms[0]
    c, n0 = float(y[ref_mask].sum()), int(ref_mask.sum())
    rows = []
    for arm in arms[1:]:
        mask = lab == arm
        a, n1 = float(y[mask].sum()), int(mask.sum())
        rd = risk_difference(a, n1, c, n0, alpha=alpha)
        note = ""
        try:
            rr = risk_ratio(a, n1, c, n0, alpha=alpha)
            rr_vals = (rr.estimate, rr.ci_low, rr.ci_high)
        except DataError:
            rr_vals = (math.nan, math.nan, math.nan)
            note = ("every student in both arms has the event: no risk ratio interval"
                    if a == n1 and c == n0 else
                    "zero events in an arm: risk ratio undefined (see risk_ratio(continuity=0.5))")
        k = nnt(rd)
        rows.append(
            {
                "arm": arm,
                "events": a,
                "n": n1,
                "risk": a / n1,
                "events_reference": c,
                "n_reference": n0,
                "risk_reference": c / n0,
                "risk_difference": rd.estimate,
                "rd_ci_low": rd.ci_low,
                "rd_ci_high": rd.ci_high,
                "risk_ratio": rr_vals[0],
                "rr_ci_low": rr_vals[1],
                "rr_ci_high": rr_vals[2],
                "nnt": k.value,
                "nnt_direction": k.direction,
                "rows_dropped": missing.n_dropped,
                "note": note,
            }
        )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class CostPerOutcome:
    """Incremental cost per incremental outcome (e.g. per persistent absence avoided).

    ``dominated``: the policy costs more for no more outcomes, or costs no less for fewer (the
    cost-effectiveness plane's north-west quadrant and its edges); a saving is never dominated.
    """

    value: float
    ci_low: float
    ci_high: float
    cost: float
    gain: float
    dominated: bool
    note: str

    def __str__(self) -> str:
        """In the caller's units of cost and outcome (the function does not know them)."""
        def amount(x: float) -> str:
            return ("infinite" if math.isinf(x) else f"{x:,.0f}" if abs(x) >= 1000
                    else f"{x:.4g}")

        ci = ("" if math.isnan(self.ci_low) else
              f" (CI {amount(self.ci_low)} to {amount(self.ci_high)})")
        text = (f"{amount(self.value)} a unit of outcome gained{ci}: cost {amount(self.cost)} "
                f"for a gain of {amount(self.gain)}")
        return text + (f"; {self.note}" if self.note else "")


def cost_per_outcome(
    cost: float, gain: float, *, gain_ci: tuple[float, float] | None = None
) -> CostPerOutcome:
    """Cost of one extra outcome gained: ``cost / gain`` in the units the caller uses.

    ``cost`` is the incremental cost (per student or in total) and ``gain`` the incremental
    outcomes on the same basis (e.g. the reduction in persistent-absence risk per student, or
    cases avoided in total). When the policy gains nothing (gain <= 0) there is no finite cost per
    outcome: the value is infinite (never a negative ratio), and the note says which case it is:
    dominated (``dominated`` True) when it also costs at least as much (and not both nothing),
    dominant when it saves money at no loss of outcomes, and a trade-off (saving money, losing
    outcomes: the saving per outcome lost is -cost / -gain) when it saves money for fewer.
    A gain interval that excludes 0 gives a cost interval. The interval is the range of
    ``cost / g`` over the gains g > 0 in the gain interval: when that interval reaches 0 the
    ratio is unbounded, upwards for a positive cost (+infinity) and downwards for a saving
    (-infinity); a gain of 0 or less has no cost per outcome (infinite, as the estimate).
    """
    cost, gain = ck.finite_number(cost, "cost"), ck.finite_number(gain, "gain")
    g_lo = g_hi = math.nan
    if gain_ci is not None:
        if not (isinstance(gain_ci, tuple | list) and len(gain_ci) == 2):
            raise SrmsimError(f"gain_ci must be (low, high), got {gain_ci!r}")
        g_lo = ck.finite_number(gain_ci[0], "gain_ci low")
        g_hi = ck.finite_number(gain_ci[1], "gain_ci high")
        if not g_lo <= gain <= g_hi:  # a NaN bound once gave a zero-width interval
            raise SrmsimError(f"gain_ci {tuple(gain_ci)!r} must run from low to high around "
                              f"the gain {gain!r}")
    if gain <= 0:
        # the cost-effectiveness plane (Drummond et al.): a policy that costs more for no gain,
        # or no less for a loss, is dominated; one that saves money is not (a saving at no
        # loss dominates; a saving for a loss is a trade-off): "dominated" was said of both
        dominated = (cost > 0 and gain == 0) or (cost >= 0 and gain < 0)
        if dominated:
            note = ("no outcome gained (gain <= 0) at no saving: cost per outcome is infinite, "
                    "policy is dominated")
        elif cost == 0:
            note = "no difference in cost or outcome: cost per outcome is undefined (infinite)"
        elif gain == 0:
            note = ("policy saves money at no change in outcome (dominant); no outcome gained, so "
                    "cost per outcome is infinite")
        else:
            saved = cost / gain  # both negative: the saving per outcome lost
            per = f"{saved:g} saved per outcome lost; " if math.isfinite(saved) else ""
            note = (f"policy saves money but loses outcomes (a trade-off, not dominated): {per}"
                    "no outcome gained, so cost per outcome is infinite")
        lo = hi = math.inf
        if gain_ci is not None and g_hi > 0:  # some gains in the interval are positive
            lo = _ratio(cost, g_hi) if cost > 0 else 0.0 if cost == 0 else -math.inf
            note += f"; gain CI reaches {g_hi:g}, so the interval starts at {lo:g}"
        return CostPerOutcome(math.inf, lo, hi, cost, gain, dominated, note)
    value = _ratio(cost, gain)
    lo = hi = math.nan
    note = "policy saves money while gaining outcomes (dominant)" if cost < 0 else ""
    if gain_ci is not None:
        if g_lo > 0:
            lo, hi = sorted((_ratio(cost, g_lo), _ratio(cost, g_hi)))
        else:  # cost / g runs to +-infinity (0 at zero cost) as g falls to 0
            near_zero = math.copysign(math.inf, cost) if cost != 0 else 0.0
            lo, hi = sorted((near_zero, _ratio(cost, g_hi)))
            bound = "upper" if cost > 0 else "lower" if cost < 0 else "other"
            what = (f"no finite {bound} bound" if cost != 0
                    else "the policy may gain nothing, at no cost")
            note = (note + "; " if note else "") + f"gain CI includes 0: {what}"
    return CostPerOutcome(value, lo, hi, cost, gain, False, note)


def _ratio(cost: float, gain: float) -> float:
    """cost / gain for gain > 0, refused when it overflows (a tiny gain) instead of inf."""
    value = cost / gain
    if not math.isfinite(value):
        raise DataError(f"cost / gain = {cost!r} / {gain!r} overflows: rescale cost or gain "
                        "(e.g. thousands of pounds, cases per 1000 students)")
    return value
