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
    from srmsim.risk.models import LogisticRisk, RiskModel

#: the pool refits every term on every student: logistic fits use the numpy solver
#: (:mod:`srmsim.risk.irls`), several times faster than statsmodels and equal to it within 1e-9
#: (maximum likelihood) or 1e-4 (the ridge fallback, where statsmodels' optimiser stops short)
SOLVER = "newton"


class PoolRiskModel:
    def __init__(self, engine: PolicyEngine, config: PoolModelConfig, outcome: Rule):
        self.engine = engine
        self.config = config
        self.outcome = outcome
        #: the records of the last ``history_periods + 1`` periods, each pseudonym as a serial
        #: number (0, 1, ... in the order the pool first saw them): pairing by number is pairing
        #: by pseudonym. The pseudonyms' text is made only when the records are read (periods),
        #: since nothing the simulation computes depends on it.
        self._frames: list[pd.DataFrame] = []
        self._serials: list[np.ndarray] = []
        #: training pairs of consecutive periods (features before, outcome after), kept with
        #: the periods so each pair is matched once
        self.pairs: list[pd.DataFrame] = []
        self.fits: list[dict] = []  # one row per refit: week, training rows, events, method
        #: the last pooled fit, which starts the next one's solver (the pool refits each term
        #: on records much like the last term's, so the optimum is near)
        self._last_pooled: LogisticRisk | None = None
        self._last_school: dict[Any, LogisticRisk] = {}  # the same, school by school
        # the schools' side: which student each serial number is (uids sorted, for lookups)
        self._uid_sorted = np.zeros(0, dtype=np.int64)
        self._serial_sorted = np.zeros(0, dtype=np.int64)
        self._uid_of_serial = np.zeros(0, dtype=np.int64)
        self._pid_of_serial = np.zeros(0, dtype=object)  # None until made

    def due(self, week: int) -> bool:
        return calendar.is_due(self.config.refit, week)

    @property
    def periods(self) -> list[pd.DataFrame]:
        """The records the pool holds, as the schools sent them: pseudonym, school, features and
        outcome, one frame per period (the last ``history_periods + 1``)."""
        out = []
        for frame, serial in zip(self._frames, self._serials, strict=True):
            frame = frame.copy()
            frame.insert(0, "pid", self._pseudonyms(serial))
            out.append(frame)
        return out

    def _serial_numbers(self, uid: np.ndarray) -> np.ndarray:
        """Serial numbers of students ``uid``, numbering those the pool has not seen yet."""
        n = len(self._uid_sorted)
        pos = np.minimum(np.searchsorted(self._uid_sorted, uid), max(n - 1, 0))
        known = self._uid_sorted[pos] == uid if n else np.zeros(len(uid), dtype=bool)
        if not known.all():
            new = np.sort(uid[~known])  # a roll holds each student once
            self._uid_of_serial = np.concatenate([self._uid_of_serial, new])
            self._pid_of_serial = np.concatenate([self._pid_of_serial,
                                                  np.full(len(new), None, dtype=object)])
            all_uid = np.concatenate([self._uid_sorted, new])
            order = np.argsort(all_uid, kind="stable")
            self._uid_sorted = all_uid[order]
            self._serial_sorted = np.r_[self._serial_sorted, n + np.arange(len(new))][order]
            pos = np.searchsorted(self._uid_sorted, uid)
        return self._serial_sorted[pos]

    def _pseudonyms(self, serial: np.ndarray) -> np.ndarray:
        """The pseudonyms of serial numbers (keyed HMAC, each made once per run)."""
        missing = np.unique(serial[pd.isna(self._pid_of_serial[serial])])
        if len(missing):
            self._pid_of_serial[missing] = self.engine.pseudonyms(
                self._uid_of_serial[missing]).astype(object)
        return self._pid_of_serial[serial]

    def records(self) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """What the schools send -- school, features, outcome now, and the pseudonym, here its
        serial number (the text: :attr:`periods`) -- and the table rows they came from: the rows
        stay with the schools, to route returned scores."""
        model, ctx = self.engine.model, self.engine.ctx
        t = model.students
        rows = np.flatnonzero(t.status == ENROLLED)
        data = {"school": t.school[rows]}
        for name in self.config.features:
            data[name] = np.asarray(ctx.field(name))[rows].astype(np.float64)
        data["outcome"] = evaluate_rules({"o": self.outcome}, ctx, len(t))["o"][rows]
        return pd.DataFrame(data), rows, self._serial_numbers(t.uid[rows])

    def update(self) -> None:
        """Receive this period's records, refit on past pairs, score current students."""
        current, rows, serial = self.records()
        if self._frames:
            self.pairs.append(self._pair(self._frames[-1], current, self._serials[-1], serial))
        self._frames.append(current)
        self._serials.append(serial)
        self._frames = self._frames[-(self.config.history_periods + 1):]
        self._serials = self._serials[-(self.config.history_periods + 1):]
        self.pairs = self.pairs[-self.config.history_periods:]
        scores = np.full(len(self.engine.model.students), np.nan)
        if self.pairs:
            train = pd.concat(self.pairs, ignore_index=True)
            predicted, info = self._fit_predict(train, current)
            scores[rows] = predicted
            info["scored"] = bool(np.isfinite(predicted).any())
            self.fits.append({"week": self.engine.model.week_index, **info})
        self.engine.pool_scores = scores

    def summary(self) -> dict[str, int]:
        """For summary.json: refits with training pairs, and those that scored any student. A
        model that never fits (too few events, a failed fit) leaves ``pooled_risk`` empty and
        the rules reading it never hold: without this the run said nothing of why."""
        return {"pool_model_refits": len(self.fits),
                "pool_model_scored": sum(bool(f.get("scored")) for f in self.fits)}

    def _pair(self, before: pd.DataFrame, after: pd.DataFrame, serial_before: np.ndarray,
              serial_after: np.ndarray) -> pd.DataFrame:
        """Training pairs: each pseudonym's school and features ``before``, with its outcome
        ``after`` -- ``before.merge(after[["pid", "outcome"]], on="pid", how="inner")``, in
        ``before``'s order -- matched by serial number and without the pseudonyms, which the
        fit does not use (numbers are cheaper to match, concatenate and filter than text)."""
        where = np.full(len(self._uid_of_serial), -1)
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
                    try:
                        m = risk.LogisticRisk(solver=SOLVER).fit(
                            own, "outcome", features, school="school",
                            start=self._last_school.get(school))
                        self._last_school[school] = m
                    except SrmsimError as err:  # as for the pooled model: no score, no crash
                        info.setdefault("skipped", f"school {school}: {err}")
                        continue
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
            model: RiskModel
            try:
                if self.config.model == "partially_pooled":
                    model = risk.PartiallyPooledRisk().fit(train, "outcome", features,
                                                           school="school")
                else:  # the last term's fit starts the solver: the same fit, in fewer steps
                    model = self._last_pooled = risk.PooledRisk(solver=SOLVER).fit(
                        train, "outcome", features, school="school", start=self._last_pooled)
            except SrmsimError as err:
                info["skipped"] = str(err)
                return out, info
            if usable.any():
                out[usable] = model.predict_proba(current.loc[usable])
            info["method"] = getattr(model, "fit_method_", "")
        return out, info
