"""Where batches of runs execute: in this process, on local processes, or on a Dask cluster.

One interface for experiments and trials (as EMA Workbench separates experiments from their
evaluators). Each task is ``fn(*args)`` returning a list of result rows; ``on_rows`` receives
them as tasks finish, so the caller can store each run at once. Results never depend on the
executor: a run depends only on its own scenario and seed.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from srmsim.errors import SrmsimError

Rows = list[dict[str, Any]]

#: what a dead local worker means, and what to do: every run finished before it is stored
WORKER_DIED = (
    "a worker process died (killed, or out of memory; from Python, a script that runs srmsim "
    "on workers must start it under `if __name__ == \"__main__\":`). Runs finished before "
    "it are kept: run the same command again with --resume (from Python: resume=True), or "
    "with fewer workers")

_POOLS: dict[int, _Workers] = {}  # the pools kept by local_processes(), by size

#: what a Dask worker's death means: the last worker to try the task, then what to do. Dask
#: gives up on a task once the workers running it have died (``allowed-failures``, 3)
DASK_WORKER_DIED = (
    "a Dask worker died running this study's runs{where}, most likely for memory: its nanny "
    "restarts a worker that passes its memory limit (95% of it by default), and the system "
    "kills one that takes more than its machine has\n"
    "Runs finished before it are kept: run the same command again with --resume (from Python: "
    "resume=True), on workers with more memory each (dask worker --memory-limit) or fewer "
    "threads each (--nthreads)")
DASK_CANCELLED = (
    "the Dask cluster cancelled this study's runs (reason: {why}): its scheduler went away or "
    "restarted, or another client cancelled them\n"
    "Runs finished before it are kept: run the same command again with --resume (from Python: "
    "resume=True)")

#: a study's largest run on a Dask cluster: its estimated bytes and what it is, for the
#: :func:`execute` calls inside :func:`runs_need` (each worker gets no more runs at a time
#: than its memory holds)
_RUN_NEED: ContextVar[tuple[int, str]] = ContextVar("srmsim_run_need", default=(0, ""))
#: seconds between two looks at a cluster's workers while a study runs (one joins, one goes)
WORKERS_REFRESH_SECONDS = 2.0

#: what a worker imports before its first run of a scenario (experiments, searches): named here,
#: in a module that imports nothing heavy, so a command can start the workers' imports first
RUN_MODULES = ("srmsim.model", "srmsim.scenario", "srmsim.yamlio", "srmsim.experiment.custom",
               "srmsim.experiment.outcomes")

#: thread pools of BLAS/OpenMP libraries: one thread in each worker, or N workers on N cores
#: would each start N threads and fight over the cores (Dask's nanny does the same)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def _prepare_worker(preload: tuple[str, ...], parent: int) -> None:
    """A worker's initializer: watch the parent, take the memory settings of the srmsim
    command (the fork server is a fresh process: it inherits none), then import what its tasks
    need before the first task arrives (a worker forked from a preloaded fork server has them)."""
    import signal
    import threading

    from srmsim.memory import keep_freed_memory

    keep_freed_memory()

    threading.Thread(target=_exit_with, args=(parent, os.getppid()), daemon=True,
                     name="srmsim-parent-watch").start()
    for name in preload:
        importlib.import_module(name)
    # Ctrl-C stops a run at once, as before; not until here: a worker forked from the fork
    # server ignores it as the server does, and a Ctrl-C while it started (its
    # keep_freed_memory runs ldconfig) ended the start with "Exception in initializer" and a
    # traceback. One in those moments is the parent's to act on (its workers then end with it).
    signal.signal(signal.SIGINT, _stop_quietly)


class BatchInterrupted(Exception):
    """A batch of runs cut short by Ctrl-C (in its worker, or in this process), with the
    ``rows`` of the runs it had finished: its task raises them this way (:func:`stop_asked`
    says when), and :func:`execute` stores them and stops as on the command's own Ctrl-C.
    Raised as they were, the SystemExit or KeyboardInterrupt lost them: a batch's rows came
    back only when every run in it was done."""

    def __init__(self, rows: list[dict[str, Any]]):
        super().__init__(f"interrupted after {len(rows)} runs")
        self.rows = rows

    def __reduce__(self) -> tuple[Any, ...]:  # (pickled back to the parent with its rows)
        return (BatchInterrupted, (self.rows,))


#: set in a worker once Ctrl-C reached it (:func:`_stop_quietly`)
_STOP_ASKED = threading.Event()


def stop_asked() -> bool:
    """Whether Ctrl-C reached this worker: a batch then starts no further run (a queued batch
    none), rather than each run of it being started and stopped in turn."""
    return _STOP_ASKED.is_set()


def _stop_quietly(signum: int, frame: Any) -> None:
    """A worker's Ctrl-C (it reaches the whole process group): end its run, or its wait for
    one, with SystemExit. A KeyboardInterrupt stopped a run alike, but a worker waiting
    between batches (a search's between its candidates) printed "Process ForkServerProcess-2:"
    and a traceback under the command's own "srmsim: interrupted"; multiprocessing ends a
    process on SystemExit without one. A run's SystemExit goes back to the parent as its
    result, as the KeyboardInterrupt did (a batch of runs keeps those it finished:
    :class:`BatchInterrupted`)."""
    _STOP_ASKED.set()
    raise SystemExit(128 + signum)


def _exit_with(parent: int, ppid: int) -> None:
    """End this worker once ``parent`` is gone (killed with kill -9, say): it would otherwise
    finish its task for no one, then wait for the next one for ever (and, forked, keep its fork
    server alive). Its finished runs are all stored already; ``--resume`` redoes the rest."""
    import time

    while True:
        time.sleep(1.0)
        if os.getppid() != ppid:  # spawned: re-parented when the parent died
            os._exit(1)
        if os.name == "posix" and _gone(parent):  # (on Windows os.kill would end the parent)
            os._exit(1)


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (POSIX): not there (its number maybe reused), or a
    zombie its own parent has not reaped yet. A killed command is a zombie until then, and a
    parent that reads the command's output to its end before reaping it (``subprocess.run``
    with ``capture_output``, a CI runner) waits for the workers, which hold that output open:
    each would wait for the other for ever. The zombie state is read from /proc (Linux); where
    there is none the worker ends once the zombie is reaped."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read()
    except OSError:
        return False
    return fields[fields.rfind(b")") + 2:][:1] in (b"Z", b"X")  # the state, after "(name) "


@contextmanager
def _one_thread_each() -> Iterator[None]:
    """Processes started inside the block inherit one BLAS/OpenMP thread (unless the user set
    a number); the parent's own environment is restored afterwards."""
    unset = [v for v in THREAD_VARIABLES if v not in os.environ]
    os.environ.update(dict.fromkeys(unset, "1"))
    try:
        yield
    finally:
        for var in unset:
            os.environ.pop(var, None)


def _context() -> Any:
    """How local workers start: forked from a fork server where the platform has one (Linux,
    macOS), so srmsim, Mesa and pandas are imported once, by the server, instead of again by
    every worker (about 1.5 s of CPU each); spawned elsewhere (Windows). Never forked from the
    parent itself, which may hold threads (a progress bar, a notebook, a Dask client)."""
    import multiprocessing

    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method)


