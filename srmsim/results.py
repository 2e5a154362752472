"""What a run produces, as DataFrames and as files.

Files written by :meth:`RunResult.write` (docs/outputs.md explains every column):
``students.parquet`` (one row per student), ``weekly.parquet`` (one row per school per week, and
per request stream per week), ``events.parquet`` (workflow events, with a policy),
``history.parquet`` (per-student weeks for the history sample), with request streams
``requests.parquet``, ``requests_weekly.parquet`` and ``request_events.parquet``,
``summary.json`` and ``scenario.yaml`` (the fully resolved scenario).
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from srmsim import __version__
from srmsim.calendar import SESSIONS_PER_WEEK
from srmsim.errors import SrmsimError
from srmsim.inputs import load_json, whole
from srmsim.labels import percent, plural, rounded
from srmsim.outputs import holds_only, json_dumps, replace_dir, write_atomic, write_file
from srmsim.scenario import Scenario, load_scenario
from srmsim.students import SEX_NAMES, STATUS_NAMES, WITHDRAWN, StudentTable

if TYPE_CHECKING:
    import pyarrow as pa

    from srmsim.model import TrustModel

#: DfE: persistent absence is missing 10% or more of possible sessions, severe 50% or more;
#: counted in whole sessions, ``missed * 10 >= possible`` (floats put 351 of 390 below 90%)
PERSISTENT_ABSENCE_DENOMINATOR = 10
SEVERE_ABSENCE_DENOMINATOR = 2


def student_frame(t: StudentTable, share: bool = False) -> pd.DataFrame:
    """One row per student, the columns documented in the README.

    Every column is an array of its own (the table's columns copied, so the frame never changes
    with a model that runs on), given to pandas with ``copy=False``: pandas would otherwise stack
    the columns of each type into one 2-D block, a second copy of the table (3 s at 8M students).
    ``share=True`` uses the table's columns themselves, for a table that will never change again
    (a finished run whose model is dropped): no copy at all.
    """
    own = (lambda a: a) if share else np.copy
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = t.attended / t.possible
        on_time = t.on_time_total / t.set_total
    persistent, severe = absence_flags(t.possible, t.attended)
    df = pd.DataFrame({
        "uid": own(t.uid),
        "school": own(t.school),
        "year_group": t.year_group.astype(np.int16),
        "age_months": np.round(t.age_months, 1),
        # categorical, as `status`: one byte a student (a str column of 8M students took
        # 0.7-0.9 s to build and 0.3 s to write)
        "sex": pd.Categorical.from_codes((t.sex == 1).view(np.int8), SEX_NAMES),
        "fsm": own(t.fsm),
        "sen": own(t.sen),
        "eal": own(t.eal),
        "status": pd.Categorical.from_codes(own(t.status), [STATUS_NAMES[i] for i in range(3)]),
        "entry_week": own(t.entry_step),
        "exit_week": own(t.exit_step),
        "prior_attainment": own(t.prior_attainment),
        "sessions_possible": own(t.possible),
        "sessions_attended": own(t.attended),
        "attendance_rate": rate,
        "attendance_autumn": own(t.attendance_autumn),
        "attendance_spring": own(t.attendance_spring),
        "attendance_summer": own(t.attendance_summer),
        "persistent_absent": persistent,
        "severe_absent": severe,
        "incidents": own(t.incidents),
        "lms_logins": own(t.logins),
        "assignments_set": own(t.set_total),
        "assignments_on_time": own(t.on_time_total),
        "on_time_rate": on_time,
        "reading_gap_start": own(t.reading_gap_start),
        "reading_gap_end": t.reading_obs - t.reading_obs_age,
        "attainment": own(t.attainment),
        "assessment": own(t.assessment),
        "satisfaction": own(t.satisfaction),
        "exam_score": own(t.exam_score),
        "withdrawn": t.status == WITHDRAWN,
        "interventions": own(t.interventions),
        "weeks_waited": own(t.weeks_waited),
        "staff_minutes": own(t.staff_minutes),
        "cost": own(t.cost),
    }, copy=False)
    if len(t) > 1 and not np.all(t.uid[1:] > t.uid[:-1]):  # a one-year table is in uid order
        df = df.sort_values("uid", kind="stable")
    return df.reset_index(drop=True)


def absence_flags(possible: np.ndarray, attended: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Persistent and severe absence per student (the students table, a trial's panel), in
    whole-session arithmetic (39 missed of 390 is exactly 10%; floats would say 9.99..%); no
    possible session is neither.

    Worked out a slice of rows at a time in the table's 32-bit integers (64-bit only if ten
    times a count could overflow them): at 8M students the 64-bit copies of whole columns this
    used to make were 0.7-1.0 s of fresh pages before the students file could start
    (``benchmarks/national.py``)."""
    n = len(possible)
    dtype = np.promote_types(np.promote_types(possible.dtype, attended.dtype), np.int32)
    if n and int(possible.max()) > np.iinfo(dtype).max // PERSISTENT_ABSENCE_DENOMINATOR:
        dtype = np.dtype(np.int64)
    persistent, severe = np.empty(n, dtype=bool), np.empty(n, dtype=bool)
    rows = 1 << 16
    missed, scaled = np.empty(min(n, rows), dtype=dtype), np.empty(min(n, rows), dtype=dtype)
    for lo in range(0, n, rows):
        hi = min(lo + rows, n)
        p, m, x = possible[lo:hi], missed[:hi - lo], scaled[:hi - lo]
        np.subtract(p, attended[lo:hi], out=m)
        has_sessions = p > 0
        for out, denominator in ((persistent, PERSISTENT_ABSENCE_DENOMINATOR),
                                 (severe, SEVERE_ABSENCE_DENOMINATOR)):
            np.multiply(m, denominator, out=x)
            np.greater_equal(x, p, out=out[lo:hi])
            out[lo:hi] &= has_sessions
    return persistent, severe


