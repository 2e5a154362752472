"""Privacy review 214: small counts in what the real-data commands write, and the key's place.

Found 2026-12-07: ``data anonymise`` wrote ``anonymisation_report.json`` into the anonymised
folder (which travels with the records) with ``students_suppressed: 5`` of ``students_in:
300`` and the observations dropped with them; the kept pupils are the records beside it, so
``students_in`` alone gave the 5 back. And a ``--key-file`` inside the input dataset's folder
was accepted: the key then travels with the raw records it links the pseudonyms to.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_data_fakes import fake_export, write_export  # noqa: E402

from srmsim.cli import main  # noqa: E402
from srmsim.data import read_dataset  # noqa: E402
from srmsim.data.anonymise import AnonymisationReport  # noqa: E402

KEY = b"a-test-key-that-is-long-enough-1"


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    return import_raw(tmp_path)


def import_raw(tmp_path: Path) -> Path:
    """300 pupils of seed 4 imported to ``raw``: k = 5 over the default quasi-identifiers
    suppresses 5 of them."""
    st, ob = fake_export(seed=4, n_students=300, n_weeks=3, schools=("NORTH", "SOUTH", "EAST"))
    paths = write_export(tmp_path, st, ob)
    out = tmp_path / "raw"
    assert main(["data", "import", str(paths["students"]), str(paths["observations"]),
                 "--mapping", str(paths["mapping"]), "--out", str(out), "--show", "0"]) == 0
    return out


def small_counts_recovered(report: dict[str, Any], kept_students: int,
                           kept_observations: int) -> dict[str, int]:
    """What an attacker holding the anonymised folder works out: every count of the report,
    and every difference of its counts and of the records' row counts, that is under 10."""
    found = {}
    def num(name: str) -> int | None:
        v = report.get(name)
        return v if isinstance(v, int) and not isinstance(v, bool) else None
    cells = {name: num(name) for name in ("students_in", "students_suppressed",
                                          "observations_in", "observations_suppressed",
                                          "dob_converted")}
    derived = dict(cells)
    if cells["students_in"] is not None:
        derived["students_in - kept"] = cells["students_in"] - kept_students
        if cells["dob_converted"] is not None:
            derived["students_in - dob_converted"] = cells["students_in"] - cells["dob_converted"]
    if cells["dob_converted"] is not None:  # most exports give every pupil's date of birth
        derived["dob_converted - kept"] = cells["dob_converted"] - kept_students
    if cells["observations_in"] is not None:
        derived["observations_in - kept"] = cells["observations_in"] - kept_observations
    for name, v in derived.items():
        if v is not None and 0 <= v < 10 and not (name == "students_in - dob_converted"
                                                  and v == 0):
            found[name] = v
    return found


def test_the_folder_report_gives_no_small_count_back(raw: Path, tmp_path: Path, capsys) -> None:
    key = tmp_path / "key"
    key.write_bytes(KEY)
    out = tmp_path / "anon"
    assert main(["data", "anonymise", str(raw), "--out", str(out), "--key-file", str(key)]) == 0
    printed = capsys.readouterr().out
    assert "students suppressed: c of c" in printed  # printed as the file holds them (224)
    report = json.loads((out / "anonymisation_report.json").read_text())
    anon = read_dataset(out)
    assert len(anon.students) == 295
    assert small_counts_recovered(report, len(anon.students), len(anon.observations)) == {}
    assert report["students_suppressed"] == "c" and report["students_in"] == "c"
    assert report["observations_suppressed"] == "c" and report["observations_in"] == "c"
    assert report["suppression"]["threshold"] == 10 and "c" in report["suppression"]["note"]
    # every pupil had a date of birth, so 300 converted beside 295 records gave the 5 too
    assert report["dob_converted"] == "c"


def test_counts_of_ten_or_more_are_kept_and_small_remainders_hidden() -> None:
    shown = AnonymisationReport(students_in=300, students_suppressed=12, observations_in=900,
                                observations_suppressed=36, dob_converted=300,
                                reference_date="2024-09-01").shareable()
    assert (shown["students_in"], shown["students_suppressed"], shown["observations_in"],
            shown["observations_suppressed"], shown["dob_converted"]) == (300, 12, 900, 36, 300)
    # 3 pupils without a date of birth: 300 - 297
    no_dob = AnonymisationReport(students_in=300, students_suppressed=12, observations_in=900,
                                 observations_suppressed=36, dob_converted=297,
                                 reference_date="2024-09-01").shareable()
    assert no_dob["dob_converted"] == "c"
    assert small_counts_recovered(no_dob, 288, 864) == {}
    # 12 pupils suppressed with 5 observations: the observations' total would give the 5
    few_obs = AnonymisationReport(students_in=300, students_suppressed=12, observations_in=900,
                                  observations_suppressed=5, dob_converted=300,
                                  reference_date="2024-09-01").shareable()
    assert few_obs["observations_suppressed"] == "c" and few_obs["observations_in"] == "c"
    assert few_obs["students_suppressed"] == 12
    assert small_counts_recovered(few_obs, 288, 895) == {}


