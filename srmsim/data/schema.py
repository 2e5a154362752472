"""The record schema a school's export is imported into: two tables, ``students`` and ``observations``.

Why in code: validation, the Parquet writer, anonymisation (which columns are identifiers) and the
documentation in ``data/README.md`` all read the same field list, so they cannot drift apart.
``python -m srmsim.data.schema`` (or ``srmsim data schema``) prints the markdown tables that
``data/README.md`` embeds; a test checks the two are identical.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

SCHEMA_VERSION = 1

#: Field types. ``category`` holds one of ``categories``; ``date`` is a calendar date.
TYPES = ("str", "int", "float", "bool", "category", "date")

#: What a field is, for anonymisation: ``id`` is pseudonymised, ``direct`` (a direct identifier)
#: and ``free_text`` are dropped, ``dob`` is turned into age in months and dropped, ``data`` is kept.
KINDS = ("id", "direct", "free_text", "dob", "data")

#: Age limits for a school pupil, in months (3 and 25 years).
MIN_AGE_MONTHS = 36
MAX_AGE_MONTHS = 300


@dataclass(frozen=True)
class Field:
    """One column of a schema table."""

    name: str
    type: str
    description: str
    required: bool = False
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] = ()
    kind: str = "data"
    #: Value a rare category is recoded to when anonymising (``None``: no recoding).
    generalise_to: str | None = None
    #: May label the rows of a published table (``data summary --by``): a declared,
    #: non-identifying category with few values. Identifiers, names, dates and free text never.
    breakdown: bool = False

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"field {self.name}: unknown type {self.type!r}")
        if self.kind not in KINDS:
            raise ValueError(f"field {self.name}: unknown kind {self.kind!r}")
        if self.breakdown and (self.kind not in ("data", "id") or self.name == "student_id"
                               or self.type not in ("str", "int", "bool", "category")):
            raise ValueError(f"field {self.name}: a {self.kind} field cannot be a breakdown")

    @property
    def allowed(self) -> str:
        """Human-readable range or categories, for messages and the docs."""
        if self.categories:
            return ", ".join(self.categories)
        if self.type == "bool":
            return "true, false"
        lo = "" if self.min is None else _num(self.min)
        hi = "" if self.max is None else _num(self.max)
        if lo and hi:
            return f"{lo} to {hi}"
        if lo:
            return f">= {lo}"
        if hi:
            return f"<= {hi}"
        return ""


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


@dataclass(frozen=True)
class Table:
    """A schema table: its fields, key, and groups of which at least one field is required."""

    name: str
    description: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    one_of: tuple[tuple[str, ...], ...] = field(default=())

    def __getitem__(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return any(f.name == name for f in self.fields)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]


STUDENTS = Table(
    name="students",
    description="One row per student (pupil) per import: who they are and their characteristics.",
    key=("student_id",),
    one_of=(("date_of_birth", "age_months"),),
    fields=(
        Field("student_id", "str", "School's identifier for the student; unique across the "
              "whole import (prefix ids if two schools' MIS ids overlap).", required=True,
              kind="id"),
        Field("school", "str", "School identifier (e.g. URN, DfE number or a short code).",
              required=True, kind="id", breakdown=True),
        Field("year_group", "int", "National Curriculum year group (England: 7-13 in secondary, "
              "1-6 in primary).", required=True, min=1, max=13, breakdown=True),
        Field("date_of_birth", "date", "Date of birth. Either this or age_months is required; "
              "import derives age_months at the mapping's reference_date; anonymise drops it.",
              kind="dob"),
        Field("age_months", "int", "Age in whole months at the reference date (3 to 25 years).",
              min=MIN_AGE_MONTHS, max=MAX_AGE_MONTHS),
        Field("sex", "category", "Sex as recorded by the school.",
              categories=("F", "M", "other", "unknown"), generalise_to="unknown",
              breakdown=True),
        Field("fsm", "bool", "Eligible for free school meals (or the trust's disadvantage flag).",
              breakdown=True),
        Field("sen", "bool", "Has special educational needs (SEN support or EHC plan).",
              breakdown=True),
        Field("eal", "bool", "English as an additional language.", breakdown=True),
        Field("prior_attainment", "float", "Prior attainment score on the school's own scale "
              "(e.g. KS2 scaled score); within +-1,000,000, so one mistyped value cannot swamp "
              "the standardised scores.", min=-1_000_000, max=1_000_000),
        Field("name", "str", "Student's name. Direct identifier: dropped by anonymise.",
              kind="direct"),
        Field("upn", "str", "Unique Pupil Number. Direct identifier: dropped by anonymise.",
              kind="direct"),
        Field("address", "str", "Home address. Direct identifier: dropped by anonymise.",
              kind="direct"),
        Field("postcode", "str", "Home postcode. Direct identifier: dropped by anonymise.",
              kind="direct"),
        Field("notes", "str", "Free-text notes. Free text: dropped by anonymise.",
              kind="free_text"),
    ),
)

OBSERVATIONS = Table(
    name="observations",
    description="One row per student per period (week or term): what the school observed.",
    key=("student_id", "period_type", "period"),
    one_of=(("period", "period_start"),),
    fields=(
        Field("student_id", "str", "Student identifier; must exist in the students table.",
              required=True, kind="id"),
        Field("school", "str", "School identifier; must match the student's school.",
              required=True, kind="id"),
        Field("period_type", "category", "Length of the period this row covers.",
              required=True, categories=("week", "term")),
        Field("period", "int", "Integer week or term index (1 = first). If only period_start is "
              "given, import derives it (see 'Periods').", min=1),
        Field("period_start", "date", "Date the week or term starts."),
        Field("sessions_possible", "int", "Sessions (half-days) the student could attend "
              "(at most 14 in a week).", min=0, max=400),
        Field("sessions_attended", "int", "Sessions attended; at most sessions_possible.",
              min=0, max=400),
        Field("incidents", "int", "Behaviour incidents recorded.", min=0),
        Field("assessment_score", "float", "Assessment score on the school's scale; within "
              "+-1,000,000, so one mistyped value cannot swamp the moments calibrate fits.",
              min=-1_000_000, max=1_000_000),
        Field("reading_age_months", "int", "Reading age in months.", min=24, max=300),
        Field("lms_logins", "int", "Logins to the learning platform.", min=0),
        Field("assignments_set", "int", "Assignments set on the learning platform.", min=0),
        Field("assignments_on_time", "int", "Assignments handed in on time; at most "
              "assignments_set.", min=0),
        Field("satisfaction", "int", "Satisfaction pulse, 1 (low) to 5 (high).", min=1, max=5),
        Field("exam_score", "float", "Exam score (outcome) on the exam's own scale; within "
              "+-1,000,000, as assessment_score.", min=-1_000_000, max=1_000_000),
        Field("withdrawn", "bool", "Student withdrew or left during this period (outcome)."),
        Field("notes", "str", "Free-text notes. Free text: dropped by anonymise.",
              kind="free_text"),
    ),
)

TABLES: dict[str, Table] = {"students": STUDENTS, "observations": OBSERVATIONS}

#: Most sessions a student can have in one week (10 half-days, some schools run extra sessions).
MAX_WEEKLY_SESSIONS = 14


def table(name: str) -> Table:
    """The schema table called ``name`` (``students`` or ``observations``)."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; expected one of {sorted(TABLES)}") from None


