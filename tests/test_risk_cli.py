"""The ``srmsim thresholds`` command: files written, key rows printed, clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srmsim.cli import main


def students(n_schools: int = 6, n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    size = n_schools * n
    att = np.round(rng.beta(18, 2, size), 4)
    fsm = rng.random(size) < 0.3
    y = rng.random(size) < 1 / (1 + np.exp(2.0 + 15 * (att - 0.9) - 0.7 * fsm))
    return pd.DataFrame({"uid": np.arange(size), "school": np.repeat(np.arange(n_schools), n),
                         "fsm": fsm, "sex": rng.choice(["F", "M"], size),
                         "attendance_rate": att, "withdrawn": y})


def test_csv_end_to_end(tmp_path: Path, capsys):
    df = students()
    df.loc[:4, "attendance_rate"] = np.nan
    path = tmp_path / "export.csv"
    df.to_csv(path, index=False)
    status = main(["thresholds", str(path), "--score", "attendance_rate", "--outcome", "withdrawn",
                   "--by", "fsm", "sex", "--capacity", "50", "--n-boot", "50",
                   "--cost-missed", "10", "--cost-needless", "1"])
    assert status == 0
    out = capsys.readouterr().out
    # real data: 5 rows missing a score is a small count, hidden with enough else that
    # rows - used does not give it back (used is every table's n, so the rows go)
    assert "rows: c; used 715; missing score c" in out
    assert "AUC" in out and "6 school clusters" in out
    assert "best F1" in out and "at capacity 50" in out
    assert "cost-minimising" in out and "by fsm" in out and "by sex" in out
    folder = tmp_path / "thresholds"
    for name in ("thresholds.csv", "roc.png", "pr.png", "fairness.png",
                 "thresholds_by_group.csv", "fairness_gaps.csv"):
        assert (folder / name).stat().st_size > 0, name
    table = pd.read_csv(folder / "thresholds.csv")
    assert {"threshold", "flagged", "precision", "f1"} <= set(table.columns)
    groups = pd.read_csv(folder / "thresholds_by_group.csv")
    assert set(groups["by"]) == {"fsm", "sex"}
    assert (folder / "roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def mark_simulated(folder: Path, **summary) -> None:
    """What makes a folder a simulated run's for ``thresholds``: its scenario.yaml (no
    records) and a summary.json carrying that scenario's digest."""
    import json

    from srmsim.scenario import Scenario

    scenario = Scenario(name="simulated")
    (folder / "scenario.yaml").write_text(scenario.to_yaml())
    (folder / "summary.json").write_text(json.dumps({"scenario_hash": scenario.digest(),
                                                     **summary}))


def test_run_directory_and_staff_minutes(tmp_path: Path, capsys):
    run = tmp_path / "run1"
    run.mkdir()
    students().to_parquet(run / "students.parquet")
    mark_simulated(run)
    out = tmp_path / "report"
    status = main(["thresholds", str(run), "--score", "attendance_rate", "--outcome", "withdrawn",
                   "--staff-minutes", "600", "--minutes-per-case", "45", "--n-boot", "20",
                   "--out", str(out)])
    assert status == 0
    text = capsys.readouterr().out
    assert "at capacity 13" in text and "staff minutes" in text
    assert (out / "thresholds.csv").exists() and not (out / "fairness.png").exists()


def test_no_school_column_resamples_students_and_says_so(tmp_path: Path, capsys):
    path = tmp_path / "x.parquet"
    students().drop(columns="school").to_parquet(path)
    assert main(["thresholds", str(path), "--score", "attendance_rate", "--outcome", "withdrawn",
                 "--n-boot", "10"]) == 0
    assert "resamples students" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--score", "attendance", "--outcome", "withdrawn"], "column 'attendance'"),
        (["--score", "attendance_rate", "--outcome", "sex"], "column 'sex'"),
        (["--score", "attendance_rate", "--outcome", "withdrawn", "--by", "nope"], "'nope'"),
        (["--score", "attendance_rate", "--outcome", "withdrawn", "--cluster", "trust"],
         "cluster column 'trust'"),
        (["--score", "attendance_rate", "--outcome", "withdrawn", "--cost-missed", "3"],
         "--cost-needless"),
    ],
)
def test_user_errors_exit_2_with_one_clear_line(tmp_path: Path, capsys, argv, message):
    path = tmp_path / "d.csv"
    students(n_schools=2, n=30).to_csv(path, index=False)
    assert main(["thresholds", str(path), "--n-boot", "5", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("srmsim: error:") and "Traceback" not in err


def test_bad_paths(tmp_path: Path, capsys):
    assert main(["thresholds", str(tmp_path / "missing.csv"), "--score", "a", "--outcome", "b"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["thresholds", str(tmp_path), "--score", "a", "--outcome", "b"]) == 2
    assert "students.parquet" in capsys.readouterr().err
    other = tmp_path / "d.txt"
    other.write_text("x")
    assert main(["thresholds", str(other), "--score", "a", "--outcome", "b"]) == 2
    assert ".csv or .parquet" in capsys.readouterr().err


def test_through_a_subprocess(tmp_path: Path):
    path = tmp_path / "d.csv"
    students(n_schools=3, n=60).to_csv(path, index=False)
    ok = subprocess.run([sys.executable, "-m", "srmsim.cli", "thresholds", str(path), "--score",
                         "attendance_rate", "--outcome", "withdrawn", "--n-boot", "10",
                         "--capacity", "20"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "at capacity 20" in ok.stdout
    assert (tmp_path / "thresholds" / "roc.png").exists()
