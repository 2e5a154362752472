"""The dashboard: its model (the policy run and its exact no-policy twin), its controls, the
command's input checks, and the page itself driven in a real headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from browser import browser as chromium

from srmsim.dashboard import settings as ds
from srmsim.dashboard.model import (
    ATTENDANCE,
    ATTENDANCE_NP,
    FLAGGED,
    IN_SUPPORT,
    MINUTES_USED,
    READING_NP,
    WAITING,
    DashboardModel,
)
from srmsim.errors import ScenarioError
from srmsim.model import TrustModel
from srmsim.scenario import load_scenario, scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]

SMALL = """\
name: dashboard_test
description: Three small schools, a weekly attendance rule.
trust: {n_schools: 3, students_per_year_group: 60}
policy:
  parameters: {attendance_threshold: 0.9}
  rules:
    low_attendance: "attendance(2) < attendance_threshold"
  workflows:
    attendance:
      trigger: low_attendance
      steps:
        - {action: parent_text, weeks: 2}
        - {action: parent_meeting, weeks: 3}
  staff:
    school: {pastoral: 300}
"""


@pytest.fixture
def small_file(tmp_path: Path) -> Path:
    path = tmp_path / "dashboard_test.yaml"
    path.write_text(SMALL)
    return path


# ------------------------------------------------------------------ the model


def test_twin_is_the_same_run_without_the_policy(small_file):
    """The no-policy side equals a plain run of the scenario minus its policy on the same seed,
    and the policy side equals a plain run with it: the dashboard adds no randomness."""
    sc = load_scenario(small_file)
    m = DashboardModel(base=sc, seed="7")
    plain = TrustModel(sc, seed=7)
    bare = TrustModel(sc.with_overrides({"policy": None}), seed=7)
    for _ in range(5):
        m.step()
        plain.step()
        bare.step()
    assert m.weekly().equals(plain.weekly())
    assert m.baseline.weekly().equals(bare.weekly())
    figs = m.figures()
    w, b = plain.weekly(), bare.weekly()
    att = w.groupby("run_week")[["sessions_attended", "sessions_possible"]].sum()
    att_np = b.groupby("run_week")[["sessions_attended", "sessions_possible"]].sum()
    np.testing.assert_allclose(figs[ATTENDANCE], 100 * att.iloc[:, 0] / att.iloc[:, 1])
    np.testing.assert_allclose(figs[ATTENDANCE_NP], 100 * att_np.iloc[:, 0] / att_np.iloc[:, 1])
    np.testing.assert_array_equal(figs[FLAGGED], w.groupby("run_week")["flags"].sum())
    np.testing.assert_array_equal(figs[WAITING], w.groupby("run_week")["queue_length"].sum())
    np.testing.assert_array_equal(figs[IN_SUPPORT], w.groupby("run_week")["active_cases"].sum())
    np.testing.assert_array_equal(figs[MINUTES_USED],
                                  w.groupby("run_week")["staff_minutes_used"].sum())
    gap = bare.students.reading_obs - bare.students.reading_obs_age
    assert figs[READING_NP].iloc[-1] == pytest.approx(np.nanmean(gap[bare.students.status == 0]))
    # the figures the panels show agree with the model's own tables
    steps = m.workflow_steps()
    assert steps["waiting"].sum() == figs[WAITING].iloc[-1]
    assert steps["receiving"].sum() == figs[IN_SUPPORT].iloc[-1]
    assert m.flagged_students(), "after five weeks someone has an open case"
    uid = m.flagged_students()[0]
    profile, full = m.profile(uid), m.student(uid)
    assert profile["week"].tolist() == [1, 2, 3, 4, 5]
    np.testing.assert_array_equal(profile["attended"], full["attended"])
    np.testing.assert_allclose(profile["reading_gap"], full["reading_gap"])


def test_year_end_stops_the_run():
    sc = scenario_from_dict({"trust": {"n_schools": 1, "students_per_year_group": 10}})
    m = DashboardModel(base=sc)
    assert m.baseline is None and m.twin is m
    while m.running:
        m.step()
    assert m.week_index == 39 and m.done
    m.step()  # Mesa's Step after the end changes nothing
    assert m.week_index == 39 and len(m.figures()) == 39


def test_the_overview_says_what_it_compares_and_when_the_run_is_over(small_file):
    """A scenario without a policy read "94.9% with the policy, 94.9% without" under "there is
    nothing to compare with"; at the end of the year the play button stayed greyed out with no
    word of why (a helper driving the page in a browser)."""
    from srmsim.dashboard.panels import status_lines

    sc = scenario_from_dict({"trust": {"n_schools": 1, "students_per_year_group": 10}})
    m = DashboardModel(base=sc)
    m.step()
    lines = status_lines(m)
    assert lines[0] == "This scenario has no policy: there is nothing to compare with."
    assert re.fullmatch(r"This week: attendance \d+\.\d%\.", lines[1])
    assert not any("with the policy" in line or "over" in line for line in lines)
    while m.running:
        m.step()
    assert any(line.startswith("The run is over") for line in status_lines(m))
    with_policy = DashboardModel(base=load_scenario(small_file))
    with_policy.step()
    lines = status_lines(with_policy)
    assert "with the policy" in lines[0] and lines[1].startswith("Cases open now:")


def test_settings_of_the_wrong_kind_are_refused_and_the_page_says_so(small_file):
    """The page's controls give numbers and true/false only, but a modified client's "no" for
    a workflow was read as on and 2.7 schools as 2; a refused setting reached Mesa's Reset as
    a ScenarioError (an error page)."""
    sc = load_scenario(small_file)
    workflow = next(k for k in ds.model_params(sc) if k.startswith(ds.WORKFLOW))
    for settings, says in (({workflow: "no"}, "is not on or off"),
                           ({"minutes__" + next(iter(sc.policy.staff.school)): "60"},
                            "is not a number")):
        with pytest.raises(ScenarioError, match=says):
            ds.apply_settings(sc, None, settings)
    with pytest.raises(ScenarioError, match="2.7 is not a whole number of schools"):
        ds.apply_settings(sc, 2.7, {})
    assert ds.apply_settings(sc, 2.0, {}).trust.n_schools == 2
    m = DashboardModel(base=sc, n_schools=2.7, seed="5")
    assert m.notice.startswith("Settings not used (") and m.seed == 5
    assert m.config.trust.n_schools == sc.trust.n_schools


def test_gaps_by_group_match_the_student_table(small_file):
    m = DashboardModel(base=load_scenario(small_file))
    for _ in range(3):
        m.step()
    t = m.students
    fsm = t.fsm & (t.status == 0)
    rate = t.year_attended[fsm].sum() / t.year_possible[fsm].sum()
    rest = t.year_attended[~fsm].sum() / t.year_possible[~fsm].sum()
    row = m.gaps().iloc[0]
    assert row["group"].startswith("FSM")
    assert row["attendance_gap"] == pytest.approx(100 * (rate - rest))
    assert row["students"] == int(fsm.sum())


# ------------------------------------------------------------------ the controls


def test_controls_follow_the_scenario_and_change_it(small_file):
    sc = load_scenario(small_file)
    params = ds.model_params(sc)
    assert params["base"] is sc
    assert set(params) == {"base", "seed", "n_schools", "parameter__attendance_threshold",
                           "minutes__pastoral", "workflow__attendance"}
    assert params["parameter__attendance_threshold"]["type"] == "SliderFloat"
    changed = ds.apply_settings(sc, 2, {"parameter__attendance_threshold": 0.95,
                                        "minutes__pastoral": 600, "workflow__attendance": False})
    assert changed.trust.n_schools == 2
    assert changed.policy.parameters["attendance_threshold"] == 0.95
    assert changed.policy.staff.school["pastoral"] == 600.0
    assert changed.policy.workflows["attendance"].enabled is False
    assert sc.policy.parameters["attendance_threshold"] == 0.9  # the picked scenario is untouched
    with pytest.raises(ScenarioError, match="minutes__teacher: not a setting"):
        ds.apply_settings(sc, None, {"minutes__teacher": 60})
    with pytest.raises(ScenarioError, match="n_schools"):
        ds.apply_settings(sc, 0, {})


def test_settings_in_use_read_as_words(small_file):
    """A switch was shown as 'True' and a large number as '1e+06'; now 'yes' and '1,000,000'."""
    from srmsim.dashboard.panels import settings_in_use

    text = small_file.read_text().replace(
        "parameters: {attendance_threshold: 0.9}",
        "parameters: {attendance_threshold: 0.9, letters_first: true, quiet: false, "
        "budget: 1000000}")
    small_file.write_text(text)
    shown = settings_in_use(DashboardModel(base=load_scenario(small_file), seed="7"))
    assert shown[:5] == ["3 schools, seed 7", "Attendance threshold: 0.9", "Letters first: yes",
                         "Quiet: no", "Budget: 1,000,000"]
    assert not any(re.search(r"True|False|e\+0", line) for line in shown)


@pytest.mark.parametrize("text, seed, warned", [
    ("42", 42, False), (" 42 ", 42, False), ("", 5, False), ("-1", 5, True), ("4.5", 5, True),
    ("1e9", 5, True), ("9" * 30, 5, True), ("../etc", 5, True)])
def test_seed_box(text, seed, warned):
    got, note = ds.parse_seed(text, 5)
    assert got == seed and bool(note) == warned


def test_shipped_scenarios_are_offered_with_the_named_one_first(small_file):
    found = ds.available_scenarios(small_file)
    names = list(found)
    assert names[0] == "dashboard_test"
    assert {"default", "attendance_escalation", "reading_and_attendance"} <= set(names)
    # England (8 million students) is for `srmsim run`: a week of it would freeze the page
    assert "england" not in names


def test_a_trust_too_large_for_the_page_is_refused_by_name(tmp_path, capsys):
    from srmsim import cli

    big = tmp_path / "big.yaml"
    big.write_text("name: big\ntrust: {n_schools: 400, students_per_year_group: 200}\n")
    assert cli.main(["dashboard", str(big), "--port", str(_free_port())]) == 2
    err = capsys.readouterr().err
    assert "400,000 students" in err and "srmsim run" in err and "Traceback" not in err
    # at the limit it is offered
    ok = load_scenario(big).model_copy(update={"trust": load_scenario(big).trust.model_copy(
        update={"n_schools": ds.MAX_STUDENTS // 1000})})
    ds.check_size(ok)


def test_a_trust_built_from_real_records_is_not_shown(tmp_path, capsys):
    """The page showed a trust from records: its pupils on roll, the FSM group's size and one
    pupil's traits, all copied from the records (a school's 7 year-8 records were 7 pupils),
    though `srmsim run` prints no count of such a trust. Now it is refused by name, on the
    command line and by the server."""
    import pandas as pd

    from srmsim import cli

    pd.DataFrame({"school": ["URN100001"] * 7, "year_group": [8] * 7, "sex": list("FMFMFMF"),
                  "fsm": [True] * 6 + [False]}).to_parquet(tmp_path / "records.parquet")
    path = tmp_path / "from_records.yaml"
    path.write_text("name: from_records\npopulation: {records: records.parquet}\n")
    with pytest.raises(ScenarioError, match="real pupil records"):
        ds.available_scenarios(path)
    assert cli.main(["dashboard", str(path), "--port", str(_free_port())]) == 2
    err = capsys.readouterr().err
    assert "population.records" in err and "srmsim run" in err and "Traceback" not in err
    # nor by a model built from it directly (the controls assume a synthetic trust)
    with pytest.raises(ScenarioError, match="population.records: the trust is built from real"):
        DashboardModel(base=load_scenario(path), n_schools=2)


# ------------------------------------------------------------------ the command


def test_bad_scenario_or_port_stops_before_serving(tmp_path, capsys):
    from srmsim import cli

    bad = tmp_path / "bad.yaml"
    bad.write_text("trust: {n_schools: -3}\n")
    assert cli.main(["dashboard", str(bad), "--port", "1"]) == 2
    assert "n_schools" in capsys.readouterr().err
    assert cli.main(["dashboard", str(tmp_path / "missing.yaml")]) == 2
    assert "file not found" in capsys.readouterr().err
    assert cli.main(["dashboard", "--port", "70000"]) == 2
    assert "--port must be between 1 and 65535" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert cli.main(["dashboard", "--port", str(busy.getsockname()[1])]) == 2
    assert "in use" in capsys.readouterr().err


def test_missing_solara_says_what_to_install(monkeypatch, capsys):
    import importlib.util

    from srmsim import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "solara" else real(name, *a))
    assert cli.main(["dashboard", "--port", str(_free_port())]) == 2
    assert 'pip install "srmsim[dashboard]"' in capsys.readouterr().err


# ------------------------------------------------------------------ in a real browser

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dashboard(small_file, tmp_path):
    """``srmsim dashboard`` on a free loopback port; always stopped, also when the test fails."""
    port = _free_port()
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed in the finally below
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False"}
    proc = subprocess.Popen([sys.executable, "-m", "srmsim.cli", "dashboard", str(small_file),
                             "--port", str(port)], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                log.flush()
                pytest.fail(f"server exited: {(tmp_path / 'server.log').read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                log.flush()
                pytest.fail("the dashboard did not serve within 90 s: "
                            + (tmp_path / "server.log").read_text()[-3000:])
            time.sleep(0.3)
        yield url
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
        log.close()


@pytest.fixture
def browser():
    """Headless Debian Chromium through Selenium (the shared helper); nothing is downloaded."""
    pytest.importorskip("selenium.webdriver")
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip("needs Debian's chromium and chromium-driver (.ci/run installs them)")
    with chromium(1600, 1300) as driver:
        yield driver


def _wait_for(driver, pattern: str, timeout: float = 60.0) -> re.Match:
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while True:
        found = re.search(pattern, driver.find_element(By.TAG_NAME, "body").text)
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"page never showed {pattern!r}")
        time.sleep(0.2)


def _wait_for_element(driver, xpath: str, timeout: float = 30.0):
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in driver.find_elements(By.XPATH, xpath) if e.is_displayed()]
        if found:
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"page never showed an element {xpath!r}")
        time.sleep(0.2)


def _button(driver, text: str):
    from selenium.webdriver.common.by import By

    return next(b for b in driver.find_elements(By.TAG_NAME, "button")
                if b.text.strip().lower() == text.lower())


def _step(driver, week: int) -> None:
    """Press Step and wait for ``week``. Solara wires a freshly rendered page's buttons a moment
    after drawing them (the callers wait 1.5 s): a first press that changed nothing in 10 s (the
    page still says "Not started") is repeated, up to a minute, rather than failing the test on
    a loaded machine."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + 60
    while True:
        _button(driver, "Step").click()
        try:
            _wait_for(driver, rf"Week {week} of 39 run", timeout=10 if week == 1 else 60)
            return
        except AssertionError:
            text = driver.find_element(By.TAG_NAME, "body").text
            if week != 1 or "Not started" not in text or time.monotonic() > deadline:
                raise


