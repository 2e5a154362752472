"""Small defects earlier reviews left in printed figures and checks: a Sobol index of "-0.00",
shares of runs rounded to "0%" or "100%", a learned chooser's repeated feature, invisible and
bidirectional characters shown as they are, staff utilisation to whole percent."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

from srmsim.cli import main
from srmsim.errors import ScenarioError
from srmsim.labels import percent_of_runs, plain_number, printable, rounded, significant
from srmsim.scenario import scenario_from_dict

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- figures
def test_three_significant_figures_are_written_out_not_as_an_exponent():
    """A trial's df of 1,310 printed "1.31e+03" (a ``.3g`` format turns to an exponent from
    1,000 at three figures); a learned chooser's regret of 12,345 minutes the same."""
    values = (1310.4, 12345.0, 98.0, 3.456, 0.0123456, 999.6, -1234.5, -0.0, 0.1 + 0.2)
    assert [significant(v) for v in values] == [
        "1,310", "12,300", "98", "3.46", "0.0123", "1,000", "-1,230", "0", "0.3"]
    assert significant(1e20) == "1e+20" and significant(-1.234e-5) == "-1.23e-05"
    assert significant(float("nan")) == "nan" and significant(2.0 / 3.0, 2) == "0.67"


def test_a_discovery_box_limit_is_written_out():
    """The report showed a staff-minutes box of "1.2e+04 to 3e+04" (a ``.4g`` format)."""
    assert [plain_number(v) for v in (12000.0, 30000.0, 0.91254, 12345.6, 0.5, float("inf"))] == [
        "12,000", "30,000", "0.9125", "12,350", "0.5", "inf"]


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


# ---------------------------------------------------------------- shares of simulated runs
def test_a_share_of_runs_reads_0_or_100_percent_only_when_it_is():
    assert [percent_of_runs(x) for x in (0, 0.002, 0.004999, 0.5, 0.995, 0.996, 1)] == [
        "0%", "<1%", "<1%", "50%", ">99%", ">99%", "100%"]
    assert [percent_of_runs(x, 1) for x in (0.0004, 0.996, 0.9996, float("nan"))] == [
        "<0.1%", "99.6%", ">99.9%", "n/a"]


def test_discovery_prints_a_rare_condition_as_under_1_percent_not_0():
    """2 of 1,000 runs printed as '(0%)', a condition that never held; the leaves' 99.6%
    density as '100%'."""
    from srmsim.explore.discovery import Discovery, cart_leaves
    from srmsim.explore.prim import prim
    from srmsim.report.explore import leaves_display

    x = pd.DataFrame({"a": np.linspace(0, 1, 1000), "b": np.linspace(1, 0, 1000)})
    cases = (x["a"] > 0.998).to_numpy()
    bounds = {"a": (0.0, 1.0), "b": (0.0, 1.0)}
    found = Discovery("a > 0.998", "on", x, cases, prim(x, cases, bounds=bounds), 0,
                      cart_leaves(x, cases, bounds, max_depth=1))
    summary = found.summary()
    assert "holds in 2 of 1,000 runs (<1%)" in summary
    assert "coverage 100%, density <1%, mass 100%" in summary
    cart = pd.DataFrame({"box": ["a >= 0.5", "a < 0.5"], "runs": [500, 500],
                         "cases": [498, 1], "coverage": [0.996, 0.002],
                         "density": [0.996, 0.002]})
    shown = leaves_display(cart)
    assert shown["coverage"].tolist() == [">99%", "<1%"]
    assert shown["density"].tolist() == [">99%", "<1%"]
    # and a count of thousands of runs is written with its separator, as the total is
    many = (x["a"] > 0.5).to_numpy()
    x2 = pd.concat([x, x], ignore_index=True)
    found = Discovery("a > 0.5", "on", x2, np.concatenate([many, many]),
                      prim(x2, np.concatenate([many, many]), bounds=bounds), 0,
                      cart_leaves(x2, np.concatenate([many, many]), bounds, max_depth=1))
    assert "holds in 1,000 of 2,000 runs (50%)" in found.summary()


