"""ROC and precision-recall curves, AUC, and bands from a bootstrap over schools.

Why resample schools: students in one school share staff, intake and recording habits, so a
rule's accuracy varies from school to school. Resampling students as if independent pretends a
trust has thousands of independent schools and gives bands that are too narrow. Resampling whole
schools with replacement keeps that variation in the band. A bootstrap replicate here is a vector
of integer weights, one per school (how many times it was drawn), applied to all of its rows, so
every replicate is exactly a union of whole schools (see :func:`cluster_bootstrap_weights`).

Curve points are the distinct cut points of the score, with the same strict semantics as the
threshold table: for ``direction="below"`` the point with ``threshold=t`` flags ``score < t``
(the last point, ``t=inf``, flags everyone). Tied scores move together, so the trapezoid ROC AUC
equals the Mann-Whitney probability ``P(risk_pos > risk_neg) + 0.5 P(tie)``. The PR summary is
average precision, ``sum_k (R_k - R_{k-1}) P_k`` over the cut points.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd

from srmsim.errors import DataError
from srmsim.labels import percent_level, plural
from srmsim.risk._cluster_table import ClusterTable
from srmsim.risk._columns import (
    check_direction,
    cluster_codes,
    complete_pairs,
    level_value,
    outcome_values,
    score_values,
    seed_value,
)
from srmsim.stats._checks import MAX_COUNT, MAX_REPEATS, StatsWarning, whole_number

MAX_GRID_POINTS = 100_000
"""Most points of the grid on which bootstrap bands are reported (101 by default)."""
MAX_BAND_VALUES = 20_000_000
"""Most ``n_boot x grid_points``: each replicate's ROC and PR curve is kept for the bands, so
100,000 replicates on 100,000 points asked for 160 GB."""


def min_replicates(level: float) -> int:
    """Fewest bootstrap replicates for a percentile interval at ``level``: ``2 / (1 - level)``
    (40 at 95%), so that each tail beyond the interval holds at least one replicate. With fewer,
    the interval's ends are just the extreme replicates: with one, a "95% CI" of 0.522-0.522 did
    not even contain the AUC of 0.581."""
    # in decimal, as the level is written: in binary 2 / (1 - 0.95) is 40.000000000000036
    return math.ceil(2 / (1 - Decimal(repr(float(level)))))


@dataclass
class _Sorted:
    """Rows ordered from most to least at risk, with the ends of tie groups."""

    order: np.ndarray
    y: np.ndarray
    ends: np.ndarray
    thresholds: np.ndarray


def _prepare(score: np.ndarray, y: np.ndarray, direction: str) -> _Sorted:
    """Rows from most to least at risk; tied scores ordered by outcome, so the order is the
    data's, not the table's: a row bootstrap draws by position in it (the same rows re-sorted
    gave another "95% CI" of the AUC from the same seed: 0.414-0.555 and 0.410-0.581)."""
    check_direction(direction)
    order = np.lexsort((y, score if direction == "below" else -score))
    s = score[order]
    if s.size == 0:
        raise DataError("no rows with both a score and an outcome")
    change = np.flatnonzero(s[1:] != s[:-1])
    ends = np.append(change, s.size - 1)
    distinct = s[ends]
    last = np.inf if direction == "below" else -np.inf
    thresholds = np.append(distinct, last)
    return _Sorted(order=order, y=y[order], ends=ends, thresholds=thresholds)


def _points(prep: _Sorted, weights: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Cumulative (tp, fp) at every cut point, starting with 'nobody flagged'."""
    y = prep.y
    w = np.ones_like(y) if weights is None else weights
    tp = np.concatenate(([0.0], np.cumsum(w * y)[prep.ends]))
    fp = np.concatenate(([0.0], np.cumsum(w * (1.0 - y))[prep.ends]))
    return tp, fp


