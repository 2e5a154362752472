"""Checks on a path given as an input file, made before reading it.

Why: ``Path.read_bytes`` on ``/dev/zero`` or ``/dev/urandom`` never ends (it fills memory until a
``MemoryError`` traceback), and on a named pipe it blocks. Every command that reads a file the
user names (an export, a mapping or scenario YAML, a key file, a dataset's ``dataset.json``)
first asks :func:`input_file_problem` and reports its answer as its own error.

:func:`wrong_kind` tells a file's kind (scenario, study, column mapping) from its top-level keys,
so a file given to the wrong command is refused naming the command that takes it; it lives here,
not among the commands, because the data layer (a mapping's reader) asks it too.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any, TypeGuard

#: the largest JSON file srmsim reads back from a results folder: its manifests and summaries
#: are kilobytes (a manifest of 100,000 replications' seeds is about 1.5 MB)
MAX_JSON_BYTES = 50_000_000


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


#: the most entries of one folder compared with a missing file's name (a folder of a million
#: files is not listed in full to suggest a name)
_HINT_ENTRIES = 2_000
#: the folders of shipped files the documentation's commands name from its top folder
_SHIPPED = ("experiments", "scenarios", "data", "notebooks")


def _close_entry(folder: Path, name: str) -> str | None:
    """The entry of ``folder`` whose name is nearest ``name`` (a typo), or ``None``."""
    import difflib
    import itertools

    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in itertools.islice(entries, _HINT_ENTRIES)]
    except OSError:
        return None
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.75)
    return close[0] if close else None


def missing_file_hint(path: str | Path) -> str:
    """What to try when ``path`` does not exist, as a clause for "file not found (...)", or
    ``""``: the nearest name where one part is misspelt (``scenario/default.yaml`` ->
    ``scenarios/default.yaml``), else, for a relative path, the folder it was looked for in
    (the shipped files' paths are relative to the folder ``srmsim examples`` makes)."""
    path = Path(path)
    parts = path.parts
    here = Path(parts[0]) if path.is_absolute() else Path(".")
    for k, part in enumerate(parts[1:] if path.is_absolute() else parts,
                             start=1 if path.is_absolute() else 0):
        if not (here / part).exists():
            near = _close_entry(here, part)
            if near is not None and part not in (".", ".."):
                guess = Path(*parts[:k], near, *parts[k + 1:])
                if guess.exists():
                    return f"did you mean {guess}?"
            break
        here = here / part
    if path.is_absolute():
        return ""
    try:
        cwd = os.getcwd()
    except OSError:  # the current folder was deleted
        return ""
    if parts and parts[0] in _SHIPPED and not Path(parts[0]).is_dir():
        return (f"no {parts[0]}/ folder in {cwd}, the current folder: run from the folder "
                "`srmsim examples DIR` makes, or the repository's")
    return f"the current folder is {cwd}"


def hint_clause(path: str | Path) -> str:
    """`` (did you mean ...?)`` or `` (the current folder is ...)`` for a path that does not
    exist, to follow "file not found" or "no such folder"; ``""`` when there is nothing to add."""
    hint = missing_file_hint(path)
    return f" ({hint})" if hint else ""


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different (``object_pairs_hook``): with two
    ``"baseline"`` keys the last would silently win."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {str(key)[:60]!r}")
        out[key] = value
    return out


#: the words a true/false cell of an export may hold (matched stripped and case-folded), as
#: `srmsim data import` reads them: a school's MIS writes Y/N or Yes/No as often as true/false
BOOL_WORDS: dict[str, bool] = {"true": True, "false": False, "t": True, "f": False,
                               "yes": True, "no": False, "y": True, "n": False,
                               "1": True, "0": False}


