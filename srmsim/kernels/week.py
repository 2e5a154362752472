"""The per-student part of a week (latents, observation, records) as a few compiled passes.

Why: written as numpy, a block's week is about 300 passes over its students (each hash,
uniform, Box-Muller, sigmoid, binomial and record step a pass of its own). Here the steps
between numpy's transcendental functions run as short compiled loops that read each column
once.

Bit-identical to :func:`srmsim.dynamics.week_rows_numpy`, on any machine, by construction: the
float32 ``log``, ``sin``, ``cos`` and ``exp`` are numpy's own calls on the same float32 values
(their SIMD code differs between machines and releases in the last bit, so no compiled copy of
them could promise that), and so is ``q ** n`` wherever a draw depends on its last bits (see
:func:`binomial_draws`: bounds settle the other draws, checked against numpy's power once a
process). Everything compiled is integer arithmetic, float32 and float64 ``+ - * /``, ``sqrt``
and comparisons, which IEEE 754 rounds one way only, in the numpy passes' order. No fast-math
flag is set, so the compiler never fuses or reorders float operations.
``tests/test_week_kernel.py`` checks hostile tables, the draws at every count's edge, and whole
runs.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_S41, _S8, _S11 = np.uint64(41), np.uint64(8), np.uint64(11)
_LOW32 = np.uint64(0xFFFFFFFF)
_BITS23 = np.uint64(0x7FFFFF)
_HALF = np.float32(0.5)
_TWO23 = np.float32(1.0 / 8388608.0)
_TWO53 = 1.0 / 9007199254740992.0
_ONE = np.float32(1.0)
_MINUS_TWO = np.float32(-2.0)
_TWO_PI = np.float32(2.0 * np.pi)
#: :func:`srmsim.rng.binomial_inv`'s clip of a float32 probability, and both inversions' top
_P_LOW = np.float32(1e-6)
_P_HIGH = np.float32(1 - 1e-6)
_TOP = np.float32(1) - np.float32(4) * np.finfo(np.float32).eps
_LOG_RATE_CAP = np.float32(9.0)
_POISSON_KMAX = 30
_ENROLLED, _WITHDRAWN = 0, 1

# positions in the ``par`` vector (float32 constants of the week, see srmsim.dynamics)
(P_PHI_E, P_SHOCK_E, P_PHI_W, P_SHOCK_W, P_SEASON, P_ABS_ENG, P_ABS_WELL, P_ABS_SD,
 P_LOG_RATE, P_INC_ENG, P_LOG_MALE, P_LOGIN_LOGIT, P_LOGIN_ENG, P_ON_TIME_LOGIT,
 P_ON_TIME_ENG, P_SESSION_SHARE, P_ATT_ATT, P_ATT_BASE, P_ATT_ENG, P_ATT_SD, P_ATT_REV,
 P_READING_GROWTH, P_WEEK_MONTHS, P_WD_LOGIT, P_WD_ENG) = range(25)
N_PAR = 25
# positions in the ``keys`` vector (each decision's key for the week, CRN.key)
K_LATENT, K_NOISE, K_ABSENCE, K_LMS, K_WITHDRAWAL = range(5)
N_KEYS = 5


@njit(inline="always", error_model="numpy")
def _mix(x):
    """SplitMix64's finaliser (:func:`srmsim.rng._mix`); uint64 arithmetic wraps."""
    x ^= x >> _S30
    x *= _M1
    x ^= x >> _S27
    x *= _M2
    x ^= x >> _S31
    return x


@njit(inline="always", error_model="numpy")
def _uniform2(key, base):
    """:meth:`srmsim.rng.CRN.uniform2` of one uid (``base`` is ``uid * GAMMA``)."""
    b = _mix(base + key)
    hi = np.float32(np.int32(b >> _S41))
    lo = np.float32(np.int32(((b & _LOW32) >> _S8) & _BITS23))
    return (hi + _HALF) * _TWO23, (lo + _HALF) * _TWO23


