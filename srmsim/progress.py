"""Progress bars: tqdm's, live on a terminal or in a notebook, seldom redrawn in a log.

Why: on a terminal a bar redraws in place up to ten times a second. Written to a file or a pipe
(CI, ``srmsim experiment ... > log.txt 2>&1``, a cluster scheduler's log), every redraw is
kept: the quickstart's nine seconds left about 90 copies of its bar on one line, and an
hour-long trial could leave up to 36,000 (megabytes of one line). There the bar is redrawn at
most once every :data:`LOG_INTERVAL` seconds, and always at the end.
"""

from __future__ import annotations

import sys
from typing import Any

#: seconds between redraws of a bar whose stream is not a terminal
LOG_INTERVAL = 30.0


def progress_bar(**kwargs: Any) -> Any:
    """``tqdm.auto.tqdm(**kwargs)``, redrawn at most every :data:`LOG_INTERVAL` seconds when
    its stream (``file``, by default standard error) is not a terminal and the bar is not a
    notebook's widget (which redraws in place)."""
    from tqdm.auto import tqdm

    stream = kwargs.get("file") or sys.stderr
    notebook = any(c.__module__ == "tqdm.notebook" for c in tqdm.__mro__)
    if not notebook and not _terminal(stream):
        kwargs.setdefault("mininterval", LOG_INTERVAL)
        kwargs.setdefault("maxinterval", max(LOG_INTERVAL, kwargs["mininterval"]))
    return tqdm(**kwargs)


def _terminal(stream: Any) -> bool:
    """Whether a bar on ``stream`` is redrawn in place: a terminal, or a Jupyter kernel's
    output (which overwrites on a carriage return; without ipywidgets, tqdm.auto's bar there
    is a text one, and such a stream says it is no terminal)."""
    if type(stream).__module__.startswith("ipykernel."):
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False