def headline(students: pd.DataFrame) -> dict[str, float]:
    """The figures `srmsim run` prints and summary.json keeps.

    Counted with masks over the frame's columns, not on sub-frames: at 8M students the copies
    of five columns for those with sessions, then for FSM and the rest, were 150 MB of fresh
    pages while the students file was being written."""
    possible = students["sessions_possible"].to_numpy()
    with_sessions = possible > 0
    fsm = students["fsm"].to_numpy(dtype=bool)

    def rate(column: str, among: np.ndarray) -> float:
        """The share of ``among`` a flag column marks (NaN for nobody)."""
        n = int(np.count_nonzero(among))
        flag = students[column].to_numpy(dtype=bool)
        return int(np.count_nonzero(flag & among)) / n if n else float("nan")

    def mean(x: pd.Series) -> float:
        """Mean of the values there are; NaN (no warning) when there is none."""
        return float(np.nanmean(x)) if x.notna().any() else float("nan")

    sessions = int(np.sum(possible, where=with_sessions, dtype=np.int64))
    attended = int(np.sum(students["sessions_attended"].to_numpy(), where=with_sessions,
                          dtype=np.int64))
    return {
        "students": int(len(students)),
        # no possible session (a model not yet run): no attendance rate, not 0%
        "attendance": attended / sessions if sessions else float("nan"),
        "persistent_absence": rate("persistent_absent", with_sessions),
        "persistent_absence_fsm": rate("persistent_absent", with_sessions & fsm),
        "persistent_absence_non_fsm": rate("persistent_absent", with_sessions & ~fsm),
        "severe_absence": rate("severe_absent", with_sessions),
        "reading_gap_start": mean(students["reading_gap_start"]),
        "reading_gap_end": mean(students["reading_gap_end"]),
        "mean_attainment": float(students["attainment"].mean()),
        "withdrawals": int(students["withdrawn"].sum()),
        "interventions": int(students["interventions"].sum()),
        "staff_hours": float(students["staff_minutes"].sum() / 60.0),
        "cost": float(students["cost"].sum()),
    }


