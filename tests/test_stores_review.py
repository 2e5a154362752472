"""Review of the trial and experiment stores, comparison and a few small calls: defects left on
the last review's notes, each with the call that showed it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import two_school_records
from scipy import special

from srmsim.cli import main
from srmsim.errors import SrmsimError

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def records(tmp_path: Path) -> Path:
    return two_school_records(tmp_path)


def re_import(records: Path) -> None:
    """The same path, one pupil's record changed (a re-import with other pupils)."""
    frame = pd.read_parquet(records)
    frame.loc[0, "fsm"] = not frame.loc[0, "fsm"]
    frame.to_parquet(records)


def trial_file(tmp_path: Path, records: Path | None, replications: int = 2) -> Path:
    spec = {"name": "t", "scenario": str(REPO / "scenarios" / "reading_age.yaml"),
            "overrides": {"trust.students_per_year_group": 40,
                          **({"population.records": str(records)} if records
                             else {"trust.n_schools": 2})},
            "randomise": {"unit": "students"}, "outcome": "reading_gap_end",
            "baseline": "reading_gap_start", "population": "flagged",
            "replications": replications, "seed": 3}
    path = tmp_path / "trial.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


# ------------------------------------------------------------------ 1. trial hash and records
def test_a_trial_hash_covers_what_its_records_hold_not_only_their_path(tmp_path, records):
    from srmsim.trial.spec import load_trial, trial_digest

    path = trial_file(tmp_path, records)
    before = load_trial(path)
    assert list(before.input_files) == [f"records:{records}"]
    assert load_trial(path).digest() == before.digest()
    re_import(records)
    assert load_trial(path).digest() != before.digest()
    # a simulated trust's trial hashes as before: no records, nothing added
    simulated = load_trial(trial_file(tmp_path, None))
    assert simulated.input_files == {}
    assert simulated.digest() == trial_digest(simulated.config.model_dump(mode="json"),
                                              simulated.scenario.digest())


@pytest.mark.parametrize("resume", [True, False])
def test_resuming_a_trial_after_its_records_changed_is_refused_naming_them(
        tmp_path, records, capsys, resume):
    """--resume after a re-import into the same path mixed runs of two trusts (the hash
    covered the path only); the message names the records, not the unchanged trial file."""
    from srmsim.trial.spec import load_trial
    from srmsim.trial.store import TrialStore

    path = trial_file(tmp_path, records)
    out = tmp_path / "out"
    TrialStore.of(out).start(load_trial(path), 2, resume=False)  # an unfinished trial
    manifest = (out / "store" / "manifest.json").read_bytes()
    assert json.loads(manifest)["input_files"] == load_trial(path).input_files
    re_import(records)
    status = main(["trial", str(path), "--workers", "1", "--quiet", "--out", str(out),
                   *(["--resume"] if resume else [])])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert f"{records} has changed since its runs were made" in err, err
    assert (out / "store" / "manifest.json").read_bytes() == manifest
    assert not list(out.glob("store/runs/*/*.parquet"))


def test_a_finished_trial_folder_keeps_its_records_digests_and_a_report_checks_them(
        tmp_path, records, capsys):
    from srmsim.trial.run import run_trial
    from srmsim.trial.spec import load_trial

    out = tmp_path / "out"
    run_trial(load_trial(trial_file(tmp_path, records, replications=1)), out=out)
    capsys.readouterr()
    meta = json.loads((out / "trial.json").read_text())
    assert meta["input_files"] == {f"records:{records}": load_trial(
        trial_file(tmp_path, records)).input_files[f"records:{records}"]}
    assert main(["report", str(out), "--out", str(tmp_path / "r.html")]) == 0
    # trial.json edited: its records' digests no longer give its trial_hash
    for edit in ({**meta, "input_files": {f"records:{records}": "0" * 64}},
                 {k: v for k, v in meta.items() if k != "input_files"}):
        (out / "trial.json").write_text(json.dumps(edit))
        assert main(["report", str(out), "--out", str(tmp_path / "r2.html")]) == 2
        err = capsys.readouterr().err
        assert "no longer give its trial_hash" in err and "Traceback" not in err
    assert not (tmp_path / "r2.html").exists()


