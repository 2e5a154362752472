"""Exploratory results in a report: sensitivity indices and scenario discovery (sections of an
experiment's report, when ``srmsim sensitivity`` / ``srmsim discover`` wrote into its folder), and
the report of an ``srmsim optimise`` folder (Pareto front, re-evaluated front, best policy).

Each section says in plain words what its numbers mean: a report goes to readers who have never
met a Sobol index or a PRIM box.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from srmsim.errors import SrmsimError
from srmsim.experiment.outcomes import Outcome, format_value, get_outcome
from srmsim.experiment.withhold import LOW
from srmsim.inputs import whole
from srmsim.labels import (
    key_unit,
    percent_level,
    percent_of_runs,
    plural,
    rounded,
    setting,
    significant,
)
from srmsim.report.files import (
    AGAIN,
    embed_png,
    json_count,
    json_mapping,
    json_names,
    json_text,
    json_time,
    need_columns,
    need_numbers,
    need_text,
    read_csv,
    read_json,
)
from srmsim.report.page import Page, esc

#: how to read Sobol indices; ``{level}``: their intervals' level as printed (``95%``)
SOBOL_WORDS = (
    "<p><b>How to read a Sobol index.</b> Across the design's states of the world each outcome "
    "varies; a Sobol index says how much of that variance comes from one uncertain parameter. "
    "<b>First-order S1</b> is the share due to the parameter alone (averaged over the others); "
    "<b>total ST</b> is its share including every interaction with the others, so ST minus S1 is "
    "what it adds only together with them. A parameter with ST near 0 hardly matters within its "
    "range: fixing it anywhere would change little. Indices go from 0 to 1; estimates from a "
    "small design can stray outside that and carry wide {level} bootstrap intervals: an interval "
    "that includes 0 does not tell the parameter apart from no influence. Rows named "
    "<i>variant - baseline</i> apportion the variance of the policy's effect: which "
    "assumptions decide how much the policy helps.</p>")
MORRIS_WORDS = (
    "<p><b>How to read Morris screening.</b> Each parameter is moved one at a time across its "
    "range, from many starting points. <b>mu*</b> is the mean absolute change in the outcome "
    "this causes (in the outcome's unit, per the parameter's full range): its overall "
    "influence; rank parameters by it. <b>sigma</b> is the spread of those changes: a sigma as "
    "large as mu* means the parameter's effect depends on the others (interactions) or is not "
    "a straight line. A parameter with small mu* and small sigma can be fixed. Morris screens; "
    "it does not apportion variance as Sobol indices do.</p>")
DISCOVERY_WORDS = (
    "<p><b>How to read scenario discovery.</b> PRIM looks for a <i>box</i>, a range for some of "
    "the uncertain parameters, inside which the condition mostly holds. <b>Coverage</b> is the "
    "share of all the runs where the condition holds that fall inside the box: how much of the "
    "problem the box accounts for. <b>Density</b> is the share of the runs inside the box where "
    "the condition holds: how reliable the box is as a warning sign. <b>Mass</b> is the share of "
    "all runs inside the box. Peeling the box smaller raises density and loses coverage; the "
    "trajectory shows every box on the way. A restricted parameter's range, set against its "
    "full range, says where the condition lives; a quasi-p value (a binomial test) well below "
    "0.05 says the restriction is unlikely to be chance. The classification tree is a second "
    "view: each leaf is a box read the same way.</p>")
FRONT_WORDS = (
    "<p><b>How to read the front.</b> Each point is a candidate policy (a setting of the "
    "levers), scored by the mean of each objective over the same replications (common random "
    "numbers). A candidate is on the <b>Pareto front</b> when no other candidate is at least as "
    "good on every objective and better on one; moving along the front trades one objective for "
    "another, and every candidate off it is beaten by some policy on it. Candidates that break a "
    "constraint cannot be on the front. The search's scores are noisy and the best of many "
    "noisy scores looks better than it is, so the front's policies are run again on fresh "
    "replications, against the baseline, with 95% simulation intervals (below): trust those "
    "numbers, not the search's.</p>")


def _size(o: Outcome, value: float) -> str:
    """A size (no direction) in the outcome's unit of differences."""
    return o.format_difference(value).lstrip("+±")


def _ci(value: float, conf: float) -> str:
    if not (math.isfinite(value) and math.isfinite(conf)):
        return "–"
    return f"{_index(value - conf)} to {_index(value + conf)}"


def _index(value: float) -> str:
    """A Sobol index to 2 decimals; one that rounds to zero reads ``0.00``, never ``-0.00``."""
    return rounded(value, ".2f") if math.isfinite(value) else "–"


def sensitivity_level(table: pd.DataFrame, path: Path) -> str:
    """The level of sensitivity.csv's intervals as printed (``90%`` after ``srmsim sensitivity
    --level 0.9``: the page called them 95% whatever the level); ``95%``, the default, for a
    file of an older srmsim that does not record it (need_numbers has checked the column)."""
    levels = set(table["level"].dropna()) if "level" in table else set()
    if not levels:
        return "95%"
    if len(levels) != 1 or not 0 < (level := float(levels.pop())) < 1:
        raise SrmsimError(f"{path}: column 'level' does not hold one confidence level between 0 "
                          f"and 1 (hand-edited or corrupt); {AGAIN}")
    return percent_level(level)


