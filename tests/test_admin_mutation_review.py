"""Mutation review of request streams (srmsim.admin): the figures a reader of a run reads (median,
p90 and p99 days, throughput a week, completion within a deadline, staff utilisation, the weekly
table) and the queue logic behind them. Each test here kills mutations of those decisions that
the other admin test files let survive; every expected number comes from a closed form, a count
made by hand from the requests table, or a distribution's known moments, not from the code under
test.

Mutations tried: 94 (desk 42, measures 23, theory 12, weekly 6, events 3, config 8), each
alone, against tests/test_admin.py, test_admin_experiment_review.py, test_admin_hostile_review.py
and test_requests_identifiers_review.py. Killed by those: 30. Survived: 64, of which 52 are
killed by the tests below and 12 are equivalent; survivors left: 0. No defect was found.

Equivalent mutants, and why:
- ``lam <= 0`` -> ``lam < 0`` (arrivals): a rate is never negative (per_week >= 0, amplitude
  < 1) and the Poisson quantile at rate 0 is 0 arrivals either way.
- ``drop < dropout`` -> ``<=``: the uniforms are odd multiples of 2**-54, strictly inside (0, 1);
  they equal a dropout only if one is written with 54 significant bits.
- ``delay_days > 0`` -> ``>= 0`` and ``arrive > now`` -> ``>=``: a zero-length timeout only
  reorders requests that reach the same point at the same instant, still first come first
  served.
- ``week = floor(now / 7)`` -> ``self.week`` (charging staff minutes): a chunk of work starts at
  a time in [7w, 7w + 7) only while week w is being run.
- ``minutes += done`` -> ``+= dt * rate``: equal up to the last bit (dt is done / rate).
- ``area / _last`` -> ``area / env.now``: read after a week is closed, when the two are equal.
- summary ``dropped`` from the weekly counts instead of the requests: both count each drop-out
  once.
- ``due & completed & in_time`` -> ``due & in_time``: in time means a finish within the deadline
  (NaN, still open, is never in time) and a drop-out in time is not due.
- ``p <= 1 - C`` -> ``<`` (wait quantile): at equality the exponential branch gives 0.0 too.
- ``within_deadline = where(due > 0, ...)`` -> ``due >= 0``: 0 / 0 is NaN under the errstate.
- removing the clip of the deadline week to [0, weeks - 1]: a due request's deadline is after
  day 0 and at most the run's end, so the week is already in range.
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from srmsim.admin.config import RequestStream
from srmsim.admin.desk import MAX_ATTEMPTS, RequestDesk
from srmsim.admin.measures import REQUEST_OUTCOMES, deadline_cohort, stream_summary
from srmsim.admin.theory import erlang_c, littles_law_gap, mmc_mean_wait, mmc_wait_quantile
from srmsim.admin.weekly import stream_weekly, with_stream_rows
from srmsim.errors import ScenarioError
from srmsim.rng import CRN
from srmsim.scenario import scenario_from_dict


def make_stream(**change) -> RequestStream:
    """One step of one clerk working all week (168 h); ``change`` replaces top-level keys."""
    spec = {"arrivals": {"per_week": 0.0},
            "steps": [{"name": "serve", "role": "clerk", "minutes": 60.0}],
            "staff": {"clerk": {"staff": 1, "hours_per_week": 168.0}}, **change}
    return RequestStream.model_validate(spec)


def run_desk(stream: RequestStream, weeks: int, seed: int = 1,
             pool: dict[str, float] | None = None) -> RequestDesk:
    desk = RequestDesk({"s": stream}, CRN(seed), weeks)
    for week in range(weeks):
        desk.advance(week, pool)
    return desk


def quantile_by_hand(values: np.ndarray, p: float) -> float:
    """Hyndman and Fan's type 7 (linear between order statistics): x[h] with h = p (n - 1)."""
    x = np.sort(values)
    h = p * (len(x) - 1)
    lo = math.floor(h)
    hi = min(lo + 1, len(x) - 1)
    return float(x[lo] + (h - lo) * (x[hi] - x[lo]))


