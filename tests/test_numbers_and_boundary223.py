"""Numbers a float cannot hold as written, and the random-intercept fit at zero group variance.

1. A number beyond 2**53 written to more digits than a float keeps (``9007199254740993.0``) was
   silently rounded by the YAML reader (``t > 9007199254740992`` was false for it), and a whole
   number beyond 2**53 where a model expects a float was rounded by pydantic: both are refused
   naming the file and the key, exit 2, while ``0.1``, ``1e-3`` or ``1e30`` read as always.
2. At zero group variance statsmodels' fixed-effect SEs (from the joint Hessian) were NaN in
   small stepped wedges, so the fit was refused "no sound fit with any optimiser": a boundary
   fit now reports (X' V^-1 X)^-1 sigma^2, which at V = sigma^2 I is OLS's classical covariance.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.regression.mixed_linear_model import MixedLM

from srmsim import stats
from srmsim.cli import main
from srmsim.errors import ScenarioError
from srmsim.labels import StrictModel
from srmsim.stats.mixed import BOUNDARY_COVARIANCE, attempts_frame, fit_mixedlm
from srmsim.yamlio import dump_yaml, load_yaml_text, rounded_number

REPO = Path(__file__).resolve().parents[1]


def fails(capsys: pytest.CaptureFixture[str], *argv: object, contains: str = "") -> str:
    """Run the CLI in-process: exit 2, one short message, no traceback."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("srmsim: error:") and "Traceback" not in err, err
    assert contains in err, err
    return err


def scenario(tmp_path: Path, value: str) -> Path:
    path = tmp_path / "big.yaml"
    path.write_text("name: big\ntrust: {n_schools: 2, students_per_year_group: 20}\n"
                    f"policy:\n  parameters: {{t: {value}}}\n"
                    "  rules:\n    big: \"t > 9007199254740992\"\n")
    return path


# ---------------------------------------------------------------------------------------------
# 1. numbers YAML cannot hold as written


@pytest.mark.parametrize("written", ["9007199254740993.0", "9007199254740993.0e0",
                                     "+9007199254740993.", "90071992547409930e-1",
                                     "9007199254740992.5", "-9007199254740993.0"])
def test_a_scenario_number_a_float_would_round_is_refused(tmp_path: Path, capsys, written: str
                                                          ) -> None:
    path = scenario(tmp_path, written)
    err = fails(capsys, "validate", path, contains=f"{path}: policy.parameters.t: {written} ")
    assert "beyond 2**53" in err and "9007199254740992.0" in err and "line 4" in err


def test_set_refuses_it_too_and_writes_nothing(tmp_path: Path, capsys) -> None:
    path, out = scenario(tmp_path, "1.5"), tmp_path / "out"
    fails(capsys, "run", path, "--set", "policy.parameters.t=9007199254740993.0e0", "--out", out,
          contains="--set policy.parameters.t: 9007199254740993.0e0 is beyond 2**53")
    assert not out.exists()


@pytest.mark.parametrize("written", ["0.1", "1e-3", "1e30", "1.0e30", "-2.5", "123456.789",
                                     "9007199254740992.0", "9007199254740994.0", "1.5e300",
                                     "1.7976931348623157e308", "1.2345678901234567e30"])
def test_ordinary_numbers_read_as_before(written: str) -> None:
    assert rounded_number(written) is None
    assert load_yaml_text(f"x: {written}") == {"x": float(written)}


def test_every_float_srmsim_writes_reads_back() -> None:
    """dump_yaml writes a float's shortest repr, which never gives a digit the float lacks."""
    rng = np.random.default_rng(5)
    values = [float(v) for v in np.concatenate([rng.uniform(2**53, 2**80, 2000),
                                                10 ** rng.uniform(16, 308, 2000)])]
    assert load_yaml_text(dump_yaml({"v": values}))["v"] == values


def test_a_file_read_as_text_keeps_the_digits() -> None:
    """A data mapping keeps numbers as the text written: nothing is rounded to refuse there."""
    assert load_yaml_text("x: 9007199254740993.0", numbers_as_text=True) == {
        "x": "9007199254740993.0"}


def test_the_key_is_named_inside_lists_and_merges() -> None:
    with pytest.raises(ScenarioError, match=r"f\.yaml: a\.b\[1\]: 9007199254740993\.0 \(line 2"):
        load_yaml_text("a:\n  b: [1, 9007199254740993.0]\n", "f.yaml")
    with pytest.raises(ScenarioError, match=r"f\.yaml: b\.x: 1000000000000000000000000000000\.0"):
        load_yaml_text("a: 1\nb: {<<: {x: 1000000000000000000000000000000.0}}\n", "f.yaml")
    with pytest.raises(ScenarioError, match=r"f\.yaml: x: 9_007_199_254_740_993\.0 "):
        load_yaml_text("x: !!float 9_007_199_254_740_993.0", "f.yaml")  # as float() reads it
    with pytest.raises(ScenarioError, match=r"f\.yaml: a\.x: 9007199254740993\.0"):  # its place
        load_yaml_text("a: &a {x: 9007199254740993.0}\nb: {<<: *a}\n", "f.yaml")


