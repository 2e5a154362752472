"""Privacy attack review of the two commands that print statistics of real pupils:
``srmsim data summary`` and ``srmsim thresholds``.

An outside attacker's view: small real-looking datasets, the CLI run as a user runs it,
everything printed and written parsed back, and a hidden count under 10 looked for by
arithmetic on it.

Found and fixed: a summary row's mean attendance (``attendance_pct``) was printed beside a
hidden persistently absent count. A persistently absent pupil misses at least 10% of their
sessions, so with pupils of equal sessions (a school's calendar) a mean of 99.4% over 40
pupils says at most 2 of them are persistently absent, a count the table hid. The mean is now
shown only beside a shown persistently absent count (``low`` otherwise), as a rate is.

Then a mutation review of both commands (srmsim/data/describe.py; srmsim/commands/thresholds.py,
srmsim/risk/thresholds.py, protected.py, curves.py). Existing tests run against each mutant:
summary: test_realdata_review.py, test_privacy_attack_review.py and the summary tests of
test_privacy_attack.py; thresholds: test_risk_thresholds.py, test_thresholds_privacy.py,
test_risk_cli.py, then the survivors against test_thresholds_privacy_missing.py,
test_privacy_figures.py, test_privacy_few_schools.py, test_privacy_mutation_review.py and the
threshold tests of test_privacy_attack.py. Every expected number below is counted by hand from the data the test builds.

Mutations tried: 56 (summary 16, thresholds 40). Killed by the existing tests:
25. Survived: 31, of which 14 are killed by the tests below, 3 are
equivalent and 14 are left.

Equivalent:
- ``0 < n < threshold`` -> ``0 <= n`` and ``any(0 < b ...)`` -> ``all(...)`` in the
  thresholds command's count and rate: on real data every printed count is on the protected
  grid, so at least 10 (0 and 1 to 9 never reach them).
- attendance ``sum(attended) / sum(possible)`` -> ``mean / mean``: the same ratio.

Left (test gaps not closed in the time), then closed in tests/test_privacy_survivors_review.py:
- closed: thresholds command, ``n_missing`` kept in thresholds_by_group.csv on real data
  (a --by sex table, 12 girls without a score: no n_missing column, no "missing" in the group
  line; a group's pupils minus its n is 12 or 0, and a group with 1 to 9 left out is refused).
  Keeping the column leaks nothing more (it is a group's pupils minus its n, and the refusal
  makes it 0 or at least 10): the test kills the mutant by the column written.
- closed: ``left_out_problem``'s "without the outcome" part (12 with and 3 without the
  outcome left out: refused) and ``threshold_table(protect=...)`` checking its ``by`` groups.
- closed: bootstrap withholding at its boundary (two schools, one of 9 or 10 with, or
  without, the outcome: 9 withholds the interval, 10 shows it).
- closed: ``withheld[0][:total] |= hidden[-1]``: a Total hidden by the Total alone (150
  pupils, 9 not FSM). The mutant showed no cell the audit hides (12 random trusts, an
  independent attacker pinned nothing); it hid the sexes' and schools' sizes instead, which
  the test kills.
- closed: ``value in ("False", "(missing)")``: likewise, the mutant hid the three FSM groups'
  sizes to protect a 0 everyone knows; no cell shown that should be hidden.
- ``canon = sorted(by)`` -> ``list(by)``: still the same cells in every order (12 trusts, 5
  column sets, every order); a 3-column six-order test and a two-layout attack added, which
  this mutant does not fail.
- the refusal estimate counting ``< threshold - 1``: moves the 2,500 small-counts limit only.
- ``attendance_pct`` based on ``persistently_absent`` only (without ``with_sessions``): a
  mean beside a hidden with_sessions bounds it only when attendance is far below 90%.
- thresholds command: rates at 6 decimals instead of 4 (every count beside them is shown, so
  no count leaks); "fewer than 10 rows" said for exactly 10 rows without a cluster;
  ``0 < n_pos <= n_used`` (on real data a single outcome value has no grid and stops
  earlier); the one-school check over all rows instead of the rows used.
- found and fixed there: the AUC and AP printed from real data were the score's own; to 3
  decimals of a small table they gave the order of pupils within a band, and with it counts
  the grid hid. They are now of the score in its published bands.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from srmsim.cli import main
from srmsim.data import describe as describe_module
from srmsim.data.dataset import Dataset, base_meta, read_dataset, write_dataset

T = 10
SESSIONS = 10  # possible sessions a week, the same for every pupil (one school calendar)
WEEKS = 10


def _trust(folder: Path, sizes: dict[str, int], few_absent: str, absent: int) -> Path:
    """Schools of ``sizes``; in school ``few_absent`` exactly ``absent`` pupils are
    persistently absent (88% attendance) and the others attend every session; elsewhere
    attendance is drawn around 91%. Flags alternate so every FSM/SEN/EAL count is at least 10."""
    rng = np.random.default_rng(7)
    rows, obs = [], []
    k = 0
    for school, n in sizes.items():
        for i in range(n):
            sid = f"S{k:04d}"
            k += 1
            rows.append({"student_id": sid, "school": school, "year_group": 7 + i % 3,
                         "fsm": i % 2 == 0, "sen": i % 3 == 0, "eal": i % 4 < 2})
            if school == few_absent:
                weeks = [SESSIONS] * WEEKS if i >= absent else [9] * 8 + [8, 8]
            else:
                weeks = [int(rng.binomial(SESSIONS, rng.beta(18, 1.8))) for _ in range(WEEKS)]
            obs += [{"student_id": sid, "school": school, "period_type": "week", "period": w + 1,
                     "sessions_possible": SESSIONS, "sessions_attended": a}
                    for w, a in enumerate(weeks)]
    ds = Dataset(pd.DataFrame(rows), pd.DataFrame(obs), base_meta())
    write_dataset(ds, folder, overwrite=True)
    return folder


def _printed_table(text: str) -> pd.DataFrame:
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    head = lines[0]
    body = [ln for ln in lines[1:] if len(ln) == len(head)]
    return pd.DataFrame(body, columns=head)


def _attendance_bounds(mean_pct: str, pupils: int) -> tuple[int, int]:
    """What a printed mean attendance (1 decimal) says of the persistently absent pupils of a
    group of ``pupils`` with equal sessions: each misses at least 10% of them (at most
    10 x the share missed x pupils), each other pupil misses under 10%."""
    low, high = (float(mean_pct) - 0.05) / 100, (float(mean_pct) + 0.05) / 100
    most = math.floor(10 * (1 - low) * pupils + 1e-9)
    least = max(0, math.ceil(pupils * (0.9 - high) / 0.9 - 1e-9))
    return least, min(most, pupils)


def _pinned_by_attendance(table: pd.DataFrame) -> list[tuple[str, int, int]]:
    """Rows whose hidden persistently absent count (or its remainder) the printed mean
    attendance pins to a range narrower than 10."""
    found = []
    for _, row in table.iterrows():
        if row["persistently_absent"] != "c" or not re.fullmatch(r"[\d.]+",
                                                                 row["attendance_pct"]):
            continue
        if not row["with_sessions"].isdigit():
            continue
        least, most = _attendance_bounds(row["attendance_pct"], int(row["with_sessions"]))
        if most - least < T:
            found.append((row.iloc[0], least, most))
    return found


def _summary(folder: Path, capsys, by: str = "school") -> pd.DataFrame:
    assert main(["data", "summary", str(folder), "--by", by]) == 0
    return _printed_table(capsys.readouterr().out)


def test_mean_attendance_does_not_bound_a_hidden_persistently_absent_count(
        tmp_path: Path, capsys) -> None:
    """School B: 40 pupils, 2 of them persistently absent, the rest at 100%. B's count is
    hidden; its 99.4% mean attendance said it is 0 to 2."""
    folder = _trust(tmp_path / "ds", {"A": 60, "B": 40, "C": 50}, "B", 2)
    table = _summary(folder, capsys)
    b = table[table["school"] == "B"].iloc[0]
    assert b["persistently_absent"] == "c" and b["with_sessions"] == "40"
    assert _pinned_by_attendance(table) == []
    assert b["attendance_pct"] == "low"


def test_the_attendance_attack_recovers_the_count_from_the_old_table(
        tmp_path: Path, capsys, monkeypatch) -> None:
    """The attack above is real: with attendance shown beside the hidden count (as it was),
    B's 2 persistently absent pupils are pinned to 0-2."""
    folder = _trust(tmp_path / "ds", {"A": 60, "B": 40, "C": 50}, "B", 2)
    old = {**describe_module.RATES, "attendance_pct": ["with_sessions"]}
    monkeypatch.setattr(describe_module, "RATES", old)
    table = _summary(folder, capsys)
    pinned = _pinned_by_attendance(table)
    assert ("B", 0, 2) in pinned


