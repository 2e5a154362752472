"""What newcomers read, attacked: result folders edited with JSON's NaN, Infinity and huge
numbers, control characters in labels that reach a terminal, per-unit figures rounded to nothing,
and text typed into the dashboard's seed box."""
# ruff: noqa: F811 - the result folders are test_report's module-scoped fixtures, imported

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from browser import browser, requires_browser
from test_report import (  # noqa: F401 - fixtures: each folder is built once for this module
    cli,
    experiment_dir,
    optimise_dir,
    requests_run_dir,
    run_dir,
    trial_dir,
)

pytestmark = pytest.mark.xdist_group("report_folders")


def _copy(folder: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(folder, out)
    (out / "report.html").unlink(missing_ok=True)
    return out


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def _refused(out: Path, *needles: str) -> None:
    """`srmsim report` exits 2 with a short message holding ``needles``; no page is written."""
    proc = cli("report", str(out))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr
    assert not (out / "report.html").exists()


# ----------------------------------------------------- NaN and Infinity in a folder's JSON files
def _root_seed(out: Path, name: str, value: str) -> None:
    data = json.loads((out / name).read_text())
    data["root_seed"] = 0
    (out / name).write_text(json.dumps(data).replace('"root_seed": 0', f'"root_seed": {value}'))


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400"])
@pytest.mark.once
def test_json_nan_or_infinity_shown_as_text_is_refused(run_dir, experiment_dir, trial_dir,
                                                       tmp_path, value):
    """Python's JSON reader takes NaN, Infinity and 1e400 (inf) as numbers: the report showed
    "nan" as the experiment's root seed and "inf" as the run's srmsim version."""
    out = _copy(experiment_dir[0], tmp_path / "exp")
    _root_seed(out, "manifest.json", value)
    _refused(out, "manifest.json: root_seed is", "not a text or a finite number")
    proc = cli("compare", str(out))  # it printed "root seed nan" (a helper's probe)
    assert proc.returncode == 2 and "manifest.json: root_seed is" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    out = _copy(trial_dir, tmp_path / "trial")
    _root_seed(out, "trial.json", value)
    _refused(out, "trial.json: root_seed is", "not a text or a finite number")
    out = _copy(run_dir, tmp_path / "run")
    _replace(out / "summary.json", '"srmsim_version": "', f'"srmsim_version": {value}, "x": "')
    _refused(out, "summary.json: srmsim_version is", "not a text or a finite number")


@pytest.mark.parametrize("key, value", [
    ("median_days", "Infinity"), ("p90_days", "NaN"), ("deadline_days", "1e400"),
    ("within_deadline", "-Infinity"),
    # a whole number too large for a float: formatting it raised OverflowError (a traceback)
    ("median_days", "1" + "0" * 400), ("deadline_days", "1" + "0" * 400),
    ("staff_hours", "1" + "0" * 400), ("utilisation_clerk", "1" + "0" * 400)])
@pytest.mark.once
def test_request_stream_measures_must_be_finite(requests_run_dir, tmp_path, key, value):
    """A stream's measures in summary.json printed as "inf days" and "(nan days)", or raised
    OverflowError; now each is an error naming the field."""
    out = _copy(requests_run_dir, tmp_path)
    data = json.loads((out / "summary.json").read_text())
    data["requests"]["certification"][key] = 0
    (out / "summary.json").write_text(
        json.dumps(data).replace(f'"{key}": 0', f'"{key}": {value}'))
    _refused(out, f"summary.json: requests.certification.{key} is", "not a number")


def test_request_stream_report_still_reads_its_own_numbers(requests_run_dir, tmp_path):
    out = _copy(requests_run_dir, tmp_path)
    proc = cli("report", str(out))
    assert proc.returncode == 0, proc.stderr
    page = (out / "report.html").read_text()
    assert "median wait" in page and " days<" in page and "nan" not in page.lower().split(
        "<style>")[0]


# ------------------------------------------------------ control characters in printed tables
def test_printed_tables_show_control_characters_as_escapes():
    """A cell or heading holding ``\\x1b[2J`` cleared the terminal the table was printed to
    (a variant or outcome name edited into a results folder); a newline broke the table."""
    from srmsim.experiment.compare import text_table

    table = pd.DataFrame({"variant\x1b]0;title\x07": ["a\x1b[2Jb", "two\nlines\u202e"],
                          "value": ["1", "22"]})
    text = text_table(table, right={"value"})
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "a\\x1b[2Jb" in text and "two\\nlines\\u202e" in text
    assert len(text.splitlines()) == 3
    lines = text.splitlines()
    # columns still line up: the escapes count as the characters printed
    assert len(lines[1]) == len(lines[2])


def test_a_custom_outcome_label_with_a_control_character_is_refused(tmp_path):
    """The label of an experiment's own outcome was printed raw by `srmsim experiment` (and
    by matplotlib's warnings about its glyphs): ``\\e[2J`` cleared the screen."""
    import yaml
    from test_report import SCENARIO

    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(SCENARIO))
    (tmp_path / "exp.yaml").write_text(
        'name: lab\nscenario: tiny.yaml\nbaseline: none\nreplications: 2\n'
        'outcomes:\n  - {name: att2, label: "Att \\e[2J", statistic: mean, '
        'of: attendance_rate, scale: share}\nvariants: {texts: {}, none: {policy: null}}\n')
    proc = cli("experiment", str(tmp_path / "exp.yaml"), "--workers", "1", "--quiet", "--out",
               str(tmp_path / "out"))
    assert proc.returncode == 2
    assert "outcomes[0].label: the label holds the control character U+001B" in proc.stderr
    assert "\x1b" not in proc.stderr + proc.stdout and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------ per-unit figures near zero
