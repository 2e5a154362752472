"""Anonymisation: no raw id survives, pseudonyms link, k-anonymity holds, the key stays away."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_data_fakes import fake_export, write_export  # noqa: E402

from srmsim.cli import main  # noqa: E402
from srmsim.data import Dataset, measure, read_dataset  # noqa: E402
from srmsim.data.anonymise import anonymise  # noqa: E402
from srmsim.data.kanon import k_anonymise  # noqa: E402
from srmsim.data.schema import OBSERVATIONS, STUDENTS, conform  # noqa: E402
from srmsim.errors import DataError  # noqa: E402
from srmsim.privacy import pseudonymise  # noqa: E402

KEY = b"a-test-key-that-is-long-enough-1"
OTHER = b"another-test-key-long-enough-222"


@pytest.fixture
def imported(tmp_path: Path) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    st, ob = fake_export(seed=4, n_students=300, n_weeks=3, schools=("NORTH", "SOUTH", "EAST"))
    paths = write_export(tmp_path, st, ob)
    out = tmp_path / "raw"
    assert main(["data", "import", str(paths["students"]), str(paths["observations"]),
                 "--mapping", str(paths["mapping"]), "--out", str(out), "--show", "0"]) == 0
    return out, st, ob


def _all_text(directory: Path) -> str:
    """Every value of every Parquet column and every JSON file, as one big string."""
    parts = []
    for p in directory.iterdir():
        if p.suffix == ".parquet":
            tab = pq.read_table(p)
            parts.append(" ".join(tab.column_names))
            for col in tab.columns:
                parts.append(" ".join(str(v) for v in col.to_pylist()))
        elif p.suffix in (".json", ".csv"):
            parts.append(p.read_text())
    return "\n".join(parts)


def test_no_raw_identifier_survives(imported, tmp_path: Path) -> None:
    raw_dir, st, _ = imported
    key = tmp_path / "secret.key"
    key.write_bytes(KEY)
    out = tmp_path / "anon"
    assert main(["data", "anonymise", str(raw_dir), "--out", str(out), "--key-file",
                 str(key)]) == 0
    text = _all_text(out)
    for column in ("Pupil Ref", "Full Name", "UPN", "D.O.B."):
        for raw in st[column]:
            assert raw not in text, (column, raw)
    for school in ("NORTH", "SOUTH", "EAST"):
        assert school not in text
    assert "spoke to parent" not in text  # free text
    assert KEY.decode() not in text  # the key is never written
    assert str(raw_dir) not in text  # nor where the raw data live
    ds = read_dataset(out)
    assert ds.anonymised and ds.meta["key_id"]
    for col in ("name", "upn", "address", "postcode", "notes", "date_of_birth"):
        assert col not in ds.students.columns
    assert "notes" not in ds.observations.columns


def test_pseudonyms_link_tables_and_are_stable_per_key(imported, tmp_path: Path) -> None:
    raw_dir, st, _ = imported
    raw = read_dataset(raw_dir)
    a, _ = anonymise(raw, KEY, quasi=["year_group"], k=2)
    a2, _ = anonymise(raw, KEY, quasi=["year_group"], k=2)
    b, _ = anonymise(raw, OTHER, quasi=["year_group"], k=2)
    pd.testing.assert_frame_equal(a.students, a2.students)
    assert not set(a.students["student_id"]) & set(b.students["student_id"])
    # every observation belongs to an anonymised student, at that student's school
    merged = a.observations.merge(a.students[["student_id", "school"]], on="student_id",
                                  suffixes=("", "_st"), validate="many_to_one")
    assert len(merged) == len(a.observations)
    assert (merged["school"] == merged["school_st"]).all()
    # and it is the documented HMAC of the raw id
    expected = pseudonymise(raw.students["student_id"], KEY, "student")
    assert set(a.students["student_id"]) == set(expected)
    # rows are in pseudonym order, not in the export's (alphabetical, admission-number) order
    assert a.students["student_id"].is_monotonic_increasing
    assert list(a.students["student_id"]) != list(expected)
    # per-student totals are unchanged by anonymisation
    by_raw = raw.observations.groupby("student_id")["sessions_attended"].sum()
    by_raw.index = pseudonymise(pd.Series(by_raw.index, dtype="str"), KEY, "student")
    by_anon = a.observations.groupby("student_id")["sessions_attended"].sum()
    pd.testing.assert_series_equal(by_raw.sort_index(), by_anon.sort_index(),
                                   check_names=False)


def _classes_ok(students: pd.DataFrame, quasi: list[str], k: int) -> int:
    cols = []
    for q in quasi:
        cols += [c for c in (q, f"{q}_min", f"{q}_max") if c in students.columns]
    sizes = students.groupby(cols, dropna=False).size()
    return int(sizes.min())


@pytest.mark.once
@pytest.mark.parametrize("k", [2, 5, 10])
def test_k_anonymity_holds_after_suppression(imported, k: int) -> None:
    raw_dir, _, _ = imported
    raw = read_dataset(raw_dir)
    quasi = ["school", "year_group", "age_months", "sex", "fsm", "sen", "eal"]
    anon, rep = anonymise(raw, KEY, quasi=quasi, k=k)
    assert _classes_ok(anon.students, quasi, k) >= k
    assert rep.achieved_k >= k
    assert rep.students_in - rep.students_suppressed == len(anon.students)
    assert rep.observations_in - rep.observations_suppressed == len(anon.observations)
    # at most 5% suppressed, or the report says more had to go (the flag alone could be wrong)
    assert rep.max_suppressed_exceeded == (rep.students_suppressed > 0.05 * rep.students_in)


def test_l_diversity_and_report(imported, tmp_path: Path, capsys) -> None:
    raw_dir, _, _ = imported
    key = tmp_path / "k"
    key.write_text(KEY.decode() + "\n")
    out = tmp_path / "anon"
    rc = main(["data", "anonymise", str(raw_dir), "--out", str(out), "--key-file", str(key),
               "--quasi", "year_group,sex,fsm,eal", "--k", "5", "--l", "2",
               "--sensitive", "sen"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "l >= 2 over sen" in printed
    rep = json.loads((out / "anonymisation_report.json").read_text())
    assert rep["achieved_k"] >= 5 and rep["achieved_l"] >= 2
    # the smallest class printed only when 10 or more (a count of pupils), else the target met
    assert (f"achieved k = {rep['achieved_k']}, l = " if rep["achieved_k"] >= 10
            else "achieved: k >= 5 met, l = ") in printed
    assert rep["columns_dropped"]["students"] == ["date_of_birth", "name", "upn", "address",
                                                 "postcode", "notes"]
    # in the folder and printed, hidden with the few suppressed (every pupil had one: it is
    # students_in)
    assert rep["dob_converted"] == ("c" if rep["students_suppressed"] == "c" else 300)
    assert (f"date_of_birth -> age_months at 2024-09-01 for "
            f"{'c' if rep['dob_converted'] == 'c' else 300} students") in printed
    assert rep["reference_date"] == "2024-09-01"
    ds = read_dataset(out)
    quasi = ["year_group", "sex", "fsm", "eal"]
    cols = [c for c in ds.students.columns if any(c.startswith(q) for q in quasi)]
    div = ds.students.groupby(cols, dropna=False)["sen"].nunique()
    assert div.min() >= 2
    assert ds.meta["k"] == 5 and ds.meta["l"] == 2 and ds.meta["sensitive"] == ["sen"]


def test_report_counts_have_thousands_separators() -> None:
    from srmsim.data.anonymise import AnonymisationReport

    text = AnonymisationReport(students_in=2400, students_suppressed=12, observations_in=93600,
                               observations_suppressed=468).format()
    assert "students suppressed: 12 of 2,400; their observations removed: 468 of 93,600" in text


def test_report_says_a_generalised_field_is_so_for_every_student() -> None:
    # "generalised fsm -> not shown" did not say the column was emptied for everyone
    from srmsim.data.anonymise import AnonymisationReport

    text = AnonymisationReport(generalised={"fsm": "not shown",
                                            "age_months": "whole years"}).format()
    assert "  fsm: removed for every student\n" in text
    assert "  generalised age_months -> whole years (for every student)\n" in text


def test_generalised_numbers_become_bounds() -> None:
    rng = np.random.default_rng(0)
    n = 400
    st = conform(pd.DataFrame({
        "student_id": [f"s{i}" for i in range(n)], "school": "A",
        "year_group": rng.integers(7, 12, n), "age_months": rng.integers(130, 200, n),
        "sex": rng.choice(["F", "M"], n)}), STUDENTS)
    res = k_anonymise(st, ["year_group", "age_months", "sex"], k=10, max_suppressed=0.0)
    out = res.frame
    assert "age_months" not in out.columns
    assert (out["age_months_min"] <= out["age_months_max"]).all()
    kept = st.loc[~res.suppressed]
    assert ((kept["age_months"].to_numpy() >= out["age_months_min"].to_numpy()) &
            (kept["age_months"].to_numpy() <= out["age_months_max"].to_numpy())).all()
    assert res.achieved["k"] >= 10
    assert res.descriptions  # something was generalised


def test_measure_known_table() -> None:
    t = pd.DataFrame({"a": [1, 1, 1, 2, 2], "b": ["x", "x", "x", "y", "y"],
                      "s": [True, False, True, True, True]})
    m = measure(t, ["a", "b"], ["s"])
    assert (m["k"], m["l"], m["classes"]) == (2, 1, 2)


def test_rare_categories_are_recoded(imported) -> None:
    raw_dir, _, _ = imported
    raw = read_dataset(raw_dir)
    students = raw.students.copy()
    students.loc[students.index[:2], "sex"] = "other"
    anon, rep = anonymise(Dataset(students, raw.observations, raw.meta), KEY,
                          quasi=["school"], k=5)
    assert rep.rare_categories == {"sex": {"other": 2}}
    assert "other" not in set(anon.students["sex"].dropna())


def test_the_folder_report_names_no_recoded_value(imported, tmp_path: Path, capsys) -> None:
    """The folder travels with the records: a report saying ``sex: other (2)`` beside them would
    tell which pupils the catch-all value hides. It says how many values were recoded; the
    values are printed to the user only."""
    from srmsim.data.dataset import write_dataset

    raw_dir, _, _ = imported
    raw = read_dataset(raw_dir)
    students = raw.students.copy()
    students.loc[students.index[:2], "sex"] = "other"
    src = tmp_path / "raw_with_other"
    write_dataset(Dataset(students, raw.observations, raw.meta), src)
    key = tmp_path / "k"
    key.write_text(KEY.decode() + "\n")
    out = tmp_path / "anon"
    rc = main(["data", "anonymise", str(src), "--out", str(out), "--key-file", str(key),
               "--quasi", "school", "--k", "5"])
    assert rc == 0
    printed = capsys.readouterr().out
    # for the user who ran it: the value, its 2 pupils withheld as a small count
    assert "rare sex values recoded: other (c)" in printed
    text = (out / "anonymisation_report.json").read_text()
    rep = json.loads(text)
    assert rep["rare_values_recoded"] == {"sex": 1}
    assert "rare_categories" not in rep and "other" not in text
    assert "other" not in set(read_dataset(out).students["sex"].dropna())


def test_key_is_refused_next_to_the_data(imported, tmp_path: Path, capsys) -> None:
    raw_dir, _, _ = imported
    out = tmp_path / "anon"
    out.mkdir()
    (out / "key").write_bytes(KEY)
    assert main(["data", "anonymise", str(raw_dir), "--out", str(out), "--key-file",
                 str(out / "key")]) == 2
    assert "inside the output directory" in capsys.readouterr().err
    assert not (out / "students.parquet").exists()
    (tmp_path / "short").write_bytes(b"0123456789")
    assert main(["data", "anonymise", str(raw_dir), "--out", str(tmp_path / "a2"),
                 "--key-file", str(tmp_path / "short")]) == 2
    assert "at least 16" in capsys.readouterr().err
    (tmp_path / "good").write_bytes(KEY)
    assert main(["data", "anonymise", str(raw_dir), "--out", str(raw_dir), "--key-file",
                 str(tmp_path / "good")]) == 2
    assert "is the input directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: one of --key-file / --key-env is required
        main(["data", "anonymise", str(raw_dir), "--out", str(tmp_path / "a3")])


def test_key_from_environment(imported, tmp_path: Path, monkeypatch) -> None:
    raw_dir, _, _ = imported
    monkeypatch.setenv("SRMSIM_KEY", KEY.decode())
    assert main(["data", "anonymise", str(raw_dir), "--out", str(tmp_path / "a"),
                 "--key-env", "SRMSIM_KEY", "--quasi", "school,year_group"]) == 0
    a = read_dataset(tmp_path / "a")
    raw = read_dataset(raw_dir)
    assert set(a.students["student_id"]) <= set(pseudonymise(raw.students["student_id"], KEY,
                                                             "student"))


def test_bad_anonymise_arguments(imported) -> None:
    raw = read_dataset(imported[0])
    with pytest.raises(DataError, match="not a students field"):
        anonymise(raw, KEY, quasi=["colour"])
    with pytest.raises(DataError, match="dropped by anonymise"):
        anonymise(raw, KEY, quasi=["name"])
    with pytest.raises(DataError, match="both quasi-identifier and sensitive"):
        anonymise(raw, KEY, quasi=["sen"], sensitive=["sen"], l_diversity=2)
    with pytest.raises(DataError, match="needs --sensitive"):
        anonymise(raw, KEY, l_diversity=2)
    anon, _ = anonymise(raw, KEY, quasi=["school"])
    with pytest.raises(DataError, match="already anonymised"):
        anonymise(anon, KEY, quasi=["school"])


def test_tiny_data_everyone_suppressed_is_refused() -> None:
    st = conform(pd.DataFrame({"student_id": ["a", "b", "c"], "school": ["X", "Y", "Z"],
                               "year_group": [7, 8, 9], "age_months": [140, 150, 160]}),
                 STUDENTS)
    ob = conform(pd.DataFrame({"student_id": ["a"], "school": ["X"], "period_type": ["week"],
                               "period": [1]}), OBSERVATIONS)
    with pytest.raises(DataError, match="every student would be suppressed for k = 2"):
        anonymise(Dataset(st, ob, {}), KEY, quasi=["school"], k=2)
    # k = 1 would keep each of them as a class of their own: refused, protecting nothing
    with pytest.raises(DataError, match="--k must be at least 2"):
        anonymise(Dataset(st, ob, {}), KEY, quasi=["school"], k=1)


@pytest.mark.parametrize("weak", [b" " * 20, b"\x00" * 32, b"ab" * 16])
def test_a_key_of_a_few_repeated_characters_is_refused(imported, tmp_path: Path, capsys,
                                                       weak: bytes) -> None:
    """20 spaces or 32 zero bytes were accepted as the key (only a key of newlines, empty
    once stripped, was refused): a key anyone could guess."""
    raw_dir, _, _ = imported
    (tmp_path / "weak").write_bytes(weak)
    out = tmp_path / "a"
    assert main(["data", "anonymise", str(raw_dir), "--out", str(out), "--key-file",
                 str(tmp_path / "weak")]) == 2
    assert "distinct character" in capsys.readouterr().err
    assert not out.exists()


def test_more_suppressed_than_allowed_writes_nothing(imported, tmp_path: Path, capsys) -> None:
    """--quasi prior_attainment suppressed 429 of 445 pupils against --max-suppressed 5%: a
    warning, the dataset written, exit 0. Now nothing is written; the library still reports."""
    raw_dir, _, _ = imported
    (tmp_path / "key").write_bytes(KEY)
    out = tmp_path / "a"
    assert main(["data", "anonymise", str(raw_dir), "--out", str(out), "--key-file",
                 str(tmp_path / "key"), "--quasi", "prior_attainment"]) == 2
    err = capsys.readouterr().err
    assert "more than --max-suppressed 5%" in err and "nothing written" in err, err
    assert not out.exists()
    _, rep = anonymise(read_dataset(raw_dir), KEY, quasi=["prior_attainment"])
    assert rep.max_suppressed_exceeded


def test_a_reference_date_with_no_dates_of_birth_is_refused(imported, tmp_path: Path) -> None:
    """The records' ages recorded with no date of birth: --reference-date was accepted and
    changed nothing (reference_date: null in the output)."""
    raw = read_dataset(imported[0])
    raw.students = raw.students.drop(columns=["date_of_birth"])
    with pytest.raises(DataError, match="--reference-date 2024-09-01: the records hold no date "
                                        "of birth"):
        anonymise(raw, KEY, reference_date=dt.date(2024, 9, 1))
    anonymise(raw, KEY)  # without it, as before


def test_a_key_file_others_can_read_is_noted(imported, tmp_path: Path, capsys) -> None:
    """Whoever reads the key can recompute every pupil's pseudonym from their id: a key file
    written under the usual umask (mode 644) gets a note saying how to make it private; a
    private one (600) none."""
    raw_dir, _, _ = imported
    key = tmp_path / "secret.key"
    key.write_bytes(KEY)
    for mode, noted in ((0o644, True), (0o600, False)):
        key.chmod(mode)
        capsys.readouterr()
        assert main(["data", "anonymise", str(raw_dir), "--out", str(tmp_path / f"a{mode:o}"),
                     "--key-file", str(key)]) == 0
        err = capsys.readouterr().err
        assert ("can be read by other users" in err and f"chmod 600 {key}" in err) is noted, err
