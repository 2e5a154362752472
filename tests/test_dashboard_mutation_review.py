"""Mutation review of the dashboard (srmsim.dashboard: settings, model, panels): the settings a
user picks reaching the scenario exactly, the figures and tables showing the model's own numbers
with their units, and what the page refuses to show. Each test kills mutations the other
dashboard tests let survive; expected numbers are counted by hand from the students table and
the per-school weekly reports, or are closed forms (minutes available = minutes x schools).

Mutations tried: 104 (settings 48, model 38, panels 18), each alone, against
tests/test_dashboard.py (not the browser test) and the dashboard tests of
test_dashboard_notebooks_review.py, test_reports_review.py and test_reports_tidy.py. Killed by
those: 19.
Survived: 85, of which 80 are killed by the tests below, 1 went with the code a fix replaced
(``int(round(minutes))`` -> ``int(minutes)``: the slider now holds the minutes themselves), 3
are equivalent and 1 is left.

Defects found and fixed (settings.py; the simulation is untouched):
- a control's value off its slider's grid: Reset with no setting touched ran another scenario
  (37.5 staff minutes sent as 38; in the browser, which rounds a slider's value to its step
  when drawn and sends it back, 45 minutes became 60, a threshold of 0.925 became 0.93 and a
  parameter of 1.25 became 1.3). Steps now land on the scenario's own values (``grid_step``).
- the schools slider went down to 1 although a policy naming school 4 (``staff.per_school``, a
  rule's ``schools``) needs 5 schools: Reset there raised a scenario error.

Equivalent mutants, and why:
- ``if not overrides: return base`` removed: ``with_overrides({})`` validates the same scenario
  again, an equal one.
- ``total / count`` -> ``total / max(count, 1)`` (a school's mean reading gap): every school has
  students on roll with a reading test from week 0, so ``count`` is never 0.
- ``float(f"{step / 10 ** k:.12g}")`` -> ``step / 10 ** k``: for the steps reachable (1e-6 and
  up) they differ only at 1.0000000000000002e-06 against 1e-06, the same grid to the browser.

Left then, since settled: ``0.0 < v <= 1.0`` -> ``< 1.0`` (a parameter of exactly 1 got the 0-1
share slider); the slider now follows the parameter's use (tests/test_dashboard_left_alone.py).
A parameter of 1 may be a share (an attendance threshold of 100%) or a count (``min_factors:
1``), and a count of 1 cannot be moved to 2 on a 0-1 slider; which it is is a design choice
reported to the lead, not pinned here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from srmsim.dashboard import model as dm
from srmsim.dashboard import settings as ds
from srmsim.dashboard.model import DashboardModel
from srmsim.errors import ScenarioError
from srmsim.scenario import load_scenario, scenario_from_dict
from srmsim.students import ENROLLED

# ------------------------------------------------------------------ the controls


def _policy(parameters: dict, school: dict | None = None, pool: dict | None = None,
            per_school: dict | None = None) -> dict:
    return {"parameters": parameters,
            "rules": {"r": "attendance(2) < 0.9"},
            "workflows": {"w": {"trigger": "r", "steps": [{"action": "parent_text",
                                                            "weeks": 2}]}},
            "staff": {"school": school or {"pastoral": 300}, "pool": pool or {},
                      "per_school": per_school or {}}}


def _scenario(parameters: dict | None = None, trust: dict | None = None, **policy) -> object:
    return scenario_from_dict({"name": "mr", "trust": trust or {
        "n_schools": 3, "students_per_year_group": 20},
        "policy": _policy(parameters or {}, **policy)})


def _browser_value(control: dict) -> float:
    """What the page's slider reports once it is drawn: Vuetify's VSlider (solara-vuetify-app,
    ``beforeMount`` then ``roundValue``) clamps the value to [min, max], rounds it to
    ``min % step + k * step`` and to as many decimals as ``step`` is written with, and emits
    the result when it differs; Mesa's Reset then builds the model from it."""
    lo, hi, step, value = control["min"], control["max"], control["step"], control["value"]
    value = min(max(value, lo), hi)
    written = np.format_float_positional(step, trim="-")
    decimals = len(written.split(".")[1]) if "." in written else 0
    offset = math.fmod(lo, step)
    snapped = math.floor((value - offset) / step + 0.5) * step + offset
    return float(f"{min(snapped, hi):.{decimals}f}")


