"""Review of sessions 34-36 (595d551..aa14746) by fresh eyes: each test failed before its fix."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srmsim.cli import main
from srmsim.risk import published_numbers

sys.path.insert(0, str(Path(__file__).parent))
from test_privacy_every_output_review import _random_export  # noqa: E402
from test_thresholds_cross_run_review import _published, _small_differences  # noqa: E402


def _bands_of_one_run(out: Path) -> tuple[np.ndarray, np.ndarray]:
    """The overall bands (with, without the outcome) an attacker reads off one run's two CSVs:
    the overall table's rows, and each column's groups summed (they partition the pupils) at
    its own thresholds."""
    keep = ["n", "n_pos", "flagged", "tp", "fp"]
    overall = published_numbers(pd.read_csv(out / "thresholds.csv"), keep)
    rows = [overall[["threshold", *keep]]]
    by = published_numbers(pd.read_csv(out / "thresholds_by_group.csv", dtype={"group": str}),
                           keep)
    rows.append(by.groupby(["by", "threshold"], as_index=False)[keep].sum()
                .drop(columns="by"))
    every = pd.concat(rows).drop_duplicates("threshold").sort_values("threshold")
    n, n_pos = int(overall["n"].iloc[0]), int(overall["n_pos"].iloc[0])
    tp = np.r_[0, every["tp"].to_numpy(int), n_pos]
    fp = np.r_[0, every["fp"].to_numpy(int), n - n_pos]
    return np.diff(tp), np.diff(fp)


@pytest.mark.parametrize("suppress", [11, 20])
def test_by_tables_above_10_cut_no_overall_band_under_suppress_below(
        tmp_path: Path, capsys: pytest.CaptureFixture, suppress: int) -> None:
    """``--suppress-below 20 --by sex`` on a synthetic export of 900 pupils printed the overall
    table at 96.75 and 100.35 (tp 292 and 317) and the girls' and boys' tables at 98.45 (tp
    147 + 160 = 307): 10 pupils with the outcome between 98.45 and 100.35, in ONE run that
    promised bands of 20. Above 10 a column's grid was chosen among its grid at 10 only, not
    among the overall grid at the stricter threshold too."""
    path = tmp_path / "export.csv"
    _random_export(0, second_outcome=True).to_csv(path, index=False)
    for outcome in ("y", "y2"):
        out = tmp_path / f"out-{outcome}"
        assert main(["thresholds", str(path), "--score", "score", "--outcome", outcome,
                     "--by", "sex", "fsm", "--suppress-below", str(suppress), "--cluster",
                     "none", "--n-boot", "40", "--out", str(out)]) == 0
        pos, neg = _bands_of_one_run(out)
        assert min(pos.min(), neg.min()) >= suppress, (outcome, pos, neg)
    capsys.readouterr()


def test_a_cut_between_two_adjacent_floats_is_not_a_score(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    """Scores 0.3 and 0.1 + 0.2 (0.30000000000000004, the next float: one rate computed two
    ways) have no number between them, and the base cut there was 0.30000000000000004 itself.
    ``--direction below`` counted 20 pupils under it (tp 10) and ``above`` left 23 unflagged
    (13 with the outcome): the 3 pupils at the cut and their outcome, by one subtraction. No
    cut is placed where no number lies strictly between the two scores."""
    rng = np.random.default_rng(3)
    score = np.r_[np.full(20, 0.3), np.full(3, 0.1 + 0.2), np.round(rng.uniform(0.4, 1, 200), 3)]
    left = np.r_[[1] * 10 + [0] * 10, [1] * 3, (rng.uniform(size=200) < 0.4).astype(int)]
    path = tmp_path / "export.csv"
    pd.DataFrame({"att": score, "left": left}).to_csv(path, index=False)
    rows = []
    for direction in ("below", "above"):
        rows += _published(path, tmp_path / direction, "att", "left", direction)
    capsys.readouterr()
    assert _small_differences(rows) == []


def test_a_column_that_splits_another_s_groups_cuts_no_small_band_of_them(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """``--by sex sex_fsm`` (a column whose groups each lie inside one sex: F-fsm, F-non, ...)
    put each column on its own grid, and the boys' rows of ``sex_fsm`` add up to the boys' at
    that column's thresholds: on a synthetic export of 900 pupils the boys' table cut 91.15
    and the sex_fsm table 92.05, and the two sums put 3 boys with the outcome and 3 without
    between them, in ONE run. A column whose groups split a shown column's is now on
    thresholds of that column's grid too."""
    df = _random_export(1)
    df["sex_fsm"] = df["sex"] + np.where(df["fsm"], "-fsm", "-non")
    path = tmp_path / "export.csv"
    df.to_csv(path, index=False)
    rows = _published(path, tmp_path / "run", "score", "y", by=("sex", "sex_fsm"))
    by = pd.read_csv(tmp_path / "run" / "thresholds_by_group.csv", dtype={"group": str})
    fine = published_numbers(by[by["by"] == "sex_fsm"], ["n", "n_pos", "flagged", "tp", "fp"])
    capsys.readouterr()
    # the sex_fsm groups' rows summed within each sex: that sex's rows at those thresholds
    fine = fine.assign(sex=fine["group"].str[0])
    sums = fine.groupby(["sex", "threshold"], as_index=False)[
        ["n", "n_pos", "flagged", "tp", "fp"]].sum()
    for r in sums.itertuples(index=False):
        rows.append({"unit": ("sex", r.sex), "outcome": "y", "key": (r.threshold, 0),
                     "all": r.flagged, "pos": r.tp, "neg": r.flagged - r.tp, "n": r.n,
                     "n_pos": r.n_pos})
    assert _small_differences(rows) == []


