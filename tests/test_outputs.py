"""How srmsim writes: CSV formula injection, file modes, whole-folder replacement, identifiers
kept out of reports, summaries and outputs."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_data_fakes import fake_export, write_export  # noqa: E402

from srmsim.cli import main  # noqa: E402
from srmsim.errors import DataError  # noqa: E402
from srmsim.outputs import (  # noqa: E402
    csv_text,
    holds_any,
    read_csv_cells,
    replace_dir,
    replace_files,
    write_csv,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


# --------------------------------------------------------------------------------------------
# CSV injection


@pytest.mark.parametrize("text", ["=1+2", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx",
                                  '=HYPERLINK("http://x","y")'])
def test_formula_like_text_is_quoted_and_prefixed(tmp_path: Path, text: str) -> None:
    df = pd.DataFrame({"value": [text], "n": [3]})
    write_csv(df, tmp_path / "a.csv")
    raw = (tmp_path / "a.csv").read_text()
    cells = read_csv_cells(tmp_path / "a.csv")
    assert cells[1] == ["'" + text, "3"]
    assert raw.splitlines()[1].startswith('"\'')  # quoted, then the single quote


def test_numbers_stay_numbers_and_plain_text_is_untouched() -> None:
    df = pd.DataFrame({"x": [-5.5, 2.0, np.nan], "k": [-3, 0, 7], "t": ["-5", "a,b", "ok"],
                       "b": [True, False, True]})
    lines = csv_text(df).splitlines()
    assert lines[0] == "x,k,t,b"
    assert lines[1] == "-5.5,-3,-5,True"  # negative numbers, and text that is only a number
    assert lines[2] == '2.0,0,"a,b",False'
    assert lines[3] == ",7,ok,True"
    assert pd.read_csv(pd.io.common.StringIO(csv_text(df)))["x"].iloc[0] == -5.5


# --------------------------------------------------------------------------------------------
# import: modes, identifiers, replacement


def export(tmp_path: Path, bad: bool = False) -> dict[str, Path]:
    st, ob = fake_export(n_students=40, n_weeks=2)
    if bad:
        st.loc[0, "D.O.B."] = "31/02/2011"  # not a date: rejected, and a date of birth
        st.loc[1, "NC Year"] = "=1+2"  # a formula in a reject report
    folder = tmp_path / ("bad" if bad else "good")
    folder.mkdir()
    return write_export(folder, st, ob)


def import_args(paths: dict[str, Path], out: Path) -> list[str]:
    return ["data", "import", str(paths["students"]), str(paths["observations"]), "--mapping",
            str(paths["mapping"]), "--out", str(out), "--show", "5"]


def test_raw_import_is_owner_only_whatever_the_umask(tmp_path: Path, umask_022) -> None:
    out = tmp_path / "ds"
    assert main(import_args(export(tmp_path), out)) == 0
    assert mode(out) == 0o700
    files = list(out.iterdir())
    assert {f.name for f in files} >= {"students.parquet", "dataset.json", "rejects.csv"}
    assert all(mode(f) == 0o600 for f in files)


def test_rejects_withhold_identifiers_unless_asked_and_neutralise_formulas(
        tmp_path: Path, capsys) -> None:
    paths = export(tmp_path, bad=True)
    out = tmp_path / "ds"
    assert main(import_args(paths, out)) == 2
    printed = capsys.readouterr().out
    assert "31/02/2011" not in printed and "(withheld)" in printed
    cells = read_csv_cells(out / "rejects.csv")
    header = cells[0]
    rows = [dict(zip(header, c, strict=True)) for c in cells[1:]]
    dob = [r for r in rows if r["field"] == "date_of_birth"]
    assert dob and all(r["value"] == "(withheld)" and "31/02" not in r["message"] for r in dob)
    year = [r for r in rows if r["field"] == "year_group"]
    assert year and year[0]["value"] == "'=1+2"
    assert not (out / "dataset.json").exists()
    shown = tmp_path / "shown"
    assert main(import_args(paths, shown) + ["--show-identifiers"]) == 2
    assert "31/02/2011" in (shown / "rejects.csv").read_text()


def test_failed_overwrite_leaves_the_old_dataset_and_no_new_reports_beside_it(
        tmp_path: Path) -> None:
    """A rejected re-import leaves the folder as it was (it had replaced it with the new
    reports, deleting the dataset): no new report beside the old dataset either."""
    out = tmp_path / "ds"
    assert main(import_args(export(tmp_path), out)) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(import_args(export(tmp_path, bad=True), out) + ["--overwrite"]) == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ds.")]  # no leftovers


def test_summary_refuses_identifiers_as_row_labels(tmp_path: Path, capsys) -> None:
    out = tmp_path / "ds"
    assert main(import_args(export(tmp_path), out)) == 0
    capsys.readouterr()
    for field in ("upn", "name", "date_of_birth", "student_id", "postcode", "school,upn"):
        assert main(["data", "summary", str(out), "--by", field]) == 2
        err = capsys.readouterr().err
        assert "only declared non-identifying categories" in err and "Traceback" not in err
    # the refused names as typed, not a Python list's repr "--by ['upn']"
    assert main(["data", "summary", str(out), "--by", "school,upn,name"]) == 2
    assert "error: --by upn,name: only declared" in capsys.readouterr().err
    assert main(["data", "summary", str(out), "--by", "fsm,fsm"]) == 2
    assert "error: --by fsm,fsm: a column is repeated" in capsys.readouterr().err
    assert main(["data", "summary", str(out), "--by", "up\x1b[2Jn"]) == 2
    assert "--by up\\x1b[2Jn: only" in capsys.readouterr().err
    assert main(["data", "summary", str(out), "--by", "fsm"]) == 0
    assert "fsm_group" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# runs: replaced whole, umask modes, no school codes


def test_replace_dir_is_all_or_nothing(tmp_path: Path) -> None:
    out = tmp_path / "res"
    out.mkdir()
    (out / "summary.json").write_text("old")
    (out / "events.parquet").write_text("stale")

    def earlier(p: Path) -> bool:
        return (p / "summary.json").exists()

    with pytest.raises(RuntimeError), replace_dir(out, replaceable=earlier) as tmp:
        (tmp / "summary.json").write_text("new")
        raise RuntimeError("killed half-way")
    assert (out / "summary.json").read_text() == "old" and (out / "events.parquet").exists()
    with replace_dir(out, replaceable=earlier) as tmp:
        (tmp / "summary.json").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["res"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.docx").write_text("precious")
    with pytest.raises(DataError, match="did not write"), replace_dir(mine, replaceable=earlier):
        pass
    assert (mine / "thesis.docx").exists()


def test_replace_dir_carries_kept_entries_over_by_link(tmp_path: Path) -> None:
    out = tmp_path / "res"
    (out / "store" / "runs").mkdir(parents=True)
    (out / "store" / "runs" / "rep-00000.parquet").write_text("run 0")
    (out / "store" / "runs" / ".rep-00001.parquet.tmp").write_text("a killed write")
    (out / "trial.json").write_text("old")
    with replace_dir(out, replaceable=holds_any("trial.json"), keep=("store", "absent")) as tmp:
        (tmp / "trial.json").write_text("new")
    kept = out / "store" / "runs" / "rep-00000.parquet"
    assert kept.read_text() == "run 0" and (out / "trial.json").read_text() == "new"
    assert not (out / "store" / "runs" / ".rep-00001.parquet.tmp").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["res"]


def test_replace_files_swaps_a_set_and_drops_stale_members(tmp_path: Path) -> None:
    folder = tmp_path / "exp"
    folder.mkdir()
    for name, text in [("effects.csv", "old"), ("forest.png", "old"), ("report.html", "old"),
                       ("manifest.json", "the store's")]:
        (folder / name).write_text(text)
    with pytest.raises(RuntimeError), replace_files(folder, ["effects.csv", "forest.png"]) as st:
        (st / "effects.csv").write_text("new")
        raise RuntimeError("the figure failed")
    assert {p.name: p.read_text() for p in folder.iterdir()} == {
        "effects.csv": "old", "forest.png": "old", "report.html": "old",
        "manifest.json": "the store's"}
    with replace_files(folder, ["effects.csv", "forest.png", "report.html"]) as st:
        (st / "effects.csv").write_text("new")
        (st / "forest.png").write_text("new")
    assert {p.name: p.read_text() for p in folder.iterdir()} == {
        "effects.csv": "new", "forest.png": "new", "manifest.json": "the store's"}


def test_rerun_replaces_stale_files_with_umask_modes(tmp_path: Path, make_small_scenario,
                                                     umask_022) -> None:
    from srmsim.model import run

    out = tmp_path / "run"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    (out / "events.parquet").write_text("from an older run with a policy")
    run(make_small_scenario({"years": 1}), seed=1, out=str(out))
    assert not (out / "events.parquet").exists()
    assert mode(out / "students.parquet") == 0o644 and mode(out) == 0o755


def test_record_run_prints_no_school_codes_and_keeps_its_key_secret(
        tmp_path: Path, make_small_scenario) -> None:
    from srmsim.model import TrustModel
    from srmsim.policy.engine import run_pseudonym_key

    recs = pd.DataFrame({"school": ["URN100001"] * 40 + ["URN100002"] * 40,
                         "year_group": 7, "sex": "F", "fsm": [True, False] * 40})
    recs.to_parquet(tmp_path / "records.parquet")
    sc = make_small_scenario({"years": 1, "population.records":
                              str(tmp_path / "records.parquet")})
    model = TrustModel(sc, seed=4)
    model.run()
    res = model.results()
    res.write(tmp_path / "out")
    model.release()
    text = (tmp_path / "out" / "summary.json").read_text()
    assert "URN1000" not in text and json.loads(text)["from_records"] is True
    assert res.school_ids == ["URN100001", "URN100002"]  # in memory, for calibration only
    # a simulated trust's key follows from the seed; a record-based one is random
    assert run_pseudonym_key(4, False) == run_pseudonym_key(4, False)
    assert run_pseudonym_key(4, True) != run_pseudonym_key(4, True)
    assert run_pseudonym_key(4, True) != run_pseudonym_key(4, False)


def test_a_study_may_not_be_written_in_or_over_its_records(tmp_path: Path) -> None:
    """check_out_of_records refuses the dataset folder, anything inside it, and a folder
    holding it (replaced whole, the records would go with it); the dataset folder of a table
    in one is the folder, of a loose file the file itself."""
    from srmsim.records import check_out_of_records, records_folder
    from srmsim.scenario import default_scenario

    data = tmp_path / "trust" / "ds"
    data.mkdir(parents=True)
    (data / "students.parquet").write_bytes(b"")
    for records in (data, data / "students.parquet"):
        if records != data:
            (data / "dataset.json").write_text("{}")
        sc = [default_scenario().with_overrides({"population.records": str(records)}, "t")]
        for out in (data, data / "run", data / "a" / "b"):
            with pytest.raises(DataError, match="inside the dataset folder"):
                check_out_of_records(out, sc)
        for out in (tmp_path / "trust", tmp_path):
            with pytest.raises(DataError, match="holds the input"):
                check_out_of_records(out, sc)
        check_out_of_records(tmp_path / "trust" / "run", sc)  # beside it
        check_out_of_records(data, [default_scenario()])  # no records
    assert records_folder(data) == data
    (data / "dataset.json").unlink()
    assert records_folder(data / "students.parquet") == data / "students.parquet"


def test_students_identifiers_are_stored_plain_and_read_back_exactly(tmp_path: Path) -> None:
    """students.parquet stores its identifiers (uid, the pseudonym) without a dictionary (one
    value per row: trying one only costs time) and its repeated columns with one; the table
    reads back exactly."""
    import pyarrow.parquet as pq

    import srmsim

    result = srmsim.run(srmsim.load_scenario(
        Path(__file__).parents[1] / "scenarios" / "dropout_prevention.yaml",
        {"trust.n_schools": 2, "trust.students_per_year_group": 20}), seed=2)
    result.write(tmp_path / "o")
    meta = pq.ParquetFile(tmp_path / "o" / "students.parquet").metadata
    encodings = {meta.row_group(0).column(i).path_in_schema: meta.row_group(0).column(i).encodings
                 for i in range(meta.num_columns)}
    for name in ("uid", "student"):
        assert "RLE_DICTIONARY" not in encodings[name], name
    for name in ("school", "year_group", "sessions_possible"):
        assert "RLE_DICTIONARY" in encodings[name], name
    back = pd.read_parquet(tmp_path / "o" / "students.parquet")
    pd.testing.assert_frame_equal(back, result.students, check_categorical=False)


def test_a_write_error_in_the_staging_folder_names_the_output_folder(tmp_path: Path) -> None:
    """A full disk while a result is written: the error names the file under ``--out`` the
    user asked for, not srmsim's hidden staging folder (``.out.new-...``); nothing is left."""
    import errno

    out = tmp_path / "out"
    with pytest.raises(OSError) as caught, replace_dir(out) as tmp:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp / "weekly.csv"))
    assert caught.value.filename == str(out / "weekly.csv")
    assert caught.value.strerror == "No space left on device"
    assert list(tmp_path.iterdir()) == []
