"""Three defects earlier reviews noticed and left (session 35): the trial's group rows on
attendance against its ITT, the naive check's unit at load, and two-way clustered CR1's k."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from test_trial_review import _trial  # the trial review's small trial

from srmsim.trial.analyse import student_data, truths
from srmsim.trial.groups import ALL, group_truths, truth_effects


# ------------------------------------------------------------- 1. group attendance = the ITT's
def _students(possible, attended, interventions):
    n = len(possible)
    possible = np.asarray(possible, dtype=np.int64)
    attended = np.asarray(attended, dtype=np.int64)
    return pd.DataFrame({
        "uid": np.arange(n), "student": [f"s{i}" for i in range(n)], "school": [0, 1] * (n // 2),
        "fsm": [True, False] * (n // 2), "sen": False, "eal": False,
        "sessions_possible": possible, "sessions_attended": attended,
        "attendance_rate": attended / possible, "persistent_absent": attended < 0.9 * possible,
        "reading_gap_end": 0.0, "attainment": 0.0, "interventions": interventions,
        "staff_minutes": 0.0, "cost": 0.0})


def test_group_attendance_averages_students_as_the_itt_does_with_mid_year_joiners():
    """A full-year student (380 sessions) and a mid-year joiner (40): the policy lifts the
    joiner's attendance from 20/40 to 36/40 (+40 pp) and leaves the other at 342/380. The
    trial's ITT on attendance_rate is the mean of the two students' changes, +20 pp; the
    pooled share moves only 362/420 - 378/420 = +3.8 pp. The 'all treated-arm students'
    row printed beside the ITT was the pooled +3.8 pp; it is now +20 pp, the ITT's own."""
    possible = [380, 40, 380, 40]
    cf = _students(possible, [342, 20, 342, 20], [0, 0, 0, 0])
    tr = _students(possible, [342, 36, 342, 20], [0, 1, 0, 0])
    treated = np.array([True, True, False, False])
    rows = group_truths(tr, cf, treated).set_index(["group", "outcome"])
    effect = rows.loc[(ALL, "attendance"), "trial"] - rows.loc[(ALL, "attendance"),
                                                              "counterfactual"]
    pooled = 378 / 420 - 362 / 420
    trial = _trial(randomise={"unit": "students"})
    data = student_data(trial, tr, cf, treated, None)
    itt = truths(trial, data, data)["true_effect"]
    assert abs(itt - 0.2) < 1e-12 and abs(pooled - itt) > 0.15  # the definitions differ here
    assert abs(effect - itt) < 1e-12
    # the report's table is truth_effects over replications: its difference is the ITT's too
    table = pd.concat([group_truths(tr, cf, treated).assign(replication=r) for r in range(3)])
    eff = truth_effects(table).set_index(["group", "outcome"])
    assert abs(eff.loc[(ALL, "attendance"), "difference"] - itt) < 1e-12
    # the subgroups are measured the same way (the treated arm's not-FSM student: the joiner)
    assert abs(rows.loc[("not FSM", "attendance"), "trial"] - 36 / 40) < 1e-12


# ------------------------------------------------------------- 2. naive check in another unit
def _naive_trial(tmp_path, pre: str, post: str):
    import yaml
    from test_trial_review import SCENARIOS

    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump({
        "name": "t", "scenario": str(SCENARIOS / "reading_age.yaml"),
        "overrides": {"trust.n_schools": 2, "trust.students_per_year_group": 10},
        "randomise": {"unit": "students"}, "outcome": "reading_gap_end",
        "naive": {"pre": pre, "post": post}, "replications": 1, "seed": 1}))
    return path


def test_a_naive_check_in_another_unit_than_the_outcome_is_noted_at_load(tmp_path, capsys,
                                                                          monkeypatch):
    """A reading trial (months) whose naive check is attendance (a share) was accepted in
    silence, and only its report showed the naive rows in another unit and off the figure.
    validate and trial now say so when the file loads, naming both keys; a naive check in the
    outcome's unit gets no note."""
    import srmsim.trial
    from srmsim.cli import main

    path = _naive_trial(tmp_path, "attendance_autumn", "attendance_summer")
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "note: naive.post 'attendance_summer' is in share (0 to 1)" in out
    assert "outcome 'reading_gap_end' in months" in out

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(srmsim.trial, "run_trial", stop)
    with pytest.raises(Stop):
        main(["trial", str(path), "--out", str(tmp_path / "o")])
    assert "note: naive.post 'attendance_summer'" in capsys.readouterr().out
    same = _naive_trial(tmp_path, "reading_gap_start", "reading_gap_end")
    assert main(["validate", str(same)]) == 0
    assert "note:" not in capsys.readouterr().out


def test_a_naive_check_whose_pre_and_post_differ_in_unit_is_refused(tmp_path, capsys):
    """naive: {pre: reading_gap_start (months), post: attendance_summer (a share)} was run,
    and its 'naive' was a share minus a number of months (an attendance of 0.93 after a gap of
    -14 months: +14.93, printed in the share's unit). The file is now refused at load, exit 2,
    naming naive.pre and both units."""
    from srmsim.cli import main

    path = _naive_trial(tmp_path, "reading_gap_start", "attendance_summer")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "naive.pre" in err and "months" in err and "share" in err
    assert "Traceback" not in err


