"""The ``srmsim thresholds`` command: files written, key rows printed, clear errors."""

from __future__ import annotations

import re
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


@pytest.mark.once
def test_csv_end_to_end(tmp_path: Path, capsys):
    df = students()
    # 12 pupils without a score, all non-FSM girls without the outcome: no part of the rows
    # left out (overall, with or without the outcome, by fsm or by sex) is 1 to 9, which real
    # data refuses (tests/test_thresholds_privacy_missing.py)
    blank = df.index[~df["withdrawn"] & ~df["fsm"] & (df["sex"] == "F")][:12]
    df.loc[blank, "attendance_rate"] = np.nan
    path = tmp_path / "export.csv"
    df.to_csv(path, index=False)
    status = main(["thresholds", str(path), "--score", "attendance_rate", "--outcome", "withdrawn",
                   "--by", "fsm", "sex", "--capacity", "50", "--n-boot", "50",
                   "--cost-missed", "10", "--cost-needless", "1"])
    assert status == 0
    out = capsys.readouterr().out
    assert "rows: 720; used 708; missing score 12; missing outcome 0" in out
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
    records) and a summary.json carrying that scenario's digest and the SHA-256 of the
    students.parquet already in the folder."""
    import json

    import pyarrow.parquet as pq

    from srmsim.results import file_sha256
    from srmsim.scenario import Scenario

    scenario = Scenario(name="simulated")
    (folder / "scenario.yaml").write_text(scenario.to_yaml())
    digest = {"students.parquet": file_sha256(folder / "students.parquet")}
    rows = pq.read_metadata(folder / "students.parquet").num_rows  # as a run counts them
    (folder / "summary.json").write_text(json.dumps({"scenario_hash": scenario.digest(),
                                                     "students": rows,
                                                     "file_sha256": digest, **summary}))


def test_run_directory_and_staff_minutes(tmp_path: Path, capsys):
    run = tmp_path / "run1"
    run.mkdir()
    students().to_parquet(run / "students.parquet")
    mark_simulated(run)
    out = tmp_path / "report"
    status = main(["thresholds", str(run), "--score", "attendance_rate", "--outcome", "withdrawn",
                   "--staff-minutes", "600", "--minutes-per-case", "45", "--n-boot", "40",
                   "--out", str(out)])
    assert status == 0
    text = capsys.readouterr().out
    assert "at capacity 13" in text and "staff minutes" in text
    assert (out / "thresholds.csv").exists() and not (out / "fairness.png").exists()


def test_no_school_column_resamples_students_and_says_so(tmp_path: Path, capsys):
    path = tmp_path / "x.parquet"
    students().drop(columns="school").to_parquet(path)
    assert main(["thresholds", str(path), "--score", "attendance_rate", "--outcome", "withdrawn",
                 "--n-boot", "40"]) == 0
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
    assert main(["thresholds", str(path), "--n-boot", "40", *argv]) == 2
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
                         "attendance_rate", "--outcome", "withdrawn", "--n-boot", "40",
                         "--capacity", "20"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "at capacity 20" in ok.stdout
    assert (tmp_path / "thresholds" / "roc.png").exists()


def simulated_folder(tmp_path: Path, df: pd.DataFrame | None = None) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    (students(n_schools=3) if df is None else df).to_parquet(folder / "students.parquet")
    mark_simulated(folder)
    return folder


@pytest.mark.parametrize("flags, message", [
    (["--staff-minutes", "1e300", "--minutes-per-case", "1e-10"], "--staff-minutes 1e+300"),
    (["--staff-minutes", "500000", "--minutes-per-case", "1e-12"], "more than 2**53 cases"),
    (["--minutes-per-case", "1e6", "--staff-minutes", "600"], "--minutes-per-case 1e+06"),
    (["--cost-missed", "1e308", "--cost-needless", "1e308"], "--cost-missed 1e+308"),
    (["--cost-missed", "1", "--cost-needless", "2e12"],
     "--cost-needless 2e+12: at most £1,000,000,000,000 a case"),
    (["--capacity", "50", "--cost-per-case", "1e308"], "--cost-per-case 1e+308"),
    (["--capacity", str(2**53 + 1)], "--capacity must be a whole number from 0 to 2**53"),
])
def test_capacity_and_cost_flags_are_bounded(tmp_path: Path, capsys, flags, message):
    """1e300 minutes over 1e-10 a case overflowed to a traceback; costs of 1e308 made every
    cost inf, so the wrong threshold was chosen and 'cost inf' printed."""
    folder = simulated_folder(tmp_path)
    assert main(["thresholds", str(folder), "--score", "attendance_rate", "--outcome",
                 "withdrawn", "--n-boot", "40", *flags]) == 2
    out, err = capsys.readouterr()
    assert out == "" and message in err and "Traceback" not in err
    assert not (folder / "thresholds").exists()


def test_cost_limits_in_help_are_pounds_not_exponents(capsys):
    with pytest.raises(SystemExit):
        main(["thresholds", "--help"])
    printed = " ".join(capsys.readouterr().out.split())  # as one line: help wraps
    assert "1e+12" not in printed and printed.count("at most £1,000,000,000,000") == 3


@pytest.mark.once
def test_the_largest_flags_allowed_give_finite_figures(tmp_path: Path, capsys):
    folder = simulated_folder(tmp_path)
    base = ["thresholds", str(folder), "--score", "attendance_rate", "--outcome", "withdrawn",
            "--n-boot", "40"]
    assert main([*base, "--out", str(tmp_path / "a"), "--cost-missed", "1e12",
                 "--cost-needless", "1e12", "--capacity", "50", "--cost-per-case", "1e12"]) == 0
    text = capsys.readouterr().out
    assert "inf" not in text and "cost-minimising" in text and "at capacity 50" in text
    # the same threshold as with costs 1 and 1: only their ratio matters
    assert main([*base, "--out", str(tmp_path / "b"), "--cost-missed", "1",
                 "--cost-needless", "1"]) == 0
    pick = [line.split("threshold")[1].split("flags")[0] for line in
            (text, capsys.readouterr().out) for line in line.splitlines()
            if line.startswith("cost-minimising")]
    assert pick[0] == pick[1]


@pytest.mark.parametrize("flags, message", [
    (["--capacity", "-1"], "--capacity must be a whole number from 0 to 2**53, got -1"),
    (["--staff-minutes", "600", "--minutes-per-case", "0"], "--minutes-per-case must be more"),
    (["--capacity", "5", "--staff-minutes", "600", "--minutes-per-case", "5"],
     "either --capacity or --staff-minutes"),
    (["--staff-minutes", "600"], "--minutes-per-case"),
    # the flag given is out of range: that first, not "give both"
    (["--minutes-per-case", "0"], "--minutes-per-case must be more than 0, got 0"),
    (["--staff-minutes", "1e9"], "--staff-minutes 1e+09: at most"),
    (["--suppress-below", "0"], "--suppress-below must be at least 10"),
    (["--suppress-below", "9"], "--suppress-below must be at least 10"),
    (["--n-boot", "0"], "--n-boot must be from 40 to 100,000 (got 0)"),
    # fewer than 40 cannot give a 95% percentile interval (1 did not contain the AUC)
    (["--n-boot", "39"], "--n-boot must be from 40 to 100,000 (got 39): a 95% percentile"),
    (["--n-boot", "1000000000"], "--n-boot must be from 40 to 100,000"),  # never finished
])
@pytest.mark.parametrize("simulated", [False, True])
def test_bad_flags_fail_before_any_output_or_folder(tmp_path: Path, capsys, flags, message,
                                                    simulated):
    """--capacity -1 printed the whole report before the error (naming 'capacity_cases') and
    left the --out parents created; on real data the header came before --suppress-below 0."""
    if simulated:
        path = simulated_folder(tmp_path)
    else:
        path = tmp_path / "d.csv"
        students(n_schools=2, n=30).to_csv(path, index=False)
    out_dir = tmp_path / "new" / "x" / "y" / "out"
    assert main(["thresholds", str(path), "--score", "attendance_rate", "--outcome", "withdrawn",
                 "--n-boot", "40", "--out", str(out_dir), *flags]) == 2
    out, err = capsys.readouterr()
    assert out == "" and message in err
    assert "capacity_cases" not in err and "minutes_per_case" not in err
    assert not (tmp_path / "new").exists()


def test_a_report_that_fails_part_way_leaves_no_new_folder(tmp_path: Path, capsys,
                                                           monkeypatch):
    from srmsim.commands import thresholds
    from srmsim.errors import DataError

    def broken(*args, **kwargs):
        raise DataError("failed part way")

    monkeypatch.setattr(thresholds, "_report", broken)
    folder = simulated_folder(tmp_path)
    (tmp_path / "kept").mkdir()
    for out in (tmp_path / "new" / "x" / "out", tmp_path / "kept" / "out"):
        assert main(["thresholds", str(folder), "--score", "attendance_rate", "--outcome",
                     "withdrawn", "--out", str(out)]) == 2
        assert "failed part way" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    assert (tmp_path / "kept").is_dir() and not any((tmp_path / "kept").iterdir())


def test_capacity_beyond_every_student_says_so(tmp_path: Path, capsys):
    """'99080 places unused because 0 students tie at the boundary' blamed ties that are
    not there: everyone is flagged."""
    folder = simulated_folder(tmp_path)
    assert main(["thresholds", str(folder), "--score", "attendance_rate", "--outcome",
                 "withdrawn", "--n-boot", "40", "--capacity", "100000"]) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("at capacity")]
    assert "tie at the boundary" not in line
    assert "99,640 places unused: every one of the 360 students" in line


def test_an_outcome_that_never_occurs_gets_honest_lines(tmp_path: Path, capsys):
    """With no positives 'best F1' named an arbitrary row (F1 0.000), and --by was reported at
    the median of the grid (0.15, not in it) with no group at all."""
    folder = simulated_folder(tmp_path, students(n_schools=3).assign(withdrawn=False))
    assert main(["thresholds", str(folder), "--score", "attendance_rate", "--outcome",
                 "withdrawn", "--thresholds", "0.1", "0.2", "--by", "fsm"]) == 0
    out = capsys.readouterr().out
    assert "no student has the outcome: precision, recall and F1 are undefined" in out
    assert "best F1" not in out and "0.15" not in out
    (line,) = [x for x in out.splitlines() if x.startswith("by fsm")]
    assert line.startswith("by fsm at threshold 0.1: no: flag 0.0%") and "yes: " in line


def test_no_threshold_flagging_a_positive_has_no_best_f1(tmp_path: Path, capsys):
    folder = simulated_folder(tmp_path)
    assert main(["thresholds", str(folder), "--score", "attendance_rate", "--outcome",
                 "withdrawn", "--n-boot", "40", "--thresholds", "0.01", "0.02"]) == 0
    out = capsys.readouterr().out
    assert "best F1: none: no threshold of the table flags a student with the outcome" in out


@pytest.mark.once
@pytest.mark.parametrize("real", [False, True])
def test_printed_report_has_units_and_plain_words(tmp_path: Path, capsys, real: bool):
    """Costs were printed as '1795800.00' (no unit, no separators), a group gap in flag rates
    as a fraction beside rates in %, yes/no groups as Python's True / False and counts as
    'tp 1087, fp 2108'."""
    df = students(n_schools=15)  # 1,800 students: counts past 1,000 in the group lines too
    if real:
        path = tmp_path / "export.csv"
        df.to_csv(path, index=False)
    else:
        path = simulated_folder(tmp_path, df)
    assert main(["thresholds", str(path), "--score", "attendance_rate", "--outcome", "withdrawn",
                 "--by", "fsm", "--capacity", "300", "--cost-per-case", "0.4", "--n-boot", "40",
                 "--cost-missed", "2000", "--cost-needless", "300"]) == 0
    out = capsys.readouterr().out
    lines = {line.split(" ")[0]: line for line in out.splitlines()}
    assert "missed £2,000, needless £300)" in lines["cost-minimising"]
    cost = re.search(r", cost of the errors \(missed \+ needless\) £(\d{1,3}(?:,\d{3})*(?:\.\d\d)?), ",
                     lines["cost-minimising"])
    assert cost and float(cost[1].replace(",", "")) >= 1000
    assert "cost of the cases £" in lines["at"] and lines["at"].startswith("at capacity 300 students")
    assert " with the outcome, " in lines["best"] and "tp " not in out and "fp " not in out
    assert "by fsm at threshold" in out and "no: flag " in lines["by"]
    assert "yes: flag " in lines["by"] and "True" not in out and "False" not in out
    gap = lines["by"].split("(highest group minus lowest): flag rate ")[1].split(",")[0]
    assert gap.endswith(" pp") and float(gap.removesuffix(" pp")) >= 0
    # precision and recall are shares of students, printed as the flag rate is (they were
    # '0.808' beside '21.3%'); the recall gap in pp; counts of 1,000+ with separators
    rate = r"\d{1,3}\.\d%"
    for first in ("best", "at", "cost-minimising"):
        assert re.search(rf"precision {rate}, recall {rate}", lines[first]), lines[first]
    assert re.search(r"flags [\d,]+ students", lines["at"]), lines["at"]
    assert re.search(r"flags [\d,]+ students", lines["cost-minimising"])
    assert re.search(rf"no: flag {rate} recall {rate} \(n \d,\d{{3}}", lines["by"]), lines["by"]
    assert re.search(r"gaps \(highest group minus lowest\): flag rate -?\d+\.\d pp, recall -?\d+\.\d pp$", lines["by"])
    assert re.search(r"\(\d{3} of 1,800\)$", lines["outcome"]), lines["outcome"]


def test_one_school_file_bootstraps_students_and_says_so(tmp_path: Path, capsys):
    """A school analysing its own export (one value in 'school') got a zero-width AUC
    interval from a bootstrap over its one school."""
    path = tmp_path / "export.csv"
    students(n_schools=1, n=600).to_csv(path, index=False)
    assert main(["thresholds", str(path), "--score", "attendance_rate", "--outcome",
                 "withdrawn", "--n-boot", "50"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("AUC"))
    assert line.endswith("bootstrap over rows (iid), 50 replicates, 0 undefined (one 'school' "
                         "only: bootstrap resamples students)"), line
    low, high = map(float, re.search(r"CI (\S+)-(\S+)\)", line).groups())
    assert low < high


def test_a_by_column_of_many_groups_prints_the_groups_its_figure_draws(tmp_path: Path, capsys):
    """``--by`` on a column of 400 groups printed one line naming all 400; it names the first
    groups, as fairness.png draws them, and says how many more the CSV file has."""
    from srmsim.risk.plots import MAX_FAIRNESS_GROUPS

    df = students(n_schools=6, n=1000)
    # 25 groups of 240: each has 20+ students with and without the outcome (else withheld)
    df["form"] = [f"g{i % 25:02d}" for i in range(len(df))]
    path = tmp_path / "export.csv"
    df.to_csv(path, index=False)
    assert main(["thresholds", str(path), "--score", "attendance_rate", "--outcome",
                 "withdrawn", "--by", "form", "--n-boot", "40"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("by form "))
    shown = re.findall(r"\bg\d\d: flag", line)
    assert len(shown) == MAX_FAIRNESS_GROUPS
    assert f"and {25 - MAX_FAIRNESS_GROUPS} more groups in thresholds_by_group.csv" in line
    assert "gaps (highest group minus lowest): flag rate" in line
    table = pd.read_csv(tmp_path / "thresholds" / "thresholds_by_group.csv")
    assert table.loc[table["by"] == "form", "group"].nunique() == 25


@pytest.mark.parametrize("simulated", [True, False])
def test_the_capacity_line_shows_a_cost_only_when_one_is_given(tmp_path: Path, capsys,
                                                               simulated: bool) -> None:
    """Without --cost-per-case the capacity line read "cost £0", as if the cases were free
    (a newcomer's reading, 2026-12-06)."""
    if simulated:
        path = simulated_folder(tmp_path)
    else:
        path = tmp_path / "d.csv"
        students(n_schools=2, n=400).to_csv(path, index=False)
    base = ["thresholds", str(path), "--score", "attendance_rate", "--outcome", "withdrawn",
            "--n-boot", "40", "--capacity", "60"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("at capacity")]
    assert len(line) == 1 and "cost" not in line[0], line
    assert main([*base, "--out", str(tmp_path / "b"), "--cost-per-case", "150"]) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("at capacity")]
    assert len(line) == 1 and ", cost of the cases £" in line[0], line


