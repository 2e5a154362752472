"""Review of the dashboard's controls and the notebooks against hostile scenarios and seeds:
each test failed before its fix."""

from __future__ import annotations

import pytest

from srmsim.dashboard import settings as ds
from srmsim.scenario import scenario_from_dict


def _with_parameter(value: float) -> dict:
    return {"name": "huge", "policy": {"parameters": {"t": value},
                                       "rules": {"r": "attendance(2) < t"}}}


@pytest.mark.parametrize("value", [1e308, -1e308, 1.7976931348623157e308])
def test_a_parameter_near_the_largest_float_gets_a_control(value):
    """A finite parameter of 1e308 passed the scenario's checks, then doubling it for the
    slider's range gave inf and int(inf) raised OverflowError: the page failed to open."""
    sc = scenario_from_dict(_with_parameter(value))
    control = ds.model_params(sc)["parameter__t"]
    assert control["type"] == "SliderInt"
    assert control["min"] <= control["value"] <= control["max"]
    assert ds.apply_settings(sc, None, {"parameter__t": control["value"]}) \
        .policy.parameters["t"] == value