def sensitivity_table(table: pd.DataFrame, registry: dict[str, Outcome], level: str = "95%"
                      ) -> tuple[pd.DataFrame, pd.DataFrame, bool]:
    """Shown rows, their raw numbers and whether the design was Morris's; ``level``: the
    intervals' as printed."""
    morris = bool((table["method"] == "morris").any())
    label = [get_outcome(o, registry).label for o in table["outcome"]]
    shown = pd.DataFrame({"policy (or effect)": table["target"], "outcome": label,
                          "parameter": table["parameter"]})
    if morris:
        outcomes = [get_outcome(o, registry) for o in table["outcome"]]
        shown["mu*"] = [_size(o, v) for o, v in zip(outcomes, table["mu_star"], strict=True)]
        shown[f"mu* {level} interval"] = [f"± {_size(o, c)}" for o, c in
                                     zip(outcomes, table["mu_star_conf"], strict=True)]
        shown["sigma"] = [_size(o, v) for o, v in zip(outcomes, table["sigma"], strict=True)]
        raw = table[["mu_star", "sigma"]].rename(columns={"mu_star": "mu*"})
    else:
        shown["first-order S1"] = [_index(v) for v in table["S1"]]
        shown[f"S1 {level} interval"] = [_ci(v, c) for v, c in zip(table["S1"], table["S1_conf"],
                                                              strict=True)]
        shown["total ST"] = [_index(v) for v in table["ST"]]
        shown[f"ST {level} interval"] = [_ci(v, c) for v, c in zip(table["ST"], table["ST_conf"],
                                                              strict=True)]
        raw = table[["S1", "ST"]].rename(columns={"S1": "first-order S1", "ST": "total ST"})
    return shown, raw, morris


def _has_runs(folder: Path) -> bool:
    """Whether ``folder`` is an experiment's, whose runs the sensitivity and discovery files
    are checked against (the sections are also drawn from bare files, which have none)."""
    return (folder / "manifest.json").is_file()


def _check_indices(table: pd.DataFrame, folder: Path, path: Path) -> pd.DataFrame | None:
    """sensitivity.csv holds the indices its folder's runs give (computed again, as `srmsim
    sensitivity` did, and compared to the 6 digits the file keeps): an S1 edited from 0.07 to
    0.99 was shown as the parameter's share of the variance. Returns the indices computed
    (their ``attrs["pairs"]``: the second-order ones), None for an older srmsim's file."""
    from srmsim.explore.sensitivity import COLUMNS, sensitivity

    if "level" not in table or table.empty:  # an older srmsim's file: its settings unknown
        return None
    variants = list(dict.fromkeys(table["variant"]))
    differences = bool((table["target"] != table["variant"]).any())
    expected = sensitivity(folder, outcomes=list(dict.fromkeys(table["outcome"])),
                           variants=variants, differences=differences,
                           level=float(table["level"].iloc[0]))
    # in the file's order: an outcome one target did not measure (left out there) first
    # appears under a later target, so the order asked for is not the file's first-seen order
    keys = ["target", "outcome", "parameter"]
    order = {k: i for i, k in enumerate(table[keys].astype(str).itertuples(index=False,
                                                                           name=None))}
    rank = [order.get(k, len(order)) for k in expected[keys].astype(str).itertuples(
        index=False, name=None)]
    ordered = expected.iloc[np.argsort(rank, kind="stable")]
    _same_numbers(table, ordered, ["target", "outcome", "parameter", "method"],
                  [c for c in COLUMNS[5:] if c != "level"], path)
    return expected


def _same_numbers(table: pd.DataFrame, expected: pd.DataFrame, keys: list[str],
                  numbers: list[str], path: Path) -> None:
    """``table`` (a file's rows) holds ``expected``'s (computed again from the runs), in order,
    to the 6 digits the file keeps."""
    same_rows = (len(expected) == len(table) and (
        expected[keys].astype(str).to_numpy() == table[keys].astype(str).to_numpy()).all())
    if same_rows:
        a = table[numbers].to_numpy(dtype=float)
        b = expected[numbers].to_numpy(dtype=float)
        close = np.isclose(a, b, rtol=1e-5, atol=1e-9, equal_nan=True)
        if close.all():
            return
        row, col = np.argwhere(~close)[0]
        raise SrmsimError(f"{path}: row {row + 2} {numbers[col]} is {a[row, col]:.6g}, but the "
                          f"runs give {b[row, col]:.6g} (hand-edited or corrupt); {AGAIN}")
    raise SrmsimError(f"{path}: its rows are not the indices the runs give (hand-edited or "
                      f"corrupt); {AGAIN}")


def _pairs_section(page: Page, path: Path, expected: pd.DataFrame | None,
                   registry: dict[str, Outcome], level: str) -> None:
    """Second-order indices from ``sensitivity_second_order.csv`` (a design of
    ``second_order: true``), checked against the runs as sensitivity.csv is."""
    from srmsim.explore.sensitivity import PAIR_COLUMNS

    pairs = read_csv(path)
    need_text(pairs, PAIR_COLUMNS[:5], path)
    need_numbers(pairs, ["S2", "S2_conf", "level"], path)
    if expected is not None:
        _same_numbers(pairs, expected.attrs.get("pairs", pd.DataFrame(columns=PAIR_COLUMNS)),
                      PAIR_COLUMNS[:5], ["S2", "S2_conf"], path)
    pairs = pairs.dropna(subset=["S2"]).reset_index(drop=True)
    if pairs.empty:
        return
    page.h3("Interactions: second-order indices")
    page.p("The design has second_order: true. S2 is the share of the variance that two "
           "parameters account for together, beyond what each does alone; estimates near 0 "
           f"whose {level} interval spans 0 show no interaction the design could detect.")
    shown = pd.DataFrame({
        "policy (or effect)": pairs["target"],
        "outcome": [get_outcome(o, registry).label for o in pairs["outcome"]],
        "parameter": pairs["parameter"], "with": pairs["other"],
        "S2": [_index(v) for v in pairs["S2"]],
        f"S2 {level} interval": [_ci(v, c) for v, c in zip(pairs["S2"], pairs["S2_conf"],
                                                           strict=True)]})
    page.table(shown, {"S2", f"S2 {level} interval"}, "sensitivity-pairs",
               raw=pairs[["S2"]])
    page.p(f"From {path.name}, written by `srmsim sensitivity`.", "meta")


