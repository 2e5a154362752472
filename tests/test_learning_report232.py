"""The learning curve's intervals and figure, the report's effects headings, and two messages.

- The oracle match is a share: its interval over the replications stays inside 0 to 1 (a t
  interval reached 102.0%) and covers a known mean share about 95% of the time.
- The learning-curve figure's term axis has whole terms (it showed 1.25, 1.5 ...).
- The HTML report's "All effects" table has the terminal table's readable headings.
- ``srmsim compare`` on an optimisation's folder says "an optimisation" (not "a optimise").
"""

from __future__ import annotations

import contextlib
import io
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import tiny_policy_scenario
from scipy import stats

from srmsim.cli import main
from srmsim.experiment.compare import effect_headings
from srmsim.experiment.learning import learning_curve, plot_learning_curve
from srmsim.labels import with_article


def cli(*args: str) -> SimpleNamespace:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def _simulated_runs(rng: np.random.Generator, p: float, sets: int, reps: int = 10,
                    terms: int = 1) -> pd.DataFrame:
    """``sets`` experiments ("variants") of ``reps`` replications, each replication's oracle
    match in a term the share matched of its 5 to 39 referrals, with a replication-level
    chance of a match drawn around ``p`` (overdispersed: a run's referrals are not independent).
    The mean share over replications is ``p``."""
    rows = []
    for s in range(sets):
        for r in range(reps):
            row: dict[str, object] = {"variant": f"set{s:04d}", "replication": r}
            for k in range(terms):
                m = int(rng.integers(5, 40))
                row[f"oracle_match_t{k + 1}"] = rng.binomial(m, rng.beta(20 * p, 20 * (1 - p))) / m
            rows.append(row)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("p", [0.3, 0.9, 0.97, 0.995])
def test_oracle_match_interval_covers_a_known_mean_share_and_stays_inside_0_and_1(p):
    curve = learning_curve(_simulated_runs(np.random.default_rng(232), p, 800))
    share = curve[curve["measure"] == "oracle_match"]
    assert len(share) == 800
    assert (share["ci_low"] >= 0).all() and (share["ci_high"] <= 1).all()
    assert (share["ci_low"] <= share["mean"]).all() and (share["mean"] <= share["ci_high"]).all()
    covered = ((share["ci_low"] <= p) & (p <= share["ci_high"])).mean()
    assert 0.92 <= covered <= 0.98, covered


def test_oracle_match_near_100_percent_is_not_past_it_and_all_100_is_not_certain():
    runs = pd.DataFrame({"variant": ["a"] * 10 + ["b"] * 10,
                         "oracle_match_t1": [1.0] * 9 + [0.8] + [1.0] * 10,
                         "regret_t1": np.linspace(0.1, 1.0, 20)})
    curve = learning_curve(runs).set_index(["measure", "variant"])
    a, b = curve.loc[("oracle_match", "a")], curve.loc[("oracle_match", "b")]
    assert a["mean"] == pytest.approx(0.98)
    assert a["ci_low"] < 0.98 < a["ci_high"] < 1  # the t interval's high end was 102.5%
    # ten runs at 100% show no spread: as ten 0/1 trials all matched (Wilson's low end,
    # 1 / (1 + z^2 / n), at the t quantile on 9 df)
    z = stats.t.ppf(0.975, 9)
    assert b["ci_high"] == 1.0 and b["ci_low"] == pytest.approx(1 / (1 + z * z / 10))
    # regret is not a share: still the t interval, symmetric about the mean
    r = curve.loc[("regret", "a")]
    assert r["mean"] - r["ci_low"] == pytest.approx(r["ci_high"] - r["mean"])


