"""Choosing the action for each referral to a step with candidate actions, and learning to.

Choosers (``chooser.kind`` in the step): ``fixed`` (the step's action), ``random`` (uniform over
the candidates, a CRN draw keyed by workflow, step, week and student), ``rule`` (the first
candidate whose expression holds), ``learned`` and ``oracle`` (the simulator's truth, a
benchmark only).

The learned chooser is a regularised T-learner: one Bayesian ridge regression
(:class:`sklearn.linear_model.BayesianRidge`) per candidate action of the change in the step's
``measure`` over the step on the profile ``features`` at referral. Its training data come only
from the records schools send the pool when a step is reviewed: a keyed-hash pseudonym, the
school, the features at referral, the action and the observed change -- no uid, no latent field,
no oracle value. At each refit (term or half-term end) it fits on the last ``history_terms``
terms of records, from all schools (``data: pooled``) or each school's own (``data: own``).
Each referral then gets the candidate with the largest predicted gain per staff minute among the
actions its school has staff for; a share ``exploration`` (and every referral while an action has
fewer than ``min_cases`` records) is allocated at random instead, recorded as ``explore``, so the
effects stay identifiable.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from srmsim import calendar
from srmsim.errors import SrmsimError
from srmsim.policy.compiled import CompiledStep

if TYPE_CHECKING:
    from srmsim.policy.engine import PolicyEngine

#: how an action was chosen, as recorded in the decisions table
HOW = ("fixed", "random", "rule", "learned", "explore", "oracle")
TRAINING_COLUMNS = ("pid", "school", "week", "action", "gain")  # + the features


def oracle_matched(decisions: pd.DataFrame) -> pd.Series:
    """Per decision: the action chosen is as good per staff minute as the oracle's (ties with
    the oracle's action count as matched: it had nothing better)."""
    return decisions["gain_per_minute"] >= decisions["oracle_gain_per_minute"] - 1e-12


