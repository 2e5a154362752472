"""Power and design: PowerUp! vectors (Dong & Maynard 2013), design effect, simulated power."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from srmsim import stats
from srmsim.errors import DataError, SrmsimError
from srmsim.rng import replication_seeds


def test_cra2_no_covariates_vector():
    r = stats.mdes("cluster2", alpha=0.05, power=0.8, rho=0.17, n=15, J=20)
    assert r.df == 18
    assert round(r.se, 6) == 0.212289
    assert round(r.mdes, 6) == 0.629006
    assert (round(r.ci_low, 6), round(r.ci_high, 6)) == (0.183004, 1.075009)


def test_cra2_with_covariates_vector():
    r = stats.mdes("cluster2", rho=0.15, r2_level1=0.40, r2_level2=0.53, g2=1, n=100, J=40)
    assert r.df == 37
    assert round(r.se, 6) == 0.086948
    assert round(r.mdes, 6) == 0.250205


def test_cra2_mdes_and_noncentral_power_vector():
    assert round(stats.mdes("cra2_2", rho=0.20, n=20, J=40).mdes, 6) == 0.445482
    p = stats.power("cluster2", 0.25, rho=0.20, n=20, J=40)
    assert round(p.power, 6) == 0.349599
    assert p.ncp == pytest.approx(0.25 / p.se)


def test_bcra3f2_vector():
    r = stats.mdes("blocked_cluster3_fixed", rho2=0.10, n=20, J=44, K=5)
    assert r.df == 210
    assert round(r.mdes, 6) == 0.144520
    assert stats.mdes("bcra3f2", rho2=0.10, n=20, J=44, K=5).mdes == r.mdes


def test_power_at_mdes_is_the_target_power():
    for design, params in [
        ("individual", {"n": 300, "r2": 0.3}),
        ("cluster2", {"rho": 0.17, "n": 15, "J": 20}),
        ("blocked_individual", {"n": 30, "J": 10, "r2_level1": 0.5}),
        ("blocked_cluster3_fixed", {"rho2": 0.1, "n": 20, "J": 44, "K": 5}),
    ]:
        m = stats.mdes(design, power=0.8, **params)
        # central-t MDES is PowerUp!'s approximation: noncentral power at it is close to 0.8
        assert stats.power(design, m.mdes, **params).power == pytest.approx(0.8, abs=0.01)


def test_individual_design_formula_and_one_tailed():
    r = stats.mdes("individual", n=400, p=0.5)
    assert r.se == pytest.approx(np.sqrt(1 / (0.25 * 400))) and r.df == 398
    one = stats.mdes("ira", n=400, tails=1)
    assert one.mdes < r.mdes


def test_design_effect():
    assert stats.design_effect(25, 0.2) == pytest.approx(5.8)
    assert stats.design_effect(25, 0.2, cv=0.5) == pytest.approx(1 + 0.2 * (24 + 25 * 0.25))
    with pytest.raises(SrmsimError, match="rho"):
        stats.design_effect(25, 1.5)


def test_design_errors_name_the_problem():
    with pytest.raises(SrmsimError, match="unknown design 'cluster3'"):
        stats.mdes("cluster3", rho=0.1, n=10, J=10)
    with pytest.raises(SrmsimError, match="needs parameter 'J'"):
        stats.mdes("cluster2", rho=0.1, n=10)
    with pytest.raises(SrmsimError, match="no parameter.*K"):
        stats.mdes("cluster2", rho=0.1, n=10, J=10, K=3)
    with pytest.raises(SrmsimError, match="rho=1.2 must be in"):
        stats.mdes("cluster2", rho=1.2, n=10, J=10)
    with pytest.raises(SrmsimError, match="degrees of freedom"):
        stats.mdes("cluster2", rho=0.1, n=10, J=2)


def cluster_trial(seed: int, effect: float, J: int = 20, n: int = 15, rho: float = 0.17):
    """A two-level cluster randomised trial as PowerUp!'s CRA2_2 model describes it."""
    rng = np.random.default_rng(seed)
    school = np.repeat(np.arange(J), n)
    arm = rng.permutation(np.repeat(["control", "treated"], J // 2))[school]
    y = effect * (arm == "treated") + rng.normal(0, np.sqrt(rho), J)[school]
    y = y + rng.normal(0, np.sqrt(1 - rho), J * n)
    return pd.DataFrame({"y": y, "arm": arm, "school": school})


def _cluster_means_test(df):
    """The analysis PowerUp! assumes: a t-test on school means (df = J - 2)."""
    means = df.groupby("school").agg(y=("y", "mean"), arm=("arm", "first")).reset_index()
    return stats.estimate_effect(means, "y", "arm", "control", se="classical")


@pytest.mark.once
def test_simulated_power_agrees_with_powerup_at_the_mdes():
    analytic = stats.mdes("cluster2", rho=0.17, n=15, J=20)
    sim = stats.simulated_power(
        lambda s: cluster_trial(s, analytic.mdes), _cluster_means_test, n_sims=300, seed=11
    )
    assert sim.n_sims == 300 and sim.n_failed == 0
    assert sim.ci_low - 0.03 < 0.8 < sim.ci_high + 0.03
    assert sim.mean_estimate == pytest.approx(analytic.mdes, abs=0.06)


@pytest.mark.slow  # a long study: its faster siblings run by default (CI's budget)
def test_simulated_power_under_null_is_alpha_and_reproducible():
    def analyse(df):
        row = stats.estimate_effect(df, "y", "arm", "control", cluster="school",
                                    se="cluster").effect()
        return {"estimate": row["estimate"], "p_value": row["p_value"]}

    a = stats.simulated_power(lambda s: cluster_trial(s, 0.0), analyse, n_sims=200, seed=3)
    b = stats.simulated_power(lambda s: cluster_trial(s, 0.0), analyse, n_sims=200, seed=3)
    assert a.power == b.power and np.array_equal(a.p_values, b.p_values)
    assert abs(a.power - 0.05) < 3 * np.sqrt(0.05 * 0.95 / 200)


def test_simulated_power_uses_replication_seeds_and_reports_failures():
    seen = []

    def simulate(seed):
        seen.append(seed)
        return cluster_trial(seed, 0.5)

    def flaky(df):
        if len(seen) % 4 == 0:
            raise SrmsimError("unsound fit")
        return 0.01

    with pytest.raises(SrmsimError, match=r"replication 3 \(seed \d+\): unsound fit"):
        stats.simulated_power(simulate, flaky, n_sims=8, seed=5)
    seen.clear()
    res = stats.simulated_power(simulate, flaky, n_sims=8, seed=5, on_error="count")
    assert seen == replication_seeds(5, 8)
    assert res.n_failed == 2 and res.n_rejected == 6 and res.power == 1.0
    assert "2 replications failed" in res.summary()
    with pytest.raises(SrmsimError, match="must return"):
        stats.simulated_power(simulate, lambda df: "yes", n_sims=2)


@pytest.mark.parametrize(
    ("alias", "design", "params"),
    [
        ("CRA2_2r", "cluster2", {"rho": 0.17, "n": 15, "J": 20}),
        ("cra2r2", "cluster2", {"rho": 0.17, "n": 15, "J": 20}),
        ("mdes.cra2r2", "cluster2", {"rho": 0.17, "n": 15, "J": 20}),
        ("IRA", "individual", {"n": 200}),
        ("ira1r1", "individual", {"n": 200}),
        ("BIRA2_1f", "blocked_individual", {"n": 20, "J": 10}),
        ("BCRA3_2f", "blocked_cluster3_fixed", {"rho2": 0.1, "n": 20, "J": 44, "K": 5}),
        ("bcra3f2", "blocked_cluster3_fixed", {"rho2": 0.1, "n": 20, "J": 44, "K": 5}),
    ],
)
def test_powerup_design_names_are_aliases(alias, design, params):
    assert stats.mdes(alias, **params) == stats.mdes(design, **params)


def test_unimplemented_powerup_designs_are_refused_by_name():
    with pytest.raises(SrmsimError, match="PowerUp! design 'CRA3_3r' is not implemented"):
        stats.mdes("CRA3_3r", rho=0.1, n=20, J=4)


def test_simulated_power_refuses_p_values_that_are_not_probabilities():
    """A negative p-value from a user's estimator used to count as a rejection."""
    with pytest.raises(SrmsimError, match="p-value -0.1 is not a probability"):
        stats.simulated_power(lambda s: pd.DataFrame(), lambda d: -0.1, n_sims=3)
    res = stats.simulated_power(lambda s: pd.DataFrame({"s": [s]}),
                                lambda d: 1.5 if d["s"].iloc[0] % 2 else 0.01, n_sims=40,
                                on_error="count")
    assert res.n_failed + res.n_rejected == 40 and res.power == 1.0


@pytest.mark.parametrize(("call", "message"), [
    (lambda: stats.mdes("individual", alpha="0.05", n=100), "alpha='0.05' must be a number"),
    (lambda: stats.mdes("individual", power="0.8", n=100), "power='0.8' must be a number"),
    (lambda: stats.mdes("individual", power=None, n=100), "power=None must be a number"),
    (lambda: stats.mdes("individual", power=0.02, n=100), "must exceed alpha/tails = 0.025"),
    (lambda: stats.power("individual", "0.2", n=100), "effect='0.2' must be a number"),
    (lambda: stats.power("individual", 0.2, n=100, tails=True), "tails must be 1 or 2, got True"),
    (lambda: stats.power("individual", 0.2, n=1e308), r"n=1e\+308 must be a whole number"),
    (lambda: stats.power("individual", 0.3, n=100.5), "n=100.5 must be a whole number"),
    (lambda: stats.mdes("cluster2", rho=0.1, n=20, J=20.5), "J=20.5 must be a whole number"),
    (lambda: stats.mdes("cluster2", rho="0.1", n=20, J=20), "rho='0.1' must be a number"),
    (lambda: stats.mdes("cluster2", rho=0.1, n=0.5, J=20), "n=0.5 must be an average count"),
    (lambda: stats.mdes("individual", n=100, p=1e-320), "standard error overflows"),
    (lambda: stats.design_effect(25, 0.2, cv=1e200), "design effect overflows"),
    (lambda: stats.design_effect("25", 0.2), "cluster size m='25' must be a number"),
])
def test_design_inputs_refused_clearly(call, message):
    """Raw TypeErrors, NaN power and fractional students before (fuzzing report)."""
    with pytest.raises(DataError, match=message) if "tails" not in message else pytest.raises(
            SrmsimError, match=message):
        call()


def test_power_of_huge_effects_is_zero_or_one_not_nan():
    assert stats.power("individual", 1e308, n=100).power == 1.0  # was nan
    assert stats.power("individual", -1e308, n=100).power == 1.0
    assert stats.power("individual", -1e308, n=100, tails=1).power == 0.0
    assert stats.power("individual", 0.2, n=2**53).power == 1.0
    # beyond |ncp| 1e6 power is the chi-square limit P(V < df (ncp/t1)^2): here df 1, t1 6e16
    limit = stats.power("individual", 6e16, n=3, alpha=1e-17)
    assert limit.power == pytest.approx(sps.chi2.cdf((limit.ncp / 6.366197723675813e16) ** 2, 1))
    assert 0.01 < limit.power < 0.99


def test_mdes_with_tiny_alpha_is_finite():
    r = stats.mdes("individual", alpha=1e-17, n=100)  # was mdes inf, ci_low nan
    assert all(np.isfinite([r.mdes, r.ci_low, r.ci_high])) and r.mdes > stats.mdes(
        "individual", n=100).mdes
    # average cluster size may be fractional (unequal schools), the number of schools not
    assert stats.mdes("cluster2", rho=0.17, n=15.5, J=20).mdes < stats.mdes(
        "cluster2", rho=0.17, n=15, J=20).mdes


@pytest.mark.parametrize("tails", [1, 2])
@pytest.mark.parametrize("alpha", [1e-10, 0.05, 0.5])
def test_power_is_a_probability_over_a_grid(alpha, tails):
    for effect in (-1e308, -5.0, -0.2, 0.0, 0.2, 3.0, 1e308):
        for n in (4, 100, 10**6, 2**53):
            pw = stats.power("individual", effect, alpha=alpha, tails=tails, n=n).power
            assert 0.0 <= pw <= 1.0, (effect, n, pw)


def test_exact_power_at_the_mdes_is_the_rejection_rate_and_named_at_few_df():
    """PowerUp!'s multiplier t(1 - alpha/2) + t(power) gives less than the power asked for at
    few df: the summary says how much, and the figure is the simulated rejection rate."""
    few = stats.mdes("cluster2", rho=0.17, n=15, J=4)  # df 2
    rng = np.random.default_rng(7)
    draws = 400_000
    t = (rng.standard_normal(draws) + few.mdes / few.se) / np.sqrt(
        rng.chisquare(few.df, draws) / few.df)
    rejected = np.mean(np.abs(t) > sps.t.isf(0.025, few.df))
    assert abs(few.exact_power() - rejected) < 4 * np.sqrt(0.25 / draws)
    assert few.exact_power() == pytest.approx(0.766, abs=0.001)
    assert "power is 0.766 at this MDES by the noncentral t (df 2)" in few.summary()
    many = stats.mdes("cluster2", rho=0.17, n=15, J=20)  # df 18: the formula is within 0.001
    assert abs(many.exact_power() - 0.8) < 0.001 and "noncentral" not in many.summary()
