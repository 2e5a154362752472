"""Results a newcomer can read (helper 256): a small regret is not printed as none, the
sensitivity table's half-widths say what they are, an interval of a difference of shares stays
within what two shares can differ by, and a trial on records tells withheld from not measured."""

from __future__ import annotations

import pandas as pd

from srmsim.experiment.compare import compare_frame, format_effects
from srmsim.experiment.learning import regret_outcomes
from srmsim.experiment.outcomes import LEVEL_FORMATS, format_value


def test_a_small_regret_level_is_not_printed_as_no_regret() -> None:
    """A learned chooser's regret of 0.04 months printed "0.0 months" beside the oracle's 0, as
    if it had none: a level keeps two significant digits where its decimals would read 0, as a
    difference does (:func:`srmsim.experiment.outcomes.significant_decimals`); a share keeps
    0.1%, the rounding the privacy checks of records assume."""
    registry = regret_outcomes("reading")
    runs = pd.DataFrame({"variant": ["oracle", "oracle", "learned", "learned"],
                         "replication": [0, 1, 0, 1], "regret": [0.0, 0.0, 0.04, 0.05]})
    text = format_effects(compare_frame(runs, "oracle", ["regret"], registry=registry),
                          registry)
    row = next(line for line in text.splitlines() if line.startswith("learned"))
    assert "0.0 months 0.045 months +0.045 months" in " ".join(row.split()), row
    for scale in LEVEL_FORMATS:
        assert format_value(0.004, scale) not in (format_value(0.0, scale),
                                                  format_value(-0.004, scale)), scale
        assert format_value(-0.004, scale).startswith("-0.00"), scale
    assert [format_value(v, "months") for v in (2.2, -1.84, 0.04, 0.0)] == [
        "2.2 months", "-1.8 months", "0.040 months", "0.0 months"]
    assert format_value(4790.4, "hours") == "4,790 h" and format_value(0.4, "hours") == "0.40 h"
    assert format_value(0.0004, "share") == "0.0%"


def test_an_interval_of_a_difference_of_shares_stays_within_100_pp_and_covers_as_t_does(
        ) -> None:
    """With 2 replications the oracle match's difference read "-96.20 pp to +116.34 pp": two
    shares differ by at most 100 pp. The interval is cut at the bounds; on shares of a known
    truth (a baseline's 30%, a variant's shares drawn from Beta(4, 4), mean 50%: a true
    difference of +20 pp; 600 experiments of 2 replications) it covers the true difference
    exactly when the t interval does, near 95%, and many were cut, above and below. Values outside 0 to 1 (not
    a share) are not cut."""
    import numpy as np

    from srmsim.experiment.compare import bounds_note

    rng = np.random.default_rng(256)
    k, truth = 600, 0.5 - 0.3
    runs = pd.DataFrame({
        "variant": ["base"] * 2 + [f"v{i}" for i in range(k) for _ in range(2)],
        "replication": [0, 1] * (k + 1),
        "oracle_match": np.concatenate([[0.3, 0.3], rng.beta(4, 4, size=2 * k)])})
    eff = compare_frame(runs, "base", ["oracle_match"])
    d, half = eff["difference"].to_numpy(), eff["half_width"].to_numpy()
    t_low, t_high = d - half, d + half
    low, high = eff["ci_low"].to_numpy(), eff["ci_high"].to_numpy()
    assert ((low >= -1) & (high <= 1)).all() and ((low >= t_low) & (high <= t_high)).all()
    cut = (low > t_low) | (high < t_high)
    assert (high < t_high).sum() > 100 and (low > t_low).sum() > 20  # past +100 pp, -100 pp
    covered = (low <= truth) & (truth <= high)
    assert (covered == ((t_low <= truth) & (truth <= t_high))).all()
    assert 0.92 < covered.mean() < 0.98, covered.mean()  # 95% give or take 3 MC SEs
    assert (eff["verdict"] == ["better" if lo > 0 else "worse" if hi < 0 else "no clear change"
                               for lo, hi in zip(t_low, t_high, strict=True)]).all()
    note = bounds_note(eff)
    assert note.startswith(f"{int(cut.sum())} intervals of a difference of shares reached past")
    text = format_effects(eff)
    assert "+100.00 pp" in text and note in " ".join(text.split())
    # not a share: values outside 0 to 1 keep the t interval
    wide = compare_frame(runs.assign(oracle_match=runs["oracle_match"] * 4 + 1), "base",
                         ["oracle_match"])
    assert (wide["ci_high"] > 1).any() and bounds_note(wide) == ""
