"""Printed figures of ``srmsim thresholds`` from real pupils when a trust has very few schools:
no figure may rest on a handful of pupils with, or without, the outcome (docs/privacy.md)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srmsim.cli import main
from srmsim.risk import curves

ARGS = ["--score", "attendance_rate", "--outcome", "withdrawn", "--n-boot", "200"]


def trust(spec: dict[str, tuple[int, int]], seed: int = 1) -> pd.DataFrame:
    """Schools ``{code: (pupils, pupils with the outcome)}``; those with the outcome attend
    less, and a school of one pupil with the outcome has that pupil ranked third riskiest."""
    rng = np.random.default_rng(seed)
    frames = []
    for school, (n, n_pos) in spec.items():
        y = np.zeros(n, dtype=int)
        y[:n_pos] = 1
        att = np.where(y == 1, rng.uniform(0.6, 0.95, n), rng.uniform(0.8, 1.0, n))
        if n_pos == 1:  # its own AP is 1/3 and its AUC 1 - 2/(n - 1): both give its counts
            att[1:] = np.linspace(0.80, 1.0, n - 1)
            att[0] = (att[2] + att[3]) / 2
        frames.append(pd.DataFrame({"school": school, "attendance_rate": att.round(6),
                                    "withdrawn": y}))
    return pd.concat(frames, ignore_index=True)


def auc_line(tmp_path: Path, df: pd.DataFrame, capsys, *extra: str) -> str:
    path = tmp_path / "export.csv"
    df.to_csv(path, index=False)
    assert main(["thresholds", str(path), *ARGS, "--out", str(tmp_path / "out"), *extra]) == 0
    out = capsys.readouterr().out
    return next(x for x in out.splitlines() if x.startswith("AUC"))


def own_figures(df: pd.DataFrame, school: str) -> tuple[str, str]:
    """One school's own AUC and AP as the command prints figures (3 decimals)."""
    one = df[df["school"] == school]
    return (f"{curves.auc(one, 'attendance_rate', 'withdrawn'):.3f}",
            f"{curves.average_precision(one, 'attendance_rate', 'withdrawn'):.3f}")


@pytest.mark.parametrize("spec", [{"A": (300, 60), "B": (100, 1)},
                                  {"A": (200, 40), "B": (200, 45), "C": (100, 1)}])
def test_interval_of_few_schools_is_withheld_when_one_has_few_with_the_outcome(
        tmp_path: Path, capsys, spec):
    """With two or three schools a bootstrap replicate is often one school drawn every time,
    so an interval end was that school's own AUC and AP: '(95% CI 0.830-1.000); average
    precision 0.710 (0.710-0.333)'-like lines printed the AP 1/3 of a school's one pupil with
    the outcome, ranked third, and its AUC 1 - 2/98 (with its 100 pupils from `data summary`,
    its 1 pupil with the outcome and the 2 ranked above)."""
    df = trust(spec)
    small = next(s for s, (_, p) in spec.items() if p == 1)
    auc, ap = own_figures(df, small)
    assert ap == "0.333"
    line = auc_line(tmp_path, df, capsys)
    assert "CI" not in line.replace("no 95% CI", ""), line
    assert "no 95% CI" in line and "fewer than 10 students with, or without" in line, line
    ends = re.findall(r"\d\.\d{3}", line)[2:]
    assert ap not in ends and auc not in ends, line
    # the figures, which name the intervals in their legends, are drawn from the same bands
    assert (tmp_path / "out" / "roc.png").exists()


def test_interval_still_printed_when_every_replicate_holds_enough(tmp_path: Path, capsys):
    """The rule is about replicates resting on few pupils, not a ban on few schools: three
    schools each with enough pupils with and without the outcome keep their interval."""
    line = auc_line(tmp_path, trust({"A": (200, 40), "B": (200, 45), "C": (150, 30)}), capsys)
    low, high = map(float, re.search(r"95% CI (\S+)-(\S+)\)", line).groups())
    assert low < high, line


def test_simulated_bands_are_not_withheld():
    """``protect`` is for real data only: without it the bands are the plain cluster
    bootstrap's, whatever the schools hold."""
    df = trust({"A": (300, 60), "B": (100, 1)})
    plain = curves.bootstrap_curves(df, "attendance_rate", "withdrawn", n_boot=200)
    assert plain.withheld == "" and plain.auc_low <= plain.auc_high
    safe = curves.bootstrap_curves(df, "attendance_rate", "withdrawn", n_boot=200, protect=10)
    assert safe.withheld and np.isnan(safe.auc_low) and np.isnan(safe.ap_high)
    assert np.isnan(safe.roc["tpr_low"]).all() and safe.auc_samples.size == 0
    assert safe.auc == plain.auc and "nan" not in safe.summary()


@pytest.mark.parametrize("n_boot", ["40", "200"])
def test_how_many_replicates_are_undefined_is_not_printed_from_real_data(
        tmp_path: Path, capsys, n_boot):
    """A school with no pupil with the outcome makes every replicate drawing only it undefined;
    with the seed (default 0) anyone can redo the draws, so '64 undefined' (200 replicates)
    or 'only 26 with both outcomes' (40) said which school has none: a count of 0."""
    line = auc_line(tmp_path, trust({"A": (300, 60), "B": (100, 0)}), capsys,
                    "--n-boot", n_boot)
    assert "withheld: some replicates draw school clusters holding fewer than 10" in line, line
    assert "undefined" not in line and "with both outcomes" not in line, line
