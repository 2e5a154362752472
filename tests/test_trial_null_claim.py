"""The researchers' guide's zero-effect reading trial claim is reproduced by the shipped experiment file."""

from __future__ import annotations

import re

import pytest

from srmsim.trial import load_trial, run_trial


@pytest.mark.slow
def test_readme_zero_effect_reading_claim_is_reproduced(repo_root):
    text = " ".join((repo_root / "docs" / "guides" / "researcher.md").read_text(encoding="utf-8").split())
    claim = re.search(r"zero-effect reading trial \(`(experiments/[\w.]+)`\) rejects (\d+) of "
                      r"(\d+) times (?:\([^)]*\) )?while its naive estimate is \+([\d.]+) months",
                      text)  # (an aside such as "(nominal 5%: 2)" may follow the count)
    assert claim, "docs/guides/researcher.md no longer states the zero-effect reading claim in the tested form"
    path, rejected, replications, naive = claim.groups()
    result = run_trial(load_trial(repo_root / path), workers=2, subgroups=False)
    runs = result.runs
    assert len(runs) == int(replications) and (runs["error"] == "").all()
    assert (runs["true_effect"] == 0).all()  # the policy does nothing: truth is exactly 0
    assert int(runs["rejected"].sum()) == int(rejected)
    assert f"{runs['naive'].mean():.2f}" == naive
