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
from dataclasses import asdict, dataclass, field

from scipy import stats as sps

from srmsim.errors import SrmsimError

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
# "count" positive, "covariates" non-negative integer; default None = required.
_PARAMS: dict[str, dict[str, tuple[float | None, str]]] = {
    "individual": {"n": (None, "count"), "p": (0.5, "prob"), "r2": (0.0, "r2"), "g1": (0, "cov")},
    "cluster2": {
        "rho": (None, "rho"),
        "n": (None, "count"),
        "J": (None, "count"),
        "p": (0.5, "prob"),
        "r2_level1": (0.0, "r2"),
        "r2_level2": (0.0, "r2"),
        "g2": (0, "cov"),
    },
    "blocked_individual": {
        "n": (None, "count"),
        "J": (None, "count"),
        "p": (0.5, "prob"),
        "r2_level1": (0.0, "r2"),
        "g1": (0, "cov"),
    },
    "blocked_cluster3_fixed": {
        "rho2": (None, "rho"),
        "n": (None, "count"),
        "J": (None, "count"),
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
            f"design {design!r} has no parameter(s) {', '.join(unknown)}; "
            f"its parameters are {', '.join(spec)}"
        )
    out: dict[str, float] = {}
    for name, (default, kind) in spec.items():
        value = given.get(name, default)
        if value is None:
            raise SrmsimError(f"design {design!r} needs parameter {name!r}")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise SrmsimError(f"parameter {name}={value!r} must be a number") from None
        ok = {
            "prob": 0 < value < 1,
            "r2": 0 <= value < 1,
            "rho": 0 <= value < 1,
            "count": value > 0,
            "cov": value >= 0 and value.is_integer(),
        }[kind]
        if not (ok and math.isfinite(value)):
            rule = {
                "prob": "strictly between 0 and 1",
                "r2": "in [0, 1)",
                "rho": "in [0, 1)",
                "count": "positive",
                "cov": "a whole number >= 0",
            }[kind]
            raise SrmsimError(f"parameter {name}={value!r} must be {rule} (design {design!r})")
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

    def summary(self) -> str:
        """A short readable account, like statsmodels' results: what, then the numbers."""
        tails = "two-sided" if self.tails == 2 else "one-sided"
        params = ", ".join(f"{k}={v:g}" for k, v in self.parameters.items()
                           if isinstance(v, int | float))
        if self.effect is None:
            lines = [f"Minimum detectable effect size, design {self.design}",
                     f"  MDES:        {self.mdes:.3f} SD (outcome standard deviations)",
                     f"  interval:    {self.ci_low:.3f} to {self.ci_high:.3f} SD",
                     f"  at power {self.power:.2f}, alpha {self.alpha:g} ({tails})"]
        else:
            lines = [f"Power, design {self.design}",
                     f"  power:       {self.power:.3f} to detect {self.effect:g} SD",
                     f"  alpha {self.alpha:g} ({tails}), noncentrality {self.ncp:.3f}"]
        lines += [f"  SE:          {self.se:.4f} SD, df {self.df:g}", f"  design:      {params}"]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _check_common(alpha: float, tails: int) -> None:
    ck.check_alpha(alpha)
    if tails not in (1, 2):
        raise SrmsimError(f"tails must be 1 or 2, got {tails!r}")


def mdes(
    design: str, alpha: float = 0.05, power: float = 0.8, *, tails: int = 2, **parameters: float
) -> DesignResult:
    """Minimum detectable effect size (in outcome SDs) and its PowerUp! interval.

    >>> r = mdes("cluster2", rho=0.17, n=15, J=20)
    >>> round(r.mdes, 6), round(r.se, 6), r.df
    (0.629006, 0.212289, 18.0)
    """
    name = design_name(design)
    _check_common(alpha, tails)
    if not 0 < power < 1:
        raise SrmsimError(f"power={power!r} must lie strictly between 0 and 1")
    q = _parameters(name, parameters)
    se, df = _se_df(name, q)
    t1 = float(sps.t.ppf(1 - alpha / tails, df))
    t2 = float(sps.t.ppf(power, df))
    m = (t1 + t2) * se
    return DesignResult(name, se, df, alpha, tails, power, m, m - t1 * se, m + t1 * se, None, None, q)


def power(
    design: str, effect: float, alpha: float = 0.05, *, tails: int = 2, **parameters: float
) -> DesignResult:
    """Power to detect ``effect`` (outcome SDs): noncentral t with ncp = effect / SE.

    >>> round(power("cluster2", 0.25, rho=0.2, n=20, J=40).power, 6)
    0.349599
    """
    name = design_name(design)
    _check_common(alpha, tails)
    q = _parameters(name, parameters)
    se, df = _se_df(name, q)
    effect = ck.finite_number(effect, "effect")
    ncp = effect / se
    t1 = float(sps.t.ppf(1 - alpha / tails, df))
    if tails == 2:
        pw = float(sps.nct.sf(t1, df, ncp) + sps.nct.cdf(-t1, df, ncp))
    else:
        pw = float(sps.nct.sf(t1, df, ncp))
    return DesignResult(
        name, se, df, alpha, tails, pw, math.nan, math.nan, math.nan, float(effect), ncp, q
    )


def design_effect(m: float, rho: float, cv: float = 0.0) -> float:
    """Variance inflation of clustering: 1 + rho ((m - 1) + m cv^2).

    ``m`` is the mean cluster size and ``cv`` the coefficient of variation of cluster sizes
    (Eldridge et al. 2006); with equal sizes this is Kish's 1 + (m - 1) rho.
    """
    m = ck.finite_number(m, "cluster size m")
    rho, cv = ck.finite_number(rho, "rho"), ck.finite_number(cv, "cv")
    if m < 1:
        raise SrmsimError(f"cluster size m={m!r} must be at least 1")
    if not 0 <= rho <= 1:
        raise SrmsimError(f"rho={rho!r} must be in [0, 1]")
    if cv < 0:
        raise SrmsimError(f"cv={cv!r} must be non-negative")
    return 1 + rho * ((m - 1) + m * cv**2)
