"""Play the attacker: solve the identities of every table printed from real data for the hidden
counts, and fail if any count under the threshold is pinned down.

The attacker here is written independently of srmsim's own audit: it knows every published
number, every identity the table's definitions imply (rows add up to the Total, a count is part
of another, ``rows = used + missing score + missing outcome - missing both``, a threshold table
is a running total of band-by-outcome cells), the rates printed beside counts (to their printed
precision), and that counts are non-negative integers; for each hidden count it finds the least
and greatest value consistent with all that (``scipy.optimize.milp``). A hidden count below 10 is
"recovered" if that range is narrower than 10. Each attack is also run on an unprotected
version (primary suppression only, or the unprotected grid) to show that it does recover counts
there, so the tests can fail.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, milp

from srmsim.cli import main
from srmsim.data.dataset import Dataset, base_meta
from srmsim.data.describe import COMPLEMENTS as COMPL_
from srmsim.data.describe import COUNTS, RATES, describe, describe_counts, linked_masks
from srmsim.data.describe import SUBSETS as SUBSETS_
from srmsim.errors import DataError
from srmsim.privacy import suppress_small_counts, suppression_masks
from srmsim.risk import threshold_table

sys.path.insert(0, str(Path(__file__).parent))
from test_risk_cli import students as risk_students  # noqa: E402

T = 10
#: the printed rates that are one count over another (attendance_pct is a mean of sessions)
RATIOS = ("fsm_pct", "sen_pct", "eal_pct", "persistent_absence_pct")


def ranges(n: int, eqs: list[tuple[dict[int, float], float]],
           les: list[tuple[dict[int, float], float]], fixed: dict[int, float],
           targets: list[int], start: np.ndarray | None = None,
           enough: float = np.inf) -> dict[int, tuple[float, float]]:
    """Least and greatest integer value of each target given the constraints (inf: unbounded).

    ``start`` is a point known to satisfy them: every point found is one the attacker cannot
    rule out, so a target already seen at least ``enough`` wide is not solved for (its range
    is then the values seen, which are inside the exact one)."""
    a_rows, lo_b, hi_b = [], [], []
    for cons, is_eq in ((eqs, True), (les, False)):
        for coef, rhs in cons:
            row = np.zeros(n)
            for i, c in coef.items():
                row[i] += c
            a_rows.append(row)
            lo_b.append(rhs if is_eq else -np.inf)
            hi_b.append(rhs)
    big = 1e7
    lb, ub = np.zeros(n), np.full(n, big)
    for i, v in fixed.items():
        lb[i] = ub[i] = v
    constraints = [LinearConstraint(np.array(a_rows), lo_b, hi_b)] if a_rows else []
    out = {}
    seen_lo = np.full(n, np.inf) if start is None else np.array(start, dtype=float)
    seen_hi = np.full(n, -np.inf) if start is None else np.array(start, dtype=float)
    for t in targets:
        if seen_hi[t] - seen_lo[t] >= enough:
            out[t] = (seen_lo[t], seen_hi[t])
            continue
        ends = []
        for sign in (1, -1):
            c = np.zeros(n)
            c[t] = sign
            res = milp(c, constraints=constraints, bounds=Bounds(lb, ub), integrality=np.ones(n))
            assert res.status == 0, res.message  # the true table is always feasible
            np.minimum(seen_lo, res.x, out=seen_lo)
            np.maximum(seen_hi, res.x, out=seen_hi)
            ends.append(res.x[t])
        out[t] = (ends[0], np.inf if ends[1] > big / 2 else ends[1])
    return out


def satisfies(x: np.ndarray, eqs, les, fixed) -> bool:
    """Whether ``x`` (non-negative integers) meets every constraint: the attacker's model of a
    table must hold for its true counts."""
    ok = bool((x >= 0).all() and (x == np.round(x)).all())
    ok &= all(abs(sum(a * x[i] for i, a in coef.items()) - rhs) < 1e-6 for coef, rhs in eqs)
    ok &= all(sum(a * x[i] for i, a in coef.items()) <= rhs + 1e-6 for coef, rhs in les)
    return ok and all(x[i] == v for i, v in fixed.items())


def recovered(truth: np.ndarray, hidden: np.ndarray, eqs, les, fixed) -> list[tuple[int, float]]:
    """Hidden cells with a true value under T whose feasible range is narrower than T."""
    targets = [i for i in np.flatnonzero(hidden) if truth[i] < T]
    known = bool(np.isfinite(truth).all())  # not when a count is missing from the data
    assert not known or satisfies(truth, eqs, les, fixed)  # the attacker's model is right ...
    # without a known point the values seen are not a range that holds the truth: solve all
    got = ranges(len(truth), eqs, les, fixed, targets, start=truth if known else None,
                 enough=T if known else np.inf)
    for i in targets:
        lo, hi = got[i]
        assert lo - 1e-6 <= truth[i] <= hi + 1e-6  # ... so the truth is in range
    return [(i, got[i][1] - got[i][0]) for i in targets if got[i][1] - got[i][0] < T]


# --------------------------------------------------------------------------------------------
# data summary


def small_schools_dataset(seed: int = 3) -> Dataset:
    rng = np.random.default_rng(seed)
    sizes = {"A": 140, "B": 23, "C": 60, "D": 9, "E": 35}
    rows, obs = [], []
    k = 0
    for school, n in sizes.items():
        for _ in range(n):
            sid = f"S{k:04d}"
            k += 1
            rows.append({"student_id": sid, "school": school,
                         "year_group": int(rng.integers(7, 10)),
                         "fsm": bool(rng.random() < 0.2), "sen": bool(rng.random() < 0.12),
                         "eal": bool(rng.random() < 0.3)})
            p = rng.beta(18, 1.8)
            for w in range(1, 4):
                obs.append({"student_id": sid, "school": school, "period_type": "week",
                            "period": w, "sessions_possible": 10,
                            "sessions_attended": int(rng.binomial(10, p))})
    return Dataset(pd.DataFrame(rows), pd.DataFrame(obs), base_meta())


REMAINDERS = (("fsm", "students"), ("sen", "students"), ("eal", "students"),
              ("persistently_absent", "with_sessions"), ("with_sessions", "students"))


def by_definition(truth: pd.DataFrame) -> list[tuple[int, str]]:
    """(row, column) of counts anyone knows from the labels alone, so never a disclosure: the
    FSM count of the non-FSM (or FSM-unknown) group is 0, and so is the remainder ``not_fsm``
    of the FSM group. The attacker fixes them, which also ties the FSM group's size to the
    Total's fsm count."""
    known = []
    for flag in ("fsm", "sen", "eal"):
        if f"{flag}_group" in truth.columns:
            for r, value in enumerate(truth[f"{flag}_group"].tolist()):
                if value == "True":
                    known.append((r, f"not_{flag}"))
                elif value in ("False", "(missing)"):
                    known.append((r, flag))
    return known


