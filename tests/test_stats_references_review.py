"""srmsim's statistics against independent references, beyond the defaults (review).

Each test computes the same quantity another way: from the published formula written out in
numpy (full n x n algebra, not srmsim's shortcuts), from the reference package's documented
definition (R's did, clubSandwich, PowerUpR), or from a closed form (balanced REML). Where
srmsim refuses an input, the test shows why no number exists.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srmsim import stats
from srmsim.errors import EstimationError

DATA = Path(__file__).parent / "data"


# ------------------------------------------------------------------ random intercept edge


def _groups_alike(noise: float, seed: int = 8, groups: int = 20, size: int = 10) -> pd.DataFrame:
    """Balanced groups whose members differ only by ``noise`` (0: every member alike)."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), size)
    y = 3 + rng.normal(size=groups)[g] + noise * rng.normal(size=g.size)
    return pd.DataFrame({"y": y, "g": g, "arm": np.where(g % 2 == 0, "t", "c")})


def _balanced_reml(df: pd.DataFrame) -> dict[str, float]:
    """Balanced one-way REML in closed form (the ANOVA estimators when tau^2 > 0): tau^2 =
    (MSB - MSW) / n, sigma^2 = MSW, intercept = grand mean, its SE sqrt(MSB / N)."""
    groups, n = df["g"].nunique(), len(df) // df["g"].nunique()
    means = df.groupby("g")["y"].transform("mean")
    msb = n * df.groupby("g")["y"].mean().var(ddof=1)
    msw = float(((df["y"] - means) ** 2).sum()) / (len(df) - groups)
    return {"tau2": (msb - msw) / n, "sigma2": msw, "intercept": float(df["y"].mean()),
            "se": float(np.sqrt(msb / len(df)))}


def test_random_intercept_matches_balanced_reml_when_members_differ_a_little():
    """Within-group spread 1e-3 of the between: still a sound fit, equal to closed-form REML."""
    df = _groups_alike(1e-3)
    ref = _balanced_reml(df)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the residual-variance boundary note
        fit = stats.random_intercept(df, "y", "g")
    assert fit.group_variance == pytest.approx(ref["tau2"], rel=1e-4)
    assert fit.residual_variance == pytest.approx(ref["sigma2"], rel=1e-4)
    assert fit.fixed.loc["Intercept", "estimate"] == pytest.approx(ref["intercept"], abs=1e-6)
    assert fit.fixed.loc["Intercept", "se"] == pytest.approx(ref["se"], rel=1e-4)


@pytest.mark.parametrize("noise", [0.0, 1e-8])
def test_no_variation_within_groups_is_refused_not_a_wrong_fit(noise):
    """Every member of a group alike: the residual variance is 0 and the likelihood has no
    maximum. Closed-form REML at that limit: group variance 1.2555 (the group means'),
    intercept the grand mean, SE 0.2506. Before: a "converged" fit with group variance 0.069
    (1e-8: 0.150), intercept 0.21 (0.17) off the grand mean, SE 0.069 (0.100), and only a note
    that within-group inference was unreliable."""
    df = _groups_alike(noise)
    ref = _balanced_reml(df)
    assert ref["tau2"] == pytest.approx(1.2555, abs=1e-4) and ref["se"] == pytest.approx(
        0.2506, abs=1e-4)
    with pytest.raises(EstimationError, match="does not vary within the groups"):
        stats.random_intercept(df, "y", "g")
    with pytest.raises(EstimationError, match="does not vary within the groups"):
        stats.estimate_effect(df, "y", "arm", "c", cluster="g", method="mixed",
                              se="classical")
    with pytest.raises(EstimationError, match="ICC .* cannot be estimated"):
        stats.hedges_g_data(df, "y", "arm", "c", cluster="g")


def test_no_variation_within_groups_after_a_covariate_is_refused():
    """The within-group spread is judged after the fixed terms: y = group effect + 2 x exactly
    leaves no residual variance either."""
    rng = np.random.default_rng(3)
    df = _groups_alike(0.0).assign(x=lambda d: rng.normal(size=len(d)))
    df["y"] = df["y"] + 2 * df["x"]
    with pytest.raises(EstimationError, match="does not vary within the groups"):
        stats.random_intercept(df, "y", "g", covariates=["x"])


# ------------------------------------------------------------------ GEE with a lone cluster


def _two_school_trial(seed: int, n_c: int = 20, n_t: int = 15) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"y": rng.normal(size=n_c + n_t), "arm": ["c"] * n_c + ["t"] * n_t,
                         "school": [0] * n_c + [1] * n_t})