def sensitivity_section(page: Page, folder: Path, registry: dict[str, Outcome]) -> None:
    """Sobol or Morris indices from ``sensitivity.csv`` (``srmsim sensitivity DIR``)."""
    from srmsim.explore.sensitivity import COLUMNS, sensitivity_plot

    path = folder / "sensitivity.csv"
    table = read_csv(path)
    need_text(table, COLUMNS[:5], path)
    need_numbers(table, [c for c in COLUMNS[5:] if c in table], path)
    level = sensitivity_level(table, path)
    if table.duplicated(["target", "outcome", "parameter"]).any():
        raise SrmsimError(f"{path}: a policy, outcome and parameter appear twice (hand-edited or "
                          f"corrupt); {AGAIN}")
    for col in COLUMNS[5:]:
        table[col] = pd.to_numeric(table.get(col), errors="coerce") if col in table else math.nan
    expected = _check_indices(table, folder, path) if _has_runs(folder) else None
    page.h2("Which assumptions drive the results (sensitivity)", "sensitivity")
    index_columns = ["mu_star", "sigma"] if (table["method"] == "morris").any() else ["S1", "ST"]
    constant = table[index_columns].isna().all(axis=1)
    flat = sorted({f"{t}: {get_outcome(o, registry).label}" for t, o in
                   zip(table.loc[constant, "target"], table.loc[constant, "outcome"],
                       strict=True)})
    table = table[~constant].reset_index(drop=True)
    shown, raw, morris = sensitivity_table(table, registry, level)
    page.raw(MORRIS_WORDS if morris else SOBOL_WORDS.format(level=level))
    page.table(shown, set(raw.columns) | {f"{name} {level} interval"
                                          for name in ("S1", "ST", "mu*")}, "sensitivity",
               raw=raw)
    if flat:
        page.p("Not shown, because they did not vary with the uncertain parameters (nothing to "
               "apportion): " + "; ".join(flat) + ".")
    if table.empty:
        return
    page.figure(sensitivity_plot(table),
                "Morris mu* against sigma for each parameter." if morris else
                "First-order (blue) and total (orange) Sobol indices of each parameter with "
                f"their {level} intervals, per outcome (columns) and policy or effect (rows).")
    page.p("From sensitivity.csv, written by `srmsim sensitivity`.", "meta")
    from srmsim.explore.sensitivity import PAIRS_FILE

    if (folder / PAIRS_FILE).is_file():
        _pairs_section(page, folder / PAIRS_FILE, expected, registry, level)


#: the shown name of the leaves' ``cases`` column (cart_leaves.csv keeps the short one)
HOLDS_IN = "runs where it holds"


def leaves_display(cart: pd.DataFrame) -> pd.DataFrame:
    """cart_leaves.csv as text: counts with separators, coverage and density as percentages
    (the shares the words above define), as the report and `srmsim discover` show them."""
    leaf = {"leaf": cart["leaf"]} if "leaf" in cart else {}  # the report reads the CSV's box
    return pd.DataFrame({**leaf, "box": cart["box"],
                         "runs": [f"{int(v):,}" for v in cart["runs"]],
                         HOLDS_IN: [f"{int(v):,}" for v in cart["cases"]],
                         "coverage": [percent_of_runs(float(v)) for v in cart["coverage"]],
                         "density": [percent_of_runs(float(v)) for v in cart["density"]]})


def _check_box(box: pd.DataFrame, folder: Path, where: Path) -> None:
    """Each limit of PRIM's box lies within its parameter's range, and that range is the one the
    experiment drew the parameter from: a box edited to -9.5 to 7.25 for a parameter drawn
    from -4.4 to -3.8 was shown as where the condition holds. (All a discovery made before
    discovery.json recorded PRIM's options can be checked by; :func:`_check_discovery` finds
    a newer one's box again.)"""
    from srmsim.explore.tables import Explored

    bounds = Explored(folder).bounds
    for i, row in enumerate(box.itertuples(index=False)):
        drawn = bounds.get(str(row.parameter))
        ok = drawn is not None and all(np.isclose(a, b, rtol=1e-5, atol=1e-12) for a, b in
                                       zip((row.range_low, row.range_high), drawn, strict=True))
        ok = ok and row.range_low - 1e-9 <= row.low <= row.high <= row.range_high + 1e-9
        if not ok:
            raise SrmsimError(f"{where}: row {i + 2} ({str(row.parameter)[:60]!r}) is not a box "
                              "within the parameter's range as the experiment drew it "
                              f"(hand-edited or corrupt); {AGAIN}")


