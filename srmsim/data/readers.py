"""Read a school's export (CSV, Excel or Parquet) into strings, keeping row numbers and every fault.

Why everything is read as text: type problems ("7a" in a year-group column) must become reported
rejects with the value the user typed, not a crash or a silent NaN; validation parses each field.

Row numbers follow the spreadsheet convention: the header is row 1, so the first data row is
row 2. For CSV files a record spread over several lines (a quoted newline) still counts as one row;
for Parquet files rows are numbered the same way, as if exported to CSV with a header. Completely
blank rows are skipped and counted (``blank_rows``), never silently.
"""

from __future__ import annotations

import bisect
import codecs
import csv
import datetime as dt
import io
import itertools
import re
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from srmsim.errors import DataError
from srmsim.inputs import hint_clause, input_file_problem, misnamed_table, utf16_mark
from srmsim.labels import cut, plural

if TYPE_CHECKING:
    import pyarrow.parquet as pq

_local = threading.local()


def _record_error(err: UnicodeError) -> tuple[str, int]:
    """Codec error handler: remember the bad byte offsets, substitute lone surrogates."""
    if not isinstance(err, UnicodeDecodeError):  # registered for decoding only
        raise err
    bad = err.object[err.start:err.end]
    _local.offsets.extend(range(err.start, err.end))
    return "".join(chr(0xDC00 + b) for b in bad), err.end


codecs.register_error("srmsim_record", _record_error)


def reads_files_in(encoding: str) -> bool:
    """Whether a CSV in ``encoding`` can be read as :func:`read_raw` reads one: decoded with
    the ``srmsim_record`` handler for bad bytes. rot13 or zlib are codecs but not text
    encodings; idna, punycode and undefined cannot hand a bad byte to a handler (reading then
    failed with "Unsupported error handling"). Every text encoding of Python's alias table can."""
    saved = getattr(_local, "offsets", [])
    _local.offsets = []
    try:
        b"a\xff\x80,\r\n".decode(encoding, errors="srmsim_record")
    except (LookupError, UnicodeError):
        return False
    finally:
        _local.offsets = saved
    return True

#: what an undecodable byte becomes (UTF-8 errors are bytes >= 0x80, UTF-16 ones any byte)
_SURROGATES = {chr(c) for c in range(0xDC00, 0xDD00)}


def _escape(text: str) -> str:
    """Show undecodable bytes as ``\\xNN`` so a report can print them."""
    return "".join(f"\\x{ord(ch) - 0xDC00:02x}" if ch in _SURROGATES else ch for ch in text)


@dataclass
class RawFile:
    """One file read as text. ``frame`` has integer columns 0..m-1 in the order of ``header``."""

    path: str
    header: list[str]
    frame: pd.DataFrame
    rows: np.ndarray
    problems: list[dict] = field(default_factory=list)  # row-level faults found while reading
    structural: np.ndarray | None = None  # rows whose cells could not be aligned with the header
    blank_rows: int = 0
    encoding_hint: str | None = None  # what the bytes not valid in its encoding suggest

    @property
    def n_rows(self) -> int:
        return len(self.frame)


def read_raw(path: str | Path, encoding: str = "utf-8",
             missing_values: tuple[str, ...] = ("",)) -> RawFile:
    """Read a CSV, Excel (.xlsx) or Parquet file as text cells; missing tokens become NA."""
    path = Path(path)
    problem = input_file_problem(path)
    if problem:
        raise DataError(f"{path}: {problem}"
                        + (hint_clause(path) if problem == "file not found" else ""))
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        raw = _read_parquet(path)
    elif suffix in (".xlsx", ".xlsm"):
        raw = _read_excel(path)
    elif suffix in (".xls",):
        raise DataError(f"{path}: old .xls files are not supported; save as .xlsx or CSV")
    else:
        raw = _read_csv(path, encoding)
    if not any(raw.header):
        # a report title or blank lines above the column names: every row was rejected for
        # four missing columns, and each data row as having cells "but the header has 0"
        raise DataError(f"{path}: row 1, the header, is empty: the column names must be on "
                        "the first row (delete any blank or title rows above them)")
    _check_repeated_header(raw)
    _finish(raw, missing_values)
    return raw


def _check_repeated_header(raw: RawFile) -> None:
    """Refuse a file whose header row comes again below (two exports joined with ``cat``): it
    was reported as wrong-type cells in every column, never by name. A row counts only if each
    of its cells equals the header's, trimmed and in any case (empty where the header is): one
    cell that happens to equal a column name is data. Read before missing tokens become NA."""
    names = [h.strip().casefold() for h in raw.header]
    first = next(i for i, name in enumerate(names) if name)  # read_raw refused an empty header

    def folded(column: pd.Series) -> np.ndarray:
        return column.fillna("").astype("str").str.strip().str.casefold().to_numpy(dtype=object)

    rows = np.flatnonzero(folded(raw.frame[first]) == names[first])  # few: checked whole
    for j, name in enumerate(names):
        if len(rows) and j != first:
            rows = rows[folded(raw.frame[j].iloc[rows]) == name]
    if len(rows):
        more = f" (and {plural(len(rows) - 1, 'later row')})" if len(rows) > 1 else ""
        raise DataError(f"{raw.path}: row {int(raw.rows[rows[0]]):,} repeats the header{more}: "
                        "two exports joined? remove it")


