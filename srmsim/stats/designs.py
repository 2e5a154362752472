"""Minimum detectable effect sizes and power for trial designs, matching PowerUp! (Dong & Maynard).

Why PowerUp!: it is what education trialists (EEF, IES) quote, so srmsim's numbers must agree with
it to the fourth decimal (PowerUp!'s published examples are the tests). Designs, as PowerUp! names
them:

``"individual"`` (IRA, IRA1r1): students randomised; parameters n (total), p, r2 (R^2 of covariates), g1.
    df = n - g1 - 2; SE = sqrt((1 - r2) / (p (1-p) n)).
``"cluster2"`` (CRA2_2r): schools randomised, students within; rho, n (per school), J (schools),
    p, r2_level1, r2_level2, g2. df = J - g2 - 2;
    SE = sqrt(rho (1 - r2_level2) / (p(1-p) J) + (1 - rho)(1 - r2_level1) / (p(1-p) J n)).
``"blocked_individual"`` (BIRA2_1f): students randomised within J blocks (e.g. schools) with block
    fixed effects; n (per block), J, p, r2_level1, g1. df = J (n - 2) - g1;
    SE = sqrt((1 - r2_level1) / (p(1-p) J n)).
``"blocked_cluster3_fixed"`` (BCRA3_2f): schools randomised within K fixed blocks (e.g. trusts
    or areas); rho2, n, J (schools per block), K, p, r2_level1, r2_level2, g2.
    df = K (J - 2) - g2; SE = sqrt(rho2 (1 - r2_level2) / (p(1-p) J K)
    + (1 - rho2)(1 - r2_level1) / (p(1-p) J K n)).

MDES = M * SE with M = t(1 - alpha/tails, df) + t(power, df); its interval, as PowerUp! reports
it, is MDES -/+ t(1 - alpha/tails, df) * SE. Power at an effect uses the noncentral t with
ncp = effect / SE.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field

from scipy import stats as sps

from srmsim.errors import DataError, EstimationError, SrmsimError
from srmsim.labels import agree, given_percent

from . import _checks as ck

_ALIASES = {
    "individual": "individual",
    "ira": "individual",
    "ira1r1": "individual",
    "ira_1r": "individual",
    "n_ira": "individual",
    "cluster2": "cluster2",
    "cra2": "cluster2",
    "cra2_2": "cluster2",
    "cra2r2": "cluster2",
    "cra2_2r": "cluster2",
    "blocked_individual": "blocked_individual",
    "bira2": "blocked_individual",
    "bira2f1": "blocked_individual",
    "bira2_1f": "blocked_individual",
    "blocked_cluster3_fixed": "blocked_cluster3_fixed",
    "bcra3f2": "blocked_cluster3_fixed",
    "bcra3_2f": "blocked_cluster3_fixed",
}
"""Every spelling of the supported designs: PowerUp!'s sheet names (IRA, BIRA2_1f, CRA2_2r,
BCRA3_2f) and PowerUpR's function names (ira / ira1r1, bira2f1, cra2r2, bcra3f2), any case,
with or without PowerUpR's ``mdes.`` / ``power.`` prefix. PowerUp!'s other designs (random-block
BIRA2_1r, CRA3_3r, BCRA3_2r, ...) are not implemented and are refused by name."""

_NOT_IMPLEMENTED = ("bira2_1c", "bira2_1r", "bira3_1r", "bira4_1r", "cra3_3r", "cra4_4r",
                    "bcra3_2r", "bcra4_2r", "bcra4_3f", "bcra4_3r", "bira2c1", "bira2r1",
                    "bira3r1", "bira4r1", "cra3r3", "cra4r4", "bcra3r2", "bcra4r2", "bcra4f3",
                    "bcra4r3")

# parameter name -> (default, kind); kind: "prob" in (0,1), "r2" in [0,1), "rho" in [0,1),
# "count" a whole number >= 1 (students, clusters, blocks), "size" an average count >= 1
# (students per cluster, schools per block), "cov" non-negative integer; default None = required.
_PARAMS: dict[str, dict[str, tuple[float | None, str]]] = {
    "individual": {"n": (None, "count"), "p": (0.5, "prob"), "r2": (0.0, "r2"), "g1": (0, "cov")},
    "cluster2": {
        "rho": (None, "rho"),
        "n": (None, "size"),
        "J": (None, "count"),
        "p": (0.5, "prob"),
        "r2_level1": (0.0, "r2"),
        "r2_level2": (0.0, "r2"),
        "g2": (0, "cov"),
    },
    "blocked_individual": {
        "n": (None, "size"),
        "J": (None, "count"),
        "p": (0.5, "prob"),
        "r2_level1": (0.0, "r2"),
        "g1": (0, "cov"),
    },
    "blocked_cluster3_fixed": {
        "rho2": (None, "rho"),
        "n": (None, "size"),
        "J": (None, "size"),
        "K": (None, "count"),
        "p": (0.5, "prob"),
        "r2_level1": (0.0, "r2"),
        "r2_level2": (0.0, "r2"),
        "g2": (0, "cov"),
    },
}


def design_name(design: str) -> str:
    """Canonical design name; PowerUp! abbreviations (ira, cra2_2, bcra3f2, ...) are accepted."""
    key = str(design).strip().lower()
    for prefix in ("mdes.", "power."):
        key = key.removeprefix(prefix)
    if key in _NOT_IMPLEMENTED:
        raise SrmsimError(
            f"PowerUp! design {design!r} is not implemented in srmsim; supported: IRA, "
            "BIRA2_1f, CRA2_2r, BCRA3_2f (or use simulated_power for any design)"
        )
    if key not in _ALIASES:
        raise SrmsimError(
            f"unknown design {design!r}; known designs: {', '.join(sorted(_PARAMS))} "
            f"(aliases: {', '.join(k for k in sorted(_ALIASES) if k not in _PARAMS)})"
        )
    return _ALIASES[key]


def _parameters(design: str, given: dict[str, float]) -> dict[str, float]:
    spec = _PARAMS[design]
    unknown = sorted(set(given) - set(spec))
    if unknown:
        raise SrmsimError(
            f"design {design!r} has no {agree(len(unknown), 'parameter')} {', '.join(unknown)}; "
            f"its parameters are {', '.join(spec)}"
        )
    out: dict[str, float] = {}
    for name, (default, kind) in spec.items():
        value = given.get(name, default)
        if value is None:
            raise SrmsimError(f"design {design!r} needs parameter {name!r}")
        value = ck.finite_number(value, f"parameter {name}")
        ok = {
            "prob": 0 < value < 1,
            "r2": 0 <= value < 1,
            "rho": 0 <= value < 1,
            "count": 1 <= value <= ck.MAX_COUNT and value.is_integer(),
            "size": 1 <= value <= ck.MAX_COUNT,
            "cov": 0 <= value <= ck.MAX_COUNT and value.is_integer(),
        }[kind]
        if not ok:
            rule = {
                "prob": "strictly between 0 and 1",
                "r2": "in [0, 1)",
                "rho": "in [0, 1)",
                "count": "a whole number from 1 to 2**53 (students and clusters are counted)",
                "size": "an average count from 1 to 2**53",
                "cov": "a whole number from 0 to 2**53",
            }[kind]
            raise DataError(f"parameter {name}={value!r} must be {rule} (design {design!r})")
        out[name] = value
    return out


def _se_df(design: str, q: dict[str, float]) -> tuple[float, float]:
    p = q["p"]
    pq = p * (1 - p)
    if design == "individual":
        df = q["n"] - q["g1"] - 2
        se = math.sqrt((1 - q["r2"]) / (pq * q["n"]))
    elif design == "cluster2":
        df = q["J"] - q["g2"] - 2
        se = math.sqrt(
            q["rho"] * (1 - q["r2_level2"]) / (pq * q["J"])
            + (1 - q["rho"]) * (1 - q["r2_level1"]) / (pq * q["J"] * q["n"])
        )
    elif design == "blocked_individual":
        df = q["J"] * (q["n"] - 2) - q["g1"]
        se = math.sqrt((1 - q["r2_level1"]) / (pq * q["J"] * q["n"]))
    else:
        jk = q["J"] * q["K"]
        df = q["K"] * (q["J"] - 2) - q["g2"]
        se = math.sqrt(
            q["rho2"] * (1 - q["r2_level2"]) / (pq * jk)
            + (1 - q["rho2"]) * (1 - q["r2_level1"]) / (pq * jk * q["n"])
        )
    if df < 1:
        raise SrmsimError(
            f"design {design!r} leaves {df:g} degrees of freedom; add clusters/students or "
            "fewer covariates"
        )
    if not math.isfinite(se):  # e.g. p = 1e-320: p(1-p) n underflows to 0
        raise DataError(f"design {design!r}: the standard error overflows (p={p!r}); "
                        "p, the share treated, is too close to 0 or 1")
    return se, df


@dataclass(frozen=True)
class DesignResult:
    """MDES or power of a design, with the SE and df that produced it (PowerUp! conventions)."""

    design: str
    se: float
    df: float
    alpha: float
    tails: int
    power: float
    mdes: float
    ci_low: float
    ci_high: float
    effect: float | None = None
    ncp: float | None = None
    parameters: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def exact_power(self) -> float:
        """The noncentral t's power at the MDES (an MDES result): PowerUp!'s multiplier
        t(1 - alpha/tails, df) + t(power, df) gives 0.766 rather than 0.80 at 2 df, 0.791 at 4,
        within 0.001 from 10."""
        return _power_of(self.mdes, self.se, self.df, self.alpha, self.tails)[0]

    def summary(self) -> str:
        """A short readable account, like statsmodels' results: what, then the numbers."""
        tails = "two-sided" if self.tails == 2 else "one-sided"
        params = ", ".join(f"{k}={v:g}" for k, v in self.parameters.items()
                           if isinstance(v, int | float))
        if self.effect is None:
            lines = [f"Minimum detectable effect size, design {self.design}",
                     f"  MDES:        {self.mdes:.3f} SD (outcome standard deviations)",
                     # PowerUp!'s interval: the CI an estimate equal to the MDES would get
                     f"  {given_percent(1 - 2 * self.alpha / self.tails) + ' CI:':<13}{self.ci_low:.3f} to "
                     f"{self.ci_high:.3f} SD (of an estimate equal to the MDES)",
                     f"  at power {self.power:.2f}, alpha {self.alpha:g} ({tails})"]
            exact = self.exact_power()
            if abs(exact - self.power) >= 0.005:  # PowerUp!'s multiplier, loose at few df
                q = "alpha/2" if self.tails == 2 else "alpha"
                lines += [f"  note:        power is {exact:.3f} at this MDES by the noncentral t "
                          f"(df {self.df:g}):",
                          f"               PowerUp!'s t(1 - {q}, df) + t(power, df) approximates it"]
        else:
            lines = [f"Power, design {self.design}",
                     f"  power:       {self.power:.3f} to detect {self.effect:g} SD",
                     f"  alpha {self.alpha:g} ({tails}), noncentrality {self.ncp:.3f}"]
        lines += [f"  SE:          {self.se:.4f} SD, df {self.df:g}", f"  design:      {params}"]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


