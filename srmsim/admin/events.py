"""The event log of a request stream: what happened to each request, when, at which step.

Why a log as well as ``requests.parquet``: that file has one row per request (arrival, finish,
total days queued), which says *that* a request took 200 days but not *where* it waited. The log
has one row per event, so one request can be audited step by step.

Events are kept in typed arrays while the simulation runs (23 bytes an event, against some 200
bytes for a list of tuples), so a long run with millions of requests stays in memory; the run
week of each event is kept as where each week's events begin (they are appended in time order).
"""

from __future__ import annotations

from array import array

import numpy as np
import pandas as pd

from srmsim import calendar
from srmsim.admin.config import RequestStep

#: event names, in code order: ``backlog`` (already waiting at the start of the run),
#: ``arrived``, ``queued`` (an attempt of a step begins: any system delay, then the queue for
#: staff), ``started`` (staff begin work), ``finished`` (the attempt is done), ``reworked`` (the
#: step has to be done again), ``dropped`` (the requester gave up before the step), ``completed``,
#: ``open_at_end`` (still in the system when the run ended, at that step; with the staff minutes
#: worked on an attempt still in progress)
REQUEST_EVENTS = ("backlog", "arrived", "queued", "started", "finished", "reworked", "dropped",
                  "completed", "open_at_end")
CODE = {name: i for i, name in enumerate(REQUEST_EVENTS)}


class EventLog:
    """Events of one stream, appended in time order."""

    def __init__(self) -> None:
        self.request = array("i")   # int32: the request's number in the stream
        self.code = array("b")      # int8: index in REQUEST_EVENTS
        self.step = array("b")      # int8: 1-based step, 0 for request-level events
        self.attempt = array("b")   # int8: 1-based attempt of the step, 0 for request-level
        self.day = array("d")       # days since the start of the run
        self.minutes = array("d")   # staff minutes of the attempt (on `finished`), else 0
        self.week_starts: list[tuple[int, int]] = [(0, 0)]  # (first event, run week)

    def __len__(self) -> int:
        return len(self.code)

    def begin_week(self, run_week: int) -> None:
        """Events from now on happened in ``run_week``."""
        self.week_starts.append((len(self.code), run_week))

    def add(self, request: int, event: str, day: float, step: int = 0, attempt: int = 0,
            minutes: float = 0.0) -> None:
        self.request.append(request)
        self.code.append(CODE[event])
        self.step.append(step)
        self.attempt.append(attempt)
        self.day.append(day)
        self.minutes.append(minutes)

    def frame(self, stream: str, steps: list[RequestStep], open_requests: np.ndarray,
              open_minutes: np.ndarray, now: float, run_week: int) -> pd.DataFrame:
        """The log as a table, with an ``open_at_end`` row (at ``now``) for each request in
        ``open_requests``, at the step and attempt of its last event, carrying the staff minutes
        worked on that attempt so far (``open_minutes``: each one's minutes in total)."""
        request = np.frombuffer(self.request, dtype=np.int32)
        code = np.frombuffer(self.code, dtype=np.int8)
        step = np.frombuffer(self.step, dtype=np.int8)
        attempt = np.frombuffer(self.attempt, dtype=np.int8)
        starts = np.array([i for i, _ in self.week_starts] + [len(code)])
        week = np.repeat(np.array([w for _, w in self.week_starts], dtype=np.int16),
                         np.diff(starts))
        day = np.frombuffer(self.day, dtype=np.float64)
        minutes = np.frombuffer(self.minutes, dtype=np.float64)
        if len(open_requests):
            last = np.full(int(open_requests.max()) + 1, -1, dtype=np.int64)
            seen = request <= open_requests.max()
            np.maximum.at(last, request[seen], np.flatnonzero(seen))
            at = last[open_requests]
            k = len(open_requests)
            done = np.bincount(request[seen], weights=minutes[seen],
                               minlength=len(last))[open_requests]
            # what finished attempts did not account for: the attempt in progress (0 if none)
            partial = np.where(code[at] == CODE["started"], open_minutes - done, 0.0)
            request = np.concatenate([request, open_requests.astype(np.int32)])
            code = np.concatenate([code, np.full(k, CODE["open_at_end"], dtype=np.int8)])
            step = np.concatenate([step, step[at]])
            attempt = np.concatenate([attempt, attempt[at]])
            week = np.concatenate([week, np.full(k, run_week, dtype=np.int16)])
            day = np.concatenate([day, np.full(k, now)])
            minutes = np.concatenate([minutes, np.maximum(partial, 0.0)])
        names = [s.name for s in steps]
        roles = sorted({s.role for s in steps})
        role_of_step = np.array([-1] + [roles.index(s.role) for s in steps], dtype=np.int8)
        return pd.DataFrame({
            "week": (week % calendar.WEEKS_PER_YEAR).astype(np.int8),
            "year": (week // calendar.WEEKS_PER_YEAR).astype(np.int16),
            "run_week": week.astype(np.int16),  # a copy: the frame must not share the log's buffer
            "stream": pd.Categorical.from_codes(np.zeros(len(code), dtype=np.int8), [stream]),
            "request": request.astype(np.int32),
            "step": step.astype(np.int8),
            "step_name": pd.Categorical.from_codes(step.astype(np.int8) - 1, names),
            "attempt": attempt.astype(np.int8),
            "event": pd.Categorical.from_codes(code.astype(np.int8), list(REQUEST_EVENTS)),
            "role": pd.Categorical.from_codes(role_of_step[step], roles),
            "day": day.astype(np.float64),
            "minutes": minutes.astype(np.float64),
        })

