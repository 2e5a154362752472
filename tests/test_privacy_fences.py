"""`srmsim thresholds` on the attendance rate beside `srmsim data summary` of the same pupils.

The summary prints the pupils at or below 90% attendance (persistently absent). A threshold
table prints how many pupils score below each of its thresholds. Before the fences of
`srmsim.risk.protected.fence_plan`, 200 pupils with 3 at exactly 90% got a published threshold
of 0.895 (85 flagged) beside the summary's 88: 88 - 85 = 3 pupils at exactly 90%. Each test
publishes both through the CLI and plays the attacker: every published ``flagged`` (overall,
and within each FSM group beside `data summary --by fsm`) must equal the summary's count or be
at least 10 from it, whatever the score's units or direction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_privacy_cross51 import quiet, records

from srmsim.risk import protected

MIN = 10


def attended_of(sessions: int) -> list[int]:
    """200 pupils' sessions attended: 85 below 90%, 3 at exactly 90%, 112 above."""
    rng = np.random.default_rng(15)
    percent = np.r_[rng.integers(60, 90, 85), [90] * 3, rng.integers(91, 101, 112)]
    return [int(round(p * sessions / 100)) for p in percent]


def summary_counts(ds: Path, by: str | None = None) -> dict[str, int]:
    """``persistently_absent`` of `data summary` (its Total, or each row of ``--by``)."""
    status, out, err = quiet("data", "summary", str(ds), *(["--by", by] if by else []))
    assert status == 0, err
    lines = out.splitlines()
    head = lines[0].split()
    col = head.index("persistently_absent")
    rows = {}
    for line in lines[1:]:
        cells = line.split()
        if len(cells) == len(head) and cells[col].isdigit():
            rows[cells[0].lower()] = int(cells[col])
    return rows


def export(ds_dir: Path, attended: list[int], sessions: int, scale: str,
           alternate: bool = False) -> Path:
    """The pupils' attendance (as a share, a percentage or an absence share), their FSM
    flag and an outcome (random, or ``alternate``: by attendance, 6 of the lowest 22 pupils,
    the next 14 and then every other pupil), as a CSV a user would give `srmsim thresholds`."""
    rate = np.array(attended, dtype=float) / sessions
    score = {"share": rate, "percent": rate * 100, "absence": 1 - rate}[scale]
    left = np.random.default_rng(4).uniform(size=len(rate)) < 0.45
    if alternate:
        rank = np.argsort(np.argsort(rate, kind="stable"), kind="stable")
        left = np.where(rank < 22, rank % 4 == 0, (rank < 36) | (rank % 2 == 0))
    path = ds_dir / f"export_{scale}.csv"
    pd.DataFrame({"score": score, "left": left,
                  "fsm": ["true" if i % 2 else "false" for i in range(len(rate))]}
                 ).to_csv(path, index=False)
    return path


def published(path: Path, out: Path, direction: str, by: bool) -> tuple[pd.DataFrame,
                                                                         pd.DataFrame | None]:
    status, _, err = quiet("thresholds", str(path), "--score", "score", "--outcome", "left",
                           "--direction", direction, "--n-boot", "40", "--out", str(out),
                           *(["--by", "fsm"] if by else []))
    assert status == 0, err
    groups = out / "thresholds_by_group.csv"
    return (pd.read_csv(out / "thresholds.csv"),
            pd.read_csv(groups) if groups.exists() else None)


def recovered(flagged: pd.Series, count: int) -> list[int]:
    """Pupils between a published threshold and the summary's cut-off, where under 10."""
    gaps = (flagged.astype(int) - count).abs()
    return sorted(int(g) for g in gaps if 0 < g < MIN)


CASES = [(100, "share", "below"), (100, "percent", "below"), (100, "absence", "above"),
         (190, "share", "below"), (190, "percent", "below"), (190, "absence", "above")]


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict[int, Path]:
    """The same 200 pupils imported as real records on a calendar of 100 sessions (rates in
    hundredths: a score of 0.9 only bounds a rate) and of 190 (171 of 190 is exactly 90%)."""
    out = {}
    for sessions in (100, 190):
        work = tmp_path_factory.mktemp(f"s{sessions}")
        out[sessions] = records(work, attended_of(sessions), sessions=sessions,
                                fsm=[bool(i % 2) for i in range(200)])
        # the widest breakdown first: the summary's ledger then allows the Total and --by fsm
        assert quiet("data", "summary", str(out[sessions]), "--by", "school,fsm")[0] == 0
    return out


