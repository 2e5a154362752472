"""Small defects earlier reviews left in printed figures and checks: a Sobol index of "-0.00",
shares of runs rounded to "0%" or "100%", a learned chooser's repeated feature, invisible and
bidirectional characters shown as they are, staff utilisation to whole percent."""

from __future__ import annotations

import pandas as pd

from srmsim.labels import rounded


# ----------------------------------------------------------------------------- Sobol indices
def test_a_number_that_rounds_to_zero_prints_without_a_sign():
    assert [rounded(v, ".2f") for v in (-0.0, -0.004, -1e-300, 0.004)] == ["0.00"] * 4
    assert rounded(-0.0, ".3g") == "0" and rounded(-0.006, ".2f") == "-0.01"
    assert rounded(-0.0004, ".3g") == "-0.0004"  # shown in full: not rounded to zero
    assert rounded(float("-inf"), ".2f") == "-inf" and rounded(-12.0, ".2f") == "-12.00"


def test_a_sobol_index_near_zero_prints_0_00_not_minus_0_00():
    """A first-order index of -0.0004 (bootstrap noise around 0) read '-0.00' in the report,
    and -0.0 as '-0' in `srmsim sensitivity`'s table."""
    from srmsim.explore.sensitivity import format_sensitivity
    from srmsim.report.explore import sensitivity_table

    table = pd.DataFrame({"target": ["on - off"] * 2, "variant": ["on"] * 2,
                          "outcome": ["attainment"] * 2, "parameter": ["a", "b"],
                          "method": ["sobol"] * 2, "S1": [-0.0004, -0.0],
                          "S1_conf": [0.001, 0.1], "ST": [-0.00001, 0.5],
                          "ST_conf": [0.004, 0.1]})
    shown = sensitivity_table(table, {})[0]
    assert shown["first-order S1"].tolist() == ["0.00", "0.00"]
    assert shown["total ST"].tolist() == ["0.00", "0.50"]
    assert shown["S1 95% interval"].tolist() == ["0.00 to 0.00", "-0.10 to 0.10"]
    assert shown["ST 95% interval"].tolist() == ["0.00 to 0.00", "0.40 to 0.60"]
    printed = format_sensitivity(table).split("\n\n")[1]
    assert "-0 " not in printed and not printed.rstrip().endswith("-0")
    assert "-0.0004" in printed  # not zero to 3 significant digits: shown as it is

