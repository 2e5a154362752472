"""Second-pass attack on ``srmsim calibrate`` on real records: the moments of bounded quantities.

The audit took the pooled attendance (with one calendar, the mean of the pupils' rates) and each
attendance percentile on its own: the attendance bounds the persistently (<= 90%) and severely
(<= 50%) absent through their shortfalls (at least 10% and 50% each), a percentile brackets how
many sit at or below 90% and 50%. Together they say more. A 10th percentile q puts the lowest
tenth of the pupils at most q, so each of them falls short by at least ``1 - q``; the
percentiles thus account for part of the trust's total shortfall ``(1 - attendance) n``, and
what is left bounds the severely absent far more tightly: 100 pupils at 94.45% with percentiles
of 94.75%, 95% and 96.25% have at most 7 severely absent (the attendance alone said 11, the
10th percentile 10) and at least 1 persistently absent (the other ends of the percentiles:
each pupil above a percentile falls short by at most ``1 - q``).

The attacker here is a brute force independent of the audit's algebra: for every pair (absent,
severe) it sums the least and the greatest shortfall each pupil in order can have (from the
counts and the printed percentiles) and keeps the pair if the printed attendance lies between.

The attainment-attendance slope is the same kind of leak: the score is standardised, so the
slope is a correlation over the SD of the rates (times 10), and ``SD <= 1 / |slope|``. A ceiling
on the spread of rates whose mean is printed bounds how many sit far below it: ``k`` of ``n``
pupils at 50% or less, the rest at ``m``, already vary by ``f (1 - f) (m - 0.5)^2`` (``f = k /
n``). That second attacker uses only this two-group bound.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srmsim.calibrate.disclosure import (
    mean_inequalities,
    one_calendar,
    population_counts,
    protect_moments,
    quantile_bounds,
)
from srmsim.calibrate.moments import MomentSpec, moment_counts, student_measures
from srmsim.data.dataset import Dataset, base_meta

sys.path.insert(0, str(Path(__file__).parent))
from test_privacy_attack import T  # noqa: E402
from test_realdata_workflow_attack_review import calibrate_report  # noqa: E402

PERCENTILES = {"attendance_p10": 0.10, "attendance_p25": 0.25, "attendance_p50": 0.50}
#: 100 pupils, 40 sessions each: 2 at 30% (severely absent), 4 at 85%, the rest above 90%
LEAKY = [12] * 2 + [34] * 4 + [37] * 4 + [38] * 40 + [39] * 50


def trust(attended: list[int], noise: float | None = None, seed: int = 0) -> Dataset:
    """One pupil per entry, attending that many of 40 sessions (four weeks of ten: one
    calendar), in two schools; with ``noise``, in three, each with an assessment score of
    their attendance in % plus normal noise of that SD."""
    students, obs = [], []
    rng = np.random.default_rng(seed)
    for i, att in enumerate(attended):
        sid, school = f"P{i:03d}", ("AB" if noise is None else "ABC")[i % (2 if noise is None
                                                                             else 3)]
        if noise is not None:
            obs.append({"student_id": sid, "school": school, "period_type": "term",
                        "period": 1, "assessment_score": round(100 * att / 40
                                                               + noise * rng.normal(), 1)})
        students.append({"student_id": sid, "school": school, "year_group": 7 + i % 3,
                         "fsm": i % 3 == 0, "age_months": 140 + i % 12})
        for w in range(4):
            obs.append({"student_id": sid, "school": school, "period_type": "week",
                        "period": w + 1, "sessions_possible": 10,
                        "sessions_attended": att // 4 + (1 if w < att % 4 else 0)})
    return Dataset(pd.DataFrame(students), pd.DataFrame(obs), base_meta())


def audit(ds: Dataset, whole: bool = True) -> tuple[frozenset[str], pd.Series]:
    """The moments calibrate withholds on ``ds`` (``whole=False``: as if the audit did not
    know every pupil has the same 40 sessions) and the moments' values."""
    spec = MomentSpec.from_data(ds.students, ds.observations)
    measures = student_measures(ds.students, ds.observations, spec)
    counts = moment_counts(measures)
    w = protect_moments(counts, spec.available, population=population_counts(measures),
                        sessions=one_calendar(measures) if whole else None)
    return w.moments, counts.set_index("moment")["value"]


