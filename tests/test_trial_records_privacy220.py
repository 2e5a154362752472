"""A trial on real pupil records writes and prints no count under 10, nor one that follows
from what it writes by arithmetic (an attacker reading trial_runs.csv and trial_groups.csv);
a simulated trial keeps its counts."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from srmsim.cli import main
from srmsim.trial.groups import ALL, SHARE_OUTCOMES
from srmsim.trial.run import INCIDENTAL_COUNTS, withhold_small_counts

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
RUN_COUNTS = ["n", "n_treated", "n_control", *INCIDENTAL_COUNTS]
PAIRS = [("FSM", "not FSM"), ("SEN", "not SEN"), ("EAL", "not EAL")]


def small(v: float) -> bool:
    return math.isfinite(v) and round(v) < 10


def attack(out: Path) -> list[str]:
    """Every count under 10 an attacker works out from the trial's files: printed counts,
    shares times their group's students (and the students without), a group's size as the
    whole arm's minus the other group's, or the schools' total minus the others."""
    found = []
    runs = pd.read_csv(out / "trial_runs.csv")
    for r in runs.itertuples():
        found += [f"rep {r.replication} {c}" for c in RUN_COUNTS
                  if small(float(getattr(r, c)))]
    groups = pd.read_csv(out / "trial_groups.csv")
    subgroups = pd.read_csv(out / "trial_subgroups.csv")
    for rep, g in groups.groupby("replication"):
        size = g.groupby("group")["students"].first().to_dict()
        found += [f"rep {rep} {k} students" for k, v in size.items() if small(v)]
        whole = size.get(ALL, math.nan)
        r = runs.set_index("replication").loc[rep]
        # the treated students the analysis left out, and those not served, of the arm
        for what, v in (("left out", whole - r["n_treated"]), ("not served",
                                                                whole - r["n_served"]),
                        ("truth known", r["n_treated"] - r["n_truth_missing"]),
                        ("baseline kept", r["n"] - r["baseline_changed"])):
            if small(v):
                found.append(f"rep {rep} {what}")
        sub = subgroups[subgroups["replication"] == rep].set_index("level")["n_treated"]
        for level, n in sub.items():  # a subgroup's treated students left out
            if level in size and small(size[level] - n):
                found.append(f"rep {rep} {level} left out")
        for a, b in PAIRS:
            for x, y in ((a, b), (b, a)):
                if math.isfinite(whole) and math.isfinite(size.get(x, math.nan)) \
                        and small(whole - size[x]):
                    found.append(f"rep {rep} {y} students = arm - {x}")
        schools = [v for k, v in size.items() if str(k).startswith("school ")]
        if math.isfinite(whole) and schools:
            for v in schools:
                if small(whole - (np.nansum(schools) - v)):
                    found.append(f"rep {rep} a school = arm - the others")
        for col in ("trial", "counterfactual"):
            for outcome in SHARE_OUTCOMES:
                if col == "counterfactual" and outcome == "students_served":
                    continue  # nobody is served without the policy: 0, known to everyone
                rows = g[g["outcome"] == outcome].set_index("group")
                n = rows["students"] * rows[col]
                for k, v in n.items():
                    if small(v) or small(rows.loc[k, "students"] - v):
                        found.append(f"rep {rep} {k} {outcome} ({col})")
                for a, b in PAIRS:
                    if ALL in n and a in n and small(n[ALL] - n[a]):
                        found.append(f"rep {rep} {b} {outcome} ({col}) = arm - {a}")
    return found


def records(folder: Path, fsm: int) -> Path:
    """246 pupils in two schools of 120 and one of 6, ``fsm`` of them FSM."""
    rng = np.random.default_rng(3)
    n = 246
    flags = np.zeros(n, dtype=bool)
    flags[rng.choice(n, fsm, replace=False)] = True
    recs = pd.DataFrame({"school": np.repeat(["URN100001", "URN100002", "URN100003"],
                                             [120, 120, 6]),
                         "year_group": rng.choice([7, 8], n),
                         "sex": rng.choice(["F", "M"], n), "fsm": flags})
    path = folder / "records.parquet"
    recs.to_parquet(path)
    return path


def run(tmp_path: Path, capsys, fsm: int, from_records: bool = True) -> tuple[Path, str]:
    spec = {"name": "rec", "scenario": str(SCENARIOS / "reading_age.yaml"),
            "randomise": {"unit": "students"}, "outcome": "reading_gap_end",
            "baseline": "reading_gap_start", "population": "flagged", "replications": 2,
            "seed": 3}
    if from_records:
        spec["overrides"] = {"population.records": str(records(tmp_path, fsm))}
    path = tmp_path / "trial.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    assert main(["trial", str(path), "--out", str(out), "--quiet", "--workers", "1"]) == 0
    return out, capsys.readouterr().out