def _reset_settings(params: dict, browser: bool) -> tuple[int, dict]:
    """The keywords Mesa's Reset passes when nothing was touched."""
    adjustable = {k: v for k, v in params.items() if isinstance(v, dict) and "type" in v}
    chosen = {}
    for key, control in adjustable.items():
        if key in ("seed", "n_schools"):
            continue
        slider = control["type"].startswith("Slider")
        chosen[key] = _browser_value(control) if browser and slider else control["value"]
    return params["n_schools"]["value"], chosen


HOSTILE = [
    {},                                                        # the shipped scenarios' shape
    {"parameters": {"attendance_threshold": 0.925}},          # a share off the 0.01 grid
    {"parameters": {"attendance_threshold": 0.90005}},        # ... and just off it
    {"parameters": {"attendance_threshold": 0.95, "goal": 1.25, "months": -7.0}},
    {"parameters": {"min_factors": 3.0, "letters_first": True}},
    {"parameters": {"t": 0.9}, "school": {"pastoral": 45, "mentor": 37.5}},
    {"parameters": {"t": 0.9}, "school": {"pastoral": 450}, "pool": {"attendance_officer": 4800,
                                                                    "pastoral": 90}},
]


@pytest.mark.parametrize("browser", [False, True], ids=["as_sent", "as_drawn"])
@pytest.mark.parametrize("change", HOSTILE, ids=range(len(HOSTILE)))
def test_reset_with_nothing_changed_runs_the_scenario_as_written(change, browser):
    """Reset rebuilds the model from every control's value. A control whose value is not the
    scenario's changed the run with no setting touched: 37.5 staff minutes were sent as 38, and
    in the browser 45 minutes on a 30-minute step became 60 and a threshold of 0.925 on a 0.01
    step became 0.92 (the slider rounds to its step when drawn and reports the result)."""
    sc = _scenario(**change) if change else load_scenario(
        ds.shipped_scenario_dir() / "trust_attendance_service.yaml")
    n, chosen = _reset_settings(ds.model_params(sc), browser)
    again = ds.apply_settings(sc, n, chosen)
    assert again.policy.model_dump() == sc.policy.model_dump()
    assert again.trust == sc.trust
    for name, value in sc.policy.parameters.items():  # a switch stays a switch
        assert type(again.policy.parameters[name]) is type(value), name


def test_a_share_on_no_decimal_grid_gets_the_finest_step_the_browser_can_write():
    """1/3 lies on no decimal grid; a step finer than 1e-6 is written ``1e-7`` in the browser,
    which then rounds the value to a whole number (0)."""
    control = ds.model_params(_scenario({"t": 1 / 3}))["parameter__t"]
    assert control["step"] == 1e-6
    assert _browser_value(control) == pytest.approx(1 / 3, abs=1e-6)


def test_every_shipped_scenario_survives_a_reset_in_the_browser():
    for name, sc in ds.available_scenarios().items():
        n, chosen = _reset_settings(ds.model_params(sc), browser=True)
        assert ds.apply_settings(sc, n, chosen) == sc, name


def test_each_kind_of_value_gets_its_kind_of_control():
    """Shares 0-1 with a 0-1 slider in hundredths; whole numbers (months, counts) a whole
    slider from twice the value (or 0) to twice the value (at least 5); other numbers a slider
    over [2v, 0] or [0, 2v] in tenths of their order; switches a checkbox."""
    sc = _scenario({"share": 0.9, "factors": 6.0, "months": -24.0, "none": 0.0, "half": 2.5,
                    "tenths": -0.5,
                    "on": True, "off": False})
    p = ds.model_params(sc)
    share = p["parameter__share"]
    assert (share["type"], share["min"], share["max"], share["step"]) == \
        ("SliderFloat", 0.0, 1.0, 0.01)
    assert share["label"] == "Share (0-1)" and share["value"] == 0.9
    assert {k: p["parameter__factors"][k] for k in ("type", "value", "min", "max", "step")} == \
        {"type": "SliderInt", "value": 6, "min": 0, "max": 12, "step": 1}
    assert (p["parameter__months"]["min"], p["parameter__months"]["max"]) == (-48, 5)
    assert (p["parameter__none"]["type"], p["parameter__none"]["min"],
            p["parameter__none"]["max"]) == ("SliderInt", 0, 5)
    assert {k: p["parameter__tenths"][k] for k in ("type", "min", "max", "step")} == \
        {"type": "SliderFloat", "min": -1.0, "max": 0.0, "step": 0.01}
    half = p["parameter__half"]
    assert (half["type"], half["min"], half["max"], half["step"]) == \
        ("SliderFloat", 0.0, 5.0, 0.1)
    assert p["parameter__on"] == {"type": "Checkbox", "value": True, "label": "On"}
    assert p["parameter__off"]["type"] == "Checkbox" and p["parameter__off"]["value"] is False
    changed = ds.apply_settings(sc, None, {"parameter__off": True, "parameter__on": 0})
    assert changed.policy.parameters["off"] is True and changed.policy.parameters["on"] is False


