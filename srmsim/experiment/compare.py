"""Paired effects of each variant against the baseline, across replications.

Replication i of every variant shares its seed (common random numbers), so the difference
``variant_i - baseline_i`` cancels most of the noise that both runs share. The 95% CI is a
t interval of the mean paired difference over replications; the variance-reduction factor is
``(var(variant) + var(baseline)) / var(variant - baseline)``: how many times more replications an
unpaired comparison would need for the same precision.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from srmsim.errors import SrmsimError

EFFECT_COLUMNS = ["variant", "baseline", "outcome", "replications", "mean_variant",
                  "mean_baseline", "difference", "ci_low", "ci_high", "half_width",
                  "relative_change", "sd_paired", "variance_reduction"]


def load_runs(path: str | Path) -> tuple[pd.DataFrame, dict]:
    from srmsim.experiment.store import ResultsStore

    store = ResultsStore(path)
    manifest = store.manifest()
    if manifest is None:
        raise SrmsimError(f"{path}: not an experiment results directory (no manifest.json)")
    return store.load(), manifest


def compare_frame(runs: pd.DataFrame, baseline: str, outcomes: list[str],
                  level: float = 0.95) -> pd.DataFrame:
    """The effects table from a runs table (one row per variant x replication)."""
    if baseline not in set(runs["variant"]):
        raise SrmsimError(f"baseline variant {baseline!r} has no finished runs")
    rows = []
    base = runs[runs["variant"] == baseline].set_index("replication")
    for variant in sorted(set(runs["variant"]) - {baseline}):
        arm = runs[runs["variant"] == variant].set_index("replication")
        common = arm.index.intersection(base.index).sort_values()
        for outcome in outcomes:
            a = arm.loc[common, outcome].to_numpy(dtype=float)
            b = base.loc[common, outcome].to_numpy(dtype=float)
            ok = np.isfinite(a) & np.isfinite(b)
            a, b = a[ok], b[ok]
            n = len(a)
            d = a - b
            mean_d = float(d.mean()) if n else np.nan
            if n >= 2:
                sd = float(d.std(ddof=1))
                half = float(stats.t.ppf(0.5 + level / 2, n - 1) * sd / np.sqrt(n))
                var_unpaired = a.var(ddof=1) + b.var(ddof=1)
                vr = float(var_unpaired / sd**2) if sd > 0 else np.inf
            else:
                sd, half, vr = np.nan, np.nan, np.nan
            mb = float(b.mean()) if n else np.nan
            rows.append({
                "variant": variant, "baseline": baseline, "outcome": outcome, "replications": n,
                "mean_variant": float(a.mean()) if n else np.nan, "mean_baseline": mb,
                "difference": mean_d, "ci_low": mean_d - half, "ci_high": mean_d + half,
                "half_width": half,
                "relative_change": mean_d / mb if n and mb != 0 else np.nan,
                "sd_paired": sd, "variance_reduction": vr,
            })
    return pd.DataFrame(rows, columns=EFFECT_COLUMNS)


def compare(results: str | Path | pd.DataFrame, baseline: str | None = None,
            outcomes: list[str] | None = None, level: float = 0.95) -> pd.DataFrame:
    """Effects of every variant against the baseline: a results directory or a runs table."""
    if isinstance(results, pd.DataFrame):
        runs, manifest = results, {}
    else:
        runs, manifest = load_runs(results)
    baseline = baseline or manifest.get("baseline")
    if baseline is None:
        raise SrmsimError("name the baseline variant (baseline=...)")
    outcomes = outcomes or manifest.get("outcomes") or [
        c for c in runs.columns if c not in ("variant", "replication", "seed", "error",
                                             "runtime_seconds", "experiment_hash")]
    missing = [o for o in outcomes if o not in runs.columns]
    if missing:
        raise SrmsimError(f"outcome(s) {missing} are not in the runs table")
    return compare_frame(runs, baseline, outcomes, level)


def forest_plot(effects: pd.DataFrame, path: str | Path | None = None):
    """Paired differences with 95% CIs, one panel per outcome (each on its own scale)."""
    from srmsim.figures import new_figure, save

    outcomes = list(dict.fromkeys(effects["outcome"]))
    fig, axes = new_figure(7, 1.1 + 0.45 * len(effects) + 0.3 * len(outcomes),
                           nrows=len(outcomes), squeeze=False)
    for ax, outcome in zip(axes[:, 0], outcomes, strict=True):
        e = effects[effects["outcome"] == outcome].reset_index(drop=True)
        y = np.arange(len(e))[::-1]
        ax.errorbar(e["difference"], y, xerr=[e["difference"] - e["ci_low"],
                                              e["ci_high"] - e["difference"]],
                    fmt="o", color="tab:blue", capsize=3)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_yticks(y, e["variant"])
        ax.set_title(f"{outcome} (vs {e['baseline'].iloc[0]})", fontsize=9, loc="left")
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    save(fig, path)
    return fig


def format_effects(effects: pd.DataFrame) -> str:
    table = effects[["variant", "outcome", "mean_baseline", "mean_variant", "difference",
                     "ci_low", "ci_high", "relative_change", "variance_reduction"]].copy()
    table.columns = ["variant", "outcome", "baseline", "variant_mean", "difference", "ci_low",
                     "ci_high", "rel_change", "crn_gain"]
    return table.to_string(index=False, float_format=lambda v: f"{v:.4g}")