def whole(value: Any) -> TypeGuard[int]:
    """A whole number as JSON gives it: an int that is not a bool (``true`` is not
    replication 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


def misnamed_table(path: str | Path, head: bytes) -> str | None:
    """What to say of a table file whose first bytes (``head``, at least 4) show it is not what
    its name says, or ``None``: a Parquet file named .csv (or anything but .parquet) or a zip
    archive, as an .xlsx workbook is, named .csv. Why: read as text, a Parquet file was "probably
    UTF-16" (its header holds NUL bytes), and a workbook given as records or named .csv was
    "Parquet magic bytes not found in footer", neither of which says what to change."""
    suffix = Path(path).suffix.lower()
    shown = f"named {suffix}" if suffix else "with no extension"
    if head.startswith(b"PAR1") and suffix not in (".parquet", ".pq"):
        return f"a Parquet file {shown}; name it .parquet"
    if head.startswith(b"PK\x03\x04") and suffix not in (".xlsx", ".xlsm"):
        return (f"a zip archive (an Excel workbook?) {shown}, not a CSV or Parquet file; save "
                "the sheet as CSV UTF-8")
    return None


#: the marker a Parquet file starts and ends with
PARQUET_MAGIC = b"PAR1"


def parquet_damage(path: str | Path, err: BaseException) -> str:
    """What to say, in srmsim's words, of a Parquet file pyarrow could not read (``err``): one
    that starts as Parquet but lacks its end (a copy or download cut short), one whose inside
    is broken, or one that is no Parquet file at all. Why: the error read "ArrowInvalid: Parquet
    magic bytes not found in footer. Either the file is corrupted or ...", Arrow's words, which
    do not say what happened to the file or what to do. The one wording for every command that
    reads Parquet (the user's exports and records, and the files srmsim wrote); the caller
    adds what to do (export it again, or run the command that wrote it again)."""
    try:
        size = os.stat(path).st_size
        with open(path, "rb") as fh:
            head = fh.read(4)
            fh.seek(max(size - 4, 0))
            tail = fh.read(4)
    except FileNotFoundError:
        return "missing"
    except OSError as os_err:
        return f"cannot be read ({os_err.strerror or os_err})"
    if isinstance(err, MemoryError):
        return "too large to read into the memory free"
    if head != PARQUET_MAGIC:
        return ("not a Parquet file (it does not start as one: saved in another format, or "
                "renamed?)")
    if tail != PARQUET_MAGIC or size < 12:
        return ("a damaged Parquet file: it starts as one but its end is missing (a copy or "
                "download cut short?)")
    return ("a damaged Parquet file: its description of its columns or its data cannot be read "
            "(altered, or written incompletely?)")


def not_utf8(head: bytes, err: UnicodeDecodeError) -> str:
    """What to say of a text file that does not decode as UTF-8, given its first bytes: a
    UTF-16 file (Excel's "Unicode text", Notepad's "Unicode") said "not UTF-8 text (invalid
    start byte at byte 0)", which does not tell its owner what to change."""
    return f"{utf16_mark(head)}, not UTF-8" if utf16_mark(head) else \
        f"not UTF-8 text ({err.reason} at byte {err.start})"


def utf16_mark(head: bytes) -> str | None:
    """What a file starting with the bytes ``head`` is, if they are a UTF-16 byte-order mark
    (Excel's "Unicode text", Notepad's "Unicode"), else ``None``: the one wording of a UTF-16
    file read as another encoding, by every reader (a scenario, a pupil CSV)."""
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "UTF-16 text (it starts with a UTF-16 byte-order mark)"
    return None


