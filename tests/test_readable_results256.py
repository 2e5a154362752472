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