def summary_attack(table: pd.DataFrame, truth: pd.DataFrame) -> list[tuple[int, float]]:
    """Run the attacker on a printed summary table (text) against its true counts. Besides
    the printed cells it goes after the remainders (non-FSM pupils = students - fsm, ...)."""
    nrow, ncol = truth.shape[0], len(COUNTS)
    idx = {(r, c): r * ncol + j for r in range(nrow) for j, c in enumerate(COUNTS)}
    for k, (part, _) in enumerate(REMAINDERS):
        idx.update({(r, f"not_{part}"): nrow * ncol + k * nrow + r for r in range(nrow)})
    total = nrow - 1  # describe puts the Total row last
    eqs = [({**{idx[(r, c)]: 1.0 for r in range(total)}, idx[(total, c)]: -1.0}, 0.0)
           for c in COUNTS]
    for part, whole in REMAINDERS:
        eqs += [({idx[(r, f"not_{part}")]: 1.0, idx[(r, whole)]: -1.0, idx[(r, part)]: 1.0},
                 0.0) for r in range(nrow)]
    les = []
    for part, whole in (("fsm", "students"), ("sen", "students"), ("eal", "students"),
                        ("with_sessions", "students"), ("persistently_absent", "with_sessions")):
        les += [({idx[(r, part)]: 1.0, idx[(r, whole)]: -1.0}, 0.0) for r in range(nrow)]
    hidden = np.r_[np.zeros(nrow * ncol, dtype=bool), np.ones(nrow * len(REMAINDERS), bool)]
    fixed = {}
    counts = truth[COUNTS].to_numpy(dtype=float)
    values = np.r_[counts.ravel(), *[counts[:, COUNTS.index(w)] - counts[:, COUNTS.index(p)]
                                     for p, w in REMAINDERS]]
    # pupils without attendance records: 0 of them ("the export is complete") is not a target
    k = REMAINDERS.index(("with_sessions", "students"))
    no_sessions = slice(nrow * ncol + k * nrow, nrow * ncol + (k + 1) * nrow)
    hidden[no_sessions] &= values[no_sessions] != 0
    one_column = list(table.columns).index("students") == 1
    for r in range(nrow):
        if r != total and one_column:  # a value of one column is some pupil's: it has one
            les.append(({idx[(r, "students")]: -1.0}, -1.0))
        for c in COUNTS:
            text = table[c].iloc[r]
            if re.fullmatch(r"\d+", text):
                fixed[idx[(r, c)]] = float(text)
            else:
                hidden[idx[(r, c)]] = True
        for rate, bases in RATES.items():  # a printed rate is num / den to 1 decimal
            text = table[rate].iloc[r]
            if text == "x":  # "withheld", not "low": its hidden counts were not small ones
                les += [({idx[(r, b)]: -1.0}, -float(T)) for b in bases
                        if table[b].iloc[r] == "c"]
            if rate not in RATIOS or not re.fullmatch(r"[\d.]+", text):
                continue
            num, den = idx[(r, bases[0])], idx[(r, bases[1])]
            v = float(text)
            les.append(({num: 100.0, den: -(v + 0.05)}, 0.0))
            les.append(({num: -100.0, den: v - 0.05}, 0.0))
    for r, c in by_definition(truth):
        fixed[idx[(r, c)]], hidden[idx[(r, c)]] = 0.0, False
    assert hidden.any()
    return recovered(values, hidden, eqs, les, fixed)


@pytest.mark.once
@pytest.mark.parametrize("by", [["school"], ["school", "year_group"], ["year_group", "fsm"]])
def test_no_hidden_summary_count_can_be_recovered(by: list[str]) -> None:
    ds = small_schools_dataset()
    truth = describe_counts(ds, by)
    table = describe(ds, by)
    assert table.attrs["suppression"]["primary"] > 0
    assert summary_attack(table, truth) == []


