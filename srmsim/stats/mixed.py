"""Random-intercept models on statsmodels MixedLM, guarded against wrong fits that claim success.

Why the guard: statsmodels 0.15 ``MixedLM.fit`` with the default L-BFGS optimiser can return, on
the High School and Beyond data, a "converged" fit with zero school variance, intercept 0.505 and
an infinite log-likelihood (seen with statsmodels 0.15 on High School and Beyond). So every fit here is tried with several
optimisers; an attempt is rejected when it raised a numerical error (any other exception is a
bug, raised), did not converge, has a non-finite or
inconsistent log-likelihood, non-finite estimates or standard errors, or a negative variance.
Among sound attempts the highest log-likelihood wins (so a zero group variance that another
optimiser beats is never returned), then a short BFGS polish from the winner tightens the
optimum. The search runs on the outcome divided by its SD and the result is re-expressed in the
outcome's units, so the fit does not depend on them (the stopping rules are absolute). When no attempt is sound an :class:`~srmsim.errors.EstimationError` lists every
optimiser and why it was rejected; a number is never returned silently.

Inference for fixed effects uses t with between-within degrees of freedom (see
:func:`srmsim.stats._inference.between_within_df`): a school-level term gets G - p_between df.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.regression.mixed_linear_model import MixedLM

from srmsim.errors import DataError, EstimationError
from srmsim.labels import agree, given_percent, p_text, plural

from . import _checks as ck
from ._inference import between_within_df, cr2_sandwich, critical_value, wald
from .regression import CENTRE_FROM, centring

DEFAULT_OPTIMIZERS: tuple[str, ...] = ("lbfgs", "bfgs", "powell", "nm")
"""All are fitted and compared (the order only matters for ties). "cg" is accepted too but left
out by default: on these models it is several times slower and in our checks never the best."""

_BOUNDARY = 1e-8  # group variance below this fraction of the residual variance is "at zero"

#: what a statsmodels fit (or likelihood evaluation) raises when the numbers fail: a singular
#: matrix (LinAlgError is a ValueError), NaN reaching scipy's optimisers (ValueError), an
#: overflow or a division by zero. Only these make an attempt "failed"; anything else (a
#: TypeError, an AttributeError) is a bug in the call, raised, never recorded as an optimiser
#: that failed while the other optimisers carried the fit
_FIT_ERRORS: tuple[type[Exception], ...] = (ValueError, ArithmeticError)


@dataclass
class FitAttempt:
    """One optimiser's try: kept so users can see which fits were rejected and why."""

    optimizer: str
    status: str  # "accepted", "rejected" or "failed"
    reason: str = ""
    loglik: float = math.nan
    group_variance: float = math.nan
    warnings: list[str] = field(default_factory=list)


def _group_variance(result) -> float:
    cov = np.asarray(result.cov_re, dtype=float)
    return float(cov[0, 0]) if cov.size else math.nan


def _judge(model: MixedLM, result) -> str:
    """Reason a fit is unsound, or '' when it passes every check."""
    if not getattr(result, "converged", False):
        return "optimiser did not converge"
    llf = float(result.llf)
    if not math.isfinite(llf):
        return f"log-likelihood is not finite ({llf})"
    try:
        again = float(model.loglike(result.params_object, profile_fe=False))
    except _FIT_ERRORS as err:  # a numerical failure to re-evaluate means unsound
        return f"log-likelihood cannot be re-evaluated at the estimates ({err})"
    if not math.isclose(again, llf, rel_tol=1e-6, abs_tol=1e-6):
        return f"reported log-likelihood {llf:.6g} differs from its re-evaluation {again:.6g}"
    fe = np.asarray(result.fe_params, dtype=float)
    bse = np.asarray(result.bse_fe, dtype=float)
    if not (np.all(np.isfinite(fe)) and np.all(np.isfinite(bse))):
        return "fixed-effect estimates or standard errors are not finite"
    if np.any(bse <= 0):
        return "a fixed-effect standard error is zero or negative"
    gv = _group_variance(result)
    if not math.isfinite(gv) or gv < 0:
        return f"group variance {gv} is not a finite non-negative number"
    if not (math.isfinite(float(result.scale)) and float(result.scale) > 0):
        return f"residual variance {result.scale} is not positive"
    return ""


