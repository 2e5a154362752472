"""Review 53: `srmsim thresholds` beside `data summary` of the same pupils, on scores the
fence plan of `srmsim.risk.protected` used to misread.

Each test publishes both through the CLI and plays the attacker: every published ``flagged``
(attendance below t, or absence above it) must equal the summary's count of pupils at
or below 90% attendance or be at least 10 from it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_privacy_cross51 import records
from test_privacy_fences import attended_of, published, recovered, summary_counts

from srmsim.risk import protected


@pytest.fixture(scope="module")
def hundred(tmp_path_factory) -> Path:
    """200 pupils on 100 sessions, 85 below 90%, 3 at exactly 90%, 12 at 100%."""
    ds = records(tmp_path_factory.mktemp("s100"), attended_of(100), sessions=100,
                 fsm=[bool(i % 2) for i in range(200)])
    assert summary_counts(ds)["total"] == 88
    return ds


def write(path: Path, score: np.ndarray, rate: np.ndarray) -> Path:
    """The score and an outcome held by every other pupil in order of attendance (so the
    outcome's grid can take any cut of the score's family)."""
    left = np.argsort(np.argsort(rate, kind="stable"), kind="stable") % 2 == 0
    pd.DataFrame({"score": score, "left": left}).to_csv(path, index=False, float_format="%.17g")
    return path


@pytest.mark.parametrize(("scale", "direction"), [("share", "below"), ("absence", "above"),
                                                  ("percent", "below")])
def test_a_share_a_float_step_outside_its_range_is_still_fenced(
        hundred: Path, tmp_path: Path, scale: str, direction: str) -> None:
    """A full attendance worked out by summing a pupil's terms is 1.0000000000000002 (its
    absence -2.2e-16, its percentage 100.00000000000001). One such pupil made the score
    look like neither a share nor a percentage, so no fence was kept: 0.895 (flagging 85)
    was published beside the summary's 88, and 88 - 85 = 3 pupils at exactly 90%."""
    rate = np.array(attended_of(100), dtype=float) / 100
    score = {"share": rate, "absence": 1 - rate, "percent": 100 * rate}[scale].copy()
    full = int(np.flatnonzero(rate == 1)[0])
    score[full] = {"share": 1.0000000000000002, "absence": -2.220446049250313e-16,
                   "percent": 100.00000000000001}[scale]
    path = write(tmp_path / "export.csv", score, rate)
    assert pd.read_csv(path)["score"].iloc[full] == score[full]  # the CSV keeps the step
    table, _ = published(path, tmp_path / "out", direction, by=False)
    assert len(table) >= 4
    assert recovered(table["flagged"], 88) == []  # absence > t flags those at or below 90%
    assert protected.fence_plan(score).fences == (protected.SHARE_FENCES if scale != "percent"
                                                  else protected.PERCENT_FENCES)


def test_a_few_rates_rounded_among_exact_ones_leave_the_fence_count_unknown(
        tmp_path: Path) -> None:
    """Most pupils' rates exact (k of 190 sessions), 5 pupils of another calendar (280 of 310,
    90.3%) exported rounded to 0.9: the scores are not all in hundredths, so they were read as
    exact and the 5 as at 90%. The family of cuts then held one flagging 93 (88 + the 5) and
    one flagging 81, beside the summary's 88. A score exactly at a fence may be a rounded
    rate, so the count there is known only to lie between the pupils below and those at it."""
    attended = np.array(attended_of(190))
    sessions = np.full(200, 190)
    moved = np.flatnonzero(attended > 171)[:5]
    sessions[moved], attended[moved] = 310, 280
    ds = records(tmp_path / "rec", attended.tolist(), sessions=sessions.tolist())
    assert summary_counts(ds)["total"] == 88
    rate = attended / sessions
    score = rate.copy()
    score[moved] = np.round(rate[moved], 2)
    flags = np.searchsorted(np.sort(score), protected.base_cuts(score))
    assert recovered(pd.Series(flags), 88) == []
    for direction, shown in (("below", score), ("above", 1 - score)):
        path = write(tmp_path / f"export_{direction}.csv", shown, rate)
        table, _ = published(path, tmp_path / f"out_{direction}", direction, by=False)
        assert len(table) >= 4
        assert recovered(table["flagged"], 88) == []
