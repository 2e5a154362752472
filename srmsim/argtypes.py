"""Command-line argument types shared by the sub-commands (kept free of heavy imports)."""

from __future__ import annotations

import argparse
import os
import re

from srmsim.errors import SrmsimError

#: seeds are 63-bit: larger ones would silently wrap in the 64-bit random-number keys
MAX_SEED = 2**63 - 1


_WHOLE = re.compile(r"\s*[+-]?[0-9]+\s*")


def whole_argument(text: str) -> int:
    """argparse type of a whole number (counts, sizes, ports): digits 0-9 only, as the files'
    and ``--set``'s reader; ``int()`` also took '1_000' and '٣' (an Arabic-Indic 3)."""
    if not _WHOLE.fullmatch(text):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise argparse.ArgumentTypeError(f"{shown!r} is not a whole number") from None
    if len(text.strip().lstrip("+-")) > 40:  # beyond every option's range (and int()'s limit)
        raise argparse.ArgumentTypeError(f"{text.strip()[:20]}... is too large")
    return int(text)


def seed_argument(text: str) -> int:
    """argparse type of ``--seed``: a whole number from 0 to 2**63 - 1 (never wrapped)."""
    value = whole_argument(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError("must be from 0 to 2**63 - 1")
    return value


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise argparse.ArgumentTypeError(f"{shown!r} is not a number") from None


def finite_float(text: str) -> float:
    """argparse type of a number that must be finite ('nan', 'inf' and '1e309' are refused:
    they made tracebacks or an 'inf' cost further on)."""
    value = _float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def non_negative_float(text: str) -> float:
    """argparse type of a finite number at least 0 (minutes, costs)."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


def max_workers() -> int:
    """At most 4 local worker processes a core: more only add memory (each worker holds a
    trust), and a pool starts all its processes at once (--workers 10000 forked 10,000)."""
    return 4 * (os.cpu_count() or 1)


def check_workers(workers: int | None) -> None:
    """``--workers`` of experiment, trial and optimise: None (all cores) or 1 .. max_workers()."""
    if workers is None:
        return
    if workers < 1:
        raise SrmsimError("--workers must be at least 1")
    if workers > max_workers():
        raise SrmsimError(f"--workers {workers}: at most {max_workers()} on this machine "
                          f"(4 a core; it has {os.cpu_count() or 1})")


def path_argument(text: str) -> str:
    """argparse type of a file or folder name: an empty one is refused (``--out ""`` silently
    wrote to the default folder, and ``""`` elsewhere meant the current folder), and so is one
    holding a control or invisible character (a name that prints as another)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: give a file or folder name")
    from srmsim.labels import identifier_character  # here: pydantic stays out of --help

    hidden = identifier_character(text)
    if hidden is not None:  # `--out $'a\x01b'` made a folder whose name prints as 'ab'
        raise argparse.ArgumentTypeError(f"holds the control or invisible character {hidden}: "
                                         "give a name of visible characters")
    return text


def out_argument(text: str) -> str:
    """argparse type of an ``--out`` file or folder: a :func:`path_argument`, whose last name
    and each folder it would create are names Windows can hold (``--out con`` wrote results
    that cannot be copied to a Windows machine, which reserves CON, NUL, COM1... with any
    extension for devices, and drops a final dot or space), as `srmsim examples` refuses."""
    import os
    from pathlib import Path

    from srmsim.labels import windows_name_problem

    text = path_argument(text)
    path = Path(text)
    for entry in [path, *(p for p in path.parents if not os.path.lexists(p))]:
        why = windows_name_problem(entry.name) if entry.name not in ("", ".", "..") else None
        if why:
            raise argparse.ArgumentTypeError(
                f"{entry} is no name Windows can hold ({why}): choose another, so the results "
                "can be copied to any machine")
    return text
