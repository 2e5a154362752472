"""Printed results say what each figure is.

Walk-through of README and docs/ (2026-12-07) as a trust's analyst: the MDES summary printed
"interval: 0.183 to 1.075 SD" with nothing to say what the interval was (PowerUp!'s: the
confidence interval an estimate equal to the MDES would get).
"""

from __future__ import annotations


def test_the_mdes_interval_says_what_it_is() -> None:
    from srmsim import stats

    text = str(stats.mdes("cluster2", rho=0.17, n=15, J=20))
    assert "  95% CI:      0.183 to 1.075 SD (of an estimate equal to the MDES)" in text, text
    assert "interval:" not in text
    one_sided = str(stats.mdes("cluster2", rho=0.17, n=15, J=20, tails=1))
    assert "  90% CI:      0.183 to 0.919 SD" in one_sided, one_sided
