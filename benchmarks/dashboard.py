"""How long the dashboard's server takes per school week, by trust size.

    python benchmarks/dashboard.py                      # 10 and 100 schools, 8 weeks each
    python benchmarks/dashboard.py --schools 10 30 --weeks 20 --scenario scenarios/reading_age.yaml

For each size: building the model and its no-policy twin (what Reset does), then per week the
step of both runs and the server's redraw of every panel (Mesa's ``force_update`` re-rendering
the panels, as after a Step; the browser's drawing of the charts is not included). Prints the
median and the slowest week. Needs the ``dashboard`` extra.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # measure the srmsim of this checkout, whatever copy is installed


def measure(scenario_path: Path, n_schools: int, weeks: int) -> dict[str, float]:
    import solara
    from mesa.visualization.utils import force_update, update_counter

    from srmsim.dashboard.model import DashboardModel
    from srmsim.dashboard.panels import PANELS
    from srmsim.scenario import load_scenario

    base = load_scenario(scenario_path)
    t0 = time.perf_counter()
    model = DashboardModel(base=base, n_schools=n_schools)
    reset = time.perf_counter() - t0

    @solara.component
    def AllPanels():
        update_counter.get()  # as Mesa's wrapper does: redraw after every step
        for panel in PANELS:
            panel(model)

    _, rc = solara.render(AllPanels(), handle_error=False)
    steps, renders = [], []
    for _ in range(weeks):
        t0 = time.perf_counter()
        model.step()
        t1 = time.perf_counter()
        force_update()  # what Mesa's Step does after stepping: the page re-renders
        t2 = time.perf_counter()
        steps.append(t1 - t0)
        renders.append(t2 - t1)
    rc.close()
    week = [s + r for s, r in zip(steps, renders, strict=True)]
    return {"schools": n_schools, "students": len(model.students), "reset": reset,
            "step": statistics.median(steps), "render": statistics.median(renders),
            "week": statistics.median(week), "slowest": max(week)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "reading_and_attendance.yaml")
    ap.add_argument("--schools", type=int, nargs="+", default=[10, 100])
    ap.add_argument("--weeks", type=int, default=8)
    args = ap.parse_args()
    warnings.simplefilter("ignore")  # Solara's hook checks on Mesa's components
    print(f"scenario {args.scenario.name}, {args.weeks} weeks per size; seconds, server side")
    print(f"{'schools':>8} {'students':>9} {'reset':>7} {'step':>7} {'render':>7} "
          f"{'week':>7} {'slowest':>8}")
    for n in args.schools:
        r = measure(args.scenario, n, args.weeks)
        print(f"{r['schools']:>8} {r['students']:>9,} {r['reset']:>7.3f} {r['step']:>7.3f} "
              f"{r['render']:>7.3f} {r['week']:>7.3f} {r['slowest']:>8.3f}")


if __name__ == "__main__":
    main()
