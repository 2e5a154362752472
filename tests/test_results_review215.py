"""Results folders, compare and reports under attack (helper 215, 2026-12-07).

A comparison against another baseline left report.html describing the old one; a report's
--out could land inside a results store; on a full disk the manifest's error hid the run
file's; damaged or mixed results folders were probed for a short error naming the file.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import cli_refuses as fails  # noqa: E402
from conftest import folder_bytes as every_file  # noqa: E402
from test_experiment import write_experiment
from test_trial_resume import write_trial

import srmsim.outputs
import srmsim.results
from srmsim.cli import main


# ------------------------------------------------------------ a full disk
def full_disk_after_first_run_file(monkeypatch) -> list[Path]:
    """Every write fails with ENOSPC from the first run file on (the disk stays full)."""
    real = srmsim.results.write_atomic
    failed: list[Path] = []

    def write_atomic(path, write, private=False):
        path = Path(path)
        if failed or ("runs" in path.parts and path.suffix == ".parquet"):
            failed.append(path)
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, write, private)

    for module in (srmsim.results, srmsim.outputs):  # parquet files; text files
        monkeypatch.setattr(module, "write_atomic", write_atomic)
    return failed


def test_a_full_disk_names_the_run_file_not_the_manifest(tmp_path, monkeypatch, capsys):
    """It said 'manifest.json: No space left on device': the manifest written as the session
    ended failed too, and its error replaced the run file's."""
    exp = write_experiment(tmp_path, replications=2)
    out = tmp_path / "out"
    failed = full_disk_after_first_run_file(monkeypatch)
    err = fails(capsys, ["experiment", str(exp), "--out", str(out), "--quiet", "--workers", "1"],
                contains=f"{out / 'runs' / 'none' / 'rep-00000.parquet'}: No space left")
    assert "manifest.json" not in err
    assert failed[-1].name == "manifest.json"  # it was tried, and failed
    monkeypatch.undo()  # space freed: the study resumes
    assert main(["experiment", str(exp), "--out", str(out), "--quiet", "--workers", "1",
                 "--resume", "--no-report"]) == 0
    assert len(pd.read_csv(out / "effects.csv")) == 6


def test_a_full_disk_names_the_trials_run_file_not_the_manifest(tmp_path, monkeypatch, capsys):
    path = write_trial(tmp_path, replications=2)
    out = tmp_path / "out"
    failed = full_disk_after_first_run_file(monkeypatch)
    err = fails(capsys, ["trial", str(path), "--out", str(out), "--quiet", "--no-report",
                         "--workers", "1"], contains="rep-00000.parquet: No space left")
    assert "manifest.json" not in err and failed[-1].name == "manifest.json"


# ------------------------------------------------------------ compare --baseline
def test_another_baseline_is_written_beside_the_experiments_own_files(study, capsys):
    """`srmsim compare DIR --baseline texts` rewrote effects.csv against texts and left
    report.html (its tables and forest plot) against none: the folder said two things."""
    own = every_file(study)
    assert main(["compare", str(study), "--baseline", "texts"]) == 0
    printed = capsys.readouterr().out
    after = every_file(study)
    # every file of the experiment's own comparison is as it was, and states its baseline
    assert {k: v for k, v in after.items() if k in own} == own
    assert set(pd.read_csv(study / "effects.csv")["baseline"]) == {"none"}
    assert "against none:" in (study / "report.html").read_text()
    # the other comparison in files that name its baseline
    assert sorted(set(after) - set(own)) == ["effects-vs-texts.csv", "forest-vs-texts.png"]
    vs = pd.read_csv(study / "effects-vs-texts.csv")
    assert set(vs["baseline"]) == {"texts"} and set(vs["variant"]) == {"none", "more_staff"}
    assert f"wrote {study / 'effects-vs-texts.csv'}, {study / 'forest-vs-texts.png'}" in printed
    assert "more columns in effects-vs-texts.csv" in printed
    assert (f"note: effects.csv, forest.png, report.html in {study} stay against the "
            "experiment's own baseline (none)") in printed
    # the printed table is the file's: none against texts is minus texts against none
    row = vs.set_index(["variant", "outcome"]).loc[("none", "attendance")]
    own_row = pd.read_csv(study / "effects.csv").set_index(["variant", "outcome"]).loc[
        ("texts", "attendance")]
    assert row["difference"] == pytest.approx(-own_row["difference"])
    # a report written now is still the experiment's own, and agrees with effects.csv
    assert main(["report", str(study)]) == 0
    page = (study / "report.html").read_text()
    assert "against none:" in page and "against texts" not in page


