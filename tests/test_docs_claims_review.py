"""Prose claims of the docs (docs/*.md, README.md) checked against the code they describe.

tests/test_docs_examples.py runs the docs' code examples; these pin what the text says.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from srmsim.policy.profile import vocabulary
from srmsim.policy.rules import ArrayContext, parse_rule

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _text(name: str) -> str:
    return " ".join((DOCS / name).read_text(encoding="utf-8").split())


def test_missing_values_in_rules_as_the_policies_page_says() -> None:
    """docs/policies.md said every comparison with a missing value is false; ``!=`` is true
    (IEEE, as the module and ``srmsim rules`` say), so ``reading_gap != 0`` flags a student
    with no reading test. The page now says so; this pins both."""
    ctx = ArrayContext(
        {"reading_gap": np.array([np.nan, -30.0, -10.0])}, parameters={"goal": -30.0}
    )
    vocab = vocabulary({"goal": -30.0})
    for text, expected in [
        ("reading_gap < -24", [False, True, False]),
        ("reading_gap == -30", [False, True, False]),
        ("reading_gap != goal", [True, False, True]),
        ("reading_gap != 0", [True, True, True]),
        ("not (reading_gap >= -24)", [True, True, False]),
    ]:
        got = parse_rule("r", text, vocab).evaluate(ctx)
        assert got.tolist() == expected, text
    page = _text("policies.md")
    assert "are false, except `!=`, which is true" in page
    assert "Comparisons with a missing value (no reading test yet) are false." not in page


def test_cluster_trial_default_se_as_the_researcher_guide_says() -> None:
    """docs/guides/researcher.md said a school-randomised trial is analysed with CR1 and t(J-1);
    its default (``se: auto``) is CR2 with Bell-McCaffrey df below 30 schools."""
    from srmsim.stats._inference import CR2_BELOW, cluster_se_for
    from srmsim.trial import load_trial

    root = DOCS.parent
    trial = load_trial(root / "experiments" / "trial_attendance_cluster.yaml", replications=2)
    assert trial.config.analysis.se == "auto"
    assert "auto: CR2 with Bell-McCaffrey df (20 schools" in trial.describe()
    assert CR2_BELOW == 30
    assert cluster_se_for(29) == "cr2" and cluster_se_for(30) == "cluster"
    page = " ".join((DOCS / "guides" / "researcher.md").read_text(encoding="utf-8").split())
    assert "Schools: cluster-robust OLS with t(J-1) intervals." not in page
    assert "below 30 schools analysed, CR2 with each effect's Bell-McCaffrey df" in page


def test_cost_per_unit_counts_the_whole_run_not_a_year() -> None:
    """The report's cost table said "units gained per year" and docs/reports.md "in a year", but
    cost, staff hours and every outcome are the whole run's: the 2- and 3-year pooling and
    learning studies showed 2-3 years' gains as one year's. The label now says the run."""
    import pandas as pd

    from srmsim.experiment.outcomes import OUTCOMES
    from srmsim.report.experiment import cost_per_unit

    effects = pd.DataFrame([
        {"variant": "v", "outcome": "persistent_absence", "difference": -0.01,
         "verdict": "better"},
        {"variant": "v", "outcome": "cost", "difference": 5000.0, "verdict": "higher"}])
    table = cost_per_unit(effects, [OUTCOMES[o] for o in effects["outcome"]], {"v": 2000.0})
    (row,) = table.to_dict("records")
    assert "units gained per year" not in row
    assert row["units gained over the run"] == "20"  # 1 pp of 2,000 students seen in the run
    assert row["cost per unit"] == "£250"
    page = _text("reports.md")
    assert "across the trust's students in a year" not in page
    assert "across the trust's students over the run" in page


def test_refusals_of_the_effect_size_functions_as_statistics_md_says() -> None:
    """docs/statistics.md: a continuity correction outside 0-1 is refused, and so is Hedges' g
    where its small-sample correction is zero or negative (N <= 3). The page's sentence read
    "the continuity correction lies from 0 to 1; so is Hedges' correction where it is zero or
    negative", which said neither."""
    import pytest

    from srmsim import stats
    from srmsim.errors import SrmsimError

    for bad in (-0.1, 1.5):
        with pytest.raises(SrmsimError, match="continuity must be from 0 to 1"):
            stats.risk_ratio(3, 10, 5, 10, continuity=bad)
    assert stats.risk_ratio(0, 10, 5, 10, continuity=1.0).estimate > 0
    with pytest.raises(SrmsimError, match="at least 4 students"):
        stats.hedges_g(1.0, 0.0, 1.0, 1.0, 2, 1)
    page = _text("statistics.md")
    assert "continuity correction of `risk_ratio` outside 0 to 1 is refused" in page


