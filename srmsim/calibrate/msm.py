"""Fit simulator parameters to a trust's records by the method of simulated moments (MSM).

The estimate minimises ``sum_k ((m_k(theta) - d_k) / se_k)^2`` over the chosen parameters, where
``d_k`` are the data's moments (:mod:`srmsim.calibrate.moments`), ``m_k(theta)`` the same moments
of simulated trusts, and ``se_k`` the data moments' bootstrap standard errors (a diagonal
weighting: each moment counts in units of its own sampling noise; correlations between moments
are ignored, which keeps the weights stable with a handful of schools).

How the simulation is set up, and why:

- **The population comes from the records** (``population.records``: students resampled within
  their own schools), so school sizes and each school's FSM/SEN/EAL mix and prior attainment
  are the data's, and only the dynamics are left to fit. A student's recorded prior attainment
  becomes their starting attainment, so ``population.attainment_icc`` only matters (and is only
  fitted) when the records lack prior attainment or ``ignore_prior_attainment`` is set.
- **Common random numbers**: every evaluation simulates the same fixed seeds
  (``SeedSequence(seed).spawn(replications)``), and srmsim's draws are keyed by (seed, decision,
  week, student), so a small change of a parameter moves the simulated moments smoothly instead
  of re-drawing every student. ``m_k(theta)`` is the mean over the seeds.
- **Same measurement**: each run is exported to the schema (:func:`records_from_run`) and
  measured by the same code and :class:`MomentSpec` as the data (same weeks, terms and tests).
- **Optimiser**: parameters are scaled to [0, 1] by their bounds; ``least_squares`` (trust-region
  reflective, forward differences of 2% of the range, bounded) is the default, ``nelder-mead``
  (bounded) the derivative-free alternative. Every simulation counts towards ``max_evals``;
  when the budget runs out the best point found is returned and the report says so.
- **Standard errors** (approximate): the MSM sandwich ``(1 + 1/R) B J' C J B`` with
  ``B = (J'J)^-1``, ``J`` the Jacobian of the standardised residuals at the estimate
  (forward differences) and ``C`` the bootstrap correlation of the data moments (so
  correlated moments are not counted as independent evidence; each moment's variance is its
  floored SE squared, as the objective weighs it; a school bootstrap's SD is scaled by
  sqrt(G / (G - 1)), :func:`~srmsim.calibrate.moments.bootstrap_scale`); ``1 + 1/R`` adds
  the simulation noise of R replications; rescaled from [0, 1]. NaN when the moments do not
  pin a parameter down. With fewer than 10 schools the bootstrap keeps the schools fixed: it
  leaves out how schools differ, which every simulated trust redraws, so every standard
  error is too small, not only the ICCs' (:data:`FIXED_SCHOOLS_NOTE`, printed in the report).
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel
from scipy import optimize

from srmsim import calendar
from srmsim.calibrate.export import records_from_run, with_term_sessions
from srmsim.calibrate.moments import (
    MOMENT_NAMES,
    MOMENTS,
    MomentSpec,
    bootstrap_moments,
    bootstrap_scale,
    few_school_moments,
    floored_se,
    moment_counts,
    moment_values,
    moments_table,
    skip_undefined,
    student_measures,
)
from srmsim.calibrate.report import RECORDS_FILE
from srmsim.errors import DataError, EstimationError, ScenarioError, SrmsimError
from srmsim.explore.design import MAX_RUNS
from srmsim.labels import agree, check_room_for
from srmsim.outputs import check_inputs_outside, check_out, check_out_of_data
from srmsim.scenario import (
    MAX_YEARS,
    DynamicsConfig,
    PopulationConfig,
    Scenario,
    default_scenario,
)
from srmsim.stats._checks import MAX_COUNT, MAX_REPEATS, whole_number

#: Parameters srmsim knows how to fit: default bounds and the moments that inform each.
KNOWN: dict[str, tuple[float, float, tuple[str, ...]]] = {
    "dynamics.absence_logit": (-6.0, -2.0, ("attendance", "persistent_absence")),
    "dynamics.absence_engagement": (0.0, 4.0, ("attendance_p10", "attendance_p25",
                                               "persistent_absence_fsm", "severe_absence")),
    "dynamics.absence_school_sd": (0.0, 1.0, ("attendance_icc",)),
    "population.attainment_icc": (0.01, 0.6, ("attainment_icc",)),
    "population.reading_gap_mean": (-24.0, 12.0, ("reading_gap_mean",)),
    "population.reading_gap_sd": (2.0, 30.0, ("reading_gap_sd",)),
    "dynamics.attainment_attendance": (0.0, 0.15, ("attainment_attendance_slope",)),
}
DEFAULT_PARAMETERS: tuple[str, ...] = tuple(KNOWN)
METHODS = ("least_squares", "nelder-mead")
#: the calibrated scenario is named after the base one: `<base>_calibrated`
CALIBRATED_SUFFIX = "_calibrated"
_SECTIONS: dict[str, type[BaseModel]] = {"population": PopulationConfig, "dynamics": DynamicsConfig}
_DIFF_STEP = 0.02
#: the report's note when the bootstrap resamples pupils within fixed schools (measured on 60
#: srmsim trusts of 4 schools: tests/test_calibrate_se_review.py)
FIXED_SCHOOLS_NOTE = (
    "standard errors: with fewer than 10 schools the bootstrap resamples pupils within these "
    "schools, leaving out how schools differ (which each simulated trust redraws), so every "
    "standard error is too small: on trusts of 4 schools simulated with a known absence logit, "
    "its se was 0.5-0.6 of the estimates' spread and its 95% intervals (estimate +- 1.96 se) "
    "covered the truth 62-82% of the time (the smaller figures with 20 pupils a year group)")


@dataclass(frozen=True)
class Parameter:
    """A parameter to fit: dotted scenario key and bounds (``informs``: moments that pin it)."""

    name: str
    lower: float
    upper: float
    informs: tuple[str, ...] = ()

    def scale(self, value: float) -> float:
        return (value - self.lower) / (self.upper - self.lower)

    def unscale(self, x: float) -> float:
        return self.lower + float(np.clip(x, 0.0, 1.0)) * (self.upper - self.lower)


def _float_field(name: str) -> None:
    section, _, key = name.partition(".")
    config = _SECTIONS.get(section)
    if config is None or not key or "." in key:
        raise ScenarioError("--params", [(name, "expected population.<key> or dynamics.<key>, "
                                                "e.g. dynamics.absence_logit")])
    info = config.model_fields.get(key)
    if info is None:
        raise ScenarioError("--params", [(name, f"unknown {section} key; every one is in "
                                                "the parameter tables of docs/model.md")])
    if info.annotation is not float:
        raise ScenarioError("--params", [(name, "not a continuous (float) parameter; only "
                                                "those can be fitted")])


def parse_parameters(params: str | Iterable[str | Parameter] | None,
                     base: Scenario | None = None) -> list[Parameter]:
    """Parameters from ``"dynamics.absence_logit=-5:-3,population.reading_gap_mean"`` or a list.

    Known parameters (:data:`KNOWN`) have default bounds; any other float key of ``population``
    or ``dynamics`` needs ``=LOW:HIGH``. Both bounds must give a valid scenario.
    """
    base = base or default_scenario()
    if params is None:
        items: list[str | Parameter] = list(DEFAULT_PARAMETERS)
    elif isinstance(params, str):
        items = [p.strip() for p in params.split(",") if p.strip()]
    else:
        items = list(params)
    out: list[Parameter] = []
    for item in items:
        if isinstance(item, Parameter):
            p = item
            _float_field(p.name)
            # the moments said to pin it decide whether it can be fitted at all: a name that is
            # no moment (or a string, read letter by letter) would drop it from every fit
            informs = p.informs
            unknown = ([m for m in informs if m not in MOMENT_NAMES]
                       if isinstance(informs, tuple | list) else [informs])
            if unknown:
                raise ScenarioError("--params", [(p.name, f"informs: unknown moment(s) "
                                                          f"{', '.join(map(repr, unknown))}; "
                                                          "expected a tuple of moment names")])
        else:
            name, sep, rng = str(item).partition("=")
            name = name.strip()
            _float_field(name)
            known = KNOWN.get(name)
            if sep:
                lo_text, colon, hi_text = rng.partition(":")
                try:
                    lo, hi = float(lo_text), float(hi_text)
                except ValueError:
                    lo = hi = float("nan")
                if not colon or not (math.isfinite(lo) and math.isfinite(hi)):
                    raise ScenarioError("--params", [(name, f"bounds {rng!r}: expected LOW:HIGH, "
                                                            "e.g. -5:-3")])
            elif known is not None:
                lo, hi = known[0], known[1]
            else:
                raise ScenarioError("--params", [(name, "no default bounds for this key; give "
                                                        f"them as {name}=LOW:HIGH")])
            p = Parameter(name, lo, hi, known[2] if known else ())
        if not p.lower < p.upper:
            raise ScenarioError("--params", [(p.name, f"lower bound {p.lower} must be below the "
                                                      f"upper bound {p.upper}")])
        if any(q.name == p.name for q in out):
            raise ScenarioError("--params", [(p.name, "given twice")])
        for bound in (p.lower, p.upper):
            try:
                base.with_overrides({p.name: bound}, "--params")
            except ScenarioError as err:
                raise ScenarioError("--params", [(p.name, f"bound {bound} is not a valid value: "
                                                          f"{err.problems[0][1]}")]) from None
        out.append(p)
    if not out:
        raise ScenarioError("--params", "no parameters to fit")
    return out


def unidentified(jac: np.ndarray, names: Sequence[str]) -> str:
    """The parameters a singular Jacobian (moments x parameters) cannot tell apart, for the
    note: those that weigh in the direction the moments change least along (its last right
    singular vector). One parameter alone: the moments do not move with it; several: one
    offsets the others."""
    _, _, vt = np.linalg.svd(np.nan_to_num(np.asarray(jac, dtype=float)), full_matrices=False)
    weight = np.abs(vt[-1])
    named = [n for n, w in zip(names, weight, strict=True) if w >= 0.25 * weight.max()]
    if len(named) == 1:
        return named[0]
    return ", ".join(named[:-1]) + f" and {named[-1]} together (one offsets the other)"


def _current(base: Scenario, name: str) -> float:
    section, _, key = name.partition(".")
    return float(getattr(getattr(base, section), key))


# --------------------------------------------------------------------------------------------
# the simulator: theta -> simulated moments, with common random numbers


class Simulator:
    """Simulated moments at given parameter values, measured like the data.

    >>> # sim = Simulator(base, spec, seeds=[1, 2]); sim.moments({"dynamics.absence_logit": -4})
    """

    def __init__(self, base: Scenario, spec: MomentSpec, seeds: Sequence[int]):
        self.base = base
        self.spec = spec
        self.seeds = [int(s) for s in seeds]
        self.evaluations = 0
        self.seconds = 0.0

    def scenario(self, values: dict[str, float]) -> Scenario:
        return self.base.with_overrides(dict(values), "calibration")

    def run_moments(self, scenario: Scenario, seed: int) -> np.ndarray:
        """One run, exported and measured; the engine is released so Mesa does not keep it."""
        from srmsim.model import TrustModel

        model = TrustModel(scenario, seed=seed)
        try:
            model.run()
            result = model.results()
        finally:
            model.release()
        students, observations = records_from_run(result, tidy=False)
        if self.spec.attendance_type == "term":  # the export has sessions on week rows only
            observations = with_term_sessions(observations)
        return moment_values(student_measures(students, observations, self.spec), self.spec)

    def moments(self, values: dict[str, float]) -> np.ndarray:
        """Mean simulated moments over the fixed seeds."""
        t0 = time.perf_counter()
        sc = self.scenario(values)
        out = np.mean([self.run_moments(sc, s) for s in self.seeds], axis=0)
        self.evaluations += len(self.seeds)
        self.seconds += time.perf_counter() - t0
        return out


class _Budget(Exception):
    """The evaluation budget is spent."""


def crn_seeds(seed: int, replications: int) -> list[int]:
    """The fixed seed set every evaluation simulates (common random numbers)."""
    if replications < 1:
        raise SrmsimError(f"--replications must be at least 1 (got {replications})")
    children = np.random.SeedSequence(int(seed)).spawn(replications)
    return [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]


def _moment_correlation(reps: np.ndarray) -> np.ndarray:
    """Bootstrap correlation of the moments (each one's variance its floored SE squared): the
    sandwich's meat.

    Moments such as attendance, persistent absence and the attendance quantiles move together;
    treating them as independent would make the standard errors far too small. It is the
    bootstrap *correlation*, so each moment's variance is its floored SE squared, as in the
    weights: the raw covariance over the floored SEs gave a moment whose bootstrap SD is below
    its floor (one that does not vary: every student at 100%) less than its floor's variance,
    down to none, and a parameter fitted to such moments an SE of 0. A moment that does not
    vary in the bootstrap is taken as uncorrelated with the others.
    """
    ok = reps[~np.isnan(reps).any(axis=1)]
    if len(ok) < 3:
        return np.eye(reps.shape[1])
    with np.errstate(divide="ignore", invalid="ignore"):  # a constant moment: NaN, then 0
        corr = np.atleast_2d(np.corrcoef(ok, rowvar=False))
    corr[~np.isfinite(corr)] = 0.0
    np.fill_diagonal(corr, 1.0)
    return corr


# --------------------------------------------------------------------------------------------
# preparing data and base scenario


#: the students' columns a trust built from records reads (:class:`srmsim.records.RecordPopulation`)
SIMULATED_COLUMNS = ("school", "year_group", "sex", "fsm", "sen", "eal")


def _records_without_prior(students_path: Path, out: Path) -> Path:
    """The records copy calibrated.yaml points at: the columns the simulated trust reads and
    no other. Why: the whole students table less prior attainment was copied, names, UPNs,
    dates of birth, addresses and notes with it, into the folder of the fit report the
    owner checks before sharing."""
    df = pd.read_parquet(students_path)
    df = df[[c for c in SIMULATED_COLUMNS if c in df.columns]]
    from srmsim.outputs import write_atomic

    path = out / RECORDS_FILE  # a copy of pupil records: owner-only
    write_atomic(path, lambda tmp: df.to_parquet(tmp, index=False), private=True)
    return path


def _year_groups(students: pd.DataFrame, source: str) -> list[int]:
    if "year_group" not in students.columns:
        extra = (" (anonymise generalised it into year_group_min/max bands; anonymise again "
                 "without year_group in --quasi)" if "year_group_min" in students.columns else "")
        raise DataError(f"{source}: the students table has no year_group{extra}; the simulated "
                        "trust needs each student's year group")
    years = sorted(int(y) for y in students["year_group"].dropna().unique())
    if not years:
        raise DataError(f"{source}: no year_group values in the students table")
    if years != list(range(years[0], years[-1] + 1)):
        raise DataError(f"{source}: year groups {years} are not consecutive; the simulated trust "
                        "needs consecutive year groups (e.g. 7-11)")
    return years


def _prior_share(students: pd.DataFrame) -> float:
    """Share of records whose prior attainment the simulated trust starts from: none when it
    cannot be standardised (:func:`srmsim.records.standardise_prior`: fewer than two distinct
    scores), as the simulation then draws every student's."""
    from srmsim.records import standardise_prior

    if "prior_attainment" not in students.columns or not len(students):
        return 0.0
    prior = pd.to_numeric(students["prior_attainment"], errors="coerce").to_numpy(float)
    return float(np.isfinite(standardise_prior(prior)).mean())


def _withhold(spec: MomentSpec, measures: pd.DataFrame, moments: Sequence[str] | None):
    """Real records: the moments whose counts would give a small count away (withheld from
    the report and the fit). A moment skipped because its group is empty ("no FSM students")
    is kept as a row of the table, withheld like one of a group of 1 to 9 (a missing row, or
    another note, said 0), and asking for a withheld moment is an error: fitting to it would
    reveal it."""
    from srmsim.calibrate.disclosure import one_calendar, population_counts, protect_moments

    for m, why in list(spec.skipped.items()):
        if why in ("no FSM students", "no non-FSM students"):
            del spec.skipped[m]
    withheld = protect_moments(moment_counts(measures), spec.available,
                               population=population_counts(measures),
                               sessions=one_calendar(measures))
    asked = sorted(set(moments or ()) & withheld.moments)
    if asked:
        raise DataError(f"{agree(len(asked), 'moment')} {asked} "
                        f"{agree(len(asked), 'is', 'are')} withheld: on real records a moment "
                        "based on "
                        f"fewer than {withheld.threshold} students, or one that would reveal "
                        "such a count, is neither published nor fitted (its fit would give it "
                        "back)")
    return withheld


def _unavailable(moments: Sequence[str], spec: MomentSpec, withheld: Any) -> str:
    """Why each of ``moments`` is not fitted, moments with one reason together: a moment
    withheld on real records said "not selected", as if the user had left it out."""
    reasons: dict[str, list[str]] = {}
    for m in moments:
        if m in spec.skipped:
            why = spec.skipped[m]
        elif withheld is not None and m in withheld.moments:
            why = withheld.note(m)
        else:
            why = "not among the moments chosen"
        reasons.setdefault(why, []).append(m)
    return "; ".join(f"{', '.join(ms)} ({why})" for why, ms in reasons.items())


def calibrate(
    data: str | Path,
    scenario: Scenario | str | Path | None = None,
    params: str | Iterable[str | Parameter] | None = None,
    seed: int | None = None,
    replications: int = 2,
    max_evals: int = 80,
    method: str = "least_squares",
    moments: Sequence[str] | None = None,
    n_boot: int = 200,
    ignore_prior_attainment: bool = False,
    out: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
):
    """Fit parameters so simulated trusts match the moments of an imported dataset directory.

    ``data``: a dataset directory (``srmsim data import`` / ``anonymise``). ``scenario``: the
    base scenario (object or YAML; default built-in). ``params``: what to fit (default: the
    identifiable ones of :data:`DEFAULT_PARAMETERS`). ``seed``/``replications``: the common
    random numbers (default: the scenario's seed, 2 runs per evaluation). ``max_evals``: the most
    simulations of a parameter set (each of ``replications`` runs). ``moments``: which moments to
    match (default all the data give). ``out``: where to write the report (and, with
    ``ignore_prior_attainment``, the records without prior attainment the population is drawn
    from). Returns a :class:`~srmsim.calibrate.report.CalibrationResult`.
    """
    from srmsim.calibrate.report import REPLACEABLE

    # the Python API's counts and seed, checked as the CLI's types check them: 1.5 replications
    # raised a TypeError deep in numpy, n_boot=10**9 asked for 97 GiB, seed=-1 a ValueError, and
    # seed=1.5 or max_evals=2.5 were silently truncated
    # (their product, the simulated trusts, is capped in _calibrate)
    replications = whole_number(replications, "replications", 1, MAX_COUNT)
    max_evals = whole_number(max_evals, "max_evals", 1, MAX_COUNT)
    n_boot = whole_number(n_boot, "n_boot", 2, MAX_REPEATS)
    if seed is not None:
        seed = whole_number(seed, "seed", 0, 2**63 - 1)
    if isinstance(moments, str):  # as --moments: "a,b" (it was taken letter by letter)
        moments = [m.strip() for m in moments.split(",") if m.strip()]
    if ignore_prior_attainment and out is None:
        raise SrmsimError("ignore_prior_attainment needs out= (a directory for the "
                          "population records without prior attainment)")
    # refused before the fit, not after it; the folder is replaced whole at the end
    if out is not None:
        check_out_of_data(out, data)
        check_inputs_outside(out, [p for p in (data, scenario) if isinstance(p, str | Path)])
    final = check_out(out, REPLACEABLE) if out is not None else None
    stage = None
    try:
        if ignore_prior_attainment and final is not None:  # owner-only, beside the result
            final.parent.mkdir(parents=True, exist_ok=True)
            stage = Path(tempfile.mkdtemp(prefix=f".{final.name}.records-", dir=final.parent))
        result = _calibrate(data, scenario, params, seed, replications, max_evals, method,
                            moments, n_boot, final, stage, progress)
        if final is not None:
            result.write(final, staged=stage)
        return result
    finally:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)