def test_runs_added_later_remove_comparisons_against_other_baselines(finished, study, capsys):
    """effects-vs-B.csv of 5 runs beside effects.csv of 6 would disagree: a resume that adds
    runs removes it, as it rewrites effects.csv."""
    assert main(["compare", str(study), "--baseline", "texts"]) == 0
    assert (study / "effects-vs-texts.csv").is_file()
    (study / "runs" / "more_staff" / "rep-00001.parquet").unlink()
    assert main(["experiment", str(finished.parent / "exp.yaml"), "--out", str(study), "--quiet", "--workers", "1",
                 "--resume", "--no-report"]) == 0
    assert not (study / "effects-vs-texts.csv").exists()
    assert not (study / "forest-vs-texts.png").exists()
    assert (study / "effects.csv").is_file()


# ------------------------------------------------------------ report --out
@pytest.mark.parametrize("where", ["runs/none/report.html", "runs/report.html",
                                   "detail/texts/r.html", "runs"])
def test_a_report_inside_the_studys_own_store_is_refused(study, capsys, where):
    """`srmsim report DIR --out DIR/runs/none/report.html` wrote it among the run files a
    resume reads. The store's folder itself is refused as a folder (--out names a file)."""
    before = every_file(study)
    fails(capsys, ["report", str(study), "--out", str(study / where)],
          contains=f"--out {study / where}: a folder" if where == "runs"
          else f"inside {study}'s {where.split('/')[0]}/ folder")
    assert every_file(study) == before


def test_a_report_inside_another_result_folder_is_refused(study, tmp_path, capsys):
    """`--out OTHER/report.html` replaced another experiment's report with this one's; a
    file in a run folder stopped that run's folder being replaced by its next run."""
    other = tmp_path / "other"
    shutil.copytree(study, other)
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text('{"srmsim_version": "0.2.0"}')  # srmsim's own
    before = every_file(tmp_path)
    for target in (other / "report.html", other / "runs" / "texts" / "x.html",
                   run / "report.html", run / "deeper" / "r.html"):
        err = fails(capsys, ["report", str(study), "--out", str(target)],
                    contains=f"--out {target}: inside the ")
        words = " ".join(err.split())  # (long paths are wrapped)
        assert f"another result than {study} give a file directly in {study} or outside any " \
               "result folder" in words, err
    assert every_file(tmp_path) == before
    # directly in the folder reported, or outside any result folder: written
    for target in (study / "copy.html", tmp_path / "shared" / "r.html"):
        target.parent.mkdir(exist_ok=True)
        assert main(["report", str(study), "--out", str(target)]) == 0
        assert target.read_text().startswith("<!DOCTYPE html>")


# ------------------------------------------------------------ damaged results folders
def edit_manifest(study: Path, edit) -> None:
    import json

    path = study / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest, indent=2))


@pytest.mark.parametrize(("edit", "says"), [
    (lambda m: m.update(root_seed=8), "its root_seed 8 does not give its seeds"),
    (lambda m: m.update(root_seed="7"), "its root_seed 7 does not give its seeds"),
    (lambda m: m.update(seeds=[*m["seeds"], 5]), "its root_seed 7 does not give its seeds"),
    (lambda m: m.update(name="other"), "its name is not the experiment's"),
])
def test_a_manifest_whose_seed_or_name_was_edited_is_refused(study, capsys, edit, says):
    """An edited root seed was printed by compare and the report as the experiment's (its
    runs came from another), an extra seed and another name went unnoticed."""
    edit_manifest(study, edit)
    before = every_file(study)
    for command in ("compare", "report"):
        fails(capsys, [command, str(study)], contains=f"{study / 'manifest.json'}: {says}")
    assert every_file(study) == before


@pytest.mark.parametrize("link", ["file", "variant folder", "dangling"])
def test_a_run_file_replaced_by_a_symbolic_link_is_refused(finished, study, tmp_path, capsys,
                                                           link):
    """A run file (or runs/<variant>) that is a link to a copy elsewhere was read as the
    store's, and a resume would write new runs through it; a dangling one was 'run file file
    not found'."""
    run = study / "runs" / "texts" / "rep-00001.parquet"
    if link == "file":
        shutil.move(run, tmp_path / "kept.parquet")
        run.symlink_to(tmp_path / "kept.parquet")
        named = run
    elif link == "variant folder":
        shutil.move(study / "runs" / "texts", tmp_path / "texts")
        (study / "runs" / "texts").symlink_to(tmp_path / "texts")
        named = study / "runs" / "texts"
    else:
        run.unlink()
        run.symlink_to("nowhere")
        named = run
    before = every_file(study)
    for argv in (["compare", str(study)], ["report", str(study)],
                 ["experiment", str(finished.parent / "exp.yaml"), "--out", str(study),
                  "--resume", "--quiet", "--workers", "1"]):
        err = fails(capsys, argv, contains=f"{named}: is a symbolic link (to ")
        assert "file file" not in err
    assert every_file(study) == before


def test_a_run_file_that_is_a_folder_reads_plainly(study, capsys):
    run = study / "runs" / "texts" / "rep-00001.parquet"
    run.unlink()
    run.mkdir()
    fails(capsys, ["compare", str(study)], contains=f"{run}: run file is a directory")
