"""Hostile command lines and files, found by sweep 211 (2026-12-07): what earlier sweeps missed.

- A rule that divides by a constant 0 (``reading_gap < 1/0``, ``reading_gap / 0 > 0``) was
  valid: the constant folded to infinity or NaN (``1e400`` itself is refused), so the rule was
  true or false for every student whatever the data.
- ``srmsim report DIR --out LINK`` and ``srmsim data summary DIR --out LINK`` replaced a symbolic
  link itself with the new file (silently when it pointed nowhere), never the file it pointed to.
- ``srmsim compare/sensitivity/discover DATASET`` called an imported dataset a run (and sent the
  user to ``srmsim report``, which refuses it); sensitivity and discover gave no hint at all.
- A study file given to ``srmsim dashboard`` or ``calibrate --scenario``, a column mapping given
  where a scenario or experiment goes (``srmsim run/validate mapping.yaml``), and a scenario or
  experiment given as ``--mapping`` listed every one of their keys as unknown; ``run`` and the
  study commands named the file's kind and the command that takes it. An experiment's
  ``scenario:`` naming a study or mapping file listed its keys as unknown too.
- ``srmsim data validate/import --show -1`` was taken as 0, after the whole export was read; one
  reject was "1 violations".
- ``srmsim rules --actions`` printed the catalogue's costs and effects without units.
- A refused ``--out`` folder "holds files srmsim did not write there": untrue of the thresholds
  srmsim writes into a run's folder, and silent on which files; it now names them.
- A change to the policy of a scenario that has none (``--set policy.workflows.x.enabled=false``)
  was "Field required" for each field of a workflow nobody meant to add.
- ``srmsim validate`` of a policy with rules and no enabled workflow said only "policy: yes".
- ``srmsim experiment/trial FILE --set replications=2`` said "unknown key (check the spelling)".
- ``--out notes.txt/r.html`` said "notes.txt: File exists"; an unwritable ``--out FILE`` named the
  hidden temporary written first.
- ``srmsim thresholds`` of a Parquet file named .csv, or a Latin-1 CSV, was a UnicodeDecodeError.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import names_one_problem

import srmsim.policy.rules as rules_module
from srmsim.cli import main
from srmsim.errors import RuleError
from srmsim.policy.rules import ArrayContext, FieldSpec, Vocabulary, parse_rule

VOCAB = Vocabulary(fields={"x": FieldSpec("number", "a number"), "y": FieldSpec("number", "")},
                   windows={}, parameters={"t": 0.5}, max_window=13)


# ------------------------------------------------------------ division by a constant zero
@pytest.mark.parametrize("text", ["x < 1/0", "x < 0 / 0", "x / 0 > 1", "x / (2 - 2) > 1",
                                  "x / -0.0 < 1", "min(x, 1 / 0) < 1"])
def test_a_rule_dividing_by_a_constant_zero_is_refused(text):
    with pytest.raises(RuleError, match=r"divides by zero: it is infinite or not a number "
                                        r"whatever the data"):
        parse_rule("r", text, VOCAB)


def test_a_priority_dividing_by_a_constant_zero_is_refused():
    with pytest.raises(RuleError, match=r"score 's': '0 / 0' \(column 1\) divides by zero"):
        rules_module.parse_score("s", "0 / 0", VOCAB)


def test_a_division_by_data_is_still_allowed_and_judged_per_student():
    """Only a divisor 0 whatever the data is refused (a constant 0, or parameters that are 0
    with the scenario's values: helper 238): a divisor that is 0 for some students is data,
    and a parameter's divisor that is not 0 here is allowed (a variant may change it)."""
    assert VOCAB.parameters["t"] == 0.5
    parse_rule("p", "x / (t - 0.25) > 1", VOCAB)
    with pytest.raises(RuleError, match=r"divides by zero with this scenario's parameters"):
        parse_rule("p", "x / (t - 0.5) > 1", VOCAB)
    rule = parse_rule("r", "x / y > 1", VOCAB)
    ctx = ArrayContext({"x": np.array([3.0, 1.0, 1.0]), "y": np.array([2.0, 2.0, 0.0])},
                       parameters=dict(VOCAB.parameters))
    with np.errstate(all="ignore"):
        assert rule.evaluate(ctx).tolist() == [True, False, True]


def test_validate_names_the_file_and_rule_that_divides_by_zero(tmp_path: Path, capsys):
    text = Path("scenarios/reading_age.yaml").read_text()
    bad = text.replace('"reading_gap < reading_threshold"', '"reading_gap < reading_threshold / 0"')
    assert bad != text
    path = tmp_path / "s.yaml"
    path.write_text(bad)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert (f"{path}: policy.rules.low_reading: rule 'low_reading': 'reading_threshold / 0' "
            "(column 15) divides by zero") in err


# ------------------------------------------------------------ --out FILE as a symbolic link
@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "r"
    assert main(["run", "--quiet", "--set", "trust.n_schools=1", "--set",
                 "trust.students_per_year_group=10", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "ds"
    assert main(["data", "import", "data/sample/students.csv", "data/sample/observations.csv",
                 "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("command", ["report", "data summary"])
@pytest.mark.parametrize("dangling", [True, False])
def test_an_out_file_that_is_a_symbolic_link_is_refused_and_kept(
        command, dangling, run_folder, dataset, tmp_path, capsys):
    """`srmsim report DIR --out LINK` and `srmsim data summary DIR --out LINK` replaced the link
    itself with a new file (dangling: silently, exit 0), never the file it pointed to."""
    args = ["report", str(run_folder)] if command == "report" else ["data", "summary", str(dataset)]
    target = tmp_path / "shared.out"
    if not dangling:  # an earlier output of the same command, which it would replace
        assert main([*args, "--out", str(target)]) == 0
    before = target.read_bytes() if not dangling else None
    link = tmp_path / "link.out"
    link.symlink_to(target)
    capsys.readouterr()
    assert main([*args, "--out", str(link)]) == 2
    err = capsys.readouterr().err
    assert f"--out {link}: is a symbolic link (to {target}); name the file it points to" in err
    assert "Traceback" not in err
    assert link.is_symlink() and Path(link.readlink()) == target
    assert (target.read_bytes() if not dangling else target.exists()) == (before or False)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["link.out"] + ([] if dangling else ["shared.out"]))


# ------------------------------------------------------------ a file given to the wrong command
ROOT = Path(__file__).resolve().parents[1]
MAPPING = "pass it to `srmsim data validate` or `srmsim data import` as --mapping"


@pytest.mark.parametrize("argv, file, said", [
    (["dashboard", "{file}"], "experiments/quickstart.yaml",
     "an experiment file (it has 'variants:'), not a scenario: run it with `srmsim experiment"),
    (["dashboard", "{file}"], "data/mapping_example.yaml",
     f"a data mapping file (it has 'students:'), not a scenario: {MAPPING}"),
    (["calibrate", "{data}", "--out", "{out}", "--scenario", "{file}"],
     "experiments/trial_reading.yaml",
     "a trial file (it has 'randomise:'), not a scenario: run it with `srmsim trial"),
    (["run", "{file}", "--out", "{out}"], "data/mapping_example.yaml",
     f"a data mapping file (it has 'students:'), not a scenario: {MAPPING}"),
    (["validate", "{file}"], "data/mapping_example.yaml",
     f"a data mapping file (it has 'students:'), not a scenario: {MAPPING}"),
    (["experiment", "{file}", "--out", "{out}"], "data/mapping_example.yaml",
     f"a data mapping file (it has 'students:'), not an experiment: {MAPPING}"),
    (["data", "validate", "{students}", "--mapping", "{file}"], "scenarios/default.yaml",
     "a scenario file (it has 'years:'), not a data mapping: run it with `srmsim run"),
    (["data", "import", "{students}", "--out", "{out}", "--mapping", "{file}"],
     "experiments/quickstart.yaml",
     "an experiment file (it has 'variants:'), not a data mapping: run it with `srmsim "
     "experiment"),
])
def test_a_file_given_to_the_wrong_command_names_its_kind(
        argv, file, said, dataset, tmp_path, capsys):
    path = ROOT / file
    out = tmp_path / "out"
    args = [a.format(file=path, data=dataset, out=out, students=ROOT / "data/sample/students.csv")
            for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"srmsim: error: {path}: {said} {path}`" or err == (
        f"srmsim: error: {path}: {said} {path}"), err
    assert not out.exists()


# ------------------------------------------------------------ an experiment's commands on a dataset
@pytest.mark.parametrize("argv", [["compare"], ["sensitivity"],
                                  ["discover", "--condition", "attendance < 0.9"]])
def test_a_dataset_folder_given_for_an_experiment_is_named_as_such(argv, dataset, capsys):
    """`srmsim compare DATASET` said "it holds a run ... (`srmsim report DATASET` describes it)",
    which report then refused; sensitivity and discover said only "no manifest.json"."""
    before = sorted(p.name for p in dataset.iterdir())
    assert main([argv[0], str(dataset), *argv[1:]]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"srmsim: error: {dataset}: not an experiment results directory (no "
                   f"manifest.json): it holds an imported dataset (`srmsim data summary "
                   f"{dataset}` describes it)"), err
    assert sorted(p.name for p in dataset.iterdir()) == before


def test_sensitivity_of_a_run_folder_says_what_it_holds(run_folder, capsys):
    assert main(["sensitivity", str(run_folder)]) == 2
    err = capsys.readouterr().err
    assert f"it holds a run, which has no variants to compare (`srmsim report {run_folder}`" in err


# ------------------------------------------------------------ data validate/import --show
@pytest.mark.parametrize("command", ["validate", "import"])
def test_a_negative_show_is_refused_before_anything_is_read(command, tmp_path, capsys):
    """`--show -1` was taken as 0 (no reject printed) after the whole file was read."""
    out = tmp_path / "out"
    argv = ["data", command, str(ROOT / "data/sample/students.csv"), "--show", "-1"]
    assert main(argv + (["--out", str(out)] if command == "import" else [])) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == ("srmsim: error: --show=-1 is out of range: it must be from 0 "
                                    "to 9,007,199,254,740,992"), captured.err
    assert captured.out == "" and not out.exists()


def test_one_violation_is_one(tmp_path, capsys):
    text = (ROOT / "data/sample/students.csv").read_text().splitlines()
    text[2] = text[2].replace(",7,", ",seven,", 1)
    (tmp_path / "students.csv").write_text("\n".join(text) + "\n")
    assert main(["data", "validate", str(tmp_path / "students.csv"), "--show", "0"]) == 2
    out = capsys.readouterr().out
    # one violation is a count under 10 (of a pupil's row): not printed since 224, nor the
    # plural "1 violations"
    assert "\nviolations (data validate --out DIR writes them all" in out, out
    assert "1 violation" not in out


@pytest.mark.parametrize("study, names, said", [
    ("experiments/quickstart.yaml", "experiments/trial_reading.yaml",
     "a trial file (it has 'randomise:'), not a scenario: run it with `srmsim trial"),
    ("experiments/trial_reading.yaml", "experiments/quickstart.yaml",
     "an experiment file (it has 'variants:'), not a scenario: run it with `srmsim experiment"),
    ("experiments/quickstart.yaml", "data/mapping_example.yaml",
     f"a data mapping file (it has 'students:'), not a scenario: {MAPPING}"),
])
def test_a_study_whose_scenario_names_another_kind_of_file_says_so(
        study, names, said, tmp_path, capsys):
    """An experiment's (trial's) `scenario:` naming a study or mapping file listed every key of
    that file as unknown."""
    text = (ROOT / study).read_text()
    target = ROOT / names
    edited = re.sub(r"^scenario: .*$", f"scenario: {target}", text, count=1, flags=re.M)
    assert edited != text
    path = tmp_path / "study.yaml"
    path.write_text(edited)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert names_one_problem(err, path, f"scenario: {target}: {said}"), err


# ------------------------------------------------------------ srmsim rules --actions
def test_the_action_catalogue_says_its_units(capsys):
    """`srmsim rules --actions` printed bare numbers: cost 8.0 (of what?), effects 'absence
    -0.15, attainment +0.14, reading +6' with no unit."""
    assert main(["rules", "--actions"]) == 0
    out = capsys.readouterr().out
    legend = out.split("\n\n", 1)[1]
    for said in ("Cost: £ a student a week", "attainment in SD",
                 "reading in months of reading age", "weekly absence logit",
                 "Staff minutes a week: a student's staff minutes a week, by role"):
        assert said in legend.replace("\n", " ").replace("  ", " "), said


# ------------------------------------------------------------ an --out folder refused: what is in the way
def test_a_refused_out_folder_names_what_is_in_the_way(tmp_path, capsys):
    """`srmsim thresholds RUN` writes RUN/thresholds by default; `srmsim run --out RUN` then said
    the folder "holds files srmsim did not write there", untrue, and not which."""
    run = tmp_path / "r"
    tiny = ["--quiet", "--set", "trust.n_schools=1", "--set", "trust.students_per_year_group=10"]
    assert main(["run", *tiny, "--out", str(run)]) == 0
    assert main(["thresholds", str(run), "--score", "attendance_rate", "--outcome",
                 "persistent_absent"]) == 0
    (run / "notes.txt").write_text("mine")
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    capsys.readouterr()
    assert main(["run", *tiny, "--out", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"srmsim: error: --out {run}: exists and holds files this command did not "
                   "write there (notes.txt, thresholds); choose an empty or new folder"), err
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == before
    other = tmp_path / "other"
    other.mkdir()
    for name in "abcde":
        (other / name).write_text(name)
    assert main(["run", *tiny, "--out", str(other)]) == 2
    assert "did not write there (a, b, c and 2 more); choose" in capsys.readouterr().err


# ------------------------------------------------------------ a change to a policy the scenario lacks
@pytest.mark.parametrize("setting, needs", [
    ("policy.workflows.attendance.enabled=false",
     "workflows.attendance.trigger and workflows.attendance.steps"),
    ("policy.pool_model.features=[fsm]", "pool_model.outcome"),
])
def test_a_change_to_the_policy_of_a_scenario_without_one_says_so(setting, needs, tmp_path,
                                                                   capsys):
    """`srmsim run --set policy.workflows.attendance.enabled=false` on the default scenario (no
    policy; the quickstart's variants on a policy-less scenario) was "invalid" and one "Field
    required" line per field of a workflow nobody meant to add."""
    out = tmp_path / "out"
    assert main(["run", "--set", setting, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("srmsim: error: default scenario (--set): policy: the scenario has no policy "
                   "(policy: null or not given), so this would make one with only what it sets: "
                   f"a new one needs {needs} as well"), err
    assert not out.exists()


# ------------------------------------------------------------ a policy that acts on no one
@pytest.mark.parametrize("policy, note", [
    ("policy:\n  rules:\n    r: fsm\n", True),
    ("policy:\n  rules:\n    r: fsm\n  workflows:\n    w:\n      trigger: r\n      enabled: false\n"
     "      steps: [{action: mentoring}]\n", True),
    ("policy:\n  rules:\n    r: fsm\n  workflows:\n    w:\n      trigger: r\n"
     "      steps: [{action: parent_text}]\n", False),
])
def test_validate_notes_a_policy_with_no_enabled_workflow(policy, note, tmp_path, capsys):
    """Rules without a workflow were "valid scenario ... policy: yes", and every run of it
    acted on no student without a word."""
    path = tmp_path / "s.yaml"
    path.write_text("name: s\n" + policy)
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.endswith(f"{path}: valid scenario 's' (10 schools, 1 year, policy: yes)\n"), out
    assert ("note: policy: no workflow is enabled, so the policy acts on no student (a rule alone "
            "flags no one; an experiment's variant may enable one)\n" in out) == note


# ------------------------------------------------------------ --set of a study file's own key
@pytest.mark.parametrize("argv, key, how", [
    (["experiment", "experiments/quickstart.yaml"], "replications=2",
     "'replications' is a key of the experiment file, not of its scenario, which --set changes; "
     "change it in the experiment file"),
    (["experiment", "experiments/quickstart.yaml"], "variants.both.policy=null",
     "'variants' is a key of the experiment file, not of its scenario, which --set changes; "
     "change it in the experiment file"),
    (["trial", "experiments/trial_reading.yaml"], "replications=2",
     "'replications' is a key of the trial file, not of its scenario, which --set changes; "
     "use --replications N"),
])
def test_set_of_a_study_file_key_says_it_is_the_study_s(argv, key, how, tmp_path, capsys):
    """`srmsim experiment FILE --set replications=2` said "replications: unknown key (check the
    spelling; ...)", of a key spelt right; a trial's "overrides.replications: unknown key"."""
    out = tmp_path / "out"
    assert main([argv[0], str(ROOT / argv[1]), "--set", key, "--out", str(out), "--workers",
                 "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"srmsim: error: --set {key.partition('=')[0]}: {how}", err
    assert not out.exists()


# ------------------------------------------------------------ an --out FILE that cannot be written
def test_an_unwritable_out_file_is_named_as_given(run_folder, dataset, tmp_path, capsys):
    """`--out notes.txt/r.html` said "notes.txt: File exists"; `--out /proc/x.csv` named the
    hidden temporary (/proc/.x.csv.srmsim-tmp-anku8r7b), not the file asked for."""
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    for argv, where in ((["report", str(run_folder), "--out", str(notes / "r.html")], notes),
                        (["data", "summary", str(dataset), "--out", str(notes / "a" / "s.csv")],
                         notes / "a")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        shown = "" if where == notes else f"{notes} "
        assert err == (f"srmsim: error: {where}: {shown}is a file, not a folder (nothing "
                       "half-written is left)"), err
    assert notes.read_text() == "mine"
    if not Path("/proc/self").is_dir():  # (Linux: /proc takes no new file)
        return
    assert main(["data", "summary", str(dataset), "--out", "/proc/x.csv"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("srmsim: error: /proc/x.csv: "), err
    assert "srmsim-tmp" not in err


# ------------------------------------------------------------ thresholds: a file of the other format
def test_thresholds_names_a_misnamed_or_non_utf8_file(dataset, tmp_path, capsys):
    """A Parquet file named .csv, or a CSV in Latin-1, was "cannot read (UnicodeDecodeError:
    'utf-8' codec can't decode byte 0xc4 in position 7: ...)"."""
    misnamed = tmp_path / "pupils.csv"
    misnamed.write_bytes((dataset / "students.parquet").read_bytes())
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"score,outcome\n0.5,1\n\xff,0\n")
    for path, said in ((misnamed, "a Parquet file named .csv; name it .parquet"),
                       (latin, "row 3, column 'score': byte 0xff at byte offset 20 (line 3) is "
                               "not valid utf-8: the file is Windows-1252 (cp1252) text, not "
                               "UTF-8, as Excel's 'CSV (Comma delimited)' saves one: save it as "
                               "'CSV UTF-8 (Comma delimited)'")):
        assert main(["thresholds", str(path), "--score", "score", "--outcome", "outcome",
                     "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err  # (a long line is wrapped at its spaces)
        assert " ".join(err.split()) == f"srmsim: error: {path}: {said}", err
    assert not (tmp_path / "out").exists()
