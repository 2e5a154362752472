"""The report of an experiment folder: what was run, effects in units, cost per unit of each
outcome, effects by FSM/SEN/EAL and school, queues and staff use over the year."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from srmsim.experiment.compare import (
    MAX_FOREST_VARIANTS,
    bounds_note,
    design_note,
    effect_headings,
    effects_display,
    failed_note,
    manifest_design,
    mark_better,
    multiplicity_note,
    no_spread_note,
    withheld_note,
)
from srmsim.experiment.outcomes import RESOURCES, Outcome, format_value, significant_decimals
from srmsim.experiment.result import ExperimentResult
from srmsim.experiment.withhold import LOW, WITHHELD
from srmsim.explore.design import points_in_words
from srmsim.labels import cut, percent, percent_level, plural
from srmsim.report.explore import discovery_section, sensitivity_section
from srmsim.report.files import TEXT_LIMIT, json_mapping, json_text, json_time, school_number
from srmsim.report.page import Page, esc, interval_note
from srmsim.report.requests import backlog_columns
from srmsim.report.requests import experiment_section as requests_section
from srmsim.report.words import describe_trust, describe_variant

EFFECT_NUMBERS = {"mean_baseline", "mean_variant", "difference", "ci_low", "ci_high",
                  "relative_change", "relative_low", "relative_high"}


def _interval(o, lo: float, hi: float, short: bool = False) -> str:
    """``+0.51 pp to +0.55 pp``; ``short`` drops the unit (shown once beside the estimate)."""
    a, b = o.format_difference(lo), o.format_difference(hi)
    if short:
        a, b = a.split(" ")[0], b.split(" ")[0]
    return f"{a} to {b}"


def _difference_cell(o, difference: float, lo: float, hi: float) -> str:
    """``+0.51 pp (+0.40 to +0.62)``; a difference of one replication has no interval, and a
    group no replication measured has no difference (both read "– (– to –)" once)."""
    if not math.isfinite(difference):
        return "not measured"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{o.format_difference(difference)} (no interval: one replication)"
    return f"{o.format_difference(difference)} ({_interval(o, lo, hi, short=True)})"


def headline_sentences(res: ExperimentResult) -> dict[str, list[str]]:
    """Per variant, one plain sentence per outcome that has a better direction."""
    out: dict[str, list[str]] = {}
    for r in res.effects.itertuples(index=False):
        o = res.outcome(r.outcome)
        if r.outcome in RESOURCES or not math.isfinite(r.difference):
            continue
        # one replication has no interval: its sentence read "(95% simulation interval – to
        # –): one run: no interval."; the verdict says it alone
        interval = (f" ({percent_level(res.level)} simulation interval "
                    f"{_interval(o, r.ci_low, r.ci_high, short=True)})"
                    if math.isfinite(r.ci_low) and math.isfinite(r.ci_high) else "")
        out.setdefault(r.variant, []).append(
            f"{o.label}: {o.format_value(r.mean_baseline)} → {o.format_value(r.mean_variant)}, "
            f"{o.format_difference(r.difference)}{interval}: {r.verdict}.")
    return out


def cost_table(res: ExperimentResult) -> pd.DataFrame | None:
    """Per variant: cost, staff hours, and the cost (and staff hours) per unit of each outcome
    that the variant clearly improved."""
    if res.students_per_run(res.baseline) is None:
        return None  # results of an older srmsim (no student counts)
    return cost_per_unit(res.effects, [res.outcome(o) for o in res.outcomes],
                         {v: res.students_per_run(v) for v in res.variants if v != res.baseline})


def cost_per_unit(effects: pd.DataFrame, outcomes: list[Outcome],
                  students: dict[str, float | None]) -> pd.DataFrame | None:
    """Rows of ``variant, unit of improvement, units gained over the run, cost per unit, staff
    hours per unit``: extra cost / (improvement per student x ``students[variant]``), for each
    outcome with a unit of improvement; None without a cost outcome or such an outcome. Cost,
    hours and outcomes are the whole run's (two or three school years in the learning and
    pooling studies), so the units gained are the run's, not a year's."""
    eff = effects.set_index(["variant", "outcome"])
    names = {o.name for o in outcomes}
    has = [r for r in RESOURCES if r in names]
    if not has:
        return None
    rows = []
    for variant, n in students.items():
        extra = {r: float(eff.loc[(variant, r), "difference"]) for r in has}
        for o in outcomes:
            if o.name in RESOURCES or o.gain is None or o.better is None:
                continue
            e = eff.loc[(variant, o.name)]
            improvement = float(e["difference"]) * (1 if o.better == "higher" else -1)
            units = improvement * (n or math.nan)
            clear = e["verdict"] == "better"
            row = {"variant": variant, "unit of improvement": o.gain,
                   "units gained over the run": _small(units, "number") if clear else "–"}
            if e["verdict"] == WITHHELD:  # on real records: a small count (low)
                row["units gained over the run"] = LOW
                row.update({k: LOW for k, r in (("cost per unit", "cost"),
                                                ("staff hours per unit", "staff_hours"))
                            if r in extra})
                rows.append(row)
                continue
            # a resource withheld on real records (of under 10 actions a run): low, as it is
            low = {r for r in has if eff.loc[(variant, r), "verdict"] == WITHHELD}
            if "cost" in extra:
                row["cost per unit"] = LOW if "cost" in low else \
                    _small(extra["cost"] / units, "money") if clear else "no clear gain"
            if "staff_hours" in extra:
                row["staff hours per unit"] = LOW if "staff_hours" in low else (
                    _small(extra["staff_hours"] / units, "hours") if clear else "no clear gain")
            rows.append(row)
    return pd.DataFrame(rows) if rows else None


def _small(value: float, scale: str) -> str:
    """A per-unit figure with at least two significant digits: a gain of 0.3 students printed as
    0 units gained (beside a cost per unit), and £0.40 or 0.26 h per month of reading age as £0
    or 0 h, each reading as nothing. Figures of 10 or more print as everywhere else."""
    if not math.isfinite(value):
        return "–"
    a = abs(value)
    if a >= 10 or scale == "money":  # (money keeps its pence below £10 everywhere)
        return f"{value:,.0f}" if scale == "number" else format_value(value, scale)
    return f"{value:,.{significant_decimals(a, 0)}f}" + (" h" if scale == "hours" else "")


#: the resource table's count of the students a run simulates (a bare "students" column
#: beside cost and hours read as the students served)
STUDENTS_COLUMN = "students in the trust (mean per run)"


def resource_table(res: ExperimentResult) -> pd.DataFrame:
    rows = []
    means = res.runs.groupby("variant", sort=False)
    for variant in res.variants:
        g = means.get_group(variant)
        row = {"variant": variant}
        n = res.students_per_run(variant)
        # a trust of under 10 students from real records: its count and cost are withheld,
        # and the cost of under 10 actions a run
        records = getattr(res, "from_records", False)
        few = records and (n is None or n < 10)
        for r in RESOURCES:
            if r in res.outcomes:
                row[res.outcome(r).label] = LOW if few or records and res.value_withheld(
                    variant, r) else res.outcome(r).format_value(float(g[r].mean()))
        if few:
            row[STUDENTS_COLUMN] = "c"
        elif n:
            row[STUDENTS_COLUMN] = f"{n:,.0f}"
        rows.append(row)
    return pd.DataFrame(rows)


def group_table(ge: pd.DataFrame, o: Outcome, groups: list[str], baseline: str,
                level: str = "95%") -> pd.DataFrame:
    """One row per group: the baseline's level and each variant's difference with its interval
    (``ge``: group effects, the columns of effects.csv and ``group``; ``level``: the
    intervals' as printed)."""
    return group_tables(ge, [o], groups, baseline, level)[o.name]


#: the columns of the group effects that a group table shows, in :func:`_group_rows`' order
_GROUP_COLUMNS = ("outcome", "group", "variant", "mean_baseline", "difference", "ci_low",
                  "ci_high", "verdict")


def group_tables(ge: pd.DataFrame, outcomes: list[Outcome], groups: list[str], baseline: str,
                 level: str = "95%") -> dict[str, pd.DataFrame]:
    """:func:`group_table` of each outcome, from one pass over ``ge``: filtering ``ge`` once per
    outcome took 16 s for an experiment of 1,001 outcomes."""
    wanted = {o.name for o in outcomes}
    sub = ge[ge["outcome"].isin(wanted) & ge["group"].isin(groups)]
    if "verdict" not in sub.columns:  # (a bare table of the numbers alone)
        sub = sub.assign(verdict="")
    by: dict[str, dict[str, list[tuple]]] = {}
    for rec in zip(*(sub[c].tolist() for c in _GROUP_COLUMNS), strict=True):
        by.setdefault(rec[0], {}).setdefault(rec[1], []).append(rec)
    return {o.name: _group_rows(by.get(o.name, {}), o, groups, baseline, level)
            for o in outcomes}


def _group_rows(by_group: dict[str, list[tuple]], o: Outcome, groups: list[str],
                baseline: str, level: str) -> pd.DataFrame:
    rows = []
    for group in groups:
        recs = by_group.get(group)
        if not recs:
            continue
        # a row withheld on real records (srmsim.experiment.withhold): low, as in effects
        shown = [r for r in recs if r[7] != WITHHELD]
        base = o.format_value(float(shown[0][3])) if shown else LOW
        row = {"students": group, f"{baseline} (level)": base}
        for _, _, variant, _, difference, ci_low, ci_high, verdict in recs:
            row[f"{variant} (difference, {level} interval)"] = LOW if verdict == WITHHELD \
                else _difference_cell(o, difference, ci_low, ci_high)
        rows.append(row)
    return pd.DataFrame(rows)


def weeks_figure(res: ExperimentResult):
    from srmsim.figures import new_figure

    w = res.weeks
    if w is None:  # build() checks first: results without weekly detail have no figure
        raise ValueError("these results keep no weekly detail")
    fig, (ax1, ax2) = new_figure(10, 3.6, ncols=2)
    for variant in res.variants:
        v = w[w["variant"] == variant]
        queue, used = v["queue_length"].astype(float), v["staff_minutes_used"].astype(float) / 60
        label = variant
        if queue.isna().all() and used.isna().all():
            # a variant without a policy keeps no queue columns: its line was missing (NaN),
            # named in the legend and drawn nowhere; it has no cases and uses no staff time
            queue, used, label = queue.fillna(0.0), used.fillna(0.0), f"{variant} (no policy)"
        ax1.plot(v["run_week"], queue, label=label)
        ax2.plot(v["run_week"], used, label=label)
    avail = w[w["variant"] == res.variants[-1]]
    if "staff_minutes_available" in w and avail["staff_minutes_available"].max() > 0:
        ax2.plot(avail["run_week"], avail["staff_minutes_available"] / 60, "k--", lw=0.8,
                 label="staff hours available")
    ax1.set_title("Cases waiting for an action (trust total)", fontsize=9, loc="left")
    ax1.set_xlabel("week of the run")
    ax1.set_ylabel("cases in the queue")
    ax2.set_title("Staff hours used per week (trust total)", fontsize=9, loc="left")
    ax2.set_xlabel("week of the run")
    ax2.set_ylabel("staff hours per week")
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=7)
    fig.suptitle("Queues and staff use over the year (mean over replications)", fontsize=10)
    fig.tight_layout()
    return fig


