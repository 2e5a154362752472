"""Common random numbers: every draw is a pure function of (seed, decision, week, student uid).

Why a hash and not a stateful generator: with a stream per run, changing one student's treatment
shifts every later draw for everyone, so two policy variants compared with the same seed would
differ by noise as well as by policy. Here the uniform for ``(seed, "attendance", week 12, uid 481)``
is the same in every variant, whatever else happened, so paired comparisons cancel the noise and
removing a student leaves everyone else's trajectory untouched.

The generator is counter based: a decision key ``k = mix(seed_key ^ name_hash ^ mix(week))`` and
the SplitMix64 output function applied to ``k + uid * GAMMA``. SplitMix64 passes BigCrush as a
sequential generator, and a counter-based use of its finaliser is what the design is tested for.
One 64-bit hash gives two 23-bit float32 uniforms, so a call that asks for two streams pays for one.
"""

from __future__ import annotations

import hashlib

import numpy as np
from scipy import special

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_TWO23 = np.float32(1.0 / 8388608.0)
_LITTLE_ENDIAN = np.little_endian


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser, vectorised; uint64 arithmetic wraps modulo 2**64 as intended.

    Works in place on ``x`` (which must be a uint64 array the caller owns) with one temporary:
    ten passes over the data and no fresh allocation per step.
    """
    tmp = np.right_shift(x, _S30)
    x ^= tmp
    x *= _M1
    np.right_shift(x, _S27, out=tmp)
    x ^= tmp
    x *= _M2
    np.right_shift(x, _S31, out=tmp)
    x ^= tmp
    return x


def _as_uint64(uid: np.ndarray) -> np.ndarray:
    """The uids' bits as uint64: a view of an int64 array (the same bits ``astype`` gives,
    modulo 2**64), else a converted copy."""
    uid = np.asarray(uid)
    if uid.dtype == np.int64 and uid.flags.c_contiguous:
        return uid.view(np.uint64)
    return uid.astype(np.uint64)


def _unit23(bits23: np.ndarray) -> np.ndarray:
    """float32 ``(x + 0.5) / 2**23`` of 23-bit integers (exact: every step is representable)."""
    out = bits23.view(np.int32).astype(np.float32)  # int32 -> float32 converts in SIMD
    out += np.float32(0.5)
    out *= _TWO23
    return out


def _unit53(bits: np.ndarray) -> np.ndarray:
    """float64 Uniform(0, 1) from the top 53 of 64 random bits, strictly inside the interval."""
    return ((bits >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


_MASK64 = 0xFFFFFFFFFFFFFFFF


def _mix_scalar(x: int) -> int:
    """:func:`_mix` of one number, in Python integers (the same bits): a decision's key is made
    once a week per decision, and numpy's one-element arrays cost several times as much."""
    x &= _MASK64
    x ^= x >> 30
    x = (x * int(_M1)) & _MASK64
    x ^= x >> 27
    x = (x * int(_M2)) & _MASK64
    return x ^ (x >> 31)


