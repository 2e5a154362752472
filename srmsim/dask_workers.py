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



def memory_report() -> dict[str, Any]:
    """What a worker tells srmsim's memory check (:func:`srmsim.executors.dask_workers`): the
    memory its machine has available (:func:`srmsim.memory.available_bytes`), and the shares of
    its ``memory_limit`` at which Dask pauses it (it starts no task until its memory falls back)
    and its nanny kills it: its own configuration, which may not be the client's."""
    import dask

    from srmsim.memory import available_bytes

    def share(key: str) -> float | None:
        value = dask.config.get(f"distributed.worker.memory.{key}", None)
        return float(value) if isinstance(value, (int, float)) and value else None

    return {"available": available_bytes(), "pause": share("pause"),
            "terminate": share("terminate")}
