"""Request streams: checked against queueing theory (M/M/c, Little's law, overload) and end to end.

With Poisson arrivals, exponential service and always-working staff a stream is an M/M/c queue,
so its simulated waits must match Erlang C within Monte-Carlo error.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import srmsim
from srmsim.admin.config import RequestStream
from srmsim.admin.desk import RequestDesk
from srmsim.admin.measures import deadline_cohort
from srmsim.admin.theory import erlang_c, mmc_mean_wait, mmc_wait_quantile
from srmsim.admin.weekly import PREFIX, stream_weekly
from srmsim.cli import main
from srmsim.errors import ScenarioError
from srmsim.rng import CRN
from srmsim.scenario import load_scenario, scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]


def mmc_stream(arrivals_per_day: float, servers: int, minutes: float = 1440.0,
               **extra) -> RequestStream:
    """An M/M/c stream: staff always at work (168 h a week), one exponential step."""
    return RequestStream.model_validate({
        "arrivals": {"per_week": arrivals_per_day * 7},
        "steps": [{"name": "serve", "role": "clerk", "minutes": minutes, **extra}],
        "staff": {"clerk": {"staff": servers, "hours_per_week": 168.0}},
    })


def simulate(stream: RequestStream, weeks: int, seed: int) -> tuple[pd.DataFrame, RequestDesk]:
    desk = RequestDesk({"s": stream}, CRN(seed), weeks)
    for week in range(weeks):
        desk.advance(week)
    return desk.requests(), desk


# ----------------------------------------------------------------------------- theory
def test_erlang_c_matches_textbook_values() -> None:
    assert erlang_c(1, 0.7) == pytest.approx(0.7)  # M/M/1: P(wait) = rho
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)  # c = 2, a = 1
    # M/M/1 mean wait rho / (mu - lambda)
    assert mmc_mean_wait(0.5, 1.0, 1) == pytest.approx(1.0)
    assert mmc_wait_quantile(0.5, 1.0, 1, 0.4) == 0.0  # 50% never wait
    assert mmc_wait_quantile(0.5, 1.0, 1, 0.75) == pytest.approx(math.log(2) / 0.5)
    with pytest.raises(ValueError):
        erlang_c(3, 3.0)


@pytest.mark.once
@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_waits_match_erlang_c_within_monte_carlo_error(rho: float) -> None:
    servers = 3
    lam = rho * servers  # per day; service takes a day on average
    waits, waited = [], []
    for seed in range(5):
        df, _ = simulate(mmc_stream(lam, servers), weeks=200, seed=seed)
        done = df[(df["status"] == "completed") & (df["arrival_day"] > 140)]  # 20 weeks warm-up
        waits.append(done["queue_days"].mean())
        waited.append((done["queue_days"] > 0).mean())
    for sims, theory in [(waits, mmc_mean_wait(lam, 1.0, servers)),
                         (waited, erlang_c(servers, lam))]:
        mean, se = np.mean(sims), np.std(sims, ddof=1) / np.sqrt(len(sims))
        assert abs(mean - theory) < 4 * se + 0.02 * theory, (rho, mean, se, theory)


@pytest.mark.slow
@pytest.mark.parametrize("rho", [0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
def test_erlang_c_study_over_utilisations(rho: float) -> None:
    servers = 5
    lam = rho * servers
    waits, waited = [], []
    for seed in range(20):
        df, _ = simulate(mmc_stream(lam, servers), weeks=520, seed=100 + seed)
        done = df[(df["status"] == "completed") & (df["arrival_day"] > 364)]
        waits.append(done["queue_days"].mean())
        waited.append((done["queue_days"] > 0).mean())
    for sims, theory in [(waits, mmc_mean_wait(lam, 1.0, servers)),
                         (waited, erlang_c(servers, lam))]:
        mean, se = np.mean(sims), np.std(sims, ddof=1) / np.sqrt(len(sims))
        assert abs(mean - theory) < 3.5 * se, (rho, mean, se, theory)


def test_littles_law_holds_on_the_outputs() -> None:
    stream = mmc_stream(2.4, 3)
    df, desk = simulate(stream, weeks=300, seed=11)
    horizon = 300 * 7
    L = desk.streams["s"].time_average_in_system  # integrated inside the simulation
    done = df[df["status"] == "completed"]
    lam = len(df) / horizon
    W = done["days_in_system"].mean()
    assert (df["status"] == "open").sum() < 0.01 * len(df)
    assert L == pytest.approx(lam * W, rel=0.02)
    # the same law from the weekly table alone: arrivals a day, and the mean wait of the weeks'
    # completions weighted by completions, against the backlog at the weeks' ends
    w = stream_weekly(desk.weekly(), df, {"s": stream})
    lam_w = w["arrivals"].sum() / horizon
    W_w = (w["wait_mean_days"] * w["completed"]).sum() / w["completed"].sum()
    assert W_w == pytest.approx(W, rel=1e-9)
    assert w["in_system"].mean() == pytest.approx(lam_w * W_w, rel=0.1)
    assert L == pytest.approx(lam_w * W_w, rel=0.02)


@pytest.mark.once
def test_overload_backlog_grows_at_arrivals_minus_capacity() -> None:
    # 2 clerks, a day per request: capacity 14 a week; 20 arrive: the backlog grows 6 a week
    slopes, throughput = [], []
    for seed in range(6):
        _, desk = simulate(mmc_stream(20 / 7, 2), weeks=150, seed=seed)
        weekly = desk.weekly().iloc[10:]
        slopes.append(np.polyfit(weekly["run_week"], weekly["in_system"], 1)[0])
        throughput.append(weekly["completed"].mean())
        # staff never idle once the backlog has built up
        assert np.allclose(weekly["staff_minutes_used_clerk"],
                           weekly["staff_minutes_available_clerk"])
    se = np.std(slopes, ddof=1) / np.sqrt(len(slopes))
    assert abs(np.mean(slopes) - 6) < 3.5 * se + 0.3, (slopes, se)
    assert np.mean(throughput) == pytest.approx(14, rel=0.04)


# ----------------------------------------------------------------------------- mechanics
def test_same_seed_same_requests_and_paired_variants_share_arrivals() -> None:
    base = mmc_stream(3.0, 3, automated={"minutes": 100, "delay_days": 0.5})
    auto = base.model_copy(update={"automate": "all"})
    a1, _ = simulate(base, 30, seed=5)
    a2, _ = simulate(base, 30, seed=5)
    b, _ = simulate(auto, 30, seed=5)
    pd.testing.assert_frame_equal(a1, a2)
    np.testing.assert_array_equal(a1["arrival_day"], b["arrival_day"])
    # the automated form: 100 minutes scaled by the same draw as the paper form's 1440
    # (of requests both finished: one still in service at the end has worked part of its task)
    done = (a1["status"] == "completed") & (b["status"] == "completed")
    ratio = b["staff_minutes"] / a1["staff_minutes"]
    assert done.mean() > 0.9 and np.allclose(ratio[done], 100 / 1440)
    assert (b["days_in_system"].dropna() >= 0.5).all()  # the system delay


def test_rework_and_dropout_rates_are_what_was_asked() -> None:
    stream = mmc_stream(5.0, 20, minutes=60, rework=0.2, dropout=0.1)
    df, _ = simulate(stream, 60, seed=2)
    assert (df["status"] == "dropped").mean() == pytest.approx(0.1, abs=0.02)
    served = df[df["status"] == "completed"]
    # reworks per request: geometric, mean 0.2 / 0.8
    assert served["reworks"].mean() == pytest.approx(0.25, abs=0.04)


def test_arrivals_from_a_file(tmp_path: Path) -> None:
    days = np.array([0.5, 1.0, 3.2, 8.0, 20.0])
    (tmp_path / "arrivals.csv").write_text("day\n" + "\n".join(map(str, days)) + "\n")
    scenario = {"trust": {"n_schools": 0}, "years": 1, "requests": {"x": {
        "arrivals": {"file": "arrivals.csv"},
        "steps": [{"name": "a", "role": "clerk", "minutes": 30, "service": "fixed"}],
        "staff": {"clerk": {"staff": 1}}}}}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario))
    result = srmsim.run(load_scenario(path))
    np.testing.assert_allclose(result.requests["arrival_day"], days)
    # 30 staff minutes at 37.5 h of the week's 168: 30 * 168 / 37.5 calendar minutes
    expected = 30 * 168 / 37.5 / (24 * 60)
    np.testing.assert_allclose(result.requests["days_in_system"], expected)
    (tmp_path / "arrivals.csv").write_text("day\n1.0\nnan\n")
    assert main(["run", str(path), "--out", str(tmp_path / "o")]) == 2


@pytest.mark.parametrize("change, words", [
    ({"steps": [{"name": "a", "role": "typist", "minutes": 5}]}, "typist"),
    ({"automate": ["nope"]}, "nope"),
    ({"automate": "all", "steps": [{"name": "a", "role": "clerk", "minutes": 5}]}, "automated"),
    ({"arrivals": {"per_week": float("nan")}}, "finite"),
    ({"backlog": -1}, "greater than or equal"),
])
def test_bad_streams_are_refused(change: dict, words: str) -> None:
    stream = {"arrivals": {"per_week": 5}, "steps": [{"name": "a", "role": "clerk",
                                                      "minutes": 5, "automated": {}}],
              "staff": {"clerk": {"staff": 1}}, **change}
    with pytest.raises(ScenarioError) as err:  # the CLI's short error, not any exception
        scenario_from_dict({"trust": {"n_schools": 0}, "requests": {"x": stream}}, "t")
    assert words in str(err.value)


def test_a_trust_without_schools_needs_streams_and_pool_staff_must_exist() -> None:
    with pytest.raises(ScenarioError, match="no schools needs request streams"):
        scenario_from_dict({"trust": {"n_schools": 0}}, "t")
    with pytest.raises(ScenarioError, match="from_pool"):
        scenario_from_dict({"trust": {"n_schools": 0}, "requests": {"x": {
            "arrivals": {"per_week": 1}, "steps": [{"name": "a", "role": "clerk", "minutes": 5}],
            "staff": {"clerk": {"staff": 1, "from_pool": True}}}}}, "t")


def test_streams_share_the_pool_staff_with_student_cases() -> None:
    sc = load_scenario(ROOT / "scenarios" / "trust_attendance_service.yaml").with_overrides({
        "trust.n_schools": 4, "requests": {"casework": {
            "arrivals": {"per_week": 30},
            "steps": [{"name": "visit", "role": "attendance_officer", "minutes": 60}],
            "staff": {"attendance_officer": {"staff": 2, "from_pool": True}}}}})
    model = srmsim.TrustModel(sc, seed=4)
    model.run()
    weekly = model.weekly().groupby("run_week")["pool_minutes_used"].sum().to_numpy()
    streams = model.requests.weekly()
    pool = sc.policy.staff.pool["attendance_officer"]
    available = streams["staff_minutes_available_attendance_officer"].to_numpy()
    np.testing.assert_allclose(available + weekly, pool)
    assert (weekly > 0).any() and (available < pool).any()
    used = streams["staff_minutes_used_attendance_officer"].to_numpy()
    assert (used <= available + 1e-6).all()
    # the run's weekly table: the schools' rows as the model reported them, then the stream's
    from srmsim.experiment.runner import trust_weeks

    table = model.results().weekly
    schools = table[table["stream"].isna()]
    pd.testing.assert_frame_equal(schools[model.weekly().columns].astype(float),
                                  model.weekly().astype(float), check_dtype=False)
    assert table.groupby("school").ngroups == 4 and (table["stream"] == "casework").sum() == 39
    np.testing.assert_allclose(trust_weeks(table)["staff_minutes_used"],
                               model.weekly().groupby("run_week")["staff_minutes_used"].sum())


@pytest.mark.once
def test_certification_scenario_builds_a_backlog_and_automation_clears_it(tmp_path) -> None:
    small = {"requests.certification.arrivals.per_week": 100,
             "requests.certification.backlog": 800,
             "requests.certification.staff.clerk.staff": 1,
             "requests.certification.staff.evaluator.staff": 3,
             "requests.certification.staff.officer.staff": 1, "years": 1}
    paper = srmsim.run(load_scenario(ROOT / "scenarios/certification_backlog.yaml", small),
                       out=tmp_path / "paper")
    auto = srmsim.run(load_scenario(ROOT / "scenarios/certification_backlog.yaml",
                                    {**small, "requests.certification.automate": "all"}))
    p, a = paper.summary["requests"]["certification"], auto.summary["requests"]["certification"]
    assert p["backlog_end"] > p["backlog_start"] and p["median_days"] > 60
    assert a["backlog_end"] < 0.05 * p["backlog_end"]
    assert a["within_deadline"] > 0.8 > p["within_deadline"]
    assert p["utilisation_evaluator"] > 0.99
    for name in ("requests.parquet", "requests_weekly.parquet", "request_events.parquet",
                 "weekly.parquet", "summary.json"):
        assert (tmp_path / "paper" / name).exists()
    from srmsim.admin.plots import backlog_and_waits

    fig = backlog_and_waits({"paper": paper, "automated": auto}, "certification")
    left, right = fig.axes
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["paper", "automated"]
    assert "days" in right.get_xlabel() and "backlog" in left.get_ylabel()


@pytest.mark.once
def test_automation_experiment_compares_paired_variants(tmp_path, capsys) -> None:
    exp = yaml.safe_load((ROOT / "experiments/automation.yaml").read_text())
    exp["scenario"] = str(ROOT / "scenarios/certification_backlog.yaml")
    exp["replications"] = 2
    for v in exp["variants"].values():
        v.update({"years": 1, "requests.certification.arrivals.per_week": 100,
                  "requests.certification.backlog": 800})
        for role, n in (("clerk", 1), ("evaluator", 3), ("officer", 1)):
            key = f"requests.certification.staff.{role}.staff"
            v[key] = {"clerk": 2, "evaluator": 5}.get(role, n) if key in v else n
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp))
    assert main(["experiment", str(path), "--out", str(tmp_path / "o"), "--quiet",
                 "--workers", "1"]) == 0
    effects = pd.read_csv(tmp_path / "o" / "effects.csv")
    row = effects[(effects["variant"] == "fully_automated")
                  & (effects["outcome"] == "request_wait_median_days")].iloc[0]
    assert row["difference"] < 0 and row["ci_high"] < 0
    assert row["unit"] == "days"
    # `srmsim compare` prints every request outcome in its unit
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "o")]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith("fully_automated")]
    units = {"Median wait": "days", "99th percentile wait": "days", "Oldest open": "days",
             "Backlog at the end": "requests", "Throughput": "per week",
             "within the deadline": "%", "Staff hours": " h"}
    for label, unit in units.items():
        line = next(x for x in lines if label in x)
        assert line.count(unit) >= 5 or (unit == "%" and line.count("pp") == 3), line


# ----------------------------------------------------------------------------- outputs
SMALL = {"requests.certification.arrivals.per_week": 60, "requests.certification.backlog": 300,
         "requests.certification.staff.clerk.staff": 1,
         "requests.certification.staff.evaluator.staff": 2,
         "requests.certification.staff.officer.staff": 1, "years": 1}


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A small paper certification office (backlog, rework, drop-outs, a deadline), written."""
    out = tmp_path_factory.mktemp("cert") / "run"
    result = srmsim.run(load_scenario(ROOT / "scenarios/certification_backlog.yaml", SMALL),
                        out=out)
    return result, out


