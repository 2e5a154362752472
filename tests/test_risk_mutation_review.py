"""Mutation review of srmsim.risk (models, irls, pooling, coarsen), the pool's model and the
trial's eligibility rules: behaviour no other test pinned.

Each test here was written against a small change to the code (a dropped penalty term, ``<``
for ``<=``, a held-out school let into training, a raw id in place of a pseudonym) that left
every other test passing. They check against an independent reference: scikit-learn or
statsmodels, a hand computation written out in the test, a rule stated in a docstring or in
docs/, or the recovery of a known truth.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import special

from srmsim import risk
from srmsim.errors import DataError, EstimationError, SrmsimError


def _deviance(X: np.ndarray, y: np.ndarray, b: np.ndarray) -> float:
    """-2 log-likelihood of a logistic model, written out."""
    p = special.expit(X @ b)
    return float(-2 * np.sum(y * np.log(p) + (1 - y) * np.log1p(-p)))


def _sklearn_ridge(x: np.ndarray, y: np.ndarray, ridge_sd: float) -> np.ndarray:
    """scikit-learn's L2 logistic regression with an unpenalised intercept: it minimises
    ``C * sum(log loss) + |w|^2 / 2``, which is srmsim's ridge objective (a normal prior with SD
    ``ridge_sd`` on each slope) when ``C = ridge_sd**2``."""
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(C=ridge_sd**2, tol=1e-12, max_iter=100_000).fit(x, y)
    return np.r_[fit.intercept_, fit.coef_[0]]


def _quasi_separated(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Two standard-normal features and an outcome almost fixed by the first: the maximum
    likelihood slope is finite (statsmodels converges, no separation warning) but beyond 10."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    y = (x[:, 0] + 0.15 * rng.normal(size=n) > 0).astype(float)
    return x, y


# ------------------------------------------------------------------ logistic core (irls, models)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_warm_started_ridge_fallback_reaches_scikit_learns_penalised_optimum(seed):
    """Newton's steps toward the penalised optimum raise the deviance when they start beyond
    it (a start at twice the last fit): step halving must judge the penalised deviance. On the
    deviance alone every such step was halved to nothing and the ridge fallback 'failed too'."""
    x, y = _quasi_separated(seed)
    X = np.column_stack([np.ones(len(y)), x])
    mle = np.asarray(sm.GLM(y, X, family=sm.families.Binomial()).fit().params)
    assert abs(mle[1]) > risk.models.MAX_ABS_COEF  # the case the ridge fallback is for
    with pytest.warns(risk.RiskModelWarning, match="quasi-separation"):
        fit = risk.fit_logistic(X, y, solver="newton", start_params=2 * mle)
    assert fit.method == "ridge"
    np.testing.assert_allclose(fit.params, _sklearn_ridge(x, y, 2.5), rtol=0, atol=1e-6)


@pytest.mark.parametrize("seed", [3, 28, 30])
def test_a_warm_start_far_from_the_optimum_still_ends_at_statsmodels_fit(seed):
    """A start at three times the optimum fits better than the intercept alone, so it is used;
    from there full Newton steps overshoot (the probabilities saturate) and only step halving
    brings them back. Without it the 'maximum-likelihood' slopes were 1e20 and more."""
    rng = np.random.default_rng(seed)
    n = 300
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    y = (rng.random(n) < special.expit(X @ [0.5, 2.5, -1.0])).astype(float)
    ref = sm.GLM(y, X, family=sm.families.Binomial()).fit()
    start = 3 * np.asarray(ref.params)
    rate = y.mean()
    null = -2 * n * (rate * np.log(rate) + (1 - rate) * np.log1p(-rate))
    assert _deviance(X, y, start) < null  # the warm start is taken, not dropped
    fit = risk.fit_logistic(X, y, solver="newton", start_params=start)
    assert fit.method == "mle"
    np.testing.assert_allclose(fit.params, ref.params, rtol=0, atol=1e-8)
    np.testing.assert_allclose(fit.bse, ref.bse, rtol=1e-4)


@pytest.mark.parametrize("solver", ["statsmodels", "newton"])
def test_a_slope_beyond_ten_per_sd_is_quasi_separation_and_gets_scikit_learns_ridge(solver):
    """Module rule: a coefficient beyond |10| per SD of a feature sends the fit to the ridge
    fallback (normal prior SD ``ridge_sd`` on the standardised slopes, intercept free), even
    when maximum likelihood converged. Reference: scikit-learn's L2 fit on the features
    standardised as FeatureDesign does (training mean and SD)."""
    x, y = _quasi_separated(0)
    df = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": y, "school": "S"})
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    mle = sm.GLM(y, sm.add_constant(z), family=sm.families.Binomial()).fit()
    assert mle.converged and 10 < abs(mle.params[1]) < 20
    with pytest.warns(risk.RiskModelWarning, match="beyond 10 per SD"):
        m = risk.LogisticRisk(solver=solver).fit(df, "y", ["a", "b"])
    assert m.fit_method_ == "ridge" and np.isnan(m.bse_).all()
    tol = 1e-6 if solver == "newton" else 1e-4  # statsmodels' BFGS stops at its tolerance
    np.testing.assert_allclose(m.params_, _sklearn_ridge(z, y, 2.5), rtol=0, atol=tol)


def test_a_large_intercept_is_not_separation():
    """The |10| rule is per SD of a feature: the intercept (the log-odds of a rare outcome,
    here 5 events in 200,000) is no sign of separation. Counting it sent a sound fit to the
    ridge fallback, with no standard errors."""
    rng = np.random.default_rng(5)
    n = 200_000
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = np.zeros(n)
    y[rng.choice(n, 5, replace=False)] = 1
    ref = sm.GLM(y, X, family=sm.families.Binomial()).fit()
    assert ref.params[0] < -10
    with warnings.catch_warnings():
        warnings.simplefilter("error", risk.RiskModelWarning)
        fit = risk.fit_logistic(X, y, solver="newton")
    assert fit.method == "mle"
    np.testing.assert_allclose(fit.params, ref.params, rtol=0, atol=1e-7)
    np.testing.assert_allclose(fit.bse, ref.bse, rtol=1e-5)


# ------------------------------------------------------------------ per-school, partial pooling
def test_a_school_needs_min_events_events_and_non_events_for_its_own_model():
    """Docstring rule: a school needs *at least* ``min_events`` events and non-events. A
    school with exactly 10 events gets its own model (statsmodels' fit on its rows alone, the
    feature standardised over all training rows, as the pooled design does); one with 200
    events but 9 non-events uses the pooled model."""
    rng = np.random.default_rng(11)
    x_a = rng.normal(size=40)
    y_a = np.r_[np.ones(10), np.zeros(30)]
    x_b = rng.normal(size=209)
    y_b = np.r_[np.ones(200), np.zeros(9)]
    x_c = rng.normal(size=300)
    y_c = (rng.random(300) < special.expit(-0.5 + x_c)).astype(float)
    df = pd.DataFrame({"x": np.r_[x_a, x_b, x_c], "y": np.r_[y_a, y_b, y_c],
                       "school": ["A"] * 40 + ["B"] * 209 + ["C"] * 300})
    with pytest.warns(risk.RiskModelWarning, match="1 school with fewer than 10 events"):
        m = risk.PerSchoolRisk(min_events=10).fit(df, "y", ["x"])
    assert m.fallback_schools_ == ["B"]
    assert set(m.school_params_) == {"A", "C"}
    z = (df["x"] - df["x"].mean()) / df["x"].std(ddof=0)
    own = sm.GLM(y_a, sm.add_constant(z[:40].to_numpy()), family=sm.families.Binomial()).fit()
    np.testing.assert_allclose(m.school_params_["A"], own.params, rtol=0, atol=1e-6)
    in_b = (df["school"] == "B").to_numpy()
    np.testing.assert_array_equal(m.predict_proba(df)[in_b], m.pooled_.predict_proba(df)[in_b])


def test_partial_pooling_of_identical_schools_is_the_pooled_ridge_fit():
    """Four schools holding the same records: no between-school variation, so the SD goes to
    its lower bound (and the notes say so) and the fixed part is the pooled model. The data
    are quasi-separated, so that is the ridge fit, intercept unpenalised: scikit-learn's L2
    fit. Penalising the intercept too pulled it toward 0."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=60)
    y = (x + 0.15 * rng.normal(size=60) > 0.7).astype(float)
    df = pd.concat([pd.DataFrame({"x": x, "y": y, "school": f"S{j}"}) for j in range(4)],
                   ignore_index=True)
    with pytest.warns(risk.RiskModelWarning, match="quasi-separation"):
        m = risk.PartiallyPooledRisk().fit(df, "y", ["x"])
    assert m.tau_ == pytest.approx(m.tau_bounds[0])
    assert "between-school SD at its lower bound: effectively the pooled model" in m.notes_
    z = ((df["x"] - x.mean()) / x.std()).to_frame().to_numpy()
    np.testing.assert_allclose(m.params_, _sklearn_ridge(z, df["y"].to_numpy(), 2.5),
                               rtol=0, atol=1e-4)


