"""Experiments and trials of a trust built from real records keep their folders owner-only,
as a run from records does; the same studies of a simulated trust follow the user's umask."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import two_school_records

from srmsim.cli import main

REPO = Path(__file__).resolve().parents[1]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes(folder: Path) -> dict[str, set[int]]:
    """The modes of every file and every folder under ``folder`` (itself included)."""
    entries = [folder, *folder.rglob("*")]
    return {"files": {mode(p) for p in entries if p.is_file()},
            "folders": {mode(p) for p in entries if p.is_dir()}}


@pytest.fixture
def records(tmp_path: Path) -> Path:
    return two_school_records(tmp_path)


@pytest.fixture(autouse=True)
def usual_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def experiment_file(tmp_path: Path, records: Path | None) -> Path:
    scenario = yaml.safe_load((REPO / "scenarios" / "attendance_escalation.yaml").read_text())
    scenario["trust"] = {**scenario.get("trust", {}), "n_schools": 2,
                         "students_per_year_group": 40}
    scenario.setdefault("outputs", {})["history"] = "none"
    if records is not None:
        scenario.setdefault("population", {})["records"] = str(records)
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(scenario))
    exp = {"name": "private_exp", "scenario": "scenario.yaml", "baseline": "none",
           "replications": 2, "seed": 5, "outcomes": ["attendance"],
           "variants": {"none": {"policy": None}, "policy": {}}}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    return path


@pytest.mark.parametrize("from_records", [True, False])
def test_experiment_folder_is_owner_only_when_built_from_records(tmp_path, records,
                                                                 from_records, capsys):
    path = experiment_file(tmp_path, records if from_records else None)
    out = tmp_path / "results"
    assert main(["experiment", str(path), "--workers", "1", "--quiet", "--out", str(out)]) == 0
    assert (out / "report.html").is_file() and list(out.glob("runs/*/*.parquet"))
    private = {"files": {0o600}, "folders": {0o700}}
    shared = {"files": {0o644}, "folders": {0o755}}
    # every file, not only the folder: one opened up, moved or copied must not expose them
    assert modes(out) == (private if from_records else shared)
    # resuming or re-reporting keeps it so, even if someone opened it up meanwhile
    os.chmod(out, 0o755)
    os.chmod(out / "manifest.json", 0o644)
    assert main(["experiment", str(path), "--workers", "1", "--quiet", "--out", str(out)]) == 0
    assert main(["experiment", str(path), "--workers", "1", "--quiet", "--out", str(out),
                 "--resume"]) == 0
    assert main(["compare", str(out), "--baseline", "policy", "--report"]) == 0
    assert main(["compare", str(out), "--report"]) == 0
    assert modes(out) == (private if from_records else shared)
    # its report written elsewhere (--out) is as private as the study
    elsewhere = tmp_path / "shared" / "report.html"
    elsewhere.parent.mkdir()
    assert main(["report", str(out), "--out", str(elsewhere)]) == 0
    assert mode(elsewhere) == (0o600 if from_records else 0o644)
    # a copy opened up whole (`cp -r` with the umask's modes): compare and re-report close it
    # again (they wrote effects.csv and report.html readable by all, going by the mode alone)
    if from_records:
        import shutil

        copy = tmp_path / "copy"
        shutil.copytree(out, copy, copy_function=shutil.copyfile)  # modes of new files
        for entry in [copy, *copy.rglob("*")]:
            os.chmod(entry, 0o755 if entry.is_dir() else 0o644)
        assert main(["compare", str(copy), "--report"]) == 0
        assert modes(copy) == private
        for entry in [copy, *copy.rglob("*")]:
            os.chmod(entry, 0o755 if entry.is_dir() else 0o644)
        assert main(["report", str(copy)]) == 0
        assert modes(copy) == private
        assert main(["report", str(copy), "--out", str(tmp_path / "shared" / "r2.html")]) == 0
        assert mode(tmp_path / "shared" / "r2.html") == 0o600


@pytest.mark.parametrize("from_records", [True, False])
def test_trial_folder_and_files_are_owner_only_when_built_from_records(tmp_path, records,
                                                                       from_records, capsys):
    spec = {"name": "private_trial", "scenario": str(REPO / "scenarios" / "reading_age.yaml"),
            "overrides": {"trust.students_per_year_group": 40,
                          **({"population.records": str(records)} if from_records
                             else {"trust.n_schools": 2})},
            "randomise": {"unit": "students"}, "outcome": "reading_gap_end",
            "baseline": "reading_gap_start", "population": "flagged", "replications": 2,
            "seed": 3}
    path = tmp_path / "trial.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "trial"
    assert main(["trial", str(path), "--workers", "1", "--quiet", "--out", str(out)]) == 0
    files = [p for p in out.rglob("*") if p.is_file()]
    assert (out / "trial_runs.csv") in files and any("store" in p.parts for p in files)
    if from_records:
        assert mode(out) == 0o700 and mode(out / "store") == 0o700
        assert {mode(p) for p in files} == {0o600}
        # re-reporting a copy opened up closes it again, as for an experiment
        for entry in [out, *out.rglob("*")]:
            os.chmod(entry, 0o755 if entry.is_dir() else 0o644)
        assert main(["report", str(out)]) == 0
        assert modes(out) == {"files": {0o600}, "folders": {0o700}}
    else:
        assert mode(out) == 0o755 and mode(out / "trial_runs.csv") == 0o644


def test_a_run_from_records_prints_no_count_drawn_from_them(tmp_path, capsys):
    """A trust built from one school's 7 year-7 records has 7 pupils a year group: the
    printed summary said "students 35" for five year groups, 7 pupils by a division. The
    run's folder is owner-only, and the terminal shows nothing of its summary; a simulated
    run prints its table as before."""
    recs = pd.DataFrame({"school": ["URN100001"] * 7, "year_group": [7] * 7,
                         "sex": list("FMFMFMF"), "fsm": [True, False] * 3 + [True]})
    recs.to_parquet(tmp_path / "records.parquet")
    scenario = yaml.safe_load((REPO / "scenarios" / "attendance_escalation.yaml").read_text())
    scenario.setdefault("outputs", {})["history"] = "none"
    years = len(scenario.get("trust", {}).get("year_groups", [7, 8, 9, 10, 11]))
    for records in (tmp_path / "records.parquet", None):
        if records is not None:
            scenario.setdefault("population", {})["records"] = str(records)
        else:
            scenario["population"].pop("records")
        path = tmp_path / "scenario.yaml"
        path.write_text(yaml.safe_dump(scenario))
        out = tmp_path / ("private_run" if records else "run")
        assert main(["run", str(path), "--out", str(out), "--report"]) == 0
        printed = capsys.readouterr().out
        students = re.search(r"^\s*students\s+([\d,]+) students?\s*$", printed, re.M)
        if records is not None:
            assert students is None and "summary is not printed" in printed
            assert modes(out) == {"files": {0o600}, "folders": {0o700}}
        else:
            assert students is not None
        if records is not None:
            summary = json.loads((out / "summary.json").read_text())
            assert summary["students"] == 7 * years  # what the table gave away


@pytest.mark.parametrize("block", ["school", "none"])
def test_a_share_leaving_a_block_of_real_records_with_one_arm_stops_before_any_run(
        tmp_path, capsys, block):
    """School sizes of a trust from records are known only once they are read: a share that
    left a small school with no treated student failed every replication ("only one arm")."""
    rng = np.random.default_rng(4)
    n = 124  # 120 pupils in one school, 4 in the other
    recs = pd.DataFrame({"school": ["URN100001"] * 120 + ["URN100002"] * 4,
                         "year_group": rng.choice([7, 8], n), "sex": rng.choice(["F", "M"], n),
                         "fsm": rng.random(n) < 0.3})
    recs.to_parquet(tmp_path / "records.parquet")
    share = 0.04 if block == "school" else 0.001
    spec = {"name": "small_school", "scenario": str(REPO / "scenarios" / "reading_age.yaml"),
            "overrides": {"population.records": str(tmp_path / "records.parquet")},
            "randomise": {"unit": "students", "share_treated": share, "block": block},
            "outcome": "reading_gap_end", "baseline": "reading_gap_start",
            "replications": 2, "seed": 3}
    path = tmp_path / "trial.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "trial"
    for command in (["validate", str(path)],
                    ["trial", str(path), "--workers", "1", "--quiet", "--out", str(out)]):
        assert main(command) == 2, command
        captured = capsys.readouterr()
        assert str(path) in captured.err and "randomise.share_treated" in captured.err
        assert "no treated or no control student" in captured.err
        assert "Traceback" not in captured.err
        assert ("1 of the 2 schools" in captured.err) == (block == "school")
        assert " students)" not in captured.err  # no size of a block of real pupils
        assert captured.out == "" and not out.exists()


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """A dataset folder as ``srmsim data import`` writes it (owner-only)."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from test_data_fakes import fake_export, write_export

    (tmp_path / "export").mkdir()
    paths = write_export(tmp_path / "export", *fake_export(n_students=60, n_weeks=2))
    out = tmp_path / "ds"
    assert main(["data", "import", str(paths["students"]), str(paths["observations"]),
                 "--mapping", str(paths["mapping"]), "--out", str(out)]) == 0
    return out


def listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("records_in", ["folder", "file"])
def test_no_study_of_records_writes_into_or_over_their_dataset_folder(tmp_path, dataset,
                                                                      records_in, capsys):
    """``srmsim run`` with ``--out DATASET/run`` wrote a run folder (its students.parquet, a
    summary.json) among the raw records; an experiment or trial likewise. Refused before any
    work, for the folder itself or inside it; the dataset is unchanged."""
    records = dataset if records_in == "folder" else dataset / "students.parquet"
    path = experiment_file(tmp_path, records)
    trial = tmp_path / "trial.yaml"
    trial.write_text(yaml.safe_dump({
        "name": "t", "scenario": str(tmp_path / "scenario.yaml"),
        "randomise": {"unit": "students"}, "outcome": "attendance_rate", "population": "all",
        "replications": 1, "seed": 3}))
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(yaml.safe_dump({
        "name": "tiny", "population": {"records": str(records)}, "outputs": {"history": "none"},
        "policy": {"parameters": {"attendance_threshold": 0.9},
                   "rules": {"low": {"when": "attendance_rate < attendance_threshold",
                                     "cadence": "half_termly"}},
                   "workflows": {"w": {"trigger": "low", "steps": [{"action": "parent_text",
                                                                    "weeks": 3}]}}}}))
    opt = tmp_path / "opt.yaml"
    opt.write_text(yaml.safe_dump({
        "name": "o", "scenario": str(tiny), "replications": 1, "seed": 5,
        "levers": {"policy.parameters.attendance_threshold": {"low": 0.8, "high": 0.98}},
        "objectives": {"persistent_absence": "minimise"}}))
    before = listing(dataset)
    capsys.readouterr()
    for out in (dataset / "run", dataset, dataset / "sub" / "deeper"):
        for argv in (["run", str(tmp_path / "scenario.yaml")],
                     ["experiment", str(path), "--workers", "1"],
                     ["trial", str(trial), "--workers", "1"],
                     ["optimise", str(opt), "--workers", "1"]):
            assert main([*argv, "--quiet", "--out", str(out)]) == 2, (argv, out)
            err = capsys.readouterr().err
            assert "inside the dataset folder" in err and "Traceback" not in err, err
    assert listing(dataset) == before and sorted(p.name for p in dataset.iterdir()) == sorted(
        before)
    # the library refuses it too, before the run
    from srmsim.errors import DataError
    from srmsim.model import run
    from srmsim.scenario import load_scenario

    with pytest.raises(DataError, match="inside the dataset folder"):
        run(load_scenario(tmp_path / "scenario.yaml"), out=dataset / "api")
    assert not (dataset / "api").exists()
    # beside the dataset, the run is written as before
    assert main(["run", str(tmp_path / "scenario.yaml"), "--quiet", "--out",
                 str(tmp_path / "beside")]) == 0
    assert (tmp_path / "beside" / "summary.json").is_file()


