"""Hostile input, follow-ups of sweep 243 (2026-12-07).

- ``srmsim data anonymise --quasi`` counted each name's repeats in the whole list, for every
  name: 100,000 names (``school,sex,...``) took minutes to be refused; so did a risk model's
  ``features`` list.
- An optimisation lever over the scenario's name (``levers: {name: {choices: [a, b]}}``), a
  description or ``outputs.history`` passed ``validate`` and the search compared one policy
  with itself; so did an experiment's variant setting only ``name:``.
"""

from __future__ import annotations

import pandas as pd
import pytest
from test_anonymise_mutation_review import KEY, _dataset
from test_spec_fuzz_validation import ATTENDANCE, experiment, fails, optimisation

from srmsim.cli import main
from srmsim.data.anonymise import anonymise
from srmsim.errors import DataError
from srmsim.risk.design import FeatureDesign
from srmsim.scenario import load_scenario, result_neutral


# ------------------------------------------------------------ repeats counted once
@pytest.mark.parametrize("refuse, says", [
    (lambda names: anonymise(_dataset(), KEY, quasi=names), r"--quasi: \['school', 'sex'\] "
                                                            "given more than once"),
    (lambda names: FeatureDesign(names), r"features list 'school', 'sex' more than once"),
])
def test_a_long_list_of_repeated_names_is_refused_at_once(refuse, says):
    names = ["school", "sex"] * 50_000 + ["year_group"]  # one name given once: not listed
    # counted once: 0.05 s; counted name by name it took minutes, past the suite's per-test
    # timeout (no clock reading is asserted: speed is measured in benchmarks/)
    with pytest.raises(DataError, match=says):
        refuse(names)


# ------------------------------------------------------------ keys no result reads
def test_the_keys_called_result_neutral_change_no_result():
    """The truth the refusals below rest on: a run whose name, description, actions' texts
    and outputs differ gives the same students, weeks and events from the same seed."""
    from srmsim.model import run

    base = load_scenario(ATTENDANCE, {"trust.n_schools": 2, "years": 1})  # history: none
    action = base.policy.workflows["attendance"].steps[0].action
    labels = {"name": "other", "description": "another text", "outputs.history": "all",
              f"policy.actions.{action}.description": "said otherwise",
              f"policy.actions.{action}.source": "another citation"}
    assert all(result_neutral(key) for key in labels)
    one, two = run(base), run(base.with_overrides(labels, "labels"))
    for table in ("students", "weekly", "events"):
        pd.testing.assert_frame_equal(getattr(one, table), getattr(two, table))
    assert result_neutral("policy.parameters.description") is None  # a parameter so named


def test_a_lever_over_a_key_no_simulation_reads_is_refused(tmp_path, capsys):
    for key, what in [("name", "the scenario's name"), ("description", "a description"),
                      ("outputs.history", "what a run records"),
                      ("policy.actions.mentoring.source", "an action's source")]:
        path = optimisation(tmp_path, levers={
            key: {"choices": ["a", "b"]},
            "policy.parameters.attendance_threshold": {"low": 0.85, "high": 0.95}})
        fails(capsys, path, f"levers.{key}: is {what}")
    capsys.readouterr()
    assert main(["validate", str(optimisation(tmp_path))]) == 0  # a lever the policy reads


@pytest.mark.parametrize("variants, says", [
    ({"none": {"policy": None}, "w": {}, "named": {"name": "x", "description": "y"}},
     "variants.named: differs from variant w only in name, description, which change no "
     "result: it would run w again"),
    ({"none": {"policy": None}, "named": {"name": "x"}},
     "variants.named: differs from the scenario as given only in name, which changes no result"),
    ({"none": {"policy": None}, "w": {"outputs.history": "none"}},
     "variants.w: differs from the scenario as given only in outputs.history"),
    ({"none": {"policy": None, "name": "b"}, "again": {"policy": None}},
     "variants.none: differs from variant again only in name"),
    # a replication check (the baseline again, set no label) and a label beside a real change
    ({"none": {"policy": None}, "again": {"policy": None}, "w": {}}, None),
    ({"none": {"policy": None}, "w": {"name": "w", "policy.parameters.attendance_threshold": 0.8}},
     None),
])
def test_a_variant_that_changes_only_labels_is_refused(tmp_path, capsys, variants, says):
    path = experiment(tmp_path, variants=variants)
    if says is None:
        assert main(["validate", str(path)]) == 0, capsys.readouterr().err
    else:
        fails(capsys, path, says)
