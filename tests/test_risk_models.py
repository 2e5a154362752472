"""Risk models: recover known coefficients, fallbacks, partial pooling, splits and evaluation."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special

from srmsim import risk
from srmsim.errors import DataError, EstimationError, SrmsimError


def simulate(
    n_schools: int = 10,
    n: int = 300,
    tau: float = 0.0,
    seed: int = 0,
    beta_att: float = -12.0,
    beta_male: float = 0.5,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Students with a known logistic risk structure and school intercepts u ~ N(0, tau^2)."""
    rng = np.random.default_rng(seed)
    u = rng.normal(0.0, tau, n_schools)
    school = np.repeat(np.arange(n_schools), n)
    att = rng.beta(18, 2, n_schools * n)
    sex = rng.choice(["F", "M"], n_schools * n)
    fsm = rng.random(n_schools * n) < 0.3
    lp = -2.0 + u[school] + beta_att * (att - 0.9) + beta_male * (sex == "M") + 0.4 * fsm
    y = rng.random(lp.size) < special.expit(lp)
    df = pd.DataFrame({"school": [f"S{j:02d}" for j in school], "attendance_rate": att,
                       "sex": sex, "fsm": fsm, "withdrawn": y})
    return df, u


FEATURES = ["attendance_rate", "sex", "fsm"]


def test_logistic_recovers_known_coefficients_with_covering_intervals():
    df, _ = simulate(n_schools=20, n=1000, seed=1)
    m = risk.LogisticRisk(reference_levels={"sex": "F"}).fit(df, "withdrawn", FEATURES)
    assert m.fit_method_ == "mle"
    ci = m.conf_int()
    sd = df["attendance_rate"].std(ddof=0)
    truth = {"attendance_rate": -12.0 * sd, "sex[M]": 0.5, "fsm": 0.4 * df["fsm"].std(ddof=0)}
    for name, value in truth.items():
        assert ci.loc[name, "low"] <= value <= ci.loc[name, "high"], (name, ci.loc[name])
    assert m.reference_levels_ == {"sex": "F"}
    for level in (95, 1.0, 0.0, float("nan"), "0.95"):  # NaN or infinite bounds came back
        with pytest.raises(DataError, match="level"):
            m.conf_int(level)
    # an explicit other reference flips the dummy
    m2 = risk.LogisticRisk(reference_levels={"sex": "M"}).fit(df, "withdrawn", FEATURES)
    assert m2.coef_["sex[F]"] == pytest.approx(-m.coef_["sex[M]"], rel=1e-6)
    assert np.allclose(m.predict_proba(df), m2.predict_proba(df))
    assert np.array_equal(m.predict(df), m.predict_proba(df))


def test_unseen_category_and_missing_values():
    df, _ = simulate(n_schools=2, n=200, seed=2)
    m = risk.LogisticRisk().fit(df, "withdrawn", FEATURES)
    with pytest.raises(DataError, match=r"column 'sex'.*'X'"):
        m.predict_proba(df.assign(sex="X"))
    gap = df.copy()
    gap.loc[3, "attendance_rate"] = np.nan
    p = m.predict_proba(gap)
    assert np.isnan(p[3]) and np.isfinite(np.delete(p, 3)).all()
    with pytest.raises(DataError, match="missing"):
        risk.LogisticRisk().fit(gap, "withdrawn", FEATURES)
    m3 = risk.LogisticRisk(drop_missing=True).fit(gap, "withdrawn", FEATURES)
    assert m3.n_dropped_ == 1
    with pytest.raises(DataError, match="column 'nope'"):
        risk.LogisticRisk().fit(df, "withdrawn", ["nope"])
    with pytest.raises(DataError, match="reference level"):
        risk.LogisticRisk(reference_levels={"sex": "Z"}).fit(df, "withdrawn", FEATURES)


def test_perfect_separation_falls_back_to_ridge_and_says_so():
    df = pd.DataFrame({"x": np.arange(40.0), "school": "A", "y": np.arange(40) >= 20})
    with pytest.warns(risk.RiskModelWarning, match="ridge"):
        m = risk.LogisticRisk().fit(df, "y", ["x"])
    assert m.fit_method_ == "ridge"
    assert any("separation" in note for note in m.notes_)
    p = m.predict_proba(df)
    assert np.all(np.isfinite(p)) and np.all(np.diff(p) > 0)
    assert p[:20].max() < 0.5 < p[20:].min()
    assert m.conf_int()["se"].isna().all()


