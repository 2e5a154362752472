"""The Solara page ``srmsim dashboard`` serves: a scenario picker above Mesa's SolaraViz.

SolaraViz's parameter controls are fixed when it is created, but which controls exist depends on
the scenario (its policy's parameters, staff roles and workflows). So the scenario is picked
here, outside SolaraViz, and SolaraViz is rebuilt (keyed by the scenario's name) when it changes.
Each browser session builds its own model inside ``Page``: a model made at import time would be
shared by every visitor.

Run it with ``srmsim dashboard`` (or ``solara run srmsim.dashboard.app``).
"""

from __future__ import annotations

import solara
from mesa.visualization import SolaraViz

from srmsim.dashboard.model import DashboardModel
from srmsim.dashboard.panels import PANELS
from srmsim.dashboard.settings import available_scenarios, model_params


@solara.component
def Page() -> None:
    choices = solara.use_memo(available_scenarios, [])
    name, set_name = solara.use_state(next(iter(choices)))
    scenario = choices[name]
    model = solara.use_memo(lambda: DashboardModel(base=scenario), [name])
    with solara.Sidebar(), solara.Card("Scenario"):
        solara.Select("Scenario", values=list(choices), value=name, on_value=set_name)
        solara.Text("Settings below change this scenario; press Reset to start again with them. "
                    "Step runs one school week; ▶ runs the rest of the year week by week.")
    SolaraViz(model, components=list(PANELS), model_params=model_params(scenario),
              name=f"srmsim dashboard: {name}", play_interval=50).key(name)
