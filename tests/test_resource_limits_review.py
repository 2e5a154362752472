"""Inputs that made a command run for minutes or take gigabytes: each is refused up front with a
short error naming the key and the limit (exit 2, nothing written), or its expensive part is
bounded (a figure that summarises, the full table still written)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import tiny_policy_scenario

from srmsim.cli import main
from srmsim.data.readers import MAX_COLUMNS, read_raw
from srmsim.errors import DataError
from srmsim.experiment.compare import (
    MAX_FOREST_PANELS,
    MAX_FOREST_VARIANTS,
    forest_plot,
    forest_rows,
)
from srmsim.explore.sensitivity import COLUMNS as SENSITIVITY_COLUMNS
from srmsim.explore.sensitivity import (
    MAX_PLOT_OUTCOMES,
    MAX_PLOT_PARAMETERS,
    MAX_PLOT_TARGETS,
    sensitivity_plot,
)

SCENARIO = tiny_policy_scenario(seed=3, trust={"n_schools": 1, "students_per_year_group": 10})


def write(path: Path, data: object) -> Path:
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False),
                    encoding="utf-8")
    return path


def fails(capsys, *argv: str, contains: str = "") -> str:
    """Run the CLI in-process; it must exit 2 with one short message and no traceback."""
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.startswith("srmsim: error:") and "Traceback" not in err, err
    assert len(err) < 2000 and max(len(x) for x in err.splitlines()) < 500
    assert contains in err, err
    return err


def effects_table(n_outcomes: int, n_variants: int) -> pd.DataFrame:
    return pd.DataFrame([{"variant": f"v{v}", "baseline": "base", "outcome": f"o{o}",
                          "difference": 0.1, "ci_low": 0.0, "ci_high": 0.2, "verdict": "better"}
                         for o in range(n_outcomes) for v in range(n_variants)])


def test_the_forest_plot_of_a_thousand_outcomes_draws_a_bounded_summary():
    # 1,001 user-defined outcomes: forest.png had 1,001 panels, 66 s of CPU and 7 MB
    fig = forest_plot(effects_table(1001, 1))
    assert len(fig.axes) == MAX_FOREST_PANELS
    note = " ".join(t.get_text() for t in fig.texts)
    assert f"the first {MAX_FOREST_PANELS} of 1,001 outcomes" in note
    assert "effects.csv" in note


def test_the_forest_plot_of_a_thousand_variants_draws_a_bounded_summary():
    fig = forest_plot(effects_table(2, 1000))
    assert len(fig.axes) == 2
    assert all(len(ax.get_yticks()) == MAX_FOREST_VARIANTS for ax in fig.axes)
    assert fig.get_size_inches()[1] < 50
    note = " ".join(t.get_text() for t in fig.texts)
    assert f"the first {MAX_FOREST_VARIANTS} of 1,000 variants" in note


def test_a_forest_plot_within_the_limits_is_drawn_whole_without_a_note():
    rows, note = forest_rows(effects_table(7, 3))
    assert len(rows) == 21 and note == ""
    fig = forest_plot(effects_table(7, 3))
    assert len(fig.axes) == 7
    assert not any("showing" in t.get_text() for t in fig.texts)


def sobol_table(n_outcomes: int, n_targets: int, n_params: int) -> pd.DataFrame:
    return pd.DataFrame([{"target": f"t{t}", "variant": f"t{t}", "outcome": f"o{o}",
                          "parameter": f"policy.p{p}", "method": "sobol", "S1": 0.3,
                          "S1_conf": 0.1, "ST": 0.4, "ST_conf": 0.1}
                         for t in range(n_targets) for o in range(n_outcomes)
                         for p in range(n_params)], columns=SENSITIVITY_COLUMNS)


def test_the_sensitivity_plot_of_many_outcomes_and_variants_draws_a_bounded_summary():
    # 112 outcomes of 3 variants (5 targets): 560 panels, redrawn by every report refresh
    fig = sensitivity_plot(sobol_table(112, 5, 3))
    assert len(fig.axes) == MAX_PLOT_OUTCOMES * 5
    note = " ".join(t.get_text() for t in fig.texts)
    assert f"the first {MAX_PLOT_OUTCOMES} of 112 outcomes" in note
    assert "sensitivity.csv" in note


def test_the_sensitivity_plot_of_many_parameters_draws_a_bounded_summary():
    fig = sensitivity_plot(sobol_table(1, 12, 300))
    assert len(fig.axes) == MAX_PLOT_TARGETS
    assert len(fig.axes[0].get_yticks()) == MAX_PLOT_PARAMETERS
    note = " ".join(t.get_text() for t in fig.texts)
    assert f"the first {MAX_PLOT_PARAMETERS} of 300 parameters" in note
    assert f"the first {MAX_PLOT_TARGETS} of 12 policies or differences" in note


def test_a_sensitivity_plot_within_the_limits_has_no_note():
    fig = sensitivity_plot(sobol_table(3, 2, 4))
    assert len(fig.axes) == 6 and not fig.texts


def test_a_csv_too_wide_is_refused_before_its_body_is_read(tmp_path, capsys):
    # the width was checked once every row had been parsed into Python strings: 18 MB of a
    # 3,000-column file took 700 MB first. A body the reader cannot parse (a cell beyond the
    # csv module's limit) shows which comes first.
    wide = tmp_path / "wide.csv"
    header = ",".join(f"c{i}" for i in range(MAX_COLUMNS + 1))
    wide.write_text(header + "\n" + "1," * MAX_COLUMNS + "x" * 200_000 + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=f"{MAX_COLUMNS + 1:,} columns, more than the"):
        read_raw(wide)
    out = tmp_path / "out"
    fails(capsys, "data", "validate", "--students", str(wide), "--out", str(out),
          contains="columns, more than the")
    assert not out.exists()


def test_a_csv_within_the_width_limit_is_still_read_whole(tmp_path):
    ok = tmp_path / "ok.csv"
    ok.write_text("a,b\n1,2\n3,4\n", encoding="utf-8")
    raw = read_raw(ok)
    assert raw.header == ["a", "b"] and len(raw.frame) == 2


def test_the_reports_group_figure_draws_at_most_the_forest_plots_variants(tmp_path, monkeypatch):
    # 300 variants drew 1,800 rows in the report's group figure: 16 s and 577 inches
    import srmsim.report.experiment as report
    from srmsim.experiment.result import ExperimentResult

    write(tmp_path / "tiny.yaml", SCENARIO)
    study = write(tmp_path / "e.yaml", {
        "name": "e", "scenario": "tiny.yaml", "baseline": "none", "replications": 2, "seed": 1,
        "outcomes": ["attendance"], "variants": {"none": {"policy": None}, "a": {},
                                                 "b": {"policy.parameters.attendance_threshold":
                                                       0.95}}})
    out = tmp_path / "out"
    assert main(["experiment", str(study), "--workers", "1", "--quiet", "--no-report",
                 "--out", str(out)]) == 0
    drawn: list[list[str]] = []
    real = report.group_figure
    monkeypatch.setattr(report, "group_figure",
                        lambda ge, o, groups, baseline, variants, level: drawn.append(variants)
                        or real(ge, o, groups, baseline, variants, level))
    monkeypatch.setattr(report, "MAX_FOREST_VARIANTS", 1)
    html = report.build(ExperimentResult.load(out)).render()
    assert drawn == [["a"]]
    assert "the first 1 of 2 variants; every variant is in the tables above" in html


def test_the_fairness_plot_of_a_column_of_many_groups_draws_its_first_groups(tmp_path,
                                                                              monkeypatch):
    # --by on a column of 400 groups drew 800 lines and a 400-entry legend (5 s, 1 MB)
    from srmsim.risk import plots

    rows = [{"by": "grp", "group": g, "threshold": t, "n": 150, "flag_rate": t,
             "sensitivity": t, "flag_rate_gap": 0.1, "sensitivity_gap": 0.2}
            for g in range(400) for t in (0.25, 0.5, 0.75)]
    drawn = []
    real = plots.save

    def save(fig, path, dpi=120):
        drawn.append(fig)
        return real(fig, path, dpi)

    monkeypatch.setattr(plots, "save", save)
    plots.plot_fairness(pd.DataFrame(rows), tmp_path / "fairness.png")
    (fig,) = drawn
    for ax in fig.axes:
        assert len(ax.get_lines()) == plots.MAX_FAIRNESS_GROUPS
        assert f"the first {plots.MAX_FAIRNESS_GROUPS} of 400 groups" in ax.get_title()
    assert (tmp_path / "fairness.png").stat().st_size < 400_000