def group_figure(ge: pd.DataFrame, o: Outcome, groups: list[str], baseline: str,
                 variants: list[str], level: str = "95%"):
    from srmsim.figures import effect_rows, fitted_title, new_figure

    scale = 100.0 if o.scale == "share" else 1.0
    unit = o.difference_unit
    # "FSM: <variant>" beside each row: a 64-character name left the axis a third of the width
    longest = max((len(f"{g}: {v}") for g in groups for v in variants), default=0)
    fig, ax = new_figure(8 + max(0.0, 0.06 * longest - 1.5),
                         0.9 + 0.32 * len(groups) * len(variants))
    y = 0.0
    rows: list[tuple[float, float, float, float, str, str]] = []
    ticks, labels = [], []
    palette = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink",
               "tab:olive", "tab:cyan"]
    # the colours repeat: an experiment of more than 32 variants had none for the 33rd, a
    # KeyError traceback once every run had finished, and no report
    colours = {v: palette[i % len(palette)] for i, v in enumerate(variants)}
    for group in reversed(groups):
        for v in reversed(variants):
            g = ge[(ge["group"] == group) & (ge["variant"] == v) & (ge["outcome"] == o.name)]
            if g.empty:
                continue
            d, lo, hi = (float(g[c].iloc[0]) * scale for c in ("difference", "ci_low", "ci_high"))
            withheld = g["verdict"].iloc[0] == WITHHELD if "verdict" in g else False
            rows.append((d, y, lo, hi, colours[v], WITHHELD if withheld
                         else "not measured" if not math.isfinite(d)
                         else "no interval: one replication"))
            ticks.append(y)
            labels.append(f"{group}: {v}")
            y += 1
        y += 0.5
    ax.axvline(0, color="grey", lw=0.8)  # (first: the side with room counts 0 in)
    effect_rows(ax, rows, capsize=2, fontsize=6)
    ax.set_yticks(ticks, labels, fontsize=7)
    ax.set_xlabel(f"difference from {baseline}" + (f" ({unit})" if unit else ""))
    mark_better(ax, o)
    fitted_title(ax, f"{o.label} by group: effect with {level} simulation interval", fontsize=9,
                 loc="left", pad=12)
    fig.tight_layout()
    return fig


