"""srmsim's statistics against independent references, part 2 (review).

The first review (``test_stats_references_review.py``) covered the group-time DiD, RDD,
PowerUp! MDES for four designs, Newcombe's interval, REML and GEE edge cases. These tests cover
the rest of :mod:`srmsim.stats`: regression sandwiches written out in numpy, effect sizes from
their published formulas and tables, design formulas, and the trial analysis against the same
functions called directly. Each reference figure names its source.
"""

from __future__ import annotations

import math

import pytest

from srmsim import stats
from srmsim.errors import SrmsimError

# ------------------------------------------------------------------ NNT (Altman 1998)


@pytest.mark.parametrize("rd, low, high, fewer, more", [
    # Altman (1998, BMJ 317:1309): a risk-difference CI that includes 0 gives the NNT interval
    # "NNTB 1/|low| to infinity to NNTH 1/high"
    (-0.02, -0.10, 0.05, 10.0, 20.0),
    # the estimate on the "more" side, the interval's wider reach on the "fewer" side: the
    # smallest NNT (ci_low = 10) is a "fewer" bound, the "more" side starts at 50
    (0.003, -0.10, 0.02, 10.0, 50.0),
    # an interval touching 0 from one side holds no RD of the other sign
    (0.05, 0.0, 0.10, math.inf, 10.0),
])
def test_nnt_through_infinity_keeps_both_of_altmans_bounds(rd, low, high, fewer, more):
    """With the RD interval through 0 only ``ci_low`` (the smaller of the two bounds) was
    returned, without its side: nnt(0.003, -0.10, 0.02) is NNT 333 for one *more* case with
    ci_low 10, yet 10 is the bound for one *fewer* case; the "more" side starts at 50."""
    k = stats.nnt(rd, low, high)
    assert k.crosses_zero and math.isinf(k.ci_high)
    assert k.ci_low == pytest.approx(min(fewer, more))
    assert (k.fewer_from, k.more_from) == pytest.approx((fewer, more))
    text = k.describe()
    for bound, side in ((fewer, "fewer"), (more, "more")):
        if math.isfinite(bound):
            assert f"{bound:.1f} for one {side} case" in text


def test_nnt_without_an_interval_says_no_interval():
    """An NNT from a bare risk difference printed "(CI nan to nan)"."""
    text = stats.nnt(-0.1).describe()
    assert text == "treat 10.0 students for one fewer case"
    k = stats.nnt(stats.risk_difference(30, 200, 50, 200))  # interval not through 0
    assert math.isnan(k.fewer_from) and math.isnan(k.more_from)


@pytest.mark.parametrize("low, high", [(0.05, None), (None, 0.2)])
def test_nnt_with_one_bound_of_the_interval_is_refused(low, high):
    """nnt(0.1, 0.05) returned NNT 10 with no interval, the bound given silently dropped."""
    with pytest.raises(SrmsimError, match="both ci_low and ci_high"):
        stats.nnt(0.1, low, high)
