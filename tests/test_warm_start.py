"""Warm starts of the numpy logistic solver: the pool refits each term from the last term's fit.

A warm start may change how many steps the solver takes, never where it ends: the same
maximum-likelihood (or ridge) fit as a cold start, to the solver's tolerance, and the same
decisions (ridge fallback, separation, errors).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from test_risk_models import FEATURES, simulate

from srmsim import risk
from srmsim.errors import DataError
from srmsim.risk.irls import newton_logistic
from srmsim.risk.models import _beyond


def _design(seed: int, n: int = 4000, p: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    truth = np.array([-1.0, 0.8, -0.5, 0.3, 0.0][:p])
    y = (rng.random(n) < 1 / (1 + np.exp(-X @ truth))).astype(float)
    return X, y, truth


@pytest.mark.parametrize("seed", range(6))
def test_a_warm_start_reaches_the_cold_optimum_in_fewer_steps(seed):
    X, y, truth = _design(seed)
    cold = newton_logistic(X, y)
    # the last term's fit: the same model on other rows of the same population
    X2, y2, _ = _design(seed + 100)
    warm = newton_logistic(X, y, start_params=newton_logistic(X2, y2).params)
    assert cold.converged and warm.converged
    np.testing.assert_allclose(warm.params, cold.params, rtol=0, atol=1e-9)
    # the covariance is the information's inverse at the last iterate but one (as statsmodels
    # reports it), which the start moves: within 1e-4 of the cold one, not to the bit
    np.testing.assert_allclose(warm.cov, cold.cov, rtol=1e-4)
    assert warm.iterations < cold.iterations
    # the truth inside the cold fit's 99.9% intervals: both are right, not merely equal
    se = np.sqrt(np.diag(cold.cov))
    assert np.all(np.abs(cold.params - truth) < 3.3 * se)


def test_a_bad_warm_start_still_ends_at_the_optimum():
    X, y, _ = _design(7)
    cold = newton_logistic(X, y)
    for start in (np.full(5, 8.0), np.array([30.0, -30, 30, -30, 30]), np.zeros(5)):
        fit = newton_logistic(X, y, start_params=start)
        assert fit.converged
        np.testing.assert_allclose(fit.params, cold.params, rtol=0, atol=1e-9)


def test_an_unusable_warm_start_is_a_cold_start():
    X, y, _ = _design(8)
    cold = newton_logistic(X, y)
    for start in (np.array([np.nan, 0, 0, 0, 0]), np.array([np.inf, 0, 0, 0, 0]), np.zeros(3),
                  np.zeros((5, 1)), np.array([1e308, 1e308, 0, 0, 0])):
        fit = newton_logistic(X, y, start_params=start)
        assert np.array_equal(fit.params, cold.params), start
        assert fit.iterations == cold.iterations


def test_a_warm_ridge_fit_is_the_same_penalised_optimum():
    X, y, _ = _design(9)
    alpha = np.full(5, 0.01)
    alpha[0] = 0.0
    cold = newton_logistic(X, y, alpha=alpha)
    warm = newton_logistic(X, y, alpha=alpha, start_params=cold.params + 0.2)
    np.testing.assert_allclose(warm.params, cold.params, rtol=0, atol=1e-9)


def test_logistic_risk_starts_from_an_earlier_fit_by_design_column():
    """The start is matched by column name: an earlier model with fewer features (or in
    another order) starts the new one, whose fit equals the cold one."""
    df, _ = simulate(n_schools=10, n=800, seed=11)
    later, _ = simulate(n_schools=10, n=800, seed=12)
    cold = risk.PooledRisk(solver="newton").fit(later, "withdrawn", FEATURES)
    earlier = risk.PooledRisk(solver="newton").fit(df, "withdrawn", FEATURES)
    warm = risk.PooledRisk(solver="newton").fit(later, "withdrawn", FEATURES, start=earlier)
    np.testing.assert_allclose(warm.params_, cold.params_, rtol=0, atol=1e-9)
    np.testing.assert_allclose(warm.predict_proba(later), cold.predict_proba(later), atol=1e-12)
    fewer = risk.PooledRisk(solver="newton").fit(df, "withdrawn", list(reversed(FEATURES[:2])))
    warm2 = risk.PooledRisk(solver="newton").fit(later, "withdrawn", FEATURES, start=fewer)
    np.testing.assert_allclose(warm2.params_, cold.params_, rtol=0, atol=1e-9)


def test_a_warm_start_keeps_the_ridge_fallback_on_separated_data():
    separated = pd.DataFrame({"x": np.arange(40.0), "school": "A", "y": np.arange(40) >= 20})
    overlap, _ = simulate(n_schools=2, n=200, seed=5)
    overlap = pd.DataFrame({"x": overlap["attendance_rate"], "school": "A",
                            "y": overlap["withdrawn"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", risk.RiskModelWarning)
        start = risk.PooledRisk(solver="newton").fit(overlap, "y", ["x"])
        cold = risk.PooledRisk(solver="newton").fit(separated, "y", ["x"])
        warm = risk.PooledRisk(solver="newton").fit(separated, "y", ["x"], start=start)
    assert cold.fit_method_ == warm.fit_method_ == "ridge"
    np.testing.assert_allclose(warm.params_, cold.params_, rtol=0, atol=1e-8)


def test_bad_starts_are_refused_by_name():
    df, _ = simulate(n_schools=4, n=300, seed=6)
    unfitted = risk.PooledRisk(solver="newton")
    fitted = risk.PooledRisk(solver="newton").fit(df, "withdrawn", FEATURES)
    with pytest.raises(DataError, match="start must be a fitted logistic"):
        risk.PooledRisk(solver="newton").fit(df, "withdrawn", FEATURES, start=unfitted)
    with pytest.raises(DataError, match="start must be a fitted logistic"):
        risk.PooledRisk(solver="newton").fit(df, "withdrawn", FEATURES, start="last term")
    with pytest.raises(DataError, match="newton"):
        risk.PooledRisk().fit(df, "withdrawn", FEATURES, start=fitted)
    with pytest.raises(DataError, match="start_params"):
        risk.fit_logistic(np.ones((4, 1)), np.array([0, 1, 0, 1.0]), start_params=np.zeros(1))
    X, y, _ = _design(3, n=200)
    for start, why in (("last term", "must be numbers"), ([[1.0]], "5 finite numbers"),
                       (np.zeros(4), "got shape \\(4,\\)"),
                       ([0, 0, np.nan, 0, 0], "missing or infinite"),
                       ([0, 0, np.inf, 0, 0], "missing or infinite")):
        with pytest.raises(DataError, match=why):
            risk.fit_logistic(X, y, solver="newton", start_params=start)
    fit = risk.fit_logistic(X, y, solver="newton", start_params=[0, 0, 0, 0, 0])
    np.testing.assert_allclose(fit.params, risk.fit_logistic(X, y, solver="newton").params,
                               atol=1e-9)


def test_the_design_check_finds_every_bad_value():
    assert not _beyond(np.zeros((0, 3)))
    assert not _beyond(np.array([[1.0, -1e150, 1e150]]))
    for bad in (np.nan, np.inf, -np.inf, 1.0000001e150, -2e150):
        X = np.ones((50, 3))
        X[37, 2] = bad
        assert _beyond(X), bad
        with pytest.raises(DataError, match="missing, infinite or values beyond"):
            risk.fit_logistic(X, np.arange(50) % 2, solver="newton")


@pytest.mark.parametrize("kind", ["pooled", "per_school"])
def test_the_pool_starts_each_refit_from_the_last_and_scores_as_a_cold_pool(monkeypatch, kind):
    """A two-year pooling run: every refit after the first (of each school, per school) is
    warm, and the pool's scores are those of cold refits within 1e-9 (so the same students are
    referred: identical tables)."""
    from conftest import REPO_ROOT

    from srmsim.model import TrustModel
    from srmsim.risk import models
    from srmsim.scenario import load_scenario

    sc = load_scenario(REPO_ROOT / "scenarios" / "pooling.yaml").with_overrides(
        {"years": 2, "trust.n_schools": 3, "trust.students_per_year_group": 60,
         "policy.pool_model.model": kind, "policy.pool_model.min_events": 5})
    starts: list[bool] = []
    scores: dict[str, list[np.ndarray]] = {"warm": [], "cold": []}
    original = models.LogisticRisk.fit

    def recording(self, *a, start=None, **kw):
        starts.append(start is not None)
        return original(self, *a, start=start if mode == "warm" else None, **kw)

    monkeypatch.setattr(models.LogisticRisk, "fit", recording)
    tables = {}
    for mode in ("warm", "cold"):
        starts.clear()
        model = TrustModel(sc, seed=3)
        while not model.done:
            model.step()
            scores[mode].append(model.policy.pool_scores.copy())
        tables[mode] = model.results()
        if mode == "warm":  # cold the first time (each school's first time), then warm
            first = 1 if kind == "pooled" else 3
            assert not any(starts[:first]) and len(starts) >= 4 * first, starts
            assert all(starts[first:]), starts
    for warm, cold in zip(scores["warm"], scores["cold"], strict=True):
        np.testing.assert_allclose(warm, cold, rtol=0, atol=1e-9, equal_nan=True)
    pd.testing.assert_frame_equal(tables["warm"].students, tables["cold"].students)
    pd.testing.assert_frame_equal(tables["warm"].events, tables["cold"].events)
