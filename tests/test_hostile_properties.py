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
import sys
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


@pytest.mark.once
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
        try:  # a hostile name ('\x00') is srmsim's to refuse, not pathlib's here
            scenario = str((shipped.parent / mutated["scenario"]).resolve())
        except (ValueError, OSError):
            scenario = mutated["scenario"]
        text = dump({**mutated, "scenario": scenario})
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


@pytest.mark.once
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


# --------------------------------------------------------------------------------------------
# whole commands on mutated experiment and trial files: a tiny trust, two replications

#: examples per end-to-end property: each runs a real experiment or trial (seconds, not ms)
END_TO_END = {"quick": 2, "long": 60}.get(os.environ.get("HYPOTHESIS_PROFILE", "quick"), 2)
EXPERIMENTS = [REPO / "experiments/quickstart.yaml"]
if os.environ.get("HYPOTHESIS_PROFILE") == "long":  # about 30 s a run: the long study only
    EXPERIMENTS.append(REPO / "experiments/automation.yaml")
TRIALS = [REPO / "experiments/trial_reading.yaml",
          REPO / "experiments/trial_attendance_cluster.yaml"]


def _tiny(doc, kind: str, shipped: Path):
    """Keep the mutated file's shape but bound its cost: two replications, at most two
    variants and two outcomes, the scenario path made absolute."""
    if not isinstance(doc, dict):
        return doc
    doc = dict(doc)
    doc["replications"] = 2
    if isinstance(doc.get("scenario"), str):
        doc["scenario"] = str((shipped.parent / doc["scenario"]).resolve())
    if isinstance(doc.get("overrides"), dict):  # the trust's size comes from --set
        doc["overrides"] = {k: v for k, v in doc["overrides"].items()
                            if not str(k).startswith("trust.")}
    if kind == "experiment":
        if isinstance(doc.get("variants"), dict):
            doc["variants"] = dict(list(doc["variants"].items())[:2])
        if isinstance(doc.get("outcomes"), list):
            doc["outcomes"] = doc["outcomes"][:2]
    return doc


def assert_finite_outputs(out: Path) -> None:
    """Every CSV and JSON file under ``out`` holds only finite numbers (a missing value is an
    empty CSV cell or a JSON null, never inf or NaN)."""
    import pandas as pd

    def refuse(token: str):
        raise AssertionError(f"non-finite JSON number {token}")

    for path in out.rglob("*"):
        if path.suffix == ".json":
            json.loads(path.read_text(), parse_constant=refuse)
        elif path.suffix == ".csv":
            table = pd.read_csv(path, dtype=str, keep_default_na=False)
            cells = {c.strip().lower() for c in table.to_numpy().ravel()}
            bad = cells & {"inf", "-inf", "+inf", "nan", "infinity", "-infinity"}
            assert not bad, (path.name, bad)


def run_end_to_end(kind: str, shipped: Path, data, tmp_path_factory, capsys,
                   monkeypatch) -> None:
    doc = yaml.safe_load(shipped.read_text())
    picks = data.draw(st.lists(st.integers(0, 10_000), max_size=2), label="mutations")
    mutated = _tiny(mutate(doc, picks, data.draw), kind, shipped)
    work = tmp_path_factory.mktemp(kind)
    monkeypatch.chdir(work)
    (work / shipped.name).write_text(dump(mutated))
    argv = [kind, shipped.name, "--out", "out", "--workers", "1", "--quiet",
            "--set", f"trust.n_schools={1 if kind == 'experiment' else 4}",
            "--set", f"trust.students_per_year_group={4 if kind == 'experiment' else 8}"]
    if data.draw(st.booleans(), label="no report"):
        argv.append("--no-report")
    status = main(argv)
    out = capsys.readouterr()
    if status == 1:  # some replications failed: listed, the others reported
        assert "failed" in out.out and "Traceback" not in out.out + out.err
    else:
        check_exit(status, out.err)
    assert {p.name for p in work.iterdir()} <= {shipped.name, "out"}
    if status == 0:
        assert_finite_outputs(work / "out")


@pytest.mark.once
@pytest.mark.parametrize("shipped", EXPERIMENTS, ids=lambda p: p.name)
@settings(max_examples=END_TO_END)
@given(data=st.data())
def test_mutated_experiments_run_end_to_end_or_fail_cleanly(shipped, data, tmp_path_factory,
                                                            capsys, monkeypatch):
    run_end_to_end("experiment", shipped, data, tmp_path_factory, capsys, monkeypatch)


