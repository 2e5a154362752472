"""An attack review of ``srmsim dashboard``: the server as another program or user on the same
computer sees it (what it fetches, writes, serves and runs), and hostile scenarios and controls
pushed to their ends."""

from __future__ import annotations

import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from test_dashboard import _free_port

ROOT = Path(__file__).resolve().parents[1]

SMALL = """\
name: attack_review
trust: {n_schools: 2, students_per_year_group: 20}
policy:
  parameters: {attendance_threshold: 0.9}
  rules:
    low_attendance: "attendance(2) < attendance_threshold"
  workflows:
    attendance:
      trigger: low_attendance
      steps:
        - {action: parent_text, weeks: 2}
  staff:
    school: {pastoral: 300}
"""


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _serving(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


class _FakeCdn(http.server.BaseHTTPRequestHandler):
    """Stands in for cdn.jsdelivr.net: answers every file and counts the requests."""

    asked: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        type(self).asked.append(self.path)
        body = b"window.fetchedFromTheInternet = true;"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_the_server_fetches_nothing_runs_nothing_from_the_folder_and_stops_with_the_command(
        tmp_path):
    """Three defects of the server, seen from the same computer:

    - any request for ``/_solara/cdn/<npm file>`` (a local user, or any web page the user
      visits) made the server download that file from the CDN and save it in the Python
      environment's ``share/solara/cdn``; now it is not found, and nothing is fetched or written;
    - the server ran as ``python -m``, which imports from the current folder first: a
      ``uvicorn.py`` in the folder the command was started from ran in the server;
    - SIGTERM to ``srmsim dashboard`` (``kill PID``, a process manager) ended the command and
      left the server serving the port; now the server stops with it.
    """
    folder = tmp_path / "where the user is"
    folder.mkdir()
    marker = tmp_path / "ran.txt"
    (folder / "uvicorn.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\nraise SystemExit('a module of the folder')\n")
    scenario = folder / "attack_review.yaml"
    scenario.write_text(SMALL)
    cache = tmp_path / "cdn"
    cache.mkdir()

    _FakeCdn.asked = []
    cdn = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeCdn)
    threading.Thread(target=cdn.serve_forever, daemon=True).start()
    port = _free_port()
    # absolute entries only: a relative one ("." in `PYTHONPATH=. pytest`) names the folder
    path = os.pathsep.join([str(ROOT), *(str(Path(p).resolve()) for p in os.environ.get(
        "PYTHONPATH", "").split(os.pathsep) if p)])
    env = {**os.environ, "PYTHONPATH": path, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",
           "SOLARA_ASSETS_CDN": f"http://127.0.0.1:{cdn.server_address[1]}/",
           "SOLARA_ASSETS_PROXY_CACHE_DIR": str(cache)}
    log_path = tmp_path / "server.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed in the finally below
    # -P: as the `srmsim` script starts it, without the current folder on the import path
    proc = subprocess.Popen([sys.executable, "-P", "-m", "srmsim.cli", "dashboard",
                             str(scenario), "--port", str(port)], cwd=folder, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                log.flush()
                pytest.fail(f"server exited: {log_path.read_text()[-2000:]}")
            try:
                if _get(url + "/")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server never answered: {log_path.read_text()[-2000:]}")
            time.sleep(0.3)
        assert not marker.exists()

        status, _ = _get(url + "/_solara/cdn/left-pad@1.3.0/index.js")
        assert status == 404
        assert _FakeCdn.asked == []
        assert [p for p in cache.rglob("*") if p.is_file()] == []

        for hostile in ("/../../etc/passwd", "/static/..%2f..%2f..%2fetc%2fpasswd",
                        "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
                        "/static/assets/..%2f..%2f..%2f..%2fetc%2fpasswd",
                        "/_solara/cdn/..%2f..%2f..%2f..%2fetc%2fpasswd",
                        "/static/public/..%2fcli.py"):
            status, body = _get(url + hostile)
            assert b"root:" not in body and b"def main" not in body, hostile

        os.kill(proc.pid, signal.SIGTERM)  # the command alone, not its process group
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while _serving(port) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert not _serving(port), "the server outlived `srmsim dashboard`"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=15)
        log.close()
        cdn.shutdown()


def test_at_the_years_end_the_open_cases_table_agrees_with_the_weeks_figures():
    """Stepping to the year's end (and past it): the year's end closes the leavers' cases after
    the week's report, and the page's table of open cases (13 receiving support) disagreed
    with its summary line and chart (15). The table now counts the week as the report does."""
    from srmsim.dashboard.model import IN_SUPPORT, WAITING, DashboardModel
    from srmsim.scenario import scenario_from_dict

    sc = scenario_from_dict({
        "name": "year_end", "trust": {"n_schools": 2, "students_per_year_group": 20},
        "policy": {"parameters": {"t": 0.9}, "rules": {"low": "attendance(2) < t"},
                   "workflows": {"wf": {"trigger": "low",
                                        "steps": [{"action": "parent_text", "weeks": 2}]}},
                   "staff": {"school": {"pastoral": 0}}}})  # staff at their end: none
    m = DashboardModel(base=sc, seed="3")
    while m.running:
        m.step()
        now, table = m.view.figures.iloc[-1], m.view.workflow_steps
        assert (table["waiting"].sum(), table["receiving"].sum()) == (now[WAITING],
                                                                      now[IN_SUPPORT])
    assert m.week_index == 39
    # the case this guards: leavers' cases were open in the week's report and are closed now
    assert m.workflow_steps()["receiving"].sum() < now[IN_SUPPORT]
    m.step()  # past the end: nothing changes
    assert m.week_index == 39 and m.view.workflow_steps.equals(table)


def test_a_scenario_file_edited_into_a_bad_one_while_serving_is_a_short_error_on_the_page(
        tmp_path, monkeypatch, capsys):
    """Each browser session reads the command line's scenario afresh. Edited into a bad one
    after the command checked it, it raised in the page: a traceback in the browser and the
    terminal, and no page. Now the page says why in one line and offers the shipped
    scenarios; the terminal gets the same short error."""
    import ipyvuetify as v
    import solara

    from srmsim.dashboard import app
    from srmsim.dashboard.settings import SCENARIO_ENV, available_scenarios

    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\ntrust: {n_schools: 2, students_per_year_group: 20}\n")
    monkeypatch.setenv(SCENARIO_ENV, str(path))
    assert "mine" in available_scenarios()  # as the command checked it
    path.write_text("name: mine\ntrust: {n_schools: -3}\n")  # then edited

    @solara.component
    def Served() -> None:  # as the server lays the page out (its sidebar needs the layout)
        with solara.AppLayout():
            app.Page()

    _, rc = solara.render(Served(), handle_error=False)
    try:
        alerts = [" ".join(map(str, w.children)) for w in rc.find(v.Alert).widgets]
        offered = [w.items for w in rc.find(v.Select).widgets if w.label == "Scenario"]
    finally:
        rc.close()
    assert any("trust.n_schools: Input should be greater than or equal to 0 (got -3)" in a
               and str(path) in a for a in alerts), alerts
    assert offered and "mine" not in offered[0] and "default" in offered[0]
    err = capsys.readouterr().err
    assert "trust.n_schools" in err and "Traceback" not in err
