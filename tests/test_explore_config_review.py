"""The exploratory commands' files (optimise, and the experiments sensitivity and discover read)
refuse hostile input with one short line naming the file and the field, exit 2 and write
nothing: a lever, variant or uncertain parameter on an entry the scenario lacks, non-finite
numbers, empty sections, one-choice levers, and searches too long to announce."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("optuna")

from srmsim.cli import main  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_explore import TINY, tiny_optimisation  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_KEY = "policy.workflows.nosuch.cooldown_weeks"


def refused(capsys, tmp_path: Path, text: str, *contains: str, command: str = "validate",
            name: str = "f.yaml") -> str:
    """``srmsim COMMAND`` of a file holding ``text``: exit 2, one problem naming the file (on
    the file's line, or on a line of its own below it when the two would pass the line limit),
    no traceback, and nothing written beside the file and the scenario."""
    path = tmp_path / name
    path.write_text(text)
    before = sorted(tmp_path.rglob("*"))
    argv = [command, str(path)] + (["--out", str(tmp_path / "out")] if command != "validate"
                                   else [])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    # a problem past the line limit is wrapped: its continuations indented under it
    assert (err.startswith(f"srmsim: error: {path}: ") and len(lines) == 1) or (
        lines[0] == f"srmsim: error: {path}:" and len(lines) >= 2
        and lines[1].startswith("  ") and not lines[1].startswith("    ")
        and all(ln.startswith("    ") for ln in lines[2:])), err
    for part in contains:
        assert part in err, err
    assert sorted(tmp_path.rglob("*")) == before
    return err


def optimisation_text(tmp_path: Path, **extra) -> str:
    return yaml.safe_dump(tiny_optimisation(tmp_path, **extra), sort_keys=False)


def experiment_text(tmp_path: Path, **extra) -> str:
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    data = {"name": "e", "scenario": "tiny.yaml", "baseline": "none", "seed": 2,
            "outcomes": ["attendance"], "variants": {"none": {"policy": None}, "w": {}},
            "uncertain": {"population.fsm_rate": [0.1, 0.4]},
            "design": {"method": "sobol", "n": 4}, **extra}
    return yaml.safe_dump(data, sort_keys=False)


# --- entries the scenario does not have -----------------------------------------------------

@pytest.mark.parametrize("command", ["validate", "optimise"])
def test_a_lever_on_a_missing_workflow_names_it_and_the_scenarios_workflows(tmp_path, capsys,
                                                                            command):
    """It was "levers: policy.workflows.nosuch.trigger: Field required": the fields of a
    workflow nobody meant to add, not that the scenario has no workflow 'nosuch'."""
    text = optimisation_text(tmp_path, levers={WORKFLOW_KEY: {"low": 1, "high": 8,
                                                              "integer": True}})
    err = refused(capsys, tmp_path, text, "levers: policy.workflows.nosuch:",
                  "no workflow 'nosuch'", "its workflows: attendance", command=command)
    assert "Field required" not in err


@pytest.mark.parametrize("where", ["overrides", "baseline"])
def test_overrides_and_a_baseline_on_a_missing_workflow_name_it(tmp_path, capsys, where):
    text = optimisation_text(tmp_path, **{where: {WORKFLOW_KEY: 3}})
    refused(capsys, tmp_path, text, f"{where}: policy.workflows.nosuch:", "no workflow 'nosuch'")


def test_a_variant_or_set_on_a_missing_workflow_or_rule_names_it(tmp_path, capsys):
    text = experiment_text(tmp_path, variants={"none": {"policy": None},
                                               "w": {WORKFLOW_KEY: 3}})
    refused(capsys, tmp_path, text, "variants.w.policy.workflows.nosuch:",
            "no workflow 'nosuch'", "its workflows: attendance")
    assert main(["run", str(tmp_path / "tiny.yaml"), "--set", "policy.rules.nosuch.cadence=weekly",
                 "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "no rule 'nosuch'" in err and "its rules: low_attendance" in err
    assert not (tmp_path / "run").exists()


def test_a_lever_on_a_section_the_scenario_leaves_out_says_what_a_new_one_needs(tmp_path,
                                                                               capsys):
    text = optimisation_text(tmp_path, levers={"policy.pool_model.refit":
                                               {"choices": ["termly", "half_termly"]}})
    refused(capsys, tmp_path, text, "levers: policy.pool_model: the scenario has no "
            "policy.pool_model", "needs outcome and features as well")


def test_an_uncertain_parameter_on_a_missing_workflow_names_it(tmp_path, capsys):
    """Told of the variant with the policy (not of the no-policy one) and before the whole-number
    problem its draws also have: the message is cut at 300 characters."""
    text = experiment_text(tmp_path, uncertain={WORKFLOW_KEY: [1, 3]})
    refused(capsys, tmp_path, text, f"uncertain.{WORKFLOW_KEY}: in variant w: "
            "the scenario has no workflow 'nosuch' (its workflows: attendance")


def test_an_uncertain_whole_number_key_is_explained(tmp_path, capsys):
    text = experiment_text(tmp_path, uncertain={"policy.workflows.attendance.cooldown_weeks":
                                                [1, 4]})
    refused(capsys, tmp_path, text, "takes whole numbers", "continuous range", "(got 2.5)")


@pytest.mark.parametrize("where", ["levers", "uncertain", "variant"])
def test_an_action_the_scenario_lacks_and_no_workflow_uses_is_refused(tmp_path, capsys, where):
    """``policy.actions.parent_txt.take_up`` made a new action nobody runs: a search over it, a
    variant or an uncertain parameter changed nothing, silently (the run passed)."""
    key = "policy.actions.parent_txt.take_up"
    if where == "levers":
        text = optimisation_text(tmp_path, levers={key: {"low": 0.1, "high": 0.5}})
    elif where == "uncertain":
        text = experiment_text(tmp_path, uncertain={key: [0.1, 0.5]})
    else:
        text = experiment_text(tmp_path, variants={"none": {"policy": None}, "w": {key: 0.3}})
    refused(capsys, tmp_path, text, "policy.actions.parent_txt", "no action 'parent_txt'",
            "no workflow step uses it", "use: parent_meeting, parent_text")


def test_an_action_of_the_scenario_or_catalogue_or_one_a_workflow_uses_may_be_set(tmp_path,
                                                                                 capsys):
    scenario = {**TINY, "policy": {**TINY["policy"], "actions": {"my_call": {"take_up": 0.8}},
                                   "workflows": {"attendance": {
                                       "trigger": "low_attendance",
                                       "steps": [{"action": "my_call", "weeks": 3}]}}}}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(scenario))
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump({
        "name": "e", "scenario": "tiny.yaml", "baseline": "none", "replications": 2,
        "variants": {"none": {"policy": None}, "w": {"policy.actions.my_call.take_up": 0.5},
                     "x": {"policy.actions.mentoring.take_up": 0.5},
                     "y": {"policy.actions.fresh.take_up": 0.5,
                           "policy.workflows.attendance.steps": [{"action": "fresh"}]}}}))
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err


# --- non-finite numbers -----------------------------------------------------------------------

NON_FINITE = ["1e400", "-1e400", ".inf", "-.inf", ".nan"]


@pytest.mark.parametrize("value", NON_FINITE)
@pytest.mark.parametrize("field", [
    "replications", "seed", "search.trials", "search.batch", "reevaluate.replications",
    "reevaluate.front_max", "reevaluate.seed", "budget.total", "constraints.attendance.min",
    f"levers.{'policy.parameters.attendance_threshold'}.high",
    f"levers.{'policy.parameters.attendance_threshold'}.step",
])
def test_every_number_of_an_optimisation_refuses_non_finite_values(tmp_path, capsys, field,
                                                                   value):
    """1e400 (YAML reads it as inf) was "Input should be a finite number (got inf)", or "a
    valid integer (got inf)": nothing said the file's number was not finite, nor why."""
    extra = {"budget": {"total": 600, "roles": {"pastoral": "policy.staff.school.pastoral",
                                                "officer": "policy.staff.school.attendance_officer"}},
             "constraints": {"attendance": {"min": 0.5}}}
    data = tiny_optimisation(tmp_path, **extra)
    node, *path = field.split(".", 1)
    if node == "levers":
        data["levers"]["policy.parameters.attendance_threshold"][path[0].rsplit(".", 1)[1]] = "@"
    elif path:
        data.setdefault(node, {})
        sub = data[node]
        for part in path[0].split(".")[:-1]:
            sub = sub.setdefault(part, {})
        sub[path[0].split(".")[-1]] = "@"
    else:
        data[node] = "@"
    text = yaml.safe_dump(data, sort_keys=False).replace("'@'", value)
    err = refused(capsys, tmp_path, text, f"{field}: is not a finite number but")
    assert ("NaN" in err) == (value == ".nan")


@pytest.mark.parametrize("value", NON_FINITE)
@pytest.mark.parametrize("where,field", [
    ({"uncertain": {"population.fsm_rate": [0.1, "@"]}}, "uncertain.population.fsm_rate[1]"),
    ({"design": {"method": "sobol", "n": "@"}}, "design.n"),
    ({"seed": "@"}, "seed"),
    ({"variants": {"none": {"policy": None}, "w": {"population.fsm_rate": "@"}}},
     "variants.w.population.fsm_rate"),
])
def test_every_number_of_a_design_experiment_refuses_non_finite_values(tmp_path, capsys, where,
                                                                       field, value):
    text = experiment_text(tmp_path, **where).replace("'@'", value)
    refused(capsys, tmp_path, text, f"{field}: is not a finite number but")


# --- empty sections, one-choice levers, levers that do not fit their key -------------------------

@pytest.mark.parametrize("section,hint", [("budget", "give total and roles"),
                                          ("baseline", "to compare with no policy")])
def test_an_empty_optimisation_section_is_refused(tmp_path, capsys, section, hint):
    """``budget:`` with nothing under it was no budget, ``baseline:`` the scenario with its policy
    (leaving it out means no policy), both silently."""
    text = optimisation_text(tmp_path) + f"{section}:\n"
    refused(capsys, tmp_path, text, f"{section}: is empty (null)", hint)


@pytest.mark.parametrize("section", ["design", "sequential"])
def test_an_empty_experiment_section_is_refused(tmp_path, capsys, section):
    """``design:`` with nothing under it ran 30 replications of a Latin hypercube unannounced."""
    data = yaml.safe_load(experiment_text(tmp_path))
    data.pop("design")
    text = yaml.safe_dump(data, sort_keys=False) + f"{section}:\n"
    refused(capsys, tmp_path, text, f"{section}: is empty (null)")


def test_a_lever_with_one_choice_is_refused_as_low_equal_to_high_is(tmp_path, capsys):
    text = optimisation_text(tmp_path, levers={"policy.rules.low_attendance.cadence":
                                               {"choices": ["weekly"]}})
    refused(capsys, tmp_path, text, "levers.policy.rules.low_attendance.cadence: needs at least "
            "2 choices")


@pytest.mark.parametrize("lever,hint", [
    ({"policy.workflows.attendance.cooldown_weeks": {"low": 2, "high": 12}}, "integer: true"),
    ({"policy.workflows.attendance.enabled": {"low": 0, "high": 1}},
     "choices: [true, false]"),
])
def test_a_range_lever_on_a_whole_number_or_true_false_key_says_what_fits(tmp_path, capsys,
                                                                          lever, hint):
    refused(capsys, tmp_path, optimisation_text(tmp_path, levers=lever), hint)


@pytest.mark.parametrize("key", ["population.records", "requests.cert.arrivals.file"])
def test_a_lever_cannot_choose_an_input_file(tmp_path, capsys, key):
    """A lever's file was read from the current folder (not the optimisation file's), and a
    search over pupils' records did not make its folder owner-only (only the base's records
    did): a lever that names an input file is refused."""
    (tmp_path / "a.csv").write_text("school,year_group\nA,7\n")
    text = optimisation_text(tmp_path, levers={key: {"choices": ["a.csv", "b.csv"]}})
    refused(capsys, tmp_path, text, f"levers: {key} names an input file")


def test_an_optimisations_description_is_as_long_as_an_experiments_at_most(tmp_path, capsys):
    refused(capsys, tmp_path, optimisation_text(tmp_path, description="x" * 10_001),
            "description: String should have at most 10000 characters")


@pytest.mark.parametrize("outcome", ["request_backlog_end", "explore_share"])
def test_an_objective_no_candidate_measures_is_blamed_on_the_objectives(tmp_path, capsys,
                                                                        outcome):
    text = optimisation_text(tmp_path, objectives={outcome: "minimise"})
    refused(capsys, tmp_path, text, f"objectives and constraints: {outcome} measures")


# --- the size of a search -----------------------------------------------------------------------

def test_a_search_of_100000_candidates_is_refused_naming_the_field(tmp_path, capsys):
    """It passed validate and ran for hours (Optuna's bookkeeping alone, 0.15-0.3 s a
    candidate here), with no warning."""
    text = optimisation_text(tmp_path, search={"trials": 100_000})
    refused(capsys, tmp_path, text, "search.trials: 100,000 candidates, more than the 10,000")
    refused(capsys, tmp_path, text, "search.trials", command="optimise")


def test_a_search_over_the_run_limit_says_where_its_runs_come_from(tmp_path, capsys):
    text = optimisation_text(tmp_path, search={"trials": 10_000}, replications=100)
    refused(capsys, tmp_path, text, "1,000,280 runs, more than 1,000,000: 1,000,100 search runs "
            "(10,000 candidates and the baseline x 100 replications)")


def test_validate_prints_the_runs_a_search_makes(tmp_path, capsys):
    path = tmp_path / "o.yaml"
    path.write_text(optimisation_text(tmp_path, search={"trials": 6, "batch": 3},
                                      reevaluate={"replications": 4, "front_max": 2}))
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[1] == (
        "runs: 21 search runs (6 candidates and the baseline x 3 replications), then at most "
        "12 to re-evaluate the front (2 policies and the baseline x 4 replications); 33 in all")
    path.write_text(optimisation_text(tmp_path, search={"trials": 1, "batch": 2}, replications=1,
                                      reevaluate={"replications": 2, "front_max": 1}))
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[1] == (
        "runs: 2 search runs (1 candidate and the baseline x 1 replication), then at most "
        "4 to re-evaluate the front (1 policy and the baseline x 2 replications); 6 in all")
    shipped = ROOT / "experiments" / "optimise_attendance.yaml"
    assert main(["validate", str(shipped)]) == 0
    assert "; 159 in all" in capsys.readouterr().out


def test_validate_calls_a_designs_runs_points(tmp_path, capsys):
    path = tmp_path / "e.yaml"
    path.write_text(experiment_text(tmp_path))
    assert main(["validate", str(path)]) == 0
    assert "(2 variants x 12 points of a Sobol design (one seed); 24 runs)" in \
        capsys.readouterr().out


# --- Ctrl-C -------------------------------------------------------------------------------------

SERVER_SIGNALS = """
import multiprocessing.forkserver as fs, os, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # as a terminal gives it (a test
# runner's worker may pass it on ignored)
from srmsim import executors

def catches_ctrl_c(pid):  # the worker's start is over: its own handler is set
    mask = next(l for l in open(f"/proc/{pid}/status") if l.startswith("SigCgt:")).split()[1]
    return bool(int(mask, 16) >> (signal.SIGINT - 1) & 1)
executors.start_server(executors.RUN_MODULES)
pid = fs._forkserver._forkserver_pid
mask = next(l for l in open(f"/proc/{pid}/status") if l.startswith("SigIgn:")).split()[1]
print(bool(int(mask, 16) >> (signal.SIGINT - 1) & 1))
print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)
busy = executors._Workers(1)  # a worker in a run
while not busy.ready():
    time.sleep(0.01)
task = busy.pool.submit(time.sleep, 60)
time.sleep(1)
start = time.time()
os.kill(next(iter(busy.pool._processes)), signal.SIGINT)
try:
    task.result(timeout=30)
except BaseException as err:
    print(type(err).__name__, time.time() - start < 20)
busy.shutdown()
idle = executors._Workers(2)  # workers waiting for a task
while not idle.ready():
    time.sleep(0.01)
processes = list(idle.pool._processes.values())
deadline = time.time() + 60
while not all(catches_ctrl_c(p.pid) for p in processes) and time.time() < deadline:
    time.sleep(0.01)
for process in processes:
    os.kill(process.pid, signal.SIGINT)
for process in processes:
    process.join(30)
print([process.exitcode for process in processes])
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_ctrl_c_stops_workers_and_their_fork_server_without_a_traceback(tmp_path):
    """Ctrl-C reaches the whole process group. One in the fork server's first seconds (its
    imports, before it ignored SIGINT itself) printed a KeyboardInterrupt traceback under the
    command's "srmsim: interrupted" (`srmsim optimise` stopped at its first run), and so did a
    worker waiting for a task (a search between batches: "Process ForkServerProcess-2:" and a
    traceback for each). The server now ignores it from its start; a worker's run still stops
    on it at once, and a waiting worker ends without a word."""
    import os
    import subprocess

    done = subprocess.run([sys.executable, "-c", SERVER_SIGNALS], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=180)
    lines = done.stdout.splitlines()
    assert lines[:3] == ["True", "True", "SystemExit True"], done.stderr
    # every idle worker ends: on its own Ctrl-C (130), or, once the first has, as the pool
    # stops the rest when one of its workers is gone (SIGTERM, or its queue closed under it):
    # the exit code of the second races, what is printed (nothing, below) does not
    codes = json.loads(lines[3])
    assert len(codes) == 2 and None not in codes and 130 in codes, (lines, done.stderr)
    assert "Traceback" not in done.stderr and "Process " not in done.stderr, done.stderr


@pytest.mark.parametrize("command", ["validate", "optimise"])
def test_more_lever_choices_than_a_search_checks_are_refused_before_any_is_built(
        tmp_path, capsys, monkeypatch, command):
    """Each choice is checked as a scenario before the search starts: 90 levers of 100 choices
    each took 39 s to be called valid. Over 1,000 choices in all is refused at once, before a
    single scenario is built."""
    from srmsim.scenario import Scenario

    keys = ["population.fsm_rate", "population.sen_rate", "population.eal_rate",
            "population.male_share", "dynamics.absence_week_sd", "dynamics.exam_sd",
            "dynamics.assessment_sd", "dynamics.incident_rate", "dynamics.login_logit",
            "dynamics.withdrawal_annual", "dynamics.absence_school_sd"]
    levers = {k: {"choices": [round(0.01 + i / 1000, 3) for i in range(100)]} for k in keys}
    text = optimisation_text(tmp_path, levers=levers)

    def built(*args, **kwargs):
        raise AssertionError("a scenario was built")

    monkeypatch.setattr(Scenario, "with_overrides", built)
    refused(capsys, tmp_path, text, "levers: 1,100 choices in all, more than the 1,000 a "
            "search may have", command=command)


def test_a_thousand_lever_choices_are_still_checked_one_by_one(tmp_path, capsys):
    """At the limit every choice is still checked: a bad one is refused, naming its lever."""
    levers = {k: {"choices": [round(0.01 + i / 1000, 3) for i in range(100)]}
              for k in ["population.fsm_rate", "population.sen_rate", "population.eal_rate",
                        "population.male_share", "dynamics.absence_week_sd",
                        "dynamics.exam_sd", "dynamics.assessment_sd", "dynamics.incident_rate",
                        "dynamics.withdrawal_annual"]}
    levers["population.attainment_icc"] = {"choices": [0.1 + i / 1000 for i in range(99)] + [2]}
    refused(capsys, tmp_path, optimisation_text(tmp_path, levers=levers),
            "levers: population.attainment_icc")
