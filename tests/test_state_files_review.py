"""Files srmsim wrote and reads back, edited or replaced (a helper's probe of 2026-12-06): an
experiment's run file with a true/false, impossible or text outcome, and a summary ledger
replaced by a dangling link. Each is refused naming the file, nothing written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_data_import import _imported_fake
from test_experiment import write_experiment

from srmsim.cli import main


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("exp")
    out = tmp / "out"
    assert main(["experiment", str(write_experiment(tmp, replications=3)), "--out", str(out),
                 "--workers", "1", "--quiet", "--no-report"]) == 0
    return out


@pytest.mark.parametrize(("value", "says"), [
    (True, "outcome 'attendance' is true/false (True), not a number"),
    (-5.0, "outcome 'attendance' is -5, not a share from 0 to 1"),
    ("abc", "outcome 'attendance' is not a number ('abc')"),
    (1e300, "outcome 'attendance' is infinite or too large (1e+300; beyond 1e+150)"),
])
def test_an_edited_outcome_in_a_run_file_is_refused_naming_it(experiment, tmp_path, capsys,
                                                              value, says):
    """True was read as 1.0 once the runs were put together (compare printed its effects, exit
    0, the verdict changed); -5 printed as a mean of -500%; text was named without its file."""
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(experiment, out)
    run = out / "runs" / "texts" / "rep-00000.parquet"
    pd.read_parquet(run).assign(attendance=[value]).to_parquet(run, index=False)
    capsys.readouterr()
    before = sorted(p.name for p in out.iterdir())
    assert main(["compare", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{run}: {says}" in err and "Traceback" not in err
    assert "to make that run again, delete it" in err
    assert sorted(p.name for p in out.iterdir()) == before


def test_a_ledger_replaced_by_a_dangling_link_publishes_nothing(tmp_path, capsys):
    """A published.json that is a link to nowhere read as no ledger: a summary the ledger
    refused was printed, and a fresh ledger written over the link."""
    out = _imported_fake(tmp_path, capsys)
    assert main(["data", "summary", str(out), "--by", "school,sex"]) == 0
    ledger = out / "published.json"
    saved = ledger.read_text()
    ledger.unlink()
    ledger.symlink_to(tmp_path / "gone.json")
    capsys.readouterr()
    assert main(["data", "summary", str(out), "--by", "school,fsm"]) == 2
    got = capsys.readouterr()
    assert got.out == "" and "published.json: not a file (a link or a folder)" in got.err
    assert ledger.is_symlink() and not (tmp_path / "gone.json").exists()
    ledger.unlink()
    ledger.write_text(saved)  # the record restored: the refusal is the ledger's own again
    assert main(["data", "summary", str(out), "--by", "school,fsm"]) == 2
    assert "--by school,sex,fsm first" in capsys.readouterr().err


def test_records_given_with_set_relative_to_here_make_a_run_that_reports(tmp_path, capsys,
                                                                          monkeypatch):
    """``--set population.records=students.csv`` ran, then was refused as "copied or edited":
    the saved scenario.yaml named the file relative to the folder it was read back from."""
    import shutil

    repo = Path(__file__).resolve().parents[1]
    shutil.copy(repo / "data" / "sample" / "students.csv", tmp_path / "students.csv")
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--set", "population.records=students.csv", "--out", "run1",
                 "--quiet", "--report"]) == 0
    saved = (tmp_path / "run1" / "scenario.yaml").read_text()
    assert f"records: {tmp_path / 'students.csv'}" in saved
    capsys.readouterr()
    assert main(["report", "run1"]) == 0
    assert "not the scenario this run was made from" not in capsys.readouterr().err


def test_a_dataset_table_cut_or_a_later_schema_is_refused(tmp_path, capsys):
    """One school's pupils cut out of both tables was summarised as the import (315 of the 445
    pupils dataset.json records), and a schema_version of 99 read as this one."""
    import json

    out = _imported_fake(tmp_path, capsys)
    meta_path = out / "dataset.json"
    meta = json.loads(meta_path.read_text())
    students = pd.read_parquet(out / "students.parquet")
    observations = pd.read_parquet(out / "observations.parquet")
    kept = students[students["school"] != students["school"].iloc[0]]
    kept.to_parquet(out / "students.parquet", index=False)
    observations[observations["student_id"].isin(kept["student_id"])].to_parquet(
        out / "observations.parquet", index=False)
    assert main(["data", "summary", str(out)]) == 2
    err = capsys.readouterr().err
    assert (f"dataset.json: tables.students.rows is {len(students)}, but students.parquet "
            f"holds {len(kept)} rows") in err
    meta_path.write_text(json.dumps({**meta, "schema_version": 99}))
    assert main(["data", "summary", str(out)]) == 2
    assert "schema_version is 99, not the record schema this srmsim reads (1)" in \
        capsys.readouterr().err
