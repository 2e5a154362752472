"""Hostile real data: runs from records, their reports, and anonymised copies' summaries."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srmsim.cli import main
from srmsim.records import RecordPopulation
from srmsim.report.words import describe_trust
from srmsim.scenario import default_scenario

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.mark.parametrize("prior", [[np.nan] * 19 + [81.3], [100.0] * 20])
def test_prior_attainment_that_cannot_be_standardised_is_unknown(prior: list[float]) -> None:
    """One recorded score was kept on its own scale (a pupil at 81.3 started 81 SD above the
    trust's mean); equal scores were divided by a zero spread (a RuntimeWarning, on stderr of
    ``srmsim run``). Neither has a spread to standardise by: every score is unknown (drawn)."""
    records = pd.DataFrame({"school": ["A"] * 20, "prior_attainment": prior})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        z = RecordPopulation(records).prior_z
    assert np.isnan(z).all()
    from srmsim.calibrate.msm import _prior_share

    assert _prior_share(records) == 0.0  # calibrate does not say pupils start at their score


def test_prior_attainment_is_still_standardised_within_the_trust() -> None:
    prior = [90.0, 100.0, np.nan, 110.0, 120.0]
    z = RecordPopulation(pd.DataFrame({"school": ["A"] * 5, "prior_attainment": prior})).prior_z
    known = np.array([90.0, 100.0, 110.0, 120.0])
    assert np.isnan(z[2])
    np.testing.assert_allclose(z[[0, 1, 3, 4]], (known - known.mean()) / known.std())


def test_a_trust_from_records_is_not_described_by_the_scenarios_school_count() -> None:
    """report.html of a run from 4 schools' records said "A trust of 10 schools": the
    scenario's trust.n_schools, which the records override."""
    sc = default_scenario().with_overrides({"population": {"records": str(SAMPLE)},
                                            "trust": {"n_schools": 10}})
    text = describe_trust(sc)
    assert "10 schools" not in text and "imported records" in text


def test_an_anonymised_copy_is_bound_by_the_summaries_of_its_source(tmp_path: Path,
                                                                   capsys) -> None:
    """``data summary --by school`` of the import and of its anonymised copy: the copy's
    pupils are the import's less the 3 suppressed for k-anonymity, so the two tables'
    differences gave how many of each school were suppressed, and their SEN and persistent
    absence. The copy is bound by what was published from its source: no summary of it."""
    ds, anon = tmp_path / "ds", tmp_path / "anon"
    assert main(["data", "import", str(SAMPLE / "students.csv"),
                 str(SAMPLE / "observations.csv"), "--out", str(ds)]) == 0
    assert main(["data", "summary", str(ds), "--by", "school"]) == 0
    key = tmp_path / "key"
    key.write_text("0123456789abcdef0123\n")
    capsys.readouterr()
    assert main(["data", "anonymise", str(ds), "--out", str(anon), "--key-file", str(key),
                 "--quasi", "school,year_group,sex,fsm,sen", "--k", "3"]) == 0
    # the 3 suppressed are withheld in print as in anonymisation_report.json (224)
    assert "students suppressed: c of c" in capsys.readouterr().out
    ledger = json.loads((anon / "published.json").read_text())
    assert ledger["tables"] == [["school"]]
    assert (anon / "published.json").stat().st_mode & 0o777 == 0o600
    for by in ("school", "sen"):
        status = main(["data", "summary", str(anon), "--by", by])
        out, err = capsys.readouterr()
        assert status == 2 and "Total" not in out and "none is published" in err, err
        assert "Traceback" not in err
    # nor a calibration: its n per moment beside the summary's Total gave the suppressed
    anon2, fit = tmp_path / "anon2", tmp_path / "fit"
    (ds / "exports.json").unlink()  # the first copy was never shared (else a second is refused)
    assert main(["data", "anonymise", str(ds), "--out", str(anon2), "--key-file", str(key),
                 "--quasi", "school,sex,fsm,sen", "--k", "3"]) == 0
    capsys.readouterr()
    status = main(["calibrate", str(anon2), "--out", str(fit), "--max-evals", "1",
                   "--replications", "1", "--quiet"])
    out, err = capsys.readouterr()
    assert status == 2 and "published from other records" in err and "Traceback" not in err, err
    assert not fit.exists() and not out


def test_an_anonymised_copy_of_unpublished_records_can_be_summarised(tmp_path: Path,
                                                                    capsys) -> None:
    ds, anon = tmp_path / "ds", tmp_path / "anon"
    assert main(["data", "import", str(SAMPLE / "students.csv"),
                 str(SAMPLE / "observations.csv"), "--out", str(ds)]) == 0
    key = tmp_path / "key"
    key.write_text("0123456789abcdef0123\n")
    assert main(["data", "anonymise", str(ds), "--out", str(anon), "--key-file", str(key),
                 "--quasi", "school,year_group,sex", "--k", "3"]) == 0
    assert not (anon / "published.json").exists()
    capsys.readouterr()
    assert main(["data", "summary", str(anon), "--by", "school"]) == 0
    assert "Total" in capsys.readouterr().out


def _records_files(folder: Path) -> dict[str, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = {"csv": folder / "dup.csv"}
    files["csv"].write_text("student_id,school,school,fsm\nP1,A,B,true\nP2,A,B,false\n")
    tables = {"dup": pa.Table.from_arrays([pa.array(["A", "A"]), pa.array(["B", "B"])],
                                          names=["school", "school"]),
              "nested": pa.table({"school": pa.array([["A"], ["A"]]), "fsm": [True, False]}),
              "bytes": pa.table({"school": pa.array([b"A", b"A"]), "fsm": [True, False]})}
    for name, table in tables.items():
        files[name] = folder / f"{name}.parquet"
        pq.write_table(table, files[name])
    return files


@pytest.mark.parametrize("which, message", [
    ("csv", "column name 'school' appears more than once"),
    ("dup", "column name 'school' appears more than once"),
    ("nested", "column 'school' holds nested values"),
    ("bytes", "column 'school' holds bytes"),
])
def test_records_whose_columns_are_not_one_plain_table_are_refused(tmp_path: Path, capsys,
                                                                   which: str,
                                                                   message: str) -> None:
    """``population.records`` given as a file: a second 'school' column was renamed
    'school.1' by pandas and the first silently used; a Parquet column of lists or bytes
    became schools named "['A']" or "b'A'" and the run went on. Refused as import refuses
    them: exit 2, the file and column named, no run folder."""
    path = _records_files(tmp_path)[which]
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"name: x\nyears: 1\npopulation:\n  records: {path}\n")
    status = main(["run", str(scenario), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert status == 2 and message in err and str(path) in err, err
    assert "Traceback" not in err and not (tmp_path / "run").exists()