def _bands_in(score: np.ndarray, y: np.ndarray, mask: np.ndarray, cuts: list) -> list[tuple]:
    """(with, without the outcome) in each band the sorted ``cuts`` make of the pupils in
    ``mask``."""
    s, o = score[mask], y[mask]
    pos = [0, *((o[s < t] == 1).sum() for t in cuts), int((o == 1).sum())]
    all_ = [0, *((s < t).sum() for t in cuts), int(mask.sum())]
    return [(p1 - p0, (a1 - p1) - (a0 - p0))
            for p0, p1, a0, a1 in zip(pos, pos[1:], all_, all_[1:], strict=False)]


def _crossed_export(seed: int) -> pd.DataFrame:
    """A random export: score s, outcome y, columns a and b and their crossing ab."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(400, 1500))
    df = pd.DataFrame({"s": np.round(rng.normal(0, 1, n), int(rng.integers(1, 3))),
                       "a": rng.choice(list("PQ"), n),
                       "b": rng.choice(list("XYZ"), n, p=[0.5, 0.3, 0.2])})
    df["y"] = (rng.random(n) < 1 / (1 + np.exp(2 * df["s"]))).astype(int)
    df["ab"] = df["a"] + df["b"]
    return df


@pytest.mark.parametrize("seed", range(8))
def test_one_run_every_sum_of_printed_rows_cuts_bands_of_the_threshold(seed: int) -> None:
    """Random exports with columns a, b and their crossing ab, every --by set, at 10 to 15: the
    thresholds one run prints for a population (overall, a group), directly or as the sum of
    the rows of a column's groups inside it, cut bands of at least ``min_count`` with and
    without the outcome. Before, 190 bands across 60 such exports were smaller (a column's own
    grid above 10, a crossing's beside its margins)."""
    from itertools import combinations

    from srmsim.risk.protected import choose_grid

    df = _crossed_export(seed)
    n = len(df)
    score, y = df["s"].to_numpy(), df["y"].to_numpy()
    for min_count in (10, 12, 15):
        for by in (c for k in (1, 2, 3) for c in combinations(["a", "b", "ab"], k)):
            choice = choose_grid(df, "s", "y", "below", None, list(by), min_count)
            printed: dict[tuple, set] = {("", ""): set(choice.grid)}
            for col, grid in choice.by_grid.items():
                printed[("", "")].update(grid)  # a column's groups add up to everyone
                for coarse in [col, *choice.by_grid]:  # and to the groups they lie in
                    if coarse == col or df.groupby(col)[coarse].nunique().max() == 1:
                        for value in df[coarse].unique():
                            printed.setdefault((coarse, value), set()).update(grid)
            for (col, value), cuts in printed.items():
                mask = np.ones(n, bool) if col == "" else (df[col] == value).to_numpy()
                bands = _bands_in(score, y, mask, sorted(cuts))
                assert min(min(b) for b in bands) >= min_count, (min_count, by, col, value)


def test_a_column_withheld_for_splitting_another_says_so(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    """A column whose groups split another's, left with none of the other's thresholds, was
    withheld with the note of a column no threshold suits ("no threshold leaves at least 10
    ... in every band of every group"), which is not why: say which column it splits."""
    df = _crossed_export(2)
    n = len(df)
    df.insert(0, "student", [f"s{i}" for i in range(n)])
    df.insert(1, "school", np.random.default_rng(2).choice([f"k{i}" for i in range(6)], n))
    path = tmp_path / "export.csv"
    df.to_csv(path, index=False)
    alone = main(["thresholds", str(path), "--score", "s", "--outcome", "y", "--by", "ab",
                  "--out", str(tmp_path / "alone")])
    assert alone == 0 and "by ab: withheld" not in capsys.readouterr().out  # shown on its own
    code = main(["thresholds", str(path), "--score", "s", "--outcome", "y", "--by", "a", "ab",
                 "--out", str(tmp_path / "both")])
    out = capsys.readouterr().out
    assert code == 0
    assert "by ab: withheld (its groups split those of a, so its tables may use only " \
           "thresholds of a's" in " ".join(out.split())
    assert "by ab: withheld (no threshold leaves" not in out
