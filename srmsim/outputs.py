"""How srmsim writes files: CSV that cannot run formulas, modes that fit the data, whole results.

Four rules every writer follows (see docs/privacy.md):

- **CSV cells are data, never formulas.** A text cell starting with ``=``, ``+``, ``-``, ``@``, a
  tab or a carriage return is run as a formula by spreadsheet programs (CSV injection). As
  OWASP recommends, such a cell is written with a leading single quote and in double quotes;
  numbers (numeric columns, and text that is just a plain number such as ``-5``) stay numbers.
  :func:`write_csv` / :func:`csv_text` are the one way srmsim writes CSV.
- **Raw data is private, simulated output is not.** Files holding raw records or raw values
  (``data import`` datasets and reject reports, anonymised datasets) are written ``0600`` in
  ``0700`` folders (``private=True``); everything else gets the user's umask, like any other
  program's output.
- **A result folder is replaced whole or not at all.** :func:`replace_dir` builds the new folder
  beside the old one and swaps it in only when everything is written, so a failed or killed
  run leaves the previous result untouched and no stale file from an older run survives.
  Result files that share a folder with a resume store (an experiment's effects.csv and
  forest.png) are staged likewise and swapped in as a set by :func:`replace_files`.
- **One writer a results folder at a time.** Every command that writes one holds its advisory
  lock (:func:`folder_lock`, ``.srmsim.lock`` inside it); a second writer is refused by name,
  and the next writer removes what a killed one left staged (``.new-*``) or half written
  (``.<name>.srmsim-tmp-*``).
"""

from __future__ import annotations

import contextlib
import csv
import glob
import json
import math
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from srmsim.errors import DataError, SrmsimError
from srmsim.labels import printable

if TYPE_CHECKING:  # pandas is imported where used: `srmsim experiment --out DIR` takes DIR's
    import pandas as pd  # lock (folder_lock) before its own slow imports (numpy and labels are
    # loaded by then: srmsim.memory and the --out check)

#: Characters that make a spreadsheet treat a cell as a formula (OWASP, "CSV Injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
#: the advisory lock file every srmsim command that writes into a results folder holds
LOCK_NAME = ".srmsim.lock"
#: how a staging folder of :func:`replace_files` is named inside the results folder
STAGE_PREFIX = ".new-"
#: what marks a temporary of :func:`write_atomic` (``.<name>.srmsim-tmp-<8 random>``): a kill
#: between its creation and its rename leaves it, and only files so named are removed as stale
TEMP_MARKER = ".srmsim-tmp-"
#: the whole name of such a temporary (``tempfile.mkstemp``'s 8 characters end it)
_TEMP_NAME = re.compile(r"\..+" + re.escape(TEMP_MARKER) + r"[a-z0-9_]{8}")
#: what follows ``.<name>`` in a temporary of :func:`write_atomic` (or of an older srmsim's,
#: ``.<name>.<8 random>``)
_TEMP_TAIL = re.compile(r"(?:" + re.escape(TEMP_MARKER) + r"|\.)[a-z0-9_]{8}")


# --------------------------------------------------------------------------------------------
# CSV


def is_formula(text: str) -> bool:
    """Would a spreadsheet run this text cell? (A plain number such as ``-5`` is not run.)"""
    return text.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text)


def neutralise(value: Any) -> Any:
    """A text value that starts like a formula gets a leading single quote; others unchanged."""
    if isinstance(value, str) and is_formula(value):
        return "'" + value
    return value


def _cell(v: Any, float_format: str | None, pd: Any) -> tuple[str, bool]:
    """The text of one cell and whether it must be quoted (``pd``: pandas, imported once a
    table by :func:`csv_text`)."""
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float | np.floating) and
                                                  np.isnan(v)):
        return "", False
    if isinstance(v, bool | np.bool_):
        return str(bool(v)), False
    if isinstance(v, int | np.integer):
        return str(int(v)), False
    if isinstance(v, float | np.floating):
        return (float_format % v if float_format else repr(float(v))), False
    text = str(v)
    if is_formula(text):
        return "'" + text, True
    return text, any(ch in text for ch in ',"\n\r') or text != text.strip(" ")


def _quote(text: str, force: bool) -> str:
    return '"' + text.replace('"', '""') + '"' if force else text


def csv_text(df: pd.DataFrame, float_format: str | None = None, index: bool = False) -> str:
    """The frame as CSV text, formula-like text cells neutralised (header included)."""
    import pandas as pd

    frame = df.reset_index() if index else df
    lines = [",".join(_quote(*_cell(str(c), None, pd)) for c in frame.columns)]
    columns = [frame[c].astype(object).tolist() for c in frame.columns]
    for row in zip(*columns, strict=True):
        lines.append(",".join(_quote(*_cell(v, float_format, pd)) for v in row))
    return "\n".join(lines) + "\n"


def write_csv(df: pd.DataFrame, path: str | Path, float_format: str | None = None,
              private: bool = False) -> Path:
    """Write ``df`` as CSV via :func:`csv_text`, atomically, private (0600) if asked."""
    path = Path(path)
    write_file(path, csv_text(df, float_format=float_format), private=private)
    return path