def _contrast_estimable_without(df: pd.DataFrame, school: int) -> bool:
    """Is the arm contrast estimable from the other clusters? Mancl & DeRouen's I - H_g is
    singular exactly when it is not (leave-one-cluster-out information singular)."""
    rest = df[df["school"] != school]
    X = np.column_stack([np.ones(len(rest)), rest["arm"] != "c"]).astype(float)
    with_c = np.vstack([X, [0.0, 1.0]])
    return np.linalg.matrix_rank(X) == np.linalg.matrix_rank(with_c)


@pytest.mark.parametrize("seed", range(4))
def test_gee_robust_se_with_an_arm_in_one_cluster_is_refused(seed):
    """Before: statsmodels solved the singular (I - H_g) and returned round-off as the SE
    (0.93, 0.25, 0.23, 0.28 for these four panels of noise), unless the round-off happened to
    be exact (LinAlgError, already refused)."""
    df = _two_school_trial(seed, n_t=15 + seed)
    assert not _contrast_estimable_without(df, 1) and not _contrast_estimable_without(df, 0)
    with pytest.raises(EstimationError, match="one cluster in an arm.*Mancl-DeRouen"):
        stats.estimate_effect(df, "y", "arm", "c", cluster="school", method="gee")


def test_gee_robust_se_with_the_reference_arm_in_one_cluster_is_refused():
    """Controls all in school 0, treated over 8 schools: without school 0 the contrast is not
    estimable, so no bias-reduced sandwich exists. Before: a warning and an SE that was
    round-off (8.3, 3.9, 1.3, 19.1 for the same data moved by 1e-12)."""
    rng = np.random.default_rng(0)
    school = np.repeat(np.arange(16), 5)
    arm = np.where(school % 2 == 0, "c", "t")
    df = pd.DataFrame({"y": rng.normal(size=80) + rng.normal(size=16)[school], "arm": arm,
                       "school": np.where(arm == "c", 0, school)})
    assert not _contrast_estimable_without(df, 0)
    with pytest.raises(EstimationError, match="arm 'c' lies in a single cluster"):
        stats.estimate_effect(df, "y", "arm", "c", cluster="school", method="gee")
    # the model-based GEE SE needs no such inverse and is still given
    est = stats.estimate_effect(df, "y", "arm", "c", cluster="school", method="gee",
                                se="classical")
    assert np.isfinite(est.effect()["se"])


# ------------------------------------------------------------------ Callaway-Sant'Anna options


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    """R did::mpdta (see tests/data/README.md); first.treat 0 means never treated."""
    df = pd.read_csv(DATA / "mpdta.csv.gz")
    return df.assign(g=df["first.treat"].replace(0, np.nan))


def _two_by_two(df: pd.DataFrame, control: str, base: str) -> dict[tuple[float, float], float]:
    """Every ATT(g, t) as R's did defines it (att_gt, no covariates): the change from the base
    period in cohort g minus that in the controls, never treated or (``notyettreated``) units
    with G == 0 or G > the later of the two periods and G != g; base period g - 1 after
    treatment (and always, ``universal``), else the period before t. Units count in a cell
    when observed in both its periods."""
    wide = df.pivot(index="countyreal", columns="year", values="lemp")
    first = df.groupby("countyreal")["g"].first().reindex(wide.index)
    periods = list(wide.columns)
    out = {}
    for g in sorted(first.dropna().unique()):
        k_g = periods.index(g)
        for k_t, t in enumerate(periods):
            k_b = k_g - 1 if (k_t >= k_g or base == "universal") else k_t - 1
            if k_b < 0 or k_b == k_t:
                continue
            change = wide[t] - wide[periods[k_b]]
            later = max(t, periods[k_b])
            ctrl = first.isna() | ((first > later) & (first != g)) if control == "notyet" \
                else first.isna()
            out[(g, t)] = change[first == g].mean() - change[ctrl].mean()
    return out


@pytest.mark.parametrize("control", ["never", "notyet"])
@pytest.mark.parametrize("base", ["varying", "universal"])
@pytest.mark.parametrize("unbalanced", [False, True])
def test_group_time_cells_are_r_did_two_by_two_dids(mpdta, control, base, unbalanced):
    """ATT(g, t) on mpdta with each control group and base period, on the balanced panel and
    with 10% of county-years dropped (each cell then uses the counties seen in both periods)."""
    df = mpdta
    if unbalanced:
        df = df.drop(index=np.random.default_rng(3).choice(len(df), 250, replace=False))
    res = stats.did_group_time(df, "lemp", "countyreal", "year", "g", control=control,
                               base_period=base, n_boot=50)
    ref = _two_by_two(df, control, base)
    got = res.att_gt.set_index(["group", "time"])["att"]
    assert len(got) == len(ref) == 12
    for key, value in ref.items():
        assert got[key] == pytest.approx(value, abs=1e-14)


