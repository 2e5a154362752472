"""A policy section checked and compiled once: rules parsed, actions resolved, workflows linked.

Compiling at scenario load (``srmsim validate`` included) means a misspelt action or an unsafe
rule is reported before anything runs, with the key path that holds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, cast

import numpy as np

from srmsim import calendar
from srmsim.errors import RuleError, ScenarioError
from srmsim.policy import profile
from srmsim.policy.actions import resolve_actions
from srmsim.policy.config import ActionConfig, ChooserConfig, PolicyConfig, RuleConfig
from srmsim.policy.heterogeneity import check_modifiers
from srmsim.policy.rules import Rule, Vocabulary, parse_rule, parse_rules, parse_score
from srmsim.students import ENROLLED, StudentTable, in_year_groups

#: extra numeric fields a policy can read, filled by the central pool's risk model
POOL_FIELDS = {"pooled_risk": "the central pool's predicted risk (0-1; NaN until first fitted)"}


@dataclass
class CompiledStep:
    action: str
    action_id: int
    weeks: int
    goal: Rule | None
    candidates: list[int] | None = None  # action ids a chooser picks from
    chooser: ChooserConfig | None = None
    choice_rules: dict[int, Rule] | None = None  # rule chooser: action id -> expression
    measure: Rule | None = None  # learned chooser: the score whose change is the gain


class ChoiceStep(Protocol):
    """A :class:`CompiledStep` with candidates: ``_compile_choice`` sets its chooser and choice
    rules with them (``measure`` only for a learned chooser)."""

    action_id: int
    candidates: list[int]
    chooser: ChooserConfig
    choice_rules: dict[int, Rule]
    measure: Rule | None


@dataclass
class CompiledWorkflow:
    name: str
    trigger: str
    steps: list[CompiledStep]
    priority: Rule | None
    cooldown_weeks: int
    leave_queue_when_clear: bool = True


@dataclass
class CompiledPolicy:
    config: PolicyConfig
    rules: dict[str, Rule]
    rule_configs: dict[str, RuleConfig]
    actions: dict[str, ActionConfig]
    action_names: list[str]
    workflows: list[CompiledWorkflow]
    roles: list[str]
    pool_outcome: Rule | None = None

    @property
    def choice_steps(self) -> list[tuple[int, int, ChoiceStep]]:
        """(workflow, step, step) of every step with candidate actions."""
        return [(w, i, cast(ChoiceStep, st)) for w, wf in enumerate(self.workflows)
                for i, st in enumerate(wf.steps) if st.candidates]

    @property
    def max_window(self) -> int:
        rules = list(self.rules.values())
        for wf in self.workflows:
            rules += [s.goal for s in wf.steps if s.goal] + ([wf.priority] if wf.priority else [])
        return max((r.max_window for r in rules), default=0)

    def parameters_read(self) -> set[str]:
        """The parameters some rule, goal, priority, chooser or the pool's outcome reads
        (through the rules they refer to too): setting any other changes nothing."""
        rules = [*self.rules.values(), *([self.pool_outcome] if self.pool_outcome else [])]
        for wf in self.workflows:
            rules += _expressions(wf)
        return {name for rule in rules for name in rule.parameters}

    def parameters_in_use(self) -> set[str]:
        """The parameters the enabled workflows read (their triggers, goals, priorities and
        choosers, through the rules they name) and the pool's outcome: those that describe
        the policy as it runs (a variant that switches a workflow off does not use its
        threshold, though another rule may still read it)."""
        rules = [*([self.pool_outcome] if self.pool_outcome else [])]
        for wf in self.workflows:
            rules += [self.rules[wf.trigger], *_expressions(wf)]
        return {name for rule in rules for name in rule.parameters}

    def due_triggers(self, week: int) -> list[str]:
        """The workflow triggers evaluated in week ``week`` of the school year (by cadence)."""
        return sorted({wf.trigger for wf in self.workflows
                       if calendar.is_due(self.rule_configs[wf.trigger].cadence, week)})

    def trigger_flags(self, names: list[str], values: dict[str, np.ndarray],
                      students: StudentTable) -> dict[str, np.ndarray]:
        """Who each trigger in ``names`` flags: its rule's value (``values[name]``) for the
        enrolled students in the rule's scope (year groups, schools)."""
        enrolled = students.status == ENROLLED
        flags = {}
        for name in names:
            rc = self.rule_configs[name]
            f = values[name] & enrolled
            if rc.years:
                f &= in_year_groups(students.year_group, rc.years)
            if rc.schools:
                f &= np.isin(students.school, rc.schools)
            flags[name] = f
        return flags

    def action_matrix(self) -> np.ndarray:
        """Staff minutes per week, shape (actions, roles)."""
        m = np.zeros((len(self.action_names), len(self.roles)))
        for a, name in enumerate(self.action_names):
            for role, minutes in self.actions[name].staff_minutes.items():
                if role in self.roles:  # else the action is in no workflow: it never runs
                    m[a, self.roles.index(role)] = minutes
        return m


