"""Experiments across backends, resumed, and on hostile settings: what a session of running real
small experiments (in-process, two local workers, a Dask LocalCluster, killed with SIGKILL or
Ctrl-C and resumed, a full or read-only output folder, huge replication counts) found wrong.
Each test fails without its fix."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import yaml
from conftest import tiny_policy_scenario

from srmsim.cli import main
from srmsim.experiment import load_experiment, run_experiment
from srmsim.experiment.result import ExperimentResult

TRUST = {"n_schools": 2, "students_per_year_group": 20, "size_cv": 0.0}


def _experiment(tmp: Path, replications: int = 2, variants: int = 1) -> Path:
    """No policy against ``variants`` copies of the tiny policy, on a 2-school trust."""
    (tmp / "tiny.yaml").write_text(yaml.safe_dump(tiny_policy_scenario(trust=TRUST)))
    exp = {"name": "tiny_resume", "scenario": "tiny.yaml", "baseline": "none",
           "replications": replications, "seed": 11, "outcomes": ["attendance"],
           "variants": {"none": {"policy": None},
                        **{f"texts{i}": {"policy.parameters.attendance_threshold": 0.9 - i / 100}
                           for i in range(variants)}}}
    path = tmp / "exp.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    return path


def test_planning_many_replications_makes_the_draws_once(tmp_path: Path) -> None:
    """An experiment without uncertain parameters built a list of one empty draw per
    replication for every run it planned: quadratic, so 2 variants x 100,000 replications
    (which validate accepts) planned for about half an hour before its first run, and 2 x 3,000
    took 1.6 s. The draws are made once."""
    from srmsim.experiment.runner import plan

    path = _experiment(tmp_path, replications=10_000)
    exp = load_experiment(path)
    draws = exp.parameter_draws()
    assert exp.parameter_draws() is draws  # (a new list of 10,000 per call was the quadratic)
    tasks = plan(exp, range(10_000), None)
    assert len(tasks) == 20_000 and tasks[-1].replication == 9_999
    assert exp.parameter_draws() is draws and len(draws) == 10_000


def test_an_experiment_stopped_just_after_its_manifest_resumes_to_a_whole_report(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Killed (or Ctrl-C) in the moment after a new results folder's manifest.json was written
    and before each variant's scenarios/<variant>.yaml: --resume ran every run, then the report
    was refused for good ("scenarios/none.yaml: missing ... run the experiment into a new --out
    directory"), all the runs lost. Measured with SIGKILL on a 61-variant experiment: none of
    its scenarios had been written. Resuming now writes the missing ones (the experiment's own,
    as its hash is the manifest's)."""
    import srmsim.experiment.store as store_module

    path = _experiment(tmp_path, variants=2)
    out = tmp_path / "out"
    real = store_module.write_text

    def stopped(text: str, target: Path, private: bool = False) -> None:
        if Path(target).parent.name == "scenarios":
            raise KeyboardInterrupt  # as Ctrl-C there; SIGKILL leaves the same files
        real(text, target, private)

    with monkeypatch.context() as m:
        m.setattr(store_module, "write_text", stopped)
        with pytest.raises(KeyboardInterrupt):
            run_experiment(load_experiment(path), out, workers=1, progress=False)
    assert (out / "manifest.json").exists()
    assert not (out / "scenarios").exists() and not (out / "experiment.yaml").exists()
    capsys.readouterr()
    argv = ["experiment", str(path), "--out", str(out), "--workers", "1", "--quiet",
            "--no-report"]
    assert main([*argv, "--resume"]) == 0, capsys.readouterr().err
    res = ExperimentResult.load(out)
    assert [res.scenario(v).digest() for v in ("none", "texts0", "texts1")] == \
        [sc.digest() for sc in load_experiment(path).variants.values()]
    assert (out / "experiment.yaml").read_text() == path.read_text()
    # one deleted later is named with the command that writes it again, which does
    (out / "scenarios" / "texts1.yaml").unlink()
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err
    assert "texts1.yaml: missing" in err and "--resume --out" in err
    assert main(argv) == 0  # a finished experiment run again: reads its runs
    assert ExperimentResult.load(out).scenario("texts1").digest() == \
        load_experiment(path).variants["texts1"].digest()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_full_disk_names_the_file_that_could_not_be_written(
        tmp_path: Path) -> None:
    """On a full disk the error of a file's close (and pyarrow's) names no file: ``srmsim
    experiment`` onto a full 300 KB tmpfs printed "srmsim: error: No space left on device", not
    where. The atomic write names the file it was writing."""
    from srmsim.outputs import write_atomic

    def onto_full_disk(tmp: str) -> None:
        with open("/dev/full", "w") as fh:  # fails as a full disk does, at the flush
            fh.write("x" * 10)

    target = tmp_path / "runs" / "manifest.json"
    with pytest.raises(OSError) as caught:
        write_atomic(target, onto_full_disk)
    assert caught.value.errno == errno.ENOSPC
    assert caught.value.filename == str(target)
    assert sorted(p.name for p in target.parent.iterdir()) == []  # no temporary left