def start_server(preload: Sequence[str] = ()) -> None:
    """Start the fork server that local workers come from, importing ``preload``, now: it works
    in the background, so a command that calls this first overlaps the imports with its own.
    Once running it is kept (with the modules it imported) until this process exits, and each
    later pool starts its workers at once; a no-op where workers are spawned."""
    ctx = _context()
    if ctx.get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    ctx.set_forkserver_preload(["__main__", *preload])  # no effect once the server runs
    with _one_thread_each(), _server_ignores_ctrl_c():
        forkserver.ensure_running()


@contextmanager
def _server_ignores_ctrl_c() -> Iterator[None]:
    """Start the fork server with Ctrl-C ignored, which it keeps through its ``exec``: Ctrl-C
    reaches the whole process group, and one in the server's first seconds (its imports, before
    it ignores SIGINT itself) printed a KeyboardInterrupt traceback beside "srmsim:
    interrupted". This command stops on its own Ctrl-C; the workers take the usual handler back
    (:func:`_prepare_worker`). (A Ctrl-C in the milliseconds the server takes to start is lost.)"""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set a handler
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _Workers:
    """A pool of local processes, each with ``preload`` imported (by the fork server, or by
    each spawned worker), and when they can start.

    Starting a worker from a fork server waits for the server's imports (1-2 s), which the
    parent can spend on other work or on runs of its own (:func:`_execute_local`). So a thread
    waits for the server (one throwaway process forked from it), and the pool's workers are
    started by the parent once it is up (:meth:`ready`), as before: started from a thread, a
    worker could be added while the pool, broken by a killed worker, stops the others, and
    never be stopped itself."""

    def __init__(self, workers: int, preload: Sequence[str] = ()):
        start_server(preload)
        self.workers = workers
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=_context(),
                                        initializer=_prepare_worker,
                                        initargs=(tuple(preload), os.getpid()))
        self._started: list[Future[int]] = []
        self._server: threading.Thread | None = None
        if _context().get_start_method() == "forkserver":
            self._server = threading.Thread(target=_wait_for_server, daemon=True,
                                            name="srmsim-fork-server-wait")
            self._server.start()
        else:  # spawned workers: nothing to wait for but their own start
            self._start()

    def _start(self) -> None:
        with _one_thread_each():
            for _ in range(self.workers):  # in Python >= 3.9 each submit to a busy pool
                self._started.append(self.pool.submit(int))  # starts a process

    def ready(self) -> bool:
        """Every worker has started and imported what it needs (or failed to): the first call
        once the fork server is up starts them (quick, from a server that has imported)."""
        if self._server is not None:
            if self._server.is_alive():
                return False
            self._server = None
            self._start()
        return all(f.done() for f in self._started)

    def shutdown(self, cancel_futures: bool = False) -> None:
        self.pool.shutdown(wait=True, cancel_futures=cancel_futures)


