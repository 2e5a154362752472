"""Review of pooling and learning: honest held-out evaluation, hostile input, coarsening edges."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special

from srmsim import risk
from srmsim.errors import DataError, EstimationError, SrmsimError
from srmsim.experiment.learning import learning_curve
from srmsim.policy.config import PoolModelConfig
from srmsim.policy.pool_model import PoolRiskModel


def trust(n_schools: int = 5, n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    size = n_schools * n
    df = pd.DataFrame({"school": np.repeat([f"S{j}" for j in range(n_schools)], n),
                       "x": rng.normal(size=size), "z": rng.normal(size=size),
                       "c": rng.choice(["a", "b"], size)})
    df["y"] = (rng.uniform(size=size) < special.expit(-1 + 1.5 * df["x"])).astype(int)
    return df


def pooling(df: pd.DataFrame, **kwargs) -> pd.DataFrame:
    args = {"outcome": "y", "features": ["x"], "n_orders": 2, "holdout_schools": ["S0"],
            "seed": 0} | kwargs
    return risk.value_of_pooling(df, **args)


# --------------------------------------------------------------------------- honest evaluation


class SpyRisk(risk.PooledRisk):
    """PooledRisk that remembers which schools each fit saw and the rows it scored."""

    trained: list[set] = []
    scored: list[set] = []

    def fit(self, df, outcome, features=None, school="school"):
        SpyRisk.trained.append(set(df[school]))
        return super().fit(df, outcome, features, school)

    def predict_proba(self, df):
        SpyRisk.scored.append(set(df["school"]))
        return super().predict_proba(df)


def test_held_out_schools_never_reach_a_fit_and_a_reversed_school_is_scored_honestly():
    """Known truth: the held-out school's risk runs the other way. A pooled model that never saw
    it ranks its students backwards (AUC below 0.5); any leak of its rows would pull it up."""
    df = trust(n_schools=6, n=200, seed=1)
    held = df["school"] == "S0"
    rng = np.random.default_rng(9)
    df.loc[held, "y"] = (rng.uniform(size=held.sum())
                         < special.expit(-1 - 1.5 * df.loc[held, "x"])).astype(int)
    SpyRisk.trained, SpyRisk.scored = [], []
    res = pooling(df, model=SpyRisk, n_orders=3)
    assert SpyRisk.trained and all("S0" not in s for s in SpyRisk.trained)
    assert all(s == {"S0"} for s in SpyRisk.scored)
    assert (res["auc_high"] < 0.4).all()


def test_features_are_standardised_with_the_training_rows_only():
    train = pd.DataFrame({"x": [0.0, 2.0, 4.0]})  # mean 2, SD sqrt(8/3)
    test = pd.DataFrame({"x": [102.0, 104.0]})
    d = risk.FeatureDesign(["x"]).fit(train)
    assert d.transform(test)[:, 1] == pytest.approx([100 / np.sqrt(8 / 3), 102 / np.sqrt(8 / 3)])


def test_the_pool_model_pairs_features_at_one_refit_with_the_outcome_at_the_next():
    """No look-ahead: each training pair holds the features sent at the earlier refit and the
    outcome sent at the later one, matched by pseudonym."""
    from srmsim.model import TrustModel
    from srmsim.scenario import load_scenario

    sc = load_scenario("scenarios/pooling.yaml").with_overrides(
        {"years": 1, "trust": {"n_schools": 3, "students_per_year_group": 60}})
    m = TrustModel(sc, seed=2)
    m.run()
    pm = m.policy.pool_model
    feats = list(pm.config.features)
    periods = pm.periods
    assert len(pm.pairs) == len(periods) - 1 == 2
    for k, got in enumerate(pm.pairs):
        want = periods[k].drop(columns="outcome").merge(periods[k + 1][["pid", "outcome"]],
                                                        on="pid", how="inner")
        np.testing.assert_array_equal(got[feats].to_numpy(float), want[feats].to_numpy(float))
        np.testing.assert_array_equal(got["outcome"].to_numpy(), want["outcome"].to_numpy())


# --------------------------------------------------------------------------- wrong results


def test_a_coarsen_function_that_reorders_rows_is_refused():
    """Outcomes are read from the held-out rows as given: a function returning them sorted
    scored each student against another student's outcome (AUC 0.70 became 0.60, no error)."""
    df = trust()
    with pytest.raises(DataError, match="coarsen must return the rows it is given, in the same "
                                        "order.*reordered"):
        pooling(df, coarsen=lambda f: f.sort_values("x"))
    with pytest.raises(DataError, match="returned 119 rows for 120"):
        pooling(df, coarsen=lambda f: f.iloc[:-1])
    with pytest.raises(DataError, match="coarsen must return a DataFrame, got NoneType"):
        pooling(df, coarsen=lambda f: None)
    same = pooling(df, coarsen=lambda f: f.assign(x=f["x"].round(1)))  # row-wise: accepted
    assert same["coarsened"].any()