def request_rows(name: str, r: dict[str, Any]) -> list[tuple[str, str]]:
    """Readable lines for one request stream's summary."""
    def days(x: float | None) -> str:
        return "-" if x is None else f"{x:,.1f} days"

    rows = [(f"{name}: requests (backlog at start + arrivals)",
             f"{r['backlog_start']:,} + {r['arrivals']:,}"),
            (f"{name}: completed / dropped / open at end",
             f"{r['completed']:,} / {r['dropped']:,} / {r['open_at_end']:,}"),
            (f"{name}: waiting time median / 90th / 99th percentile",
             f"{days(r['median_days'])} / {days(r['p90_days'])} / {days(r['p99_days'])}"),
            (f"{name}: throughput",
             f"{r['throughput_per_week'] or 0:,.1f} requests a week")]
    if r.get("within_deadline") is not None:
        rows.append((f"{name}: completed within {r['deadline_days']:g} days",
                     percent(r['within_deadline'])))
    rows += [(f"{name}: staff utilisation ({k.removeprefix('utilisation_')})", percent(v))
             for k, v in r.items() if k.startswith("utilisation_") and v is not None]
    return rows


def write_parquet(df: pd.DataFrame, path: Path, private: bool = False,
                  unique: Iterable[str] = (), required: bool = False,
                  statistics: Iterable[str] | None = None, digest: bool = False) -> str | None:
    """Parquet, dictionary-encoded except float columns and the ``unique`` ones (a students
    table's identifiers, one value per row): a measure such as an attendance rate has nearly as
    many values as rows, so trying a dictionary for it costs about a quarter of the writing time
    (8M students) and saves almost nothing; for 8M uids it cost 0.45 s against 0.2 s plain (one
    measurement, 2026-12-02).

    ``required``: the columns with no missing value are declared so in the file's schema (not
    null), which spares encoding a definition level for every value: 3.0-3.2 s against
    3.7-4.1 s for England's 8M-row students table (four alternating pairs, 2026-12-03). pandas
    reads the same frame back. Only for a table read on its own: files whose tables are
    concatenated (an experiment's runs) keep one schema whatever their values.

    ``statistics``: the columns whose minimum and maximum each row group records (None: all).
    They let a reader skip row groups only for a column the rows are sorted by; a students
    table's measures span their range in every row group, and their statistics cost about 12%
    of its encoding.

    ``digest``: return the file's SHA-256 (else None), read on a thread while the file is
    being written (:class:`GrowingFileDigest`) rather than afterwards."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    plain = set(unique)
    dictionary = [str(c) for c, dtype in df.dtypes.items()
                  if c not in plain and not (isinstance(dtype, np.dtype) and dtype.kind == "f")]
    table = arrow_table(df)
    if required:
        table = table.cast(pa.schema(
            [f.with_nullable(table.column(i).null_count > 0) for i, f in enumerate(table.schema)],
            metadata=table.schema.metadata))
    stats: bool | list[str] = True if statistics is None else [
        c for c in statistics if c in table.column_names]
    sha256: list[str] = []

    def write(tmp: str) -> None:
        if not digest:
            pq.write_table(table, tmp, use_dictionary=dictionary, write_statistics=stats)
            return
        with GrowingFileDigest(tmp) as hasher:
            pq.write_table(table, tmp, use_dictionary=dictionary, write_statistics=stats)
        sha256.append(hasher.hexdigest())

    write_atomic(Path(path), write, private=private)
    return sha256[0] if sha256 else None


def arrow_table(df: pd.DataFrame) -> pa.Table:
    """``pa.Table.from_pandas(df, preserve_index=False)``: the same table (schema and pandas
    metadata included), made faster for the frames of numbers, flags and categories srmsim
    writes most. A column of numbers with no NaN is taken as it is (zero-copy): from_pandas
    scans every float column for NaN to mark missing values, holding the GIL, and for England's
    students table it took 0.2-0.3 s alone and about 0.5 s beside the result tables being made
    on the other thread. A frame with any other column type (text, nullable or extension types)
    goes to from_pandas whole."""
    import pyarrow as pa

    def simple(dtype: object) -> bool:
        return (isinstance(dtype, np.dtype) and dtype.kind in "biuf") or isinstance(
            dtype, pd.CategoricalDtype)

    if not (df.columns.is_unique and all(isinstance(c, str) for c in df.columns)
            and all(simple(d) for d in df.dtypes)):
        return pa.Table.from_pandas(df, preserve_index=False)
    schema = pa.Table.from_pandas(df.iloc[:0], preserve_index=False).schema
    arrays = []
    for name, spec in zip(df.columns, schema, strict=True):
        column = df[name]
        values = column.to_numpy() if isinstance(column.dtype, np.dtype) else None
        if values is not None and (values.dtype.kind != "f" or not np.isnan(values).any()):
            arrays.append(pa.array(values, type=spec.type))  # no NaN to mark: as it is
        else:
            arrays.append(pa.array(column, type=spec.type, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=schema)


class GrowingFileDigest:
    """SHA-256 of a file another thread is writing from start to end, read as it grows.

    Why: hashing England's 350 MB students.parquet after it is written took 0.2-0.25 s at the
    end of the run with the other core idle; read behind the writer, the bytes come from the
    page cache on that core meanwhile. Only for writers that append and never go back (a
    Parquet writer: pages, then the footer). Use as a context manager around the writing; the
    digest is read after it ends (:meth:`hexdigest`), and only if the writing succeeded.
    """

    BLOCK = 1 << 20

    def __init__(self, path: str | Path):
        import hashlib

        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by the thread
        self._sha256 = hashlib.sha256()
        self._written = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._follow, name="srmsim sha256", daemon=True)

    def __enter__(self) -> GrowingFileDigest:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._written.set()
        self._thread.join()

    def _follow(self) -> None:
        try:
            with self._file as fh:
                while True:
                    written = self._written.is_set()  # before the read: then nothing is missed
                    block = fh.read(self.BLOCK)
                    if block:
                        self._sha256.update(block)
                    elif written:
                        return
                    else:
                        self._written.wait(0.002)
        except BaseException as exc:  # noqa: BLE001 - raised by hexdigest, in the writer
            self._error = exc

    def hexdigest(self) -> str:
        if self._thread.is_alive() or not self._written.is_set():
            raise RuntimeError("the file is still being written")
        if self._error is not None:
            raise self._error
        return self._sha256.hexdigest()


#: the students table's identifiers: every value differs (the uid and, with a policy, the
#: pseudonym events.parquet names students by)
STUDENT_IDS = ("uid", "student")
#: the columns an events table is in the order of (events are recorded week by week): the
#: only ones whose row-group statistics a reader can skip by; the pseudonyms' minimum and
#: maximum cost about a sixth of writing the table (25M events of a national run)
EVENT_ORDER = ("run_week", "year")
#: the columns a run's students table is in the order of (uid order: school order in a one-year run),
#: so the only ones whose row-group statistics let a reader skip row groups
STUDENT_ORDER = ("school", "uid")


class StudentsFile:
    """``students.parquet`` being written on a thread of its own (pyarrow encodes without
    holding the GIL), so that the run's other tables are made and written meanwhile."""

    def __init__(self, students: pd.DataFrame, folder: Path, private: bool):
        self._path = Path(folder) / "students.parquet"
        #: the table being written (the run's result tables are made from it meanwhile)
        self.frame = students
        self._private = private
        self._digest: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write, name="srmsim students.parquet",
                                        daemon=True)

    @classmethod
    def start(cls, students: pd.DataFrame, folder: Path, private: bool) -> StudentsFile:
        file = cls(students, folder, private)
        file._thread.start()
        return file

    def _write(self) -> None:
        try:
            self._digest = write_parquet(self.frame, self._path, private=self._private,
                                         unique=STUDENT_IDS, required=True,
                                         statistics=STUDENT_ORDER, digest=True)
        except BaseException as exc:  # noqa: BLE001 - raised in the thread that waits
            self._error = exc

    def wait(self) -> None:
        self._thread.join()

    def result(self) -> str:
        """Wait for the file; its SHA-256 (the thread's error, if it failed)."""
        self.wait()
        if self._error is not None:
            raise self._error
        assert self._digest is not None
        return self._digest


