"""Blocks and threads change how fast a week runs, never what it produces."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from conftest import REPO_ROOT, small_scenario

from srmsim import model as model_module
from srmsim.blocks import BLOCK_ROWS_ONE_THREAD, BLOCK_ROWS_THREADED, BlockRunner, check_threads
from srmsim.errors import SrmsimError
from srmsim.model import TrustModel
from srmsim.rng import CRN, binomial_inv, poisson_inv
from srmsim.scenario import load_scenario
from srmsim.week_processes import processes_available


def _outputs(model: TrustModel) -> dict[str, pd.DataFrame]:
    model.run()
    r = model.results()
    out = {"students": r.students, "weekly": r.weekly, "history": r.history}
    if r.events is not None:
        out["events"] = r.events
    return out


@pytest.mark.parametrize("mode", ["processes", "threads"])
@pytest.mark.parametrize(("policy_file", "block_rows"), [(None, 37), ("dropout_prevention.yaml", 101)])
def test_blocked_run_on_two_cores_is_bit_identical_to_the_plain_run(
        policy_file, block_rows, mode, monkeypatch):
    """Small blocks (many per school, schools split across blocks) on two cores (a helper
    process over shared memory where the platform has it, else threads), over two years
    (leavers, intake, a new layout), with and without a policy: every output equal."""
    if policy_file is None:
        sc = small_scenario({"years": 2})
    else:
        sc = load_scenario(REPO_ROOT / "scenarios" / policy_file).with_overrides(
            {"years": 2, "trust.n_schools": 2, "outputs.history": "all"})
    if mode == "threads":
        monkeypatch.setattr(model_module, "processes_available", lambda: False)
    elif not processes_available():
        pytest.skip("helper processes need Linux")
    plain = _outputs(TrustModel(sc, seed=11, block_rows=10**9))
    blocked = TrustModel(sc, seed=11, threads=2, block_rows=block_rows)
    if check_threads(2) == 2:
        assert (blocked._helpers is not None) == (mode == "processes")
    assert len(blocked.blocks.blocks(len(blocked.students))) > 3
    got = _outputs(blocked)
    blocked.release()
    assert got.keys() == plain.keys()
    for name, frame in plain.items():
        assert len(frame) > 0
        pd.testing.assert_frame_equal(got[name], frame, check_exact=True, obj=name)


def _two_core_model(sc, block_rows: int = 50) -> TrustModel:
    if not processes_available() or check_threads(2) < 2:
        pytest.skip("helper processes need Linux and two cores")
    model = TrustModel(sc, seed=5, threads=2, block_rows=block_rows)
    assert model._helpers is not None
    return model


def test_a_column_replaced_between_weeks_is_shared_again():
    """The helpers see the table through shared memory: a column replaced by a new array
    (not written in place) is copied back into shared memory before the next week runs."""
    sc = small_scenario()
    plain = TrustModel(sc, seed=5)
    model = _two_core_model(sc)
    for m in (plain, model):
        for _ in range(3):
            m.step()
        m.students.eff_absence = m.students.eff_absence + np.float32(2.0)  # a new array
        m._obs.possible = m._obs.possible.copy()
        m.run()
    pd.testing.assert_frame_equal(model.results().students, plain.results().students,
                                  check_exact=True)
    model.release()


def test_a_helper_that_dies_is_a_clear_error_and_release_stops_the_others():
    model = _two_core_model(small_scenario())
    model.step()
    procs = list(model._helpers._procs)
    procs[0].kill()
    procs[0].wait(timeout=10)
    with pytest.raises(SrmsimError, match="helper process of the run died"):
        model.step()
    model.release()  # the helpers are told to stop, and reaped on a thread
    for p in procs:
        p.wait(timeout=10)
    assert all(p.poll() is not None for p in procs)


def test_a_failing_block_in_the_main_process_keeps_the_helpers_in_step():
    """The helpers' answers to a week that failed here are read before the error is raised,
    so the next call gets the answers to its own blocks, not stale ones."""
    model = _two_core_model(small_scenario(), block_rows=10)  # blocks in both schools
    helpers = model._helpers
    blocks = model._week_blocks.blocks(len(model.students))
    week = ("week", 0, 0, model._withdrawal_logit, False, False)

    def fail(rows: slice) -> None:
        raise ValueError("main block failed")

    with pytest.raises(ValueError, match="main block failed"):
        helpers.run(fail, blocks, week)
    fewer = blocks[: len(blocks) // 2 + 2]
    got = helpers.run(lambda rows: rows.start, fewer, week)
    assert len(got) == len(fewer)
    # the helpers' answers are week_block's (first school, totals), this process's its starts
    here = [g for g in got if isinstance(g, int)]
    assert here == [b.start for b in fewer[: len(here)]]
    for b, (first, _) in zip(fewer[len(here):], got[len(here):], strict=True):
        assert first == int(np.searchsorted(model._school_starts, b.start, side="right")) - 1
    assert not any(conn.poll(0.5) for conn in helpers._conns)  # no answer left over
    model.release()


def test_helpers_end_with_the_run_process_and_an_unguarded_script_runs_once(tmp_path):
    """The helpers are fresh interpreters: a script without ``if __name__ == "__main__"``
    is not run again by them, and they exit when the run's process is killed."""
    import subprocess
    import sys
    import time

    if not processes_available() or check_threads(2) < 2:
        pytest.skip("helper processes need Linux and two cores")
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import os, sys\n"
        f"sys.path.insert(0, {str(REPO_ROOT / 'tests')!r})\n"
        "from conftest import small_scenario\n"
        "from srmsim.model import TrustModel\n"
        "print('started', flush=True)\n"
        "m = TrustModel(small_scenario(), seed=1, threads=2, block_rows=50)\n"
        "m.step()\n"
        "print(*m._helpers.pids, flush=True)\n"
        "os.kill(os.getpid(), 9)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         env=env, timeout=120)
    lines = out.stdout.split("\n")
    assert lines.count("started") == 1, out.stdout + out.stderr
    pids = [int(p) for p in lines[1].split()]
    assert pids
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    assert not any(_alive(p) for p in pids)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][0] != "Z"
    except FileNotFoundError:
        return False


