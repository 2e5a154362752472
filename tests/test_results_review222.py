"""Results folders under attack, round two (helper 222, 2026-12-07).

Store files replaced by symbolic links (and chmod following them out of a study of real
records), a trial manifest's and trial.json's root seed, the repair hint of a linked variant
folder, and --out names Windows cannot hold.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
import yaml
from conftest import cli_refuses as fails  # noqa: E402
from conftest import folder_bytes as every_file  # noqa: E402
from test_experiment import write_experiment
from test_trial_resume import write_trial

from srmsim.cli import main
from srmsim.outputs import restrict_tree

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


@pytest.fixture(scope="module")
def records_trial(tmp_path_factory) -> tuple[Path, Path]:
    """A finished trial of a trust built from pupil records (so owner-only): its file and
    folder (copied by each test)."""
    from conftest import two_school_records

    tmp = tmp_path_factory.mktemp("rtrial")
    records = two_school_records(tmp)
    spec = {"name": "rec", "scenario": str(SCENARIOS / "reading_age.yaml"),
            "overrides": {"population.records": str(records)},
            "randomise": {"unit": "students"}, "outcome": "reading_gap_end",
            "baseline": "reading_gap_start", "replications": 2, "seed": 3}
    path = tmp / "trial.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp / "done"
    assert main(["trial", str(path), "--out", str(out), "--quiet", "--no-report",
                 "--workers", "1"]) == 0
    return path, out


def link_to_copy(path: Path, elsewhere: Path) -> Path:
    """Replace ``path`` by a symbolic link to a copy of it (the same bytes) in ``elsewhere``,
    readable by all as a user's own file is; returns the copy."""
    copy = elsewhere / f"copy-of-{path.name}"
    shutil.copyfile(path, copy)
    os.chmod(copy, 0o644)
    path.unlink()
    path.symlink_to(copy)
    return copy


# ------------------------------------------------------------ chmod never follows a link
def test_restrict_tree_leaves_what_a_link_points_to_alone(tmp_path):
    """chmod follows links: a file linked into an owner-only study was made 0600, a folder
    0700, though they are outside it (another of the user's files)."""
    outside_file, outside_dir = tmp_path / "mine.txt", tmp_path / "mine"
    outside_file.write_text("x")
    outside_dir.mkdir()
    os.chmod(outside_file, 0o644)
    os.chmod(outside_dir, 0o755)
    folder = tmp_path / "study"
    (folder / "runs").mkdir(parents=True)
    (folder / "runs" / "own.parquet").write_text("y")
    (folder / "runs" / "linked.parquet").symlink_to(outside_file)
    (folder / "linked-dir").symlink_to(outside_dir)
    (folder / "dangling").symlink_to(tmp_path / "nowhere")
    restrict_tree(folder)
    assert stat.S_IMODE(outside_file.stat().st_mode) == 0o644
    assert stat.S_IMODE(outside_dir.stat().st_mode) == 0o755
    assert stat.S_IMODE((folder / "runs" / "own.parquet").stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / "runs").stat().st_mode) == 0o700


@pytest.mark.parametrize("name", ["manifest.json", "runs/trial/rep-00001.parquet",
                                  "detail/rep-00001-groups.parquet",
                                  "detail/rep-00001-subgroups.parquet"])
def test_a_records_trial_store_file_linked_out_is_refused_and_left_alone(
        records_trial, tmp_path, capsys, name):
    """A store file of a records trial replaced by a link to the same bytes elsewhere was read
    as the store's, and running the trial again made the linked file owner-only."""
    path, finished = records_trial
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    linked = out / "store" / name
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    copy = link_to_copy(linked, elsewhere)
    before = every_file(out)
    for extra in ([], ["--resume"]):
        fails(capsys, ["trial", str(path), "--out", str(out), "--quiet", "--no-report",
                       "--workers", "1", *extra], contains=f"{linked}: is a symbolic link (to ")
    fails(capsys, ["report", str(out)], contains=f"{linked}: is a symbolic link (to ")
    assert stat.S_IMODE(copy.stat().st_mode) == 0o644
    assert every_file(out) == before


