"""The learning loop: effect modifiers, choosers, the oracle, regret and what the learner may see."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from srmsim.errors import ScenarioError
from srmsim.experiment.learning import learning_curve
from srmsim.experiment.outcomes import measure
from srmsim.model import TrustModel
from srmsim.policy.chooser import TRAINING_COLUMNS
from srmsim.scenario import scenario_from_dict

# one worker builds this module's result fixtures once (they would be built on each worker)
pytestmark = pytest.mark.xdist_group("learning")

CANDIDATES = ["reading_club", "parent_reading_at_home", "small_group_tuition"]
FEATURES = ["fsm", "sen", "eal", "prior_attainment", "reading_gap"]
#: strong, known heterogeneity: each action is best for a different group of students
STRONG = {"reading_club": {"eal": 1.5, "fsm": -0.5},
          "parent_reading_at_home": {"fsm": -0.9, "eal": -0.9, "prior_attainment": 0.6},
          "small_group_tuition": {"sen": 1.5, "prior_attainment": -0.6}}


def learning_scenario(kind: str = "learned", modifiers: dict | None = None, years: int = 2,
                      schools: int = 6, **chooser):
    """A small trust: termly referral of weak readers to one of three reading actions, all with
    the same teaching-assistant time, reviewed at the next term's reading test."""
    actions = {}
    for name, reading in zip(CANDIDATES, (5.0, 5.0, 4.0), strict=True):
        actions[name] = {"effect": {"reading": reading}, "weeks": 13, "take_up": 0.9,
                         "staff_minutes": {"teaching_assistant": 30},
                         "modifiers": (modifiers or {}).get(name, {})}
    step = {"candidates": CANDIDATES, "weeks": 13, "chooser": {"kind": kind, **chooser}}
    if kind == "learned":
        step["chooser"] = {"measure": "reading_gap", "features": FEATURES, "min_cases": 15,
                           **step["chooser"]}
    data = {
        "name": "learning_test", "years": years, "seed": 5,
        "trust": {"n_schools": schools, "students_per_year_group": 60},
        "policy": {
            "rules": {"behind": {"when": "reading_gap < -12", "cadence": "termly"}},
            "actions": actions,
            "workflows": {"reading": {"trigger": "behind", "priority": "-reading_gap",
                                      "cooldown_weeks": 13, "steps": [step]}},
            "staff": {"school": {"teaching_assistant": 600}},
        },
    }
    return scenario_from_dict(data, "learning_test")


def run(scenario, seed: int = 3):
    model = TrustModel(scenario, seed=seed)
    model.run()
    return model, model.results()


def by_term(result) -> pd.Series:
    return result.decisions.groupby("term")["regret"].mean()


@pytest.fixture(scope="module")
def strong_runs():
    out = {}
    for kind in ("learned", "random", "oracle"):
        out[kind] = run(learning_scenario(kind, STRONG, years=3))
    out["thompson"] = run(learning_scenario("learned", STRONG, years=3, exploration="thompson"))
    return out


@pytest.mark.once
def test_learned_chooser_regret_falls_term_by_term_and_ends_well_below_random(strong_runs):
    learned = by_term(strong_runs["learned"][1])
    random_ = by_term(strong_runs["random"][1])
    oracle = strong_runs["oracle"][1].decisions
    assert (oracle["regret"] == 0).all() and (oracle["action"] == oracle["oracle_action"]).all()
    # before any model exists the learner explores at random; by the last year it is far better
    early, late = learned.iloc[:2].mean(), learned.iloc[-3:].mean()
    assert late < 0.5 * early
    assert late < 0.4 * random_.iloc[-3:].mean()
    assert np.polyfit(learned.index, learned.to_numpy(), 1)[0] < 0  # the curve slopes down
    row = measure(strong_runs["learned"][1], ["oracle_match", "regret_t1", "regret_t9",
                                               "reading_per_100h"])
    assert row["regret_t9"] < row["regret_t1"] and row["reading_per_100h"] > 0
    how = strong_runs["learned"][1].decisions["how"]
    assert set(how) == {"learned", "explore"}
    events = strong_runs["learned"][1].events
    queued = events[events["event"] == "queued"]
    assert (queued["chosen_by"] != "").all() and (queued["oracle_action"] != "").all()
    assert (events.loc[events["event"] != "queued", "oracle_action"] == "").all()
    assert len(queued) == len(strong_runs["learned"][1].decisions)