# ------------------------------------------------------------------ the summary's figures
def summary_inputs() -> tuple[RequestStream, pd.DataFrame, pd.DataFrame, np.ndarray]:
    """101 completed requests with skewed waits, 3 dropped, 2 open, over 20 weeks."""
    rng = np.random.default_rng(7)
    days = np.round(rng.exponential(10.0, 101), 3)
    n = len(days)
    arrival = np.concatenate([np.linspace(0, 100, n), [5.0, 6.0, 7.0], [30.0, 100.0]])
    status = ["completed"] * n + ["dropped"] * 3 + ["open"] * 2
    in_system = np.concatenate([days, [1.0, 2.0, 3.0], [np.nan, np.nan]])
    requests = pd.DataFrame({
        "stream": "s", "request": np.arange(len(status)), "arrival_day": arrival,
        "finish_day": arrival + in_system, "status": status, "days_in_system": in_system,
        "queue_days": in_system / 4, "staff_minutes": np.full(len(status), 30.0),
        "reworks": 0})
    weekly = pd.DataFrame({
        "stream": "s", "run_week": np.arange(20), "arrivals": [6] * 10 + [0] * 9 + [1],
        "completed": [5] * 20, "dropped": [0] * 17 + [1, 1, 1],
        "in_system": np.arange(20) % 7, "staff_minutes_used_clerk": np.full(20, 100.0),
        "staff_minutes_available_clerk": np.full(20, 400.0)})
    stream = make_stream(backlog=45, deadline_days=12.0)
    return stream, requests, weekly, days


def test_summary_percentiles_are_those_of_the_completed_waits() -> None:
    """median, p90 and p99 are those quantiles of the completed requests' days in the system
    (linear interpolation), and the mean is the mean: a p99 printed as p95, a median that was
    the mean, both survived."""
    stream, requests, weekly, days = summary_inputs()
    s = stream_summary("s", stream, requests, weekly, 2.5)
    assert s["median_days"] == pytest.approx(quantile_by_hand(days, 0.5), abs=1e-12)
    assert s["p90_days"] == pytest.approx(quantile_by_hand(days, 0.9), abs=1e-12)
    assert s["p99_days"] == pytest.approx(quantile_by_hand(days, 0.99), abs=1e-12)
    assert s["mean_days"] == pytest.approx(days.sum() / len(days))
    assert s["median_days"] < s["mean_days"]  # skewed: the two differ
    assert s["p90_days"] < s["p99_days"] < days.max()
    # queue days are a quarter of each completed request's days here
    assert s["mean_queue_days"] == pytest.approx(days.mean() / 4)


def test_summary_counts_throughput_backlog_and_the_oldest_open_request() -> None:
    """Throughput is completions a week (not a day), the backlog is the last week's, the oldest
    open request is the earliest-arriving open one, aged at the run's end."""
    stream, requests, weekly, days = summary_inputs()
    s = stream_summary("s", stream, requests, weekly, 2.5)
    assert s["throughput_per_week"] == pytest.approx(101 / 20)
    assert s["backlog_end"] == 19 % 7
    assert s["oldest_open_days"] == pytest.approx(20 * 7 - 30.0)
    assert s["requests"] == 106 and s["backlog_start"] == 45
    assert s["arrivals"] == 61 and s["completed"] == 101
    assert s["dropped"] == 3 and s["open_at_end"] == 2
    assert s["utilisation_clerk"] == pytest.approx(0.25)
    assert s["mean_in_system"] == 2.5


def test_deadline_share_counts_the_boundary_exactly() -> None:
    """Completed in exactly ``deadline_days`` is in time; a deadline at the run's last instant
    fell inside the run (due, and missed if still open). A strict comparison moved either."""
    requests = pd.DataFrame({
        "arrival_day": [0.0, 0.0, 56.0, 56.0, 57.0],
        "status": ["completed", "completed", "open", "completed", "open"],
        "days_in_system": [14.0, 14.0 + 1e-9, np.nan, 14.0, np.nan]})
    due, met = deadline_cohort(requests, 14.0, 70.0)
    assert due.tolist() == [True, True, True, True, False]
    assert met.tolist() == [True, False, False, True, False]
    # the summary's share: 2 met of 4 due
    stream, _, weekly, _ = summary_inputs()
    r = requests.assign(stream="s", staff_minutes=0.0, queue_days=0.0)
    s = stream_summary("s", stream.model_copy(update={"deadline_days": 14.0}), r,
                       weekly.iloc[:10], math.nan)
    assert s["within_deadline"] == pytest.approx(2 / 4)
    assert s["mean_in_system"] is None


def test_weekly_deadlines_fall_in_the_week_that_holds_them() -> None:
    """Week w is the days (7w, 7w + 7]: a deadline on day 14 is week 1's, on day 14.5 week 2's,
    on the run's last day the last week's."""
    stream = make_stream(deadline_days=7.0)
    requests = pd.DataFrame({
        "stream": "s", "arrival_day": [0.0, 7.0, 7.5, 14.0, 13.0],
        "status": ["completed", "completed", "open", "completed", "completed"],
        "days_in_system": [7.0, 3.0, np.nan, 8.0, 1.0]})
    counted = pd.DataFrame({"stream": "s", "run_week": [0, 1, 2]})
    w = stream_weekly(counted, requests, {"s": stream})
    # deadlines: 7 (week 0, met), 14 (week 1, met), 14.5 (week 2, open: missed), 21 (week 2,
    # late: missed), 20 (week 2, met)
    assert w["due"].tolist() == [1, 1, 3]
    assert w["met_deadline"].tolist() == [1, 1, 1]
    assert w["within_deadline"].tolist() == pytest.approx([1.0, 1.0, 1 / 3])