def check_replaceable(path: str | Path, looks_like: Callable[[bytes], bool], what: str) -> None:
    """An existing file at ``--out FILE`` is replaced only if it is a ``what`` srmsim wrote
    (``looks_like`` its first 4 KB): a raw pupil export or a run's students.parquet once was.
    A symbolic link is refused, as a results folder that is one is (:func:`refuse_link`): the
    rename that writes the file replaced the link itself, dangling or not, and never the file
    it pointed to."""
    path = Path(path)
    if path.is_symlink():
        raise SrmsimError(f"--out {path}: is a symbolic link (to {printable(os.readlink(path))}); "
                          "name the file it points to, or a new one (nothing was written)")
    if path.exists() and not path.is_file() and not path.is_dir():
        # the rename that writes the file would put it in the place of /dev/null or a pipe
        raise SrmsimError(f"--out {path}: is a device, pipe or socket, not a file; name a new "
                          "file (nothing was written)")
    if not path.is_file():
        return
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if not looks_like(head):
        raise SrmsimError(f"--out {path}: exists and is not {what} srmsim wrote; name a new file "
                          "(nothing was written)")


def read_csv_cells(path: str | Path) -> list[list[str]]:
    """The raw cells of a CSV file (for tests and checks), quotes removed."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


# --------------------------------------------------------------------------------------------
# file modes


def current_umask() -> int:
    """The process umask, read without changing it where the system allows (Linux /proc)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode(private: bool) -> int:
    """0600 for private files, else what ``open()`` would give: 0666 less the umask."""
    return PRIVATE_FILE if private else 0o666 & ~current_umask()


def dir_mode(private: bool) -> int:
    return PRIVATE_DIR if private else 0o777 & ~current_umask()


def make_dir(path: str | Path, private: bool = False) -> Path:
    """Create ``path`` (and parents); a private folder is set to 0700 even if it existed."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DataError(f"--out {path}: exists and is not a directory")
    if private:
        private_parents(path / "x")
    path.mkdir(parents=True, exist_ok=True)
    if private:
        os.chmod(path, PRIVATE_DIR)
    return path


def private_parents(path: str | Path) -> None:
    """Make the folders on the way to ``path`` (not ``path`` itself) that srmsim creates
    owner-only: each missing one is made 0700, and so is each one this thread's
    :func:`folder_lock` made for it. Why: ``data import --out a/b`` made ``a`` with the
    umask (readable by everyone) around the 0700 dataset folder; a folder that was there
    before is the user's and is left as it is."""
    path = Path(os.path.abspath(path))
    made = {p for (thread, _), folders in _MADE.items() if thread == threading.get_ident()
            for p in folders}
    for folder in reversed(path.parents):
        if not folder.exists():
            try:
                folder.mkdir(mode=PRIVATE_DIR)
            except FileExistsError:  # made meanwhile by someone else: theirs
                continue
            os.chmod(folder, PRIVATE_DIR)  # (mkdir's mode is masked by the umask)
        elif folder in made and not folder.is_symlink():
            os.chmod(folder, PRIVATE_DIR)