def test_cost_per_unit_is_not_rounded_to_nothing():
    """0.3 students lifted out of persistent absence printed as 0 units gained (beside a cost
    per unit of £400), and £0.40 or 0.26 h per month of reading age as £0 and 0 h."""
    from srmsim.experiment.outcomes import OUTCOMES
    from srmsim.report.experiment import cost_per_unit

    effects = pd.DataFrame([
        {"variant": "v", "outcome": "reading_gap_end", "difference": 1.0, "verdict": "better"},
        {"variant": "v", "outcome": "persistent_absence", "difference": -0.001,
         "verdict": "better"},
        {"variant": "v", "outcome": "cost", "difference": 120.0, "verdict": "higher"},
        {"variant": "v", "outcome": "staff_hours", "difference": 78.0, "verdict": "higher"}])
    table = cost_per_unit(effects, [OUTCOMES[o] for o in effects["outcome"]], {"v": 300.0})
    reading, absence = table.to_dict("records")
    assert reading["units gained over the run"] == "300"
    assert reading["cost per unit"] == "£0.40"
    assert reading["staff hours per unit"] == "0.26 h"
    assert absence["units gained over the run"] == "0.30"
    assert absence["cost per unit"] == "£400"
    assert absence["staff hours per unit"] == "260 h"


# ------------------------------------------------------------------------- the dashboard
@pytest.mark.parametrize("text", ["²", "¹²", "١٢٣", "٣"])
def test_seed_box_takes_only_ascii_digits(text):
    """``"²".isdigit()`` is true but int("²") raises: typing it in the seed box made building
    the model raise ValueError (a traceback in place of the page)."""
    from srmsim.dashboard.settings import parse_seed

    seed, note = parse_seed(text, 5)
    assert seed == 5 and "not a whole number" in note


# ------------------------------------------------------------------ blanks in a trial's CSV
@pytest.mark.parametrize("column", ["trial", "students"])
def test_a_blank_count_in_trial_groups_is_not_measured_not_nan(trial_dir, tmp_path, column):
    """Blank values of students_served (or blank student counts) in trial_groups.csv made the
    cost table show "nan" students."""
    import numpy as np

    out = _copy(trial_dir, tmp_path)
    shutil.rmtree(out / "store")  # (its checked detail would refuse the edited file)
    table = pd.read_csv(out / "trial_groups.csv")
    rows = table["outcome"] == "students_served" if column == "trial" else slice(None)
    table[column] = table[column].astype(float)
    table.loc[rows, column] = np.nan
    table.to_csv(out / "trial_groups.csv", index=False)
    proc = cli("report", str(out))
    assert proc.returncode == 0, proc.stderr
    page = (out / "report.html").read_text()
    cost = page[page.index("id='trial_cost'"):]
    cost = cost[:cost.index("</table>")]
    assert ">nan<" not in cost
    assert "data-col='value' data-value='nan'>not measured</td>" in cost


# ------------------------------------------------------------- the scenario in plain words
def test_small_rates_and_minutes_are_not_described_as_none(tmp_path):
    """At 0 decimals a trust with 0.4% FSM students read "0% eligible for free school meals",
    one with 99.9% SEN "100%", 0.4 staff minutes "0 min" and 0.3 requests a week "0 requests a
    week"."""
    import yaml
    from test_report import REPO, SCENARIO

    from srmsim.report.words import describe_policy, describe_requests, describe_trust
    from srmsim.scenario import load_scenario

    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(SCENARIO))
    sc = load_scenario(tmp_path / "tiny.yaml").with_overrides(
        {"population.fsm_rate": 0.004, "population.sen_rate": 0.999, "population.eal_rate": 0.2,
         "policy.staff.school.pastoral": 0.4}, "test")
    trust = describe_trust(sc)
    assert "0.4% eligible for free school meals" in trust
    assert "99.9% with special educational needs" in trust and "20% with English" in trust
    assert "pastoral 0.4 min" in describe_policy(sc)
    office = load_scenario(REPO / "scenarios" / "certification_backlog.yaml")
    assert "400 requests a week" in describe_requests(office)[0]
    slow = office.with_overrides({"requests.certification.arrivals.per_week": 0.3}, "test")
    assert "0.3 requests a week" in describe_requests(slow)[0]


