"""Mutation review of scenario exploration: the decisions behind PRIM's boxes, Sobol and Morris
indices, the sampling designs and the optimiser's front, each pinned against a reference
computed by hand, a closed form, or SALib's and Optuna's own documented behaviour."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

pytest.importorskip("SALib")
pytest.importorskip("optuna")

from srmsim.explore.design import DesignConfig, sample  # noqa: E402
from srmsim.explore.prim import PrimResult, prim  # noqa: E402
from srmsim.explore.sensitivity import indices  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_explore_hostile_review import TINY  # noqa: E402

# --- PRIM, peeled by hand -------------------------------------------------------------------


def _ten_runs() -> tuple[pd.DataFrame, np.ndarray]:
    return pd.DataFrame({"a": np.arange(10.0)}), np.array([0, 0, 1, 1, 1, 1, 1, 1, 0, 1], bool)


def test_a_tiny_peel_matches_the_one_done_by_hand():
    """a = 0..9, cases everywhere but a = 0, 1, 8; peel_alpha 0.2 (Friedman and Fisher's peel
    of the alpha quantile, EMA Workbench's lenient1 score: gain in density per run removed).

    Box 0: 10 runs, 7 cases. Peels: the top (a = 8, 9: one case) gives 6/8, +0.05 over 2 runs;
    the bottom (a = 0, 1: no case) 7/8, +0.175 over 2. The bottom wins, limit midway at 1.5.
    Box 1: 8 runs; the quantile index is floor(7 * 0.2) = 1 from the bottom (a = 2, 3, both
    cases: density falls) and ceil(7 * 0.8) = 6 from the top (a = 8, 9): 6/6, limit 7.5.
    Density 1 cannot rise: peeling stops. Pasting back a = 1 or a = 8 (each a non-case) lowers
    it: nothing is pasted. Coverage = cases in box / all cases, density = cases / runs in box,
    mass = runs in box / all runs; the quasi-p of a's limits is P(Binomial(6, 0.7) >= 6)."""
    x, y = _ten_runs()
    found = prim(x, y, peel_alpha=0.2, paste_alpha=0.2, mass_min=0.05)
    traj = found.trajectory
    assert traj["phase"].tolist() == ["start", "peel", "peel"]
    assert traj["runs"].tolist() == [10, 8, 6] and traj["cases"].tolist() == [7, 7, 6]
    np.testing.assert_allclose(traj["coverage"], [1.0, 1.0, 6 / 7])
    np.testing.assert_allclose(traj["density"], [0.7, 7 / 8, 1.0])
    np.testing.assert_allclose(traj["mass"], [1.0, 0.8, 0.6])
    assert traj["res_dim"].tolist() == [0, 1, 1]
    assert [(lim.loc["low", "a"], lim.loc["high", "a"]) for lim in found.limits] == [
        (0.0, 9.0), (1.5, 9.0), (1.5, 7.5)]
    box = found.box()
    assert box[["parameter", "low", "high", "range_low", "range_high"]].values.tolist() == [
        ["a", 1.5, 7.5, 0.0, 9.0]]
    assert box["quasi_p"].iloc[0] == pytest.approx(0.7 ** 6)
    # box 1: P(Binomial(8, 0.7) >= 7) = 8 * 0.7^7 * 0.3 + 0.7^8
    assert found.box(1)["quasi_p"].iloc[0] == pytest.approx(8 * 0.7 ** 7 * 0.3 + 0.7 ** 8)


@pytest.mark.parametrize("mass_min, boxes", [(0.6, 3), (0.61, 2)])
def test_a_box_may_hold_exactly_mass_min_of_the_runs(mass_min, boxes):
    """The last peel above leaves 6 of 10 runs: a mass of exactly 0.6, which mass_min 0.6 allows
    (EMA Workbench peels while mass_new >= mass_min; cart_leaves counts a leaf the same way)."""
    x, y = _ten_runs()
    found = prim(x, y, peel_alpha=0.2, paste_alpha=0.2, mass_min=mass_min)
    assert len(found.trajectory) == boxes


def test_the_peel_score_is_the_gain_per_run_removed_not_the_gain():
    """The lowest a (one non-case) raises the density from 14/20 to 14/19: +0.037 for one run.
    b's lowest value is shared by 4 runs (3 non-cases, a case), all peeled together: 13/16,
    +0.1125 in all but +0.028 a run. Friedman and Fisher's criterion (EMA's lenient1) takes
    a's peel; the bare gain in density would take b's."""
    x = pd.DataFrame({"a": np.arange(20.0), "b": np.r_[0, 0, 0, 0, np.arange(1, 17)].astype(float)})
    y = np.ones(20, dtype=bool)
    y[[0, 1, 2, 10, 12, 14]] = False
    found = prim(x, y, mass_min=0.5)
    first = found.limits[1]
    assert (first.loc["low", "a"], first.loc["low", "b"]) == (0.5, 0.0)
    assert found.trajectory.loc[1, "runs"] == 19


@pytest.mark.parametrize("columns", [["a"], ["a", "b"]])
def test_peels_that_tie_in_everything_go_to_the_first_listed(columns):
    """a = 0..10, non-cases at both ends, peel_alpha 0.1: the top and bottom peels (2 runs,
    one non-case each) score alike and restrict as many parameters. EMA Workbench lists the
    upper peel first, parameter by parameter, and keeps the first of equal scores (a stable
    sort): the top of a goes first; b, a copy of a, is never restricted."""
    a = np.arange(11.0)
    y = np.ones(11, dtype=bool)
    y[[0, 10]] = False
    found = prim(pd.DataFrame({c: a for c in columns}), y, peel_alpha=0.1, mass_min=0.5)
    assert found.limits[1].loc["high", "a"] == 8.5 and found.limits[1].loc["low", "a"] == 0.0
    assert found.box()["parameter"].tolist() == ["a"]
    assert (found.box()["low"].iloc[0], found.box()["high"].iloc[0]) == (0.5, 8.5)


def test_quasi_p_drops_one_parameters_limits_and_keeps_the_others():
    """Bryant and Lempert's quasi-p of a restricted parameter: the chance, under the density of
    the box without that parameter's limits (the other limits kept), of a box as dense. On a
    10 x 10 grid with cases where a >= 5, a box a in [4.5, 9], b in [0.5, 9]: without b's
    limit the density is still 1 (b's limit is redundant: quasi-p 1); without a's it is 45/90
    = 0.5, so a's quasi-p is P(Binomial(45, 0.5) >= 45) = 0.5^45."""
    grid = np.array([(i, j) for i in range(10) for j in range(10)], dtype=float)
    y = grid[:, 0] >= 5
    lim = pd.DataFrame([[4.5, 0.5], [9.0, 9.0]], index=["low", "high"], columns=["a", "b"])
    init = pd.DataFrame([[0.0, 0.0], [9.0, 9.0]], index=["low", "high"], columns=["a", "b"])
    inside = (grid[:, 0] >= 4.5) & (grid[:, 1] >= 0.5)
    result = PrimResult(["a", "b"], init, pd.DataFrame(), [init, lim], [np.ones(100, bool),
                                                                         inside], grid, y)
    box = result.box(1).set_index("parameter")
    assert box.loc["a", "quasi_p"] == pytest.approx(0.5 ** 45)
    assert box.loc["b", "quasi_p"] == 1.0
    # the one-sided test of the box's cases against that density, as scipy computes it
    assert box.loc["a", "quasi_p"] == pytest.approx(stats.binom.sf(44, 45, 0.5))


# --- Sobol and Morris: what SALib is asked ----------------------------------------------------

UNCERTAIN = {"a": (0.0, 2.0), "b": (0.0, 1.0), "c": (-1.0, 1.0)}


@pytest.mark.parametrize("design", [DesignConfig(method="sobol", n=64),
                                    DesignConfig(method="morris", n=20)], ids=["sobol", "morris"])
def test_the_confidence_level_sets_the_interval_width_by_the_normal_quantile(design):
    """SALib's intervals are z * the bootstrap standard deviation, z = Phi^-1(1/2 + level/2);
    with the same seed the bootstrap draws are the same, so a 50% interval is exactly
    Phi^-1(0.75) / Phi^-1(0.975) of a 95% one. A level not passed on to SALib gave 95% always."""
    x = sample(design, UNCERTAIN, seed=2)
    y = np.sin(x[:, 0]) + x[:, 1] ** 2 + 0.5 * x[:, 0] * x[:, 2]
    spec = design.model_dump()
    wide = indices(x, y, UNCERTAIN, spec, level=0.95, seed=4)
    narrow = indices(x, y, UNCERTAIN, spec, level=0.5, seed=4)
    ratio = stats.norm.ppf(0.75) / stats.norm.ppf(0.975)
    for column in (["S1_conf", "ST_conf"] if design.method == "sobol" else ["mu_star_conf"]):
        assert (wide[column] > 0).all()
        np.testing.assert_allclose(narrow[column], wide[column] * ratio, rtol=1e-9)


@pytest.mark.parametrize("levels", [4, 6])
def test_a_morris_design_of_p_levels_steps_by_p_over_2_p_minus_1_and_mu_star_is_per_range(levels):
    """Morris (1991), as SALib documents it: points on a p-level grid of each range, each step
    moving one parameter by p / (2 (p - 1)) of its range; the elementary effect is divided by
    that step, so mu* of a linear outcome is slope x range, sigma 0. With 6 levels a design or
    an analysis that assumed 4 (a step of 2/3, not 0.6) put mu* off by 10%."""
    design = DesignConfig(method="morris", n=12, levels=levels)
    x = sample(design, UNCERTAIN, seed=5)
    lows = np.array([UNCERTAIN[k][0] for k in sorted(UNCERTAIN)])
    widths = np.array([np.ptp(UNCERTAIN[k]) for k in sorted(UNCERTAIN)])
    unit = (x - lows) / widths
    np.testing.assert_allclose(unit * (levels - 1), np.round(unit * (levels - 1)), atol=1e-9)
    steps = np.abs(np.diff(unit.reshape(12, 4, 3), axis=1)).max(axis=2)
    np.testing.assert_allclose(steps, levels / (2 * (levels - 1)))
    got = indices(x, 3 * x[:, 0] - 2 * x[:, 1], UNCERTAIN, design.model_dump())
    np.testing.assert_allclose(got["mu_star"], [6.0, 2.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(got["sigma"], [0.0, 0.0, 0.0], atol=1e-9)


@pytest.mark.parametrize("design", [DesignConfig(method="sobol", n=16),
                                    DesignConfig(method="morris", n=8),
                                    DesignConfig()], ids=["sobol", "morris", "lhs"])
def test_a_design_is_its_seeds_and_only_its_seeds(design):
    """The same seed draws the same points whatever numpy's global state (a resumed or repeated
    experiment reuses its states of the world); another seed draws others."""
    np.random.seed(1)
    first = sample(design, UNCERTAIN, 7, n=16)
    np.random.seed(2)
    np.testing.assert_array_equal(sample(design, UNCERTAIN, 7, n=16), first)
    assert not np.array_equal(sample(design, UNCERTAIN, 8, n=16), first)


def test_morris_intervals_do_not_depend_on_numpy_global_state():
    """The bootstrap of mu*'s interval is seeded: the same call gives the same table."""
    design = DesignConfig(method="morris", n=20)
    x = sample(design, UNCERTAIN, seed=1)
    y = x[:, 0] * x[:, 1] + x[:, 2] ** 2
    np.random.seed(1)
    first = indices(x, y, UNCERTAIN, design.model_dump(), seed=3)
    np.random.seed(2)
    pd.testing.assert_frame_equal(indices(x, y, UNCERTAIN, design.model_dump(), seed=3), first)
    assert (first["sigma"] > 0).all() and (first["mu_star_conf"] > 0).all()


# --- the optimiser's front, directions and constraints ----------------------------------------

#: made-up results of 8 candidates (no simulation): attainment (maximised, at least 0.375),
#: staff_hours (minimised, at most 400) and persistent_absence (at most 0.25); binary fractions,
#: so that a mean over replications lands exactly on a bound
MADE_UP = {0: (0.5, 100.0, 0.125), 1: (0.875, 90.0, 0.5), 2: (0.375, 200.0, 0.125),
           3: (0.75, 400.0, 0.125), 4: (0.625, 300.0, 0.125), 5: (0.25, 50.0, 0.125),
           6: (0.6875, 350.0, 0.25), 7: (0.5, 150.0, 0.125)}


def _optimisation(tmp, **extra):
    from srmsim.explore.optimise import optimisation_from_dict

    (tmp / "boost.yaml").write_text(yaml.safe_dump(TINY))
    data = {"name": "front", "scenario": "boost.yaml", "replications": 3, "seed": 5,
            "levers": {"policy.actions.boost.take_up": {"low": 0.1, "high": 0.9}},
            "objectives": {"attainment": "maximise", "staff_hours": "minimise"},
            "constraints": {"attainment": {"min": 0.375}, "staff_hours": {"max": 400},
                            "persistent_absence": {"max": 0.25}},
            "search": {"sampler": "nsga2", "trials": 8, "batch": 8}, **extra}
    return optimisation_from_dict(data, "front.yaml", tmp)


def _made_up_search(tmp, monkeypatch, **extra):
    """The search over MADE_UP's candidates, each in 3 replications: attainment 1/16 below its
    value in two and 1/8 above in the third (its mean is the value, its median is not)."""
    from srmsim.explore import optimise as module

    def made_up(opt, store, trials, workers, scheduler):
        return pd.DataFrame([{"variant": module._variant(t.number), "replication": r,
                              "attainment": MADE_UP[t.number][0] + (-1, -1, 2)[r] / 16,
                              "staff_hours": MADE_UP[t.number][1],
                              "persistent_absence": MADE_UP[t.number][2]}
                             for t in trials for r in range(3)])

    monkeypatch.setattr(module, "_evaluate", made_up)
    opt = _optimisation(tmp, **extra)
    return opt, module.search(opt, tmp / "out", progress=False)


def test_the_front_is_the_one_found_by_hand_and_by_optuna(tmp_path, monkeypatch):
    """Feasible: attainment >= 0.375, staff_hours <= 400 and persistent_absence <= 0.25, a value
    on the bound included (Optuna: a constraint value <= 0 is met): all but 1 and 5. Candidate 1
    is best on both objectives but breaks a constraint; 7 ties 0 on attainment with more staff
    hours (weakly dominated); 2 is dominated by 0. By hand the front is 0, 3, 4, 6: the same
    as Optuna's own Pareto front (study.best_trials, feasible trials only), which also checks
    the directions the study was given. Maximise and minimise swapped, or a violation's sign,
    gave another front. A candidate's score is its mean over the replications."""
    import optuna

    from srmsim.explore.optimise import trials_table

    opt, study = _made_up_search(tmp_path, monkeypatch)
    assert study.directions == [optuna.study.StudyDirection.MAXIMIZE,
                                optuna.study.StudyDirection.MINIMIZE]
    table = trials_table(opt, study).set_index("trial")
    assert table["feasible"].tolist() == [True, False, True, True, True, False, True, True]
    assert sorted(table.index[table["pareto"]]) == [0, 3, 4, 6]
    assert sorted(t.number for t in study.best_trials) == [0, 3, 4, 6]
    assert table.loc[3, "attainment"] == 0.75
    assert table.loc[3, "staff_hours"] == 400.0


def test_each_batch_is_one_nsga2_generation(tmp_path, monkeypatch):
    """NSGA-II's population is the batch: candidates 4 to 7 are the children of 0 to 3. With
    Optuna's default population of 50, a search of 48 candidates was a random search."""
    from optuna.samplers import NSGAIISampler

    _, study = _made_up_search(tmp_path, monkeypatch, search={"sampler": "nsga2", "trials": 8,
                                                              "batch": 4})
    key = NSGAIISampler._GENERATION_KEY
    assert [t.system_attrs[key] for t in study.get_trials()] == [0] * 4 + [1] * 4


def _front_runs(values: dict[str, tuple[float, float, float]]) -> pd.DataFrame:
    rows = [{"variant": "baseline", "replication": r, "attainment": 0.0, "staff_hours": 0.0,
             "persistent_absence": 0.0} for r in range(2)]
    rows += [{"variant": v, "replication": r, "attainment": a, "staff_hours": s,
              "persistent_absence": p} for v, (a, s, p) in values.items() for r in range(2)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("choose, constraints, best, feasible", [
    # A breaks staff_hours; B is on its bound (met), C on persistent_absence's: best attainment B
    (None, None, "B", True),
    # fewest staff hours among those that meet the constraints: C (not A, which breaks one)
    ("staff_hours", None, "C", True),
    # C exactly at attainment's minimum meets it
    ("staff_hours", {"attainment": {"min": 0.75}, "staff_hours": {"max": 400}}, "C", True),
    # none meets them: the best of all on attainment, said to be infeasible
    (None, {"staff_hours": {"max": 10}}, "A", False),
])
def test_the_chosen_policy_is_the_best_that_meets_the_constraints(tmp_path, choose, constraints,
                                                                 best, feasible):
    """Re-evaluated front: A (0.95, 410 h, 0.125), B (0.8, 400 h, 0.125), C (0.75, 100 h, 0.25).
    Bounds are inclusive, as in the search; ``choose`` names the objective to pick by, in its
    own direction."""
    from srmsim.explore.optimise import choose_best

    extra: dict = {} if choose is None else {"choose": choose}
    if constraints is not None:
        extra["constraints"] = constraints
    opt = _optimisation(tmp_path, **extra)
    runs = _front_runs({"A": (0.95, 410.0, 0.125), "B": (0.8, 400.0, 0.125),
                        "C": (0.75, 100.0, 0.25)})
    assert choose_best(opt, runs)[:2] == (best, feasible)


def test_the_front_is_re_evaluated_on_fresh_states_of_the_world(tmp_path):
    """The front's replications share no seed with the search's: a policy chosen because it
    did well on the search's replications is judged on others (a winner's curse otherwise)."""
    from srmsim.rng import replication_seeds

    opt = _optimisation(tmp_path, replications=4, reevaluate={"replications": 20})
    search_seeds = set(replication_seeds(opt.root_seed, 4))
    assert not search_seeds & set(replication_seeds(opt.front_seed, 20))
    assert _optimisation(tmp_path, reevaluate={"seed": 9}).front_seed == 9


# --- discovery: which box is reported -------------------------------------------------------


class _TenRuns:
    """An experiment's results as discover() reads them, without a simulation: the ten runs
    peeled by hand above, the condition ``gain < 0.5`` holding where y does, and a range of a
    (-1 to 10) wider than the runs' (0 to 9)."""

    def __init__(self, path):
        x, y = _ten_runs()
        self.path, self.names, self.bounds = path, ["a"], {"a": (-1.0, 10.0)}
        self.parameters = x.rename_axis("replication")
        self._table = pd.DataFrame({"gain": np.where(y, 0.0, 1.0)}, index=x.index)

    def variant(self, name):
        return "on"

    def outcome_table(self, variant):
        return self._table

    def complete_replications(self, variant):
        return self._table.index


@pytest.mark.parametrize("min_density, box", [(None, 2), (0.8, 1), (0.875, 1), (0.9, 2),
                                              (0.7, 1)])
def test_min_density_picks_the_box_of_most_coverage_that_reaches_it(monkeypatch, min_density,
                                                                    box):
    """The trajectory peeled by hand (densities 0.7, 0.875, 1; coverage 1, 1, 6/7), with
    peel_alpha 0.2: by default the last box; with min_density, the box of highest coverage
    whose density reaches it (0.875 reaches 0.875), the denser of equal coverage (0.7: box 1,
    not box 0)."""
    from srmsim.explore import discovery

    monkeypatch.setattr(discovery, "Explored", _TenRuns)
    found = discovery.discover("results", "gain < 0.5", peel_alpha=0.2, paste_alpha=0.2,
                               min_density=min_density)
    assert found.cases.tolist() == _ten_runs()[1].tolist()
    assert found.box_index == box
    assert found.stats["density"] == [0.7, 0.875, 1.0][box]


def test_the_written_discovery_keeps_six_figures_and_prints_shares_as_percentages(monkeypatch,
                                                                                   tmp_path):
    """The hand-peeled box in the files a trust reads: prim_trajectory.csv to 6 significant
    figures (coverage 6/7 = 0.857143), discovery.txt in percentages of runs and the box's
    limits within the parameter's range as the experiment set it (not the runs' own), with the
    quasi-p computed by hand (0.7^6 = 0.12); mass_min (0.3: 3 of the 10 runs) holds for the
    classification tree's leaves as for PRIM's boxes."""
    from srmsim.explore import discovery

    monkeypatch.setattr(discovery, "Explored", _TenRuns)
    found = discovery.discover("results", "gain < 0.5", peel_alpha=0.2, paste_alpha=0.2,
                               mass_min=0.3)
    discovery.write_discovery(found, tmp_path / "d", results=tmp_path)
    traj = (tmp_path / "d" / "prim_trajectory.csv").read_text().splitlines()
    assert traj[0] == "box,phase,coverage,density,mass,res_dim,runs,cases"
    assert traj[3] == "2,peel,0.857143,1,0.6,1,6,6"
    text = (tmp_path / "d" / "discovery.txt").read_text()
    assert "holds in 7 of 10 runs (70%)" in text
    assert "PRIM box 2: coverage 86%, density 100%, mass 60% (6 runs), 1 restricted parameter" \
        in text
    assert "a: 1.5 .. 7.5 (of -1 .. 10; quasi-p 0.12)" in text
    leaves = pd.read_csv(tmp_path / "d" / "cart_leaves.csv")
    assert leaves["runs"].sum() == 10 and leaves["runs"].min() >= 3


def test_tpe_draws_at_random_for_the_first_batch_only(tmp_path):
    """TPE samples at random until n_startup_trials have finished (Optuna's documented
    meaning): one batch, so the second batch is already proposed from the first's results.
    Optuna's default of 10 made a search of batches of 4 random for its first three."""
    from srmsim.explore.optimise import _sampler

    opt = _optimisation(tmp_path, objectives={"attainment": "maximise"},
                        search={"sampler": "tpe", "trials": 12, "batch": 4})
    samplers = [_sampler(opt, k) for k in range(3)]
    assert [s._n_startup_trials for s in samplers] == [4, 4, 4]


def test_a_tiny_peel_and_paste_match_the_ones_done_by_hand():
    """a = 0..7, cases y = 0 1 1 0 1 1 1 0 (by a), peel_alpha 0.2, paste_alpha 0.3.

    Peel 1: the top (a = 6, 7) and the bottom (a = 0, 1) each leave 4 cases in 6 runs: a tie,
    taken by the upper peel, listed first (limit 5.5). Peel 2: the bottom (a = 0, 1; index
    floor(5 * 0.2) = 1) leaves 3 of 4, limit 1.5; the top (a = 4, 5, both cases) lowers the
    density. Then no peel helps. Paste 1: the slab below the box holds a = 0, 1, the one above
    a = 6, 7; each paste takes back the run nearest the box (the 30% share, at least one:
    index ceil(1 * 0.7) = 1 of the slab below, floor(1 * 0.3) = 0 of the slab above), both
    cases: 4 of 5 either way, a tie taken by the lower paste, listed first (limit 0.5).
    Paste 2: a = 6 (a case) at the top gives 5 of 6 (limit 6.5); a = 0 at the bottom is a
    non-case. Paste 3: a = 0 or a = 7, both non-cases: stop."""
    x = pd.DataFrame({"a": np.arange(8.0)})
    y = np.array([0, 1, 1, 0, 1, 1, 1, 0], dtype=bool)
    found = prim(x, y, peel_alpha=0.2, paste_alpha=0.3)
    traj = found.trajectory
    assert traj["phase"].tolist() == ["start", "peel", "peel", "paste", "paste"]
    assert traj["runs"].tolist() == [8, 6, 4, 5, 6] and traj["cases"].tolist() == [5, 4, 3, 4, 5]
    assert [(lim.loc["low", "a"], lim.loc["high", "a"]) for lim in found.limits] == [
        (0.0, 7.0), (0.0, 5.5), (1.5, 5.5), (0.5, 5.5), (0.5, 6.5)]


def test_a_paste_that_leaves_the_density_as_it_was_is_not_made():
    """a = 0..7, y = 0 1 1 1 1 0 0 0, peel_alpha 0.2: the peels leave a = 1..3, all cases
    (limits 0.5 and 3.5). Pasting a = 4, a case, keeps the density at 1: no gain, so no paste
    (EMA Workbench pastes only while the objective is above 0)."""
    x = pd.DataFrame({"a": np.arange(8.0)})
    y = np.array([0, 1, 1, 1, 1, 0, 0, 0], dtype=bool)
    found = prim(x, y, peel_alpha=0.2, paste_alpha=0.05)
    assert found.trajectory["phase"].tolist() == ["start", "peel", "peel", "peel"]
    assert (found.limits[-1].loc["low", "a"], found.limits[-1].loc["high", "a"]) == (0.5, 3.5)


def test_a_policy_proposed_twice_is_on_the_front_once_and_levers_keep_their_step(tmp_path,
                                                                                 monkeypatch):
    """An integer lever of step 3 from 2 to 11 has 4 values; 8 candidates must repeat some.
    Optuna draws only values on the step (2, 5, 8, 11), and the front lists each policy once
    (the candidates of a policy share their runs, so their results are the same)."""
    from srmsim.explore import optimise as module

    key = "policy.workflows.w.cooldown_weeks"

    def made_up(opt, store, trials, workers, scheduler):
        return pd.DataFrame([{"variant": module._variant(t.number), "replication": r,
                              "attainment": float(t.params[key]), "staff_hours": 100.0,
                              "persistent_absence": 0.1} for t in trials for r in range(3)])

    monkeypatch.setattr(module, "_evaluate", made_up)
    opt = _optimisation(tmp_path, levers={key: {"low": 2, "high": 11, "integer": True,
                                                "step": 3}})
    study = module.search(opt, tmp_path / "out", progress=False)
    table = module.trials_table(opt, study)
    assert set(table[key]) <= {2, 5, 8, 11} and len(table) == 8
    front = table[table["pareto"]]
    assert front[key].tolist() == [table[key].max()]  # the longest cooldown, listed once


def test_one_objective_is_searched_by_tpe_and_several_by_nsga2(tmp_path):
    """The default sampler: TPE for one objective, NSGA-II (a Pareto front) for several."""
    one = _optimisation(tmp_path, objectives={"attainment": "maximise"}, search={"trials": 8})
    two = _optimisation(tmp_path, search={"trials": 8})
    assert (one.sampler_name, two.sampler_name) == ("tpe", "nsga2")


def test_at_most_front_max_policies_are_re_evaluated_spread_along_the_first_objective():
    """Of 5 front policies and room for 3, the two ends and the middle of the first objective
    (sorted), whatever order the front lists them in."""
    from srmsim.explore.optimise import _spread

    opt = SimpleNamespace(config=SimpleNamespace(objectives={"attainment": "maximise",
                                                             "staff_hours": "minimise"}))
    front = pd.DataFrame({"trial": [7, 3, 9, 1, 4], "attainment": [0.5, 0.9, 0.1, 0.3, 0.7],
                          "staff_hours": [50.0, 90.0, 10.0, 30.0, 70.0]})
    assert _spread(front, opt, 3)["trial"].tolist() == [9, 7, 3]
    assert _spread(front, opt, 5)["trial"].tolist() == [7, 3, 9, 1, 4]


@pytest.mark.parametrize("method", ["sobol", "morris"])
def test_each_index_is_salibs_own_for_that_parameter(method):
    """Every column against SALib's documented analysis of the same problem (names and bounds in
    sorted order, first order only, the same level and bootstrap seed): an interval or a
    spread filed under another heading (S1's interval as ST's, mu*'s interval as sigma) read
    as another index. sigma and mu* differ here (a*b is not additive)."""
    from SALib.analyze import morris, sobol

    design = DesignConfig(method=method, n=64 if method == "sobol" else 20)
    x = sample(design, UNCERTAIN, seed=2)
    y = np.sin(x[:, 0]) + x[:, 1] ** 2 + 2 * x[:, 0] * x[:, 2]
    got = indices(x, y, UNCERTAIN, design.model_dump(), level=0.9, seed=4)
    problem = {"num_vars": 3, "names": ["a", "b", "c"],
               "bounds": [[0.0, 2.0], [0.0, 1.0], [-1.0, 1.0]]}
    assert got["parameter"].tolist() == problem["names"]
    if method == "sobol":
        ref = sobol.analyze(problem, y, calc_second_order=False, conf_level=0.9,
                            seed=np.random.default_rng(4))
        columns = ["S1", "S1_conf", "ST", "ST_conf"]
    else:
        ref = morris.analyze(problem, x, y, conf_level=0.9, num_levels=4, seed=4)
        columns = ["mu_star", "mu_star_conf", "mu", "sigma"]
    for column in columns:
        np.testing.assert_allclose(got[column], ref[column], rtol=1e-12, err_msg=column)
    assert not np.allclose(got[columns[1]], got[columns[3]])


@pytest.mark.parametrize("design, points", [
    (DesignConfig(method="sobol", n=8), 8 * (3 + 2)),
    (DesignConfig(method="sobol", n=8, second_order=True), 8 * (2 * 3 + 2)),
    (DesignConfig(method="morris", n=5), 5 * (3 + 1)),
    (DesignConfig(method="morris", n=5, levels=6), 5 * (3 + 1))])
def test_a_designs_size_is_the_number_of_points_it_draws(design, points):
    """Saltelli's design has N (D + 2) points, N (2D + 2) with second-order indices; Morris's
    N trajectories of D + 1 (SALib's documentation). The experiment runs size(d) replications,
    so a size off the sample's left design points unrun or ran points without parameters."""
    assert design.size(3) == points == len(sample(design, UNCERTAIN, 1))


@pytest.mark.parametrize("design", [DesignConfig(method="sobol", n=8),
                                    DesignConfig(method="morris", n=4), DesignConfig()],
                         ids=["sobol", "morris", "lhs"])
def test_a_designs_columns_are_the_parameters_in_sorted_order_however_they_are_listed(design):
    """Column j is the j-th parameter by name, whatever order the experiment file lists them
    in: reordering the uncertain: section gives each parameter the same draws, and
    parameters.csv, the manifest and the indices name the same columns."""
    listed = {"c": UNCERTAIN["c"], "a": UNCERTAIN["a"], "b": UNCERTAIN["b"]}
    drawn = sample(design, listed, 3, n=8)
    np.testing.assert_array_equal(drawn, sample(design, UNCERTAIN, 3, n=8))
    assert drawn[:, 0].min() >= 0.0 and drawn[:, 0].max() > 1.0  # a's range is (0, 2)
    assert drawn[:, 2].min() < 0.0  # c's is (-1, 1)


def test_a_mean_of_replications_on_a_bound_meets_it(tmp_path, monkeypatch):
    """Three replications each exactly at persistent_absence's maximum of 0.2 average
    0.20000000000000004 in floating point: the policy was judged to break the constraint, in
    the search (Optuna's constraint value) and when the best policy is chosen."""
    from srmsim.explore.optimise import Bound, choose_best, trials_table

    assert sum([0.2] * 3) / 3 > 0.2  # the rounding this is about
    bound = Bound(max=0.2)
    assert bound.violation(sum([0.2] * 3) / 3) == 0.0
    assert bound.violation(0.2000001) > 0 and Bound(min=0.2).violation(0.1999999) > 0
    assert Bound(min=0.0, max=1.0).violation(0.5) == -0.5
    opt = _optimisation(tmp_path, constraints={"persistent_absence": {"max": 0.2}})
    rows = [{"variant": v, "replication": r, "attainment": a, "staff_hours": 100.0,
             "persistent_absence": 0.2 if v == "A" else 0.3}
            for v, a in (("baseline", 0.0), ("A", 0.5), ("B", 0.9)) for r in range(3)]
    assert choose_best(opt, pd.DataFrame(rows))[:2] == ("A", True)
    monkeypatch.setitem(MADE_UP, 0, (0.5, 100.0, 0.2))  # candidate 0: on the bound
    monkeypatch.setitem(MADE_UP, 1, (0.875, 90.0, 0.2000001))  # candidate 1: just over it
    opt, study = _made_up_search(tmp_path, monkeypatch, constraints={
        "persistent_absence": {"max": 0.2}})
    table = trials_table(opt, study).set_index("trial")
    assert table.loc[0, "feasible"] and not table.loc[1, "feasible"]