def cost_section(page: Page, res: ExperimentResult) -> None:
    page.h2("Cost and staff hours", "cost")
    page.table(resource_table(res), numeric={"Cost", "Staff hours", STUDENTS_COLUMN})
    ct = cost_table(res)
    if ct is not None:
        page.p("Cost per unit of each outcome: the variant's extra cost (or staff hours) over "
               "the baseline, divided by the improvement it bought across the trust's students "
               "over the run (every school year it simulates; a mean over the replications, so "
               "it may be a fraction of a student). Shown only where the improvement is clear "
               "(its interval excludes zero). Each row charges the variant's whole cost to its "
               "one outcome, so rows do not add up, and an outcome a policy moves only as a "
               "side effect (reading, for an attendance policy) shows a high cost per unit: "
               "read the row of the outcome the policy is for.")
        page.table(ct, {"units gained over the run", "cost per unit", "staff hours per unit"},
                   "cost_per_unit")


def groups_section(page: Page, res: ExperimentResult) -> None:
    ge = res.group_effects
    if ge is None and res.students_per_run(res.baseline) == 0:
        return  # no students: nothing to split by group
    if ge is None:
        page.h2("Effects by group and by school", "groups")
        page.p("These results keep no per-group detail (made by an older srmsim).")
    else:
        # outcomes of the whole run (request streams, regret) have no value for a group
        measured = set(ge.loc[ge["difference"].notna(), "outcome"])
        main = [o for o in res.outcomes if o not in RESOURCES and o in measured]
        if not main:
            return
        page.h2("Effects by group and by school", "groups")
        page.note("Each row's interval is its own, not adjusted for multiple comparisons: "
                  "among this many groups, schools and outcomes some intervals exclude 0 by "
                  "chance alone, so a difference between groups is a hypothesis to test, "
                  "not a finding.")
        groups = [g for g in ("FSM", "not FSM", "SEN", "not SEN", "EAL", "not EAL")
                  if g in set(ge["group"])]
        schools = sorted({g for g in ge["group"] if isinstance(g, str) and g.startswith("school ")},
                         key=school_number)
        level = percent_level(res.level)
        tables = group_tables(ge, [res.outcome(name) for name in main], groups + schools,
                              res.baseline, level)
        for name in main:
            page.h3(res.outcome(name).heading())
            page.table(tables[name], numeric=set())
        if main:
            # at most the forest plot's variants: 300 variants drew 1,800 rows (16 s, 577 inches)
            others = [v for v in res.variants if v != res.baseline]
            shown = others[:MAX_FOREST_VARIANTS]
            page.figure(group_figure(res.group_effects, res.outcome(main[0]), groups,
                                     res.baseline, shown, level),
                        f"{res.outcome(main[0]).label}: effect by FSM, SEN and EAL group"
                        + (f" (the first {len(shown)} of {plural(len(others), 'variant')}; "
                           "every variant is in the tables above)." if len(shown) < len(others)
                           else "."))


