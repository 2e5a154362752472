"""An export too large for the memory free now is refused before it is read (readers).

Reading a CSV cell by cell takes about 110 bytes a cell and 250 a row as Python objects, about
30 times the file (measured: 18 MB of 300,000 rows of 15 cells took 577 MB), so a 1 GB export
would need about 30 GB and the system would kill the command with no word of the cause. The estimate is checked against files read here, and free memory is set by the test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO_ROOT
from test_data_fakes import fake_export, write_export

from srmsim.cli import main
from srmsim.data import readers
from srmsim.errors import DataError


def observations_csv(path: Path, rows: int, columns: int = 15) -> Path:
    header = ",".join(f"c{j}" for j in range(columns))
    # distinct cells, as in an export (CPython shares one-character strings)
    body = "\n".join(",".join([f"P{i:06d}", *(str((i * 7 + j) % 977 + 10) for j in
                                               range(columns - 1))]) for i in range(rows))
    path.write_text(header + "\n" + body + "\n")
    return path


def free_memory(monkeypatch: pytest.MonkeyPatch, nbytes: int | None) -> None:
    import srmsim.memory

    monkeypatch.setattr(srmsim.memory, "available_bytes", lambda: nbytes)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux /proc")
def test_the_estimate_covers_what_reading_takes(tmp_path: Path) -> None:
    """In a fresh process, with the memory settings every srmsim command takes, the peak RSS
    growth of reading is at most a tenth above the estimate, and the estimate at most 2.5
    times it (a check that is too loose refuses files that fit)."""
    for rows, columns in ((60_000, 15), (300_000, 1)):
        path = observations_csv(tmp_path / f"x{columns}.csv", rows, columns)
        # the peak of this process's own memory (VmHWM, reset by exec): ru_maxrss keeps the
        # forking pytest worker's peak across exec, and reading then seemed to take nothing
        code = (f"import sys; sys.path.insert(0, {str(REPO_ROOT)!r})\n"
                "from srmsim.memory import keep_freed_memory; keep_freed_memory()\n"
                "from srmsim.data.readers import read_raw\n"
                "def hwm():\n"
                "    for line in open('/proc/self/status'):\n"
                "        if line.startswith('VmHWM:'):\n"
                "            return int(line.split()[1]) * 1024\n"
                "before = hwm()\n"
                f"read_raw({str(path)!r})\n"
                "print(hwm() - before)")
        used = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  check=True).stdout)
        estimate = readers.reading_memory(rows + 1, (rows + 1) * columns,
                                          path.stat().st_size)
        assert 0.9 * used < estimate < 2.5 * used, (rows, columns, used, estimate)


def test_a_csv_beyond_free_memory_is_refused_by_name(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = observations_csv(tmp_path / "weeks.csv", 20_000)
    need = readers.reading_memory(20_001, 20_001 * 15, path.stat().st_size)
    free_memory(monkeypatch, int(need * 0.6))
    with pytest.raises(DataError, match=rf"{path}: 1 MiB, about (19,9|20,0)\d\d rows of 15 "
                       r"columns: reading it needs about \d+ MiB of memory and \d+ MiB is free"):
        readers.read_raw(path)
    free_memory(monkeypatch, int(need * 1.5))
    assert readers.read_raw(path).n_rows == 20_000
    free_memory(monkeypatch, None)  # free memory unknown (not Linux): read
    assert readers.read_raw(path).n_rows == 20_000


def test_a_parquet_export_is_checked_from_its_metadata(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "weeks.parquet"
    pd.DataFrame({"pupil": [f"P{i}" for i in range(5_000)], "att": 7}).to_parquet(path)
    free_memory(monkeypatch, 1_000_000)
    with pytest.raises(DataError, match=r"about 5,000 rows of 2 columns"):
        readers.read_raw(path)


def test_data_import_exits_2_and_writes_nothing(tmp_path: Path, capsys,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    st, ob = fake_export(n_students=40, n_weeks=3)
    paths = write_export(tmp_path, st, ob)
    free_memory(monkeypatch, 10_000)
    out = tmp_path / "ds"
    rc = main(["data", "import", str(paths["students"]), str(paths["observations"]),
               "--mapping", str(paths["mapping"]), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "reading it needs about" in err and "Traceback" not in err
    assert not out.exists()


def test_long_rows_at_the_top_do_not_hide_the_rows_below(tmp_path: Path, monkeypatch) -> None:
    """The rows were estimated from the first MiB scaled to the file's size: 120 rows of long
    notes at the top of 6 million short ones counted as about 25,000 rows, and the import ran
    out of memory (a helper's probe, 2026-12-06). The rows are now counted over the file."""
    path = tmp_path / "students.csv"
    with open(path, "w") as f:
        f.write("student_id,school,notes\n")
        for i in range(120):
            f.write(f"P{i:07d},S01,{'x' * 10_000}\n")
        for i in range(120, 200_000):
            f.write(f"P{i:07d},S{i % 50:02d},\n")
    rows = 200_001
    need = readers.reading_memory(rows, rows * 3, path.stat().st_size)
    free_memory(monkeypatch, int(need * 0.9))
    with pytest.raises(DataError, match=r"about 200,001 rows of 3 columns"):
        readers.read_raw(path)
    free_memory(monkeypatch, int(need * 1.1))
    assert readers.read_raw(path).n_rows == 200_000