def _expressions(wf: CompiledWorkflow) -> list[Rule]:
    """A workflow's own expressions: its steps' goals and choosers' rules and measures, and its
    priority (its trigger is a rule of the policy's)."""
    out: list[Rule] = [wf.priority] if wf.priority else []
    for st in wf.steps:
        out += [r for r in (st.goal, st.measure) if r is not None]
        out += list((st.choice_rules or {}).values())
    return out


def _compile_choice(step: CompiledStep, candidates: list[str], chooser: ChooserConfig | None,
                    actions: dict[str, ActionConfig], action_names: list[str], vocab, rules,
                    name: str, path: str, invalid: frozenset[str] = frozenset(),
                    ) -> list[tuple[str, str]]:
    """Link a step's candidate actions, chooser rules, measure and features; return problems."""
    problems = []
    chooser = chooser or ChooserConfig()
    unknown = [a for a in candidates if a not in actions]
    for a in unknown:
        problems.append((f"{path}.candidates", f"unknown action {a!r} (known: "
                         f"{', '.join(action_names)})"))
    if unknown:
        return problems
    step.candidates = [action_names.index(a) for a in candidates]
    step.chooser = chooser
    step.choice_rules = {}
    for action, text in chooser.rules.items():
        try:
            step.choice_rules[action_names.index(action)] = parse_rule(
                f"{name}_choose_{action}", text, vocab, rules=rules, invalid=invalid)
        except RuleError as err:
            problems.append((f"{path}.chooser.rules.{action}", str(err)))
    if chooser.measure is not None:
        try:
            step.measure = parse_score(f"{name}_measure", chooser.measure, vocab, rules=rules,
                                       invalid=invalid)
        except RuleError as err:
            problems.append((f"{path}.chooser.measure", str(err)))
    for j, field in enumerate(chooser.features):
        if field not in profile.FIELDS or profile.FIELDS[field][0] not in ("number", "bool"):
            problems.append((f"{path}.chooser.features[{j}]", f"unknown profile field {field!r} "
                             f"(a learned chooser reads observed profile fields only: "
                             f"{', '.join(profile.FIELDS)})"))
    return problems


def _rule_error(err: RuleError, path: str) -> list[tuple[str, str]]:
    problems = getattr(err, "problems", None)
    if problems:
        return [(f"{path}.{name}", msg) for name, msg in problems]
    return [(path, str(err))]


