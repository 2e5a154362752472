"""Statistics that never fail silently: unidentified fits refuse, boundary fits warn, causes named."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from srmsim import stats
from srmsim.errors import DataError, EstimationError, SrmsimError
from srmsim.stats import StatsWarning
from srmsim.stats import _checks as ck


def two_level(seed: int, groups: int, size: int, tau2: float, sigma2: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), size)
    y = 10 + rng.normal(0, np.sqrt(tau2), groups)[g] + rng.normal(0, np.sqrt(sigma2), g.size)
    arm = np.where(g % 2 == 0, "treated", "control")
    return pd.DataFrame({"y": y, "school": g, "arm": arm})


# ---- random intercepts ------------------------------------------------------------------------


@pytest.mark.once
def test_known_variance_components_are_recovered_without_warnings():
    df = two_level(1, groups=200, size=10, tau2=0.5, sigma2=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", StatsWarning)
        fit = stats.random_intercept(df, "y", "school", optimizers=("lbfgs", "bfgs"))
    # sampling SEs: tau2 about sqrt(2/G) (tau2 + sigma2/n) = 0.07; sigma2 about sigma2 sqrt(2/(N-G))
    assert fit.group_variance == pytest.approx(0.5, abs=3 * 0.07)
    assert fit.residual_variance == pytest.approx(2.0, abs=3 * 0.067)
    assert not fit.at_boundary


def test_singleton_groups_are_refused_not_split_arbitrarily():
    df = two_level(2, groups=80, size=1, tau2=0.5, sigma2=1.0)
    with pytest.raises(EstimationError, match="single member.*not identified"):
        stats.random_intercept(df, "y", "school")
    with pytest.raises(EstimationError, match="not identified"):
        stats.estimate_effect(df, "y", "arm", "control", cluster="school", method="mixed",
                              se="classical")
    # Hedges' g would have used that arbitrary ICC: it refuses too and says what to do
    with pytest.raises(EstimationError, match="ICC of 'y' within 'school' cannot be estimated.*icc="):
        stats.hedges_g_data(df, "y", "arm", "control", cluster="school")
    g = stats.hedges_g_data(df, "y", "arm", "control", cluster="school", icc=0.2)
    assert np.isfinite(g.g)


def _no_between_variation(seed: int) -> pd.DataFrame:
    """Group means forced equal: the REML group variance is exactly on its boundary (zero)."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(12), 5)
    e = rng.normal(size=g.size)
    e -= pd.Series(e).groupby(g).transform("mean").to_numpy()
    return pd.DataFrame({"y": 5 + e, "school": g, "arm": np.where(g < 6, "treated", "control")})


@pytest.mark.once
def test_boundary_fit_warns_and_notes():
    df = _no_between_variation(3)
    with pytest.warns(StatsWarning, match="group variance is estimated at zero"):
        fit = stats.random_intercept(df, "y", "school", optimizers=("powell",))
    assert fit.at_boundary and fit.icc == pytest.approx(0, abs=1e-6)
    assert any("boundary" in n for n in fit.notes)
    with pytest.warns(StatsWarning, match="boundary"):
        est = stats.estimate_effect(df, "y", "arm", "control", cluster="school", method="mixed",
                                    se="classical")
    assert any("boundary" in n for n in est.notes)
    with pytest.warns(StatsWarning, match="boundary"):  # Hedges' g passes the caveat on
        stats.hedges_g_data(df, "y", "arm", "control", cluster="school")


# ---- regression discontinuity -----------------------------------------------------------------


def test_ik_bandwidth_names_the_real_cause():
    x = np.linspace(-1, 1, 400)
    y = x + (x < 0)
    x_nan = x.copy()
    x_nan[[3, 7]] = np.nan
    with pytest.raises(DataError, match="running variable has 2 missing or non-finite"):
        stats.ik_bandwidth(x_nan, y, 0.0)
    with pytest.raises(DataError, match="outcome is constant"):
        stats.ik_bandwidth(x, np.full(400, 3.0), 0.0)
    with pytest.raises(EstimationError, match="does not vary within the pilot bandwidth"):
        stats.ik_bandwidth(x, np.where(x < 0, 1.0, 2.0), 0.0)
    with pytest.raises(DataError, match="equal length"):
        stats.ik_bandwidth(x, y[:-1], 0.0)
    df = pd.DataFrame({"att": x, "score": y})
    df.loc[5, "att"] = np.inf
    with pytest.raises(DataError, match="column 'att' holds infinite value inf at row 5"):
        stats.rdd(df, "score", "att", 0.0)
    with pytest.raises(DataError, match="outcome is constant"):
        stats.rdd(df.assign(att=x, score=1.0), "score", "att", 0.0, bandwidth=0.5)


