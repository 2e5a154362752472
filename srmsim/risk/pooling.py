"""Value of pooling: how much better a trust targets as more schools contribute their records.

For k = 1 .. N contributing schools, a pooled model is trained on the first k schools of a random
order of joining and judged on held-out schools that contributed nothing (as a school joining the
trust later would use it): out-of-sample AUC across the held-out students, and precision at
capacity when each held-out school flags its riskiest ``capacity_rate`` share. Repeating over
``n_orders`` random orders gives the mean and a percentile band at each k, so the curve shows how
much of the gain depends on which schools happened to join first.

With ``coarsen`` the whole study is repeated on records coarsened for privacy before pooling
(same orders, so the two curves are paired); the gap between them is what privacy costs. A
coarsening spec is fitted on the k pooled schools and applied to the held-out schools' own
records, because a school must code its students the way the pooled model was trained.

Fits that fail are counted per k in ``n_failed`` and left out of the band, with the first few
messages in ``.attrs["failure_examples"]``: a fit fails when the k pooled schools have no events,
or a prediction fails when a held-out school has a category (e.g. a rare ethnicity) that the k
pooled schools never showed. Fits that needed the ridge fallback are counted in ``n_ridge``.
When every fit fails, that is an EstimationError quoting the first message, not a table of NaN.
Bad input is a DataError before any fit (an infinite feature value is not a failed fit), and so
is a ``coarsen`` function that does not return its rows in the same order.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from srmsim.errors import DataError, EstimationError
from srmsim.labels import plural
from srmsim.risk._columns import (
    level_value,
    outcome_values,
    require_columns,
    seed_value,
    sorted_labels,
)
from srmsim.risk.coarsen import Coarsener, CoarsenSpec
from srmsim.risk.design import FeatureDesign, UnseenCategoryError
from srmsim.risk.models import PooledRisk, RiskModel, RiskModelWarning, evaluate_risk
from srmsim.stats._checks import MAX_REPEATS, finite_number, whole_number

CoarsenArg = None | Callable[[pd.DataFrame], pd.DataFrame] | CoarsenSpec | Mapping[str, object]


def _coarsened(coarsen: Callable[[pd.DataFrame], pd.DataFrame], rows: pd.DataFrame
               ) -> pd.DataFrame:
    """A coarsening function's result for ``rows``: the same rows in the same order, since the
    held-out outcomes and schools are read from the uncoarsened rows (a function that sorted
    them scored each student against another's outcome)."""
    out = coarsen(rows)
    if not isinstance(out, pd.DataFrame):
        raise DataError(f"value_of_pooling: coarsen must return a DataFrame, got "
                        f"{type(out).__name__}")
    if not out.index.equals(rows.index):
        what = (f"{plural(len(out), 'row')} for {len(rows):,}" if len(out) != len(rows)
                else "them reordered or with another index")
        raise DataError("value_of_pooling: coarsen must return the rows it is given, in the same "
                        f"order and with the same index; it returned {what}")
    return out


def _coarsen_pair(
    coarsen: CoarsenArg, train: pd.DataFrame, test: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    if callable(coarsen):
        return _coarsened(coarsen, train), _coarsened(coarsen, test)
    c = Coarsener(coarsen).fit(train)  # type: ignore[arg-type]
    return c.transform(train), c.transform(test)


def _choose_holdout(
    schools: np.ndarray, holdout: int | Sequence[object] | None, rng: np.random.Generator
) -> list[object]:
    if holdout is None:
        holdout = max(1, int(round(schools.size / 4)))
    if isinstance(holdout, str) or not isinstance(holdout, Iterable):
        count = whole_number(holdout, "holdout_schools", 1, schools.size - 1,
                             " (a number of schools, or a list of them)")
        return rng.choice(schools, size=count, replace=False).tolist()
    chosen = list(holdout)
    try:
        distinct = set(chosen)
    except TypeError:  # a list or mapping among them
        raise DataError("holdout_schools must list school labels (text or numbers)") from None
    if len(distinct) != len(chosen):
        raise DataError(f"holdout_schools lists a school more than once: {chosen[:10]}")
    missing = [s for s in chosen if s not in set(schools.tolist())]
    if missing:
        raise DataError(f"holdout_schools not found in the data: {missing}")
    if len(chosen) >= schools.size:
        raise DataError("holdout_schools leaves no contributing school")
    return chosen


def _refuse_identifiers(df: pd.DataFrame, features: Sequence[str]) -> None:
    """A student identifier as a feature (a column named as one, or text with a different value
    on every row): each held-out student's value is new to the pooled schools, so every fit
    failed, after minutes of fitting one column per student, and the error quoted the
    identifiers the model had seen. Refused by name, never quoting a value."""
    from srmsim.data.mapping import STUDENT_ID_COLUMNS, student_id_column
    from srmsim.risk.design import _is_numeric

    for f in features:
        named = student_id_column([f]) is not None
        s = df[f]
        unique = (not named and not _is_numeric(s) and s.notna().sum() >= 10
                  and s.nunique(dropna=True) == s.notna().sum())
        if named or unique:
            why = (f"is a student identifier column ({', '.join(STUDENT_ID_COLUMNS)})" if named
                   else "is text with a different value on every row: an identifier, not a "
                   "category (numbers stored as text: convert the column to numbers)")
            raise DataError(f"value_of_pooling: feature '{f}' {why}; a pooled model cannot "
                            "learn from it for another school's students. Leave it out.")


#: most model fits one value_of_pooling call makes (n_orders x contributing schools x variants)
MAX_FITS = 100_000


def _failure_example(err: Exception) -> str:
    """Why a fit or prediction failed, for the result's ``failure_examples``: a held-out
    school's category the pooled schools never showed is named by its column only (its value
    and row, which the error quotes for the user's own file, can identify a pupil of a rare
    group in a school that contributed nothing)."""
    if isinstance(err, UnseenCategoryError):
        return (f"column '{err.column}': a held-out school has a category the pooled schools "
                "never showed (value not quoted)")
    return str(err)


def value_of_pooling(
    df: pd.DataFrame,
    outcome: str,
    features: Sequence[str],
    school: str = "school",
    n_orders: int = 20,
    holdout_schools: int | Sequence[object] | None = None,
    capacity_rate: float = 0.1,
    coarsen: CoarsenArg = None,
    model: Callable[[], RiskModel] = PooledRisk,
    level: float = 0.95,
    seed: int | np.random.Generator = 0,
) -> pd.DataFrame:
    """Out-of-sample AUC and precision at capacity on held-out schools as schools join the pool.

    Returns one row per (coarsened, k): ``coarsened, k, n_fits, n_failed, n_ridge, train_rows,
    auc_mean, auc_low, auc_high, precision_at_capacity_mean, precision_at_capacity_low,
    precision_at_capacity_high``. ``coarsened`` is always False without ``coarsen``. ``.attrs``
    holds ``holdout_schools``, ``contributing_schools``, ``capacity_rate``, ``level`` and
    ``band_note``: why a row has a mean but no band (``_low``/``_high`` NaN), as with
    ``n_orders=1`` or one successful fit at a k: one value has no spread to show.
    ``model`` is a factory for a fresh model (default :class:`PooledRisk`).
    """
    if not isinstance(features, str | Sequence | pd.Index | np.ndarray):
        raise DataError(f"value_of_pooling: features must be a list of column names, got "
                        f"{type(features).__name__}")
    features = [features] if isinstance(features, str) else list(features)
    if not features:
        raise DataError("value_of_pooling: give at least one feature (every fit failed)")
    require_columns(df, [outcome, school, *features])
    if outcome == school:
        raise DataError(f"value_of_pooling: column '{school}' cannot be both the outcome and "
                        "the school")
    if outcome in features or school in features:
        # the outcome as a feature gave AUC 1.0; the school is unseen in held-out schools
        raise DataError(f"value_of_pooling: the {'outcome' if outcome in features else 'school'} "
                        f"column cannot also be a feature")
    _refuse_identifiers(df, features)
    if not callable(model):
        raise DataError(f"value_of_pooling: model must make a fresh risk model (e.g. "
                        f"PooledRisk), got {type(model).__name__}")
    y_all = outcome_values(df, outcome)
    missing = np.isnan(y_all) | df[[school, *features]].isna().any(axis=1).to_numpy()
    if missing.any():
        counts = {c: int(df[c].isna().sum()) for c in [outcome, school, *features]
                  if df[c].isna().any()}
        raise DataError(
            f"value_of_pooling: {plural(missing.sum(), 'row')} with missing values {counts}; "
            "fill or remove them first"
        )
    # the coding of every row is checked once here (duplicate features, infinite values,
    # dates): in the loop such a DataError was counted as a failed fit, and the table came back
    # with NaN rows, or with means over only the orders that happened to avoid the bad school.
    # Only the checks use all rows: each fit codes and standardises on its training rows alone.
    FeatureDesign(features).fit(df)
    n_orders = whole_number(n_orders, "n_orders", 1, MAX_REPEATS)
    capacity_rate = finite_number(capacity_rate, "capacity_rate")
    if not 0 < capacity_rate <= 1:
        raise DataError(f"capacity_rate must be in (0, 1], got {capacity_rate}")
    level = level_value(level)
    if coarsen is not None and not callable(coarsen):
        spec = Coarsener(coarsen).spec  # a bad spec fails here, not in the loop
        if outcome in spec.bands or outcome in spec.categories:
            # a banded 0/1 outcome failed every coarsened fit, leaving those rows NaN
            raise DataError(f"value_of_pooling: the coarsen spec would coarsen the outcome "
                            f"column '{outcome}'; coarsen features only")
    rng = np.random.default_rng(seed_value(seed))
    schools = np.array(sorted_labels(df[school]), dtype=object)
    if schools.size < 2:
        raise DataError(f"column '{school}': value_of_pooling needs at least two schools (one "
                        f"to hold out), found {schools.size}")
    held = _choose_holdout(schools, holdout_schools, rng)
    contributing = np.array([s for s in schools.tolist() if s not in held], dtype=object)
    test = df[df[school].isin(held)]
    y_test = outcome_values(test, outcome)
    if y_test.sum() == 0 or y_test.sum() == y_test.size:
        raise DataError("held-out schools need both outcomes to compute AUC")
    groups = test[school].to_numpy()
    variants = [False] + ([True] if coarsen is not None else [])
    n_k = contributing.size
    fits = n_orders * n_k * len(variants)
    if fits > MAX_FITS:
        raise DataError(f"value_of_pooling: n_orders={n_orders:,} x {n_k} contributing schools"
                        f"{' x 2 (coarsened too)' if coarsen is not None else ''}: {fits:,} "
                        f"model fits, more than {MAX_FITS:,}; use fewer orders")
    results: dict[tuple[bool, int], dict[str, Any]] = {
        (v, k): {"auc": [], "prec": [], "failed": 0, "ridge": 0, "rows": []}
        for v in variants
        for k in range(1, n_k + 1)
    }
    failures: list[str] = []
    by_school = {s: df[df[school] == s] for s in contributing.tolist()}
    for _ in range(n_orders):
        order = rng.permutation(contributing).tolist()
        for k in range(1, n_k + 1):
            train = pd.concat([by_school[s] for s in order[:k]], ignore_index=True)
            for v in variants:
                cell = results[(v, k)]
                tr, te = _coarsen_pair(coarsen, train, test) if v else (train, test)
                m = model()
                if not (callable(getattr(m, "fit", None))
                        and callable(getattr(m, "predict_proba", None))):
                    raise DataError(f"value_of_pooling: model() must return a risk model with "
                                    f"fit() and predict_proba(), got {type(m).__name__}")
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", RiskModelWarning)
                        m = m.fit(tr, outcome, features, school)
                    risk = m.predict_proba(te)
                except (EstimationError, DataError) as err:
                    cell["failed"] += 1
                    example = _failure_example(err)
                    if len(failures) < 5 and example not in failures:
                        failures.append(example)
                    continue
                if getattr(m, "fit_method_", "mle") == "ridge":
                    cell["ridge"] += 1
                ev = evaluate_risk(risk, y_test, capacity_rate, groups)
                cell["auc"].append(ev["auc"])
                cell["prec"].append(ev["precision_at_capacity"])
                cell["rows"].append(len(tr))
    if not any(cell["auc"] for cell in results.values()):  # a table of NaN said nothing
        raise EstimationError(f"value_of_pooling: every one of the {fits:,} model fits failed, "
                              f"e.g. {failures[0]}")
    lo_q, hi_q = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    rows = []
    unbanded: list[int] = []  # k with a mean but no band (fewer than 2 values)
    for (v, k), cell in results.items():
        row: dict[str, object] = {
            "coarsened": v,
            "k": k,
            "n_fits": len(cell["auc"]),
            "n_failed": cell["failed"],
            "n_ridge": cell["ridge"],
            "train_rows": float(np.mean(cell["rows"])) if cell["rows"] else np.nan,
        }
        for name, key in (("auc", "auc"), ("precision_at_capacity", "prec")):
            vals = np.asarray(cell[key], dtype=float)
            vals = vals[~np.isnan(vals)]
            row[f"{name}_mean"] = float(vals.mean()) if vals.size else np.nan
            row[f"{name}_low"] = row[f"{name}_high"] = np.nan
            if vals.size >= 2:  # one value is no spread: a zero-width band claimed certainty
                row[f"{name}_low"], row[f"{name}_high"] = np.percentile(vals, [lo_q, hi_q])
            elif vals.size and k not in unbanded:
                unbanded.append(k)
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs.update(
        {
            "holdout_schools": held,
            "contributing_schools": contributing.tolist(),
            "capacity_rate": capacity_rate,
            "level": level,
            "n_orders": n_orders,
            "failure_examples": failures,
            "band_note": (f"no band at k = {', '.join(map(str, sorted(unbanded)))}: a band "
                          "needs 2 or more successful fits (orders of joining)"
                          + ("; use n_orders of 2 or more" if n_orders < 2 else "")
                          if unbanded else ""),
        }
    )
    return out
