"""Reading the files other commands wrote into a result folder, for its report.

A folder's files may have been edited, truncated or replaced by hand: each reader turns what it
cannot use into a short error naming the file (exit status 2), never a traceback.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from srmsim.errors import SrmsimError
from srmsim.inputs import load_json, whole
from srmsim.labels import agree, cut, excerpt
from srmsim.report.page import Page
from srmsim.results import RUN_AGAIN

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
AGAIN = RUN_AGAIN


def read_csv(path: Path) -> pd.DataFrame:
    """A CSV a command wrote, or an error naming the file."""
    try:
        return pd.read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise SrmsimError(f"{path}: unreadable ({type(err).__name__}); {AGAIN}") from None


def read_parquet(path: Path) -> pd.DataFrame:
    """A Parquet table a command wrote, or an error naming the file (pyarrow raises many types
    for a truncated file or CSV text in its place)."""
    try:
        frame = pd.read_parquet(path)
    except Exception as err:  # noqa: BLE001 - every failure to read means a damaged file
        from srmsim.inputs import parquet_damage

        raise SrmsimError(f"{path}: unreadable: {parquet_damage(path, err)}; {AGAIN}"
                          ) from None
    if frame.columns.duplicated().any():
        raise SrmsimError(f"{path}: duplicated column names; {AGAIN}")
    return frame


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object a command wrote, or an error naming the file."""
    try:
        data = load_json(path)
    except ValueError as err:  # invalid, duplicate keys, too deep or large, not a file
        raise SrmsimError(f"{path}: unreadable ({str(err)[:120]}); {AGAIN}") from None
    if not isinstance(data, dict):
        raise SrmsimError(f"{path}: not what srmsim writes (a JSON object); {AGAIN}")
    return data


#: the longest text from a folder's JSON files a page shows (a description, a design sentence):
#: a hand-edited file's 20 MB string is cut, saying how long it was
TEXT_LIMIT = 1000


def _not(where: Path, key: str, value: object, kind: str) -> SrmsimError:
    return SrmsimError(f"{where}: {key} is {excerpt(value, 40)}, not {kind} (hand-edited or "
                       f"corrupt); {AGAIN}")


def json_text(data: dict[str, Any], key: str, where: Path, default: str = "") -> str:
    """``data[key]`` as text for the page (a number as its digits; absent or null: ``default``),
    cut to :data:`TEXT_LIMIT`; a list or mapping is an error naming the file, not its repr, and
    so is ``NaN`` or ``Infinity`` (which Python's JSON reader accepts: the page showed ``nan``
    as a root seed, ``inf`` as a version)."""
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _not(where, key, value, "a text")
    if isinstance(value, float) and not math.isfinite(value):
        raise _not(where, key, value, "a text or a finite number")
    return cut(str(value), TEXT_LIMIT)


def json_time(data: dict[str, Any], key: str, where: Path, default: str = "") -> str:
    """A time the file records (ISO 8601, ``2026-12-06T16:13:55``) as the pages write times,
    ``2026-12-06 16:13``; text that is not such a time as it is (:func:`json_text`)."""
    import datetime as dt

    text = json_text(data, key, where, default)
    try:
        return dt.datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return text


def json_mapping(data: dict[str, Any], key: str, where: Path) -> dict[str, Any]:
    """``data[key]`` when it is a JSON object (absent or null: empty), else an error."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _not(where, key, value, "a mapping")
    return value


def json_names(data: dict[str, Any], key: str, where: Path) -> list[str]:
    """``data[key]`` when it is a list of texts or a mapping (its keys; absent or null: empty),
    else an error."""
    value = data.get(key)
    if value is None:
        return []
    names = list(value) if isinstance(value, dict | list) else None
    if names is None or not all(isinstance(n, str) for n in names):
        raise _not(where, key, value, "a list of names")
    return names


#: the largest count a report reads from JSON (exact as a float): a 400-digit count of runs
#: made the share ``cases / runs`` raise OverflowError, a traceback
MAX_COUNT = 2**53


def json_count(data: dict[str, Any], key: str, where: Path, default: int = 0) -> int:
    """``data[key]`` when it is a whole number from 0 to :data:`MAX_COUNT` (absent or null:
    ``default``), else an error."""
    value = data.get(key)
    if value is None:
        return default
    if not whole(value) or not 0 <= value <= MAX_COUNT:
        raise _not(where, key, value, f"a whole number >= 0 and at most {MAX_COUNT:,}")
    return value


def json_finite(value: object) -> bool:
    """A JSON number the page can print as a float: not a boolean, and finite as a float (JSON
    ``NaN`` and ``Infinity`` showed as "inf days"; a 400-digit whole number made formatting it
    raise OverflowError, a traceback)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def need_text(frame: pd.DataFrame, columns: list[str], path: Path) -> None:
    """Columns a report reads as names (``measure``, ``group``) hold text: a column of numbers
    put there by hand made ``.str`` calls raise."""
    need_columns(frame, columns, path)
    for column in columns:
        values = frame[column]
        bad = values.notna() & ~values.map(lambda v: isinstance(v, str))
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise SrmsimError(f"{path}: column {column!r} holds {cut(str(values.iloc[row]), 40)} "
                              f"in data row {row + 1}, not a name; {AGAIN}")


def school_number(group: str) -> int:
    """The number of a ``school N`` group, to order school rows by (a name edited by hand,
    ``school x``, sorts last instead of raising)."""
    tail = group.split(" ", 1)[1] if " " in group else ""
    return int(tail) if len(tail) <= 9 and tail.isascii() and tail.isdigit() else 10**9


def need_columns(frame: pd.DataFrame, columns: list[str], path: Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SrmsimError(f"{path}: missing {agree(len(missing), 'column')} {missing}; {AGAIN}")


def need_numbers(frame: pd.DataFrame, columns: list[str], path: Path) -> None:
    """Columns a report computes with hold numbers (blanks allowed, text and infinities not)."""
    need_columns(frame, columns, path)
    for column in columns:
        values = frame[column]
        if pd.api.types.is_bool_dtype(values):
            continue
        numbers = pd.to_numeric(values, errors="coerce")
        bad = (numbers.isna() & values.notna()) | numbers.abs().eq(float("inf"))
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            value = values.iloc[row]
            shown = repr(value) if isinstance(value, str) else str(value)
            raise SrmsimError(f"{path}: column {column!r} holds {shown} in data row "
                              f"{row + 1}, not a finite number; {AGAIN}")
        if values.notna().any() and not pd.api.types.is_numeric_dtype(values):
            # numbers stored as text (a Parquet column retyped by hand): sums would join the
            # strings, comparisons raise
            row = int(values.notna().to_numpy().nonzero()[0][0])
            raise SrmsimError(f"{path}: column {column!r} holds text ({values.iloc[row]!r} in "
                              f"data row {row + 1}), not numbers; {AGAIN}")


def embed_png(page: Page, path: Path, caption: str) -> None:
    """A PNG figure a command wrote, embedded in the page (nothing when it is absent)."""
    if not path.is_file():
        return
    data = path.read_bytes()
    if not data.startswith(PNG_MAGIC):
        raise SrmsimError(f"{path}: not a PNG image; {AGAIN}")
    page.png(data, caption)