def feasible(n: int, attendance: float, percentiles: dict[float, float],
             fixed: dict[str, int], sessions: int | None = None) -> list[tuple[int, int]]:
    """The (absent, severe) pairs one calendar, the attendance and the percentiles allow; with
    ``sessions``, in whole sessions missed of that many (each pupil's possible missed sessions
    enumerated and tested against the DfE rules and the percentiles directly)."""
    order = np.arange(1, n + 1)
    if sessions:
        missed = np.arange(sessions + 1)
        rate = (sessions - missed) / sessions
        ok = np.ones((n, sessions + 1), dtype=bool)
        for p, q in percentiles.items():
            h = p * (n - 1)
            ok &= np.where((order <= np.floor(h) + 1)[:, None], rate <= q + 1e-12, True)
            ok &= np.where((order > np.ceil(h))[:, None], rate >= q - 1e-12, True)
        is_absent, is_severe = missed * 10 >= sessions, missed * 2 >= sessions
        total = round((1 - attendance) * n * sessions)
    else:
        total = (1 - attendance) * n
        least, most = np.zeros(n), np.ones(n)
        for p, q in percentiles.items():
            h = p * (n - 1)
            least = np.where(order <= np.floor(h) + 1, np.maximum(least, 1 - q), least)
            most = np.where(order > np.ceil(h), np.minimum(most, 1 - q), most)
    pairs = []
    for absent in range(n + 1):
        for severe in range(absent + 1):
            if fixed.get("absent", absent) != absent or fixed.get("severe", severe) != severe:
                continue
            if sessions:
                kind = np.where((order <= severe)[:, None], is_severe, np.where(
                    (order <= absent)[:, None], is_absent & ~is_severe, ~is_absent))
                allowed = ok & kind
                if not allowed.any(axis=1).all():
                    continue
                lo = np.where(allowed, missed, sessions + 1).min(axis=1)
                hi = np.where(allowed, missed, -1).max(axis=1)
                if lo.sum() <= total <= hi.sum():
                    pairs.append((absent, severe))
                continue
            lo = np.maximum(least, np.where(order <= severe, 0.5,
                                            np.where(order <= absent, 0.1, 0.0)))
            hi = np.minimum(most, np.where(order <= severe, 1.0,
                                           np.where(order <= absent, 0.5, 0.1)))
            if (lo <= hi + 1e-12).all() and lo.sum() <= total + 1e-6 <= hi.sum() + 2e-6:
                pairs.append((absent, severe))
    return pairs


def pinned(pairs: list[tuple[int, int]], n: int, truth: tuple[int, int]) -> list[str]:
    """The counts under T (absent, severe, their difference, the rest) the pairs pin to a
    range narrower than T."""
    out = []
    for name, f in (("absent", lambda a, s: a), ("severe", lambda a, s: s),
                    ("absent_not_severe", lambda a, s: a - s),
                    ("not_absent", lambda a, s: n - a), ("not_severe", lambda a, s: n - s)):
        seen = [f(a, s) for a, s in pairs]
        if f(*truth) < T and max(seen) - min(seen) < T:
            out.append(name)
    return out


def attack(moments: list[dict], n: int, truth: tuple[int, int],
           sessions: int | None = None) -> list[str]:
    """What a published moments table (fit.json's rows) pins, knowing the pupils (the Total
    of ``srmsim data summary``, all with sessions), and with ``sessions`` their sessions."""
    by = {m["moment"]: m for m in moments}
    fixed = {cell: int(by[m]["events"]) for m, cell in (("persistent_absence", "absent"),
                                                       ("severe_absence", "severe"))
             if re.fullmatch(r"\d+", str(by.get(m, {}).get("events", "")))}
    a = by.get("attendance", {}).get("target")
    if not isinstance(a, float):
        return []
    shown = {PERCENTILES[m]: by[m]["target"] for m in PERCENTILES
             if isinstance(by.get(m, {}).get("target"), float)}
    return pinned(feasible(n, a, shown, fixed, sessions), n, truth)