def _auc_ap(tp: np.ndarray, fp: np.ndarray) -> tuple[float, float]:
    """ROC AUC (NaN unless both outcomes occur) and average precision (NaN without a
    positive; 1 without a negative, as :func:`pr_curve` and scikit-learn give it: every flag is
    then a true one)."""
    p, n = tp[-1], fp[-1]
    if p <= 0:
        return np.nan, np.nan
    if n <= 0:
        return np.nan, 1.0
    tpr, fpr = tp / p, fp / n
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))
    flagged = tp + fp
    prec = np.divide(tp, flagged, out=np.zeros_like(tp), where=flagged > 0)
    ap = float(np.sum(np.diff(tpr) * prec[1:]))
    return auc, ap


def _complete(df: pd.DataFrame, score: str, outcome: str) -> tuple[np.ndarray, np.ndarray, dict]:
    s = score_values(df, score)
    y = outcome_values(df, outcome)
    used = ~np.isnan(s) & ~np.isnan(y)
    info = {
        "n_rows": len(used),
        "n_used": int(used.sum()),
        "n_missing_score": int(np.isnan(s).sum()),
        "n_missing_outcome": int(np.isnan(y).sum()),
    }
    return s[used], y[used], info | {"mask": used}


def _attach(frame: pd.DataFrame, info: dict) -> pd.DataFrame:
    frame.attrs.update({k: v for k, v in info.items() if k != "mask"})
    return frame


def roc_curve(df: pd.DataFrame, score: str, outcome: str, direction: str = "below") -> pd.DataFrame:
    """ROC points ``threshold, flagged, tp, fp, fpr, tpr`` from (0, 0) to (1, 1).

    ``.attrs`` carries ``auc`` and the used / missing row counts.
    """
    s, y, info = _complete(df, score, outcome)
    prep = _prepare(s, y, direction)
    tp, fp = _points(prep)
    p, n = tp[-1], fp[-1]
    if p == 0 or n == 0:
        raise DataError(
            f"column '{outcome}': ROC needs both outcomes; found {plural(p, 'positive')} and "
            f"{plural(n, 'negative')}"
        )
    frame = pd.DataFrame(
        {
            "threshold": prep.thresholds,
            "flagged": (tp + fp).astype(np.int64),
            "tp": tp.astype(np.int64),
            "fp": fp.astype(np.int64),
            "fpr": fp / n,
            "tpr": tp / p,
        }
    )
    info["auc"] = _auc_ap(tp, fp)[0]
    return _attach(frame, info)


def pr_curve(df: pd.DataFrame, score: str, outcome: str, direction: str = "below") -> pd.DataFrame:
    """Precision-recall points ``threshold, flagged, tp, fp, recall, precision``.

    Precision is NaN at the first point (nobody flagged). ``.attrs`` carries
    ``average_precision`` and ``prevalence`` (the precision of flagging everyone at random).
    """
    s, y, info = _complete(df, score, outcome)
    prep = _prepare(s, y, direction)
    tp, fp = _points(prep)
    p = tp[-1]
    if p == 0:
        raise DataError(f"column '{outcome}': a PR curve needs at least one positive outcome")
    flagged = tp + fp
    precision = np.full(flagged.shape, np.nan)
    np.divide(tp, flagged, out=precision, where=flagged > 0)
    frame = pd.DataFrame(
        {
            "threshold": prep.thresholds,
            "flagged": flagged.astype(np.int64),
            "tp": tp.astype(np.int64),
            "fp": fp.astype(np.int64),
            "recall": tp / p,
            "precision": precision,
        }
    )
    info["average_precision"] = _auc_ap(tp, fp)[1] if fp[-1] > 0 else 1.0
    info["prevalence"] = float(p / flagged[-1])
    return _attach(frame, info)


def auc(df: pd.DataFrame, score: str, outcome: str, direction: str = "below") -> float:
    """Trapezoid ROC AUC (the Mann-Whitney probability that a positive ranks riskier), of the
    rows with both a score and an outcome; rows left out are warned about with their counts
    (:class:`~srmsim.stats.StatsWarning`): a bare number cannot say it rests on part of the data."""
    curve = roc_curve(df, score, outcome, direction)
    _warn_left_out("auc", curve.attrs)
    return float(curve.attrs["auc"])


