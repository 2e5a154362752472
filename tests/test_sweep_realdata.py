"""Hostile real-data sweep: runs from records, their reports, and anonymised copies' summaries."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srmsim.records import RecordPopulation
from srmsim.report.words import describe_trust
from srmsim.scenario import default_scenario

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.mark.parametrize("prior", [[np.nan] * 19 + [81.3], [100.0] * 20])
def test_prior_attainment_that_cannot_be_standardised_is_unknown(prior: list[float]) -> None:
    """One recorded score was kept on its own scale (a pupil at 81.3 started 81 SD above the
    trust's mean); equal scores were divided by a zero spread (a RuntimeWarning, on stderr of
    ``srmsim run``). Neither has a spread to standardise by: every score is unknown (drawn)."""
    records = pd.DataFrame({"school": ["A"] * 20, "prior_attainment": prior})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        z = RecordPopulation(records).prior_z
    assert np.isnan(z).all()
    from srmsim.calibrate.msm import _prior_share

    assert _prior_share(records) == 0.0  # calibrate does not say pupils start at their score


def test_prior_attainment_is_still_standardised_within_the_trust() -> None:
    prior = [90.0, 100.0, np.nan, 110.0, 120.0]
    z = RecordPopulation(pd.DataFrame({"school": ["A"] * 5, "prior_attainment": prior})).prior_z
    known = np.array([90.0, 100.0, 110.0, 120.0])
    assert np.isnan(z[2])
    np.testing.assert_allclose(z[[0, 1, 3, 4]], (known - known.mean()) / known.std())


def test_a_trust_from_records_is_not_described_by_the_scenarios_school_count() -> None:
    """report.html of a run from 4 schools' records said "A trust of 10 schools": the
    scenario's trust.n_schools, which the records override."""
    sc = default_scenario().with_overrides({"population": {"records": str(SAMPLE)},
                                            "trust": {"n_schools": 10}})
    text = describe_trust(sc)
    assert "10 schools" not in text and "imported records" in text
