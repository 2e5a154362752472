"""Operating characteristics of a trial over replications: bias, coverage, power, naive bias.

Monte-Carlo uncertainty is reported with every figure, because 40 replications say much less
than 4,000: bias with a t interval from its Monte-Carlo SE, coverage and rejection rates with
Wilson intervals (they behave near 0 and 1, where rates of 0.95 and 0.05 live).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from srmsim.errors import DataError
from srmsim.experiment.outcomes import COLUMN_SCALES, UNIT_TEXT, format_difference
from srmsim.labels import (
    given_percent,
    over_replications,
    percent,
    percent_level,
    percent_of_runs,
    plain_number,
    plural,
    significant,
)
from srmsim.outputs import csv_text, json_dumps
from srmsim.results import write_text
from srmsim.stats._checks import check_alpha
from srmsim.stats._inference import wilson
from srmsim.trial.spec import Trial

SUMMARY_COLUMNS = ["measure", "value", "ci_low", "ci_high", "mcse", "note"]
#: what a trial folder's trial_summary.csv must hold (folders from before the mcse column too)
REQUIRED_SUMMARY_COLUMNS = ["measure", "value", "ci_low", "ci_high", "note"]


def _mean_ci(x: np.ndarray) -> tuple[float, float, float, float]:
    """Mean, t interval and Monte-Carlo SE of the finite values of ``x``."""
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return (math.nan,) * 4
    m = float(x.mean())
    if n < 2:
        return m, math.nan, math.nan, math.nan
    mcse = float(x.std(ddof=1) / math.sqrt(n))
    half = float(sps.t.ppf(0.975, n - 1)) * mcse
    return m, m - half, m + half, mcse


#: the columns of a trial's replications (trial_runs.csv) that :func:`summarise` reads
SUMMARISED_COLUMNS = ("estimate", "se", "ci_low", "ci_high", "p_value", "df", "true_effect",
                      "true_effect_served", "covered", "rejected", "naive", "naive_truth",
                      "baseline_changed", "error")


def _check_runs(runs: object) -> None:
    """A table of replications with the columns of trial_runs.csv that :func:`summarise`
    reads."""
    if not isinstance(runs, pd.DataFrame):
        raise DataError(f"runs must be a table of replications (a DataFrame, as trial_runs.csv "
                        f"holds), not {type(runs).__name__}")
    lacking = [c for c in SUMMARISED_COLUMNS if c not in runs.columns]
    if lacking:
        raise DataError(f"runs lacks {plural(len(lacking), 'column')} "
                        f"{', '.join(map(repr, lacking[:8]))}{' ...' if len(lacking) > 8 else ''}"
                        ": give the replications as trial_runs.csv holds them")


def _check_analysed_at(ok: pd.DataFrame, alpha: float) -> None:
    """The replications' ``rejected`` and ``covered`` were decided at the trial's own alpha
    (its ``analysis.alpha``): summarised at another, the rejection rate and the CI's level
    would be labelled with an alpha they were not found at. A replication rejected with p at
    or above ``alpha``, or not rejected below it, shows the runs were analysed at another."""
    p = pd.to_numeric(ok["p_value"], errors="coerce").to_numpy(dtype=float)
    rejected = ok["rejected"].to_numpy(dtype=bool)
    known = np.isfinite(p)
    wrong = known & (rejected != (p < alpha))
    if wrong.any():
        shown = p[wrong]
        raise DataError(
            f"the runs were analysed at another significance level than alpha={alpha:g}: "
            f"{plural(int(wrong.sum()), 'replication')} with p from {shown.min():.3g} to "
            f"{shown.max():.3g} {'were' if wrong.sum() > 1 else 'was'} "
            f"{'rejected' if rejected[wrong][0] else 'not rejected'} there; summarise them at "
            "the alpha they were analysed at (the trial's analysis.alpha)")


def truth_population(config: Any) -> str:
    """Whom a trial's true effect averages over, in words (see :mod:`srmsim.trial.analyse`):
    the note said "treated arm" also where the truth is over screened students only or a
    stepped wedge's treated school-periods."""
    if config.randomise.unit == "stepped_wedge":
        return "treated school-periods while some school is untreated"
    if config.population == "flagged":
        return "flagged treated-arm students"
    return "treated arm"


