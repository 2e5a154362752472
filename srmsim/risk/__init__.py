"""Risk tools for analysts and trusts: thresholds, curves, capacity, risk models, value of pooling.

Everything takes a plain pandas DataFrame, simulated or a school's real export::

    from srmsim import risk
    t = risk.threshold_table(df, score="attendance_rate", outcome="withdrawn", direction="below")
    cap = risk.threshold_at_capacity(df, "attendance_rate", "withdrawn", capacity_cases=40)
    bands = risk.bootstrap_curves(df, "attendance_rate", "withdrawn", cluster="school")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from srmsim.lazy import lazy_exports

# name -> module it is imported from on first use (the TYPE_CHECKING imports below list
# the same names for type checkers; tests/test_lazy_imports.py checks they agree)
_MODULES = {
    ".capacity": (
        "CapacityResult", "CostResult", "capacity_in_cases", "cost_minimising_threshold", "flag",
        "threshold_at_capacity", "threshold_for_top",
    ),
    ".coarsen": ("Coarsener", "CoarsenSpec", "generalise",),
    ".curves": (
        "CurveBands", "auc", "auc_arrays", "average_precision", "bootstrap_curves",
        "bootstrap_weights", "cluster_bootstrap_weights", "pr_curve", "roc_curve",
    ),
    ".design": ("FeatureDesign",),
    ".models": (
        "LogisticFit", "LogisticRisk", "PartiallyPooledRisk", "PerSchoolRisk", "PooledRisk",
        "RiskModel", "RiskModelWarning", "RuleScore", "evaluate_held_out_schools",
        "evaluate_model", "evaluate_risk", "fit_logistic", "flag_top_share", "split_schools",
        "train_test_by",
    ),
    ".pooling": ("value_of_pooling",),
    ".protected": ("band_counts", "protected_grid", "published_curves", "published_numbers",),
    ".rules": ("condition_flags", "count_score",),
    ".thresholds": (
        "best_row", "confusion_at", "default_thresholds", "group_gaps", "threshold_table",
        "readable_threshold_table", "threshold_text",
    ),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _MODULES)

if TYPE_CHECKING:
    from srmsim.risk.capacity import (
        CapacityResult,
        CostResult,
        capacity_in_cases,
        cost_minimising_threshold,
        flag,
        threshold_at_capacity,
        threshold_for_top,
    )
    from srmsim.risk.coarsen import Coarsener, CoarsenSpec, generalise
    from srmsim.risk.curves import (
        CurveBands,
        auc,
        auc_arrays,
        average_precision,
        bootstrap_curves,
        bootstrap_weights,
        cluster_bootstrap_weights,
        pr_curve,
        roc_curve,
    )
    from srmsim.risk.design import FeatureDesign
    from srmsim.risk.models import (
        LogisticFit,
        LogisticRisk,
        PartiallyPooledRisk,
        PerSchoolRisk,
        PooledRisk,
        RiskModel,
        RiskModelWarning,
        RuleScore,
        evaluate_held_out_schools,
        evaluate_model,
        evaluate_risk,
        fit_logistic,
        flag_top_share,
        split_schools,
        train_test_by,
    )
    from srmsim.risk.pooling import value_of_pooling
    from srmsim.risk.protected import (
        band_counts,
        protected_grid,
        published_curves,
        published_numbers,
    )
    from srmsim.risk.rules import condition_flags, count_score
    from srmsim.risk.thresholds import (
        best_row,
        confusion_at,
        default_thresholds,
        group_gaps,
        readable_threshold_table,
        threshold_table,
        threshold_text,
    )
