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
from srmsim.admin.theory import erlang_c, mmc_mean_wait, mmc_wait_quantile
from srmsim.cli import main
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
    df, desk = simulate(mmc_stream(2.4, 3), weeks=300, seed=11)
    horizon = 300 * 7
    L = desk.streams["s"].time_average_in_system  # integrated inside the simulation
    done = df[df["status"] == "completed"]
    lam = len(df) / horizon
    W = done["days_in_system"].mean()
    assert (df["status"] == "open").sum() < 0.01 * len(df)
    assert L == pytest.approx(lam * W, rel=0.02)


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
    ratio = b["staff_minutes"] / a1["staff_minutes"]
    assert np.allclose(ratio[a1["staff_minutes"] > 0], 100 / 1440)
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
    with pytest.raises(Exception) as err:
        scenario_from_dict({"trust": {"n_schools": 0}, "requests": {"x": stream}}, "t")
    assert words in str(err.value)


def test_a_trust_without_schools_needs_streams_and_pool_staff_must_exist() -> None:
    with pytest.raises(Exception, match="no schools needs request streams"):
        scenario_from_dict({"trust": {"n_schools": 0}}, "t")
    with pytest.raises(Exception, match="from_pool"):
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
    for name in ("requests.parquet", "requests_weekly.parquet", "summary.json"):
        assert (tmp_path / "paper" / name).exists()
    from srmsim.admin.plots import backlog_and_waits

    fig = backlog_and_waits({"paper": paper, "automated": auto}, "certification")
    left, right = fig.axes
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["paper", "automated"]
    assert "days" in right.get_xlabel() and "backlog" in left.get_ylabel()


def test_automation_experiment_compares_paired_variants(tmp_path) -> None:
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
