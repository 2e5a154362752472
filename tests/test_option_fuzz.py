"""Every option of every command given hostile values, in-process: srmsim either runs (exit 0)
or refuses with a short message (exit 2), never a traceback, a hang or a line past the length
srmsim prints of one (300 characters and its prefix).

The commands run on the shipped examples made tiny (two schools of 20 pupils a year group, two
replications, four design points, four optimisation trials), so a value that is valid runs the
whole command. First run (2026-12-05): 1,612 runs, 27 faults, all one kind: argparse's own
errors and an OS error on a path too long for the file system quoted a 3,000-character value
whole (``srmsim.cli`` now cuts them).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from srmsim.cli import main

pytestmark = [pytest.mark.once, pytest.mark.xdist_group("option_fuzz")]

VALUES = ["nan", "inf", "-inf", "-1", "0", "1e308", "99999999999999999999999", "", "../x", "/",
          "/dev/null", "a" * 3000, "x\ny", "é", "1,2", "0x10", "true", "1.5", "-0", "1e-320",
          "a=b", "trust.n_schools=nan", "trust.n_schools=0", "policy=[]", "school", "2024-02-30"]

#: command -> (its arguments, with {out} for a fresh output folder, {key} for a key file and
#: {name} for a copy of a result the module built; the options given hostile values)
COMMANDS = {
    "run": (["run", "scenarios/attendance_escalation_small.yaml", "--quiet", "--out", "{out}"],
            ["--seed", "--threads", "--set"]),
    "experiment": (["experiment", "experiments/quickstart.yaml", "--workers", "1", "--out",
                    "{out}"], ["--workers", "--scheduler", "--set"]),
    "trial": (["trial", "experiments/trial_reading.yaml", "--workers", "1", "--out", "{out}"],
              ["--replications", "--workers", "--scheduler", "--set"]),
    "optimise": (["optimise", "experiments/optimise_attendance.yaml", "--workers", "1", "--out",
                  "{out}"], ["--workers", "--scheduler"]),
    "compare": (["compare", "{experiment}"], ["--baseline"]),
    "sensitivity": (["sensitivity", "{uncertain}"], ["--outcome", "--variant", "--level"]),
    "discover": (["discover", "{uncertain}", "--condition", "attendance > 0.9", "--out", "{out}"],
                 ["--condition", "--variant", "--box", "--min-density", "--peel-alpha",
                  "--mass-min"]),
    "thresholds": (["thresholds", "{run}", "--score", "attendance_rate", "--outcome",
                    "persistent_absent", "--out", "{out}"],
                   ["--score", "--outcome", "--direction", "--by", "--thresholds", "--cluster",
                    "--n-boot", "--seed", "--capacity", "--staff-minutes", "--minutes-per-case",
                    "--cost-per-case", "--cost-missed", "--cost-needless", "--suppress-below"]),
    "data validate": (["data", "validate", "data/sample/students.csv",
                       "data/sample/observations.csv", "--out", "{out}"], ["--mapping", "--show"]),
    "data summary": (["data", "summary", "{records}", "--by", "school"],
                     ["--by", "--threshold", "--symbols"]),
    "data anonymise": (["data", "anonymise", "{records}", "--out", "{out}", "--key-file", "{key}"],
                       ["--quasi", "--k", "--l", "--sensitive", "--max-suppressed",
                        "--reference-date", "--key-env"]),
    "calibrate": (["calibrate", "{records}", "--out", "{out}", "--replications", "1",
                   "--max-evals", "2"], ["--scenario", "--params", "--moments", "--seed",
                                         "--replications", "--max-evals", "--method"]),
}


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert re.search(old, text, flags=re.M), (path, old)
    path.write_text(re.sub(old, new, text, count=1, flags=re.M))


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> dict[str, Path]:
    """The shipped examples, made tiny, and the results the commands read (built once)."""
    root = tmp_path_factory.mktemp("fuzz")
    assert main(["examples", str(root / "ex")]) == 0
    ex = root / "ex"
    tiny = "trust: {n_schools: 2, students_per_year_group: 20}\n"
    for name in ("reading_and_attendance", "reading_age"):
        _edit(ex / "scenarios" / f"{name}.yaml", r"^description:", tiny + "description:")
    _edit(ex / "scenarios/attendance_escalation_small.yaml", r"^trust: .*$", tiny.strip())
    _edit(ex / "experiments/quickstart.yaml", r"^replications: 30", "replications: 2")
    _edit(ex / "experiments/uncertain_attendance.yaml", r"design: \{method: sobol, n: 16\}",
          "design: {method: sobol, n: 4}")
    _edit(ex / "experiments/trial_reading.yaml", r"^replications: 100", "replications: 2")
    optimise = ex / "experiments/optimise_attendance.yaml"
    _edit(optimise, r"^replications: 3", "replications: 1")
    _edit(optimise, r"search: \{.*\}", "search: {sampler: nsga2, trials: 4, batch: 2}")
    _edit(optimise, r"reevaluate: \{.*\}", "reevaluate: {replications: 2, front_max: 2}")
    made = {"experiment": ["experiment", str(ex / "experiments/quickstart.yaml")],
            "uncertain": ["experiment", str(ex / "experiments/uncertain_attendance.yaml")],
            "run": ["run", str(ex / "scenarios/attendance_escalation_small.yaml"), "--quiet"],
            "records": ["data", "import", str(ex / "data/sample/students.csv"),
                        str(ex / "data/sample/observations.csv")]}
    for name, argv in made.items():
        assert main([*argv, "--out", str(root / name)]) == 0, name
    return {"ex": ex, "root": root, **{name: root / name for name in made}}


def _argv(template: list[str], examples: dict[str, Path], work: Path) -> list[str]:
    argv = []
    for a in template:
        if a == "{out}":
            a = str(work / "out")
        elif a == "{key}":
            key = work / "key"
            key.write_text("0123456789abcdef" * 4)
            key.chmod(0o600)
            a = str(key)
        elif a.startswith("{"):
            shutil.copytree(examples[a[1:-1]], work / a[1:-1], symlinks=True)
            a = str(work / a[1:-1])
        argv.append(a)
    return argv


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_refuses_hostile_values_cleanly(command, examples, tmp_path, capsys,
                                                     monkeypatch) -> None:
    monkeypatch.chdir(examples["ex"])
    template, options = COMMANDS[command]
    faults = []
    for k, (option, value) in enumerate((o, v) for o in options for v in VALUES):
        work = tmp_path / str(k)
        work.mkdir()
        argv = _argv(template, examples, work)
        if option in argv:
            argv[argv.index(option) + 1] = value
        else:
            argv += [option, value]
        try:
            status = main(argv)
        except SystemExit as stop:  # argparse: a value of the wrong type
            status = stop.code
        err = capsys.readouterr().err
        longest = max((len(line) for line in err.splitlines()), default=0)
        if status not in (0, 2) or "Traceback" in err or longest > 360:
            faults.append((option, value[:30], status, err[-200:]))
        shutil.rmtree(work, ignore_errors=True)
    assert not faults, faults
