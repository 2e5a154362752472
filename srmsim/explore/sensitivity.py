"""Global sensitivity: which uncertain assumptions drive each outcome and each policy effect.

From an experiment run with ``design: {method: sobol, ...}`` this estimates, per outcome and per
variant (or per paired difference from the baseline), first-order Sobol indices S1 (the share of
the outcome's variance due to one parameter alone) and total indices ST (its share including every
interaction), with bootstrap confidence intervals (Sobol 2001; Saltelli et al. 2010, as SALib
implements them). With ``design: {method: morris, ...}`` it gives Morris's (1991) mu* (mean
absolute elementary effect, in outcome units per the parameter's full range) and sigma (their
spread: non-linearity or interaction), as refined by Campolongo et al. (2007).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from srmsim.errors import DataError, SrmsimError
from srmsim.explore import require
from srmsim.explore.design import problem
from srmsim.explore.tables import Explored
from srmsim.labels import agree, percent_level, plural, rounded
from srmsim.stats import _checks as ck

#: ``level``: the confidence level of the intervals (``--level``), which a report names
COLUMNS = ["target", "variant", "outcome", "parameter", "method", "S1", "S1_conf", "ST",
           "ST_conf", "mu_star", "mu_star_conf", "mu", "sigma", "level"]
#: second-order Sobol indices (a design with ``second_order: true``), one row per pair of
#: parameters, in :data:`PAIRS_FILE`
PAIR_COLUMNS = ["target", "variant", "outcome", "parameter", "other", "S2", "S2_conf", "level"]
PAIRS_FILE = "sensitivity_second_order.csv"


def _outcome_values(parameters: np.ndarray, y: object, d: int) -> np.ndarray:
    """One finite number per design point, and as many as there are points: SALib met a short
    ``y`` with a RuntimeError about "the model output file". A value beyond +-1e150 is refused
    as an infinite one is (as ``compare`` does): its square overflowed the variance, and a
    stored 1e308 gave every parameter S1 and ST of 0."""
    points = np.asarray(parameters)
    values = np.asarray(y, dtype=float)
    if points.ndim != 2 or points.shape[1] != d or values.shape != (len(points),):
        raise SrmsimError(f"{plural(len(points), 'design point')} of {plural(d, 'parameter')} "
                          f"are needed, one outcome value each; got parameters of shape "
                          f"{points.shape} and {plural(values.size, 'outcome value')}")
    bad = np.flatnonzero(~(np.abs(values) <= ck.LARGEST_VALUE))  # NaN compares False
    if bad.size:
        first = ", ".join(str(i) for i in bad[:5]) + (", ..." if bad.size > 5 else "")
        raise SrmsimError(f"{plural(bad.size, 'design point')} {agree(bad.size, 'has', 'have')} "
                          f"no finite value within +-{ck.LARGEST_VALUE:g} "
                          f"({agree(bad.size, 'design point')} {first}: in an "
                          f"experiment, the {agree(bad.size, 'replication')} of that number); a "
                          "missing, infinite or overflowing outcome leaves nothing to apportion")
    return values


def _check_design(points: np.ndarray, method: str, d: int, second_order: bool) -> None:
    """The points are the design's, in its order: SALib reads Morris's trajectories and Saltelli's
    blocks by position alone, so other points (or the design's rows reordered) gave indices
    without meaning, silently, and a count off the trajectory length a numpy reshape error."""
    per = (d + 1) if method == "morris" else d * (2 if second_order else 1) + 2
    if len(points) % per:
        raise SrmsimError(f"a {method} design of {plural(d, 'parameter')} has a multiple of "
                          f"{per} points, not {len(points)}")
    blocks = points.reshape(-1, per, d)
    if method == "morris":  # each step of a trajectory moves exactly one parameter
        moved = (np.diff(blocks, axis=1) != 0).sum(axis=2)
        bad = np.argwhere(moved != 1)
    else:  # A, AB_j (A with B's column j), [BA_j (B with A's column j)], B
        a, b = blocks[:, 0], blocks[:, -1]
        eye = np.eye(d, dtype=bool)
        ab = np.where(eye, b[:, None, :], a[:, None, :])
        ok = (blocks[:, 1:d + 1] == ab).all(axis=2)
        if second_order:
            ba = np.where(eye, a[:, None, :], b[:, None, :])
            ok = np.hstack([ok, (blocks[:, d + 1:2 * d + 1] == ba).all(axis=2)])
        bad = np.argwhere(~ok)
    if bad.size:
        row = int(bad[0][0]) * per + int(bad[0][1]) + 1
        raise SrmsimError(f"the parameters are not the points of a {method} design in its "
                          f"order (design point {row} does not follow from the ones before it); give "
                          "the design's rows as it drew them")


def _constant(y: np.ndarray) -> bool:
    """Constant to rounding (srmsim's test for every outcome, :func:`require_variation`)."""
    try:
        ck.require_variation(y, "outcome")
    except DataError:
        return True
    return False


def indices(parameters: np.ndarray, y: np.ndarray, uncertain: dict[str, tuple[float, float]],
            design: dict, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Sobol or Morris indices of one outcome ``y`` (one value per design point, in design order).

    ``parameters`` holds the design's points (rows) with columns in sorted parameter order.
    With a Sobol design of ``second_order: true``, the second-order indices S2 (the share of
    the variance due to two parameters together, beyond each alone) are in
    ``attrs["pairs"]``: one row per pair (``parameter``, ``other``), with ``S2_conf``; the
    design's extra points are run for them.
    """
    method = design.get("method", "lhs")
    prob = problem(uncertain)
    level = ck.finite_number(level, "level")
    if not 0 < level < 1:
        raise SrmsimError(f"level={level!r} must lie strictly between 0 and 1 (e.g. 0.95)")
    seed = ck.whole_number(seed, "seed", 0, 2**32 - 1)
    y = _outcome_values(parameters, y, prob["num_vars"])
    if method not in ("sobol", "morris"):
        raise SrmsimError("sensitivity indices need a sobol or morris design "
                          "(design: {method: sobol, n: 64} in the experiment file)")
    # SALib: "Incorrect number of samples in model output file", a reshape error, or silence
    _check_design(np.asarray(parameters, dtype=float), method, prob["num_vars"],
                  bool(design.get("second_order")))
    rows = [{"parameter": name, "method": method} for name in prob["names"]]
    names = prob["names"]
    pairs = [{"parameter": names[i], "other": names[j]}
             for i in range(len(names)) for j in range(i + 1, len(names))] \
        if method == "sobol" and design.get("second_order") else []
    if _constant(y):  # no variance to apportion: round-off left indices of pure noise
        return _with_pairs(pd.DataFrame(rows), pairs)
    if method == "sobol":
        # Saltelli's estimators divide by the variance of the base points (each block's first
        # and last rows): where only the mixed rows vary, SALib gave every index as 0 (a
        # parameter that "hardly matters") with a warning, of an outcome the parameters drive
        blocks = y.reshape(len(rows) * (2 if design.get("second_order") else 1) + 2, -1,
                           order="F")
        if _constant(np.r_[blocks[0], blocks[-1]]):
            raise SrmsimError(f"the outcome varies across the design but not among its "
                              f"{plural(2 * blocks.shape[1], 'base point')} (the first and "
                              "last of each block of the Sobol design), whose variance the "
                              "indices are shares of: too few points to apportion it; raise "
                              "the design's n")
        sobol = require("SALib.analyze.sobol")
        # a Generator, not the int: SALib's Sobol analysis falls back to numpy's global random
        # state when the seed is falsy, so seed 0 gave intervals that changed from call to call
        # (default_rng of a Generator is that Generator: other seeds give the bits they gave)
        res = sobol.analyze(prob, y, calc_second_order=bool(design.get("second_order")),
                            conf_level=level, seed=np.random.default_rng(seed))
        for i, row in enumerate(rows):
            row.update(S1=res["S1"][i], S1_conf=res["S1_conf"][i], ST=res["ST"][i],
                       ST_conf=res["ST_conf"][i])
        for pair in pairs:
            i, j = names.index(pair["parameter"]), names.index(pair["other"])
            pair.update(S2=res["S2"][i, j], S2_conf=res["S2_conf"][i, j])
    else:
        morris = require("SALib.analyze.morris")
        res = morris.analyze(prob, np.asarray(parameters, dtype=float), y, conf_level=level,
                             num_levels=int(design.get("levels", 4)), seed=seed)
        for i, row in enumerate(rows):
            row.update(mu_star=res["mu_star"][i], mu_star_conf=res["mu_star_conf"][i],
                       mu=res["mu"][i], sigma=res["sigma"][i])
    return _with_pairs(pd.DataFrame(rows), pairs)


def _with_pairs(frame: pd.DataFrame, pairs: list[dict]) -> pd.DataFrame:
    """``frame`` with the second-order indices in ``attrs["pairs"]`` (none but for a Sobol
    design of ``second_order: true``): one return for the indices of one outcome."""
    frame.attrs["pairs"] = pd.DataFrame(pairs, columns=["parameter", "other", "S2", "S2_conf"])
    return frame


def sensitivity(results: str | Path, outcomes: list[str] | None = None,
                variants: list[str] | None = None, differences: bool = True,
                level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Sobol or Morris indices of every outcome, per variant and per paired difference.

    ``target`` is the variant's name for its own outcome, ``"<variant> - <baseline>"`` for its
    paired effect (``differences=False`` leaves those out). An outcome a target has no value
    of in any run (not measured there) is left out, named in ``attrs["not_measured"]`` as
    ``(target, outcome)`` pairs. With a Sobol design of
    ``second_order: true`` the second-order indices are in ``attrs["pairs"]``
    (:data:`PAIR_COLUMNS`).
    """
    ex = Explored(results)
    if ex.design.get("method") not in ("sobol", "morris"):
        raise SrmsimError(f"{ex.path}: sensitivity indices need a sobol or morris design; this "
                          f"experiment drew its parameters by {ex.design.get('method')} "
                          "(set design: {method: sobol, n: 64} in the experiment file)")
    # each once: an outcome or variant named twice gave duplicate rows, which the figure met
    # with a traceback ("cannot reindex on an axis with duplicate labels")
    outcomes = list(dict.fromkeys(outcomes or ex.outcomes))
    unknown = [o for o in outcomes if o not in ex.outcomes]
    if unknown:
        raise SrmsimError(f"{ex.path}: {agree(len(unknown), 'outcome')} {unknown} "
                          f"{agree(len(unknown), 'was', 'were')} not measured "
                          f"(measured: {', '.join(ex.outcomes)})")
    chosen = list(dict.fromkeys(variants or ex.variants))
    frames, pair_frames = [], []
    unmeasured: list[tuple[str, str]] = []
    for variant in chosen:
        ex.variant(variant)  # validates the name
        table = ex.outcome_table(variant)
        missing = sorted(set(ex.parameters.index) - set(ex.complete_replications(variant)))
        if missing:
            raise SrmsimError(f"{ex.path}: variant {variant} lacks "
                              f"{plural(len(missing), 'design point')} "
                              f"(replications {missing[:5]}...); finish them with --resume first")
        x = ex.parameters.loc[table.index, ex.names].to_numpy()
        kinds = [("", variant)]
        if differences and variant != ex.baseline:
            kinds.append(("_diff", f"{variant} - {ex.baseline}"))
        for suffix, target in kinds:
            for outcome in outcomes:
                values = table[outcome + suffix].to_numpy(dtype=float)
                if np.isnan(values).all():  # not measured in this variant (no one waits
                    # where there is no policy): the whole analysis was refused for it
                    unmeasured.append((target, outcome))
                    continue
                try:
                    frame = indices(x, values, ex.bounds, ex.design, level, seed)
                except SrmsimError as err:
                    raise SrmsimError(f"{ex.path}: {target}, {outcome}: {err}") from None
                pairs = frame.attrs.pop("pairs")
                for part in (frame, pairs):
                    part.insert(0, "outcome", outcome)
                    part.insert(0, "variant", variant)
                    part.insert(0, "target", target)
                    part["level"] = level
                frames.append(frame)
                pair_frames.append(pairs)
    if not frames:
        raise SrmsimError(f"{ex.path}: {', '.join(outcomes)} {agree(len(outcomes), 'was', 'were')}"
                          f" not measured in any run of {', '.join(chosen)}: nothing to "
                          "apportion")
    table = pd.DataFrame(pd.concat(frames, ignore_index=True), columns=COLUMNS)
    if ex.design.get("method") == "sobol" and ex.design.get("second_order"):
        table.attrs["pairs"] = pd.DataFrame(pd.concat(pair_frames, ignore_index=True),
                                            columns=PAIR_COLUMNS)
    table.attrs["not_measured"] = unmeasured
    return table


#: sensitivity.png draws at most this many outcomes (columns), targets (rows) and parameters
#: (bars of a panel): 112 outcomes of 3 variants made 560 panels, some 30 s of CPU in
#: `srmsim sensitivity` and again in every report refresh; sensitivity.csv keeps every index
MAX_PLOT_OUTCOMES = 6
MAX_PLOT_TARGETS = 8
MAX_PLOT_PARAMETERS = 40


def sensitivity_plot(table: pd.DataFrame, path: str | Path | None = None):
    """Sobol: S1 and ST with intervals per parameter; Morris: mu* against sigma. One panel per
    target (rows) and outcome (columns); a long table is summarised by its first targets,
    outcomes and parameters (:data:`MAX_PLOT_OUTCOMES` ...), with a note saying so."""
    from srmsim.figures import new_figure, save

    every = {what: list(dict.fromkeys(table[column])) for what, column in
             (("outcome", "outcome"), ("policy or difference", "target"),
              ("parameter", "parameter"))}
    outcomes = every["outcome"][:MAX_PLOT_OUTCOMES]
    targets = every["policy or difference"][:MAX_PLOT_TARGETS]
    params = every["parameter"][:MAX_PLOT_PARAMETERS]
    left_out = [f"the first {len(kept)} of {plural(len(every[what]), what, many)}"
                for what, many, kept in (("outcome", None, outcomes),
                                         ("policy or difference", "policies or differences",
                                          targets), ("parameter", None, params))
                if len(kept) < len(every[what])]
    if left_out:
        table = table[table["outcome"].isin(outcomes) & table["target"].isin(targets)
                      & table["parameter"].isin(params)]
    morris = (table["method"] == "morris").any()
    fig, axes = new_figure(3.2 * len(outcomes) + 1.5, (2.6 if morris else 0.6 + 0.35 * len(params))
                           * len(targets), nrows=len(targets), ncols=len(outcomes), squeeze=False)
    for i, target in enumerate(targets):
        for j, outcome in enumerate(outcomes):
            ax = axes[i, j]
            t = table[(table["target"] == target) & (table["outcome"] == outcome)]
            t = t.set_index("parameter").reindex(params)
            if morris:
                ax.errorbar(t["mu_star"], t["sigma"], xerr=t["mu_star_conf"], fmt="o", capsize=2)
                for name, r in t.iterrows():
                    ax.annotate(name.split(".")[-1], (r["mu_star"], r["sigma"]), fontsize=7)
                ax.set_xlabel("mu* (per full range)", fontsize=8)
                ax.set_ylabel("sigma", fontsize=8)
            else:
                y = np.arange(len(params))[::-1]
                ax.barh(y + 0.18, t["S1"], 0.36, xerr=t["S1_conf"], label="first-order S1",
                        color="tab:blue", capsize=2)
                ax.barh(y - 0.18, t["ST"], 0.36, xerr=t["ST_conf"], label="total ST",
                        color="tab:orange", capsize=2)
                ax.set_yticks(y, [p.split(".", 1)[-1] if j == 0 else "" for p in params])
                ax.axvline(0, color="grey", lw=0.6)
                ax.set_xlim(min(-0.05, float(np.nanmin(t[["S1", "ST"]].to_numpy(), initial=0))),
                            1.05)
                if i == 0 and j == len(outcomes) - 1:
                    ax.legend(fontsize=7, loc="lower right")
            ax.set_title(f"{outcome}\n{target}", fontsize=8, loc="left")
            ax.tick_params(labelsize=7)
    if left_out:
        fig.text(0.5, 0.002, f"showing {' and '.join(left_out)}: every index is in "
                 "sensitivity.csv", ha="center", va="bottom", fontsize=7, color="dimgrey")
        fig.tight_layout(rect=(0, min(0.3, 0.25 / fig.get_size_inches()[1]), 1, 1))
    else:
        fig.tight_layout()
    save(fig, path)
    return fig


#: the printed table's headings, in words (sensitivity.csv keeps the short names), ``{level}``
#: the intervals' level: a half-width column is headed by its index and what it is (they read
#: "S1 +/-", "mu* +/-", with no unit or meaning)
SOBOL_HEADINGS = {"S1": "first-order share of variance (S1)",
                  "S1_conf": "S1's {level} CI half-width",
                  "ST": "total share incl. interactions (ST)",
                  "ST_conf": "ST's {level} CI half-width"}
MORRIS_HEADINGS = {"mu_star": "mean absolute effect (mu*)",
                   "mu_star_conf": "mu*'s {level} CI half-width",
                   "sigma": "spread of effects (sigma)"}
SOBOL_MEANING = (
    "Sobol indices: the share (0 to 1) of an outcome's variance across the uncertain "
    "parameters that one parameter accounts for. S1 counts it alone; ST also counts its "
    "interactions with the others, so ST - S1 is what it adds only together with them. A "
    "parameter with ST near 0 hardly matters within its range.")
MORRIS_MEANING = (
    "Morris screening: mu* is the mean absolute change in the outcome (in its unit) when the "
    "parameter moves across its full range, its overall influence; sigma is the spread of "
    "those changes: a sigma as large as mu* means the effect depends on the other parameters "
    "or is not a straight line.")
ROWS_MEANING = ("Rows whose policy is 'variant - baseline' are about the policy's effect. A "
                "'{level} CI half-width' is half the width of the {level} confidence interval "
                "of the index it names, in that index's unit ({unit}): the index is its "
                "estimate give or take that much.")
#: the unit of each method's indices and their half-widths, as ROWS_MEANING says it
INDEX_UNITS = {"sobol": "a share of the variance, 0 to 1", "morris": "the outcome's unit"}


PAIRS_MEANING = (
    "Second-order Sobol indices (the design has second_order: true): S2 is the share of the "
    "variance that two parameters account for together, beyond what each does alone (their "
    "interaction); S2's {level} CI half-width is half the width of its {level} confidence "
    "interval (a share of the variance, as S2). Estimates near 0 "
    "whose interval spans 0 show no interaction the design could detect.")


def format_pairs(pairs: pd.DataFrame) -> str:
    """The second-order indices (:data:`PAIRS_FILE`) for a reader: headings in words."""
    import textwrap

    levels = pairs["level"].dropna().unique()
    level = percent_level(float(levels[0])) if len(levels) == 1 else "95%"
    shown = pairs.dropna(subset=["S2"])
    words = textwrap.fill(PAIRS_MEANING.format(level=level), width=100,
                          break_on_hyphens=False)
    if not len(shown):
        return words + "\n\n(no outcome varied)"
    out = shown[["target", "outcome", "parameter", "other", "S2", "S2_conf"]].rename(
        columns={"other": "with", "S2": "joint share beyond each alone (S2)",
                 "S2_conf": f"S2's {level} CI half-width"})
    return words + "\n\n" + out.to_string(index=False,
                                            float_format=lambda v: rounded(v, ".3g"))


def format_sensitivity(table: pd.DataFrame, registry: dict[str, Any] | None = None) -> str:
    """The indices table for a reader who has not met Sobol or Morris: headings in words and a
    few lines on what the numbers mean (the report's page says the same at more length).
    ``registry``: the experiment's outcomes, so that Morris's mu* and sigma read in each
    outcome's unit (``1.97 pp``, not ``0.0197``), as the report shows them."""
    import textwrap

    from srmsim.experiment.outcomes import get_outcome

    morris = (table["method"] == "morris").any()
    levels = table["level"].dropna().unique() if "level" in table else []
    level = percent_level(float(levels[0])) if len(levels) == 1 else "95%"
    headings = {k: v.format(level=level)
                for k, v in (MORRIS_HEADINGS if morris else SOBOL_HEADINGS).items()}
    # an outcome that did not vary has no indices: it printed as rows of NaN, unexplained
    constant = table[list(headings)].isna().all(axis=1)
    # outcomes by their labels, as the report and the experiment's table name them (the
    # column printed attendance and persistent_absence, field names, under "target")
    def label(name: str) -> str:
        return get_outcome(name, registry).label

    flat = list(dict.fromkeys(f"{t}: {label(o)}" for t, o in zip(
        table.loc[constant, "target"], table.loc[constant, "outcome"], strict=True)))
    out = table.loc[~constant, ["target", "outcome", "parameter", *headings]]
    if morris and registry is not None:
        outcomes = [get_outcome(o, registry) for o in out["outcome"]]
        out = out.astype({c: object for c in headings})
        for column in headings:
            out[column] = [o.format_difference(v).lstrip("+\u00b1") if np.isfinite(v) else "-"
                           for o, v in zip(outcomes, table.loc[~constant, column],
                                           strict=True)]
    out = out.assign(outcome=[label(o) for o in out["outcome"]]).rename(
        columns={**headings, "target": "policy (or effect)"})
    words = textwrap.fill((MORRIS_MEANING if morris else SOBOL_MEANING) + " "
                          + ROWS_MEANING.format(level=level, unit=INDEX_UNITS[
                              "morris" if morris else "sobol"]), width=100,
                          break_on_hyphens=False)
    text = words + "\n\n" + (out.to_string(index=False, float_format=lambda v: rounded(v, ".3g"))
                             if len(out) else "(no outcome varied)")
    if flat:
        text += "\n" + textwrap.fill(
            "No indices (blank in sensitivity.csv) for what did not vary with the uncertain "
            "parameters, which leaves no variance to apportion: " + "; ".join(flat) + ".",
            width=100)
    if not morris:  # a share above 1 or below 0 beside a heading that says 0 to 1
        strays = out.loc[(table.loc[~constant, ["S1", "ST"]].lt(0)
                          | table.loc[~constant, ["S1", "ST"]].gt(1)).any(axis=1).to_numpy()]
        if len(strays):
            text += "\n" + textwrap.fill(
                f"{plural(len(strays), 'row')} above 1 or below 0: estimates from this many "
                "design points stray outside the 0 to 1 the indices lie in (their CI "
                "half-widths say by how much they may be off); a design with a larger n "
                "narrows them.", width=100)
    return text
