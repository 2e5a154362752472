"""Scenarios and designs described in plain words for the first section of a report."""

from __future__ import annotations

from typing import cast

from srmsim.labels import given_percent, plural, setting
from srmsim.report.explore import lever_text
from srmsim.scenario import Scenario


def _years(groups: list[int]) -> str:
    return f"Year {groups[0]}" if len(groups) == 1 else f"Years {groups[0]} to {groups[-1]}"


def describe_trust(sc: Scenario) -> str:
    t, p = sc.trust, sc.population
    years = "one school year" if sc.years == 1 else f"{sc.years} school years"
    if t.n_schools == 0:
        return f"No schools or students: administrative requests only, simulated for {years}."
    if p.records:  # the records' schools, not trust.n_schools (which they override)
        return (f"A trust of the schools in the imported records ({_years(t.year_groups)}; "
                f"students resampled from the records within their schools), simulated week "
                f"by week for {years}.")
    # rates with the digits the scenario gives them: at 0 decimals 0.004 read "0% eligible"
    # and 0.999 "100% with SEN"
    who = (f"about {t.students_per_year_group:,} students per year group; "
           f"{given_percent(p.fsm_rate)} eligible for free school meals (FSM), "
           f"{given_percent(p.sen_rate)} with special educational needs (SEN), "
           f"{given_percent(p.eal_rate)} with English as an additional language (EAL)")
    return (f"A trust of {plural(t.n_schools, 'school')} "
            f"({_years(t.year_groups)}; {who}), simulated week by week for {years}.")


def describe_policy(sc: Scenario) -> str:
    pol = sc.policy
    if pol is None:
        return "No policy: no risk rules and no interventions (business as usual)."
    parts = []
    for name, wf in pol.workflows.items():
        if not wf.enabled:
            continue
        rule = pol.rules.get(wf.trigger)
        when = rule if isinstance(rule, str) else getattr(rule, "when", wf.trigger)
        # StepConfig sets action (to the first candidate if not given)
        steps = " → ".join(cast(str, s.action).replace("_", " ") for s in wf.steps)
        parts.append(f"{name.replace('_', ' ')}: students with {when} are referred to "
                     f"{steps}")
    if not parts:
        return "A policy whose workflows are all switched off (nobody is referred)."
    staff = pol.staff.school
    staffing = ""
    if staff:
        staffing = " Staff time per school per week: " + ", ".join(
            f"{role.replace('_', ' ')} {lever_text(minutes, 'minutes')} min"
            for role, minutes in staff.items()) + "."
    params = ""
    # the thresholds the enabled workflows read (another workflow's, switched off in this
    # variant, are not this policy's)
    from srmsim.policy.compiled import compile_policy

    used = compile_policy(pol).parameters_in_use()
    shown = {k: v for k, v in pol.parameters.items() if k in used}
    if shown:
        # rounded as the optimisation prints its levers: a front policy's threshold read
        # 0.876925, its staff 1,035.4 min
        params = " Thresholds: " + ", ".join(f"{k} = {lever_text(v)}"
                                             for k, v in shown.items()) + "."
    return "Policy. " + "; ".join(parts) + "." + params + staffing


def describe_requests(sc: Scenario) -> list[str]:
    """One sentence per administrative request stream: arrivals, steps, staff, deadline."""
    out = []
    for name, r in (sc.requests or {}).items():
        arrivals = (f"{setting(r.arrivals.per_week)} requests a week" if r.arrivals.file is None
                    else "requests on the dates of a file")
        automated = {s.name for s in r.automated_steps()}
        steps = " → ".join(s.name + (" (automated)" if s.name in automated else "")
                           for s in r.steps)
        staff = ", ".join(f"{g.staff} {role.replace('_', ' ')}" + (" (shared pool)"
                                                                   if g.from_pool else "")
                          for role, g in r.staff.items())
        deadline = f"; deadline {r.deadline_days:g} days" if r.deadline_days else ""
        out.append(f"Request stream {name}: {arrivals}, {r.backlog:,} waiting at the start; "
                   f"steps {steps}; staff {staff}{deadline}.")
    return out


def describe_variant(sc: Scenario) -> str:
    """What a variant does: its policy (when it has students) and its request streams."""
    parts = [] if sc.trust.n_schools == 0 else [describe_policy(sc)]
    return " ".join(parts + describe_requests(sc))
