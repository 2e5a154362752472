"""Exploration commands on hostile input (numerics review): lever ranges Optuna cannot draw from,
Sobol and Morris indices of points that are not the design's, outcomes without indices printed
as unexplained NaN, and a damaged results folder met with a traceback."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

pytest.importorskip("SALib")
pytest.importorskip("optuna")
pytest.importorskip("sklearn")

from srmsim.cli import main  # noqa: E402
from srmsim.errors import ScenarioError, SrmsimError  # noqa: E402
from srmsim.experiment import load_experiment, run_experiment  # noqa: E402
from srmsim.explore.design import DesignConfig, sample  # noqa: E402
from srmsim.explore.optimise import load_optimisation  # noqa: E402
from srmsim.explore.sensitivity import format_sensitivity, indices  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_explore import TINY as OPT_TINY  # noqa: E402
from test_explore_hostile_review import TINY  # noqa: E402

# --- optimise: a lever's range Optuna cannot draw from --------------------------------------


@pytest.mark.parametrize("low, high", [(-1e308, 1e308), (0.0, 5e-324)])
def test_a_lever_range_optuna_cannot_draw_from_is_refused_before_anything_is_written(
        tmp_path, capsys, low, high):
    """high - low overflowing to inf met numpy's OverflowError inside Optuna's first draw, and a
    subnormal width TPE's "nan is invalid value": tracebacks, exit 1, with study.db and
    optimise.json already written in --out."""
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(OPT_TINY))
    data = {"name": "wide", "scenario": "tiny.yaml", "replications": 1,
            "levers": {"policy.parameters.attendance_threshold": {"low": low, "high": high}},
            "objectives": {"persistent_absence": "minimise"},
            "search": {"sampler": "tpe", "trials": 2, "batch": 2},
            "reevaluate": {"replications": 2, "front_max": 1}}
    path = tmp_path / "wide.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError, match="high - low .* must be a finite width"):
        load_optimisation(path)
    out = tmp_path / "o"
    assert main(["optimise", str(path), "--out", str(out), "--quiet", "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "levers.policy.parameters.attendance_threshold: high - low" in err
    assert "Traceback" not in err
    assert not out.exists()


# --- indices of points that are not the design's --------------------------------------------

UNCERTAIN = {"a": (0.0, 1.0), "b": (0.0, 1.0), "c": (2.0, 3.0)}


@pytest.mark.parametrize("design", [
    DesignConfig(method="morris", n=10), DesignConfig(method="sobol", n=16),
    DesignConfig(method="sobol", n=16, second_order=True)], ids=["morris", "sobol", "sobol2"])
def test_indices_refuse_points_that_are_not_the_designs_in_its_order(design):
    """SALib reads trajectories and Saltelli blocks by position: the design's rows reordered gave
    Morris mu* of 3.55 and 3.45 for a = 3 and b = 1 exactly, without a word."""
    x = sample(design, UNCERTAIN, seed=1)
    y = 3 * x[:, 0] + x[:, 1]
    spec = design.model_dump()
    indices(x, y, UNCERTAIN, spec)  # the design as drawn is fine
    order = np.random.default_rng(0).permutation(len(x))
    with pytest.raises(SrmsimError, match=f"not the points of a {design.method} design in its "
                       "order"):
        indices(x[order], y[order], UNCERTAIN, spec)
    moved = x.copy()
    moved[1, 2] += 0.01  # one value edited
    with pytest.raises(SrmsimError, match="design point 1 does not follow"):
        indices(moved, y, UNCERTAIN, spec)


def test_a_morris_design_cut_short_is_refused_with_a_short_message():
    """39 points of trajectories of 4: numpy's "cannot reshape array of size 39 into shape
    (9,4)"."""
    design = DesignConfig(method="morris", n=10)
    x = sample(design, UNCERTAIN, seed=1)
    with pytest.raises(SrmsimError, match="a morris design of 3 parameters has a multiple of 4 "
                       "points, not 39"):
        indices(x[:39], x[:39, 0], UNCERTAIN, design.model_dump())


