"""The dashboard's panels: Solara components, one figure or table each, in plain words with units.

Each panel is a function of the model, as Mesa's SolaraViz expects of its ``components``; Mesa
wraps it so it redraws after every Step. Charts are Solara's ECharts figures: the server sends
only the numbers and the browser draws them (matplotlib's PNGs cost 0.1-0.2 s each on the server
per week, which made a step take seconds). ECharts comes with ``solara-assets``, so nothing is
fetched from the internet. Text uses ``solara.Text``/HTML, not ``solara.Markdown`` (which loads
KaTeX from a CDN).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import solara

from srmsim.dashboard import model as dm
from srmsim.dashboard.settings import label
from srmsim.labels import page_text, plural, setting

POLICY_COLOUR, BASELINE_COLOUR, POOL_COLOUR = "#1f77b4", "#7f7f7f", "#9467bd"
READING_COLOUR, ENGAGEMENT_COLOUR = "#8c564b", "#17becf"
WEEK_AXIS = "School week"
STAFF_WHERE = {"schools": "school staff", "pool": "trust pool"}


Series = dict[str, Any]


def _series(name: str, x: Sequence[float], y: Sequence[float], colour: str, *, width: float = 2.0,
            dashed: bool = False, opacity: float = 1.0, step: bool = False) -> Series:
    """One line of an ECharts chart; missing values (NaN) leave a gap."""
    data = [[float(a), None if b is None or math.isnan(b) else round(float(b), 4)]
            for a, b in zip(x, y, strict=True)]
    return {"type": "line", "name": name, "data": data, "showSymbol": len(data) == 1,
            "color": colour, "step": "middle" if step else False,
            "lineStyle": {"width": width, "opacity": opacity,
                          "type": "dashed" if dashed else "solid"}}


def _chart(series: list[Series], y_name: str, height: int = 230, y_min: float | None = None,
           y_max: float | None = None) -> None:
    """A line chart over school weeks, drawn in the browser."""
    y_axis: dict[str, Any] = {"type": "value", "name": y_name, "nameLocation": "middle",
                              "nameGap": 45, "scale": True}
    if y_min is not None:
        y_axis["min"] = y_min
    if y_max is not None:
        y_axis["max"] = y_max
    option = {
        "animation": False,
        "grid": {"left": 60, "right": 20, "top": 40, "bottom": 40},
        "legend": {"top": 0, "textStyle": {"fontSize": 11}},
        "tooltip": {"trigger": "axis"},
        "xAxis": {"type": "value", "name": WEEK_AXIS, "nameLocation": "middle", "nameGap": 25,
                  "minInterval": 1, "scale": True},
        "yAxis": y_axis,
        "series": series,
    }
    solara.FigureEcharts(option=option, attributes={"style": f"height: {height}px;"},
                         responsive=True)


def _line(text: str) -> None:
    """One line of text (``solara.Text`` alone runs on from the text before it)."""
    solara.Text(text, style={"display": "block"})


def _card(title: str):
    """A panel: a card that fills its grid cell and scrolls when its content is taller."""
    return solara.Card(title, style={"height": "100%", "overflow": "auto"})


def _number(value: float, digits: int = 1, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}{unit}"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]], caption: str = "") -> None:
    """A plain HTML table (escaped), readable without any charting library."""
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{html.escape(h)}</th>"
                   for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td style='padding:2px 8px'>{html.escape(str(v))}</td>" for v in r)
        + "</tr>" for r in rows)
    cap = f"<caption style='caption-side:bottom;font-size:85%'>{html.escape(caption)}</caption>" \
        if caption else ""
    solara.HTML(tag="div", unsafe_innerHTML=f"<table style='border-collapse:collapse;"
                f"font-size:90%'>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def _waiting_for_first_week(m: dm.DashboardModel) -> bool:
    if m.view.week_index == 0:
        _line("Press Step to run a week, or ▶ to run the rest of the year week by week.")
        return True
    return False


def _trust_and_schools(m: dm.DashboardModel, column: str, trust: str, trust_np: str
                       ) -> list[Series]:
    """Thin lines for each school (with the policy), thick for the trust with and without."""
    schools = m.view.by_school
    figs = m.view.figures
    lines = [_series("Each school, with policy", one["week"], one[column], POLICY_COLOUR,
                     width=1.0, opacity=0.35) for _, one in schools.groupby("school")]
    lines.append(_series("Trust, with policy", figs.index, figs[trust], POLICY_COLOUR, width=3))
    if m.baseline is not None:
        lines.append(_series("Trust, no policy (same students, same seed)", figs.index,
                             figs[trust_np], BASELINE_COLOUR, width=3, dashed=True))
    return lines


def settings_in_use(m: dm.DashboardModel) -> list[str]:
    """The scenario's adjustable numbers as this run uses them, in words."""
    p = m.config.policy
    out = [f"{plural(len(m.schools), 'school')}, seed {m.seed}"]
    if p is None:
        return out
    out += [f"{label(k)}: {setting(v)}" for k, v in p.parameters.items()]
    out += [f"{label(r)}: {v:,.0f} min/week per school" for r, v in p.staff.school.items()]
    # schools numbered from 0, as in student_line and `srmsim run`'s tables
    out += [f"{label(r)} at school {s}: {v:,.0f} min/week (per_school)"
            for s, roles in sorted(p.staff.per_school.items()) for r, v in roles.items()]
    out += [f"{label(r)}: {v:,.0f} min/week, trust pool" for r, v in p.staff.pool.items()]
    out += [f"Workflow {label(w)}: {'on' if wf.enabled else 'off'}"
            for w, wf in p.workflows.items()]
    return out


