"""Figures from real data show only what the published tables show.

A ROC or precision-recall curve drawn through every distinct score gives tp and fp at each step
(with n known, a precision/recall point is a pair of counts), so two neighbouring points differ
by one pupil. On real data ``srmsim thresholds`` draws its figures from the protected table
instead. These tests read every plotted point back from the matplotlib artists and check it is
a published, unsuppressed row of the CSV beside it; a negative control shows the same check
catches the unprotected curves.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import srmsim.risk.plots as plots
from srmsim import risk
from srmsim.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from test_risk_cli import mark_simulated, students  # noqa: E402


def plotted(fig) -> list[tuple[float, float]]:
    """Every data point of every line and filled area of a figure (legends excluded)."""
    points = []
    for ax in fig.axes:
        for line in ax.get_lines():
            points += [tuple(p) for p in np.asarray(line.get_xydata(), float)]
        for coll in ax.collections:
            for path in coll.get_paths():
                points += [tuple(p) for p in np.asarray(path.vertices, float)]
    return points


def outside(points, allowed) -> list[tuple[float, float]]:
    allowed = np.array(sorted(allowed), float).reshape(-1, 2)
    return [p for p in points
            if not np.any(np.all(np.isclose(allowed, p, rtol=0, atol=1e-9), axis=1))]


def published_rows(csv: Path, x: str, y: str) -> set[tuple[float, float]]:
    t = pd.read_csv(csv, dtype=str)
    xs = pd.to_numeric(t[x], errors="coerce")
    ys = pd.to_numeric(t[y], errors="coerce")
    if x == "specificity":
        xs = 1 - xs
    ok = xs.notna() & ys.notna()
    return set(zip(xs[ok], ys[ok], strict=True))


@pytest.mark.once
def test_real_data_figures_show_only_published_rows(tmp_path: Path, figures, capsys) -> None:
    df = students(n_schools=4, n=150, seed=5)
    path = tmp_path / "export.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "r"
    assert main(["thresholds", str(path), "--score", "attendance_rate", "--outcome",
                 "withdrawn", "--by", "fsm", "sex", "--n-boot", "40", "--out", str(out)]) == 0
    assert "treated as real data" in capsys.readouterr().out
    table = out / "thresholds.csv"
    n_pos, n = pd.read_csv(table)[["n_pos", "n"]].iloc[0]
    base = [(0.0, n_pos / n), (1.0, n_pos / n)]  # the base-rate line: two published counts

    roc = plotted(figures["roc.png"])
    allowed = published_rows(table, "specificity", "sensitivity") | {(0.0, 0.0), (1.0, 1.0)}
    assert len(roc) > 4 and outside(roc, allowed) == []
    pr = plotted(figures["pr.png"])
    assert len(pr) > 2 and outside(pr, published_rows(table, "sensitivity", "precision")
                                   | set(base)) == []
    fair = plotted(figures["fairness.png"])
    groups = out / "thresholds_by_group.csv"
    allowed = (published_rows(groups, "threshold", "flag_rate")
               | published_rows(groups, "threshold", "sensitivity"))
    assert len(fair) >= 8 and outside(fair, allowed) == []
    for name in ("roc.png", "pr.png", "fairness.png"):  # no bootstrap band on real data
        assert not any(ax.collections for ax in figures[name].axes), name

    # negative control: the curves through every score, as drawn for simulated data, are not
    # made of published rows
    bands = risk.bootstrap_curves(df, "attendance_rate", "withdrawn", n_boot=40)
    plots.plot_roc(bands, tmp_path / "full_roc.png")
    assert len(outside(plotted(figures["full_roc.png"]), allowed)) > 50


@pytest.mark.once
@pytest.mark.parametrize("from_records", [False, True])
def test_run_folders_are_real_data_when_built_from_records(tmp_path: Path, figures, capsys,
                                                           from_records: bool) -> None:
    """A simulated run keeps its full curves and band; a run whose pupils were copied from
    real records is protected like real data."""
    from srmsim.scenario import Scenario

    run = tmp_path / "run"
    run.mkdir()
    students(n_schools=3, n=150).to_parquet(run / "students.parquet")
    mark_simulated(run, **({"from_records": True} if from_records else {}))
    args = ["thresholds", str(run), "--score", "attendance_rate", "--outcome", "withdrawn",
            "--n-boot", "40"]
    assert main(args) == 0
    assert ("treated as real data" in capsys.readouterr().out) == from_records
    assert bool(figures["roc.png"].axes[0].collections) != from_records  # the bootstrap band
    if from_records:
        return
    # a summary.json beside data whose scenario does not check out protects it as real: a
    # hash of another scenario, a missing or damaged scenario.yaml
    for forged in (Scenario(name="other").to_yaml(), None, "{not yaml"):
        if forged is None:
            (run / "scenario.yaml").unlink()
        else:
            (run / "scenario.yaml").write_text(forged)
        assert main(args) == 0
        assert "treated as real data" in capsys.readouterr().out


def test_suppressed_cells_are_left_out_of_every_figure(tmp_path: Path, figures) -> None:
    """A protected table as written: a row with a suppressed rate is not drawn at all."""
    table = pd.DataFrame({
        "threshold": [0.8, 0.85, 0.9, 0.95],
        "n": ["200"] * 4, "n_pos": ["40"] * 4,
        "flagged": ["30", "c", "90", "150"],
        "sensitivity": ["0.3000", "low", "0.7000", "0.9000"],
        "specificity": ["0.9000", "x", "0.6000", "0.2000"],
        "precision": ["0.4000", "low", "0.3111", "x"],
    })
    roc, pr = risk.published_curves(table)
    assert roc["threshold"].tolist() == [0.8, 0.9, 0.95]
    assert pr["threshold"].tolist() == [0.8, 0.9]
    plots.plot_roc_points(roc, tmp_path / "roc.png")
    points = plotted(figures["roc.png"])
    assert (0.4, 0.7) in {(round(x, 9), round(y, 9)) for x, y in points}
    assert all(not np.isclose(y, 0.5) for _, y in points)  # the 'low' row is nowhere

    groups = pd.concat([table.assign(by="fsm", group=g, flag_rate=r) for g, r in
                        (("False", ["0.1500", "c", "0.4500", "0.7500"]),
                         ("True", ["0.2000", "0.3000", "low", "0.8000"]))])
    drawn = risk.published_numbers(groups, ["n", "flag_rate", "sensitivity"])
    plots.plot_fairness(drawn.assign(flag_rate_gap=np.nan, sensitivity_gap=np.nan),
                        tmp_path / "fair.png")
    shown = [(row["threshold"], row[m]) for _, row in drawn.iterrows()
             for m in ("flag_rate", "sensitivity") if np.isfinite(row[m])]
    fair = plotted(figures["fair.png"])
    assert len(fair) == len(shown) == 12 and outside(fair, set(shown)) == []
