"""Value of pooling and privacy coarsening."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from srmsim import risk
from srmsim.errors import DataError, SrmsimError

NOISE = ["lms_logins", "satisfaction", "age_months", "year_group"]
FEATURES = ["attendance_rate", "reading_gap", "incidents", "fsm", "sex", *NOISE]


def shared_structure_trust(n_schools: int = 13, n: int = 60, seed: int = 0) -> pd.DataFrame:
    """Schools with the same risk structure (same coefficients, no school effect).

    Four recorded fields carry no risk at all, as in a real MIS export: a model fitted on one
    small school overfits them, which is what pooling cures.
    """
    rng = np.random.default_rng(seed)
    size = n_schools * n
    att = np.clip(rng.normal(0.93, 0.05, size), 0.3, 1.0)
    reading = rng.normal(0, 12, size)
    incidents = rng.poisson(1.0, size)
    fsm = rng.random(size) < 0.3
    sex = rng.choice(["F", "M"], size)
    lp = (-2.2 - 25 * (att - 0.93) - 0.04 * reading + 0.35 * incidents + 0.5 * fsm
          + 0.3 * (sex == "M"))
    df = pd.DataFrame({
        "school": np.repeat([f"S{j:02d}" for j in range(n_schools)], n),
        "attendance_rate": att, "reading_gap": reading, "incidents": incidents,
        "fsm": fsm, "sex": sex, "withdrawn": rng.random(size) < special.expit(lp),
    })
    for name in NOISE:
        df[name] = rng.normal(size=size)
    return df


@pytest.mark.once
def test_value_of_pooling_rises_with_k_on_shared_structure():
    df = shared_structure_trust()
    res = risk.value_of_pooling(df, "withdrawn", FEATURES, n_orders=8, holdout_schools=3,
                                capacity_rate=0.15, seed=1)
    assert res["k"].tolist() == list(range(1, 11)) and not res["coarsened"].any()
    assert len(res.attrs["holdout_schools"]) == 3
    assert set(res.attrs["holdout_schools"]).isdisjoint(res.attrs["contributing_schools"])
    first, last = res.iloc[0], res.iloc[-1]
    assert last["auc_mean"] > first["auc_mean"] + 0.03
    assert stats.spearmanr(res["k"], res["auc_mean"]).statistic > 0.8
    assert last["precision_at_capacity_mean"] > first["precision_at_capacity_mean"]
    # bands narrow as every order converges on the same pool
    assert (last["auc_high"] - last["auc_low"]) < (first["auc_high"] - first["auc_low"])
    assert (res["auc_low"] <= res["auc_mean"]).all() and (res["auc_mean"] <= res["auc_high"]).all()
    assert (res["n_fits"] + res["n_failed"] == 8).all()
    assert res["train_rows"].tolist() == [60.0 * k for k in range(1, 11)]


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(5))
def test_value_of_pooling_rises_with_k_across_trusts(seed):
    df = shared_structure_trust(n_schools=16, seed=seed)
    res = risk.value_of_pooling(df, "withdrawn", FEATURES, n_orders=20, holdout_schools=4,
                                seed=seed)
    assert res["auc_mean"].iloc[-1] > res["auc_mean"].iloc[0] + 0.02
    assert stats.spearmanr(res["k"], res["auc_mean"]).statistic > 0.8


@pytest.mark.once
def test_coarsened_rows_show_the_cost_of_privacy_and_are_paired():
    df = shared_structure_trust(n_schools=8, n=150, seed=2)[[
        "school", "attendance_rate", "reading_gap", "incidents", "fsm", "sex", "withdrawn"]]
    spec = {"bands": {"attendance_rate": 0.25, "reading_gap": 40.0}, "categories": ["sex"],
            "min_count": 5}
    feats = FEATURES[:5]
    res = risk.value_of_pooling(df, "withdrawn", feats, n_orders=4, holdout_schools=2,
                                coarsen=spec, seed=3)
    exact = res[~res["coarsened"]].set_index("k")
    coarse = res[res["coarsened"]].set_index("k")
    assert list(exact.index) == list(coarse.index) == list(range(1, 7))
    # generalising the strongest predictor into quarter-wide bands loses discrimination
    assert coarse.loc[6, "auc_mean"] < exact.loc[6, "auc_mean"] - 0.02
    again = risk.value_of_pooling(df, "withdrawn", feats, n_orders=4, holdout_schools=2,
                                  coarsen=spec, seed=3)
    pd.testing.assert_frame_equal(res, again)


def test_value_of_pooling_accepts_callable_coarsening_and_other_models():
    df = shared_structure_trust(n_schools=5, n=150, seed=4)

    def drop_reading_detail(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(reading_gap=0.0)

    res = risk.value_of_pooling(df, "withdrawn", ["attendance_rate", "reading_gap"],
                                n_orders=2, holdout_schools=["S00"], coarsen=drop_reading_detail,
                                seed=0)
    assert res.attrs["holdout_schools"] == ["S00"]
    assert set(res["coarsened"]) == {False, True}
    # reading_gap constant after coarsening: the ridge fallback handles the rank-deficient design
    assert (res.loc[res["coarsened"], "n_ridge"] > 0).all()


def test_other_model_factories_plug_in():
    df = shared_structure_trust(n_schools=4, n=150, seed=7)
    res = risk.value_of_pooling(df, "withdrawn", ["attendance_rate", "incidents"], n_orders=1,
                                holdout_schools=["S03"], model=risk.PartiallyPooledRisk, seed=0)
    assert res["n_fits"].tolist() == [1, 1, 1] and (res["auc_mean"] > 0.6).all()


def test_failed_fits_are_counted_not_hidden():
    df = shared_structure_trust(n_schools=5, n=100, seed=5)
    df.loc[df["school"] == "S01", "withdrawn"] = False  # S01 alone cannot be fitted
    res = risk.value_of_pooling(df, "withdrawn", ["attendance_rate"], n_orders=6,
                                holdout_schools=["S00"], seed=0)
    assert res.loc[res["k"] == 1, "n_failed"].iloc[0] >= 1
    assert res.loc[res["k"] == 4, "n_failed"].iloc[0] == 0
    assert any("no events" in msg for msg in res.attrs["failure_examples"])


def test_value_of_pooling_input_errors():
    df = shared_structure_trust(n_schools=4, n=50, seed=6)
    with pytest.raises(DataError, match="not found"):
        risk.value_of_pooling(df, "withdrawn", FEATURES, holdout_schools=["S99"])
    gap = df.copy()
    gap.loc[0, "reading_gap"] = np.nan
    with pytest.raises(DataError, match="reading_gap"):
        risk.value_of_pooling(gap, "withdrawn", FEATURES)


def test_coarsener_bands_and_rare_categories():
    df = pd.DataFrame({
        "att": [0.93, 0.87, 0.51, np.nan],
        "gap": [-30.0, -5.0, 10.0, 0.0],
        "eth": ["A", "A", "B", None],
    })
    c = risk.Coarsener({"bands": {"att": 0.1, "gap": [-60, -24, 0, 60]}, "categories": ["eth"],
                        "min_count": 2})
    out = c.fit_transform(df)
    assert out["att"].iloc[:3].tolist() == pytest.approx([0.95, 0.85, 0.55])
    assert np.isnan(out["att"].iloc[3])
    assert out["gap"].tolist() == [-42.0, -12.0, 30.0, 30.0]
    assert out["eth"].iloc[:3].tolist() == ["A", "A", "Other"] and pd.isna(out["eth"].iloc[3])
    unseen = c.transform(df.assign(eth=["C", "A", "A", "A"]))
    assert unseen["eth"].tolist() == ["Other", "A", "A", "A"]
    with pytest.raises(DataError, match=r"column 'gap'.*outside"):
        c.transform(df.assign(gap=[-100.0, 0, 0, 0]))
    with pytest.raises(DataError, match="unknown key"):
        risk.Coarsener({"band": {}})
    assert df["att"].iloc[0] == 0.93  # the input is not modified


# --------------------------------------------------------------------------- bad input (fuzzing)


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame({"school": rng.integers(0, 5, n), "x": rng.normal(size=n)})
    df["y"] = (rng.uniform(size=n) < special.expit(df["x"])).astype(int)
    return df


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"level": 2}, "level=2 must lie strictly between 0 and 1"),
    ({"n_orders": 1.5}, "n_orders must be a whole number"),
    ({"n_orders": 10**9}, "n_orders=1000000000 is out of range: it must be from 1 to 100,000"),
    ({"n_orders": 20_000, "coarsen": {"min_count": 5}}, "n_orders=20,000 x 4 contributing"),
    ({"seed": -1}, "seed=-1 is out of range"),
    ({"capacity_rate": "0.1"}, "capacity_rate='0.1' must be a number"),
    ({"holdout_schools": 2.5}, "holdout_schools must be a whole number"),
    ({"holdout_schools": 5}, "holdout_schools=5 is out of range"),
    ({"coarsen": {"min_count": "abc"}}, "coarsen spec: min_count must be a whole number"),
    ({"coarsen": {"bands": {"x": float("inf")}}}, "bands.x=inf must be a finite number"),
    # every fit failed and the table came back all NaN; the outcome as a feature gave AUC 1.0
    ({"features": []}, "give at least one feature"),
    ({"features": ["x", "y"]}, "the outcome column cannot also be a feature"),
    ({"features": ["school"]}, "the school column cannot also be a feature"),
    ({"model": 5}, "model must make a fresh risk model"),  # a raw TypeError in the loop
    ({"holdout_schools": [0, np.int64(0)]}, "lists a school more than once"),
    ({"holdout_schools": [[0], 1]}, "must list school labels"),
])
def test_value_of_pooling_arguments_are_validated(small, kwargs, message):
    with pytest.raises(SrmsimError, match=message):
        risk.value_of_pooling(**{"df": small, "outcome": "y", "features": ["x"], "n_orders": 1,
                                 **kwargs})


def test_value_of_pooling_takes_school_labels_of_mixed_kinds(small):
    mixed = small.assign(school=small["school"].astype(object).where(small.index > 5, "A"))
    res = risk.value_of_pooling(mixed, "y", ["x"], n_orders=1, holdout_schools=2)
    assert len(res.attrs["holdout_schools"]) == 2
    assert len(res.attrs["contributing_schools"]) == 4
    assert res["n_fits"].sum() > 0


@pytest.mark.parametrize(("band", "message"), [
    ("abc", "bands.x='abc' must be a number, not text"),
    (float("inf"), "bands.x=inf must be a finite number"),
    (0.0, "width must be positive"),
    (True, "bands.x=True must be a number"),
    ([0, float("nan"), 3], "edge=nan must be a finite number"),
    ([0, float("inf")], "edge=inf must be a finite number"),
    ([3, 1], "at least two increasing numbers"),
])
def test_coarsener_refuses_bad_bands(band, message):
    with pytest.raises(SrmsimError, match=message):
        risk.Coarsener({"bands": {"x": band}})
    with pytest.raises(SrmsimError, match=message):
        risk.Coarsener(risk.CoarsenSpec(bands={"x": band}))


def test_coarsened_values_stay_finite_or_are_refused():
    x = pd.DataFrame({"x": [0.3, -1.2, 2.5]})
    with pytest.raises(DataError, match="column 'x': value 0.3 .* no finite band of width 1e-320"):
        risk.Coarsener({"bands": {"x": 1e-320}}).fit_transform(x)
    with pytest.raises(DataError, match="column 'x': value inf"):
        risk.Coarsener({"bands": {"x": 0.5}}).fit_transform(x.assign(x=[0.3, np.inf, 1.0]))
    with pytest.raises(DataError, match="column 'x': coarsening bands need numbers, found 'abc'"):
        risk.Coarsener({"bands": {"x": 0.5}}).fit_transform(x.assign(x=[0.3, "abc", 1.0]))
    wide = risk.Coarsener({"bands": {"x": 1e308}}).fit_transform(x)["x"]
    assert np.isfinite(wide).all()
    edges = risk.Coarsener({"bands": {"x": [-1.5e308, 0, 1.5e308]}}).fit_transform(x)["x"]
    assert edges.tolist() == [0.75e308, -0.75e308, 0.75e308]


def test_failure_examples_do_not_quote_a_held_out_pupils_rare_category():
    # one pupil of a held-out school has a category no contributing school shows: every
    # prediction on that school fails, and the examples say which column, not the value or row
    df = shared_structure_trust(n_schools=4, n=80, seed=8)
    df["ethnicity"] = "A"
    rare = df.index[df["school"] == "S00"][3]
    df.loc[rare, "ethnicity"] = "Zrare"
    with pytest.raises(SrmsimError) as caught:
        risk.value_of_pooling(df, "withdrawn", ["attendance_rate", "ethnicity"], n_orders=2,
                              holdout_schools=["S00"], seed=0)
    message = str(caught.value)
    assert "ethnicity" in message and "never showed" in message
    assert "Zrare" not in message and f"row {rare}" not in message
    # the user's own prediction on the file still names the value and row to find it
    model = risk.PooledRisk().fit(df[df["school"] != "S00"], "withdrawn",
                                  ["attendance_rate", "ethnicity"])
    with pytest.raises(DataError, match="Zrare"):
        model.predict_proba(df[df["school"] == "S00"])
