"""What newcomers read: errors whole, every column in its unit, figures that show their data.

Review of README, docs/, the notebooks and the commands' printed output on the shipped scenarios,
read as a teacher or trust leader who does not write code would (helper 218, 2026-12-07).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from srmsim.cli import main
from srmsim.errors import MAX_LINE

sys.path.insert(0, str(Path(__file__).parent))  # the optimisation test's scenario, test_explore's

ROOT = Path(__file__).resolve().parents[1]


# --- an invalid variant name: its error is read whole -----------------------------------------

@pytest.mark.parametrize("name", ["reading support", "both.", "Reading_Support!"])
def test_an_invalid_variant_names_error_is_not_cut_mid_sentence(tmp_path, capsys, name):
    """A variant misspelt with a space or a final dot (``reading support:``) printed the naming
    rule cut at "(it may become a folder na...": the one-line error passed the 300 characters
    the command line shows of a line. Now a long problem goes on lines of its own, whole."""
    data = yaml.safe_load((ROOT / "experiments" / "quickstart.yaml").read_text())
    data["scenario"] = str(ROOT / "scenarios" / "reading_and_attendance.yaml")
    data["variants"][name] = {}
    folder = tmp_path / "a folder a teacher made" / "experiments"
    folder.mkdir(parents=True)
    path = folder / "quickstart.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "..." not in err, err
    assert all(len(line) <= MAX_LINE + len("srmsim: error: ") for line in err.splitlines()), err
    assert err.rstrip().endswith("(it may become a folder name)"), err
    assert f"variants.{name}" in err and "is not a valid name" in err and str(path) in err


def test_a_short_error_stays_on_one_line() -> None:
    from srmsim.errors import ScenarioError

    assert str(ScenarioError("a.yaml", [("name", "bad")])) == "a.yaml: name: bad"
    long = str(ScenarioError("a.yaml", [("name", "x" * 400)]))
    assert long.splitlines()[0] == "a.yaml:" and long.splitlines()[-1] == "    " + "x" * 400
