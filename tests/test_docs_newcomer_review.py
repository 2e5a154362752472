"""Claims a newcomer reads in the docs, checked against what srmsim does.

docs/privacy.md (section 2) says a trial of a simulated trust is written with your umask, like
every other file of the trial, and only a trial of a trust built from records is owner-only.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import yaml

from srmsim.cli import main

REPO = Path(__file__).resolve().parents[1]


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_simulated_trials_report_is_readable_like_its_other_files(tmp_path, capsys) -> None:
    """report.html of ``srmsim trial`` was built inside the command's temporary folder (0700),
    which the report took for a study of real records, so it alone was written 0600."""
    spec = {
        "name": "tiny_trial",
        "scenario": str(REPO / "scenarios" / "reading_age.yaml"),
        "overrides": {"trust.n_schools": 2, "trust.students_per_year_group": 30},
        "randomise": {"unit": "students"},
        "outcome": "reading_gap_end",
        "population": "all",
        "replications": 2,
        "seed": 3,
    }
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "res"
    old = os.umask(0o022)
    try:
        assert main(["trial", str(path), "--out", str(out), "--quiet", "--workers", "1"]) == 0
    finally:
        os.umask(old)
    capsys.readouterr()
    assert _mode(out) == 0o755
    assert _mode(out / "trial_runs.csv") == 0o644
    assert _mode(out / "report.html") == 0o644
