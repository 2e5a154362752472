"""What newcomers read: errors whole, every column in its unit, figures that show their data.

Review of README, docs/, the notebooks and the commands' printed output on the shipped scenarios,
read as a teacher or trust leader who does not write code would (helper 218, 2026-12-07).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

from srmsim.cli import main
from srmsim.errors import MAX_LINE

sys.path.insert(0, str(Path(__file__).parent))  # the optimisation test's scenario, test_explore's

ROOT = Path(__file__).resolve().parents[1]


# --- an invalid variant name: its error is read whole -----------------------------------------

@pytest.mark.parametrize("name", ["reading support", "both.", "Reading_Support!"])
def test_an_invalid_variant_names_error_is_not_cut_mid_sentence(tmp_path, capsys, name):
    """A variant misspelt with a space or a final dot (``reading support:``) printed the naming
    rule cut at "(it may become a folder na...": the one-line error passed the 300 characters
    the command line shows of a line. Now a long problem goes on lines of its own, whole."""
    data = yaml.safe_load((ROOT / "experiments" / "quickstart.yaml").read_text())
    data["scenario"] = str(ROOT / "scenarios" / "reading_and_attendance.yaml")
    data["variants"][name] = {}
    folder = tmp_path / "a folder a teacher made" / "experiments"
    folder.mkdir(parents=True)
    path = folder / "quickstart.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "..." not in err, err
    assert all(len(line) <= MAX_LINE + len("srmsim: error: ") for line in err.splitlines()), err
    assert err.rstrip().endswith("(it may become a folder name)"), err
    assert f"variants.{name}" in err and "is not a valid name" in err and str(path) in err


def test_a_short_error_stays_on_one_line() -> None:
    from srmsim.errors import ScenarioError

    assert str(ScenarioError("a.yaml", [("name", "bad")])) == "a.yaml: name: bad"
    long = str(ScenarioError("a.yaml", [("name", "x" * 290)]))
    assert long.splitlines() == ["a.yaml:", "  name: " + "x" * 290]


# --- the optimisation's levers say their units ------------------------------------------------

def test_the_optimisation_front_names_each_levers_unit(tmp_path, capsys) -> None:
    """`srmsim optimise experiments/optimise_attendance.yaml` printed the front's levers as
    "attendance_threshold 0.915029", "cooldown_weeks 5" and "pastoral 1,035.4" with no unit (a
    share of sessions? minutes a week?); report.html's table the same. Each column now says it,
    and so does the best policy's line; a parameter's unit is read from the rule comparing it."""
    from test_explore import TINY

    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    data = {"name": "tiny_opt", "scenario": "tiny.yaml", "replications": 1, "seed": 5,
            "levers": {"policy.parameters.attendance_threshold": {"low": 0.8, "high": 0.98},
                       "policy.workflows.attendance.cooldown_weeks": {"low": 2, "high": 12,
                                                                      "integer": True},
                       "policy.rules.low_attendance.cadence": {"choices": ["weekly", "termly"]}},
            "budget": {"total": 600, "roles": {"pastoral": "policy.staff.school.pastoral",
                                               "attendance_officer":
                                               "policy.staff.pool.attendance_officer"}},
            "objectives": {"attendance": "maximise", "staff_hours": "minimise"},
            "search": {"trials": 4, "batch": 4}, "reevaluate": {"replications": 2, "front_max": 1}}
    path = tmp_path / "opt.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "out"
    assert main(["optimise", str(path), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    printed = capsys.readouterr().out
    header = printed.splitlines()[1]
    for column in ("attendance_threshold (share, 0-1)", "cooldown_weeks (weeks)",
                   "pastoral (minutes a week per school)"):
        assert column in header, header
    assert "cadence " in header and "cadence (" not in header  # a choice: words, no unit
    best = next(line for line in printed.splitlines() if line.startswith("best"))
    assert "policy.staff.school.pastoral = " in best and "(minutes a week per school)" in best
    html = (out / "report.html").read_text()
    for column in ("attendance_threshold (share, 0-1)", "cooldown_weeks (weeks)",
                   "pastoral (minutes a week per school)"):
        assert f">{column}</th>" in html, column
    assert "(minutes a week per school)</dd>" in html or "(minutes a week per school)<" in html
    # each lever's value rounded by its unit (0.915029 and 1,035.4 minutes were printed), and
    # the re-evaluated front's table headed in words (it showed mean_baseline, ci_low)
    front = printed.splitlines()[2:printed.splitlines().index(next(
        line for line in printed.splitlines() if line.startswith("levers:")))]
    assert front and not any(re.search(r"\d\.\d{4,}", line) for line in front), front
    assert not re.search(r"pastoral = [\d,]+\.\d", best), best
    assert ">Baseline mean</th>" in html and ">mean_baseline<" not in html


def test_lever_units_by_key_and_by_how_rules_use_a_parameter() -> None:
    from srmsim.labels import key_unit
    from srmsim.report.explore import lever_units
    from srmsim.scenario import load_scenario

    policy = load_scenario(ROOT / "scenarios" / "attendance_escalation.yaml").policy
    units = lever_units(["policy.parameters.attendance_threshold",
                         "policy.staff.pool.attendance_officer",
                         "policy.actions.parent_text.take_up", "policy.rules.x.cadence"], policy)
    assert units == {"policy.parameters.attendance_threshold": "share, 0-1",
                     "policy.staff.pool.attendance_officer": "minutes a week, trust pool",
                     "policy.actions.parent_text.take_up": "share taking it up, 0-1",
                     "policy.rules.x.cadence": ""}
    assert key_unit("policy.parameters.min_factors", "whole") == "count"
    assert key_unit("policy.parameters.unknown") == ""  # no rule says: no unit guessed
    assert key_unit("policy.actions.reading_club.effect.reading") == "months of reading age"


# --- figures: the legend clear of the bars, long titles within the figure ----------------------

def _trial_runs(n: int = 200):
    """Replications whose errors spread evenly: the histogram's bars fill its axes to the top
    from edge to edge, so a legend inside it covers some bar wherever it goes."""
    import numpy as np
    import pandas as pd

    truth = np.full(n, 2.0)
    estimate = truth + np.repeat(np.linspace(-1, 1, 25), n // 25 + 1)[:n]
    return pd.DataFrame({"error": "", "estimate": estimate, "ci_low": estimate - 1,
                         "ci_high": estimate + 1, "true_effect": truth,
                         "covered": np.abs(estimate - truth) < 1,
                         "naive": estimate[::-1], "naive_truth": truth})


def _inside(inner, outer, slack: float = 0.5) -> bool:
    return (inner.x0 >= outer.x0 - slack and inner.x1 <= outer.x1 + slack
            and inner.y0 >= outer.y0 - slack and inner.y1 <= outer.y1 + slack)


def test_the_trial_histograms_legend_covers_no_bar() -> None:
    """trial.png's right panel (errors over replications) put its legend inside the axes at
    "best": with bars across the whole axes, it covered some of them."""
    from srmsim.trial.report import plot

    fig = plot(_trial_runs(), scale="months", level="95%")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax2 = fig.axes[1]
    legend = ax2.get_legend().get_window_extent(renderer)
    bars = [p.get_window_extent(renderer) for p in ax2.patches if p.get_height() > 0]
    assert len(bars) >= 25
    assert not any(legend.overlaps(b) for b in bars)
    assert _inside(legend, fig.bbox)  # beside the axes, yet in the figure
    assert [t.get_text() for t in ax2.get_legend().get_texts()] == [
        "trial estimate - truth", "naive - its truth"]


def test_long_titles_are_wrapped_within_the_figure() -> None:
    """A long outcome label in the report's by-group figure (a custom outcome's) and a long
    title of trial.png ran past the figure's right edge: now broken onto lines within it."""
    import pandas as pd

    from srmsim.experiment.outcomes import Outcome
    from srmsim.report.experiment import group_figure
    from srmsim.trial.report import plot

    label = ("Share of pupils in Year 7 and Year 8 reading at or above their chronological age "
             "by the summer term assessment")
    o = Outcome(name="reading_at_age", label=label, scale="share", better="higher",
                measure=lambda cohort: 0.0)
    ge = pd.DataFrame({"group": ["FSM", "not FSM"], "variant": "support",
                       "outcome": "reading_at_age", "difference": [0.02, 0.01],
                       "ci_low": [0.01, 0.0], "ci_high": [0.03, 0.02]})
    trial_title = " ".join(["Reading support trial in the Northern Lights trust:"] * 4)
    figures = [(group_figure(ge, o, ["FSM", "not FSM"], "no_policy", ["support"]),
                f"{label} by group: effect with 95% simulation interval"),
               (plot(_trial_runs(), title=trial_title, scale="months"), trial_title)]
    for fig, text in figures:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        for ax in fig.axes:
            title = ax.get_title(loc="left")
            assert title and _inside(ax._left_title.get_window_extent(renderer), fig.bbox), title
        shown = fig.axes[0].get_title(loc="left")
        assert "\n" in shown and shown.replace("\n", " ") == text  # every word, in order


