"""Property-based attack on every input file: the shipped scenarios, experiments, trials, the
mapping and the sample data export, mutated with the hostile values of the input-safety page.

Whatever the mutation, srmsim either accepts the file (exit 0) or exits 2 with a short message and
no traceback, and writes nothing outside the output folder. Profiles (``HYPOTHESIS_PROFILE``):
``quick`` (default, CI), ``long`` (the slow study below).
"""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from srmsim.cli import main

REPO = Path(__file__).resolve().parents[1]
settings.register_profile("quick", max_examples=8, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                 HealthCheck.too_slow])
settings.register_profile("long", max_examples=600, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                 HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))

SHIPPED = sorted([*(REPO / "scenarios").glob("*.yaml"), *(REPO / "experiments").glob("*.yaml"),
                  REPO / "data/mapping_example.yaml"])

HOSTILE = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 2**63, -(2**63) - 1, 2**53 + 1, 10**30, 1e308,
                     -1, 0, "..", "../x", "/etc/passwd", "a/b", "", "on", "no", None, True,
                     [], {}, [[[[[]]]]], "x" * 5000, "import os", "__class__", "\x00",
                     "attendance(4) < 9007199254740993"]),
    st.integers(), st.floats(), st.text(max_size=20),
)


def leaves(node, path=()):
    """Every (path, value) in a parsed YAML document, mappings and lists included."""
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from leaves(v, (*path, i))


def mutate(doc, picks, draw):
    doc = copy.deepcopy(doc)
    spots = list(leaves(doc))
    for pick in picks:
        path, _ = spots[pick % len(spots)]
        if not path:
            continue
        parent = doc
        try:
            for key in path[:-1]:
                parent = parent[key]
            action = draw(st.sampled_from(["value", "value", "rename", "drop"]))
            last = path[-1]
            if action == "value":
                parent[last] = draw(HOSTILE)
            elif action == "drop":
                del parent[last]
            elif isinstance(parent, dict):
                parent[draw(st.sampled_from(["..", "a/b", "on", "/abs", "x y", "ok"]))] = \
                    parent.pop(last)
        except (KeyError, IndexError, TypeError):
            continue
    return doc


def dump(doc) -> str:
    try:
        return yaml.safe_dump(doc, sort_keys=False, allow_unicode=False)
    except yaml.YAMLError:
        return "x: 1\n"


def check_exit(status: int, err: str, ok: tuple[int, ...] = (0,)) -> None:
    assert status in (*ok, 2), err
    assert "Traceback" not in err
    if status == 2:
        assert err.startswith("srmsim: error:"), err
        assert max(len(line) for line in err.splitlines()) < 500 and len(err) < 4000, err


@pytest.mark.parametrize("shipped", SHIPPED, ids=lambda p: p.name)
@given(data=st.data())
def test_mutated_shipped_files_validate_or_fail_cleanly(shipped, data, tmp_path_factory, capsys):
    doc = yaml.safe_load(shipped.read_text())
    picks = data.draw(st.lists(st.integers(0, 10_000), min_size=1, max_size=3))
    mutated = mutate(doc, picks, data.draw)
    work = tmp_path_factory.mktemp("h")
    path = work / shipped.name
    text = dump(mutated)
    if isinstance(mutated, dict) and isinstance(mutated.get("scenario"), str):
        text = dump({**mutated, "scenario": str((shipped.parent / mutated["scenario"]).resolve())})
    path.write_text(text)
    before = set(work.iterdir())
    if shipped.name == "mapping_example.yaml":
        from srmsim.data.mapping import load_mapping
        from srmsim.errors import SrmsimError

        try:
            load_mapping(path)
        except SrmsimError as err:
            assert len(str(err).splitlines()[0]) < 500
        return
    status = main(["validate", str(path)])
    check_exit(status, capsys.readouterr().err)
    assert set(work.iterdir()) == before  # validate writes nothing


@given(name=st.one_of(st.sampled_from(["..", ".", "../up", "/tmp/abs", "a/b", "~", "-x", "ok"]),
                      st.text(min_size=1, max_size=12)))
def test_scenario_names_never_leave_the_output_folder(name, tmp_path_factory, capsys,
                                                      monkeypatch):
    work = tmp_path_factory.mktemp("names")
    monkeypatch.chdir(work)
    (work / "s.yaml").write_text(dump({"name": name, "trust": {"n_schools": 1,
                                                               "students_per_year_group": 3},
                                       "outputs": {"history": "none"}}))
    status = main(["run", "s.yaml", "--quiet"])
    check_exit(status, capsys.readouterr().err)
    made = {p.relative_to(work).parts[0] for p in work.rglob("*")}
    assert made <= {"s.yaml", "out"}
    if status == 0:
        (folder,) = (work / "out").iterdir()
        assert folder.name == name
        summary = json.loads((folder / "summary.json").read_text())
        numbers = [v for v in summary.values() if isinstance(v, float)]
        assert numbers and all(math.isfinite(v) for v in numbers)


CSV_HOSTILE = st.sampled_from(["9223372036854775808", "-9223372036854775809", "1e400", "nan",
                               "inf", "", "\x00", "é", "=cmd|' /C calc'!A0", "1" * 400, "-1",
                               "true", "2024-13-45", "\"", "a,b"])


@given(data=st.data())
def test_mutated_data_exports_validate_or_fail_cleanly(data, tmp_path_factory, capsys):
    work = tmp_path_factory.mktemp("csv")
    tables = {}
    for name in ("students", "observations"):
        lines = (REPO / f"data/sample/{name}.csv").read_text().splitlines()[:25]
        rows = [ln.split(",") for ln in lines]
        for _ in range(data.draw(st.integers(1, 4))):
            r = data.draw(st.integers(0, len(rows) - 1))
            c = data.draw(st.integers(0, len(rows[0]) - 1))
            rows[r][c] = data.draw(CSV_HOSTILE)
        ending = data.draw(st.sampled_from(["\n", "\r\n", "\r"]))
        raw = ending.join(",".join(r) for r in rows).encode("utf-8") + ending.encode()
        if data.draw(st.booleans()):
            raw = raw.replace(b"P00003", b"P\xff0003")
        tables[name] = work / f"{name}.csv"
        tables[name].write_bytes(raw)
    status = main(["data", "validate", "--students", str(tables["students"]),
                   "--observations", str(tables["observations"]), "--out", str(work / "rep")])
    out = capsys.readouterr()
    if status == 2 and not out.err:  # rows were rejected: reported on stdout, row by row
        assert "rejected" in out.out
        assert max(len(line) for line in out.out.splitlines()) < 500
    else:
        check_exit(status, out.err)


@pytest.mark.slow
def test_long_profile_study(tmp_path):  # pragma: no cover - run with -m slow
    """The same properties with many more examples (``HYPOTHESIS_PROFILE=long``)."""
    import subprocess
    import sys

    env = {**os.environ, "HYPOTHESIS_PROFILE": "long", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(Path(__file__)), "-k", "not long_profile"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=7200)
    assert proc.returncode == 0, proc.stdout[-3000:]