# ---- difference-in-differences ----------------------------------------------------------------


def _panel(treated_schools: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(12):
        first = 4 if s < treated_schools else np.nan
        for t in range(1, 7):
            rows.append((f"S{s}", t, first, rng.normal() + 0.5 * (t >= (first or 99))))
    return pd.DataFrame(rows, columns=["school", "term", "first", "y"])


@pytest.mark.filterwarnings("error::RuntimeWarning")  # no "Mean of empty slice" gets through
def test_did_refuses_or_warns_on_one_treated_cluster_and_leaks_no_numpy_warnings():
    """did_twfe refuses one treated cluster (its CR1 covered 55%: test_stats_did_lone231);
    did_group_time reports the effects without SE, with a warning."""
    one = _panel(1)
    with pytest.raises(EstimationError, match="the treated unit-periods lie in a single "
                       "cluster of 'school'"):
        stats.did_twfe(one, "y", "school", "term", "first")
    with pytest.warns(StatsWarning, match="only 1 treated cluster"):
        cs = stats.did_group_time(one, "y", "school", "term", "first", n_boot=99)
    assert np.isnan(cs.overall["se"])  # no standard error exists, and none is invented
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        many = stats.did_group_time(_panel(6), "y", "school", "term", "first", n_boot=99,
                                    control="notyet")
    assert np.isfinite(many.overall["se"])


def test_list_valued_cluster_is_refused_by_name_where_unsupported():
    df = _panel(6)
    for call in (
        lambda: stats.did_twfe(df, "y", "school", "term", "first", cluster=["school", "term"]),
        lambda: stats.did_group_time(df, "y", "school", "term", "first", cluster=["school"]),
        lambda: stats.rdd(df, "y", "term", 3.5, cluster=["school", "term"]),
        lambda: stats.hedges_g_data(df.assign(arm=df["first"].notna()), "y", "arm", False,
                                    cluster=["school", "term"]),
    ):
        with pytest.raises(SrmsimError, match="must be one column name; two-way clustering"):
            call()
    trial = df.assign(arm=np.where(df["first"].notna(), "t", "c"))
    with pytest.raises(SrmsimError, match="two-way clustering is available for method='ols'"):
        stats.estimate_effect(trial, "y", "arm", "c", cluster=["school", "term"], method="gee")
    with pytest.raises(SrmsimError, match="at most two clustering columns"):
        stats.estimate_effect(trial, "y", "arm", "c", cluster=["school", "term", "y"],
                              se="cluster")


# ---- hostile numbers (adversarial review) ----------------------------------------------------


def _arms(seed: int = 0, n: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"y": rng.normal(size=n), "arm": np.repeat(["c", "t"], n // 2),
                         "school": np.tile(np.arange(8), n // 8).astype(float),
                         "x": rng.normal(size=n)})


@pytest.mark.parametrize("column,value", [("y", np.inf), ("y", -np.inf), ("y", 1e300),
                                          ("school", np.inf), ("x", np.inf)])
@pytest.mark.parametrize("method,se", [("ols", "cluster"), ("gee", "cluster"),
                                       ("mixed", "classical")])
def test_infinite_or_overflowing_values_are_named_not_estimated(column, value, method, se):
    df = _arms()
    df.index = df.index + 100  # the message names the caller's row label
    df.loc[103, column] = value
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy warning flood before the error
        with pytest.raises(DataError, match=rf"column '{column}' holds .* at row 103"):
            stats.estimate_effect(df, "y", "arm", "c", cluster="school", covariates=["x"],
                                  method=method, se=se)


def test_infinite_values_are_refused_by_every_estimator():
    df = _arms()
    df.loc[3, "y"] = np.inf
    for call in (lambda: stats.regress(df, "y ~ x"),
                 lambda: stats.random_intercept(df, "y", "school"),
                 lambda: stats.hedges_g_data(df, "y", "arm", "c"),
                 lambda: stats.rdd(df, "y", "x", 0.0)):
        with pytest.raises(DataError, match="infinite value inf at row 3"):
            call()


def test_columns_too_close_to_zero_to_square_are_refused_by_every_estimator():
    """y in units of 1e-200: squares underflow to 0, so HC1 called the SE 'zero because the
    clusters' residuals cancel', rdd said the outcome does not vary and GEE raised a raw
    ValueError. A covariate with some tiny values among normal ones is fine."""
    df = _arms().assign(y=lambda d: d["y"] * 1e-200)
    for call in (lambda: stats.estimate_effect(df, "y", "arm", "c"),
                 lambda: stats.estimate_effect(df, "y", "arm", "c", cluster="school", method="gee"),
                 lambda: stats.regress(df, "y ~ x"),
                 lambda: stats.random_intercept(df, "y", "school"),
                 lambda: stats.rdd(df, "y", "x", 0.0),
                 lambda: stats.estimate_effect(_arms().assign(x=lambda d: d["x"] * 1e-160), "y",
                                               "arm", "c", covariates=["x"])):
        with pytest.raises(DataError, match=r"column '[yx]': every value is within \+-1e-150"):
            call()
    mixed = _arms()
    mixed.loc[3, "x"] = 1e-200
    assert stats.regress(mixed, "y ~ x").coef("x")["se"] > 0


@pytest.mark.parametrize("method,se", [("ols", "hc1"), ("ols", "cluster"), ("mixed", "classical")])
def test_constant_outcome_is_an_error_not_a_zero_se(method, se):
    # before: se 1e-30 and p = 1e-115 with se="cluster"
    df = _arms().assign(y=1.0)
    with pytest.raises(DataError, match="single value 1 in all 80 rows"):
        stats.estimate_effect(df, "y", "arm", "c", cluster=None if se == "hc1" else "school",
                              method=method, se=se)
    with pytest.raises(DataError, match="single value"):
        stats.regress(df, "y ~ x")


def test_outcome_fitted_exactly_is_an_error_not_p_zero():
    df = _arms().assign(y=lambda d: 2.0 * (d["arm"] == "t"))
    with pytest.raises(EstimationError, match="reproduces the outcome exactly"):
        stats.estimate_effect(df, "y", "arm", "c")
    with pytest.raises(EstimationError, match="reproduces the outcome exactly"):
        stats.regress(df.assign(t=(df["arm"] == "t") * 1.0), "y ~ t")


def test_arm_with_one_student_has_no_hc1_se_and_two_rows_are_too_few():
    df = _arms().iloc[:41]  # 40 controls, 1 treated
    with pytest.raises(EstimationError,
                       match="arm 't' has a single student: .* cannot estimate its variance"):
        stats.estimate_effect(df, "y", "arm", "c")
    classical = stats.estimate_effect(df, "y", "arm", "c", se="classical").effect()
    c = df["y"].iloc[:40]
    assert classical["se"] == pytest.approx(c.std() * np.sqrt(1 + 1 / 40), rel=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match="2 rows but 2 model terms"):
            stats.estimate_effect(_arms().iloc[[0, 79]], "y", "arm", "c")


def test_duplicate_column_names_are_named():
    df = _arms()
    df = pd.concat([df, df[["x"]].rename(columns={"x": "y"})], axis=1)
    with pytest.raises(DataError, match="outcome column 'y' appears 2 times"):
        stats.estimate_effect(df, "y", "arm", "c")


def test_summary_statistics_must_be_finite_whole_numbers():
    with pytest.raises(SrmsimError, match="mean_t=nan must be a finite number"):
        stats.hedges_g(float("nan"), 0, 1, 1, 10, 10)
    with pytest.raises(SrmsimError, match="n_t must be a whole number"):
        stats.hedges_g(1, 0, 1, 1, 10.5, 10)  # was silently truncated to 10
    with pytest.raises(SrmsimError, match="risk difference=inf"):
        stats.nnt(float("inf"))  # was NNT 0
    with pytest.raises(SrmsimError, match="between -1 and 1"):
        stats.nnt(1.5)
    with pytest.raises(SrmsimError, match="effect=nan must be a finite number"):
        stats.power("cluster2", float("nan"), rho=0.2, n=20, J=40)  # was power nan
    with pytest.raises(SrmsimError, match="cv=nan"):
        stats.design_effect(20, 0.1, float("nan"))
    with pytest.raises(SrmsimError, match="alpha='x' must be a number"):
        stats.mdes("cluster2", alpha="x", rho=0.2, n=20, J=40)


def test_did_refuses_minus_infinity_and_constant_outcomes_and_explains_zero_as_never():
    rng = np.random.default_rng(4)
    u = np.repeat(np.arange(30), 5)
    t = np.tile(np.arange(2001, 2006), 30).astype(float)
    g = np.where(u < 10, 2003.0, np.nan)
    p = pd.DataFrame({"y": rng.normal(size=u.size) + (t >= g), "u": u, "t": t, "g": g})
    with pytest.raises(DataError, match="holds -inf"):
        stats.did_group_time(p.assign(g=p["g"].fillna(-np.inf)), "y", "u", "t", "g", n_boot=99)
    with pytest.raises(DataError, match="single value"):
        stats.did_twfe(p.assign(y=5.0), "y", "u", "t", "g")
    with pytest.raises(DataError, match="R's did"):
        stats.did_group_time(p.assign(g=p["g"].fillna(0)), "y", "u", "t", "g", n_boot=99)
    plus = stats.did_group_time(p.assign(g=p["g"].fillna(np.inf)), "y", "u", "t", "g", n_boot=99)
    blank = stats.did_group_time(p, "y", "u", "t", "g", n_boot=99)
    assert plus.overall["estimate"] == blank.overall["estimate"]


def test_rdd_running_variable_too_wide_is_named_not_a_lapack_failure():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, 300)
    df = pd.DataFrame({"x": x * 1e140, "y": x + (x >= 0) + rng.normal(0, 0.3, 300)})
    with pytest.raises(DataError, match="rescale it"):
        stats.rdd(df, "y", "x", 0.0)


# ---- hostile tables (an outside fuzzing review) -----------------------------------------------


def test_a_column_name_is_never_run_as_code(tmp_path):
    """A header crafted to close patsy's Q("...") quoting used to run as Python in regress."""
    marker = tmp_path / "ran"
    evil = f'x") + __import__("pathlib").Path(r"{marker}").touch() + Q("x'
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"y": rng.normal(size=30), evil: rng.normal(size=30),
                       "school id": np.repeat(list("abc"), 10)})
    r = stats.regress(df, f"y ~ `{evil}` + C(`school id`)")
    assert not marker.exists()
    plain = stats.regress(df.set_axis(["y", "x", "s"], axis=1), "y ~ x + C(s)")
    np.testing.assert_allclose(r.table["estimate"].to_numpy(), plain.table["estimate"].to_numpy())
    assert list(r.table.index) == ["Intercept", "C(`school id`)[T.b]", "C(`school id`)[T.c]",
                                   f"`{evil}`"]