# --- notebooks: who each is for, the same in the notebook and in the docs ----------------------

def _audiences(table_doc: Path) -> dict[str, str]:
    """``notebook -> "for" column`` of a docs table of the notebooks."""
    rows = {}
    for line in table_doc.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) >= 2 and cells[0].startswith("`0") and cells[0].endswith(".ipynb`"):
            rows[cells[0].strip("`")] = cells[1]
    return rows


def test_every_notebook_says_who_it_is_for_as_the_docs_do() -> None:
    """Notebooks 08 and 09 named their readers otherwise than the docs ("trust analysts" in 08,
    "analysts" in notebooks.md and "trusts, analysts" in the teachers' guide; 09 "trust leads"
    and "trusts"), and 01, 04 and 07 did not say at all, unlike the others."""
    import json
    import re

    docs = [_audiences(ROOT / "docs" / "notebooks.md"),
            _audiences(ROOT / "docs" / "guides" / "teacher.md")]
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert len(notebooks) == 9 and all(set(d) == {n.name for n in notebooks} for d in docs)
    for path in notebooks:
        first = "".join(json.loads(path.read_text())["cells"][0]["source"])
        said = re.search(r"^\*For ([^.*]+)\.\*", first.split("\n\n", 2)[1])
        assert said, f"{path.name}: its first paragraph does not say who it is for"
        readers = said.group(1).replace(" and ", ", ")
        assert [d[path.name] for d in docs] == [readers, readers], path.name


