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
