"""Output folders and readers that differed between commands, sweep 252 (2026-12-07).

- The folders of ``srmsim calibrate``, ``discover`` and ``thresholds`` were no result folders to
  the shared --out check: ``data import --out CALIBRATION/x`` or ``run --out DISCOVERY/x`` was
  allowed.
- ``srmsim data summary --out FILE`` was not checked at all: a summary table could be written
  among a run's or a study's files.
- ``srmsim thresholds`` read a CSV cell of 140,000 characters (past Python's csv limit: a quote
  left open) with pandas, which has no limit, and analysed the file; ``data import`` refuses it,
  naming its row; a semicolon-separated file and one with a title above its header were
  refused in other words than import's.

(``srmsim trial --resume`` on a damaged store: tests/test_trial_hostile_review.py, beside the
trial it resumes.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import cli_refuses, folder_bytes

from srmsim.cli import main
from srmsim.errors import SrmsimError
from srmsim.outputs import check_out_of_results, csv_text

REPO = Path(__file__).resolve().parents[1]


def _analysis_folders(tmp_path: Path) -> dict[str, Path]:
    """A calibration's, a discovery's and a thresholds report's folder, each with its marker
    as srmsim writes it (thresholds.csv: the very header of a threshold table)."""
    import pandas as pd

    from srmsim.risk import threshold_table

    table = threshold_table(pd.DataFrame({"att": [0.8, 0.95, 0.7], "left": [True, False, False]}),
                            "att", "left", thresholds=[0.9])
    markers = {"calibration": ("fit.json", json.dumps({"parameters": [], "optimiser": {}})),
               "discovery": ("discovery.json", json.dumps({"condition": "x < 1",
                                                            "variant": "on"})),
               "thresholds": ("thresholds.csv", csv_text(table))}
    made = {}
    for kind, (marker, text) in markers.items():
        folder = made[kind] = tmp_path / kind
        folder.mkdir()
        (folder / marker).write_text(text)
    return made


def test_no_output_is_nested_in_a_calibration_discovery_or_thresholds_folder(tmp_path, capsys):
    folders = _analysis_folders(tmp_path)
    (tmp_path / "pupils.csv").write_text("student_id,school,year_group\nS1,A,7\nS2,A,8\n")
    before = folder_bytes(tmp_path)
    for kind, folder in folders.items():
        out = folder / "sub"
        for argv in (["data", "import", "--students", str(tmp_path / "pupils.csv")],
                     ["run", str(REPO / "scenarios" / "attendance_escalation_small.yaml"),
                      "--quiet"]):
            err = cli_refuses(capsys, [*argv, "--out", str(out)],
                              f"--out {out}: inside the {kind} folder {folder}, another result")
            assert "give a folder outside any result folder (nothing was written)" in err
    assert folder_bytes(tmp_path) == before
    assert not any(p.name == "sub" for p in tmp_path.rglob("*"))


def test_an_analysis_folder_is_known_by_srmsims_own_marker(tmp_path):
    """A folder of the user's own with a fit.json or thresholds.csv is no calibration; the
    command's own earlier folder may be replaced (``own``), another kind may not."""
    folders = _analysis_folders(tmp_path)
    for folder, theirs in ((folders["calibration"], '{"fit": 1}'),
                           (folders["thresholds"], "threshold,score\n0.9,1\n")):
        marker = next(folder.iterdir())
        ours = marker.read_text()
        marker.write_text(theirs)
        check_out_of_results(folder / "x")  # not refused
        marker.write_text(ours)
        with pytest.raises(SrmsimError, match="inside the"):
            check_out_of_results(folder / "x")
    run = tmp_path / "run"
    (run / "thresholds").mkdir(parents=True)
    earlier = folders["thresholds"] / "thresholds.csv"
    (run / "thresholds" / "thresholds.csv").write_bytes(earlier.read_bytes())
    check_out_of_results(run / "thresholds", run, own="thresholds")  # its earlier report
    with pytest.raises(SrmsimError, match="inside the thresholds folder"):
        check_out_of_results(run / "thresholds", run, own="discovery")



