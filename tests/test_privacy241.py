"""Privacy review 241: counts under 10 worked out from an optimisation of real records
(``population.records``).

Found 2026-12-07: ``srmsim optimise opt.yaml`` on the records of test_privacy239 (three
schools, one of 6 pupils; about 690 students a run) wrote each candidate's mean severe absence
to trials.csv and pareto.csv (0.0043: 3 students a run), printed and reported the front with
"Severe absence 0.4%", drew the candidates at those values in pareto.png, and wrote regret.csv's
gaps between the front policies' severe absence in a state of the world (a few students).
front_effects.csv already withheld them (test_privacy240); now every output of the search does,
by the same rule (:mod:`srmsim.experiment.withhold`). A simulated search is unchanged.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from srmsim.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from test_privacy239 import REPO, escalation_scenario, records  # noqa: E402  (239's helpers)
from test_privacy240 import students_shown  # noqa: E402


def optimisation(folder: Path, recs: Path | None) -> Path:
    """Four candidates x 2 replications of attendance escalation's levers, minimising severe
    absence and staff hours under an uncertain take-up (so regret.csv is written), on ``recs``
    (None: a simulated trust of about the same size); the results folder."""
    escalation_scenario(folder, recs)
    spec = yaml.safe_load((REPO / "experiments" / "optimise_attendance.yaml").read_text())
    spec.pop("budget", None)
    spec.update(scenario="scenario.yaml", replications=2, constraints={},
                objectives={"severe_absence": "minimise", "staff_hours": "minimise"},
                uncertain={"policy.actions.parent_text.take_up": [0.4, 0.95]},
                search={"sampler": "tpe", "trials": 4, "batch": 4},
                reevaluate={"replications": 2, "front_max": 2})
    (folder / "opt.yaml").write_text(yaml.safe_dump(spec))
    out = folder / "out"
    assert main(["optimise", str(folder / "opt.yaml"), "--out", str(out), "--workers", "1",
                 "--quiet"]) == 0
    return out


def small_counts(out: Path, printed: str) -> list[str]:
    """Every count of students under 10 a reader works out from the search's files and its
    printed front: each candidate's severe absence (a share) times the trust's students (the
    front's own report shows them), the students not counted in it, and each regret's gap."""
    assert main(["report", str(out / "front")]) == 0
    students = students_shown((out / "front" / "report.html").read_text())
    n = max(students.values())  # every variant runs the same pupils
    found = []
    for name in ("trials.csv", "pareto.csv"):
        for v in pd.read_csv(out / name)["severe_absence"].dropna():
            k = round(float(v) * n)
            if k < 10 or n - k < 10:
                found.append(f"{name} severe_absence {v} of {n:g}: {k}")
    reg = pd.read_csv(out / "regret.csv")
    for v in reg.loc[reg["objective"] == "severe_absence",
                     ["mean_regret", "p90_regret", "max_regret"]].stack().dropna():
        k = round(float(v) * n)
        if 0 < k < 10:
            found.append(f"regret.csv severe_absence {v} of {n:g}: {k}")
    front = printed.split("Pareto front of")[1].split("re-evaluated against")[0]
    for value in re.findall(r"\s([\d.]+)%", front):
        k = round(float(value) / 100 * n)
        if k < 10:
            found.append(f"printed {value}% of {n:g}: {k}")
    return found


#: the module's studies on records are built once, on one worker
pytestmark = pytest.mark.xdist_group("privacy241")

@pytest.fixture(scope="module")
def searches(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    import contextlib
    import io

    out = {}
    for kind in ("records", "simulated"):
        folder = tmp_path_factory.mktemp(kind)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            path = optimisation(folder, records(folder) if kind == "records" else None)
        out[kind] = (path, printed.getvalue())
    return out


def test_an_optimisation_on_records_gives_no_small_count(
        searches: dict[str, tuple[Path, str]]) -> None:
    out, printed = searches["records"]
    assert small_counts(out, printed) == [], small_counts(out, printed)
    trials = pd.read_csv(out / "trials.csv")
    # severe absence (a few students a run) is empty for every candidate; staff hours shown
    assert trials["severe_absence"].isna().all() and (trials["staff_hours"] > 0).all()
    front = pd.read_csv(out / "pareto.csv")
    assert len(front) and front["severe_absence"].isna().all()
    effects = pd.read_csv(out / "front_effects.csv")  # (helper 240)
    severe = effects[effects["outcome"] == "severe_absence"]
    assert len(severe) and set(severe["verdict"]) == {"withheld"}
    assert severe[["mean_variant", "mean_baseline", "difference"]].isna().all().all()
    assert (effects.loc[effects["outcome"] == "staff_hours", "mean_variant"] > 0).all()
    reg = pd.read_csv(out / "regret.csv").set_index("objective")
    assert reg.loc["severe_absence", ["mean_regret", "max_regret"]].isna().all().all()
    assert reg.loc["staff_hours", "max_regret"].notna().all()
    table = printed.split("Pareto front of")[1].split("re-evaluated against")[0]
    assert re.search(r"trial-\d+\s+.*\blow\b", table) and "population.records" in table
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text()
    pareto = page.split("The Pareto front</h2>")[1].split("The front re-evaluated")[0]
    assert "data-col='Severe absence' data-value='nan'>low<" in pareto
    table = pareto.split("<table id='pareto'>")[1].split("</table>")[0]
    assert "A value shown as low" in pareto and "%" not in re.sub(r"<[^>]+>", "", table)
    regret = page.split("Regret across the states")[1].split("</table>")[0]
    assert re.search(r"Severe absence</td>(<td[^>]*>low</td>){3}", regret), regret


def test_the_report_of_an_older_search_on_records_withholds_its_front(
        searches: dict[str, tuple[Path, str]]) -> None:
    """A search folder an older srmsim wrote holds each candidate's exact means in trials.csv
    and pareto.csv: `srmsim report DIR` showed them as read ("Severe absence 0.6%"); it now
    reckons them again on the search's runs."""
    import shutil

    from srmsim.experiment.store import ResultsStore

    out = searches["records"][0].parent / "older"
    shutil.copytree(searches["records"][0], out)
    means = ResultsStore(out / "search").load().groupby("variant")["severe_absence"].mean()
    for name in ("trials.csv", "pareto.csv"):  # as the older srmsim wrote them
        table = pd.read_csv(out / name)
        table["severe_absence"] = [means[f"trial-{int(t):05d}"] for t in table["trial"]]
        table.to_csv(out / name, index=False, float_format="%.8g")
    reg = pd.read_csv(out / "regret.csv")
    reg[["mean_regret", "p90_regret", "max_regret"]] = 0.0029  # 2 students of 690
    reg.to_csv(out / "regret.csv", index=False)
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text()
    table = page.split("<table id='pareto'>")[1].split("</table>")[0]
    assert ">low<" in table and "%" not in re.sub(r"<[^>]+>", "", table)
    regret = page.split("Regret across the states")[1].split("</table>")[0]
    assert re.search(r"Severe absence</td>(<td[^>]*>low</td>){3}", regret), regret
    assert re.search(r"Staff hours</td><td[^>]*>[\d.]+ h<", regret), regret


def test_the_attack_finds_the_counts_a_simulated_search_shows(
        searches: dict[str, tuple[Path, str]]) -> None:
    """The attacker above works: on a simulated search, whose counts are no one's, it finds
    them, and nothing is withheld."""
    out, printed = searches["simulated"]
    assert small_counts(out, printed), "the attack finds nothing: it could not fail"
    assert pd.read_csv(out / "trials.csv")["severe_absence"].notna().all()
    assert " low" not in printed and "population.records" not in printed


def _fractions(mean: float, reps: int) -> list[tuple[int, ...]]:
    """The referrals per run (each under 10) whose shares matched average to ``mean`` over
    ``reps`` runs: the attacker's search over small denominators (0.3222222222 over 2 runs
    is 1 of 5 and 4 of 9)."""
    import itertools

    found = []
    for ds in itertools.combinations_with_replacement(range(1, 10), reps):
        for ks in itertools.product(*(range(d + 1) for d in ds)):
            if abs(sum(k / d for k, d in zip(ks, ds, strict=True)) / reps - mean) < 1e-9:
                found.append(ds)
    return found


def test_a_learning_curve_on_records_withholds_its_shares_of_referrals(tmp_path: Path) -> None:
    """The oracle match of a term is a share of its few referrals: learning_curve.csv wrote
    0.3222222222 over 2 runs (1 of 5 and 4 of 9 referrals matched), and effects.csv the same
    shares; how many referrals a run made is not kept, so on records they are withheld whole."""
    recs = records(tmp_path)
    scenario = yaml.safe_load((REPO / "scenarios" / "learning.yaml").read_text())
    scenario.setdefault("outputs", {})["history"] = "none"
    scenario["years"] = 1
    scenario.setdefault("population", {})["records"] = str(recs)
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(scenario))
    candidates = ["reading_club", "parent_reading_at_home", "small_group_tuition"]

    def chooser(kind: str) -> dict:
        return {"policy.workflows.reading.steps": [
            {"candidates": candidates, "weeks": 13, "chooser": {"kind": kind}}]}

    exp = {"name": "learning241", "scenario": "scenario.yaml", "baseline": "fixed",
           "replications": 2, "seed": 1,
           "outcomes": ["oracle_match", "oracle_match_t1", "oracle_match_t2", "oracle_match_t3",
                        "explore_share", "regret", "staff_hours"],
           "variants": {"fixed": chooser("fixed"), "random": chooser("random")}}
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(exp))
    out = tmp_path / "out"
    assert main(["experiment", str(tmp_path / "exp.yaml"), "--out", str(out), "--quiet",
                 "--workers", "1"]) == 0
    curve = pd.read_csv(out / "learning_curve.csv")
    effects = pd.read_csv(out / "effects.csv")
    shares = [*curve["mean"].dropna(),
              *effects.loc[effects["outcome"].str.startswith("oracle_match"),
                           ["mean_variant", "mean_baseline"]].stack().dropna()]
    small = [(v, f[0]) for v in shares if (f := _fractions(float(v), 2))]
    assert small == [], small
    assert len(curve) and curve[["mean", "ci_low", "ci_high"]].isna().all().all()
    assert set(effects.loc[effects["outcome"].str.startswith("oracle_match"), "verdict"]) \
        == {"withheld"}
    assert effects.set_index("outcome").loc["regret", "verdict"] != "withheld"
    page = (out / "report.html").read_text()
    table = page.split("id='learning_oracle_match'")[1].split("</table>")[0]
    assert "%" not in table and ">low<" in table
    assert "how many referrals each share is of is not kept" in page
