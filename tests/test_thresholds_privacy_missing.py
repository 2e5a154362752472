"""``srmsim thresholds`` on real data and the rows it leaves out (a missing score or outcome).

Every table's ``n`` is the rows *used*; ``srmsim data summary`` prints the rows of the same
records (its Total students, and the FSM / SEN / EAL pupils, per group). So ``total - used``
gives the rows left out, whatever ``thresholds`` hides on its own line: with 1 to 9 of them
(overall, among those with the outcome or without it, or in a ``--by`` group) the command must
refuse, with exit status 2, a short message, no count under 10 and nothing written. 0, or 10 and
more, keep working; simulated runs keep their exact counts. Run through the real CLI
(``python -m srmsim``) in a subprocess, with the srmsim this test imported.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import srmsim

sys.path.insert(0, str(Path(__file__).parent))
from test_risk_cli import mark_simulated, students  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ARGS = ["--score", "attendance_rate", "--outcome", "withdrawn", "--n-boot", "40",
        "--cluster", "none"]
REFUSAL = "cannot be reported without revealing their count"


def srmsim_cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m srmsim ARGV`` with the srmsim under test (its folder on PYTHONPATH)."""
    env = {**os.environ, "PYTHONPATH": str(Path(srmsim.__file__).resolve().parents[1]),
           "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "srmsim", *argv], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=env)


def numbers(text: str, *drop: str) -> list[int]:
    """Every whole number printed (thousands separators read), after removing ``drop`` (paths:
    a temporary folder's name holds digits that are no count)."""
    for d in drop:
        text = text.replace(d, "")
    return [int(m.replace(",", "")) for m in re.findall(r"\d[\d,]*", text)]


def assert_refused(res: subprocess.CompletedProcess, out: Path, *drop: str) -> None:
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert res.stdout == ""  # refused before anything is printed, even the real-data header
    assert res.stderr.startswith("srmsim: error:") and "Traceback" not in res.stderr
    assert REFUSAL in res.stderr and "drop those rows, or fill in" in res.stderr, res.stderr
    assert "fewer than 10" in res.stderr
    small = [n for n in numbers(res.stderr, *drop) if 0 < n < 10]
    assert small == [], res.stderr
    assert not out.exists()  # nothing written, no folder left behind


def export(tmp_path: Path, missing: np.ndarray, name: str = "export.csv",
           column: str = "attendance_rate") -> Path:
    """A school's own export (real data: not a simulated run's folder), 720 pupils, with
    ``column`` blanked in the rows ``missing`` (positions)."""
    df = students()
    if column == "withdrawn":
        df["withdrawn"] = df["withdrawn"].astype("boolean")
        df.loc[df.index[missing], column] = pd.NA
    else:
        df.loc[df.index[missing], column] = np.nan
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


def without_outcome(df: pd.DataFrame | None = None, **where) -> np.ndarray:
    """Positions of the pupils without the outcome (and ``column == value`` for each given)."""
    df = students() if df is None else df
    keep = ~df["withdrawn"].to_numpy(dtype=bool)
    for col, value in where.items():
        keep &= (df[col] == value).to_numpy()
    return np.flatnonzero(keep)


@pytest.mark.parametrize("left_out, column", [
    (1, "attendance_rate"), (9, "attendance_rate"), (3, "withdrawn"), (9, "withdrawn"),
])
def test_one_to_nine_rows_left_out_are_refused(tmp_path: Path, left_out: int,
                                               column: str) -> None:
    path = export(tmp_path, without_outcome()[:left_out], column=column)
    out = tmp_path / "report"
    res = srmsim_cli("thresholds", str(path), *ARGS, "--out", str(out), cwd=tmp_path)
    assert_refused(res, out, str(path), str(out))
    assert "fewer than 10 rows are missing 'attendance_rate' or 'withdrawn'" in res.stderr


@pytest.mark.parametrize("left_out", [0, 10, 25])
def test_none_or_ten_and_more_left_out_still_work(tmp_path: Path, left_out: int) -> None:
    path = export(tmp_path, without_outcome()[:left_out])
    out = tmp_path / "report"
    res = srmsim_cli("thresholds", str(path), *ARGS, "--out", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    line = next(x for x in res.stdout.splitlines() if x.startswith("rows:"))
    assert line.startswith(f"rows: 720; used {720 - left_out:,}; missing score {left_out}; "
                           "missing outcome 0"), line
    table = pd.read_csv(out / "thresholds.csv")
    assert (table["n"] == 720 - left_out).all()
    assert (out / "roc.png").exists() and (out / "pr.png").exists()
    assert [n for n in numbers(line) if 0 < n < 10] == []


def test_a_small_part_with_the_outcome_is_refused(tmp_path: Path) -> None:
    """10 left out, 4 of them with the outcome: the outcome's total (printed by another output:
    ``data summary`` for FSM, or this command with a complete score) minus ``n_pos`` gives 4."""
    df = students()
    with_y = np.flatnonzero(df["withdrawn"].to_numpy(dtype=bool))
    path = export(tmp_path, np.r_[without_outcome(df)[:6], with_y[:4]])
    out = tmp_path / "report"
    res = srmsim_cli("thresholds", str(path), *ARGS, "--out", str(out), cwd=tmp_path)
    assert_refused(res, out, str(path), str(out))
    assert "rows missing 'attendance_rate' have 'withdrawn'" in res.stderr


@pytest.mark.once
def test_a_small_left_out_count_in_a_by_group_is_refused(tmp_path: Path) -> None:
    """10 left out, 5 girls and 5 boys: the by-group table's n of each sex, beside the
    students of each sex (``data summary --by sex``), gives 5. Without --by it is published,
    and with all 10 in one group too."""
    df = students()
    split = np.r_[without_outcome(df, sex="F")[:5], without_outcome(df, sex="M")[:5]]
    path = export(tmp_path, split)
    out = tmp_path / "report"
    res = srmsim_cli("thresholds", str(path), *ARGS, "--by", "sex", "--out", str(out),
                     cwd=tmp_path)
    assert_refused(res, out, str(path), str(out))
    assert "in group 'F' of 'sex'" in res.stderr
    ok = srmsim_cli("thresholds", str(path), *ARGS, "--out", str(out), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    girls = export(tmp_path, without_outcome(df, sex="F")[:10], name="girls.csv")
    ok = srmsim_cli("thresholds", str(girls), *ARGS, "--by", "sex", "--out",
                    str(tmp_path / "g"), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    groups = pd.read_csv(tmp_path / "g" / "thresholds_by_group.csv")
    n = groups.drop_duplicates("group").set_index("group")["n"]
    totals = df["sex"].value_counts()
    assert sorted((totals - n).tolist()) == [0, 10]


@pytest.mark.once
def test_data_summary_and_thresholds_on_one_dataset(tmp_path: Path) -> None:
    """The attack itself: `data summary` prints the dataset's Total students; `thresholds` on
    the same dataset folder printed `used`. With 3 pupils missing prior attainment the second
    is refused; with 0, or 10 (none of them FSM), the difference is 0 or 10."""
    sample = pd.read_csv(REPO / "data" / "sample" / "students.csv")
    non_fsm = np.flatnonzero(~sample["fsm"].to_numpy(dtype=bool))
    for left_out in (3, 0, 10):
        work = tmp_path / f"m{left_out}"
        work.mkdir()
        records = sample.copy()
        records.loc[records.index[non_fsm[:left_out]], "prior_attainment"] = np.nan
        records.to_csv(work / "pupils.csv", index=False)
        assert srmsim_cli("data", "import", "--students", "pupils.csv", "--out", "ds",
                          cwd=work).returncode == 0
        summary = srmsim_cli("data", "summary", "ds", "--by", "school", cwd=work)
        assert summary.returncode == 0, summary.stderr
        total = next(x for x in summary.stdout.splitlines() if x.strip().startswith("Total"))
        students_total, fsm_total = numbers(total)[:2]
        assert students_total == len(sample)
        res = srmsim_cli("thresholds", "ds", "--score", "prior_attainment", "--outcome", "fsm",
                         "--n-boot", "40", "--out", "thr", cwd=work)
        if left_out == 3:
            assert_refused(res, work / "thr")
            continue
        assert res.returncode == 0, res.stderr
        used = int(re.search(r"used ([\d,]+)", res.stdout).group(1).replace(",", ""))
        n_pos = int(re.search(r"\(([\d,]+) of [\d,]+\)", res.stdout).group(1).replace(",", ""))
        assert students_total - used == left_out and fsm_total - n_pos == 0


def parts_consistent(printed: dict[str, int | None], known_positive: int,
                     limit: int) -> dict[str, set[int]]:
    """An attacker of the missing-rows line: every (score only without the outcome, outcome
    only, both) of non-negative counts that agrees with the printed numbers (None for 'c'),
    rows and used (printed here and by other commands) and the rows missing the score that
    have the outcome (the outcome's total, printed by other commands, minus n_pos)."""
    left = printed["rows"] - printed["used"]
    seen: dict[str, set[int]] = {"score_only": set(), "outcome_only": set(), "both": set()}
    for a0, b, c in itertools.product(range(limit), repeat=3):
        if known_positive + a0 + b + c != left:
            continue
        ms, mo = known_positive + a0 + c, b + c
        if printed["score"] not in (None, ms) or printed["outcome"] not in (None, mo):
            continue
        seen["score_only"].add(a0)
        seen["outcome_only"].add(b)
        seen["both"].add(c)
    return seen


def test_missing_line_gives_no_small_part_away(tmp_path: Path) -> None:
    """12 rows miss the score and 14 the outcome, 23 left out: printed in full (as before),
    `rows - used` and the two missing counts give 3 missing both and 9 missing the score only.
    Both counts are hidden now, and every part is at least 10 wide to an attacker."""
    df = students()
    df["withdrawn"] = df["withdrawn"].astype("boolean")
    neg = without_outcome(df)
    df.loc[df.index[neg[:12]], "attendance_rate"] = np.nan
    df.loc[df.index[np.r_[neg[:3], neg[20:31]]], "withdrawn"] = pd.NA
    path = tmp_path / "export.csv"
    df.to_csv(path, index=False)
    res = srmsim_cli("thresholds", str(path), *ARGS, "--out", str(tmp_path / "r"),
                     cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    line = next(x for x in res.stdout.splitlines() if x.startswith("rows:"))
    found = dict(re.findall(r"(rows|used|missing score|missing outcome):? (c|[\d,]+)", line))
    assert found["rows"] == "720" and found["used"] == "697"
    printed = {"rows": 720, "used": 697,
               **{k: None if found[f"missing {k}"] == "c" else int(found[f"missing {k}"])
                  for k in ("score", "outcome")}}
    truth = {"score_only": 9, "outcome_only": 11, "both": 3}
    seen = parts_consistent(printed, known_positive=0, limit=40)
    for part, value in truth.items():
        assert value in seen[part]
        if 0 < value < 10:
            assert max(seen[part]) - min(seen[part]) >= 10, (part, sorted(seen[part]), line)
    # negative control: the line printed in full pins both small parts
    full = parts_consistent({**printed, "score": 12, "outcome": 14}, 0, 40)
    assert full["both"] == {3} and full["score_only"] == {9}


def test_simulated_runs_keep_their_exact_counts(tmp_path: Path) -> None:
    """A simulated run's data are no one's: 3 rows missing is printed as 3, and reported."""
    folder = tmp_path / "run"
    folder.mkdir()
    df = students(n_schools=3)
    df.loc[df.index[:3], "attendance_rate"] = np.nan
    df.to_parquet(folder / "students.parquet")
    mark_simulated(folder)
    res = srmsim_cli("thresholds", str(folder), *ARGS, "--by", "sex", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "rows: 360; used 357; missing score 3; missing outcome 0" in res.stdout
    assert (folder / "thresholds" / "thresholds.csv").exists()


def test_the_protected_python_table_refuses_as_the_command_does() -> None:
    from srmsim.errors import DataError
    from srmsim.risk import threshold_table

    df = students()
    few = df.assign(attendance_rate=df["attendance_rate"].where(
        ~df.index.isin(df.index[without_outcome(df)[:4]])))
    with pytest.raises(DataError, match=REFUSAL):
        threshold_table(few, "attendance_rate", "withdrawn", protect=10)
    assert len(threshold_table(few, "attendance_rate", "withdrawn")) > 0  # the raw table
    many = df.assign(attendance_rate=df["attendance_rate"].where(
        ~df.index.isin(df.index[without_outcome(df)[:10]])))
    assert (threshold_table(many, "attendance_rate", "withdrawn", protect=10)["n"] == 710).all()