def weeks_section(page: Page, res: ExperimentResult) -> None:
    if res.students_per_run(res.baseline) == 0:
        return  # no students, no queues of students
    if res.weeks is None or res.weeks.empty:
        page.h2("Queues and staff use over the year", "weeks")
        page.p("These results keep no weekly detail (made by an older srmsim).")
    elif getattr(res, "from_records", False) and "queue_length" in res.weeks:
        # the cases waiting each week are a few students at a time (a trust of one school of
        # 6 pupils): withheld, as the report of a run from records draws no weekly cases
        page.h2("Queues and staff use over the year", "weeks")
        page.p("Not shown: the trust is built from real pupil records (population.records), "
               "and a week's cases waiting can be a count of under 10 students "
               "(docs/privacy.md).")
    elif "queue_length" in res.weeks and res.weeks["queue_length"].notna().any():
        page.h2("Queues and staff use over the year", "weeks")
        page.figure(weeks_figure(res), "Cases waiting for an action and staff hours used, "
                    "each week, summed over the trust's schools (a student waiting in two "
                    "workflows is two cases).")
        page.table(queue_table(res.weeks, res.variants), set(QUEUE_NUMBERS))


#: the number columns of the queues table
QUEUE_NUMBERS = ("mean queue (cases)", "longest queue (cases)", "staff hours used",
                 "share of staff time used")


