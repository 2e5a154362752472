"""Privacy review: means of bounded quantities printed by ``srmsim data summary`` and
``srmsim thresholds`` on real records.

Found and fixed: the summary's mean attendance (``attendance_pct``, shown beside a shown
``persistently_absent`` count and ``with_sessions``) bounded the records' severely absent
pupils, a count ``srmsim calibrate`` prints of the same records (and hides when under 10).
With one calendar a group's mean is the mean of its pupils' rates; a persistently absent pupil
misses at least 10% of their sessions and a severely absent one at least 50%, so
``0.1 absent + 0.4 severe <= (1 - mean) pupils``. 200 pupils at 97.1% with 40 persistently
absent shown have at most 4 severely absent (3 are); calibrate hid its persistently absent
count, and even its ``n``, to protect those 3, and the summary printed them with the mean.
The summary now withholds the means (``low``) when, with the shown counts, they would pin the
severely absent pupils (or the persistently but not severely absent ones) under 10 to fewer
than 10 values.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srmsim.cli import main
from srmsim.data import describe as describe_module
from srmsim.data.dataset import Dataset, base_meta, write_dataset

sys.path.insert(0, str(Path(__file__).parent))
from test_privacy_attack import recovered  # noqa: E402

WEEKS, SESSIONS = 4, 10  # one calendar: 40 sessions for every pupil


def trust(folder: Path, absent_weekly: int, severe: int = 3, absent: int = 40) -> Path:
    """200 pupils in schools A and B, 40 sessions each: ``severe`` at 30%, the next
    ``absent - severe`` at ``absent_weekly`` of 10 sessions a week (persistently absent), the rest
    at 100%. Flags spread so every FSM and EAL count is at least 10."""
    students, obs = [], []
    for i in range(200):
        sid, school = f"P{i:03d}", "AB"[i % 2]
        students.append({"student_id": sid, "school": school, "year_group": 7 + i % 3,
                         "fsm": i % 3 == 0, "sen": i % 4 == 0, "eal": i % 5 == 0})
        week = 3 if i < severe else absent_weekly if i < absent else SESSIONS
        obs += [{"student_id": sid, "school": school, "period_type": "week", "period": w,
                 "sessions_possible": SESSIONS, "sessions_attended": week}
                for w in range(1, WEEKS + 1)]
    write_dataset(Dataset(pd.DataFrame(students), pd.DataFrame(obs), base_meta()), folder,
                  overwrite=True)
    return folder


def summary(folder: Path, capsys, by: str = "school") -> pd.DataFrame:
    assert main(["data", "summary", str(folder), "--by", by]) == 0
    lines = [ln.split() for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    head = lines[0]
    return pd.DataFrame([ln for ln in lines[1:] if len(ln) == len(head)], columns=head)


def severe_attack(table: pd.DataFrame, severe: list[int], absent_total: int) -> list[str]:
    """The attacker, independent of srmsim's audit: each row's severely absent pupils are an
    unknown (the Total's the sum of the others'), at most the row's persistently absent ones
    where shown; each printed mean, known to +-0.05 points, bounds them with the row's shown
    persistently absent count and pupils with sessions (plain 10% and 50% cut-offs, no whole
    sessions). Returns the counts under T (the Total's severely absent, its persistently but not
    severely absent) pinned to fewer than T values. ``severe``: the true counts, rows in order."""
    rows = len(table)
    names = [f"severe_{i}" for i in range(rows)] + ["absent_not_severe"]
    truth = np.array([*map(float, severe), float(absent_total - severe[-1])])
    eqs = [({rows - 1: 1.0, **{i: -1.0 for i in range(rows - 1)}}, 0.0),
           ({rows: 1.0, rows - 1: 1.0}, float(absent_total))]
    les = []
    for i, row in table.reset_index(drop=True).iterrows():
        if row["persistently_absent"].isdigit():
            les.append(({i: 1.0}, float(row["persistently_absent"])))
        if not (re.fullmatch(r"[\d.]+", row["attendance_pct"])
                and row["persistently_absent"].isdigit() and row["with_sessions"].isdigit()):
            continue
        low, high = (float(row["attendance_pct"]) + d for d in (-0.05, 0.05))
        pupils, pa = float(row["with_sessions"]), float(row["persistently_absent"])
        les.append(({i: 0.4}, (1 - low / 100) * pupils - 0.1 * pa + 1e-9))
        les.append(({i: -0.5}, 0.4 * pa - (0.9 - high / 100) * pupils + 1e-9))
    hidden = np.ones(len(names), dtype=bool)
    return [names[i] for i, _ in recovered(truth, hidden, eqs, les, {})]


def test_summary_means_do_not_pin_the_severely_absent(tmp_path: Path, capsys) -> None:
    """3 of 200 pupils severely absent, 40 persistently absent, the others at 100%: the means
    (97.1%; A 96.8%, B 97.4%) said at most 4. They are withheld; every count stays shown."""
    table = summary(trust(tmp_path / "ds", absent_weekly=9), capsys)
    assert list(table["persistently_absent"]) == ["20", "20", "40"]
    assert list(table["with_sessions"]) == ["100", "100", "200"]
    assert set(table["attendance_pct"]) == {"low"}
    assert severe_attack(table, [2, 1, 3], 40) == []


def test_the_attack_pins_them_from_the_printed_means(tmp_path: Path, capsys,
                                                     monkeypatch) -> None:
    """The attack is real: with the means printed (as they were) the severely absent are 0 to
    4 (3 in truth)."""
    monkeypatch.setattr(describe_module, "attendance_pins_severe", lambda *a, **k: False)
    table = summary(trust(tmp_path / "ds", absent_weekly=9), capsys)
    assert list(table["attendance_pct"]) == ["96.8", "97.4", "97.1"]
    assert "severe_2" in severe_attack(table, [2, 1, 3], 40)


def test_means_that_pin_nothing_are_printed(tmp_path: Path, capsys) -> None:
    """Negative control: the same 3 severely absent among 40 persistently absent at 60%: the
    means (91.5%) allow 0 to 32 severely absent, and are printed."""
    table = summary(trust(tmp_path / "ds", absent_weekly=6), capsys)
    assert all(re.fullmatch(r"\d+\.\d", v) for v in table["attendance_pct"])
    assert severe_attack(table, [2, 1, 3], 40) == []


def test_many_severely_absent_are_not_audited(tmp_path: Path, capsys) -> None:
    """Negative control: 12 severely absent (not a small count) and 28 persistently absent at
    90%: nothing to protect, the means are printed."""
    table = summary(trust(tmp_path / "ds", absent_weekly=9, severe=12), capsys)
    assert all(re.fullmatch(r"\d+\.\d", v) for v in table["attendance_pct"])


def test_the_persistently_but_not_severely_absent_are_audited_too() -> None:
    """At low attendance the mean bounds the severely absent from below: 100 pupils at 83.1%,
    12 persistently absent (10 at 0%, 2 at 85%), the rest missing 3 of 40 sessions. Each
    other pupil misses under 10% and each persistently absent but not severely under 50%, so
    at least 5 of the 12 are severely absent, and the other 2 are 0 to 7: the Total's mean is
    withheld."""
    students, obs = [], []
    for i in range(100):
        sid = f"P{i:03d}"
        students.append({"student_id": sid, "school": "AB"[i % 2], "year_group": 7,
                         "fsm": i % 3 == 0, "sen": i % 4 == 0, "eal": i % 5 == 0})
        weeks = [0] * 4 if i < 10 else [8, 9, 8, 9] if i < 12 else [9, 9, 9, 10]
        obs += [{"student_id": sid, "school": "AB"[i % 2], "period_type": "week", "period": w,
                 "sessions_possible": SESSIONS, "sessions_attended": a}
                for w, a in enumerate(weeks, start=1)]
    ds = Dataset(pd.DataFrame(students), pd.DataFrame(obs), base_meta())
    table = describe_module.describe(ds, ["school"])
    assert list(table["persistently_absent"]) == ["c", "c", "12"]
    assert list(table["attendance_pct"]) == ["low", "low", "low"]
    assert severe_attack(table, [5, 5, 10], 12) == []
    shown = table.copy()  # the mean as it was printed: the 2 are pinned
    shown.loc[2, "attendance_pct"] = "83.1"
    assert "absent_not_severe" in severe_attack(shown, [5, 5, 10], 12)


@pytest.mark.once
def test_a_crossed_table_and_its_breakdowns_are_audited_together(tmp_path: Path) -> None:
    """--by year_group,school: the Total's and every group's mean would bound the same 3
    (their rows add up to the Total); withheld in every order of --by. With the absent at 60%
    the Total's mean is printed."""
    from srmsim.data.dataset import read_dataset

    pinned = read_dataset(trust(tmp_path / "pinned", absent_weekly=9))
    for by in (["year_group", "school"], ["school", "year_group"]):
        assert set(describe_module.describe(pinned, by)["attendance_pct"]) == {"low"}
    loose = describe_module.describe(read_dataset(trust(tmp_path / "loose", absent_weekly=6)),
                                     ["school", "year_group"])
    assert re.fullmatch(r"\d+\.\d", loose["attendance_pct"].iloc[-1])