#: what the fit log (each attempt's warnings) says of a fit near zero group variance
BOUNDARY_COVARIANCE = ("fixed-effect covariance (X' V^-1 X)^-1 sigma^2 at the fitted variances "
                       "(group variance near zero: the joint Hessian's is not used)")


def _fixed_covariance(model: MixedLM, result) -> np.ndarray:
    """(X' V^-1 X)^-1 sigma^2, with V the fitted marginal covariance in units of sigma^2
    (1 + gamma 1 1' within a group, gamma = tau^2 / sigma^2): the fixed effects' covariance
    lme4 and SAS report. Within a group V^-1 = I - gamma / (1 + gamma n) 1 1'."""
    gamma = float(np.asarray(result.params_object.cov_re, dtype=float)[0, 0])
    k = int(model.k_fe)
    info = np.zeros((k, k))
    for Xg in model.exog_li:
        sums = Xg.sum(axis=0)
        info += Xg.T @ Xg - gamma / (1.0 + gamma * len(Xg)) * np.outer(sums, sums)
    return float(result.scale) * np.linalg.inv(info)


def _boundary_covariance(model: MixedLM, result, attempt: FitAttempt | None = None) -> None:
    """At a group variance near zero (at most :data:`_NEAR_BOUNDARY` of the residual's) the
    fixed effects' covariance becomes :func:`_fixed_covariance`, as lme4 and SAS report it.

    Why: statsmodels inverts the joint Hessian of the fixed effects and the variance, which at
    the boundary is not a maximum's curvature (the slope in the group variance is not zero):
    in 13 of 300 stepped wedges of 4 schools x 4 periods x 5 pupils with no school effect every
    optimiser's treatment SE was NaN (a negative variance) or the fit raised, and the analysis
    was refused "no sound fit with any optimiser"; where finite, a period effect's SE was 0.22
    where OLS's (the same model at zero group variance) is 0.36. Only the fixed-effect block
    (and its covariances with the variance parameter, set to 0) is replaced; interior fits
    keep statsmodels' covariance."""
    if not (math.isfinite(float(result.llf))  # (an unsound fit is _judge's to refuse)
            and _group_variance(result) <= _NEAR_BOUNDARY * float(result.scale)):
        return
    with np.errstate(all="ignore"):
        try:
            cov = _fixed_covariance(model, result)
        except np.linalg.LinAlgError:
            return  # (X has full rank, so not expected): statsmodels' own is judged
    k = cov.shape[0]
    inner = getattr(result, "_results", result)  # (a wrapper's attributes are its own)
    scaled = np.array(inner.normalized_cov_params, dtype=float)
    scaled[:k, :] = scaled[:, :k] = 0.0
    scaled[:k, :k] = cov / float(inner.scale)  # cov_params() = normalized * scale
    inner.normalized_cov_params = scaled
    inner.__dict__.pop("_cache", None)  # bse_fe, bse, tvalues... cached from the Hessian's
    if attempt is not None and BOUNDARY_COVARIANCE not in attempt.warnings:
        attempt.warnings.append(BOUNDARY_COVARIANCE)


def _try_fit(model, optimizer: str, reml: bool, **kwargs) -> tuple[Any | None, FitAttempt]:
    attempt = FitAttempt(optimizer=optimizer, status="failed")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with np.errstate(all="ignore"):
                result = model.fit(reml=reml, method=optimizer, **kwargs)
        except _FIT_ERRORS as err:  # recorded and reported (the fit log, the notes)
            attempt.reason = f"{type(err).__name__}: {err}"
            attempt.warnings = sorted({str(w.message) for w in caught})
            return None, attempt
    attempt.warnings = sorted({str(w.message) for w in caught})
    attempt.loglik = float(result.llf)
    attempt.group_variance = _group_variance(result)
    if getattr(result, "converged", False):
        _boundary_covariance(model, result, attempt)  # before the SEs are judged
    reason = _judge(model, result)
    if reason:
        attempt.status, attempt.reason = "rejected", reason
        return None, attempt
    attempt.status = "accepted"
    return result, attempt