def summarise(runs: pd.DataFrame, alpha: float = 0.05,
              population: str = "treated arm") -> pd.DataFrame:
    """One row per measure over the replications that finished (failures are counted).

    The naive bias is the naive before/after minus the policy's true effect on ``post`` among the
    same students: what regression to the mean (students picked for a low, noisy score score
    higher next time anyway) and every other change over the year (seasons, low readers falling
    further behind) add to the naive figure.
    """
    alpha = check_alpha(alpha)
    _check_runs(runs)
    error = runs["error"]
    ok = runs[(error.isna() | (error.astype(str) == "")).to_numpy()]
    _check_analysed_at(ok, alpha)
    failed = len(runs) - len(ok)
    n = len(ok)
    rows: list[dict[str, Any]] = [{
        "measure": "replications", "value": float(n), "ci_low": math.nan, "ci_high": math.nan,
        "mcse": math.nan, "note": f"{failed} failed (see trial_runs.csv, column error)" if failed else "all finished",
    }]

    def add(measure: str, values: np.ndarray | float, note: str = "", ci: bool = True) -> None:
        if isinstance(values, float):
            rows.append({"measure": measure, "value": values, "ci_low": math.nan,
                         "ci_high": math.nan, "mcse": math.nan, "note": note})
            return
        m, lo, hi, mcse = _mean_ci(values)
        finite = int(np.isfinite(values).sum())
        if 0 < finite < len(values):  # the others (no served student, no estimate) left out
            note = "; ".join(filter(None, [note, over_replications(finite, len(values))
                                           + " (the others have no value)"]))
        # the Monte-Carlo SE is a number in the outcome's unit: its own column, so the printed
        # table can give it that unit (a note 'MCSE 0.000895' beside '+0.76 pp' read as 0.0009 pp)
        rows.append({"measure": measure, "value": m, "ci_low": lo if ci else math.nan,
                     "ci_high": hi if ci else math.nan, "mcse": mcse if ci else math.nan,
                     "note": note})

    def rate(measure: str, hits: np.ndarray, known: np.ndarray, what: str, note: str) -> None:
        """A share of the replications whose analysis gave ``what`` (a CI, a p-value): one
        without it neither covers nor rejects, and counted as a miss it would read as 0%
        coverage of a CI that was never computed."""
        k, m = int(hits[known].sum()), int(known.sum())
        lo, hi = wilson(k, m)
        left_out = len(known) - m
        without = (f"; {plural(left_out, 'replication')} without {what} left out"
                   if left_out else "")
        told = f"{k} of {m}, Wilson CI; {note}{without}" if m else \
            f"no replication's analysis gave {what}; {note}"
        rows.append({"measure": measure, "value": k / m if m else math.nan, "ci_low": lo,
                     "ci_high": hi, "mcse": math.nan, "note": told})

    est = ok["estimate"].to_numpy(dtype=float)
    truth = ok["true_effect"].to_numpy(dtype=float)
    err = est - truth
    add("mean estimate", est)
    add("mean true effect (ITT)", truth, f"{population}: trial minus counterfactual")
    add("mean true effect among served", ok["true_effect_served"].to_numpy(dtype=float))
    add("bias (estimate - truth)", err)
    finite = err[np.isfinite(err)]
    add("RMSE", float(np.sqrt(np.mean(finite**2))) if len(finite) else math.nan,
        "typical error of one trial's estimate, bias included (lower is better)")
    add("SD of (estimate - truth)", float(np.std(finite, ddof=1)) if len(finite) > 1
        else math.nan, "the reported SEs should match it")
    add("mean reported SE", ok["se"].to_numpy(dtype=float),
        "the standard error the analysis reports, on average: near the SD above when the "
        "analysis is honest about its uncertainty", ci=False)
    if n:
        level = given_percent(1 - alpha)
        has_ci = (np.isfinite(ok["ci_low"].to_numpy(dtype=float))
                  & np.isfinite(ok["ci_high"].to_numpy(dtype=float)))
        # a replication without a true effect (no treated student's counterfactual) was
        # "covered = False" and counted as a miss
        has_truth = np.isfinite(truth)
        rate(f"coverage of the {level} CI", ok["covered"].to_numpy(dtype=bool),
             has_ci & has_truth, "a CI" if has_truth.all() else "a CI and a true effect",
             f"nominal {level}")
        null = bool(np.all(np.abs(truth) < 1e-12))
        rejected = ok["rejected"].to_numpy(dtype=bool)
        rate(f"rejection rate (p < {alpha:g})", rejected,
             np.isfinite(ok["p_value"].to_numpy(dtype=float)), "a p-value",
             f"true effect 0: type I error, nominal {given_percent(alpha)}" if null else "power")
        if failed and not null:  # the rate is among the trials that could be analysed
            k = int(rejected.sum())
            rows[-1]["note"] += (f"; {k} of all {len(runs)} run ({percent(k / len(runs))})"
                                 f" counting the {failed} failed as finding nothing")
        rows.extend(design_rows(ok, alpha))
    naive = ok["naive"].to_numpy(dtype=float)
    if np.isfinite(naive).any():
        add("mean naive pre-post (served, treated arm)", naive)
        add("mean true effect on post among them", ok["naive_truth"].to_numpy(dtype=float))
        add("naive bias (naive - its truth)", naive - ok["naive_truth"].to_numpy(dtype=float),
            "regression to the mean + other change")
    changed = ok["baseline_changed"].to_numpy(dtype=float)
    if np.nansum(changed) > 0:
        add("students whose baseline the policy changed", float(np.nanmean(changed)),
            "the baseline covariate is measured after treatment began: pick a pre-treatment one")
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


