"""How the process takes memory from the kernel: fresh pages are a big run's hidden cost.

Every page a process touches for the first time is a page fault; on a virtual machine that hands
free memory back to its host it is a fault in the host as well. Two defaults make a big run pay it
again and again:

- numpy asks Linux for transparent huge pages on every large array (``madvise``). Measured on the
  project's 2-core virtual machine, first touch of 400 MB took 0.9-1.2 s with huge pages and
  0.24 s without, and an 8M-student run spent 5 s of system time building its table;
- glibc returns freed blocks above 128 kB (rising to 32 MB) to the kernel, so a temporary freed in
  one week is faulted in afresh the next.

:func:`keep_freed_memory` turns both off for this process (the ``srmsim`` command calls it once).
An explicit ``NUMPY_MADVISE_HUGEPAGE`` in the environment wins over it. Results do not depend on
it: only where memory comes from changes. ``benchmarks/national.py --memory default`` measures
the run without it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

from srmsim.errors import SrmsimError

#: lower bounds of the peak memory of ``srmsim run``: per student, per tracked student-week of
#: outputs.history, and the interpreter and libraries. Measured: England (8.03M students,
#: history none) peaks at 3.7 GB (~460 B a student); the default trust at 50k students 227 MB and
#: at 200k 322 MB; history all on 50k students for 39 weeks added 490 MB (~250 B a
#: student-week). Rounded down, so that the check refuses only runs that cannot fit.
BYTES_PER_STUDENT = 400
BYTES_PER_HISTORY_ROW = 200
#: a request of a request stream (srmsim.admin), with BYTES_PER_REQUEST_STEP for each of its
#: steps (its attempts' draws and events). Measured 2026-12-03 (peak RSS of ``srmsim run`` in
#: fresh processes, scenarios/certification_backlog.yaml with backlogs of 20k, 80k and 160k):
#: ~2.25-2.30 kB a request of one step, ~2.60-2.72 kB of three; a request of 50 steps
#: earlier ~11 kB. The old 1,000 + 180 a step (measured on arrivals, most of them served)
#: let a backlog of 10 million waiting requests, some 25 GB, pass as 12 GB. Rounded down. A
#: step is at least its draws, made when the request arrives (srmsim.admin.desk's _admit): a
#: service size and a rework draw for each of 12 attempts and a dropout draw, 8 B each, 200 B
#: (170 let 450,000 requests of 50 steps pass as 4.8 GB and run out of memory at 5.4 GB).
BYTES_PER_REQUEST = 1900
BYTES_PER_REQUEST_STEP = 200
BASE_BYTES = 150 * 2**20
#: a policy's event at the run's end, when its events table is made (the events themselves,
#: their pseudonymised students and their columns): measured 2026-12-05, England with the
#: attendance escalation policy peaked 3.8 GB above the same run without it for 25.5M events
#: (~150 B an event), 1M students with it 550 MB above for 3.2M (~175 B). Rounded down.
BYTES_PER_EVENT = 100
#: the weeks of events the mid-run check (:func:`check_events_fit`) takes a run's rate from
EVENT_CHECK_WEEKS = 4

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

KEEP_BYTES = 256 * 2**20  # blocks up to this size come from (and go back to) the heap
TRIM_BYTES = 1024 * 2**20  # free memory kept at the top of the heap before it is returned
PAD_BYTES = 64 * 2**20  # extra asked of the kernel each time the heap grows


def keep_freed_memory() -> bool:
    """Small pages for numpy's large arrays, freed blocks kept for reuse; True if glibc took it.

    Why: fresh memory is what an 8M-student run waits for, not arithmetic (see the module note).
    """
    if "NUMPY_MADVISE_HUGEPAGE" not in os.environ:
        # numpy's switch, documented on its "global state" page with the environment variable
        try:
            import numpy._core.multiarray as multiarray
        except ImportError:  # numpy 1.x
            import numpy.core.multiarray as multiarray  # type: ignore[no-redef]
        multiarray._set_madvise_hugepage(False)  # type: ignore[attr-defined]
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): leave its allocator alone
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(
        mallopt(M_MMAP_THRESHOLD, KEEP_BYTES)
        and mallopt(M_TRIM_THRESHOLD, TRIM_BYTES)
        and mallopt(M_TOP_PAD, PAD_BYTES)
    )


def return_freed_memory() -> bool:
    """Give the memory this process has freed back to the kernel now (glibc's ``malloc_trim``);
    True if it could. Why: a Dask worker with a memory limit measures its process against it,
    and pauses (starts no task) past 80% of it until the process shrinks; memory kept for reuse
    by :func:`keep_freed_memory` never shrinks it, so a run that peaked past that share left its
    worker paused for good and the study never finished. Called after each of its tasks
    (:class:`srmsim.dask_workers.MemorySettings`); within a task the memory is still reused."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    trim(0)
    return True


def available_bytes() -> int | None:
    """Memory this process could still take: Linux's MemAvailable (lowered to a cgroup v2
    limit's headroom where one is set), else physical memory; None if the system does not say."""
    found = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    found = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as fh:
            limit = fh.read().strip()
        with open("/sys/fs/cgroup/memory.current", encoding="ascii") as fh:
            used = int(fh.read().strip())
        if limit != "max":
            room = int(limit) - used
            found = room if found is None else min(found, room)
    except (OSError, ValueError):
        pass
    if found is None:
        try:
            found = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, AttributeError):
            pass
    try:  # ulimit -v: the address space left to this process
        import resource

        address_space = resource.getrlimit(resource.RLIMIT_AS)[0]
        if address_space != resource.RLIM_INFINITY:
            with open("/proc/self/status", encoding="ascii") as fh:
                size = next(int(ln.split()[1]) * 1024 for ln in fh if ln.startswith("VmSize:"))
            left = address_space - size
            found = min(found, left) if found is not None else left
    except (ImportError, OSError, ValueError, StopIteration):
        pass
    return found


