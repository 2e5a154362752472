"""Mutation review of the reports (srmsim.report): HEADER-PLACEHOLDER"""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from srmsim.experiment.outcomes import OUTCOMES
from srmsim.report import experiment as rexp
from srmsim.report import explore as rexpl
from srmsim.report import requests as rreq
from srmsim.report import trial as rtrial
from srmsim.report.page import Page, esc

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"

#: the 97.5% and 95% points of the standard normal (Wilson intervals at 95% and 90%)
Z_975 = 1.959963984540054


def _wilson(k: int, n: int, z: float = Z_975) -> tuple[float, float]:
    """Wilson's score interval, written out (Wilson 1927)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _cells(html: str, table_id: str, column: str) -> list[str]:
    """The text of a column's cells in the table ``table_id`` of a page (escaped text)."""
    table = re.search(rf"<table id='{table_id}'>.*?</table>", html, re.S)
    assert table, f"no table {table_id}"
    return re.findall(rf"<td[^>]*data-col='{re.escape(column)}'[^>]*>(.*?)</td>", table.group(0))


# ------------------------------------------------------------------------------------ trial
@pytest.fixture(scope="module")
def trial90(tmp_path_factory) -> Path:
    """A small school-randomised trial analysed at alpha 0.1 (90% intervals), written out."""
    from srmsim.trial import run_trial, trial_from_dict

    spec = {"name": "sweep", "scenario": "attendance_escalation.yaml",
            "overrides": {"trust.n_schools": 6, "trust.students_per_year_group": 15},
            "randomise": {"unit": "schools"}, "outcome": "attendance_rate", "replications": 2,
            "seed": 3, "analysis": {"alpha": 0.1}}
    out = tmp_path_factory.mktemp("trial90") / "out"
    run_trial(trial_from_dict(spec, "sweep-trial", SCENARIOS), workers=1).write(out)
    return out


def test_a_trial_at_alpha_0_1_is_reported_with_90_percent_intervals(trial90, monkeypatch):
    """The figure's title and the coverage sentence name the analysis's level: a trial at
    alpha 0.1 had its 90% intervals drawn under the title "Estimate and its 95% CI"."""
    import srmsim.trial.report as trial_report

    titles = []
    real = trial_report.plot

    def spy(runs, path=None, title=""):
        titles.append(title)
        return real(runs, path, title)

    monkeypatch.setattr(trial_report, "plot", spy)
    html = rtrial.build(trial90).render()
    assert titles == ["Estimate and its 90% CI in each replication, against the true effect"]
    runs = pd.read_csv(trial90 / "trial_runs.csv")
    k, n = int(runs["covered"].sum()), len(runs)
    lo, hi = _wilson(k, n)
    from srmsim.labels import percent_of_runs

    assert (f"The 90% confidence interval covered the truth in {percent_of_runs(k / n)} of "
            f"replications (Monte-Carlo interval {percent_of_runs(lo)} to "
            f"{percent_of_runs(hi)})") in html
    # the Monte-Carlo intervals of the summary stay 95% (Wilson's at z = 1.96), as labelled
    assert "<th>95% interval</th>" in html
