"""Hostile input to the less-travelled commands, sweep 238 (2026-12-07).

- The dashboard's slider of a tiny policy parameter (``parameter_scaled__eps``) took its value
  unchecked: text or a list raised ValueError/TypeError and a whole number past the largest
  float OverflowError (as did any slider's and the schools'), a traceback in place of the
  page's "Settings not used"; ``True`` was read as 1.
- ``srmsim discover DIR --box 2 --min-density 0.5`` reported the box --min-density chose and
  ignored --box without a word.
- ``srmsim discover DIR --condition true`` (or ``"1 < 2"``: no outcome read) reported "the
  condition is not confined to a region".
- ``srmsim examples "my examples"`` printed ``cd my examples && ...``: the command it offers
  failed when pasted (a folder holding ``;`` or ``$(...)`` ran as a command).
- A rule dividing by a parameter that is 0 (``attendance_rate < 1 / k`` with ``k: 0``) was valid
  and infinite for every student (it flagged everyone), where ``x / 0`` is refused.
- An optimisation lever was checked at its ends only: ``{low: 1, high: 4}`` on a window's length
  or an integer lever from -1 to 1 on a divisor parameter passed validate, and the search
  stopped at the first batch that drew 2.1 or 0.
- ``srmsim report LINK`` of a dangling link or a loop of links said "give the folder it points to"
  naming a missing folder or the link itself.
"""

from __future__ import annotations

import shlex

import pytest
import yaml

from srmsim.cli import main
from srmsim.errors import ScenarioError, SrmsimError

TINY = ("name: tiny\npolicy:\n  parameters: {eps: 0.00000003, t: 0.9}\n  rules:\n"
        "    low: {when: 'attendance_rate < t + eps'}\n")


from test_hostile_review219 import _file  # noqa: E402  (a scenario file in tmp_path)


# ------------------------------------------------------------ dashboard: the sliders' values
@pytest.mark.parametrize("key, value", [
    *(("parameter_scaled__eps", v) for v in ("abc", [1], 10**400, True)),
    ("parameter__t", 10**400),  # text and True were refused already: "is not a number"
])
def test_a_dashboard_setting_that_is_no_number_is_a_scenario_error(tmp_path, key, value):
    pytest.importorskip("mesa")
    from srmsim.dashboard.settings import apply_settings, model_params
    from srmsim.scenario import load_scenario

    sc = load_scenario(_file(tmp_path, TINY))
    assert key in model_params(sc)  # a control the page really offers
    with pytest.raises(ScenarioError, match=f"{key}: .*(is not a number|is too large)"):
        apply_settings(sc, None, {key: value})


def test_the_schools_setting_past_the_largest_float_is_a_scenario_error(tmp_path):
    pytest.importorskip("mesa")
    from srmsim.dashboard.settings import apply_settings
    from srmsim.scenario import load_scenario

    sc = load_scenario(_file(tmp_path, TINY))
    with pytest.raises(ScenarioError, match="n_schools: .*is too large"):
        apply_settings(sc, 10**400, {})


def test_a_tiny_parameter_slider_still_scales_its_value(tmp_path):
    pytest.importorskip("mesa")
    from srmsim.dashboard.settings import apply_settings
    from srmsim.scenario import load_scenario

    sc = load_scenario(_file(tmp_path, TINY))
    changed = apply_settings(sc, None, {"parameter_scaled__eps": 5})  # 5 units of 1e-8
    assert changed.policy.parameters["eps"] == 5e-8


