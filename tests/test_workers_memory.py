"""Studies run no more local workers at once than memory holds runs.

Each local worker of an experiment, trial or optimisation holds one run; two national runs side
by side on a machine with room for one would be killed for memory (a worker's death stops
the study) where one at a time finishes. Before any process starts, the study now runs as
many workers as its largest run's memory estimate fits in the memory available (at least one;
a run that cannot fit at all is refused, as before), says so, and gives the same results.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from srmsim import memory
from srmsim.cli import main
from srmsim.experiment import load_experiment, run_experiment
from srmsim.experiment.compare import load_runs
from srmsim.model import _run_size, check_study_fits, run_cohort_sizes
from srmsim.scenario import Scenario

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"trust.n_schools": 2, "trust.students_per_year_group": 20}


def _run_estimate(scenario: Scenario, seed: int) -> int:
    return memory.run_bytes(*_run_size(scenario, run_cohort_sizes(scenario, seed)))


def test_workers_are_cut_to_the_runs_memory_holds(monkeypatch):
    small = Scenario(trust={"n_schools": 2, "students_per_year_group": 20})
    big = Scenario(trust={"n_schools": 40, "students_per_year_group": 200})
    each = _run_estimate(big, 1)
    assert each > _run_estimate(small, 1)
    scenarios = {"small": small, "big": big}
    monkeypatch.setattr(memory, "available_bytes", lambda: int(2.5 * each))
    assert check_study_fits(scenarios, 1, "variant", 2) == (2, "")
    fit, note = check_study_fits(scenarios, 1, "variant", 4)
    assert fit == 2  # the largest run decides
    assert note.startswith(f"4 workers would each hold a run of about {memory.amount(each)}")
    # a Dask cluster's memory is its own: its workers as given
    assert check_study_fits(scenarios, 1, "variant", 4, local=False) == (4, "")
    assert f"{memory.amount(int(2.5 * each))} is available: 2 at a time instead" in note
    # one run that does not fit at all is still refused, whatever the workers
    monkeypatch.setattr(memory, "available_bytes", lambda: each // 2)
    with pytest.raises(memory.RunTooBigError):
        check_study_fits(scenarios, 1, "variant", 4)
    # no figure from the system: the workers asked for
    monkeypatch.setattr(memory, "available_bytes", lambda: None)
    assert check_study_fits(scenarios, 1, "variant", 4) == (4, "")


def _experiment(tmp_path: Path):
    exp = yaml.safe_load((ROOT / "experiments" / "quickstart.yaml").read_text())
    exp.update(scenario=str(ROOT / "scenarios" / "reading_and_attendance.yaml"), replications=2)
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    return path


def test_an_experiment_runs_one_at_a_time_when_memory_holds_one(tmp_path, monkeypatch, capsys):
    path = _experiment(tmp_path)
    experiment = load_experiment(path, SMALL)
    each = max(_run_estimate(experiment.scenario_for(v, 0), experiment.seeds(1)[0])
               for v in experiment.variants)
    monkeypatch.setattr(memory, "available_bytes", lambda: int(1.5 * each))
    summary = run_experiment(experiment, tmp_path / "capped", workers=2, progress=False)
    assert len(summary["notes"]) == 1
    assert "2 workers would each hold a run" in summary["notes"][0]
    assert "1 at a time instead (the same results)" in summary["notes"][0]
    session = json.loads((tmp_path / "capped" / "manifest.json").read_text())["sessions"][-1]
    assert session["workers"] == 1 and session["executor"] == "in-process"
    # the same runs as one worker with room to spare
    monkeypatch.setattr(memory, "available_bytes", lambda: 100 * each)
    free = run_experiment(experiment, tmp_path / "free", workers=1, progress=False)
    assert free["notes"] == []
    a, b = (load_runs(tmp_path / name)[0] for name in ("capped", "free"))
    outcomes = list(experiment.outcomes)
    assert len(a) == 8 and outcomes
    pd.testing.assert_frame_equal(a[["variant", "replication", *outcomes]],
                                  b[["variant", "replication", *outcomes]])
    # the command says so
    monkeypatch.setattr(memory, "available_bytes", lambda: int(1.5 * each))
    code = main(["experiment", str(path), "--set", "trust.n_schools=2",
                 "--set", "trust.students_per_year_group=20", "--workers", "2", "--quiet",
                 "--out", str(tmp_path / "cli")])
    out = capsys.readouterr().out
    assert code == 0
    assert "note: 2 workers would each hold a run of about" in out


def test_a_trial_runs_one_at_a_time_when_memory_holds_one(tmp_path, monkeypatch, capsys):
    from srmsim.trial import load_trial, run_trial

    trial = load_trial(ROOT / "experiments" / "trial_attendance_cluster.yaml",
                       overrides={"trust.n_schools": 4, "trust.students_per_year_group": 15},
                       replications=2)
    scenario = trial.scenario.with_overrides({"outputs.history": "none"}, trial.source)
    each = _run_estimate(scenario, trial.seeds(1)[0])
    monkeypatch.setattr(memory, "available_bytes", lambda: int(1.5 * each))
    capped = run_trial(trial, workers=2, progress=False)
    assert len(capped.notes) == 1 and "1 at a time instead" in capped.notes[0]
    monkeypatch.setattr(memory, "available_bytes", lambda: 100 * each)
    free = run_trial(trial, workers=1, progress=False)
    assert free.notes == []
    pd.testing.assert_frame_equal(capped.runs, free.runs)


def test_no_memory_left_reads_as_none_not_minus_zero(monkeypatch):
    """A cgroup already over its limit leaves a negative headroom: the refusal said "-0.0 GiB
    is available"."""
    monkeypatch.setattr(memory, "available_bytes", lambda: -5 * 2**20)
    with pytest.raises(memory.RunTooBigError, match=r"and 0\.0 GiB is available"):
        memory.check_run_fits(1000, 0)
