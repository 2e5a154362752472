"""The Solara page ``srmsim dashboard`` serves: a scenario picker above Mesa's SolaraViz.

SolaraViz's parameter controls are fixed when it is created, but which controls exist depends on
the scenario (its policy's parameters, staff roles and workflows). So the scenario is picked
here, outside SolaraViz, and SolaraViz is mounted afresh when it changes.
Each browser session builds its own model inside ``Page``: a model made at import time would be
shared by every visitor.

Run it with ``srmsim dashboard`` (or ``solara run srmsim.dashboard.app``).
"""

from __future__ import annotations

import sys

import solara
from mesa.visualization import SolaraViz
from solara.server import cdn_helper

from srmsim.dashboard.model import DashboardModel
from srmsim.dashboard.panels import PANELS
from srmsim.dashboard.settings import model_params, page_scenarios
from srmsim.labels import page_text
from srmsim.scenario import Scenario


def _not_fetched(url: str) -> bytes:
    """Solara's asset proxy (``/_solara/cdn/...``) fetched any npm file a request named from
    cdn.jsdelivr.net and saved it in the environment's ``share/solara/cdn``: any web page or
    local user could make the server download and write files. The page's own assets are
    there already (``solara-assets``), so the proxy serves only those; others are not found."""
    raise OSError(f"srmsim dashboard fetches nothing from the internet ({url})")


cdn_helper.fetch_from_cdn = _not_fetched


def _scenarios() -> tuple[dict[str, Scenario], str]:
    """The session's scenarios; the command-line file's error, if any, also in the terminal
    (its first line only on the page, which other users of this computer can open)."""
    choices, problem = page_scenarios()
    if problem:
        print(f"srmsim dashboard: {problem}", file=sys.stderr, flush=True)
    return choices, problem


@solara.component
def ScenarioViz(name: str, scenario: Scenario) -> None:
    """Mesa's SolaraViz on a model of this scenario, built once per mount (per browser session)."""
    model = solara.use_memo(lambda: DashboardModel(base=scenario), [])
    SolaraViz(model, components=list(PANELS), model_params=model_params(scenario),
              name=f"srmsim dashboard: {name}", play_interval=50)


@solara.component
def Page() -> None:
    choices, problem = solara.use_memo(_scenarios, [])
    name, set_name = solara.use_state(next(iter(choices)))
    # Switching takes two renders: the old scenario's SolaraViz (and the controls it placed in
    # the sidebar) is removed first, then the new one is mounted with fresh controls.
    shown, set_shown = solara.use_state(name)
    solara.use_effect(lambda: set_shown(name) if shown != name else None, [name, shown])
    with solara.Sidebar(), solara.Card("Scenario"):
        if problem:
            solara.Error(page_text(problem.splitlines()[0]))
        solara.Select("Scenario", values=list(choices), value=name, on_value=set_name)
        solara.Text("Settings below change this scenario; press Reset to start again with them. "
                    "Step runs one school week; ▶ runs the rest of the year week by week.")
    if shown == name:
        ScenarioViz(name, choices[name])
    else:
        solara.Text(f"Opening {name} ...")