@pytest.mark.once
def test_a_rate_symbol_does_not_say_which_hidden_counts_are_small() -> None:
    """A rate printed ``x`` beside hidden counts said they were hidden to protect others, so
    at least 10: in year 7's FSM row of this trust EAL was then at least 10 of 16 pupils, and
    the 6 non-EAL ones were pinned to 0-6. A rate on any hidden count now prints ``low``."""
    ds = small_schools_dataset(12)
    truth = describe_counts(ds, ["year_group", "fsm"])
    table = describe(ds, ["year_group", "fsm"])
    assert summary_attack(table, truth) == []
    masks = linked_masks(ds, ["year_group", "fsm"])[1:]
    old = suppress_small_counts(truth, count_columns=COUNTS, rate_columns=RATES, masks=masks)
    for rate, bases in RATES.items():  # as the rates were printed before: x on a secondary
        sec = masks[1][bases].any(axis=1) & ~masks[0][bases].any(axis=1)
        old.loc[sec.to_numpy(), rate] = "x"
    assert summary_attack(old, truth)


@pytest.mark.once
def test_a_printed_row_says_its_group_has_a_pupil_and_the_audit_knows_it(monkeypatch) -> None:
    """Schools of 1 and 9 pupils beside 50 and 40: hiding the two gave A + B = 10, which the
    audit took for 0 to 10 each; but a school printed as a row has a pupil, so each was 1 to 9
    (and its FSM, SEN and EAL counts at most 9). The audit now knows it too."""
    rng = np.random.default_rng(1)
    st = pd.DataFrame({"student_id": [f"S{k:03d}" for k in range(100)],
                       "school": ["A"] + ["B"] * 9 + ["C"] * 50 + ["D"] * 40,
                       "year_group": rng.integers(7, 10, 100), "fsm": rng.random(100) < 0.2,
                       "sen": rng.random(100) < 0.12, "eal": rng.random(100) < 0.3})
    ob = pd.DataFrame([{"student_id": sid, "school": sch, "period_type": "week", "period": w,
                        "sessions_possible": 10, "sessions_attended": int(rng.binomial(10, .93))}
                       for sid, sch in zip(st["student_id"], st["school"], strict=True)
                       for w in (1, 2, 3)])
    ds = Dataset(st, ob, base_meta())
    truth = describe_counts(ds, ["school"])
    assert summary_attack(describe(ds, ["school"]), truth) == []
    assert linked_summary_attack(ds, ["school"]) == []
    import srmsim.data.describe as describe_module

    def unaware(*args, at_least=None, **kwargs):  # the audit as it was: every floor 0
        return suppression_masks(*args, **kwargs)

    monkeypatch.setattr(describe_module, "suppression_masks", unaware)
    assert summary_attack(describe(ds, ["school"]), truth)


@pytest.mark.once
def test_an_empty_combination_is_printed_like_a_small_one() -> None:
    """School A has no FSM pupil: ``--by school`` hid A's FSM count, but ``--by school,fsm``
    printed only the combinations some pupil has, so the missing (A, True) row said it was 0.
    Every combination is now a row, an empty one hidden like any small count."""
    rng = np.random.default_rng(1)
    n = 120
    fsm = rng.random(n) < 0.3
    fsm[:30] = False
    st = pd.DataFrame({"student_id": [f"S{i:03d}" for i in range(n)],
                       "school": ["A"] * 30 + ["B"] * 45 + ["C"] * 45, "year_group": 7,
                       "fsm": fsm, "sen": rng.random(n) < 0.2, "eal": rng.random(n) < 0.2})
    ds = Dataset(st, pd.DataFrame(), base_meta())
    table = describe(ds, ["school", "fsm"])
    rows = list(zip(table["school"], table["fsm_group"], strict=True))
    assert rows[:-1] == [(s, f) for s in "ABC" for f in ("False", "True")]
    empty = table.iloc[rows.index(("A", "True"))]
    assert empty["students"] == "c" and empty["fsm_pct"] == "low"
    assert linked_summary_attack(ds, ["school", "fsm"]) == []
    with pytest.raises(DataError, match="groups"):  # too many combinations to audit
        describe(Dataset(st.assign(year_group=np.arange(n)), pd.DataFrame(), base_meta()),
                 ["school", "year_group", "sen", "eal"])


def test_remainders_are_protected_too() -> None:
    """A group where all but a few pupils are FSM (or persistently absent): students - fsm is
    a small count of non-FSM pupils, and the audit hides enough that it cannot be worked out.
    Without the remainders in the audit the same attacker gets it."""
    full = small_schools_dataset()
    st = full.students[full.students["school"].isin(["A", "B", "C"])].copy()
    st.loc[st["school"] == "B", "fsm"] = True
    st.loc[st.index[st["school"] == "B"][:4], "fsm"] = False  # 19 FSM and 4 non-FSM
    ds = Dataset(st, full.observations[full.observations["student_id"].isin(st["student_id"])],
                 full.meta)
    truth = describe_counts(ds, ["school"])
    table = describe(ds, ["school"])
    assert summary_attack(table, truth) == []
    from srmsim.data.describe import SUBSETS

    without = suppress_small_counts(truth, count_columns=COUNTS, rate_columns=RATES,
                                    total_column=None, subsets=SUBSETS)
    assert summary_attack(without, truth)


