"""Outsider attacks on what srmsim prints and writes from real records (helper 208's review).

Each test plays an attacker who holds only the published outputs (and knows srmsim's rules),
recovers a count under 10 from an unprotected version, and checks the command no longer lets
them. Run through the real CLI (``python -m srmsim``) in a subprocess.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from test_risk_cli import students  # noqa: E402
from test_thresholds_privacy_missing import (  # noqa: E402
    REFUSAL,
    assert_refused,
    srmsim_cli,
)

ARGS = ["--score", "attendance_rate", "--outcome", "withdrawn", "--n-boot", "40"]


def school_without_scores(tmp_path: Path, others: int, size: int = 12) -> Path:
    """The 720 pupils of six schools plus a seventh of ``size`` pupils whose school sent no
    attendance (every score missing), and ``others`` pupils of the six without a score; none of
    the rows left out has the outcome, so every part of them is 0 or their number."""
    df = students()
    blank = np.flatnonzero(~df["withdrawn"].to_numpy(dtype=bool))[:others]
    df.loc[df.index[blank], "attendance_rate"] = np.nan
    extra = df[~df["withdrawn"]].head(size).assign(
        school=6, uid=np.arange(size) + 10_000, attendance_rate=np.nan)
    path = tmp_path / "export.csv"
    pd.concat([df, extra]).to_csv(path, index=False)
    return path


def test_a_school_with_every_row_left_out_is_not_counted_out(tmp_path: Path) -> None:
    """The bootstrap's line names the schools with a row used: 6 of the 7 the records hold
    (``data summary`` prints every school, and its pupils: 12 here). With 15 rows left out the
    school of 12 is all of them but 3, a count the left-out rule exists to protect: ``rows:
    732; used 717; missing score 15`` and ``bootstrap over 6 school clusters`` gave 15 - 12 = 3.
    Refused now, saying why and no count; 10 others left out (22 in all) still publish."""
    path = school_without_scores(tmp_path, others=3)
    out = tmp_path / "report"
    res = srmsim_cli("thresholds", str(path), *ARGS, "--out", str(out), cwd=tmp_path)
    assert_refused(res, out, str(path), str(out))
    assert "'school'" in res.stderr and "cluster" in res.stderr
    ok = school_without_scores(tmp_path, others=10)
    res = srmsim_cli("thresholds", str(ok), *ARGS, "--out", str(tmp_path / "ok"),
                     cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "rows: 732; used 710; missing score 22" in res.stdout
    assert "bootstrap over 6 school clusters" in res.stdout
    # a school of 7 wholly left out beside 10 others: its 7 pupils are the rest of 17
    small = school_without_scores(tmp_path, others=10, size=7)
    res = srmsim_cli("thresholds", str(small), *ARGS, "--out", str(out), cwd=tmp_path)
    assert_refused(res, out, str(path), str(out))
    # --cluster none prints no count of schools: nothing to refuse
    path = school_without_scores(tmp_path, others=3)
    res = srmsim_cli("thresholds", str(path), *ARGS, "--cluster", "none", "--out",
                     str(tmp_path / "none"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert REFUSAL not in res.stderr and re.search(r"school clusters", res.stdout) is None


def test_a_lock_file_planted_as_a_link_is_refused_not_followed(tmp_path: Path) -> None:
    """Someone who can write into a shared results folder plants ``.srmsim.lock`` as a link to
    another of the user's files. The lock was opened through it, emptied and written ("pid,
    srmsim thresholds ...") and the result published: the user's file was lost, and then
    hard-linked into the owner-only result and made 0600. Refused now before anything is
    printed (exit 2, the file untouched, nothing written); a lock taken directly too."""
    import pytest

    from srmsim.errors import SrmsimError
    from srmsim.outputs import LOCK_NAME, folder_lock

    own = tmp_path / "mine.txt"
    own.write_text("the user's own file\n")
    out = tmp_path / "shared" / "report"
    out.mkdir(parents=True)
    (out / LOCK_NAME).symlink_to(own)
    path = school_without_scores(tmp_path, others=0)
    res = srmsim_cli("thresholds", str(path), *ARGS, "--out", str(out), cwd=tmp_path)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert res.stdout == "" and "symbolic link" in res.stderr and "Traceback" not in res.stderr
    assert own.read_text() == "the user's own file\n"
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]
    for shared in (False, True):
        with pytest.raises(SrmsimError, match="symbolic link"), folder_lock(out, shared=shared):
            pass
        assert own.read_text() == "the user's own file\n"