def _check_discovery(about: dict, box: pd.DataFrame, traj: pd.DataFrame, folder: Path,
                     where: Path) -> None:
    """PRIM's trajectory and box are those the runs give, found again with the options
    discovery.json records (an older srmsim's records none: then only :func:`_check_box`)."""
    from srmsim.explore.discovery import discover

    options = about.get("prim")
    if options is None:
        return
    if not (isinstance(options, dict) and set(options) == {"peel_alpha", "paste_alpha",
                                                            "mass_min"}):
        raise SrmsimError(f"{where}: prim is not PRIM's options as srmsim writes them "
                          f"(hand-edited or corrupt); {AGAIN}")
    try:
        found = discover(folder, json_text(about, "condition", where),
                         variant=json_text(about, "variant", where) or None,
                         box=json_count(about, "box", where), **options)
    except SrmsimError as err:
        raise SrmsimError(f"{where}: its condition and options do not find a box in these runs "
                          f"({err}); {AGAIN}") from None
    for name, got, expected in (("prim_box.csv", box, found.box),
                                ("prim_trajectory.csv", traj, found.prim.trajectory)):
        columns = [c for c in expected.columns if pd.api.types.is_numeric_dtype(expected[c])]
        same = len(got) == len(expected) and all(c in got for c in columns) and np.allclose(
            got[columns].to_numpy(dtype=float), expected[columns].to_numpy(dtype=float),
            rtol=1e-5, atol=1e-12, equal_nan=True)
        if not same:
            raise SrmsimError(f"{where.parent / name}: not what PRIM finds in the runs with the "
                              f"options discovery.json records (hand-edited or corrupt); {AGAIN}")


def discovery_section(page: Page, folder: Path) -> None:
    """PRIM's box and trajectory and CART's leaves from ``discovery/``
    (``srmsim discover DIR``)."""
    d = folder / "discovery"
    about = read_json(d / "discovery.json")
    box, traj = read_csv(d / "prim_box.csv"), read_csv(d / "prim_trajectory.csv")
    cart = read_csv(d / "cart_leaves.csv")
    need_columns(box, ["parameter"], d / "prim_box.csv")
    need_numbers(box, ["low", "high", "range_low", "range_high", "quasi_p"], d / "prim_box.csv")
    need_numbers(traj, ["box", "coverage", "density", "mass", "res_dim", "runs", "cases"],
                 d / "prim_trajectory.csv")
    need_columns(cart, ["box"], d / "cart_leaves.csv")
    need_numbers(cart, ["runs", "cases", "coverage", "density"], d / "cart_leaves.csv")
    for table, name, counts in ((traj, "prim_trajectory.csv", ["res_dim", "runs", "cases"]),
                                (cart, "cart_leaves.csv", ["runs", "cases"])):
        if table[counts].isna().any().any():
            raise SrmsimError(f"{d / name}: a blank among its counts {counts}; {AGAIN}")
    where = d / "discovery.json"
    index = json_count(about, "box", where, -1)
    chosen = traj[traj["box"] == index]
    if chosen.empty:
        raise SrmsimError(f"{where}: box {index!r} is not in prim_trajectory.csv")
    s = chosen.iloc[0]
    runs, cases = json_count(about, "runs", where), json_count(about, "cases", where)
    # the whole space (PRIM's first box) holds every run and every case: "99 of 16 runs"
    # was printed from an edited discovery.json
    whole = traj[traj["box"] == 0]
    if cases > runs or (runs and not whole.empty and (int(whole["runs"].iloc[0]) != runs
                                                      or int(whole["cases"].iloc[0]) != cases)):
        raise SrmsimError(f"{where}: its {cases:,} cases of {runs:,} runs are not those of "
                          f"prim_trajectory.csv's first box; {AGAIN}")
    if _has_runs(folder):
        _check_box(box, folder, d / "prim_box.csv")
        _check_discovery(about, box, traj, folder, where)
    page.h2("When does it happen (scenario discovery)", "discovery")
    condition = json_text(about, "condition", where, "?")
    variant = json_text(about, "variant", where, "?")
    page.raw(f"<p>Condition <code>{esc(condition)}</code> on the outcomes of "
             f"<b>{esc(variant)}</b> (<code>x_diff</code>: its paired difference from the "
             f"baseline): it holds in {cases:,} of {plural(runs, 'run')}"
             + (f" ({percent_of_runs(cases / runs)})" if runs else "") + ".</p>")
    page.raw(DISCOVERY_WORDS)
    page.definitions([("box reported", f"box {index} of the peeling trajectory"),
                      ("coverage", percent_of_runs(s['coverage'])),
                      ("density", percent_of_runs(s['density'])),
                      ("mass", f"{percent_of_runs(s['mass'])} ({plural(s['runs'], 'run')}, "
                               f"{int(s['cases']):,} where the condition holds)"),
                      ("restricted parameters", f"{int(s['res_dim'])}")])
    page.h3("The box: where the condition holds")
    if box.empty:
        page.p("No parameter is restricted: the condition is not confined to one region of the "
               "uncertain parameters.")
    else:
        units = [key_unit(k) for k in box["parameter"]]

        def span(lows: pd.Series, highs: pd.Series) -> list[str]:
            """Each ``low to high``, rounded by its parameter's unit and naming it."""
            return [f"{lever_text(a, u)} to {lever_text(b, u)}" + (f" ({u})" if u else "")
                    for a, b, u in zip(lows, highs, units, strict=True)]

        limits = pd.DataFrame({"parameter": box["parameter"],
                               "box": span(box["low"], box["high"]),
                               "full range": span(box["range_low"], box["range_high"]),
                               "quasi-p": [f"{p:.2g}" for p in box["quasi_p"]]})
        page.table(limits, {"box", "full range", "quasi-p"}, "prim_box",
                   raw=box[["low", "quasi_p"]].rename(columns={"low": "box",
                                                               "quasi_p": "quasi-p"}))
    embed_png(page, d / "prim_trajectory.png", "Coverage against density of every box on PRIM's "
              "peeling trajectory; the circled box is the one reported.")
    page.h3("Classification tree leaves (densest first)")
    page.table(leaves_display(cart.drop(columns="leaf", errors="ignore")),
               {"runs", "cases", "coverage", "density"}, "cart_leaves",
               raw=cart[["coverage", "density"]])
    page.p("From discovery/, written by `srmsim discover`.", "meta")