class StepLearner:
    """The pool's model of one step: records received, fits, predictions."""

    def __init__(self, step: CompiledStep, n_schools: int):
        self.step = step
        self.config = step.chooser
        self.features = list(self.config.features)
        self.records: list[pd.DataFrame] = []
        # (group -> {action id: (coef, intercept)}); group -1 = the pool's trust-wide model
        self.models: dict[int, dict[int, tuple[np.ndarray, float]]] = {}
        self.fits: list[dict] = []
        self.n_schools = n_schools

    def receive(self, record: pd.DataFrame) -> None:
        """A school's pseudonymised records of reviewed cases (see TRAINING_COLUMNS)."""
        if len(record):
            self.records.append(record)

    def training_frame(self, now: int) -> pd.DataFrame:
        """The records of the last ``history_terms`` terms, in a stable order."""
        cols = [*TRAINING_COLUMNS, *self.features]
        if not self.records:
            return pd.DataFrame({c: [] for c in cols})
        frame = pd.concat(self.records, ignore_index=True)
        oldest = now - self.config.history_terms * 13
        frame = frame[frame["week"] >= oldest]
        self.records = [frame]
        return frame.sort_values(["week", "pid", "action"], kind="stable").reset_index(drop=True)

    def refit(self, now: int) -> None:
        from sklearn.linear_model import BayesianRidge

        frame = self.training_frame(now)
        frame = frame.dropna(subset=[*self.features, "gain"])
        groups = ([(-1, frame)] if self.config.data == "pooled"
                  else [(int(s), f) for s, f in frame.groupby("school", sort=True)])
        self.models = {}
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
                fitted[a] = (np.asarray(m.coef_, dtype=np.float64), float(m.intercept_))
            self.models[group] = fitted
        self.fits.append({"week": now, "records": len(frame),
                          "groups": sum(len(f) == len(self.step.candidates)
                                        for f in self.models.values())})

    def predict(self, x: np.ndarray, school: np.ndarray) -> np.ndarray:
        """Predicted gain of each candidate (rows x candidates); NaN where no model yet."""
        out = np.full((len(x), len(self.step.candidates)), np.nan)
        x = np.nan_to_num(x, nan=0.0)
        if self.config.data == "pooled":
            keys = np.full(len(x), -1)
        else:
            keys = school.astype(np.int64)
        for group in np.unique(keys):
            fitted = self.models.get(int(group), {})
            if len(fitted) < len(self.step.candidates):
                continue  # every candidate needs a model before the chooser trusts any
            sel = keys == group
            for j, a in enumerate(self.step.candidates):
                coef, icpt = fitted[a]
                out[sel, j] = x[sel] @ coef + icpt
        return out


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
                raise SrmsimError("a learned chooser needs scikit-learn: "
                                  "pip install 'srmsim[learning]'") from None
        self.n_features = max((len(st.chooser.features) for st in self.steps.values()
                               if st.chooser.kind == "learned"), default=0)
        self._decisions: list[dict[str, np.ndarray]] = []

    # ------------------------------------------------------------------ choosing
    def usable(self, school: np.ndarray, candidates: list[int]) -> np.ndarray:
        """(cases x candidates): the school (or the pool) has every role the action needs."""
        e = self.engine
        has = (e.school_capacity[school][:, None, :] + e.pool_capacity[None, None, :]) > 0
        needs = e.minutes[candidates] > 0  # candidates x roles
        return ~(needs[None] & ~has).any(axis=2)

    def true_gains(self, rows: np.ndarray, st: CompiledStep, weeks: int) -> np.ndarray:
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

    def _choose_step(self, idx: np.ndarray, w: int, i: int, st: CompiledStep, now: int) -> None:
        e, c = self.engine, self.engine.cases
        crn, name = e.model.crn, e.policy.workflows[w].name
        cand = np.asarray(st.candidates)
        rows, uid, school = c.row[idx], c.uid[idx], c.school[idx]
        weeks = int(e.step_weeks[w, i])
        usable = self.usable(school, st.candidates)
        truth = self.per_minute(self.true_gains(rows, st, weeks), st.candidates, weeks)
        oracle = np.argmax(np.where(usable, truth, -np.inf), axis=1)
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
            pick = oracle
        elif kind == "learned":
            x = np.column_stack([np.asarray(e.ctx.field(f), dtype=np.float64)[rows]
                                 for f in st.chooser.features])
            pred = self.learners[(w, i)].predict(x, school)
            ratio = self.per_minute(pred, st.candidates, weeks)
            ratio = np.where(usable, ratio, -np.inf)
            explore = (crn.uniform(f"policy.explore.{name}.{i}", now, uid)
                       < st.chooser.exploration) | np.isnan(pred).any(axis=1)
            pick = np.where(explore, self._random(crn, f"policy.choose.{name}.{i}", now, uid,
                                                  usable),
                            np.argmax(np.nan_to_num(ratio, nan=-np.inf), axis=1))
            how[explore] = HOW.index("explore")
            predicted = np.take_along_axis(pred, pick[:, None], axis=1)[:, 0]
        action = cand[pick]
        c.action[idx] = action
        c.how[idx] = how
        gains = self.true_gains(rows, st, weeks)
        t = e.model.students
        self._decisions.append({
            "run_week": np.full(len(idx), now), "queued_at": c.queued_at[idx].copy(),
            "uid": uid, "school": school,
            "wf": np.full(len(idx), w), "step": np.full(len(idx), i), "action": action,
            "how": how, "oracle_action": cand[oracle],
            "gain": np.take_along_axis(gains, pick[:, None], axis=1)[:, 0],
            "oracle_gain": np.take_along_axis(gains, oracle[:, None], axis=1)[:, 0],
            "gain_per_minute": np.take_along_axis(truth, pick[:, None], axis=1)[:, 0],
            "oracle_gain_per_minute": np.take_along_axis(truth, oracle[:, None], axis=1)[:, 0],
            "predicted_gain": predicted,
            "fsm": t.fsm[rows].copy(), "sen": t.sen[rows].copy(), "eal": t.eal[rows].copy(),
        })

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
        uniq, inv = np.unique(d["uid"], return_inverse=True)
        names = e.policy.action_names
        frame = pd.DataFrame({
            "run_week": week, "queued_week": referred,
            "year": referred // calendar.WEEKS_PER_YEAR,
            # the term of the referral (not of a later re-choice), so that every chooser's
            # term k holds the same referrals and the learning curves compare like with like
            "term": calendar.run_term(referred),
            "school": d["school"].astype(np.int32),
            "student": e.pseudonyms(uniq)[inv],
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
