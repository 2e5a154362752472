"""Numbers a float cannot hold as written.

1. A number beyond 2**53 written to more digits than a float keeps (``9007199254740993.0``) was
   silently rounded by the YAML reader (``t > 9007199254740992`` was false for it), and a whole
   number beyond 2**53 where a model expects a float was rounded by pydantic: both are refused
   naming the file and the key, exit 2, while ``0.1``, ``1e-3`` or ``1e30`` read as always.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from srmsim.cli import main
from srmsim.errors import ScenarioError
from srmsim.labels import StrictModel
from srmsim.yamlio import dump_yaml, load_yaml_text, rounded_number

REPO = Path(__file__).resolve().parents[1]


def fails(capsys: pytest.CaptureFixture[str], *argv: object, contains: str = "") -> str:
    """Run the CLI in-process: exit 2, one short message, no traceback."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("srmsim: error:") and "Traceback" not in err, err
    assert contains in err, err
    return err


def scenario(tmp_path: Path, value: str) -> Path:
    path = tmp_path / "big.yaml"
    path.write_text("name: big\ntrust: {n_schools: 2, students_per_year_group: 20}\n"
                    f"policy:\n  parameters: {{t: {value}}}\n"
                    "  rules:\n    big: \"t > 9007199254740992\"\n")
    return path


# ---------------------------------------------------------------------------------------------
# 1. numbers YAML cannot hold as written


@pytest.mark.parametrize("written", ["9007199254740993.0", "9007199254740993.0e0",
                                     "+9007199254740993.", "90071992547409930e-1",
                                     "9007199254740992.5", "-9007199254740993.0"])
def test_a_scenario_number_a_float_would_round_is_refused(tmp_path: Path, capsys, written: str
                                                          ) -> None:
    path = scenario(tmp_path, written)
    err = fails(capsys, "validate", path, contains=f"{path}: policy.parameters.t: {written} ")
    assert "beyond 2**53" in err and "9007199254740992.0" in err and "line 4" in err


def test_set_refuses_it_too_and_writes_nothing(tmp_path: Path, capsys) -> None:
    path, out = scenario(tmp_path, "1.5"), tmp_path / "out"
    fails(capsys, "run", path, "--set", "policy.parameters.t=9007199254740993.0e0", "--out", out,
          contains="--set policy.parameters.t: 9007199254740993.0e0 is beyond 2**53")
    assert not out.exists()


@pytest.mark.parametrize("written", ["0.1", "1e-3", "1e30", "1.0e30", "-2.5", "123456.789",
                                     "9007199254740992.0", "9007199254740994.0", "1.5e300",
                                     "1.7976931348623157e308", "1.2345678901234567e30"])
def test_ordinary_numbers_read_as_before(written: str) -> None:
    assert rounded_number(written) is None
    assert load_yaml_text(f"x: {written}") == {"x": float(written)}


def test_every_float_srmsim_writes_reads_back() -> None:
    """dump_yaml writes a float's shortest repr, which never gives a digit the float lacks."""
    rng = np.random.default_rng(5)
    values = [float(v) for v in np.concatenate([rng.uniform(2**53, 2**80, 2000),
                                                10 ** rng.uniform(16, 308, 2000)])]
    assert load_yaml_text(dump_yaml({"v": values}))["v"] == values


def test_a_file_read_as_text_keeps_the_digits() -> None:
    """A data mapping keeps numbers as the text written: nothing is rounded to refuse there."""
    assert load_yaml_text("x: 9007199254740993.0", numbers_as_text=True) == {
        "x": "9007199254740993.0"}


def test_the_key_is_named_inside_lists_and_merges() -> None:
    with pytest.raises(ScenarioError, match=r"f\.yaml: a\.b\[1\]: 9007199254740993\.0 \(line 2"):
        load_yaml_text("a:\n  b: [1, 9007199254740993.0]\n", "f.yaml")
    with pytest.raises(ScenarioError, match=r"f\.yaml: b\.x: 1000000000000000000000000000000\.0"):
        load_yaml_text("a: 1\nb: {<<: {x: 1000000000000000000000000000000.0}}\n", "f.yaml")
    with pytest.raises(ScenarioError, match=r"f\.yaml: x: 9_007_199_254_740_993\.0 "):
        load_yaml_text("x: !!float 9_007_199_254_740_993.0", "f.yaml")  # as float() reads it
    with pytest.raises(ScenarioError, match=r"f\.yaml: a\.x: 9007199254740993\.0"):  # its place
        load_yaml_text("a: &a {x: 9007199254740993.0}\nb: {<<: *a}\n", "f.yaml")


def test_a_whole_number_where_a_float_is_expected_is_refused(tmp_path: Path, capsys) -> None:
    """The YAML reader keeps 9007199254740993 exact (a seed may be up to 2**63 - 1); pydantic
    made it the float 9007199254740992.0 where a float is expected, as a lever's bound."""
    text = (REPO / "experiments" / "optimise_attendance.yaml").read_text()
    text = text.replace("../scenarios/", str(REPO / "scenarios") + "/")
    high = tmp_path / "high.yaml"
    high.write_text(text.replace("{low: 0.85, high: 0.96}", "{low: 0.85, high: 9007199254740993}"))
    fails(capsys, "validate", high, contains="levers.policy.parameters.attendance_threshold.high"
          ": 9007199254740993 is beyond 2**53")
    choices = tmp_path / "choices.yaml"
    choices.write_text(text.replace("[weekly, half_termly, termly]", "[9007199254740993, 2]"))
    fails(capsys, "validate", choices, contains="9007199254740993 (at [0]) is beyond 2**53")
    exact = tmp_path / "exact.yaml"  # 2**53 + 2 is a float: kept
    exact.write_text(text.replace("{low: 0.85, high: 0.96}", "{low: 0.85, high: 9007199254740994}"))
    assert main(["validate", str(exact)]) == 0
    capsys.readouterr()


def test_whole_numbers_stay_whole_where_a_model_takes_them() -> None:
    class Model(StrictModel):
        seed: int = 0
        weights: dict[str, float] = {}

    assert Model(seed=2**62 + 1).seed == 2**62 + 1
    assert Model(weights={"a": 2**60}).weights == {"a": 2.0**60}
    with pytest.raises(ValueError, match=r"9007199254740993 \(at \['a'\]\) is beyond 2\*\*53"):
        Model(weights={"a": 2**53 + 1})
