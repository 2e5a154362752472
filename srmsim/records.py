"""A trust built from real (imported, ideally anonymised) records: resampling within schools.

Why resample rather than copy: a simulation needs students it can move through years and new
intakes each September; drawing with replacement from each school's own records keeps each
school's mix (FSM, SEN, EAL, sex, prior attainment) while the dynamics stay the simulator's, to be
calibrated to the same data with ``srmsim calibrate``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from srmsim.errors import DataError
from srmsim.population import (
    SchoolProfiles,
    _logit,
    attainment_sd,
    attainment_structure,
    sen_chance,
)
from srmsim.rng import CRN
from srmsim.scenario import PopulationConfig, Scenario

#: the scenario key every error about a trust's records begins with
RECORDS_KEY = "population.records"


def records_error(err: DataError) -> DataError:
    """``err`` as an error about ``population.records``: its message begun with the key, once.
    Why: the records file's own errors (a missing school column, a bad value, names as ids,
    too big to read) named only the file, where the scenario's other errors name their key."""
    text = str(err)
    return err if text.startswith(f"{RECORDS_KEY}:") else DataError(f"{RECORDS_KEY}: {text}")


def records_folder(path: str | Path) -> Path:
    """What a study must not write into: the dataset folder of ``population.records`` (the
    folder given, or the folder of a dataset's file), else the records file itself."""
    path = Path(path)
    if not path.is_dir():
        from srmsim.data.dataset import META_FILE

        if (path.parent / META_FILE).exists():
            return path.parent
    return path


def not_records_problem(path: str | Path) -> str | None:
    """Why ``population.records`` names a folder that holds no records (None if it is not
    such a folder): ``.`` (the scenario file's folder, or the current one for ``--set``) was
    called "the dataset folder" of a folder that is none, and its missing students.parquet
    was named instead of the folder given."""
    from srmsim.data.dataset import META_FILE

    path = Path(path)
    if not path.is_dir() or (path / "students.parquet").exists():
        return None
    what = ("a dataset folder without its students.parquet (damaged: import the records "
            "again)" if (path / META_FILE).exists() else
            "a folder that is not a dataset (no students.parquet in it)")
    # (the hint on a line of its own: after a variant's name and a long path, one line was cut)
    return (f"{path}: {what}\n  give a "
            "dataset folder made by `srmsim data import`, or a students Parquet/CSV file (a "
            "relative path such as `.` is read from the scenario file's folder; in --set, from "
            "the current folder)")


def check_out_of_records(out: str | Path, scenarios: Iterable[Scenario],
                         what: str = "--out") -> None:
    """Refuse an output folder that is, is inside, or holds the records a scenario's trust is
    built from (:func:`srmsim.outputs.check_out_of_data`,
    :func:`srmsim.outputs.check_inputs_outside`): a run or study would be written among the raw
    records, or replace them. Called before any work; ``what`` names ``out`` in messages."""
    from srmsim.outputs import check_inputs_outside, check_out_of_data

    for scenario in scenarios:
        if scenario.population.records:
            records = Path(scenario.population.records)
            if not records.exists():  # named by its key, as every other records error is
                from srmsim.inputs import hint_clause

                raise records_error(DataError(f"{records}: no such file or folder"
                                              f"{hint_clause(records)}"))
            problem = not_records_problem(records)
            if problem:  # before it is called a dataset folder below
                raise records_error(DataError(problem))
            folder = records_folder(scenario.population.records)
            check_out_of_data(out, folder, what)
            check_inputs_outside(out, [folder], what)


def check_results_out_of_records(out: str | Path, results: str | Path,
                                 what: str = "--out") -> None:
    """:func:`check_out_of_records` for an analysis of a study's results folder (discover,
    sensitivity): the scenarios its variants ran, saved in ``scenarios/*.yaml``, say which
    records the study was built from. Called before any work."""
    from srmsim.scenario import load_scenario

    scenarios = [load_scenario(p) for p in sorted(Path(results).glob("scenarios/*.yaml"))]
    check_out_of_records(out, scenarios, what)