# ------------------------------------------------------------------ outcomes of experiments
def fake_run() -> SimpleNamespace:
    """Two streams' requests and summaries, as an experiment's run holds them."""
    a_days = np.arange(1.0, 41.0)  # 40 completed
    b_days = np.array([100.0, 200.0, 300.0, 400.0, 500.0])
    requests = pd.DataFrame({
        "stream": ["a"] * 42 + ["b"] * 7,
        "arrival_day": np.r_[np.zeros(40), 10.0, 3.0, np.zeros(5), 50.0, 300.0],
        "status": ["completed"] * 40 + ["dropped", "open"] + ["completed"] * 5 + ["open"] * 2,
        "days_in_system": np.r_[a_days, 2.0, np.nan, b_days, np.nan, np.nan]})
    summary = {"weeks": 100, "requests": {
        "a": {"deadline_days": 20.0, "oldest_open_days": 697.0, "backlog_end": 1,
              "throughput_per_week": 0.4, "staff_hours": 10.0},
        "b": {"deadline_days": 350.0, "oldest_open_days": 650.0, "backlog_end": 1,
              "throughput_per_week": 0.05, "staff_hours": 2.5}}}
    return SimpleNamespace(requests=requests, summary=summary)


def test_request_outcomes_of_a_run_are_the_named_quantiles_and_totals() -> None:
    run = fake_run()
    done = np.r_[np.arange(1.0, 41.0), [100.0, 200.0, 300.0, 400.0, 500.0]]
    for name, p in (("request_wait_median_days", 0.5), ("request_wait_p90_days", 0.9),
                    ("request_wait_p99_days", 0.99)):
        assert REQUEST_OUTCOMES[name][4](run) == pytest.approx(quantile_by_hand(done, p)), name
    outcome = {k: v[4](run) for k, v in REQUEST_OUTCOMES.items()}
    assert outcome["request_oldest_open_days"] == 697.0  # the older of the two streams'
    assert outcome["request_backlog_end"] == 2
    assert outcome["request_throughput"] == pytest.approx(0.45)
    assert outcome["request_staff_hours"] == pytest.approx(12.5)
    # deadlines over both streams, horizon 700 days: a: 20 of 40 completed in time, the
    # dropped one (after 2 days, before its deadline) not due, the open one due and missed;
    # b: 3 of the 5 completed are in time (100, 200, 300 days), the open ones' deadlines (days
    # 400 and 650) are in the run (of 100 weeks, 700 days): missed
    assert outcome["request_within_deadline"] == pytest.approx((20 + 3) / (41 + 7))
    # a run too short for any deadline to fall in it: no share, not 0
    run.summary["weeks"] = 2
    assert math.isnan(REQUEST_OUTCOMES["request_within_deadline"][4](run))


# ------------------------------------------------------------------ arrivals
def test_an_arrivals_file_is_read_sorted_with_day_zero_and_week_boundaries(tmp_path: Path
                                                                          ) -> None:
    """Day 0 is the run's first instant (allowed), rows need not be in order, and a day on a
    week boundary (7.0) is the next week's first arrival, not the week before's."""
    path = tmp_path / "arrivals.csv"
    path.write_text("day\n7.0\n0\n3.5\n14.0\n13.0\n")
    stream = make_stream(arrivals={"file": str(path)},
                         steps=[{"name": "a", "role": "clerk", "minutes": 60.0,
                                 "service": "fixed"}])
    desk = run_desk(stream, 3)
    r = desk.requests()
    np.testing.assert_array_equal(r["arrival_day"], [0.0, 3.5, 7.0, 13.0, 14.0])
    # an hour of work each, one clerk working all week: done an hour after arriving
    np.testing.assert_allclose(r["days_in_system"], 1 / 24)
    assert desk.weekly()["arrivals"].tolist() == [2, 2, 1]


def test_an_arrivals_file_row_number_is_the_file_s_line(tmp_path: Path) -> None:
    from srmsim.admin.desk import read_arrival_days
    from srmsim.errors import SrmsimError

    path = tmp_path / "arrivals.csv"
    path.write_text("day\n1\n2\n-3\n")  # the header is line 1: -3 is on line 4
    with pytest.raises(SrmsimError, match="row 4: day must be"):
        read_arrival_days(path)


