"""The student profile as risk rules see it: documented fields, windows and their values.

Rules read what a school's MIS/LMS would hold (observed values), never the latent truth. Fields
are computed lazily from the student table and cached for the week, so a scenario with ten rules
pays once for ``attendance_rate``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from srmsim.policy.rules import FieldSpec, Kind, Vocabulary
from srmsim.students import ENROLLED, WINDOW, StudentTable

if TYPE_CHECKING:
    from srmsim.model import TrustModel

NEVER = 99  # weeks since an event that never happened in the run


def _rate(num: np.ndarray, den: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """num / den as float64 for counts with 0 <= num <= den (sessions attended of possible,
    assignments on time of set), so nothing to count yet is 0 / 0 = NaN without a mask."""
    with np.errstate(invalid="ignore"):
        return np.divide(num, den, out=out, dtype=np.float64)  # one pass: cast, then divided


def _window_sum(buffer: np.ndarray, slots: list[int], out: np.ndarray | None = None
                ) -> np.ndarray:
    """Sum of some weeks' rows of a rolling buffer as int16, row by row (no 2-D copy)."""
    if len(slots) == 1:
        if out is None:
            return buffer[slots[0]].astype(np.int16)
        np.copyto(out, buffer[slots[0]], casting="unsafe")
        return out
    total = np.add(buffer[slots[0]], buffer[slots[1]], out=out, dtype=np.int16)
    for slot in slots[2:]:
        total += buffer[slot]
    return total


def _weeks_since(last: np.ndarray, step: int) -> np.ndarray:
    """Whole weeks as int16 (a quarter of float64's memory traffic; rules compare them exactly).

    ``step - last``, then NEVER where nothing happened yet (``last < 0``), without a branch
    per student: the sign bit spread over the word (-1 where ``last < 0``, else 0) selects
    ``NEVER - out`` to add, so ``out`` becomes ``NEVER`` there (exactly, wrapping or not) and
    stays as it is elsewhere. Half the time of a masked copy (``np.copyto(..., where=)``),
    whose cost also grows with the students who never logged in."""
    kind = last.dtype.type
    out = np.subtract(kind(step), last)
    if last.dtype.kind != "i":  # (the table's columns are int16; any other type: a masked copy)
        np.copyto(out, kind(NEVER), where=last < 0)
        return out
    never = np.right_shift(last, kind(8 * last.dtype.itemsize - 1))
    jump = np.subtract(kind(NEVER), out)
    jump &= never
    out += jump
    return out


#: name -> (kind, doc, getter(table, step))
FIELDS: dict[str, tuple[Kind, str, Callable[[StudentTable, int], np.ndarray]]] = {
    "enrolled": ("bool", "on roll this week", lambda t, s: t.status == ENROLLED),
    "year_group": ("number", "National Curriculum year (7-13)", lambda t, s: t.year_group),
    "age_months": ("number", "age in months", lambda t, s: t.age_months),
    "male": ("bool", "recorded sex is male", lambda t, s: t.sex == 1),
    "fsm": ("bool", "eligible for free school meals", lambda t, s: t.fsm),
    "sen": ("bool", "has special educational needs", lambda t, s: t.sen),
    "eal": ("bool", "English as an additional language", lambda t, s: t.eal),
    "prior_attainment": ("number", "attainment on entry (SD units)", lambda t, s: t.prior_attainment),
    "attendance_rate": ("number", "share of sessions attended this school year (0-1)",
                        lambda t, s: _rate(t.year_attended, t.year_possible)),
    "absence_rate": ("number", "share of sessions missed this school year (0-1)",
                     lambda t, s: 1 - _rate(t.year_attended, t.year_possible)),
    "attendance_term": ("number", "share of sessions attended this term (0-1)",
                        lambda t, s: _rate(t.term_attended, t.term_possible)),
    "sessions_missed": ("number", "sessions missed this school year",
                        lambda t, s: (t.year_possible - t.year_attended).astype(np.float32)),
    "incidents_term": ("number", "behaviour incidents this term", lambda t, s: t.term_incidents),
    "incidents_total": ("number", "behaviour incidents since joining", lambda t, s: t.incidents),
    "on_time_rate": ("number", "share of assignments handed in on time since joining (0-1)",
                     lambda t, s: _rate(t.on_time_total, t.set_total)),
    "weeks_since_login": ("number", f"weeks since the last LMS login ({NEVER:.0f} if none)",
                          lambda t, s: _weeks_since(t.last_login_step, s)),
    "weeks_since_incident": ("number", f"weeks since the last incident ({NEVER:.0f} if none)",
                             lambda t, s: _weeks_since(t.last_incident_step, s)),
    "reading_age": ("number", "last tested reading age, months (NaN before the first test)",
                    lambda t, s: t.reading_obs),
    "reading_gap": ("number", "last tested reading age minus age at the test, months "
                    "(negative = behind)", lambda t, s: t.reading_obs - t.reading_obs_age),
    "assessment": ("number", "last termly assessment score, SD units (NaN before the first)",
                   lambda t, s: t.assessment),
    "satisfaction": ("number", "last satisfaction pulse, 1-5 (NaN before the first)",
                     lambda t, s: t.satisfaction),
    "interventions": ("number", "actions started for this student so far",
                      lambda t, s: t.interventions),
}