# --------------------------------------------------------------------------- optimise folder
def search_registry(policy: object) -> dict[str, Outcome]:
    """The outcomes a search's tables name beyond the built-in ones: regret in the unit of the
    base ``policy``'s choosers' target (:func:`srmsim.experiment.learning.regret_outcomes`, as
    an experiment's results load it). `srmsim optimise` printed a regret objective bare
    (``0.412``) where `srmsim compare` printed ``0.41 months``."""
    from srmsim.experiment.learning import regret_outcomes
    from srmsim.policy.config import PolicyConfig, chooser_target

    return regret_outcomes(chooser_target([policy]) if isinstance(policy, PolicyConfig)
                           else None)


def _objective_text(name: str, direction: str,
                    registry: dict[str, Outcome] | None = None) -> str:
    return f"{get_outcome(name, registry).label} ({direction})"


def short_names(keys: list[str]) -> dict[str, str]:
    """Scenario keys by their last part, or as many parts as tell them apart."""
    for parts in range(1, max((k.count(".") + 1 for k in keys), default=1) + 1):
        names = {k: ".".join(k.split(".")[-parts:]) for k in keys}
        if len(set(names.values())) == len(names):
            return names
    return {k: k for k in keys}


def lever_text(value: object, unit: str = "") -> str:
    """A lever's value as a reader writes it, rounded by its ``unit`` (:func:`lever_units`):
    minutes to the minute from 10, money as the outcomes print it, any other to 3 significant
    figures but whole from 100 (``0.877``, ``-0.503``, ``1,035``; the 6 figures of ``0.876925`` or
    ``1,035.4`` minutes said more than a search's candidate means), a whole number in full, a
    choice as itself. pareto.csv and best_policy.yaml keep the exact values."""
    if isinstance(value, str) or not isinstance(value, (int, float, np.integer, np.floating,
                                                        np.bool_)):
        return str(value)
    if isinstance(value, (bool, np.bool_)):
        return setting(bool(value))
    if isinstance(value, (int, np.integer)):  # exactly: a 400-digit one in an edited
        return f"{int(value):,}"  # optimise.json made float() raise OverflowError, a traceback
    v = float(value)
    if not math.isfinite(v):
        return "n/a"
    if "£" in unit:
        return format_value(v, "money")
    # (a fraction of a minute keeps its figures: 0.4 minutes read "0 min", as if none)
    if v.is_integer() or abs(v) >= (10 if unit.startswith("minutes") else 100):
        return setting(float(round(v)))
    return significant(v, 3)


def front_levers(front: pd.DataFrame, objectives: list[str],
                 recorded: list[str] | None = None) -> list[str]:
    """The lever columns of pareto.csv: those optimise.json lists (else every column that is
    not the candidate, its flags or an objective)."""
    return [c for c in recorded or front.columns
            if c in front.columns and c not in ("trial", "feasible", "pareto", *objectives)]


def lever_units(levers: list[str], policy: object = None) -> dict[str, str]:
    """Each lever's unit (:func:`srmsim.labels.key_unit`), ``""`` for one without (a choice);
    ``policy`` (the base scenario's :class:`PolicyConfig`, if known) says a parameter's, from
    how its rules compare it (a share of sessions, a count, weeks)."""
    from srmsim.dashboard.settings import parameter_meanings
    from srmsim.policy.config import PolicyConfig

    meanings = parameter_meanings(policy) if isinstance(policy, PolicyConfig) else {}
    return {k: key_unit(k, meanings.get(k.removeprefix("policy.parameters."))) for k in levers}


def front_table(front: pd.DataFrame, objectives: list[str], levers: list[str],
                units: dict[str, str] | None = None,
                registry: dict[str, Outcome] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The Pareto front as shown: each lever's column by its short name and unit (``units``,
    :func:`lever_units`), each objective's by its label, its values in its unit (``registry``:
    :func:`search_registry`, regret's unit)."""
    shown = pd.DataFrame({"candidate": [f"trial-{int(t):05d}" for t in front["trial"]]})
    for lever, short in short_names(levers).items():
        unit = (units or {}).get(lever)
        shown[f"{short} ({unit})" if unit else short] = [lever_text(v, unit or "") for v in front[lever]]
    for name in objectives:
        o = get_outcome(name, registry)
        # empty: withheld (a search of real records, srmsim.experiment.withhold)
        shown[o.label] = [LOW if pd.isna(v) else o.format_value(float(v)) for v in front[name]]
    raw = front[objectives].rename(columns={n: get_outcome(n, registry).label
                                            for n in objectives})
    return shown, raw


def front_note(front: pd.DataFrame, objectives: list[str]) -> str:
    """Why a front's value reads low (a search of real records withholds it; "" if none)."""
    from srmsim.experiment.withhold import NOTE

    return NOTE if front[[o for o in objectives if o in front.columns]].isna().any().any() \
        else ""


#: the regret table's number columns, as shown
REGRET_COLUMNS = ("mean regret", "90th percentile", "worst")


