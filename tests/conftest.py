"""Shared fixtures: where the repository is, and small scenarios that run in well under a second."""

from __future__ import annotations

import os
import re

# Small least-squares fits in many tests: one BLAS thread each is faster than two fighting over
# two cores (notebook kernels inherit it). Set before numpy is first imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import copy  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

from srmsim.scenario import Scenario, scenario_from_dict  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def default_scenario_path() -> Path:
    return REPO_ROOT / "scenarios" / "default.yaml"


def small_scenario(overrides: dict[str, Any] | None = None) -> Scenario:
    """A 3-school trust of about 150 students with full history; dotted keys override."""
    base = {
        "name": "small",
        "trust": {"n_schools": 3, "students_per_year_group": 10},
        "outputs": {"history": "all"},
    }
    scenario = scenario_from_dict(base, "small_scenario")
    return scenario.with_overrides(overrides, "small_scenario") if overrides else scenario


def tiny_policy_scenario(**overrides: Any) -> dict[str, Any]:
    """The scenario "tiny" as a dict: one attendance rule, a two-step workflow (a text, then a
    meeting) and 300 pastoral minutes a week. Top-level keys in ``overrides`` replace the
    base's; each test file sets its own ``trust`` sizes (its tests depend on them)."""
    base: dict[str, Any] = {
        "name": "tiny",
        "trust": {"n_schools": 2, "students_per_year_group": 40, "size_cv": 0.0},
        "outputs": {"history": "none"},
        "policy": {
            "parameters": {"attendance_threshold": 0.9},
            "rules": {"low_attendance": {"when": "attendance_rate < attendance_threshold",
                                         "cadence": "half_termly"}},
            "workflows": {"attendance": {"trigger": "low_attendance", "steps": [
                {"action": "parent_text", "weeks": 3, "goal": "attendance(3) >= 0.9"},
                {"action": "parent_meeting", "weeks": 3}]}},
            "staff": {"school": {"pastoral": 300}},
        },
    }
    return copy.deepcopy({**base, **overrides})


def small_record_trust(n: int = 40, attended: Callable[[int, int], int] | None = None) -> Any:
    """A records dataset (:class:`srmsim.data.dataset.Dataset`) of ``n`` students in three
    schools, three weeks of ten sessions; ``attended(i, week)`` the sessions student ``i``
    attended (seeded random 7-10 if not given)."""
    import numpy as np
    import pandas as pd

    from srmsim.data.dataset import Dataset, base_meta

    rng = np.random.default_rng(0)
    students, obs = [], []
    for i in range(n):
        sid, school = f"S{i:03d}", "ABC"[i % 3]
        students.append({"student_id": sid, "school": school, "year_group": 7 + i % 2,
                         "fsm": i % 4 == 0, "age_months": 140 + i % 12})
        for w in range(1, 4):
            obs.append({"student_id": sid, "school": school, "period_type": "week",
                        "period": w, "sessions_possible": 10,
                        "sessions_attended": (int(rng.integers(7, 11)) if attended is None
                                              else attended(i, w))})
    return Dataset(pd.DataFrame(students), pd.DataFrame(obs), base_meta())


def two_school_records(folder: Path) -> Path:
    """A pupil-records file of 240 pupils in two schools (Years 7-8, sex and FSM) in
    ``folder``: the trust a study built from records starts from."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    n = 240
    recs = pd.DataFrame({"school": np.repeat(["URN100001", "URN100002"], n // 2),
                         "year_group": rng.choice([7, 8], n), "sex": rng.choice(["F", "M"], n),
                         "fsm": rng.random(n) < 0.3})
    path = folder / "records.parquet"
    recs.to_parquet(path)
    return path


@pytest.fixture
def make_small_scenario() -> Callable[..., Scenario]:
    """Factory fixture: ``make_small_scenario({"trust.n_schools": 5, "years": 2})``."""
    return small_scenario


def cli_refuses(capsys: pytest.CaptureFixture[str], argv: list[str], contains: str) -> str:
    """The ``srmsim`` command ``argv`` exits 2 with an error (no traceback) saying
    ``contains``; its standard error."""
    from srmsim.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("srmsim: error:") and "Traceback" not in err, err
    # (a long line is wrapped at its spaces: a long folder or holder's command line moves where)
    assert contains in err or " ".join(contains.split()) in " ".join(err.split()), err
    return err


def folder_bytes(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Every file below ``folder`` by relative path, with its bytes (names in ``skip`` left
    out): to show that a folder was replaced whole, or left exactly as it was."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in skip}


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Every figure srmsim.risk.plots saves while a test runs, by file name (read back from
    the matplotlib artists)."""
    import srmsim.risk.plots as plots

    grabbed: dict[str, Any] = {}
    real_save = plots.save

    def grab(fig: Any, path: Any, dpi: int = 120) -> Any:
        grabbed[Path(path).name] = fig
        return real_save(fig, path, dpi)

    monkeypatch.setattr(plots, "save", grab)
    return grabbed


