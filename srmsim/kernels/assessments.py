"""The reading test and the end of term's assessments as compiled passes, bit-identical to
:func:`srmsim.dynamics.reading_test` and :func:`srmsim.dynamics.term_assessments`.

Why: as numpy passes a reading test cost a week's worth of time at 1M students (the float64
uniforms, ``ndtri``, then masked copies) and a term's assessments two thirds of one, four and
three times a school year. Here the hashes and every masked update run as one compiled pass
each; the machine-dependent functions stay the libraries' own calls on the same values, as in
:mod:`srmsim.kernels.week`: scipy's ``ndtri`` for the reading test's normal, numpy's float32
``log``, ``cos`` and ``sin`` for the assessments' Box-Muller pair.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy import special

from srmsim.kernels.week import _GAMMA, _MINUS_TWO, _S11, _TWO53, _TWO_PI, _mix, _uniform2

_ENROLLED = 0
_ONE, _FIVE = np.float32(1.0), np.float32(5.0)
#: the satisfaction pulse's float32 constants (:func:`srmsim.dynamics.term_assessments`)
_PULSE_BASE, _PULSE_WELL, _PULSE_ENG, _PULSE_NOISE = (
    np.float32(3.0), np.float32(0.9), np.float32(0.3), np.float32(0.6))


@njit(nogil=True, cache=True, error_model="numpy")
def uniforms(key, uid, u):
    """:meth:`srmsim.rng.CRN.uniform` (float64, 53 bits) of every uid, for the week's ``key``."""
    for i in range(uid.shape[0]):
        b = _mix(np.uint64(uid[i]) * _GAMMA + key)
        u[i] = (np.float64(b >> _S11) + 0.5) * _TWO53


@njit(nogil=True, cache=True, error_model="numpy")
def record_reading(sd, z, status, reading_age, age_months, reading_obs, reading_obs_age,
                   reading_gap_start):
    """The test's reading age (the true one plus ``sd`` times the float32 of scipy's float64
    normal ``z``) and age for the students on roll, and the first gap of those never tested."""
    for i in range(status.shape[0]):
        if status[i] == _ENROLLED:
            seen = reading_age[i] + sd * np.float32(z[i])
            reading_obs[i] = seen
            reading_obs_age[i] = age_months[i]
            if np.isnan(reading_gap_start[i]):
                reading_gap_start[i] = seen - age_months[i]


def reading_test(key: np.uint64, sd: np.float32, uid: np.ndarray, status: np.ndarray,
                 reading_age: np.ndarray, age_months: np.ndarray, reading_obs: np.ndarray,
                 reading_obs_age: np.ndarray, reading_gap_start: np.ndarray) -> None:
    """One block's reading test: compiled uniforms, scipy's ``ndtri``, compiled records."""
    z = np.empty(uid.shape[0])
    uniforms(key, uid, z)
    special.ndtri(z, out=z)
    record_reading(sd, z, status, reading_age, age_months, reading_obs, reading_obs_age,
                   reading_gap_start)


@njit(nogil=True, cache=True, error_model="numpy")
def pair_draws(key, uid, log_u, theta):
    """:meth:`srmsim.rng.CRN.normal2`'s uniforms: the first (for numpy's ``log``) and the angle
    (for its ``cos`` and ``sin``)."""
    for i in range(uid.shape[0]):
        u1, u2 = _uniform2(key, np.uint64(uid[i]) * _GAMMA)
        log_u[i] = u1
        theta[i] = _TWO_PI * u2


@njit(nogil=True, cache=True, error_model="numpy")
def record_term(sd, log_u, cos_t, sin_t, status, term_attended, term_possible, attendance,
                attainment, wellbeing_base, wellbeing_ar, eff_wellbeing, engagement_base,
                engagement_ar, eff_engagement, assessment, satisfaction):
    """The term's attendance rate (where it had sessions), then the assessment and the
    satisfaction pulse (rounded half to even, clipped to 1-5) of the students on roll."""
    for i in range(status.shape[0]):
        if term_possible[i] > 0:
            attendance[i] = np.float32(np.float64(term_attended[i]) / np.float64(term_possible[i]))
    for i in range(status.shape[0]):
        if status[i] == _ENROLLED:
            r = np.sqrt(_MINUS_TWO * log_u[i])
            assessment[i] = attainment[i] + sd * (r * cos_t[i])
            well = wellbeing_base[i] + wellbeing_ar[i] + eff_wellbeing[i]
            eng = engagement_base[i] + engagement_ar[i] + eff_engagement[i]
            pulse = _PULSE_BASE + _PULSE_WELL * well
            pulse = pulse + _PULSE_ENG * eng
            pulse = pulse + _PULSE_NOISE * (r * sin_t[i])
            level = np.rint(pulse)
            level = _ONE if level < _ONE else level  # NaN stays NaN, as numpy's clip
            satisfaction[i] = _FIVE if level > _FIVE else level


def term_assessments(key: np.uint64, sd: np.float32, uid: np.ndarray, status: np.ndarray,
                     term_attended: np.ndarray, term_possible: np.ndarray,
                     attendance: np.ndarray, attainment: np.ndarray, wellbeing_base: np.ndarray,
                     wellbeing_ar: np.ndarray, eff_wellbeing: np.ndarray,
                     engagement_base: np.ndarray, engagement_ar: np.ndarray,
                     eff_engagement: np.ndarray, assessment: np.ndarray,
                     satisfaction: np.ndarray) -> None:
    """One block's end of term: compiled draws, numpy's float32 ``log``, ``cos`` and ``sin``,
    compiled records."""
    n = uid.shape[0]
    log_u, theta = np.empty(n, dtype=np.float32), np.empty(n, dtype=np.float32)
    pair_draws(key, uid, log_u, theta)
    np.log(log_u, out=log_u)
    cos_t = np.cos(theta)
    sin_t = np.sin(theta, out=theta)
    record_term(sd, log_u, cos_t, sin_t, status, term_attended, term_possible, attendance,
                attainment, wellbeing_base, wellbeing_ar, eff_wellbeing, engagement_base,
                engagement_ar, eff_engagement, assessment, satisfaction)
