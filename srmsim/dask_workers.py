"""What srmsim asks of each Dask worker its runs go to (imported only with the ``dask`` extra).

Local worker processes take the ``srmsim`` command's memory settings when they start
(:func:`srmsim.executors._prepare_worker`); a Dask worker is started by Dask, so srmsim registers
:class:`MemorySettings` with the cluster before its first task, and every worker, including one
that joins later, applies them once (and, where a worker is past half its memory limit, gives
freed memory back after each task). Results do not depend on it (see :mod:`srmsim.memory`).
"""

from __future__ import annotations

import uuid
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

#: this process's mark: a plugin set up in the process that registered it (a cluster of
#: threads, ``LocalCluster(processes=False)``) leaves that process's settings to its owner,
#: as srmsim's API never changes them in the caller's process
_PROCESS = uuid.uuid4().hex


class MemorySettings(WorkerPlugin):
    """:func:`srmsim.memory.keep_freed_memory` in each worker process, once; on a worker with a
    memory limit whose process has passed half of it, the memory freed given back after each
    task (:func:`srmsim.memory.return_freed_memory`): Dask measures the process against its
    limit, and a worker paused past 80% of it, its freed memory kept, never resumed."""

    #: the name the cluster knows it by; registered again (each srmsim command on the same
    #: cluster), it is ignored by workers that have it, so it runs once per worker
    name = "srmsim-memory"
    idempotent = True

    #: the share of its memory limit above which a worker gives freed memory back after a task:
    #: below Dask's own thresholds (60% target, 70% spill, 80% pause), so a worker with room
    #: to spare keeps it for reuse, as a local worker does
    TRIM_SHARE = 0.5

    def __init__(self) -> None:
        self.origin = _PROCESS
        self.limit = 0

    def setup(self, worker: Any) -> None:
        if self.origin == _PROCESS:
            return
        from srmsim.memory import keep_freed_memory

        keep_freed_memory()
        manager = getattr(worker, "memory_manager", None)
        self.limit = int(getattr(manager, "memory_limit", None) or 0)

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        if not self.limit or start != "executing" or finish not in ("memory", "error"):
            return
        import psutil  # a dependency of distributed

        if psutil.Process().memory_info().rss > self.TRIM_SHARE * self.limit:
            from srmsim.memory import return_freed_memory

            return_freed_memory()


#: the least resident memory this process was seen to hold, having imported what a run imports,
#: while it ran no task (bytes; 0: not yet): Python, Dask's and srmsim's libraries, without runs
#: or the memory they freed and the process keeps for reuse (:mod:`srmsim.memory`)
_BASELINE = 0
#: what importing a run's modules (:data:`srmsim.executors.RUN_MODULES`) adds to a Dask worker,
#: rounded up: a worker whose limit's pause share has no room for them is not made to import
#: them (paused by modules it never frees, it would stay paused, with any other work it holds)
#: and reports its size plus this instead.
#: Measured 2026-12-05 (Python 3.11, distributed 2026.8): a LocalCluster worker held 63 MiB at
#: its start and 182 MiB having imported them (and ``srmsim.experiment.runner``), 119 MiB more
IMPORT_BYTES = 128 * 2**20


def process_bytes() -> int | None:
    """This process's resident memory in bytes (psutil, a dependency of distributed), or None
    where it cannot be read."""
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except Exception:  # noqa: BLE001 - a platform psutil does not know: not reported
        return None


def memory_report(dask_worker: Any = None) -> dict[str, Any]:
    """What a worker tells srmsim's memory check (:func:`srmsim.executors.dask_workers`): the
    memory its machine has available (:func:`srmsim.memory.available_bytes`), the shares of its
    ``memory_limit`` at which Dask pauses it (it starts no task until its memory falls back) and
    its nanny kills it (its own configuration, which may not be the client's), its process's
    resident memory now (``rss``) and before any run (``baseline``: see :data:`_BASELINE`).

    Why the baseline: a Dask worker's process holds Dask's libraries as well as a run's, more
    than :data:`srmsim.memory.BASE_BYTES` counts (measured: 182 MiB, where a plain Python
    process that imported the same holds 161 MiB). It is measured once the worker has imported
    what a run imports (here, as its first run would), while it runs nothing, and the least
    figure kept: once it has run, the process also holds what its runs freed, which it reuses,
    so its size then is not all taken (``rss`` less ``baseline`` is the worker's to use)."""
    global _BASELINE
    import importlib
    import os
    import sys

    import dask

    from srmsim.executors import RUN_MODULES
    from srmsim.memory import available_bytes

    def share(key: str) -> float | None:
        value = dask.config.get(f"distributed.worker.memory.{key}", None)
        return float(value) if isinstance(value, (int, float)) and value else None

    pause, terminate = share("pause"), share("terminate")
    rss = process_bytes()
    manager = getattr(dask_worker, "memory_manager", None)
    limit = int(getattr(manager, "memory_limit", None) or 0)
    baseline: int | None = _BASELINE or None
    missing = [name for name in RUN_MODULES if name not in sys.modules]
    room = limit * min(pause or terminate or 1.0, 1.0)
    if missing and rss is not None and limit and rss + IMPORT_BYTES > room:
        baseline = rss + IMPORT_BYTES  # no room to import them: estimated
    else:
        for name in missing:
            importlib.import_module(name)
        rss = process_bytes()
        state = getattr(dask_worker, "state", None)
        if rss is not None and not getattr(state, "executing_count", 0):
            _BASELINE = min(_BASELINE or rss, rss)
            baseline = _BASELINE
    return {"available": available_bytes(), "pause": pause, "terminate": terminate,
            "rss": rss, "baseline": baseline, "pid": os.getpid()}
