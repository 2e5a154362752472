"""Risk models a trust would compare: a rule, a logistic score, per-school, pooled, partially pooled.

Every model has the same two calls so the simulation's central pool (and any analyst) can swap
them: ``fit(df, outcome, features, school="school")`` on a DataFrame of pseudonymised student
profiles, then ``predict_proba(df)`` (alias ``predict``) returning one probability per row, NaN
where a feature is missing. Fitting with missing features or outcome is an error unless the model
was built with ``drop_missing=True``; then the rows dropped are counted in ``n_dropped_``.

Fitting choices, and why:

* Logistic fits use statsmodels ``GLM(Binomial)`` (IRLS). If the maximum-likelihood fit shows
  (quasi-)perfect separation, fails to converge, has a rank-deficient design or a coefficient
  beyond ``|10|`` per SD, the fit falls back to a ridge fit (statsmodels
  ``fit_regularized(L1_wt=0)``, intercept unpenalised, penalty equal to a normal prior with SD
  ``ridge_sd`` on standardised coefficients). The fallback is recorded in ``fit_method_`` and
  ``notes_`` and announced with a :class:`RiskModelWarning`. An outcome with no events (or no
  non-events) cannot be fitted and raises :class:`~srmsim.errors.EstimationError`.
  ``solver="newton"`` (any model) fits the same likelihood and penalty with numpy instead
  (:mod:`srmsim.risk.irls`): several times faster, equal within ``1e-9`` in the coefficients of a
  maximum-likelihood fit and within ``1e-4`` of statsmodels' ridge fit (whose optimiser stops at
  a gradient tolerance; Newton's method reaches the optimum). The simulation's central pool uses
  it (:mod:`srmsim.policy.pool_model`).
* ``PerSchoolRisk`` fits one logistic per school; a school with fewer than ``min_events`` events
  or non-events uses the pooled model instead (listed in ``fallback_schools_``), as do schools
  never seen in training.
* ``PartiallyPooledRisk`` is a logistic model with a school random intercept (a GLMM), fitted
  by maximising the marginal likelihood over the coefficients and the between-school SD
  ``tau_`` jointly (adaptive Gauss-Hermite quadrature per school, analytic gradient, L-BFGS).
  Each school's intercept is then its empirical-Bayes posterior mean: shrunk toward the pooled
  model the more, the smaller and noisier the school. Unseen schools get intercept 0. The fit is
  accepted only at a checked stationary point (gradient below 1e-4 per row), never on an
  optimiser's word alone; otherwise it raises EstimationError.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special

from srmsim.errors import DataError, EstimationError
from srmsim.labels import agree, excerpt, plural
from srmsim.risk._columns import (
    complete_pairs,
    complete_risks,
    group_codes,
    outcome_array,
    outcome_values,
    require_columns,
    seed_value,
    share_value,
    sorted_labels,
)
from srmsim.risk.design import FeatureDesign
from srmsim.risk.irls import newton_logistic
from srmsim.risk.rules import Condition, count_score
from srmsim.stats._checks import LARGEST_VALUE, MAX_COUNT, finite_number, whole_number

MAX_ABS_COEF = 10.0
"""A coefficient beyond this (per SD of a feature) signals quasi-separation: use the ridge fit."""


class RiskModelWarning(UserWarning):
    """A risk model used a fallback (ridge fit, pooled model for a small school)."""


# --------------------------------------------------------------------------- logistic core


@dataclass
class LogisticFit:
    """Coefficients of one logistic fit; ``bse`` (standard errors) is NaN for a ridge fit."""

    params: np.ndarray
    bse: np.ndarray
    method: str
    notes: list[str]


SOLVERS = ("statsmodels", "newton")


def fit_logistic(
    X: np.ndarray,
    y: np.ndarray,
    offset: np.ndarray | None = None,
    ridge_sd: float = 2.5,
    what: str = "logistic model",
    solver: str = "statsmodels",
    start_params: np.ndarray | None = None,
) -> LogisticFit:
    """Fit ``y ~ X`` (first column the intercept) by ML, or by ridge if ML is unsound.

    ``X``'s columns are taken as standardised numeric features or 0/1 dummies, as
    :class:`srmsim.risk.design.FeatureDesign` makes them: a coefficient beyond
    ``MAX_ABS_COEF`` (10) counts as quasi-separation and the ridge prior's SD is
    ``ridge_sd``, both per unit of a column. A raw feature on another scale (attendance in
    sessions, a score out of 100) should be standardised first, or its legitimate coefficient
    may be read as separation and its penalty be too weak or too strong.
    ``method`` is "mle" or "ridge"; the ridge fallback is announced with a RiskModelWarning.
    ``solver="newton"`` fits the same likelihood and penalty with numpy
    (:mod:`srmsim.risk.irls`), many times faster and equal within ``1e-9`` (ML) or ``1e-5``
    (ridge) in the coefficients. ``start_params`` (newton only: one per column of ``X``) is a
    warm start, such as an earlier fit on similar data: the same optimum, in fewer steps.
    """
    if solver not in SOLVERS:
        raise DataError(f"{what}: solver must be one of {list(SOLVERS)}, got {excerpt(solver)}")
    if start_params is not None and solver != "newton":
        raise DataError(f"{what}: start_params is for solver='newton' only")
    try:
        X = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as err:
        raise DataError(f"{what}: X must be a matrix of numbers ({err})") from None
    if X.ndim != 2 or X.shape[1] == 0:
        raise DataError(f"{what}: X must be a 2-d design matrix with an intercept column, got "
                        f"shape {X.shape}")
    if not finite_number(ridge_sd, "ridge_sd") > 0:  # 0 divided by zero; -1 was taken as 1
        raise DataError(f"ridge_sd={ridge_sd!r} must be a positive number")
    if offset is not None:
        try:
            offset = np.asarray(offset, dtype=float)
        except (TypeError, ValueError) as err:
            raise DataError(f"{what}: offset must be numbers, one per row ({err})") from None
        if offset.shape != (X.shape[0],):
            raise DataError(f"{what}: offset must hold one number per row ({X.shape[0]}), got "
                            f"shape {offset.shape}")
    # beyond 1e150 the information matrix X'X overflows (numpy's eigensolver then raised)
    if _beyond(X) or (offset is not None and _beyond(offset)):
        raise DataError(f"{what}: the design matrix (or offset) holds missing, infinite or "
                        f"values beyond +-{LARGEST_VALUE:g}; leave those rows out and rescale "
                        "very large features")
    n, p = X.shape
    if start_params is not None:
        start_params = _start_values(start_params, p, what)
    y = outcome_array(y, "y", n)
    if np.isnan(y).any():
        raise DataError(f"{what}: {plural(int(np.isnan(y).sum()), 'outcome')} missing; leave those rows "
                        "out first")
    n_pos = float(y.sum())
    if n == 0:
        raise EstimationError(f"{what}: no rows to fit")
    if n_pos == 0 or n_pos == n:
        kind = "no events" if n_pos == 0 else "only events"
        raise EstimationError(f"{what}: outcome has {kind} in {n} training rows; cannot fit")
    notes: list[str] = []
    problem = None
    if not _full_rank(X):
        problem = "rank-deficient design (a feature is constant or collinear)"
    elif solver == "newton":
        fit = newton_logistic(X, y, offset, start_params=start_params)
        params, bse = fit.params, np.sqrt(np.diag(fit.cov))
        problem = _ml_problem(params, fit.converged, fit.separated)
        if problem is None:
            return LogisticFit(params, bse, "mle", notes)
    else:
        from statsmodels.tools.sm_exceptions import (
            ConvergenceWarning,
            PerfectSeparationError,
            PerfectSeparationWarning,
        )

        model = _binomial_glm(y, X, offset)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                res = model.fit(maxiter=100)
                params = np.asarray(res.params, dtype=float)
                bse = np.asarray(res.bse, dtype=float)
                converged = bool(res.converged)
            except (PerfectSeparationError, np.linalg.LinAlgError, ValueError) as err:
                params, bse, converged = np.full(p, np.nan), np.full(p, np.nan), False
                problem = f"maximum likelihood failed ({type(err).__name__})"
        cats = {w.category for w in caught}
        if problem is None:
            problem = _ml_problem(params, converged and ConvergenceWarning not in cats,
                                  PerfectSeparationWarning in cats)
        if problem is None:
            return LogisticFit(params, bse, "mle", notes)
    alpha = np.full(p, 1.0 / (n * ridge_sd**2))
    alpha[0] = 0.0
    if solver == "newton":
        fit = newton_logistic(X, y, offset, alpha=alpha, start_params=start_params)
        if not fit.converged or not np.all(np.isfinite(fit.params)):
            raise EstimationError(f"{what}: {problem}, and the ridge fallback failed too")
        return _ridge_fit(fit.params, what, problem, ridge_sd, notes)
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    model = _binomial_glm(y, X, offset)
    base = np.log(n_pos / (n - n_pos))
    start = np.zeros(p)
    start[0] = base - (0.0 if offset is None else float(np.mean(offset)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = model.fit_regularized(alpha=alpha, L1_wt=0.0, start_params=start)
    params = np.asarray(res.params, dtype=float)
    if not np.all(np.isfinite(params)) or any(
        issubclass(w.category, ConvergenceWarning) for w in caught
    ):
        raise EstimationError(f"{what}: {problem}, and the ridge fallback failed too")
    return _ridge_fit(params, what, problem, ridge_sd, notes)


def _start_values(start: object, p: int, what: str) -> np.ndarray:
    """``start_params`` checked: ``p`` finite numbers, one per column of the design."""
    try:
        values = np.asarray(start, dtype=float)
    except (TypeError, ValueError) as err:
        raise DataError(f"{what}: start_params must be numbers ({err})") from None
    if values.shape != (p,) or not np.all(np.isfinite(values)):
        raise DataError(f"{what}: start_params must be {p} finite numbers, one per column of "
                        f"X, got shape {values.shape}" + (
                            "" if values.shape != (p,) else " with a missing or infinite one"))
    return values


def _beyond(values: np.ndarray) -> bool:
    """Whether ``values`` hold a NaN, an infinity or a value beyond +-``LARGEST_VALUE``: from
    their largest and smallest (a NaN makes both NaN), two passes without a temporary array."""
    if values.size == 0:
        return False
    return not (values.max() <= LARGEST_VALUE and values.min() >= -LARGEST_VALUE)


def _binomial_glm(y: np.ndarray, X: np.ndarray, offset: np.ndarray | None) -> Any:
    """statsmodels' logistic GLM, imported here: the simulation's own fits (solver "newton")
    need neither statsmodels nor scipy.stats, which take a second to import in every run."""
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM

    return GLM(y, X, family=families.Binomial(), offset=offset)


def _full_rank(X: np.ndarray) -> bool:
    """``np.linalg.matrix_rank(X) == p``, without the SVD of a tall X when its Gram matrix shows
    it plainly: a smallest eigenvalue above 1e-10 of the largest puts the singular values'
    ratio near 1e-5, far above matrix_rank's tolerance (rows x machine epsilon)."""
    eigen = np.linalg.eigvalsh(X.T @ X)
    if np.all(np.isfinite(eigen)) and eigen[0] > 1e-10 * eigen[-1] > 0:
        return True
    return bool(np.linalg.matrix_rank(X) == X.shape[1])