def _wait_for_server() -> None:
    """Return once the fork server takes requests (its imports done): a throwaway process
    forked from it, which does nothing."""
    try:
        probe = _context().Process(target=int, daemon=True)
        probe.start()
        probe.join()
    except Exception:  # noqa: BLE001 - a server that cannot fork: the pool's start says why
        pass


@contextmanager
def local_processes(workers: int, preload: Sequence[str] = ()) -> Iterator[None]:
    """Every :func:`execute` on ``workers`` local processes inside the block uses one pool.

    A search or a sequential experiment runs batch after batch; a pool per batch would start its
    processes, and their imports (seconds of CPU each), every time. The processes start when the
    block is entered and import the modules named in ``preload`` at once, so entering the block
    before the parent's own preparation (reading files, planning runs) hides their start-up.
    Results are the same either way: a run depends only on its own scenario and seed."""
    if workers <= 1 or workers in _POOLS:
        yield
        return
    pool = _POOLS[workers] = _Workers(workers, preload)
    try:
        yield
    finally:
        del _POOLS[workers]
        pool.shutdown(cancel_futures=True)


def execute(fn: Callable[..., Rows], tasks: Sequence[tuple], workers: int, scheduler: Any,
            on_rows: Callable[[Rows], object], preload: Sequence[str] = ()) -> None:
    """Run ``fn(*task)`` for every task: Dask if ``scheduler`` (an address or a Client), else
    ``workers`` local processes (see :func:`_context`; a new pool's workers import ``preload``
    first, unless inside :func:`local_processes`), else in this process."""
    if scheduler is not None:
        _execute_dask(fn, tasks, scheduler, on_rows)
    elif workers <= 1:
        for task in tasks:
            try:
                rows = fn(*task)
            except BatchInterrupted as stopped:  # Ctrl-C here: the batch's finished runs
                on_rows(stopped.rows)
                raise KeyboardInterrupt from None
            on_rows(rows)
    else:
        shared = _POOLS.get(workers)
        pool = shared or _Workers(workers, preload)
        try:
            _execute_local(pool, fn, tasks, on_rows)
        finally:
            if shared is None:
                pool.shutdown()


