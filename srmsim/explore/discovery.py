"""Scenario discovery: in which states of the world does a condition on the outcomes hold?

The condition is a rule over one variant's outcomes in each replication, written in srmsim's rule
language (parsed, never eval'd): ``x`` is the variant's outcome, ``x_diff`` its paired difference
from the baseline and ``x_baseline`` the baseline's, e.g. ``attendance_diff < 0.002`` ("the
policy gains less than 0.2 points of attendance") or ``cost_diff / (-persistent_absence_diff) >
5000``. PRIM (:mod:`srmsim.explore.prim`) then finds the box of uncertain parameters where the
condition mostly holds; a classification tree (CART, Breiman et al. 1984) is a second view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from srmsim.errors import DataError, SrmsimError
from srmsim.explore import require
from srmsim.explore.prim import PrimResult, check_bounds, check_runs, prim
from srmsim.explore.tables import Explored
from srmsim.labels import agree, key_unit, percent_of_runs, plural
from srmsim.outputs import json_dumps
from srmsim.policy.rules import ArrayContext, FieldSpec, Vocabulary, nonfinite_rows, parse_rule
from srmsim.stats import _checks as ck

MAX_CONDITION_LENGTH = 500
#: deepest classification tree: 2**12 leaves is already more boxes than anyone reads
MAX_CART_DEPTH = 12
#: what ``srmsim discover`` writes, in the order it lists them
DISCOVERY_FILES = ("prim_trajectory.csv", "prim_box.csv", "cart_leaves.csv", "prim_trajectory.png",
                   "discovery.txt", "discovery.json")


@dataclass
class Discovery:
    """What :func:`discover` found: the cases, PRIM's trajectory and box, and CART's leaves."""

    condition: str
    variant: str
    parameters: pd.DataFrame  # one row per replication
    cases: np.ndarray
    prim: PrimResult
    box_index: int
    cart: pd.DataFrame
    #: PRIM's options (peel_alpha, paste_alpha, mass_min), kept in discovery.json so a report
    #: can find the same box again from the runs
    options: dict = field(default_factory=dict)

    @property
    def box(self) -> pd.DataFrame:
        return self.prim.box(self.box_index)

    @property
    def stats(self) -> pd.Series:
        return self.prim.trajectory.iloc[self.box_index]

    def summary(self) -> str:
        s = self.stats
        lines = [f"condition {self.condition!r} ({self.variant}) holds in {int(self.cases.sum()):,} "
                 f"of {plural(len(self.cases), 'run')} ({percent_of_runs(self.cases.mean())})",
                 f"PRIM box {self.box_index}: coverage {percent_of_runs(s['coverage'])}, density "
                 f"{percent_of_runs(s['density'])}, mass {percent_of_runs(s['mass'])} "
                 f"({plural(s['runs'], 'run')}), "
                 f"{plural(s['res_dim'], 'restricted parameter')}"]
        box = self.box
        if box.empty:
            lines.append("  no parameter restricted: the condition is not confined to a region")
        for _, r in box.iterrows():
            # rounded by the parameter's unit, which is named: -0.5029 of an effect said
            # neither what it was in nor more than -0.503 would
            from srmsim.report.explore import lever_text  # (lazily: the report package is heavy)

            unit = key_unit(r["parameter"])
            f = partial(lever_text, unit=unit)
            lines.append(f"  {r['parameter']}: {f(r['low'])} .. {f(r['high'])}"
                         f"{f' {unit}' if unit else ''} (of {f(r['range_low'])} .. "
                         f"{f(r['range_high'])}; quasi-p {r['quasi_p']:.2g})")
        lines.append("  (coverage: the share of the runs where the condition holds that the box "
                     "holds; density: the share of the box's runs where it holds; mass: the "
                     "box's share of all runs; quasi-p: the chance of a restriction as tight by "
                     "luck alone, small = the parameter matters)")
        return "\n".join(lines)


def condition_cases(table: pd.DataFrame, condition: str) -> np.ndarray:
    """True for each row (replication) where the condition holds; parsed, never eval'd."""
    if not isinstance(condition, str) or not condition.strip():
        raise SrmsimError("the condition is empty")
    if len(condition) > MAX_CONDITION_LENGTH:
        raise SrmsimError(f"the condition is longer than {MAX_CONDITION_LENGTH} characters")
    vocab = Vocabulary(fields={c: FieldSpec("number", "outcome") for c in table.columns})
    rule = parse_rule("condition", condition, vocab)
    if rule.kind != "bool":  # pragma: no cover - parse_rule checks
        raise SrmsimError("the condition must be true or false, e.g. attendance_diff < 0.002")
    if not rule.fields:  # 'true' or '1 < 2' was reported "not confined to a region"
        raise SrmsimError(f"the condition {condition.strip()[:60]!r} reads no outcome, so it "
                          "holds in every run or in none whatever the runs did; compare an "
                          "outcome, e.g. attendance_diff < 0.002")
    for name in sorted(rule.fields):
        _require_values(table, name)
    ctx = ArrayContext({c: table[c].to_numpy(dtype=float) for c in table.columns})
    bad = nonfinite_rows(rule, ctx, len(table))
    if bad.any():  # x / -0.0 is -inf and 0 / 0 NaN: the comparison, not the data, decided
        n = int(bad.sum())
        reps = ", ".join(str(r) for r in table.index[bad][:5]) + (", ..." if n > 5 else "")
        raise DataError(f"the condition divides by zero or overflows in "
                        f"{plural(n, 'replication')} ({agree(n, 'replication')} {reps}): it "
                        "cannot be judged there; write it without the division (e.g. "
                        "cost_diff > 2000 * gain instead of cost_diff / gain > 2000)")
    return rule.evaluate(ctx, size=len(table))