def _ml_problem(params: np.ndarray, converged: bool, separated: bool) -> str | None:
    """Why a maximum-likelihood fit is unsound (then the ridge fit is used), or None."""
    if separated:
        return "perfect separation"
    if not converged:
        return "maximum likelihood did not converge"
    if not np.all(np.isfinite(params)):
        return "non-finite coefficients"
    if len(params) > 1 and np.max(np.abs(params[1:])) > MAX_ABS_COEF:
        return "quasi-separation (a coefficient beyond 10 per SD)"
    return None


def _ridge_fit(params: np.ndarray, what: str, problem: str | None, ridge_sd: float,
               notes: list[str]) -> LogisticFit:
    note = f"{what}: {problem}; used ridge fit (normal prior SD {ridge_sd} per SD of feature)"
    notes.append(note)
    warnings.warn(note, RiskModelWarning, stacklevel=4)
    return LogisticFit(params, np.full(len(params), np.nan), "ridge", notes)


def _expit_dot(X: np.ndarray, params: np.ndarray, offset: np.ndarray | float = 0.0) -> np.ndarray:
    return special.expit(X @ params + offset)


# --------------------------------------------------------------------------- base class


def _id_kind(ids: pd.Series) -> str:
    """What a column of ids holds, as :meth:`RiskModel._school_ids` compares it: numbers (of
    any width: 3 and 3.0 are one school), text, true/false, or pandas' name for anything else."""
    if isinstance(ids.dtype, pd.CategoricalDtype):  # the kind of its labels
        ids = pd.Series(ids.cat.categories)
    kind = pd.api.types.infer_dtype(ids, skipna=True)
    if kind in ("integer", "floating", "mixed-integer-float", "decimal"):
        return "numbers"
    return {"string": "text", "boolean": "true/false"}.get(kind, kind)


