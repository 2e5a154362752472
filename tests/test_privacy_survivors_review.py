"""The privacy test gaps left by tests/test_summary_thresholds_privacy_review.py, closed.

An outside attacker's view throughout: real-looking data, the CLI (or the public function)
run as a user runs it, what is printed and written parsed back, and a count under 10 looked
for by arithmetic on it and on what other outputs print (``srmsim data summary``: the pupils
of every group, and those with a FSM/SEN/EAL flag). Every expected number is counted by hand
from the data each test builds. Each test was run against the mutation its docstring names
(applied by hand) and failed there.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srmsim.cli import main
from srmsim.data.dataset import Dataset, base_meta
from srmsim.data.describe import describe
from srmsim.errors import DataError

sys.path.insert(0, str(Path(__file__).parent))
from test_privacy_attack import mixed_trust, pupil_pattern_attack  # noqa: E402

T = 10
REFUSAL = "cannot be reported without revealing their count"


def _pupils(bands: dict[str, list[tuple[float, int, int]]], schools: int = 3) -> pd.DataFrame:
    """Pupils of each group (``sex``) with, per score, (score, with the outcome, without);
    schools assigned in turn."""
    rows = []
    for group, cells in bands.items():
        for score, pos, neg in cells:
            rows += [{"sex": group, "att": score, "left": 1} for _ in range(pos)]
            rows += [{"sex": group, "att": score, "left": 0} for _ in range(neg)]
    df = pd.DataFrame(rows)
    df.insert(0, "school", np.arange(len(df)) % schools)
    return df


#: per sex, 36 with and 75 without the outcome; thresholds 700 and 900 cut bands of at least
#: 12 with and 15 without in each group, so both are published with --by sex (points, not a
#: share or a percentage, so no fence of `srmsim.risk.protected.fence_plan` applies)
EACH = [(400, 12, 15), (700, 12, 20), (950, 12, 40)]


def _blank(df: pd.DataFrame, sex: str, outcome: int, k: int, column: str = "att"
           ) -> pd.DataFrame:
    """``column`` blanked in the first ``k`` pupils of ``sex`` with outcome ``outcome``
    (appended as new rows, so the bands above stay as they are)."""
    extra = pd.DataFrame([{"school": i % 3, "sex": sex, "att": 700, "left": outcome}
                          for i in range(k)])
    extra[column] = np.nan
    return pd.concat([df, extra], ignore_index=True)


def _run(tmp_path: Path, df: pd.DataFrame, *extra: str, name: str = "export.csv") -> Path:
    path = tmp_path / name
    df.to_csv(path, index=False)
    out = tmp_path / f"out_{name}"
    status = main(["thresholds", str(path), "--score", "att", "--outcome", "left",
                   "--n-boot", "40", "--out", str(out), *extra])
    assert status == 0
    return out


def _small(values) -> list[int]:
    return [int(v) for v in values if 0 < v < T]


# --------------------------------------------------------------------------------------------
# (1) thresholds --by on real data: the rows each group leaves out


def test_by_group_table_writes_and_prints_no_missing_rows(tmp_path: Path, capsys) -> None:
    """12 girls without the outcome have no score: girls 123, of whom 111 used; boys 111.
    thresholds_by_group.csv and the printed line per sex say nothing of the rows left out
    (no n_missing column, no 'missing' in the group line), and what the attacker can work out
    (a group's pupils, printed by ``data summary --by sex``, minus its n) is 12 and 0: no
    count under 10. Mutation: keeping ``n_missing`` in the real-data by-group table."""
    df = _blank(_pupils({"F": EACH, "M": EACH}), "F", 0, 12)
    out = _run(tmp_path, df, "--by", "sex")
    printed = capsys.readouterr().out
    assert "rows: 234; used 222; missing score 12; missing outcome 0" in printed
    groups = pd.read_csv(out / "thresholds_by_group.csv")
    assert "n_missing" not in groups.columns
    line = next(x for x in printed.splitlines() if x.startswith("by sex at threshold"))
    assert "missing" not in line
    assert re.findall(r"(\w+): flag [^(]*\(n (\d+)\)", line) == [("F", "111"), ("M", "111")]
    # the attacker's difference: pupils of each sex minus the group's n
    n = groups.drop_duplicates("group").set_index("group")["n"].astype(int)
    left_out = (df["sex"].value_counts() - n).to_dict()
    assert left_out == {"F": 12, "M": 0}
    for col in ("n", "n_pos", "flagged", "tp", "fp", "fn", "tn"):
        assert _small(pd.to_numeric(groups[col], errors="coerce").dropna()) == [], col


def test_a_group_leaving_out_under_ten_is_refused_whatever_the_total(tmp_path: Path,
                                                                     capsys) -> None:
    """12 girls and 3 boys without a score (15 in all, at least 10): the boys' n beside
    their number gives 3, so --by sex is refused, and nothing is written."""
    df = _blank(_blank(_pupils({"F": EACH, "M": EACH}), "F", 0, 12), "M", 0, 3)
    path = tmp_path / "export.csv"
    df.to_csv(path, index=False)
    status = main(["thresholds", str(path), "--score", "att", "--outcome", "left",
                   "--n-boot", "40", "--by", "sex", "--out", str(tmp_path / "r")])
    captured = capsys.readouterr()
    assert status == 2 and captured.out == ""
    assert REFUSAL in captured.err and "in group 'M' of 'sex'" in captured.err
    assert not (tmp_path / "r").exists()


# --------------------------------------------------------------------------------------------
# (2) left_out_problem: the part without the outcome; threshold_table(protect=) with by


def test_few_left_out_without_the_outcome_beside_many_with_it_are_refused(
        tmp_path: Path, capsys) -> None:
    """12 pupils with the outcome and 3 without have no score: 15 left out, 12 of them with
    the outcome, both at least 10. But rows - used = 15 and the outcome's total (72, printed
    wherever the outcome is, e.g. ``data summary`` for a flag) minus n_pos (60) = 12 give the
    3 without it. Refused. Mutation: the "without the outcome" part counting those with it."""
    df = _blank(_blank(_pupils({"F": EACH, "M": EACH}), "F", 1, 12), "F", 0, 3)
    path = tmp_path / "export.csv"
    df.to_csv(path, index=False)
    status = main(["thresholds", str(path), "--score", "att", "--outcome", "left",
                   "--n-boot", "40", "--out", str(tmp_path / "r")])
    captured = capsys.readouterr()
    assert status == 2 and captured.out == "", captured.out
    assert "missing 'att' or 'left' do not have 'left'" in captured.err
    assert _small(int(x) for x in re.findall(r"\d+", captured.err.replace(str(path), ""))) == []
    assert not (tmp_path / "r").exists()
    # 10 without it beside the 12 with it: published, and the difference is 10
    ok = _blank(_blank(_pupils({"F": EACH, "M": EACH}), "F", 1, 12), "F", 0, 10)
    _run(tmp_path, ok, name="ok.csv")
    printed = capsys.readouterr().out
    used = int(re.search(r"used (\d+)", printed).group(1))
    n_pos = int(re.search(r"\((\d+) of \d+\)", printed).group(1))
    assert (len(ok) - used) - (int((ok["left"] == 1).sum()) - n_pos) == 10


def test_protected_python_table_refuses_a_small_left_out_count_in_a_group() -> None:
    """``threshold_table(protect=10, by="sex")``: 5 girls and 5 boys without a score. 10
    left out overall (fine without --by), but each sex's n beside its pupils gives 5.
    Mutation: the Python path checking no ``by`` group."""
    from srmsim.risk import threshold_table

    df = _blank(_blank(_pupils({"F": EACH, "M": EACH}), "F", 0, 5), "M", 0, 5)
    assert (threshold_table(df, "att", "left", protect=T)["n"] == 222).all()
    with pytest.raises(DataError, match=REFUSAL) as err:
        threshold_table(df, "att", "left", by="sex", protect=T)
    assert "in group 'F' of 'sex'" in str(err.value)
    # all 10 in one group: published, and each sex's pupils minus its n is 10 or 0
    one = _blank(_pupils({"F": EACH, "M": EACH}), "F", 0, 10)
    table = threshold_table(one, "att", "left", by="sex", protect=T)
    n = table.drop_duplicates("group").set_index("group")["n"]
    assert (one["sex"].value_counts() - n).to_dict() == {"F": 10, "M": 0}
    assert "n_missing" not in table.columns


# --------------------------------------------------------------------------------------------
# (3) the bootstrap interval's withholding rule at its boundary


def _two_schools(small_pos: int, small_neg: int) -> pd.DataFrame:
    """School 0 holds ``small_pos`` with and ``small_neg`` without the outcome, school 1 40
    with and 60 without; scores spread so that thresholds are published. With 2 schools a
    replicate draws school 0 twice a quarter of the time: its distinct pupils are school 0's."""
    rng = np.random.default_rng(3)

    def school(k: int, pos: int, neg: int) -> pd.DataFrame:
        return pd.DataFrame({"school": k, "att": np.r_[rng.uniform(0.6, 0.9, pos),
                                                        rng.uniform(0.75, 1.0, neg)].round(3),
                             "left": np.r_[np.ones(pos, int), np.zeros(neg, int)]})

    return pd.concat([school(0, small_pos, small_neg), school(1, 40, 60)], ignore_index=True)


