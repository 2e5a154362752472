"""What the estimators' ``summary()`` prints: the interval's level as given and p-values that
are not zero.

Found 2026-12-07 (a review of srmsim's statistics in the corners a user reaches): with
``alpha=0.001`` (or 0.005) every summary headed its intervals "100% confidence intervals", and
with ``alpha=0.025`` "98%" (``{:.0f}`` of 99.9, 99.5 and 97.5), while the intervals below were
the 99.9%, 99.5% and 97.5% ones; and the tables printed any p-value under 0.00005 as
``0.0000`` (``0.000000`` in ``regress``), read as a p-value of exactly zero. The intervals
and p-values themselves were right (checked here against statsmodels).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from srmsim import stats
from srmsim.labels import p_text


def _trial(seed: int = 2, n: int = 400, effect: float = 1.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"arm": np.repeat(["control", "treated"], n // 2),
                       "school": np.tile(np.arange(20), n // 20)})
    df["t"] = (df["arm"] == "treated").astype(float)
    df["y"] = effect * df["t"] + rng.normal(size=n)
    return df


def _statsmodels(df: pd.DataFrame, alpha: float) -> tuple[float, float, float]:
    """Classical OLS of y on the arm by statsmodels: (ci_low, ci_high, p) of the arm."""
    fit = sm.OLS(df["y"], sm.add_constant(df[["t"]])).fit()
    lo, hi = fit.conf_int(alpha).loc["t"]
    return float(lo), float(hi), float(fit.pvalues["t"])


@pytest.mark.parametrize(("alpha", "label"), [(0.001, "99.9%"), (0.005, "99.5%"),
                                              (0.025, "97.5%"), (0.05, "95%"), (0.1, "90%")])
def test_summaries_name_the_level_their_intervals_have(alpha: float, label: str) -> None:
    df = _trial()
    lo, hi, _ = _statsmodels(df, alpha)
    effect = stats.estimate_effect(df, "y", "arm", "control", se="classical", alpha=alpha)
    row = effect.effect()
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi), rel=1e-9)
    assert f"  {label} confidence intervals:" in effect.summary()
    reg = stats.regress(df, "y ~ t", se="classical", alpha=alpha)
    assert tuple(reg.coef("t")[["ci_low", "ci_high"]]) == pytest.approx((lo, hi), rel=1e-9)
    assert f"  {label} confidence intervals:" in reg.summary()
    mixed = stats.random_intercept(df, "y", "school", covariates=["t"], alpha=alpha)
    assert f"fixed effects ({label} CI," in mixed.summary()
    g = stats.hedges_g(1.0, 0.0, 1.0, 1.0, 200, 200, alpha=alpha)
    assert f"({label} CI " in g.summary()


def test_did_and_rdd_summaries_name_the_level_given() -> None:
    rng = np.random.default_rng(5)
    units, periods = 12, 4
    panel = pd.DataFrame({"unit": np.repeat(np.arange(units), periods),
                          "period": np.tile(np.arange(periods), units)})
    panel["start"] = np.where(panel["unit"] < 6, 2, np.inf)
    panel["y"] = (panel["period"] >= panel["start"]) * 0.5 + rng.normal(size=len(panel))
    twfe = stats.did_twfe(panel, "y", "unit", "period", "start", alpha=0.001)
    assert ", 99.9% CI " in twfe.summary()
    x = rng.uniform(-1, 1, 800)
    rd = pd.DataFrame({"x": x, "y": (x < 0) * 0.5 + x + rng.normal(scale=0.3, size=800)})
    result = stats.rdd(rd, "y", "x", 0.0, alpha=0.025)
    assert result.summary().count("97.5% CI") == 2


def test_a_p_value_below_the_printed_places_is_not_printed_as_zero() -> None:
    df = _trial()
    _, _, p = _statsmodels(df, 0.05)
    assert 0 < p < 1e-12  # an effect of 1 SD on 400 students
    effect = stats.estimate_effect(df, "y", "arm", "control", se="classical")
    assert effect.effect()["p_value"] == pytest.approx(p, rel=1e-6)
    line = effect.summary().splitlines()[-1]
    assert "<0.0001" in line.split() and "0.0000" not in line.split()
    reg = stats.regress(df, "y ~ t", se="classical").summary()
    t_row = next(r for r in reg.splitlines() if r.startswith("t "))
    assert "<0.000001" in t_row.split()
    mixed = stats.random_intercept(df, "y", "school", covariates=["t"]).summary()
    t_row = next(r for r in mixed.splitlines() if r.startswith("t "))
    assert "<0.0001" in t_row.split()
    # a p-value that shows at 4 places is printed as before: no effect, p about 0.3-0.9
    null = stats.estimate_effect(_trial(effect=0.0), "y", "arm", "control", se="classical")
    shown = null.summary().splitlines()[-1].split()
    assert f"{null.effect()['p_value']:.4f}" in shown


def test_p_text_rounds_at_its_places_and_marks_what_is_below() -> None:
    assert p_text(0.04999) == "0.0500"
    assert p_text(0.00005) == "0.0001"  # rounds up to the last place: shown
    assert p_text(0.0000499) == "<0.0001"
    assert p_text(0.0) == "<0.0001"
    assert p_text(3e-12, 6) == "<0.000001"
    assert p_text(float("nan")) == "NaN"
    assert p_text(1.0) == "1.0000"


def _school_trial(seed: int, schools: int = 4, effect: float = 0.3) -> pd.DataFrame:
    """Schools randomised half and half, 10-39 pupils each, ICC 0.2, a true effect ``effect``."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(10, 40, size=schools)
    arm = np.array(["control"] * (schools // 2) + ["treated"] * (schools - schools // 2))
    rng.shuffle(arm)
    school = np.repeat(np.arange(schools), sizes)
    y = (rng.normal(scale=np.sqrt(0.2), size=schools)[school]
         + rng.normal(scale=np.sqrt(0.8), size=len(school)) + effect * (arm[school] == "treated"))
    return pd.DataFrame({"y": y, "arm": arm[school], "school": school})


def test_cr1_with_few_schools_says_its_interval_is_too_narrow_as_it_is() -> None:
    """estimate_effect(se="cluster") with 4 schools noted only "intervals rely on small-sample
    t df", as if t(G - 1) made CR1's interval honest; in 300 trials of 4 schools with a known
    effect its 95% intervals missed the truth far more than 5% of the time (about 14%), where
    se="cr2" held 95%. The note now says so and names se="cr2"; from 30 schools (the trial's
    own switch from CR2 to CR1) there is no note."""
    from scipy import stats as sps

    misses = {"cluster": 0, "cr2": 0}
    trials = 300
    for seed in range(trials):
        df = _school_trial(seed)
        for se in misses:
            row = stats.estimate_effect(df, "y", "arm", "control", cluster="school",
                                        se=se).effect()
            misses[se] += not row["ci_low"] <= 0.3 <= row["ci_high"]
    many = int(sps.binom.isf(0.001, trials, 0.05))  # more misses than 5% plausibly gives
    assert misses["cluster"] > many and misses["cr2"] <= many
    est = stats.estimate_effect(_school_trial(0), "y", "arm", "control", cluster="school",
                                se="cluster")
    assert est.effect()["df"] == 3
    note = next(n for n in est.notes if n.startswith("only 4 clusters"))
    assert "CR1 with t(3) gives intervals too narrow" in note and "se='cr2'" in note
    assert note in est.summary()
    reg = stats.regress(_school_trial(0).assign(t=lambda d: (d["arm"] == "treated") * 1.0),
                        "y ~ t", se="cluster", cluster="school")
    assert any(n.startswith("only 4 clusters: CR1 with t(3) gives intervals too narrow")
               for n in reg.notes)
    cr2 = stats.estimate_effect(_school_trial(0), "y", "arm", "control", cluster="school",
                                se="cr2")
    assert not any("too narrow" in n for n in cr2.notes)
    many_schools = stats.estimate_effect(_school_trial(1, schools=30), "y", "arm", "control",
                                         cluster="school", se="cluster")
    assert not any("clusters:" in n for n in many_schools.notes)
    twelve = stats.estimate_effect(_school_trial(1, schools=12), "y", "arm", "control",
                                   cluster="school", se="cluster")
    assert any(n.startswith("only 12 clusters: CR1 with t(11)") for n in twelve.notes)


def test_an_effect_over_fewer_replications_than_run_says_so_with_one_outcome() -> None:
    """Weeks waited is undefined in a replication where the variant serves nobody. With that
    outcome alone, 4 of 10 replications undefined gave an effect over 6, matching scipy's paired
    t interval over those 6, and the printed table said nothing: its note compared each row with
    the fullest row, here itself. With the experiment's manifest (10 replications run) it now
    names the row; a bare runs table, which knows no plan, is as before."""
    from scipy import stats as sps

    from srmsim.experiment.compare import compare_frame, format_effects

    rng = np.random.default_rng(4)
    base = rng.normal(3.0, 0.5, 10)
    variant = base - 0.4 + rng.normal(0, 0.1, 10)
    variant[[1, 4, 5, 8]] = np.nan  # nobody served in these replications
    runs = pd.DataFrame({"variant": ["none"] * 10 + ["texts"] * 10,
                         "replication": list(range(10)) * 2,
                         "weeks_waited": np.r_[base, variant]})
    eff = compare_frame(runs, "none", ["weeks_waited"])
    row = eff.iloc[0]
    ok = np.isfinite(variant)
    ci = sps.ttest_rel(variant[ok], base[ok]).confidence_interval(0.95)
    assert row["replications"] == 6
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-12)
    text = format_effects(eff, manifest={"replications": 10})
    assert "note: 'texts' Weeks waited: 6 of 10 replications" in text
    assert "of 10 replications" not in format_effects(eff)
    full = compare_frame(runs.fillna(1.0), "none", ["weeks_waited"])
    assert "replications (the others" not in format_effects(full, manifest={"replications": 10})


def test_effects_printed_and_plotted_name_the_level_they_were_computed_at(tmp_path) -> None:
    """``format_effects(compare(..., level=0.9))`` labelled the 90% intervals "the 95% simulation
    interval" (its own default), and so did the forest plot: the effects table now records its
    level, and a different one given with it is refused."""
    from scipy import stats as sps

    from srmsim.errors import SrmsimError
    from srmsim.experiment.compare import compare_frame, forest_plot, format_effects

    rng = np.random.default_rng(6)
    base = rng.normal(0.92, 0.01, 8)
    runs = pd.DataFrame({"variant": ["none"] * 8 + ["texts"] * 8,
                         "replication": list(range(8)) * 2,
                         "attendance": np.r_[base, base + 0.004 + rng.normal(0, 0.002, 8)]})
    eff = compare_frame(runs, "none", ["attendance"], level=0.9)
    d = runs["attendance"].to_numpy()[8:] - base
    ci = sps.ttest_rel(d + base, base).confidence_interval(0.9)
    assert (eff.loc[0, "ci_low"], eff.loc[0, "ci_high"]) == pytest.approx((ci.low, ci.high))
    text = format_effects(eff)
    assert "90% interval: the simulation interval" in text and "95%" not in text
    with pytest.raises(SrmsimError, match="these effects' intervals are 90% intervals"):
        format_effects(eff, level=0.95)
    fig = forest_plot(eff, tmp_path / "forest.png")
    titles = " ".join(t.get_text() for t in fig.texts)
    assert "90% simulation intervals" in titles and "95%" not in titles
    # a table read back from effects.csv knows no level: the one given is taken
    plain = eff.copy()
    plain.attrs = {}
    assert "80% interval: the simulation interval" in format_effects(plain, level=0.8)
    assert "95% interval: the simulation interval" in format_effects(plain)


def test_the_effect_table_prints_no_clusters_and_df_in_words() -> None:
    """estimate_effect's summary printed an analysis without clusters as ``n_clusters <NA>``
    and a df of 398 as ``398.0000``; the table itself keeps its values."""
    df = _trial()
    plain = stats.estimate_effect(df, "y", "arm", "control")
    row = plain.summary().splitlines()[-1].split()
    assert "none" in row and "398.0" in row and "<NA>" not in plain.summary()
    assert pd.isna(plain.table["n_clusters"].iloc[0]) and plain.table["df"].iloc[0] == 398
    clustered = stats.estimate_effect(df, "y", "arm", "control", cluster="school", se="cr2")
    assert clustered.summary().splitlines()[5].split()[7] == "20"


def _staggered(units: int, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    panel = pd.DataFrame({"unit": np.repeat(np.arange(units), 4),
                          "period": np.tile(np.arange(4), units)})
    panel["start"] = np.where(panel["unit"] < units // 2, 2, np.inf)
    panel["y"] = (panel["period"] >= panel["start"]) * 0.5 + rng.normal(size=len(panel))
    return panel


def test_did_twfe_default_cr1_with_few_clusters_says_it_is_too_narrow() -> None:
    """did_twfe's default se="cluster" (CR1, t(G - 1)) with 6 schools printed no note at all,
    though its docstring (and tests/test_trial_small_clusters_review.py's study) found it too
    narrow there; it now says so and names se="cr2", which has no such note, and from 30
    clusters there is none."""
    few = stats.did_twfe(_staggered(6), "y", "unit", "period", "start")
    assert few.df == 5
    note = next(n for n in few.notes if n.startswith("only 6 clusters"))
    assert "CR1 with t(5) gives intervals too narrow" in note and "se='cr2'" in note
    assert note in few.summary()
    cr2 = stats.did_twfe(_staggered(6), "y", "unit", "period", "start", se="cr2")
    assert not any("too narrow" in n for n in cr2.notes)
    many = stats.did_twfe(_staggered(30), "y", "unit", "period", "start")
    assert not any("clusters:" in n for n in many.notes)


def _four_schools(seed: int) -> pd.DataFrame:
    """The coverage study's generator: 4 schools of 10-39 pupils, 2 an arm, ICC 0.2."""
    rng = np.random.default_rng(4000 + seed)
    sizes = rng.integers(10, 40, size=4)
    arm = np.array(["control", "control", "treated", "treated"])
    rng.shuffle(arm)
    school = np.repeat(np.arange(4), sizes)
    y = (rng.normal(scale=np.sqrt(0.2), size=4)[school]
         + rng.normal(scale=np.sqrt(0.8), size=len(school)) + 0.3 * (arm[school] == "treated"))
    return pd.DataFrame({"y": y, "arm": arm[school], "school": school})


def test_gee_with_an_indefinite_working_covariance_is_refused_for_that_reason() -> None:
    """GEE on 4 schools whose exchangeable correlation came out at -0.028 with a school of 37
    pupils (below -1/36): statsmodels' model-based variance of the arm is NaN, and srmsim
    refused saying "the clusters' residuals cancel exactly ... use a model-based standard
    error" (the robust SE was 0.11; the model-based one is what did not exist). It now names the
    working correlation. A fit below the bound whose model-based variance exists is returned as
    before."""
    from statsmodels.genmod import cov_struct, families
    from statsmodels.genmod.generalized_estimating_equations import GEE

    from srmsim.errors import EstimationError

    df = _four_schools(0)
    X = np.column_stack([np.ones(len(df)), (df["arm"] == "treated").to_numpy(float)])
    model = GEE(df["y"].to_numpy(), X, groups=df["school"].to_numpy(),
                cov_struct=cov_struct.Exchangeable(), family=families.Gaussian())
    fit = model.fit(cov_type="bias_reduced")
    rho = float(model.cov_struct.dep_params)
    largest = int(df["school"].value_counts().max())
    assert rho <= -1 / (largest - 1) and not fit.cov_naive[1, 1] > 0  # no variance
    assert np.isfinite(fit.bse[1]) and fit.bse[1] > 0.05
    with pytest.raises(EstimationError, match=r"working correlation came out at -0\.028") as err:
        stats.estimate_effect(df, "y", "arm", "control", cluster="school", method="gee")
    assert "cancel" not in str(err.value)
    below = _four_schools(47)  # -0.033 with a school of 37, but a model-based variance exists
    row = stats.estimate_effect(below, "y", "arm", "control", cluster="school",
                                method="gee").effect()
    assert np.isfinite(row["se"]) and row["df"] == 3