def test_user_defined_share_counts_a_missing_value_as_false() -> None:
    """docs/reports.md said missing values are left out of means, percentiles and sums and was
    silent on shares: a share of ``reading_gap_end < -24`` counts a student never tested as not
    behind (0.25 below), where the built-in ``reading_behind_2y`` leaves them out (0.5). The page
    now says so and gives the ``where:`` that matches the built-in."""
    import pandas as pd

    from srmsim.experiment.custom import build_outcomes
    from srmsim.experiment.outcomes import OUTCOMES, Cohort

    students = pd.DataFrame({"reading_gap_end": [np.nan, np.nan, -30.0, -10.0],
                             "sessions_possible": [10] * 4})
    outs = build_outcomes([
        {"name": "behind", "statistic": "share", "of": "reading_gap_end < -24"},
        {"name": "behind_tested", "statistic": "share", "of": "reading_gap_end < -24",
         "where": "reading_gap_end > -1000"},
        {"name": "gap", "statistic": "mean", "of": "reading_gap_end"}])
    cohort = Cohort(students)
    assert outs["behind"].measure(cohort) == 0.25
    assert outs["behind_tested"].measure(cohort) == 0.5
    assert OUTCOMES["reading_behind_2y"].measure(cohort) == 0.5
    assert outs["gap"].measure(cohort) == -20.0
    page = _text("reports.md")
    assert "but not of shares and counts" in page
    assert "`where: reading_gap_end > -1000`" in page


def _panel():
    import pandas as pd

    rng = np.random.default_rng(5)
    units, periods = 40, 6
    u = np.repeat(np.arange(units), periods)
    t = np.tile(np.arange(2001, 2001 + periods), units)
    first = np.where(np.arange(units) < 10, 2003.0, np.where(np.arange(units) < 20, 2004.0,
                                                                np.inf))
    df = pd.DataFrame({"u": u, "t": t, "g": first[u], "y": rng.normal(size=u.size),
                       "x": rng.uniform(-1, 1, u.size)})
    df["arm"] = np.where(df["u"] < 20, "a", "b")
    # every third row's value read as true: a broken export (True would count as 1)
    df["mixed"] = pd.Series([True if i % 3 == 0 else float(v) for i, v in enumerate(df["y"])],
                            dtype=object)
    return df


