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

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_data_fakes import fake_export, write_export  # noqa: E402

from srmsim.cli import main  # noqa: E402
from srmsim.data import read_dataset  # noqa: E402
from srmsim.data.anonymise import AnonymisationReport  # noqa: E402

KEY = b"a-test-key-that-is-long-enough-1"


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    # 300 pupils of seed 4: k = 5 over the default quasi-identifiers suppresses 5 of them
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
    assert "students suppressed: 5 of 300" in printed  # the data owner's own screen
    report = json.loads((out / "anonymisation_report.json").read_text())
    anon = read_dataset(out)
    assert len(anon.students) == 295
    assert small_counts_recovered(report, len(anon.students), len(anon.observations)) == {}
    assert report["students_suppressed"] == "c" and report["students_in"] == "c"
    assert report["observations_suppressed"] == "c" and report["observations_in"] == "c"
    assert report["suppression"]["threshold"] == 10 and "c" in report["suppression"]["note"]
    assert report["dob_converted"] == 300  # 0 without a date of birth: a fact of the export


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