# --------------------------------------------------------------------------------------------
# mutation review: tests of what survived the existing tests (see the header)


def _bands_csv(path: Path, both: int = 0, no_outcome: int = 0, no_score: int = 10,
               no_score_with: int = 0) -> Path:
    """Scores 400, 700, 950 with (positives, negatives) (10, 15), (12, 20), (10, 40) (points,
    not a share or a percentage, so no fence of `srmsim.risk.protected.fence_plan` applies), and
    rows left out: ``no_score`` without a score and without the outcome, ``no_score_with``
    without a score with it, ``both`` missing both, ``no_outcome`` missing the outcome only.
    Flagging ``score < t``: t = 700 flags 25 (tp 10, fp 15, fn 22, tn 60); t = 900 flags 57
    (tp 22, fp 35, fn 10, tn 40); t = 400 flags no one, so its band below is empty and it is
    not published."""
    rows = []
    for score, pos, neg in ((400, 10, 15), (700, 12, 20), (950, 10, 40)):
        rows += [{"school": len(rows) % 3, "att": score, "left": 1} for _ in range(pos)]
        rows += [{"school": len(rows) % 3, "att": score, "left": 0} for _ in range(neg)]
    # the rows left out go to schools 0 and 1, which have rows used: a school all of whose rows
    # are left out (school 2 held 3 of them) is counted out of the bootstrap's clusters, and
    # the rest is refused when small (tests/test_privacy_outsider_review.py)
    rows += [{"school": k % 2, "att": None, "left": 0} for k in range(no_score)]
    rows += [{"school": k % 2, "att": None, "left": 1} for k in range(no_score_with)]
    rows += [{"school": k % 2, "att": None, "left": None} for k in range(both)]
    rows += [{"school": k % 2, "att": 700, "left": None} for k in range(no_outcome)]
    df = pd.DataFrame(rows)
    df["sex"] = ["X" if k < 3 else "FM"[k % 2] for k in range(len(df))]
    df.to_csv(path, index=False)
    return path