def name_hash(name: str) -> int:
    """Stable 64-bit hash of a decision name (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


class CRN:
    """Draws keyed by (seed, decision, week, uid).

    >>> crn = CRN(seed=1)
    >>> u = crn.uniform("attendance", week=3, uid=np.arange(5))
    >>> bool(np.all((u > 0) & (u < 1)))
    True
    """

    def __init__(self, seed: int):
        if seed < 0:
            raise ValueError("seed must be non-negative")
        self.seed = int(seed)
        self._seed_key = _mix_scalar(self.seed * 0x2545F4914F6CDD1D + 0x632BE59BD9B4E019)
        self._keys: dict[tuple[str, int], np.uint64] = {}

    def key(self, decision: str, week: int) -> np.uint64:
        k = self._keys.get((decision, week))
        if k is None:
            k = np.uint64(_mix_scalar(self._seed_key ^ name_hash(decision) ^ _mix_scalar(week + 1)))
            self._keys[(decision, week)] = k
        return k

    def bits(self, decision: str, week: int, uid: np.ndarray) -> np.ndarray:
        """64 random bits per uid."""
        x = np.multiply(_as_uint64(uid), _GAMMA)
        x += self.key(decision, week)
        return _mix(x)

    def uniform(self, decision: str, week: int, uid: np.ndarray) -> np.ndarray:
        """Uniform(0, 1) per uid, strictly inside the interval (53-bit resolution)."""
        return _unit53(self.bits(decision, week, uid))

    def uniform_each(self, decisions: list[str], week: int, which: np.ndarray,
                     uid: np.ndarray) -> np.ndarray:
        """``uniform(decisions[which[i]], week, uid[i])`` for every ``i``, in one hash pass
        over all of them: the same numbers as one call per decision, without splitting the
        uids by decision and scattering the draws back (the policy's take-up draws of a queue
        whose cases wait for different workflow steps)."""
        keys = np.array([self.key(d, week) for d in decisions], dtype=np.uint64)
        x = np.multiply(_as_uint64(uid), _GAMMA)
        x += keys[which]
        return _unit53(_mix(x))

    def uniform2(self, decision: str, week: int, uid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Two independent float32 Uniform(0, 1) per uid from one hash (23-bit resolution each).

        The weekly dynamics use these: float32 halves memory traffic and 24 bits are plenty for
        a Bernoulli or binomial draw.
        """
        b = np.ascontiguousarray(self.bits(decision, week, uid))
        # 23 bits each: (2**23 - 0.5) / 2**23 is the largest float32 below 1; 24 bits would
        # round the top value up to exactly 1.0. ``hi`` is bits 41-63 (bits 9-31 of the high
        # 32-bit word), ``lo`` bits 8-30 (of the low word): worked on 32-bit halves, half the
        # memory traffic of shifting the 64-bit words, and the same integers.
        words = b.view(np.uint32).reshape(-1, 2)
        low, high = (0, 1) if _LITTLE_ENDIAN else (1, 0)
        hi = np.right_shift(words[:, high], np.uint32(9))
        lo = np.right_shift(words[:, low], np.uint32(8))
        lo &= np.uint32(0x7FFFFF)
        return _unit23(hi), _unit23(lo)

    def normal(self, decision: str, week: int, uid: np.ndarray) -> np.ndarray:
        """Standard normal per uid by inversion (float64), used where precision matters."""
        return special.ndtri(self.uniform(decision, week, uid))

    def normal2(self, decision: str, week: int, uid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Two independent float32 standard normals per uid (Box-Muller on one hash).

        Box-Muller in float32 is about six times faster than ``ndtri`` here; tails reach 5.9 SD.
        """
        u1, u2 = self.uniform2(decision, week, uid)
        r = np.sqrt(np.float32(-2.0) * np.log(u1))
        theta = np.float32(2.0 * np.pi) * u2
        return r * np.cos(theta), r * np.sin(theta)


def _compact(live: np.ndarray, count: int | np.integer) -> bool:
    """Whether to drop the placed draws from the arrays an inversion still works on: once at
    most half are still counting, gathering the rest costs less than passing over them all."""
    return 2 * count <= len(live)


def binomial_inv(u: np.ndarray, n: int, p: np.ndarray) -> np.ndarray:
    """Binomial(n, p) by inverting the CDF at ``u``: monotone in ``u``, so CRN carries through.

    The draw is the number of counts ``i < n`` with ``u > cdf(i)`` (and ``cdf(i)`` below the
    top, see below). Both conditions can only turn false as ``i`` grows (the CDF never
    decreases), so a draw is placed at its first false one: the loop then carries on with the
    draws still counting only, and stops when none is left. Every arithmetic step on a draw is
    the one the full loop would make, so the result is the same to the bit.
    """
    p = np.broadcast_to(np.asarray(p), np.shape(u))
    eps = 1e-6 if p.dtype == np.float32 else 1e-12
    p = np.clip(p, eps, 1 - eps)
    q = 1 - p
    ratio = p / q
    pmf = q**n
    cdf = pmf.copy()
    # a float32 CDF can stall just below 1; stop counting there, or a top uniform would give n
    top = 1 - 4 * np.finfo(p.dtype).eps
    # ``u > cdf`` implies ``cdf < top`` when no uniform is above ``top`` (nearly always)
    check_top = u.size > 0 and bool(u.max() > top)
    k = np.zeros(u.shape, dtype=np.int8)
    rows = None  # positions in ``k`` of the draws still counting, once compacted
    for i in range(n):
        live = np.greater(u, cdf)
        if check_top:
            live &= cdf < top
        count = np.count_nonzero(live)
        if rows is None:
            k += live
        else:
            k[rows] += live
        if count == 0 or i == n - 1:
            break
        if _compact(live, count):
            keep = np.flatnonzero(live)
            rows = keep if rows is None else rows[keep]
            u, cdf, pmf, ratio = u[keep], cdf[keep], pmf[keep], ratio[keep]
        pmf = pmf * ((n - i) / (i + 1)) * ratio
        cdf = cdf + pmf
    return k


def poisson_inv(u: np.ndarray, lam: np.ndarray, kmax: int = 30) -> np.ndarray:
    """Poisson(lam) by CDF inversion at ``u``, stopping once every draw is placed (and carrying
    on with the unplaced draws only, as :func:`binomial_inv` does)."""
    lam = np.asarray(lam)
    if lam.dtype != np.float32:
        lam = lam.astype(np.float64)
    lam = np.broadcast_to(lam, u.shape)
    pmf = np.exp(-lam)
    cdf = pmf.copy()
    top = 1 - 4 * np.finfo(lam.dtype).eps  # see binomial_inv
    check_top = u.size > 0 and bool(u.max() > top)
    k = np.zeros(u.shape, dtype=np.int16)
    rows = None
    for i in range(kmax):
        above = np.greater(u, cdf)
        if check_top:
            above &= cdf < top
        count = np.count_nonzero(above)
        if count == 0:
            break
        if rows is None:
            k += above
        else:
            k[rows] += above
        if _compact(above, count):
            keep = np.flatnonzero(above)
            rows = keep if rows is None else rows[keep]
            u, cdf, pmf, lam = u[keep], cdf[keep], pmf[keep], lam[keep]
        pmf = pmf * lam / (i + 1)
        cdf = cdf + pmf
    return k


def replication_seeds(root: int, n: int) -> list[int]:
    """Seeds for replications 0..n-1 from ``np.random.SeedSequence(root).spawn(n)``.

    Replication i gets the same seed in every variant (common random numbers across variants),
    and adding replications later leaves the first ones unchanged.
    """
    return [int(s.generate_state(1, dtype=np.uint32)[0]) for s in np.random.SeedSequence(root).spawn(n)]