@njit(nogil=True, cache=True, error_model="numpy")
def draws(keys, uid, log_u, theta, uniforms):
    """The week's uniforms: ``log_u`` gets the Box-Muller pairs' first uniforms (the latents'
    and the week's noise), ``theta`` their angles, ``uniforms`` the four draws of absence,
    incidents, logins and on-time work; numpy then takes the logarithms, sines and cosines."""
    for i in range(uid.shape[0]):
        base = np.uint64(uid[i]) * _GAMMA
        u1, u2 = _uniform2(keys[K_LATENT], base)
        log_u[0, i] = u1
        theta[0, i] = _TWO_PI * u2
        u1, u2 = _uniform2(keys[K_NOISE], base)
        log_u[1, i] = u1
        theta[1, i] = _TWO_PI * u2
        u1, u2 = _uniform2(keys[K_ABSENCE], base)
        uniforms[0, i] = u1
        uniforms[1, i] = u2
        u1, u2 = _uniform2(keys[K_LMS], base)
        uniforms[2, i] = u1
        uniforms[3, i] = u2


@njit(nogil=True, cache=True, error_model="numpy")
def logits(par, log_u, cos_t, sin_t, status, sex,
           engagement_base, engagement_ar, wellbeing_base, wellbeing_ar, eff_engagement,
           eff_wellbeing, eff_absence, eff_incidents, absence_static, to_exp, z_att, eng_out):
    """The latents' AR(1) step, then the arguments of the week's ``exp`` calls: minus the
    absence, login, on-time and withdrawal logits, and the capped incident log-rate."""
    m = status.shape[0]
    # short loops with a few arrays each, which the compiler can run on SIMD lanes
    for i in range(m):
        r = np.sqrt(_MINUS_TWO * log_u[0, i])
        e_ar = engagement_ar[i] * par[P_PHI_E]
        engagement_ar[i] = e_ar + par[P_SHOCK_E] * (r * cos_t[0, i])
        w_ar = wellbeing_ar[i] * par[P_PHI_W]
        wellbeing_ar[i] = w_ar + par[P_SHOCK_W] * (r * sin_t[0, i])
    for i in range(m):
        eng_out[i] = engagement_base[i] + engagement_ar[i] + eff_engagement[i]
    for i in range(m):
        r = np.sqrt(_MINUS_TWO * log_u[1, i])
        z_att[i] = r * sin_t[1, i]
        log_u[1, i] = r * cos_t[1, i]  # z_abs
    for i in range(m):
        well = wellbeing_base[i] + wellbeing_ar[i] + eff_wellbeing[i]
        logit = absence_static[i] + par[P_SEASON]
        logit = logit - par[P_ABS_ENG] * eng_out[i]
        logit = logit - par[P_ABS_WELL] * well
        logit = logit + eff_absence[i]
        logit = logit + par[P_ABS_SD] * log_u[1, i]
        to_exp[0, i] = -logit
    for i in range(m):
        eng = eng_out[i]
        to_exp[1, i] = -(par[P_LOGIN_LOGIT] + par[P_LOGIN_ENG] * eng)
        to_exp[2, i] = -(par[P_ON_TIME_LOGIT] + par[P_ON_TIME_ENG] * eng)
        to_exp[4, i] = -(par[P_WD_LOGIT] - par[P_WD_ENG] * eng)
    for i in range(m):
        log_rate = par[P_LOG_RATE] - par[P_INC_ENG] * eng_out[i]
        log_rate = log_rate + par[P_LOG_MALE] * np.float32(sex[i])
        log_rate = log_rate + eff_incidents[i]
        to_exp[3, i] = _LOG_RATE_CAP if log_rate > _LOG_RATE_CAP else log_rate


@njit(nogil=True, cache=True, error_model="numpy")
def on_roll(status, year_group, wd_years, enrolled):
    """Who is on roll (``enrolled``), and how many of them can withdraw this week."""
    at_risk = 0
    for i in range(status.shape[0]):
        here = status[i] == _ENROLLED
        enrolled[i] = here
        at_risk += here & wd_years[np.int64(year_group[i]) + 128]
    return at_risk


@njit(nogil=True, cache=True, error_model="numpy")
def binomial_starts(exps, ratio, q):
    """The week's three binomials (sessions missed, days with a login, work on time) from
    numpy's ``exp`` of minus their logits: the sigmoid ``1 / (exp(-x) + 1)``, then
    :func:`srmsim.rng.binomial_inv`'s clip, ``q = 1 - p`` and ``p / q``."""
    m = exps.shape[1]
    for b in range(3):
        for i in range(m):
            p = _ONE / (exps[b, i] + _ONE)
            p = _P_LOW if p < _P_LOW else p
            p = _P_HIGH if p > _P_HIGH else p
            qi = _ONE - p
            ratio[b, i] = p / qi
            q[b, i] = qi


