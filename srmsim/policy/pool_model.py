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
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from srmsim import calendar
from srmsim.errors import SrmsimError
from srmsim.policy.config import PoolModelConfig
from srmsim.policy.rules import Rule, evaluate_rules
from srmsim.students import ENROLLED

if TYPE_CHECKING:
    from srmsim.policy.engine import PolicyEngine


class PoolRiskModel:
    def __init__(self, engine: PolicyEngine, config: PoolModelConfig, outcome: Rule):
        self.engine = engine
        self.config = config
        self.outcome = outcome
        self.periods: list[pd.DataFrame] = []
        self.fits: list[dict] = []  # one row per refit: week, training rows, events, method
        self._pid_cache: dict[int, str] = {}

    def due(self, week: int) -> bool:
        return calendar.is_due(self.config.refit, week)

    def _pseudonyms(self, uid: np.ndarray) -> np.ndarray:
        missing = [u for u in uid.tolist() if u not in self._pid_cache]
        if missing:
            pids = self.engine.pseudonyms(np.asarray(missing))
            self._pid_cache.update(zip(missing, pids.tolist(), strict=True))
        return np.array([self._pid_cache[u] for u in uid.tolist()], dtype=object)

    def records(self) -> tuple[pd.DataFrame, np.ndarray]:
        """What the schools send (pseudonym, school, features, outcome now), and the table rows
        they came from -- the rows stay with the schools, to route returned scores."""
        model, ctx = self.engine.model, self.engine.ctx
        t = model.students
        rows = np.flatnonzero(t.status == ENROLLED)
        data = {"pid": self._pseudonyms(t.uid[rows]), "school": t.school[rows]}
        for name in self.config.features:
            data[name] = np.asarray(ctx.field(name))[rows].astype(np.float64)
        data["outcome"] = evaluate_rules({"o": self.outcome}, ctx, len(t))["o"][rows]
        return pd.DataFrame(data), rows

    def update(self) -> None:
        """Receive this period's records, refit on past pairs, score current students."""
        current, rows = self.records()
        self.periods.append(current)
        self.periods = self.periods[-(self.config.history_periods + 1):]
        scores = np.full(len(self.engine.model.students), np.nan)
        if len(self.periods) >= 2:
            pairs = []
            for before, after in zip(self.periods[:-1], self.periods[1:], strict=True):
                pair = before.drop(columns=["outcome"]).merge(
                    after[["pid", "outcome"]], on="pid", how="inner")
                pairs.append(pair)
            train = pd.concat(pairs, ignore_index=True)
            predicted, info = self._fit_predict(train, current)
            scores[rows] = predicted
            self.fits.append({"week": self.engine.model.week_index, **info})
        self.engine.pool_scores = scores

    def _fit_predict(self, train: pd.DataFrame, current: pd.DataFrame) -> tuple[np.ndarray, dict]:
        from srmsim import risk

        features = list(self.config.features)
        train = train.dropna(subset=features)
        info: dict[str, Any] = {"training_rows": len(train), "events": int(train["outcome"].sum()),
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
                    m = risk.LogisticRisk().fit(own, "outcome", features, school="school")
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
                     else risk.PooledRisk())
            try:
                model.fit(train, "outcome", features, school="school")
            except SrmsimError as err:
                info["skipped"] = str(err)
                return out, info
            if usable.any():
                out[usable] = model.predict_proba(current.loc[usable])
            info["method"] = getattr(model, "fit_method_", "")
        return out, info