def test_pupils_without_attendance_records_are_a_count_protected_too() -> None:
    """Three pupils of a school have no attendance rows: students - with_sessions = 3 must not
    be worked out from the printed table (it was not audited). Without that remainder in the
    audit the same attacker gets it."""
    full = small_schools_dataset()
    st = full.students[full.students["school"].isin(["A", "B", "C"])].copy()
    gone = st.loc[st["school"] == "B", "student_id"].iloc[:3]
    ob = full.observations[full.observations["student_id"].isin(st["student_id"])
                           & ~full.observations["student_id"].isin(gone)]
    ds = Dataset(st, ob, full.meta)
    truth = describe_counts(ds, ["school"])
    assert sorted((truth["students"] - truth["with_sessions"]).tolist()) == [0, 0, 3, 3]
    assert summary_attack(describe(ds, ["school"]), truth) == []
    from srmsim.data.describe import SUBSETS

    old = tuple(c for c in COMPL_ if c != "with_sessions")
    without = suppress_small_counts(truth, count_columns=COUNTS, rate_columns=RATES,
                                    total_column=None, subsets=SUBSETS, complements=old)
    assert summary_attack(without, truth)


def test_the_summary_attack_does_recover_counts_from_primary_suppression_alone() -> None:
    """The attacker is strong enough to matter: without secondary suppression it wins."""
    truth = describe_counts(small_schools_dataset(), ["school"])
    primary_only = suppress_small_counts(truth, count_columns=COUNTS, rate_columns=RATES,
                                         total_row=None, total_column=None)
    assert primary_only.attrs["suppression"]["secondary"] == 0
    assert summary_attack(primary_only, truth)


def linked_summary_attack(ds: Dataset, by: list[str]) -> list[tuple[str, int, str, float]]:
    """The attacker holds ``data summary --by`` for ``by`` and for every smaller breakdown
    (``--by school``, ``--by sex``: what anyone runs first). A row of a smaller table is the
    sum of the crossed rows that share its labels, and every table has the same Total; with
    each table's own identities (part of a whole, remainders, printed rates) that ties them
    all into one system. Returns (breakdown, row, column, width) of small counts pinned."""
    from itertools import combinations

    subs = [list(c) for r in range(1, len(by) + 1) for c in combinations(by, r)]
    label = {b: f"{b}_group" if b in COUNTS else b for b in by}
    tabs = {tuple(sub): (describe(ds, sub), describe_counts(ds, sub)) for sub in subs}
    ncol, nrem = len(COUNTS), len(REMAINDERS)
    base, pos = {}, 0
    for key, (_, truth) in tabs.items():
        base[key] = pos
        pos += len(truth) * (ncol + nrem)
    n = pos

    def cell(key: tuple, r: int, c: str) -> int:
        nrow = len(tabs[key][1])
        if c in COUNTS:
            return base[key] + r * ncol + COUNTS.index(c)
        k = [f"not_{p}" for p, _ in REMAINDERS].index(c)
        return base[key] + nrow * ncol + k * nrow + r

    values, hidden = np.zeros(n), np.zeros(n, dtype=bool)
    eqs: list = []
    les: list = []
    fixed: dict[int, float] = {}
    for key, (table, truth) in tabs.items():
        nrow, total = len(truth), len(truth) - 1
        counts = truth[COUNTS].to_numpy(dtype=float)
        for r in range(nrow):
            for j, c in enumerate(COUNTS):
                i = cell(key, r, c)
                values[i] = counts[r, j]
                if re.fullmatch(r"\d+", table[c].iloc[r]):
                    fixed[i] = float(table[c].iloc[r])
                else:
                    hidden[i] = True
            for part, whole in REMAINDERS:
                i = cell(key, r, f"not_{part}")
                values[i] = counts[r, COUNTS.index(whole)] - counts[r, COUNTS.index(part)]
                # 0 pupils without attendance records ("the export is complete"): not a target
                hidden[i] = part != "with_sessions" or values[i] != 0
                eqs.append(({i: 1.0, cell(key, r, whole): -1.0, cell(key, r, part): 1.0}, 0.0))
            for part, whole in (("fsm", "students"), ("sen", "students"), ("eal", "students"),
                                ("with_sessions", "students"),
                                ("persistently_absent", "with_sessions")):
                les.append(({cell(key, r, part): 1.0, cell(key, r, whole): -1.0}, 0.0))
            if r != total and len(key) == 1:  # a value of one column is some pupil's
                les.append(({cell(key, r, "students"): -1.0}, -1.0))
            for rate, bases in RATES.items():
                text = table[rate].iloc[r]
                if text == "x":  # not "low": its hidden counts were not small ones
                    les += [({cell(key, r, b): -1.0}, -float(T)) for b in bases
                            if table[b].iloc[r] == "c"]
                if rate not in RATIOS or not re.fullmatch(r"[\d.]+", text):
                    continue
                num, den, v = cell(key, r, bases[0]), cell(key, r, bases[1]), float(text)
                les.append(({num: 100.0, den: -(v + 0.05)}, 0.0))
                les.append(({num: -100.0, den: v - 0.05}, 0.0))
        for c in COUNTS:
            eqs.append(({**{cell(key, r, c): 1.0 for r in range(total)},
                         cell(key, total, c): -1.0}, 0.0))
        for r, c in by_definition(truth):
            fixed[cell(key, r, c)], hidden[cell(key, r, c)] = 0.0, False
    full = tuple(by)
    crossed = tabs[full][1]
    for key, (_, truth) in tabs.items():
        if key == full:
            continue
        cols = [label[b] for b in key]
        for r in range(len(truth)):
            want = truth[cols].iloc[r].tolist()
            if r == len(truth) - 1:  # the Totals are the same number in every table
                rows = [len(crossed) - 1]
            else:
                rows = [q for q in range(len(crossed) - 1)
                        if crossed[cols].iloc[q].tolist() == want]
            for c in COUNTS:
                eqs.append(({**{cell(full, q, c): 1.0 for q in rows},
                             cell(key, r, c): -1.0}, 0.0))
    got = recovered(values, hidden, eqs, les, fixed)
    where = []
    for i, width in got:
        key = max((k for k in base if base[k] <= i), key=base.__getitem__)
        off = i - base[key]
        nrow = len(tabs[key][1])
        r, c = ((off // ncol, COUNTS[off % ncol]) if off < nrow * ncol else
                ((off - nrow * ncol) % nrow, f"not_{REMAINDERS[(off - nrow * ncol) // nrow][0]}"))
        where.append((",".join(key), r, c, width))
    return where


def one_small_crossed_cell() -> Dataset:
    """Three schools by sex, where school A has 5 boys: shown beside A's 50 girls and A's 55
    pupils in ``--by school`` the 5 is a subtraction away."""
    rows, k = [], 0
    for (school, sex), n in {("A", "F"): 50, ("A", "M"): 5, ("B", "F"): 40, ("B", "M"): 45,
                             ("C", "F"): 30, ("C", "M"): 35}.items():
        for _ in range(n):
            rows.append({"student_id": f"S{k:04d}", "school": school, "year_group": 7,
                         "sex": sex, "fsm": k % 3 == 0, "sen": False, "eal": False})
            k += 1
    return Dataset(pd.DataFrame(rows), pd.DataFrame(), base_meta())


@pytest.mark.once
@pytest.mark.parametrize("make,by", [(one_small_crossed_cell, ["school", "sex"]),
                                     (small_schools_dataset, ["school", "year_group"]),
                                     (small_schools_dataset, ["year_group", "fsm"])])
def test_a_crossed_summary_and_its_margins_cannot_be_combined(make, by) -> None:
    """``--by school,sex`` after ``--by school`` and ``--by sex``: the crossed table is
    protected with its margins as published, so subtracting across tables pins nothing."""
    ds = make()
    assert linked_summary_attack(ds, by) == []
    # the order of --by changes the layout, not which counts are hidden
    a, b = describe(ds, by), describe(ds, by[::-1])
    labels = [f"{x}_group" if x in COUNTS else x for x in by]
    merged = a.iloc[:-1].merge(b.iloc[:-1], on=labels, suffixes=("", "_r"))
    assert len(merged) == len(a) - 1
    for c in COUNTS:
        assert (merged[c] == merged[f"{c}_r"]).all(), c
        assert a[c].iloc[-1] == b[c].iloc[-1]  # the Total rows


def test_a_school_called_total_is_not_taken_for_the_total_row() -> None:
    """A school named 'Total' sorted before the real Total row was taken for it: the audit's
    identities were then wrong (infeasible, which it read as 'safe'). Its table printed two
    rows labelled Total, which no reader could tell apart: such a school is now refused."""
    ds = small_schools_dataset()
    ds.students["school"] = ds.students["school"].replace({"D": "Total"})
    ds.observations["school"] = ds.observations["school"].replace({"D": "Total"})
    for table in (describe_counts, describe):
        with pytest.raises(DataError, match="a school is called 'Total', as summary tables"):
            table(ds, ["school"])


def test_the_linked_attack_wins_on_separately_protected_tables() -> None:
    """The attacker is strong enough to matter: each table protected on its own leaks."""
    ds = one_small_crossed_cell()
    crossed = suppress_small_counts(describe_counts(ds, ["school", "sex"]),
                                    count_columns=COUNTS, rate_columns=RATES,
                                    total_column=None, subsets=SUBSETS_, complements=COMPL_)
    school = describe(ds, ["school"])
    shown = {(r.school, r.sex): r.students for r in crossed.itertuples()}
    # 55 pupils at A in one table, 50 of them girls in the other
    assert shown[("A", "M")] == "c" and shown[("A", "F")] == "50"
    assert school.loc[school["school"] == "A", "students"].item() == "55"


@pytest.mark.once
@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.integers(0, 40), min_size=3, max_size=3), min_size=2, max_size=5),
       st.integers(2, 15))