@pytest.mark.parametrize(("sessions", "scale", "direction"), CASES)
@pytest.mark.once
def test_published_thresholds_keep_ten_pupils_from_the_summary_count(
        datasets, tmp_path: Path, sessions: int, scale: str, direction: str) -> None:
    ds = datasets[sessions]
    total = summary_counts(ds)["total"]
    assert total == 88  # the 85 below 90% and the 3 at exactly 90%
    path = export(tmp_path, attended_of(sessions), sessions, scale)
    table, _ = published(path, tmp_path / "out", direction, by=False)
    assert len(table) >= 4
    assert recovered(table["flagged"], total) == []
    # the family every grid is drawn from: no cut within 10 pupils of the count at 90%, nor
    # at it: a score of 0.9 may be a rate rounded to it (in hundredths anything from 0.895 to
    # 0.905; among exact rates k/190, the same number as 171/190), so the 3 at it may or may
    # not be counted there
    score = pd.read_csv(path)["score"].to_numpy()
    base = protected.base_cuts(score)
    flags = np.searchsorted(np.sort(score), base) if direction == "below" else \
        len(score) - np.searchsorted(np.sort(score), base)
    assert total not in set(flags)
    assert recovered(pd.Series(flags), total) == []


@pytest.mark.parametrize("sessions", [100, 190])
@pytest.mark.once
def test_each_fsm_group_keeps_ten_pupils_from_its_summary_count(
        datasets, tmp_path: Path, sessions: int) -> None:
    counts = summary_counts(datasets[sessions], "fsm")
    path = export(tmp_path, attended_of(sessions), sessions, "share")
    _, groups = published(path, tmp_path / "out", "below", by=True)
    assert groups is not None and set(groups["group"].astype(str).str.lower()) == {"true",
                                                                                "false"}
    for label, rows in groups.groupby(groups["group"].astype(str).str.lower()):
        count = counts[label]
        assert recovered(rows["flagged"], count) == [], (label, count, rows["flagged"])


@pytest.mark.once
def test_without_the_fences_the_attack_recovers_the_pupils_at_ninety(
        datasets, tmp_path: Path, monkeypatch) -> None:
    """Negative control: with no fences the family every grid is drawn from has a cut 7
    pupils from the summary's count (81 pupils below it against 88), and an outcome whose grid
    takes it (its bands of 36, 23 and 22 pupils from the lowest) publishes it."""
    monkeypatch.setattr(protected, "fence_plan", lambda score: protected.FencePlan((), 0))
    total = summary_counts(datasets[100])["total"]
    path = export(tmp_path, attended_of(100), 100, "share", alternate=True)
    score = np.sort(pd.read_csv(path)["score"].to_numpy())
    assert recovered(pd.Series(np.searchsorted(score, protected.base_cuts(score))), total) \
        == [7]
    table, _ = published(path, tmp_path / "out", "below", by=False)
    assert recovered(table["flagged"], total) == [7]
    monkeypatch.undo()  # and with them, the same outcome's grid keeps clear
    table, _ = published(path, tmp_path / "out2", "below", by=False)
    assert len(table) >= 4 and recovered(table["flagged"], total) == []


@pytest.mark.parametrize(("score", "expected"), [
    ([0.87, 0.9, 0.93], (protected.SHARE_FENCES, 0.005)),
    ([87.0, 90.0, 93.0], (protected.PERCENT_FENCES, 0.5)),
    ([171 / 190, 172 / 190, 0.5], (protected.SHARE_FENCES, 1e-9)),
    ([0.0, 1.0, 1.0], (protected.SHARE_FENCES, 1e-9)),  # a flag, not a rounded rate
    ([-1.0, 0.5], ((), 0.0)),
    ([50.0, 100.5], ((), 0.0)),
])
def test_fence_plan_reads_the_units_and_rounding_off_the_scores(score, expected) -> None:
    plan = protected.fence_plan(np.array(score + [np.nan]))
    assert plan.fences == expected[0]
    assert plan.tol == pytest.approx(expected[1])


def test_clear_of_fences_keeps_ten_from_the_count_at_a_fence_known_or_not(
        ) -> None:
    # 20 pupils below 0.9, 3 at it, 20 above; cuts flag 13, 20, 23 and 33 of them
    s = np.r_[np.linspace(0.6, 0.85, 20), [0.9] * 3, np.linspace(0.92, 0.99, 20)]
    cuts = np.array([s[12] + 1e-6, 0.88, 0.91, s[32] + 1e-6])
    exact = protected.FencePlan((protected.Fence(0.9, True),), 1e-9)
    rounded = protected.FencePlan((protected.Fence(0.9, True),), 0.005)
    below = protected.FencePlan((protected.Fence(0.9, False),), 1e-9)
    # the 3 at 0.9 may be rates rounded to it, exact or not: the count at or below it is
    # anywhere from 20 to 23 (its complement too), so only 33 is 10 clear
    for plan in (exact, rounded, below):
        assert protected.clear_of_fences(s, cuts, plan, MIN).tolist() == [False, False, False,
                                                                          True]
    # with none at it, the count is known (20): a cut flagging 10 or 30 may be published, not
    # 11 or 29, nor 20 (a count another command may hide: a school's, beside the Total)
    s = np.r_[s[:20], s[23:]]
    cuts = np.array([s[9] + 1e-6, s[10] + 1e-6, 0.9, s[28] + 1e-6, s[29] + 1e-6])
    for plan in (exact, below):
        assert protected.clear_of_fences(s, cuts, plan, MIN).tolist() == [True, False, False,
                                                                          False, True]


