"""Statistics an education researcher would trust, on any tidy table (simulated or real).

Why one package: an in-silico trial and a real trial must be analysed by the same code, so every
estimator takes a pandas DataFrame with caller-named columns and returns a result object with a
table, ``summary()`` and the statsmodels fit underneath.

- Effects: :func:`estimate_effect` (OLS classical/HC1/cluster-robust, GEE exchangeable, mixed
  model), :func:`regress` (any formula, classical/HC/one- or two-way cluster SEs),
  :func:`random_intercept` (MixedLM with optimiser checks), :func:`did_twfe`,
  :func:`did_group_time` (Callaway-Sant'Anna), :func:`rdd` (local linear, IK bandwidth).
- Effect sizes: :func:`hedges_g` (WWC), :func:`eef_months`, :func:`risk_difference`,
  :func:`risk_ratio`, :func:`nnt`, :func:`binary_effects`, :func:`cost_per_outcome`.
- Design: :func:`mdes`, :func:`power` (PowerUp! designs), :func:`design_effect`,
  :func:`simulated_power`.

Bad input raises :class:`srmsim.errors.DataError` naming the column or arm; an unsound fit raises
:class:`srmsim.errors.EstimationError`; a number returned with a caveat (a variance at the
boundary, a group-time cohort in one cluster) comes with a :class:`StatsWarning` naming the cause and the same
text in the result's notes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from srmsim.lazy import lazy_exports

# name -> module it is imported from on first use (the TYPE_CHECKING imports below list
# the same names for type checkers; tests/test_lazy_imports.py checks they agree)
_MODULES = {
    "._checks": ("StatsWarning",),
    ".designs": ("DesignResult", "design_effect", "mdes", "power",),
    ".did": ("DidEstimate", "GroupTimeResult", "did_group_time", "did_twfe",),
    ".discontinuity": ("RddResult", "ik_bandwidth", "rdd", "rdd_plot",),
    ".effect_sizes": (
        "NNT", "BinaryEffect", "CostPerOutcome", "HedgesG", "binary_effects", "cost_per_outcome",
        "eef_months", "hedges_g", "hedges_g_data", "hedges_g_from_d", "nnt", "risk_difference",
        "risk_ratio",
    ),
    ".estimators": ("EffectEstimate", "estimate_effect",),
    ".mixed": ("DEFAULT_OPTIMIZERS", "RandomInterceptFit", "fit_mixedlm", "random_intercept",),
    ".regression": ("RegressionResult", "regress",),
    ".simpower": ("SimulatedPower", "simulated_power",),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _MODULES)

if TYPE_CHECKING:
    from ._checks import StatsWarning
    from .designs import DesignResult, design_effect, mdes, power
    from .did import DidEstimate, GroupTimeResult, did_group_time, did_twfe
    from .discontinuity import RddResult, ik_bandwidth, rdd, rdd_plot
    from .effect_sizes import (
        NNT,
        BinaryEffect,
        CostPerOutcome,
        HedgesG,
        binary_effects,
        cost_per_outcome,
        eef_months,
        hedges_g,
        hedges_g_data,
        hedges_g_from_d,
        nnt,
        risk_difference,
        risk_ratio,
    )
    from .estimators import EffectEstimate, estimate_effect
    from .mixed import DEFAULT_OPTIMIZERS, RandomInterceptFit, fit_mixedlm, random_intercept
    from .regression import RegressionResult, regress
    from .simpower import SimulatedPower, simulated_power