#: a number written with a decimal comma, as spreadsheets in many European languages export
#: them ("93,5", "-0,25", ",5")
_DECIMAL_COMMA = r"^[+-]?\d*,\d+$"
#: a number written with thousands separators ("1,250", "12,500.5"); "1,250" may be either
_THOUSANDS = r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$"
DECIMAL_COMMA_HINT = "uses a decimal comma: export with a decimal point"
COMMA_HINT = ("holds a comma (a thousands separator or a decimal comma): export plain numbers "
              "with a decimal point")


def comma_numbers(cells: pd.Series) -> tuple[np.ndarray, str | None]:
    """Which of one column's ``cells`` (text that is not a number) are numbers written with a
    comma, and what to tell the user about them (``None``: no such cell). Never converted:
    "1,250" is 1.25 in one export and 1250 in another. The column decides: a decimal comma if
    some cell can only be one ("93,5") and none only a thousands separator ("1,250.5",
    "1,250,000"); else the hint names both."""
    text = cells.fillna("").astype("str").str.strip()
    decimal = text.str.match(_DECIMAL_COMMA).to_numpy(dtype=bool)
    thousands = text.str.match(_THOUSANDS).to_numpy(dtype=bool)
    comma = decimal | thousands
    if not comma.any():
        return comma, None
    only_decimal = (decimal & ~thousands).any() and not (thousands & ~decimal).any()
    return comma, DECIMAL_COMMA_HINT if only_decimal else COMMA_HINT


#: single-byte encodings of Western exports that read any byte: a UTF-8 file read with one of
#: them is not refused by the decoder, it is misread (:func:`_read_csv`)
_ONE_BYTE_WESTERN = frozenset({"cp1252", "iso8859-1", "iso8859-15", "cp850", "mac-roman",
                               "latin-1"})


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def csv_field_too_long(err: csv.Error, row: int) -> str | None:
    """What to say when Python's csv reader stopped at a cell over its limit (``row``: the
    record it was reading, the header row 1), or None for another error. Its own words were
    "field larger than field limit (131072)"; no cell of an export is that long, but a quote
    left open runs on over the rows after it."""
    if "field larger than field limit" not in str(err):
        return None
    return (f"row {row:,}: a cell longer than {csv.field_size_limit():,} characters, more than "
            "any cell of an export: most likely a quote (\") left open, which runs on over the "
            "rows after it; close the quote, or shorten the cell")


_LINE_END = re.compile(r"\r\n|\r|\n")


def _left_open(text: str, lines: int, record: list[str]) -> bool:
    """Whether the CSV ``text`` ends inside a quoted cell of its last record, ``record``, read
    over its last ``lines`` physical lines, as Python's csv reader reads one: a quote opens a
    cell only at its start, two quotes within one are a quote, and after the closing quote a
    cell runs on unquoted. Only the record's own text is looked through (it is at most twice
    its cells and their commas and quotes long)."""
    if not record:
        return False
    tail = text[-(sum(2 * len(cell) + 3 for cell in record) + 4):]
    if '"' not in tail:
        return False
    ends = [m.end() for m in _LINE_END.finditer(tail)]
    if ends and ends[-1] == len(tail):  # the line end closing the file ends the last line
        ends.pop()
    start, quoted, closing = True, False, False
    for ch in itertools.islice(tail, ends[-lines] if len(ends) >= lines else 0, None):
        if quoted:
            if closing and ch == '"':  # two quotes: one quote in the cell
                closing = False
                continue
            if not closing:
                closing = ch == '"'
                continue
            quoted = closing = False  # closed: the cell runs on, unquoted
        if ch == '"' and start:
            quoted, start = True, False
        else:
            start = ch in ",\r\n"
    return quoted and not closing


