"""The dashboard's controls: which scenarios it offers, the numbers a user may change, and how
those choices become a validated scenario.

Controls are Mesa SolaraViz ``model_params``: each key is a keyword of
:class:`~srmsim.dashboard.model.DashboardModel`, so Mesa's Reset can rebuild the model from them.
Which controls exist depends on the scenario (its policy's ``parameters``, staff roles and
workflows), so the keys carry a prefix naming what they change.
"""

from __future__ import annotations

import ast
import itertools
import math
import os
from collections.abc import Collection
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from srmsim.argtypes import MAX_SEED
from srmsim.errors import ScenarioError, SrmsimError
from srmsim.policy.config import PolicyConfig
from srmsim.policy.profile import SHARE_NAMES, WHOLE_NAMES, WINDOWS
from srmsim.policy.profile import vocabulary as profile_vocabulary
from srmsim.scenario import Scenario, default_scenario, load_scenario, named_schools

PARAMETER = "parameter__"  # a policy parameter (risk threshold, goal, count of factors)
# a policy parameter under 1e-5 in size, in units of its leading digit's place (see tiny_exponent)
SCALED = "parameter_scaled__"
MINUTES = "minutes__"  # school staff minutes per week, by role
POOL_MINUTES = "pool_minutes__"  # trust pool staff minutes per week, by role
WORKFLOW = "workflow__"  # a workflow switched on or off
SCENARIO_ENV = "SRMSIM_DASHBOARD_SCENARIO"  # the scenario named on the command line
MAX_SCHOOLS = 100
# The dashboard runs the policy and its no-policy twin in the server, a week per click: beyond
# this many students a week takes seconds and the pair of models gigabytes, so such scenarios
# (e.g. scenarios/england.yaml) are for `srmsim run`, not the page.
MAX_STUDENTS = 250_000


def shipped_scenario_dir() -> Path | None:
    """The shipped ``scenarios/`` folder: packaged with srmsim (``srmsim examples``), so it is
    there after a non-editable install too."""
    import srmsim.examples

    here = Path(srmsim.examples.__file__).resolve().parent / "scenarios"
    return here if here.is_dir() else None


def expected_students(scenario: Scenario) -> int:
    """Students a synthetic trust will hold (mean cohort sizes); a trust built from records
    never reaches this (:func:`check_for_page` refuses it first)."""
    trust = scenario.trust
    return trust.n_schools * trust.students_per_year_group * len(trust.year_groups)


def check_size(scenario: Scenario) -> None:
    """Refuse a trust too large to step in the page, saying what to use instead."""
    n = expected_students(scenario)
    if n > MAX_STUDENTS:
        raise ScenarioError(f"scenario {scenario.name!r}", [(
            "trust.n_schools", f"about {n:,} students, more than the dashboard's "
            f"{MAX_STUDENTS:,}; run it with `srmsim run` instead, or lower trust.n_schools")])


def check_for_page(scenario: Scenario) -> None:
    """Refuse a trust the page may not show: one built from real records, or too large.

    Why records: the page shows the pupils on roll, the FSM, SEN and EAL groups' sizes and one
    pupil's weeks and traits, and a trust from records copies its school and year sizes and
    each pupil's traits from them (a year group of 7 records shows as 7 pupils). ``srmsim
    run`` writes such a trust owner-only and prints no count of it; the page would."""
    if scenario.population.records:
        raise ScenarioError(f"scenario {scenario.name!r}", [(
            "population.records", "the trust is built from real pupil records, and the "
            "dashboard shows its pupil counts and single pupils; run it with `srmsim run` "
            "(written owner-only) instead")])
    check_size(scenario)