def _require_values(table: pd.DataFrame, name: str) -> None:
    """A missing (NaN) or infinite outcome the condition reads is refused, naming the
    replications: NaN < 0.002 is false, so such runs were counted as not meeting the condition
    (and as meeting ``not (...)``) without a word."""
    values = table[name].to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        n = int(bad.sum())
        reps = ", ".join(str(r) for r in table.index[bad][:5]) + (", ..." if n > 5 else "")
        raise DataError(f"outcome {name!r} is missing or infinite in {plural(n, 'replication')} "
                        f"({agree(n, 'replication')} {reps}): the condition cannot be judged "
                        "there; leave that outcome out of it")


def cart_leaves(x: pd.DataFrame, y: np.ndarray, bounds: dict[str, tuple[float, float]],
                max_depth: int = 3, mass_min: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """The leaves of a classification tree: each leaf's box, coverage and density.

    ``x`` holds one row of finite parameter values per run, ``y`` whether the condition holds in
    each (booleans or 0/1), ``bounds`` each column's range (low < high, finite); a leaf holds at
    least ``mass_min`` (in (0, 1)) of the runs; ``max_depth`` is 1 to :data:`MAX_CART_DEPTH`.
    """
    x, y = check_runs(x, y, "cart_leaves")
    check_bounds(x, bounds, "cart_leaves")
    max_depth = ck.whole_number(max_depth, "cart_leaves: max_depth", 1, MAX_CART_DEPTH,
                                " (a deeper tree's leaves are too small to read as boxes)")
    mass_min = ck.finite_number(mass_min, "cart_leaves: mass_min")
    if not 0 < mass_min < 1:
        raise SrmsimError(f"cart_leaves: mass_min={mass_min!r} must lie strictly between 0 and "
                          "1 (the smallest share of the runs a leaf holds)")
    seed = ck.whole_number(seed, "cart_leaves: seed", 0, 2**32 - 1)
    tree_mod = require("sklearn.tree")
    # the fewest runs k with k / n >= mass_min, PRIM's test: ceil(0.07 * 100) is 8, as
    # 0.07 * 100 is 7.000000000000001 in floating point, though 7 / 100 is 0.07
    leaf = max(1, int(np.ceil(mass_min * len(y))))
    if leaf > 1 and (leaf - 1) / len(y) >= mass_min:
        leaf -= 1
    tree = tree_mod.DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=leaf,
                                           random_state=seed).fit(x.to_numpy(), y)
    t = tree.tree_
    rows = []
    from srmsim.report.explore import lever_text  # (lazily: the report package is heavy)

    def f(value: float, key: str) -> str:
        """A cut rounded by its parameter's unit (``-0.435``, as the PRIM box prints it)."""
        return lever_text(value, key_unit(key))

    def walk(node: int, lim: dict[str, list[float]]) -> None:
        if t.children_left[node] == -1:
            members = tree.apply(x.to_numpy()) == node
            cases = int(y[members].sum())
            rule = " and ".join(
                f"{f(lo, k)} <= {k} <= {f(hi, k)}" if lo > bounds[k][0] and hi < bounds[k][1]
                else (f"{k} >= {f(lo, k)}" if lo > bounds[k][0] else f"{k} <= {f(hi, k)}")
                for k, (lo, hi) in lim.items() if lo > bounds[k][0] or hi < bounds[k][1])
            rows.append({"leaf": node, "box": rule or "(everywhere)", "runs": int(members.sum()),
                         "cases": cases, "coverage": cases / max(int(y.sum()), 1),
                         "density": cases / max(int(members.sum()), 1)})
            return
        name, cut = x.columns[t.feature[node]], float(t.threshold[node])
        left = {k: list(v) for k, v in lim.items()}
        left[name][1] = min(left[name][1], cut)
        right = {k: list(v) for k, v in lim.items()}
        right[name][0] = max(right[name][0], cut)
        walk(int(t.children_left[node]), left)
        walk(int(t.children_right[node]), right)

    walk(0, {k: [float(bounds[k][0]), float(bounds[k][1])] for k in x.columns})
    return pd.DataFrame(rows).sort_values("density", ascending=False, kind="stable"
                                          ).reset_index(drop=True)