def _read_csv(path: Path, encoding: str) -> RawFile:
    _check_csv_memory(path)
    data = path.read_bytes()
    misnamed = misnamed_table(path, data[:4])
    if misnamed:
        raise DataError(f"{path}: {misnamed}")
    start = 0
    codec = codecs.lookup(encoding).name
    utf16 = utf16_mark(data[:2])
    if utf16 and not codec.startswith(("utf-16", "utf-32")):
        # the words `srmsim thresholds` and a scenario use; it was "the header contains NUL
        # characters: the file is probably UTF-16" here, of the same file
        said = "UTF-8" if codec == "utf-8" else encoding
        raise DataError(f"{path}: {utf16}, not {said}; save it as CSV UTF-8 (or, to import it, "
                        "set 'encoding: utf-16' in the mapping)")
    if data.startswith(codecs.BOM_UTF8) and codec == "utf-8":
        start = len(codecs.BOM_UTF8)
    elif data.startswith(codecs.BOM_UTF8) and codec != "utf-8-sig":
        # read as cp1252 the mark became 'ï»¿' before the first column name, which then
        # matched no column of the mapping
        raise DataError(f"{path}: starts with a UTF-8 byte-order mark: the file is UTF-8, "
                        f"not {encoding}; set 'encoding: utf-8' in the mapping")
    if codec in _ONE_BYTE_WESTERN and not data.isascii() and _is_utf8(data):
        # every non-ASCII character a UTF-8 byte pair: read as cp1252 'José Müller' became
        # 'JosÃ© MÃ¼ller' and '£5' 'Â£5', silently (an old export's encoding kept in the
        # mapping when the school's new system writes UTF-8)
        sample = next(ch for ch in data.decode("utf-8") if not ch.isascii())
        raise DataError(f"{path}: the file is UTF-8 (its {sample!r} is two or more UTF-8 "
                        f"bytes), not {encoding}, which would read it as "
                        f"{sample.encode('utf-8').decode(encoding, 'replace')!r}; set "
                        "'encoding: utf-8' in the mapping")
    if (codec.startswith(("utf-16", "utf-32")) and data and b"\x00" not in data
            and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))):
        # UTF-16 writes a NUL beside every comma and line end: read as UTF-16, a UTF-8 file
        # became one line of CJK characters, refused as "column names but no rows"
        raise DataError(f"{path}: the file is not {encoding} (it holds no NUL byte, which "
                        f"{encoding} writes for every comma and line end): it is most likely "
                        "UTF-8; set 'encoding: utf-8' in the mapping")
    _local.offsets = []
    try:
        text = data[start:].decode(encoding, errors="srmsim_record")
    except UnicodeError as err:  # e.g. an odd number of bytes in UTF-16
        raise DataError(f"{path}: cannot be read as {encoding}: {err}") from None
    bad_offsets = [start + o for o in _local.offsets]
    _local.offsets = []
    if text.startswith("\ufeff"):
        # a byte-order mark, never part of the first column name: utf-16-le and utf-16-be
        # (Excel's "Unicode text" is UTF-16 LE with one) leave it in the text, and the first
        # column, '\ufeffPupil Ref', matched no column of the mapping
        text = text[1:]
    first_line = text.split("\n", 1)[0]
    if "\x00" in first_line:
        raise DataError(f"{path}: the header contains NUL characters: the file is probably "
                        f"UTF-16, not {encoding}: save it as CSV UTF-8 (or, to import it, set "
                        "'encoding: utf-16' in the mapping)")

    reader = csv.reader(io.StringIO(text, newline=""))
    records: list[list[str]] = []
    starts: list[int] = []  # first physical line of each record (needed to place bad bytes)
    line = last_start = 0
    try:
        # the header's width is checked before the body is read: a file of 3,000 columns and
        # 2,000 rows (18 MB) took 700 MB as Python strings before it was refused
        first = next(reader, None)
        if first is not None:
            _check_width(path, len(first))
            starts.append(1)
            line = reader.line_num
            records.append(first)
        if bad_offsets:
            for rec in reader:
                starts.append(line + 1)
                line = reader.line_num
                records.append(rec)
        else:
            for rec in reader:  # (the line the last record starts on: see below)
                last_start, line = line + 1, reader.line_num
                records.append(rec)
    except csv.Error as err:
        too_long = csv_field_too_long(err, len(records) + 1)
        if too_long:  # (the records read before it stay in the list)
            raise DataError(f"{path}: {too_long}") from None
        raise DataError(f"{path}: line {max(reader.line_num, 1)}: not a readable CSV file "
                        f"({err})") from None
    if not records:
        raise DataError(f"{path}: the file is empty (no header row)")
    last_lines = reader.line_num - (starts[-1] if bad_offsets else last_start) + 1
    if len(records) > 1 and _left_open(text, last_lines, records[-1]):
        # Python's csv reader takes the rest of the file into the cell, without a word: the
        # row was rejected for too few cells and the rows below it were never read (and
        # `srmsim thresholds` refused the file in other words)
        raise DataError(f"{path}: row {len(records):,}: a quote (\") opened in it is never "
                        "closed, so it runs on to the end of the file over the rows after it; "
                        "close the quote")
    header = [h.strip() for h in records[0]]
    problem = header_problem(header, records[1] if len(records) > 1 else None)
    if problem:  # every row rejected for missing columns, with no word of the cause
        raise DataError(f"{path}: {problem}")
    _check_width(path, len(header))
    ncol = len(header)
    body, body_starts = records[1:], starts[1:]
    problems: list[dict] = []

    # Rows whose number of cells differs from the header cannot be aligned: reject them whole.
    structural = []
    cells = body
    ragged = [i for i, rec in enumerate(body) if len(rec) != ncol]
    for i in ragged:
        if len(body[i]) == ncol + 1 and not body[i][-1].strip():
            # a comma at the end of a data row (some systems end every row with one, the
            # header too or not): an empty last cell holds nothing, and each row was rejected
            # for one cell too many
            body[i] = body[i][:-1]
    ragged = [i for i in ragged if len(body[i]) != ncol]
    if ragged:
        cells = list(body)
        for i in ragged:
            rec = body[i]
            cells[i] = [""] * ncol  # a blank row is dropped (and counted) by _finish
            if rec and any(c.strip() for c in rec):
                structural.append(i)
                problems.append({"row": i + 2, "col": None,
                                 "value": _escape(cut(",".join(rec), MAX_SHOWN)),
                                 "rule": "wrong_field_count",
                                 "message": f"{len(rec)} cells but the header has {ncol}"})
    keep_rows = np.arange(2, len(body) + 2, dtype=np.int64)

    if bad_offsets:
        line_of = _marker_lines(text)
        header_lines = starts[1] - 1 if len(starts) > 1 else reader.line_num
        per_record: dict[int, list[tuple[int, int]]] = {}
        header_bad: list[tuple[int, int]] = []
        for off, ln in zip(bad_offsets, line_of, strict=True):
            if ln <= header_lines:
                header_bad.append((off, ln))
            else:
                i = bisect.bisect_right(body_starts, ln) - 1
                per_record.setdefault(i, []).append((off, ln))
        if header_bad:
            off, ln = header_bad[0]
            problems.append({"row": None, "col": None, "value": "", "rule": "bad_encoding",
                             "message": f"header is not valid {encoding} at byte offset {off} "
                                        f"(line {ln})"})
        for i, offs in sorted(per_record.items()):
            rec = body[i]
            k = 0  # each undecodable byte became one marker character, in file order
            for j, cell in enumerate(rec):
                n_bad = sum(ch in _SURROGATES for ch in cell)
                if not n_bad:
                    continue
                off, ln = offs[min(k, len(offs) - 1)]
                k += n_bad
                if len(rec) != ncol:
                    continue  # reported as wrong_field_count; its cells are not used
                problems.append({"row": i + 2, "col": j, "value": _escape(cell),
                                 "rule": "bad_encoding",
                                 "message": f"byte 0x{data[off]:02x} at byte offset {off} "
                                            f"(line {ln}) is not valid {encoding}"})
            if len(rec) == ncol:  # Arrow strings cannot hold the marker characters
                rec[:] = [_escape(c) for c in rec]
        for i, rec in enumerate(body):  # never let a marker reach Arrow, whatever the lines
            if len(rec) == ncol and any(ch in _SURROGATES for c in rec for ch in c):
                rec[:] = [_escape(c) for c in rec]
                if i not in per_record:
                    problems.append({"row": i + 2, "col": None, "value": "",
                                     "rule": "bad_encoding",
                                     "message": f"holds bytes that are not valid {encoding}"})
    frame = pd.DataFrame(cells, columns=range(ncol), dtype="str") if cells else \
        pd.DataFrame({i: pd.Series([], dtype="str") for i in range(ncol)})
    raw = RawFile(path=str(path), header=[_escape(h) for h in header], frame=frame,
                  rows=keep_rows, problems=problems)
    raw.structural = np.asarray(structural, dtype=np.int64)
    if bad_offsets and codec == "utf-8":
        raw.encoding_hint = windows_1252_hint(data, text)
    return raw


