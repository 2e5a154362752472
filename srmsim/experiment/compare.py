"""Paired effects of each variant against the baseline, across replications.

Replication i of every variant shares its seed (common random numbers), so the difference
``variant_i - baseline_i`` cancels most of the noise that both runs share. The 95% interval is a
t interval of the mean paired difference over replications (a *simulation interval*: Monte-Carlo
uncertainty under the model's assumptions, not a forecast of what a real trust will see); the variance-reduction factor is
``(var(variant) + var(baseline)) / var(variant - baseline)``: how many times more replications an
unpaired comparison would need for the same precision.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from srmsim.errors import SrmsimError
from srmsim.experiment.outcomes import Outcome, format_relative, format_value, get_outcome
from srmsim.experiment.store import run_column
from srmsim.labels import agree, excerpt, percent_level, plural, printable, with_article
from srmsim.store import BEYOND_PREFIX, LARGEST_VALUE, only_hidden

EFFECT_COLUMNS = ["variant", "baseline", "outcome", "label", "unit", "replications",
                  "mean_variant", "mean_baseline", "difference", "ci_low", "ci_high", "half_width",
                  "relative_change", "relative_low", "relative_high", "verdict", "better",
                  "sd_paired", "variance_reduction"]


def not_an_experiment(out: Path) -> str:
    """Why ``srmsim compare`` (``sensitivity``, ``discover``) cannot read ``out``, with what was
    likely meant: the folder misspelt, another kind of result (a run has no variants to
    compare), an imported dataset, or the experiments inside a folder of results."""
    from srmsim.inputs import hint_clause
    from srmsim.outputs import result_kind
    from srmsim.report import result_folders_in

    if not out.exists():
        return f"{out}: no such folder{hint_clause(out)}"
    if out.is_file():
        return (f"{out}: is a file; give the folder `srmsim experiment` wrote (results/ and the "
                "experiment's name, unless --out said otherwise)")
    base = f"{out}: not an experiment results directory (no manifest.json)"
    if (out / "manifest.json").is_file():  # written since it was looked for: one starting
        return (f"{out}: an experiment is starting in it (its manifest.json was written just "
                "now); wait for it to finish, then compare again")
    if out.is_dir() and only_hidden(out):  # (a lock file, a killed write's temporaries)
        return (f"{out}: holds no results (no manifest.json, which `srmsim experiment` writes "
                "as it starts): no experiment was run into it, or one was stopped before it "
                f"began; run it (`srmsim experiment FILE --out {out}`), or give the folder an "
                "experiment wrote")
    if (out / "dataset.json").is_file():  # (its import's summary.json is not a run's)
        return (f"{base}: it holds an imported dataset (`srmsim data summary {out}` describes "
                "it)")
    kind = result_kind(out)
    if kind is not None and out.is_dir():
        noun = "optimisation" if kind == "optimise" else kind  # (the kind is its command's)
        return (f"{base}: it holds {with_article(noun)}, which has no variants to compare "
                f"(`srmsim report {out}` describes it)")
    inside = [p for p in result_folders_in(out) if (p / "manifest.json").is_file()] \
        if out.is_dir() else []
    if inside:
        more = f" and {len(inside) - 3:,} more" if len(inside) > 3 else ""
        return (f"{base}; the experiments in it: {', '.join(map(str, inside[:3]))}{more} "
                "(give one of them)")
    return base


def load_runs(path: str | Path) -> tuple[pd.DataFrame, dict]:
    runs, manifest, _ = load_runs_and_failures(path)
    return runs, manifest


def load_runs_and_failures(path: str | Path) -> tuple[pd.DataFrame, dict, list[dict]]:
    """An experiment's stored runs, its manifest and the failure records of the runs that
    failed (left out of every analysis, which says so: printed here)."""
    runs, manifest, failures, _ = load_checked(path)
    return runs, manifest, failures


def load_checked(path: str | Path) -> tuple[pd.DataFrame, dict, list[dict], dict[str, Any]]:
    """:func:`load_runs_and_failures` and each variant's saved scenario (None for results of
    an older srmsim), checked against the manifest as every reader checks them
    (:meth:`srmsim.experiment.store.ResultsStore.check_saved`)."""
    from srmsim.experiment.store import ResultsStore

    if not Path(path).exists():
        from srmsim.inputs import hint_clause

        raise SrmsimError(f"{path}: no such folder{hint_clause(path)}")
    store = ResultsStore(path)
    manifest = store.manifest()
    if manifest is None:
        raise SrmsimError(not_an_experiment(Path(path)))
    runs = store.load()
    failures = store.check_whole(runs, manifest)
    check_settings(manifest, store.root / "manifest.json")
    scenarios = store.check_saved(manifest, variant_order(runs, manifest))
    if failures:
        print(failed_note(failures, store.root / "failures"))
    return runs, manifest, failures, scenarios


def failed_note(failures: list[dict], where: Path | str, shown: int = 10) -> str:
    """How many runs failed and which (the first ``shown``): an analysis that leaves them out
    says so, since its replications are then fewer than the experiment planned."""
    keys = sorted((str(f["variant"]), int(f["replication"])) for f in failures)
    names = ", ".join(f"{v!r} replication {r}" for v, r in keys[:shown])
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return (f"note: {plural(len(keys), 'failed run')} {agree(len(keys), 'is', 'are')} left "
            f"out of this analysis: {names}{more} "
            f"(errors in {where})")


def registry_of(manifest: dict, source: str | Path = "manifest.json") -> dict[str, Outcome]:
    """The outcomes an experiment's results use: built-ins and its own definitions.

    The definitions are read back from the results' manifest (``source``): one that is not a
    definition srmsim wrote (edited by hand, corrupt) is an error naming it, not a traceback."""
    from pydantic import ValidationError

    from srmsim.experiment.custom import build_outcomes

    definitions = manifest.get("outcome_definitions") or []
    try:
        if not (isinstance(definitions, list) and all(isinstance(d, dict) for d in definitions)):
            raise TypeError("not a list of outcome definitions")
        registry = build_outcomes(definitions)
    except (ValidationError, SrmsimError, TypeError) as err:
        if isinstance(err, ValidationError):
            e = err.errors(include_url=False)[0]
            why = f"{'.'.join(map(str, e['loc'])) or 'a definition'}: {e['msg']}"
        else:
            why = str(err)
        raise SrmsimError(f"{source}: its outcome_definitions are not ones srmsim wrote "
                          f"(hand-edited or corrupt; {why[:200]}); run the experiment into a "
                          "new --out directory") from None
    _check_definitions(manifest, source)
    return registry


#: what to do about results edited by hand
AGAIN = "; run the experiment into a new --out directory"


def _settings_outcomes(manifest: dict) -> tuple[dict, list | None] | None:
    """The experiment settings a manifest keeps (as a dict) and their outcomes list (None if
    not a list); None for results of an srmsim that did not keep the settings."""
    config = manifest.get("experiment_config")
    if config is None:
        return None
    config = config if isinstance(config, dict) else {}
    outcomes = config.get("outcomes")
    return config, outcomes if isinstance(outcomes, list) else None


def check_settings(manifest: dict, source: str | Path) -> None:
    """What every reader takes from the manifest is what its experiment settings (still giving
    its ``experiment_hash``, which every stored run carries) say: the baseline (edited to
    another variant, every effect turned round) and the outcomes (one taken off the list went
    unseen); the definitions are checked once built (:func:`registry_of`). Results of an
    srmsim that did not keep the settings are read as they are."""
    from srmsim.experiment.spec import experiment_digest

    kept = _settings_outcomes(manifest)
    if kept is None:
        return
    config, outcomes = kept
    if experiment_digest(manifest["experiment_config"], manifest.get("variants")) \
            != manifest.get("experiment_hash"):
        raise SrmsimError(f"{source}: its experiment_config and variants no longer give its "
                          f"experiment_hash (hand-edited or corrupt){AGAIN}")
    names = [o.get("name") if isinstance(o, dict) else o for o in outcomes] \
        if outcomes is not None else None
    if "name" in manifest and not isinstance(manifest["name"], str):  # its kind first
        raise SrmsimError(f"{source}: name is {excerpt(manifest['name'], 40)}, not a text "
                          f"(hand-edited or corrupt){AGAIN}")
    for key, value, verb in (("baseline", config.get("baseline"), "is"),
                             ("outcomes", names, "are"), ("name", config.get("name"), "is")):
        if manifest.get(key) != value:
            raise SrmsimError(f"{source}: its {key} {verb} not the experiment's (its "
                              f"experiment_config gives {str(value)[:80]!r}: hand-edited){AGAIN}")
    _check_root_seed(manifest, source)


def _check_root_seed(manifest: dict, source: str | Path) -> None:
    """The root seed compare and the report print is the one the runs' seeds come from (each
    run's seed is checked against the manifest's list): an edited one was printed as the
    experiment's, and an extra seed went unnoticed."""
    from srmsim.store import root_seed_gives

    root = manifest.get("root_seed")
    if not root_seed_gives(root, manifest.get("seeds")):
        raise SrmsimError(f"{source}: its root_seed {str(root)[:40]} does not give its seeds "
                          f"(hand-edited or corrupt){AGAIN}")