@pytest.mark.parametrize("where", ["key", "sub/key"])
def test_a_key_inside_the_input_dataset_folder_is_refused(raw: Path, tmp_path: Path, capsys,
                                                          where: str) -> None:
    key = raw / where
    key.parent.mkdir(exist_ok=True)
    key.write_bytes(KEY)
    out = tmp_path / "anon"
    assert main(["data", "anonymise", str(raw), "--out", str(out), "--key-file", str(key)]) == 2
    err = capsys.readouterr().err
    assert f"key file {key} is inside the dataset folder" in err and "Traceback" not in err
    assert not out.exists()
    assert not (raw / "exports.json").exists()  # nothing recorded either


def test_a_key_inside_another_dataset_folder_is_refused(raw: Path, tmp_path: Path,
                                                        capsys) -> None:
    other = tmp_path / "other"
    shutil.copytree(raw, other)  # any folder holding a dataset is shared whole
    key = other / "key"
    key.write_bytes(KEY)
    out = tmp_path / "anon"
    assert main(["data", "anonymise", str(raw), "--out", str(out), "--key-file", str(key)]) == 2
    assert "inside the dataset folder" in capsys.readouterr().err
    assert not out.exists()


def test_a_key_beside_the_dataset_folders_is_accepted(raw: Path, tmp_path: Path) -> None:
    key = tmp_path / "keys" / "key"
    key.parent.mkdir()
    key.write_bytes(KEY)
    assert main(["data", "anonymise", str(raw), "--out", str(tmp_path / "anon"),
                 "--key-file", str(key)]) == 0


# --------------------------------------------------------------------------------------------
# what is published of the source beside what is published of its anonymised copy
#
# Found 2026-12-07: the copy holds the source's pupils less those k-anonymity suppressed, and
# only a *summary* of the source bound the copy (bind_copy) when the copy was made. So
# `calibrate raw` (n = 300 per moment) then `data anonymise raw` then `data summary anon`
# (Total 295), or `data anonymise raw` then `data summary raw` (Total 300) then `data summary
# anon` (295), each printed both numbers: 5 pupils suppressed.


def _anonymise(raw: Path, tmp_path: Path) -> Path:
    key = tmp_path / "key"
    key.write_bytes(KEY)
    out = tmp_path / "anon"
    assert main(["data", "anonymise", str(raw), "--out", str(out), "--key-file", str(key)]) == 0
    return out


def _calibrate(data: Path, out: Path) -> int:
    return main(["calibrate", str(data), "--out", str(out), "--max-evals", "1",
                 "--replications", "1", "--quiet", "--params", "dynamics.absence_logit"])


def _pupils_printed(text: str) -> set[int]:
    """The pupil totals an attacker reads: a summary's Total students, calibrate's n."""
    found = set()
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["Total"] and len(words) > 1 and words[1].isdigit():
            found.add(int(words[1]))
    return found


def test_a_copy_made_after_a_calibration_of_its_source_is_bound(raw: Path, tmp_path: Path,
                                                               capsys) -> None:
    assert _calibrate(raw, tmp_path / "fit") == 0
    moments = pd.read_csv(tmp_path / "fit" / "fit_moments.csv")
    source_n = int(moments.loc[moments["moment"] == "attendance", "n"].iloc[0])
    assert source_n == 300
    anon = _anonymise(raw, tmp_path)
    capsys.readouterr()
    status = main(["data", "summary", str(anon)])
    out, err = capsys.readouterr()
    assert status == 2 and "none is published" in err and "Traceback" not in err, err
    copy_n = _pupils_printed(out)
    assert not any(0 < source_n - n < 10 for n in copy_n)  # 300 - 295 before
    assert _calibrate(anon, tmp_path / "fit2") == 2
    assert not (tmp_path / "fit2").exists()


