"""What a run's outputs mean: every figure recomputable from the tables, by the documented
definition (docs/outputs.md), on the edge cases of the calendar and the cohort."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from conftest import small_scenario

import srmsim
from srmsim import calendar
from srmsim.model import TrustModel

TERMS = dict(zip(calendar.TERM_NAMES, zip(calendar.TERM_STARTS, calendar.TERM_ENDS,
                                          strict=True), strict=True))


def test_term_attendance_is_of_the_students_latest_year_only() -> None:
    """A sixth-former who withdraws in the second year's autumn has no spring or summer in
    that year: ``attendance_spring``/``_summer`` are empty, not the first year's rates."""
    result = srmsim.run(small_scenario({"trust.year_groups": [12, 13], "years": 2,
                                        "dynamics.withdrawal_annual": 0.6}), seed=3)
    s, h = result.students.set_index("uid"), result.history
    late = s[(s["status"] == "withdrawn") & (s["exit_week"] >= calendar.WEEKS_PER_YEAR)
             & (s["exit_week"] % calendar.WEEKS_PER_YEAR < calendar.TERM_STARTS[1])
             & (s["entry_week"] == 0)]
    assert len(late)  # the case this test is about happens
    assert late["attendance_spring"].isna().all() and late["attendance_summer"].isna().all()
    # every student's term rates are the history's, over the student's latest year
    latest = h.groupby("uid")["year"].transform("max")
    h = h[h["year"] == latest]
    for term, (first, last) in TERMS.items():
        weeks = h[h["week"].between(first, last)].groupby("uid")[["attended", "possible"]].sum()
        want = (weeks["attended"] / weeks["possible"].where(weeks["possible"] > 0))
        want = want.reindex(s.index)
        np.testing.assert_allclose(s[f"attendance_{term}"].astype(float), want, rtol=1e-6,
                                   err_msg=term)


def test_attendance_of_a_trust_with_no_session_yet_is_nan_not_zero() -> None:
    """Before its first week no session was possible: the headline attendance has no
    denominator, so it is NaN (printed n/a), as persistent absence already was."""
    result = TrustModel(small_scenario(), seed=1).results()
    assert result.summary["students"] > 0
    assert math.isnan(result.summary["attendance"])
    assert math.isnan(result.summary["reading_gap_start"])
    assert "0.0%" not in result.summary()
    assert pd.isna(result.students["attendance_rate"]).all()


def test_students_order_and_leavers_age_are_as_documented(repo_root) -> None:
    """docs/outputs.md said the table was in school order and ages were at the end of the run:
    a two-year run's table is in uid order (the second year's intake after everyone else),
    and a Year 11 who left after the first year is aged at the end of that year."""
    result = srmsim.run(small_scenario({"years": 2}), seed=4)
    s, h = result.students, result.history
    assert s["uid"].is_monotonic_increasing and not s["school"].is_monotonic_increasing
    last = h.sort_values("run_week").groupby("uid").last()
    left = s[(s["status"] == "left") & (s["exit_week"] == calendar.WEEKS_PER_YEAR - 1)]
    assert len(left)
    np.testing.assert_allclose(left["age_months"], last.loc[left["uid"], "age_months"],
                               atol=0.05)
    doc = (repo_root / "docs" / "outputs.md").read_text()
    assert "in school order" not in doc and "the school year they left in" in doc


def test_weekly_enrolled_and_sessions_add_up_as_documented(repo_root) -> None:
    """A student who withdraws in a week has that week's sessions but is not on roll at its
    end: ``sessions_possible`` is 10 x (``enrolled`` + ``withdrawals``), as the docs now say."""
    result = srmsim.run(small_scenario({"trust.year_groups": [12, 13],
                                        "dynamics.withdrawal_annual": 0.6}), seed=2)
    w = result.weekly
    assert w["withdrawals"].sum() > 0
    assert (w["sessions_possible"]
            == calendar.SESSIONS_PER_WEEK * (w["enrolled"] + w["withdrawals"])).all()
    doc = (repo_root / "docs" / "outputs.md").read_text()
    assert "10 times\n`enrolled + withdrawals`" in doc
