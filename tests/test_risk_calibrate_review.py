"""Review of risk thresholds and calibration, numerically: each test fails without its fix."""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import small_record_trust

from srmsim.calibrate import calibrate
from srmsim.cli import main
from srmsim.data.dataset import write_dataset
from srmsim.errors import DataError


def _full_attendance(tmp_path: Path) -> Path:
    """Every student at 5 of 10 sessions every week: the attendance moments do not vary at all.
    (Not 100%: an attendance of 100% says no pupil is persistently absent, and is withheld.)"""
    write_dataset(small_record_trust(60, attended=lambda i, w: 5), tmp_path / "ds")
    return tmp_path / "ds"


def test_a_moment_undefined_on_the_data_is_skipped_with_its_reason_not_a_refusal(
        tmp_path) -> None:
    # every student at 50%: the attendance ICC is 0 / 0. It was not in spec.skipped, so a
    # calibration with the default moments refused the dataset ("attendance_icc: no value")
    data = _full_attendance(tmp_path)
    o, e = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
        status = main(["calibrate", str(data), "--out", str(tmp_path / "fit"), "--params",
                       "dynamics.absence_logit", "--max-evals", "1", "--replications", "1",
                       "--quiet"])
    assert status == 0, e.getvalue()
    assert "moment attendance_icc skipped: undefined on these data" in o.getvalue()
    assert "Traceback" not in e.getvalue()
    # asked for by name, it is refused with the reason, not "no value"
    with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
        status = main(["calibrate", str(data), "--out", str(tmp_path / "fit2"), "--params",
                       "dynamics.absence_logit", "--moments", "attendance,attendance_icc",
                       "--max-evals", "1", "--replications", "1", "--quiet"])
    assert status == 2 and "no variation to split between schools" in e.getvalue()
    assert not (tmp_path / "fit2").exists()


def test_a_constant_score_gives_no_slope_and_no_runtime_warning() -> None:
    from srmsim.calibrate.moments import compute_moments

    ds = small_record_trust(60)
    obs = ds.observations.copy()
    obs["assessment_score"] = np.nan
    term = obs["period"] == 1
    obs.loc[term, "period_type"] = "term"
    obs.loc[term, "assessment_score"] = 5.0  # every student the same score
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # "invalid value in divide" before
        table = compute_moments(ds.students, obs).set_index("moment")
    assert np.isnan(table.loc["attainment_attendance_slope", "value"])


def test_parameter_se_counts_each_moment_at_least_at_its_se_floor(tmp_path) -> None:
    # the moments fitted do not vary in the bootstrap (every student at 50%): their SEs are
    # the floors, and the objective weighs them so; the sandwich's meat took their bootstrap
    # covariance (0) over the floors, and the fitted parameter came back with an SE of 0
    data = _full_attendance(tmp_path)
    result = calibrate(data, params="dynamics.absence_logit",
                       moments=["attendance", "attendance_p50"], max_evals=1, replications=1)
    se = float(result.estimates["se"].iloc[0])
    assert np.isfinite(se) and se > 0


def _scores() -> pd.DataFrame:
    return pd.DataFrame({"s": np.linspace(0, 1, 60), "y": [0, 1] * 30, "g": ["a", "b", "c"] * 20})


@pytest.mark.parametrize("label", [["a"], 1, None])
def test_a_reference_group_that_is_not_text_is_a_clear_error(label) -> None:
    from srmsim import risk

    if label is None:  # no reference for the column: the whole population, as documented
        table = risk.threshold_table(_scores(), "s", "y", thresholds=[0.5], by="g",
                                     reference={"g": None})
        assert len(table) == 3
        return
    # a list raised TypeError (unhashable) from a set lookup; the groups were listed as
    # np.str_('a')
    with pytest.raises(DataError, match="must be one group label as text") as err:
        risk.threshold_table(_scores(), "s", "y", thresholds=[0.5], by="g",
                             reference={"g": label})
    assert "['a', 'b', 'c']" in str(err.value) and "np.str_" not in str(err.value)


def test_band_counts_of_an_empty_table_is_a_clear_error() -> None:
    from srmsim import risk

    empty = risk.threshold_table(_scores(), "s", "y", thresholds=[0.5]).iloc[:0]
    with pytest.raises(DataError, match="no rows"):  # was an IndexError
        risk.band_counts(empty)


