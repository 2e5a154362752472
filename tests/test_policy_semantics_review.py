"""The policy engine against docs/policies.md: effects, scope, validation of hostile configs,
and the capacity invariant in every staff mode (review of the engine's semantics)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from srmsim.errors import ScenarioError
from srmsim.model import TrustModel
from srmsim.policy.engine import ACTIVE, POOL, QUEUED, SCHOOL
from srmsim.scenario import scenario_from_dict


def scenario(policy: dict, n_schools: int = 1, per_year: int = 6, **extra):
    return scenario_from_dict({"trust": {"n_schools": n_schools, "students_per_year_group": per_year,
                                         "size_cv": 0.0},
                               "outputs": {"history": "none"}, **extra, "policy": policy}, "t")


def one_action(effect: dict, weeks: int = 4, **workflow) -> dict:
    return {"rules": {"r": "year_group == 7"},
            "actions": {"act": {"take_up": 1.0, "staff_minutes": {"tutor": 10}, "weeks": weeks,
                                "effect": effect}},
            "workflows": {"w": {"trigger": "r", "cooldown_weeks": 30,
                                "steps": [{"action": "act", "goal": "false"}], **workflow}},
            "staff": {"school": {"tutor": 10_000}}}


@pytest.mark.parametrize("onset", [0, 2])
def test_onset_weeks_can_be_set_and_delays_the_effect(onset):
    """``effect: {onset_weeks: 2}`` used to be refused ("Input should be a valid integer": the
    override read every effect value as a float); the effect then starts after the onset and the
    reading gain of a full course is still the catalogue's."""
    policy = one_action({"engagement": 0.2, "reading": 4.0, "onset_weeks": onset,
                         "half_life_weeks": 2})
    with_effect = TrustModel(scenario(policy), seed=1)
    without = TrustModel(scenario(one_action({})), seed=1)
    assert with_effect.policy.onset.tolist()[with_effect.policy.policy.action_names.index(
        "act")] == onset
    y7 = np.flatnonzero(with_effect.students.year_group == 7)
    seen, gain = [], []
    for _ in range(7):
        with_effect.step()
        without.step()
        seen.append(float(with_effect.students.eff_engagement[y7[0]]))
        gain.append(float(with_effect.students.reading_age[y7[0]]
                          - without.students.reading_age[y7[0]]))
    # started in week 0: on from week `onset` until the review in week 4, then fading
    assert seen[:4] == pytest.approx([0.0] * onset + [0.2] * (4 - onset))
    assert seen[4:] == pytest.approx([0.2, 0.2 * 0.5 ** 0.5, 0.1], rel=1e-5)
    assert gain[3] == pytest.approx(4.0, abs=1e-3)  # (float32 reading ages)


def test_a_leavers_course_fades_from_the_week_it_ends():
    """A course a withdrawal ends joins the fading store at full size that week, like one its
    review ends (it used to be stored at the previous week's scale: one half-life step short);
    a course the withdrawal ended before its effects began (onset: 1 week, so a leaver of the
    week after the start) leaves nothing to fade."""
    policy = one_action({"engagement": 0.2, "half_life_weeks": 2}, weeks=30)
    sc = scenario(policy, per_year=30, dynamics={"withdrawal_annual": 0.95,
                                                 "withdrawal_years": [7]})
    m = TrustModel(sc, seed=3)
    checked = {True: 0, False: 0}
    left_at: dict[int, int] = {}
    started_at: dict[int, int] = {}
    while m.week_index < 12:
        m.step()
        now = m.week_index - 1
        t = m.students
        ev = m.policy.events()
        this_week = ev[ev["run_week"] == now]
        for pid in this_week.loc[this_week["event"].astype(str) == "started", "student"]:
            started_at[pid] = now
        closed = this_week[this_week["event"].astype(str) == "closed"]
        for pid in closed.loc[closed["outcome"].astype(str) == "left", "student"]:
            left_at[pid] = now
        pids = m.policy.pseudonyms(t.uid)
        for row, pid in enumerate(pids):
            if pid in left_at:
                k = now - left_at[pid]
                worked = left_at[pid] - started_at[pid] > 1
                expected = 0.2 * 0.5 ** (k / 2) if worked else 0.0
                assert t.eff_engagement[row] == pytest.approx(expected, rel=1e-5)
                checked[worked] += 1
    assert len(left_at) >= 3 and checked[True] >= 10 and checked[False] >= 1


