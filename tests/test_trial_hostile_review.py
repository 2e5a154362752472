"""Trials given hostile input: replication counts through the API, allocation shares whose
float is a hair below the share written, and a resume store whose rows or manifest were
edited. Each is refused by name (exit 2 from the CLI, no traceback, nothing written) or, for
the allocation, gives the count the documented half-up rounding promises."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import cli_refuses
from conftest import folder_bytes as all_bytes

from srmsim.cli import main
from srmsim.errors import SrmsimError
from srmsim.trial import replicate, run_trial, trial_from_dict
from srmsim.trial.assign import SchoolAssignment
from srmsim.trial.spec import treated_count

REPO = Path(__file__).resolve().parents[1]
SPEC = {"name": "tiny_trial", "scenario": str(REPO / "scenarios" / "reading_age.yaml"),
        "overrides": {"trust.n_schools": 2, "trust.students_per_year_group": 12},
        "randomise": {"unit": "students"}, "outcome": "reading_gap_end",
        "baseline": "reading_gap_start", "replications": 2, "seed": 11}


def tiny_trial():
    return trial_from_dict(dict(SPEC), "tiny.yaml")


# ------------------------------------------------------------------ counts through the API
@pytest.mark.parametrize("replications", [0, -1, True, 2.5, "3"])
def test_run_trial_refuses_a_replication_count_that_is_not_one(tmp_path, replications):
    """0 ran the file's count without a word, True ran one replication, 2.5 and "3" were raw
    TypeErrors; the count is checked like the file's (1 to 100,000) before anything runs."""
    out = tmp_path / "o"
    with pytest.raises(SrmsimError, match="replications"):
        run_trial(tiny_trial(), replications=replications, out=out)
    assert not out.exists()


@pytest.mark.parametrize("replication", [-1, True])
def test_replicate_refuses_a_replication_number_that_is_not_one(replication):
    """replicate(trial, -1) ran the last replication's seed under the number -1."""
    with pytest.raises(SrmsimError, match="replication"):
        replicate(tiny_trial(), replication)


def test_no_seeds_for_zero_replications():
    trial = tiny_trial()
    assert trial.seeds(0) == []
    assert len(trial.seeds()) == 2


