"""What newcomers read: errors wrapped rather than cut, tables with readable headings and units,
regret in its unit, and the jargon of the commands' help glossed (helper 228, 2026-12-07)."""

from __future__ import annotations

from pathlib import Path

from srmsim.cli import main, short_message
from srmsim.errors import MAX_LINE

ROOT = Path(__file__).resolve().parents[1]
PREFIX = len("srmsim: error: ")


# --- 1. a long error line is wrapped, not cut --------------------------------------------------

def test_a_long_error_line_is_wrapped_between_words_and_keeps_its_end():
    """A problem past 300 characters on one line lost its end, the part saying what to do."""
    path = "/tmp/pytest-of-someone/pytest-42/" + "a_long_folder_name_" * 8 + "/exp.yaml"
    choices = ", ".join(f"variant_{i}" for i in range(40))
    text = f"{path}: no variant 'x': use one of {choices}; then run: srmsim compare out --resume"
    shown = short_message(text)
    lines = shown.splitlines()
    assert len(lines) > 1 and all(len(line) <= MAX_LINE for line in lines), lines
    assert all(line.startswith("  ") for line in lines[1:]), lines  # read as one problem
    assert path in lines[0]  # a path shorter than a line is never split
    assert " ".join(line.strip() for line in lines) == text  # every word, in order
    assert shown.endswith("then run: srmsim compare out --resume")


def test_a_huge_value_is_shortened_in_the_middle_and_the_message_stays_short():
    """Hostile input: a 1 MB key name still gives a short message, whose end is kept."""
    key = "k" * 1_000_000
    shown = short_message(f"s.yaml: unknown key '{key}': use one of years, seed, trust")
    assert len(shown) < 2 * MAX_LINE and "k" * (MAX_LINE + 1) not in shown, len(shown)
    assert "k..." in shown and "...k" in shown
    assert shown.startswith("s.yaml: unknown key") and shown.endswith("use one of years, seed, "
                                                                      "trust")
    words = " ".join(f"name{i}" for i in range(200_000))  # a line of short words
    shown = short_message(f"f.csv: {words}: rename the columns")
    assert len(shown) <= 12 * MAX_LINE + 12 * 4 and shown.endswith("rename the columns")
    assert "characters left out" in shown
    many = "\n".join(f"  row {i}: " + "x " * 1000 for i in range(40))  # 40 long problems
    shown = short_message("f.csv: invalid\n" + many)
    assert len(shown) <= 12 * MAX_LINE + 100 and shown.endswith("... and 29 more problems")
    deep = short_message(" " * 5_000 + "x " * 2_000)  # an indent deeper than a line
    assert len(deep) <= 13 * MAX_LINE and max(map(len, deep.splitlines())) <= MAX_LINE


def test_the_command_says_a_long_paths_problem_whole(tmp_path, capsys):
    """`srmsim run s.yaml --out <long path>/...` under a file: the message's line passed 300
    characters and was cut inside the second path, before "is a file, not a folder"."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    blocker = deep / "a_file_in_the_way.txt"
    blocker.write_text("x")
    out = blocker / "results" / ("f" * 40)
    assert len(f"{out}: {blocker} is a file, not a folder") > MAX_LINE  # the case at stake
    assert main(["run", str(ROOT / "scenarios" / "default.yaml"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert all(len(line) <= MAX_LINE + PREFIX for line in err.splitlines()), err
    assert str(blocker) in err.replace("\n  ", " ")
    assert err.rstrip().endswith("is a file, not a folder (nothing half-written is left)"), err


# --- 2. the effects table's headings are words -------------------------------------------------

def test_the_printed_effects_table_has_readable_headings_and_the_csv_keeps_its_names(
        finished, capsys):
    """`srmsim compare` printed effects.csv's names (mean_baseline, ci_low, relative_change) as
    the table's headings, with a footnote to explain them."""
    import pandas as pd

    from srmsim.experiment.outcomes import get_outcome

    assert main(["compare", str(finished)]) == 0
    printed = capsys.readouterr().out
    head = printed.splitlines()[0]
    assert head.split() == ["Variant", "Outcome", "Baseline", "mean", "Variant", "mean",
                            "Difference", "95%", "interval", "Relative", "change", "Verdict"]
    for name in ("mean_baseline", "mean_variant", "ci_low", "ci_high", "relative_change"):
        assert name not in printed
    effects = pd.read_csv(finished / "effects.csv")
    assert {"mean_baseline", "mean_variant", "ci_low", "ci_high", "relative_change"} <= set(
        effects.columns)
    row = effects[effects["outcome"] == "attendance"].iloc[0]
    info = get_outcome("attendance")
    interval = f"{info.format_difference(row.ci_low)} to {info.format_difference(row.ci_high)}"
    line = next(ln for ln in printed.splitlines() if ln.startswith(row.variant)
                and "Attendance" in ln)
    assert interval in line and line.index(interval) + len(interval) == (
        head.index("95% interval") + len("95% interval")), (head, line)  # under its heading
    assert "95% interval: the simulation interval of the difference" in printed


