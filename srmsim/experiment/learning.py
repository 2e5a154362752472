"""Outcomes of the learning loop: regret against the oracle, oracle match, gains per staff hour,
and the learning curve (each of them term by term).

Every figure comes from a run's ``decisions`` table (one row per choice at a step with candidate
actions), which carries the simulator's true expected gain of the chosen action and of the
oracle's. ``regret`` is the oracle's expected gain minus the chosen action's, in the chooser
target's units (months of reading age for ``target: reading``) per referral; 0 is perfect.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from srmsim import calendar
from srmsim.labels import over_replications, percent, percent_level, plural, significant
from srmsim.outputs import replace_files, write_csv
from srmsim.policy.chooser import oracle_matched
from srmsim.policy.delivered import GROUPS, UNITS, weekly_column
from srmsim.policy.delivered import TARGETS as PER_100H
from srmsim.results import RunResult

if TYPE_CHECKING:
    from srmsim.experiment.outcomes import Outcome

MAX_TERMS = 15  # five school years of terms: regret_t1 ... regret_t15


def _decisions(r: RunResult) -> pd.DataFrame | None:
    d = r.decisions
    return d if d is not None and len(d) else None


def _regret(mask: Callable[[pd.DataFrame], pd.Series] | None = None
            ) -> Callable[[RunResult], float]:
    def f(r: RunResult) -> float:
        d = _decisions(r)
        if d is None:
            return float("nan")
        d = d[mask(d)] if mask else d
        return float(d["regret"].mean()) if len(d) else float("nan")

    return f


def _match(mask: Callable[[pd.DataFrame], pd.Series] | None = None
           ) -> Callable[[RunResult], float]:
    def f(r: RunResult) -> float:
        d = _decisions(r)
        if d is None:
            return float("nan")
        d = d[mask(d)] if mask else d
        return float(oracle_matched(d).mean()) if len(d) else float("nan")

    return f


def _ratio_per_100h(value: float | None, minutes: float) -> float:
    return (float(100 * 60 * value / minutes) if value is not None and minutes > 0
            else float("nan"))


def _per_100h(key: str, group: str | None = None) -> Callable[[RunResult], float]:
    """What the actions delivered (simulator truth) per 100 staff hours spent on actions; for a
    group, delivered to its students per 100 staff hours spent on them."""
    def f(r: RunResult) -> float:
        if group is None:
            return _ratio_per_100h(r.summary.get(f"{key}_delivered"),
                                   60 * r.summary.get("staff_hours", 0.0))
        s = r.students
        minutes = float(s.loc[s[group].astype(bool), "staff_minutes"].sum())
        return _ratio_per_100h(r.summary.get(f"{key}_delivered_{group}"), minutes)

    return f


def _per_100h_term(key: str, k: int) -> Callable[[RunResult], float]:
    """Delivered in term ``k`` of the run per 100 staff hours used in that term (a flow: the
    term's gains come partly from actions started in the term before)."""
    def f(r: RunResult) -> float:
        w = r.weekly
        column = weekly_column(key)
        if w is None or column not in w.columns:
            return float("nan")
        w = w[calendar.run_term(w["run_week"].to_numpy()) == k]
        minutes = w["staff_minutes_used"].sum() + (w["pool_minutes_used"].sum()
                                                   if "pool_minutes_used" in w.columns else 0.0)
        return _ratio_per_100h(float(w[column].sum()) if len(w) else None, float(minutes))

    return f


def _explore_share(r: RunResult) -> float:
    d = _decisions(r)
    return float((d["how"] == "explore").mean()) if d is not None else float("nan")


def _term(k: int) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda d: d["term"] == k


def _group(g: str) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda d: d[g].astype(bool)


def learning_outcomes() -> dict[str, tuple[str, Callable[[RunResult], float]]]:
    """Entries for :data:`srmsim.experiment.outcomes.OUTCOMES`."""
    out: dict[str, tuple[str, Callable[[RunResult], float]]] = {
        "regret": ("mean regret per referral against the oracle (target units, e.g. reading "
                   "months)", _regret()),
        "oracle_match": ("share of referrals given the oracle's action", _match()),
        "explore_share": ("share of referrals allocated at random to explore", _explore_share),
        "reading_per_100h": ("months of reading age the actions added per 100 staff hours "
                             "(simulator truth)", _per_100h("reading")),
        "attainment_per_100h": ("attainment (SD) the actions added per 100 staff hours "
                                "(simulator truth)", _per_100h("attainment")),
        "attendance_per_100h": ("days of attendance the actions added per 100 staff hours "
                                "(simulator truth, expected; two sessions a day)",
                                _per_100h("attendance")),
    }
    for g in GROUPS:
        out[f"regret_{g}"] = (f"regret among {g.upper()} students", _regret(_group(g)))
        out[f"oracle_match_{g}"] = (f"oracle match among {g.upper()} students", _match(_group(g)))
        for key in PER_100H:
            out[f"{key}_per_100h_{g}"] = (
                f"{UNITS[key]} added to {g.upper()} students per 100 staff hours spent on them",
                _per_100h(key, g))
    for k in range(MAX_TERMS):
        out[f"regret_t{k + 1}"] = (f"regret of referrals in term {k + 1} of the run",
                                   _regret(_term(k)))
        out[f"oracle_match_t{k + 1}"] = (f"oracle match in term {k + 1} of the run",
                                         _match(_term(k)))
        for key in PER_100H:
            out[f"{key}_per_100h_t{k + 1}"] = (
                f"{UNITS[key]} added in term {k + 1} of the run per 100 staff hours used in it",
                _per_100h_term(key, k))
    return out


#: outcomes read from a run's choices among candidate actions (its decisions), with nothing
#: to measure in a run without them: every learning outcome but what the actions delivered
#: per staff hour (simulator truth, measured with or without a chooser)
CHOICE_OUTCOMES = frozenset(n for n in learning_outcomes() if "_per_100h" not in n)


#: the scale (:data:`srmsim.experiment.outcomes.SCALES`) of what an action adds to each target
#: effect, the ``<target>_per_100h`` outcomes' (reading months, attainment SD, attendance days)
GAIN_SCALES = {"reading": "months", "attainment": "sd", "attendance": "days"}
#: the outcome each target a chooser can have is measured by: regret, a difference of the
#: target's true expected gains, is in its unit (reading: the reading gap's months)
TARGET_OUTCOMES = {"reading": "reading_gap_end", "attainment": "attainment"}


def regret_outcomes(target: str | None) -> dict[str, Outcome]:
    """The regret outcomes (``regret``, by group, by term) in the unit of the outcome the
    choosers' ``target`` is measured by (``0.52 months`` for reading), to put in a registry;
    none when the target has no such outcome or the choosers' targets differ (``target`` None):
    the registry's own entries then print bare numbers. Notebook 08 and `srmsim compare`
    printed regret as ``+0.123``, a number in no unit."""
    from dataclasses import replace

    from srmsim.experiment.outcomes import OUTCOMES  # which registers this module's outcomes

    measured_by = TARGET_OUTCOMES.get(target or "")
    if measured_by is None:
        return {}
    scale = OUTCOMES[measured_by].scale
    out = {name: replace(OUTCOMES[name], scale=scale) for name in sorted(CHOICE_OUTCOMES)
           if name.startswith("regret")}
    out["regret"] = replace(out["regret"], label="Mean regret per referral against the oracle")
    return out


#: measures of the learning curve: (outcome, its title in tables and plots)
CURVE_MEASURES = (("regret", "regret per referral (lower is better)"),
                  ("oracle_match", "share matched to the oracle"),
                  ("reading_per_100h", "reading months per 100 staff hours"),
                  ("attainment_per_100h", "attainment (SD) per 100 staff hours"),
                  ("attendance_per_100h", "days of attendance per 100 staff hours"))


#: the unit each curve measure's numbers are in (regret is in the chooser's own target unit:
#: :func:`regret_units`)
CURVE_UNITS = {"regret": "", "oracle_match": "%", "reading_per_100h": " months",
               "attainment_per_100h": " SD", "attendance_per_100h": " days"}
#: each curve measure's axis in the figure (regret's: :func:`regret_units`)
CURVE_AXES = {"oracle_match": "share of referrals (0 to 1)",
              "reading_per_100h": "months of reading age", "attainment_per_100h": "SD of attainment",
              "attendance_per_100h": "days of attendance"}


def regret_units(target: str | None) -> tuple[str, str]:
    """Regret's unit after a number (``months``) and in a title (``months of reading age``) for
    choosers that all target ``target`` (:func:`srmsim.policy.config.chooser_target`); a level
    effect's, or several targets', is named as the chooser's target units."""
    from srmsim.policy.config import REGRET_UNITS

    return REGRET_UNITS.get(target or "", ("", "the chooser's target units"))


def curve_title(measure: str, title: str, target: str | None = None) -> str:
    """A curve measure's title, regret's with its unit: it was printed and plotted as bare
    numbers ("regret per referral (lower is better)" over 1.2, 0.9 ...)."""
    if measure != "regret":
        return title
    return f"regret per referral, in {regret_units(target)[1]} (lower is better)"


def curve_cell(measure: str, mean: float, low: float, high: float,
               target: str | None = None) -> str:
    """One term's ``mean (low to high)`` in the measure's unit: the oracle match as a percentage
    (``21.0% (9.8% to 32.3%)``, not ``0.21 [0.098, 0.323]``), others with the unit once
    (``82.2 (36.3 to 128) months``; regret's that of the choosers' ``target``); no interval from
    one replication."""
    unit = CURVE_UNITS.get(measure, "")
    if measure == "regret" and regret_units(target)[0]:
        unit = " " + regret_units(target)[0]
    share = unit == "%"

    def f(x: float) -> str:
        if not math.isfinite(x):
            return "–"
        return percent(x) if share else significant(x)

    text = f"{f(mean)} ({f(low)} to {f(high)})" if math.isfinite(low) else f(mean)
    return text if share or not math.isfinite(mean) else text + unit


def curve_cells(curve: pd.DataFrame, target: str | None = None, withheld: bool = False
                ) -> list[str]:
    """Each point's ``mean (low to high)``, with ``over k of n replications`` when it is over
    fewer than its variant's runs (a replication with no referral in the term has no value and
    is left out) or when variants have different numbers of runs, so no count is hidden;
    regret in the unit of the choosers' ``target``; ``withheld``: an empty mean is withheld
    (:func:`srmsim.experiment.withhold.withhold_curve`), shown as low."""
    from srmsim.experiment.withhold import LOW

    one_total = curve["replications_total"].nunique() <= 1
    cells = []
    for measure, mean, low, high, used, total in zip(
            curve["measure"], curve["mean"], curve["ci_low"], curve["ci_high"],
            curve["replications"], curve["replications_total"], strict=True):
        if withheld and math.isnan(mean):
            cells.append(LOW)
            continue
        cell = curve_cell(measure, mean, low, high, target)
        cells.append(cell if used == total and one_total
                     else f"{cell} {over_replications(used, total)}")
    return cells


def replications_heading(curve: pd.DataFrame) -> str:
    """``over 8 replications`` when every variant has 8 runs, else ``over replications`` (the
    cells then say how many)."""
    totals = curve["replications_total"].unique()
    return f"over {plural(totals[0], 'replication')}" if len(totals) == 1 else "over replications"


CURVE_COLUMNS = ["variant", "measure", "term", "replications", "replications_total", "mean",
                 "ci_low", "ci_high", "level"]


def curve_level(curve: pd.DataFrame) -> str:
    """The level of a curve's intervals as people write it (``90%``), from its ``level``
    column; a curve without one (a ``learning_curve.csv`` from before it was written) or with
    several levels mixed (curves at 0.9 and 0.95 concatenated) is a DataError, not a table
    printed under the wrong level."""
    from srmsim.errors import DataError
    from srmsim.risk._columns import level_value, require_columns

    require_columns(curve, ["level"], "learning curve: the level of its intervals")
    levels = pd.unique(curve["level"])
    if len(levels) != 1:
        shown = ", ".join(map(str, levels[:5])) or "none"
        raise DataError(f"column 'level' (learning curve) must hold one level, got {shown}; "
                        "print curves at different levels one at a time")
    return percent_level(level_value(levels[0]))


#: curve measures that are shares of referrals (0 to 1): their intervals stay inside 0 to 1
SHARE_MEASURES = frozenset({"oracle_match"})


def share_interval(shares: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Interval for the mean over replications of per-replication shares (each in 0 to 1).

    The replication is the unit: a run's referrals share its chooser's model, students and
    staff, so they are not independent trials and a binomial interval on all the referrals
    pooled would be too narrow; a t interval on the shares is symmetric and went past 100%
    (102.0%) near the bounds. This is Wilson's score interval at the effective number of
    trials the shares' spread implies, n_eff = m(1 - m) / (s^2 / n) (Korn and Graubard's
    effective sample size), with the t quantile on n - 1 df: inside 0 to 1, asymmetric near
    them. A share varies at most as a 0/1 outcome would, so n_eff is at least n. Shares all
    equal have no spread to measure and count as n 0/1 trials (ten runs at 100%: 66% to
    100%): a zero-width interval there covered a true 99.5% in under half of simulated
    experiments of 10 runs of 5 to 40 referrals. NaN with fewer than 2 replications.
    """
    from scipy import stats  # here: workers import this module, never this function

    x = np.asarray(shares, dtype=float)
    n = len(x)
    if n < 2:
        return (math.nan, math.nan)
    m = min(max(float(x.mean()), 0.0), 1.0)
    var = float(x.var(ddof=1)) / n
    n_eff = max(float(n), m * (1 - m) / var) if var > 0 else float(n)
    z = float(stats.t.ppf(0.5 + level / 2, n - 1))
    denom = 1 + z * z / n_eff
    centre = (m + z * z / (2 * n_eff)) / denom
    half = z * math.sqrt(m * (1 - m) / n_eff + z * z / (4 * n_eff * n_eff)) / denom
    return (0.0 if m <= 0 else max(0.0, centre - half), 1.0 if m >= 1 else min(1.0, centre + half))


def learning_curve(runs: pd.DataFrame, level: float = 0.95,
                   oracles: Collection[str] = ()) -> pd.DataFrame:
    """Per variant and term: the mean of each curve measure over replications, with t intervals
    (a share's, the oracle match's, from :func:`share_interval`: inside 0 to 100%).
    ``oracles``: the variants whose every chooser is the oracle, whose match with it is 100% by
    construction: its interval is that point (ten runs at 100% of a learned chooser: 66% to
    100%, as :func:`share_interval` says; the oracle's own row read so too).

    ``runs`` is an experiment's runs table with ``regret_t<k>``, ``oracle_match_t<k>``,
    ``reading_per_100h_t<k>`` ... columns (those it has). ``replications`` counts the runs with a
    finite value, which the point is over; ``replications_total`` the variant's runs. ``level``
    is a column (not ``.attrs``, which a CSV loses), so the table and ``learning_curve.csv``
    say which intervals they hold and the printed table names them right.
    """
    from scipy import stats  # here: workers import this module, never this function

    from srmsim.risk._columns import level_value, require_columns

    require_columns(runs, ["variant"], "runs")
    level = level_value(level)  # level=95 gave NaN intervals without a word
    rows = []
    for measure, _ in CURVE_MEASURES:
        cols = sorted((c for c in runs.columns if c.startswith(f"{measure}_t")
                       and c[len(measure) + 2:].isdigit()), key=lambda c: int(c.split("_t")[-1]))
        for variant, arm in runs.groupby("variant", sort=True):
            for col in cols:
                x = arm[col].to_numpy(dtype=float)
                x = x[np.isfinite(x)]
                if len(x) == 0:
                    continue
                if measure in SHARE_MEASURES and variant in oracles and (x == 1).all():
                    low = high = 1.0  # the oracle matches itself: no uncertainty to show
                elif measure in SHARE_MEASURES:
                    low, high = share_interval(x, level)
                else:
                    half = (float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1)
                                  / np.sqrt(len(x))) if len(x) >= 2 else np.nan)
                    low, high = float(x.mean()) - half, float(x.mean()) + half
                rows.append({"variant": variant, "measure": measure,
                             "term": int(col.split("_t")[-1]), "replications": len(x),
                             "replications_total": len(arm),
                             "mean": float(x.mean()), "ci_low": low, "ci_high": high,
                             "level": level})
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def format_learning_curve(curve: pd.DataFrame, target: str | None = None,
                          withheld: bool = False) -> str:
    """Term-by-term table: one row per variant, ``mean (low to high)`` per term; regret in the
    unit of the choosers' ``target`` (``reading``: months of reading age); ``withheld``: as
    :func:`curve_cells` takes it."""
    from srmsim.experiment.compare import text_table  # compare imports this module's registry

    level = curve_level(curve) if len(curve) else ""  # before the cells: one level or none
    parts = []
    for measure, title in CURVE_MEASURES:
        c = curve[curve["measure"] == measure]
        if c.empty:
            continue
        cell = c.assign(cell=curve_cells(c, target, withheld))
        wide = cell.pivot(index="variant", columns="term", values="cell").fillna("–")
        wide.columns = [f"term {t}" for t in wide.columns]
        parts.append(f"learning curve: {curve_title(measure, title, target)} (mean and {level} "
                     f"CI {replications_heading(c)})\n"
                     + text_table(wide.reset_index(), right=set(wide.columns)))
    if parts:  # the tables' one piece of jargon, said once
        parts[-1] += ("\nCI: the simulation interval of each mean, at the level shown "
                      "(Monte-Carlo uncertainty over the replications, not a forecast)")
    return "\n\n".join(parts)


def plot_learning_curve(curve: pd.DataFrame, path: str | Path | None = None,
                        target: str | None = None):
    """Each curve measure the runs have (regret, oracle match, gains per 100 staff hours) by
    term, one line per variant, with the curve's intervals (at its ``level``); each axis in
    its unit, regret's that of the choosers' ``target``."""
    from matplotlib.ticker import MaxNLocator

    from srmsim.figures import new_figure, save

    panels = [(m, t) for m, t in CURVE_MEASURES if (curve["measure"] == m).any()] or [
        CURVE_MEASURES[0]]
    fig, axes = new_figure(4.5 * len(panels), 3.4, ncols=len(panels), squeeze=False)
    for ax, (measure, title) in zip(axes[0], panels, strict=True):
        c = curve[curve["measure"] == measure]
        for variant, v in c.groupby("variant", sort=True):
            ax.plot(v["term"], v["mean"], marker="o", label=variant)
            ax.fill_between(v["term"], v["ci_low"], v["ci_high"], alpha=0.15)
        ax.set_title(curve_title(measure, title, target), fontsize=9, loc="left")
        ax.set_xlabel("term of the run")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # terms are whole: not 1.2, 1.4
        ax.set_ylabel(f"{regret_units(target)[1]} per referral" if measure == "regret"
                      else CURVE_AXES.get(measure, ""), fontsize=8)
        ax.tick_params(labelsize=8)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    save(fig, path)
    return fig


def report_learning(out: Path, runs: pd.DataFrame, level: float = 0.95,
                    target: str | None = None, oracles: Collection[str] = (),
                    from_records: bool = False) -> str | None:
    """For ``srmsim compare``: the learning curve table (also CSV and PNG in ``out``), or None
    when the experiment measured no term-by-term outcomes. ``level`` is the experiment
    result's, the one its effects and report use; ``target`` its choosers' (regret's unit);
    ``oracles`` as :func:`learning_curve` takes them; ``from_records``: the trust is built
    from real pupil records, whose shares of referrals are withheld
    (:func:`srmsim.experiment.withhold.withhold_curve`)."""
    from srmsim.experiment.withhold import CURVE_NOTE, withhold_curve

    curve = learning_curve(runs, level, oracles)
    if curve.empty:
        return None
    note = ""
    if from_records:
        withheld = withhold_curve(curve)
        note = "" if withheld is curve else f"\nnote: {CURVE_NOTE}"
        curve = withheld
    with replace_files(out, ["learning_curve.csv", "learning_curve.png"]) as stage:
        write_csv(curve, stage / "learning_curve.csv", float_format="%.10g")
        plot_learning_curve(curve, stage / "learning_curve.png", target)
    return (format_learning_curve(curve, target, bool(note)) + note
            + f"\nwrote {out / 'learning_curve.csv'} and {out / 'learning_curve.png'}")