def test_a_trial_killed_while_it_wrote_its_first_manifest_runs_again(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """SIGKILL in the moment a new trial wrote store/manifest.json (its temporary made, not yet
    renamed; met killing `srmsim trial` as its folder appeared) left a folder of an empty
    store/: every later `srmsim trial` into it, with --resume or without, was refused with
    "exists and holds files srmsim did not write there". Such a store, holding nothing, is
    started again."""
    from srmsim.outputs import TEMP_MARKER

    spec = {"name": "tiny_trial",
            "scenario": str(Path(__file__).resolve().parents[1] / "scenarios" / "reading_age.yaml"),
            "overrides": {"trust.n_schools": 2, "trust.students_per_year_group": 12},
            "randomise": {"unit": "students"}, "outcome": "reading_gap_end",
            "baseline": "reading_gap_start", "replications": 2, "seed": 11}
    path = tmp_path / "trial.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    argv = ["trial", str(path), "--quiet", "--no-report", "--workers", "1"]
    whole = tmp_path / "whole"
    assert main([*argv, "--out", str(whole)]) == 0
    out = tmp_path / "out"
    (out / "store").mkdir(parents=True)
    (out / "store" / f".manifest.json{TEMP_MARKER}k1ll3d00").write_text("{")
    assert main([*argv, "--out", str(out), "--resume"]) == 0, capsys.readouterr().err
    for name in ("trial_runs.csv", "trial_summary.csv", "trial.json"):
        assert (out / name).read_bytes() == (whole / name).read_bytes()


def test_an_experiment_killed_before_its_manifest_leaves_a_folder_it_runs_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An experiment with uncertain: parameters wrote parameters.csv before manifest.json: killed
    between the two, its folder was refused for good ("exists and holds files srmsim did not
    write there"). The manifest is written first; a parameters.csv missing after it (killed
    just after) is written on --resume."""
    path = _experiment(tmp_path)
    exp = yaml.safe_load(path.read_text())
    exp["uncertain"] = {"dynamics.absence_logit": [-4.5, -3.8]}
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    whole, out = tmp_path / "whole", tmp_path / "out"
    run_experiment(load_experiment(path), whole, workers=1, progress=False)
    # killed after its first file: with the manifest first, that file is the manifest
    out.mkdir()
    (out / "manifest.json").write_bytes((whole / "manifest.json").read_bytes())
    argv = ["experiment", str(path), "--out", str(out), "--workers", "1", "--quiet",
            "--no-report", "--resume"]
    assert main(argv) == 0, capsys.readouterr().err
    assert (out / "parameters.csv").read_bytes() == (whole / "parameters.csv").read_bytes()
    from srmsim.explore.tables import Explored

    assert len(Explored(out).parameters) == 2  # read and checked against the design
    # and a kill before the manifest leaves nothing but temporaries: nothing is written first
    from srmsim.experiment.store import ResultsStore

    before: list[list[str]] = []
    real = ResultsStore.write_manifest

    def first(self: ResultsStore, manifest: dict) -> None:
        if not before:
            before.append(sorted(p.name for p in self.root.iterdir()
                                 if not p.name.startswith(".")))
        real(self, manifest)

    monkeypatch.setattr(ResultsStore, "write_manifest", first)
    run_experiment(load_experiment(path), tmp_path / "new", workers=1, progress=False)
    assert before == [[]]


@pytest.mark.parametrize("kind", ["experiment", "trial"])
def test_the_resume_command_names_the_study_file_from_the_folder_it_is_printed_in(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """The manifest kept the study file as given, relative to the folder the study started
    in: `srmsim report results/x` run from another folder printed a resume command naming a
    file that is not there from where it was printed. The command names it from here."""
    from srmsim.experiment.store import ResultsStore
    from srmsim.trial.store import TrialStore

    start = tmp_path / "project"
    start.mkdir()
    _experiment(start)
    monkeypatch.chdir(start)
    if kind == "experiment":
        store, command = ResultsStore, ["experiment", "exp.yaml", "--workers", "1"]
    else:
        reading = Path(__file__).resolve().parents[1] / "scenarios" / "reading_age.yaml"
        (start / "trial.yaml").write_text(yaml.safe_dump({
            "name": "tiny_trial", "scenario": str(reading),
            "overrides": {"trust.n_schools": 2, "trust.students_per_year_group": 12},
            "randomise": {"unit": "students"}, "outcome": "reading_gap_end",
            "baseline": "reading_gap_start", "replications": 2, "seed": 5}))
        store, command = TrialStore.of, ["trial", "trial.yaml"]
    assert main([*command, "--out", "results/x", "--quiet", "--no-report"]) == 0
    assert f" {command[1]} " in store(Path("results/x")).resume_command()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    printed = store(Path("../project/results/x")).resume_command()
    named = printed.split()[2]
    assert named == f"../project/{command[1]}" and (elsewhere / named).is_file()
    assert printed.endswith("--resume --out ../project/results/x")
