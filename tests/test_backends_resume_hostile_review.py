"""Experiments across backends, resumed, and on hostile settings: what a session of running real
small experiments (in-process, two local workers, a Dask LocalCluster, killed with SIGKILL or
Ctrl-C and resumed, a full or read-only output folder, huge replication counts) found wrong.
Each test fails without its fix."""

from __future__ import annotations

import time
from pathlib import Path

import yaml
from conftest import tiny_policy_scenario

from srmsim.experiment import load_experiment

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
    assert exp.parameter_draws() is exp.parameter_draws()
    t0 = time.process_time()
    tasks = plan(exp, range(10_000), None)
    seconds = time.process_time() - t0
    assert len(tasks) == 20_000 and tasks[-1].replication == 9_999
    assert seconds < 10, f"planning 20,000 runs took {seconds:.1f} s of CPU"  # quadratic: ~20 s