@pytest.mark.parametrize(("text", "says"), [
    ("day\n1\n\n3\n", "row 3: day must be a finite number >= 0 (got nothing"),
    ("day,who\n1,a\n\n3,b\n-1,c\n", "row 3: day must be"),  # the blank line, not row 5
    ("day\n1\n\nx\n", "row 3: day must be"),
    ("day\n1\n  \n3\n", "row 3: day must be"),
    ("day\n1\n\n2\n-3\n", "row 3: day must be"),  # -3 was named as row 4
    ("day\n1\nnan\n", "row 3: day must be a finite number >= 0 (got nan)"),  # not "nothing"
    ("day\n1\nNA\n", "row 3: day must be a finite number >= 0 (got 'NA')"),
    ("day\r1\r\r3\r", "row 3: day must be"),
])
def test_a_blank_line_amid_the_arrivals_is_named_at_its_line(tmp_path: Path, text: str,
                                                             says: str) -> None:
    """A blank line between arrivals was dropped (a request whose day was lost, silently), and
    every row after it was numbered one line too early."""
    from srmsim.admin.desk import read_arrival_days
    from srmsim.errors import SrmsimError

    path = tmp_path / "arrivals.csv"
    path.write_text(text)
    with pytest.raises(SrmsimError, match=re.escape(says)):
        read_arrival_days(path)


@pytest.mark.parametrize("text", ["day\n1\n3\n\n\n", "day\r\n1\r\n3\r\n\r\n", "day\n1\n3",
                                  "day,who\n1,a\n3,b\n\n", "day\r1\r3\r\r\r",  # old Mac endings
                                  "day\n1\n3\n" + "\n" * 70_000])  # past any block read
def test_blank_lines_at_the_end_of_an_arrivals_file_are_no_arrivals(tmp_path: Path,
                                                                    text: str) -> None:
    from srmsim.admin.desk import read_arrival_days

    path = tmp_path / "arrivals.csv"
    path.write_text(text)
    assert read_arrival_days(path).tolist() == [1.0, 3.0]


def test_the_memory_check_counts_the_file_s_arrivals_inside_the_run(tmp_path: Path) -> None:
    """Arrivals on days 100 to 199 of a 39-week run (273 days) are all in it; those after the
    run's end are not. The one estimate of a run's size counts them (helper 245: the desk
    checked them itself, so `srmsim validate` and a study's check before its runs did not)."""
    from srmsim.admin.desk import arrivals_in_run
    from srmsim.model import _run_size
    from srmsim.scenario import scenario_from_dict

    path = tmp_path / "arrivals.csv"
    path.write_text("day\n" + "\n".join(str(d) for d in range(100, 300)) + "\n")
    assert arrivals_in_run(path, 39) == 273 - 100
    scenario = scenario_from_dict({"name": "s", "trust": {"n_schools": 0}, "requests": {"s": {
        "arrivals": {"file": str(path)}, "steps": [
            {"name": "a", "role": "clerk", "minutes": 1.0},
            {"name": "b", "role": "clerk", "minutes": 1.0}],
        "staff": {"clerk": {"staff": 1}}}}})
    assert _run_size(scenario, np.zeros(0, dtype=np.int64))[2:] == (273 - 100, 2 * (273 - 100))


def weekly_arrivals(stream: RequestStream, weeks: int, seed: int) -> tuple[np.ndarray,
                                                                          pd.DataFrame]:
    desk = run_desk(stream, weeks, seed)
    return desk.weekly()["arrivals"].to_numpy(), desk.requests()


def fast_service(**arrivals) -> RequestStream:
    return make_stream(arrivals=arrivals, steps=[{"name": "a", "role": "clerk", "minutes": 1.0,
                                                  "service": "fixed"}],
                       staff={"clerk": {"staff": 20, "hours_per_week": 168.0}})


def test_seasonal_arrivals_peak_in_the_peak_week() -> None:
    """Weekly counts are Poisson around per_week (1 + A cos(2 pi (w - peak) / 52)): their
    chi-square against those means is that of 40 Poisson counts, and the busiest weeks are
    around the peak."""
    weeks, per_week, amplitude, peak = 40, 300.0, 0.5, 10
    counts, _ = weekly_arrivals(fast_service(per_week=per_week, seasonality={
        "amplitude": amplitude, "peak_week": peak}), weeks, seed=3)
    w = np.arange(weeks)
    mean = per_week * (1 + amplitude * np.cos(2 * np.pi * (w - peak) / 52))
    chi2 = float(((counts - mean) ** 2 / mean).sum())
    assert chi2 < sps.chi2.ppf(0.999, weeks), chi2
    assert counts[8:13].mean() > 400 > 200 > counts[34:39].mean()


