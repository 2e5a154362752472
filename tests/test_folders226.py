"""Results folders that were edited or are links (helper 226, 2026-12-07).

An edited variant scenario that compare accepted and report refused; the experiment file's
copy (experiment.yaml), which had no digest; compare while an experiment is starting; a study
of records whose folder is a symbolic link; ``population.records: .`` on a folder that is not
a dataset.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
from pathlib import Path

import pytest
import yaml
from conftest import cli_refuses as fails  # noqa: E402
from conftest import folder_bytes as every_file  # noqa: E402

from srmsim.cli import main

REPO = Path(__file__).resolve().parents[1]


def resume(finished: Path, out: Path) -> list[str]:
    """The command that resumes a copy (``out``) of the conftest's finished experiment."""
    return ["experiment", str(finished.parent / "exp.yaml"), "--out", str(out), "--resume",
            "--quiet", "--workers", "1"]


# ------------------------------------------------------------ 1. an edited variant scenario
@pytest.mark.parametrize("edit", ["edited", "deleted"])
def test_compare_refuses_an_edited_variant_scenario_as_report_does(finished, study, capsys,
                                                                   edit):
    """compare printed and wrote the effects of a folder whose scenarios/texts.yaml no longer
    held what the variant ran (or was gone), while report refused it."""
    path = study / "scenarios" / "texts.yaml"
    if edit == "edited":
        scenario = yaml.safe_load(path.read_text())
        scenario["policy"]["staff"]["school"]["pastoral"] = 1
        path.write_text(yaml.safe_dump(scenario))
        problem = "not the scenario variant 'texts' ran"
    else:
        path.unlink()
        problem = "missing (srmsim saves every variant's scenario"
    before = every_file(study)
    reported = fails(capsys, ["report", str(study)], contains=f"{path}: {problem}")
    compared = fails(capsys, ["compare", str(study)], contains=f"{path}: {problem}")
    assert compared == reported  # one check, one message
    fails(capsys, ["compare", str(study), "--baseline", "texts"], contains=f"{path}: {problem}")
    assert every_file(study) == before
    if edit == "edited":  # and a resume, before it makes any run
        fails(capsys, resume(finished, study), contains=f"{path}: {problem}")
        assert every_file(study) == before
    else:  # a resume writes it again
        assert main(resume(finished, study)) == 0
        assert main(["compare", str(study)]) == 0


# ------------------------------------------------------------ 2. experiment.yaml's digest
def test_the_manifest_records_the_experiment_files_copy(finished):
    manifest = json.loads((finished / "manifest.json").read_text())
    import hashlib

    copy = (finished / "experiment.yaml").read_bytes()
    assert copy == (finished.parent / "exp.yaml").read_bytes()
    assert manifest["experiment_yaml_sha256"] == hashlib.sha256(copy).hexdigest()


@pytest.mark.parametrize("command", ["compare", "report", "resume"])
def test_an_edited_experiment_copy_is_refused_by_name(finished, study, capsys, command):
    """experiment.yaml edited in the results folder (another baseline written in it) was
    read, reported and resumed with no word: it had no digest."""
    path = study / "experiment.yaml"
    path.write_text(path.read_text().replace("baseline: none", "baseline: texts"))
    before = every_file(study)
    argv = resume(finished, study) if command == "resume" else [command, str(study)]
    err = fails(capsys, argv, contains=f"{path}: not the experiment file as run")
    assert "delete it" in err and "--resume" in err
    assert every_file(study) == before


def test_a_deleted_experiment_copy_is_named_and_written_again_by_resume(finished, study,
                                                                        capsys):
    path = study / "experiment.yaml"
    path.unlink()
    err = fails(capsys, ["compare", str(study)], contains=f"{path}: missing")
    assert "--resume" in err
    assert main(resume(finished, study)) == 0
    assert path.read_bytes() == (finished.parent / "exp.yaml").read_bytes()
    capsys.readouterr()
    assert main(["report", str(study)]) == 0


