"""``srmsim run`` and ``srmsim validate`` from the command line: files, columns, summary, errors."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from srmsim import __version__
from srmsim.cli import main
from srmsim.scenario import load_scenario

STUDENT_COLUMNS = {
    "uid", "school", "year_group", "fsm", "sen", "sex", "attendance_rate", "persistent_absent",
    "severe_absent", "reading_gap_start", "reading_gap_end", "attainment", "withdrawn",
}
WEEKLY_COLUMNS = {
    "run_week", "year", "week", "school", "enrolled", "sessions_possible", "sessions_attended",
    "attendance_rate", "incidents", "lms_logins", "assignments_set", "assignments_on_time",
    "withdrawals",
}
SUMMARY_KEYS = {
    "scenario", "scenario_hash", "seed", "srmsim_version", "schools", "years", "weeks", "students",
    "attendance", "persistent_absence", "persistent_absence_fsm", "persistent_absence_non_fsm",
    "severe_absence", "reading_gap_start", "reading_gap_end", "mean_attainment", "withdrawals",
}


@pytest.fixture(scope="module")
def default_run(tmp_path_factory, default_scenario_path: Path) -> tuple[Path, str]:
    """``srmsim run scenarios/default.yaml --out DIR`` once for the module; (DIR, stdout)."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("default_run") / "out"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        status = main(["run", str(default_scenario_path), "--out", str(out)])
    assert status == 0
    return out, buffer.getvalue()


def test_run_writes_the_output_files(default_run) -> None:
    out, _ = default_run
    for name in ("students.parquet", "weekly.parquet", "summary.json", "scenario.yaml"):
        assert (out / name).is_file(), name
    assert not list(out.glob(".*"))  # no temporary files left behind


def test_students_parquet_has_one_row_per_student_and_the_required_columns(default_run) -> None:
    out, _ = default_run
    s = pd.read_parquet(out / "students.parquet")
    assert STUDENT_COLUMNS <= set(s.columns)
    assert s["uid"].is_unique
    assert 7000 < len(s) < 13000  # 10 schools x 5 year groups x about 180
    assert set(s["year_group"]) == {7, 8, 9, 10, 11}
    assert s["fsm"].dtype == bool and s["persistent_absent"].dtype == bool
    assert s["attendance_rate"].between(0, 1).all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["students"] == len(s)


def test_weekly_parquet_is_one_row_per_school_per_week(default_run) -> None:
    out, _ = default_run
    w = pd.read_parquet(out / "weekly.parquet")
    assert WEEKLY_COLUMNS <= set(w.columns)
    assert len(w) == 10 * 39
    assert not w.duplicated(["run_week", "school"]).any()
    assert (w["sessions_possible"] == 10 * w["enrolled"]).all()


