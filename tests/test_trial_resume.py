"""Trial resume: a killed `srmsim trial` continues with --resume to the same bytes as an
uninterrupted run, whatever the executor; a changed trial file, an unfinished trial without
--resume, a foreign folder and a damaged store are refused by name (exit 2), nothing written."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import folder_bytes as all_bytes

from srmsim.cli import main
from srmsim.errors import SrmsimError

REPO = Path(__file__).resolve().parents[1]
OUTPUTS = ("trial_runs.csv", "trial_summary.csv", "trial.json")


def write_trial(tmp: Path, replications: int, seed: int = 11) -> Path:
    spec = {"name": "tiny_trial", "scenario": str(REPO / "scenarios" / "reading_age.yaml"),
            "overrides": {"trust.n_schools": 2, "trust.students_per_year_group": 12},
            "randomise": {"unit": "students"}, "outcome": "reading_gap_end",
            "baseline": "reading_gap_start", "replications": replications, "seed": seed}
    path = tmp / "trial.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def trial(path: Path, out: Path, *extra: str) -> int:
    return main(["trial", str(path), "--out", str(out), "--quiet", "--no-report", *extra])


def folder_bytes(out: Path) -> dict[str, bytes]:
    """Every file's bytes but the store manifest's (each session adds its timings there)."""
    return all_bytes(out, skip=("manifest.json",))


def fails(capsys, *argv: str, contains: str) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.startswith("srmsim: error:") and "Traceback" not in err, err
    assert contains in err, err
    return err


def test_killed_trial_resumes_to_the_same_bytes_on_any_executor(tmp_path, capsys):
    path = write_trial(tmp_path, replications=6)
    full = tmp_path / "full"
    assert trial(path, full, "--workers", "1") == 0
    part = tmp_path / "part"
    proc = subprocess.Popen([sys.executable, "-m", "srmsim.cli", "trial", str(path), "--out",
                             str(part), "--quiet", "--no-report", "--workers", "1"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = part / "store" / "runs" / "trial"
    deadline = time.time() + 300
    while time.time() < deadline and len(list(runs.glob("*.parquet"))) < 2:
        assert proc.poll() is None, "the trial ended before it could be killed"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.name: p.read_bytes() for p in runs.glob("*.parquet")}
    assert 2 <= len(before) < 6, "the kill should land part way through"
    assert not (part / "trial_runs.csv").exists()
    capsys.readouterr()
    fails(capsys, "trial", str(path), "--out", str(part), "--quiet", "--workers", "1",
          contains="use --resume")
    dask_part = tmp_path / "dask_part"
    shutil.copytree(part, dask_part)

    assert trial(path, part, "--workers", "2", "--resume") == 0
    assert f"({len(before)} stored by an earlier session)" in capsys.readouterr().out
    after = {p.name: p.read_bytes() for p in runs.glob("*.parquet")}
    assert len(after) == 6 and all(after[n] == b for n, b in before.items())
    for name in OUTPUTS:
        assert (part / name).read_bytes() == (full / name).read_bytes(), name
    sessions = json.loads((part / "store" / "manifest.json").read_text())["sessions"]
    assert sessions[-1]["replications_run"] == 6 - len(before)

    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        assert trial(path, dask_part, "--resume", "--scheduler", cluster.scheduler_address) == 0
    for name in OUTPUTS:
        assert (dask_part / name).read_bytes() == (full / name).read_bytes(), name

    # a finished trial run again only reports, from its store, to the same bytes
    assert trial(path, full, "--workers", "1") == 0
    assert "0 replications" in capsys.readouterr().out


@pytest.mark.once
def test_a_changed_trial_file_refuses_to_resume_into_the_old_folder(tmp_path, capsys):
    path = write_trial(tmp_path, replications=2)
    out = tmp_path / "o"
    assert trial(path, out, "--workers", "1") == 0
    capsys.readouterr()
    kept = folder_bytes(out)
    write_trial(tmp_path, replications=2, seed=12)
    fails(capsys, "trial", str(path), "--out", str(out), "--quiet", "--resume",
          contains="has changed")
    assert folder_bytes(out) == kept
    # unfinished, the old trial is not replaced by the new one either
    (out / "store/runs/trial/rep-00001.parquet").unlink()
    fails(capsys, "trial", str(path), "--out", str(out), "--quiet", contains="unfinished run of")
    # a finished trial's folder is replaced whole by another trial, as before
    (out / "store/runs/trial/rep-00001.parquet").write_bytes(kept["store/runs/trial/rep-00001"
                                                                  ".parquet"])
    (out / "notes.txt").write_text("the user's, not srmsim's")  # never lost: refused
    fails(capsys, "trial", str(path), "--out", str(out), "--quiet", contains="did not write")
    (out / "notes.txt").unlink()
    (out / "trial_failures.json").write_text("[]")  # from an earlier trial: not kept
    assert trial(path, out, "--workers", "1") == 0
    assert not (out / "trial_failures.json").exists()
    assert json.loads((out / "trial.json").read_text())["root_seed"] == 12
    assert json.loads((out / "store/manifest.json").read_text())["root_seed"] == 12


def finished_trial(tmp_path, capsys) -> tuple[Path, Path]:
    """A finished three-replication trial on one worker: (trial file, --out folder)."""
    path = write_trial(tmp_path, replications=3)
    out = tmp_path / "o"
    assert trial(path, out, "--workers", "1") == 0
    capsys.readouterr()
    return path, out


@pytest.mark.once
def test_store_damage_is_reported_by_name_and_nothing_is_written(tmp_path, capsys):
    path, out = finished_trial(tmp_path, capsys)
    store = out / "store"
    good = store / "runs/trial/rep-00001.parquet"
    data = good.read_bytes()
    argv = ("trial", str(path), "--out", str(out), "--quiet", "--resume", "--workers", "1")

    def damaged(contains: str) -> None:
        kept = folder_bytes(out)
        fails(capsys, *argv, contains=contains)
        assert folder_bytes(out) == kept

    for damage in (b"", data[: len(data) // 2]):  # empty, truncated
        good.write_bytes(damage)
        damaged("rep-00001.parquet: unreadable")
    good.write_bytes(data)
    shutil.copy(good, store / "runs/trial/rep-00002.parquet")  # a duplicate under another name
    damaged("rep-00002.parquet: not the run its name says")
    (store / "runs/trial/rep-00002.parquet").unlink()
    shutil.copy(good, store / "runs/trial/rep-1.parquet")  # the same replication twice
    damaged("rep-1.parquet: not the run its name says")
    (store / "runs/trial/rep-1.parquet").unlink()
    # a stored replication's group detail: damaged, it was a pyarrow traceback; missing or of
    # the wrong kind, the replication silently dropped out of trial_groups.csv
    groups = store / "detail/rep-00001-groups.parquet"
    detail = groups.read_bytes()
    for damage, contains in [(b"PAR1xx", "unreadable group detail: a damaged Parquet file: it "
                                         "starts as one but its end is missing"),
                             (b"group,outcome\nall,x\n", "unreadable group detail: not a "
                                                         "Parquet file")]:
        groups.write_bytes(damage)
        damaged(f"rep-00001-groups.parquet: {contains}")
    pd.read_parquet(store / "detail/rep-00000-groups.parquet").drop(columns=["students"]) \
        .to_parquet(groups)
    damaged("rep-00001-groups.parquet: not a trial's group detail")
    frame = pd.read_parquet(store / "detail/rep-00000-groups.parquet")
    frame.assign(trial=frame["trial"].astype(str)).to_parquet(groups)
    damaged("rep-00001-groups.parquet: not a trial's group detail")
    groups.unlink()
    damaged("rep-00001-groups.parquet: missing, but replication 1 is stored")
    groups.write_bytes(detail)

    # a finite number whose square overflows: the summary's inf was blamed on srmsim's own
    # hidden staging file ("run the command that wrote it again")
    pd.read_parquet(good).assign(true_effect=1e300).to_parquet(good, index=False)
    damaged("rep-00001.parquet: not a replication's row as a trial stores it: true_effect is "
            "1e+300, too large")
    good.write_bytes(data)

    manifest = json.loads((store / "manifest.json").read_text())
    (store / "manifest.json").write_text("{not json")
    damaged("manifest.json: unreadable")
    # (reversed seeds are no longer those the root seed gives: refused by that check first)
    for edit, contains in [({"seeds": manifest["seeds"][::-1]}, "root_seed 11 does not give"),
                           ({"replications": "3"}, "not an srmsim trial manifest"),
                           ({"trial_hash": 7}, "not an srmsim trial manifest")]:
        (store / "manifest.json").write_text(json.dumps({**manifest, **edit}))
        damaged(contains)
    (store / "manifest.json").unlink()
    damaged("no manifest.json")
    (store / "manifest.json").write_text(json.dumps(manifest))
    assert trial(path, out, "--resume", "--workers", "1") == 0  # repaired, it reports again


def test_a_folder_of_other_files_is_refused_before_any_work(tmp_path, capsys):
    path = write_trial(tmp_path, replications=2)
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    fails(capsys, "trial", str(path), "--out", str(home), "--quiet",
          contains="holds files this command did not write there (notes.txt)")
    assert [p.name for p in home.iterdir()] == ["notes.txt"]


@pytest.mark.once
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # statsmodels, on a 2-row fit
def test_failed_replications_are_stored_and_reported_again(tmp_path, capsys):
    """A replication that raised is part of the result: stored, not run again on a rerun."""
    spec = yaml.safe_load(write_trial(tmp_path, replications=2).read_text())
    spec["overrides"] = {"trust.n_schools": 1, "trust.students_per_year_group": 2}
    spec["population"] = "flagged"
    path = tmp_path / "fails.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "o"
    assert trial(path, out, "--workers", "1") == 1
    first = folder_bytes(out)
    assert (out / "trial_failures.json").is_file()
    capsys.readouterr()
    assert trial(path, out, "--workers", "1") == 1
    assert "0 replications" in capsys.readouterr().out
    assert folder_bytes(out) == first


@pytest.mark.once
def test_the_hint_for_a_damaged_replication_resumes_with_the_trial_s_settings(tmp_path, capsys):
    """The damaged-run hint gives the trial's --set values and --replications (each part of
    the trial's hash): "delete it to re-run that replication with --resume" left them out,
    so following it was refused as another trial."""
    import re
    import shlex

    path = write_trial(tmp_path, replications=5)
    out = tmp_path / "o"
    assert trial(path, out, "--workers", "1", "--replications", "2",
                 "--set", "trust.students_per_year_group=10") == 0
    capsys.readouterr()
    for damaged in ("runs/trial/rep-00001.parquet", "detail/rep-00001-groups.parquet"):
        (out / "store" / damaged).write_bytes(b"PAR1xx")
        err = fails(capsys, "trial", str(path), "--out", str(out), "--quiet", "--resume",
                    "--replications", "2", "--set", "trust.students_per_year_group=10",
                    contains="to make that run again, delete")
        hint = re.search(r"delete (?:its files:\n    (\S+)|it)\n  then run: (.+)$", err.strip())
        assert hint, err
        assert Path(hint.group(1) or err.split(": ")[2]) == out / "store/runs/trial/rep-00001.parquet"
        command = shlex.split(hint.group(2))
        assert command == ["srmsim", "trial", str(path), "--replications", "2", "--resume",
                           "--out", str(out), "--set", "trust.students_per_year_group=10"]
        (out / "store/runs/trial/rep-00001.parquet").unlink()
        assert main([*command[1:], "--quiet", "--no-report", "--workers", "1"]) == 0
    # a replication missing when the results are built: the same command on its own line
    from srmsim.trial import load_trial
    from srmsim.trial.store import TrialStore

    (out / "store/runs/trial/rep-00001.parquet").unlink()
    with pytest.raises(SrmsimError) as err:
        TrialStore.of(out).rows(load_trial(path), 2)
    assert str(err.value).splitlines()[-1] == "  then run: " + shlex.join(command)


def _edit_one_byte(path: Path) -> None:
    """Change one letter of an outcome's name inside a Parquet file: still readable, of the
    right shape, so only the SHA-256 tells it from the file the replication wrote."""
    data = path.read_bytes()
    at = data.index(b"attendance") + len("attendance") - 1
    path.write_bytes(data[:at] + b"f" + data[at + 1:])
    assert "attendancf" in set(pd.read_parquet(path)["outcome"])


@pytest.mark.once
def test_an_edited_or_truncated_group_detail_is_refused_on_resume_and_analysis(tmp_path,
                                                                            capsys):
    """Each replication records the SHA-256 of its group detail: an edited file was read as
    the simulation's (its numbers in trial_groups.csv and the report)."""
    from srmsim.results import file_sha256
    from srmsim.trial import load_trial
    from srmsim.trial.store import TrialStore

    path, out = finished_trial(tmp_path, capsys)
    store = out / "store"
    groups = store / "detail/rep-00001-groups.parquet"
    run = store / "runs/trial/rep-00001.parquet"
    assert pd.read_parquet(run)["sha256:groups"].iloc[0] == file_sha256(groups)
    assert "sha256:groups" not in pd.read_csv(out / "trial_runs.csv").columns
    detail = groups.read_bytes()
    hint = f"to make that run again, delete its files:\n    {run}\n  then run: srmsim trial"

    _edit_one_byte(groups)
    kept = folder_bytes(out)
    for argv in (("--resume",), ()):  # resuming, and a finished trial reporting again
        err = fails(capsys, "trial", str(path), "--out", str(out), "--quiet", "--workers", "1",
                    *argv, contains=f"{groups}: not the detail file its run wrote")
        assert f"\n  its SHA-256 differs from the one {run} records\n" in err, err
        assert hint in err, err
        assert folder_bytes(out) == kept
    with pytest.raises(SrmsimError, match="rep-00001-groups.parquet: not the detail file"):
        TrialStore.of(out).rows(load_trial(path), 3)  # the analysis, from the store

    groups.write_bytes(detail[: len(detail) // 2])  # truncated: named, with the same repair
    err = fails(capsys, "trial", str(path), "--out", str(out), "--quiet", "--workers", "1",
                "--resume", contains=f"{groups}: unreadable group detail: a damaged "
                         "Parquet file")
    assert hint in err, err

    # the repair the message gives: delete the run, resume; the same bytes as before
    groups.write_bytes(b"PAR1xx")
    run.unlink()
    assert trial(path, out, "--workers", "1", "--resume") == 0
    assert groups.read_bytes() == detail
    for name in OUTPUTS:
        assert (out / name).read_bytes() == kept[name], name


@pytest.mark.once
def test_a_store_without_detail_digests_is_read_with_a_note(tmp_path, capsys):
    """A store of an srmsim before the digests (none in its manifest or runs) resumes and
    reports as before, its group detail read unchecked and said so once; with the manifest's
    promise kept, a digest removed from one run is refused."""
    path, out = finished_trial(tmp_path, capsys)
    kept = folder_bytes(out)
    store = out / "store"
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["detail_sha256"] is True
    edited = store / "runs/trial/rep-00000.parquet"
    pd.read_parquet(edited).drop(columns=["sha256:groups"]).to_parquet(edited)
    fails(capsys, "trial", str(path), "--out", str(out), "--quiet", "--resume",
          contains=f"{edited}: records no SHA-256 of its groups detail file, as every run of "
                   "this trial does")

    del manifest["detail_sha256"]
    (store / "manifest.json").write_text(json.dumps(manifest))
    for f in store.glob("runs/trial/*.parquet"):
        pd.read_parquet(f).drop(columns=["sha256:groups"], errors="ignore").to_parquet(f)
    (store / "runs/trial/rep-00002.parquet").unlink()  # unfinished: resumed
    assert trial(path, out, "--workers", "1", "--resume") == 0
    stdout = capsys.readouterr().out
    assert stdout.count("note: ") == 1, stdout
    assert (f"note: 2 groups detail files in {store / 'detail'} are read unchecked: their runs "
            "record no SHA-256 of them") in stdout
    for name in OUTPUTS:
        assert (out / name).read_bytes() == kept[name], name
    # the replication run again records its digest; the older ones stay unchecked
    assert isinstance(pd.read_parquet(store / "runs/trial/rep-00002.parquet")["sha256:groups"]
                      .iloc[0], str)