def _check_definitions(manifest: dict, source: str | Path) -> None:
    """The outcome definitions are the experiment settings' (an edited ``better`` would turn
    every verdict on that outcome round, silently)."""
    kept = _settings_outcomes(manifest)
    if kept is None:
        return
    outcomes = kept[1]
    expected = [o for o in outcomes if isinstance(o, dict)] if outcomes is not None else None
    if (manifest.get("outcome_definitions") or []) != expected:
        raise SrmsimError(f"{source}: its outcome_definitions are not the experiment's (its "
                          f"experiment_config defines them otherwise: hand-edited){AGAIN}")


def variant_order(runs: pd.DataFrame, manifest: dict | None = None) -> list[str]:
    """Variants in the order the experiment file lists them (else their first appearance)."""
    present = list(dict.fromkeys(runs["variant"]))
    listed = [v for v in (manifest or {}).get("variants", {}) if v in present]
    return listed + [v for v in present if v not in listed]




#: the largest replication number a runs table may hold (exact as a float64 and an int64)
MAX_REPLICATION = 2**53


def replication_numbers(runs: pd.DataFrame) -> pd.Series:
    """The replication column as numbers (NaN where it is not one): runs pair by number."""
    return _numbers(runs["replication"])


def _numbers(column: pd.Series) -> pd.Series:
    """A column as float64 NumPy numbers, NaN where a value is missing or not a number: also for
    pandas' nullable and pyarrow-backed columns (``pd.read_csv(..., dtype_backend="pyarrow")``),
    whose arithmetic the checks below cannot use (``%`` raised NotImplementedError)."""
    values = pd.to_numeric(column, errors="coerce")
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "iufb":
        return values
    return pd.Series(values.to_numpy(dtype=float, na_value=np.nan), index=column.index,
                     name=column.name)


def _booleans(column: pd.Series) -> bool:
    """The column holds true/false values (numpy's, pandas' nullable or pyarrow's booleans, or
    Python bools among objects): pd.to_numeric read them as 1 and 0, so a yes/no column was
    averaged as a share, and True and False as replications 1 and 0, without a word."""
    if pd.api.types.is_bool_dtype(column.dtype):
        return True
    return bool(pd.api.types.is_object_dtype(column.dtype)
                and column.map(lambda v: isinstance(v, bool | np.bool_)).any())


def _not_a_real_number(column: pd.Series) -> str:
    """What an outcome column holds if it is not real numbers (else ""): pd.to_numeric turned
    dates and durations into nanoseconds since 1970 and complex numbers lost their imaginary
    part, so each gave an effects table in units nobody chose."""
    dtype = column.dtype
    if (pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype)
            or isinstance(dtype, pd.PeriodDtype)):
        return f"{dtype} values (dates or durations)"
    if pd.api.types.is_complex_dtype(dtype) or (pd.api.types.is_object_dtype(dtype) and column.map(
            lambda v: isinstance(v, complex | np.complexfloating)).any()):
        return "complex numbers"
    return ""


def _spread(values: np.ndarray) -> float:
    """Sample SD computed on the values scaled by a power of two near their largest magnitude:
    squares of values below about 1e-154 underflow, so differences of 1e-300 had an SD of 0 and
    a zero-width interval ("higher", with certainty) although they varied. A power of two
    scales exactly, so values of ordinary size get the same bits as without it."""
    top = float(np.abs(values).max())
    if not (top > 0 and math.isfinite(top)):
        return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    scale = math.ldexp(1.0, math.frexp(top)[1])
    return scale * float(np.std(np.asarray(values, dtype=float) / scale, ddof=1))


