"""Hostile input to the experiment commands, sweep 243 (2026-12-07).

- ``outcomes:`` was checked for duplicates with ``names.count(n)`` for each name: a list of
  50,000 outcomes (within the YAML limits) took 95 s to be refused.
- A user-defined outcome whose value passed 1e150 (``of: attendance_rate * 1e200``) was stored,
  and the experiment then refused its own run files as "hand-edited or corrupt", telling the
  user to delete them and resume, which made them again.
- Two user-defined outcomes with one label (or a label and another's name in words) made two
  rows of the effects table that read the same.
- A manifest whose ``sessions`` was not a list (hand-edited) stopped ``--resume`` with an
  AttributeError traceback, after the runs.
- ``--resume`` of a folder whose manifest or failure records the analysis refuses recorded a
  session in the manifest (and a hand-made failure record among its failed runs) before the
  refusal.
- An optimisation's budget role could write its minutes to any numeric key: the search tried
  ``dynamics.absence_logit = 91.6`` as a share of a staff budget.
- A user-defined ``count`` with ``scale: share`` printed a count of 35 students as "3,500.0%".
- ``srmsim discover A --out B/discovery`` replaced experiment B's own discovery with A's (B's
  report was then refused as "hand-edited or corrupt"); ``--out B/sub`` wrote into B's folder.
- A file of two YAML documents was refused with PyYAML's second half-sentence, "but found
  another document".
- ``srmsim sensitivity DIR`` (all outcomes, the default) was refused whole when one outcome was
  not measured in a variant: ``weeks_waited`` beside a baseline of no policy, where no one
  waits.
"""
# ruff: noqa: F811 - sobol_results is test_explore_hostile_review's module-scoped fixture, imported

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import cli_refuses, folder_bytes
from test_explore_hostile_review import sobol_results  # noqa: F401 - a fixture
from test_spec_fuzz_validation import ROLES, experiment, fails, optimisation

from srmsim.cli import main
from srmsim.errors import ScenarioError, SrmsimError
from srmsim.experiment.custom import build_outcomes
from srmsim.experiment.outcomes import Cohort
from srmsim.experiment.spec import experiment_from_dict
from srmsim.explore.tables import Explored


def _resume(finished: Path, out: Path) -> list[str]:
    return ["experiment", str(finished.parent / "exp.yaml"), "--out", str(out), "--resume",
            "--quiet", "--workers", "1", "--no-report"]


def _edit_manifest(study: Path, **changes: object) -> None:
    path = study / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest, indent=2))


# ------------------------------------------------------------ a long outcomes list
def test_a_long_outcomes_list_is_refused_at_once(tmp_path):
    data = {"name": "x", "scenario": "none.yaml", "baseline": "a", "variants": {"a": {}},
            "outcomes": ["attendanc" + e for e in "e" * 50_000]}  # 50,000 objects, as YAML's
    # (counted in one pass: name by name it took about 40 s; speed is measured in benchmarks/,
    # not asserted here)
    with pytest.raises(ScenarioError, match=r"outcome listed more than once: \['attendance'\]"):
        experiment_from_dict(data, "x.yaml", tmp_path)


# ------------------------------------------------------------ a custom outcome past 1e150
def test_a_custom_outcome_beyond_what_the_store_holds_is_not_measured():
    students = pd.DataFrame({"student": np.arange(4), "fsm": [True, True, False, False],
                             "attendance_rate": [0.9, 0.8, 0.95, 0.7]})
    registry = build_outcomes([
        {"name": "big", "statistic": "mean", "of": "attendance_rate * 1e140"},
        {"name": "huge", "statistic": "mean", "of": "attendance_rate * 1e200"},
        {"name": "summed", "statistic": "sum", "of": "attendance_rate * 1e150"},
        {"name": "gap", "statistic": "mean", "of": "attendance_rate * 1e150", "where": "fsm",
         "minus_where": "not fsm"},
        {"name": "wide", "statistic": "mean", "of": "(attendance_rate - 0.8375) * 6e151",
         "where": "fsm", "minus_where": "not fsm"},
    ])
    cohort = Cohort(students)
    rates = students["attendance_rate"]
    assert registry["big"](cohort) == pytest.approx(rates.mean() * 1e140, rel=1e-12)
    assert math.isnan(registry["huge"](cohort))  # 8.4e199: the reader refused the run file
    assert math.isnan(registry["summed"](cohort))  # 3.35e150, from values of 1e150 or less
    assert registry["gap"](cohort) == pytest.approx(0.025e150, rel=1e-9)  # 0.85 - 0.825
    # each side within the limit (+-7.5e149), their difference (1.5e150) beyond it
    assert math.isnan(registry["wide"](cohort))


