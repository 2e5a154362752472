"""Privacy review 224: small counts in what the data commands print, and the copy-first path.

Found 2026-12-07: ``data anonymise`` printed "students suppressed: 5 of 300; their
observations removed: 15 of 900", "date_of_birth -> age_months ... for 300 students" (beside
the copy's 295 pupils: the 5 again), "rare sex values recoded: other (3)" and "achieved k = 5"
(a class of 5 pupils), though ``anonymisation_report.json`` withheld them; its refusals said
"5 of 105 students (5%) would be suppressed" and "3 pupils would be under 3 or over 25".
``data validate`` and ``data import`` printed "300 rows read, 297 accepted, 3 rejected" (3
pupils), each rule's rows ("unknown_category: 3 rows") and "12 violations". And the refusal of
a source's first summary after its copy's told the user to delete ``exports.json`` "if the copy
was never shared", though the copy's summary had been published.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_data_fakes import fake_export, write_export  # noqa: E402
from test_privacy_review214 import KEY, import_raw, small_counts_recovered  # noqa: E402

from srmsim.cli import main  # noqa: E402
from srmsim.data import read_dataset  # noqa: E402
from srmsim.data.anonymise import AnonymisationReport, anonymise, anonymise_dir  # noqa: E402
from srmsim.data.dataset import Dataset, base_meta, write_dataset  # noqa: E402
from srmsim.data.schema import OBSERVATIONS, STUDENTS, conform  # noqa: E402
from srmsim.errors import DataError  # noqa: E402


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    return import_raw(tmp_path)


@pytest.fixture
def key(tmp_path: Path) -> Path:
    file = tmp_path / "key"
    file.write_bytes(KEY)
    return file


def _number(text: str) -> int | str:
    return int(text.replace(",", "")) if re.fullmatch(r"[\d,]+", text) else text


def test_anonymise_prints_no_small_count(raw: Path, key: Path, tmp_path: Path, capsys) -> None:
    """What the command printed, read as the folder's report is read by an attacker holding
    the copy (its 295 pupils and their rows): no count under 10 is printed or follows."""
    out = tmp_path / "anon"
    assert main(["data", "anonymise", str(raw), "--out", str(out), "--key-file", str(key)]) == 0
    printed = capsys.readouterr().out
    anon = read_dataset(out)
    assert len(anon.students) == 295  # 5 suppressed: the count the report must not give
    line = re.search(r"students suppressed: (\S+) of (\S+); their observations removed: "
                     r"(\S+) of (\S+)\n", printed)
    dob = re.search(r"date_of_birth -> age_months at \S+ for (\S+) students", printed)
    assert line and dob, printed
    report = {"students_suppressed": _number(line[1]), "students_in": _number(line[2]),
              "observations_suppressed": _number(line[3]),
              "observations_in": _number(line[4]), "dob_converted": _number(dob[1])}
    assert small_counts_recovered(report, len(anon.students), len(anon.observations)) == {}
    assert report["students_suppressed"] == "c" and report["students_in"] == "c"
    # the smallest class is 5 pupils: the target met is said, not its size
    assert "achieved k =" not in printed and "k >= 5 met" in printed
    assert "c = a count of pupils below 10" in printed


def test_rare_values_are_named_with_their_small_counts_withheld() -> None:
    rep = AnonymisationReport(rare_categories={"sex": {"other": 3, "X": 12}},
                              quasi_identifiers=["sex"], students_in=400, achieved_k=12)
    text = rep.format()
    assert "rare sex values recoded: other (c), X (12)" in text
    assert "(3)" not in text and "c = a count of pupils below 10" in text
    assert "achieved k = 12" in text  # a smallest class of 10 or more is printed as it is


def _two_schools(big: int, small: int) -> Dataset:
    ids = [f"s{i}" for i in range(big + small)]
    st = conform(pd.DataFrame({"student_id": ids, "school": ["A"] * big + ["B"] * small}),
                 STUDENTS)
    ob = conform(pd.DataFrame({"student_id": ids, "school": ["A"] * big + ["B"] * small,
                               "period_type": "week", "period": 1}), OBSERVATIONS)
    return Dataset(st, ob, base_meta())


def test_max_suppressed_refusal_gives_no_small_count(tmp_path: Path) -> None:
    """School B's 5 pupils cannot be kept at k = 10 (school has no generalisation): 5 of 105
    is over 1%, refused; the refusal said "5 of 105 students (5%)"."""
    write_dataset(_two_schools(100, 5), tmp_path / "ds")
    with pytest.raises(DataError) as err:
        anonymise_dir(tmp_path / "ds", tmp_path / "anon", KEY, quasi=["school"], k=10,
                      max_suppressed=0.01)
    said = str(err.value)
    assert "would be suppressed, more than --max-suppressed 1%" in said
    assert not re.search(r"\b[1-9] of\b|\b5%|\(5\b", said), said
    assert not (tmp_path / "anon").exists()


def test_reference_date_refusal_says_few_pupils_without_the_count() -> None:
    """3 of 40 pupils born in 2000 are over 25 at 2026-06-01: the refusal said "3 pupils"."""
    n = 40
    dob = pd.to_datetime([dt.date(2000, 1, 1)] * 3 + [dt.date(2012, 9, 1)] * (n - 3))
    st = conform(pd.DataFrame({"student_id": [f"s{i}" for i in range(n)], "school": "A",
                               "date_of_birth": dob}), STUDENTS)
    ob = conform(pd.DataFrame({"student_id": ["s0"], "school": ["A"], "period_type": ["week"],
                               "period": [1]}), OBSERVATIONS)
    with pytest.raises(DataError) as err:
        anonymise(Dataset(st, ob, base_meta(reference_date="2024-09-01")), KEY,
                  quasi=["school"], k=2, reference_date=dt.date(2026, 6, 1))
    said = str(err.value)
    assert "some pupils (fewer than 10) would be under 3 or over 25" in said
    assert "3 pupils" not in said


def _bad_export(tmp_path: Path) -> dict[str, Path]:
    """300 pupils, 3 with a sex no mapping knows (so 3 pupils and their 12 weeks rejected)."""
    st, ob = fake_export(seed=4, n_students=300, n_weeks=4, schools=("NORTH", "SOUTH", "EAST"))
    st.loc[[3, 7, 11], "Gender"] = "Zz"
    return write_export(tmp_path, st, ob)


def _counts(printed: str) -> list[dict[str, int | str]]:
    found = []
    for m in re.finditer(r"(\S+) rows? read, (\S+) accepted, (\S+) rejected", printed):
        found.append({"read": _number(m[1]), "accepted": _number(m[2]),
                      "rejected": _number(m[3])})
    return found


def _recoverable(printed: str) -> list[str]:
    """Counts of rows from 1 to 9 printed, or following from a line (read - accepted) or from
    the total less the other files, or the rows of a rule, or the violations."""
    lines = _counts(printed)
    said = []
    for i, d in enumerate(lines):
        nums = {k: v for k, v in d.items() if isinstance(v, int)}
        said += [f"line {i} {k} {v}" for k, v in nums.items() if 0 < v < 10]
        if "read" in nums and "accepted" in nums and 0 < nums["read"] - nums["accepted"] < 10:
            said.append(f"line {i} read - accepted")
    *files, total = lines
    for key in ("read", "rejected", "accepted"):
        for i in range(len(files)):
            others = [f[key] for j, f in enumerate(files) if j != i]
            if isinstance(total[key], int) and all(isinstance(o, int) for o in others):
                rest = total[key] - sum(others)  # type: ignore[operator]
                if 0 < rest < 10:
                    said.append(f"file {i} {key} = total - others = {rest}")
    said += [m[0] for m in re.finditer(r"\b[1-9] rows?\b", printed)]
    said += [m[0] for m in re.finditer(r"\b\d[\d,]* violations?", printed)
             if "c rows" in printed]
    return said


@pytest.mark.parametrize("show", ["0", "2"])
def test_validate_prints_no_small_count_of_rows(tmp_path: Path, capsys, show: str) -> None:
    paths = _bad_export(tmp_path)
    assert main(["data", "validate", str(paths["students"]), str(paths["observations"]),
                 "--mapping", str(paths["mapping"]), "--show", show]) == 2
    printed = capsys.readouterr().out
    assert len(_counts(printed)) == 3  # two files and the total
    assert _recoverable(printed) == [], printed
    assert "297 accepted" in printed  # the rows kept are the dataset's: printed
    # 12 weeks rejected with their pupils (unknown_student) are 3 pupils of 4 weeks each
    assert "unknown_student: c rows" in printed
    assert "c = a count of rows" in printed


def test_import_prints_no_small_count_of_rows(tmp_path: Path, capsys) -> None:
    paths = _bad_export(tmp_path)
    args = ["data", "import", str(paths["students"]), str(paths["observations"]),
            "--mapping", str(paths["mapping"]), "--out", str(tmp_path / "ds"), "--show", "0"]
    assert main(args) == 2
    got = capsys.readouterr()
    assert _recoverable(got.out) == [], got.out
    assert "no dataset written: c rows rejected" in got.err
    assert main([*args, "--allow-rejects"]) == 0
    printed = capsys.readouterr().out
    assert _recoverable(printed) == [], printed
    assert "(297 students, 1,188 observations)" in printed


def test_import_of_few_pupils_does_not_print_them(tmp_path: Path, capsys) -> None:
    """12 pupils, 5 rejected: the 7 imported are a small count too."""
    st, ob = fake_export(seed=2, n_students=12, n_weeks=2)
    st.loc[[0, 1, 2, 3, 4], "Gender"] = "Zz"
    paths = write_export(tmp_path, st, ob)
    assert main(["data", "import", str(paths["students"]), str(paths["observations"]),
                 "--mapping", str(paths["mapping"]), "--out", str(tmp_path / "ds"), "--show",
                 "0", "--allow-rejects"]) == 0
    printed = capsys.readouterr().out
    assert "(c students, c observations)" in printed
    assert _recoverable(printed) == [] and not re.search(r"\b7 (students|accepted)", printed)


def test_source_after_its_moved_copy_is_refused_saying_publish_from_one(
        raw: Path, key: Path, tmp_path: Path, capsys) -> None:
    """The copy anonymised, moved, its summary published (Total 295); the source's summary
    (300) would give the 5 suppressed. Refused whatever the copy's path, nothing written, and
    the message no longer says a copy whose summary was published may be forgotten."""
    out = tmp_path / "anon"
    assert main(["data", "anonymise", str(raw), "--out", str(out), "--key-file", str(key)]) == 0
    moved = tmp_path / "elsewhere" / "shared"
    moved.parent.mkdir()
    shutil.move(out, moved)
    assert main(["data", "summary", str(moved)]) == 0
    assert "295" in capsys.readouterr().out
    before = sorted(p.name for p in raw.iterdir())
    assert main(["data", "summary", str(raw)]) == 2
    got = capsys.readouterr()
    assert "300" not in got.out and got.out == ""
    assert "publish from one of them only" in got.err
    assert "neither the copy nor anything published from it was ever shared" in got.err
    assert "wherever it is now" in got.err and "Traceback" not in got.err
    assert sorted(p.name for p in raw.iterdir()) == before  # no published.json


def test_the_rows_accepted_give_no_small_count_by_difference(tmp_path: Path, capsys) -> None:
    """15 pupils of one week, 2 with an unknown sex and 12 weeks with attendance out of range:
    the students' 13 accepted and the total's 16 were printed, and gave the 3 weeks of
    observations accepted."""
    st, ob = fake_export(seed=1, n_students=15, n_weeks=1)
    st.loc[[0, 1], "Gender"] = "Zz"
    ob.loc[list(range(3, 15)), "Att"] = "999"
    paths = write_export(tmp_path, st, ob)
    assert main(["data", "validate", str(paths["students"]), str(paths["observations"]),
                 "--mapping", str(paths["mapping"]), "--show", "0"]) == 2
    printed = capsys.readouterr().out
    assert len(_counts(printed)) == 3
    assert _recoverable(printed) == [], printed


def test_rejects_are_not_listed_by_default_when_their_count_is_withheld(tmp_path: Path,
                                                                       capsys) -> None:
    """3 pupils rejected, printed as c: a default list of the first 20 rejects, each naming
    its file and row, counted them again (3 lines of students.csv)."""
    paths = _bad_export(tmp_path)
    assert main(["data", "validate", str(paths["students"]), str(paths["observations"]),
                 "--mapping", str(paths["mapping"])]) == 2
    printed = capsys.readouterr().out
    assert "unknown_student: c rows" in printed
    assert "violations not listed" in printed and "--show N" in printed
    assert "rejects (file:row" not in printed and paths["students"].name + ":" not in printed
    # asked for, the owner gets them (their own export's rows to fix)
    assert main(["data", "validate", str(paths["students"]), str(paths["observations"]),
                 "--mapping", str(paths["mapping"]), "--show", "5"]) == 2
    assert "rejects (file:row" in capsys.readouterr().out


def test_rejects_are_listed_by_default_when_no_count_is_withheld(tmp_path: Path,
                                                                capsys) -> None:
    st, ob = fake_export(seed=4, n_students=300, n_weeks=4, schools=("NORTH", "SOUTH", "EAST"))
    st.loc[list(range(0, 60, 2)), "Gender"] = "Zz"  # 30 pupils and their 120 weeks
    paths = write_export(tmp_path, st, ob)
    assert main(["data", "validate", str(paths["students"]), str(paths["observations"]),
                 "--mapping", str(paths["mapping"])]) == 2
    printed = capsys.readouterr().out
    assert "c = a count of rows" not in printed, printed
    assert "rejects (file:row" in printed and "violations not listed" not in printed
