"""A terminal that cannot print srmsim's characters (£, –, ×) gets '?', not a traceback.

Found 2026-12-06 (a helper's probe): with an ASCII locale (LC_ALL=C, PYTHONUTF8=0, no locale
coercion) `srmsim experiment` wrote every file and then raised UnicodeEncodeError printing the
effects table, exit 1; `--help` of thresholds (its '£') did the same.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASCII = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONCOERCECLOCALE": "0",
         "PYTHONUTF8": "0", "PYTHONIOENCODING": ""}


def _srmsim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "srmsim", *args], cwd=cwd, env=ASCII,
                          capture_output=True, timeout=300)


def test_help_with_a_pound_sign_prints_on_an_ascii_terminal(tmp_path: Path) -> None:
    done = _srmsim("thresholds", "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode("ascii", "replace")[-500:]
    assert b"Traceback" not in done.stderr and b"--cost-per-case" in done.stdout
    assert b"?" in done.stdout  # the pound sign, replaced


def test_a_run_s_table_prints_on_an_ascii_terminal(tmp_path: Path) -> None:
    done = _srmsim("run", str(ROOT / "scenarios" / "reading_age.yaml"), "--set",
                   "trust.n_schools=2", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode("ascii", "replace")[-500:]
    assert b"Traceback" not in done.stderr
    done.stdout.decode("ascii")  # nothing the terminal cannot show
    assert (tmp_path / "out" / "summary.json").exists()
