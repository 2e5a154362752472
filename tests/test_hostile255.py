"""Hostile-input sweep 255: `srmsim thresholds` reads a CSV through import's reader
(:func:`srmsim.data.readers.read_raw`), so that `srmsim data validate` and thresholds give one
file one verdict and name the same row and column; and three leftovers of the last review."""

from __future__ import annotations

import codecs
import sys
from pathlib import Path

import pytest

from srmsim.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from conftest import cli_refuses  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

HEADER = "student_id,school,year_group,age_months,prior_attainment,fsm"


def _rows() -> list[str]:
    """200 pupils of 4 schools, a valid students table whose prior attainment predicts fsm
    well enough for thresholds to publish a threshold from real data."""
    return [f"P{i:03d},S{i % 4},8,150,{(i * 37) % 100},"
            f"{int(((i * 37) % 100 < 40) != (i % 7 == 0))}" for i in range(200)]


def _text(rows: list[str], header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def _changed(row: int, cell: int, value: str) -> str:
    """The file with the cell ``cell`` of row ``row`` (the header is row 1) set to ``value``."""
    rows = _rows()
    cells = rows[row - 2].split(",")
    cells[cell] = value
    rows[row - 2] = ",".join(cells)
    return _text(rows)


def _missing_scores() -> str:
    rows, left_out = _rows(), {"0": 0, "1": 0}
    for i, row in enumerate(rows):  # 10 with the outcome, 10 without: thresholds may leave
        cells = row.split(",")      # them out (fewer it refuses, as their count would show)
        if left_out[cells[5]] < 10:
            left_out[cells[5]] += 1
            rows[i] = ",".join([*cells[:4], "NaN", cells[5]])
    return _text(rows)


#: name: (the file's bytes, what both commands say: None (both read it), a message (both
#: refuse it in these words), (row, column) (both name it) or the two column names)
CASES: dict[str, tuple[bytes, object]] = {
    "utf16": (_text(_rows()).encode("utf-16"),
              "UTF-16 text (it starts with a UTF-16 byte-order mark), not UTF-8"),
    "utf8-bom": (codecs.BOM_UTF8 + _text(_rows()).encode(), None),
    "latin1-byte": (_changed(3, 1, "S\xe9").encode("latin-1"), (3, "school")),
    "case-duplicates": (_text([r + ",a,b" for r in _rows()], HEADER + ",Comment,comment"
                              ).encode(), ("'Comment'", "'comment'")),
    "duplicates": (_text([r + ",a,b" for r in _rows()], HEADER + ",notes,notes").encode(),
                   ("'notes'", "'notes'")),
    "open-quote": (_changed(2, 1, '"S1').encode(),
                   'row 2: a quote (") opened in it is never closed'),
    "nan-cells": (_missing_scores().encode(), None),
    "inf-cell": (_changed(2, 4, "inf").encode(), (2, "prior_attainment")),
    "1e400-cell": (_changed(2, 4, "1e400").encode(), (2, "prior_attainment")),
    "empty": (b"", "the file is empty (no header row)"),
    "header-only": ((HEADER + "\n").encode(), "has column names but no rows"),
    "title-line": (("Pupil list summer term\n" + _text(_rows())).encode(),
                   "row 1 holds one cell and row 2 holds 6"),
    "semicolons": (_text(_rows()).replace(",", ";").encode(),
                   "the header is one column holding semicolons"),
}


def _said(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    status = main(argv)
    out = capsys.readouterr()
    assert "Traceback" not in out.err, out.err
    return status, out.out, out.err


@pytest.mark.parametrize("case", list(CASES))
def test_thresholds_and_validate_give_a_csv_one_verdict(tmp_path: Path, capsys, case: str):
    """Was: a UTF-16 file had two wordings, two columns differing in case only were refused
    by thresholds and passed by validate (neither mapped), and a quote left open on row 2 was
    a refused file to thresholds and one rejected row (of 1 read) to validate."""
    data, says = CASES[case]
    path = tmp_path / "pupils.csv"
    path.write_bytes(data)
    out = tmp_path / "out"
    validate = _said(capsys, ["data", "validate", "--students", str(path), "--show", "5"])
    thresholds = _said(capsys, ["thresholds", str(path), "--score", "prior_attainment",
                                "--outcome", "fsm", "--n-boot", "40", "--out", str(out)])
    if says is None:
        assert validate[0] == thresholds[0] == 0, (validate, thresholds)
        assert (out / "thresholds.csv").is_file()
        return
    assert validate[0] == thresholds[0] == 2, (validate, thresholds)
    assert not out.exists()
    t_err = thresholds[2]
    if isinstance(says, str):  # refused whole: in one line, the same from both
        assert t_err.startswith(f"srmsim: error: {path}: ") and says in t_err, t_err
        assert validate[2] == t_err
    elif isinstance(says[0], int):  # a row: named by both (validate's report, file:row column)
        row, column = says
        assert f"{path.name}:{row} {column}" in validate[1], validate[1]
        assert f"row {row}" in t_err and f"'{column}'" in t_err, t_err
    else:  # a pair of columns: named by both
        for name in says:
            assert name in validate[1] and name in t_err, (validate[1], t_err)
        assert "duplicate_column" in validate[1]


@pytest.mark.parametrize(("text", "refused"), [
    ('a,b\n1,"x\ny"\n2,3\n', False),  # a quoted line break, closed
    ('a,b\n1,"x\n"\n', False),  # a quoted cell ending in a line break, closed
    ('a,b\n1,x"y\n2,3\n', False),  # a quote inside a cell is a character
    ('a,b\n1,"x""\n', True),  # a doubled quote is a quote: the cell is still open
    ('a,b\n1,"x"""\n', False),
    ('a,b\r\n1,"x\r\n2,3\r\n', True),
    ('a,b\n1,2\n3,"4', True),  # on the last line, no line end
])
def test_a_quote_left_open_is_refused_by_its_row_only_when_open(tmp_path: Path, text: str,
                                                                 refused: bool):
    from srmsim.data.readers import read_raw
    from srmsim.errors import DataError

    path = tmp_path / "t.csv"
    path.write_bytes(text.encode())
    if refused:
        with pytest.raises(DataError, match=r"row \d: a quote .* never closed"):
            read_raw(path)
    else:
        assert read_raw(path).n_rows >= 1


def test_thresholds_types_columns_as_pandas_read_them(tmp_path: Path):
    """Read through import's reader, each column keeps the type ``pd.read_csv`` gave it (so
    thresholds' results on a good file are unchanged): whole numbers, numbers with a missing
    one, booleans, booleans with a missing one, text, a column of missing cells, and two
    columns without a name."""
    import pandas as pd

    from srmsim.commands.thresholds import load_frame
    from srmsim.data.mapping import DEFAULT_MISSING

    path = tmp_path / "t.csv"
    path.write_text("n,x,b,bm,t,e,m,,\n1,0.1,True,false,S1,,3,,\n2,NA,false,,S 2,,x,,1\n"
                    "3,1e-3,TRUE,true,S1,,4,,\n", encoding="utf-8")
    ours, _ = load_frame(path)
    theirs = pd.read_csv(path, keep_default_na=False, na_values=list(DEFAULT_MISSING))
    assert list(ours.index) == [2, 3, 4]
    pd.testing.assert_frame_equal(ours.reset_index(drop=True), theirs)


@pytest.mark.parametrize("kind", ["calibration", "discovery"])
def test_an_analysis_folder_is_known_by_its_files_without_its_marker_keys(tmp_path, capsys,
                                                                          kind: str):
    """A calibration's or discovery's folder whose fit.json / discovery.json lacks the keys
    (written by hand, edited, or too large to read) was no result folder to the --out check:
    `srmsim run --out` wrote into it. The marker beside the other files its command writes
    is recognised by their names, nothing read; the marker alone, holding other keys, is a
    folder of the user's."""
    from srmsim.calibrate.report import REPORT_FILES
    from srmsim.errors import SrmsimError
    from srmsim.explore.discovery import DISCOVERY_FILES
    from srmsim.outputs import ANALYSIS_MARKERS, MAX_MARKER_BYTES, check_out_of_results

    written = set(REPORT_FILES.values()) if kind == "calibration" else set(DISCOVERY_FILES)
    marker = ANALYSIS_MARKERS[kind]
    folder = tmp_path / kind
    folder.mkdir()
    (folder / marker).write_text('{"fit": 1}')
    check_out_of_results(folder / "sub")  # the user's own folder: not refused
    for name in written - {marker}:
        (folder / name).write_text("x\n")
    for text in ('{"fit": 1}', " " * (MAX_MARKER_BYTES + 1) + "{}"):
        (folder / marker).write_text(text)
        with pytest.raises(SrmsimError, match=f"inside the {kind} folder {folder}"):
            check_out_of_results(folder / "sub")
    before = sorted(p.name for p in folder.iterdir())
    out = folder / "sub"
    cli_refuses(capsys, ["run", str(REPO / "scenarios" / "attendance_escalation_small.yaml"),
                         "--quiet", "--out", str(out)], f"inside the {kind} folder {folder}")
    assert sorted(p.name for p in folder.iterdir()) == before
    (folder / sorted(written - {marker})[0]).unlink()  # one file short: by its marker alone
    check_out_of_results(folder / "sub")


def test_report_out_naming_a_folder_is_refused_naming_the_folder(tmp_path, capsys):
    """`srmsim report DIR --out FOLDER`: --out names the report file (docs/reports.md). A
    folder inside the result was refused by the nesting check as "--out FOLDER/report.html",
    a file never asked for; now any folder is refused first, named as given, nothing written."""
    import json

    from conftest import folder_bytes

    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"scenario_hash": "x", "srmsim_version": "0"}))
    (run / "sub").mkdir()
    (tmp_path / "elsewhere").mkdir()
    before = folder_bytes(tmp_path)
    for out in (run / "sub", tmp_path / "elsewhere", run):
        err = cli_refuses(capsys, ["report", str(run), "--out", str(out)],
                          f"--out {out}: a folder; --out names the report file to write "
                          f"(e.g. {out / 'report.html'})")
        assert f"{out / 'report.html'}:" not in err and "inside" not in err
    assert folder_bytes(tmp_path) == before


def test_an_ignored_pair_of_columns_one_once_case_is_ignored_is_no_duplicate(tmp_path, capsys):
    """The mapping's ``ignore`` names columns never imported: a pair of them is read as
    before (validate rejects an unmapped pair it does not ignore, as thresholds refuses it)."""
    from srmsim.yamlio import dump_yaml

    path = tmp_path / "pupils.csv"
    path.write_bytes(CASES["case-duplicates"][0])
    mapping = tmp_path / "map.yaml"
    mapping.write_text(dump_yaml({"students": {"ignore": ["comment"]}}))
    assert main(["data", "validate", "--students", str(path), "--mapping", str(mapping)]) == 0
    assert "duplicate_column" not in capsys.readouterr().out
