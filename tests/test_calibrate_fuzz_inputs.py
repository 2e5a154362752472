"""``srmsim calibrate`` on damaged datasets: a short error naming the file or field, exit 2,
nothing written, never a raw identifier and never the protection switched off."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from conftest import small_record_trust

from srmsim.cli import main
from srmsim.data.dataset import Dataset, write_dataset


def calibrate(data: Path, out: Path) -> tuple[int, str, str]:
    o, e = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
        status = main(["calibrate", str(data), "--out", str(out), "--params",
                       "dynamics.absence_logit", "--max-evals", "1", "--replications", "1",
                       "--quiet"])
    return status, o.getvalue(), e.getvalue()


@pytest.mark.parametrize("value", [None, 0, "", "false", [], {}])
def test_a_damaged_real_data_flag_is_an_error_not_unprotected_output(tmp_path, value) -> None:
    write_dataset(small_record_trust(), tmp_path / "ds")
    meta_path = tmp_path / "ds" / "dataset.json"
    meta = json.loads(meta_path.read_text())
    meta["real_data"] = value
    meta_path.write_text(json.dumps(meta))
    status, out, err = calibrate(tmp_path / "ds", tmp_path / "fit")
    assert status == 2 and out == ""
    assert "dataset.json" in err and "real_data" in err and "Traceback" not in err
    assert not (tmp_path / "fit").exists()


def test_an_orphan_observation_does_not_print_its_student_id(tmp_path) -> None:
    ds = small_record_trust()
    obs = ds.observations.copy()
    obs.loc[5, "student_id"] = "K123456789012"  # a UPN-like id not in the students table
    write_dataset(Dataset(ds.students, obs, ds.meta), tmp_path / "ds")
    status, out, err = calibrate(tmp_path / "ds", tmp_path / "fit")
    assert status == 2 and out == ""
    assert "observations" in err and "student_id" in err and "row 6" in err
    assert "K123456789012" not in err and "Traceback" not in err
    assert not (tmp_path / "fit").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--replications", "1000000000"], "more than 1,000,000"),  # spawned 10**9 seeds first
    (["--replications", "12500", "--max-evals", "81"], "more than 1,000,000"),
    (["--moments", ",,,"], "--moments: no moments given"),  # silently matched every moment
    (["--moments="], "--moments: no moments given"),
])
def test_calibration_sizes_and_lists_are_checked_first(tmp_path, capsys, args, message) -> None:
    write_dataset(small_record_trust(), tmp_path / "ds")
    status = main(["calibrate", str(tmp_path / "ds"), "--out", str(tmp_path / "fit"),
                   "--quiet", *args])
    err = capsys.readouterr().err
    assert status == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "fit").exists()


def test_a_base_name_too_long_for_its_calibrated_name_is_refused_before_any_work(
        tmp_path, capsys, monkeypatch) -> None:
    """``<base>_calibrated`` names the result: a 64-character base name failed only after the
    whole fit had run."""
    import srmsim.data.dataset

    write_dataset(small_record_trust(), tmp_path / "ds")
    scenario = tmp_path / "long.yaml"
    scenario.write_text("name: " + "a" * 54 + "\n")

    def no_work(*args, **kwargs):
        raise AssertionError("the dataset was read before the name was checked")

    monkeypatch.setattr(srmsim.data.dataset, "read_dataset", no_work)
    status = main(["calibrate", str(tmp_path / "ds"), "--scenario", str(scenario), "--out",
                   str(tmp_path / "fit"), "--params", "dynamics.absence_logit", "--quiet"])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert str(scenario) in err and "name: at most 53 characters" in err and "_calibrated" in err
    assert not (tmp_path / "fit").exists()