class RiskModel:
    """Common interface: ``fit(df, outcome, features, school)`` then ``predict_proba(df)``."""

    name = "risk model"

    def __init__(
        self,
        reference_levels: Mapping[str, object] | None = None,
        drop_missing: bool = False,
        ridge_sd: float = 2.5,
        solver: str = "statsmodels",
    ):
        if solver not in SOLVERS:
            raise DataError(f"{self.name}: solver must be one of {list(SOLVERS)}, got {excerpt(solver)}")
        if reference_levels is not None and not isinstance(reference_levels, Mapping):
            raise DataError(f"{self.name}: reference_levels must map feature names to their "
                            f"reference level, got {type(reference_levels).__name__}")
        if not isinstance(drop_missing, bool | np.bool_):  # "no" would be true: rows dropped
            raise DataError(f"{self.name}: drop_missing must be True or False, got "
                            f"{drop_missing!r}")
        self.reference_levels = dict(reference_levels or {})
        self.drop_missing = bool(drop_missing)
        if not finite_number(ridge_sd, "ridge_sd") > 0:
            raise DataError(f"ridge_sd={ridge_sd!r} must be a positive number")
        self.ridge_sd = ridge_sd
        self.solver = solver
        self.notes_: list[str] = []

    # -- shared preparation
    def _features(self, features: Sequence[str] | str | None) -> list[str]:
        if not features:
            raise DataError(f"{self.name}: give at least one feature")
        return [features] if isinstance(features, str) else list(features)

    def _fit_design(self, features: list[str], rows: pd.DataFrame) -> np.ndarray:
        self.design_ = FeatureDesign(features, self.reference_levels).fit(rows)
        return self.design_.transform(rows)

    def _training_rows(
        self, df: pd.DataFrame, outcome: str, features: Sequence[str], school: str | None
    ) -> tuple[pd.DataFrame, np.ndarray]:
        cols = list(features) + ([school] if school else [])
        require_columns(df, [outcome, *cols])
        y = outcome_values(df, outcome)
        missing = np.isnan(y) | df[cols].isna().any(axis=1).to_numpy()
        if missing.any():
            if not self.drop_missing:
                counts = {c: int(df[c].isna().sum()) for c in [outcome, *cols] if df[c].isna().any()}
                raise DataError(
                    f"{self.name}: {plural(missing.sum(), 'training row')} "
                    f"{agree(int(missing.sum()), 'has', 'have')} missing values "
                    f"(missing per column: {counts}); fill them or use drop_missing=True"
                )
            self.notes_.append(f"dropped {int(missing.sum())} training rows with missing values")
        self.n_dropped_ = int(missing.sum())
        keep = ~missing
        return df.loc[keep], y[keep]

    def fit(
        self,
        df: pd.DataFrame,
        outcome: str,
        features: Sequence[str] | None = None,
        school: str = "school",
    ) -> RiskModel:
        raise NotImplementedError

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Alias of :meth:`predict_proba` (the simulation engine calls ``predict``)."""
        return self.predict_proba(df)

    def _check_fitted(self) -> None:
        if not hasattr(self, "outcome_"):
            raise EstimationError(f"{self.name}: call fit() before predict_proba()")

    def _school_ids(self, df: pd.DataFrame, school: str, fitting: bool = False) -> pd.Series:
        """The school column, checked to hold ids of the kind the model was fitted on. A school
        the model has not seen gets the pooled model, so ids read back as text (``"3"`` after
        ``read_csv(dtype=str)``) made every school unseen and every risk the pooled one,
        without a word: refused, as a feature's change of type is."""
        require_columns(df, [school], "school")
        ids = df[school]
        kind = _id_kind(ids)
        if fitting:
            self.school_kind_ = kind
        elif kind not in (getattr(self, "school_kind_", kind), "empty"):
            raise DataError(f"column '{school}': school ids were {self.school_kind_} in "
                            f"training, now {kind}: no school would be recognised; give them "
                            "the type they had when the model was fitted")
        return ids

    def __repr__(self) -> str:
        state = "fitted" if hasattr(self, "outcome_") else "unfitted"
        return f"<{type(self).__name__} {state}>"