def scenario_line(m: dm.DashboardModel) -> str:
    """The scenario's name and description, with control, bidirectional-override and
    zero-width characters shown as escapes: a description's U+202E reversed the text after it
    on the page, and its zero-width characters hid what it said."""
    return page_text(f"Scenario: {m.config.name}. {m.config.description}")


def Overview(m: dm.DashboardModel) -> None:
    with _card("Where the run is"):
        _line(scenario_line(m))
        _line(m.view.week_label)
        _line(f"{m.view.on_roll:,} students on roll.")
        if m.notice:
            solara.Warning(m.notice)
        for line in status_lines(m):
            _line(line)


def status_lines(m: dm.DashboardModel) -> list[str]:
    """The overview's lines after the notice: this week's figures (beside "no policy" only
    when there is a policy: a scenario without one read "94.9% with the policy, 94.9% without"
    under "there is nothing to compare with"), that the year is over (the play button then
    stays greyed out, with no word of why), and the settings in use."""
    lines = []
    if m.policy is None:
        lines.append("This scenario has no policy: there is nothing to compare with.")
    if m.view.week_index:
        now = m.view.figures.iloc[-1]
        if m.policy is None:
            lines.append(f"This week: attendance {_number(now[dm.ATTENDANCE], 1, '%')}.")
        else:
            lines.append(f"This week: attendance {_number(now[dm.ATTENDANCE], 1, '%')} with "
                         f"the policy, {_number(now[dm.ATTENDANCE_NP], 1, '%')} without.")
            lines.append(f"Cases open now: {int(now[dm.WAITING] + now[dm.IN_SUPPORT]):,} "
                         f"({int(now[dm.WAITING]):,} waiting for staff, "
                         f"{int(now[dm.IN_SUPPORT]):,} receiving support); "
                         f"flagged this week: {int(now[dm.FLAGGED]):,}.")
    if m.done:
        lines.append("The run is over: every school week has been run. Press Reset to run "
                     "it again, with the settings on the left.")
    lines.append("Settings in use (change them on the left, then press Reset): "
                 + "; ".join(settings_in_use(m)) + ".")
    return lines


def Attendance(m: dm.DashboardModel) -> None:
    with _card("Attendance by week (% of sessions attended)"):
        if _waiting_for_first_week(m):
            return
        _chart(_trust_and_schools(m, "attendance", dm.ATTENDANCE, dm.ATTENDANCE_NP),
               "Attendance (%)")


def Reading(m: dm.DashboardModel) -> None:
    with _card("Reading gap by week (months; reading age minus age)"):
        if _waiting_for_first_week(m):
            return
        _line("Measured by the reading tests at the start of the year and each term's end; "
                    "below zero = behind.")
        _chart(_trust_and_schools(m, "reading", dm.READING, dm.READING_NP),
               "Reading gap (months)")


def Casework(m: dm.DashboardModel) -> None:
    # waiting and receiving count cases (engine's queue_length, active_cases), not students:
    # a student in two workflows is two (the card said "students" of 51 cases of 44 students)
    with _card("Students flagged, cases waiting and receiving support"):
        if m.policy is None:
            _line("No policy in this scenario: nobody is flagged.")
            return
        if _waiting_for_first_week(m):
            return
        figs = m.view.figures
        _chart([_series(col, figs.index, figs[col], colour)
                for col, colour in ((dm.FLAGGED, "#d62728"), (dm.WAITING, "#ff7f0e"),
                                    (dm.IN_SUPPORT, "#2ca02c"))], "Students or cases", y_min=0)
        steps = m.view.workflow_steps
        _table(["Workflow", "Step", "Action", "Waiting for staff", "Receiving it"],
               steps.itertuples(index=False, name=None),
               "Open cases now, summed over schools (a student in two workflows is two "
               "cases).")


