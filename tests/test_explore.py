"""Exploratory modelling: known Sobol and Morris indices, PRIM boxes, and an optimiser that finds a
known optimum, is identical across workers and resumes a killed search without losing work."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import folder_bytes

pytest.importorskip("SALib")
pytest.importorskip("optuna")
pytest.importorskip("sklearn")

from srmsim.cli import main  # noqa: E402
from srmsim.errors import ScenarioError, SrmsimError  # noqa: E402
from srmsim.experiment import load_experiment, run_experiment  # noqa: E402
from srmsim.explore.design import DesignConfig, sample  # noqa: E402
from srmsim.explore.discovery import cart_leaves, condition_cases, discover  # noqa: E402
from srmsim.explore.optimise import (  # noqa: E402
    load_optimisation,
    optimisation_from_dict,
    optimise,
    search,
    trials_table,
)
from srmsim.explore.prim import prim  # noqa: E402
from srmsim.explore.sensitivity import (  # noqa: E402
    format_sensitivity,
    indices,
    sensitivity,
)

ROOT = Path(__file__).resolve().parents[1]


def disk_full(*args, **kwargs):
    raise OSError(28, "No space left on device", "injected")
PI = np.pi


def test_sobol_intervals_do_not_depend_on_numpy_global_state():
    """Seed 0 included: SALib reads numpy's global random state for a falsy seed."""
    uncertain = {"x1": (-PI, PI), "x2": (-PI, PI), "x3": (-PI, PI)}
    design = DesignConfig(method="sobol", n=256)
    x = sample(design, uncertain, seed=3)
    y = np.sin(x[:, 0]) + 7 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])
    for seed in (0, 5):
        np.random.seed(1)
        first = indices(x, y, uncertain, design.model_dump(), seed=seed)
        np.random.seed(2)
        pd.testing.assert_frame_equal(first, indices(x, y, uncertain, design.model_dump(),
                                                     seed=seed))


def test_sobol_indices_of_ishigami_are_recovered_within_their_intervals():
    """Ishigami, a = 7, b = 0.1 on [-pi, pi]^3 (Ishigami and Homma 1990): analytic indices."""
    uncertain = {"x1": (-PI, PI), "x2": (-PI, PI), "x3": (-PI, PI)}
    design = DesignConfig(method="sobol", n=1024)
    x = sample(design, uncertain, seed=3)
    assert x.shape == (1024 * 5, 3)
    y = np.sin(x[:, 0]) + 7 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])
    got = indices(x, y, uncertain, design.model_dump()).set_index("parameter")
    truth = {"x1": (0.3139, 0.5576), "x2": (0.4424, 0.4424), "x3": (0.0, 0.2437)}
    for name, (s1, st) in truth.items():
        row = got.loc[name]
        assert abs(row["S1"] - s1) <= row["S1_conf"], (name, row["S1"], row["S1_conf"])
        assert abs(row["ST"] - st) <= row["ST_conf"], (name, row["ST"], row["ST_conf"])
        assert row["S1_conf"] < 0.1 and row["ST_conf"] < 0.1


