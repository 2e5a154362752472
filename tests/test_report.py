"""Reports and readable results: `srmsim report` for a run, an experiment and a trial, opened in a
real (headless) browser; the outcome registry's units; user-defined outcomes; ``--set``."""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from browser import broken_images, browser, console_errors, requires_browser, screenshot

from srmsim.cli import main
from srmsim.experiment.outcomes import OUTCOMES, SCALES, format_difference, format_value

REPO = Path(__file__).resolve().parents[1]
SCENARIO = {
    "name": "tiny",
    "description": "Two small schools <b>not bold</b> & a text workflow",
    "trust": {"n_schools": 3, "students_per_year_group": 30, "size_cv": 0.0},
    "outputs": {"history": "none"},
    "policy": {
        "parameters": {"attendance_threshold": 0.9},
        "rules": {"low_attendance": {"when": "attendance_rate < attendance_threshold",
                                     "cadence": "half_termly"}},
        "workflows": {"attendance": {"trigger": "low_attendance", "steps": [
            {"action": "parent_text", "weeks": 3, "goal": "attendance(3) >= 0.9"},
            {"action": "parent_meeting", "weeks": 3}]}},
        "staff": {"school": {"pastoral": 300}},
    },
}
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
    assert format_value(float("nan"), "share") == "–"
    assert OUTCOMES["persistent_absence"].verdict(-0.02, -0.01) == "better"
    assert OUTCOMES["persistent_absence"].verdict(-0.02, 0.01) == "no clear change"
    assert OUTCOMES["attendance"].verdict(-0.02, -0.01) == "worse"
    assert OUTCOMES["cost"].verdict(10, 20) == "higher"
    # relative change only on ratio scales: not for a reading gap (months, can be negative)
    assert OUTCOMES["staff_hours"].ratio and not OUTCOMES["reading_gap_end"].ratio
    for o in OUTCOMES.values():  # every entry is complete
        assert o.label and o.description and o.scale in SCALES


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
    header = next(line for line in stdout.splitlines() if line.startswith("variant"))
    assert header.split() == ["variant", "outcome", "mean_baseline", "mean_variant",
                              "difference", "ci_low", "ci_high", "relative_change", "verdict"]
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


@pytest.mark.parametrize("custom, where", [
    ({"name": "x", "statistic": "mean", "of": "__import__('os')"}, "outcomes[1] (x)"),
    ({"name": "x", "statistic": "mean", "of": "attendance_rate", "where": "nonsense > 1"},
     "nonsense"),
    ({"name": "x", "statistic": "share", "of": "attendance_rate"}, "true/false"),
    ({"name": "x", "statistic": "percentile", "of": "attendance_rate"}, "q"),
    ({"name": "attendance", "statistic": "mean", "of": "attendance_rate"}, "built-in"),
    ({"name": "x", "statistic": "median", "of": "attendance_rate"}, "statistic"),
])
def test_bad_user_outcomes_are_clear_errors(tmp_path, custom, where):
    path = write_experiment(tmp_path, outcomes=["attendance", custom])
    proc = cli("experiment", str(path), "--out", str(tmp_path / "o"), "--quiet")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and str(path) in proc.stderr
    assert where in proc.stderr, proc.stderr


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


@requires_browser
def test_reports_open_in_a_browser_and_match_the_csv_files(experiment_dir, run_dir, trial_dir,
                                                           tmp_path):
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
    # the trial's resolved scenario keeps the --set values
    sc = yaml.safe_load((trial_dir / "scenario.yaml").read_text())
    assert sc["trust"]["n_schools"] == 2 and sc["trust"]["students_per_year_group"] == 50
