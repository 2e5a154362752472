"""Request streams under hostile input, and results the first tests did not cover: the M/M/c
formulas' arguments, task minutes that overflow, arrivals files that cannot be read, streams
sharing the trust pool's minutes, and the figure of a stream that is not there.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

import srmsim
from srmsim.admin.config import RequestStream
from srmsim.admin.desk import RequestDesk
from srmsim.admin.theory import erlang_c, mmc_mean_wait, mmc_wait_quantile
from srmsim.cli import main
from srmsim.errors import ScenarioError, SrmsimError
from srmsim.rng import CRN
from srmsim.scenario import load_scenario, scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]


def stream(**change) -> dict:
    return {"arrivals": {"per_week": 5},
            "steps": [{"name": "a", "role": "clerk", "minutes": 30}],
            "staff": {"clerk": {"staff": 1}}, **change}


def scenario_file(tmp_path: Path, one: dict) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"trust": {"n_schools": 0}, "years": 1,
                                    "requests": {"x": one}}))
    return path


def refused(capsys, tmp_path: Path, path: Path, words: str) -> None:
    """``validate`` or ``run`` exits 2 with a one-line error naming the field; nothing written."""
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err, err
    assert not out.exists()


# ----------------------------------------------------------------------------- theory
def direct_erlang_c(c: int, a: float) -> float:
    """Erlang C from its textbook sum, independent of the Erlang B recursion."""
    head = sum(a ** k / math.factorial(k) for k in range(c))
    tail = a ** c / math.factorial(c) * c / (c - a)
    return tail / (head + tail)


@pytest.mark.parametrize("c", [1, 2, 5, 20])
@pytest.mark.parametrize("rho", [0.1, 0.5, 0.9, 0.99])
def test_erlang_c_agrees_with_the_direct_sum(c: int, rho: float) -> None:
    assert erlang_c(c, rho * c) == pytest.approx(direct_erlang_c(c, rho * c), rel=1e-12)
    # M/M/c mean wait C / (c mu - lambda) and the wait's survival C exp(-(c mu - lambda) t)
    lam = rho * c
    assert mmc_mean_wait(lam, 1.0, c) == pytest.approx(direct_erlang_c(c, lam) / (c - lam))
    wait = direct_erlang_c(c, lam)
    t = mmc_wait_quantile(lam, 1.0, c, 1 - wait / 2)  # half of those who wait wait longer
    assert wait * math.exp(-(c - lam) * t) == pytest.approx(wait / 2, rel=1e-6)


@pytest.mark.parametrize("call, words", [
    (lambda: mmc_mean_wait(-0.5, -1.0, 1), "arrival_rate"),  # was a wait of -1.0
    (lambda: mmc_wait_quantile(-0.5, -1.0, 1, 0.9), "arrival_rate"),  # was -3.2
    (lambda: mmc_mean_wait(0.5, 0.0, 1), "service_rate"),  # was ZeroDivisionError
    (lambda: mmc_mean_wait(0.5, float("nan"), 1), "service_rate"),
    (lambda: mmc_wait_quantile(0.5, 1.0, 1, 1.0), "q=1.0"),  # was math domain error
    (lambda: mmc_wait_quantile(0.5, 1.0, 1, -0.5), "q=-0.5"),  # was 0.0
    (lambda: mmc_wait_quantile(0.5, 1.0, 1, float("nan")), "q=nan"),  # was nan
    (lambda: erlang_c(True, 0.5), "servers"),  # was 0.5, as if one server
    (lambda: erlang_c(2.5, 1.0), "servers"),  # was a raw TypeError
    (lambda: erlang_c(10 ** 9, 1.0), "servers"),  # a billion-step loop
    (lambda: erlang_c(2, "1"), "offered_load"),
])
def test_queueing_formulas_refuse_bad_arguments(call, words: str) -> None:
    with pytest.raises(SrmsimError) as err:
        call()
    assert words in str(err.value)


# ----------------------------------------------------------------------------- the section
def test_task_minutes_that_overflow_are_refused(tmp_path: Path, capsys) -> None:
    # 1e308 mean minutes times a drawn task size was inf minutes (and a RuntimeWarning)
    path = scenario_file(tmp_path, stream(steps=[{"name": "a", "role": "clerk",
                                                  "minutes": 1e308}]))
    refused(capsys, tmp_path, path, "steps[0].minutes")
    auto = stream(steps=[{"name": "a", "role": "clerk", "minutes": 5,
                          "automated": {"minutes": 1e300}}], automate="all")
    with pytest.raises(ScenarioError, match="automated.minutes"):
        scenario_from_dict({"trust": {"n_schools": 0}, "requests": {"x": auto}}, "t")


def test_a_nul_in_the_arrivals_file_name_is_a_clear_error(tmp_path: Path, capsys) -> None:
    # was a ValueError traceback (embedded null byte) from resolving the path, exit 1
    path = scenario_file(tmp_path, stream(arrivals={"file": "a\x00b.csv"}))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "requests.x.arrivals.file" in err and "U+0000" in err and "\x00" not in err
    refused(capsys, tmp_path, path, "U+0000")


@pytest.mark.parametrize("records, words", [("a\x00b", "U+0000"), ("", "empty")])
def test_a_records_name_that_is_no_file_name_is_a_clear_error(tmp_path: Path, capsys,
                                                             records: str, words: str) -> None:
    # a NUL was a ValueError traceback (embedded null byte) from resolving the path, exit 1
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"population": {"records": records}}))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "population.records" in err and words in err and "\x00" not in err, err


@pytest.mark.parametrize("change, words", [
    ({"arrivals": {"file": ""}}, "empty"),
    ({"arrivals": {"file": "a.csv", "seasonality": {"amplitude": 0.3}}}, "seasonality"),
])
def test_arrivals_that_cannot_mean_what_they_say_are_refused(change: dict, words: str) -> None:
    with pytest.raises(ScenarioError, match=words):
        scenario_from_dict({"trust": {"n_schools": 0}, "requests": {"x": stream(**change)}}, "t")


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="Linux /proc")
def test_an_arrivals_file_that_cannot_be_read_names_the_file(tmp_path: Path, capsys) -> None:
    # a regular file whose reading fails: the error named neither the file nor the field
    path = scenario_file(tmp_path, stream(arrivals={"file": "/proc/self/mem"}))
    refused(capsys, tmp_path, path, "/proc/self/mem: cannot read the arrivals file")


def test_a_fifo_as_the_arrivals_file_says_what_it_is(tmp_path: Path, capsys) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes")
    os.mkfifo(tmp_path / "arrivals.csv")
    path = scenario_file(tmp_path, stream(arrivals={"file": "arrivals.csv"}))
    refused(capsys, tmp_path, path, "not a regular file")


# ----------------------------------------------------------------------------- pool sharing
def pool_stream() -> dict:
    return {"arrivals": {"per_week": 60},
            "steps": [{"name": "visit", "role": "attendance_officer", "minutes": 60}],
            "staff": {"attendance_officer": {"staff": 2, "from_pool": True}}}


def test_streams_drawing_on_one_pool_role_share_its_minutes() -> None:
    # two streams each got all the minutes the students left: 8,833 of a 4,800-minute pool used
    sc = load_scenario(ROOT / "scenarios" / "trust_attendance_service.yaml").with_overrides({
        "trust.n_schools": 2, "requests": {"a": pool_stream(), "b": pool_stream()}})
    model = srmsim.TrustModel(sc, seed=4)
    model.run()
    pool = sc.policy.staff.pool["attendance_officer"]
    students = model.weekly().groupby("run_week")["pool_minutes_used"].sum().to_numpy()
    streams = model.requests.weekly().groupby("run_week")
    available = streams["staff_minutes_available_attendance_officer"].sum().to_numpy()
    used = streams["staff_minutes_used_attendance_officer"].sum().to_numpy()
    np.testing.assert_allclose(students + available, pool)
    assert (students + used <= pool + 1e-6).all()
    assert (used > 0).any()


def test_pool_streams_split_the_minutes_by_their_staff() -> None:
    one = RequestStream.model_validate({
        "arrivals": {"per_week": 1}, "steps": [{"name": "a", "role": "clerk", "minutes": 5}],
        "staff": {"clerk": {"staff": 1, "from_pool": True}}})
    three = one.model_copy(update={"staff": {"clerk": one.staff["clerk"].model_copy(
        update={"staff": 3})}})
    desk = RequestDesk({"one": one, "three": three}, CRN(1), 1)
    desk.advance(0, {"clerk": 800.0})
    w = desk.weekly().set_index("stream")["staff_minutes_available_clerk"]
    assert w.to_dict() == pytest.approx({"one": 200.0, "three": 600.0})


# ----------------------------------------------------------------------------- the figure
def test_the_figure_of_a_stream_that_is_not_there_is_an_error() -> None:
    from srmsim.admin.plots import backlog_and_waits

    run = srmsim.run(scenario_from_dict({"trust": {"n_schools": 0},
                                         "requests": {"x": stream()}}, "t"))
    with pytest.raises(SrmsimError, match="'nope' is not one of 'x'"):  # was an empty figure
        backlog_and_waits({"paper": run}, "nope")
    plain = srmsim.run(scenario_from_dict({"trust": {"n_schools": 1}}, "t"))
    with pytest.raises(SrmsimError, match="'plain' has no request streams"):  # was TypeError
        backlog_and_waits({"plain": plain}, "x")


def test_an_arrivals_file_too_big_for_memory_is_refused(tmp_path: Path, capsys,
                                                        monkeypatch) -> None:
    # the run's memory check counted per_week arrivals only: 2,000,000 arrival days in a 4 MB
    # file went on to allocate their draws and SimPy processes (at 100 MB, 50 million)
    import srmsim.memory

    monkeypatch.setattr(srmsim.memory, "available_bytes", lambda: 2**30)
    (tmp_path / "arrivals.csv").write_text("day\n" + "1\n" * 2_000_000)
    path = scenario_file(tmp_path, stream(arrivals={"file": "arrivals.csv"}))
    refused(capsys, tmp_path, path, "about 2,000,000 requests")
    (tmp_path / "arrivals.csv").write_text("day\n" + "1\n" * 100)  # a small file still runs
    assert main(["run", str(path), "--out", str(tmp_path / "small"), "--quiet"]) == 0


def test_the_memory_check_counts_each_step_of_a_request(tmp_path: Path, capsys,
                                                         monkeypatch) -> None:
    # a request costs about 1.7 kB with one step and 11.3 kB with 50: at 1,000 bytes a request
    # whatever its steps, 200,000 requests of 50 steps (about 2.3 GB) passed a 1 GiB check
    import srmsim.memory

    monkeypatch.setattr(srmsim.memory, "available_bytes", lambda: 2**30)
    steps = [{"name": f"s{i}", "role": "clerk", "minutes": 1} for i in range(50)]
    path = scenario_file(tmp_path, stream(backlog=200_000, steps=steps))
    refused(capsys, tmp_path, path, "about 200,195 requests")
    srmsim.memory.check_run_fits(0, 0, "one-step requests", 200_000, 200_000)  # these fit
