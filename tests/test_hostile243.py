"""Hostile input to the experiment commands, sweep 243 (2026-12-07).

- A manifest whose ``sessions`` was not a list (hand-edited) stopped ``--resume`` with an
  AttributeError traceback, after the runs.
- ``--resume`` of a folder whose manifest or failure records the analysis refuses recorded a
  session in the manifest (and a hand-made failure record among its failed runs) before the
  refusal.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import cli_refuses, folder_bytes

from srmsim.cli import main


def _resume(finished: Path, out: Path) -> list[str]:
    return ["experiment", str(finished.parent / "exp.yaml"), "--out", str(out), "--resume",
            "--quiet", "--workers", "1", "--no-report"]


def _edit_manifest(study: Path, **changes: object) -> None:
    path = study / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest, indent=2))


# ------------------------------------------------------------ damaged manifests on --resume
@pytest.mark.parametrize("sessions", ["x", None, {"a": 1}])
def test_a_manifest_whose_sessions_are_no_list_is_refused(finished, study, capsys, sessions):
    _edit_manifest(study, sessions=sessions)
    before = folder_bytes(study)
    for argv in (_resume(finished, study), ["compare", str(study)]):
        cli_refuses(capsys, argv, f"{study / 'manifest.json'}: not an srmsim experiment "
                                  "manifest (hand-edited or corrupt)")
    assert folder_bytes(study) == before


def _deleted(study: Path, replication: int) -> Path:
    """``study`` without the stored run ``replication`` of variant texts (and its detail)."""
    for path in [study / "runs" / "texts" / f"rep-{replication:05d}.parquet",
                 *(study / "detail" / "texts").glob(f"rep-{replication:05d}-*")]:
        path.unlink()
    return study


def _failure(study: Path, replication: int, **changes: object) -> Path:
    manifest = json.loads((study / "manifest.json").read_text())
    path = study / "failures" / "texts" / f"rep-{replication:05d}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"variant": "texts", "replication": replication,
                                "seed": manifest["seeds"][replication], "error": "E: x",
                                "experiment_hash": manifest["experiment_hash"], **changes}))
    return path


@pytest.mark.parametrize("damage, says", [
    (lambda s: _edit_manifest(s, baseline="texts"), "its baseline is not the experiment's"),
    (lambda s: _edit_manifest(s, name="other"), "its name is not the experiment's"),
    (lambda s: _failure(s, 1).write_text("{not json"), "unreadable"),
    (lambda s: _failure(s, 1), "a failure record of a run that is stored"),
    (lambda s: _failure(_deleted(s, 1), 1, seed=5),
     "whose seed is not the one manifest.json gives replication 1"),
])
def test_a_resume_the_analysis_would_refuse_writes_nothing(finished, study, capsys, damage,
                                                           says):
    damage(study)
    before = folder_bytes(study)
    cli_refuses(capsys, _resume(finished, study), says)
    assert folder_bytes(study) == before  # no session added, no failure listed


def test_a_failure_record_a_killed_session_left_unlisted_still_resumes(finished, study,
                                                                        capsys):
    """A session killed after a run's failure record was written, before the manifest listed
    it at the session's end: the resume runs it again (the record is not refused)."""
    _failure(_deleted(study, 1), 1)
    assert main(_resume(finished, study)) == 0, capsys.readouterr().err
    assert (study / "runs" / "texts" / "rep-00001.parquet").exists()
    assert not (study / "failures" / "texts" / "rep-00001.json").exists()
    assert json.loads((study / "manifest.json").read_text())["failed"] == []
