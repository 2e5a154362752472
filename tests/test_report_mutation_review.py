"""Mutation review of the reports (srmsim.report: run, experiment, trial, explore, requests,
words, files, page): every number a report shows equals the number in the table it comes from
(same rounding, units and interval level), direction words match the sign, intervals that include
zero are not priced as gains, hostile names stay inside their element or attribute, a report of
real data copied into a run folder is owner-only, and a partial study says so. Every expected
number is worked out here by hand (or by Wilson's formula), not taken from the code under test.

Mutations tried: 63 (run 10, requests 7, experiment 14, page 4, trial 9, explore 12, words 3,
files 2, report files 2), each alone. Against the existing report tests (test_report.py,
test_report_hostile_review.py, test_reports_review.py, test_reports_tidy.py; about 4 minutes
a mutant on the shared machine) 9 were run: 4 killed (cost per unit: direction, verdict,
students; a variant name unescaped in the headline), 5 survived (check_rows' school range, a
blank column of a two-column outcome, the served count, a group table's baseline row, its
interval level); the other 54 were run against this file only. This file kills 58 of the 63;
the variant-name mutant is the existing hostile-names test's, and 4 are equivalent or cosmetic
(below). Three defects were found and fixed (tests below): the trial figure's "95% CI" title
whatever analysis.alpha; sensitivity intervals called 95% whatever `--level`; an experiment page
that did not say runs had failed (and gave the fewest replications as every variant's).

Equivalent or left, and why:
- group table baseline from the last variant's record instead of the first: every variant's
  record of a group carries the same baseline mean (paired over the same replications).
- ``_small``'s whole-number threshold 10 -> 100: two significant digits of 10 to 99.9 need no
  decimals, the same text either way.
- ``short_names`` without its last, whole-key step: the fallback gives the whole keys too.
- the run page's "students" from summary.json instead of len(students.parquet): the two are
  checked equal; only the thousands separator (1,234 against 1234) differs.
"""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from test_experiment_mutation_review import _wilson

from srmsim.experiment.outcomes import OUTCOMES
from srmsim.report import experiment as rexp
from srmsim.report import explore as rexpl
from srmsim.report import requests as rreq
from srmsim.report import trial as rtrial
from srmsim.report.page import Page, esc

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"



def _cells(html: str, table_id: str, column: str) -> list[str]:
    """The text of a column's cells in the table ``table_id`` of a page (escaped text)."""
    table = re.search(rf"<table id='{table_id}'>.*?</table>", html, re.S)
    assert table, f"no table {table_id}"
    return re.findall(rf"<td[^>]*data-col='{re.escape(column)}'[^>]*>(.*?)</td>", table.group(0))


# ------------------------------------------------------------------------------------ trial
@pytest.fixture(scope="module")
def trial90(tmp_path_factory) -> Path:
    """A small school-randomised trial analysed at alpha 0.1 (90% intervals), written out."""
    from srmsim.trial import run_trial, trial_from_dict

    spec = {"name": "sweep", "scenario": "attendance_escalation.yaml",
            "overrides": {"trust.n_schools": 6, "trust.students_per_year_group": 15},
            "randomise": {"unit": "schools"}, "outcome": "attendance_rate", "replications": 2,
            "seed": 3, "analysis": {"alpha": 0.1}}
    out = tmp_path_factory.mktemp("trial90") / "out"
    run_trial(trial_from_dict(spec, "sweep-trial", SCENARIOS), workers=1).write(out)
    return out


def test_a_trial_at_alpha_0_1_is_reported_with_90_percent_intervals(trial90, monkeypatch):
    """The figure's title and the coverage sentence name the analysis's level: a trial at
    alpha 0.1 had its 90% intervals drawn under the title "Estimate and its 95% CI"."""
    import srmsim.trial.report as trial_report

    titles = []
    real = trial_report.plot

    def spy(runs, path=None, title="", **kw):
        titles.append(title)
        return real(runs, path, title, **kw)

    monkeypatch.setattr(trial_report, "plot", spy)
    html = rtrial.build(trial90).render()
    assert titles == ["Estimate and its 90% CI in each replication, against the true effect"]
    runs = pd.read_csv(trial90 / "trial_runs.csv")
    k, n = int(runs["covered"].sum()), len(runs)
    lo, hi = _wilson(k, n)
    from srmsim.labels import percent_of_runs

    assert (f"The 90% confidence interval covered the truth in {percent_of_runs(k / n)} of "
            f"replications (Monte-Carlo interval {percent_of_runs(lo)} to "
            f"{percent_of_runs(hi)})") in html
    # the Monte-Carlo intervals of the summary stay 95% (Wilson's at z = 1.96), as labelled
    assert "<th>95% interval</th>" in html
    assert _definition(html, "replications") == f"{n:,}"


