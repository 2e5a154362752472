"""Empty input files across every command that reads a file the user names: exit 2, one line
naming the file and the kind of file expected, no traceback, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from srmsim.cli import main

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
EMPTY_TEXTS = ["", "# only a comment\n", "null\n", "---\n", "~\n"]


def _refused(argv: list[str], capsys, line: str, out: Path | None = None) -> None:
    assert main(argv) == 2
    printed, err = capsys.readouterr()
    assert printed == "" and err.startswith(f"srmsim: error: {line}"), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    if out is not None:
        assert not out.exists()


@pytest.mark.parametrize("text", EMPTY_TEXTS)
@pytest.mark.parametrize("command,kind", [("experiment", "experiment"), ("trial", "trial"),
                                          ("optimise", "optimisation")])
def test_an_empty_study_file_is_refused_naming_its_kind(tmp_path: Path, capsys, text: str,
                                                       command: str, kind: str) -> None:
    """Was: "an experiment must be a mapping of keys to values"."""
    path = tmp_path / "study.yaml"
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    _refused([command, str(path), "--out", str(out), "--quiet"], capsys,
             f"{path}: is empty: no {kind} keys\n", out)


@pytest.mark.parametrize("text", EMPTY_TEXTS)
def test_validate_of_an_empty_file_names_no_single_kind(tmp_path: Path, capsys, text: str
                                                       ) -> None:
    """Was: an empty experiment file was told it had "no scenario keys (give no file for the
    built-in default trust)", which validate does not allow."""
    path = tmp_path / "experiment.yaml"
    path.write_text(text, encoding="utf-8")
    _refused(["validate", str(path)], capsys,
             f"{path}: is empty: no scenario, experiment, trial or optimisation keys\n")


@pytest.mark.parametrize("kind,text", [
    ("experiment", "name: x\nscenario: empty.yaml\nbaseline: a\nvariants: {a: {}, b: {}}\n"),
    ("trial", "name: t\nscenario: empty.yaml\nrandomise: {unit: students}\n"
              "outcome: reading_gap_end\n"),
])
def test_a_study_naming_an_empty_scenario_gives_no_default_trust_hint(
        tmp_path: Path, capsys, kind: str, text: str) -> None:
    """The study's ``scenario:`` key has no default: "give no file for the built-in default
    trust" was wrong there. ``srmsim run`` keeps the hint (it runs the default with no file)."""
    (tmp_path / "empty.yaml").write_text("", encoding="utf-8")
    study = tmp_path / "study.yaml"
    study.write_text(text, encoding="utf-8")
    for argv in (["validate", str(study)], [kind, str(study), "--out", str(tmp_path / "o")]):
        assert main(argv) == 2
        _, err = capsys.readouterr()
        assert err == (f"srmsim: error: {study}: scenario: {tmp_path / 'empty.yaml'}: is empty: "
                       "no scenario keys\n"), err
    assert not (tmp_path / "o").exists()
    assert main(["run", str(tmp_path / "empty.yaml"), "--out", str(tmp_path / "r")]) == 2
    assert "(give no file for the built-in default trust)" in capsys.readouterr().err


@pytest.mark.parametrize("text", EMPTY_TEXTS)
def test_an_empty_mapping_file_is_refused_not_read_as_no_mapping(tmp_path: Path, capsys,
                                                                 text: str) -> None:
    """Was: an empty --mapping imported the files as if no mapping were given (exit 0)."""
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(text, encoding="utf-8")
    out = tmp_path / "ds"
    _refused(["data", "import", "--mapping", str(mapping), "--students",
              str(SAMPLE / "students.csv"), "--out", str(out)], capsys,
             f"{mapping}: is empty: no mapping keys (give no --mapping", out)