def test_a_slow_core_runs_fewer_blocks_and_the_results_stay_in_block_order():
    """Blocks go to whichever core is free (this process from the front, the helpers from
    the back): a main process slowed down runs few of them, the results are the same."""
    import time

    from srmsim import dynamics

    sc = small_scenario()
    plain = TrustModel(sc, seed=5)
    plain.step()
    model = _two_core_model(sc, block_rows=10)
    t, obs = model.students, model._obs
    blocks = model._week_blocks.blocks(len(t))
    ran_here = []

    def slow(rows: slice):
        ran_here.append(rows.start)
        time.sleep(0.2)
        return dynamics.week_block(t, sc.dynamics, model.crn, 0, 0, model._withdrawal_logit,
                                   obs, model._school_starts, model._school_sizes, True, False,
                                   rows)

    got = model._helpers.run(slow, blocks, ("week", 0, 0, model._withdrawal_logit, True, False))
    # in block order: each block's first school, as the blocks come
    assert [first for first, _ in got] == [
        int(np.searchsorted(model._school_starts, b.start, side="right")) - 1 for b in blocks]
    assert len(blocks) >= 15
    assert 1 <= len(ran_here) <= len(blocks) / 3
    assert ran_here == [b.start for b in blocks[: len(ran_here)]]  # from the front
    np.testing.assert_array_equal(model._add_block_totals(got), plain._week_totals)
    for name in ("engagement_ar", "attended", "reading_obs"):
        np.testing.assert_array_equal(getattr(t, name), getattr(plain.students, name))
    model.release()


def _binomial_full_loop(u, n, p):
    """The inversion without early stopping: every count tested for every draw."""
    p = np.clip(p, 1e-6, 1 - 1e-6)
    q = 1 - p
    ratio = p / q
    pmf = q**n
    cdf = pmf.copy()
    top = 1 - 4 * np.finfo(np.float32).eps
    k = np.zeros(u.shape, dtype=np.int8)
    for i in range(n):
        k += (u > cdf) & (cdf < top)
        pmf = pmf * ((n - i) / (i + 1)) * ratio
        cdf = cdf + pmf
    return k


