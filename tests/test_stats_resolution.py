"""A term or an outcome that varies too little beside its own size is refused, not lost.

statsmodels solves least squares on the columns as given: a covariate of 1e8 + x is, beside the
intercept, 1e-8 of itself, and its pseudo-inverse dropped it with only a SingularMatrixWarning:
the "adjusted" effect was the unadjusted one. An outcome of 1e14 + y moved the effect by a fifth
of its standard error. Such input now gets an error naming the column, while offsets that
least squares still resolves give the same answer as the centred data.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from srmsim import stats
from srmsim.errors import DataError


def _trial(seed: int = 4, n: int = 72) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    school = np.repeat(np.arange(12), n // 12)
    arm = np.where(school % 2 == 0, "c", "t")
    x = rng.normal(size=n)
    y = rng.normal(size=n) + 0.3 * (arm == "t") + 0.5 * x + 0.3 * rng.normal(size=12)[school]
    return pd.DataFrame({"y": y, "arm": arm, "x": x, "school": school,
                         "T": (arm == "t").astype(float)})


@pytest.mark.parametrize("kw", [{}, {"se": "cluster", "cluster": "school"},
                                {"se": "cr2", "cluster": "school"},
                                {"method": "gee", "cluster": "school"},
                                {"method": "mixed", "cluster": "school"}])
def test_a_covariate_far_from_zero_is_named_not_dropped(kw):
    df = _trial()
    with pytest.raises(DataError, match=r"term 'x' varies by about 1 part in 1e\+08 of its size"):
        stats.estimate_effect(df.assign(x=df["x"] + 1e8), "y", "arm", "c", covariates=["x"], **kw)


def test_regression_and_random_intercept_name_the_term_too():
    df = _trial().assign(x=lambda d: d["x"] + 1e8)
    with pytest.raises(DataError, match=r"regression 'y ~ T \+ x': term 'x' varies by about 1 "
                                        r"part in 1e\+08"):
        stats.regress(df, "y ~ T + x")
    with pytest.raises(DataError, match="random-intercept model: term 'x' varies"):
        stats.random_intercept(df, "y", "school", covariates=["x"])


def test_an_offset_least_squares_resolves_gives_the_centred_answer():
    df = _trial()
    centred = stats.estimate_effect(df, "y", "arm", "c", covariates=["x"]).table.iloc[0]
    design = np.column_stack([np.ones(len(df)), df["T"], df["x"] - df["x"].mean()])
    exact = np.linalg.lstsq(design, df["y"].to_numpy(), rcond=None)[0][1]
    assert centred["estimate"] == pytest.approx(exact, rel=1e-12)
    for offset in (1e3, 1e5, 1e6):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # nor a SingularMatrixWarning
            got = stats.estimate_effect(df.assign(x=df["x"] + offset), "y", "arm", "c",
                                        covariates=["x"]).table.iloc[0]
        assert abs(got["estimate"] - centred["estimate"]) < 1e-6 * centred["se"]
        assert got["se"] == pytest.approx(centred["se"], rel=1e-8)


def test_an_outcome_far_from_zero_is_refused_beyond_what_least_squares_resolves():
    df = _trial()
    base = stats.estimate_effect(df, "y", "arm", "c").table.iloc[0]
    for offset in (1e13, 1e14):
        with pytest.raises(DataError, match=r"outcome column 'y' varies by about 1 part in "
                                            r"[\d.]+e\+1[234] of its size"):
            stats.estimate_effect(df.assign(y=df["y"] + offset), "y", "arm", "c")
        with pytest.raises(DataError, match="outcome column 'y' varies"):
            stats.regress(df.assign(y=df["y"] + offset), "y ~ T")
    shifted = stats.estimate_effect(df.assign(y=df["y"] + 1e6), "y", "arm", "c").table.iloc[0]
    assert abs(shifted["estimate"] - base["estimate"]) < 1e-6 * base["se"]


def test_ordinary_columns_far_from_their_spread_still_fit():
    """A school year (2015-2020), a date as seconds (1.6e9 +- 3e7), a rare 0/1 flag: far from
    the limits."""
    rng = np.random.default_rng(2)
    n = 400
    df = pd.DataFrame({"arm": np.tile(["c", "t"], n // 2), "y": rng.normal(size=n),
                       "year": rng.integers(2015, 2021, n).astype(float),
                       "seconds": 1.6e9 + rng.normal(0, 3e7, n),
                       "rare": (np.arange(n) == 7).astype(float)})
    got = stats.estimate_effect(df, "y", "arm", "c", covariates=["year", "seconds", "rare"])
    assert np.isfinite(got.table["estimate"]).all() and (got.table["se"] > 0).all()
