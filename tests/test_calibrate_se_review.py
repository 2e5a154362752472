"""Are ``srmsim calibrate``'s standard errors honest? Checked by recovering a known truth.

The data moments' bootstrap SEs are compared with the SD of each moment across many datasets
drawn from one known process (schools random: the school bootstrap; schools fixed, pupils
redrawn: the students' bootstrap), and the fitted parameter's interval with a known true
parameter. The studies on srmsim's own trusts are slow (``-m slow``); fast versions on datasets
drawn directly as per-student measures run by default.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from srmsim.calibrate.moments import (
    MOMENT_NAMES,
    MomentSpec,
    bootstrap_scale,
    bootstrap_se,
    moment_values,
    student_measures,
)
from srmsim.calibrate.msm import FIXED_SCHOOLS_NOTE

SPEC = dict(attendance_type="week", attendance_periods=(1,), attainment_field="assessment_score",
            reading_type="term")
CHECKED = ("attendance", "persistent_absence", "attendance_p25", "attainment_attendance_slope",
           "reading_gap_mean", "reading_gap_sd")


def _clustered(rng: np.random.Generator, sizes: list[int], effects: np.ndarray | None = None
               ) -> pd.DataFrame:
    """Per-student measures of schools of ``sizes``: a school effect on the attendance logit,
    the score and the reading gap (drawn afresh unless ``effects``, 3 x schools, fixes them),
    pupils' attendance over 390 sessions, a score that rises with attendance."""
    k = len(sizes)
    u, v, w = (rng.normal(0, [[0.4], [0.5], [4.0]], (3, k)) if effects is None else effects)
    school = np.repeat(np.arange(k), sizes)
    n = len(school)
    fsm = (rng.random(n) < 0.3).astype(float)
    attended = rng.binomial(390, expit(2.6 + u[school] - 0.5 * fsm + rng.normal(0, 0.9, n)))
    z = (attended / 390 - 0.93) / 0.05
    return pd.DataFrame({"student_id": np.arange(n).astype(str), "school": school.astype(str),
                         "fsm": fsm, "possible": 390.0, "attended": attended.astype(float),
                         "attainment": v[school] + 0.3 * z + rng.normal(size=n),
                         "reading_gap": w[school] + rng.normal(-3, 12, n)})


def _se_against_truth(draw, datasets: int, n_boot: int, method: str = "auto"
                      ) -> tuple[dict[str, float], str]:
    """Mean bootstrap SE over the SD of the moment across ``datasets`` draws, per moment."""
    spec = None
    values, ses = [], []
    for i in range(datasets):
        m = draw(np.random.default_rng(1000 + i))
        spec = spec or MomentSpec(**SPEC, schools=int(m["school"].nunique()))
        values.append(moment_values(m, spec))
        se, used = bootstrap_se(m, spec, n_boot=n_boot, seed=i, method=method)
        ses.append(se)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sd = np.nanstd(np.array(values), axis=0, ddof=1)
        mean_se = np.nanmean(np.array(ses), axis=0)
    return {m: float(mean_se[i] / sd[i]) for i, m in enumerate(MOMENT_NAMES)}, used


# --------------------------------------------------------------------------------------------
# 1. the data moments' bootstrap SEs


def test_a_school_bootstrap_se_of_a_mean_of_school_means_is_the_textbook_se() -> None:
    """Five schools of 20 pupils, each pupil's reading gap its school's value: the moment is the
    mean of 5 school values, whose SE is s / sqrt(5) (s their SD with divisor 4). Resampling the
    schools gives a plug-in variance with divisor 5, 0.894 of that SE: the SE was 11% small
    (5% at 10 schools, 4% at 12)."""
    school_gap = np.array([-9.0, -2.0, 1.0, 4.0, 11.0])
    m = pd.DataFrame({"student_id": np.arange(100).astype(str),
                      "school": np.repeat(np.arange(5), 20).astype(str), "fsm": 0.0,
                      "possible": 390.0, "attended": 370.0, "attainment": np.nan,
                      "reading_gap": np.repeat(school_gap, 20)})
    spec = MomentSpec(**SPEC, schools=5)
    se, method = bootstrap_se(m, spec, n_boot=3000, seed=2, method="schools")
    textbook = school_gap.std(ddof=1) / math.sqrt(5)
    i = MOMENT_NAMES.index("reading_gap_mean")
    assert method == "schools"
    assert se[i] == pytest.approx(textbook, rel=0.04)  # Monte-Carlo error 1.3%; 0.894 before
    assert np.allclose(bootstrap_scale(m, "schools"), math.sqrt(5 / 4))
    assert np.array_equal(bootstrap_scale(m, "students"), np.ones(len(MOMENT_NAMES)))


