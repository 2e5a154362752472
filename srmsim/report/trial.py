"""The report of a trial folder: the design in words, the estimate against the truth, bias,
coverage and power, each with its Monte-Carlo interval."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from srmsim.errors import SrmsimError
from srmsim.experiment.outcomes import (
    COLUMN_SCALES,
    DIFFERENCE_UNIT,
    GROUPS,
    OUTCOMES,
    RESOURCES,
    UNIT_TEXT,
    format_difference,
)
from srmsim.experiment.withhold import LOW, NOTE, WITHHELD, withhold_blank
from srmsim.labels import excerpt, given_percent, percent_of_runs
from srmsim.report.experiment import cost_per_unit, group_figure, group_table
from srmsim.report.files import (
    json_mapping,
    json_text,
    need_columns,
    need_numbers,
    need_text,
    read_csv,
    read_json,
    school_number,
)
from srmsim.report.page import Page, esc
from srmsim.report.run import CONFIDENTIAL
from srmsim.trial.groups import (
    ALL,
    COLUMNS,
    NUMBERS,
    TRUTH_OUTCOMES,
    WITH,
    WITHHELD_COLUMN,
    WITHOUT,
    truth_effects,
    truth_outcome,
    withheld_cells,
)
from srmsim.trial.report import (
    ANALYTIC_POWER,
    MDES,
    MDES_POWER,
    MDES_SD,
    REQUIRED_SUMMARY_COLUMNS,
    naive_scale,
    summary_display,
)
from srmsim.trial.spec import COLUMN_OUTCOMES, outcome_label

#: the trial_runs.csv columns the report's figure computes with
RUN_NUMBERS = ["estimate", "ci_low", "ci_high", "true_effect", "naive", "naive_truth"]



def outcome_unit(scale: str) -> str:
    """The unit of a trial's outcome and of its effects, in words: a share's effects are in
    percentage points (the page showed "attendance_rate (share)" above "+0.80 pp"; an SD
    outcome was "(sd)")."""
    if scale == "number":
        return "as recorded"
    unit, effects = UNIT_TEXT.get(scale, scale), DIFFERENCE_UNIT.get(scale, scale)
    return unit if unit == effects else f"{unit}; effects in {effects}"


def _value(summary: pd.DataFrame, start: str) -> tuple[float, float, float] | None:
    hit = summary[summary["measure"].str.startswith(start)]
    if hit.empty:
        return None
    r = hit.iloc[0]
    return float(r["value"]), float(r["ci_low"]), float(r["ci_high"])


def ci_level(summary: pd.DataFrame) -> str:
    """The level of the trial's confidence intervals as printed (``90%``), from the coverage
    measure's name (``analysis.alpha`` sets it); ``95%``, the default, when no replication
    finished."""
    coverage = summary.loc[summary["measure"].str.startswith("coverage of the"), "measure"]
    return coverage.iloc[0].removeprefix("coverage of the ").removesuffix(" CI") \
        if len(coverage) else "95%"


def headline(summary: pd.DataFrame, scale: str, naive: str | None = None) -> list[str]:
    """The estimate, truth, bias, coverage and power in words; the naive before/after's bias
    in the unit of its ``post`` column (``naive``, default ``scale``)."""
    out = []
    est, truth, bias = (_value(summary, s) for s in ("mean estimate", "mean true effect (ITT)",
                                                     "bias"))
    if est and truth:
        out.append(f"The trial's analysis estimated {format_difference(est[0], scale)} on "
                   f"average; the true effect in the simulation was "
                   f"{format_difference(truth[0], scale)}.")
    if bias:  # one replication has no interval: it read "(Monte-Carlo interval – to –)"
        interval = (f" (Monte-Carlo interval {format_difference(bias[1], scale)} to "
                    f"{format_difference(bias[2], scale)})"
                    if math.isfinite(bias[1]) and math.isfinite(bias[2])
                    else " (one replication: no interval)")
        out.append(f"Bias (estimate minus truth): {format_difference(bias[0], scale)}"
                   f"{interval}.")
    rejection = summary[summary["measure"].str.startswith("rejection")]
    null = not rejection.empty and "type I" in str(rejection["note"].iloc[0])
    tail = ("; with no true effect, this is the false-positive (type I error) rate." if null
            else "; this is the trial's power.")
    level = ci_level(summary)
    for start, words, missing in (
            ("coverage", f"The {level} confidence interval covered the truth in", "a confidence "
             "interval"),
            ("rejection", "The analysis found a significant effect in", "a p-value")):
        v = _value(summary, start)
        if v and not math.isfinite(v[0]):
            out.append(f"No replication's analysis gave {missing} (see trial_runs.csv).")
        elif v:
            out.append(f"{words} {percent_of_runs(v[0])} of replications (Monte-Carlo "
                       f"interval {percent_of_runs(v[1])} to {percent_of_runs(v[2])})"
                       + (tail if start == "rejection" else "."))
    out += design_headline(summary, scale)
    naive_bias = _value(summary, "naive bias")
    if naive_bias:
        out.append(f"A naive before/after comparison of the students served would be off by "
                   f"{format_difference(naive_bias[0], naive or scale)}.")
    return out


def design_headline(summary: pd.DataFrame, scale: str) -> list[str]:
    """The design's MDES (and in outcome SDs) and its analytic power at the true effect, in
    words; nothing for a folder of an older srmsim, whose summary has neither."""
    mdes, power = _value(summary, MDES), _value(summary, ANALYTIC_POWER)
    if not mdes or not math.isfinite(mdes[0]):
        return []
    size = format_difference(mdes[0], scale).lstrip("+±")
    sd = _value(summary, MDES_SD)
    in_sd = f" ({sd[0]:.3f} outcome SDs)" if sd and math.isfinite(sd[0]) else ""
    text = (f"The design's minimum detectable effect is {size}{in_sd}: the smallest true effect "
            f"it detects {given_percent(MDES_POWER)} of the time (Monte-Carlo interval "
            f"{format_difference(mdes[1], scale).lstrip('+±')} to "
            f"{format_difference(mdes[2], scale).lstrip('+±')}).")
    if power and math.isfinite(power[0]):
        text += (f" At the simulated true effect its analytic power is "
                 f"{percent_of_runs(power[0], 1)}, "
                 "to compare with the rejection rate above.")
    return [text]


def check_replications(path: Path, runs: pd.DataFrame, seeds: object,
                       meta: dict | None = None) -> None:
    """trial_runs.csv holds replications 0, 1, ... once each, with the seeds trial.json lists:
    with rows deleted, repeated or edited, its figure and table would pass for the trial's
    while trial_summary.csv describes other replications. (trial.json of an older srmsim lists
    no seeds: nothing to check against.)"""
    if not isinstance(seeds, list):
        return
    from srmsim.store import root_seed_gives

    root = (meta or {}).get("root_seed")
    if "root_seed" in (meta or {}):  # NaN or a mapping is named as such first
        json_text(meta or {}, "root_seed", path / "trial.json")
    if "root_seed" in (meta or {}) and not root_seed_gives(root, seeds):  # printed as the trial's
        raise SrmsimError(f"{path / 'trial.json'}: its root_seed {str(root)[:40]} does not give "
                          "its seeds (hand-edited or corrupt); run the trial again")
    where = path / "trial_runs.csv"
    need_numbers(runs, ["replication", "seed"], where)
    if runs["replication"].tolist() != list(range(len(seeds))) \
            or runs["seed"].tolist() != seeds:
        raise SrmsimError(f"{where}: its rows are not the {len(seeds)} replications and seeds "
                          "trial.json lists (rows deleted, repeated or edited); run the trial "
                          "again")


def _check_intervals(runs: pd.DataFrame, where: Path) -> None:
    """Each replication's estimate lies within its interval, as a trial writes them: an
    edited row (an estimate of 100 beside an interval of 0.9, or the ends swapped) stopped the
    report's figure with a traceback (negative error bars)."""
    est, lo, hi = (pd.to_numeric(runs[c], errors="coerce").to_numpy(dtype=float)
                   for c in ("estimate", "ci_low", "ci_high"))
    known = np.isfinite(est) & np.isfinite(lo) & np.isfinite(hi)
    bad = np.flatnonzero(known & ~((lo <= est) & (est <= hi)))
    if bad.size:
        raise SrmsimError(f"{where}: row {int(bad[0]) + 2}: estimate {est[bad[0]]:g} is outside "
                          f"its interval [{lo[bad[0]]:g}, {hi[bad[0]]:g}]; hand-edited or "
                          "damaged: run the trial again")


