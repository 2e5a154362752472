"""Defects earlier reviews noticed and left alone, each with the test that shows it fixed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srmsim.cli import main

# --- 1. srmsim thresholds --by with columns that fit alone but leave no threshold together ---


def opposite_groups(k: int = 60, fsm_low: float = 0.25, sen_low: float = 0.65) -> pd.DataFrame:
    """400 pupils with spread scores, and two groups of ``k`` (half with the outcome): FSM
    pupils' scores all in [fsm_low, fsm_low + 0.1], SEN pupils' all ``sen_low + 0.05``.
    Each group is large enough alone (30 with and 30 without the outcome), but a threshold that
    cuts the FSM group into two bands of 10 and 10 leaves the SEN group in one band. (SEN
    spread over [0.8, 0.9] was left whole only by where the grid's cuts happened to fall.)"""
    rng = np.random.default_rng(0)
    n = 400
    y_group = np.arange(k) % 2 == 0
    return pd.DataFrame({
        "att": np.r_[rng.uniform(0, 1, n), rng.uniform(fsm_low, fsm_low + .1, k),
                     np.full(k, sen_low + .05)],
        "left": np.r_[rng.uniform(size=n) < .4, y_group, y_group],
        "fsm": np.r_[np.zeros(n, bool), np.ones(k, bool), np.zeros(k, bool)],
        "sen": np.r_[np.zeros(n, bool), np.zeros(k, bool), np.ones(k, bool)],
        "sex": rng.choice(["F", "M"], n + 2 * k),
    })


def thresholds_cli(path: Path, out: Path, by: list[str], capsys) -> tuple[int, str, str]:
    status = main(["thresholds", str(path), "--score", "att", "--outcome", "left",
                   "--n-boot", "40", "--out", str(out), "--by", *by])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_two_by_columns_that_fit_alone_withhold_one_instead_of_failing(tmp_path: Path,
                                                                         capsys) -> None:
    """Was: 'too few students ... to publish any threshold' (exit 2). Now the column that
    leaves no threshold is withheld with one note and the rest is printed, as with a column
    whose group is too small; every band of every table written (overall and per group shown)
    still holds at least 10 with and 10 without. Each column's groups are now cut on its own
    grid, chosen among the overall grid's thresholds (so that runs with other --by columns
    cut no group's band under 10): no threshold of the overall grid splits the SEN pupils
    (all scoring 0.70) into bands of 10 and 10, so sen is withheld alone too."""
    from srmsim.risk import band_counts

    path = tmp_path / "pupils.csv"
    opposite_groups().to_csv(path, index=False)
    status, out, _ = thresholds_cli(path, tmp_path / "alone", ["fsm"], capsys)
    assert status == 0 and "by fsm at threshold" in out
    status, out, _ = thresholds_cli(path, tmp_path / "alone", ["sen"], capsys)
    assert status == 0 and "by sen: withheld (no threshold leaves" in out
    status, out, err = thresholds_cli(path, tmp_path / "both", ["fsm", "sex", "sen"], capsys)
    assert status == 0, err
    notes = [line for line in out.splitlines() if "withheld" in line]
    assert notes == ["by sen: withheld (no threshold leaves at least 10 students with and 10 "
                     "without the outcome in every band of every group)"]
    assert "by fsm at threshold" in out and "by sex at threshold" in out
    assert "by sen at threshold" not in out
    overall = pd.read_csv(tmp_path / "both" / "thresholds.csv")
    by_group = pd.read_csv(tmp_path / "both" / "thresholds_by_group.csv")
    assert sorted(set(by_group["by"])) == ["fsm", "sex"]
    for table in (overall, by_group):
        bands = band_counts(table)
        assert len(bands) and bands[["positives", "negatives"]].min().min() >= 10


def test_withheld_by_columns_do_not_depend_on_their_order(tmp_path: Path, capsys) -> None:
    """The column withheld, the grid and every file are the same whichever order --by names
    the columns in (the choice is by fewest withheld, most thresholds, then column name)."""
    path = tmp_path / "pupils.csv"
    opposite_groups().to_csv(path, index=False)
    runs = []
    for i, cols in enumerate((["fsm", "sen"], ["sen", "fsm"])):
        status, out, _ = thresholds_cli(path, tmp_path / f"o{i}", cols, capsys)
        assert status == 0
        runs.append(([line for line in out.splitlines() if not line.startswith("wrote")],
                     {p.name: p.read_bytes() for p in (tmp_path / f"o{i}").glob("*.csv")}))
    assert runs[0] == runs[1]
    assert "by sen: withheld" in "\n".join(runs[0][0])
    tables = []  # two columns shown: the same rows (in the order given), the same grid
    for i, cols in enumerate((["fsm", "sex", "sen"], ["sen", "sex", "fsm"])):
        assert thresholds_cli(path, tmp_path / f"s{i}", cols, capsys)[0] == 0
        table = pd.read_csv(tmp_path / f"s{i}" / "thresholds_by_group.csv")
        tables.append(table.sort_values(["by", "group", "threshold"]).reset_index(drop=True))
    pd.testing.assert_frame_equal(tables[0], tables[1])
    assert set(tables[0]["by"]) == {"fsm", "sex"}


def test_a_single_by_column_that_leaves_no_threshold_is_withheld(tmp_path: Path,
                                                                  capsys) -> None:
    """One column whose groups are large enough but whose scores are all one value: no
    threshold cuts it into bands of 10, so the report is published without it (was: 'too
    few students' and nothing, though the overall table has thresholds)."""
    rng = np.random.default_rng(0)
    n, k = 400, 60
    df = pd.DataFrame({"att": np.r_[rng.uniform(0, 1, n), np.full(k, 0.5)],
                       "left": np.r_[rng.uniform(size=n) < .4, np.arange(k) % 2 == 0],
                       "fsm": np.r_[np.zeros(n, bool), np.ones(k, bool)]})
    path = tmp_path / "pupils.csv"
    df.to_csv(path, index=False)
    status, out, err = thresholds_cli(path, tmp_path / "t", ["fsm"], capsys)
    assert status == 0, err
    assert ("by fsm: withheld (no threshold leaves at least 10 students with and 10 without "
            "the outcome in every band of every group)") in out
    assert not (tmp_path / "t" / "thresholds_by_group.csv").exists()


def test_protected_python_paths_withhold_the_same_column() -> None:
    """``protected_grid`` and ``threshold_table(protect=10)`` make the CLI's choice."""
    from srmsim.risk import band_counts, protected_grid, threshold_table
    from srmsim.risk.protected import choose_grid

    df = opposite_groups()
    for by in (["fsm", "sen"], ["sen", "fsm"]):
        grid, withheld = protected_grid(df, "att", "left", by=by, min_count=10)
        assert grid.size and withheld == ["sen"]
        table = threshold_table(df, "att", "left", by=by, protect=10)
        assert table.attrs["withheld_by"] == ["sen"] and set(table["by"]) == {"fsm"}
        assert band_counts(table)[["positives", "negatives"]].min().min() >= 10
    choice = choose_grid(df, "att", "left", by=["fsm", "sen"], min_count=10)
    assert choice.too_small == [] and choice.conflicting == ["sen"]


def test_the_fewest_columns_are_withheld() -> None:
    """Three columns of which only one conflicts with the other two: that one goes, not two."""
    df = opposite_groups()
    df["fsm2"] = df["fsm"]  # another column agreeing with fsm
    from srmsim.risk import protected_grid

    for by in (["sen", "fsm", "fsm2"], ["fsm2", "sen", "fsm"]):
        grid, withheld = protected_grid(df, "att", "left", by=by, min_count=10)
        assert grid.size and withheld == ["sen"]
    df["fsm"] = df["sen"]  # now two columns agree with sen: they go, each having no own grid
    # (was fsm2, the fewest: each column's grid no longer depends on the others given)
    _, withheld = protected_grid(df, "att", "left", by=["fsm2", "sen", "fsm"], min_count=10)
    assert withheld == ["sen", "fsm"]


# --- 2. str(result) and result.summary() show a policy run's staff and cost rows ---


def test_a_policy_run_without_interventions_shows_its_staff_and_cost_rows() -> None:
    """A policy whose rule no one meets starts no intervention: the CLI's table
    (summary_table) showed its staff hours and cost, but str(result) and result.summary()
    hid them (they went by interventions > 0). Now all three show them; a run without a
    policy shows none of them."""
    import sys

    from srmsim.model import run
    from srmsim.scenario import scenario_from_dict

    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import tiny_policy_scenario

    spec = tiny_policy_scenario(trust={"n_schools": 1, "students_per_year_group": 10,
                                       "size_cv": 0.0})
    spec["policy"]["parameters"]["attendance_threshold"] = -1.0  # no one below it
    result = run(scenario_from_dict(spec, "tiny"))
    assert result.summary["interventions"] == 0 and result.events is not None
    table = result.summary_table()
    assert {"interventions started", "staff hours", "cost"} <= set(table["measure"])
    for text in (str(result), result.summary()):
        assert "interventions started" in text and "staff hours" in text
        assert "cost" in text
    plain = run(scenario_from_dict({"name": "plain", "trust": {
        "n_schools": 1, "students_per_year_group": 10}}, "plain"))
    assert plain.events is None
    for text in (str(plain), plain.summary(), plain.summary_table().to_string()):
        assert "staff hours" not in text and "interventions started" not in text


# --- 3. json_dumps of numpy scalars ---


def test_json_dumps_converts_numpy_scalars_and_still_nulls_non_finite_ones() -> None:
    """numpy's int64, float32 and bool_ raised json's raw TypeError ("Object of type int64 is
    not JSON serializable"); now they are written as the Python numbers they are, and a
    non-finite numpy float is null, as a Python one is."""
    import json

    from srmsim.outputs import json_dumps

    data = {"n": np.int64(7), "u": np.uint8(255), "share": np.float32(0.5),
            "ok": np.bool_(True), "gap": np.float32("nan"), "top": np.float16("-inf"),
            "rows": [np.int32(1), (np.float64(2.25), np.bool_(False))],
            "plain": [1, 2.5, float("inf"), True]}
    text = json_dumps(data, sort_keys=True)
    assert json.loads(text) == {"n": 7, "u": 255, "share": 0.5, "ok": True, "gap": None,
                                "top": None, "rows": [1, [2.25, False]],
                                "plain": [1, 2.5, None, True]}
    assert json_dumps(np.float64(0.1)) == json.dumps(0.1)  # a float64's text is unchanged
    assert json_dumps(np.float32(0.1)) == json.dumps(float(np.float32(0.1)))


# --- 4. read_yaml_file(error=DataError) ---


def test_read_yaml_file_formats_any_srmsim_error_class(tmp_path: Path) -> None:
    """DataError is not a ScenarioError: ``DataError(source, problems)`` made an error whose
    message was the raw tuple "('…/m.yaml', 'file not found')". Now it is the one line a
    ScenarioError prints, for every way a file can fail."""
    from srmsim.errors import DataError, SrmsimError
    from srmsim.yamlio import read_yaml_file

    dup = tmp_path / "dup.yaml"
    dup.write_text("a: 1\na: 2\n", encoding="utf-8")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"a: \xff\xfe\n")
    cases = [(tmp_path / "none.yaml", "file not found"),
             (tmp_path, "is a directory, not a YAML file"),
             (dup, "malformed YAML: line 2, column 1: duplicate key 'a'"),
             (binary, "not UTF-8 text")]
    for path, what in cases:
        for error in (DataError, SrmsimError):
            with pytest.raises(error) as info:
                read_yaml_file(path, error=error)
            assert type(info.value) is error
            assert str(info.value).startswith(f"{path}: {what}"), str(info.value)


