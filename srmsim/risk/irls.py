"""Logistic regression by iteratively reweighted least squares on numpy: the fast solver.

:func:`srmsim.risk.fit_logistic` fits with statsmodels by default (``solver="statsmodels"``):
``GLM(Binomial)`` for maximum likelihood, ``fit_regularized(L1_wt=0)`` (BFGS) for the ridge
fallback. Those carry a lot of per-fit machinery (a least-squares solve by SVD at every step, a
pseudo-inverse for the standard errors, a general-purpose optimiser for the ridge), which the
simulation's central pool pays at every refit of a 100,000-student trust. ``solver="newton"``
maximises the same (penalised) log-likelihood here with Newton's method -- for the logit link that
is IRLS, the algorithm statsmodels uses for the unpenalised fit -- solving the small normal
equations by Cholesky. It starts where statsmodels does (``mu = (y + 1/2) / 2``), stops on the
same scale (a step that changes the deviance by less than ``1e-8``) and reports the same
problems (perfect separation, no convergence in 100 iterations), so the two solvers agree to
about ``1e-9`` in the coefficients of a maximum-likelihood fit (``1e-14`` on the pool's data). The ridge fit is the exact optimum of statsmodels'
objective ``-loglike / n + sum(alpha * b**2) / 2``, which BFGS reaches only to its gradient
tolerance: there the two agree to about ``1e-5`` (``tests/test_risk_models.py`` checks both).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, special

#: statsmodels' IRLS tolerance: converged when the deviance changes by less than this
TOL = 1e-8
MAX_ITER = 100


@dataclass
class NewtonFit:
    params: np.ndarray
    #: inverse of the (penalised) information matrix at ``params``: the covariance of an
    #: unpenalised fit
    cov: np.ndarray
    converged: bool
    #: every fitted probability equals its outcome (statsmodels' PerfectSeparationWarning)
    separated: bool
    iterations: int


#: rows per block of the information matrix: the weighted copy of a block stays in cache
BLOCK = 8192


def _deviance(event: np.ndarray, mu: np.ndarray) -> float:
    """-2 log-likelihood of 0/1 outcomes (``event`` is ``y > 0``)."""
    with np.errstate(divide="ignore"):
        return float(-2.0 * np.log(np.where(event, mu, 1.0 - mu)).sum())


def _information(X: np.ndarray, w: np.ndarray, penalty: np.ndarray) -> np.ndarray:
    """X' diag(w) X + diag(penalty), a block of rows at a time."""
    out = np.diag(penalty).astype(np.float64)
    for start in range(0, len(X), BLOCK):
        block = X[start:start + BLOCK]
        out += (block * w[start:start + BLOCK, None]).T @ block
    return out


def newton_logistic(X: np.ndarray, y: np.ndarray, offset: np.ndarray | None = None,
                    alpha: np.ndarray | None = None, maxiter: int = MAX_ITER,
                    tol: float = TOL, start_params: np.ndarray | None = None) -> NewtonFit:
    """Maximise ``loglike(b) - n / 2 * sum(alpha * b**2)`` for ``y ~ X b + offset``.

    ``alpha`` (one per column, 0 = unpenalised) is statsmodels' ``fit_regularized`` ``alpha``;
    ``None`` is maximum likelihood. A step is halved until it does not raise the (penalised)
    deviance. Converged once a step's predicted change of the deviance (the Newton decrement
    ``g' H^-1 g``, which the full step attains in the quadratic region) is below ``tol``: that
    last step is taken without computing the deviance it leads to.

    ``start_params`` (one per column) is a warm start, such as the last fit of a model refitted
    each term on similar records: Newton's steps then start there instead of at statsmodels'
    first least-squares step. The optimum is the same to the tolerance, reached in fewer steps
    from near it (the covariance, taken at the last iterate but one, moves by about 1e-5 of its
    value). A start that fits worse than the intercept alone (or is non-finite or of the wrong
    shape) is not used: from probabilities of 0 and 1 Newton's method has nothing to go on.
    """
    n, p = X.shape
    off = np.zeros(n) if offset is None else np.asarray(offset, dtype=np.float64)
    penalty = np.zeros(p) if alpha is None else n * np.asarray(alpha, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    event = y > 0
    warm = _warm_start(X, y, event, off, penalty, start_params)
    if warm is None:  # the first step as statsmodels takes it: least squares from (y + 1/2) / 2
        mu = (y + 0.5) / 2
        params, objective = np.zeros(p), np.inf
    else:
        params, mu, objective = warm
    converged = separated = False
    hessian = np.eye(p)
    iteration = 0
    for iteration in range(1, maxiter + 1):  # noqa: B007 - the count is reported
        w = mu * (1.0 - mu)
        hessian = _information(X, w, penalty)
        if iteration == 1 and warm is None:
            z = special.logit(mu) - off + (y - mu) / w  # working response
            step = _solve(hessian, X.T @ (w * z)) - params
        else:
            gradient = X.T @ (y - mu) - penalty * params
            step = _solve(hessian, gradient)
            if float(gradient @ step) <= tol:
                params = params + step
                converged = bool(np.all(np.isfinite(params)))
                break
        if not np.all(np.isfinite(step)):
            break
        for _ in range(30):  # step halving: never accept a worse (penalised) deviance
            trial = params + step
            mu = special.expit(X @ trial + off)
            new_objective = _deviance(event, mu) + float(penalty @ trial**2)
            if new_objective <= objective + 1e-12 * abs(objective):
                break
            step /= 2
        params, objective = trial, new_objective
        if np.max(np.abs(mu - y)) <= 1e-8:  # np.allclose(mu - y, 0), as statsmodels checks
            separated = True
    try:  # the information at the last iterate but one, as statsmodels' IRLS reports it
        cov = linalg.inv(hessian)
    except (linalg.LinAlgError, ValueError):
        cov = np.full((p, p), np.nan)
    return NewtonFit(params, cov, converged, separated, iteration)


def _warm_start(X: np.ndarray, y: np.ndarray, event: np.ndarray, off: np.ndarray,
                penalty: np.ndarray, start_params: np.ndarray | None
                ) -> tuple[np.ndarray, np.ndarray, float] | None:
    """``start_params`` with their probabilities and (penalised) deviance, if they are a start
    to take: finite, one per column, and fitting better than the intercept alone."""
    if start_params is None:
        return None
    start = np.asarray(start_params, dtype=np.float64)
    if start.shape != (X.shape[1],) or not np.all(np.isfinite(start)):
        return None
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        mu = special.expit(X @ start + off)
        objective = _deviance(event, mu) + float(penalty @ start**2)
        rate = float(np.mean(y))
        null = -2.0 * len(y) * (rate * np.log(rate) + (1.0 - rate) * np.log1p(-rate))
    if not objective < null:  # NaN too: worse than a constant, or nothing to compare with
        return None
    return start, mu, objective


def _solve(hessian: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve the normal equations (Cholesky; least squares if the matrix is not positive
    definite, which a rank-deficient design makes it)."""
    try:
        return linalg.cho_solve(linalg.cho_factor(hessian), rhs)
    except (linalg.LinAlgError, ValueError):
        return np.linalg.lstsq(hessian, rhs, rcond=None)[0]