def _check_summary(summary: pd.DataFrame, runs: pd.DataFrame, settings: dict,
                   where: Path) -> pd.DataFrame:
    """trial_summary.csv is what :func:`~srmsim.trial.report.summarise` makes of
    trial_runs.csv at the trial's alpha: an edited summary (a mean estimate of 100 months, a
    coverage of 95%) was shown as the trial's result, though no replication gave it. The two
    files keep 10 significant digits, so figures are compared to a millionth of the runs'
    scale. Returns the summary the runs give, which the page shows: the file's 10 digits made
    an analytic power of 0.99999999999 a 1, "100.0%" where the terminal said ">99.9%"."""
    from pydantic import ValidationError

    from srmsim.trial.report import summarise, truth_population
    from srmsim.trial.spec import TrialConfig

    try:
        config = TrialConfig.model_validate(settings)
    except ValidationError:
        raise SrmsimError(f"{where.parent / 'trial.json'}: its settings are not a trial's "
                          "(hand-edited or corrupt); run the trial again") from None
    try:
        expected = summarise(runs.assign(error=runs["error"].where(runs["error"] != "", None)),
                             config.analysis.alpha, truth_population(config))
    except SrmsimError as err:
        raise SrmsimError(f"{where.parent / 'trial_runs.csv'}: {err}") from None
    numbers = runs[["estimate", "true_effect"]].apply(pd.to_numeric, errors="coerce")
    scale = float(np.nanmax(np.abs(numbers.to_numpy(dtype=float)), initial=1.0))
    got = summary.set_index("measure")
    if list(got.index) != list(expected["measure"]):
        raise SrmsimError(f"{where}: its measures are not those trial_runs.csv gives "
                          "(hand-edited, or made by another srmsim); run the trial again")
    for column in ("value", "ci_low", "ci_high"):
        a = got[column].to_numpy(dtype=float)
        b = expected[column].to_numpy(dtype=float)
        close = np.isclose(a, b, rtol=1e-6, atol=1e-6 * scale, equal_nan=True)
        if not close.all():
            i = int(np.flatnonzero(~close)[0])
            raise SrmsimError(f"{where}: {got.index[i]!r} {column} is {a[i]:.6g}, but "
                              f"trial_runs.csv gives {b[i]:.6g} (hand-edited or corrupt); run "
                              "the trial again")
    return expected