# ------------------------------------------------------------ outcomes labelled alike
@pytest.mark.parametrize("outcomes, clash", [
    ([{"label": "Gap"}, {"label": "Gap"}], "'Gap'"),
    ([{"label": "gap"}, {"label": "GAP "}], "'GAP ', 'gap'"),
    ([{"name": "fsm_gap"}, {"label": "fsm gap"}], "'fsm gap'"),
    ([{"label": "Gap"}, {"label": "Gap of FSM"}], None),
])
def test_outcomes_labelled_alike_are_refused(tmp_path, capsys, outcomes, clash):
    (tmp_path / "s.yaml").write_text("name: s\ntrust: {n_schools: 2}\n")
    defs = [{"name": f"o{i}", "statistic": "mean", "of": "attendance_rate", **o}
            for i, o in enumerate(outcomes)]
    exp = tmp_path / "exp.yaml"
    exp.write_text(json.dumps({"scenario": "s.yaml", "baseline": "a", "variants": {"a": {}},
                               "outcomes": ["attendance", *defs]}))
    if clash is None:
        assert main(["validate", str(exp)]) == 0
        return
    err = cli_refuses(capsys, ["validate", str(exp)], f"outcomes labelled alike ({clash})")
    assert len(err.strip().splitlines()) == 1


# ------------------------------------------------------------ damaged manifests on --resume
@pytest.mark.parametrize("sessions", ["x", None, {"a": 1}])
def test_a_manifest_whose_sessions_are_no_list_is_refused(finished, study, capsys, sessions):
    _edit_manifest(study, sessions=sessions)
    before = folder_bytes(study)
    for argv in (_resume(finished, study), ["compare", str(study)]):
        cli_refuses(capsys, argv, f"{study / 'manifest.json'}: not an srmsim experiment "
                                  "manifest (hand-edited or corrupt)")
    assert folder_bytes(study) == before


def _deleted(study: Path, replication: int) -> Path:
    """``study`` without the stored run ``replication`` of variant texts (and its detail)."""
    for path in [study / "runs" / "texts" / f"rep-{replication:05d}.parquet",
                 *(study / "detail" / "texts").glob(f"rep-{replication:05d}-*")]:
        path.unlink()
    return study


def _failure(study: Path, replication: int, **changes: object) -> Path:
    manifest = json.loads((study / "manifest.json").read_text())
    path = study / "failures" / "texts" / f"rep-{replication:05d}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"variant": "texts", "replication": replication,
                                "seed": manifest["seeds"][replication], "error": "E: x",
                                "experiment_hash": manifest["experiment_hash"], **changes}))
    return path


@pytest.mark.parametrize("damage, says", [
    (lambda s: _edit_manifest(s, baseline="texts"), "its baseline is not the experiment's"),
    (lambda s: _edit_manifest(s, name="other"), "its name is not the experiment's"),
    (lambda s: _failure(s, 1).write_text("{not json"), "unreadable"),
    (lambda s: _failure(s, 1), "a failure record of a run that is stored"),
    (lambda s: _failure(_deleted(s, 1), 1, seed=5),
     "whose seed is not the one manifest.json gives replication 1"),
])
def test_a_resume_the_analysis_would_refuse_writes_nothing(finished, study, capsys, damage,
                                                           says):
    damage(study)
    before = folder_bytes(study)
    cli_refuses(capsys, _resume(finished, study), says)
    assert folder_bytes(study) == before  # no session added, no failure listed


def test_a_failure_record_a_killed_session_left_unlisted_still_resumes(finished, study,
                                                                        capsys):
    """A session killed after a run's failure record was written, before the manifest listed
    it at the session's end: the resume runs it again (the record is not refused)."""
    _failure(_deleted(study, 1), 1)
    assert main(_resume(finished, study)) == 0, capsys.readouterr().err
    assert (study / "runs" / "texts" / "rep-00001.parquet").exists()
    assert not (study / "failures" / "texts" / "rep-00001.json").exists()
    assert json.loads((study / "manifest.json").read_text())["failed"] == []