def run_folder(out: Path, private: bool) -> contextlib.AbstractContextManager[Path]:
    """The new folder a run's files go to, replacing ``out`` (an earlier run's folder, or
    none) once they are all written: :func:`srmsim.outputs.replace_dir`."""
    return replace_dir(out, private=private, replaceable=holds_only(RUN_MARKERS, RUN_FILES))


def write_text(text: str, path: Path, private: bool = False) -> None:
    write_file(Path(path), text, private=private)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, as lowercase hex (read in 1 MiB blocks)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: what to do about a run folder's damaged file (the report's and thresholds' messages)
RUN_AGAIN = "run the command that wrote it again"


def check_student_rows(folder: Path, summary: dict[str, Any], rows: int) -> None:
    """The run folder's students.parquet (of ``rows`` rows) has the students its summary.json
    counts: an emptied, cut or padded table would still make a report or a thresholds table
    passed off as the run's. The message names no count: a run from real records must not
    print its group sizes."""
    count = summary.get("students")
    if not whole(count):
        raise SrmsimError(f"{folder / 'summary.json'}: has no whole 'students', which every run "
                          f"records (hand-edited or corrupt); {RUN_AGAIN}")
    if rows != count:
        raise SrmsimError(f"{folder / 'students.parquet'}: its rows are not the students "
                          f"summary.json counts (emptied, cut or replaced); {RUN_AGAIN}")