#: paired differences this many units in the last place (of the largest value) apart are one
#: difference: rounding of the outcome and of the subtraction is within 4 (measured), and a real
#: difference is more than 1e13 apart
SAME_DIFFERENCE_ULPS = 8


def _same_up_to_rounding(d: np.ndarray, a: np.ndarray, b: np.ndarray) -> bool:
    """The differences ``d = a - b`` agree up to rounding: a share one student lower in two
    runs is 3/150 - 2/150 in one and 5/150 - 4/150 in the other, which differ in the last bit,
    so the interval was 1e-17 wide (a verdict, as if measured that precisely) and the
    variance-reduction factor 1e29, where the same difference gives width 0 and no factor."""
    top = max(float(np.abs(a).max()), float(np.abs(b).max()))
    return bool(float(np.ptp(d)) <= SAME_DIFFERENCE_ULPS * np.finfo(float).eps * top)


def check_runs(runs: pd.DataFrame, outcomes: list[str], level: float) -> None:
    """Refuse a runs table that would give a silently wrong effects table.

    A duplicated column would be read as twice the replications, a duplicated (variant,
    replication) would pair the wrong runs, an infinite outcome would be dropped without a
    word, and a missing variant or replication would silently lose a run: each is named instead.
    """
    # any real number (numpy's float32 too), but not a boolean
    if not (isinstance(level, numbers.Real) and not isinstance(level, bool | np.bool_)
            and 0 < level < 1):
        raise SrmsimError(f"level={level!r} must lie strictly between 0 and 1 (e.g. 0.95)")
    missing = [c for c in ("variant", "replication", *outcomes) if c not in runs.columns]
    if missing:
        raise SrmsimError(f"{agree(len(missing), 'column')} {missing} "
                          f"{agree(len(missing), 'is', 'are')} not in "
                          "the runs table; columns present: "
                          f"{list(runs.columns)[:20]}")
    doubled = [c for c in dict.fromkeys(("variant", "replication", *outcomes))
               if (runs.columns == c).sum() > 1]
    if doubled:
        raise SrmsimError(f"{agree(len(doubled), 'column')} {doubled} "
                          f"{agree(len(doubled), 'appears', 'appear')} more than once in the "
                          "runs table")
    if runs["variant"].isna().any():
        unnamed = int(runs["variant"].isna().sum())
        raise SrmsimError(f"{plural(unnamed, 'run')} {agree(unnamed, 'has', 'have')} no variant "
                          "name")
    if _booleans(runs["replication"]):
        raise SrmsimError("column 'replication' holds true/false values, not replication "
                          "numbers (whole numbers from 0)")
    rep = replication_numbers(runs)
    bad = rep.isna() | (rep < 0) | (rep % 1 != 0) | (rep > MAX_REPLICATION)
    if bad.any():
        raise SrmsimError(f"replication {runs['replication'][bad].iloc[0]} (variant "
                          f"{runs['variant'][bad].iloc[0]!r}) is not a whole number from 0 to "
                          f"{MAX_REPLICATION:,}")
    # by number: 5, 5.0 and "5" are one replication (pairing goes by number too)
    twice = runs[["variant"]].assign(replication=rep).duplicated(keep=False)
    if twice.any():
        first = runs[twice].iloc[0]
        raise SrmsimError(f"variant {first['variant']!r} replication {first['replication']} "
                          f"appears {int(twice.sum())} times in the runs table; each run once")
    for outcome in _unchecked(runs, outcomes):
        if _booleans(runs[outcome]):
            raise SrmsimError(f"outcome {outcome!r} holds true/false values, not numbers; for "
                              f"the share of runs where it is true, convert it to 0 and 1 first "
                              f"(runs[{outcome!r}].astype(float))")
        kind = _not_a_real_number(runs[outcome])
        if kind:
            raise SrmsimError(f"outcome {outcome!r} holds {kind}, not real numbers; convert it "
                              "to a number first (e.g. days, or the real part)")
        values = _numbers(runs[outcome])
        text = values.isna() & runs[outcome].notna()
        with np.errstate(invalid="ignore"):
            huge = np.isinf(values) | (values.abs() > LARGEST_VALUE)
        for mask, what in ((text, "is not a number"), (huge, "is infinite or too large (> 1e150)")):
            if mask.any():
                row = runs[mask].iloc[0]
                value = row[outcome]
                shown = repr(value) if isinstance(value, str) else str(value)
                raise SrmsimError(
                    f"outcome {outcome!r} of variant {row['variant']!r} replication "
                    f"{row['replication']} {what} ({shown}); {plural(mask.sum(), 'run')} "
                    "affected: re-run them or remove the outcome")


def _unchecked(runs: pd.DataFrame, outcomes: list[str]) -> list[str]:
    """The outcomes :func:`check_runs` must check one by one: all but the plain NumPy number
    columns, which are checked together when none is infinite or too large (one by one, 1,001
    outcomes took 0.3 s of CPU for each group of the experiment report)."""
    dtypes = runs.dtypes
    plain = [o for o in dict.fromkeys(outcomes)
             if isinstance(dtypes[o], np.dtype) and dtypes[o].kind in "iuf"]
    if plain:
        with np.errstate(invalid="ignore"):
            block = np.abs(runs[plain].to_numpy(dtype=float))
        if not (np.isinf(block) | (block > LARGEST_VALUE)).any():
            done = set(plain)
            return [o for o in outcomes if o not in done]
    return list(outcomes)


def share_bounds(info: Outcome, a: np.ndarray, b: np.ndarray, low: float, high: float
                 ) -> tuple[float, float]:
    """A t interval (``low`` to ``high``) of the mean paired difference of ``info``'s values
    ``a`` minus ``b``, cut at -1 and +1 (-100 and +100 pp) where ``info`` is a share and
    every value lies in 0 to 1: two shares differ by no more, and with 2 replications (t on
    1 df, 12.7) the interval reached past them (-96.20 pp to +116.34 pp). The true difference
    lies inside the bounds, so the cut interval holds it whenever the t interval does: the
    same coverage, no claim of the impossible. The half-width (``half_width``) stays the t
    interval's, the precision a sequential experiment stops on."""
    if info.scale != "share" or not len(a) or not (
            ((a >= 0) & (a <= 1)).all() and ((b >= 0) & (b <= 1)).all()):
        return low, high
    return max(low, -1.0), min(high, 1.0)