def test_arrivals_are_a_poisson_process_numbered_in_order() -> None:
    """Weekly counts vary as a Poisson's (variance = mean, not a fixed count each week), the
    times are uniform over the week (Kolmogorov-Smirnov), and requests are numbered in order of
    arrival (what CRN pairing relies on)."""
    weeks = 60
    counts, r = weekly_arrivals(fast_service(per_week=40.0), weeks, seed=5)
    dispersion = counts.var(ddof=1) * (weeks - 1) / counts.mean()  # ~ chi2(weeks - 1)
    assert sps.chi2.ppf(0.0005, weeks - 1) < dispersion < sps.chi2.ppf(0.9995, weeks - 1)
    assert r["arrival_day"].is_monotonic_increasing
    assert r["request"].tolist() == list(range(len(r)))
    offsets = (r["arrival_day"].to_numpy() % 7) / 7
    assert sps.kstest(offsets, "uniform").pvalue > 0.001


# ------------------------------------------------------------------ service and rework
def test_lognormal_and_exponential_task_sizes_have_the_asked_mean_and_cv() -> None:
    """A task's staff minutes have mean ``minutes`` and coefficient of variation ``cv``
    (lognormal) or 1 (exponential); a fixed task is exactly ``minutes``."""
    n = 4000
    for service, cv in (("lognormal", 0.5), ("lognormal", 2.0), ("exponential", 1.0),
                        ("fixed", 0.0)):
        step = {"name": "a", "role": "clerk", "minutes": 60.0, "service": service,
                **({"cv": cv} if service == "lognormal" else {})}
        stream = make_stream(backlog=n, steps=[step],
                             staff={"clerk": {"staff": 400, "hours_per_week": 168.0}})
        r = run_desk(stream, 2).requests()
        assert (r["status"] == "completed").all()
        size = r["staff_minutes"].to_numpy() / 60.0
        if service == "fixed":
            np.testing.assert_allclose(size, 1.0)
            continue
        # log-scale moments are exact for the lognormal; the sample's mean within 4 SE
        se = cv / math.sqrt(n)
        assert abs(size.mean() - 1.0) < 4 * se, (service, cv, size.mean())
        if service == "lognormal":
            sigma2 = math.log1p(cv * cv)
            logs = np.log(size)
            assert logs.mean() == pytest.approx(-sigma2 / 2, abs=4 * math.sqrt(sigma2 / n))
            assert logs.var(ddof=1) == pytest.approx(sigma2, rel=4 * math.sqrt(2 / n))
        else:
            assert size.std(ddof=1) == pytest.approx(1.0, abs=0.1)


def test_variants_changing_the_task_distribution_keep_task_sizes_in_order() -> None:
    """Common random numbers across a variant that changes a step's distribution: a request
    whose task is large under the exponential is large under the lognormal too (every size is
    an increasing function of one uniform), so the sizes are perfectly rank-correlated."""
    sizes = {}
    for service in ("exponential", "lognormal"):
        stream = make_stream(backlog=500, steps=[{"name": "a", "role": "clerk",
                                                  "minutes": 60.0, "service": service}],
                             staff={"clerk": {"staff": 100, "hours_per_week": 168.0}})
        sizes[service] = run_desk(stream, 2, seed=4).requests()["staff_minutes"].to_numpy()
    assert sps.spearmanr(sizes["exponential"], sizes["lognormal"])[0] == pytest.approx(1.0)


def test_a_reworked_attempt_draws_a_new_task_size() -> None:
    """Each attempt of a step has its own task size (a second attempt is no copy of the
    first): with exponential sizes the first two attempts are uncorrelated."""
    stream = make_stream(backlog=1500, steps=[{"name": "a", "role": "clerk", "minutes": 60.0,
                                               "rework": 0.5}],
                         staff={"clerk": {"staff": 300, "hours_per_week": 168.0}})
    ev = run_desk(stream, 2).events()
    done = ev[ev["event"] == "finished"].pivot(index="request", columns="attempt",
                                               values="minutes")
    both = done[[1, 2]].dropna()
    assert len(both) > 500
    assert (both[1] != both[2]).all()
    assert abs(np.corrcoef(both[1], both[2])[0, 1]) < 4 / math.sqrt(len(both))


def test_a_step_is_done_at_most_max_attempts_times() -> None:
    """With rework 0.9 a third of the requests reach the cap: MAX_ATTEMPTS attempts, so
    MAX_ATTEMPTS - 1 reworks, never more."""
    stream = make_stream(backlog=300, steps=[{"name": "a", "role": "clerk", "minutes": 1.0,
                                              "rework": 0.9}],
                         staff={"clerk": {"staff": 50, "hours_per_week": 168.0}})
    r = run_desk(stream, 2).requests()
    assert (r["status"] == "completed").all()
    assert r["reworks"].max() == MAX_ATTEMPTS - 1
    # P(reworks >= 11) = 0.9 ** 11: about 31% of 300
    share = (r["reworks"] == MAX_ATTEMPTS - 1).mean()
    assert share == pytest.approx(0.9 ** (MAX_ATTEMPTS - 1), abs=4 * math.sqrt(0.25 / 300))


