"""A second anonymised export of the same records is refused (srmsim.data.exports).

Found 2026-12-06: the 445-pupil sample exported at k = 5 keeping sex and at k = 3 keeping EAL
joined on student_id into 5 unique pupils and 25 classes under 5; with another key the two
exports still join on each pupil's weekly attendance. The source folder now records its
export; only the same export again is made.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_data_fakes import fake_export, write_export  # noqa: E402

from srmsim.cli import main  # noqa: E402
from srmsim.data import read_dataset  # noqa: E402

KEY = b"a-test-key-that-is-long-enough-1"
OTHER = b"another-test-key-long-enough-222"


@pytest.fixture
def raw(tmp_path: Path) -> dict[str, Path]:
    st, ob = fake_export(seed=7, n_students=300, n_weeks=3, schools=("NORTH", "SOUTH", "EAST"))
    paths = write_export(tmp_path, st, ob)
    out = tmp_path / "raw"
    paths["out"] = out
    assert main(["data", "import", str(paths["students"]), str(paths["observations"]),
                 "--mapping", str(paths["mapping"]), "--out", str(out), "--show", "0"]) == 0
    for name, key in (("key", KEY), ("other", OTHER)):
        paths[name] = tmp_path / f"{name}.key"
        paths[name].write_bytes(key)
    return paths


def _export(raw: dict[str, Path], out: Path, *flags: str, key: str = "key") -> int:
    return main(["data", "anonymise", str(raw["out"]), "--out", str(out), "--key-file",
                 str(raw[key]), *flags])


def _joined_below_k(a: Path, b: Path, k: int) -> int:
    """Pupils whose joined quasi-identifiers of two exports (joined on student_id) are
    shared by fewer than ``k``: what an attacker holding both gets."""
    sa, sb = read_dataset(a).students, read_dataset(b).students
    both = sa.merge(sb, on="student_id", suffixes=("_a", "_b"))
    quasi = [c for c in both.columns if c != "student_id" and c.endswith(("_a", "_b"))
             and c.removesuffix("_a").removesuffix("_b") in ("sex", "eal", "year_group")]
    sizes = both.groupby(quasi, dropna=False, observed=True)["student_id"].transform("size")
    return int((sizes < k).sum())


def test_a_second_export_with_other_settings_is_refused_and_writes_nothing(
        raw, tmp_path: Path, capsys) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    assert _export(raw, first, "--quasi", "school,year_group,sex") == 0
    capsys.readouterr()
    assert _export(raw, second, "--quasi", "school,year_group,eal", "--k", "3") == 2
    err = capsys.readouterr().err
    assert "these records were anonymised before" in err and "nothing written" in err
    assert "k 5 then, 3 now" in err and "quasi school,year_group,sex then" in err
    assert f"delete {raw['out'] / 'exports.json'}" in err
    assert "Traceback" not in err
    assert not second.exists()
    # what the refusal prevents: the two exports, made (from a second import of the same
    # files, which keeps no ledger of the first), join below k
    again = tmp_path / "raw2"
    assert main(["data", "import", str(raw["students"]), str(raw["observations"]),
                 "--mapping", str(raw["mapping"]), "--out", str(again), "--show", "0"]) == 0
    assert main(["data", "anonymise", str(again), "--out", str(second), "--key-file",
                 str(raw["key"]), "--quasi", "school,year_group,eal", "--k", "3"]) == 0
    assert _joined_below_k(first, second, 3) > 0


@pytest.mark.parametrize("flags, key, says", [
    (["--k", "6"], "key", "k 5 then, 6 now"),
    (["--max-suppressed", "0.2"], "key", "max_suppressed 0.05 then, 0.2 now"),
    (["--l", "2", "--sensitive", "sen"], "key", "l_diversity 1 then, 2 now"),
    (["--reference-date", "2024-01-01"], "key", "reference_date (the import's) then, "
                                                "2024-01-01 now"),
    ([], "other", "another key (key id"),  # the records join on their attendance
])
def test_every_setting_and_the_key_make_another_export(raw, tmp_path: Path, capsys, flags,
                                                       key, says) -> None:
    assert _export(raw, tmp_path / "a", "--quasi", "year_group,sex") == 0
    capsys.readouterr()
    assert _export(raw, tmp_path / "b", "--quasi", "year_group,sex", *flags, key=key) == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_the_same_export_again_is_allowed_and_identical(raw, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert _export(raw, a, "--quasi", "year_group,sex") == 0
    assert _export(raw, b, "--quasi", "year_group,sex") == 0
    for name in ("students.parquet", "observations.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(a / name), pd.read_parquet(b / name))
    ledger = json.loads((raw["out"] / "exports.json").read_text())
    assert ledger["format"] == "srmsim-anonymised-exports" and len(ledger["exports"]) == 1
    entry = ledger["exports"][0]
    assert entry["settings"]["quasi"] == ["year_group", "sex"] and entry["settings"]["k"] == 5
    assert KEY.decode() not in (raw["out"] / "exports.json").read_text()  # a fingerprint only
    assert (raw["out"] / "exports.json").stat().st_mode & 0o777 == 0o600
    # the anonymised copy carries no record of the source's exports (nor its key's id twice)
    assert not (a / "exports.json").exists()


def test_new_records_imported_over_the_folder_keep_the_record(raw, tmp_path: Path,
                                                              capsys) -> None:
    """The new records are mostly the same pupils: an export of them beside the first joins
    as two exports of one set of records do."""
    assert _export(raw, tmp_path / "a", "--quasi", "year_group,sex") == 0
    st, ob = fake_export(seed=8, n_students=300, n_weeks=3, schools=("NORTH", "SOUTH", "EAST"))
    (tmp_path / "newer").mkdir()
    newer = write_export(tmp_path / "newer", st, ob)
    assert main(["data", "import", str(newer["students"]), str(newer["observations"]),
                 "--mapping", str(newer["mapping"]), "--out", str(raw["out"]), "--show", "0",
                 "--overwrite"]) == 0
    assert (raw["out"] / "exports.json").exists()
    capsys.readouterr()
    assert _export(raw, tmp_path / "b", "--quasi", "year_group,sex") == 2
    assert "the records changed since" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["garbage", "edited", "folder"])
def test_a_damaged_record_refuses_the_export_and_the_overwrite(raw, tmp_path: Path, capsys,
                                                               damage: str) -> None:
    assert _export(raw, tmp_path / "a", "--quasi", "year_group,sex") == 0
    path = raw["out"] / "exports.json"
    if damage == "garbage":
        path.write_text("{not json")
    elif damage == "edited":
        path.write_text(json.dumps({"format": "srmsim-anonymised-exports", "exports": []}))
    else:
        path.unlink()
        path.mkdir()
    capsys.readouterr()
    assert _export(raw, tmp_path / "b", "--quasi", "year_group,sex") == 2
    err = capsys.readouterr().err
    assert "exports.json" in err and "Traceback" not in err
    assert not (tmp_path / "b").exists()
    assert main(["data", "import", str(raw["students"]), str(raw["observations"]),
                 "--mapping", str(raw["mapping"]), "--out", str(raw["out"]), "--show", "0",
                 "--overwrite"]) == 2
    assert "exports.json" in capsys.readouterr().err


def test_a_source_folder_that_cannot_record_the_export_gets_none(raw, tmp_path: Path,
                                                                 capsys, monkeypatch) -> None:
    """A read-only source folder (as a user's; root writes anyway, so the write is made to
    fail): the export is never made unrecorded."""
    import srmsim.data.exports as exports

    def refuse(path, text, private=False):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(exports, "write_file", refuse)
    assert _export(raw, tmp_path / "a", "--quasi", "year_group,sex") == 2
    err = capsys.readouterr().err
    assert "exports.json: cannot be written (Permission denied)" in err
    assert not (tmp_path / "a").exists()