@njit(nogil=True, cache=True, error_model="numpy")
def binomial_counts(u, n, ratio, pmf, enrolled, k):
    """:func:`srmsim.rng.binomial_inv`'s counts for every draw of a block at once (``pmf``
    starts at ``q ** n`` and is overwritten): ``k`` adds one per count ``i`` with
    ``u > cdf(i)`` and ``cdf(i)`` below the top. The test can only turn false as ``i`` grows
    (the CDF never decreases), so the sum is the draw's first false count, as the numpy loop
    finds it; the loop over the draws has no branch, so the compiler runs it on SIMD lanes."""
    m = u.shape[0]
    cdf = pmf.copy()
    for j in range(m):
        k[j] = 0
    for i in range(n):
        for j in range(m):
            k[j] += np.int8((u[j] > cdf[j]) & (cdf[j] < _TOP) & enrolled[j])
        if i == n - 1:
            break
        c = np.float32((n - i) / (i + 1))
        for j in range(m):
            pmf[j] = pmf[j] * c * ratio[j]
            cdf[j] = cdf[j] + pmf[j]


#: ulps either side of a float64 ``q ** n`` rounded to float32 within which numpy's float32
#: ``q ** n`` lies (the C library's ``powf`` is within 1 ulp, numpy's SVML code within 4):
#: :func:`power_bracket_holds` checks it on this machine before it is used
BRACKET_ULPS = 16
_FINITE_BITS = 0x7F800000


@njit(nogil=True, cache=True, error_model="numpy")
def power_bracket(q, n, lo, hi):
    """Float32 bounds of ``q ** n`` (whole ``n``, ``q`` in (0, 1) or NaN) without the C
    library: the float64 power by squaring (a few float64 roundings, far below a float32 ulp)
    rounded to float32, then :data:`BRACKET_ULPS` ulps down (not below 0) and up. Loops over
    the block inside each squaring step, so they run on SIMD lanes."""
    m = q.shape[0]
    power = np.ones(m)
    base = np.empty(m)
    for j in range(m):
        base[j] = np.float64(q[j])
    e = n
    while e > 0:
        if e & 1:
            for j in range(m):
                power[j] *= base[j]
        e >>= 1
        if e > 0:
            for j in range(m):
                base[j] *= base[j]
    for j in range(m):
        lo[j] = np.float32(power[j])
    lo_bits = lo.view(np.int32)
    hi_bits = hi.view(np.int32)
    for j in range(m):
        b = lo_bits[j]
        finite = (b >= 0) & (b < _FINITE_BITS)
        hi_bits[j] = b + BRACKET_ULPS if finite else b
        lo_bits[j] = max(b - BRACKET_ULPS, 0) if finite else b


#: :func:`lower_counts` settles a draw whose uniform lies above its last counted CDF value
#: times this (rounded down, still above ``1 + 2**-12``)
SETTLE_FACTOR = np.float32(1 + 2.0**-11)
#: ... if the first probability's lower bound is at least this (a normal float32 number, far
#: above where subnormal terms could matter)
SETTLE_MIN_FIRST = np.float32(2.0**-90)


@njit(nogil=True, cache=True, error_model="numpy")
def lower_counts(u, n, ratio, lo, enrolled, k, unsettled):
    """:func:`binomial_counts` from :func:`power_bracket`'s lower bound (``lo`` is
    overwritten), and which of the counts that bound alone leaves ``unsettled``.

    Numpy's first probability lies between the two bounds (:func:`power_bracket_holds`), so
    its count lies between theirs, and the lower bound's count ``k`` is the larger. It is
    numpy's count unless the upper bound's CDF at step ``k - 1`` reaches the uniform or the
    top. The upper bound is at most 32 float32 steps (``32 * 2**-23``, relative) above the
    lower one, and each of the CDF's steps rounds the two by at most half a step each way:
    for ``n`` up to 20, the upper CDF is within ``2**-15`` of the lower one, relative, while
    the first probability is normal; terms that turn subnormal (past the mode, as the terms
    only fall there) add at most ``2 n * 2**-126``. So a count is settled where it is the
    same counted from the CDF times :data:`SETTLE_FACTOR` (``1 + 2**-12`` or more after
    rounding, which covers both once the first probability is :data:`SETTLE_MIN_FIRST` or
    more). About one draw in a thousand is left unsettled."""
    m = u.shape[0]
    cdf = lo.copy()
    k_up = np.empty(m, dtype=np.int8)
    for j in range(m):
        k[j] = 0
        k_up[j] = 0
        unsettled[j] = not (lo[j] >= SETTLE_MIN_FIRST)
    for i in range(n):
        for j in range(m):
            c_j = cdf[j]
            up = c_j * SETTLE_FACTOR
            here = enrolled[j]
            k[j] += np.int8((u[j] > c_j) & (c_j < _TOP) & here)
            k_up[j] += np.int8((u[j] > up) & (up < _TOP) & here)
        if i == n - 1:
            break
        c = np.float32((n - i) / (i + 1))
        for j in range(m):
            lo[j] = lo[j] * c * ratio[j]
            cdf[j] = cdf[j] + lo[j]
    for j in range(m):
        unsettled[j] = (k[j] != k_up[j]) | (unsettled[j] & (k[j] > 0))