def average_precision(
    df: pd.DataFrame, score: str, outcome: str, direction: str = "below"
) -> float:
    """Average precision: the area under the step PR curve, of the complete rows (rows left
    out are warned about, as for :func:`auc`)."""
    curve = pr_curve(df, score, outcome, direction)
    _warn_left_out("average_precision", curve.attrs)
    return float(curve.attrs["average_precision"])


def _warn_left_out(what: str, info: dict) -> None:
    """Warn when rows without a score or an outcome were left out of ``what`` (the curves
    keep the same counts in their ``attrs``; a row may lack both)."""
    score, outcome = info["n_missing_score"], info["n_missing_outcome"]
    if score or outcome:
        missing = ", ".join(p for p in (f"{score:,} without a score" if score else "",
                                         f"{outcome:,} without an outcome" if outcome else "") if p)
        left = info["n_rows"] - info["n_used"]
        warnings.warn(f"{what} is of the {info['n_used']:,} rows with both a score and an "
                      f"outcome; {left:,} left out ({missing}; a row may lack both)",
                      StatsWarning, stacklevel=3)


def auc_arrays(risk: np.ndarray, y: np.ndarray) -> float:
    """ROC AUC for arrays where a higher ``risk`` means more at risk (NaN if one class is absent).

    ``y`` holds 0/1 outcomes (or booleans), one per risk; missing values are refused.
    """
    risk, y = complete_pairs(risk, y)
    prep = _prepare(risk, y, "above")
    return _auc_ap(*_points(prep))[0]


def cluster_bootstrap_weights(
    codes: np.ndarray, n_clusters: int, rng: np.random.Generator
) -> np.ndarray:
    """Row weights for one replicate: each cluster drawn with replacement, all its rows together.

    ``codes`` are cluster indices 0..n_clusters-1 per row; the weight of a row is the number of
    times its cluster was drawn (0 if not drawn), so the replicate is a union of whole clusters.
    """
    return _cluster_draws(n_clusters, rng)[codes]


def _cluster_draws(n_clusters: int, rng: np.random.Generator) -> np.ndarray:
    """How many times each cluster is drawn in one replicate (``n_clusters`` draws)."""
    drawn = rng.integers(0, n_clusters, size=n_clusters)
    return np.bincount(drawn, minlength=n_clusters).astype(float)


def bootstrap_weights(
    codes: np.ndarray | None, n_rows: int, n_boot: int, seed: int | np.random.Generator
) -> Iterator[np.ndarray]:
    """Yield ``n_boot`` weight vectors: over clusters if ``codes`` is given, else over rows."""
    if codes is None:
        codes = np.arange(n_rows)
    n_clusters = int(codes.max()) + 1 if codes.size else 0
    for draws in bootstrap_draws(n_clusters, n_boot, seed):
        yield draws[codes]


def bootstrap_draws(n_clusters: int, n_boot: int, seed: int | np.random.Generator
                    ) -> Iterator[np.ndarray]:
    """Yield ``n_boot`` replicates' draws of each cluster (of :func:`bootstrap_weights`: its
    weights are these at each row's cluster, from the same seed)."""
    n_boot = whole_number(n_boot, "n_boot", 1, MAX_REPEATS)
    rng = np.random.default_rng(seed_value(seed))
    for _ in range(n_boot):
        yield _cluster_draws(n_clusters, rng)


