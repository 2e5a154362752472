"""Blocks and threads change how fast a week runs, never what it produces."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import REPO_ROOT, small_scenario

from srmsim.blocks import BLOCK_ROWS_ONE_THREAD, BLOCK_ROWS_THREADED, BlockRunner, check_threads
from srmsim.errors import SrmsimError
from srmsim.model import TrustModel
from srmsim.rng import CRN, binomial_inv, poisson_inv
from srmsim.scenario import load_scenario


def _outputs(model: TrustModel) -> dict[str, pd.DataFrame]:
    model.run()
    r = model.results()
    out = {"students": r.students, "weekly": r.weekly, "history": r.history}
    if r.events is not None:
        out["events"] = r.events
    return out


@pytest.mark.parametrize(("policy_file", "block_rows"), [(None, 37), ("dropout_prevention.yaml", 101)])
def test_blocked_threaded_run_is_bit_identical_to_the_plain_run(policy_file, block_rows):
    """Small blocks (many per school, schools split across blocks) on two threads, over two
    years (leavers, intake, a new layout), with and without a policy: every output equal."""
    if policy_file is None:
        sc = small_scenario({"years": 2})
    else:
        sc = load_scenario(REPO_ROOT / "scenarios" / policy_file).with_overrides(
            {"years": 2, "trust.n_schools": 2, "outputs.history": "all"})
    plain = _outputs(TrustModel(sc, seed=11, block_rows=10**9))
    blocked = TrustModel(sc, seed=11, threads=2, block_rows=block_rows)
    assert len(blocked.blocks.blocks(len(blocked.students))) > 3
    got = _outputs(blocked)
    assert got.keys() == plain.keys()
    for name, frame in plain.items():
        assert len(frame) > 0
        pd.testing.assert_frame_equal(got[name], frame, check_exact=True, obj=name)


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