def test_report_names_an_analysis_folder_for_what_it_is(tmp_path, capsys):
    """`srmsim report` of a calibration, discovery or thresholds folder said "not a result
    folder", where the --out check calls it another result: it names the folder's command."""
    for kind, folder in _analysis_folders(tmp_path).items():
        command = {"calibration": "calibrate", "discovery": "discover"}.get(kind, kind)
        err = cli_refuses(capsys, ["report", str(folder)],
                          f"{folder}: the {kind} folder of `srmsim {command}`")
        assert "not a result folder" not in err
        assert not (folder / "report.html").exists()


def test_a_data_summary_file_is_written_in_no_result_folder(tmp_path, capsys):
    """`srmsim data summary --out FILE` asks the shared nesting check, as every other output."""
    from conftest import small_record_trust

    from srmsim.data.dataset import write_dataset

    data = tmp_path / "data"
    write_dataset(small_record_trust(), data)
    folders = _analysis_folders(tmp_path)
    run = folders["run"] = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"srmsim_version": "1"}))
    before = folder_bytes(tmp_path)
    for kind, folder in folders.items():
        for out in (folder / "summary.csv", folder / "deeper" / "summary.csv"):
            err = cli_refuses(capsys, ["data", "summary", str(data), "--out", str(out)],
                              f"--out {out}: inside the {kind} folder {folder}, another result")
            assert "give a file outside any result folder (nothing was written)" in err
    assert folder_bytes(tmp_path) == before
    assert main(["data", "summary", str(data), "--out", str(tmp_path / "summary.csv")]) == 0
    assert (tmp_path / "summary.csv").is_file()




_ROWS = ["student_id,school,attendance_rate,withdrawn"] + [
    f"S{i},A,{0.8 + i / 100},{i % 3 == 0}" for i in range(12)]
_LONG = "x" * 140_000
#: files import refuses as a whole, and what it says (after the file's name)
_REFUSED = {
    "long cell, row 1": ([_ROWS[0].replace(",school,", f",{_LONG},"), *_ROWS[1:]],
                         "row 1: a cell longer than 131,072 characters"),
    "long cell, row 2": ([_ROWS[0], _ROWS[1].replace(",A,", f",{_LONG},"), *_ROWS[2:]],
                         "row 2: a cell longer than 131,072 characters"),
    "long cell, row 7": ([*_ROWS[:6], _ROWS[6].replace(",A,", f",{_LONG},"), *_ROWS[7:]],
                         "row 7: a cell longer than 131,072 characters"),
    "semicolons": ([r.replace(",", ";") for r in _ROWS],
                   "the header is one column holding semicolons"),
    "a title row": (["Attendance export autumn term", *_ROWS],
                    "row 1 holds one cell and row 2 holds 4"),
}


@pytest.mark.parametrize("case", _REFUSED)
def test_thresholds_refuses_a_csv_as_import_does_in_its_words(tmp_path, capsys, case):
    """The same file, the same refusal (its row, import's sentence) from both commands:
    thresholds' pandas reader analysed a 140,000-character cell (past Python csv's limit, a
    quote left open), called a semicolon file's score "not found", and a title above the
    header "a value beyond the header's 1 columns"."""
    lines, problem = _REFUSED[case]
    path = tmp_path / "students.csv"
    path.write_text("\n".join(lines) + "\n")
    said = f"{path}: {problem}"
    import_err = cli_refuses(capsys, ["data", "validate", "--students", str(path)], said)
    err = cli_refuses(capsys, ["thresholds", str(path), "--score", "attendance_rate",
                               "--outcome", "withdrawn", "--out", str(tmp_path / "t")], said)
    assert err == import_err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["students.csv"]
