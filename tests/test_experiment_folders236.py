"""Experiment folders read from Python and while an experiment starts (helper 236, 2026-12-07).

Python's ``compare(path)`` accepted an edited variant scenario that ``srmsim compare`` refused;
the note on an older folder's unchecked experiment.yaml; ``srmsim experiment --out F`` claiming
F before its slow start-up; Ctrl-C while local workers run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import srmsim.experiment
from srmsim.cli import main
from srmsim.errors import SrmsimError


def resume(finished: Path, out: Path) -> list[str]:
    """The command that resumes a copy (``out``) of the conftest's finished experiment."""
    return ["experiment", str(finished.parent / "exp.yaml"), "--out", str(out), "--resume",
            "--quiet", "--workers", "1"]


# ------------------------------------------------------------ 1. one check for every reader
@pytest.mark.parametrize("edit", ["edited", "deleted"])
def test_python_compare_refuses_an_edited_variant_scenario(study, edit):
    """``srmsim.experiment.compare(path)`` (and load_runs, which sensitivity and discover
    read through) checked experiment.yaml but not scenarios/<variant>.yaml: an edited one
    gave effects from Python that the command and ExperimentResult.load refused."""
    path = study / "scenarios" / "texts.yaml"
    if edit == "edited":
        scenario = yaml.safe_load(path.read_text())
        scenario["policy"]["staff"]["school"]["pastoral"] = 1
        path.write_text(yaml.safe_dump(scenario))
        problem = f"{path}: not the scenario variant 'texts' ran"
    else:
        path.unlink()
        problem = f"{path}: missing (srmsim saves every variant's scenario"
    for read in (srmsim.experiment.compare, srmsim.experiment.load_runs,
                 srmsim.experiment.ExperimentResult.load):
        with pytest.raises(SrmsimError) as err:
            read(study)
        assert str(err.value).startswith(problem), (read, str(err.value))


# ------------------------------------------------------------ 3. an older folder's note
def _older(study: Path) -> str:
    """``study`` as an srmsim older than experiment.yaml's SHA-256 left it; its note."""
    manifest_path = study / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["experiment_yaml_sha256"]
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return (f"note: {study / 'experiment.yaml'} is not checked: manifest.json records no "
            "SHA-256 of it (results of an srmsim older than that check)\n")


@pytest.mark.parametrize("command", ["compare", "report", "compare --report", "resume"])
def test_an_older_folders_unchecked_copy_is_noted_once_a_command(finished, study, capsys,
                                                                 command):
    """A resume of an older folder printed the note twice (its start, then the results read
    for the effects); each command says it once, on one line, whatever its variants."""
    note = _older(study)
    for kind in ("runs", "detail"):  # a run to make again: the resume reads and writes
        for f in (study / kind / "texts").glob("rep-00001*"):
            if command == "resume":
                f.unlink()
    argv = resume(finished, study) if command == "resume" else [*command.split(), str(study)]
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count(note) == 1, out

