"""Hostile input: each attack class of the input-safety page gets a clean exit 2 (or a correct
result), a short message naming the file and key, no traceback and nothing written elsewhere."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from srmsim.cli import main
from srmsim.errors import ScenarioError

REPO = Path(__file__).resolve().parents[1]
TINY = {"trust": {"n_schools": 2, "students_per_year_group": 8}, "outputs": {"history": "none"}}


def write(path: Path, data: object) -> Path:
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def fails(capsys, *argv: str, contains: str = "") -> str:
    """Run the CLI in-process; it must exit 2 with one short message and no traceback."""
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.startswith("srmsim: error:") and "Traceback" not in err
    assert len(err) < 2000 and max(len(x) for x in err.splitlines()) < 500
    assert contains in err, err
    return err


@contextlib.contextmanager
def peak_memory() -> Iterator[list[int]]:
    """The peak of Python's traced allocations (numpy's included) inside the block, in bytes:
    a refusal must come before the work it refuses, whatever the machine's speed."""
    tracemalloc.start()
    peak = [0]
    try:
        yield peak
    finally:
        peak[0] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


# ---------------------------------------------------------------------------------------------
# bounded YAML


def test_alias_bomb_depth_and_size_are_refused_quickly(tmp_path, capsys, monkeypatch):
    lol = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n"
        for i in range(8))
    bomb = write(tmp_path / "bomb.yaml", lol)
    with peak_memory() as peak:
        fails(capsys, "validate", str(bomb), contains="expands")
    assert peak[0] < 512 * 2**20  # refused before expanding: it took 84 s and 5.7 GB
    deep = "policy: " + "[" * 1000 + "]" * 1000 + "\n"
    fails(capsys, "validate", str(write(tmp_path / "deep.yaml", deep)), contains="nested deeper")
    import srmsim.yamlio

    monkeypatch.setattr(srmsim.yamlio, "MAX_BYTES", 1000)
    big = write(tmp_path / "big.yaml", "description: " + "x" * 5000 + "\n")
    fails(capsys, "validate", str(big), contains="limit")


def test_duplicate_keys_are_errors_and_keys_are_names(tmp_path, capsys):
    fails(capsys, "validate", str(write(tmp_path / "d.yaml", "name: a\nyears: 1\nyears: 2\n")),
          contains="duplicate key 'years'")
    nested = "policy:\n  rules:\n    r: 'attendance(4) < 0.9'\n    r: 'attendance(4) < 0.8'\n"
    fails(capsys, "validate", str(write(tmp_path / "n.yaml", nested)), contains="line 4")
    # `on`, `no`, `yes` are names, not booleans (YAML 1.1 would read them as true/false)
    on = ("policy:\n  rules:\n    on: 'attendance(4) < 0.9'\n  workflows:\n    no:\n"
          "      trigger: on\n      steps: [{action: mentoring}]\n"
          "  staff: {school: {mentor: 60}}\n")
    assert main(["validate", str(write(tmp_path / "on.yaml", on))]) == 0


def test_long_values_are_cut_in_messages(tmp_path, capsys):
    err = fails(capsys, "validate", str(write(tmp_path / "l.yaml", {"years": "9" * 100_000})),
                contains="years")
    assert len(err) < 500


# ---------------------------------------------------------------------------------------------
# names never become paths


@pytest.mark.once
@pytest.mark.parametrize("name", ["..", ".", "../x", "/tmp/abs", "a/b", "a\\b", "", " x", "x" * 65,
                                  "C:evil", "a\x00b",
                                  # folders Windows cannot create or open (projects are shared)
                                  "CON", "nul", "Aux", "prn", "com1", "LPT9", "nul.txt",
                                  "com3.tar.gz", "run.", "x "])
def test_unsafe_names_are_rejected_everywhere(tmp_path, capsys, name):
    fails(capsys, "validate", str(write(tmp_path / "s.yaml", {"name": name})), contains="name")
    scenario = write(tmp_path / "ok.yaml", {"name": "ok", **TINY})
    exp = {"name": "e", "scenario": str(scenario), "baseline": "a",
           "variants": {"a": {}, name: {}}}
    fails(capsys, "validate", str(write(tmp_path / "e.yaml", exp)), contains="variants")
    fails(capsys, "validate", str(write(tmp_path / "e2.yaml", {**exp, "name": name,
                                                                  "variants": {"a": {}}})))
    trial = yaml.safe_load((REPO / "experiments/trial_reading.yaml").read_text())
    trial.update(name=name, scenario=str(REPO / "scenarios/reading_age.yaml"))
    fails(capsys, "validate", str(write(tmp_path / "t.yaml", trial)), contains="name")
    policy = {"rules": {name: "attendance(4) < 0.9"}}
    fails(capsys, "validate", str(write(tmp_path / "p.yaml", {"policy": policy})))


def test_run_without_out_writes_only_under_out_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "s.yaml", {"name": "tiny", **TINY})
    assert main(["run", "s.yaml", "--quiet"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "s.yaml"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["tiny"]


@pytest.mark.parametrize("argv", [
    ["run", "{scenario}", "--out", ""],
    ["run", "{scenario}", "--out", "  "],
    ["experiment", "{experiment}", "--out", ""],
    ["run", ""],
    ["data", "validate", "--students", ""],
])
def test_an_empty_file_or_folder_name_is_refused(tmp_path, capsys, monkeypatch, argv):
    """`--out ""` used to write to the default folder, and "" elsewhere meant the current one."""
    monkeypatch.chdir(tmp_path)
    names = {"scenario": str(write(tmp_path / "s.yaml", {"name": "tiny", **TINY})),
             "experiment": str(REPO / "experiments/quickstart.yaml")}
    with pytest.raises(SystemExit) as stop:
        main([a.format(**names) for a in argv])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "is empty: give a file or folder name" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]  # nothing written


@pytest.mark.parametrize("argv", [
    ["run", "{scenario}", "--out", "a\x01b"],
    ["run", "{scenario}", "--out", "out\u200b"],
    ["discover", "{scenario}", "--condition", "attendance < 0.9", "--out", "x\x1b[2Jy"],
])
def test_a_file_or_folder_name_with_a_hidden_character_is_refused(tmp_path, capsys,
                                                                  monkeypatch, argv):
    """`--out $'a\\x01b'` made a folder whose name prints as 'ab' (and a zero-width space one
    that prints as 'out')."""
    monkeypatch.chdir(tmp_path)
    names = {"scenario": str(write(tmp_path / "s.yaml", {"name": "tiny", **TINY}))}
    with pytest.raises(SystemExit) as stop:
        main([a.format(**names) for a in argv])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "control or invisible character U+" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]  # nothing written


def test_every_file_or_folder_argument_refuses_an_empty_name():
    """Every sub-command's file and folder arguments, including ones added later."""
    import argparse

    from srmsim.argtypes import out_argument, path_argument
    from srmsim.cli import build_parser

    path_dests = {"out", "dir", "file", "files", "path", "data", "scenario", "in_dir", "mapping",
                  "students", "observations", "key_file"}

    def parsers(parser):
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    yield from parsers(child)

    checked, untyped = 0, []
    for parser in parsers(build_parser()):
        for action in parser._actions:
            if action.dest in path_dests:
                checked += 1
                # an --out also refuses a name Windows cannot hold (out_argument)
                if action.type is not (out_argument if action.dest == "out" else path_argument):
                    untyped.append(f"{parser.prog} {action.dest}")
    assert checked >= 30 and not untyped, untyped


# ---------------------------------------------------------------------------------------------
# no silent wrong results


@pytest.mark.parametrize("key,value", [
    ("dynamics.absence_logit", ".nan"), ("dynamics.absence_logit", "-.inf"),
    ("dynamics.absence_logit", "1e300"),
    ("population.reading_gap_mean", ".inf"), ("policy.parameters.t", ".nan"),
    ("policy.actions.reading_club.effect.reading", ".nan"),
    ("policy.actions.reading_club.take_up", ".nan"),
])
def test_non_finite_and_absurd_numbers_are_rejected(tmp_path, capsys, key, value):
    section, *rest = key.split(".")
    text = f"{section}:\n"
    indent = "  "
    for part in rest[:-1]:
        text += f"{indent}{part}:\n"
        indent += "  "
    text += f"{indent}{rest[-1]}: {value}\n"
    fails(capsys, "validate", str(write(tmp_path / "s.yaml", text)), contains=rest[-1])