# -------------------------------------------------------------------- an optimise folder
@pytest.mark.once
def test_a_huge_whole_lever_value_is_shown_not_a_traceback(optimise_dir, tmp_path):
    """A 400-digit whole number among optimise.json's best_overrides made the report raise
    OverflowError (lever_text converted it to a float)."""
    from srmsim.report.explore import lever_text

    out = _copy(optimise_dir, tmp_path)
    meta = json.loads((out / "optimise.json").read_text())
    key = next(iter(meta["best_overrides"]))
    meta["best_overrides"][key] = 10**400
    (out / "optimise.json").write_text(json.dumps(meta))
    proc = cli("report", str(out))
    # no traceback; and it is not the lever value front/ ran that policy with (an edit)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "best_overrides are not the levers" in proc.stderr
    assert lever_text(10**400) == f"{10**400:,}"
    assert lever_text(2**60) == "1,152,921,504,606,846,976"  # exactly, not 1.15292e+18
    assert lever_text(1035) == "1,035" and lever_text(0.915) == "0.915"


def test_a_count_too_large_for_a_float_is_refused(optimise_dir, tmp_path):
    """discovery.json's runs and cases and optimise.json's replications were any whole number:
    a 400-digit one made ``cases / runs`` raise OverflowError (a traceback)."""
    from srmsim.errors import SrmsimError
    from srmsim.report.files import json_count

    where = tmp_path / "discovery.json"
    assert json_count({"runs": 2**53}, "runs", where) == 2**53
    with pytest.raises(SrmsimError, match=r"discovery.json: runs is 1000000\S*\.\.\. .*not a "
                       r"whole number >= 0 and at most 9,007,199,254,740,992"):
        json_count({"runs": 10**400}, "runs", where)
    out = _copy(optimise_dir, tmp_path / "opt")
    _replace(out / "optimise.json", '"replications": ', f'"replications": {10**400}, "x": ')
    _refused(out, "optimise.json: replications is", "not a whole number >= 0 and at most")


# ------------------------------------------------------------------ the page in a browser
@requires_browser
@pytest.mark.once
def test_a_very_long_word_does_not_widen_the_page(experiment_dir, tmp_path):
    """A description of one 900-character word (cut to the page's text limit, not broken) made
    the whole page 14,000 pixels wide: every section scrolled sideways."""
    out = _copy(experiment_dir[0], tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["description"] = "W" * 900
    (out / "manifest.json").write_text(json.dumps(manifest))
    proc = cli("report", str(out))
    assert proc.returncode == 0, proc.stderr
    with browser(1000, 800) as driver:
        driver.get((out / "report.html").as_uri())
        wide, shown = driver.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert wide <= shown
        assert "W" * 900 in driver.find_element("css selector", "p.meta").text.replace("\n", "")


# ------------------------------------------------------------------ the shipped notebooks
def _notebook_code(name: str, marker: str) -> str:
    """The source of the notebook's code cell that holds ``marker``."""
    from test_report import REPO

    nb = json.loads((REPO / "notebooks" / name).read_text())
    found = [''.join(c["source"]) for c in nb["cells"]
             if c["cell_type"] == "code" and marker in ''.join(c["source"])]
    assert len(found) == 1, (name, marker)
    return found[0]


def _run_prints(source: str, names: dict, marker: str) -> str:
    """Run only the cell's top-level ``print(...)`` statements holding ``marker`` (the rest
    draws figures or needs a whole run) with ``names`` defined; what they print."""
    import ast
    import contextlib
    import io

    tree = ast.parse(source)
    prints = [s for s in tree.body if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)
              and getattr(s.value.func, "id", "") == "print"
              and marker in (ast.get_source_segment(source, s) or "")]
    assert prints
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(ast.Module(prints, []), "<cell>", "exec"), dict(names))  # noqa: S102
    return out.getvalue()