def _thresholds(tmp_path: Path, capsys, *extra: str, **left_out: int) -> str:
    path = _bands_csv(tmp_path / "bands.csv", **left_out)
    assert main(["thresholds", str(path), "--score", "att", "--outcome", "left",
                 "--n-boot", "40", "--out", str(tmp_path / "out"), *extra]) == 0
    return capsys.readouterr().out


def test_thresholds_prints_counts_of_exactly_ten_and_the_rows_used(tmp_path: Path,
                                                                    capsys) -> None:
    out = _thresholds(tmp_path, capsys, "--by", "sex")
    assert "rows: 117; used 107; missing score 10; missing outcome 0" in out
    assert "2 of 2 candidate thresholds published (each between two scores)" in out
    assert "by sex: withheld (a group has fewer than 20 students with, or without" in out
    # 32 of the 107 rows used (not of the 117 rows)
    assert "outcome rate 29.9% (32 of 107)" in out
    # thresholds between the scores (600 flags the 400s, 800 the 400s and 700s: what 700 and
    # 900 flagged below): F1 at 800: 44 / (44 + 35 + 10) = 0.494; at 600: 20 / 57 = 0.351
    assert ("best F1: threshold 800: flags 57 students (53.3%): 22 with the outcome, 35 "
            "without, precision 38.6%, recall 68.8%, F1 0.494") in out
    table = pd.read_csv(tmp_path / "out" / "thresholds.csv")
    assert table[["threshold", "flagged", "tp", "fp", "fn", "tn"]].values.tolist() == [
        [600, 25, 10, 15, 22, 60], [800, 57, 22, 35, 10, 40]]


