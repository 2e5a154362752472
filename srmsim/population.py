"""Synthetic schools and students, calibrated by default to England (docs/model.md).

Every draw goes through :class:`srmsim.rng.CRN`, keyed by school index or student uid, so a
student's traits do not depend on who else is in the trust.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from srmsim.blocks import BlockRunner
from srmsim.rng import CRN
from srmsim.scenario import PopulationConfig, Scenario
from srmsim.students import WINDOW, StudentTable

#: students generated at a time: each one's draws are keyed by its uid, so generating a large
#: trust in blocks gives the same table while its float64 temporaries stay a few hundred MB
GENERATION_BLOCK = 1 << 20

#: England's secondary rates that attainment is standardised against (DfE school census)
NATIONAL_RATES = {"fsm": 0.24, "sen": 0.14, "eal": 0.17}
#: between-school SD of the EAL rate, logit scale (EAL is far more concentrated than FSM)
EAL_SCHOOL_SD = 1.0


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return float(np.log(p / (1 - p)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp(-x) is inf far below 0 (a between-school SD of 1e6 is allowed): a rate of 0, as meant,
    # not a RuntimeWarning in the user's terminal
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


#: Gauss-Hermite nodes and weights (probabilists', weights summing to 1) for averages over a
#: standard normal school effect
_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite_e.hermegauss(101)
_GH_WEIGHTS = _GH_WEIGHTS / _GH_WEIGHTS.sum()


def share_logit(p: float, sd: float) -> float:
    """The logit intercept ``c`` whose schools' rates ``sigmoid(c + sd z)`` (z standard normal)
    average ``p``, so that ``p`` is the share of students, as the scenario states it.

    Why not ``logit(p)``: that is the rate of the median school, and the mean of a logit-normal
    rate lies above it when ``p`` is under a half (FSM 24% with SD 0.6 gave 25.5% of students,
    EAL 17% with SD 1 gave 20.9%). With ``sd`` 0 (or ``p`` at 0 or 1) it is ``logit(p)``."""
    if sd <= 0 or not 1e-9 < p < 1 - 1e-9:
        return _logit(p)
    from scipy.optimize import brentq

    def excess(c: float) -> float:
        return float(_GH_WEIGHTS @ _sigmoid(c + sd * _GH_NODES)) - p

    reach = 40.0 + 15.0 * sd
    return float(brentq(excess, -reach, reach, xtol=1e-12))


def sen_chance(sen_rate: float, fsm_rate: float, fsm: np.ndarray) -> np.ndarray:
    """Each student's chance of SEN: 1.5 times as high for FSM pupils, rescaled so that the
    share of students is ``sen_rate`` (FSM pupils are ``fsm_rate`` of them, by
    :func:`share_logit`).

    Above a rate of ``(1 + fsm_rate / 2) / 1.5`` (75% at England's FSM rate) 1.5 times would
    be an FSM pupil's chance above 1, and capping it at 1 gave fewer SEN pupils than stated
    (85% for 90%). There every FSM pupil is SEN and the others are drawn so the share holds:
    the ratio of the two chances falls from 1.5 towards 1 as the rate nears 1 (the model's
    meaning, docs/model.md: the stated rate is the share of students)."""
    if 1.5 * sen_rate > 1 + 0.5 * fsm_rate:  # then fsm_rate < sen_rate (and fsm_rate < 1)
        return np.where(fsm, 1.0, (sen_rate - fsm_rate) / (1 - fsm_rate))
    return np.clip(sen_rate * np.where(fsm, 1.5, 1.0) / (1 + 0.5 * fsm_rate), 0, 1)


@dataclass
class SchoolProfiles:
    """School-level random effects, one element per school."""

    cohort_size: np.ndarray
    fsm_logit: np.ndarray
    eal_logit: np.ndarray
    attainment_effect: np.ndarray
    engagement_effect: np.ndarray
    absence_effect: np.ndarray

    def __len__(self) -> int:
        return len(self.cohort_size)


def generate_schools(scenario: Scenario, crn: CRN) -> SchoolProfiles:
    trust, pop, dyn = scenario.trust, scenario.population, scenario.dynamics
    idx = np.arange(trust.n_schools)
    z_size = crn.normal("school.size", 0, idx)
    cv = trust.size_cv
    sigma = np.sqrt(np.log1p(cv**2))
    size = trust.students_per_year_group * np.exp(sigma * z_size - sigma**2 / 2)
    za, zb = crn.normal("school.fsm", 0, idx), crn.normal("school.eal", 0, idx)
    zc, zd = crn.normal("school.attainment", 0, idx), crn.normal("school.engagement", 0, idx)
    ze = crn.normal("school.absence", 0, idx)
    return SchoolProfiles(
        cohort_size=np.maximum(1, np.round(size)).astype(np.int64),
        fsm_logit=share_logit(pop.fsm_rate, pop.fsm_school_sd) + pop.fsm_school_sd * za,
        eal_logit=share_logit(pop.eal_rate, EAL_SCHOOL_SD) + EAL_SCHOOL_SD * zb,
        attainment_effect=np.sqrt(pop.attainment_icc) * zc,
        engagement_effect=pop.engagement_school_sd * zd,
        absence_effect=dyn.absence_school_sd * ze,
    )


def attainment_structure(pop: PopulationConfig, school_effect: np.ndarray | float,
                         fsm: np.ndarray, sen: np.ndarray, eal: np.ndarray) -> np.ndarray:
    """A student's expected attainment from their school's effect and their FSM, SEN and EAL
    (flags, or the chances an unrecorded one is drawn with), centred on England's rates, so
    that 0 is the national average and a trust with more disadvantaged students sits below
    it: what their own component is added to."""
    return (
        school_effect
        + pop.fsm_attainment_gap * fsm
        + pop.sen_attainment_gap * sen
        + pop.eal_attainment_gap * eal
        - (pop.fsm_attainment_gap * NATIONAL_RATES["fsm"]
           + pop.sen_attainment_gap * NATIONAL_RATES["sen"]
           + pop.eal_attainment_gap * NATIONAL_RATES["eal"])
    )


def attainment_sd(pop: PopulationConfig, n_schools: int = 0) -> float:
    """The SD of a synthetic student's attainment at the scenario's rates within a trust of
    ``n_schools`` (0: across trusts): the school effects (``attainment_icc``, less the
    ``icc / n_schools`` a trust's own mean takes out), the own component (``1 - icc``) and the
    spread FSM, SEN and EAL add (Bernoulli at the stated shares, SEN given FSM by
    :func:`sen_chance`).

    Why: the scale a recorded prior attainment (a z-score within the trust) is put on to be a
    student's attainment (1.03-1.05 at the defaults;
    :meth:`srmsim.records.RecordPopulation.prior_attainment`)."""
    pf, ps, pe = pop.fsm_rate, pop.sen_rate, pop.eal_rate
    with_fsm = float(sen_chance(ps, pf, np.array([True]))[0])
    cov_fs = pf * with_fsm - pf * ps
    flags = (pop.fsm_attainment_gap ** 2 * pf * (1 - pf)
             + pop.sen_attainment_gap ** 2 * ps * (1 - ps)
             + pop.eal_attainment_gap ** 2 * pe * (1 - pe)
             + 2 * pop.fsm_attainment_gap * pop.sen_attainment_gap * cov_fs)
    school = pop.attainment_icc / n_schools if n_schools > 0 else 0.0
    return float(np.sqrt(1.0 + flags - school))


def cohort_layout(schools: SchoolProfiles, year_groups: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """School index and year group of every student of a full school roll."""
    size = np.asarray(schools.cohort_size, dtype=np.int64)
    groups = len(year_groups)
    school_idx = np.repeat(np.arange(len(size), dtype=np.int32), size * groups)
    years = np.repeat(np.tile(np.asarray(year_groups, dtype=np.int8), len(size)),
                      np.repeat(size, groups))
    return school_idx, years


def generate_students(
    scenario: Scenario,
    crn: CRN,
    schools: SchoolProfiles,
    uid: np.ndarray,
    school: np.ndarray,
    year_group: np.ndarray,
    step: int = 0,
    traits: dict[str, np.ndarray] | None = None,
    out: StudentTable | None = None,
    runner: BlockRunner | None = None,
) -> StudentTable:
    """New students with profiles and latents; draws keyed by uid, so each is independent.

    ``traits`` (from real records, see :mod:`srmsim.records`) fixes any of ``sex`` (0/1 or -1
    unknown), ``fsm``, ``sen``, ``eal`` (0/1 or -1 unknown) and ``prior_attainment`` (on the
    attainment's scale, NaN unknown); unknown values are drawn as for a synthetic student.

    ``out`` (a table of ``len(uid)`` rows, already holding every column's fill value) receives
    the students instead of a new table: a large trust is generated block by block straight
    into the rows of its one preallocated table (``StudentTable.take`` of a slice is views), so
    no block allocates, page-faults and copies a table of its own. With a ``runner``
    (:class:`~srmsim.blocks.BlockRunner`) the blocks are the runner's and may run on its threads.
    """
    n = len(uid)
    runner = runner or BlockRunner(1, GENERATION_BLOCK)
    if traits is None and n > runner.block_rows:
        table = StudentTable(n) if out is None else out
        runner.run(lambda rows: generate_students(
            scenario, crn, schools, uid[rows], school[rows], year_group[rows], step=step,
            out=table.take(rows)), n)
        return table
    pop, dyn = scenario.population, scenario.dynamics
    uid = uid.astype(np.int64)
    u_sex, u_fsm = crn.uniform("pop.sex", 0, uid), crn.uniform("pop.fsm", 0, uid)
    u_sen, u_eal = crn.uniform("pop.sen", 0, uid), crn.uniform("pop.eal", 0, uid)
    u_age = crn.uniform("pop.age", 0, uid)
    z = np.stack([crn.normal(f"pop.latent{i}", 0, uid) for i in range(7)])

    sex = (u_sex < pop.male_share).astype(np.int8)
    fsm = u_fsm < _sigmoid(schools.fsm_logit[school])
    sen = u_sen < sen_chance(pop.sen_rate, pop.fsm_rate, fsm)
    eal = u_eal < _sigmoid(schools.eal_logit[school])
    prior = None
    if traits is not None:
        def known(name: str, drawn: np.ndarray) -> np.ndarray:
            given = traits.get(name)
            return drawn if given is None else np.where(given >= 0, given, drawn).astype(drawn.dtype)

        sex = known("sex", sex)
        fsm = known("fsm", fsm.astype(np.int8)).astype(bool)
        sen = known("sen", sen.astype(np.int8)).astype(bool)
        eal = known("eal", eal.astype(np.int8)).astype(bool)
        prior = traits.get("prior_attainment")

    r = pop.latent_correlation
    corr = np.full((3, 3), r) + np.eye(3) * (1 - r)
    icc = pop.attainment_icc
    structure = attainment_structure(pop, schools.attainment_effect[school], fsm, sen, eal)
    if prior is not None:
        # A recorded prior attainment fixes the student's own attainment component, so that
        # engagement and wellbeing are drawn conditionally on it (the Cholesky factor's first
        # row is (1, 0, 0): a = z[0]).
        has_prior = ~np.isnan(prior)
        z[0, has_prior] = ((prior - structure) / np.sqrt(max(1 - icc, 1e-9)))[has_prior]
    a, e, w = np.linalg.cholesky(corr) @ z[:3]

    # Centred on England's rates (in ``structure``), so 0 is the national average and a trust
    # with more disadvantaged students sits below it; equals the recorded prior where there is one.
    attainment = structure + np.sqrt(1 - icc) * a
    engagement_base = (
        schools.engagement_effect[school]
        + pop.fsm_engagement_gap * fsm
        + pop.sen_engagement_gap * sen
        + 0.85 * e
    )
    wellbeing_base = 0.85 * w - 0.15 * sen
    age = (year_group.astype(np.float32) + 4) * 12 + 12 * u_age
    reading_age = (
        age + pop.reading_gap_mean + pop.reading_gap_per_sd * attainment + pop.reading_gap_sd * z[3]
    )
    t = StudentTable(n) if out is None else out
    t.uid[:] = uid
    t.school[:] = school
    t.year_group[:] = year_group
    t.age_months[:] = age
    t.sex[:] = sex
    t.fsm[:] = fsm
    t.sen[:] = sen
    t.eal[:] = eal
    t.entry_step[:] = step
    t.attainment[:] = attainment
    t.attainment_anchor[:] = attainment
    t.prior_attainment[:] = attainment + 0.3 * z[4]
    if prior is not None:
        t.prior_attainment[:] = np.where(np.isnan(prior), t.prior_attainment, prior)
    t.engagement_base[:] = engagement_base
    t.engagement_ar[:] = dyn.engagement_shock_sd * z[5]
    t.wellbeing_base[:] = wellbeing_base
    t.wellbeing_ar[:] = dyn.wellbeing_shock_sd * z[6]
    t.absence_static[:] = dyn.absence_logit + schools.absence_effect[school]
    t.reading_age[:] = reading_age
    assert t.w_possible.shape[0] == WINDOW
    return t