def test_a_utf16_file_is_named_as_utf16(tmp_path: Path, capsys) -> None:
    """A scenario or a thresholds CSV saved as UTF-16 (Excel's "Unicode text") said "not
    UTF-8 text (invalid start byte at byte 0)": it now says what the file is and what to do."""
    from srmsim.cli import main

    scenario = tmp_path / "s.yaml"
    scenario.write_bytes("name: s\n".encode("utf-16"))
    table = tmp_path / "t.csv"
    table.write_bytes("score,outcome\n1,0\n".encode("utf-16"))
    for argv, advice in ((["validate", str(scenario)], "save it as UTF-8"),
                         (["thresholds", str(table), "--score", "score", "--outcome", "outcome"],
                          "save it as CSV UTF-8")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "UTF-16 text (it starts with a UTF-16 byte-order mark), not UTF-8" in err, err
        assert advice in err and "byte 0" not in err


# --- 5. an empty scenario file is refused, not run as the built-in default ---


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "null\n", "---\n", "~\n"])
def test_an_empty_scenario_file_is_refused_by_name(tmp_path: Path, text: str, capsys) -> None:
    """Was: `srmsim validate empty.yaml` printed "valid scenario 'default'" and `srmsim run`
    ran the default trust. Now both exit 2 with one line naming the file, and nothing runs."""
    from srmsim.errors import ScenarioError
    from srmsim.scenario import load_scenario

    path = tmp_path / "empty.yaml"
    path.write_text(text, encoding="utf-8")
    line = f"srmsim: error: {path}: is empty: no scenario"  # validate: "... experiment, ..."
    for argv in (["validate", str(path)], ["run", str(path), "--out", str(tmp_path / "r"),
                                            "--quiet"]):
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.startswith(line) and err.count("\n") == 1, err
    assert not (tmp_path / "r").exists()
    with pytest.raises(ScenarioError, match="is empty: no scenario keys"):
        load_scenario(path, {"years": 2})  # overrides do not make it a scenario


