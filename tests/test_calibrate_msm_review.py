"""``srmsim calibrate`` review: inputs the objective or the simulated measurement got wrong.

- a moment given twice in ``--moments`` was counted twice (double weight, and two "moments"
  towards the moments-per-parameter check) instead of being refused like a repeated parameter;
- records with attendance on term rows only (a termly return) were measured on term rows, which
  the simulated export never has, so every calibration failed with "narrow the bounds";
- reading ages on week rows other than a school year's first week were fitted to a week the
  simulation never tests reading in: the same failure, for the default calibration too.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from conftest import small_record_trust

from srmsim.cli import main
from srmsim.data.dataset import Dataset, write_dataset

FAST = ["--max-evals", "2", "--replications", "1", "--quiet"]


def cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


def dataset(tmp_path: Path, observations=None) -> Path:
    ds = small_record_trust(60)
    obs = ds.observations if observations is None else observations(ds.observations.copy())
    write_dataset(Dataset(ds.students, obs, ds.meta), tmp_path / "ds")
    return tmp_path / "ds"


def test_a_moment_given_twice_is_refused(tmp_path) -> None:
    data = dataset(tmp_path)
    status, out, err = cli(["calibrate", str(data), "--out", str(tmp_path / "fit"), "--params",
                            "dynamics.absence_logit,dynamics.absence_engagement", "--moments",
                            "attendance,attendance,persistent_absence", *FAST])
    assert status == 2 and out == "" and "Traceback" not in err
    assert "--moments" in err and "attendance" in err and "given twice" in err
    assert not (tmp_path / "fit").exists()