# --------------------------------------------------------------------------- rule score


class RuleScore(RiskModel):
    """A count of risk factors, calibrated to the event rate seen at each count in training.

    ``conditions`` are as in :func:`srmsim.risk.count_score`. ``score(df)`` is the raw count;
    ``predict_proba`` maps a count to ``(events + rate) / (students + 1)`` at that count in the
    training data (one pseudo-student at the overall rate keeps empty cells finite); a count
    never seen in training is linearly interpolated between the nearest seen counts (and held
    flat beyond them). ``features`` passed to ``fit`` are ignored: the conditions name them.
    """

    name = "rule score"

    def __init__(self, conditions: Mapping[str, Condition], missing: str = "nan", **kwargs):
        super().__init__(**kwargs)
        self.conditions = dict(conditions)
        self.missing = missing

    def score(self, df: pd.DataFrame) -> np.ndarray:
        return count_score(df, self.conditions, missing=self.missing).to_numpy(dtype=float)

    def fit(
        self,
        df: pd.DataFrame,
        outcome: str,
        features: Sequence[str] | None = None,
        school: str = "school",
    ) -> RuleScore:
        y = outcome_values(df, outcome)
        s = self.score(df)
        missing = np.isnan(y) | np.isnan(s)
        if missing.any() and not self.drop_missing:
            raise DataError(
                f"{self.name}: {plural(missing.sum(), 'training row')} "
                f"{agree(int(missing.sum()), 'has', 'have')} a missing outcome or "
                "rule input; fill them or use drop_missing=True"
            )
        self.n_dropped_ = int(missing.sum())
        s, y = s[~missing], y[~missing]
        if s.size == 0:
            raise EstimationError(f"{self.name}: no training rows")
        rate = float(y.mean())
        levels = np.unique(s)
        events = np.array([y[s == k].sum() for k in levels])
        counts = np.array([(s == k).sum() for k in levels])
        self.levels_ = levels
        self.rates_ = (events + rate) / (counts + 1.0)
        self.outcome_ = outcome
        return self

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        s = self.score(df)
        out = np.full(s.size, np.nan)
        ok = ~np.isnan(s)
        out[ok] = np.interp(s[ok], self.levels_, self.rates_)
        return out

    def rate_table(self) -> pd.DataFrame:
        self._check_fitted()
        return pd.DataFrame({"count": self.levels_, "event_rate": self.rates_})


# --------------------------------------------------------------------------- logistic / pooled