def test_two_way_tables_with_totals_resist_the_attack(rows: list[list[int]],
                                                      threshold: int) -> None:
    """Rows and a column adding to totals: no hidden small cell is pinned to within the
    threshold (replaces the weaker 'no line with one hidden cell' rule)."""
    body = np.array(rows)
    table = np.vstack([body, body.sum(axis=0)])
    table = np.hstack([table, table.sum(axis=1, keepdims=True)])
    frame = pd.DataFrame(table, columns=["a", "b", "c", "total"],
                         index=[f"r{i}" for i in range(len(rows))] + ["Total"])
    prim, sec = suppression_masks(frame, threshold=threshold)
    assert (prim.to_numpy() == (table < threshold)).all()
    hidden = (prim | sec).to_numpy().ravel()
    nr, nc = table.shape
    eqs = [({**{r * nc + c: 1.0 for c in range(nc - 1)}, r * nc + nc - 1: -1.0}, 0.0)
           for r in range(nr)]
    eqs += [({**{r * nc + c: 1.0 for r in range(nr - 1)}, (nr - 1) * nc + c: -1.0}, 0.0)
            for c in range(nc)]
    values = table.ravel().astype(float)
    fixed = {i: values[i] for i in range(values.size) if not hidden[i]}
    targets = [i for i in np.flatnonzero(hidden) if values[i] < threshold]
    got = ranges(values.size, eqs, [], fixed, targets)
    assert all(got[i][1] - got[i][0] >= threshold for i in targets)


# --------------------------------------------------------------------------------------------
# thresholds


