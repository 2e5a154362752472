"""The central pool's risk model inside the simulation: data recycled into targeting.

At each refit point (term or half-term end) every school sends the pool a pseudonymised record
per enrolled student: a keyed-hash pseudonym (no raw uid or table row leaves a school), the
school, the configured profile features and the outcome rule's value now. Returned scores are
routed back to students by the schools, which alone know which row each pseudonym is. For a
trust built from real records the pseudonym key is random and kept only in memory (see
:func:`srmsim.policy.engine.run_pseudonym_key`). The pool pairs each student's
features at the previous refit point with their outcome at this one, fits the model on all pairs
collected so far (the last ``history_periods`` periods), and scores every current record. Scores
go back to the schools by pseudonym and rules read them as ``pooled_risk``.

Models come from :mod:`srmsim.risk`: ``pooled`` (one logistic over all schools),
``partially_pooled`` (school random intercepts) or ``per_school`` (each school's own logistic on
its own records only; a school with too few events gets no score, so its model-based rules do not
fire until it has).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from srmsim import calendar
from srmsim.errors import SrmsimError
from srmsim.policy.config import PoolModelConfig
from srmsim.policy.rules import Rule, evaluate_rules
from srmsim.students import ENROLLED

if TYPE_CHECKING:
    from srmsim.policy.engine import PolicyEngine

#: the pool refits every term on every student: logistic fits use the numpy solver
#: (:mod:`srmsim.risk.irls`), several times faster than statsmodels and equal to it within 1e-9
#: (maximum likelihood) or 1e-4 (the ridge fallback, where statsmodels' optimiser stops short)
SOLVER = "newton"


class PoolRiskModel:
    def __init__(self, engine: PolicyEngine, config: PoolModelConfig, outcome: Rule):
        self.engine = engine
        self.config = config
        self.outcome = outcome
        self.periods: list[pd.DataFrame] = []
        #: per period, each record's pseudonym as a serial number (0, 1, ... in the order the
        #: pool first saw them): pairing by number is pairing by pseudonym, without hashing text
        self._serials: list[np.ndarray] = []
        #: training pairs of consecutive periods (features before, outcome after), kept with
        #: the periods so each pair is matched once
        self.pairs: list[pd.DataFrame] = []
        self.fits: list[dict] = []  # one row per refit: week, training rows, events, method
        # pseudonyms made so far, by uid (sorted): each student's is computed once per run
        self._pid_uid = np.zeros(0, dtype=np.int64)
        self._pid = np.zeros(0, dtype=object)
        self._pid_serial = np.zeros(0, dtype=np.int64)

    def due(self, week: int) -> bool:
        return calendar.is_due(self.config.refit, week)

    def _pseudonyms(self, uid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pseudonyms of students ``uid`` and their serial numbers."""
        pos = np.minimum(np.searchsorted(self._pid_uid, uid), max(len(self._pid_uid) - 1, 0))
        known = self._pid_uid[pos] == uid if len(self._pid_uid) else np.zeros(len(uid), bool)
        if not known.all():
            new = np.sort(uid[~known])  # a roll holds each student once
            serial = len(self._pid_uid) + np.arange(len(new))
            all_uid = np.concatenate([self._pid_uid, new])
            all_pid = np.concatenate([self._pid, self.engine.pseudonyms(new).astype(object)])
            order = np.argsort(all_uid, kind="stable")
            self._pid_uid, self._pid = all_uid[order], all_pid[order]
            self._pid_serial = np.concatenate([self._pid_serial, serial])[order]
            pos = np.searchsorted(self._pid_uid, uid)
        return self._pid[pos], self._pid_serial[pos]

    def records(self) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """What the schools send (pseudonym, school, features, outcome now), the table rows
        they came from -- the rows stay with the schools, to route returned scores -- and the
        pseudonyms' serial numbers."""
        model, ctx = self.engine.model, self.engine.ctx
        t = model.students
        rows = np.flatnonzero(t.status == ENROLLED)
        pid, serial = self._pseudonyms(t.uid[rows])
        data = {"pid": pid, "school": t.school[rows]}
        for name in self.config.features:
            data[name] = np.asarray(ctx.field(name))[rows].astype(np.float64)
        data["outcome"] = evaluate_rules({"o": self.outcome}, ctx, len(t))["o"][rows]
        return pd.DataFrame(data), rows, serial

    def update(self) -> None:
        """Receive this period's records, refit on past pairs, score current students."""
        current, rows, serial = self.records()
        if self.periods:
            self.pairs.append(self._pair(self.periods[-1], current, self._serials[-1], serial))
        self.periods.append(current)
        self._serials.append(serial)
        self.periods = self.periods[-(self.config.history_periods + 1):]
        self._serials = self._serials[-(self.config.history_periods + 1):]
        self.pairs = self.pairs[-self.config.history_periods:]
        scores = np.full(len(self.engine.model.students), np.nan)
        if self.pairs:
            train = pd.concat(self.pairs, ignore_index=True)
            predicted, info = self._fit_predict(train, current)
            scores[rows] = predicted
            self.fits.append({"week": self.engine.model.week_index, **info})
        self.engine.pool_scores = scores

    def _pair(self, before: pd.DataFrame, after: pd.DataFrame, serial_before: np.ndarray,
              serial_after: np.ndarray) -> pd.DataFrame:
        """Training pairs: each pseudonym's school and features ``before``, with its outcome
        ``after`` -- ``before.merge(after[["pid", "outcome"]], on="pid", how="inner")``, in
        ``before``'s order -- matched by serial number and without the pseudonyms, which the
        fit does not use (numbers are cheaper to match, concatenate and filter than text)."""
        where = np.full(len(self._pid_serial), -1)
        where[serial_after] = np.arange(len(serial_after))
        at = where[serial_before]
        found = at >= 0
        pair = {c: before[c].to_numpy()[found] for c in ["school", *self.config.features]}
        pair["outcome"] = after["outcome"].to_numpy()[at[found]]
        return pd.DataFrame(pair)

    def _fit_predict(self, train: pd.DataFrame, current: pd.DataFrame) -> tuple[np.ndarray, dict]:
        from srmsim import risk

        features = list(self.config.features)
        complete = train[features].notna().all(axis=1)
        if not complete.all():
            train = train[complete]
        current = current[["school", *features]]
        info = {"training_rows": len(train), "events": int(train["outcome"].sum()),
                "model": self.config.model}
        out = np.full(len(current), np.nan)
        usable = current[features].notna().all(axis=1).to_numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.config.model == "per_school":
                fitted = 0
                for school, own in train.groupby("school"):
                    events = int(own["outcome"].sum())
                    if min(events, len(own) - events) < self.config.min_events:
                        continue
                    m = risk.LogisticRisk(solver=SOLVER).fit(own, "outcome", features,
                                                             school="school")
                    sel = usable & (current["school"].to_numpy() == school)
                    if sel.any():
                        out[sel] = m.predict_proba(current.loc[sel])
                    fitted += 1
                info["schools_fitted"] = fitted
                return out, info
            events = int(train["outcome"].sum())
            if min(events, len(train) - events) < self.config.min_events:
                info["skipped"] = "too few events"
                return out, info
            model = (risk.PartiallyPooledRisk() if self.config.model == "partially_pooled"
                     else risk.PooledRisk(solver=SOLVER))
            try:
                model.fit(train, "outcome", features, school="school")
            except SrmsimError as err:
                info["skipped"] = str(err)
                return out, info
            if usable.any():
                out[usable] = model.predict_proba(current.loc[usable])
            info["method"] = getattr(model, "fit_method_", "")
        return out, info