@pytest.mark.parametrize("second_order", [False, True])
def test_an_outcome_varying_only_at_the_mixed_points_is_refused_not_given_indices_of_0(
        second_order):
    """Saltelli's estimators are shares of the variance of each block's first and last rows:
    where only the rows between vary (a small design, an outcome that is mostly 0), SALib
    returned S1 = ST = 0 for every parameter (with a warning) of an outcome they drive."""
    design = DesignConfig(method="sobol", n=4, second_order=second_order)
    two = {"a": (0.0, 1.0), "b": (0.0, 1.0)}
    x = sample(design, two, seed=1)
    blocks = x.reshape(4, -1, 2)
    base = np.r_[blocks[:, 0], blocks[:, -1]]
    y = np.array([0.0 if (row == base).all(axis=1).any() else 1.0 for row in x])
    assert np.ptp(y) == 1
    with pytest.raises(SrmsimError, match="varies across the design but not among its 8 base "
                       "points"):
        indices(x, y, two, design.model_dump())


# --- outcomes without indices, printed ------------------------------------------------------


def test_an_outcome_without_indices_is_explained_not_printed_as_nan():
    """An outcome that did not vary printed rows of NaN under every heading, unexplained."""
    rows = [{"target": t, "variant": "on", "outcome": o, "parameter": p, "method": "sobol",
             "S1": s, "S1_conf": 0.1 if s == s else np.nan, "ST": s,
             "ST_conf": 0.1 if s == s else np.nan}
            for t, o, s in [("on", "attainment", 0.5), ("on", "staff_hours", np.nan),
                            ("on - off", "staff_hours", np.nan)] for p in ("a", "b")]
    text = format_sensitivity(pd.DataFrame(rows))
    assert "NaN" not in text and "nan" not in text
    assert "0.5" in text
    # the outcome's label (review 218: it printed its field name)
    assert ("No indices (blank in sensitivity.csv) for what did not vary with the uncertain "
            "parameters, which leaves no variance to apportion: on: Staff hours; on - off: "
            "Staff hours.") in " ".join(text.split())
    only = format_sensitivity(pd.DataFrame(rows[2:]))
    assert "(no outcome varied)" in only and "NaN" not in only


def test_indices_outside_zero_to_one_are_explained():
    """Under a heading that says "the share (0 to 1)" rows read S1 1.22 and ST -0.004 from a
    small design, unexplained."""
    def table(s1: float, st: float) -> pd.DataFrame:
        return pd.DataFrame([{"target": "on", "variant": "on", "outcome": "attainment",
                              "parameter": p, "method": "sobol", "S1": s1, "S1_conf": 0.3,
                              "ST": st, "ST_conf": 0.3} for p in ("a", "b")])

    text = " ".join(format_sensitivity(table(1.22, -0.00354)).split())
    assert "2 rows above 1 or below 0: estimates from this many design points stray" in text
    assert "above 1 or below 0" not in format_sensitivity(table(0.4, 0.6))  # control


# --- a damaged results folder ---------------------------------------------------------------


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """8 states of the world (sobol, n = 2, two parameters) x 2 variants: about 2 s."""
    tmp = tmp_path_factory.mktemp("sobol")
    (tmp / "boost.yaml").write_text(yaml.safe_dump(TINY))
    exp = {"name": "boost", "scenario": "boost.yaml", "baseline": "off", "seed": 3,
           "outcomes": ["attainment"], "variants": {"off": {"policy": None}, "on": {}},
           "uncertain": {EFFECT: [0.0, 0.4], "policy.actions.boost.cost_per_week": [0.0, 10.0]},
           "design": {"method": "sobol", "n": 2}}
    (tmp / "exp.yaml").write_text(yaml.safe_dump(exp))
    run_experiment(load_experiment(tmp / "exp.yaml"), tmp / "o", workers=1, progress=False)
    return tmp / "o"


EFFECT = "policy.actions.boost.effect.attainment"


def _manifest(change):
    def edit(folder: Path) -> None:
        manifest = json.loads((folder / "manifest.json").read_text())
        change(manifest)
        (folder / "manifest.json").write_text(json.dumps(manifest))
    return edit


def _drop_replication(folder: Path) -> None:
    table = pd.read_csv(folder / "parameters.csv")
    table[table["replication"] != 7].to_csv(folder / "parameters.csv", index=False)