@pytest.mark.parametrize("pos, neg, withheld", [
    (9, 30, True), (10, 30, False), (30, 9, True), (30, 10, False),
])
def test_interval_withheld_when_a_replicate_draws_nine_of_either(
        tmp_path: Path, capsys, pos: int, neg: int, withheld: bool) -> None:
    """A replicate drawing school 0 alone has school 0's own AUC, at an end of the interval:
    with 9 pupils with (or without) the outcome, its AUC is k / (9 x m), which gives their
    ranks. 9 withholds the interval, 10 shows it. Mutations: counting only the pupils with the
    outcome drawn (the 9 without are missed), and ``< protect - 1`` (9 is not withheld)."""
    _run(tmp_path, _two_schools(pos, neg))
    printed = capsys.readouterr().out
    auc = next(x for x in printed.splitlines() if x.startswith("AUC"))
    assert "2 school clusters" in auc
    if withheld:
        assert "no 95% CI" in auc and "withheld: some replicates draw school clusters" in auc
        assert not re.search(r"CI \d", auc)
    else:
        assert re.search(r"AUC [\d.]+ \(95% CI [\d.]+-[\d.]+\)", auc), auc


# --------------------------------------------------------------------------------------------
# data summary: (4) a Total a margin hides; (5) the FSM-unknown row


