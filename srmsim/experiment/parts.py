"""The parts into which the conditions a study's outcomes count split its pupils.

Why: on real records every count-like value an experiment publishes (a share of pupils, a mean
of ``count(a, b)``) is a sum of pupils meeting some conditions, and two of them differenced
give a count neither shows: a mean of ``count(male, attendance_rate < 0.99, fsm)`` less one
of ``count(male, attendance_rate < 0.99)``, times the pupils, is the FSM pupils (6.5 a run of
20, each value alone passing), and shares of
``reading_gap_end < -12`` and ``< -24`` differenced are the pupils between. Every such value
and every difference of them is a sum of the parts of the partition the conditions make (each
part: the pupils meeting exactly some of them), so where each condition's pupils, and those
not meeting it, are 10 or more (0 is few, as for any count) and each part is empty or of 10
or more, no arithmetic on them gives a count of 1 to 9. Each run row and group row keeps the
fewest (:data:`FEWEST`) and which parts are empty (:data:`EMPTY`, a digest: a part empty in
one run and not in another is reckoned few); :mod:`srmsim.experiment.withhold` withholds the
study's user-defined counts where they are few.

The built-in shares are nested too: the severely absent (under 50% of sessions) are among the
persistently absent (under 90%), both of the pupils with sessions, so the persistent share less
the severe, times the pupils, is the pupils between (:data:`NESTED`). Where a study publishes
both, each run and group row keeps the parts of the pair alone (:data:`BETWEEN_FEWEST`,
:data:`BETWEEN_EMPTY`, :func:`between`), and the inner share is withheld where they are few.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Collection, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # (outcomes imports this module's column names)
    from srmsim.experiment.outcomes import Cohort, Outcome

#: the run row's (and each group row's) fewest pupils of a condition, not of it, or of a
#: part that is not empty
FEWEST = "fewest_in_a_part"
#: the run row's (and each group row's) digest of which parts are empty
EMPTY = "empty_parts"
#: the most conditions a study's parts are reckoned for (2 ** 16 parts); beyond, few
MOST_CONDITIONS = 16

Condition = Callable[["Cohort"], np.ndarray]

#: built-in shares nested in another over the same pupils, inner to outer: the severely absent
#: are persistently absent, and so are the FSM persistently absent (the trust's persistent
#: share less theirs, each times its pupils, is the others)
NESTED = {"severe_absence": "persistent_absence",
          "persistent_absence_fsm": "persistent_absence"}
#: the run row's (and each group row's) fewest pupils of a nested pair's parts (the outer
#: share's, the inner's, each not, or between them), and a digest of which are empty
BETWEEN_FEWEST = "fewest_between"
BETWEEN_EMPTY = "empty_between"


def counted_conditions(outcomes: Sequence[Outcome]) -> list[Condition]:
    """The conditions ``outcomes`` count over every pupil, where some user-defined outcome
    counts one (:meth:`srmsim.experiment.custom.CustomOutcome.conditions`): its own and the
    built-in shares' (persistent absence, served, ...: a user-defined ``count(served, b)``
    less the share served gives those with ``b``). None otherwise: the built-in shares
    alone are reckoned by their own rule."""
    from srmsim.experiment.custom import CustomOutcome, condition_values
    from srmsim.trial.groups import SHARE_OUTCOMES

    custom = [r for o in outcomes if isinstance(o.measure, CustomOutcome)
              for r in o.measure.conditions()]
    if not custom:
        return []
    seen: set[str] = set()
    out: list[Condition] = []
    for rule in custom:
        if rule.canonical not in seen:
            seen.add(rule.canonical)
            out.append(partial(condition_values, rule))
    for o in outcomes:
        if o.name in SHARE_OUTCOMES and not isinstance(o.measure, CustomOutcome):
            base, hit = SHARE_OUTCOMES[o.name]
            out.append(partial(_share, base, hit))
    return out


def _share(base: Callable[[Any], np.ndarray], hit: Callable[[Any], np.ndarray],
           c: Cohort) -> np.ndarray:
    return np.asarray(base(c.students) & hit(c.students), dtype=bool)


def parts(cohort: Cohort, conditions: Sequence[Condition]) -> tuple[float, float]:
    """``(fewest, empty)`` of ``cohort``'s pupils by ``conditions`` (:data:`FEWEST`,
    :data:`EMPTY`); ``(nan, nan)`` without conditions (nothing to reckon)."""
    if not conditions:
        return math.nan, math.nan
    if len(conditions) > MOST_CONDITIONS:
        return 0.0, 0.0
    n = len(cohort.students)
    code = np.zeros(n, dtype=np.int64)
    marginal = []
    for j, condition in enumerate(conditions):
        met = np.asarray(condition(cohort), dtype=bool)
        code |= met.astype(np.int64) << j
        k = int(met.sum())
        marginal += [k, n - k]
    sizes = np.bincount(code, minlength=1 << len(conditions))
    filled = sizes[sizes > 0]
    fewest = min([*marginal, *filled.tolist()])
    digest = hashlib.blake2b(np.packbits(sizes == 0).tobytes(), digest_size=6).digest()
    return float(fewest), float(int.from_bytes(digest, "big"))


def nested_inner(names: Collection[str]) -> frozenset[str]:
    """The inner shares of :data:`NESTED` published with their outer among ``names``: those
    withheld where the pupils between are few (:func:`between`)."""
    return frozenset(i for i, o in NESTED.items() if i in names and o in names)


def _condition(name: str) -> Condition:
    """The pupils built-in share ``name`` counts (of :data:`NESTED`), as the registry does."""
    from srmsim.trial.groups import SHARE_OUTCOMES

    if name == "persistent_absence_fsm":  # the FSM pupils' persistent absence
        absent = partial(_share, *SHARE_OUTCOMES["persistent_absence"])
        return lambda c: absent(c) & c.students["fsm"].to_numpy(dtype=bool)
    return partial(_share, *SHARE_OUTCOMES[name])


def between(cohort: Cohort, names: Collection[str]) -> tuple[float, float]:
    """``(fewest, empty)`` of ``cohort``'s pupils by each nested pair ``names`` publishes
    (:func:`nested_inner`), reckoned by :func:`parts` pair by pair (the fewest of all; one
    digest of their empty parts); ``(nan, nan)`` without such a pair."""
    pairs = sorted(nested_inner(names))
    if not pairs:
        return math.nan, math.nan
    reckoned = [parts(cohort, [_condition(NESTED[inner]), _condition(inner)])
                for inner in pairs]
    if len(reckoned) == 1:
        return reckoned[0]
    empty = np.array([e for _, e in reckoned], dtype=np.float64)
    digest = hashlib.blake2b(empty.tobytes(), digest_size=6).digest()
    return min(f for f, _ in reckoned), float(int.from_bytes(digest, "big"))
