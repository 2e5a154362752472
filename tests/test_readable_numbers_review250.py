"""Numbers a newcomer can read wherever they are printed: lever values rounded by their unit,
money in one format, the notebooks' tables in words and units (helper 250, 2026-12-07)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.mark.parametrize("value,unit,text", [
    (0.876925, "share, 0-1", "0.877"),                  # printed 0.876925
    (1035.4, "minutes a week per school", "1,035"),     # printed 1,035.4
    (44.6, "minutes a week per school", "45"),          # minutes are whole from 10
    (0.4, "minutes a week per school", "0.4"),          # ... not 0 below 1 (as if none)
    (-0.50291, "shift of the absence log-odds", "-0.503"),
    (-3.9694, "", "-3.97"),                             # no unit: 3 significant figures
    (12_345.678, "", "12,346"),                         # ... but whole from 100
    (7.5, "£ a week per student", "£7.50"),              # money as the outcomes print it
    (15.0, "£ a week per student", "£15"),
    (8.0, "weeks", "8"), (np.float64(0.25), "share, 0-1", "0.25"),
])
def test_a_lever_value_is_rounded_by_its_unit(value, unit, text) -> None:
    from srmsim.report.explore import lever_text

    assert lever_text(value, unit) == text


def test_the_discovered_box_rounds_its_limits_and_names_their_unit(monkeypatch) -> None:
    """`srmsim discover` printed "effect.absence: -0.5029 .. -0.1 (of -0.8 .. -0.1; ...)": four
    figures and no unit; its classification tree's cuts the same (``>= -0.4347``)."""
    from srmsim.explore import discovery
    from srmsim.explore.prim import PrimResult

    key = "policy.actions.attendance_officer_visit.effect.absence"
    box = pd.DataFrame({"parameter": [key, "dynamics.absence_logit"],
                        "low": [-0.502913, -4.4], "high": [-0.1, -3.969412],
                        "range_low": [-0.8, -4.4], "range_high": [-0.1, -3.8],
                        "quasi_p": [0.0077, 1.0]})
    stats = pd.Series({"coverage": 1.0, "density": 1.0, "mass": 0.5, "runs": 12,
                       "res_dim": 2})
    monkeypatch.setattr(discovery.Discovery, "box", property(lambda self: box))
    monkeypatch.setattr(discovery.Discovery, "stats", property(lambda self: stats))
    found = discovery.Discovery("x < 1", "v", pd.DataFrame(), np.arange(24) < 12,
                                PrimResult([], pd.DataFrame(), pd.DataFrame()), 4,
                                pd.DataFrame())
    lines = found.summary().splitlines()
    assert lines[2] == (f"  {key}: -0.503 .. -0.1 shift of the absence log-odds "
                        "(of -0.8 .. -0.1; quasi-p 0.0077)")
    assert lines[3] == "  dynamics.absence_logit: -4.4 .. -3.97 (of -4.4 .. -3.8; quasi-p 1)"


def test_a_policy_described_in_a_report_rounds_its_thresholds_and_minutes() -> None:
    """The optimisation's front report described each policy with "attendance_threshold =
    0.876925" and "pastoral 1,035.4 min": the search's lever values to 6 figures."""
    from pathlib import Path

    from srmsim.report.words import describe_policy
    from srmsim.scenario import load_scenario

    sc = load_scenario(Path(__file__).resolve().parents[1] / "scenarios"
                       / "attendance_escalation.yaml").with_overrides(
        {"policy.parameters.attendance_threshold": 0.876925,
         "policy.staff.school.pastoral": 1035.4})
    text = describe_policy(sc)
    assert "attendance_threshold = 0.877." in text and "pastoral 1,035 min" in text, text
