"""Mutation review of how a trust learns which action works for whom and pools its data:
srmsim/policy/chooser.py (the choosers, the learner's records, refits and Thompson draws),
srmsim/policy/pool_model.py (the pool's termly risk model on pseudonymised records) and
srmsim/risk/pooling.py (value of pooling). Every expected number here comes from a closed form
(the conjugate Gaussian posterior of a Bayesian ridge regression at its fitted precisions),
statsmodels' own logistic fit on the same records, a count made by hand, or a known truth built
into the data; none is the code under test's output pasted in.

Mutations tried: 66 (chooser 36, pool_model 14, pooling 16), each alone, against
tests/test_policy_digests.py, test_policy_invariants.py, test_learning.py and test_policy.py
(chooser); test_policy_digests.py, test_pooling_learning_review.py, test_policy.py,
test_warm_start.py and test_policy_invariants.py (pool_model); test_risk_pooling.py,
test_pooling_learning_review.py and test_risk_mutation_review.py (pooling). Killed by those: 33
(one, MAX_FITS x 10, by the argument test running 80,000 fits instead of refusing: stopped).
Survived: 33, of which 26 are killed by the tests below and 6 are equivalent; survivors left: 1.
No defect was found.

What the survivors were (killed here): the Thompson draw's noise term and its pivot at the
training mean (as StepLearner.predict draws them; the existing test rebuilds the draw itself);
the history window (13 weeks a term, its
boundary week), the training frame's order, min_cases at equality, one arm without a model;
the oracle's tie tolerance; gain per minute over the step's weeks; year and term of the
referral; the exploration share and its label; usability of an action whose role a school lacks
(oracle, random and the recorded oracle action); a school's shortfall falling to the pool; the
pool's window (periods kept, pairs kept), the rarer outcome in min_events (pooled and per
school), complete training records only, enrolled students only; value_of_pooling's single-order
band, one-outcome held-out schools, capacity_rate 1, every school held out, one school.

Equivalent mutants, and why:
- ``isnan(pred).any(axis=1)`` -> ``.all``: predict fills a row for every candidate or none.
- ``data == "pooled"`` -> ``!= "own"`` (refit): the config allows only the two values.
- usable rows ``notna().all`` -> ``.any`` (pool scores): LogisticRisk scores a row with a
  missing feature NaN either way.
- new serial numbers not sorted by uid: pairs are matched by serial and kept in the period's row
  order, and the pseudonym is the uid's, so nothing read changes.
- ``fit_method_ == "ridge"`` -> ``!= "mle"`` (n_ridge): every srmsim model's method is one of
  the two.
- dropping the NaN filter of the per-k values: whether precision at capacity is NaN (no one
  flagged) depends only on the held-out schools' sizes, so it is NaN for every fit or none, and
  an AUC is never NaN (both outcomes are required).

Survivor left: the decision's ``predicted_gain`` taken as the largest prediction rather than
the chosen action's. They differ only for explored referrals, and checking them needs the
model as it was at that week's choice, which the run does not keep.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from test_learning import STRONG, learning_scenario

from srmsim.policy.chooser import StepLearner
from srmsim.students import ENROLLED, WITHDRAWN

# --------------------------------------------------------------------------- the learner


def learner(candidates=(0, 1), *, data="pooled", min_cases=5, history_terms=9,
            features=("x",)) -> StepLearner:
    """A StepLearner for a step with these candidates (the engine is not needed to learn)."""
    config = SimpleNamespace(features=list(features), history_terms=history_terms, data=data,
                             min_cases=min_cases, exploration="thompson")
    step = SimpleNamespace(candidates=list(candidates), chooser=config, action_id=candidates[0])
    return StepLearner(step, n_schools=2)  # type: ignore[arg-type]


def records(n: int, rng: np.random.Generator, *, week: int = 0, school=0,
            effects=((2.0, 1.0), (1.0, 3.0)), noise: float = 1.0, mean: float = 0.0
            ) -> pd.DataFrame:
    """``n`` reviewed cases per arm: arm a's gain is effects[a][0] + effects[a][1] * x + noise."""
    rows = []
    for a, (b0, b1) in enumerate(effects):
        x = rng.normal(mean, 1.0, size=n)
        rows.append(pd.DataFrame({
            "pid": [f"p{week}.{school}.{a}.{i}" for i in range(n)], "school": school,
            "week": week, "action": a, "gain": b0 + b1 * x + rng.normal(0, noise, size=n),
            "x": x}))
    return pd.concat(rows, ignore_index=True)