@pytest.mark.once
def test_percentiles_that_pin_a_count_with_the_attendance_are_withheld() -> None:
    """100 pupils at 94.45%, percentiles 94.75%, 95%, 96.25%: alone, the attendance leaves 0
    to 11 severely absent and the percentiles 0 to 10; together 0 to 7, and 1 to 10
    persistently absent, whatever the table hides. In whole sessions of 40 (which the
    attendance's digits and the 4 weeks give away) the 10th percentile alone, with the
    attendance, says 1 to 10 are persistently absent: the lowest ten miss at most 3 sessions
    each unless absent, the others at most 2. The percentiles are withheld, the attendance
    stays, and pins nothing."""
    moments, values = audit(trust(LEAKY))
    every = {PERCENTILES[m]: values[m] for m in PERCENTILES}
    pairs = feasible(100, values["attendance"], every, {})
    assert max(s for _, s in pairs) == 7 and min(a for a, _ in pairs) == 1
    assert sorted(pinned(pairs, 100, (6, 2))) == ["absent", "severe"]
    assert max(s for _, s in feasible(100, values["attendance"], {}, {})) == 11
    assert set(PERCENTILES) <= moments and "attendance" not in moments
    assert pinned(feasible(100, values["attendance"], {}, {}, sessions=40), 100, (6, 2)) == []
    # the audit in fractions of a session kept the 10th percentile, which whole sessions pin
    fractions, _ = audit(trust(LEAKY), whole=False)
    assert "attendance_p10" not in fractions and "attendance" not in fractions
    p10 = {0.10: values["attendance_p10"]}
    assert pinned(feasible(100, values["attendance"], p10, {}), 100, (6, 2)) == []
    assert pinned(feasible(100, values["attendance"], p10, {}, sessions=40), 100, (6, 2)) \
        == ["absent"]


def test_a_published_report_pins_nothing_with_the_percentiles(tmp_path) -> None:
    """100 pupils, 10 persistently absent (shown) and 2 severely: the attendance and the
    percentiles said 0 to 8 severely absent (the attendance alone 0 to 10). calibrate keeps
    the attendance (and fits absence_logit to it) and withholds the median."""
    attended = [12] * 2 + [34] * 4 + [36] * 4 + [37] * 40 + [39] * 50
    status, report, printed = calibrate_report(trust(attended), tmp_path)
    assert status == 0, printed
    rows = {m["moment"]: m for m in report["moments"]}
    assert rows["persistent_absence"]["events"] == "10" and rows["severe_absence"]["events"] \
        == "c"
    assert isinstance(rows["attendance"]["target"], float)
    assert rows["attendance_p50"]["target"] == "low" and "withheld" in rows["attendance_p50"][
        "note"]
    assert "attendance_p50" not in report["moments_used"]
    assert attack(report["moments"], 100, (10, 2)) == []
    assert attack(report["moments"], 100, (10, 2), sessions=40) == []
    # negative control: the median printed as before gives the 2 away (0 to 8), and the 8
    # absent but not severely (2 to 10)
    _, values = audit(trust(attended))
    leaky = [dict(m, target=float(values[m["moment"]])) if m["moment"] == "attendance_p50"
             else m for m in report["moments"]]
    assert sorted(attack(leaky, 100, (10, 2))) == ["absent_not_severe", "severe"]


def test_a_trust_where_nothing_is_pinned_keeps_its_attendance(tmp_path) -> None:
    """Negative control: the same pupils three times over (300, 18 persistently and 6 severely
    absent): the attendance and the percentiles leave 0 to 18 severely absent. Nothing is
    withheld but the severe absence and the FSM split."""
    attended = LEAKY * 3
    moments, _ = audit(trust(attended))
    assert "attendance" not in moments and not set(PERCENTILES) & moments
    status, report, printed = calibrate_report(trust(attended), tmp_path)
    assert status == 0, printed
    rows = {m["moment"]: m for m in report["moments"]}
    assert isinstance(rows["attendance"]["target"], float)
    assert rows["persistent_absence"]["events"] == "18"
    assert attack(report["moments"], 300, (18, 6)) == []


def test_the_audits_bounds_are_exactly_what_the_attendance_and_percentiles_allow() -> None:
    """On random trusts (one calendar, some pupils anywhere from 0 to 100%; every other one in
    whole sessions), the pairs (absent, severe) that satisfy every bound
    :func:`mean_inequalities` gives, within the percentiles' brackets
    (:func:`quantile_bounds`), are exactly the brute force's: none weaker (a leak), none
    stronger (a count hidden for nothing); and the brackets rule out only impossible pairs."""
    rng = np.random.default_rng(3)
    pos = {"sessions": 0, "absent": 1, "severe": 2, "unit": 3}
    checked = 0
    for trial in range(60):
        n = int(rng.integers(2, 30))
        rates = np.where(rng.random(n) < 0.3, rng.uniform(0, 1, n), rng.uniform(0.85, 1, n))
        sessions = None if trial % 2 else int(rng.integers(3, 60))
        if sessions:  # whole sessions
            rates = np.round(rates * sessions) / sessions
        a = float(rates.mean())
        qs = np.quantile(rates, list(PERCENTILES.values()))
        shown = {m: float(q) for m, q in zip(PERCENTILES, qs, strict=True) if rng.random() < 0.7}
        truth = np.array([n, (rates <= 0.9 + 1e-12).sum(), (rates <= 0.5 + 1e-12).sum(), 1.0])
        rows = mean_inequalities(pos, a, truth, shown, sessions)
        assert rows  # the true counts satisfy every bound: none is left out
        allowed = set(feasible(n, a, {PERCENTILES[m]: q for m, q in shown.items()}, {},
                               sessions))

        for absent in range(n + 1):
            for severe in range(absent + 1):
                x = np.array([n, absent, severe, 1.0])
                ok = all(sum(k * x[c] for c, k in r.items()) <= 1e-7 for r in rows)
                in_range = all(  # pairs the percentiles' own brackets exclude are audited apart
                    lo <= count <= hi for cell, count in (("absent", absent), ("severe", severe))
                    for _, lo, hi in quantile_bounds(n, shown, sessions)[cell])
                if in_range:
                    assert ok == ((absent, severe) in allowed), (n, shown, absent, severe)
                    checked += 1
                else:  # the brackets are true: they rule out only what is impossible
                    assert (absent, severe) not in allowed
    assert checked > 1000