def _summary(rows: list[tuple[str, float, float, float, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["measure", "value", "ci_low", "ci_high", "note"])


def test_trial_headline_puts_estimate_truth_and_bias_each_in_its_sentence():
    """Estimate, truth and the bias's interval ends each in their own place, and a trial whose
    true effect is 0 calls its rejection rate the false-positive rate, not power."""
    summary = _summary([
        ("mean estimate", 0.031, 0.02, 0.04, ""),
        ("mean true effect (ITT)", 0.012, 0.01, 0.014, ""),
        ("bias (estimate - truth)", 0.019, 0.005, 0.033, ""),
        ("coverage of the 80% CI", 0.75, 0.6, 0.85, "nominal 80%"),
        ("rejection rate (p < 0.2)", 0.25, 0.1, 0.4, "true effect 0: type I error, nominal 20%")])
    lines = rtrial.headline(summary, "share")
    assert lines[0] == ("The trial's analysis estimated +3.10 pp on average; the true effect in "
                        "the simulation was +1.20 pp.")
    assert lines[1] == "Bias (estimate minus truth): +1.90 pp (Monte-Carlo interval +0.50 pp to " \
                       "+3.30 pp)."
    assert lines[2] == ("The 80% confidence interval covered the truth in 75% of replications "
                        "(Monte-Carlo interval 60% to 85%).")
    assert lines[3].endswith("; with no true effect, this is the false-positive (type I error) "
                             "rate.")
    summary.loc[4, "note"] = "power"
    assert rtrial.headline(summary, "share")[3].endswith("; this is the trial's power.")


def test_trial_headline_of_one_replication_gives_no_empty_interval():
    """One replication has no Monte-Carlo interval of its bias: the sentence read "(Monte-Carlo
    interval – to –)"."""
    summary = _summary([("bias (estimate - truth)", -0.0025, np.nan, np.nan, "")])
    assert rtrial.headline(summary, "share") == [
        "Bias (estimate minus truth): -0.25 pp (one replication: no interval)."]


def _arm(students: float, served_share: float, cost: float, hours: float) -> pd.DataFrame:
    rows = [("students_served", served_share), ("cost", cost), ("staff_hours", hours)]
    return pd.DataFrame({"outcome": [r[0] for r in rows], "difference": [r[1] for r in rows],
                         "students": students})


def test_trial_cost_per_student_served_divides_by_students_not_a_share():
    """Students served is the served share times the treated arm (0.25 x 200 = 50), and the
    cost and hours per student served divide by those 50; with nobody served there is no
    per-student row (it was £inf)."""
    shown, raw = rtrial.resources_rows(_arm(200, 0.25, 1000.0, 30.0))
    table = dict(zip(shown["measure"], shown["value"], strict=True))
    assert table["treated-arm students"] == "200"
    assert table["students who received any action"] == "50"
    assert table["cost per student served"] == "£20"
    assert table["staff hours per student served"] == "0.6 h"
    assert raw["value"].tolist() == pytest.approx([200, 50, 1000, 30, 20, 0.6])
    shown, _ = rtrial.resources_rows(_arm(200, 0.0, 0.0, 0.0))
    assert "cost per student served" not in shown["measure"].tolist()


def test_trial_seeds_edited_in_trial_runs_are_refused(tmp_path):
    """trial_runs.csv's seeds must be trial.json's: the same replications with other seeds
    are other runs."""
    from srmsim.errors import SrmsimError

    runs = pd.DataFrame({"replication": [0, 1], "seed": [11, 12]})
    rtrial.check_replications(tmp_path, runs, [11, 12])
    with pytest.raises(SrmsimError, match="trial_runs.csv: its rows are not the 2 replications"):
        rtrial.check_replications(tmp_path, runs, [11, 13])
    with pytest.raises(SrmsimError, match="trial_runs.csv"):
        rtrial.check_replications(tmp_path, runs.iloc[[1, 0]], [11, 12])


def test_trial_run_time_sums_the_sessions(tmp_path):
    """A resumed trial ran in several sessions: its run time is their sum."""
    from srmsim.trial.store import TrialStore

    class Store:
        def manifest(self):
            return {"sessions": [{"seconds": 1.5}, {"seconds": 2.25}, {"seconds": 4}]}

    orig = TrialStore.of
    try:
        TrialStore.of = staticmethod(lambda path: Store())  # type: ignore[method-assign]
        assert rtrial._run_time(tmp_path, {}) == "7.8 s over 3 sessions"
    finally:
        TrialStore.of = orig  # type: ignore[method-assign]


# ------------------------------------------------------------------------------- experiment
def _effects(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["variant", "outcome", "mean_baseline", "mean_variant",
                                       "difference", "ci_low", "ci_high", "verdict"])


def test_cost_per_unit_counts_a_fall_in_a_lower_is_better_outcome_as_a_gain():
    """Persistent absence down 2 pp over 1,000 students is 20 students lifted out of it; £5,000
    extra and 40 staff hours make £250 and 2.0 h per student. An interval that includes zero
    ("no clear change") is no clear gain, not a price."""
    eff = _effects([
        ("v", "cost", 100.0, 5100.0, 5000.0, 4000.0, 6000.0, ""),
        ("v", "staff_hours", 10.0, 50.0, 40.0, 30.0, 50.0, ""),
        ("v", "persistent_absence", 0.20, 0.18, -0.02, -0.03, -0.01, "better"),
        ("v", "reading_gap_end", -5.0, -4.9, 0.1, -0.2, 0.4, "no clear change"),
    ])
    outcomes = [OUTCOMES[n] for n in ("cost", "staff_hours", "persistent_absence",
                                      "reading_gap_end")]
    table = rexp.cost_per_unit(eff, outcomes, {"v": 1000})
    assert table is not None
    pa, reading = table.iloc[0], table.iloc[1]
    assert pa["unit of improvement"] == OUTCOMES["persistent_absence"].gain
    assert pa["units gained over the run"] == "20"
    assert pa["cost per unit"] == "£250"
    assert pa["staff hours per unit"] == "2.0 h"
    assert reading["units gained over the run"] == "–"
    assert reading["cost per unit"] == reading["staff hours per unit"] == "no clear gain"


@pytest.mark.parametrize(("value", "scale", "shown"), [
    (12.34, "number", "12"), (12.34, "hours", "12 h"), (9.87, "number", "9.9"),
    (0.0123, "hours", "0.012 h"), (57.0, "number", "57")])
def test_per_unit_figures_keep_two_significant_digits_below_ten(value, scale, shown):
    """From 10 up a figure prints whole (12, not 12.3); below 10 with two significant digits."""
    assert rexp._small(value, scale) == shown


def test_queue_table_means_longest_and_shares_from_the_weeks():
    """Queue mean (one decimal) and longest queue of the weekly means, staff hours summed over
    the weeks (minutes / 60) and the share used of the minutes available, all worked out by
    hand."""
    weeks = pd.DataFrame({"variant": ["a"] * 3 + ["b"] * 3, "run_week": [0, 1, 2] * 2,
                          "queue_length": [1.0, 2.0, 4.0, 0.0, 0.0, 1.0],
                          "staff_minutes_used": [600.0, 1200.0, 1800.0, 60.0, 60.0, 60.0],
                          "staff_minutes_available": [2400.0] * 3 + [600.0] * 3})
    table = rexp.queue_table(weeks, ["a", "b"])
    a = table.iloc[0]
    assert a["mean queue (cases)"] == "2.3"  # 7 / 3
    assert a["longest queue (cases)"] == "4"
    assert a["staff hours used"] == "60 h"  # 3,600 minutes
    assert a["share of staff time used"] == "50.0%"  # 3,600 of 7,200 minutes
    assert table.iloc[1]["share of staff time used"] == "10.0%"


def _group_effects() -> pd.DataFrame:
    rows = []
    for group, base in (("FSM", 0.90), ("school 2", 0.93), ("school 10", 0.94)):
        for variant, d in (("x", 0.01), ("y", -0.02)):
            rows.append(("attendance", group, variant, base, base + d, d, d - 0.005, d + 0.005))
    return pd.DataFrame(rows, columns=["outcome", "group", "variant", "mean_baseline",
                                       "mean_variant", "difference", "ci_low", "ci_high"])


def test_group_table_shows_the_baseline_level_and_each_interval_at_its_level():
    """The baseline's level (not a variant's), each variant's difference with its interval,
    low end first, under a heading naming the interval's level."""
    table = rexp.group_table(_group_effects(), OUTCOMES["attendance"], ["FSM"], "none", "90%")
    row = table.iloc[0]
    assert row["none (level)"] == "90.0%"
    assert row["x (difference, 90% interval)"] == "+1.00 pp (+0.50 to +1.50)"
    assert row["y (difference, 90% interval)"] == "-2.00 pp (-2.50 to -1.50)"


def _experiment(ge: pd.DataFrame, level: float = 0.9) -> SimpleNamespace:
    return SimpleNamespace(
        group_effects=ge, students_per_run=lambda v: 100, outcomes=["attendance"],
        outcome=lambda n: OUTCOMES[n], level=level, baseline="none", variants=["none", "x", "y"],
        effects=_effects([
            ("x", "attendance", 0.90, 0.91, 0.01, 0.004, 0.016, "better"),
            ("x", "cost", 0.0, 900.0, 900.0, 800.0, 1000.0, "higher"),
            ("y", "attendance", 0.90, 0.90, 0.0, -0.002, 0.002, "no clear change")]))


def test_school_rows_are_in_number_order_and_intervals_at_the_experiments_level():
    """school 2 before school 10 (as numbers, not as text), and the group table's heading
    names the experiment's level (90%), not the default 95%."""
    page = Page("t")
    rexp.groups_section(page, _experiment(_group_effects()))
    html = "".join(page.parts)
    assert html.index(">school 2<") < html.index(">school 10<")
    assert "x (difference, 90% interval)" in html and "95% interval" not in html


def test_headline_sentences_give_each_effect_with_its_interval_and_skip_resources():
    """One sentence per outcome with a better direction: cost is not one; the interval runs
    from its low end to its high end at the experiment's level."""
    out = rexp.headline_sentences(_experiment(_group_effects()))
    assert out["x"] == ["Attendance: 90.0% → 91.0%, +1.00 pp (90% simulation interval +0.40 "
                        "to +1.60): better."]
    assert out["y"] == ["Attendance: 90.0% → 90.0%, ±0.00 pp (90% simulation interval -0.20 "
                        "to +0.20): no clear change."]



def test_a_headline_of_one_replication_gives_no_empty_interval():
    """One replication has no interval: the sentence read "+1.00 pp (90% simulation interval –
    to –): one run: no interval."."""
    res = _experiment(_group_effects())
    res.effects = _effects([("x", "attendance", 0.90, 0.91, 0.01, np.nan, np.nan,
                             "one run: no interval")])
    assert rexp.headline_sentences(res)["x"] == [
        "Attendance: 90.0% → 91.0%, +1.00 pp: one run: no interval."]


def test_a_group_row_without_an_interval_or_a_difference_says_so():
    """A group measured in one replication has no interval, and in none no difference: the
    cells read "+1.00 pp (– to –)" and "– (– to –)"."""
    ge = _group_effects()
    ge.loc[ge["variant"] == "x", ["ci_low", "ci_high"]] = np.nan
    ge.loc[ge["variant"] == "y", ["difference", "ci_low", "ci_high"]] = np.nan
    row = rexp.group_table(ge, OUTCOMES["attendance"], ["FSM"], "none", "95%").iloc[0]
    assert row["x (difference, 95% interval)"] == "+1.00 pp (no interval: one replication)"
    assert row["y (difference, 95% interval)"] == "not measured"

# ---------------------------------------------------------------------------------- requests
def _stream(**changes) -> dict:
    s = {"backlog_start": 300, "arrivals": 1234, "completed": 1100, "dropped": 34,
         "backlog_end": 400, "median_days": 12.34, "p90_days": 30.06, "p99_days": 55.56,
         "oldest_open_days": 80.0, "throughput_per_week": 21.16, "staff_hours": 512.0,
         "deadline_days": 20, "within_deadline": 0.6234}
    s.update(changes)
    return s


def test_stream_rows_put_each_summary_number_in_its_row_with_its_unit():
    """Each row shows its own summary.json number: counts with separators, waits in days to
    one decimal, the share within the deadline as a percentage."""
    rows = {m: shown for m, shown, _ in rreq.stream_rows(_stream())}
    assert rows["arrivals"] == "1,234"
    assert rows["completed"] == "1,100"
    assert rows["dropped (requester gave up)"] == "34"
    assert rows["median wait"] == "12.3 days"
    assert rows["90th percentile wait"] == "30.1 days"
    assert rows["99th percentile wait"] == "55.6 days"
    assert rows["throughput"] == "21.2 requests a week"
    assert rows["completed within the deadline (20 days)"] == "62.3%"
    assert "completed within the deadline" not in " ".join(
        m for m, _, _ in rreq.stream_rows(_stream(deadline_days=None)))


def test_utilisation_table_gives_hours_from_minutes():
    """Staff minutes summed over the weeks, shown in hours (6,000 minutes = 100 h)."""
    weekly = pd.DataFrame({"staff_minutes_used_clerk": [1000.0, 2000.0, 3000.0],
                           "staff_minutes_available_clerk": [2400.0] * 3})
    table = rreq.utilisation_table(weekly, {"utilisation_clerk": 0.8333})
    row = table.iloc[0]
    assert row["hours used"] == OUTCOMES["staff_hours"].format_value(100.0) == "100 h"
    assert row["hours available"] == "120 h"
    assert row["utilisation"] == "83.3%"


def test_backlog_table_reads_the_last_week_whatever_the_row_order():
    """The backlog at the end is the last week's, the mean the mean over weeks, the peak their
    largest, with rows in any order."""
    weeks = pd.DataFrame({"variant": ["a"] * 4, "run_week": [3, 0, 2, 1],
                          "backlog_s": [7.0, 10.0, 1.0, 2.0]})
    shown, raw = rreq.backlog_table(weeks, ["a"], "backlog_s")
    assert shown.iloc[0].tolist() == ["a", "5.0", "10.0", "7.0"]
    assert raw.iloc[0].tolist() == [5.0, 10.0, 7.0]


# -------------------------------------------------------------------------------------- page
class _Cells(__import__("html.parser").parser.HTMLParser):
    """Every element's attributes as a browser reads them."""

    def __init__(self):
        super().__init__()
        self.attrs: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.attrs.append((tag, dict(attrs)))


def test_a_name_with_quotes_stays_inside_its_attribute():
    """A column or table name with a single quote cannot close the attribute it is written in
    and add one of its own (an onmouseover handler)."""
    name = "x' onmouseover='alert(1)"
    page = Page("t")
    page.table(pd.DataFrame({name: ["1"]}), table_id=name)
    parser = _Cells()
    parser.feed("".join(page.parts))
    tds = [a for tag, a in parser.attrs if tag == "td"]
    assert tds == [{"data-col": name}]
    assert [a for tag, a in parser.attrs if tag == "table"] == [{"id": name}]
    assert "'" not in esc(name) and '"' not in esc('"')


def test_table_cells_keep_their_unrounded_value_and_only_verdicts_get_a_colour():
    """``data-value`` keeps 10 significant digits (readers check the page against the CSV
    files), and only "better" and "worse" cells are coloured."""
    page = Page("t")
    page.table(pd.DataFrame({"v": ["0.12", "x", "y"], "verdict": ["better", "worse",
                                                                  "no clear change"]}),
               verdict="verdict", raw=pd.DataFrame({"v": [0.123456789012, 1.0, 2.0]}))
    parser = _Cells()
    parser.feed("".join(page.parts))
    tds = [a for tag, a in parser.attrs if tag == "td"]
    assert float(tds[0]["data-value"]) == pytest.approx(0.123456789012, rel=1e-10)
    assert [a.get("class") for a in tds[1::2]] == ["better", "worse", None]


def test_definition_values_are_escaped():
    page = Page("t")
    page.definitions([("seed", "<b>1</b>")])
    assert "<b>" not in "".join(page.parts[1:]) and "&lt;b&gt;1&lt;/b&gt;" in page.parts[1]


# --------------------------------------------------------------------------------------- run
def _cli(*args: str) -> None:
    import contextlib
    import io

    from srmsim.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    assert code == 0, err.getvalue()


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    """A run of two small schools with a policy (its students, events and weekly tables)."""
    import yaml
    from conftest import tiny_policy_scenario

    tmp = tmp_path_factory.mktemp("run")
    (tmp / "tiny.yaml").write_text(yaml.safe_dump(tiny_policy_scenario(
        trust={"n_schools": 2, "students_per_year_group": 20, "size_cv": 0.0},
        population={"fsm_rate": 0.4})))
    _cli("run", str(tmp / "tiny.yaml"), "--quiet", "--out", str(tmp / "out"))
    return tmp / "out"


def _definition(html: str, name: str) -> str:
    found = re.findall(rf"<tr><th>{re.escape(name)}</th><td>(.*?)</td></tr>", html)
    assert len(found) == 1, name
    return found[0]


def test_run_cost_section_counts_served_students_from_the_students_table(run_folder):
    """Students who received any action are those with an intervention (not every student);
    staff hours are the minutes over 60, and the per-student figures divide by the served."""
    from srmsim.report.run import build

    s = pd.read_parquet(run_folder / "students.parquet")
    served = int((s["interventions"] > 0).sum())
    assert 0 < served < len(s)  # the run tells the two apart
    html = build(run_folder).render()
    hours = s["staff_minutes"].sum() / 60
    assert _definition(html, "students who received any action") == f"{served:,}"
    assert _definition(html, "staff hours") == OUTCOMES["staff_hours"].format_value(hours)
    assert _definition(html, "cost per student served") == OUTCOMES["cost"].format_value(
        s["cost"].sum() / served)
    assert _definition(html, "staff hours per student served") == f"{hours / served:,.1f} h"
    assert _definition(html, "students") == f"{len(s):,}"


def test_run_group_rows_count_the_groups_own_students(run_folder):
    """The "number" of each group row is that group's students (FSM, not FSM, each school),
    counted here from students.parquet."""
    from srmsim.report.run import _Run, group_frame

    s = pd.read_parquet(run_folder / "students.parquet")
    table = group_frame(_Run(run_folder), ["attendance"]).set_index("students")["number"]
    assert table["FSM"] == f"{int(s['fsm'].sum()):,}"
    assert table["not FSM"] == f"{int((~s['fsm'].astype(bool)).sum()):,}"
    assert table["school 0"] == f"{int((s['school'] == 0).sum()):,}"
    assert int(table["FSM"]) + int(table["not FSM"]) == len(s)


def test_an_outcome_with_one_of_its_columns_never_recorded_is_not_measured(run_folder):
    """Attendance reads sessions_possible and sessions_attended: with the second blank for
    every student it is "not measured", not 0.0% (sessions attended summed to 0)."""
    from srmsim.report.run import NOT_MEASURED, _Run, headline_rows

    run = _Run(run_folder)
    run.students = run.students.assign(sessions_attended=np.nan)
    shown, raw = headline_rows(run, ["attendance", "persistent_absence"])
    assert shown["value"].tolist()[0] == NOT_MEASURED and math.isnan(raw["value"][0])
    assert shown["value"].tolist()[1] != NOT_MEASURED


def test_weekly_rows_of_schools_numbered_from_one_are_refused(run_folder):
    """weekly.parquet's schools are 0 to n - 1: a table whose schools run 1 to n (one school's
    rows replaced by another's) is not the run's."""
    from srmsim.errors import SrmsimError
    from srmsim.report.run import check_rows

    summary = {"schools": 2, "weeks": 2, "students": 3}
    students = pd.DataFrame({"x": [1, 2, 3]})
    good = pd.DataFrame({"school": [0, 0, 1, 1], "run_week": [0, 1, 0, 1]})
    check_rows(run_folder, summary, students, good)
    with pytest.raises(SrmsimError, match="weekly.parquet: its rows are not one for each"):
        check_rows(run_folder, summary, students, good.assign(school=good["school"] + 1))
    with pytest.raises(SrmsimError, match="weekly.parquet"):
        check_rows(run_folder, summary, students, good.assign(run_week=good["run_week"] + 1))


# ----------------------------------------------------------------------------------- explore
def test_sobol_and_morris_intervals_are_the_estimate_plus_and_minus_its_half_width():
    """sensitivity.csv keeps each interval's half-width: S1 0.40 with 0.15 is 0.25 to 0.55, and
    a Morris mu* interval is ± its half-width in the outcome's unit."""
    sobol = pd.DataFrame({"target": ["v"], "outcome": ["attendance"], "parameter": ["p"],
                          "method": ["sobol"], "S1": [0.40], "S1_conf": [0.15], "ST": [0.5],
                          "ST_conf": [0.05]})
    shown, raw, morris = rexpl.sensitivity_table(sobol, {})
    assert not morris
    assert shown.iloc[0]["S1 95% interval"] == "0.25 to 0.55"
    assert shown.iloc[0]["ST 95% interval"] == "0.45 to 0.55"
    morris_t = pd.DataFrame({"target": ["v"], "outcome": ["attendance"], "parameter": ["p"],
                             "method": ["morris"], "mu_star": [0.02], "mu_star_conf": [0.005],
                             "sigma": [0.01]})
    shown, _, morris = rexpl.sensitivity_table(morris_t, {})
    assert morris
    assert shown.iloc[0]["mu*"] == "2.00 pp"
    assert shown.iloc[0]["mu* 95% interval"] == "± 0.50 pp"
    assert shown.iloc[0]["sigma"] == "1.00 pp"


def test_a_parameter_with_one_index_left_blank_is_still_shown(tmp_path):
    """Only an outcome with every index blank (it did not vary) is left out of the table; one
    with S1 blank and ST measured is shown, with a dash for S1."""
    from srmsim.explore.sensitivity import COLUMNS

    rows = [{"target": "v", "variant": "v", "outcome": "attendance", "parameter": "p",
             "method": "sobol", "S1": math.nan, "S1_conf": math.nan, "ST": 0.3, "ST_conf": 0.1},
            {"target": "v", "variant": "v", "outcome": "staff_hours", "parameter": "p",
             "method": "sobol"}]
    pd.DataFrame(rows, columns=COLUMNS).to_csv(tmp_path / "sensitivity.csv", index=False)
    page = Page("t")
    rexpl.sensitivity_section(page, tmp_path, {})
    html = "".join(page.parts)
    assert _cells(html, "sensitivity", "total ST") == ["0.30"]
    assert _cells(html, "sensitivity", "first-order S1") == ["–"]
    assert "did not vary with the uncertain parameters (nothing to apportion): v: Staff hours." \
        in html


def test_leaves_and_regret_columns_hold_their_own_numbers():
    """Coverage and density of a CART leaf, and the 90th percentile and worst regret, each in
    its own column."""
    cart = pd.DataFrame({"box": ["a < 1"], "runs": [1200], "cases": [30], "coverage": [0.6],
                         "density": [0.025]})
    row = rexpl.leaves_display(cart).iloc[0]
    assert (row["runs"], row["runs where it holds"], row["coverage"], row["density"]) == \
        ("1,200", "30", "60%", "2%")
    reg = pd.DataFrame({"policy": ["p"], "objective": ["attendance"], "mean_regret": [0.001],
                        "p90_regret": [0.002], "max_regret": [0.004]})
    row = rexpl.regret_display(reg).iloc[0]
    assert (row["mean regret"], row["90th percentile"], row["worst"]) == \
        ("0.10 pp", "0.20 pp", "0.40 pp")


def test_a_yes_no_lever_reads_yes_not_1():
    assert rexpl.lever_text(True) == "yes" and rexpl.lever_text(np.bool_(False)) == "no"
    assert rexpl.lever_text(1) == "1" and rexpl.lever_text(1035) == "1,035"


def _discovery(folder: Path, runs: int, cases: int) -> None:
    import json

    d = folder / "discovery"
    d.mkdir(parents=True)
    (d / "discovery.json").write_text(json.dumps({"box": 1, "runs": runs, "cases": cases,
                                                  "condition": "x < 1", "variant": "v"}))
    pd.DataFrame({"parameter": ["p"], "low": [0.1], "high": [0.2], "range_low": [0.0],
                  "range_high": [1.0], "quasi_p": [0.01]}).to_csv(d / "prim_box.csv",
                                                                   index=False)
    pd.DataFrame({"box": [0, 1], "coverage": [1.0, 0.8], "density": [0.25, 0.5],
                  "mass": [1.0, 0.4], "res_dim": [0, 1], "runs": [40, 16],
                  "cases": [10, 8]}).to_csv(d / "prim_trajectory.csv", index=False)
    pd.DataFrame({"box": ["p < 0.2"], "runs": [16], "cases": [8], "coverage": [0.8],
                  "density": [0.5]}).to_csv(d / "cart_leaves.csv", index=False)


def test_discovery_reports_the_chosen_boxs_coverage_density_and_mass(tmp_path):
    """The box discovery.json names (box 1), with its own coverage, density and mass, and the
    share of runs where the condition holds (10 of 40: 25%)."""
    _discovery(tmp_path, 40, 10)
    page = Page("t")
    rexpl.discovery_section(page, tmp_path)
    html = "".join(page.parts)
    assert "it holds in 10 of 40 runs (25%)." in html
    assert _definition(html, "coverage") == "80%"
    assert _definition(html, "density") == "50%"
    assert _definition(html, "mass") == "40% (16 runs, 8 where the condition holds)"


def test_discovery_of_no_runs_gives_no_share(tmp_path):
    _discovery(tmp_path, 0, 0)
    page = Page("t")
    rexpl.discovery_section(page, tmp_path)
    assert "it holds in 0 of 0 runs.</p>" in "".join(page.parts)


def _optimise(folder: Path, **meta) -> None:
    import json

    folder.mkdir()
    data = {"name": "o", "finished": "2026-01-01", "objectives": {"attendance": "maximise"},
            "levers": ["policy.parameters.t"], "replications": 2,
            "constraints": {"cost": {"min": 100, "max": 5000}}, "reevaluate_replications": 4}
    data.update(meta)
    (folder / "optimise.json").write_text(json.dumps(data))
    trials = pd.DataFrame({"trial": [0, 1], "policy.parameters.t": [0.8, 0.9],
                           "attendance": [0.92, 0.93], "feasible": [True, True],
                           "pareto": [False, True]})
    trials.to_csv(folder / "trials.csv", index=False)
    trials[trials["pareto"]].to_csv(folder / "pareto.csv", index=False)  # as optimise writes it
    pd.DataFrame({"policy": ["trial-00001"], "objective": ["attendance"], "mean_regret": [0.0],
                  "p90_regret": [0.0], "max_regret": [0.0], "states": [3]}).to_csv(
        folder / "regret.csv", index=False)


def test_optimise_report_states_constraints_and_a_partial_comparison(tmp_path):
    """A minimum is "at least", a maximum "at most"; a regret over 3 of 4 states says so."""
    _optimise(tmp_path / "o")
    html = rexpl.build_optimise(tmp_path / "o").render()
    assert _definition(html, "constraints") == "Cost at least £100 and at most £5,000"
    assert "Attendance: only the 3 of 4 states where every policy" in html
    _optimise(tmp_path / "all", reevaluate_replications=3)
    assert "only the" not in rexpl.build_optimise(tmp_path / "all").render()


def test_an_unfinished_search_is_reported_as_unfinished(tmp_path):
    """A search stopped before the end (optimise.json not finished) says so, even where an
    earlier pareto.csv is in the folder, instead of showing a front of part of the search."""
    _optimise(tmp_path / "o", finished=None)
    html = rexpl.build_optimise(tmp_path / "o").render()
    assert "The search has not finished" in html and "Pareto front" not in html


# ------------------------------------------------------------------------------------- words
def test_words_name_the_year_groups_the_workflows_switched_on_and_the_deadline():
    """Years 7 to 11 are the first and last year group; a workflow switched off is not
    described as referring anyone; a request stream's deadline is stated in days."""
    from conftest import tiny_policy_scenario

    from srmsim.report.words import describe_policy, describe_requests, describe_trust
    from srmsim.scenario import load_scenario, scenario_from_dict

    spec = tiny_policy_scenario(trust={"n_schools": 2, "students_per_year_group": 20,
                                       "year_groups": [7, 8, 9, 10, 11]})
    assert "(Years 7 to 11;" in describe_trust(scenario_from_dict(spec, "t"))
    spec["policy"]["workflows"]["attendance"]["enabled"] = False
    assert describe_policy(scenario_from_dict(spec, "t")) == (
        "A policy whose workflows are all switched off (nobody is referred).")
    stream = describe_requests(load_scenario(SCENARIOS / "certification_backlog.yaml"))
    assert len(stream) == 1 and "; deadline 28 days." in stream[0]


# ------------------------------------------------------------------------------------- files
def test_counts_from_json_are_whole_and_at_most_2_to_the_53():
    from srmsim.errors import SrmsimError
    from srmsim.report.files import MAX_COUNT, json_count, school_number

    assert json_count({"n": 2**53}, "n", Path("f.json")) == 2**53
    for bad in (2**53 + 1, -1, 1.5, True):
        with pytest.raises(SrmsimError, match=r"f.json: n is .*not a whole number >= 0"):
            json_count({"n": bad}, "n", Path("f.json"))
    assert MAX_COUNT == 2**53
    assert [school_number(g) for g in ("school 2", "school 10", "school x", "school ٣",
                                       "school " + "9" * 10)] == [2, 10, 10**9, 10**9, 10**9]


# ------------------------------------------------------------------------------ report files
def test_the_report_of_a_run_with_real_data_copied_in_is_owner_only(run_folder, tmp_path):
    """A run folder whose students.parquet is not the one its run wrote is treated as real
    data: its report is written 0600 (and says so); the run's own report follows the umask."""
    import os
    import stat

    from srmsim.report import write_report

    folder = tmp_path / "run"
    shutil.copytree(run_folder, folder)
    umask = os.umask(0o022)
    try:
        own = write_report(folder, tmp_path / "own.html")
        assert stat.S_IMODE(own.stat().st_mode) == 0o644
        os.umask(0o027)
        assert stat.S_IMODE(write_report(folder, tmp_path / "g.html").stat().st_mode) == 0o640
        s = pd.read_parquet(folder / "students.parquet")
        s.iloc[::-1].reset_index(drop=True).to_parquet(folder / "students.parquet")
        copied = write_report(folder, tmp_path / "copied.html")
        assert stat.S_IMODE(copied.stat().st_mode) == 0o600
    finally:
        os.umask(umask)


def _sensitivity_csv(folder: Path, **extra) -> None:
    from srmsim.explore.sensitivity import COLUMNS

    row = {"target": "v", "variant": "v", "outcome": "attendance", "parameter": "p",
           "method": "sobol", "S1": 0.4, "S1_conf": 0.1, "ST": 0.5, "ST_conf": 0.1, **extra}
    pd.DataFrame([row], columns=[c for c in COLUMNS if c in row or c != "level"]).to_csv(
        folder / "sensitivity.csv", index=False)


def test_sensitivity_intervals_are_named_at_the_level_they_were_computed(tmp_path):
    """`srmsim sensitivity --level 0.9` writes 90% intervals (sensitivity.csv's level column):
    the report called them 95% in its headings, words and caption. A file of an older srmsim,
    without the column, keeps the default's 95%."""
    _sensitivity_csv(tmp_path, level=0.9)
    page = Page("t")
    rexpl.sensitivity_section(page, tmp_path, {})
    html = "".join(page.parts)
    assert "<th>S1 90% interval</th>" in html and "<th>ST 90% interval</th>" in html
    assert "wide 90% bootstrap intervals" in html and "with their 90% intervals" in html
    assert "95%" not in html
    _sensitivity_csv(tmp_path)
    page = Page("t")
    rexpl.sensitivity_section(page, tmp_path, {})
    assert "<th>S1 95% interval</th>" in "".join(page.parts)


def test_a_sensitivity_level_edited_out_of_range_is_refused(tmp_path):
    from srmsim.errors import SrmsimError

    _sensitivity_csv(tmp_path, level=95)
    with pytest.raises(SrmsimError, match="sensitivity.csv: column 'level' does not hold one"):
        rexpl.sensitivity_section(Page("t"), tmp_path, {})


def test_the_sensitivity_command_records_its_level(monkeypatch, tmp_path):
    """sensitivity() writes the level it computed the intervals at beside them."""
    from srmsim.explore import sensitivity as sens

    seen = {}

    def indices(x, y, bounds, design, level, seed):
        seen["level"] = level
        frame = pd.DataFrame({"parameter": ["p"], "method": ["sobol"], "S1": [0.1]})
        frame.attrs["pairs"] = pd.DataFrame(columns=["parameter", "other", "S2", "S2_conf"])
        return frame

    class Explored:
        def __init__(self, path):
            self.path, self.design, self.outcomes = path, {"method": "sobol"}, ["attendance"]
            self.variants, self.baseline = ["v"], "v"
            self.parameters = pd.DataFrame({"p": [0.5]}, index=[0])
            self.names, self.bounds = ["p"], [[0, 1]]

        def variant(self, v):
            return v

        def outcome_table(self, v):
            return pd.DataFrame({"attendance": [0.9]}, index=[0])

        def complete_replications(self, v):
            return [0]

    monkeypatch.setattr(sens, "indices", indices)
    monkeypatch.setattr(sens, "Explored", Explored)
    table = sens.sensitivity(tmp_path, level=0.8)
    assert seen["level"] == 0.8 and table["level"].tolist() == [0.8]


# ------------------------------------------------------------------------ experiment folders
@pytest.fixture(scope="module")
def small_experiment(tmp_path_factory) -> Path:
    """Three replications of a policy against none, on one small school."""
    import yaml
    from conftest import tiny_policy_scenario

    tmp = tmp_path_factory.mktemp("exp")
    (tmp / "tiny.yaml").write_text(yaml.safe_dump(tiny_policy_scenario(
        trust={"n_schools": 1, "students_per_year_group": 15, "size_cv": 0.0})))
    (tmp / "exp.yaml").write_text(yaml.safe_dump({
        "name": "small", "scenario": "tiny.yaml", "baseline": "none", "replications": 3,
        "seed": 5, "outcomes": ["attendance", "cost"],
        "variants": {"none": {"policy": None}, "texts": {}}}, sort_keys=False))
    _cli("experiment", str(tmp / "exp.yaml"), "--workers", "1", "--quiet", "--no-report",
         "--out", str(tmp / "out"))
    return tmp / "out"


def test_an_experiment_report_says_which_runs_failed(small_experiment, tmp_path):
    """A failed run is left out of every number: the page says so and which (only `srmsim
    report`'s printout did), and gives each variant's replications as they are (it said "2 per
    variant" of an experiment of three, one of whose runs failed)."""
    from test_report import _fail

    from srmsim.experiment.result import ExperimentResult

    out = tmp_path / "out"
    shutil.copytree(small_experiment, out)
    whole_page = rexp.build(ExperimentResult.load(out)).render()
    assert "failed" not in whole_page
    assert _definition(whole_page, "replications").startswith("3 per variant")
    _fail(out, "texts", 1)
    html = rexp.build(ExperimentResult.load(out)).render()
    assert ("note: 1 failed run is left out of this analysis: &#x27;texts&#x27; replication 1 "
            "(errors in the folder&#x27;s failures/)") in html
    assert _definition(html, "replications").startswith("2 to 3 per variant")
    assert _definition(html, "replications").endswith("; 1 run failed")
    assert "Every variant was run 2 to 3 times (some runs failed)." in html


def test_the_trial_figure_by_group_is_of_the_trials_own_outcome(trial90, monkeypatch):
    """The by-group figure shows the outcome the trial analysed (attendance_rate: attendance),
    not the first outcome of the table."""
    seen = []
    real = rtrial.group_figure

    def spy(eff, o, *args, **kwargs):
        seen.append(o.name)
        return real(eff, o, *args, **kwargs)

    monkeypatch.setattr(rtrial, "group_figure", spy)
    monkeypatch.setattr(rtrial, "TRUTH_OUTCOMES", ["persistent_absence", "attendance", "cost",
                                                   "staff_hours", "students_served"])
    rtrial.build(trial90)
    assert seen == ["attendance"]


def test_resource_table_gives_the_mean_over_replications():
    """Cost per variant is the mean of its runs (£100, £200, £600: £300, where the median is
    £200)."""
    runs = pd.DataFrame({"variant": ["a"] * 3, "replication": [0, 1, 2],
                         "cost": [100.0, 200.0, 600.0]})
    res = SimpleNamespace(runs=runs, variants=["a"], outcomes=["cost"],
                          outcome=lambda n: OUTCOMES[n], students_per_run=lambda v: 1500)
    row = rexp.resource_table(res).iloc[0]
    assert row["Cost"] == "£300" and row["students in the trust (mean per run)"] == "1,500"


def test_a_run_of_seed_0_is_reported(tmp_path):
    """Seed 0 is a seed like any other: only a negative or fractional one is refused."""
    from srmsim.errors import SrmsimError
    from srmsim.report.run import check_summary

    check_summary(tmp_path, {"seed": 0, "schools": 0, "weeks": 0, "students": 0}, None)
    with pytest.raises(SrmsimError, match="seed is '-1', not a whole number >= 0"):
        check_summary(tmp_path, {"seed": -1}, None)


def test_a_streams_requests_are_its_backlog_and_its_arrivals(tmp_path):
    """requests.parquet holds each stream's backlog at the start and its arrivals: with the
    backlog's rows deleted it is not the run's."""
    from srmsim.errors import SrmsimError
    from srmsim.report.run import check_stream_rows

    run = {"weeks": 2, "requests": {"s": {"backlog_start": 2, "arrivals": 3}}}
    weekly = pd.DataFrame({"stream": ["s", "s"], "run_week": [0, 1]})
    requests = pd.DataFrame({"stream": ["s"] * 5, "request": range(5)})
    check_stream_rows(tmp_path, run, requests, weekly)
    with pytest.raises(SrmsimError, match="are not its backlog at the start and its arrivals"):
        check_stream_rows(tmp_path, run, requests.iloc[2:], weekly)


def test_recorded_times_read_as_the_pages_write_times(tmp_path):
    # the experiment page said 'created 2026-12-06T16:13:55', the run page 'made 2026-12-06 16:13'
    from srmsim.report.files import json_time

    where = tmp_path / "manifest.json"
    assert json_time({"created": "2026-12-06T16:13:55"}, "created", where) == "2026-12-06 16:13"
    assert json_time({"created": "2026-12-06T16:13:55.123+00:00"}, "created", where) == \
        "2026-12-06 16:13"
    assert json_time({"created": "last week"}, "created", where) == "last week"
    assert json_time({}, "created", where, "?") == "?"


def test_the_run_reports_queue_figure_counts_cases_not_students(run_folder):
    """Its lines are the weekly reports' queue_length and active_cases and its bars their
    referrals: cases, one per student and workflow (the caption says a student in two workflows
    is two cases); the axis said "students"."""
    from srmsim.report.run import _Run, workload_figure

    run = _Run(run_folder)
    fig = workload_figure(run)
    ax = fig.axes[0]
    w = run.weekly.groupby("run_week")[["queue_length", "active_cases"]].sum()
    lines = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    np.testing.assert_array_equal(lines["open cases"], w["active_cases"])
    np.testing.assert_array_equal(lines["waiting for an action"], w["queue_length"])
    assert ax.get_ylabel() == "cases"


def test_the_group_figure_says_which_rows_have_no_interval_or_no_difference():
    """A group measured in one replication was a bare point, one measured in none an empty
    row; each now says so beside its row, inside the axes."""
    ge = _group_effects()
    ge.loc[ge["variant"] == "x", ["ci_low", "ci_high"]] = np.nan
    ge.loc[(ge["variant"] == "y") & (ge["group"] == "FSM"), ["difference", "ci_low",
                                                            "ci_high"]] = np.nan
    fig = rexp.group_figure(ge, OUTCOMES["attendance"], ["FSM", "school 2"], "none", ["x", "y"])
    fig.canvas.draw()
    (ax,) = fig.axes
    rows = {round(t.get_position()[1]): t.get_text() for t in ax.get_yticklabels()}
    notes = {rows[round(t.xy[1] if hasattr(t, "xy") else t.get_position()[1])]: t.get_text()
             for t in ax.texts if t.get_text() != "better: higher →"}
    assert notes == {"FSM: x": "no interval: one replication", "FSM: y": "not measured",
                     "school 2: x": "no interval: one replication"}
    inside = ax.get_window_extent()
    for t in ax.texts:
        box = t.get_window_extent()
        assert inside.x0 <= box.x0 and box.x1 <= inside.x1 + 1, t.get_text()


def test_the_group_figure_keeps_its_axis_wide_beside_long_variant_names():
    """A variant may be named in 64 characters: "not FSM: <name>" beside each row left the
    axis 37% of the figure; the figure widens with the names instead."""
    ge = _group_effects()
    ge["variant"] = ge["variant"].map({"x": "x" * 64, "y": "y"})
    fig = rexp.group_figure(ge, OUTCOMES["attendance"], ["FSM", "school 10"], "none",
                            ["x" * 64, "y"])
    fig.canvas.draw()
    (ax,) = fig.axes
    assert ax.get_position().width * fig.get_figwidth() > 5.0  # inches, as with short names


@pytest.mark.parametrize("keep_scenario", [True, False])
def test_a_run_folder_of_a_policy_without_its_events_is_refused(run_folder, tmp_path, capsys,
                                                               keep_scenario):
    """A run with a policy always writes events.parquet; a folder that lost it made a report
    with no cost, staff hours, students served or queues, as if no policy had run, without a
    word. Now it is an error naming the file (exit 2), and no report is written."""
    from srmsim.cli import main

    folder = tmp_path / "copy"
    shutil.copytree(run_folder, folder)
    (folder / "report.html").unlink(missing_ok=True)
    (folder / "events.parquet").unlink()
    if not keep_scenario:  # weekly.parquet's policy columns say it too
        (folder / "scenario.yaml").unlink()
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "events.parquet: missing" in err and "Traceback" not in err
    assert not (folder / "report.html").exists()


def test_the_weeks_figure_draws_a_variant_without_a_policy_at_zero():
    """A variant with no policy keeps no queue or staff columns (NaN): it was named in the
    legend and drawn nowhere, beside a table giving it 0 h; it is a line at 0, said to be the
    policy-less one."""
    weeks = pd.DataFrame({"variant": ["none"] * 3 + ["x"] * 3, "run_week": [0, 1, 2] * 2,
                          "queue_length": [np.nan] * 3 + [4.0, 2.0, 0.0],
                          "staff_minutes_used": [np.nan] * 3 + [600.0, 300.0, 60.0],
                          "staff_minutes_available": [np.nan] * 3 + [900.0] * 3})
    fig = rexp.weeks_figure(SimpleNamespace(weeks=weeks, variants=["none", "x"]))
    queue, hours = fig.axes
    lines = {ln.get_label(): list(ln.get_ydata()) for ln in queue.get_lines()}
    assert lines == {"none (no policy)": [0.0, 0.0, 0.0], "x": [4.0, 2.0, 0.0]}
    lines = {ln.get_label(): list(ln.get_ydata()) for ln in hours.get_lines()}
    assert lines["none (no policy)"] == [0.0, 0.0, 0.0] and lines["x"] == [10.0, 5.0, 1.0]