def _r_did_simple(df: pd.DataFrame, control: str) -> tuple[float, float]:
    """aggte(type = "simple") and its analytic SE as R's did computes them: post cells weighted
    by P(G = g), each cell's influence function n/n_T (dY - mean_T) on treated and
    -n/n_C (dY - mean_C) on controls, plus the weights' influence (wif: numerator and
    denominator terms); SE = sqrt(sum psi^2) / n."""
    wide = df.pivot(index="countyreal", columns="year", values="lemp")
    first = df.groupby("countyreal")["g"].first().reindex(wide.index).to_numpy()
    periods, n = list(wide.columns), len(wide)
    infl, att, pg, cohort = [], [], [], []
    for g in sorted(set(first[np.isfinite(first)])):
        k_g = periods.index(g)
        for t in periods[k_g:]:
            change = (wide[t] - wide[periods[k_g - 1]]).to_numpy()
            treated = first == g
            ctrl = ~np.isfinite(first)
            if control == "notyet":
                ctrl = ctrl | ((first > t) & (first != g))
            psi = np.zeros(n)
            psi[treated] = n / treated.sum() * (change[treated] - change[treated].mean())
            psi[ctrl] = -n / ctrl.sum() * (change[ctrl] - change[ctrl].mean())
            infl.append(psi)
            att.append(change[treated].mean() - change[ctrl].mean())
            pg.append(float(np.mean(first == g)))
            cohort.append(g)
    psi_cells, att_a, pg_a = np.array(infl).T, np.array(att), np.array(pg)
    total = pg_a.sum()
    member = np.array([(first == g).astype(float) for g in cohort]).T
    wif = (member - pg_a) / total - np.outer((member - pg_a).sum(axis=1), pg_a / total**2)
    agg = psi_cells @ (pg_a / total) + wif @ att_a
    return float((pg_a * att_a).sum() / total), float(np.sqrt((agg**2).sum()) / n)


@pytest.mark.parametrize("control", ["never", "notyet"])
def test_simple_att_and_its_analytic_se_are_r_dids_without_the_small_cluster_factor(
        mpdta, control, monkeypatch):
    """srmsim's SE is R did's analytic one with each arm scaled by sqrt(G/(G-1)) (documented):
    with that factor set to 1 the two agree to rounding for both control groups (never:
    -0.0400, SE 0.0120)."""
    from srmsim.stats import did

    est, se = _r_did_simple(mpdta, control)
    with_factor = stats.did_group_time(mpdta, "lemp", "countyreal", "year", "g",
                                       control=control, n_boot=50).overall
    monkeypatch.setattr(did, "_small_cluster_factor", lambda g: np.ones(np.shape(g)))
    res = stats.did_group_time(mpdta, "lemp", "countyreal", "year", "g", control=control,
                               n_boot=50)
    assert res.overall["estimate"] == pytest.approx(est, abs=1e-15)
    assert res.overall["se"] == pytest.approx(se, rel=1e-12)
    assert 1.0 < with_factor["se"] / se < 1.03  # the factor: smallest cohort 20 counties
    if control == "never":
        assert (round(est, 4), round(se, 4)) == (-0.0400, 0.0120)


def test_notyet_without_never_treated_units_matches_r_dids_recoding(mpdta, monkeypatch):
    """No never-treated county: R's did drops the periods from the last cohort's start on and
    uses that cohort as never treated. srmsim skips the cells without controls instead, and
    gets the same post-treatment cells and simple ATT (and analytic SE); it also reports the
    last cohort's own pre-period cells."""
    from srmsim.stats import did

    monkeypatch.setattr(did, "_small_cluster_factor", lambda g: np.ones(np.shape(g)))
    treated = mpdta[mpdta["g"].notna()]
    last = treated["g"].max()
    recoded = treated[treated["year"] < last].assign(g=lambda d: d["g"].where(d["g"] != last))
    res = stats.did_group_time(treated, "lemp", "countyreal", "year", "g", control="notyet",
                               n_boot=50)
    est, se = _r_did_simple(recoded, "notyet")
    assert res.overall["estimate"] == pytest.approx(est, abs=1e-15)
    assert res.overall["se"] == pytest.approx(se, rel=1e-12)
    ref = _two_by_two(recoded, "notyet", "varying")
    got = res.att_gt.set_index(["group", "time"])["att"]
    for key, value in ref.items():
        assert got[key] == pytest.approx(value, abs=1e-14)
    assert set(got.index) - set(ref) == {(last, 2004.0), (last, 2005.0)}