#: the power the minimum detectable effect size is quoted at (PowerUp!'s and the EEF's 80%)
MDES_POWER = 0.8
MDES = "MDES"
MDES_SD = "MDES in outcome SDs"
ANALYTIC_POWER = "analytic power at the mean true effect"


def _median_df(df: np.ndarray) -> float:
    """The analysis's degrees of freedom over the replications: their median (CR2's
    Bell-McCaffrey df differ from one replication to the next, and a few small ones would pull
    a mean down); inf (a normal reference) counts as the largest; NaN when none recorded one."""
    df = df[~np.isnan(df)]
    df = df[df > 0]
    return float(np.median(df)) if len(df) else math.nan


def design_rows(ok: pd.DataFrame, alpha: float) -> list[dict[str, Any]]:
    """The design's minimum detectable effect size and its analytic power at the true effect,
    from the simulation alone, as summary rows.

    MDES = (t(1 - alpha/2, df) + t(0.8, df)) x SE, two-sided (PowerUp!'s formula, through
    :func:`srmsim.stats.designs.mdes_from_se`), with SE the SD over the replications of
    estimate minus truth (the table's "SD of (estimate - truth)"): the estimator's real
    sampling error, whatever the analysis reports (a cluster-robust SE that runs low would
    move an MDES built on the mean reported SE while the design's precision stays put; both
    are in the table to compare). Not the SD of the estimates themselves: where the true
    effect differs between replications (other students flagged and served), that spread is
    the effect's, not the estimator's (trial_reading.yaml: SD of the estimates 0.97 months,
    of the errors 0.45, of the truths 0.87; the estimates' SD doubled the MDES). df is the
    median of the analysis's df over the replications (:func:`_median_df`). Its interval is
    the Monte-Carlo one of the SD (chi-square on R - 1 df, for normal errors), carried
    through. The standardised MDES divides by the mean over replications of the outcome's SD
    without the policy (the counterfactual run) among the students analysed, as PowerUp!
    reports an MDES; the analytic power is the noncentral t at the mean true effect (ITT)
    with the same SE and df (:func:`srmsim.stats.designs.power_from_se`), to set beside the
    simulated rejection rate. The notes name the rows they use rather than quote numbers,
    so the summary is the same whoever formats it.
    """
    from srmsim.errors import SrmsimError
    from srmsim.stats.designs import mdes_from_se, power_from_se

    err = ok["estimate"].to_numpy(dtype=float) - ok["true_effect"].to_numpy(dtype=float)
    err = err[np.isfinite(err)]
    k = len(err)
    df = _median_df(ok["df"].to_numpy(dtype=float))
    with np.errstate(over="ignore"):  # an overflowing spread is said below, not warned
        sd = float(np.std(err, ddof=1)) if k > 1 else math.nan
    why = ("fewer than 2 estimates with a true effect" if k < 2
           else "the estimates' errors do not vary" if not sd > 0
           else "the estimates' errors overflow" if not math.isfinite(sd)
           else "no replication recorded its df" if math.isnan(df) else "")
    at = f"{given_percent(MDES_POWER)} power, two-sided p < {alpha:g}"

    def row(measure: str, value: float = math.nan, lo: float = math.nan, hi: float = math.nan,
            note: str = "") -> dict[str, Any]:
        return {"measure": measure, "value": value, "ci_low": lo, "ci_high": hi,
                "mcse": math.nan, "note": note}

    outcome_sd = ok["outcome_sd"].to_numpy(dtype=float) if "outcome_sd" in ok else \
        np.array([math.nan])
    has_sd = bool(np.isfinite(outcome_sd).any()) and float(np.nanmean(outcome_sd)) > 0
    if not why:
        # Monte-Carlo interval of the SD: (R - 1) s^2 / sigma^2 is chi-square on R - 1 df
        sd_lo = sd * math.sqrt((k - 1) / float(sps.chi2.isf(0.025, k - 1)))
        sd_hi = sd * math.sqrt((k - 1) / float(sps.chi2.ppf(0.025, k - 1)))
        effect = float(np.nanmean(ok["true_effect"].to_numpy(dtype=float)))
        try:  # an alpha or a spread beyond double precision's quantiles says so, not raises
            m, m_lo, m_hi = (mdes_from_se(s, df, alpha, MDES_POWER) for s in (sd, sd_lo, sd_hi))
            p, p_a, p_b = (power_from_se(effect, s, df, alpha) for s in (sd, sd_lo, sd_hi))
        except SrmsimError as err:
            why = str(err)
    if why:
        names = [f"{MDES} ({at})", *([MDES_SD] if has_sd else []), ANALYTIC_POWER]
        return [row(name, note=f"not computable: {why}") for name in names]
    df_text = "inf (normal)" if math.isinf(df) else significant(df)
    out = [row(f"{MDES} ({at})", m, m_lo, m_hi,
               f"the smallest true effect detected {given_percent(MDES_POWER)} of the time: "
               f"(t(1 - alpha/2, df) + t({MDES_POWER:g}, df)) x SE, SE = SD of "
               f"(estimate - truth) over {k} replications, df {df_text} (median); "
               "interval: Monte-Carlo")]
    if has_sd:
        ysd = float(np.nanmean(outcome_sd))
        out.append(row(MDES_SD, m / ysd, m_lo / ysd, m_hi / ysd,
                       "MDES / the outcome's SD without the policy among the students "
                       "analysed (trial_runs.csv: outcome_sd), as PowerUp! reports it"))
    out.append(row(ANALYTIC_POWER, p, min(p_a, p_b), max(p_a, p_b),
                   "noncentral t at the mean true effect (ITT), with the MDES's SE and df: "
                   "compare the simulated rejection rate (reported SEs off the SD of "
                   "(estimate - truth), or a bias, part them); interval: Monte-Carlo"))
    return out