def test_a_bootstrap_of_one_school_is_not_scaled() -> None:
    """One school: no between-school variance to correct (G / (G - 1) would divide by zero)."""
    m = _clustered(np.random.default_rng(0), [5])
    assert np.array_equal(bootstrap_scale(m, "schools"), np.ones(len(MOMENT_NAMES)))


@pytest.mark.once
def test_school_bootstrap_ses_recover_the_sampling_sd_of_clustered_data() -> None:
    """12 schools with real between-school variation (attendance ICC about 0.03, reading gap
    0.1), redrawn for each of 150 datasets: each checked moment's mean bootstrap SE is within
    15% of its SD across the datasets (Monte-Carlo error about 6%). A students' bootstrap on
    the same data is far too small (0.3-0.7): the test can fail."""
    sizes = [30, 45, 60, 25, 50, 40, 35, 55, 30, 45, 60, 40]
    ratio, method = _se_against_truth(lambda rng: _clustered(rng, sizes), 150, 80)
    assert method == "schools"
    for m in CHECKED:
        assert 0.85 <= ratio[m] <= 1.15, (m, ratio[m])
    wrong, _ = _se_against_truth(lambda rng: _clustered(rng, sizes), 40, 40, method="students")
    assert wrong["reading_gap_mean"] < 0.6 and wrong["attendance"] < 0.8, wrong


@pytest.mark.once
def test_students_bootstrap_ses_recover_the_sampling_sd_with_the_schools_fixed() -> None:
    """Four schools whose effects stay fixed while their pupils are redrawn (the sampling the
    students' bootstrap measures): each checked moment's mean SE is within 15% of its SD
    across 150 datasets."""
    sizes = [40, 80, 120, 60]
    effects = np.random.default_rng(99).normal(0, [[0.4], [0.5], [4.0]], (3, 4))
    ratio, method = _se_against_truth(lambda rng: _clustered(rng, sizes, effects), 150, 80)
    assert method == "students"
    for m in CHECKED:
        assert 0.85 <= ratio[m] <= 1.15, (m, ratio[m])


@pytest.mark.slow
def test_bootstrap_ses_of_srmsim_trusts_recover_the_sd_across_trusts(tmp_path) -> None:
    """200 trusts of 12 schools from srmsim's default scenario (schools, their effects and
    pupils redrawn by the seed), each measured as calibrate measures records: the mean floored
    bootstrap SE of each moment but the spreads is within 15% of the moment's SD across the
    trusts (Monte-Carlo error about 5%). The spreads' (ICCs, reading gap SD) come out 0.8-0.96
    of their SD (documented; 0.81 for the reading gap's SD on another 150 trusts)."""
    from srmsim.calibrate.export import generate

    def srmsim_trust(rng: np.random.Generator) -> pd.DataFrame:
        seed = int(rng.integers(2**31))
        students, observations = generate(tmp_path / str(seed), schools=12, per_year=6,
                                          seed=seed)
        return student_measures(students, observations, spec)

    students, observations = generate(tmp_path / "spec", schools=12, per_year=6, seed=1)
    spec = MomentSpec.from_data(students, observations)
    ratio, method = _se_against_truth(srmsim_trust, 200, 200)
    print({m: round(r, 3) for m, r in ratio.items()})
    assert method == "schools"
    for m in MOMENT_NAMES:
        if m.endswith("_icc") or m == "reading_gap_sd":
            assert 0.6 <= ratio[m] <= 1.1, (m, ratio[m])
        else:
            assert 0.85 <= ratio[m] <= 1.15, (m, ratio[m])


# --------------------------------------------------------------------------------------------
# 3. the fitted parameter's standard error


