"""`data summary` holds its dataset folder's lock while it reads the records and records the
summary in the folder's ledger.

Found 2026-12-06 (a helper's race probe, the gap widened by a sleep): two summaries at once
(`--by school`, `--by sex`) both printed although the second is no part of the first, and a
summary made while `data import --overwrite` or `data anonymise` swapped its folder in was lost
from the ledger, so a later conflicting summary printed.
"""

from __future__ import annotations

import threading
from pathlib import Path

from srmsim.cli import main
from srmsim.outputs import folder_lock

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def test_a_summary_is_refused_while_another_writer_holds_the_folder(
        tmp_path: Path, capsys) -> None:
    ds = tmp_path / "ds"
    assert main(["data", "import", str(SAMPLE / "students.csv"),
                 str(SAMPLE / "observations.csv"), "--out", str(ds)]) == 0
    capsys.readouterr()
    held, done = threading.Event(), threading.Event()

    def writer() -> None:  # another command writing the folder (an import, an anonymise)
        with folder_lock(ds):
            held.set()
            done.wait(30)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        held.wait(30)
        assert main(["data", "summary", str(ds), "--by", "school"]) == 2
        out, err = capsys.readouterr()
        assert "in use by" in err and "Total" not in out
        assert not (ds / "published.json").exists()  # nothing recorded, nothing printed
    finally:
        done.set()
        thread.join()
    assert main(["data", "summary", str(ds), "--by", "school"]) == 0  # once the writer is done
    assert (ds / "published.json").exists()
    capsys.readouterr()
    assert main(["data", "summary", str(ds), "--by", "sex"]) == 2  # the ledger refuses it
    (tmp_path / "link").symlink_to(ds)  # a link to the folder still reads it, under its lock
    assert main(["data", "summary", str(tmp_path / "link"), "--by", "school"]) == 0