def load_json(path: str | Path, max_bytes: int | None = None) -> Any:
    """A JSON file srmsim wrote, parsed strictly: a regular file (not a device such as
    ``/dev/zero``, which never ends) of at most ``max_bytes`` (default
    :data:`MAX_JSON_BYTES`), without duplicate keys.

    Raises ``ValueError`` saying what is wrong (also for invalid JSON and nesting too deep),
    for the caller to report as its own error naming the file.
    """
    problem = input_file_problem(path)
    if problem:
        raise ValueError(problem)
    size = os.stat(path).st_size
    max_bytes = MAX_JSON_BYTES if max_bytes is None else max_bytes
    if size > max_bytes:
        raise ValueError(f"{size:,} bytes, larger than the {max_bytes:,}-byte limit")
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"), object_pairs_hook=unique_keys)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except OSError as err:
        raise ValueError(f"cannot read: {err.strerror or err}") from None
    try:  # "\ud800": a lone surrogate no UTF-8 file can hold; a report quoting it crashed
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"holds U+{ord(err.object[err.start]):04X}, half of a surrogate "
                         "pair, not a character") from None
    return data


#: the key that marks each kind of study file (as `srmsim validate` tells them apart), and the
#: command that runs it
_MARKERS = (("trial", "randomise", "trial"), ("optimisation", "objectives", "optimise"),
            ("experiment", "variants", "experiment"))


def _kind(data: dict[str, Any]) -> tuple[str, str, str] | None:
    """(kind, the key that shows it, the command that runs it) of a file's top-level mapping,
    or ``None`` when it shows none (the validator then says what is wrong)."""
    for kind, key, command in _MARKERS:
        if key in data:
            return kind, key, command
    from srmsim.scenario import Scenario

    fields = {f.alias or n for n, f in Scenario.model_fields.items()} - {"name", "description",
                                                                         "seed"}
    shown = next((k for k in data if k in fields), None)
    if shown is not None and "scenario" not in data:
        return "scenario", str(shown), "run"
    # a column mapping's tables, in a file with no scenario key (no study file has them)
    shown = next((k for k in ("students", "observations") if k in data), None)
    if shown is not None and "scenario" not in data:
        return "data mapping", shown, "data import --mapping"
    return None


def _study_without_kind(data: Any) -> str | None:
    """What is wrong with a study file (it names its ``scenario:``) that has none of the keys
    telling which study it is, or ``None``: `srmsim validate` read a trial with `randomize:`
    as a scenario and listed `scenario`, `randomize` and `outcome` as unknown keys."""
    if not isinstance(data, dict) or "scenario" not in data:
        return None
    import difflib

    from srmsim.labels import with_article

    kinds = {key: kind for kind, key, _ in _MARKERS}
    for given in data:
        close = difflib.get_close_matches(str(given), list(kinds), n=1, cutoff=0.75)
        if close:
            return (f"{str(given)[:60]!r} is not a key: did you mean {close[0]!r}? (it makes "
                    f"this {with_article(kinds[close[0]])} file)")
    return ("has 'scenario:', the key by which a study names its scenario, but none of "
            "'variants:' (an experiment), 'randomise:' (a trial) or 'objectives:' (an "
            "optimisation); a scenario file has no 'scenario:' key")


def wrong_kind(data: Any, path: str | Path, expected: str) -> str | None:
    """What is wrong with a file of another kind than ``expected`` ('scenario', 'experiment',
    'trial', 'optimisation', 'data mapping'), naming the command that takes it, or ``None``
    (``data`` is the file's parsed top level)."""
    kind = _kind(data) if isinstance(data, dict) else None
    if kind is None and expected == "scenario":
        return _study_without_kind(data)
    if kind is None or kind[0] == expected:
        return None
    from srmsim.labels import with_article  # here: labels loads pydantic, slow to load

    name, key, command = kind
    how = (f"pass it to `srmsim data validate` or `srmsim data import` as --mapping {path}"
           if command.startswith("data") else f"run it with `srmsim {command} {path}`")
    return f"{with_article(name)} file (it has '{key}:'), not {with_article(expected)}: {how}"


__all__ = ["BOOL_WORDS", "MAX_JSON_BYTES", "PARQUET_MAGIC", "input_file_problem", "load_json",
           "misnamed_table", "parquet_damage", "unique_keys",
           "wrong_kind"]