def _pool_field_users(rules: dict[str, Rule], workflows: list[CompiledWorkflow]
                      ) -> list[tuple[str, str]]:
    """``pooled_risk`` read when there is no pool model: it would always be NaN, silently."""
    what = "reads pooled_risk, but there is no policy.pool_model to compute it"
    out = [(f"policy.rules.{name}", what) for name, rule in rules.items()
           if "pooled_risk" in rule.fields]
    for wf in workflows:
        for i, st in enumerate(wf.steps):
            path = f"policy.workflows.{wf.name}.steps[{i}]"
            if st.goal is not None and "pooled_risk" in st.goal.fields:
                out.append((f"{path}.goal", what))
            # a chooser's expressions too: a rule never held (the fixed action for everyone),
            # and a measure's change was never a number (the learner explored for ever)
            if st.measure is not None and "pooled_risk" in st.measure.fields:
                out.append((f"{path}.chooser.measure", what))
            if st.choice_rules and any("pooled_risk" in r.fields
                                       for r in st.choice_rules.values()):
                out.append((f"{path}.chooser.rules", what))
        if wf.priority is not None and "pooled_risk" in wf.priority.fields:
            out.append((f"policy.workflows.{wf.name}.priority", what))
    return out


def _unstaffed_roles(workflows: list[CompiledWorkflow], actions: dict[str, ActionConfig],
                     action_names: list[str], staffed: set[str], pool_only: bool = False,
                     ) -> list[tuple[str, str]]:
    """A role an enabled workflow's action needs that ``policy.staff`` never names: its cases
    queued for ever without a word (a misspelt ``tutr`` in an action's ``staff_minutes``). A
    role named with 0 minutes is a deliberate "none" and is allowed. ``pool_only``: the
    schools' minutes are not used, so ``staffed`` are the pool's roles only."""
    where = ("policy.staff.pool does not name (mode pool_only: the schools' own minutes are "
             "not used)" if pool_only else
             "policy.staff names for no school and not for the pool")
    out = []
    for wf in workflows:
        for i, st in enumerate(wf.steps):
            for a in st.candidates or [st.action_id]:
                name = action_names[a]
                missing = sorted(r for r, m in actions[name].staff_minutes.items()
                                 if m > 0 and r not in staffed)
                if missing:
                    out.append((f"policy.workflows.{wf.name}.steps[{i}]",
                                f"action {name!r} needs staff role {missing[0]!r}, which "
                                f"{where}: its "
                                "cases would wait for ever (give the role minutes, 0 for none, "
                                f"or check its spelling; staffed: {', '.join(sorted(staffed)) or 'none'})"))
    return out


def _vocabulary(config: PolicyConfig, source: str) -> Vocabulary:
    """The rule vocabulary with the scenario's parameters; a parameter a rule could not use (named
    like a field, ``count`` or ``and``, or with a '.' or '-') is refused naming the file and its
    key path, not as a bare "invalid rule vocabulary" naming neither."""
    try:
        return profile.vocabulary(config.parameters, extra_fields=POOL_FIELDS)
    except RuleError:
        problems = []
        for name, value in config.parameters.items():
            try:
                profile.vocabulary({name: value}, extra_fields=POOL_FIELDS)
            except RuleError as err:
                what = str(err).removeprefix("invalid rule vocabulary: ")
                problems.append((f"policy.parameters.{name}", what))
        if not problems:  # pragma: no cover - every vocabulary problem is one parameter's
            raise
        raise ScenarioError(source, problems) from None