#: summary measures that are effects (in the outcome's unit) rather than rates or counts
EFFECT_MEASURES = ("mean estimate", "mean true effect", "bias", "RMSE", "SD of", "mean reported",
                   "mean naive", "naive bias")


def _format(measure: str, value: float, scale: str) -> str:
    if not math.isfinite(value):
        return "–"
    if measure == "replications":
        return f"{value:,.0f}"
    if measure.startswith(("coverage", "rejection")):
        return percent_of_runs(value, 1)
    if measure.startswith(ANALYTIC_POWER):  # 100% only when exactly so, as the rates
        return percent_of_runs(value, 1)
    if measure.startswith(MDES_SD):
        return f"{value:.3f} SD"
    if measure.startswith(MDES):  # a size, not a direction
        return format_difference(value, scale).lstrip("+±")
    if measure.startswith("students whose"):
        return f"{value:,.1f} students"
    if measure.startswith(("RMSE", "SD of", "mean reported SE")):
        return format_difference(value, scale).lstrip("+±")  # a size, not a direction
    if measure.startswith(EFFECT_MEASURES):
        return format_difference(value, scale)
    return plain_number(value)


#: summary measures of the naive before/after, in the unit of ``naive.post``, which need not be
#: the outcome's (a reading trial may check its served students' attendance)
NAIVE_MEASURES = ("mean naive", "mean true effect on post", "naive bias")