@pytest.mark.parametrize("key", ["years", "schools"])
def test_an_empty_rule_scope_is_refused_not_read_as_everyone(key):
    """``schools: []`` used to mean every school (an empty list read as unset)."""
    policy = one_action({})
    policy["rules"]["r"] = {"when": "year_group == 7", key: []}
    with pytest.raises(ScenarioError, match=rf"policy\.rules\.r\.{key}"):
        scenario(policy)


@pytest.mark.parametrize("half_life", [1e300, 5e-324, 0.0])
def test_half_lives_out_of_range_are_refused(half_life):
    """1e300 never faded (a typo simulated as a permanent effect); 5e-324 overflowed."""
    with pytest.raises(ScenarioError, match=r"policy\.actions\.act\.effect\.half_life_weeks"):
        scenario(one_action({"engagement": 0.1, "half_life_weeks": half_life}))


def test_an_action_role_no_staff_provide_is_refused_but_zero_minutes_is_allowed():
    """A misspelt role (``tutr``) validated, and its cases queued for ever without a word."""
    policy = one_action({})
    policy["actions"]["act"]["staff_minutes"] = {"tutr": 10}
    policy["staff"] = {"school": {"tutor": 10_000}}
    with pytest.raises(ScenarioError) as err:
        scenario(policy)
    problems = dict(err.value.problems)
    assert "'tutr'" in problems["policy.workflows.w.steps[0]"]
    policy["staff"] = {"school": {"tutr": 0}}  # "no such staff" said on purpose: it runs
    assert len(scenario(policy).policy.actions["act"].staff_minutes) == 1
    policy["workflows"]["w"]["enabled"] = False  # a disabled workflow's actions never run
    policy["staff"] = {}
    scenario(policy)


def test_a_whole_action_error_names_the_action_without_a_trailing_dot():
    policy = one_action({})
    policy["actions"]["act"]["automated"] = True
    with pytest.raises(ScenarioError) as err:
        scenario(policy)
    assert err.value.problems[0][0] == "policy.actions.act"
    assert "automated action uses no staff" in err.value.problems[0][1]


