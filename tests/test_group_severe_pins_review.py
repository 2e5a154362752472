"""`srmsim data summary --by fsm` beside `srmsim calibrate` of the same records.

calibrate prints the records' severely absent pupils (as a share of its ``n``) when they are
at least 10. The summary's mean attendance of each group, beside the group's shown
persistently absent count and pupils with sessions, bounds that group's severely absent
pupils from above (each misses at least 50% of sessions, each other persistently absent one at
least 10%). 240 pupils, 12 severely absent: the FSM pupils' mean (96.0%) allowed at most 7,
the others' (96.7%) at most 5, and 7 + 5 = 12 pinned both exactly. The audit took the total as
hidden and checked only it; it now takes calibrate's printed total as known and refuses any
group's count under 10 pinned exactly, withholding the means. So does it for a group's
persistently but not severely absent pupils: with 13 and 11 severely absent of each group's
20, the means (94.0%, 94.7%) and calibrate's 24 pinned the other 7 and 9.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from srmsim.cli import main
from srmsim.data.dataset import Dataset, base_meta, write_dataset

WEEKS, SESSIONS = 4, 10  # one calendar: 40 sessions for every pupil


def records(folder: Path, fsm_severe_missed: int, severe: tuple[int, int] = (7, 5)) -> Path:
    """120 FSM and 120 other pupils: ``severe`` FSM and other pupils severely absent (missing
    ``fsm_severe_missed`` and 20 of 40 sessions), the rest of 20 in each group persistently
    absent (missing 4), the others at 100%."""
    students, obs = [], []
    for i in range(240):
        fsm, rank = i % 2 == 0, i // 2
        sid, school = f"P{i:03d}", "AB"[rank % 2]
        students.append({"student_id": sid, "school": school, "year_group": 7 + i % 3,
                         "fsm": fsm, "sen": i % 4 == 0, "eal": i % 5 == 0})
        missed = (fsm_severe_missed if fsm else 20) if rank < severe[not fsm] else \
            4 if rank < 20 else 0
        obs += [{"student_id": sid, "school": school, "period_type": "week", "period": w + 1,
                 "sessions_possible": SESSIONS,
                 "sessions_attended": SESSIONS - missed // WEEKS - (w < missed % WEEKS)}
                for w in range(WEEKS)]
    write_dataset(Dataset(pd.DataFrame(students), pd.DataFrame(obs), base_meta()), folder,
                  overwrite=True)
    return folder


def summary(folder: Path, capsys: pytest.CaptureFixture) -> pd.DataFrame:
    assert main(["data", "summary", str(folder), "--by", "fsm"]) == 0
    lines = [ln.split() for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    head = lines[0]
    return pd.DataFrame([ln for ln in lines[1:] if len(ln) == len(head)], columns=head)


def calibrate_severe(folder: Path, out: Path, capsys: pytest.CaptureFixture) -> int:
    """The severely absent pupils calibrate prints: its severe_absence share of its n."""
    assert main(["calibrate", str(folder), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    row = re.search(r"^\s*severe_absence\s+([\d.]+)%.*\s(\d+)\s*$", text, re.MULTILINE)
    assert row, text
    return round(float(row.group(1)) * int(row.group(2)) / 100)


def pinned_groups(table: pd.DataFrame, total: int) -> dict[str, list[int]]:
    """The attacker, independent of srmsim's audit: each group's severely absent pupils (the
    two groups' add up to calibrate's total), at most its persistently absent ones, and its
    printed mean (+-0.05 points) bounding them with plain 10% and 50% cut-offs. Every split
    of the total the printed rows allow, by group."""
    groups = table[table["fsm_group"] != "Total"].reset_index(drop=True)
    allowed: dict[str, list[int]] = {g: [] for g in groups["fsm_group"]}
    first, second = groups["fsm_group"]
    for s in range(total + 1):
        split = {first: s, second: total - s}
        ok = True
        for _, row in groups.iterrows():
            severe, absent = split[row["fsm_group"]], float(row["persistently_absent"])
            pupils = float(row["with_sessions"])
            ok &= 0 <= severe <= absent
            if re.fullmatch(r"[\d.]+", row["attendance_pct"]):
                low, high = (float(row["attendance_pct"]) / 100 + d for d in (-5e-4, 5e-4))
                ok &= 0.4 * severe + 0.1 * absent <= (1 - low) * pupils + 1e-9
                ok &= 0.5 * severe + 0.4 * absent >= (0.9 - high) * pupils - 1e-9
        if ok:
            for g, v in split.items():
                allowed[g].append(v)
    return allowed


@pytest.mark.once
def test_group_means_beside_calibrates_total_pin_nothing(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    folder = records(tmp_path / "ds", fsm_severe_missed=20)
    total = calibrate_severe(folder, tmp_path / "cal", capsys)
    assert total == 12  # printed: at least 10
    table = summary(folder, capsys)
    assert list(table["persistently_absent"]) == ["20", "20", "40"]
    assert set(table["attendance_pct"]) == {"low"}  # withheld
    assert all(len(set(v)) > 1 for v in pinned_groups(table, total).values())


def test_the_printed_means_pinned_each_group(tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    """The attack is real: the means as they were printed (96.7% and 96.0%) leave one split
    of the 12, the true one."""
    table = summary(records(tmp_path / "ds", fsm_severe_missed=20), capsys)
    table["attendance_pct"] = ["96.7", "96.0", "96.3"]
    assert pinned_groups(table, 12) == {"False": [5], "True": [7]}


def test_means_that_pin_no_group_are_printed(tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    """Negative control: the FSM pupils' severely absent miss every session, so their mean
    (93.1%) allows up to 15; the 12 split many ways, and the means are printed."""
    table = summary(records(tmp_path / "ds", fsm_severe_missed=40), capsys)
    assert all(re.fullmatch(r"\d+\.\d", v) for v in table["attendance_pct"])
    assert list(table["attendance_pct"])[:2] == ["96.7", "93.1"]
    assert all(len(set(v)) > 1 for v in pinned_groups(table, 12).values())


@pytest.mark.once
def test_a_groups_absent_but_not_severely_are_not_pinned_either(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """13 and 11 of each group's 20 persistently absent are severely absent (10 or more:
    not small), so 7 and 9 are not: the means pinned those."""
    folder = records(tmp_path / "ds", fsm_severe_missed=20, severe=(13, 11))
    total = calibrate_severe(folder, tmp_path / "cal", capsys)
    assert total == 24
    table = summary(folder, capsys)
    assert set(table["attendance_pct"]) == {"low"}
    table["attendance_pct"] = ["94.7", "94.0", "94.3"]  # as they were printed
    assert pinned_groups(table, total) == {"False": [11], "True": [13]}
