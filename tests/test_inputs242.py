"""Helper 242: small input leftovers (resume into a missing folder, the student id column's
names, import's wording for a missing number, every grid value of a lever as a divisor)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import cli_refuses


def _command(kind: str, tmp: Path) -> list[str]:
    if kind == "experiment":
        from test_experiment import write_experiment

        return ["experiment", str(write_experiment(tmp, replications=2))]
    if kind == "optimise":
        from test_explore import small_front_file

        return ["optimise", str(small_front_file(tmp))]
    from test_trial_resume import write_trial

    return ["trial", str(write_trial(tmp, 2))]


@pytest.mark.parametrize("kind", ["experiment", "optimise", "trial"])
def test_resume_into_a_folder_that_does_not_exist_is_refused(kind, tmp_path, capsys):
    """`--out results/typo --resume` started a fresh study, silently: the user asked for their
    earlier runs. Refused in one line, nothing written."""
    argv = _command(kind, tmp_path)
    out = tmp_path / "results" / "typo"
    before = sorted(tmp_path.rglob("*"))
    err = cli_refuses(capsys, [*argv, "--out", str(out), "--resume", "--quiet", "--workers",
                               "1"],
                      contains=f"{out}: no such folder to resume; leave out --resume to start "
                               "a new study there")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "results").exists()
    assert sorted(tmp_path.rglob("*")) == before
