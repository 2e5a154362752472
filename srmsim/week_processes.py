"""Helper processes that run blocks of each week on other cores, over shared student columns.

Why processes and not threads: a week is a few hundred numpy passes per block, and between
passes a thread needs the GIL. Two threads over blocks small enough for a core's cache hand the
GIL over so often that they were only 1.2x faster than one thread on the same blocks
(benchmarks/blocks.py), while two separate processes each run at full speed. So on Linux a run
on N cores keeps its student table and the week's observations in one block of shared memory
(an anonymous ``memfd``: nothing is left behind in ``/dev/shm`` if the run is killed, and no
other user can open it), generates its first students straight into it, and starts N - 1
helper processes that map it. Each week this process takes blocks from the front and the
helpers from the back until they meet, each block written only by the core that runs it; the
draws are keyed by uid, so the results are bit-identical to one core whichever core ran which
block. Elsewhere (macOS, Windows) the blocks run on threads (:mod:`srmsim.blocks`).

The helpers are fresh interpreters that import only numpy, the dynamics, the population
generator and the scenario's config (about a second, while this process starts generating);
they ignore Ctrl-C (the run's process handles it) and exit when the run's process ends (their
socket closes).
"""

from __future__ import annotations

import mmap
import os
import pickle
import socket
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from srmsim.errors import SrmsimError
from srmsim.executors import THREAD_VARIABLES

#: a column's offset in the shared block is a multiple of this (a cache line)
_ALIGN = 64

#: blocks granted to each helper ahead of its answers: it starts its next block at once
AHEAD = 2

#: what a helper that died means
HELPER_DIED = ("a helper process of the run died (killed, or out of memory); run again with "
               "--threads 1 (from Python: threads=1) if it happens again")

Layout = list[tuple[str, str, str, tuple[int, ...], int]]  # (owner, name, dtype, shape, offset)
Spec = list[tuple[str, str, np.dtype, tuple[int, ...]]]  # (owner, name, dtype, shape)


def processes_available() -> bool:
    """Whether this platform shares anonymous memory with helper processes (Linux)."""
    return sys.platform.startswith("linux") and hasattr(os, "memfd_create")


def _fields(t: Any, obs: Any) -> list[tuple[str, str, np.ndarray]]:
    from srmsim.students import BUFFERS, COLUMNS

    fields = [("t", c.name, getattr(t, c.name)) for c in COLUMNS]
    fields += [("t", b, getattr(t, b)) for b in BUFFERS]
    fields += [("obs", name, getattr(obs, name)) for name in obs.__slots__]
    return fields


def _views(buffer: mmap.mmap, layout: Layout) -> list[tuple[str, str, np.ndarray]]:
    out = []
    for owner, name, dtype, shape, offset in layout:
        count = int(np.prod(shape, dtype=np.int64))
        array = np.frombuffer(buffer, dtype=dtype, count=count, offset=offset).reshape(shape)
        out.append((owner, name, array))
    return out


def _bind(views: list[tuple[str, str, np.ndarray]]) -> tuple[Any, Any]:
    """A student table and a week's observations whose arrays are ``views``."""
    from srmsim.dynamics import WeekObservation
    from srmsim.students import StudentTable

    t = StudentTable.__new__(StudentTable)
    obs = WeekObservation.__new__(WeekObservation)
    for owner, name, array in views:
        setattr(t if owner == "t" else obs, name, array)
    return t, obs


def _map(fd: int, size: int, populate: bool = True) -> mmap.mmap:
    """The shared block; ``populate``: its pages mapped at once (one call, not a fault per
    4 KB page: the kernel does not give shared memory huge pages by default). A block the
    cores are about to fill is not populated: each core faults its own blocks' pages."""
    flags = mmap.MAP_SHARED | (getattr(mmap, "MAP_POPULATE", 0) if populate else 0)
    return mmap.mmap(fd, max(size, 1), flags=flags)


