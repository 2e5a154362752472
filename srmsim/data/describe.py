"""A small descriptive table of an imported dataset, with small counts suppressed.

Why suppression is not optional here: this table is what people paste into reports, and it is
built from real pupil records. Counts below the threshold become ``c``, rates built on them
``low``, and secondary suppression hides further cells until no small count can be worked out
from the Total row or from one count being part of another (see :mod:`srmsim.privacy`). Rows
may be labelled only by fields the schema declares as breakdowns (school, year group, sex, FSM,
SEN, EAL): never by a name, UPN, date of birth or student id.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from srmsim.data.dataset import Dataset
from srmsim.data.schema import STUDENTS
from srmsim.errors import DataError
from srmsim.privacy import DEFAULT_THRESHOLD, Symbols, suppress_small_counts

#: Attendance below this share of possible sessions is persistent absence (DfE definition).
PERSISTENT_ABSENCE = 0.90

COUNTS = ["students", "fsm", "sen", "eal", "with_sessions", "persistently_absent"]
#: the students columns a summary may be grouped by (categories, not identifiers or measures)
GROUPABLE = ("school", "year_group", "sex", "fsm", "sen", "eal")
RATES = {"fsm_pct": ["fsm", "students"], "sen_pct": ["sen", "students"],
         "eal_pct": ["eal", "students"], "attendance_pct": ["with_sessions"],
         "persistent_absence_pct": ["persistently_absent", "with_sessions"]}


def describe_counts(ds: Dataset, by: list[str] | None = None) -> pd.DataFrame:
    """The unsuppressed table: one row per group and a Total row. Not for printing."""
    by = list(by or ["school"])
    st = ds.students
    allowed = breakdown_fields()
    refused = [b for b in by if b not in allowed]
    if refused:
        raise DataError(f"--by {refused}: only declared non-identifying categories may label "
                        f"rows of a published table: {', '.join(allowed)}")
    if len(set(by)) != len(by):
        raise DataError(f"--by {by}: a column is repeated")
    missing = [b for b in by if b not in st.columns]
    if missing:
        raise DataError(f"--by {missing}: not a column of the students table "
                        f"(groupable: {', '.join(GROUPABLE)})")
    wrong = [b for b in by if b not in GROUPABLE]
    if wrong or len(set(by)) != len(by):
        raise DataError(f"--by {wrong or by}: group by one or more distinct of "
                        f"{', '.join(GROUPABLE)} (identifiers and measurements are not groups)")
    att = _attendance(ds)
    # a breakdown that is also a count (fsm, sen, eal) gets its label column renamed
    names = [f"{b}_group" if b in COUNTS else b for b in by]
    frame = st[["student_id", *by]].copy()
    frame.columns = ["student_id", *names]
    for flag in ("fsm", "sen", "eal"):
        frame[flag] = (st[flag].astype("boolean") if flag in st.columns
                       else pd.Series(pd.NA, index=st.index, dtype="boolean"))
    frame = frame.merge(att, on="student_id", how="left")
    frame["with_sessions"] = frame["possible"].notna() & (frame["possible"] > 0)
    has_sessions = bool(frame["with_sessions"].any())
    frame["pa"] = frame["with_sessions"] & (frame["attended"] < PERSISTENT_ABSENCE
                                            * frame["possible"])

    def summarise(g: pd.DataFrame) -> dict[str, float]:
        row: dict[str, float] = {"students": len(g)}
        for flag in ("fsm", "sen", "eal"):
            row[flag] = float(g[flag].sum()) if g[flag].notna().any() else np.nan
        if has_sessions:
            row["with_sessions"] = int(g["with_sessions"].sum())
            row["persistently_absent"] = int(g["pa"].sum())
        else:  # the school supplied no attendance: "not available", not a count of zero
            row["with_sessions"] = row["persistently_absent"] = np.nan
        pos = g["possible"].sum()
        row["attendance_pct"] = 100 * g["attended"].sum() / pos if pos > 0 else np.nan
        return row

    rows = []
    for key, g in frame.groupby(names, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        labels = ["(missing)" if pd.isna(k) else str(k) for k in key]
        rows.append({**dict(zip(names, labels, strict=True)), **summarise(g)})
    rows.append({**{b: ("Total" if i == 0 else "") for i, b in enumerate(names)},
                 **summarise(frame)})
    table = pd.DataFrame(rows)
    for b in names:
        table[b] = table[b].astype("str")
    for c in COUNTS:
        table[c] = table[c].astype("Int64")

    def pct(num: str, den: str) -> pd.Series:
        base = table[den].astype("float64")
        return 100 * table[num].astype("float64") / base.where(base > 0)

    for flag in ("fsm", "sen", "eal"):
        table[f"{flag}_pct"] = pct(flag, "students")
    table["persistent_absence_pct"] = pct("persistently_absent", "with_sessions")
    return table[[*names, *COUNTS, *RATES]]


def breakdown_fields() -> list[str]:
    """Students fields the schema declares fit to label published rows (``Field.breakdown``)."""
    return [f.name for f in STUDENTS.fields if f.breakdown]


#: Each count is part of another in its row: an attacker can use that, so the audit does too.
SUBSETS = {"fsm": "students", "sen": "students", "eal": "students",
           "with_sessions": "students", "persistently_absent": "with_sessions"}

#: ... and the rest of the whole is a count too (the non-FSM pupils, those not persistently
#: absent). Not pupils without sessions: that is how complete the export is, usually 0.
COMPLEMENTS = ("fsm", "sen", "eal", "persistently_absent")


def _attendance(ds: Dataset) -> pd.DataFrame:
    """Sessions attended and possible per student over all periods."""
    ob = ds.observations
    if not len(ob) or "sessions_possible" not in ob.columns:
        return pd.DataFrame({"student_id": pd.Series([], dtype="str"),
                             "attended": pd.Series([], dtype="float64"),
                             "possible": pd.Series([], dtype="float64")})
    use = ob[["student_id", "sessions_attended", "sessions_possible"]].dropna()
    agg = use.groupby("student_id", as_index=False).agg(
        attended=("sessions_attended", "sum"), possible=("sessions_possible", "sum"))
    agg["attended"] = agg["attended"].astype("float64")
    agg["possible"] = agg["possible"].astype("float64")
    return agg


def describe(ds: Dataset, by: list[str] | None = None, threshold: int = DEFAULT_THRESHOLD,
             symbols: Symbols | None = None) -> pd.DataFrame:
    """The descriptive table with small counts suppressed: safe to print or write."""
    table = describe_counts(ds, by)
    return suppress_small_counts(table, count_columns=COUNTS, threshold=threshold,
                                 symbols=symbols, rate_columns=RATES, total_column=None,
                                 subsets=SUBSETS, complements=COMPLEMENTS)
