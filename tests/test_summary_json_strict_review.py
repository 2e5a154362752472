"""Every JSON file srmsim writes is strict JSON: a missing number is ``null``, never ``NaN``
(which JavaScript's JSON.parse, jq and R's jsonlite reject), and srmsim still reads it, and
older files with ``NaN``, as before."""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from srmsim.cli import main
from srmsim.outputs import json_dumps, json_safe
from srmsim.results import format_summary

TINY = ["--set", "trust.n_schools=1", "--set", "trust.students_per_year_group=1",
        "--set", "trust.year_groups=[11]"]


def strict_loads(text: str) -> Any:
    """``json.loads`` as a strict reader parses: ``NaN``, ``Infinity`` are errors."""
    def refuse(name: str) -> Any:
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def _cli(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code or 0, out.getvalue() + err.getvalue()


@pytest.fixture(scope="module")
def no_fsm_run(tmp_path_factory, default_scenario_path: Path) -> tuple[Path, str]:
    """A run of one pupil, who is not FSM: its FSM persistent-absence rate has no
    denominator."""
    out = tmp_path_factory.mktemp("strict") / "run"
    code, text = _cli("run", str(default_scenario_path), *TINY, "--out", str(out))
    assert code == 0, text
    return out, text


def test_summary_json_of_a_missing_rate_is_strict_json(no_fsm_run) -> None:
    out, _ = no_fsm_run
    text = (out / "summary.json").read_text()
    summary = strict_loads(text)  # raised "not strict JSON: NaN" before
    assert summary["persistent_absence_fsm"] is None
    assert "NaN" not in text and "Infinity" not in text


def test_summary_read_back_prints_n_a_as_before(no_fsm_run) -> None:
    """The table of a summary read back with null prints as the run printed it (n/a), and as
    a summary with NaN (an older file) does."""
    out, printed = no_fsm_run
    strict = strict_loads((out / "summary.json").read_text())
    old = {**strict, "persistent_absence_fsm": math.nan}
    assert "persistent absence, FSM" in printed
    line = next(ln for ln in printed.splitlines() if "persistent absence, FSM" in ln)
    assert line.split()[-1] == "n/a"
    assert format_summary(strict) == format_summary(old)
    again = next(ln for ln in format_summary(strict).splitlines() if "absence, FSM" in ln)
    assert again.split()[-1] == "n/a"


def test_report_reads_the_strict_summary_and_an_older_nan_one(no_fsm_run, tmp_path) -> None:
    """`srmsim report` of the run works with null, and still with an older file's NaN."""
    out, _ = no_fsm_run
    code, text = _cli("report", str(out), "--out", str(tmp_path / "new.html"))
    assert code == 0, text
    old = tmp_path / "old"
    old.mkdir()
    for p in out.iterdir():
        if p.is_file():
            (old / p.name).write_bytes(p.read_bytes())
    summary = json.loads((out / "summary.json").read_text())
    summary["persistent_absence_fsm"] = math.nan
    (old / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    code, text = _cli("report", str(old), "--out", str(tmp_path / "old.html"))
    assert code == 0, text
    assert "Traceback" not in text


def test_json_dumps_maps_every_non_finite_number_to_null() -> None:
    data = {"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": {"d": (np.float64("nan"),)},
            "e": np.float32("nan"), "f": None, "g": 0, "h": "NaN"}
    text = json_dumps(data, indent=2, default=lambda v: float(v))
    assert strict_loads(text) == {"a": None, "b": [None, None, 1.5], "c": {"d": [None]},
                                  "e": None, "f": None, "g": 0, "h": "NaN"}
    assert json_safe([math.nan]) == [None]


def test_json_dumps_of_finite_data_is_the_text_json_dumps_gave() -> None:
    """A manifest or summary without a missing number is written byte for byte as before,
    so digests, and `--resume` of folders an older srmsim wrote, are unchanged."""
    data = {"experiment_hash": "abc", "seeds": [1, 2, 3], "x": 0.1, "big": 1e300,
            "nested": {"k": [1.0, -0.0, True, None, "é"]}}
    for kwargs in ({"indent": 2}, {"sort_keys": True}, {}):
        assert json_dumps(data, **kwargs) == json.dumps(data, **kwargs)


def test_dict_keys_numpy_numbers_and_non_finite_are_written() -> None:
    """A count by a label (a pandas value count, a groupby) has numpy keys, and a missing
    label is NaN: ``json.dumps`` refused both with a traceback ("keys must be str, int, ..."
    and "Out of range float values"). numpy numbers become Python's; a non-finite key is the
    string json.dumps would make of it (a key is a string in strict JSON), so a NaN and an
    infinite key stay apart; finite keys read as json.dumps writes them."""
    data = {float("nan"): 1, np.int64(3): 2, 1.5: 3, np.float64(-np.inf): 4, np.bool_(True): 5,
            "nested": {np.float32("nan"): [1.0, float("nan")], np.int8(7): "x"}}
    assert strict_loads(json_dumps(data)) == {
        "NaN": 1, "3": 2, "1.5": 3, "-Infinity": 4, "true": 5,
        "nested": {"NaN": [1.0, None], "7": "x"}}
    assert json_dumps({1: 2, "a": 1.5, 2.5: None}) == json.dumps({1: 2, "a": 1.5, 2.5: None})