def test_no_analysis_of_a_study_of_records_writes_into_their_dataset_folder(tmp_path, dataset,
                                                                            capsys):
    """``srmsim discover --out`` wrote its tables anywhere, among the study's raw records
    too, and ``srmsim sensitivity`` into a results folder moved there; refused before any work
    (the records named by the scenarios the study ran), the dataset unchanged. Elsewhere the
    discovery is owner-only like the study (it was written at the umask of --out's parent)."""
    import shutil

    path = experiment_file(tmp_path, dataset)
    exp = yaml.safe_load(path.read_text())
    exp["uncertain"] = {"policy.parameters.attendance_threshold": [0.85, 0.95]}
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    out = tmp_path / "results"
    assert main(["experiment", str(path), "--workers", "1", "--quiet", "--out", str(out)]) == 0
    from srmsim.experiment.compare import load_runs

    # a condition that holds in about half the runs, whatever the policy's effects do
    condition = f"attendance > {float(load_runs(out)[0]['attendance'].median())!r}"
    before = listing(dataset)
    capsys.readouterr()
    for inside in (dataset / "discovery", dataset, dataset / "sub" / "deeper"):
        assert main(["discover", str(out), "--condition", condition,
                     "--out", str(inside)]) == 2
        err = capsys.readouterr().err
        assert "inside the dataset folder" in err and "Traceback" not in err, err
    assert listing(dataset) == before
    # beside the records it is written, as private as the study (the parent folder is not)
    elsewhere = tmp_path / "shared" / "discovery"
    elsewhere.parent.mkdir()
    assert main(["discover", str(out), "--condition", condition,
                 "--out", str(elsewhere)]) == 0
    assert modes(elsewhere) == {"files": {0o600}, "folders": {0o700}}
    moved = dataset / "results"
    shutil.move(out, moved)  # the results moved among the records (by hand)
    before = listing(dataset)
    assert main(["sensitivity", str(moved)]) == 2
    err = capsys.readouterr().err
    # it has no --out: the message names the folder it writes into
    # (the CLI cuts a line at 300 characters: long temporary paths)
    assert err.startswith(f"srmsim: error: the experiment folder {str(moved)[:100]}"), err
    # one problem (a long line is wrapped: its continuations indented under it)
    assert "--out" not in err and all(ln.startswith("  ") for ln in err.splitlines()[1:]), err
    from srmsim.errors import SrmsimError
    from srmsim.records import check_results_out_of_records

    with pytest.raises(SrmsimError) as whole_message:  # uncut, as the library raises it
        check_results_out_of_records(moved, moved, what="the experiment folder")
    assert str(whole_message.value) == (
        f"the experiment folder {moved}: inside the dataset folder {dataset} (it holds private "
        "records, and outputs are meant for sharing); move the experiment folder out of it first")

    assert listing(dataset) == before



def test_records_re_imported_with_other_pupils_are_another_experiment(tmp_path: Path,
                                                                       records: Path) -> None:
    """The experiment's hash covers what the records hold, not only their path: ``--resume``
    after the same path was re-imported with other pupils mixed runs of two trusts."""
    from srmsim.experiment.spec import load_experiment

    exp = experiment_file(tmp_path, records)
    before = load_experiment(exp).digest()
    assert load_experiment(exp).digest() == before
    frame = pd.read_parquet(records)
    frame.loc[0, "fsm"] = not frame.loc[0, "fsm"]  # one pupil's record corrected
    frame.to_parquet(records)
    assert load_experiment(exp).digest() != before
    # a simulated trust's experiment hashes as before: no records, nothing added
    assert "input_files" not in load_experiment(experiment_file(tmp_path, None)).hashed_config()