def write_atomic(path: str | Path, write: Callable[[str], None], private: bool = False) -> None:
    """Write via a temporary file and rename, so a killed run never leaves half a file.

    The file gets :func:`file_mode`: owner-only if ``private``, else the user's umask; so do
    the folders made for it. The temporary is named ``.<name>.srmsim-tmp-<random>``
    (:data:`TEMP_MARKER`) so that one a kill left behind can be told from a user's file and
    removed (:func:`remove_stale_temporaries`).
    """
    path = Path(path)
    tmp: str | None = None
    temporary = f".{path.name}{TEMP_MARKER}"
    try:
        if private:  # each new folder owner-only (mkdir -p would give its parents the umask)
            private_parents(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=temporary, dir=path.parent)
        os.close(fd)
        write(tmp)
        os.chmod(tmp, file_mode(private))
        os.replace(tmp, path)
    except OSError as err:
        if err.errno is None or (err.filename is not None and not os.path.basename(
                os.fsdecode(err.filename)).startswith(temporary)):
            raise  # (a folder on the way, named)
        # the file being written, not its hidden temporary (``--out /proc/x.csv`` said
        # "/proc/.x.csv.srmsim-tmp-anku8r7b: No such file or directory"), nor no file at all
        # (a full disk fails the file's close or pyarrow's write, whose errors name none)
        raise OSError(err.errno, err.strerror, str(path)) from err
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, infinity) replaced by ``None``, in nested
    dicts, lists and tuples: strict JSON has no NaN, and a missing number is ``null``. numpy's
    scalars become Python's (``json.dumps`` refuses an int64, a float32 or a bool_ with a
    TypeError; a float64 is a Python float and keeps its text). A numpy array is its list
    (``json.dumps`` refused it with a TypeError, and a caller's ``default=str`` wrote its
    abbreviated print, "[1 2 ... 9]"); no writer passes one today, the conversion is there so
    that one added later cannot."""
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())  # numpy's scalars as Python's, NaN as null below
    if isinstance(value, float | np.floating):  # numpy's float32 is no Python float
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {_json_key(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _json_key(key: Any) -> Any:
    """A dict key as ``json.dumps`` takes it: numpy's numbers as Python's (a count by an int64
    label was refused, "keys must be str, int, ..."), and a non-finite float as the string
    ``json.dumps`` would have made of it ("NaN", "Infinity", "-Infinity": a key is a string in
    strict JSON, so this one is valid; ``allow_nan=False`` refused it with a traceback). Not
    ``null``: a NaN and an infinite key would then merge and one value be lost."""
    if isinstance(key, bool | np.bool_):
        return bool(key)
    if isinstance(key, np.integer):
        return int(key)
    if isinstance(key, float | np.floating):
        key = float(key)
        return key if math.isfinite(key) else json.dumps(key)
    return key


def json_dumps(data: Any, **kwargs: Any) -> str:
    """``json.dumps`` of ``data`` as strict JSON, the one way srmsim writes a JSON file: a
    missing number (NaN, infinity) is ``null``, not ``NaN``, which JavaScript's JSON.parse,
    jq and R's jsonlite reject (srmsim's readers print ``null`` as ``n/a``, as they printed
    ``NaN``, and still read older files' ``NaN``). Data with only finite numbers gives the very
    text ``json.dumps`` gives, so digests and resumed folders of older files are unchanged."""
    return json.dumps(json_safe(data), allow_nan=False, **kwargs)


def write_file(path: str | Path, text: str, private: bool = False) -> None:
    """Write text atomically (UTF-8) with :func:`file_mode`."""
    def _write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)

    write_atomic(path, _write, private=private)


def owner_only(folder: str | Path) -> bool:
    """Whether no one but the owner may open ``folder``: a study of real records is kept so
    (docs/privacy.md), and so is every file srmsim adds to it later (a re-report, a
    comparison, a sensitivity analysis), wherever the file goes."""
    return os.stat(folder).st_mode & 0o077 == 0


def restrict_tree(root: str | Path) -> None:
    """Make a folder and everything in it owner-only (0700 folders, 0600 files).

    A symbolic link inside it is left alone, never followed: chmod follows links (Linux has
    no lchmod), so a store file replaced by a link to a file outside the folder made that
    file owner-only (reading the store refuses the link by name)."""
    root = Path(root)
    os.chmod(root, PRIVATE_DIR)
    for dirpath, dirnames, filenames in os.walk(root):  # (os.walk enters no linked folder)
        for names, mode in ((dirnames, PRIVATE_DIR), (filenames, PRIVATE_FILE)):
            for name in names:
                chmod_unlinked(os.path.join(dirpath, name), mode)


def chmod_unlinked(path: str | os.PathLike[str], mode: int) -> None:
    """``os.chmod`` of ``path`` unless it is a symbolic link, which is never followed (where
    the system cannot change a link's own mode, the link is skipped: its mode means nothing)."""
    if os.chmod in os.supports_follow_symlinks:  # (BSD, macOS: lchmod)
        with contextlib.suppress(NotImplementedError):
            os.chmod(path, mode, follow_symlinks=False)
            return
    if not os.path.islink(path):
        os.chmod(path, mode)


# --------------------------------------------------------------------------------------------
# whole-folder replacement


def check_out(out: str | Path, replaceable: Callable[[Path], bool] | None = None) -> Path:
    """The absolute ``out``, if a result may be written there: new, empty, or holding an
    earlier result of the same kind (``replaceable(out)``), so ``--out ~`` cannot wipe a home
    folder. Called before long work too, so that a refusal does not come at its end."""
    given = out
    out = Path(os.path.abspath(out))  # so that "." has a real parent to build beside
    refuse_link(out, f"--out {given}")
    refuse_lock_link(out)
    if out.exists():
        if not out.is_dir():
            raise DataError(f"--out {given}: exists and is not a directory")
        if any(p.name != LOCK_NAME for p in out.iterdir()) \
                and not (replaceable is not None and replaceable(out)):
            raise DataError(f"--out {given}: exists and holds files this command did not write "
                            f"there ({_foreign_entries(out, replaceable)}); choose an empty or "
                            "new folder")
    return out


def refuse_lock_link(folder: Path) -> None:
    """A lock file (:data:`LOCK_NAME`) that is a symbolic link is refused: srmsim never makes
    one, and one planted in a shared results folder was followed, so the file it pointed to
    (another of the user's files) was emptied and overwritten by the lock's text, and the
    result's swap then hard-linked it into the owner-only folder and made it 0600."""
    lock = folder / LOCK_NAME
    if lock.is_symlink():
        raise DataError(f"{lock}: is a symbolic link (to {printable(os.readlink(lock))}); "
                        "srmsim's lock file never is one: remove it and run the command again")


def _foreign_entries(out: Path, replaceable: Callable[[Path], bool] | None) -> str:
    """The entries of ``out`` that keep it from being replaced, a few by name: "srmsim did not
    write there" alone was untrue of a run folder holding the thresholds srmsim wrote into it,
    and said nothing of which file to move."""
    foreign = getattr(replaceable, "foreign", None)
    names = sorted(foreign(out) if foreign is not None else
                   (p.name for p in out.iterdir() if p.name != LOCK_NAME))
    if not names:  # (the folder holds only what this kind writes, but not its marker)
        names = sorted(p.name for p in out.iterdir() if p.name != LOCK_NAME)
    shown = ", ".join(printable(n) for n in names[:3])
    return shown + (f" and {len(names) - 3:,} more" if len(names) > 3 else "")


def refuse_link(folder: Path, what: str, instead: str = "the folder it points to, or a new one"
                ) -> None:
    """A results folder that is itself a symbolic link is refused: replacing it replaced the
    link with a folder and left the lock file in the folder it pointed to (a dangling one
    failed with "File exists"). Links among its parents are followed as usual. ``instead``:
    what to give in its place, for the message."""
    if folder.is_symlink():
        raise DataError(f"{what}: is a symbolic link (to {printable(os.readlink(folder))}); give "
                        f"{instead}")


def link_copy(src: Path, dst: Path) -> None:
    """Copy a file or folder by hard links where the file system allows (nothing is duplicated
    and the source stays whole), else by copying; hidden leftovers (``.*``) are not copied."""
    def link(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    if src.is_dir():
        shutil.copytree(src, dst, copy_function=link, ignore=shutil.ignore_patterns(".*"))
    else:
        link(str(src), str(dst))


@contextlib.contextmanager
def replace_dir(out: str | Path, private: bool = False,
                replaceable: Callable[[Path], bool] | None = None,
                keep: Iterable[str] = ()) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``out``; on success it becomes ``out``.

    Holds ``out``'s lock (:func:`folder_lock`) throughout: two commands replacing one folder
    at once would strand the earlier result, and a killed one's new folder is removed."""
    with folder_lock(out), _replace_dir(out, private, replaceable, keep) as tmp:
        yield tmp


@contextlib.contextmanager
def _replace_dir(out: str | Path, private: bool, replaceable: Callable[[Path], bool] | None,
                 keep: Iterable[str]) -> Iterator[Path]:
    """:func:`replace_dir` once it holds the lock.

    An existing ``out`` is replaced only if :func:`check_out` allows it. On any error the
    temporary folder is removed and ``out`` is left exactly as it was. ``private`` makes the
    new folder and its files owner-only. ``keep`` names entries of the old folder carried into
    the new one unless it wrote its own (e.g. a trial's resume store), by :func:`link_copy`,
    so the old folder stays whole until the swap.
    """
    out = check_out(out, replaceable)
    if private:
        private_parents(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if _held(out) in _HELD:  # under its lock, another new folder is a killed writer's
        remove_stale_stages(out.parent, f".{out.name}.new-")
        if any(p.name != LOCK_NAME for p in out.iterdir()):
            # and an old one a swap was killed while removing; but never when ``out`` is
            # still empty: then the old folder holds the only result (folder_lock restores
            # the latest such one; this keeps any it could not)
            remove_stale_stages(out.parent, f".{out.name}.old-")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        yield tmp
        for name in keep:
            if (out / name).exists() and not (tmp / name).exists():
                link_copy(out / name, tmp / name)
        if (out / LOCK_NAME).exists():  # the same file, so a holder's lock goes with the folder
            with contextlib.suppress(OSError):
                os.link(out / LOCK_NAME, tmp / LOCK_NAME)
        if private:
            restrict_tree(tmp)
        else:
            os.chmod(tmp, dir_mode(False))
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / "x")
        try:
            os.replace(tmp, out)
        except OSError:
            if old is not None:
                os.replace(old / "x", out)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as err:  # a full disk while writing: name the folder asked for, not ours
        for attr in ("filename", "filename2"):
            name = getattr(err, attr)
            if isinstance(name, str) and Path(name).is_relative_to(tmp):
                setattr(err, attr, str(out / Path(name).relative_to(tmp)))
        raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def replace_files(folder: str | Path, names: Iterable[str]) -> Iterator[Path]:
    """For result files kept beside a store in one folder (an experiment's effects.csv and
    forest.png): yield a staging folder inside ``folder``; once the block succeeds, each of
    ``names`` written there replaces its namesake and those not written are removed, so no
    stale file of an earlier session survives. On any error ``folder`` is left as it was. The
    set is swapped in by one rename a file, after everything is written. In an owner-only
    folder (:func:`owner_only`: a study of real records) the files are owner-only too."""
    folder = Path(folder)
    with folder_lock(folder):
        stage = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=folder))
        try:
            yield stage
            if owner_only(folder):
                restrict_tree(stage)
            for name in names:
                if (stage / name).exists():
                    os.replace(stage / name, folder / name)
                elif (folder / name).exists():
                    (folder / name).unlink()
        finally:
            shutil.rmtree(stage, ignore_errors=True)


