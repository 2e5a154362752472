"""Effects that differ between students: effect modifiers and the simulator's true expected gains.

An action's ``modifiers`` map student fields to slopes: a student's effect is the catalogue
effect times ``max(0, 1 + sum(per_unit * (value - center)))``. Fields are the observed profile
(``fsm``, ``prior_attainment``, ``reading_gap``, ``attendance_rate`` ...; booleans count 0/1, a
missing value counts as the centre) or the latent state (``latent_engagement``,
``latent_wellbeing``, ``latent_attainment``, ``latent_reading_gap``), which no school can see.
The multiplier is fixed when a case is given its action (referral or escalation).

Because the simulator knows every multiplier, it knows each student's expected gain from each
action; :func:`expected_gain` gives it, and the *oracle* choice is the candidate with the largest
expected gain per staff minute. Only the simulator's outputs (``decisions.parquet``) carry it;
the learned chooser trains on pseudonymised profile records and observed changes only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from srmsim.policy.config import ActionConfig
from srmsim.policy.profile import FIELDS, ProfileContext
from srmsim.students import StudentTable

#: latent fields a modifier may read (the truth; never a rule or a model)
LATENT_FIELDS: dict[str, tuple[str, Callable[[StudentTable], np.ndarray]]] = {
    "latent_engagement": ("engagement now, SD (stable + transient + action effects)",
                          lambda t: t.engagement()),
    "latent_wellbeing": ("wellbeing now, SD", lambda t: t.wellbeing()),
    "latent_attainment": ("attainment now, SD", lambda t: t.attainment),
    "latent_reading_gap": ("true reading age minus age, months", lambda t: t.reading_age - t.age_months),
}

#: effect targets where a smaller value is better (a negative shift helps)
LOWER_IS_BETTER = ("absence", "incidents")


def modifier_fields() -> list[str]:
    """Names a modifier may use: numeric and boolean profile fields, then latent fields."""
    return [n for n, (kind, _, _) in FIELDS.items() if kind in ("number", "bool")] + list(LATENT_FIELDS)


def check_modifiers(actions: Mapping[str, ActionConfig]) -> list[tuple[str, str]]:
    """Problems with modifier field names, as (key path, message)."""
    known = set(modifier_fields())
    return [(f"policy.actions.{name}.modifiers.{field}",
             f"unknown field {field!r} (fields: {', '.join(modifier_fields())})")
            for name, a in actions.items() for field in a.modifiers if field not in known]


def _field(ctx: ProfileContext, name: str) -> np.ndarray:
    if name in LATENT_FIELDS:
        return np.asarray(LATENT_FIELDS[name][1](ctx.model.students), dtype=np.float64)
    return np.asarray(ctx.field(name), dtype=np.float64)


class Modifiers:
    """Per-action effect multipliers for the current students, computed for given rows."""

    def __init__(self, actions: list[ActionConfig]):
        self.terms = [[(f, m.per_unit, m.center) for f, m in sorted(a.modifiers.items())]
                      for a in actions]
        self.any = any(self.terms)

    def scale(self, ctx: ProfileContext, rows: np.ndarray, action: np.ndarray) -> np.ndarray:
        """Multiplier of each case's effect: students ``rows`` taking actions ``action``."""
        out = np.ones(len(rows))
        for a in np.unique(action):
            terms = self.terms[a]
            if not terms:
                continue
            sel = action == a
            out[sel] = self.of_action(ctx, rows[sel], a)
        return out

    def of_action(self, ctx: ProfileContext, rows: np.ndarray, a: int) -> np.ndarray:
        lin = np.ones(len(rows))
        for field, per_unit, center in self.terms[a]:
            value = _field(ctx, field)[rows]
            lin += per_unit * np.nan_to_num(value - center, nan=0.0)
        return np.maximum(lin, 0.0)


def course_gain(target: str, size: np.ndarray, weeks: np.ndarray, onset: np.ndarray,
                course_weeks: np.ndarray, growth: bool) -> np.ndarray:
    """Gain of a step of ``weeks`` weeks for a student who takes it up, before modifiers, as the
    engine delivers it: a growth effect (reading, attainment) accrues ``size / course_weeks`` a
    week from the onset to the review; a level shift counts shift x weeks it acts (sign turned
    so that positive helps; its fading afterwards is not counted)."""
    acting = np.maximum(weeks - onset, 0)
    if growth:
        return size * acting / course_weeks
    return (-size if target in LOWER_IS_BETTER else size) * acting
