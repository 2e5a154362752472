"""The run report of a trust of many schools (a national run): the schools split in one sort,
not a pass over every student and event for each school (the report of a 1,000-school run took
38 s, of an 8,000-school one about half an hour); groups tabulated without a row per school and
the schools' weekly attendance drawn as a band above a few dozen schools; no matplotlib warning
on the user's terminal."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import REPO_ROOT
from matplotlib.collections import PolyCollection

from srmsim.experiment import outcomes
from srmsim.model import TrustModel
from srmsim.report import build_html
from srmsim.report import run as run_report
from srmsim.scenario import load_scenario


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Two years of five schools with the attendance workflow: a table whose rows are not in
    school order (the second year's new students come last), events for most schools."""
    sc = load_scenario(REPO_ROOT / "scenarios" / "attendance_escalation.yaml").with_overrides(
        {"trust.n_schools": 5, "trust.students_per_year_group": 30, "years": 2,
         "outputs.history": "none"}, source="test")
    model = TrustModel(sc, seed=5)
    model.run()
    out = tmp_path_factory.mktemp("national") / "run"
    model.results().write(out)
    return out


def masked_schools(result) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Each school's cohort the plain way: a mask over the students and one over the events."""
    s = result.students.copy(deep=False)
    pos = pd.Index(s["student"]).get_indexer(result.events["student"])
    keep = pos >= 0
    pos = pos[keep]
    events = pd.DataFrame({"run_week": result.events["run_week"].to_numpy()[keep],
                           "event": result.events["event"].array[keep], "student": pos})
    s["student"] = np.arange(len(s))
    s["male"] = (s["sex"] == "M").to_numpy()
    s = s.drop(columns=["sex"])
    school = s["school"].to_numpy()
    return {f"school {int(k)}": (s[school == k], events[(school == k)[pos]])
            for k in np.unique(school)}


def with_events(folder):
    """The run folder's tables as the report reads them, and its events (which it does not)."""
    run = run_report._Run(folder)
    run.events = pd.read_parquet(folder / "events.parquet")
    return run


def test_schools_are_the_masks_rows_in_the_tables_order(folder):
    run = with_events(folder)
    assert not np.all(np.diff(run.students["school"].to_numpy()) >= 0)  # not sorted by school
    got = outcomes.group_cohorts(run)
    want = masked_schools(run)
    assert [k for k in got if k.startswith("school ")] == list(want)
    for label, (students, events) in want.items():
        assert got[label].students.equals(students)
        assert got[label].students.index.equals(students.index)
        assert got[label].events.equals(events) and got[label].events.index.equals(events.index)
    assert len(outcomes.group_cohorts(run, schools=False)) == 6  # FSM, SEN, EAL and their peers


def test_many_schools_are_a_band_and_a_note_not_a_row_each(folder, monkeypatch):
    """With the limits lowered below the run's five schools: the groups' rows only, a note that
    says how many schools and where they are, and the attendance figure a band (two shaded
    areas and the trust's line, three legend entries) whose edges are the schools' extremes."""
    few = build_html(folder)
    assert few.count("school 4") >= 1 and "are not listed one by one" not in few
    monkeypatch.setattr(run_report, "MAX_SCHOOL_ROWS", 3)
    monkeypatch.setattr(run_report, "MAX_SCHOOL_LINES", 3)
    many = build_html(folder)
    assert "school 4" not in many and "school 0" not in many
    assert "The 5 schools are not listed one by one (more than 3)" in many
    assert "FSM" in many and "not EAL" in many
    run = run_report._Run(folder)
    ax = run_report.attendance_figure(run).axes[0]
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2 and len(ax.lines) == 1
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "5 schools: lowest to highest", "schools: 10th to 90th percentile", "trust"]
    top = bands[0].get_paths()[0].vertices[:, 1].max()
    assert top == pytest.approx(100 * run.weekly["attendance_rate"].max())


def test_a_layout_that_cannot_be_tightened_warns_nobody():
    """A legend taller than its figure: matplotlib's "Tight layout not applied" warning (a
    file path and a line of code on the terminal of `srmsim report`) is not raised."""
    from srmsim.figures import new_figure

    fig, ax = new_figure(4, 1.5)
    for i in range(80):
        ax.plot([0, 1], [i, i], label=f"school {i}")
    ax.legend()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig.tight_layout()


@pytest.mark.parametrize("names, wanted", [
    (["a", "b", "c"], ["c", "x", "a", "a"]),
    (["a", "b", None], [None, "b", "q"]),
    ([1, 2, 3], [3, 1, 9]),
    ([1, 2, 3], ["1"]),   # a number is not its text: not found, as pandas has it
    (["1", "2"], [1]),
    (["x", 1.5], [1.5]),
    ([], ["a"]),
    (["x", "y"], []),
])
def test_events_find_their_students_as_pandas_does(names, wanted):
    """The events' students located among the students table's by Arrow's hash lookup: the
    positions pandas' get_indexer gives (-1 where absent), whatever the values' types."""
    names_s = pd.Series(names, dtype=object if any(not isinstance(v, str) for v in names)
                        else "str")
    wanted_s = pd.Series(wanted, dtype=object if any(not isinstance(v, str) for v in wanted)
                         else "str")
    want = pd.Index(names_s).get_indexer(wanted_s)
    assert outcomes._rows_of(names_s, wanted_s).tolist() == want.tolist()


def test_students_named_twice_are_refused_as_pandas_refuses_them():
    with pytest.raises(pd.errors.InvalidIndexError):
        outcomes._rows_of(pd.Series(["a", "a", "b"]), pd.Series(["a"]))


def test_a_policy_runs_report_does_not_read_its_events(folder, monkeypatch):
    """None of the outcomes a run report shows reads the workflow events, so the report of a
    policy's run does not load events.parquet (25.5M rows for England with a policy): the
    policy's sections are there, from the students and weekly tables."""
    assert run_report.EVENTS_READ is False
    read = []
    real = run_report.read_parquet

    def reading(path, *args, **kwargs):
        read.append(path.name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(run_report, "read_parquet", reading)
    html = build_html(folder)
    assert "events.parquet" not in read and "students.parquet" in read
    assert "Cost and staff hours" in html and "Queues and staff use over the year" in html


def test_groups_carry_events_only_for_outcomes_that_read_them(folder):
    """An outcome that reads the events names "student" (referrals): its groups carry their
    students' events; outcomes of the students' columns alone get none to copy."""
    result = with_events(folder)
    plain = outcomes.group_cohorts(result, outcomes.columns_read(["attendance"]))
    assert all(c.events is None for c in plain.values())
    referred = outcomes.group_cohorts(result, outcomes.columns_read(["referrals"]))
    flagged = sum(len(c.events[c.events["event"] == "flagged"]) for k, c in referred.items()
                  if k.startswith("school "))
    assert flagged == int((result.events["event"] == "flagged").sum()) > 0
    measured = outcomes.measure_groups(result, ["referrals", "attendance"])
    assert measured.query("outcome == 'referrals'")["value"].gt(0).any()