def check_identified(groups: np.ndarray) -> None:
    """Refuse a random intercept whose variance components the data cannot separate.

    With one member per group, each observation carries its own group effect and residual, so
    the likelihood depends on tau^2 + sigma^2 only: it is flat along that line and any split an
    optimiser returns (and any ICC from it) is arbitrary.
    """
    sizes = np.bincount(np.asarray(groups))
    sizes = sizes[sizes > 0]
    if sizes.max() < 2:
        raise EstimationError(
            f"every one of the {sizes.size} groups has a single member: the group and residual "
            "variances are not identified (only their sum is; the likelihood is flat), so no "
            "ICC can be estimated; a random intercept needs groups with 2+ members"
        )


_NO_WITHIN = 1e-6
"""Within-group residual spread (root mean square, once the fixed terms and the group means are
fitted) at or below this fraction of the fixed part's residual spread is no within-group
variation: the fit is refused (see :func:`require_within_variation`)."""


def require_within_variation(y: np.ndarray, X: pd.DataFrame | np.ndarray,
                             groups: np.ndarray) -> None:
    """Refuse an outcome that does not vary within groups once the fixed terms are fitted.

    Why: the residual variance is then zero, where the random-intercept likelihood grows without
    bound, and MixedLM returned a "converged" fit that was wrong while only a boundary note was
    printed: 20 groups of 10 with every member of a group alike got a group variance of 0.07
    (the group means' is 1.26), an intercept 0.21 off the grand mean (balanced groups: every
    GLS estimate is that mean) and an SE of 0.07 (0.25). Within-group spread of 1e-7 of the
    outcome's gave errors of 5-25% in the group variance. Each group is then one value: its
    mean is the data. The within residuals come from the fixed terms with the group means
    removed (Frisch-Waugh-Lovell), so no column per group is formed.
    """
    y = np.asarray(y, dtype=float)
    A = np.asarray(X, dtype=float)
    counts = np.bincount(groups).astype(float)
    counts[counts == 0] = 1.0
    both = np.column_stack([y, A])
    means = np.stack([np.bincount(groups, weights=both[:, j], minlength=counts.size)
                      for j in range(both.shape[1])], axis=1) / counts[:, None]
    within = both - means[groups]
    y_w, A_w = within[:, 0], within[:, 1:]
    # columns constant within every group (the intercept, a school-level arm) vanish here
    keep = np.sqrt((A_w**2).sum(axis=0)) > 1e-12 * np.sqrt((A**2).sum(axis=0))
    resid_w = y_w
    if keep.any():
        resid_w = y_w - A_w[:, keep] @ np.linalg.lstsq(A_w[:, keep], y_w, rcond=None)[0]
    resid = y - A @ np.linalg.lstsq(A, y, rcond=None)[0]
    total = float(np.sqrt(np.mean(resid**2)))
    spread = float(np.sqrt(np.mean(resid_w**2)))
    if spread <= _NO_WITHIN * total:
        raise EstimationError(
            f"mixed model: the outcome does not vary within the groups once the fixed terms "
            f"are fitted (within-group spread {spread / total:.1g} of the total): the residual "
            "variance is (close to) zero, where the random-intercept likelihood has no maximum "
            "the optimisers can locate and the fit's estimates and standard errors are wrong "
            "(not only within-group ones); each group is a single value, so "
            "analyse one row per group (its mean), e.g. with method='ols' on the group means")


def boundary_warning(group_variance: float, residual_variance: float, notes: list[str]) -> None:
    """Warn (and note) when the best fit sits on the edge of the parameter space."""
    if group_variance <= _BOUNDARY * residual_variance:
        ck.warn(
            "group variance is estimated at zero (boundary of the parameter space): the data "
            "show no between-group variation beyond chance, the ICC is 0, and tests of the "
            "group variance are non-standard (the usual chi-square p-value is too large); "
            "the fixed effects' SEs are from (X' V^-1 X)^-1 sigma^2, as lme4 and SAS report "
            "them (statsmodels' joint Hessian is not a maximum's curvature there)",
            notes, stacklevel=4,
        )
    elif group_variance <= _NEAR_BOUNDARY * residual_variance:
        notes.append(f"group variance is near zero ({group_variance / residual_variance:.1g} "
                     "of the residual variance): the fixed effects' SEs are from "
                     "(X' V^-1 X)^-1 sigma^2, as lme4 and SAS report them")
    elif residual_variance <= _BOUNDARY * group_variance:
        ck.warn(
            "residual variance is estimated at zero (boundary): members of a group have "
            "(almost) identical outcomes, the ICC is 1 and within-group inference is unreliable",
            notes, stacklevel=4,
        )