def holds_any(*names: str) -> Callable[[Path], bool]:
    """A ``replaceable`` test: the folder holds one of these files (an earlier result)."""
    return lambda folder: any((folder / n).exists() for n in names)


#: files a file manager may put in any folder it shows: never the user's own work
OS_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})


def holds_only(markers: Iterable[str], names: Iterable[str]) -> Callable[[Path], bool]:
    """A ``replaceable`` test for a result folder that is replaced whole: it holds one of
    ``markers`` (an earlier result of this kind) and nothing but ``names`` (what that kind may
    write) and srmsim's own hidden temporaries. Why: a notes file the user put in an earlier
    run's folder would otherwise vanish with the folder."""
    markers, allowed = tuple(markers), set(names)

    def ours(entry: str) -> bool:
        if entry in allowed or entry.startswith(STAGE_PREFIX) or entry in (*OS_FILES, LOCK_NAME):
            return True
        # a write_atomic temporary of an allowed name: .summary.json.srmsim-tmp-x1y2z3a4 (or an
        # older srmsim's .summary.json.x1y2z3a4); any other hidden name is the user's (a
        # .summary.json.swp of an editor, a .students.parquet.bak) and was removed with the folder
        return any(entry.startswith(f".{name}") and _TEMP_TAIL.fullmatch(entry[len(name) + 1:])
                   for name in allowed)
    def foreign(folder: Path) -> list[str]:
        return [p.name for p in folder.iterdir() if not ours(p.name)]

    def replaceable(folder: Path) -> bool:
        return holds_any(*markers)(folder) and not foreign(folder)

    replaceable.foreign = foreign  # type: ignore[attr-defined]  # (named when refused)
    return replaceable