class RunTooBigError(SrmsimError):
    """A run that needs more memory than this machine has: the file may be valid elsewhere
    (``srmsim validate`` warns of it, and still exits 0)."""


#: what to make smaller when a policy's case events, or request streams' events, cannot fit
POLICY_EVENTS_ADVICE = ("make the trust, years or the policy's reach smaller (fewer students "
                        "flagged, longer steps)")
REQUEST_EVENTS_ADVICE = "make the backlog, the arrivals or the reworks smaller, or the years fewer"


def check_events_fit(weekly_events: list[int], weeks_left: int, scenario: str,
                     made: str = "its policy made", events: str = "case events",
                     advice: str = POLICY_EVENTS_ADVICE) -> None:
    """Refuse a run mid-way when its policy's events cannot fit in memory by its end.

    Why: how many events a policy makes (cases flagged, queued, started, reviewed...) is only
    known once it runs: 3 to 6 a student a year in the shipped policies, far more with short
    courses on a low threshold; the check before the run cannot count them, and a national run
    with a policy peaked at twice its estimate. So every :data:`EVENT_CHECK_WEEKS` weeks the
    events so far, plus the weeks left at the least weekly count of the last few weeks (a
    lower bound, as far as the weeks to come resemble those), are costed at
    :data:`BYTES_PER_EVENT` against the memory available now: a run that cannot fit stops with
    the figures (nothing written), rather than being killed at the end, where its events
    table is made. ``weekly_events``: the events of each week so far; ``scenario``: its name;
    ``made``, ``events`` and ``advice``: what made them, what they are and what to change, for
    the message (request streams' events, whose reworks the check before the run cannot count
    either, are checked the same way)."""
    weeks = len(weekly_events)
    if weeks_left <= 0 or weeks < EVENT_CHECK_WEEKS or weeks % EVENT_CHECK_WEEKS:
        return
    recorded = sum(weekly_events)
    rate = min(weekly_events[-EVENT_CHECK_WEEKS:])
    total = recorded + rate * weeks_left
    need = total * BYTES_PER_EVENT
    have = available_bytes()
    if have is not None and need > have:
        raise RunTooBigError(
            f"scenario {scenario!r}: {made} {recorded:,} {events} in its first "
            f"{weeks} weeks (at least {rate:,} a week lately);\n"  # (lines of their own: the
            f"so about {total:,} by the end of the run, whose events table needs about "  # CLI
            f"{amount(need)} of memory, and {amount(max(have, 0))} is available;\n"  # cuts
            f"stopped before that (nothing written): {advice}")  # lines past MAX_LINE)


def amount(nbytes: float) -> str:
    """Bytes of memory as people read them: GiB from 1 GiB (one decimal), else MiB."""
    return f"{nbytes / 2**30:,.1f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:,.0f} MiB"


def run_bytes(students: int, history_rows: int, requests: int = 0,
              request_steps: int = 0) -> int:
    """A lower bound of a run's peak memory (the constants above; a policy's cases and events
    come on top): what :func:`check_run_fits` checks, and what a study's workers each need."""
    return (BASE_BYTES + students * BYTES_PER_STUDENT + history_rows * BYTES_PER_HISTORY_ROW
            + requests * BYTES_PER_REQUEST + request_steps * BYTES_PER_REQUEST_STEP)


def run_holds(students: int, history_rows: int, requests: int = 0) -> str:
    """What makes a run big, for a message: its students, and its history or requests where
    they weigh (``about 80,000 students and 3,120,000 student-weeks of history ...``)."""
    parts = [f"about {students:,} students"] if students else []
    if history_rows * BYTES_PER_HISTORY_ROW > students * BYTES_PER_STUDENT:
        parts.append(f"{history_rows:,} student-weeks of history (outputs.history)")
    if requests:
        parts.append(f"about {requests:,} requests (requests:)")
    return " and ".join(parts)


def check_run_fits(students: int, history_rows: int, what: str = "this scenario",
                   requests: int = 0, request_steps: int = 0) -> None:
    """Refuse, before anything is allocated, a run whose estimated peak memory exceeds what is
    available: a trust of 10**9 students should be a clear message in a second, not a
    MemoryError traceback after minutes, or a machine brought down by swapping.
    ``request_steps``: the requests times their stream's number of steps."""
    need = run_bytes(students, history_rows, requests, request_steps)
    have = available_bytes()
    if have is not None and need > have:
        gib = 2**30
        raise RunTooBigError(
            f"{what} simulates {run_holds(students, history_rows, requests)}: that needs about "
            f"{need / gib:,.1f} GiB of memory, and {max(have, 0) / gib:,.1f} GiB is available; "
            "make the trust (trust.n_schools, trust.students_per_year_group), years, "
            "outputs.history or the requests smaller")