@pytest.mark.parametrize("table", ["students", "observations"])
@pytest.mark.parametrize("tail", ["", "\n\n"])
def test_a_header_only_export_is_refused(tmp_path: Path, capsys, table: str, tail: str) -> None:
    """Was: a students file of column names only wrote a dataset of 0 students (exit 0 with
    an observations file of column names only too), and an observations file of column names
    only a dataset of 0 observations."""
    files = {"students": SAMPLE / "students.csv", "observations": SAMPLE / "observations.csv"}
    header = files[table].read_text(encoding="utf-8").splitlines()[0]
    cut = tmp_path / f"{table}.csv"
    cut.write_text(header + "\n" + tail, encoding="utf-8")
    files[table] = cut
    args = ["--students", str(files["students"]), "--observations", str(files["observations"])]
    for action in ("import", "validate"):
        out = tmp_path / action
        _refused(["data", action, *args, "--out", str(out), "--allow-rejects"], capsys,
                 f"{cut}: has column names but no rows: no {table} to read", out)


@pytest.mark.parametrize(("text", "says"), [
    ("", "the file is empty (no header row)"),
    ("\n", "row 1, the header, is empty"),
    ("\n\nscore,outcome\n1,0\n", "row 1, the header, is empty")])
def test_thresholds_of_a_csv_with_no_header_row(tmp_path: Path, capsys, text: str,
                                                says: str) -> None:
    """Was: "cannot read (EmptyDataError: No columns to parse from file)". Said as `srmsim
    data import` says it (one reader)."""
    path = tmp_path / "scores.csv"
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    _refused(["thresholds", str(path), "--score", "score", "--outcome", "outcome",
              "--out", str(out)], capsys, f"{path}: {says}", out)


def test_json_dumps_writes_numpy_arrays_as_lists() -> None:
    """Was: a TypeError ("ndarray is not JSON serializable"), or with ``default=str`` the
    array's abbreviated print."""
    from srmsim.outputs import json_dumps

    big = np.arange(2000, dtype=np.int64)
    data = {"a": np.array([0.5, np.nan, -np.inf], dtype=np.float32), "b": big,
            "c": [np.array([[True, False]])], "d": np.array(3)}
    for kwargs in ({}, {"default": str}):
        assert json.loads(json_dumps(data, **kwargs)) == {
            "a": [0.5, None, None], "b": list(range(2000)), "c": [[[True, False]]], "d": 3}


def test_an_optimisation_naming_an_empty_scenario(tmp_path: Path, capsys) -> None:
    """As an experiment's and a trial's: the file and its key named, no run-only hint."""
    shipped = Path(__file__).resolve().parents[1] / "experiments" / "optimise_attendance.yaml"
    (tmp_path / "empty.yaml").write_text("~\n", encoding="utf-8")
    study = tmp_path / "opt.yaml"
    study.write_text(shipped.read_text(encoding="utf-8").replace(
        "../scenarios/attendance_escalation_small.yaml", "empty.yaml"), encoding="utf-8")
    out = tmp_path / "o"
    _refused(["optimise", str(study), "--out", str(out), "--quiet"], capsys,
             f"{study}: scenario: {tmp_path / 'empty.yaml'}: is empty: no scenario keys\n", out)


@pytest.mark.parametrize("text", EMPTY_TEXTS)
def test_dashboard_and_calibrate_refuse_an_empty_scenario(tmp_path: Path, capsys, text: str
                                                         ) -> None:
    """Both are refused before anything starts: no server, no fit, no --out."""
    path = tmp_path / "empty.yaml"
    path.write_text(text, encoding="utf-8")
    _refused(["dashboard", str(path), "--port", "1"], capsys, f"{path}: is empty: no scenario "
             "keys\n")
    out, data = tmp_path / "fit", tmp_path / "dataset"
    data.mkdir()
    _refused(["calibrate", "--out", str(out), "--scenario", str(path), "--quiet",
              str(data)], capsys, f"{path}: is empty: no scenario keys (give no file", out)