class LogisticRisk(RiskModel):
    """One logistic regression on all training rows; the school column is not used.

    ``fit_method_`` is "mle" or "ridge" (see the module notes); ``coef_`` is a Series by design
    column (numeric features standardised, dummies against ``reference_levels_``).
    """

    name = "logistic risk"

    def fit(
        self,
        df: pd.DataFrame,
        outcome: str,
        features: Sequence[str] | None = None,
        school: str = "school",
        start: LogisticRisk | None = None,
    ) -> LogisticRisk:
        """``start``: an earlier fit of this model on similar rows (the last term's, say),
        whose coefficients, matched by design column, start solver "newton" near the optimum;
        the fit is the same, to the solver's tolerance, in fewer steps."""
        features = self._features(features)
        rows, y = self._training_rows(df, outcome, features, None)
        X = self._fit_design(features, rows)
        fit = fit_logistic(X, y, ridge_sd=self.ridge_sd, what=self.name, solver=self.solver,
                           start_params=self._start_params(start))
        self.params_ = fit.params
        self.bse_ = fit.bse
        self.fit_method_ = fit.method
        self.notes_ += fit.notes
        self.features_ = features
        self.n_train_ = int(y.size)
        self.n_events_ = int(y.sum())
        self.outcome_ = outcome
        return self

    def _start_params(self, start: LogisticRisk | None) -> np.ndarray | None:
        """``start``'s coefficients on this fit's design columns (0 for a column it lacks)."""
        if start is None:
            return None
        if not isinstance(start, LogisticRisk) or not hasattr(start, "params_"):
            raise DataError(f"{self.name}: start must be a fitted logistic risk model")
        if self.solver != "newton":
            raise DataError(f"{self.name}: start is for solver='newton' only")
        return start.coef_.reindex(self.design_.column_names_).fillna(0.0).to_numpy(float)

    @property
    def coef_(self) -> pd.Series:
        self._check_fitted()
        return pd.Series(self.params_, index=self.design_.column_names_)

    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        """Wald intervals per design column (NaN after a ridge fit, which has no valid SE)."""
        from scipy import stats

        level = finite_number(level, "level")
        if not 0 < level < 1:  # 95 gave NaN intervals, 1 infinite ones
            raise DataError(f"level={level!r} must lie strictly between 0 and 1 (e.g. 0.95)")
        z = stats.norm.ppf(0.5 + level / 2)
        coef = self.coef_
        se = pd.Series(self.bse_, index=coef.index)
        return pd.DataFrame({"coef": coef, "se": se, "low": coef - z * se, "high": coef + z * se})

    @property
    def reference_levels_(self) -> dict[str, str]:
        self._check_fitted()
        return dict(self.design_.reference_levels_)

    def linear_predictor(self, df: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        return self.design_.transform(df) @ self.params_

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        return special.expit(self.linear_predictor(df))


class PooledRisk(LogisticRisk):
    """The trust's pooled model: one logistic fitted on every contributing school's records."""

    name = "pooled risk"


class PerSchoolRisk(RiskModel):
    """One logistic per school; small schools and unseen schools use the pooled model.

    ``min_events``: a school needs at least this many events and non-events for its own model.
    """

    name = "per-school risk"

    def __init__(self, min_events: int = 10, **kwargs):
        super().__init__(**kwargs)
        self.min_events = whole_number(min_events, "min_events", 0, MAX_COUNT)

    def fit(
        self,
        df: pd.DataFrame,
        outcome: str,
        features: Sequence[str] | None = None,
        school: str = "school",
    ) -> PerSchoolRisk:
        features = self._features(features)
        rows, y = self._training_rows(df, outcome, features, school)
        self.pooled_ = PooledRisk(
            reference_levels=self.reference_levels, ridge_sd=self.ridge_sd, solver=self.solver
        ).fit(rows.assign(**{outcome: y}), outcome, features, school)
        self.notes_ += self.pooled_.notes_
        design = self.pooled_.design_
        X = design.transform(rows)
        schools = self._school_ids(rows, school, fitting=True).to_numpy()
        self.school_params_: dict[object, np.ndarray] = {}
        self.fallback_schools_: list[object] = []
        for sch in pd.unique(schools):
            m = schools == sch
            ev = int(y[m].sum())
            if ev < self.min_events or int(m.sum()) - ev < self.min_events:
                self.fallback_schools_.append(sch)
                continue
            label = sch.item() if isinstance(sch, np.generic) else sch  # 3, not np.int32(3)
            fit = fit_logistic(
                X[m], y[m], ridge_sd=self.ridge_sd, what=f"{self.name}, school {label!r}",
                solver=self.solver,
            )
            self.school_params_[sch] = fit.params
            self.notes_ += fit.notes
        if self.fallback_schools_:
            # [2, 10], not [np.int32(2), np.int32(10)] (what notebook 06 printed)
            n = len(self.fallback_schools_)
            shown = [s.item() if isinstance(s, np.generic) else s
                     for s in self.fallback_schools_[:10]]
            more = f" and {n - 10:,} more" if n > 10 else ""
            note = (
                f"{plural(n, 'school')} with fewer than {self.min_events} events or "
                f"non-events {agree(n, 'uses', 'use')} the pooled model: "
                f"{', '.join(map(str, shown))}{more}"
            )
            self.notes_.append(note)
            warnings.warn(note, RiskModelWarning, stacklevel=2)
        self.school_ = school
        self.outcome_ = outcome
        return self

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        schools = self._school_ids(df, self.school_).to_numpy()
        X = self.pooled_.design_.transform(df)
        out = special.expit(X @ self.pooled_.params_)
        for sch, params in self.school_params_.items():
            m = schools == sch
            if m.any():
                out[m] = special.expit(X[m] @ params)
        return out


# --------------------------------------------------------------------------- partial pooling


@dataclass
class _AGQ:
    loglik: float
    mean: np.ndarray
    sd: np.ndarray
    mode: np.ndarray
    grad_beta: np.ndarray
    grad_log_tau: float


def _school_integrals(
    X: np.ndarray,
    beta: np.ndarray,
    y: np.ndarray,
    codes: np.ndarray,
    n_groups: int,
    tau: float,
    u0: np.ndarray | None = None,
    n_nodes: int = 12,
) -> _AGQ:
    """Marginal log-likelihood of a random-intercept logistic model and its gradient.

    Each school's intercept u ~ N(0, tau^2) is integrated out by adaptive Gauss-Hermite
    quadrature: nodes centred at the posterior mode with the Laplace scale, so big schools with
    sharp likelihoods are integrated as accurately as small ones. The gradient is the posterior
    expectation of the complete-data score, computed from the same nodes.
    """
    eta = X @ beta
    u = np.zeros(n_groups) if u0 is None else u0.copy()
    inv_t2 = 1.0 / tau**2
    for _ in range(100):
        p = special.expit(eta + u[codes])
        g = np.bincount(codes, y - p, n_groups) - u * inv_t2
        h = np.bincount(codes, p * (1 - p), n_groups) + inv_t2
        step = g / h
        u += step
        if np.max(np.abs(step)) < 1e-10:
            break
    p = special.expit(eta + u[codes])
    scale = 1.0 / np.sqrt(np.bincount(codes, p * (1 - p), n_groups) + inv_t2)
    x, w = np.polynomial.hermite.hermgauss(n_nodes)
    nodes = u[:, None] + np.sqrt(2.0) * scale[:, None] * x[None, :]  # schools x nodes
    z = eta[:, None] + nodes[codes]  # rows x nodes
    ll_rows = y[:, None] * z - np.logaddexp(0.0, z)
    ll = np.column_stack([np.bincount(codes, ll_rows[:, q], n_groups) for q in range(n_nodes)])
    log_prior = -0.5 * nodes**2 * inv_t2 - 0.5 * np.log(2 * np.pi * tau**2)
    log_terms = ll + log_prior + x[None, :] ** 2 + np.log(w)[None, :]
    norm = special.logsumexp(log_terms, axis=1, keepdims=True)
    log_int = norm[:, 0] + np.log(np.sqrt(2.0) * scale)
    post = np.exp(log_terms - norm)  # posterior weight of each node, per school
    mean = np.sum(post * nodes, axis=1)
    second = np.sum(post * nodes**2, axis=1)
    resid = np.sum(post[codes] * (y[:, None] - special.expit(z)), axis=1)
    return _AGQ(
        loglik=float(np.sum(log_int)),
        mean=mean,
        sd=np.sqrt(np.maximum(second - mean**2, 0.0)),
        mode=u,
        grad_beta=X.T @ resid,
        grad_log_tau=float(np.sum(second * inv_t2 - 1.0)),
    )


def _tau_bounds(bounds: object, limits: tuple[float, float]) -> tuple[float, float]:
    """``(low, high)`` of the between-school SD: two finite numbers, ``limits[0] <= low < high
    <= limits[1]``. A zero or negative low bound had a NaN logarithm that the optimiser took as
    no bound, and an infinite one no bound at all, so the fit ran with no limits, silently."""
    what = "tau_bounds (the between-school SD's lower and upper bound)"
    if isinstance(bounds, str | bytes) or not isinstance(bounds, Sequence | np.ndarray) \
            or len(bounds) != 2:
        raise DataError(f"{what} must be a pair (low, high), got {bounds!r}")
    low = finite_number(bounds[0], "tau_bounds[0]")
    high = finite_number(bounds[1], "tau_bounds[1]")
    if not limits[0] <= low < high <= limits[1]:
        raise DataError(f"{what} must satisfy {limits[0]:g} <= low < high <= {limits[1]:g}, "
                        f"got ({low:g}, {high:g})")
    return low, high


class PartiallyPooledRisk(RiskModel):
    """Pooled logistic plus school random intercepts, shrunk toward the pooled model.

    Fitted by maximum marginal likelihood (adaptive Gauss-Hermite quadrature, as ``glmer`` with
    ``nAGQ > 1`` but for one random intercept), the school intercepts then being empirical-Bayes
    posterior means. After fitting: ``tau_`` (between-school SD on the log-odds scale),
    ``coef_`` (the fixed part, for a school with intercept 0), ``school_effects_`` (per school:
    n, events, intercept posterior mean and SD). Unseen schools get intercept 0 (the pooled
    model). If the optimiser does not reach a stationary point the fit raises
    :class:`~srmsim.errors.EstimationError` rather than return a number.
    """

    name = "partially pooled risk"

    #: limits of ``tau_bounds``: below 1e-6 the prior precision 1/tau^2 overflows the quadrature,
    #: and a between-school SD of 100 on the log-odds scale is no shared model at all
    TAU_RANGE = (1e-6, 100.0)
    #: quadrature nodes: one node is the Laplace approximation, which this gradient does not fit,
    #: and the nodes x rows matrix grows with each (glmer allows up to 25)
    MAX_NODES = 50

    def __init__(self, tau_bounds: tuple[float, float] = (1e-3, 5.0), n_nodes: int = 12, **kw):
        super().__init__(**kw)
        self.tau_bounds = _tau_bounds(tau_bounds, self.TAU_RANGE)
        self.n_nodes = whole_number(n_nodes, "n_nodes", 2, self.MAX_NODES,
                                    " (Gauss-Hermite nodes per school)")

    def fit(
        self,
        df: pd.DataFrame,
        outcome: str,
        features: Sequence[str] | None = None,
        school: str = "school",
    ) -> PartiallyPooledRisk:
        features = self._features(features)
        rows, y = self._training_rows(df, outcome, features, school)
        X = self._fit_design(features, rows)
        codes, labels = pd.factorize(self._school_ids(rows, school, fitting=True), sort=True)
        n_groups = len(labels)
        # the starting fit (and its ridge decision) with the model's own solver, as for the
        # other models: solver='newton' had still fitted it with statsmodels
        start = fit_logistic(X, y, ridge_sd=self.ridge_sd, what=self.name, solver=self.solver)
        self.notes_ += start.notes
        p = X.shape[1]
        n = float(y.size)
        penalty = np.zeros(p)
        if start.method == "ridge":  # keep the separated fit finite in the mixed model too
            penalty[1:] = 1.0 / self.ridge_sd**2
        state = {"u": np.zeros(n_groups)}

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            beta, tau = theta[:p], float(np.exp(theta[p]))
            r = _school_integrals(X, beta, y, codes, n_groups, tau, state["u"], self.n_nodes)
            state["u"] = r.mode
            f = -r.loglik + 0.5 * np.sum(penalty * beta**2)
            g = np.append(-r.grad_beta + penalty * beta, -r.grad_log_tau)
            return f / n, g / n

        lo, hi = np.log(self.tau_bounds[0]), np.log(self.tau_bounds[1])
        theta0 = np.append(start.params, np.log(0.5))
        bounds = [(None, None)] * p + [(lo, hi)]
        res = optimize.minimize(objective, theta0, jac=True, method="L-BFGS-B", bounds=bounds,
                                options={"maxiter": 500, "ftol": 1e-12, "gtol": 1e-7})
        _, grad = objective(res.x)
        free = np.ones(p + 1, dtype=bool)
        free[p] = lo + 1e-6 < res.x[p] < hi - 1e-6
        if not np.all(np.isfinite(res.x)) or np.max(np.abs(grad[free])) > 1e-4:
            raise EstimationError(
                f"{self.name}: marginal likelihood optimisation did not converge "
                f"({res.message}); max gradient {np.max(np.abs(grad[free])):.2g}"
            )
        params, tau = res.x[:p], float(np.exp(res.x[p]))
        if tau <= self.tau_bounds[0] * 1.01:
            self.notes_.append("between-school SD at its lower bound: effectively the pooled model")
        if tau >= self.tau_bounds[1] * 0.99:
            raise EstimationError(
                f"{self.name}: between-school SD hit its upper bound {self.tau_bounds[1]}; "
                "schools differ too much (or a school has no events) for a shared model"
            )
        final = _school_integrals(X, params, y, codes, n_groups, tau, state["u"], self.n_nodes)
        self.params_ = params
        self.fit_method_ = start.method
        self.tau_ = tau
        self.loglik_ = final.loglik
        self.school_ = school
        self.features_ = features
        self._effects = dict(zip(labels.tolist(), final.mean.tolist(), strict=True))
        self.school_effects_ = pd.DataFrame(
            {
                "school": labels,
                "n": np.bincount(codes, minlength=n_groups),
                "events": np.bincount(codes, y, n_groups).astype(int),
                "intercept": final.mean,
                "intercept_sd": final.sd,
            }
        )
        self.outcome_ = outcome
        return self

    @property
    def coef_(self) -> pd.Series:
        """Fixed part (conditional on a school intercept of 0) by design column."""
        self._check_fitted()
        return pd.Series(self.params_, index=self.design_.column_names_)

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        ids = self._school_ids(df, self.school_)
        X = self.design_.transform(df)
        u = ids.map(self._effects).to_numpy(dtype=float, na_value=np.nan)
        u = np.where(np.isnan(u), 0.0, u)  # unseen school: pooled intercept
        return special.expit(X @ self.params_ + u)


# --------------------------------------------------------------------------- splits, evaluation


def train_test_by(
    df: pd.DataFrame,
    column: str,
    train_values: Sequence[Any],
    test_values: Sequence[Any],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split by cohort, term or school: train on ``train_values`` of ``column``, test on others.

    A value absent from the data, or in both lists, is a DataError (a typo would otherwise give
    an empty or leaky split).
    """
    require_columns(df, [column], "split")
    train_values, test_values = list(train_values), list(test_values)
    both = set(train_values) & set(test_values)
    if both:
        raise DataError(f"column '{column}': values in both train and test: {sorted(both)}")
    present = set(df[column].dropna().tolist())
    for v in train_values + test_values:
        if v not in present:
            raise DataError(f"column '{column}': value {v!r} not found in the data")
    train = df[df[column].isin(train_values)]
    test = df[df[column].isin(test_values)]
    return train, test


def split_schools(
    df: pd.DataFrame,
    school: str = "school",
    n_test: int = 1,
    seed: int | np.random.Generator = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out ``n_test`` randomly chosen whole schools as a test set."""
    require_columns(df, [school], "school")
    schools = np.array(sorted_labels(df[school].dropna()), dtype=object)
    if schools.size < 2:
        raise DataError(f"column '{school}': a split needs at least two schools, found "
                        f"{schools.size}")
    n_test = whole_number(n_test, "n_test", 1, schools.size - 1)
    rng = np.random.default_rng(seed_value(seed))
    test = rng.choice(schools, size=n_test, replace=False).tolist()
    train = [s for s in schools.tolist() if s not in test]
    return train_test_by(df, school, train, test)


def flag_top_share(risk: np.ndarray, share: float, groups: np.ndarray | None = None) -> np.ndarray:
    """Flag the riskiest ``floor(share * n)`` rows (per group if given), never more on ties.

    Ties at the boundary are left out whole, as in :func:`threshold_at_capacity`. ``share`` is
    from 0 to 1. Rows whose group is missing (NaN, None) form one group of their own, as the
    ``"(missing)"`` group of :func:`srmsim.risk.threshold_table`.
    """
    risk = complete_risks(risk)
    share = share_value(share, "share")
    codes = None if groups is None else group_codes(groups, risk.size)
    return _flag_top_share(risk, share, codes)


def _flag_top_share(risk: np.ndarray, share: float, codes: np.ndarray | None) -> np.ndarray:
    """:func:`flag_top_share` for checked input: complete risks, integer group codes from 0.

    Every group at once: the rows sorted by group and then by falling risk, each group's
    threshold is its ``floor(share * n)``-th riskiest value (0-based), as
    :func:`~srmsim.risk.capacity.threshold_for_top` finds it for one group; a pass over every
    row for each group took minutes for a country's thousands of schools."""
    if codes is None:
        codes = np.zeros(risk.size, dtype=np.int64)
    if risk.size == 0:
        return np.zeros(0, dtype=bool)
    sizes = np.bincount(codes)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    k = np.floor(share * sizes + 1e-9).astype(np.int64)
    inside = k < sizes  # else the whole group is flagged (the threshold is -inf)
    order = np.lexsort((-risk, codes))  # by group, the riskiest first
    threshold = np.full(sizes.size, -np.inf)
    threshold[inside] = risk[order[starts[inside] + k[inside]]]
    return risk > threshold[codes]


def evaluate_risk(
    risk: np.ndarray,
    y: np.ndarray,
    capacity_rate: float = 0.1,
    groups: np.ndarray | None = None,
) -> dict[str, float]:
    """AUC, average precision, Brier score and precision / recall at capacity for predictions.

    Capacity is ``capacity_rate`` (from 0 to 1) of the students, applied within each group
    (school) if given: each school can serve its own share; rows with a missing group are one
    group of their own (see :func:`flag_top_share`). ``y`` holds 0/1 outcomes or booleans.
    ``risk`` may be any score for the ranking figures; ``brier`` and ``log_loss`` are NaN unless
    every risk is a probability from 0 to 1.
    """
    from srmsim.risk.curves import _auc_ap, _points, _prepare

    risk, y = complete_pairs(risk, y)
    capacity_rate = share_value(capacity_rate, "capacity_rate")
    codes = None if groups is None else group_codes(groups, risk.size)
    auc, ap = _auc_ap(*_points(_prepare(risk, y, "above")))
    flags = _flag_top_share(risk, capacity_rate, codes)
    tp = float((flags & (y == 1)).sum())
    n_flag = float(flags.sum())
    n_pos = float(y.sum())
    # clipped as scikit-learn's log_loss clips (at the float's epsilon): at 1e-12 a risk of 0
    # for a student with the outcome cost 27.6 where scikit-learn says 36.0
    eps = np.finfo(float).eps
    clipped = np.clip(risk, eps, 1 - eps)
    # Brier score and log loss score probabilities: of a count or a score beyond 0-1 they are
    # undefined (a count gave a Brier score of 22 and log loss read it as 0.999999999999)
    probabilities = bool(np.all((risk >= 0) & (risk <= 1)))
    return {
        "n": float(y.size),
        "events": n_pos,
        "auc": auc,
        "average_precision": ap,
        "brier": float(np.mean((risk - y) ** 2)) if probabilities else np.nan,
        "log_loss": (float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)))
                     if probabilities else np.nan),
        "flagged_at_capacity": n_flag,
        "precision_at_capacity": tp / n_flag if n_flag else np.nan,
        "recall_at_capacity": tp / n_pos if n_pos else np.nan,
    }