def available_scenarios(extra: str | os.PathLike | None = None) -> dict[str, Scenario]:
    """Scenarios the dashboard offers, by name: the one named on the command line first (or
    in ``SRMSIM_DASHBOARD_SCENARIO``), then the shipped ones, else the built-in default.

    A shipped file that fails to validate, or is too large to step in the page, is left out; the
    command-line one must pass both (the CLI checked it before starting the server).
    """
    extra = extra if extra is not None else os.environ.get(SCENARIO_ENV) or None
    found: dict[str, Scenario] = {}
    if extra:
        sc = load_scenario(os.fspath(extra))
        check_for_page(sc)
        found[sc.name] = sc
    folder = shipped_scenario_dir()
    for path in sorted(folder.glob("*.yaml")) if folder else []:
        try:
            sc = load_scenario(path)
            check_for_page(sc)
        except ScenarioError:
            continue
        found.setdefault(sc.name, sc)
    if not found:
        sc = default_scenario()
        found[sc.name] = sc
    return found


def page_scenarios() -> tuple[dict[str, Scenario], str]:
    """The scenarios a new browser session is offered, and the error of the file named on the
    command line when it no longer loads ("" when it does).

    Each session reads that file afresh, so an edit shows on reloading the page; but a file
    edited into a bad one (or moved, or given real records) since the command checked it
    raised in the page: a traceback in the browser and the terminal, and no page. Now the
    page says why and offers the shipped scenarios."""
    try:
        return available_scenarios(), ""
    except SrmsimError as err:
        return available_scenarios(extra=""), str(err)  # "": not the command line's file


def label(name: str) -> str:
    """``attendance_threshold`` -> ``Attendance threshold``."""
    words = name.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


SHARE, WHOLE, WEEKS = "share", "whole", "weeks"  # what a policy parameter counts (its slider)


def _expressions(policy: PolicyConfig) -> list[str]:
    """Every expression of the policy that may read a parameter."""
    out = [rule.when for rule in policy.rules.values()]
    for wf in policy.workflows.values():
        out += [wf.priority] if wf.priority else []
        for step in wf.steps:
            out += [step.goal] if step.goal else []
            if step.chooser is not None:
                out += [*step.chooser.rules.values(), *([step.chooser.measure]
                                                         if step.chooser.measure else [])]
    if policy.pool_model is not None:
        out.append(policy.pool_model.outcome)
    return out