def test_evaluate_risk_average_precision_and_log_loss_agree_with_scikit_learn() -> None:
    from sklearn import metrics

    from srmsim import risk

    # no student without the outcome: AP is 1 (every flag true), as risk.average_precision and
    # scikit-learn give it; evaluate_risk said NaN
    r, y = np.array([0.2, 0.7, 0.9]), np.array([1, 1, 1])
    assert risk.evaluate_risk(r, y, 0.5)["average_precision"] == pytest.approx(
        metrics.average_precision_score(y, r)) == 1.0
    # risks of exactly 0 and 1 against the outcome: log loss clipped at 1e-12 was 20.9, where
    # scikit-learn clips at the float's epsilon (25.7)
    r, y = np.array([0.0, 1.0, 0.5, 1e-13]), np.array([1, 0, 1, 1])
    got = risk.evaluate_risk(r, y, 0.5)
    assert got["log_loss"] == pytest.approx(metrics.log_loss(y, r), rel=1e-12)
    assert got["average_precision"] == pytest.approx(metrics.average_precision_score(y, r))
    # no student with the outcome: AP is undefined (scikit-learn warns and says 0)
    assert np.isnan(risk.evaluate_risk(np.array([0.2, 0.7]), np.array([0, 0]), 0.5)[
        "average_precision"])


@pytest.mark.parametrize("bad", [{"n_boot": 10**9}, {"n_boot": "200"}, {"n_boot": 1.5},
                                 {"replications": 1.5}, {"replications": True},
                                 {"max_evals": 2.5}, {"seed": -1}, {"seed": 1.5},
                                 {"seed": 2**70}])
def test_calibrate_api_counts_and_seed_are_checked_first(tmp_path, bad) -> None:
    # n_boot=10**9 asked numpy for 97 GiB (MemoryError), "200" and 1.5 replications raised
    # TypeError, seed=-1 ValueError; 2.5 evaluations and seed 1.5 were silently truncated
    from srmsim.errors import SrmsimError

    write_dataset(small_record_trust(60), tmp_path / "ds")
    kwargs = {"params": "dynamics.absence_logit", "max_evals": 1, "replications": 1} | bad
    with pytest.raises(SrmsimError, match=next(iter(bad))):
        calibrate(tmp_path / "ds", out=tmp_path / "fit", **kwargs)
    assert not (tmp_path / "fit").exists()


def test_calibrate_api_takes_moments_as_text_like_the_cli(tmp_path) -> None:
    # "attendance" was taken letter by letter: unknown moments ['a', 't', 't', ...]
    # (200 pupils: 60 at 86% beside the 48 persistently absent a summary prints pin the
    # severely absent, and their attendance is withheld)
    write_dataset(small_record_trust(200), tmp_path / "ds")
    result = calibrate(tmp_path / "ds", params="dynamics.absence_logit", moments="attendance",
                       max_evals=1, replications=1)
    assert result.moments_used == ["attendance"]


def test_bootstrap_interval_needs_enough_replicates_that_define_a_curve() -> None:
    from srmsim import risk

    # every positive is in school 0: a replicate without it has no curve (14 of 40 here), and
    # the 26 left gave a "95% CI" between the extreme replicates, as min_replicates forbids
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"school": np.repeat(np.arange(12), 20), "s": rng.uniform(size=240),
                       "y": [int(sch == 0 and i % 2 == 0) for sch in range(12)
                             for i in range(20)]})
    few = risk.bootstrap_curves(df, "s", "y", n_boot=40, seed=1)
    assert few.n_boot - few.n_undefined < 40
    assert np.isnan(few.auc_low) and np.isnan(few.ap_high)
    assert np.isnan(few.roc["tpr_low"]).all()
    assert "no 95% CI" in few.summary() and "nan" not in few.summary()
    assert few.auc == pytest.approx(risk.auc(df, "s", "y"))  # the estimate itself stands
    enough = risk.bootstrap_curves(df, "s", "y", n_boot=200, seed=1)
    assert enough.n_boot - enough.n_undefined >= 40
    assert enough.auc_low <= enough.auc <= enough.auc_high