def _run_weeks(driver, weeks: int, expect: int | None = None) -> int:
    """Press Step ``weeks`` times, each time waiting for the page to show the week; returns the
    number of students in a workflow the page then shows. With ``expect``, panels still
    redrawing on a loaded machine get up to 30 s to show it (the caller asserts the number)."""
    for week in range(1, weeks + 1):
        _step(driver, week)
    deadline = time.monotonic() + 30
    while True:
        shown = int(_wait_for(driver, r"Cases open now: ([\d,]+)").group(1)
                    .replace(",", ""))
        if expect is None or shown == expect or time.monotonic() > deadline:
            return shown
        time.sleep(0.3)


def _expected(small_file: Path, weeks: int, **settings) -> int:
    m = DashboardModel(base=load_scenario(small_file), **settings)
    for _ in range(weeks):
        m.step()
    now = m.figures().iloc[-1]
    return int(now[WAITING] + now[IN_SUPPORT])


def test_dashboard_in_a_browser(dashboard, browser, small_file, tmp_path):
    """Change the attendance threshold, Reset, run three weeks: the page shows exactly what the
    model computes for the new threshold, and the browser console has no errors."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(dashboard)
    _wait_for(browser, "Not started: 39 school weeks to run")
    time.sleep(1.5)  # Solara wires the buttons just after the first render
    expected = _expected(small_file, 3)
    before = _run_weeks(browser, 3, expected)
    assert before == expected
    slider = browser.find_element(
        By.XPATH, "//div[contains(@class,'v-input')][.//label[contains(., 'Attendance threshold')]]"
        "//*[@role='slider']")
    assert float(slider.get_attribute("aria-valuenow")) == pytest.approx(0.9)
    for _ in range(5):
        slider.send_keys(Keys.ARROW_RIGHT)
    assert float(slider.get_attribute("aria-valuenow")) == pytest.approx(0.95)
    time.sleep(0.5)
    _button(browser, "Reset").click()
    _wait_for(browser, r"Attendance threshold: 0\.95")
    _wait_for(browser, "Not started")
    expected = _expected(small_file, 3, parameter__attendance_threshold=0.95)
    after = _run_weeks(browser, 3, expected)
    assert after == expected
    assert after > before  # a higher threshold flags more students
    _wait_for(browser, "Open cases now")
    browser.save_screenshot(str(tmp_path / "dashboard.png"))
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000

    # Play runs on week by week by itself; Pause stops it where it is
    _button(browser, "▶").click()
    week = int(_wait_for(browser, r"Week ([6-9]|[1-3]\d) of 39 run").group(1))
    pause = [b for b in browser.find_elements(By.TAG_NAME, "button") if b.text.strip() == "❚❚"]
    if pause and pause[0].is_enabled():  # on a slow machine the year may have ended already
        try:
            pause[0].click()
        except WebDriverException:  # it ended between the look and the click
            pass
    time.sleep(1.0)
    paused = int(_wait_for(browser, r"Week (\d+) of 39 run").group(1))
    assert paused >= week
    time.sleep(1.5)  # paused (or at the year's end): the page stays on that week
    assert int(_wait_for(browser, r"Week (\d+) of 39 run").group(1)) == paused

    # another scenario from the picker: its own controls, from week 0
    browser.find_element(By.XPATH, "//div[contains(@class,'v-select')]"
                         "[.//label[contains(., 'Scenario')]]//div[@role='button']").click()
    option = _wait_for_element(browser, "//div[contains(@class,'v-list-item')]"
                               "[normalize-space(.)='attendance_escalation_small']")
    option.click()
    _wait_for(browser, "srmsim dashboard: attendance_escalation_small")
    _wait_for(browser, "Not started: 39 school weeks to run")
    time.sleep(1.5)
    _run_weeks(browser, 1)
    # Swapping the scenario replaces every chart; on a loaded machine Solara's ECharts widget
    # can start drawing a chart whose element the swap has already removed, and ECharts logs
    # "Initialize failed: invalid dom" (seen once in CI). The replacing charts are drawn: the
    # page's chart canvases are checked instead of that one message.
    # (drawn after the week's step: waited for, not sampled once; once 1 of 2 on a busy machine)
    deadline = time.monotonic() + 30
    while len(browser.find_elements(By.CSS_SELECTOR, "canvas")) < 2 \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(browser.find_elements(By.CSS_SELECTOR, "canvas")) >= 2
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"
              and "Initialize failed: invalid dom" not in e["message"]]
    assert not severe, severe
    # the terminal shows the address alone: Solara's rules-of-hooks warning about Mesa's
    # solara_viz.py (with advice to edit Mesa) and its cookie advice for 127.0.0.1 were
    # printed as UserWarnings at every start and every page opened
    log = (tmp_path / "server.log").read_text()
    assert "open http://127.0.0.1:" in log, log[-3000:]
    for advice in ("solara_viz.py", "use_state` found despite", "samesite=none"):
        assert advice not in log, log[-3000:]