@pytest.mark.parametrize("first", ["summary", "calibrate"])
def test_the_source_of_an_unbound_copy_publishes_nothing(raw: Path, tmp_path: Path, capsys,
                                                        first: str) -> None:
    anon = _anonymise(raw, tmp_path)
    capsys.readouterr()
    if first == "summary":
        status = main(["data", "summary", str(raw)])
    else:
        status = _calibrate(raw, tmp_path / "fit")
        assert not (tmp_path / "fit").exists()
    out, err = capsys.readouterr()
    assert status == 2 and "Traceback" not in err, err
    assert "its records were anonymised" in err and "exports.json" in err
    source_n = _pupils_printed(out)
    assert main(["data", "summary", str(anon)]) == 0  # the copy's own summary is allowed
    copy_n = _pupils_printed(capsys.readouterr().out)
    assert copy_n == {295}
    assert not any(0 < s - c < 10 for s in source_n for c in copy_n)  # 300 - 295 before
    assert not (raw / "published.json").exists()


def test_a_source_that_published_before_its_copy_goes_on_publishing(raw: Path, tmp_path: Path,
                                                                   capsys) -> None:
    """The copy made after a summary is bound, so the source's later summaries (breakdowns of
    the first) and its calibration are allowed, and a calibration before a summary does not
    fix the summary's threshold."""
    assert main(["data", "summary", str(raw), "--by", "school,sex"]) == 0
    _anonymise(raw, tmp_path)
    assert main(["data", "summary", str(raw), "--by", "sex"]) == 0
    assert _calibrate(raw, tmp_path / "fit") == 0
    other = tmp_path / "other"
    shutil.copytree(raw, other)
    (other / "published.json").unlink()
    (other / "exports.json").unlink()
    assert _calibrate(other, tmp_path / "fit_other") == 0
    assert main(["data", "summary", str(other), "--threshold", "12"]) == 0
    ledger = json.loads((other / "published.json").read_text())
    assert ledger["threshold"] == 12 and ledger["counted"] == ["calibrate"]


def _thresholds(path: Path, out: Path, *flags: str) -> int:
    return main(["thresholds", str(path), "--score", "prior_attainment", "--outcome", "fsm",
                 "--out", str(out), *flags])


def _rows_printed(text: str) -> set[int]:
    return {int(line.split()[1].rstrip(";")) for line in text.splitlines()
            if line.startswith("rows: ") and line.split()[1].rstrip(";").isdigit()}


def test_thresholds_of_a_bound_copy_print_nothing(raw: Path, tmp_path: Path, capsys) -> None:
    """`data summary raw` (Total 300), then a copy keeping FSM, then `thresholds anon`
    printed 'rows: 295' and '77 of 295' with the outcome: the 5 suppressed, none of them FSM."""
    assert main(["data", "summary", str(raw)]) == 0
    source_n = _pupils_printed(capsys.readouterr().out)
    assert source_n == {300}
    key = tmp_path / "key"
    key.write_bytes(KEY)
    anon = tmp_path / "anon"
    assert main(["data", "anonymise", str(raw), "--out", str(anon), "--key-file", str(key),
                 "--quasi", "school,year_group,age_months,sex"]) == 0
    capsys.readouterr()
    status = _thresholds(anon, tmp_path / "t")
    out, err = capsys.readouterr()
    assert not any(0 < 300 - n < 10 for n in _rows_printed(out))
    assert status == 2 and "published from other records" in err and "Traceback" not in err
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("target", ["folder", "file"])
def test_thresholds_of_records_bind_a_later_copy(raw: Path, tmp_path: Path, capsys,
                                                target: str) -> None:
    path = raw if target == "folder" else raw / "students.parquet"
    assert _thresholds(path, tmp_path / "t") == 0
    assert _rows_printed(capsys.readouterr().out) == {300}
    assert json.loads((raw / "published.json").read_text())["counted"] == ["thresholds"]
    anon = _anonymise(raw, tmp_path)
    capsys.readouterr()
    assert main(["data", "summary", str(anon)]) == 2  # its Total of 295 beside the 300
    assert "none is published" in capsys.readouterr().err


def test_thresholds_refused_for_bad_input_or_an_unbound_copy_record_nothing(
        raw: Path, tmp_path: Path, capsys) -> None:
    assert main(["thresholds", str(raw), "--score", "nosuch", "--outcome", "fsm", "--out",
                 str(tmp_path / "t")]) == 2
    assert not (raw / "published.json").exists()  # nothing printed, nothing recorded
    _anonymise(raw, tmp_path)
    capsys.readouterr()
    assert _thresholds(raw, tmp_path / "t") == 2
    out, err = capsys.readouterr()
    assert "its records were anonymised" in err and not out
    assert not (raw / "published.json").exists() and not (tmp_path / "t").exists()