def regret_display(reg: pd.DataFrame, withheld: bool = False,
                   registry: dict[str, Outcome] | None = None) -> pd.DataFrame:
    """regret.csv as text, each regret a size in its objective's unit (``registry``:
    :func:`search_registry`); ``withheld`` (a search of real records): an empty regret is
    withheld, shown as low."""
    return pd.DataFrame({
        "policy": reg["policy"],
        "objective": [get_outcome(o, registry).label for o in reg["objective"]],
        **{col: [LOW if withheld and pd.isna(v) else _size(get_outcome(o, registry), v)
                 for o, v in zip(reg["objective"], reg[key], strict=True)]
           for col, key in zip(REGRET_COLUMNS, ("mean_regret", "p90_regret", "max_regret"),
                               strict=True)}})


def regret_state_notes(reg: pd.DataFrame, states: int) -> list[str]:
    """The objectives whose regret compares fewer states than were re-evaluated (a policy's
    value missing in the others), in words, for the command and the report alike: the
    command's table read as if every state counted."""
    if "states" not in reg.columns:
        return []
    return [f"{get_outcome(o).label}: only the {int(used):,} of {states:,} states where every "
            "policy's value was measured are compared (in the others which policy is best is "
            "unknown)."
            for o, used in reg.groupby("objective", sort=False)["states"].min().items()
            if used < states]


def _check_front(front: pd.DataFrame, trials: pd.DataFrame, path: Path) -> None:
    """pareto.csv is the rows of trials.csv marked ``pareto`` (all feasible), as optimise
    writes them: a front candidate edited to 99.0% and 1 hour (trials.csv: 94.7%, 61 hours),
    or marked infeasible yet on the front, was reported as it read."""
    need_columns(trials, ["trial", "feasible", "pareto"], path / "trials.csv")

    def marked(table: pd.DataFrame, column: str) -> pd.Series:
        return table[column].astype(str).str.strip().str.lower().isin(["true", "1", "1.0"])

    listed = trials[marked(trials, "pareto")]
    if not marked(listed, "feasible").all():
        raise SrmsimError(f"{path / 'trials.csv'}: an infeasible candidate is marked as on the "
                          f"front; {AGAIN}")
    shared = [c for c in front.columns if c in trials.columns]
    mine = front[shared].astype(str).set_index("trial").sort_index()
    theirs = listed[shared].astype(str).set_index("trial").sort_index()
    if not (mine.index.equals(theirs.index) and all(
            _same_cells(mine[c], theirs[c]) for c in mine.columns)):
        raise SrmsimError(f"{path / 'pareto.csv'}: not the rows trials.csv marks as the front "
                          f"(a candidate, a value or a flag differs); {AGAIN}")



def _same_cells(a: pd.Series, b: pd.Series) -> bool:
    """Two columns of the same rows read from two CSV files hold the same values: as numbers
    where both read as numbers (each file's reader guesses its own type: a front whose hours
    are all whole, 591, read as "591", the same row in trials.csv beside 610.5 as "591.0"),
    else as text."""
    x, y = pd.to_numeric(a, errors="coerce"), pd.to_numeric(b, errors="coerce")
    unread = (x.isna() & (a.str.lower() != "nan")) | (y.isna() & (b.str.lower() != "nan"))
    if unread.any():  # text (a flag, a label): the text itself
        return a.equals(b)
    xv, yv = x.to_numpy(dtype=float), y.to_numpy(dtype=float)
    return bool(np.array_equal(xv, yv, equal_nan=True))

def _front_effects(path: Path, meta: dict, objectives: dict[str, str], constraints: dict
                   ) -> pd.DataFrame | None:
    """The re-evaluated front's effects, computed from its runs in ``front/`` (a checked
    experiment store), and optimise.json's best policy checked against them: the policy those
    runs choose, with the overrides ``front/`` ran it with. front_effects.csv edited to +50 pp,
    or a best policy (and a lever value no candidate had) edited into optimise.json, were shown
    as the search's. None when the folder has no ``front/``."""
    from srmsim.experiment.compare import compare_frame, load_runs_and_failures, registry_of
    from srmsim.explore.optimise import BASELINE, Bound, choose_among

    front = path / "front"
    if not (front / "manifest.json").is_file():
        return None
    runs, manifest, _ = load_runs_and_failures(front)
    # as optimise computed front_effects.csv (its rows in the runs' order)
    effects = compare_frame(runs, BASELINE, list(manifest.get("outcomes") or []),
                            registry=registry_of(manifest, front / "manifest.json"))
    from srmsim.store import names_records

    if names_records(manifest):  # a search of real records: as front_effects.csv withholds
        from srmsim.experiment.store import ResultsStore
        from srmsim.experiment.withhold import GROUP_SHARES, withhold_effects

        store = ResultsStore(front)
        scenarios = {v: store.saved_scenario(v, manifest) for v in set(runs["variant"])}
        effects = withhold_effects(effects, runs, registry_of(manifest), frozenset(
            v for v, s in scenarios.items() if s is not None and s.policy is None),
            definitions=manifest.get("outcome_definitions"),
            detail=store.load_detail("groups", runs)
            if set(GROUP_SHARES) & set(effects["outcome"]) else None)
    where = path / "optimise.json"
    best = json_text(meta, "best", where)
    if best:
        ran = (manifest.get("experiment_config") or {}).get("variants") or {}
        if json_mapping(meta, "best_overrides", where) != ran.get(best):
            raise SrmsimError(f"{where}: best_overrides are not the levers {front} ran "
                              f"{best[:40]!r} with (hand-edited or corrupt); {AGAIN}")
        target = json_text(meta, "choose", where) or next(iter(objectives), "")
        bounds = {k: Bound.model_validate(v) for k, v in constraints.items()}
        directions = set(objectives.values()) <= {"maximise", "minimise"}  # (else: older)
        chosen = choose_among(runs, objectives, bounds, target)[0] if directions else best
        if chosen != best:
            raise SrmsimError(f"{where}: best is {best[:40]!r}, but the re-evaluated runs in "
                              f"{front} choose {chosen!r} (hand-edited or corrupt); {AGAIN}")
    return effects


