"""Request backlogs the memory check let through, identifiers with invisible characters, and
group labels that sorted as text or merged ``1`` with ``"1"``."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))

import srmsim.memory  # noqa: E402
from srmsim.admin.desk import RequestDesk  # noqa: E402
from srmsim.cli import main  # noqa: E402
from srmsim.errors import SrmsimError  # noqa: E402

GIB = 2**30


# ----------------------------------------------------------------------- request backlogs
def _backlog_scenario(tmp_path: Path, backlog: int, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({
        "trust": {"n_schools": 0}, "years": 1,
        "requests": {"desk": {"arrivals": {"per_week": 5}, "backlog": backlog,
                              "steps": [{"name": "a", "role": "clerk", "minutes": 30}],
                              "staff": {"clerk": {"staff": 1}}}}}))
    return path


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_memory_figure_of_a_request_is_a_measured_lower_bound() -> None:
    # measured peak RSS: ~2.25 kB a waiting one-step request, ~2.6 kB with three steps; the
    # figure was 1,000 + 180 a step, so 10 million requests (some 23 GB) passed as 12 GB
    one_step = srmsim.memory.BYTES_PER_REQUEST + srmsim.memory.BYTES_PER_REQUEST_STEP
    three_steps = srmsim.memory.BYTES_PER_REQUEST + 3 * srmsim.memory.BYTES_PER_REQUEST_STEP
    assert 2_000 <= one_step <= 2_250
    assert 2_300 <= three_steps <= 2_600


def test_a_backlog_of_ten_million_is_refused_up_front(tmp_path: Path, capsys,
                                                      monkeypatch) -> None:
    """A backlog of 10,000,000 with one clerk, on a machine with 16 GiB free: refused before
    anything is allocated (exit 2, one line, no traceback) and an earlier run's folder stays
    as it was."""
    out = tmp_path / "out"
    assert main(["run", str(_backlog_scenario(tmp_path, 10)), "--out", str(out),
                 "--quiet"]) == 0
    before = _digest(out)
    monkeypatch.setattr(srmsim.memory, "available_bytes", lambda: 16 * GIB)

    def let_through(*args, **kwargs):  # never build 23 GB of requests, even when not refused
        raise AssertionError("the memory check let a backlog of 10 million through")

    monkeypatch.setattr(RequestDesk, "__init__", let_through)
    capsys.readouterr()
    huge = _backlog_scenario(tmp_path, 10_000_000, "huge.yaml")
    assert main(["run", str(huge), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "about 10,000,195 requests" in err and "GiB" in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1
    assert _digest(out) == before
    with pytest.raises(SrmsimError, match="requests"):
        srmsim.memory.check_run_fits(0, 0, "x", 10_000_000, 10_000_000)


