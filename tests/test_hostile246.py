"""Hostile input, follow-ups of sweep 243 (2026-12-07).

- ``srmsim data anonymise --quasi`` counted each name's repeats in the whole list, for every
  name: 100,000 names (``school,sex,...``) took minutes to be refused; so did a risk model's
  ``features`` list.
"""

from __future__ import annotations

import time

import pytest
from test_anonymise_mutation_review import KEY, _dataset

from srmsim.data.anonymise import anonymise
from srmsim.errors import DataError
from srmsim.risk.design import FeatureDesign


# ------------------------------------------------------------ repeats counted once
@pytest.mark.parametrize("refuse, says", [
    (lambda names: anonymise(_dataset(), KEY, quasi=names), r"--quasi: \['school', 'sex'\] "
                                                            "given more than once"),
    (lambda names: FeatureDesign(names), r"features list 'school', 'sex' more than once"),
])
def test_a_long_list_of_repeated_names_is_refused_at_once(refuse, says):
    names = ["school", "sex"] * 50_000 + ["year_group"]  # one name given once: not listed
    t0 = time.perf_counter()
    with pytest.raises(DataError, match=says):
        refuse(names)
    assert time.perf_counter() - t0 < 2  # 0.05 s; counted name by name, minutes