def _check_groups(table: pd.DataFrame, path: Path, where: Path) -> None:
    """trial_groups.csv holds the group detail its trial's store keeps (each file checked by
    its SHA-256): the truth by group and school edited by hand (a group's attendance set to
    0.5) was shown as the simulation's. A folder without its store (moved, or made by an older
    srmsim) has nothing to check it by."""
    from srmsim.trial.groups import collect
    from srmsim.trial.store import TrialStore

    store = TrialStore.of(path)
    if not (store.root / "manifest.json").is_file():
        return
    store.load()
    expected = collect([{"replication": r, "_groups": g} for r, g in sorted(
        store.group_detail.items())])
    if expected is None:
        expected = table.iloc[:0]
    keys = ["replication", "group", "outcome"]
    got = table.sort_values(keys, kind="stable").reset_index(drop=True)
    expected = expected.sort_values(keys, kind="stable").reset_index(drop=True)
    numbers = list(NUMBERS)
    # (a file without the withheld column reads every blank from records as withheld: safe)
    marks = [WITHHELD_COLUMN] if WITHHELD_COLUMN in got.columns else []
    def text(frame: pd.DataFrame) -> np.ndarray:  # a blank mark (NaN read back) is ""
        return frame.astype(object).where(frame.notna(), "").astype(str).to_numpy()

    same = len(got) == len(expected) and (
        text(got[keys + marks]) == text(expected[keys + marks])).all() and \
        np.allclose(got[numbers].to_numpy(dtype=float), expected[numbers].to_numpy(dtype=float),
                    rtol=1e-8, atol=1e-12, equal_nan=True)
    if not same:
        raise SrmsimError(f"{where}: not the group detail the trial's store keeps "
                          "(hand-edited or corrupt); run the trial again")