def test_minutes_sliders_reach_twice_the_minutes_and_name_where_they_count():
    sc = _scenario({"t": 0.9}, school={"pastoral": 900, "mentor": 100},
                   pool={"attendance_officer": 4800, "pastoral": 60})
    p = ds.model_params(sc)
    # the top is twice the minutes rounded up to the hour, and never under 20 hours
    assert p["minutes__pastoral"]["max"] == 1800 and p["minutes__mentor"]["max"] == 1200
    # steps of 30 minutes, or of the largest part of 30 that lands on the scenario's minutes
    assert (p["minutes__pastoral"]["step"], p["minutes__mentor"]["step"]) == (30, 10)
    assert p["pool_minutes__pastoral"]["step"] == 30
    assert p["pool_minutes__attendance_officer"]["max"] == 9600
    assert p["minutes__pastoral"]["label"] == "Pastoral, min/week per school"
    assert p["pool_minutes__attendance_officer"]["label"] == \
        "Attendance officer, min/week in the pool"
    # a role in both places has two controls, each changing its own
    assert p["minutes__pastoral"]["value"] == 900 and p["pool_minutes__pastoral"]["value"] == 60
    changed = ds.apply_settings(sc, None, {"pool_minutes__pastoral": 120})
    assert changed.policy.staff.pool["pastoral"] == 120.0
    assert changed.policy.staff.school["pastoral"] == 900.0


def test_a_switched_off_workflow_shows_off():
    sc = _scenario({"t": 0.9})
    off = ds.apply_settings(sc, None, {"workflow__w": False})
    assert ds.model_params(off)["workflow__w"]["value"] is False
    assert ds.model_params(sc)["workflow__w"]["value"] is True


@pytest.mark.parametrize("key", ["workflow__nope", "pool_minutes__pastoral", "parameter__nope",
                                 "minutes__attendance_officer", "pastoral"])
def test_a_setting_the_scenario_does_not_have_is_refused(key):
    """``pool_minutes__pastoral`` names a school role, not a pool one;
    ``minutes__attendance_officer`` a pool role: changing nothing while the page says it did
    would mislead."""
    sc = _scenario({"t": 0.9}, pool={"attendance_officer": 600})
    with pytest.raises(ScenarioError, match=f"{key}: not a setting of this scenario"):
        ds.apply_settings(sc, None, {key: 1})


def test_the_schools_slider_offers_only_counts_the_scenario_takes():
    """The slider started at 1, but a policy naming school 4 (staff.per_school, a rule's
    schools) needs 5 schools: lower, and Reset failed on a scenario error."""
    sc = _scenario({"t": 0.9}, trust={"n_schools": 6, "students_per_year_group": 20},
                   per_school={4: {"pastoral": 900}})
    control = ds.model_params(sc)["n_schools"]
    assert control["min"] == 5
    for n in (control["min"], control["max"]):
        assert ds.apply_settings(sc, n, {}).trust.n_schools == n
    with pytest.raises(ScenarioError, match="per_school"):
        ds.apply_settings(sc, control["min"] - 1, {})
    ruled = scenario_from_dict({"trust": {"n_schools": 8, "students_per_year_group": 20},
                                "policy": {"rules": {"r": {"when": "attendance(2) < 0.9",
                                                           "schools": [2, 6]}}}})
    assert ds.model_params(ruled)["n_schools"]["min"] == 7
    plain = ds.model_params(_scenario({"t": 0.9}))["n_schools"]
    assert plain["min"] == 1
    with pytest.raises(ScenarioError, match="n_schools"):
        ds.apply_settings(_scenario({"t": 0.9}), plain["min"] - 1, {})