def read_student_records(path: str | Path) -> pd.DataFrame:
    """The students table of an imported dataset directory, or a Parquet/CSV file of it."""
    path = Path(path)
    if not path.exists():  # a mistyped folder or file: the one meant, if one is near
        from srmsim.inputs import hint_clause

        raise DataError(f"{path}: no such file or folder{hint_clause(path)}")
    problem = not_records_problem(path)
    if problem:
        raise DataError(problem)
    imported = path.is_dir()  # a dataset folder: written by `srmsim data import`
    if imported:
        path = path / "students.parquet"
    from srmsim.data.dataset import check_values
    from srmsim.data.schema import STUDENTS
    from srmsim.inputs import input_file_problem

    problem = input_file_problem(path)  # a device or a pipe would be read for ever
    if problem:
        raise DataError(f"{path}: {problem}")
    file_rows = None  # a CSV's rows as a spreadsheet numbers them, for messages
    if path.suffix.lower() == ".csv":
        df, file_rows = _read_csv_records(path)
    else:
        problem = _not_parquet_problem(path)
        if problem:
            raise DataError(f"{path}: {problem}")
        problem = _columns_problem(path)
        if problem:
            raise DataError(f"{path}: {problem}")
        try:
            from srmsim.data.readers import parquet_frame

            # decoded under a memory check: a small file (one long text repeated, or a footer
            # that understates its sizes) exhausted memory
            df = parquet_frame(path, path, path.stat().st_size)
        except DataError:
            raise
        except Exception as err:  # noqa: BLE001 - any reader failure is a user-facing data error
            from srmsim.inputs import parquet_damage

            raise DataError(f"{path}: student records, {parquet_damage(path, err)}; export or "
                            "copy them again") from None
        df = _schema_names(path, df)
        if not imported:  # a user's file: rows numbered as if exported with a header, as
            # import and thresholds number a Parquet file's (its first row was "row 1")
            file_rows = np.arange(2, len(df) + 2)
    if "school" not in df.columns:
        raise DataError(f"{path}: student records need a 'school' column")
    if df.empty:
        raise DataError(f"{path}: no student records")
    # an infinite prior attainment would make every standardised score NaN, a missing school
    # a school called 'nan', a typo in a flag 'false': refused by name instead
    check_values(df, STUDENTS, path, keys=False, file_rows=file_rows,
                 hint="correct the records file")
    from srmsim.data.dataset import names_as_ids_problem
    from srmsim.data.mapping import student_id_column

    # the id column ('student_id', or an export's own: 'Student ID', 'Pupil ID'; 'UPN' is the
    # upn field, below), found by its name as thresholds finds it
    own = student_id_column(df.columns)
    if own is not None and own != "upn":
        # pupils' names: not pseudonymised ids (two pupils of one name would be one), refused
        # by column and row as thresholds refuses them, never quoting the value
        problem = names_as_ids_problem(df[own], own, file_rows, imported=imported)
        if problem:
            raise DataError(f"{path}: {problem}")
    if "student_id" not in df.columns:  # with ids, a repeat is refused by check_values
        from srmsim.data.dataset import repeated_block_problem, repeated_id_problem

        # a pupil listed twice under an export's own id column was counted twice, silently
        if own is not None and own != "upn":
            problem = repeated_id_problem(df[own], own, file_rows)
            if problem:
                raise DataError(f"{path}: {problem} (remove the copy)")
        # a file appended to itself doubled every school's size and pupil, silently
        problem = None if own not in (None, "upn") else repeated_block_problem(df, file_rows)
        if problem:
            raise DataError(f"{path}: {problem}")
        if "upn" in df.columns:  # a pupil's own number: keyed by it, a repeat is one pupil twice
            from srmsim.data.validate import UPN_SHAPE

            upn = df["upn"].astype("string").str.strip().str.upper()
            upn = upn.where(upn.str.fullmatch(UPN_SHAPE).fillna(False).astype(bool))
            again = upn.notna().to_numpy() & upn.duplicated(keep="first").to_numpy()
            if again.any():
                rows = np.arange(2, len(df) + 2) if file_rows is None else np.asarray(file_rows)
                at = int(np.flatnonzero(again)[0])
                first = int(np.flatnonzero((upn == upn.iloc[at]).fillna(False).to_numpy())[0])
                raise DataError(f"{path}: upn repeats: row {int(rows[at]):,} has the upn of row "
                                f"{int(rows[first]):,}; each row must be one pupil, counted "
                                "once (remove the copy)")
    return df