def test_an_attacker_recovers_no_count_under_10_from_a_trial_on_records(tmp_path,
                                                                        capsys) -> None:
    """6 FSM pupils of 246, a school of 6: their treated-arm counts, the zeros of
    trial_runs.csv (no outcome missing, no naive check) and shares of a few pupils (EAL
    pupils two years behind) were all in the files; now none, and the rest of the trial is
    written as before."""
    out, printed = run(tmp_path, capsys, fsm=6)
    assert attack(out) == []
    groups = pd.read_csv(out / "trial_groups.csv")
    numbers = ["trial", "counterfactual", "students"]
    fsm = groups[groups["group"].isin(["FSM", "not FSM"])]
    assert fsm[numbers].isna().all(axis=None)
    assert groups.loc[groups["group"].str.startswith("school "), numbers].isna().all(axis=None)
    sen = groups[groups["group"].isin(["SEN", "not SEN"])]
    assert (sen["students"] >= 10).all()  # groups big enough stay
    whole = groups[groups["group"] == ALL]
    assert whole["students"].notna().all() and (whole["students"] >= 10).all()
    runs = pd.read_csv(out / "trial_runs.csv")
    assert runs["error"].isna().all() and runs["estimate"].notna().all()
    assert (runs[["n_treated", "n_control"]] >= 10).all(axis=None)
    assert "Subgroups" in printed and "replications failed" not in printed
    html = (out / "report.html").read_text()
    assert "Traceback" not in html
    # the report reads the withheld files back as the store keeps them
    assert main(["report", str(out)]) == 0


def test_a_simulated_trial_keeps_its_small_counts(tmp_path, capsys) -> None:
    out, _ = run(tmp_path, capsys, fsm=0, from_records=False)
    runs = pd.read_csv(out / "trial_runs.csv")
    assert (runs[list(INCIDENTAL_COUNTS)] == 0).any(axis=None)  # zeros printed as they are


def test_an_arm_under_10_fails_the_replication_without_a_count() -> None:
    row = {c: 0 for c in RUN_COUNTS} | {"n_treated": 9, "n_control": 40, "n": 49}
    try:
        withhold_small_counts(row, 30)
    except Exception as err:  # noqa: BLE001 - the message is what is checked
        assert "fewer than 10" in str(err) and "9" not in str(err).replace("10", "")
    else:
        raise AssertionError("an arm of 9 was written")
    row |= {"n_treated": 25, "n": 65, "n_served": 12, "n_truth_missing": 20,
            "baseline_changed": 30}
    ok = withhold_small_counts(row, 30)
    assert ok["n_treated"] == 25 and math.isnan(ok["n_missing"])
    assert ok["baseline_changed"] == 30
    assert ok["n_served"] == 12  # 18 of the arm's 30 not served
    assert math.isnan(ok["n_truth_missing"])  # 25 - 20: 5 with a true effect
    assert math.isnan(withhold_small_counts(row, 15)["n_served"])  # 3 not served


def test_a_failed_replication_from_records_quotes_no_number(tmp_path, monkeypatch) -> None:
    """A replication's error is printed, and written to trial_runs.csv and
    trial_failures.json: from records its numbers are withheld ("data has 5 rows" gave the 5);
    from a simulated trust it is kept whole."""
    import srmsim.trial.run as run_mod
    from srmsim.errors import DataError
    from srmsim.trial import load_trial

    def fails(*args, **kwargs):
        n = 5  # the counts in variables, as real code quotes them (its lines are shown)
        try:
            raise ValueError(f"{n + 2} rows")
        except ValueError as err:  # a message raised from: left out of the traceback
            raise DataError(f"data has {n} rows of {n + 163}") from err

    monkeypatch.setattr(run_mod, "replicate", fails)
    spec = {"name": "rec", "scenario": str(SCENARIOS / "reading_age.yaml"),
            "randomise": {"unit": "students"}, "outcome": "reading_gap_end",
            "replications": 1, "seed": 3}
    for from_records in (True, False):
        if from_records:
            spec["overrides"] = {"population.records": str(records(tmp_path, 6))}
        else:
            spec.pop("overrides", None)
        path = tmp_path / "trial.yaml"
        path.write_text(yaml.safe_dump(spec))
        trial = load_trial(path)
        assert trial.from_records == from_records
        (row,) = run_mod._run_batch({**trial.to_payload(), "subgroups": True}, [(0, 7)])
        if from_records:
            assert row["error"].startswith("DataError: data has # rows of #")
            assert "5" not in row["error"] and "168" not in row["error"]
            assert "data has 5" not in row["traceback"] and "data has #" in row["traceback"]
            assert "7 rows" not in row["traceback"] and "fails" in row["traceback"]
        else:
            assert row["error"] == "DataError: data has 5 rows of 168"


