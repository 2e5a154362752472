"""Resource limits left by the last review: the experiment report's per-outcome group tables
(16 s for 1,001 outcomes) and a trial's bootstrap (``n_boot`` x ``replications`` unbounded)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from srmsim.cli import main
from srmsim.errors import ScenarioError
from srmsim.experiment.outcomes import Outcome, format_difference, format_value
from srmsim.report.experiment import groups_section
from srmsim.report.page import Page
from srmsim.trial import load_trial, run_trial, trial_from_dict
from srmsim.trial.spec import MAX_BOOT_DRAWS, MAX_REPLICATIONS

REPO = Path(__file__).resolve().parents[1]

GROUPS = ["FSM", "not FSM", "SEN", "not SEN", "EAL", "not EAL", "school 1", "school 2"]


class _Result:
    """What :func:`groups_section` reads of an experiment's results: ``n`` share outcomes of
    two variants, each outcome and group with its own numbers."""

    baseline = "none"
    variants = ["none", "a", "b"]
    level = 0.95

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
    calls = []
    one_pass = report.group_tables

    def counted(ge, outcomes, groups, baseline, level):
        calls.append(len(outcomes))
        return one_pass(ge, outcomes, groups, baseline, level)

    monkeypatch.setattr(report, "group_tables", counted)
    res, page = _Result(1001), Page("x")
    groups_section(page, res)  # type: ignore[arg-type]
    assert calls == [1001]  # every outcome's table from one pass (not one filter per outcome)
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


def wedge(n_boot: int | None, replications: int) -> dict:
    """The docs' stepped-wedge trial (experiments/trial_stepped_wedge.yaml), small."""
    spec = yaml.safe_load((REPO / "experiments" / "trial_stepped_wedge.yaml").read_text())
    spec["overrides"] = {"trust.n_schools": 6, "trust.students_per_year_group": 10}
    if n_boot is None:
        del spec["analysis"]["n_boot"]
    else:
        spec["analysis"]["n_boot"] = n_boot
    spec["replications"] = replications
    return spec


def test_a_trials_bootstrap_draws_beyond_the_limit_are_refused_from_the_file():
    # n_boot and replications were each capped at 100,000 but not their product: 10**10
    # multiplier draws (hours of CPU) were accepted and the store written
    with pytest.raises(ScenarioError) as err:
        trial_from_dict(wedge(100_000, 1_001), "t.yaml", REPO / "experiments")
    text = str(err.value)
    assert "analysis.n_boot" in text and "replications 1,001" in text
    assert f"more than {MAX_BOOT_DRAWS:,}" in text


def test_a_trials_bootstrap_limit_holds_for_the_replications_flag(tmp_path, capsys):
    path = tmp_path / "t.yaml"
    spec = wedge(100_000, 2)
    spec["scenario"] = str(REPO / "scenarios" / "attendance_escalation.yaml")
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["trial", str(path), "--replications", "100000", "--workers", "1", "--quiet",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("srmsim: error:") and "Traceback" not in err, err
    assert "analysis.n_boot" in err and "replications 100,000" in err, err
    assert "10,000,000,000 bootstrap draws" in err
    assert not out.exists()


def test_a_trials_bootstrap_limit_holds_for_run_trials_replications(tmp_path):
    trial = trial_from_dict(wedge(100_000, 2), "t.yaml", REPO / "experiments")
    out = tmp_path / "out"
    with pytest.raises(ScenarioError, match="analysis.n_boot.*replications 1,001"):
        run_trial(trial, replications=1_001, out=out)
    assert not out.exists()


def test_legitimate_trials_fit_the_bootstrap_limit():
    # the docs' example as written, the default n_boot at the most replications, and the most
    # draws at 1,000 replications
    assert load_trial(REPO / "experiments" / "trial_stepped_wedge.yaml").config.analysis.n_boot \
        == 199
    for n_boot, n in ((None, MAX_REPLICATIONS), (100_000, 1_000)):
        trial = trial_from_dict(wedge(n_boot, n), "t.yaml", REPO / "experiments")
        assert trial.replications == n
    # other methods have no bootstrap: the limit does not apply
    spec = wedge(None, MAX_REPLICATIONS)
    spec["analysis"] = {"method": "twfe"}
    assert trial_from_dict(spec, "t.yaml", REPO / "experiments").replications == MAX_REPLICATIONS


def test_the_effects_of_a_thousand_number_outcomes_are_checked_together(monkeypatch):
    # check_runs checked each outcome column alone: 0.26 s for 1,001 outcomes, paid again for
    # each group (FSM, SEN, ..., each school) of the experiment report
    import numpy as np

    from srmsim.errors import SrmsimError
    from srmsim.experiment.compare import check_runs

    names = [f"o{i}" for i in range(1001)]
    rng = np.random.default_rng(1)
    runs = pd.DataFrame(rng.random((40, 1001)), columns=names)
    runs.insert(0, "variant", ["none", "a"] * 20)
    runs.insert(1, "replication", np.repeat(np.arange(20), 2))
    import importlib

    compare = importlib.import_module("srmsim.experiment.compare")
    one_by_one = []
    numbers = compare._numbers

    def counted(column):
        if column.name in names:  # (the replication column is read so too)
            one_by_one.append(column.name)
        return numbers(column)

    monkeypatch.setattr(compare, "_numbers", counted)
    check_runs(runs, names, 0.95)
    assert one_by_one == []  # checked together (one by one: 0.26 s for each report group)
    runs.loc[7, "o500"] = np.inf
    with pytest.raises(SrmsimError, match=r"outcome 'o500' of variant 'a' replication 3"):
        check_runs(runs, names, 0.95)
    assert one_by_one == names[:501]  # a bad value: one by one as before, up to it
    runs.loc[7, "o500"] = 0.5
    # a bad value among them is still named as before, with its run
    runs.loc[7, "o500"] = np.inf
    with pytest.raises(SrmsimError, match=r"outcome 'o500' of variant 'a' replication 3 is "
                                          r"infinite or too large"):
        check_runs(runs, names, 0.95)
    runs.loc[7, "o500"] = 0.5
    runs["o3"] = runs["o3"].astype(object)
    runs.loc[2, "o3"] = "n/a"
    with pytest.raises(SrmsimError, match=r"outcome 'o3' of variant 'none' replication 1 is "
                                          r"not a number \('n/a'\)"):
        check_runs(runs, names, 0.95)