def compile_policy(config: PolicyConfig, source: str = "scenario") -> CompiledPolicy:
    """Check every cross-reference and parse every expression; raise one ScenarioError."""
    problems: list[tuple[str, str]] = []
    vocab = _vocabulary(config, source)
    rules: dict[str, Rule] = {}
    try:
        rules = parse_rules({n: r.when for n, r in config.rules.items()}, vocab)
    except RuleError as err:
        problems += _rule_error(err, "policy.rules")
        # goals and priorities may still use the rules that parsed; one using a broken rule
        # says so (it read "'at_risk' is not a known field", though the rule is right there)
        rules = getattr(err, "rules", {})
    invalid = frozenset(config.rules) - frozenset(rules)
    for name, rc in config.rules.items():
        if rc.years and any(y < 1 or y > 14 for y in rc.years):
            problems.append((f"policy.rules.{name}.years", "year groups must be 1-14"))
    try:
        actions = resolve_actions(config.actions)
    except ScenarioError as err:
        raise ScenarioError(source, err.problems) from None
    action_names = sorted(actions)
    workflows: list[CompiledWorkflow] = []
    all_workflows: list[CompiledWorkflow] = []
    for wname, wf in config.workflows.items():
        path = f"policy.workflows.{wname}"
        # a disabled workflow is checked too (a variant may enable it), but not compiled in
        if wf.trigger not in config.rules:
            problems.append((f"{path}.trigger", f"no rule named {wf.trigger!r} (rules: "
                             f"{', '.join(config.rules) or 'none'})"))
        steps = []
        for i, st in enumerate(wf.steps):
            spath = f"{path}.steps[{i}]"
            if st.action not in actions:
                problems.append((f"{spath}.action", f"unknown action {st.action!r} (known: "
                                 f"{', '.join(action_names)})"))
                continue
            goal = None
            if st.goal is not None:
                try:
                    goal = parse_rule(f"{wname}_step{i + 1}_goal", st.goal, vocab, rules=rules,
                                      invalid=invalid)
                except RuleError as err:
                    problems.append((f"{spath}.goal", str(err)))
            step = CompiledStep(st.action, action_names.index(st.action),
                                st.weeks or actions[st.action].weeks, goal)
            if st.candidates:
                problems += _compile_choice(step, st.candidates, st.chooser, actions,
                                            action_names, vocab, rules, f"{wname}_step{i + 1}",
                                            spath, invalid)
            steps.append(step)
        priority = None
        if wf.priority is not None:
            try:
                priority = parse_score(f"{wname}_priority", wf.priority, vocab, rules=rules,
                                       invalid=invalid)
            except RuleError as err:
                problems.append((f"{path}.priority", str(err)))
        compiled = CompiledWorkflow(wname, wf.trigger, steps, priority, wf.cooldown_weeks,
                                    wf.leave_queue_when_clear)
        all_workflows.append(compiled)
        if wf.enabled:
            workflows.append(compiled)
    staff = config.staff
    known_roles = sorted({r for a in actions.values() for r in a.staff_minutes})
    for where, minutes in [("school", staff.school), ("pool", staff.pool),
                           *((f"per_school.{k}", v) for k, v in staff.per_school.items())]:
        for role in minutes:
            if role not in known_roles:
                problems.append((f"policy.staff.{where}.{role}",
                                 f"no action uses staff role {role!r} (check the spelling; "
                                 f"roles: {', '.join(known_roles) or 'none'})"))
    roles = set(staff.school) | set(staff.pool)
    for school_roles in staff.per_school.values():
        roles |= set(school_roles)
    pool_only = staff.mode == "pool_only"
    problems += _unstaffed_roles(workflows, actions, action_names,
                                 set(staff.pool) if pool_only else roles, pool_only)
    for cw in workflows:  # roles of actions the workflows use; other actions never run
        for cs in cw.steps:
            for a in cs.candidates or [cs.action_id]:
                roles |= {r for r, m in actions[action_names[a]].staff_minutes.items() if m > 0}
    problems += check_modifiers(actions)
    pool_outcome = None
    pm = config.pool_model
    if pm is not None:
        for i, name in enumerate(pm.features):
            if name not in profile.FIELDS:
                problems.append((f"policy.pool_model.features[{i}]",
                                 f"unknown profile field {name!r} (fields: "
                                 f"{', '.join(profile.FIELDS)})"))
        try:
            pool_outcome = parse_rule("pool_outcome", pm.outcome, vocab, rules=rules,
                                      invalid=invalid)
        except RuleError as err:
            problems.append(("policy.pool_model.outcome", str(err)))
        if pool_outcome is not None and "pooled_risk" in pool_outcome.fields:
            problems.append(("policy.pool_model.outcome", "cannot use pooled_risk itself"))
    if pm is None:
        problems += _pool_field_users(rules, all_workflows)
    if problems:
        raise ScenarioError(source, problems)
    return CompiledPolicy(config, rules, dict(config.rules), actions, action_names, workflows,
                          sorted(roles), pool_outcome)