def simulation_problem(base: Path, students_sha256: str | None = None) -> str | None:
    """None for a simulated run's folder, else why its data are treated as real (one phrase).

    The folder must hold the run's ``scenario.yaml``, with no ``population.records``, whose
    digest is the ``scenario_hash`` of its ``summary.json``, and the ``students.parquet`` whose
    SHA-256 that summary records (``file_sha256``): a summary.json copied (or written) beside
    real data, or real data copied over a run's table, does not turn the protection off. A run
    from records (``from_records``) copies each simulated pupil's traits from a real record, so
    it is protected like real data. A folder of an srmsim older than the digest is treated as
    real (run it again to publish it unprotected). A dataset folder (``dataset.json``) holds
    imported records, whatever else it holds. Anything that does not check out is real."""
    from srmsim.data.dataset import META_FILE

    if (base / META_FILE).exists():
        return "a dataset folder of imported records (dataset.json)"
    try:
        data = load_json(base / "summary.json")
    except ValueError:
        return "no readable summary.json of an srmsim run"
    if not isinstance(data, dict) or "scenario_hash" not in data:
        return "its summary.json is not an srmsim run's"
    if data.get("from_records"):
        return "a run built from real records"
    try:
        scenario = load_scenario(base / "scenario.yaml")
    except (OSError, ValueError, RecursionError, SrmsimError):
        return "no readable scenario.yaml of the run"
    if scenario.population.records is not None:
        return "a run built from real records"
    if scenario.digest() != data["scenario_hash"]:
        return "its scenario.yaml is not the one summary.json describes"
    digests = data.get("file_sha256")
    recorded = digests.get("students.parquet") if isinstance(digests, dict) else None
    if not isinstance(recorded, str):
        return ("its summary.json records no SHA-256 of students.parquet, as a run of an older "
                "srmsim does; run it again")
    if students_sha256 is None:
        try:
            students_sha256 = file_sha256(base / "students.parquet")
        except OSError:
            return "students.parquet cannot be read"
    if students_sha256 != recorded:
        return ("students.parquet is not the table the run wrote: its SHA-256 differs from the "
                "one in summary.json")
    return None


#: Files that mark a folder as an earlier ``srmsim run`` result, which a new run may replace.
RUN_MARKERS = ("summary.json", "scenario.yaml", "students.parquet")
#: every file a run folder may hold (the run's tables and texts, and `srmsim report`'s page)
RUN_FILES = (*RUN_MARKERS, "report.html", *(f"{t}.parquet" for t in (
    "weekly", "history", "events", "decisions", "requests", "requests_weekly", "request_events")))


class RunSummary(dict):
    """The run's headline figures (summary.json) as a dict; calling it, ``result.summary()``,
    gives them as a readable table, with units."""

    #: whether the run had a policy (set by :class:`RunResult`): its staff and cost rows are
    #: shown for any run with a policy, as ``srmsim run`` shows them, even with no intervention
    policy: bool | None = None

    def __call__(self) -> str:
        return format_summary(self)


def format_summary(s: dict[str, Any], policy: bool | None = None) -> str:
    """The summary as a table. ``policy`` (the run had one) shows the interventions, staff
    hours and cost rows; by default a :class:`RunSummary`'s own ``policy``, else (a bare dict,
    such as a summary.json read back) whether any intervention started."""
    if policy is None:
        policy = getattr(s, "policy", None)
    rows = summary_rows(s, s.get("interventions", 0) > 0 if policy is None else policy)
    width = max((len(k) for k, _ in rows), default=0)
    schools, weeks = s.get("schools"), s.get("weeks")
    counted = (int, np.integer)
    head = (f"run of {s.get('scenario', '?')}: "
            f"{plural(schools, 'school') if isinstance(schools, counted) else '? schools'}, "
            f"{plural(weeks, 'week') if isinstance(weeks, counted) else '? weeks'}, "
            f"seed {s.get('seed', '?')}")
    return "\n".join([head] + [f"  {k.ljust(width)}  {v}" for k, v in rows])