_PANDAS = {"str": "str", "category": "str", "int": "Int64", "float": "float64",
           "bool": "boolean", "date": "datetime64[s]"}
_ARROW = {"str": pa.string(), "category": pa.string(), "int": pa.int64(), "float": pa.float64(),
          "bool": pa.bool_(), "date": pa.date32()}


def pandas_dtype(f: Field) -> str:
    """The pandas dtype srmsim uses for a field in memory (nullable, so missing stays missing)."""
    return _PANDAS[f.type]


def arrow_type(f: Field) -> pa.DataType:
    """The Parquet (Arrow) type a field is written with."""
    return _ARROW[f.type]


def conform(frame: pd.DataFrame, tbl: Table) -> pd.DataFrame:
    """Cast schema columns of ``frame`` to srmsim's dtypes; other columns are left as they are."""
    out = frame.copy()
    for f in tbl.fields:
        if f.name in out.columns:
            if out[f.name].isna().all():
                out[f.name] = pd.Series(index=out.index, dtype=pandas_dtype(f))
            elif f.type == "date":
                out[f.name] = pd.to_datetime(out[f.name]).astype("datetime64[s]")
            else:
                out[f.name] = out[f.name].astype(pandas_dtype(f))
    return out


def to_arrow(frame: pd.DataFrame, tbl: Table) -> pa.Table:
    """An Arrow table with schema types for schema columns (dates as ``date32``)."""
    arrays, names = [], []
    for col in frame.columns:
        s = frame[col]
        if col in tbl and tbl[col].type == "date":
            d = pd.to_datetime(s).to_numpy(dtype="datetime64[D]")
            arr = pa.array(d, type=pa.date32(), mask=np.isnat(d))
        elif col in tbl:
            f = tbl[col]
            arr = pa.array(s.astype(pandas_dtype(f)), type=arrow_type(f), from_pandas=True)
        else:
            arr = pa.array(s, from_pandas=True)
        arrays.append(arr)
        names.append(str(col))
    return pa.Table.from_arrays(arrays, names=names)


def from_arrow(tab: pa.Table, tbl: Table) -> pd.DataFrame:
    """A pandas frame from an Arrow table, with srmsim's dtypes for schema columns."""
    frame = tab.to_pandas(date_as_object=False)
    for col in frame.columns:
        if col in tbl:
            frame[col] = frame[col].astype(pandas_dtype(tbl[col]))
        elif pa.types.is_integer(tab.schema.field(col).type):
            frame[col] = frame[col].astype("Int64")
    return frame


def schema_markdown() -> str:
    """The field tables embedded in ``data/README.md`` (between the ``schema`` markers)."""
    lines: list[str] = []
    for tbl in TABLES.values():
        lines.append(f"### `{tbl.name}`")
        lines.append("")
        lines.append(tbl.description + f" Key: `{', '.join(tbl.key)}`.")
        for group in tbl.one_of:
            lines.append(f"At least one of `{'`, `'.join(group)}` is required.")
        lines.append("")
        lines.append("| field | type | required | allowed | anonymise | description |")
        lines.append("|---|---|---|---|---|---|")
        for f in tbl.fields:
            req = "yes" if f.required else ("one of" if any(f.name in g for g in tbl.one_of)
                                             else "no")
            anon = {"id": "pseudonymised", "direct": "dropped", "free_text": "dropped",
                    "dob": "to age_months, dropped", "data": "kept"}[f.kind]
            if f.kind == "data" and tbl.name == "students":
                anon = "kept \\*"
            lines.append(f"| `{f.name}` | {f.type} | {req} | {f.allowed} | {anon} | "
                         f"{f.description} |")
        lines.append("")
        if tbl.name == "students":
            lines.append("\\* generalised or suppressed if declared a quasi-identifier "
                         "(see Anonymisation).")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(schema_markdown(), end="")