#: MixedLM.fit's methods (statsmodels refuses "newton" and "ncg" for MixedLM: "method newton not
#: available", which was recorded as a failed fit and reported as "no sound fit with any
#: optimiser ... check that groups have several members", blaming the data)
_OPTIMIZERS = ("lbfgs", "bfgs", "powell", "nm", "cg")


def _checked_arrays(y: object, X: object, groups: object) -> tuple[np.ndarray, pd.DataFrame,
                                                                   np.ndarray]:
    """fit_mixedlm is public and takes arrays: they get the checks the table estimators give
    their columns (NaN in X was a LAPACK 'SVD did not converge', text or missing groups a numpy
    casting TypeError, a y of 1e-200 a ZeroDivisionError, lengths that differ a ValueError from
    statsmodels). Group labels of any kind become codes; integer codes are kept as given."""
    try:
        y = np.asarray(y, dtype=float)
        if isinstance(X, pd.DataFrame):
            frame = X
        else:
            values = np.asarray(X, dtype=float)
            frame = pd.DataFrame(values.reshape(-1, 1) if values.ndim == 1 else values
                                 ).rename(columns=lambda j: f"x{j}")
        A = frame.to_numpy(dtype=float)
    except (TypeError, ValueError) as err:
        raise DataError(f"fit_mixedlm: y and X must be numeric ({err})") from None
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    g = np.asarray(groups)
    if y.ndim != 1 or A.ndim != 2 or g.ndim != 1 or not (len(y) == len(A) == len(g)):
        raise DataError(f"fit_mixedlm: y of shape {np.shape(y)}, X {A.shape} and groups "
                        f"{g.shape} must have one entry (X: one row) per observation")
    for what, values in (("y", y[:, None]), ("X", A)):
        bad = ~np.isfinite(values) | (np.abs(values) > ck.LARGEST_VALUE)
        if bad.any():
            row = int(np.flatnonzero(bad.any(axis=1))[0])
            raise DataError(f"fit_mixedlm: {what} holds {float(values[bad][0])!r} at position {row}: "
                            "give complete, finite rows (random_intercept drops and counts "
                            f"missing ones) and values within +-{ck.LARGEST_VALUE:g}")
    top = float(np.abs(y).max(initial=0.0))
    if 0.0 < top < ck.SMALLEST_SCALE:
        raise DataError(f"fit_mixedlm: every y is within +-{ck.SMALLEST_SCALE:g} of 0, where "
                        "squares underflow to 0 and every variance vanishes; rescale it")
    if not (np.issubdtype(g.dtype, np.integer) and g.min(initial=0) >= 0):
        codes = pd.factorize(g)[0]  # labels of any kind
        if (codes < 0).any():
            raise DataError(f"fit_mixedlm: groups has a missing label at position "
                            f"{int(np.flatnonzero(codes < 0)[0])}")
        g = codes
    return y, frame, g


def _has_constant(X: pd.DataFrame) -> bool:
    """Whether a column of ``X`` is a nonzero constant (an intercept: shifting y moves it only)."""
    A = X.to_numpy(dtype=float)
    return bool(((A == A[:1]).all(axis=0) & (A[:1] != 0)).any()) if len(A) else False


