"""A trust rebuilt from records keeps each school's attainment as its records show it.

A pupil's recorded prior attainment fixes their attainment; what is left after their school's
effect is their own component, which engagement (and through it absence) is drawn to
correlate with. The school effect was drawn afresh, so the gap between the drawn and the real
effect went into every pupil's own component: the rebuilt trust had more between-school
attendance variation than the recorded one (attendance ICC 0.032 too high at the true
parameters over six 12-school datasets, 0.0025 now), and calibration bent the absence
parameters to make up for it (helper 191's recovery study, 2026-12-06).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from srmsim.population import generate_schools
from srmsim.records import RecordPopulation
from srmsim.rng import CRN
from srmsim.scenario import Scenario


def _records(effects: np.ndarray, per_school: int, icc: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    school = np.repeat(np.arange(len(effects)), per_school)
    fsm = rng.random(len(school)) < 0.3
    prior = (effects[school] - 0.45 * fsm + np.sqrt(1 - icc) * rng.normal(size=len(school)))
    return pd.DataFrame({"student_id": [f"p{i}" for i in range(len(school))],
                         "school": [f"S{s:02d}" for s in school], "year_group": 7,
                         "fsm": fsm, "prior_attainment": 100 + 15 * prior})


def test_school_attainment_effects_are_estimated_from_the_records():
    scenario = Scenario(name="t")
    icc = scenario.population.attainment_icc
    truth = np.random.default_rng(5).normal(0, np.sqrt(icc), 20)
    pop = RecordPopulation(_records(truth, 150, icc))
    effects = pop.schools(scenario, CRN(1)).attainment_effect
    assert np.corrcoef(effects, truth)[0, 1] > 0.95
    # what is left for the pupils' own components has (almost) no school-level part
    code = pop.df["_school"].to_numpy()
    own = pop.prior_attainment(scenario.population) - effects[code]
    school_means = np.bincount(code, own) / np.bincount(code)
    spread_of_means = np.std(school_means - school_means.mean())
    assert spread_of_means < 0.5 * np.std(truth)
    # the effects drawn for a simulated trust, which the rebuilt one used, knew nothing of them
    drawn = generate_schools(scenario.with_overrides({"trust.n_schools": 20}, "t"),
                             CRN(1)).attainment_effect
    assert abs(np.corrcoef(drawn, truth)[0, 1]) < 0.5


def test_schools_without_recorded_prior_attainment_keep_their_drawn_effect():
    scenario = Scenario(name="t")
    records = _records(np.zeros(4), 30, scenario.population.attainment_icc)
    records.loc[records["school"] == "S01", "prior_attainment"] = np.nan
    pop = RecordPopulation(records)
    effects = pop.schools(scenario, CRN(3)).attainment_effect
    drawn = generate_schools(scenario.with_overrides({"trust.n_schools": 4}, "t"),
                             CRN(3)).attainment_effect
    assert effects[1] == drawn[1] and not np.array_equal(effects, drawn)
    none = RecordPopulation(records.drop(columns="prior_attainment"))
    assert np.array_equal(none.schools(scenario, CRN(3)).attainment_effect, drawn)


def test_unrecorded_flags_count_at_the_chance_the_simulation_draws_them_with():
    """Half the SEN flags unrecorded in a school of 60% SEN and one of 5%: counted at the
    schools' recorded SEN shares while the simulation draws them at SEN's chance given FSM,
    the schools' own components were -0.149 and +0.017 apart again (helper 194)."""
    from srmsim.population import NATIONAL_RATES, generate_students

    scenario = Scenario(name="t").with_overrides({"trust.n_schools": 2}, "t")
    pop = scenario.population
    rng = np.random.default_rng(0)
    rows = []
    for school, sen_rate in (("A", 0.6), ("B", 0.05)):  # equal true effects
        sen = rng.random(3000) < sen_rate
        fsm = rng.random(3000) < 0.24
        prior = -0.45 * fsm - 0.7 * sen + np.sqrt(1 - pop.attainment_icc) * rng.normal(size=3000)
        rows.append(pd.DataFrame({"school": school, "year_group": 7, "fsm": fsm,
                                  "sen": np.where(rng.random(3000) < 0.5, sen, np.nan),
                                  "prior_attainment": 100 + 15 * prior}))
    records = RecordPopulation(pd.concat(rows, ignore_index=True))
    schools = records.schools(scenario, CRN(1))
    uid = np.arange(20000)
    school = np.repeat([0, 1], 10000).astype(np.int32)
    t = generate_students(scenario, CRN(1), schools, uid, school, np.full(20000, 7, np.int8),
                          traits=records.traits(CRN(1), uid, school, scenario.population))
    structure = (schools.attainment_effect[school] + pop.fsm_attainment_gap * t.fsm
                 + pop.sen_attainment_gap * t.sen + pop.eal_attainment_gap * t.eal
                 - sum(getattr(pop, f"{k}_attainment_gap") * NATIONAL_RATES[k]
                       for k in ("fsm", "sen", "eal")))
    own = t.attainment - structure
    means = [own[school == k].mean() for k in (0, 1)]
    assert abs(means[0] - means[1]) < 0.05, means


def test_attainment_sd_is_the_spread_the_generator_gives():
    """A synthetic trust's attainment spreads more than 1 SD (the FSM, SEN and EAL gaps add
    to it): 30 trusts of 100 schools against the formula."""
    from srmsim.model import TrustModel
    from srmsim.population import attainment_sd
    from srmsim.scenario import default_scenario

    sc = default_scenario().with_overrides({"trust.n_schools": 100,
                                            "trust.students_per_year_group": 20}, "t")
    sds = [np.std(TrustModel(sc, seed=s).all_students().attainment.astype(float))
           for s in range(30)]
    mean, se = np.mean(sds), np.std(sds, ddof=1) / np.sqrt(len(sds))
    expected = attainment_sd(sc.population, 100)
    assert abs(mean - expected) < 3 * se, (mean, se, expected)
    assert expected > 1.03 and mean - 1 > 10 * se


def test_a_trust_rebuilt_from_records_has_the_generators_attainment_spread(tmp_path,
                                                                          monkeypatch):
    """Recorded prior attainment is standardised within the trust (SD 1) and fixes each
    pupil's attainment: the rebuilt trust had SD 1 against a synthetic trust's 1.03-1.05, its
    reading-gap SD came out 0.47 +- 0.08 months below the data's at the true parameters, and
    calibration raised reading_gap_sd about 0.7 months to make up for it (helper 195)."""
    from srmsim import records
    from srmsim.calibrate.export import generate
    from srmsim.model import TrustModel
    from srmsim.population import attainment_sd
    from srmsim.scenario import default_scenario

    generate(tmp_path, schools=10, per_year=30, seed=3)
    sc = default_scenario().with_overrides({"trust.n_schools": 10,
                                            "trust.students_per_year_group": 30,
                                            "population.records": str(tmp_path / "students.csv")},
                                           "t")
    def spread() -> float:
        return float(np.std(TrustModel(sc, seed=4).all_students().attainment.astype(float)))

    rebuilt = spread()
    monkeypatch.setattr(records, "attainment_sd", lambda pop, n_schools=0: 1.0)
    unscaled = spread()  # the recorded prior attainment's z-scores as they are
    scale = attainment_sd(sc.population, 10)
    assert scale > 1.03 and abs(rebuilt / unscaled - scale) < 0.005, (rebuilt, unscaled)
