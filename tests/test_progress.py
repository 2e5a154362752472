"""Progress bars redraw live on a terminal, and seldom where they are written to a log.

Written to a pipe or a file (CI, ``> log.txt 2>&1``), every tqdm redraw is kept: the
quickstart's bar was drawn about 90 times on one line of the log. Each redraw starts with a
carriage return, so the tests count those.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from srmsim import progress
from srmsim.progress import LOG_INTERVAL, progress_bar

ROOT = Path(__file__).resolve().parents[1]

#: a bar of 50 steps over about a second (tqdm's own interval on a terminal is 0.1 s)
CHILD = textwrap.dedent("""
    import time
    from srmsim.progress import progress_bar
    bar = progress_bar(total=50, desc="weeks")
    for _ in range(50):
        time.sleep(0.02)
        bar.update(1)
    bar.close()
""")


def _child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_a_bar_written_to_a_pipe_is_drawn_at_the_start_and_the_end_only() -> None:
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, env=_child_env(),
                          timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    draws = done.stderr.decode().split("\r")[1:]
    assert len(draws) == 2, draws  # 0/50, then 50/50 (about 12 before)
    assert "0/50" in draws[0] and "50/50" in draws[-1]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a pseudo-terminal (Linux)")
def test_a_bar_on_a_terminal_is_redrawn_as_it_goes() -> None:
    import fcntl
    import pty
    import termios

    master, slave = pty.openpty()
    # a new pseudo-terminal is 0 columns wide, where tqdm draws nothing: give it a screen's
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=slave, stderr=slave,
                             env=_child_env(), close_fds=True)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert child.wait(timeout=120) == 0
    draws = out.decode(errors="replace").split("\r")
    assert sum("/50" in d for d in draws) >= 5, out[:500]


def test_a_log_bar_is_given_the_long_interval_and_a_terminal_bar_its_own(
        monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    log = progress_bar(total=3, file=io.StringIO())
    live = progress_bar(total=3, file=Terminal())
    try:
        assert log.mininterval == LOG_INTERVAL and log.maxinterval >= LOG_INTERVAL
        assert live.mininterval == 0.1  # tqdm's default, untouched
    finally:
        log.close()
        live.close()
    # a caller's own interval is kept; a closed stream counts as no terminal
    closed = io.StringIO()
    closed.close()
    assert not progress._terminal(closed)
    mine = progress_bar(total=3, file=io.StringIO(), mininterval=5.0)
    try:
        assert mine.mininterval == 5.0 and mine.maxinterval == LOG_INTERVAL
    finally:
        mine.close()


def test_a_notebook_widget_keeps_its_own_redraws(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a notebook, tqdm.auto's bar is a widget redrawn in place (its stream is never a
    terminal there): it keeps tqdm's intervals."""
    import tqdm.auto

    seen: list[dict] = []
    Widget = type("tqdm_notebook", (), {"__module__": "tqdm.notebook"})  # noqa: N806

    class NotebookBar(Widget):  # type: ignore[misc, valid-type]
        def __init__(self, **kwargs: object) -> None:
            seen.append(kwargs)

    monkeypatch.setattr(tqdm.auto, "tqdm", NotebookBar)
    progress_bar(total=3, file=io.StringIO())
    assert seen == [{"total": 3, "file": seen[0]["file"]}]


def test_a_text_bar_in_a_jupyter_kernel_keeps_its_own_redraws() -> None:
    """Without ipywidgets, tqdm.auto's bar in a notebook is a text bar on the kernel's output
    stream, which redraws in place but says it is no terminal."""
    OutStream = pytest.importorskip("ipykernel.iostream").OutStream  # noqa: N806

    class KernelOutput(io.StringIO):
        pass

    KernelOutput.__module__ = OutStream.__module__
    out = KernelOutput()
    assert not out.isatty()
    bar = progress_bar(total=3, file=out)
    try:
        assert bar.mininterval == 0.1
    finally:
        bar.close()


def test_an_experiment_written_to_a_log_draws_its_bar_twice(tmp_path: Path) -> None:
    """The command's own bar, with its failures count: the first and the last draw."""
    scenario = tmp_path / "small.yaml"
    scenario.write_text("name: small\nyears: 1\ntrust: {n_schools: 2, students_per_year_group: 20}\n")
    experiment = tmp_path / "exp.yaml"
    experiment.write_text(textwrap.dedent(f"""
        name: small_study
        scenario: {scenario}
        baseline: none
        replications: 6
        variants:
          none: {{}}
          other:
            dynamics.absence_engagement: 0.5
    """))
    done = subprocess.run([sys.executable, "-m", "srmsim", "experiment", str(experiment),
                           "--out", str(tmp_path / "out"), "--workers", "1"],
                          capture_output=True, env=_child_env(), timeout=300)
    err = done.stderr.decode()  # (bytes: text mode would turn each carriage return into a newline)
    assert done.returncode == 0, err
    bars = [d for d in err.split("\r") if "run/s" in d]
    assert len(bars) == 2, bars
    assert "12/12" in bars[-1] and "failures=0" in bars[-1]