def test_an_automated_step_without_staff_minutes_does_not_queue_for_staff() -> None:
    """A step automated to 0 staff minutes passes at once, even while every clerk is busy with
    another step: it waited in the clerks' queue (a 'started' event, and days in the queue)."""
    steps = [{"name": "intake", "role": "clerk", "minutes": 600.0, "service": "fixed"},
             {"name": "decision", "role": "clerk", "minutes": 600.0,
              "automated": {"minutes": 0.0}}]
    stream = make_stream(backlog=20, steps=steps, automate="all")
    desk = run_desk(stream, 3)
    ev, r = desk.events(), desk.requests()
    assert not ((ev["event"] == "started") & (ev["step"] == 2)).any()
    # each request leaves when its intake is done: the k-th after k * 600 minutes of one clerk
    assert (r["status"] == "completed").all()
    np.testing.assert_allclose(np.sort(r["finish_day"].to_numpy()),
                               np.arange(1, 21) * 600 / 1440)
    np.testing.assert_allclose(r["queue_days"], r["days_in_system"] - 600 / 1440)


# ------------------------------------------------------------------ the weekly figures
def test_weekly_figures_are_those_of_the_week_s_requests() -> None:
    """Each week's mean and 90th percentile wait are those of the requests completed in the
    week; the staff minutes available are staff x hours x 60; the requests waiting for staff
    are those in the system beyond the staff (one step, no delays)."""
    servers = 3
    # a 240-minute task takes 240 x 168 / 37.5 calendar minutes: 28.1 a week for 3 clerks
    stream = make_stream(arrivals={"per_week": 25.0}, backlog=10,
                         steps=[{"name": "a", "role": "clerk", "minutes": 240.0}],
                         staff={"clerk": {"staff": servers, "hours_per_week": 37.5}})
    desk = run_desk(stream, 12, seed=9)
    w, r = desk.weekly(), desk.requests()
    done = r[r["status"] == "completed"]
    week_of = np.floor(done["finish_day"] / 7).astype(int)
    for week, row in w.set_index("run_week").iterrows():
        days = done.loc[week_of == week, "days_in_system"].to_numpy()
        assert row["completed"] == len(days)
        if len(days):
            assert row["wait_mean_days"] == pytest.approx(days.mean(), rel=1e-12)
            assert row["wait_p90_days"] == pytest.approx(quantile_by_hand(days, 0.9),
                                                         rel=1e-12)
        assert row["staff_minutes_available_clerk"] == pytest.approx(servers * 37.5 * 60)
        assert row["waiting_for_staff"] == max(row["in_system"] - servers, 0)
    assert (w["waiting_for_staff"] > 0).any() and w["completed"].gt(2).all()


def test_utilisation_and_throughput_of_a_stable_queue_are_its_load_and_arrivals() -> None:
    """An M/M/c queue in steady state: staff are busy rho = lambda / (c mu) of the time and
    completions a week equal arrivals a week (lambda x 7); the summary says so within
    Monte-Carlo error over independent seeds."""
    servers, lam, weeks = 3, 2.1, 80  # a day's work a request, 168 h a week: mu = 1 a day
    stream = make_stream(arrivals={"per_week": lam * 7}, steps=[
        {"name": "a", "role": "clerk", "minutes": 1440.0}],
        staff={"clerk": {"staff": servers, "hours_per_week": 168.0}})
    util, thru = [], []
    for seed in range(4):
        desk = run_desk(stream, weeks, seed=seed)
        w = desk.weekly().iloc[10:]  # ten weeks' warm-up
        util.append(w["staff_minutes_used_clerk"].sum()
                    / w["staff_minutes_available_clerk"].sum())
        s = stream_summary("s", stream, desk.requests(), desk.weekly(), math.nan)
        thru.append(s["throughput_per_week"])
        assert s["utilisation_clerk"] == pytest.approx(
            desk.weekly()["staff_minutes_used_clerk"].sum() / (weeks * servers * 7 * 1440))
    for sims, truth in ((util, lam / servers), (thru, lam * 7)):
        se = np.std(sims, ddof=1) / math.sqrt(len(sims))
        assert abs(np.mean(sims) - truth) < 4 * se + 0.02 * truth, (sims, truth)


