"""Power by simulation: run a design many times, analyse each run, count rejections.

Why: formula power (PowerUp!) assumes a textbook design; a simulated school with capacity queues,
take-up and decaying effects is not one. Any data generator works: a pure-numpy function now, the
srmsim simulator later. Replication seeds come from :func:`srmsim.rng.replication_seeds`, the
same convention the simulator uses, so replication i gets the same seed in every variant and
adding replications leaves the first ones unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from srmsim.argtypes import MAX_SEED
from srmsim.errors import SrmsimError
from srmsim.labels import agree, plural
from srmsim.rng import replication_seeds

from . import _checks as ck
from ._inference import wilson

MAX_SIMS = 100_000
"""Most replications: the Monte-Carlo SE of a power estimate is below 0.002 there; 10**12 once
ran out of memory allocating the seeds."""


def _number(value: object, what: str) -> float:
    """A number from the user's estimate(): None or text is a malformed result, named as such."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        raise SrmsimError(f"estimate() returned {what} {value!r}, which is not a number")
    try:
        return float(value)
    except OverflowError:  # a Python int beyond any float
        raise SrmsimError(f"estimate() returned {what} {value!r}, beyond any float") from None


@dataclass(frozen=True)
class SimulatedPower:
    """Share of replications that rejected the null, with a Wilson Monte-Carlo interval."""

    power: float
    ci_low: float
    ci_high: float
    n_sims: int
    n_rejected: int
    n_failed: int
    alpha: float
    seed: int
    estimates: np.ndarray = field(repr=False)
    p_values: np.ndarray = field(repr=False)
    failures: list[str] = field(default_factory=list, repr=False)

    @property
    def mean_estimate(self) -> float:
        ok = self.estimates[np.isfinite(self.estimates)]
        return float(ok.mean()) if ok.size else math.nan

    def summary(self) -> str:
        text = (
            f"power {self.power:.3f} (Monte-Carlo {100 * (1 - 0.05):.0f}% CI {self.ci_low:.3f}-"
            f"{self.ci_high:.3f}) at alpha {self.alpha}: {self.n_rejected} of "
            f"{plural(self.n_sims - self.n_failed, 'replication')} rejected"
        )
        if self.n_failed:
            text += (f"; {plural(self.n_failed, 'replication')} failed and "
                     f"{agree(self.n_failed, 'is', 'are')} excluded: {self.failures[0]}")
        return text


def _read(outcome: object, arm: str | None) -> tuple[float, float]:
    """(estimate, p_value) from whatever the estimator returned."""
    from .estimators import EffectEstimate

    if isinstance(outcome, EffectEstimate):
        row = outcome.effect(arm)
        return float(row["estimate"]), float(row["p_value"])
    if isinstance(outcome, Mapping):
        if "p_value" not in outcome:
            raise SrmsimError("estimate() returned a mapping without a 'p_value' key")
        return (_number(outcome.get("estimate", math.nan), "an estimate"),
                _number(outcome["p_value"], "a p-value"))
    if isinstance(outcome, tuple) and len(outcome) == 2:
        return _number(outcome[0], "an estimate"), _number(outcome[1], "a p-value")
    if hasattr(outcome, "p_value"):
        return (_number(getattr(outcome, "estimate", math.nan), "an estimate"),
                _number(outcome.p_value, "a p-value"))
    if isinstance(outcome, int | float | np.floating) and not isinstance(outcome, bool):
        return math.nan, float(outcome)
    raise SrmsimError(
        "estimate() must return an EffectEstimate, a mapping with 'p_value', an "
        f"(estimate, p_value) tuple or a p-value; got {type(outcome).__name__}"
    )


def simulated_power(
    simulate: Callable[[int], pd.DataFrame],
    estimate: Callable[[pd.DataFrame], object],
    n_sims: int = 500,
    alpha: float = 0.05,
    seed: int = 0,
    *,
    arm: str | None = None,
    on_error: str = "raise",
) -> SimulatedPower:
    """Power of ``estimate`` on data from ``simulate``, over ``n_sims`` seeded replications.

    ``simulate(seed)`` returns one replication's table (seed is an int from
    ``replication_seeds(seed, n_sims)``); ``estimate(df)`` analyses it and returns an
    :class:`EffectEstimate` (``arm`` picks the row when there are several), a mapping with
    ``p_value`` (and optionally ``estimate``), an ``(estimate, p_value)`` tuple or a p-value.
    ``on_error="count"`` records replications whose analysis raised a srmsim error (an unsound
    fit) or returned no usable p-value (not a number, or not a probability) as failures, reported
    in the result, instead of stopping. ``n_sims`` is 1 to ``MAX_SIMS`` (100,000); ``seed`` a
    whole number from 0 to 2**63 - 1.

    >>> def simulate(seed):                                        # doctest: +SKIP
    ...     rng = np.random.default_rng(seed)
    ...     arm = rng.permutation(np.repeat(["control", "texts"], 100))
    ...     return pd.DataFrame({"arm": arm, "y": 0.3 * (arm == "texts") + rng.normal(size=200)})
    >>> simulated_power(simulate, lambda d: estimate_effect(d, "y", "arm", "control"),
    ...                 n_sims=200, seed=1).power                  # doctest: +SKIP
    """
    for name, fn in (("simulate", simulate), ("estimate", estimate)):
        if not callable(fn):  # else a TypeError "'int' object is not callable" in the loop
            raise SrmsimError(f"{name} must be a function, got {type(fn).__name__} {fn!r:.60}")
    alpha = ck.check_alpha(alpha)
    ck.check_choice(on_error, ("raise", "count"), "on_error")
    n_sims = ck.whole_number(n_sims, "n_sims", 1, MAX_SIMS, " (the Monte-Carlo error is already "
                           "below 0.002 there; more only cost time and memory)")
    seed = ck.whole_number(seed, "seed", 0, MAX_SEED)
    seeds = replication_seeds(seed, n_sims)
    estimates = np.full(n_sims, np.nan)
    p_values = np.full(n_sims, np.nan)
    failures: list[str] = []
    for i, s in enumerate(seeds):
        data = simulate(s)
        try:
            estimates[i], p_values[i] = _read(estimate(data), arm)
        except SrmsimError as err:
            if on_error == "raise":
                raise SrmsimError(f"replication {i} (seed {s}): {err}") from err
            failures.append(f"replication {i} (seed {s}): {err}")
            continue
        if not 0.0 <= p_values[i] <= 1.0:  # NaN fails too; -0.1 would count as a rejection
            failures.append(f"replication {i} (seed {s}): p-value {p_values[i]} is not a "
                            "probability")
            # a failed replication is out of the mean estimate as well as the power
            estimates[i] = p_values[i] = math.nan
            if on_error == "raise":
                raise SrmsimError(failures[-1])
    done = np.isfinite(p_values)
    n_ok = int(done.sum())
    if n_ok == 0:
        raise SrmsimError(f"all {n_sims} replications failed; first: {failures[0]}")
    rejected = int((p_values[done] < alpha).sum())
    lo, hi = wilson(rejected, n_ok, 0.05)
    return SimulatedPower(
        power=rejected / n_ok,
        ci_low=lo,
        ci_high=hi,
        n_sims=n_sims,
        n_rejected=rejected,
        n_failed=n_sims - n_ok,
        alpha=alpha,
        seed=seed,
        estimates=estimates,
        p_values=p_values,
        failures=failures,
    )