def test_a_trial_store_folder_linked_out_is_refused(records_trial, tmp_path, capsys):
    path, finished = records_trial
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    shutil.move(out / "store", tmp_path / "store")
    os.chmod(tmp_path / "store", 0o755)
    (out / "store").symlink_to(tmp_path / "store")
    err = fails(capsys, ["trial", str(path), "--out", str(out), "--quiet", "--no-report",
                         "--workers", "1", "--resume"],
                contains=f"{out / 'store'}: is a symbolic link (to ")
    assert "new --out directory" in err
    assert stat.S_IMODE((tmp_path / "store").stat().st_mode) == 0o755


@pytest.mark.parametrize("name", ["manifest.json", "detail/texts/rep-00001-groups.parquet",
                                  "detail/texts/rep-00000-weekly.parquet", "failures"])
def test_an_experiment_store_file_linked_out_is_refused(finished, study, tmp_path, capsys,
                                                        name):
    """manifest.json or a detail file replaced by a link to identical content was read as
    the experiment's, and an empty store folder linked elsewhere was written through."""
    linked = study / name
    if name == "failures":
        (tmp_path / "failures").mkdir()
        linked.symlink_to(tmp_path / "failures")
    else:
        link_to_copy(linked, tmp_path)
    before = every_file(study)
    for argv in (["compare", str(study)], ["report", str(study)],
                 ["experiment", str(finished.parent / "exp.yaml"), "--out", str(study),
                  "--resume", "--quiet", "--workers", "1"]):
        err = fails(capsys, argv, contains=f"{linked}: is a symbolic link (to ")
        if name.startswith("detail"):  # the hint: the run and all its detail, made again
            replication = linked.name.split("-")[1]
            assert f"{study / 'runs' / 'texts' / f'rep-{replication}.parquet'}\n" in err
            assert f"{linked.parent / f'rep-{replication}-*.parquet'}\n" in err
    assert every_file(study) == before


# ------------------------------------------------------------ what removing a link costs
@pytest.mark.parametrize("where", ["runs", "detail"])
def test_a_linked_variant_folder_says_which_runs_are_made_again(finished, study, tmp_path,
                                                                capsys, where):
    """The hint said "to make that run again, delete it" of runs/<variant>: deleting it
    deleted every run of that variant, and the user was not told."""
    shutil.move(study / where / "texts", tmp_path / "texts")
    (study / where / "texts").symlink_to(tmp_path / "texts")
    err = fails(capsys, ["compare", str(study)],
                contains=f"{study / where / 'texts'}: is a symbolic link (to ")
    assert "to make every run of variant texts again, remove the link" in err
    assert "delete it" not in err
    assert (f"and {study / 'runs' / 'texts'} " in err) == (where == "detail")
    assert "the folder it points to is left as it is" in err
    assert "--resume" in err


# ------------------------------------------------------------ a trial's root seed
def edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data, indent=2))


