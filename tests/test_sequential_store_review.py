"""Review of how a ``sequential:`` experiment's results store says how many replications the
stopping rule kept, and what the analysis (``srmsim compare``, ``srmsim report``,
:meth:`ExperimentResult.load`) reads of a store that holds more.

Found: killed (SIGKILL) while a later batch ran, a sequential experiment left runs past the
replications its manifest records, and nothing said the stopping rule had not decided: the
analysis read every stored run as a finished experiment's, the extra replications counted in
the effects. A finished experiment with failed runs, run again without --resume, was refused as
"unfinished results"."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import folder_bytes, tiny_policy_scenario

from srmsim.errors import SrmsimError
from srmsim.experiment import load_experiment, run_experiment
from srmsim.experiment.compare import load_runs_and_failures
from srmsim.experiment.result import ExperimentResult
from srmsim.experiment.store import ResultsStore
from srmsim.outputs import LOCK_NAME

REPO = Path(__file__).resolve().parents[1]


def _experiment(tmp: Path, sequential: bool = True, **seq_settings) -> Path:
    """Two variants of a 2-school trust of 25 a year group, 2 replications first, then (when
    ``sequential``) batches of 2 up to 4 while the attendance half-width is above its target
    (default: never met)."""
    scenario = tiny_policy_scenario(trust={"n_schools": 2, "students_per_year_group": 25,
                                           "size_cv": 0.0})
    (tmp / "tiny.yaml").write_text(yaml.safe_dump(scenario))
    seq = {"half_width": {"attendance": 1e-12}, "max_replications": 4, "batch": 2,
           **seq_settings}
    exp = {"name": "tiny_seq", "scenario": "tiny.yaml", "baseline": "none", "replications": 2,
           "seed": 11, "outcomes": ["attendance"],
           "variants": {"none": {"policy": None}, "texts": {}}}
    if sequential:
        exp["sequential"] = seq
    path = tmp / "exp.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    return path


KILL_AFTER = """
import os, signal, sys
from srmsim.experiment import load_experiment, run_experiment
from srmsim.experiment.store import ResultsStore

original = ResultsStore.save_run

def save_run(self, row):
    original(self, row)
    if (row["variant"], row["replication"]) == (sys.argv[3], int(sys.argv[4])):
        os.kill(os.getpid(), signal.SIGKILL)  # as a kill -9 while the batch runs

ResultsStore.save_run = save_run
run_experiment(load_experiment(sys.argv[1]), sys.argv[2], workers=1, progress=False)
"""


def _killed(path: Path, out: Path, variant: str, replication: int) -> None:
    """Run the experiment in a process killed with SIGKILL once it has stored that run."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", KILL_AFTER, str(path), str(out), variant,
                           str(replication)], cwd=REPO, env=env, capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]


@pytest.fixture(scope="module")
def killed(tmp_path_factory) -> tuple[Path, Path]:
    """Killed in its second batch once replication 2 of both variants is stored (3 of neither):
    the manifest is the one its start wrote."""
    tmp = tmp_path_factory.mktemp("killed")
    path = _experiment(tmp)
    out = tmp / "out"
    _killed(path, out, "texts", 2)
    return path, out


def fails(capsys, *argv: str, contains: str = "") -> str:
    """Run the CLI in-process; it must exit 2 with one short message and no traceback."""
    from srmsim.cli import main

    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.startswith("srmsim: error:") and "Traceback" not in err, err
    assert contains in err, err
    return err