@pytest.mark.parametrize("text,line", [
    ("", "the arrivals file is empty: it needs a 'day' column"),
    ("\n", "the arrivals file is empty: it needs a 'day' column"),
    ("day\n", "has a 'day' column but no rows: no arrivals"),
    ("day\n\n\n", "has a 'day' column but no rows: no arrivals"),
])
def test_an_arrivals_file_with_no_days_is_refused(tmp_path: Path, capsys, text: str,
                                                  line: str) -> None:
    """Was: an empty file "needs a numeric 'day' column (No columns to parse from file)", and
    a file of the header only ran the stream with no arrivals (exit 0), as if none were due."""
    (tmp_path / "arrivals.csv").write_text(text, encoding="utf-8")
    scenario = tmp_path / "s.yaml"
    scenario.write_text("trust: {n_schools: 0}\nrequests:\n  desk:\n    arrivals: {file: "
                        "arrivals.csv}\n    steps: [{name: a, role: clerk, minutes: 10}]\n"
                        "    staff: {clerk: {staff: 1}}\n", encoding="utf-8")
    out = tmp_path / "r"
    # named under its scenario key, as validate names it
    _refused(["run", str(scenario), "--out", str(out), "--quiet"], capsys,
             f"{scenario}: requests.desk.arrivals.file: {tmp_path / 'arrivals.csv'}: {line}", out)


def test_compare_reads_a_run_without_detail_digests_that_report_refuses(tmp_path: Path,
                                                                         capsys) -> None:
    """As docs/outputs.md says: the digests cover the detail files, which report reads and
    compare does not; compare's effects are those of the intact folder."""
    import pandas as pd
    import pyarrow.parquet as pq

    scenario = Path(__file__).resolve().parents[1] / "scenarios" / \
        "attendance_escalation_small.yaml"
    study = tmp_path / "tiny.yaml"
    study.write_text(f"name: tiny\nscenario: {scenario}\nbaseline: none\nreplications: 2\n"
                     "seed: 3\nvariants:\n  none: {policy: null}\n  pol: {}\n", encoding="utf-8")
    out = tmp_path / "res"
    assert main(["experiment", str(study), "--out", str(out), "--quiet", "--no-report",
                 "--set", "trust.n_schools=2", "--set", "trust.students_per_year_group=30"]) == 0
    intact = pd.read_csv(out / "effects.csv")
    run = out / "runs" / "pol" / "rep-00001.parquet"
    table = pq.read_table(run)
    assert table.column_names[-1] == "sha256:weekly"
    pq.write_table(table.drop(["sha256:weekly"]).replace_schema_metadata(table.schema.metadata),
                   run)
    (out / "effects.csv").unlink()
    capsys.readouterr()
    assert main(["compare", str(out)]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "effects.csv"), intact)
    capsys.readouterr()
    assert main(["report", str(out), "--out", str(tmp_path / "r.html")]) == 2
    assert "records no SHA-256 of its weekly detail file" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("records", ["empty", "header", "missing"])
@pytest.mark.parametrize("kind", ["scenario", "experiment"])
def test_validate_reads_the_records_a_study_names(tmp_path: Path, capsys, records: str,
                                                  kind: str) -> None:
    """`srmsim validate` of a scenario (or an experiment on one) whose ``population.records``
    file is empty, has only its header row, or is missing said "valid scenario" (exit 0) and
    left the error to `srmsim run`; now it is refused by the records file's name, nothing said
    valid."""
    path = tmp_path / f"{records}.csv"
    if records == "empty":
        path.write_text("", encoding="utf-8")
    elif records == "header":
        path.write_text((SAMPLE / "students.csv").read_text(encoding="utf-8").splitlines()[0]
                        + "\n", encoding="utf-8")
    scenario = tmp_path / "trust.yaml"
    scenario.write_text(f"name: trust\npopulation:\n  records: {path.name}\n", encoding="utf-8")
    target = scenario
    if kind == "experiment":
        target = tmp_path / "study.yaml"
        target.write_text("name: study\nscenario: trust.yaml\nreplications: 2\nbaseline: a\n"
                          "variants:\n  a: {}\n  b: {}\n", encoding="utf-8")
    # named by the study and its variant, then the records file (2026-12-06)
    which = "scenario 'trust'" if kind == "scenario" else "experiment 'study': variant 'a'"
    _refused(["validate", str(target)], capsys, f"{which}: population.records: {path}: ")