def conjugate(x: np.ndarray, y: np.ndarray):
    """Bayesian ridge's posterior in closed form at the precisions scikit-learn estimates
    (alpha: noise, lambda: weights), the intercept flat: centred data, Sigma = (lambda I +
    alpha Xc'Xc)^-1, mean = alpha Sigma Xc'yc; the mean gain at x_mean has variance
    1 / (alpha n)."""
    from sklearn.linear_model import BayesianRidge

    m = BayesianRidge().fit(x, y)
    xm, ym = x.mean(axis=0), y.mean()
    xc = x - xm
    sigma = np.linalg.inv(m.lambda_ * np.eye(x.shape[1]) + m.alpha_ * xc.T @ xc)
    coef = m.alpha_ * sigma @ xc.T @ (y - ym)
    return coef, ym - xm @ coef, xm, sigma, 1.0 / (m.alpha_ * len(x))


def test_thompson_draws_of_the_learner_have_the_conjugate_posteriors_mean_and_variance():
    """The learner's Thompson draws at a point x (through StepLearner.predict, as the chooser
    makes them) have mean x'mu + b and variance (x - x_mean)' Sigma (x - x_mean) + 1/(alpha n),
    with Sigma and mu the conjugate closed form -- not a variance taken around zero, nor a
    standard deviation used as a variance. The features are far from zero (mean 5) so that the
    pivot at x_mean matters."""
    rng = np.random.default_rng(11)
    lr = learner(min_cases=5)
    lr.receive(records(60, rng, mean=5.0, noise=2.0))
    lr.refit(now=10)
    frame = lr.training_frame(10)
    points = np.array([[2.0], [5.0], [8.5]])
    n = 60_000
    zrng = np.random.default_rng(5)
    for j, a in enumerate((0, 1)):
        own = frame[frame["action"] == a]
        coef, b, xm, sigma, se2 = conjugate(own[["x"]].to_numpy(float), own["gain"].to_numpy())
        mean = lr.predict(points, np.zeros(3))[:, j]
        np.testing.assert_allclose(mean, points @ coef + b, rtol=1e-8, atol=1e-8)
        for p in points:
            x = np.repeat(p[None], n, axis=0)
            z = zrng.standard_normal((n, 2, 2))
            draws = lr.predict(x, np.zeros(n), z)[:, j]
            dx = p - xm
            var = dx @ sigma @ dx + se2
            assert abs(draws.mean() - (p @ coef + b)) < 5 * np.sqrt(var / n)
            assert draws.var() / var == pytest.approx(1, abs=0.03)


def test_a_learner_picks_the_better_arm_more_often_as_data_accrue():
    """Two arms with known effects: arm 0 gains 2 + x, arm 1 gains 1 + 3x, so arm 1 is better
    exactly when x > 0.5. The posterior-mean choice over a grid of students is right more often
    with more records, and nearly always with many."""
    grid = np.linspace(-3, 3, 601)[:, None]
    truth = (grid[:, 0] > 0.5).astype(int)
    right = []
    for n in (6, 30, 400):
        shares = []
        for seed in range(20):
            lr = learner(min_cases=5)
            lr.receive(records(n, np.random.default_rng(seed), noise=3.0))
            lr.refit(now=0)
            pick = np.argmax(lr.predict(grid, np.zeros(len(grid))), axis=1)
            shares.append((pick == truth).mean())
        right.append(np.mean(shares))
    assert right[0] < right[1] < right[2]
    assert right[2] > 0.97