def _poisson_full_loop(u, lam, kmax=30):
    pmf = np.exp(-lam)
    cdf = pmf.copy()
    top = 1 - 4 * np.finfo(np.float32).eps
    k = np.zeros(u.shape, dtype=np.int16)
    for i in range(kmax):
        k += (u > cdf) & (cdf < top)
        pmf = pmf * lam / (i + 1)
        cdf = cdf + pmf
    return k


def test_inversions_that_stop_early_match_the_full_loop():
    crn = CRN(3)
    u, v = crn.uniform2("t", 0, np.arange(200_000, dtype=np.int64))
    z, _ = crn.normal2("p", 0, np.arange(200_000, dtype=np.int64))
    # probabilities from almost 0 to almost 1 (the clip, the CDF's top), and a NaN
    p = (1 / (1 + np.exp(-3 * z))).astype(np.float32)
    p[:3] = [0.0, 1.0, np.nan]
    # the largest uniforms (above the CDF's top) in one copy, none in the other: the top test
    # is skipped when no uniform can need it
    u_top, v_top = u.copy(), v.copy()
    u_top[3:8] = v_top[3:8] = np.float32(1 - 0.5 / 2**23)
    lam = np.exp(np.float32(1.5) * z - np.float32(2)).astype(np.float32)
    for uu, vv in ((u, v), (u_top, v_top), (np.minimum(u, np.float32(0.999)), v)):
        for n in (1, 3, 5, 10):
            got = binomial_inv(uu, n, p)
            np.testing.assert_array_equal(got, _binomial_full_loop(uu, n, p))
            assert got.min() == 0 and got.max() == n
        got = poisson_inv(vv, lam)
        np.testing.assert_array_equal(got, _poisson_full_loop(vv, lam))
        assert got.max() >= 5


def test_uniform_pairs_are_the_documented_bits():
    """hi = bits 41-63 and lo = bits 8-30 of the hash, as (x + 0.5) / 2**23."""
    crn = CRN(9)
    uid = np.arange(10_000, dtype=np.int64)
    b = crn.bits("w", 4, uid)
    hi, lo = crn.uniform2("w", 4, uid)
    two23 = np.float32(1 / 2**23)
    np.testing.assert_array_equal(hi, ((b >> np.uint64(41)).astype(np.float32) + 0.5) * two23)
    np.testing.assert_array_equal(
        lo, (((b >> np.uint64(8)) & np.uint64(0x7FFFFF)).astype(np.float32) + 0.5) * two23)
    # the uid's bits, whatever integer type or layout it comes in
    np.testing.assert_array_equal(crn.bits("w", 4, uid.astype(np.int32)), b)
    np.testing.assert_array_equal(crn.bits("w", 4, uid[::-1][::-1]), b)
    np.testing.assert_array_equal(crn.bits("w", 4, uid[::2]), b[::2])


def test_blocks_cover_every_row_once():
    for threads in (1, 2):
        runner = BlockRunner(threads, block_rows=1000)
        for n in (0, 1, 999, 1000, 1001, 65_536, 70_001):
            blocks = runner.blocks(n)
            covered = np.concatenate([np.arange(n)[b] for b in blocks]) if n else np.zeros(0)
            np.testing.assert_array_equal(covered, np.arange(n))
            assert all(b.stop - b.start <= 1000 for b in blocks)
    assert len(BlockRunner(2, block_rows=10**6).blocks(200_000)) == 2  # one per thread


def test_block_errors_reach_the_caller():
    runner = BlockRunner(2, block_rows=10)

    def fail(rows: slice) -> None:
        if rows.start >= 50:
            raise ValueError("block failed")

    with pytest.raises(ValueError, match="block failed"):
        runner.run(fail, 100_000)
    runner.close()


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(SrmsimError, match="threads"):
        BlockRunner(bad)


def test_cli_threads_option(tmp_path, capsys):
    from srmsim.cli import main

    args = ["run", str(REPO_ROOT / "scenarios" / "default.yaml"), "--quiet",
            "--out", str(tmp_path / "x")]
    assert main([*args, "--threads", "0"]) == 2
    assert "threads" in capsys.readouterr().err
    assert main([*args, "--threads", "2", "--seed", "3"]) == 0
    two = pd.read_parquet(tmp_path / "x" / "students.parquet")
    one = TrustModel(load_scenario(REPO_ROOT / "scenarios" / "default.yaml"), seed=3)
    pd.testing.assert_frame_equal(two, _outputs(one)["students"], check_exact=True)


