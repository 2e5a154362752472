"""Privacy review 248: counts under 10 that staff hours, costs and user-defined means gave away.

Found 2026-12-07 on a trust of 20 Year 7 pupils built from records, attendance escalation at
a threshold of 0.8 (6 and 7 actions in its two runs): ``effects.csv`` wrote its staff hours
and cost beside the escalation's (a fixed price per action: hours over one action's hours
give the actions), a user-defined mean of ``interventions / 2`` (the actions over twice the
students) and a mean of ``first_flag_week`` (over the students referred, reckoned over all
20), the run report printed the trust's "staff hours" and "cost of actions" of 6 actions;
``data anonymise --k 1`` was accepted (a class of one pupil); and ``data import --out a/b``
made ``a`` with the umask, readable by everyone, around the owner-only dataset.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from srmsim.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from conftest import cli_refuses, small_record_trust  # noqa: E402
from test_privacy239 import escalation_scenario  # noqa: E402

#: user-defined means and, as an attacker reads each from its expression, ``(a, b)``: the
#: score is ``a`` times a whole number plus ``b``, so (mean - b) / a x students is a count
LINES = {"half_actions": (0.5, 0.0), "half_incidents": (0.5, 0.0)}
DEFINITIONS = [
    {"name": "half_actions", "label": "Half the actions", "statistic": "mean",
     "of": "interventions / 2", "scale": "number"},
    {"name": "half_incidents", "label": "Half the incidents", "statistic": "mean",
     "of": "incidents / 2", "scale": "number"},
    {"name": "flag_week", "label": "First referral week", "statistic": "mean",
     "of": "first_flag_week", "scale": "number"},
    {"name": "cost_each", "label": "Cost per student", "statistic": "mean", "of": "cost",
     "scale": "money"},
]
PRICED = ("staff_hours", "cost")
#: what the actions cost: the trust's total (over the students: the user-defined mean)
SPENT = (*PRICED, "cost_each")


def one_school_records(folder: Path, pupils: int = 20) -> Path:
    """``pupils`` (even) Year 7 pupils of one school, half of each sex, about 30% FSM."""
    rng = np.random.default_rng(3)
    path = folder / "records.parquet"
    pd.DataFrame({"school": ["URN100001"] * pupils, "year_group": [7] * pupils,
                  "sex": list("FM" * (pupils // 2)),
                  "fsm": rng.random(pupils) < 0.3}).to_parquet(path)
    return path


def run_on_records(folder: Path, exp: dict) -> tuple[Path, str]:
    """Experiment ``exp`` (of ``folder``'s scenario.yaml) run in-process into ``folder/out``:
    the results folder and what the command printed."""
    (folder / "exp.yaml").write_text(yaml.safe_dump(exp))
    out = folder / "out"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["experiment", str(folder / "exp.yaml"), "--out", str(out), "--quiet",
                     "--workers", "1"]) == 0
    return out, printed.getvalue()


#: the module's studies on records are built once, on one worker
pytestmark = pytest.mark.xdist_group("privacy248")


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """An experiment on the 20 pupils: no policy, escalation (12 actions a run) and the
    escalation at 0.8 (6.5 a run); the results folder and what the command printed."""
    folder = tmp_path_factory.mktemp("records")
    escalation_scenario(folder, one_school_records(folder), [7])
    exp = {"name": "privacy248", "scenario": "scenario.yaml", "baseline": "no_policy",
           "replications": 2, "seed": 1, "outcomes": [*PRICED, *DEFINITIONS],
           "variants": {"no_policy": {"policy": None}, "escalation": {},
                        "few": {"policy.parameters.attendance_threshold": 0.8}}}
    return run_on_records(folder, exp)


def _actions(out: Path) -> dict[str, float]:
    """Each variant's actions a run, from the owner-only runs (the truth an attacker seeks)."""
    from srmsim.experiment.store import ResultsStore

    runs = ResultsStore(out).load()
    return runs.groupby("variant")["actions_started"].mean().to_dict()


def test_staff_hours_cost_and_linear_means_give_no_small_count(study: tuple[Path, str]) -> None:
    out, printed = study
    actions = _actions(out)
    # the study holds both cases: the test could fail either way
    assert actions["few"] < 10 <= actions["escalation"] and actions["no_policy"] == 0, actions
    effects = pd.read_csv(out / "effects.csv")
    shown = effects[effects["verdict"] != "withheld"]
    for r in shown.itertuples():
        for variant, value in ((r.variant, r.mean_variant), (r.baseline, r.mean_baseline)):
            if r.outcome in SPENT and variant != "no_policy":
                assert actions[variant] >= 10, (r.outcome, variant, value)
            if r.outcome in LINES:
                a, b = LINES[r.outcome]
                assert abs((value - b) / a * 20) >= 10, (r.outcome, variant, value)
            assert r.outcome != "flag_week"  # a mean over the referred: their number unknown
    by = effects.set_index(["variant", "outcome"])["verdict"]
    # (the escalation's three kinds: withheld where one kind's actions or weeks are under 10,
    # review 254; tests/test_privacy254.py shows enough of one kind)
    from srmsim.experiment.store import ResultsStore

    runs = ResultsStore(out).load()
    one_few = runs[runs["variant"] == "escalation"]["fewest_of_a_kind"].mean() < 10
    for name in SPENT:
        assert by[("few", name)] == "withheld"
        assert (by[("escalation", name)] == "withheld") == one_few
    assert by[("escalation", "half_incidents")] != "withheld"  # 66 incidents a run
    assert by[("few", "half_actions")] == "withheld"
    assert by[("escalation", "flag_week")] == "withheld"
    line = next(x for x in printed.splitlines() if x.startswith("few") and "Staff hours" in x)
    assert re.search(r"\blow\b", line) and " h " not in line + " "
    assert "under 10 actions a run" in printed
    page = (out / "report.html").read_text()
    resources = page.split("Cost and staff hours")[1].split("</table>")[0]
    few = next(tr for tr in re.findall(r"<tr>.*?</tr>", resources, re.S) if ">few<" in tr)
    assert "data-col='Cost'>low<" in few and "data-col='Staff hours'>low<" in few, few
    assert "£" not in few


def test_an_older_folder_without_the_actions_withholds_staff_hours_and_cost(
        study: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Runs an older srmsim wrote keep no count of actions: their staff hours and cost are
    withheld whole, with the note saying why; the rest is shown as before."""
    old = tmp_path / "old"
    shutil.copytree(study[0], old)
    for f in (old / "runs").glob("*/*.parquet"):
        pd.read_parquet(f).drop(columns=["actions_started"]).to_parquet(f)
    capsys.readouterr()
    assert main(["compare", str(old)]) == 0
    printed = capsys.readouterr().out
    by = pd.read_csv(old / "effects.csv").set_index(["variant", "outcome"])["verdict"]
    assert by[("escalation", "staff_hours")] == "withheld" == by[("escalation", "cost")]
    assert by[("escalation", "half_incidents")] != "withheld"
    assert "an older srmsim did not keep" in printed


def test_a_run_report_from_records_withholds_hours_and_cost_of_few_actions(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The run of 6 actions: its report printed the trust's staff hours and cost (and per
    student served). Its folder's parent, made by the command, is owner-only too."""
    path = escalation_scenario(tmp_path, one_school_records(tmp_path), [7])
    scenario = yaml.safe_load(path.read_text())
    scenario["policy"]["parameters"]["attendance_threshold"] = 0.8
    path.write_text(yaml.safe_dump(scenario))
    out = tmp_path / "made" / "run"
    mask = os.umask(0o022)
    try:
        assert main(["run", str(path), "--out", str(out), "--report", "--quiet"]) == 0
    finally:
        os.umask(mask)
    assert (out.parent.stat().st_mode & 0o777) == 0o700
    actions = int(pd.read_parquet(out / "students.parquet")["interventions"].sum())
    assert 0 < actions < 10
    page = (out / "report.html").read_text()
    cost = page.split("Cost and staff hours")[1].split("By group")[0]
    assert "<th>cost of actions</th><td>low<" in cost and "<th>staff hours</th><td>low<" in cost
    for name in ("cost per student served",
                 "staff hours per student served"):
        assert name not in cost or f"<th>{name}</th><td>low<" in cost, (name, cost)
    assert "£" not in cost
    headline = page.split("The year in numbers")[1].split("Cost and staff hours")[0]
    for label in ("Staff hours", "Cost"):
        row = next(tr for tr in re.findall(r"<tr>.*?</tr>", headline, re.S)
                   if f">{label}<" in tr)
        value = re.search(r"data-col='value'([^>]*)>([^<]*)<", row)
        assert value and value[2] == "low" and value[1] == " data-value='nan'", row


def test_a_trials_group_rows_withhold_hours_and_cost_of_few_actions() -> None:
    """A trial's (and a run report's) group rows: staff hours of the 10 FSM students' 4
    actions were written beside the others'; the partition is withheld, the schools (19 and
    15 actions), the whole arm and the counterfactual's known 0 stay."""
    from srmsim.trial.groups import ALL, withhold_small_groups

    n = 40
    students = pd.DataFrame({"school": np.repeat([0, 1], n // 2), "fsm": np.arange(n) % 4 == 0,
                             "sen": False, "eal": False,
                             "interventions": np.where(np.arange(n) % 4 == 0, 0, 1)})
    students.loc[[0, 4, 8, 12], "interventions"] = 1  # 4 FSM actions of 23
    # each action 2 weeks of an hour's work at £30 a week (the action-weeks: twice as many)
    students["staff_minutes"] = 120.0 * students["interventions"]
    students["cost"] = 60.0 * students["interventions"]
    rows = []
    groups = {ALL: np.ones(n, bool), "FSM": students["fsm"].to_numpy(),
              "not FSM": ~students["fsm"].to_numpy(), "school 0": students["school"].eq(0).to_numpy(),
              "school 1": students["school"].eq(1).to_numpy()}
    for g, m in groups.items():
        for name in PRICED:
            rows.append({"group": g, "outcome": name, "trial": 2.0 * students["interventions"][m].sum(),
                         "counterfactual": 0.0, "students": float(m.sum())})
    one_kind = np.c_[students["interventions"], 2.0 * students["interventions"]]
    kept = withhold_small_groups(pd.DataFrame(rows), students, students, np.ones(n, bool),
                                 threshold=10, dearest_week={"staff_minutes": 60.0, "cost": 30.0},
                                 kinds=one_kind).set_index(["group", "outcome"])
    for name in PRICED:
        assert np.isnan(kept.loc[("FSM", name), "trial"])
        assert np.isnan(kept.loc[("not FSM", name), "trial"])
        assert kept.loc[("school 0", name), "trial"] == 38.0
        assert kept.loc[("school 1", name), "trial"] == 30.0
        assert kept.loc[(ALL, name), "trial"] == 68.0
        assert kept.loc[("FSM", name), "counterfactual"] == 0.0


def test_anonymise_refuses_k_1_and_import_keeps_the_folders_it_makes_private(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds = small_record_trust()
    ds.students.to_csv(tmp_path / "students.csv", index=False)
    ds.observations.to_csv(tmp_path / "observations.csv", index=False)
    (tmp_path / "yours").mkdir(mode=0o755)
    mask = os.umask(0o022)
    try:
        for out in (tmp_path / "new" / "deeper" / "ds", tmp_path / "yours" / "ds"):
            assert main(["data", "import", str(tmp_path / "students.csv"),
                         str(tmp_path / "observations.csv"), "--out", str(out)]) == 0
    finally:
        os.umask(mask)
    modes = {p: p.stat().st_mode & 0o777 for p in (
        tmp_path / "new", tmp_path / "new" / "deeper", tmp_path / "new" / "deeper" / "ds",
        tmp_path / "yours", tmp_path / "yours" / "ds")}
    assert modes[tmp_path / "yours"] == 0o755  # the user's own folder, left as it was
    assert all(m == 0o700 for p, m in modes.items() if p != tmp_path / "yours"), modes
    key = tmp_path / "key"
    key.write_text("0123456789abcdef" * 4)
    key.chmod(0o600)
    capsys.readouterr()
    for k in ("1", "0"):
        cli_refuses(capsys, ["data", "anonymise", str(tmp_path / "yours" / "ds"), "--out",
                             str(tmp_path / "anon"), "--key-file", str(key), "--k", k],
                    "--k must be at least 2")
    assert not (tmp_path / "anon").exists()


def test_an_optimisations_candidates_regret_and_curve_withhold_priced_outcomes() -> None:
    """An optimisation's candidates and regrets (reckoned on its runs, as trials.csv and
    regret.csv are) and a learning curve: staff hours and the gains per 100 of them are
    withheld for a policy of 5 actions a run, shown for one of 20; a gain per 100 staff hours
    of a group or a term (whose actions are not kept) is withheld whole."""
    from srmsim.experiment.withhold import withhold_candidates, withhold_curve, withhold_regret

    runs = pd.DataFrame({"variant": ["few", "few", "many", "many"], "replication": [0, 1] * 2,
                         "students": 200, "actions_started": [4.0, 6.0, 19.0, 21.0],
                         "action_weeks": [12.0, 18.0, 60.0, 64.0],
                         "fewest_of_a_kind": [4.0, 6.0, 19.0, 21.0],
                         "staff_hours": [3.0, 4.5, 15.0, 16.0],
                         "reading_per_100h": [40.0, 35.0, 30.0, 31.0],
                         "reading_per_100h_fsm": [50.0, 45.0, 33.0, 36.0]})
    outcomes = ["staff_hours", "reading_per_100h", "reading_per_100h_fsm"]
    table = runs.groupby("variant", sort=True)[outcomes].mean().reset_index()
    kept = withhold_candidates(table, list(table["variant"]), runs, outcomes).set_index("variant")
    assert kept.loc["few", ["staff_hours", "reading_per_100h"]].isna().all()
    assert kept.loc["many", "staff_hours"] == 15.5 and kept.loc["many", "reading_per_100h"] == 30.5
    assert kept["reading_per_100h_fsm"].isna().all()
    older = withhold_candidates(table, list(table["variant"]), runs.drop(columns="actions_started"),
                                outcomes).set_index("variant")
    assert older["staff_hours"].isna().all()  # an older srmsim's runs: their actions unknown
    regret = pd.DataFrame({"policy": ["few", "many"] * 2, "objective": ["staff_hours"] * 2
                           + ["reading_per_100h"] * 2, "mean_regret": 1.0, "p90_regret": 2.0,
                           "max_regret": 3.0})
    assert withhold_regret(regret, runs)["mean_regret"].isna().all()  # a front policy of 5
    only_many = regret[regret["policy"] == "many"]
    assert withhold_regret(only_many, runs)["mean_regret"].notna().all()
    curve = pd.DataFrame({"variant": "many", "measure": ["regret", "reading_per_100h"],
                          "term": 1, "mean": [0.5, 30.0], "ci_low": 0.1, "ci_high": 40.0})
    shown = withhold_curve(curve).set_index("measure")
    assert shown.loc["regret", "mean"] == 0.5 and np.isnan(shown.loc["reading_per_100h", "mean"])


def test_a_mean_of_one_condition_is_a_share_of_the_students() -> None:
    """A mean of ``count(served)`` is the share served: 0.95 of 20 students leaves 1 not
    served, which the share's complement gives away; 0.5 (10 and 10) is shown. A mean of
    ``count(reading_gap_end < -24)`` has a value for every student (a comparison with a
    missing value is false), so it is reckoned so, not withheld whole."""
    from srmsim.experiment.custom import build_outcomes
    from srmsim.experiment.withhold import small_test

    definitions = [{"name": name, "label": name, "statistic": "mean", "of": of,
                    "scale": "number"}
                   for name, of in (("served_mean", "count(served)"),
                                    ("behind_mean", "count(reading_gap_end < -24)"))]
    runs = pd.DataFrame({"variant": ["most", "most", "half", "half"], "replication": [0, 1] * 2,
                         "students": 20, "served_mean": [0.95, 0.95, 0.5, 0.5],
                         "behind_mean": [0.5] * 4,
                         "fewest_in_a_part": 10.0, "empty_parts": 0.0})
    is_small = small_test(runs, build_outcomes(definitions), frozenset(), 10, definitions, None)
    assert is_small("most", "served_mean") and not is_small("half", "served_mean")
    assert not is_small("half", "behind_mean")