def test_an_experiment_copy_changed_in_layout_only_is_recorded_again_on_resume(
        finished, study, tmp_path, capsys):
    """A resume whose experiment file differs only in comments (the same experiment) writes a
    missing copy from it and records that copy's SHA-256, so the folder stays readable."""
    exp = tmp_path / "exp.yaml"
    exp.write_text((finished.parent / "exp.yaml").read_text() + "# a comment\n")
    shutil.copytree(finished.parent / "scenarios", tmp_path / "scenarios")
    (study / "experiment.yaml").unlink()
    assert main(["experiment", str(exp), "--out", str(study), "--resume", "--quiet",
                 "--workers", "1"]) == 0
    assert (study / "experiment.yaml").read_bytes() == exp.read_bytes()
    assert main(["compare", str(study)]) == 0


def test_an_older_folder_without_the_copys_digest_is_read_with_a_note(study, capsys):
    manifest_path = study / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["experiment_yaml_sha256"]
    manifest_path.write_text(json.dumps(manifest, indent=2))
    (study / "experiment.yaml").write_text("# anything: an older srmsim recorded no digest\n")
    for command in ("compare", "report"):
        assert main([command, str(study)]) == 0
        out = capsys.readouterr().out
        assert (f"note: {study / 'experiment.yaml'} is not checked: manifest.json records no "
                "SHA-256 of it") in out


def test_a_digest_that_is_not_one_is_refused(study, capsys):
    manifest_path = study / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["experiment_yaml_sha256"] = 12
    manifest_path.write_text(json.dumps(manifest, indent=2))
    fails(capsys, ["compare", str(study)],
          contains=f"{manifest_path}: its experiment_yaml_sha256 is not a SHA-256")


# ------------------------------------------------------------ 3. compare while one starts
def test_compare_while_an_experiment_holds_the_folder_before_its_manifest(tmp_path, capsys):
    """An experiment holds its folder's lock before it writes the manifest: compare said
    "not an experiment results directory (no manifest.json)" of it."""
    from srmsim.outputs import folder_lock

    out = tmp_path / "starting"
    started, done = threading.Event(), threading.Event()

    def starting_experiment() -> None:
        with folder_lock(out):
            started.set()
            done.wait(30)

    holder = threading.Thread(target=starting_experiment)
    holder.start()
    try:
        assert started.wait(30)
        err = fails(capsys, ["compare", str(out)], contains=f"{out}: in use by ")
        said = " ".join(err.split())  # (a long holder's command line wraps the message)
        assert "wait for it to finish" in said and "not an experiment" not in said
    finally:
        done.set()
        holder.join()


def test_the_experiment_command_holds_its_out_folder_while_it_reads_the_file(
        finished, tmp_path, monkeypatch, capsys):
    """Importing and reading the experiment file took seconds before the folder existed:
    compare meanwhile said "no such folder". A compare now finds the folder in use."""
    import srmsim.experiment.spec as spec

    out = tmp_path / "new"
    seen: list[tuple[int, str]] = []
    read = spec.load_experiment

    def load_and_compare(*args, **kwargs):
        def compare() -> None:
            code = main(["compare", str(out)])
            seen.append((code, capsys.readouterr().err))

        other = threading.Thread(target=compare)  # as another process would, by the lock
        other.start()
        other.join()
        return read(*args, **kwargs)

    monkeypatch.setattr(spec, "load_experiment", load_and_compare)
    assert main(["experiment", str(finished.parent / "exp.yaml"), "--out", str(out),
                 "--quiet", "--workers", "1", "--no-report"]) == 0
    assert len(seen) == 1
    code, err = seen[0]
    assert code == 2 and f"{out}: in use by " in err and "no such folder" not in err, err


def test_a_folder_left_without_a_manifest_says_what_happened(tmp_path, capsys):
    out = tmp_path / "killed"
    out.mkdir()
    (out / ".srmsim.lock").write_text("12\nsrmsim experiment exp.yaml --out killed\n")
    err = fails(capsys, ["compare", str(out)], contains=f"{out}: holds no results (no "
                "manifest.json, which `srmsim experiment` writes as it starts)")
    assert "stopped before it began" in err


def test_a_manifest_written_while_compare_looked_is_an_experiment_starting(tmp_path):
    """The manifest appearing between the two looks was called "a experiment, which has no
    variants to compare"."""
    from srmsim.experiment.compare import not_an_experiment

    out = tmp_path / "x"
    out.mkdir()
    (out / "manifest.json").write_text("{}")
    message = not_an_experiment(out)
    assert message.startswith(f"{out}: an experiment is starting in it")
    assert "no variants to compare" not in message