def cut_at_bounds(effects: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``effects`` whose interval :func:`share_bounds` cut (narrower than the
    difference give or take its half-width)."""
    d, half = effects["difference"], effects["half_width"]
    cut = (effects["ci_low"] > d - half + 1e-12) | (effects["ci_high"] < d + half - 1e-12)
    return effects[cut.fillna(False).astype(bool)]


def bounds_note(effects: pd.DataFrame) -> str:
    """Says an interval of a difference of shares was cut at -100 or +100 pp ("" if none)."""
    if effects.empty or not {"half_width", "ci_low", "ci_high"} <= set(effects.columns):
        return ""
    cut = cut_at_bounds(effects)
    if cut.empty:
        return ""
    return (f"{plural(len(cut), 'interval')} of a difference of shares reached past -100 or "
            f"+100 pp (few replications: a wide t interval) and {agree(len(cut), 'is', 'are')} "
            "cut there, the most two shares can differ; cut, an interval holds the true "
            "difference whenever the t interval does (docs/reports.md).")


def compare_frame(runs: pd.DataFrame, baseline: str, outcomes: list[str],
                  level: float = 0.95, registry: Mapping[str, Outcome] | None = None,
                  order: list[str] | None = None) -> pd.DataFrame:
    """The effects table from a runs table (one row per variant x replication).

    ``relative_change`` is ``difference / mean_baseline`` only for outcomes on a ratio scale with
    a positive baseline (see :mod:`srmsim.experiment.outcomes`), else NaN; ``verdict`` says
    whether the interval shows the variant better, worse, or no clear change (``not measured``
    when no replication has a finite value in both arms, e.g. an outcome of an empty group).
    ``relative_low`` to ``relative_high`` is Fieller's interval for the relative change at the
    same level (:func:`srmsim.stats._inference.paired_ratio_interval`): NaN where there is no
    relative change, and where the baseline mean is not clearly away from zero.
    """
    from scipy import stats  # here, not at the top: workers import this package, never this

    from srmsim.stats._inference import paired_ratio_interval

    check_runs(runs, list(outcomes), level)
    runs = runs.assign(replication=replication_numbers(runs).astype(np.int64))
    if baseline not in set(runs["variant"]):
        present = variant_order(runs)
        raise SrmsimError(f"baseline variant {baseline!r} has no finished runs; variants with "
                          f"runs: {', '.join(map(repr, present[:20])) or 'none'}")
    rows = []
    base = runs[runs["variant"] == baseline].set_index("replication")
    order = order or variant_order(runs)
    t_quantile: dict[int, float] = {}  # by degrees of freedom: one scipy call each, not per row
    lost_beyond: dict[tuple[str, str], int] = {}  # replications left out for a value too large
    for variant in [v for v in order if v != baseline]:
        arm = runs[runs["variant"] == variant].set_index("replication")
        common = arm.index.intersection(base.index).sort_values()
        arm_common, base_common = arm.loc[common], base.loc[common]  # once per variant
        for outcome in outcomes:
            info = get_outcome(outcome, registry)
            a = _numbers(arm_common[outcome]).to_numpy(dtype=float)
            b = _numbers(base_common[outcome]).to_numpy(dtype=float)
            ok = np.isfinite(a) & np.isfinite(b)
            beyond = _beyond(arm_common, outcome) | _beyond(base_common, outcome)
            if beyond[~ok].any():  # said where the table's note and verdict say why
                lost_beyond[(variant, outcome)] = int(beyond[~ok].sum())
            a, b = a[ok], b[ok]
            n = len(a)
            d = a - b
            mean_d = float(d.mean()) if n else np.nan
            if n >= 2:
                sd = _spread(d)
                if sd > 0 and _same_up_to_rounding(d, a, b):
                    sd = 0.0
                if n not in t_quantile:
                    t_quantile[n] = stats.t.ppf(0.5 + level / 2, n - 1)
                half = float(t_quantile[n] * sd / np.sqrt(n))
                # undefined (empty in effects.csv), not infinite, when every paired
                # difference is the same: no finite number to write; as a ratio of SDs where
                # the variances would underflow or overflow
                vr = np.nan
                if sd > 0:
                    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
                        var_unpaired = a.var(ddof=1) + b.var(ddof=1)
                        vr = float(var_unpaired / sd**2)
                    tiny = np.finfo(float).tiny  # below it squares have lost their bits
                    if not (np.isfinite(vr) and min(sd**2, var_unpaired) >= tiny):
                        with np.errstate(over="ignore"):
                            vr = float(np.float64(_spread(a) / sd) ** 2
                                       + np.float64(_spread(b) / sd) ** 2)
                    vr = vr if np.isfinite(vr) else np.nan
            else:
                sd, half, vr = np.nan, np.nan, np.nan
            low, high = share_bounds(info, a, b, mean_d - half, mean_d + half)
            mb = float(b.mean()) if n else np.nan
            rel = mean_d / mb if n and info.ratio and mb > 0 else np.nan
            rel_low = rel_high = np.nan
            if n >= 2 and np.isfinite(rel):
                # differences equal up to rounding are one difference, as for ci_low/ci_high
                same = np.full(n, mean_d) if sd == 0 else d
                rel_low, rel_high = paired_ratio_interval(same, b, t_quantile[n])
            rows.append({
                "variant": variant, "baseline": baseline, "outcome": outcome,
                "label": info.label, "unit": info.unit, "replications": n,
                "mean_variant": float(a.mean()) if n else np.nan, "mean_baseline": mb,
                "difference": mean_d, "ci_low": low, "ci_high": high,
                "half_width": half, "relative_change": rel, "relative_low": rel_low,
                "relative_high": rel_high,
                # no interval is not "no clear change": say that nothing (finite) was measured
                "verdict": (info.verdict(low, high) if n >= 2 else
                            "one run: no interval" if n else
                            f"not measured: beyond {BEYOND_TEXT}"
                            if (variant, outcome) in lost_beyond else "not measured"),
                "better": info.better or "", "sd_paired": sd, "variance_reduction": vr,
            })
    effects = pd.DataFrame(rows, columns=EFFECT_COLUMNS)
    effects.attrs["level"] = float(level)  # for format_effects and forest_plot to name
    effects.attrs["beyond"] = lost_beyond  # for the note on replications left out
    return effects


def effects_level(effects: pd.DataFrame, level: float | None) -> float:
    """The level ``effects``' intervals are at: the one :func:`compare_frame` recorded (a table
    read back from effects.csv has none: then ``level``, else 95%). A ``level`` other than the
    recorded one is refused: ``format_effects(compare(..., level=0.9))`` labelled the 90%
    intervals "95%"."""
    recorded = effects.attrs.get("level")
    if level is None:
        return float(recorded) if recorded is not None else 0.95
    if recorded is not None and not math.isclose(float(recorded), float(level)):
        raise SrmsimError(f"level={level!r}: these effects' intervals are "
                          f"{percent_level(float(recorded))} intervals; leave level out, or "
                          "compare again at that level")
    return float(level)


class PairingWarning(UserWarning):
    """Runs of a runs table with no partner in the baseline (or the baseline's with none in a
    variant): the paired effects leave them out."""


def compare(results: str | Path | pd.DataFrame, baseline: str | None = None,
            outcomes: list[str] | None = None, level: float = 0.95) -> pd.DataFrame:
    """Effects of every variant against the baseline: a results directory or a runs table.

    Each effect pairs the runs of one replication number (common random numbers); a run
    without its partner is left out, and a runs table passed in says which with a
    :class:`PairingWarning` (a results directory's failed runs are printed by
    :func:`load_runs`)."""
    if isinstance(results, pd.DataFrame):
        effects = compare_loaded(results, {}, baseline, outcomes, level)
        _warn_unpaired(results, baseline)
        return effects
    return compare_loaded(*load_runs(results), baseline, outcomes, level)


def _warn_unpaired(runs: pd.DataFrame, baseline: str | None, shown: int = 5) -> None:
    """A :class:`PairingWarning` naming the runs each variant's effects left out for want of a
    partner: a missing replication dropped its pair without a word, and two runs tables with
    their own numbering (no replication in common) gave 0 replications, "not measured"."""
    import warnings

    rep = replication_numbers(runs).astype(np.int64)
    base = set(rep[runs["variant"] == baseline].tolist())
    lines = []
    for variant in variant_order(runs):
        if variant == baseline:
            continue
        own = set(rep[runs["variant"] == variant].tolist())
        name = repr(printable(str(variant)))
        for whose, other, left in ((f"variant {name}", "the baseline", own - base),
                                   ("the baseline", name, base - own)):
            if left:
                first = ", ".join(map(str, sorted(left)[:shown]))
                more = f" and {len(left) - shown} more" if len(left) > shown else ""
                lines.append(f"{whose}: {plural(len(left), 'replication')} with no partner in "
                             f"{other} ({first}{more})")
    if lines:
        warnings.warn("runs left out of the paired effects: " + "; ".join(lines),
                      PairingWarning, stacklevel=3)


def compare_loaded(runs: pd.DataFrame, manifest: dict, baseline: str | None = None,
                   outcomes: list[str] | None = None, level: float = 0.95) -> pd.DataFrame:
    """:func:`compare` on a runs table and manifest already read (``{}`` for a bare table)."""
    baseline = baseline or manifest.get("baseline")
    if baseline is None:
        raise SrmsimError("name the baseline variant (baseline=...)")
    outcomes = outcomes or manifest.get("outcomes") or [
        c for c in runs.columns if not run_column(str(c))]  # the run row's own columns
    missing = [o for o in outcomes if o not in runs.columns]
    if missing:
        raise SrmsimError(f"{agree(len(missing), 'outcome')} {missing} "
                          f"{agree(len(missing), 'is', 'are')} not in the runs table")
    return compare_frame(runs, baseline, outcomes, level, registry_of(manifest),
                         variant_order(runs, manifest))


#: the forest plot draws at most this many panels (outcomes), variants in a panel and rows in
#: all: an experiment with 1,001 user-defined outcomes spent 66 s of CPU drawing a 7 MB
#: forest.png of 1,001 panels (and 1,000 variants took 11 s and a 420-inch figure); every effect
#: stays in effects.csv and the report's table
MAX_FOREST_PANELS = 30
MAX_FOREST_VARIANTS = 40
MAX_FOREST_ROWS = 200


def forest_rows(effects: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The rows of ``effects`` the forest plot draws (the first outcomes and variants, in order,
    within :data:`MAX_FOREST_PANELS`, :data:`MAX_FOREST_VARIANTS` and :data:`MAX_FOREST_ROWS`)
    and a note saying what was left out ("" when nothing was)."""
    outcomes = list(dict.fromkeys(effects["outcome"]))
    variants = list(dict.fromkeys(effects["variant"]))
    keep_variants = variants[:MAX_FOREST_VARIANTS]
    keep_outcomes = outcomes[:max(1, min(MAX_FOREST_PANELS,
                                         MAX_FOREST_ROWS // max(len(keep_variants), 1)))]
    if len(keep_outcomes) == len(outcomes) and len(keep_variants) == len(variants):
        return effects, ""
    kept = effects[effects["outcome"].isin(keep_outcomes) & effects["variant"].isin(keep_variants)]
    parts = [f"the first {len(keep)} of {plural(len(every), what)}"
             for keep, every, what in ((keep_outcomes, outcomes, "outcome"),
                                       (keep_variants, variants, "variant"))
             if len(keep) < len(every)]
    return (kept.reset_index(drop=True),
            f"\nshowing {' and '.join(parts)}: every effect is in effects.csv")


def forest_plot(effects: pd.DataFrame, path: str | Path | None = None,
                registry: Mapping[str, Outcome] | None = None, title: str | None = None,
                level: float | None = None):
    """Paired differences with their simulation intervals (at ``level``, the one ``effects``
    was computed at: :func:`effects_level`), one panel per outcome.

    Each panel is on its outcome's own scale and unit (shares in percentage points), with a
    zero line and an arrow showing which way is better. A long study is summarised by its first
    outcomes and variants (see :func:`forest_rows`), with a note saying so.
    """
    from srmsim.figures import effect_rows, fitted_title, new_figure, save

    level = effects_level(effects, level)
    effects, shown_note = forest_rows(effects)
    outcomes = list(dict.fromkeys(effects["outcome"]))
    n_rows = len(effects)
    if not n_rows:  # only the baseline ran: a traceback after every run had finished
        fig, ax = new_figure(7.5, 1.5)
        ax.axis("off")
        ax.text(0.5, 0.5, "No variant besides the baseline: no effect to show", ha="center",
                va="center", fontsize=10)
        save(fig, path)
        return fig
    # a variant's name beside each row takes its width from the panels: 64 characters (the
    # longest name) left them 40% of the figure, and the £ ticks of a cost ran into each other
    longest = max(len(str(v)) for v in effects["variant"])
    fig, axes = new_figure(7.5 + max(0.0, 0.07 * longest - 1.5),
                           1.3 + 0.42 * n_rows + 0.75 * len(outcomes),
                           nrows=len(outcomes), squeeze=False)
    baseline = effects["baseline"].iloc[0] if n_rows else ""
    for ax, outcome in zip(axes[:, 0], outcomes, strict=True):
        info = get_outcome(outcome, registry)
        scale = 100.0 if info.scale == "share" else 1.0
        unit = info.difference_unit
        e = effects[effects["outcome"] == outcome].reset_index(drop=True)
        y = np.arange(len(e))[::-1]
        d = e["difference"] * scale
        colours = ["tab:green" if v == "better" else "tab:red" if v == "worse" else "tab:blue"
                   for v in e["verdict"]]
        ax.axvline(0, color="grey", lw=0.8)  # (first: the side with room counts 0 in)
        # one replication, or not measured: the table's verdict says so beside the row
        effect_rows(ax, [(float(di), float(yi), float(lo), float(hi), c, str(verdict))
                         for yi, di, lo, hi, c, verdict in zip(
                             y, d, e["ci_low"] * scale, e["ci_high"] * scale, colours,
                             e["verdict"], strict=True)])
        ax.set_yticks(y, e["variant"])
        ax.set_ylim(-0.7, len(e) - 0.3)
        fitted_title(ax, info.label, fontsize=9, loc="left", fontweight="bold", pad=12)
        ax.set_xlabel(f"difference from {baseline}" + (f" ({unit})" if unit else ""), fontsize=8)
        ax.tick_params(labelsize=8)
        mark_better(ax, info)
        axis_units(ax, info)
    fig.suptitle(title or f"Effect of each policy against {baseline}, with "
                 f"{percent_level(level)} simulation intervals", fontsize=10)
    fig.text(0.5, 0.002, "green: clearly better; red: clearly worse; blue: no clear change, or "
             "no better direction (cost, staff hours)" + shown_note, ha="center", va="bottom",
             fontsize=7, color="dimgrey")
    height = fig.get_size_inches()[1]  # room for the note's second line (0.3 inch)
    fig.tight_layout(rect=(0, max(0.02, 0.3 / height) if shown_note else 0.02, 1, 0.985))
    save(fig, path)
    return fig


def text_table(table: pd.DataFrame, right: set[str] | frozenset[str] = frozenset()) -> str:
    """A plain-text table: words left-aligned, the ``right`` (number) columns right-aligned.

    Every cell and heading is printed with its control characters as escapes
    (:func:`srmsim.labels.printable`): a custom outcome's label or a variant name edited into a
    results folder holding ``\\x1b[2J`` cleared the terminal, and a newline broke the table."""
    cols = list(table.columns)
    heads = [printable(str(c)) for c in cols]
    cells = [[printable(str(v)) for v in table[c]] for c in cols]
    widths = [max([len(h), *map(len, col)]) for h, col in zip(heads, cells, strict=True)]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if c in right else v.ljust(w)
                         for c, v, w in zip(cols, values, widths, strict=True)).rstrip()

    rows = [line(heads)] + [line([col[i] for col in cells]) for i in range(len(table))]
    return "\n".join(rows)


def mark_better(ax, info: Outcome) -> None:
    """Write which way is better above the top right of a difference axis."""
    if info.better:
        text = "better: higher →" if info.better == "higher" else "← better: lower"
        ax.text(1.0, 1.02, text, transform=ax.transAxes, ha="right", va="bottom", fontsize=8,
                color="tab:green")


def axis_units(ax, info: Outcome) -> None:
    """Tick labels of a difference axis in plain notation: £ and thousands separators."""
    from matplotlib.ticker import FuncFormatter

    if info.scale == "money":
        # the outcomes' money format (pence below £10: ticks of +-£0.50 all read £0); a tick
        # a rounding error off zero is zero
        ax.xaxis.set_major_formatter(FuncFormatter(
            lambda v, _: format_value(v if abs(v) >= 1e-9 else 0.0, "money")))
    elif info.scale == "hours":
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))