@pytest.mark.parametrize("damage, says", [
    # TypeError: 'int' object is not iterable
    (_manifest(lambda m: m["uncertain"].update({EFFECT: 5})),
     f"manifest.json: uncertain[{EFFECT!r}] must be a (low, high) pair, got 5"),
    # AttributeError: 'str' object has no attribute 'get'
    (_manifest(lambda m: m.update(design="sobol")),
     "manifest.json: its design is not one srmsim wrote (hand-edited or corrupt; design is "
     "str, not a mapping)"),
    # SALib: ValueError: cannot reshape array of size 16 into shape (5,3)
    (_manifest(lambda m: m.update(design={**m["design"], "method": "morris", "levels": 3})),
     "morris needs an even number of levels (got 3)"),
    # KeyError: '[7] not in index'
    (_drop_replication, "parameters.csv: no row for replication 7, which the experiment ran"),
])
@pytest.mark.parametrize("command", [["sensitivity"], ["discover", "--condition",
                                                         "attainment_diff < 0.1"]],
                         ids=["sensitivity", "discover"])
def test_a_damaged_results_folder_is_named_not_a_traceback(results, tmp_path, capsys, damage,
                                                           says, command):
    folder = tmp_path / "o"
    shutil.copytree(results, folder)
    damage(folder)
    assert main([command[0], str(folder), *command[1:]]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    assert not (folder / "sensitivity.csv").exists() and not (folder / "discovery").exists()


def test_discover_names_the_folder_and_a_plain_row_for_a_run_outside_its_range(results,
                                                                              tmp_path, capsys):
    """A range narrowed by hand in manifest.json: PRIM's message named neither the folder nor
    the row but as numpy's repr ("in row np.int64(0)"). The draws are now checked against
    the manifest's design first, and the folder's parameters.csv is named."""
    folder = tmp_path / "o"
    shutil.copytree(results, folder)
    _manifest(lambda m: m["uncertain"].update({EFFECT: [0.0, 0.01]}))(folder)
    assert main(["discover", str(folder), "--condition", "attainment_diff < 0.1"]) == 2
    err = capsys.readouterr().err
    assert f"{folder / 'parameters.csv'}: not the values the design and seed in " \
        "manifest.json draw" in err, err
    assert "np.int64" not in err and "Traceback" not in err
    assert not (folder / "discovery").exists()


def test_a_cart_leaf_may_hold_exactly_mass_min_of_the_runs():
    """7 of 100 runs is a share of 0.07, as PRIM counts it; the tree's smallest leaf was
    ceil(0.07 * 100) = 8 runs (7.000000000000001 in floating point), so a planted box of 7
    runs could not be a leaf of its own."""
    import pandas as pd

    from srmsim.explore.discovery import cart_leaves

    a = np.random.default_rng(5).permutation(100) / 100
    x = pd.DataFrame({"a": a, "b": np.linspace(0, 1, 100)})
    leaves = cart_leaves(x, a < 0.07, {"a": (0.0, 1.0), "b": (0.0, 1.0)}, max_depth=1,
                         mass_min=0.07)
    assert sorted(leaves["density"]) == [0.0, 1.0]
    assert sorted(leaves["coverage"]) == [0.0, 1.0]


@pytest.fixture(scope="module")
def lhs_results(tmp_path_factory) -> dict[int, Path]:
    """The same experiment (the default Latin hypercube, 8 states of the world) with seeds 3
    and 4."""
    tmp = tmp_path_factory.mktemp("lhs")
    (tmp / "boost.yaml").write_text(yaml.safe_dump(TINY))
    out = {}
    for seed in (3, 4):
        exp = {"name": "boost", "scenario": "boost.yaml", "baseline": "off", "seed": seed,
               "outcomes": ["attainment"], "variants": {"off": {"policy": None}, "on": {}},
               "replications": 8,
               "uncertain": {EFFECT: [0.0, 0.4],
                             "policy.actions.boost.cost_per_week": [0.0, 10.0]}}
        (tmp / f"exp{seed}.yaml").write_text(yaml.safe_dump(exp))
        run_experiment(load_experiment(tmp / f"exp{seed}.yaml"), tmp / f"o{seed}", workers=1,
                       progress=False)
        out[seed] = tmp / f"o{seed}"
    return out


def _reverse_column(folder: Path) -> None:
    table = pd.read_csv(folder / "parameters.csv")
    table[EFFECT] = table[EFFECT].to_numpy()[::-1]  # still within its bounds
    table.to_csv(folder / "parameters.csv", index=False)


@pytest.mark.parametrize("command", [["discover", "--condition", "attainment_diff < 0.01"],
                                     ["sensitivity"]])
@pytest.mark.parametrize("damage", ["other_seed", "reversed"])
def test_parameters_csv_not_the_designs_draws_is_refused(lhs_results, tmp_path, capsys,
                                                         command, damage):
    """parameters.csv copied from the same experiment run with another seed (or a column
    reversed by hand, within its bounds) was analysed as the runs' own: discover reported
    another parameter and region with exit 0. Now refused naming the file; nothing written."""
    folder = tmp_path / "o"
    shutil.copytree(lhs_results[3], folder)
    if damage == "other_seed":
        shutil.copy(lhs_results[4] / "parameters.csv", folder / "parameters.csv")
    else:
        _reverse_column(folder)
    before = sorted(p.name for p in folder.iterdir())
    assert main([command[0], str(folder), *command[1:]]) == 2
    err = capsys.readouterr().err
    assert f"{folder / 'parameters.csv'}: not the values the design and seed" in err, err
    assert "Traceback" not in err and sorted(p.name for p in folder.iterdir()) == before


def test_the_designs_own_draws_are_analysed(lhs_results, tmp_path, capsys):
    """Negative control: the folder as written is read (each seed's own draws)."""
    for seed, folder in lhs_results.items():
        copy = tmp_path / f"o{seed}"
        shutil.copytree(folder, copy)
        assert main(["discover", str(copy), "--condition", "attainment_diff < 1"]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("damage", ["truncated", "random bytes", "a folder"])
def test_a_damaged_search_store_is_named_not_a_traceback(tmp_path, capsys, damage):
    """study.db cut short, overwritten or replaced by a folder: optuna's sqlalchemy error (or
    sqlite's) escaped as a traceback with exit 1, on a resumed search and a repeated one."""
    from test_explore import tiny_optimisation

    data = tiny_optimisation(tmp_path, replications=1, search={"trials": 2, "batch": 2})
    path = tmp_path / "opt.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "o"
    argv = ["optimise", str(path), "--out", str(out), "--quiet", "--workers", "1"]
    assert main(argv) == 0
    store = out / "study.db"
    if damage == "truncated":
        store.write_bytes(store.read_bytes()[:1000])
    elif damage == "random bytes":
        store.write_bytes(np.random.default_rng(1).bytes(8192))
    else:
        store.unlink()
        store.mkdir()
    capsys.readouterr()
    for extra in ([], ["--resume"]):
        assert main(argv + extra) == 2
        err = capsys.readouterr().err
        assert f"{store}: not a search store srmsim can read" in err, err
        assert "Traceback" not in err and len(err.splitlines()) <= 2


def test_second_order_indices_recover_the_ishigami_interaction():
    """second_order: true ran the extra points of a Saltelli design but only S1 and ST were
    reported (helper 198): the Ishigami function's one interaction, x1 with x3, has S13 =
    0.2437 and the other pairs 0 (Ishigami and Homma 1990; Saltelli et al. 2008, 4.9)."""
    design = DesignConfig(method="sobol", n=1024, second_order=True)
    box = {f"x{i}": (-np.pi, np.pi) for i in (1, 2, 3)}
    x = sample(design, box, seed=2)
    y = np.sin(x[:, 0]) + 7 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])
    frame = indices(x, y, box, design.model_dump(), seed=3)
    pairs = frame.attrs["pairs"].set_index(["parameter", "other"])
    assert list(pairs.index) == [("x1", "x2"), ("x1", "x3"), ("x2", "x3")]
    truth = {("x1", "x2"): 0.0, ("x1", "x3"): 0.2437, ("x2", "x3"): 0.0}
    for pair, s2 in truth.items():
        est, conf = pairs.loc[pair, "S2"], pairs.loc[pair, "S2_conf"]
        assert abs(est - s2) <= max(conf, 0.02), (pair, est, conf)
    assert pairs.loc[("x1", "x3"), "S2"] > 0.15
    # a design without second_order has no pairs
    plain = DesignConfig(method="sobol", n=64)
    xp = sample(plain, box, seed=2)
    yp = np.sin(xp[:, 0]) + 7 * np.sin(xp[:, 1]) ** 2
    assert indices(xp, yp, box, plain.model_dump()).attrs["pairs"].empty
