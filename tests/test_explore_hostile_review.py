"""PRIM as the reference implementation peels, pastes and breaks ties (EMA Workbench, after
Friedman and Fisher 1999), and exploratory tools that refuse hostile input with a short message
instead of a wrong answer or a traceback."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

pytest.importorskip("SALib")
pytest.importorskip("sklearn")

from srmsim.cli import main  # noqa: E402
from srmsim.errors import SrmsimError  # noqa: E402
from srmsim.experiment import load_experiment, run_experiment  # noqa: E402
from srmsim.explore.design import DesignConfig, sample  # noqa: E402
from srmsim.explore.discovery import cart_leaves, condition_cases  # noqa: E402
from srmsim.explore.prim import prim  # noqa: E402
from srmsim.explore.sensitivity import indices  # noqa: E402
from srmsim.explore.tables import Explored  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_explore import BOOST  # noqa: E402

# --- PRIM against the reference algorithm --------------------------------------------------


def test_a_peel_takes_the_alpha_share_and_its_limit_lies_between_runs():
    """100 distinct values, peel_alpha 0.05: the reference peels 5 runs (all at or below the 5%
    quantile's value) and sets the limit midway between the last run peeled and the first kept.
    srmsim peeled 4 (of 40 runs: 1, not 2) and put the limit on a run."""
    rng = np.random.default_rng(4)
    x = pd.DataFrame({"a": rng.permutation(100) / 100.0, "b": rng.uniform(size=100)})
    found = prim(x, (x["a"] > 0.3).to_numpy())
    assert found.trajectory.loc[1, "runs"] == 95
    assert found.limits[1].loc["low", "a"] == pytest.approx(0.045)  # between 0.04 and 0.05
    assert found.limits[1].loc["high", "a"] == 0.99  # the upper end untouched


def test_a_tie_between_peels_goes_to_the_one_restricting_fewer_parameters():
    """Second peel: dropping c0's lowest run or c1's next one gains the same (each removes one
    non-case). The reference keeps peeling c1, already restricted; srmsim's tie-break counted
    the restrictions of the box before the peel (the same for every candidate), so c0, listed
    first, won and the box restricted a parameter it did not need."""
    n = 21
    x = pd.DataFrame({"c0": np.arange(n, dtype=float),
                      "c1": np.r_[np.arange(3, 13), 0, 1, 2, np.arange(13, 21)].astype(float),
                      "c2": ((np.arange(n) + 5) % n).astype(float)})
    y = np.ones(n, dtype=bool)
    y[[0, 10, 11, 12]] = False
    found = prim(x, y)
    assert found.trajectory["res_dim"].tolist() == [0, 1, 1, 1]
    assert found.trajectory["density"].iloc[-1] == 1.0
    assert found.box()["parameter"].tolist() == ["c1"]


def test_pasting_adds_back_only_the_share_of_runs_nearest_the_box():
    """41 runs, peel_alpha 0.05: the first peel takes the 3 lowest (two non-cases and a case);
    pasting adds back the one run nearest the box (the case), as the reference does. srmsim
    pasted the two nearest, whose non-case cancelled the gain, so it pasted nothing."""
    y = np.ones(41, dtype=bool)
    y[[0, 1]] = False
    y[5:37:2][:14] = False
    found = prim(pd.DataFrame({"a": np.arange(41, dtype=float)}), y)
    assert found.trajectory["phase"].tolist() == ["start", "peel", "paste"]
    assert found.trajectory["runs"].tolist() == [41, 38, 39]
    assert found.limits[-1].loc["low", "a"] == 1.5


def _runs() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(2)
    x = pd.DataFrame(rng.uniform(size=(100, 2)), columns=["a", "b"])
    return x, (x["a"] > 0.5).to_numpy()


@pytest.mark.parametrize("change, says", [
    # NaN read as a bool is True: every run was a case, density 1 everywhere
    ({"y": "nan"}, "PRIM: y must be true/false (or 0/1) for each run"),
    ({"y": "two"}, "PRIM: y must be true/false (or 0/1) for each run"),
    ({"y": "wide"}, "PRIM: 100 runs but y has shape (100, 2)"),  # density 2.0
    ({"x": "same names"}, "PRIM: x's columns must be distinct parameter names"),
    ({"x": "text"}, "PRIM: parameter column 'b' must be numeric"),
    ({"x": "list"}, "PRIM: x must be a pandas DataFrame, got list"),
    ({"bounds": {"a": (0.0, 1.0)}}, "PRIM: bounds has no (low, high) for parameter 'b'"),
    # runs outside the first box were left out of it (all of them: ZeroDivisionError)
    ({"bounds": {"a": (2.0, 3.0), "b": (0.0, 1.0)}}, "PRIM: parameter 'a' is 0.261612 in row 0, "
     "outside its bounds (2, 3)"),
    ({"peel_alpha": "0.1"}, "PRIM: peel_alpha='0.1' must be a number, not text"),
    ({"mass_min": 1.0}, "PRIM: mass_min=1.0 must lie strictly between 0 and 1"),
])
def test_prim_refuses_bad_runs_with_a_short_message(change, says):
    x, y = _runs()
    args: dict = {"x": x, "y": y, **change}
    if isinstance(args["y"], str):
        args["y"] = {"nan": np.where(y, 1.0, np.nan), "two": y * 2, "wide": np.c_[y, y]
                     }[args["y"]]
    if isinstance(args["x"], str):
        args["x"] = {"same names": x.set_axis(["a", "a"], axis=1),
                     "text": x.assign(b="u"), "list": x.to_numpy().tolist()}[args["x"]]
    with pytest.raises(SrmsimError) as err:
        prim(**args)
    assert says in str(err.value)


def test_cart_leaves_refuses_runs_outside_their_bounds():
    x, y = _runs()
    with pytest.raises(SrmsimError, match="cart_leaves: parameter 'a' is 0.261612 in row 0"):
        cart_leaves(x, y, {"a": (0.3, 1.0), "b": (0.0, 1.0)})


# --- conditions on missing outcomes ---------------------------------------------------------


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_a_condition_on_a_missing_outcome_is_refused_naming_the_replication(value):
    """NaN < 0.002 is false: the run was counted as not meeting the condition (and as meeting
    `not (...)`) without a word."""
    table = pd.DataFrame({"gain": [0.001, value, 0.003], "other": [np.nan] * 3},
                         index=pd.Index([0, 7, 9], name="replication"))
    for condition in ("gain < 0.002", "not (gain >= 0.002)"):
        with pytest.raises(SrmsimError, match=r"outcome 'gain' is missing or infinite in 1 "
                           r"replication \(replication 7\)"):
            condition_cases(table, condition)
    assert condition_cases(table.drop(7), "gain < 0.002").tolist() == [True, False]  # unread


# --- through a tiny experiment --------------------------------------------------------------

#: test_explore's scenario on one school of five students a year
TINY = {**BOOST, "trust": {"n_schools": 1, "students_per_year_group": 5, "size_cv": 0.0}}


@pytest.fixture(scope="module")
def sobol_results(tmp_path_factory) -> Path:
    """8 states of the world (sobol, n = 2, two parameters) x 2 variants: about 2 s."""
    tmp = tmp_path_factory.mktemp("sobol")
    (tmp / "boost.yaml").write_text(yaml.safe_dump(TINY))
    exp = {"name": "boost", "scenario": "boost.yaml", "baseline": "off", "seed": 3,
           "outcomes": ["attainment"], "variants": {"off": {"policy": None}, "on": {}},
           "uncertain": {"policy.actions.boost.effect.attainment": [0.0, 0.4],
                         "policy.actions.boost.cost_per_week": [0.0, 10.0]},
           "design": {"method": "sobol", "n": 2}}
    (tmp / "exp.yaml").write_text(yaml.safe_dump(exp))
    run_experiment(load_experiment(tmp / "exp.yaml"), tmp / "o", workers=1, progress=False)
    return tmp / "o"


@pytest.fixture
def missing_outcome(monkeypatch):
    """Replication 2's outcome is missing, as a run whose cohort had nobody to measure gives."""
    table = Explored.outcome_table

    def with_a_gap(self, variant):
        out = table(self, variant)
        out.loc[2, "attainment"] = np.nan
        return out

    monkeypatch.setattr(Explored, "outcome_table", with_a_gap)


def test_discover_refuses_a_missing_outcome_and_writes_nothing(sobol_results, missing_outcome,
                                                               capsys):
    assert main(["discover", str(sobol_results), "--condition", "attainment < 0.5"]) == 2
    err = capsys.readouterr().err
    assert "outcome 'attainment' is missing or infinite in 1 replication (replication 2)" in err
    assert "Traceback" not in err
    assert not (sobol_results / "discovery").exists()


def test_sensitivity_names_the_replication_without_an_outcome(sobol_results, missing_outcome,
                                                              capsys):
    assert main(["sensitivity", str(sobol_results)]) == 2
    err = capsys.readouterr().err
    assert "design point 2: in an experiment, the replication of that number" in err
    assert "Traceback" not in err
    assert not (sobol_results / "sensitivity.csv").exists()


EFFECT = "policy.actions.boost.effect.attainment"


@pytest.mark.parametrize("damage, says", [
    # pandas' KeyError traceback
    (lambda t: t.drop(columns=[EFFECT]), f"parameters.csv: no column {EFFECT!r}"),
    # '5 runs but y has shape (4,)': a replication listed twice
    (lambda t: pd.concat([t, t.iloc[[0]]]), "parameters.csv: the replication column must "
     "number each row once"),
    (lambda t: t.astype({EFFECT: object}).assign(**{EFFECT: ["x"] + list(t[EFFECT][1:])}),
     f"parameters.csv: parameter {EFFECT!r} is not a finite number in replication 0 ('x')"),
])
def test_a_damaged_parameters_file_is_named(sobol_results, tmp_path, capsys, damage, says):
    results = tmp_path / "o"
    shutil.copytree(sobol_results, results)
    damage(pd.read_csv(results / "parameters.csv")).to_csv(results / "parameters.csv",
                                                           index=False)
    assert main(["discover", str(results), "--condition", "attainment < 0.5"]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    assert not (results / "discovery").exists()


@pytest.mark.parametrize("option, says", [
    (["--min-density", "nan"], "min_density=nan must be a finite number"),  # "no box reaches"
    (["--min-density", "0"], "min_density=0.0 must be a share of the box's runs"),
])
def test_discover_options_out_of_range_are_refused(sobol_results, capsys, option, says):
    assert main(["discover", str(sobol_results), "--condition", "attainment < 0.5",
                 "--out", str(sobol_results / "never"), *option]) == 2
    assert says in capsys.readouterr().err
    assert not (sobol_results / "never").exists()


@pytest.mark.parametrize("box", [2.5, True])  # a TypeError from a list index; box 1
def test_discover_takes_a_whole_box_number(sobol_results, box):
    from srmsim.explore.discovery import discover

    with pytest.raises(SrmsimError, match="box must be a whole number"):
        discover(sobol_results, "attainment < 0.5", box=box)


def test_an_outcome_or_variant_named_twice_is_analysed_once(sobol_results, tmp_path, capsys):
    """Each appeared twice in the table, and the figure failed with a traceback ("cannot
    reindex on an axis with duplicate labels")."""
    results = tmp_path / "o"
    shutil.copytree(sobol_results, results)
    assert main(["sensitivity", str(results), "--outcome", "attainment", "--outcome",
                 "attainment", "--variant", "on", "--variant", "on"]) == 0
    assert "Traceback" not in capsys.readouterr().err
    table = pd.read_csv(results / "sensitivity.csv")
    assert len(table) == 4  # (on, on - off) x 2 parameters
    assert not table.duplicated(["target", "outcome", "parameter"]).any()



@pytest.mark.parametrize("condition", ["attainment_diff < 0", "attainment < 0.5 and "
                                       "attainment_baseline > 0"])
def test_a_difference_asked_of_the_baseline_says_the_baseline_has_none(sobol_results, capsys,
                                                                      condition):
    """--variant the baseline with a _diff name was told "unknown name" as if misspelt."""
    out = sobol_results / "never"
    assert main(["discover", str(sobol_results), "--condition", condition, "--variant", "off",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    name = "attainment_diff" if "_diff" in condition else "attainment_baseline"
    assert (f"--condition: {name}: off is the baseline, which has no _diff or _baseline "
            "columns (they compare a variant with the baseline: its difference from it, the "
            "baseline's value)\ngive --variant one of on, or write the condition on the "
            "baseline's own outcomes (attainment)") in err
    assert "Traceback" not in err and not out.exists()
    # a misspelt name of the baseline's, or a difference asked of a variant, as before
    assert main(["discover", str(sobol_results), "--condition", "attainmnt < 0", "--variant",
                 "off", "--out", str(out)]) == 2
    assert "names you can use: attainment)" in capsys.readouterr().err

# --- designs, Sobol and Morris indices ------------------------------------------------------


def test_a_latin_hypercube_has_one_point_in_each_stratum_of_each_parameter():
    uncertain = {"a": (0.0, 1.0), "b": (10.0, 20.0), "c": (-5.0, 5.0)}
    x = sample(DesignConfig(), uncertain, 7, n=50)
    for j, (low, high) in enumerate(uncertain[k] for k in sorted(uncertain)):
        strata = np.floor((x[:, j] - low) / (high - low) * 50).astype(int)
        assert sorted(strata) == list(range(50))

@pytest.mark.parametrize("method", ["lhs", "sobol", "morris"])
@pytest.mark.parametrize("uncertain, says", [
    ({}, "uncertain must map at least one parameter name to (low, high)"),  # zero-size array
    ({"a": (1.0, 0.0)}, "uncertain['a'] = (1, 0) must have low < high"),  # Bounds not legal
    ({"a": (0.0, float("nan"))}, "uncertain['a'] high=nan must be a finite number"),
    ({"a": ("0", 1.0)}, "uncertain['a'] low='0' must be a number, not text"),  # UFuncTypeError
    ({"a": 1.0}, "uncertain['a'] must be a (low, high) pair, got 1.0"),
])
def test_a_design_refuses_bad_ranges_with_a_short_message(method, uncertain, says):
    design = DesignConfig(method=method) if method == "lhs" else DesignConfig(method=method, n=4)
    with pytest.raises(SrmsimError) as err:
        sample(design, uncertain, 0, n=4)
    assert says in str(err.value)


UNCERTAIN = {"a": (0.0, 1.0), "b": (0.0, 1.0)}


def test_an_outcome_constant_to_rounding_has_no_indices():
    """0.1 + 0.2a - 0.2a varies by 5e-17: SALib apportioned that round-off, S1 of a = 0.78."""
    design = DesignConfig(method="sobol", n=64)
    x = sample(design, UNCERTAIN, 1)
    y = (0.1 + 0.2 * x[:, 0]) - 0.2 * x[:, 0]
    assert 0 < np.ptp(y) < 1e-15
    got = indices(x, y, UNCERTAIN, design.model_dump())
    assert "S1" not in got or got["S1"].isna().all()


@pytest.mark.parametrize("change, says", [
    ({"level": 1.5}, "level=1.5 must lie strictly between 0 and 1"),  # SALib: RuntimeError
    ({"level": "0.9"}, "level='0.9' must be a number, not text"),
    ({"seed": -1}, "seed=-1 is out of range"),
    ({"seed": 2.5}, "seed must be a whole number"),
    ({"y": "short"}, "16 design points of 2 parameters are needed, one outcome value each"),
    ({"parameters": "short"}, "a sobol design of 2 parameters has a multiple of 4 points, not 10"),
])
def test_indices_refuse_bad_arguments_with_a_short_message(change, says):
    design = DesignConfig(method="sobol", n=4)
    x = sample(design, UNCERTAIN, 1)
    args: dict = {"parameters": x, "y": x[:, 0] + x[:, 1], "uncertain": UNCERTAIN,
                  "design": design.model_dump(), **change}
    if isinstance(args["y"], str):
        args["y"] = x[:-1, 0]
    if isinstance(args["parameters"], str):
        args["parameters"], args["y"] = x[:10], x[:10, 0]
    with pytest.raises(SrmsimError) as err:
        indices(**args)
    assert says in str(err.value)


# --- optimisation: candidates whose runs lack an objective or constraint --------------------


def _optimisation(tmp: Path):
    from srmsim.explore.optimise import optimisation_from_dict

    (tmp / "boost.yaml").write_text(yaml.safe_dump(TINY))
    data = {"name": "gaps", "scenario": "boost.yaml", "replications": 3, "seed": 5,
            "levers": {"policy.actions.boost.take_up": {"low": 0.1, "high": 0.9}},
            "objectives": {"attainment": "maximise"},
            "constraints": {"staff_hours": {"max": 400}}, "search": {"trials": 4, "batch": 4}}
    return optimisation_from_dict(data, "gaps.yaml", tmp)


def _search_with_runs(tmp: Path, monkeypatch, staff_hours) -> tuple:
    """The search with each batch's runs made up (no simulation): attainment 0.5 in each of
    3 replications, and ``staff_hours(trial number, replication)``."""
    pytest.importorskip("optuna")
    from srmsim.explore import optimise as module

    def made_up(opt, store, trials, workers, scheduler):
        return pd.DataFrame([{"variant": module._variant(t.number), "replication": r,
                              "attainment": 0.5, "staff_hours": staff_hours(t.number, r)}
                             for t in trials for r in range(3)])

    monkeypatch.setattr(module, "_evaluate", made_up)
    opt = _optimisation(tmp)
    study = module.search(opt, tmp / "out", progress=False, max_batches=1)
    return opt, study


def test_a_candidate_whose_constraint_was_never_measured_does_not_meet_it(tmp_path,
                                                                          monkeypatch):
    """staff_hours NaN in every run: its violation was max(-inf, NaN) = -inf, so every
    candidate passed the constraint and the front was made of unmeasured policies."""
    from srmsim.explore.optimise import trials_table

    opt, study = _search_with_runs(tmp_path, monkeypatch, lambda trial, rep: np.nan)
    take_up = study.trials[0].params["policy.actions.boost.take_up"]
    with pytest.raises(SrmsimError, match=r"no candidate could be scored: 4 of them lack an "
                       r"objective or constraint \(candidate trial-00000 "
                       rf"\(policy.actions.boost.take_up = {take_up:.3g}\): outcome "
                       r"'staff_hours' is missing or infinite in replication 0\)"):
        trials_table(opt, study)


def test_a_candidate_missing_one_replication_is_left_out_and_named(tmp_path, monkeypatch):
    """A mean over the other replications compared that candidate on other states of the
    world than the rest, without a word."""
    from srmsim.explore.optimise import trials_table, unscored_notes

    opt, study = _search_with_runs(
        tmp_path, monkeypatch, lambda trial, rep: np.nan if (trial, rep) == (2, 1) else 300.0)
    assert trials_table(opt, study)["trial"].tolist() == [0, 1, 3]
    # the note names the candidate's lever values: its number alone did not say which policy
    take_up = study.trials[2].params["policy.actions.boost.take_up"]
    # (to 3 figures, as every lever value prints: the exact ones are in trials.csv)
    assert unscored_notes(study) == [f"trial-00002 (policy.actions.boost.take_up = "
                                     f"{take_up:.3g}): outcome 'staff_hours' is missing or "
                                     "infinite in replication 1"]


@pytest.mark.parametrize("choices", [[1, True], [0, False, 2], [1.0, 1]])
def test_lever_choices_equal_as_values_are_refused(tmp_path, capsys, choices):
    """Optuna finds a proposed choice by ==: of 1 and true only 1 was ever proposed."""
    (tmp_path / "boost.yaml").write_text(yaml.safe_dump(TINY))
    data = {"name": "same", "scenario": "boost.yaml",
            "levers": {"policy.workflows.w.cooldown_weeks": {"choices": choices}},
            "objectives": {"attainment": "maximise"}}
    (tmp_path / "same.yaml").write_text(yaml.safe_dump(data))
    assert main(["optimise", str(tmp_path / "same.yaml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "choices must differ as values: true equals 1" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_the_best_policy_is_not_one_whose_re_evaluation_has_a_gap(tmp_path):
    """trial-00001 lacks its attainment in replication 1: the mean of its other replications
    (0.9) beat trial-00000's 0.6 over all three, and it was written as best_policy.yaml."""
    from srmsim.explore.optimise import choose_best

    opt = _optimisation(tmp_path)
    runs = pd.DataFrame({"variant": ["baseline"] * 3 + ["trial-00000"] * 3 + ["trial-00001"] * 3,
                         "replication": [0, 1, 2] * 3,
                         "attainment": [0.1, 0.1, 0.1, 0.6, 0.6, 0.6, 0.9, np.nan, 0.9],
                         "staff_hours": [0.0] * 3 + [300.0] * 6})
    best, feasible, notes = choose_best(opt, runs)
    assert (best, feasible) == ("trial-00000", True)
    assert notes == ["trial-00001 on re-evaluation: outcome 'attainment' is missing or "
                     "infinite in replication 1"]
    with pytest.raises(SrmsimError, match="no front policy could be scored on re-evaluation"):
        choose_best(opt, runs[runs["variant"] != "trial-00000"])


def test_a_morris_point_an_ulp_past_its_bound_is_inside_it():
    """`discover` on a Morris experiment over (-0.8, -0.1) refused its own runs: SALib maps
    the top level to -0.8 + 0.7000000000000001 = -0.09999999999999998, 'outside its bounds'."""
    from SALib.sample import morris

    from srmsim.explore.prim import check_bounds

    points = morris.sample({"num_vars": 1, "names": ["a"], "bounds": [[-0.8, -0.1]]}, 6,
                           num_levels=4, seed=1)
    assert points.max() > -0.1  # the design's own point, past the bound by float error
    frame = pd.DataFrame({"a": points[:, 0]})
    np.testing.assert_array_equal(check_bounds(frame, {"a": (-0.8, -0.1)}, "PRIM"),
                                  [[-0.8], [-0.1]])
    frame.loc[0, "a"] = -0.0999  # a real excursion is still refused
    with pytest.raises(SrmsimError, match="outside its bounds"):
        check_bounds(frame, {"a": (-0.8, -0.1)}, "PRIM")