def evaluate_model(
    model: RiskModel,
    df: pd.DataFrame,
    outcome: str,
    capacity_rate: float = 0.1,
    school: str | None = "school",
) -> dict[str, float]:
    """Evaluate a fitted model on later cohorts or other schools (see :func:`evaluate_risk`)."""
    y = outcome_values(df, outcome)
    groups = None
    if school is not None:
        require_columns(df, [school], "school")
        groups = df[school].to_numpy()
    return evaluate_risk(model.predict_proba(df), y, capacity_rate, groups)


def evaluate_held_out_schools(
    make_model: Callable[[], RiskModel],
    df: pd.DataFrame,
    outcome: str,
    features: Sequence[str],
    school: str = "school",
    n_folds: int = 5,
    capacity_rate: float = 0.1,
    seed: int | np.random.Generator = 0,
) -> pd.DataFrame:
    """Leave-schools-out cross-validation: each fold's schools are predicted by a model that
    never saw them, as when a trust applies its pooled model to a school that joins later.

    ``make_model`` returns a fresh unfitted model (e.g. ``PooledRisk`` or
    ``lambda: PerSchoolRisk(min_events=5)``). One row per fold with the test schools and metrics.
    """
    require_columns(df, [school], "school")
    schools = np.array(sorted_labels(df[school].dropna()), dtype=object)
    if schools.size < 2:
        raise DataError(f"column '{school}': leave-schools-out needs at least two schools, "
                        f"found {schools.size}")
    n_folds = whole_number(n_folds, "n_folds", 2, schools.size,
                           " (between 2 and the number of schools)")
    rng = np.random.default_rng(seed_value(seed))
    folds = np.array_split(rng.permutation(schools), n_folds)
    rows = []
    for i, test_schools in enumerate(folds):
        train = df[~df[school].isin(test_schools)]
        test = df[df[school].isin(test_schools)]
        model = make_model().fit(train, outcome, features, school)
        metrics = evaluate_model(model, test, outcome, capacity_rate, school)
        rows.append({"fold": i, "test_schools": list(test_schools.tolist())} | metrics)
    return pd.DataFrame(rows)