def fit_mixedlm(
    y: np.ndarray,
    X: pd.DataFrame,
    groups: np.ndarray,
    *,
    reml: bool = True,
    optimizers: Sequence[str] = DEFAULT_OPTIMIZERS,
    polish: bool = True,
) -> tuple[Any, list[FitAttempt], str]:
    """Fit a random-intercept MixedLM robustly; returns (result, attempts, chosen optimiser).

    Raises EstimationError listing every attempt when none is sound.
    """
    if isinstance(optimizers, str):  # one name, not its letters ('l', 'b', 'f', 'g', 's')
        optimizers = (optimizers,)
    if not optimizers:
        raise EstimationError("no optimisers given for the mixed model")
    for name in optimizers:
        ck.check_choice(name, _OPTIMIZERS, "optimizer")
    y, X, groups = _checked_arrays(y, X, groups)
    check_identified(groups)
    ck.require_fit_residuals(y, X, "mixed model")
    require_within_variation(y, X, np.asarray(groups))
    unit = float(np.std(y)) or 1.0
    # an outcome far from zero beside its spread (1e9 + y) is searched centred: uncentred, its
    # profile likelihood lost digits and the group variance came out 4e-5 of itself off; an
    # ordinary outcome is searched as it is (centred, the optimisers stopped short of a group
    # variance of zero more often: 6 boundary fits of 40 were no longer called so)
    far = CENTRE_FROM < ck._parts_of_size(y) < math.inf and _has_constant(X)
    centre = float(np.mean(y)) if far else 0.0
    model = MixedLM((y - centre) / unit, X, groups=groups)  # the search, in units of the outcome's SD
    best, best_name, attempts = None, "", []
    for name in optimizers:
        result, attempt = _try_fit(model, name, reml)
        attempts.append(attempt)
        if result is not None and (best is None or result.llf > best.llf):
            best, best_name = result, name
    if best is None:
        detail = "; ".join(f"{a.optimizer}: {a.reason}" for a in attempts)
        raise EstimationError(
            f"mixed model ({'REML' if reml else 'ML'}) has no sound fit with any optimiser "
            f"({detail}); check that groups have several members and the outcome varies"
        )
    if polish:
        result, attempt = _try_fit(
            model, "bfgs", reml, start_params=best.params_object, gtol=1e-10, maxiter=200
        )
        attempt.optimizer = f"bfgs polish from {best_name}"
        if result is not None and result.llf < best.llf - 1e-9:
            attempt.status, attempt.reason = "rejected", "lower log-likelihood than its start"
            result = None
        attempts.append(attempt)
        if result is not None:
            best, best_name = result, attempt.optimizer
    if polish and _group_variance(best) <= _NEAR_BOUNDARY * float(best.scale):
        result, attempt = _at_boundary(model, best, reml)
        attempts.append(attempt)
        if result is not None:
            best, best_name = result, attempt.optimizer
    return _in_outcome_units(MixedLM(y, X, groups=groups), best, reml, unit, attempts), attempts, \
        best_name


_NEAR_BOUNDARY = 1e-6
"""A best group variance below this fraction of the residual variance is compared with the
fit at :data:`_AT_BOUNDARY` (:func:`_at_boundary`)."""

_AT_BOUNDARY = 1e-10
"""The group variance, as a fraction of the residual one, at which the boundary candidate is
evaluated: statsmodels' likelihood breaks down below about 1e-12 (singular covariance; at 0
exactly it is infinite) and is still exact at 1e-10."""


def _at_boundary(model: MixedLM, best, reml: bool) -> tuple[Any | None, FitAttempt]:
    """The fit with the group variance at the boundary, when it beats ``best`` (else None).

    Why: where the likelihood's maximum is at zero group variance the optimisers stop where its
    slope flattens, anywhere from 1e-10 to 3e-8 of the residual variance depending on the
    rounding of the outcome, so the same data searched centred or not (y and y + 1e9) were or
    were not called boundary fits (:data:`_BOUNDARY`, 1e-8). Evaluated (not iterated) at
    :data:`_AT_BOUNDARY` and kept when its log-likelihood is at least the best's.
    """
    from statsmodels.regression.mixed_linear_model import MixedLMParams

    name = f"group variance at the boundary ({_AT_BOUNDARY:g} of the residual)"
    attempt = FitAttempt(optimizer=name, status="failed")
    start = MixedLMParams.from_components(np.asarray(best.fe_params, dtype=float),
                                          np.full((1, 1), _AT_BOUNDARY))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # maxiter=0 'did not converge': nothing is searched
        try:
            with np.errstate(all="ignore"):
                result = model.fit(reml=reml, method="bfgs", start_params=start, maxiter=0)
        except _FIT_ERRORS as err:  # recorded, the best fit stands
            attempt.reason = f"{type(err).__name__}: {err}"
            return None, attempt
    result.converged = True  # the likelihood is evaluated at a point, not searched
    attempt.loglik, attempt.group_variance = float(result.llf), _group_variance(result)
    _boundary_covariance(model, result, attempt)
    reason = _judge(model, result)
    if not reason and not result.llf >= best.llf:
        reason = "lower log-likelihood than the best fit's (its maximum is not at zero)"
    if reason:
        attempt.status, attempt.reason = "rejected", reason
        return None, attempt
    attempt.status = "accepted"
    return result, attempt