def test_non_finite_uncertain_ranges_are_rejected(tmp_path, capsys):
    scenario = write(tmp_path / "s.yaml", {"name": "s", **TINY})
    text = (f"scenario: {scenario}\nbaseline: a\nvariants: {{a: {{}}}}\n"
            "uncertain:\n  dynamics.absence_logit: [-4, .inf]\n")
    fails(capsys, "validate", str(write(tmp_path / "e.yaml", text)), contains="uncertain")


def test_policy_cross_references_are_all_checked(tmp_path, capsys):
    def policy(**extra):
        base = {"rules": {"low": "attendance(4) < 0.9"},
                "workflows": {"w": {"trigger": "low", "steps": [{"action": "mentoring"}]}},
                "staff": {"school": {"mentor": 60}}}
        for k, v in extra.items():
            base[k] = {**base[k], **v}
        return str(write(tmp_path / "p.yaml", {"policy": base}))

    fails(capsys, "validate", policy(workflows={"off": {"trigger": "nope", "enabled": False,
                                                        "steps": [{"action": "mentoring"}]}}),
          contains="policy.workflows.off.trigger")
    fails(capsys, "validate", policy(workflows={"x": {"trigger": "low", "enabled": False,
                                                      "priority": "import os",
                                                      "steps": [{"action": "mentoring"}]}}),
          contains="policy.workflows.x.priority")
    fails(capsys, "validate", policy(staff={"school": {"mentr": 60}}), contains="mentr")
    fails(capsys, "validate", policy(rules={"p": "pooled_risk > 0.5"}),
          contains="no policy.pool_model")
    fails(capsys, "validate", policy(rules={"s": {"when": "attendance(4) < 0.9",
                                                  "schools": [0, 99]}}), contains="[99]")
    fails(capsys, "validate", policy(rules={"big": "reading_gap < 9007199254740993"}),
          contains="2**53")
    fails(capsys, "validate", policy(rules={"big": "reading_gap < " + "9" * 1900}),
          contains="2**53")
    assert main(["validate", policy()]) == 0


def test_seed_given_on_the_command_line_is_saved(tmp_path, capsys):
    scenario = write(tmp_path / "s.yaml", {"name": "s", "seed": 1, **TINY})
    assert main(["run", str(scenario), "--seed", "7", "--out", str(tmp_path / "a"),
                 "--quiet"]) == 0
    saved = yaml.safe_load((tmp_path / "a/scenario.yaml").read_text())
    assert saved["seed"] == 7
    assert main(["run", str(tmp_path / "a/scenario.yaml"), "--out", str(tmp_path / "b"),
                 "--quiet"]) == 0
    a, b = (json.loads((tmp_path / d / "summary.json").read_text()) for d in "ab")
    for d in (a, b):
        d.pop("runtime_seconds"), d.pop("student_weeks_per_second", None)
    assert a == b and a["seed"] == 7


# ---------------------------------------------------------------------------------------------
# the results store


def tiny_experiment(tmp_path: Path, **extra) -> Path:
    scenario = write(tmp_path / "s.yaml", {
        "name": "s", "seed": 3, **TINY,
        "policy": {"rules": {"low": "attendance(4) < 0.95"},
                   "workflows": {"w": {"trigger": "low",
                                       "steps": [{"action": "parent_text"}]}}}})
    return write(tmp_path / "e.yaml", {
        "name": "e", "scenario": str(scenario), "baseline": "none", "replications": 3,
        "outcomes": ["attendance", "cost"], "variants": {"none": {"policy": None}, "w": {}},
        **extra})