def naive_scale(naive: Any) -> str | None:
    """The scale of a trial's ``naive.post`` column (``naive``: the trial's naive settings, as
    a model or as trial.json's mapping), None when the trial has no naive comparison."""
    post = naive.get("post") if isinstance(naive, dict) else getattr(naive, "post", None)
    return COLUMN_SCALES.get(post, "number") if isinstance(post, str) else None


def summary_units(summary: pd.DataFrame, scale: str = "number",
                  naive: str | None = None) -> list[str]:
    """The unit of each summary row's raw value, as trial_summary.csv gives it (the CSV held
    0.0068 for an estimate the table printed as +0.68 pp, with no unit anywhere in the folder
    but the outcome's name): effects in the outcome's (the naive rows in ``naive``'s), rates
    as shares of the replications."""
    def words(s: str) -> str:
        return UNIT_TEXT.get(s, "") or "as recorded"

    units = []
    for m in summary["measure"].astype(str):
        if m == "replications":
            units.append("replications")
        elif m.startswith(("coverage", "rejection")):
            units.append("share of replications (0 to 1)")
        elif m.startswith(ANALYTIC_POWER):
            units.append("probability (0 to 1)")
        elif m.startswith(MDES_SD):
            units.append("outcome standard deviations")
        elif m.startswith("students whose"):
            units.append("students")
        elif naive and m.startswith(NAIVE_MEASURES):
            units.append(words(naive))
        else:
            units.append(words(scale))
    return units


def summary_display(summary: pd.DataFrame, scale: str = "number",
                    naive: str | None = None) -> pd.DataFrame:
    """The summary as text: effects in the outcome's unit (``scale``, see
    :data:`srmsim.experiment.outcomes.COLUMN_SCALES`), the naive before/after's rows in the unit
    of its ``post`` column (``naive``, default ``scale``), rates as percentages."""
    scales = [naive if naive and str(m).startswith(NAIVE_MEASURES) else scale
              for m in summary["measure"]]
    return pd.DataFrame({
        "measure": summary["measure"],
        "value": [_format(m, v, s) for m, v, s in zip(summary["measure"], summary["value"],
                                                      scales, strict=True)],
        "95% interval": [f"{_format(m, lo, s)} to {_format(m, hi, s)}"
                         if math.isfinite(lo) else ""
                         for m, lo, hi, s in zip(summary["measure"], summary["ci_low"],
                                                 summary["ci_high"], scales, strict=True)],
        "note": [_with_mcse(str(note), mcse, s) for note, mcse, s in zip(
            summary["note"].fillna(""),
            summary["mcse"] if "mcse" in summary else [math.nan] * len(summary), scales,
            strict=True)],
    })


def _with_mcse(note: str, mcse: float, scale: str) -> str:
    """The note, then the Monte-Carlo SE of the mean in the outcome's unit."""
    if not math.isfinite(mcse):
        return note
    se = format_difference(mcse, scale).lstrip("+±")
    return (note + "; " if note else "") + f"Monte-Carlo SE {se}"


def format_summary(summary: pd.DataFrame, scale: str = "number", naive: str | None = None
                   ) -> str:
    """The table `srmsim trial` prints: plain numbers, effects in the outcome's unit (the naive
    before/after's in its ``post`` column's, ``naive``)."""
    from srmsim.experiment.compare import text_table

    return text_table(summary_display(summary, scale, naive), right={"value"})


