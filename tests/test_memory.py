"""srmsim.memory: the process keeps freed memory and numpy's large arrays use small pages."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, resource, sys
import numpy as np
from numpy._core.multiarray import _get_madvise_hugepage
if sys.argv[1] == "keep":
    from srmsim.memory import keep_freed_memory
    took = keep_freed_memory()
else:
    took = None

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096

def a_64mb_array():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a = np.ones(16 * 2**20, dtype=np.float32)  # 64 MB, written: every page touched
    after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    held = rss()
    del a
    return after - before, held - rss()

a_64mb_array()  # the first one is always new memory
faults, returned = a_64mb_array()
print(json.dumps({"took": took, "hugepages": bool(_get_madvise_hugepage()),
                  "faults": faults, "returned_mb": returned / 2**20}))
"""

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and THP")


def probe(mode: str, **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         check=True, env={**environ, **env})
    return json.loads(out.stdout)


def test_freed_memory_stays_in_the_process():
    default, kept = probe("default"), probe("keep")
    assert kept["took"] is True
    # glibc's default gives a freed 64 MB block back to the kernel and maps (and faults in) a
    # new one for the next array; kept, the block stays in the process for the next array
    # (whether glibc places that array on the same pages is its business: usually it does,
    # 0 faults against 16k, but not in every process state seen under the full suite)
    assert default["returned_mb"] > 60, default
    assert kept["returned_mb"] < 1, kept
    assert kept["hugepages"] is False


def test_an_explicit_numpy_setting_wins():
    assert probe("keep", NUMPY_MADVISE_HUGEPAGE="1")["hugepages"] is True
    assert probe("keep", NUMPY_MADVISE_HUGEPAGE="0")["hugepages"] is False


def test_dask_workers_take_the_memory_settings(monkeypatch):
    """A Dask worker process applies keep_freed_memory once srmsim runs tasks on its cluster
    (local workers do at start-up); before, Dask workers kept numpy's huge pages."""
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    from srmsim.executors import execute

    def hugepages() -> bool:
        from numpy._core.multiarray import _get_madvise_hugepage

        return bool(_get_madvise_hugepage())

    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)  # the workers inherit it
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        if not all(client.run(hugepages).values()):
            pytest.skip("numpy does not ask for huge pages here (kernel older than 4.6)")
        rows: list = []
        execute(list, [((),)], 1, client, rows.extend)
        assert client.run(hugepages) == dict.fromkeys(client.run(hugepages), False)
        # a worker that joins later takes them too; registering again changes nothing
        cluster.scale(2)
        client.wait_for_workers(2)
        values = client.run(hugepages)
        assert len(values) == 2 and not any(values.values()), values
        execute(list, [((),)], 1, cluster.scheduler_address, rows.extend)
        assert client.run(hugepages) == values