# ------------------------------------------------------------ what a budget splits
@pytest.mark.parametrize("key, valid", [
    ("dynamics.absence_logit", False),
    ("policy.actions.parent_meeting.staff_minutes.pastoral", False),  # minutes per student
    ("policy.parameters.attendance_threshold", False),
    ("policy.staff.pool.attendance_officer", True),
    ("policy.staff.per_school.0.attendance_officer", True),
])
def test_a_budget_role_writes_staff_minutes_only(tmp_path, capsys, key, valid):
    path = optimisation(tmp_path, budget={"total": 1080, "roles": {**ROLES,
                                                                   "attendance_officer": key}},
                        levers={})
    if valid:
        assert main(["validate", str(path)]) == 0, capsys.readouterr().err
    else:
        fails(capsys, path, f"budget: roles.attendance_officer: {key!r} is not a role's staff "
                            "minutes a week")


# ------------------------------------------------------------ a count's scale
@pytest.mark.parametrize("scale", ["share", "count", "per100", "number"])
def test_a_custom_count_prints_as_a_number(tmp_path, capsys, scale):
    low = {"name": "low", "statistic": "count", "of": "attendance_rate < 0.85", "scale": scale}
    path = experiment(tmp_path, outcomes=["attendance", low])
    if scale == "number":
        assert main(["validate", str(path)]) == 0, capsys.readouterr().err
    else:
        fails(capsys, path, f"outcomes[1] (low).scale: statistic count is a number of "
                            f"students: give scale: number (the default), not {scale}")


# ------------------------------------------------------------ discover --out
@pytest.mark.parametrize("where", ["other/discovery", "other/sub/deeper", "other"])
def test_discover_writes_into_no_other_result_folder(study, capsys, where):
    other = study.parent / "other"
    shutil.copytree(study, other)
    (other / "discovery").mkdir()
    (other / "discovery" / "discovery.json").write_text("{}")  # other's own discovery
    before = folder_bytes(study.parent)
    out = study.parent / where
    err = cli_refuses(capsys, ["discover", str(study), "--condition", "attendance_diff < 0",
                               "--out", str(out)], f"--out {out}: inside the experiment folder "
                                                   f"{other}, another result than {study}")
    assert "give no --out" in err
    assert folder_bytes(study.parent) == before


def test_discover_into_its_own_folder_passes_the_check(study, capsys):
    # the check lets DIR/discovery (named or by default) and other folders of DIR by: the
    # study has no uncertain parameters, so discovery itself refuses it next
    for extra in ([], ["--out", str(study / "discovery")], ["--out", str(study / "d2")]):
        cli_refuses(capsys, ["discover", str(study), "--condition", "attendance_diff < 0",
                             *extra], "no uncertain: parameters")


# ------------------------------------------------------------ two YAML documents
@pytest.mark.parametrize("text, line", [("name: a\n---\nname: b\n", 2),
                                        ("---\n---\nname: b\n", 2)])
def test_a_second_yaml_document_is_named_in_plain_words(text, line):
    from srmsim.yamlio import load_yaml_text

    with pytest.raises(ScenarioError) as err:
        load_yaml_text(text, "e.yaml")
    assert str(err.value) == (f"e.yaml: malformed YAML: line {line}, column 1: a second YAML "
                              "document ('---' starts one): a file holds one document; remove "
                              "the '---' line, or split the file")
    assert load_yaml_text("---\nname: b\n", "e.yaml") == {"name": "b"}  # one, marked


# ------------------------------------------------------------ sensitivity of an unmeasured outcome
def _unmeasured_in_the_baseline(monkeypatch, everywhere: bool = False) -> None:
    """``attainment`` not measured in the baseline ``off`` (as weeks_waited where no policy
    refers anyone), so neither is the paired difference; ``everywhere``: in ``on`` too."""
    table = Explored.outcome_table

    def unmeasured(self, variant):
        out = table(self, variant)
        gone = ["attainment"] if variant == "off" else ["attainment_diff",
                                                        "attainment_baseline"]
        out[gone + (["attainment"] if everywhere else [])] = np.nan
        return out

    monkeypatch.setattr(Explored, "outcome_table", unmeasured)


def test_sensitivity_leaves_out_an_outcome_a_variant_did_not_measure(sobol_results, capsys,
                                                                      monkeypatch):
    from srmsim.explore.sensitivity import sensitivity

    whole = sensitivity(sobol_results)  # every target measured
    _unmeasured_in_the_baseline(monkeypatch)
    table = sensitivity(sobol_results)
    assert table.attrs["not_measured"] == [("off", "attainment"), ("on - off", "attainment")]
    assert set(table["target"]) == {"on"}
    pd.testing.assert_frame_equal(table.reset_index(drop=True),
                                  whole[whole["target"] == "on"].reset_index(drop=True))
    assert main(["sensitivity", str(sobol_results)]) == 0
    out = capsys.readouterr().out
    assert "note: not measured in any run, so left out: off: Attainment; on - off: Attainment" \
        in out
    assert main(["report", str(sobol_results)]) == 0  # its check computes the same rows
    _unmeasured_in_the_baseline(monkeypatch, everywhere=True)
    cli_refuses(capsys, ["sensitivity", str(sobol_results)], "attainment was not measured in "
                "any run of off, on: nothing to apportion")