@njit(inline="always", error_model="numpy")
def _poisson(u, lam, pmf):
    """:func:`srmsim.rng.poisson_inv` of one draw (``pmf`` is ``exp(-lam)``)."""
    cdf = pmf
    k = 0
    for i in range(_POISSON_KMAX):
        if not (u > cdf and cdf < _TOP):
            break
        k += 1
        pmf = pmf * lam / np.float32(i + 1)
        cdf = cdf + pmf
    return k


@njit(nogil=True, cache=True, error_model="numpy")
def poisson_counts(u, lam, exp_minus_lam, enrolled, k):
    """The week's incidents (:func:`_poisson`) of the students on roll: first, on SIMD lanes,
    whether each draw passes its first count (about one in twenty does), then the rest of the
    inversion for those only."""
    m = u.shape[0]
    for i in range(m):
        k[i] = np.int16((u[i] > exp_minus_lam[i]) & (exp_minus_lam[i] < _TOP) & enrolled[i])
    for i in range(m):
        if k[i]:
            k[i] = _poisson(u[i], lam[i], exp_minus_lam[i])


@njit(nogil=True, cache=True, error_model="numpy")
def finish(
    par, keys, n_sessions, n_set, step, withdrawal, wd_years, exps, counts, incident_counts,
    enrolled, z_att, eng_in, uid, status, year_group, exit_step, engagement_base, attainment,
    attainment_anchor, reading_age, age_months,
    possible, attended, incidents, logins, set_total, on_time_total,
    year_possible, year_attended, term_possible, term_attended, term_incidents,
    last_login_step, last_incident_step,
    w_possible, w_attended, w_incidents, w_logins, w_set, w_on_time,
    o_possible, o_attended, o_incidents, o_logins, o_set, o_on_time, o_withdrew,
):
    """The week's attainment, withdrawals and records, from the draws (``counts``: the three
    binomials', zero off roll; ``incident_counts``) and ``exps`` (numpy's ``exp`` of
    :func:`logits`' rows). No branch: the compiler runs it on SIMD lanes."""
    wd_key = keys[K_WITHDRAWAL]
    step16 = np.int16(step)
    m = uid.shape[0]
    # several short loops, not one: with a few arrays each, the compiler can check they do
    # not overlap and run each on SIMD lanes
    for i in range(m):
        p_sessions = np.int8(n_sessions * enrolled[i])
        n_attended = np.int8(p_sessions - counts[0, i])
        o_possible[i] = p_sessions
        o_attended[i] = n_attended
        o_set[i] = np.int8(n_set * enrolled[i])
    for i in range(m):
        # attainment and reading age (everyone: gain * 0 keeps a non-finite gain's NaN)
        rate = np.float32(o_attended[i]) * par[P_SESSION_SHARE]
        gain = par[P_ATT_ATT] * (rate - par[P_ATT_BASE])
        gain = gain + par[P_ATT_ENG] * (eng_in[i] - engagement_base[i])
        gain = gain + par[P_ATT_SD] * z_att[i]
        gain = gain - par[P_ATT_REV] * (attainment[i] - attainment_anchor[i])
        level = attainment[i] + gain * np.float32(enrolled[i])
        attainment[i] = level
        reading_age[i] = reading_age[i] + par[P_WEEK_MONTHS] * (
            _ONE + par[P_READING_GROWTH] * level)
    for i in range(m):
        age_months[i] = age_months[i] + par[P_WEEK_MONTHS]
    for i in range(m):
        o_withdrew[i] = False
    if withdrawal:  # someone on roll is in a year group that can withdraw
        for i in range(m):
            # a float64 uniform against the float32 hazard, as numpy compares them
            b = _mix(np.uint64(uid[i]) * _GAMMA + wd_key)
            u = (np.float64(b >> _S11) + 0.5) * _TWO53
            h = np.float64(_ONE / (exps[4, i] + _ONE))
            o_withdrew[i] = enrolled[i] & wd_years[np.int64(year_group[i]) + 128] & (u < h)
    for i in range(m):
        if o_withdrew[i]:
            status[i] = _WITHDRAWN
            exit_step[i] = step16
    for i in range(m):
        o_incidents[i] = incident_counts[i]
        o_logins[i] = counts[1, i]
        o_on_time[i] = counts[2, i]
    # the records (srmsim.dynamics.record_week)
    for i in range(m):
        possible[i] = np.int32(possible[i] + o_possible[i])
        attended[i] = np.int32(attended[i] + o_attended[i])
        set_total[i] = np.int32(set_total[i] + o_set[i])
    for i in range(m):
        incidents[i] = np.int32(incidents[i] + o_incidents[i])
        logins[i] = np.int32(logins[i] + o_logins[i])
        on_time_total[i] = np.int32(on_time_total[i] + o_on_time[i])
    for i in range(m):
        year_possible[i] = np.int16(year_possible[i] + o_possible[i])
        year_attended[i] = np.int16(year_attended[i] + o_attended[i])
        term_possible[i] = np.int16(term_possible[i] + o_possible[i])
        term_attended[i] = np.int16(term_attended[i] + o_attended[i])
    for i in range(m):
        term_incidents[i] = np.int16(term_incidents[i] + o_incidents[i])
        last_login_step[i] = step16 if o_logins[i] > 0 else last_login_step[i]
        last_incident_step[i] = step16 if o_incidents[i] > 0 else last_incident_step[i]
    for i in range(m):
        w_possible[i] = o_possible[i]
        w_attended[i] = o_attended[i]
        w_incidents[i] = np.int8(min(o_incidents[i], 127))
    for i in range(m):
        w_logins[i] = o_logins[i]
        w_set[i] = o_set[i]
        w_on_time[i] = o_on_time[i]