def _interp_right(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Linear interpolation on a non-decreasing ``xp`` that may repeat (vertical ROC steps).

    At a repeated ``xp`` the last (highest) value wins, which is the ROC convention.
    """
    j = np.searchsorted(xp, x, side="right") - 1
    j = np.clip(j, 0, xp.size - 1)
    nxt = np.minimum(j + 1, xp.size - 1)
    dx = xp[nxt] - xp[j]
    frac = np.divide(x - xp[j], dx, out=np.zeros_like(x, dtype=float), where=dx > 0)
    return fp[j] + frac * (fp[nxt] - fp[j])


def _roc_on_grid(tp: np.ndarray, fp: np.ndarray, grid: np.ndarray) -> np.ndarray:
    return _interp_right(grid, fp / fp[-1], tp / tp[-1])


def _pr_on_grid(tp: np.ndarray, fp: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Interpolated precision: the best precision at any recall >= r (monotone, well defined)."""
    recall = tp / tp[-1]
    flagged = tp + fp
    prec = np.divide(tp, flagged, out=np.zeros_like(tp), where=flagged > 0)
    best = np.maximum.accumulate(prec[::-1])[::-1]
    j = np.searchsorted(recall, grid, side="left")
    j = np.clip(j, 0, recall.size - 1)
    return best[j]


def interval_text(low: float, high: float) -> str:
    """``0.381-0.448``, or ``no interval`` when the bootstrap gave none (NaN: too few
    replicates defined a curve), for labels that would otherwise read ``nan-nan``."""
    if math.isnan(low) or math.isnan(high):
        return "no interval"
    return f"{low:.3f}-{high:.3f}"


@dataclass
class CurveBands:
    """Point estimates and percentile bands for ROC, PR, AUC and average precision.

    ``roc`` has ``fpr, tpr, tpr_low, tpr_high`` on a grid of false-positive rates; ``pr`` has
    ``recall, precision, precision_low, precision_high`` (interpolated precision). Replicates in
    which the resampled schools hold no positive or no negative outcome cannot define a curve;
    they are counted in ``n_undefined`` and left out of the percentiles; when fewer than
    :func:`min_replicates` remain, the bands and intervals are NaN (``summary`` says why).
    """

    roc: pd.DataFrame
    pr: pd.DataFrame
    auc: float
    auc_low: float
    auc_high: float
    average_precision: float
    ap_low: float
    ap_high: float
    n_boot: int
    n_undefined: int
    n_clusters: int
    cluster: str | None
    level: float
    n_used: int
    n_missing_score: int
    n_missing_outcome: int
    auc_samples: np.ndarray = field(repr=False)
    ap_samples: np.ndarray = field(repr=False)
    withheld: str = ""
    """Why the bands and intervals are NaN though enough replicates defined them (real data:
    a replicate rested on too few students; see :func:`bootstrap_curves`), else empty."""

    def summary(self) -> str:
        unit = f"{self.n_clusters} {self.cluster} clusters" if self.cluster else "rows (iid)"
        pct = percent_level(self.level)
        defined = self.n_boot - self.n_undefined
        if self.withheld:
            return (f"AUC {self.auc:.3f}; average precision {self.average_precision:.3f}; no "
                    f"{pct} CI: bootstrap over {unit}, {self.withheld}")
        if math.isnan(self.auc_low):  # too few replicates defined a curve for an interval
            fewest = min_replicates(self.level)
            return (f"AUC {self.auc:.3f}; average precision {self.average_precision:.3f}; no "
                    f"{pct} CI: bootstrap over {unit}, {self.n_boot} replicates, only "
                    f"{defined} with both outcomes, fewer than the {fewest} an interval needs "
                    "(use more replicates)")
        few = (f"; only {self.n_clusters} clusters: a bootstrap over so few understates the "
               "uncertainty (too narrow to trust)"
               if self.cluster and self.n_clusters < FEW_CLUSTERS else "")
        return (
            f"AUC {self.auc:.3f} ({pct} CI {self.auc_low:.3f}-{self.auc_high:.3f}); "
            f"average precision {self.average_precision:.3f} "
            f"({self.ap_low:.3f}-{self.ap_high:.3f}); bootstrap over {unit}, "
            f"{self.n_boot} replicates, {self.n_undefined} undefined{few}"
        )


#: clusters below which a cluster bootstrap's interval is said to be too narrow to trust (with
#: 2 schools there are 3 distinct resamples; coverage of cluster bootstraps falls well below
#: nominal with fewer than 10-20 clusters)
FEW_CLUSTERS = 10

#: rows drawn in all (replicates x rows) from which a bootstrap shows a progress bar: about
#: 10 s on the project's machine
LONG_BOOTSTRAP = 100_000_000


def bootstrap_curves(
    df: pd.DataFrame,
    score: str,
    outcome: str,
    direction: str = "below",
    cluster: str | None = "school",
    n_boot: int = 500,
    seed: int | np.random.Generator = 0,
    level: float = 0.95,
    grid_points: int = 101,
    protect: int | None = None,
    progress: bool = False,
) -> CurveBands:
    """ROC and PR curves with percentile bands from a bootstrap that resamples ``cluster``.

    ``cluster=None`` resamples rows (students) instead; use it only when rows are independent.
    ``protect=10`` is for real pupils' data: a percentile's end is one replicate's own AUC or
    AP, and with few schools a replicate can be one school drawn every time, so when any
    replicate draws fewer than ``protect`` distinct students with, or without, the outcome
    (AP 1/3 is one pupil with the outcome ranked third), the bands and intervals are NaN and
    ``withheld`` says why: they are not narrowed to the other replicates (a different interval).
    Same seed, same bands. ``n_boot`` is a whole number from :func:`min_replicates` (40 at the
    default 95% level) to 100,000, ``seed`` from 0 to 2**63 - 1 (or a numpy Generator),
    ``grid_points`` from 2 to 100,000 (``n_boot x grid_points`` at most 20,000,000), ``level``
    strictly in (0, 1). ``progress``: a progress bar on standard error when the bootstrap is
    long (:data:`LONG_BOOTSTRAP` rows drawn in all): 100,000 replicates of 3 million rows run
    for about half an hour, and without it the command printed nothing meanwhile.
    """
    n_boot = whole_number(n_boot, "n_boot", 1, MAX_REPEATS)
    seed = seed_value(seed)
    level = level_value(level)
    fewest = min_replicates(level)
    if n_boot < fewest:
        raise DataError(f"n_boot={n_boot:,} is too few for a {percent_level(level)} interval: "
                        f"a percentile interval needs at least {fewest:,} replicates (2 / (1 - "
                        "level)), so that each tail holds one")
    grid_points = whole_number(grid_points, "grid_points", 2, MAX_GRID_POINTS)
    if protect is not None:
        protect = whole_number(protect, "protect", 1, MAX_COUNT)
    if n_boot * grid_points > MAX_BAND_VALUES:  # every replicate's ROC and PR curve is kept
        raise DataError(f"n_boot={n_boot:,} x grid_points={grid_points:,}: "
                        f"{n_boot * grid_points:,} curve values to keep, more than "
                        f"{MAX_BAND_VALUES:,}; use fewer replicates or grid points")
    s, y, info = _complete(df, score, outcome)
    mask = info["mask"]
    if cluster is not None:
        codes_all, labels = cluster_codes(df, cluster)
        codes = pd.factorize(codes_all[mask], sort=True)[0].astype(np.int64)
        n_clusters = int(codes.max()) + 1 if codes.size else 0
        if n_clusters < 2:  # every replicate is the same data: a "95% CI" of zero width
            raise DataError(
                f"column '{cluster}': the bootstrap resamples whole clusters, but every row used "
                f"is in one ({labels[codes_all[mask]][0]!r}), so each replicate is the same data "
                "and the interval would have zero width; pass cluster=None to resample students "
                "(if they are independent)")
    else:
        codes = None
        n_clusters = int(s.size)
    prep = _prepare(s, y, direction)
    tp, fp = _points(prep)
    if tp[-1] == 0 or fp[-1] == 0:
        raise DataError(
            f"column '{outcome}': curves need both outcomes; found {plural(tp[-1], 'positive')} "
            f"and {plural(fp[-1], 'negative')}"
        )
    grid = np.linspace(0.0, 1.0, grid_points)
    auc0, ap0 = _auc_ap(tp, fp)
    roc0 = _roc_on_grid(tp, fp, grid)
    pr0 = _pr_on_grid(tp, fp, grid)
    # each row's cluster, in score order (rows: a cluster each)
    sorted_codes = np.arange(s.size) if codes is None else codes[prep.order]
    # counted once into (tie group x cluster) where that is no larger than the rows
    table = ClusterTable(prep.y, prep.ends, sorted_codes, n_clusters) \
        if codes is not None and ClusterTable.fits(prep.ends.size, n_clusters, s.size) else None
    aucs, aps, rocs, prs = [], [], [], []
    n_undefined = 0
    fewest_drawn = np.inf  # fewest distinct students with, or without, the outcome drawn
    replicates = bootstrap_draws(n_clusters, n_boot, seed)
    if progress and n_boot * s.size >= LONG_BOOTSTRAP:
        from srmsim.progress import progress_bar

        replicates = progress_bar(iterable=replicates, total=n_boot, desc="bootstrap",
                                  unit="replicate", leave=False)
    for draws in replicates:
        if table is not None:
            btp, bfp = table.points(draws)
            pos, rows = table.drawn(draws) if protect is not None else (0, 0)
        else:
            w = draws[sorted_codes]
            btp, bfp = _points(prep, w)
            if protect is not None:
                drawn = w > 0
                pos = int(np.count_nonzero(drawn & (prep.y == 1)))
                rows = int(np.count_nonzero(drawn))
        if protect is not None:
            fewest_drawn = min(fewest_drawn, pos, rows - pos)
        if btp[-1] <= 0 or bfp[-1] <= 0:
            n_undefined += 1
            continue
        a, p = _auc_ap(btp, bfp)
        aucs.append(a)
        aps.append(p)
        rocs.append(_roc_on_grid(btp, bfp, grid))
        prs.append(_pr_on_grid(btp, bfp, grid))
    lo_q, hi_q = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    # the replicates that define a curve must be enough for the interval on their own, as
    # n_boot must: 26 defined of 40 gave a "95% CI" between the extreme replicates
    if len(aucs) >= fewest:
        roc_lo, roc_hi = np.percentile(np.array(rocs), [lo_q, hi_q], axis=0)
        pr_lo, pr_hi = np.percentile(np.array(prs), [lo_q, hi_q], axis=0)
        auc_lo, auc_hi = np.percentile(aucs, [lo_q, hi_q])
        ap_lo, ap_hi = np.percentile(aps, [lo_q, hi_q])
    withheld = ""
    if protect is not None and fewest_drawn < protect:  # before "only k defined": with the
        # seed, which replicates are undefined says which schools hold none with the outcome
        what = f"{cluster} clusters" if cluster is not None else "rows"
        withheld = (f"withheld: some replicates draw {what} holding fewer than {protect} "
                    "students with, or without, the outcome, and an end of the interval can be "
                    "their own AUC or AP (real data; see docs/privacy.md)")
    if len(aucs) < fewest or withheld:
        roc_lo = roc_hi = pr_lo = pr_hi = np.full(grid.size, np.nan)
        auc_lo = auc_hi = ap_lo = ap_hi = np.nan
    return CurveBands(
        roc=pd.DataFrame({"fpr": grid, "tpr": roc0, "tpr_low": roc_lo, "tpr_high": roc_hi}),
        pr=pd.DataFrame(
            {"recall": grid, "precision": pr0, "precision_low": pr_lo, "precision_high": pr_hi}
        ),
        auc=auc0,
        auc_low=float(auc_lo),
        auc_high=float(auc_hi),
        average_precision=ap0,
        ap_low=float(ap_lo),
        ap_high=float(ap_hi),
        n_boot=n_boot,
        n_undefined=n_undefined,
        n_clusters=n_clusters,
        cluster=cluster,
        level=level,
        n_used=info["n_used"],
        n_missing_score=info["n_missing_score"],
        n_missing_outcome=info["n_missing_outcome"],
        auc_samples=np.asarray(aucs) if not withheld else np.array([]),
        ap_samples=np.asarray(aps) if not withheld else np.array([]),
        withheld=withheld,
    )
