"""Blocks of students and the threads that run them.

Why blocks: the per-student part of a week is a few hundred numpy passes. Over the whole table
each pass streams every column from main memory once a week (a 4 MB float32 column at 1M
students, 32 MB at 8M); over a block of 64k students (256k on several threads) the same passes
run on arrays that stay in the core's cache, and every temporary is small enough for the
allocator to reuse instead of mapping (and page-faulting) fresh memory each week.

Why threads: numpy releases the GIL inside large passes, so two blocks can run at once on two
cores. Blocks never share rows and every draw is keyed by (seed, decision, week, uid), so the
result is bit-identical whatever the block size or the number of threads. On Linux the week's
blocks of a run on several cores go to helper processes instead (:mod:`srmsim.week_processes`:
threads hand the GIL over between passes, processes never wait for it); the threads here
still build the students.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from srmsim.errors import SrmsimError

T = TypeVar("T")

#: rows per block on one thread: a float32 column of a block is 256 KB, a uint64 hash 512 KB, so
#: a block's working arrays stay in a core's 2 MB L2 cache across the week's passes. Measured on
#: the project's machine (8M students, 13 weeks, sizes alternating in fresh processes): 9.0 s
#: against 9.4 s with 1 << 17 and 11.5 s with 1 << 18 (benchmarks/README.md).
BLOCK_ROWS_ONE_THREAD = 1 << 16
#: rows per block on two or more threads: blocks half the size hand the GIL over twice as often
#: and the two cores share their caches, so small blocks lose there (7.7 s with 1 << 16 against
#: 6.5-6.6 s with 1 << 17 and 1 << 18, same runs).
BLOCK_ROWS_THREADED = 1 << 18
#: below this many rows a second thread costs more (thread hand-off) than it saves
MIN_ROWS_PER_THREAD = 1 << 15


def check_threads(threads: int) -> int:
    """A usable thread count: at least 1, at most the cores this process may use."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise SrmsimError(f"threads must be a positive integer, got {threads!r}")
    if hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:  # pragma: no cover - macOS, Windows
        cores = os.cpu_count() or 1
    return min(threads, max(cores, 1))


def default_block_rows(threads: int) -> int:
    """Rows per block for a run on ``threads`` threads (after :func:`check_threads`)."""
    return BLOCK_ROWS_ONE_THREAD if threads == 1 else BLOCK_ROWS_THREADED


def check_block_rows(rows: int) -> int:
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise SrmsimError(f"block_rows must be a positive integer, got {rows!r}")
    return rows


class BlockRunner:
    """Runs ``fn(rows)`` over consecutive row slices of a table, on ``threads`` threads."""

    def __init__(self, threads: int = 1, block_rows: int | None = None):
        self.threads = check_threads(threads)
        self.block_rows = check_block_rows(
            default_block_rows(self.threads) if block_rows is None else block_rows)
        self._pool: ThreadPoolExecutor | None = None
        self._finalizer: weakref.finalize | None = None

    def blocks(self, n: int) -> list[slice]:
        """Row slices of about equal size, none larger than ``block_rows``; at least one per
        thread when there are enough rows to share."""
        if n <= 0:
            return [slice(0, 0)]
        count = -(-n // self.block_rows)
        if self.threads > 1 and n >= self.threads * MIN_ROWS_PER_THREAD:
            count = -(-count // self.threads) * self.threads  # a multiple: no idle thread
        size = -(-n // count)
        return [slice(lo, min(lo + size, n)) for lo in range(0, n, size)]

    def run(self, fn: Callable[[slice], object], n: int) -> None:
        """``fn(rows)`` for every block of an ``n``-row table (blocks in any order when
        threaded: ``fn`` must touch only its own rows)."""
        self.map(fn, n)

    def map(self, fn: Callable[[slice], T], n: int) -> list[T]:
        """:meth:`run`, returning ``fn``'s results in the order of the blocks."""
        blocks = self.blocks(n)
        if self.threads == 1 or len(blocks) == 1:
            return [fn(rows) for rows in blocks]
        return list(self._executor().map(fn, blocks))  # re-raises a block's exception

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.threads,
                                            thread_name_prefix="srmsim-block")
            self._finalizer = weakref.finalize(self, self._pool.shutdown, wait=False)
        return self._pool

    def close(self) -> None:
        """Stop the threads (a later ``run`` starts them again)."""
        if self._finalizer is not None:
            self._finalizer()
        self._pool = self._finalizer = None