def test_printed_thresholds_are_the_published_ones(tmp_path: Path, capsys):
    """Thresholds with five significant digits (scaled scores such as 105.55) were printed to
    four (105.5), a threshold thresholds.csv does not hold; given back as --thresholds it was
    "not published". Every threshold printed is one of the table's, as written there."""
    df = students()
    df["scaled"] = np.round(95 + 20 * df["attendance_rate"] + (df["uid"] % 7) * 0.0111, 2)
    path = tmp_path / "export.csv"
    df.to_csv(path, index=False)
    status = main(["thresholds", str(path), "--score", "scaled", "--outcome", "withdrawn",
                   "--by", "fsm", "--n-boot", "40", "--cost-missed", "10",
                   "--cost-needless", "1", "--out", str(tmp_path / "out")])
    assert status == 0
    out = capsys.readouterr().out
    printed = [float(t) for t in re.findall(r"threshold ([0-9.]+)", out)]
    assert len(printed) >= 3  # best F1, cost-minimising, by fsm
    table = pd.read_csv(tmp_path / "out" / "thresholds.csv")
    written = set(table["threshold"].astype(str))
    assert any(len(t.replace(".", "").lstrip("0")) >= 5 for t in written)  # the case at issue
    for t in re.findall(r"threshold ([0-9.]+)", out):
        assert t in written or float(t) in set(table["threshold"]), t


