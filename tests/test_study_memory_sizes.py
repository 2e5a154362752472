"""A study is sized by the largest run it will make, not by its first.

An experiment's uncertain parameters may size its runs (a request stream's arrivals, the spread
of school sizes), and an optimisation's levers may too (the number of schools and their size,
each up to a high bound): the memory check before a study starts looked at the first
replication's draws and at the optimisation's baseline only, so a study whose later runs
could not fit started, wrote its folder and failed (or was killed) run by run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from srmsim import memory
from srmsim.cli import main
from srmsim.experiment import load_experiment, run_experiment
from srmsim.explore.optimise import load_optimisation, optimise
from srmsim.model import _run_size, check_study_fits, run_cohort_sizes
from srmsim.scenario import Scenario

ROOT = Path(__file__).resolve().parents[1]


def _estimate(scenario: Scenario, seed: int) -> int:
    return memory.run_bytes(*_run_size(scenario, run_cohort_sizes(scenario, seed)))


def _request_experiment(tmp_path: Path) -> Path:
    """Four weeks of the certification office with arrivals of 100 to 400,000 a week."""
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({
        "name": "arrivals", "scenario": str(ROOT / "scenarios" / "certification_backlog.yaml"),
        "baseline": "paper", "seed": 5, "replications": 6, "outcomes": ["request_throughput"],
        "variants": {"paper": {}, "backlog": {"requests.certification.backlog": 100}},
        "uncertain": {"requests.certification.arrivals.per_week": [100, 400_000]}},
        sort_keys=False))
    return path


def test_an_experiment_is_sized_by_its_largest_draw_of_an_uncertain_size(tmp_path, monkeypatch):
    path = _request_experiment(tmp_path)
    exp = load_experiment(path, {"years": 1})
    seed = exp.seeds(1)[0]
    sizes = [_estimate(exp.scenario_for("paper", r), seed) for r in range(exp.replications)]
    first, largest = sizes[0], max(sizes)
    assert largest > 2 * first  # the draws spread the runs' sizes
    monkeypatch.setattr(memory, "available_bytes", lambda: (first + largest) // 2)
    out = tmp_path / "out"
    with pytest.raises(memory.RunTooBigError, match=r"variant 'paper \(replication \d+: "
                       r"requests\.certification\.arrivals\.per_week drawn\)'"):
        run_experiment(exp, out, workers=1, progress=False)
    assert not out.exists()  # refused before the results folder was started
    # the same draws, each sized once however many replications share them
    many = exp.sized_scenarios()
    assert len(many) == 2 * exp.replications
    calls = []
    import srmsim.model as model

    real = model.run_cohort_sizes
    monkeypatch.setattr(model, "run_cohort_sizes", lambda sc, s=None: calls.append(1) or real(sc, s))
    monkeypatch.setattr(memory, "available_bytes", lambda: None)
    check_study_fits({f"copy {i}": exp.scenario_for("paper", 0) for i in range(20)}, seed, "v")
    assert len(calls) == 1


def test_a_study_of_many_drawn_sizes_sizes_a_bounded_number_and_the_ends(tmp_path,
                                                                        monkeypatch):
    """An experiment of 10 variants x 100,000 replications with an uncertain trust.size_cv
    built a scenario for each of its 1,000,000 runs before starting (80 s, 5.4 GB) and died
    with a SystemError traceback from pydantic. Now at most SIZED_RUNS runs are sized one by
    one, and each variant with the draws at both ends of their ranges; a run larger than the
    memory at the high end is still refused before anything is written."""
    from srmsim.experiment import spec

    monkeypatch.setattr(spec, "SIZED_RUNS", 8)
    path = _request_experiment(tmp_path)
    path.write_text(path.read_text().replace("replications: 6", "replications: 50"))
    exp = load_experiment(path, {"years": 1})
    sized = exp.sized_scenarios()
    names = list(sized)
    assert len(names) == 2 * 4 + 2 * 2  # 4 replications a variant, and the two ends each
    high = sized["paper (requests.certification.arrivals.per_week at the high end)"]
    assert high.requests["certification"].arrivals.per_week == 400_000
    seed = exp.seeds(1)[0]
    largest = _estimate(high, seed)
    monkeypatch.setattr(memory, "available_bytes", lambda: largest - 1)
    out = tmp_path / "out"
    with pytest.raises(memory.RunTooBigError, match="at the high end"):
        run_experiment(exp, out, workers=1, progress=False)
    assert not out.exists()


def test_validate_says_an_experiment_would_not_fit_by_its_largest_draw(tmp_path, monkeypatch,
                                                                       capsys):
    path = _request_experiment(tmp_path)
    exp = load_experiment(path)
    seed = exp.seeds(1)[0]
    sizes = [_estimate(exp.scenario_for("paper", r), seed) for r in range(exp.replications)]
    monkeypatch.setattr(memory, "available_bytes", lambda: (sizes[0] + max(sizes)) // 2)
    code = main(["validate", str(path)])
    text = capsys.readouterr()
    assert code == 0, text  # valid, with a warning that its largest run would not fit
    assert "replication" in text.out + text.err and "arrivals.per_week" in text.out + text.err


def _size_optimisation(tmp_path: Path) -> Path:
    path = tmp_path / "opt.yaml"
    path.write_text(yaml.safe_dump({
        "name": "sizes", "scenario": str(ROOT / "scenarios" / "attendance_escalation_small.yaml"),
        "replications": 1, "seed": 3,
        "levers": {"trust.n_schools": {"low": 2, "high": 400, "integer": True},
                   "trust.students_per_year_group": {"low": 20, "high": 400, "integer": True}},
        "objectives": {"attendance": "maximise"},
        "search": {"trials": 2, "batch": 2}}, sort_keys=False))
    return path


def test_an_optimisation_is_sized_by_its_levers_at_their_high_ends_together(tmp_path,
                                                                           monkeypatch):
    """400 schools of 20 a year and 2 schools of 400 each fit; 400 schools of 400 would not, and
    the search may propose it: refused before the search's folder is made, naming it."""
    opt = load_optimisation(_size_optimisation(tmp_path))
    seed = 3
    base = opt.scenario({})
    one_high = max(_estimate(base.with_overrides(o, "t"), seed) for o in (
        {"trust.n_schools": 400, "trust.students_per_year_group": 20},
        {"trust.n_schools": 2, "trust.students_per_year_group": 400}))
    both = _estimate(base.with_overrides(
        {"trust.n_schools": 400, "trust.students_per_year_group": 400}, "t"), seed)
    assert both > 2 * one_high
    monkeypatch.setattr(memory, "available_bytes", lambda: (one_high + both) // 2)
    out = tmp_path / "search"
    with pytest.raises(memory.RunTooBigError,
                       match=r"variant 'with trust\.n_schools = 400, "
                             r"trust\.students_per_year_group = 400'"):
        optimise(opt, out, workers=1)
    assert not out.exists()
    names = list(opt.sized_scenarios())
    assert names[0] == "baseline" and len(names) == 5  # baseline, lows, each high, both


def test_an_optimisation_counts_uncertain_sizes_at_both_ends(tmp_path):
    path = _size_optimisation(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["uncertain"] = {"trust.size_cv": [0.0, 0.9], "dynamics.absence_logit": [-4.2, -3.9]}
    path.write_text(yaml.safe_dump(data))
    opt = load_optimisation(path)
    sized = opt.sized_scenarios()
    ends = [n for n in sized if "uncertain trust.size_cv at the" in n]
    assert len(ends) == 2 * (len(sized) // 3)  # each candidate at the low and the high end
    assert {sized[n].trust.size_cv for n in ends} == {0.0, 0.9}
    assert not any("absence_logit" in n for n in sized)  # not a size


def test_an_unknown_outcome_is_named_with_the_closest_and_the_known_ones_once(tmp_path):
    """The error listed all 120 outcomes, 90 of them the learning outcomes' per-group and
    per-term copies, so the command line's cut-off message never reached a near miss."""
    from srmsim.errors import ScenarioError

    path = _request_experiment(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["outcomes"] = ["attendence", "ghost"]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError) as err:
        load_experiment(path)
    text = str(err.value)
    assert "unknown outcomes 'attendence' (did you mean 'attendance'?), 'ghost';" in text
    assert "regret_t7" not in text and "regret_fsm" not in text
    assert "each of regret, oracle_match" in text and "(_t1 to _t15)" in text
    assert len(text) < 1200
    opt = _size_optimisation(tmp_path)
    data = yaml.safe_load(opt.read_text())
    data["objectives"] = {"staff_hour": "minimise"}
    opt.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError, match=r"objectives: unknown outcome 'staff_hour' \(did "
                                            r"you mean 'staff_hours'\?\); known: attendance"):
        load_optimisation(opt)


def test_a_request_step_is_counted_at_least_as_its_draws() -> None:
    """Each step of a request holds its draws from arrival (a service size and a rework draw
    for each of MAX_ATTEMPTS attempts, and a dropout draw, 8 bytes each): 170 B a step let
    450,000 requests of 50 steps pass as 4.8 GB and run out of memory at 5.4 GB."""
    from srmsim.admin.desk import MAX_ATTEMPTS

    assert memory.BYTES_PER_REQUEST_STEP >= (2 * MAX_ATTEMPTS + 1) * 8