@pytest.mark.once
def test_hostile_effect_config_exits_2_with_one_line_naming_the_key(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("trust: {n_schools: 1, students_per_year_group: 5}\npolicy:\n"
                 "  rules: {r: 'year_group == 7'}\n"
                 "  actions: {act: {staff_minutes: {tutor: 10}, effect: {onset_weeks: 40}}}\n"
                 "  workflows: {w: {trigger: r, steps: [{action: act}]}}\n"
                 "  staff: {school: {tutor: 100}}\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "srmsim", "validate", str(f)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "policy.actions.act.effect.onset_weeks" in lines[0]


@pytest.mark.parametrize("mode", ["school_first", "pool_first", "pool_only"])
def test_running_cases_never_hold_more_minutes_than_a_school_or_the_pool_has(mode):
    """Two roles, an action needing both, an automated one, take-up below 1, three workflows:
    every week, by role, the running cases' minutes fit the school's and the pool's staff."""
    policy = {
        "rules": {"a": "attendance(2) < 0.97", "b": "year_group >= 8", "c": "fsm or sen"},
        "actions": {"x": {"take_up": 0.7, "staff_minutes": {"r1": 35}, "weeks": 3},
                    "y": {"take_up": 0.9, "staff_minutes": {"r1": 10, "r2": 20}, "weeks": 2},
                    "z": {"take_up": 0.6, "automated": True, "weeks": 2}},
        "workflows": {"w1": {"trigger": "a", "priority": "-attendance(2)", "cooldown_weeks": 0,
                             "steps": [{"action": "z"}, {"action": "x"}, {"action": "y"}]},
                      "w2": {"trigger": "b", "priority": "prior_attainment",
                             "cooldown_weeks": 1, "steps": [{"action": "y"}, {"action": "x"}]},
                      "w3": {"trigger": "c", "steps": [{"action": "x", "goal": "false"}]}},
        "staff": {"school": {"r1": 120, "r2": 40}, "per_school": {1: {"r1": 50}},
                  "pool": {"r1": 100, "r2": 30}, "mode": mode},
    }
    m = TrustModel(scenario(policy, n_schools=3, per_year=8), seed=5)
    pe = m.policy
    served = 0
    for _ in range(20):
        m.step()
        c = pe.cases
        active = np.flatnonzero(c.status == ACTIVE)
        school_use = np.zeros_like(pe.school_capacity)
        pool_use = np.zeros_like(pe.pool_capacity)
        for i in active:
            if c.source[i] == SCHOOL:
                school_use[c.school[i]] += pe.minutes[c.action[i]]
            else:
                assert c.source[i] == POOL
                pool_use += pe.minutes[c.action[i]]
        assert np.all(school_use <= pe.school_capacity + 1e-9)
        assert np.all(pool_use <= pe.pool_capacity + 1e-9)
        if mode == "pool_only":
            assert not school_use.any()
        served += len(active)
    assert served > 0


def test_whole_and_float_effect_values_give_the_same_scenario_hash() -> None:
    # an action's effect values are read as floats: `reading: 6` and `reading: 6.0` are one
    # scenario (an experiment store begun with either resumes with the other)
    def digest(effect: dict) -> str:
        return scenario_from_dict({"policy": {"actions": {"reading_club": {"effect": effect}}}},
                                  "t").digest()

    assert digest({"reading": 6, "onset_weeks": 2}) == digest({"reading": 6.0, "onset_weeks": 2.0})


def test_a_choice_step_never_picks_an_action_no_single_source_can_serve():
    """``both`` needs r1 (only schools have it) and r2 (only the pool has it): one source serves
    a case whole, so its cases waited for ever while the random chooser kept picking it."""
    policy = {"rules": {"r": "year_group == 7"},
              "actions": {"both": {"take_up": 1.0, "staff_minutes": {"r1": 10, "r2": 10},
                                   "weeks": 4},
                          "solo": {"take_up": 1.0, "staff_minutes": {"r1": 10}, "weeks": 4}},
              "workflows": {"w": {"trigger": "r", "cooldown_weeks": 30,
                                  "steps": [{"action": "solo", "candidates": ["both", "solo"],
                                             "weeks": 4, "goal": "false",
                                             "chooser": {"kind": "random"}}]}},
              "staff": {"school": {"r1": 1000}, "pool": {"r2": 1000}}}
    model = TrustModel(scenario(policy), seed=1)
    for _ in range(3):
        model.step()
    cases = model.policy.cases
    assert len(cases) > 0
    assert not (cases.status == QUEUED).any()  # every referral started
    both = model.policy.policy.action_names.index("both")
    assert not (cases.action == both).any()


def test_look_alike_roles_in_an_action_are_refused():
    """``{tutor: 30, Tutor: 5}`` in one action was two roles, each needing its own staff."""
    policy = one_action({})
    policy["actions"]["act"]["staff_minutes"] = {"tutor": 30, "Tutor": 5}
    with pytest.raises(ScenarioError, match=r"staff role names \['Tutor', 'tutor'\]"):
        scenario(policy)
    policy["actions"]["act"]["staff_minutes"] = {"Teacher": 30}  # beside the catalogue's
    policy["staff"] = {"school": {"Teacher": 100}}
    with pytest.raises(ScenarioError, match="'Teacher', 'teacher'"):
        scenario(policy)