#: 100 pupils: 2 at 30%, the rest at 92.5% to 100% (attendance 94.35%)
SPREAD = [12] * 2 + [37] * 30 + [38] * 30 + [39] * 20 + [40] * 18


def most_severe(n: int, attendance: float, slope: float) -> int:
    """The most pupils at 50% or less the slope's ceiling on the rates' variance allows."""
    ceiling = 1 / (100 * slope ** 2)
    for k in range(n):
        f = (k + 1) / n
        rest = (attendance - 0.5 * f) / (1 - f)
        if rest > 0.5 and f * (1 - f) * (rest - 0.5) ** 2 > ceiling:
            return k
    return n


@pytest.mark.once
def test_the_slope_cannot_bound_the_spread_of_attendance(tmp_path) -> None:
    """Scores tied closely to attendance (slope 0.82 SD per 10 points): the rates' SD is at
    most 12.2 percentage points, and with the attendance at most 7 of the 100 pupils can be at
    50% or less (2 are); the attendance and its percentiles allowed 10. The slope is withheld,
    and not fitted."""
    ds = trust(SPREAD, noise=8)
    moments, values = audit(ds)
    assert round(values["attainment_attendance_slope"], 2) == 0.82
    assert most_severe(100, values["attendance"], values["attainment_attendance_slope"]) == 7
    assert "attainment_attendance_slope" in moments
    assert "attendance" not in moments  # the attendance and the 10th percentile stay
    status, report, printed = calibrate_report(ds, tmp_path)
    assert status == 0, printed
    rows = {m["moment"]: m for m in report["moments"]}
    assert rows["attainment_attendance_slope"]["target"] == "low"
    assert rows["attainment_attendance_slope"]["simulated"] == "x"
    assert "attainment_attendance_slope" not in report["moments_used"]
    assert "withheld" in rows["attainment_attendance_slope"]["note"]
    assert rows["severe_absence"]["events"] == "c" and isinstance(rows["attendance"]["target"],
                                                                  float)


def test_a_loose_slope_is_kept() -> None:
    """Negative control: scores far noisier (slope 0.49): the ceiling allows more than 10 pupils
    at 50% or less, and the percentiles' 0 to 10 stand. The slope stays."""
    moments, values = audit(trust(SPREAD, noise=20))
    assert most_severe(100, values["attendance"], values["attainment_attendance_slope"]) > 10
    assert "attainment_attendance_slope" not in moments


def test_the_sample_keeps_its_slope() -> None:
    """The shipped sample (slope 0.41 over 400-odd pupils): nothing is withheld."""
    root = Path(__file__).resolve().parents[1] / "data" / "sample"
    students = pd.read_csv(root / "students.csv")
    obs = pd.read_csv(root / "observations.csv")
    moments, _ = audit(Dataset(students, obs, base_meta()))
    assert moments == frozenset()


def test_whole_sessions_only_for_one_calendar() -> None:
    """The audit works in whole sessions only where every pupil with sessions has the same
    whole number of them (an attacker assuming so elsewhere is wrong)."""
    measures = pd.DataFrame({"possible": [40.0, 40, 40, 0], "attended": [38.0, 12, 40, 0]})
    assert one_calendar(measures) == 40
    assert one_calendar(measures.assign(possible=[40.0, 38, 40, 0])) is None
    assert one_calendar(measures.assign(attended=[38.5, 12, 40, 0])) is None
    spec = MomentSpec.from_data(trust(LEAKY).students, trust(LEAKY).observations)
    assert one_calendar(student_measures(trust(LEAKY).students, trust(LEAKY).observations,
                                         spec)) == 40
