"""PNG plots for threshold analysis and the value of pooling.

Uses matplotlib's object API with the Agg canvas (no pyplot, no global backend switch), so it is
safe in scripts, workers and notebooks alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from srmsim.figures import new_figure, save
from srmsim.labels import plural, printable, yes_no
from srmsim.risk.curves import CurveBands, interval_text


def _finish_roc(fig, ax, path: str | Path, title: str) -> Path:
    """The chance diagonal, axes, legend; saved."""
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    ax.set(xlabel="false positive rate (1 - specificity)", ylabel="true positive rate (recall)",
           xlim=(0, 1), ylim=(0, 1.01), title=title)
    ax.legend(loc="lower right")
    save(fig, path, dpi=110)
    return Path(path)


def _finish_pr(fig, ax, path: str | Path, prevalence: float | None, title: str) -> Path:
    """The base rate (when known), axes, legend; saved."""
    if prevalence is not None and np.isfinite(prevalence):
        ax.axhline(prevalence, ls="--", color="grey", lw=1, label=f"base rate {prevalence:.3f}")
    ax.set(xlabel="recall (sensitivity)", ylabel="precision", xlim=(0, 1), ylim=(0, 1.01),
           title=title)
    ax.legend(loc="upper right")
    save(fig, path, dpi=110)
    return Path(path)


def plot_roc(bands: CurveBands, path: str | Path, title: str = "ROC curve") -> Path:
    """ROC with its bootstrap band and the chance diagonal."""
    fig, ax = new_figure(5, 5)
    r = bands.roc
    ax.fill_between(r["fpr"], r["tpr_low"], r["tpr_high"], alpha=0.25, label="bootstrap band")
    ax.plot(r["fpr"], r["tpr"], lw=2, label=f"AUC {bands.auc:.3f} "
            f"({interval_text(bands.auc_low, bands.auc_high)})")
    return _finish_roc(fig, ax, path, title)


def plot_pr(bands: CurveBands, path: str | Path, prevalence: float | None = None,
            title: str = "Precision-recall curve") -> Path:
    """Interpolated precision against recall, with its band and the base rate."""
    fig, ax = new_figure(5, 5)
    p = bands.pr
    ax.fill_between(p["recall"], p["precision_low"], p["precision_high"], alpha=0.25,
                    label="bootstrap band")
    ax.plot(p["recall"], p["precision"], lw=2,
            label=f"AP {bands.average_precision:.3f} "
                  f"({interval_text(bands.ap_low, bands.ap_high)})")
    return _finish_pr(fig, ax, path, prevalence, title)


def plot_roc_points(points: pd.DataFrame, path: str | Path, title: str = "ROC curve",
                    label: str = "published thresholds") -> Path:
    """ROC through given points only (``fpr, tpr``), e.g. the published rows of a protected
    table (:func:`srmsim.risk.published_curves`): no band, nothing between the points, and
    the ends (0, 0) and (1, 1), which say nothing about anyone."""
    fig, ax = new_figure(5, 5)
    pts = points.sort_values(["fpr", "tpr"], kind="stable")
    ax.plot(np.r_[0.0, pts["fpr"], 1.0], np.r_[0.0, pts["tpr"], 1.0], lw=2, marker="o",
            label=label)
    return _finish_roc(fig, ax, path, title)


def plot_pr_points(points: pd.DataFrame, path: str | Path, prevalence: float | None = None,
                   title: str = "Precision-recall curve",
                   label: str = "published thresholds") -> Path:
    """Precision against recall at given points only (``recall, precision``), e.g. the
    published rows of a protected table; no band and no interpolation."""
    fig, ax = new_figure(5, 5)
    pts = points.sort_values("recall", kind="stable")
    ax.plot(pts["recall"], pts["precision"], lw=2, marker="o", label=label)
    return _finish_pr(fig, ax, path, prevalence, title)


#: fairness.png draws at most this many groups of a ``--by`` column: --by on a column of 400
#: groups drew 800 lines and a 400-entry legend (5 s, 1 MB, "tight layout not applied");
#: thresholds_by_group.csv keeps every group
MAX_FAIRNESS_GROUPS = 20


def plot_fairness(table: pd.DataFrame, path: str | Path) -> Path:
    """Flag rate and sensitivity against threshold, one line per group, one row per ``by``.

    Rows whose rate is NaN are left out of that line: pass a protected table read back with
    :func:`srmsim.risk.published_numbers` and a suppressed cell is simply not drawn. A column of
    many groups shows its first :data:`MAX_FAIRNESS_GROUPS`, and its titles say so."""
    by_cols = list(dict.fromkeys(table["by"].tolist()))
    unit, per_unit = _threshold_unit(table["threshold"].to_numpy(dtype=float))
    fig, axes = new_figure(10, 3.2 * len(by_cols), nrows=len(by_cols), ncols=2, squeeze=False)
    for i, col in enumerate(by_cols):
        sub = table[table["by"] == col]
        groups = list(dict.fromkeys(sub["group"].tolist()))
        shown_of = ""
        if len(groups) > MAX_FAIRNESS_GROUPS:
            sub = sub[sub["group"].isin(groups[:MAX_FAIRNESS_GROUPS])]
            shown_of = (f"\nthe first {MAX_FAIRNESS_GROUPS} of {plural(len(groups), 'group')}; "
                        "all in thresholds_by_group.csv")
        for g, gsub in sub.groupby("group", sort=False):  # the table's order: 2 before 10
            n = pd.to_numeric(gsub["n"], errors="coerce").iloc[0]
            n_text = f"{int(n)}" if np.isfinite(n) else "c"
            for j, metric in enumerate(("flag_rate", "sensitivity")):
                shown = gsub.dropna(subset=[metric])
                axes[i, j].plot(shown["threshold"] / unit, shown[metric],
                                label=printable(f"{col}={yes_no(g)} (n={n_text})"))
        for j, metric in enumerate(("flag_rate", "sensitivity")):
            gap = sub.groupby("threshold")[f"{metric}_gap"].first()
            worst = float(np.nanmax(gap.to_numpy())) if gap.notna().any() else float("nan")
            axes[i, j].set(xlabel=f"threshold ({table.attrs.get('score', 'score')}{per_unit})",
                           ylabel=metric.replace("_", " "),
                           title=printable(f"{metric.replace('_', ' ')} by {col} "
                                           f"(largest gap {worst:.3f})") + shown_of)
            axes[i, j].legend(fontsize=8)
    fig.tight_layout()
    save(fig, path, dpi=110)
    return Path(path)


def _threshold_unit(thresholds: np.ndarray) -> tuple[float, str]:
    """The power of ten a threshold axis is drawn in, and the words for it: thresholds beyond
    1e100 (scores of 1.7e308 made matplotlib's tick locator overflow, a traceback) are drawn
    in units of their largest power of ten; other scores as they are."""
    finite = np.abs(thresholds[np.isfinite(thresholds)])
    top = float(finite.max()) if finite.size else 0.0
    if top < 1e100:
        return 1.0, ""
    power = int(np.floor(np.log10(top)))
    return 10.0**power, f", in units of 1e{power}"


def plot_value_of_pooling(result: pd.DataFrame, path: str | Path) -> Path:
    """AUC and precision at capacity against the number of contributing schools, with bands."""
    fig, axes = new_figure(10, 4, ncols=2)
    for coarsened, sub in result.groupby("coarsened", sort=True):
        label = "coarsened for privacy" if coarsened else "exact records"
        for ax, name in zip(axes, ("auc", "precision_at_capacity"), strict=True):
            ax.fill_between(sub["k"], sub[f"{name}_low"], sub[f"{name}_high"], alpha=0.2)
            ax.plot(sub["k"], sub[f"{name}_mean"], marker="o", label=label)
    held = result.attrs.get("holdout_schools", [])
    axes[0].set(xlabel="contributing schools k", ylabel="out-of-sample AUC",
                title=f"AUC on {plural(len(held), 'held-out school')}")
    axes[1].set(xlabel="contributing schools k", ylabel="precision at capacity",
                title=f"precision, capacity {result.attrs.get('capacity_rate', '?')} per school")
    for ax in axes:
        ax.legend()
    fig.tight_layout()
    save(fig, path, dpi=110)
    return Path(path)
