"""A privacy adversary on outputs computed from real pupil records, combined across runs.

docs/privacy.md: no count under 10 of pupils may be recovered by any arithmetic on what is
printed. Each test here combines what two runs of one command print from the same records (a
changed flag) and attacks the combination; each failed before its fix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srmsim.cli import main
from srmsim.risk import band_counts, threshold_table
from srmsim.risk.protected import choose_grid

MIN = 10
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "students.csv"


def _union_bands(df: pd.DataFrame, score: str, outcome: str, grids: list[np.ndarray],
                 by: list[str] | None = None) -> pd.DataFrame:
    """The band cells an attacker gets from tables of the same records on several grids: the
    tables on the union of the grids are exactly what the runs printed, put side by side."""
    union = np.unique(np.concatenate([np.asarray(g, float) for g in grids]))
    return band_counts(threshold_table(df, score, outcome, "below", union, by=by))


def _smallest(bands: pd.DataFrame) -> int:
    return int(bands[["positives", "negatives"]].min().min())


def _random_export(seed: int, second_outcome: bool = False) -> pd.DataFrame:
    """900 synthetic pupils; ``second_outcome`` adds ``y2`` on the same score (drawn after the
    rest, so the other columns are the same either way)."""
    rng = np.random.default_rng(seed)
    n = 900
    sex = rng.choice(["F", "M"], n)
    fsm = rng.random(n) < 0.3
    score = np.round(rng.normal(100, 15, n) - 6 * fsm, 1)
    y = rng.random(n) < 1 / (1 + np.exp((score - 92) / 8))
    df = pd.DataFrame({"score": score, "y": y, "sex": sex, "fsm": fsm})
    if second_outcome:
        df.insert(2, "y2", rng.random(n) < 1 / (1 + np.exp((score - 100) / 10)))
    return df


def test_the_sample_stricter_suppress_below_beside_the_default_cuts_no_small_band() -> None:
    """``srmsim thresholds`` of the sample's prior attainment for SEN printed thresholds 80.456,
    88.308, 96.8, 100.872 and 107.0 by default and 80.456, 90.46, 97.396 and 104.376 with
    ``--suppress-below 11`` (stricter): tp 31 and fp 110 at 96.8 beside tp 35 and fp 116 at
    97.396 gave 4 SEN and 6 other pupils between the two. A stricter grid is now chosen among
    the default one's thresholds."""
    df = pd.read_csv(SAMPLE)
    grids = [choose_grid(df, "prior_attainment", "sen", "below", None, None, k).grid
             for k in (10, 11, 12, 13, 15)]
    assert all(g.size for g in grids)
    assert _smallest(_union_bands(df, "prior_attainment", "sen", grids)) >= MIN


def test_the_sample_by_sex_beside_no_by_cuts_no_small_band_overall() -> None:
    """Without ``--by`` the sample's grid held 88.308 (tp 21, fp 51); with ``--by sex`` it was
    90.46 (tp 23, fp 66): 2 SEN pupils scored between them. The overall tables of runs with
    other ``--by`` columns now stand on grids chosen among the overall grid's thresholds."""
    df = pd.read_csv(SAMPLE)
    grids = [choose_grid(df, "prior_attainment", "sen", "below", None, by, 10).grid
             for by in (None, ["sex"], ["fsm"], ["sex", "year_group"])]
    assert all(g.size for g in grids)
    assert _smallest(_union_bands(df, "prior_attainment", "sen", grids)) >= MIN


@pytest.mark.parametrize("seed", range(6))
def test_grids_of_two_runs_of_one_by_nest_per_group(seed: int) -> None:
    """Two runs with the same ``--by sex`` and two ``--suppress-below`` values publish each
    sex's table on two grids (the column's own, ``by_grid``); together they must cut no
    group's band under 10 either, and every overall grid (any --by, any threshold) lies in the
    overall grid at 10."""
    df = _random_export(seed)
    at = {k: choose_grid(df, "score", "y", "below", None, ["sex"], k) for k in (10, 11, 12, 14)}
    # a column's grid above 10 lies in the overall grid there too, so it can be withheld
    # (export 5 at 12): the others still nest
    assert all(c.grid.size and not c.too_small for c in at.values())
    assert sum("sex" in c.by_grid for c in at.values()) >= 3
    grids = [c.grid for c in at.values()]
    per_group = _union_bands(df, "score", "y",
                             [c.by_grid["sex"] for c in at.values() if "sex" in c.by_grid],
                             by=["sex"])
    assert _smallest(per_group) >= MIN
    base = choose_grid(df, "score", "y", "below", None, None, 10).grid
    others = [choose_grid(df, "score", "y", "below", None, by, k).grid
              for by in (None, ["fsm"], ["sex", "fsm"]) for k in (10, 12)]
    assert all(set(g) <= set(base) for g in [*grids, *others])
    assert _smallest(_union_bands(df, "score", "y", [*grids, *others])) >= MIN


def test_the_cli_runs_of_the_sample_nest(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The same through the command, as a user runs it: the printed tables of a default run and
    of a ``--suppress-below 11`` run, put side by side, give no band under 10."""
    tables = []
    for i, extra in enumerate(([], ["--suppress-below", "11"], ["--by", "sex"])):
        out = tmp_path / f"t{i}"
        assert main(["thresholds", str(SAMPLE), "--score", "prior_attainment", "--outcome",
                     "sen", "--out", str(out), *extra]) == 0
        tables.append(pd.read_csv(out / "thresholds.csv"))
    capsys.readouterr()
    both = pd.concat(tables).drop_duplicates("threshold").sort_values("threshold")
    bands = band_counts(both)
    assert _smallest(bands) >= MIN