#: said of a file not valid UTF-8 that is Windows-1252 text (see :func:`windows_1252_hint`)
WINDOWS_1252_HINT = ("the file is Windows-1252 (cp1252) text, not UTF-8, as Excel's 'CSV "
                     "(Comma delimited)' saves one: save it as 'CSV UTF-8 (Comma delimited)'")


def windows_1252_hint(data: bytes, text: str) -> str | None:
    """:data:`WINDOWS_1252_HINT` when ``data`` (read as UTF-8 into ``text``, its bad bytes as
    markers) holds no UTF-8 character beyond ASCII and reads as Windows-1252, else ``None``
    (a UTF-8 file with a stray byte is no Windows file). Why: a Windows export's accented names
    ('Zoë') were rejected row by row as "byte 0xeb ... is not valid utf-8", with no word of
    what to change, and with fewer than 10 such rows the rejects are not printed at all."""
    if any(not ch.isascii() and ch not in _SURROGATES for ch in text):
        return None
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return None
    return WINDOWS_1252_HINT


def separator_problem(header: list[str]) -> str | None:
    """Why a CSV header read with commas is one column holding another separator (``;``, the
    CSV of Excel in many European languages; tabs; ``|``), or ``None``."""
    if len(header) != 1:
        return None
    for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "vertical bars")):
        if sep in header[0]:
            return (f"the header is one column holding {name}: the file is separated by "
                    f"{name}, not commas (Excel in many European languages saves CSV so); save "
                    "it as 'CSV UTF-8 (Comma delimited)'")
    return None


def header_problem(header: list[str], first: list[str] | None) -> str | None:
    """Why a CSV's row 1 (``header``, read with commas) is not its column names, or ``None``:
    one column holding another separator (:func:`separator_problem`), or a report's title alone
    above them (``first``, row 2, holds more cells). Every row was rejected for missing columns
    or for "N cells but the header has 1", with no word of the cause. Asked by every reader of
    a pupil CSV (import, ``srmsim thresholds``), so each refuses such a file in these words."""
    problem = separator_problem(header)
    if problem:
        return problem
    if len(header) == 1 and first is not None and len(first) > 2:
        return (f"row 1 holds one cell and row 2 holds {len(first)}: the column names must be "
                "on row 1 (delete the title or other rows above them)")
    return None


#: More columns than any school export has: a wrong file (and a quadratic cost) past this.
MAX_COLUMNS = 2000
#: Longest value a reject report repeats back (the row or cell is in the user's own file).
MAX_SHOWN = 200


#: Memory reading an export takes, measured on CSV files read by :func:`read_raw` (peak RSS
#: growth, 2026-12-04): a Python string and its slot for each cell, a list and the frame's row
#: for each row, and the file's bytes and text. 300,000 rows of 15 distinct cells (18 MB) took
#: 577 MB, 60,000 such rows 122 MB; empty and one-character cells share one string, so files
#: of them take less (300,000 rows of one short id: 93-99 MB against 112 estimated).
BYTES_PER_CELL = 110
BYTES_PER_ROW = 250
#: the decoded bytes of a cell that :data:`BYTES_PER_CELL` covers (a short id, code or number)
_SHORT_CELL = 16
_BLOCK_BYTES = 1 << 20


def reading_memory(rows: float, cells: float, file_bytes: int) -> float:
    """Bytes of memory :func:`read_raw` needs for an export of ``rows`` rows and ``cells``
    cells in a file of ``file_bytes`` bytes (:data:`BYTES_PER_CELL`, :data:`BYTES_PER_ROW`)."""
    return rows * BYTES_PER_ROW + cells * BYTES_PER_CELL + 3 * file_bytes