def _withheld_marks(table: pd.DataFrame, where: Path, records: bool
                    ) -> tuple[frozenset[tuple[str, str]], frozenset[str]]:
    """The (group, outcome) rows of trial_groups.csv with a number withheld from real records
    (:data:`srmsim.trial.groups.WITHHELD_COLUMN`; a file of an older srmsim has none: every
    blank, on records), and the groups whose count of students is: their blanks read ``low``
    and ``c``, any other blank "not measured". A mark that names no number, or a number that
    is not blank, is refused (hand-edited or corrupt)."""
    if WITHHELD_COLUMN in table.columns:
        words = table[WITHHELD_COLUMN].astype(object).where(table[WITHHELD_COLUMN].notna(), "")
        bad = ~words.map(lambda w: isinstance(w, str) and set(w.split()) <= set(NUMBERS))
        cells = withheld_cells(table)
        shown = cells & table[list(NUMBERS)].notna()
        bad |= shown.any(axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise SrmsimError(f"{where}: line {i + 2}: column {WITHHELD_COLUMN!r} must name "
                              f"numbers of the row ({', '.join(NUMBERS)}) that are blank, got "
                              f"{excerpt(words.iloc[i], 40)} (hand-edited or corrupt); run the "
                              "trial again")
    cells = withheld_cells(table, records)
    pair = (cells["trial"] | cells["counterfactual"]).to_numpy()
    rows = zip(table.loc[pair, "group"].astype(str), table.loc[pair, "outcome"].astype(str),
               strict=True)
    return frozenset(rows), frozenset(table.loc[cells["students"], "group"].astype(str))


def _check_no_groups(path: Path, groups: Path) -> None:
    """A folder without trial_groups.csv is an older srmsim's only if its store keeps no group
    detail: one deleted or not copied was reported as "made by an older srmsim"."""
    from srmsim.trial.store import TrialStore

    store = TrialStore.of(path)
    if not (store.root / "manifest.json").is_file():
        return
    store.load()
    if store.group_detail:
        raise SrmsimError(f"{groups}: missing, though the trial's store keeps its group detail "
                          "(deleted or not copied); run the trial again")


def build(path: Path) -> Page:
    from srmsim.trial.report import plot

    where = path / "trial.json"
    meta = read_json(where)
    summary = read_csv(path / "trial_summary.csv")
    need_columns(summary, REQUIRED_SUMMARY_COLUMNS, path / "trial_summary.csv")
    need_text(summary, ["measure"], path / "trial_summary.csv")
    need_numbers(summary, ["value", "ci_low", "ci_high", *(["mcse"] if "mcse" in summary else [])],
                 path / "trial_summary.csv")
    runs = read_csv(path / "trial_runs.csv")
    need_columns(runs, ["error", "covered"], path / "trial_runs.csv")
    need_numbers(runs, RUN_NUMBERS, path / "trial_runs.csv")
    if not runs["covered"].astype(str).isin(["True", "False", "1", "0", "1.0", "0.0"]).all():
        raise SrmsimError(f"{path / 'trial_runs.csv'}: column 'covered' must be True or False; "
                          "run the trial again")
    check_replications(path, runs, meta.get("seeds"), meta)
    _check_intervals(runs, path / "trial_runs.csv")
    runs["error"] = runs["error"].astype("object").where(runs["error"].notna(), "").astype(str)
    settings = json_mapping(meta, "settings", where)
    outcome = json_text(settings, "outcome", where)
    scale = COLUMN_SCALES.get(outcome, "number")
    naive = naive_scale(settings.get("naive"))
    summary = _check_summary(summary, runs, settings, path / "trial_summary.csv")
    page = Page(f"Trial report: {json_text(meta, 'name', where, path.name)}",
                json_text(settings, "description", where))
    page.h2("What was run", "what")
    page.p(json_text(meta, "design", where))
    sc = path / "scenario.yaml"
    if sc.exists():
        from srmsim.report.words import describe_policy, describe_trust
        from srmsim.scenario import load_scenario
        from srmsim.trial.spec import trial_digest

        scenario = load_scenario(sc)
        recorded = meta.get("trial_hash")
        # a scenario.yaml edited or copied from another trial was described as this trial's
        # trust and policy
        if isinstance(recorded, str) and trial_digest(
                settings, scenario.digest(), meta.get("input_files")) != recorded:
            raise SrmsimError(f"{sc}: with trial.json's settings, not what this trial ran (they "
                              f"no longer give its trial_hash {recorded[:20]}; edited or copied "
                              "from another trial); run the trial again")
        page.p(describe_trust(scenario))
        page.p(describe_policy(scenario))
    versions = json_mapping(meta, "versions", where)
    page.definitions([("outcome", f"{outcome_label(outcome)} ({outcome_unit(scale)})"),
                      ("replications", f"{len(runs):,}"),
                      ("root seed", json_text(meta, "root_seed", where, "not recorded")),
                      ("srmsim version", json_text(versions, "srmsim", where, "?")),
                      ("run time", _run_time(path, meta))])
    page.note("Each replication randomises the policy inside the simulation, analyses the "
              "result as a trust would, and compares the estimate with the true effect, which "
              "only a simulation knows (the same students, same seed, without the policy). "
              "Intervals here are Monte-Carlo intervals over replications: they show how precisely "
              "these replications pin down bias, coverage and power.")
    page.h2("Estimate against the truth", "headline")
    page.bullets(headline(summary, scale, naive), "headline")
    page.table(summary_display(summary, scale, naive), {"value"}, "trial_summary",
               raw=summary[["value"]])
    # the analysis's level (analysis.alpha), as the headline says it: a trial at alpha 0.1
    # had its 90% intervals drawn under the title "95% CI"
    page.figure(plot(runs, title=f"Estimate and its {ci_level(summary)} CI in each replication, "
                     "against the true effect", naive=naive in (None, scale), scale=scale,
                     level=ci_level(summary)),
                "Left: each replication's estimate (blue when its CI covers the truth, red when "
                "not) and the true effect (black). Right: estimate minus truth over "
                "replications.")
    subgroup_section(page, path, scale, config_alpha(settings, where))
    groups = path / "trial_groups.csv"
    if groups.exists():
        table = read_csv(groups)
        need_columns(table, list(COLUMNS) + ["replication"], groups)
        need_text(table, ["group", "outcome"], groups)
        if table.duplicated(["group", "outcome", "replication"]).any():
            raise SrmsimError(f"{groups}: a group, outcome and replication appear twice "
                              "(hand-edited or corrupt); run the trial again")
        _check_groups(table, path, groups)
        from srmsim.store import names_records

        records = names_records(meta)
        marks = _withheld_marks(table, groups, records)
        try:
            effects = truth_effects(table.drop(columns=WITHHELD_COLUMN, errors="ignore"))
        except SrmsimError as err:
            raise SrmsimError(f"{groups}: {err}") from None
        truth_sections(page, effects, outcome, _groups_caveat(settings), records, marks)
    else:
        _check_no_groups(path, groups)
        page.h2("Cost, staff hours and effects by group", "cost")
        page.p("This trial folder keeps no per-group detail (made by an older srmsim): run the "
               "trial again for cost, staff hours and effects by group.")
    return page


def config_alpha(settings: dict, where: Path) -> float:
    """The trial's significance level from trial.json's settings (checked with the summary)."""
    from srmsim.trial.spec import TrialConfig

    return TrialConfig.model_validate(settings).analysis.alpha


def subgroup_section(page: Page, path: Path, scale: str, alpha: float) -> None:
    """The subgroup estimates over replications from trial_subgroups.csv, checked against the
    trial's store (each replication's file by its SHA-256), so an edited table is refused
    rather than shown as the trial's; nothing for a folder without subgroup estimates."""
    from srmsim.trial.store import TrialStore
    from srmsim.trial.subgroups import (
        CAVEAT,
        COLUMNS,
        collect,
        cr1_caveat,
        plot_subgroups,
        subgroup_display,
        summarise_subgroups,
    )

    where = path / "trial_subgroups.csv"
    store = TrialStore.of(path)
    if not where.exists():
        if store.keeps_subgroups():
            store.load()
            if store.subgroup_detail:
                raise SrmsimError(f"{where}: missing, though the trial's store keeps its "
                                  "subgroup estimates (deleted or not copied); run the trial "
                                  "again")
        return
    table = read_csv(where)
    need_columns(table, ["replication", *COLUMNS], where)
    need_text(table, ["factor", "level", "status"], where)
    need_numbers(table, ["replication", "estimate", "ci_low", "ci_high", "p_value",
                         "true_effect"], where)
    if store.keeps_subgroups():
        store.load()
        expected = collect([{"replication": r, "_subgroups": g}
                            for r, g in sorted(store.subgroup_detail.items())])
        numbers = ["estimate", "se", "ci_low", "ci_high", "p_value", "true_effect"]
        same = expected is not None and len(expected) == len(table) and (
            expected[["replication", "factor", "level", "status"]].astype(str).to_numpy()
            == table[["replication", "factor", "level", "status"]].astype(str).to_numpy()
        ).all() and np.allclose(expected[numbers].to_numpy(dtype=float),
                                table[numbers].to_numpy(dtype=float), rtol=1e-8, atol=1e-12,
                                equal_nan=True)
        if not same:
            raise SrmsimError(f"{where}: not the subgroup estimates the trial's store keeps "
                              "(hand-edited or corrupt); run the trial again")
    table["covered"] = table["covered"].astype(str).isin(["True", "1", "1.0"])
    table["status"] = table["status"].astype(str)
    summary = summarise_subgroups(table, alpha)
    replications = int(table["replication"].nunique())
    page.h2("Subgroup estimates", "subgroups")
    page.p("The trial's own analysis (same estimator, standard errors and clustering) within "
           "each subgroup, next to the subgroup's true effect, mean over replications; the "
           "share of replications whose interval covered the subgroup's truth, with its "
           "Monte-Carlo (Wilson) interval; and for each pair of subgroups the interaction test "
           "(arm x subgroup in the trial's model; for the year groups the joint test that the "
           "effect is the same in every one): the share of replications in which it found "
           f"the effect differs (p < {alpha:g}). A subgroup with under 10 analysed students in "
           "an arm (or, schools randomised, under 2 schools) is not estimated. " + CAVEAT)
    page.table(subgroup_display(summary, replications, scale, alpha),
               {"true effect", "estimate"}, "trial_subgroups")
    caveat = cr1_caveat(table)
    if caveat:
        page.p(caveat)
    level = given_percent(1 - alpha)
    page.figure(plot_subgroups(summary, scale, level),
                f"Each subgroup's mean estimate with its {level} interval (mean ends) against its "
                "mean true effect (black), and each interaction (purple): the difference in "
                "effect between the two groups.")


def _count(value: float, records: bool = False) -> str:
    """A number of students; blank in trial_groups.csv: ``c`` (withheld) from real records,
    else "not measured" (the page showed "nan")."""
    if math.isfinite(value):
        return f"{value:,.0f}"
    return CONFIDENTIAL if records else "not measured"


def resources_rows(all_arm: pd.DataFrame, records: bool = False,
                   measured: frozenset[str] = frozenset()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cost, staff hours and reach of the policy in the treated arm (trial run minus
    counterfactual, mean over replications): shown rows and their unrounded values. From real
    ``records`` a blank count is withheld (``c``) and a blank cost or hours ``low``, as the
    experiment report shows them; a trial on records showed them "not measured" and "–".
    ``measured``: the outcomes (and ``students``) whose blank trial_groups.csv says was not
    withheld, "not measured" from records too."""
    eff = all_arm.set_index("outcome")
    students = float(all_arm["students"].iloc[0])
    served = float(eff.loc["students_served", "difference"]) * students
    cost, hours = (float(eff.loc[r, "difference"]) for r in ("cost", "staff_hours"))

    def withheld(*names: str) -> bool:
        blank = [n for n in names if not math.isfinite(
            students if n == "students" else float(eff.loc[n, "difference"]))]
        return records and any(n not in measured for n in blank)

    def size(value: float, text: str, name: str) -> str:
        return text if math.isfinite(value) else LOW if withheld(name) else "not measured"

    rows = [("treated-arm students", _count(students, withheld("students")), students),
            ("students who received any action",
             _count(served, withheld("students_served", "students")), served),
            ("cost of actions", size(cost, OUTCOMES["cost"].format_value(cost), "cost"), cost),
            ("staff hours", size(hours, OUTCOMES["staff_hours"].format_value(hours),
                                 "staff_hours"), hours)]
    if served > 0:
        rows += [("cost per student served",
                  size(cost, OUTCOMES["cost"].format_value(cost / served), "cost"),
                  cost / served),
                 ("staff hours per student served",
                  size(hours, f"{hours / served:,.1f} h", "staff_hours"), hours / served)]
    shown = pd.DataFrame({"measure": [r[0] for r in rows], "value": [r[1] for r in rows]})
    return shown, pd.DataFrame({"value": [r[2] for r in rows]})


def _groups_caveat(settings: dict) -> str:
    """Why the group rows' 'all treated-arm students' differs from the trial's ITT effect, when
    it does: they measure the whole arm over the whole year, the trial a screened population
    or the stepped wedge's treated school-periods (+0.39 pp against +0.59 pp on 6 schools)."""
    randomise = settings.get("randomise")
    if isinstance(randomise, dict) and randomise.get("unit") == "stepped_wedge":
        return (" In a stepped wedge every school is treated from its crossover on: these rows "
                "are each student's whole year, before and after the crossover, so the row "
                "'all treated-arm students' is not the trial's true effect above (over treated "
                "school-periods).")
    if settings.get("population") == "flagged":
        return (" These rows cover every treated-arm student, screened or not, while the trial "
                "analyses only the students flagged at the screening: the row 'all treated-arm "
                "students' spreads the policy's effect over the whole arm and is not the "
                "trial's true effect (ITT) above.")
    return ""


def truth_sections(page: Page, eff: pd.DataFrame, outcome_column: str, caveat: str = "",
                   records: bool = False,
                   marks: tuple[frozenset[tuple[str, str]], frozenset[str]] | None = None
                   ) -> None:
    """Cost and staff hours, cost per unit of each outcome, and the true effects by FSM/SEN/EAL
    and school, from ``trial_groups.csv`` (the simulator's truth over replications); ``caveat``
    ends the groups' introduction (see :func:`_groups_caveat`); from real ``records`` what the
    file withheld is shown ``low`` (:func:`withhold_blank`), by its ``marks``
    (:func:`_withheld_marks`; None, an older file's: every blank), any other blank "not
    measured"."""
    measured: frozenset[str] = frozenset()
    if records:
        rows = None if marks is None else np.array(
            [(g, o) in marks[0] for g, o in zip(eff["group"].astype(str),
                                                 eff["outcome"].astype(str), strict=True)],
            dtype=bool)
        eff = withhold_blank(eff, rows)
        if marks is not None:
            arm = eff[eff["group"] == ALL]
            measured = frozenset(arm.loc[arm["verdict"] != WITHHELD, "outcome"].astype(str)) \
                | (frozenset() if ALL in marks[1] else frozenset({"students"}))
    all_arm = eff[eff["group"] == ALL]
    page.h2("Cost and staff hours", "cost")
    page.p("What the policy spent on the treated arm over the run, mean over replications (the "
           "control arm is never referred, so this is all the trial's cost).")
    shown, raw = resources_rows(all_arm, records, measured)
    page.table(shown, {"value"}, "trial_cost", raw=raw)
    if records and (shown["value"].isin([LOW, CONFIDENTIAL]).any()
                    or (eff["verdict"] == WITHHELD).any()):
        page.note(esc(NOTE[0].upper() + NOTE[1:]))
    outcomes = [truth_outcome(o) for o in TRUTH_OUTCOMES]
    ct = cost_per_unit(all_arm, outcomes, {WITH: float(all_arm["students"].iloc[0])})
    if ct is not None:
        page.p("Cost per unit of each outcome: the policy's cost (or staff hours) divided by the "
               "improvement it bought across the treated arm, by the simulator's truth (each "
               "student's outcome with the policy minus without it). Shown only where the "
               "improvement is clear (its interval excludes zero).")
        page.table(ct.drop(columns="variant"), {"units gained over the run", "cost per unit",
                                                "staff hours per unit"}, "cost_per_unit")

    page.h2("True effects by group and by school", "groups")
    page.p("The policy's effect on each outcome among treated-arm students, by group: the same "
           "students with and without the policy (the counterfactual run), paired over "
           "replications, with 95% simulation intervals. Only a simulation knows these; a real "
           "trial estimates subgroup effects far less precisely, and a cluster-randomised one "
           "cannot estimate an effect for a single school. A school's row pools the "
           "replications in which that school was in the treated arm (in a cluster or "
           "stepped-wedge trial, not every replication treats every school), so school rows "
           "rest on fewer replications than the group rows."
           + caveat)
    present = set(eff["group"])
    groups = [ALL] + [g for _, yes, no in GROUPS for g in (yes, no) if g in present]
    schools = sorted((g for g in present if g.startswith("school ")), key=school_number)
    main = [o for o in outcomes if o.name not in RESOURCES]
    for o in main:
        page.h3(o.heading())
        page.table(group_table(eff, o, groups + schools, WITHOUT), numeric=set(),
                   table_id=f"groups_{o.name}")
    focus = truth_outcome(COLUMN_OUTCOMES.get(outcome_column, main[0].name))
    page.figure(group_figure(eff, focus, groups, WITHOUT, [WITH]),
                f"{focus.label}: true effect among treated-arm students, by FSM, SEN and EAL "
                "group.")


def _run_time(path: Path, meta: dict) -> str:
    """The replications' compute time: summed over the sessions in the resume store's manifest
    (a resumed trial ran in several), else the ``seconds`` older trial.json files held."""
    from srmsim.trial.store import TrialStore

    def number(value: object) -> float | None:
        ok = isinstance(value, int | float) and not isinstance(value, bool) \
            and math.isfinite(value) and value >= 0
        return float(value) if ok else None  # type: ignore[arg-type]

    try:
        manifest = TrialStore.of(path).manifest()
    except Exception:  # a damaged store does not stop the report; its time is just unknown
        manifest = None
    sessions = manifest.get("sessions") if isinstance(manifest, dict) else None
    if sessions and isinstance(sessions, list):
        times = [number(s.get("seconds", 0)) if isinstance(s, dict) else None for s in sessions]
        if all(t is not None for t in times):  # else an edited store: its time is unknown
            n = len(sessions)
            return f"{sum(t for t in times if t is not None):,.1f} s" \
                + (f" over {n} sessions" if n > 1 else "")
        return "not recorded"
    if "seconds" not in meta:
        return "not recorded"
    seconds = number(meta["seconds"])
    if seconds is None:
        raise SrmsimError(f"{path / 'trial.json'}: seconds is {str(meta['seconds'])[:40]!r}, "
                          "not a number of seconds (hand-edited or corrupt); run the trial again")
    return f"{seconds:,.1f} s"