def check_inputs_outside(out: str | Path, inputs: Iterable[str | Path | None],
                         what: str = "--out") -> None:
    """Refuse an output folder that is, or holds, one of the command's inputs: the folder is
    replaced whole, so the input would be deleted with the earlier result. ``what`` names the
    folder in the message (a command without --out writes into the folder it reads)."""
    folder = Path(os.path.abspath(out)).resolve()
    for given in inputs:
        if given is None:
            continue
        path = Path(os.path.abspath(given)).resolve()
        if path == folder or path.is_relative_to(folder):
            remedy = ("the output folder is replaced whole, so write it elsewhere"
                      if what == "--out" else f"outputs are written there: move {given} out")
            raise DataError(f"{what} {out}: holds the input {given}; {remedy}")


def check_out_of_data(out: str | Path, data: str | Path, what: str = "--out") -> None:
    """Refuse an output (folder or file) that is, or is inside, the dataset folder ``data``:
    what a command writes from raw records is meant for sharing, and inside the private folder
    it would sit beside the records, take their permissions, or replace them. Symbolic links
    are followed, so a link into the folder is refused too. ``what`` names the output in the
    message (``sensitivity`` has no --out: it writes into the experiment folder)."""
    folder = Path(os.path.abspath(data)).resolve()
    target = Path(os.path.abspath(out)).resolve()
    if target == folder or target.is_relative_to(folder):
        remedy = "write them elsewhere" if what == "--out" else f"move {what} out of it first"
        raise DataError(f"{what} {out}: inside the dataset folder {data} (it holds private "
                        f"records, and outputs are meant for sharing); {remedy}")


#: the file that marks each kind of result folder (what `srmsim report` recognises it by)
RESULT_MARKERS = {"experiment": "manifest.json", "trial": "trial.json", "run": "summary.json",
                  "optimise": "optimise.json"}


#: a key each marker file srmsim writes holds (its hash or version): a folder of someone
#: else's with a manifest.json or summary.json is no srmsim result
_MARKER_KEYS = {"experiment": ("experiment_hash",), "trial": ("trial_hash",),
                "run": ("scenario_hash", "srmsim_version"), "optimise": ("hash",)}


#: the file that marks each kind of analysis folder: not one `srmsim report` builds a page of
#: (:data:`RESULT_MARKERS` chooses its builder), but one no other output is nested in either
ANALYSIS_MARKERS = {"calibration": "fit.json", "discovery": "discovery.json",
                    "thresholds": "thresholds.csv"}

#: the keys each JSON marker srmsim writes holds, and the columns thresholds.csv starts with
_ANALYSIS_KEYS = {"calibration": ("parameters", "optimiser"),
                  "discovery": ("condition", "variant"),
                  "thresholds": ("threshold", "n", "n_pos", "flagged")}

#: the files beside its marker each JSON-marked analysis writes (``srmsim calibrate``'s
#: :data:`srmsim.calibrate.report.REPORT_FILES`, ``discover``'s
#: :data:`srmsim.explore.discovery.DISCOVERY_FILES`): a folder holding them all with the marker
#: is the command's by its shape, whatever its marker holds (a marker of an older srmsim, one
#: edited, or one too large to read)
_ANALYSIS_FILES = {"calibration": ("fit_moments.csv", "fit_parameters.csv", "calibrated.yaml"),
                   "discovery": ("prim_trajectory.csv", "prim_box.csv", "cart_leaves.csv",
                                 "prim_trajectory.png", "discovery.txt")}
#: the largest JSON marker read to be recognised: the --out check looks at every folder above
#: --out, and srmsim's own are a few kB (a calibration's with many moments, tens of kB)
MAX_MARKER_BYTES = 1 << 20


