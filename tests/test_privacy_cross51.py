"""Privacy attacks across the outputs of one real dataset (review 51).

Each test publishes what a user would from one set of records -- ``srmsim data summary`` and
``srmsim calibrate`` through the CLI -- and plays the attacker on everything printed together
with its own linear programme over the pupils' attendance rates (sorted, each in [0, 1], no
calendar assumed, numpy's linear quantiles), failing if a count under 10 is pinned to a range
narrower than 10.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from srmsim.cli import main

QUANTILES = {"attendance_p10": 0.10, "attendance_p25": 0.25, "attendance_p50": 0.50}


def quiet(*argv: str) -> tuple[int, str, str]:
    """Run the CLI in-process; return (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


def records(work: Path, attended: list[int], sessions: int = 100,
            score: np.ndarray | None = None, fsm: list[bool] | None = None) -> Path:
    """One school's pupils with one termly attendance row each (``attended`` of ``sessions``)
    and a score (random unless given), imported as real records."""
    n = len(attended)
    if score is None:
        score = np.round(100 + np.random.default_rng(51).normal(0, 10, n), 1)
    ids = [f"P{i:04d}" for i in range(n)]
    students = pd.DataFrame({"student_id": ids, "school": "A",
                             "year_group": [7 + i % 5 for i in range(n)], "age_months": 140,
                             "sex": ["F" if i % 2 else "M" for i in range(n)],
                             "fsm": ["true" if (fsm[i] if fsm else i % 5 == 0) else "false"
                                     for i in range(n)],
                             "sen": "false", "eal": "false", "prior_attainment": score})
    obs = pd.DataFrame({"student_id": ids, "school": "A", "period_type": "term", "period": 1,
                        "sessions_possible": sessions, "sessions_attended": attended,
                        "assessment_score": score})
    (work / "in").mkdir(parents=True)
    students.to_csv(work / "in" / "students.csv", index=False)
    obs.to_csv(work / "in" / "observations.csv", index=False)
    status, _, err = quiet("data", "import", str(work / "in" / "students.csv"),
                           str(work / "in" / "observations.csv"), "--out", str(work / "ds"))
    assert status == 0, err
    return work / "ds"


def summary_total(ds: Path) -> dict[str, str]:
    """The Total row of ``srmsim data summary``, by column."""
    status, out, err = quiet("data", "summary", str(ds))
    assert status == 0, err
    lines = out.splitlines()
    total = next(line.split() for line in lines if line.lstrip().startswith("Total"))
    return dict(zip(lines[0].split()[1:], total[1:], strict=True))


def calibrate_moments(ds: Path, out: Path) -> pd.DataFrame:
    """``srmsim calibrate``'s fit_moments.csv (a short fit: only the moments matter here)."""
    status, _, err = quiet("calibrate", str(ds), "--out", str(out), "--params",
                           "dynamics.absence_logit", "--max-evals", "2", "--replications", "1",
                           "--quiet")
    assert status == 0, err
    return pd.read_csv(out / "fit_moments.csv", dtype=str).set_index("moment")


def rate_constraints(n: int, severe: int, absent: int, mean: tuple[float, float],
                     quantiles: dict[float, tuple[float, float]]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """``A r <= b`` for ``n`` sorted attendance rates with ``severe`` of them at most 0.5,
    ``absent`` at most 0.9, their mean within ``mean`` and each quantile ``p`` (numpy's
    linear interpolation) within its range."""
    eps = 1e-7
    rows: list[np.ndarray] = []
    rhs: list[float] = []

    def at_most(coefs: list[tuple[int, float]], bound: float) -> None:
        row = np.zeros(n)
        for i, k in coefs:
            row[i] += k
        rows.append(row)
        rhs.append(bound)

    for i in range(n - 1):
        at_most([(i, 1.0), (i + 1, -1.0)], 0.0)
    for count, cut in ((severe, 0.5), (absent, 0.9)):
        if count:
            at_most([(count - 1, 1.0)], cut)
        if count < n:
            at_most([(count, -1.0)], -(cut + eps))
    for p, (q_lo, q_hi) in quantiles.items():
        h = p * (n - 1)
        f, c = int(np.floor(h)), int(np.ceil(h))
        coefs = [(f, 1.0 - (h - f))] + ([(c, h - f)] if c != f else [])
        at_most(coefs, q_hi)
        at_most([(i, -k) for i, k in coefs], -q_lo)
    at_most([(i, 1.0 / n) for i in range(n)], mean[1])
    at_most([(i, -1.0 / n) for i in range(n)], -mean[0])
    return np.array(rows), np.array(rhs)


def possible_severe(n: int, absent: int, mean: tuple[float, float],
                    quantiles: dict[float, tuple[float, float]]) -> list[int]:
    """The numbers of severely absent pupils an attacker cannot rule out from the printed
    figures (:func:`rate_constraints`): one LP per candidate."""
    found = []
    for s in range(absent + 1):
        a, b = rate_constraints(n, s, absent, mean, quantiles)
        fit = linprog(np.zeros(n), A_ub=a, b_ub=b, bounds=[(0.0, 1.0)] * n, method="highs")
        if fit.status == 0:
            found.append(s)
    return found


def printed_quantiles(moments: pd.DataFrame) -> dict[float, tuple[float, float]]:
    """calibrate's printed attendance percentiles, each as the range its digits allow."""
    return {p: (float(moments.loc[m, "target"]) - 1e-9, float(moments.loc[m, "target"]) + 1e-9)
            for m, p in QUANTILES.items() if moments.loc[m, "target"] not in ("low", "x")}


def printed_mean(moments: pd.DataFrame, total: dict[str, str] | None = None
                 ) -> tuple[float, float]:
    """The narrowest range of the pooled attendance that is printed: calibrate's, else the
    summary's (to 0.1 point), else nothing (0 to 1)."""
    if moments.loc["attendance", "target"] not in ("low", "x"):
        value = float(moments.loc["attendance", "target"])
        return value - 1e-9, value + 1e-9
    if total is not None and total["attendance_pct"] not in ("low", "x"):
        shown = float(total["attendance_pct"]) / 100
        return shown - 0.0005, shown + 0.0005
    return 0.0, 1.0


@pytest.fixture(scope="module")
def quantiles_beside_summary_mean(tmp_path_factory) -> tuple[Path, int]:
    """101 pupils of one calendar of 100 sessions: 3 severely absent (50%), 15 more
    persistently absent (90%), 55 at 95%, one at 97%, 27 at 100% (mean 94.28%)."""
    attended = [50] * 3 + [90] * 15 + [95] * 55 + [97] + [100] * 27
    return records(tmp_path_factory.mktemp("q51"), attended), 3


def test_calibrate_percentiles_beside_the_summarys_mean_hide_severe(
        quantiles_beside_summary_mean, tmp_path) -> None:
    # calibrate withheld its attendance (94.28% beside the summary's 18 persistently absent
    # put the 3 severely absent at 0 to 9) but printed its percentiles, 90%, 95% and 95%,
    # judged against its own withheld mean only; the summary printed the same mean to 0.1
    # point (94.3%, which alone allows 0 to 10). With the median, the lowest 51 pupils each
    # miss at least 5%: 1.8 + 0.4 severe + 33 x 0.05 <= 5.81 puts them at 0 to 5.
    ds, severe = quantiles_beside_summary_mean
    total = summary_total(ds)
    moments = calibrate_moments(ds, tmp_path / "fit")
    n, absent = int(total["with_sessions"]), int(total["persistently_absent"])
    assert absent >= 10 and total["attendance_pct"] not in ("low", "x"), total
    mean, quantiles = printed_mean(moments, total), printed_quantiles(moments)
    assert moments.loc["severe_absence", "events"] == "c"
    seen = possible_severe(n, absent, mean, quantiles)
    assert severe in seen
    assert max(seen) - min(seen) >= 10, (
        f"summary mean {total['attendance_pct']}% of {n} with {absent} persistently absent "
        f"and calibrate's percentiles {quantiles} put the severely absent at {seen}")


def least_variance_of(n: int, severe: int, absent: int, mean: tuple[float, float],
                      quantiles: dict[float, tuple[float, float]]) -> float:
    """The least variance the printed figures allow ``n`` rates with ``severe`` severely
    absent (``inf`` if none): a convex QP (SLSQP from a feasible point of the LP)."""
    from scipy.optimize import minimize

    a, b = rate_constraints(n, severe, absent, mean, quantiles)
    start = linprog(np.zeros(n), A_ub=a, b_ub=b, bounds=[(0.0, 1.0)] * n, method="highs")
    if start.status != 0:
        return float("inf")
    fit = minimize(lambda r: r.var(), start.x, jac=lambda r: 2 * (r - r.mean()) / n,
                   method="SLSQP", bounds=[(0.0, 1.0)] * n,
                   constraints=[{"type": "ineq", "fun": lambda r: b - a @ r,
                                 "jac": lambda r: -a}],
                   options={"maxiter": 1000, "ftol": 1e-12})
    assert fit.success, fit.message
    return float(fit.fun)


@pytest.fixture(scope="module")
def slope_beside_summary_mean(tmp_path_factory) -> tuple[Path, int]:
    """The 101 pupils above with a score correlated 0.6 with their attendance: calibrate's
    slope (0.72 SD per 10 points) caps the rates' variance at 0.019 (it is 0.007)."""
    attended = np.array([50] * 3 + [90] * 15 + [95] * 55 + [97] + [100] * 27)
    rate = attended / 100
    z = (rate - rate.mean()) / rate.std()
    noise = np.random.default_rng(1).normal(0, 1, len(rate))
    score = np.round(100 + 10 * (0.6 * z + 0.8 * noise), 1)
    return records(tmp_path_factory.mktemp("s51"), attended.tolist(), score=score), 3


def test_calibrate_slope_beside_the_summarys_mean_hides_severe(
        slope_beside_summary_mean, tmp_path) -> None:
    # calibrate withheld its attendance and judged its attainment-attendance slope without
    # any mean, but the summary prints it (94.3%): the slope 0.7244 caps the variance of the
    # rates at 1 / (100 x 0.7244^2) = 0.0191, and with 18 persistently absent, a 10th
    # percentile of 90% and the mean at least 94.25%, 9 severely absent pupils need a
    # variance of 0.0199: the 3 are 0 to 8 (without the mean 0 to 10).
    ds, severe = slope_beside_summary_mean
    total = summary_total(ds)
    moments = calibrate_moments(ds, tmp_path / "fit")
    n, absent = int(total["with_sessions"]), int(total["persistently_absent"])
    assert absent >= 10 and total["attendance_pct"] not in ("low", "x"), total
    mean, quantiles = printed_mean(moments, total), printed_quantiles(moments)
    slope = moments.loc["attainment_attendance_slope", "target"]
    seen = possible_severe(n, absent, mean, quantiles)
    if slope not in ("low", "x"):
        # the score is standardised: slope = correlation / SD of the rates (in tens of points)
        ceiling = 1.0 / (100.0 * float(slope) ** 2) * (1 + 1e-9)
        seen = [s for s in seen
                if least_variance_of(n, s, absent, mean, quantiles) <= ceiling]
    assert severe in seen
    assert max(seen) - min(seen) >= 10, (
        f"summary mean {total['attendance_pct']}% of {n} with {absent} persistently absent, "
        f"calibrate's percentiles {quantiles} and slope {slope} put the severely absent at "
        f"{seen}")


@pytest.fixture(scope="module")
def interpolated_percentile(tmp_path_factory) -> tuple[Path, int]:
    """100 pupils of one calendar of 100 sessions: 3 severely absent (50%), 15 more
    persistently absent (90%), 55 at 95%, one at 97%, 26 at 100%. The 10th percentile of 100
    is ``0.1 r_9 + 0.9 r_10`` (numpy's linear interpolation at h = 9.9)."""
    attended = [50] * 3 + [90] * 15 + [95] * 55 + [97] + [100] * 26
    return records(tmp_path_factory.mktemp("i51"), attended), 3


def test_calibrate_interpolated_percentile_beside_the_absent_hides_severe(
        interpolated_percentile, tmp_path) -> None:
    # calibrate printed 18 persistently absent of 100 (as the summary does) and a 10th
    # percentile of 90%: its audit read the percentile as "the 10 lowest at most 90%, the rest
    # at least 90%", which leaves 0 to 10 severely absent. But 18 persistently absent put
    # r_10 at most 90%, so 0.1 r_9 + 0.9 r_10 = 90% puts r_9 at 90% too: at most 9 are
    # severely absent, and the 3 were 0 to 9 (from calibrate's output alone).
    ds, severe = interpolated_percentile
    moments = calibrate_moments(ds, tmp_path / "fit")
    row = moments.loc["persistent_absence"]
    assert row["events"].isdigit(), row
    n, absent = int(row["n"]), int(row["events"])
    mean, quantiles = printed_mean(moments), printed_quantiles(moments)  # (calibrate's alone)
    seen = possible_severe(n, absent, mean, quantiles)
    assert severe in seen
    assert max(seen) - min(seen) >= 10, (
        f"calibrate's {absent} persistently absent of {n} and percentiles {quantiles} put the "
        f"severely absent at {seen}")


@pytest.fixture(scope="module")
def absent_hidden_here_shown_there(tmp_path_factory) -> tuple[Path, int]:
    """85 pupils of one calendar: 14 severely absent (30-50%), 3 more persistently absent
    (80%), 68 at 92-100%; 6 of the 17 absent are FSM pupils (16 FSM in all)."""
    attended = [30] * 4 + [40] * 5 + [50] * 5 + [80] * 3 + [92] * 10 + [95] * 30 + [100] * 28
    fsm = [i in (0, 4, 9, 12, 14, 16) or (i >= 17 and i % 7 == 0) for i in range(85)]
    return records(tmp_path_factory.mktemp("k51"), attended, fsm=fsm), 3


def test_calibrate_hides_no_count_behind_the_summarys_persistently_absent(
        absent_hidden_here_shown_there, tmp_path) -> None:
    # calibrate printed a 10th percentile of 44% (at h = 8.4: the 9 lowest at most 44%, so at
    # least 9 severely absent) and protected the 3 absent but not severely by hiding its own
    # 17 persistently absent; the summary prints the 17, so 17 - severe put them at 0 to 8.
    ds, rest = absent_hidden_here_shown_there
    total = summary_total(ds)
    moments = calibrate_moments(ds, tmp_path / "fit")
    n, absent = int(total["with_sessions"]), int(total["persistently_absent"])
    assert absent >= 10, total
    mean, quantiles = printed_mean(moments, total), printed_quantiles(moments)
    seen = [absent - s for s in possible_severe(n, absent, mean, quantiles)]
    assert rest in seen
    assert max(seen) - min(seen) >= 10, (
        f"the summary's {absent} persistently absent of {n} and calibrate's percentiles "
        f"{quantiles} put those not severely absent at {sorted(seen)}")
