"""A run stops mid-way, with the figures, when its policy's events cannot fit by its end.

How many events a policy makes is only known once it runs, so the check before the run
leaves them out (a national run with a policy peaked at twice its estimate). Every four weeks
the run now costs the events so far, plus the weeks left at the least weekly count of the last
four, against the memory available, and stops cleanly (exit 2, nothing written) where they
cannot fit, rather than being killed when its events table is made at the end.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import srmsim.model
from srmsim import memory
from srmsim.cli import main
from srmsim.errors import MAX_LINE
from srmsim.model import TrustModel
from srmsim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
MB = 2**20


def test_the_events_so_far_and_the_least_recent_week_are_costed(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 4 * MB)
    weekly = [9_000, 1_000, 1_500, 1_200]  # the least of the last four: 1,000 a week
    need = (sum(weekly) + 1_000 * 35) * memory.BYTES_PER_EVENT
    assert need > 4 * MB
    with pytest.raises(memory.RunTooBigError) as err:
        memory.check_events_fit(weekly, 35, "x")
    text = str(err.value)
    assert text.startswith("scenario 'x': its policy made 12,700 case events in its first 4 weeks "
                           "(at least 1,000 a week lately);\nso about 47,700 by the end")
    assert f"needs about {memory.amount(need)} of memory, and 4 MiB is available" in text
    assert "nothing written" in text
    monkeypatch.setattr(memory, "available_bytes", lambda: need)
    memory.check_events_fit(weekly, 35, "x")  # just fits
    monkeypatch.setattr(memory, "available_bytes", lambda: 4 * MB)
    memory.check_events_fit(weekly[:3], 35, "x")  # not a fourth week: not checked
    memory.check_events_fit([*weekly, 0, 0, 0, 0], 31, "x")  # quiet lately: what is held fits
    memory.check_events_fit(weekly, 0, "x")  # the last week: the table is being made


def test_every_line_of_the_message_fits_the_cli_line_with_the_longest_names(monkeypatch):
    """The CLI cuts a line past MAX_LINE: with a 64-character scenario name, both sources and
    figures of ten digits, no line of the message may be cut (its figures were)."""
    monkeypatch.setattr(memory, "available_bytes", lambda: 2**30)
    weekly = [1_234_567_890 // 40] * 36
    with pytest.raises(memory.RunTooBigError) as err:
        memory.check_events_fit(weekly, 3, "n" * 64, "its policy and its request streams made",
                                "case and request events", memory.POLICY_EVENTS_ADVICE
                                + "; or " + memory.REQUEST_EVENTS_ADVICE)
    lines = str(err.value).splitlines()
    assert len(lines) == 3
    assert all(len(line) <= MAX_LINE for line in lines), [len(line) for line in lines]
    assert "1,111,111,092 case and request events" in lines[0]
    monkeypatch.setattr(memory, "available_bytes", lambda: None)  # the system does not say
    memory.check_events_fit(weekly, 35, "x")


def _scenario():
    return load_scenario(ROOT / "scenarios" / "attendance_escalation_small.yaml")


def test_a_run_whose_events_would_not_fit_stops_at_a_fourth_week(monkeypatch):
    model = TrustModel(_scenario())  # checked before the run with the machine's memory
    monkeypatch.setattr(memory, "available_bytes", lambda: 1_000)
    with pytest.raises(memory.RunTooBigError, match=r"case events in its first (\d+) weeks") as err:
        while not model.done:
            model.step()
    weeks = int(re.search(r"first (\d+) weeks", str(err.value)).group(1))
    assert weeks % 4 == 0 and model.week_index == weeks - 1  # stopped in that week's apply
    # with room for them, the same run goes on, and its results do not depend on the check
    monkeypatch.undo()
    free = TrustModel(_scenario())
    free.run()
    assert len(free.results().events) > 0


def test_the_command_stops_with_exit_2_and_writes_nothing(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text("{}")  # an earlier run's folder: kept as it was
    monkeypatch.setattr(srmsim.model, "check_run_fits", lambda *a, **k: None)
    monkeypatch.setattr(memory, "available_bytes", lambda: 1_000)
    code = main(["run", str(ROOT / "scenarios" / "attendance_escalation_small.yaml"),
                 "--quiet", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert "its policy made" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]
    assert (out / "summary.json").read_text() == "{}"


def test_request_streams_whose_events_would_not_fit_stop_with_exit_2(tmp_path, monkeypatch,
                                                                     capsys):
    # the check before the run counts one attempt a step; a rework of 0.9 made six times the
    # events of the same requests without it, and such a run was killed at its end instead
    path = tmp_path / "desk.yaml"
    path.write_text(
        "name: desk\nyears: 1\ntrust: {n_schools: 0}\nrequests:\n  s:\n"
        "    arrivals: {per_week: 10}\n    backlog: 4000\n    steps:\n"
        "      - {name: a, role: clerk, minutes: 1, service: fixed, rework: 0.9}\n"
        "    staff:\n      clerk: {staff: 100}\n")
    out = tmp_path / "out"
    monkeypatch.setattr(srmsim.model, "check_run_fits", lambda *a, **k: None)
    monkeypatch.setattr(memory, "available_bytes", lambda: 1_000)
    assert main(["run", str(path), "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert re.search(r"scenario 'desk': its request streams made [\d,]+ request events in its "
                     r"first 4 weeks", err), err
    assert "the reworks smaller" in err and "Traceback" not in err
    assert not out.exists()
    monkeypatch.undo()
    assert main(["run", str(path), "--quiet", "--out", str(out)]) == 0  # room: it runs


def test_a_policys_and_request_streams_events_are_costed_together(monkeypatch):
    """Each kind of event was checked alone against all the memory left: a run whose case and
    request events tables together could not fit was not stopped (helper 194)."""
    spec = yaml.safe_load((ROOT / "scenarios" / "attendance_escalation_small.yaml").read_text())
    certification = yaml.safe_load(
        (ROOT / "scenarios" / "certification_backlog.yaml").read_text())["requests"]
    certification["certification"].update(backlog=2000, arrivals={"per_week": 100})
    spec.update(requests=certification, outputs={"history": "none"})
    from srmsim.scenario import scenario_from_dict

    scenario = scenario_from_dict(spec, "both")
    free = TrustModel(scenario, seed=1)
    counts: dict[str, list[int]] = {"case": [], "request": []}
    for _ in range(8):
        before = free.policy.events_recorded, free.requests.events_recorded
        free.step()
        counts["case"].append(free.policy.events_recorded - before[0])
        counts["request"].append(free.requests.events_recorded - before[1])
    case, request = (sum(e) + min(e[-4:]) * (free.n_weeks - 8) for e in counts.values())
    assert case > 0 and request > 0
    both = (case + request) * memory.BYTES_PER_EVENT
    either = max(case, request) * memory.BYTES_PER_EVENT
    model = TrustModel(scenario, seed=1)  # checked before the run with the machine's memory
    monkeypatch.setattr(memory, "available_bytes", lambda: (both + either) // 2)
    with pytest.raises(memory.RunTooBigError, match=r"its policy and its request streams made "
                       r"[\d,]+ case and request events in its first 8 weeks") as err:
        for _ in range(8):
            model.step()
    assert "the policy's reach smaller" in str(err.value) and "the reworks" in str(err.value)