def test_an_infinite_feature_is_an_error_not_a_failed_fit():
    """It was a failed fit: the held-out school's inf left every row NaN, and a contributing
    school's inf left means over only the orders that had not yet reached that school."""
    df = trust()
    for school in ("S0", "S3"):
        bad = df.assign(x=df["x"].where(df["school"] != school, np.inf))
        with pytest.raises(DataError, match="column 'x' holds infinite value inf"):
            pooling(bad)


def test_every_fit_failing_is_an_error_not_a_table_of_nan():
    df = trust()
    df.loc[df["school"] != "S0", "y"] = 0  # no contributing school has an event
    with pytest.raises(EstimationError, match="every one of the 8 model fits failed, e.g. "
                                              "pooled risk: outcome has no events"):
        pooling(df)


def test_values_on_a_band_edge_go_to_the_band_above():
    """0.3 / 0.1 is 2.9999999999999996 in floating point: 0.3 was filed in [0.2, 0.3)."""
    out = risk.generalise(pd.Series([0.3, 0.6, 0.7, 0.85, 0.93, -0.3, 0.0]), 0.1)
    assert out.tolist() == pytest.approx([0.35, 0.65, 0.75, 0.85, 0.95, -0.25, 0.05])
    assert risk.generalise(pd.Series([0.85, 0.9]), 0.05).tolist() == pytest.approx([0.875, 0.925])
    x = pd.Series(np.random.default_rng(0).normal(size=2000) * 100)
    assert risk.generalise(x, 0.37).tolist() == (np.floor(x / 0.37) * 0.37 + 0.185).tolist()


def test_a_column_both_banded_and_merged_is_refused():
    """The categories step read the raw numbers: bands were undone and every value became
    'Other' text."""
    with pytest.raises(DataError, match="column 'x' is in both bands and categories"):
        risk.Coarsener({"bands": {"x": 1.0}, "categories": ["x"]})


def test_duplicate_features_are_refused():
    """Each copy got a design column: an exactly collinear design, fitted by the ridge
    fallback without a word."""
    with pytest.raises(DataError, match="features list 'x' more than once"):
        pooling(trust(), features=["x", "x"])
    with pytest.raises(DataError, match="features list 'x' more than once"):
        risk.FeatureDesign(["x", "z", "x"])


# --------------------------------------------------------------------------- hostile input


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"features": 5}, "features must be a list of column names, got int"),
    ({"model": lambda: 5}, r"model\(\) must return a risk model with fit\(\) and "
                           r"predict_proba\(\), got int"),
    ({"outcome": "school", "features": ["x"]}, "column 'school' cannot be both the outcome"),
])
def test_value_of_pooling_hostile_arguments(kwargs, message):
    df = trust()
    if kwargs.get("outcome") == "school":
        df = df.assign(school=(df["school"] > "S2").astype(int))
        kwargs = kwargs | {"holdout_schools": 1}
    with pytest.raises(SrmsimError, match=message):
        pooling(df, **kwargs)


def test_feature_design_hostile_input():
    df = trust().assign(when=pd.Timestamp("2024-09-01") + pd.to_timedelta(range(600), "D"))
    with pytest.raises(DataError, match="column 'when': feature holds datetime64"):
        risk.FeatureDesign(["x", "when"]).fit(df)  # was one category per day
    with pytest.raises(DataError, match="column 'x': a reference level was given, but the "
                                        "feature is numeric"):
        risk.FeatureDesign(["x"], {"x": 0}).fit(df)  # was ignored
    with pytest.raises(DataError, match="reference_levels must map feature names"):
        risk.FeatureDesign(["x"], ["x"])  # a raw ValueError
    with pytest.raises(DataError, match="features must be a list of column names, got int"):
        risk.FeatureDesign(5)  # a raw TypeError


