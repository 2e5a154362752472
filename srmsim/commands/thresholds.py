"""``srmsim thresholds PATH --score COL --outcome COL``: threshold table, curves and fairness plots.

PATH is a CSV or Parquet file, or a run directory holding ``students.parquet``. Writes
``thresholds.csv`` (and with ``--by`` ``thresholds_by_group.csv`` and ``fairness_gaps.csv``),
``roc.png``, ``pr.png`` and with ``--by`` ``fairness.png`` into ``--out`` (default: a
``thresholds/`` folder next to the input), and prints the rows an analyst looks at first: the
missing-row counts, AUC with its cluster-bootstrap interval, the best-F1 threshold, the threshold
at capacity, the cost-minimising threshold, and the largest group gaps.

Real data (anything but a simulated run folder; a run built from real records counts as real)
is protected: only thresholds of a protected grid are published, and the figures are drawn from
the published rows only, with no bootstrap band; the AUC / AP interval is withheld when a
replicate draws fewer than --suppress-below pupils with, or without, the outcome (with few
schools an end is one school's own figure; see docs/privacy.md). A run folder counts as
simulated only if its ``students.parquet`` is the one the run wrote (its SHA-256 is in the run's
``summary.json``). On real data an error message names rows but never shows a cell's value or a
count below the suppression threshold, and 1 to 9 rows left out for a missing score or outcome
(overall, with or without the outcome, or in a --by group shown) are refused: the tables' n is
the rows used, and other commands print the rows of the same records (``srmsim data summary``),
so the difference would give the count away.

Every flag and the data's columns are checked before anything is computed, printed or written;
a failed command leaves no folder behind.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from srmsim.argtypes import (
    finite_float,
    non_negative_float,
    out_argument,
    path_argument,
    seed_argument,
    whole_argument,
)
from srmsim.errors import DataError, SrmsimError
from srmsim.labels import agree, column_names, cut, percent, plural, points, printable, yes_no
from srmsim.results import check_student_rows, simulation_problem

if TYPE_CHECKING:  # numpy and pandas load when the command runs, so `srmsim --help` stays quick
    import numpy as np
    import pandas as pd

    from srmsim.risk.protected import GridChoice


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "thresholds",
        help="threshold table, ROC/PR curves and fairness plots for a score and an outcome",
        description="Tabulate flags, precision (the share of flagged students who reach the "
        "outcome), recall (the share of those who reach it that are flagged) and group gaps for "
        "every threshold of a score, with ROC/PR curves (recall against false alarms, and "
        "precision against recall, over all thresholds) bootstrapped over schools (resampled, "
        "to show their uncertainty). PATH is a CSV or Parquet file, or a run directory "
        "containing students.parquet.",
    )
    p.add_argument("path", type=path_argument,
                   help="CSV / Parquet file or run directory with students.parquet")
    p.add_argument("--score", required=True, help="score column, e.g. attendance_rate")
    p.add_argument("--outcome", required=True, help="boolean or 0/1 outcome column")
    p.add_argument("--direction", choices=["below", "above"], default="below",
                   help="flag score < t (below, default) or score > t (above)")
    p.add_argument("--by", nargs="+", action="extend", default=[], metavar="COL",
                   help="group columns for fairness, e.g. --by fsm sen sex")
    p.add_argument("--thresholds", nargs="+", type=finite_float, default=None, metavar="T",
                   help="thresholds to tabulate (default: distinct values or percentiles)")
    p.add_argument("--cluster", default="school",
                   help="column whose clusters the bootstrap resamples (default school; "
                   "'none' resamples rows)")
    p.add_argument("--n-boot", type=whole_argument, default=200,
                   help="bootstrap replicates, 40 to 100,000 (default 200)")
    p.add_argument("--seed", type=seed_argument, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--capacity", type=whole_argument, default=None, metavar="N",
                   help="cases staff can take in total (0 to 2**53)")
    p.add_argument("--staff-minutes", type=non_negative_float, default=None, metavar="M",
                   help=f"staff minutes available (with --minutes-per-case; at most "
                        f"{MAX_MINUTES:,}, a year)")
    p.add_argument("--minutes-per-case", type=non_negative_float, default=None, metavar="C",
                   help=f"staff minutes one case needs (more than 0, at most {MAX_MINUTES:,})")
    p.add_argument("--cost-per-case", type=non_negative_float, default=None,
                   help=f"cost of one case in £ (at most {_money(MAX_COST)}); the capacity "
                        "line shows the cost only when it is given")
    p.add_argument("--cost-missed", type=non_negative_float, default=None,
                   help=f"cost in £ of missing a student who reaches the outcome "
                        f"(at most {_money(MAX_COST)})")
    p.add_argument("--cost-needless", type=non_negative_float, default=None,
                   help=f"cost in £ of a needless intervention (at most {_money(MAX_COST)})")
    p.add_argument("--out", type=out_argument,
                   default=None, help="output directory (default: <input>/thresholds)")
    p.add_argument("--suppress-below", type=whole_argument, default=10, metavar="N",
                   help="real (non-simulated) data: publish only thresholds whose every band "
                        "of scores holds at least N students with and N without the outcome "
                        "(overall and in every --by group), and show other counts below N as "
                        "'c' (default and least 10; see docs/privacy.md)")
    p.set_defaults(func=run)


#: largest cost per case, of --cost-per-case, --cost-missed and --cost-needless: a trillion (in
#: any currency) is beyond any school's case; larger ones overflowed to an 'inf' cost
MAX_COST = 1e12
#: largest --staff-minutes and --minutes-per-case: the minutes of a (leap) year
MAX_MINUTES = 366 * 24 * 60
#: largest --capacity, and largest number of cases the minutes may give: 2**53 (whole numbers
#: beyond it are not exact as floating-point numbers)
MAX_CAPACITY = 2**53

#: why a file (not a folder) is real data: said by no message, as any file is
NOT_A_RUN = "not a simulated run's folder"

#: every file a report may hold: a folder of these (and nothing else) is replaced whole
OUTPUT_FILES = ("thresholds.csv", "roc.png", "pr.png", "thresholds_by_group.csv",
                "fairness_gaps.csv", "fairness.png")
COUNT_COLUMNS = ("n", "n_pos", "flagged", "tp", "fp", "fn", "tn", "n_missing")
COUNTS_SHOWN = ("n", "n_pos", "flagged", "tp", "fp", "fn", "tn")
#: what labels a row of a threshold table: a cut-off of the score on the protected grid and
#: the group (not counts)
LABEL_COLUMNS = ("threshold", "by", "group")
RATE_BASES = {"flag_rate": ["flagged"], "sensitivity": ["tp", "fn"], "specificity": ["tn", "fp"],
              "precision": ["tp", "fp"], "npv": ["tn", "fn"], "f1": ["tp", "fp", "fn"]}


class _Disclosure:
    """Small-count protection for tables from real data; a no-op for simulation output."""

    def __init__(self, real: bool, threshold: int):
        self.real = real
        self.threshold = threshold

    def table(self, df: pd.DataFrame) -> pd.DataFrame:
        if not self.real:
            return df
        from srmsim.privacy import suppress_small_counts

        counts = [c for c in COUNT_COLUMNS if c in df.columns]
        rates = {r: b for r, b in RATE_BASES.items() if r in df.columns}
        # a group's rate minus the reference's, and the spread of the groups' rates at its
        # threshold: rates too (each group's counts are at least the threshold on the grid)
        for suffix in ("_diff", "_gap"):
            rates.update({f"{r}{suffix}": b for r, b in RATE_BASES.items()
                          if f"{r}{suffix}" in df.columns})
        labels = [c for c in LABEL_COLUMNS if c in df.columns]
        return suppress_small_counts(df, count_columns=counts, rate_columns=rates,
                                     label_columns=labels, threshold=self.threshold,
                                     total_row=None, total_column=None, decimals=4)

    def missing_line(self, rows: int, a: dict, parts: dict[str, int]) -> str:
        """Rows used and missing; on real data small counts hidden, and enough others with
        them that no count under the threshold follows from the line (with what other outputs
        print). ``rows`` and ``used`` stay shown: ``used`` is every table's n, and the rows
        of the records (and, for a FSM/SEN/EAL outcome, those with it) are printed by other
        commands, such as ``srmsim data summary``. So the parts of the rows left out are
        audited as counts: missing the score only, with the outcome (known: the outcome's
        total minus ``n_pos``) or without it; missing the outcome only; missing both. None is
        ever printed, and :func:`srmsim.risk.thresholds.left_out_problem` has refused 1 to 9
        rows left out, with or without the outcome, before this is reached."""
        cells = [rows, a["n_used"], a["n_missing_score"], a["n_missing_outcome"],
                 a["n_missing_both"], parts["score_only_pos"], parts["score_only_neg"],
                 parts["outcome_only"]]
        shown = [f"{int(v):,}" for v in cells[:4]]
        if self.real:
            import numpy as np

            from srmsim.privacy import protect_cells

            values = np.array(cells, dtype=float)
            small = (values < self.threshold) & (values > 0)
            unprinted = np.array([0, 0, 0, 0, 1, 0, 1, 1], dtype=bool)
            primary = (small & np.array([0, 0, 1, 1, 0, 0, 0, 0], dtype=bool)) | unprinted
            # rows = used + left out; missing score = its parts + both; missing outcome = its
            # part + both
            identity = [{0: 1, 1: -1, 4: -1, 5: -1, 6: -1, 7: -1},
                        {2: 1, 4: -1, 5: -1, 6: -1}, {3: 1, 4: -1, 7: -1}]
            # known elsewhere, so never hidden: rows, used, score-only with the outcome;
            # a part that is not printed and not small is an unknown, not a cell to protect
            hidden = primary | protect_cells(values, primary, identity, [],
                                             threshold=self.threshold,
                                             free=unprinted & ~small,
                                             keep=np.array([1, 1, 0, 0, 0, 1, 0, 0], dtype=bool))
            shown = ["c" if h else t for h, t in zip(hidden[:4], shown, strict=True)]
        return (f"rows: {shown[0]}; used {shown[1]}; missing score {shown[2]}; missing outcome "
                f"{shown[3]} (missing rows are left out of every count)")

    def count(self, n: float) -> str:
        return "c" if self.real and 0 < n < self.threshold else f"{int(n):,}"

    def rate(self, x: float, *bases: float, pct: bool = False) -> str:
        if self.real and any(0 < b < self.threshold for b in bases):
            return "low"
        return _fmt(x, pct)


def load_frame(path: str | Path) -> tuple[pd.DataFrame, Path]:
    """Read a CSV / Parquet file or a run directory's students.parquet; return it and its folder.

    A CSV file is read by ``srmsim data import``'s reader (:func:`_read_export`): a cell is
    missing exactly where import reads it as missing (once trimmed, one of
    :data:`srmsim.data.mapping.DEFAULT_MISSING`: empty, 'NA', ' nan ', ...; pandas' own
    longer list made a score missing here that import refuses), and rows are numbered as
    import numbers them (the header is row 1; a blank line is a row too). A file too large
    for the memory free is refused before it is read.

    A Parquet file is read once, from bytes whose SHA-256 is left in ``attrs["sha256"]`` (to be
    checked against a run's summary.json: the digest is of the very bytes read)."""
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        target = path / "students.parquet"
        if not target.exists():
            raise DataError(_no_students_table(path))
        base = path
    elif path.exists():
        target = path
        base = path.parent
    else:
        from srmsim.inputs import hint_clause

        raise DataError(f"{path}: no such file or directory{hint_clause(path)}")
    from srmsim.inputs import input_file_problem

    problem = input_file_problem(target)
    if problem:
        raise DataError(f"{target}: {problem}")
    suffix = target.suffix.lower()
    digest = None
    try:
        if suffix == ".csv":
            df = _read_export(target)
        elif suffix in (".parquet", ".pq"):
            import hashlib

            import pyarrow as pa
            import pyarrow.parquet as pq

            with pq.ParquetFile(target) as parquet:  # its footer only, not its data
                _check_parquet_memory(target, parquet.metadata)
            data = target.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            schema = pq.read_schema(pa.BufferReader(data))
            _unique_columns(target, schema.names)
            from srmsim.data.readers import arrow_schema_problem, parquet_frame

            # as import and a records file refuse them: a nested column was Arrow's "cannot
            # read (ArrowNotImplementedError: Unsupported cast ...)", and a column of bytes
            # read as the text "b'S1'"
            problem = arrow_schema_problem(schema)
            if problem:
                raise DataError(f"{target}: {problem}")

            # decoded once, under a memory check: _check_parquet_memory trusts the footer
            df = _missing_words(parquet_frame(pa.BufferReader(data), target, len(data)))
            del data
        else:
            raise DataError(f"{target}: expected a .csv or .parquet file, got '{suffix}'")
    except DataError:
        raise
    except Exception as err:  # noqa: BLE001 - any reader failure is a user-facing data error
        with open(target, "rb") as fh:  # the other format, misnamed: said so, not a decoder's
            head = fh.read(4)           # UnicodeDecodeError or Arrow's "magic bytes"
        from srmsim.inputs import misnamed_table

        misnamed = misnamed_table(target, head)
        if misnamed:
            raise DataError(f"{target}: {misnamed}") from None
        if suffix in (".parquet", ".pq"):
            from srmsim.inputs import parquet_damage

            raise DataError(f"{target}: {parquet_damage(target, err)}; export or copy it "
                            "again") from None
        text = " ".join(str(err).split())[:200]
        raise DataError(f"{target}: cannot read ({type(err).__name__}: {text})") from None
    if suffix != ".csv":  # (a CSV's cells are trimmed as read)
        df = _trimmed(df)
    if path.is_dir():
        _check_run_rows(path, len(df))
    if suffix != ".csv":  # messages name rows as a spreadsheet does: the header is row 1
        df.index = pd.RangeIndex(2, len(df) + 2)
    if digest is not None:
        df.attrs["sha256"] = digest
    return df, base


def _check_run_rows(folder: Path, rows: int) -> None:
    """A run folder's students.parquet has the students its summary.json counts, as ``srmsim
    report`` checks: a cut or padded table is not thresholded as the run's. A folder whose
    summary.json is not an srmsim run's is left to :func:`simulation_problem` (real data)."""
    from srmsim.inputs import load_json

    try:
        summary = load_json(folder / "summary.json")
    except ValueError:  # none, or unreadable: not a run folder
        return
    if isinstance(summary, dict) and "scenario_hash" in summary:
        check_student_rows(folder, summary, rows)


#: the most entries of an experiment's folder looked through for a run's students.parquet
_LOOK_IN = 1_000


def _no_students_table(path: Path) -> str:
    """What to tell the user of a folder without students.parquet. An experiment's folder
    (manifest.json) was answered with a list of its files: it is said to be one, with a run's
    students.parquet inside it to give, or how to make one (experiments keep no per-student
    table)."""
    import itertools

    other = _other_results(path)
    if other:
        return other
    if not (path / "manifest.json").is_file():
        found = sorted(p.name for p in itertools.islice(path.iterdir(), _LOOK_IN))[:10]
        return f"{path}: run directory has no students.parquet (found {found})"
    what = f"{path}: an experiment's results folder (manifest.json), not a run's"
    inside = []
    for root, dirs, files in itertools.islice(os.walk(path), _LOOK_IN):
        if "students.parquet" in files:
            inside.append(Path(root) / "students.parquet")
        dirs.sort()
        if Path(root) != path:
            dirs.clear()  # a run's folder directly inside, not every replication's files
    if inside:
        return f"{what}: give a run's students.parquet, such as {sorted(inside)[0]}"
    scenarios = sorted(itertools.islice((path / "scenarios").glob("*.yaml"), _LOOK_IN))
    run = (f"to threshold a variant's students: srmsim run {scenarios[0]} --out DIR, then "
           "give DIR" if scenarios else "to threshold a variant's students: srmsim run "
           "SCENARIO --out DIR, then give DIR")
    return (f"{what}: experiments keep no per-student table (only each replication's "
            f"outcomes)\n{run}")


#: memory pandas takes for a cell of a table it holds: 19 to 27 bytes measured (2026-12-07, peak
#: RSS growth of ``pd.read_csv``, a million rows of 7 columns of numbers, of words, and a pupil
#: table), rounded down so that only a file that cannot be read is refused
FRAME_BYTES_PER_CELL = 16


def _read_export(path: Path) -> pd.DataFrame:
    """A pupil CSV read by the reader of ``srmsim data import``
    (:func:`srmsim.data.readers.read_raw`), so that each file gets one verdict, in one set of
    words, from both commands: its encoding, header, separator, a quote left open and a row
    whose cells do not line up are refused (naming the row and column, never a cell); cells
    are trimmed and import's missing words (:data:`srmsim.data.mapping.DEFAULT_MISSING`) are
    missing. A row import rejects is refused here: leaving it out would change the analysis
    silently. Each column is then typed as ``pd.read_csv`` types one (:func:`_typed`). Rows
    keep import's numbers (the header is row 1, a blank line a row)."""
    import pandas as pd

    from srmsim.data.mapping import DEFAULT_MISSING
    from srmsim.data.readers import read_raw

    raw = read_raw(path, missing_values=DEFAULT_MISSING)
    _unique_columns(path, raw.header)
    if not raw.n_rows and not raw.problems:  # (import's words)
        raise DataError(f"{path}: has column names but no rows: no students to read (export "
                        "it again, or leave it out)")
    if raw.problems:
        raise DataError(f"{path}: {_row_problem(raw, min(raw.problems, key=_place))}")
    # a column without a name (a header's trailing comma) keeps the name pandas gave it: two
    # would be one column ''
    df = pd.DataFrame({name or f"Unnamed: {j}": _typed(raw.frame[j])
                       for j, name in enumerate(raw.header)})
    df.index = pd.Index(raw.rows)
    return df


def _place(problem: dict) -> tuple[int, int]:
    """Where a reading problem is, the header first, for the first one to be named."""
    return (problem["row"] or 0, -1 if problem["col"] is None else problem["col"])


def _row_problem(raw, problem: dict) -> str:
    """What to say of a row that ``srmsim data import`` rejects while reading (a ``problems``
    entry of :class:`srmsim.data.readers.RawFile`): its row and column, as import's reject
    report names them, never its cells (real records)."""
    row, ncol = problem["row"], len(raw.header)
    counted = re.match(r"(\d+) cells but", problem["message"])
    if problem["rule"] == "wrong_field_count" and counted:
        cells = int(counted.group(1))
        if cells > ncol:
            return _value_beyond(row, ncol)
        return (f"row {row:,} has {cells} cells but the header has {ncol}: a cell left out "
                "moves the row's later values into other columns; correct the row (an empty "
                "cell keeps its comma)")
    where = "the header" if row is None else f"row {row:,}"
    if problem["col"] is not None:
        where += f", column {raw.header[problem['col']]!r}"
    hint = f": {raw.encoding_hint}" if problem["rule"] == "bad_encoding" and raw.encoding_hint \
        else ""
    return f"{where}: {problem['message']}{hint}"


def _typed(cells: pd.Series) -> pd.Series:
    """A column of text cells (missing ones NA) typed as ``pd.read_csv`` types a column, so
    that thresholds' results are those of the files it read before: numbers if every value is
    one (whole numbers ``int64`` unless one is missing), ``True``/``False`` words as booleans,
    else text; a column with no value is missing numbers."""
    import numpy as np
    import pandas as pd

    present = cells.notna().to_numpy(dtype=bool)
    if not present.any():
        return pd.Series(float("nan"), index=cells.index, dtype="float64")
    # a few values first: a column of words is not converted whole (a third of the time)
    first = cells.iloc[np.flatnonzero(present)[:_TRIED]]
    if pd.to_numeric(first, errors="coerce").notna().all():
        numbers = pd.to_numeric(cells, errors="coerce")
        if numbers.notna().to_numpy(dtype=bool).sum() == present.sum():
            return numbers
    true = cells.isin(_READ_CSV_TRUE).to_numpy(dtype=bool)
    false = cells.isin(_READ_CSV_FALSE).to_numpy(dtype=bool)
    if (true | false).sum() == present.sum():
        if present.all():
            return pd.Series(true, index=cells.index)
        return pd.Series(np.where(true, True, np.where(false, False, np.nan)),
                         index=cells.index, dtype=object)
    return cells


#: the words ``pd.read_csv`` reads as booleans
_READ_CSV_TRUE, _READ_CSV_FALSE = ["True", "TRUE", "true"], ["False", "FALSE", "false"]
#: the values of a column tried as numbers before the whole column is
_TRIED = 100


def _check_parquet_memory(path: Path, meta) -> None:
    """Refuse, before it is read, a Parquet file whose table cannot fit in the memory free now,
    sized from its footer (``meta``, :class:`pyarrow.parquet.FileMetaData`): it was read whole
    (its bytes, then its decoded table) until the system killed the command. The read holds the
    file's bytes and the table at once; the table takes at least its columns' uncompressed
    size, and at least each cell's width (:data:`FRAME_BYTES_PER_CELL` for text and other
    cells of no fixed width), so only a file that cannot be read is refused."""
    import pyarrow as pa

    rows, columns = meta.num_rows, meta.num_columns
    uncompressed = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    widths = 0
    for field_ in meta.schema.to_arrow_schema():
        kind = field_.type  # (booleans are primitive: 1 bit in Arrow, a byte in pandas)
        widths += (max(kind.bit_width // 8, 1) if pa.types.is_primitive(kind)
                   else FRAME_BYTES_PER_CELL)
    frame = rows * widths
    _check_fits(path, f"{rows:,} rows of {columns:,} columns (from its footer)",
                path.stat().st_size + max(uncompressed, frame))


def _check_fits(path: Path, shape: str, need: float) -> None:
    """Refuse a file whose reading needs ``need`` bytes, more than the memory free now
    (:func:`srmsim.memory.available_bytes`); ``shape``: its rows and columns, for the message."""
    from srmsim.memory import amount, available_bytes

    free = available_bytes()
    if free is not None and need > free:
        raise DataError(
            f"{path}: {amount(path.stat().st_size)}, {shape}: reading it needs about "
            f"{amount(need)} of memory and {amount(free)} is free; give fewer rows (a term, "
            "or a group of schools) or columns (the score, the outcome, --by and the school), "
            "or use a machine with more memory")


#: results folders of another command, kept without a per-student table: (the file that marks
#: one, what it is, what it keeps instead, the scenario inside it a run can be made from)
_OTHER_RESULTS = (
    ("trial.json", "a trial's results folder", "each replication's outcomes by arm",
     "scenario.yaml"),
    ("optimise.json", "an optimisation's results folder", "each candidate policy's objectives",
     "base_scenario.yaml"),
)


def _other_results(path: Path) -> str | None:
    """What to tell the user of a trial's or an optimisation's results folder given as PATH
    (it was answered with a list of its files): what kind of folder it is, that ``srmsim
    report`` reads it, and how to make a run whose students can be thresholded. ``None`` for
    any other folder."""
    for marker, what, keeps, scenario in _OTHER_RESULTS:
        if (path / marker).is_file():
            made = path / scenario
            run = (f"srmsim run {made} --out DIR" if made.is_file()
                   else "srmsim run SCENARIO --out DIR")
            return (f"{path}: {what} ({marker}), not a run's: it keeps no per-student table "
                    f"(only {keeps})\n`srmsim report {path}` reads it\nto threshold a "
                    f"scenario's students: {run}, then give DIR")
    return None


def _trimmed(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its column names and every text cell trimmed as ``srmsim data import`` trims
    them (:func:`srmsim.data.readers.trim_cells`): ' F ' and 'F' in a --by column were two
    groups, ' S1' and 'S1' two schools of the bootstrap, and a header ' sex ' was no column
    'sex', where import reads one group, one school and one column. Columns of numbers and
    booleans hold no text and are left as they are."""
    import pandas as pd

    from srmsim.data.readers import trim_cells

    df.columns = [c.strip() if isinstance(c, str) else c for c in df.columns]
    for position in range(df.shape[1]):
        column = df.iloc[:, position]
        if isinstance(column.dtype, pd.CategoricalDtype):  # a Parquet file's dictionary column
            names = column.cat.categories
            if not any(isinstance(v, str) and v != v.strip() for v in names):
                continue
            column = column.astype(object)
        elif not (column.dtype == object or pd.api.types.is_string_dtype(column)):
            continue
        df.isetitem(position, trim_cells(column))
    return df


def _missing_words(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` (read from Parquet) with each text cell that is, once trimmed, one of import's
    missing words (:data:`srmsim.data.mapping.DEFAULT_MISSING`) missing, as import reads a
    Parquet file's text: 'NA' in a --by column was a group called 'NA'. Columns of numbers,
    booleans and categories a run writes hold no text and are left as they are."""
    import pandas as pd

    from srmsim.data.mapping import DEFAULT_MISSING

    words = set(DEFAULT_MISSING)
    for position in range(df.shape[1]):
        column = df.iloc[:, position]
        if not (column.dtype == object or pd.api.types.is_string_dtype(column)):
            continue
        text = column.map(lambda v: v.strip() if isinstance(v, str) else v, na_action="ignore")
        found = text.isin(words).to_numpy(dtype=bool) & column.notna().to_numpy(dtype=bool)
        if found.any():
            df.iloc[found, position] = None
    return df


def _value_beyond(row: int, ncol: int) -> str:
    """The error for a value in row ``row`` of a CSV beyond its header's ``ncol`` columns."""
    return (f"row {row} has a value beyond the header's {ncol} columns (a column with "
            "no name, or a delimiter inside a value): name the column in the header or delete "
            "the value")


def _unique_columns(path: Path, names: list[str]) -> None:
    """Two columns with one name: pandas would rename the second ('att.1') and --score att
    would silently read whichever came first. (And no file wider than an export can be.)"""
    from srmsim.data.readers import MAX_COLUMNS

    if len(names) > MAX_COLUMNS:
        raise DataError(f"{path}: {len(names):,} columns, more than the {MAX_COLUMNS:,} a pupil "
                        "table can have here; is this the right file?")
    from srmsim.data.mapping import normalise_column

    # in any case too, as import and a records file compare names: 'withdrawn' and
    # 'Withdrawn' were two columns, and --outcome withdrawn silently read one of them
    seen: dict[str, str] = {}
    for name in map(str, names):
        key = normalise_column(name)
        if not key:  # (columns without a name, such as a header's trailing commas: none is read)
            continue
        if key in seen:
            what = (f"column name {cut(name, 60)!r} appears more than once" if seen[key] == name
                    else f"column names {cut(seen[key], 60)!r} and {cut(name, 60)!r} are one "
                         "name once case and spaces are ignored")
            raise DataError(f"{path}: {what}; rename the copies so that --score, --outcome "
                            "and --by name one column each")
        seen[key] = name


def _fmt(x: float, pct: bool = False) -> str:
    """A rate: as a percentage (the one formatting of shares, :func:`srmsim.labels.percent`:
    flag rate, precision, recall) or, for a score that is not a share (F1), three decimals."""
    import numpy as np

    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "n/a"
    return percent(x) if pct else f"{x:.3f}"


def _money(x: float) -> str:
    """Costs in pounds as srmsim's other tables print them (the outcomes' money format: pence
    below £10 when there are any, so a cost of 0.40 a case is not £0; whole pounds from £10)."""
    from srmsim.experiment.outcomes import format_value

    return format_value(float(x), "money")


class _Thresholds:
    """Thresholds as printed (:func:`srmsim.risk.thresholds.threshold_text`): simulated data's
    to the fewest digits that flag the same students (``scores``), real data's as published
    (``scores`` None: a shorter value would say more about where the scores lie); whether any
    was shortened, for the line saying where the exact ones are."""

    def __init__(self, scores: np.ndarray | None, direction: str) -> None:
        self.scores, self.direction, self.shortened = scores, direction, False

    def __call__(self, t: float) -> str:
        from srmsim.risk.thresholds import threshold_text

        text = threshold_text(t, self.scores, self.direction)
        self.shortened |= text != threshold_text(t)
        return text


def _describe_row(row: pd.Series, dc: _Disclosure | None = None,
                  shown: _Thresholds | None = None) -> str:
    dc = dc or _Disclosure(False, 0)
    shown = shown or _Thresholds(None, "below")
    tp, fp, fn = row["tp"], row["fp"], row["fn"]
    return (
        f"threshold {shown(row['threshold'])}: flags {dc.count(row['flagged'])} "
        f"students ({dc.rate(row['flag_rate'], row['flagged'], pct=True)}): {dc.count(tp)} "
        f"with the outcome, {dc.count(fp)} without, precision "
        f"{dc.rate(row['precision'], tp, fp, pct=True)}, "
        f"recall {dc.rate(row['sensitivity'], tp, fn, pct=True)}, F1 {dc.rate(row['f1'], tp, fp, fn)}"
    )


def run(args: argparse.Namespace) -> int:
    from srmsim import risk

    cases = check_arguments(args)
    df, base = load_frame(args.path)
    digest = df.attrs.pop("sha256", None)
    label = f"{args.path}"
    why = simulation_problem(base, digest) if Path(args.path).is_dir() else NOT_A_RUN
    real = why is not None
    from srmsim.data.dataset import is_dataset_folder

    records = is_dataset_folder(base)  # its records (or a file among them): bound as a summary
    if records:
        from srmsim.data.describe import check_counts_allowed

        check_counts_allowed(base, "thresholds")
    dc = _Disclosure(real, args.suppress_below)
    cluster = None if args.cluster.lower() == "none" else args.cluster
    cluster_note = ""
    if cluster is not None and cluster not in df.columns:
        if args.cluster != "school":
            raise DataError(f"{label}: cluster column '{cluster}' not found")
        cluster = None
        cluster_note = " (no 'school' column: bootstrap resamples students)"
    by_cols = list(dict.fromkeys(args.by))
    _check_data(df, args, by_cols, cluster, dc, label)
    counted = cluster  # the column whose clusters with a row used are printed (how many, or one)
    if cluster is not None:  # one school's own file: a cluster bootstrap has nothing to resample
        used = df[[args.score, args.outcome]].notna().all(axis=1).to_numpy()
        if df.loc[used, cluster].nunique() < 2:
            cluster = None
            cluster_note = f" (one '{args.cluster}' only: bootstrap resamples students)"

    out = Path(args.out) if args.out else base / "thresholds"
    from srmsim.data.dataset import META_FILE
    from srmsim.outputs import (
        check_inputs_outside,
        check_out,
        check_out_of_data,
        check_out_of_results,
        replace_dir,
    )

    if (base / META_FILE).exists():  # an imported dataset's private folder
        if not args.out:
            raise DataError(f"{label}: an imported dataset (private records): give --out, a "
                            f"folder outside {base} (the default {out} is inside it)")
        check_out_of_data(out, base)
    check_inputs_outside(out, [args.path])
    # (--out B/thresholds replaced run B's own thresholds with these)
    check_out_of_results(out, base, f"no --out (the report goes in {base / 'thresholds'}) or a "
                         "folder outside any other result folder", own="thresholds")
    check_out(out, earlier_report)  # refused now, not after the report is printed
    table = risk.threshold_table(df, args.score, args.outcome, args.direction, args.thresholds)
    choice = None
    notes: list[str] = []
    if real:
        shown = "" if why == NOT_A_RUN else f" ({why})"
        choice, by_cols, table, notes = _protect_grid(df, args, by_cols, shown)
        _refuse_small_left_out(df, args, by_cols, label, counted)
        if records:  # before anything is printed: a copy made after it is bound
            from srmsim.data.describe import record_counts

            record_counts(base, "thresholds")
        print(f"{label}: treated as real data{shown}: only thresholds whose every band of scores "
              f"holds at least {args.suppress_below} students with and without the outcome are "
              f"published; other counts below {args.suppress_below} are shown as 'c'")
        from srmsim.data.mapping import STUDENT_ID_COLUMNS, student_id_column

        if student_id_column(df.columns) is None:
            print(f"{label}: no student id column ({', '.join(STUDENT_ID_COLUMNS)}): each row "
                  "is taken as one student, and a student listed twice cannot be found")
    op = "<" if args.direction == "below" else ">"
    print(f"{label}: flag {args.score} {op} t, outcome {args.outcome}")
    print(dc.missing_line(len(df), table.attrs, _missing_parts(df, args)))
    for note in notes:
        print(note)
    # from real data, owner-only like every output built from records (checked, then shared)
    with _no_new_folders_on_failure(out), replace_dir(out, private=real,
                                                      replaceable=earlier_report) as tmp:
        written = _report(df, args, dc, table, choice, by_cols, cluster, cluster_note, op, cases,
                          tmp)
    print("wrote " + ", ".join(str(out / p.name) for p in written))
    return 0


def _refuse_small_left_out(df: pd.DataFrame, args: argparse.Namespace, by_cols: list[str],
                           label: str, cluster: str | None = None) -> None:
    """Real data: the tables' n is the rows used, and other commands print the rows of the same
    records (``srmsim data summary``: its students, and FSM/SEN/EAL pupils, per group), so
    1 to 9 rows left out for a missing score or outcome (overall, with or without the outcome,
    or in a group of a --by column shown) would be given away by a subtraction: refused before
    anything is printed or written, saying which but not how many. ``cluster``: the column
    whose clusters with a row used the bootstrap's line counts (or says is one)."""
    from srmsim.risk.thresholds import left_out_problem

    problem = left_out_problem(df, args.score, args.outcome, by_cols, args.suppress_below,
                               cluster=cluster)
    if problem:
        raise DataError(f"{label}: {problem} (see docs/privacy.md)")


def _missing_parts(df: pd.DataFrame, args: argparse.Namespace) -> dict[str, int]:
    """The rows missing the score only (with the outcome, and without it) and the outcome
    only: the parts of the rows left out that the missing-rows line is audited for."""
    import numpy as np

    from srmsim.risk._columns import outcome_values, score_values

    s = np.isnan(score_values(df, args.score))
    y = outcome_values(df, args.outcome)
    known = ~np.isnan(y)
    return {"score_only_pos": int((s & known & (y == 1)).sum()),
            "score_only_neg": int((s & known & (y == 0)).sum()),
            "outcome_only": int((~s & ~known).sum())}


def check_arguments(args: argparse.Namespace) -> int | None:
    """Every flag checked before any work or output, naming the flag; returns the capacity in
    cases (None without a capacity)."""

    from srmsim.privacy import DEFAULT_THRESHOLD
    from srmsim.risk.curves import min_replicates
    from srmsim.stats._checks import MAX_COUNT, MAX_REPEATS

    if args.suppress_below < DEFAULT_THRESHOLD:  # a lower one publishes what the rule protects
        raise SrmsimError(f"--suppress-below must be at least {DEFAULT_THRESHOLD} (got "
                          f"{args.suppress_below}): no count under 10 of real pupils is "
                          "published; a higher one is stricter")
    if args.suppress_below > MAX_COUNT:  # the grid's check named its own min_count instead
        raise SrmsimError(f"--suppress-below must be at most 2**53 (got {args.suppress_below})")
    fewest = min_replicates(0.95)  # the curves' 95% bands: fewer did not contain the AUC
    if not fewest <= args.n_boot <= MAX_REPEATS:  # 10**9 was taken and never finished
        why = (f": a 95% percentile interval needs at least {fewest} replicates"
               if args.n_boot < fewest else "")
        raise SrmsimError(f"--n-boot must be from {fewest} to {MAX_REPEATS:,} (got "
                          f"{args.n_boot:,}){why}")
    if (args.cost_missed is None) != (args.cost_needless is None):
        raise SrmsimError("give both --cost-missed and --cost-needless, or neither")
    for flag, value in (("--cost-per-case", args.cost_per_case),
                        ("--cost-missed", args.cost_missed),
                        ("--cost-needless", args.cost_needless)):
        if value is not None and value > MAX_COST:
            raise SrmsimError(f"{flag} {value:g}: at most {_money(MAX_COST)} a case (give costs in "
                              "larger units)")
    minutes = args.staff_minutes is not None or args.minutes_per_case is not None
    if args.capacity is not None:
        if minutes:
            raise SrmsimError("give either --capacity or --staff-minutes with "
                              "--minutes-per-case, not both")
        if not 0 <= args.capacity <= MAX_CAPACITY:
            raise SrmsimError(f"--capacity must be a whole number from 0 to 2**53, got "
                              f"{args.capacity}")
        return int(args.capacity)
    if not minutes:
        return None
    # each flag's own range first: what is wrong with the one given, then what is missing
    for flag, value in (("--staff-minutes", args.staff_minutes),
                        ("--minutes-per-case", args.minutes_per_case)):
        if value is not None and value > MAX_MINUTES:
            raise SrmsimError(f"{flag} {value:g}: at most {MAX_MINUTES:,} (the minutes in a "
                              "year)")
    if args.minutes_per_case is not None and args.minutes_per_case <= 0:
        raise SrmsimError(f"--minutes-per-case must be more than 0, got {args.minutes_per_case:g}")
    if args.staff_minutes is None or args.minutes_per_case is None:
        raise SrmsimError("give both --staff-minutes and --minutes-per-case (or --capacity)")
    from srmsim.risk.capacity import capacity_in_cases

    try:  # the flags are checked above: what is left is a quotient past 2**53
        return capacity_in_cases(staff_minutes_available=args.staff_minutes,
                                 minutes_per_case=args.minutes_per_case)
    except SrmsimError:
        raise SrmsimError(f"--staff-minutes {args.staff_minutes:g} / --minutes-per-case "
                          f"{args.minutes_per_case:g} is more than 2**53 cases; check the units "
                          "of the two") from None


def _check_data(df: pd.DataFrame, args: argparse.Namespace, by_cols: list[str],
                cluster: str | None, dc: _Disclosure, label: str) -> None:
    """The columns the report reads, checked before anything is printed: the score, the
    outcome, the --by columns and (when the curves are bootstrapped) the clusters. On real data
    a message names the column and row but not the value, and no count below the threshold."""
    import numpy as np

    from srmsim.risk._columns import group_labels, outcome_values, score_values

    if args.score == args.outcome:  # "too few students with or without" it said
        raise DataError(f"--score and --outcome are the same column ('{args.score}'): a "
                        "score is judged by how it flags another column's outcome")
    for col, role in ((args.score, "score"), (args.outcome, "outcome"),
                      *((c, "--by") for c in by_cols)):
        if col not in df.columns:
            raise DataError(f"{label}: column '{col}' ({role}) not found; available columns: "
                            f"{column_names(df.columns)}")
    s = _read_column(df, args.score, score_values, _withheld_score_problem, dc.real, label)
    y = _read_column(df, args.outcome, outcome_values, _withheld_outcome_problem, dc.real, label)
    for col in by_cols:
        try:
            group_labels(df, col)  # its one error shows the label srmsim itself gives, no data
        except DataError as exc:
            raise DataError(f"{label}: {exc}") from None
    _check_groups(df, by_cols, label)
    used = ~np.isnan(s) & ~np.isnan(y)
    n_used = int(used.sum())
    if n_used == 0:
        raise DataError(f"{label}: no row has both '{args.score}' and '{args.outcome}'")
    if np.unique(s[used]).size == 1:  # no threshold can split them
        raise DataError(f"{label}: column '{args.score}' (score) has one value in every row "
                        f"with an outcome: no threshold tells students apart")
    # after those: a score of one value beside an outcome of 0, 1, 0, 1, ... is a table of
    # two rows repeated, and that was not the reason
    _check_one_row_a_student(df, label)
    n_pos = int((y[used] == 1).sum())
    if cluster is not None and 0 < n_pos < n_used:  # the curves are bootstrapped over clusters
        missing = df[cluster].isna().to_numpy()
        if missing.any():
            count = int(missing.sum())
            many = (plural(count, "row") if not dc.real or count >= dc.threshold
                    else f"fewer than {dc.threshold} rows")
            raise DataError(f"{label}: column '{cluster}': cluster (school) is missing in {many}, "
                            f"first at row {df.index[int(np.flatnonzero(missing)[0])]}; "
                            "a bootstrap over clusters needs every row assigned to one (or "
                            "give --cluster none)")


#: column names of pupils' names as exports head them (matched as import matches names), beside
#: the schema's personal fields (name, upn, address, postcode, date_of_birth, notes)
NAME_HEADERS = ("forename", "surname", "first name", "last name", "full name", "given name",
                "family name", "middle name", "preferred name", "legal name", "known as")


def personal_column(column: object) -> bool:
    """Whether ``column``'s name says it holds a personal identifier: a name ('Forename',
    'Pupil Name'), a UPN, an address, a postcode, a date of birth or notes. Why: first names
    are shared by many pupils, so `--by name` was not refused as pupils' own values, and the
    table printed each first name with its pupils' rates."""
    from srmsim.data.mapping import normalise_column
    from srmsim.data.schema import STUDENTS

    key = normalise_column(str(column).replace("_", " "))
    for who in ("pupil ", "student ", "child "):
        key = key.removeprefix(who)
    personal = {normalise_column(f.name.replace("_", " ")) for f in STUDENTS.fields
                if f.kind in ("direct", "dob", "free_text")}
    return key in personal or key in NAME_HEADERS


def _check_groups(df: pd.DataFrame, by_cols: list[str], label: str) -> None:
    """A --by column is groups of pupils, not each pupil's own value: the student id column,
    or a column most of whose values are each one pupil's (names, ids, a measurement) is
    refused, naming it (and no value or count), and so is a column named as a personal
    identifier (:func:`personal_column`: first names are shared, not each one pupil's). Why:
    `--by uid` tabulated every pupil as a group of one (on real data each withheld in turn;
    simulated, 720 groups of one)."""
    from srmsim.data.dataset import pupils_own_values
    from srmsim.data.mapping import student_id_column

    ids = student_id_column(df.columns)
    for col in by_cols:
        if col == ids or pupils_own_values(df[col]):
            what = ("is the student id column" if col == ids
                    else "holds pupils' own values (most of its values are each one pupil's: "
                         "ids, names or measurements)")
            raise DataError(f"{label}: column '{col}' (--by) {what}, not groups of pupils: "
                            "give a column of groups, such as fsm, sen or sex")
        if personal_column(col):
            raise DataError(f"{label}: column '{col}' (--by) is by its name pupils' names or "
                            "another personal identifier, not groups of pupils (its values "
                            "would label the table): give a column of groups, such as fsm, sen "
                            "or sex")


def _check_one_row_a_student(df: pd.DataFrame, label: str) -> None:
    """Every count is of rows taken as students: a student twice (a file appended to itself,
    two exports joined) would count twice, and on real data make a band of 5 and 5 pass the
    threshold of 10. Refused where the table has a student id column, naming rows, not ids;
    without one, a table that is a block of rows written twice or more is refused (rows alike
    by chance are common, see :func:`srmsim.data.dataset.repeated_block`). An id column (found
    by its name) that holds names or labels is refused first: it is no id."""
    from srmsim.data.mapping import student_id_column

    col = student_id_column(df.columns)
    if col is None:
        from srmsim.data.dataset import repeated_block_problem

        problem = repeated_block_problem(df, df.index.to_numpy(),
                                         ids="a student id column such as student_id")
        if problem:
            raise DataError(f"{label}: {problem}")
        return
    from srmsim.data.dataset import names_as_ids_problem, repeated_id_problem

    problem = (names_as_ids_problem(df[col], col, df.index.to_numpy())
               or repeated_id_problem(df[col], col, df.index.to_numpy()))
    if problem:
        raise DataError(f"{label}: {problem}")


def _read_column(df: pd.DataFrame, column: str, read, withheld, real: bool, label: str):
    """``read(df, column)``; on real data its error is replaced by ``withheld``'s, which names
    the row but never the value."""
    try:
        return read(df, column)
    except DataError:
        if not real:
            raise
        raise DataError(f"{label}: {withheld(df[column], column)}") from None


def _withheld_score_problem(s: pd.Series, column: str) -> str:
    """What is wrong with a score column of real data, naming the first bad row, never its
    value (an infinity is said as such: it is no one's data)."""
    import numpy as np
    import pandas as pd

    missing = s.isna().to_numpy()
    if not pd.api.types.is_numeric_dtype(s.dtype):
        conv = pd.to_numeric(s, errors="coerce")
        if not pd.api.types.is_complex_dtype(conv.dtype):
            bad = conv.isna().to_numpy() & ~missing
            if bad.any():
                from srmsim.data.mapping import missing_words

                return (f"column '{column}': score must be numeric; row {s.index[bad.argmax()]} "
                        "holds text (its value is withheld: real data); a missing score is "
                        f"{missing_words()}")
            values = conv.to_numpy(dtype=float, na_value=np.nan)
            inf = np.isinf(values)
            if inf.any():
                return (f"column '{column}': score must be finite, found "
                        f"{values[inf.argmax()]:g} (row {s.index[inf.argmax()]})")
    elif pd.api.types.is_float_dtype(s.dtype):
        values = s.to_numpy(dtype=float, na_value=np.nan)
        inf = np.isinf(values)
        if inf.any():
            return (f"column '{column}': score must be finite, found {values[inf.argmax()]:g} "
                    f"(row {s.index[inf.argmax()]})")
    return (f"column '{column}': score must be a finite real number in every row; it holds "
            f"{s.dtype} values (withheld: real data)")


def _withheld_outcome_problem(s: pd.Series, column: str) -> str:
    """What is wrong with an outcome column of real data: the first row that is not boolean or
    0/1, never its value."""
    import pandas as pd

    def ok(v: object) -> bool:
        if isinstance(v, str):  # one text cell makes the reader keep the column as text: the
            # 0/1 and true/false cells beside it are fine, and row 2 was named for holding "1"
            from srmsim.inputs import BOOL_WORDS

            return v.strip().casefold() in (*BOOL_WORDS, "0.0", "1.0", "")
        if v is None or v is pd.NA or isinstance(v, bool) or (isinstance(v, float) and v != v):
            return True
        return isinstance(v, int | float) and v in (0, 1)

    for row, value in s.items():
        value = value.item() if hasattr(value, "item") and not isinstance(value, str) else value
        if not ok(value):
            from srmsim.data.mapping import missing_words

            return (f"column '{column}': outcome must be boolean or 0/1 (true/false, yes/no, "
                    f"y/n or 1/0); row {row} holds another value (withheld: real data); a "
                    f"missing outcome is {missing_words()}")
    return (f"column '{column}': outcome must be boolean or 0/1, and it holds {s.dtype} values "
            "(withheld: real data)")


@contextlib.contextmanager
def _no_new_folders_on_failure(out: Path):
    """The folders above ``out`` that the report creates are removed again if it fails (a
    failed command leaves nothing behind); folders that already existed are never touched."""
    made = []
    parent = Path(os.path.abspath(out)).parent
    while not parent.exists():
        made.append(parent)
        parent = parent.parent
    try:
        yield
    except BaseException:
        for folder in made:  # deepest first
            try:
                folder.rmdir()
            except OSError:  # not empty, or already gone: leave it
                pass
        raise


def earlier_report(folder: Path) -> bool:
    """A folder holding an earlier ``srmsim thresholds`` report and nothing else: replaceable."""
    from srmsim.outputs import holds_only

    return holds_only(("thresholds.csv",), OUTPUT_FILES)(folder)


def _protect_grid(df: pd.DataFrame, args: argparse.Namespace, by_cols: list[str],
                  why: str = "") -> tuple[GridChoice, list[str], pd.DataFrame, list[str]]:
    """Real data: the published grids (every band >= N with and without the outcome, overall
    and per group, each --by column on its own grid), the --by columns that can be shown, the
    overall table, and the lines that say what was left out (printed once nothing can fail any
    more)."""
    import numpy as np

    from srmsim import risk
    from srmsim.risk._columns import outcome_values, score_values
    from srmsim.risk.protected import choose_grid, fence_plan

    n = args.suppress_below
    choice = choose_grid(df, args.score, args.outcome, args.direction, args.thresholds, by_cols,
                         min_count=n)
    grid = choice.grid
    s = score_values(df, args.score)
    plan = fence_plan(s[~np.isnan(s) & ~np.isnan(outcome_values(df, args.outcome))])
    fences = sorted({f.value for f in plan.fences})
    # why a grid can be sparser than its bands need (docs/privacy.md, "Fences")
    ranks = f" and from the ranks of the {', '.join(f'{100 * q:g}th' for q in plan.quantiles)} " \
        "percentiles `calibrate` prints" if plan.quantiles else ""
    fenced = f"\nand every threshold keeps {n} students from " \
        f"{', '.join(f'{v:g}' for v in fences)}{ranks}" if fences else ""
    notes = []
    if choice.dropped.size:
        notes.append(_dropped_note(choice, n))
    if not grid.size:
        if args.thresholds is not None and choice.cuts.size:
            near = sorted({c for t in choice.dropped for c in _nearest(choice.cuts, t)})
            raise DataError(f"{args.path}: none of the given thresholds can be published from "
                            f"real data{why}: each flags other students than every threshold "
                            f"of the protected grid; nearest that can: "
                            f"{', '.join(f'{c:g}' for c in near[:6])}")
        raise DataError(f"{args.path}: too few students with or without '{args.outcome}' to "
                        f"publish any threshold from real data{why}; each band of scores needs "
                        f"at least {n} of each (see docs/privacy.md){fenced}")
    if args.thresholds is None:
        notes.append(f"{grid.size} of {choice.base.size} candidate thresholds published (each "
                     f"between two scores): every band of scores they cut holds at least {n} "
                     f"students with and {n} without the outcome")
    for col in choice.too_small:
        notes.append(f"by {col}: withheld (a group has fewer than {2 * n} students with, or "
                     "without, the outcome)")
    which = "no threshold" if args.thresholds is None else "no given threshold"
    for col in choice.conflicting:
        coarser = choice.split.get(col)
        if coarser is not None:  # its groups' rows would add up to the coarser column's
            notes.append(f"by {col}: withheld (its groups split those of {coarser}, so its "
                         f"tables may use only thresholds of {coarser}'s, and none of those "
                         f"leaves at least {n} students with and {n} without the outcome in "
                         f"every band of every group of {col})")
            continue
        notes.append(f"by {col}: withheld ({which} leaves at least {n} students "
                     f"with and {n} without the outcome in every band of every group)")
    if fences and choice.conflicting:
        notes.append(f"(every threshold also keeps at least {n} students of each group from "
                     f"{', '.join(f'{v:g}' for v in fences)}, the cut-offs `data summary` "
                     "counts pupils at: see docs/privacy.md)")
    for col, own in choice.by_grid.items():
        if own.size < grid.size:
            notes.append(f"tables by {col}: on the published thresholds that leave at least {n} "
                         f"students with and {n} without the outcome in every band of every "
                         "group")
    table = risk.threshold_table(df, args.score, args.outcome, args.direction, grid)
    withheld = choice.too_small + choice.conflicting
    return choice, [c for c in by_cols if c not in withheld], table, notes


def _nearest(cuts: np.ndarray, t: float) -> list[float]:
    """The thresholds of a grid (sorted) either side of ``t``."""
    import numpy as np

    i = int(np.searchsorted(cuts, t))
    return [float(c) for c in cuts[max(i - 1, 0):i + 1]]


#: given thresholds the note on those not published names (the rest are counted)
DROPPED_SHOWN = 6


def _dropped_note(choice: GridChoice, n: int) -> str:
    """Which given thresholds were not published, and the nearest that could be: a given
    threshold is published only where it flags the same pupils as one of the grid's."""

    parts = []
    for t in choice.dropped[:DROPPED_SHOWN]:
        near = [f"{c:g}" for c in _nearest(choice.cuts, t)]
        parts.append(f"{t:g} (nearest: {' or '.join(near)})" if near else f"{t:g}")
    more = len(choice.dropped) - DROPPED_SHOWN
    if more > 0:  # (100,000 thresholds given printed a 3 MB line)
        parts.append(f"and {more:,} more")
    return (f"thresholds {', '.join(parts)} not published: each flags other students than every "
            f"threshold of the protected grid (whose every band of scores holds at least {n} "
            f"students with and {n} without the outcome); a threshold flagging the same students "
            "as one of the grid's is published")


def _report(df: pd.DataFrame, args: argparse.Namespace, dc: _Disclosure, table: pd.DataFrame,
            choice: GridChoice | None, by_cols: list[str], cluster, cluster_note: str, op: str, cases: int | None,
            out: Path) -> list[Path]:
    import numpy as np

    from srmsim import risk
    from srmsim.outputs import write_csv
    from srmsim.risk import plots
    from srmsim.risk._columns import score_values

    a = table.attrs
    shown_t = _Thresholds(None if dc.real else score_values(df, args.score), args.direction)
    written = [out / "thresholds.csv"]
    published = dc.table(table)
    write_csv(published, written[0])

    n_pos = int(table["n_pos"].iloc[0])
    prevalence = n_pos / a["n_used"]
    print(f"outcome rate {dc.rate(prevalence, n_pos, pct=True)} ({dc.count(n_pos)} of "
          f"{dc.count(a['n_used'])})")
    if 0 < n_pos < a["n_used"]:
        # real data: the curves of the score in its published bands (see _banded)
        scored = _banded(df, args.score, choice.grid, args.direction) if choice is not None else df
        bands = risk.bootstrap_curves(scored, args.score, args.outcome, args.direction,
                                      cluster=cluster, n_boot=args.n_boot, seed=args.seed,
                                      protect=dc.threshold if dc.real else None,
                                      progress=True)
        print(bands.summary() + cluster_note)
        if dc.real:
            print("AUC and average precision are of the score in the bands the published "
                  "thresholds cut (real data: the score's own give the order of pupils "
                  "within a band)")
        written += _curve_plots(bands, published, dc, prevalence, f"{args.score} {op} t", out)
    else:
        print("only one outcome value present: no ROC / PR curves")
    best_f1 = None
    if n_pos == 0:
        print("no student has the outcome: precision, recall and F1 are undefined")
    elif not (table["f1"] > 0).any():
        print("best F1: none: no threshold of the table flags a student with the outcome "
              "(F1 is 0 at every one)")
    else:
        best_f1 = risk.best_row(table, "f1")
        print("best F1: " + _describe_row(best_f1, dc, shown_t))
        # flags are strict (score < t), so no threshold of the table flags every student; with
        # a common outcome flagging everyone (precision = the outcome rate, recall 1) can beat
        # every row, and "best" would then praise a score that does worse than no score at all
        everyone = 2 * prevalence / (1 + prevalence)
        shown = not dc.real or min(n_pos, a["n_used"] - n_pos) >= dc.threshold
        if shown and everyone > float(best_f1["f1"]):
            print(f"  best of the table's thresholds only: flagging every one of the "
                  f"{dc.count(a['n_used'])} students would give F1 {_fmt(everyone, False)} "
                  "(precision the outcome rate, recall 100%): by F1 the score does worse than "
                  "flagging everyone")

    if cases is not None and dc.real:
        _print_on_grid_capacity(args, table, dc, cases, shown_t)
    elif cases is not None:
        cap = risk.threshold_at_capacity(
            df, args.score, args.outcome, args.direction, capacity_cases=args.capacity,
            staff_minutes_available=args.staff_minutes, minutes_per_case=args.minutes_per_case,
            cost_per_case=args.cost_per_case or 0.0)
        line = (f"at capacity {plural(cap.capacity_cases, 'student')}: threshold {shown_t(cap.threshold)} "
                f"flags {dc.count(cap.flagged)} students, precision "
                f"{dc.rate(cap.precision, cap.tp, cap.fp, pct=True)}, "
                f"recall {dc.rate(cap.recall, cap.tp, pct=True)}")
        if args.cost_per_case is not None:  # "cost £0" read as free when no cost was given
            line += f", cost of the cases {_money(cap.cost)}"
        if cap.staff_minutes is not None:
            line += f", staff minutes {cap.staff_minutes:,.0f}"
        if cap.spare_capacity and cap.n_boundary_ties:
            line += (f"; {plural(cap.spare_capacity, 'place')} unused because "
                     f"{plural(cap.n_boundary_ties, 'student')} "
                     f"{agree(cap.n_boundary_ties, 'ties', 'tie')} at the boundary")
        elif cap.spare_capacity:
            line += (f"; {plural(cap.spare_capacity, 'place')} unused: every one of the "
                     f"{dc.count(cap.n_used)} students with a score and an outcome is flagged")
        print(line)
    if args.cost_missed is not None and dc.real:
        cost = table["fn"] * args.cost_missed + table["fp"] * args.cost_needless
        best = table.loc[cost.sort_values(kind="stable").index]
        best = best[cost.loc[best.index] == cost.min()].sort_values("flagged").iloc[0]
        print(f"cost-minimising among published thresholds (missed {_money(args.cost_missed)}, "
              f"needless {_money(args.cost_needless)}): threshold {shown_t(best['threshold'])} flags "
              f"{dc.count(best['flagged'])} students, cost of the errors (missed + needless) "
              f"{_money(cost.min())}, precision "
              f"{_fmt(best['precision'], True)}, recall {_fmt(best['sensitivity'], True)}")
    elif args.cost_missed is not None:
        cm = risk.cost_minimising_threshold(df, args.score, args.outcome, args.direction,
                                            args.cost_missed, args.cost_needless)
        print(f"cost-minimising (missed {_money(args.cost_missed)}, needless "
              f"{_money(args.cost_needless)}): threshold {shown_t(cm.threshold)} flags "
              f"{dc.count(cm.flagged)} students, cost of the errors (missed + needless) "
              f"{_money(cm.cost)}, "
              f"precision {dc.rate(cm.precision, cm.flagged, pct=True)}, "
              f"recall {dc.rate(cm.recall, cm.flagged, pct=True)}")

    if by_cols:
        if choice is not None:  # real data: each column on its own grid
            from srmsim.risk.protected import by_group_table

            by_table = by_group_table(df, args.score, args.outcome, args.direction, choice)
        else:
            by_table = risk.threshold_table(df, args.score, args.outcome, args.direction,
                                            args.thresholds, by=by_cols)
        if dc.real:  # per-group missing rows would add up to the (partly hidden) missing total
            by_table = by_table.drop(columns="n_missing")
        gaps = risk.group_gaps(by_table)
        p1 = out / "thresholds_by_group.csv"
        p2 = out / "fairness_gaps.csv"
        by_published = dc.table(by_table)
        write_csv(by_published, p1)
        write_csv(gaps, p2)
        # real data: drawn from the published table, as printed (a suppressed cell is not drawn)
        drawn = (risk.published_numbers(by_published, [*COUNTS_SHOWN, "flag_rate", "sensitivity"])
                 if dc.real else by_table)
        written += [p1, p2, plots.plot_fairness(drawn, out / "fairness.png")]
        # at the best-F1 threshold, else (no F1 to go by) at the middle threshold of the table:
        # a threshold of the table, so every group has its row
        thresholds = table["threshold"].to_numpy(float)
        ref_t = (best_f1["threshold"] if best_f1 is not None
                 else thresholds[(len(thresholds) - 1) // 2])
        for col in by_cols:
            own = by_table.loc[by_table["by"] == col, "threshold"].to_numpy(float)
            # a column's own grid may not hold ref_t: its nearest threshold (the lower on a tie)
            col_t = own[np.argmin(np.abs(own - ref_t))] if own.size else ref_t
            sub = by_table[(by_table["by"] == col) & (by_table["threshold"] == col_t)]
            if "n_missing" not in sub.columns:
                sub = sub.assign(n_missing=-1)
            # the groups fairness.png draws (a 400-group column printed one line naming all
            # 400); the gaps are over every group, and every group is in thresholds_by_group.csv
            more = len(sub) - plots.MAX_FAIRNESS_GROUPS
            sub_shown = sub.iloc[:plots.MAX_FAIRNESS_GROUPS]
            parts = ", ".join(
                f"{printable(yes_no(g))}: flag {dc.rate(fr, fl, pct=True)} recall {dc.rate(se, tp, fn, pct=True)} "
                f"(n {dc.count(n)}" + (f", missing {dc.count(m)})" if m >= 0 else ")")
                for g, fr, se, n, m, fl, tp, fn in sub_shown[[
                    "group", "flag_rate", "sensitivity", "n", "n_missing", "flagged", "tp", "fn",
                ]].itertuples(index=False)
            ) + (f", and {plural(more, 'more group')} in thresholds_by_group.csv" if more > 0
                 else "")
            gap_fr = sub["flag_rate_gap"].iloc[0] if len(sub) else np.nan
            gap_se = sub["sensitivity_gap"].iloc[0] if len(sub) else np.nan
            # a group is a value of the data: its \x1b[2J would clear the terminal
            print(f"by {printable(str(col))} at threshold {shown_t(col_t)}: {parts}; gaps "
                  f"(highest group minus lowest): flag rate {points(gap_fr)}, recall "
                  f"{points(gap_se)}")
    if shown_t.shortened:
        print("thresholds are printed to the fewest digits (at least 3) that flag the same "
              "students: give one back with --thresholds for the same row; thresholds.csv "
              "keeps them exactly")
    return written


def _banded(df: pd.DataFrame, score: str, grid, direction: str) -> pd.DataFrame:
    """Real data: ``df`` with the score replaced by its band of the published thresholds (0
    below the first, 1 up to the second, ...; missing stays missing), each flag the same.

    Why: the AUC is the share of (with, without the outcome) pairs in order, a sum over the
    bands of counts the tables publish plus, within each band, how its pupils are ordered.
    Printed to 3 decimals of a small table that gave the within-band order exactly: a band of
    10 with and 12 without holding two scores, its 9 with and 1 without at the lower one,
    gave 0.634, and 6 x 9 - 5 x 1 = 49 has no other solution, so 1 and 1, the counts the grid
    hid. In its bands the score's AUC and AP follow from the published counts alone."""
    import numpy as np

    from srmsim.risk._columns import score_values

    s = score_values(df, score)
    cuts = np.sort(np.asarray(grid, dtype=float))
    # score < t flagged: its band counts the thresholds at or below it; score > t: below it
    band = (np.searchsorted(cuts, s, side="right") if direction == "below"
            else np.searchsorted(cuts, s, side="left")).astype(float)
    band[np.isnan(s)] = np.nan
    out = df.copy()
    out[score] = band
    return out


def _curve_plots(bands, published: pd.DataFrame, dc: _Disclosure, prevalence: float,
                 what: str, out: Path) -> list[Path]:
    """roc.png and pr.png. Simulated data: every distinct score, with the bootstrap band. Real
    data: only the published rows of the protected table, and no band (with few schools a
    band's edge is one school's own curve, which with the published totals gives that school's
    counts)."""
    from srmsim import risk
    from srmsim.risk import plots

    if not dc.real:
        return [plots.plot_roc(bands, out / "roc.png", f"ROC: {what}"),
                plots.plot_pr(bands, out / "pr.png", prevalence, f"Precision-recall: {what}")]
    roc, pr = risk.published_curves(published)
    counts = risk.published_numbers(published.head(1), ["n", "n_pos"])
    shown_rate = float(counts["n_pos"].iloc[0] / counts["n"].iloc[0])
    from srmsim.risk.curves import interval_text

    auc = f"AUC {bands.auc:.3f} ({interval_text(bands.auc_low, bands.auc_high)})"
    ap = f"AP {bands.average_precision:.3f} ({interval_text(bands.ap_low, bands.ap_high)})"
    return [plots.plot_roc_points(roc, out / "roc.png", f"ROC: {what} (published thresholds)",
                                  label=f"{len(roc)} published thresholds; {auc}"),
            plots.plot_pr_points(pr, out / "pr.png", shown_rate,
                                 f"Precision-recall: {what} (published thresholds)",
                                 label=f"{len(pr)} published thresholds; {ap}")]


def _print_on_grid_capacity(args: argparse.Namespace, table: pd.DataFrame, dc: _Disclosure,
                            cases: int, shown: _Thresholds) -> None:
    """Real data: the published threshold that flags the most students within capacity (an
    off-grid threshold would be one more row to difference against the table)."""
    fit = table[table["flagged"] <= cases]
    if fit.empty:
        print(f"at capacity {plural(cases, 'student')}: every published threshold flags more "
              "students")
        return
    row = fit.sort_values(["flagged", "threshold"]).iloc[-1]
    line = (f"at capacity {plural(cases, 'student')} (nearest published threshold): "
            f"threshold {shown(row['threshold'])} flags {dc.count(row['flagged'])} students, "
            f"precision {_fmt(row['precision'], True)}, recall {_fmt(row['sensitivity'], True)}")
    if args.cost_per_case is not None:
        line += f", cost of the cases {_money(row['flagged'] * args.cost_per_case)}"
    if args.minutes_per_case is not None:
        line += f", staff minutes {row['flagged'] * args.minutes_per_case:,.0f}"
    used = int(table.attrs["n_used"])
    if cases >= used:  # (the rows used are printed above: nothing new is told)
        line += (f"; the capacity is enough for every one of the {used:,} students with a "
                 "score and an outcome, but no published threshold flags them all")
    print(line)