def test_no_events_is_an_estimation_error():
    df, _ = simulate(n_schools=1, n=50)
    with pytest.raises(EstimationError, match="no events"):
        risk.PooledRisk().fit(df.assign(withdrawn=False), "withdrawn", FEATURES)


def test_per_school_falls_back_to_pooled_for_small_schools():
    df, _ = simulate(n_schools=4, n=400, tau=0.5, seed=3)
    small = df[df["school"] == "S03"].head(30)
    df = pd.concat([df[df["school"] != "S03"], small], ignore_index=True)
    with pytest.warns(risk.RiskModelWarning, match="pooled"):
        m = risk.PerSchoolRisk(min_events=10).fit(df, "withdrawn", FEATURES)
    assert m.fallback_schools_ == ["S03"]
    assert set(m.school_params_) == {"S00", "S01", "S02"}
    in_small = (df["school"] == "S03").to_numpy()
    assert np.allclose(m.predict_proba(df)[in_small], m.pooled_.predict_proba(df)[in_small])
    assert not np.allclose(m.predict_proba(df)[~in_small], m.pooled_.predict_proba(df)[~in_small])
    new = df.head(5).assign(school="NEW")
    assert np.allclose(m.predict_proba(new), m.pooled_.predict_proba(new))


def test_partially_pooled_recovers_school_sd_and_shrinks():
    df, u = simulate(n_schools=40, n=150, tau=0.8, seed=4)
    m = risk.PartiallyPooledRisk().fit(df, "withdrawn", FEATURES)
    assert 0.5 < m.tau_ < 1.15
    eff = m.school_effects_.set_index("school")
    assert np.corrcoef(eff["intercept"].to_numpy(), u)[0, 1] > 0.8
    # shrinkage: posterior intercepts vary less than the truth does in the same schools
    assert eff["intercept"].std() < np.std(u)
    # the fixed part is conditional on the school: it should match the simulated slope
    sd = df["attendance_rate"].std(ddof=0)
    assert m.coef_["attendance_rate"] == pytest.approx(-12.0 * sd, abs=0.15)
    # an unseen school gets intercept 0
    new = df.head(3).assign(school="NEW")
    expected = special.expit(m.design_.transform(new) @ m.params_)
    assert np.allclose(m.predict_proba(new), expected)
    seen = df.head(3)
    shift = eff.loc[seen["school"].iloc[0], "intercept"]
    assert np.allclose(m.predict_proba(seen), special.expit(m.design_.transform(seen) @ m.params_
                                                            + shift))


def test_partially_pooled_finds_no_school_variation_when_there_is_none():
    df, _ = simulate(n_schools=15, n=200, tau=0.0, seed=5)
    m = risk.PartiallyPooledRisk().fit(df, "withdrawn", FEATURES)
    assert m.tau_ < 0.3
    pooled = risk.PooledRisk().fit(df, "withdrawn", FEATURES)
    assert np.corrcoef(m.predict_proba(df), pooled.predict_proba(df))[0, 1] > 0.99