def test_an_unseen_category_is_named_briefly():
    df = pd.DataFrame({"c": [f"level{i}" for i in range(40)]}, index=np.arange(40) + 100)
    d = risk.FeatureDesign(["c"]).fit(df)
    with pytest.raises(DataError) as err:
        d.transform(pd.DataFrame({"c": ["level1", "new"]}, index=np.array([7, 8])))
    msg = str(err.value)
    assert msg.startswith("column 'c': category 'new' (row 8) was not in the training data")
    assert "(40 in all)" in msg and len(msg) < 400  # it listed every level


def test_a_failing_per_school_fit_skips_that_school_as_the_pooled_model_does():
    """per_school let one school's failed fit end the whole simulation with a traceback."""
    config = PoolModelConfig(model="per_school", outcome="attendance_term < 0.9",
                             features=["x"], min_events=5)
    pool = PoolRiskModel(engine=None, config=config, outcome=None)  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"school": np.repeat([0, 1], 100), "x": rng.normal(size=200),
                          "outcome": np.tile([0, 1], 100)})
    train.loc[train["school"] == 1, "x"] = 1e200  # beyond what a fit can square
    current = train[["school", "x"]].assign(x=0.5)
    out, info = pool._fit_predict(train, current)
    assert np.isfinite(out[:100]).all() and np.isnan(out[100:]).all()
    assert info["schools_fitted"] == 1 and info["skipped"].startswith("school 1: ")


def test_learning_curve_checks_its_arguments():
    runs = pd.DataFrame({"variant": ["a", "a", "b", "b"], "regret_t1": [1.0, 2.0, 0.5, 0.7]})
    assert len(learning_curve(runs)) == 2
    with pytest.raises(DataError, match="level=95 must lie strictly between 0 and 1"):
        learning_curve(runs, level=95)  # NaN intervals
    with pytest.raises(DataError, match="column 'variant' \\(runs\\) not found"):
        learning_curve(runs.drop(columns="variant"))  # a raw KeyError


def test_a_coarsen_spec_on_the_outcome_is_refused():
    """Banding the 0/1 outcome failed every coarsened fit: half the table NaN, no error."""
    with pytest.raises(DataError, match="would coarsen the outcome column 'y'"):
        pooling(trust(), coarsen={"bands": {"y": 0.5}})


@pytest.mark.parametrize("outcome, scored", [("attendance_term < 0.9", True),
                                             ("attendance_term < 0.2", False)])
def test_the_run_says_whether_the_pools_model_ever_scored_anyone(outcome, scored):
    """A pool model whose outcome is too rare to fit left pooled_risk empty and the run
    referred no one, saying nothing of why; the summary now counts the refits that scored."""
    from srmsim import run
    from srmsim.scenario import load_scenario

    sc = load_scenario("scenarios/pooling.yaml").with_overrides(
        {"years": 1, "trust": {"n_schools": 3, "students_per_year_group": 60},
         "policy": {"pool_model": {"outcome": outcome}}})
    result = run(sc, seed=2)
    refits, got = result.summary["pool_model_refits"], result.summary["pool_model_scored"]
    assert refits == 2 and got == (refits if scored else 0)
    row = dict(result.summary_table().itertuples(index=False))["pooled risk model scored "
                                                               "students at"]
    assert row == ("2 of 2 refits" if scored else "0 of 2 refits: pooled_risk empty all run")
    assert (result.summary["interventions"] > 0) == scored


@pytest.mark.parametrize("column", ["upn", "Pupil_ID", "full_name"])
def test_a_student_identifier_as_a_feature_is_refused_without_quoting_one(column):
    """Every held-out student's identifier is new to the pool, so every fit failed (after
    seconds per fit of one column per student) and the EstimationError listed the identifiers
    the model had seen: real students' UPNs in an error message."""
    df = trust()
    df[column] = [f"A{i:012d}" for i in range(len(df))]
    with pytest.raises(DataError, match=f"feature '{column}' .*identifier") as err:
        pooling(df, features=["x", column])
    assert "A0000" not in str(err.value)