def _refuse_differences_of_the_baseline(ex: Explored, variant: str, condition: str) -> None:
    """The baseline's table has no ``_diff`` or ``_baseline`` columns (differences are of a
    variant from the baseline): a condition on one, with ``--variant`` the baseline, was told
    "unknown name" as if misspelt. Says so, naming the variants that have them."""
    import re

    from srmsim.experiment.outcomes import DERIVED_SUFFIXES

    derived = {o + suffix for o in ex.outcomes for suffix in DERIVED_SUFFIXES}
    used = [n for n in dict.fromkeys(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", condition))
            if n in derived]
    if not used:
        return
    others = [v for v in ex.variants if v != variant]
    which = (f"give --variant one of {', '.join(others)}" if others
             else "the experiment has no other variant")
    raise SrmsimError(f"--condition: {used[0]}: {variant} is the baseline, which has no _diff "
                      "or _baseline columns (they compare a variant with the baseline: its "
                      "difference from it, the baseline's value)\n"
                      f"{which}, or write the condition on the baseline's own outcomes "
                      f"({', '.join(ex.outcomes)})")


def discover(results: str | Path, condition: str, variant: str | None = None,
             peel_alpha: float = 0.05, paste_alpha: float = 0.05, mass_min: float = 0.05,
             box: int | None = None, min_density: float | None = None) -> Discovery:
    """Find where ``condition`` holds among the states of the world of an experiment.

    ``box``: which box of the peeling trajectory to report (default: the last, the densest);
    ``min_density``: instead, the box of highest coverage whose density reaches this.
    """
    if box is not None and min_density is not None:
        # min_density picks a box of its own: box was silently ignored (--box 2 reported box 9)
        raise SrmsimError(f"box={box!r} and min_density={min_density!r}: give one, not both "
                          "(min_density chooses the box itself)")
    ex = Explored(results)
    variant = ex.variant(variant)
    table = ex.outcome_table(variant)
    table = table.loc[ex.complete_replications(variant)]
    try:
        cases = condition_cases(table, condition)
    except DataError as err:  # the runs, not the condition
        raise DataError(f"{ex.path}: variant {variant}: {err}") from None
    except SrmsimError as err:
        if variant == ex.baseline:
            _refuse_differences_of_the_baseline(ex, variant, condition)
        names = ", ".join(table.columns)
        raise SrmsimError(f"--condition: {err} (names you can use: {names})") from None
    x = ex.parameters.loc[table.index, ex.names]
    try:
        found = prim(x, cases, peel_alpha, paste_alpha, mass_min, bounds=ex.bounds)
    except DataError as err:  # the results folder's parameters, not an option
        raise DataError(f"{ex.path}: {err}") from None
    traj = found.trajectory
    if box is not None:  # True was box 1, 2.5 a TypeError from a list index
        box = ck.whole_number(box, "box", 0, len(traj) - 1,
                              f" (the peeling trajectory has boxes 0 to {len(traj) - 1})")
    if min_density is not None:
        # nan: "no box reaches density nan"; 0 or less: every box does
        min_density = ck.finite_number(min_density, "min_density")
        if not 0 < min_density <= 1:
            raise SrmsimError(f"min_density={min_density!r} must be a share of the box's runs, "
                              "above 0 and at most 1")
        ok = traj[traj["density"] >= min_density]
        if ok.empty:
            raise SrmsimError(f"no box reaches density {min_density} (highest "
                              f"{traj['density'].max():.2f})")
        box = int(ok.sort_values(["coverage", "density"], ascending=False).iloc[0]["box"])
    index = len(traj) - 1 if box is None else box
    found.box(index)  # validates the index
    cart = cart_leaves(x, cases, ex.bounds, mass_min=mass_min)
    return Discovery(condition, variant, x, cases, found, index, cart,
                     {"peel_alpha": float(peel_alpha), "paste_alpha": float(paste_alpha),
                      "mass_min": float(mass_min)})


def trajectory_plot(found: Discovery, path: str | Path | None = None):
    """Coverage against density along the peeling trajectory; colour = restricted parameters."""
    from srmsim.figures import fitted_title, new_figure, save

    traj = found.prim.trajectory
    fig, ax = new_figure(5.6, 4.2)
    points = ax.scatter(traj["coverage"], traj["density"], c=traj["res_dim"], cmap="viridis",
                        s=18, zorder=3)
    ax.plot(traj["coverage"], traj["density"], color="grey", lw=0.6, zorder=2)
    s = found.stats
    ax.scatter([s["coverage"]], [s["density"]], s=120, facecolors="none", edgecolors="red",
               zorder=4, label=f"box {found.box_index}")
    fig.colorbar(points, ax=ax, label="restricted parameters")
    ax.set_xlabel("coverage (share of cases inside the box)")
    ax.set_ylabel("density (share of the box's runs that are cases)")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    fitted_title(ax, found.condition, fontsize=9, loc="left")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    save(fig, path)
    return fig


def write_discovery(found: Discovery, out: str | Path, results: str | Path | None = None
                    ) -> list[Path]:
    """The discovery's tables, figure and summary in ``out``, a folder replaced whole (an
    earlier discovery's: no stale file, and a failure leaves it as it was). Owner-only when
    the experiment's folder ``results`` is (a study of real records), wherever ``out`` is;
    without ``results``, when ``out``'s parent is (the default, DIR/discovery)."""
    from srmsim.outputs import csv_text, holds_only, owner_only, replace_dir
    from srmsim.results import write_text

    out = Path(out)
    files = {"prim_trajectory.csv": found.prim.trajectory, "prim_box.csv": found.box,
             "cart_leaves.csv": found.cart}
    # what was asked, for the experiment's report (srmsim report reads DIR/discovery/)
    about = {"condition": found.condition, "variant": found.variant, "box": found.box_index,
             "runs": len(found.cases), "cases": int(found.cases.sum()), "prim": found.options}
    study = Path(results) if results is not None else out.parent
    private = study.is_dir() and owner_only(study)  # an experiment of records
    with replace_dir(out, private=private,
                     replaceable=holds_only(DISCOVERY_FILES, DISCOVERY_FILES)) as tmp:
        for name, frame in files.items():
            write_text(csv_text(frame, float_format="%.6g"), tmp / name)
        trajectory_plot(found, tmp / "prim_trajectory.png")
        write_text(found.summary() + "\n", tmp / "discovery.txt")
        write_text(json_dumps(about, indent=2) + "\n", tmp / "discovery.json")
    return [out / name for name in DISCOVERY_FILES]