# ------------------------------------------------------------- 3. CR1's k with nested effects
def _sandwich_parts(d: pd.DataFrame, fes: list[str], clusterings: list[list[str]]):
    """The full dummy regression of y on the arm and every fixed effect, by numpy: the arm's
    coefficient and, per clustering (a list of columns; two = their intersection), G and the
    arm's entry of bread S'S bread without any small-sample factor."""
    parts = [np.ones(len(d)), (d["arm"] == "t").to_numpy(float)]
    for fe in fes:
        parts += list(pd.get_dummies(d[fe], drop_first=True, dtype=float).to_numpy().T)
    X = np.column_stack(parts)
    bread = np.linalg.inv(X.T @ X)
    b = bread @ X.T @ d["y"].to_numpy()
    e = d["y"].to_numpy() - X @ b
    out = []
    for cols in clusterings:
        g = d.groupby(cols, sort=False).ngroup().to_numpy()
        S = np.zeros((g.max() + 1, X.shape[1]))
        np.add.at(S, g, X * e[:, None])
        out.append((g.max() + 1, (bread @ S.T @ S @ bread)[1, 1]))
    return b[1], X.shape[1], out


def _school_term_panel(seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    school, term = np.repeat(np.arange(12), 24), np.tile(np.repeat(np.arange(6), 4), 12)
    arm = np.where(rng.random(school.size) < 0.5, "t", "c")
    y = (0.3 * (arm == "t") + rng.normal(size=12)[school] + rng.normal(size=6)[term]
         + rng.normal(size=school.size))
    return pd.DataFrame({"y": y, "arm": arm, "school": school, "term": term})


def test_one_way_cr1_keeps_the_intercept_in_k_as_fixest():
    """fixest's K with fixed effects nested in the clusters (R/VCOV.R, fixef.K = "nested")
    drops the nested effects' dummies but keeps the intercept: its own tests expect dof.K 6
    for y ~ x | fe1 (3) + fe2 (5) clustered by fe1, i.e. all 8 columns less fe1's 2. srmsim
    left the intercept out as well: with school (nested) and term effects here, k 6 where
    fixest has 7, the SE too small by sqrt((N - 7)/(N - 6))."""
    from srmsim import stats

    d = _school_term_panel()
    b, k_full, [(G, meat)] = _sandwich_parts(d, ["school", "term"], [["school"]])
    N, K = len(d), k_full - (12 - 1)
    se = np.sqrt(G / (G - 1) * (N - 1) / (N - K) * meat)
    est = stats.estimate_effect(d, "y", "arm", "c", cluster="school",
                                fixed_effects=["school", "term"], se="cluster").effect()
    assert est["estimate"] == pytest.approx(b, rel=1e-10)
    assert est["se"] == pytest.approx(se, rel=1e-10)


def test_two_way_cr1_leaves_effects_nested_in_either_dimension_out_of_k():
    """Two-way CR1 by school and term with school and term effects: both are nested (each in
    its own dimension), so fixest's K is the arm + the intercept (its tests: dof.K 2 for
    y ~ x | fe1 + fe2 clustered by both). srmsim counted all 18 columns. Reference: the CGM
    matrix by numpy, each term with its own G/(G - 1) (fixest's cluster.df "conventional"),
    all with (N - 1)/(N - K): 12 schools, 6 terms, 72 school-terms; K = 2 against 18."""
    from srmsim import stats

    d = _school_term_panel()
    b, k_full, parts = _sandwich_parts(d, ["school", "term"],
                                       [["school"], ["term"], ["school", "term"]])
    N, K = len(d), k_full - (12 - 1) - (6 - 1)
    (ga, va), (gb, vb), (gab, vab) = parts
    assert (ga, gb, gab, K) == (12, 6, 72, 2)
    cgm = ga / (ga - 1) * va + gb / (gb - 1) * vb - gab / (gab - 1) * vab
    est = stats.estimate_effect(d, "y", "arm", "c", cluster=["school", "term"],
                                fixed_effects=["school", "term"], se="cluster")
    row = est.effect()
    assert row["estimate"] == pytest.approx(b, rel=1e-10)
    assert row["se"] == pytest.approx(np.sqrt(cgm * (N - 1) / (N - K)), rel=1e-10)
    assert row["df"] == 6 - 1
    assert any("nested in the clusters" in n for n in est.notes)
    # a term effect only, clustered by school and by pairs of terms: nested in the pairs, so
    # its 5 dummies leave k (not the intercept)
    d["pair"] = d["term"] // 2
    _, k_term, parts = _sandwich_parts(d, ["term"], [["school"], ["pair"], ["school", "pair"]])
    (ga, va), (gb, vb), (gab, vab) = parts
    cgm = ga / (ga - 1) * va + gb / (gb - 1) * vb - gab / (gab - 1) * vab
    K = k_term - (6 - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.StatsWarning)  # 3 term pairs: few clusters
        row = stats.estimate_effect(d, "y", "arm", "c", cluster=["school", "pair"],
                                    fixed_effects=["term"], se="cluster").effect()
    assert K == 2 and row["se"] == pytest.approx(np.sqrt(cgm * (N - 1) / (N - K)), rel=1e-10)
