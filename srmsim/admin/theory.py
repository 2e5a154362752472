"""Queueing theory the request streams are checked against: M/M/c (Erlang C) and Little's law."""

from __future__ import annotations

import math


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability that an arrival waits in an M/M/c queue (Erlang's C formula).

    ``offered_load`` is ``a = lambda / mu`` (in erlangs); needs ``a < servers``. Computed from
    the Erlang B recursion, which is stable for large ``servers``.
    """
    if servers < 1:
        raise ValueError("servers must be at least 1")
    if not 0 <= offered_load < servers:
        raise ValueError("offered load must be non-negative and below the number of servers")
    b = 1.0  # Erlang B with 0 servers
    for k in range(1, servers + 1):
        b = offered_load * b / (k + offered_load * b)
    rho = offered_load / servers
    return b / (1 - rho + rho * b)


def mmc_mean_wait(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Mean time in queue (before service) of an M/M/c queue, in the rates' time unit."""
    a = arrival_rate / service_rate
    return erlang_c(servers, a) / (servers * service_rate - arrival_rate)


def mmc_wait_quantile(arrival_rate: float, service_rate: float, servers: int, q: float) -> float:
    """The ``q`` quantile of the time in queue: waits are 0 with probability 1 - C and, given a
    wait, exponential with rate ``c mu - lambda``."""
    c = erlang_c(servers, arrival_rate / service_rate)
    if q <= 1 - c:
        return 0.0
    # the exponential quantile, -log(1 - p) / rate (no scipy import for the CLI's start-up)
    p = (q - (1 - c)) / c
    return -math.log1p(-p) / (servers * service_rate - arrival_rate)


def littles_law_gap(mean_in_system: float, arrival_rate: float, mean_time_in_system: float
                    ) -> float:
    """Relative gap between L and lambda W (0 when Little's law holds)."""
    expected = arrival_rate * mean_time_in_system
    return (mean_in_system - expected) / expected if expected > 0 else math.nan