def _flags_trust(fsm: list, sex: list[str], school: list[str] | None = None) -> Dataset:
    """Pupils with the given FSM flag (True, False or None: not recorded) and sex; every 4th
    SEN, every 2nd EAL; no attendance supplied."""
    n = len(fsm)
    students = pd.DataFrame({
        "student_id": [f"S{k:04d}" for k in range(n)],
        "school": school or ["ABC"[k % 3] for k in range(n)], "year_group": 7, "sex": sex,
        "fsm": pd.array(fsm, dtype="boolean"), "sen": [k % 4 == 0 for k in range(n)],
        "eal": [k % 2 == 0 for k in range(n)]})
    return Dataset(students, pd.DataFrame(), base_meta())


def _shown(table: pd.DataFrame, column: str) -> dict[str, str]:
    return dict(zip(table.iloc[:, 0], table[column], strict=True))


def test_a_total_hidden_by_the_total_alone_hides_the_rows_adding_up_to_it() -> None:
    """150 pupils, 9 of them not FSM (4 girls, 5 boys): the Total's FSM count (141) is
    hidden in every table (150 - 141 = 9), and so is each sex's FSM count, which adds up to
    it. With the rows' FSM counts withheld as the Total's is, the sexes' sizes (65, 85) stay
    shown, and the attacker holding ``--by sex``, ``--by school`` and ``--by fsm`` pins no
    count under 10. Mutation: the rows not withheld with the Total (the audit then blanks
    both sexes' sizes, and two of the three schools', to protect what was never shown)."""
    sex = ["F"] * 65 + ["M"] * 85
    fsm = [i >= 4 for i in range(65)] + [i >= 5 for i in range(85)]
    ds = _flags_trust(fsm, sex)
    by_sex = describe(ds, ["sex"])
    assert _shown(by_sex, "fsm") == {"F": "c", "M": "c", "Total": "c"}
    assert _shown(by_sex, "students") == {"F": "65", "M": "85", "Total": "150"}
    by_school = describe(ds, ["school"])
    assert _shown(by_school, "students") == {"A": "50", "B": "50", "C": "50", "Total": "150"}
    assert set(_shown(by_school, "fsm").values()) == {"c"}
    assert pupil_pattern_attack(ds, [["sex"], ["school"], ["fsm"]]) == []


def test_the_fsm_count_of_the_fsm_unknown_row_is_known_to_be_zero() -> None:
    """40 pupils not FSM, 50 FSM, 10 with FSM not recorded: ``--by fsm``'s "(missing)" row
    has 0 FSM pupils by definition, as the False row has, and the audit knows it as the
    attacker does: the three groups' sizes (40, 50, 10) are printed, and nothing under 10
    can be pinned. Mutation: only the False row's FSM count known (the audit then hides
    all three sizes to protect a 0 everyone knows)."""
    fsm = [False] * 40 + [True] * 50 + [None] * 10
    ds = _flags_trust(fsm, ["FM"[k % 2] for k in range(100)])
    table = describe(ds, ["fsm"])
    assert _shown(table, "students") == {"False": "40", "True": "50", "(missing)": "10",
                                         "Total": "100"}
    assert _shown(table, "fsm")["Total"] == "50"
    assert pupil_pattern_attack(ds, [["fsm"], ["sex"], ["school"]]) == []


# --------------------------------------------------------------------------------------------
# AUC and average precision printed from real data


