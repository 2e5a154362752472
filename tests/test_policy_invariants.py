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


def test_hostile_policy_run_keeps_the_engine_invariants():
    """Two workflows sharing a trigger and staff, an action needing two roles, an automated
    step, cooldowns 0 and 1, NaN priorities (one NaN until a student's first assessment), a 13-week window in week 0,
    withdrawals and a year boundary: the events table and weekly report keep the documented
    semantics."""
    from srmsim.model import run

    acts = {"a2": {"take_up": 0.7, "staff_minutes": {"tutor": 40, "mentor": 25}, "weeks": 2,
                   "effect": {"absence": -0.5, "half_life_weeks": 0.5, "onset_weeks": 3}},
            "a1": {"take_up": 0.9, "staff_minutes": {"tutor": 35}, "weeks": 1},
            "txt": {"take_up": 0.5, "automated": True, "weeks": 1}}
    weeks = {"a2": 2, "a1": 1, "txt": 1}
    policy = {
        "rules": {"r": "attendance(4) < 0.97 or incidents(13) > 0",
                  "r2": "count(fsm, sen, attendance_rate < 0.95) >= 1"},
        "actions": acts,
        "workflows": {
            "w1": {"trigger": "r", "priority": "reading_gap", "cooldown_weeks": 0,
                   "steps": [{"action": "a2", "goal": "attendance(13) > 0.95"},
                             {"action": "txt"}, {"action": "a1"}]},
            "w2": {"trigger": "r", "priority": "assessment - assessment", "cooldown_weeks": 1,
                   "steps": [{"action": "a1"}]},
            "w3": {"trigger": "r2", "priority": "count(fsm, sen)", "cooldown_weeks": 2,
                   "steps": [{"action": "a2", "goal": "false"}]}},
        "staff": {"school": {"tutor": 100, "mentor": 60}, "per_school": {1: {"tutor": 0}},
                  "pool": {"tutor": 90, "mentor": 30}, "mode": "school_first"},
    }
    sc = scenario_from_dict(_scenario(policy, years=2, dynamics={
        "withdrawal_years": [7, 8, 9, 10, 11], "withdrawal_annual": 0.5}), "t")
    sc = sc.with_overrides({"trust.students_per_year_group": 8})
    res = run(sc, seed=3)
    w, ev = res.weekly, res.events.astype({"event": str, "workflow": str, "action": str})
    for role in ("tutor", "mentor"):
        assert (w[f"minutes_used_{role}"] <= w[f"minutes_available_{role}"] + 1e-9).all()
    assert (w.groupby("run_week")["pool_minutes_used"].sum() <= 120 + 1e-9).all()
    cooldown = {"w1": 0, "w2": 1, "w3": 2}
    is_open: dict = {}
    closed_at: dict = {}
    started: dict = {}
    for e in ev.itertuples():
        key = (e.student, e.workflow)
        if e.event == "flagged":
            assert not is_open.get(key), f"two open cases {key}"
            assert e.run_week - closed_at.get(key, -99) >= cooldown[e.workflow]
            is_open[key] = True
        elif e.event == "started":
            started[key] = e.run_week
        elif e.event == "reviewed":
            assert e.run_week - started.pop(key) == weeks[e.action]
        elif e.event in ("closed", "open_at_end"):
            assert is_open.get(key)
            is_open[key] = e.event == "open_at_end"
            closed_at[key] = e.run_week
    gone = set(res.students.loc[res.students["status"].astype(str) != "enrolled", "student"])
    assert not {k for k, v in is_open.items() if v and k[0] in gone}
    assert gone and (ev["event"] == "started").sum() == res.students["interventions"].sum() > 0
    assert res.students["weeks_waited"].sum() == w["queue_length"].sum()
