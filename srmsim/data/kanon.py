"""k-anonymity and l-diversity over declared quasi-identifiers: measure, generalise, suppress.

Why greedy global recoding (Datafly, Sweeney 2002): it is simple to explain to a data protection
officer -- "year group was reported as key stage for everyone" -- and every school's records stay
comparable, which a calibration needs. Each round tries one step up the hierarchy of every
quasi-identifier and keeps the step that leaves the fewest students at risk (ties: the one with
the most distinct values, as in Datafly), until the students left in equivalence classes that
are too small (fewer than ``k`` students, or fewer than ``l`` distinct values of a sensitive
field) are at most ``max_suppressed`` of the table; those students are then suppressed (removed).
Suppressing whole classes leaves the others untouched, so k (and l) hold afterwards by
construction.

Hierarchies (level 0 is the value as recorded):

- ``year_group``: key stage (1-2, 3-6, 7-9, 10-11, 12-13) -> phase (1-6, 7-11, 12-13) -> any;
- ``age_months``: whole years -> two-year bands -> any;
- yes/no fields (``fsm``, ``sen``, ``eal``): -> not shown (missing);
- ``sex``: -> ``unknown``;
- anything else (e.g. ``school``): no generalisation; only suppression protects it.

A generalised number is written as two columns ``<field>_min`` and ``<field>_max`` (inclusive
bounds) in place of ``<field>``, so a reader can never mistake a band for an exact value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from srmsim.data.schema import MAX_AGE_MONTHS, MIN_AGE_MONTHS, STUDENTS

_BANDS: dict[str, list[tuple[str, list[tuple[int, int]] | int]]] = {
    "year_group": [("key stage", [(1, 2), (3, 6), (7, 9), (10, 11), (12, 13)]),
                   ("phase", [(1, 6), (7, 11), (12, 13)]),
                   ("any", [(1, 13)])],
    "age_months": [("whole years", 12), ("two-year bands", 24),
                   ("any", [(MIN_AGE_MONTHS, MAX_AGE_MONTHS)])],
}


@dataclass(frozen=True)
class Hierarchy:
    """Generalisation levels of one quasi-identifier."""

    name: str
    kind: str  # "bands", "blank", "recode", "none"
    levels: tuple[str, ...] = ()  # description of level 1, 2, ...
    recode_to: str | None = None

    @property
    def max_level(self) -> int:
        return len(self.levels)

    def bounds(self, s: pd.Series, level: int) -> tuple[pd.Series, pd.Series]:
        """Inclusive (low, high) of each value's band at ``level`` (numeric hierarchies)."""
        spec = _BANDS[self.name][level - 1][1]
        v = pd.to_numeric(s, errors="coerce").astype("float64")
        if isinstance(spec, int):
            lo = np.floor(v / spec) * spec
            hi = lo + spec - 1
        else:
            los = np.array([a for a, _ in spec], dtype=float)
            his = np.array([b for _, b in spec], dtype=float)
            i = np.clip(np.searchsorted(los, v.to_numpy(), side="right") - 1, 0, len(los) - 1)
            lo = pd.Series(np.where(v.notna(), los[i], np.nan), index=s.index)
            hi = pd.Series(np.where(v.notna(), his[i], np.nan), index=s.index)
        return lo.astype("Int64"), hi.astype("Int64")

    def key(self, s: pd.Series, level: int) -> pd.Series:
        """A value to group on at ``level``: rows with equal keys look the same."""
        if level == 0:
            return s
        if self.kind == "bands":
            lo, hi = self.bounds(s, level)
            return lo.astype("str").fillna("") + "-" + hi.astype("str").fillna("")
        if self.kind == "blank":
            return pd.Series(pd.NA, index=s.index, dtype=s.dtype)
        if self.kind == "recode":
            return pd.Series(self.recode_to, index=s.index, dtype="str").where(s.notna())
        raise ValueError(f"{self.name} has no generalisation level {level}")


def hierarchy(name: str) -> Hierarchy:
    """The generalisation hierarchy srmsim uses for a students field."""
    if name in _BANDS:
        return Hierarchy(name, "bands", tuple(d for d, _ in _BANDS[name]))
    if name in STUDENTS:
        f = STUDENTS[name]
        if f.type == "bool":
            return Hierarchy(name, "blank", ("not shown",))
        if f.generalise_to:
            return Hierarchy(name, "recode", (f"all {f.generalise_to}",), f.generalise_to)
    return Hierarchy(name, "none")


def equivalence_classes(frame: pd.DataFrame, quasi: list[str]) -> np.ndarray:
    """Class id of each row: rows with the same quasi-identifier values share an id."""
    if not quasi or not len(frame):
        return np.zeros(len(frame), dtype=np.int64)
    return frame[quasi].groupby(quasi, dropna=False, sort=False).ngroup().to_numpy()


def class_sizes(ids: np.ndarray) -> np.ndarray:
    """Size of each row's class."""
    if not len(ids):
        return np.zeros(0, dtype=np.int64)
    return np.bincount(ids)[ids]