_NCP_LIMIT = 1e6
"""Beyond this |effect / SE| scipy's noncentral t returns NaN (from about 1e12) or fails to
converge; there the normal part of T = (Z + ncp) / sqrt(V / df) is negligible (relative size
1/ncp) and power is P(V < df (ncp / t1)^2), a chi-square probability."""


def _check_common(alpha: object, tails: object) -> tuple[float, int]:
    """alpha and tails as numbers; tails=True (a bool is an int) is refused, not read as 1."""
    alpha = ck.check_alpha(alpha)
    if isinstance(tails, bool) or tails not in (1, 2):
        raise SrmsimError(f"tails must be 1 or 2, got {tails!r}")
    return alpha, int(tails)


def _finite_result(what: str, *values: float) -> None:
    """A quantile or tail probability out of scipy's range is an error, never an inf or NaN."""
    if not all(math.isfinite(v) for v in values):
        raise EstimationError(
            f"{what} cannot be computed in double precision for these inputs (got "
            f"{', '.join(f'{v:g}' for v in values)}); use a less extreme alpha, power or effect"
        )


def _power_at(t1: float, df: float, ncp: float, tails: int) -> float:
    """Noncentral-t power; NaN when scipy warns its series did not converge (not trusted).

    The lower tail P(T < -t1) is taken as P(-T > t1), -T being noncentral t with -ncp:
    scipy's ``nct.cdf(-t1, df, ncp)`` returns NaN, silently, for many ordinary designs with
    ncp from about 8 (power("blocked_individual", 0.74, n=146, J=4) was refused as "cannot be
    computed in double precision"), where ``nct.sf(t1, df, -ncp)`` gives the same value (to
    the last digit wherever both are finite) or its true size, below 1e-16.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        upper = float(sps.nct.sf(t1, df, ncp))
        lower = float(sps.nct.sf(t1, df, -ncp)) if tails == 2 else 0.0
    if any(issubclass(w.category, RuntimeWarning) for w in caught):
        return math.nan
    return upper + lower


def _check_power(power: object, alpha: float, tails: int) -> float:
    power = ck.finite_number(power, "power")
    if not 0 < power < 1:
        raise SrmsimError(f"power={power!r} must lie strictly between 0 and 1")
    if power <= alpha / tails:
        raise DataError(
            f"power={power!r} must exceed alpha/tails = {alpha / tails:g}: a test rejects that "
            "often with no effect at all, so the MDES would be 0 or negative"
        )
    return power


def _check_se_df(se: object, df: object) -> tuple[float, float]:
    """A standard error (finite, > 0) and degrees of freedom (> 0, inf for a normal test)."""
    se = ck.finite_number(se, "se")
    if not se > 0:
        raise DataError(f"se={se!r} must be above 0 (an estimate with no spread has no MDES)")
    if isinstance(df, bool) or not isinstance(df, int | float) or math.isnan(df) or not df > 0:
        raise DataError(f"df={df!r} must be a number above 0 (inf for a normal reference)")
    return se, float(df)


def _mdes_at(se: float, df: float, alpha: float, power: float, tails: int
             ) -> tuple[float, float]:
    """(MDES, t1): M * SE with M = t(1 - alpha/tails, df) + t(power, df)."""
    t1 = float(sps.t.isf(alpha / tails, df))  # isf, not ppf(1 - alpha): finite for tiny alpha
    t2 = float(sps.t.ppf(power, df))
    m = (t1 + t2) * se
    _finite_result("the MDES", t1, t2, m, m - t1 * se, m + t1 * se)
    return m, t1


def _power_of(effect: float, se: float, df: float, alpha: float, tails: int
              ) -> tuple[float, float]:
    """(power, ncp) of the t test at ``effect`` for an estimate with SE ``se`` on ``df``."""
    ncp = effect / se
    t1 = float(sps.t.isf(alpha / tails, df))
    _finite_result("the critical value", t1)
    if abs(ncp) <= _NCP_LIMIT:
        pw = _power_at(t1, df, ncp, tails)
    elif ncp < 0 and tails == 1:  # rejecting in the upper tail needs Z > |ncp| >= 1e6
        pw = 0.0
    elif t1 <= 0:  # alpha >= 0.5 one-sided: the threshold is at or below 0
        pw = 1.0
    elif math.isinf(df):  # the normal test: V / df is exactly 1
        pw = 1.0
    else:
        ratio = abs(ncp) / t1
        pw = float(sps.chi2.cdf(df * ratio * ratio, df))  # inf (overflow) gives 1
    _finite_result(f"power at effect {effect:g} (noncentrality {ncp:g}, df {df:g})", pw)
    return min(1.0, max(0.0, pw)), ncp  # sf + cdf can round to 1 + 1e-16


def mdes_from_se(se: float, df: float, alpha: float = 0.05, power: float = 0.8, *,
                 tails: int = 2) -> float:
    """MDES of any estimate whose standard error ``se`` and degrees of freedom ``df`` are
    known (measured in a simulation, say), in the unit of ``se``: the same formula as
    :func:`mdes`, for designs PowerUp! has no sheet for (a trial's CR2 analysis, a stepped
    wedge).

    >>> round(mdes_from_se(0.212289, 18), 6)  # mdes("cluster2", rho=0.17, n=15, J=20)
    0.629006
    """
    alpha, tails = _check_common(alpha, tails)
    power = _check_power(power, alpha, tails)
    se, df = _check_se_df(se, df)
    return _mdes_at(se, df, alpha, power, tails)[0]


def power_from_se(effect: float, se: float, df: float, alpha: float = 0.05, *,
                  tails: int = 2) -> float:
    """Power to detect ``effect`` (the unit of ``se``) for an estimate with standard error
    ``se`` on ``df`` degrees of freedom: :func:`power`'s noncentral t, for any design.

    >>> round(power_from_se(0.25, 0.25 / 1.0, 1e9), 4)  # ncp 1: about the normal's 0.17
    0.1701
    """
    alpha, tails = _check_common(alpha, tails)
    se, df = _check_se_df(se, df)
    effect = ck.finite_number(effect, "effect")
    return _power_of(effect, se, df, alpha, tails)[0]


def mdes(
    design: str, alpha: float = 0.05, power: float = 0.8, *, tails: int = 2, **parameters: float
) -> DesignResult:
    """Minimum detectable effect size (in outcome SDs) and its PowerUp! interval.

    >>> r = mdes("cluster2", rho=0.17, n=15, J=20)
    >>> round(r.mdes, 6), round(r.se, 6), r.df
    (0.629006, 0.212289, 18.0)
    """
    name = design_name(design)
    alpha, tails = _check_common(alpha, tails)
    power = _check_power(power, alpha, tails)
    q = _parameters(name, parameters)
    se, df = _se_df(name, q)
    m, t1 = _mdes_at(se, df, alpha, power, tails)
    return DesignResult(name, se, df, alpha, tails, power, m, m - t1 * se, m + t1 * se, None, None, q)


def power(
    design: str, effect: float, alpha: float = 0.05, *, tails: int = 2, **parameters: float
) -> DesignResult:
    """Power to detect ``effect`` (outcome SDs): noncentral t with ncp = effect / SE.

    >>> round(power("cluster2", 0.25, rho=0.2, n=20, J=40).power, 6)
    0.349599
    """
    name = design_name(design)
    alpha, tails = _check_common(alpha, tails)
    q = _parameters(name, parameters)
    se, df = _se_df(name, q)
    effect = ck.finite_number(effect, "effect")
    pw, ncp = _power_of(effect, se, df, alpha, tails)
    return DesignResult(
        name, se, df, alpha, tails, pw, math.nan, math.nan, math.nan, effect, ncp, q
    )


def design_effect(m: float, rho: float, cv: float = 0.0) -> float:
    """Variance inflation of clustering: 1 + rho ((m - 1) + m cv^2).

    ``m`` is the mean cluster size and ``cv`` the coefficient of variation of cluster sizes
    (Eldridge et al. 2006); with equal sizes this is Kish's 1 + (m - 1) rho. Take cv's SD over
    the clusters with divisor k, the number of clusters (numpy's ``std()``): then
    m (1 + cv^2) = sum m_i^2 / sum m_i and this is exactly Kerry & Bland's (2001) design effect
    1 + (sum m_i^2 / sum m_i - 1) rho for a size-weighted analysis; the sample SD (divisor
    k - 1) overstates it slightly with few clusters.
    """
    m = ck.finite_number(m, "cluster size m")
    rho, cv = ck.finite_number(rho, "rho"), ck.finite_number(cv, "cv")
    if m < 1:
        raise SrmsimError(f"cluster size m={m!r} must be at least 1")
    if not 0 <= rho <= 1:
        raise SrmsimError(f"rho={rho!r} must be in [0, 1]")
    if cv < 0:
        raise SrmsimError(f"cv={cv!r} must be non-negative")
    deff = 1 + rho * ((m - 1) + m * cv * cv)  # cv**2 raises OverflowError, cv * cv is inf
    if not math.isfinite(deff):
        raise DataError(f"design effect overflows (m={m!r}, cv={cv!r}): m and cv are too large")
    return deff
