"""Review 50: Callaway-Sant'Anna anticipation on panels with gaps, and hostile numerics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from srmsim import stats


def _gap_panel(seed: int = 0, units: int = 600) -> pd.DataFrame:
    """Years 1-8 with year 5 missing (no rows, e.g. no tests that year). Cohorts first treated
    in 3, in 5 (the missing year) and in 8, a third never. With anticipation 1 each unit
    responds by -1 in the year before its first treated year and by +1 from it on."""
    rng = np.random.default_rng(seed)
    t = np.array([1, 2, 3, 4, 6, 7, 8], dtype=float)
    g = np.array([3.0, 5.0, 8.0, np.nan])[rng.integers(0, 4, units)]
    gi = np.nan_to_num(g, nan=np.inf)[:, None]
    effect = np.where(t >= gi, 1.0, np.where(t >= gi - 1, -1.0, 0.0))
    y = (rng.normal(size=units)[:, None] + 0.3 * t + effect
         + 0.3 * rng.normal(size=(units, t.size)))
    return pd.DataFrame({"u": np.repeat(np.arange(units), t.size), "t": np.tile(t, units),
                         "g": np.repeat(g, t.size), "y": y.ravel()})


@pytest.mark.parametrize("control", ["never", "notyet"])
def test_anticipation_reads_first_treated_values_in_a_missing_period(control):
    """Units first treated in the missing year 5 join cohort 6 (event times count observed
    periods), but with anticipation 1 they respond in year 4: their base is year 3 (3 + 1 < 5),
    and they are no not-yet-treated control for a cell whose later period is 4 (5 > 4 + 1 is
    false). Was: year 4 (4 + 1 < 6, the cohort's label) was the base and every post-treatment
    effect of cohort 6 was 2.0 instead of 1 (the response of -1 in the base counted as effect),
    and the 5 cohort stood as a control in cohort 3's year-4 cell."""
    df = _gap_panel()
    res = stats.did_group_time(df, "y", "u", "t", "g", control=control, anticipation=1,
                               n_boot=50)
    wide = df.pivot(index="u", columns="t", values="y")
    g = df.groupby("u")["g"].first()
    cells = res.att_gt.set_index(["group", "time"])
    for year in (6.0, 7.0, 8.0):
        change = wide[year] - wide[3.0]
        ctrl = g.isna() | ((g > year + 1) if control == "notyet" else False)
        by_hand = change[g == 5].mean() - change[ctrl].mean()
        assert cells.loc[(6.0, year), "att"] == pytest.approx(by_hand, rel=1e-12)
        assert cells.loc[(6.0, year), "n_control"] == ctrl.sum()
        assert abs(cells.loc[(6.0, year), "att"] - 1) < 0.15  # the truth; was about 2
    if control == "notyet":  # cohort 3 at year 4 against base 1: only units first treated after 5
        change = wide[4.0] - wide[1.0]
        ctrl = g.isna() | (g > 5)
        assert cells.loc[(3.0, 4.0), "n_control"] == ctrl.sum()
        assert cells.loc[(3.0, 4.0), "att"] == pytest.approx(
            change[g == 3].mean() - change[ctrl].mean(), rel=1e-12)
    assert abs(res.overall["estimate"] - 1) < 0.1


@pytest.mark.parametrize("control", ["never", "notyet"])
@pytest.mark.parametrize("base_period", ["varying", "universal"])
def test_anticipation_in_tenths_is_the_same_as_in_whole_periods(control, base_period):
    """Periods 0.1 to 0.8 (as read from a file), anticipation 0.1: the same design as periods
    1 to 8 with anticipation 1, so every cell must match. Was: in binary 0.7 + 0.1 < 0.8, so
    the 0.8 cohort's base was 0.7, the period it already responds in (its ATT at 0.8 was 2.04
    for a true 1), and with not-yet-treated controls the 0.8 cohort stood as a control in the
    cells ending in 0.7."""
    rng = np.random.default_rng(0)
    units, t = 300, np.arange(1, 9, dtype=float)
    g = np.array([4.0, 6.0, 8.0, np.nan])[rng.integers(0, 4, units)]
    gi = np.nan_to_num(g, nan=np.inf)[:, None]
    effect = np.where(t >= gi, 1.0, np.where(t >= gi - 1, -1.0, 0.0))
    y = rng.normal(size=units)[:, None] + 0.1 * t + effect + 0.2 * rng.normal(size=(units, 8))
    whole = pd.DataFrame({"u": np.repeat(np.arange(units), 8), "t": np.tile(t, units),
                          "g": np.repeat(g, 8), "y": y.ravel()})
    tenths = whole.assign(t=[float(f"{v / 10:g}") for v in whole["t"]],
                          g=[float(f"{v / 10:g}") for v in whole["g"]])
    kw = {"control": control, "base_period": base_period, "n_boot": 50}
    a = stats.did_group_time(whole, "y", "u", "t", "g", anticipation=1, **kw).att_gt
    b = stats.did_group_time(tenths, "y", "u", "t", "g", anticipation=0.1, **kw).att_gt
    assert len(a) == len(b)
    np.testing.assert_allclose(b[["group", "time"]] * 10, a[["group", "time"]], rtol=1e-12)
    for col in ("att", "se", "n_treated", "n_control", "event_time"):
        np.testing.assert_allclose(b[col], a[col], rtol=1e-10, err_msg=col)
    post8 = b[(b["group"] == 0.8) & (b["time"] == 0.8)]
    assert abs(float(post8["att"].iloc[0]) - 1) < 0.15
