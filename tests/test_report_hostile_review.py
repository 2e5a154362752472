"""`srmsim report` on result folders edited by someone else (a shared results folder is untrusted
input): values of the wrong kind in the JSON and CSV files are short errors naming the file,
control characters and TeX in names are shown as written, an outcome never measured is not 0."""
# ruff: noqa: F811 - the result folders are test_report's module-scoped fixtures, imported

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_report import (  # noqa: F401 - fixtures: each folder is built once for this module
    _edit_csv,
    _edit_parquet,
    cli,
    experiment_dir,
    explored_dir,
    optimise_dir,
    rename_variant,
    report_refuses,
    run_dir,
    trial_dir,
)

from srmsim.results import file_sha256

pytestmark = pytest.mark.xdist_group("report_folders")


def _json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def _settings(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data["settings"].update(changes)
    path.write_text(json.dumps(data))


def _report(folder: Path, tmp_path: Path, change) -> str:
    """Copy a result folder, edit it, report it (exit 0): the page's text."""
    out = tmp_path / "out"
    shutil.copytree(folder, out)
    (out / "report.html").unlink(missing_ok=True)
    change(out)
    proc = cli("report", str(out))
    assert proc.returncode == 0, proc.stderr
    return (out / "report.html").read_text()


# ---------------------------------------------------------------- values of the wrong kind
TRIAL = {
    "versions a list": (lambda o: _json(o / "trial.json", versions=[1]),
                        r"trial.json: versions is \[1\], not a mapping"),
    "outcome a list": (lambda o: _settings(o / "trial.json", outcome=["x"]),
                       r"trial.json: outcome is \['x'\], not a text"),
    "seconds a text": (lambda o: (shutil.rmtree(o / "store"),
                                  _json(o / "trial.json", seconds="slow")),
                       r"trial.json: seconds is 'slow', not a number of seconds"),
    "measure a number": (lambda o: _edit_csv(o / "trial_summary.csv", measure=5),
                         r"trial_summary.csv: column 'measure' holds 5 in data row 1, not a name"),
    # a figure no replication gave was shown as the trial's result (helper probe, 2026-12-06)
    "summary edited": (lambda o: pd.read_csv(o / "trial_summary.csv").assign(
        value=lambda t: t["value"].where(t["measure"] != "mean estimate", 99.999))
        .to_csv(o / "trial_summary.csv", index=False),
        r"trial_summary.csv: 'mean estimate' value is 99.999, but trial_runs.csv gives"),
}
EXPERIMENT = {
    "versions a list": (lambda o: _json(o / "manifest.json", versions=[1]),
                        r"manifest.json: versions is \[1\], not a mapping"),
    "settings a list": (lambda o: _json(o / "manifest.json", settings=[1, 2]),
                        r"manifest.json: settings is \[1, 2\], not a mapping"),
    "description a mapping": (lambda o: _json(o / "manifest.json", description={"a": 1}),
                              r"manifest.json: description is \{'a': 1\}, not a text"),
}
RUN = {
    "version a mapping": (lambda o: _json(o / "summary.json", srmsim_version={"a": [1]}),
                          r"summary.json: srmsim_version is \{'a': \[1\]\}, not a text"),
}
OPTIMISE = {
    "objectives a list": (lambda o: _json(o / "optimise.json", objectives=[1]),
                          r"optimise.json: objectives is \[1\], not a mapping"),
    "text bound": (lambda o: _json(o / "optimise.json", constraints={"staff_hours": {"max": "x"}}),
                   r"optimise.json: constraint 'staff_hours' is not a min or max number"),
    "replications a text": (lambda o: _json(o / "optimise.json", replications="x"),
                            r"optimise.json: replications is 'x', not a whole number >= 0"),
    "sampler a list": (lambda o: _json(o / "optimise.json", sampler=[1]),
                       r"optimise.json: sampler is \[1\], not a text"),
    "uncertain a number": (lambda o: _json(o / "optimise.json", uncertain=5),
                           r"optimise.json: uncertain is 5, not a list of names"),
    "levers a number": (lambda o: _json(o / "optimise.json", levers=5),
                        r"optimise.json: levers is 5, not a list of names"),
    "best_overrides a list": (lambda o: _json(o / "optimise.json", best_overrides=[1]),
                              r"optimise.json: best_overrides is \[1\], not a mapping"),
    "text trial": (lambda o: _edit_csv(o / "pareto.csv", trial="x"),
                   r"pareto.csv: column 'trial' holds 'x' in data row 1"),
    "text objective": (lambda o: _edit_csv(o / "pareto.csv", attendance="x"),
                       r"pareto.csv: column 'attendance' holds 'x' in data row 1"),
    "unknown objective": (lambda o: _json(o / "optimise.json", objectives={"zzz": "maximise"}),
                          r"pareto.csv: missing column \['zzz'\]"),
    # the front's effects are computed from front/ (front_effects.csv is not read when it
    # is there), and the best policy named must be the one its runs choose, with its levers
    "effects column gone": (lambda o: (shutil.rmtree(o / "front"), pd.read_csv(
                            o / "front_effects.csv").drop(columns="difference").to_csv(
                            o / "front_effects.csv", index=False)),
                            r"front_effects.csv: missing column \['difference'\]"),
    "text effect": (lambda o: (shutil.rmtree(o / "front"),
                               _edit_csv(o / "front_effects.csv", difference="x")),
                    r"front_effects.csv: column 'difference' holds 'x' in data row 1"),
    "best edited": (lambda o: _json(o / "optimise.json", best="baseline"),
                    r"optimise.json: best_overrides are not the levers .*front ran 'baseline'"),
    "best lever edited": (lambda o: _json(o / "optimise.json", best_overrides={
                          **json.loads((o / "optimise.json").read_text())["best_overrides"],
                          "policy.parameters.attendance_threshold": 0.5}),
                          r"optimise.json: best_overrides are not the levers"),
}
EXPLORED = {
    "runs a text": (lambda o: _json(o / "discovery" / "discovery.json", runs="x"),
                    r"discovery.json: runs is 'x', not a whole number >= 0"),
    "box a list": (lambda o: _json(o / "discovery" / "discovery.json", box=[1]),
                   r"discovery.json: box is \[1\], not a whole number >= 0"),
    "text box limit": (lambda o: _edit_csv(o / "discovery" / "prim_box.csv", low="x"),
                       r"prim_box.csv: column 'low' holds 'x' in data row 1"),
    "blank leaf count": (lambda o: _edit_csv(o / "discovery" / "cart_leaves.csv", runs=np.nan),
                         r"cart_leaves.csv: a blank among its counts"),
    "text coverage": (lambda o: _edit_csv(o / "discovery" / "prim_trajectory.csv", coverage="x"),
                      r"prim_trajectory.csv: column 'coverage' holds 'x' in data row 1"),
    # a text index was shown as a dash, "–", like an index that could not be computed
    "text index": (lambda o: _edit_csv(o / "sensitivity.csv", S1="x"),
                   r"sensitivity.csv: column 'S1' holds 'x' in data row 1"),
    "repeated rows": (lambda o: pd.concat([pd.read_csv(o / "sensitivity.csv")] * 2)
                      .to_csv(o / "sensitivity.csv", index=False),
                      r"sensitivity.csv: a policy, outcome and parameter appear twice"),
    # edited figures were shown as the analysis's (helper probe, 2026-12-06)
    "index edited": (lambda o: pd.read_csv(o / "sensitivity.csv").assign(
                     ST=lambda t: t["ST"].where(t.index != 0, 0.987))
                     .to_csv(o / "sensitivity.csv", index=False),
                     r"sensitivity.csv: row 2 ST is 0.987, but the runs give"),
    "box moved within its range": (lambda o: pd.read_csv(o / "discovery" / "prim_box.csv")
                                   .assign(high=lambda b: (b["low"] + b["high"]) / 2)
                                   .to_csv(o / "discovery" / "prim_box.csv", index=False),
                                   r"prim_box.csv: not what PRIM finds in the runs"),
    "box outside its range": (lambda o: pd.read_csv(o / "discovery" / "prim_box.csv").assign(
                              low=-1e6).to_csv(o / "discovery" / "prim_box.csv", index=False),
                              r"prim_box.csv: row 2 .* is not a box within the parameter's "
                              "range"),
}


@pytest.mark.parametrize("damage", list(TRIAL))
@pytest.mark.once
def test_trial_values_of_the_wrong_kind_are_short_errors(trial_dir, tmp_path, damage):
    report_refuses(trial_dir, tmp_path, TRIAL[damage])


@pytest.mark.parametrize("damage", list(EXPERIMENT))
@pytest.mark.once
def test_manifest_values_of_the_wrong_kind_are_short_errors(experiment_dir, tmp_path, damage):
    report_refuses(experiment_dir[0], tmp_path, EXPERIMENT[damage])


@pytest.mark.parametrize("damage", list(RUN))
def test_summary_values_of_the_wrong_kind_are_short_errors(run_dir, tmp_path, damage):
    report_refuses(run_dir, tmp_path, RUN[damage])


@pytest.mark.parametrize("damage", list(OPTIMISE))
@pytest.mark.once
def test_optimise_values_of_the_wrong_kind_are_short_errors(optimise_dir, tmp_path, damage):
    report_refuses(optimise_dir, tmp_path, OPTIMISE[damage])


@pytest.mark.parametrize("damage", list(EXPLORED))
@pytest.mark.once
def test_exploration_values_of_the_wrong_kind_are_short_errors(explored_dir, tmp_path, damage):
    report_refuses(explored_dir, tmp_path, EXPLORED[damage])


# ------------------------------------------------------------------ names as written
BIDI = "abc\u202edef"  # RIGHT-TO-LEFT OVERRIDE: "abcfed" on screen


@pytest.mark.once
def test_bidirectional_controls_in_names_are_shown_not_applied(run_dir, experiment_dir,
                                                              optimise_dir, tmp_path):
    pages = [
        _report(run_dir, tmp_path / "run", lambda o: _json(o / "summary.json", scenario=BIDI)),
        # (the name is the experiment settings' since review 215: an edited one is refused)
        _report(experiment_dir[0], tmp_path / "exp",
                lambda o: _json(o / "manifest.json", description=f"x\x1b[2J{BIDI}")),
        # (an edited best policy is refused now: front/'s runs choose another)
        _report(optimise_dir, tmp_path / "opt", lambda o: _json(o / "optimise.json", name=BIDI)),
    ]
    for page in pages:
        assert "\u202e" not in page and "\x1b" not in page
        assert "abc\\u202edef" in page


@pytest.mark.once
def test_a_name_with_dollar_signs_is_drawn_as_written(experiment_dir, tmp_path):
    """matplotlib read ``$...$`` in a variant name as TeX: an unbalanced one was a traceback."""
    name = "a$\\frac{1}{$b"

    page = _report(experiment_dir[0], tmp_path, lambda out: rename_variant(out, "texts", name))
    assert f"<b>{name}</b> against none" in page


@pytest.mark.once
def test_a_school_group_edited_by_hand_is_listed_not_a_traceback(experiment_dir, trial_dir,
                                                                 tmp_path):
    def experiment(out: Path) -> None:
        for f in out.glob("detail/*/*-groups.parquet"):
            df = pd.read_parquet(f)
            df["group"] = df["group"].where(df["group"] != "school 1", "school x")
            df.to_parquet(f)
            replication = f.name.split("-")[1]
            _edit_parquet(out / "runs" / f.parent.name / f"rep-{replication}.parquet",
                          **{"sha256:groups": file_sha256(f)})

    def trial(out: Path) -> None:
        shutil.rmtree(out / "store")  # (its checked detail would refuse the edited file)
        df = pd.read_csv(out / "trial_groups.csv")
        df["group"] = df["group"].where(df["group"] != "school 1", "school x")
        df.to_csv(out / "trial_groups.csv", index=False)

    for folder, change in ((experiment_dir[0], experiment), (trial_dir, trial)):
        page = _report(folder, tmp_path / folder.parent.name, change)
        assert re.search(r"<td data-col='students'>school 0</td>.*"
                         r"<td data-col='students'>school x</td>", page)


def test_long_texts_from_json_are_cut(trial_dir, tmp_path):
    page = _report(trial_dir, tmp_path, lambda o: _json(o / "trial.json", design="d" * 200_000))
    assert "d" * 1000 + "... (200,000 characters)" in page
    assert "d" * 1001 not in page


# ------------------------------------------------------------------ missing data
@pytest.mark.once
def test_an_outcome_never_measured_is_not_shown_as_zero(run_dir, tmp_path):
    """Blank reading gaps (no student tested) were counted as not behind: 0.0% two years
    behind in reading, for the trust and each group."""
    page = _report(run_dir, tmp_path,
                   lambda o: _edit_parquet(o / "students.parquet", reading_gap_end=np.nan))
    behind = re.search(r"Two or more years behind in reading</td><td[^>]*>([^<]*)<", page)
    assert behind is not None and behind.group(1) == "not measured"
    cells = re.findall(r"data-col='Reading gap'>([^<]*)<", page)
    assert cells and set(cells) == {"not measured"}


def test_a_cost_never_recorded_is_not_shown_as_nothing_spent(run_dir, tmp_path):
    """A cost column blank for every student summed to £0: nothing spent, said the page."""
    page = _report(run_dir, tmp_path,
                   lambda o: _edit_parquet(o / "students.parquet", cost=np.nan))
    cost = re.search(r"<th>cost of actions</th><td>([^<]*)<", page)
    assert cost is not None and cost.group(1) == "not measured"
    headline = re.search(r"data-col='outcome'>Cost</td><td[^>]*>([^<]*)<", page)
    assert headline is not None and headline.group(1) == "not measured"
