"""ROC / PR curves, AUC against Mann-Whitney, and the bootstrap over schools."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from srmsim import risk
from srmsim.errors import DataError, SrmsimError


def test_auc_known_cases():
    df = pd.DataFrame({"s": [1, 2, 3, 4], "y": [1, 1, 0, 0]})
    assert risk.auc(df, "s", "y", "below") == 1.0
    assert risk.auc(df, "s", "y", "above") == 0.0
    tied = pd.DataFrame({"s": [5, 5, 5, 5], "y": [1, 0, 1, 0]})
    assert risk.auc(tied, "s", "y") == 0.5
    # positives at 1 and 3, negatives at 2 and 4: pairs (1<2,1<4,3<4) ranked right, (3>2) wrong
    df2 = pd.DataFrame({"s": [1, 2, 3, 4], "y": [1, 0, 1, 0]})
    assert risk.auc(df2, "s", "y", "below") == pytest.approx(3 / 4)


def test_auc_equals_mann_whitney_with_ties():
    rng = np.random.default_rng(3)
    y = rng.random(400) < 0.3
    s = np.round(rng.normal(size=400) - 0.8 * y, 1)  # rounded: many ties
    df = pd.DataFrame({"s": s, "y": y})
    u = stats.mannwhitneyu(-s[y], -s[~y]).statistic  # risk = -score for "below"
    assert risk.auc(df, "s", "y", "below") == pytest.approx(u / (y.sum() * (~y).sum()))
    assert risk.auc_arrays(-s, y) == pytest.approx(u / (y.sum() * (~y).sum()))


def test_roc_points_match_threshold_table():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"s": np.round(rng.random(200), 2), "y": rng.random(200) < 0.25})
    for direction in ("below", "above"):
        roc = risk.roc_curve(df, "s", "y", direction)
        assert (roc["fpr"].iloc[0], roc["tpr"].iloc[0]) == (0, 0)
        assert (roc["fpr"].iloc[-1], roc["tpr"].iloc[-1]) == (1, 1)
        finite = roc[np.isfinite(roc["threshold"])]
        tab = risk.threshold_table(df, "s", "y", direction, thresholds=finite["threshold"])
        tab = tab.set_index("threshold").loc[finite["threshold"]]
        assert (tab["flagged"].to_numpy() == finite["flagged"].to_numpy()).all()
        assert (tab["tp"].to_numpy() == finite["tp"].to_numpy()).all()


def test_average_precision_hand_computed():
    # ranked by risk (below): 1 (pos), 2 (neg), 3 (pos), 4 (neg)
    df = pd.DataFrame({"s": [1, 2, 3, 4], "y": [1, 0, 1, 0]})
    # AP = 0.5 * 1 + 0.5 * 2/3
    assert risk.average_precision(df, "s", "y") == pytest.approx(0.5 + 1 / 3)
    pr = risk.pr_curve(df, "s", "y")
    assert np.isnan(pr["precision"].iloc[0])
    assert pr.attrs["prevalence"] == 0.5
    with pytest.raises(DataError, match="both outcomes"):
        risk.roc_curve(df.assign(y=0), "s", "y")


def test_cluster_bootstrap_resamples_whole_schools():
    codes = np.repeat(np.arange(6), [3, 5, 2, 7, 4, 1])
    rng = np.random.default_rng(0)
    for _ in range(50):
        w = risk.cluster_bootstrap_weights(codes, 6, rng)
        for c in range(6):  # every row of a school carries the same weight
            assert np.unique(w[codes == c]).size == 1
        per_school = np.array([w[codes == c][0] for c in range(6)])
        assert per_school.sum() == 6  # six schools drawn with replacement
        assert np.all(per_school == np.round(per_school))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("direction", ["below", "above"])
def test_cluster_table_counts_what_each_replicates_rows_sum(seed, direction):
    """The (tie group x school) table times a replicate's draws gives the rows' running totals
    bit for bit (the curves' bootstrap relies on it), on scores with ties and one-row
    schools, and the same distinct pupils drawn; the draws are bootstrap_weights' own."""
    from srmsim.risk._cluster_table import ClusterTable
    from srmsim.risk.curves import _points, _prepare, bootstrap_draws

    rng = np.random.default_rng(seed)
    n, n_schools = int(rng.integers(1, 400)), int(rng.integers(1, 30))
    s = np.round(rng.normal(size=n), int(rng.integers(0, 3)))  # rounded: ties
    y = (rng.random(n) < rng.uniform(0.05, 0.95)).astype(float)
    codes = rng.integers(0, n_schools, n)
    codes = pd.factorize(codes, sort=True)[0].astype(np.int64)  # one-row schools, no gaps
    prep = _prepare(s, y, direction)
    sorted_codes = codes[prep.order]
    n_clusters = int(codes.max()) + 1
    table = ClusterTable(prep.y, prep.ends, sorted_codes, n_clusters)
    weights = risk.bootstrap_weights(sorted_codes, n, 30, seed)
    for draws, w in zip(bootstrap_draws(n_clusters, 30, seed), weights, strict=True):
        assert np.array_equal(draws[sorted_codes], w)
        for got, want in zip(table.points(draws), _points(prep, w), strict=True):
            assert got.dtype == want.dtype and np.array_equal(got, want)
        drawn = w > 0
        assert table.drawn(draws) == (int(np.count_nonzero(drawn & (prep.y == 1))),
                                      int(np.count_nonzero(drawn)))


def _schools(n_schools: int, n: int, seed: int, informative_share: float = 1.0) -> pd.DataFrame:
    """Schools where the score is informative in some schools and pure noise in the others."""
    rng = np.random.default_rng(seed)
    parts = []
    for j in range(n_schools):
        y = rng.random(n) < 0.3
        signal = 2.0 if j < informative_share * n_schools else 0.0
        s = rng.normal(size=n) - signal * y
        parts.append(pd.DataFrame({"school": f"S{j}", "s": s, "y": y}))
    return pd.concat(parts, ignore_index=True)


def test_cluster_band_wider_than_student_band_when_schools_differ():
    df = _schools(10, 200, seed=2, informative_share=0.5)
    by_school = risk.bootstrap_curves(df, "s", "y", cluster="school", n_boot=300, seed=1)
    by_row = risk.bootstrap_curves(df, "s", "y", cluster=None, n_boot=300, seed=1)
    assert by_school.auc == by_row.auc
    assert by_school.n_clusters == 10 and by_row.n_clusters == len(df)
    w_school = by_school.auc_high - by_school.auc_low
    w_row = by_row.auc_high - by_row.auc_low
    assert w_school > 2 * w_row
    assert by_school.auc_low < by_school.auc < by_school.auc_high


def test_one_school_with_all_positives_gives_counted_undefined_replicates():
    rng = np.random.default_rng(4)
    parts = [pd.DataFrame({"school": j, "s": rng.normal(size=50), "y": False}) for j in range(7)]
    parts.append(pd.DataFrame({"school": 7, "s": rng.normal(size=50) - 1, "y": rng.random(50) < 0.5}))
    df = pd.concat(parts, ignore_index=True)
    b = risk.bootstrap_curves(df, "s", "y", cluster="school", n_boot=400, seed=0)
    # P(school 7 never drawn in 8 draws) = (7/8)^8 = 0.34
    assert 0.25 < b.n_undefined / b.n_boot < 0.43
    assert b.auc_samples.size == b.n_boot - b.n_undefined
    rows = risk.bootstrap_curves(df, "s", "y", cluster=None, n_boot=400, seed=0)
    assert rows.n_undefined == 0  # resampling students never loses every positive


def test_bootstrap_is_deterministic_and_bands_cover_point():
    df = _schools(8, 150, seed=9)
    a = risk.bootstrap_curves(df, "s", "y", n_boot=100, seed=42)
    b = risk.bootstrap_curves(df, "s", "y", n_boot=100, seed=42)
    c = risk.bootstrap_curves(df, "s", "y", n_boot=100, seed=43)
    assert np.array_equal(a.auc_samples, b.auc_samples)
    assert not np.array_equal(a.auc_samples, c.auc_samples)
    assert (a.roc["tpr_low"] <= a.roc["tpr_high"] + 1e-12).all()
    assert (a.pr["precision_low"] <= a.pr["precision_high"] + 1e-12).all()
    assert a.roc["tpr"].iloc[-1] == 1.0
    assert "AUC" in a.summary()
    # 8 schools: the interval says it is not to be trusted (2 schools printed 0.986-0.987 as
    # if it were); 12 do not
    assert "only 8 clusters: a bootstrap over so few understates the uncertainty" in a.summary()
    many = risk.bootstrap_curves(_schools(12, 60, seed=9), "s", "y", n_boot=50, seed=1)
    assert "clusters: a bootstrap over so few" not in many.summary()
    iid = risk.bootstrap_curves(df, "s", "y", cluster=None, n_boot=50, seed=1)
    assert "so few" not in iid.summary()


@pytest.mark.once
def test_auc_interval_covers_truth_in_repeated_trust_samples():
    """Known truth: normal scores with a 1.0 SD shift have AUC = Phi(1/sqrt(2)) = 0.760."""
    truth = stats.norm.cdf(1 / np.sqrt(2))
    covered = 0
    for rep in range(20):
        rng = np.random.default_rng(100 + rep)
        parts = []
        for j in range(12):
            y = rng.random(80) < 0.3
            parts.append(pd.DataFrame({"school": j, "s": rng.normal(size=80) - 1.0 * y, "y": y}))
        df = pd.concat(parts, ignore_index=True)
        b = risk.bootstrap_curves(df, "s", "y", n_boot=200, seed=rep)
        covered += b.auc_low <= truth <= b.auc_high
    assert covered >= 16  # nominal 95%: 19 of 20 expected; allow Monte Carlo slack


def test_missing_cluster_is_an_error():
    df = _schools(3, 20, seed=0)
    df.loc[5, "school"] = None
    with pytest.raises(DataError, match="column 'school'.*missing"):
        risk.bootstrap_curves(df, "s", "y", n_boot=40)


# --------------------------------------------------------------------------- bad input (fuzzing)

SIX = pd.DataFrame({"s": [.1, .2, .3, .4, .5, .6], "y": [1, 0, 1, 0, 0, 1],
                    "school": [1, 1, 1, 2, 2, 2]})


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_boot": 2.5}, "n_boot must be a whole number"),
    ({"n_boot": 0}, "n_boot=0 is out of range"),
    ({"n_boot": 10**9}, "n_boot=1000000000 is out of range: it must be from 1 to 100,000"),
    # one replicate gave a "95% CI" of 0.522-0.522 around an AUC of 0.581: each tail needs one
    ({"n_boot": 1}, r"n_boot=1 is too few for a 95% interval: .* at least 40 replicates"),
    ({"n_boot": 39}, r"n_boot=39 is too few for a 95% interval: .* at least 40 replicates"),
    ({"n_boot": 100, "level": 0.99}, r"n_boot=100 is too few for a 99% interval: .* at least 200"),
    ({"n_boot": 100_000, "level": 0.99999}, r"at least 200,000 replicates"),
    # every replicate's curves are kept: 10**10 values asked for 160 GB
    ({"n_boot": 100_000, "grid_points": 100_000}, "n_boot=100,000 x grid_points=100,000"),
    ({"n_boot": 40, "grid_points": -3}, "grid_points=-3 is out of range"),
    ({"n_boot": 40, "grid_points": 10.0}, "grid_points must be a whole number"),
    ({"n_boot": 40, "seed": -1}, "seed=-1 is out of range"),
    ({"n_boot": 40, "seed": 2**63}, "seed=.* is out of range"),
    ({"n_boot": 40, "seed": "1"}, "seed must be a whole number"),
    ({"n_boot": 40, "level": float("nan")}, "level=nan must be a finite number"),
    ({"n_boot": 40, "level": 1.5}, "level=1.5 must lie strictly between 0 and 1"),
])
def test_bootstrap_arguments_are_validated(kwargs, message):
    with pytest.raises(SrmsimError, match=message):
        risk.bootstrap_curves(SIX, "s", "y", **kwargs)