# --- 3. regret in its unit -------------------------------------------------------------------

def _learning_experiment(tmp_path: Path, target: str = "reading",
                         other: str | None = None) -> Path:
    """Two choosers (fixed, random) on a small trust for a year, 2 replications; ``other``: the
    random chooser's target, when it differs."""
    import yaml
    from test_learning import CANDIDATES, learning_scenario

    (tmp_path / "sc.yaml").write_text(learning_scenario("fixed", years=1, schools=2,
                                                        target=target).to_yaml())
    step = {"candidates": CANDIDATES, "weeks": 13,
            "chooser": {"kind": "random", "target": other or target}}
    exp = {"name": "l", "scenario": "sc.yaml", "baseline": "fixed", "replications": 2,
           "seed": 1, "outcomes": ["regret", "regret_t1", "regret_t2", "oracle_match_t1"],
           "variants": {"fixed": {}, "random": {"policy.workflows.reading.steps": [step]}}}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    return path


def test_the_learning_curve_prints_and_plots_regret_in_the_choosers_unit(tmp_path, capsys):
    """`srmsim experiment` printed "learning curve: regret per referral (lower is better)" over
    bare numbers, and learning_curve.png's regret axis had no label: regret is the oracle's
    expected gain minus the chosen action's for one referral, in the target's unit."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from srmsim.experiment.learning import learning_curve, plot_learning_curve
    from srmsim.experiment.result import ExperimentResult

    out = tmp_path / "out"
    assert main(["experiment", str(_learning_experiment(tmp_path)), "--out", str(out),
                 "--workers", "1", "--quiet", "--no-report"]) == 0
    printed = capsys.readouterr().out
    assert "learning curve: regret per referral, in months of reading age (lower is better)" \
        in printed, printed
    table = printed.split("learning curve: regret per referral")[1].split("\n\n")[0]
    cells = [line.split()[1:] for line in table.splitlines()[2:]]
    assert cells and all(row[-1] == "months" for row in cells), table
    # the effects table too (it printed regret as a bare +0.38), and effects.csv's unit
    import pandas as pd

    regret = [line for line in printed.splitlines() if line.startswith("random ")
              and ("regret" in line.lower())]
    assert len(regret) == 3 and all(line.count(" months") >= 4 for line in regret), regret
    units = pd.read_csv(out / "effects.csv").set_index("outcome")["unit"]
    assert units["regret"] == units["regret_t1"] == "months", units
    res = ExperimentResult.load(out)
    assert res.chooser_target() == "reading"
    fig = plot_learning_curve(learning_curve(res.runs), target=res.chooser_target())
    axes = {ax.get_title(loc="left"): ax.get_ylabel() for ax in fig.axes}
    assert axes["regret per referral, in months of reading age (lower is better)"] == (
        "months of reading age per referral"), axes
    assert axes["share matched to the oracle"] == "share of referrals (0 to 1)"


def test_regret_of_choosers_with_different_targets_claims_no_unit(tmp_path, capsys):
    """Variants whose choosers target different effects have regrets in different units: none
    is named (a level effect's gain has none a reader would know), the table says so."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    out = tmp_path / "out"
    assert main(["experiment", str(_learning_experiment(tmp_path, "reading", "attainment")),
                 "--out", str(out), "--workers", "1", "--quiet", "--no-report"]) == 0
    printed = capsys.readouterr().out
    assert "regret per referral, in the chooser's target units (lower is better)" in printed
    assert "months" not in printed.split("learning curve: regret")[1].split("\n\n")[0]
    import re

    assert not re.search(r"\d months", printed.split("learning curve")[0])  # nor the effects


# --- 4. jargon glossed once -------------------------------------------------------------------

#: a term a teacher would not know, and words of its gloss that must be beside it where it shows
JARGON = {"ICC": "intraclass correlation", "moments": "summary figures",
          "PRIM": "patient rule induction method", "CART": "classification tree",
          "highest coverage": "share of all the runs", "this density": "share of the box's runs",
          "Sobol": "share of an outcome's variance", "Morris": "the mean size",
          "NSGA-II": "search algorithms", "Pareto front": "no other beats on every objective",
          "common random numbers": "the same", "regret.csv": "falls short of the best",
          "CRN": "never bare", "95% CI": "never bare", "precision": "share of flagged students",
          "recall": "share of those who reach", "ROC": "against false alarms",
          "bootstrapped": "resampled", "k-anonymity": "at least k students",
          "equivalence class": "sharing one combination", "l-diversity": "different values",
          "stepped wedge": "in turns", "CI coverage": "how often the confidence interval",
          "power": "how often the trial finds", "pre-post": "before-after",
          "Dask": "cluster of computers"}
COMMANDS = [["calibrate"], ["discover"], ["sensitivity"], ["optimise"], ["experiment"],
            ["compare"], ["thresholds"], ["trial"], ["data", "anonymise"]]


def _help(capsys, argv: list[str]) -> str:
    import pytest

    with pytest.raises(SystemExit) as stop:
        main([*argv, "--help"])
    assert stop.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse's line breaks as spaces


def test_each_commands_help_glosses_its_jargon(capsys):
    """`srmsim calibrate --help` spoke of "between-school ICCs", `srmsim compare --help` of
    "95% CI ... CRN variance reduction", `srmsim discover --help` of PRIM (and --peel-alpha and
    --mass-min had no help at all): terms a teacher reading the help would not know."""
    seen = set()
    for argv in COMMANDS:
        text = _help(capsys, argv)
        for term, gloss in JARGON.items():
            if term in text:
                seen.add(term)
                assert gloss in text, (argv, term)
        assert "--peel-alpha PEEL_ALPHA --mass-min" not in text  # an option with no help
    assert {"ICC", "PRIM", "Sobol", "Pareto front", "k-anonymity", "stepped wedge",
            "precision", "Dask", "common random numbers"} <= seen


def test_calibrates_printed_moments_heading_glosses_iccs():
    """The calibration's printed moments table said "ICCs as shares of 0 to 1", its objective
    "each over its SE squared" and its parameters table "se: approximate", unexplained."""
    from types import SimpleNamespace

    import pandas as pd

    from srmsim.calibrate.report import CalibrationResult

    fit = pd.DataFrame({"moment": ["attainment_icc"], "target": [0.12], "simulated": [0.1],
                        "difference": [0.02], "tolerance": [0.01], "within": [False],
                        "used": [True], "n": ["445"]})
    estimates = pd.DataFrame({"parameter": ["attainment_icc"], "start": [0.1],
                              "estimate": [0.11], "se": [0.01], "lower": [0.0], "upper": [0.5]})
    result = SimpleNamespace(
        optimiser={"method": "least_squares", "success": True, "message": "ok",
                   "evaluations": 3, "se_evaluations": 2, "replications": 2, "seed": 1,
                   "seconds": 1.0, "start_objective": 2.0, "objective": 1.0},
        fit_table=lambda: fit, base=SimpleNamespace(name="default"), data="ds",
        real_data=False, estimates=estimates, fit=fit, notes=[])
    text = " ".join(CalibrationResult.format(result).split())  # type: ignore[arg-type]
    assert "ICCs (intraclass correlations: the share of the spread that lies between schools)" \
        in text
    assert "each over its standard error squared" in text
    assert "parameters (se: standard error, approximate):" in text


def test_the_learning_curves_ci_is_glossed_once():
    """The printed learning curve headed each table "(mean and 95% CI over ...)" and never said
    what a CI is."""
    import pandas as pd

    from srmsim.experiment.learning import format_learning_curve, learning_curve

    runs = pd.DataFrame({"variant": ["a"] * 3, "regret_t1": [1.0, 2.0, 3.0],
                         "oracle_match_t1": [0.5, 0.6, 0.7]})
    text = format_learning_curve(learning_curve(runs), target="reading")
    assert text.count("95% CI") == 2 and text.count("\nCI: the simulation interval") == 1
