"""Shipped examples are usable after any install: packaged in the wheel, copied out intact."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from srmsim.cli import main
from srmsim.examples import FOLDERS

ROOT = Path(__file__).resolve().parents[1]


def _shipped() -> set[str]:
    files = set()
    for folder in FOLDERS:
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts \
                    and ".ipynb_checkpoints" not in path.parts:
                files.add(path.relative_to(ROOT).as_posix())
    return files


def test_copy_out_gives_every_example_and_they_run_from_there(tmp_path, capsys) -> None:
    target = tmp_path / "mine"
    assert main(["examples", str(target)]) == 0
    copied = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
    assert copied == _shipped()
    assert (target / "experiments/quickstart.yaml").read_bytes() == \
        (ROOT / "experiments/quickstart.yaml").read_bytes()
    # relative paths inside experiments still resolve from the copy
    assert main(["validate", str(target / "experiments/quickstart.yaml")]) == 0
    # never overwrites: a second copy into the same folder is refused and changes nothing
    (target / "scenarios/default.yaml").write_text("name: mine\n")
    assert main(["examples", str(target)]) == 2
    assert "would overwrite" in capsys.readouterr().err
    assert (target / "scenarios/default.yaml").read_text() == "name: mine\n"


def test_a_copy_that_fails_part_way_takes_back_what_it_wrote(tmp_path, monkeypatch,
                                                              capsys) -> None:
    """A full disk after a few files: exit 2, a short error, no file left behind (so the same
    command works once there is room), and a user's own file in the folder untouched."""
    import errno

    import srmsim.examples as examples

    real, calls = examples.write_atomic, []

    def fill_up(path, write, private=False):
        calls.append(path)
        if len(calls) > 5:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, write, private)

    target = tmp_path / "mine"
    target.mkdir()
    (target / ".notes").write_text("mine\n")  # (a visible file of the user's is refused)
    monkeypatch.setattr(examples, "write_atomic", fill_up)
    assert main(["examples", str(target)]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert [p.name for p in target.rglob("*")] == [".notes"]  # no file, no empty folder
    monkeypatch.setattr(examples, "write_atomic", real)
    assert main(["examples", str(target)]) == 0
    assert len([p for p in target.rglob("*") if p.is_file()]) == len(_shipped()) + 1


@pytest.mark.parametrize("link", ["mine/scenarios", "mine/data/sample", "mine"])
def test_a_symbolic_link_in_the_way_is_refused_and_nothing_is_written(tmp_path, capsys,
                                                                      link) -> None:
    # a scenarios/ linked elsewhere took the eleven scenarios out of the folder named
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "notes.txt").write_text("mine\n")
    (tmp_path / link).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / link).symlink_to(elsewhere, target_is_directory=True)
    assert main(["examples", str(tmp_path / "mine")]) == 2
    assert "is a symbolic link" in capsys.readouterr().err
    assert [p.name for p in elsewhere.iterdir()] == ["notes.txt"]
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "notes.txt"]


def test_the_wheel_carries_the_examples(tmp_path) -> None:
    # built from a copy: a build writes build/ and *.egg-info into its source tree, which CI's
    # install of the next Python is writing at the same time
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".ci", "build", "site", "results", "*.egg-info", ".*_cache", ".hypothesis",
        "__pycache__", "tests", "docs", "benchmarks"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "-q", "-w", str(tmp_path), str(source)],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"building the wheel failed: {proc.stderr[-2000:]}")
    wheel = next(tmp_path.glob("srmsim-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = {f for f in _shipped() if f"srmsim/examples/{f}" not in names}
    assert not missing, f"not in the wheel: {sorted(missing)[:5]}"
    assert "srmsim/py.typed" in names