#: the columns `srmsim experiment` / `srmsim compare` print, named as in effects.csv
TABLE_COLUMNS = ["variant", "outcome", "mean_baseline", "mean_variant", "difference", "ci_low",
                 "ci_high", "relative_change", "verdict"]
#: the same with the relative change's interval (the HTML report)
RELATIVE_TABLE_COLUMNS = [*TABLE_COLUMNS[:-1], "relative_low", "relative_high", "verdict"]


def effects_display(effects: pd.DataFrame, registry: Mapping[str, Outcome] | None = None,
                    relative_interval: bool = False) -> pd.DataFrame:
    """The effects table as text, each number in its outcome's unit (what the CLI prints);
    ``relative_interval`` adds ``relative_low`` and ``relative_high`` after the relative
    change (the HTML report's wider table)."""
    from srmsim.experiment.withhold import LOW, WITHHELD

    rows = []
    for r in effects.itertuples(index=False):
        info = get_outcome(r.outcome, registry)
        if r.verdict == WITHHELD:  # an experiment on real records: a small count (low)
            row = {"variant": r.variant, "outcome": info.label,
                   **dict.fromkeys(("mean_baseline", "mean_variant", "difference", "ci_low",
                                    "ci_high", "relative_change"), LOW), "verdict": WITHHELD}
            if relative_interval:
                row["relative_low"] = row["relative_high"] = LOW
            rows.append(row)
            continue
        row = {
            "variant": r.variant, "outcome": info.label,
            "mean_baseline": info.format_value(r.mean_baseline),
            "mean_variant": info.format_value(r.mean_variant),
            "difference": info.format_difference(r.difference),
            "ci_low": info.format_difference(r.ci_low),
            "ci_high": info.format_difference(r.ci_high),
            "relative_change": format_relative(r.relative_change),
            "verdict": r.verdict,
        }
        if relative_interval:
            row["relative_low"] = format_relative(getattr(r, "relative_low", math.nan))
            row["relative_high"] = format_relative(getattr(r, "relative_high", math.nan))
        rows.append(row)
    return pd.DataFrame(rows, columns=RELATIVE_TABLE_COLUMNS if relative_interval
                        else TABLE_COLUMNS)