def test_capacity_and_cost_on_published_thresholds(tmp_path: Path, capsys) -> None:
    """Capacity 57: both published thresholds fit, the one flagging the most (900, exactly
    57) is chosen. Costs 100 a miss, 10 a needless case: 700 costs 22 x 100 + 15 x 10 = 2,350,
    900 costs 10 x 100 + 35 x 10 = 1,350."""
    out = _thresholds(tmp_path, capsys, "--capacity", "57", "--cost-missed", "100",
                      "--cost-needless", "10", "--thresholds", "700", "900")
    assert "not published" not in out
    assert "at capacity 57 students (nearest published threshold): threshold 900 flags 57" in out
    assert "threshold 900 flags 57 students, cost of the errors (missed + needless) £1,350" in out


def test_equal_costs_choose_the_threshold_flagging_fewer(tmp_path: Path, capsys) -> None:
    """5 a miss, 3 a needless case: 22 x 5 + 15 x 3 = 155 = 10 x 5 + 35 x 3; the tie goes to
    600 (between the scores 400 and 700), which flags 25 rather than 57."""
    out = _thresholds(tmp_path, capsys, "--cost-missed", "5", "--cost-needless", "3")
    assert "threshold 600 flags 25 students, cost of the errors (missed + needless) £155" in out


def _flag_trust(folder: Path, eal: bool, no_sessions: int) -> Path:
    """60 pupils in schools A and B; every 2nd FSM, every 3rd SEN; with ``eal`` 2 in 4 EAL, else EAL not recorded; the
    first ``no_sessions`` have only weeks of 0 possible sessions; pupils 10 to 21 miss 2 of
    every 10 sessions (persistently absent), the others none."""
    rows, obs = [], []
    for i in range(60):
        sid = f"P{i:03d}"
        rows.append({"student_id": sid, "school": "AB"[i % 2], "year_group": 7,
                     "fsm": i % 2 == 0, "sen": i % 3 == 0, "eal": i % 4 < 2})
        possible = 0 if i < no_sessions else SESSIONS
        attended = possible - (2 if 10 <= i < 22 else 0) if possible else 0
        obs += [{"student_id": sid, "school": "AB"[i % 2], "period_type": "week",
                 "period": w + 1, "sessions_possible": possible, "sessions_attended": attended}
                for w in range(WEEKS)]
    students = pd.DataFrame(rows)
    if not eal:
        students["eal"] = pd.Series([pd.NA] * 60, dtype="boolean")
    write_dataset(Dataset(students, pd.DataFrame(obs), base_meta()), folder, overwrite=True)
    return folder


def test_pupils_with_no_possible_session_are_not_with_sessions(tmp_path: Path,
                                                               capsys) -> None:
    """10 pupils whose weeks have 0 possible sessions: 50 pupils with sessions, of whom the
    12 missing 20% are persistently absent (the 10 without sessions are not: 0 of 0 is no
    absence), 24.0%; attendance 1 - 12 x 20 / (50 x 100) = 95.2%, not printed: with the 12
    it says at most 3 are severely absent (tests/test_bounded_means_privacy_review.py)."""
    folder = _flag_trust(tmp_path / "ds", True, 10)
    table = _summary(folder, capsys, by="year_group")
    total = table[table["year_group"] == "Total"].iloc[0]
    assert (total["students"], total["with_sessions"], total["persistently_absent"]) == (
        "60", "50", "12")
    assert (total["persistent_absence_pct"], total["attendance_pct"]) == ("24.0", "low")
    raw = describe_module.describe_counts(read_dataset(folder), ["year_group"]).iloc[-1]
    assert round(raw["attendance_pct"], 6) == 95.2


