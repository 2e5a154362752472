"""Reports and readable results: `srmsim report` for a run, an experiment and a trial, opened in a
real (headless) browser; the outcome registry's units; user-defined outcomes; ``--set``."""

from __future__ import annotations

import contextlib
import html
import io
import json
import math
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from browser import broken_images, browser, console_errors, requires_browser, screenshot
from conftest import tiny_policy_scenario

from srmsim.cli import main
from srmsim.experiment.outcomes import OUTCOMES, SCALES, format_difference, format_value
from srmsim.results import file_sha256

#: one worker runs this module: its result folders (module-scoped fixtures) are built once
pytestmark = pytest.mark.xdist_group("report_folders")
REPO = Path(__file__).resolve().parents[1]
SCENARIO = tiny_policy_scenario(
    description="Two small schools <b>not bold</b> & a text workflow",
    trust={"n_schools": 3, "students_per_year_group": 30, "size_cv": 0.0})
CUSTOM = [
    {"name": "attendance_fsm", "label": "Attendance of FSM students", "statistic": "mean",
     "of": "attendance_rate", "where": "fsm", "scale": "share", "better": "higher"},
    {"name": "pa_fsm_gap", "label": "FSM gap in persistent absence", "statistic": "share",
     "of": "persistent_absent", "where": "fsm and sessions_possible > 0",
     "minus_where": "not fsm and sessions_possible > 0", "scale": "share", "better": "lower"},
    {"name": "low_attenders", "label": "Students under 85% attendance", "statistic": "count",
     "of": "attendance_rate < 0.85", "scale": "number", "better": "lower"},
    {"name": "attendance_p10", "statistic": "percentile", "q": 10, "of": "attendance_rate",
     "scale": "share", "better": "higher"},
]


#: the certification office of scenarios/certification_backlog.yaml at a tenth of its size
REQUESTS_SMALL = ("--set", "years=1", "--set", "requests.certification.arrivals.per_week=40",
                  "--set", "requests.certification.backlog=300")