def test_regress_refuses_a_duplicated_column_and_a_formula_without_terms():
    df = pd.DataFrame([[1.0, 2.0, 3.0], [2.0, 3.0, 1.0], [3.0, 1.0, 2.0], [4.0, 5.0, 6.0]],
                      columns=["y", "x", "x"])
    with pytest.raises(DataError, match="column 'x' appears 2 times"):
        stats.regress(df, "y ~ x")
    with pytest.raises(SrmsimError, match="no terms after '~'"):
        stats.regress(df.iloc[:, :2], "y ~ 1 - 1")


def test_a_robust_standard_error_of_zero_is_refused():
    """Arms assigned by school, every school of an arm with the same mean: each cluster's
    residuals sum to zero, so CR1 and GEE-robust SEs were 0 (p = 0) while HC1 says 0.27."""
    rows = [(s, "t" if s % 2 else "c", (2.0 if s % 2 else 1.0) + w)
            for s in range(6) for w in (-1.0, 0.0, 1.0, 0.5, -0.5)]
    df = pd.DataFrame(rows, columns=["school", "arm", "y"])
    for kwargs in ({"se": "cluster"}, {"method": "gee"}):
        with pytest.raises(EstimationError, match="standard error of 'arm.t.' is zero"):
            stats.estimate_effect(df, "y", "arm", "c", cluster="school", **kwargs)
    with pytest.raises(EstimationError, match="standard error of 'Intercept', 't' is zero"):
        stats.regress(df.assign(t=(df.arm == "t") * 1.0), "y ~ t", se="cluster", cluster="school")
    assert stats.estimate_effect(df, "y", "arm", "c", se="hc1").table["se"].iloc[0] > 0.2
    df.loc[0, "y"] += 0.3  # one school's mean moves: the clusters carry information again
    assert stats.estimate_effect(df, "y", "arm", "c", cluster="school",
                                 se="cluster").table["se"].iloc[0] > 0.01