# ------------------------------------------------------------------ rule score, evaluation
def test_rule_score_smooths_each_count_with_one_student_at_the_overall_rate():
    """``(events + rate) / (students + 1)`` per count, by hand with an overall rate of 1/3
    (where 0.5 in its place is not the same number)."""
    df = pd.DataFrame({"inc": [0, 0, 0, 0, 1, 1, 2, 2, 2], "y": [0, 0, 0, 1, 0, 1, 0, 0, 1]})
    rule = risk.RuleScore({"beh": ("inc", ">=", 1), "many": ("inc", ">=", 2)}).fit(df, "y")
    rate = 3 / 9
    table = rule.rate_table().set_index("count")["event_rate"]
    assert table.to_dict() == pytest.approx({0.0: (1 + rate) / 5, 1.0: (1 + rate) / 3,
                                             2.0: (1 + rate) / 4})


def test_evaluate_risk_by_hand():
    """Ten students, 4 with the outcome, capacity 30%: the top three scores are flagged, two
    of them with the outcome. Precision 2/3, recall 2/4 (of all events, not of the flagged),
    Brier score and log loss written out."""
    r = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    y = np.array([1, 0, 1, 0, 0, 1, 0, 0, 1, 0])
    ev = risk.evaluate_risk(r, y, capacity_rate=0.3)
    assert ev["flagged_at_capacity"] == 3
    assert ev["precision_at_capacity"] == pytest.approx(2 / 3)
    assert ev["recall_at_capacity"] == pytest.approx(2 / 4)
    assert ev["brier"] == pytest.approx(np.mean((r - y) ** 2))
    assert ev["log_loss"] == pytest.approx(-np.mean(y * np.log(r) + (1 - y) * np.log(1 - r)))
    # AUC: of the 4 x 6 event / non-event pairs the event ranks higher in 6 + 5 + 3 + 1
    assert ev["auc"] == pytest.approx(15 / 24)


