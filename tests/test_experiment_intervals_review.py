"""Review of the intervals and verdicts of `srmsim experiment` (compare.py, runner.py, the report).

Checked against truths known by construction or from 800 replications of a 1-school trust:
the interval is a t interval (n - 1 df) of the mean paired difference, per variant and outcome;
for continuous outcomes it covers 94-95% from 2 replications on. Found: the sequential rule
stopped on the half-width of its first round (2 replications: often 0 for an outcome of few
values), the printed table and the report presented a zero-width interval from identical paired
differences as certain, and neither said that its verdicts are not adjusted for multiplicity.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import tiny_policy_scenario

from srmsim.experiment import load_experiment, run_experiment
from srmsim.experiment.compare import compare_frame
from srmsim.experiment.runner import sequential_step
from srmsim.experiment.spec import SequentialConfig
from srmsim.explore.design import DesignConfig


def _experiment(tmp: Path, **sequential) -> Path:
    """Two variants of a 1-school trust of 30 a year group (a run takes ~0.07 s)."""
    scenario = tiny_policy_scenario(trust={"n_schools": 1, "students_per_year_group": 30,
                                           "size_cv": 0.0})
    (tmp / "tiny.yaml").write_text(yaml.safe_dump(scenario))
    exp = {"name": "intervals", "scenario": "tiny.yaml", "baseline": "none", "replications": 2,
           "seed": 11, "outcomes": ["attendance", "staff_hours"],
           "variants": {"none": {"policy": None}, "texts": {}}, "sequential": sequential}
    path = tmp / "exp.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    return path


# --- 1. the sequential rule's first decision -----------------------------------------------

@pytest.mark.once
def test_a_first_round_of_two_does_not_stop_on_its_own_half_width(tmp_path):
    """A target the first round's 2 replications meet (a half-width of 5 percentage points
    of attendance) stopped the experiment at 2 replications; it now runs to the default
    min_replications (10) first, and stops there."""
    path = _experiment(tmp_path, half_width={"attendance": 0.05}, max_replications=50, batch=5)
    summary = run_experiment(load_experiment(path), tmp_path / "o", workers=1, progress=False)
    assert (summary["replications"], summary["stopped"]) == (10, "half-width target met")
    # asked for, the old rule: its first round decides
    path = _experiment(tmp_path, half_width={"attendance": 0.05}, max_replications=50, batch=5,
                       min_replications=2)
    summary = run_experiment(load_experiment(path), tmp_path / "o2", workers=1, progress=False)
    assert (summary["replications"], summary["stopped"]) == (2, "half-width target met")


def test_min_replications_above_max_replications_stops_at_the_maximum():
    """With max_replications below min_replications the rule runs to the maximum (never past
    it) and says the target was met there when it was."""
    seq = SequentialConfig(half_width={"y": 1.0}, max_replications=4, batch=1)
    met = pd.DataFrame({"outcome": ["y"], "half_width": [0.5]})
    assert sequential_step(met, seq, 2) == (None, 4)
    assert sequential_step(met, seq, 4) == ("half-width target met", 4)
    wide = met.assign(half_width=2.0)
    assert sequential_step(wide, seq, 4) == ("max_replications reached", 4)
    # from 10 on, batches as before
    seq = SequentialConfig(half_width={"y": 1.0}, max_replications=200, batch=5)
    assert sequential_step(wide, seq, 2) == (None, 10)
    assert sequential_step(wide, seq, 10) == (None, 15)
    assert sequential_step(met, seq, 10) == ("half-width target met", 10)


@pytest.mark.once
def test_sequential_intervals_of_a_rare_share_cover_the_true_effect():
    """The share of 150 students with a rare event (2%), each event removed by the variant with
    probability 0.3: the true effect is exactly -0.3 x 2% = -0.6 pp. Stopping on the rule's
    decisions from a first round of 2 (target 0.4 pp, batches of 5), 200 experiments' 95%
    intervals covered it 64.5% of the time when the first round could stop the experiment (its 2
    paired differences are often equal: a half-width of 0); from 10 replications 91.5%. The bound
    0.85 is 3.5 binomial SEs (0.019 at 200 experiments) below that and far above 0.645."""
    seq = SequentialConfig(half_width={"y": 0.004}, max_replications=200, batch=5)
    rng = np.random.default_rng(2026)
    truth = -0.3 * 0.02
    covered = []
    for _ in range(200):
        base = rng.binomial(150, 0.02, 200)
        variant = base - rng.binomial(base, 0.3)
        runs = pd.DataFrame({"variant": ["base"] * 200 + ["v"] * 200,
                             "replication": np.r_[np.arange(200), np.arange(200)],
                             "y": np.r_[base, variant] / 150})
        row = run_sequentially(runs, seq, 2)[0].iloc[0]
        covered.append(row["ci_low"] <= truth <= row["ci_high"])
    assert np.mean(covered) >= 0.85


def run_sequentially(runs: pd.DataFrame, seq: SequentialConfig, first: int
                     ) -> tuple[pd.DataFrame, int]:
    """The sequential rule applied to ``runs`` (variant "v" against "base", outcome "y") from a
    first round of ``first`` replications: the effects it stops on and their replications."""
    n = first
    while True:
        effects = compare_frame(runs[runs["replication"] < n], "base", ["y"])
        stop, n = sequential_step(effects, seq, n)
        if stop:
            return effects, n


def test_the_default_min_replications_keeps_the_experiment_hash(tmp_path):
    """Results of a sequential experiment made before the setting existed resume (their hash is
    that of the settings without it); a different min_replications is another experiment."""
    default = load_experiment(_experiment(tmp_path, half_width={"attendance": 0.05}))
    assert "min_replications" not in default.hashed_config()["sequential"]
    other = load_experiment(_experiment(tmp_path, half_width={"attendance": 0.05},
                                        min_replications=3))
    assert other.hashed_config()["sequential"]["min_replications"] == 3
    assert other.digest() != default.digest()


# --- 2. zero-width intervals and multiplicity, said where the verdicts are printed ----------

def _table(columns: dict[str, dict[str, list[float]]]) -> pd.DataFrame:
    """A runs table from {variant: {outcome: values by replication}}."""
    return pd.concat([pd.DataFrame({"variant": v, "replication": range(len(next(iter(o.values())))),
                                    **o}) for v, o in columns.items()], ignore_index=True)


def test_identical_paired_differences_are_named_not_shown_as_certain():
    """Two replications of a share of 150 students, each one student lower under the variant:
    a zero-width interval at -0.67 pp and the verdict "better", which the table showed as
    certain although a share of a few students repeats a difference by chance (above half of
    the time on some outcomes, measured); the varying outcome is not named."""
    from srmsim.experiment.compare import format_effects

    runs = _table({"base": {"share": [3 / 150, 5 / 150], "score": [1.0, 2.0]},
                   "v": {"share": [2 / 150, 4 / 150], "score": [1.5, 2.1]}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division or degrees-of-freedom warning
        eff = compare_frame(runs, "base", ["share", "score"]).set_index("outcome")
    # 3/150 - 2/150 and 5/150 - 4/150 differ in the last bit: an interval 1e-17 wide and a
    # variance-reduction factor of 1e29 before they were read as the same difference
    assert eff.loc["share", "ci_low"] == eff.loc["share", "ci_high"] == pytest.approx(-1 / 150)
    assert eff.loc["share", "half_width"] == 0 and np.isnan(eff.loc["share", "variance_reduction"])
    text = format_effects(eff.reset_index())
    note = next(line for line in text.splitlines() if "every paired difference" in line)
    assert "'v' (share; 2 replications)" in note and "score" not in note


def test_a_variant_identical_to_the_baseline_gets_zero_intervals_and_one_short_note():
    """All differences exactly 0: intervals [0, 0], "no clear change", no warning and no NaN;
    the note names the variant once ("every outcome"), not each of its outcomes."""
    from srmsim.experiment.compare import format_effects

    rng = np.random.default_rng(0)
    base = {"a": list(rng.normal(size=5)), "b": list(rng.binomial(20, 0.1, 5) / 20)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        eff = compare_frame(_table({"base": base, "same": base}), "base", ["a", "b"])
    assert (eff[["difference", "ci_low", "ci_high", "half_width"]] == 0).all().all()
    assert set(eff["verdict"]) == {"no clear change"}
    assert "'same' (every outcome; 5 replications)" in format_effects(eff)


def test_the_table_says_its_verdicts_are_not_adjusted_for_multiplicity():
    """Four variants x five outcomes, none with any effect (independent noise): one of the 20
    verdicts says "higher" with this seed, as 5% of 20 would; nothing said the verdicts are
    each at 95% on their own. The note gives the 20 comparisons and the one expected."""
    from srmsim.experiment.compare import format_effects

    rng = np.random.default_rng(4)
    columns = {v: {f"o{k}": list(rng.normal(size=10)) for k in range(5)}
               for v in ["base", "a", "b", "c", "d"]}
    eff = compare_frame(_table(columns), "base", [f"o{k}" for k in range(5)])
    assert (eff["verdict"] != "no clear change").sum() >= 1
    text = format_effects(eff)
    assert "no adjustment for multiple comparisons: among these 20 comparisons, about 1 would" in text
    # one comparison: nothing to adjust
    assert "multiple comparisons" not in format_effects(eff.head(1))


@pytest.mark.once
def test_the_report_carries_the_notes(tmp_path):
    """The HTML report shows the notes of the printed table under its effects table."""
    from srmsim.report import write_report

    path = _experiment(tmp_path, half_width={"attendance": 0.05})
    exp = yaml.safe_load(path.read_text())
    del exp["sequential"]
    exp["variants"]["same"] = {"policy": None}
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    run_experiment(load_experiment(path), tmp_path / "o", workers=1, progress=False)
    html = write_report(tmp_path / "o").read_text()
    assert "Every paired difference is the same in &#x27;same&#x27; (every outcome" in html
    assert "no adjustment for multiple comparisons: among these 4 comparisons" in html


# --- 3. designs whose points are not replications -----------------------------------------

@pytest.mark.once
def test_a_morris_experiment_says_its_intervals_are_not_of_the_mean_over_the_ranges(tmp_path):
    """Eight points of a Morris design (4 trajectories of one parameter), all with one seed, were
    printed as "8 replications" with 95% Monte-Carlo intervals and verdicts, although the points
    are one trust on a grid (the mean of x^2 over a 4-level grid of [0, 1] is 0.389, not 1/3)
    and a trajectory's points are dependent. The table and the report now say so; an lhs
    experiment's table has no such note."""
    from srmsim.experiment.result import ExperimentResult
    from srmsim.report import write_report

    path = _experiment(tmp_path, half_width={"attendance": 0.05})
    exp = yaml.safe_load(path.read_text())
    del exp["sequential"], exp["replications"]
    exp["uncertain"] = {"policy.parameters.attendance_threshold": [0.85, 0.95]}
    exp["design"] = {"method": "morris", "n": 4}
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    run_experiment(load_experiment(path), tmp_path / "o", workers=1, progress=False)
    res = ExperimentResult.load(tmp_path / "o")
    assert "the runs are the points of a morris design, not replications: every point ran " \
           "with the same seed" in str(res)
    assert "do not hold the mean effect over the ranges" in str(res)
    html = write_report(tmp_path / "o").read_text()
    assert "The runs are the points of a morris design" in html
    # nor does the page call them replications elsewhere (it said "8 per variant" under
    # "replications" and "run 8 times ... paired replications" in its reading guide)
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    assert "runs per variant 8 points of a Morris design (one seed)" in text
    assert "Every variant was run at the 8 points of a Morris design (one seed)" in text
    assert "paired replications" not in text
    assert DesignConfig(method="sobol", n=8).runs_in_words("48") == \
        "48 points of a Sobol design (one seed)"
    assert DesignConfig(method="sobol", n=8, seeds="distinct").runs_in_words("48") == \
        "48 points of a Sobol design (a seed each)"

    del exp["design"]
    exp["replications"] = 2
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    run_experiment(load_experiment(path), tmp_path / "lhs", workers=1, progress=False)
    assert "design, not replications" not in str(ExperimentResult.load(tmp_path / "lhs"))
    text = " ".join(re.sub(r"<[^>]+>", " ", write_report(tmp_path / "lhs").read_text()).split())
    assert "replications 2 per variant" in text and "paired replications" in text