# ------------------------------------------------------------ --out of the other commands
REPO = Path(__file__).resolve().parents[1]
_WRITERS = {  # each command, with a file it loads before --out is checked
    "run": ["run", str(REPO / "scenarios" / "attendance_escalation_small.yaml")],
    "experiment": ["experiment", str(REPO / "experiments" / "quickstart.yaml")],
    "trial": ["trial", str(REPO / "experiments" / "trial_reading.yaml")],
    "optimise": ["optimise", str(REPO / "experiments" / "optimise_attendance.yaml")],
    "calibrate": ["calibrate", "no-data-read-yet"]}


@pytest.mark.parametrize("command, marker, noun, where", [
    ("run", "manifest.json", "experiment", "sub"),
    ("experiment", "trial.json", "trial", "sub/deeper"),
    ("trial", "summary.json", "run", "store"),
    ("optimise", "manifest.json", "experiment", "discovery"),
    ("calibrate", "optimise.json", "optimisation", "fit"),
    ("experiment", "dataset.json", "dataset", "results"),
])
def test_no_command_writes_into_another_result_folder(tmp_path, capsys, command, marker, noun,
                                                      where):
    other = tmp_path / "other"
    other.mkdir()
    key = {"manifest.json": "experiment_hash", "trial.json": "trial_hash",
           "summary.json": "srmsim_version", "optimise.json": "hash"}.get(marker, "format")
    (other / marker).write_text(f'{{"{key}": "srmsim-dataset"}}')
    before = sorted(tmp_path.rglob("*")), folder_bytes(tmp_path)
    out = other / where
    err = cli_refuses(capsys, [*_WRITERS[command], "--out", str(out), "--quiet"],
                      f"--out {out}: inside the {noun} folder {other}")
    assert "give a folder outside any result folder (nothing was written)" in err
    assert (sorted(tmp_path.rglob("*")), folder_bytes(tmp_path)) == before


def test_a_folder_with_a_marker_of_someone_elses_is_no_result(tmp_path):
    """A project folder of the user's holding its own manifest.json or summary.json (a web
    extension's, a package's) is not an srmsim result: an --out below it is allowed; the
    same name holding srmsim's own key is refused."""
    from srmsim.outputs import check_out_of_results

    for marker, theirs, ours in (("manifest.json", '{"name": "ext", "version": "1.0"}',
                                  '{"experiment_hash": "ab12"}'),
                                 ("summary.json", '{"total": 3}', '{"srmsim_version": "1"}'),
                                 ("trial.json", "not json", '{"trial_hash": "x"}')):
        folder = tmp_path / marker.split(".")[0]
        folder.mkdir()
        (folder / marker).write_text(theirs)
        check_out_of_results(folder / "results" / "run1")  # not refused
        (folder / marker).write_text(ours)
        with pytest.raises(SrmsimError, match="inside the"):
            check_out_of_results(folder / "results" / "run1")


def test_thresholds_write_into_no_other_result_folder(tmp_path, capsys):
    from test_risk_cli import simulated_folder

    run = simulated_folder(tmp_path)
    other = tmp_path / "other"
    shutil.copytree(run, other)
    (other / "thresholds").mkdir()
    (other / "thresholds" / "thresholds.csv").write_text("threshold\n0.9\n")  # other's own
    before = folder_bytes(tmp_path)
    out = other / "thresholds"
    err = cli_refuses(capsys, ["thresholds", str(run), "--score", "attendance_rate", "--outcome",
                               "withdrawn", "--out", str(out)],
                      f"--out {out}: inside the run folder {other}, another result than {run}")
    assert "give no --out (the report goes in" in err
    assert folder_bytes(tmp_path) == before


def test_a_study_resumes_into_its_own_folder(finished, study, capsys):
    # its own folder is a result folder: the check looks only above it
    assert main(_resume(finished, study)) == 0, capsys.readouterr().err
    assert "0 runs" in capsys.readouterr().out