class _SpyRisk(risk.PooledRisk):
    """A pooled model that records the schools it was trained on."""

    trained: list[set] = []

    def fit(self, df, outcome, features=None, school="school", start=None):
        _SpyRisk.trained.append(set(df[school]))
        return super().fit(df, outcome, features, school, start)


def test_leave_schools_out_never_trains_on_the_fold_it_tests():
    """Each fold's schools are predicted by a model that never saw them (docstring)."""
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"school": np.repeat([f"S{j}" for j in range(6)], 100),
                       "x": rng.normal(size=600)})
    df["y"] = (rng.random(600) < special.expit(-1 + df["x"])).astype(int)
    _SpyRisk.trained = []
    res = risk.evaluate_held_out_schools(_SpyRisk, df, "y", ["x"], n_folds=3)
    assert len(_SpyRisk.trained) == 3
    for trained, tested in zip(_SpyRisk.trained, res["test_schools"], strict=True):
        assert trained.isdisjoint(tested) and trained | set(tested) == set(df["school"])


def test_the_default_reference_level_is_the_first_in_sorted_order():
    """Module rule of srmsim.risk.design: without ``reference_levels`` a category's reference
    is its first level in sorted order. With one categorical feature the maximum-likelihood
    coefficients are the levels' observed log-odds, by hand: the intercept is level 'a''s and
    each dummy is a log odds ratio against 'a'."""
    counts = {"b": (30, 70), "a": (10, 90), "c": (50, 50)}  # level: (events, non-events)
    rows = [(level, outcome) for level, (ev, non) in counts.items()
            for outcome in [1] * ev + [0] * non]
    df = pd.DataFrame(rows, columns=["c", "y"]).assign(school="S")
    m = risk.LogisticRisk().fit(df, "y", ["c"])
    assert m.reference_levels_ == {"c": "a"}
    log_odds = {level: np.log(ev / non) for level, (ev, non) in counts.items()}
    want = {"intercept": log_odds["a"], "c[b]": log_odds["b"] - log_odds["a"],
            "c[c]": log_odds["c"] - log_odds["a"]}
    assert m.coef_.to_dict() == pytest.approx(want, abs=1e-8)


