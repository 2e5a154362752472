"""The built-in catalogue of intervention actions, with where each default comes from.

Effect sizes follow the EEF Teaching and Learning Toolkit (months of progress), converted to
standardised effect sizes with the EEF table (1 month = 0.02-0.09, 2 = 0.10-0.18,
3 = 0.19-0.26, 4 = 0.27-0.35, 5 = 0.36-0.44, 6 = 0.45-0.52 ...; we take each band's midpoint).
An action's ``attainment`` (SD) and ``reading`` (months of reading age) are the gains of a
full course (its default ``weeks``) for a student who takes it up; ``absence``, ``engagement``,
``wellbeing`` and ``incidents`` are shifts that last while the action runs and fade afterwards
with ``half_life_weeks``. Toolkit figures are averages over trials and tend to shrink at scale,
so treat them as optimistic and vary them in experiments (``uncertain:``).

Staff minutes and costs are illustrative English figures (teaching assistant ~GBP 20/h,
teacher ~GBP 40/h including on-costs); change them in the scenario's ``policy.actions``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from srmsim.errors import ScenarioError
from srmsim.policy.config import ActionConfig, ActionOverride, EffectConfig

if TYPE_CHECKING:
    import pandas as pd

#: EEF months of progress -> effect size, midpoint of each band of the EEF conversion table
EEF_MONTHS_TO_EFFECT = {1: 0.055, 2: 0.14, 3: 0.225, 4: 0.31, 5: 0.40, 6: 0.485, 7: 0.57,
                        8: 0.655, 9: 0.74, 10: 0.83, 11: 0.915, 12: 0.96}

CATALOGUE: dict[str, ActionConfig] = {
    "reading_club": ActionConfig(
        description="reading club / structured reading intervention in small groups",
        effect=EffectConfig(reading=6.0, attainment=EEF_MONTHS_TO_EFFECT[6] / 4, engagement=0.05),
        take_up=0.85, cost_per_week=8.0, staff_minutes={"teaching_assistant": 30}, weeks=10,
        source="EEF Toolkit, reading comprehension strategies: +6 months (reading age months); "
               "a quarter of it carries to overall attainment",
    ),
    "small_group_tuition": ActionConfig(
        description="small-group tuition (2-5 pupils) with a teacher or trained TA",
        effect=EffectConfig(attainment=EEF_MONTHS_TO_EFFECT[4], reading=4.0),
        take_up=0.9, cost_per_week=15.0, staff_minutes={"teacher": 20}, weeks=12,
        source="EEF Toolkit, small group tuition: +4 months",
    ),
    "one_to_one_tuition": ActionConfig(
        description="one-to-one tuition",
        effect=EffectConfig(attainment=EEF_MONTHS_TO_EFFECT[5], reading=5.0),
        take_up=0.9, cost_per_week=40.0, staff_minutes={"teacher": 60}, weeks=12,
        source="EEF Toolkit, one to one tuition: +5 months",
    ),
    "mentoring": ActionConfig(
        description="mentoring (Check & Connect style: meet at least twice a month)",
        effect=EffectConfig(attainment=EEF_MONTHS_TO_EFFECT[2], engagement=0.2, absence=-0.15,
                wellbeing=0.1, half_life_weeks=8),
        take_up=0.85, cost_per_week=16.0, staff_minutes={"mentor": 48}, weeks=12,
        source="EEF Toolkit, mentoring: +2 months; Check & Connect: caseload ~25 on 20 h/week "
               "(48 min per student per week)",
    ),
    "parent_text": ActionConfig(
        description="automated text or letter to parents about their child's absence",
        effect=EffectConfig(absence=-0.1, half_life_weeks=4),
        take_up=0.8, cost_per_week=0.1, automated=True, weeks=4,
        source="Rogers & Feller 2018 and Robinson et al. 2018: mailings cut absence ~8% "
               "(6.37 vs 6.90 days) and chronic absence 10-15%",
    ),
    "parent_reading_at_home": ActionConfig(
        description="persuade and equip parents to read with their child at home",
        effect=EffectConfig(reading=4.0, attainment=EEF_MONTHS_TO_EFFECT[4] / 2),
        take_up=0.6, cost_per_week=3.0, staff_minutes={"teacher": 10}, weeks=10,
        source="EEF Toolkit, parental engagement: +4 months (reading age months); half of it "
               "to overall attainment",
    ),
    "parent_meeting": ActionConfig(
        description="meeting with parents (head of year or pastoral lead)",
        effect=EffectConfig(absence=-0.25, engagement=0.1, half_life_weeks=6),
        take_up=0.75, cost_per_week=20.0, staff_minutes={"pastoral": 30}, weeks=3,
        source="illustrative: stronger than a text, weaker than a home visit",
    ),
    "attendance_officer_visit": ActionConfig(
        description="attendance-officer home visit and follow-up",
        effect=EffectConfig(absence=-0.4, engagement=0.05, half_life_weeks=8),
        take_up=0.9, cost_per_week=30.0, staff_minutes={"attendance_officer": 60}, weeks=4,
        source="illustrative: an education welfare home visit and attendance contract",
    ),
    "interview": ActionConfig(
        description="interview to find causes of dissatisfaction and realign the student's goals",
        effect=EffectConfig(wellbeing=0.25, engagement=0.15, absence=-0.1, half_life_weeks=10),
        take_up=0.9, cost_per_week=15.0, staff_minutes={"pastoral": 45}, weeks=2,
        source="illustrative; EEF social and emotional learning +4 months is the upper bound",
    ),
    "extra_teacher_support": ActionConfig(
        description="extra support from a specialist or class teacher",
        effect=EffectConfig(attainment=EEF_MONTHS_TO_EFFECT[3], reading=3.0),
        take_up=0.95, cost_per_week=20.0, staff_minutes={"teacher": 30}, weeks=8,
        source="EEF Toolkit, individualised instruction / feedback: about +3 months",
    ),
}


def resolve_actions(overrides: Mapping[str, ActionOverride], source: str = "policy.actions"
                    ) -> dict[str, ActionConfig]:
    """The catalogue with the scenario's changes and additions applied."""
    actions = dict(CATALOGUE)
    for name, override in overrides.items():
        base = actions.get(name)
        changes = override.model_dump(exclude_none=True)
        if base is None:
            data = changes
        else:
            data = base.model_dump()
            effect = {**data["effect"], **changes.pop("effect", {})}
            data.update(changes)
            data["effect"] = effect
        try:
            actions[name] = ActionConfig.model_validate(data)
        except Exception as err:  # pydantic.ValidationError: name the action and the field
            from pydantic import ValidationError

            if isinstance(err, ValidationError):
                # in the scenario's own words (pydantic's "Extra inputs are not permitted" for
                # `effect: {readin: 3}`, its bounds without the value given); a check of the
                # whole action, such as "automated", names the action
                from srmsim.scenario import _problems  # here: srmsim.scenario imports this

                raise ScenarioError("scenario", _problems(err, f"{source}.{name}",
                                                          ActionConfig)) from None
            raise
    return actions