def _months(x: float | None) -> str:
    """A mean reading gap in months, ``n/a`` when there is none (a trust with no FSM students
    has no FSM mean): never ``nan``, nor ``-0.0`` (a gap of -0.04 months is no gap behind)."""
    return "n/a" if x is None or not math.isfinite(x) else rounded(x, ".1f")


def summary_rows(s: dict[str, Any], policy: bool) -> list[tuple[str, str]]:
    from srmsim.experiment.outcomes import format_value  # which imports this module

    rows: list[tuple[str, str]] = [] if not s.get("students") else [
        ("students", plural(s['students'], 'student')),
        ("attendance", percent(s['attendance'])),
        ("persistent absence, all (missed 10%+ of sessions)", percent(s["persistent_absence"])),
        ("persistent absence, FSM", percent(s['persistent_absence_fsm'])),
        ("persistent absence, non-FSM", percent(s['persistent_absence_non_fsm'])),
        ("severe absence (missed 50%+ of sessions)", percent(s["severe_absence"])),
        ("mean reading gap (below 0 = behind), start -> end",
         f"{_months(s['reading_gap_start'])} -> {_months(s['reading_gap_end'])} months"),
        ("withdrawals", plural(s['withdrawals'], 'student')),
    ]
    if policy and s.get("students"):
        rows += [("interventions started", plural(s['interventions'], 'intervention')),
                 ("staff hours", format_value(s["staff_hours"], "hours")),
                 ("cost", format_value(s["cost"], "money"))]
    if "pool_model_refits" in s:
        rows.append(pool_model_row(s["pool_model_refits"], s.get("pool_model_scored", 0)))
    for name, r in s.get("requests", {}).items():
        rows += request_rows(name, r)
    return rows


def pool_model_row(refits: int, scored: int) -> tuple[str, str]:
    """The pool's risk model: at how many refits it scored the students (``pooled_risk``)."""
    text = f"{scored:,} of {plural(refits, 'refit')}"
    if refits and not scored:
        text += ": pooled_risk empty all run"
    elif not refits:
        text = "no refit with a period to learn from"
    return ("pooled risk model scored students at", text)


