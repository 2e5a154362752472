"""Hostile command lines and files, review 219 (2026-12-07).

- ``srmsim run SCENARIO --set policy.rules.x=...`` on a scenario whose policy enables no workflow
  (or that has no policy) ran, and the rule flagged no one, without a word.
- A rule that is not text (``rules: {x: }``, ``rules: {x: [1, 2]}``) was "is empty: give its keys
  indented under it" or "Input should be a mapping of keys to values"; the parser's own
  words for it were "expected the rule as text, got NoneType None".
- A rule's ``9007199254740993.0`` (or ``9007199254740992.0 + 1``) was read as 2**53 without a
  word, where ``9007199254740993`` is refused.
- ``srmsim examples con`` (``nul.txt``, ``COM1``, ``ex.``) wrote a folder Windows cannot hold.
- ``srmsim report RUN`` after summary.json's ``seed: 7`` was edited by hand printed "seed 7" beside
  the trust and policy of the run's scenario.yaml (seed 11).
- A trial randomising students in a one-school trust with a school-clustered analysis (gee,
  mixed, se auto/cluster/cr2) was valid, and every replication failed.
- An optimisation's constraint no run can meet (``attendance: {min: 2}``, ``staff_hours: {max:
  -1}``) was valid: every candidate of the search was infeasible.
- An experiment's uncertain policy keys with no variant whose policy enables a workflow (only
  ``no_policy: {policy: null}``) were drawn and changed nothing.
- ``name: ..`` was refused "(Windows drops a final dot or space from a folder name)".
- A step shorter than its action's onset never works; validate said nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from srmsim.cli import main

SMALL = "name: small\ntrust: {n_schools: 1, students_per_year_group: 20}\n"
WORKFLOW = ("policy:\n  rules:\n    low: \"attendance(4) < 0.9\"\n  workflows:\n    w:\n"
            "      trigger: low\n      steps:\n        - {action: parent_text, weeks: 6}\n")


def _file(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------ --set of a policy that acts on no one
@pytest.mark.parametrize("scenario,settings", [
    (SMALL, ["policy.rules.x=attendance(4) < 0.9"]),  # no policy: the setting makes one
    (SMALL + "policy:\n  rules:\n    a: \"attendance(4) < 0.9\"\n",
     ["policy.rules.a=attendance(4) < 0.8"]),  # a policy of rules alone
    (SMALL + WORKFLOW, ["policy.workflows.w.enabled=false",
                        "policy.rules.low=attendance(4) < 0.8"]),  # its one workflow switched off
])
def test_a_policy_setting_that_acts_on_no_one_is_refused(tmp_path, capsys, scenario, settings):
    path = _file(tmp_path, scenario)
    out = tmp_path / "out"
    argv = ["run", str(path), "--out", str(out), "--quiet"]
    for item in settings:
        argv += ["--set", item]
    assert main(argv) == 2
    err = capsys.readouterr().err
    key = settings[-1].split("=")[0]
    assert f"{key}: the policy enables no workflow, so this changes nothing" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_a_rule_set_where_a_workflow_runs_still_runs(tmp_path, capsys):
    path = _file(tmp_path, SMALL + WORKFLOW)
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--quiet",
                 "--set", "policy.rules.low=attendance(4) < 0.8"]) == 0
    assert (out / "summary.json").exists()
    # switching the policy's one workflow off alone is a baseline run, not refused
    assert main(["run", str(path), "--out", str(tmp_path / "off"), "--quiet",
                 "--set", "policy.workflows.w.enabled=false"]) == 0


# ------------------------------------------------ a rule that is not text, in plain words
@pytest.mark.parametrize("rules,said", [
    ("{x: }", "rule 'x': is empty: a rule is a true/false condition"),
    ("{x: [1, 2]}", "rule 'x': is a list ([1, 2]): a rule is a true/false condition"),
    ("{x: 3}", "rule 'x': is the number 3: a rule is"),
    ("{x: {when: }}", "rule 'x': its when: is empty: a rule is"),
    ("{x: {when: [1]}}", "rule 'x': its when: is a list ([1]): a rule is"),
])
def test_a_rule_that_is_not_text_names_the_rule_and_says_what_a_rule_is(tmp_path, capsys,
                                                                       rules, said):
    path = _file(tmp_path, SMALL + f"policy:\n  rules: {rules}\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"policy.rules: {said}" in err
    assert "written as text in quotes" in err
    assert "Input should" not in err and "indented under it" not in err


def test_rules_that_are_not_text_given_by_set_are_counted(tmp_path, capsys):
    path = _file(tmp_path, SMALL + WORKFLOW)
    assert main(["run", str(path), "--out", str(tmp_path / "o"), "--set", "policy.rules.x=null",
                 "--set", "policy.rules.y=[1, 2]"]) == 2
    err = capsys.readouterr().err
    assert "rule 'x': is empty" in err and "(and 1 more such rule)" in err
    assert not (tmp_path / "o").exists()


def test_the_rule_parser_words_a_value_that_is_not_text_alike():
    from srmsim.errors import RuleError
    from srmsim.policy.profile import vocabulary
    from srmsim.policy.rules import parse_rules, parse_score

    with pytest.raises(RuleError, match=r"rule 'x': is empty: a rule is a true/false condition"):
        parse_rules({"x": None}, vocabulary())  # type: ignore[dict-item]
    with pytest.raises(RuleError, match=r"score 's': is a list \(\[1\]\): a score is a number"):
        parse_score("s", [1], vocabulary())  # type: ignore[arg-type]


# ------------------------------------------------ a float literal beyond 2**53
@pytest.mark.parametrize("text", ["attendance(4) < 9007199254740993.0",
                                  "attendance(4) < 9_007_199_254_740_993.0",
                                  "attendance(4) < 9007199254740993.",
                                  "attendance(4) > -9007199254740994.0",
                                  "attendance(4) < 9007199254740992.0 + 1"])
def test_a_float_beyond_2_53_is_refused_as_the_whole_number_is(text):
    from srmsim.errors import RuleError
    from srmsim.policy.profile import vocabulary
    from srmsim.policy.rules import parse_rule

    with pytest.raises(RuleError, match=r"beyond 2\*\*53, where whole numbers cannot be "
                                        r"compared exactly"):
        parse_rule("r", text, vocabulary())
    with pytest.raises(RuleError, match=r"beyond 2\*\*53"):  # the integer case, as before
        parse_rule("r", "attendance(4) < 9007199254740993", vocabulary())


@pytest.mark.parametrize("text", ["attendance(4) < 9007199254740992.0", "attendance(4) < 1e30",
                                  "attendance(4) < 1e20 * 2", "attendance(4) < 0.1 + 0.2"])
def test_floats_that_are_held_exactly_or_written_as_magnitudes_are_kept(text):
    from srmsim.policy.profile import vocabulary
    from srmsim.policy.rules import parse_rule

    parse_rule("r", text, vocabulary())


def test_a_scenario_rule_with_such_a_float_is_refused_naming_it(tmp_path, capsys):
    path = _file(tmp_path, SMALL + WORKFLOW.replace("0.9", "9007199254740993.0"))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "policy.rules.low: rule 'low': the number '9007199254740993.0'" in err


# ------------------------------------------------ srmsim examples into a Windows device name
@pytest.mark.parametrize("name", ["con", "NUL", "aux.txt", "com1", "LPT1.md", "nul/inner",
                                  "made/Con/inner", "CONIN$", "com\u00b9", "ex.", "ex "])
def test_examples_refuse_a_folder_windows_cannot_hold(tmp_path, capsys, name):
    target = tmp_path / name
    assert main(["examples", str(target)]) == 2
    err = capsys.readouterr().err
    assert "is no folder name Windows can hold" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing written, no folder made


@pytest.mark.parametrize("name", ["console", "conx", "com10", "nul_data", "examples"])
def test_examples_keep_names_that_only_look_like_devices(tmp_path, capsys, name):
    assert main(["examples", str(tmp_path / name)]) == 0
    assert (tmp_path / name / "scenarios").is_dir()


# ------------------------------------------------ a run's summary.json edited by hand
@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("run219")
    path = _file(tmp, SMALL)
    assert main(["run", str(path), "--out", str(tmp / "out"), "--quiet", "--seed", "11"]) == 0
    return tmp / "out"


@pytest.mark.parametrize("key,value", [("seed", 7), ("years", 5)])
def test_a_summary_that_disagrees_with_its_scenario_yaml_is_refused(small_run, tmp_path, capsys,
                                                                     key, value):
    import json
    import shutil

    folder = tmp_path / "run"
    shutil.copytree(small_run, folder)
    summary = json.loads((folder / "summary.json").read_text())
    summary[key] = value  # each valid alone: the report printed "seed 7" beside seed 11's run
    (folder / "summary.json").write_text(json.dumps(summary))
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"summary.json: its {key} {value!r} is not that of the run's scenario.yaml" in err
    assert not (folder / "report.html").exists()


def test_an_unedited_run_still_reports(small_run, tmp_path):
    import shutil

    shutil.copytree(small_run, tmp_path / "run")
    assert main(["report", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "report.html").exists()


# ------------------------------------------------ students randomised in a one-school trust
TRIAL = """name: t219
scenario: s.yaml
overrides: {{trust.n_schools: {schools}, trust.students_per_year_group: 10}}
randomise: {{unit: students}}
outcome: attendance_rate
analysis: {analysis}
replications: 2
seed: 5
"""


@pytest.mark.parametrize("analysis,key", [
    ("{method: gee}", "analysis.method"), ("{method: mixed}", "analysis.method"),
    ("{method: ols, se: cr2}", "analysis.se"), ("{method: ols, se: auto}", "analysis.se"),
    ("{method: ols, se: cluster}", "analysis.se")])
def test_a_school_clustered_analysis_of_a_one_school_trial_is_refused(tmp_path, capsys,
                                                                      analysis, key):
    """Each valid alone: every replication failed ("needs at least 2 clusters") after
    validate called the trial valid."""
    _file(tmp_path, SMALL + WORKFLOW)
    trial = _file(tmp_path, TRIAL.format(schools=1, analysis=analysis), "t.yaml")
    assert main(["validate", str(trial)]) == 2
    err = capsys.readouterr().err
    assert f"{key}: " in err and "needs at least 2 schools, and the trust has 1 school" in err
    out = tmp_path / "out"
    assert main(["trial", str(trial), "--out", str(out), "--quiet", "--workers", "1"]) == 2
    assert not out.exists()


@pytest.mark.parametrize("schools,analysis", [(1, "{method: ols, se: hc1}"),
                                              (1, "{method: ols, se: classical}"),
                                              (2, "{method: gee}"), (2, "{method: ols, se: cr2}")])
def test_analyses_that_fit_the_trust_stay_valid(tmp_path, capsys, schools, analysis):
    _file(tmp_path, SMALL + WORKFLOW)
    trial = _file(tmp_path, TRIAL.format(schools=schools, analysis=analysis), "t.yaml")
    assert main(["validate", str(trial)]) == 0, capsys.readouterr().err


# ------------------------------------------------ an optimisation's constraint no outcome can meet
REPO = Path(__file__).resolve().parent.parent


def _optimisation(tmp_path: Path, constraint: str) -> Path:
    text = (REPO / "experiments" / "optimise_attendance.yaml").read_text(encoding="utf-8")
    text = text.replace("../scenarios/", f"{REPO}/scenarios/")
    assert "staff_hours: {max: 600}" in text
    return _file(tmp_path, text.replace("staff_hours: {max: 600}", constraint), "o.yaml")


@pytest.mark.parametrize("constraint,said", [
    ("attendance: {min: 2}", "attendance {min: 2}: attendance, a share (0 to 1), is never "
                             "above 1"),
    ("attendance: {max: -0.5}", "attendance {max: -0.5}: attendance, a share (0 to 1), is "
                                "never below 0"),
    ("staff_hours: {max: -1}", "staff_hours {max: -1}: staff_hours is never below 0"),
    ("cost: {min: -10, max: -1}", "cost {max: -1}: cost is never below 0"),
])
def test_a_constraint_no_candidate_can_meet_is_refused(tmp_path, capsys, constraint, said):
    path = _optimisation(tmp_path, constraint)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"constraints: {said}, so this can never be met" in err


@pytest.mark.parametrize("constraint", ["attendance: {min: 1}", "staff_hours: {max: 0}",
                                        "attendance: {max: 0}", "reading_gap_end: {max: -30}",
                                        "attainment: {min: 5}"])
def test_constraints_at_the_edge_or_on_open_scales_stay_valid(tmp_path, capsys, constraint):
    assert main(["validate", str(_optimisation(tmp_path, constraint))]) == 0, \
        capsys.readouterr().err


# ------------------------------------------------ uncertain policy keys where no policy acts
def _uncertain(tmp_path: Path, variants: str) -> Path:
    text = (REPO / "experiments" / "uncertain_attendance.yaml").read_text(encoding="utf-8")
    text = text.replace("../scenarios/", f"{REPO}/scenarios/")
    assert "  no_policy: {policy: null}\n  escalation: {}\n" in text
    return _file(tmp_path, text.replace("  no_policy: {policy: null}\n  escalation: {}\n",
                                        variants), "u.yaml")


@pytest.mark.parametrize("variants", [
    "  no_policy: {policy: null}\n",
    "  no_policy: {policy: null}\n  off: {policy.workflows.attendance.enabled: false}\n"])
def test_uncertain_policy_keys_no_variant_acts_on_are_refused(tmp_path, capsys, variants):
    path = _uncertain(tmp_path, variants)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert ("uncertain.policy.actions.parent_text.take_up: no variant's policy enables a "
            "workflow, so its draws change nothing") in err
    assert "uncertain.dynamics.absence_logit" not in err  # a draw that acts everywhere


def test_uncertain_policy_keys_stay_valid_beside_a_variant_that_acts(tmp_path, capsys):
    path = _uncertain(tmp_path, "  no_policy: {policy: null}\n  escalation: {}\n")
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("name,why", [("..", None), (".", None), ("a/b.", None),
                                      ("run.", "Windows drops a final dot"),
                                      ("nul.txt", "Windows reserves NUL")])
def test_a_name_is_given_windows_reason_only_when_that_is_its_fault(name, why):
    from srmsim.labels import check_label

    with pytest.raises(ValueError) as err:
        check_label(name)
    if why is None:  # '..' was "(Windows drops a final dot or space from a folder name)"
        assert "Windows drops" not in str(err.value) and "is not a valid name: use" in str(err.value)
    else:
        assert why in str(err.value)


# ------------------------------------------------ a step that ends before its action works
@pytest.mark.parametrize("weeks,onset,noted", [(2, 3, True), (2, 39, True), (3, 3, False),
                                               (6, 1, False)])
def test_validate_notes_a_step_that_ends_before_its_action_works(tmp_path, capsys, weeks, onset,
                                                                 noted):
    """Each valid alone; a course shorter than its onset never works (same results as an
    action with no effect), yet its staff time and cost were charged without a word."""
    text = SMALL + WORKFLOW.replace("weeks: 6", f"weeks: {weeks}") + (
        f"  actions:\n    parent_text: {{effect: {{onset_weeks: {onset}, absence: -1}}}}\n")
    path = _file(tmp_path, text)
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    said = (f"note: policy.workflows.w.steps[0] ends after {weeks} weeks, before action "
            f"'parent_text' begins to work (onset_weeks {onset})")
    assert (said in out) is noted, out


def test_a_model_given_its_own_seed_writes_a_folder_its_report_reads(tmp_path, capsys) -> None:
    """From Python, ``TrustModel(scenario, seed=5).results().write(out)``: the folder's
    scenario.yaml carries the seed used (as ``srmsim.model.run`` saves it), so the report's
    check that summary.json's seed is scenario.yaml's passes, and the folder reproduces."""
    from conftest import small_scenario

    from srmsim.model import TrustModel
    from srmsim.scenario import load_scenario

    sc = small_scenario()
    seed = sc.seed + 1
    model = TrustModel(sc, seed=seed)
    model.run()
    out = tmp_path / "run"
    model.results().write(out)
    saved = load_scenario(out / "scenario.yaml")
    assert saved.seed == seed
    assert main(["report", str(out)]) == 0, capsys.readouterr().err
    again = TrustModel(saved)
    again.run()
    assert again.results().students.equals(model.results().students)