def _in_outcome_units(model: MixedLM, best, reml: bool, unit: float,
                      attempts: list[FitAttempt]) -> Any:
    """The fit found on y / SD(y), re-expressed for y itself.

    Why: the optimisers' stopping rules are absolute, so the same data in pence or in pounds gave
    ICCs differing in the 4th digit (a polish that converged in one unit failed in the other).
    MixedLM optimises only the variance ratio (fixed effects and the residual variance are
    profiled out), which does not depend on units: the original-units result is evaluated at the
    ratio found (no further iteration), so rescaling y rescales every output exactly.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # maxiter=0 'did not converge': the search is done
        with np.errstate(all="ignore"):
            result = model.fit(reml=reml, method="bfgs", start_params=best.params_object,
                               maxiter=0)
    result.converged = best.converged
    _boundary_covariance(model, result)
    reason = _judge(model, result)
    if reason:
        raise EstimationError(f"mixed model: the fit found on the standardised outcome is not "
                              f"sound in the outcome's units ({reason}); rescale the outcome "
                              "(e.g. to thousands, or to SD units)")
    shift = float(result.llf) - float(best.llf)
    for attempt in attempts:
        attempt.loglik += shift
        attempt.group_variance *= unit**2
    return result


def attempts_frame(attempts: Sequence[FitAttempt]) -> pd.DataFrame:
    """The optimiser log: optimizer, status, reason, loglik, group_variance, warnings."""
    return pd.DataFrame(
        {
            "optimizer": [a.optimizer for a in attempts],
            "status": [a.status for a in attempts],
            "reason": [a.reason for a in attempts],
            "loglik": [a.loglik for a in attempts],
            "group_variance": [a.group_variance for a in attempts],
            "warnings": ["; ".join(a.warnings) for a in attempts],
        }
    )


def fixed_effects_table(
    result, X: pd.DataFrame, codes: np.ndarray, alpha: float, back: np.ndarray | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """Fixed effects with t(between-within df) intervals; returns (table, df per term).
    ``back``: the fit was on ``X @ back`` (:func:`~srmsim.stats.regression.centring`), whose
    estimates and covariance are re-expressed for ``X``'s own columns."""
    est = np.asarray(result.fe_params, dtype=float)
    se = np.asarray(result.bse_fe, dtype=float)
    if back is not None:
        k = est.size
        cov = back @ np.asarray(result.cov_params(), dtype=float)[:k, :k] @ back.T
        est, se = back @ est, np.sqrt(np.diag(cov))
    dfs = between_within_df(X.to_numpy(dtype=float), codes)
    if (dfs < 1).any():  # t(1) was used here: a finite interval for an unidentified term
        names = [t for t, d in zip(X.columns, dfs, strict=True) if d < 1]
        raise EstimationError(
            f"mixed model: {agree(len(names), 'term')} {ck._listing(names)} "
            f"{agree(len(names), 'has', 'have')} {int(dfs.min())} between-within degrees of "
            f"freedom ({int(codes.max()) + 1} groups, {len(codes)} rows, {dfs.size} terms): as "
            "many group-level terms as groups (e.g. one school per arm) leave nothing to tell "
            "the effect from the groups' own random effects, so no standard error or interval "
            "exists; more groups are needed")
    lo, hi, p = wald(est, se, dfs, alpha)
    table = pd.DataFrame(
        {"estimate": est, "se": se, "ci_low": lo, "ci_high": hi, "p_value": p, "df": dfs},
        index=pd.Index(list(X.columns), name="term"),
    )
    return table, dfs


