"""Resource limits left by the last review: the experiment report's per-outcome group tables
(16 s for 1,001 outcomes) and a trial's bootstrap (``n_boot`` x ``replications`` unbounded)."""

from __future__ import annotations

import time

import pandas as pd

from srmsim.experiment.outcomes import Outcome, format_difference, format_value
from srmsim.report.experiment import groups_section
from srmsim.report.page import Page

GROUPS = ["FSM", "not FSM", "SEN", "not SEN", "EAL", "not EAL", "school 1", "school 2"]


class _Result:
    """What :func:`groups_section` reads of an experiment's results: ``n`` share outcomes of
    two variants, each outcome and group with its own numbers."""

    baseline = "none"
    variants = ["none", "a", "b"]

    def __init__(self, n: int) -> None:
        self.outcomes = [f"o{i}" for i in range(n)]
        self._o = {name: Outcome(name, f"outcome {name}", "share", "higher", lambda c: 0.0)
                   for name in self.outcomes}
        self.group_effects = pd.DataFrame([
            {"group": g, "variant": v, "baseline": "none", "outcome": f"o{i}",
             "mean_baseline": 0.5 + i / 1e4, "mean_variant": 0.6,
             "difference": (i + j + 1) / 1e5 * (2 if v == "b" else 1),
             "ci_low": -0.01, "ci_high": 0.02, "verdict": "no clear change"}
            for i in range(n) for j, g in enumerate(GROUPS) for v in ("a", "b")])

    def outcome(self, name: str) -> Outcome:
        return self._o[name]

    def students_per_run(self, variant: str) -> float:
        return 100.0


def test_the_reports_group_tables_of_a_thousand_outcomes_take_one_pass(monkeypatch):
    # one filter of the whole group-effects table per outcome: 1,001 outcomes took 16 s of
    # CPU in groups_section (the figure is bounded separately and not what is timed here)
    import srmsim.report.experiment as report

    monkeypatch.setattr(report, "group_figure", lambda *a: None)
    monkeypatch.setattr(Page, "figure", lambda self, fig, caption, alt=None: None)
    res, page = _Result(1001), Page("x")
    start = time.process_time()
    groups_section(page, res)  # type: ignore[arg-type]
    assert time.process_time() - start < 4.0  # 9-14 s before; about 1 s
    html = "\n".join(page.parts)
    assert html.count("<table") == 1001
    # the last outcome's table holds its own numbers, every group in order, both variants
    last = html[html.rindex("<h3"):]
    assert "outcome o1000" in last
    for j, g in enumerate(GROUPS):
        assert f">{g}</td>" in last
        d = (1000 + j + 1) / 1e5
        assert f">{format_difference(d, 'share')} (" in last
        assert f">{format_difference(2 * d, 'share')} (" in last
    assert f">{format_value(0.6, 'share')}</td>" in last
    assert last.index(">FSM</td>") < last.index(">not FSM</td>") < last.index(">school 2</td>")