def _srmsim_result(folder: Path) -> str | None:
    """:func:`result_kind` of ``folder`` where its marker file is srmsim's own (a JSON object
    holding one of :data:`_MARKER_KEYS`' keys), else its :data:`ANALYSIS_MARKERS` kind where
    that marker is srmsim's, else None. Why: :func:`check_out_of_results` looks at every
    folder above ``--out``, and a project folder of the user's with its own manifest.json (a
    web extension's, a package's) refused every srmsim --out below it."""
    from srmsim.inputs import load_json

    kind = result_kind(folder)
    if kind is None:
        return analysis_kind(folder)
    try:
        data = load_json(folder / RESULT_MARKERS[kind])
    except (ValueError, OSError):
        return None
    return kind if isinstance(data, dict) and any(k in data for k in _MARKER_KEYS[kind]) \
        else None


def analysis_kind(folder: str | Path) -> str | None:
    """The :data:`ANALYSIS_MARKERS` kind of ``folder`` (``srmsim calibrate``'s, ``discover``'s
    or ``thresholds``' output) where its marker is srmsim's own: a JSON object holding
    :data:`_ANALYSIS_KEYS`' keys (read only up to :data:`MAX_MARKER_BYTES`), or thresholds.csv
    whose header starts with its columns; or, by its shape, the marker beside every other file
    its command writes (:data:`_ANALYSIS_FILES`, by name, nothing read); else None. Why the
    shape: a folder whose marker lacks the keys was no result folder to the --out check, and
    an output could be written into it."""
    from srmsim.inputs import load_json

    for kind, marker in ANALYSIS_MARKERS.items():
        path = Path(folder) / marker
        if not path.is_file():
            continue
        if kind in _ANALYSIS_FILES and all((Path(folder) / name).is_file()
                                           for name in _ANALYSIS_FILES[kind]):
            return kind
        keys = _ANALYSIS_KEYS[kind]
        try:
            if marker.endswith(".csv"):
                with open(path, encoding="utf-8", errors="replace") as fh:
                    header = fh.readline(4096).rstrip("\r\n").split(",")
                if tuple(header[:len(keys)]) == keys:
                    return kind
                continue
            data = load_json(path, max_bytes=MAX_MARKER_BYTES)
        except (ValueError, OSError):
            continue
        if isinstance(data, dict) and all(k in data for k in keys):
            return kind
    return None


#: the keys of the summary.json `srmsim data validate --out` writes (with rejects.csv), as a
#: rejected import leaves it too: its own kind of folder, never a run's (whose summary.json
#: holds :data:`_MARKER_KEYS`' ``run`` keys)
_REJECT_REPORT_KEYS = ("rows_read", "by_rule")


def _reject_report(folder: Path) -> bool:
    """Does ``folder`` hold srmsim's reject report (``data validate --out``, or an import that
    rejected rows) and no dataset? Its rejects.csv holds raw rows of pupil records."""
    from srmsim.inputs import load_json

    if not (folder / "summary.json").is_file() or not (folder / "rejects.csv").is_file():
        return False
    try:
        data = load_json(folder / "summary.json")
    except (ValueError, OSError):
        return False
    return isinstance(data, dict) and all(k in data for k in _REJECT_REPORT_KEYS)


def result_kind(folder: str | Path) -> str | None:
    """The kind of result ``folder`` holds (a key of :data:`RESULT_MARKERS`), by its marker
    file, or None."""
    return next((kind for kind, marker in RESULT_MARKERS.items()
                 if (Path(folder) / marker).is_file()), None)


def result_noun(kind: str) -> str:
    """A kind of :func:`result_kind` as a folder is named in words ("the optimisation folder":
    the kind is its command's name, and "optimise folder" read as an instruction)."""
    return "optimisation" if kind == "optimise" else kind


def check_out_of_results(out: str | Path, analysed: str | Path | None = None,
                         instead: str = "a folder outside any result folder",
                         below_analysed: bool = True, own: str | None = None) -> None:
    """Refuse an ``--out`` folder inside another result folder (or an imported dataset's),
    however deep. Why: it is not that folder's to hold: ``discover A --out B/discovery``
    replaced experiment B's own discovery and broke B's report, and ``experiment --out B/sub``
    (run, trial, optimise, calibrate) nested a study among B's files, which B's next run
    refused ("holds files this command did not write"). ``out`` itself may be a result (the
    command's own earlier one, to replace or resume: :func:`check_out` judges it).
    ``analysed``: the result folder the command reads, whose own folders it may write
    (``discover DIR`` into ``DIR/discovery``); then ``out`` must not be another result itself
    either. ``instead``: what to give, for the message. ``below_analysed=False``: ``out`` may
    be directly in ``analysed`` but no deeper (a report file: in a study's ``runs/`` it sits
    among the files a resume reads and checks). ``own``: the :data:`ANALYSIS_MARKERS` kind
    the command writes, which ``out`` itself may be (its earlier one, to replace). The
    folders of ``srmsim calibrate``, ``discover`` and ``thresholds`` are result folders here
    too (:data:`ANALYSIS_MARKERS`). Links are followed."""
    target = Path(os.path.abspath(out)).resolve()
    read = Path(os.path.abspath(analysed)).resolve() if analysed is not None else None
    for folder in (target.parents if read is None else (target, *target.parents)):
        if folder == read:
            if below_analysed or target.parent == read:
                return
            raise SrmsimError(f"--out {out}: inside {analysed}'s "
                              f"{target.relative_to(read).parts[0]}/ folder, which srmsim reads "
                              f"and writes itself\n  give {instead} (nothing was written)")
        if (folder / "dataset.json").is_file():  # (its import's summary.json is not a run's)
            from srmsim.data.dataset import is_dataset_folder

            if is_dataset_folder(folder):
                where = f"the dataset folder {folder} (its records are kept apart from outputs)"
            else:
                continue
        elif _reject_report(folder):  # (its summary.json is no run's either)
            where = (f"the reject report folder {folder} (`srmsim data validate --out`: it "
                     "holds rows of private records)")
        else:
            kind = _srmsim_result(folder)
            if kind is None or (folder == target and kind == own):
                continue
            if kind in ANALYSIS_MARKERS and read is not None and not below_analysed \
                    and folder.is_relative_to(read):
                continue  # (the analysed result's own discovery/: its rule below says so)
            where = (f"the {result_noun(kind)} folder {folder}, another result" if read is None
                     else f"the {result_noun(kind)} folder {folder}, another result than "
                     f"{analysed}")
        # (the hint on a line of its own: with long paths one line passed the line limit)
        raise SrmsimError(f"--out {out}: inside {where}\n  give {instead} (nothing was "
                          "written)")