# ------------------------------------------------------------------ 2. experiment arrivals
def test_resuming_an_experiment_after_its_arrivals_file_changed_names_that_file(
        tmp_path, capsys):
    from srmsim.experiment.spec import load_experiment
    from srmsim.experiment.store import ResultsStore

    scenario = {"name": "desk", "seed": 1, "years": 1, "trust": {"n_schools": 0},
                "requests": {"s1": {"arrivals": {"file": "arrivals.csv"}, "deadline_days": 10,
                                    "steps": [{"name": "a", "role": "clerk", "minutes": 60}],
                                    "staff": {"clerk": {"staff": 1}}}}}
    (tmp_path / "arrivals.csv").write_text("day\n1\n3.5\n")
    (tmp_path / "desk.yaml").write_text(yaml.safe_dump(scenario))
    exp = tmp_path / "e.yaml"
    exp.write_text(yaml.safe_dump({"name": "e", "scenario": "desk.yaml", "baseline": "paper",
                                   "replications": 2, "outcomes": ["request_throughput"],
                                   "variants": {"paper": {}, "more": {
                                       "requests.s1.staff.clerk.staff": 2}}}))
    out = tmp_path / "res"
    ResultsStore(out).start(load_experiment(exp), resume=False)  # an unfinished experiment
    manifest = (out / "manifest.json").read_bytes()
    (tmp_path / "arrivals.csv").write_text("day\n1\n3.5\n4\n")
    status = main(["experiment", str(exp), "--workers", "1", "--quiet", "--out", str(out),
                   "--resume"])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    # it said "e.yaml has changed", which it had not
    assert f"{tmp_path / 'arrivals.csv'} has changed since its runs were made" in err, err
    assert str(exp) not in err
    assert (out / "manifest.json").read_bytes() == manifest


# ------------------------------------------------------------------ 3. compare and booleans
def _runs(**columns) -> pd.DataFrame:
    runs = pd.DataFrame({"variant": ["a"] * 3 + ["b"] * 3, "replication": [0, 1, 2] * 2,
                         "attendance": [0.90, 0.91, 0.92, 0.93, 0.90, 0.95]})
    return runs.assign(**columns)


@pytest.mark.parametrize("values", [
    np.array([True, False, True, True, True, True]),
    pd.array([True, False, True, True, True, None], dtype="boolean"),
    pd.Series([True, False, True, True, True, True], dtype="bool[pyarrow]"),
    np.array([0.9, 0.8, 0.7, True, 0.9, 0.9], dtype=object),
])
def test_compare_refuses_true_false_outcomes(values):
    """They were averaged as 0/1 shares: a difference of 0.33 on an 'attendance' of True."""
    from srmsim.experiment.compare import compare

    with pytest.raises(SrmsimError, match="outcome 'attendance' holds true/false values"):
        compare(_runs(attendance=values), "a")


@pytest.mark.parametrize("values", [[False, True, False, True, False, True],
                                    np.array([0, 1, True, 0, 1, True], dtype=object)])
def test_compare_refuses_true_false_replications(values):
    """False and True paired as replications 0 and 1 (the third run of each arm was lost)."""
    from srmsim.experiment.compare import compare

    runs = _runs(replication=values)
    with pytest.raises(SrmsimError, match="column 'replication' holds true/false values"):
        compare(runs, "a")
    assert compare(_runs(attendance=[0.9, 0.8, 0.7, 1.0, 0.9, 0.9]), "a")["replications"][0] == 3


# ------------------------------------------------------------------ 4. value_of_pooling bands
def test_value_of_pooling_gives_no_band_from_one_order():
    from srmsim import risk

    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame({"school": rng.integers(0, 5, n), "x": rng.normal(size=n)})
    df["y"] = (rng.uniform(size=n) < special.expit(df["x"])).astype(int)
    one = risk.value_of_pooling(df, "y", ["x"], n_orders=1, holdout_schools=2)
    # the band was low = high = the mean: zero width, as if the order did not matter
    assert one["auc_mean"].notna().all()
    assert one[["auc_low", "auc_high", "precision_at_capacity_low",
                "precision_at_capacity_high"]].isna().all(axis=None)
    assert "no band at k = 1, 2, 3" in one.attrs["band_note"]
    assert "n_orders of 2 or more" in one.attrs["band_note"]
    more = risk.value_of_pooling(df, "y", ["x"], n_orders=2, holdout_schools=2)
    assert more["auc_low"].notna().all() and more.attrs["band_note"] == ""


