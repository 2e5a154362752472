"""A run's files: students.parquet is written on a thread while the other tables are made.

The files must be the same bytes as written one after the other, the summary's digest must be
the file's, and a failure on either side must leave the output folder as it was.
"""

from __future__ import annotations

import hashlib
import json
import threading

import numpy as np
import pandas as pd
import pytest
from conftest import REPO_ROOT

from srmsim import results
from srmsim.model import run
from srmsim.scenario import load_scenario


def _scenario():
    return load_scenario(REPO_ROOT / "scenarios" / "dropout_prevention.yaml").with_overrides(
        {"trust.n_schools": 2, "trust.students_per_year_group": 40}, "test")


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_run_writes_the_same_bytes_as_the_result_and_digests_its_students(tmp_path):
    result = run(_scenario(), seed=4, out=tmp_path / "run")
    result.write(tmp_path / "again")
    names = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "again").iterdir())
    assert {"students.parquet", "weekly.parquet", "events.parquet", "summary.json"} <= set(names)
    for name in names:
        if name != "summary.json":  # which holds the run's own timing
            assert _sha(tmp_path / "run" / name) == _sha(tmp_path / "again" / name), name
    for folder in ("run", "again"):
        summary = json.loads((tmp_path / folder / "summary.json").read_text())
        assert summary["file_sha256"]["students.parquet"] == _sha(
            tmp_path / folder / "students.parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again", "run"]  # nothing left over


@pytest.mark.parametrize("failing", ["weekly", "students"])
def test_a_failed_write_on_either_side_leaves_the_earlier_folder(tmp_path, monkeypatch, failing):
    out = tmp_path / "run"
    run(_scenario(), seed=4, out=out)
    before = {p.name: _sha(p) for p in out.iterdir()}
    real = results.write_parquet
    threads: list[threading.Thread] = []

    def failing_write(df, path, *args, **kwargs):
        threads.append(threading.current_thread())
        if path.name == f"{failing}.parquet":
            raise OSError(28, "No space left on device")
        return real(df, path, *args, **kwargs)

    monkeypatch.setattr(results, "write_parquet", failing_write)
    with pytest.raises(OSError, match="No space left"):
        run(_scenario(), seed=5, out=out)
    assert {p.name: _sha(p) for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no half-written folder
    # the students file was written on a thread of its own, and that thread has finished
    students = [t for t in threads if t is not threading.main_thread()]
    assert students and not any(t.is_alive() for t in students)


def test_the_students_file_declares_its_complete_columns_and_keeps_its_frame(tmp_path):
    """students.parquet marks columns with no missing value as required and records row-group
    statistics only for the columns its rows are ordered by; pandas reads the same frame."""
    import pandas as pd
    import pyarrow.parquet as pq

    result = run(_scenario(), seed=4, out=tmp_path / "run")
    path = tmp_path / "run" / "students.parquet"
    schema = pq.read_schema(path)
    frame = result.students
    assert frame["exam_score"].isna().any() and not frame["uid"].isna().any()
    for name in frame.columns:
        assert schema.field(name).nullable == bool(frame[name].isna().any()), name
    group = pq.ParquetFile(path).metadata.row_group(0)
    with_stats = {group.column(i).path_in_schema for i in range(group.num_columns)
                  if group.column(i).is_stats_set}
    assert with_stats == set(results.STUDENT_ORDER)
    pd.testing.assert_frame_equal(pd.read_parquet(path), frame)
    # a table written without `required` keeps every column nullable, with statistics
    results.write_parquet(frame, tmp_path / "plain.parquet")
    plain = pq.ParquetFile(tmp_path / "plain.parquet")
    assert all(f.nullable for f in plain.schema_arrow)
    assert all(plain.metadata.row_group(0).column(i).is_stats_set
               for i in range(plain.metadata.num_columns))
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "plain.parquet"), frame)


def test_a_digest_read_behind_the_writer_is_the_finished_files(tmp_path):
    """GrowingFileDigest reads a file while another thread appends to it in uneven pieces, with
    pauses longer than its polling: its SHA-256 is the finished file's."""
    import time

    from srmsim.results import GrowingFileDigest

    path = tmp_path / "growing.bin"
    path.write_bytes(b"")
    rng = np.random.default_rng(3)
    pieces = [rng.bytes(int(n)) for n in rng.integers(1, 3 * GrowingFileDigest.BLOCK, 40)]

    def append() -> None:
        with open(path, "ab", buffering=0) as fh:
            for i, piece in enumerate(pieces):
                fh.write(piece)
                if i % 7 == 0:
                    time.sleep(0.01)

    with GrowingFileDigest(path) as digest:
        writer = threading.Thread(target=append)
        writer.start()
        writer.join()
    assert digest.hexdigest() == hashlib.sha256(b"".join(pieces)).hexdigest()
    assert digest.hexdigest() == _sha(path)


def test_a_digest_is_not_given_while_the_file_is_written(tmp_path):
    from srmsim.results import GrowingFileDigest

    path = tmp_path / "growing.bin"
    path.write_bytes(b"abc")
    digest = GrowingFileDigest(path)
    with digest, pytest.raises(RuntimeError, match="still being written"):
        digest.hexdigest()
    assert digest.hexdigest() == hashlib.sha256(b"abc").hexdigest()


@pytest.mark.parametrize("extra", [None, "text", "nullable", "number_name"])
def test_arrow_table_is_from_pandas_table(extra):
    """arrow_table takes numbers with no NaN as they are, and is from_pandas's table, schema and
    pandas metadata included, whatever the columns (text, nullable and odd names go to
    from_pandas)."""
    import pyarrow as pa

    from srmsim.results import arrow_table

    rng = np.random.default_rng(5)
    n = 1000
    frame = pd.DataFrame({
        "uid": np.arange(n, dtype=np.int64), "school": rng.integers(0, 9, n).astype(np.int32),
        "week": rng.integers(0, 39, n).astype(np.int16), "fsm": rng.random(n) < 0.3,
        "rate": rng.random(n), "score": rng.random(n).astype(np.float32),
        "exam": np.where(rng.random(n) < 0.2, np.nan, rng.random(n)).astype(np.float32),
        "status": pd.Categorical.from_codes(rng.integers(0, 3, n), ["enrolled", "left", "gone"]),
    })
    if extra == "text":
        frame["student"] = [f"p{i}" for i in range(n)]
    elif extra == "nullable":
        frame["count"] = pd.array(rng.integers(0, 5, n), dtype="Int64")
    elif extra == "number_name":
        frame[3] = rng.random(n)
    ours = arrow_table(frame)
    theirs = pa.Table.from_pandas(frame, preserve_index=False)
    assert ours.equals(theirs, check_metadata=True)
    assert ours.column("exam").null_count == int(frame["exam"].isna().sum()) > 0
