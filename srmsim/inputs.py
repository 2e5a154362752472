"""Checks on a path given as an input file, made before reading it.

Why: ``Path.read_bytes`` on ``/dev/zero`` or ``/dev/urandom`` never ends (it fills memory until a
``MemoryError`` traceback), and on a named pipe it blocks. Every command that reads a file the
user names (an export, a mapping or scenario YAML, a key file, a dataset's ``dataset.json``)
first asks :func:`input_file_problem` and reports its answer as its own error.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def input_file_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be read as an input file (missing, a directory, a device or a
    pipe), or ``None`` when it is a regular file (symbolic links are followed)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "file not found"
    except OSError as err:
        return f"cannot read: {err.strerror or err}"
    if stat.S_ISDIR(mode):
        return "is a directory, not a file"
    if not stat.S_ISREG(mode):
        return "is not a regular file (a device, pipe or socket); give a saved file"
    return None


__all__ = ["input_file_problem"]