def test_trial_coverage_and_power_near_0_or_100_percent_are_not_rounded_away():
    """A coverage of 0.996 read '100%' in the trial report's words, and 0.9996 '100.0%' in
    `srmsim trial`'s table: as if no interval ever missed."""
    from srmsim.report.trial import headline
    from srmsim.trial.report import summary_display

    summary = pd.DataFrame({
        "measure": ["coverage of the 95% CI", "rejection rate (p < 0.05)"],
        "value": [0.996, 0.0004], "ci_low": [0.99, 0.0], "ci_high": [0.9996, 0.002],
        "mcse": [np.nan, np.nan], "note": ["nominal 95%", "power"]})
    table = summary_display(summary)
    assert table["value"].tolist() == ["99.6%", "<0.1%"]
    assert table["95% interval"].tolist() == ["99.0% to >99.9%", "0.0% to 0.2%"]
    words = " ".join(headline(summary, "number"))
    assert "covered the truth in >99% of replications (Monte-Carlo interval 99% to >99%)" \
        in words
    assert "significant effect in <1% of replications (Monte-Carlo interval 0% to <1%)" in words


# ------------------------------------------------------------- a learned chooser's features
def _learning_scenario(features: list[str]) -> dict:
    data = yaml.safe_load((REPO / "scenarios" / "learning.yaml").read_text(encoding="utf-8"))
    data["policy"]["workflows"]["reading"]["steps"][0]["chooser"]["features"] = features
    return data


def test_a_learned_chooser_feature_listed_twice_is_refused(tmp_path, capsys):
    """features: [fsm, reading_gap, fsm] was accepted: the chooser's model read one column
    twice. The pool model already refused it; the chooser now does too, naming the feature."""
    with pytest.raises(ScenarioError, match=r"chooser\.features: features list 'fsm' more "
                       "than once"):
        scenario_from_dict(_learning_scenario(["fsm", "reading_gap", "fsm"]), "t")
    scenario_from_dict(_learning_scenario(["fsm", "reading_gap"]), "t")
    path = tmp_path / "learning.yaml"
    path.write_text(yaml.safe_dump(_learning_scenario(["sen", "sen"])), encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "features list 'sen' more than once" in err and "Traceback" not in err


# ------------------------------------------------------- invisible and bidirectional text
INVISIBLE = [*range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x2060, 0x2065),
             *range(0x2066, 0x206A), 0xFEFF]


def test_printed_tables_escape_zero_width_and_bidirectional_characters():
    """A variant 'base\\u200b' printed as 'base', and U+202E reversed the rest of its row."""
    from srmsim.experiment.compare import text_table

    for code in INVISIBLE:
        char = chr(code)
        assert printable(f"a{char}b") == f"a\\u{code:04x}b", hex(code)
    table = text_table(pd.DataFrame({"variant": ["base", "base\u200b", "x\u202ey"],
                                     "runs": ["1", "2", "3"]}))
    assert "base\\u200b" in table and "x\\u202ey" in table
    assert not any(chr(c) in table for c in INVISIBLE)
    assert printable("café ✓ – £") == "café ✓ – £"


def test_the_dashboard_shows_a_description_without_its_bidi_controls():
    """The Overview panel put the scenario's description on the page as it was: U+202E
    reversed the text after it and U+200B hid inside it."""
    from srmsim.dashboard.panels import scenario_line

    config = SimpleNamespace(name="tiny", description="Two schools\u202e loohcs owt\u200b\n"
                             "one workflow.\n")
    line = scenario_line(SimpleNamespace(config=config))
    assert line == ("Scenario: tiny. Two schools\\u202e loohcs owt\\u200b one workflow. ")
    assert not any(chr(c) in line for c in INVISIBLE)


# -------------------------------------------------------------------- staff utilisation
def test_staff_utilisation_prints_with_one_decimal():
    """99.6% of a role's time read '100%' in `srmsim run`'s summary, and 99.7% read '100%' in
    the experiment report's queue table."""
    from srmsim.report.experiment import queue_table
    from srmsim.results import request_rows

    stream = {"backlog_start": 0, "arrivals": 3, "completed": 3, "dropped": 0,
              "open_at_end": 0, "median_days": 2.0, "p90_days": None, "p99_days": None,
              "throughput_per_week": 1.5, "utilisation_clerk": 0.996}
    assert dict(request_rows("s", stream))["s: staff utilisation (clerk)"] == "99.6%"
    weeks = pd.DataFrame({"variant": ["policy"] * 2, "queue_length": [3, 12],
                          "staff_minutes_used": [994, 1000],
                          "staff_minutes_available": [1000, 1000]})
    assert queue_table(weeks, ["policy"])["share of staff time used"].tolist() == ["99.7%"]