def _execute_local(pool: _Workers, fn: Callable[..., Rows], tasks: Sequence[tuple],
                   on_rows: Callable[[Rows], object]) -> None:
    """The tasks on the pool's processes, in order, two per worker handed over at a time.

    Until the workers are up (a fork server's imports take 1-2 s), this process runs tasks
    too, one at a time on a thread, rather than wait with a core idle; the workers get the
    next tasks the moment they are up. Rows are stored here, on this thread, whoever ran them;
    where a task runs never changes its rows."""
    queue = deque(tasks)
    pending: set[Future[Rows]] = set()
    here: Future[Rows] | None = None  # the task this process is running meanwhile
    local = ThreadPoolExecutor(1, thread_name_prefix="srmsim-run-here")
    workers: dict[int, Any] = {}  # the pool's processes seen (how one died is said from them)
    done: set[Future[Rows]] = set()
    taking: Future[Rows] | None = None  # a finished task, until its rows are stored
    left: list[Rows] = []  # its rows, while they are stored
    try:
        while queue or pending:
            up = pool.ready()
            if up:
                workers.update(getattr(pool.pool, "_processes", None) or {})
                while queue and len(pending) < 2 * pool.workers:
                    pending.add(pool.pool.submit(fn, *queue.popleft()))
            elif queue and (here is None or here.done()):
                here = local.submit(fn, *queue.popleft())
                pending.add(here)
            done, pending = wait(pending, timeout=None if up else 0.05,
                                 return_when=FIRST_COMPLETED)
            while done:  # (a result a Ctrl-C kept from being stored is stored below)
                taking = done.pop()
                left = [taking.result()]  # (a worker's Ctrl-C: BatchInterrupted)
                on_rows(left[0])
                left, taking = [], None
    except BrokenProcessPool:
        raise SrmsimError(WORKER_DIED + _how_died(workers)) from None
    except BaseException as err:
        for fut in pending:
            fut.cancel()  # those not started
        if isinstance(err, KeyboardInterrupt | BatchInterrupted | SystemExit):
            taken = {taking} if taking is not None and not left else set()
            _keep_finished(done | pending | taken, on_rows, left)
        if isinstance(err, BatchInterrupted | SystemExit):  # a worker's Ctrl-C came first
            raise KeyboardInterrupt from None
        raise
    finally:
        local.shutdown(wait=False, cancel_futures=True)


#: how long a stopped command waits for its running tasks' rows (:func:`_keep_finished`)
KEEP_FINISHED_SECONDS = 20.0


def _keep_finished(futures: set[Future[Rows]], on_rows: Callable[[Rows], object],
                   left: list[Rows]) -> None:
    """Once the command is stopped (Ctrl-C): the rows of every task that has finished or
    finishes now, given to ``on_rows`` (stored), so ``--resume`` redoes only the runs not
    done. Dropped before: a task's rows not yet handed over, the runs a batch had finished
    when Ctrl-C stopped its worker (:class:`BatchInterrupted`), and the run this process made
    while the workers started (which it waited for anyway before exiting). Tasks still
    running end at once (the workers' Ctrl-C), or were waited for anyway as the pool shut
    down. ``left``: the rows of a task the Ctrl-C stopped this process storing, stored again
    whole (a run stored already is written again, the same files). A second Ctrl-C, or rows
    that cannot be stored, ends the keeping."""
    if left:
        try:
            on_rows(left[0])
        except Exception:  # noqa: BLE001 - the interrupt is what the command reports
            return
    running = {f for f in futures if not f.cancelled()}
    # bounded: a task whose worker does not end at Ctrl-C must not hold the command (one run
    # under Python 3.13 in CI waited past 180 s); what finished by then is kept
    for fut in wait(running, timeout=KEEP_FINISHED_SECONDS).done:
        error = fut.exception()
        rows = error.rows if isinstance(error, BatchInterrupted) else \
            None if error is not None else fut.result()
        if rows:
            try:
                on_rows(rows)
            except Exception:  # noqa: BLE001 - the interrupt is what the command reports
                return


def _how_died(workers: dict[int, Any]) -> str:
    """A second line, ``worker 1234 was killed by signal 9, SIGKILL: ...``, for the pool's
    processes that a signal other than the pool's own SIGTERM ended: "a worker process died"
    alone did not say whether memory ran out (the kernel's out-of-memory killer sends SIGKILL)
    or it crashed."""
    import signal

    died = []
    for pid, proc in sorted(workers.items()):
        try:
            code = proc.exitcode  # polls: a process killed by a signal has a negative code
        except (OSError, ValueError, AttributeError):
            continue
        if code is None or code >= 0 or -code == signal.SIGTERM:
            continue
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "an unknown signal"
        why = (": the kernel's out-of-memory killer sends it, as does `kill -9`"
               if -code == signal.SIGKILL else "")
        died.append(f"worker {pid} was killed by signal {-code}, {name}{why}")
    return "\n" + "; ".join(died) if died else ""  # (its own line: long lines are cut)