def test_summary_json_has_the_headline_and_provenance(default_run, default_scenario_path) -> None:
    out, _ = default_run
    summary = json.loads((out / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary)
    scenario = load_scenario(default_scenario_path)
    assert summary["seed"] == scenario.seed
    assert summary["srmsim_version"] == __version__
    assert summary["scenario_hash"] == scenario.digest()
    assert (summary["schools"], summary["years"], summary["weeks"]) == (10, 1, 39)
    assert 0.15 <= summary["persistent_absence"] <= 0.25
    assert summary["persistent_absence_fsm"] > summary["persistent_absence_non_fsm"]


def test_resolved_scenario_reloads_to_the_same_hash(default_run) -> None:
    out, _ = default_run
    summary = json.loads((out / "summary.json").read_text())
    resolved = load_scenario(out / "scenario.yaml")
    assert resolved.digest() == summary["scenario_hash"]
    assert "fsm_rate" in (out / "scenario.yaml").read_text()  # fully resolved, not the input


def test_run_prints_a_short_summary_table(default_run) -> None:
    out, printed = default_run
    for label in ("students", "attendance", "persistent absence, FSM",
                  "persistent absence, non-FSM", "mean reading gap", "withdrawals"):
        assert label in printed
    # every count says what it counts, as the other rows give their unit
    assert re.search(r"^ *withdrawals +\d[\d,]* students?$", printed, re.M), printed
    assert f"wrote {out}/" in printed


def test_summary_counts_name_their_unit() -> None:
    from srmsim.results import summary_rows

    s = {"students": 2400, "attendance": 0.9, "persistent_absence": 0.2,
         "persistent_absence_fsm": 0.3, "persistent_absence_non_fsm": 0.1, "severe_absence": 0.01,
         "reading_gap_start": 10.0, "reading_gap_end": 8.0, "withdrawals": 1,
         "interventions": 1250, "staff_hours": 10.0, "cost": 100.0}
    rows = dict(summary_rows(s, policy=True))
    assert rows["withdrawals"] == "1 student"
    assert rows["interventions started"] == "1,250 interventions"
    assert dict(summary_rows({**s, "withdrawals": 12}, policy=False))["withdrawals"] == \
        "12 students"


def test_seed_option_overrides_the_scenario_seed(tmp_path: Path, default_scenario_path: Path,
                                                 default_run) -> None:
    out = tmp_path / "seed5"
    assert main(["run", str(default_scenario_path), "--seed", "5", "--out", str(out),
                 "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 5
    other = pd.read_parquet(default_run[0] / "students.parquet")
    assert not pd.read_parquet(out / "students.parquet").equals(other)


def test_same_seed_same_files_through_the_cli(tmp_path: Path) -> None:
    scenario = tmp_path / "small.yaml"
    scenario.write_text("name: small\ntrust:\n  n_schools: 2\n  students_per_year_group: 15\n")
    for d in ("a", "b"):
        assert main(["run", str(scenario), "--seed", "3", "--out", str(tmp_path / d),
                     "--quiet"]) == 0
    for name in ("students.parquet", "weekly.parquet", "history.parquet"):
        digests = {hashlib.sha256((tmp_path / d / name).read_bytes()).hexdigest() for d in "ab"}
        assert len(digests) == 1, name


def test_history_and_action_effect_columns_are_documented_with_their_units(tmp_path: Path
                                                                           ) -> None:
    """eff_absence & co. appeared in history.parquet and the student table with no word on what
    they are or in what unit; every history column is now named in docs/outputs.md."""
    from srmsim.students import StudentTable

    page = (Path(__file__).resolve().parents[1] / "docs" / "outputs.md").read_text()
    scenario = tmp_path / "small.yaml"
    scenario.write_text("name: small\ntrust:\n  n_schools: 1\n  students_per_year_group: 5\n")
    assert main(["run", str(scenario), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    history = pd.read_parquet(tmp_path / "o" / "history.parquet")
    assert "eff_absence" in history.columns
    for column in history.columns:
        assert f"`{column}`" in page, column
    effects = [c for c in StudentTable.__annotations__ if c.startswith("eff_")]
    assert len(effects) == 4
    for column in effects:
        row = next(line for line in page.splitlines() if line.startswith(f"| `{column}` |"))
        unit = row.split("|")[2].strip()
        assert unit and unit != "-", column


def test_run_without_a_scenario_uses_the_default(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--quiet"]) == 0
    assert (tmp_path / "out" / "default" / "students.parquet").is_file()
    assert "wrote out/default/" in capsys.readouterr().out


def test_negative_seed_is_a_user_error(tmp_path: Path, default_scenario_path, capsys) -> None:
    for seed in ("-1", str(2**63)):  # never wrapped into 64 bits
        with pytest.raises(SystemExit) as info:  # argparse's usage error
            main(["run", str(default_scenario_path), "--seed", seed, "--out",
                  str(tmp_path / "x")])
        assert info.value.code == 2
        assert "--seed: must be from 0 to 2**63 - 1" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_validate_checks_without_running(tmp_path: Path, default_scenario_path, capsys) -> None:
    assert main(["validate", str(default_scenario_path)]) == 0
    assert "valid scenario 'default'" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("trust:\n  year_groups: [7, 9]\n")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: trust.year_groups:" in err and "consecutive" in err


def test_validate_counts_the_schools_of_the_records(tmp_path: Path, capsys) -> None:
    """A scenario built from records (two schools) with ``trust.n_schools: 10`` left in it was
    "valid scenario 'r' (10 schools, ...)": the run builds the records' two schools and
    ignores n_schools; the line now counts the records' schools."""
    from conftest import two_school_records

    path = tmp_path / "r.yaml"
    path.write_text(f"name: r\nyears: 1\ntrust:\n  n_schools: 10\n  year_groups: [7, 8]\n"
                    f"population:\n  records: {two_school_records(tmp_path)}\n")
    assert main(["validate", str(path)]) == 0
    assert "valid scenario 'r' (2 schools from its records, 1 year, policy: no)" in \
        capsys.readouterr().out


def test_counts_in_printed_lines_read_as_english(tmp_path: Path, capsys) -> None:
    """'1 schools, 1 year(s)' and '1 rows' were printed; one helper now words every count."""
    from srmsim.labels import agree, plural

    assert [plural(n, "school") for n in (0, 1, 2, 2400)] == \
        ["0 schools", "1 school", "2 schools", "2,400 schools"]
    assert plural(1, "category", "categories") == "1 category"
    assert plural(3, "category", "categories") == "3 categories"
    assert (agree(1, "has", "have"), agree(5, "has", "have")) == ("has", "have")
    one = tmp_path / "one.yaml"
    one.write_text("name: one\nyears: 1\ntrust:\n  n_schools: 1\n  students_per_year_group: 5\n")
    assert main(["validate", str(one)]) == 0
    assert "valid scenario 'one' (1 school, 1 year, policy: no)" in capsys.readouterr().out
    assert main(["run", str(one), "--out", str(tmp_path / "o")]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("one: 1 school, 39 weeks, seed ")
    two = tmp_path / "two.yaml"
    two.write_text("name: two\nyears: 2\ntrust:\n  n_schools: 2\n  students_per_year_group: 5\n")
    assert main(["validate", str(two)]) == 0
    assert "(2 schools, 2 years, policy: no)" in capsys.readouterr().out


def test_run_summary_says_n_a_for_a_group_with_no_students(tmp_path: Path, capsys) -> None:
    """A trust with no FSM students printed 'persistent absence, FSM  nan%'."""
    none = tmp_path / "none.yaml"
    none.write_text("name: none\ntrust:\n  n_schools: 1\n  students_per_year_group: 5\n"
                    "population:\n  fsm_rate: 0\n")
    assert main(["run", str(none), "--out", str(tmp_path / "o")]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"persistent absence, FSM +n/a\n", printed)
    assert re.search(r"mean reading gap \(below 0 = behind\), start -> end +-?\d+\.\d -> -?\d+\.\d months\n",
                     printed)
    assert "nan" not in printed
    from srmsim.results import request_rows

    stream = {"backlog_start": 0, "arrivals": 3, "completed": 3, "dropped": 0, "open_at_end": 0,
              "median_days": 2.0, "p90_days": None, "p99_days": None,
              "throughput_per_week": 1.5, "deadline_days": 10, "within_deadline": float("nan"),
              "utilisation_clerk": 0.456, "utilisation_officer": float("nan")}
    assert dict(request_rows("s", stream)) == {
        "s: requests (backlog at start + arrivals)": "0 + 3",
        "s: completed / dropped / open at end": "3 / 0 / 0",
        "s: waiting time median / 90th / 99th percentile": "2.0 days / - / -",
        "s: throughput": "1.5 requests a week", "s: completed within 10 days": "n/a",
        "s: staff utilisation (clerk)": "45.6%", "s: staff utilisation (officer)": "n/a"}


def test_every_command_help_reads_as_printed(capsys) -> None:
    """`srmsim compare --help` said '95%% CI': a description is printed as written."""
    from srmsim.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.choices)
    for name in sub.choices:
        with pytest.raises(SystemExit):
            main([name, "--help"])
        printed = capsys.readouterr().out
        assert "%%" not in printed and "%(" not in printed, name
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    assert "95% simulation interval" in capsys.readouterr().out


def test_run_through_a_real_process(tmp_path: Path, default_scenario_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "srmsim.cli", "run", str(default_scenario_path), "--seed", "7",
         "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "persistent absence, FSM" in proc.stdout
    assert "Traceback" not in proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 7
    assert STUDENT_COLUMNS <= set(pd.read_parquet(out / "students.parquet").columns)


def test_version_and_help(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and __version__ in capsys.readouterr().out
    assert main([]) == 2  # no command: help and status 2
    usage = capsys.readouterr().out
    assert "run" in usage and "validate" in usage


def test_validate_knows_experiments_and_trials(capsys, repo_root) -> None:
    from srmsim.cli import main

    assert main(["validate", str(repo_root / "experiments" / "quickstart.yaml")]) == 0
    assert main(["validate", str(repo_root / "experiments" / "trial_reading.yaml")]) == 0
    out = capsys.readouterr().out
    assert "valid experiment 'quickstart'" in out and "valid trial 'trial_reading'" in out


@pytest.mark.parametrize(("trial", "summary"), [
    ("trial_reading.yaml", ["valid trial 'trial_reading' (2 arms: with the policy and without; "
                            "100 replications)",
                            "design: students randomised (50% treated, within schools); "
                            "outcome Reading gap (flagged students, adjusted for "
                            "reading_gap_start); analysis ols, se hc1"]),
    ("trial_stepped_wedge.yaml", ["valid trial 'trial_stepped_wedge' (each school's weeks "
                                  "before and after it crosses over to the policy; "
                                  "100 replications)",
                                  "design: stepped wedge: 3 groups of schools cross over every "
                                  "9 weeks; outcome Attendance (all students); "
                                  "analysis group_time"])])
def test_validate_summarises_a_trials_design(capsys, repo_root, trial, summary) -> None:
    """A trial got "valid trial 'x'" alone, where an experiment or an optimisation got its
    design: its arms, randomisation, replications, outcome and analysis are said too."""
    from srmsim.cli import main

    assert main(["validate", str(repo_root / "experiments" / trial)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": ", 1)[1] if line.startswith(str(repo_root)) else line
            for line in lines[:2]] == summary
