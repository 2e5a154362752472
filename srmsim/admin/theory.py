"""Queueing theory the request streams are checked against: M/M/c (Erlang C) and Little's law.

These are public functions (``srmsim.admin``), so their arguments are user input: a rate that is
NaN, negative or text, a fractional or boolean number of servers, or a quantile outside [0, 1)
is refused with a :class:`~srmsim.errors.SrmsimError` naming the argument (an offered load at
or above the servers stays a ``ValueError``: no steady state), instead of a negative wait, a NaN
or a raw ``math domain error``.
"""

from __future__ import annotations

import math

#: the most servers the formulas take: the Erlang B recursion runs once per server, and a
#: stream's staff group has at most this many people (:class:`srmsim.admin.config.StaffGroup`)
MAX_SERVERS = 100_000


def _servers(servers: object) -> int:
    """``servers`` as a whole number from 1 to :data:`MAX_SERVERS` (``True`` and 2.5 refused)."""
    from srmsim.stats._checks import whole_number  # lazy: pandas only when the formulas run

    return whole_number(servers, "servers", 1, MAX_SERVERS)


def _rates(arrival_rate: object, service_rate: object) -> tuple[float, float]:
    """Finite rates, arrivals non-negative and service positive: two negative rates would give
    a positive load and a negative wait."""
    from srmsim.errors import DataError
    from srmsim.stats._checks import finite_number

    lam = finite_number(arrival_rate, "arrival_rate")
    mu = finite_number(service_rate, "service_rate")
    if lam < 0:
        raise DataError(f"arrival_rate={arrival_rate!r} must be non-negative")
    if mu <= 0:
        raise DataError(f"service_rate={service_rate!r} must be positive")
    return lam, mu


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability that an arrival waits in an M/M/c queue (Erlang's C formula).

    ``offered_load`` is ``a = lambda / mu`` (in erlangs); needs ``a < servers``. Computed from
    the Erlang B recursion, which is stable for large ``servers``.
    """
    from srmsim.stats._checks import finite_number

    c = _servers(servers)
    a = finite_number(offered_load, "offered_load")
    if not 0 <= a < c:
        raise ValueError(f"offered load must be non-negative and below the number of servers "
                         f"(got {a!r} with {c} servers)")
    b = 1.0  # Erlang B with 0 servers
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    rho = a / c
    return b / (1 - rho + rho * b)


def mmc_mean_wait(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Mean time in queue (before service) of an M/M/c queue, in the rates' time unit."""
    lam, mu = _rates(arrival_rate, service_rate)
    c = _servers(servers)
    return erlang_c(c, lam / mu) / (c * mu - lam)


def mmc_wait_quantile(arrival_rate: float, service_rate: float, servers: int, q: float) -> float:
    """The ``q`` quantile (``0 <= q < 1``) of the time in queue: waits are 0 with probability
    1 - C and, given a wait, exponential with rate ``c mu - lambda``."""
    from srmsim.errors import DataError
    from srmsim.stats._checks import finite_number

    lam, mu = _rates(arrival_rate, service_rate)
    c = _servers(servers)
    p_q = finite_number(q, "q")
    if not 0 <= p_q < 1:
        raise DataError(f"q={q!r} must be a probability from 0 up to (not including) 1")
    wait = erlang_c(c, lam / mu)
    if p_q <= 1 - wait:
        return 0.0
    # the exponential quantile, -log(1 - p) / rate (no scipy import for the CLI's start-up)
    p = (p_q - (1 - wait)) / wait
    return -math.log1p(-p) / (c * mu - lam)


def littles_law_gap(mean_in_system: float, arrival_rate: float, mean_time_in_system: float
                    ) -> float:
    """Relative gap between L and lambda W (0 when Little's law holds; NaN when lambda W is 0).

    The arguments are checked like the other formulas' (a negative rate and time gave a gap of
    0, "holds"; text a TypeError); the gap is computed as L / lambda / W - 1, so that
    lambda W beyond the float range (1e200 x 1e200) is no NaN."""
    from srmsim.errors import DataError
    from srmsim.stats._checks import finite_number

    values = {"mean_in_system": mean_in_system, "arrival_rate": arrival_rate,
              "mean_time_in_system": mean_time_in_system}
    checked = {}
    for name, value in values.items():
        checked[name] = finite_number(value, name)
        if checked[name] < 0:
            raise DataError(f"{name}={value!r} must be non-negative")
    big_l, lam, w = checked.values()
    if lam == 0 or w == 0:
        return math.nan
    return big_l / lam / w - 1.0  # Python floats: inf past the range, never an error
