"""Hostile data and paths found by probing the data commands and thresholds (2026-12-06).

Each case was reproduced first: a traceback on huge scores drawn by group, invisible characters
that made two school ids print alike, unbounded assessment scores, a reference date reported as
used but ignored, a symbolic link as --out, symbols a spreadsheet reads as numbers, a
hand-edited flag read as true, and a reject message naming a withheld school.
"""

from __future__ import annotations

import datetime
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from srmsim.cli import main
from srmsim.data.dataset import read_dataset
from srmsim.errors import DataError
from srmsim.outputs import LOCK_NAME
from srmsim.privacy import parse_symbols
from srmsim.risk.plots import _threshold_unit

HEADER = "student_id,school,year_group,age_months,sex,fsm,sen,eal,prior_attainment"


def _pupils(n: int = 40, school=lambda i: "S01") -> str:
    rows = [f"P{i:04d},{school(i)},{7 + i % 5},{140 + i % 12},{'MF'[i % 2]},false,false,false,"
            f"{90 + i % 20}" for i in range(n)]
    return "\n".join([HEADER, *rows]) + "\n"


def _error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return err


# ------------------------------------------------------------ thresholds: huge scores by group
def test_thresholds_of_huge_scores_by_group_draw_in_units_of_a_power_of_ten(tmp_path, capsys):
    """Scores of 1.7e308 made matplotlib's tick locator overflow: exit 1 and a traceback."""
    rng = np.random.default_rng(1)
    n = 600
    score = np.round(rng.beta(9, 1, n), 3)
    outcome = (rng.random(n) < 1 / (1 + np.exp(-5 * (0.85 - score)))).astype(int)
    path = tmp_path / "huge.csv"
    pd.DataFrame({"sex": rng.choice(["F", "M"], n), "score": score * 1.7e308,
                  "outcome": outcome}).to_csv(path, index=False)
    out = tmp_path / "th"
    assert main(["thresholds", str(path), "--score", "score", "--outcome", "outcome", "--by",
                 "sex", "--n-boot", "40", "--out", str(out)]) == 0
    assert (out / "fairness.png").stat().st_size > 1000
    assert _threshold_unit(np.array([1.2e308, 1.7e308, np.nan])) == (1e308, ", in units of 1e308")
    assert _threshold_unit(np.array([0.2, 0.9])) == (1.0, "")
    assert _threshold_unit(np.array([np.nan])) == (1.0, "")


# ------------------------------------------------------------ identifiers that print alike
@pytest.mark.parametrize("invisible", ["\U000e0041", "\u00ad", "\u034f", "\u180e", "\ufe0f",
                                       "\u3164", "\u115f", "\uffa0", "\u2061", "\U0001d173"])
def test_an_invisible_character_in_a_school_id_is_rejected(tmp_path, capsys, invisible):
    path = tmp_path / "pupils.csv"
    path.write_text(_pupils(school=lambda i: "S01" + invisible if i % 2 else "S01"),
                    encoding="utf-8")
    out = tmp_path / "ds"
    err = _error(capsys, ["data", "import", "--students", str(path), "--out", str(out)])
    assert "no dataset written: 20 rows rejected" in err
    assert not (out / "students.parquet").exists()
    rejects = pd.read_csv(out / "rejects.csv")
    assert set(rejects["rule"]) == {"control_character"} and len(rejects) == 20
    assert rejects["message"].str.contains(f"U+{ord(invisible):04X}", regex=False).all()


def test_visible_letters_of_any_script_stay_allowed_in_ids(tmp_path):
    path = tmp_path / "pupils.csv"
    names = ["Schülé", "Школа", "学校", "학교", "École-Ø"]
    path.write_text(_pupils(school=lambda i: names[i % 5]), encoding="utf-8")
    assert main(["data", "import", "--students", str(path), "--out", str(tmp_path / "ds")]) == 0


# ------------------------------------------------------------ assessment scores bounded
@pytest.mark.parametrize(("field", "value"), [("assessment_score", 1e200),
                                              ("exam_score", -2e6)])
def test_a_wild_score_is_rejected_at_import(tmp_path, capsys, field, value):
    """One assessment score of 1e200 overflowed calibrate's moments (a slope of 0 fitted)."""
    (tmp_path / "students.csv").write_text(_pupils(12))
    rows = [f"P{i:04d},S01,term,1,100,95,{value if i == 3 else 50}" for i in range(12)]
    (tmp_path / "obs.csv").write_text(
        f"student_id,school,period_type,period,sessions_possible,sessions_attended,{field}\n"
        + "\n".join(rows) + "\n")
    out = tmp_path / "ds"
    err = _error(capsys, ["data", "import", "--students", str(tmp_path / "students.csv"),
                          "--observations", str(tmp_path / "obs.csv"), "--out", str(out)])
    assert "no dataset written: c rows rejected" in err
    rejects = pd.read_csv(out / "rejects.csv")
    assert rejects[["file", "row", "field", "rule"]].values.tolist() == [
        [str(tmp_path / "obs.csv"), 5, field, "out_of_range"]]


