"""Same experiment file + same seed = the same runs, whatever the current folder; hostile
experiment files are short errors naming the file and key, with nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import names_one_problem

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


def test_the_group_figure_of_an_experiment_of_more_than_32_variants_is_drawn() -> None:
    """The by-group figure had 32 colours for the variants: an experiment of 33 or more
    variants ran every run and then failed with a KeyError traceback, writing no report."""
    import pandas as pd

    from srmsim.experiment.outcomes import OUTCOMES
    from srmsim.report.experiment import group_figure

    variants = [f"v{i}" for i in range(40)]
    ge = pd.DataFrame([{"group": g, "variant": v, "outcome": "attendance", "difference": 0.01,
                        "ci_low": 0.0, "ci_high": 0.02} for g in ("fsm", "sen") for v in variants])
    fig = group_figure(ge, OUTCOMES["attendance"], ["fsm", "sen"], "none", variants)
    colours = [bars.lines[0].get_color() for bars in fig.axes[0].containers]
    assert len(colours) == 80 and colours[0] == colours[8]  # the palette repeats


def test_an_uncertain_range_whose_width_overflows_is_refused_naming_the_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """[-1e308, 1e308] has finite ends, so `srmsim validate` called the file valid; every draw
    low + u * (high - low) was inf, and `srmsim experiment` refused a scenario key without
    saying it came from ``uncertain:``."""
    from srmsim.cli import main

    (tmp_path / "adm.yaml").write_text(yaml.safe_dump(
        {**ADMIN, "policy": {"parameters": {"x": 0.5}},
         "requests": {"cert": {**ADMIN["requests"]["cert"], "arrivals": {"per_week": 5}}}}))
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({
        "scenario": "adm.yaml", "baseline": "a", "outcomes": ["request_wait_median_days"],
        "variants": {"a": {}, "b": {}},
        "uncertain": {"policy.parameters.x": [-1e308, 1e308]}}))
    out = tmp_path / "out"
    for argv in (["validate", str(path)],
                 ["experiment", str(path), "--out", str(out), "--workers", "1", "--quiet"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert names_one_problem(err, path, "uncertain.policy.parameters.x:"), err
        assert "overflows" in err and "Traceback" not in err
    assert not out.exists()


def _stream_override(project: Path, here: Path) -> dict:
    """A request stream reading ``arr.csv``; a different file of that name in ``here``."""
    _days(project / "arr.csv", 80)
    _days(here / "arr.csv", 300)
    return {"requests": {"cert": {**ADMIN["requests"]["cert"], "arrivals": {"file": "arr.csv"}}}}


def test_a_trials_overrides_name_files_relative_to_the_trial_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial file's ``overrides`` naming ``arrivals.file: arr.csv`` read the file of the
    current folder, as an experiment's variants did."""
    from srmsim.trial.spec import load_trial

    project = tmp_path / "project"
    project.mkdir()
    scenarios = Path(__file__).resolve().parents[1] / "scenarios"
    (project / "reading_age.yaml").write_text((scenarios / "reading_age.yaml").read_text())
    trial = {"name": "rel", "scenario": "reading_age.yaml", "randomise": {"unit": "students"},
             "outcome": "reading_gap_end", "baseline": "reading_gap_start",
             "population": "flagged", "replications": 2, "seed": 1,
             "overrides": {"trust.n_schools": 2, "trust.students_per_year_group": 30,
                           **_stream_override(project, tmp_path)}}
    (project / "trial.yaml").write_text(yaml.safe_dump(trial))
    files = []
    for cwd in (project, tmp_path):
        monkeypatch.chdir(cwd)
        files.append(load_trial(Path("trial.yaml") if cwd == project
                                else Path("project/trial.yaml")
                                ).scenario.requests["cert"].arrivals.file)
    assert files == [str((project / "arr.csv").resolve())] * 2


@pytest.mark.parametrize("where", ["overrides", "baseline"])
def test_an_optimisations_files_are_relative_to_the_optimisation_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """The same for an optimisation file's ``overrides`` and its ``baseline:`` (which went to its
    experiment without the resolution the overrides get: read from the current folder)."""
    from srmsim.explore.optimise import BASELINE, load_optimisation

    project = tmp_path / "project"
    project.mkdir()
    (project / "tiny.yaml").write_text(yaml.safe_dump(
        {"name": "tiny", "trust": {"n_schools": 2, "students_per_year_group": 30},
         "policy": {"parameters": {"attendance_threshold": 0.9}}}))
    stream = _stream_override(project, tmp_path)
    opt = {"name": "rel", "scenario": "tiny.yaml", "replications": 2, "seed": 5,
           "levers": {"policy.parameters.attendance_threshold": {"low": 0.8, "high": 0.98}},
           "objectives": {"persistent_absence": "minimise"},
           where: stream if where == "overrides" else {"policy": None, **stream}}
    (project / "opt.yaml").write_text(yaml.safe_dump(opt))
    files = []
    for cwd, path in ((project, Path("opt.yaml")), (tmp_path, Path("project/opt.yaml"))):
        monkeypatch.chdir(cwd)
        optimisation = load_optimisation(path)
        scenario = (optimisation.base if where == "overrides"
                    else optimisation.experiment({}, replications=2, seed=5).variants[BASELINE])
        files.append(scenario.requests["cert"].arrivals.file)
    assert files == [str((project / "arr.csv").resolve())] * 2