def reevaluated_policies(effects: pd.DataFrame, front: int, objectives: list[str],
                         registry: dict[str, Outcome] | None = None) -> str:
    """Which of the front's ``front`` policies the re-evaluation ``effects`` cover, when
    ``reevaluate.front_max`` left some out ("" when it covers them all): a front policy
    missing from the re-evaluation went unexplained."""
    evaluated = effects["variant"].nunique() if len(effects) else 0
    if evaluated >= front:
        return ""
    first = get_outcome(objectives[0], registry).label.lower() if objectives else "?"
    return (f"{evaluated} of the {front} front policies, spread along {first} "
            "(reevaluate.front_max)")


def _base_policy(path: Path) -> object:
    """The policy of the folder's base_scenario.yaml, for its parameters' units; None when the
    file is missing or no longer a valid scenario (the columns then go without those units)."""
    from srmsim.scenario import load_scenario

    try:
        return load_scenario(path / "base_scenario.yaml").policy
    except (SrmsimError, OSError):
        return None


def _withheld_front(path: Path, front: pd.DataFrame, objectives: list[str]) -> pd.DataFrame:
    """pareto.csv as a search of real records shows it, whoever wrote it: an older srmsim
    wrote each candidate's exact means (severe absence 0.0058 of 690 students), so the
    report reckons them again on the search's runs in ``search/``
    (:func:`srmsim.experiment.withhold.withhold_candidates`); without those runs every
    objective is withheld. A simulated search's front is returned as it is."""
    from srmsim.experiment.compare import load_runs_and_failures, registry_of
    from srmsim.experiment.withhold import GROUP_SHARES, withhold_candidates
    from srmsim.store import names_records

    front_manifest = path / "front" / "manifest.json"
    if not (front_manifest.is_file() and names_records(read_json(front_manifest))):
        return front
    search = path / "search"
    if not (search / "manifest.json").is_file():
        return front.assign(**{o: math.nan for o in objectives if o in front.columns})
    from srmsim.experiment.store import ResultsStore

    runs, manifest, _ = load_runs_and_failures(search)
    return withhold_candidates(
        front, [f"trial-{int(t):05d}" for t in front["trial"]], runs, objectives,
        registry_of(manifest, search / "manifest.json"),
        definitions=manifest.get("outcome_definitions"),
        detail=ResultsStore(search).load_detail("groups", runs)
        if set(GROUP_SHARES) & set(objectives) else None)