def plot(runs: pd.DataFrame, path: str | Path | None = None, title: str = "",
         naive: bool = True, scale: str | None = None, level: str = ""):
    """Left: each replication's estimate and CI against its truth and the naive figure.
    Right: distributions of estimate - truth and naive - its truth. ``naive=False`` leaves the
    naive figures out: a naive check in another unit than the outcome's (attendance beside
    a reading gap in months) has no place on the same axis. ``scale`` (the outcome's, as in
    :data:`COLUMN_SCALES`) puts the unit on the axes, shares in percentage points; ``level``
    (``90%``) names the CIs' level in the legend."""
    from matplotlib.ticker import MaxNLocator

    from srmsim.experiment.outcomes import DIFFERENCE_UNIT
    from srmsim.figures import fitted_title, legend_beside, new_figure, save

    ok = runs[runs["error"].fillna("") == ""].reset_index(drop=True)
    # trial.png's axes read "effect" and "error" with no unit, a share's 0.01 beside a
    # report that says +1.00 pp, and its legend "CI" at no level
    unit = DIFFERENCE_UNIT.get(scale, "") if scale else ""
    if scale == "share":
        ok = ok.assign(**{c: ok[c].astype(float) * 100 for c in (
            "estimate", "ci_low", "ci_high", "true_effect", "naive", "naive_truth")
            if c in ok})
    ci = f"{level} CI" if level else "CI"
    # wide enough for the two legends beside their axes
    fig, (ax, ax2) = new_figure(12.5, 4.2, ncols=2, gridspec_kw={"width_ratios": [1.6, 1]})
    if ok.empty:
        ax.text(0.5, 0.5, "no replication finished", ha="center", va="center")
        save(fig, path, dpi=110)
        return fig
    x = np.arange(len(ok))
    cover = ok["covered"].to_numpy(dtype=bool)
    for mask, colour, label in ((cover, "tab:blue", f"estimate, {ci} covers truth"),
                                (~cover, "tab:red", f"estimate, {ci} misses truth")):
        if mask.any():
            e = ok[mask]
            ax.errorbar(x[mask], e["estimate"], yerr=[e["estimate"] - e["ci_low"],
                                                      e["ci_high"] - e["estimate"]],
                        fmt="o", ms=3, lw=0.8, color=colour, label=label)
    ax.plot(x, ok["true_effect"], "k_", ms=9, mew=2, label="true effect (ITT)")
    show_naive = naive and bool(ok["naive"].notna().any())
    if show_naive:
        ax.plot(x, ok["naive"], "^", ms=4, color="tab:orange", label="naive pre-post (served)")
        ax.plot(x, ok["naive_truth"], "_", ms=8, mew=1.5, color="tab:orange",
                label="true effect among them")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("replication")
    ax.set_xlim(-0.5, len(ok) - 0.5)  # whole replications (one was drawn at -0.04, -0.02...)
    if len(ok) <= 10:
        ax.set_xticks(x)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(f"effect ({unit})" if unit else "effect")
    # beside the axes, as the right panel's: inside ("best") it could cover replications' points
    legend_beside(ax, fontsize=7)
    fitted_title(ax, title or "estimate vs truth per replication", fontsize=9, loc="left")
    err = (ok["estimate"] - ok["true_effect"]).to_numpy(dtype=float)
    parts = [(err, "tab:blue", "trial estimate - truth")]
    if show_naive:
        parts.append(((ok["naive"] - ok["naive_truth"]).to_numpy(dtype=float), "tab:orange",
                      "naive - its truth"))
    values = np.concatenate([p[0][np.isfinite(p[0])] for p in parts])
    bins = np.linspace(values.min(), values.max(), 25) if values.size and np.ptp(values) > 0 \
        else 10
    for v, colour, label in parts:
        ax2.hist(v[np.isfinite(v)], bins=bins, color=colour, alpha=0.55, label=label)
    ax2.axvline(0, color="black", lw=0.8)
    ax2.set_xlabel(f"error ({unit})" if unit else "error")
    ax2.set_ylabel("replications")
    ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
    legend_beside(ax2, fontsize=7)  # inside, it covered bars of a histogram filling its axes
    fitted_title(ax2, "errors over replications", fontsize=9, loc="left")
    fig.tight_layout()
    save(fig, path, dpi=110)
    return fig


