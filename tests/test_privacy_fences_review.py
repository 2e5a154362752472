"""Review 53: `srmsim thresholds` beside `data summary` of the same pupils, on scores the
fence plan of `srmsim.risk.protected` used to misread.

Each test publishes both through the CLI and plays the attacker: every published ``flagged``
(attendance below t, or absence above it) must be at least 10 from the summary's count of
pupils at or below 90% attendance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_privacy_cross51 import quiet, records
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


@pytest.mark.once
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
        assert len(table) >= 3  # a grid to attack (sparser near the fences)
        assert recovered(table["flagged"], 88) == []


def calendars(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pupils' sessions (150 to 190: some joined late) and sessions attended."""
    rng = np.random.default_rng(7)
    sessions = rng.integers(150, 191, n)
    share = np.clip(rng.normal(0.9, 0.08, n), 0.3, 1)
    return sessions, np.minimum(sessions, np.round(sessions * share)).astype(int)


@pytest.mark.parametrize(("scale", "direction"), [("share", "below"), ("absence", "above")])
@pytest.mark.once
def test_thresholds_keep_ten_pupils_from_the_quantiles_calibrate_prints(
        tmp_path: Path, scale: str, direction: str) -> None:
    """`calibrate` prints the pupils' attendance quantiles to full precision beside their
    number: numpy's linear 10th percentile of 213 distinct rates lies between the 22nd and
    23rd, so 22 pupils attend at most that. `thresholds` on the same rates published 0.79
    flagging 21, below the printed 0.7972: the 1 pupil between them."""
    sessions, attended = calendars(213)
    ds = records(tmp_path / "rec", attended.tolist(), sessions=sessions.tolist())
    status, _, err = quiet("calibrate", str(ds), "--out", str(tmp_path / "cal"), "--params",
                           "dynamics.absence_logit", "--max-evals", "2", "--replications",
                           "1", "--quiet")
    assert status == 0, err
    moments = pd.read_csv(tmp_path / "cal" / "fit_moments.csv").set_index("moment")
    rate = attended / sessions
    shown = {"share": rate, "absence": 1 - rate}[scale]
    path = write(tmp_path / "export.csv", shown, rate)
    table, _ = published(path, tmp_path / "out", direction, by=False)
    assert len(table) >= 4
    # attendance below t (absence above 1 - t), beside each printed quantile's pupils
    for name, p in (("attendance_p10", 0.1), ("attendance_p25", 0.25),
                    ("attendance_p50", 0.5)):
        n = int(moments.loc[name, "n"])
        q = float(moments.loc[name, "target"])
        at_most = int((rate <= q).sum())
        # floor(p (n - 1)) + 1 when the quantile lies strictly between two rates, as the 10th
        # here: the attacker needs only n
        assert at_most == int(np.floor(p * (n - 1))) + 1 or p == 0.25
        assert recovered(table["flagged"], at_most) == [], name


def test_no_threshold_flags_exactly_a_count_the_summary_hides(tmp_path: Path) -> None:
    """School A's 120 pupils (40 at most 90%, none at exactly 90%) and B's 80 (5): `data
    summary --by school` hides both schools' counts beside the Total's 45. `thresholds` on
    school A's export published 0.9 flagging exactly its 40 (a cut flagging the pupils a fence
    counts was let through), and 45 - 40 gave B's 5."""
    rng = np.random.default_rng(3)
    attended = np.r_[rng.integers(120, 171, 40), rng.integers(172, 191, 80),
                     rng.integers(120, 171, 5), rng.integers(172, 191, 75)]
    records(tmp_path / "rec", attended.tolist(), sessions=190)  # its CSVs, re-labelled
    students = pd.read_csv(tmp_path / "rec" / "in" / "students.csv")
    students["school"] = ["A"] * 120 + ["B"] * 80
    observations = pd.read_csv(tmp_path / "rec" / "in" / "observations.csv")
    observations["school"] = students["school"]
    students.to_csv(tmp_path / "students.csv", index=False)
    observations.to_csv(tmp_path / "observations.csv", index=False)
    ds = tmp_path / "ds"
    status, _, err = quiet("data", "import", str(tmp_path / "students.csv"),
                           str(tmp_path / "observations.csv"), "--out", str(ds))
    assert status == 0, err
    counts = summary_counts(ds, "school")
    assert counts == {"total": 45}  # A's and B's are hidden
    rate = attended[:120] / 190
    assert int((rate <= 0.9).sum()) == 40
    left = np.random.default_rng(1).uniform(size=120) < 0.5
    path = tmp_path / "school_a.csv"
    pd.DataFrame({"score": rate, "left": left}).to_csv(path, index=False)
    table, _ = published(path, tmp_path / "out", "below", by=False)
    assert len(table) >= 2
    assert all(abs(int(f) - 40) >= 10 for f in table["flagged"]), table["flagged"].tolist()


@pytest.mark.parametrize("n", [1, 2, 11, 191, 213, 1001])
def test_quantile_counts_hold_the_pupils_at_or_below_numpys_quantile(n: int) -> None:
    """The pupils at or below numpy's quantile are at least the range's low end whatever the
    rates (tied, rounded to hundredths), and within the range when the rates are distinct
    (p (n - 1) whole, as 0.1 x 190, gives two ends); for an absence share (1 - rate) they
    are the highest, so the range of those below them is its mirror."""
    rng = np.random.default_rng(n)
    for rate, distinct in ((rng.uniform(0.5, 1, n), True),
                           (np.round(rng.uniform(0.5, 1, n), 2), False)):
        for p in protected.QUANTILE_FENCES:
            at_most = int((rate <= np.quantile(rate, p)).sum())
            rising, falling = protected.quantile_counts(np.sort(rate), p)
            assert rising[0] <= at_most and (at_most <= rising[1] or not distinct)
            assert rising[1] - rising[0] <= 1
            assert falling == (n - rising[1], n - rising[0])