def test_round_off_is_not_variation():
    arm = np.random.default_rng(1).permutation(np.tile(["c", "t"], 60))
    df = pd.DataFrame({"arm": arm, "y": 1.0})
    df.loc[0, "y"] = 1 + 1e-15
    with pytest.raises(DataError, match="takes the single value 1"):
        stats.estimate_effect(df, "y", "arm", "c")
    df.loc[0, "y"] = 1 + 1e-9  # small, but real
    assert stats.estimate_effect(df, "y", "arm", "c").table["se"].iloc[0] > 0


def test_huge_whole_numbers_complex_numbers_and_mixed_kinds_are_refused():
    rng = np.random.default_rng(0)
    base = pd.DataFrame({"y": rng.normal(size=40), "arm": ["c", "t"] * 20})
    for big, match in ((10**200, "beyond"), (10**400, "too large|beyond")):
        y = base["y"].astype(object)
        y[5] = big
        with pytest.raises(DataError, match=match):
            stats.estimate_effect(base.assign(y=y), "y", "arm", "c")
        with pytest.raises(DataError, match=match):
            stats.regress(base.assign(y=y, x=rng.normal(size=40)), "y ~ x")
    with pytest.raises(DataError, match="complex numbers"):
        stats.estimate_effect(base.assign(y=base["y"] + 1j), "y", "arm", "c")
    mixed = pd.Series([True, 0, 1, False] * 10, dtype=object)
    with pytest.raises(DataError, match="mixes true/false with numbers"):
        stats.estimate_effect(base.assign(arm=mixed), "y", "arm", 0)