#: how a value beyond what srmsim stores is named: "not measured: beyond +-1e150"
BEYOND_TEXT = f"±{LARGEST_VALUE:.0e}".replace("e+", "e")


def _beyond(runs: pd.DataFrame, outcome: str) -> np.ndarray:
    """Which of ``runs`` left a user-defined ``outcome`` unmeasured because its value was
    beyond +-1e150 (the run row's ``beyond:<outcome>`` column, written by the run)."""
    column = f"{BEYOND_PREFIX}{outcome}"
    if column not in runs.columns:
        return np.zeros(len(runs), dtype=bool)
    return runs[column].eq(True).to_numpy(dtype=bool)  # (missing where the run had none)


def _fewer_replications(effects: pd.DataFrame,
                        registry: Mapping[str, Outcome] | None = None,
                        planned: int | None = None) -> str:
    """Lines naming each printed row computed on fewer replications than the fullest row, or
    than the ``planned`` replications of the experiment (its manifest's) when given: a
    replication without a finite value in both runs (an outcome of an empty group, a baseline
    run that failed) is left out of that row, and the printed table has no column saying so.
    Against the fullest row alone, an experiment of one outcome undefined in 4 of its 10
    replications printed its effect over 6 with no word (every row was "the fullest")."""
    if not len(effects):
        return ""
    most = max(int(effects["replications"].max()), planned or 0)
    short = effects[effects["replications"] < most]
    beyond = effects.attrs.get("beyond", {})

    def why(r: Any) -> str:
        """Why replications are left out: a value too large is said (it is no empty group)."""
        n = beyond.get((r.variant, r.outcome), 0)
        if not n:
            return "the others have no finite value in both runs"
        return (f"in {plural(n, 'replication')} its value was beyond {BEYOND_TEXT}, more than "
                "srmsim stores: rescale the outcome's expression")

    lines = [f"\nnote: {r.variant!r} {get_outcome(r.outcome, registry).label}: "
             f"{int(r.replications)} of {most} replications ({why(r)})"
             for r in short.itertuples(index=False)]
    return "".join(lines)


