"""Hostile input and folders, sweep 249 (2026-12-07).

- ``srmsim data validate/import/anonymise --out X`` with X inside a run's or a study's folder
  was allowed (only dataset folders were checked); a ``data validate --out`` folder (rejects.csv
  and summary.json) was taken for no result at all, so a run could be nested in it.
- ``srmsim report --out`` kept a nesting rule of its own ("the optimise folder", a user's own
  manifest.json taken for a study).
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import cli_refuses, folder_bytes, small_record_trust

from srmsim.cli import main

KEY = "a-test-key-that-is-long-enough-1"


def _result_folders(tmp_path: Path, capsys) -> dict[str, Path]:
    """A run's, an experiment's and an optimisation's folder as their marker files mark them
    (srmsim's own: holding the keys it writes), and a reject report of `data validate`."""
    made = {}
    for kind, marker, key in [("run", "summary.json", "srmsim_version"),
                              ("experiment", "manifest.json", "experiment_hash"),
                              ("optimisation", "optimise.json", "hash")]:
        folder = made[kind] = tmp_path / kind
        folder.mkdir()
        (folder / marker).write_text(json.dumps({key: "x"}))
    (tmp_path / "pupils.csv").write_text("student_id,school,year_group\nS1,A,7\nS2,A,8\n")
    main(["data", "validate", "--students", str(tmp_path / "pupils.csv"), "--out",
          str(tmp_path / "rejects")])
    made["reject report"] = tmp_path / "rejects"
    capsys.readouterr()
    return made


def test_data_outputs_inside_a_result_folder_are_refused(tmp_path, capsys, monkeypatch):
    from srmsim.data.dataset import write_dataset

    folders = _result_folders(tmp_path, capsys)
    data = tmp_path / "data"
    write_dataset(small_record_trust(), data)
    monkeypatch.setenv("SRMSIM_TEST_KEY", KEY)
    pupils = str(tmp_path / "pupils.csv")
    before = folder_bytes(tmp_path)
    for kind, folder in folders.items():
        out = folder / "sub"
        for argv in (["data", "validate", "--students", pupils, "--out", str(out)],
                     ["data", "import", "--students", pupils, "--out", str(out)],
                     ["data", "anonymise", str(data), "--out", str(out), "--key-env",
                      "SRMSIM_TEST_KEY"],
                     ["data", "rdataset", "MASS", "nlschools", "--out", str(out)]):
            err = cli_refuses(capsys, argv, f"--out {out}: inside the {kind} folder {folder}")
            assert "give a folder outside any result folder (nothing was written)" in err
            assert not out.exists()
    # a reject report is named as one, never as a run's folder (its summary.json is no run's)
    cli_refuses(capsys, ["run", "--out", str(folders["reject report"] / "sub")],
                "inside the reject report folder")
    assert folder_bytes(tmp_path) == before


def test_a_report_file_is_checked_by_the_shared_rule(tmp_path, capsys):
    """`srmsim report --out` asks the one check every command asks: "the optimisation
    folder" (not "optimise folder"), and a folder of the user's own with a manifest.json that
    srmsim did not write is no study."""
    folders = _result_folders(tmp_path, capsys)
    run = folders["run"]
    for name in ("students.parquet", "weekly.parquet"):  # (never read: refused before)
        (run / name).write_bytes(b"")
    target = folders["optimisation"] / "r.html"
    err = cli_refuses(capsys, ["report", str(run), "--out", str(target)],
                      f"inside the optimisation folder {folders['optimisation']}, another "
                      f"result than {run}")
    assert "optimise folder" not in err
    cli_refuses(capsys, ["report", str(run), "--out", str(run / "deeper" / "r.html")],
                f"inside {run}'s deeper/ folder, which srmsim reads and writes itself")
    project = tmp_path / "project"  # a web extension's manifest.json: not srmsim's
    project.mkdir()
    (project / "manifest.json").write_text('{"name": "an extension"}')
    # not refused as a study's folder: it fails later, reading the (empty) run files
    assert main(["report", str(run), "--out", str(project / "r.html")]) == 2
    assert "inside the" not in capsys.readouterr().err


# ------------------------------------------------------------ a resume that fails changes nothing
def _tiny_experiment(tmp_path: Path, outcomes: str = "[attendance]", run: bool = True
                     ) -> tuple[Path, Path]:
    """A two-variant, two-replication experiment of a 1-school trust, finished if ``run``."""
    (tmp_path / "s.yaml").write_text("name: tiny\ntrust: {n_schools: 1, students_per_year_group: "
                                     "10}\noutputs: {history: none}\n")
    (tmp_path / "e.yaml").write_text(
        f"name: e1\nscenario: s.yaml\nbaseline: none\noutcomes: {outcomes}\nreplications: 2\n"
        "variants:\n  none: {}\n  more: {trust: {n_schools: 2}}\n")
    out = tmp_path / "ex"
    assert not run or main(["experiment", str(tmp_path / "e.yaml"), "--out", str(out), "--quiet",
                 "--workers", "1", "--no-report"]) == 0
    return tmp_path / "e.yaml", out


def test_a_resume_over_a_damaged_detail_file_leaves_the_folder_as_it_was(tmp_path, capsys):
    """A truncated detail file: the resume added a session to manifest.json, then failed at
    the report. Now refused before the session, naming the file and the repair."""
    exp, out = _tiny_experiment(tmp_path)
    capsys.readouterr()
    detail = out / "detail" / "more" / "rep-00001-weekly.parquet"
    detail.write_bytes(detail.read_bytes()[:100])
    before = folder_bytes(out, skip=(".srmsim.lock",))
    resume = ["experiment", str(exp), "--out", str(out), "--quiet", "--workers", "1", "--resume"]
    err = cli_refuses(capsys, resume, f"{detail}: not the detail file its run wrote (truncated")
    assert "then run: srmsim experiment" in err
    assert folder_bytes(out, skip=(".srmsim.lock",)) == before
    detail.unlink()  # deleted: named as missing, and nothing changed either
    cli_refuses(capsys, resume, f"{detail}: missing, but its run is stored")
    assert json.loads((out / "manifest.json").read_bytes()) == json.loads(
        before["manifest.json"])



def test_a_search_whose_study_was_deleted_is_not_searched_again_silently(tmp_path, capsys):
    """study.db deleted from a finished search: the resume made a new study, asked its
    candidates again and took the stored runs of trial-00000... as theirs by name, exit 0."""
    from test_spec_fuzz_validation import optimisation

    from srmsim.explore.optimise import load_optimisation

    path = optimisation(tmp_path, search={"trials": 4, "batch": 2})
    out = tmp_path / "op"
    run = out / "search" / "runs" / "trial-00000" / "rep-00000.parquet"
    run.parent.mkdir(parents=True)
    run.write_bytes(b"PAR1")  # (never read: refused before)
    (out / "optimise.json").write_text(json.dumps(
        {"name": "o", "hash": load_optimisation(path).digest(), "finished": "2026-12-07"}))
    before = folder_bytes(out)
    for resume in (["--resume"], []):
        cli_refuses(capsys, ["optimise", str(path), "--out", str(out), "--quiet", "--workers",
                             "1", *resume],
                    f"{out / 'study.db'}: missing, but the search's runs are stored")
        assert folder_bytes(out, skip=(".srmsim.lock",)) == before


def test_a_custom_outcome_beyond_what_srmsim_stores_says_why_it_is_not_measured(tmp_path,
                                                                                 capsys):
    """Its value past 1e150 is stored as missing: the table said "not measured" with no word
    of why, as if its group were empty."""
    exp, out = _tiny_experiment(tmp_path, "[attendance, {name: huge, statistic: mean, of: "
                                "'attendance_rate * 1e160'}, {name: empty, statistic: mean, "
                                "of: attendance_rate, where: 'attendance_rate > 2'}]", run=False)
    assert main(["experiment", str(exp), "--out", str(out), "--quiet", "--workers", "1",
                 "--no-report"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "huge – – – – – not measured: beyond ±1e150" in out, out
    assert ("'more' huge: 0 of 2 replications (in 2 replications its value was beyond ±1e150, "
            "more than srmsim stores: rescale the outcome's expression)") in out
    # an empty group is unmeasured for its own reason, and not said to be too large
    assert "empty – – – – – not measured note:" in out
    assert "'more' empty: 0 of 2 replications (the others have no finite value in both runs)" \
        in out



def test_run_names_the_scenario_key_of_a_bad_arrivals_file(tmp_path, capsys):
    """`srmsim run` named only the CSV; `srmsim validate` named the key too: both say it."""
    (tmp_path / "arrivals.csv").write_text("day\n1\nsoon\n")
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: desk\ntrust: {n_schools: 0}\nrequests:\n  cert:\n    arrivals: "
                        "{file: arrivals.csv}\n    steps: [{name: a, role: clerk, minutes: 30}]\n"
                        "    staff: {clerk: {staff: 1}}\n")
    says = (f"srmsim: error: {scenario}: requests.cert.arrivals.file: "
            f"{tmp_path / 'arrivals.csv'}: row 3: day must be a finite number >= 0 (got 'soon')")
    for argv in (["validate", str(scenario)],
                 ["run", str(scenario), "--out", str(tmp_path / "o"), "--quiet"]):
        assert " ".join(cli_refuses(capsys, argv, "requests.cert.arrivals.file").split()) \
            == says
    assert not (tmp_path / "o").exists()


def test_control_characters_in_a_scenarios_labels_are_refused(tmp_path, capsys):
    """`trust.name` and descriptions took ANSI escapes, NUL and (in a name) newlines, which
    drove the terminal that printed them and broke the report's lines."""
    for key, text, says in [
        ("trust", '{name: "A\\x1b[2J trust"}', "trust.name: holds the control character U+001B"),
        ("trust", '{name: "two\\nlines"}', "trust.name: holds the control character U+000A"),
        ("description", '"text\\0"', "description: holds the control character U+0000"),
        ("requests", '{s1: {description: "\\x1b[31mred", arrivals: {per_week: 1}, steps: '
         '[{name: a, role: clerk, minutes: 5}], staff: {clerk: {staff: 1}}}}',
         "requests.s1.description: holds the control character U+001B"),
    ]:
        path = tmp_path / "s.yaml"
        path.write_text(f"name: x\n{key}: {text}\n")
        cli_refuses(capsys, ["validate", str(path)], f"{path}: {says}")
    path.write_text('name: x\ntrust: {n_schools: 1}\ndescription: "line one\\n\\tline two"\n')
    assert main(["validate", str(path)]) == 0  # lines and tabs in a description are text



def test_a_damaged_parquet_file_is_named_in_srmsims_words(tmp_path, capsys):
    """A Parquet file cut short (it starts with PAR1) got Arrow's "Parquet magic bytes not found
    in footer. Either the file is corrupted or ...", command by command."""
    import pandas as pd

    from srmsim.data.dataset import write_dataset
    from srmsim.inputs import parquet_damage

    good = tmp_path / "good.parquet"
    pd.DataFrame({"student_id": [f"S{i}" for i in range(30)], "school": "A", "year_group": 7,
                  "score": range(30), "out": [i % 2 == 0 for i in range(30)]}).to_parquet(good)
    whole = good.read_bytes()
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(whole[: len(whole) // 2])
    broken = tmp_path / "broken.parquet"  # both ends, a broken footer between
    broken.write_bytes(whole[:-12] + b"\xff" * 8 + whole[-4:])
    other = tmp_path / "other.parquet"
    other.write_text("student_id,school\nS1,A\n")
    err = ValueError("Parquet magic bytes not found in footer")
    assert parquet_damage(cut, err).startswith("a damaged Parquet file: it starts as one but "
                                               "its end is missing")
    assert parquet_damage(broken, err).startswith("a damaged Parquet file: its description of "
                                                  "its columns or its data cannot be read")
    assert parquet_damage(other, err).startswith("not a Parquet file")
    data = tmp_path / "data"
    write_dataset(small_record_trust(), data)
    (data / "students.parquet").write_bytes(cut.read_bytes())
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"name: r\npopulation: {{records: {cut}}}\n")
    damaged = "a damaged Parquet file: it starts as one but its end is missing (a copy or "
    for argv, path in [(["data", "validate", "--students", str(cut)], cut),
                       (["thresholds", str(cut), "--score", "score", "--outcome", "out",
                         "--out", str(tmp_path / "th")], cut),
                       (["data", "summary", str(data)], data / "students.parquet"),
                       (["validate", str(scenario)], cut)]:
        err_text = cli_refuses(capsys, argv, damaged)
        assert str(path) in err_text and "magic bytes" not in err_text


def test_formula_cells_without_a_calculated_value_are_refused(tmp_path, capsys):
    """A workbook saved by a program that does not calculate keeps only its formulas: each was
    read as an empty cell (a missing FSM), silently. Refused, naming the column and the first
    cell (not counted: a count of cells may be one of pupils); calculated, they are read."""
    import re
    import zipfile

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["student_id", "school", "year_group", "age_months", "fsm"])
    for i in range(12):
        sheet.append([f"S{i}", "A", 7, 140, "=1=1"])
    raw = tmp_path / "raw.xlsx"
    book.save(raw)
    cli_refuses(capsys, ["data", "validate", "--students", str(raw)],
                f"{raw}: formula cells hold no calculated value in 'fsm' (from E2): the "
                "workbook was saved by a program that does not calculate formulas")
    saved = tmp_path / "saved.xlsx"  # as Excel saves it: each formula with its value
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(saved, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.startswith("xl/worksheets/"):
                data = re.sub(rb'(<c r="E\d+")><f>1=1</f><v ?/>', rb'\1 t="b"><f>1=1</f><v>1</v>',
                              data)
            dst.writestr(item, data)
    assert main(["data", "validate", "--students", str(saved)]) == 0, capsys.readouterr().err
    from srmsim.data.readers import read_raw

    assert read_raw(saved).frame[4].tolist() == ["true"] * 12  # the values Excel calculated


def test_a_csv_cell_past_the_readers_limit_is_named_by_file_and_row(tmp_path, capsys):
    """Python's csv said "field larger than field limit (131072)", on the line it had reached:
    a quote left open runs on over the rows after it, to that limit."""
    head = "student_id,school,year_group,age_months,notes\nS1,A,7,140,x\n"
    long = tmp_path / "long.csv"
    long.write_text(head + "S2,A,7,140," + "y" * 140_000 + "\nS3,A,7,140,z\n")
    quote = tmp_path / "quote.csv"  # the quote opened on row 3 swallows the 20,000 rows below
    quote.write_text(head + 'S2,A,7,140,"oops\n' + "".join(f"S{i},A,7,140,z\n"
                                                           for i in range(3, 20_000)))
    for path in (long, quote):
        err = cli_refuses(capsys, ["data", "validate", "--students", str(path)],
                          f"{path}: row 3: a cell longer than 131,072 characters, more than "
                          "any cell of an export: most likely a quote (\") left open")
        assert "field limit" not in err


def test_thresholds_names_the_row_of_a_byte_not_utf8_as_import_does(tmp_path, capsys):
    """A Windows (cp1252) export: import named the row and the file's encoding; thresholds said
    only "not UTF-8 text (invalid continuation byte at byte 45)"."""
    path = tmp_path / "lat.csv"
    rows = ["student_id,school,score,out,name"] + [f"S{i},A,{i},{i % 2},José"
                                                  for i in range(40)]
    path.write_bytes(("\n".join(rows) + "\n").encode("cp1252"))
    err = cli_refuses(capsys, ["thresholds", str(path), "--score", "score", "--outcome", "out",
                               "--out", str(tmp_path / "th")],
                      f"{path}: row 2, column 'name': byte 0xe9 at byte offset 45 (line 2) is "
                      "not valid utf-8: the file is Windows-1252 (cp1252) text")
    assert "José" not in err and "Jos" not in err  # the cell itself is never shown
    assert not (tmp_path / "th").exists()