def _coverage(tmp_path: Path, datasets: int, schools: int, per_year: int) -> np.ndarray:
    """z = (estimate - truth) / se of dynamics.absence_logit fitted by calibrate() to data
    generated by srmsim with absence_logit -3.8 (three attendance moments, 2 replications)."""
    from srmsim.calibrate import calibrate
    from srmsim.calibrate.export import generate
    from srmsim.data import assign_tables, identity_mapping, import_files

    truth = -3.8
    z = []
    for i in range(datasets):
        d = tmp_path / str(i)
        generate(d / "csv", schools=schools, per_year=per_year, seed=500 + i,
                 overrides={"dynamics.absence_logit": truth})
        mapping = identity_mapping()
        result, _ = import_files(assign_tables(sorted((d / "csv").glob("*.csv")), mapping),
                                 mapping, d / "imported")
        assert result.ok
        fit = calibrate(d / "imported", params=["dynamics.absence_logit"],
                        moments=["attendance", "persistent_absence", "attendance_p25"],
                        replications=2, max_evals=25, seed=77 + i)
        est = fit.estimates.iloc[0]
        assert fit.optimiser["bootstrap"]["method"] == ("schools" if schools >= 10
                                                        else "students")
        assert (FIXED_SCHOOLS_NOTE in fit.notes) == (schools < 10)
        z.append((est["estimate"] - truth) / est["se"])
    return np.array(z)


@pytest.mark.slow  # ten calibrations (18 s): the bootstrap SE studies above run by default
def test_parameter_intervals_cover_a_known_truth_fast(tmp_path) -> None:
    """Ten trusts of 10 schools: at least 8 of the ten 95% intervals cover the true absence
    logit, and the mean z^2 is below 3 (about 1 if the SE is right; an SE half the
    estimate's SD gives about 4)."""
    z = _coverage(tmp_path, 10, 10, 3)
    assert (np.abs(z) <= 1.96).sum() >= 8, z
    assert np.mean(z**2) < 3, z


@pytest.mark.slow
def test_parameter_intervals_cover_a_known_truth(tmp_path) -> None:
    """80 trusts of 12 schools (about 2 s each): the 95% intervals of the fitted absence logit
    cover the truth at 0.95 within Monte-Carlo error (binomial SE 0.024; measured 0.925),
    and the 68% ones at 0.68 (SE 0.05; measured 0.69). The simulation-noise factor 1 + 1/R is
    Pakes-Pollard's 1 + 1/S with S = R: each simulated trust has the data's schools and
    sizes (one run's SD of the attendance moments was 0.88-1.12 of the data's bootstrap SE)."""
    z = _coverage(tmp_path, 80, 12, 4)
    print(f"95%: {np.mean(np.abs(z) <= 1.96):.3f}, 68%: {np.mean(np.abs(z) <= 1):.3f}, "
          f"mean z^2 {np.mean(z**2):.2f}")
    assert np.mean(np.abs(z) <= 1.96) >= 0.87
    assert 0.55 <= np.mean(np.abs(z) <= 1) <= 0.85


def test_a_small_trusts_report_says_its_standard_errors_are_too_small(tmp_path) -> None:
    """data/sample (4 schools): the fit's notes say the SEs leave out how schools differ (the
    parameter's SE was 0.6 of its spread across 4-school trusts; the report said nothing)."""
    from srmsim.calibrate import calibrate
    from srmsim.data import assign_tables, identity_mapping, import_files

    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    mapping = identity_mapping()
    result, _ = import_files(assign_tables(sorted(sample.glob("*.csv")), mapping), mapping,
                             tmp_path / "imported")
    assert result.ok
    fit = calibrate(tmp_path / "imported", params=["dynamics.absence_logit"],
                    moments=["attendance", "persistent_absence"], replications=1, max_evals=3)
    assert fit.optimiser["bootstrap"]["method"] == "students"
    assert FIXED_SCHOOLS_NOTE in fit.notes
    assert "leaving out how schools differ" in fit.format()