def cluster_robust_covariance(result: Any) -> np.ndarray:
    """CR2 (by group) covariance of a random-intercept fit's fixed effects: the sandwich of
    the GLS estimator with each group's residuals bias-reduced, the fitted model as its
    working model, as clubSandwich's ``vcovCR(type = "CR2")`` takes it for an lme fit (not
    compared with clubSandwich's numbers here).

    Why: the model-based covariance trusts that a school intercept is the only thing its
    students share. Where a school's year groups differ beyond it (a school x year shock),
    terms that vary by year within a school (arm x year group of a school-randomised trial)
    are far less certain than it says, and their joint test rejected a true "no difference"
    in 28.5% of 200 simulated trials of 12 schools. The sandwich needs no such assumption:
    in the Hotelling form CR1's (the plain sandwich with G/(G-1)) rejected 8.5% of them, this
    CR2 6.5% (tests/test_trial_joint234.py). Computed as :func:`cr2_sandwich` of the
    quasi-demeaned rows (x - theta_g mean_g(x), theta_g = 1 - sqrt(s2 / (s2 + n_g tau2)),
    V_g^(-1/2) up to 1 / s, which cancels): their least squares are the GLS fit, with iid
    errors when the model holds."""
    model = result.model
    X = np.asarray(model.exog, dtype=float)
    y = np.asarray(model.endog, dtype=float)
    _, codes = np.unique(np.asarray(model.groups), return_inverse=True)
    tau2 = max(_group_variance(result), 0.0)
    s2 = float(result.scale)
    sizes = np.bincount(codes).astype(float)
    theta = (1.0 - np.sqrt(s2 / (s2 + sizes * tau2)))[codes]

    def demeaned(a: np.ndarray) -> np.ndarray:
        sums = np.zeros((sizes.size,) + a.shape[1:])
        np.add.at(sums, codes, a)
        means = sums / sizes.reshape((-1,) + (1,) * (a.ndim - 1))
        return a - theta.reshape((-1,) + (1,) * (a.ndim - 1)) * means[codes]

    Xt = demeaned(X)
    resid = demeaned(y - X @ np.asarray(result.fe_params, dtype=float))
    return cr2_sandwich(Xt, resid, codes, terms=[])[0]


