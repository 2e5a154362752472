"""Results folders under concurrent commands and kills: one writer at a time (an advisory lock
per folder, srmsim.outputs.folder_lock), a second writer refused by name (exit 2), readers not
blocked by readers, and the staging folders a killed command left removed by the next writer,
never those of a live one."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_experiment import write_experiment
from test_trial_resume import write_trial

from srmsim.cli import main
from srmsim.errors import SrmsimError
from srmsim.outputs import LOCK_NAME, folder_lock, replace_dir, replace_files

pytest.importorskip("fcntl")  # the lock (Windows goes on unlocked, as the last test shows)
REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
#: a process that holds a folder the way a command does, until killed
HOLD = """
import sys, time
from srmsim.outputs import folder_lock, replace_dir, replace_files
folder, mode = sys.argv[1], sys.argv[2]
if mode == "stage":  # killed while effects.csv is being swapped in
    with replace_files(folder, ["effects.csv"]) as stage:
        (stage / "effects.csv").write_text("half written")
        print("ready", flush=True)
        time.sleep(120)
if mode == "replace":  # killed while a trial's folder is being built beside it
    with folder_lock(folder), replace_dir(folder, replaceable=lambda p: True) as tmp:
        (tmp / "trial.json").write_text("half written")
        print("ready", flush=True)
        time.sleep(120)
with folder_lock(folder, shared=mode == "shared"):
    print("ready", flush=True)
    time.sleep(120)
"""


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished experiment of 2 replications (copied by each test)."""
    tmp = tmp_path_factory.mktemp("study")
    exp = write_experiment(tmp, replications=2)
    out = tmp / "done"
    assert main(["experiment", str(exp), "--out", str(out), "--quiet", "--workers", "1",
                 "--no-report"]) == 0
    return out


@pytest.fixture
def study(finished, tmp_path) -> Path:
    out = tmp_path / "study"
    shutil.copytree(finished, out)
    return out


def hold(folder: Path, mode: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), mode], env=ENV,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def stages(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(".new-*"))


def test_a_staging_folder_left_by_kill_9_is_removed_by_the_next_writer(study, capsys):
    effects = (study / "effects.csv").read_bytes()
    proc = hold(study, "stage")
    kill(proc)
    assert len(stages(study)) == 1, "the kill should leave the staging folder"
    assert (study / "effects.csv").read_bytes() == effects  # the old file is whole
    assert main(["compare", str(study)]) == 0
    assert stages(study) == [] and not (study / LOCK_NAME).exists()
    assert (study / "effects.csv").read_bytes() == effects


def test_resume_of_a_finished_study_removes_a_killed_commands_staging_folder(
        finished, study, capsys):
    kill(hold(study, "stage"))
    assert main(["experiment", str(finished.parent / "exp.yaml"), "--out", str(study), "--quiet", "--workers", "1",
                 "--resume", "--no-report"]) == 0
    assert stages(study) == [] and not (study / LOCK_NAME).exists()