@pytest.mark.once
def test_store_damage_is_reported_by_name(tmp_path, capsys):
    exp = tiny_experiment(tmp_path)
    out = tmp_path / "r"
    assert main(["experiment", str(exp), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    capsys.readouterr()
    good = out / "runs/w/rep-00001.parquet"
    data = good.read_bytes()
    for damage, contains in [(b"", "rep-00001"), (data[: len(data) // 2], "rep-00001")]:
        good.write_bytes(damage)
        fails(capsys, "compare", str(out), contains=contains)
        fails(capsys, "experiment", str(exp), "--out", str(out), "--resume", "--workers", "1",
              "--quiet", contains=contains)
    good.unlink()  # a pipe or a device in its place: named as such, not as a missing file
    os.mkfifo(good)
    fails(capsys, "compare", str(out), contains="rep-00001.parquet: run file is not a regular "
                                                "file (a device, pipe or socket)")
    good.unlink()
    good.symlink_to("/dev/zero")  # a link srmsim never makes: refused as one, before reading
    fails(capsys, "compare", str(out), contains="rep-00001.parquet: is a symbolic link (to "
                                                "/dev/zero)")
    good.unlink()
    good.write_bytes(data)
    # a run whose hash column was dropped is no more this experiment's than one of another hash
    pd.read_parquet(good).drop(columns=["experiment_hash"]).to_parquet(good)
    fails(capsys, "compare", str(out), contains="has no experiment_hash column")
    good.write_bytes(data)
    # per-run detail (the report's tables by group and week): damaged, or of another kind
    detail = out / "detail/w/rep-00001-groups.parquet"
    kept = detail.read_bytes()
    detail.write_bytes(kept[: len(kept) // 2])
    fails(capsys, "compare", str(out), "--report", contains="rep-00001-groups")
    pd.DataFrame({"outcome": [1.5], "value": ["x"]}).to_parquet(detail)
    fails(capsys, "compare", str(out), "--report", contains="not a groups detail file")
    detail.write_bytes(kept)
    shutil.copy(good, out / "runs/w/rep-00002.parquet")  # a copied run under another name
    fails(capsys, "compare", str(out), contains="rep-00002")
    (out / "runs/w/rep-00002.parquet").unlink()
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text("{not json")
    fails(capsys, "compare", str(out), contains="manifest.json")
    (out / "manifest.json").write_text(json.dumps({**manifest, "experiment_hash": "0" * 16}))
    fails(capsys, "compare", str(out), contains="another experiment")
    # fields every reader relies on: a clear error, not a KeyError in the report
    without_baseline = {k: v for k, v in manifest.items() if k != "baseline"}
    for edited in (without_baseline, {**manifest, "baseline": ["none"]},
                   {**manifest, "outcomes": "attendance"}, {**manifest, "outcomes": [1]},
                   {**manifest, "variants": ["none", "w"]}):
        (out / "manifest.json").write_text(json.dumps(edited))
        for command in (["compare", str(out)], ["report", str(out)],
                        ["experiment", str(exp), "--out", str(out), "--resume", "--workers", "1",
                         "--quiet"]):
            fails(capsys, *command, contains="not an srmsim experiment manifest")
    (out / "manifest.json").unlink()  # runs without a manifest are never adopted
    fails(capsys, "experiment", str(exp), "--out", str(out), "--workers", "1", "--quiet",
          contains="no manifest.json")


def disk_full(*args, **kwargs):
    raise OSError(28, "No space left on device", "injected")


@pytest.mark.once
def test_experiment_outputs_are_swapped_in_as_a_set(tmp_path, capsys, monkeypatch):
    """effects.csv, forest.png and report.html: a failure while writing them leaves the earlier
    ones byte for byte; runs added without a new report take the stale report.html away; a new
    store is never scattered among files srmsim did not write."""
    from conftest import folder_bytes

    exp = tiny_experiment(tmp_path)
    out = tmp_path / "r"
    assert main(["experiment", str(exp), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    assert (out / "report.html").is_file()
    (out / "effects.csv").write_text("an earlier session's effects\n")
    before = folder_bytes(out)
    with monkeypatch.context() as m:
        m.setattr(sys.modules["srmsim.figures"], "save_png", disk_full)  # writing forest.png
        fails(capsys, "compare", str(out), "--report", contains="No space left")
    assert folder_bytes(out) == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    (out / "runs/w/rep-00002.parquet").unlink()
    assert main(["experiment", str(exp), "--out", str(out), "--workers", "1", "--quiet",
                 "--resume", "--no-report"]) == 0
    assert not (out / "report.html").exists()  # it described one run fewer
    assert (out / "effects.csv").read_bytes() != before["effects.csv"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    fails(capsys, "experiment", str(exp), "--out", str(mine), "--workers", "1", "--quiet",
          contains="did not write there")
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


@pytest.mark.once
def test_sequential_resume_matches_the_uninterrupted_run(tmp_path, capsys):
    # with this seed the cost half-width is 36 after 2 replications, 26 after 3, 17 after 4:
    # a target of 30 stops the uninterrupted run at 4
    exp = tiny_experiment(tmp_path, replications=2,
                          sequential={"half_width": {"cost": 30.0}, "max_replications": 6,
                                      "batch": 2, "min_replications": 2})
    full = tmp_path / "full"
    assert main(["experiment", str(exp), "--out", str(full), "--workers", "1", "--quiet"]) == 0
    assert json.loads((full / "manifest.json").read_text())["replications"] == 4
    # killed near the end of the second batch: all runs but the baseline's last are stored and
    # the manifest still says 2. Deciding on every stored run (3 pairs: half-width 26) would
    # stop at once, with one replication fewer and a different answer.
    part = tmp_path / "part"
    shutil.copytree(full, part)
    (part / "runs/none/rep-00003.parquet").unlink()
    (part / "effects.csv").unlink()
    manifest = json.loads((part / "manifest.json").read_text())
    manifest["replications"] = 2
    (part / "manifest.json").write_text(json.dumps(manifest))
    assert main(["experiment", str(exp), "--out", str(part), "--workers", "1", "--quiet",
                 "--resume"]) == 0
    capsys.readouterr()
    a, b = (pd.read_csv(d / "effects.csv") for d in (full, part))
    pd.testing.assert_frame_equal(a, b)
    assert a["replications"].max() == 4
    assert json.loads((part / "manifest.json").read_text())["replications"] == 4


# ---------------------------------------------------------------------------------------------
# outputs and pipes


def test_full_disk_is_a_clean_error(tmp_path, capsys, monkeypatch):
    import srmsim.results

    def no_space(path, write, private=False):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(srmsim.results, "write_atomic", no_space)
    scenario = write(tmp_path / "s.yaml", {"name": "s", **TINY})
    fails(capsys, "run", str(scenario), "--out", str(tmp_path / "o"), "--quiet",
          contains="No space left on device")


def test_broken_pipe_is_quiet(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(f"'{sys.executable}' -m srmsim.cli rules | head -n 1", shell=True,
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.stdout.strip() and "Traceback" not in proc.stderr
    assert "BrokenPipe" not in proc.stderr


def test_yaml_loader_api():
    from srmsim.yamlio import load_yaml_text

    assert load_yaml_text("a: &x {b: 1}\nc:\n  <<: *x\n  e: 2\n") == {"a": {"b": 1},
                                                                      "c": {"b": 1, "e": 2}}
    with pytest.raises(ScenarioError, match="plain name"):
        load_yaml_text("? [a]\n: 1\n")


@pytest.mark.parametrize("text", [
    "a: &x {b: 1}\nc:\n  <<: *x\n  b: 2\n",  # the mapping's own b silently won
    "a: &x {b: 1}\nd: &y {b: 3}\nc:\n  <<: [*x, *y]\n",  # the first merge silently won
    "a: &x {b: 1}\nd: &y {e: 3, <<: *x}\nc:\n  <<: *y\n  b: 5\n",  # through a nested merge
])
def test_a_key_given_twice_through_a_merge_is_a_duplicate(text):
    from srmsim.yamlio import load_yaml_text

    with pytest.raises(ScenarioError, match=r"line \d+, column \d+: duplicate key 'b'"):
        load_yaml_text(text)


def test_merge_duplicates_are_named_in_scenario_and_experiment_files(tmp_path, capsys):
    scenario = write(tmp_path / "m.yaml", "name: m\nbase: &base {n_schools: 2}\n"
                     "trust:\n  <<: *base\n  n_schools: 3\n")
    err = fails(capsys, "validate", str(scenario), contains="duplicate key 'n_schools'")
    assert str(scenario) in err and "line 4" in err
    exp = tiny_experiment(tmp_path)
    text = exp.read_text() + "x-common: &c {policy: null}\nmore:\n  <<: *c\n  policy: null\n"
    err = fails(capsys, "validate", str(write(exp, text)), contains="duplicate key 'policy'")
    assert str(exp) in err and "line" in err


# ---------------------------------------------------------------------------------------------
# data files


def test_data_counts_beyond_int64_and_cr_only_lines(tmp_path, capsys):
    students = (REPO / "data/sample/students.csv").read_text().splitlines()[:30]
    obs = (REPO / "data/sample/observations.csv").read_text().splitlines()
    head = obs[0].split(",")
    row = obs[1].split(",")
    row[head.index("incidents")] = "9223372036854775808"
    (tmp_path / "students.csv").write_text("\n".join(students) + "\n")
    (tmp_path / "observations.csv").write_text("\n".join([obs[0], ",".join(row)]) + "\n")
    main(["data", "validate", "--students", str(tmp_path / "students.csv"), "--observations",
          str(tmp_path / "observations.csv"), "--show", "20"])  # (listed: their count is c)
    out = capsys.readouterr().out
    assert "incidents must be below 2**53" in out
    cr = b"\r".join(s.encode() for s in students[:6]).replace(b"P00002", b"P\xff0002") + b"\r"
    (tmp_path / "cr.csv").write_bytes(cr)
    main(["data", "validate", "--students", str(tmp_path / "cr.csv"), "--show", "20"])
    out = capsys.readouterr().out
    assert "cr.csv:4" in out and "0xff" in out


@pytest.mark.once
def test_summary_by_flags_and_ids(tmp_path, capsys):
    data = tmp_path / "ds"
    assert main(["data", "import", "--students", str(REPO / "data/sample/students.csv"),
                 "--observations", str(REPO / "data/sample/observations.csv"),
                 "--out", str(data)]) == 0
    capsys.readouterr()
    assert main(["data", "summary", str(data), "--by", "fsm"]) == 0
    assert "fsm_group" in capsys.readouterr().out
    fails(capsys, "data", "summary", str(data), "--by", "student_id", contains="student_id")
    meta_path = data / "dataset.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text("[]")
    fails(capsys, "data", "summary", str(data), contains="wrong shape")
    meta["tables"]["students"]["file"] = "../students.parquet"
    meta_path.write_text(json.dumps(meta))
    fails(capsys, "data", "summary", str(data), contains="must be a file name")


def test_devices_pipes_and_folders_are_not_read_as_input_files(tmp_path, capsys):
    """/dev/zero never ends (a MemoryError traceback after filling memory) and a pipe blocks:
    every command that reads a named file refuses anything but a regular file, by name."""
    fifo = tmp_path / "pupils.csv"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.csv"
    zero.symlink_to("/dev/zero")
    students = str(REPO / "data/sample/students.csv")
    for bad in (str(fifo), str(zero)):
        fails(capsys, "data", "validate", "--students", bad, contains="not a regular file")
        fails(capsys, "data", "validate", "--students", students, "--mapping", bad,
              contains="not a regular file")
        fails(capsys, "thresholds", bad, "--score", "a", "--outcome", "b",
              contains="not a regular file")
    data = tmp_path / "ds"
    assert main(["data", "import", "--students", students, "--out", str(data)]) == 0
    fails(capsys, "data", "anonymise", str(data), "--out", str(tmp_path / "an"),
          "--key-file", "/dev/zero", contains="not a regular file")
    fails(capsys, "data", "anonymise", str(data), "--out", str(tmp_path / "an"),
          "--key-file", str(tmp_path), contains="directory")
    assert not (tmp_path / "an").exists()


@pytest.mark.parametrize("argv", [["data", "validate", "--students", "{loop}"],
                                  ["data", "import", "--students", "{loop}", "--out", "{out}"],
                                  ["calibrate", "{loop}", "--out", "{out}"],
                                  ["validate", "{loop}"], ["run", "{loop}", "--out", "{out}"]])
def test_a_symbolic_link_loop_is_a_clean_error(tmp_path, capsys, argv):
    """Python 3.11 and 3.12 raise RuntimeError from Path.resolve() on a loop (3.13: OSError)."""
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    err = fails(capsys, *[a.format(loop=loop, out=tmp_path / "out") for a in argv],
                contains="loop.csv")
    assert "loop" in err
    assert not (tmp_path / "out").exists()


def test_deeply_nested_dataset_description_is_a_clean_error(tmp_path, capsys):
    data = tmp_path / "ds"
    assert main(["data", "import", "--students", str(REPO / "data/sample/students.csv"),
                 "--out", str(data)]) == 0
    text = (data / "dataset.json").read_text()
    (data / "dataset.json").write_text(text.replace('"real_data": true,',
                                                    '"real_data": true, "real_data": false,'))
    fails(capsys, "data", "summary", str(data), contains="duplicate key 'real_data'")
    (data / "dataset.json").write_text("[" * 100_000 + "]" * 100_000)
    fails(capsys, "data", "summary", str(data), contains="nested too deeply")
    fails(capsys, "calibrate", str(data), "--out", str(tmp_path / "cal"),
          contains="nested too deeply")
    assert not (tmp_path / "cal").exists()
    (data / "dataset.json").unlink()
    (data / "dataset.json").symlink_to("/dev/zero")
    fails(capsys, "data", "summary", str(data), contains="not a regular file")


def test_duplicate_and_nested_columns_are_refused(tmp_path, capsys):
    """pandas renames a second 'att' to 'att.1', so --score att read whichever came first; a
    Parquet struct or list column became its Python text ("{'a': 1}") and was accepted as an
    id. Both are errors naming the file and column; a bad score names the spreadsheet row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 40
    (tmp_path / "dup.csv").write_text("att,left,att\n" + "".join(
        f"0.{i % 9 + 1},{i % 2},S{i}\n" for i in range(n)))
    fails(capsys, "thresholds", str(tmp_path / "dup.csv"), "--score", "att", "--outcome",
          "left", contains="'att' appears more than once")
    pq.write_table(pa.table([pa.array([0.5] * n), pa.array([1.0] * n), pa.array([True] * n)],
                            names=["att", "att", "left"]), tmp_path / "dup.parquet")
    fails(capsys, "thresholds", str(tmp_path / "dup.parquet"), "--score", "att", "--outcome",
          "left", contains="'att' appears more than once")
    fails(capsys, "data", "validate", "--students", str(tmp_path / "dup.parquet"),
          contains="'att' appears more than once")
    (tmp_path / "inf.csv").write_text("att,left\n0.5,1\n0.7,0\n1e309,1\n")
    fails(capsys, "thresholds", str(tmp_path / "inf.csv"), "--score", "att", "--outcome",
          "left", contains="found inf (row 4)")
    students = pd.read_csv(REPO / "data/sample/students.csv", nrows=5)
    for name, values in (("student_id", [{"a": i} for i in range(5)]),
                         ("year_group", [[7]] * 5)):
        frame = students.assign(**{name: values})
        frame.to_parquet(tmp_path / "nested.parquet")
        fails(capsys, "data", "validate", "--students", str(tmp_path / "nested.parquet"),
              contains=f"column '{name}' holds nested values")
    assert not (tmp_path / "thresholds").exists()


@pytest.mark.once
def test_an_output_folder_never_takes_inputs_or_other_files_with_it(tmp_path, capsys,
                                                                    monkeypatch):
    """Output folders are replaced whole. One holding an earlier result was replaced even
    when the user had put the export (or notes) in it: the input was deleted. Now such a
    folder is refused, untouched, unless it holds nothing but that command's own files."""
    monkeypatch.setenv("SRMSIM_TEST_KEY", "0123456789abcdef0123")
    students = tmp_path / "pupils.csv"
    shutil.copy(REPO / "data/sample/students.csv", students)
    ds = tmp_path / "ds"
    assert main(["data", "import", "--students", str(students), "--out", str(ds)]) == 0
    inside = ds / "pupils.csv"
    shutil.copy(students, inside)
    fails(capsys, "data", "import", "--students", str(inside), "--out", str(ds), "--overwrite",
          contains="holds the input")
    fails(capsys, "data", "validate", "--students", str(inside), "--out", str(ds),
          contains="holds the input")
    fails(capsys, "data", "import", "--students", str(students), "--out", str(ds),
          "--overwrite", contains="did not write there")
    fails(capsys, "data", "anonymise", str(ds), "--out", str(tmp_path), "--overwrite",
          "--key-env", "SRMSIM_TEST_KEY", contains="holds the input")
    fails(capsys, "calibrate", str(ds), "--out", str(tmp_path), contains="holds the input")
    assert inside.exists() and (ds / "dataset.json").exists()
    inside.unlink()
    assert main(["data", "import", "--students", str(students), "--out", str(ds),
                 "--overwrite"]) == 0  # only its own files: replaced as before
    rng = np.random.default_rng(0)
    scores = pd.DataFrame({"att": rng.uniform(0.6, 1, 200).round(3),
                           "left": rng.uniform(size=200) < 0.4})
    report = tmp_path / "thr"
    report.mkdir()
    scores.to_csv(report / "scores.csv", index=False)
    (report / "thresholds.csv").write_text("an earlier report\n")
    args = ["--score", "att", "--outcome", "left", "--n-boot", "40", "--out", str(report)]
    fails(capsys, "thresholds", str(report / "scores.csv"), *args, contains="holds the input")
    shutil.move(report / "scores.csv", tmp_path / "scores.csv")
    (report / "notes.txt").write_text("mine")
    fails(capsys, "thresholds", str(tmp_path / "scores.csv"), *args,
          contains="did not write there")
    assert (report / "notes.txt").read_text() == "mine"
    (report / "notes.txt").unlink()
    assert main(["thresholds", str(tmp_path / "scores.csv"), *args]) == 0


@pytest.mark.once
def test_an_edited_dataset_is_checked_when_read(tmp_path, capsys):
    """A dataset's Parquet files may be edited or written by other tools: an infinite prior
    attainment went silently into calibration (every standardised score NaN), a negative
    session count into every moment, a missing school into a traceback. Reading checks the
    rules every reader relies on, naming the file and field and never printing an id."""
    from srmsim.errors import DataError
    from srmsim.records import read_student_records

    data = tmp_path / "ds"
    assert main(["data", "import", "--students", str(REPO / "data/sample/students.csv"),
                 "--observations", str(REPO / "data/sample/observations.csv"),
                 "--out", str(data)]) == 0
    capsys.readouterr()
    students = pd.read_parquet(data / "students.parquet")
    observations = pd.read_parquet(data / "observations.parquet")
    edits = [("students", "prior_attainment", np.inf, "prior_attainment is not finite"),
             ("students", "school", None, "school is missing"),
             ("students", "student_id", students["student_id"].iloc[1], "more than once"),
             ("students", "sex", "X", "sex is not one of"),
             ("observations", "sessions_attended", -5.0, "sessions_attended is below 0"),
             ("observations", "sessions_attended", 400.0, "exceeds sessions_possible")]
    for table, column, value, message in edits:
        frame = (students if table == "students" else observations).copy()
        if isinstance(value, float):
            frame[column] = frame[column].astype("float64")
        row = frame.index[frame[column].notna()][0]  # a week row, with sessions
        frame.loc[row, column] = value
        frame.to_parquet(data / f"{table}.parquet")
        err = fails(capsys, "data", "summary", str(data), contains=message)
        assert f"{table}.parquet" in err and students["student_id"].iloc[1] not in err
        fails(capsys, "calibrate", str(data), "--out", str(tmp_path / "fit"), contains=message)
        (students if table == "students" else observations).to_parquet(
            data / f"{table}.parquet")
    assert not (tmp_path / "fit").exists()
    records = students.assign(fsm=students["fsm"].astype("object"))
    records.loc[3, "fsm"] = "maybe"
    records.to_csv(tmp_path / "records.csv", index=False)
    with pytest.raises(DataError, match="fsm is not true or false"):
        read_student_records(tmp_path / "records.csv")


@pytest.mark.parametrize("mapping,contains", [
    ("encoding: rot13\n", "not a text encoding"),  # was a LookupError traceback
    ("encoding: zlib\n", "not a text encoding"),
    # text codecs that cannot replace an undecodable byte: reading then failed with
    # "Unsupported error handling srmsim_record"
    ("encoding: idna\n", "not a text encoding"), ("encoding: punycode\n", "not a text encoding"),
    ("encoding: undefined\n", "not a text encoding"),
    ("students:\n  encoding: idna\n", "students.encoding"),
    ("students:\n  date_formats:\n    date_of_birth: '%Q-%Y'\n", "strftime format"),  # ValueError
    ("students:\n  values:\n    fsm:\n      'Yes': true\n      'yes': false\n",
     "once case is ignored"),  # silently, the last one won
    ("students:\n  values:\n    prior_attainment:\n      'x': .inf\n", "finite number"),
])
def test_mapping_values_that_cannot_work_are_refused(tmp_path, capsys, mapping, contains):
    fails(capsys, "data", "validate", "--students", str(REPO / "data/sample/students.csv"),
          "--mapping", str(write(tmp_path / "m.yaml", mapping)), contains=contains)


def test_summary_out_never_lands_on_the_dataset(tmp_path, capsys):
    """`data summary ds --out ds/dataset.json` overwrote the dataset's description (the
    dataset was then unreadable); a folder as --out gave an error naming a temporary file."""
    data = tmp_path / "ds"
    assert main(["data", "import", "--students", str(REPO / "data/sample/students.csv"),
                 "--out", str(data)]) == 0
    before = {p.name: p.read_bytes() for p in data.iterdir()}
    for out in (data / "dataset.json", data / "rejects.csv", data / "table.csv"):
        fails(capsys, "data", "summary", str(data), "--out", str(out),
              contains="inside the dataset folder")
    fails(capsys, "data", "summary", str(data), "--out", str(tmp_path), contains="directory")
    assert {p.name: p.read_bytes() for p in data.iterdir()} == before
    assert main(["data", "summary", str(data), "--out", str(tmp_path / "table.csv")]) == 0


def test_error_messages_never_print_control_characters(tmp_path, capsys):
    """A name quoted in an error went to the terminal raw: a mapping's source column
    '\\x1b[2J' cleared the screen. Every error line is shown escaped."""
    mapping = write(tmp_path / "m.yaml", 'students:\n  columns: {"a\\x1b[2J\\u202e": nosuch}\n')
    err = fails(capsys, "data", "validate", "--students", str(REPO / "data/sample/students.csv"),
                "--mapping", str(mapping), contains='columns."a\\x1b[2J\\u202e"')
    assert "\x1b" not in err and "\u202e" not in err


def test_an_unusable_report_folder_is_refused_before_the_files_are_read(tmp_path, capsys):
    """`data validate --out FILE` printed the whole report, then refused the folder: the
    refusal comes first, with nothing printed or written (as for `data import`)."""
    (tmp_path / "a_file").write_text("mine")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "notes.txt").write_text("mine")
    students = str(REPO / "data/sample/students.csv")
    for command in ("validate", "import"):
        for out, contains in (("a_file", "not a directory"), ("folder", "did not write there")):
            assert main(["data", command, "--students", students,
                         "--out", str(tmp_path / out)]) == 2
            captured = capsys.readouterr()
            assert captured.out == "" and contains in captured.err
    assert (tmp_path / "a_file").read_text() == "mine"
    assert [p.name for p in (tmp_path / "folder").iterdir()] == ["notes.txt"]


def test_shared_outputs_never_land_in_the_dataset_folder(tmp_path, capsys, monkeypatch):
    """`calibrate DATA --out DATA/sub` wrote its report (and calibrated.yaml) inside the private
    raw-data folder, as `anonymise` its anonymised copy and `thresholds DATA` its default
    DATA/thresholds. Every command that reads a dataset and writes something to share refuses
    an --out that is the folder or inside it (through a symbolic link too); nothing written."""
    data = tmp_path / "ds"
    assert main(["data", "import", "--students", str(REPO / "data/sample/students.csv"),
                 "--observations", str(REPO / "data/sample/observations.csv"),
                 "--out", str(data)]) == 0
    capsys.readouterr()
    (tmp_path / "link").symlink_to(data)
    monkeypatch.setenv("SRMSIM_TEST_KEY", "0123456789abcdef" * 2)
    before = {p.name: p.read_bytes() for p in data.iterdir()}
    for out in (data / "sub", tmp_path / "link" / "sub", data / "a" / "b"):
        fails(capsys, "calibrate", str(data), "--out", str(out), "--max-evals", "2",
              contains="inside the dataset folder")
        fails(capsys, "data", "anonymise", str(data), "--out", str(out), "--key-env",
              "SRMSIM_TEST_KEY", contains="inside the dataset folder")
        fails(capsys, "thresholds", str(data), "--score", "prior_attainment", "--outcome", "fsm",
              "--out", str(out), contains="inside the dataset folder")
        fails(capsys, "data", "summary", str(data), "--out", str(out.with_suffix(".csv")),
              contains="inside the dataset folder")
    fails(capsys, "calibrate", str(tmp_path / "link"), "--out", str(data),
          contains="inside the dataset folder")
    fails(capsys, "thresholds", str(data), "--score", "prior_attainment", "--outcome", "fsm",
          contains="give --out, a folder outside")
    fails(capsys, "thresholds", str(data / "students.parquet"), "--score", "prior_attainment",
          "--outcome", "fsm", contains="give --out, a folder outside")
    assert {p.name: p.read_bytes() for p in data.iterdir()} == before


@pytest.mark.parametrize("args,contains", [
    (["--staff-minutes", "nan", "--minutes-per-case", "5"], "not a finite number"),
    (["--staff-minutes", "inf", "--minutes-per-case", "5"], "not a finite number"),
    (["--cost-missed", "nan", "--cost-needless", "1"], "not a finite number"),
    (["--cost-missed", "1e309", "--cost-needless", "1"], "not a finite number"),
    (["--cost-per-case", "-3", "--capacity", "10"], "negative"),
    (["--thresholds", "inf"], "not a finite number"),
])
def test_thresholds_numbers_must_be_finite(tmp_path, capsys, args, contains):
    """nan/inf minutes were a ValueError/OverflowError traceback, a nan cost an IndexError,
    an infinite cost printed 'cost inf'."""
    pd.DataFrame({"att": np.linspace(0.5, 1, 60), "left": [0, 1] * 30}).to_csv(
        tmp_path / "s.csv", index=False)
    with pytest.raises(SystemExit) as exit_:
        main(["thresholds", str(tmp_path / "s.csv"), "--score", "att", "--outcome", "left",
              "--out", str(tmp_path / "t"), *args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert contains in err and "Traceback" not in err
    assert not (tmp_path / "t").exists()


def test_capacity_api_refuses_non_finite_numbers():
    from srmsim import risk
    from srmsim.errors import SrmsimError

    df = pd.DataFrame({"att": np.linspace(0.5, 1, 40), "left": [0, 1] * 20})
    for kw in ({"staff_minutes_available": float("nan"), "minutes_per_case": 5.0},
               {"staff_minutes_available": 100.0, "minutes_per_case": float("inf")},
               {"capacity_cases": 5, "cost_per_case": float("nan")}):
        with pytest.raises(SrmsimError, match="finite"):
            risk.threshold_at_capacity(df, "att", "left", **kw)
    with pytest.raises(SrmsimError, match="finite"):
        risk.cost_minimising_threshold(df, "att", "left", "below", float("nan"), 1.0)


def test_huge_rows_and_headers_are_cut_or_refused(tmp_path, capsys):
    """A 2,000,000-column header took minutes and gigabytes (one pandas column at a time, one
    note per unmapped column); a 10,000,000-cell row was printed whole in the report; a field
    over the CSV limit named the line after it."""
    head = (REPO / "data/sample/students.csv").read_text().splitlines()[:3]
    (tmp_path / "wide.csv").write_text(",".join(f"c{i}" for i in range(100_000)) + "\n1\n")
    fails(capsys, "data", "validate", "--students", str(tmp_path / "wide.csv"),
          contains="100,000 columns")
    fails(capsys, "thresholds", str(tmp_path / "wide.csv"), "--score", "c1", "--outcome", "c2",
          contains="100,000 columns")
    (tmp_path / "long.csv").write_text("\n".join([head[0], ",".join(["a"] * 1_000_000),
                                                  head[2]]) + "\n")
    assert main(["data", "validate", "--students", str(tmp_path / "long.csv")]) == 2
    out = capsys.readouterr().out
    assert "wrong_field_count" in out and max(len(x) for x in out.splitlines()) < 1000
    (tmp_path / "field.csv").write_text("\n".join([head[0], head[1].replace(
        "P00000", "P" + "x" * 200_000, 1), head[2]]) + "\n")
    fails(capsys, "data", "validate", "--students", str(tmp_path / "field.csv"),
          contains="row 2: a cell longer than 131,072 characters")
    unmapped = head[0] + "".join(f",extra{i}" for i in range(50))
    (tmp_path / "extra.csv").write_text("\n".join([unmapped, head[1] + "," * 50]) + "\n")
    main(["data", "validate", "--students", str(tmp_path / "extra.csv")])
    notes = [x for x in capsys.readouterr().out.splitlines() if x.startswith("note:")]
    assert len(notes) == 1 and "and 40 more" in notes[0]


def test_anonymise_field_lists_and_reference_date(tmp_path, capsys, monkeypatch):
    """--quasi school,school was a pandas ValueError traceback; --quasi ',,' anonymised over no
    field at all (nothing generalised, 'achieved k = 445'); a reference date centuries away
    gave every pupil an age of thousands of months, silently."""
    monkeypatch.setenv("SRMSIM_TEST_KEY", "0123456789abcdef0123")
    frame = pd.read_csv(REPO / "data/sample/students.csv", nrows=40).drop(columns="age_months")
    frame["date_of_birth"] = "2012-03-04"
    frame.to_csv(tmp_path / "pupils.csv", index=False)
    mapping = write(tmp_path / "m.yaml", "reference_date: 2024-09-01\n")
    data = tmp_path / "ds"
    assert main(["data", "import", "--students", str(tmp_path / "pupils.csv"), "--mapping",
                 str(mapping), "--out", str(data)]) == 0
    students = pd.read_parquet(data / "students.parquet")
    students["age_months"] = pd.NA  # only the date of birth: anonymise computes the age
    students.to_parquet(data / "students.parquet")
    args = ["data", "anonymise", str(data), "--out", str(tmp_path / "an"), "--key-env",
            "SRMSIM_TEST_KEY"]
    fails(capsys, *args, "--quasi", "school,school", contains="given more than once")
    fails(capsys, *args, "--quasi", ",,", contains="names no field")
    fails(capsys, *args, "--sensitive", "sen,sen", "--quasi", "school",
          contains="given more than once")
    fails(capsys, *args, "--reference-date", "0001-01-01", contains="under 3 or over 25")
    assert not (tmp_path / "an").exists()


def test_a_ragged_row_does_not_print_the_names_in_it(tmp_path, capsys):
    """A row with one cell too many was printed and written whole -- id, name and UPN --
    although identifying values are '(withheld)' unless --show-identifiers."""
    head, *rows = (REPO / "data/sample/students.csv").read_text().splitlines()[:4]
    lines = [head + ",name,upn"] + [r + ",Alice Smith,A123456789012" for r in rows]
    lines[2] += ",EXTRA"
    (tmp_path / "pupils.csv").write_text("\n".join(lines) + "\n")
    assert main(["data", "validate", "--students", str(tmp_path / "pupils.csv"), "--out",
                 str(tmp_path / "rep")]) == 2
    out = capsys.readouterr().out + (tmp_path / "rep" / "rejects.csv").read_text()
    assert "wrong_field_count" in out and "(withheld)" in out
    assert "Alice" not in out and "A123456789012" not in out
    main(["data", "validate", "--students", str(tmp_path / "pupils.csv"),
          "--show-identifiers", "--show", "20"])
    assert "Alice Smith" in capsys.readouterr().out


def test_a_stray_period_is_named_not_a_scenario_error(tmp_path, capsys):
    """One period_start of 1900-01-01 numbers every other week from 1900: calibrate failed
    with 'calibration: years: Input should be less than or equal to 50 (got 168)'."""
    data = tmp_path / "ds"
    assert main(["data", "import", "--students", str(REPO / "data/sample/students.csv"),
                 "--observations", str(REPO / "data/sample/observations.csv"),
                 "--out", str(data)]) == 0
    obs = pd.read_parquet(data / "observations.parquet")
    weeks = obs.index[obs["period_type"] == "week"]
    obs.loc[weeks, "period"] = obs.loc[weeks, "period"] + 6000
    obs.to_parquet(data / "observations.parquet")
    fails(capsys, "calibrate", str(data), "--out", str(tmp_path / "fit"),
          contains="far from the others")


# ---------------------------------------------------------------------------------------------
# a result folder is replaced only if it holds nothing but that result


def test_a_users_file_in_an_earlier_result_folder_is_never_lost(tmp_path, capsys):
    from srmsim.outputs import holds_only

    scenario = write(tmp_path / "s.yaml", {"name": "s", **TINY})
    out = tmp_path / "r"
    for _ in range(2):  # an earlier run's folder (and its report) is replaced
        assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    (out / "report.html").write_text("<html></html>")
    (out / ".summary.json.k3j4h2x9").write_text("")  # an older srmsim's leftover
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    (out / "notes.txt").write_text("mine")
    fails(capsys, "run", str(scenario), "--out", str(out), "--quiet", contains="did not write")
    assert (out / "notes.txt").read_text() == "mine" and (out / "summary.json").exists()
    # the same test guards trial and discovery folders
    (tmp_path / "d").mkdir()
    (tmp_path / "d/prim_box.csv").write_text("")
    assert holds_only(["prim_box.csv"], ["prim_box.csv"])(tmp_path / "d")
    (tmp_path / "d/mine.csv").write_text("")
    assert not holds_only(["prim_box.csv"], ["prim_box.csv"])(tmp_path / "d")
    from srmsim.calibrate.report import REPLACEABLE
    from srmsim.commands.thresholds import earlier_report

    for marker, replaceable in (("thresholds.csv", earlier_report), ("fit.json", REPLACEABLE)):
        folder = tmp_path / marker
        folder.mkdir()
        (folder / marker).write_text("")
        assert replaceable(folder)
        (folder / "notes.txt").write_text("mine")
        assert not replaceable(folder)


@pytest.mark.parametrize("key,value", [
    ("policy.actions.parent_text.cost_per_week", 1e30),  # float32 cost: inf
    ("policy.actions.parent_text.staff_minutes.pastoral", 1e300),  # float32: inf, 0 staff hours
    ("policy.staff.school.pastoral", 1e300), ("policy.staff.pool.pastoral", 1e300),
    ("dynamics.male_incident_ratio", 0),  # log(0) * 0 = NaN: no girl had an incident
])
def test_numbers_the_engine_cannot_hold_are_refused(tmp_path, capsys, key, value):
    scenario = str(REPO / "scenarios/attendance_escalation_small.yaml")
    fails(capsys, "run", scenario, "--set", f"{key}={value!r}", "--out", str(tmp_path / "o"),
          "--quiet", contains=key)
    assert not (tmp_path / "o").exists()


def test_an_absurd_incident_rate_saturates_instead_of_turning_nan(tmp_path):
    from srmsim.model import run
    from srmsim.scenario import Scenario

    base = Scenario.model_validate({"name": "i", **TINY})
    # a log-rate shift of 1000 overflowed exp() to inf, whose NaN draws gave fewer incidents
    huge = run(base.with_overrides({"dynamics.incident_engagement": 1e6,
                                    "dynamics.incident_rate": 1e6})).students["incidents"]
    # each week's rate is e**(+-1e6 x engagement): 0 or poisson_inv's cap of 30, nothing between
    assert (huge % 30 == 0).all() and (huge == 30 * 39).any()


def _optimisation(tmp_path: Path, **extra) -> Path:
    opt = yaml.safe_load((REPO / "experiments/optimise_attendance.yaml").read_text())
    opt.update(scenario=str(REPO / "scenarios/attendance_escalation_small.yaml"), **extra)
    return write(tmp_path / "o.yaml", opt)


@pytest.mark.parametrize("extra,key", [
    ({"replications": True}, "replications"), ({"replications": "5"}, "replications"),
    ({"seed": "7"}, "seed"), ({"uncertain": {"population.fsm_rate": [True, 0.5]}}, "uncertain"),
    ({"design": {"method": "sobol", "n": "8"}}, "design.n"),
    ({"outcomes": [{"name": "x", "statistic": "percentile", "of": "attendance_rate",
                    "q": True}]}, "q"),
])
def test_experiment_numbers_are_not_coerced(tmp_path, capsys, extra, key):
    # `replications: true` ran one replication; `"5"` five
    fails(capsys, "validate", str(tiny_experiment(tmp_path, **extra)), contains=key)


@pytest.mark.parametrize("extra,key", [
    ({"seed": 2**70}, "seed"), ({"reevaluate": {"seed": 2**63}}, "reevaluate.seed"),
    ({"replications": True}, "replications"), ({"search": {"trials": "4"}}, "search.trials"),
])
def test_optimisation_numbers_are_checked(tmp_path, capsys, extra, key):
    # a seed beyond 2**63 - 1 passed validation, then the search died with a traceback
    fails(capsys, "validate", str(_optimisation(tmp_path, **extra)), contains=key)


def test_the_largest_optimisation_seed_reevaluates_with_a_valid_seed(tmp_path):
    from srmsim.argtypes import MAX_SEED
    from srmsim.explore.optimise import load_optimisation

    opt = load_optimisation(_optimisation(tmp_path, seed=MAX_SEED))
    assert opt.front_seed == 0  # was 2**63: a pydantic traceback after the whole search
    assert load_optimisation(_optimisation(tmp_path, seed=5)).front_seed == 6  # as before
    opt.experiment({}, 2, opt.front_seed)


def test_ranges_and_levers_are_checked_at_every_end(tmp_path, capsys):
    # the midpoint (0.95) was valid, so the experiment started and its runs failed one by one
    exp = tiny_experiment(tmp_path, uncertain={"population.fsm_rate": [0.5, 1.4]})
    fails(capsys, "validate", str(exp), contains="high end")
    levers = {"policy.rules.low_attendance.cadence": {"choices": ["weekly", "nonsense"]}}
    fails(capsys, "validate", str(_optimisation(tmp_path, levers=levers)), contains="nonsense")
    levers = {"population.fsm_rate": {"low": 0.5, "high": 1.5}}
    fails(capsys, "validate", str(_optimisation(tmp_path, levers=levers)), contains="1.5")
    fails(capsys, "validate", str(_optimisation(tmp_path, baseline={"trust.bogus": 1})),
          contains="baseline: trust.bogus")
    fails(capsys, "validate", str(_optimisation(
        tmp_path, uncertain={"population.fsm_rate": [-0.5, 0.5]})), contains="low end")


def test_records_that_are_not_student_tables_are_clean_errors(tmp_path, capsys):
    (tmp_path / "text.parquet").write_text("name,school\n")  # a text file: ArrowInvalid traceback
    (tmp_path / "bytes.csv").write_bytes(b"\xff\xfe\x00school\n")
    (tmp_path / "zero.csv").symlink_to("/dev/zero")  # a device: read for ever
    for name, says in [("text.parquet", "not a Parquet file, and not named .csv"),
                       ("bytes.csv", "UTF-16 text (it starts with a UTF-16 byte-order mark)"),
                       ("zero.csv", "regular file")]:
        scenario = write(tmp_path / "s.yaml", {"name": "s", "population": {"records": name}})
        fails(capsys, "run", str(scenario), "--out", str(tmp_path / "o"), "--quiet",
              contains=says)
        assert not (tmp_path / "o").exists()


def test_a_trust_too_big_for_memory_fails_in_seconds(tmp_path, capsys, monkeypatch):
    import srmsim.memory

    # 7 billion students: was a 26 GiB allocation, then a MemoryError traceback (or the OOM killer)
    with peak_memory() as peak:
        fails(capsys, "run", "--set", "trust.n_schools=100000", "--set",
              "trust.students_per_year_group=5000", "--set",
              "trust.year_groups=[1,2,3,4,5,6,7,8,9,10,11,12,13,14]", "--out",
              str(tmp_path / "o"), "--quiet", contains="7,000,891,618 students")
    assert peak[0] < 512 * 2**20 and not (tmp_path / "o").exists()  # refused before building
    monkeypatch.setattr(srmsim.memory, "available_bytes", lambda: 200 * 2**20)
    scenario = write(tmp_path / "s.yaml", {"name": "s", **TINY, "outputs": {"history": "all"}})
    assert main(["run", str(scenario), "--out", str(tmp_path / "a"), "--quiet"]) == 0  # fits
    big = write(tmp_path / "b.yaml", {"name": "b", "trust": {"n_schools": 200},
                                      "outputs": {"history": "all"}, "years": 3})
    fails(capsys, "run", str(big), "--out", str(tmp_path / "b"), "--quiet",
          contains="outputs.history")


def test_out_of_memory_is_a_clean_error(tmp_path, capsys, monkeypatch):
    import srmsim.model

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(srmsim.model, "generate_schools", no_memory)
    fails(capsys, "run", "--out", str(tmp_path / "o"), "--quiet", contains="out of memory")


@pytest.mark.parametrize("command", ["experiment", "trial", "optimise"])
def test_workers_are_bounded(tmp_path, capsys, command):
    from srmsim.argtypes import max_workers

    file = {"experiment": "quickstart.yaml", "trial": "trial_reading.yaml",
            "optimise": "optimise_attendance.yaml"}[command]
    args = [command, str(REPO / "experiments" / file), "--out", str(tmp_path / "o"), "--quiet"]
    fails(capsys, *args, "--workers", "0", contains="at least 1")
    # 10,000 forked 10,000 processes, each importing srmsim
    fails(capsys, *args, "--workers", str(max_workers() + 1), contains="at most")
    assert not (tmp_path / "o").exists()


def test_yaml_numbers_are_yaml_1_2_in_files_and_in_set(tmp_path, capsys):
    from srmsim.scenario import load_scenario
    from srmsim.settings import parse_settings
    from srmsim.yamlio import load_yaml_text

    # YAML 1.1 read 010 as 8 (octal) and 1:30 as 90 (base 60): a silently different trust
    assert load_yaml_text("a: 010\nb: 1:30\nc: 1e-3\nd: 0x1F\ne: 2020-13-45\n") == {
        "a": 10, "b": "1:30", "c": 0.001, "d": 31, "e": "2020-13-45"}
    scenario = write(tmp_path / "s.yaml", "trust: {n_schools: 010}\n")
    assert load_scenario(scenario).trust.n_schools == 10
    fails(capsys, "validate", str(write(tmp_path / "b.yaml", "years: 1:30\n")), contains="years")
    fails(capsys, "validate", str(write(tmp_path / "i.yaml", "dynamics: {exam_sd: 1e400}\n")),
          contains="finite")
    # --set reads values as the files do: `on` is text (it was true), 010 is ten
    assert parse_settings(["a=on", "b=010", "c=yes"]) == {"a": "on", "b": 10, "c": "yes"}
    fails(capsys, "run", str(scenario), "--set", "name=on", "--set", "years=1:30",
          contains="years")


@pytest.mark.parametrize("value", ["!!int abc", "!!float x", "!!bool maybe",
                                   "!!timestamp 2020-13-45"])
def test_explicit_tags_on_wrong_values_are_clean_errors(tmp_path, capsys, value):
    # a ValueError / KeyError traceback from the YAML constructor
    fails(capsys, "validate", str(write(tmp_path / "t.yaml", f"description: {value}\n")),
          contains="t.yaml")


def test_request_streams_are_bounded(tmp_path, capsys, monkeypatch):
    import srmsim.memory

    scenario = str(REPO / "scenarios/certification_backlog.yaml")
    out = ["--out", str(tmp_path / "o"), "--quiet"]
    # 1e300 a week: a NaN-to-integer traceback
    fails(capsys, "run", scenario, "--set", "requests.certification.arrivals.per_week=1e300",
          *out, contains="per_week")
    monkeypatch.setattr(srmsim.memory, "available_bytes", lambda: 2**30)
    fails(capsys, "run", scenario, "--set", "requests.certification.backlog=10000000", *out,
          contains="10,040,560 requests")
    assert not (tmp_path / "o").exists()


@pytest.mark.once
def test_a_huge_yaml_file_is_refused_before_it_is_all_parsed(tmp_path, capsys):
    # 900,000 values in 1.8 MB were parsed for 89 s before being refused as an unknown key
    many = write(tmp_path / "many.yaml", "z: [" + ",".join(["1"] * 150_000) + "]\n")
    fails(capsys, "validate", str(many), contains="more than 100,000 values")
    big = write(tmp_path / "big.yaml", "description: '" + "x" * 1_000_000 + "'\n")
    fails(capsys, "validate", str(big), contains="1,000,000-byte limit")


def test_windows_device_names_are_refused_but_names_containing_them_are_not():
    from srmsim.labels import check_label, is_label

    assert all(is_label(n) for n in ["console", "com10", "nullish", "con_x", "lpt", "aux-1",
                                     "my.nul", "a.b"])
    with pytest.raises(ValueError, match="Windows reserves NUL for a device"):
        check_label("Nul.yaml")
    with pytest.raises(ValueError, match="final dot"):
        check_label("v1.")


def test_variant_names_differing_only_in_case_are_refused(tmp_path, capsys):
    # runs/A and runs/a are one folder on macOS and Windows: the variants' runs would mix
    exp = tiny_experiment(tmp_path, variants={"none": {"policy": None}, "w": {}, "W": {}})
    fails(capsys, "validate", str(exp), contains="differ only in case")


POLICY = {"rules": {"low": "attendance(4) < 0.95"},
          "workflows": {"w": {"trigger": "low", "steps": [{"action": "parent_text"}]}}}
STREAM = {"arrivals": {"per_week": 2}, "staff": {"officer": {"staff": 1}},
          "steps": [{"name": "triage", "role": "officer", "minutes": 30}]}


@pytest.mark.parametrize("policy, says", [
    ({"rules": {"low": "attendance(4) < 0.95", "LOW": "attendance(4) < 0.9"}},
     "rule names ['LOW', 'low'] differ only in case"),
    ({"workflows": {**POLICY["workflows"], "W": POLICY["workflows"]["w"]}},
     "workflow names ['W', 'w'] differ only in case"),
    ({"actions": {"Mentoring": {"take_up": 0.5}}},  # beside the built-in mentoring
     "action names ['Mentoring', 'mentoring'] differ only in case"),
    ({"parameters": {"cut": 0.9, "Cut": 0.8}}, "parameter names ['Cut', 'cut'] differ"),
    ({"staff": {"school": {"mentor": 60}, "pool": {"Mentor": 60}}},
     "staff role names ['Mentor', 'mentor'] differ"),
])
def test_policy_names_differing_only_in_case_are_refused(tmp_path, capsys, policy, says):
    # as for variants: they label the events table and the report's rows, and rules read them
    path = write(tmp_path / "s.yaml", {"name": "s", **TINY, "policy": {**POLICY, **policy}})
    fails(capsys, "validate", str(path), contains=says)


def test_request_stream_step_and_role_names_differing_only_in_case_are_refused(tmp_path,
                                                                               capsys):
    def scenario(requests: dict) -> str:
        return str(write(tmp_path / "s.yaml", {"name": "s", **TINY, "requests": requests}))

    assert main(["validate", scenario({"ehc": STREAM, "transport": STREAM})]) == 0
    fails(capsys, "validate", scenario({"ehc": STREAM, "EHC": STREAM}),
          contains="request stream names ['EHC', 'ehc'] differ only in case")
    two = {**STREAM, "steps": [STREAM["steps"][0], {**STREAM["steps"][0], "name": "Triage"}]}
    fails(capsys, "validate", scenario({"ehc": two}),
          contains="step names ['Triage', 'triage'] differ only in case")
    roles = {**STREAM, "staff": {"officer": {"staff": 1}, "Officer": {"staff": 2}}}
    fails(capsys, "validate", scenario({"ehc": roles}),
          contains="staff role names ['Officer', 'officer'] differ only in case")


def test_experiment_outcomes_and_uncertain_keys_differing_only_in_case_are_refused(tmp_path,
                                                                                  capsys):
    # a custom outcome 'Attendance' beside the built-in: two columns a reader cannot tell apart
    custom = {"name": "Attendance", "statistic": "mean", "of": "attendance_rate"}
    exp = tiny_experiment(tmp_path, outcomes=["attendance", custom])
    fails(capsys, "validate", str(exp),
          contains="outcome names ['Attendance', 'attendance'] differ only in case")
    # NFKC look-alikes too: a full-width f is an f to Python and to a reader
    exp = tiny_experiment(tmp_path, uncertain={"population.fsm_rate": [0.1, 0.2],
                                               "population.\uff46sm_rate": [0.1, 0.3]})
    fails(capsys, "validate", str(exp), contains="uncertain parameter names")


def test_optimise_levers_differing_only_in_case_are_refused(tmp_path, capsys):
    opt = yaml.safe_load((REPO / "experiments/optimise_attendance.yaml").read_text())
    key, lever = next(iter(opt["levers"].items()))
    path = _optimisation(tmp_path, levers={**opt["levers"], key.upper(): lever})
    fails(capsys, "validate", str(path), contains="lever and budget role names")


def test_look_alike_names_fold_case_and_nfkc_and_leave_distinct_names_alone():
    from srmsim.labels import check_distinct, look_alikes

    assert look_alikes(["Base", "base", "\uff22\uff41\uff53\uff45", "other", "ﬁx", "fix"]) == \
        ["Base", "base", "fix", "ﬁx", "\uff22\uff41\uff53\uff45"]
    assert look_alikes(["a", "b", "a_1", "a-1"]) == []
    check_distinct({"a": 1, "b": 2}, "variant")
    with pytest.raises(ValueError, match=r"variant names \['A', 'a'\] differ only in case"):
        check_distinct(["a", "A"], "variant")


def test_dotted_keys_of_thousands_of_parts_are_clean_errors(tmp_path, capsys):
    from srmsim.scenario import Scenario

    deep = ".".join(["a"] * 5000)  # each was a RecursionError traceback
    exp = tiny_experiment(tmp_path, variants={"none": {"policy": None}, "w": {deep: 1}})
    fails(capsys, "validate", str(exp), contains="variants.w.")
    fails(capsys, "validate", str(_optimisation(tmp_path, overrides={deep: 1})),
          contains="o.yaml: overrides:")
    fails(capsys, "validate", str(_optimisation(tmp_path, levers={deep: {"low": 0, "high": 1}})),
          contains="nested deeper than 64")
    base = Scenario.model_validate({"name": "s"})
    with pytest.raises(ScenarioError, match="nested deeper"):
        base.with_overrides({deep: 1})
    with pytest.raises(ScenarioError, match="a mapping"):
        base.with_overrides([("trust.n_schools", 2)])  # was an AttributeError


def test_an_experiments_scenario_problem_names_the_experiment_file(tmp_path, capsys):
    exp = tiny_experiment(tmp_path)
    data = yaml.safe_load(exp.read_text())
    write(exp, {**data, "scenario": ""})  # the experiment's folder: no mention of e.yaml before
    fails(capsys, "validate", str(exp), contains="e.yaml: scenario:")


def test_written_yaml_reads_back_the_same(tmp_path):
    from srmsim.model import run
    from srmsim.scenario import Scenario, load_scenario
    from srmsim.yamlio import load_yaml_text

    # safe_dump left `1e5` unquoted: YAML 1.2 reads it back as a number, so a run's
    # scenario.yaml (and the scenario an experiment worker receives) failed to load
    sc = Scenario.model_validate({"name": "1e5", "description": "0o17", **TINY})
    assert Scenario.model_validate(load_yaml_text(sc.to_yaml())) == sc
    run(sc, out=tmp_path / "o")
    assert load_scenario(tmp_path / "o/scenario.yaml") == sc


def test_a_study_of_more_than_a_million_runs_is_refused(tmp_path, capsys):
    # 2,001 variants x 100,000 replications planned 2e8 runs (and hung) before the first ran
    variants = {"none": {"policy": None}, **{f"v{i}": {} for i in range(2000)}}
    fails(capsys, "validate", str(tiny_experiment(tmp_path, variants=variants,
                                                  replications=100_000)),
          contains="200,100,000 runs")
    sobol = {"design": {"method": "sobol", "n": 65536},
             "uncertain": {f"policy.parameters.p{i}": [0, 1] for i in range(20)}}
    exp = tiny_experiment(tmp_path, **sobol)
    data = yaml.safe_load(exp.read_text())
    data.pop("replications")
    fails(capsys, "validate", str(write(exp, data)), contains="runs each")
    fails(capsys, "validate", str(_optimisation(tmp_path, search={"trials": 10_000},
                                                replications=100)),
          contains="runs, more than 1,000,000")


def test_an_outcome_without_finite_values_is_not_measured_not_unchanged():
    from srmsim.experiment.compare import compare

    runs = pd.DataFrame({"variant": ["a"] * 3 + ["b"] * 3, "replication": [0, 1, 2] * 2,
                         "attendance": [0.9, 0.91, 0.92, 0.93, 0.94, 0.95],
                         "cost": [float("nan")] * 6})
    runs.loc[5, "attendance"] = float("nan")
    effects = compare(runs, baseline="a").set_index("outcome")
    # an all-NaN outcome (a mean over an empty group) said "no clear change", as if measured
    assert effects.loc["cost", "verdict"] == "not measured"
    assert effects.loc["cost", "replications"] == 0
    assert effects.loc["attendance", "replications"] == 2


def test_a_bad_value_in_a_records_csv_is_named_by_its_row_in_the_file(tmp_path, capsys):
    """A records CSV's bad cell was named by its place among the data rows (first row 3 for the
    file's row 5, below the header and a blank line), with a hint to re-import a dataset."""
    (tmp_path / "pupils.csv").write_text(
        "school,year_group,fsm\nA,7,true\n\nA,8,false\nB,7,perhaps\nB,8,true\n")
    scenario = write(tmp_path / "s.yaml", {"name": "s", "population": {"records": "pupils.csv"}})
    err = fails(capsys, "run", str(scenario), "--out", str(tmp_path / "o"), "--quiet",
                contains="fsm is not true or false: fewer than 10 rows, first row 5")
    assert "correct the records file" in err and "re-import" not in err
    assert not (tmp_path / "o").exists()