# ------------------------------------------------------------ 4. a records study's link
@pytest.fixture(scope="module")
def records_study(tmp_path_factory) -> Path:
    """A finished experiment of a trust built from pupil records (owner-only)."""
    from conftest import two_school_records
    from test_private_studies import experiment_file

    tmp = tmp_path_factory.mktemp("records226")
    path = experiment_file(tmp, two_school_records(tmp))
    out = tmp / "results"
    assert main(["experiment", str(path), "--workers", "1", "--quiet", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("command", [["report"], ["compare"], ["compare", "--report"]])
def test_a_records_study_whose_folder_is_a_link_is_refused_and_left_alone(
        records_study, tmp_path, capsys, command):
    """report (and compare, before its lock refused the link) made the folder a link points to
    owner-only through the link."""
    study = tmp_path / "elsewhere" / "study"
    shutil.copytree(records_study, study)
    os.chmod(study, 0o755)
    link = tmp_path / "study-link"
    link.symlink_to(study)
    before = every_file(study)
    fails(capsys, [command[0], str(link), *command[1:]],
          contains=f"{link}: is a symbolic link (to ")
    assert stat.S_IMODE(study.stat().st_mode) == 0o755
    assert every_file(study) == before
    # the folder it points to, given itself, is made owner-only as usual
    assert main([command[0], str(study), *command[1:]]) == 0
    assert stat.S_IMODE(study.stat().st_mode) == 0o700


def test_the_link_refusal_names_the_folder_to_give(records_study, tmp_path, capsys):
    link = tmp_path / "study-link"
    link.symlink_to(records_study)
    err = fails(capsys, ["report", str(link)], contains="to a study of pupil records")
    assert f"give the folder it points to: {records_study.resolve()}" in err


# ------------------------------------------------------------ 5. population.records: .
def test_records_dot_on_the_command_line_says_what_the_folder_is(tmp_path, monkeypatch,
                                                                 capsys):
    """`--set population.records=.` in a folder that is not a dataset was refused as "--out
    out/default: inside the dataset folder" of it."""
    monkeypatch.chdir(tmp_path)
    err = fails(capsys, ["run", str(REPO / "scenarios" / "default.yaml"), "--set",
                         "population.records=."],
                contains=f"population.records: {tmp_path}: a folder that is not a dataset")
    assert "inside the dataset folder" not in err
    assert "`srmsim data import`" in err and "students Parquet/CSV file" in err
    assert not (tmp_path / "out").exists()


def test_records_dot_in_a_scenario_or_experiment_names_the_scenarios_folder(tmp_path,
                                                                            capsys):
    folder = tmp_path / "scenarios"
    folder.mkdir()
    scenario = yaml.safe_load((REPO / "scenarios" / "default.yaml").read_text())
    scenario.setdefault("population", {})["records"] = "."
    (folder / "s.yaml").write_text(yaml.safe_dump(scenario))
    fails(capsys, ["run", str(folder / "s.yaml"), "--out", str(tmp_path / "out")],
          contains=f"population.records: {folder}: a folder that is not a dataset")
    exp = {"name": "dot", "scenario": "scenarios/s.yaml", "baseline": "a",
           "replications": 2, "outcomes": ["attendance"], "variants": {"a": {}, "b": {}}}
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(exp))
    err = fails(capsys, ["experiment", str(tmp_path / "exp.yaml"), "--out",
                         str(tmp_path / "res"), "--quiet", "--workers", "1"],
                contains=f"population.records: {folder}: a folder that is not a dataset")
    assert "..." not in err  # not cut
    assert not (tmp_path / "res").exists() and not (tmp_path / "out").exists()


def test_reading_records_from_a_folder_without_them_names_the_folder(tmp_path):
    from srmsim.errors import DataError
    from srmsim.records import read_student_records

    with pytest.raises(DataError) as err:
        read_student_records(tmp_path)
    assert str(err.value).startswith(f"{tmp_path}: a folder that is not a dataset")
    assert "students.parquet:" not in str(err.value)