@dataclass
class RandomInterceptFit:
    """A sound random-intercept fit: fixed effects, variance components, ICC and the fit log."""

    fixed: pd.DataFrame
    group_variance: float
    residual_variance: float
    loglik: float
    reml: bool
    optimizer: str
    attempts: pd.DataFrame
    n: int
    n_groups: int
    outcome: str
    group: str
    missing: ck.MissingReport
    alpha: float
    result: object = field(repr=False)
    notes: list[str] = field(default_factory=list)

    @property
    def icc(self) -> float:
        """Share of outcome variance between groups: tau^2 / (tau^2 + sigma^2)."""
        return self.group_variance / (self.group_variance + self.residual_variance)

    @property
    def rows_dropped(self) -> int:
        return self.missing.n_dropped

    @property
    def at_boundary(self) -> bool:
        """True when the best fit puts the group variance at zero (a genuine boundary optimum)."""
        return self.group_variance <= _BOUNDARY * self.residual_variance

    def conf_int(self, alpha: float | None = None) -> pd.DataFrame:
        """Fixed-effect intervals at another level, using the same between-within df."""
        a = self.alpha if alpha is None else ck.check_alpha(alpha)
        crit = np.array([critical_value(a, d) for d in self.fixed["df"]])
        est, se = self.fixed["estimate"].to_numpy(), self.fixed["se"].to_numpy()
        return pd.DataFrame(
            {"ci_low": est - crit * se, "ci_high": est + crit * se}, index=self.fixed.index
        )

    def summary(self) -> str:
        kind = "REML" if self.reml else "ML"
        lines = [
            f"Random-intercept model ({kind}) for {self.outcome!r}, groups {self.group!r}",
            f"  {plural(self.n, 'row')} in {plural(self.n_groups, 'group')}; "
            f"{self.missing.describe()}",
            f"  optimiser: {self.optimizer}; log-likelihood {self.loglik:.4f}",
            f"  group variance {self.group_variance:.4f}, residual variance "
            f"{self.residual_variance:.4f}, ICC {self.icc:.3f}",
            f"  fixed effects ({given_percent(1 - self.alpha)} CI, t with between-within df):",
            self.fixed.to_string(float_format=lambda v: f"{v:.4f}", formatters={"p_value": p_text}),
        ]
        rejected = self.attempts[self.attempts["status"] != "accepted"]
        for _, row in rejected.iterrows():
            lines.append(f"  note: optimiser {row['optimizer']} {row['status']}: {row['reason']}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def random_intercept(
    df: pd.DataFrame,
    outcome: str,
    group: str,
    covariates: Sequence[str] = (),
    reml: bool = True,
    *,
    alpha: float = 0.05,
    optimizers: Sequence[str] = DEFAULT_OPTIMIZERS,
) -> RandomInterceptFit:
    """Fit ``outcome ~ 1 + covariates + (1 | group)`` and return a checked fit.

    >>> fit = random_intercept(df, outcome="MathAch", group="School")   # doctest: +SKIP
    >>> round(fit.icc, 3)                                                 # doctest: +SKIP
    0.18
    """
    ck.require_frame(df)
    covariates = ck.as_list(covariates)
    alpha = ck.check_alpha(alpha)
    ck.single_columns({"outcome": outcome, "group": group})
    ck.distinct_roles({"outcome": outcome, "group": group, "covariate": covariates})
    ck.require_columns(df, {"outcome": outcome, "group": group, "covariate": covariates})
    ck.numeric_column(df, outcome, "outcome")
    ck.require_some_values(df, outcome, "outcome")
    data, missing = ck.drop_incomplete(df, [outcome, group, *covariates])
    notes: list[str] = []
    X = pd.concat(
        [
            pd.DataFrame({"Intercept": np.ones(len(data))}),
            ck.covariate_block(data, covariates, notes),
        ],
        axis=1,
    )
    ck.check_full_rank(X, protected=list(X.columns), context="random-intercept model")
    codes = ck.group_codes(data[group])
    n_groups = int(codes.max()) + 1
    if n_groups < 2:
        raise DataError(f"group column {group!r} has a single group; a random intercept needs 2+")
    y = ck.numeric_column(data, outcome, "outcome").to_numpy()
    ck.require_variation(y, outcome)
    back = centring(X.to_numpy(dtype=float))  # a covariate of 1e6 + x: fitted as x - mean
    if back is not None:
        far = [c for c, b in zip(X.columns, back[0], strict=True) if b and c != "Intercept"]
        notes.append(f"{agree(len(far), 'covariate')} {ck._listing(far)} "
                     f"{agree(len(far), 'is', 'are')} far from zero beside "
                     f"{agree(len(far), 'its', 'their')} spread: fitted centred at "
                     f"{agree(len(far), 'its mean', 'their means')} (the statsmodels result is "
                     "that fit); the table's intercept is re-expressed at zero")
    fitted = X if back is None else pd.DataFrame(X.to_numpy(dtype=float) @ back,
                                                 columns=X.columns)
    result, attempts, chosen = fit_mixedlm(y, fitted, codes, reml=reml, optimizers=optimizers)
    fixed, _ = fixed_effects_table(result, X, codes, alpha, back)
    fit = RandomInterceptFit(
        fixed=fixed,
        group_variance=_group_variance(result),
        residual_variance=float(result.scale),
        loglik=float(result.llf),
        reml=reml,
        optimizer=chosen,
        attempts=attempts_frame(attempts),
        n=len(data),
        n_groups=n_groups,
        outcome=outcome,
        group=group,
        missing=missing,
        alpha=alpha,
        result=result,
        notes=notes,
    )
    boundary_warning(fit.group_variance, fit.residual_variance, fit.notes)
    return fit
