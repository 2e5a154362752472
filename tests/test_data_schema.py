"""The schema, its documentation in data/README.md, the example mapping and the Parquet types."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pyarrow as pa

from srmsim.data import OBSERVATIONS, RULES, STUDENTS, TABLES, load_mapping, schema_markdown
from srmsim.data.schema import conform, from_arrow, to_arrow

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "data" / "README.md"


def test_every_schema_field_and_rule_is_documented() -> None:
    text = README.read_text(encoding="utf-8")
    for tbl in TABLES.values():
        for f in tbl.fields:
            assert f"`{f.name}`" in text, f"{tbl.name}.{f.name} not in data/README.md"
    for rule in RULES:
        assert f"`{rule}`" in text, f"rule {rule} not in data/README.md"


def test_readme_schema_block_is_generated_from_code() -> None:
    text = README.read_text(encoding="utf-8")
    m = re.search(r"<!-- schema:start -->\n(.*?)<!-- schema:end -->", text, re.S)
    assert m, "schema markers missing in data/README.md"
    assert m.group(1) == schema_markdown(), \
        "data/README.md is out of date: paste the output of `srmsim data schema`"


def test_schema_shape() -> None:
    assert STUDENTS.key == ("student_id",)
    assert ("date_of_birth", "age_months") in STUDENTS.one_of
    assert {f.name for f in STUDENTS.fields if f.required} == {"student_id", "school",
                                                               "year_group"}
    assert STUDENTS["sex"].categories == ("F", "M", "other", "unknown")
    assert OBSERVATIONS["satisfaction"].min == 1 and OBSERVATIONS["satisfaction"].max == 5
    assert {f.name for f in STUDENTS.fields if f.kind in ("direct", "free_text")} == {
        "name", "upn", "address", "postcode", "notes"}


def test_example_mapping_maps_onto_the_schema() -> None:
    m = load_mapping(ROOT / "data" / "mapping_example.yaml")
    assert m.reference_date.isoformat() == "2024-09-01"
    assert m.schools == ["NFD", "RVS"]
    for name, tm in m.tables.items():
        assert tm.files, name
        assert set(tm.columns.values()) <= set(TABLES[name].names)
    assert m.tables["students"].values["fsm"] == {"Y": True, "N": False}
    assert m.classify("any_pupils_file.csv") == "students"


def test_parquet_round_trip_keeps_types_and_missing() -> None:
    frame = conform(pd.DataFrame({
        "student_id": ["a", "b"], "school": ["X", None], "year_group": [7, None],
        "date_of_birth": pd.to_datetime(["2012-05-01", None]), "fsm": [True, None],
        "prior_attainment": [101.5, None]}), STUDENTS)
    tab = to_arrow(frame, STUDENTS)
    assert tab.schema.field("year_group").type == pa.int64()
    assert tab.schema.field("date_of_birth").type == pa.date32()
    assert tab.schema.field("fsm").type == pa.bool_()
    back = from_arrow(tab, STUDENTS)
    pd.testing.assert_frame_equal(back, frame)