def _check_memory(path: Path, rows: float, columns: float, file_bytes: int) -> None:
    """Refuse, before reading, an export whose cells would not fit in the memory free now: a
    1 GB CSV would need about 30 GB as Python strings, and the system would kill the command
    (or the machine swap) with no word of the cause. Where free memory is unknown, nothing."""
    from srmsim.memory import amount, available_bytes

    free = available_bytes()
    need = reading_memory(rows, rows * columns, file_bytes)
    if free is not None and need > free:
        raise DataError(
            f"{path}: {amount(file_bytes)}, about {rows:,.0f} rows of {columns:,.0f} columns: "
            f"reading it needs about {amount(need)} of memory and {amount(free)} is free; "
            "export fewer rows at a time (a term, or a group of schools) or use a machine with "
            "more memory")


def csv_shape(path: Path) -> tuple[int, int]:
    """The line ends (``\n``, ``\r\n`` and a lone ``\r`` each one, as the CSV reader counts
    them) and the commas of a CSV, counted over the whole file a MiB at a time (about 0.1 s for
    250 MB): what a memory check sizes a file by before it is read. Why not the larger of the
    LF and CR counts: a file mixing LF and lone CR line ends (two exports pasted together) had
    fewer ends than lines. Why not from the
    first MiB scaled to the file's size: 120 rows of long notes at the top of 6 million short
    ones made it about 25,000 rows, and the import ran out of memory instead of being
    refused."""
    ends = commas = 0
    cr_before = False  # the previous block ended with CR: a LF starting this one ends no line
    with open(path, "rb") as f:
        while block := f.read(_BLOCK_BYTES):
            ends += (block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")
                     - (cr_before and block.startswith(b"\n")))
            commas += block.count(b",")
            cr_before = block.endswith(b"\r")
    return ends, commas


def _check_csv_memory(path: Path) -> None:
    """:func:`_check_memory` for a CSV, its rows and columns counted over the whole file
    (:func:`csv_shape`)."""
    size = path.stat().st_size
    if not size:
        return
    ends, commas = csv_shape(path)
    lines = max(ends, 1)
    _check_memory(path, lines, commas / lines + 1, size)


def _check_width(path: Path, ncol: int) -> None:
    if ncol > MAX_COLUMNS:
        raise DataError(f"{path}: the header has {ncol:,} columns, more than the {MAX_COLUMNS:,} "
                        "an export can have here; is this the right file?")


def _marker_lines(text: str) -> list[int]:
    """1-based line of each undecodable-byte marker in ``text``, in order (the k-th marker is
    the k-th bad byte), counting line ends as the CSV reader does (``\n``, ``\r\n`` and a
    lone ``\r``: old Mac exports end lines with CR only). Counted in the decoded text, not in
    the bytes: in UTF-16 a byte 0x0A is not a line end."""
    cp = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    lf = cp == 0x0A
    lone_cr = (cp == 0x0D) & ~np.append(lf[1:], False)
    newlines = np.flatnonzero(lf | lone_cr)
    markers = np.flatnonzero((cp >= 0xDC00) & (cp < 0xDD00))
    return (np.searchsorted(newlines, markers, side="left") + 1).tolist()


def _cell_text(v: object) -> str:
    """Text of a typed cell (Excel / Parquet) the way a CSV export would show it."""
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
        return ""
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, pd.Timestamp | dt.datetime):
        return v.date().isoformat() if (v.hour, v.minute, v.second) == (0, 0, 0) else \
            v.isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _typed_to_raw(path: Path, df: pd.DataFrame, header: list[str] | None = None) -> RawFile:
    _check_width(path, len(df.columns))
    header = [str(c).strip() for c in (df.columns if header is None else header)]
    cols = {}
    for i in range(len(df.columns)):
        cols[i] = pd.Series([_cell_text(v) for v in df.iloc[:, i].tolist()], dtype="str")
    frame = pd.DataFrame(cols) if cols else pd.DataFrame(index=range(len(df)))
    frame.index = range(len(df))
    raw = RawFile(path=str(path), header=header, frame=frame,
                  rows=np.arange(2, len(df) + 2, dtype=np.int64))
    raw.structural = np.asarray([], dtype=np.int64)
    return raw


def arrow_schema_problem(schema: pa.Schema) -> str | None:
    """What keeps a Parquet file's columns from being one plain table, or ``None``: more
    columns than :data:`MAX_COLUMNS`, two columns of one name (the second would be renamed or
    silently read instead of the first), a nested column (a list or struct would become its
    Python text, "{'a': 1}", and pass) or a binary one (its text would be "b'P001'")."""
    if len(schema.names) > MAX_COLUMNS:
        return (f"{len(schema.names):,} columns, more than the {MAX_COLUMNS:,} an export can "
                "have here; is this the right file?")
    seen: set[str] = set()
    for field_ in schema:
        if field_.name in seen:
            return f"column name {cut(field_.name, 60)!r} appears more than once"
        seen.add(field_.name)
        kind = field_.type.value_type if pa.types.is_dictionary(field_.type) else field_.type
        if pa.types.is_nested(kind):
            return (f"column {cut(field_.name, 60)!r} holds nested values ({cut(str(kind), 60)})"
                    "; export one plain value per cell")
        if (pa.types.is_binary(kind) or pa.types.is_large_binary(kind)
                or pa.types.is_fixed_size_binary(kind) or pa.types.is_binary_view(kind)):
            return (f"column {cut(field_.name, 60)!r} holds bytes ({kind}), not text; export "
                    "it as text")
    return None


