"""The learning curve says the level of its intervals; PRIM's limits on whole-number parameters
are whole numbers."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from srmsim.errors import DataError
from srmsim.experiment.learning import format_learning_curve, learning_curve, report_learning
from srmsim.explore.discovery import Discovery, cart_leaves, write_discovery
from srmsim.explore.prim import prim


def _runs(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 6
    data = {"variant": ["fixed"] * n + ["learned"] * n}
    for k in (1, 2, 3):
        data[f"regret_t{k}"] = rng.normal(1.0 / k, 0.3, 2 * n)
        data[f"oracle_match_t{k}"] = rng.uniform(0.2, 0.8, 2 * n)
    return pd.DataFrame(data)


# ------------------------------------------------------------------ the learning curve's level
def test_a_curve_at_90_percent_says_90_and_its_intervals_are_narrower():
    runs = _runs()
    c90, c95 = learning_curve(runs, level=0.9), learning_curve(runs, level=0.95)
    w90, w95 = c90["ci_high"] - c90["ci_low"], c95["ci_high"] - c95["ci_low"]
    assert (w90 > 0).all() and (w90 < w95).all()
    pd.testing.assert_series_equal(c90["mean"], c95["mean"])
    text = format_learning_curve(c90)
    # one heading per measure, each naming the level it was computed at (it said 95% always)
    assert text.count("(mean and 90% CI over 6 replications)") == 2, text
    assert "95%" not in text
    assert "(mean and 99.5% CI " in format_learning_curve(learning_curve(runs, level=0.995))
    assert "(mean and 95% CI " in format_learning_curve(c95)
    # a part of the curve (the notebook prints the regret rows only) keeps its level
    assert "90% CI" in format_learning_curve(c90[c90["measure"] == "regret"])
    assert "90% CI" in format_learning_curve(c90.query("measure == 'oracle_match'"))
    assert (c90["level"] == 0.9).all() and (c95["level"] == 0.95).all()


def test_the_curve_file_keeps_its_level_and_prints_the_same_back(tmp_path):
    runs = _runs()
    text = report_learning(tmp_path, runs, level=0.9)
    assert text is not None and "mean and 90% CI" in text and "95%" not in text
    back = pd.read_csv(tmp_path / "learning_curve.csv")
    assert (back["level"] == 0.9).all()
    assert format_learning_curve(back) == text.split("\nwrote ")[0]
    # the commands' default (they have no level option): 95%, as their effects
    assert "mean and 95% CI" in report_learning(tmp_path, runs)
    assert (pd.read_csv(tmp_path / "learning_curve.csv")["level"] == 0.95).all()


def test_a_curve_without_one_level_is_refused_not_printed_under_a_wrong_one():
    runs = _runs()
    mixed = pd.concat([learning_curve(runs, 0.9), learning_curve(runs, 0.95)])
    with pytest.raises(DataError, match="one level"):
        format_learning_curve(mixed)
    with pytest.raises(DataError, match="'level'"):
        format_learning_curve(learning_curve(runs).drop(columns="level"))
    assert list(learning_curve(runs.iloc[:, :1])) [-1] == "level"  # empty, same columns


# ------------------------------------------------------------ PRIM on whole-number parameters
def _levers(seed: int = 5, n: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"mentors": rng.integers(0, 7, n), "take_up": rng.uniform(0, 1, n),
                      "weeks": rng.integers(2, 13, n), "budget": rng.integers(10_000, 20_001, n)})
    y = (((x["mentors"] <= 2) & (x["weeks"] >= 5) & (x["budget"] <= 16_000)
          & (rng.uniform(size=n) < 0.9)) | (rng.uniform(size=n) < 0.05)).to_numpy()
    return x, y


def _inside(x: pd.DataFrame, lim: pd.DataFrame) -> np.ndarray:
    return np.all([(x[c] >= lim.loc["low", c]) & (x[c] <= lim.loc["high", c])
                   for c in x.columns], axis=0)


@pytest.mark.parametrize("bounds", [None, {"mentors": (-0.5, 6.5), "take_up": (0, 1),
                                           "weeks": (1.5, 12.5), "budget": (9_999.5, 20_000.5)}])
def test_integer_parameters_have_whole_number_limits_and_the_same_runs_inside(bounds):
    x, y = _levers()
    whole = ["mentors", "weeks", "budget"]
    found = prim(x, y, bounds=bounds)
    # the same parameters as real numbers: the continuous reading PRIM had before
    real = prim(x.astype(float), y, bounds=bounds)
    pd.testing.assert_frame_equal(found.trajectory, real.trajectory)
    assert len(found.members) == len(real.members) > 3
    halves = 0
    for step, (lim, lim_real) in enumerate(zip(found.limits, real.limits, strict=True)):
        assert (found.members[step] == real.members[step]).all()
        # the whole-number limits hold every run kept and leave out every run peeled
        assert (_inside(x, lim) == found.members[step]).all(), step
        for c in whole:  # a range given as (-0.5, 6.5) too is shown by its whole numbers
            assert (lim[c] == np.round(lim[c])).all(), (step, c, lim[c])
            halves += int((lim_real[c] != np.round(lim_real[c])).sum())
        assert (lim["take_up"] == lim_real["take_up"]).all()  # continuous: unchanged
    assert halves > 0  # the continuous reading did put limits between whole numbers
    for step in (len(found.limits) // 2, len(found.limits) - 1):
        box, box_real = found.box(step), real.box(step)
        assert box["parameter"].tolist() == box_real["parameter"].tolist()
        np.testing.assert_allclose(box["quasi_p"], box_real["quasi_p"], rtol=1e-12)
        for r, rr in zip(box.itertuples(), box_real.itertuples(), strict=True):
            if r.parameter in whole:
                assert r.low == np.ceil(rr.low) and r.high == np.floor(rr.high)
            else:
                assert (r.low, r.high) == (rr.low, rr.high)
            assert (r.range_low, r.range_high) == (rr.range_low, rr.range_high)
    assert (found.integers, real.integers) == (whole, [])


def test_printed_and_written_box_limits_of_integer_parameters_are_whole(tmp_path):
    x, y = _levers()
    found = prim(x, y)
    index = len(found.limits) - 1
    box = found.box(index)
    assert {"mentors", "weeks", "budget"} <= set(box["parameter"])
    bounds = {c: (float(x[c].min()), float(x[c].max())) for c in x.columns}
    d = Discovery("cost_diff > 0", "policy", x, y, found, index, cart_leaves(x, y, bounds))
    lines = {line.split(":")[0].strip(): line for line in d.summary().splitlines()[2:]}
    for c in ("mentors", "weeks", "budget"):
        low, high = (re.match(rf"  {c}: ([\d,]+) \.\. ([\d,]+) \(", lines[c]).groups())
        row = box[box["parameter"] == c].iloc[0]
        assert (int(low.replace(",", "")), int(high.replace(",", ""))) == (row["low"], row["high"])
    assert "," in lines["budget"] and "e+" not in lines["budget"]  # 16,000, not 1.6e+04
    write_discovery(d, tmp_path / "discovery")
    written = pd.read_csv(tmp_path / "discovery" / "prim_box.csv").set_index("parameter")
    whole = box.set_index("parameter").loc[["mentors", "weeks", "budget"], ["low", "high"]]
    assert (whole == np.round(whole)).all().all()
    pd.testing.assert_frame_equal(written.loc[whole.index, ["low", "high"]], whole,
                                  check_dtype=False)


def test_true_false_parameters_are_whole_numbers_too():
    rng = np.random.default_rng(2)
    n = 300
    x = pd.DataFrame({"enabled": rng.uniform(size=n) < 0.5, "take_up": rng.uniform(0, 1, n)})
    y = (~x["enabled"] & (rng.uniform(size=n) < 0.8)).to_numpy() | (rng.uniform(size=n) < 0.05)
    found = prim(x, y)
    box = found.box()
    row = box[box["parameter"] == "enabled"].iloc[0]
    assert (row["low"], row["high"]) == (0, 0)  # not 0 .. 0.5
    assert found.integers == ["enabled"]