#: windowed functions: name -> (doc, numerator buffer, denominator buffer or None)
WINDOWS: dict[str, tuple[str, str, str | None]] = {
    "attendance": ("share of sessions attended over the last n weeks", "w_attended", "w_possible"),
    "sessions_attended": ("sessions attended over the last n weeks", "w_attended", None),
    "incidents": ("behaviour incidents over the last n weeks", "w_incidents", None),
    "logins": ("days with an LMS login over the last n weeks", "w_logins", None),
    "on_time_rate": ("share of assignments on time over the last n weeks", "w_on_time", "w_set"),
}

#: fields and windows that are shares from 0 to 1, and those that are whole numbers (counts of
#: sessions, incidents, weeks, year groups, a 1-5 pulse): a parameter compared with one is a
#: share or a whole number too, which is how the dashboard picks its slider
SHARE_NAMES = frozenset({"attendance_rate", "absence_rate", "attendance_term", "on_time_rate",
                         "attendance", "pooled_risk"})
WHOLE_NAMES = frozenset({"year_group", "age_months", "sessions_missed", "incidents_term",
                         "incidents_total", "weeks_since_login", "weeks_since_incident",
                         "satisfaction", "interventions", "sessions_attended", "incidents",
                         "logins"})


def vocabulary(parameters: Mapping[str, float | bool] | None = None,
               extra_fields: Mapping[str, str] | None = None) -> Vocabulary:
    """The rule vocabulary of the engine; ``extra_fields`` adds numeric fields (e.g. scores)."""
    fields = {name: FieldSpec(kind, doc) for name, (kind, doc, _) in FIELDS.items()}
    for name, doc in (extra_fields or {}).items():
        fields[name] = FieldSpec("number", doc)
    windows = {name: FieldSpec("number", doc) for name, (doc, _, _) in WINDOWS.items()}
    return Vocabulary(fields=fields, windows=windows, parameters=dict(parameters or {}),
                      max_window=WINDOW - 1)


