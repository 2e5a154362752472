"""Dashboard defects an earlier review left (tests/test_dashboard_mutation_review.py's header)
or noticed: each test failed before its fix.

- a parameter of exactly 1 got the 0-1 share slider, so ``min_factors: 1`` could not be moved
  to 2: the slider now follows what the rules compare the parameter with;
- a parameter under 1e-5 got a step under 1e-6, which the browser writes ``1e-7`` and reads as
  no decimals, rounding the value to a whole number: its slider now counts units of 1e-7 etc.;
- with ``outputs.history: none`` the profile picker listed students whose charts were empty;
- the staff table showed pool-only roles as 0 of 0 school minutes, and their pool minutes
  nowhere;
- "Settings in use" left out ``staff.per_school``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_dashboard_mutation_review import _render

from srmsim.dashboard import model as dm
from srmsim.dashboard import settings as ds
from srmsim.dashboard.model import DashboardModel
from srmsim.scenario import scenario_from_dict

FACTORS = "count(attendance(4) < 0.9, incidents_term >= 2, satisfaction <= 2) >= min_factors"


def _scenario(parameters: dict, rules: dict, *, staff: dict | None = None,
              outputs: dict | None = None, workflows: dict | None = None, n_schools: int = 2,
              **policy) -> object:
    first = next(iter(rules))
    return scenario_from_dict({
        "name": "left_alone", "seed": 5, "outputs": outputs or {},
        "trust": {"n_schools": n_schools, "students_per_year_group": 30,
                  "year_groups": [7, 8, 9]},
        "policy": {"parameters": parameters, "rules": rules,
                   "workflows": workflows or {"w": {"trigger": first, "steps": [
                       {"action": "parent_text", "weeks": 2}]}},
                   "staff": staff or {"school": {"pastoral": 300}}, **policy}})


# ------------------------------------------------------------------ 1. the slider's kind


def test_a_count_of_one_gets_a_whole_slider_that_reaches_two():
    sc = _scenario({"min_factors": 1}, {"at_risk": FACTORS})
    control = ds.model_params(sc)["parameter__min_factors"]
    assert control["type"] == "SliderInt" and control["value"] == 1
    assert control["min"] <= 1 and control["max"] >= 3  # every count of the three conditions
    moved = ds.apply_settings(sc, None, {"parameter__min_factors": 2})
    assert moved.policy.parameters["min_factors"] == 2.0


@pytest.mark.parametrize("rule, value", [
    ("attendance_rate < t", 1.0),            # a 100% threshold: every absence flags
    ("attendance_rate < t", 0.0),            # 0%: was a whole slider 0-5
    ("0.5 <= attendance(4) < t", 1.0),       # chained
    ("absence_rate > t + 0.05", 0.0),        # a constant added
    ("min(attendance_term, on_time_rate) < t", 1.0),
])
def test_a_parameter_compared_with_a_share_gets_the_share_slider(rule, value):
    sc = _scenario({"t": value}, {"r": rule})
    control = ds.model_params(sc)["parameter__t"]
    assert (control["type"], control["min"], control["max"], control["value"]) == \
        ("SliderFloat", 0.0, 1.0, value)
    assert control["label"] == "T (0-1)"


def test_a_parameter_compared_in_a_goal_or_by_the_pool_score_is_read_too():
    sc = _scenario({"goal": 1.0, "count_of": 1.0}, {"r": "attendance(2) < 0.9"}, workflows={
        "w": {"trigger": "r", "priority": "incidents_term - count_of",
              "steps": [{"action": "parent_text", "weeks": 2,
                         "goal": "attendance(2) >= goal and incidents_term < count_of"}]}})
    p = ds.model_params(sc)
    assert p["parameter__goal"]["type"] == "SliderFloat" and p["parameter__goal"]["max"] == 1.0
    assert p["parameter__count_of"]["type"] == "SliderInt"


def test_a_window_length_gets_a_slider_of_weeks_the_rules_accept():
    sc = _scenario({"n": 4}, {"r": "attendance(n) < 0.9"})
    control = ds.model_params(sc)["parameter__n"]
    assert (control["type"], control["value"], control["min"], control["step"]) == \
        ("SliderInt", 4, 1, 1)
    # its ends are windows the rules take (0 weeks was a scenario error on Reset)
    for weeks in (control["min"], control["max"]):
        assert ds.apply_settings(sc, None, {"parameter__n": weeks}).policy.parameters["n"] \
            == weeks
    assert control["max"] > 4


def test_without_a_telling_use_a_whole_value_is_a_count_and_a_fraction_a_share():
    # used both ways (a share and a count), or in no comparison: the value decides
    sc = _scenario({"both": 1.0, "unused": 1.0, "part": 0.4},
                   {"r": "attendance_rate < both or incidents_term > both"})
    p = ds.model_params(sc)
    assert ds.parameter_meanings(sc.policy) == {}
    assert p["parameter__both"]["type"] == p["parameter__unused"]["type"] == "SliderInt"
    assert p["parameter__part"]["type"] == "SliderFloat" and p["parameter__part"]["max"] == 1.0


def test_the_shipped_scenarios_parameters_get_sliders_of_their_kind():
    kinds = {}
    for sc in ds.available_scenarios().values():
        meanings = ds.parameter_meanings(sc.policy) if sc.policy else {}
        for key, control in ds.model_params(sc).items():
            if key.startswith(ds.PARAMETER):
                kinds[key.removeprefix(ds.PARAMETER)] = (control["type"], control["min"],
                                                        control["max"])
                name = key.removeprefix(ds.PARAMETER)
                if meanings.get(name) == ds.SHARE:
                    assert (control["min"], control["max"]) == (0.0, 1.0), (sc.name, name)
    assert kinds["min_factors"] == ("SliderInt", 0, 5)           # dropout_prevention
    assert kinds["attendance_threshold"] == ("SliderFloat", 0.0, 1.0)
    assert kinds["risk_threshold"] == ("SliderFloat", 0.0, 1.0)  # pooling: pooled_risk > t
    assert kinds["reading_threshold"][0] == "SliderInt"          # months


# ------------------------------------------------------------------ 2. tiny parameters


def _browser_value(control: dict) -> float:
    """What Vuetify's VSlider reports once drawn (as tests/test_dashboard_mutation_review.py's
    helper), with the step written as JavaScript writes a number: ``1e-7`` below 1e-6, which
    has no decimals, so the value is rounded to a whole number."""
    lo, hi, step, value = control["min"], control["max"], control["step"], control["value"]
    value = min(max(value, lo), hi)
    if abs(step) < 1e-6:
        decimals = 0
    else:
        written = np.format_float_positional(step, trim="-")
        decimals = len(written.split(".")[1]) if "." in written else 0
    offset = math.fmod(lo, step)
    snapped = math.floor((value - offset) / step + 0.5) * step + offset
    return float(f"{min(snapped, hi):.{decimals}f}")


@pytest.mark.parametrize("value", [3e-8, -2.5e-7, 5e-6, 9.5e-6, 1.5e-6, -5e-324])
def test_a_tiny_parameter_keeps_its_value_through_the_browser(value):
    sc = _scenario({"t": value}, {"r": "attendance(2) < 0.9 + t"})
    params = ds.model_params(sc)
    assert ds.PARAMETER + "t" not in params
    control = params[ds.SCALED + "t"]
    assert control["step"] >= 1e-6
    assert control["min"] <= control["value"] <= control["max"] and \
        control["min"] < control["max"]
    drawn = _browser_value(control)
    again = ds.apply_settings(sc, None, {ds.SCALED + "t": drawn})
    assert again.policy.parameters["t"] == value
    assert "(in units of 1e" in control["label"]
    # one step along is a different, nearby value (the smallest floats are further apart
    # than a unit of their leading digit: -4e-324 is -5e-324)
    if abs(value) > 1e-300:
        moved = ds.apply_settings(sc, None, {ds.SCALED + "t": drawn + control["step"]})
        assert moved.policy.parameters["t"] != value
        assert abs(moved.policy.parameters["t"] - value) <= abs(value)


def test_from_python_the_parameter_keyword_still_takes_the_value_itself():
    sc = _scenario({"t": 3e-8}, {"r": "attendance(2) < 0.9 + t"})
    assert ds.apply_settings(sc, None, {"parameter__t": 4e-8}).policy.parameters["t"] == 4e-8
    assert ds.apply_settings(sc, None, {ds.SCALED + "t": 4}).policy.parameters["t"] == 4e-8
    # the scaled keyword exists for tiny parameters only
    big = _scenario({"t": 0.3}, {"r": "attendance(2) < t"})
    with pytest.raises(ds.ScenarioError, match="not a setting"):
        ds.apply_settings(big, None, {ds.SCALED + "t": 3})


# ------------------------------------------------------------------ 3. profiles need history


@pytest.mark.parametrize("history", ["none", "all"])
def test_the_profile_picker_needs_the_weekly_history(history):
    from srmsim.dashboard.panels import Profile

    sc = _scenario({}, {"r": "attendance(1) < 1.01"}, outputs={"history": history})
    m = DashboardModel(base=sc, seed="5")
    for _ in range(2):
        m.step()
    open_cases = m.policy.cases.status != 0
    assert open_cases.any()
    lines, _, selects = _render(Profile, m, "selects")
    if history == "none":
        assert m.view.flagged == [] and selects == []
        assert any("need the weekly history" in line and "outputs.history: none" in line
                   for line in lines)
    else:  # the same run with history lists its students, and their charts have weeks
        assert len(m.view.flagged) > 0 and len(selects) == 1
        assert len(m.profile(m.view.flagged[0])) == 2


# ------------------------------------------------------------------ 4 and 5. staff


POOLED = {"school": {"pastoral": 120}, "pool": {"attendance_officer": 600},
          "per_school": {1: {"pastoral": 300, "teaching_assistant": 90}}}
ESCALATION = {"w": {"trigger": "r", "steps": [
    {"action": "parent_text", "weeks": 1, "goal": "attendance(1) > 2"},
    {"action": "attendance_officer_visit", "weeks": 3}]},
    "reading": {"trigger": "r", "steps": [{"action": "reading_club", "weeks": 4}]}}


@pytest.fixture(scope="module")
def pooled():
    sc = _scenario({}, {"r": "attendance(2) < 0.97"}, staff=POOLED, workflows=ESCALATION)
    m = DashboardModel(base=sc, seed="5")
    seen = []
    for _ in range(6):
        m.step()
        seen.append(m.staff_by_role())
    return m, seen


def test_pool_only_roles_are_pool_staff_in_the_table(pooled):
    m, seen = pooled
    figs = m.figures()
    for week, table in enumerate(seen):
        pool = table[table["where"] == "pool"]
        schools = table[table["where"] == "schools"]
        assert pool["role"].tolist() == ["attendance_officer"]
        assert "attendance_officer" not in schools["role"].tolist()
        # the same figures as the trust pool's lines
        assert pool["used"].sum() == figs[dm.POOL_USED].iloc[week]
        assert pool["available"].sum() == figs[dm.POOL_AVAILABLE].iloc[week] == 600
        assert schools["used"].sum() == figs[dm.MINUTES_USED].iloc[week]
        assert schools["available"].sum() == figs[dm.MINUTES_AVAILABLE].iloc[week]
    assert figs[dm.POOL_USED].max() > 0  # the pool was used: the test can tell
    # a role only one school has is school staff (its minutes there)
    last = seen[-1].set_index(["role", "where"])
    assert last.loc[("teaching_assistant", "schools"), "available"] == 90
    assert last.loc[("pastoral", "schools"), "available"] == 120 + 300


def test_the_staff_panel_names_the_pool_rows(pooled):
    from srmsim.dashboard.panels import Staff

    m, _ = pooled
    _, tables, _ = _render(Staff, m)
    (table,) = tables
    rows = {(r[0], r[1]): r[2:] for r in table[1:]}
    assert table[0][:2] == ["Role", "Staff"]
    used = m.staff_by_role().set_index("role").loc["attendance_officer", "used"]
    assert rows[("attendance officer", "trust pool")][:2] == [f"{used:,.0f}", "600"]
    assert not any(role == "attendance officer" and where == "school staff"
                   for role, where in rows)


def test_a_pool_only_trust_has_no_school_rows():
    staff = {**POOLED, "mode": "pool_only", "pool": {"attendance_officer": 600, "pastoral": 600,
                                                     "teaching_assistant": 600}}
    sc = _scenario({}, {"r": "attendance(2) < 0.97"}, staff=staff, workflows=ESCALATION)
    m = DashboardModel(base=sc, seed="5")
    m.step()
    table = m.staff_by_role()
    assert set(table["where"]) == {"pool"}
    assert sorted(table["role"]) == ["attendance_officer", "pastoral", "teaching_assistant"]


def test_settings_in_use_list_the_per_school_minutes(pooled):
    from srmsim.dashboard.panels import settings_in_use

    m, _ = pooled
    shown = settings_in_use(m)
    assert "Pastoral: 120 min/week per school" in shown
    assert "Pastoral at school 1: 300 min/week (per_school)" in shown
    assert "Teaching assistant at school 1: 90 min/week (per_school)" in shown
    assert "Attendance officer: 600 min/week, trust pool" in shown


def test_every_numeric_field_and_window_has_a_known_unit() -> None:
    """The share / whole-number lists cover every numeric field and window of the rule
    vocabulary (a field added later without a unit would silently fall back to the value
    rule); the continuous ones are named here, and the lists name nothing that does not exist."""
    from srmsim.policy.profile import FIELDS, SHARE_NAMES, WHOLE_NAMES, WINDOWS

    continuous = {"prior_attainment", "reading_age", "reading_gap", "assessment"}
    numeric = {name for name, (kind, _, _) in FIELDS.items() if kind == "number"} | set(WINDOWS)
    assert not SHARE_NAMES & WHOLE_NAMES
    assert numeric - continuous == (SHARE_NAMES | WHOLE_NAMES) - {"pooled_risk"}
    assert not continuous & (SHARE_NAMES | WHOLE_NAMES)