def _copy(src: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(src, out)
    return out


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def test_a_killed_sequential_experiment_leaves_runs_past_its_count(killed):
    """What the kill leaves (so that the tests below test what they say): the first round and
    replication 2 of both variants stored (3 of the baseline too), the manifest as its start
    wrote it, saying the stopping rule has not decided."""
    _, out = killed
    stored = sorted(str(p.relative_to(out)) for p in out.glob("runs/*/*.parquet"))
    assert stored == [f"runs/none/rep-0000{r}.parquet" for r in range(4)] + [
        f"runs/texts/rep-0000{r}.parquet" for r in range(3)]
    manifest = _manifest(out)
    assert "replications" not in manifest and manifest["replications_planned"] == 2
    assert manifest["stopped"] is None


def test_a_killed_sequential_experiment_is_not_analysed(killed, tmp_path, capsys):
    """compare, report and ExperimentResult.load refuse it, saying it did not finish, how many
    runs lie past the recorded count, and the command that resumes it (before, they read all 3
    paired replications as a finished experiment's 2)."""
    _, out = killed
    for load in (load_runs_and_failures, ExperimentResult.load):
        with pytest.raises(SrmsimError, match="did not finish") as err:
            load(out)
        assert "3 runs past those 2 replications are stored" in str(err.value)
        assert "--resume" in str(err.value)
    fails(capsys, "compare", str(out), contains="did not finish")
    fails(capsys, "report", str(out), contains="did not finish")
    assert not (out / "report.html").exists()


def test_a_killed_sequential_experiment_is_not_rerun_without_resume(killed, tmp_path, capsys):
    """Its first round is all stored, which made it "complete" (run again, it silently went on
    adding replications): without --resume it is refused as unfinished, untouched."""
    path, src = killed
    out = _copy(src, tmp_path)
    # the results byte for byte; srmsim's own lock file, which a killed writer may leave, is
    # no result
    before = folder_bytes(out, skip=(LOCK_NAME,))
    fails(capsys, "experiment", str(path), "--out", str(out), "--workers", "1", "--quiet",
          contains="unfinished results")
    assert folder_bytes(out, skip=(LOCK_NAME,)) == before


def test_a_killed_sequential_experiment_resumed_is_the_uninterrupted_one(killed, tmp_path):
    """Resumed, it finishes as an uninterrupted run does (4 replications, the maximum), and the
    analysis then reads exactly those: the runs and effects of the uninterrupted run."""
    import pandas as pd

    path, src = killed
    out = _copy(src, tmp_path)
    summary = run_experiment(load_experiment(path), out, workers=1, resume=True,
                             progress=False)
    assert (summary["replications"], summary["stopped"]) == (4, "max_replications reached")
    assert summary["runs"] == 1  # replication 3 of texts
    full = tmp_path / "full"
    run_experiment(load_experiment(path), full, workers=1, progress=False)
    assert _manifest(out)["stopped"] == _manifest(full)["stopped"] == "max_replications reached"
    a, b = ExperimentResult.load(out), ExperimentResult.load(full)
    assert a.replications == b.replications == 4
    pd.testing.assert_frame_equal(a.effects, b.effects)


def test_an_interrupted_sequential_experiment_is_not_analysed(tmp_path, monkeypatch):
    """Interrupted (Ctrl-C) while its second batch runs, the manifest records the count it was
    working towards and says the rule has not decided; the analysis refuses it, and it names
    the missing run."""
    path = _experiment(tmp_path)
    original = ResultsStore.save_run

    def save_run(self, row):
        original(self, row)
        if (row["variant"], row["replication"]) == ("none", 3):
            raise KeyboardInterrupt

    monkeypatch.setattr(ResultsStore, "save_run", save_run)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_experiment(load_experiment(path), out, workers=1, progress=False)
    manifest = _manifest(out)
    assert manifest["replications"] == 4 and manifest["stopped"] is None
    with pytest.raises(SrmsimError, match=r"runs/texts/rep-00002\.parquet"):
        load_runs_and_failures(out)
    # the missing runs made again by hand: still the rule has not decided
    monkeypatch.setattr(ResultsStore, "save_run", original)
    done = tmp_path / "done"
    run_experiment(load_experiment(path), done, workers=1, progress=False)
    for f in done.glob("*/texts/rep-0000[23]*"):
        shutil.copy(f, out / f.relative_to(done))
    with pytest.raises(SrmsimError, match="did not finish"):
        load_runs_and_failures(out)


def test_runs_past_the_count_of_an_older_srmsim_are_refused(killed, tmp_path):
    """A store of an older srmsim (no "stopped" in its manifest) killed the same way: the runs
    past the manifest's count are refused by name, with the command that resumes it."""
    _, src = killed
    out = _copy(src, tmp_path)
    manifest = _manifest(out)
    manifest.pop("stopped", None)
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SrmsimError, match="3 runs past the 2 replications") as err:
        ExperimentResult.load(out)
    assert "runs/none/rep-00002.parquet" in str(err.value) and "--resume" in str(err.value)


def test_runs_past_a_finished_count_are_refused(tmp_path):
    """A finished sequential experiment whose store holds runs past the count its stopping rule
    kept (here: the count set back to 2 by hand, as an earlier interrupted session could leave
    them) is refused, naming the first, not analysed with them."""
    path = _experiment(tmp_path, max_replications=3, batch=1)
    out = tmp_path / "out"
    run_experiment(load_experiment(path), out, workers=1, progress=False)
    assert ExperimentResult.load(out).replications == 3
    manifest = _manifest(out)
    manifest["replications"] = 2
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SrmsimError, match="2 runs past the 2 replications") as err:
        ExperimentResult.load(out)
    assert "runs/none/rep-00002.parquet" in str(err.value)
    assert "not among the replications the stopping rule kept" in str(err.value)
    assert "--resume" not in str(err.value)  # resuming would not take them away


def test_a_hand_edited_stopped_is_refused(killed, tmp_path):
    _, src = killed
    out = _copy(src, tmp_path)
    manifest = _manifest(out)
    manifest["stopped"] = 5
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SrmsimError, match="'stopped' is not why the experiment stopped"):
        load_runs_and_failures(out)


@pytest.mark.parametrize("sequential", [False, True])
def test_a_finished_experiment_with_failed_runs_run_again(tmp_path, capsys, monkeypatch,
                                                         sequential):
    """Run again without --resume, a finished experiment in which a run failed is refused as
    finished (not "unfinished"), saying how many runs failed, where their errors are, and
    what to do: --resume runs the failed one again (and then the folder is whole), or another
    --out."""
    from srmsim import model as model_module

    path = _experiment(tmp_path, sequential=sequential, max_replications=2)
    seeds = load_experiment(path).seeds()
    original = model_module.TrustModel.run

    def flaky(self, progress=None):
        if self.config.policy is not None and self.seed == seeds[1]:
            raise RuntimeError("boom")
        return original(self, progress)

    monkeypatch.setattr(model_module.TrustModel, "run", flaky)
    out = tmp_path / "out"
    run_experiment(load_experiment(path), out, workers=1, progress=False)
    assert (out / "failures/texts/rep-00001.json").exists()
    err = fails(capsys, "experiment", str(path), "--out", str(out), "--workers", "1",
                "--quiet", contains="already holds the finished results of experiment "
                "'tiny_seq', in which 1 run failed")
    assert "unfinished" not in err and "to run it again (once what made it fail is fixed): " \
        f"srmsim experiment {path} --resume --out {out}\n" in err
    assert str(out / "failures") in err and "or choose another --out" in err
    monkeypatch.setattr(model_module.TrustModel, "run", original)
    summary = run_experiment(load_experiment(path), out, workers=1, resume=True,
                             progress=False)
    assert summary["runs"] == 1 and summary["failures"] == []
    assert ExperimentResult.load(out).replications == 2