def test_weekly_stream_figures_add_up_to_the_summary(small_run) -> None:
    result, out = small_run
    s = result.summary["requests"]["certification"]
    w = pd.read_parquet(out / "requests_weekly.parquet")
    assert len(w) == result.summary["weeks"] == 39
    # throughput: weekly completions add up to the summary's, arrivals and drop-outs likewise
    assert w["completed"].sum() == s["completed"]
    assert w["completed"].sum() == pytest.approx(s["throughput_per_week"] * len(w))
    assert w["arrivals"].sum() == s["arrivals"] and w["dropped"].sum() == s["dropped"]
    # conservation: backlog(t) = backlog(t-1) + arrivals - completions - drop-outs
    before = np.concatenate([[s["backlog_start"]], w["in_system"].to_numpy()[:-1]])
    np.testing.assert_array_equal(w["in_system"],
                                  before + w["arrivals"] - w["completed"] - w["dropped"])
    assert w["in_system"].iloc[-1] == s["backlog_end"] == s["open_at_end"]
    assert s["backlog_end"] > s["backlog_start"]  # overloaded: a growing backlog
    # the mean wait of the weeks' completions, weighted, is the summary's mean wait
    done = w["completed"] > 0
    assert ((w["wait_mean_days"] * w["completed"])[done].sum() / s["completed"]
            == pytest.approx(s["mean_days"], rel=1e-9))
    assert w.loc[~done, ["wait_mean_days", "wait_p90_days"]].isna().all().all()
    # deadlines: the weeks' due requests and those met add up to the summary's share
    assert 0 < w["met_deadline"].sum() < w["due"].sum()
    assert w["met_deadline"].sum() / w["due"].sum() == pytest.approx(s["within_deadline"])
    # utilisation by role from the weekly minutes is the summary's
    for role in ("clerk", "evaluator", "officer"):
        used, available = (w[f"staff_minutes_{k}_{role}"].sum() for k in ("used", "available"))
        assert used / available == pytest.approx(s[f"utilisation_{role}"])
    assert s["utilisation_evaluator"] > 0.99
    # staff time: the requests are charged the minutes as the weeks' staff work them
    used = sum(w[f"staff_minutes_used_{role}"].sum() for role in ("clerk", "evaluator", "officer"))
    assert used == pytest.approx(s["staff_hours"] * 60, rel=1e-9)


