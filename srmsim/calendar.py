"""The school year: 39 teaching weeks in 3 terms and 6 half-terms, 10 sessions a week.

Week numbers are 0-based within a year; ``step`` counts weeks since the start of the run.
Reading tests run at week 0 (a September baseline) and at the end of each term; assessments and the
satisfaction pulse at the end of each term.
"""

from __future__ import annotations

import numpy as np

WEEKS_PER_YEAR = 39
SESSIONS_PER_WEEK = 10
#: first week of each half-term (autumn 1, autumn 2, spring 1, spring 2, summer 1, summer 2)
HALF_TERM_STARTS = (0, 7, 14, 20, 26, 32)
TERM_STARTS = (0, 14, 26)
TERM_ENDS = (13, 25, 38)
READING_TEST_WEEKS = (0, *TERM_ENDS)
TERM_NAMES = ("autumn", "spring", "summer")

# Absence on the logit scale by week, relative to the year's average. Shape from DfE weekly
# absence (2022/23): lowest in early autumn (5.3%), highest in the last autumn weeks (14.1%),
# raised again in late spring and at the end of the summer term.
_SEASON_KNOTS_WEEK = np.array([0, 3, 8, 11, 13, 14, 18, 22, 25, 26, 31, 35, 38])
_SEASON_KNOTS_LOGIT = np.array(
    [-0.55, -0.35, 0.05, 0.45, 0.55, 0.15, 0.15, 0.05, 0.0, -0.2, -0.15, 0.05, 0.2]
)
SEASON = np.interp(np.arange(WEEKS_PER_YEAR), _SEASON_KNOTS_WEEK, _SEASON_KNOTS_LOGIT)
SEASON = SEASON - SEASON.mean()


def term_of(week: int) -> int:
    """0, 1 or 2 for autumn, spring, summer."""
    return int(np.searchsorted(TERM_STARTS, week, side="right") - 1)


def run_term(run_week: np.ndarray) -> np.ndarray:
    """Term of the run (0-based: 0-2 the first school year's terms, 3-5 the second ...) of each
    run week."""
    run_week = np.asarray(run_week, dtype=np.int64)
    return ((run_week // WEEKS_PER_YEAR) * 3
            + np.searchsorted(TERM_STARTS, run_week % WEEKS_PER_YEAR, side="right") - 1)


def half_term_of(week: int) -> int:
    return int(np.searchsorted(HALF_TERM_STARTS, week, side="right") - 1)


def is_term_end(week: int) -> bool:
    return week in TERM_ENDS


def is_half_term_end(week: int) -> bool:
    return week + 1 in HALF_TERM_STARTS or week == WEEKS_PER_YEAR - 1


def is_due(cadence: str, week: int) -> bool:
    """Whether something done at this cadence (``weekly``, ``half_termly``, ``termly``: at the
    end of each) happens in week ``week`` of the school year."""
    return (cadence == "weekly"
            or (cadence == "half_termly" and is_half_term_end(week))
            or (cadence == "termly" and is_term_end(week)))
