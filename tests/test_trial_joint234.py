"""The trial's year-group joint test under the mixed model, an explicit CR1 on small subgroups,
and the joint test's words in the subgroup figure (helper 234).

- With ``analysis.method: mixed`` the joint arm x year-group test read the model-based
  covariance, which trusts that a school intercept is all a school's students share: where a
  school's year groups differ beyond it, it rejected a true "no difference" far too often. It
  now reads the school-robust (CR1) covariance of the mixed model's estimates, in the same
  Hotelling form as the OLS path's cluster-robust tests.
- ``se: cluster`` (CR1) chosen in the file is kept for subgroups, where ``se: auto`` would use
  CR2, and a plain note under the table says CR1 is too narrow there.
- The joint test's words in the subgroup figure are as large as the rows' names, or larger.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats as sps
from test_trial_year_subgroups229 import (
    SCENARIOS,
    YEARS,
    _null_rejections,
    make,
    synthetic,
    year_rows,
)

from srmsim import stats
from srmsim.cli import main
from srmsim.trial import subgroups as sg

pytestmark = pytest.mark.xdist_group("trial")


@pytest.fixture
def years_only(monkeypatch):
    """Only the year-group factor (the synthetic tables have no FSM, SEN, EAL or sex)."""
    monkeypatch.setattr(sg, "FACTORS", ())


# ------------------------------------------------------------- the mixed model's joint test
def _inverse_root(m: np.ndarray) -> np.ndarray:
    lam, vec = np.linalg.eigh(m)
    return vec @ np.diag(1.0 / np.sqrt(lam)) @ vec.T


def _gls_cr2(y: np.ndarray, X: np.ndarray, g: np.ndarray, beta: np.ndarray, tau2: float,
             s2: float) -> np.ndarray:
    """CR2 of the GLS fit written out plainly: each school's rows whitened by its own
    V_g^(-1/2) (an eigen-decomposition of s2 I + tau2 J), then the bias-reduced sandwich with
    A_g = (I - H_gg)^(-1/2): an independent check of the quasi-demeaned one."""
    Xw, ew = np.zeros_like(X), np.zeros_like(y)
    for school in np.unique(g):
        m = g == school
        root = _inverse_root(s2 * np.eye(int(m.sum())) + tau2)
        Xw[m], ew[m] = root @ X[m], root @ (y[m] - X[m] @ beta)
    bread = np.linalg.inv(Xw.T @ Xw)
    meat = np.zeros_like(bread)
    for school in np.unique(g):
        m = g == school
        h = Xw[m] @ bread @ Xw[m].T
        score = Xw[m].T @ _inverse_root(np.eye(int(m.sum())) - h) @ ew[m]
        meat += np.outer(score, score)
    return bread @ meat @ bread


def test_mixed_joint_test_is_hotelling_on_the_school_robust_covariance(years_only) -> None:
    """A school-randomised mixed-model trial of 12 schools: the joint test's F is W from the
    school-robust (CR2) covariance of the mixed model's own arm x year estimates (written out
    here school by school), read as Hotelling's T^2: F(4, 12 - 4). It was W / 4 from the
    model-based covariance, on the between-within df."""
    rng = np.random.default_rng(34)
    analysed, students = synthetic(rng, {y: 1.0 for y in YEARS}, n_schools=12,
                                   per_school=60, unit="schools", school_year_sd=0.3)
    trial = make("schools", 12, method="mixed")
    joint = year_rows(sg.subgroup_estimates(trial, analysed, students)).loc[sg.DIFFERENCE]
    assert joint["status"] == sg.ESTIMATED

    year = students["year_group"].to_numpy()
    treated = (analysed["arm"] == "treated").to_numpy()
    dummies = {f"y{v}": (year == v).astype(float) for v in YEARS[1:]}
    inter = {f"t{v}": ((year == v) & treated).astype(float) for v in YEARS[1:]}
    data = analysed.assign(_t=treated.astype(float), **dummies, **inter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = stats.random_intercept(data, "reading_gap_end", "school",
                                     ["_t", "reading_gap_start", *dummies, *inter])
    res = fit.result
    X = np.asarray(res.model.exog, dtype=float)
    cov = _gls_cr2(np.asarray(res.model.endog, dtype=float), X,
                        np.asarray(res.model.groups), np.asarray(res.fe_params, dtype=float),
                        float(np.asarray(res.cov_re)[0, 0]), float(res.scale))
    names = list(res.model.exog_names)
    at = [names.index(f"t{v}") for v in YEARS[1:]]
    b = np.asarray(res.fe_params, dtype=float)[at]
    wald = float(b @ np.linalg.solve(cov[np.ix_(at, at)], b))
    g, q = 12, 4
    assert joint["df"] == g - q
    assert joint["p_value"] == pytest.approx(sps.f.sf(wald * (g - q) / ((g - 1) * q), q, g - q),
                                             rel=1e-5)
    assert "school-robust" in joint["note"] and "F(4, 8)" in joint["note"]


def test_mixed_joint_test_needs_more_schools_than_terms(years_only) -> None:
    """Its Hotelling form needs more schools than year groups but one: 4 schools and 5 year
    groups are not estimable, said as such (the trial's own analysis is unaffected)."""
    analysed, students = synthetic(np.random.default_rng(5), {y: 1.0 for y in YEARS},
                                   n_schools=4, per_school=200)
    rows = year_rows(sg.subgroup_estimates(make("students", 4, method="mixed"), analysed,
                                           students))
    assert rows.loc[sg.DIFFERENCE, "status"].startswith("not estimable: the joint test of 4 "
                                                        "terms needs more than 4 schools")
    assert (rows.drop(sg.DIFFERENCE)["status"] == sg.ESTIMATED).all()


def _mixed_null_rejections(reps: int, seed: int, school_year_sd: float, per_school: int
                           ) -> tuple[int, int]:
    """How many of ``reps`` school-randomised mixed-model trials of 12 schools with the same
    effect in every year group and school x year shocks had the joint test reject at 5%."""
    return _null_rejections(make("schools", 12, method="mixed"), reps, seed, n_schools=12,
                            per_school=per_school, unit="schools",
                            school_year_sd=school_year_sd)


def test_mixed_joint_test_holds_its_level_with_school_year_shocks_fast() -> None:
    """The fast check of the study below: 20 null trials with strong school x year shocks
    (SD 0.6 beside a pupil SD of 1). The model-based test rejected 8 of these 20, beyond the
    99.9% binomial limits of 5% (at most 5); the school-robust one stays within them."""
    hits, done = _mixed_null_rejections(20, 234, 0.6, 40)
    assert done == 20
    low, high = sps.binom.ppf([0.0005, 0.9995], done, 0.05)
    assert low <= hits <= high, hits


@pytest.mark.slow  # a simulation study (200 trials, about 2 minutes): out of the default run
def test_mixed_joint_test_rejects_about_5_percent_with_12_schools() -> None:
    """200 null trials of 12 schools with school x year shocks (SD 0.3), the data of 229's
    study of the OLS path: the model-based test rejected 57 (28.5%), the Hotelling form on a
    CR1 sandwich of the mixed model 17 (8.5%), on its CR2 sandwich 13 (6.5%, as the OLS path's
    CR1 on the same data), within the 99.9% binomial limits of 5%."""
    hits, done = _mixed_null_rejections(200, 12, 0.3, 60)
    assert done == 200
    low, high = sps.binom.ppf([0.0005, 0.9995], done, 0.05)
    assert low <= hits <= high, hits


# ------------------------------------------------------------- an explicit CR1 on subgroups
def test_explicit_cr1_is_kept_on_small_subgroups_with_a_note(years_only) -> None:
    """se: cluster in a trial of 12 schools: each year group is still fitted with CR1 (the
    file's choice: the same as estimate_effect(se="cluster") on its rows), its note says se:
    auto would use CR2, and the printed table ends with the plain note; se: auto's rows carry
    no such note and print none."""
    analysed, students = synthetic(np.random.default_rng(3), {y: 1.0 for y in YEARS},
                                   n_schools=12, per_school=60, unit="schools",
                                   school_year_sd=0.3)
    table = sg.subgroup_estimates(make("schools", 12, se="cluster"), analysed, students)
    rows = year_rows(table)
    year = students["year_group"].to_numpy()
    cr1 = stats.estimate_effect(analysed[year == 9], "reading_gap_end", "arm", "control",
                                cluster="school", covariates=["reading_gap_start"],
                                se="cluster").effect()
    assert rows.loc["Year 9", "ci_low"] == pytest.approx(float(cr1["ci_low"]), rel=1e-9)
    assert rows.loc["Year 9", "df"] == 11  # CR1's G - 1, not CR2's Bell-McCaffrey df
    for y in YEARS:
        assert sg.CR1_KEPT in rows.loc[f"Year {y}", "note"]
    printed = sg.format_subgroups(sg.summarise_subgroups(table), 1, table=table)
    tail = " ".join(printed.split("\n")[-3:])
    assert "5 subgroups of fewer than 30 schools were fitted with CR1" in tail
    assert "too narrow" in tail and "se: auto would fit them with CR2" in tail

    auto = sg.subgroup_estimates(make("schools", 12), analysed, students)
    assert not auto["note"].fillna("").str.contains(sg.CR1_KEPT, regex=False).any()
    assert "fitted with CR1" not in sg.format_subgroups(sg.summarise_subgroups(auto), 1,
                                                        table=auto)


def test_trial_with_se_cluster_prints_and_reports_the_cr1_note(tmp_path, capsys) -> None:
    """End to end (1 replication, 4 schools randomised, se: cluster): the note is printed
    under the subgroup table and is in the report."""
    spec = {"name": "cr1", "scenario": str(SCENARIOS / "reading_age.yaml"),
            "overrides": {"trust.n_schools": 4, "trust.students_per_year_group": 30},
            "randomise": {"unit": "schools"}, "outcome": "reading_gap_end",
            "baseline": "reading_gap_start", "analysis": {"se": "cluster"},
            "replications": 1, "seed": 5}
    path = tmp_path / "trial.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    assert main(["trial", str(path), "--out", str(out), "--quiet", "--workers", "1"]) == 0
    printed = " ".join(capsys.readouterr().out.split())  # the note is wrapped
    assert "13 subgroups of fewer than 30 schools were fitted with CR1 because the trial file "\
           "asks for se: cluster" in printed
    table = pd.read_csv(out / "trial_subgroups.csv")
    assert table["note"].fillna("").str.contains(sg.CR1_KEPT, regex=False).any()
    html = " ".join((out / "report.html").read_text().split())
    assert "fitted with CR1 because the trial file asks" in html


# ------------------------------------------------------------- the figure's words
def test_the_joint_tests_words_are_no_smaller_than_the_row_names(years_only) -> None:
    """The joint test's rejection rate is written in the figure at 9 pt or more, no smaller
    than the rows' names (it was 7 pt beside 8), and inside the axes: its row, the last, sat on
    the bottom edge with the axis line through its words."""
    trial = make()
    rng = np.random.default_rng(2)
    frames = []
    for r in range(2):
        analysed, students = synthetic(rng, {y: 1.0 for y in YEARS}, n_schools=2,
                                       per_school=200)
        frames.append(sg.subgroup_estimates(trial, analysed, students).assign(replication=r))
    fig = sg.plot_subgroups(sg.summarise_subgroups(pd.concat(frames, ignore_index=True)))
    ax = fig.axes[0]
    words = [t for t in ax.texts if "rejected in" in t.get_text()]
    assert words
    names = max(t.get_fontsize() for t in ax.get_yticklabels())
    fig.canvas.draw()
    box = ax.get_window_extent()
    for t in words:
        assert t.get_fontsize() >= max(9, names)
        # inside the axes, clear of the bottom line (the last row sat on it)
        assert t.get_window_extent().y0 > box.y0 + 2, (t.get_window_extent(), box)
