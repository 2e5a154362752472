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
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from srmsim.cli import main
from srmsim.data import describe as describe_module
from srmsim.data.dataset import Dataset, base_meta, write_dataset

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