def test_best_f1_says_when_flagging_everyone_beats_every_threshold(tmp_path: Path, capsys):
    """Flags are strict (score < t), so no row of the table flags everyone: with a common
    outcome and a score that tells nothing, 'best F1' praised a row worse than flagging all."""
    rng = np.random.default_rng(3)
    n = 300
    useless = students(n_schools=3, n=100).assign(
        attendance_rate=rng.integers(0, 5, n) / 4, withdrawn=rng.random(n) < 0.7)
    folder = simulated_folder(tmp_path, useless)
    assert main(["thresholds", str(folder), "--score", "attendance_rate", "--outcome",
                 "withdrawn", "--n-boot", "40", "--out", str(tmp_path / "t")]) == 0
    out = capsys.readouterr().out
    p = useless["withdrawn"].mean()
    everyone = 2 * p / (1 + p)  # precision p, recall 1
    best = pd.read_csv(tmp_path / "t" / "thresholds.csv")["f1"].max()
    assert everyone > best
    assert (f"best of the table's thresholds only: flagging every one of the {n} students "
            f"would give F1 {everyone:.3f}") in out
    # a score that does tell: no such line
    (tmp_path / "good").mkdir()
    folder2 = simulated_folder(tmp_path / "good")
    assert main(["thresholds", str(folder2), "--score", "attendance_rate", "--outcome",
                 "withdrawn", "--n-boot", "40", "--out", str(tmp_path / "t2")]) == 0
    out = capsys.readouterr().out
    assert "best F1: threshold" in out and "flagging every one" not in out