def queue_table(weeks: pd.DataFrame, variants: list[str]) -> pd.DataFrame:
    """Per variant: cases waiting (mean and longest), staff hours and the share of staff
    time used; a variant with no policy has no queue and shows a dash, not ``nan``."""
    def number(x: float, decimals: int) -> str:
        return f"{x:,.{decimals}f}" if math.isfinite(x) else "–"

    rows = []
    for v in variants:
        x = weeks[weeks["variant"] == v]
        queue = x["queue_length"].astype(float)
        available = float(x["staff_minutes_available"].sum())
        rows.append(dict(zip(("variant", *QUEUE_NUMBERS), (
            v, number(float(queue.mean()), 1), number(float(queue.max()), 0),
            f"{x['staff_minutes_used'].sum() / 60:,.0f} h",
            percent(float(x["staff_minutes_used"].sum()) / available) if available > 0
            else "–"), strict=True)))
    return pd.DataFrame(rows)


def learning_section(page: Page, res: ExperimentResult) -> None:
    """The learning curve (regret and oracle match by term) of experiments that measure it."""
    from srmsim.experiment.learning import (
        curve_cells,
        learning_curve,
        plot_learning_curve,
        regret_units,
        replications_heading,
    )

    curve = learning_curve(res.runs, res.level, res.oracle_variants())
    level = percent_level(res.level)
    if curve.empty:
        return
    withheld = False
    if getattr(res, "from_records", False):  # shares of a few referrals: srmsim.experiment.withhold
        from srmsim.experiment.withhold import withhold_curve

        shown_curve = withhold_curve(curve)
        withheld, curve = shown_curve is not curve, shown_curve
    target = res.chooser_target()
    page.h2("Does the trust learn? The learning curve", "learning")
    page.p("Each referral's choice of action is set against the oracle's (the action the "
           "simulator knows works best for that student). Regret is the oracle's expected gain "
           "minus the chosen action's, per referral, in the chooser's target unit (months of "
           "reading age for reading): 0 is perfect. A chooser that learns from its cases has "
           "regret falling and oracle match rising term by term; a fixed or random one stays "
           f"flat. Means over replications with {level} simulation intervals (the share's "
           "is a Wilson interval over the replications, so it stays within 0 to 100%); the "
           "same numbers are in learning_curve.csv.")
    for measure, title in (("regret", f"Regret per referral, in {regret_units(target)[1]}"),
                           ("oracle_match", "Share of referrals given the oracle's action")):
        c = curve[curve["measure"] == measure]
        if c.empty:
            continue
        c = c.assign(cell=curve_cells(c, target, withheld), column=[f"term {t}" for t in c["term"]])
        order = [v for v in res.variants if v in set(c["variant"])]
        terms = list(dict.fromkeys(c.sort_values("term")["column"]))
        shown = c.pivot(index="variant", columns="column", values="cell").reindex(
            index=order, columns=terms).fillna("–")
        raw = c.pivot(index="variant", columns="column", values="mean").reindex(
            index=order, columns=terms)
        page.h3(f"{title}, by term (mean and {level} interval {replications_heading(c)})")
        page.table(shown.reset_index(), set(terms), f"learning_{measure}",
                   raw=raw.reset_index(drop=True))
        if withheld and c["mean"].isna().any():
            from srmsim.experiment.withhold import CURVE_NOTE

            page.note(esc(CURVE_NOTE[0].upper() + CURVE_NOTE[1:]))
    page.figure(plot_learning_curve(curve, target=target), "Regret per referral (left, lower is "
                "better) and the "
                "share of referrals given the oracle's action (right), by term of the run, per "
                f"variant, with {level} intervals.")