@njit(nogil=True, cache=True, error_model="numpy")
def school_totals(local, status, possible, attended, incidents, logins, set_, on_time, withdrew,
                  part):
    """:func:`srmsim.dynamics.block_totals` in one pass: ``part[:, s]`` gets the students on
    roll and the week's observations summed over the rows from ``local[s]`` to the next
    school's (the block's end for the last); int64 sums, so the order never matters. Each
    school's loop runs over slices from 0: indexing from ``local[s]`` would make the compiler
    allow for negative indices and give up its SIMD lanes (9x slower, measured)."""
    m = status.shape[0]
    schools = local.shape[0]
    for s in range(schools):
        a = local[s]
        end = local[s + 1] if s + 1 < schools else m
        st, pos, att, inc = status[a:end], possible[a:end], attended[a:end], incidents[a:end]
        log, n_set, done, gone = logins[a:end], set_[a:end], on_time[a:end], withdrew[a:end]
        c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = 0
        for i in range(end - a):
            c0 += st[i] == _ENROLLED
            c1 += pos[i]
            c2 += att[i]
            c3 += inc[i]
            c4 += log[i]
            c5 += n_set[i]
            c6 += done[i]
            c7 += gone[i]
        part[0, s], part[1, s], part[2, s], part[3, s] = c0, c1, c2, c3
        part[4, s], part[5, s], part[6, s], part[7, s] = c4, c5, c6, c7