def _calibrate(data: str | Path, scenario: Scenario | str | Path | None,
               params: str | Iterable[str | Parameter] | None, seed: int | None,
               replications: int, max_evals: int, method: str, moments: Sequence[str] | None,
               n_boot: int, final: Path | None, stage: Path | None,
               progress: Callable[[str], None] | None):
    """:func:`calibrate` into the folder ``final``; with ``stage``, the records without prior
    attainment are written there and the calibrated scenario points at their final place."""
    from srmsim.calibrate.report import CalibrationResult
    from srmsim.data.dataset import read_dataset
    from srmsim.scenario import NO_FILE_HINT, load_scenario

    say = progress or (lambda msg: None)
    if method not in METHODS:
        raise SrmsimError(f"--method {method!r}: expected one of {list(METHODS)}")
    if max_evals < 1:
        raise SrmsimError(f"--max-evals must be at least 1 (got {max_evals})")
    if replications < 1:
        raise SrmsimError(f"--replications must be at least 1 (got {replications})")
    if replications * max_evals > MAX_RUNS:  # 10**9 replications filled memory with seeds
        raise SrmsimError(f"--replications {replications:,} x --max-evals {max_evals:,}: up to "
                          f"{replications * max_evals:,} simulated trusts, more than {MAX_RUNS:,};"
                          " use fewer")
    if moments is not None and not list(moments):
        raise SrmsimError("--moments: no moments given (leave it out to match all the data "
                          "give)")
    unknown = [m for m in (moments or []) if m not in MOMENT_NAMES]
    if unknown:
        raise SrmsimError(f"--moments: unknown {agree(len(unknown), 'moment')} {unknown}; "
                          "expected some of "
                          f"{list(MOMENT_NAMES)}")
    twice = sorted(m for m, n in Counter(moments or ()).items() if n > 1)
    if twice:  # a repeated moment counted twice in the objective and in "enough moments"
        raise SrmsimError(f"--moments: {agree(len(twice), 'moment')} {twice} given twice")
    base = (default_scenario() if scenario is None else
            scenario if isinstance(scenario, Scenario)
            else load_scenario(scenario, empty_hint=NO_FILE_HINT))
    try:  # checked before the fit, not when the result is built after it
        check_room_for(base.name, (CALIBRATED_SUFFIX,))
    except ValueError as err:
        where = str(scenario) if isinstance(scenario, str | Path) else "scenario"
        raise ScenarioError(where, [("name", str(err))]) from None
    data = Path(data)
    ds = read_dataset(data)
    chosen = parse_parameters(params, base)
    year_groups = _year_groups(ds.students, str(data))
    notes: list[str] = []

    # --- what the data can say
    spec = MomentSpec.from_data(ds.students, ds.observations)
    measures = student_measures(ds.students, ds.observations, spec)
    real = bool(ds.meta["real_data"])  # checked by read_dataset: only public data are not
    if real:
        from srmsim.data.describe import check_counts_allowed

        check_counts_allowed(data, "calibrate", ds.meta)  # recorded after the fit
    withheld = _withhold(spec, measures, moments) if real else None  # before the table: it
    skip_undefined(spec, moment_values(measures, spec),  # (no constant moment is fitted)
                   withheld.moments if withheld is not None else frozenset())
    target_table = moments_table(measures, spec)  # keeps the rows of empty groups on records
    target = target_table["value"].to_numpy(float)
    available = [m for m in spec.available if withheld is None or m not in withheld.moments]
    used = list(moments or available)
    unusable = [m for m in used if m in spec.skipped or np.isnan(target[MOMENT_NAMES.index(m)])]
    if unusable:
        raise DataError(f"{data}: {agree(len(unusable), 'moment')} {unusable} cannot be "
                        "computed from these "
                        "data: "
                        + "; ".join(f"{m}: {spec.skipped.get(m, 'no value')}" for m in unusable))
    for m, why in spec.skipped.items():
        notes.append(f"moment {m} skipped: {why}")

    # --- the parameters
    prior_share = _prior_share(ds.students)
    ignore_prior_attainment = stage is not None
    prior_used = prior_share >= 0.5 and not ignore_prior_attainment
    explicit = params is not None
    fit_params: list[Parameter] = []
    for p in chosen:
        reason = ""
        if p.name == "population.attainment_icc" and prior_used:
            given = "at least half of the" if real else f"{prior_share:.0%} of"
            reason = (f"the records give prior attainment for {given} students, and "
                      "the simulation starts each of them at it, so attainment_icc has almost "
                      "no effect (it only sets how far each school's effect, read from the "
                      "records, is shrunk; use ignore_prior_attainment / "
                      "--ignore-prior-attainment to fit it)")
        elif p.informs and not set(p.informs) & set(used):
            reason = ("none of the moments that inform it is available: "
                      + _unavailable(p.informs, spec, withheld))
        if reason and explicit:
            raise DataError(f"{data}: cannot fit {p.name}: {reason}")
        if reason:
            notes.append(f"{p.name} not fitted: {reason}")
        else:
            fit_params.append(p)
    if not fit_params:  # each one's reason: a withheld moment is not otherwise told
        reasons = [n.replace(" not fitted: ", ": ", 1) for n in notes if " not fitted: " in n]
        raise DataError(f"{data}: none of the parameters can be fitted from these data"
                        + "".join(f"\n{w}" for w in reasons))
    if len(used) < len(fit_params):
        raise DataError(f"{data}: {len(fit_params)} parameters but only {len(used)} moments; "
                        "fit fewer parameters")

    reps, boot_method = bootstrap_moments(measures, spec, n_boot=n_boot, seed=0)
    se = floored_se(reps, bootstrap_scale(measures, boot_method))
    few = [m for m in few_school_moments(measures, boot_method) if m in used]
    if boot_method == "students":
        notes.append(FIXED_SCHOOLS_NOTE)
    elif few:
        notes.append(f"standard errors of {', '.join(few)}: {agree(len(few), 'its', 'their')} "
                     "students are in one or two schools, so the bootstrap resamples them "
                     "within those schools, as in a trust of fewer than 10 schools, and "
                     f"{agree(len(few), 'its SE leaves', 'their SEs leave')} out how schools "
                     "differ (too small)")

    # --- the simulated trust: records population, the data's year groups and span
    records_path = sim_records = (data / "students.parquet").resolve()
    if stage is not None and final is not None:
        sim_records = _records_without_prior(records_path, stage)
        records_path = final / sim_records.name  # where write() puts it
        notes.append("prior attainment ignored: the population is drawn from "
                     f"{records_path.name} (the students table without prior_attainment)")
    elif prior_used:
        share = "at least half of the records have one" if real else \
            f"{prior_share:.0%} of records have one"
        notes.append(f"each simulated student starts at their recorded prior attainment "
                     f"({share}), standardised within the trust; "
                     "each school's attainment effect is read from the records; engagement "
                     "and wellbeing are drawn conditionally on it, and "
                     "population.attainment_icc has almost no effect on these students")
    years = max(1, -(-spec.weeks_needed // calendar.WEEKS_PER_YEAR))
    if years > MAX_YEARS:  # one stray date (1900-01-01) numbers every other week from it
        raise DataError(f"{data}: the observations' periods reach week {spec.weeks_needed}, "
                        f"{years} school years (a simulation runs at most {MAX_YEARS}); is a "
                        "period or period_start far from the others? (the import's note says "
                        "where week 1 starts)")
    sim_base = base.with_overrides({
        "population.records": str(sim_records), "outputs.history": "all", "years": years,
        "trust.year_groups": year_groups,
        "trust.n_schools": int(ds.students["school"].nunique()),
    }, "calibration")
    if base.policy is not None:
        notes.append(f"the base scenario's policy ({base.name}) runs in every simulation: the "
                     "data are taken to have been collected under it")
    seed = base.seed if seed is None else int(seed)
    seeds = crn_seeds(seed, replications)
    sim = Simulator(sim_base, spec, seeds)
    idx = np.array([MOMENT_NAMES.index(m) for m in used])

    start = {p.name: float(np.clip(_current(base, p.name), p.lower, p.upper)) for p in fit_params}
    cache: dict[tuple[float, ...], np.ndarray] = {}
    best: dict[str, Any] = {"x": None, "f": np.inf}
    budget = {"limit": max_evals}  # the search's budget; the standard errors may add k more

    def theta(x: np.ndarray) -> dict[str, float]:
        return {p.name: p.unscale(v) for p, v in zip(fit_params, x, strict=True)}

    def simulated(x: np.ndarray) -> np.ndarray:
        x = np.clip(np.asarray(x, float), 0.0, 1.0)
        key = tuple(np.round(x, 12))
        if key not in cache:
            if len(cache) >= budget["limit"]:
                raise _Budget
            m = sim.moments(theta(x))
            bad = [MOMENT_NAMES[i] for i in idx if np.isnan(m[i])]
            if bad:
                raise EstimationError(f"simulated {agree(len(bad), 'moment')} {bad} could not "
                                      "be computed at "
                                      f"{theta(x)}; narrow the bounds")
            cache[key] = m
            r = (m[idx] - target[idx]) / se[idx]
            f = float(r @ r)
            if f < best["f"]:
                best.update(x=x.copy(), f=f)
            say(f"evaluation {len(cache)}: objective {f:.3f} at "
                + ", ".join(f"{k.split('.')[-1]}={v:.4g}" for k, v in theta(x).items()))
        return cache[key]

    def residuals(x: np.ndarray) -> np.ndarray:
        return (simulated(x)[idx] - target[idx]) / se[idx]

    x0 = np.array([p.scale(start[p.name]) for p in fit_params])
    t0 = time.perf_counter()
    start_objective = float(residuals(x0) @ residuals(x0))
    jac = None
    status = {"success": False, "message": "", "budget_exhausted": False}
    try:
        if method == "least_squares":
            res = optimize.least_squares(residuals, x0, bounds=(0.0, 1.0), diff_step=_DIFF_STEP,
                                         method="trf", x_scale=1.0, xtol=1e-4, ftol=1e-6,
                                         max_nfev=10 * max_evals)
            status.update(success=bool(res.success), message=str(res.message))
            if best["x"] is not None and np.allclose(res.x, best["x"]):
                jac = res.jac
        else:
            k = len(x0)
            simplex = np.vstack([x0] + [x0 + np.where(np.eye(k)[i] > 0,
                                                      np.where(x0[i] > 0.85, -0.15, 0.15), 0.0)
                                        for i in range(k)])
            res = optimize.minimize(lambda x: float(residuals(x) @ residuals(x)), x0,
                                    method="Nelder-Mead", bounds=[(0.0, 1.0)] * k,
                                    options={"initial_simplex": simplex, "xatol": 2e-3,
                                             "fatol": 1e-3, "maxfev": 10 * max_evals})
            status.update(success=bool(res.success), message=str(res.message))
    except _Budget:
        status.update(success=False, budget_exhausted=True,
                      message=f"stopped after {max_evals} evaluations (--max-evals); the best "
                              "point found is reported")
    x_best = best["x"]
    simulated_best = cache[tuple(np.round(x_best, 12))]
    search_evaluations = len(cache)
    objective = float(best["f"])

    # --- approximate standard errors from the Jacobian at the estimate
    se_params = np.full(len(fit_params), np.nan)
    budget["limit"] = len(cache) + len(fit_params)
    if jac is None:
        try:
            r0 = residuals(x_best)
            cols = []
            for j in range(len(x_best)):
                h = _DIFF_STEP if x_best[j] + _DIFF_STEP <= 1.0 else -_DIFF_STEP
                x1 = x_best.copy()
                x1[j] += h
                cols.append((residuals(x1) - r0) / h)
            jac = np.column_stack(cols)
        except _Budget:  # pragma: no cover - the limit above leaves room for k evaluations
            notes.append("no standard errors: the Jacobian could not be simulated")
    if jac is not None:
        jtj = jac.T @ jac
        if np.linalg.cond(jtj) < 1e12:
            bread = np.linalg.inv(jtj)
            corr = _moment_correlation(reps[:, idx])
            cov = (1.0 + 1.0 / len(seeds)) * bread @ jac.T @ corr @ jac @ bread
            se_params = np.sqrt(np.clip(np.diag(cov), 0, None)) * np.array(
                [p.upper - p.lower for p in fit_params])
        else:
            notes.append("no standard errors: the moments barely change with "
                         + unidentified(jac, [p.name for p in fit_params])
                         + " (singular Jacobian), so it is not identified by these moments")

    estimates = pd.DataFrame({
        "parameter": [p.name for p in fit_params],
        "start": [start[p.name] for p in fit_params],
        "estimate": [p.unscale(v) for p, v in zip(fit_params, x_best, strict=True)],
        "se": se_params,
        "lower": [p.lower for p in fit_params],
        "upper": [p.upper for p in fit_params],
        "at_bound": [bool(v < 1e-3 or v > 1 - 1e-3) for v in x_best],
    })
    for row in estimates.itertuples():
        if row.at_bound:
            notes.append(f"{row.parameter} ended at a bound ({row.estimate:.4g}); widen its "
                         "bounds or check the moments that inform it")

    fit = target_table.rename(columns={"value": "target"})
    fit.insert(2, "simulated", simulated_best)
    fit.insert(3, "difference", simulated_best - target)
    fit.insert(4, "se", se)
    tolerance = 2.0 * se * math.sqrt(1.0 + 1.0 / len(seeds))
    fit.insert(5, "tolerance", tolerance)
    fit.insert(6, "within", np.abs(simulated_best - target) <= tolerance)
    fit.insert(7, "used", [m in used for m in MOMENT_NAMES])
    fit = fit[~fit["skipped"].astype(bool)].drop(columns=["skipped"]).reset_index(drop=True)
    far = fit.loc[fit["used"] & (fit["difference"].abs() > 2 * fit["tolerance"]), "moment"]
    if len(far):  # (a fit "3 of 6 within tolerance" hid that its absence moments were out of reach)
        them = agree(len(far), "it", "them")
        why = (f": the simulator does not reproduce {them} within the parameters' ranges (or "
               f"only at the cost of other moments), so the estimates fitted to {them} describe "
               "the nearest it gets, not these data" if status["success"] else
               " where the fit stopped, before it converged: more --max-evals may bring "
               f"{them} closer")
        notes.append(f"{', '.join(far)} {agree(len(far), 'is', 'are')} missed by more than "
                     f"twice the tolerance{why}")

    calibrated = base.with_overrides({
        **{r.parameter: float(r.estimate) for r in estimates.itertuples()},
        "name": base.name + CALIBRATED_SUFFIX,
        "population.records": str(records_path),
        "trust.year_groups": sim_base.trust.year_groups,
        "trust.n_schools": sim_base.trust.n_schools,
    }, "calibration")
    optimiser = {
        "method": method, "success": status["success"], "message": status["message"],
        "budget_exhausted": status["budget_exhausted"], "evaluations": search_evaluations,
        "se_evaluations": len(cache) - search_evaluations,
        "simulations": sim.evaluations, "max_evals": max_evals,
        "objective": objective, "start_objective": start_objective,
        "seed": seed, "seeds": seeds, "replications": len(seeds), "years_simulated": years,
        "bootstrap": {"method": boot_method, "replications": n_boot},
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if real:  # before anything is written or printed: a copy made after it is bound
        from srmsim.data.describe import record_counts

        record_counts(data, "calibrate", ds.meta)
    result = CalibrationResult(
        data=str(data.resolve()), scenario=calibrated, base=base, estimates=estimates, fit=fit,
        spec=spec, optimiser=optimiser, notes=notes, records_path=str(records_path),
        real_data=real, moments_used=list(used), withheld=withheld)
    return result


__all__ = ["DEFAULT_PARAMETERS", "KNOWN", "METHODS", "MOMENTS", "Parameter", "Simulator",
           "calibrate", "crn_seeds", "parse_parameters"]
