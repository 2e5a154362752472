"""Request backlogs the memory check let through, identifiers with invisible characters, and
group labels that sorted as text or merged ``1`` with ``"1"``."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from test_data_fakes import fake_export, mapping, write_export  # noqa: E402

import srmsim.memory  # noqa: E402
from srmsim.admin.desk import RequestDesk  # noqa: E402
from srmsim.cli import main  # noqa: E402
from srmsim.errors import DataError, SrmsimError  # noqa: E402

GIB = 2**30


# ----------------------------------------------------------------------- request backlogs
def _backlog_scenario(tmp_path: Path, backlog: int, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({
        "trust": {"n_schools": 0}, "years": 1,
        "requests": {"desk": {"arrivals": {"per_week": 5}, "backlog": backlog,
                              "steps": [{"name": "a", "role": "clerk", "minutes": 30}],
                              "staff": {"clerk": {"staff": 1}}}}}))
    return path


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_memory_figure_of_a_request_is_a_measured_lower_bound() -> None:
    # measured peak RSS: ~2.25 kB a waiting one-step request, ~2.6 kB with three steps; the
    # figure was 1,000 + 180 a step, so 10 million requests (some 23 GB) passed as 12 GB
    one_step = srmsim.memory.BYTES_PER_REQUEST + srmsim.memory.BYTES_PER_REQUEST_STEP
    three_steps = srmsim.memory.BYTES_PER_REQUEST + 3 * srmsim.memory.BYTES_PER_REQUEST_STEP
    assert 2_000 <= one_step <= 2_250
    assert 2_300 <= three_steps <= 2_600


def test_a_backlog_of_ten_million_is_refused_up_front(tmp_path: Path, capsys,
                                                      monkeypatch) -> None:
    """A backlog of 10,000,000 with one clerk, on a machine with 16 GiB free: refused before
    anything is allocated (exit 2, one line, no traceback) and an earlier run's folder stays
    as it was."""
    out = tmp_path / "out"
    assert main(["run", str(_backlog_scenario(tmp_path, 10)), "--out", str(out),
                 "--quiet"]) == 0
    before = _digest(out)
    monkeypatch.setattr(srmsim.memory, "available_bytes", lambda: 16 * GIB)

    def let_through(*args, **kwargs):  # never build 23 GB of requests, even when not refused
        raise AssertionError("the memory check let a backlog of 10 million through")

    monkeypatch.setattr(RequestDesk, "__init__", let_through)
    capsys.readouterr()
    huge = _backlog_scenario(tmp_path, 10_000_000, "huge.yaml")
    assert main(["run", str(huge), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "about 10,000,195 requests" in err and "GiB" in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1
    assert _digest(out) == before
    with pytest.raises(SrmsimError, match="requests"):
        srmsim.memory.check_run_fits(0, 0, "x", 10_000_000, 10_000_000)


# ----------------------------------------------------------------------- identifiers
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u202e", "\u2066"]


def _validate(tmp_path: Path, st: pd.DataFrame, ob: pd.DataFrame, mp: dict | None = None,
              encoding: str = "utf-8"):
    from srmsim.data import load_mapping, validate_files

    paths = write_export(tmp_path, st, ob, mp, encoding=encoding)
    files = {t: [paths[t]] for t in ("students", "observations")}
    return validate_files(files, load_mapping(paths["mapping"])), paths


@pytest.mark.parametrize("char", INVISIBLE)
def test_an_invisible_character_in_an_identifier_is_rejected_by_row(tmp_path: Path,
                                                                      char: str) -> None:
    """'P1010' and 'P1010\\u200b' (and 'NORTH' and 'NORTH\\u200b') print alike but were two
    pupils and two schools: rejected by file, column and row, the character named."""
    st, ob = fake_export()
    st.loc[10, "Pupil Ref"] += char
    st.loc[11, "School Code"] += char
    ob.loc[3, "Pupil Ref"] = "Q" + char + "1"
    mp = mapping()
    mp.pop("schools", None)  # no list of schools to catch the look-alike school
    res, _ = _validate(tmp_path, st, ob, mp)
    rej = res.rejects[res.rejects["rule"] == "control_character"]
    assert [(r.table, r.row, r.column, r.field) for r in rej.itertuples()] == [
        ("students", 12, "Pupil Ref", "student_id"), ("students", 13, "School Code", "school"),
        ("observations", 5, "Pupil Ref", "student_id")]
    assert rej["message"].str.contains(f"U+{ord(char):04X}", regex=False).all()
    assert not res.students["school"].str.contains(char, regex=False).any()
    assert set(res.students["school"]) <= {"NORTH", "SOUTH"}


def test_a_leading_bom_is_the_file_encoding_not_an_identifier(tmp_path: Path) -> None:
    st, ob = fake_export()
    res, _ = _validate(tmp_path, st, ob, encoding="utf-8-sig")
    assert res.rejected == 0, res.rejects.to_string()
    assert res.students["student_id"].iloc[0] == "P1000"


def test_data_import_refuses_an_invisible_school_id(tmp_path: Path, capsys) -> None:
    st, ob = fake_export()
    st.loc[5, "School Code"] = "NORTH\u200b"
    mp = mapping()
    mp.pop("schools", None)
    paths = write_export(tmp_path, st, ob, mp)
    out = tmp_path / "dataset"
    code = main(["data", "import", "--mapping", str(paths["mapping"]), "--students",
                 str(paths["students"]), "--observations", str(paths["observations"]),
                 "--out", str(out), "--show", "20"])  # (listed: their count is c)
    text = capsys.readouterr()
    assert code == 2
    assert "trust_pupils.csv:7 School Code [school]" in text.out + text.err
    assert "U+200B" in text.out + text.err and "Traceback" not in text.err
    assert not (out / "students.parquet").exists()


def test_student_records_with_an_invisible_school_are_refused(tmp_path: Path) -> None:
    """A records file given to a scenario (``population.records``) is checked as import
    checks it: 'S1' and 'S1\\u200b' would be two schools of the simulated trust."""
    from srmsim.records import read_student_records

    path = tmp_path / "students.csv"
    pd.DataFrame({"student_id": ["a", "b", "c"], "school": ["S1", "S1\u200b", "S2"]}
                 ).to_csv(path, index=False)
    with pytest.raises(DataError, match="school") as err:
        read_student_records(path)
    assert "\u200b" not in str(err.value)


def test_labels_name_the_invisible_character() -> None:
    from srmsim.labels import identifier_character, printable

    assert identifier_character("S1\u200b") == "U+200B"
    assert identifier_character("S1\x1b") == "U+001B"
    assert identifier_character("Zoë-Ann O'Neil") is None
    assert printable("S1\u200b") == "S1\\u200b"


# ----------------------------------------------------------------------- group labels
def _scores(n: int = 4000, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"score": rng.random(n), "y": rng.random(n) < 0.3,
                         "year": rng.choice([2, 3, 10, 11], n)})


def test_numeric_group_labels_sort_by_value() -> None:
    """Year groups 2, 3, 10, 11 came out as 10, 11, 2, 3 (sorted as text)."""
    from srmsim.risk.thresholds import group_gaps, threshold_table

    table = threshold_table(_scores(), "score", "y", thresholds=[0.5], by="year")
    assert list(table["group"]) == ["2", "3", "10", "11"]
    with_missing = _scores().astype({"year": "float64"})
    with_missing.loc[:9, "year"] = np.nan
    table = threshold_table(with_missing, "score", "y", thresholds=[0.5], by="year")
    assert list(table["group"]) == ["2.0", "3.0", "10.0", "11.0", "(missing)"]
    assert len(group_gaps(table)) == 1


def test_group_order_puts_numbers_by_value_then_text() -> None:
    from srmsim.risk._columns import group_order

    assert group_order(["10", "b", "(missing)", "2", "a", "-1.5", "2"]) == [
        "-1.5", "2", "10", "a", "b", "(missing)"]


@pytest.mark.parametrize("values", [[1, "1"], [True, "True"], ["2", 2.0], [1, 1.5]])
def test_a_label_column_mixing_kinds_is_refused_not_merged(values: list) -> None:
    """An object column holding 1 and "1" was one group of both (as text they read alike)."""
    from srmsim.risk.thresholds import threshold_table

    df = _scores(400)
    df["g"] = pd.Series([values[i % 2] for i in range(len(df))], dtype=object)
    with pytest.raises(DataError, match=r"column 'g': group labels mix .* \(row 0\) and .* "
                                        r"\(row 1\)"):
        threshold_table(df, "score", "y", thresholds=[0.5], by="g")


def test_one_kind_of_label_with_missing_values_still_works() -> None:
    from srmsim.risk._columns import group_labels

    df = pd.DataFrame({"g": pd.Series(["a", None, "b", np.nan], dtype=object)})
    assert list(group_labels(df, "g")) == ["a", "(missing)", "b", "(missing)"]
    cat = pd.DataFrame({"g": pd.Categorical([1, 2, 1])})
    assert list(group_labels(cat, "g")) == ["1", "2", "1"]


def test_features_and_coarsened_categories_mixing_kinds_are_refused() -> None:
    from srmsim.risk.coarsen import Coarsener
    from srmsim.risk.design import FeatureDesign

    df = pd.DataFrame({"x": pd.Series(["1", 1, "a", "a"], dtype=object)})
    with pytest.raises(DataError, match="column 'x': categories mix text"):
        FeatureDesign(["x"]).fit(df)
    with pytest.raises(DataError, match="column 'x': categories mix text"):
        Coarsener({"categories": ["x"], "min_count": 1}).fit(df)
    fitted = FeatureDesign(["x"]).fit(df.astype(str))
    with pytest.raises(DataError, match="categories mix"):
        fitted.transform(df)


def test_the_thresholds_command_lists_year_groups_in_order(tmp_path: Path, capsys) -> None:
    df = _scores()
    df["y"] = df["y"].astype(int)
    df["school"] = np.arange(len(df)) % 20
    path = tmp_path / "scores.csv"
    df.round(3).to_csv(path, index=False)
    out = tmp_path / "out"
    assert main(["thresholds", str(path), "--score", "score", "--outcome", "y", "--by", "year",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    line = next(ln for ln in printed.splitlines() if ln.startswith("by year"))
    assert line.index(" 2: ") < line.index(" 3: ") < line.index(" 10: ") < line.index(" 11: ")
    groups = pd.read_csv(out / "thresholds_by_group.csv")["group"]
    assert list(dict.fromkeys(groups)) == [2, 3, 10, 11]
