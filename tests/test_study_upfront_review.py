"""Studies refused up front when a run cannot fit in memory, ``validate``'s warning of it, and
small defects left on the last review (a trial's payload, a run file's replication, an
experiment with only its baseline)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import yaml

import srmsim.memory
from srmsim.cli import main
from srmsim.errors import SrmsimError

REPO = Path(__file__).resolve().parents[1]
GIB = 2**30


def _stream(backlog: int) -> dict:
    return {"desk": {"arrivals": {"per_week": 5}, "backlog": backlog,
                     "steps": [{"name": "a", "role": "clerk", "minutes": 30}],
                     "staff": {"clerk": {"staff": 1}}}}


def _experiment(tmp_path: Path, variants: dict, name: str = "e.yaml") -> Path:
    """A request desk of no students (a run takes a second), its variants as given."""
    scenario = tmp_path / "desk.yaml"
    scenario.write_text(yaml.safe_dump({"name": "desk", "trust": {"n_schools": 0}, "years": 1,
                                        "requests": _stream(10)}))
    path = tmp_path / name
    path.write_text(yaml.safe_dump({
        "name": "e", "scenario": str(scenario), "baseline": "base", "replications": 1,
        "seed": 1, "outcomes": ["request_wait_median_days"], "variants": variants}))
    return path


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _fails(capsys, *argv: str, contains: str) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.startswith("srmsim: error:") and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and contains in err, err
    return err


# ------------------------------------------------------------------ 1. studies refused up front
def test_an_experiment_with_a_variant_too_big_writes_nothing(tmp_path, capsys, monkeypatch):
    """A variant of 10 million waiting requests: every run failed with the memory message, but
    only after manifest.json, experiment.yaml, scenarios/ and failures/ were written into the
    new --out folder (and the command went on to refuse the analysis)."""
    path = _experiment(tmp_path, {"base": {}, "huge": {"requests.desk.backlog": 10_000_000}})
    earlier = tmp_path / "earlier"
    assert main(["experiment", str(_experiment(tmp_path, {"base": {}}, "one.yaml")), "--out",
                 str(earlier), "--workers", "1", "--quiet", "--no-report"]) == 0
    before = _digest(earlier)
    capsys.readouterr()
    monkeypatch.setattr(srmsim.memory, "available_bytes", lambda: 16 * GIB)
    new = tmp_path / "new"
    err = _fails(capsys, "experiment", str(path), "--out", str(new), "--workers", "1",
                 "--quiet", contains="variant 'huge' simulates about 10,000,195 requests")
    assert "GiB" in err and "base" not in err.split("simulates")[0]
    assert not new.exists()
    _fails(capsys, "experiment", str(path), "--out", str(earlier), "--workers", "1", "--quiet",
           contains="variant 'huge'")
    assert _digest(earlier) == before


def test_an_experiment_is_checked_with_the_runs_own_school_sizes(tmp_path, monkeypatch):
    """The up-front check weighs what the run itself weighs (the same estimate): a trust that
    the run would refuse is refused before the store, one it would run passes."""
    from srmsim.experiment.runner import run_experiment
    from srmsim.experiment.spec import load_experiment
    from srmsim.memory import RunTooBigError
    from srmsim.model import TrustModel

    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump({"name": "s", "trust": {"n_schools": 3,
                                                               "students_per_year_group": 30}}))
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump({"name": "e", "scenario": str(scenario), "baseline": "a",
                                    "replications": 1, "variants": {"a": {}, "b": {
                                        "trust.students_per_year_group": 3000}}}))
    exp = load_experiment(path)
    seed = exp.seeds(1)[0]
    # room for variant a's run, not b's: TrustModel agrees with the up-front check
    room = srmsim.memory.BASE_BYTES + 50_000 * srmsim.memory.BYTES_PER_STUDENT
    monkeypatch.setattr(srmsim.memory, "available_bytes", lambda: room)
    TrustModel(exp.scenario_for("a", 0), seed=seed).release()
    with pytest.raises(RunTooBigError) as run_err:
        TrustModel(exp.scenario_for("b", 0), seed=seed)
    with pytest.raises(RunTooBigError) as study_err:
        run_experiment(exp, tmp_path / "out", workers=1, progress=False)
    assert str(study_err.value) == ("experiment 'e': variant 'b'"
                                    + str(run_err.value).removeprefix("scenario 's'"))
    assert not (tmp_path / "out").exists()


def test_a_trial_too_big_is_refused_before_its_folder_is_written(tmp_path, capsys, monkeypatch):
    """Each replication failed with the memory message (exit 1) after trial.json, the store,
    trial_runs.csv, a figure and report.html had been written."""
    monkeypatch.setattr(srmsim.memory, "available_bytes", lambda: 100 * 2**20)
    out = tmp_path / "t"
    _fails(capsys, "trial", str(REPO / "experiments" / "trial_reading.yaml"), "--replications",
           "2", "--workers", "1", "--quiet", "--out", str(out),
           contains="trial 'trial_reading': scenario 'reading_age' simulates about")
    assert not out.exists()


# ------------------------------------------------------------------ 2. validate warns
def test_validate_warns_that_a_scenario_does_not_fit_this_machine(tmp_path, capsys,
                                                                   monkeypatch):
    """`validate` said only "valid scenario" of a run `srmsim run` refuses here; the file is
    valid (another machine may run it), so a warning with the figures and exit status 0."""
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump({"name": "big", "trust": {"n_schools": 0}, "years": 1,
                                        "requests": _stream(10_000_000)}))
    monkeypatch.setattr(srmsim.memory, "available_bytes", lambda: 16 * GIB)
    assert main(["validate", str(scenario)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("valid scenario 'big' (0 schools, 1 year, policy: no)")
    assert len(out) == 2 and out[1].startswith("warning: "), out
    assert "about 10,000,195 requests" in out[1] and "16.0 GiB is available" in out[1]
    path = _experiment(tmp_path, {"base": {}, "huge": {"requests.desk.backlog": 10_000_000}})
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "warning: " in out[1] and "variant 'huge'" in out[1], out
    # what fits: no warning
    assert main(["validate", str(REPO / "scenarios" / "certification_backlog.yaml")]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1


# ------------------------------------------------------------------ 3. trial payload
def test_a_trial_rebuilt_from_its_payload_keeps_its_digest():
    """Without the records' SHA-256 in the payload, the trial a worker rebuilt hashed as
    another trial."""
    from srmsim.trial.spec import Trial, load_trial

    trial = load_trial(REPO / "experiments" / "trial_reading.yaml")
    trial = replace(trial, input_files={"records:/data/pupils.parquet": "ab" * 32})
    rebuilt = Trial.from_payload(trial.to_payload())
    assert rebuilt.input_files == trial.input_files
    assert rebuilt.digest() == trial.digest()


# ------------------------------------------------------------------ 4. run file's replication
@pytest.mark.parametrize("value", [True, 1.5, "1"])
def test_a_run_file_whose_replication_is_no_integer_is_refused(tmp_path, value):
    """int() read a replication True (or 1.5) as replication 1 of rep-00001.parquet."""
    from srmsim.store import RunStore

    store = RunStore(tmp_path)
    path = store.run_path("a", 1)
    path.parent.mkdir(parents=True)
    pd.DataFrame({"variant": ["a"], "replication": [1], "seed": [7]}).to_parquet(path)
    assert store.load().loc[0, "replication"] == 1  # a whole one is read
    pd.DataFrame({"variant": ["a"], "replication": [value], "seed": [7]}).to_parquet(path)
    with pytest.raises(SrmsimError, match="rep-00001.parquet: not the run its name says") as err:
        store.load()
    assert store.rerun_hint() in str(err.value)


# ------------------------------------------------------------------ 5. only the baseline
def test_an_experiment_with_only_its_baseline_says_there_is_nothing_to_compare(tmp_path,
                                                                                capsys):
    """Its effects table was a header over no rows."""
    out = tmp_path / "o"
    assert main(["experiment", str(_experiment(tmp_path, {"base": {}})), "--out", str(out),
                 "--workers", "1", "--quiet", "--no-report"]) == 0
    printed = capsys.readouterr().out
    assert "no variant to compare with the baseline" in printed
    assert "mean_baseline" not in printed
    assert main(["compare", str(out)]) == 0
    assert "no variant to compare with the baseline" in capsys.readouterr().out


# ------------------------------------------------------------------ 6. optimisation refused up front
def test_an_optimisation_too_big_is_refused_before_its_folder_is_written(tmp_path, capsys,
                                                                          monkeypatch):
    """Every run of the search failed with the memory message, then the search stopped on
    "no finished runs", leaving study.db, optimise.json and search/failures in --out."""
    pytest.importorskip("optuna")
    monkeypatch.setattr(srmsim.memory, "available_bytes", lambda: 100 * 2**20)
    out = tmp_path / "o"
    _fails(capsys, "optimise", str(REPO / "experiments" / "optimise_attendance.yaml"),
           "--workers", "1", "--quiet", "--out", str(out),
           contains="optimisation 'optimise_attendance': variant 'baseline' simulates about")
    assert not out.exists()