def test_the_oracles_own_match_is_a_point_not_an_interval():
    """The oracle variant matches itself in every referral by construction: its row read
    "100.0% (66.1% to 100.0%)" as if it were an estimate; a learned chooser at 100% in every
    run keeps the interval of ten matched trials."""
    from srmsim.policy.config import PolicyConfig, chooses_by_oracle

    runs = pd.DataFrame({"variant": ["oracle"] * 10 + ["learned"] * 10,
                         "oracle_match_t1": [1.0] * 20, "regret_t1": [0.0] * 20})
    curve = learning_curve(runs, oracles=["oracle"]).set_index(["measure", "variant"])
    assert tuple(curve.loc[("oracle_match", "oracle"), ["ci_low", "ci_high"]]) == (1.0, 1.0)
    assert curve.loc[("oracle_match", "learned"), "ci_low"] < 0.7
    step = {"candidates": ["reading_club", "small_group_tuition"], "weeks": 13}
    policy = tiny_policy_scenario()["policy"]
    workflow = next(iter(policy["workflows"]))
    for kind, oracle in (("oracle", True), ("random", False), ("fixed", False)):
        policy["workflows"][workflow]["steps"] = [{**step, "chooser": {"kind": kind}}]
        assert chooses_by_oracle(PolicyConfig.model_validate(policy)) is oracle, kind
    assert not chooses_by_oracle(None)


def test_learning_curve_figure_has_whole_terms_on_its_axis():
    curve = learning_curve(_simulated_runs(np.random.default_rng(1), 0.5, 2, terms=3))
    fig = plot_learning_curve(curve)
    ax = fig.axes[0]
    fig.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_report_all_effects_table_has_the_printed_tables_headings(tmp_path):
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(tiny_policy_scenario(
        trust={"n_schools": 2, "students_per_year_group": 20, "size_cv": 0.0})))
    exp = {"name": "tiny", "scenario": "tiny.yaml", "baseline": "none", "replications": 2,
           "seed": 3, "outcomes": ["attendance", "staff_hours"],
           "variants": {"none": {"policy": None}, "texts": {}}}
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(exp, sort_keys=False))
    out = tmp_path / "out"
    run = cli("experiment", str(tmp_path / "exp.yaml"), "--workers", "1", "--out", str(out))
    assert run.returncode == 0, run.stderr
    proc = cli("report", str(out))
    assert proc.returncode == 0, proc.stderr
    html = (out / "report.html").read_text()
    table = re.search(r"<table id='effects'><thead><tr>(.*?)</tr></thead>", html)
    assert table is not None
    heads = re.findall(r"<th>(.*?)</th>", table.group(1))
    headings = effect_headings(0.95)
    assert heads == [headings[c] for c in ("variant", "outcome", "mean_baseline", "mean_variant",
                                           "difference", "ci_low", "ci_high", "relative_change",
                                           "relative_low", "relative_high", "verdict")]
    # the terminal table's headings, from the one place
    printed = run.stdout.splitlines()
    header = next(ln for ln in printed if ln.startswith("Variant") and "Baseline mean" in ln)
    for words in ("Baseline mean", "Variant mean", "Difference", "Relative change", "Verdict"):
        assert words in heads and words in header
    assert "95% interval: low" in heads
    assert "Columns as in effects.csv" not in html
    # cells still carry effects.csv's column names and numbers; the CSV keeps its names
    assert "data-col='mean_baseline'" in html
    assert {"mean_baseline", "ci_low", "relative_low"} <= set(
        pd.read_csv(out / "effects.csv").columns)


@pytest.mark.parametrize(("marker", "noun"), [("optimise.json", "an optimisation"),
                                              ("trial.json", "a trial"),
                                              ("summary.json", "a run")])
def test_compare_names_another_kind_of_folder_with_the_right_article(tmp_path, marker, noun):
    folder = tmp_path / "res"
    folder.mkdir()
    (folder / marker).write_text("{}")
    proc = cli("compare", str(folder))
    assert proc.returncode == 2
    assert f"it holds {noun}, which has no variants to compare" in proc.stderr, proc.stderr
    assert "a optimise" not in proc.stderr


def test_with_article():
    assert [with_article(w) for w in ("optimisation", "experiment", "run", "Upload", "")] == [
        "an optimisation", "an experiment", "a run", "an Upload", "a "]