@pytest.mark.parametrize("count", ["0", "100001", "1000000000000"])
def test_cli_replications_out_of_range_names_the_flag(tmp_path, capsys, count):
    """--replications 10**12 was reported as the file's error ('trial.yaml: replications:
    Input should be less than or equal to 100000'), naming a key the file does not hold."""
    path = tmp_path / "trial.yaml"
    path.write_text(yaml.safe_dump(SPEC, sort_keys=False))
    assert main(["trial", str(path), "--replications", count, "--out", str(tmp_path / "o"),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"srmsim: error: --replications={count} is out of range") \
        and "Traceback" not in err, err
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------ allocation
@pytest.mark.parametrize("n,share,treated", [(90, 0.35, 32), (50, 0.29, 15), (5, 0.5, 3),
                                             (10, 0.3, 3), (7, 0.5, 4), (1, 0.5, 1)])
def test_treated_count_rounds_the_share_as_written_half_up(n, share, treated):
    """0.35 is stored as 0.34999...: 0.35 of 90 schools treated 31, not the 31.5 -> 32 that
    'rounded half up' promises (as 0.29 of 50 treated 14)."""
    assert treated_count(n, share) == treated


def test_school_randomisation_treats_the_documented_count():
    for seed in (1, 2):
        arm = SchoolAssignment(seed, 0.35, 90).school_treated
        assert int(arm.sum()) == 32 and len(arm) == 90
    a, b = SchoolAssignment(3, 0.35, 90), SchoolAssignment(3, 0.35, 90)
    assert np.array_equal(a.school_treated, b.school_treated)  # reproducible by seed


# ------------------------------------------------------------------ an edited store
@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished two-replication trial, its file and folder (copied for each edit)."""
    tmp = tmp_path_factory.mktemp("finished")
    path = tmp / "trial.yaml"
    path.write_text(yaml.safe_dump(SPEC, sort_keys=False))
    out = tmp / "out"
    assert main(["trial", str(path), "--out", str(out), "--quiet", "--no-report",
                 "--workers", "1"]) == 0
    return path, out


def _resume_fails(capsys, path: Path, out: Path, contains: str) -> None:
    kept = all_bytes(out)
    capsys.readouterr()
    assert main(["trial", str(path), "--out", str(out), "--quiet", "--no-report", "--resume",
                 "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("srmsim: error:") and "Traceback" not in err, err
    assert contains in err, err
    assert all_bytes(out) == kept  # nothing written, nothing lost


EDITS = [
    (lambda d: d.drop(columns=["estimate"]), "no column 'estimate'"),
    (lambda d: d.assign(estimate="abc"), "estimate is 'abc', not a number"),
    (lambda d: d.assign(estimate=np.inf), "estimate is inf, not a finite number"),
    (lambda d: d.assign(error=5), "error is 5, not text"),
    (lambda d: d.assign(covered="yes"), "covered is 'yes', not true/false"),
    (lambda d: d.assign(covered=~d["covered"]), "covered is"),
    (lambda d: d.assign(rejected=~d["rejected"]), "rejected is"),
    (lambda d: d.assign(p_value=1.5), "p_value is 1.5, outside 0 to 1"),
    (lambda d: d.assign(n_treated=-3), "n_treated is -3, not a count"),
    (lambda d: d.assign(error="RuntimeError: x"), "error is set, but the row has an estimate"),
]


@pytest.mark.parametrize("edit,contains", EDITS, ids=[c for _, c in EDITS])
def test_an_edited_stored_row_is_refused_by_name(finished, tmp_path, capsys, edit, contains):
    """An edited row went into trial_runs.csv and the summary as written (a flipped
    'covered' changed the coverage; a dropped column became a blank), or ended in a
    traceback (an estimate of 'abc' or inf)."""
    path, done = finished
    out = tmp_path / "out"
    shutil.copytree(done, out)
    run = out / "store/runs/trial/rep-00000.parquet"
    edit(pd.read_parquet(run)).to_parquet(run, index=False)
    _resume_fails(capsys, path, out, f"rep-00000.parquet: not a replication's row as a trial "
                  f"stores it: {contains}")


def test_a_stored_row_without_its_hash_is_refused(finished, tmp_path, capsys):
    """The run store checked the hash only when the column was there: a dropped one passed."""
    path, done = finished
    out = tmp_path / "out"
    shutil.copytree(done, out)
    run = out / "store/runs/trial/rep-00000.parquet"
    pd.read_parquet(run).drop(columns=["trial_hash"]).to_parquet(run, index=False)
    _resume_fails(capsys, path, out, "rep-00000.parquet: has no trial_hash column")


@pytest.mark.parametrize("replications", [3, 10**12])
def test_a_manifest_count_that_is_not_its_seeds_is_refused(finished, tmp_path, capsys,
                                                           replications):
    """A count of 10**12 in the manifest had a run of another trial into the folder look for
    that many run files (it never finished); any count that is not its seeds' is an edit."""
    path, done = finished
    out = tmp_path / "out"
    shutil.copytree(done, out)
    manifest = out / "store/manifest.json"
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**data, "replications": replications}))
    _resume_fails(capsys, path, out, "manifest.json: not an srmsim trial manifest")


def _cut(path: Path) -> None:
    """A copy cut short: the file's first half."""
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