#: rows decoded from a Parquet file at a time (:func:`parquet_batches`): what a file whose
#: footer understates its sizes can decode past the memory limit before it is refused
PARQUET_BATCH_ROWS = 1024


def _decoded_bytes(batch: pa.RecordBatch, expanded: bool) -> int:
    """The bytes ``batch``'s cells take decoded: Arrow's own buffers, or with ``expanded`` each
    dictionary-encoded cell at its value's full size (one 1 MB text repeated in 1,000 rows is
    1 GB as Python strings, a few kB in Arrow and on disk), counted without expanding it."""
    import pyarrow.compute as pc

    total = 0
    for column in batch.columns:
        kind = column.type
        if not (expanded and pa.types.is_dictionary(kind)):
            total += column.nbytes
            continue
        values = column.dictionary
        textual = (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
                   or pa.types.is_string_view(values.type))
        sizes = (pc.binary_length(values) if textual else
                 pa.array([max(values.type.bit_width // 8, 1) if pa.types.is_primitive(
                     values.type) else 8] * len(values), pa.int64()))
        taken = pc.sum(pc.take(sizes, column.indices)).as_py() if len(values) else 0
        total += column.indices.nbytes + int(taken or 0)
    return total


def parquet_batches(parquet: pq.ParquetFile, path: Path, need: Callable[[int, int], float],
                    columns: list[str] | None = None, expanded: bool = True
                    ) -> Iterator[pa.RecordBatch]:
    """A Parquet file's rows, :data:`PARQUET_BATCH_ROWS` at a time, refused (a
    :class:`DataError` naming the file) as soon as ``need(rows, decoded)``, the memory the rows
    read so far need given their decoded bytes (:func:`_decoded_bytes`), exceeds what was free
    when reading began. Why: the check before reading trusts the footer, and a footer that
    understates the data (crafted, or one long text dictionary-encoded in many rows: tiny on
    disk and in the footer's sizes, huge decoded) passed it, then decoding the file whole
    exhausted memory. At most one batch is decoded past the limit, never kept."""
    from srmsim.memory import amount, available_bytes

    free = available_bytes()
    declared = sum(parquet.metadata.row_group(i).total_byte_size
                   for i in range(parquet.metadata.num_row_groups))
    rows = decoded = 0
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=columns,
                                      use_threads=False):
        rows += batch.num_rows
        decoded += _decoded_bytes(batch, expanded)
        if free is not None and need(rows, decoded) > free:
            total = parquet.metadata.num_rows
            which = f"its first {rows:,} rows" if rows < total else f"its {rows:,} rows"
            said = amount(declared) if declared >= 2**20 else f"{declared:,} bytes"
            raise DataError(
                f"{path}: {which} decode to {amount(decoded)} (its footer declares {said} "
                f"for all {total:,} rows): "
                f"reading them needs about {amount(need(rows, decoded))} of memory and "
                f"{amount(free)} is free; export fewer rows at a time (a term, or a group of "
                "schools) or use a machine with more memory")
        yield batch


def parquet_frame(source: Any, path: Path, held: int) -> pd.DataFrame:
    """The Parquet file ``source`` (its path, or an Arrow buffer of its bytes) as
    ``pd.read_parquet`` reads it, decoded once, a batch at a time under
    :func:`parquet_batches`' memory check (``held``: the bytes the read holds besides, such as
    the file's; the decoded table and the frame made of it count twice). A dictionary column
    stays one (a category column) and is counted as such. Why: checking the batches and then
    reading the file with pandas decoded it whole twice."""
    import pyarrow.parquet as pq

    with pq.ParquetFile(source) as parquet:
        schema = parquet.schema_arrow
        batches = list(parquet_batches(parquet, path, lambda rows, decoded: held + 2 * decoded,
                                       expanded=False))
    return pa.Table.from_batches(batches, schema=schema).to_pandas()


def _read_parquet(path: Path) -> RawFile:
    """Cells as Arrow holds them (``to_pylist``), not through pandas: pandas turns an integer
    column with a missing value into floats, and pupil id 9007199254740993 was imported as
    9007199254740992, another pupil's id. A pandas index saved without a name is left out.
    Read :data:`PARQUET_BATCH_ROWS` rows at a time, each checked against the memory free
    (:func:`parquet_batches`): the footer's sizes are the file's word, not its cells'."""
    import pyarrow.parquet as pq

    size = path.stat().st_size
    try:
        schema = pq.read_schema(path)
        problem = arrow_schema_problem(schema)
        if problem:
            raise DataError(f"{path}: {problem}")
        with pq.ParquetFile(path) as parquet:
            meta = parquet.metadata
            _check_memory(path, meta.num_rows, meta.num_columns, size)
            index = [c for c in (parquet.schema_arrow.pandas_metadata or {}).get(
                         "index_columns", [])
                     if isinstance(c, str) and c.startswith("__index_level_")]
            names = [n for n in parquet.schema_arrow.names if n not in index]
            cells: list[list[object]] = [[] for _ in names]

            def need(rows: int, decoded: int) -> float:
                # each cell's string and slot (BYTES_PER_CELL, measured on short cells) and
                # its text again where it is longer: held as a Python string, then in the frame
                return (reading_memory(rows, rows * len(names), size)
                        + 2 * max(decoded - rows * len(names) * _SHORT_CELL, 0))

            for batch in parquet_batches(parquet, path, need, names):
                for i, col in enumerate(batch.columns):
                    cells[i].extend(col.to_pylist())
        df = pd.DataFrame({i: pd.Series(c, dtype=object) for i, c in enumerate(cells)},
                          index=range(len(cells[0]) if cells else meta.num_rows))
    except DataError:
        raise
    except Exception as err:  # pyarrow raises several types for a broken file
        from srmsim.inputs import parquet_damage

        raise DataError(f"{path}: {parquet_damage(path, err)}; export or copy it again"
                        ) from None
    return _typed_to_raw(path, df, names)