def test_the_page_counts_every_year_group():
    """A sixth-form-and-up trust of 7 year groups: 180 schools of 200 a year is 252,000
    students (past the page's 250,000); at 5 year groups it would be 180,000."""
    years = [7, 8, 9, 10, 11, 12, 13]
    big = scenario_from_dict({"name": "seven", "trust": {
        "n_schools": 180, "students_per_year_group": 200, "year_groups": years}})
    assert ds.expected_students(big) == 252_000
    with pytest.raises(ScenarioError, match="252,000 students"):
        ds.check_size(big)
    # the schools slider stops at 250,000 // (7 x 1,000) = 35 schools, not 250,000 // 5,000
    one = scenario_from_dict({"trust": {"n_schools": 2, "students_per_year_group": 1000,
                                        "year_groups": years}})
    assert ds.max_schools(one) == 35


def test_the_scenario_named_on_the_command_line_wins_over_a_shipped_one_of_its_name(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("name: attendance_escalation\ndescription: mine\n"
                    "trust: {n_schools: 2, students_per_year_group: 10}\n")
    found = ds.available_scenarios(path)
    assert list(found)[0] == "attendance_escalation"
    assert found["attendance_escalation"].description == "mine"
    assert found["attendance_escalation"].policy is None


@pytest.mark.parametrize("text", ["", "   ", "\t\n", None])
def test_an_empty_seed_box_uses_the_scenarios_seed_without_a_warning(text):
    assert ds.parse_seed(text, 17) == (17, "")


# ------------------------------------------------------------------ the model's figures

SCHOOL_MINUTES = {"teaching_assistant": 270, "pastoral": 120}
POOL_MINUTES = 600
RUN = {"name": "mutation_review", "description": "Year 11 and a sixth form.", "seed": 11,
       "trust": {"n_schools": 2, "students_per_year_group": 30, "year_groups": [11, 12, 13]},
       "policy": {
           "parameters": {"reading_threshold": -6.0, "attendance_threshold": 0.95},
           "rules": {"low_reading": "reading_gap < reading_threshold",
                     "low_attendance": "attendance(2) < attendance_threshold"},
           "workflows": {
               "reading": {"trigger": "low_reading",
                           "steps": [{"action": "reading_club", "weeks": 13}]},
               "attendance": {"trigger": "low_attendance",
                              "steps": [{"action": "parent_text", "weeks": 2,
                                         "goal": "attendance(2) >= attendance_threshold"},
                                        {"action": "attendance_officer_visit", "weeks": 3}]}},
           "staff": {"school": SCHOOL_MINUTES,
                     "pool": {"attendance_officer": POOL_MINUTES}}}}
WEEKS = 15  # past the autumn term's reading test (week 13), into the spring term


def _gap(model) -> np.ndarray:
    t = model.students
    return t.reading_obs - t.reading_obs_age


@pytest.fixture(scope="module")
def run():
    """The model stepped WEEKS weeks, with what each week's end looked like, counted by hand."""
    m = DashboardModel(base=scenario_from_dict(RUN), seed="11")
    seen = []
    for _ in range(WEEKS):
        m.step()
        week = {"label": m.view.week_label}
        for side, model in (("policy", m), ("twin", m.twin)):
            t = model.students
            here = t.status == ENROLLED
            gap = _gap(model)
            week[side] = {
                "reading": np.nanmean(gap[here]), "reading_all": np.nanmean(gap),
                "school_reading": [np.nanmean(gap[here & (t.school == s)]) for s in (0, 1)],
            }
        seen.append(week)
    return m, seen


def test_reading_figures_are_the_mean_gap_of_students_on_roll(run):
    m, seen = run
    figs = m.figures()
    assert figs.index.tolist() == list(range(1, WEEKS + 1))  # week 1 is the first week run
    np.testing.assert_allclose(figs[dm.READING], [w["policy"]["reading"] for w in seen])
    np.testing.assert_allclose(figs[dm.READING_NP], [w["twin"]["reading"] for w in seen])
    # the test can tell: the policy moved reading at the autumn test, and students who left
    # (years 12 and 13) are not in the mean
    assert figs[dm.READING].iloc[-1] != pytest.approx(figs[dm.READING_NP].iloc[-1])
    assert (m.students.status != ENROLLED).any()
    assert seen[-1]["policy"]["reading_all"] != pytest.approx(seen[-1]["policy"]["reading"])
    assert m.view.on_roll == int((m.students.status == ENROLLED).sum()) < len(m.students.uid)


def test_staff_minutes_available_are_the_scenarios_minutes_times_schools(run):
    m, _ = run
    figs = m.figures()
    school_total = 2 * sum(SCHOOL_MINUTES.values())
    assert (figs[dm.MINUTES_AVAILABLE] == school_total).all()
    assert (figs[dm.POOL_AVAILABLE] == POOL_MINUTES).all()
    assert (figs[dm.MINUTES_USED] <= school_total).all()
    assert (figs[dm.POOL_USED] <= POOL_MINUTES).all()
    weekly = m.weekly().groupby("run_week")
    np.testing.assert_array_equal(figs[dm.POOL_USED], weekly["pool_minutes_used"].sum())
    assert (figs[dm.POOL_USED] != figs[dm.MINUTES_USED]).any()
    roles = m.staff_by_role().set_index("role")
    for role, minutes in SCHOOL_MINUTES.items():
        assert roles.loc[role, "available"] == 2 * minutes
        assert 0 <= roles.loc[role, "used"] <= 2 * minutes
    assert roles.loc[list(SCHOOL_MINUTES), "used"].sum() == figs[dm.MINUTES_USED].iloc[-1]
    assert roles.loc["pastoral", "used"] < roles.loc["pastoral", "available"]


def test_each_schools_figures_are_its_own_weeks(run):
    m, seen = run
    table = m.by_school()
    assert sorted(set(table["week"])) == list(range(1, WEEKS + 1))
    for side, weekly, column in (("policy", m.weekly(), "attendance"),
                                 ("twin", m.twin.weekly(), "attendance_np")):
        for row in weekly.itertuples():
            got = table[(table["week"] == row.run_week + 1) & (table["school"] == row.school)]
            assert len(got) == 1
            assert got[column].iloc[0] == pytest.approx(
                100 * row.sessions_attended / row.sessions_possible)
            reading = "reading" if side == "policy" else "reading_np"
            assert got[reading].iloc[0] == pytest.approx(
                seen[row.run_week][side]["school_reading"][row.school])
    assert not np.allclose(table["attendance"], table["attendance_np"])
    assert not np.allclose(table["reading"], table["reading_np"])


def test_gaps_by_group_are_counted_among_students_on_roll(run):
    m, _ = run
    gaps = m.gaps().set_index("group")
    for side, model in (("", m), ("_np", m.twin)):
        t = model.students
        here = t.status == ENROLLED
        gap = _gap(model)
        for key, name in dm.GROUP_NAMES.items():
            member = getattr(t, key).astype(bool)
            a, b = here & member, here & ~member
            rate = t.year_attended[a].sum() / t.year_possible[a].sum()
            rest = t.year_attended[b].sum() / t.year_possible[b].sum()
            row = gaps.loc[name]
            assert row[f"attendance_gap{side}"] == pytest.approx(100 * (rate - rest))
            assert row[f"reading_gap{side}"] == pytest.approx(
                np.nanmean(gap[a]) - np.nanmean(gap[b]))
            if not side:
                assert row["students"] == int(a.sum())
    assert (~(m.students.status == ENROLLED) & m.students.sen.astype(bool)).any() or \
        (~(m.students.status == ENROLLED) & m.students.fsm.astype(bool)).any()


def test_workflow_steps_are_numbered_from_1_in_the_scenarios_order(run):
    m, _ = run
    steps = m.workflow_steps()
    assert steps[["workflow", "step", "action"]].values.tolist() == [
        ["reading", 1, "reading_club"], ["attendance", 1, "parent_text"],
        ["attendance", 2, "attendance_officer_visit"]]


def test_the_week_is_told_in_school_terms(run):
    _, seen = run
    labels = [w["label"] for w in seen]
    assert labels[0] == "Week 1 of 39 run (autumn term)"
    assert labels[13] == "Week 14 of 39 run (autumn term)"  # the autumn term is weeks 0-13
    assert labels[14] == "Week 15 of 39 run (spring term)"


def test_a_two_year_run_says_which_year_and_stops_at_its_end():
    sc = scenario_from_dict({"years": 2, "trust": {"n_schools": 1, "students_per_year_group": 4,
                                                  "year_groups": [7, 8]}})
    m = DashboardModel(base=sc)
    assert m.view.week_label == "Not started: 78 school weeks to run"
    labels = []
    for _ in range(78):
        assert m.running
        m.step()
        labels.append(m.view.week_label)
    assert labels[38] == "Week 39 of 78 run (year 1, summer term)"
    assert labels[39] == "Week 40 of 78 run (year 2, autumn term)"
    assert labels[77] == "Week 78 of 78 run (year 2, summer term)"
    assert not m.running  # the ▶ button stops at the last week, not one press later


def test_open_cases_list_students_with_a_case_not_closed(run):
    from srmsim.policy.engine import CLOSED

    m, _ = run
    c = m.policy.cases
    open_now = sorted({int(u) for u, s in zip(c.uid, c.status, strict=True) if s != CLOSED})
    assert m.flagged_students() == open_now and len(open_now) > 3
    assert (c.status == CLOSED).any()  # someone's case has closed, and is not listed
    assert m.flagged_students(limit=3) == open_now[:3]


def test_a_bad_seed_falls_back_to_the_scenarios_own_and_says_so():
    sc = scenario_from_dict({"seed": 99, "trust": {"n_schools": 1, "students_per_year_group": 4}})
    m = DashboardModel(base=sc, seed="not a seed")
    assert m.seed == 99 and "using the scenario's seed 99" in m.notice
    # Mesa 3.5's Reset passes its own ``scenario`` keyword too: it is not a setting
    again = DashboardModel(base=sc, seed="5", scenario=object())
    assert again.seed == 5 and again.notice == ""


def test_only_students_whose_weeks_are_recorded_are_offered_for_a_profile():
    """With a sampled history (``outputs.history: 25``) a student with an open case but no
    recorded weeks would show an empty profile."""
    sc = scenario_from_dict({**RUN, "outputs": {"history": 25}})
    m = DashboardModel(base=sc)
    for _ in range(3):
        m.step()
    recorded = set(m._history[-1]["uid"].tolist())
    offered = m.flagged_students()
    assert offered and set(offered) <= recorded
    assert len(np.unique(m.policy.cases.uid)) > len(offered)
    assert all(len(m.profile(uid)) == 3 for uid in offered)


# ------------------------------------------------------------------ what the panels show


def _render(panel, m, third: str = "charts") -> tuple[list[str], list[list[list[str]]], list]:
    """A panel drawn by Solara without a browser: its lines of text, its tables (rows of cell
    texts, header first) and its charts' ECharts options (``third="selects"``: its pickers'
    items instead)."""
    import html
    import re

    import ipyvuetify as v
    import solara
    from solara.components.echarts import EchartsWidget
    from solara.widgets.widgets import HTML

    @solara.component
    def Page():
        panel(m)

    _, rc = solara.render(Page(), handle_error=False)
    try:
        lines = ["".join(map(str, w.children)) for w in rc.find(v.Html).widgets]
        tables = [[[html.unescape(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)]
                   for row in re.findall(r"<tr>(.*?)</tr>", w.unsafe_innerHTML)]
                  for w in rc.find(HTML).widgets]
        if third == "selects":
            rest = [w.items for w in rc.find(v.Select).widgets]
        else:
            rest = [w.option for w in rc.find(EchartsWidget).widgets]
    finally:
        rc.close()
    return lines, tables, rest


def _series(charts: list[dict], name: str) -> list[list]:
    (found,) = [s["data"] for c in charts for s in c["series"] if s["name"] == name]
    return found


def _same(data: list[list], want: list[list]) -> None:
    """Chart points equal, up to the 4 decimals a chart is sent with."""
    np.testing.assert_allclose(np.array(data, float), np.array(want, float), rtol=0, atol=6e-5)


def test_the_overview_reads_this_weeks_numbers_from_the_weekly_reports(run):
    from srmsim.dashboard.panels import Overview

    m, _ = run
    last = m.weekly().query(f"run_week == {WEEKS - 1}")
    twin = m.twin.weekly().query(f"run_week == {WEEKS - 1}")
    att = 100 * last["sessions_attended"].sum() / last["sessions_possible"].sum()
    att_np = 100 * twin["sessions_attended"].sum() / twin["sessions_possible"].sum()
    waiting, receiving = int(last["queue_length"].sum()), int(last["active_cases"].sum())
    lines, _, _ = _render(Overview, m)
    assert f"This week: attendance {att:.1f}% with the policy, {att_np:.1f}% without." in lines
    assert (f"Cases open now: {waiting + receiving:,} ({waiting:,} waiting for staff, "
            f"{receiving:,} receiving support); flagged this week: "
            f"{int(last['flags'].sum()):,}.") in lines
    assert f"{int((m.students.status == ENROLLED).sum()):,} students on roll." in lines
    settings = next(line for line in lines if line.startswith("Settings in use"))
    for words in ("2 schools, seed 11", "Attendance threshold: 0.95",
                  "Teaching assistant: 270 min/week per school",
                  "Attendance officer: 600 min/week, trust pool", "Workflow Reading: on"):
        assert words in settings


def test_the_attendance_chart_plots_percent_by_week_for_the_trust_and_each_school(run):
    from srmsim.dashboard.panels import Attendance

    m, _ = run
    _, _, charts = _render(Attendance, m)
    for name, model in (("Trust, with policy", m),
                        ("Trust, no policy (same students, same seed)", m.twin)):
        by_week = model.weekly().groupby("run_week")[["sessions_attended",
                                                      "sessions_possible"]].sum()
        want = [[w + 1.0, 100 * r.sessions_attended / r.sessions_possible]
                for w, r in by_week.iterrows()]
        _same(_series(charts, name), want)
    schools = [s["data"] for s in charts[0]["series"] if s["name"] == "Each school, with policy"]
    weekly = m.weekly()
    for school, data in enumerate(schools):
        mine = weekly[weekly["school"] == school]
        _same(data, [[w + 1.0, 100 * a / p] for w, a, p in zip(
            mine["run_week"], mine["sessions_attended"], mine["sessions_possible"],
            strict=True)])


def test_the_staff_table_shows_minutes_and_the_share_used(run):
    from srmsim.dashboard.panels import Staff

    m, _ = run
    last = m.weekly().query(f"run_week == {WEEKS - 1}")
    _, tables, charts = _render(Staff, m)
    (table,) = tables
    assert table[0] == ["Role", "Staff", "Used (min)", "Available (min)", "Used (%)"]
    rows = {r[0]: r[2:] for r in table[1:] if r[1] == "school staff"}
    for role in SCHOOL_MINUTES:
        used = last[f"minutes_used_{role}"].sum()
        avail = 2 * SCHOOL_MINUTES[role]
        assert rows[role.replace("_", " ")] == [f"{used:,.0f}", f"{avail:,.0f}",
                                                f"{100 * used / avail:.1f}%"]
    # a pool role is trust pool staff, with the pool's minutes (tests/test_dashboard_left_alone)
    assert "attendance officer" not in rows
    (pool,) = [r for r in table[1:] if r[1] == "trust pool"]
    assert pool[0] == "attendance officer" and pool[3] == f"{POOL_MINUTES:,.0f}"
    assert _series(charts, "Available, trust pool")[-1] == [WEEKS, POOL_MINUTES]
    assert _series(charts, "Available, school staff")[-1] == [WEEKS, 2 * sum(
        SCHOOL_MINUTES.values())]


def test_the_staff_chart_has_no_pool_lines_without_a_pool():
    from srmsim.dashboard.panels import Staff

    m = DashboardModel(base=_scenario({"t": 0.9}, trust={"n_schools": 1,
                                                         "students_per_year_group": 5}))
    m.step()
    _, _, charts = _render(Staff, m)
    assert [s["name"] for s in charts[0]["series"]] == ["Used, school staff",
                                                       "Available, school staff"]


def test_the_gaps_table_puts_each_number_under_its_heading(run):
    from srmsim.dashboard.panels import Gaps

    m, _ = run
    gaps = m.gaps()
    _, tables, _ = _render(Gaps, m)
    (table,) = tables
    assert table[0] == ["Group", "Students", "Attendance gap, policy (points)",
                        "no policy (points)", "Reading gap, policy (months)",
                        "no policy (months)"]
    for row, want in zip(table[1:], gaps.itertuples(), strict=True):
        assert row == [want.group, f"{want.students:,}", f"{want.attendance_gap:.2f}",
                       f"{want.attendance_gap_np:.2f}", f"{want.reading_gap:.1f}",
                       f"{want.reading_gap_np:.1f}"]
    assert gaps["attendance_gap"].tolist() != gaps["attendance_gap_np"].tolist()


def test_one_students_profile_is_their_recorded_weeks_in_percent(run):
    from srmsim.dashboard.panels import Profile

    m, _ = run
    uid = m.flagged_students()[0]
    history = m.student(uid)
    lines, _, charts = _render(Profile, m)
    want = [[w + 1.0, 100 * a / p] for w, a, p in zip(
        history["run_week"], history["attended"], history["possible"], strict=True)]
    _same(_series(charts, "Attendance this week (%)"), want)
    t = m.students
    i = int(np.flatnonzero(t.uid == uid)[0])
    traits = [n for n, f in (("FSM", t.fsm[i]), ("SEN", t.sen[i]), ("EAL", t.eal[i])) if f]
    assert f"; {', '.join(traits) or 'not FSM, SEN or EAL'}; actions started: " in lines[-1]
    assert lines[-1].endswith(f"staff minutes: {float(t.staff_minutes[i]):,.0f}.")


def test_a_missing_value_is_a_gap_in_a_line_not_a_number():
    from srmsim.dashboard.panels import _series as series

    assert series("x", [1, 2], [1.5, float("nan")], "#000")["data"] == [[1.0, 1.5], [2.0, None]]


def test_before_the_first_week_the_panels_say_to_press_step():
    from srmsim.dashboard.panels import Attendance, Gaps, Staff

    m = DashboardModel(base=_scenario({"t": 0.9}, trust={"n_schools": 1,
                                                         "students_per_year_group": 5}))
    for panel in (Attendance, Staff, Gaps):
        lines, tables, charts = _render(panel, m)
        assert lines == ["Press Step to run a week, or ▶ to run the rest of the year week by "
                         "week."] and not tables and not charts


def test_a_students_line_names_their_own_traits_and_staff_minutes(run):
    from srmsim.dashboard.panels import student_line

    m, _ = run
    t = m.students
    fsm, sen, eal = (getattr(t, g).astype(bool) for g in ("fsm", "sen", "eal"))
    for who, words in ((fsm & ~sen & ~eal, "FSM"), (sen & ~fsm & ~eal, "SEN"),
                       (eal & ~fsm & ~sen, "EAL"), (~fsm & ~sen & ~eal, "not FSM, SEN or EAL")):
        i = int(np.flatnonzero(who)[0])
        line = student_line(m, int(t.uid[i]))
        assert line.startswith(f"School {t.school[i]}, Year {t.year_group[i]}; {words}; ")
    i = int(np.argmax(t.staff_minutes))
    assert t.staff_minutes[i] >= 120  # a term of reading club: minutes, not hours
    assert student_line(m, int(t.uid[i])).endswith(
        f"actions started: {t.interventions[i]}, weeks waited: {t.weeks_waited[i]}, "
        f"staff minutes: {float(t.staff_minutes[i]):,.0f}.")


def test_the_casework_panel_counts_cases_not_students():
    """Waiting and receiving support count cases (one student in one workflow), and a student
    in the reading and the attendance workflows is two: after 15 weeks of this trust 51 cases
    were open for 44 students, and the card, its chart and its table called them students."""
    from srmsim.dashboard.panels import Casework
    from srmsim.policy.engine import CLOSED

    sc = load_scenario(ds.shipped_scenario_dir() / "reading_and_attendance.yaml")
    m = DashboardModel(base=sc.with_overrides({"trust": {"n_schools": 2,
                                                         "students_per_year_group": 30}}),
                       seed="3")
    for _ in range(15):
        m.step()
    c = m.policy.cases
    cases, students = int((c.status != CLOSED).sum()), len(np.unique(c.uid[c.status != CLOSED]))
    now = m.figures().iloc[-1]
    assert now[dm.WAITING] + now[dm.IN_SUPPORT] == cases > students  # the panel's figures are cases
    _, tables, charts = _render(Casework, m)
    (chart,) = charts
    names = [s["name"] for s in chart["series"]]
    assert [n for n in names if n.startswith(("Waiting", "Receiving"))] == [
        "Waiting for staff (cases)", "Receiving support (cases)"]
    assert "students" in next(n for n in names if n.startswith("Flagged"))
    assert chart["yAxis"]["name"] != "Students"
    (table,) = tables
    assert sum(int(r[3]) + int(r[4]) for r in table[1:]) == cases