# ------------------------------------------------------------------ 5. bootstrap_moments
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_boot": True}, "n_boot must be a whole number from 2 to 100,000, got True"),
    ({"n_boot": 2.5}, "n_boot must be a whole number"),
    ({"n_boot": "5"}, "n_boot must be a whole number"),
    ({"n_boot": -1}, "n_boot=-1 is out of range"),
    ({"n_boot": 10**12}, "n_boot=1000000000000 is out of range"),  # asked for 95 TiB
    ({"seed": -1}, "seed=-1 is out of range"),
    ({"seed": True}, "seed must be a whole number"),
])
def test_bootstrap_moments_checks_its_counts(kwargs, message):
    from srmsim.calibrate.moments import MomentSpec, bootstrap_moments

    rng = np.random.default_rng(0)
    n = 30
    measures = pd.DataFrame({"student_id": np.arange(n).astype(str),
                             "school": (np.arange(n) % 3).astype(str),
                             "fsm": (rng.random(n) < 0.3).astype(float), "possible": 390.0,
                             "attended": rng.binomial(390, 0.93, n),
                             "attainment": rng.normal(size=n),
                             "reading_gap": rng.normal(0, 10, n)})
    spec = MomentSpec(attendance_type="week", attendance_periods=(1,), schools=3,
                      attainment_field="assessment_score", reading_type="term")
    with pytest.raises(SrmsimError, match=message):
        bootstrap_moments(measures, spec, **{"n_boot": 3, **kwargs})
    reps, _ = bootstrap_moments(measures, spec, n_boot=np.int64(3), seed=np.int64(1))
    assert reps.shape[0] == 3


# ------------------------------------------------------------------ 6. calibrate's reasons
def test_calibrate_says_a_moment_was_withheld_not_unselected(tmp_path, capsys):
    from test_privacy_calibrate import tiny_trust

    from srmsim.calibrate import calibrate
    from srmsim.data.dataset import write_dataset

    write_dataset(tiny_trust(), tmp_path / "ds")  # 6 FSM pupils: their moments withheld
    status = main(["calibrate", str(tmp_path / "ds"), "--out", str(tmp_path / "fit"),
                   "--params", "dynamics.absence_engagement", "--moments", "attendance",
                   "--max-evals", "2", "--replications", "1", "--quiet"])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err and "withheld" in err
    assert not (tmp_path / "fit").exists()
    with pytest.raises(SrmsimError) as raised:  # the whole message (the CLI cuts long lines)
        calibrate(tmp_path / "ds", params="dynamics.absence_engagement",
                  moments=["attendance"], max_evals=2, replications=1)
    assert str(raised.value).endswith(
        "none of the moments that inform it is available: attendance_p10, "
        "persistent_absence_fsm, severe_absence (withheld: based on a count below 10, or it "
        "would reveal one); attendance_p25 (not among the moments chosen)"), raised.value


# ------------------------------------------------------------------ 7. one-variant experiment
def test_an_experiment_of_the_baseline_alone_reports_without_a_traceback(tmp_path, capsys):
    """Allowed (variants needs one), it ran every run, then raised matplotlib's ValueError
    ("Number of rows must be a positive integer, not 0") drawing a forest of no effects."""
    exp = tmp_path / "e.yaml"
    exp.write_text(yaml.safe_dump({
        "name": "one", "scenario": str(REPO / "scenarios" / "attendance_escalation.yaml"),
        "baseline": "only", "replications": 2, "outcomes": ["attendance"],
        "variants": {"only": {"trust.n_schools": 1, "trust.students_per_year_group": 20,
                              "outputs.history": "none"}}}))
    out = tmp_path / "res"
    status = main(["experiment", str(exp), "--workers", "1", "--quiet", "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 0 and "Traceback" not in err, err
    assert (out / "forest.png").is_file() and (out / "report.html").is_file()
    assert pd.read_csv(out / "effects.csv").empty
    assert main(["compare", str(out)]) == 0