def test_the_fewest_replicates_for_the_level_are_accepted():
    """2 / (1 - 0.95) is 40.000000000000036 in floating point: 40 replicates are still enough."""
    assert risk.bootstrap_curves(SIX, "s", "y", n_boot=40).n_boot == 40
    assert risk.bootstrap_curves(SIX, "s", "y", n_boot=20, level=0.9).n_boot == 20
    assert risk.bootstrap_curves(SIX, "s", "y", n_boot=400, level=0.995).n_boot == 400


def test_bootstrap_accepts_a_generator_and_the_largest_seed():
    a = risk.bootstrap_curves(SIX, "s", "y", n_boot=40, seed=2**63 - 1)
    b = risk.bootstrap_curves(SIX, "s", "y", n_boot=40, seed=np.random.default_rng(2**63 - 1))
    assert a.auc_low == b.auc_low


def test_auc_arrays_checks_lengths_and_outcome_coding():
    with pytest.raises(DataError, match="y has 2 values but the scores have 3"):
        risk.auc_arrays([1, 2, 3], [0, 1])
    with pytest.raises(DataError, match="outcome must be boolean or 0/1, found 2.0"):
        risk.auc_arrays([.1, .2, .3, .4], [0, 2.0, 0, 2])
    with pytest.raises(DataError, match="missing"):
        risk.auc_arrays([.1, np.nan, .3], [0, 1, 1])
    assert risk.auc_arrays([.1, .2, .3, .4], [False, True, False, True]) == 0.75