def no_spread_note(effects: pd.DataFrame, registry: Mapping[str, Outcome] | None = None,
                   shown: int = 10, level: float = 0.95) -> str:
    """A sentence naming the rows whose paired differences are all the same ("" if none).

    Their SD is 0, so the t interval has no width: exact where the difference cannot vary (a
    variant identical to the baseline, or one that does not touch the outcome), but an outcome
    of few values repeats one difference by chance: on 2 replications of a 1-school trust, 18-42%
    of shares and counts did, and the 95% intervals covered the true effect in 58-83% of
    experiments; the table and the report showed such an interval, and its verdict, as certain.

    Nor is it a matter of few replications only: a difference that is rare (two or more years
    behind in reading under attendance escalation, on a 2-school trust: 6% of replications
    differ, by a student or two) is 0 in all 30 replications of 15% of experiments and all 10 of
    54%, and the 95% intervals covered the expected difference in 84% of 2,000 experiments of 30
    and 46% of 10 (each one that missed had no width). The note says how rare a difference
    its replications still allow: none in n replications bounds the share that differ only by
    1 - (1 - level)^(1/n) (one-sided, Clopper-Pearson; "the rule of three", 3/n), 9.5% at 30."""
    rows = effects[(effects["replications"] >= 2) & (effects["half_width"] == 0)]
    if rows.empty:
        return ""
    parts = []
    for variant, own in rows.groupby("variant", sort=False):
        every = (effects["variant"] == variant).sum() == len(own) and len(own) > 1
        labels = ("every outcome" if every else
                  ", ".join(get_outcome(o, registry).label for o in own["outcome"][:shown])
                  + (f" and {len(own) - shown} more" if len(own) > shown else ""))
        counts = sorted(set(own["replications"].astype(int)))
        parts.append(f"{variant!r} ({labels}; {'/'.join(map(str, counts))} replications)")
    more = f" and {len(parts) - shown} more variants" if len(parts) > shown else ""
    fewest = int(rows["replications"].min())
    allowed = 1 - (1 - level) ** (1 / fewest)  # Clopper-Pearson's bound for 0 of `fewest`
    return (f"every paired difference is the same in {', '.join(parts[:shown])}{more}, so "
            "the interval has no width: exact only if the difference cannot vary (a variant "
            "identical to the baseline, or one that does not touch the outcome); an outcome of "
            "few values (a share of a few students, a count) repeats one difference by chance, "
            "and a rare difference does so on many replications: "
            f"{plural(fewest, 'equal difference')} still allow up to {allowed:.1%} of "
            f"replications to differ (one-sided {percent_level(level)} bound), so the expected "
            "difference may not be the one shown: add replications before relying on it.")


def multiplicity_note(effects: pd.DataFrame, level: float = 0.95) -> str:
    """A sentence saying the verdicts are not adjusted for multiplicity ("" for one interval).

    Each verdict is its own interval's: 20 comparisons of variants that change nothing give a
    "better" or "worse" about once (64% of the time at least one), and nothing said so."""
    k = int(np.isfinite(effects["half_width"]).sum()) if len(effects) else 0
    if k < 2:
        return ""
    chance = k * (1 - level)
    return (f"each verdict comes from its own {percent_level(level)} interval, with no "
            f"adjustment for multiple comparisons: among these {k} comparisons, about "
            f"{chance:.2g} would show a clear change by chance even if no variant changed "
            "anything.")


def manifest_design(manifest: Mapping | None) -> Mapping | None:
    """The ``design:`` an experiment's manifest records (its ``experiment_config``'s, or for
    folders of 2026-11-30 to 12-03 the manifest's own), None without one."""
    manifest = manifest or {}
    config = manifest.get("experiment_config")
    design = config.get("design") if isinstance(config, Mapping) else manifest.get("design")
    return design if isinstance(design, Mapping) else None


