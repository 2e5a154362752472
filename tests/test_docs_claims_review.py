"""Prose claims of the docs (docs/*.md, README.md) checked against the code they describe.

tests/test_docs_examples.py runs the docs' code examples; these pin what the text says.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from srmsim.policy.profile import vocabulary
from srmsim.policy.rules import ArrayContext, parse_rule

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _text(name: str) -> str:
    return " ".join((DOCS / name).read_text(encoding="utf-8").split())


def test_missing_values_in_rules_as_the_policies_page_says() -> None:
    """docs/policies.md said every comparison with a missing value is false; ``!=`` is true
    (IEEE, as the module and ``srmsim rules`` say), so ``reading_gap != 0`` flags a student
    with no reading test. The page now says so; this pins both."""
    ctx = ArrayContext(
        {"reading_gap": np.array([np.nan, -30.0, -10.0])}, parameters={"goal": -30.0}
    )
    vocab = vocabulary({"goal": -30.0})
    for text, expected in [
        ("reading_gap < -24", [False, True, False]),
        ("reading_gap == -30", [False, True, False]),
        ("reading_gap != goal", [True, False, True]),
        ("reading_gap != 0", [True, True, True]),
        ("not (reading_gap >= -24)", [True, True, False]),
    ]:
        got = parse_rule("r", text, vocab).evaluate(ctx)
        assert got.tolist() == expected, text
    page = _text("policies.md")
    assert "are false, except `!=`, which is true" in page
    assert "Comparisons with a missing value (no reading test yet) are false." not in page
