"""Risk rules, intervention workflows and staff capacity inside the weekly step.

State machine of a case (one student in one workflow)::

    rule fires -> flagged, queued --(capacity; take-up draw)--> started | declined
    started --(step's weeks pass)--> reviewed -> goal_met -> closed
                                              -> escalated -> queued (next step)
                                              -> closed (past the last step: unresolved)
    declined -> escalated -> queued (next step), or closed past the last step
    student withdraws or leaves -> closed (outcome "left")
    still waiting for step 1 when the trigger no longer flags them -> closed ("cleared";
        ``leave_queue_when_clear: false`` keeps them queued)
    the run ends -> open_at_end (outcome "open"), with the minutes of the current step

A closed case starts a cooldown before the same workflow may refer the student again; a student
may be in several workflows at once. Queued cases are served in order of priority (the
workflow's ``priority`` expression, higher first) and then of a stable per-student draw, so that
with common random numbers more capacity changes only who is served at the margin. Cases already
running keep their staff until they end; staff minutes used never exceed those available.

Everything is vectorised over cases; per-school allocation runs in each
:class:`~srmsim.model.SchoolAgent` and pool allocation in the
:class:`~srmsim.model.PoolAgent`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from srmsim import calendar
from srmsim.errors import SrmsimError
from srmsim.policy.casebook import Table
from srmsim.policy.chooser import Choosers
from srmsim.policy.compiled import CompiledPolicy, compile_policy
from srmsim.policy.config import PolicyConfig
from srmsim.policy.delivered import ATTENDANCE_ROUTES, Delivered
from srmsim.policy.heterogeneity import Modifiers
from srmsim.policy.profile import ProfileContext
from srmsim.policy.rules import evaluate_rules
from srmsim.students import ENROLLED

if TYPE_CHECKING:
    import pyarrow as pa

    from srmsim.dynamics import WeekObservation
    from srmsim.model import TrustModel

QUEUED, ACTIVE, CLOSED = 0, 1, 2
OPEN = np.iinfo(np.int32).max  # referable_from of a student with an open case
EVENTS = ("flagged", "queued", "started", "declined", "reviewed", "escalated", "goal_met",
          "closed", "open_at_end")
OUTCOMES = ("", "goal_met", "unresolved", "left", "open", "cleared")
SCHOOL, POOL = 0, 1
LEVEL_TARGETS = ("absence", "engagement", "wellbeing", "incidents")


def _present(key: np.ndarray, n: int) -> np.ndarray:
    """The distinct values of a small dense key (0 <= key < n), ascending: cheaper than
    ``np.unique`` for the few workflow steps or half-lives a policy has.

    Keys that span at most two neighbouring values (a two-step workflow, two actions) need only
    their least and greatest, both present: two reductions instead of a ``bincount`` (about a
    fifth of its time on the 10,000 cases of a week at 100k students)."""
    if len(key) == 0:
        return key[:0]
    lo, hi = int(key.min()), int(key.max())
    if hi - lo <= 1:
        return np.arange(lo, hi + 1)
    return np.flatnonzero(np.bincount(key, minlength=n))


def queue_order(group: np.ndarray | None, priority: np.ndarray, tie: np.ndarray) -> np.ndarray:
    """The order staff serve a queue in: by group (school), then priority, higher first (NaN
    last), then the case's tie draw (``uint32``), then the order cases were made.

    Equal to ``np.lexsort((tie, -priority, group))``, made faster by packing the keys into one
    ``uint64``: the priority as its rank among the queue's priorities (0 the highest), the
    group and the tie draw beside it, sorted once. When the position in the queue fits in the
    key's spare bits too, every key is distinct and a plain sort of the keys (numpy's SIMD sort)
    gives the order in their low bits; else one stable argsort. Only a queue with more distinct
    priorities and groups than 32 bits can rank goes to the lexsort's three passes.
    """
    if len(priority) == 0:
        return np.zeros(0, dtype=np.int64)
    finite = np.isfinite(priority)
    all_finite = bool(finite.all())  # the usual case: no mask, no copies below
    p = priority if all_finite else np.where(np.isnan(priority), -np.inf, priority)
    n_groups = int(group.max()) + 1 if group is not None else 1
    keys = (tie, -p) if group is None else (tie, -p, group)
    if n_groups > 2**16 or (group is not None and group.min() < 0):
        return np.lexsort(keys)  # (groups srmsim never makes)
    rank, last = _priority_ranks(p, finite, all_finite)
    bits = [(n_groups - 1).bit_length() if group is not None else 0, last.bit_length(), 32,
            (len(p) - 1).bit_length()]  # group, rank, tie, position
    if sum(bits[:3]) > 64:
        return np.lexsort(keys)
    key = rank << np.uint64(32)
    key |= tie.astype(np.uint64)
    if group is not None:
        key |= group.astype(np.uint64) << np.uint64(bits[1] + 32)
    if sum(bits) > 64:
        return np.argsort(key, kind="stable")
    shift = np.uint64(bits[3])
    key <<= shift
    key |= np.arange(len(p), dtype=np.uint64)
    return (np.sort(key) & np.uint64((1 << bits[3]) - 1)).astype(np.int64)


def _priority_ranks(p: np.ndarray, finite: np.ndarray, all_finite: bool
                    ) -> tuple[np.ndarray, int]:
    """Each priority's rank (``uint64``, 0 = the highest; equal priorities, equal ranks; -inf,
    where NaN was, after every finite one) and the largest rank.

    Whole numbers in a modest range (counts of risk factors, bands) are ranked by subtraction;
    any others (a recent attendance rate, +-inf) by their place among the distinct values, one
    sort (``np.unique``; -0.0 and 0.0 are one value, as in the lexsort's comparisons)."""
    pf = p if all_finite else p[finite]
    lo = float(pf.min()) if len(pf) else 0.0
    hi = float(pf.max()) if len(pf) else 0.0
    whole = hi - lo < 2**15 and np.array_equal(pf, np.floor(pf))  # Python floats
    if whole and (all_finite or not np.any(p == np.inf)):
        last = int(hi - lo) + 1  # the rank of -inf (no priority)
        rank = (hi - p) if all_finite else np.where(finite, hi - np.where(finite, p, hi), last)
        return rank.astype(np.uint64), (last if not all_finite else last - 1)
    values, inverse = np.unique(p, return_inverse=True)  # ascending: -inf first, +inf last
    return (len(values) - 1 - inverse).astype(np.uint64), len(values) - 1


def run_pseudonym_key(seed: int, from_records: bool) -> bytes:
    """The key of a run's student pseudonyms (pool records, ``student`` in the outputs).

    A purely simulated trust has no one to protect, so the key follows from the seed and the
    pseudonyms are reproducible. A trust built from real records gets a random key that lives
    only in memory: the seed is printed in ``summary.json``, and a key derived from it would let
    anyone reverse the pseudonyms. Such runs' pseudonyms therefore differ between runs; every
    number does not.
    """
    if from_records:
        return secrets.token_bytes(32)
    return hashlib.sha256(f"srmsim-run-{seed}".encode()).digest()


class PolicyEngine:
    """The policy of one run: compiled rules and workflows, cases, staff and events."""

    def __init__(self, model: TrustModel, config: PolicyConfig | CompiledPolicy):
        self.model = model
        self.policy = config if isinstance(config, CompiledPolicy) else compile_policy(config)
        p = self.policy
        self.mode = p.config.staff.mode
        self.parameters = dict(p.config.parameters)
        self.pool_scores = np.full(len(model.students), np.nan)
        self.ctx = ProfileContext(model, self.parameters,
                                  extra={"pooled_risk": lambda: self.pool_scores})
        n_schools = len(model.schools)
        roles = p.roles
        self.school_capacity = np.zeros((n_schools, len(roles)))
        for r, role in enumerate(roles):
            self.school_capacity[:, r] = p.config.staff.school.get(role, 0.0)
        for s, minutes in p.config.staff.per_school.items():
            if 0 <= s < n_schools:
                for role, m in minutes.items():
                    self.school_capacity[s, roles.index(role)] = m
        self.pool_capacity = np.array([p.config.staff.pool.get(r, 0.0) for r in roles])
        if self.mode == "pool_only":
            self.school_capacity[:] = 0.0
        # per action: staff minutes (actions x roles), cost, take-up, automation, effects
        self.minutes = p.action_matrix()
        self.total_minutes = self.minutes.sum(axis=1)
        acts = [p.actions[a] for a in p.action_names]
        self.cost = np.array([a.cost_per_week for a in acts])
        self.take_up = np.array([a.take_up for a in acts])
        self.automated = np.array([a.automated or not self.minutes[i].any()
                                   for i, a in enumerate(acts)])
        self.onset = np.array([a.effect.onset_weeks for a in acts])
        self.half_life = np.array([a.effect.half_life_weeks for a in acts])
        self.level = {k: np.array([getattr(a.effect, k) for a in acts]) for k in LEVEL_TARGETS}
        self.attainment_gain = np.array([a.effect.attainment for a in acts])
        # the same in the student table's types, so a week's charges are gathered, not converted
        t = model.students
        self._total_t = self.total_minutes.astype(t.staff_minutes.dtype)
        self._cost_t = self.cost.astype(t.cost.dtype)
        self._level_t = {k: self.level[k].astype(getattr(t, f"eff_{k}").dtype)
                         for k in LEVEL_TARGETS}
        self.reading_gain = np.array([a.effect.reading for a in acts])
        # growth effects accrue evenly over the weeks of a full course after the onset, so a
        # step of the action's default length delivers the catalogue's effect exactly
        self.course_weeks = np.maximum(np.array([a.weeks for a in acts]) - self.onset, 1)
        #: the same per action and week, as apply() divided it per case (the same float64s)
        self._gain_per_week = {"attainment": self.attainment_gain / self.course_weeks,
                               "reading": self.reading_gain / self.course_weeks}
        self.primary_role = np.array([int(np.argmax(row)) if row.any() else -1
                                      for row in self.minutes])
        used_roles = np.where(self.minutes > 0, self.minutes, np.inf)
        self._min_need = used_roles.min(axis=0) if len(used_roles) else np.zeros(0)
        self._role_use = (self.minutes > 0).T.astype(np.float64)  # (roles, actions)
        self._minutes_by_role = np.ascontiguousarray(self.minutes.T)  # (roles, actions)
        self._triggers_due: dict[int, list[str]] = {}  # week of the year -> due triggers
        wfs = p.workflows
        self.n_steps = np.array([len(w.steps) for w in wfs])
        self.cooldown_weeks = np.array([w.cooldown_weeks for w in wfs], dtype=np.int32)
        # one dense key per (workflow, step): step_key[wf] + step
        self.step_key = np.r_[0, np.cumsum(self.n_steps)[:-1]].astype(np.int64)
        self.step_of_key = [(w, i) for w, wf in enumerate(wfs) for i in range(len(wf.steps))]
        width = max((len(w.steps) for w in wfs), default=1)
        self.step_action = np.full((len(wfs), width), -1)
        self.step_weeks = np.ones((len(wfs), width), dtype=np.int64)
        for w, wf in enumerate(wfs):
            for i, st in enumerate(wf.steps):
                self.step_action[w, i] = st.action_id
                self.step_weeks[w, i] = st.weeks
        # the same by dense (workflow, step) key: one 1-D gather instead of a 2-D one
        self.action_of_key = np.array([self.step_action[w, i] for w, i in self.step_of_key],
                                      dtype=np.int64)
        self.weeks_of_key = np.array([self.step_weeks[w, i] for w, i in self.step_of_key],
                                     dtype=np.int64)
        # effect modifiers and action choice (srmsim.policy.heterogeneity, .chooser): only
        # policies that use them carry the extra case columns
        self.modifiers = Modifiers(acts)
        self.choosers = Choosers(self) if p.choice_steps else None
        extra: dict[str, type] = {}
        if self.modifiers.any:
            extra["scale"] = np.float64
        if self.choosers is not None:
            extra.update({"how": np.int8, "measure0": np.float64,
                          **{f"x{j}": np.float64 for j in range(self.choosers.n_features)}})
        self._extra_columns = extra
        self.cases = Table({"serial": np.int32, "uid": np.int64, "row": np.int64,
                            "school": np.int32,
                            "wf": np.int16, "step": np.int16, "status": np.int8,
                            "queued_at": np.int32, "priority": np.float64, "tie": np.uint32,
                            "action": np.int16, "source": np.int8, "start": np.int32,
                            "end": np.int32, "spent_minutes": np.float64,
                            "spent_cost": np.float64, "slot": np.int32, **extra})
        # Effects that fade after an action ends: one residual per student, target and half-life
        # in use, so the cost does not grow with the number of past actions. The residual is
        # stored at the scale of week ``fade_base`` (true value = stored x decay^(now - base)):
        # fading costs nothing per week, and the store is rescaled only when the factor gets small.
        used = sorted({a for wf in p.workflows for st in wf.steps
                       for a in (st.candidates or [st.action_id])})
        has_level = np.zeros(len(acts), dtype=bool)
        for k in LEVEL_TARGETS:
            has_level[used] |= self.level[k][used] != 0
        self.fade_lives = np.unique(self.half_life[has_level])  # of the actions workflows use
        #: a week of the dearest action the workflows use, in staff minutes and in cost
        #: (:func:`srmsim.experiment.outcomes.action_weeks`)
        self.dearest_week = {
            "staff_minutes": float(self.total_minutes[used].max()) if used else 0.0,
            "cost": float(self.cost[used].max()) if used else 0.0}
        #: a week of each priced action the workflows use (staff minutes, cost), by name: with
        #: two kinds the hours and the cost give each kind's weeks
        #: (:func:`srmsim.experiment.outcomes.student_kind_counts`)
        self.week_prices = {
            p.action_names[a]: {"staff_minutes": float(self.total_minutes[a]),
                                "cost": float(self.cost[a])}
            for a in used if self.total_minutes[a] > 0 or self.cost[a] > 0}
        # effect targets some workflow's action moves: the others stay 0 and are never touched
        self._targets_used = [k for k in LEVEL_TARGETS if np.any(self.level[k][used] != 0)]
        # true gains the actions added; with choice steps also attendance, by group and school
        self.delivered = Delivered(model, detail=self.choosers is not None,
                                   attendance=bool(set(ATTENDANCE_ROUTES) & set(self._targets_used)))
        # whether any case can ever need an automated action (else their passes are skipped)
        self._any_automated = bool(self.automated[used].any()) if used else False
        # whether every action a workflow uses works from its first week (then every running
        # case's effects are on, and apply() needs no onset test)
        self._any_onset = bool((self.onset[used] > 0).any()) if used else False
        # A running case's minutes and cost so far are its week's charge times the weeks it has
        # been charged, when every charge is a whole number (catalogue minutes and costs): the
        # float64 sums are then exact, so the product is the same number. The cases' spent_*
        # columns then stay 0 and apply() adds nothing to them each week (see _spent).
        charges = np.concatenate([self.total_minutes[used], self.cost[used]]) if used else None
        self._charge_by_weeks = bool(
            charges is not None and np.all(np.floor(charges) == charges)
            and np.abs(charges).max() * (model.n_weeks + 1) < 2.0**53)
        #: the last run week apply() charged the running cases in
        self._charged_week = model.week_index - 1
        #: the one onset every action a workflow uses has (the default 1 week), else None: then
        #: "has it begun" is one comparison of the cases' start weeks, not a gather per case
        self._onset_all: int | None = (int(self.onset[used[0]]) if used and all(
            self.onset[a] == self.onset[used[0]] for a in used) else None)
        self.fade_index = np.searchsorted(self.fade_lives, self.half_life)
        # per action: (target index, size) of the level effects that fade when it ends
        self._fading = [[(k, float(self.level[target][a])) for k, target in enumerate(LEVEL_TARGETS)
                         if target in self._targets_used and self.level[target][a] != 0]
                        for a in range(len(acts))]
        self.fade_decay = 0.5 ** (1.0 / self.fade_lives)
        # the same by half-life h: which actions have one, then for each target k they move
        # each action's size (0: none), whether it has one, and whether every action of h does
        self._fade_groups: list[tuple[int, np.ndarray, list[tuple]]] = []
        for h in range(len(self.fade_lives)):
            targets = []
            for target_k in range(len(LEVEL_TARGETS)):
                sizes = np.zeros(len(acts))
                for a in range(len(acts)):
                    for kk, size in self._fading[a]:
                        if kk == target_k and self.fade_index[a] == h:
                            sizes[a] = size
                if sizes.any():
                    targets.append((target_k, sizes, sizes != 0))
            if targets:
                uses_h = np.logical_or.reduce([t[2] for t in targets])
                self._fade_groups.append((h, uses_h, [(tk, sz, uses, bool(np.array_equal(
                    uses, uses_h))) for tk, sz, uses in targets]))
        #: whether each half-life's effects come from one of the workflows' actions only: then
        #: the courses of a half-life, taken in the order they ended, are already in the order
        #: by call, then action, that _store_ended adds them in (no sort)
        self._one_action_per_life = all(int(uses_h[used].sum()) <= 1
                                        for _, uses_h, _ in self._fade_groups)
        self._ended: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
        self.fade_base = np.zeros(len(self.fade_lives), dtype=np.int64)
        self.fade_scale = np.ones(len(self.fade_lives))  # decay^(now - base), set each week
        self.residual = np.zeros((len(self.fade_lives), len(LEVEL_TARGETS), len(model.students)),
                                 dtype=np.float32)
        # one block per _event call: (week, event, outcome, (serial, step, action), minutes,
        # cost), each column kept in its own dtype until the table is built; a case's fixed
        # columns (uid, school, workflow) are kept once, by serial, in _case_keys
        self._events: list[tuple] = []
        #: events recorded so far (the model's mid-run memory check)
        self.events_recorded = 0
        self._case_keys: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._n_cases = 0  # cases ever opened: the next case's serial
        self._row_uid = model.students.uid.copy()
        # per workflow and student: the first week the workflow may refer them again (OPEN
        # while they have an open case in it; the end of the cooldown once it closes)
        self.referable_from = np.full((len(wfs), len(model.students)), -1, dtype=np.int32)
        self._flags = np.zeros(n_schools, dtype=np.int64)
        self._referrals = np.zeros(n_schools, dtype=np.int64)
        self._used_school = np.zeros_like(self.school_capacity)
        self._used_pool = np.zeros_like(self.pool_capacity)
        self._week_report: dict[str, np.ndarray] = {}
        self._scratch_f32: np.ndarray | None = None
        #: _bounds(): the model's school starts, the same with the table's end, no school empty
        self._school_bounds: tuple[np.ndarray, np.ndarray, bool] | None = None
        #: running cases by slot (school, source, action), kept up to date by _start and
        #: _end_course rather than recounted from the case table twice a week (None: recount)
        self._slot_counts: np.ndarray | None = None
        #: _roles_used: the roles of each set of queued actions seen (by the set's bytes)
        self._roles_of_actions: dict[bytes, np.ndarray] = {}
        #: the take-up draws' decision name of each (workflow, step) key, made once
        self._take_up_decisions: list[str] | None = None
        self._pseudonym_key = run_pseudonym_key(model.seed, model.records is not None)
        #: pseudonyms made so far for the tables (sorted uids, their text): the students
        #: table's and the events' are the same students, each hashed once
        self._pseudonym_memo: tuple[np.ndarray, pa.Array] | None = None
        self.eligibility: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
        self.eligible_from = np.zeros(len(model.students), dtype=np.int64)
        self.pool_model = None
        if p.config.pool_model is not None:
            from srmsim.policy.pool_model import PoolRiskModel

            if p.pool_outcome is None:  # compile_policy parses it whenever pool_model is set
                raise RuntimeError("policy.pool_model.outcome was not compiled")
            self.pool_model = PoolRiskModel(self, p.config.pool_model, p.pool_outcome)

    # ------------------------------------------------------------------ bookkeeping
    def _event(self, event: str, idx: np.ndarray, minutes=0.0, cost=0.0, outcome: str = "",
               snapshot: tuple[np.ndarray, ...] | None = None) -> tuple[np.ndarray, ...] | None:
        """Record an event for cases ``idx``: the case's serial and a snapshot of the columns
        that change later (step, action); the rest is derived when the events table is built.

        Returns the snapshot, so that a second event of the same cases at the same moment
        (flagged then queued; goal met then closed) shares its arrays (``snapshot=``) instead
        of gathering them again; nothing changes the arrays once recorded."""
        if len(idx) == 0:
            return None
        c = self.cases
        self.events_recorded += len(idx)
        if snapshot is None:
            snapshot = (c.serial[idx], c.step[idx], c.action[idx])
        self._events.append((
            self.model.week_index, EVENTS.index(event), OUTCOMES.index(outcome),
            snapshot, minutes, cost,
        ))
        return snapshot

    def _new_serials(self, k: int) -> np.ndarray:
        """Serial numbers for ``k`` new cases (their order of opening; events refer to them)."""
        if self._n_cases + k > OPEN:  # (the largest int32)
            raise SrmsimError("more than 2**31 cases opened in one run")
        serial = np.arange(self._n_cases, self._n_cases + k, dtype=np.int32)
        self._n_cases += k
        return serial

    def set_eligibility(self, rule: Callable[[np.ndarray, np.ndarray], np.ndarray] | None) -> None:
        """Restrict who the policy may refer, for trials: ``rule(uid, school)`` gives, per
        student, the first run week from which they may be referred (a large number: never).

        It is applied to the students on roll now and to every later intake, so a school-level
        or stepped-wedge assignment covers new students too.
        """
        self.eligibility = rule
        self._apply_eligibility()

    def _apply_eligibility(self) -> None:
        t = self.model.students
        if self.eligibility is None:
            self.eligible_from = np.zeros(len(t), dtype=np.int64)
        else:
            self.eligible_from = np.asarray(self.eligibility(t.uid, t.school), dtype=np.int64)

    def layout_changed(self) -> None:
        """The student table was rebuilt (year end): move per-row state by uid."""
        self._store_ended()  # by the rows they ended in
        self._apply_eligibility()
        new_uid = self.model.students.uid
        if len(new_uid) == len(self._row_uid) and np.array_equal(new_uid, self._row_uid):
            return
        order = np.argsort(new_uid, kind="stable")
        sorted_uid = new_uid[order]

        def rows_of(uids: np.ndarray) -> np.ndarray:
            pos = np.searchsorted(sorted_uid, uids)
            pos = np.minimum(pos, len(sorted_uid) - 1)
            found = sorted_uid[pos] == uids
            return np.where(found, order[pos], -1)

        old_rows = rows_of(self._row_uid)
        referable = np.full((self.referable_from.shape[0], len(new_uid)), -1, dtype=np.int32)
        ok = old_rows >= 0
        referable[:, old_rows[ok]] = self.referable_from[:, ok]
        self.referable_from = referable
        scores = np.full(len(new_uid), np.nan)
        scores[old_rows[ok]] = self.pool_scores[ok]
        self.pool_scores = scores
        if len(self.cases):
            self.cases.row[:] = rows_of(self.cases.uid)
            self.cases.keep(self.cases.row >= 0)
            self._slot_counts = None  # running cases of students gone from the table dropped
        residual = np.zeros((*self.residual.shape[:2], len(new_uid)), dtype=np.float32)
        residual[:, :, old_rows[ok]] = self.residual[:, :, ok]
        self.residual = residual
        self._row_uid = new_uid.copy()

    # ------------------------------------------------------------------ the week
    def step(self, obs: WeekObservation) -> None:
        """Close cases of leavers, review due cases, refer newly flagged students, start
        automated actions. Staff allocation follows in the school and pool agents."""
        now = self.model.week_index
        self.ctx.recorded_week = now  # the students' week is recorded: windows may carry on
        self._flags[:] = 0
        self._referrals[:] = 0
        # the store moves to this week first: a course a leaver's closure ends now joins it at
        # this week's scale (full size now, fading from here), as a course reviewed now does
        self._fade(now)
        if np.any(obs.withdrew):
            self.close_leavers()
        if self.pool_model is not None and self.pool_model.due(self.model.week):
            self.pool_model.update()
            self.ctx.forget("pooled_risk")
        self.delivered.attendance(obs)
        c = self.cases
        due = np.flatnonzero((c.status == ACTIVE) & (c.end == now))  # steps ending this week
        triggers = self._triggers_due.get(self.model.week)
        if triggers is None:
            triggers = self._triggers_due[self.model.week] = self.policy.due_triggers(
                self.model.week)
        values = self._evaluate(due, triggers)
        self._review(now, due, values)
        if self.choosers is not None:
            self.choosers.refit_due(self.model.week)
        self._trigger(now, triggers, values)
        queued: np.ndarray | None = self._prioritise(values)
        if self.choosers is not None:
            self.choosers.plan_week(now)
            queued = None  # (the choosers may change the queue)
        self._start_automated(now)  # (none when no action is automated)
        self._measure_use()
        self._prepare_queue(now, queued)

    def _bounds(self) -> tuple[np.ndarray, np.ndarray, bool]:
        """The model's school starts; the same with the table's end; whether every school has
        students. Made once a layout (the table is sorted by school)."""
        starts, n = self.model._school_starts, len(self.model.students)
        bounds = self._school_bounds
        if bounds is None or bounds[0] is not starts or bounds[1][-1] != n:
            with_end = np.append(starts, n)
            bounds = self._school_bounds = (starts, with_end, len(starts) > 0
                                            and bool(np.all(with_end[1:] > with_end[:-1])))
        return bounds

    def _per_school(self, rows: np.ndarray) -> np.ndarray:
        """How many of the student-table rows ``rows`` (ascending) are in each school.

        The table is sorted by school (the model's ``_school_starts`` are each school's first
        row), so the counts are where the schools' bounds cut ``rows``: a few hundred binary
        searches instead of gathering and counting the schools of the 20,000 flagged rows."""
        cut = np.searchsorted(rows, self._bounds()[1])
        return cut[1:] - cut[:-1]

    def _flagged_per_school(self, flag: np.ndarray) -> np.ndarray:
        """How many students ``flag`` (one bool per row) marks in each school: the flags summed
        over each school's slice of the table in one ``reduceat`` (a quarter of the time of
        finding the 20,000 flagged rows of a weekly rule at 100k students, which only this
        count needed). ``reduceat`` gives an empty slice its first element, so a layout with an
        empty school counts the flagged rows instead."""
        starts, with_end, all_filled = self._bounds()
        if all_filled and len(flag):
            return np.add.reduceat(flag.view(np.int8), starts, dtype=np.int32)
        return self._per_school(np.flatnonzero(flag))

    def _key(self, idx: np.ndarray) -> np.ndarray:
        """The dense (workflow, step) key of cases ``idx``."""
        c = self.cases
        if len(self.step_key) == 1:  # one workflow: the key is the step
            return c.step[idx].astype(np.int64)
        return self.step_key.take(c.wf[idx]) + c.step[idx]

    def _scratch(self, n: int) -> np.ndarray:
        """A float32 work array of ``n`` elements, kept from week to week."""
        if self._scratch_f32 is None or len(self._scratch_f32) != n:
            self._scratch_f32 = np.empty(n, dtype=np.float32)
        return self._scratch_f32

    def _assign(self, idx: np.ndarray, now: int) -> None:
        """Cases ``idx`` were just queued for a step: choosers pick their action, and modifiers
        fix how strongly it will work for each student."""
        if self.choosers is not None and len(idx):
            self.choosers.choose(idx, now)
        if self.modifiers.any and len(idx):
            c = self.cases
            c.scale[idx] = self.modifiers.scale(self.ctx, c.row[idx], c.action[idx])

    def evaluate_now(self, rules: dict) -> dict[str, np.ndarray]:
        """Values of some expressions for every student this week."""
        return evaluate_rules(rules, self.ctx, len(self.model.students))

    def _open(self) -> np.ndarray:
        return np.flatnonzero(self.cases.status != CLOSED)

    def _spent(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Staff minutes and cost charged so far to the current course of cases ``idx`` (each
        must be running; other cases' values are meaningless): the weekly sums apply() kept,
        or with whole-number charges the charge times the weeks charged since the start."""
        c = self.cases
        if not self._charge_by_weeks:
            return c.spent_minutes[idx], c.spent_cost[idx]
        weeks = (self._charged_week + 1) - c.start[idx]
        act = c.action[idx].astype(np.intp)
        return weeks * self.total_minutes[act], weeks * self.cost[act]

    def _close(self, idx: np.ndarray, now: int, outcome: str, waiting: bool = False,
               snapshot: tuple[np.ndarray, ...] | None = None) -> None:
        """Close cases; a case closed mid-course (the student left) reports its minutes here.

        ``waiting``: the caller knows none of the cases runs (reviewed, declined or still
        queued), so there is no course to end and every case reports 0 minutes and cost, as
        the per-case test would find. ``snapshot``: :meth:`_event`'s, of these cases now."""
        c = self.cases
        minutes: float | np.ndarray
        cost: float | np.ndarray
        if waiting:
            minutes = cost = 0.0
        else:
            running = c.status[idx] == ACTIVE
            spent_minutes, spent_cost = self._spent(idx)
            minutes = np.where(running, spent_minutes, 0.0)
            cost = np.where(running, spent_cost, 0.0)
            active = idx[running]
            if len(active):
                self._end_course(active, now)
        c.status[idx] = CLOSED
        self._event("closed", idx, minutes=minutes, cost=cost, outcome=outcome,
                    snapshot=snapshot)
        if len(self.referable_from) == 1:  # one workflow: a 1-D scatter of one value
            self.referable_from[0][c.row[idx]] = now + self.cooldown_weeks[0]
        else:
            wf = c.wf[idx]
            self.referable_from[wf, c.row[idx]] = now + self.cooldown_weeks[wf]

    def _fade(self, now: int) -> None:
        """Advance the fading effects to week ``now``; rescale a store whose factor is tiny."""
        self._store_ended()  # courses ended since the last store, at the scale they ended at
        self.fade_scale = self.fade_decay ** (now - self.fade_base)
        for h in np.flatnonzero(self.fade_scale < 1e-12):
            self.residual[h] *= np.float32(self.fade_scale[h])
            self.fade_base[h], self.fade_scale[h] = now, 1.0

    def _end_course(self, idx: np.ndarray, now: int) -> None:
        """The action stops: its level effects start to fade; minutes and cost reset.

        The effects join the fading store in :meth:`_store_ended`, once for every course that
        ended before the store is next read or rescaled (a week's reviews, closures and leavers
        together, at this week's scale). Only a course whose effects had begun fades: ended in
        week ``now`` (before this week's :meth:`apply`), it was last charged in week ``now - 1``,
        with its effects on if ``now - 1 - start >= onset``; one that ended before its onset
        (a leaver, or an action shorter than its onset) never worked."""
        c = self.cases
        if self._slot_counts is not None and len(idx):
            self._slot_counts -= np.bincount(c.slot[idx], minlength=len(self._slot_counts))
        if len(idx) and self._fade_groups:
            faded = idx
            if self._onset_all is not None:
                if self._onset_all > 0:
                    faded = idx[c.start[idx] < now - self._onset_all]
            elif self._any_onset:
                faded = idx[now - c.start[idx] > self.onset.take(c.action[idx])]
            if len(faded):
                self._ended.append((c.row[faded], c.action[faded],
                                    c.scale[faded] if self.modifiers.any else None))
        if not self._charge_by_weeks:
            c.spent_minutes[idx] = 0.0
            c.spent_cost[idx] = 0.0

    def _store_ended(self) -> None:
        """Add the level effects of the courses :meth:`_end_course` saw to the fading store.

        One ``np.add.at`` per (half-life, target) for all of them, in the order adding them call
        by call, action by action would have taken (each student's float32 sums in the same
        order, so the same bits), with the scale of the week they ended in."""
        if not self._ended:
            return
        ended, self._ended = self._ended, []
        rows = np.concatenate([e[0] for e in ended])
        act = np.concatenate([e[1] for e in ended]).astype(np.int64)
        scale = np.concatenate([e[2] for e in ended]) if self.modifiers.any else None
        if not self._one_action_per_life:  # by call, then action; rows in order within each
            if len(ended) > 1:
                call = np.repeat(np.arange(len(ended), dtype=np.int64),
                                 [len(e[0]) for e in ended])
                order = np.argsort(call * len(self.minutes) + act, kind="stable")
            else:
                order = np.argsort(act, kind="stable")
            rows, act = rows[order], act[order]
            scale = scale[order] if scale is not None else None
        for h, uses_h, targets in self._fade_groups:
            sel = uses_h[act]  # the courses with an effect of this half-life
            if not sel.any():
                continue
            rows_h, act_h = rows[sel], act[sel]
            scale_h = scale[sel] if scale is not None else None
            for k, sizes, uses, every in targets:
                r, a, sc = rows_h, act_h, scale_h
                if not every:  # some of the half-life's actions do not move this target
                    sub = uses[a]
                    r, a, sc = r[sub], a[sub], (sc[sub] if sc is not None else None)
                if sc is not None:  # each student's own size
                    sized = (sizes[a] * sc / self.fade_scale[h]).astype(np.float32)
                else:
                    sized = (sizes / self.fade_scale[h]).astype(np.float32)[a]
                np.add.at(self.residual[h, k], r, sized)

    def close_leavers(self) -> None:
        """Close the open cases of students who are no longer on roll (outcome "left")."""
        c = self.cases
        gone = np.flatnonzero((self.model.students.status[c.row] != ENROLLED) & (c.status != CLOSED))
        if len(gone):
            self._close(gone, self.model.week_index, "left")

    def _evaluate(self, due: np.ndarray, triggers: list[str]) -> dict[str, np.ndarray]:
        """Every expression this week needs (goals of the ``due`` cases, the due ``triggers``,
        priorities) in one pass, so rules they share (``at_risk`` in a trigger, a goal and a
        priority) run once."""
        c = self.cases
        needed = {}
        for key in _present(self._key(due), len(self.step_of_key)):
            w, i = self.step_of_key[key]
            goal = self.policy.workflows[w].steps[i].goal
            if goal is not None:
                needed[f"goal:{key}"] = goal
        # open cases may be queued this week (escalation, decline): their workflows need priorities
        queued_wf: set[int] | None = None
        for w, wf in enumerate(self.policy.workflows):
            if wf.trigger in triggers:
                needed[f"rule:{wf.trigger}"] = self.policy.rules[wf.trigger]
            if wf.priority is None:
                continue
            if wf.trigger not in triggers and queued_wf is None:
                queued_wf = set(_present(c.wf[c.status != CLOSED], len(self.n_steps)).tolist())
            if wf.trigger in triggers or (queued_wf is not None and w in queued_wf):
                needed[f"priority:{w}"] = wf.priority
        if not needed:
            return {}
        return evaluate_rules(needed, self.ctx, len(self.model.students), scores_as_computed=True)

    def _review(self, now: int, due: np.ndarray, values: dict[str, np.ndarray]) -> None:
        c = self.cases
        if len(due) == 0:
            return
        minutes, cost = self._spent(due)
        self._event("reviewed", due, minutes=minutes, cost=cost)
        if self.choosers is not None:
            self.choosers.reviewed(due)
        self._end_course(due, now)
        # the course is over: a case its review closes must not end it (and store its fading
        # effects) a second time in _close, which ends the course of a case closed mid-course
        c.status[due] = QUEUED
        met = np.zeros(len(due), dtype=bool)
        key = self._key(due)
        for k in _present(key, len(self.step_of_key)):
            goal = values.get(f"goal:{k}")
            if goal is not None:
                sel = key == k
                met[sel] = goal[c.row[due[sel]]]
        done = due[met]
        if len(done):
            snapshot = self._event("goal_met", done)
            self._close(done, now, "goal_met", waiting=True, snapshot=snapshot)
        self._advance(due[~met], now)

    def _advance(self, idx: np.ndarray, now: int) -> None:
        """Escalate to the next step, or close as unresolved past the last step."""
        if len(idx) == 0:
            return
        c = self.cases
        n_steps = self.n_steps[0] if len(self.n_steps) == 1 else self.n_steps.take(c.wf[idx])
        last = c.step[idx] + 1 >= n_steps
        self._close(idx[last], now, "unresolved", waiting=True)  # reviewed or declined
        nxt = idx[~last]
        if len(nxt):
            self._event("escalated", nxt)  # recorded at the step being left
            c.step[nxt] += 1
            c.status[nxt] = QUEUED
            c.queued_at[nxt] = now
            c.action[nxt] = self.action_of_key[self._key(nxt)]
            self._assign(nxt, now)
            self._event("queued", nxt)

    def _trigger(self, now: int, due: list[str], values: dict[str, np.ndarray]) -> None:
        """Refer the students the ``due`` triggers flag; close waiting cases they no longer flag."""
        if not due:
            return
        wfs = self.policy.workflows
        t = self.model.students
        flags = self.policy.trigger_flags(due, {n: values[f"rule:{n}"] for n in due}, t)
        any_flag = (next(iter(flags.values())) if len(flags) == 1
                    else np.logical_or.reduce(list(flags.values())))
        self._flags += self._flagged_per_school(any_flag)
        # the rows each trigger flags, found once (a trigger may serve several workflows) and
        # only where they are few (see below)
        flagged_rows: dict[str, np.ndarray] = {}
        c = self.cases
        waiting = np.flatnonzero((c.status == QUEUED) & (c.step == 0))
        for w, wf in enumerate(wfs):
            if wf.trigger in due and wf.leave_queue_when_clear and len(waiting):
                sel = waiting if len(wfs) == 1 else waiting[c.wf[waiting] == w]
                clear = sel[~flags[wf.trigger][c.row[sel]]]
                if len(clear):
                    self._close(clear, now, "cleared", waiting=True)
        for w, wf in enumerate(wfs):
            if wf.trigger not in due:
                continue
            f = flags[wf.trigger]
            if 16 * np.count_nonzero(f) > len(t):
                # many flagged (a weekly rule: 15-20% of the students): one pass over the
                # referral weeks and the sparse rows of what is left, rather than finding,
                # gathering and compressing every flagged row (the same rows, in order)
                referable = self.referable_from[w] <= now
                referable &= f
                if self.eligibility is not None:  # else everyone is eligible from week 0
                    referable &= self.eligible_from <= now
                new_rows = np.flatnonzero(referable)
            else:
                flagged = flagged_rows.get(wf.trigger)
                if flagged is None:
                    flagged = flagged_rows[wf.trigger] = np.flatnonzero(f)
                referable = self.referable_from[w][flagged] <= now
                if self.eligibility is not None:
                    referable &= self.eligible_from[flagged] <= now
                new_rows = flagged[referable]
            if len(new_rows) == 0:
                continue
            self.referable_from[w][new_rows] = OPEN
            uid = t.uid[new_rows]
            tie = self.model.crn.bits(f"policy.tie.{wf.name}", 0, uid) >> np.uint64(32)
            school = t.school[new_rows]
            serial = self._new_serials(len(new_rows))
            self._case_keys.append((uid, school, np.full(len(uid), w, dtype=np.int16)))
            idx = self.cases.append(
                serial=serial, uid=uid, row=new_rows, school=school, wf=w, step=0, status=QUEUED,
                queued_at=now, priority=0.0, tie=tie, action=self.step_action[w, 0], source=0,
                start=-1, end=-1, spent_minutes=0.0, spent_cost=0.0, slot=-1,
                **{k: 0.0 for k in self._extra_columns})
            self._assign(idx, now)
            self._referrals += self._per_school(new_rows)
            snapshot = self._event("flagged", idx)
            self._event("queued", idx, snapshot=snapshot)

    def _prioritise(self, values: dict[str, np.ndarray]) -> np.ndarray:
        """Set the queued cases' priorities; returns the queued cases."""
        c = self.cases
        queued = np.flatnonzero(c.status == QUEUED)
        if len(queued) == 0:
            return queued
        for w, wf in enumerate(self.policy.workflows):
            if wf.priority is None:
                continue
            sel = queued if len(self.n_steps) == 1 else queued[c.wf[queued] == w]
            if len(sel):
                value = values[f"priority:{w}"][c.row[sel]]
                if value.dtype.kind == "f":  # (a count, an integer, has no NaN)
                    value = np.where(np.isnan(value), -np.inf, value)
                c.priority[sel] = value
        return queued

    def _offer(self, idx: np.ndarray, now: int) -> np.ndarray:
        """Take-up draws for cases that may be offered a place this week: True = accepts.

        Keyed by (workflow, step, week, uid), so the answer does not depend on who else queues.
        """
        c = self.cases
        decisions = self._take_up_decisions
        if decisions is None:
            decisions = self._take_up_decisions = [
                f"policy.take_up.{self.policy.workflows[w].name}.{i}" for w, i in self.step_of_key]
        u = self.model.crn.uniform_each(decisions, now, self._key(idx), c.uid[idx])
        return u < self.take_up.take(c.action[idx])

    def _start(self, idx: np.ndarray, now: int, source: int) -> None:
        if len(idx) == 0:
            return
        c = self.cases
        c.status[idx] = ACTIVE
        c.start[idx] = now
        c.end[idx] = now + self.weeks_of_key[self._key(idx)]
        c.source[idx] = source
        # the running case's place in _running's count by school, source and action
        c.slot[idx] = (c.school[idx] * 2 + source) * len(self.minutes) + c.action[idx]
        if self._slot_counts is not None:
            self._slot_counts += np.bincount(c.slot[idx], minlength=len(self._slot_counts))
        np.add.at(self.model.students.interventions, c.row[idx], np.int16(1))
        if self.choosers is not None:
            self.choosers.started(idx)
        self._event("started", idx)

    def _decline(self, idx: np.ndarray, now: int) -> None:
        if len(idx):
            self._event("declined", idx)
            self._advance(idx, now)

    def _start_automated(self, now: int) -> None:
        if not self._any_automated:
            return
        c = self.cases
        queued = np.flatnonzero((c.status == QUEUED) & self.automated.take(c.action))
        if len(queued):
            accept = self._offer(queued, now)
            self._start(queued[accept], now, SCHOOL)
            self._decline(queued[~accept], now)

    def _prepare_queue(self, now: int, queued: np.ndarray | None = None) -> None:
        """This week's staff queue: the cases waiting for staff (ordered when allocated).
        ``queued``: every queued case, if the caller has just found them (none automated)."""
        c = self.cases
        if queued is not None and not self._any_automated:
            self._waiting = queued
        else:
            waiting = c.status == QUEUED
            if self._any_automated:
                waiting &= ~self.automated.take(c.action)
            self._waiting = np.flatnonzero(waiting)
        self._queue_declined: list[np.ndarray] = []
        self._offered = np.zeros(len(c), dtype=bool)  # declined an offer this week
        self._queue_as_prepared = True  # until an allocation starts or offers a case

    def _candidates(self, available: np.ndarray, group: np.ndarray | None) -> np.ndarray:
        """Waiting cases that could be served: none of the roles they need is full where they
        would be served. (A case that cannot be served this week does not hold up the queue for
        its other roles; with the one-role catalogue actions that changes nothing.)"""
        c = self.cases
        q = self._waiting
        if self._queue_as_prepared:  # the week's first allocation: all queued, none offered
            self._queue_as_prepared = False  # (two gathers over the queue spared)
        else:
            still = c.status[q] == QUEUED
            still &= ~self._offered[q]
            if not still.all():
                q = q[still]
        if len(q) == 0:
            return q
        closed = available < self._min_need  # (groups, roles): not even the smallest case fits
        if not closed.any():
            return q
        # (groups, actions): some role the action needs has no room left in the group
        blocked = (closed @ self._role_use) > 0
        if group is None:
            return q[~blocked[0].take(c.action[q])]
        return q[~blocked.ravel().take(group[q] * blocked.shape[1] + c.action[q])]

    def _running(self) -> tuple[np.ndarray, np.ndarray]:
        """The running cases, and :meth:`_running_counts`."""
        return np.flatnonzero(self.cases.status == ACTIVE), self._running_counts()

    def _running_counts(self) -> np.ndarray:
        """How many cases run in each school, by source and action (minutes by role are then
        a small matrix product with ``self.minutes``). Read only: the array is kept up to date
        as cases start and end; counted from the case table (one bincount) when it is not."""
        n_schools, n_actions = len(self.school_capacity), len(self.minutes)
        counts = self._slot_counts
        if counts is None:
            c = self.cases
            active = np.flatnonzero(c.status == ACTIVE)
            counts = np.bincount(c.slot[active], minlength=n_schools * 2 * n_actions)
            self._slot_counts = counts
        return counts.reshape(n_schools, 2, n_actions)

    def _measure_use(self) -> None:
        """Staff minutes already committed this week to running cases, by source."""
        counts = self._running_counts()
        self._used_school[:] = counts[:, SCHOOL] @ self.minutes
        self._used_pool[:] = counts[:, POOL].sum(axis=0) @ self.minutes

    def _allocate(self, candidates: np.ndarray, accepted: np.ndarray, available: np.ndarray,
                  group: np.ndarray, source: int) -> np.ndarray:
        """Serve queued cases in the given order (by group, then priority) while every role
        they need has minutes left in their group; returns minutes used, per group and role.

        ``available`` has one row per group (a school, or the single pool). A case that does
        not fit keeps its place: no one behind it for the same role jumps ahead. A student who
        is offered a place (it would fit) and declines it frees the place for the next.
        """
        used = np.zeros(available.shape)  # (float64, as the minutes; np.zeros_like costs 10x)
        if len(candidates) == 0:
            return used
        c = self.cases
        act = c.action[candidates].astype(np.intp)  # (int16 indices: numpy's slow gathers)
        new_group = np.empty(len(group), dtype=bool)  # the first case of each group
        new_group[0] = True
        np.not_equal(group[1:], group[:-1], out=new_group[1:])
        starts = np.flatnonzero(new_group)
        sizes = np.empty_like(starts)  # (np.diff with append= costs 5x these two passes)
        np.subtract(starts[1:], starts[:-1], out=sizes[:-1])
        sizes[-1] = len(candidates) - starts[-1]
        # the roles the cases' actions use, one row each: every step below is one call for all
        # of them (a row's sums are the ones a pass per role made, in the same order)
        roles = self._roles_used(_present(act, len(self.minutes)))
        full = self._minutes_by_role[roles].take(act, axis=1)  # minutes a case takes, by role
        need = full * accepted  # ... if it accepts
        before = np.cumsum(need, axis=1)
        before -= need  # minutes taken by those ahead (whole order)
        ahead = before - np.repeat(before[:, starts], sizes, axis=1)  # ... within the group
        room = (available[:, roles] + 1e-9).T.take(group, axis=1)  # (sums per group, gathered)
        ahead += full
        fit = ahead <= room
        fit |= full <= 0
        fits = fit.all(axis=0)
        # a case is offered a place when it would fit; it takes it up or declines
        served = np.flatnonzero(fits & accepted)  # (positions, found once for four gathers)
        declined = candidates[fits & ~accepted]
        self._start(candidates[served], self.model.week_index, source)
        self._queue_declined.append(declined)
        self._offered[declined] = True
        group_served = group[served]
        for j, r in enumerate(roles):
            used[:, r] = np.bincount(group_served, weights=need[j][served], minlength=len(used))
        return used

    def _roles_used(self, actions: np.ndarray) -> np.ndarray:
        """The roles (ascending) that any of ``actions`` (distinct, ascending) takes minutes
        of: the same few sets of actions queue every week, so each set's roles are found once."""
        key = actions.tobytes()
        roles = self._roles_of_actions.get(key)
        if roles is None:
            roles = np.flatnonzero((self.minutes[actions] != 0).any(axis=0))
            self._roles_of_actions[key] = roles
        return roles

    def allocate_schools(self) -> None:
        """Every school agent serves its own queue from its own staff (one vectorised pass)."""
        if self.mode == "pool_only":
            return
        c = self.cases
        avail = self.school_capacity - self._used_school
        q = self._candidates(avail, c.school)
        if len(q) == 0:
            return
        q = q[queue_order(c.school[q], c.priority[q], c.tie[q])]
        acc = self._offer(q, self.model.week_index)
        self._used_school += self._allocate(q, acc, avail, c.school[q].astype(np.int64), SCHOOL)

    def allocate_pool(self) -> None:
        """The pool serves one trust-wide queue, in priority order, from its shared staff."""
        if not self.pool_capacity.any():
            return
        c = self.cases
        avail = (self.pool_capacity - self._used_pool)[None, :]
        q = self._candidates(avail, None)
        if len(q) == 0:
            return
        q = q[queue_order(None, c.priority[q], c.tie[q])]
        acc = self._offer(q, self.model.week_index)
        used = self._allocate(q, acc, avail, np.zeros(len(q), dtype=np.int64), POOL)
        self._used_pool += used[0]

    def pool_minutes_left(self) -> dict[str, float]:
        """Minutes of each pool role not used by student cases this week (request streams may
        use them)."""
        left = self.pool_capacity - self._used_pool
        return {role: float(m) for role, m in zip(self.policy.roles, left, strict=True)}

    # ------------------------------------------------------------------ effects
    def apply(self) -> None:
        """Charge this week's staff time and cost, record waiting, set next week's effects."""
        now = self.model.week_index
        t, c = self.model.students, self.cases
        if self._queue_declined:
            self._decline(np.concatenate(self._queue_declined), now)
            self._queue_declined = []
        self._store_ended()
        status = c.status
        queued = np.flatnonzero(status == QUEUED)
        if len(queued):
            np.add.at(t.weeks_waited, c.row[queued], np.int16(1))
        active, counts = self._running()
        used_school = counts[:, SCHOOL] @ self.minutes
        used_pool_by_school = counts[:, POOL] @ self.total_minutes
        self._charged_week = now  # the running cases are charged this week, below
        scales = self.fade_scale.astype(np.float32)
        for k in self._targets_used:  # the fading effects of actions that have ended ...
            eff, store = getattr(t, f"eff_{k}"), self.residual[:, LEVEL_TARGETS.index(k)]
            if len(store) == 0:
                eff[:] = 0.0
                continue
            np.multiply(store[0], scales[0], out=eff)
            if len(store) > 1:
                scratch = self._scratch(len(eff))
                for h in range(1, len(store)):
                    eff += np.multiply(store[h], scales[h], out=scratch)
        if len(active):  # ... and the effects of those running
            # the action as a platform index: gathering from the small per-action tables with
            # int16 indices takes numpy's slow path (about 3x the time, for each of ~8 gathers)
            rows, act = c.row[active], c.action[active].astype(np.intp)
            if not self._charge_by_weeks:  # (else the weeks charged give them: _spent)
                c.spent_minutes[active] += self.total_minutes[act]
                c.spent_cost[active] += self.cost[act]
            np.add.at(t.staff_minutes, rows, self._total_t[act])
            np.add.at(t.cost, rows, self._cost_t[act])
            on = None  # every running case's effects have begun
            if self._onset_all is not None:
                if self._onset_all > 0:
                    on = c.start[active] <= now - self._onset_all
            elif self._any_onset:
                on = now - c.start[active] >= self.onset[act]
            on_idx = None if on is None else np.flatnonzero(on)  # (found once: 2-3 gathers)
            if on_idx is None or len(on_idx):
                r_on, a_on = (rows, act) if on_idx is None else (rows[on_idx], act[on_idx])
                scale = None
                if self.modifiers.any:
                    scale = c.scale[active if on_idx is None else active[on_idx]]
                present = _present(a_on, len(self.minutes))
                for k in self._targets_used:
                    if self.level[k][present].any():
                        eff = getattr(t, f"eff_{k}")
                        size = (self.level[k][a_on] * scale).astype(eff.dtype) if scale is not None \
                            else self._level_t[k][a_on]
                        np.add.at(eff, r_on, size)
                for target, store in (("attainment", t.attainment), ("reading", t.reading_age)):
                    if not self._gain_per_week[target][present].any():
                        continue
                    per_week = self._gain_per_week[target][a_on]
                    if per_week.any():
                        if scale is not None:
                            per_week = per_week * scale
                        np.add.at(store, r_on, per_week.astype(store.dtype))
                        self.delivered.add(target, r_on, per_week)
        n_schools = len(self.school_capacity)
        # cases by school and status after declines and escalations: the running ones are
        # counted by _running, the queued ones by their schools, the rest are closed
        n_closed = len(c) - len(active) - len(queued)
        self._week_report = {
            "flags": self._flags.copy(),
            "referrals": self._referrals.copy(),
            "active_cases": counts.reshape(n_schools, -1).sum(axis=1),
            "queue_length": np.bincount(c.school[queued], minlength=n_schools),
            "staff_minutes_used": used_school.sum(axis=1),
            "staff_minutes_available": self.school_capacity.sum(axis=1),
            "pool_minutes_used": used_pool_by_school,
        }
        for r, role in enumerate(self.policy.roles):
            self._week_report[f"minutes_used_{role}"] = used_school[:, r]
            self._week_report[f"minutes_available_{role}"] = self.school_capacity[:, r]
        self._week_report.update(self.delivered.weekly_report())
        self.delivered.new_week()
        if 4 * n_closed > len(c):
            c.keep(c.status != CLOSED)  # drop closed cases once they are a quarter; events keep the history

    @property
    def pool_minutes_used(self) -> np.ndarray:
        """The trust pool's minutes used this week by role (``policy.roles`` order); their sum
        is the week report's ``pool_minutes_used`` summed over schools."""
        return self._used_pool.copy()

    def finish(self) -> None:
        """The run ends: cases still open report the minutes and cost of their current step."""
        self._store_ended()
        c = self.cases
        open_ = self._open()
        active = c.status[open_] == ACTIVE
        spent_minutes, spent_cost = self._spent(open_)
        self._event("open_at_end", open_, minutes=np.where(active, spent_minutes, 0.0),
                    cost=np.where(active, spent_cost, 0.0), outcome="open")

    def weekly_report(self) -> dict[str, np.ndarray]:
        return self._week_report

    # ------------------------------------------------------------------ outputs
    def pseudonyms(self, uid: np.ndarray) -> np.ndarray:
        """Keyed pseudonyms (HMAC-SHA256) for student ids: no raw uid leaves a school."""
        from srmsim.privacy import pseudonymise

        return np.asarray(pseudonymise(uid, self._pseudonym_key, "student"))

    def pseudonym_column(self, uid: np.ndarray) -> pd.api.extensions.ExtensionArray:
        """:meth:`pseudonyms` of ``uid`` as a table column (pandas' own strings, as a column of
        Python str gets), for tables of millions of rows: each student hashed once per run,
        and no numpy fixed-width strings for pandas to convert (at 1M students with a policy,
        2.4 s of hashing and 1.0 s of conversion, a third of the run)."""
        return self._pseudonym_text(uid).to_pandas().array

    def _pseudonym_text(self, uid: np.ndarray) -> pa.Array:
        """The pseudonyms of ``uid`` (any order, repeats allowed) as an Arrow string array."""
        import pyarrow as pa

        from srmsim.privacy import pseudonymise_ids

        uid = np.asarray(uid, dtype=np.int64).ravel()
        if np.all(uid[1:] > uid[:-1]):  # distinct and sorted (a roll of uids)
            ids, inverse = uid, None
        else:
            ids, inverse = np.unique(uid, return_inverse=True)
        known, text = self._pseudonym_memo or (np.zeros(0, dtype=np.int64),
                                               pa.array([], type=pa.string()))
        pos = np.minimum(np.searchsorted(known, ids), max(len(known) - 1, 0))
        found = (known[pos] == ids) if len(known) else np.zeros(len(ids), dtype=bool)
        if not found.all():
            new = ~found
            text = pa.concat_arrays([text, pseudonymise_ids(ids[new], self._pseudonym_key,
                                                           "student")])
            pos = np.where(found, pos, len(known) + np.cumsum(new) - 1)
            merged = np.concatenate([known, ids[new]])
            order = np.argsort(merged, kind="stable")
            self._pseudonym_memo = (merged[order], text.take(order))
        out = text.take(pos)
        return out if inverse is None else out.take(inverse)

    def events(self) -> pd.DataFrame:
        cols = ["week", "year", "run_week", "school", "student", "workflow", "step", "event",
                "action", "role", "minutes", "cost", "outcome"]
        if not self._events:
            return pd.DataFrame({k: pd.Series(dtype="object") for k in cols})
        import pyarrow as pa

        blocks = self._events
        sizes = np.array([len(b[3][0]) for b in blocks])
        week = np.repeat(np.array([b[0] for b in blocks], dtype=np.int64), sizes)
        code = np.repeat(np.array([b[1] for b in blocks], dtype=np.int8), sizes)
        outcome = np.repeat(np.array([b[2] for b in blocks], dtype=np.int8), sizes)
        serial, step, action = (np.concatenate([b[3][j] for b in blocks]) for j in range(3))
        # the case's fixed columns, by serial: its uid only through the pseudonyms (cases, not
        # events: a student's text made once and taken for each of their events)
        case_uid, school, wf = (np.concatenate([k[j] for k in self._case_keys])
                                for j in range(3))
        school, wf = school[serial], wf[serial]
        # 64-bit offsets before the take: beyond 2 GB of text (134M events) 32-bit ones overflow
        pids = self._pseudonym_text(case_uid).cast(pa.large_string()).take(serial)
        pids = pids.to_pandas().array
        minutes = np.empty(len(serial))
        cost = np.empty(len(serial))
        ends = np.cumsum(sizes)
        for b, stop, k in zip(blocks, ends, sizes, strict=True):
            minutes[stop - k:stop] = b[4]
            cost[stop - k:stop] = b[5]
        roles = pa.array([*self.policy.roles, ""], type=pa.large_string())  # "": automated
        role = np.where(self.automated[action], len(self.policy.roles),
                        self.primary_role[action]).astype(np.int32)
        wf_names = [w.name for w in self.policy.workflows]
        frame = pd.DataFrame({
            "week": week % calendar.WEEKS_PER_YEAR,
            "year": week // calendar.WEEKS_PER_YEAR,
            "run_week": week,
            "school": school.astype(np.int32),
            "student": pids,
            "workflow": pd.Categorical.from_codes(wf.astype(np.int16), wf_names),
            "step": step.astype(np.int16) + 1,
            "event": pd.Categorical.from_codes(code, list(EVENTS)),
            "action": pd.Categorical.from_codes(action, self.policy.action_names),
            "role": roles.take(role).to_pandas().array,
            "minutes": minutes,
            "cost": cost,
            "outcome": pd.Categorical.from_codes(outcome, list(OUTCOMES)),
        }, copy=False)  # the columns as made: no copy into blocks of like columns (1 GB of
        # fresh pages for the 25M events of a national run)
        if self.choosers is not None:
            self.choosers.mark_events(frame)
        return frame