# ------------------------------------------------------------ anonymise --reference-date
def test_anonymise_gives_every_age_at_the_reference_date_given(tmp_path, capsys):
    """The ages stayed at the import's date while the report named the date given."""
    born = [datetime.date(2012, 1 + i % 12, 1 + i % 28) for i in range(60)]
    rows = [f"P{i:04d},S01,7,{b.isoformat()},{'MF'[i % 2]},false,false,false,100"
            for i, b in enumerate(born)]
    (tmp_path / "pupils.csv").write_text(
        "student_id,school,year_group,date_of_birth,sex,fsm,sen,eal,prior_attainment\n"
        + "\n".join(rows) + "\n")
    (tmp_path / "map.yaml").write_text("reference_date: 2024-09-01\n")
    key = tmp_path / "key.txt"
    key.write_text("0123456789abcdef" * 4)
    ds = tmp_path / "ds"
    assert main(["data", "import", "--mapping", str(tmp_path / "map.yaml"), "--students",
                 str(tmp_path / "pupils.csv"), "--out", str(ds)]) == 0
    imported = pd.read_parquet(ds / "students.parquet")["age_months"].astype(float)
    out = tmp_path / "anon"
    assert main(["data", "anonymise", str(ds), "--out", str(out), "--key-file", str(key),
                 "--reference-date", "2025-09-01", "--k", "2", "--quasi", "school"]) == 0
    # hidden as the folder's report hides it: none suppressed, so it is the copy's 60 and
    # with them gives the 0 suppressed (224)
    assert "date_of_birth -> age_months at 2025-09-01 for c students" in capsys.readouterr().out
    later = pd.read_parquet(out / "students.parquet")
    ages = later["age_months"] if "age_months" in later else later["age_months_min"]
    assert float(ages.astype(float).mean()) == pytest.approx(imported.mean() + 12, abs=6)
    err = _error(capsys, ["data", "anonymise", str(ds), "--out", str(tmp_path / "a2"),
                          "--key-file", str(key), "--reference-date", "0001-01-01"])
    assert "--reference-date 0001-01-01: 60 pupils would be under 3" in err
    assert not (tmp_path / "a2").exists()


# ------------------------------------------------------------ a symbolic link as --out
@pytest.mark.parametrize("dangling", [False, True])
def test_a_symbolic_link_as_out_is_refused_and_its_target_untouched(tmp_path, capsys, dangling):
    (tmp_path / "pupils.csv").write_text(_pupils())
    target = tmp_path / "target"
    if not dangling:
        target.mkdir()
        (target / "notes.txt").write_text("mine")
    link = tmp_path / "link"
    link.symlink_to(target)
    err = _error(capsys, ["data", "import", "--students", str(tmp_path / "pupils.csv"),
                          "--out", str(link)])
    assert f"--out {link}: is a symbolic link (to {target}); give the folder" in err
    assert link.is_symlink()
    if not dangling:
        assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]  # no lock left
        assert LOCK_NAME not in {p.name for p in target.iterdir()}
    err = _error(capsys, ["run", "--out", str(link), "--quiet"])
    assert "is a symbolic link" in err


# ------------------------------------------------------------ symbols and flags
@pytest.mark.parametrize("text", ["12%,low,x", "c,1 000,x", "c,low,0x1F", "TRUE,low,x",
                                  "c,low,x2"])
def test_symbols_a_spreadsheet_reads_as_values_are_refused(text):
    with pytest.raises(DataError, match="holds a digit or reads as a value to a spreadsheet"):
        parse_symbols(text)
    assert parse_symbols("[c],..,z").withheld == "z"


def test_a_hand_edited_anonymised_flag_is_named(tmp_path):
    (tmp_path / "pupils.csv").write_text(_pupils())
    ds = tmp_path / "ds"
    assert main(["data", "import", "--students", str(tmp_path / "pupils.csv"),
                 "--out", str(ds)]) == 0
    meta = json.loads((ds / "dataset.json").read_text())
    for value in ("no", 0, None):
        edited = tmp_path / f"edited-{value}"
        shutil.copytree(ds, edited)
        (edited / "dataset.json").write_text(json.dumps({**meta, "anonymised": value}))
        with pytest.raises(DataError, match=r"dataset.json: anonymised must be true or false"):
            read_dataset(edited)
    assert read_dataset(ds).anonymised is False


# ------------------------------------------------------------ a group named as the table's rows
@pytest.mark.parametrize("name", ["Total", "TOTAL", " total", "(missing)"])
def test_a_school_called_as_the_tables_own_rows_is_refused(tmp_path, capsys, name):
    """A school called Total printed a second row labelled Total (30 pupils beside the real
    total's 150), in the table and in summary.csv, with nothing to tell them apart."""
    path = tmp_path / "pupils.csv"
    path.write_text(_pupils(n=60, school=lambda i: name if i % 2 else "S01"), encoding="utf-8")
    out = tmp_path / "ds"
    assert main(["data", "import", "--students", str(path), "--out", str(out)]) == 0
    capsys.readouterr()
    for by in ("school", "sex"):  # every summary is audited by school
        err = _error(capsys, ["data", "summary", str(out), "--by", by, "--out",
                              str(tmp_path / "s.csv")])
        assert f"a school is called {name.strip()!r}, as summary tables label" in err, err
        assert not (tmp_path / "s.csv").exists()


def test_thresholds_name_a_score_of_one_value_and_a_score_that_is_the_outcome(tmp_path, capsys):
    """Both were "too few students with or without the outcome ... keeps 10 students from
    0.1, 0.5, 0.9 and from the ranks ...": a reason that was not the reason."""
    path = tmp_path / "e.csv"
    pd.DataFrame({"score": [0.9] * 60, "out": [0, 1] * 30}).to_csv(path, index=False)
    err = _error(capsys, ["thresholds", str(path), "--score", "score", "--outcome", "out",
                          "--out", str(tmp_path / "t")])
    assert "column 'score' (score) has one value in every row with an outcome" in err
    err = _error(capsys, ["thresholds", str(path), "--score", "out", "--outcome", "out",
                          "--out", str(tmp_path / "t")])
    assert "--score and --outcome are the same column ('out')" in err
    assert not (tmp_path / "t").exists()
