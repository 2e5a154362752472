"""The intervention workflows of docs/policies.md, each on a small hand-built trust.

A mutation review of srmsim/policy and srmsim/admin found these behaviours pinned only by the
whole-run digests of tests/test_policy_digests.py (which say *that* a run changed, not *what*),
or by nothing: queue order in the pool and with missing priorities, an exact fit of the minutes
left, what a decline does and frees, the cooldown of several workflows, leaving the queue when
the trigger no longer flags (``cleared``), which step an escalation queues for, per-student
goals, the order of ``pool_first`` and ``school_first``, per-school staff, take-up draws keyed
by week, rule scopes, effect modifiers, the choosers' free minutes, and the request streams'
seasonality, rework limit and deadline weeks. Each test states the documented rule on a case
small enough to check by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import simpy

from srmsim.admin.config import RequestStream
from srmsim.admin.desk import MAX_ATTEMPTS, RequestDesk, StreamDesk
from srmsim.admin.measures import deadline_cohort
from srmsim.admin.weekly import stream_weekly
from srmsim.model import TrustModel
from srmsim.policy.engine import ACTIVE, POOL, QUEUED, SCHOOL
from srmsim.rng import CRN
from srmsim.scenario import scenario_from_dict
from srmsim.students import ENROLLED

Y7 = "year_group == 7"


def scenario(policy: dict, n_schools: int = 2, per_year: int = 30, **extra):
    return scenario_from_dict({"trust": {"n_schools": n_schools,
                                         "students_per_year_group": per_year, "size_cv": 0.0},
                               "outputs": {"history": "none"}, **extra, "policy": policy}, "t")


def action(minutes: float = 10, take_up: float = 1.0, weeks: int = 4, **more) -> dict:
    return {"take_up": take_up, "staff_minutes": {"tutor": minutes}, "weeks": weeks, **more}


def policy(steps: list[dict], actions: dict, rule: str = Y7, staff: dict | None = None,
           **workflow) -> dict:
    return {"rules": {"r": {"when": rule, "cadence": "weekly"}},
            "actions": actions,
            "workflows": {"w": {"trigger": "r", "cooldown_weeks": 30, "steps": steps,
                                **workflow}},
            "staff": staff if staff is not None else {"school": {"tutor": 10_000}}}


def events(model: TrustModel) -> pd.DataFrame:
    return model.policy.events().astype({"event": str, "workflow": str, "action": str,
                                         "outcome": str})


def student_frame(model: TrustModel) -> pd.DataFrame:
    """Pseudonym, school, year group, FSM and prior attainment of every student on roll."""
    t = model.students
    return pd.DataFrame({"student": model.policy.pseudonyms(t.uid), "school": t.school,
                         "year_group": t.year_group, "fsm": t.fsm,
                         "prior_attainment": t.prior_attainment})


def run_weeks(model: TrustModel, weeks: int) -> TrustModel:
    for _ in range(weeks):
        model.step()
    return model


# ----------------------------------------------------------------------------- staff minutes
def test_a_case_needing_exactly_the_minutes_left_starts():
    """Staff minutes used never exceed those available, and may equal them: 60 minutes serve
    one 60-minute case (a check of "no room" by ``<=`` left every such school idle)."""
    m = run_weeks(TrustModel(scenario(policy([{"action": "a"}], {"a": action(minutes=60)},
                                             staff={"school": {"tutor": 60}})), seed=1), 1)
    ev = events(m)
    assert ev[ev["event"] == "started"].groupby("school").size().tolist() == [1, 1]
    w = m.weekly()
    assert w["staff_minutes_used"].tolist() == [60, 60]
    assert w["queue_length"].tolist() == [29, 29]


def test_per_school_minutes_replace_the_schools_default_for_that_school():
    """``per_school: {1: {tutor: 20}}``: school 1 has 20 tutor minutes (two 10-minute places),
    the others the default 60 (six places)."""
    staff = {"school": {"tutor": 60}, "per_school": {1: {"tutor": 20}}}
    m = run_weeks(TrustModel(scenario(policy([{"action": "a"}], {"a": action()}, staff=staff),
                                      n_schools=3), seed=1), 1)
    ev = events(m)
    assert ev[ev["event"] == "started"].groupby("school").size().tolist() == [6, 2, 6]
    w = m.weekly()
    assert w["minutes_available_tutor"].tolist() == [60, 20, 60]
    assert w["minutes_used_tutor"].tolist() == [60, 20, 60]


def test_pool_only_gives_the_schools_no_minutes_of_their_own():
    """``pool_only``: the pool's staff serve alone, so the weekly report shows no school minutes
    available (it showed the schools' minutes, never used: a utilisation of 0)."""
    staff = {"school": {"tutor": 60}, "pool": {"tutor": 30}, "mode": "pool_only"}
    m = run_weeks(TrustModel(scenario(policy([{"action": "a"}], {"a": action()}, staff=staff)),
                             seed=1), 2)
    w = m.weekly()
    assert (w["staff_minutes_available"] == 0).all() and (w["minutes_available_tutor"] == 0).all()
    # three 10-minute places, trust-wide, held by the same three cases in both weeks
    assert (w.groupby("run_week")["pool_minutes_used"].sum() == 30).all()
    assert all(s.staff_minutes == {"tutor": 0.0} for s in m.schools)


# ----------------------------------------------------------------------------- queue order
# the priority is prior attainment for FSM students and NaN (0 x inf) for everyone else
FSM_FIRST = "prior_attainment + 0 * (1 / count(fsm))"


@pytest.mark.parametrize("mode", ["school_first", "pool_only"])
def test_the_queue_is_served_by_priority_higher_first_and_missing_priorities_last(mode):
    """Each school's queue (``school_first``) and the pool's trust-wide queue (``pool_only``)
    serve the highest priority first; a NaN priority (no value) comes after every number."""
    staff = ({"school": {"tutor": 30}} if mode == "school_first" else
             {"school": {"tutor": 0}, "pool": {"tutor": 40}, "mode": mode})
    pol = policy([{"action": "a"}], {"a": action()}, staff=staff, priority=FSM_FIRST)
    m = run_weeks(TrustModel(scenario(pol), seed=4), 1)
    ev, s = events(m), student_frame(m)
    started = set(ev.loc[ev["event"] == "started", "student"])
    fsm7 = s[(s["year_group"] == 7) & s["fsm"]]
    if mode == "school_first":  # three places in each school
        assert (fsm7.groupby("school").size() > 3).all()
        top = set(fsm7.sort_values("prior_attainment").groupby("school").tail(3)["student"])
    else:  # four places in the pool, over both schools
        top = set(fsm7.nlargest(4, "prior_attainment")["student"])
    assert started == top


@pytest.mark.parametrize("mode", ["school_first", "pool_first"])
def test_pool_first_and_school_first_decide_who_serves_the_top_of_the_queue(mode):
    """One school with one place, the pool with one: ``school_first`` serves the highest
    priority from the school's staff and the next from the pool; ``pool_first`` the other way
    round."""
    staff = {"school": {"tutor": 10}, "pool": {"tutor": 10}, "mode": mode}
    pol = policy([{"action": "a"}], {"a": action()}, staff=staff, priority="prior_attainment")
    m = run_weeks(TrustModel(scenario(pol, n_schools=1), seed=2), 1)
    c, t = m.policy.cases, m.students
    running = np.flatnonzero(c.status == ACTIVE)
    assert len(running) == 2
    first, second = running[np.argsort(-t.prior_attainment[c.row[running]])]
    y7 = t.prior_attainment[t.year_group == 7]
    assert t.prior_attainment[c.row[first]] == y7.max()
    expected = (SCHOOL, POOL) if mode == "school_first" else (POOL, SCHOOL)
    assert (c.source[first], c.source[second]) == expected


# ----------------------------------------------------------------------------- declines
def test_a_declined_offer_escalates_at_once():
    """A student offered a place who declines escalates at once: declined, escalated and queued
    for step 2 in the week of the offer; a staffed step's decline is settled after the week's
    allocation, so step 2 starts the next week, an automated step's before it, the same week."""
    acts = {"no": action(take_up=0.0), "yes": action(),
            "text": {"take_up": 0.0, "automated": True, "weeks": 2}}
    for first, starts_in in (("no", 1), ("text", 0)):
        pol = policy([{"action": first}, {"action": "yes"}], acts)
        m = run_weeks(TrustModel(scenario(pol, n_schools=1, per_year=5), seed=1), 2)
        ev = events(m)
        for _, one in ev.groupby("student"):
            seq = list(zip(one["run_week"], one["event"], one["step"], one["action"],
                           strict=True))
            assert seq == [(0, "flagged", 1, first), (0, "queued", 1, first),
                           (0, "declined", 1, first), (0, "escalated", 1, first),
                           (0, "queued", 2, "yes"), (starts_in, "started", 2, "yes")]


def test_a_decline_frees_the_place_for_the_next_in_the_queue():
    """One place per school, take-up 1/2: the offer goes down the queue in priority order until
    someone accepts; each decliner is ahead of the one who started, and the place is taken."""
    pol = policy([{"action": "a"}, {"action": "a"}], {"a": action(take_up=0.5)},
                 staff={"school": {"tutor": 10}}, priority="prior_attainment")
    m = run_weeks(TrustModel(scenario(pol, n_schools=4), seed=3), 1)
    ev, s = events(m), student_frame(m).set_index("student")
    step1 = ev[ev["step"] == 1]
    declined_before = 0
    for school in range(4):
        here = step1[step1["school"] == school]
        started = here.loc[here["event"] == "started", "student"].tolist()
        assert len(started) == 1  # someone of 30 accepted: the place was used
        declined = here.loc[here["event"] == "declined", "student"]
        pa = s["prior_attainment"]
        assert (pa[declined] > pa[started[0]]).all()
        in_y7 = s[(s["school"] == school) & (s["year_group"] == 7)]
        # exactly those ahead of the one who started were offered (and declined) first
        assert len(declined) == int((in_y7["prior_attainment"] > pa[started[0]]).sum())
        declined_before += len(declined)
    assert declined_before > 0  # the case the test is about happened


def test_a_student_who_declines_is_not_offered_again_by_the_pool_that_week():
    """``school_first`` with a pool: a student who declined the school's offer is not offered
    the same step again by the pool in the same week (one decline, one escalation)."""
    pol = policy([{"action": "a"}, {"action": "b"}],
                 {"a": action(take_up=0.5), "b": action(weeks=2)},
                 staff={"school": {"tutor": 20}, "pool": {"tutor": 20}},
                 priority="prior_attainment")
    m = run_weeks(TrustModel(scenario(pol), seed=5), 3)
    ev = events(m)
    once = ev[ev["event"].isin(["declined", "escalated", "started"])]
    assert not once.duplicated(["student", "run_week", "step", "event"]).any()
    assert (ev["event"] == "declined").sum() > 0
    # a decliner's case moved on: it never also started step 1
    declined = set(ev.loc[ev["event"] == "declined", "student"])
    started1 = set(ev.loc[(ev["event"] == "started") & (ev["step"] == 1), "student"])
    assert not declined & started1


def test_take_up_draws_are_fresh_each_week():
    """The take-up draw is keyed by (workflow, step, week, student): a student referred again
    may accept an offer they declined before (keyed without the week, each student's answer
    was the same for ever), and about ``take_up`` of the offers are accepted."""
    acts = {"text": {"take_up": 0.5, "automated": True, "weeks": 1}}
    pol = policy([{"action": "text", "goal": "true"}], acts, staff={}, cooldown_weeks=0)
    m = run_weeks(TrustModel(scenario(pol), seed=6), 12)
    ev = events(m)
    answers = ev[ev["event"].isin(["started", "declined"])]
    assert 0.4 < (answers["event"] == "started").mean() < 0.6 and len(answers) > 300
    both = answers.groupby("student")["event"].nunique()
    assert (both == 2).mean() > 0.8


# ----------------------------------------------------------------------------- the state machine
def test_each_workflow_refers_again_when_its_own_cooldown_ends():
    """Three workflows on one trigger, each a 2-week step whose goal is met: closed at week 2,
    then referred again ``cooldown_weeks`` later (0: the same week), and so on."""
    pol = {"rules": {"r": {"when": Y7, "cadence": "weekly"}},
           "actions": {"a": action(weeks=2)},
           "workflows": {f"w{k}": {"trigger": "r", "cooldown_weeks": k,
                                   "steps": [{"action": "a", "goal": "true"}]}
                         for k in (0, 1, 3)},
           "staff": {"school": {"tutor": 10_000}}}
    m = run_weeks(TrustModel(scenario(pol, n_schools=1, per_year=4), seed=1), 12)
    ev = events(m)
    flagged = ev[ev["event"] == "flagged"]
    for k in (0, 1, 3):
        for _, weeks in flagged[flagged["workflow"] == f"w{k}"].groupby("student")["run_week"]:
            assert weeks.tolist()[:3] == [0, 2 + k, 2 * (2 + k)]


def test_an_escalation_queues_the_next_steps_action_and_charges_its_minutes():
    """Reviewed without the goal, a case escalates to the next step's action: its events at
    step 2 name that action, and its review reports that action's minutes."""
    acts = {"first": action(minutes=10, weeks=2), "second": action(minutes=25, weeks=3)}
    pol = policy([{"action": "first", "goal": "false"}, {"action": "second"}], acts)
    m = run_weeks(TrustModel(scenario(pol, n_schools=1, per_year=5), seed=1), 6)
    ev = events(m)
    step2 = ev[ev["step"] == 2]
    assert set(step2["action"]) == {"second"} and len(step2) > 0
    reviewed = ev[ev["event"] == "reviewed"]
    assert reviewed.groupby("step")["minutes"].unique().map(list).to_dict() == {
        1: [20.0], 2: [75.0]}
    assert set(ev.loc[ev["step"] == 1, "action"]) == {"first"}


def test_a_goal_is_each_students_own():
    """The review checks the goal for each student: with ``goal: fsm`` exactly the FSM students
    close as goal_met and the others escalate."""
    pol = policy([{"action": "a", "goal": "fsm"}, {"action": "a"}], {"a": action(weeks=2)})
    m = run_weeks(TrustModel(scenario(pol), seed=7), 3)
    ev, s = events(m), student_frame(m).set_index("student")
    met = set(ev.loc[ev["event"] == "goal_met", "student"])
    escalated = set(ev.loc[ev["event"] == "escalated", "student"])
    y7 = s[s["year_group"] == 7]
    assert met == set(y7.index[y7["fsm"]]) and escalated == set(y7.index[~y7["fsm"]])
    assert met and escalated


def test_a_student_no_longer_flagged_leaves_the_queue_for_the_first_step_only():
    """``sessions_attended(2) <= 18`` flags everyone in week 0 (one week recorded) and then only
    those who missed at least two of the two weeks' 20 sessions. No one is served (0 minutes). In week 1
    a case still waiting for step 1 whose student is no longer flagged closes as ``cleared``;
    one waiting for step 2 stays, as does every case of a workflow with
    ``leave_queue_when_clear: false``."""
    acts = {"a": action(), "text": {"take_up": 0.0, "automated": True, "weeks": 1}}
    wait = {"trigger": "r", "cooldown_weeks": 30}
    pol = {"rules": {"r": {"when": "sessions_attended(2) <= 18", "cadence": "weekly"}},
           "actions": acts,
           "workflows": {"first": {**wait, "steps": [{"action": "a"}]},
                         "second": {**wait, "steps": [{"action": "text"}, {"action": "a"}]},
                         "kept": {**wait, "leave_queue_when_clear": False,
                                  "steps": [{"action": "a"}]}},
           "staff": {"school": {"tutor": 0}}}
    m = TrustModel(scenario(pol, n_schools=1, per_year=10), seed=2)
    attended = []
    for _ in range(2):
        m.step()
        attended.append(m._obs.attended.astype(int).copy())
    still = attended[0] + attended[1] <= 18
    ev = events(m)
    s = student_frame(m)
    week1 = ev[ev["run_week"] == 1]
    cleared = week1[(week1["event"] == "closed") & (week1["outcome"] == "cleared")]
    assert set(cleared["workflow"]) == {"first"}
    assert set(cleared["student"]) == set(s.loc[~still, "student"])
    assert 0 < len(cleared) < len(s)  # some cleared, some still flagged
    c = m.policy.cases
    assert (c.status == QUEUED).sum() == 2 * len(s) + int(still.sum())
    names = [w.name for w in m.policy.policy.workflows]
    queued = c.status == QUEUED
    assert queued[c.wf == names.index("second")].all()
    assert (c.step[c.wf == names.index("second")] == 1).all()
    assert queued[c.wf == names.index("kept")].all()


def test_a_choice_step_reached_by_escalation_records_its_decision_at_the_escalation():
    """A case escalated to a choice step is queued again that week: its decision's
    ``queued_week`` is that week and the ``queued`` event carries ``chosen_by`` (docs/learning.md:
    every ``queued`` event of a choice step carries its decision; the week of the first referral
    left step 2's events without one)."""
    acts = {"a": action(weeks=2), "b": action(weeks=2), "c": action(minutes=20, weeks=2)}
    steps = [{"action": "a", "goal": "false"},
             {"action": "b", "candidates": ["b", "c"], "chooser": {"kind": "random"}}]
    m = run_weeks(TrustModel(scenario(policy(steps, acts), n_schools=1, per_year=6), seed=1), 3)
    ev = m.policy.events().astype({"event": str})
    queued2 = ev[(ev["event"] == "queued") & (ev["step"] == 2)]
    assert len(queued2) == 6 and (queued2["run_week"] == 2).all()
    assert (queued2["chosen_by"] == "random").all()
    d = m.policy.choosers.decisions()
    assert (d["step"] == 2).all() and d["queued_week"].tolist() == [2] * 6


def test_weekly_flags_count_students_and_referrals_count_new_cases():
    """docs/outputs.md: ``flags`` are the students a due trigger flagged (once each, however
    many triggers flag them, referred or not), ``referrals`` the new cases; ``active_cases`` and
    ``queue_length`` count cases, so a student in two workflows counts in each."""
    pol = {"rules": {"y7": {"when": Y7, "cadence": "weekly"},
                     "y78": {"when": "year_group <= 8", "cadence": "weekly"}},
           "actions": {"a": action()},
           "workflows": {"w7": {"trigger": "y7", "cooldown_weeks": 30, "steps": [{"action": "a"}]},
                         "w78": {"trigger": "y78", "cooldown_weeks": 30,
                                 "steps": [{"action": "a"}]}},
           "staff": {"school": {"tutor": 500}}}
    m = run_weeks(TrustModel(scenario(pol, per_year=20), seed=1), 2)
    w = m.weekly().set_index(["run_week", "school"])
    for school in (0, 1):
        assert w.loc[(0, school), "flags"] == 40  # Years 7 and 8, each once
        assert w.loc[(0, school), "referrals"] == 60  # 20 cases in w7, 40 in w78
        assert w.loc[(1, school), "flags"] == 40  # still flagged, already referred
        assert w.loc[(1, school), "referrals"] == 0
        assert w.loc[(1, school), "active_cases"] == 50  # 500 minutes, 10 each
        assert w.loc[(1, school), "queue_length"] == 10


def test_triggers_flag_only_enrolled_students_in_the_rules_scope():
    """A rule's ``years`` and ``schools`` limit whom it flags, and no trigger flags a student
    who has left: with a rule true of everyone, each week's ``flags`` are the students on roll,
    and the scoped rule's referrals are exactly Years 8-9 of school 1."""
    pol = {"rules": {"all": {"when": "year_group >= 7", "cadence": "weekly"},
                     "scoped": {"when": "year_group >= 7", "cadence": "weekly",
                                "years": [8, 9], "schools": [1]}},
           "actions": {"a": action(weeks=1)},
           "workflows": {"w": {"trigger": "all", "cooldown_weeks": 0,
                               "steps": [{"action": "a", "goal": "true"}]},
                         "v": {"trigger": "scoped", "cooldown_weeks": 30,
                               "steps": [{"action": "a"}]}},
           "staff": {"school": {"tutor": 10_000}}}
    sc = scenario(pol, per_year=10, dynamics={"withdrawal_years": [7, 8, 9, 10, 11],
                                              "withdrawal_annual": 0.9})
    m = run_weeks(TrustModel(sc, seed=1), 1)
    s = student_frame(m)[m.students.status == ENROLLED]  # on roll after week 0's withdrawals
    run_weeks(m, 7)
    w = m.weekly()
    assert w["withdrawals"].sum() > 0
    assert (w["flags"] == w["enrolled"]).all()
    ev = events(m)
    scoped = set(ev.loc[(ev["event"] == "flagged") & (ev["workflow"] == "v"), "student"])
    assert scoped == set(s.loc[(s["school"] == 1) & s["year_group"].isin([8, 9]), "student"])


def test_a_modifier_scales_every_effect_of_the_action_while_it_runs_and_as_it_fades():
    """docs/learning.md: ``modifiers: {fsm: 1.0}`` doubles all of the action's effects for FSM
    students (``{fsm: -1.0}`` would remove them): the engagement shift while it runs and as it
    fades, and the reading gain, are twice a non-FSM student's."""
    act = action(weeks=2, effect={"engagement": 0.2, "reading": 4.0, "half_life_weeks": 2,
                                  "onset_weeks": 0},
                 modifiers={"fsm": 1.0})
    pol = policy([{"action": "a", "goal": "true"}], {"a": act})
    plain = policy([{"action": "a", "goal": "true"}], {"a": {**act, "effect": {}}})
    m, base = TrustModel(scenario(pol), seed=3), TrustModel(scenario(plain), seed=3)
    t = m.students
    fsm, other = (t.year_group == 7) & t.fsm, (t.year_group == 7) & ~t.fsm
    assert fsm.any() and other.any()
    seen = []
    for _ in range(5):  # running in weeks 0-1, reviewed and fading from week 2
        m.step()
        base.step()
        seen.append((t.eff_engagement[fsm], t.eff_engagement[other]))
    for week, (f, o) in enumerate(seen):
        size = 0.2 * (1.0 if week < 2 else 0.5 ** ((week - 2) / 2))
        np.testing.assert_allclose(f, 2 * size, rtol=1e-5)
        np.testing.assert_allclose(o, size, rtol=1e-5)
    gain = t.reading_age - base.students.reading_age
    np.testing.assert_allclose(gain[fsm], 8.0, atol=2e-3)  # a full course: the catalogue's 4
    np.testing.assert_allclose(gain[other], 4.0, atol=2e-3)


def test_the_choosers_free_minutes_leave_out_the_batch_being_allocated():
    """``Choosers.free_minutes(batch)``: each school's staff less what running cases hold and
    what cases waiting outside the batch need (the batch's own needs are what is being
    allocated); ``_settle`` moves what a school cannot cover to the pool, nothing below 0."""
    from srmsim.policy.chooser import Choosers

    acts = {"a": action(minutes=10), "b": action(minutes=20)}
    steps = [{"action": "a", "candidates": ["a", "b"], "chooser": {"kind": "random"}}]
    pol = policy(steps, acts, staff={"school": {"tutor": 50}, "pool": {"tutor": 40}})
    m = run_weeks(TrustModel(scenario(pol, per_year=10), seed=2), 1)
    e = m.policy
    c = e.cases
    need = e.minutes[c.action]  # (cases, roles)
    running, waiting = c.status == ACTIVE, c.status == QUEUED
    assert (c.source[running] == POOL).any() and waiting.sum() > 4
    at_school = running & (c.source == SCHOOL)
    held = np.zeros_like(e.school_capacity)
    np.add.at(held, c.school[at_school], need[at_school])
    wait_need = np.zeros_like(held)
    np.add.at(wait_need, c.school[waiting], need[waiting])
    batch = np.flatnonzero(waiting)[::2]
    in_batch = np.zeros_like(held)
    np.add.at(in_batch, c.school[batch], need[batch])
    school_free, pool_free = e.choosers.free_minutes(batch)
    np.testing.assert_allclose(school_free, e.school_capacity - held - wait_need + in_batch)
    np.testing.assert_allclose(pool_free, e.pool_capacity - (need[running & (c.source == POOL)]
                                                             .sum(axis=0)))
    school, pool = Choosers._settle(np.array([[-30.0, 10.0], [20.0, -5.0]]),
                                    np.array([100.0, 3.0]))
    np.testing.assert_array_equal(school, [[0, 10], [20, 0]])
    np.testing.assert_array_equal(pool, [70, 0])


def test_a_candidate_only_the_pool_can_staff_is_usable_and_served_by_the_pool():
    """``pooled`` needs a role only the pool has: a choice step may still pick it (one source
    serves a case whole, and the pool can), and its cases run on the pool's staff."""
    acts = {"solo": {"take_up": 1.0, "staff_minutes": {"r1": 10}, "weeks": 4},
            "pooled": {"take_up": 1.0, "staff_minutes": {"r2": 10}, "weeks": 4}}
    steps = [{"action": "solo", "candidates": ["solo", "pooled"], "goal": "false",
              "chooser": {"kind": "random"}}]
    pol = policy(steps, acts, staff={"school": {"r1": 1000}, "pool": {"r2": 1000}})
    m = run_weeks(TrustModel(scenario(pol), seed=1), 1)
    c, names = m.policy.cases, m.policy.policy.action_names
    pooled = c.action == names.index("pooled")
    assert 10 < pooled.sum() < len(c) - 10  # about half of 60 referrals each way
    assert (c.status == ACTIVE).all()
    assert (c.source[pooled] == POOL).all() and (c.source[~pooled] == SCHOOL).all()


# ----------------------------------------------------------------------------- request streams
def _stream(**extra) -> RequestStream:
    step = {"name": "serve", "role": "clerk", "minutes": 60.0, "service": "fixed",
            **extra.pop("step", {})}
    return RequestStream.model_validate({
        "arrivals": {"per_week": 70.0}, "steps": [step],
        "staff": {"clerk": {"staff": 10, "hours_per_week": 168.0}}, **extra})


def test_seasonal_arrivals_peak_in_the_peak_week():
    """``per_week * (1 + amplitude * cos(2 pi (week - peak_week) / 52))``: the rate is highest
    in ``peak_week`` and lowest half a cycle later."""
    desk = StreamDesk("s", _stream(arrivals={"per_week": 100.0, "seasonality": {
        "amplitude": 0.5, "peak_week": 10}}), CRN(1), simpy.Environment(), 60)
    rates = [desk._weekly_rate(w) for w in range(52)]
    assert int(np.argmax(rates)) == 10 and rates[10] == pytest.approx(150.0)
    assert int(np.argmin(rates)) == 36 and rates[36] == pytest.approx(50.0)


def test_a_step_is_reworked_at_most_max_attempts_minus_one_times():
    """A step is done at most ``MAX_ATTEMPTS`` times: with rework 0.9 some requests reach that
    many attempts (0.9**11 of them), none more."""
    desk = RequestDesk({"s": _stream(step={"rework": 0.9, "minutes": 1.0})}, CRN(4), 4)
    for week in range(4):
        desk.advance(week)
    r = desk.requests()
    assert len(r) > 100 and r["reworks"].max() == MAX_ATTEMPTS - 1
    ev = desk.events().astype({"event": str})
    finished = ev[ev["event"] == "finished"]
    assert finished["attempt"].max() == MAX_ATTEMPTS


def test_a_request_completed_on_its_deadline_met_it_and_counts_in_that_week():
    """Completed within ``deadline_days`` (on the day itself too) meets the deadline; the
    deadline's week is the one whose (7w, 7w + 7] holds it, so a deadline at day 14 falls in
    week 1, and the weekly figures add up to the cohort's."""
    requests = pd.DataFrame({"stream": "s", "arrival_day": [0.0, 0.0, 3.5],
                             "status": ["completed", "completed", "completed"],
                             "days_in_system": [14.0, 14.5, 14.0]})
    due, met = deadline_cohort(requests, 14.0, 28.0)
    assert due.tolist() == [True, True, True] and met.tolist() == [True, False, True]
    counted = pd.DataFrame({"stream": "s", "run_week": [0, 1, 2, 3]})
    w = stream_weekly(counted, requests, {"s": _stream(deadline_days=14.0)})
    assert w["due"].tolist() == [0, 2, 1, 0] and w["met_deadline"].tolist() == [0, 1, 1, 0]