class ProfileContext:
    """A :class:`~srmsim.policy.rules.RuleContext` over the live model, cached for one week.

    Arrays it returns are valid for the week they were read in: a window's arrays are reused as
    the next week's buffers, so a week of rules allocates (and the allocator hands back to the
    system, to fault in again) no large arrays for windows.
    """

    def __init__(self, model: TrustModel, parameters: Mapping[str, float | bool],
                 extra: Mapping[str, Callable[[], np.ndarray]] | None = None):
        self.model = model
        self.parameters = dict(parameters)
        self.extra = dict(extra or {})
        self._cache: dict[object, np.ndarray] = {}
        self._spare: dict[object, np.ndarray] = {}
        self._step = -1
        #: (buffer, n) -> (the buffer array, run week, its sum): last evaluated window sums, so
        #: the next week's is the previous one plus the new week minus the week that left
        self._sums: dict[tuple[str, int], tuple[np.ndarray, int, np.ndarray]] = {}
        #: the run week whose row the rolling buffers hold: set by the policy engine when its
        #: week starts (after the students' week is recorded); between steps it is last week
        self.recorded_week = -1

    def _fresh(self) -> None:
        if self._step != self.model.week_index:
            self._spare = {k: v for k, v in self._cache.items() if isinstance(k, tuple)}
            self._cache.clear()
            self._step = self.model.week_index

    def _buffer(self, key: tuple, dtype: type) -> np.ndarray:
        """Last week's array for ``key`` if it still fits the table, else a new one."""
        n = len(self.model.students)
        spare = self._spare.pop(key, None)
        if spare is None or spare.shape != (n,) or spare.dtype != dtype:
            spare = np.empty(n, dtype=dtype)
        self._cache[key] = spare
        return spare

    def field(self, name: str) -> np.ndarray:
        self._fresh()
        value = self._cache.get(name)
        if value is None:
            if name in self.extra:
                value = self.extra[name]()
            else:
                value = FIELDS[name][2](self.model.students, self.model.week_index)
            self._cache[name] = value
        return value

    def forget(self, name: str) -> None:
        """Drop a cached field that changed within the week (the pool's new scores)."""
        self._cache.pop(name, None)

    def window(self, name: str, n: int) -> np.ndarray:
        self._fresh()
        key = (name, n)
        value = self._cache.get(key)
        if value is None:
            _, num, den = WINDOWS[name]
            total = self._sum(num, n)
            if den is None:
                value = total
            else:
                value = _rate(total, self._sum(den, n), self._buffer(("rate", num, n), np.float64))
            self._cache[key] = value
        return value

    def window_parts(self, name: str, n: int) -> tuple[np.ndarray, np.ndarray, int] | None:
        """A share's parts over the last ``n`` weeks (its numerator's and denominator's sums,
        int16) and a bound on the denominator's size, so that a rule comparing the share with
        a number can do without the float64 division (``attendance(4) < 0.9``: see
        ``rules._float32_threshold``); None for a window that is not a share, or whose
        buffers are not 8-bit whole numbers."""
        if name not in WINDOWS:
            return None
        _, num, den = WINDOWS[name]
        if den is None:
            return None
        t = self.model.students
        if any(getattr(t, b).dtype != np.int8 for b in (num, den)):
            return None
        self._fresh()
        return self._sum(num, n), self._sum(den, n), 128 * n  # |sum of n int8 values| <= 128n

    def _sum(self, name: str, n: int) -> np.ndarray:
        """The rolling buffer ``name`` summed over the last ``n`` weeks (int16, this week's).

        When last week's sum of the same buffer is at hand and this week's row has been
        recorded since, the sum is updated in place: plus this week's row, minus the row of the
        week that left the window (two passes instead of ``n - 1``; whole numbers, so the same
        values). A buffer's slot is only rewritten ``WINDOW > n`` weeks later, so no other row
        of the window changed in between. A window read between steps (this week's row not yet
        recorded) is summed afresh and not carried on."""
        cached = self._cache.get(("sum", name, n))
        if cached is not None:  # another window of the same buffer and weeks
            return cached
        t, step = self.model.students, self.model.week_index
        buffer = getattr(t, name)
        recorded = self.recorded_week == step
        last = self._sums.pop((name, n), None)
        self._spare.pop(("sum", name, n), None)
        if (recorded and last is not None and last[0] is buffer and last[1] == step - 1
                and last[2].shape == (len(t),)):
            total = last[2]
            total += buffer[step % WINDOW]
            total -= buffer[(step - n) % WINDOW]
        else:
            spare = last[2] if last is not None and last[2].shape == (len(t),) else None
            total = _window_sum(buffer, [(step - k) % WINDOW for k in range(n)], spare)
        if recorded:
            self._sums[(name, n)] = (buffer, step, total)
        self._cache[("sum", name, n)] = total
        return total

    def parameter(self, name: str) -> float | bool:
        return self.parameters[name]