def test_non_real_scores_are_refused():
    with pytest.raises(DataError, match="complex numbers"):
        risk.auc(SIX.assign(s=SIX["s"] * 1j), "s", "y")
    with pytest.raises(DataError, match="datetime64"):
        risk.roc_curve(SIX.assign(s=pd.date_range("2020", periods=6)), "s", "y")
    with pytest.raises(DataError, match="timedelta64"):
        risk.pr_curve(SIX.assign(s=pd.to_timedelta(range(6), unit="D")), "s", "y")
    with pytest.raises(DataError, match="outcome must be boolean or 0/1, found complex"):
        risk.auc(SIX.assign(y=SIX["y"] + 0j), "s", "y")


def test_cluster_bootstrap_of_one_school_is_refused():
    """Every replicate of a one-school cluster bootstrap is the same data: 'AUC 0.58 (95% CI
    0.581-0.581)' was printed, an interval of zero width."""
    df = _schools(1, 300, seed=5)
    with pytest.raises(DataError, match=r"column 'school'.* one \('S0'\).*zero width"):
        risk.bootstrap_curves(df, "s", "y", cluster="school", n_boot=50)
    rows = risk.bootstrap_curves(df, "s", "y", cluster=None, n_boot=50)
    assert rows.auc_low < rows.auc < rows.auc_high