def test_a_group_whose_treated_pupils_left_out_are_few_is_withheld() -> None:
    """trial_groups.csv's FSM students minus trial_subgroups.csv's analysed FSM treated gave
    the FSM pupils the analysis left out (not flagged, or missing the outcome): 3 here. Their
    group is withheld with its partner; the arm, with 23 left out, stays."""
    from srmsim.trial.groups import withhold_small_groups

    n = 80
    students = pd.DataFrame({"fsm": np.arange(n) < 30, "sen": np.arange(n) % 2 == 0,
                             "eal": np.arange(n) % 3 == 0, "school": np.arange(n) % 2})
    sizes = {ALL: n, "FSM": 30, "not FSM": 50, "SEN": 40, "not SEN": 40, "EAL": 27,
             "not EAL": 53, "school 0": 40, "school 1": 40}
    table = pd.DataFrame([{"group": g, "outcome": "attendance", "trial": 0.9,
                           "counterfactual": 0.9, "students": k} for g, k in sizes.items()])
    treated = np.ones(n, dtype=bool)
    analysed = np.ones(n, dtype=bool)
    analysed[[0, 1, 2]] = False  # 3 FSM pupils
    analysed[30:50] = False  # 20 not FSM
    numbers = ["trial", "counterfactual", "students"]
    shown = withhold_small_groups(table, students, students, treated).set_index("group")
    assert shown[numbers].notna().all(axis=None)
    out = withhold_small_groups(table, students, students, treated, analysed,
                                all_analysed_ok=True).set_index("group")
    assert out.loc[["FSM", "not FSM"], numbers].isna().all(axis=None)
    assert out.loc[ALL, "students"] == n and out.loc["school 0", "students"] == 40
    analysed[:] = True  # none left out: said of a population of every pupil only
    assert withhold_small_groups(table, students, students, treated, analysed,
                                 all_analysed_ok=True)["students"].notna().all()
    assert withhold_small_groups(table, students, students, treated, analysed,
                                 all_analysed_ok=False)["students"].isna().all()


def test_a_rate_per_student_of_few_events_is_withheld() -> None:
    """A run report from records showed incidents per student and actions per 100 students
    by group: 0.13 incidents per student of 30 FSM pupils is 4 incidents. Such a rate is
    withheld across its partition where the count it is of is under 10; the whole arm's 40
    incidents stay, and no action without the policy (a 0 everyone knows) stays."""
    from srmsim.trial.groups import withhold_small_groups

    n = 80
    fsm = np.arange(n) < 30
    students = pd.DataFrame({"fsm": fsm, "sen": np.arange(n) % 2 == 0,
                             "eal": np.arange(n) % 3 == 0, "school": np.arange(n) % 2,
                             "incidents": np.where(np.arange(n) < 4, 1, 0) + 36 * (np.arange(n) == 79),
                             "interventions": np.where(fsm, 1, 0)})
    sizes = {ALL: n, "FSM": 30, "not FSM": 50, "SEN": 40, "not SEN": 40, "EAL": 27,
             "not EAL": 53, "school 0": 40, "school 1": 40}
    masks = {ALL: np.ones(n, dtype=bool), "FSM": fsm, "not FSM": ~fsm,
             "SEN": students["sen"].to_numpy(), "not SEN": ~students["sen"].to_numpy(),
             "EAL": students["eal"].to_numpy(), "not EAL": ~students["eal"].to_numpy(),
             "school 0": np.arange(n) % 2 == 0, "school 1": np.arange(n) % 2 == 1}
    rows = []
    for g, k in sizes.items():
        m = masks[g]
        rows.append({"group": g, "outcome": "incidents", "trial": students["incidents"][m].mean(),
                     "counterfactual": students["incidents"][m].mean(), "students": k})
        rows.append({"group": g, "outcome": "interventions",
                     "trial": 100 * students["interventions"][m].mean(), "counterfactual": 0.0,
                     "students": k})
    table = pd.DataFrame(rows)
    out = withhold_small_groups(table, students, students, np.ones(n, dtype=bool))
    incidents = out[out["outcome"] == "incidents"].set_index("group")
    # FSM: 4 incidents; not FSM: 36; SEN (even rows) 2, so SEN's partition too
    assert incidents.loc[["FSM", "not FSM", "SEN", "not SEN"], "trial"].isna().all()
    assert incidents.loc[ALL, "trial"] == 0.5  # 40 incidents of 80 pupils: shown
    actions = out[out["outcome"] == "interventions"].set_index("group")
    # 30 FSM pupils' actions and none for the rest: not FSM's 0 is a count under 10
    assert actions.loc[["FSM", "not FSM"], "trial"].isna().all()
    assert actions.loc[ALL, "trial"] == 37.5 and (actions["counterfactual"] == 0).all()
    # the rule reads the counts: a rate over many events stays
    students["incidents"] = 5
    table.loc[table["outcome"] == "incidents", ["trial", "counterfactual"]] = 5.0
    out = withhold_small_groups(table, students, students, np.ones(n, dtype=bool))
    assert out[out["outcome"] == "incidents"]["trial"].notna().all()