# --------------------------------------------------------------------------------------------
# a lock per results folder

#: folders this process holds a lock on, by (thread, absolute path): nested holders on one
#: thread share it; another thread is refused as another process is (flock is per open file)
_HELD: dict[tuple[int, Path], int] = {}
#: the folders each held lock made (its folder and the parents that were missing), which a
#: private output then makes owner-only (:func:`private_parents`)
_MADE: dict[tuple[int, Path], list[Path]] = {}


def _held(folder: Path) -> tuple[int, Path]:
    return threading.get_ident(), Path(os.path.abspath(folder))


def _describe_holder(lock: Path) -> str:
    """Who holds ``lock``, as its file says (``srmsim compare DIR, pid 12``) if that one lives."""
    try:
        pid_text, command = lock.read_text(encoding="utf-8", errors="replace").split("\n")[:2]
        pid = int(pid_text)
        os.kill(pid, 0)
    except (OSError, ValueError):
        return "another srmsim command"
    return f"another srmsim command ({command[:200]}, pid {pid})"


def _command() -> str:
    """This command as typed (``srmsim compare results/x``), for the lock file."""
    words = sys.argv[1:] if Path(sys.argv[0]).stem in ("srmsim", "__main__", "cli") else []
    return " ".join(["srmsim", *words]) if words else "srmsim"


