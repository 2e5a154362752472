"""The ODD description (docs/model.md) cannot drift from the code.

Every parameter table row must name a real scenario key with the code's default, every key of
the trust, population and dynamics sections must be in a table, and the calibration figures the
page says the default trust reaches must be what the default trust does reach.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import srmsim
from srmsim.scenario import Scenario

PAGE = Path(__file__).resolve().parents[1] / "docs" / "model.md"


def _table_rows(section: str) -> list[list[str]]:
    text = PAGE.read_text()
    start = text.index(section)
    end = text.find("\n## ", start + 1)
    rows = []
    for line in text[start:end if end > 0 else None].splitlines():
        if line.startswith("| ") and not line.startswith("| key") and not line.startswith("|---"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def _value(text: str) -> object:
    text = text.strip()
    if text.startswith("["):
        return [int(x) for x in text.strip("[]").split(",")]
    return float(text)


def test_parameter_tables_match_the_code_defaults_and_cover_every_key() -> None:
    defaults = Scenario().model_dump()
    rows = _table_rows("## 9. Parameters")
    assert len(rows) > 40
    documented = set()
    for key, default, unit, meaning, source in rows:
        path = key.strip("`").split(".")
        value = defaults
        for part in path:
            assert part in value, f"docs/model.md names {key}, which is not a scenario key"
            value = value[part]
        documented.add(tuple(path))
        assert _value(default) == pytest.approx(value), f"{key}: page says {default}, code {value}"
        assert unit and meaning and source, f"{key}: unit, meaning and source are all needed"
    for section in ("trust", "population", "dynamics"):
        for name in defaults[section]:
            if (section, name) in {("trust", "name"), ("population", "records")}:
                continue  # a label and an input file, not parameters
            assert (section, name) in documented, f"{section}.{name} is not in docs/model.md"


@pytest.fixture(scope="module")
def default_run():
    return srmsim.run()


def test_calibration_figures_are_what_the_default_trust_reaches(default_run) -> None:
    r = default_run
    s = r.students[r.students["sessions_possible"] > 0]
    weekly = r.weekly.groupby("week")[["sessions_attended", "sessions_possible"]].sum()
    absence = 1 - weekly["sessions_attended"] / weekly["sessions_possible"]
    fsm = s["fsm"].astype(bool)
    reached = {
        "attendance (share of sessions)": r.summary["attendance"],
        "persistent absence (10%+ missed)": s["persistent_absent"].mean(),
        "persistent absence, FSM vs non-FSM": s.loc[fsm, "persistent_absent"].mean()
        / s.loc[~fsm, "persistent_absent"].mean(),
        "severe absence (50%+ missed)": s["severe_absent"].mean(),
        "week with the most absence": int(absence.idxmax()),
        "week with the least absence": int(absence.idxmin()),
    }
    rows = {row[0]: row[3] for row in _table_rows("## 7. Calibration targets")}
    for pattern, value in reached.items():
        shown = rows[pattern]
        decimals = len(shown.split(".")[1]) if "." in shown else 0
        assert float(shown) == pytest.approx(round(float(value), decimals), abs=1e-12), (
            f"{pattern}: page says {shown}, the default trust reaches {value:.4f}")
    # the ICC row states the configured value; the test of the 60-school trust recovers it
    icc = rows["attainment ICC between schools"]
    assert re.match(r"0\.18\b", icc) and Scenario().population.attainment_icc == 0.18
    assert np.isfinite(list(reached.values())).all()
