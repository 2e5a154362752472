"""Mutation review of srmsim.outputs, srmsim.store and srmsim.records: HEADER TO FILL.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srmsim.errors import DataError, SrmsimError
from srmsim.records import RecordPopulation
from srmsim.rng import CRN
from srmsim.scenario import default_scenario

sys.path.insert(0, str(Path(__file__).parent))


def logit(p: float) -> float:
    return math.log(p / (1 - p))


# ------------------------------------------------------------------ records
def test_a_school_rate_for_unknown_flags_counts_only_the_records_that_say() -> None:
    """A pupil whose record leaves FSM (or EAL) unknown is drawn at the school's rate. The rate
    counted the unknown records as not FSM: 10 FSM, 10 not and 20 unknown gave 25%, not 50%."""
    fsm = [True] * 10 + [False] * 10 + [None] * 20
    eal = [True] * 5 + [False] * 15 + [None] * 20
    records = pd.DataFrame({"school": ["A"] * 40 + ["B"] * 4,
                            "fsm": pd.array(fsm + [None] * 4, dtype="boolean"),
                            "eal": pd.array(eal + [True, False, False, False], dtype="boolean")})
    scenario = default_scenario()
    schools = RecordPopulation(records).schools(scenario, CRN(1))
    assert schools.fsm_logit[0] == pytest.approx(logit(10 / 20))
    assert schools.eal_logit[0] == pytest.approx(logit(5 / 20))
    # a school none of whose records says: the scenario's rate
    assert schools.fsm_logit[1] == pytest.approx(logit(scenario.population.fsm_rate))
    assert schools.eal_logit[1] == pytest.approx(logit(1 / 4))