def test_no_scenario_file_is_still_the_built_in_default() -> None:
    """The default without a file, from Python and from a dict of no keys, is unchanged."""
    from srmsim.scenario import default_scenario, scenario_from_dict

    assert scenario_from_dict(None) == scenario_from_dict({}) == default_scenario()


# --- 6. the SEN share is the stated rate over its whole range ---


@pytest.mark.parametrize("sen_rate, fsm_rate", [(0.9, 0.24), (0.76, 0.24), (0.99, 0.05),
                                                (0.7, 0.0), (0.14, 0.24), (1.0, 0.3)])
def test_the_sen_share_is_the_stated_rate_even_when_high(sen_rate: float,
                                                        fsm_rate: float) -> None:
    """Capping an FSM pupil's chance (1.5 times the rescaled rate) at 1 gave 85% SEN pupils
    for a stated 90% (FSM 24%). Now the share is the stated rate: below about 75% FSM pupils
    are 1.5 times as likely to be SEN, as before; above it every FSM pupil is SEN and the
    others' chance makes up the rest. 20,000 students, FSM rate equal in every school."""
    import math

    from srmsim.model import TrustModel
    from srmsim.scenario import Scenario

    sc = Scenario(trust={"n_schools": 400, "students_per_year_group": 50, "size_cv": 0.0,
                         "year_groups": [7]},
                  population={"sen_rate": sen_rate, "fsm_rate": fsm_rate, "fsm_school_sd": 0.0},
                  outputs={"history": "none"})
    t = TrustModel(sc, seed=4).students
    sen, fsm = t.sen.astype(bool), t.fsm.astype(bool)
    n = len(sen)
    # binomial noise, and the FSM share's own (an FSM pupil's chance is at most 1/3 above
    # another's, at the rate where the two rules meet)
    se = math.sqrt((sen_rate * (1 - sen_rate) + fsm_rate * (1 - fsm_rate) / 9) / n)
    assert abs(sen.mean() - sen_rate) <= 4.5 * se, (sen.mean(), sen_rate, se)
    if 1.5 * sen_rate > 1 + 0.5 * fsm_rate:  # 1.5 times is out of reach: every FSM pupil
        assert sen[fsm].all()
    elif 0 < fsm_rate:  # 1.5 times as likely, as before
        a, b = sen[fsm].mean(), sen[~fsm].mean()
        se_ratio = math.sqrt(a * (1 - a) / fsm.sum() / b ** 2
                             + a ** 2 * b * (1 - b) / (~fsm).sum() / b ** 4)
        assert abs(a / b - 1.5) < 4.5 * se_ratio