def test_a_grid_emptied_by_the_fences_says_so(tmp_path: Path, monkeypatch) -> None:
    """55 pupils scoring 0.85 to 0.95 in hundredths: the one cut their bands allow lies by
    0.9 (0.895), so nothing is published, and the error names the fences as well as the
    bands."""
    rng = np.random.default_rng(0)
    path = tmp_path / "few.csv"
    pd.DataFrame({"att": np.round(rng.uniform(0.85, 0.95, 55), 2),
                  "left": rng.uniform(size=55) < .5}).to_csv(path, index=False)
    argv = ("thresholds", str(path), "--score", "att", "--outcome", "left", "--n-boot", "40",
            "--out", str(tmp_path / "out"))
    status, _, err = quiet(*argv)
    assert status == 2 and not (tmp_path / "out").exists()
    assert "each band of scores needs at least 10 of each (see docs/privacy.md)\nand every " \
           "threshold keeps 10 students from 0.1, 0.5, 0.9 and from the ranks of the 10th, " \
           "25th, 50th percentiles `calibrate` prints" in err
    monkeypatch.setattr(protected, "fence_plan", lambda score: protected.FencePlan((), 0))
    assert quiet(*argv)[0] == 0  # the bands alone allow one


def straddling(score: np.ndarray, grid: np.ndarray, fence: float) -> tuple[int, int]:
    """The ``flagged`` of the published cuts either side of ``fence`` (what an attacker reads)."""
    flagged = np.searchsorted(np.sort(score), grid)
    count = int((score <= fence).sum())
    return int(flagged[flagged < count].max()), int(flagged[flagged > count].min())


@pytest.mark.parametrize("fenced", [True, False])
def test_the_cuts_around_a_fence_do_not_give_its_count_away(monkeypatch, fenced) -> None:
    """300 pupils of distinct rates, 100 to 139 of them below 90% (a count `data summary`
    may hide, as school A's beside a Total): the published cuts either side of 0.9 are the
    same for blocks of at least 10 consecutive counts, so reading them (and the rule that
    keeps them 10 from the count) leaves at least 10 candidates. Placed at the first place 10
    clear of the count, the cut above was the count + 10 for every count (control)."""
    if not fenced:  # the rule as it was: the base cuts moved to the first place clear
        def anchored(score, least=10):
            s = np.sort(score)
            plan = protected.fence_plan(s)
            mids = (s[:-1] + s[1:]) / 2
            ok = np.flatnonzero(protected.clear_of_fences(s, mids, plan, least))
            cuts, last = [], 0
            for i in ok:
                if i + 1 - last >= least and s.size - (i + 1) >= least:
                    cuts.append(mids[i])
                    last = i + 1
            return np.array(cuts)
        monkeypatch.setattr(protected, "base_cuts", anchored)
        monkeypatch.setattr(protected, "around_fences", lambda s, cuts, plan, m: np.sort(cuts))
    seen: dict[tuple[int, int], list[int]] = {}
    for below in range(100, 140):
        score = np.r_[np.linspace(0.6, 0.89, below), np.linspace(0.91, 0.999, 300 - below)]
        df = pd.DataFrame({"att": score, "left": np.arange(300) % 2 == 0})
        grid = protected.choose_grid(df, "att", "left").grid
        lower, upper = straddling(score, grid, 0.9)
        assert below - lower >= MIN and upper - below >= MIN
        seen.setdefault((lower, upper), []).append(below)
    blocks = [len(counts) for counts in seen.values()]
    if fenced:  # the first and last blocks run past the counts tried
        assert min(blocks[1:-1]) >= MIN, seen
    else:  # most counts were pinned exactly
        assert sum(n == 1 for n in blocks) >= 30, seen


def test_around_fences_drops_the_cuts_above_a_fence_until_those_either_side_are_30_apart():
    # 300 distinct scores, 110 of them below 0.9; cuts flagging 80, 100, 120, 125, 135, 150
    s = np.r_[np.linspace(0.6, 0.89, 110), np.linspace(0.91, 0.999, 190)]
    flags = [80, 100, 120, 125, 135, 150]
    cuts = np.array([(s[k - 1] + s[k]) / 2 for k in flags])
    plan = protected.FencePlan((protected.Fence(0.9, True),), 1e-9)
    kept = np.searchsorted(s, protected.around_fences(s, cuts, plan, MIN)).tolist()
    assert kept == [80, 100, 135, 150]  # 100 to 135: the count read as 110 to 125
    # at 20 a side they must be 60 apart: 150 is 50 above 100, so nothing above the fence is left
    assert np.searchsorted(s, protected.around_fences(s, cuts, plan, 20)).tolist() == [80, 100]
    # no fence in the way, or a single cut: as given
    assert protected.around_fences(s, cuts, protected.FencePlan((), 0.0), MIN).size == 6
    assert protected.around_fences(s, cuts[:1], plan, MIN).size == 1