def Staff(m: dm.DashboardModel) -> None:
    with _card("Staff time used against available (minutes per week)"):
        if m.policy is None:
            _line("No policy in this scenario: no staff time is used.")
            return
        if _waiting_for_first_week(m):
            return
        figs = m.view.figures
        lines = [
            _series("Used, school staff", figs.index, figs[dm.MINUTES_USED], POLICY_COLOUR),
            _series("Available, school staff", figs.index, figs[dm.MINUTES_AVAILABLE],
                    POLICY_COLOUR, dashed=True)]
        if figs[dm.POOL_AVAILABLE].max() > 0:
            lines += [
                _series("Used, trust pool", figs.index, figs[dm.POOL_USED], POOL_COLOUR),
                _series("Available, trust pool", figs.index, figs[dm.POOL_AVAILABLE],
                        POOL_COLOUR, dashed=True)]
        _chart(lines, "Minutes per week", y_min=0)
        roles = m.view.staff_by_role
        _table(["Role", "Staff", "Used (min)", "Available (min)", "Used (%)"],
               [(r.role.replace("_", " "), STAFF_WHERE[r.where], f"{r.used:,.0f}",
                 f"{r.available:,.0f}",
                 _number(100 * r.used / r.available if r.available else float("nan"), 1, "%"))
                for r in roles.itertuples()],
               "This week: school staff summed over schools; the trust pool's own minutes.")


def Gaps(m: dm.DashboardModel) -> None:
    with _card("Gaps by FSM, SEN and EAL (group minus everyone else)"):
        if _waiting_for_first_week(m):
            return
        g = m.view.gaps
        _table(["Group", "Students", "Attendance gap, policy (points)",
                "no policy (points)", "Reading gap, policy (months)", "no policy (months)"],
               [(r.group, f"{r.students:,}", _number(r.attendance_gap, 2),
                 _number(r.attendance_gap_np, 2), _number(r.reading_gap, 1),
                 _number(r.reading_gap_np, 1)) for r in g.itertuples()],
               "Attendance: sessions attended so far this school year, percentage points. "
               "Reading: mean gap at the latest test, months. Negative = the group is behind.")


def student_line(m: dm.DashboardModel, uid: int) -> str:
    """One student in words ("" when not in the trust). The school is numbered as ``srmsim
    run``'s tables and figures number it (from 0): the page said "School 3" for the pupil
    whose row in the run's students table has school 2."""
    t = m.students
    row = np.flatnonzero(t.uid == uid)
    if not len(row):
        return ""
    i = int(row[0])
    traits = [name for name, flag in (("FSM", t.fsm[i]), ("SEN", t.sen[i]), ("EAL", t.eal[i]))
              if flag]
    return (f"School {int(t.school[i])}, Year {int(t.year_group[i])}; "
            f"{', '.join(traits) or 'not FSM, SEN or EAL'}; actions started: "
            f"{int(t.interventions[i])}, weeks waited: {int(t.weeks_waited[i])}, "
            f"staff minutes: {float(t.staff_minutes[i]):,.0f}.")


@solara.component
def StudentProfile(m: dm.DashboardModel, week: int) -> None:
    """One student's weeks, picked from those with an open case now. ``week`` is the week run:
    a new week is a new prop, so the profile redraws while the picked student stays."""
    choice, set_choice = solara.use_state(cast(str | None, None))
    uids = m.view.flagged
    if m.policy is not None and not m.records_history:
        _line("Student profiles need the weekly history, which this scenario does not record "
              "(outputs.history: none); set outputs.history to auto or all to see them.")
        return
    if not uids:
        _line("Nobody is in a workflow yet." if m.policy is not None
              else "No policy in this scenario: nobody is flagged.")
        return
    options = [f"Student {u}" for u in uids]
    picked = choice if choice is not None and choice in options else options[0]
    solara.Select("Student (with an open case now)", values=options, value=picked,
                  on_value=set_choice)
    uid = int(picked.split()[-1])
    hist = m.profile(uid)
    about = student_line(m, uid)
    if about:
        _line(about)
    weeks = hist["week"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        attendance = 100 * hist["attended"].to_numpy() / hist["possible"].to_numpy()
    _chart([_series("Attendance this week (%)", weeks, attendance, POLICY_COLOUR, step=True)],
           "Attendance (%)", height=170, y_min=0, y_max=100)
    _chart([_series("Reading gap (months)", weeks, hist["reading_gap"], READING_COLOUR),
            _series("Engagement (SD)", weeks, hist["engagement"], ENGAGEMENT_COLOUR)],
           "Months / SD", height=190)


def Profile(m: dm.DashboardModel) -> None:
    with _card("One student over time"):
        StudentProfile(m, m.view.week_index)


PANELS: tuple[Callable[[dm.DashboardModel], None], ...] = (
    Overview, Attendance, Reading, Casework, Staff, Gaps, Profile)