def design_note(manifest: Mapping | None) -> str:
    """What the intervals of an experiment run over a ``design:`` (Sobol or Morris) are about
    ("" for replications: the default Latin hypercube, or no uncertain parameters).

    Its runs are the design's points, every one with the same seed by default (one simulated
    trust), yet its table was printed as "N replications" with Monte-Carlo intervals. A t
    interval over the points treats them as independent draws: over a Morris grid they are not
    (a trajectory's points differ in one parameter; the grid's mean is not the ranges'), and the
    95% intervals of the mean of known functions of 4 parameters (linear, a step, a product, a
    sum of squares) held it in 53-88% of 300 designs of n = 10; over a Sobol design's points,
    100% (conservative)."""
    design = manifest_design(manifest)
    if design is None or design.get("method") not in ("sobol", "morris"):
        return ""
    method = design["method"]
    common = (design.get("seeds") or "common") == "common"
    seeds = ("every point ran with the same seed (one simulated trust), so the intervals hold no "
             "replication noise: they are of the mean over the points for that trust"
             if common else "each point ran with its own seed")
    validity = ("a Morris design's points are a grid of dependent trajectories, not a sample of "
                "the ranges: its intervals and verdicts do not hold the mean effect over the "
                "ranges at their level (53-88% of 95% intervals did, measured)"
                if method == "morris" else
                "a Sobol design's points are not independent draws either; its intervals were "
                "wider than needed (measured)")
    return (f"the runs are the points of a {method} design, not replications: {seeds}; "
            f"{validity}. For the mean effect over the uncertain ranges, use the default design "
            "(lhs) with replications.")


#: the printed table's headings (effects.csv and the tables in Python keep the names of
#: :data:`TABLE_COLUMNS`): a reader of the command's output met ``mean_baseline`` and ``ci_low``
PRINTED_HEADINGS = {"variant": "Variant", "outcome": "Outcome", "mean_baseline": "Baseline mean",
                    "mean_variant": "Variant mean", "difference": "Difference",
                    "relative_change": "Relative change", "verdict": "Verdict"}
#: the printed columns of numbers, right-aligned (with the interval's, headed by its level)
PRINTED_NUMBERS = frozenset({"Baseline mean", "Variant mean", "Difference", "Relative change"})


def effect_headings(level: float) -> dict[str, str]:
    """Readable headings of the effects table's columns at ``level``, for the printed table
    and the HTML report alike (one place: the report headed its table ``mean_baseline``,
    ``ci_low`` ... with a paragraph decoding them); effects.csv keeps its column names.
    ``interval`` is the printed table's one interval column; the report's wider table has
    its ends (``ci_low``, ``ci_high``) and the relative change's."""
    lv = percent_level(level)
    return {**PRINTED_HEADINGS, "interval": f"{lv} interval",
            "ci_low": f"{lv} interval: low", "ci_high": f"{lv} interval: high",
            "relative_low": f"Relative change {lv} interval: low",
            "relative_high": f"Relative change {lv} interval: high"}


def printed_effects(display: pd.DataFrame, level: float) -> pd.DataFrame:
    """:func:`effects_display`'s table under readable headings, its interval in one column
    (``+0.40 pp to +0.49 pp``) headed by its level; each cell carries its outcome's unit."""
    headings = effect_headings(level)
    interval = [low if low == high and low in ("–", "low") else f"{low} to {high}"
                for low, high in zip(display["ci_low"], display["ci_high"], strict=True)]
    shown = display.drop(columns=["ci_low", "ci_high"]).rename(columns=PRINTED_HEADINGS)
    shown.insert(list(shown.columns).index("Difference") + 1, headings["interval"], interval)
    return shown


def readable_effects(effects: pd.DataFrame, registry: Mapping[str, Outcome] | None = None,
                     level: float | None = None) -> pd.DataFrame:
    """The effects table as a reader sees it (printed, or shown in a notebook): headings in
    words, each number in its outcome's unit and its interval in one column. A notebook showing
    ``effects`` itself showed ``mean_variant``, ``ci_low`` and attendance as 0.9423."""
    return printed_effects(effects_display(effects, registry), effects_level(effects, level))


def withheld_note(effects: pd.DataFrame) -> str:
    """The note of an experiment on real records whose table withholds a row ("" if none)."""
    from srmsim.experiment.withhold import NOTE, REFERRAL_NOTE, WITHHELD, referral_share

    withheld = effects["verdict"] == WITHHELD
    if not withheld.any():
        return ""
    referrals = effects.loc[withheld, "outcome"].astype(str).map(referral_share)
    return NOTE + (REFERRAL_NOTE if referrals.any() else "")


def format_effects(effects: pd.DataFrame, registry: Mapping[str, Outcome] | None = None,
                   level: float | None = None, manifest: Mapping | None = None,
                   file: str = "effects.csv") -> str:
    """The printed table: plain numbers with units, the simulation interval (ci_low to
    ci_high, at ``level``: the one ``effects`` was computed at, which the note names) and a
    verdict, with notes on what the intervals cannot say (an experiment's ``manifest`` names
    its design); the variance-reduction factor stays in the table's ``file`` (an
    optimisation's is front_effects.csv: the note named an effects.csv it never writes)."""
    level = effects_level(effects, level)
    if effects.empty:  # a header over no rows said nothing of why
        return ("No effects: there is no variant to compare with the baseline (the experiment "
                "has only its baseline variant); add a variant to estimate effects.")
    shown = readable_effects(effects, registry, level)
    text = text_table(shown, right={c for c in shown.columns if c in PRINTED_NUMBERS
                                    or c.endswith(" interval")})
    planned = (manifest or {}).get("replications")
    text += _fewer_replications(effects, registry, planned if isinstance(planned, int)
                                and not isinstance(planned, bool) else None)
    text += "".join(f"\nnote: {note}" for note in (no_spread_note(effects, registry, level=level),
                                                   multiplicity_note(effects, level),
                                                   design_note(manifest),
                                                   withheld_note(effects),
                                                   bounds_note(effects)) if note)
    return (text + f"\n{percent_level(level)} interval: the simulation interval of the "
            "difference over the replications (Monte-Carlo uncertainty under the model's assumptions, not a "
            "forecast).\npp = percentage points; relative change = difference / baseline mean, "
            f"only on ratio scales; its interval and more columns in {file}.")
