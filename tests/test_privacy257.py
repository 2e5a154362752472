"""Privacy review 257: built-in shares that are nested, differenced.

Found 2026-12-07 on a trust of 60 Year 7 pupils built from records, absence made to split the
pupils (``dynamics.absence_engagement`` 12): the severely absent (under 50% of sessions) are
among the persistently absent (under 90%), so an experiment's "Persistent absence 50.8%" less
its "Severe absence 38.3%", times the 60 pupils, is the 7.5 pupils a run between 50% and 90%,
each share alone passing its own rule (counted and not counted 10 or more); the run report's
headline showed the pair the same way. The FSM pupils' persistent absence is nested in the
trust's too (the difference, over the FSM pupils' number, gives the others').
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from srmsim.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from test_privacy239 import escalation_scenario  # noqa: E402
from test_privacy248 import one_school_records, run_on_records  # noqa: E402

#: the module's studies on records are built once, on one worker
pytestmark = pytest.mark.xdist_group("privacy257")

PAIR = ("persistent_absence", "severe_absence")
#: absence that splits the pupils: few between 50% and 90% (the band), or many
NARROW = {"dynamics.absence_engagement": 12, "dynamics.absence_logit": -2,
          "dynamics.absence_week_sd": 0.1}
WIDE = {"dynamics.absence_engagement": 3, "dynamics.absence_logit": -1.5}
WIDER = {"dynamics.absence_engagement": 2.5, "dynamics.absence_logit": -1.5}


def scenario(folder: Path, dynamics: dict | None = None) -> Path:
    """No policy, one year, the 60 pupils' trust; ``dynamics`` (``dynamics.x: v``) set."""
    path = escalation_scenario(folder, one_school_records(folder, 60), [7])
    s = yaml.safe_load(path.read_text())
    s["policy"] = None
    s["dynamics"] = {k.split(".", 1)[1]: v for k, v in (dynamics or {}).items()}
    path.write_text(yaml.safe_dump(s))
    return path


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Both shares of the 60 pupils, 2 runs: a wide band (the baseline and another) and a
    narrow one."""
    folder = tmp_path_factory.mktemp("records")
    scenario(folder)
    exp = {"name": "privacy257", "scenario": "scenario.yaml", "baseline": "wide",
           "replications": 2, "seed": 1, "outcomes": list(PAIR),
           "variants": {"wide": WIDE, "wider": WIDER, "narrow": NARROW}}
    return run_on_records(folder, exp)


def test_nested_shares_differenced_give_no_small_count(study: tuple[Path, str]) -> None:
    from srmsim.experiment.result import ExperimentResult
    from srmsim.experiment.store import ResultsStore

    out, printed = study
    runs = ResultsStore(out).load()
    counts = runs.assign(**{o: runs[o] * runs["students"] for o in PAIR})
    per_run = counts.groupby("variant")[[*PAIR, "students"]].mean()
    band = per_run["persistent_absence"] - per_run["severe_absence"]
    # each share alone passes its own rule (counted and not, 10 or more), in every variant;
    # the pupils between are few in the narrow one only: the test could fail either way
    for o in PAIR:
        assert (per_run[o] >= 10).all() and (per_run["students"] - per_run[o] >= 10).all()
    assert 0 < band["narrow"] < 10 <= band["wider"] and band["wide"] >= 10, band
    effects = pd.read_csv(out / "effects.csv")
    values: dict[tuple[str, str], float] = {}
    for r in effects[effects["verdict"] != "withheld"].itertuples():
        values[(r.variant, r.outcome)] = r.mean_variant
        values[(r.baseline, r.outcome)] = r.mean_baseline
    # the attack fails: wherever both are shown, the pupils between are 10 or more
    for variant in per_run.index:
        if all((variant, o) in values for o in PAIR):
            between = (values[(variant, PAIR[0])] - values[(variant, PAIR[1])]) * 60
            assert between >= 10, (variant, between)
    by = effects.set_index(["variant", "outcome"])["verdict"]
    assert by[("narrow", "severe_absence")] == "withheld"
    assert by[("narrow", "persistent_absence")] != "withheld"  # the outer share stays
    for o in PAIR:  # a wide band: both shown
        assert by[("wider", o)] != "withheld", o
    assert "beside the share it is part of" in printed
    # by group: both shares of a group shown give its pupils between
    groups = ExperimentResult.load(out).group_effects
    assert groups is not None
    kept = groups[groups["verdict"] != "withheld"]
    both = kept.pivot_table(index=["group", "variant"], columns="outcome",
                            values="mean_variant").dropna()
    detail = ResultsStore(out).load_detail("groups")
    assert detail is not None
    sizes = detail.groupby(["group", "variant"])["students"].mean()  # the group's pupils
    for key, r in both.iterrows():
        assert (r[PAIR[0]] - r[PAIR[1]]) * sizes[key] >= 10, (key, r)
    shown = set(kept[kept["outcome"] == "severe_absence"]["variant"])
    assert "wider" in shown and "narrow" not in shown, shown
    # an optimisation's candidates (trials.csv, the front) by the same rule on its runs
    from srmsim.experiment.withhold import withhold_candidates

    variants = ["wide", "wider", "narrow"]
    table = per_run.loc[variants, list(PAIR)].reset_index(drop=True) / 60
    shown_means = withhold_candidates(table, variants, runs, list(PAIR))
    assert shown_means["severe_absence"].isna().tolist() == [False, False, True], shown_means
    assert shown_means["persistent_absence"].notna().all()


def test_a_run_report_withholds_severe_beside_persistent_of_few_between(
        tmp_path: Path) -> None:
    """The run report's headline shows both shares of the trust: severe is low where the
    pupils between are few, and both show where they are many."""
    pages = {}
    for name, dynamics in (("narrow", NARROW), ("wide", WIDE)):
        (tmp_path / name).mkdir()
        out = tmp_path / name / "run"
        path = scenario(tmp_path / name, dynamics)
        assert main(["run", str(path), "--out", str(out), "--report", "--quiet",
                     "--seed", "5"]) == 0
        students = pd.read_parquet(out / "students.parquet")
        absent, severe = students["persistent_absent"].sum(), students["severe_absent"].sum()
        assert min(absent, 60 - absent, severe, 60 - severe) >= 10, (absent, severe)
        pages[name] = ((out / "report.html").read_text(), absent - severe)
    headline = {k: page.split("The year in numbers")[1].split("</table>")[0]
                for k, (page, _) in pages.items()}
    assert 0 < pages["narrow"][1] < 10 <= pages["wide"][1], pages

    def low(page: str, label: str) -> bool:
        found = re.search(f">{label}</td><td [^>]*>([^<]*)<", page)
        assert found, (label, page)
        return found.group(1) == "low"

    assert low(headline["narrow"], "Severe absence"), headline["narrow"]
    assert not low(headline["narrow"], "Persistent absence")
    assert not low(headline["wide"], "Severe absence")
    assert not low(headline["wide"], "Persistent absence")


def test_nested_pairs_reckoned_pair_by_pair() -> None:
    """The parts of each nested pair: the severely absent within the persistently absent, the
    FSM persistently absent within them; only a published pair is reckoned, and an older
    folder (no parts of the pair kept) withholds the inner share, not the outer."""
    from srmsim.experiment.outcomes import OUTCOMES, Cohort
    from srmsim.experiment.parts import between, nested_inner
    from srmsim.experiment.withhold import small_test

    assert nested_inner(["persistent_absence", "severe_absence", "attendance"]) == {
        "severe_absence"}
    assert nested_inner(["severe_absence", "persistent_absence_fsm"]) == frozenset()
    # 40 pupils: 12 severe, 4 more persistent (4 between), 24 not; 16 FSM, 14 of them absent
    absent = np.r_[[True] * 16, [False] * 24]
    students = pd.DataFrame({"sessions_possible": 100, "persistent_absent": absent,
                             "severe_absent": np.r_[[True] * 12, [False] * 28],
                             "fsm": np.r_[[True] * 14, [False] * 24, [True] * 2]})
    cohort = Cohort(students)
    assert between(cohort, ["persistent_absence", "severe_absence"])[0] == 4.0
    assert between(cohort, ["persistent_absence", "persistent_absence_fsm"])[0] == 2.0
    assert np.isnan(between(cohort, ["severe_absence"])[0])
    every = between(cohort, ["persistent_absence", "severe_absence", "persistent_absence_fsm"])
    assert every[0] == 2.0  # both pairs: the fewest of either (the FSM pair's 2 between)
    wider = students.assign(severe_absent=np.r_[[True] * 6, [False] * 34])  # 10 between
    assert between(Cohort(wider), ["persistent_absence", "severe_absence"])[0] == 6.0
    runs = pd.DataFrame({"variant": ["a", "a"], "replication": [0, 1], "students": 40,
                         "persistent_absence": 0.4, "severe_absence": 0.3,
                         "fewest_between": [4.0, 4.0], "empty_between": [1.0, 1.0]})
    is_small = small_test(runs, OUTCOMES, frozenset(), 10, None, None)
    assert is_small("a", "severe_absence") and not is_small("a", "persistent_absence")
    many = small_test(runs.assign(fewest_between=12.0), OUTCOMES, frozenset(), 10, None, None)
    assert not many("a", "severe_absence")
    older = small_test(runs.drop(columns=["fewest_between", "empty_between"]), OUTCOMES,
                       frozenset(), 10, None, None)
    assert older("a", "severe_absence") and not older("a", "persistent_absence")
    alone = small_test(runs.drop(columns=["persistent_absence", "fewest_between"]), OUTCOMES,
                       frozenset(), 10, None, None)
    assert not alone("a", "severe_absence")  # without its outer share: its own rule alone
    # a user-defined share beside a built-in is review 254's parts: the 4 between withhold it
    from srmsim.experiment.custom import build_outcomes
    from srmsim.experiment.parts import counted_conditions, parts

    definitions = [{"name": "under_half", "label": "under half", "statistic": "share",
                    "of": "attendance_rate < 0.5", "scale": "share"}]
    study = [*build_outcomes(definitions).values(), OUTCOMES["persistent_absence"]]
    rates = students.assign(attendance_rate=np.r_[[0.3] * 12, [0.8] * 4, [0.95] * 24])
    assert parts(Cohort(rates), counted_conditions(study))[0] == 4.0


def test_a_trials_sd_of_a_yes_no_outcome_on_records_gives_no_small_count() -> None:
    """Found beside the nested shares: a trial on records of ``severe_absent`` wrote each
    replication's ``outcome_sd`` (0.106164 of 615 analysed), and ``sqrt(n / (n - 1) p (1 -
    p))`` gave the 7 severely absent without the policy. Withheld where those 1, or 0, are
    under 10 (or all alike: an SD of 0); kept where both are many, for a simulated trust, and
    for a score of more than two values."""
    from srmsim.trial.run import _outcome_sd

    def sd_of(ones: int, n: int = 615, records: bool = True) -> float:
        return _outcome_sd(pd.Series([1.0] * ones + [0.0] * (n - ones)), records)

    assert np.isnan(sd_of(7)) and np.isnan(sd_of(0)) and np.isnan(sd_of(610))
    assert sd_of(7, records=False) == pytest.approx(0.106164, abs=1e-6)
    n, sd = 615, sd_of(11)
    p = (1 - np.sqrt(1 - 4 * sd**2 * (n - 1) / n)) / 2
    assert p * n == pytest.approx(11)  # the attacker's reckoning, on a count of 10 or more
    assert np.isnan(sd_of(615))  # all alike: none is 0
    assert np.isnan(_outcome_sd(pd.Series([0.0] * 600 + [2.0] * 3), True))  # 2 x a yes/no
    score = pd.Series([0.0] * 600 + [2.0] * 3 + [1.0] * 2 + [np.nan] * 10)  # three values
    assert _outcome_sd(score, True) == pytest.approx(float(score.std(ddof=1)))