def test_min_replications_above_max_replications_is_refused(tmp_path):
    """An explicit min_replications the experiment can never reach would do nothing: refused,
    naming both settings (the default 10 with a lower max_replications stops at the maximum)."""
    from srmsim.errors import SrmsimError

    path = _experiment(tmp_path, half_width={"attendance": 0.05}, max_replications=6,
                       min_replications=8)
    with pytest.raises(SrmsimError, match=r"min_replications \(8\) is above max_replications "
                                          r"\(6\)"):
        load_experiment(path)
    load_experiment(_experiment(tmp_path, half_width={"attendance": 0.05}, max_replications=6))


# --- 4. the fixed-n interval where the truth is known --------------------------------------

@pytest.mark.parametrize("n", [2, 3, 5])
def test_paired_t_intervals_cover_a_known_effect_at_their_level(n):
    """1,000 independent outcomes (one call: each outcome is its own experiment), baseline
    N(10, 1) shared by the variant (common random numbers) plus an effect of 0.3 with N(0, 0.5)
    noise: the 95% intervals of n paired replications hold 0.3 in 92-98% of them (4 binomial
    SEs of 0.007 around 95%). A normal quantile instead of t(n - 1) covers 70% (n = 2) to 88%
    (n = 5); an unpaired SE (baseline noise kept) would cover nearly 100%."""
    rng = np.random.default_rng(n)
    k = 1000
    base = rng.normal(10, 1, (n, k))
    variant = base + 0.3 + rng.normal(0, 0.5, (n, k))
    names = [f"o{j}" for j in range(k)]
    runs = pd.concat([pd.DataFrame(values, columns=names).assign(variant=v, replication=range(n))
                      for v, values in (("base", base), ("v", variant))], ignore_index=True)
    eff = compare_frame(runs, "base", names)
    covered = ((eff["ci_low"] <= 0.3) & (0.3 <= eff["ci_high"])).mean()
    assert 0.92 <= covered <= 0.98


def test_the_design_is_read_from_older_manifests_too():
    """Folders of 2026-11-30 to 12-03 keep the design at the manifest's top level, without
    experiment_config: their report called the design's points replications (helper 194)."""
    from srmsim.experiment.compare import design_note, manifest_design

    design = {"method": "sobol", "n": 4, "seeds": None}
    assert manifest_design({"experiment_config": {"design": design}}) == design
    assert manifest_design({"design": design}) == design
    assert manifest_design({"experiment_config": {}}) is None and manifest_design(None) is None
    assert "points of a sobol design" in design_note({"design": design})