def build_optimise(path: Path) -> Page:
    """The report of an ``srmsim optimise`` folder."""
    from srmsim.experiment.compare import effect_headings, effects_display

    where = path / "optimise.json"
    meta = read_json(where)
    name = json_text(meta, "name", where, path.name)
    page = Page(f"Optimisation report: {name}", json_text(meta, "description", where))
    if not meta.get("finished") or not (path / "pareto.csv").is_file():
        page.p("The search has not finished: run `srmsim optimise FILE --resume` to complete it, "
               "then report again.")
        return page
    trials = read_csv(path / "trials.csv")
    front = read_csv(path / "pareto.csv")
    need_columns(front, ["feasible", "pareto"], path / "pareto.csv")
    need_numbers(front, ["trial"], path / "pareto.csv")
    objectives = {k: str(v) for k, v in json_mapping(meta, "objectives", where).items()}
    if not objectives:  # made by an older srmsim: objectives are the registered outcome columns
        from srmsim.experiment.outcomes import OUTCOMES

        objectives = {c: "direction not recorded" for c in front.columns if c in OUTCOMES}
    need_numbers(front, list(objectives), path / "pareto.csv")
    if front["trial"].isna().any():
        raise SrmsimError(f"{path / 'pareto.csv'}: a candidate with no trial number; {AGAIN}")
    _check_front(front, trials, path)
    front = _withheld_front(path, front, list(objectives))
    levers = front_levers(front, list(objectives), json_names(meta, "levers", where))
    constraints = json_mapping(meta, "constraints", where)
    for k, bound in constraints.items():
        if not (isinstance(bound, dict) and all(
                b in ("min", "max") and isinstance(v, int | float) and not isinstance(v, bool)
                and math.isfinite(v) for b, v in bound.items())):
            raise SrmsimError(f"{where}: constraint {k[:40]!r} is not a min or max number "
                              f"(hand-edited or corrupt); {AGAIN}")
    replications = json_count(meta, "replications", where, -1)
    base_policy = _base_policy(path)
    registry = search_registry(base_policy)  # regret in its choosers' unit
    page.h2("What was searched", "what")
    rows = [("optimisation", name), ("file", json_text(meta, "source", where, "?")),
            ("objectives", ", ".join(_objective_text(k, v, registry)
                                     for k, v in objectives.items())),
            ("levers", ", ".join(levers)),
            ("candidates run", f"{len(trials):,}" + (f", {plural(replications, 'replication')} "
                                                      "each (the same seeds for all)"
                                                      if replications >= 0 else ""))]
    sampler = json_text(meta, "sampler", where)
    if sampler:
        rows.append(("search", {"nsga2": "NSGA-II (multi-objective genetic algorithm)",
                                "tpe": "TPE (Bayesian optimisation)"}.get(sampler, sampler)))
    if constraints:
        rows.append(("constraints", ", ".join(
            f"{get_outcome(k, registry).label} "
            + " and ".join(f"{'at least' if b == 'min' else 'at most'} "
                           f"{get_outcome(k, registry).format_value(v)}"
                                                      for b, v in bound.items())
            for k, bound in constraints.items())))
    uncertain = json_names(meta, "uncertain", where)
    if uncertain:
        rows.append(("uncertain parameters", ", ".join(uncertain)))
    rows.append(("finished", json_time(meta, "finished", where)))
    page.definitions(rows)

    page.h2("The Pareto front", "front")
    page.raw(FRONT_WORDS)
    shown, raw = front_table(front, list(objectives), levers, lever_units(levers, base_policy),
                             registry)
    page.table(shown, set(raw.columns), "pareto", raw=raw)
    note = front_note(front, list(objectives))
    if note:
        page.note(esc(note[0].upper() + note[1:]))
    page.p("Levers: " + "; ".join(f"{v} = {k}" for k, v in short_names(levers).items()
                                  if k != v) + ".", "meta")
    embed_png(page, path / "pareto.png", "Every candidate's mean objectives (grey; crosses break "
              "a constraint) and the Pareto front (red).")

    effects_path = path / "front_effects.csv"
    eff = _front_effects(path, meta, objectives, constraints)
    if eff is None and effects_path.is_file():  # no front/ store (an older srmsim's folder)
        eff = read_csv(effects_path)
        need_text(eff, ["variant", "outcome", "verdict"], effects_path)
        need_numbers(eff, ["mean_baseline", "mean_variant", "difference", "ci_low", "ci_high",
                           "relative_change"], effects_path)
    if eff is not None:
        page.h2("The front re-evaluated", "reevaluated")
        n = json_count(meta, "reevaluate_replications", where)
        which = reevaluated_policies(eff, len(front), list(objectives), registry)
        page.p((f"{which[0].upper()}{which[1:]}," if which else "Each front policy")
               + " against the baseline on "
               + (f"{n} fresh replications" if n else "fresh replications")
               + ": differences paired by replication, with 95% simulation intervals (Monte-Carlo "
               "uncertainty under the model's assumptions, not a forecast). The runs are in front/, "
               "an experiment folder (`srmsim report DIR/front` gives its own report).")
        page.table(effects_display(eff, registry), {"mean_baseline", "mean_variant", "difference",
                                             "ci_low", "ci_high", "relative_change"},
                   "front_effects", "verdict",
                   raw=eff[["mean_baseline", "mean_variant", "difference", "ci_low", "ci_high"]],
                   headings=effect_headings(0.95))  # in words, as the experiment report's
        from srmsim.experiment.compare import withheld_note

        note = withheld_note(eff)  # a search of real records: why a row reads low
        if note:
            page.note(esc(note[0].upper() + note[1:]))
    regret_path = path / "regret.csv"
    if regret_path.is_file():
        reg = read_csv(regret_path)
        need_text(reg, ["policy", "objective"], regret_path)
        need_numbers(reg, ["mean_regret", "p90_regret", "max_regret"], regret_path)
        page.h3("Regret across the states of the world")
        page.p("In each state of the world (replication) a policy's regret is how far it falls "
               "short of the best re-evaluated policy there: a robust policy has small regret "
               "everywhere, not just on average.")
        from srmsim.store import names_records

        withheld = names_records(read_json(path / "front" / "manifest.json")) \
            if (path / "front" / "manifest.json").is_file() else False
        if withheld:  # reckoned again on front/'s runs: an older srmsim wrote them as they were
            from srmsim.experiment.compare import load_runs_and_failures, registry_of
            from srmsim.experiment.store import ResultsStore
            from srmsim.experiment.withhold import GROUP_SHARES, withhold_regret

            runs, manifest, _ = load_runs_and_failures(path / "front")
            reg = withhold_regret(
                reg, runs, registry_of(manifest, path / "front" / "manifest.json"),
                definitions=manifest.get("outcome_definitions"),
                detail=ResultsStore(path / "front").load_detail("groups", runs)
                if set(GROUP_SHARES) & set(reg["objective"].astype(str)) else None)
        page.table(regret_display(reg, withheld, registry), set(REGRET_COLUMNS), "regret")
        if withheld and reg[["mean_regret", "p90_regret", "max_regret"]].isna().any().any():
            from srmsim.experiment.withhold import NOTE

            page.note(esc(NOTE[0].upper() + NOTE[1:]))
        states = meta.get("reevaluate_replications")
        if "states" in reg.columns and whole(states):
            need_numbers(reg, ["states"], regret_path)
            for note in regret_state_notes(reg, states):
                page.p(note)

    page.h2("The best policy", "best")
    best = json_text(meta, "best", where)
    if best:
        target = json_text(meta, "choose", where) or next(iter(objectives), "")
        page.p(f"{best}: the best {get_outcome(target, registry).label.lower()} among the "
               "re-evaluated "
               "front policies" + ("." if not constraints else
                                   " that met every constraint again."
                                   if meta.get("feasible_on_reevaluation", True) else
                                   " (none met every constraint again on re-evaluation)."))
        chosen = json_mapping(meta, "best_overrides", where)
        units = lever_units(list(chosen), base_policy)
        page.definitions([(k, lever_text(v, units[k]) + (f" ({units[k]})" if units[k] else ""))
                          for k, v in chosen.items()])
    page.p("best_policy.yaml is that policy as a runnable scenario: `srmsim run "
           "best_policy.yaml`. Files: trials.csv (every candidate), pareto.csv (the front), "
           "front_effects.csv (the re-evaluation), front/ (its runs).", "meta")
    return page