@pytest.mark.once
@pytest.mark.parametrize("shipped", TRIALS, ids=lambda p: p.name)
@settings(max_examples=max(1, END_TO_END // 2))
@given(data=st.data())
def test_mutated_trials_run_end_to_end_or_fail_cleanly(shipped, data, tmp_path_factory, capsys,
                                                       monkeypatch):
    run_end_to_end("trial", shipped, data, tmp_path_factory, capsys, monkeypatch)


# --------------------------------------------------------------------------------------------
# no raw identifier in any anonymised output: export -> import -> anonymise -> run from the
# records -> thresholds -> calibrate -> summary, then every file and every printed line scanned

#: identifier formats: numbers (leading zeros, float-like), codes and labels
ID_FORMATS = ["{:010d}", "{}", "ADM{:07d}", "{}.0", "FSM-{}", "Y7-{}", "TOTAL{}", "c{}x"]
URN_FORMATS = ["{}", "URN{}", "{}.0", "SCH-{}"]
DOB_FORMATS = ["%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y"]
TIMINGS = ("runtime_seconds", "student_weeks_per_second", "seconds")
WORD = st.text(alphabet="bcdfghjklmnpqrstvwxz", min_size=5, max_size=9).map(str.capitalize)


def identifier_export(data, seed: int):
    """A fake MIS export of 300 pupils with identifiers drawn in many formats; the export, its
    mapping and every raw identifier value to look for."""
    import datetime as dt

    sys.path.insert(0, str(REPO / "tests"))
    from test_data_fakes import fake_export, mapping

    base = data.draw(st.integers(10**6, 10**9), label="id base")
    id_fmt = data.draw(st.sampled_from(ID_FORMATS), label="student id format")
    urn_fmt = data.draw(st.sampled_from(URN_FORMATS), label="urn format")
    urn0 = data.draw(st.integers(100000, 149999), label="urn")
    schools = [urn_fmt.format(urn0), urn_fmt.format(urn0 + 37)]
    dob_fmt = data.draw(st.sampled_from(DOB_FORMATS), label="dob format")
    students, obs = fake_export(seed=seed, n_students=300, n_weeks=4,
                                schools=("NORTH", "SOUTH"))
    code = dict(zip(("NORTH", "SOUTH"), schools, strict=True))
    raw_ids = [id_fmt.format(base + 7919 * i) for i in range(len(students))]
    to_raw = dict(zip(students["Pupil Ref"], raw_ids, strict=True))
    last = [data.draw(WORD, label="surname") for _ in range(3)]
    street = data.draw(WORD, label="street")
    secret = data.draw(WORD, label="note word")
    dobs = [dt.datetime.strptime(d, "%d/%m/%Y") for d in students["D.O.B."]]
    students = students.assign(**{
        "Pupil Ref": raw_ids,
        "School Code": students["School Code"].map(code),
        "D.O.B.": [d.strftime(dob_fmt) for d in dobs],
        "Full Name": [f"{n.split()[0]} {last[i % 3]}{i}" for i, n in
                      enumerate(students["Full Name"])],
        "UPN": [f"{'ABCDEFGHJK'[i % 10]}{base % 10**6:06d}{i:05d}{'XYZ'[i % 3]}"
                for i in range(len(students))],
        "Address": [f"{i + 1} {street} Road, Leeds" for i in range(len(students))],
        "Postcode": [f"LS{i % 30 + 1} {i % 9}{'ABD'[i % 3]}Q" for i in range(len(students))],
        "Notes": [f"spoke to parent about {secret}, call back" if i % 4 == 0 else ""
                  for i in range(len(students))],
    })
    obs = obs.assign(**{"Pupil Ref": obs["Pupil Ref"].map(to_raw),
                        "School Code": obs["School Code"].map(code)})
    m = mapping()
    m["schools"] = schools
    m["students"]["columns"].update({"Address": "address", "Postcode": "postcode"})
    m["students"]["date_formats"] = {"date_of_birth": dob_fmt}
    secrets = {*raw_ids, *schools, *students["Full Name"], *students["UPN"],
               *students["Address"], *students["Postcode"], secret, *last, street,
               *students["D.O.B."], *(d.date().isoformat() for d in dobs)}
    digits = {str(int(v)) for v in raw_ids + schools if v.isdigit()}  # a number read as one
    stored = {*raw_ids, *schools, *students["Full Name"], *students["UPN"],
              *students["Address"], *students["Postcode"]}  # what the raw import keeps as is
    return students, obs, m, {v for v in secrets | digits if len(v) >= 5}, stored


def texts_of(folder: Path):
    """(file, text) for every file under ``folder``: CSV/JSON/YAML/HTML as text (JSON without
    machine timings), Parquet values and metadata through pyarrow, PNG text chunks."""
    import pyarrow.parquet as pq
    from PIL import Image

    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            meta = table.schema.metadata or {}
            yield path, "\n".join([*(str(v) for col in table.columns
                                     for v in col.to_pylist()),
                                   *(k.decode() + v.decode("utf-8", "replace")
                                     for k, v in meta.items())])
        elif path.suffix == ".png":
            with Image.open(path) as img:
                yield path, "\n".join(f"{k} {v}" for k, v in img.info.items())
        elif path.suffix == ".json":
            doc = json.loads(path.read_text())
            if isinstance(doc, dict):
                doc = {k: v for k, v in doc.items() if k not in TIMINGS}
            yield path, json.dumps(doc)
        else:
            yield path, path.read_text(errors="replace")


def leaks(text: str, secrets: set[str]) -> set[str]:
    """Raw identifier values found in ``text`` as a whole word (not inside a longer token)."""
    import re

    return {v for v in secrets if v in text and re.search(
        rf"(?<![A-Za-z0-9]){re.escape(v)}(?![A-Za-z0-9])", text)}


@pytest.mark.once
@settings(max_examples=max(1, END_TO_END // 2))
@given(data=st.data())
def test_no_raw_identifier_reaches_any_anonymised_output(data, tmp_path_factory, capsys,
                                                         monkeypatch):
    work = tmp_path_factory.mktemp("ids")
    monkeypatch.chdir(work)
    monkeypatch.setenv("SRMSIM_TEST_KEY", "0123456789abcdefghijklmn")
    students, obs, mapping_doc, secrets, stored = identifier_export(data, seed=11)
    students.to_csv(work / "trust_pupils.csv", index=False)
    obs.to_csv(work / "weekly_obs.csv", index=False)
    (work / "mapping.yaml").write_text(yaml.safe_dump(mapping_doc, sort_keys=False))
    (work / "records.yaml").write_text(dump({
        "name": "from_records", "population": {"records": str(work / "anon")},
        "outputs": {"history": "none"}}))
    steps = [
        ["data", "import", "trust_pupils.csv", "weekly_obs.csv", "--mapping", "mapping.yaml",
         "--out", "imported"],
        ["data", "anonymise", "imported", "--out", "anon", "--key-env", "SRMSIM_TEST_KEY",
         "--quasi", "school,sex,fsm"],
        ["run", "records.yaml", "--out", "run", "--quiet", "--report"],
        ["thresholds", "run", "--score", "prior_attainment", "--outcome", "persistent_absent",
         "--by", "sex", "fsm", "--n-boot", "40", "--out", "thr"],
        ["calibrate", "anon", "--out", "cal", "--params", "dynamics.absence_logit",
         "--max-evals", "1", "--replications", "1", "--quiet"],
        ["data", "summary", "anon", "--by", "school,year_group", "--out", "summary.csv"],
    ]
    printed = ""
    for argv in steps:
        status = main(argv)
        out = capsys.readouterr()
        assert status == 0, (argv, out.err[-2000:])
        if argv[:2] != ["data", "import"]:  # the import's report is of raw data, privately
            printed += out.out + out.err
    assert leaks(printed, secrets) == set()
    assert (work / "run").stat().st_mode & 0o077 == 0  # a run from records is owner-only
    found = {}
    for folder in ("anon", "run", "thr", "cal"):
        for path, text in texts_of(work / folder):
            hit = leaks(text, secrets)
            if hit:
                found[str(path.relative_to(work))] = sorted(hit)[:3]
    summary = leaks((work / "summary.csv").read_text(), secrets)
    assert found == {} and summary == set()
    # the scan itself sees identifiers where they are: the raw import holds them all
    raw = "\n".join(t for _, t in texts_of(work / "imported"))
    assert leaks(raw, stored) == stored


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
