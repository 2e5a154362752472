"""Hostile experiment, trial and optimisation files found by fuzzing the spec validators: each
was accepted and then gave a silently wrong result, did nothing, or failed only at run time."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from srmsim.cli import main
from srmsim.errors import ScenarioError
from srmsim.experiment.spec import load_experiment
from srmsim.explore.optimise import load_optimisation
from srmsim.trial.spec import load_trial

REPO = Path(__file__).resolve().parents[1]
READING = str(REPO / "scenarios" / "reading_age.yaml")
ATTENDANCE = str(REPO / "scenarios" / "attendance_escalation_small.yaml")


def write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def fails(capsys, path: Path, contains: str) -> str:
    """``srmsim validate`` exits 2 with a short message naming the file, no traceback."""
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"srmsim: error: {path}") and "Traceback" not in err
    assert contains in err, err
    return err


def experiment(tmp_path: Path, **extra) -> Path:
    return write(tmp_path / "e.yaml", {
        "scenario": ATTENDANCE, "baseline": "none", "outcomes": ["attendance"],
        "variants": {"none": {"policy": None}, "w": {}}, **extra})


# ---------------------------------------------------------------------------------------------
# experiments


def test_sequential_needs_two_replications_in_its_first_round(tmp_path, capsys):
    # one replication has no interval: the target counted as met and the experiment stopped
    path = experiment(tmp_path, replications=1,
                      sequential={"half_width": {"attendance": 0.01}, "max_replications": 50})
    fails(capsys, path, "sequential: the first round (replications) needs at least 2")


@pytest.mark.parametrize("name", ["attendance_diff", "attendance_baseline", "mine_diff"])
def test_outcome_named_like_another_outcomes_derived_column_is_refused(tmp_path, capsys, name):
    # discovery's table has x, x_diff and x_baseline per outcome: a custom outcome named
    # attendance_diff made that column ambiguous (a 2-column "field" in every condition)
    custom = {"statistic": "mean", "of": "attendance_rate"}
    path = experiment(tmp_path, outcomes=["attendance", {"name": "mine", **custom},
                                          {"name": name, **custom}])
    fails(capsys, path, f"outcome ['{name}'] is named like the difference or baseline")


def test_sequential_without_targets_is_refused(tmp_path, capsys):
    # no target was "met" at once: max_replications and batch did nothing
    path = experiment(tmp_path, sequential={"half_width": {}, "max_replications": 50})
    fails(capsys, path, "sequential.half_width")


@pytest.mark.parametrize("extra", [{"replications": 50}, {}])
def test_sequential_max_replications_below_the_first_round_is_refused(tmp_path, capsys, extra):
    path = experiment(tmp_path, sequential={"half_width": {"attendance": 0.01},
                                            "max_replications": 10}, **extra)
    fails(capsys, path, "sequential.max_replications (10) is below replications")


def test_variant_setting_an_uncertain_key_is_refused(tmp_path, capsys):
    # the draw replaced the variant's value in every replication: two identical arms
    path = experiment(tmp_path, variants={
        "none": {"policy": None}, "w": {"dynamics.absence_logit": 0},
        "v": {"dynamics": {"absence_logit": -1}}},
        uncertain={"dynamics.absence_logit": [-4.4, -3.8]})
    err = fails(capsys, path, "variants.w.dynamics.absence_logit: is also an uncertain")
    assert "variants.v.dynamics.absence_logit" in err


def test_set_of_an_uncertain_key_is_refused(tmp_path):
    path = experiment(tmp_path, uncertain={"dynamics.absence_logit": [-4.4, -3.8]})
    with pytest.raises(ScenarioError, match="--set dynamics.absence_logit"):
        load_experiment(path, {"dynamics.absence_logit": 0})
    # a key beside it is fine, and no-policy variants with uncertain policy keys stay valid
    load_experiment(path, {"trust.n_schools": 2})
    load_experiment(experiment(tmp_path, uncertain={
        "policy.actions.parent_text.take_up": [0.4, 0.9]}))


@pytest.mark.parametrize("design, contains", [
    ({"method": "sobol", "n": 4, "levels": 6}, "levels is only used by method morris"),
    ({"method": "lhs", "levels": 6}, "levels is only used by method morris"),
    ({"method": "morris", "n": 4, "second_order": True}, "second_order is only used by"),
])
def test_design_options_that_do_nothing_are_refused(tmp_path, capsys, design, contains):
    extra = {} if design["method"] != "lhs" else {"replications": 3}
    path = experiment(tmp_path, design=design, uncertain={"dynamics.absence_logit": [-4, -3]},
                      **extra)
    fails(capsys, path, contains)


# ---------------------------------------------------------------------------------------------
# trials


def trial(tmp_path: Path, **extra) -> Path:
    return write(tmp_path / "t.yaml", {"scenario": READING, "outcome": "reading_gap_end",
                                       "randomise": {"unit": "students"}, **extra})


def test_trial_baseline_equal_to_the_outcome_is_refused(tmp_path, capsys):
    fails(capsys, trial(tmp_path, baseline="reading_gap_end"), "baseline: 'reading_gap_end' is "
          "the outcome itself")


def test_trial_naive_pre_equal_to_post_is_refused(tmp_path, capsys):
    fails(capsys, trial(tmp_path, naive={"pre": "reading_gap_end", "post": "reading_gap_end"}),
          "naive.post")


def test_trial_n_boot_without_a_bootstrap_is_refused(tmp_path, capsys):
    fails(capsys, trial(tmp_path, analysis={"method": "ols", "n_boot": 500}), "analysis.n_boot")
    wedge = trial(tmp_path, randomise={"unit": "stepped_wedge", "steps": 2, "step_weeks": 10},
                  analysis={"n_boot": 60})
    assert load_trial(wedge).config.analysis.n_boot == 60  # group_time (the default) uses it


# ---------------------------------------------------------------------------------------------
# optimisations


def optimisation(tmp_path: Path, **extra) -> Path:
    data = {"scenario": ATTENDANCE, "objectives": {"attendance": "maximise"},
            "levers": {"policy.parameters.attendance_threshold": {"low": 0.85, "high": 0.95}}}
    return write(tmp_path / "o.yaml", {**data, **extra})


ROLES = {"pastoral": "policy.staff.school.pastoral",
         "attendance_officer": "policy.staff.school.attendance_officer"}


def test_budget_roles_writing_one_key_are_refused(tmp_path, capsys):
    # the last role's minutes overwrote the first's: the split never added up to the total
    roles = {"pastoral": ROLES["pastoral"], "again": ROLES["pastoral"]}
    fails(capsys, optimisation(tmp_path, budget={"total": 1080, "roles": roles}),
          "roles write the same scenario key more than once")



@pytest.mark.parametrize("key", ["../x", "policy..parameters.x", "policy.parameters.", ".x"])
def test_keys_with_an_empty_name_are_named(tmp_path, capsys, key):
    """'../x' as a lever was refused as "levers: unknown key", without the key; as a budget
    role's key it was blamed on the levers (found by a probe, 2026-12-06)."""
    lever = {key: {"low": 1, "high": 2}}
    fails(capsys, optimisation(tmp_path, levers=lever),
          f"levers: {key!r}: is not a key path: names joined by single dots, none empty")
    roles = {"pastoral": key, "attendance_officer": ROLES["attendance_officer"]}
    fails(capsys, optimisation(tmp_path, budget={"total": 1080, "roles": roles}),
          f"budget: roles.pastoral: {key!r} is not a key path")
    # an experiment's variant, and the same key in the overrides of a scenario
    fails(capsys, experiment(tmp_path, variants={"none": {"policy": None}, "w": {key: 1}}),
          f"{key!r}: is not a key path")

