"""Reading the files other commands wrote into a result folder, for its report.

A folder's files may have been edited, truncated or replaced by hand: each reader turns what it
cannot use into a short error naming the file (exit status 2), never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from srmsim.errors import SrmsimError
from srmsim.inputs import load_json
from srmsim.labels import agree
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
        raise SrmsimError(f"{path}: unreadable ({type(err).__name__}); {AGAIN}") from None
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