def class_diversity(ids: np.ndarray, values: pd.Series) -> np.ndarray:
    """Distinct non-missing values of a sensitive field in each row's class."""
    if not len(ids):
        return np.zeros(0, dtype=np.int64)
    df = pd.DataFrame({"cls": ids, "v": values.to_numpy()}).dropna().drop_duplicates()
    per = np.bincount(df["cls"].to_numpy(dtype=np.int64), minlength=int(ids.max()) + 1)
    return per[ids]


def measure(frame: pd.DataFrame, quasi: list[str], sensitive: list[str] | None = None
            ) -> dict[str, Any]:
    """Achieved k (smallest class) and l (smallest distinct count of each sensitive field)."""
    ids = equivalence_classes(frame, quasi)
    sizes = class_sizes(ids)
    out: dict[str, Any] = {"rows": int(len(frame)),
                           "classes": int(len(np.unique(ids))) if len(ids) else 0,
                           "k": int(sizes.min()) if len(sizes) else None}
    ls = {s: int(class_diversity(ids, frame[s]).min()) if len(ids) else None
          for s in sensitive or []}
    out["l"] = min(v for v in ls.values() if v is not None) if ls and len(ids) else None
    out["l_by_field"] = ls
    return out


@dataclass
class KAnonResult:
    """The protected table and what was done to it."""

    frame: pd.DataFrame
    suppressed: np.ndarray  # boolean over the input rows
    levels: dict[str, int]
    descriptions: dict[str, str]
    achieved: dict[str, Any]
    max_suppressed_exceeded: bool = False
    rounds: list[dict[str, Any]] = field(default_factory=list)


def _violations(keys: pd.DataFrame, quasi: list[str], frame: pd.DataFrame, k: int, l_diversity: int,
                sensitive: list[str]) -> np.ndarray:
    ids = equivalence_classes(keys, quasi)
    bad = class_sizes(ids) < k
    for s in sensitive:
        bad |= class_diversity(ids, frame[s]) < l_diversity
    return bad


def k_anonymise(frame: pd.DataFrame, quasi: list[str], k: int = 5, l_diversity: int = 1,
                sensitive: list[str] | None = None, max_suppressed: float = 0.05
                ) -> KAnonResult:
    """Generalise then suppress until every class has >= k rows and >= l sensitive values."""
    sensitive = list(sensitive or [])
    hier = {q: hierarchy(q) for q in quasi}
    levels = {q: 0 for q in quasi}
    n = len(frame)
    rounds = []
    while True:
        keys = pd.DataFrame({q: hier[q].key(frame[q], levels[q]) for q in quasi},
                            index=frame.index)
        bad = _violations(keys, quasi, frame, k, l_diversity, sensitive)
        rounds.append({"levels": dict(levels), "rows_in_small_classes": int(bad.sum())})
        if bad.sum() <= max_suppressed * n:
            break
        candidates = [q for q in quasi if levels[q] < hier[q].max_level]
        if not candidates:
            break
        # try one step up for each candidate; keep the step that leaves the fewest students in
        # too-small classes (ties: the attribute with more distinct values, then quasi order)
        scores = {}
        for q in candidates:
            trial = keys.copy()
            trial[q] = hier[q].key(frame[q], levels[q] + 1)
            left = int(_violations(trial, quasi, frame, k, l_diversity, sensitive).sum())
            scores[q] = (left, -keys[q].nunique(dropna=False), quasi.index(q))
        pick = min(candidates, key=scores.__getitem__)
        levels[pick] += 1
    exceeded = bool(bad.sum() > max_suppressed * n)
    out = frame.loc[~bad].copy()
    descriptions = {}
    for q in quasi:
        lev = levels[q]
        if lev == 0:
            continue
        h = hier[q]
        descriptions[q] = h.levels[lev - 1]
        if h.kind == "bands":
            lo, hi = h.bounds(out[q], lev)
            pos = list(out.columns).index(q)
            out = out.drop(columns=[q])
            out.insert(pos, f"{q}_max", hi)
            out.insert(pos, f"{q}_min", lo)
        else:
            out[q] = h.key(out[q], lev).astype(out[q].dtype)
    kept_keys = pd.DataFrame({q: hier[q].key(frame.loc[~bad, q], levels[q]) for q in quasi},
                             index=out.index)
    achieved = measure(pd.concat([kept_keys, out[sensitive]], axis=1), quasi, sensitive)
    return KAnonResult(frame=out, suppressed=bad, levels=levels, descriptions=descriptions,
                       achieved=achieved, max_suppressed_exceeded=exceeded, rounds=rounds)


def generalise_rare(frame: pd.DataFrame, k: int) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    """Recode categories held by fewer than ``k`` students to the field's catch-all value."""
    out = frame.copy()
    changed: dict[str, dict[str, int]] = {}
    for f in STUDENTS.fields:
        if f.generalise_to is None or f.name not in out.columns:
            continue
        counts = out[f.name].value_counts(dropna=True)
        rare = [str(v) for v, c in counts.items() if c < k and v != f.generalise_to]
        if rare:
            mask = out[f.name].isin(rare)
            changed[f.name] = {v: int(counts[v]) for v in rare}
            out.loc[mask, f.name] = f.generalise_to
    return out, changed