@pytest.mark.parametrize("kwargs,message", [
    # a zero or negative low bound had a NaN logarithm: the optimiser ran with no lower bound
    ({"tau_bounds": (0.0, 5.0)}, "1e-06 <= low < high"),
    ({"tau_bounds": (-1.0, 5.0)}, "1e-06 <= low < high"),
    ({"tau_bounds": (float("nan"), 5.0)}, "finite"),
    ({"tau_bounds": (1e-3, float("inf"))}, "finite"),
    ({"tau_bounds": (5.0, 1e-3)}, "low < high"),
    ({"tau_bounds": (1e-300, 1e300)}, "low < high"),
    ({"tau_bounds": (True, 5.0)}, "not bool"),
    ({"tau_bounds": (1.0,)}, "a pair"), ({"tau_bounds": (1.0, 2.0, 3.0)}, "a pair"),
    ({"tau_bounds": "ab"}, "a pair"), ({"tau_bounds": None}, "a pair"),
    # raw numpy errors, a silent non-convergence (True as one node) or a 7 TiB allocation
    ({"n_nodes": 0}, "n_nodes"), ({"n_nodes": 2.5}, "n_nodes"), ({"n_nodes": True}, "n_nodes"),
    ({"n_nodes": 1}, "n_nodes"), ({"n_nodes": 10**6}, "n_nodes"),
    ({"ridge_sd": float("nan")}, "ridge_sd"), ({"ridge_sd": -1.0}, "ridge_sd"),
    ({"drop_missing": "no"}, "drop_missing"), ({"reference_levels": "abc"}, "reference_levels"),
])
def test_partially_pooled_refuses_bad_arguments(kwargs, message):
    with pytest.raises(SrmsimError, match=message):
        risk.PartiallyPooledRisk(**kwargs)


def test_partially_pooled_accepts_bounds_as_any_pair_and_fits_with_few_nodes():
    df, _ = simulate(n_schools=8, n=150, tau=0.8, seed=7)
    wide = risk.PartiallyPooledRisk(tau_bounds=np.array([1e-6, 100.0])).fit(
        df, "withdrawn", FEATURES)
    two = risk.PartiallyPooledRisk(tau_bounds=[1e-3, 5], n_nodes=2).fit(df, "withdrawn", FEATURES)
    assert wide.tau_bounds == (1e-6, 100.0) and two.tau_ == pytest.approx(wide.tau_, rel=0.1)


def test_partial_pooling_beats_pooled_on_later_cohort_when_schools_differ():
    df, _ = simulate(n_schools=12, n=600, tau=1.0, seed=6)
    df["cohort"] = np.tile(np.repeat([2022, 2023], 300), 12)
    train, test = risk.train_test_by(df, "cohort", [2022], [2023])
    assert set(train["cohort"]) == {2022} and set(test["cohort"]) == {2023}
    pooled = risk.PooledRisk().fit(train, "withdrawn", FEATURES)
    partial = risk.PartiallyPooledRisk().fit(train, "withdrawn", FEATURES)
    ev_p = risk.evaluate_model(pooled, test, "withdrawn", school=None)
    ev_pp = risk.evaluate_model(partial, test, "withdrawn", school=None)
    assert ev_pp["log_loss"] < ev_p["log_loss"]
    assert ev_pp["auc"] > ev_p["auc"]


def test_rule_score_is_calibrated_per_count():
    df = pd.DataFrame({"att": [0.8, 0.8, 0.95, 0.95, 0.95, 0.85],
                       "inc": [2, 0, 0, 0, 1, 3],
                       "y": [1, 0, 0, 0, 1, 1]})
    rule = risk.RuleScore({"low": ("att", "<", 0.9), "beh": ("inc", ">=", 1)}).fit(df, "y")
    # counts: 2, 1, 0, 0, 1, 2; overall rate 1/2; smoothed (events + 0.5) / (n + 1)
    table = rule.rate_table().set_index("count")["event_rate"]
    assert table[0.0] == pytest.approx((0 + 0.5) / 3)
    assert table[1.0] == pytest.approx((1 + 0.5) / 3)
    assert table[2.0] == pytest.approx((2 + 0.5) / 3)
    assert rule.predict_proba(df)[0] == pytest.approx(2.5 / 3)
    assert rule.score(df).tolist() == [2, 1, 0, 0, 1, 2]


def test_splits_and_held_out_school_evaluation():
    df, _ = simulate(n_schools=6, n=200, seed=7)
    with pytest.raises(DataError, match="both train and test"):
        risk.train_test_by(df, "school", ["S00"], ["S00"])
    with pytest.raises(DataError, match="'S99' not found"):
        risk.train_test_by(df, "school", ["S00"], ["S99"])
    train, test = risk.split_schools(df, n_test=2, seed=1)
    assert set(train["school"]).isdisjoint(set(test["school"]))
    assert test["school"].nunique() == 2 and len(train) + len(test) == len(df)
    res = risk.evaluate_held_out_schools(risk.PooledRisk, df, "withdrawn", FEATURES, n_folds=3)
    assert len(res) == 3
    tested = [s for schools in res["test_schools"] for s in schools]
    assert sorted(tested) == sorted(df["school"].unique())
    assert (res["auc"] > 0.6).all()
    assert (res["flagged_at_capacity"] == 0.1 * 400).all()  # 10% of each 200-student school x 2


