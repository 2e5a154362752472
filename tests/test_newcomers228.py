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