def test_morris_mu_star_of_a_linear_outcome_is_slope_times_range():
    uncertain = {"a": (0.0, 2.0), "b": (0.0, 1.0), "c": (0.0, 1.0)}
    design = DesignConfig(method="morris", n=20)
    x = sample(design, uncertain, seed=1)
    assert x.shape == (20 * 4, 3)
    got = indices(x, 3 * x[:, 0] - 2 * x[:, 1], uncertain, design.model_dump()
                  ).set_index("parameter")
    np.testing.assert_allclose(got["mu_star"], [6.0, 2.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(got["sigma"], [0.0, 0.0, 0.0], atol=1e-9)


def test_printed_indices_are_named_in_words_and_explained():
    """S1 / ST and mu* / sigma alone meant nothing to a reader who has not met Sobol or Morris."""
    uncertain = {"a": (0.0, 2.0), "b": (0.0, 1.0)}
    design = DesignConfig(method="morris", n=10)
    x = sample(design, uncertain, seed=1)
    morris = indices(x, 3 * x[:, 0], uncertain, design.model_dump()).assign(
        target="on", variant="on", outcome="attainment")
    text = format_sensitivity(morris)
    header = text.split("\n\n")[1].splitlines()[0]  # words first, then the table
    for words in ("mean absolute effect (mu*)", "mu*'s 95% CI half-width",
                  "spread of effects (sigma)"):
        assert words in header
    assert "mean absolute change in the outcome" in text and "Sobol" not in text
    sobol = pd.DataFrame({"target": ["on - off"], "variant": ["on"], "outcome": ["attainment"],
                          "parameter": ["a"], "method": ["sobol"], "S1": [0.5],
                          "S1_conf": [0.1], "ST": [0.625], "ST_conf": [0.1]})
    text = format_sensitivity(sobol)
    header = text.split("\n\n")[1].splitlines()[0]  # words first, then the table
    assert "first-order share of variance (S1)" in header
    assert "total share incl. interactions (ST)" in header
    assert "share (0 to 1) of an outcome's variance" in text and "0.625" in text
    assert "mu*" not in text
    # the level of the +/- is said, as the report says it (the terminal said "the confidence
    # interval" whatever --level was)
    assert "half the width of the 95% confidence interval" in " ".join(text.split())
    # a half-width column says what it is and of which index, at its level, in which unit:
    # "S1 +/-" and "ST +/-" said none of it
    assert "S1's 95% CI half-width" in header and "ST's 95% CI half-width" in header
    assert "+/-" not in text and "(a share of the variance, 0 to 1)" in " ".join(text.split())
    text = " ".join(format_sensitivity(sobol.assign(level=0.9)).split())
    assert "half the width of the 90% confidence interval" in text
    assert "S1's 90% CI half-width" in text and "95%" not in text


def _cart_data() -> tuple[pd.DataFrame, np.ndarray, dict]:
    rng = np.random.default_rng(2)
    x = pd.DataFrame(rng.uniform(size=(200, 2)), columns=["a", "b"])
    return x, (x["a"] > 0.5).to_numpy(), {"a": (0.0, 1.0), "b": (0.0, 1.0)}


def test_cart_leaves_finds_a_planted_split():
    x, y, bounds = _cart_data()
    leaves = cart_leaves(x, y, bounds, max_depth=1)
    assert list(leaves["density"]) == [1.0, 0.0] and leaves["box"][0].startswith("a >= 0.49")
    assert cart_leaves(x, y.astype(int), bounds, max_depth=1).equals(leaves)  # 0/1 as booleans


@pytest.mark.parametrize("change, says", [
    ({"max_depth": 0}, "max_depth=0 is out of range"),
    ({"max_depth": 10**6}, "max_depth=1000000 is out of range"),
    ({"max_depth": 2.5}, "max_depth must be a whole number"),
    ({"max_depth": True}, "max_depth must be a whole number"),
    ({"mass_min": 0.0}, "mass_min=0.0 must lie strictly between 0 and 1"),
    ({"mass_min": 1.5}, "mass_min=1.5 must lie strictly between 0 and 1"),
    ({"mass_min": float("nan")}, "mass_min=nan must be a finite number"),
    ({"mass_min": "0.1"}, "mass_min='0.1' must be a number, not text"),
    ({"seed": -1}, "seed=-1 is out of range"),
    ({"x": pd.DataFrame({"a": [], "b": []})}, "x has no rows"),
    ({"x": [[0.1, 0.2]]}, "x must be a pandas DataFrame"),
    ({"x": "nan"}, "cart_leaves: parameter 'a' is missing or not finite in row 3"),
    ({"x": "inf"}, "cart_leaves: parameter 'b' is missing or not finite in row 7"),
    ({"x": "text"}, "parameter column 'a' must be numeric"),
    ({"y": "short"}, "200 runs but y has shape (199,)"),
    ({"y": "nan"}, "y must be true/false (or 0/1)"),
    ({"y": "two"}, "y must be true/false (or 0/1)"),
    ({"bounds": {"a": (0.0, 1.0)}}, "bounds has no (low, high) for parameter 'b'"),
    ({"bounds": {"a": (1.0, 0.0), "b": (0.0, 1.0)}}, "bounds['a'] = (1, 0) must have low < high"),
    ({"bounds": {"a": (0.0, float("inf")), "b": (0.0, 1.0)}}, "bounds['a'] high=inf must be a"),
])
def test_cart_leaves_refuses_bad_arguments_with_a_short_message(change, says):
    x, y, bounds = _cart_data()
    args = {"x": x, "y": y, "bounds": bounds, "max_depth": 3, "mass_min": 0.05, "seed": 0}
    args.update(change)
    if isinstance(args["x"], str):
        args["x"] = {"nan": x.assign(a=x["a"].mask(x.index == 3)),
                     "inf": x.assign(b=x["b"].mask(x.index == 7, np.inf)),
                     "text": x.assign(a=x["a"].astype(str))}[args["x"]]
    if isinstance(args["y"], str):
        args["y"] = {"short": y[:-1], "nan": np.where(y, 1.0, np.nan),
                     "two": y.astype(int) * 2}[args["y"]]
    with pytest.raises(SrmsimError) as err:
        cart_leaves(**args)
    assert says in str(err.value)


def test_prim_finds_a_planted_box():
    rng = np.random.default_rng(1)
    x = pd.DataFrame(rng.uniform(size=(1000, 3)), columns=["a", "b", "c"])
    y = ((x["a"] > 0.6) & (x["b"] < 0.3)).to_numpy()
    found = prim(x, y, bounds={k: (0.0, 1.0) for k in "abc"})
    last = found.trajectory.iloc[-1]
    assert last["density"] == 1.0 and last["coverage"] > 0.9
    box = found.box().set_index("parameter")
    assert set(box.index) == {"a", "b"}  # c is left alone
    assert 0.58 <= box.loc["a", "low"] <= 0.65 and box.loc["a", "high"] == 1.0
    assert box.loc["b", "low"] == 0.0 and 0.25 <= box.loc["b", "high"] <= 0.31
    assert (box["quasi_p"] < 1e-10).all()
    # coverage falls and density rises along the trajectory
    assert found.trajectory["coverage"].is_monotonic_decreasing
    assert found.trajectory["density"].iloc[0] == pytest.approx(y.mean())


def test_prim_keeps_runs_an_ulp_past_a_bound_in_every_box():
    """SALib's Morris grid puts the top level of (-0.8, -0.1) at -0.09999999999999998:
    check_bounds lets it through, but the first box was the exact bounds, so such runs were
    in no box and coverage, density and mass were of the others (box 0 held 0 of 3 cases)."""
    top = -0.8 + 0.7000000000000001
    assert top > -0.1
    rng = np.random.default_rng(2)
    a = rng.choice([-0.8, -0.8 + 0.7 / 3, -0.8 + 1.4 / 3, top], size=200)
    b = rng.uniform(size=200)
    x = pd.DataFrame({"a": a, "b": b})
    y = (a == top) & (b < 0.5)
    found = prim(x, y, bounds={"a": (-0.8, -0.1), "b": (0.0, 1.0)})
    first = found.trajectory.iloc[0]
    assert (first["runs"], first["cases"], first["coverage"]) == (200, y.sum(), 1.0)
    box = found.box().set_index("parameter")
    assert box.loc["a", "high"] == -0.1 and box.loc["a", "low"] > -0.3  # the top level kept
    assert found.trajectory.iloc[-1]["cases"] > 0
    assert found.members[len(found.trajectory) - 1][a == top].any()


def test_conditions_are_parsed_never_evaluated():
    table = pd.DataFrame({"attendance_diff": [0.001, 0.003], "cost": [1.0, 2.0]})
    assert condition_cases(table, "attendance_diff < 0.002").tolist() == [True, False]
    assert condition_cases(table, "cost / 2 >= 1 and attendance_diff > 0").tolist() == [False,
                                                                                         True]
    for bad in ["__import__('os').system('echo hi')", "attendance_diff.real < 1", "cost + 1",
                "happiness > 1", "x" * 600]:
        with pytest.raises(SrmsimError):
            condition_cases(table, bad)


# --- through the simulator ------------------------------------------------------------------

BOOST = {"name": "boost", "trust": {"n_schools": 2, "students_per_year_group": 20, "size_cv": 0.0},
         "outputs": {"history": "none"}, "dynamics": {"attainment_reversion": 0.0},
         "policy": {"rules": {"everyone": "enrolled"},
                    "actions": {"boost": {"automated": True, "take_up": 0.5, "weeks": 4,
                                          "effect": {"attainment": 0.2}}},
                    "workflows": {"w": {"trigger": "everyone", "cooldown_weeks": 100,
                                        "steps": [{"action": "boost", "goal": "true"}]}}}}


def boost_experiment(tmp: Path, **design) -> Path:
    (tmp / "boost.yaml").write_text(yaml.safe_dump(BOOST))
    exp = {"name": "boost", "scenario": "boost.yaml", "baseline": "off", "seed": 3,
           "outcomes": ["attainment", "reading_gap_end"],
           "variants": {"off": {"policy": None}, "on": {}},
           "uncertain": {"policy.actions.boost.effect.attainment": [0.0, 0.4],
                         "policy.actions.boost.cost_per_week": [0.0, 10.0]},
           "design": design}
    path = tmp / "exp.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    return path


@pytest.mark.once
def test_sensitivity_and_discovery_of_a_known_effect_through_the_simulator(tmp_path, capsys,
                                                                          monkeypatch):
    """The boost's effect on attainment is take-up x effect, so the paired difference in attainment
    is linear in the effect parameter and does not depend on the action's cost at all."""
    exp = load_experiment(boost_experiment(tmp_path, method="sobol", n=8))
    assert exp.replications == 8 * 4 and len(set(exp.seeds())) == 1  # common seed by default
    out = tmp_path / "o"
    run_experiment(exp, out, workers=1, progress=False)
    table = sensitivity(out).set_index(["target", "outcome", "parameter"])
    effect = table.loc[("on - off", "attainment", "policy.actions.boost.effect.attainment")]
    cost = table.loc[("on - off", "attainment", "policy.actions.boost.cost_per_week")]
    assert abs(effect["S1"] - 1) <= max(effect["S1_conf"], 0.02)
    assert abs(effect["ST"] - 1) <= max(effect["ST_conf"], 0.02)
    assert abs(cost["S1"]) < 0.02 and abs(cost["ST"]) < 1e-9
    # the CLI writes the table and the figure
    assert main(["sensitivity", str(out)]) == 0
    assert "first-order share of variance (S1)" in capsys.readouterr().out
    assert (out / "sensitivity.png").stat().st_size > 1000
    assert len(pd.read_csv(out / "sensitivity.csv")) == len(table)
    assert not (out / "sensitivity_second_order.csv").exists()  # no pairs were designed

    # scenario discovery: the gain is below 0.03 SD exactly when effect * take-up < 0.03
    found = discover(out, "attainment_diff < 0.03")
    box = found.box.set_index("parameter")
    effect = box.loc["policy.actions.boost.effect.attainment"]
    assert found.stats["density"] == 1.0 and found.stats["coverage"] >= 0.8
    # the gain grows with the effect: the cases are the runs below some effect size, and the
    # box's limit must fall between the largest case and the smallest non-case
    x = found.parameters["policy.actions.boost.effect.attainment"].to_numpy()
    assert x[found.cases].max() < x[~found.cases].min()
    assert effect["low"] == 0.0
    assert np.median(x[found.cases]) <= effect["high"] < x[~found.cases].min()
    assert (box["quasi_p"] >= effect["quasi_p"]).all()  # the effect limit is the telling one
    capsys.readouterr()
    assert main(["discover", str(out), "--condition", "attainment_diff < 0.03"]) == 0
    printed = capsys.readouterr().out
    # coverage, density and mass are shares of runs: percentages, as the line above them
    # ('holds in 8 of 16 runs (50%)'); they were printed as 0.80, 1.00, 0.50
    assert re.search(r"^PRIM box \d+: coverage \d+%, density \d+%, mass \d+% \(\d+ runs?\)",
                     printed, re.M), printed
    leaves = printed.split("classification tree leaves (densest first):\n")[1].splitlines()
    assert leaves[0].split() == ["leaf", "box", "runs", "runs", "where", "it", "holds",
                                 "coverage", "density"]
    assert all(re.search(r" \d+%  +\d+%$", line) for line in leaves[1:-1]), leaves
    # a PRIM option that is not a number is the option's fault, not the results folder's; named
    # as the option the user typed (it said "PRIM: peel_alpha=0.7", the Python argument)
    for flag, value, said in (("--peel-alpha", "nan", "--peel-alpha=nan must be a finite number"),
                              ("--mass-min", "inf", "--mass-min=inf must be a finite number"),
                              ("--peel-alpha", "0.7",
                               "--peel-alpha 0.7 must lie strictly between 0 and 0.5"),
                              ("--mass-min", "1", "--mass-min 1.0 must lie strictly between 0 "
                               "and 1")):
        assert main(["discover", str(out), "--condition", "attainment_diff < 0.03", flag,
                     value]) == 2
        err = capsys.readouterr().err
        assert f"error: {said}" in err
        assert str(out) not in err and "PRIM:" not in err and "_" not in err.split("error:")[1]
    assert (out / "discovery" / "prim_trajectory.png").stat().st_size > 1000
    assert not pd.read_csv(out / "discovery" / "cart_leaves.csv").empty
    # outputs replaced whole or not at all: a failed figure leaves the earlier files byte for
    # byte
    (out / "discovery" / "stale.csv").write_text("not a file discovery writes")
    before = folder_bytes(out)
    with monkeypatch.context() as m:
        m.setattr(sys.modules["srmsim.explore.discovery"], "trajectory_plot", disk_full)
        m.setattr(sys.modules["srmsim.explore.sensitivity"], "sensitivity_plot", disk_full)
        assert main(["sensitivity", str(out), "--outcome", "attainment"]) == 2
        assert main(["discover", str(out), "--condition", "attainment_diff < 0.01"]) == 2
    assert folder_bytes(out) == before
    # a file srmsim did not write there is never lost: the folder is refused until it is moved
    assert main(["discover", str(out), "--condition", "attainment_diff < 0.03"]) == 2
    assert folder_bytes(out) == before
    (out / "discovery" / "stale.csv").unlink()
    assert main(["discover", str(out), "--condition", "attainment_diff < 0.03"]) == 0
    # clear errors, no tracebacks
    assert main(["discover", str(out), "--condition", "open('x')"]) == 2
    assert main(["discover", str(out), "--condition", "attainment_diff < 0.03",
                 "--variant", "nope"]) == 2
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.once
def test_second_order_indices_are_written_and_printed(tmp_path, capsys):
    """A design with second_order: true ran the points of the second-order indices, which were
    never reported. The boost's effect does not depend on its cost: their S2 is 0."""
    # 4 base points: 24 design points of two variants (the indices' values are not asserted
    # beyond a zero interaction, which holds at any n)
    exp = load_experiment(boost_experiment(tmp_path, method="sobol", n=4, second_order=True))
    assert exp.replications == 4 * (2 * 2 + 2)
    out = tmp_path / "o"
    run_experiment(exp, out, workers=1, progress=False)
    assert main(["sensitivity", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Second-order Sobol indices" in printed and "joint share beyond each alone (S2)" \
        in printed
    assert f"wrote {out / 'sensitivity.csv'}, {out / 'sensitivity.png'}, " \
        f"{out / 'sensitivity_second_order.csv'}" in printed
    pairs = pd.read_csv(out / "sensitivity_second_order.csv")
    assert list(pairs.columns) == ["target", "variant", "outcome", "parameter", "other", "S2",
                                   "S2_conf", "level"]
    # one pair of two parameters for each target (on, off, on - off) and outcome
    assert len(pairs) == 3 * 2
    assert set(zip(pairs["parameter"], pairs["other"], strict=True)) == {
        ("policy.actions.boost.cost_per_week", "policy.actions.boost.effect.attainment")}
    diff = pairs[(pairs["target"] == "on - off") & (pairs["outcome"] == "attainment")].iloc[0]
    assert abs(diff["S2"]) <= max(diff["S2_conf"], 0.05)
    # the report shows them, checked against the runs as sensitivity.csv is
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert "Interactions: second-order indices" in page and "sensitivity-pairs" in page
    edited = pairs.copy()
    edited.loc[0, "S2"] = 0.9
    edited.to_csv(out / "sensitivity_second_order.csv", index=False)
    assert main(["report", str(out)]) == 2
    assert "sensitivity_second_order.csv: row 2 S2 is 0.9, but the runs give" in \
        capsys.readouterr().err
    # a narrower run rewrites the pairs with the indices it computed
    assert main(["sensitivity", str(out), "--outcome", "attainment"]) == 0
    assert set(pd.read_csv(out / "sensitivity_second_order.csv")["outcome"]) == {"attainment"}
    assert main(["report", str(out)]) == 0



@pytest.mark.parametrize("design,where", [
    ({"method": "sobol", "n": 10}, "power of 2"),
    ({"method": "sobol"}, "needs n"),
    ({"method": "morris", "n": 4, "levels": 3}, "even"),
    ({"method": "halton", "n": 8}, "design.method"),
])
def test_bad_designs_give_clear_errors(tmp_path, design, where):
    with pytest.raises(ScenarioError) as err:
        load_experiment(boost_experiment(tmp_path, **design))
    assert where in str(err.value)


def test_default_design_is_unchanged(tmp_path):
    """No design: the Latin hypercube draws and the experiment hash are what they always were."""
    from srmsim.rng import replication_seeds

    path = boost_experiment(tmp_path, method="lhs")
    data = yaml.safe_load(path.read_text())
    data.pop("design")
    path.write_text(yaml.safe_dump(data))
    exp = load_experiment(path)
    assert "design" not in str(exp.config.model_dump(exclude={"design"}))
    from scipy.stats import qmc

    unit = qmc.LatinHypercube(d=2, seed=np.random.default_rng(3)).random(30)
    values = qmc.scale(unit, [0.0, 0.0], [10.0, 0.4])
    got = [[d["policy.actions.boost.cost_per_week"], d["policy.actions.boost.effect.attainment"]]
           for d in exp.parameter_draws()]
    np.testing.assert_array_equal(np.array(got), values)
    assert exp.seeds() == replication_seeds(3, 30)


# --- optimisation ---------------------------------------------------------------------------

TINY = {"name": "tiny", "trust": {"n_schools": 2, "students_per_year_group": 30, "size_cv": 0.0},
        "outputs": {"history": "none"},
        "policy": {"parameters": {"attendance_threshold": 0.9},
                   "rules": {"low_attendance": {"when": "attendance_rate < attendance_threshold",
                                                "cadence": "half_termly"}},
                   "workflows": {"attendance": {"trigger": "low_attendance", "steps": [
                       {"action": "parent_text", "weeks": 3, "goal": "attendance(3) >= 0.9"},
                       {"action": "parent_meeting", "weeks": 3}]}},
                   "staff": {"school": {"pastoral": 300}}}}

THRESHOLD = "policy.parameters.attendance_threshold"


def tiny_optimisation(tmp: Path, **extra) -> dict:
    (tmp / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    return {"name": "tiny_opt", "scenario": "tiny.yaml", "replications": 3, "seed": 5,
            "levers": {THRESHOLD: {"low": 0.8, "high": 0.98}},
            "objectives": {"persistent_absence": "minimise"}, **extra}


@pytest.mark.slow  # a long study: its faster siblings run by default (CI's budget)
def test_optimiser_finds_the_threshold_a_grid_finds(tmp_path):
    """Persistent absence against the referral threshold, over the same 2 replications: a grid
    of 10 thresholds gives the best value; the search (TPE, 16 candidates) must match it."""
    from srmsim.experiment.runner import plan, run_batch

    opt = optimisation_from_dict(tiny_optimisation(
        tmp_path, replications=2, search={"sampler": "tpe", "trials": 16, "batch": 4}), "t",
        tmp_path)
    grid = np.linspace(0.8, 0.98, 10)
    exp = opt.experiment({f"g{i}": {THRESHOLD: float(v)} for i, v in enumerate(grid)}, 2, 5)
    tasks = [t for t in plan(exp, range(2), None) if t.variant != "baseline"]  # not needed here
    by_grid = pd.DataFrame(run_batch(tasks)).groupby("variant")["persistent_absence"].mean()
    best_grid = float(by_grid.min())
    best_threshold = grid[int(by_grid.idxmin()[1:])]
    study = search(opt, tmp_path / "o", workers=1, progress=False)
    table = trials_table(opt, study)
    best = table.loc[table["persistent_absence"].idxmin()]
    assert best["persistent_absence"] <= best_grid + 0.002
    assert abs(best[THRESHOLD] - best_threshold) <= 0.03
    assert len(table) == 16


def small_front_file(tmp: Path, trials: int = 8) -> Path:
    data = tiny_optimisation(
        tmp, levers={THRESHOLD: {"low": 0.8, "high": 0.98},
                     "policy.workflows.attendance.cooldown_weeks": {"low": 2, "high": 12,
                                                                    "integer": True}},
        budget={"total": 600, "roles": {"pastoral": "policy.staff.school.pastoral",
                                        "attendance_officer":
                                        "policy.staff.school.attendance_officer"}},
        replications=1, objectives={"attendance": "maximise", "staff_hours": "minimise"},
        constraints={"staff_hours": {"max": 150}},
        uncertain={"population.fsm_rate": [0.1, 0.4]},
        search={"trials": trials, "batch": 4}, reevaluate={"replications": 2, "front_max": 2})
    path = tmp / "opt.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_same_seed_same_front_with_one_and_two_workers(tmp_path, capsys, monkeypatch):
    from srmsim.explore.optimise import RESULT_FILES

    path = small_front_file(tmp_path)
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        argv = ["optimise", str(path), "--out", str(out), "--workers", workers, "--quiet"]
        if workers == "2":  # the last result fails: none is written, --resume finishes
            with monkeypatch.context() as m:
                m.setattr(sys.modules["srmsim.explore.optimise"], "regret", disk_full)
                assert main(argv) == 2
            assert not [n for n in RESULT_FILES if (out / n).exists()]
            assert main(argv) == 2  # an unfinished search: not without --resume
            argv.append("--resume")
        assert main(argv) == 0
        outs.append(out)
    for name in ("trials.csv", "pareto.csv", "front_effects.csv", "regret.csv",
                 "best_policy.yaml"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    trials = pd.read_csv(outs[0] / "trials.csv")
    budget = trials["policy.staff.school.pastoral"] + trials[
        "policy.staff.school.attendance_officer"]
    np.testing.assert_allclose(budget, 600, atol=0.2)  # the split stays within the budget
    assert not trials.loc[trials["pareto"] & ~trials["feasible"]].any().any()
    assert (outs[0] / "pareto.png").stat().st_size > 1000
    assert re.search(r"^best \(the best [a-z ]+ on re-evaluation[^)]*\): trial-",
                     capsys.readouterr().out, re.M)
    # the best policy is a scenario that runs as it is
    assert main(["run", str(outs[0] / "best_policy.yaml"), "--out", str(tmp_path / "run"),
                 "--quiet"]) == 0
    # and the front is an ordinary experiment file
    assert main(["validate", str(outs[0] / "front_experiment.yaml")]) == 0
    # regret compares the states where every front policy was measured: here all of them
    reg = pd.read_csv(outs[0] / "regret.csv")
    assert (reg["states"] == 2).all()
    assert main(["report", str(outs[0])]) == 0
    assert "states where every policy" not in (outs[0] / "report.html").read_text()
    reg.loc[reg["objective"] == "attendance", "states"] = 1  # as if one was not measured
    reg.to_csv(outs[0] / "regret.csv", index=False)
    assert main(["report", str(outs[0])]) == 0
    assert "only the 1 of 2 states where every policy" in (outs[0] / "report.html").read_text()


def test_killed_search_resumes_without_losing_finished_evaluations(tmp_path):
    import optuna

    path = small_front_file(tmp_path, trials=12)
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "srmsim.cli", "optimise", str(path), "--out",
                             str(out), "--workers", "1", "--quiet"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline:  # one batch of 4 candidates told, part of the next one run
        if len(list(out.glob("search/runs/trial-*/*.parquet"))) >= 5:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    runs_before = {p: p.read_bytes() for p in out.glob("search/runs/*/*.parquet")}
    study = optuna.load_study(study_name="tiny_opt", storage=f"sqlite:///{out / 'study.db'}")
    done_before = {t.number: (t.params, t.values) for t in study.get_trials()
                   if t.state.name == "COMPLETE"}
    assert done_before and len(done_before) < 12, "the kill should land part way through"
    assert main(["optimise", str(path), "--out", str(out), "--quiet", "--workers", "1"]) == 2
    assert main(["optimise", str(path), "--out", str(out), "--quiet", "--workers", "1",
                 "--resume"]) == 0
    assert all(p.read_bytes() == b for p, b in runs_before.items()), "a finished run was redone"
    study = optuna.load_study(study_name="tiny_opt", storage=f"sqlite:///{out / 'study.db'}")
    after = {t.number: (t.params, t.values) for t in study.get_trials()}
    assert all(after[n] == v for n, v in done_before.items())
    assert len(after) == 12
    # and the result is the one an uninterrupted search gives
    whole = tmp_path / "whole"
    assert main(["optimise", str(path), "--out", str(whole), "--quiet", "--workers", "1"]) == 0
    assert (out / "trials.csv").read_bytes() == (whole / "trials.csv").read_bytes()


@pytest.mark.parametrize("change,where", [
    ({"objectives": {"happiness": "maximise"}}, "happiness"),
    ({"levers": {THRESHOLD: {"low": 0.9, "high": 0.8}}}, "low < high"),
    ({"levers": {"populaton.fsm_rate": {"low": 0.1, "high": 0.2}}}, "populaton"),
    ({"levers": {"policy.workflows.attendance.cooldown_weeks": {"low": 1, "high": 5.5,
                                                                "integer": True}}}, "whole"),
    ({"constraints": {"staff_hours": {}}}, "min, max"),
    ({"search": {"trials": 0}}, "search.trials"),
    ({"levers": {THRESHOLD: {"low": float("nan"), "high": 0.9}}}, "levers"),
    # an override of a lever's key: every candidate's value would silently replace it
    ({"overrides": {THRESHOLD: 0.85}}, f"overrides.{THRESHOLD}"),
    ({"overrides": {"policy": {"parameters": {"attendance_threshold": 0.85}}}},
     f"overrides.{THRESHOLD}"),
    ({"overrides": {"policy.parameters": {"attendance_threshold": 0.85}}}, "set by a lever"),
    ({"overrides": {"policy.staff.school.pastoral": 100},
      "budget": {"total": 600, "roles": {"pastoral": "policy.staff.school.pastoral",
                                         "senco": "policy.staff.school.senco"}}},
     "budget role pastoral"),
    # the name becomes results/<name>: a label, as experiment and trial names
    ({"name": "../x"}, "name"), ({"name": "a/b"}, "name"), ({"name": "."}, "name"),
    ({"name": "a\x01b"}, "name"), ({"name": "_hidden"}, "name"),
    ({"budget": {"total": 600, "roles": {"a\x1b[2Jb": "policy.staff.school.pastoral",
                                         "senco": "policy.staff.school.senco"}}},
     "budget.roles"),
    # <name>_front and <name>_best are written too, and must be names themselves
    ({"name": "n" * 59}, "at most 58 characters"),
])
def test_bad_optimisation_files_give_clear_errors(tmp_path, capsys, change, where):
    data = {**tiny_optimisation(tmp_path), **change}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError) as err:
        load_optimisation(path)
    assert str(path) in str(err.value) and where in str(err.value)
    assert main(["optimise", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_longest_optimisation_name_leaves_valid_derived_names(tmp_path):
    from srmsim.explore.optimise import DERIVED_NAMES
    from srmsim.labels import is_label

    opt = optimisation_from_dict(tiny_optimisation(tmp_path, name="n" * 58), "opt.yaml",
                                 tmp_path)
    assert all(is_label(opt.name + suffix) for suffix in DERIVED_NAMES)


def test_shipped_examples_are_valid():
    opt = load_optimisation(ROOT / "experiments" / "optimise_attendance.yaml")
    assert opt.sampler_name == "nsga2" and len(opt.config.objectives) == 2
    assert opt.base.trust.n_schools == 3
    assert main(["validate", str(ROOT / "experiments" / "optimise_attendance.yaml")]) == 0
    exp = load_experiment(ROOT / "experiments" / "uncertain_attendance.yaml")
    assert exp.config.design.method == "sobol" and exp.replications == 16 * 6


def test_an_optimisation_name_too_long_for_its_derived_names_is_refused(tmp_path):
    with pytest.raises(ScenarioError, match="at most 58 characters.*_front"):
        optimisation_from_dict(tiny_optimisation(tmp_path, name="n" * 59), "opt.yaml", tmp_path)


@pytest.mark.parametrize(("call", "message"), [
    # an lhs point per run: n=10**12 asked numpy for 7 TB
    (lambda: sample(DesignConfig(), {"a": (0.0, 1.0)}, 0, n=10**12),
     r"n \(the number of lhs points\)=1000000000000 is out of range"),
    (lambda: sample(DesignConfig(), {"a": (0.0, 1.0)}, 0, n=2.5), "must be a whole number"),
    # a process pool starts every worker at once: workers=10000 forked 10,000 of them
    (lambda: optimise(Path("no.yaml"), Path("o"), workers=10_000), "workers=10000 is out of range"),
    (lambda: optimise(Path("no.yaml"), Path("o"), workers=0), "workers=0 is out of range"),
])
def test_explore_counts_are_capped(call, message):
    with pytest.raises(SrmsimError, match=message):
        call()


def test_regret_compares_policies_only_in_states_where_each_was_measured():
    """A state of the world where one policy's objective is missing cannot say which policy is
    best there: it is left out for every policy, not only for the one missing it (skipping just
    that gap averaged the policies over different states)."""
    from types import SimpleNamespace

    from srmsim.explore.optimise import regret

    values = {"a": [0.90, 0.95, 0.91, 0.93], "b": [0.92, 0.93, 0.90, 0.93],
              "c": [0.91, np.nan, 0.94, 0.92]}
    cost = {"a": [10.0, 12.0, 11.0, 9.0], "b": [8.0, 13.0, 12.0, 9.5], "c": [9.0, 11.0, np.inf, 9.0]}
    runs = pd.DataFrame([
        {"variant": v, "replication": r, "attendance": values[v][r], "cost": cost[v][r]}
        for v in values for r in range(4)]
        + [{"variant": "baseline", "replication": r, "attendance": 0.5, "cost": 0.0}
           for r in range(4)])
    opt = SimpleNamespace(config=SimpleNamespace(
        objectives={"attendance": "maximise", "cost": "minimise"}))
    table = regret(opt, runs).set_index(["objective", "policy"])
    att = table.loc["attendance"]
    assert (att["states"] == 3).all()  # replication 1 left out: c was not measured there
    gaps = {"a": [0.02, 0.03, 0.0], "b": [0.0, 0.04, 0.0], "c": [0.01, 0.0, 0.01]}
    for v, g in gaps.items():
        assert att.loc[v, "mean_regret"] == pytest.approx(np.mean(g))
        assert att.loc[v, "max_regret"] == pytest.approx(max(g))
        assert att.loc[v, "p90_regret"] == pytest.approx(np.quantile(g, 0.9))
    c = table.loc["cost"]  # minimised: regret is the excess over the cheapest; inf left out
    assert (c["states"] == 3).all()
    assert c.loc["a", "mean_regret"] == pytest.approx(np.mean([2.0, 1.0, 0.0]))
    assert c.loc["b", "mean_regret"] == pytest.approx(np.mean([0.0, 2.0, 0.5]))
    assert c.loc["c", "mean_regret"] == pytest.approx(np.mean([1.0, 0.0, 0.0]))
    # the command's table and the report say so, in the same words (the table read as if every
    # state counted)
    from srmsim.report.explore import regret_state_notes

    notes = regret_state_notes(regret(opt, runs), 4)
    assert notes == [
        "Attendance: only the 3 of 4 states where every policy's value was measured are "
        "compared (in the others which policy is best is unknown).",
        "Cost: only the 3 of 4 states where every policy's value was measured are compared (in "
        "the others which policy is best is unknown)."]
    assert regret_state_notes(regret(opt, runs), 3) == []