def test_levers_and_budget_roles_that_are_uncertain_are_refused(tmp_path, capsys):
    # each replication's draw replaced the candidate's value: the search tuned nothing
    path = optimisation(tmp_path, budget={"total": 1080, "roles": ROLES}, uncertain={
        "policy.parameters.attendance_threshold": [0.8, 0.9],
        "policy.staff.school.pastoral": [100.0, 200.0],
        "dynamics.absence_logit": [-4.4, -3.8]},
        overrides={"dynamics.absence_logit": -4})
    err = fails(capsys, path, "levers.policy.parameters.attendance_threshold: is also an uncertain")
    assert "budget.roles.pastoral" in err and "overrides.dynamics.absence_logit" in err
    ok = optimisation(tmp_path, uncertain={"dynamics.absence_logit": [-4.4, -3.8]})
    assert load_optimisation(ok).config.uncertain


@pytest.mark.parametrize("lever, contains", [
    ({"low": 0.85, "high": 0.95, "step": 5}, "must divide high - low"),      # collapsed to low
    ({"low": 0.85, "high": 0.96, "step": 0.05}, "must divide high - low"),   # high cut to 0.95
    ({"low": 2, "high": 12, "integer": True, "step": 0.5}, "whole-number step"),  # step 0
    ({"low": 0.8, "high": 0.9, "step": 1e-30}, "into 1e+29 steps; at most 1,000,000"),  # Optuna
    ({"low": 0.8, "high": 0.9, "step": 1e-300}, "at most 1,000,000"),  # crashed with a traceback
])
def test_lever_steps_the_search_cannot_honour_are_refused(tmp_path, capsys, lever, contains):
    fails(capsys, optimisation(tmp_path, levers={"policy.workflows.attendance.cooldown_weeks"
                                                 if lever.get("integer") else
                                                 "policy.parameters.attendance_threshold": lever}),
          contains)


def test_lever_steps_that_divide_the_range_are_fine(tmp_path):
    path = optimisation(tmp_path, levers={
        "policy.parameters.attendance_threshold": {"low": 0.85, "high": 0.95, "step": 0.05},
        "policy.workflows.attendance.cooldown_weeks": {"low": 2, "high": 12, "integer": True,
                                                       "step": 2}})
    assert len(load_optimisation(path).config.levers) == 2
