"""Choosing the action for each referral to a step with candidate actions, and learning to.

Choosers (``chooser.kind`` in the step): ``fixed`` (the step's action), ``random`` (uniform over
the candidates, a CRN draw keyed by workflow, step, week and student), ``rule`` (the first
candidate whose expression holds), ``learned`` and ``oracle`` (the simulator's truth, a
benchmark only).

The learned chooser is a regularised T-learner: one Bayesian ridge regression
(:class:`sklearn.linear_model.BayesianRidge`) per candidate action of the change in the step's
``measure`` over the step on the profile ``features`` when the action starts. Its training data
come only from the records schools send the pool when a step is reviewed: a keyed-hash
pseudonym, the school, the features at the start, the action and the observed change since the
start -- no uid, no latent field,
no oracle value. At each refit (term or half-term end) it fits on the last ``history_terms``
terms of records, from all schools (``data: pooled``) or each school's own (``data: own``).
Each referral then gets the candidate with the largest predicted gain per staff minute among the
actions its school has staff for; a share ``exploration`` (and every referral while an action has
fewer than ``min_cases`` records) is allocated at random instead, recorded as ``explore``, so the
effects stay identifiable. With ``exploration: thompson`` there is no random share: each choice
is made on a gain drawn from the model's posterior (Thompson sampling, recorded as ``thompson``).
Each week the referrals waiting at a learned step are then allocated jointly within each role's
free staff minutes (:meth:`Choosers.plan_week`, :mod:`srmsim.policy.allocation`).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from srmsim import calendar
from srmsim.errors import SrmsimError
from srmsim.policy.compiled import ChoiceStep

if TYPE_CHECKING:
    from srmsim.policy.engine import PolicyEngine

#: how an action was chosen, as recorded in the decisions table
HOW = ("fixed", "random", "rule", "learned", "explore", "oracle", "thompson")
TRAINING_COLUMNS = ("pid", "school", "week", "action", "gain")  # + the features


def oracle_matched(decisions: pd.DataFrame) -> pd.Series:
    """Per decision: the action chosen is as good per staff minute as the oracle's (ties with
    the oracle's action count as matched: it had nothing better)."""
    return decisions["gain_per_minute"] >= decisions["oracle_gain_per_minute"] - 1e-12


class Posterior(NamedTuple):
    """One action's fitted Bayesian ridge regression: the posterior mean (``coef``,
    ``intercept``), the training features' mean ``x_mean``, the square root of the
    coefficients' posterior covariance (``root @ root.T``) and the standard error of the mean
    gain at ``x_mean`` (noise variance / records)."""

    coef: np.ndarray
    intercept: float
    x_mean: np.ndarray
    root: np.ndarray
    y_se: float