#: The most an .xlsx may unpack to (its sheets, shared strings and styles together). Larger is
#: most likely a zip bomb; a real export that size reads far faster from CSV or Parquet. The
#: sizes a workbook declares bound what is unpacked: Python's zipfile stops at them.
MAX_EXCEL_BYTES = 1 << 30


def _read_excel(path: Path) -> RawFile:
    """The workbook's one sheet with data: a second one is refused, never silently left out."""
    try:
        with zipfile.ZipFile(path) as book:
            unpacked = sum(member.file_size for member in book.infolist())
            cells_xml = sum(member.file_size for member in book.infolist()
                            if member.filename.startswith(("xl/worksheets/", "xl/sharedStrings")))
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise DataError(f"{path}: not a readable Excel file ({err})") from None
    if unpacked > MAX_EXCEL_BYTES:
        raise DataError(f"{path}: unpacks to {unpacked / 2**30:,.1f} GiB, more than the "
                        f"{MAX_EXCEL_BYTES / 2**30:.0f} GiB read from a workbook; export the "
                        "sheet as CSV or Parquet")
    _check_excel_memory(path, cells_xml)
    try:
        sheets = _excel_sheets(path)
    except ImportError:
        raise DataError(f"{path}: reading Excel needs openpyxl (pip install 'srmsim[data]')"
                        ) from None
    except Exception as err:
        text = " ".join(str(err).split())[:200]
        raise DataError(f"{path}: not a readable Excel file ({text})") from None
    filled = [name for name, df in sheets.items() if len(df.columns) or len(df)]
    if len(filled) > 1:
        shown = ", ".join(repr(cut(str(name), 40)) for name in filled[:5])
        more = f" and {len(filled) - 5} more" if len(filled) > 5 else ""
        raise DataError(f"{path}: {len(filled)} sheets hold data ({shown}{more}); a file holds "
                        "one table: save each sheet as its own file, or delete the others")
    if not sheets:
        raise DataError(f"{path}: the workbook has no sheets")
    title = filled[0] if filled else next(iter(sheets))
    sheet = sheets[title]
    if _holds_formulas(path):
        _refuse_uncalculated(path, title, sheet)
    if len(sheet):
        header = [_cell_text(v) for v in sheet.iloc[0].tolist()]
        body = sheet.iloc[1:].reset_index(drop=True)
    else:
        header, body = [], sheet
    body = body.set_axis(range(len(body.columns)), axis=1)
    return _typed_to_raw(path, body, header)


#: Memory reading a workbook takes per byte of its sheets' XML (and shared strings) unpacked,
#: measured as peak RSS growth of `data validate` (2026-12-07): 43 MB of sheet XML (100,000
#: rows of 9 cells) took 105-150 MB, 149 MB (400,000 rows) 570 MB; rounded down, so that only
#: a workbook that cannot be read is refused.
EXCEL_BYTES_PER_XML_BYTE = 3


def _check_excel_memory(path: Path, cells_xml: int) -> None:
    """Refuse, before it is parsed, a workbook whose cells would not fit in the memory free
    now, as a CSV's and a Parquet file's are (:func:`_check_memory`): a small .xlsx (650 kB)
    unpacking to 142 MiB of sheet XML took 740 MB and 3 minutes, and one within
    :data:`MAX_EXCEL_BYTES` about 5 GB, with no check, until the system killed the command."""
    from srmsim.memory import amount, available_bytes

    free = available_bytes()
    need = EXCEL_BYTES_PER_XML_BYTE * cells_xml
    if free is not None and need > free:
        raise DataError(
            f"{path}: its sheets unpack to {amount(cells_xml)}: reading them needs about "
            f"{amount(need)} of memory and {amount(free)} is free; export the sheet as CSV or "
            "Parquet (read with less memory), fewer rows at a time, or use a machine with more "
            "memory")


def _holds_formulas(path: Path) -> bool:
    """Whether any worksheet of the workbook holds a formula (an ``<f>`` element), read from
    its XML a chunk at a time: only then is the workbook read again for its formulas."""
    with zipfile.ZipFile(path) as book:
        for member in book.infolist():
            if not member.filename.startswith("xl/worksheets/"):
                continue
            with book.open(member) as fh:
                tail = b""
                while chunk := fh.read(1 << 20):
                    text = tail + chunk
                    if b"<f>" in text or b"<f " in text or b"<f/" in text:
                        return True
                    tail = text[-3:]
    return False