def test_students_generated_in_blocks_equal_one_pass(monkeypatch):
    from srmsim import population
    from srmsim.students import BUFFERS, COLUMNS

    sc = small_scenario({"trust.n_schools": 4, "trust.students_per_year_group": 30})
    whole = TrustModel(sc, seed=4).students
    monkeypatch.setattr(population, "GENERATION_BLOCK", 97)
    blocked = TrustModel(sc, seed=4).students
    assert len(whole) > 4 * 97
    for c in COLUMNS:
        np.testing.assert_array_equal(getattr(blocked, c.name), getattr(whole, c.name),
                                      err_msg=c.name)
    for b in BUFFERS:
        np.testing.assert_array_equal(getattr(blocked, b), getattr(whole, b))


def test_the_default_block_fits_the_threads() -> None:
    """One thread runs small (cache-sized) blocks; several threads larger ones (fewer GIL
    hand-offs); an explicit size wins. Results never depend on it (tests above)."""
    assert BlockRunner(1).block_rows == BLOCK_ROWS_ONE_THREAD < BLOCK_ROWS_THREADED
    if check_threads(2) == 2:  # a machine with two cores for this process
        assert BlockRunner(2).block_rows == BLOCK_ROWS_THREADED
    assert BlockRunner(2, block_rows=123).block_rows == 123


def test_helpers_that_cannot_start_leave_the_run_on_threads(monkeypatch):
    """No interpreter to start (an embedded Python): a warning, the blocks on threads, the
    same results."""
    import sys

    if not processes_available() or check_threads(2) < 2:
        pytest.skip("helper processes need Linux and two cores")
    sc = small_scenario()
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    with pytest.warns(RuntimeWarning, match="helper processes could not start"):
        model = TrustModel(sc, seed=5, threads=2, block_rows=50)
    assert model._helpers is None
    monkeypatch.undo()
    model.run()
    plain = TrustModel(sc, seed=5)
    plain.run()
    pd.testing.assert_frame_equal(model.results().students, plain.results().students,
                                  check_exact=True)


def test_helpers_started_ahead_are_taken_by_the_run_and_the_rest_stopped(tmp_path):
    """`srmsim run --threads N` starts its helpers before its imports (their start-up overlaps
    them): the run takes them, with the same results; those no run takes are stopped."""
    import time

    from srmsim import week_processes
    from srmsim.cli import main

    if not processes_available() or check_threads(2) < 2:
        pytest.skip("helper processes need Linux and two cores")
    week_processes.start_ahead(1)
    ahead = [proc.pid for _, proc in week_processes._PRESTARTED]
    assert len(ahead) == 1
    sc = small_scenario()
    model = TrustModel(sc, seed=5, threads=2, block_rows=50)
    assert model._helpers is not None and model._helpers.pids == ahead
    assert not week_processes._PRESTARTED
    two = _outputs(model)
    model.release()
    one = _outputs(TrustModel(sc, seed=5))
    for name, frame in one.items():
        pd.testing.assert_frame_equal(two[name], frame, check_exact=True)

    # a refused input, then a trust too small to share: no helper is left running
    spawned = []
    real_launch = week_processes._launch

    def launch():
        conn, proc = real_launch()
        spawned.append(proc.pid)
        return conn, proc

    week_processes._launch = launch
    try:
        assert main(["run", str(tmp_path / "missing.yaml"), "--threads", "2", "--quiet"]) == 2
        small = tmp_path / "small.yaml"
        small.write_text("name: small\ntrust: {n_schools: 1, students_per_year_group: 10}\n")
        assert main(["run", str(small), "--threads", "2", "--quiet",
                     "--out", str(tmp_path / "out")]) == 0
    finally:
        week_processes._launch = real_launch
    assert len(spawned) == 2 and not week_processes._PRESTARTED
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(p) for p in spawned):
        time.sleep(0.2)
    assert not any(_alive(p) for p in spawned)
