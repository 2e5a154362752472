"""Where batches of runs execute: in this process, on local processes, or on a Dask cluster.

One interface for experiments and trials (as EMA Workbench separates experiments from their
evaluators). Each task is ``fn(*args)`` returning a list of result rows; ``on_rows`` receives
them as tasks finish, so the caller can store each run at once. Results never depend on the
executor: a run depends only on its own scenario and seed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

from srmsim.errors import SrmsimError

Rows = list[dict[str, Any]]

_POOLS: dict[int, ProcessPoolExecutor] = {}  # the pools kept by local_processes(), by size


def _new_pool(workers: int) -> ProcessPoolExecutor:
    import multiprocessing

    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


@contextmanager
def local_processes(workers: int) -> Iterator[None]:
    """Every :func:`execute` on ``workers`` local processes inside the block uses one pool.

    A search or a sequential experiment runs batch after batch; a pool per batch would start its
    processes, and their imports (seconds of CPU each), every time. Results are the same either
    way: a run depends only on its own scenario and seed."""
    if workers <= 1 or workers in _POOLS:
        yield
        return
    pool = _POOLS[workers] = _new_pool(workers)
    try:
        yield
    finally:
        del _POOLS[workers]
        pool.shutdown(wait=True, cancel_futures=True)


def execute(fn: Callable[..., Rows], tasks: Sequence[tuple], workers: int, scheduler: Any,
            on_rows: Callable[[Rows], None]) -> None:
    """Run ``fn(*task)`` for every task: Dask if ``scheduler`` (an address or a Client), else
    ``workers`` local processes (spawn, as Mesa needs), else in this process."""
    if scheduler is not None:
        _execute_dask(fn, tasks, scheduler, on_rows)
    elif workers <= 1:
        for task in tasks:
            on_rows(fn(*task))
    else:
        shared = _POOLS.get(workers)
        pool = shared or _new_pool(workers)
        try:
            pending = {pool.submit(fn, *task) for task in tasks}
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        on_rows(fut.result())
            except BaseException:
                for fut in pending:
                    fut.cancel()
                raise
        finally:
            if shared is None:
                pool.shutdown(wait=True)


def _execute_dask(fn: Callable[..., Rows], tasks: Sequence[tuple], scheduler: Any,
                  on_rows: Callable[[Rows], None]) -> None:
    try:
        from distributed import Client, as_completed
    except ImportError as err:  # pragma: no cover - the dask extra is missing
        raise SrmsimError("--scheduler needs the dask extra: pip install 'srmsim[dask]'") from err
    own = not isinstance(scheduler, Client)
    try:
        client = Client(scheduler, timeout="10s") if own else scheduler
    except OSError as err:
        raise SrmsimError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None
    try:
        columns = list(zip(*tasks, strict=True)) if tasks else []
        futures = client.map(fn, *columns, pure=False)
        for fut in as_completed(futures):
            on_rows(fut.result())
    finally:
        if own:
            client.close()


def batches(tasks: Sequence[Any], size: int) -> list[list[Any]]:
    """Consecutive chunks of ``size`` tasks."""
    return [list(tasks[i:i + size]) for i in range(0, len(tasks), size)]


def batch_size(run_seconds: float, n_tasks: int, workers: int,
               target_seconds: float = 1.0) -> int:
    """Runs per task: enough that a task takes ``target_seconds`` (measured here: a Dask task
    costs ~1.7 ms, a process round trip more), but at least four tasks per worker so that no
    worker idles at the end."""
    import math

    by_time = math.ceil(target_seconds / max(run_seconds, 1e-3))
    by_balance = max(1, n_tasks // (4 * max(workers, 1)))
    return max(1, min(by_time, by_balance))