def connect(scheduler: Any) -> Any:
    """A Dask client of the scheduler at the address ``scheduler``, or an error naming it: an
    address that is none ("nonsense", "", "file:///x") was a ValueError traceback."""
    try:
        from distributed import Client
        from distributed.comm import get_address_host_port, parse_address
    except ImportError as err:  # pragma: no cover - the dask extra is missing
        raise SrmsimError("--scheduler needs the dask extra: pip install 'srmsim[dask]'") from err
    try:
        # parsed first: a Client given a bad address could leave distributed's event loop in a
        # state where the next Client failed on an assertion
        if isinstance(scheduler, str) and parse_address(scheduler)[0] != "inproc":
            get_address_host_port(scheduler)
        return Client(scheduler, timeout="10s")
    except OSError as err:
        raise SrmsimError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None
    except (ValueError, TypeError) as err:
        raise SrmsimError(f"--scheduler {str(scheduler)[:100]!r} is not a Dask scheduler's "
                          f"address, e.g. tcp://127.0.0.1:8786 ({str(err)[:120]})") from None


P = ParamSpec("P")
R = TypeVar("R")


def connects_scheduler(fn: Callable[P, R]) -> Callable[P, R]:
    """For an entry point with a ``scheduler`` argument (experiment, trial, optimisation): an
    address is connected to (:func:`connect`) before the function runs, so a bad one is an
    error before it writes anything (a results folder, store or study was left behind), and
    the client is closed when it returns. A client, or None, passes through."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        bound = signature.bind(*args, **kwargs)
        if not isinstance(bound.arguments.get("scheduler"), str):
            return fn(*args, **kwargs)
        client = connect(bound.arguments["scheduler"])
        try:
            bound.arguments["scheduler"] = client
            return fn(*bound.args, **bound.kwargs)
        finally:
            client.close()

    return run


@dataclass(frozen=True)
class DaskWorker:
    """A Dask worker, as a study's memory check sees it.

    ``limit``: its ``memory_limit`` in bytes (0: none). ``pause``: the share of it at which Dask
    pauses it (80% by default: it then starts no task until its memory falls back, and a process
    keeps memory it has freed, :mod:`srmsim.memory`) or, with no pause, its nanny kills it (95%),
    in bytes (0: no limit). ``base``: what its process holds before any run, as it reports it
    after importing what a run imports, at least :data:`srmsim.memory.BASE_BYTES` (the figure a
    run's estimate already counts). ``machine``: the memory its machine has for runs, shared by
    that machine's workers: what it reports available, and what its workers hold beyond their
    ``base`` (runs in progress, memory freed and kept for reuse: theirs to use again); None where
    the worker could not report."""

    address: str
    host: str
    nthreads: int
    limit: int
    pause: int
    base: int
    machine: int | None

    @property
    def alone(self) -> int | None:
        """The most its process may reach holding one run: its limit's ``pause`` share, no more
        than its ``base`` and its ``machine`` (a limit above what its machine has is no room: the
        kernel kills the worker first), or, with no limit, those two; None if not known."""
        if self.machine is None:
            return self.pause or None
        room = self.base + self.machine
        return min(self.pause, room) if self.pause else room

    @property
    def room(self) -> int | None:
        """What it has for runs alone: ``alone`` less its ``base``; None if not known."""
        alone = self.alone
        return None if alone is None else max(alone - self.base, 0)


def _count(value: Any) -> int | None:
    """A worker's reported figure in bytes, or None where it is none (a hostile or old report)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def dask_workers(client: Any) -> list[DaskWorker]:
    """The workers of the cluster ``client`` is connected to, and their memory.

    Why: a run bigger than a worker's memory limit is killed by its nanny, again on each worker
    it is retried on, and the study ends in ``KilledWorker`` minutes later (or the worker,
    paused for memory, never starts another task); a worker with 4 threads runs 4 runs at once
    in one process."""
    from srmsim.memory import BASE_BYTES

    try:
        info = client.scheduler_info(n_workers=-1)  # newer Clients report 5 workers by default
    except TypeError:  # older Clients: every worker, and no such argument
        info = client.scheduler_info()
    found = dict(info.get("workers") or {})
    reports: dict[str, Any] = {}
    if found:
        from srmsim.dask_workers import memory_report

        try:
            reports = client.run(memory_report, workers=list(found), on_error="return")
        except Exception:  # noqa: BLE001 - a cluster that cannot say: its workers' own limits
            reports = {}
    reports = {addr: r for addr, r in reports.items() if isinstance(r, dict)}
    free: dict[str, int] = {}  # the least a machine's workers report available, by host
    held: dict[str, int] = {}  # what they hold beyond their baselines, by host
    bases: dict[str, int] = {}
    processes: set[tuple[str, Any]] = set()  # workers that are threads of one process: once
    for addr, report in reports.items():
        host = str(found.get(addr, {}).get("host", addr))
        bases[addr] = max(_count(report.get("baseline")) or 0, BASE_BYTES)
        value = _count(report.get("available"))
        if value is not None:
            free[host] = min(free.get(host, value), value)
        rss, pid = _count(report.get("rss")), _count(report.get("pid"))
        if rss is not None and (host, pid or addr) not in processes:
            processes.add((host, pid or addr))
            held[host] = held.get(host, 0) + max(rss - bases[addr], 0)
    workers = []
    for addr, w in sorted(found.items()):
        limit = int(w.get("memory_limit") or 0)
        host = str(w.get("host", addr))
        report = reports.get(addr)
        pause = 0
        if limit:
            # a worker that could not report: the defaults of its Dask
            share = (report or {"pause": 0.8}).get("pause") or (report or {}).get("terminate")
            pause = int(limit * min(share or 1.0, 1.0))
        machine = free[host] + held.get(host, 0) if host in free and report is not None else None
        workers.append(DaskWorker(addr, host, max(int(w.get("nthreads") or 1), 1), limit, pause,
                                  bases.get(addr, BASE_BYTES), machine))
    return workers


def dask_slots(workers: Sequence[DaskWorker], need: int) -> dict[str, int]:
    """How many runs of ``need`` bytes (:func:`srmsim.memory.run_bytes`) each worker may run at
    once: its threads, or as many as its memory holds, all in one process that holds its
    ``base`` once (``need`` less :data:`~srmsim.memory.BASE_BYTES` each): within its limit's
    ``pause`` share, and within its machine's memory, shared among that machine's workers (one
    run each in turn, up to what each may hold). A worker whose memory is not known: its
    threads."""
    from srmsim.memory import BASE_BYTES

    each = need - BASE_BYTES
    slots = {w.address: w.nthreads for w in workers}
    most: dict[str, int] = {}  # what each worker may hold, its machine aside
    shared: dict[str, list[DaskWorker]] = {}
    for w in workers:
        if each <= 0 or w.alone is None:
            continue
        most[w.address] = (min(w.nthreads, max(w.pause - w.base, 0) // each) if w.pause
                           else w.nthreads)
        if w.machine is None:  # a limit, its machine not known: the limit alone
            slots[w.address] = most[w.address]
        else:
            slots[w.address] = 0
            shared.setdefault(w.host, []).append(w)
    for machine in shared.values():
        left = (machine[0].machine or 0) // each
        while left > 0 and any(slots[w.address] < most[w.address] for w in machine):
            for w in machine:
                if left > 0 and slots[w.address] < most[w.address]:
                    slots[w.address] += 1
                    left -= 1
    return slots


def _refuse_if_none_fits(workers: Sequence[DaskWorker], need: int, what: str,
                         ending: str = "nothing was run or written") -> None:
    """A :class:`~srmsim.memory.RunTooBigError` when every worker's memory is known and none can
    hold one run of ``need`` bytes even alone (``ending``: what became of the study)."""
    from srmsim.memory import BASE_BYTES, RunTooBigError, amount

    each = need - BASE_BYTES
    if not workers or any(w.room is None or w.room >= each for w in workers):
        return
    from srmsim.labels import plural

    best = max(workers, key=lambda w: w.room or 0)
    room = best.alone or 0
    if not best.limit:
        source = ("no memory limit: the memory available on its machine, and its own "
                  "interpreter and libraries")
    elif room < best.pause:
        source = (f"its memory limit, {amount(best.limit)}, is more than its machine has: the "
                  "memory available there, and its own interpreter and libraries")
    elif room < best.limit:
        source = (f"{room / best.limit:.0%} of its memory limit, {amount(best.limit)}, where Dask "
                  "pauses or ends it")
    else:
        source = "its memory limit"
    own = ""  # (its own line: long lines are cut)
    if best.base > BASE_BYTES:  # measured on the worker: more than the estimate's own process
        own = (f"its process holds {amount(best.base)} before any run (Python, Dask, srmsim) "
               f"and a run needs {amount(max(each, 0))} more\n")
    raise RunTooBigError(
        f"no worker of the Dask cluster can hold a run of about {amount(need)} (more with a "
        f"policy's cases): the largest of its {plural(len(workers), 'worker')} has "
        f"{amount(room)} ({source}); {ending}\n{own}"
        f"the run: {what}\n"
        "give the workers more memory (dask worker --memory-limit), or make the trust "
        "(trust.n_schools, trust.students_per_year_group), years, outputs.history or the "
        "requests smaller")


def check_cluster_fits(client: Any, need: int, what: str) -> str:
    """Refuse, before a study writes anything, runs of ``need`` bytes (its largest, ``what``)
    that no worker of the cluster can hold (:class:`~srmsim.memory.RunTooBigError`); else a
    note when its workers' memory holds fewer runs at once than their threads, whose runs
    :func:`execute` then holds back (inside :func:`runs_need`), or "".

    Why: otherwise each run is killed on a worker (its nanny's memory limit) and retried on the
    next, and the study ends in ``KilledWorker`` minutes later. A cluster with no workers yet
    (one that scales up on demand) or that does not say its workers' memory is not checked."""
    from srmsim.memory import amount

    workers = dask_workers(client)
    _refuse_if_none_fits(workers, need, what)
    slots = dask_slots(workers, need)
    threads = sum(w.nthreads for w in workers)
    at_once = sum(slots.values())
    if at_once >= threads:
        return ""
    from srmsim.labels import agree, plural

    none = sum(n == 0 for n in slots.values())
    return (f"the Dask cluster's {plural(len(workers), 'worker')} "
            f"{agree(len(workers), 'has', 'have')} {plural(threads, 'thread')}, and "
            f"their memory holds {plural(at_once, 'run')} of about {amount(need)} at once (more "
            "with a policy's cases): each worker gets no more runs at a time than its memory "
            "holds (the same results)"
            + (f"; {none} with room for none get no runs" if none else ""))


@contextmanager
def runs_need(need: int, what: str = "the study's largest run") -> Iterator[None]:
    """Every Dask :func:`execute` inside the block sends each worker no more tasks at a time
    than its memory holds runs of ``need`` bytes (see :func:`check_cluster_fits`); each task
    runs its runs one after another, so it holds one at a time. Local execution ignores it."""
    token = _RUN_NEED.set((int(need), what))
    try:
        yield
    finally:
        _RUN_NEED.reset(token)


def _execute_dask(fn: Callable[..., Rows], tasks: Sequence[tuple], scheduler: Any,
                  on_rows: Callable[[Rows], object]) -> None:
    """The tasks on a Dask cluster, their rows stored as each finishes. Inside
    :func:`runs_need`, where a worker's memory holds fewer runs than its threads, each worker is
    given at most that many tasks at a time (:class:`_HeldBack`); a worker's death, or the cluster
    cancelling the tasks, is a short :class:`SrmsimError` (the runs stored before it kept)."""
    try:
        from distributed import Client, as_completed
        from distributed.scheduler import KilledWorker
    except ImportError as err:  # pragma: no cover - the dask extra is missing
        raise SrmsimError("--scheduler needs the dask extra: pip install 'srmsim[dask]'") from err
    from concurrent.futures import CancelledError

    own = not isinstance(scheduler, Client)
    client = connect(scheduler) if own else scheduler
    pending: set[Any] = set()
    try:
        from srmsim.dask_workers import MemorySettings

        # the srmsim command's memory settings, as its local workers take them
        client.register_plugin(MemorySettings())
        need, what = _RUN_NEED.get()
        held = _HeldBack(client, need, what) if need > 0 and tasks else None
        if held is None or not held.needed():
            columns = list(zip(*tasks, strict=True)) if tasks else []
            futures = client.map(fn, *columns, pure=False)
            pending.update(futures)
            # on this client's loop: as_completed's default is the default client's, another
            # client in this process (a notebook's), and a result lost with its worker was
            # then awaited on two loops (a RuntimeError traceback, not the message below)
            for fut in as_completed(futures, loop=client.loop):
                pending.discard(fut)
                on_rows(fut.result())
        else:
            held.run(fn, tasks, on_rows, pending)
    except BatchInterrupted as stopped:  # a worker's Ctrl-C (one started in this terminal)
        on_rows(stopped.rows)
        raise KeyboardInterrupt from None
    except KilledWorker as err:
        last = getattr(getattr(err, "last_worker", None), "address", None)
        raise SrmsimError(DASK_WORKER_DIED.format(
            where=f" (the last to try them: {last})" if last else "")) from None
    except CancelledError as err:  # distributed's FutureCancelledError, with its reason
        why = str(getattr(err, "reason", "") or "unknown")[:100]
        raise SrmsimError(DASK_CANCELLED.format(why=why)) from None
    finally:
        if pending:  # stopped early: the cluster need not finish runs no one will store
            try:
                client.cancel(list(pending))
            except Exception:  # noqa: BLE001, S110 - a client already gone cancelled them
                pass
        if own:
            client.close()


class _HeldBack:
    """Tasks given to each Dask worker no faster than its memory holds runs of ``need``
    bytes: each task is asked of its worker (``workers=``, loosely: Dask gives it to another if
    that worker has gone, and may move one not started yet from a worker busy with other
    work), which starts it at once, and the next is sent as one finishes. The workers are looked
    at again every :data:`WORKERS_REFRESH_SECONDS` while tasks wait, so one that joins gets
    tasks too."""

    def __init__(self, client: Any, need: int, what: str):
        self.client = client
        self.need = need
        self.what = what
        self.slots: dict[str, int] = {}
        self.threads: dict[str, int] = {}
        self.seen = 0.0
        self._look()

    def _look(self) -> None:
        import time

        workers = dask_workers(self.client)
        _refuse_if_none_fits(workers, self.need, self.what, "runs finished before are kept: "
                             "run the same command again with --resume once they can")
        self.slots = dask_slots(workers, self.need)
        self.threads = {w.address: w.nthreads for w in workers}
        self.seen = time.monotonic()

    def needed(self) -> bool:
        """Whether any worker holds fewer runs than its threads (else Dask's own placement)."""
        return any(n < self.threads[a] for a, n in self.slots.items())

    def run(self, fn: Callable[..., Rows], tasks: Sequence[tuple],
            on_rows: Callable[[Rows], object], pending: set[Any]) -> None:
        import time

        from distributed import as_completed

        queue = deque(tasks)
        where: dict[Any, str] = {}  # each task's worker
        load: dict[str, int] = {}  # the tasks each worker holds now
        finished = as_completed(loop=self.client.loop)  # (see _execute_dask)

        def send() -> None:
            for addr, n in self.slots.items():
                while queue and load.get(addr, 0) < n:
                    fut = self.client.submit(fn, *queue.popleft(), pure=False, workers=[addr],
                                             allow_other_workers=True)
                    where[fut] = addr
                    load[addr] = load.get(addr, 0) + 1
                    pending.add(fut)
                    finished.add(fut)

        send()
        while queue or pending:
            if not pending:  # no worker to send to (all gone): wait for one, as Dask would
                time.sleep(WORKERS_REFRESH_SECONDS)
                self._look()
                send()
                continue
            fut = next(finished)
            pending.discard(fut)
            load[where.pop(fut)] -= 1
            on_rows(fut.result())
            if queue and time.monotonic() - self.seen > WORKERS_REFRESH_SECONDS:
                self._look()
            send()


def batches(tasks: Sequence[Any], size: int, workers: int = 1) -> list[list[Any]]:
    """Consecutive chunks of at most ``size`` tasks, shrinking towards the end (guided
    scheduling: a chunk holds at most half of each worker's share of what remains), so the
    last chunks are single tasks and no worker idles while another finishes a long chunk.
    Executors start the chunks in this order."""
    import math

    out = []
    i = 0
    while i < len(tasks):
        n = min(size, max(1, math.ceil((len(tasks) - i) / (2 * max(workers, 1)))))
        out.append(list(tasks[i:i + n]))
        i += n
    return out


#: workers assumed on a Dask cluster when sizing tasks (its size is not known in advance)
DASK_SLOTS = 8


def slots(workers: int, scheduler: Any) -> int:
    """How many tasks run at once, for sizing and ordering them: the local workers, or
    :data:`DASK_SLOTS` on a Dask cluster."""
    return workers if scheduler is None else DASK_SLOTS


def batch_size(run_seconds: float, n_tasks: int, workers: int,
               target_seconds: float = 1.0) -> int:
    """Runs per task: enough that a task takes ``target_seconds`` (measured here: a Dask task
    costs ~1.7 ms, a process round trip more), but at least four tasks per worker so that no
    worker idles at the end."""
    import math

    by_time = math.ceil(target_seconds / max(run_seconds, 1e-3))
    by_balance = max(1, n_tasks // (4 * max(workers, 1)))
    return max(1, min(by_time, by_balance))