@pytest.mark.once
def test_learned_chooser_delivers_more_reading_per_staff_hour_than_random(strong_runs):
    got = {k: measure(r, ["reading_per_100h"])["reading_per_100h"]
           for k, (_, r) in strong_runs.items()}
    assert got["random"] < got["learned"] <= got["oracle"] * 1.02
    assert got["random"] < got["thompson"] <= got["oracle"] * 1.02


def test_thompson_sampling_regret_falls_term_by_term_and_ends_well_below_random(strong_runs):
    thompson = by_term(strong_runs["thompson"][1])
    random_ = by_term(strong_runs["random"][1])
    early, late = thompson.iloc[:2].mean(), thompson.iloc[-3:].mean()
    assert late < 0.5 * early
    assert late < 0.4 * random_.iloc[-3:].mean()
    assert np.polyfit(thompson.index, thompson.to_numpy(), 1)[0] < 0
    d = strong_runs["thompson"][1].decisions
    # random only until every action has min_cases records; then every choice is sampled
    assert set(d["how"]) == {"thompson", "explore"}
    assert d.loc[d["how"] == "thompson", "predicted_gain"].notna().all()


def test_thompson_draws_come_from_the_bayesian_ridge_posterior():
    """Over many keyed draws, the sampled gains have the posterior mean and variance
    (x - x_mean)' Sigma (x - x_mean) + se(mean)^2 of scikit-learn's BayesianRidge."""
    from sklearn.linear_model import BayesianRidge

    from srmsim.policy.chooser import posterior
    from srmsim.rng import CRN

    rng = np.random.default_rng(4)
    x = rng.normal(size=(80, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 3.0 + rng.normal(scale=2.0, size=80)
    m = BayesianRidge().fit(x, y)
    post = posterior(m, x)
    point = np.array([1.5, -1.0, 2.0])
    z = np.stack([CRN(1).normal(f"t.{j}", 0, np.arange(40_000)) for j in range(4)], axis=1)
    draws = (point @ post.coef + post.intercept + post.y_se * z[:, 0]
             + (z[:, 1:] @ post.root.T) @ (point - post.x_mean))
    dx = point - x.mean(axis=0)
    var = dx @ m.sigma_ @ dx + 1.0 / (m.alpha_ * len(x))
    assert abs(draws.mean() - m.predict(point[None])[0]) < 4 * np.sqrt(var / len(z))
    assert abs(draws.var() / var - 1) < 0.03


def test_attendance_gained_is_the_expected_difference_the_effects_make():
    """The counted days of attendance equal (within sampling error) the sessions actually
    gained against the same run without the absence effect: with attendance not feeding back
    into reading (``attainment_attendance: 0``), both runs refer and treat the same students."""
    base = learning_scenario("fixed", years=1, schools=3).with_overrides(
        {"dynamics.attainment_attendance": 0.0, "dynamics.attainment_engagement": 0.0})
    res = {}
    for shift in (0.0, -0.4):
        sc = base.with_overrides({"policy.actions.reading_club.effect": {
            "reading": 5.0, "absence": shift, "engagement": -shift / 2}})
        res[shift] = run(sc)[1]
    on, off = res[-0.4], res[0.0]
    pd.testing.assert_frame_equal(on.events, off.events)  # the same cases
    assert off.summary["attendance_delivered"] == 0
    sessions = (on.students["sessions_attended"].sum() - off.students["sessions_attended"].sum())
    days = on.summary["attendance_delivered"]
    assert sessions > 200 and abs(2 * days / sessions - 1) < 0.1
    # the by-term and by-school weekly figures add up to the run's totals
    w = on.weekly
    assert np.isclose(w["attendance_days_delivered"].sum(), days)
    assert np.isclose(w["reading_delivered"].sum(), on.summary["reading_delivered"])
    assert np.isclose((w["staff_minutes_used"] + w["pool_minutes_used"]).sum() / 60,
                      on.summary["staff_hours"])
    row = measure(on, ["attendance_per_100h", *[f"attendance_per_100h_t{k}" for k in (1, 2, 3)],
                       "attendance_per_100h_fsm", "reading_per_100h_sen"])
    assert np.isclose(row["attendance_per_100h"], 100 * days / on.summary["staff_hours"])
    assert row["attendance_per_100h_t1"] == 0  # termly referrals start at the first term's end
    assert row["attendance_per_100h_t2"] > 0 and row["attendance_per_100h_t3"] > 0
    fsm = on.students["fsm"].astype(bool)
    assert np.isclose(row["attendance_per_100h_fsm"],
                      100 * 60 * on.summary["attendance_delivered_fsm"]
                      / on.students.loc[fsm, "staff_minutes"].sum())
    assert 0 < on.summary["attendance_delivered_fsm"] < days
    assert np.isfinite(row["reading_per_100h_sen"])


def test_learned_chooser_allocates_a_weeks_referrals_within_each_roles_free_minutes():
    """Two roles: the reading club (teaching assistant) and tuition (teacher) work nearly as
    well, with two TA and three teacher places a school and far more referrals. Chosen one by
    one, every waiting referral keeps the action that looked best when it was referred, so one
    role's places sit empty while the other's queue grows; allocated together each week, both
    roles' places are filled."""
    sc = learning_scenario("learned", years=2, schools=3, exploration=0.0, min_cases=5)
    sc = sc.with_overrides({
        "policy.workflows.reading.steps": [{
            "candidates": ["reading_club", "small_group_tuition"], "weeks": 13,
            "chooser": {"kind": "learned", "measure": "reading_gap", "features": FEATURES,
                        "min_cases": 5, "exploration": 0.0}}],
        "policy.actions.small_group_tuition.staff_minutes": {"teacher": 30,
                                                             "teaching_assistant": 0},
        "policy.actions.small_group_tuition.effect": {"reading": 4.5},
        "policy.staff.school": {"teaching_assistant": 60, "teacher": 90}})
    model, result = run(sc)
    d = result.decisions
    learned = d[d["how"] == "learned"]
    assert len(learned) > 50
    chosen = learned["action"].astype(str).value_counts()
    assert chosen.get("small_group_tuition", 0) > 5 and chosen.get("reading_club", 0) > 5
    assert (learned["run_week"] > learned["queued_week"]).any()  # re-allocated while waiting
    w = result.weekly
    late = w[w["run_week"] >= 13]
    for role in ("teacher", "teaching_assistant"):
        used, available = w[f"minutes_used_{role}"], w[f"minutes_available_{role}"]
        assert (used <= available).all()
        assert (late[f"minutes_used_{role}"] == late[f"minutes_available_{role}"]).mean() > 0.9


def test_no_training_frame_holds_a_raw_uid_latent_or_oracle_column(strong_runs):
    model, result = strong_runs["learned"]
    learner = next(iter(model.policy.choosers.learners.values()))
    frame = learner.training_frame(model.week_index)
    assert len(frame) > 100
    assert list(frame.columns) == [*TRAINING_COLUMNS, *FEATURES]
    assert not any(c in frame.columns for c in ("uid", "row", "regret", "oracle_action"))
    assert not any(c.startswith(("latent", "oracle", "eff_")) for c in frame.columns)
    uids = {str(u) for u in model.all_students().uid}
    assert not set(frame["pid"]) & uids  # pseudonyms, not ids
    assert set(frame["pid"]) <= set(result.students["student"])  # the run's keyed pseudonyms


def test_with_no_heterogeneity_learning_does_no_worse_than_fixed_beyond_noise():
    """No modifiers and reading_club best for everyone: fixed (reading_club) is the oracle's choice;
    the learner pays only for exploring."""
    fixed = run(learning_scenario("fixed"))[1]
    learned = run(learning_scenario("learned"))[1]
    f, lr = (measure(r, ["reading_per_100h", "regret"]) for r in (fixed, learned))
    assert f["regret"] == 0
    assert lr["reading_per_100h"] > 0.9 * f["reading_per_100h"]
    late = learned.decisions[learned.decisions["term"] >= 4]
    assert (late["regret"] == 0).mean() > 0.8


def test_modifiers_scale_each_students_effect():
    base = learning_scenario("fixed", years=1, schools=3)
    none = run(base)[0]
    neutral = run(base.with_overrides(
        {"policy.actions.reading_club.modifiers": {"eal": 0.0}}))[0]
    assert np.array_equal(none.students.reading_age, neutral.students.reading_age)
    fsm_none = run(base.with_overrides(
        {"policy.actions.reading_club.modifiers": {"fsm": -1.0}}))[0]
    assert fsm_none.policy.delivered["reading"] < none.policy.delivered["reading"]
    # the multiplier itself: max(0, 1 + per_unit * (value - center))
    m = run(base.with_overrides({"policy.actions.reading_club.modifiers": {
        "prior_attainment": {"per_unit": -2.0, "center": 0.1}, "eal": 0.5}}))[0]
    a = m.policy.policy.action_names.index("reading_club")
    rows = np.arange(len(m.students))
    t = m.students
    expect = np.maximum(1 - 2.0 * (t.prior_attainment.astype(float) - 0.1) + 0.5 * t.eal, 0)
    got = m.policy.modifiers.of_action(m.policy.ctx, rows, a)
    assert np.allclose(got, expect) and (got == 0).any()


def test_random_and_rule_choosers_are_recorded_and_follow_their_rules():
    r = run(learning_scenario("random", STRONG, years=1, schools=3))[1].decisions
    assert set(r["how"]) == {"random"} and set(r["action"]) == set(CANDIDATES)
    shares = r["action"].astype(str).value_counts(normalize=True)
    assert shares.min() > 0.2
    rule = learning_scenario("rule", STRONG, years=1, schools=3,
                             rules={"small_group_tuition": "sen", "parent_reading_at_home": "eal"})
    model, result = run(rule)
    d = result.decisions.merge(result.students[["student", "sen", "eal"]], on="student",
                               suffixes=("", "_s"))
    # the first candidate (in the step's order) whose rule holds; else the step's action
    assert (d.loc[d["eal"], "action"] == "parent_reading_at_home").all()
    assert (d.loc[d["sen"] & ~d["eal"], "action"] == "small_group_tuition").all()
    assert (d.loc[~d["sen"] & ~d["eal"], "action"] == "reading_club").all()


def _tiny_experiment(tmp_path):
    from srmsim.experiment.spec import experiment_from_dict

    sc = learning_scenario("learned", STRONG, years=1, schools=3)
    path = tmp_path / "sc.yaml"
    path.write_text(sc.to_yaml(), encoding="utf-8")
    exp = {"name": "l", "scenario": str(path), "baseline": "fixed", "replications": 1, "seed": 1,
           "outcomes": ["regret", "oracle_match", "regret_t1", "regret_t3", "oracle_match_t3",
                        "reading_per_100h", "reading_per_100h_t3", "attendance_per_100h"],
           "variants": {"fixed": {"policy.workflows.reading.steps": [
               {"candidates": CANDIDATES, "weeks": 13, "chooser": {"kind": "fixed"}}]},
               "learned": {},
               "thompson": {"policy.workflows.reading.steps": [
                   {"candidates": CANDIDATES, "weeks": 13, "chooser": {
                       "kind": "learned", "measure": "reading_gap", "features": FEATURES,
                       "min_cases": 15, "exploration": "thompson"}}]}}}
    return experiment_from_dict(exp, "exp", tmp_path)


def _runs(exp, out, workers):
    from srmsim.experiment.compare import load_runs
    from srmsim.experiment.runner import run_experiment

    run_experiment(exp, out, workers=workers, progress=False)
    runs = load_runs(out)[0].sort_values(["variant", "replication"])
    return runs.drop(columns=["runtime_seconds"]).reset_index(drop=True)


@pytest.mark.once
def test_same_seed_same_decisions_and_compare_prints_the_learning_curve(tmp_path):
    sc = learning_scenario("learned", STRONG, years=1, schools=3)
    a, b = (run(sc, seed=9)[1].decisions for _ in range(2))
    pd.testing.assert_frame_equal(a, b)
    runs = _runs(_tiny_experiment(tmp_path), tmp_path / "w1", 1)
    curve = learning_curve(runs)
    assert set(curve["measure"]) == {"regret", "oracle_match", "reading_per_100h"}
    assert (curve["term"] <= 3).all()
    proc = subprocess.run([sys.executable, "-m", "srmsim.cli", "compare", str(tmp_path / "w1")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "learning curve: regret per referral" in proc.stdout
    assert (tmp_path / "w1" / "learning_curve.csv").exists()
    # the oracle match is a share, printed as a percentage ('0.21 [0.098, 0.323]' before);
    # the gains per 100 staff hours say their unit
    match = proc.stdout.split("learning curve: share matched to the oracle")[1].split("\n\n")[0]
    cells = re.findall(r"-?\d+\.\d%(?: \(-?\d+\.\d% to -?\d+\.\d%\))?", match)
    assert len(cells) == len(curve[curve["measure"] == "oracle_match"]), match
    assert "[" not in proc.stdout and "nan" not in proc.stdout
    reading = proc.stdout.split("learning curve: reading months")[1]
    assert re.search(r"\d(?: \(-?[\d.]+ to -?[\d.]+\))? months", reading), reading


def test_learning_curve_cells_read_in_their_unit():
    from srmsim.experiment.learning import curve_cell

    assert curve_cell("oracle_match", 0.21, 0.098, 0.323) == "21.0% (9.8% to 32.3%)"
    assert curve_cell("reading_per_100h", 82.2, 36.3, 128.4) == "82.2 (36.3 to 128) months"
    assert curve_cell("attendance_per_100h", 4.5, float("nan"), float("nan")) == "4.5 days"
    assert curve_cell("regret", 2.43, -2.06, 6.93) == "2.43 (-2.06 to 6.93)"
    assert curve_cell("oracle_match", float("nan"), float("nan"), float("nan")) == "–"


def test_the_printed_learning_curve_says_over_how_many_replications_each_point_is():
    """A replication with no referral in a term has no regret there and was dropped silently:
    the table read as a mean over all 4 replications when it was over 2 of them."""
    from srmsim.experiment.learning import format_learning_curve

    runs = pd.DataFrame({"variant": ["a"] * 4 + ["b"] * 4,
                         "regret_t1": [1.0, 2.0, 3.0, 4.0, 2.0, 2.5, 3.0, 3.5],
                         "regret_t2": [1.0, np.nan, np.inf, 2.0, 1.0, 1.5, 2.0, 2.5]})
    curve = learning_curve(runs)
    a2 = curve[(curve["variant"] == "a") & (curve["term"] == 2)].iloc[0]
    assert (a2["replications"], a2["replications_total"], a2["mean"]) == (2, 4, 1.5)
    text = format_learning_curve(curve)
    assert "(mean and 95% CI over 4 replications)" in text
    assert text.count("over 2 of 4 replications") == 1  # only the point that is short
    row_a = next(line for line in text.splitlines() if line.lstrip().startswith("a "))
    assert row_a.rstrip().endswith("over 2 of 4 replications"), row_a
    # variants with different numbers of runs (a failed run is left out): every cell says
    uneven = format_learning_curve(learning_curve(runs.iloc[:7]))
    assert "(mean and 95% CI over replications)" in uneven
    assert uneven.count("over 3 of 3") == 2 and uneven.count("over 4 of 4") == 1
    assert "over 2 of 4" in uneven


@pytest.mark.slow
def test_decisions_are_reproducible_across_workers(tmp_path):
    exp = _tiny_experiment(tmp_path)
    pd.testing.assert_frame_equal(_runs(exp, tmp_path / "w1", 1), _runs(exp, tmp_path / "w2", 2))


@pytest.mark.parametrize("change, where", [
    ({"candidates": ["reading_club", "no_such_action"]}, "candidates"),
    ({"action": "mentoring"}, "not among the candidates"),
    ({"chooser": {"kind": "learned"}}, "needs a measure and features"),
    ({"chooser": {"kind": "learned", "measure": "reading_gap", "features": ["latent_engagement"]}},
     "features[0]"),
    ({"chooser": {"kind": "rule", "rules": {"mentoring": "fsm"}}}, "not candidates"),
    ({"chooser": {"kind": "rule", "rules": {"reading_club": "__import__('os')"}}},
     "chooser.rules.reading_club"),
    ({"chooser": {"kind": "learned", "measure": "open('x')", "features": ["fsm"]}},
     "chooser.measure"),
    ({"chooser": {"exploration": 1.5}}, "exploration"),
    ({"chooser": {"exploration": -0.1}}, "exploration"),
    ({"chooser": {"kind": "learned", "measure": "reading_gap", "features": ["uid"]}},
     "features[0]: unknown profile field 'uid'"),
    # pooled_risk with no pool model is NaN all run: the rule never held, the measure's change
    # was never a number (the learner explored for ever), silently
    ({"chooser": {"kind": "rule", "rules": {"small_group_tuition": "pooled_risk > 0.3"}}},
     "chooser.rules: reads pooled_risk, but there is no policy.pool_model"),
    ({"chooser": {"kind": "learned", "measure": "pooled_risk", "features": ["fsm"]}},
     "chooser.measure: reads pooled_risk, but there is no policy.pool_model"),
])
def test_bad_choice_steps_are_rejected_with_the_key_path(change, where):
    step = {"candidates": ["reading_club", "small_group_tuition"], "weeks": 13, **change}
    data = {"policy": {"rules": {"r": "reading_gap < -12"},
                       "workflows": {"w": {"trigger": "r", "steps": [step]}}}}
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(data, "bad.yaml")
    assert where in str(err.value)


@pytest.mark.parametrize("modifiers, where", [
    ({"bogus": 1.0}, "unknown field 'bogus'"),
    ({"fsm": float("nan")}, "finite"),
    ({"fsm": {"per_unit": 1.0, "centre": 2}}, "centre"),
    ({"fsm": "import os"}, "modifiers.fsm"),
])
def test_bad_modifiers_are_rejected(modifiers, where):
    data = {"policy": {"actions": {"reading_club": {"modifiers": modifiers}}}}
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(data, "bad.yaml")
    assert where in str(err.value)


@pytest.mark.once
def test_srmsim_validate_rejects_a_bad_modifier_with_exit_2(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("policy:\n  actions:\n    reading_club:\n      modifiers: {bogus: 1}\n")
    proc = subprocess.run([sys.executable, "-m", "srmsim.cli", "validate", str(f)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "bogus" in proc.stderr


def test_a_modifier_slope_can_be_uncertain_in_an_experiment(tmp_path):
    from srmsim.experiment.spec import experiment_from_dict

    path = tmp_path / "sc.yaml"
    path.write_text(learning_scenario("random", STRONG, years=1, schools=2).to_yaml(),
                    encoding="utf-8")
    exp = experiment_from_dict({
        "name": "u", "scenario": str(path), "baseline": "a", "replications": 4,
        "variants": {"a": {}}, "outcomes": ["regret"],
        "uncertain": {"policy.actions.reading_club.modifiers.eal": [0.0, 2.0]}}, "u", tmp_path)
    slopes = [exp.scenario_for("a", i).policy.actions["reading_club"].modifiers["eal"].per_unit
              for i in range(4)]
    assert len(set(slopes)) == 4 and all(0 <= s <= 2 for s in slopes)
    # the other modifiers of the action are kept
    assert "fsm" in exp.scenario_for("a", 0).policy.actions["reading_club"].modifiers


def test_a_target_no_candidate_changes_is_noted_and_its_regret_not_claimed(tmp_path, capsys):
    """target: wellbeing among reading actions: every true gain is 0, so `srmsim run` printed
    regret 0.00 and 100% oracle match (perfect choosing, whatever was chosen) and validate said
    nothing."""
    from srmsim.cli import main

    sc = learning_scenario("random", years=1, schools=2, target="wellbeing")
    path = tmp_path / "sc.yaml"
    path.write_text(sc.to_yaml(), encoding="utf-8")
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "note: policy.workflows.reading.steps[0].chooser.target is 'wellbeing'" in out
    table = dict(run(sc)[1].summary_table().itertuples(index=False))
    assert table["referrals given the oracle's action"].startswith("not measured")
    assert table["regret vs the oracle, per referral (target units)"].startswith("not measured")
    # a target the candidates do change is measured, and validate has no note
    reading = learning_scenario("random", years=1, schools=2)
    path.write_text(reading.to_yaml(), encoding="utf-8")
    assert main(["validate", str(path)]) == 0
    assert "chooser.target" not in capsys.readouterr().out
    table = dict(run(reading)[1].summary_table().itertuples(index=False))
    assert table["regret vs the oracle, per referral"].endswith(" months")