@pytest.fixture(scope="module")
def plain_trial(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("trial")
    path = write_trial(tmp, replications=2)
    out = tmp / "done"
    assert main(["trial", str(path), "--out", str(out), "--quiet", "--workers", "1"]) == 0
    return path, out


@pytest.mark.parametrize(("edit", "shown"), [({"root_seed": 12}, "12"),
                                              ({"root_seed": "11"}, "11"),
                                              ({"root_seed": None}, "None")])
def test_a_trials_edited_root_seed_is_refused(plain_trial, tmp_path, capsys, edit, shown):
    """The trial's store manifest and trial.json record the root seed the report prints as
    the trial's: an edited one was read (an experiment's is refused)."""
    path, finished = plain_trial
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    manifest = out / "store" / "manifest.json"
    edit_json(manifest, **edit)
    before = every_file(out)
    fails(capsys, ["trial", str(path), "--out", str(out), "--quiet", "--resume",
                   "--workers", "1"],
          contains=f"{manifest}: its root_seed {shown} does not give its seeds")
    assert every_file(out) == before
    shutil.copyfile(finished / "store" / "manifest.json", manifest)
    edit_json(out / "trial.json", **edit)
    fails(capsys, ["report", str(out)],
          contains=f"{out / 'trial.json'}: its root_seed {shown} does not give its seeds")
    assert not (out / "report.html").exists() or \
        (out / "report.html").read_bytes() == (finished / "report.html").read_bytes()


# ------------------------------------------------------------ Windows names
@pytest.mark.parametrize("name", ["con", "NUL.txt", "aux/new", "results.", "com1/x"])
@pytest.mark.parametrize("command", [["run", "--quiet"], ["experiment", "EXP", "--quiet"],
                                     ["trial", "TRIAL", "--quiet"], ["report", "DIR"],
                                     ["data", "anonymise", "DIR", "--key-file", "k"]])
def test_an_out_that_windows_cannot_hold_is_refused(tmp_path, monkeypatch, capsys, name,
                                                    command):
    """`srmsim examples con` was refused, but run, experiment, trial, report and the data
    commands wrote a folder (or file) named con, aux/new... that Windows cannot hold."""
    monkeypatch.chdir(tmp_path)
    argv = [{"EXP": "exp.yaml", "TRIAL": "trial.yaml", "DIR": "."}.get(a, a) for a in command]
    with pytest.raises(SystemExit) as raised:  # refused as the arguments are read
        main([*argv, "--out", name])
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert "argument --out:" in err and "is no name Windows can hold (Windows " in err, err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_on_the_way_is_not_the_outs_problem(tmp_path, monkeypatch, capsys):
    """Only the names the command would make are checked: a folder that already exists on
    the way (made by the user, on a system that allows it) is theirs."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "con.").mkdir()
    assert main(["run", "--quiet", "--set", "years=1", "--set", "trust.n_schools=1",
                 "--out", "con./fine"]) == 0
    assert (tmp_path / "con." / "fine").is_dir()


# ------------------------------------------------------------ a moved or copied folder
def drop_a_run(out: Path) -> None:
    for p in (out / "runs" / "texts" / "rep-00001.parquet",
              *(out / "detail" / "texts").glob("rep-00001-*")):
        p.unlink()


@pytest.mark.parametrize("how", ["moved", "copied"])
def test_a_moved_or_copied_study_names_its_file_and_resumes(tmp_path, monkeypatch, capsys, how):
    """After `mv x sub/x` (or cp -r), the resume command named the study file from the
    folder's old place (sub/exp.yaml: no such file), and resuming kept that record, so the
    next hint was wrong too."""
    monkeypatch.chdir(tmp_path)
    write_experiment(tmp_path, replications=2)
    assert main(["experiment", "exp.yaml", "--out", "x", "--quiet", "--workers", "1"]) == 0
    drop_a_run(tmp_path / "x")
    (tmp_path / "sub").mkdir()
    (shutil.move if how == "moved" else shutil.copytree)("x", "sub/x")
    fails(capsys, ["compare", "sub/x"],
          contains="then run: srmsim experiment exp.yaml --resume --out sub/x")
    assert main(["experiment", "exp.yaml", "--resume", "--out", "sub/x", "--quiet",
                 "--workers", "1"]) == 0
    manifest = json.loads((tmp_path / "sub" / "x" / "manifest.json").read_text())
    assert manifest["experiment_file_from_folder"] == "../../exp.yaml"
    drop_a_run(tmp_path / "sub" / "x")
    monkeypatch.chdir(tmp_path / "sub")  # from elsewhere the file is named from the folder
    fails(capsys, ["compare", "x"],
          contains="then run: srmsim experiment ../exp.yaml --resume --out x")