@dataclass
class RunResult:
    """Outputs of one run; ``write(dir)`` saves them as the README describes.

    ``result.summary`` is the dict of headline figures; ``result.summary()`` prints them as a
    table; ``result.plot()`` draws the year (attendance by school, and with a policy the queue
    and staff hours); ``result.report(dir)`` writes the files and an HTML report.
    """

    scenario: Scenario
    seed: int
    students: pd.DataFrame
    weekly: pd.DataFrame
    history: pd.DataFrame
    events: pd.DataFrame | None = None
    summary: dict[str, Any] = field(default_factory=RunSummary)
    #: one row per administrative request, per stream and week (the same figures as the stream
    #: rows of ``weekly``), and per request event (request streams only)
    requests: pd.DataFrame | None = None
    requests_weekly: pd.DataFrame | None = None
    request_events: pd.DataFrame | None = None
    #: the records' school codes, in school-index order, for runs built from records (in memory
    #: only: they may be real URNs)
    school_ids: list[str] | None = None
    #: one row per choice at steps with candidate actions, with the oracle's (simulator truth)
    decisions: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.summary, RunSummary):
            self.summary = RunSummary(self.summary)
        # the rows of the CLI's table (summary_table): by the policy, not by its interventions
        self.summary.policy = self.events is not None

    def __str__(self) -> str:
        return format_summary(self.summary)

    def plot(self, path: str | Path | None = None):
        """The year in one figure: weekly attendance by school (and, with a policy, the
        trust's queue and staff hours). Saved when ``path`` is given."""
        from srmsim.figures import new_figure, save

        policy = self.events is not None
        fig, axes = new_figure(11 if policy else 7, 3.6, ncols=2 if policy else 1,
                               squeeze=False)
        ax = axes[0, 0]
        for school, w in self.weekly.groupby("school"):
            ax.plot(w["run_week"], 100 * w["attendance_rate"], lw=1, label=f"school {school}")
        ax.set_xlabel("week of the run")
        ax.set_ylabel("attendance (% of sessions)")
        ax.set_title("Attendance each week, by school", fontsize=9, loc="left")
        if self.weekly["school"].nunique() <= 12:
            ax.legend(fontsize=6)
        if policy:
            w = self.weekly.groupby("run_week")[["queue_length", "staff_minutes_used"]].sum()
            ax2 = axes[0, 1]
            ax2.plot(w.index, w["queue_length"], label="cases waiting")
            ax2.set_xlabel("week of the run")
            ax2.set_ylabel("cases waiting for an action")
            twin = ax2.twinx()
            twin.plot(w.index, w["staff_minutes_used"] / 60, color="tab:orange",
                      label="staff hours used")
            twin.set_ylabel("staff hours per week")
            ax2.set_title("Queue (blue) and staff hours used (orange), trust", fontsize=9,
                          loc="left")
        fig.suptitle(f"{self.scenario.name}, seed {self.seed}", fontsize=10)
        fig.tight_layout()
        save(fig, path)
        return fig

    def report(self, out: str | Path) -> Path:
        """Write the run's files to ``out`` and its HTML report; returns the report's path."""
        from srmsim.report import write_report

        self.write(out)
        return write_report(out)

    @staticmethod
    def students_of(model: TrustModel, final: bool = False) -> pd.DataFrame:
        """The run's students table (``final``: the model will not run on, so the frame may
        share its columns), with a policy the pseudonym events.parquet names each student by,
        to join the two tables."""
        students = student_frame(model.all_students(), share=final)
        if model.policy is not None:
            students.insert(1, "student",
                            model.policy.pseudonym_column(students["uid"].to_numpy()))
        return students

    @classmethod
    def from_model(cls, model: TrustModel, final: bool = False,
                   students: pd.DataFrame | None = None) -> RunResult:
        """``final``: the model will not run on (its table may be shared, not copied).
        ``students``: :meth:`students_of` the model, if already made."""
        if students is None:
            students = cls.students_of(model, final)
        events = model.policy.events() if model.policy is not None else None
        student_weeks = int(students["sessions_possible"].sum() // SESSIONS_PER_WEEK)
        scenario = model.config
        if model.seed != scenario.seed:  # (a model given its own seed, from Python)
            # the scenario.yaml written reproduces this run, as srmsim.model.run saves it: it
            # carries the seed used, and summary.json's seed and digest are of that scenario
            scenario = scenario.with_overrides({"seed": model.seed}, "the seed given")
        summary = RunSummary({
            "scenario": scenario.name,
            "scenario_hash": scenario.digest(),
            "seed": model.seed,
            "srmsim_version": __version__,
            "schools": len(model.schools),
            "years": scenario.years,
            "weeks": model.week_index,
            # the records' own school codes stay in memory (school_ids), never in summary.json
            **({"from_records": True} if model.records is not None else {}),
            **(headline(students) if len(students) else {"students": 0}),
            # what one week of the dearest action costs: staff hours over it give action-weeks
            # (srmsim.experiment.outcomes.action_weeks), withheld on records where under 10
            **({"dearest_week": dict(model.policy.dearest_week),
                "week_prices": {k: dict(v) for k, v in model.policy.week_prices.items()}}
               if model.policy is not None else {}),
            "runtime_seconds": round(model._runtime, 3),
            "student_weeks_per_second": round(student_weeks / max(model._runtime, 1e-9)),
        })
        weekly = model.weekly()
        requests = requests_weekly = request_events = None
        if model.requests is not None:
            from srmsim.admin.measures import stream_summary
            from srmsim.admin.weekly import stream_weekly, with_stream_rows

            desks = model.requests.streams
            requests, request_events = model.requests.requests(), model.requests.events()
            requests_weekly = stream_weekly(model.requests.weekly(), requests,
                                            {name: d.config for name, d in desks.items()})
            weekly = with_stream_rows(weekly, requests_weekly)
            summary["requests"] = {
                name: stream_summary(name, desk.config, requests, requests_weekly,
                                     desk.time_average_in_system)
                | ({"arrivals_after_run": desk.after_run} if desk.after_run else {})
                for name, desk in desks.items()}
        ids = list(model.records.school_ids) if model.records is not None else None
        decisions = None
        if model.policy is not None and model.policy.choosers is not None:
            decisions = model.policy.choosers.decisions()
            summary.update(model.policy.delivered.summary())
        if model.policy is not None and model.policy.pool_model is not None:
            summary.update(model.policy.pool_model.summary())
        return cls(scenario, model.seed, students, weekly, model.history(),
                   events, summary, requests, requests_weekly, request_events, school_ids=ids,
                   decisions=decisions)

    def write(self, out: str | Path) -> Path:
        """Write the run's files; an earlier run's folder is replaced whole (no stale files).

        Simulated output gets the user's umask. A run whose trust was built from real records
        (``from_records``) is owner-only (folder 0700, files 0600): each simulated pupil copies
        a real record's sex, FSM, SEN, EAL and prior attainment, so the students table holds
        copies of those records. An existing ``out`` that is neither empty nor an earlier run's
        folder is refused rather than replaced.
        """
        out = Path(out)
        with run_folder(out, bool(self.summary.get("from_records"))) as tmp:
            self.write_files(tmp)
        return out

    def write_files(self, folder: Path, students: StudentsFile | None = None) -> None:
        """The run's files into ``folder`` (a new, empty one: see :func:`run_folder`).

        ``students.parquet`` (most of the time: 3 s of encoding at 8M students, on one core)
        is written on a thread while this one writes the others; ``students`` is that
        thread's write if the run already started it (:meth:`StudentsFile.start`)."""
        private = bool(self.summary.get("from_records"))
        if students is None:
            students = StudentsFile.start(self.students, folder, private)
        try:
            tables = {"weekly": self.weekly,
                      "history": self.history if len(self.history) else None,
                      "events": self.events, "decisions": self.decisions,
                      "requests": self.requests, "requests_weekly": self.requests_weekly,
                      "request_events": self.request_events}
            for name, table in tables.items():
                if table is not None:
                    write_parquet(table, folder / f"{name}.parquet", private=private,
                                  statistics=EVENT_ORDER if name == "events" else None)
            write_text(self.scenario.to_yaml(), folder / "scenario.yaml", private=private)
        except BaseException:
            students.wait()  # not left writing into a folder about to be removed
            raise
        digest = students.result()
        # the digest of the students table as written: `srmsim thresholds` publishes a run
        # folder unprotected only if the table it reads is this one (real data copied into
        # a simulated run's folder stays protected)
        summary = {**self.summary, "file_sha256": {"students.parquet": digest}}
        write_text(json_dumps(summary, indent=2) + "\n", folder / "summary.json",
                   private=private)

    def _regret_unit(self) -> str:
        """The unit regret is in when every chooser targets one growth effect (months for
        reading, SD for attainment), else ``""``: a level effect's gain (absence, engagement)
        has no unit a reader would know."""
        from srmsim.policy.config import REGRET_UNITS, chooser_target

        return REGRET_UNITS.get(chooser_target([self.scenario.policy]) or "", ("", ""))[0]

    def summary_table(self) -> pd.DataFrame:
        rows = summary_rows(self.summary, self.events is not None)
        if self.decisions is not None and len(self.decisions):
            from srmsim.policy.chooser import oracle_matched

            d = self.decisions
            unit = self._regret_unit()
            # no candidate changed the target (target: wellbeing among reading actions): regret
            # 0.00 and 100% read as perfect choosing, whatever was chosen
            blind = bool((d["oracle_gain"] == 0).all() and (d["gain"] == 0).all())
            unmeasured = "not measured: no candidate changes the chooser's target"
            rows += [("choices of action (referrals)", f"{len(d):,}"),
                     ("regret vs the oracle, per referral"
                      + ("" if unit else " (target units)"),
                      unmeasured if blind else
                      f"{d['regret'].mean():.2f}" + (f" {unit}" if unit else "")),
                     ("referrals given the oracle's action",
                      unmeasured if blind else f"{oracle_matched(d).mean():.1%}")]
        return pd.DataFrame(rows, columns=["measure", "value"])
