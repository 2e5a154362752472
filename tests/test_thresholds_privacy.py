"""``srmsim thresholds`` and real pupils' data: what makes a run folder simulated (the run's
summary.json records the SHA-256 of the students.parquet it wrote), and error messages that on
real data name rows but never show a cell's value or a count under 10."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srmsim.cli import main
from srmsim.results import file_sha256

sys.path.insert(0, str(Path(__file__).parent))
from conftest import small_scenario  # noqa: E402
from test_risk_cli import mark_simulated, students  # noqa: E402

ARGS = ["--score", "attendance_rate", "--outcome", "withdrawn", "--n-boot", "40"]


@pytest.fixture(scope="module")
def sim_run(tmp_path_factory) -> tuple[Path, dict]:
    """A small simulated run written by the API: (folder, the summary it held in memory)."""
    from srmsim.model import run

    out = tmp_path_factory.mktemp("sim") / "run"
    result = run(small_scenario(), out=out)
    return out, dict(result.summary)


def copy_run(sim_run, tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    shutil.copytree(sim_run[0], folder)
    return folder


def other_data(folder: Path) -> pd.DataFrame:
    """Another table of as many rows as the run's students (a table of another length
    is refused before anything is read as the run's: not the students summary.json counts)."""
    n = json.loads((folder / "summary.json").read_text())["students"]
    return students(n_schools=6, n=-(-n // 6)).iloc[:n]


def test_a_run_folders_table_of_another_length_is_refused(sim_run, tmp_path: Path,
                                                           capsys) -> None:
    """As ``srmsim report`` does: a cut or padded students.parquet is not the run's students,
    and nothing is written; the message names no count."""
    folder = copy_run(sim_run, tmp_path)
    table = pd.read_parquet(folder / "students.parquet")
    for changed in (table.iloc[:-1], pd.concat([table, table.iloc[:1]])):
        changed.to_parquet(folder / "students.parquet")
        status = main(["thresholds", str(folder), *ARGS, "--cluster", "none", "--out",
                       str(tmp_path / "t")])
        out, err = capsys.readouterr()
        assert status == 2 and out == "" and not (tmp_path / "t").exists()
        assert "students.parquet: its rows are not the students summary.json counts" in err
        message = err.replace(str(folder), "FOLDER")  # a path may hold any digits
        assert str(len(table)) not in message and str(len(changed)) not in message


def test_summary_json_records_the_digest_of_the_table_written(sim_run) -> None:
    """summary.json is the run's summary and one field more: the SHA-256 of students.parquet's
    bytes as written (the other files are written as before)."""
    folder, summary = sim_run
    digest = file_sha256(folder / "students.parquet")
    expected = json.dumps({**summary, "file_sha256": {"students.parquet": digest}}, indent=2)
    assert (folder / "summary.json").read_text() == expected + "\n"
    assert "file_sha256" not in summary  # the summary in memory is unchanged


def test_a_simulated_run_is_published_unprotected(sim_run, tmp_path: Path, capsys) -> None:
    folder = copy_run(sim_run, tmp_path)
    assert main(["thresholds", str(folder), *ARGS, "--cluster", "none"]) == 0
    assert "treated as real data" not in capsys.readouterr().out


def test_real_data_copied_into_a_run_folder_is_protected(sim_run, tmp_path: Path,
                                                         capsys) -> None:
    """The repro: a simulated run's students.parquet overwritten with a real table was
    published with exact small counts ('4 of 14', tp 4, fp 2, n 7 a group)."""
    folder = copy_run(sim_run, tmp_path)
    small = pd.DataFrame({"att": [.61, .65, .70, .72, .80, .85, .88, .90, .91, .93, .95, .96,
                                  .97, .99],
                          "left": [1, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
                          "fsm": [True, False] * 7})
    small.to_parquet(folder / "students.parquet")
    status = main(["thresholds", str(folder), "--score", "att", "--outcome", "left", "--by",
                   "fsm", "--n-boot", "40", "--cluster", "none"])
    out, err = capsys.readouterr()
    assert status == 2 and out == ""
    assert "its rows are not the students summary.json counts" in err
    assert not (folder / "thresholds").exists()

    # a table of the run's length: protected, and the header says why, on one line
    other_data(folder).to_parquet(folder / "students.parquet")
    assert main(["thresholds", str(folder), *ARGS, "--by", "fsm"]) == 0
    out = capsys.readouterr().out
    (header,) = [line for line in out.splitlines() if "treated as real data" in line]
    assert "students.parquet is not the table the run wrote" in header
    published = pd.read_csv(folder / "thresholds" / "thresholds.csv", dtype=str)
    assert len(published) < 40  # a protected grid, not every distinct score


def test_a_run_folder_holding_a_dataset_json_is_real_data(sim_run, tmp_path: Path,
                                                          capsys) -> None:
    """A dataset folder given a run's summary.json and scenario.yaml (whose digest is of its
    students.parquet: anyone can compute it) was published unprotected: a folder holding
    dataset.json is imported records, whatever else it holds."""
    folder = copy_run(sim_run, tmp_path)
    (folder / "dataset.json").write_text("{}")
    status = main(["thresholds", str(folder), *ARGS, "--cluster", "none", "--out",
                   str(tmp_path / "t")])
    out, err = capsys.readouterr()
    assert status == 2 and out == "" and not (tmp_path / "t").exists()
    assert "too few students" in err and "a dataset folder of imported records" in err


def test_thresholds_of_real_data_are_owner_only(sim_run, tmp_path: Path, capsys) -> None:
    """Written at the user's umask before; a simulated run's thresholds stay shareable."""
    import stat

    folder = copy_run(sim_run, tmp_path)
    assert main(["thresholds", str(folder), *ARGS, "--cluster", "none", "--out",
                 str(tmp_path / "sim")]) == 0
    assert stat.S_IMODE((tmp_path / "sim").stat().st_mode) & 0o055
    other_data(folder).to_parquet(folder / "students.parquet")  # real data copied in
    assert main(["thresholds", str(folder), *ARGS, "--out", str(tmp_path / "real")]) == 0
    assert stat.S_IMODE((tmp_path / "real").stat().st_mode) == 0o700
    modes = {stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "real").iterdir()}
    assert modes == {0o600}


def test_a_run_folder_without_the_digest_is_real_data(sim_run, tmp_path: Path, capsys) -> None:
    """A folder of an srmsim older than the digest cannot show its table is the run's."""
    folder = copy_run(sim_run, tmp_path)
    summary = json.loads((folder / "summary.json").read_text())
    del summary["file_sha256"]
    (folder / "summary.json").write_text(json.dumps(summary))
    other_data(folder).to_parquet(folder / "students.parquet")
    assert main(["thresholds", str(folder), *ARGS]) == 0
    out = capsys.readouterr().out
    assert "treated as real data (its summary.json records no SHA-256" in out


def real_export(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    n = 600
    att = np.round(rng.uniform(0.6, 1.0, n), 3)
    df = pd.DataFrame({"school": rng.choice(["NFD", "ABC", "XYZ"], n), "att": att,
                       "left": (rng.uniform(size=n) < 1.3 - att).astype(int),
                       "UPN": [f"X8012{i:07d}" for i in range(n)],
                       "Forename": rng.choice(["Finley", "Sofia", "Jacob"], n)})
    df.loc[[3, 50, 77], "school"] = np.nan
    path = tmp_path / "real.csv"
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("argv, says, never", [
    (["--score", "att", "--outcome", "left"],
     "missing in fewer than 10 rows, first at row 5", ["3 row"]),
    (["--score", "Forename", "--outcome", "left"], "row 2 holds text (its value is withheld",
     ["Sofia", "Finley", "Jacob"]),
    (["--score", "att", "--outcome", "UPN"], "row 2 holds another value (withheld",
     ["X8012"]),
])
def test_real_data_errors_name_rows_not_values_or_small_counts(tmp_path: Path, capsys, argv,
                                                               says, never) -> None:
    path = real_export(tmp_path)
    assert main(["thresholds", str(path), *argv, "--n-boot", "40", "--out",
                 str(tmp_path / "o")]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # nothing printed before the error, not even the real-data header
    assert err.startswith("srmsim: error:") and says in err and "Traceback" not in err
    assert not any(word in err for word in never), err
    assert not (tmp_path / "o").exists()


def test_simulated_data_errors_still_show_the_values(tmp_path: Path, capsys) -> None:
    """A simulated run's data are no one's: its messages keep the value and the count."""
    folder = tmp_path / "run"
    folder.mkdir()
    df = students(n_schools=3)
    df.loc[[3, 50, 77], "school"] = np.nan
    df["name"] = "Sofia"
    df.to_parquet(folder / "students.parquet")
    mark_simulated(folder)
    assert main(["thresholds", str(folder), *ARGS]) == 2
    assert "missing in 3 rows, first at row 5" in capsys.readouterr().err
    assert main(["thresholds", str(folder), "--score", "name", "--outcome", "withdrawn"]) == 2
    assert "'Sofia'" in capsys.readouterr().err


def test_the_report_of_a_run_folder_holding_other_data_is_owner_only(sim_run, tmp_path: Path,
                                                                     capsys) -> None:
    """`srmsim report` reads the same folder: a run's own table gives a shareable report, real
    data copied over it an owner-only one that says why."""
    import os
    import stat

    folder = copy_run(sim_run, tmp_path)
    os.chmod(folder, 0o755)
    assert main(["report", str(folder)]) == 0
    assert stat.S_IMODE(os.stat(folder / "report.html").st_mode) & 0o044
    assert "owner-only" not in capsys.readouterr().out
    table = pd.read_parquet(folder / "students.parquet")
    # other data of as many rows (a table of another length is refused: not the run's students)
    table.assign(fsm=~table["fsm"]).to_parquet(folder / "students.parquet")
    assert main(["report", str(folder)]) == 0
    assert stat.S_IMODE(os.stat(folder / "report.html").st_mode) == 0o600
    assert "owner-only: students.parquet is not the table the run wrote" in capsys.readouterr().out


@pytest.mark.once
def test_capacity_and_cost_lines_of_real_data_print_only_published_counts(tmp_path: Path,
                                                                          capsys) -> None:
    """On real data the capacity and cost lines give no count the protected table does not:
    no unused places or pupils tied at a boundary (an off-grid threshold's own counts), and
    every number on them (flagged, cost / cost a case, staff minutes / minutes a case) is a
    published row's, whatever capacity is asked (scores with many ties at every boundary)."""
    import re

    df = students(n_schools=4, n=100, seed=3)
    df["attendance_rate"] = df["attendance_rate"].round(2)  # many pupils share each score
    path = tmp_path / "export.csv"
    df.to_csv(path, index=False)
    published = None
    for i, capacity in enumerate([0, 9, 25, 33, 57, 80, 121, 200, 399, 10_000]):
        out = tmp_path / f"o{i}"
        for flags in (["--capacity", str(capacity)],
                      ["--staff-minutes", str(capacity * 30), "--minutes-per-case", "30"]):
            assert main(["thresholds", str(path), *ARGS, "--cluster", "none", *flags,
                         "--cost-per-case", "7", "--cost-missed", "100", "--cost-needless",
                         "3", "--out", str(out)]) == 0
            text = capsys.readouterr().out
            table = pd.read_csv(out / "thresholds.csv")
            assert published is None or table.equals(published)  # one grid, whatever capacity
            published = table
            assert "unused" not in text and " tie" not in text, text
            (line,) = [x for x in text.splitlines() if x.startswith("at capacity")]
            (cost_line,) = [x for x in text.splitlines() if x.startswith("cost-minimising")]
            if "every published threshold flags more" in line:
                assert capacity < published["flagged"].min()
                continue
            flagged = int(re.search(r"flags ([\d,]+)", line).group(1).replace(",", ""))
            row = published[published["flagged"] == flagged]
            assert len(row) == 1 and flagged <= capacity, line
            assert flagged == published.loc[published["flagged"] <= capacity, "flagged"].max()
            assert f"cost of the cases £{flagged * 7:,}" in line
            if "--staff-minutes" in flags:
                assert f"staff minutes {flagged * 30:,}" in line
            best = int(re.search(r"flags ([\d,]+)", cost_line).group(1).replace(",", ""))
            assert best in set(published["flagged"])
    assert (published[["n", "n_pos", "flagged", "tp", "fp", "fn", "tn"]] >= 10).all().all()