def cli(*args: str) -> SimpleNamespace:
    """Run the srmsim command in this process (as `srmsim ARGS` would), capturing its output."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def write_experiment(tmp: Path, **extra) -> Path:
    (tmp / "tiny.yaml").write_text(yaml.safe_dump(SCENARIO))
    exp = {
        "name": "tiny_exp",
        "description": "Texts vs <script>alert(1)</script> more staff",
        "scenario": "tiny.yaml",
        "baseline": "none",
        "replications": 3,
        "seed": 11,
        "outcomes": ["attendance", "persistent_absence", "staff_hours", "cost", *CUSTOM],
        # listed with the baseline in the middle: tables and plots keep this order
        "variants": {"texts": {}, "none": {"policy": None},
                     "more_staff": {"policy.staff.school.pastoral": 900}},
        **extra,
    }
    path = tmp / "exp.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def experiment_dir(tmp_path_factory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("exp")
    path = write_experiment(tmp)
    proc = cli("experiment", str(path), "--workers", "1", "--quiet", "--out", str(tmp / "out"),
               "--set", "trust.students_per_year_group=25")
    assert proc.returncode == 0, proc.stderr
    return tmp / "out", proc.stdout


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("run")
    (tmp / "tiny.yaml").write_text(yaml.safe_dump(SCENARIO))
    proc = cli("run", str(tmp / "tiny.yaml"), "--quiet", "--out", str(tmp / "out"),
               "--set", "trust.n_schools=2", "--set", "population.fsm_rate=0.4", "--report")
    assert proc.returncode == 0, proc.stderr
    return tmp / "out"


@pytest.fixture(scope="module")
def requests_run_dir(tmp_path_factory) -> Path:
    """The certification office for one year, scaled down (no students: requests only)."""
    tmp = tmp_path_factory.mktemp("requests_run")
    proc = cli("run", str(REPO / "scenarios" / "certification_backlog.yaml"), "--quiet", "--out",
               str(tmp / "out"), *REQUESTS_SMALL, "--report")
    assert proc.returncode == 0, proc.stderr
    return tmp / "out"


def shipped_experiment(tmp: Path, name: str, scenario: str, *settings: str, **changes) -> Path:
    """Run experiments/<name>.yaml, made small by ``changes`` and ``--set`` ``settings``."""
    exp = yaml.safe_load((REPO / "experiments" / f"{name}.yaml").read_text())
    exp.update(scenario=str(REPO / "scenarios" / scenario), **changes)
    (tmp / "exp.yaml").write_text(yaml.safe_dump(exp, sort_keys=False))
    proc = cli("experiment", str(tmp / "exp.yaml"), "--workers", "1", "--quiet", "--out",
               str(tmp / "out"), *settings)
    assert proc.returncode == 0, proc.stderr
    return tmp / "out"


@pytest.fixture(scope="module")
def requests_experiment_dir(tmp_path_factory) -> Path:
    return shipped_experiment(tmp_path_factory.mktemp("requests_exp"), "automation",
                              "certification_backlog.yaml", *REQUESTS_SMALL, replications=2,
                              variants={"paper": {}, "fully_automated": {
                                  "requests.certification.automate": "all"}})


@pytest.fixture(scope="module")
def learning_dir(tmp_path_factory) -> Path:
    variants = yaml.safe_load((REPO / "experiments" / "learning.yaml").read_text())["variants"]
    return shipped_experiment(
        tmp_path_factory.mktemp("learning"), "learning", "learning.yaml", "--set", "years=1",
        "--set", "trust.n_schools=2", "--set", "trust.students_per_year_group=25",
        replications=2, outcomes=[f"{m}_t{k}" for m in ("regret", "oracle_match") for k in (1, 2, 3)],
        variants={k: variants[k] for k in ("fixed", "learned_pooled")})


@pytest.fixture(scope="module")
def explored_dir(tmp_path_factory) -> Path:
    """A Sobol design (n=4, two parameters: 16 states of the world), its sensitivity indices and
    a scenario discovery of the runs where the policy gains least."""
    from srmsim.explore.tables import Explored

    exp = yaml.safe_load((REPO / "experiments" / "uncertain_attendance.yaml").read_text())
    out = shipped_experiment(
        tmp_path_factory.mktemp("explored"), "uncertain_attendance",
        "attendance_escalation_small.yaml", "--set", "trust.n_schools=1",
        "--set", "trust.students_per_year_group=20", "--no-report",
        design={"method": "sobol", "n": 4}, outcomes=["attendance", "staff_hours"],
        uncertain=dict(list(exp["uncertain"].items())[:2]))
    proc = cli("sensitivity", str(out))
    assert proc.returncode == 0, proc.stderr
    diff = Explored(out).outcome_table("escalation")["attendance_diff"]
    proc = cli("discover", str(out), "--condition", f"attendance_diff < {diff.median():.10g}")
    assert proc.returncode == 0, proc.stderr
    assert "updated" not in proc.stdout  # no report.html yet: nothing to refresh
    proc = cli("report", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def optimise_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("optimise")
    opt = yaml.safe_load((REPO / "experiments" / "optimise_attendance.yaml").read_text())
    opt.update(scenario=str(REPO / "scenarios" / "attendance_escalation_small.yaml"),
               overrides={"trust.n_schools": 1, "trust.students_per_year_group": 20},
               replications=2, search={"sampler": "nsga2", "trials": 4, "batch": 2},
               reevaluate={"replications": 2, "front_max": 2})
    (tmp / "opt.yaml").write_text(yaml.safe_dump(opt, sort_keys=False))
    proc = cli("optimise", str(tmp / "opt.yaml"), "--workers", "1", "--quiet", "--out",
               str(tmp / "out"))
    assert proc.returncode == 0, proc.stderr
    (tmp / "printed.txt").write_text(proc.stdout)
    return tmp / "out"


@pytest.fixture(scope="module")
def trial_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("trial")
    proc = cli("trial", str(REPO / "experiments" / "trial_reading.yaml"), "--replications", "3",
               "--workers", "1", "--quiet", "--out", str(tmp / "out"),
               "--set", "trust.n_schools=2", "--set", "trust.students_per_year_group=50")
    assert proc.returncode == 0, proc.stderr
    return tmp / "out"


# ------------------------------------------------------------------------------ registry
def test_registry_prints_plain_numbers_with_units():
    assert format_value(167_500.4, "money") == "£167,500"
    assert format_value(4790.2, "hours") == "4,790 h"
    assert format_value(0.9312, "share") == "93.1%"
    assert format_difference(0.0052, "share") == "+0.52 pp"
    assert format_difference(-3.21, "months") == "-3.21 months"
    assert format_difference(-1200, "money") == "-£1,200"
    # under £10, pence: a difference of £0.40 read "+£0", as if there were none
    assert format_difference(0.4, "money") == "+£0.40"
    assert format_difference(-9.994, "money") == "-£9.99"
    assert format_difference(12.5, "money") == "+£12" and format_difference(0.0, "money") == "±£0"
    assert format_value(0.4, "money") == "£0.40" and format_value(0.0, "money") == "£0"
    assert format_value(float("nan"), "share") == "–"
    assert OUTCOMES["persistent_absence"].verdict(-0.02, -0.01) == "better"
    assert OUTCOMES["persistent_absence"].verdict(-0.02, 0.01) == "no clear change"
    assert OUTCOMES["attendance"].verdict(-0.02, -0.01) == "worse"
    assert OUTCOMES["cost"].verdict(10, 20) == "higher"
    # relative change only on ratio scales: not for a reading gap (months, can be negative)
    assert OUTCOMES["staff_hours"].ratio and not OUTCOMES["reading_gap_end"].ratio
    for o in OUTCOMES.values():  # every entry is complete
        assert o.label and o.description and o.scale in SCALES


@pytest.mark.once
def test_experiment_table_reads_in_units_and_file_order(experiment_dir):
    out, stdout = experiment_dir
    eff = pd.read_csv(out / "effects.csv")
    assert list(dict.fromkeys(eff["variant"])) == ["texts", "more_staff"]
    for col in ("variant", "outcome", "label", "unit", "mean_baseline", "mean_variant",
                "difference", "ci_low", "ci_high", "relative_change", "verdict",
                "variance_reduction"):
        assert col in eff.columns
    assert "e+" not in stdout and "e-0" not in stdout  # no scientific notation
    assert "crn_gain" not in stdout and "variance_reduction" not in stdout
    header = next(line for line in stdout.splitlines() if line.startswith("Variant"))
    assert [h.strip() for h in header.split("  ") if h.strip()] == [
        "Variant", "Outcome", "Baseline mean", "Variant mean", "Difference", "95% interval",
        "Relative change", "Verdict"]
    cost = eff[(eff["variant"] == "texts") & (eff["outcome"] == "cost")].iloc[0]
    assert math.isnan(cost["relative_change"])  # baseline cost is £0: no ratio
    assert f"+£{cost['difference']:,.0f}" in stdout
    att = eff[(eff["variant"] == "texts") & (eff["outcome"] == "attendance")].iloc[0]
    assert f"{100 * att['mean_baseline']:.1f}%" in stdout
    assert att["relative_change"] == pytest.approx(att["difference"] / att["mean_baseline"])
    # --set reached the resolved scenario of every variant
    sc = yaml.safe_load((out / "scenarios" / "texts.yaml").read_text())
    assert sc["trust"]["students_per_year_group"] == 25
    assert json.loads((out / "manifest.json").read_text())["settings"] == {
        "trust.students_per_year_group": 25}
    assert (out / "report.html").exists()


def test_user_defined_outcomes_recover_direct_computation(experiment_dir, tmp_path):
    """Each user-defined outcome equals the same statistic computed by hand on a run."""
    import srmsim
    from srmsim.experiment.spec import load_experiment

    out, _ = experiment_dir
    exp = load_experiment(write_experiment(tmp_path), {"trust.students_per_year_group": 25})
    runs = pd.read_parquet(out / "runs" / "texts" / "rep-00001.parquet").iloc[0]
    result = srmsim.run(exp.scenario_for("texts", 1), seed=int(runs["seed"]))
    s = result.students
    fsm = s[s["fsm"]]
    attending = s[s["sessions_possible"] > 0]
    assert runs["attendance_fsm"] == pytest.approx(np.nanmean(fsm["attendance_rate"]))
    gap = (attending[attending["fsm"]]["persistent_absent"].mean()
           - attending[~attending["fsm"]]["persistent_absent"].mean())
    assert runs["pa_fsm_gap"] == pytest.approx(gap)
    assert runs["low_attenders"] == (s["attendance_rate"] < 0.85).sum()
    assert runs["attendance_p10"] == pytest.approx(
        np.percentile(s["attendance_rate"].dropna(), 10))
    eff = pd.read_csv(out / "effects.csv").set_index(["variant", "outcome"])
    assert eff.loc[("texts", "pa_fsm_gap"), "label"] == "FSM gap in persistent absence"
    assert math.isnan(eff.loc[("texts", "pa_fsm_gap"), "relative_change"])  # a gap: no ratio


@pytest.mark.once
def test_declared_columns_give_the_same_group_values(tmp_path):
    """Each registry entry names the columns it reads; measuring groups on only those columns
    gives exactly what the full students table gives (a missing name would raise or differ)."""
    import srmsim
    from srmsim.experiment.custom import build_outcomes
    from srmsim.experiment.outcomes import group_cohorts, measure

    sc = srmsim.load_scenario(REPO / "scenarios" / "reading_and_attendance.yaml",
                              {"trust.n_schools": 2, "trust.students_per_year_group": 25})
    result = srmsim.run(sc, seed=3)
    entries = list(OUTCOMES.values()) + list(build_outcomes(CUSTOM + [
        {"name": "served_male", "statistic": "share", "of": "served", "where": "male"},
        {"name": "early", "statistic": "mean", "of": "first_flag_week", "where": "flagged"},
    ]).values())
    full = group_cohorts(result)
    for entry in entries:
        assert entry.columns is not None, entry.name
        slim = group_cohorts(result, set(entry.columns))
        for group, cohort in full.items():
            a = measure(result, [entry], cohort)[entry.name]
            b = measure(result, [entry], slim[group])[entry.name]
            assert a == pytest.approx(b, nan_ok=True), (entry.name, group)
    # and the groups are the right students: FSM attendance by hand
    fsm = result.students[result.students["fsm"]]
    assert measure(result, ["attendance"], full["FSM"])["attendance"] == pytest.approx(
        fsm["sessions_attended"].sum() / fsm["sessions_possible"].sum())


def test_custom_outcomes_agree_with_the_table_by_hand():
    """A custom outcome's value is the pandas computation over students.parquet (derived
    fields included), whether a cohort is measured once or after other outcomes filled its
    column cache, and a subgroup's cached columns are its own students'."""
    import srmsim
    from srmsim.experiment.custom import build_outcomes
    from srmsim.experiment.outcomes import Cohort, group_cohorts, measure

    sc = srmsim.load_scenario(REPO / "scenarios" / "reading_and_attendance.yaml",
                              {"trust.n_schools": 2, "trust.students_per_year_group": 25})
    result = srmsim.run(sc, seed=4)
    s, ev = result.students, result.events
    entries = build_outcomes([
        {"name": "served_male", "statistic": "share", "of": "served", "where": "male"},
        {"name": "early", "statistic": "mean", "of": "first_flag_week", "where": "flagged"},
        {"name": "low_fsm", "statistic": "count", "of": "attendance_rate < 0.9",
         "where": "fsm", "minus_where": "not fsm"},
        {"name": "p10", "statistic": "percentile", "q": 10, "of": "attendance_rate"}])
    first = s["student"].map(ev[ev["event"] == "flagged"].groupby("student")["run_week"].min())
    male = s["sex"] == "M"
    rate = s["attendance_rate"]
    expected = {
        "served_male": (s.loc[male, "interventions"] > 0).mean(),
        "early": first.dropna().mean(),
        "low_fsm": ((rate < 0.9) & s["fsm"]).sum() - ((rate < 0.9) & ~s["fsm"]).sum(),
        "p10": np.percentile(rate.dropna(), 10)}
    assert first.notna().sum() > 10 and male.sum() > 10
    together = measure(result, list(entries.values()), Cohort.of(result))
    for name, entry in entries.items():
        alone = measure(result, [entry], Cohort.of(result))[name]
        assert alone == together[name] == pytest.approx(expected[name]), name
    groups = group_cohorts(result)
    for label, mask in (("FSM", s["fsm"]), ("not FSM", ~s["fsm"])):
        sub = measure(result, list(entries.values()), groups[label])
        assert sub["served_male"] == pytest.approx(
            (s.loc[male & mask, "interventions"] > 0).mean()), label
        assert sub["early"] == pytest.approx(first[mask].dropna().mean()), label


def test_a_sum_of_only_non_finite_values_is_not_measured_not_zero():
    """`sum of attendance_rate / interventions` (all infinite) once reported 0 (the infinite values dropped as missing,
    then an empty sum); an empty group still sums to 0."""
    from srmsim.experiment.custom import CustomOutcome, CustomOutcomeConfig

    outcome = CustomOutcome(CustomOutcomeConfig.model_validate(
        {"name": "x", "statistic": "sum", "of": "attendance_rate / interventions"}))
    inf = np.array([np.inf, np.inf, -np.inf])
    assert math.isnan(outcome._statistic(inf, np.ones(3, dtype=bool)))
    assert outcome._statistic(inf, np.zeros(3, dtype=bool)) == 0.0
    assert outcome._statistic(np.array([1.0, np.nan, 2.5]), np.ones(3, dtype=bool)) == 3.5


@pytest.mark.parametrize("custom, where", [
    ({"name": "x", "statistic": "mean", "of": "__import__('os')"}, "outcomes[1] (x)"),
    ({"name": "x", "statistic": "mean", "of": "attendance_rate", "where": "nonsense > 1"},
     "nonsense"),
    ({"name": "x", "statistic": "share", "of": "attendance_rate"}, "true/false"),
    ({"name": "x", "statistic": "percentile", "of": "attendance_rate"}, "q"),
    ({"name": "attendance", "statistic": "mean", "of": "attendance_rate"}, "built-in"),
    ({"name": "x", "statistic": "median", "of": "attendance_rate"}, "statistic"),
    # named like a column of the run rows: its value and the run's would clash in runs/
    ({"name": "seed", "statistic": "mean", "of": "attendance_rate"}, "column every run row"),
    ({"name": "Runtime_Seconds", "statistic": "sum", "of": "attendance_rate"},
     "column every run row"),
    ({"name": "students", "statistic": "count", "of": "fsm"},
     "outcomes[1].name: 'students'"),
    ({"name": "x", "statistic": "mean", "of": "attendance_rate", "q": "high"},
     "outcomes[1].q: Input should be a valid number (got 'high')"),
    ({"name": "x", "statistic": "mean"}, "outcomes[1].of: Field required"),
    (5, "outcomes[1]: Input should be a valid string or a mapping of keys to values (got 5)"),
])
def test_bad_user_outcomes_are_clear_errors(tmp_path, custom, where):
    path = write_experiment(tmp_path, outcomes=["attendance", custom])
    proc = cli("experiment", str(path), "--out", str(tmp_path / "o"), "--quiet")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and str(path) in proc.stderr
    assert where in proc.stderr, proc.stderr
    # only the problem of the branch the input was meant for: a mapping is an outcome
    # definition, so "Input should be a valid string" (a name's branch) is not one
    assert "valid string" not in proc.stderr or not isinstance(custom, dict), proc.stderr
    assert "CustomOutcomeConfig." not in proc.stderr, proc.stderr


@pytest.mark.parametrize("setting, message", [
    ("trust.n_schools", "KEY=VALUE"),
    ("trust.n_schoolz=3", "n_schoolz"),
    ("trust.n_schools=-1", "trust.n_schools"),
    ("trust.n_schools=true", "trust.n_schools"),
    ("../etc=1", "not a scenario key path"),
    ("trust={a: 1}", "not a mapping"),
    ("trust.n_schools=[1, {a: 2}]", "plain values"),
])
def test_bad_set_values_are_clear_errors(tmp_path, setting, message):
    proc = cli("run", "--quiet", "--out", str(tmp_path / "o"), "--set", setting)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert message in proc.stderr, proc.stderr


def test_report_of_a_non_result_folder_is_a_clear_error(tmp_path):
    proc = cli("report", str(tmp_path))
    assert proc.returncode == 2 and "not a result folder" in proc.stderr
    proc = cli("report", str(tmp_path / "missing"))
    assert proc.returncode == 2 and "no such folder" in proc.stderr


def test_report_of_an_imported_dataset_says_what_the_folder_is(tmp_path):
    # its import's summary.json read as a run's: "students.parquet: missing columns
    # ['attainment', ...]; run the command that wrote it again", which could not help
    from srmsim.cli import main

    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    assert main(["data", "import", str(sample / "students.csv"),
                 str(sample / "observations.csv"), "--out", str(tmp_path / "d")]) == 0
    proc = cli("report", str(tmp_path / "d"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "an imported dataset (dataset.json), not a result folder" in proc.stderr
    assert not (tmp_path / "d" / "report.html").exists()


@pytest.mark.once
def test_result_objects_print_and_plot(experiment_dir):
    from srmsim import stats
    from srmsim.experiment.result import ExperimentResult

    text = str(stats.mdes("cluster2", rho=0.17, n=15, J=20))
    assert "MDES:        0.629 SD" in text and "df 18" in text
    res = ExperimentResult.load(experiment_dir[0])
    assert res.variants == ["texts", "none", "more_staff"]
    summary = res.summary()
    assert "tiny_exp" in summary and "Attendance" in summary and "e+" not in summary
    fig = res.plot()
    assert fig.axes[0].get_title(loc="left") == "Attendance"
    assert "percentage points" in fig.axes[0].get_xlabel()
    assert fig._suptitle.get_text().startswith("Effect of each policy")


# ------------------------------------------------------------------------------ report sections
class _Tables(HTMLParser):
    """Every table of a report page with an id: its rows as {column: (text, data-value)}."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[dict[str, tuple[str, float | None]]]] = {}
        self._id: str | None = None
        self._cell: dict[str, str] | None = None
        self._row: dict[str, tuple[str, float | None]] = {}
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "table":
            self._id = a.get("id")
            if self._id:
                self.tables[self._id] = []
        elif tag == "td" and self._id and "data-col" in a:
            self._cell, self._text = a, []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            value = self._cell.get("data-value")
            self._row[self._cell["data-col"]] = ("".join(self._text),
                                                 float(value) if value is not None else None)
            self._cell = None
        elif tag == "tr" and self._id and self._row:
            self.tables[self._id].append(self._row)
            self._row = {}
        elif tag == "table":
            self._id = None