# --- numbers print as written --------------------------------------------------------------

def test_three_significant_figures_never_print_a_floats_binary_tail() -> None:
    """Notebook 08's learning curve printed a term's regret as "0.8149999999999999 (-5.2 to
    6.83)": ``significant`` rounded to 0.815 and then wrote that float with 16 digits, one more
    than every such float keeps. Now 15."""
    from srmsim.experiment.learning import curve_cell
    from srmsim.labels import significant

    assert significant(0.8149999) == "0.815" and significant(0.815) == "0.815"
    assert [significant(x) for x in (0.00123, 2.675, 123456.0, 0.285, 1310.2, 1e14 + 3)] == [
        "0.00123", "2.67", "123,000", "0.285", "1,310", "100,000,000,000,000"]
    assert curve_cell("regret", 0.8149999999999999, -5.2, 6.83) == "0.815 (-5.2 to 6.83)"
    for x in (0.815, 0.1 + 0.2, 1 / 3, 2 / 3 * 1000, 0.000123456, 9.995):
        text = significant(x)
        assert len(text.replace(",", "").lstrip("-0.")) <= 4, text  # 3 figures (and a point)


def test_the_sensitivity_table_names_outcomes_by_their_labels() -> None:
    """`srmsim sensitivity DIR` printed its outcome column as field names (attendance,
    persistent_absence) under the heading "target", where the report and every other table
    print "Attendance" and "Persistent absence"."""
    import pandas as pd

    from srmsim.explore.sensitivity import format_sensitivity

    rows = pd.DataFrame({"target": ["escalation - no_policy"] * 2, "variant": "escalation",
                         "outcome": ["persistent_absence", "staff_hours"], "parameter": "a",
                         "method": "sobol", "S1": [0.5, float("nan")], "S1_conf": [0.1, None],
                         "ST": [0.6, float("nan")], "ST_conf": [0.1, None], "level": 0.95})
    text = format_sensitivity(rows)
    table = text.split("\n\n")[1].splitlines()
    assert table[0].split()[:3] == ["policy", "(or", "effect)"] and "target" not in table[0]
    assert "Persistent absence" in table[1] and "persistent_absence" not in text
    assert "escalation - no_policy: Staff hours." in " ".join(text.split())
    assert "Rows whose policy is 'variant - baseline'" in " ".join(text.split())