def _not_parquet_problem(path: Path) -> str | None:
    """What to say of a records file that is neither named .csv nor a Parquet file, or
    ``None``: an Excel workbook (or a CSV saved as .txt) was "cannot be read as Parquet
    student records (ArrowInvalid: Parquet magic bytes not found in footer ...)"."""
    from srmsim.inputs import misnamed_table

    with open(path, "rb") as fh:
        head = fh.read(4)
    if head.startswith(b"PAR1"):
        return None
    if path.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
        return ("an Excel workbook: records are read from a .csv or .parquet file or a dataset "
                "folder; save the sheet as CSV UTF-8, or import it with `srmsim data import`")
    return misnamed_table(path, head) or (
        "not a Parquet file, and not named .csv: give a students .csv or .parquet file, or a "
        "dataset folder made by `srmsim data import`")


def _columns_problem(path: Path) -> str | None:
    """What keeps a Parquet file's columns from being one plain table (as import refuses
    them), or ``None``: two columns of one name, or a column of lists or bytes (read as the
    text "['A']" or "b'A'", a school of that name). A file that cannot be read is left to the
    reader's error."""
    from srmsim.data.readers import arrow_schema_problem

    try:
        import pyarrow.parquet as pq

        return arrow_schema_problem(pq.read_schema(path))
    except Exception:  # noqa: BLE001 - the reader says why the file cannot be read
        return None