def report_tables(folder: Path) -> tuple[dict[str, list[dict]], str]:
    """The tables of the report the commands wrote in a folder, and its text."""
    page = (folder / "report.html").read_text(encoding="utf-8")
    parser = _Tables()
    parser.feed(page)
    return parser.tables, page


@pytest.mark.once
def test_run_report_shows_request_streams_as_summary_json_says(requests_run_dir):
    tables, page = report_tables(requests_run_dir)
    summary = json.loads((requests_run_dir / "summary.json").read_text())
    s = summary["requests"]["certification"]
    rows = {r["measure"][0]: r["value"] for r in tables["requests_certification"]}
    for measure, key in (("median wait", "median_days"), ("90th percentile wait", "p90_days"),
                         ("99th percentile wait", "p99_days"), ("backlog at the end", "backlog_end"),
                         ("throughput", "throughput_per_week"), ("completed", "completed"),
                         ("completed within the deadline (28 days)", "within_deadline")):
        assert rows[measure][1] == pytest.approx(s[key], rel=1e-9), measure
    assert rows["median wait"][0] == f"{s['median_days']:,.1f} days"
    assert rows["throughput"][0] == f"{s['throughput_per_week']:,.1f} requests a week"
    assert rows["completed within the deadline (28 days)"][0] == format_value(
        s["within_deadline"], "share")
    # the waits are those of requests.parquet
    done = pd.read_parquet(requests_run_dir / "requests.parquet").query("status == 'completed'")
    assert rows["90th percentile wait"][1] == pytest.approx(
        np.quantile(done["days_in_system"], 0.9), rel=1e-9)
    util = {r["role"][0]: r["utilisation"][1] for r in tables["utilisation_certification"]}
    assert util == pytest.approx({"clerk": s["utilisation_clerk"],
                                  "evaluator": s["utilisation_evaluator"],
                                  "officer": s["utilisation_officer"]}, rel=1e-9)
    assert "Administrative requests" in page and "Backlog over time" not in page  # a picture
    assert "The year in numbers" not in page  # no students, no student sections
    assert "No schools or students" in page and page.count("<img") == 2


@pytest.mark.once
def test_experiment_report_shows_request_outcomes_and_backlog(requests_experiment_dir):
    out = requests_experiment_dir
    tables, page = report_tables(out)
    eff = pd.read_csv(out / "effects.csv")
    shown = {(r["variant"][0], r["outcome"][0]): r for r in tables["effects"]}
    for r in eff.itertuples(index=False):
        o = OUTCOMES[r.outcome]
        cell = shown[(r.variant, o.label)]
        assert cell["difference"][1] == pytest.approx(r.difference, rel=1e-9, abs=1e-12)
        assert cell["difference"][0] == o.format_difference(r.difference)  # in its unit
    median = shown[("fully_automated", OUTCOMES["request_wait_median_days"].label)]
    assert median["difference"][0].endswith(" days") and median["mean_variant"][0].endswith(
        " days")  # request outcomes print in their units
    assert shown[("fully_automated", OUTCOMES["request_backlog_end"].label)][
        "mean_variant"][0].endswith(" requests")
    # backlog over time: mean over replications of each week, then its mean, peak and end
    detail = pd.concat([pd.read_parquet(f).assign(variant=f.parent.name)
                        for f in sorted((out / "detail").glob("*/rep-*-weekly.parquet"))])
    weeks = detail.groupby(["variant", "run_week"])["backlog:certification"].mean()
    rows = {r["variant"][0]: r for r in tables["backlog_certification"]}
    assert set(rows) == {"paper", "fully_automated"}
    for variant, r in rows.items():
        w = weeks.loc[variant].sort_index()
        assert r["mean backlog"][1] == pytest.approx(w.mean(), rel=1e-9)
        assert r["peak backlog"][1] == pytest.approx(w.max(), rel=1e-9)
        assert r["backlog at the end"][1] == pytest.approx(w.iloc[-1], rel=1e-9)
    # whole-run outcomes have no value by group, and there are no students to queue
    assert "Effects by group and by school" not in page and "Queues and staff use" not in page


@pytest.mark.once
def test_experiment_report_shows_the_learning_curve(learning_dir):
    tables, page = report_tables(learning_dir)
    runs = pd.concat([pd.read_parquet(f) for f in sorted((learning_dir / "runs").glob("*/*"))])
    for measure in ("regret", "oracle_match"):
        rows = {r["variant"][0]: r for r in tables[f"learning_{measure}"]}
        assert set(rows) == {"fixed", "learned_pooled"}
        for variant, r in rows.items():
            arm = runs[runs["variant"] == variant]
            for k in (1, 2, 3):
                expected = arm[f"{measure}_t{k}"].mean()
                assert r[f"term {k}"][1] == pytest.approx(expected, rel=1e-9), (measure, k)
    curve = pd.read_csv(learning_dir / "learning_curve.csv")  # srmsim compare's file agrees
    fixed = curve[(curve["variant"] == "fixed") & (curve["measure"] == "regret")]
    assert fixed.sort_values("term")["mean"].tolist() == pytest.approx(
        [runs.loc[runs["variant"] == "fixed", f"regret_t{k}"].mean() for k in (1, 2, 3)])
    assert "The learning curve" in page


@pytest.mark.once
def test_experiment_report_shows_sensitivity_and_discovery(explored_dir):
    out = explored_dir
    tables, page = report_tables(out)
    sens = pd.read_csv(out / "sensitivity.csv").dropna(subset=["S1", "ST"], how="all")
    rows = tables["sensitivity"]
    assert len(rows) == len(sens) > 0
    for r, (_, e) in zip(rows, sens.iterrows(), strict=True):
        assert (r["policy (or effect)"][0], r["parameter"][0]) == (e["target"], e["parameter"])
        assert r["first-order S1"][1] == pytest.approx(e["S1"], rel=1e-5)
        assert r["total ST"][1] == pytest.approx(e["ST"], rel=1e-5)
        assert r["S1 95% interval"][0] == f"{e['S1'] - e['S1_conf']:.2f} to " \
            f"{e['S1'] + e['S1_conf']:.2f}"
    assert "How to read a Sobol index" in page
    # discovery: the condition, the box's limits, coverage and density as the files say
    about = json.loads((out / "discovery" / "discovery.json").read_text())
    box = pd.read_csv(out / "discovery" / "prim_box.csv")
    traj = pd.read_csv(out / "discovery" / "prim_trajectory.csv").set_index("box")
    assert html.escape(about["condition"]) in page and about["cases"] == 8  # half of 16
    shown = tables["prim_box"]
    assert [r["parameter"][0] for r in shown] == box["parameter"].tolist()
    for r, (_, b) in zip(shown, box.iterrows(), strict=True):
        assert r["box"][1] == pytest.approx(b["low"], rel=1e-5)
        # each limit to 3 significant figures, then the parameter's unit where it has one
        limits = r["box"][0].split(" (")[0].split(" to ")
        for text, v in zip(limits, (b["low"], b["high"]), strict=True):
            assert "e" not in text and float(text.replace(",", "")) == pytest.approx(v, rel=5e-3)
    chosen = traj.loc[about["box"]]
    assert f"<th>coverage</th><td>{chosen['coverage']:.0%}</td>" in page
    assert f"<th>density</th><td>{chosen['density']:.0%}</td>" in page
    cart = pd.read_csv(out / "discovery" / "cart_leaves.csv")
    assert [r["density"][1] for r in tables["cart_leaves"]] == pytest.approx(
        cart["density"].tolist())
    assert "How to read scenario discovery" in page


def test_policy_switches_and_numbers_are_described_in_words():
    """The report's policy sentence printed a switch as 'True' and 1e6 as '1e+06'."""
    from srmsim.report.words import describe_policy
    from srmsim.scenario import scenario_from_dict

    policy = {**SCENARIO["policy"], "parameters": {
        "attendance_threshold": 0.9, "letters_first": True, "quiet": False, "budget": 1e6,
        "unused": 3}}
    policy["rules"] = {"low_attendance": {
        "when": "attendance_rate < attendance_threshold and letters_first and not quiet "
                "and sessions_missed < budget", "cadence": "half_termly"}}
    text = describe_policy(scenario_from_dict({**SCENARIO, "policy": policy}))
    assert ("Thresholds: attendance_threshold = 0.9, letters_first = yes, quiet = no, "
            "budget = 1,000,000.") in text
    assert not re.search(r"True|False|e\+0", text)