def test_a_whole_number_where_a_float_is_expected_is_refused(tmp_path: Path, capsys) -> None:
    """The YAML reader keeps 9007199254740993 exact (a seed may be up to 2**63 - 1); pydantic
    made it the float 9007199254740992.0 where a float is expected, as a lever's bound."""
    text = (REPO / "experiments" / "optimise_attendance.yaml").read_text()
    text = text.replace("../scenarios/", str(REPO / "scenarios") + "/")
    high = tmp_path / "high.yaml"
    high.write_text(text.replace("{low: 0.85, high: 0.96}", "{low: 0.85, high: 9007199254740993}"))
    fails(capsys, "validate", high, contains="levers.policy.parameters.attendance_threshold.high"
          ": 9007199254740993 is beyond 2**53")
    choices = tmp_path / "choices.yaml"
    choices.write_text(text.replace("[weekly, half_termly, termly]", "[9007199254740993, 2]"))
    fails(capsys, "validate", choices, contains="9007199254740993 (at [0]) is beyond 2**53")
    exact = tmp_path / "exact.yaml"  # 2**53 + 2 is a float: kept
    exact.write_text(text.replace("{low: 0.85, high: 0.96}", "{low: 0.85, high: 9007199254740994}"))
    assert main(["validate", str(exact)]) == 0
    capsys.readouterr()


def test_whole_numbers_stay_whole_where_a_model_takes_them() -> None:
    class Model(StrictModel):
        seed: int = 0
        weights: dict[str, float] = {}

    assert Model(seed=2**62 + 1).seed == 2**62 + 1
    assert Model(weights={"a": 2**60}).weights == {"a": 2.0**60}
    with pytest.raises(ValueError, match=r"9007199254740993 \(at \['a'\]\) is beyond 2\*\*53"):
        Model(weights={"a": 2**53 + 1})


# ---------------------------------------------------------------------------------------------
# 2. the random-intercept fit at zero group variance


def stepped_wedge(seed: int, school_sd: float = 0.0) -> pd.DataFrame:
    """4 schools x 4 periods x 5 pupils; no school effect unless ``school_sd``."""
    rng = np.random.default_rng(seed)
    rows = [(s, p, "treated" if p >= 1 + s % 3 else "control")
            for s in range(4) for p in range(4) for _ in range(5)]
    df = pd.DataFrame(rows, columns=["school", "period", "arm"])
    df["y"] = rng.normal(size=len(df)) + school_sd * rng.normal(size=4)[df["school"]]
    return df


def design(df: pd.DataFrame) -> pd.DataFrame:
    X = pd.get_dummies(df["period"], prefix="p", drop_first=True, dtype=float)
    X.insert(0, "Intercept", 1.0)
    X["arm"] = (df["arm"] == "treated").astype(float)
    return X


def test_a_boundary_fit_reports_the_ols_covariance() -> None:
    """Seed 23: no school effect, and every optimiser's statsmodels SE for the treatment was NaN
    (or the fit raised), so the trial's analysis was refused "no sound fit with any optimiser".
    At zero group variance V = sigma^2 I: the SEs are OLS's classical ones, to 1e-8."""
    df = stepped_wedge(23)
    kw = dict(cluster="school", fixed_effects="period", se="classical")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mixed = stats.estimate_effect(df, "y", "arm", "control", method="mixed", **kw)
        ols = stats.estimate_effect(df, "y", "arm", "control", method="ols",
                                    **{**kw, "cluster": None})  # (classical OLS: no cluster=)
    assert np.isclose(mixed.table["estimate"][0], ols.table["estimate"][0], rtol=1e-9)
    assert np.isclose(mixed.table["se"][0], ols.table["se"][0], rtol=1e-8)
    assert any("(X' V^-1 X)^-1 sigma^2" in n for n in mixed.notes)
    assert any("estimated at zero" in str(w.message) for w in caught)
    assert (mixed.attempts["warnings"].str.contains(BOUNDARY_COVARIANCE, regex=False)).any()

    X = design(df)
    result, attempts, _ = fit_mixedlm(df["y"].to_numpy(), X, df["school"].to_numpy())
    assert float(np.asarray(result.cov_re)[0, 0]) <= 1e-8 * float(result.scale)
    A, y = X.to_numpy(), df["y"].to_numpy()
    beta = np.linalg.lstsq(A, y, rcond=None)[0]
    sigma2 = float(np.sum((y - A @ beta) ** 2)) / (len(y) - A.shape[1])
    classical = np.sqrt(np.diag(sigma2 * np.linalg.inv(A.T @ A)))
    np.testing.assert_allclose(np.asarray(result.bse_fe), classical, rtol=1e-8)
    np.testing.assert_allclose(np.asarray(result.cov_params())[:5, :5],
                               sigma2 * np.linalg.inv(A.T @ A), rtol=1e-7, atol=1e-12)
    assert BOUNDARY_COVARIANCE in "; ".join(attempts_frame(attempts)["warnings"])


def test_an_interior_fit_keeps_statsmodels_covariance() -> None:
    """With a school effect the fit is interior: its SEs are statsmodels' own (the joint
    Hessian's), which differ from (X' V^-1 X)^-1 sigma^2 there, so the test can tell them apart."""
    df = stepped_wedge(3, school_sd=1.5)
    X, y, groups = design(df), df["y"].to_numpy(), df["school"].to_numpy()
    result, attempts, _ = fit_mixedlm(y, X, groups)
    assert float(np.asarray(result.cov_re)[0, 0]) > 0.1 * float(result.scale)
    assert BOUNDARY_COVARIANCE not in "; ".join(attempts_frame(attempts)["warnings"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = MixedLM(y, X, groups=groups).fit(start_params=result.params_object,
                                                 method="bfgs", maxiter=0)
    np.testing.assert_array_equal(np.asarray(result.bse_fe), np.asarray(again.bse_fe))
    gamma = float(np.asarray(result.params_object.cov_re)[0, 0])
    A = X.to_numpy()
    info = A.T @ A
    for g in range(4):
        s = A[groups == g].sum(axis=0)
        info -= gamma / (1 + gamma * (groups == g).sum()) * np.outer(s, s)
    gls = np.sqrt(np.diag(float(result.scale) * np.linalg.inv(info)))
    assert not np.allclose(gls, np.asarray(result.bse_fe), rtol=1e-6)
