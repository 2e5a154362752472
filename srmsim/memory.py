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