def _open_locked(lock: Path, shared: bool) -> int | None:
    """A descriptor holding ``lock`` (exclusive, or ``shared``); None where the file system
    cannot lock (Windows without fcntl, some NFS mounts): the caller goes on unlocked. Raises
    BlockingIOError when another process holds it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return None
    for _ in range(20):  # the file was unlinked by its releasing holder: open the new one
        refuse_lock_link(lock.parent)  # never followed: see below
        # O_NOFOLLOW: a link put in its place between the check and the open fails (ELOOP)
        # rather than have its target truncated and written, and then hard-linked into an
        # owner-only result and made 0600 (the exclusive holder empties and writes the lock)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise
        except OSError:  # ENOLCK, EOPNOTSUPP: no locks here, so no lock file either
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(lock)
            return None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)
    return None  # pragma: no cover - someone removes lock files in a loop


def remove_stale_stages(folder: Path, prefix: str = STAGE_PREFIX) -> None:
    """Remove the staging folders (named ``prefix``...) that a killed command left in
    ``folder``: those of :func:`replace_files` inside a results folder, or of
    :func:`replace_dir` beside it. Called only by the holder of the results folder's exclusive
    lock, so none is a live command's."""
    for entry in folder.glob(f"{glob.escape(prefix)}*"):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove the :func:`write_atomic` temporaries a killed command left in the results folder
    ``folder`` and its subfolders (never read, they stayed for ever), and return them. Called
    only by the holder of ``folder``'s exclusive lock, so no command is writing one there.

    Only regular files named as :data:`TEMP_MARKER` says are removed; symbolic links are never
    followed (nor removed), and hidden folders (a ``.git``, another command's staging folder)
    and nested results folders (holding a lock file: their own holder tidies them) are not
    entered."""
    root = Path(folder)
    removed: list[Path] = []
    todo = [root]
    while todo:
        current = todo.pop()
        try:
            with os.scandir(current) as it:
                entries = list(it)
        except OSError:
            continue
        if current != root and any(e.name == LOCK_NAME for e in entries):
            continue
        for entry in entries:
            try:
                if entry.is_symlink():
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if not entry.name.startswith("."):
                        todo.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False) and _TEMP_NAME.fullmatch(entry.name):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
            except OSError:  # gone meanwhile, or not ours to remove: left as it is
                continue
    return removed


def restore_moved_aside(folder: Path) -> Path | None:
    """Put back the results :func:`replace_dir` had moved aside when a kill fell between its
    two renames: ``folder`` missing (or holding only its lock) and its previous contents in
    ``.<name>.old-*/x`` beside it, where no command would ever read them. Called only by the
    holder of ``folder``'s exclusive lock; returns the staging folder it emptied (None: nothing
    to restore). The folder gets the old one's permissions back (a private result stays
    owner-only)."""
    if not folder.is_dir() or any(p.name != LOCK_NAME for p in folder.iterdir()):
        return None
    stages = [p for p in folder.parent.glob(f"{glob.escape(f'.{folder.name}.old-')}*")
              if p.is_dir() and not p.is_symlink()
              and (p / "x").is_dir() and not (p / "x").is_symlink()]
    if not stages:
        return None
    stage = max(stages, key=lambda p: p.stat().st_mtime)  # the latest swap's
    moved = stage / "x"
    for entry in moved.iterdir():
        if entry.name != LOCK_NAME:
            os.replace(entry, folder / entry.name)
    os.chmod(folder, moved.stat().st_mode & 0o7777)
    shutil.rmtree(stage, ignore_errors=True)
    print(f"srmsim: {folder}: restored the results an interrupted command had moved aside "
          f"(to {stage.name})", file=sys.stderr)
    return stage


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike[str], shared: bool = False) -> Iterator[bool]:
    """Hold the advisory lock of the results folder ``folder`` (made if missing) while a
    command writes into it (``shared``: while it reads it, or writes one file atomically).

    Why: two commands writing one study at once interleave (a compare removing the staging
    folder of another), and a killed one leaves staging folders that only a lock can tell
    from a live command's. A second writer is refused at once, naming the folder and the
    other command; the first exclusive holder removes stale staging folders and temporaries
    (:func:`remove_stale_temporaries`). Where locks are
    unavailable (Windows, NFS without locks) the command goes on as before and removes
    nothing. Nested holders in one process share the lock. Yields whether it is held.
    """
    folder = Path(folder)
    held = _held(folder)
    key = held[1]
    if key.exists() and not key.is_dir():  # refused by the command's own check, by name
        yield False
        return
    if held in _HELD:
        yield True
        return
    made = [p for p in (key, *key.parents) if not p.exists()]
    lock = key / LOCK_NAME
    fd: int | None = None
    lock_made = not shared and not lock.exists()
    # taking the lock is undone whole whatever stops it (a refusal, or a Ctrl-C landing after
    # the lock file was made: 1 in 12 such Ctrl-Cs left the folder and its lock behind)
    try:
        if not shared:
            refuse_link(key, str(folder))
            key.mkdir(parents=True, exist_ok=True)
        try:
            fd = _open_locked(lock, shared)
        except BlockingIOError:
            raise SrmsimError(f"{folder}: in use by {_describe_holder(lock)}; wait for it to "
                              "finish (two commands writing one results folder at once would "
                              "mix their files)") from None
        except OSError:  # a reader of a read-only folder, or a folder not made yet
            if not shared:
                raise
        if fd is not None:
            _HELD[held] = fd
            _MADE[held] = [Path(os.path.abspath(p)) for p in made]
            if not shared:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n{_command()}\n".encode("utf-8", "replace"))
                remove_stale_stages(key)
                restore_moved_aside(key)
                remove_stale_temporaries(key)
    except BaseException as err:
        if fd is not None:
            _HELD.pop(held, None)
            _MADE.pop(held, None)
            _release(fd, lock, shared)
        elif lock_made and isinstance(err, KeyboardInterrupt):  # stopped inside the open
            with contextlib.suppress(OSError):
                os.unlink(lock)
        _remove_made(made)
        raise
    if fd is None:
        yield False
        return
    try:
        yield True
    except BaseException:
        del _HELD[held]
        _MADE.pop(held, None)
        _release(fd, lock, shared)
        _remove_made(made)
        raise
    del _HELD[held]
    _MADE.pop(held, None)
    _release(fd, lock, shared)


def _release(fd: int, lock: Path, shared: bool) -> None:
    """Unlock, removing the lock file when no one else holds it (while still holding it, so a
    process that opened it meanwhile sees it gone and opens a new one)."""
    import fcntl

    try:
        if shared:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the last reader
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
    except OSError:
        pass  # another reader holds it still
    finally:
        os.close(fd)


def _remove_made(made: list[Path]) -> None:
    """Remove the folders the lock made, innermost first, if they are still empty."""
    for path in made:
        with contextlib.suppress(OSError):
            os.rmdir(path)


__all__ = ["ANALYSIS_MARKERS", "FORMULA_START", "RESULT_MARKERS", "analysis_kind",
           "check_inputs_outside", "check_out",
           "check_out_of_data", "check_out_of_results", "csv_text", "current_umask", "file_mode",
           "folder_lock", "holds_any", "holds_only", "is_formula", "json_dumps", "json_safe",
           "link_copy", "make_dir", "neutralise", "private_parents", "read_csv_cells",
           "remove_stale_temporaries", "replace_dir", "replace_files", "restore_moved_aside",
           "restrict_tree", "result_kind", "result_noun", "write_atomic", "write_csv",
           "write_file"]
