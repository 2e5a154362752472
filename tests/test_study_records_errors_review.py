"""A study variant's unreadable population.records is named by the study and the variant.

Found 2026-12-06 (a helper's probe): `srmsim validate` and `srmsim experiment` of an
experiment whose variant set `population.records: /etc/passwd` said only "/etc/passwd: cannot
be read as Parquet student records", not which file or variant set it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from srmsim.cli import main

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("command", ["validate", "experiment"])
def test_the_variant_that_names_unreadable_records_is_named(tmp_path: Path, capsys,
                                                            command: str) -> None:
    bad = tmp_path / "not_records.txt"
    bad.write_text("root:x:0:0:root:/root:/bin/bash\n")
    exp = {"name": "e", "scenario": str(REPO / "scenarios" / "reading_age.yaml"),
           "baseline": "a", "replications": 2,
           "variants": {"a": {"trust.n_schools": 2}, "b": {"population.records": str(bad)}}}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp))
    args = [command, str(path)] + (["--out", str(tmp_path / "o"), "--quiet"]
                                   if command == "experiment" else [])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "experiment 'e': variant 'b': population.records: " in err, err
    assert "not a Parquet file, and not named .csv" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