def _read_csv_records(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """A students CSV read as ``data import`` reads an export (:func:`srmsim.data.readers.
    read_raw`: a byte-order mark, CR-LF, ``;`` separators, spaces around cells, NA words), its
    column names matched to the schema's as import matches them (trimmed, in any case). Read
    with ``pd.read_csv``, a column ' FSM' was silently not the fsm column (every pupil's FSM
    unknown), and rows one cell wider than the header (trailing commas) shifted every value
    one column left. Numbers are parsed as pandas parsed them. Returns the table and each of
    its rows' number in the file (the header is row 1)."""
    from srmsim.data.mapping import DEFAULT_MISSING
    from srmsim.data.readers import read_raw
    from srmsim.data.schema import STUDENTS

    raw = read_raw(path, missing_values=DEFAULT_MISSING)
    if raw.problems:  # a row of another width, bytes not in UTF-8, a NUL
        first = raw.problems[0]
        where = f"row {first['row']}: " if first["row"] is not None else ""
        hint = f"; {raw.encoding_hint}" if raw.encoding_hint else ""
        raise DataError(f"{path}: {where}{first['message']} (a records file must be one plain "
                        f"table of UTF-8 text){hint}")
    keep = []
    for i, name in enumerate(raw.header):
        if name:
            keep.append(i)
        elif raw.frame[i].notna().any():  # Excel's trailing empty columns are nothing
            raise DataError(f"{path}: column {i + 1} has values but no name; name it or "
                            "delete it")
    df = _schema_names(path, raw.frame[keep].set_axis([raw.header[i] for i in keep], axis=1))
    for f in STUDENTS.fields:  # numbers as numbers (check_values says which cell is none)
        if f.type in ("int", "float") and f.name in df.columns:
            numbers = pd.to_numeric(df[f.name], errors="coerce")
            if not (numbers.isna() & df[f.name].notna()).any():
                df[f.name] = numbers
    return df, raw.rows


def _schema_names(path: Path, df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its columns named as the schema's fields where they match as import matches
    them (trimmed, in any case: ' FSM' is fsm); two columns that are one so are refused."""
    from srmsim.data.mapping import normalise_column
    from srmsim.data.schema import STUDENTS

    fields = {normalise_column(f.name): f.name for f in STUDENTS.fields}
    seen: dict[str, str] = {}  # the column's name as compared -> as written
    for name in map(str, df.columns):
        key = normalise_column(name)
        if key in seen:
            raise DataError(f"{path}: column name {name[:60]!r} appears more than once"
                            if seen[key] == name else
                            f"{path}: column names {seen[key][:60]!r} and {name[:60]!r} are one "
                            "column once case and spaces are ignored; delete one")
        seen[key] = name
    return df.set_axis([fields.get(normalise_column(str(c)), c) for c in df.columns], axis=1)


def standardise_prior(prior: np.ndarray) -> np.ndarray:
    """Recorded prior attainment as z-scores within the trust; all unknown (NaN) when it cannot
    be standardised: fewer than two distinct recorded values have no spread. Why: one recorded
    score was kept on its own scale (a pupil at 81.3 started 81 SD above the mean), and equal
    scores divided by a zero spread (a warning, then every score NaN)."""
    prior = np.asarray(prior, dtype=float)
    known = prior[np.isfinite(prior)]
    if len(np.unique(known)) < 2:
        return np.full(prior.shape, np.nan)
    return (prior - known.mean()) / known.std()


def _flag(values: pd.Series | None, n: int) -> np.ndarray:
    """1/0 for true/false, -1 where the record does not say."""
    if values is None:
        return np.full(n, -1, dtype=np.int8)
    missing = values.isna().to_numpy()
    text = values.astype("object").where(~missing, "").astype(str).str.strip().str.lower()
    truthy = text.isin(["true", "1", "1.0", "yes", "y", "t"]).to_numpy()
    return np.where(missing, -1, truthy.astype(np.int8)).astype(np.int8)


def _known_share(flags: np.ndarray, default: float) -> float:
    """The share of 1s among the records that say (``flags`` 1/0, -1 unknown); ``default``
    when none says. The school's rate that a pupil with an unknown flag is drawn from: counting
    the unknowns as 0s lowered it (half a school's FSM unknown halved its FSM rate)."""
    known = flags[flags >= 0]
    return float(np.mean(known == 1)) if len(known) else default


_CACHE: dict[tuple[str, int], RecordPopulation] = {}


class RecordPopulation:
    """Schools and student traits drawn from a table of student records."""

    def __init__(self, records: pd.DataFrame, source: str = "records"):
        self.source = source
        df = records.copy()
        df["school"] = df["school"].astype(str)
        self.school_ids = sorted(df["school"].unique())
        index = {s: i for i, s in enumerate(self.school_ids)}
        df["_school"] = df["school"].map(index).astype(np.int32)
        self.df = df.reset_index(drop=True)
        n = len(df)
        sex = df["sex"].astype("object") if "sex" in df else None
        self.sex = (np.full(n, -1, dtype=np.int8) if sex is None else
                    np.select([sex == "M", sex == "F"], [1, 0], -1).astype(np.int8))
        self.fsm = _flag(df.get("fsm"), n)
        self.sen = _flag(df.get("sen"), n)
        self.eal = _flag(df.get("eal"), n)
        prior = (pd.to_numeric(df["prior_attainment"], errors="coerce").to_numpy(float)
                 if "prior_attainment" in df else np.full(n, np.nan))
        self.prior_z = standardise_prior(prior)
        # each school's rows in file order, from one stable sort (a mask of every row for each
        # school took schools x rows: minutes for a country's records)
        code = df["_school"].to_numpy()
        self._rows = np.argsort(code, kind="stable")
        self._row_count = np.bincount(code, minlength=len(self.school_ids))
        self._first_row = np.cumsum(self._row_count) - self._row_count
        self.rows_by_school = np.split(self._rows, self._first_row[1:])

    @classmethod
    def from_path(cls, path: str | Path) -> RecordPopulation:
        """Cached by path and modification time: calibration builds many models from one file."""
        path = Path(path)
        target = path / "students.parquet" if path.is_dir() else path
        key = (str(target.resolve()), target.stat().st_mtime_ns if target.exists() else 0)
        cached = _CACHE.get(key)
        if cached is None:
            try:
                records = read_student_records(path)
            except DataError as err:  # said as every scenario error is: by its key
                raise records_error(err) from None
            cached = cls(records, str(path))
            _CACHE.clear()  # keep one: a worker calibrates one data set at a time
            _CACHE[key] = cached
        return cached

    def schools(self, scenario: Scenario, crn: CRN) -> SchoolProfiles:
        """School sizes and compositions from the records; unobserved effects drawn."""
        from srmsim.population import generate_schools

        j = len(self.school_ids)
        pop = scenario.population
        scen = scenario.with_overrides({"trust": {"n_schools": j}})
        drawn = generate_schools(scen, crn)
        if "year_group" in self.df:
            years = self.df.groupby("_school")["year_group"].nunique().reindex(range(j))
            years = years.fillna(1).to_numpy()
        else:  # year group generalised away by anonymisation: spread over the scenario's years
            years = np.full(j, len(scenario.trust.year_groups))
        per_year = np.maximum(1, np.round(np.bincount(self.df["_school"], minlength=j) / years))
        fsm_share = np.array([_known_share(self.fsm[r], pop.fsm_rate)
                              for r in self.rows_by_school])
        eal_share = np.array([_known_share(self.eal[r], pop.eal_rate)
                              for r in self.rows_by_school])
        return SchoolProfiles(
            cohort_size=per_year.astype(np.int64),
            fsm_logit=np.array([_logit(p) for p in fsm_share]),
            eal_logit=np.array([_logit(p) for p in eal_share]),
            attainment_effect=self._attainment_effects(scenario, fsm_share, eal_share,
                                                       drawn.attainment_effect),
            engagement_effect=drawn.engagement_effect,
            absence_effect=drawn.absence_effect,
        )

    def _attainment_effects(self, scenario: Scenario, fsm_share: np.ndarray,
                            eal_share: np.ndarray, drawn: np.ndarray) -> np.ndarray:
        """Each school's attainment effect as its records show it: the mean of its pupils'
        recorded prior attainment less what their FSM, SEN and EAL explain, shrunk as a random
        effect (``icc / (icc + (1 - icc) / n)``); the drawn effect where none is recorded.

        Why: a pupil's recorded prior attainment is their attainment, and their own component
        is what is left after their school's effect. With a freshly drawn effect, the
        difference between the drawn and the real school effect went into every pupil's own
        component, and through its correlation with engagement into absence: a trust rebuilt
        from records had more between-school attendance variation than the one recorded
        (attendance ICC 0.03 too high at the true parameters), and calibration bent the
        absence parameters to make up for it."""
        pop = scenario.population
        icc = pop.attainment_icc
        has = np.isfinite(self.prior_z)
        if icc <= 0 or not has.any():
            return drawn
        code = self.df["_school"].to_numpy()
        # an unknown flag counts at the chance the simulation draws it with: FSM and EAL at
        # the school's share, SEN at its chance given FSM (the pupil's, or the school's share)
        fsm = np.where(self.fsm >= 0, self.fsm, fsm_share[code])
        eal = np.where(self.eal >= 0, self.eal, eal_share[code])
        with_fsm, without = (sen_chance(pop.sen_rate, pop.fsm_rate, np.array([f]))[0]
                             for f in (True, False))
        sen = np.where(self.sen >= 0, self.sen, fsm * with_fsm + (1 - fsm) * without)
        explained = attainment_structure(pop, 0.0, fsm, sen, eal)
        j = len(self.school_ids)
        n = np.bincount(code[has], minlength=j).astype(float)
        own = self.prior_attainment(pop) - explained
        total = np.bincount(code[has], weights=own[has], minlength=j)
        mean = np.divide(total, n, out=np.zeros(j), where=n > 0)
        shrink = icc / (icc + (1 - icc) / np.maximum(n, 1))
        return np.where(n > 0, shrink * mean, drawn)

    def prior_attainment(self, pop: PopulationConfig) -> np.ndarray:
        """Recorded prior attainment on the simulator's attainment scale (NaN unknown): the
        within-trust z-score times the SD a synthetic trust's attainment has
        (:func:`~srmsim.population.attainment_sd`). At SD 1 a trust rebuilt from records had
        too little attainment spread: its reading-gap SD came out 0.47 +- 0.08 months below
        the data's at the true parameters, and calibration raised ``reading_gap_sd`` about 0.7
        months to make up for it."""
        return self.prior_z * attainment_sd(pop, len(self.school_ids))

    def traits(self, crn: CRN, uid: np.ndarray, school: np.ndarray, pop: PopulationConfig
               ) -> dict[str, np.ndarray]:
        """Each new student copies the traits of a record drawn (by uid) from their school;
        the prior attainment on the scale of ``pop``'s (:meth:`prior_attainment`)."""
        u = crn.uniform("records.resample", 0, uid)
        school = np.asarray(school, dtype=np.intp)
        count = self._row_count[school]
        within = np.minimum((u * count).astype(np.int64), count - 1)  # (u < 1: count - 1 at most)
        pick = self._rows[self._first_row[school] + within]
        return {"sex": self.sex[pick], "fsm": self.fsm[pick], "sen": self.sen[pick],
                "eal": self.eal[pick], "prior_attainment": self.prior_attainment(pop)[pick]}