class StepLearner:
    """The pool's model of one step: records received, fits, predictions."""

    def __init__(self, step: ChoiceStep, n_schools: int):
        self.step = step
        self.config = step.chooser
        self.features = list(self.config.features)
        self.records: list[pd.DataFrame] = []
        # (group -> {action id: posterior}); group -1 = the pool's trust-wide model
        self.models: dict[int, dict[int, Posterior]] = {}
        #: per group, the features' mean over its training records (every action's): a feature
        #: a referral lacks counts as this, the same value for every action it is compared on
        self.fill: dict[int, np.ndarray] = {}
        self.fits: list[dict] = []
        self.n_schools = n_schools

    def receive(self, record: pd.DataFrame) -> None:
        """A school's pseudonymised records of reviewed cases (see TRAINING_COLUMNS)."""
        if len(record):
            self.records.append(record)

    def training_frame(self, now: int) -> pd.DataFrame:
        """The records of the last ``history_terms`` terms, in an order set by their content
        (week, school, action, gain, features), never by the pseudonym: a trust built from real
        records has a random pseudonym key each run, and ordering by it changed the fit's
        rounding, so the same seed gave other predicted gains (and, at a near tie, choices)."""
        cols = [*TRAINING_COLUMNS, *self.features]
        if not self.records:
            return pd.DataFrame({c: [] for c in cols})
        frame = pd.concat(self.records, ignore_index=True)
        oldest = now - self.config.history_terms * 13
        frame = frame[frame["week"] >= oldest]
        self.records = [frame]
        order = ["week", "school", "action", "gain", *self.features]
        return frame.sort_values(order, kind="stable").reset_index(drop=True)

    def refit(self, now: int) -> None:
        from sklearn.linear_model import BayesianRidge

        frame = self.training_frame(now)
        # only records with a finite gain and features: a measure such as "1 / incidents_term"
        # gives an infinite change at a student's first incident, and the fit raised on it
        # (a traceback ended the run)
        values = frame[[*self.features, "gain"]].to_numpy(dtype=np.float64)
        frame = frame[np.isfinite(values).all(axis=1)]
        groups = ([(-1, frame)] if self.config.data == "pooled"
                  else [(int(s), f) for s, f in frame.groupby("school", sort=True)])
        self.models = {}
        self.fill = {}
        for group, data in groups:
            fitted = {}
            for a in self.step.candidates:
                own = data[data["action"] == a]
                if len(own) < self.config.min_cases:
                    continue
                x = own[self.features].to_numpy(dtype=np.float64)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    m = BayesianRidge().fit(x, own["gain"].to_numpy(dtype=np.float64))
                fitted[a] = posterior(m, x)
            self.models[group] = fitted
            if len(fitted) == len(self.step.candidates):  # else predict() skips the group
                self.fill[group] = data[self.features].to_numpy(dtype=np.float64).mean(axis=0)
        self.fits.append({"week": now, "records": len(frame),
                          "groups": sum(len(f) == len(self.step.candidates)
                                        for f in self.models.values())})

    def predict(self, x: np.ndarray, school: np.ndarray, z: np.ndarray | None = None
                ) -> np.ndarray:
        """Predicted gain of each candidate (rows x candidates); NaN where no model yet.

        With ``z`` (rows x candidates x (1 + features) standard normals) each row's gain is
        instead drawn from the posterior: a Thompson sample, one per referral and action.

        A feature not known yet (no reading test, no session this school year) counts as its
        mean over the training records of every action, so each action is predicted for the
        same student: as 0 it was read as a value (0% attendance, at reading age) the model
        never saw, and its slope carried the prediction far outside the data."""
        out = np.full((len(x), len(self.step.candidates)), np.nan)
        missing = ~np.isfinite(x)
        if self.config.data == "pooled":
            keys = np.full(len(x), -1)
        else:
            keys = school.astype(np.int64)
        for group in np.unique(keys):
            fitted = self.models.get(int(group), {})
            if len(fitted) < len(self.step.candidates):
                continue  # every candidate needs a model before the chooser trusts any
            sel = keys == group
            xs = np.where(missing[sel], self.fill[int(group)][None, :], x[sel])  # (every action's)
            for j, a in enumerate(self.step.candidates):
                post = fitted[a]
                out[sel, j] = xs @ post.coef + post.intercept
                if z is not None:  # coefficients drawn around their mean, pivoting at x_mean
                    zs = z[sel, j]
                    out[sel, j] += post.y_se * zs[:, 0] + np.einsum(
                        "nd,nd->n", xs - post.x_mean, zs[:, 1:] @ post.root.T)
        return out


def posterior(m, x: np.ndarray) -> Posterior:
    """The posterior of a fitted :class:`~sklearn.linear_model.BayesianRidge` on ``x``."""
    coef = np.asarray(m.coef_, dtype=np.float64)
    x_mean = x.mean(axis=0)
    w, v = np.linalg.eigh(np.asarray(m.sigma_, dtype=np.float64))
    root = v * np.sqrt(np.clip(w, 0.0, None))[None, :]
    return Posterior(coef, float(m.intercept_), x_mean, root,
                     float(np.sqrt(1.0 / (m.alpha_ * len(x)))))