def test_a_second_writer_is_refused_by_name_and_a_live_staging_folder_kept(study, capsys):
    proc = hold(study, "stage")
    try:
        assert main(["compare", str(study)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"srmsim: error: {study}: in use by another srmsim command")
        assert f"pid {proc.pid}" in err and "Traceback" not in err
        assert main(["sensitivity", str(study)]) == 2
        assert "in use by" in capsys.readouterr().err
        assert main(["report", str(study), "--out", str(study.parent / "r.html")]) == 2
        assert not (study.parent / "r.html").exists()
        assert main(["discover", str(study), "--condition", "attendance < 0.9"]) == 2
        assert "in use by" in capsys.readouterr().err and not (study / "discovery").exists()
        assert len(stages(study)) == 1, "another command's live staging folder was removed"
    finally:
        kill(proc)
    assert main(["compare", str(study)]) == 0
    assert stages(study) == []


def test_readers_do_not_block_readers(study, capsys, tmp_path):
    proc = hold(study, "shared")
    try:
        assert main(["report", str(study), "--out", str(tmp_path / "r.html")]) == 0
        assert main(["report", str(study)]) == 0  # report.html, written atomically
        assert main(["compare", str(study)]) == 2  # but a writer waits for readers
    finally:
        kill(proc)
    assert (tmp_path / "r.html").exists()


def test_the_lock_goes_with_a_folder_replaced_whole(tmp_path):
    """A trial's folder is replaced whole at its end: a second writer must still see it held."""
    out = tmp_path / "trial"
    out.mkdir()
    (out / "trial.json").write_text("{}")
    with folder_lock(out):
        with replace_dir(out, replaceable=lambda p: True) as tmp:
            (tmp / "trial.json").write_text("{}")
        other = subprocess.run([sys.executable, "-c", HOLD, str(out), "exclusive"], env=ENV,
                               capture_output=True, text=True, timeout=60)
        assert other.returncode != 0 and "in use by another srmsim command" in other.stderr
    assert sorted(p.name for p in out.iterdir()) == ["trial.json"]


def test_nested_holders_share_the_lock_and_it_is_gone_after(tmp_path):
    out = tmp_path / "exp"
    with folder_lock(out), replace_files(out, ["a.txt"]) as stage:
        (stage / "a.txt").write_text("a")
    assert sorted(p.name for p in out.iterdir()) == ["a.txt"]


def test_a_killed_holders_lock_is_taken_over_and_a_failed_writer_leaves_no_folder(tmp_path):
    target = tmp_path / "held"
    proc = hold(target, "exclusive")
    try:
        with pytest.raises(SrmsimError, match="in use"), folder_lock(target):
            pass
    finally:
        kill(proc)
    with folder_lock(target):  # the killed holder's lock file is taken over
        assert (target / LOCK_NAME).exists()
    assert list(target.iterdir()) == []
    new = tmp_path / "new" / "sub"
    with pytest.raises(SrmsimError, match="a check"), folder_lock(new):
        raise SrmsimError("a check failed")
    assert not (tmp_path / "new").exists(), "a folder made only for the lock was left"


def test_a_failed_experiment_into_a_foreign_folder_leaves_it_as_it_was(tmp_path, capsys):
    exp = write_experiment(tmp_path, replications=2)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.docx").write_text("precious")
    assert main(["experiment", str(exp), "--out", str(mine), "--quiet", "--workers", "1"]) == 2
    assert sorted(p.name for p in mine.iterdir()) == ["thesis.docx"]


def test_without_file_locks_commands_go_on_and_remove_nothing(study, monkeypatch, capsys):
    """NFS without locks (or Windows): no lock, so no staging folder can be known stale."""
    import fcntl

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    kill(hold(study, "stage"))
    monkeypatch.setattr(fcntl, "flock", no_locks)
    assert main(["compare", str(study)]) == 0
    assert len(stages(study)) == 1, "a staging folder was removed without a lock"


def test_a_trial_removes_the_new_folder_a_killed_trial_left_beside_its_folder(tmp_path, capsys):
    path = write_trial(tmp_path, replications=2)
    out = tmp_path / "trial"
    argv = ["trial", str(path), "--out", str(out), "--quiet", "--no-report"]
    assert main(argv) == 0
    before = (out / "trial_runs.csv").read_bytes()
    kill(hold(out, "replace"))
    assert len(list(tmp_path.glob(".trial.new-*"))) == 1, "the kill should leave it"
    assert main(argv) == 0
    assert list(tmp_path.glob(".trial.*")) == [] and not (out / LOCK_NAME).exists()
    assert (out / "trial_runs.csv").read_bytes() == before


def test_a_run_removes_a_killed_runs_new_folder_and_refuses_to_race_another(
        finished, tmp_path, capsys):
    scenario = finished.parent / "scenarios" / "tiny.yaml"
    out = tmp_path / "run"
    argv = ["run", str(scenario), "--out", str(out), "--quiet"]
    assert main(argv) == 0
    files = sorted(p.name for p in out.iterdir())
    kill(hold(out, "replace"))
    assert len(list(tmp_path.glob(".run.new-*"))) == 1, "the kill should leave it"
    proc = hold(out, "exclusive")
    try:
        assert main(argv) == 2
        assert f"{out}: in use by another srmsim command" in capsys.readouterr().err
    finally:
        kill(proc)
    assert main(argv) == 0
    assert list(tmp_path.glob(".run.*")) == [] and sorted(p.name for p in out.iterdir()) == files


def test_another_thread_is_refused_as_another_process_is(tmp_path):
    """Nested holders on one thread share the lock; a second thread writing the same folder
    (a notebook running two experiments at once) must not pass as nested."""
    import threading

    out = tmp_path / "exp"
    seen: list[BaseException] = []

    def second() -> None:
        try:
            with folder_lock(out):
                pass
        except SrmsimError as err:
            seen.append(err)

    with folder_lock(out):
        thread = threading.Thread(target=second)
        thread.start()
        thread.join()
    assert len(seen) == 1 and "in use by another srmsim command" in str(seen[0])


def test_an_old_folder_a_killed_swap_left_is_removed_unless_it_holds_the_only_result(
        finished, tmp_path, capsys):
    scenario = finished.parent / "scenarios" / "tiny.yaml"
    out = tmp_path / "run"
    argv = ["run", str(scenario), "--out", str(out), "--quiet"]
    assert main(argv) == 0
    # killed while removing the replaced folder, after the swap
    leftover = tmp_path / ".run.old-abc123" / "x"
    shutil.copytree(out, leftover)
    assert main(argv) == 0
    assert list(tmp_path.glob(".run.*")) == []
    # killed between the two renames: the old folder holds the only result; the next command
    # to hold the folder's lock puts it back before replacing it
    leftover.parent.mkdir()
    os.replace(out, leftover)
    capsys.readouterr()
    assert main(argv) == 0
    assert "restored the results an interrupted command had moved aside" in capsys.readouterr().err
    assert list(tmp_path.glob(".run.*")) == []
    assert (out / "summary.json").is_file()


def test_results_a_kill_left_moved_aside_are_restored_and_kept_if_the_next_command_fails(
        tmp_path, capsys):
    out = tmp_path / "study"
    out.mkdir(mode=0o700)
    (out / "effects.csv").write_text("old\n")
    os.chmod(out, 0o700)  # a private result (real pupils' data)
    stage = tmp_path / ".study.old-k1ll3d"
    stage.mkdir()
    os.replace(out, stage / "x")  # the kill fell here: between replace_dir's two renames
    ours = lambda folder: (folder / "effects.csv").exists()  # noqa: E731 - a study's check
    with pytest.raises(RuntimeError), replace_dir(out, replaceable=ours) as tmp:
        (tmp / "effects.csv").write_text("new\n")
        raise RuntimeError("the next command fails")
    assert (out / "effects.csv").read_text() == "old\n"  # left exactly as it was before the kill
    assert os.stat(out).st_mode & 0o777 == 0o700
    assert not stage.exists() and list(tmp_path.glob(".study.*")) == []
    assert "restored" in capsys.readouterr().err
    with replace_dir(out, replaceable=ours) as tmp:  # one that finishes replaces it as usual
        (tmp / "effects.csv").write_text("new\n")
    assert (out / "effects.csv").read_text() == "new\n"


def test_optimise_and_trial_refuse_a_folder_another_command_writes(tmp_path, capsys):
    from test_explore import tiny_optimisation  # (skips without optuna, SALib, sklearn)

    opt = tmp_path / "opt.yaml"
    opt.write_text(yaml.safe_dump(tiny_optimisation(tmp_path)))
    trial_file = write_trial(tmp_path, replications=2)
    out = tmp_path / "out"
    proc = hold(out, "exclusive")
    try:
        for argv in (["optimise", str(opt), "--out", str(out), "--workers", "1", "--quiet"],
                     ["trial", str(trial_file), "--out", str(out), "--quiet", "--no-report"]):
            assert main(argv) == 2
            assert f"{out}: in use by another srmsim command" in capsys.readouterr().err
        assert [p.name for p in out.iterdir()] == [LOCK_NAME]  # nothing written
    finally:
        kill(proc)


def test_a_search_called_from_python_is_refused_while_another_command_writes_its_folder(
        tmp_path):
    """``search`` (the optimisation's search alone, from Python) takes the folder's lock as
    ``optimise`` does: two searches into one study.db at once interleaved their batches."""
    from srmsim.explore.optimise import load_optimisation, search

    spec = yaml.safe_load((REPO / "experiments" / "optimise_attendance.yaml").read_text())
    spec["scenario"] = str(REPO / "scenarios" / "attendance_escalation_small.yaml")
    path = tmp_path / "opt.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    out = tmp_path / "opt"
    proc = hold(out, "exclusive")
    try:
        with pytest.raises(SrmsimError, match="in use by"):
            search(load_optimisation(path), out, progress=False, max_batches=1)
    finally:
        kill(proc)
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # no study.db, no runs


def test_a_run_is_refused_before_it_simulates_while_another_writes_its_folder(
        finished, tmp_path, capsys, monkeypatch):
    """`srmsim run` took its folder's lock only to swap its files in: two runs into one folder
    both simulated and both exited 0, the last one's files winning (a helper's race probe,
    2026-12-06). It now holds the lock from the start, as experiment and trial do."""
    import srmsim.model

    scenario = finished.parent / "scenarios" / "tiny.yaml"
    out = tmp_path / "run"

    def never(*args, **kwargs):
        raise AssertionError("simulated while another command held the folder")

    monkeypatch.setattr(srmsim.model, "run", never)
    proc = hold(out, "exclusive")
    try:
        assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 2
        assert f"{out}: in use by another srmsim command" in capsys.readouterr().err
    finally:
        kill(proc)
