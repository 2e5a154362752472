"""Privacy review 214: small counts in what the real-data commands write, and the key's place.

Found 2026-12-07: ``data anonymise`` wrote ``anonymisation_report.json`` into the anonymised
folder (which travels with the records) with ``students_suppressed: 5`` of ``students_in:
300`` and the observations dropped with them; the kept pupils are the records beside it, so
``students_in`` alone gave the 5 back. And a ``--key-file`` inside the input dataset's folder
was accepted: the key then travels with the raw records it links the pseudonyms to.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_data_fakes import fake_export, write_export  # noqa: E402

from srmsim.cli import main  # noqa: E402

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