class TrialSummary(pd.DataFrame):
    """The summary table (one row per measure); calling it, ``result.summary()``, gives the
    readable text `srmsim trial` prints. Operations on it return plain DataFrames."""

    @property
    def _constructor(self):
        return pd.DataFrame

    def __call__(self) -> str:
        return format_summary(pd.DataFrame(self))


@dataclass
class TrialResult:
    """Rows per replication, the summary over them, and how to save both.

    ``result.summary`` is the summary table (a DataFrame); ``result.summary()`` the same as
    text; ``result.plot()`` the estimate-against-truth figure; ``print(result)`` the design and
    the table; ``result.report(dir)`` writes the files and the HTML report.
    """

    trial: Trial
    runs: pd.DataFrame
    summary: pd.DataFrame
    seconds: float = 0.0  # this session's
    failures: list[dict[str, Any]] = field(default_factory=list)
    stored: int = 0  # replications an earlier session had stored (``--resume``)
    #: per replication, the treated arm's outcomes in both runs by group
    #: (:func:`srmsim.trial.groups.group_truths`); None for results that keep none
    groups: pd.DataFrame | None = None
    #: what the session changed to run at all (fewer local workers, where memory holds fewer
    #: runs at once)
    notes: list[str] = field(default_factory=list)
    #: per replication, the trial's analysis within each subgroup and its interaction tests
    #: (:func:`srmsim.trial.subgroups.subgroup_estimates`); None for a stepped wedge, or a
    #: store begun by an srmsim before them
    subgroups: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.summary, TrialSummary):
            self.summary = TrialSummary(self.summary)

    def __str__(self) -> str:
        return f"{self.trial.describe()}\n{plural(len(self.runs), 'replication')}\n{self.table()}"

    def report(self, out: str | Path) -> Path:
        """Write the trial's files to ``out`` and its HTML report; returns the report's path."""
        return self.write(out, html=True) / "report.html"

    def measure(self, name: str) -> float:
        """A summary value by the start of its measure name, e.g. ``measure("coverage")``."""
        hit = self.summary[self.summary["measure"].str.startswith(name)]
        if hit.empty:
            raise KeyError(f"no summary measure starting {name!r}; measures: "
                           f"{', '.join(self.summary['measure'])}")
        return float(hit["value"].iloc[0])

    def table(self) -> str:
        scale = COLUMN_SCALES.get(self.trial.config.outcome, "number")
        return format_summary(self.summary, scale, naive_scale(self.trial.config.naive))

    def subgroup_summary(self) -> pd.DataFrame | None:
        """Over replications, each subgroup's mean estimate and truth, coverage and the
        interaction tests' rejection rate (:func:`srmsim.trial.subgroups.summarise_subgroups`);
        None when the trial keeps no subgroup estimates."""
        from srmsim.trial.subgroups import summarise_subgroups

        if self.subgroups is None:
            return None
        return summarise_subgroups(self.subgroups, self.trial.config.analysis.alpha)

    def subgroup_table(self) -> str:
        """The subgroup summary as `srmsim trial` prints it, or why there is none."""
        from srmsim.trial.subgroups import format_subgroups

        summary = self.subgroup_summary()
        if summary is None:
            return ("Subgroups: no estimates (a stepped wedge's analysis has no interaction "
                    "test)" if self.trial.unit == "stepped_wedge" else
                    "Subgroups: no estimates (run with --no-subgroups, begun by an srmsim "
                    "before them, or no replication finished; run the trial into a new --out "
                    "directory for them)")
        ok = int((self.runs["error"].fillna("") == "").sum())
        return format_subgroups(summary, ok, COLUMN_SCALES.get(self.trial.config.outcome,
                                                                "number"),
                                self.trial.config.analysis.alpha, self.subgroups)

    def plot(self, path: str | Path | None = None):
        c = self.trial.config
        unit = COLUMN_SCALES.get(c.outcome, "number")
        return plot(self.runs, path, title=self.trial.name,
                    naive=naive_scale(c.naive) in (None, unit), scale=unit,
                    level=percent_level(1 - c.analysis.alpha))

    def write(self, out: str | Path, html: bool = False) -> Path:
        """trial_runs.csv, trial_summary.csv, trial.png, trial.json (settings, seeds, versions),
        scenario.yaml, trial_groups.csv (the treated arm's outcomes, cost and reach in both runs,
        by group), when replications failed trial_failures.json (their errors and tracebacks),
        and report.html if ``html``. An earlier trial's folder is replaced whole (no stale file);
        the resume store of this very trial (``store/``) is carried over.

        Nothing here depends on how or when the replications ran (timings are in the store's
        manifest), so a resumed trial writes the same bytes as an uninterrupted one.
        """
        from srmsim.outputs import holds_only, replace_dir
        from srmsim.store import versions
        from srmsim.trial.store import STORE_DIR, TRIAL_FILES, TRIAL_MARKERS, TrialStore

        final = Path(out)
        keep: tuple[str, ...] = (STORE_DIR,) if TrialStore.of(final).belongs_to(self.trial) \
            else ()
        if keep and not html and self.stored == len(self.runs) \
                and (final / "report.html").is_file():
            # a finished trial run again without a report: its report still holds (it was
            # deleted, though the researcher's guide says such a run only prints its table)
            keep += ("report.html",)
        with replace_dir(final, private=self.trial.from_records,
                         replaceable=holds_only(TRIAL_MARKERS, TRIAL_FILES), keep=keep) as out:
            write_text(csv_text(self.runs, float_format="%.10g"), out / "trial_runs.csv")
            c = self.trial.config
            units = summary_units(self.summary, COLUMN_SCALES.get(c.outcome, "number"),
                                  naive_scale(c.naive))
            write_text(csv_text(pd.DataFrame(self.summary).assign(unit=units),
                                float_format="%.10g"), out / "trial_summary.csv")
            self.plot(out / "trial.png")
            meta = {"name": self.trial.name, "source": self.trial.source,
                    "trial_hash": self.trial.digest(), "design": self.trial.describe(),
                    "settings": self.trial.config.model_dump(mode="json"),
                    # what trial_hash hashes besides settings and scenario.yaml
                    **({"input_files": dict(sorted(self.trial.input_files.items()))}
                       if self.trial.input_files else {}),
                    "root_seed": self.trial.root_seed,
                    "seeds": self.runs["seed"].astype(int).tolist(), "versions": versions()}
            write_text(json_dumps(meta, indent=2) + "\n", out / "trial.json")
            write_text(self.trial.scenario.to_yaml(), out / "scenario.yaml")  # resolved, --set too
            if self.groups is not None:
                write_text(csv_text(self.groups, float_format="%.10g"), out / "trial_groups.csv")
            subgroup_summary = self.subgroup_summary()
            if self.subgroups is not None and subgroup_summary is not None:
                write_text(csv_text(self.subgroups, float_format="%.10g"),
                           out / "trial_subgroups.csv")
                write_text(csv_text(subgroup_summary, float_format="%.10g"),
                           out / "trial_subgroup_summary.csv")
            if self.failures:
                keep_keys = ("replication", "seed", "error", "traceback")
                write_text(json_dumps([{k: f.get(k) for k in keep_keys} for f in self.failures],
                                      indent=2) + "\n", out / "trial_failures.json")
            if html:
                from srmsim.outputs import dir_mode, link_copy
                from srmsim.report import write_report

                for name in keep:  # the store in place first: the report reads its timings
                    if (final / name).exists():
                        link_copy(final / name, out / name)
                # the report is owner-only when its folder is; the staging folder is 0700
                # until the swap, so give it its final mode first (docs/privacy.md section 2)
                os.chmod(out, dir_mode(self.trial.from_records))
                write_report(out)
        return final