class Choosers:
    """Every choice step of one policy: choosing, recording decisions and training data."""

    def __init__(self, engine: PolicyEngine):
        self.engine = engine
        p = engine.policy
        self.steps = {(w, i): st for w, i, st in p.choice_steps}
        n_schools = len(engine.model.schools)
        self.learners = {k: StepLearner(st, n_schools) for k, st in self.steps.items()
                         if st.chooser.kind == "learned"}
        if self.learners:
            try:
                import sklearn  # noqa: F401
            except ImportError:
                from srmsim.policy.config import LEARNING_MISSING

                raise SrmsimError(LEARNING_MISSING) from None
        self.n_features = max((len(st.chooser.features) for st in self.steps.values()
                               if st.chooser.kind == "learned"), default=0)
        self._decisions: list[dict[str, np.ndarray]] = []

    # ------------------------------------------------------------------ choosing
    def usable(self, school: np.ndarray, candidates: list[int]) -> np.ndarray:
        """(cases x candidates): the school, or the pool, has every role the action needs. One
        source serves a case whole: a role from each (teacher from the school, tutor from the
        pool) never starts, and such a case waited for ever."""
        e = self.engine
        needs = e.minutes[candidates] > 0  # candidates x roles
        in_school = ~(needs[None] & ~(e.school_capacity[school][:, None, :] > 0)).any(axis=2)
        in_pool = ~np.any(needs & ~(e.pool_capacity[None, :] > 0), axis=1, keepdims=True).T
        return in_school | in_pool

    def true_gains(self, rows: np.ndarray, st: ChoiceStep, weeks: int) -> np.ndarray:
        """The simulator's expected gain in the chooser's target (rows x candidates), for a
        student who takes the action up: the effect's course gain times the student's modifier."""
        from srmsim.policy.heterogeneity import course_gain

        e = self.engine
        target = st.chooser.target
        growth = target in ("reading", "attainment")
        size = (e.reading_gain if target == "reading" else e.attainment_gain if
                target == "attainment" else e.level[target])
        out = np.empty((len(rows), len(st.candidates)))
        for j, a in enumerate(st.candidates):
            g = course_gain(target, np.array([size[a]]), np.array([weeks]), e.onset[[a]],
                            e.course_weeks[[a]], growth)[0]
            out[:, j] = g * (e.modifiers.of_action(e.ctx, rows, a) if e.modifiers.terms[a]
                             else 1.0)
        return out

    def per_minute(self, gains: np.ndarray, candidates: list[int], weeks: int) -> np.ndarray:
        minutes = self.engine.total_minutes[candidates] * weeks
        return gains / np.maximum(minutes, 1e-6)[None, :]

    def choose(self, idx: np.ndarray, now: int) -> None:
        """Set the action of newly queued cases ``idx`` at choice steps; record the decisions."""
        e = self.engine
        key = e._key(idx)
        for (w, i), st in self.steps.items():
            sel = idx[key == e.step_key[w] + i]
            if len(sel):
                self._choose_step(sel, w, i, st, now)

    def _choose_step(self, idx: np.ndarray, w: int, i: int, st: ChoiceStep, now: int) -> None:
        e, c = self.engine, self.engine.cases
        crn, name = e.model.crn, e.policy.workflows[w].name
        rows, uid, school = c.row[idx], c.uid[idx], c.school[idx]
        weeks = int(e.step_weeks[w, i])
        usable = self.usable(school, st.candidates)
        kind = st.chooser.kind
        how = np.full(len(idx), HOW.index(kind), dtype=np.int8)
        fixed = st.candidates.index(st.action_id)
        pick = np.full(len(idx), fixed)
        predicted = np.full(len(idx), np.nan)
        if kind == "random":
            pick = self._random(crn, f"policy.choose.{name}.{i}", now, uid, usable)
        elif kind == "rule":
            values = e.evaluate_now({f"c{a}": r for a, r in st.choice_rules.items()})
            chosen = np.zeros(len(idx), dtype=bool)
            for j, a in enumerate(st.candidates):
                if a in st.choice_rules:
                    hit = values[f"c{a}"][rows] & ~chosen & usable[:, j]
                    pick[hit] = j
                    chosen |= hit
        elif kind == "oracle":
            truth = self.per_minute(self.true_gains(rows, st, weeks), st.candidates, weeks)
            pick = np.argmax(np.where(usable, truth, -np.inf), axis=1)
        elif kind == "learned":
            # each referral's own best for now; plan_week then allocates the week's waiting
            # referrals jointly within the staff minutes free
            pred = self._predict(idx, w, i, st, now)
            explore = np.isnan(pred).any(axis=1)
            if st.chooser.exploration != "thompson":
                explore |= (crn.uniform(f"policy.explore.{name}.{i}", now, uid)
                            < st.chooser.exploration)
            ratio = np.where(usable, self.per_minute(pred, st.candidates, weeks), np.nan)
            pick = np.where(explore, self._random(crn, f"policy.choose.{name}.{i}", now, uid,
                                                  usable),
                            np.argmax(np.nan_to_num(ratio, nan=-np.inf), axis=1))
            how[:] = HOW.index(self._learned_how(st))
            how[explore] = HOW.index("explore")
            predicted = np.take_along_axis(pred, pick[:, None], axis=1)[:, 0]
        self._record(idx, w, i, st, pick, how, predicted, now)

    @staticmethod
    def _learned_how(st: ChoiceStep) -> str:
        return "thompson" if st.chooser.exploration == "thompson" else "learned"

    def _predict(self, idx: np.ndarray, w: int, i: int, st: ChoiceStep, now: int
                 ) -> np.ndarray:
        """The learner's gains for cases ``idx`` (cases x candidates; NaN: no model yet): the
        posterior mean, or with ``exploration: thompson`` a draw from the posterior keyed by
        (workflow, step, week, student), so the same referral gets the same draw all week."""
        e, c = self.engine, self.engine.cases
        rows = c.row[idx]
        x = np.column_stack([np.asarray(e.ctx.field(f), dtype=np.float64)[rows]
                             for f in st.chooser.features])
        z = None
        if st.chooser.exploration == "thompson":
            z = self._normals(e.model.crn, f"policy.thompson.{e.policy.workflows[w].name}.{i}",
                              now, c.uid[idx], len(st.candidates), 1 + x.shape[1])
        return self.learners[(w, i)].predict(x, c.school[idx], z)

    def _record(self, idx: np.ndarray, w: int, i: int, st: ChoiceStep, pick: np.ndarray,
                how: np.ndarray, predicted: np.ndarray, now: int) -> None:
        """Give cases ``idx`` candidate ``pick`` and record the decisions with the oracle's."""
        e, c = self.engine, self.engine.cases
        cand = np.asarray(st.candidates)
        rows = c.row[idx]
        weeks = int(e.step_weeks[w, i])
        usable = self.usable(c.school[idx], st.candidates)
        gains = self.true_gains(rows, st, weeks)
        truth = self.per_minute(gains, st.candidates, weeks)
        oracle = np.argmax(np.where(usable, truth, -np.inf), axis=1)
        action = cand[pick]
        c.action[idx] = action
        c.how[idx] = how
        t = e.model.students
        self._decisions.append({
            "run_week": np.full(len(idx), now), "queued_at": c.queued_at[idx].copy(),
            "uid": c.uid[idx], "school": c.school[idx],
            "wf": np.full(len(idx), w), "step": np.full(len(idx), i), "action": action,
            "how": how, "oracle_action": cand[oracle],
            "gain": np.take_along_axis(gains, pick[:, None], axis=1)[:, 0],
            "oracle_gain": np.take_along_axis(gains, oracle[:, None], axis=1)[:, 0],
            "gain_per_minute": np.take_along_axis(truth, pick[:, None], axis=1)[:, 0],
            "oracle_gain_per_minute": np.take_along_axis(truth, oracle[:, None], axis=1)[:, 0],
            "predicted_gain": predicted,
            "fsm": t.fsm[rows].copy(), "sen": t.sen[rows].copy(), "eal": t.eal[rows].copy(),
        })

    # ------------------------------------------------------------------ the week's allocation
    def plan_week(self, now: int) -> None:
        """Allocate the referrals waiting at each learned step jointly within the staff minutes
        free this week (:mod:`srmsim.policy.allocation`): the greedy's allocation replaces a
        case's action (a new decision is recorded when it changes); cases it cannot fit keep
        theirs and wait. Explored cases keep their random action; their minutes count as taken.

        Free minutes: each school's (and the pool's) staff, less what running cases hold and what
        cases waiting at other steps, or explored here, need. Queue order (priority, then the
        tie draw) breaks ties, and who is served stays the queue's business, as for any step."""
        from srmsim.policy.allocation import greedy_allocation
        from srmsim.policy.engine import QUEUED, queue_order

        e, c = self.engine, self.engine.cases
        for (w, i), learner in self.learners.items():
            st = learner.step
            waiting = np.flatnonzero((c.status == QUEUED) & (c.wf == w) & (c.step == i))
            waiting = waiting[c.how[waiting] != HOW.index("explore")]
            if len(waiting) == 0:
                continue
            cand = np.asarray(st.candidates)
            need = np.where(e.automated[cand][:, None], 0.0, e.minutes[cand])
            school_free, pool_free = self._settle(*self.free_minutes(waiting))
            # (schools, candidates): the school, or else the pool, has room for the candidate
            in_school = np.all(need[None] <= school_free[:, None, :] + 1e-9, axis=2)
            in_pool = np.all(need <= pool_free[None, :] + 1e-9, axis=1)
            room = np.logical_or(in_school, in_pool[None, :])
            waiting = waiting[room[c.school[waiting]].any(axis=1)]
            if len(waiting) == 0:
                continue
            waiting = waiting[queue_order(c.school[waiting], c.priority[waiting],
                                          c.tie[waiting])]
            pred = self._predict(waiting, w, i, st, now)
            usable = self.usable(c.school[waiting], st.candidates)
            value = np.where(usable & ~np.isnan(pred), pred, np.nan)
            pick = greedy_allocation(value, need, c.school[waiting].astype(np.int64),
                                     school_free, pool_free)
            changed = (pick >= 0) & (cand[np.maximum(pick, 0)] != c.action[waiting])
            if not changed.any():
                continue
            idx, pick = waiting[changed], pick[changed]
            how = np.full(len(idx), HOW.index(self._learned_how(st)), dtype=np.int8)
            predicted = np.take_along_axis(pred[changed], pick[:, None], axis=1)[:, 0]
            self._record(idx, w, i, st, pick, how, predicted, now)
            if e.modifiers.any:
                c.scale[idx] = e.modifiers.scale(e.ctx, c.row[idx], c.action[idx])

    def free_minutes(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Minutes per school and role (and per role in the pool) this week's staff have beyond
        the running cases and the cases waiting outside ``batch``: may be negative."""
        from srmsim.policy.engine import POOL, QUEUED, SCHOOL

        e, c = self.engine, self.engine.cases
        counts = e._running_counts()
        school_free = e.school_capacity - counts[:, SCHOOL] @ e.minutes
        pool_free = e.pool_capacity - counts[:, POOL].sum(axis=0) @ e.minutes
        waiting = np.flatnonzero(c.status == QUEUED)
        waiting = waiting[~np.isin(waiting, batch) & ~e.automated[c.action[waiting]]]
        np.subtract.at(school_free, c.school[waiting], e.minutes[c.action[waiting]])
        return school_free, pool_free

    @staticmethod
    def _settle(school_free: np.ndarray, pool_free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What a school cannot cover falls to the pool; nothing is below zero."""
        short = np.clip(-school_free, 0.0, None).sum(axis=0)
        return np.clip(school_free, 0.0, None), np.clip(pool_free - short, 0.0, None)

    @staticmethod
    def _normals(crn, decision: str, now: int, uid: np.ndarray, n_actions: int, k: int
                 ) -> np.ndarray:
        """Standard normals (cases x actions x k) keyed by decision, week and student."""
        return np.stack([np.stack([crn.normal(f"{decision}.{a}.{j}", now, uid)
                                   for j in range(k)], axis=1) for a in range(n_actions)],
                        axis=1).astype(np.float64)

    @staticmethod
    def _random(crn, decision: str, now: int, uid: np.ndarray, usable: np.ndarray) -> np.ndarray:
        """A uniform draw over each case's usable candidates (CRN keyed by uid)."""
        u = crn.uniform(decision, now, uid)
        n = usable.sum(axis=1)
        k = np.minimum((u * np.maximum(n, 1)).astype(np.int64), np.maximum(n - 1, 0))
        order = np.cumsum(usable, axis=1) - 1  # rank of each usable candidate
        pick = np.argmax((order == k[:, None]) & usable, axis=1)
        return np.where(n > 0, pick, 0)

    # ------------------------------------------------------------------ learning
    def started(self, idx: np.ndarray) -> None:
        """Cases that start a choice step: remember the measure and features at the start."""
        e, c = self.engine, self.engine.cases
        key = e._key(idx)
        for (w, i), st in self.steps.items():
            if (w, i) not in self.learners:
                continue
            sel = idx[key == e.step_key[w] + i]
            if len(sel) == 0:
                continue
            rows = c.row[sel]
            c.measure0[sel] = e.evaluate_now({"m": st.measure})["m"][rows]
            for j, f in enumerate(st.chooser.features):
                getattr(c, f"x{j}")[sel] = np.asarray(e.ctx.field(f), dtype=np.float64)[rows]

    def reviewed(self, due: np.ndarray) -> None:
        """Steps reviewed this week: each school sends the pool a pseudonymised record per case."""
        e, c = self.engine, self.engine.cases
        key = e._key(due)
        for (w, i), learner in self.learners.items():
            sel = due[key == e.step_key[w] + i]
            if len(sel) == 0:
                continue
            st = learner.step
            with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: not a gain (refit)
                gain = e.evaluate_now({"m": st.measure})["m"][c.row[sel]] - c.measure0[sel]
            record = {"pid": e.pseudonyms(c.uid[sel]), "school": c.school[sel].astype(np.int64),
                      "week": np.full(len(sel), e.model.week_index),
                      "action": c.action[sel].astype(np.int64), "gain": gain}
            for j, f in enumerate(st.chooser.features):
                record[f] = getattr(c, f"x{j}")[sel].copy()
            learner.receive(pd.DataFrame(record))

    def refit_due(self, week: int) -> None:
        """Refit the learners due this week; cases still waiting for a learned step are then
        chosen for again with the new model (their earlier decision is superseded)."""
        e = self.engine
        refitted = []
        for (w, i), learner in self.learners.items():
            if calendar.is_due(learner.config.refit, week):
                learner.refit(e.model.week_index)
                refitted.append(e.step_key[w] + i)
        if refitted:
            from srmsim.policy.engine import QUEUED

            c = e.cases
            waiting = np.flatnonzero(c.status == QUEUED)
            waiting = waiting[np.isin(e._key(waiting), refitted)]
            if len(waiting):
                e._assign(waiting, e.model.week_index)

    # ------------------------------------------------------------------ outputs
    def mark_events(self, events: pd.DataFrame) -> None:
        """Add ``chosen_by`` and ``oracle_action`` to the ``queued`` events of choice steps (the
        referral's last decision; empty on other rows), so regret is measurable from events."""
        d = self.decisions()
        how = pd.Series("", index=events.index, dtype=object)
        oracle = pd.Series("", index=events.index, dtype=object)
        if len(d):
            keys = pd.MultiIndex.from_arrays([d["student"], d["workflow"].astype(str),
                                              d["step"].astype(np.int64), d["queued_week"]])
            queued = events.index[events["event"] == "queued"]
            q = events.loc[queued]
            pos = keys.get_indexer(pd.MultiIndex.from_arrays([
                q["student"], q["workflow"].astype(str), q["step"].astype(np.int64),
                q["run_week"].astype(np.int64)]))
            hit = pos >= 0
            how.loc[queued[hit]] = d["how"].astype(str).to_numpy()[pos[hit]]
            oracle.loc[queued[hit]] = d["oracle_action"].astype(str).to_numpy()[pos[hit]]
        events["chosen_by"] = how
        events["oracle_action"] = oracle

    def decisions(self) -> pd.DataFrame:
        """One row per referral to a choice step: what was chosen (the last choice, when a
        waiting case was chosen for again after a refit), how, and the oracle's (truth)."""
        e = self.engine
        cols = ["run_week", "queued_week", "year", "term", "school", "student", "workflow", "step", "action",
                "how", "oracle_action", "gain", "oracle_gain", "regret", "gain_per_minute",
                "oracle_gain_per_minute", "predicted_gain", "fsm", "sen", "eal"]
        if not self._decisions:
            return pd.DataFrame({k: [] for k in cols})
        d = {k: np.concatenate([b[k] for b in self._decisions]) for k in self._decisions[0]}
        # the last decision of each referral (uid, workflow, step, week queued)
        key = np.rec.fromarrays([d["uid"], d["wf"], d["step"], d["queued_at"]])
        _, last = np.unique(key[::-1], return_index=True)
        keep = np.sort(len(key) - 1 - last)
        d = {k: v[keep] for k, v in d.items()}
        week, referred = d["run_week"], d["queued_at"]
        names = e.policy.action_names
        frame = pd.DataFrame({
            "run_week": week, "queued_week": referred,
            "year": referred // calendar.WEEKS_PER_YEAR,
            # the term of the referral (not of a later re-choice), so that every chooser's
            # term k holds the same referrals and the learning curves compare like with like
            "term": calendar.run_term(referred),
            "school": d["school"].astype(np.int32),
            "student": e.pseudonym_column(d["uid"]),  # the students table's, hashed once
            "workflow": [e.policy.workflows[w].name for w in d["wf"]],
            "step": d["step"].astype(np.int16) + 1,
            "action": pd.Categorical.from_codes(d["action"].astype(np.int64), names),
            "how": pd.Categorical.from_codes(d["how"].astype(np.int8), list(HOW)),
            "oracle_action": pd.Categorical.from_codes(d["oracle_action"].astype(np.int64), names),
            "gain": d["gain"], "oracle_gain": d["oracle_gain"],
            "regret": d["oracle_gain"] - d["gain"],
            "gain_per_minute": d["gain_per_minute"],
            "oracle_gain_per_minute": d["oracle_gain_per_minute"],
            "predicted_gain": d["predicted_gain"],
            "fsm": d["fsm"], "sen": d["sen"], "eal": d["eal"],
        })
        return frame[cols]