def test_a_column_mixing_true_false_with_numbers_is_refused_in_every_role() -> None:
    """docs/statistics.md: "a column mixing true/false with numbers (True equals 1) or holding
    complex numbers is refused". It was for arms, groups and covariates, but an outcome (or a
    formula's column, or a running variable) mixing them was read with True as 1, and a complex
    formula column failed with numpy's cast message instead of naming the column."""
    import warnings

    import pandas as pd
    import pytest

    from srmsim import stats
    from srmsim.errors import DataError

    df = _panel()
    mixed = df.assign(y=df["mixed"])
    calls = {
        "regress outcome": lambda: stats.regress(mixed, "y ~ x"),
        "regress term": lambda: stats.regress(df.assign(b=df["mixed"]), "y ~ b"),
        "estimate_effect": lambda: stats.estimate_effect(mixed, "y", "arm", "a"),
        "random_intercept": lambda: stats.random_intercept(mixed, "y", "u"),
        "hedges_g_data": lambda: stats.hedges_g_data(mixed, "y", "arm", "a"),
        "did_group_time": lambda: stats.did_group_time(mixed, "y", "u", "t", "g"),
        "rdd running": lambda: stats.rdd(df.assign(x=df["mixed"]), "y", "x", 0.0),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for what, call in calls.items():
            with pytest.raises(DataError, match="mixes true/false with numbers"):
                call()
                pytest.fail(what)
        with pytest.raises(DataError, match="column 'b' holds complex numbers"):
            stats.regress(df.assign(b=pd.Series(df["x"] + 1j)), "y ~ b")
        # all true/false (with a blank) or all numbers stored as objects are still read
        ok = df.assign(b=pd.Series([True, False, None] * (len(df) // 3), dtype=object))
        assert np.isfinite(stats.regress(ok, "y ~ x + b").coef("x").estimate)
        numbers = df.assign(y=pd.Series(list(df["y"]), dtype=object))
        assert np.isfinite(stats.regress(numbers, "y ~ x").coef("x").estimate)
        # true/false beside 0 and 1 is a 0/1 outcome (binary_effects' test relies on it)
        zero_one = pd.Series([True, 0, 1, False] * (len(df) // 4), dtype=object)
        fit = stats.regress(df.assign(y=zero_one), "y ~ x")
        assert np.isfinite(fit.coef("x").estimate)
    assert "may mix them with 0 and 1 only" in _text("statistics.md")


def test_real_data_outcome_error_names_the_row_that_is_wrong(tmp_path, capsys) -> None:
    """docs/privacy.md: errors about real data name the file, the column and the row. One text
    cell in a 0/1 outcome makes the reader keep the column as text, and the error named row 2
    (holding "1") instead of the row holding the text; the value stays withheld."""
    import pandas as pd

    from srmsim.cli import main

    rng = np.random.default_rng(2)
    n = 200
    df = pd.DataFrame({"school": rng.choice(list("ABCDEF"), n),
                       "score": np.round(rng.random(n), 3),
                       "withdrawn": rng.integers(0, 2, n).astype(object)})
    df.loc[3, "withdrawn"] = "Bob Smith"  # file row 5 (the header is row 1)
    path = tmp_path / "export.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "report"
    assert main(["thresholds", str(path), "--score", "score", "--outcome", "withdrawn",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "column 'withdrawn': outcome must be boolean or 0/1 (true/false, yes/no, y/n or " \
        "1/0); row 5 holds another value" in " ".join(err.split())
    assert "Bob" not in err and "Traceback" not in err
    assert not out.exists()


def test_a_row_or_student_alone_fixing_a_coefficient_is_refused_with_cluster_ses() -> None:
    """docs/statistics.md: regress refuses HC SEs when a row alone fixes a coefficient and
    estimate_effect refuses an arm of one student with HC1, as a robust variance cannot see that
    row's error; and CR2 with one row per cluster "equals HC2". CR1 and CR2 answered anyway,
    with the coefficient's SE several times too small: a pure-noise dummy on one row got
    p = 0.002, a one-student arm p = 0.0003."""
    import warnings

    import pandas as pd
    import pytest

    from srmsim import stats
    from srmsim.errors import EstimationError

    rng = np.random.default_rng(1)
    n = 50
    df = pd.DataFrame({"x": rng.normal(size=n), "y": rng.normal(size=n),
                       "d": [1] + [0] * (n - 1), "g": rng.integers(0, 12, n),
                       "own": np.arange(n)})
    df["arm"] = np.where(df["d"] == 1, "t", "c")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for se, cluster in [("hc2", None), ("cr2", "own"), ("cr2", "g"), ("cluster", "g"),
                            ("cluster", ["g", "own"])]:
            with pytest.raises(EstimationError, match=f"leverage 1.*se='{se}' is not defined"):
                stats.regress(df, "y ~ x + d", se=se, cluster=cluster)
        for se in ("hc1", "cluster", "cr2"):
            with pytest.raises(EstimationError, match="arm 't' has a single student"):
                stats.estimate_effect(df, "y", "arm", "c", cluster=None if se == "hc1" else "g",
                                      se=se)
        # classical SEs pool the variance: still answered, with an honest SE near 1
        fit = stats.regress(df, "y ~ x + d", se="classical")
        assert fit.coef("d").se > 0.8
        assert stats.estimate_effect(df, "y", "arm", "c", se="classical").table["se"].iloc[0] > 0.8
        # without such a row, CR2 with one row per cluster is HC2, as documented
        ok = df.assign(d=rng.normal(size=n))
        cr2 = stats.regress(ok, "y ~ x + d", se="cr2", cluster="own").coef("d").se
        assert cr2 == pytest.approx(stats.regress(ok, "y ~ x + d", se="hc2").coef("d").se)
    page = _text("statistics.md")
    assert "HC or cluster-robust SEs with a row that alone fixes a coefficient" in page
    assert "With HC1 or OLS cluster-robust (CR1, CR2) standard errors an **arm of one student**" in page