def catalogue_table():
    """The catalogue as a DataFrame, for the README and notebooks."""
    import pandas as pd

    rows = []
    for name, a in CATALOGUE.items():
        eff = {k: v for k, v in a.effect.model_dump().items()
               if k not in ("onset_weeks", "half_life_weeks") and v}
        rows.append({"action": name, "weeks": a.weeks, "take_up": a.take_up,
                     "staff_minutes_per_week": ", ".join(f"{r} {m:g}" for r, m in
                                                          a.staff_minutes.items()) or "automated",
                     "cost_per_week": a.cost_per_week,
                     "effect": ", ".join(f"{k} {v:+g}" for k, v in eff.items()),
                     "source": a.source})
    return pd.DataFrame(rows)


#: an effect's unit by its field (:class:`EffectConfig`), as a scenario key's
#: (:data:`srmsim.labels.KEY_UNITS`) but short enough for a table cell
EFFECT_UNITS = {"attainment": "SD", "reading": "months of reading age", "engagement": "SD",
                "wellbeing": "SD", "absence": "log-odds", "incidents": "log rate"}


def catalogue_display() -> pd.DataFrame:
    """The catalogue as a newcomer reads it (``srmsim rules --actions``): headings in words,
    take-up as a percentage, costs in £, each effect with its unit to two significant figures
    (``attainment +0.12125`` and ``cost 8.0`` read as nothing in particular)."""
    import pandas as pd

    from srmsim.experiment.outcomes import format_value
    from srmsim.labels import given_percent, plain_number

    def signed(v: float) -> str:
        return ("+" if v > 0 else "") + plain_number(v, 2)

    rows = []
    for name, a in CATALOGUE.items():
        eff = {k: v for k, v in a.effect.model_dump().items() if k in EFFECT_UNITS and v}
        rows.append({
            "Action": name, "Weeks": f"{a.weeks:,}", "Take-up": given_percent(a.take_up),
            "Staff minutes a week, per student": ", ".join(
                f"{role.replace('_', ' ')} {plain_number(m)}"
                for role, m in a.staff_minutes.items()) or "automated",
            "Cost a week, per student": format_value(a.cost_per_week, "money"),
            "Effect": ", ".join(f"{k} {signed(v)} {EFFECT_UNITS[k]}" for k, v in eff.items())})
    return pd.DataFrame(rows)