def test_a_variant_is_described_with_the_thresholds_its_own_workflows_read():
    """A variant with the attendance workflow switched off listed attendance_threshold among
    its thresholds; a goal's and a rule's named rules' parameters count."""
    from srmsim.report.words import describe_policy
    from srmsim.scenario import load_scenario

    sc = load_scenario(REPO / "scenarios" / "reading_and_attendance.yaml")
    both = describe_policy(sc)
    assert "reading_goal = -18" in both and "attendance_threshold = 0.9" in both
    reading = describe_policy(sc.with_overrides(
        {"policy.workflows.attendance.enabled": False}, source="t"))
    assert "reading_threshold = -24, reading_goal = -18." in reading
    assert "attendance_threshold" not in reading
    dropout = describe_policy(load_scenario(REPO / "scenarios" / "dropout_prevention.yaml"))
    assert "Thresholds: min_factors = 2." in dropout  # read through at_risk's named rules
    # a chooser's rule reads a parameter too; a name in a rule's comment is not read
    small = load_scenario(REPO / "scenarios" / "attendance_escalation_small.yaml")
    spec = small.to_dict()
    spec["policy"]["parameters"].update(deep_threshold=0.8, old_threshold=0.85)
    spec["policy"]["rules"]["low_attendance"]["when"] = \
        "attendance_rate < attendance_threshold  # was old_threshold"
    spec["policy"]["workflows"]["attendance"]["steps"][1] = {
        "candidates": ["parent_meeting", "attendance_officer_visit"], "weeks": 3,
        "chooser": {"kind": "rule",
                    "rules": {"attendance_officer_visit": "attendance(4) < deep_threshold"}}}
    from srmsim.scenario import scenario_from_dict

    text = describe_policy(scenario_from_dict(spec, "t"))
    assert "Thresholds: attendance_threshold = 0.9, deep_threshold = 0.8." in text, text


def test_queue_table_shows_a_dash_for_a_variant_without_a_queue():
    """The experiment report's queue table showed 'nan' for the no-policy variant."""
    from srmsim.report.experiment import queue_table

    weeks = pd.DataFrame({"variant": ["none"] * 2 + ["policy"] * 2,
                          "queue_length": [np.nan, np.nan, 3, 12],
                          "staff_minutes_used": [0, 0, 600, 1200],
                          "staff_minutes_available": [0, 0, 1200, 1200]})
    table = queue_table(weeks, ["none", "policy"]).set_index("variant")
    assert table.loc["none"].tolist() == ["–", "–", "0 h", "–"]
    assert table.loc["policy"].tolist() == ["7.5", "12", "30 h", "75.0%"]
    assert list(table.columns)[:2] == ["mean queue (cases)", "longest queue (cases)"]


def test_morris_indices_print_in_the_outcome_unit():
    from srmsim.report.explore import sensitivity_table

    table = pd.DataFrame({"target": ["a", "a"], "variant": "a", "outcome": "attendance",
                          "parameter": ["p", "q"], "method": "morris", "mu_star": [0.012, 0.0],
                          "mu_star_conf": [0.002, 0.0], "sigma": [0.004, 0.0]})
    shown, raw, morris = sensitivity_table(table, {})
    assert morris and shown["mu*"].tolist() == ["1.20 pp", "0.00 pp"]
    assert shown["mu* 95% interval"].iloc[0] == "± 0.20 pp" and raw["mu*"].iloc[0] == 0.012


@pytest.mark.once
def test_optimise_folder_report_shows_front_and_best_policy(optimise_dir):
    out = optimise_dir
    assert (out / "report.html").exists()  # srmsim optimise writes it
    tables, page = report_tables(out)
    meta = json.loads((out / "optimise.json").read_text())
    assert meta["objectives"] == {"attendance": "maximise", "staff_hours": "minimise"}
    front = pd.read_csv(out / "pareto.csv")
    rows = tables["pareto"]
    assert [r["candidate"][0] for r in rows] == [f"trial-{t:05d}" for t in front["trial"]]
    assert [r["Attendance"][1] for r in rows] == pytest.approx(front["attendance"].tolist())
    assert [r["Staff hours"][0] for r in rows] == [format_value(v, "hours")
                                                   for v in front["staff_hours"]]
    eff = pd.read_csv(out / "front_effects.csv")
    assert [r["difference"][1] for r in tables["front_effects"]] == pytest.approx(
        eff["difference"].tolist())
    assert f"{meta['best']}: the best attendance" in page
    from srmsim.labels import key_unit
    from srmsim.report.explore import lever_text

    for key, value in meta["best_overrides"].items():  # rounded by its unit (0.916, 1,035)
        shown = lever_text(value, key_unit(key)) if isinstance(value, float) else str(value)
        # the value, then its unit where the key has one (minutes a week per school, ...)
        assert re.search(rf"<th>{re.escape(key)}</th><td>{re.escape(shown)}( \([^<]+\))?</td>",
                         page), key
    assert "How to read the front" in page and page.count("<img") == 1


def test_optimise_prints_the_front_in_units_and_the_best_policy_in_words(optimise_dir):
    """`srmsim optimise` printed attendance as 0.9345, differences as 0.003563 and the best
    policy as a Python dict with 0.915029130142747: now as the report and `compare` show them."""
    printed = (optimise_dir.parent / "printed.txt").read_text()
    meta = json.loads((optimise_dir / "optimise.json").read_text())
    front = pd.read_csv(optimise_dir / "pareto.csv")
    lines = printed.splitlines()
    head = lines.index(next(x for x in lines if x.startswith("candidate ")))
    for row, line in zip(front.itertuples(), lines[head + 1:head + 1 + len(front)], strict=True):
        assert line.startswith(f"trial-{row.trial:05d} ")
        assert re.search(rf"  {re.escape(format_value(row.attendance, 'share'))} +"
                         rf"{re.escape(format_value(row.staff_hours, 'hours'))}$", line), line
    assert "Attendance" in lines[head] and "Staff hours" in lines[head]
    assert re.search(r"^trial-\d{5} +Attendance +\d+\.\d% +\d+\.\d% +[+-±][\d.]+ pp",
                     printed, re.M)
    assert "pp = percentage points" in printed
    # the columns it leaves out are in front_effects.csv, the file optimise writes
    assert "more columns in front_effects.csv." in printed and "in effects.csv" not in printed
    best = next(x for x in lines if x.startswith("best "))
    # ... saying by what it is best, as the report does
    assert best.startswith("best (the best attendance on re-evaluation, within the "
                           f"constraints): {meta['best']}: policy.") and "{" not in best
    front_shown = len(front)
    evaluated = pd.read_csv(optimise_dir / "front_effects.csv")["variant"].nunique()
    if evaluated < front_shown:  # front_max 2: which of the front were re-evaluated is said
        assert (f"re-evaluated against the baseline ({evaluated} of the {front_shown} front "
                "policies, spread along attendance (reevaluate.front_max); 2 fresh "
                "replications):") in printed
    assert not re.search(r"\d\.\d{7,}", printed), "a float printed with all its digits"
    assert "True" not in printed and "False" not in printed and "nan" not in printed


@pytest.mark.once
def test_trial_report_shows_cost_and_true_effects_by_group(trial_dir):
    tables, page = report_tables(trial_dir)
    g = pd.read_csv(trial_dir / "trial_groups.csv")
    g["effect"] = g["trial"] - g["counterfactual"]
    whole = g[g["group"] == "all treated-arm students"].set_index(["outcome", "replication"])
    cost = {r["measure"][0]: r["value"][1] for r in tables["trial_cost"]}
    assert cost["cost of actions"] == pytest.approx(whole.loc["cost", "effect"].mean())
    assert cost["staff hours"] == pytest.approx(whole.loc["staff_hours", "effect"].mean())
    assert cost["treated-arm students"] == pytest.approx(whole.loc["cost", "students"].mean())
    served = whole.loc["students_served", "effect"].mean() * whole.loc["cost", "students"].mean()
    assert cost["students who received any action"] == pytest.approx(served)
    # every cost falls on the treated arm: the counterfactual spends nothing
    assert (whole.loc["cost", "counterfactual"] == 0).all()
    runs = pd.read_csv(trial_dir / "trial_runs.csv")
    assert (whole.loc["cost", "students"].to_numpy() >= runs["n_treated"].to_numpy()).all()
    for outcome in ("reading_gap_end", "attendance"):
        o = OUTCOMES[outcome]
        rows = {r["students"][0]: r for r in tables[f"groups_{outcome}"]}
        assert {"FSM", "not FSM", "SEN", "EAL", "school 0", "school 1"} <= set(rows)
        for group in ("FSM", "school 1", "all treated-arm students"):
            x = g[(g["group"] == group) & (g["outcome"] == outcome)]
            text = rows[group]["with the policy (difference, 95% interval)"][0]
            assert text.startswith(o.format_difference(x["effect"].mean()) + " ("), text
            assert rows[group]["without the policy (level)"][0] == o.format_value(
                x["counterfactual"].mean())
    assert "Cost per unit of each outcome" in page and "True effects by group" in page
    # the compute time comes from the resume store's sessions (trial.json holds no timing)
    manifest = json.loads((trial_dir / "store" / "manifest.json").read_text())
    seconds = sum(s["seconds"] for s in manifest["sessions"])
    assert f"{seconds:,.1f} s" in page


def test_group_truths_measure_the_treated_arm_in_both_runs():
    """A replication's group truths are the registry's outcomes of the treated students in the
    trial run and in the counterfactual, counted right."""
    from srmsim.trial.run import replicate
    from srmsim.trial.spec import load_trial

    trial = load_trial(REPO / "experiments" / "trial_reading.yaml",
                       {"trust.n_schools": 2, "trust.students_per_year_group": 30})
    rep = replicate(trial, 0)
    g = rep.groups.set_index(["group", "outcome"])
    arm = rep.students.set_index("uid")["arm"]
    ts = rep.trial_students
    treated = ts[ts["uid"].map(arm).eq("treated").to_numpy()]
    fsm = treated[treated["fsm"]]
    assert g.loc[("all treated-arm students", "cost"), "trial"] == pytest.approx(ts["cost"].sum())
    assert g.loc[("FSM", "reading_gap_end"), "trial"] == pytest.approx(
        fsm["reading_gap_end"].mean())
    cf = rep.counterfactual_students.set_index("uid").loc[fsm["uid"]]
    assert g.loc[("FSM", "reading_gap_end"), "counterfactual"] == pytest.approx(
        cf["reading_gap_end"].mean())
    assert g.loc[("FSM", "reading_gap_end"), "students"] == len(fsm)
    assert g.loc[("all treated-arm students", "students_served"), "counterfactual"] == 0