# ------------------------------------------------------ discover: --box with --min-density
def test_discover_refuses_box_and_min_density_together(tmp_path, capsys):
    pytest.importorskip("SALib")
    pytest.importorskip("sklearn")
    from test_explore import BOOST

    from srmsim.experiment import load_experiment, run_experiment

    scenario = {**BOOST, "trust": {"n_schools": 1, "students_per_year_group": 5,
                                   "size_cv": 0.0}}
    (tmp_path / "boost.yaml").write_text(yaml.safe_dump(scenario))
    exp = {"name": "boost", "scenario": "boost.yaml", "baseline": "off", "seed": 3,
           "outcomes": ["attainment"], "variants": {"off": {"policy": None}, "on": {}},
           "uncertain": {"policy.actions.boost.effect.attainment": [0.0, 0.4],
                         "policy.actions.boost.cost_per_week": [0.0, 10.0]},
           "design": {"method": "sobol", "n": 2}}
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(exp))
    results = tmp_path / "o"
    run_experiment(load_experiment(tmp_path / "exp.yaml"), results, workers=1, progress=False)
    out = tmp_path / "disc"
    code = main(["discover", str(results), "--condition", "attainment < 0.5", "--box", "0",
                 "--min-density", "0.01", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert "box=0 and min_density=0.01: give one, not both" in err and "Traceback" not in err
    assert not out.exists()
    # each alone still works
    assert main(["discover", str(results), "--condition", "attainment < 0.5", "--box", "0",
                 "--out", str(out)]) == 0


def test_discover_api_refuses_both_before_reading_the_folder(tmp_path):
    from srmsim.explore.discovery import discover

    with pytest.raises(SrmsimError, match="give one, not both"):
        discover(tmp_path / "never", "attainment < 0.5", box=1, min_density=0.5)


@pytest.mark.parametrize("condition", ["true", "1 < 2", "not false"])
def test_a_condition_that_reads_no_outcome_is_refused(condition):
    """'true' held in every run and was reported "no parameter restricted: the condition is not
    confined to a region", a finding about the policy where the condition read nothing
    ('false' was refused as holding in none)."""
    pytest.importorskip("sklearn")
    import pandas as pd

    from srmsim.explore.discovery import condition_cases

    table = pd.DataFrame({"gain": [0.001, 0.002, 0.003]})
    with pytest.raises(SrmsimError, match="reads no outcome"):
        condition_cases(table, condition)
    assert condition_cases(table, "gain < 0.0025").tolist() == [True, True, False]


# --------------------------------------------------- examples: the command it prints, quoted
@pytest.mark.parametrize("name", ["my examples", "a;b", "$(x)"])
def test_examples_prints_a_cd_command_that_works_when_pasted(tmp_path, capsys, monkeypatch,
                                                               name):
    monkeypatch.chdir(tmp_path)
    assert main(["examples", name]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "cd " in x)
    lexer = shlex.shlex(line.strip(), posix=True, punctuation_chars=True)  # as a shell splits
    words = list(lexer)
    assert words[:3] == ["cd", name, "&&"]
    assert (tmp_path / name / "experiments" / "quickstart.yaml").is_file()


# ------------------------------------------------------ rules: a divisor that is a parameter 0
POLICY = "name: r\npolicy:\n  parameters: {{k: {k}, t: 0.9}}\n  rules:\n    low: '{when}'\n"


@pytest.mark.parametrize("when, k", [
    ("attendance_rate < 1 / k", 0),
    ("attendance_rate < t / (t - t)", 1),
    ("attendance_rate < 1 / max(k, 0)", 0),
    ("attendance_rate < 1 / abs(-k)", 0),
    ("attendance_rate < 2 / (k * 1e-200 * 1e-200)", 1),  # underflows to 0
])
def test_a_rule_dividing_by_a_parameter_that_is_zero_is_refused(tmp_path, capsys, when, k):
    path = _file(tmp_path, POLICY.format(k=k, when=when))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "policy.rules.low" in err and "divides by zero with this scenario's parameters" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("when, k", [
    ("attendance_rate < 1 / k", 2),
    ("attendance_rate < 1 / (attendance_rate - k)", 0),  # reads a field: data-dependent
])
def test_a_rule_dividing_by_a_parameter_that_is_not_zero_is_valid(tmp_path, capsys, when, k):
    path = _file(tmp_path, POLICY.format(k=k, when=when))
    assert main(["validate", str(path)]) == 0


def test_the_dashboard_cannot_set_a_divisor_parameter_to_zero(tmp_path):
    """The slider of k goes down to 0: the setting is refused (the page says "Settings not
    used"), not run as a rule that flags everyone."""
    pytest.importorskip("mesa")
    from srmsim.dashboard.settings import apply_settings
    from srmsim.scenario import load_scenario

    sc = load_scenario(_file(tmp_path, POLICY.format(k=2, when="attendance_rate < 1 / k")))
    with pytest.raises(ScenarioError, match="divides by zero"):
        apply_settings(sc, None, {"parameter__k": 0})


# ------------------------------------- optimise: lever values inside the range, checked first
DIVISOR = ("name: div\ntrust: {n_schools: 1, students_per_year_group: 20}\npolicy:\n"
           "  parameters: {k: 2}\n  rules:\n    low: \"attendance(4) < 1 / k\"\n"
           "    short: \"attendance(w) < 0.9\"\n  workflows:\n    w:\n      trigger: low\n"
           "      steps:\n        - {action: parent_text, weeks: 6}\n")
OPTIMISATION = ("name: o\nscenario: div.yaml\nreplications: 1\nseed: 1\nlevers:\n  {lever}\n"
                "objectives: {{attendance: maximise, staff_hours: minimise}}\n"
                "search: {{sampler: nsga2, trials: 6, batch: 3}}\n"
                "reevaluate: {{replications: 2, front_max: 2}}\n")


@pytest.mark.parametrize("parameters, lever, says", [
    # 0 is on the lever's grid, and 1 / k is refused there
    ("{k: 2, w: 4}", "policy.parameters.k: {low: -1, high: 1, integer: true}",
     "divides by zero with this scenario's parameters (k = 0.0)"),
    ("{k: 2, w: 4}", "policy.parameters.k: {low: -1, high: 1, step: 0.5}",
     "divides by zero with this scenario's parameters (k = 0.0)"),
    # a window's length between whole numbers (the ends 1 and 4 are whole)
    ("{k: 2, w: 4}", "policy.parameters.w: {low: 1, high: 4}",
     "a whole number of weeks from 1 to 13"),
    ("{k: 2, w: 4}", "policy.parameters.w: {low: 1, high: 4, step: 0.5}",
     "a whole number of weeks from 1 to 13"),
])
def test_a_lever_value_inside_its_range_that_makes_no_scenario_is_refused_by_validate(
        tmp_path, capsys, parameters, lever, says):
    """Both passed validate, and the search stopped at its first batch that drew such a value
    (after writing optimise.json and study.db)."""
    pytest.importorskip("optuna")
    _file(tmp_path, DIVISOR.replace("{k: 2}", parameters), "div.yaml")
    path = _file(tmp_path, OPTIMISATION.format(lever=lever), "o.yaml")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert says in err and "(the search may propose policy.parameters." in err
    assert "Traceback" not in err


@pytest.mark.parametrize("lever", [
    "policy.parameters.k: {low: 1, high: 3, integer: true}",  # 0 is not in the range
    "policy.parameters.k: {low: -1.25, high: 1.25, step: 0.5}",  # 0 is not on the grid
    "policy.parameters.w: {low: 1, high: 4, integer: true}",
])
def test_a_lever_whose_every_value_makes_a_scenario_is_valid(tmp_path, capsys, lever):
    pytest.importorskip("optuna")
    _file(tmp_path, DIVISOR.replace("{k: 2}", "{k: 2, w: 4}"), "div.yaml")
    path = _file(tmp_path, OPTIMISATION.format(lever=lever), "o.yaml")
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err


# ------------------------------------------- report: a link to no folder is not "give its folder"
@pytest.mark.parametrize("make", ["dangling", "loop"])
def test_report_of_a_link_to_no_folder_says_so(tmp_path, capsys, make):
    """It said "give the folder it points to (/x/loop1)": the link itself, or a missing folder."""
    link = tmp_path / "results"
    if make == "dangling":
        link.symlink_to(tmp_path / "nowhere")
    else:
        (tmp_path / "other").symlink_to(link)
        link.symlink_to(tmp_path / "other")
    assert main(["report", str(link)]) == 2
    err = capsys.readouterr().err
    assert "that leads to no folder (it dangles, or links loop)" in err
    assert "give the folder it points to" not in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["results", *(["other"] if make == "loop" else [])])