def _refuse_uncalculated(path: Path, title: str, sheet: pd.DataFrame) -> None:
    """Refuse a sheet whose formula cells hold no calculated value. Why: a workbook written by
    a program that does not calculate (a script's export, a report generator) keeps only the
    formulas; Excel shows their values once it calculates, but a reader sees none, and each was
    read as an empty cell: a missing value, silently. Not counted (a count of cells may be a
    count of pupils): named by its column and first cell."""
    import openpyxl
    from openpyxl.utils import get_column_letter

    book = openpyxl.load_workbook(path, read_only=True, data_only=False, keep_links=False)
    try:
        ws = book[title]
        if hasattr(ws, "reset_dimensions"):
            ws.reset_dimensions()
        first: dict[int, str] = {}  # column -> its first uncalculated cell
        width = len(sheet.columns)
        for i, row in enumerate(ws.iter_rows(values_only=True)):
            for j, value in enumerate(row):
                formula = (isinstance(value, str) and value.startswith("=")) or \
                    type(value).__name__ in ("ArrayFormula", "DataTableFormula")
                empty = i >= len(sheet) or j >= width or sheet.iat[i, j] == ""
                if formula and empty and j not in first:
                    first[j] = f"{get_column_letter(j + 1)}{i + 1}"
    finally:
        book.close()
    if not first:
        return
    header = [_cell_text(v) for v in sheet.iloc[0].tolist()] if len(sheet) else []
    named = [f"{cut(header[j], 40)!r} (from {ref})" if j < len(header) and header[j]
             else f"column {get_column_letter(j + 1)} (from {ref})"
             for j, ref in sorted(first.items())[:5]]
    more = f" and {len(first) - 5} more columns" if len(first) > 5 else ""
    raise DataError(f"{path}: formula cells hold no calculated value in {', '.join(named)}"
                    f"{more}: the workbook was saved by a program that does not calculate "
                    "formulas, and they would be read as empty; open it in Excel or LibreOffice "
                    "and save it (which calculates them), or export the sheet as CSV")


def _excel_sheets(path: Path) -> dict[str, pd.DataFrame]:
    """Every worksheet's cells as Python values, the header row among them.

    Read with openpyxl, not ``pd.read_excel``: pandas turns an error cell (``#DIV/0!``,
    ``#REF!``, ``#VALUE!``) into "no value", so a broken formula in an optional column was
    imported as a missing value, where the same export as CSV is a ``wrong_type`` reject. Its
    text is kept, as in a CSV file. Like pandas (``header=None``, no NA words): the header is
    read as cells, so two columns of one name are seen as such, and 'NA' or 'null' mean "no
    value" only if the mapping's missing_values say so; empty cells ending a row and empty
    rows ending the sheet are left out.
    """
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=True, keep_links=False)
    try:
        sheets = {}
        for ws in book.worksheets:
            if hasattr(ws, "reset_dimensions"):  # a wrong <dimension> must not cut the sheet
                ws.reset_dimensions()
            rows: list[list[object]] = []
            last = -1
            for i, row in enumerate(ws.iter_rows(values_only=True)):
                cells = ["" if v is None else v for v in row]
                while cells and cells[-1] == "":
                    cells.pop()
                if cells:
                    last = i
                rows.append(cells)
            rows = rows[:last + 1]
            width = max((len(r) for r in rows), default=0)
            sheets[ws.title] = pd.DataFrame([r + [""] * (width - len(r)) for r in rows],
                                            columns=range(width), dtype=object)
    finally:
        book.close()
    return sheets


def trim_cells(cells: pd.Series) -> pd.Series:
    """``cells`` with the white space around each text cell removed, as import reads every
    cell (other values, and missing ones, left as they are). The one trimming of cells: a
    command reading a Parquet export itself (``srmsim thresholds``) trims with it, so that ' F ' and
    'F' are one group, and ' S1' and 'S1' one school, whichever command reads the file."""
    if cells.dtype == object:  # (text beside numbers or None: only the text is trimmed)
        return cells.map(lambda v: v.strip() if isinstance(v, str) else v, na_action="ignore")
    return cells.str.strip()


def _finish(raw: RawFile, missing_values: tuple[str, ...]) -> None:
    """Trim cells (:func:`trim_cells`), turn missing tokens into NA and drop (but count) blank
    rows."""
    frame = raw.frame
    for c in frame.columns:
        s = trim_cells(frame[c])
        frame[c] = s.where(~s.isin(list(missing_values)) & (s != ""))
    if len(frame.columns):
        blank = np.array(frame.isna().all(axis=1).to_numpy(), dtype=bool)
    else:
        blank = np.ones(len(frame), dtype=bool)
    structural_rows = set(raw.structural.tolist()) if raw.structural is not None else set()
    if structural_rows:
        blank[list(structural_rows)] = False
    if blank.any():
        keep = ~blank
        old_to_new = np.cumsum(keep) - 1
        raw.blank_rows = int(blank.sum())
        raw.frame = frame.loc[keep].reset_index(drop=True)
        raw.rows = raw.rows[keep]
        raw.structural = np.asarray([old_to_new[i] for i in sorted(structural_rows)],
                                    dtype=np.int64)
    else:
        raw.frame = frame
    _nul_cells(raw)


def _nul_cells(raw: RawFile) -> None:
    """A NUL character in a cell is a corrupt export (or a UTF-16 file read as 8-bit text),
    never part of a value: the row is rejected, not imported with an id such as 'S\\x001'."""
    skip = set(raw.structural.tolist()) if raw.structural is not None else set()
    for c in raw.frame.columns:
        hit = raw.frame[c].str.contains("\x00", regex=False).fillna(False).to_numpy(dtype=bool)
        for i in np.flatnonzero(hit):
            if int(i) in skip:
                continue
            cell = str(raw.frame.iat[i, c])
            raw.problems.append({"row": int(raw.rows[i]), "col": c,
                                 "value": cut(cell.replace("\x00", "\\x00"), MAX_SHOWN),
                                 "rule": "bad_encoding",
                                 "message": "holds a NUL byte (0x00): the file is corrupt or "
                                            "not in the declared encoding"})