@pytest.mark.parametrize("call", [
    lambda df: stats.estimate_effect(df, 0, "arm", "c"),
    lambda df: stats.estimate_effect(df, "y", "arm", "c", covariates=5),
    lambda df: stats.estimate_effect(df, "y", "arm", "c", cluster=5, se="cluster"),
    lambda df: stats.regress(df, "y ~ x", se="cluster", cluster=5),
])
def test_a_column_name_that_is_not_text_is_named(call):
    df = pd.DataFrame({"y": [1.0, 2, 3, 5], "x": [1.0, 3, 2, 4], "arm": ["c", "t"] * 2})
    with pytest.raises(DataError, match="column name must be a string, got (0|5)"):
        call(df)


def test_regress_reads_booleans_and_numbers_stored_as_objects_as_the_other_estimators_do():
    """A true/false outcome is 1/0, an object column of numbers is numeric and pandas' nullable
    booleans are booleans (all refused by patsy before)."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"y": rng.normal(size=40), "x": rng.normal(size=40),
                       "b": rng.random(40) > 0.5})
    as_float = stats.regress(df.assign(y=df.b.astype(float)), "y ~ x").table["estimate"]
    pd.testing.assert_series_equal(stats.regress(df.assign(y=df.b), "y ~ x").table["estimate"],
                                   as_float)
    plain = stats.regress(df, "y ~ x + b").table["estimate"]
    for variant in (df.assign(b=df.b.astype("boolean")), df.assign(x=df.x.astype(object))):
        pd.testing.assert_series_equal(stats.regress(variant, "y ~ x + b").table["estimate"],
                                       plain)


@pytest.mark.parametrize("values", [
    [3, 1, 3, 2], [1.0, None, 1, "1", 2.5], ["b", "a", None, "b", " "], [None, None],
    [np.nan, 2.0, 2], []])
def test_group_codes_and_present_labels_label_each_value_once_as_every_row(values) -> None:
    """group_codes and present_labels label a column's distinct values once (the estimators
    call them on every fit); they give what labelling every row gave: codes in order of first
    appearance, one code for values with one label (1, 1.0 and "1"), -1 where missing."""
    s = pd.Series(values, dtype=object if values else float)
    labelled = ck.labels(s)
    np.testing.assert_array_equal(ck.group_codes(s), pd.factorize(labelled)[0])
    assert ck.present_labels(s) == set(labelled.dropna())
    if values[:2] == [1.0, None]:
        assert list(ck.group_codes(s)) == [0, -1, 0, 0, 1]