def _auc_pairs(tmp_path: Path, capsys) -> tuple[pd.DataFrame, str]:
    """Scores 400 (10 with the outcome, 10 without), 700 (9, 1) and 710 (1, 11): only 700
    is published (at 710 the band above would hold 1 with the outcome), so the band 700 to
    710 (10 with, 12 without) hides 9 and 1 at 700 and 1 and 11 at 710 (points, not a share
    or a percentage, so no fence of `srmsim.risk.protected.fence_plan` applies)."""
    rows = []
    for score, pos, neg in ((400, 10, 10), (700, 9, 1), (710, 1, 11)):
        rows += [{"att": score, "left": 1}] * pos + [{"att": score, "left": 0}] * neg
    df = pd.DataFrame(rows)
    df.insert(0, "school", np.arange(len(df)) % 4)
    out = _run(tmp_path, df)
    return pd.read_csv(out / "thresholds.csv"), capsys.readouterr().out


def _within_band_solutions(auc: str, p: int, n: int) -> set[tuple[int, int]]:
    """The attacker: the published band counts give every pair of pupils in order but those
    within the band 700-710 (P = 10 with, N = 12 without); a printed AUC (3 decimals) of
    the 20 x 22 pairs then gives the pairs in order there, W = (P N + p1 N - n1 P) / 2
    (p1 with and n1 without the outcome at 700). Every (p1, n1) that agrees."""
    between = 10 * 12 + 0.5 * 10 * 10  # band 400's pupils with the outcome below band 2's
    low, high = (float(auc) - 0.0005) * p * n, (float(auc) + 0.0005) * p * n
    found = set()
    for p1 in range(11):
        for n1 in range(13):
            u = between + (10 * 12 + p1 * 12 - n1 * 10) / 2
            if low <= u < high:
                found.add((p1, n1))
    return found


def test_the_printed_auc_gives_no_order_within_a_band(tmp_path: Path, capsys) -> None:
    """The score's own AUC, 279 of 440 pairs in order = 0.634, has one solution: 9 with and
    1 without the outcome at 700 (6 x 9 - 5 x 1 = 49), so 1 and 1, two counts the grid hid.
    Printed now: the AUC of the score in its published bands, (120 + 50 + 60) / 440 = 0.523,
    which the published table gives on its own. Fix: the curves of real data are of the
    score's published bands (commands/thresholds.py ``_banded``)."""
    table, printed = _auc_pairs(tmp_path, capsys)
    # printed between the scores 400 and 700 (the grid's cuts are; it flags what 700 did)
    assert table["threshold"].tolist() == [600]
    auc = re.search(r"^AUC ([\d.]+); average precision ([\d.]+)", printed, re.M)
    assert auc and auc.group(1) == "0.523", printed
    assert "of the score in the bands the published thresholds cut" in printed
    # what the published table gives on its own: the bands' counts (differences of tp, fp)
    row = table.iloc[0]
    pos = [int(row["tp"]), int(row["fn"])]
    neg = [int(row["fp"]), int(row["tn"])]
    in_order = pos[0] * neg[1] + 0.5 * (pos[0] * neg[0] + pos[1] * neg[1])
    assert f"{in_order / (sum(pos) * sum(neg)):.3f}" == auc.group(1)
    # negative control: the score's own AUC (what was printed) pins the band's split
    from srmsim.risk import bootstrap_curves

    df = pd.read_csv(tmp_path / "export.csv")
    raw = bootstrap_curves(df, "att", "left", cluster=None, n_boot=40)
    assert f"{raw.auc:.3f}" == "0.634"
    assert _within_band_solutions(f"{raw.auc:.3f}", 20, 22) == {(9, 1)}


# --------------------------------------------------------------------------------------------
# (6) the order of --by


@pytest.mark.slow  # six orders of three columns audited and attacked (15 s)
def test_the_hidden_cells_of_a_three_column_table_do_not_depend_on_the_order() -> None:
    """``--by school,sex,fsm`` in all six orders hides the same cells (by group and count),
    and an attacker holding two layouts pins no count under 10. The order is made canonical
    before the audit; with it removed (``canon = list(by)``) the same cells were hidden on the
    trusts tried too (12 random trusts, 5 column sets, every order): the audit's choice does
    not depend on the row order, so that mutation is not killed here (see the header)."""
    from itertools import permutations

    from srmsim.data.describe import COUNTS

    ds = mixed_trust(9)
    cols = ["school", "sex", "fsm"]
    names = [f"{b}_group" if b in COUNTS else b for b in cols]
    seen = []
    for order in permutations(cols):
        table = describe(ds, list(order))
        keys = [" ".join(row) for row in table[names].astype(str).itertuples(index=False)]
        keys[-1] = "Total"
        seen.append({(k, c) for k, row in zip(keys, table[COUNTS].itertuples(index=False),
                                              strict=True)
                     for c, v in zip(COUNTS, row, strict=True) if v == "c"})
    assert seen[0] and all(s == seen[0] for s in seen)
    assert pupil_pattern_attack(ds, [["fsm", "school", "sex"], ["sex", "school", "fsm"]]) == []