class _Block:
    """One block of shared memory holding a table's columns and a week's observations."""

    def __init__(self, spec: Spec, populate: bool = True):
        self.layout: Layout = []
        size = 0
        for owner, name, dtype, shape in spec:
            size = -(-size // _ALIGN) * _ALIGN
            self.layout.append((owner, name, np.dtype(dtype).str, shape, size))
            size += np.dtype(dtype).itemsize * int(np.prod(shape, dtype=np.int64))
        self.size = size
        self.fd = os.memfd_create("srmsim-students", os.MFD_CLOEXEC)
        try:
            os.ftruncate(self.fd, max(size, 1))
            self.views = _views(_map(self.fd, size, populate), self.layout)
        except BaseException:
            os.close(self.fd)
            raise

    def close(self) -> None:
        os.close(self.fd)  # the mappings stay: the memory is freed with the last of them


def _spec(n: int) -> Spec:
    from srmsim.dynamics import WeekObservation
    from srmsim.students import BUFFERS, COLUMNS, WINDOW

    spec: Spec = [("t", c.name, np.dtype(c.dtype), (n,)) for c in COLUMNS]
    spec += [("t", b, np.dtype(np.int8), (WINDOW, n)) for b in BUFFERS]
    spec += [("obs", name, np.dtype(dt), (n,)) for name, dt in WeekObservation.DTYPES.items()]
    return spec


def _launch() -> tuple[Connection, subprocess.Popen]:
    """A fresh interpreter running :func:`main`, not a fork: the run's process may hold
    threads, and a fork server or a spawned process would import the user's ``__main__``
    script again (an unguarded script would start the run again)."""
    here, there = socket.socketpair()
    env = dict(os.environ)
    env.update(dict.fromkeys((v for v in THREAD_VARIABLES if v not in os.environ), "1"))
    # the same srmsim as this process's, even one imported from a folder not on the path
    root = str(Path(__file__).resolve().parent.parent)
    code = (f"import sys; root = {root!r}\n"
            "if root not in sys.path: sys.path.insert(0, root)\n"
            "from srmsim.week_processes import main; main(int(sys.argv[1]))")
    try:
        proc = subprocess.Popen([sys.executable, "-c", code, str(there.fileno())],
                                pass_fds=(there.fileno(),), stdin=subprocess.DEVNULL, env=env)
    finally:
        there.close()
    return Connection(here.detach()), proc


#: helpers started ahead of the run that will use them (:func:`start_ahead`)
_PRESTARTED: list[tuple[Connection, subprocess.Popen]] = []


def start_ahead(helpers: int) -> None:
    """Start ``helpers`` helper processes now, for the next :class:`WeekHelpers` to take.

    Why: ``srmsim run --threads N`` starts them before its own imports and the scenario's
    loading, so that their interpreters' start-up (about a second) overlaps that work instead
    of the trust's generation, which they share. Helpers not taken are stopped by
    :func:`stop_ahead` (or exit with this process: their socket closes)."""
    if processes_available():
        while len(_PRESTARTED) < helpers:
            _PRESTARTED.append(_launch())


def stop_ahead() -> None:
    """Stop the helpers :func:`start_ahead` started that no run took."""
    taken = list(_PRESTARTED)
    _PRESTARTED.clear()
    _stop([conn for conn, _ in taken], [proc for _, proc in taken])


class WeekHelpers:
    """``helpers`` processes that run their share of each week's blocks (see the module)."""

    def __init__(self, helpers: int, dynamics: Any, seed: int, students: int | None = None,
                 student_weeks: int | None = None):
        """``students`` and ``student_weeks``: the run's table size and length, which tell a
        helper whether to load the compiled week (:func:`srmsim.kernels.week_kernel`) while the
        students are built."""
        from multiprocessing import reduction

        if not processes_available():
            raise SrmsimError("helper processes over shared memory need Linux")
        self._reduction = reduction
        self._conns: list[Connection] = []
        self._procs: list[subprocess.Popen] = []
        self._finalizer = weakref.finalize(self, _stop, self._conns, self._procs)
        for _ in range(helpers):
            self._start(dynamics, seed, students, student_weeks)
        self._shared: list[tuple[str, str, np.ndarray]] = []
        self._fresh: _Block | None = None

    def _start(self, dynamics: Any, seed: int, students: int | None,
               student_weeks: int | None) -> None:
        """A helper started ahead (:func:`start_ahead`) if one is waiting, else a new one."""
        conn, proc = _PRESTARTED.pop() if _PRESTARTED else _launch()
        self._conns.append(conn)
        self._procs.append(proc)
        self._send(conn, ("init", dynamics, seed, students, student_weeks))

    @property
    def cores(self) -> int:
        return len(self._conns) + 1

    @property
    def pids(self) -> list[int]:
        """The helper processes' ids (to watch their CPU time, say)."""
        return [proc.pid for proc in self._procs]

    # ------------------------------------------------------------------ memory
    def generate(self, scenario: Any, crn: Any, profiles: Any, uid: np.ndarray,
                 school: np.ndarray, year_group: np.ndarray, blocks: Sequence[slice]) -> Any:
        """New students (:func:`~srmsim.population.generate_students`, step 0) generated on
        every core straight into a new block of shared memory: no private table to copy (less
        peak memory), and each core generates, and faults the pages of, the blocks it takes.
        :meth:`share` then gives the helpers its layout."""
        if self._fresh is not None:
            self._fresh.close()
        self._fresh = block = _Block(_spec(len(uid)), populate=False)
        t, _ = _bind(block.views)
        t.uid[:] = uid  # what the helpers read their blocks' students from
        t.school[:] = school
        t.year_group[:] = year_group
        self._attach(block, None, None, populate=False)  # each core faults its own blocks
        task = ("generate", scenario, profiles)
        self.run(lambda rows: generate_block(t, scenario, crn, profiles, rows), blocks, task)
        return t

    def share(self, t: Any, obs: Any, school_starts: np.ndarray, school_sizes: np.ndarray
              ) -> None:
        """Give the helpers ``t`` and ``obs`` in shared memory: the block of :meth:`generate`
        if ``t`` is that table (the helpers have it), else a new block ``t``'s columns are
        moved into. Either way the same objects get the shared arrays (``obs``'s fields zero,
        as :meth:`~srmsim.dynamics.WeekObservation.empty`'s)."""
        fresh, self._fresh = self._fresh, None
        attached = fresh is not None and all(getattr(t, name) is array
                                             for owner, name, array in fresh.views if owner == "t")
        if fresh is not None and not attached:
            fresh.close()
        block = fresh if fresh is not None and attached else _Block(_spec(len(t)))
        try:
            for owner, name, new in block.views:
                holder = t if owner == "t" else obs
                if getattr(holder, name) is not new:
                    new[...] = getattr(holder, name)  # column by column: each old one freed
                    setattr(holder, name, new)
            self._attach(None if attached else block, school_starts, school_sizes)
        finally:
            block.close()
        self._shared = _fields(t, obs)

    def _attach(self, block: _Block | None, school_starts: np.ndarray | None,
                school_sizes: np.ndarray | None, populate: bool = True) -> None:
        """Map ``block`` in every helper (None: the one they have) with the schools' rows;
        ``populate``: all its pages at once (they exist already: mapping them is cheap)."""
        for conn, proc in zip(self._conns, self._procs, strict=True):
            layout = None if block is None else (block.layout, block.size, populate)
            self._send(conn, ("attach", layout, school_starts, school_sizes))
            if block is not None:
                try:
                    self._reduction.send_handle(conn, block.fd, proc.pid)
                except OSError as exc:
                    raise SrmsimError(HELPER_DIED) from exc
        for conn in self._conns:
            self._receive(conn)

    def still_shared(self, t: Any, obs: Any) -> bool:
        """Whether every column of ``t`` and field of ``obs`` is still the shared array (a
        column replaced by a new array would be invisible to the helpers)."""
        now = _fields(t, obs)
        return len(now) == len(self._shared) and all(
            a is b for (_, _, a), (_, _, b) in zip(now, self._shared, strict=True))

    # ------------------------------------------------------------------ the week
    def run(self, block: Callable[[slice], Any], blocks: Sequence[slice], task: tuple
            ) -> list[Any]:
        """``block(rows)`` for every block of ``blocks``, here and on the helpers, where
        ``task`` says what a block is: ``("week", step, week, withdrawal logit, reading test,
        term end)`` (:func:`~srmsim.dynamics.week_block`) or ``("generate", scenario, school
        profiles)`` (:func:`generate_block`). Every block's result, in the order of ``blocks``.

        This process takes blocks from the front, the helpers from the back, each helper
        always holding :data:`AHEAD` granted blocks so it never waits for this one between
        blocks; so a core slowed by another program's work simply runs fewer blocks. Which
        core runs a block never changes its result."""
        todo = list(blocks)
        results: dict[int, Any] = {}
        front, back = 0, len(todo)
        granted: dict[Any, list[int]] = {conn: [] for conn in self._conns}
        failure: BaseException | None = None

        def grant(conn: Any) -> None:
            nonlocal back
            back -= 1
            self._send(conn, ("block", todo[back].start, todo[back].stop))
            granted[conn].append(back)

        def collect(conn: Any, wait: bool) -> None:
            nonlocal failure
            while granted[conn] and (wait or conn.poll()):
                index = granted[conn].pop(0)
                try:
                    results[index] = self._receive(conn)
                except BaseException as exc:  # noqa: BLE001 - the first failure is raised
                    failure = failure or exc
                if failure is None and not wait and front < back:
                    grant(conn)

        try:
            for conn in self._conns:
                self._send(conn, ("task", task))
            for _ in range(AHEAD):
                for conn in self._conns:
                    if front < back:
                        grant(conn)
            while front < back and failure is None:
                for conn in self._conns:
                    collect(conn, wait=False)
                if front < back and failure is None:
                    front += 1
                    results[front - 1] = block(todo[front - 1])
        except BaseException as exc:  # noqa: BLE001 - raised once the helpers have answered
            failure = failure or exc
        for conn in self._conns:
            collect(conn, wait=True)
        if failure is not None:
            raise failure
        return [results[i] for i in range(len(todo))]

    def _send(self, conn: Any, message: tuple) -> None:
        try:
            _post(conn, message)
        except (BrokenPipeError, ConnectionError, EOFError, OSError) as exc:
            raise SrmsimError(HELPER_DIED) from exc

    def _receive(self, conn: Any) -> Any:
        try:
            status, value = conn.recv()
        except (EOFError, ConnectionError, OSError) as exc:
            raise SrmsimError(HELPER_DIED) from exc
        if status == "error":
            raise value
        return value

    def close(self) -> None:
        """Stop the helpers (idempotent)."""
        self._finalizer()


def generate_block(t: Any, scenario: Any, crn: Any, profiles: Any, rows: slice) -> None:
    """Students of ``rows`` generated into the table ``t``, whose uid, school and year group
    columns are already set, the other columns at their fill values first (new shared memory
    is zero)."""
    from srmsim.population import generate_students
    from srmsim.students import COLUMNS

    part = t.take(rows)
    for c in COLUMNS:
        if c.fill != 0 and c.name not in ("uid", "school", "year_group"):
            getattr(part, c.name)[:] = c.fill
    generate_students(scenario, crn, profiles, part.uid.copy(), part.school.copy(),
                      part.year_group.copy(), step=0, out=part)


def _post(conn: Connection, message: tuple) -> None:
    """``conn.send`` without its exported buffer: a send that fails (the other side died)
    would keep ``Connection.send``'s BytesIO alive in the traceback's frames, and freeing it
    later from the garbage collector prints an ignored BufferError."""
    conn.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def _stop(conns: list[Connection], procs: list[subprocess.Popen]) -> None:
    """Tell the helpers to stop, and reap them on a thread: a helper's exit, unmapping a
    shared table of gigabytes, took half a second that the run waited for (England's result
    tables are made meanwhile); at interpreter exit, where no thread can start, here."""
    for conn in conns:
        try:
            _post(conn, ("stop", None))
        except (OSError, ValueError):
            pass
        conn.close()
    if not procs:
        return
    try:
        threading.Thread(target=_reap, args=(procs,), daemon=True).start()
    except RuntimeError:  # "can't create new thread at interpreter shutdown"
        _reap(procs)


def _reap(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _preload(kernels: Any, students: int | None, student_weeks: int | None) -> None:
    """The compiled week, loaded ahead of the first block that needs it (which waits for it)."""
    try:
        kernels.week_kernel(students, student_weeks)
    except Exception:  # noqa: BLE001 - the first block reports it, with its context
        pass


def _serve(conn: Connection) -> None:
    """A helper's loop: map each new shared table, run the blocks it is sent, until told to
    stop or its socket closes (the run's process ended)."""
    from multiprocessing import reduction

    from srmsim import kernels
    from srmsim.dynamics import week_block
    from srmsim.memory import keep_freed_memory
    from srmsim.rng import CRN

    # the settings of the `srmsim` command, whatever the run's process took: a block's
    # temporaries (256-512 KB) are above glibc's mmap threshold, and mapping and faulting them
    # afresh every pass made a helper 1.3-1.5x slower than the main process on the same rows
    keep_freed_memory()
    # the run's constants, then each layout's shared table and the task of the blocks to come
    dynamics: Any = None
    crn: Any = None
    t: Any = None
    obs: Any = None
    starts: Any = None
    sizes: Any = None
    task: Any = None
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        kind = message[0]
        if kind == "stop":
            return
        if kind == "init":  # (no answer)
            _, dynamics, seed, students, student_weeks = message
            crn = CRN(seed)
            # load (or compile) the compiled week while the run builds its students, not in the
            # first block (importing numba and loading take about 1 s, compiling 5-10 s), and
            # on a thread: the run waits for this loop's answers as it shares its table
            threading.Thread(target=_preload, args=(kernels, students, student_weeks),
                             daemon=True).start()
            continue
        if kind == "task":  # what the blocks that follow are (no answer)
            task = message[1]
            continue
        try:
            if kind == "attach":  # a new block (or None: the same) and its schools' rows
                _, layout, starts, sizes = message
                if layout is not None:
                    fd = reduction.recv_handle(conn)
                    try:
                        t, obs = _bind(_views(_map(fd, layout[1], layout[2]), layout[0]))
                    finally:
                        os.close(fd)
                _post(conn, ("ok", None))
            elif task[0] == "generate":  # a block
                _, scenario, profiles = task
                generate_block(t, scenario, crn, profiles, slice(message[1], message[2]))
                _post(conn, ("ok", None))
            else:
                _, step, week, wlogit, reading, term_end = task
                _post(conn, ("ok", week_block(t, dynamics, crn, step, week, wlogit, obs, starts,
                                              sizes, reading, term_end,
                                              slice(message[1], message[2]))))
        except Exception as exc:  # noqa: BLE001 - handed to the run's process to raise
            try:
                _post(conn, ("error", exc))
            except Exception:  # noqa: BLE001 - an exception that does not pickle
                _post(conn, ("error", SrmsimError(f"a helper process failed: {exc}")))


def main(fd: int) -> None:
    """A helper process's entry point: serve the run over the socket ``fd``."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the run's process's to handle
    _serve(Connection(fd))