def _unit(node: ast.AST) -> str | None:
    """Share or whole number, when the expression is a field, window or ``count`` of known unit
    (or their sum, difference, negation, min, max or abs); else None."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name = node.func.id
        if name == "count":
            return WHOLE
        if name in ("min", "max", "abs"):
            units = {_unit(a) for a in node.args}
            return units.pop() if len(units) == 1 else None
        node = node.func  # a window: its unit is its name's
    if isinstance(node, ast.Name):
        return SHARE if node.id in SHARE_NAMES else WHOLE if node.id in WHOLE_NAMES else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        return _unit(node.operand)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
        units = {_unit(side) for side in (node.left, node.right)
                 if not isinstance(side, ast.Constant)}
        return units.pop() if len(units) == 1 else None
    return None


def _parameter_in(node: ast.AST, names: Collection[str]) -> str | None:
    """The parameter an operand is, give or take a sign and a constant added (``-t``,
    ``t + 0.05``)."""
    if isinstance(node, ast.Name):
        return node.id if node.id in names else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        return _parameter_in(node.operand, names)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
        if isinstance(node.right, ast.Constant):
            return _parameter_in(node.left, names)
        if isinstance(node.left, ast.Constant):
            return _parameter_in(node.right, names)
    return None


def parameter_meanings(policy: PolicyConfig) -> dict[str, str]:
    """What each numeric parameter is, read from how the policy's expressions use it: compared
    with a share (``attendance_rate < t``) it is a share; compared with a count
    (``count(...) >= min_factors``, ``incidents_term >= n``) a whole number; a window's length
    (``attendance(n)``) whole weeks. Parameters used in no such way, or in two ways, are
    left out. Why not the value: 1 is a 100% threshold or a count of one risk factor."""
    names = {k for k, v in policy.parameters.items() if not isinstance(v, bool)}
    found: dict[str, set[str]] = {}
    for text in _expressions(policy):
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError:  # pragma: no cover - the scenario's checks parsed it already
            continue
        for node in ast.walk(tree):
            pairs: list[tuple[str | None, str | None]] = []
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                for a, b in itertools.pairwise(operands):
                    pairs += [(_parameter_in(a, names), _unit(b)),
                              (_parameter_in(b, names), _unit(a))]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in WINDOWS:
                pairs += [(_parameter_in(a, names), WEEKS) for a in node.args]
            for name, unit in pairs:
                if name is not None and unit is not None:
                    found.setdefault(name, set()).add(unit)
    out = {}
    for name, units in found.items():
        if units in ({SHARE}, {WHOLE}, {WEEKS}, {WEEKS, WHOLE}):
            out[name] = WEEKS if WEEKS in units else units.pop()
    return out


def _parameter_control(name: str, value: float | bool, meaning: str | None = None
                       ) -> dict[str, Any]:
    """The control of a policy parameter. ``meaning`` (:func:`parameter_meanings`) decides
    share or whole number; without one, a value strictly between 0 and 1 is a share and a whole
    value (1 too: YAML's ``1`` and ``1.0`` both arrive as 1.0) a whole number. A value the
    meaning does not fit (a share of 1.5, a count of 2.5) gets a slider around itself."""
    text = label(name)
    if isinstance(value, bool):
        return {"type": "Checkbox", "value": value, "label": text}
    v = float(value)
    if (meaning == SHARE and 0.0 <= v <= 1.0) or (meaning is None and 0.0 < v < 1.0):
        # attendance rate, risk score (a "share" past 0-1 gets a slider around its value)
        return {"type": "SliderFloat", "value": v, "min": 0.0, "max": 1.0,
                "step": grid_step(v, 0.01), "label": f"{text} (0-1)"}
    # twice the value, or the value itself when twice it is past the largest float (2e308 is
    # inf, and int(inf) raised in place of the page)
    far = 2.0 * v if math.isfinite(2.0 * v) else v
    lo, hi = min(0.0, far), max(0.0, far)
    if v == int(v) and meaning == WEEKS:  # a window's length: 1 week up to the longest kept
        top = profile_vocabulary().max_window
        return {"type": "SliderInt", "value": int(v), "min": min(1, int(v)),
                "max": max(top, int(v)), "step": 1, "label": f"{text} (weeks)"}
    if v == int(v):  # whole numbers: months of reading age, counts of risk factors
        return {"type": "SliderInt", "value": int(v), "min": int(lo), "max": max(int(hi), 5),
                "step": 1, "label": text}
    # a tenth of the value's order of magnitude; for the tiniest floats that underflows to 0,
    # a slider that cannot move: then the value itself
    step = 10.0 ** math.floor(math.log10(abs(v))) / 10.0 or abs(v)
    return {"type": "SliderFloat", "value": v, "min": lo, "max": hi,
            "step": grid_step(v, step, start=lo), "label": text}


def tiny_exponent(value: float | bool) -> int | None:
    """The power of ten of a parameter's leading digit when it is under 1e-5 in size, else None.

    Such a value needs a slider step under 1e-6, which the browser writes as ``1e-7``, reads as
    no decimals and rounds the value to a whole number (0); and a step of 1e-6 would not land
    on it. So its slider counts units of ``10 ** exponent`` (3e-8 shows as 3 units of 1e-8)."""
    if isinstance(value, bool) or value == 0 or abs(value) >= 1e-5:
        return None
    return Decimal(repr(float(value))).adjusted()


def scaled(value: float, exponent: int) -> float:
    """``value * 10 ** exponent``, exact in decimal: 3 units of 1e-8 is 3e-8, as in the file
    (float arithmetic gave 3.0000000000000004e-08; 10.0 ** -324 is 0)."""
    return float(Decimal(repr(float(value))).scaleb(exponent))


def _scaled_control(name: str, value: float, exponent: int) -> dict[str, Any]:
    control = _parameter_control(name, scaled(value, -exponent))
    control["label"] = f"{label(name)} (in units of 1e{exponent})"
    return control


def grid_step(value: float, step: float, start: float = 0.0) -> float:
    """``step``, or the first of ``step / 10``, ``step / 100``, ... whose grid (``start + k *
    step``) holds ``value``.

    The page's slider rounds its value to its grid when it is drawn and sends the rounded value
    back, and Reset builds the model from it: an attendance threshold of 0.925 on a 0.01 step
    ran as 0.93, and 45 staff minutes on a 30-minute step as 60, with no setting touched.
    No finer than 1e-6 (a value such as 1/3 is on no decimal grid): the browser writes a
    smaller step as ``1e-7``, reads that as no decimals and rounds the value to a whole number.
    """
    finer = step
    for digits in range(13):
        candidate = float(f"{step / 10 ** digits:.12g}")
        if digits and candidate < 1e-6:
            break
        finer = candidate
        k = (value - start) / finer
        if abs(k - round(k)) <= 1e-6:
            break
    return finer


def _minutes_control(role: str, minutes: float, where: str) -> dict[str, Any]:
    """Steps of 30 minutes when the scenario's minutes are a multiple of 30, else steps that
    land on them: Reset runs what the slider holds (37.5 minutes were sent as 38)."""
    top = max(1200, int(math.ceil(2.0 * minutes / 60.0)) * 60)
    text = f"{label(role)}, min/week {where}"
    if minutes == int(minutes):
        return {"type": "SliderInt", "value": int(minutes), "min": 0, "max": top,
                "step": math.gcd(30, int(minutes)), "label": text}
    return {"type": "SliderFloat", "value": float(minutes), "min": 0.0, "max": float(top),
            "step": grid_step(minutes, 1.0), "label": text}


def max_schools(scenario: Scenario) -> int:
    """The schools slider's top: at most MAX_SCHOOLS, and no more schools than keep the trust
    within MAX_STUDENTS (a slider to 100 schools of 5,000 a year group made 2.5 million
    students, ten times what the page refuses in a file); never below the scenario's own."""
    trust = scenario.trust
    per_school = max(1, trust.students_per_year_group * len(trust.year_groups))
    return max(trust.n_schools, min(MAX_SCHOOLS, MAX_STUDENTS // per_school))


def min_schools(scenario: Scenario) -> int:
    """The schools slider's bottom: one more than the largest school index the policy names
    (``staff.per_school``, a rule's ``schools``). Fewer schools fail the scenario's checks: the
    slider went down to 1, and Reset there raised a scenario error in place of a model."""
    return max([1, *(s + 1 for _, schools in named_schools(scenario) for s in schools)])


def model_params(scenario: Scenario) -> dict[str, Any]:
    """SolaraViz ``model_params`` for a scenario the page may show (:func:`check_for_page`): the
    scenario itself (fixed), the seed, the number of schools, and for its policy every
    parameter, staff role and workflow."""
    params: dict[str, Any] = {
        "base": scenario,
        "seed": {"type": "InputText", "value": str(scenario.seed),
                 "label": "Seed (same seed, same students and events)"},
        "n_schools": {"type": "SliderInt", "value": scenario.trust.n_schools,
                      "min": min_schools(scenario),
                      "max": max_schools(scenario), "step": 1,
                      "label": "Number of schools"},
    }
    policy = scenario.policy
    if policy is None:
        return params
    meanings = parameter_meanings(policy)
    for name, value in policy.parameters.items():
        exponent = tiny_exponent(value)
        if exponent is not None:
            params[SCALED + name] = _scaled_control(name, float(value), exponent)
        else:
            params[PARAMETER + name] = _parameter_control(name, value, meanings.get(name))
    for role, minutes in policy.staff.school.items():
        params[MINUTES + role] = _minutes_control(role, minutes, "per school")
    for role, minutes in policy.staff.pool.items():
        params[POOL_MINUTES + role] = _minutes_control(role, minutes, "in the pool")
    for name, wf in policy.workflows.items():
        params[WORKFLOW + name] = {"type": "Checkbox", "value": wf.enabled,
                                   "label": f"Workflow {label(name)} on"}
    return params


def parse_seed(text: Any, fallback: int) -> tuple[int, str]:
    """The seed typed in the dashboard, or ``fallback`` with a note saying why it was not used."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return fallback, ""
    raw = str(text).strip()
    # ASCII digits only: str.isdigit() is true of "²" too, which int() refuses (a traceback
    # in place of the page), and of other scripts' digits, which no one means as a seed
    # the range `srmsim run --seed` and a scenario's seed take, so any run's seed is accepted
    if isinstance(text, bool) or not (raw.isascii() and raw.isdigit()) or len(raw) > 19 \
            or int(raw) > MAX_SEED:
        return fallback, (f"Seed {raw[:20]!r} is not a whole number from 0 to 2^63 - 1; "
                          f"using the scenario's seed {fallback}.")
    return int(raw), ""


def _switch(key: str, value: Any) -> bool:
    """A checkbox's value: true or false, or 1 or 0 (the text "no" was read as on)."""
    if not (isinstance(value, bool | np.bool_) or (isinstance(value, int | np.integer)
                                                    and value in (0, 1))):
        raise ScenarioError("dashboard", [(key, f"{str(value)[:40]!r} is not on or off")])
    return bool(value)


def _number(key: str, value: Any) -> float:
    """A slider's value: a number (with_overrides then checks it is finite and in range).
    A whole number past the largest float (10**400) is refused here: ``float`` raised
    OverflowError, a traceback in place of the page."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        raise ScenarioError("dashboard", [(key, f"{str(value)[:40]!r} is not a number")])
    try:
        return float(value)
    except OverflowError:
        raise ScenarioError("dashboard", [(key, f"{str(value)[:40]}... is too large a "
                                               "number")]) from None


def apply_settings(base: Scenario, n_schools: int | None, settings: dict[str, Any]
                   ) -> Scenario:
    """The scenario with the dashboard's choices applied (validated like a scenario file).

    Unknown keys are errors: a control that changes nothing would mislead the user. ``base``
    must be one the page may show (:func:`check_for_page`: not built from real records), which
    is checked here too, since a model can be built from any scenario.
    """
    check_for_page(base)
    overrides: dict[str, Any] = {}
    if n_schools is not None:
        # a whole number, as the slider gives (2.7 was taken as 2); its range: with_overrides'
        if isinstance(n_schools, bool) or not isinstance(n_schools, int | float | np.number) \
                or not _number("n_schools", n_schools).is_integer():
            raise ScenarioError("dashboard", [("n_schools", f"{str(n_schools)[:40]} is not a "
                                                            "whole number of schools")])
        overrides["trust.n_schools"] = int(n_schools)
    policy = base.policy
    for key, value in settings.items():
        kind, _, name = key.partition("__")
        kind += "__"
        known = policy is not None and (
            (kind == PARAMETER and name in policy.parameters)
            or (kind == SCALED and tiny_exponent(policy.parameters.get(name, 0.0)) is not None)
            or (kind == MINUTES and name in policy.staff.school)
            or (kind == POOL_MINUTES and name in policy.staff.pool)
            or (kind == WORKFLOW and name in policy.workflows))
        if not known or policy is None:
            raise ScenarioError("dashboard", [(key, "not a setting of this scenario")])
        if kind == SCALED:  # the page's slider for a tiny parameter (model_params)
            exponent = tiny_exponent(policy.parameters[name])
            assert exponent is not None  # checked by ``known``
            # checked as the other sliders' values: "abc", [1] or 10**400 raised ValueError,
            # TypeError or OverflowError (a traceback, not "Settings not used"), True read as 1
            overrides[f"policy.parameters.{name}"] = scaled(_number(key, value), exponent)
        elif kind == PARAMETER:
            old = policy.parameters[name]
            overrides[f"policy.parameters.{name}"] = _switch(key, value) \
                if isinstance(old, bool) else _number(key, value)
        elif kind == MINUTES:
            overrides[f"policy.staff.school.{name}"] = _number(key, value)
        elif kind == POOL_MINUTES:
            overrides[f"policy.staff.pool.{name}"] = _number(key, value)
        else:
            overrides[f"policy.workflows.{name}.enabled"] = _switch(key, value)
    if not overrides:
        return base
    changed = base.with_overrides(overrides, source="dashboard")
    check_size(changed)  # more schools can take a trust past what the page can step
    return changed