def test_notebooks_print_numbers_with_their_units():
    """Notebook 03 printed effects in raw units ("lowers persistent_absence by 0.01042 (95% CI
    -0.0167 to -0.0042)": a share, no unit), notebook 09 the gain in attendance as 0.0047
    (not pp), notebook 02 the cost of actions without £."""
    effects = pd.DataFrame([
        {"variant": "reading_support", "outcome": "persistent_absence", "difference": -0.01042,
         "ci_low": -0.0167, "ci_high": -0.0042},
        {"variant": "reading_support", "outcome": "reading_gap_end", "difference": 0.31,
         "ci_low": -0.2, "ci_high": 0.82},
        {"variant": "reading_support", "outcome": "staff_hours", "difference": 161.2,
         "ci_low": 52.0, "ci_high": 270.4}])
    source = _notebook_code("03_compare_policies.ipynb", "no clear effect on")
    printed = io_run(source, {"effects": effects})
    assert printed.splitlines() == [
        "reading_support lowers persistent absence by 1.04 pp (95% CI -1.67 pp to -0.42 pp)",
        "reading_support: no clear effect on reading gap (+0.31 months, 95% CI -0.20 months to "
        "+0.82 months)",
        "reading_support raises staff hours by 161 h (95% CI +52 h to +270 h)"]

    source = _notebook_code("09_find_a_better_policy.ipynb", "gain in attendance")
    table = pd.DataFrame({"attendance_diff": [0.0021, 0.0047, 0.0090]})
    printed = _run_prints(source, {"table": table, "cut": 0.0012}, "gain in attendance")
    assert printed.startswith("gain in attendance: median +0.47 pp, 30th percentile +0.12 pp")

    source = _notebook_code("02_design_a_workflow.ipynb", "cost of actions")
    weekly = pd.DataFrame({"staff_minutes_used": [600.0], "staff_minutes_available": [1200.0]})
    result = type("Result", (), {"summary": {"cost": 6363.6}})()
    printed = _run_prints(source, {"weekly": weekly, "result": result}, "cost of actions")
    assert printed.strip() == ("staff hours over the year: 10 of 20 available; cost of actions: "
                               "£6,364")


def io_run(source: str, names: dict) -> str:
    """Run a whole cell with ``names`` defined; what it prints."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "<cell>", "exec"), dict(names))  # noqa: S102
    return out.getvalue()


# ------------------------------------------------- a variant's scenario edited in the folder
def test_a_variant_scenario_edited_in_the_folder_is_refused(experiment_dir, tmp_path):
    """scenarios/<variant>.yaml was read without checking it against the digest manifest.json
    records: edited, the report described 12,345 staff minutes the runs never had."""
    out = _copy(experiment_dir[0], tmp_path)
    _replace(out / "scenarios" / "more_staff.yaml", "pastoral: 900", "pastoral: 12345")
    _refused(out, "more_staff.yaml: not the scenario variant 'more_staff' ran",
             "run the experiment into a new --out directory")


@pytest.mark.once
def test_a_trial_scenario_edited_in_the_folder_is_refused(trial_dir, tmp_path):
    """The trial report described scenario.yaml as the trial's trust and policy without checking
    it against trial.json's trial_hash: edited, it showed a trust of 7 schools for a trial of
    2."""
    out = _copy(trial_dir, tmp_path)
    _replace(out / "scenario.yaml", "n_schools: 2", "n_schools: 7")
    _refused(out, "scenario.yaml: with trial.json's settings, not what this trial ran")
    out = _copy(trial_dir, tmp_path / "untouched")  # the folder as the trial wrote it: a page
    assert cli("report", str(out)).returncode == 0


@pytest.mark.parametrize("value", [float("inf"), float("nan"), -5.0, 2.5])
@pytest.mark.once
def test_a_run_file_with_a_bad_students_count_is_refused(experiment_dir, tmp_path, value):
    """runs/<variant>/rep-*.parquet edited to count inf (or NaN) students: the report's cost
    table showed "inf" students, and "inf" units gained at £0 each."""
    out = _copy(experiment_dir[0], tmp_path)
    for path in sorted((out / "runs" / "texts").glob("rep-*.parquet")):
        run = pd.read_parquet(path)
        run["students"] = run["students"].astype(float)
        run.loc[:, "students"] = value
        run.to_parquet(path)
    _refused(out, "runs/texts: a run's students count is", "not a whole number >= 0")


@pytest.mark.once
def test_an_experiment_name_edited_into_the_manifest_is_cut_or_refused(experiment_dir, tmp_path):
    """manifest.json's name was cut in the page's title but shown whole (200,000 characters) in
    the "What was run" table, a mapping as its repr and NaN as "nan". A name other than the
    experiment's is refused now (review 215: its experiment_config gives the name), in a
    short message that does not quote it."""
    out = _copy(experiment_dir[0], tmp_path / "long")
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, "name": "N" * 200_000}))
    proc = cli("report", str(out))
    assert proc.returncode == 2 and "its name is not the experiment's" in proc.stderr
    assert "N" * 100 not in proc.stderr and len(proc.stderr) < 1000, proc.stderr
    assert not (out / "report.html").exists() or "N" * 1001 not in (
        out / "report.html").read_text()
    out = _copy(experiment_dir[0], tmp_path / "mapping")
    (out / "manifest.json").write_text(json.dumps({**manifest, "name": {"a": [1]}}))
    _refused(out, "manifest.json: name is {'a': [1]}, not a text")
