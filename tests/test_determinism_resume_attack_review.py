"""Attack review of "same seed, same results whatever the workers" and "a stopped job resumes
to the same result" for `srmsim optimise` (and the other commands beyond `experiment`)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import tiny_policy_scenario

pytest.importorskip("optuna")

from srmsim.explore import optimise as optimise_module  # noqa: E402
from srmsim.explore.optimise import optimisation_from_dict, search, trials_table  # noqa: E402

TINY = tiny_policy_scenario(trust={"n_schools": 2, "students_per_year_group": 20,
                                   "size_cv": 0.0})
TINY["policy"]["staff"]["school"]["attendance_officer"] = 300


def _optimisation(tmp: Path, sampler: str):
    (tmp / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    data = {"name": "tiny_opt", "scenario": "tiny.yaml", "replications": 1, "seed": 5,
            "levers": {"policy.parameters.attendance_threshold": {"low": 0.8, "high": 0.98},
                       "policy.workflows.attendance.cooldown_weeks":
                           {"low": 2, "high": 12, "integer": True}},
            "budget": {"total": 600, "roles": {"pastoral": "policy.staff.school.pastoral",
                                               "attendance_officer":
                                                   "policy.staff.school.attendance_officer"}},
            "objectives": {"attendance": "maximise", "staff_hours": "minimise"}
            if sampler == "nsga2" else {"attendance": "maximise"},
            "search": {"sampler": sampler, "trials": 9, "batch": 3}}
    return optimisation_from_dict(data, "tiny_opt.yaml", tmp)


class Stop(KeyboardInterrupt):
    """Ctrl-C (or a kill) part way through asking Optuna for a batch's candidates."""


@pytest.mark.parametrize("sampler", ["nsga2", "tpe"])
@pytest.mark.parametrize("stop_at", [5, 6])  # 5: a candidate asked for without its levers
def test_a_search_stopped_while_asking_for_a_batch_resumes_to_the_same_candidates(
        tmp_path, monkeypatch, sampler, stop_at):
    """Stopped while the candidates of the second batch were being asked for (one asked with
    its levers, the next asked for without them, the last not at all), the resumed search used
    to ask for the missing ones with a fresh sampler: other candidates than an uninterrupted
    search's, and every later batch different."""
    opt = _optimisation(tmp_path, sampler)
    whole = trials_table(opt, search(opt, tmp_path / "whole", progress=False))

    calls = {"n": 0}
    suggest = type(opt).suggest

    def stopping(self, trial):
        calls["n"] += 1
        if calls["n"] == stop_at:
            if stop_at == 5:  # inside the candidate: its first lever drawn, the others not
                trial.suggest_float("policy.parameters.attendance_threshold", 0.8, 0.98)
            raise Stop
        suggest(self, trial)

    with monkeypatch.context() as m:
        m.setattr(type(opt), "suggest", stopping)
        with pytest.raises(Stop):
            search(opt, tmp_path / "stopped", progress=False)
    study = optimise_module.search(opt, tmp_path / "stopped", resume=True, progress=False)
    resumed = trials_table(opt, study)
    assert len(resumed) == len(whole) == 9
    assert resumed.equals(whole), (whole.compare(resumed) if whole.shape == resumed.shape
                                   else resumed)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="zombies are read from /proc")
def test_a_killed_command_that_is_not_reaped_yet_counts_as_gone_for_its_workers():
    """A worker ends when its command is gone. A command killed with kill -9 stays a zombie
    until its own parent reaps it, and the workers took a zombie for a live command."""
    from srmsim.executors import _gone

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 30
        while not Path(f"/proc/{child.pid}/stat").read_bytes().split(b") ")[1].startswith(b"Z"):
            if time.monotonic() > deadline:
                pytest.fail("the child never ended")
            time.sleep(0.02)
        assert _gone(child.pid)  # a zombie, not yet reaped
        assert not _gone(os.getpid())
    finally:
        child.wait()
    assert _gone(child.pid)  # reaped (its number maybe reused by then: a rare false 'alive')


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="zombies are read from /proc")
def test_output_of_a_killed_trial_ends_while_it_is_not_reaped(tmp_path):
    """`subprocess.run(..., capture_output=True)` (and CI runners) read a command's output to its
    end before reaping it. A trial killed with kill -9 left its fork server and workers holding
    that output open for ever: they waited for the zombie to go, the caller for the output to
    end. Now they end within a few seconds."""
    psutil = pytest.importorskip("psutil")
    path = _trial_file(tmp_path)
    out = tmp_path / "t"
    cmd = [sys.executable, "-m", "srmsim", "trial", str(path), "--workers", "2", "--quiet",
           "--no-report", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, env=_env())
    try:
        deadline = time.monotonic() + 120
        runs = out / "store" / "runs" / "trial"
        # its workers, forked from the fork server, run replications
        while len(psutil.Process(proc.pid).children(recursive=True)) < 4 or not (
                runs.is_dir() and any(runs.iterdir())):
            assert proc.poll() is None, proc.communicate()
            if time.monotonic() > deadline:
                pytest.fail("the trial never started its workers")
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        try:
            proc.communicate(timeout=30)  # not proc.wait(): the caller reads the output first
        except subprocess.TimeoutExpired:
            pytest.fail("the killed trial's workers kept its output open")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parent.parent)
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        [root, *filter(None, [os.environ.get("PYTHONPATH")])])}


def _trial_file(tmp: Path) -> Path:
    """A trial of a few hundred replications of a tiny trust: long enough to be killed part way."""
    (tmp / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    path = tmp / "trial.yaml"
    path.write_text(yaml.safe_dump({
        "name": "tiny_trial", "scenario": "tiny.yaml",
        "randomise": {"unit": "students", "block": "school"},
        "outcome": "attendance_rate", "population": "all", "replications": 400, "seed": 3}))
    return path


def test_ctrl_c_landing_in_a_finaliser_still_stops_the_command(monkeypatch, capsys):
    """Ctrl-C raised while Python ran a finaliser (SQLAlchemy's weak-reference callbacks during
    a search, say) was printed as "Exception ignored" and lost: the command ran to its end."""
    import argparse

    from srmsim import cli

    class Finalised:
        def __del__(self):
            raise KeyboardInterrupt  # as the signal handler does, wherever the main thread is

    def work(args):
        Finalised()  # dropped at once: its finaliser runs here
        if args.at_once:
            return 0  # the command ends before the interrupt is raised again
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the command's work goes on
            sum(range(1000))
        return 0

    parser = argparse.ArgumentParser()
    parser.add_argument("--at-once", action="store_true")
    parser.set_defaults(func=work)
    monkeypatch.setattr(cli, "_parser", lambda: parser)
    # Ctrl-C reaches Python only where SIGINT is Python's to handle: a job started in the
    # background of a script ignores it (as CI's did), and then there is nothing to raise again
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    hook = sys.unraisablehook
    try:
        for argv in ([], ["--at-once"]):
            assert cli.main(argv) == 130
            assert "srmsim: interrupted" in capsys.readouterr().err
            assert sys.unraisablehook is hook  # put back
            time.sleep(0.2)  # and no interrupt reaches the caller afterwards
    finally:
        signal.signal(signal.SIGINT, previous)