def test_the_learner_trains_on_the_last_history_terms_only():
    """history_terms 2 at week 40: the window starts at week 40 - 26 = 14 (kept), week 13 is
    dropped. Records from week 13 carry the opposite effect, so any of them would show."""
    rng = np.random.default_rng(3)
    lr = learner(history_terms=2, min_cases=5)
    lr.receive(records(40, rng, week=13, effects=((-50.0, 0.0), (50.0, 0.0)), noise=0.1))
    lr.receive(records(40, rng, week=14, effects=((3.0, 0.0), (1.0, 0.0)), noise=0.1))
    frame = lr.training_frame(40)
    assert sorted(set(frame["week"])) == [14]
    lr.refit(now=40)
    assert lr.fits[-1]["records"] == 80
    np.testing.assert_allclose(lr.predict(np.zeros((1, 1)), np.zeros(1))[0], [3.0, 1.0],
                               atol=0.1)
    # the frame is in (week, school, action, gain, features) order whatever order the records
    # arrived in
    lr2 = learner()
    lr2.receive(records(5, np.random.default_rng(1), week=20, school=1))
    lr2.receive(records(5, np.random.default_rng(2), week=15, school=0))
    got = lr2.training_frame(30)
    want = got.sort_values(["week", "school", "action", "gain", "x"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    assert got["week"].iloc[0] == 15


def test_the_learners_fit_does_not_depend_on_the_pseudonym_key():
    """A trust built from real records gets a random pseudonym key each run: the same records
    under other pseudonyms must give bit-identical predictions (ordering the training rows by
    pseudonym changed the fit's rounding, so the same seed printed other predicted gains)."""
    rng = np.random.default_rng(1)
    recs = pd.concat([records(40, rng, week=w) for w in (0, 13, 26)], ignore_index=True)
    x = rng.normal(size=(200, 1))
    predictions = []
    for key in range(4):
        renamed = recs.copy()
        renamed["pid"] = [f"{v:08d}" for v in np.random.default_rng(key).permutation(len(recs))]
        lr = learner()
        lr.receive(renamed)
        lr.refit(now=40)
        predictions.append(lr.predict(x, np.zeros(200)))
    for p in predictions[1:]:
        np.testing.assert_array_equal(p, predictions[0])


def test_a_feature_not_known_yet_is_predicted_at_the_training_mean_not_at_zero():
    """Records with x around 10: arm 1 (gain 1 + 3x) is far better there than arm 0 (2 + x). A
    referral whose x is not known yet (attendance_rate before the year's first session, a
    reading gap before the first test) was predicted at x = 0, outside the data, where arm 0
    looked better; it is now predicted, for every arm alike, at the mean of x over all the
    training records."""
    rng = np.random.default_rng(5)
    lr = learner()
    recs = records(60, rng, week=0, mean=10.0, noise=0.1)
    lr.receive(recs)
    lr.refit(now=13)
    got = lr.predict(np.array([[np.nan]]), np.zeros(1))[0]
    want = lr.predict(np.array([[recs["x"].mean()]]), np.zeros(1))[0]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(got, [12.0, 31.0], atol=0.5)
    assert got.argmax() == 1


def test_records_with_an_infinite_gain_are_left_out_of_the_fit_not_a_crash():
    """measure: "1 / incidents_term" changes by inf at a student's first incident: the refit
    raised scikit-learn's ValueError (a traceback ended the run); such records say nothing of
    the gain and are left out, as records with a missing value are."""
    rng = np.random.default_rng(7)
    clean = records(30, rng, week=0)
    bad = clean.iloc[:6].copy()
    bad["gain"] = [np.inf, -np.inf, np.nan, np.inf, 1.0, 2.0]
    bad.loc[bad.index[4:], "x"] = np.inf
    bad["pid"] = [f"bad{i}" for i in range(len(bad))]
    lr, want = learner(), learner()
    lr.receive(pd.concat([clean, bad], ignore_index=True))
    want.receive(clean)
    lr.refit(now=13)
    want.refit(now=13)
    x = rng.normal(size=(20, 1))
    np.testing.assert_array_equal(lr.predict(x, np.zeros(20)), want.predict(x, np.zeros(20)))
    assert lr.fits[-1]["records"] == want.fits[-1]["records"] == 60


def test_an_arm_with_exactly_min_cases_records_is_modelled_and_one_short_is_not():
    rng = np.random.default_rng(8)
    lr = learner(min_cases=7)
    lr.receive(records(7, rng))
    lr.refit(now=0)
    assert set(lr.models[-1]) == {0, 1} and lr.fits[-1]["groups"] == 1
    assert np.isfinite(lr.predict(np.zeros((2, 1)), np.zeros(2))).all()
    short = records(7, rng)
    lr = learner(min_cases=7)
    lr.receive(short[~((short["action"] == 1) & (short.index == short.index.max()))])
    lr.refit(now=0)
    assert set(lr.models[-1]) == {0}
    # one arm without a model: no prediction for any arm (the chooser explores instead)
    assert np.isnan(lr.predict(np.zeros((2, 1)), np.zeros(2))).all()


def test_own_data_learns_each_schools_effects_and_pooled_data_their_mix():
    """School 0's arm 0 gains 4 and arm 1 gains 0; school 1 the reverse. On its own data each
    school learns its own best arm; pooled, both see the average (2 and 2)."""
    rng = np.random.default_rng(2)
    both = pd.concat([records(200, rng, school=0, effects=((4.0, 0.0), (0.0, 0.0)), noise=0.2),
                      records(200, rng, school=1, effects=((0.0, 0.0), (4.0, 0.0)), noise=0.2)],
                     ignore_index=True)
    school = np.array([0, 1])
    own = learner(data="own")
    own.receive(both)
    own.refit(now=0)
    np.testing.assert_allclose(own.predict(np.zeros((2, 1)), school), [[4, 0], [0, 4]],
                               atol=0.1)
    pooled = learner(data="pooled")
    pooled.receive(both)
    pooled.refit(now=0)
    np.testing.assert_allclose(pooled.predict(np.zeros((2, 1)), school), [[2, 2], [2, 2]],
                               atol=0.1)


# --------------------------------------------------------------------------- the pool's model


@pytest.fixture(scope="module")
def pool_run():
    from srmsim.model import TrustModel
    from srmsim.scenario import load_scenario

    sc = load_scenario("scenarios/pooling.yaml").with_overrides(
        {"years": 1, "trust": {"n_schools": 3, "students_per_year_group": 60},
         "policy.pool_model.history_periods": 1,
         # students withdraw during the year: the schools send only those still enrolled
         "dynamics.withdrawal_years": [7, 8, 9, 10, 11], "dynamics.withdrawal_annual": 0.3})
    m = TrustModel(sc, seed=2)
    m.run()
    return m


def test_pseudonyms_are_never_uids_and_stay_the_same_within_a_run(pool_run):
    pm = pool_run.policy.pool_model
    periods = pm.periods
    assert len(periods) == 2  # history_periods + 1: the records of one training pair
    uids = {str(u) for u in pool_run.all_students().uid}
    seen: dict[str, int] = {}
    for frame in periods:
        pids = frame["pid"].astype(str)
        assert pids.is_unique and not set(pids) & uids
        seen.update(dict.fromkeys(pids, 0))
    # the same student has the same pseudonym in every period: the pool saw each student once
    # per period, and a student enrolled throughout is in every period under one pseudonym
    common = set(periods[0]["pid"]) & set(periods[-1]["pid"])
    assert len(common) > 0.8 * len(periods[0])
    # the schools' side maps each pseudonym back to one uid, the engine's keyed pseudonym
    uid = pm._uid_of_serial
    np.testing.assert_array_equal(pm._pseudonyms(np.arange(len(uid))),
                                  pool_run.policy.pseudonyms(uid))
    every = set(pool_run.policy.pseudonyms(uid))
    assert len(every) == len(uid) and set(seen) <= every
    # only enrolled students' records: none of a student who withdrew before the last refit
    t = pool_run.students
    gone = (t.status == WITHDRAWN) & (t.exit_step < pm.fits[-1]["week"] - 1)
    assert gone.sum() > 50
    last = set(periods[-1]["pid"])
    assert not last & set(pool_run.policy.pseudonyms(t.uid[gone]))
    assert set(pool_run.policy.pseudonyms(t.uid[t.status == ENROLLED])) <= last


def test_the_pools_scores_are_statsmodels_logistic_fit_on_the_same_records(pool_run):
    """The last refit's scores: statsmodels' Logit (maximum likelihood) on the pairs made by
    hand from the records the pool holds -- each pseudonym's features in one period with its
    outcome in the next -- scoring the last period's records."""
    import statsmodels.api as sm

    pm = pool_run.policy.pool_model
    assert pm.fits[-1]["method"] == "mle"
    feats = list(pm.config.features)
    periods = pm.periods
    pairs = pd.concat([a.drop(columns="outcome").merge(b[["pid", "outcome"]], on="pid")
                       for a, b in zip(periods[:-1], periods[1:], strict=True)],
                      ignore_index=True)
    assert pm.fits[-1]["training_rows"] == len(pairs)
    assert pm.fits[-1]["events"] == int(pairs["outcome"].sum())
    fit = sm.Logit(pairs["outcome"].astype(float),
                   sm.add_constant(pairs[feats].astype(float))).fit(disp=0, tol=1e-12,
                                                                   maxiter=200)
    last = periods[-1]
    want = fit.predict(sm.add_constant(last[feats].astype(float), has_constant="add"))
    t = pool_run.students
    rows = np.flatnonzero(np.isfinite(pool_run.policy.pool_scores))
    got = pd.Series(pool_run.policy.pool_scores[rows],
                    index=pool_run.policy.pseudonyms(t.uid[rows]))
    assert len(got) == len(last)
    np.testing.assert_allclose(got.loc[last["pid"]].to_numpy(), want.to_numpy(), atol=1e-6)


# --------------------------------------------------------------------------- value of pooling


def pooling_trust(n_schools: int = 4, n: int = 150, seed: int = 0) -> pd.DataFrame:
    from scipy import special

    rng = np.random.default_rng(seed)
    size = n_schools * n
    df = pd.DataFrame({"school": np.repeat([f"S{j}" for j in range(n_schools)], n),
                       "x": rng.normal(size=size)})
    df["y"] = (rng.uniform(size=size) < special.expit(-1 + 1.5 * df["x"])).astype(int)
    return df


def test_one_order_of_joining_has_a_mean_but_no_band():
    """With n_orders=1 each k has one AUC: the mean is that AUC, computed here by hand from
    the one fit (scipy's Mann-Whitney U / n1 n0), and the band is NaN, not a zero-width band."""
    from scipy import stats

    from srmsim import risk

    df = pooling_trust()
    res = risk.value_of_pooling(df, "y", ["x"], n_orders=1, holdout_schools=["S0"], seed=4)
    assert (res["n_fits"] == 1).all()
    assert res[["auc_low", "auc_high", "precision_at_capacity_low",
                "precision_at_capacity_high"]].isna().all().all()
    assert "no band at k = 1, 2, 3" in res.attrs["band_note"]
    # at k = 3 every contributing school is in: the order does not matter
    test = df[df["school"] == "S0"]
    m = risk.PooledRisk().fit(df[df["school"] != "S0"], "y", ["x"], "school")
    p = m.predict_proba(test)
    y = test["y"].to_numpy()
    u = stats.mannwhitneyu(p[y == 1], p[y == 0]).statistic
    auc = u / ((y == 1).sum() * (y == 0).sum())
    assert res.loc[res["k"] == 3, "auc_mean"].item() == pytest.approx(auc, abs=1e-12)


def test_held_out_schools_with_one_outcome_are_an_error_naming_why():
    from srmsim import risk
    from srmsim.errors import DataError

    df = pooling_trust()
    df.loc[df["school"] == "S0", "y"] = 0
    with pytest.raises(DataError, match="held-out schools need both outcomes"):
        risk.value_of_pooling(df, "y", ["x"], n_orders=2, holdout_schools=["S0"])


def test_capacity_of_everyone_flags_every_held_out_student():
    """capacity_rate 1 is allowed (a school that can serve all): every held-out student is
    flagged, so precision at capacity is the held-out prevalence, counted by hand."""
    from srmsim import risk

    df = pooling_trust()
    res = risk.value_of_pooling(df, "y", ["x"], n_orders=2, holdout_schools=["S0"],
                                capacity_rate=1.0)
    prevalence = df.loc[df["school"] == "S0", "y"].mean()
    np.testing.assert_allclose(res["precision_at_capacity_mean"], prevalence, rtol=1e-12)


@pytest.mark.parametrize(("frame", "kwargs", "message"), [
    ("all", {"holdout_schools": ["S0", "S1", "S2", "S3"]}, "leaves no contributing school"),
    ("one", {}, "needs at least two schools"),
])
def test_a_pool_without_a_contributing_school_is_refused(frame, kwargs, message):
    from srmsim import risk
    from srmsim.errors import DataError

    df = pooling_trust()
    if frame == "one":
        df = df[df["school"] == "S0"]
    with pytest.raises(DataError, match=message):
        risk.value_of_pooling(df, "y", ["x"], n_orders=2, **kwargs)


# --------------------------------------------------------------------------- the pool's fit


def pool_fitter(model: str = "pooled", min_events: int = 10):
    from srmsim.policy.config import PoolModelConfig
    from srmsim.policy.pool_model import PoolRiskModel

    cfg = PoolModelConfig(model=model, outcome="x > 0", features=["x", "z"],
                          min_events=min_events)
    return PoolRiskModel(None, cfg, None)  # type: ignore[arg-type]


def pool_records(seed: int = 0, n: int = 300) -> pd.DataFrame:
    """Three schools with different risk slopes; a few records lack a feature."""
    from scipy import special

    rng = np.random.default_rng(seed)
    school = np.repeat([0, 1, 2], n)
    x, z = rng.normal(size=3 * n), rng.normal(size=3 * n)
    slope = np.array([0.5, 1.5, -1.0])[school]
    df = pd.DataFrame({"school": school, "x": x, "z": z,
                       "outcome": rng.uniform(size=3 * n) < special.expit(-0.5 + slope * x
                                                                          + 0.3 * z)})
    df.loc[rng.choice(3 * n, 25, replace=False), "x"] = np.nan
    df.loc[rng.choice(3 * n, 25, replace=False), "z"] = np.nan
    return df


def logit_scores(train: pd.DataFrame, current: pd.DataFrame) -> np.ndarray:
    import statsmodels.api as sm

    fit = sm.Logit(train["outcome"].astype(float),
                   sm.add_constant(train[["x", "z"]])).fit(disp=0, tol=1e-12, maxiter=200)
    return fit.predict(sm.add_constant(current[["x", "z"]], has_constant="add")).to_numpy()


def test_the_pooled_fit_is_statsmodels_on_the_complete_records_and_scores_complete_ones():
    train, current = pool_records(0), pool_records(1)
    out, info = pool_fitter()._fit_predict(train, current)
    complete_train = train.dropna()
    ok = current[["x", "z"]].notna().all(axis=1).to_numpy()
    assert info["training_rows"] == len(complete_train) == len(train) - (
        train[["x", "z"]].isna().any(axis=1).sum())
    assert info["events"] == int(complete_train["outcome"].sum())
    assert np.isnan(out[~ok]).all() and (~ok).sum() > 30
    np.testing.assert_allclose(out[ok], logit_scores(complete_train, current[ok]), atol=1e-6)


def test_each_schools_own_fit_is_statsmodels_on_its_own_records():
    train, current = pool_records(2), pool_records(3)
    out, info = pool_fitter("per_school")._fit_predict(train, current)
    assert info["schools_fitted"] == 3
    for s in (0, 1, 2):
        own = train[(train["school"] == s)].dropna()
        sel = ((current["school"] == s) & current[["x", "z"]].notna().all(axis=1)).to_numpy()
        np.testing.assert_allclose(out[sel], logit_scores(own, current[sel]), atol=1e-6)


@pytest.mark.parametrize("model", ["pooled", "per_school"])
def test_a_rare_non_event_is_too_few_events_too(model):
    """min_events counts the rarer outcome: 600 events and 5 non-events is too few to fit."""
    train = pool_records(4).dropna()
    train["outcome"] = True
    train.iloc[:5, train.columns.get_loc("outcome")] = False
    train.iloc[300:302, train.columns.get_loc("outcome")] = False
    train.iloc[-2:, train.columns.get_loc("outcome")] = False
    out, info = pool_fitter(model, min_events=10)._fit_predict(train, pool_records(5))
    assert np.isnan(out).all()
    if model == "pooled":
        assert info["skipped"] == "too few events"
    else:
        assert info["schools_fitted"] == 0


# --------------------------------------------------------------------------- decisions


def test_a_choice_as_good_as_the_oracles_is_matched_and_a_worse_one_is_not():
    from srmsim.policy.chooser import oracle_matched

    d = pd.DataFrame({"gain_per_minute": [0.2, 0.2 - 1e-15, 0.2 - 1e-9, 0.3],
                      "oracle_gain_per_minute": [0.2, 0.2, 0.2, 0.2]})
    assert oracle_matched(d).tolist() == [True, True, False, True]


@pytest.fixture(scope="module")
def learned_run():
    from srmsim.model import TrustModel

    m = TrustModel(learning_scenario("learned", STRONG, years=2, schools=3, exploration=0.1),
                   seed=3)
    m.run()
    return m.results().decisions


def test_decisions_read_in_their_units_and_at_the_referrals_term(learned_run):
    """Every action takes 30 teaching-assistant minutes a week for 13 weeks: a gain per minute
    is the gain over 390 minutes. Regret is what the oracle's action would have gained more.
    Year and term are the referral's (weeks 0-13-26 of 39 start the terms), also for a
    referral chosen for again at a later refit."""
    d = learned_run
    np.testing.assert_allclose(d["gain_per_minute"], d["gain"] / 390, rtol=1e-12)
    np.testing.assert_allclose(d["oracle_gain_per_minute"], d["oracle_gain"] / 390, rtol=1e-12)
    np.testing.assert_array_equal(d["regret"], d["oracle_gain"] - d["gain"])
    assert (d["regret"] >= -1e-12).all() and (d["regret"] > 0).any()
    q = d["queued_week"].to_numpy()
    assert (d["run_week"] > d["queued_week"]).any()
    np.testing.assert_array_equal(d["year"], q // 39)
    term = 3 * (q // 39) + (q % 39 >= 14) + (q % 39 >= 26)
    np.testing.assert_array_equal(d["term"], term)


def test_a_tenth_of_referrals_are_explored_once_every_action_has_a_model(learned_run):
    """exploration 0.1: once every candidate has min_cases records, about one referral in ten
    is allocated at random (recorded as explore), the rest by the model (learned), and an
    explored referral has the model's prediction for the action it was given."""
    d = learned_run
    late = d[d["term"] >= 3]
    counts = late["how"].astype(str).value_counts()
    assert set(counts.index) <= {"explore", "learned"}
    share = counts.get("explore", 0) / len(late)
    n = len(late)
    assert len(late) > 200 and abs(share - 0.1) < 4 * np.sqrt(0.09 / n)
    assert late["predicted_gain"].notna().all()


def test_thompson_draws_with_correlated_features_have_the_posteriors_covariance():
    """Two correlated features: the posterior covariance Sigma is not diagonal, and the draws'
    variance at x is (x - x_mean)' Sigma (x - x_mean) + 1/(alpha n) only if the coefficient
    draws have covariance root @ root.T (root.T @ root is Sigma's eigenvalues, diagonal)."""
    rng = np.random.default_rng(21)
    n = 40
    frames = []
    for a in (0, 1):
        x = rng.normal(3.0, 1.0, n)
        w = 0.8 * x + rng.normal(0.0, 0.5, n)
        frames.append(pd.DataFrame({"pid": [f"{a}.{i}" for i in range(n)], "school": 0,
                                    "week": 0, "action": a, "x": x, "w": w,
                                    "gain": 1 + a + 3 * x - 2 * w + rng.normal(0, 1.0, n)}))
    lr = learner(features=("x", "w"), min_cases=5)
    lr.receive(pd.concat(frames, ignore_index=True))
    lr.refit(now=0)
    frame = lr.training_frame(0)
    own = frame[frame["action"] == 1]
    coef, b, xm, sigma, se2 = conjugate(own[["x", "w"]].to_numpy(float), own["gain"].to_numpy())
    assert abs(sigma[0, 1]) > 0.3 * np.sqrt(sigma[0, 0] * sigma[1, 1])  # not diagonal
    p = np.array([5.0, 1.0])  # off the features' line: the posterior is wide here
    draws_n = 60_000
    z = np.random.default_rng(6).standard_normal((draws_n, 2, 3))
    draws = lr.predict(np.repeat(p[None], draws_n, axis=0), np.zeros(draws_n), z)[:, 1]
    dx = p - xm
    var = dx @ sigma @ dx + se2
    assert abs(draws.mean() - (p @ coef + b)) < 5 * np.sqrt(var / draws_n)
    assert draws.var() / var == pytest.approx(1, abs=0.03)


@pytest.mark.parametrize("kind", ["oracle", "random"])
def test_no_chooser_picks_an_action_its_school_cannot_staff(kind):
    """Tuition needs a teacher; the schools have none (0 minutes) and the pool no staff. Tuition is the
    best action for SEN students (STRONG), yet neither the oracle, nor a random draw, nor the
    oracle's benchmark in the decisions ever gives it: no referral waits for ever."""
    from srmsim.model import TrustModel

    sc = learning_scenario(kind, STRONG, years=1, schools=3).with_overrides({
        "policy.actions.small_group_tuition.staff_minutes": {"teacher": 30,
                                                             "teaching_assistant": 0},
        "policy.staff.school": {"teaching_assistant": 600, "teacher": 0}})
    m = TrustModel(sc, seed=3)
    m.run()
    d = m.results().decisions
    assert len(d) > 50
    assert set(d["action"].astype(str)) == {"reading_club", "parent_reading_at_home"}
    assert set(d["oracle_action"].astype(str)) <= {"reading_club", "parent_reading_at_home"}


def test_what_a_school_cannot_cover_falls_to_the_pool():
    """Free minutes (schools x roles): school 0 is 30 teacher minutes short, school 1 five TA
    minutes; the pool (100 teacher, 3 TA) covers them: 70 teacher minutes and no TA minutes
    are left (3 - 5 is clipped at zero), and no school is below zero."""
    from srmsim.policy.chooser import Choosers

    school, pool = Choosers._settle(np.array([[-30.0, 10.0], [20.0, -5.0]]),
                                    np.array([100.0, 3.0]))
    np.testing.assert_array_equal(school, [[0.0, 10.0], [20.0, 0.0]])
    np.testing.assert_array_equal(pool, [70.0, 0.0])