TRIAL_DAMAGE = {  # (what is done to replication 0's files, the file the refusal names)
    "run truncated": (lambda o: _cut(o / "store/runs/trial/rep-00000.parquet"),
                      "rep-00000.parquet: unreadable run file: a damaged Parquet file"),
    "groups truncated": (lambda o: _cut(o / "store/detail/rep-00000-groups.parquet"),
                         "rep-00000-groups.parquet: unreadable group detail"),
    "groups missing": (lambda o: (o / "store/detail/rep-00000-groups.parquet").unlink(),
                       "rep-00000-groups.parquet: missing, but replication 0 is stored"),
    "subgroups truncated": (lambda o: _cut(o / "store/detail/rep-00000-subgroups.parquet"),
                            "rep-00000-subgroups.parquet: unreadable subgroup estimates"),
    "subgroups missing": (lambda o: (o / "store/detail/rep-00000-subgroups.parquet").unlink(),
                          "rep-00000-subgroups.parquet: missing, but replication 0 is stored"),
    "manifest truncated": (lambda o: _cut(o / "store/manifest.json"), "manifest.json"),
}


def test_a_failed_trial_resume_leaves_the_folder_byte_for_byte(finished, tmp_path, capsys):
    """An unfinished trial (replication 1 not stored) whose stored replication 0 is damaged:
    --resume is refused by the file's name before a session is added to its manifest or
    anything is run, and every entry of the folder is as it was."""
    path, done = finished
    for damage, (edit, names) in TRIAL_DAMAGE.items():
        out = tmp_path / damage.replace(" ", "_")
        shutil.copytree(done, out)
        (out / "store/runs/trial/rep-00001.parquet").unlink()  # unfinished: resume would run
        edit(out)
        before = sorted(out.rglob("*")), all_bytes(out)
        cli_refuses(capsys, ["trial", str(path), "--out", str(out), "--quiet", "--no-report",
                             "--resume", "--workers", "1"], names)
        assert (sorted(out.rglob("*")), all_bytes(out)) == before, damage


def test_the_untouched_store_still_resumes(finished, tmp_path, capsys):
    """The checks pass every row a trial writes (a control for the refusals above)."""
    path, done = finished
    out = tmp_path / "out"
    shutil.copytree(done, out)
    before = (out / "trial_runs.csv").read_bytes()
    assert main(["trial", str(path), "--out", str(out), "--quiet", "--no-report", "--resume",
                 "--workers", "1"]) == 0
    assert (out / "trial_runs.csv").read_bytes() == before


def test_a_finished_trial_run_again_without_a_report_keeps_its_report(tmp_path, capsys):
    """The researcher's guide: a finished trial run again into its folder only prints its
    table. With --no-report it deleted the report the first run wrote (exit 0)."""
    path = tmp_path / "trial.yaml"
    path.write_text(yaml.safe_dump(SPEC, sort_keys=False))
    out = tmp_path / "out"
    argv = ["trial", str(path), "--out", str(out), "--quiet", "--workers", "1"]
    assert main(argv) == 0
    report = (out / "report.html").read_bytes()
    assert main([*argv, "--no-report"]) == 0
    assert (out / "report.html").read_bytes() == report
    capsys.readouterr()


def test_a_block_of_one_student_is_not_told_to_use_an_empty_range_of_shares():
    """One student in the trust: the advice read "use a share from 0.5 to below 0.5" (no
    share) and "(1 students)"."""
    spec = {**SPEC, "randomise": {"unit": "students", "block": "none"},
            "overrides": {"trust.n_schools": 1, "trust.students_per_year_group": 1,
                          "trust.year_groups": [7]}}
    with pytest.raises(SrmsimError) as err:
        trial_from_dict(spec, "one.yaml")
    text = str(err.value)
    assert "(1 student) is 1 treated and 0 control" in text, text
    assert "more students are needed" in text and "to below" not in text


def test_a_trigger_that_flags_no_one_is_named_in_each_failed_replication():
    """population: flagged with a trigger no student meets: each replication failed with
    "DataError: data has no rows", which said nothing of why."""
    spec = {**SPEC, "population": "flagged",
            "overrides": {**SPEC["overrides"], "policy.parameters.reading_threshold": -1000}}
    with pytest.raises(SrmsimError, match="the policy's trigger flagged no student at the "
                                          r"screening week \(week \d+\)"):
        replicate(trial_from_dict(spec, "none.yaml"), 0)