def test_flag_top_share_per_school_never_exceeds():
    risk_scores = np.array([0.9, 0.8, 0.8, 0.1, 0.5, 0.4, 0.3, 0.2])
    groups = np.array(["A"] * 4 + ["B"] * 4)
    flags = risk.flag_top_share(risk_scores, 0.5, groups)
    # A: top 2 would split the 0.8 tie -> only 0.9 flagged; B: 0.5 and 0.4
    assert flags.tolist() == [True, False, False, False, True, True, False, False]


def test_models_are_deterministic():
    df, _ = simulate(n_schools=5, n=200, tau=0.5, seed=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", risk.RiskModelWarning)
        for make in (risk.PooledRisk, risk.PerSchoolRisk, risk.PartiallyPooledRisk):
            a = make().fit(df, "withdrawn", FEATURES).predict_proba(df)
            b = make().fit(df, "withdrawn", FEATURES).predict_proba(df)
            assert np.array_equal(a, b)


# --------------------------------------------------------------------------- the numpy solver


def _fit_both(df: pd.DataFrame, outcome: str, features: list[str], model=risk.LogisticRisk,
              **kw) -> tuple[risk.RiskModel, risk.RiskModel]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", risk.RiskModelWarning)
        return (model(solver="statsmodels", **kw).fit(df, outcome, features),
                model(solver="newton", **kw).fit(df, outcome, features))


def test_newton_solver_recovers_the_truth_and_equals_statsmodels_within_1e_9():
    """The pool's solver: same maximum-likelihood fit as statsmodels' IRLS (coefficients,
    standard errors, predictions), and the known coefficients inside its intervals."""
    df, _ = simulate(n_schools=20, n=1000, seed=1)
    sm_fit, fast = _fit_both(df, "withdrawn", FEATURES, reference_levels={"sex": "F"})
    assert sm_fit.fit_method_ == fast.fit_method_ == "mle"
    np.testing.assert_allclose(fast.params_, sm_fit.params_, rtol=0, atol=1e-9)
    np.testing.assert_allclose(fast.bse_, sm_fit.bse_, rtol=1e-6)
    np.testing.assert_allclose(fast.predict_proba(df), sm_fit.predict_proba(df), rtol=0, atol=1e-9)
    ci = fast.conf_int()
    sd = df["attendance_rate"].std(ddof=0)
    truth = {"attendance_rate": -12.0 * sd, "sex[M]": 0.5, "fsm": 0.4 * df["fsm"].std(ddof=0)}
    for name, value in truth.items():
        assert ci.loc[name, "low"] <= value <= ci.loc[name, "high"], (name, ci.loc[name])


def test_newton_solver_ridge_fallback_is_statsmodels_objective_at_its_optimum():
    """Collinear features (the pool's first fit: this term's attendance is the year's) and
    perfect separation go to the ridge fit with either solver; Newton's method reaches the
    optimum of the same penalised likelihood, which BFGS approaches within 1e-4."""
    df, _ = simulate(n_schools=10, n=500, seed=4)
    df["attendance_copy"] = df["attendance_rate"]
    features = ["attendance_rate", "attendance_copy", "fsm"]
    sm_fit, fast = _fit_both(df, "withdrawn", features)
    assert sm_fit.fit_method_ == fast.fit_method_ == "ridge"
    assert any("rank-deficient" in note for note in fast.notes_)
    np.testing.assert_allclose(fast.params_, sm_fit.params_, rtol=0, atol=1e-4)
    np.testing.assert_allclose(fast.predict_proba(df), sm_fit.predict_proba(df), rtol=0, atol=1e-4)
    # the penalised score is zero at Newton's answer (an optimum), not just small
    X = fast.design_.transform(df)
    y = df["withdrawn"].to_numpy(float)
    alpha = np.full(X.shape[1], 1.0 / (len(y) * fast.ridge_sd**2))
    alpha[0] = 0.0
    score = X.T @ (y - special.expit(X @ fast.params_)) / len(y) - alpha * fast.params_
    assert np.abs(score).max() < 1e-10
    separated = pd.DataFrame({"x": np.arange(40.0), "school": "A", "y": np.arange(40) >= 20})
    sm_sep, fast_sep = _fit_both(separated, "y", ["x"])
    assert fast_sep.fit_method_ == sm_sep.fit_method_ == "ridge"
    assert [n.split(";")[0] for n in fast_sep.notes_] == [n.split(";")[0] for n in sm_sep.notes_]
    np.testing.assert_allclose(fast_sep.predict_proba(separated),
                               sm_sep.predict_proba(separated), atol=1e-4)


def test_newton_solver_per_school_models_and_bad_solver_names():
    df, _ = simulate(n_schools=4, n=400, tau=0.5, seed=3)
    sm_fit, fast = _fit_both(df, "withdrawn", FEATURES, model=risk.PerSchoolRisk)
    assert set(fast.school_params_) == set(sm_fit.school_params_)
    np.testing.assert_allclose(fast.predict_proba(df), sm_fit.predict_proba(df), atol=1e-9)
    with pytest.raises(DataError, match="solver"):
        risk.PooledRisk(solver="sgd")
    with pytest.raises(DataError, match="solver"):
        risk.fit_logistic(np.ones((4, 1)), np.array([0, 1, 0, 1.0]), solver="lbfgs")


# --------------------------------------------------------------------------- bad input (fuzzing)

R10 = np.array([.9, .8, .7, .6, .5, .4, .3, .2, .1, .05])
Y10 = np.array([1, 1, 0, 1, 0, 0, 0, 1, 0, 0.])


@pytest.mark.parametrize(("rate", "message"), [
    (-0.5, "capacity_rate=-0.5 must be a share from 0 to 1"),
    (1.5, "capacity_rate=1.5 must be a share from 0 to 1"),
    (float("nan"), "capacity_rate=nan must be a finite number"),
    ("0.1", "capacity_rate='0.1' must be a number, not text"),
])
def test_evaluate_risk_validates_the_capacity_rate(rate, message):
    with pytest.raises(SrmsimError, match=message):
        risk.evaluate_risk(R10, Y10, rate)


def test_evaluate_risk_refuses_outcomes_other_than_0_1():
    with pytest.raises(DataError, match="outcome must be boolean or 0/1, found 2.0"):
        risk.evaluate_risk(R10, np.where(Y10 == 1, 2.0, 0.0), 0.3)
    with pytest.raises(DataError, match="y has 9 values but the scores have 10"):
        risk.evaluate_risk(R10, Y10[1:], 0.3)
    as_bool = risk.evaluate_risk(R10, Y10 == 1, 0.3)
    assert as_bool == risk.evaluate_risk(R10, Y10, 0.3)
    assert 0 <= as_bool["auc"] <= 1 and 0 <= as_bool["average_precision"] <= 1


def test_missing_groups_are_a_group_of_their_own():
    """As threshold_table's "(missing)" group: each school flags its own top half, and so do
    the rows whose school is missing (before: never flagged, 2 of 10 flagged in all)."""
    groups = np.array([np.nan] * 5 + [1.0] * 5)
    flags = risk.flag_top_share(R10, 0.5, groups)
    assert flags.astype(int).tolist() == [1, 1, 0, 0, 0, 1, 1, 0, 0, 0]
    ev = risk.evaluate_risk(R10, Y10, 0.5, groups)
    assert ev["flagged_at_capacity"] == 4 and ev["precision_at_capacity"] == 0.5
    mixed = np.array([None, "(missing)"] * 5, dtype=object)  # a real label stays apart
    assert risk.flag_top_share(R10, 0.3, mixed).sum() == 2  # 1 + 1; merged would give 3
    with pytest.raises(DataError, match="one label per row"):
        risk.flag_top_share(R10, 0.5, groups[:3])


def test_flag_top_share_refuses_missing_risks():
    with pytest.raises(DataError, match="missing value"):
        risk.flag_top_share(np.r_[R10, np.nan], 0.5)


def test_split_schools_validates_counts_and_seed():
    df, _ = simulate(n_schools=4, n=20)
    with pytest.raises(SrmsimError, match="n_test must be a whole number"):
        risk.split_schools(df, n_test=1.5)
    with pytest.raises(SrmsimError, match="n_test=4 is out of range"):
        risk.split_schools(df, n_test=4)
    with pytest.raises(SrmsimError, match="seed=-1 is out of range"):
        risk.split_schools(df, seed=-1)
    with pytest.raises(SrmsimError, match="n_folds must be a whole number"):
        risk.evaluate_held_out_schools(risk.PooledRisk, df, "withdrawn", FEATURES, n_folds=2.0)
    mixed = df.assign(school=df["school"].astype(object).where(df["school"] != "S00", 0))
    train, test = risk.split_schools(mixed, n_test=1)  # ints and text as school labels
    assert len(train) + len(test) == len(df)


def test_features_that_are_infinite_or_overflow_their_variance_are_refused():
    df, _ = simulate(n_schools=3, n=100)
    df["x"] = np.random.default_rng(0).normal(size=len(df))
    with pytest.raises(DataError, match="column 'x' holds infinite value inf at row 0"):
        risk.PooledRisk().fit(df.assign(x=np.r_[np.inf, df["x"][1:]]), "withdrawn", ["x"])
    with pytest.raises(DataError, match="column 'x' holds value .* beyond"):
        risk.PooledRisk().fit(df.assign(x=df["x"] * 1e300), "withdrawn", ["x"])
    m = risk.PooledRisk().fit(df.assign(x=df["x"] * 1e100), "withdrawn", ["x"])
    ref = risk.PooledRisk().fit(df, "withdrawn", ["x"])
    assert m.coef_["x"] == pytest.approx(ref.coef_["x"], rel=1e-6)  # standardised: same
    with pytest.raises(DataError, match="infinite"):
        m.predict_proba(df.assign(x=np.inf))
    with pytest.raises(DataError, match="complex"):
        risk.PooledRisk().fit(df.assign(x=df["x"] + 0j), "withdrawn", ["x"])


def test_fit_logistic_refuses_bad_outcomes_and_designs():
    X = np.c_[np.ones(4), [1.0, 2.0, 3.0, 4.0]]
    with pytest.raises(DataError, match="outcome must be boolean or 0/1, found 2.0"):
        risk.fit_logistic(X, np.array([0, 2.0, 0, 2.0]))
    with pytest.raises(DataError, match="infinite"):
        risk.fit_logistic(np.c_[np.ones(4), [1.0, np.inf, 3.0, 4.0]], np.array([0, 1, 0, 1]))
    with pytest.raises(DataError, match="ridge_sd"):
        risk.PooledRisk(ridge_sd=0)


@pytest.mark.parametrize("model", [lambda: risk.PerSchoolRisk(min_events=5),
                                   lambda: risk.PartiallyPooledRisk()])
def test_school_ids_of_another_type_at_prediction_are_refused(model) -> None:
    """Fitted on school numbers and given them as text (``read_csv(dtype=str)``), every school
    was unseen and got the pooled model's risk, without a word (per pupil up to 0.68 off)."""
    df, _ = simulate(n_schools=6, n=200, tau=1.0, seed=3)
    df["school"] = df["school"].str[1:].astype(int)
    m = model().fit(df, "withdrawn", FEATURES)
    p = m.predict_proba(df)
    with pytest.raises(DataError, match=r"column 'school': school ids were numbers in "
                                        r"training, now text"):
        m.predict_proba(df.assign(school=df["school"].astype(str)))
    # the same ids in another numeric or categorical type are the same schools
    for same in (df["school"].astype(float), df["school"].astype("Int64"),
                 df["school"].astype("category")):
        assert np.array_equal(m.predict_proba(df.assign(school=same)), p)
    text = df.assign(school="S" + df["school"].astype(str))
    mt = model().fit(text, "withdrawn", FEATURES)
    assert np.array_equal(mt.predict_proba(text.assign(school=text["school"].astype("string"))),
                          mt.predict_proba(text))
    with pytest.raises(DataError, match="were text in training, now numbers"):
        mt.predict_proba(df)