def bands(frame: pd.DataFrame) -> list[int]:
    """What differencing a published threshold table gives: positives and negatives in every
    band of scores (below the first threshold, between neighbours, beyond the last)."""
    out = []
    units = [frame] if "by" not in frame else [g for _, g in frame.groupby(["by", "group"])]
    for u in units:
        u = u.sort_values("flagged")
        n_pos, n = int(u["n_pos"].iloc[0]), int(u["n"].iloc[0])
        tp = np.r_[0, u["tp"].astype(int), n_pos]
        fp = np.r_[0, u["fp"].astype(int), n - n_pos]
        out += np.diff(tp).tolist() + np.diff(fp).tolist()
        # the table's own identities hold, so the attacker may use them freely
        assert (u["fn"].astype(int) == n_pos - u["tp"].astype(int)).all()
        assert (u["tn"].astype(int) == n - n_pos - u["fp"].astype(int)).all()
    return out


@pytest.mark.once
def test_threshold_tables_cannot_be_differenced_to_a_small_count(tmp_path: Path,
                                                                 capsys) -> None:
    df = risk_students(n_schools=4, n=150, seed=5)
    argv = ["thresholds", str(tmp_path / "export.csv"), "--score", "attendance_rate",
            "--outcome", "withdrawn", "--by", "fsm", "sex", "--n-boot", "40", "--out",
            str(tmp_path / "r")]
    # 7 rows without a score: `data summary`'s students minus the tables' n would give 7
    df.assign(attendance_rate=df["attendance_rate"].mask(df.index < 7)).to_csv(
        tmp_path / "export.csv", index=False)
    assert main(argv) == 2 and not (tmp_path / "r").exists()
    assert "cannot be reported without revealing" in capsys.readouterr().err
    # 12 without a score (3 of them without the outcome too) and 11 more without the outcome,
    # all non-FSM girls without the outcome: 23 left out, in one group of each --by column
    df["withdrawn"] = df["withdrawn"].astype("boolean")
    cell = df.index[~df["withdrawn"] & ~df["fsm"] & (df["sex"] == "F")]
    df.loc[cell[:12], "attendance_rate"] = np.nan
    df.loc[[*cell[:3], *cell[12:23]], "withdrawn"] = pd.NA
    df.to_csv(tmp_path / "export.csv", index=False)
    assert main(argv) == 0
    printed = capsys.readouterr().out
    overall = pd.read_csv(tmp_path / "r" / "thresholds.csv")
    groups = pd.read_csv(tmp_path / "r" / "thresholds_by_group.csv")
    assert len(overall) >= 2 and set(groups["by"]) == {"fsm", "sex"}
    # each column on its own grid, chosen among the overall one's thresholds
    assert set(groups["threshold"]) <= set(overall["threshold"])
    assert min(bands(overall)) >= T and min(bands(groups)) >= T
    counts = ["n", "n_pos", "flagged", "tp", "fp", "fn", "tn"]
    assert (overall[counts].to_numpy() >= T).all() and (groups[counts].to_numpy() >= T).all()
    # the printed "rows / used / missing" line: 3 missing both, 9 missing the score only
    line = next(x for x in printed.splitlines() if x.startswith("rows:"))
    assert "missing score c" in line or "missing outcome c" in line
    assert_missing_line_safe(line, rows=len(df), used=len(df) - 23, ms=12, mo=14, mb=3)

    # negative control: the unprotected default grid does give small bands away
    assert min(bands(threshold_table(df, "attendance_rate", "withdrawn"))) < T


def assert_missing_line_safe(line: str, rows: int, used: int, ms: int, mo: int, mb: int,
                             pos: int = 0) -> None:
    """Cells: rows, used, missing score, missing outcome (printed or 'c'); missing both, the
    score only without the outcome, the outcome only (never printed); the score only with the
    outcome, ``pos`` (never printed, but the outcome's total that other commands print minus
    ``n_pos``). Rows and used are printed by other commands too (`data summary`'s students)."""
    names = ["rows", "used", "missing score", "missing outcome"]
    truth = np.array([rows, used, ms, mo, mb, pos, ms - mb - pos, mo - mb], dtype=float)
    fixed = {5: float(pos)}
    for i, name in enumerate(names):
        m = re.search(rf"{name}:? (c|[\d,]+)", line)
        assert m, (name, line)
        if m.group(1) != "c":
            assert float(m.group(1).replace(",", "")) == truth[i]
            fixed[i] = float(m.group(1).replace(",", ""))
    assert fixed.get(0) == rows and fixed.get(1) == used  # known anyway: both stay shown
    hidden = np.array([i not in fixed for i in range(len(truth))])
    eqs = [({0: 1, 1: -1, 4: -1, 5: -1, 6: -1, 7: -1}, 0.0), ({2: 1, 4: -1, 5: -1, 6: -1}, 0.0),
           ({3: 1, 4: -1, 7: -1}, 0.0)]
    assert recovered(truth, hidden, eqs, [], fixed) == []
    # and the line printed in full would have pinned the small parts
    assert recovered(truth, np.array([False] * 4 + [True, False, True, True]), eqs, [],
                     {0: rows, 1: used, 2: ms, 3: mo, 5: pos})