def test_mean_in_system_averages_over_the_whole_run_idle_weeks_included() -> None:
    """Little's law on a run that ends idle: one request of a day's work in a two-week run is
    in the system 1/14 of the time (the average stopped at the last event: 1)."""
    stream = make_stream(backlog=1, steps=[{"name": "a", "role": "clerk", "minutes": 1440.0,
                                            "service": "fixed"}])
    desk = run_desk(stream, 2)
    assert desk.streams["s"].time_average_in_system == pytest.approx(1 / 14)
    r = desk.requests()
    lam, big_w = len(r) / 14, r["days_in_system"].mean()
    assert littles_law_gap(desk.streams["s"].time_average_in_system, lam, big_w) == (
        pytest.approx(0.0, abs=1e-12))


def test_pool_minutes_none_left_stops_work_until_some_are() -> None:
    """A pool role with no minutes left (or an overdrawn pool) does no work and shows none
    available; the work resumes when minutes come back."""
    stream = make_stream(backlog=2, steps=[{"name": "a", "role": "clerk", "minutes": 60.0,
                                            "service": "fixed"}],
                         staff={"clerk": {"staff": 1, "from_pool": True}})
    desk = RequestDesk({"s": stream}, CRN(1), 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no work / 0 minutes a day (a numpy divide-by-zero)
        desk.advance(0, {"clerk": 0.0})
        desk.advance(1, {"clerk": -50.0})
        desk.advance(2, {"clerk": 150.0})
    w = desk.weekly()
    assert w["staff_minutes_available_clerk"].tolist() == [0.0, 0.0, 150.0]
    assert w["completed"].tolist() == [0, 0, 2]
    assert w["staff_minutes_used_clerk"].tolist() == pytest.approx([0.0, 0.0, 120.0])
    # over the first two weeks no minute was available: utilisation is undefined, not 0 / 0
    first = stream_summary("s", stream, desk.requests(), w.iloc[:2], math.nan)
    assert first["utilisation_clerk"] is None
    assert stream_summary("s", stream, desk.requests(), w, math.nan)[
        "utilisation_clerk"] == pytest.approx(120 / 150)


def test_requests_open_at_the_end_are_at_the_step_of_their_last_event() -> None:
    """The event log's ``open_at_end`` row of each open request is at the step and attempt of
    that request's last event. Here the clerks (a pool role) have no minutes in the second
    week, so the last requests wait at step 1 while the officer's step-2 events come last in
    the log (the highest-numbered open request took the log's last event's step when its own
    events were left out)."""
    stream = make_stream(backlog=20, steps=[
        {"name": "a", "role": "clerk", "minutes": 60.0, "service": "fixed"},
        {"name": "b", "role": "officer", "minutes": 600.0, "service": "fixed"}],
        staff={"clerk": {"staff": 1, "from_pool": True}, "officer": {"staff": 1}})
    desk = RequestDesk({"s": stream}, CRN(1), 2)
    desk.advance(0, {"clerk": 600.0})  # ten requests through step 1
    desk.advance(1, {"clerk": 0.0})
    ev = desk.events()
    end = ev[ev["event"] == "open_at_end"].set_index("request")
    last = (ev[ev["event"] != "open_at_end"].drop_duplicates("request", keep="last")
            .set_index("request").loc[end.index])
    assert ev[ev["event"] != "open_at_end"]["step"].iloc[-1] == 2
    assert end.loc[19, "step"] == 1 and set(end["step"]) == {1, 2}
    np.testing.assert_array_equal(end["step"], last["step"])
    np.testing.assert_array_equal(end["attempt"], last["attempt"])
    r = desk.requests().set_index("request")
    assert end.index.tolist() == r.index[r["status"] == "open"].tolist()
    # the officer's request in progress carries the minutes worked on it so far
    in_service = last["event"] == "started"
    assert in_service.sum() == 2  # the officer's request, and the clerk's (stalled)
    np.testing.assert_allclose(end.loc[in_service, "minutes"],
                               r.loc[end.index[in_service], "staff_minutes"]
                               - ev[(ev["event"] == "finished")].groupby("request")["minutes"]
                               .sum().reindex(end.index[in_service]).fillna(0))


def test_stream_rows_carry_the_week_of_the_year() -> None:
    """weekly.parquet's stream rows: ``year`` and ``week`` of a run week, as the schools' rows
    have them (39 weeks a year), and ``school`` a nullable integer."""
    from srmsim import calendar

    rw = np.arange(0, 80, 7)
    requests_weekly = pd.DataFrame({"stream": "s", "run_week": rw, "arrivals": 1})
    schools = pd.DataFrame({"school": [0, 1], "run_week": [0, 0], "year": 0, "week": 0})
    out = with_stream_rows(schools, requests_weekly)
    streams = out[out["stream"].notna()]
    assert streams["year"].tolist() == (rw // calendar.WEEKS_PER_YEAR).tolist()
    assert streams["week"].tolist() == (rw % calendar.WEEKS_PER_YEAR).tolist()
    assert str(out["school"].dtype) == "Int64"


def test_events_carry_the_week_of_the_year() -> None:
    from srmsim import calendar

    stream = make_stream(arrivals={"per_week": 2.0}, steps=[{"name": "a", "role": "clerk",
                                                             "minutes": 10.0}])
    ev = run_desk(stream, 45, seed=2).events()
    assert ev["run_week"].max() > calendar.WEEKS_PER_YEAR
    np.testing.assert_array_equal(ev["week"], ev["run_week"] % calendar.WEEKS_PER_YEAR)
    np.testing.assert_array_equal(ev["year"], ev["run_week"] // calendar.WEEKS_PER_YEAR)


# ------------------------------------------------------------------ theory at its edges
def test_queueing_formulas_at_zero_arrivals_and_the_zero_quantile() -> None:
    """No arrivals: nobody waits (a valid input, not an error); the 0 quantile of the wait is
    0; Little's gap of an empty system is -1 and undefined without time in the system."""
    assert erlang_c(2, 0.0) == 0.0
    assert mmc_mean_wait(0.0, 1.0, 2) == 0.0
    assert mmc_wait_quantile(0.5, 1.0, 1, 0.0) == 0.0
    assert mmc_wait_quantile(0.0, 1.0, 3, 0.99) == 0.0
    assert littles_law_gap(0.0, 1.0, 1.0) == -1.0
    assert math.isnan(littles_law_gap(1.0, 1.0, 0.0))
    assert math.isnan(littles_law_gap(1.0, 0.0, 1.0))


def test_queueing_formulas_with_service_rates_other_than_one() -> None:
    """M/M/1 and M/M/2 with mu = 2 a day, and the same queue in weeks: the offered load is
    lambda / mu, and a wait comes out in the rates' unit (days in, days out; weeks in, weeks
    out). The other tests all had mu = 1, where lambda / mu, lambda mu and lambda agree."""
    # M/M/1, lambda 1, mu 2: rho 0.5; mean wait rho / (mu - lambda); half never wait and the
    # rest wait Exp(mu - lambda): the 0.75 quantile is the median of that, ln 2
    assert mmc_mean_wait(1.0, 2.0, 1) == pytest.approx(0.5)
    assert mmc_wait_quantile(1.0, 2.0, 1, 0.75) == pytest.approx(math.log(2))
    # M/M/2, lambda 3, mu 2: a = 1.5; C = (a^2 / 2! x 2 / (2 - a)) / (1 + a + that) = 4.5 / 7
    c_wait = 4.5 / 7
    assert erlang_c(2, 1.5) == pytest.approx(c_wait)
    assert mmc_mean_wait(3.0, 2.0, 2) == pytest.approx(c_wait / (2 * 2.0 - 3.0))
    assert mmc_mean_wait(21.0, 14.0, 2) == pytest.approx(c_wait / 7)  # in weeks
    q = 1 - c_wait / 2  # half of those who wait wait longer than ln 2 / (c mu - lambda)
    assert mmc_wait_quantile(21.0, 14.0, 2, q) == pytest.approx(math.log(2) / 7)


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("change, words", [
    ({"staff": {"clerk": {"staff": 1, "hours_per_week": 169.0}}},
     "hours_per_week: Input should be less than or equal to 168"),
    ({"steps": [{"name": "a", "role": "clerk", "minutes": 5, "rework": 0.95}]},
     "rework: Input should be less than or equal to 0.9"),
    ({"arrivals": {"per_week": 5, "seasonality": {"amplitude": 1.0}}},
     "amplitude: Input should be less than 1"),
    ({"arrivals": {"file": "a.csv", "seasonality": {"amplitude": 0.2}}}, "seasonality"),
    ({"arrivals": {"file": "a.csv", "per_week": 3}}, "either per_week or file"),
    ({"staff": {"clerk": {"staff": 0}}}, "clerk.staff: Input should be greater than or equal to 1"),
    ({"steps": []}, "steps: List should have at least 1 item"),
])
def test_streams_that_cannot_mean_what_they_say_are_refused(change: dict, words: str) -> None:
    """A week has 168 hours; a rework chance of 0.95 would hit the attempt cap, not be 0.95;
    an amplitude of 1 or more makes some weeks' rate zero or negative; a role without people
    or a stream without steps cannot serve anything."""
    spec = {"arrivals": {"per_week": 5}, "steps": [{"name": "a", "role": "clerk",
                                                    "minutes": 5}],
            "staff": {"clerk": {"staff": 1}}, **change}
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict({"trust": {"n_schools": 0}, "requests": {"x": spec}}, "t")
    assert words in str(err.value)