def test_weekly_parquet_carries_the_same_stream_figures(small_run) -> None:
    result, out = small_run
    weekly = pd.read_parquet(out / "weekly.parquet")
    streams = pd.read_parquet(out / "requests_weekly.parquet")
    rows = weekly[weekly["stream"].notna()].reset_index(drop=True)
    assert rows["school"].isna().all() and len(rows) == len(streams)
    assert weekly.groupby("school").ngroups == 0  # no schools in this trust
    for col in streams.columns.drop(["stream", "run_week"]):
        np.testing.assert_array_equal(rows[PREFIX + col].to_numpy(dtype=float),
                                      streams[col].to_numpy(dtype=float), err_msg=col)
    np.testing.assert_array_equal(rows["run_week"], streams["run_week"])
    assert (rows["year"] == rows["run_week"] // 39).all()


def test_request_events_audit_each_request(small_run) -> None:
    result, out = small_run
    ev = pd.read_parquet(out / "request_events.parquet")
    req = result.requests.set_index("request")
    weekly = result.requests_weekly
    assert ev["request"].dtype == np.int32 and ev["day"].dtype == np.float64
    assert ev["event"].dtype == "category" and ev["step"].dtype == np.int8
    # the events of a week are that week's figures
    for event, col in (("arrived", "arrivals"), ("completed", "completed"),
                       ("dropped", "dropped")):
        counts = ev[ev["event"] == event].groupby("run_week").size()
        np.testing.assert_array_equal(counts.reindex(weekly["run_week"], fill_value=0),
                                      weekly[col], err_msg=event)
    assert (ev["event"] == "backlog").sum() == 300
    assert (ev["event"] == "open_at_end").sum() == (req["status"] == "open").sum()
    # each request's first event is its arrival, its completion its finish
    first = ev.groupby("request")["day"].first()
    np.testing.assert_allclose(first.reindex(req.index), req["arrival_day"])
    end = ev[ev["event"].isin(["completed", "dropped"])].set_index("request")["day"]
    np.testing.assert_allclose(end, req.loc[end.index, "finish_day"])
    # staff minutes and queueing, step by step, add up to the request's totals
    minutes = ev.groupby("request")["minutes"].sum()
    np.testing.assert_allclose(minutes.reindex(req.index), req["staff_minutes"])
    queued = ev[ev["event"] == "queued"].set_index(["request", "step", "attempt"])["day"]
    started = ev[ev["event"] == "started"].set_index(["request", "step", "attempt"])["day"]
    waited = (started - queued.reindex(started.index)).groupby(level="request").sum()
    np.testing.assert_allclose(waited, req.loc[waited.index, "queue_days"], atol=1e-9)
    reworked = ev[ev["event"] == "reworked"].groupby("request").size()
    np.testing.assert_array_equal(reworked, req.loc[reworked.index, "reworks"])
    assert reworked.sum() == req["reworks"].sum() > 0
    # one request, in order: arrival, then each step queued, started, finished
    one = ev[ev["request"] == req.index[req["status"] == "completed"][0]]
    assert one["day"].is_monotonic_increasing
    steps = one[one["event"] == "finished"]
    assert list(steps["step_name"].drop_duplicates()) == ["intake", "verification", "decision"]
    assert set(steps["role"]) == {"clerk", "evaluator", "officer"}


def test_deadline_counts_late_drop_outs_as_missed() -> None:
    # deadline 10 days, run of 70 days
    requests = pd.DataFrame({
        "arrival_day": [0.0, 0.0, 0.0, 0.0, 0.0, 65.0],
        "status": ["completed", "completed", "dropped", "dropped", "open", "open"],
        "days_in_system": [9.0, 11.0, 5.0, 12.0, np.nan, np.nan]})
    due, met = deadline_cohort(requests, 10.0, 70.0)
    # in time; late; dropped before the deadline (not due); dropped after it (missed); still
    # open past it (missed); deadline after the run's end (not due)
    assert due.tolist() == [True, True, False, True, True, False]
    assert met.tolist() == [True, False, False, False, False, False]


def test_request_outcomes_print_in_their_units() -> None:
    from srmsim.experiment.outcomes import OUTCOMES, format_difference, format_value

    assert format_value(87.148, "days") == "87.1 days"
    assert format_difference(-86.06, "days") == "-86.1 days"
    assert format_value(2212.0, "requests") == "2,212 requests"
    assert format_value(12.5, "requests") == "12.5 requests"
    assert format_value(64.167, "per_week") == "64.2 per week"
    units = {n: OUTCOMES[n].unit for n in OUTCOMES if n.startswith("request_")}
    assert units == {"request_wait_median_days": "days", "request_wait_p90_days": "days",
                     "request_wait_p99_days": "days", "request_backlog_end": "requests",
                     "request_oldest_open_days": "days",
                     "request_within_deadline": "share (0 to 1)",
                     "request_throughput": "per week", "request_staff_hours": "hours"}