def test_thresholds_one_pupil_apart_are_not_both_published(tmp_path: Path, capsys) -> None:
    df = risk_students(n_schools=3, n=150, seed=2)
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    # a threshold the default run publishes (between two scores), and one flagging one more
    # pupil (or tie group): the first score above it, and the next
    assert main(["thresholds", str(path), "--score", "attendance_rate", "--outcome",
                 "withdrawn", "--n-boot", "40", "--out", str(tmp_path / "default")]) == 0
    grid = pd.read_csv(tmp_path / "default" / "thresholds.csv")["threshold"].to_numpy()
    mid = float(grid[len(grid) // 2])
    values = np.unique(df["attendance_rate"].dropna().to_numpy())
    nxt = float(values[values > mid][1])
    assert main(["thresholds", str(path), "--score", "attendance_rate", "--outcome",
                 "withdrawn", "--thresholds", str(mid), str(nxt), "--n-boot", "40"]) == 0
    printed = capsys.readouterr().out
    assert "not published" in printed
    table = pd.read_csv(tmp_path / "thresholds" / "thresholds.csv")
    assert len(table) == 1 and min(bands(table)) >= T


@pytest.mark.once
def test_too_small_a_group_withholds_its_whole_breakdown(tmp_path: Path, capsys) -> None:
    df = risk_students(n_schools=3, n=150, seed=4)
    df["rare"] = "common"
    df.loc[df.index[:15], "rare"] = "rare"  # 15 students: cannot hold 10 with and 10 without
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    assert main(["thresholds", str(path), "--score", "attendance_rate", "--outcome",
                 "withdrawn", "--by", "rare", "fsm", "--n-boot", "40"]) == 0
    assert "by rare: withheld" in capsys.readouterr().out
    groups = pd.read_csv(tmp_path / "thresholds" / "thresholds_by_group.csv")
    assert set(groups["by"]) == {"fsm"} and "n_missing" not in groups


def test_no_safe_threshold_is_a_clear_error(tmp_path: Path, capsys) -> None:
    df = risk_students(n_schools=1, n=40, seed=1)
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    assert main(["thresholds", str(path), "--score", "attendance_rate", "--outcome",
                 "withdrawn", "--n-boot", "40"]) == 2
    assert "too few students" in capsys.readouterr().err


def test_protected_grid_api_for_flags_above_and_groups() -> None:
    from srmsim.risk import band_counts, protected_grid

    df = risk_students(n_schools=4, n=300, seed=7)
    df["risk"] = 1 - df["attendance_rate"]
    grid, withheld = protected_grid(df, "risk", "withdrawn", "above", by=["fsm"])
    assert grid.size >= 2 and withheld == []
    overall = threshold_table(df, "risk", "withdrawn", "above", grid)
    groups = threshold_table(df, "risk", "withdrawn", "above", grid, by=["fsm"])
    assert min(bands(overall)) >= T and min(bands(groups)) >= T
    cells = band_counts(groups, "above")
    assert cells[["positives", "negatives"]].to_numpy().min() >= T
    assert sorted(bands(groups)) == sorted([*cells["positives"], *cells["negatives"]])
    # the greedy grid is not needlessly coarse: adding any dropped candidate breaks the rule
    full = threshold_table(df, "risk", "withdrawn", "above")["threshold"].to_numpy()
    for t in [x for x in full if x not in set(grid)][::7]:
        both = np.sort(np.r_[grid, t])
        worse = min(bands(threshold_table(df, "risk", "withdrawn", "above", both, by=["fsm"])) +
                    bands(threshold_table(df, "risk", "withdrawn", "above", both)))
        assert worse < T


def test_threshold_table_protect_argument() -> None:
    df = risk_students(n_schools=4, n=300, seed=7)
    df["rare"] = np.where(np.arange(len(df)) < 15, "rare", "common")
    table = threshold_table(df, "attendance_rate", "withdrawn", by=["fsm", "rare"], protect=T)
    assert table.attrs["withheld_by"] == ["rare"] and set(table["by"]) == {"fsm"}
    assert "n_missing" not in table and min(bands(table)) >= T
    plain = threshold_table(df, "attendance_rate", "withdrawn", protect=T)
    assert min(bands(plain)) >= T and len(plain) < len(threshold_table(df, "attendance_rate",
                                                                         "withdrawn"))


# --------------------------------------------------------------------------------------------
# summaries of one dataset by groupings that are not nested


def pupil_pattern_attack(ds: Dataset, groupings: list[list[str]]) -> list[str]:
    """The attacker holds ``data summary --by G`` for every G in ``groupings``. Unknowns: how
    many pupils have each combination of the breakdowns, the three flags, attendance records
    and persistent absence; every printed count of every table is a sum of them. This needs no
    identity between tables to be written down: Totals, a flag count being a group's size
    (``--by fsm``'s FSM row against any Total's fsm), ... all follow. Returns the cells and
    remainders under T pinned to a range narrower than T."""
    from srmsim.data.describe import PERSISTENT_ABSENCE_DENOMINATOR, _attendance

    f = ds.students.merge(_attendance(ds), on="student_id", how="left")
    f["ws"] = f["possible"].notna() & (f["possible"] > 0)
    f["pa"] = f["ws"] & ((f["possible"] - f["attended"]) * PERSISTENT_ABSENCE_DENOMINATOR
                         >= f["possible"])
    dims = sorted({b for g in groupings for b in g} | {"fsm", "sen", "eal"}) + ["ws", "pa"]
    text = {k: f[k].map(lambda v: "(missing)" if pd.isna(v) else str(v)) for k in dims}
    levels = [sorted(set(text[k])) for k in dims]
    combos = pd.MultiIndex.from_product(levels, names=dims).to_frame(index=False)
    truth = combos.merge(pd.DataFrame(text).value_counts().rename("n").reset_index(),
                         on=dims, how="left")["n"].fillna(0).to_numpy()
    column = {"students": {}, "fsm": {"fsm": "True"}, "sen": {"sen": "True"},
              "eal": {"eal": "True"}, "with_sessions": {"ws": "True"},
              "persistently_absent": {"pa": "True"}, "not_fsm": {"fsm": "False"},
              "not_sen": {"sen": "False"}, "not_eal": {"eal": "False"},
              "not_pa": {"ws": "True", "pa": "False"}, "no_sessions": {"ws": "False"}}
    rows, rhs, targets = [], [], {}
    for by in groupings:
        printed = describe(ds, by)
        names = [f"{b}_group" if b in COUNTS else b for b in by]
        for r in range(len(printed)):
            group = {} if r == len(printed) - 1 else dict(
                zip(by, printed[names].iloc[r].tolist(), strict=True))
            for col, cond in column.items():
                where = {**group, **cond}
                if any(where.get(k, v) != v for k, v in cond.items()):
                    continue  # a flag's count in the group without it: 0 by definition
                member = np.ones(len(combos), dtype=bool)
                for k, v in where.items():
                    member &= (combos[k] == v).to_numpy()
                label = f"--by {','.join(by)}: {group or 'Total'} {col}"
                if col in COUNTS and re.fullmatch(r"\d+", printed[col].iloc[r]):
                    rows.append(member.astype(float))
                    rhs.append(float(printed[col].iloc[r]))
                if member.any() and truth[member].sum() < T and not (
                        col == "no_sessions" and truth[member].sum() == 0):
                    targets.setdefault(member.tobytes(), (label, member))
    a = np.array(rows)
    assert np.allclose(a @ truth, rhs)  # the attacker's model holds for the true counts
    cons = [LinearConstraint(a, rhs, rhs)]
    pinned = []
    for label, member in targets.values():
        ends = [milp(sign * member.astype(float), constraints=cons,
                     integrality=np.ones(len(truth)), bounds=Bounds(0, 1e6)).x @ member
                for sign in (1, -1)]
        if ends[1] - ends[0] < T:
            pinned.append(f"{label}: {truth[member].sum():.0f} in [{ends[0]:.0f}, {ends[1]:.0f}]")
    return pinned


def mixed_trust(seed: int) -> Dataset:
    """Three schools (one of 1 to 24 pupils), two year groups, flags of random prevalence
    (SEN tied to FSM): small cells in many places, for the cross-table attack."""
    rng = np.random.default_rng(seed)
    sizes = {"A": int(rng.integers(30, 90)), "B": int(rng.integers(1, 25)),
             "C": int(rng.integers(10, 60))}
    pf, ps, pe = rng.uniform(0.05, 0.95, 3)
    rows, obs = [], []
    for school, n in sizes.items():
        for _ in range(n):
            sid = f"S{len(rows):04d}"
            fsm = bool(rng.random() < pf)
            rows.append({"student_id": sid, "school": school,
                         "year_group": int(rng.integers(7, 9)), "sex": rng.choice(["F", "M"]),
                         "fsm": fsm, "sen": bool(rng.random() < (ps if fsm else 1 - ps)),
                         "eal": bool(rng.random() < pe)})
            p = rng.beta(18, 1.8)
            obs += [{"student_id": sid, "school": school, "period_type": "week", "period": w,
                     "sessions_possible": 10, "sessions_attended": int(rng.binomial(10, p))}
                    for w in (1, 2)]
    return Dataset(pd.DataFrame(rows), pd.DataFrame(obs), base_meta())


@pytest.mark.once
@pytest.mark.parametrize("seed,groupings", [
    (2, [["sex"], ["school", "fsm"]]), (2, [["fsm"], ["school", "fsm"]]),
    (13, [["school", "sen"], ["school", "eal"]]),
    (9, [["school"], ["school", "sen"], ["fsm", "sen"]]),
    (2, [["school"], ["sex"], ["fsm"], ["sen"], ["eal"], ["school", "sex"], ["school", "fsm"],
         ["fsm", "sen"]])])
def test_summaries_by_groupings_that_are_not_nested_cannot_be_combined(seed, groupings) -> None:
    """``--by school,fsm`` hid its Total's fsm count (75) to protect school B's 2 non-FSM
    pupils; ``--by sex`` of the same data printed it, as any table does. ``--by fsm``'s FSM
    row is the Total's fsm count by definition. ``--by school,sen`` printed the EAL pupils of
    each school's SEN and non-SEN groups and ``--by school,eal`` the SEN pupils of its EAL and
    non-EAL ones: two layouts of one school-by-SEN-by-EAL table, each protected alone, which
    together gave school A's 4 SEN pupils with EAL. And ``--by school,sen`` showed school B's
    SEN and non-SEN pupils, so B's size, which ``--by school,eal`` relied on being hidden;
    its SEN row's pupils are by definition a school's SEN count, which ``--by school`` hid:
    with ``--by fsm,sen`` that bounded school C's 4 non-SEN FSM pupils to 0..8."""
    assert pupil_pattern_attack(mixed_trust(seed), groupings) == []


def test_the_pattern_attack_wins_on_tables_protected_row_by_row(monkeypatch) -> None:
    """Negative control: primary suppression alone leaves counts the attacker solves."""
    import srmsim.data.describe as describe_module

    def primary_only(ds, by, threshold=T, _cache=None):
        table = describe_counts(ds, list(by))
        small = table[COUNTS].astype("float64") < threshold
        return table, small, small & False

    monkeypatch.setattr(describe_module, "linked_masks", primary_only)
    assert pupil_pattern_attack(mixed_trust(2), [["school"], ["fsm"]])