def test_a_flag_no_pupil_has_recorded_is_not_available(tmp_path: Path, capsys) -> None:
    """No pupil has EAL recorded: its count and share are 'x' (not available), not a
    hidden 0."""
    table = _summary(_flag_trust(tmp_path / "ds", False, 0), capsys, by="year_group")
    total = table[table["year_group"] == "Total"].iloc[0]
    assert (total["eal"], total["eal_pct"]) == ("x", "x")
    assert (total["fsm"], total["sen"]) == ("30", "20")


def test_a_count_of_exactly_ten_is_printed(tmp_path: Path, capsys) -> None:
    """10 is not under 10: at 700 the 10 pupils flagged with the outcome are printed."""
    out = _thresholds(tmp_path, capsys, "--thresholds", "700")
    # 25 of 107 flagged: 23.4%; 10 of 25 with the outcome: 40.0%
    assert ("best F1: threshold 700: flags 25 students (23.4%): 10 with the outcome, 15 "
            "without, precision 40.0%") in out


def test_a_school_where_every_pupil_is_persistently_absent_does_not_say_so(
        tmp_path: Path, capsys) -> None:
    """School B's 15 pupils are all persistently absent: its pupils not persistently absent,
    0, are a count under 10 too, so B's with_sessions and persistently_absent are not both
    shown (15 and 15 would give the 0)."""
    folder = _trust(tmp_path / "ds", {"A": 60, "B": 15, "C": 50}, "B", 15)
    table = _summary(folder, capsys)
    b = table[table["school"] == "B"].iloc[0]
    assert not (b["with_sessions"].isdigit() and b["persistently_absent"].isdigit())


def test_missing_rows_line_hides_only_what_gives_a_small_count(tmp_path: Path, capsys) -> None:
    """13 rows miss the score: 10 of them without the outcome, 3 miss the outcome too. Known
    to anyone: rows 120 and used 107 (13 left out), and that none left out has the outcome.
    Missing outcome (3) is hidden; missing score (13) can be shown: with it the 3 missing both
    are anywhere from 0 to 13 (the 10 missing the score only are 13 less them)."""
    out = _thresholds(tmp_path, capsys, both=3)
    assert ("rows: 120; used 107; missing score 13; missing outcome c (missing rows are left "
            "out of every count)") in out


def test_missing_rows_line_protects_the_rows_missing_both(tmp_path: Path, capsys) -> None:
    """13 rows miss the score (3 of them the outcome too) and 13 the outcome: 23 left out.
    Printing missing score 13 and missing outcome 13 beside rows 130 and used 107 gives
    13 + 13 - 23 = 3 missing both, a count never printed: one of the two is hidden."""
    out = _thresholds(tmp_path, capsys, both=3, no_outcome=10)
    line = next(ln for ln in out.splitlines() if ln.startswith("rows:"))
    found = re.match(r"rows: 130; used 107; missing score (\S+); missing outcome (\S+) ", line)
    assert found, line
    assert "c" in found.groups()


def test_missing_rows_with_the_outcome_are_known_to_the_attacker(tmp_path: Path,
                                                                  capsys) -> None:
    """10 rows miss the score and have the outcome (known to anyone: the outcome's total,
    printed by other commands, minus n_pos), 3 miss the score without it, 10 miss the
    outcome: 23 left out. Missing score 13 gives the 3 (13 - 10); missing outcome 10 with
    the 23 gives them too (23 - 10 - 10): both are hidden."""
    out = _thresholds(tmp_path, capsys, no_score=3, no_score_with=10, no_outcome=10)
    assert ("rows: 130; used 107; missing score c; missing outcome c (missing rows are left "
            "out of every count)") in out
