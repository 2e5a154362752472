"""Growable struct-of-arrays tables for workflow cases and fading action effects."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np


class Table:
    """Columns that grow by appending and shrink by keeping a mask; ``t.col`` is a live view.

    The views are plain instance attributes, refreshed whenever the length changes: the policy
    engine reads a few hundred columns a week, and an attribute lookup is several times cheaper
    than building the view on every read.
    """

    def __init__(self, spec: dict[str, str | type]):
        self._spec = {k: np.dtype(v) for k, v in spec.items()}
        self._cap = 256
        self._n = 0
        self._data = {k: np.empty(self._cap, dtype=d) for k, d in self._spec.items()}
        self._views()

    def _views(self) -> None:
        n = self._n
        for name, arr in self._data.items():
            self.__dict__[name] = arr[:n]

    def __getstate__(self) -> dict:
        # the views are rebuilt on unpickling: a copied view would no longer share the data
        return {k: v for k, v in self.__dict__.items() if k.startswith("_")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._views()

    if TYPE_CHECKING:  # the columns, as the type checker should see them
        def __getattr__(self, name: str) -> np.ndarray: ...

    def __len__(self) -> int:
        return self._n

    def append(self, **cols: np.ndarray | float | int) -> np.ndarray:
        """Add rows; returns their positions. Every column must be given."""
        lengths = {n for n in map(_column_length, cols.values()) if n is not None}
        if len(lengths) != 1:
            raise ValueError("append needs at least one column array, all of one length")
        k = lengths.pop()
        if set(cols) != set(self._spec):
            raise ValueError(f"columns {sorted(set(self._spec) ^ set(cols))} missing or unknown")
        need = self._n + k
        if need > self._cap:
            while self._cap < need:
                self._cap *= 2
            for name, arr in self._data.items():
                new = np.empty(self._cap, dtype=arr.dtype)
                new[: self._n] = arr[: self._n]
                self._data[name] = new
        for name, value in cols.items():
            self._data[name][self._n : need] = value
        pos = np.arange(self._n, need)
        self._n = need
        self._views()
        return pos

    def keep(self, mask: np.ndarray) -> None:
        """Drop the rows where ``mask`` is False, keeping order."""
        rows = np.flatnonzero(mask)  # once, not once per column
        for arr in self._data.values():
            arr[: len(rows)] = arr[rows]
        self._n = len(rows)
        self._views()


def _column_length(value: np.ndarray | float | int) -> int | None:
    """The number of rows an appended value gives (a 1-D array or sequence), or None for one
    value for every row: arrays and numbers are told apart without ``np.ndim``, which builds
    an array from a number (the engine appends a week's cases with a dozen constant columns)."""
    if isinstance(value, np.ndarray):
        return len(value) if value.ndim == 1 else None
    if isinstance(value, int | float | np.generic):
        return None
    return np.shape(value)[0] if np.ndim(value) == 1 else None