def _replications(res: ExperimentResult) -> str:
    """Runs per variant: ``3``, or ``2 to 3`` when runs failed (res.replications is the
    fewest)."""
    counts = res.runs.groupby("variant")["replication"].nunique()
    low, high = int(counts.min()), int(counts.max())
    return f"{low:,}" if low == high else f"{low:,} to {high:,}"


def _design_points(manifest: Mapping, runs: str) -> str | None:
    """``runs`` per variant as the points of the Sobol or Morris design the manifest records,
    or None (replications: the default design, or none)."""
    design = manifest_design(manifest)
    if design is None or design.get("method") not in ("sobol", "morris"):
        return None
    return points_in_words(runs, str(design["method"]),
                           (design.get("seeds") or "common") == "common")


def build(res: ExperimentResult) -> Page:
    m = res.manifest
    where = res.path / "manifest.json"
    # as text and cut, in the title and the table alike: a name edited into manifest.json was
    # shown whole (200,000 characters) in the table, a mapping as its repr, NaN as "nan"
    name = json_text(m, "name", where, res.path.name)
    page = Page(f"Experiment report: {name}", json_text(m, "description", where))
    versions = json_mapping(m, "versions", where)
    settings = json_mapping(m, "settings", where)
    page.h2("What was run", "what")
    # a run that failed is left out of every analysis; `srmsim report` printed so, but the page
    # (what is shared) gave "2 per variant" as if the experiment had planned two
    failed = res.failures
    per_variant = _replications(res)
    points = _design_points(m, per_variant)
    if failed:
        page.note(esc(failed_note(failed, "the folder's failures/")))
    base = res.scenario(res.baseline)
    if base is not None:
        page.p(describe_trust(base))
    rows = [("experiment", name), ("baseline (compared against)", res.baseline),
            ("variants", ", ".join(res.variants)),
            ("replications", f"{per_variant} per variant, with common random numbers "
             "(replication i of every variant uses the same seed)"
             + (f"; {plural(len(failed), 'run')} failed" if failed else ""))
            if points is None else
            ("runs per variant", f"{points}: run i of every variant "
             "is the same point" + (f"; {plural(len(failed), 'run')} failed" if failed else "")),
            ("root seed", json_text(m, "root_seed", where, "not recorded")),
            ("srmsim version", json_text(versions, "srmsim", where, "?")),
            ("made", json_time(m, "created", where, "?"))]
    if settings:
        rows.append(("command-line settings (--set)",
                     cut(", ".join(f"{k}={v}" for k, v in settings.items()), TEXT_LIMIT)))
    page.definitions(rows)
    page.h3("The variants")
    page.table(pd.DataFrame([{"variant": v, "what it does": describe_variant(res.scenario(v))}
                             for v in res.variants if res.scenario(v) is not None]))

    page.h2("Headline effects", "headline")
    level = percent_level(res.level)
    page.note(interval_note(level))
    for variant, sentences in headline_sentences(res).items():
        page.raw(f"<p><b>{esc(variant)}</b> against {esc(res.baseline)}:</p>")
        page.bullets(sentences, "headline")
    eff = res.effects
    page.h3("All effects")
    page.table(effects_display(eff, res.registry, relative_interval=True), EFFECT_NUMBERS,
               "effects", "verdict",
               raw=eff[["mean_baseline", "mean_variant", "difference", "ci_low", "ci_high",
                        "relative_change", "relative_low", "relative_high"]],
               headings=effect_headings(res.level))
    page.p("The means are over replications; the difference is variant minus baseline, paired "
           f"by replication, with its {level} simulation interval; pp = percentage points; the "
           "relative change (difference / baseline mean) is shown only where a ratio means "
           f"something, with its {level} interval (Fieller's, which allows for the baseline "
           "mean being estimated too). effects.csv holds the same numbers unrounded (columns "
           "mean_baseline, mean_variant, difference, ci_low and ci_high, relative_change, "
           "relative_low to relative_high) and the variance-reduction factor of the paired "
           "comparison.", "meta")
    for note in (no_spread_note(eff, res.registry, level=res.level),
                 multiplicity_note(eff, res.level),
                 design_note(res.manifest), withheld_note(eff), bounds_note(eff)):
        if note:
            page.note(esc(note[0].upper() + note[1:]))
    page.png(res.forest_png, f"Effect of each variant against the baseline with its {level} "
             "simulation interval; green: better, red: worse, blue: no clear change.")

    if any(r in res.outcomes for r in RESOURCES):
        cost_section(page, res)
    groups_section(page, res)
    weeks_section(page, res)
    if backlog_columns(res.weeks):
        requests_section(page, res.weeks, res.variants)
    learning_section(page, res)
    if (res.path / "sensitivity.csv").is_file():
        sensitivity_section(page, res.path, res.registry)
    if (res.path / "discovery" / "discovery.json").is_file():
        discovery_section(page, res.path)

    page.h2("How to read this report", "method")
    runs = (f"Every variant was run {esc(per_variant)} times" if points is None else
            f"Every variant was run at the {esc(points)}")
    paired = ("replications" if points is None else
              "points (what it holds is in the note under the effects)")
    page.raw("<p>" + runs + (" (some runs failed)" if failed else "") + ". Run i of "
             "every variant shares its random numbers, so differences come from the policy, not "
             "from luck; the interval of a difference is a t interval over the paired "
             f"{paired}. Files: <code>effects.csv</code> (every number above, unrounded), "
             "<code>runs/</code> (one row per run), <code>scenarios/</code> (each variant's "
             "resolved scenario), <code>manifest.json</code> (seeds and versions).</p>")
    return page