def test_broken_exploration_files_are_clear_errors(tmp_path):
    from srmsim.errors import SrmsimError
    from srmsim.report.explore import discovery_section, sensitivity_section
    from srmsim.report.files import embed_png
    from srmsim.report.page import Page

    (tmp_path / "sensitivity.csv").write_text("target,variant\nx,y\n")
    with pytest.raises(SrmsimError, match=r"sensitivity\.csv: missing columns \['outcome', "):
        sensitivity_section(Page("x"), tmp_path, {})
    (tmp_path / "discovery").mkdir()
    (tmp_path / "discovery" / "discovery.json").write_text("[1, 2]")
    with pytest.raises(SrmsimError, match="discovery.json: not what srmsim writes"):
        discovery_section(Page("x"), tmp_path)
    (tmp_path / "discovery" / "discovery.json").write_bytes(b"\xff{")
    with pytest.raises(SrmsimError, match="discovery.json: unreadable"):
        discovery_section(Page("x"), tmp_path)
    (tmp_path / "fake.png").write_text("<svg onload=alert(1)>")
    with pytest.raises(SrmsimError, match="fake.png: not a PNG image"):
        embed_png(Page("x"), tmp_path / "fake.png", "a figure")
    (tmp_path / "optimise.json").write_text('{"name": "x"}')  # a search still running
    proc = cli("report", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "has not finished" in (tmp_path / "report.html").read_text()


# ------------------------------------------------------------------------------ the browser
def _cells(driver, table_id: str, column: str) -> list[tuple[str, float]]:
    cells = driver.find_elements("css selector", f"#{table_id} td[data-col='{column}']")
    return [(c.text, float(c.get_attribute("data-value"))) for c in cells]


def _check_page(driver, path: Path) -> None:
    driver.get(path.resolve().as_uri())
    assert driver.execute_script("return document.readyState") == "complete"
    assert driver.find_elements("css selector", "img"), "the report has no figure"
    assert broken_images(driver) == []
    assert console_errors(driver) == []
    # self-contained: nothing but data: URIs
    srcs = [i.get_attribute("src") for i in driver.find_elements("css selector", "img")]
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not driver.find_elements("css selector", "script, link[rel=stylesheet]")


@pytest.mark.once
@requires_browser
def test_reports_open_in_a_browser_and_match_the_csv_files(
        experiment_dir, run_dir, trial_dir, requests_run_dir, requests_experiment_dir,
        learning_dir, explored_dir, optimise_dir, tmp_path):
    exp_out, _ = experiment_dir
    with browser() as driver:
        # experiment: every headline number equals effects.csv, formatted with its unit
        _check_page(driver, exp_out / "report.html")
        assert "<script>" in driver.find_element("tag name", "body").text  # escaped, shown
        eff = pd.read_csv(exp_out / "effects.csv")
        for column in ("difference", "ci_low", "ci_high", "mean_variant"):
            cells = _cells(driver, "effects", column)
            assert len(cells) == len(eff)
            for (text, value), r in zip(cells, eff.itertuples(index=False), strict=True):
                expected = getattr(r, column)
                o = OUTCOMES.get(r.outcome)
                if np.isnan(expected):
                    assert text == "–"
                    continue
                assert value == pytest.approx(expected, rel=1e-9, abs=1e-12)
                if o is not None:
                    fmt = o.format_value if column == "mean_variant" else o.format_difference
                    assert text == fmt(expected)
        body = driver.find_element("tag name", "body").text
        assert "simulation interval" in body and "not a forecast" in body
        for heading in ("What was run", "Headline effects", "Cost and staff hours",
                        "Effects by group and by school", "Queues and staff use over the year"):
            assert heading in body
        screenshot(driver, tmp_path / "experiment.png")
        assert (tmp_path / "experiment.png").stat().st_size > 10_000

        # run: the headline table equals what the run's own files give
        _check_page(driver, run_dir / "report.html")
        summary = json.loads((run_dir / "summary.json").read_text())
        values = dict(zip([c.text for c in driver.find_elements(
            "css selector", "#headline td[data-col='outcome']")],
            [v for _, v in _cells(driver, "headline", "value")], strict=True))
        assert values["Attendance"] == pytest.approx(summary["attendance"], rel=1e-9)
        assert values["Persistent absence"] == pytest.approx(summary["persistent_absence"])
        assert values["Cost"] == pytest.approx(summary["cost"])
        assert "The trust's year in pictures" in driver.find_element("tag name", "body").text

        # trial: the summary table equals trial_summary.csv
        _check_page(driver, trial_dir / "report.html")
        ts = pd.read_csv(trial_dir / "trial_summary.csv")
        cells = _cells(driver, "trial_summary", "value")
        assert [v for _, v in cells] == pytest.approx(ts["value"].tolist(), nan_ok=True)
        bias = ts.loc[ts["measure"].str.startswith("bias"), "value"].iloc[0]
        assert format_difference(bias, "months") in [t for t, _ in cells]
        body = driver.find_element("tag name", "body").text
        assert "Estimate against the truth" in body and "coverage" in body.lower()
        assert "True effects by group and by school" in body

        # the other sections' reports: every figure loads, the console stays clean (their
        # numbers are checked against the files by the tests above)
        for folder, heading in ((requests_run_dir, "Administrative requests"),
                                (requests_experiment_dir, "Administrative requests over time"),
                                (learning_dir, "The learning curve"),
                                (explored_dir, "scenario discovery"),
                                (optimise_dir, "The Pareto front")):
            _check_page(driver, folder / "report.html")
            assert heading in driver.find_element("tag name", "body").text, folder
    # the trial's resolved scenario keeps the --set values
    sc = yaml.safe_load((trial_dir / "scenario.yaml").read_text())
    assert sc["trust"]["n_schools"] == 2 and sc["trust"]["students_per_year_group"] == 50


# ------------------------------------------------------------------------------ damaged folders
def _edit_parquet(path: Path, **columns) -> None:
    df = pd.read_parquet(path)
    for name, value in columns.items():
        df[name] = value
    df.to_parquet(path)


def _drop_column(path: Path, column: str) -> None:
    pd.read_parquet(path).drop(columns=[column]).to_parquet(path)


def _repeat_first_row(path: Path, key: list[str]) -> None:
    """The second row gets the first row's ``key`` (same number of rows, one key twice)."""
    df = pd.read_parquet(path)
    df.loc[1, key] = df.loc[0, key].to_numpy()
    df.to_parquet(path)


def _manifest_edit(out: Path, **changes) -> None:
    m = json.loads((out / "manifest.json").read_text())
    m.update(changes)
    (out / "manifest.json").write_text(json.dumps(m))


def _duplicate_key(path: Path, key: str, value) -> None:
    """Put ``key`` first in the file's top object, a second time with ``value``."""
    text = path.read_text()
    path.write_text(text.replace("{", "{" + json.dumps(key) + ": " + json.dumps(value) + ", ", 1))


def _fail(out: Path, variant: str, replication: int, listed: bool = True, name: int | None = None,
          **changes) -> None:
    """Turn a stored run into a failure record like the runner's (run and detail files
    deleted, record written, ``listed`` in the manifest's failed runs); ``changes`` edit the
    record, ``name`` writes it under another replication's file name."""
    m = json.loads((out / "manifest.json").read_text())
    (out / "runs" / variant / f"rep-{replication:05d}.parquet").unlink(missing_ok=True)
    for f in (out / "detail" / variant).glob(f"rep-{replication:05d}-*.parquet"):
        f.unlink()
    record = {"variant": variant, "replication": replication, "seed": m["seeds"][replication],
              "error": "RuntimeError: boom", "traceback": "Traceback ...",
              "runtime_seconds": 0.1, "experiment_hash": m["experiment_hash"], **changes}
    path = out / "failures" / variant / f"rep-{replication if name is None else name:05d}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({k: v for k, v in record.items() if v is not None}))
    if listed:
        _manifest_edit(out, failed=[*m["failed"], [variant, replication]])


DAMAGES = {
    # run files: an infinite or text outcome was dropped or crashed; a missing outcome column
    # became a silently missing replication
    "inf outcome": (lambda o: _edit_parquet(o / "runs/texts/rep-00001.parquet",
                                            attendance=np.inf),
                    "rep-00001.parquet: outcome 'attendance' is infinite or too large"),
    "text outcome": (lambda o: _edit_parquet(o / "runs/texts/rep-00001.parquet",
                                             attendance="high"),
                     "rep-00001.parquet: outcome 'attendance' is not a number \\('high'\\)"),
    "missing outcome column": (lambda o: _drop_column(o / "runs/texts/rep-00001.parquet", "cost"),
                               "rep-00001.parquet: has no value for outcome \\['cost'\\]"),
    "NaN seed": (lambda o: _edit_parquet(o / "runs/texts/rep-00001.parquet", seed=np.nan),
                 "rep-00001.parquet: not the run its name says"),
    # manifest: seeds of the wrong kind or an outcome no run has were tracebacks
    "text seeds": (lambda o: _manifest_edit(o, seeds=["a", "b", "c"]),
                   "manifest.json: not an srmsim experiment manifest"),
    # a duplicated key was read as its last value (a baseline changed by hand, unseen)
    "duplicate manifest key": (lambda o: _duplicate_key(o / "manifest.json", "baseline", "texts"),
                               "manifest.json: unreadable \\(duplicate key 'baseline'\\)"),
    "unknown outcome": (lambda o: _manifest_edit(o, outcomes=["attendance", "ghost"]),
                        "has no value for outcome \\['ghost'\\]"),
    # runs deleted or copied in: the effects were computed from what was left as if whole
    "deleted run": (lambda o: (o / "runs/texts/rep-00001.parquet").unlink(),
                    "1 of 9 runs is missing, first .*runs/texts/rep-00001.parquet"),
    "deleted variant": (lambda o: shutil.rmtree(o / "runs/more_staff"),
                        "3 of 9 runs are missing, first .*runs/more_staff/rep-00000.parquet"),
    "variant the manifest does not list": (
        lambda o: _manifest_edit(o, variants={"none": "x", "more_staff": "y"}),
        "runs/texts: runs of variant 'texts', which manifest.json does not list"),
    "negative replications": (lambda o: _manifest_edit(o, replications=-3),
                              "manifest.json: its replications are not a whole number"),
    # per-run detail the report reads: damaged files were pyarrow/pandas tracebacks
    "truncated detail": (lambda o: (o / "detail/texts/rep-00001-groups.parquet").write_bytes(
        (o / "detail/texts/rep-00001-groups.parquet").read_bytes()[:100]),
        "rep-00001-groups.parquet: unreadable detail file: a damaged Parquet file: it starts as "
        "one but its end is missing"),
    # a detail file deleted or left without its run: group effects paired other replications
    "deleted groups detail": (lambda o: (o / "detail/texts/rep-00001-groups.parquet").unlink(),
                              "rep-00001-groups.parquet: missing, but its run is stored"),
    # every detail file gone: the report said the results were "made by an older srmsim"
    "deleted detail folder": (lambda o: shutil.rmtree(o / "detail"),
                              "rep-00000-(groups|weekly).parquet: missing, but its run is stored"),
    "every weekly detail deleted": (
        lambda o: [f.unlink() for f in o.glob("detail/*/rep-*-weekly.parquet")],
        "rep-00000-weekly.parquet: missing, but its run is stored"),
    "weekly detail without its run": (
        lambda o: shutil.copy(o / "detail/texts/rep-00001-weekly.parquet",
                              o / "detail/texts/rep-00007-weekly.parquet"),
        "rep-00007-weekly.parquet: detail of a run that is not stored"),
    # a valid detail file of another run in its place: read as this run's before its SHA-256
    "swapped groups detail": (lambda o: shutil.copy(o / "detail/texts/rep-00002-groups.parquet",
                                                    o / "detail/texts/rep-00001-groups.parquet"),
                              "rep-00001-groups.parquet: not the detail file its run wrote "
                              r"\(truncated, edited, replaced or swapped\):\n  its SHA-256 "
                              "differs from the one .*runs/texts/rep-00001.parquet"),
    "detail digest removed from its run": (
        lambda o: _drop_column(o / "runs/texts/rep-00001.parquet", "sha256:weekly"),
        "runs/texts/rep-00001.parquet: records no SHA-256 of its weekly detail"),
    # a failure record passing a deleted run off as a failed one: the analysis silently had
    # fewer replications
    "hand-made failure record for a deleted run": (
        lambda o: _fail(o, "texts", 1, listed=False),
        "failures/texts/rep-00001.json: a failure record that is not among the failed runs "
        "manifest.json lists"),
    "failure record with another seed": (
        lambda o: _fail(o, "texts", 1, seed=5),
        "rep-00001.json: a failure record whose seed is not the one manifest.json gives "
        "replication 1"),
    "failure record of another experiment": (
        lambda o: _fail(o, "texts", 1, experiment_hash="0123456789abcdef"),
        "rep-00001.json: a failure record of another experiment"),
    "failure record without the experiment's hash": (
        lambda o: _fail(o, "texts", 1, experiment_hash=None),
        "rep-00001.json: a failure record that is not among the failed runs"),
    "failure record under another run's name": (
        lambda o: _fail(o, "texts", 1, name=2),
        "failures/texts/rep-00002.json: not a failure record of srmsim, or not of the run its "
        "name says"),
    "failure record without an error": (
        lambda o: _fail(o, "texts", 1, error=""),
        "rep-00001.json: not a failure record of srmsim"),
    "failure record with other fields": (
        lambda o: _fail(o, "texts", 1, attendance=0.9),
        "rep-00001.json: not a failure record of srmsim"),
    "failure record beside its stored run": (
        lambda o: (shutil.copy(o / "runs/texts/rep-00001.parquet", o / "keep.parquet"),
                   _fail(o, "texts", 1),
                   shutil.move(o / "keep.parquet", o / "runs/texts/rep-00001.parquet")),
        "rep-00001.json: a failure record of a run that is stored"),
    "failure record of a variant not run": (
        lambda o: (o / "failures/ghost").mkdir(parents=True) or (
            o / "failures/ghost/rep-00001.json").write_text(json.dumps(
                {"variant": "ghost", "replication": 1, "seed": 1, "error": "E: x"})),
        "failures/ghost/rep-00001.json: a failure record of variant 'ghost', which"),
    "manifest's failed runs not a list": (lambda o: _manifest_edit(o, failed="all"),
                                          "manifest.json: its failed runs are not a list"),
    "manifest's failed run a mapping": (lambda o: _manifest_edit(o, failed=[[{"a": 1}, 0]]),
                                        "manifest.json: its failed runs are not a list"),
    # failures (recorded as the runner does) that leave a variant one paired replication: an
    # effects table with no interval passed for the experiment's result
    "failures leave a variant one run": (
        lambda o: (_fail(o, "texts", 1), _fail(o, "none", 2)),
        "out: variant 'texts' has 1 replication that the baseline finished too, fewer "
        "than the 2 an analysis needs, as 2 runs failed"),
    "csv as weekly detail": (lambda o: (o / "detail/texts/rep-00001-weekly.parquet").write_text(
        "a,b\n1,2\n"), "rep-00001-weekly.parquet: unreadable detail file: not a Parquet file"),
    "text in weekly detail": (lambda o: _edit_parquet(
        o / "detail/texts/rep-00001-weekly.parquet", queue_length="x"),
        "rep-00001-weekly.parquet: not a weekly detail file"),
}


@pytest.mark.once
@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_experiment_folder_gives_a_short_error_and_writes_nothing(
        experiment_dir, tmp_path, damage):
    from conftest import folder_bytes

    out = tmp_path / "out"
    shutil.copytree(experiment_dir[0], out)
    change, message = DAMAGES[damage]
    change(out)
    before = folder_bytes(out)
    # compare reads no per-run detail: a damaged detail file concerns the report only
    for command in ("report",) if "detail" in damage else ("compare", "report"):
        proc = cli(command, str(out))
        assert proc.returncode == 2, (command, proc.stderr)
        assert "Traceback" not in proc.stderr
        # the error (a detail file's names its run on a second line: one path a line), a repair
        # hint's files one a line (a run and its two detail files at most) and its resume command
        assert len(proc.stderr.splitlines()) <= 6
        assert re.search(message, proc.stderr), proc.stderr
    assert folder_bytes(out) == before


@pytest.mark.once
@pytest.mark.parametrize("damage", ["swapped groups detail", "deleted groups detail",
                                    "truncated detail", "text in weekly detail"])
def test_the_hint_for_a_damaged_detail_file_repairs_the_folder(experiment_dir, tmp_path, damage):
    """Following the error's steps word for word (delete the files it names, run the command
    it gives) repairs the folder: deleting the detail file alone, as the hint once said, left
    a stored run without its detail, which is refused too."""
    import glob
    import shlex

    out = tmp_path / "out"
    shutil.copytree(experiment_dir[0], out)
    DAMAGES[damage][0](out)
    proc = cli("report", str(out))
    assert proc.returncode == 2, proc.stderr
    hint = re.search(r"delete its files:\n    (\S+)\n    (\S+)\n  then run: (.+)$",
                     proc.stderr.strip())
    assert hint, proc.stderr
    for pattern in hint.group(1, 2):
        for f in glob.glob(pattern):
            Path(f).unlink()
    command = shlex.split(hint.group(3))
    assert command[:2] == ["srmsim", "experiment"] and "--resume" in command
    # the command as given (its report is written by the `srmsim report` below)
    proc = cli(*command[1:], "--quiet", "--no-report")
    assert proc.returncode == 0, proc.stderr
    proc = cli("report", str(out))
    assert proc.returncode == 0, proc.stderr
    fresh = tmp_path / "fresh"
    shutil.copytree(experiment_dir[0], fresh)
    assert (pd.read_parquet(out / "runs/texts/rep-00001.parquet").drop(columns="runtime_seconds")
            .equals(pd.read_parquet(fresh / "runs/texts/rep-00001.parquet")
                    .drop(columns="runtime_seconds")))


@pytest.mark.once
@pytest.mark.parametrize("damage", ["truncated", "NaN seed"])
def test_the_hint_for_a_damaged_run_file_repairs_the_folder(experiment_dir, tmp_path, damage):
    """A damaged run file's hint gives the resume command with the --set values the experiment
    was run with: "delete it to re-run that replication with --resume" left them out, and
    --resume without them is refused (the experiment's hash differs)."""
    import shlex

    out = tmp_path / "out"
    shutil.copytree(experiment_dir[0], out)
    run = out / "runs/texts/rep-00001.parquet"
    if damage == "truncated":
        run.write_bytes(run.read_bytes()[:100])
    else:
        DAMAGES[damage][0](out)
    proc = cli("report", str(out))
    assert proc.returncode == 2, proc.stderr
    hint = re.search(r"^srmsim: error: (\S+): .*; to make that run again, delete it\n"
                     r"  then run: (.+)$", proc.stderr.strip())
    assert hint and Path(hint.group(1)) == run, proc.stderr
    command = shlex.split(hint.group(2))
    assert command[1:] == ["experiment", command[2], "--resume", "--out", str(out),
                           "--set", "trust.students_per_year_group=25"]
    run.unlink()
    assert cli(*command[1:], "--quiet", "--no-report").returncode == 0
    assert cli("report", str(out)).returncode == 0


def test_the_hint_for_a_deleted_run_gives_the_resume_command_on_its_own_line(experiment_dir,
                                                                           tmp_path):
    """A missing run's message gave the resume command at the end of a line holding two paths
    too, which the CLI cuts at 300 characters: the command has its own line."""
    from srmsim.errors import MAX_LINE

    out = tmp_path / "out"
    shutil.copytree(experiment_dir[0], out)
    (out / "runs/texts/rep-00001.parquet").unlink()
    proc = cli("report", str(out))
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("  then run: srmsim experiment ") and last.endswith(
        f"--resume --out {out} --set trust.students_per_year_group=25"), proc.stderr
    assert all(len(line) <= MAX_LINE for line in proc.stderr.splitlines())


def test_a_resume_command_too_long_for_a_line_names_the_settings(tmp_path):
    """Too many --set values for one printed line: the hint says to give the same ones as
    before rather than printing a command the CLI cuts (a cut command runs something else)."""
    from srmsim.errors import MAX_LINE
    from srmsim.experiment.store import ResultsStore

    store = ResultsStore(tmp_path)
    manifest = {"experiment_file": "exp.yaml", "settings": {"trust.n_schools": 3}}
    assert store.resume_command(manifest) == (f"srmsim experiment exp.yaml --resume --out "
                                              f"{tmp_path} --set trust.n_schools=3")
    manifest["settings"] = {f"policy.rules.rule_{i}.threshold": 0.5 for i in range(20)}
    command = store.resume_command(manifest)
    assert command == (f"srmsim experiment exp.yaml --resume --out {tmp_path} with the same "
                       "--set values as before (see manifest.json)")
    hint = store.rerun_hint(tmp_path / "runs/a/rep-00001.parquet")
    assert all(len(line) <= MAX_LINE for line in hint.splitlines())


@pytest.mark.once
def test_failed_runs_are_named_on_stdout_and_left_out(experiment_dir, tmp_path):
    """A run recorded as failed (as the runner records it) is left out of every analysis, and
    each analysis says how many and which: its replications are fewer than planned."""
    out = tmp_path / "out"
    shutil.copytree(experiment_dir[0], out)
    _fail(out, "texts", 1)
    for command in ("compare", "report"):
        proc = cli(command, str(out))
        assert proc.returncode == 0, proc.stderr
        assert ("note: 1 failed run is left out of this analysis: 'texts' replication 1 "
                f"(errors in {out / 'failures'})") in proc.stdout
    effects = pd.read_csv(out / "effects.csv")
    assert set(effects.loc[effects["variant"] == "texts", "replications"]) == {2}
    assert set(effects.loc[effects["variant"] == "more_staff", "replications"]) == {3}


@pytest.mark.once
def test_results_of_an_older_srmsim_are_read_with_a_note(experiment_dir, tmp_path):
    """A folder from before detail digests and checked failure records (no ``failed`` or
    ``detail_sha256`` in its manifest, no digests in its runs, failure records without the
    hash) is still read: its detail unchecked, said on stdout."""
    out = tmp_path / "out"
    shutil.copytree(experiment_dir[0], out)
    m = json.loads((out / "manifest.json").read_text())
    del m["failed"], m["detail_sha256"]
    (out / "manifest.json").write_text(json.dumps(m))
    for f in out.glob("runs/*/*.parquet"):
        pd.read_parquet(f).drop(columns=["sha256:groups", "sha256:weekly"]).to_parquet(f)
    _fail(out, "more_staff", 0, listed=False, experiment_hash=None)
    proc = cli("report", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "note: 8 groups detail files" in proc.stdout and "are read unchecked" in proc.stdout
    assert "'more_staff' replication 0" in proc.stdout


@pytest.mark.once
def rename_variant(out: Path, old: str, name: str) -> None:
    """Rename a variant in an experiment folder's manifest, folders and run files, as an
    edit of the folder would (every file consistent, so only the name is hostile): the
    experiment's settings and hash too, which every run carries."""
    from srmsim.experiment.spec import experiment_digest

    m = json.loads((out / "manifest.json").read_text())
    m["variants"] = {(name if k == old else k): v for k, v in m["variants"].items()}
    config = m["experiment_config"]
    config["variants"] = {(name if k == old else k): v for k, v in config["variants"].items()}
    m["experiment_hash"] = experiment_digest(config, m["variants"])
    (out / "manifest.json").write_text(json.dumps(m))
    for top in ("runs", "detail"):
        (out / top / old).rename(out / top / name)
    if (out / "scenarios" / f"{old}.yaml").exists():
        (out / "scenarios" / f"{old}.yaml").rename(out / "scenarios" / f"{name}.yaml")
    for f in (out / "runs").glob("*/*.parquet"):
        edits = {"experiment_hash": m["experiment_hash"]}
        _edit_parquet(f, **(edits | ({"variant": name} if f.parent.name == name else {})))


def test_hostile_variant_and_group_names_are_escaped_in_the_report(experiment_dir, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(experiment_dir[0], out)
    name = "<img src=x onerror=alert(1)>"
    rename_variant(out, "texts", name)
    for f in out.glob("detail/*/*-groups.parquet"):
        df = pd.read_parquet(f)
        df["group"] = df["group"].where(df["group"] != df["group"].iloc[0], "<b>grp</b>")
        df.to_parquet(f)
        # and its run records the edited file's digest, as a run that wrote it would
        replication = f.name.split("-")[1]
        _edit_parquet(out / "runs" / f.parent.name / f"rep-{replication}.parquet",
                      **{"sha256:groups": file_sha256(f)})
    proc = cli("report", str(out))
    assert proc.returncode == 0, proc.stderr
    page = (out / "report.html").read_text()
    assert "<img src=x" not in page and "<b>grp</b>" not in page
    assert html.escape(name) in page


def _edit_csv(path: Path, **columns) -> None:
    df = pd.read_csv(path)
    for name, value in columns.items():
        df[name] = value
    df.to_csv(path, index=False)


TRIAL_DAMAGES = {
    "truncated trial.json": (lambda o: (o / "trial.json").write_text('{"name": "x'),
                             "trial.json: unreadable"),
    "trial.json a list": (lambda o: (o / "trial.json").write_text("[1]"),
                          "trial.json: not what srmsim writes"),
    "duplicate trial.json key": (lambda o: _duplicate_key(o / "trial.json", "name", "x"),
                                 "trial.json: unreadable \\(duplicate key 'name'\\)"),
    "empty summary": (lambda o: (o / "trial_summary.csv").write_text(""),
                      "trial_summary.csv: unreadable"),
    "text in summary": (lambda o: _edit_csv(o / "trial_summary.csv", value="x"),
                        "trial_summary.csv: column 'value' holds 'x' in data row 1"),
    "no error column": (lambda o: pd.read_csv(o / "trial_runs.csv").drop(columns=["error"])
                        .to_csv(o / "trial_runs.csv", index=False),
                        "trial_runs.csv: missing column \\['error'\\]"),
    "infinite estimate": (lambda o: _edit_csv(o / "trial_runs.csv", estimate=np.inf),
                          "trial_runs.csv: column 'estimate' holds inf"),
    "covered not boolean": (lambda o: _edit_csv(o / "trial_runs.csv", covered="maybe"),
                            "column 'covered' must be True or False"),
    # (without its store, which would refuse the edited file first: not the store's detail)
    "infinite group value": (lambda o: (shutil.rmtree(o / "store"),
                                        _edit_csv(o / "trial_groups.csv", trial=np.inf)),
                             "trial_groups.csv: outcome 'attendance' .* is infinite"),
    "group value edited": (lambda o: _edit_csv(o / "trial_groups.csv", trial=0.5),
                           "trial_groups.csv: not the group detail the trial's store keeps"),
    # rows deleted or a seed edited: the figure and table passed for the whole trial's
    "deleted replication": (lambda o: pd.read_csv(o / "trial_runs.csv").iloc[:-1]
                            .to_csv(o / "trial_runs.csv", index=False),
                            "trial_runs.csv: its rows are not the \\d+ replications"),
    "edited seed": (lambda o: _edit_csv(o / "trial_runs.csv", seed=5),
                    "trial_runs.csv: its rows are not the \\d+ replications and seeds"),
    # deleted while the store keeps the group detail: reported as "made by an older srmsim"
    "deleted group table": (lambda o: (o / "trial_groups.csv").unlink(),
                            "trial_groups.csv: missing, though the trial's store keeps its "
                            "group detail"),
    "duplicated group rows": (lambda o: pd.concat([pd.read_csv(o / "trial_groups.csv")] * 2)
                              .to_csv(o / "trial_groups.csv", index=False),
                              "trial_groups.csv: a group, outcome and replication appear twice"),
}


def report_refuses(folder: Path, tmp_path: Path, damage) -> None:
    """Copy a result folder, damage it: `srmsim report` exits 2 with a short message matching
    the pattern, no traceback, and leaves every file as it was."""
    from conftest import folder_bytes

    out = tmp_path / "out"
    shutil.copytree(folder, out)
    change, message = damage
    change(out)
    before = folder_bytes(out)
    proc = cli("report", str(out))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) <= 3
    assert re.search(message, proc.stderr), proc.stderr
    assert folder_bytes(out) == before


@pytest.mark.once
@pytest.mark.parametrize("damage", list(TRIAL_DAMAGES))
def test_damaged_trial_folder_gives_a_short_error_and_writes_nothing(trial_dir, tmp_path, damage):
    report_refuses(trial_dir, tmp_path, TRIAL_DAMAGES[damage])


RUN_DAMAGES = {
    "truncated summary.json": (lambda o: (o / "summary.json").write_text('{"a'),
                               "summary.json: unreadable"),
    "summary.json a list": (lambda o: (o / "summary.json").write_text("[]"),
                            "summary.json: not what srmsim writes"),
    "duplicate summary.json key": (lambda o: _duplicate_key(o / "summary.json", "seed", 1),
                                   "summary.json: unreadable \\(duplicate key 'seed'\\)"),
    "CSV text as students": (lambda o: (o / "students.parquet").write_text("a,b\n1,2\n"),
                             "students.parquet: unreadable"),
    "truncated weekly": (lambda o: (o / "weekly.parquet").write_bytes(
        (o / "weekly.parquet").read_bytes()[:300]), "weekly.parquet: unreadable"),
    "no sessions_possible": (lambda o: _drop_column(o / "students.parquet", "sessions_possible"),
                             "students.parquet: missing column \\['sessions_possible'\\]"),
    "text attendance": (lambda o: _edit_parquet(o / "students.parquet", sessions_attended="x"),
                        "column 'sessions_attended' holds 'x'"),
    "infinite attendance": (lambda o: _edit_parquet(o / "students.parquet",
                                                    sessions_attended=np.inf),
                            "column 'sessions_attended' holds inf"),
    "text weekly rate": (lambda o: _edit_parquet(o / "weekly.parquet", attendance_rate="x"),
                         "weekly.parquet: column 'attendance_rate' holds 'x'"),
    # summary.json fields of the wrong kind, scenario.yaml of another run: shown as this run's
    "text seed": (lambda o: _edit_summary(o, lambda s: s.update(seed="abc")),
                  "summary.json: seed is 'abc', not a whole number >= 0"),
    # emptied, cut or stripped tables still made a report of a trust with no weeks or students
    "emptied weekly": (lambda o: pd.read_parquet(o / "weekly.parquet").iloc[:0].to_parquet(
        o / "weekly.parquet"), "weekly.parquet: its rows are not one for each of the 2 "
        "schools in each of the 39 weeks run, as summary.json says"),
    "one school-week twice": (lambda o: _repeat_first_row(o / "weekly.parquet", ["school", "run_week"]),
                              "weekly.parquet: its rows are not one for each"),
    "weekly without the queue": (lambda o: _drop_column(o / "weekly.parquet", "queue_length"),
                                 "weekly.parquet: missing column \\['queue_length'\\]"),
    "weekly without withdrawals": (lambda o: _drop_column(o / "weekly.parquet", "withdrawals"),
                                   "weekly.parquet: missing column \\['withdrawals'\\]"),
    "students cut": (lambda o: pd.read_parquet(o / "students.parquet").iloc[:-1].to_parquet(
        o / "students.parquet"), "students.parquet: its rows are not the students summary.json "
        "counts"),
    "no weeks in summary.json": (lambda o: _edit_summary(o, lambda s: s.pop("weeks")),
                                 "summary.json: has no 'weeks'"),
    "negative schools": (lambda o: _edit_summary(o, lambda s: s.update(schools=-5)),
                         "summary.json: schools is '-5', not a whole number >= 0"),
    "another run's scenario.yaml": (
        lambda o: shutil.copy(REPO / "scenarios" / "england.yaml", o / "scenario.yaml"),
        "scenario.yaml: not the scenario this run was made from"),
    # numbers retyped as text: the report summed the strings (exit status 0)
    "numbers as text": (lambda o: _edit_parquet(
        o / "students.parquet",
        sessions_attended=pd.read_parquet(o / "students.parquet")["sessions_attended"].astype(str)),
        "students.parquet: column 'sessions_attended' holds text \\('\\d+' in data row 1\\)"),
}


def _edit_summary(out: Path, change) -> None:
    summary = json.loads((out / "summary.json").read_text())
    change(summary)
    (out / "summary.json").write_text(json.dumps(summary))


#: request streams' summary and tables: each was a traceback or an empty section (exit 0)
REQUESTS_RUN_DAMAGES = {
    "requests not a mapping": (lambda o: _edit_summary(o, lambda s: s.update(requests=[1])),
                               "summary.json: 'requests' is not a mapping"),
    "stream summary a number": (
        lambda o: _edit_summary(o, lambda s: s["requests"].update(certification=5)),
        "summary.json: 'requests' is not a mapping"),
    "text count": (lambda o: _edit_summary(
        o, lambda s: s["requests"]["certification"].update(completed="many")),
        "requests.certification.completed is 'many', not a whole number >= 0"),
    "missing count": (lambda o: _edit_summary(
        o, lambda s: s["requests"]["certification"].pop("arrivals")),
        "requests.certification.arrivals is 'None', not a whole number"),
    "text measure": (lambda o: _edit_summary(
        o, lambda s: s["requests"]["certification"].update(median_days="x")),
        "requests.certification.median_days is 'x', not a number"),
    "stream not in the tables": (lambda o: _edit_summary(
        o, lambda s: s.update(requests={"ghost": s["requests"]["certification"]})),
        "request stream 'ghost' has no rows in requests_weekly.parquet"),
    "no requests table": (lambda o: (o / "requests.parquet").unlink(),
                          "requests.parquet: unreadable"),
    "text waits": (lambda o: _edit_parquet(o / "requests.parquet", days_in_system="x"),
                   "requests.parquet: column 'days_in_system' holds 'x'"),
    "emptied requests": (lambda o: pd.read_parquet(o / "requests.parquet").iloc[:0].to_parquet(
        o / "requests.parquet"), "requests.parquet: the rows of stream 'certification' are not "
        "its backlog at the start and its arrivals"),
    "requests stripped": (lambda o: _drop_column(o / "requests.parquet", "staff_minutes"),
                          "requests.parquet: missing column \\['staff_minutes'\\]"),
    "a request twice": (lambda o: _repeat_first_row(o / "requests.parquet", ["request"]),
                        "a request or week twice"),
    "weeks cut from requests_weekly": (
        lambda o: pd.read_parquet(o / "requests_weekly.parquet").iloc[:-1].to_parquet(
            o / "requests_weekly.parquet"),
        "requests_weekly.parquet: stream 'certification' has not one row for each of the 39"),
    "weekly as text": (lambda o: pd.read_parquet(o / "requests_weekly.parquet").astype(str)
                       .to_parquet(o / "requests_weekly.parquet"),
                       "requests_weekly.parquet: column 'run_week' holds text"),
}


@pytest.mark.once
@pytest.mark.parametrize("damage", list(REQUESTS_RUN_DAMAGES))
def test_damaged_request_streams_give_a_short_error(requests_run_dir, tmp_path, damage):
    report_refuses(requests_run_dir, tmp_path, REQUESTS_RUN_DAMAGES[damage])


@pytest.mark.once
@pytest.mark.parametrize("damage", list(RUN_DAMAGES))
def test_damaged_run_folder_gives_a_short_error_and_writes_nothing(run_dir, tmp_path, damage):
    report_refuses(run_dir, tmp_path, RUN_DAMAGES[damage])


def test_oversized_or_device_json_is_refused_before_it_is_read(run_dir, experiment_dir, tmp_path,
                                                              monkeypatch):
    """A 100 MB summary.json was read whole, and a manifest.json linked to /dev/zero filled
    memory (gigabytes) until the process died: both are refused unread."""
    monkeypatch.setattr("srmsim.inputs.MAX_JSON_BYTES", 200)
    out = tmp_path / "run"
    shutil.copytree(run_dir, out)
    proc = cli("report", str(out))
    assert proc.returncode == 2 and "summary.json: unreadable" in proc.stderr, proc.stderr
    assert "larger than the 200-byte limit" in proc.stderr
    monkeypatch.undo()
    exp = tmp_path / "exp"
    shutil.copytree(experiment_dir[0], exp)
    (exp / "manifest.json").unlink()
    (exp / "manifest.json").symlink_to("/dev/zero")
    proc = cli("compare", str(exp))  # (a link in a results store is refused as one)
    assert proc.returncode == 2 and "manifest.json: is a symbolic link (to /dev/zero)" \
        in proc.stderr, proc.stderr
    (exp / "manifest.json").unlink()
    os.mkfifo(exp / "manifest.json")  # read, a pipe blocks for ever
    proc = cli("compare", str(exp))
    assert proc.returncode == 2 and "manifest.json: unreadable" in proc.stderr, proc.stderr
    assert "not a regular file" in proc.stderr


@pytest.mark.parametrize("record,message", [
    ('{"hash": "a", "hash": "b"}', "optimise.json: unreadable \\(duplicate key 'hash'\\)"),
    ("[1, 2]", "optimise.json: not an srmsim optimisation record"),
    ("{bad", "optimise.json: unreadable")])
def test_optimise_resume_refuses_a_damaged_record(optimise_dir, tmp_path, record, message):
    """`srmsim optimise --resume` read optimise.json with json.loads: invalid JSON or a list
    was a traceback, a duplicated key read as its last value."""
    from conftest import folder_bytes

    out = tmp_path / "out"
    shutil.copytree(optimise_dir, out)
    (out / "optimise.json").write_text(record)
    before = folder_bytes(out)
    proc = cli("optimise", str(optimise_dir.parent / "opt.yaml"), "--workers", "1", "--quiet",
               "--resume", "--out", str(out))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert re.search(message, proc.stderr), proc.stderr
    assert folder_bytes(out) == before


def test_report_out_naming_a_folder_is_a_short_error(run_dir, tmp_path):
    proc = cli("report", str(run_dir), "--out", str(tmp_path))
    assert proc.returncode == 2 and f"--out {tmp_path}: a folder" in proc.stderr  # named
    assert list(tmp_path.iterdir()) == []


@pytest.mark.once
def test_report_out_never_lands_in_a_dataset_folder(run_dir, tmp_path):
    """``srmsim report RUN --out DATA/dataset.json`` replaced an imported dataset's metadata
    with the page (the dataset was lost); any file in a dataset folder, however deep, is
    refused, the folder untouched."""
    data = tmp_path / "ds"
    (data / "sub").mkdir(parents=True)
    (data / "dataset.json").write_text('{"format": "srmsim-dataset"}\n')
    for out in (data / "dataset.json", data / "report.html", data / "sub" / "report.html"):
        proc = cli("report", str(run_dir), "--out", str(out))
        assert proc.returncode == 2 and "inside the dataset folder" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    assert (data / "dataset.json").read_text() == '{"format": "srmsim-dataset"}\n'
    assert sorted(p.name for p in data.rglob("*")) == ["dataset.json", "sub"]
    assert cli("report", str(run_dir), "--out", str(tmp_path / "report.html")).returncode == 0
    # a report replaces a report, never another file (the run's own students.parquet once)
    assert cli("report", str(run_dir), "--out", str(tmp_path / "report.html")).returncode == 0
    parquet = tmp_path / "students.parquet"
    parquet.write_bytes((run_dir / "students.parquet").read_bytes())
    proc = cli("report", str(run_dir), "--out", str(parquet))
    assert proc.returncode == 2 and "exists and is not a report srmsim wrote" in proc.stderr
    assert parquet.read_bytes() == (run_dir / "students.parquet").read_bytes()
    # nor a user's own HTML page: only a page carrying srmsim's generator tag is replaced
    page = tmp_path / "notes.html"
    page.write_text("<!DOCTYPE html><html><body>My notes on Year 9</body></html>\n")
    proc = cli("report", str(run_dir), "--out", str(page))
    assert proc.returncode == 2 and "exists and is not a report srmsim wrote" in proc.stderr
    assert page.read_text() == "<!DOCTYPE html><html><body>My notes on Year 9</body></html>\n"


@pytest.mark.once
def test_another_projects_dataset_json_does_not_block_outputs(run_dir, tmp_path):
    """Only srmsim's own datasets keep outputs out: a ``dataset.json`` of another kind (a
    machine-learning project's) in a parent folder does not refuse a report under it, while a
    damaged one (not JSON) is kept away from, as a dataset might be."""
    from srmsim.data.dataset import is_dataset_folder

    project = tmp_path / "project"
    (project / "results").mkdir(parents=True)
    (project / "dataset.json").write_text('{"name": "images", "splits": ["train"]}\n')
    assert not is_dataset_folder(project)
    out = project / "results" / "report.html"
    assert cli("report", str(run_dir), "--out", str(out)).returncode == 0 and out.is_file()
    (project / "dataset.json").write_text("{not json")
    assert is_dataset_folder(project)


def test_the_group_tables_say_their_intervals_are_not_adjusted(experiment_dir):
    """The report's effects by group and school are many intervals side by side (6 groups,
    each school, each outcome and variant): the page says they are not adjusted for multiple
    comparisons, as the headline table's note does for its verdicts."""
    out, _ = experiment_dir
    page = (out / "report.html").read_text()
    groups = page[page.index("Effects by group and by school"):]
    assert "not adjusted for multiple comparisons" in groups[:2000]


def test_trial_page_shows_the_summary_its_runs_give_not_the_csvs_rounding(trial_dir, tmp_path,
                                                                          monkeypatch):
    """trial_summary.csv keeps 10 digits: an analytic power of 0.99999999999 read back as 1
    showed '100.0%' on the page where `srmsim trial` printed '>99.9%'. The page shows the
    summary the runs give (the check against the file still holds at its precision)."""
    import srmsim.report.trial as rtrial
    from srmsim.trial.report import summarise

    copy = tmp_path / "t"
    shutil.copytree(trial_dir, copy)
    (copy / "report.html").unlink(missing_ok=True)
    real = summarise

    def nearly_one(*args, **kwargs):
        out = real(*args, **kwargs)
        row = out["measure"].str.startswith("rejection rate")
        out.loc[row, "value"] = 1 - 1e-11  # what the runs give, as the file rounds it to 1
        return out

    summary_file = pd.read_csv(copy / "trial_summary.csv")
    summary_file.loc[summary_file["measure"].str.startswith("rejection rate"), "value"] = 1.0
    summary_file.to_csv(copy / "trial_summary.csv", index=False)
    monkeypatch.setattr("srmsim.trial.report.summarise", nearly_one)
    html = rtrial.build(copy).render()
    row = next(line for line in html.split("<tr>") if "rejection rate (p &lt; 0.05)" in line)
    assert re.search(r"data-col='value'[^>]*>&gt;99\.9%</td>", row), row


def test_the_best_policys_heading_says_within_the_constraints_only_when_it_is():
    from srmsim.commands.optimise import best_heading

    assert best_heading("attendance", True, True) == \
        "best (the best attendance on re-evaluation, within the constraints)"
    assert best_heading("attendance", True, False) == "best (the best attendance on re-evaluation)"
    assert best_heading("staff hours", False, True) == "best (the best staff hours on re-evaluation)"
