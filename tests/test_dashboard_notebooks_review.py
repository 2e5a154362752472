"""Review of the dashboard's controls and the notebooks against hostile scenarios and seeds:
each test failed before its fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from srmsim.argtypes import MAX_SEED
from srmsim.dashboard import settings as ds
from srmsim.errors import ScenarioError
from srmsim.scenario import scenario_from_dict


def _with_parameter(value: float) -> dict:
    return {"name": "huge", "policy": {"parameters": {"t": value},
                                       "rules": {"r": "attendance(2) < t"}}}


@pytest.mark.parametrize("value", [1e308, -1e308, 1.7976931348623157e308])
def test_a_parameter_near_the_largest_float_gets_a_control(value):
    """A finite parameter of 1e308 passed the scenario's checks, then doubling it for the
    slider's range gave inf and int(inf) raised OverflowError: the page failed to open."""
    sc = scenario_from_dict(_with_parameter(value))
    control = ds.model_params(sc)["parameter__t"]
    assert control["type"] == "SliderInt"
    assert control["min"] <= control["value"] <= control["max"]
    assert ds.apply_settings(sc, None, {"parameter__t": control["value"]}) \
        .policy.parameters["t"] == value


@pytest.mark.parametrize("value", [-5e-324, -1e-320, -1e-310, 1.5, -2.5e-7, 2.5])
def test_a_fractional_parameter_gets_a_slider_that_moves(value):
    """A parameter of -5e-324 (the smallest float) got a slider step of 0: a tenth of its
    order of magnitude underflowed. (Under 1e-5 the slider counts units of the value's
    leading digit, tests/test_dashboard_left_alone.py: -5e-324 is -5 units of 1e-324.)"""
    sc = scenario_from_dict(_with_parameter(value))
    params = ds.model_params(sc)
    control = params.get("parameter__t") or params[ds.SCALED + "t"]
    assert control["type"] == "SliderFloat" or ds.SCALED + "t" in params
    assert 0 < control["step"] <= abs(control["value"])
    assert control["min"] <= control["value"] <= control["max"]


def test_the_schools_slider_stops_within_the_page_size():
    """5 schools of 5,000 a year group (125,000 students) may be shown, but the schools slider
    went to 100, and the page then built 2.5 million students (and their no-policy twin),
    ten times the size it refuses in a file."""
    sc = scenario_from_dict({"name": "big_schools", "trust": {
        "n_schools": 5, "students_per_year_group": 5000}})
    ds.check_for_page(sc)
    top = ds.model_params(sc)["n_schools"]["max"]
    assert top == ds.MAX_STUDENTS // 25_000 == 10
    ds.check_size(ds.apply_settings(sc, top, {}))
    with pytest.raises(ScenarioError, match="more than the dashboard's 250,000"):
        ds.apply_settings(sc, 100, {})
    # small schools keep the usual 100, and a trust larger than that keeps its own count
    small = scenario_from_dict({"trust": {"n_schools": 3, "students_per_year_group": 60}})
    assert ds.model_params(small)["n_schools"]["max"] == ds.MAX_SCHOOLS
    many = scenario_from_dict({"trust": {"n_schools": 150, "students_per_year_group": 20}})
    assert ds.model_params(many)["n_schools"]["max"] == 150


@pytest.mark.parametrize("seed", [10**18, 5 * 10**18, MAX_SEED])
def test_any_seed_srmsim_run_takes_is_taken_by_the_page(seed):
    """`srmsim run --seed` and a scenario's seed go to 2**63 - 1, but the seed box refused
    anything past 18 digits: a run's seed could not be reproduced on the page, and a scenario
    with such a seed showed a warning about its own seed."""
    assert ds.parse_seed(str(seed), 5) == (seed, "")
    sc = scenario_from_dict({"seed": seed})
    assert ds.parse_seed(ds.model_params(sc)["seed"]["value"], sc.seed) == (seed, "")
    got, note = ds.parse_seed(str(MAX_SEED + 1), 5)
    assert got == 5 and "2^63 - 1" in note


def test_a_port_refused_for_want_of_rights_is_not_called_in_use(monkeypatch, capsys):
    """`srmsim dashboard --port 80` as an ordinary user was told "port 80 ... is in use": the
    bind fails with a permission error, and the advice to pick another port did not say why."""
    import socket

    from srmsim import cli

    def refuse(self, address):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(socket.socket, "bind", refuse)
    assert cli.main(["dashboard", "--port", "80"]) == 2
    err = capsys.readouterr().err
    assert "port 80 on 127.0.0.1 needs administrator rights" in err and "in use" not in err
    assert "Traceback" not in err


def test_a_students_school_is_numbered_as_srmsim_run_numbers_it():
    """The profile said "School 1" for a pupil of school 0: the run's students table (and its
    figures' "school 0" legend) number schools from 0, so the page sent a reader looking up
    the same uid to the wrong school."""
    from srmsim.dashboard.model import DashboardModel
    from srmsim.dashboard.panels import student_line

    sc = scenario_from_dict({"trust": {"n_schools": 2, "students_per_year_group": 10}})
    m = DashboardModel(base=sc, seed="3")
    m.step()
    table = m.results().students.set_index("uid")
    for uid in (int(m.students.uid[0]), int(m.students.uid[-1])):
        assert student_line(m, uid).startswith(f"School {table.loc[uid, 'school']}, Year "
                                               f"{table.loc[uid, 'year_group']};")
    assert {int(s) for s in table["school"]} == {0, 1}
    assert student_line(m, -1) == ""


NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_a_notebook_removes_the_temporary_folder_it_makes(path):
    """Notebooks 07, 08 and 09 made a folder with tempfile.mkdtemp and never removed it (07 says
    everything it writes goes there, and it holds the notebook's secret pseudonymisation key):
    every run, the notebook tests' too, left three folders in the system's temporary directory.
    Notebook 03 already removed its own in its last cell; each now does."""
    import nbformat

    cells = [c.source for c in nbformat.read(path, as_version=4).cells
             if c.cell_type == "code"]
    made = [(i, name) for i, src in enumerate(cells)
            for name in re.findall(r"^(\w+) = (?:Path\()?tempfile\.mkdtemp\(", src, re.M)]
    seen = {i for i, _ in made}
    assert all("mkdtemp(" not in src or i in seen for i, src in enumerate(cells)), \
        f"{path.name}: a mkdtemp this test cannot read"
    for i, name in made:
        assert any(f"shutil.rmtree({name}," in src for src in cells[i + 1:]), \
            f"{path.name}: the temporary folder {name} is never removed"


def test_schools_left_to_the_pooled_model_are_named_readably():
    """Notebook 06 printed "2 schools ... use the pooled model: [np.int32(2), np.int32(10)]":
    a school column of numpy integers (as the simulation's) showed numpy's repr."""
    import warnings

    import numpy as np
    import pandas as pd

    from srmsim import risk

    rng = np.random.default_rng(0)
    school = np.repeat(np.array([0, 1, 2], dtype=np.int32), [400, 400, 30])
    x = rng.normal(size=len(school))
    y = rng.random(len(school)) < 1 / (1 + np.exp(1.5 - x))
    df = pd.DataFrame({"school": school, "x": x, "y": y})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", risk.RiskModelWarning)
        model = risk.PerSchoolRisk(min_events=10).fit(df, "y", ["x"])
    assert [int(s) for s in model.fallback_schools_] == [2]
    said = [str(w.message) for w in caught if "pooled model" in str(w.message)]
    assert said == ["1 school with fewer than 10 events or non-events uses the pooled model: 2"]
    assert all("np." not in note for note in model.notes_)


def test_more_than_ten_schools_left_to_the_pooled_model_are_counted():
    """The note listed at most ten schools without saying that more were left out."""
    import warnings

    import numpy as np
    import pandas as pd

    from srmsim import risk

    rng = np.random.default_rng(1)
    school = np.repeat(np.arange(14, dtype=np.int32), [400, 400] + [20] * 12)
    x = rng.normal(size=len(school))
    y = rng.random(len(school)) < 1 / (1 + np.exp(1.5 - x))
    df = pd.DataFrame({"school": school, "x": x, "y": y})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", risk.RiskModelWarning)
        model = risk.PerSchoolRisk(min_events=10).fit(df, "y", ["x"])
    note = next(n for n in model.notes_ if "pooled model" in n)
    assert note.startswith("12 schools") and " use the pooled model" in note
    assert note.endswith("2, 3, 4, 5, 6, 7, 8, 9, 10, 11 and 2 more"), note


def test_notebook_02s_referrals_off_the_test_weeks_are_re_referrals_after_the_cooldown():
    """Notebook 02 said referrals follow the reading tests; its own table also shows some in
    weeks 26 and 28. Its prose now says why, and this pins it: every pupil flagged off a test
    week had a case that closed exactly ``cooldown_weeks`` before."""
    import json

    import yaml

    from srmsim import calendar
    from srmsim.model import TrustModel
    from srmsim.scenario import scenario_from_dict

    path = Path(__file__).resolve().parents[1] / "notebooks" / "02_design_a_workflow.ipynb"
    cells = json.loads(path.read_text())["cells"]
    source = next("".join(c["source"]) for c in cells
                  if c["cell_type"] == "code" and "my_policy = " in "".join(c["source"]))
    text = source.split('my_policy = """', 1)[1].split('"""', 1)[0]
    scenario = scenario_from_dict(yaml.safe_load(text), source="notebook 02")
    cooldown = scenario.policy.workflows["reading_support"].cooldown_weeks
    model = TrustModel(scenario)
    model.run()
    events = model.policy.events()
    flagged = events[events["event"] == "flagged"]
    closed = events[events["event"] == "closed"]
    off_test = flagged[~flagged["week"].isin(calendar.READING_TEST_WEEKS)]
    assert len(off_test) > 0  # the table the prose explains
    for row in off_test.itertuples():
        mine = closed[closed["student"] == row.student]
        assert (mine["week"] == row.week - cooldown).any(), row
    prose = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert "`cooldown_weeks`" in prose
