"""Sweep of the policy engine and its settings on inputs the shipped scenarios do not exercise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from srmsim.errors import ScenarioError
from srmsim.scenario import load_scenario, scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]

TWO_ROLES = {
    "rules": {"r": "year_group >= 7"},
    "actions": {"act": {"staff_minutes": {"tutor": 60, "mentor": 10}, "weeks": 3}},
    "workflows": {"w": {"trigger": "r", "steps": [{"action": "act"}]}},
    "staff": {"school": {"tutor": 600, "mentor": 100}},
}


def _scenario(policy: dict, **extra) -> dict:
    return {"trust": {"n_schools": 3, "students_per_year_group": 10, "size_cv": 0.0},
            "outputs": {"history": "none"}, **extra, "policy": policy}


def test_a_set_override_of_one_role_of_a_school_keeps_its_other_roles(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "trust: {n_schools: 3, students_per_year_group: 10, size_cv: 0.0}\n"
        "policy:\n"
        "  rules: {r: 'year_group >= 7'}\n"
        "  actions: {act: {staff_minutes: {tutor: 60, mentor: 10}, weeks: 3}}\n"
        "  workflows: {w: {trigger: r, steps: [{action: act}]}}\n"
        "  staff:\n"
        "    school: {tutor: 600, mentor: 100}\n"
        "    per_school: {1: {tutor: 5, mentor: 7}}\n")
    # the command line's key is the text "1", the file's the number 1
    sc = load_scenario(path, {"policy.staff.per_school.1.tutor": 300})
    assert sc.policy.staff.per_school == {1: {"tutor": 300.0, "mentor": 7.0}}
    again = sc.with_overrides({"policy.staff.per_school.1.mentor": 9})
    assert again.policy.staff.per_school == {1: {"tutor": 300.0, "mentor": 9.0}}


@pytest.mark.parametrize("keys", [[1, "1"], [2, "02"], ["1", "01"], [True]])
def test_per_school_keys_naming_one_school_twice_or_a_bool_are_refused(keys):
    policy = {**TWO_ROLES, "staff": {**TWO_ROLES["staff"],
                                     "per_school": {k: {"tutor": 5 + i} for i, k in enumerate(keys)}}}
    with pytest.raises(ScenarioError, match="per_school"):
        scenario_from_dict(_scenario(policy), "t")


def test_per_school_duplicate_school_in_a_file_exits_2_naming_the_key(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text(
        "trust: {n_schools: 3, students_per_year_group: 10, size_cv: 0.0}\n"
        "policy:\n"
        "  rules: {r: 'year_group >= 7'}\n"
        "  actions: {act: {staff_minutes: {tutor: 60}, weeks: 3}}\n"
        "  workflows: {w: {trigger: r, steps: [{action: act}]}}\n"
        "  staff:\n"
        "    school: {tutor: 600}\n"
        "    per_school: {1: {tutor: 5}, '01': {tutor: 500}}\n")
    proc = subprocess.run([sys.executable, "-m", "srmsim", "validate", str(path)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert "policy.staff.per_school" in proc.stderr and "school 1 is given twice" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_pool_only_with_a_role_staffed_only_in_the_schools_is_refused(tmp_path):
    """pool_only ignores the schools' minutes: a role only they name left every case waiting
    for ever, with a valid scenario and 0 interventions."""
    policy = {**TWO_ROLES, "staff": {"school": {"tutor": 600, "mentor": 100},
                                     "pool": {"tutor": 300}, "mode": "pool_only"}}
    with pytest.raises(ScenarioError, match=r"steps\[0\]: action 'act' needs staff role "
                       r"'mentor', which policy.staff.pool does not name"):
        scenario_from_dict(_scenario(policy), "t")
    # the same roles in the pool: valid, and served by the pool
    policy["staff"]["pool"] = {"tutor": 300, "mentor": 0}
    scenario_from_dict(_scenario(policy), "t")
    policy["staff"]["mode"] = "school_first"  # the schools' mentors count again
    policy["staff"]["pool"] = {"tutor": 300}
    scenario_from_dict(_scenario(policy), "t")


def test_a_pool_model_feature_listed_twice_is_refused_not_a_run_that_never_scores():
    policy = {**TWO_ROLES,
              "pool_model": {"outcome": "attendance_term < 0.95",
                             "features": ["fsm", "attendance_term", "fsm"]},
              "rules": {"r": "pooled_risk > 0.2"}}
    with pytest.raises(ScenarioError, match="policy.pool_model.features: features list 'fsm' "
                       "more than once"):
        scenario_from_dict(_scenario(policy), "t")
    policy["pool_model"]["features"] = ["fsm", "attendance_term"]
    scenario_from_dict(_scenario(policy), "t")