def test_auc_and_average_precision_warn_of_the_rows_they_leave_out():
    # a bare number said nothing of the 400 of 1,000 rows without a score or an outcome
    import warnings

    from sklearn.metrics import average_precision_score, roc_auc_score

    from srmsim.stats import StatsWarning

    rng = np.random.default_rng(3)
    df = pd.DataFrame({"s": rng.normal(size=1000), "y": (rng.random(1000) < 0.3).astype(float)})
    df.loc[:299, "s"] = np.nan
    df.loc[250:349, "y"] = np.nan  # 50 rows lack both
    full = df.dropna()
    for fn, reference in ((risk.auc, roc_auc_score), (risk.average_precision,
                                                      average_precision_score)):
        with pytest.warns(StatsWarning, match=r"of the 650 rows with both a score and an "
                          r"outcome; 350 left out \(300 without a score, 100 without an "
                          r"outcome; a row may lack both\)"):
            value = fn(df, "s", "y", "above")
        assert value == pytest.approx(reference(full["y"], full["s"]))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # complete rows: nothing to say
            fn(full, "s", "y", "above")


def test_row_bootstrap_does_not_depend_on_the_tables_row_order():
    """A row bootstrap draws rows by their place in the score order: tied scores (attendance
    of exactly 100%, a count of absences) were left in the table's order, so the same rows
    re-sorted gave another interval from the same seed. Each replicate is the rows ordered by
    (score, outcome) drawn as numpy draws them: its AUC is the Mann-Whitney AUC of those
    rows weighted by their draws (scikit-learn's, independently)."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    df = pd.DataFrame({"s": rng.integers(0, 6, 300).astype(float),
                       "y": (rng.random(300) < 0.3).astype(int)})
    shuffled = df.sample(frac=1, random_state=4).reset_index(drop=True)
    a = risk.bootstrap_curves(df, "s", "y", cluster=None, n_boot=60, seed=5)
    b = risk.bootstrap_curves(shuffled, "s", "y", cluster=None, n_boot=60, seed=5)
    assert np.array_equal(a.auc_samples, b.auc_samples)
    assert (a.auc_low, a.auc_high) == (b.auc_low, b.auc_high)
    rows = df.sort_values(["s", "y"], kind="stable")
    draw = np.random.default_rng(5)
    expected = []
    for _ in range(60):
        weights = np.bincount(draw.integers(0, len(df), len(df)), minlength=len(df))
        expected.append(roc_auc_score(rows["y"], -rows["s"], sample_weight=weights))
    np.testing.assert_allclose(a.auc_samples, expected, rtol=0, atol=1e-12)
