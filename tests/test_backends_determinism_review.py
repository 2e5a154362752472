"""Same experiment file + same seed = the same runs, whatever the current folder; hostile
experiment files are short errors naming the file and key, with nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from srmsim.experiment.spec import load_experiment

ADMIN = {"name": "adm", "years": 1, "trust": {"n_schools": 0},
         "requests": {"cert": {"arrivals": {"file": "base.csv"},
                               "steps": [{"name": "intake", "role": "clerk", "minutes": 30}],
                               "staff": {"clerk": {"staff": 1}}}}}


def _days(path: Path, n: int) -> None:
    path.write_text("day\n" + "\n".join(str(i * 0.5) for i in range(n)) + "\n")


def test_a_variants_relative_arrivals_file_is_relative_to_the_experiment_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A variant's ``arrivals.file: arr.csv`` was read relative to the current folder: the
    same experiment file gave other runs (another arr.csv there) or failed, depending on where
    the command was typed. It is relative to the experiment file, as the base scenario's are
    to the scenario file."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "adm.yaml").write_text(yaml.safe_dump(ADMIN))
    _days(project / "base.csv", 50)
    _days(project / "arr.csv", 80)
    _days(tmp_path / "arr.csv", 300)  # a different file of the same name, in the cwd
    exp = {"name": "rel", "scenario": "adm.yaml", "baseline": "model", "replications": 2,
           "seed": 3, "outcomes": ["request_wait_median_days"],
           "variants": {"model": {}, "real": {"requests.cert.arrivals.file": "arr.csv"}}}
    path = project / "exp.yaml"
    path.write_text(yaml.safe_dump(exp))
    files = []
    for cwd in (project, tmp_path):
        monkeypatch.chdir(cwd)
        experiment = load_experiment(path.relative_to(cwd))
        files.append(experiment.variants["real"].requests["cert"].arrivals.file)
    assert files == [str((project / "arr.csv").resolve())] * 2
