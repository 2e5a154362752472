"""Review of the intervals and verdicts of `srmsim experiment` (compare.py, runner.py, the report).

Checked against truths known by construction or from 800 replications of a 1-school trust:
the interval is a t interval (n - 1 df) of the mean paired difference, per variant and outcome;
for continuous outcomes it covers 94-95% from 2 replications on. Found: the sequential rule
stopped on the half-width of its first round (2 replications: often 0 for an outcome of few
values), the printed table and the report presented a zero-width interval from identical paired
differences as certain, and neither said that its verdicts are not adjusted for multiplicity.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from conftest import tiny_policy_scenario

from srmsim.experiment import load_experiment, run_experiment
from srmsim.experiment.compare import compare_frame
from srmsim.experiment.runner import sequential_step
from srmsim.experiment.spec import SequentialConfig


def _experiment(tmp: Path, **sequential) -> Path:
    """Two variants of a 1-school trust of 30 a year group (a run takes ~0.07 s)."""
    scenario = tiny_policy_scenario(trust={"n_schools": 1, "students_per_year_group": 30,
                                           "size_cv": 0.0})
    (tmp / "tiny.yaml").write_text(yaml.safe_dump(scenario))
    exp = {"name": "intervals", "scenario": "tiny.yaml", "baseline": "none", "replications": 2,
           "seed": 11, "outcomes": ["attendance", "staff_hours"],
           "variants": {"none": {"policy": None}, "texts": {}}, "sequential": sequential}
    path = tmp / "exp.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    return path


# --- 1. the sequential rule's first decision -----------------------------------------------

def test_a_first_round_of_two_does_not_stop_on_its_own_half_width(tmp_path):
    """A target the first round's 2 replications meet (a half-width of 5 percentage points
    of attendance) stopped the experiment at 2 replications; it now runs to the default
    min_replications (10) first, and stops there."""
    path = _experiment(tmp_path, half_width={"attendance": 0.05}, max_replications=50, batch=5)
    summary = run_experiment(load_experiment(path), tmp_path / "o", workers=1, progress=False)
    assert (summary["replications"], summary["stopped"]) == (10, "half-width target met")
    # asked for, the old rule: its first round decides
    path = _experiment(tmp_path, half_width={"attendance": 0.05}, max_replications=50, batch=5,
                       min_replications=2)
    summary = run_experiment(load_experiment(path), tmp_path / "o2", workers=1, progress=False)
    assert (summary["replications"], summary["stopped"]) == (2, "half-width target met")


def test_min_replications_above_max_replications_stops_at_the_maximum():
    """With max_replications below min_replications the rule runs to the maximum (never past
    it) and says the target was met there when it was."""
    seq = SequentialConfig(half_width={"y": 1.0}, max_replications=4, batch=1)
    met = pd.DataFrame({"outcome": ["y"], "half_width": [0.5]})
    assert sequential_step(met, seq, 2) == (None, 4)
    assert sequential_step(met, seq, 4) == ("half-width target met", 4)
    wide = met.assign(half_width=2.0)
    assert sequential_step(wide, seq, 4) == ("max_replications reached", 4)
    # from 10 on, batches as before
    seq = SequentialConfig(half_width={"y": 1.0}, max_replications=200, batch=5)
    assert sequential_step(wide, seq, 2) == (None, 10)
    assert sequential_step(wide, seq, 10) == (None, 15)
    assert sequential_step(met, seq, 10) == ("half-width target met", 10)


def test_sequential_intervals_of_a_rare_share_cover_the_true_effect():
    """The share of 150 students with a rare event (2%), each event removed by the variant with
    probability 0.3: the true effect is exactly -0.3 x 2% = -0.6 pp. Stopping on the rule's
    decisions from a first round of 2 (target 0.4 pp, batches of 5), 200 experiments' 95%
    intervals covered it 64.5% of the time when the first round could stop the experiment (its 2
    paired differences are often equal: a half-width of 0); from 10 replications 91.5%. The bound
    0.85 is 3.5 binomial SEs (0.019 at 200 experiments) below that and far above 0.645."""
    seq = SequentialConfig(half_width={"y": 0.004}, max_replications=200, batch=5)
    rng = np.random.default_rng(2026)
    truth = -0.3 * 0.02
    covered = []
    for _ in range(200):
        base = rng.binomial(150, 0.02, 200)
        variant = base - rng.binomial(base, 0.3)
        runs = pd.DataFrame({"variant": ["base"] * 200 + ["v"] * 200,
                             "replication": np.r_[np.arange(200), np.arange(200)],
                             "y": np.r_[base, variant] / 150})
        n = 2
        while True:
            effects = compare_frame(runs[runs["replication"] < n], "base", ["y"])
            stop, n = sequential_step(effects, seq, n)
            if stop:
                break
        row = effects.iloc[0]
        covered.append(row["ci_low"] <= truth <= row["ci_high"])
    assert np.mean(covered) >= 0.85


def test_the_default_min_replications_keeps_the_experiment_hash(tmp_path):
    """Results of a sequential experiment made before the setting existed resume (their hash is
    that of the settings without it); a different min_replications is another experiment."""
    default = load_experiment(_experiment(tmp_path, half_width={"attendance": 0.05}))
    assert "min_replications" not in default.hashed_config()["sequential"]
    other = load_experiment(_experiment(tmp_path, half_width={"attendance": 0.05},
                                        min_replications=3))
    assert other.hashed_config()["sequential"]["min_replications"] == 3
    assert other.digest() != default.digest()