#: CI sets this for its second Python: the tests marked ``once`` ran on the first
REPEAT = os.environ.get("SRMSIM_CI_REPEAT") == "1"
#: test modules of pure computation on tables and arrays, whose every test is ``once`` on CI's
#: second Python: statistics, privacy arithmetic, thresholds and risk numbers, rules and
#: policy semantics, calibration, data validation and import parsing, hostile-input and option
#: properties, the attacks on studies from records (test_privacy2NN: their subject is what is
#: withheld, not the engine), the attacks on results folders and the reports' numbers
#: (test_results_review2NN, test_report_mutation_review), reviews of the same. Both Pythons install the same numpy, pandas, scipy,
#: statsmodels and scikit-learn (only Mesa differs, whose code the engine, model, policy and
#: dashboard modules test on both), so these give the same numbers on both; measured on the
#: slow AMD VM of 2026-12-06, they were 358 of the second Python's 749 s of test time, which
#: with the first Python's took CI past 20 minutes there.
PURE_MODULES = re.compile(
    r"test_(stats_|stats$|privacy_|privacy$|risk_|risk$|thresholds_|rules|calibrat|data_|"
    r"import_|hostile_|spec_|yaml_|gee_|did_|small_arm|two_way|trial_mdes|trial_null|"
    r"trial_small|trial_assign|trial_mutation|trial_hostile|trial_review|relative_change|"
    r"effects_|figures_|pages_|recent_code|left_alone|explore_numerics|explore_hostile|"
    r"explore_mutation|bounded_means|anonymis|messy|headerless|shifted_values|group_severe|"
    r"levels_and|inputs_mutation|outputs_mutation|summary_thresholds|requests_identifiers|"
    r"api_degenerate|ascii_terminal|option_fuzz|input_safety|commands_hostile|"
    r"commands_mutation|cross_command|empty_inputs|results_hostile|results_mutation|"
    r"run_outputs|allocation|rng$|engine_extremes|dynamics_mutation|groups_at_once|"
    r"records_school|realdata|learning_pooling|pooling_learning|policy_semantics|"
    r"policy_rate|policy_invariants|policy_mutation|session37|docs_|admin_hostile|"
    r"admin_mutation|dataset_mutation|study_upfront|study_records|study_memory|"
    r"national_policy|privacy\d|results_review|report_mutation)")
#: .ci/run sets this: there, a skip for a missing dependency or browser is a failure
STRICT_INSTALL = os.environ.get("SRMSIM_CI") == "1"


def missing_install(report: pytest.CollectReport | pytest.TestReport) -> str | None:
    """The reason of a skip that only an incomplete install explains (a dev dependency that
    ``pytest.importorskip`` could not import, Debian's chromium missing), else None. Outside CI
    a developer without ``.[dev]`` sees those tests skipped; in CI the install is the README's
    ``pip install -e ".[dev]"`` and a skip would hide that it broke."""
    if not report.skipped or hasattr(report, "wasxfail"):
        return None
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    if "could not import" in reason or "chromium" in reason:
        return reason
    return None


def _fail_missing_install(report: pytest.CollectReport | pytest.TestReport) -> None:
    reason = missing_install(report) if STRICT_INSTALL else None
    if reason is not None:
        report.outcome = "failed"
        report.longrepr = (f"SRMSIM_CI=1: skipped for an incomplete install ({reason}); "
                           "CI installs .[dev] and the system's chromium, so this is a failure")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    outcome = yield
    _fail_missing_install(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    outcome = yield
    _fail_missing_install(outcome.get_result())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow studies (``-m slow``) run as long as they need; pyproject's ``timeout`` is for the
    default run, where it turns a hang into a failure.

    Tests marked ``once`` are skipped when ``SRMSIM_CI_REPEAT=1``: CI sets it for the newest
    Python, which repeats the oldest one's suite, to keep both within CI's 20 minutes on two
    cores. They are the tests of 1 s or more (on a slow machine) whose subject does not depend
    on the Python version: statistical studies, privacy arithmetic, hostile-input properties,
    reports, documentation pages and notebooks; so are all the tests of :data:`PURE_MODULES`.
    Tests of processes, workers, helpers, Dask, file permissions, imports, the engine, model
    and policy (Mesa differs between the two) and the dashboard in a browser run on every
    Python."""
    once = pytest.mark.skip(reason="SRMSIM_CI_REPEAT=1: CI ran it on the oldest Python")
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(pytest.mark.timeout(0))
        if REPEAT and (item.get_closest_marker("once") is not None
                       or PURE_MODULES.match(item.path.stem) is not None):
            item.add_marker(once)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished experiment of 2 replications with its report, one a test module (each test
    changes a copy: :func:`study`); a module may define its own."""
    from test_experiment import write_experiment

    from srmsim.cli import main

    tmp = tmp_path_factory.mktemp("study")
    exp = write_experiment(tmp, replications=2)
    out = tmp / "done"
    assert main(["experiment", str(exp), "--out", str(out), "--quiet", "--workers", "1"]) == 0
    return out


@pytest.fixture
def study(finished: Path, tmp_path: Path) -> Path:
    """A copy of :func:`finished` of this test's own."""
    import shutil

    out = tmp_path / "study"
    shutil.copytree(finished, out)
    return out


def names_one_problem(err: str, source: object, problem: str) -> bool:
    """``err`` is srmsim's error for one problem of ``source`` starting ``problem``: on the
    file's line, or on a line of its own below it when the two pass the line limit (long
    temporary paths)."""
    one = f"srmsim: error: {source}: {problem}"
    below = f"srmsim: error: {source}:\n  {problem}"
    # a problem past the line limit is wrapped: its continuations are indented under it
    rest = err.strip().splitlines()[2:]
    return (err.startswith(one) and "\n" not in err.strip()) or (
        err.startswith(below) and all(ln.startswith("    ") for ln in rest))
