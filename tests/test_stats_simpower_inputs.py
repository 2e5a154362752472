"""simulated_power refuses bad counts and seeds by name, and reads a malformed estimate() result
as a failed replication (counted with on_error="count"), never as a raw TypeError."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from srmsim import stats
from srmsim.errors import SrmsimError


def simulate(seed: int) -> pd.DataFrame:
    return pd.DataFrame({"arm": ["c", "t"] * 10, "y": np.random.default_rng(seed).normal(size=20)})


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"seed": -1}, r"seed=-1 is out of range: it must be from 0 to 2\*\*63 - 1"),
    ({"seed": 2**63}, r"seed=9223372036854775808 is out of range"),
    ({"seed": 2.5}, r"seed must be a whole number from 0 to 2\*\*63 - 1, got 2.5"),
    ({"seed": True}, r"seed must be a whole number .* got True"),
    ({"n_sims": True}, r"n_sims must be a whole number from 1 to 100,000, got True"),
    ({"n_sims": 3.0}, r"n_sims must be a whole number .* got 3.0"),
    ({"n_sims": 0}, r"n_sims=0 is out of range"),
    ({"n_sims": 10**12}, r"n_sims=1000000000000 is out of range: it must be from 1 to 100,000"),
])
def test_bad_seed_and_n_sims_are_refused_by_name(kwargs, message):
    """seed=-1 raised a raw ValueError, n_sims=True a TypeError, n_sims=10**12 a MemoryError."""
    with pytest.raises(SrmsimError, match=message):
        stats.simulated_power(simulate, lambda d: 0.5, **{"n_sims": 3, **kwargs})


def test_numpy_whole_numbers_and_the_largest_seed_are_accepted():
    res = stats.simulated_power(simulate, lambda d: 0.01, n_sims=np.int64(3), seed=2**63 - 1)
    assert res.n_sims == 3 and res.power == 1.0 and res.seed == 2**63 - 1


@pytest.mark.parametrize("result", [{"p_value": None}, ("a", 0.01), (0.3, "0.01"),
                                    {"p_value": 0.01, "estimate": "big"}, True])
def test_malformed_estimate_results_are_srmsim_errors(result):
    """{'p_value': None} or ('a', 0.01) escaped as a raw TypeError/ValueError even with
    on_error='count'."""
    named = r"replication 0 \(seed \d+\): estimate\(\) (returned|must)"
    with pytest.raises(SrmsimError, match=named):
        stats.simulated_power(simulate, lambda d: result, n_sims=3)
    with pytest.raises(SrmsimError, match=r"all 3 replications failed; first: replication 0"):
        stats.simulated_power(simulate, lambda d: result, n_sims=3, on_error="count")


def test_malformed_results_count_as_failures_like_impossible_p_values():
    """Consistent with a p-value of 1.5: under on_error='count' the replication is a failure."""
    calls = []

    def sometimes_broken(d: pd.DataFrame) -> object:
        calls.append(1)
        return {"p_value": None} if len(calls) % 2 else {"estimate": 0.4, "p_value": 0.01}

    res = stats.simulated_power(simulate, sometimes_broken, n_sims=10, on_error="count")
    assert res.n_failed == 5 and res.n_rejected == 5 and res.power == 1.0
    assert "p-value None, which is not a number" in res.failures[0]