@pytest.mark.parametrize("column", ["uid", "student_id", "id"])
def test_a_student_twice_is_refused(tmp_path: Path, capsys, column: str):
    """A file appended to itself counted every student twice (a band of 5 and 5 passed as 10
    and 10 on real data): a repeated student id is refused, naming rows, not the id."""
    df = students(n_schools=3).rename(columns={"uid": column})
    df = pd.concat([df, df.iloc[[7]]], ignore_index=True)
    path = tmp_path / "twice.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "out"
    assert main(["thresholds", str(path), "--score", "attendance_rate", "--outcome",
                 "withdrawn", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    # rows as the file numbers its lines (the header is line 1)
    assert (f"twice.csv: column '{column}' (student id) repeats: row {len(df) + 1} has the id "
            "of row 9") in err
    assert "Traceback" not in err and not out.exists()


def test_a_group_named_like_missing_names_the_file(tmp_path: Path, capsys):
    df = students(n_schools=3).astype({"sex": object})
    df.loc[3, "sex"] = "(missing)"
    path = tmp_path / "labels.csv"
    df.to_csv(path, index=False)
    assert main(["thresholds", str(path), "--score", "attendance_rate", "--outcome",
                 "withdrawn", "--by", "sex"]) == 2
    assert capsys.readouterr().err.startswith(f"srmsim: error: {path}: column 'sex'")


def test_many_given_thresholds_not_published_are_counted_not_listed(tmp_path: Path, capsys):
    """Real data: 100,000 thresholds given printed every one not published on one 3 MB line."""
    path = tmp_path / "export.csv"
    students(n_schools=6, n=300).to_csv(path, index=False)
    given = [f"{0.5 + i / 4000:.6f}" for i in range(2000)]
    assert main(["thresholds", str(path), "--score", "attendance_rate", "--outcome",
                 "withdrawn", "--n-boot", "40", "--thresholds", *given]) == 0
    out = capsys.readouterr().out
    (note,) = [x for x in out.splitlines() if "not published" in x]
    assert len(note) < 600 and re.search(r"and [\d,]+ more not published", note)


def test_real_data_capacity_beyond_the_students_says_so(tmp_path: Path, capsys):
    path = tmp_path / "export.csv"
    students(n_schools=6, n=300).to_csv(path, index=False)
    assert main(["thresholds", str(path), "--score", "attendance_rate", "--outcome",
                 "withdrawn", "--n-boot", "40", "--capacity", "100000"]) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("at capacity")]
    assert ("the capacity is enough for every one of the 1,800 students with a score and an "
            "outcome, but no published threshold flags them all") in line


def test_out_of_memory_names_what_to_make_smaller(tmp_path: Path, capsys, monkeypatch):
    """A table has a row for each group and threshold: 2,000 schools x 50,000 given thresholds
    ran out of memory, and the hint named only fewer rows or a smaller --n-boot."""
    import srmsim.risk.thresholds

    def boom(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(srmsim.risk.thresholds, "_flag_counts", boom)
    path = tmp_path / "export.csv"
    students().to_csv(path, index=False)
    out = tmp_path / "out"
    assert main(["thresholds", str(path), "--score", "attendance_rate", "--outcome", "withdrawn",
                 "--by", "school", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("srmsim: error: out of memory in 'srmsim thresholds'"), err
    assert "fewer --thresholds or --by groups" in err and "Traceback" not in err
    assert not out.exists()


def _missing_written_as(tmp_path: Path, score: str, outcome: str) -> Path:
    """720 students, 12 without a score (non-FSM girls without the outcome) and 12 others
    without an outcome, those cells written as given."""
    df = students().astype({"attendance_rate": object, "withdrawn": object})
    blank = df.index[~df["withdrawn"].astype(bool) & ~df["fsm"] & (df["sex"] == "F")][:12]
    df.loc[blank, "attendance_rate"] = score
    df.loc[df.index.difference(blank)[:12], "withdrawn"] = outcome
    df["withdrawn"] = df["withdrawn"].map(lambda v: int(v) if isinstance(v, bool) else v)
    path = tmp_path / f"export{len(list(tmp_path.iterdir()))}.csv"
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(("score", "outcome"), [(" nan ", " NA"), ("  ", "NULL "),
                                                (" N/A", " #N/A ")])
def test_missing_values_with_spaces_are_missing_as_import_reads_them(tmp_path: Path, capsys,
                                                                     score, outcome):
    """' nan ' in the score was refused as text while 'NaN' was a missing row: a cell that
    import reads as missing (trimmed, one of its missing values) is missing here too, and
    counted as such."""
    argv = ["--score", "attendance_rate", "--outcome", "withdrawn", "--n-boot", "40"]
    plain = _missing_written_as(tmp_path, "NaN", "NaN")
    assert main(["thresholds", str(plain), *argv, "--out", str(tmp_path / "a")]) == 0
    expected = capsys.readouterr().out
    assert "rows: 720; used 696; missing score 12; missing outcome 12" in expected
    padded = _missing_written_as(tmp_path, score, outcome)
    assert main(["thresholds", str(padded), *argv, "--out", str(tmp_path / "b")]) == 0
    assert capsys.readouterr().out.replace(str(padded), "F").replace(str(tmp_path / "b"), "O") \
        == expected.replace(str(plain), "F").replace(str(tmp_path / "a"), "O")


def test_a_spelling_import_keeps_as_text_is_still_refused(tmp_path: Path, capsys):
    """Not broader than import: ' -nan ' is not one of its missing values."""
    path = _missing_written_as(tmp_path, " -nan ", "NaN")
    assert main(["thresholds", str(path), "--score", "attendance_rate", "--outcome",
                 "withdrawn", "--out", str(tmp_path / "o")]) == 2
    assert "score must be numeric; row " in capsys.readouterr().err


def test_rows_a_cell_wider_than_the_header_are_not_read_shifted(tmp_path: Path, capsys):
    """Every row ending in a comma (a spreadsheet's empty last column) made pandas take the
    first column for the index and move every value one column left: the outcome was read as
    the score. Empty cells beyond the header are dropped, and the table reads as without them;
    a value beyond the header is refused naming its row, nothing written."""
    argv = ["--score", "attendance_rate", "--outcome", "withdrawn", "--n-boot", "40"]
    plain = _missing_written_as(tmp_path, "NaN", "NaN")
    assert main(["thresholds", str(plain), *argv, "--out", str(tmp_path / "a")]) == 0
    expected = capsys.readouterr().out
    lines = plain.read_text().splitlines()
    trailing = tmp_path / "trailing.csv"
    trailing.write_text("\n".join([lines[0], *(line + "," for line in lines[1:])]) + "\n")
    assert main(["thresholds", str(trailing), *argv, "--out", str(tmp_path / "b")]) == 0
    assert capsys.readouterr().out.replace(str(trailing), "F").replace(str(tmp_path / "b"), "O") \
        == expected.replace(str(plain), "F").replace(str(tmp_path / "a"), "O")
    valued = tmp_path / "valued.csv"
    valued.write_text("\n".join([lines[0], *(line + ",7" for line in lines[1:])]) + "\n")
    assert main(["thresholds", str(valued), *argv, "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert f"{valued}: row 2 has a value beyond the header's" in err, err
    assert "Traceback" not in err and not (tmp_path / "c").exists()


def test_an_experiment_folder_is_named_with_what_to_give(tmp_path: Path, capsys):
    """An experiment's results folder was answered with a list of its files."""
    folder = tmp_path / "quickstart"
    (folder / "scenarios").mkdir(parents=True)
    (folder / "manifest.json").write_text('{"name": "quickstart", "baseline": "no_policy"}')
    (folder / "scenarios" / "no_policy.yaml").write_text("name: no_policy\n")
    (folder / "effects.csv").write_text("variant\n")
    argv = ["--score", "attendance_rate", "--outcome", "withdrawn"]
    assert main(["thresholds", str(folder), *argv]) == 2
    err = capsys.readouterr().err
    assert (f"{folder}: an experiment's results folder (manifest.json), not a run's: "
            "experiments keep no per-student table") in err
    assert f"srmsim run {folder / 'scenarios' / 'no_policy.yaml'} --out DIR, then give DIR" in err
    assert "effects.csv" not in err and not (folder / "thresholds").exists()
    # a run's folder inside it: that run's table is named
    run = folder / "one_run"
    run.mkdir()
    students(n_schools=2, n=30).to_parquet(run / "students.parquet")
    assert main(["thresholds", str(folder), *argv]) == 2
    assert (f"give a run's students.parquet, such as {run / 'students.parquet'}"
            in capsys.readouterr().err)