def week_pass(par, keys, n_sessions, n_set, step, withdrawal, wd_years,
              uid, status, year_group, sex, exit_step,
              engagement_base, engagement_ar, wellbeing_base, wellbeing_ar, eff_engagement,
              eff_wellbeing, eff_absence, eff_incidents, absence_static, attainment,
              attainment_anchor, reading_age, age_months, *records):
    """One week of the rows: compiled passes around numpy's own float32 ``log``, ``sin``,
    ``cos`` and ``exp`` (whose SIMD results the numpy week depends on to the bit)."""
    n = uid.shape[0]
    log_u = np.empty((2, n), dtype=np.float32)
    theta = np.empty((2, n), dtype=np.float32)
    uniforms = np.empty((4, n), dtype=np.float32)
    draws(keys, uid, log_u, theta, uniforms)
    np.log(log_u, out=log_u)
    cos_t = np.cos(theta)
    sin_t = np.sin(theta, out=theta)
    to_exp = np.empty((5, n), dtype=np.float32)
    z_att = np.empty(n, dtype=np.float32)
    eng = np.empty(n, dtype=np.float32)
    logits(par, log_u, cos_t, sin_t, status, sex, engagement_base, engagement_ar,
           wellbeing_base, wellbeing_ar, eff_engagement, eff_wellbeing, eff_absence,
           eff_incidents, absence_static, to_exp, z_att, eng)
    enrolled = np.empty(n, dtype=np.bool_)
    at_risk = on_roll(status, year_group, wd_years, enrolled)
    withdrawal = withdrawal and at_risk > 0
    with np.errstate(over="ignore"):
        # the withdrawal hazard's row only when someone can withdraw (none in Years 7-11)
        np.exp(to_exp if withdrawal else to_exp[:4], out=to_exp if withdrawal else to_exp[:4])
        minus_lam = np.negative(to_exp[3])
        np.exp(minus_lam, out=minus_lam)
    ratio = np.empty((3, n), dtype=np.float32)
    q = np.empty((3, n), dtype=np.float32)
    counts = np.empty((3, n), dtype=np.int8)
    binomial_starts(to_exp, ratio, q)
    for b, size in enumerate((n_sessions, 5, n_set)):
        binomial_draws(uniforms[(0, 2, 3)[b]], size, ratio[b], q[b], enrolled, counts[b])
    incident_counts = np.empty(n, dtype=np.int16)
    poisson_counts(uniforms[1], to_exp[3], minus_lam, enrolled, incident_counts)
    finish(par, keys, n_sessions, n_set, step, withdrawal, wd_years, to_exp, counts,
           incident_counts, enrolled, z_att, eng, uid, status, year_group, exit_step, engagement_base,
           attainment, attainment_anchor, reading_age, age_months, *records)


def binomial_draws(u: np.ndarray, n: int, ratio: np.ndarray, q: np.ndarray,
                   enrolled: np.ndarray, k: np.ndarray) -> None:
    """:func:`srmsim.rng.binomial_inv`'s draws, with numpy's ``q ** n`` computed only where the
    draw depends on its last bits.

    The count is monotone in the first probability ``q ** n`` (every later step of the CDF
    rounds up or down with it, and a larger CDF never counts more), so numpy's count lies
    between the counts from the two bounds of :func:`power_bracket`. :func:`lower_counts`
    counts from the lower bound and settles every draw whose uniform is clear of where the
    upper bound could count differently; only the others (about one in a thousand) take
    numpy's power. ``n`` 0, 1 and 2 are numpy's exact fast
    paths, and a machine whose power is not within the bounds (:func:`power_bracket_holds`)
    takes numpy's power for every draw.
    """
    if n <= 2 or n > 20 or not power_bracket_holds():
        binomial_counts(u, n, ratio, q ** n, enrolled, k)  # numpy's power, as binomial_inv
        return
    lo = np.empty_like(q)
    power_bracket(q, n, lo, np.empty_like(q))
    unsettled = np.empty(len(u), dtype=np.bool_)
    lower_counts(u, n, ratio, lo, enrolled, k, unsettled)
    open_rows = np.flatnonzero(unsettled)
    if len(open_rows):
        part = np.empty(len(open_rows), dtype=k.dtype)
        binomial_counts(u[open_rows], n, ratio[open_rows], q[open_rows] ** n,
                        enrolled[open_rows], part)
        k[open_rows] = part


_BRACKET: list[bool] = []


def power_bracket_holds() -> bool:
    """Whether numpy's float32 ``q ** n`` lies within :func:`power_bracket` on this machine,
    for whole ``n`` from 3 to 20 and ``q`` across (1e-6, 1): checked once a process on 4,096
    values a size (spread evenly in log scale, with the ends), a few milliseconds."""
    if not _BRACKET:
        q = np.concatenate([np.geomspace(1e-6, 1 - 1e-6, 4094), [1e-6, 1 - 1e-6]])
        q = np.concatenate([q, 1 - q]).astype(np.float32)
        lo, hi = np.empty_like(q), np.empty_like(q)
        holds = True
        for n in range(3, 21):
            power_bracket(q, n, lo, hi)
            exact = q ** n
            holds &= bool(np.all((lo <= exact) & (exact <= hi)))
        _BRACKET.append(holds)
    return _BRACKET[0]