def test_a_share_of_pupils_in_one_school_of_twelve_gets_a_pupils_se() -> None:
    """12 schools, FSM recorded in one of them only: resampling whole schools, every replicate
    with that school has its FSM pupils' share, so the SE of persistent_absence_fsm was the
    0.01 floor (its SD across such datasets: 0.24). It now comes from resampling pupils within
    the school: about the binomial SE of a share of that school's FSM pupils."""
    sizes = [30, 45, 60, 25, 50, 40, 35, 55, 30, 45, 60, 40]
    m = _clustered(np.random.default_rng(4), sizes)
    m.loc[m["school"] != "0", "fsm"] = np.nan
    m.loc[m["school"] == "0", "fsm"] = np.arange(30) % 2  # 15 FSM pupils
    spec = MomentSpec(**SPEC, schools=12)
    se, method = bootstrap_se(m, spec, n_boot=800, seed=1)
    i = MOMENT_NAMES.index("persistent_absence_fsm")
    fsm = m[(m["school"] == "0") & (m["fsm"] == 1)]
    p = ((fsm["possible"] - fsm["attended"]) * 10 >= fsm["possible"]).mean()
    assert 0 < p < 1 and method == "schools"
    assert se[i] == pytest.approx(math.sqrt(p * (1 - p) / 15), rel=0.15)
    from srmsim.calibrate.moments import few_school_moments

    few = few_school_moments(m, method)
    assert few == ["persistent_absence_fsm", "persistent_absence_non_fsm"]
    scale = bootstrap_scale(m, method)
    assert scale[i] == 1.0 and scale[0] == pytest.approx(math.sqrt(12 / 11))
    assert few_school_moments(m, "students") == []
    # in three schools the school bootstrap is kept (it keeps the between-school variation
    # and the correlation with the other moments)
    three = m["school"].isin(["1", "2"])
    m.loc[three, "fsm"] = np.arange(three.sum()) % 2
    assert few_school_moments(m, method) == []


def test_a_calibration_says_which_moments_rest_on_few_schools(tmp_path) -> None:
    """A 10-school trust whose FSM is recorded in two schools: the fit's notes name
    persistent_absence_non_fsm as resampled within its schools (persistent_absence_fsm is
    withheld on these records: one FSM pupil is persistently absent)."""
    from srmsim.calibrate import calibrate
    from srmsim.calibrate.export import generate
    from srmsim.data import assign_tables, identity_mapping, import_files

    generate(tmp_path / "csv", schools=10, per_year=15, seed=8)
    students = pd.read_csv(tmp_path / "csv" / "students.csv")
    students["fsm"] = students["fsm"].astype(object)
    students.loc[~students["school"].isin(sorted(students["school"].unique())[:2]), "fsm"] = None
    students.to_csv(tmp_path / "csv" / "students.csv", index=False)
    mapping = identity_mapping()
    result, _ = import_files(assign_tables(sorted((tmp_path / "csv").glob("*.csv")), mapping),
                             mapping, tmp_path / "imported")
    assert result.ok
    fit = calibrate(tmp_path / "imported", params=["dynamics.absence_logit"],
                    moments=["attendance", "persistent_absence_non_fsm"], replications=1,
                    max_evals=3)
    assert fit.optimiser["bootstrap"]["method"] == "schools"
    assert any(n.startswith("standard errors of persistent_absence_non_fsm: its students are "
                            "in one or two schools") for n in fit.notes), fit.notes
    assert FIXED_SCHOOLS_NOTE not in fit.notes


# --------------------------------------------------------------------------------------------
# 2. the SE floors


def test_the_documented_se_floors_are_the_ones_applied() -> None:
    """docs/guides/trust.md's table of floors names every moment once with the floor the code
    applies (a share's in percentage points)."""
    import re

    from srmsim.calibrate.moments import MOMENTS

    doc = (Path(__file__).resolve().parents[1] / "docs" / "guides" / "trust.md").read_text()
    table = doc.split("| moments | SE floor |")[1].split("\n\n")[0]
    documented: dict[str, float] = {}
    for line in table.strip().splitlines()[1:]:
        names, floor = line.strip("|").split("|")
        value = float(re.match(r"\s*([0-9.]+)", floor).group(1))
        value /= 100 if "percentage point" in floor else 1
        for name in re.findall(r"`(\w+)`", names):
            assert name not in documented, name
            documented[name] = value
    assert documented == pytest.approx({m.name: m.se_floor for m in MOMENTS})


def test_floors_bind_after_the_school_scaling_and_only_below_it() -> None:
    """A moment constant in every replicate (or in none defined) gets its floor, not the floor
    scaled; one varying above its floor gets its SD times the scale."""
    from srmsim.calibrate.moments import MOMENTS, floored_se

    k = len(MOMENTS)
    reps = np.tile(np.array([[0.0], [1.0], [2.0], [3.0]]), (1, k))
    reps[:, 1] = 0.4
    reps[:3, 2] = np.nan
    se = floored_se(reps, scale=math.sqrt(12 / 11))
    assert se[0] == pytest.approx(math.sqrt(5 / 3) * math.sqrt(12 / 11))
    assert se[1] == MOMENTS[1].se_floor and se[2] == MOMENTS[2].se_floor
