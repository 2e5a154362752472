"""Compiled kernels (numba) for the engine's hottest loops, bit-identical to its numpy passes.

Why optional at run time: numba is an extra (``pip install 'srmsim[fast]'``), compiles on
first use (cached on disk after that) and may be missing or fail on an exotic platform; the
engine then runs the same week as numpy passes, with the same results, since the compiled week
leaves every machine-dependent function (float32 ``exp``, ``log``, ``sin``, ``cos``, and
``q ** n`` where a draw depends on it) to numpy (:mod:`srmsim.kernels.week`).
"""

from __future__ import annotations

import importlib
import os
import threading
import warnings
from collections.abc import Callable
from typing import Any

from srmsim.calendar import WEEKS_PER_YEAR
from srmsim.errors import SrmsimError

#: the student-table columns :func:`srmsim.kernels.week.week_pass` takes, in its order
WEEK_COLUMNS = (
    "uid", "status", "year_group", "sex", "exit_step",
    "engagement_base", "engagement_ar", "wellbeing_base", "wellbeing_ar", "eff_engagement",
    "eff_wellbeing", "eff_absence", "eff_incidents", "absence_static", "attainment",
    "attainment_anchor", "reading_age", "age_months",
    "possible", "attended", "incidents", "logins", "set_total", "on_time_total",
    "year_possible", "year_attended", "term_possible", "term_attended", "term_incidents",
    "last_login_step", "last_incident_step",
)
#: the rolling buffers it writes (this week's slot of each)
WEEK_BUFFERS = ("w_possible", "w_attended", "w_incidents", "w_logins", "w_set", "w_on_time")

#: ``SRMSIM_WEEK``: ``numpy`` runs every week as numpy passes, ``compiled`` as compiled passes
#: (numba must be installed), unset or ``auto`` chooses by the run's length
ENV_WEEK = "SRMSIM_WEEK"
#: with ``auto``, a run of at least this many student-weeks loads the compiled week: loading
#: it takes 0.7-1.1 s a process (importing numba 0.25-0.4 s, then the cached machine code;
#: measured 2026-12-03), which the week's saving of about 50 ns a student-week pays back from
#: about 15 million (a school year of 385,000 students, or three of 130,000)
COMPILED_MIN_STUDENT_WEEKS = 15_000_000
#: once loaded in the process, tables from this size use it (below, a week takes milliseconds)
LOADED_MIN_STUDENTS = 20_000

_kernel: Callable[..., None] | None = None
_tried = False
#: held while the kernels load: a thread that asks meanwhile (a helper process preloads them
#: on a thread of its own) waits for the answer rather than taking "not loaded"
_LOADING = threading.Lock()
#: why the compiled week is not available ("" when it is, or was never asked for)
_failure = ""


def week_mode() -> str:
    """``SRMSIM_WEEK`` checked: ``auto``, ``numpy`` or ``compiled``."""
    mode = os.environ.get(ENV_WEEK, "").strip().lower() or "auto"
    if mode not in ("auto", "numpy", "compiled"):
        raise SrmsimError(f"{ENV_WEEK} must be auto, numpy or compiled (got {mode[:40]!r})")
    return mode


def week_kernel(students: int | None = None,
                student_weeks: int | None = None) -> Callable[..., None] | None:
    """The compiled week (:func:`srmsim.kernels.week.week_pass`) for a table of ``students``
    (None: any size) in a run of ``student_weeks`` (None: a school year), or None when the
    numpy passes should run: numba is not installed or the kernels do not load,
    ``SRMSIM_WEEK=numpy``, or (``auto``) the run is too short to pay for loading them (under
    :data:`COMPILED_MIN_STUDENT_WEEKS`) or, once the process has loaded them, the table is
    under :data:`LOADED_MIN_STUDENTS`. The choice changes the speed, never the results."""
    mode = week_mode()
    if mode == "numpy":
        return None
    if mode == "auto" and students is not None:
        if students < LOADED_MIN_STUDENTS:
            return None
        if _kernel is None:
            planned = students * WEEKS_PER_YEAR if student_weeks is None else student_weeks
            if planned < COMPILED_MIN_STUDENT_WEEKS:
                return None
    if not _tried:
        with _LOADING:
            if not _tried:
                _load()
    if _kernel is None and mode == "compiled":
        raise SrmsimError(f"{ENV_WEEK}=compiled: {_failure}")
    return _kernel


def _load() -> None:
    """Import the kernels and run them once on empty arrays of the table's types (which loads
    their machine code from the cache, or compiles it): a machine where that fails runs the
    numpy passes, with a warning unless numba is simply not installed."""
    global _kernel, _tried, _failure
    try:
        week = importlib.import_module("srmsim.kernels.week")
        _run_empty(week)
    except ImportError as exc:  # numba missing: the numpy passes give the same week
        _failure = f"needs numba, which does not import ({exc}): pip install 'srmsim[fast]'"
    except Exception as exc:  # noqa: BLE001 - any compiler failure: the numpy week instead
        _failure = f"the compiled week failed to load ({type(exc).__name__}: {exc})"
        warnings.warn(f"srmsim: {_failure}; the week runs as numpy passes (the same results, "
                      "slower)", RuntimeWarning, stacklevel=3)
    else:
        _kernel, _failure = week.week_pass, ""
    finally:
        _tried = True  # last: a thread that sees it finds the outcome set


def _run_empty(week: Any) -> None:
    """One call of each kernel (:func:`srmsim.kernels.week.week_pass`, the schools' totals,
    the reading test and the term's assessments) on empty arrays of the table's types."""
    import numpy as np

    from srmsim.dynamics import WeekObservation
    from srmsim.kernels import assessments
    from srmsim.students import StudentTable

    t, obs = StudentTable(0), WeekObservation.empty(0)
    key, sd = np.uint64(1), np.float32(1.0)
    week.school_totals(np.zeros(1, dtype=np.int64), t.status,
                       *(getattr(obs, name) for name in WeekObservation.__slots__),
                       np.zeros((8, 1), dtype=np.int64))
    assessments.reading_test(key, sd, t.uid, t.status, t.reading_age, t.age_months,
                             t.reading_obs, t.reading_obs_age, t.reading_gap_start)
    assessments.term_assessments(key, sd, t.uid, t.status, t.term_attended, t.term_possible,
                                 t.attendance_autumn, t.attainment, t.wellbeing_base,
                                 t.wellbeing_ar, t.eff_wellbeing, t.engagement_base,
                                 t.engagement_ar, t.eff_engagement, t.assessment, t.satisfaction)
    week.week_pass(np.zeros(week.N_PAR, dtype=np.float32), np.zeros(week.N_KEYS, dtype=np.uint64),
                   10, 3, 0, True, np.zeros(256, dtype=np.bool_),
                   *(getattr(t, name) for name in WEEK_COLUMNS),
                   *(getattr(t, name)[0] for name in WEEK_BUFFERS),
                   *(getattr(obs, name) for name in WeekObservation.__slots__))