# ------------------------------------------------------------------ value of pooling
def _pooling_trust(seed: int = 0, n_schools: int = 5, n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    size = n_schools * n
    df = pd.DataFrame({"school": np.repeat([f"S{j}" for j in range(n_schools)], n),
                       "x": rng.normal(size=size), "w": rng.normal(size=size)})
    df["y"] = (rng.random(size) < special.expit(-1 + 1.5 * df["x"] + 0.3 * df["w"])).astype(int)
    return df


class _Recorder(risk.PooledRisk):
    """A pooled model that records how many schools, and which categories, it trained on,
    and the risks it returned."""

    log: list[dict] = []

    def fit(self, df, outcome, features=None, school="school", start=None):
        _Recorder.log.append({"k": df[school].nunique(), "schools": set(df[school]),
                              "levels": set(df["c"]) if "c" in df else set()})
        return super().fit(df, outcome, features, school, start)

    def predict_proba(self, df):
        out = super().predict_proba(df)
        _Recorder.log[-1]["risk"] = out
        _Recorder.log[-1]["scored_levels"] = set(df["c"]) if "c" in df else set()
        return out


def test_the_pooling_band_is_the_central_percentile_interval_of_the_orders_aucs():
    """Each k's mean and band are the mean and the central ``level`` percentile interval of
    the held-out AUCs of its orders: here recomputed with scikit-learn from the risks each fit
    returned (level 0.8: the 10th and 90th percentiles)."""
    from sklearn.metrics import roc_auc_score

    df = _pooling_trust(seed=3)
    _Recorder.log = []
    res = risk.value_of_pooling(df, "y", ["x", "w"], n_orders=6, holdout_schools=["S0"],
                                model=_Recorder, level=0.8, seed=1).set_index("k")
    y_test = df.loc[df["school"] == "S0", "y"].to_numpy()
    for k in range(1, 5):
        aucs = [roc_auc_score(y_test, fit["risk"]) for fit in _Recorder.log if fit["k"] == k]
        assert len(aucs) == 6
        assert (np.ptp(aucs) > 0) == (k < 4)  # models of other schools rank differently
        assert res.loc[k, "auc_mean"] == pytest.approx(np.mean(aucs), rel=1e-12)
        assert [res.loc[k, "auc_low"], res.loc[k, "auc_high"]] == pytest.approx(
            np.percentile(aucs, [10, 90]).tolist(), rel=1e-12)


def test_the_coarsening_of_a_pool_is_learned_from_the_pooled_schools_alone():
    """Module rule: the coarsening spec is fitted on the k pooled schools and applied to the
    held-out school. Category 'z' is rare in every contributing school (3 records each) and
    common in the held-out one: for every k up to 3 the pool holds fewer than 10 'z' records, so
    its models never see 'z' as a category of its own -- the held-out school's records must
    not count toward the 10."""
    rng = np.random.default_rng(7)
    df = _pooling_trust(seed=7)
    df["c"] = rng.choice(["p", "q"], len(df))
    for s in ["S1", "S2", "S3", "S4"]:
        rows = df.index[df["school"] == s][:3]
        df.loc[rows, "c"] = "z"
    df.loc[df.index[df["school"] == "S0"][:40], "c"] = "z"
    _Recorder.log = []
    res = risk.value_of_pooling(df, "y", ["x", "c"], n_orders=3, holdout_schools=["S0"],
                                model=_Recorder, coarsen={"categories": ["c"], "min_count": 10},
                                seed=2)
    assert (res["n_failed"] == 0).all()
    coarsened = _Recorder.log[1::2]  # each k fits the exact records, then the coarsened ones
    assert len(coarsened) == 3 * 4
    for fit in coarsened:
        assert "S0" not in fit["schools"]
        pooled_z = fit["k"] == 4  # 4 schools: 12 'z' records
        assert ("z" in fit["levels"]) == pooled_z, fit
        # the held-out school codes its own 40 'z' records as the pool does
        assert fit["scored_levels"] == ({"p", "q", "z"} if pooled_z else {"p", "q", "Other"})


def test_pooling_precision_at_capacity_is_each_held_out_school_flagging_its_own_share():
    """Module rule: each held-out school flags its own riskiest ``capacity_rate`` share. School
    S1 is riskier than S0, so a trust-wide cut would flag mostly S1; here the flags are made
    by hand, school by school (floor(0.1 x 120) = 12 each), from the risks each fit returned."""
    df = _pooling_trust(seed=5)
    df.loc[df["school"] == "S1", "x"] += 1.0
    held = df[df["school"].isin(["S0", "S1"])]
    _Recorder.log = []
    res = risk.value_of_pooling(df, "y", ["x", "w"], n_orders=3, holdout_schools=["S0", "S1"],
                                model=_Recorder, capacity_rate=0.1, seed=4).set_index("k")
    school, y = held["school"].to_numpy(), held["y"].to_numpy()
    for k in range(1, 4):
        precisions = []
        for fit in (f for f in _Recorder.log if f["k"] == k):
            flagged = np.zeros(len(y), dtype=bool)
            for s in ("S0", "S1"):
                rows = np.flatnonzero(school == s)
                flagged[rows[np.argsort(-fit["risk"][rows])[:12]]] = True
            precisions.append(y[flagged].mean())
        assert res.loc[k, "precision_at_capacity_mean"] == pytest.approx(np.mean(precisions))


# ------------------------------------------------------------------ coarsening
@pytest.mark.parametrize("spec", [{"categories": ["eth"]}, risk.CoarsenSpec(categories=["eth"])])
def test_a_coarsening_spec_merges_categories_under_ten_records_by_default(spec):
    """The privacy rule of docs/privacy.md (no count under 10) is the default cut-off, as a
    dict and as a CoarsenSpec: a category held by 9 training records becomes 'Other', one held
    by 10 stays, and a missing value stays missing."""
    eth = ["A"] * 10 + ["B"] * 9 + ["C"] * 30 + [None]
    df = pd.DataFrame({"eth": eth})
    out = risk.Coarsener(spec).fit_transform(df)["eth"]
    assert out.iloc[:49].tolist() == ["A"] * 10 + ["Other"] * 9 + ["C"] * 30
    assert pd.isna(out.iloc[49])
    with pytest.raises(SrmsimError, match="min_count=-1 is out of range: it must be from 0 "):
        risk.Coarsener({"categories": ["eth"], "min_count": -1})


def test_the_last_coarsening_band_includes_its_upper_edge():
    """Module rule: with explicit edges the last band includes its upper edge (a value on it is
    that band's midpoint, not outside); beyond it is an error."""
    edges = [-60, -24, 0, 60]
    out = risk.generalise(pd.Series([60.0, -60.0, 0.0, -24.0, 59.9]), edges, "gap")
    assert out.tolist() == [30.0, -42.0, 30.0, -12.0, 30.0]
    with pytest.raises(DataError, match=r"value 60\.5 \(row 0\) is outside the coarsening edges"):
        risk.generalise(pd.Series([60.5]), edges, "gap")


# ------------------------------------------------------------------ the pool's model
def _pool(model: str, min_events: int = 5):
    from srmsim.policy.config import PoolModelConfig
    from srmsim.policy.pool_model import PoolRiskModel

    config = PoolModelConfig(model=model, outcome="attendance_term < 0.9", features=["x"],
                             min_events=min_events)
    return PoolRiskModel(engine=None, config=config, outcome=None)  # type: ignore[arg-type]


def _own_fit_scores(train: pd.DataFrame, current: pd.DataFrame) -> np.ndarray:
    """statsmodels' logistic fit of outcome on x (standardised over ``train``), scoring
    ``current``: the reference for a pool model fitted on ``train``."""
    mean, sd = train["x"].mean(), train["x"].std(ddof=0)
    fit = sm.GLM(train["outcome"].to_numpy(float), sm.add_constant((train["x"] - mean) / sd),
                 family=sm.families.Binomial()).fit()
    return special.expit(fit.params.iloc[0] + fit.params.iloc[1] * (current["x"] - mean) / sd)


def test_the_pooled_pool_model_fits_from_exactly_min_events_events_and_non_events():
    """As PerSchoolRisk's rule: a fit needs at least ``min_events`` events and non-events.
    With exactly 5 of each the pool fits (statsmodels' fit on every school's pairs, scoring
    every current record); with 4 events it scores nobody."""
    rng = np.random.default_rng(12)
    x = rng.normal(size=10)
    train = pd.DataFrame({"school": [0, 1] * 5, "x": x, "outcome": [1, 0] * 2 + [0, 1] * 3})
    current = pd.DataFrame({"school": [0, 1, 1], "x": [-1.0, 0.0, 2.0]})
    out, info = _pool("pooled")._fit_predict(train, current)
    assert "skipped" not in info and info["events"] == 5
    np.testing.assert_allclose(out, _own_fit_scores(train, current), rtol=1e-6)
    out, info = _pool("pooled")._fit_predict(train.iloc[1:], current)  # 4 events
    assert info["skipped"] == "too few events" and np.isnan(out).all()
    non_events = train.assign(outcome=1 - train["outcome"]).iloc[1:]  # 4 non-events
    assert _pool("pooled")._fit_predict(non_events, current)[1]["skipped"] == "too few events"


def test_a_per_school_pool_model_fits_a_school_from_exactly_min_events():
    """per_school: each school fits its own pairs once it has ``min_events`` events and
    non-events (here exactly 5), scoring only its own students; a school with 4 events gets no
    score, whatever the other school has."""
    rng = np.random.default_rng(13)
    a = pd.DataFrame({"school": 0, "x": rng.normal(size=12), "outcome": [1, 0] * 5 + [0, 0]})
    b = pd.DataFrame({"school": 1, "x": rng.normal(size=40), "outcome": [1] * 4 + [0] * 36})
    train = pd.concat([a, b], ignore_index=True)
    current = pd.DataFrame({"school": [0, 1, 0], "x": [-1.0, 0.0, 2.0]})
    out, info = _pool("per_school")._fit_predict(train, current)
    assert info["schools_fitted"] == 1
    own = _own_fit_scores(a, current)
    np.testing.assert_allclose(out[[0, 2]], own[[0, 2]], rtol=1e-6)
    assert np.isnan(out[1])


def test_the_pool_holds_keyed_pseudonyms_and_trains_on_its_last_history_periods_only():
    """docs/privacy.md section 4: the pool's records carry a keyed HMAC-SHA256 pseudonym (here
    recomputed with the standard library's hmac over 'student' + US + uid), one per enrolled
    student (sixth forms: some have withdrawn by then), never a uid. With ``history_periods: 1``
    the last fit trains on the one pair of periods it keeps: the students present at both of
    the last two refit points."""
    import hashlib
    import hmac

    from srmsim.model import TrustModel
    from srmsim.scenario import load_scenario

    sc = load_scenario("scenarios/pooling.yaml").with_overrides(
        {"years": 1, "trust": {"n_schools": 3, "students_per_year_group": 90,
                               "year_groups": [12, 13]},
         "policy": {"pool_model": {"history_periods": 1}}})
    m = TrustModel(sc, seed=3)
    while m.week_index <= 25:  # term ends 13, 25, 38: records each time, a fit from the second
        m.step()
    key = m.policy._pseudonym_key
    enrolled = m.students.uid[m.students.status == 0]
    assert 0 < len(enrolled) < len(m.students)  # withdrawn students stay in the table
    want = {hmac.new(key, b"student\x1f" + str(int(u)).encode(), hashlib.sha256).hexdigest()[:16]
            for u in enrolled}
    # the scores of the week-25 fit go back to each pseudonym's own row; none to the withdrawn
    records = m.policy.pool_model.periods[-1]
    score_of = dict(zip(records["pid"], m.policy.pool_model._last_pooled.predict_proba(records),
                        strict=True))
    on_roll = m.students.status == 0
    pids = m.policy.pseudonyms(m.students.uid[on_roll])
    np.testing.assert_array_equal(m.policy.pool_scores[on_roll], [score_of[p] for p in pids])
    assert np.isnan(m.policy.pool_scores[~on_roll]).all()
    while m.week_index <= 38:
        m.step()
    pm = m.policy.pool_model
    periods = pm.periods  # the records of weeks 25 and 38
    assert len(periods) == 2 and len(pm.fits) == 2
    assert set(periods[0]["pid"]) == want and periods[0]["pid"].is_unique
    both = periods[0][["pid"]].merge(periods[1][["pid"]], on="pid")
    assert pm.fits[0]["training_rows"] > 0  # the earlier pair, which the last fit leaves out
    assert pm.fits[-1]["training_rows"] == len(both)


def test_the_pool_model_leaves_out_pairs_with_a_missing_feature_and_scores_complete_records():
    """A pair with a missing feature is left out of the fit (not the end of all scores), and a
    current record with one gets no score: the fit is statsmodels' on the complete pairs."""
    rng = np.random.default_rng(14)
    train = pd.DataFrame({"school": np.repeat([0, 1], 20), "x": rng.normal(size=40),
                          "outcome": np.tile([1, 0, 0, 1, 0], 8)})
    gappy = train.copy()
    gappy.loc[[3, 17], "x"] = np.nan
    current = pd.DataFrame({"school": [0, 1, 1], "x": [-1.0, np.nan, 1.5]})
    out, info = _pool("pooled")._fit_predict(gappy, current)
    assert "skipped" not in info and info["training_rows"] == 38
    complete = gappy.dropna()
    np.testing.assert_allclose(out[[0, 2]], _own_fit_scores(complete, current.iloc[[0, 2]]),
                               rtol=1e-6)
    assert np.isnan(out[1])


def test_a_partially_pooled_pool_model_scores_each_school_at_its_own_rate():
    """Known truth: three schools alike in the feature but with event rates of about 0.1, 0.3
    and 0.6. The school random intercepts put each school's mean score near its own observed
    rate; a single pooled logistic (no school term) would give every school the same ~0.33."""
    rng = np.random.default_rng(15)
    n = 300
    school = np.repeat([0, 1, 2], n)
    x = rng.normal(size=3 * n)
    base = np.take(special.logit([0.1, 0.3, 0.6]), school)
    y = (rng.random(3 * n) < special.expit(base + 0.3 * x)).astype(int)
    train = pd.DataFrame({"school": school, "x": x, "outcome": y})
    current = train[["school", "x"]]
    out, info = _pool("partially_pooled")._fit_predict(train, current)
    assert "skipped" not in info
    for s in range(3):
        rate = y[school == s].mean()
        assert out[school == s].mean() == pytest.approx(rate, abs=0.02)


# ------------------------------------------------------------------ trial eligibility
def _trial_model(seed: int = 1):
    """Two schools of 30 a year group; every Year 7 student is flagged every week."""
    from srmsim.model import TrustModel
    from srmsim.scenario import scenario_from_dict

    policy = {"rules": {"r": {"when": "year_group == 7", "cadence": "weekly"}},
              "actions": {"a": {"take_up": 1.0, "staff_minutes": {"tutor": 10}, "weeks": 2}},
              "workflows": {"w": {"trigger": "r", "cooldown_weeks": 30,
                                  "steps": [{"action": "a", "weeks": 2}]}},
              "staff": {"school": {"tutor": 10_000}}}
    sc = scenario_from_dict({"trust": {"n_schools": 2, "students_per_year_group": 30,
                                       "size_cv": 0.0},
                             "outputs": {"history": "none"}, "policy": policy}, "t")
    return TrustModel(sc, seed=seed)


def _first_queued(model) -> pd.Series:
    ev = model.policy.events()
    queued = ev[ev["event"].astype(str) == "queued"]
    return queued.groupby("student")["run_week"].min()


def test_treated_students_may_be_referred_from_the_first_week_and_control_students_never():
    """srmsim.trial.assign: the assignment says from which run week each student may be
    referred; students and schools randomised are eligible from the start (week 0, where the
    weekly trigger first flags), the control arm never."""
    from srmsim.trial.assign import StudentAssignment

    m = _trial_model()
    assignment = StudentAssignment(5, 0.5, "school")
    m.policy.set_eligibility(assignment.eligible_from)
    for _ in range(3):
        m.step()
    t = m.students
    y7 = t.year_group == 7
    treated = assignment.treated(t.uid, t.school)
    first = _first_queued(m)
    want = set(m.policy.pseudonyms(t.uid[y7 & treated]))
    assert set(first.index) == want and (first == 0).all()


def test_stepped_wedge_schools_refer_from_the_first_week_of_their_step():
    """SteppedWedgeAssignment: group k may refer from run week ``k * step_weeks``: with two
    steps of 3 weeks one school's Year 7 are first referred in week 3, the other's in week 6,
    and none before."""
    from srmsim.trial.assign import SteppedWedgeAssignment

    m = _trial_model()
    assignment = SteppedWedgeAssignment(2, steps=2, step_weeks=3, n_schools=2)
    assert sorted(assignment.start_period.tolist()) == [1, 2]
    m.policy.set_eligibility(assignment.eligible_from)
    for _ in range(8):
        m.step()
    t = m.students
    school_of = dict(zip(m.policy.pseudonyms(t.uid), t.school.tolist(), strict=True))
    first = _first_queued(m)
    by_school = first.groupby(first.index.map(school_of)).agg(["min", "max", "size"])
    for s in (0, 1):
        week = 3 * int(assignment.start_period[s])
        assert (by_school.loc[s, "min"], by_school.loc[s, "max"]) == (week, week)
        assert by_school.loc[s, "size"] == int(((t.school == s) & (t.year_group == 7)).sum())


def test_block_none_randomises_across_the_trust_not_within_schools():
    """``block: none``: one block of the whole trust, exactly round(share x n) treated (half up):
    5 of two schools of 5, where blocks by school would treat 3 + 3."""
    from srmsim.trial.assign import StudentAssignment

    uid = np.arange(10)
    school = np.repeat([0, 1], 5)
    per_school = set()
    for seed in range(40):
        treated = StudentAssignment(seed, 0.5, "none").treated(uid, school)
        assert treated.sum() == 5
        per_school.add(int(treated[:5].sum()))
    assert len(per_school) > 2  # how many fall in each school varies from seed to seed


@pytest.mark.parametrize("steps", [2, 3, 4])
def test_group_time_stepped_wedges_need_two_schools_in_every_group(steps):
    """check_schools refuses a group_time stepped wedge exactly when some group of schools that
    crosses over together holds a single school, the groups being as equal as
    SteppedWedgeAssignment makes them."""
    from types import SimpleNamespace

    from srmsim.trial.assign import SteppedWedgeAssignment
    from srmsim.trial.spec import check_schools

    cfg = SimpleNamespace(randomise=SimpleNamespace(unit="stepped_wedge", steps=steps,
                                                    share_treated=None, block=None),
                          analysis=SimpleNamespace(method="group_time"))
    for n in range(steps, 3 * steps + 1):
        groups = SteppedWedgeAssignment(0, steps, 13, n).start_period
        smallest = np.bincount(groups)[1:].min()
        problems = check_schools(cfg, n)
        assert bool(problems) == (smallest < 2), (n, problems)


def test_built_trusts_check_each_schools_block_or_the_trusts_with_block_none():
    """check_built_blocks: with ``block: school`` each school's roll is a block (a school of 3
    at share 0.9 treats all 3: no control); with ``block: none`` the trust's 103 are one block.
    The message names no size: a count of real pupils under 10 is never printed."""
    from types import SimpleNamespace

    from srmsim.trial.spec import check_built_blocks

    def cfg(block):
        return SimpleNamespace(randomise=SimpleNamespace(unit="students", share_treated=0.9,
                                                         block=block))

    problems = check_built_blocks(cfg("school"), [100, 3], 1, 1)
    assert len(problems) == 1 and "1 of the 2 schools" in problems[0][1]
    assert "3" not in problems[0][1].replace("0.9", "")
    assert check_built_blocks(cfg("none"), [100, 3], 1, 1) == []


def test_the_screening_flags_are_every_workflows_trigger_at_the_first_evaluation():
    """``population: flagged`` screens on the policy's triggers: with two workflows, a student
    flagged by either (Year 7 or Year 8, by hand) is in the screened population -- the students
    the engine flags that week, not only the last workflow's."""
    from srmsim.model import TrustModel
    from srmsim.policy.compiled import compile_policy
    from srmsim.scenario import scenario_from_dict
    from srmsim.trial.analyse import screen_flags, screening_week

    step = {"action": "a", "weeks": 2}
    policy = {"rules": {"r7": {"when": "year_group == 7", "cadence": "weekly"},
                        "r8": {"when": "year_group == 8", "cadence": "weekly"}},
              "actions": {"a": {"take_up": 1.0, "staff_minutes": {"tutor": 10}, "weeks": 2}},
              "workflows": {"w7": {"trigger": "r7", "steps": [step]},
                            "w8": {"trigger": "r8", "steps": [step]}},
              "staff": {"school": {"tutor": 10_000}}}
    sc = scenario_from_dict({"trust": {"n_schools": 2, "students_per_year_group": 20},
                             "outputs": {"history": "none"}, "policy": policy}, "t")
    compiled = compile_policy(sc.policy)
    week = screening_week(compiled, 39)
    m = TrustModel(sc, seed=4)
    for _ in range(week + 1):
        m.step()
    got = screen_flags(m, compiled, week)
    t = m.students
    assert set(got.tolist()) == set(t.uid[np.isin(t.year_group, [7, 8])].tolist())
    ev = m.policy.events()
    engine = set(ev.loc[(ev["event"].astype(str) == "flagged") & (ev["run_week"] == week),
                        "student"])
    assert set(m.policy.pseudonyms(got)) == engine


def test_partially_pooled_risk_fits_with_the_solver_it_is_given(monkeypatch):
    """Module docs: ``solver="newton"`` (any model) fits with numpy instead of statsmodels.
    The partially pooled model took its starting logistic fit from statsmodels whatever its
    solver; with statsmodels' GLM out of reach it must still fit, to the same model."""
    rng = np.random.default_rng(16)
    school = np.repeat(np.arange(8), 150)
    x = rng.normal(size=school.size)
    u = rng.normal(0, 0.7, 8)
    y = (rng.random(school.size) < special.expit(-1 + u[school] + 0.8 * x)).astype(int)
    df = pd.DataFrame({"school": school, "x": x, "y": y})
    reference = risk.PartiallyPooledRisk().fit(df, "y", ["x"])

    def no_statsmodels(*args, **kwargs):
        raise AssertionError("statsmodels' GLM was used")

    monkeypatch.setattr(risk.models, "_binomial_glm", no_statsmodels)
    fast = risk.PartiallyPooledRisk(solver="newton").fit(df, "y", ["x"])
    np.testing.assert_allclose(fast.params_, reference.params_, rtol=0, atol=1e-5)
    assert fast.tau_ == pytest.approx(reference.tau_, abs=1e-5)


def test_school_posterior_means_and_sds_match_direct_integration():
    """Each school's intercept mean and SD in ``school_effects_`` are its empirical-Bayes
    posterior's, given the fitted coefficients and SD: here integrated directly (scipy's quad
    over the prior times the school's likelihood), independently of the adaptive
    Gauss-Hermite nodes."""
    from scipy import integrate, stats

    rng = np.random.default_rng(17)
    sizes = [15, 40, 120, 300]
    school = np.repeat(np.arange(4), sizes)
    x = rng.normal(size=school.size)
    u = np.array([0.9, -0.6, 0.3, -0.4])
    y = (rng.random(school.size) < special.expit(-0.8 + u[school] + 0.7 * x)).astype(int)
    df = pd.DataFrame({"school": school, "x": x, "y": y})
    m = risk.PartiallyPooledRisk().fit(df, "y", ["x"])
    eta = m.design_.transform(df) @ m.params_
    eff = m.school_effects_.set_index("school")
    for s in range(4):
        e, ys = eta[school == s], y[school == s]

        def density(v, e=e, ys=ys):
            z = e + v
            return np.exp(np.sum(ys * z - np.logaddexp(0, z))) * stats.norm.pdf(v, 0, m.tau_)

        lo, hi = -8 * m.tau_, 8 * m.tau_
        mass = integrate.quad(density, lo, hi, epsabs=0, epsrel=1e-12, limit=200)[0]
        mean = integrate.quad(lambda v: v * density(v), lo, hi, epsabs=0, epsrel=1e-12,
                              limit=200)[0] / mass
        second = integrate.quad(lambda v: v * v * density(v), lo, hi, epsabs=0, epsrel=1e-12,
                                limit=200)[0] / mass
        assert eff.loc[s, "intercept"] == pytest.approx(mean, abs=1e-6)
        assert eff.loc[s, "intercept_sd"] == pytest.approx(np.sqrt(second - mean**2), abs=1e-6)


def test_a_between_school_sd_at_its_upper_bound_is_an_error():
    """Docstring: a fit whose SD reaches its upper bound raises EstimationError (schools differ
    too much for a shared model) rather than return the bounded number."""
    rng = np.random.default_rng(18)
    school = np.repeat(np.arange(6), 150)
    u = np.array([-1.5, -0.5, 0.0, 0.5, 1.0, 1.5])
    x = rng.normal(size=school.size)
    y = (rng.random(school.size) < special.expit(-0.5 + u[school] + 0.5 * x)).astype(int)
    df = pd.DataFrame({"school": school, "x": x, "y": y})
    with pytest.raises(EstimationError, match="between-school SD hit its upper bound 0.1"):
        risk.PartiallyPooledRisk(tau_bounds=(1e-3, 0.1)).fit(df, "y", ["x"])


def test_truth_effects_are_paired_differences_with_the_groups_mean_size():
    """Per group: the mean over replications of trial minus counterfactual, its t interval
    (n - 1 df) by hand, and ``students`` the group's mean size over replications."""
    from scipy import stats

    from srmsim.trial.groups import truth_effects

    rows = []
    for rep, (size, trial, cf) in enumerate([(10, 0.91, 0.90), (12, 0.93, 0.90),
                                             (14, 0.92, 0.89)]):
        for outcome, t_value, c_value in (("attendance", trial, cf), ("cost", 100.0 * rep, 0.0)):
            rows.append({"replication": rep, "group": "FSM", "outcome": outcome,
                         "trial": t_value, "counterfactual": c_value, "students": size})
    out = truth_effects(pd.DataFrame(rows)).set_index("outcome")
    d = np.array([0.01, 0.03, 0.03])
    half = stats.t.ppf(0.975, 2) * d.std(ddof=1) / np.sqrt(3)
    assert out.loc["attendance", "difference"] == pytest.approx(d.mean())
    assert [out.loc["attendance", "ci_low"], out.loc["attendance", "ci_high"]] == pytest.approx(
        [d.mean() - half, d.mean() + half])
    assert (out["students"] == 12.0).all() and (out["group"] == "FSM").all()
    assert out.loc["cost", "difference"] == pytest.approx(100.0)
