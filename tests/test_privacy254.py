"""Privacy review 254: counts under 10 that two priced kinds, differenced outcomes, percentiles
of whole numbers and a missing count of actions gave away.

Found 2026-12-07 on the trust of 20 Year 7 pupils built from records (tests/test_privacy248):
a policy of a three-week parent meeting (30 minutes and £20 a week) then a one-week
attendance-officer visit (60 minutes, £30) started 10 or more actions and weeks a run, so its
staff hours and cost were shown, and the cost less 40 x the hours, over -10, is the visit-weeks
(under 10); a mean of ``count(served, fsm)`` less a mean of ``count(served)``, times 20, is the
FSM pupils (7), each mean passing alone; a user-defined 90th percentile of ``interventions``
(18 pupils with none, two with one: 0.1) was shown; and a trial's group rows without an
``interventions`` column took the actions as many.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from srmsim.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from test_privacy239 import escalation_scenario  # noqa: E402
from test_privacy248 import one_school_records, run_on_records  # noqa: E402

#: the module's studies on records are built once, on one worker
pytestmark = pytest.mark.xdist_group("privacy254")

#: a week of each kind: (staff minutes, cost)
MEETING, VISIT = (30.0, 20.0), (60.0, 30.0)
#: a parent meeting then a one-week visit: two kinds priced differently
TWO_KINDS = [{"action": "parent_meeting", "weeks": 3,
              "goal": "attendance(3) >= attendance_threshold"},
             {"action": "attendance_officer_visit", "weeks": 1}]
#: the meeting alone: one kind
ONE_KIND = TWO_KINDS[:1]
DEFINITIONS = [
    {"name": "two_conditions", "label": "two conditions", "statistic": "mean",
     "of": "count(male, attendance_rate < 0.99)", "scale": "number"},
    {"name": "and_fsm", "label": "three conditions", "statistic": "mean",
     "of": "count(male, attendance_rate < 0.99, fsm)", "scale": "number"},
    {"name": "p90_actions", "label": "p90 actions", "statistic": "percentile", "q": 90,
     "of": "interventions", "scale": "number"},
    {"name": "p90_half_incidents", "label": "p90 half incidents", "statistic": "percentile",
     "q": 90, "of": "incidents / 2", "scale": "number"},
    {"name": "p90_attendance", "label": "p90 attendance", "statistic": "percentile", "q": 90,
     "of": "attendance_rate", "scale": "number"}]


def visit_weeks(hours: float, cost: float) -> float:
    """The attacker: hours = 0.5 m + v and cost = 20 m + 30 v (meeting- and visit-weeks), so
    40 x hours - cost = 10 v."""
    return (40.0 * hours - cost) / 10.0


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """An experiment on the 20 pupils: no policy, the meeting alone and the meeting then the
    visit (both at a threshold of 0.95: 10 or more actions and weeks a run)."""
    folder = tmp_path_factory.mktemp("records")
    escalation_scenario(folder, one_school_records(folder), [7])
    exp = {"name": "privacy254", "scenario": "scenario.yaml", "baseline": "no_policy",
           "replications": 2, "seed": 1,
           "outcomes": ["staff_hours", "cost", "students_served", *DEFINITIONS],
           "variants": {"no_policy": {"policy": None},
                        "one_kind": {"policy.parameters.attendance_threshold": 0.95,
                                     "policy.workflows.attendance.steps": ONE_KIND},
                        "two_kinds": {"policy.parameters.attendance_threshold": 0.95,
                                      "policy.workflows.attendance.steps": TWO_KINDS}}}
    return run_on_records(folder, exp)


def test_two_priced_kinds_and_differenced_counts_give_no_small_count(
        study: tuple[Path, str]) -> None:
    from srmsim.experiment.store import ResultsStore

    out, printed = study
    runs = ResultsStore(out).load()
    per_run = runs.groupby("variant")[["actions_started", "action_weeks", "staff_hours",
                                       "cost", "fewest_of_a_kind"]].mean()
    two = per_run.loc["two_kinds"]
    # the old rule showed it (10 or more actions and weeks), the visits are under 10 weeks
    assert two["actions_started"] >= 10 and two["action_weeks"] >= 10, per_run
    assert visit_weeks(two["staff_hours"], two["cost"]) < 10, per_run
    assert two["fewest_of_a_kind"] < 10 <= per_run.loc["one_kind", "fewest_of_a_kind"], per_run
    # each mean alone passed the rule of review 253 (met and not met, times 20, 10 or more),
    # their difference is the FSM pupils, under 10 a run
    means = runs.groupby("variant")[["two_conditions", "and_fsm"]].mean()
    for variant, r in means.iterrows():
        assert min(r.two_conditions, 2 - r.two_conditions) * 20 >= 10, (variant, r)
        assert min(r.and_fsm, 3 - r.and_fsm) * 20 >= 10, (variant, r)
        assert 0 < (r.and_fsm - r.two_conditions) * 20 < 10, (variant, r)
    effects = pd.read_csv(out / "effects.csv")
    by = effects.set_index(["variant", "outcome"])
    shown = effects[effects["verdict"] != "withheld"]
    values = {}
    for r in shown.itertuples():
        values[(r.variant, r.outcome)] = r.mean_variant
        values[(r.baseline, r.outcome)] = r.mean_baseline
    # the attacks fail: what is shown gives no visit-weeks, no FSM count, no percentile
    for variant in ("one_kind", "two_kinds"):
        if (variant, "staff_hours") in values and (variant, "cost") in values:
            v = visit_weeks(values[(variant, "staff_hours")], values[(variant, "cost")])
            assert v == 0 or v >= 10, (variant, v)  # (0 by the catalogue: no visit)
        pair = [(variant, "and_fsm"), (variant, "two_conditions")]
        if all(p in values for p in pair):
            assert abs(values[pair[0]] - values[pair[1]]) * 20 >= 10, values
    for name in ("staff_hours", "cost", "two_conditions", "and_fsm", "p90_actions",
                 "p90_half_incidents"):
        assert by.loc[("two_kinds", name), "verdict"] == "withheld", name
    for name in ("two_conditions", "and_fsm", "p90_actions"):
        assert by.loc[("one_kind", name), "verdict"] == "withheld", name
    # kept where nothing applies: one kind of enough weeks, a percentile of a share
    for name in ("staff_hours", "cost"):
        assert by.loc[("one_kind", name), "verdict"] != "withheld", name
    assert by.loc[("one_kind", "p90_attendance"), "verdict"] != "withheld"
    assert "of one kind of action" in printed
    line = next(x for x in printed.splitlines() if x.startswith("two_kinds")
                and "Staff hours" in x)
    assert re.search(r"\blow\b", line) and " h " not in line + " "
    # the group rows (the report's by group) too
    from srmsim.experiment.result import ExperimentResult

    groups = ExperimentResult.load(out).group_effects
    assert groups is not None
    kept = groups[(groups["verdict"] != "withheld") & (groups["variant"] == "two_kinds")]
    assert not set(kept["outcome"]) & {"staff_hours", "cost", "two_conditions", "and_fsm",
                                       "p90_actions", "p90_half_incidents"}, kept


def test_the_kinds_are_reckoned_from_the_events(study: tuple[Path, str]) -> None:
    """Each kind's weeks (the events' minutes over its week's price) add up to the run's staff
    minutes and cost: the truth the attacker seeks, and the rule reckons with."""
    from srmsim.experiment.outcomes import fewest_of_a_kind, student_kind_counts

    students = pd.DataFrame({"student": ["a", "b", "c"]})
    prices = {"parent_meeting": {"staff_minutes": 30.0, "cost": 20.0},
              "parent_text": {"staff_minutes": 0.0, "cost": 0.1}}
    events = pd.DataFrame({
        "student": ["a", "a", "b", "b", "c", "c", "zz"],
        "event": ["started", "reviewed", "started", "open_at_end", "started", "closed",
                  "started"],
        "action": ["parent_meeting", "parent_meeting", "parent_text", "parent_text",
                   "parent_meeting", "parent_meeting", "parent_meeting"],
        "minutes": [0.0, 90.0, 0.0, 0.0, 0.0, 30.0, 0.0],
        "cost": [0.0, 60.0, 0.0, 0.4, 0.0, 20.0, 0.0]})
    counts = student_kind_counts(students, events, prices)
    assert counts.tolist() == [[1, 3, 0, 0], [0, 0, 1, 4], [1, 1, 0, 0]]
    assert fewest_of_a_kind(counts) == 1.0  # the texts: 1 started
    assert fewest_of_a_kind(counts, np.array([True, False, True])) == 0.0
    assert np.isnan(fewest_of_a_kind(student_kind_counts(students, events, None)))
    assert np.isnan(fewest_of_a_kind(student_kind_counts(students, None, prices)))
    assert fewest_of_a_kind(student_kind_counts(students, None, {})) == 0.0
    cut = student_kind_counts(students, events.drop(columns="minutes"), prices)
    assert np.isnan(fewest_of_a_kind(cut))  # an events table cut: not known


def test_a_run_report_and_a_trial_withhold_spending_of_few_of_a_kind(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The run of the meeting then the visit: its report showed the hours and cost (10 or
    more actions and weeks), whose difference gives the visit-weeks; now low. A summary.json
    whose week prices are edited is refused. A trial's group rows: the school whose visits
    are few is withheld with its partition; without an ``interventions`` column the actions
    are not known (they were taken as many) and spending is withheld."""
    from conftest import cli_refuses

    from srmsim.trial.groups import ALL, withhold_small_groups

    path = escalation_scenario(tmp_path, one_school_records(tmp_path), [7])
    scenario = yaml.safe_load(path.read_text())
    scenario["policy"]["parameters"]["attendance_threshold"] = 0.92  # 14 actions, 8 visits
    scenario["policy"]["workflows"]["attendance"]["steps"] = TWO_KINDS
    path.write_text(yaml.safe_dump(scenario))
    out = tmp_path / "run"
    assert main(["run", str(path), "--out", str(out), "--report", "--quiet"]) == 0
    students = pd.read_parquet(out / "students.parquet")
    hours, cost = students["staff_minutes"].sum() / 60, students["cost"].sum()
    assert students["interventions"].sum() >= 10 and students["staff_minutes"].sum() / 60 >= 10
    assert 0 < visit_weeks(hours, cost) < 10
    # each kind's weeks, reckoned from the events, are what the hours and cost were charged for
    import json

    from srmsim.experiment.outcomes import student_kind_counts

    prices = json.loads((out / "summary.json").read_text())["week_prices"]
    kinds = student_kind_counts(students, pd.read_parquet(out / "events.parquet"), prices)
    weeks = kinds[:, 1::2].sum(axis=0)
    for spent, key in ((hours * 60, "staff_minutes"), (cost, "cost")):
        assert spent == pytest.approx(sum(w * p[key] for w, p in zip(weeks, prices.values(),
                                                                     strict=True)))
    visits = weeks[list(prices).index("attendance_officer_visit")]
    assert visits == pytest.approx(visit_weeks(hours, cost))  # the attacker's truth
    page = (out / "report.html").read_text()
    section = page.split("Cost and staff hours")[1].split("By group")[0]
    assert "<th>cost of actions</th><td>low<" in section
    assert "<th>staff hours</th><td>low<" in section
    summary = json.loads((out / "summary.json").read_text())
    assert summary["week_prices"] == {"parent_meeting": {"staff_minutes": 30.0, "cost": 20.0},
                                      "attendance_officer_visit": {"staff_minutes": 60.0,
                                                                   "cost": 30.0}}
    summary["week_prices"] = {"parent_meeting": {"staff_minutes": -1.0, "cost": 20.0}}
    (out / "summary.json").write_text(json.dumps(summary))
    before = (out / "report.html").read_bytes()
    capsys.readouterr()
    cli_refuses(capsys, ["report", str(out)], "week_prices")
    assert (out / "report.html").read_bytes() == before

    n = 24
    arm = pd.DataFrame({"school": np.repeat([0, 1], n // 2), "fsm": False, "sen": False,
                        "eal": False, "interventions": 1})
    arm["staff_minutes"], arm["cost"] = 60.0, 40.0  # two weeks of a meeting each
    rows = [{"group": g, "outcome": "staff_hours", "trial": arm["staff_minutes"][m].sum() / 60,
             "counterfactual": 0.0, "students": float(m.sum())}
            for g, m in ((ALL, np.ones(n, bool)), ("school 0", arm["school"].eq(0)),
                         ("school 1", arm["school"].eq(1)))]
    table = pd.DataFrame(rows)
    dearest = {"staff_minutes": 30.0, "cost": 20.0}
    # each pupil's (meetings, meeting-weeks, visits, visit-weeks): school 0 has 3 visits
    kinds = np.zeros((n, 4))
    kinds[:, 0], kinds[:, 1] = 1.0, 2.0
    kinds[12:, 2], kinds[12:, 3] = 1.0, 2.0
    kinds[:3, 2], kinds[:3, 3] = 1.0, 2.0
    kept = withhold_small_groups(table, arm, arm, np.ones(n, bool), dearest_week=dearest,
                                 kinds=kinds).set_index("group")["trial"]
    assert kept.isna().tolist() == [False, True, True], kept  # school 0: 3 visits
    kinds[:12, 2:] = [1.0, 2.0]
    assert withhold_small_groups(table, arm, arm, np.ones(n, bool), dearest_week=dearest,
                                 kinds=kinds)["trial"].notna().all()
    assert withhold_small_groups(table, arm, arm, np.ones(n, bool), dearest_week=dearest
                                 )["trial"].isna().all()  # the kinds not known
    unknown = withhold_small_groups(table, arm.drop(columns="interventions"),
                                    arm.drop(columns="interventions"), np.ones(n, bool),
                                    dearest_week=dearest, kinds=kinds)
    assert unknown["trial"].isna().all()  # the actions not known: as few


def test_parts_of_counted_conditions() -> None:
    """Shares of nested conditions differenced (two thresholds of one score) give the pupils
    between; a part of 1 to 9 withholds every user-defined count of the study, a part empty
    in one run and not the other too, and an older folder (no parts kept) withholds them."""
    from srmsim.experiment.custom import build_outcomes
    from srmsim.experiment.outcomes import Cohort
    from srmsim.experiment.parts import counted_conditions, parts
    from srmsim.experiment.withhold import small_test

    definitions = [{"name": name, "label": name, "statistic": "share", "of": of,
                    "scale": "share"}
                   for name, of in (("behind12", "reading_gap_end < -12"),
                                    ("behind24", "reading_gap_end < -24"))]
    outcomes = build_outcomes(definitions)
    conditions = counted_conditions(list(outcomes.values()))
    gap = np.r_[[-30.0] * 12, [-20.0] * 4, [0.0] * 14]  # 12 behind 24, 16 behind 12, 4 between
    cohort = Cohort(pd.DataFrame({"reading_gap_end": gap}))
    fewest, empty = parts(cohort, conditions)
    assert fewest == 4.0
    wider = Cohort(pd.DataFrame({"reading_gap_end": np.r_[[-30.0] * 12, [-20.0] * 10,
                                                          [0.0] * 14]}))
    assert parts(wider, conditions) == (10.0, empty)  # the same part empty (by logic)
    runs = pd.DataFrame({"variant": ["a", "a", "b", "b", "c", "c"], "replication": [0, 1] * 3,
                         "students": 30, "behind12": 0.5, "behind24": 0.4,
                         "fewest_in_a_part": [4.0, 4.0, 10.0, 11.0, 12.0, 12.0],
                         "empty_parts": [empty, empty, empty, empty, empty, empty + 1]})
    is_small = small_test(runs, outcomes, frozenset(), 10, definitions, None)
    assert is_small("a", "behind12") and is_small("a", "behind24")
    assert not is_small("b", "behind12") and not is_small("b", "behind24")
    assert is_small("c", "behind12")  # a part empty in one run only
    older = small_test(runs.drop(columns="empty_parts"), outcomes, frozenset(), 10,
                       definitions, None)
    assert older("b", "behind12")


def test_a_groups_parts_withhold_its_partition() -> None:
    """By group: the FSM pupils' part of 4 withholds the user-defined shares in both FSM
    groups (the other's, beside the trust's, gives it back), the schools' stay; a folder
    without the parts (an older srmsim) withholds them in every group."""
    from srmsim.experiment.custom import build_outcomes
    from srmsim.experiment.withhold import NUMBERS, WITHHELD, withhold_group_effects

    definitions = [{"name": "behind12", "label": "behind12", "statistic": "share",
                    "of": "reading_gap_end < -12", "scale": "share"}]
    groups = {"FSM": 4.0, "not FSM": 12.0, "school 0": 10.0, "school 1": 11.0}
    detail = pd.DataFrame([{"group": g, "variant": v, "replication": r, "outcome": "behind12",
                            "value": 0.5, "students": 40.0, "fewest_in_a_part": few,
                            "empty_parts": 7.0}
                           for g, few in groups.items() for v in ("a", "base") for r in (0, 1)])
    effects = pd.DataFrame([{"group": g, "variant": "a", "baseline": "base",
                             "outcome": "behind12", "verdict": "no clear change",
                             **{c: 0.1 for c in NUMBERS}} for g in groups])
    kept = withhold_group_effects(effects, detail, "base", build_outcomes(definitions),
                                  definitions=definitions).set_index("group")["verdict"]
    assert (kept == WITHHELD).tolist() == [True, True, False, False], kept
    older = withhold_group_effects(effects, detail.drop(columns="fewest_in_a_part"), "base",
                                   build_outcomes(definitions), definitions=definitions)
    assert (older["verdict"] == WITHHELD).all()
