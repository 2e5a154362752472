"""Hostile names in the pages, figures, CSV files and terminal lines srmsim writes: a name a
user wrote (a custom outcome's label) or a value of imported data (a --by group) is drawn,
printed and written as written, never run as TeX, markup, a formula or a terminal command."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from types import SimpleNamespace

import yaml
from conftest import tiny_policy_scenario
from test_risk_cli import students

from srmsim.cli import main
from srmsim.outputs import read_csv_cells

#: matplotlib's mathtext raised ValueError on this (an unbalanced ``\frac``) when it was drawn
TEX = "a$\\frac{1}{$b"


def cli(*args: str) -> SimpleNamespace:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def _experiment(tmp: Path, label: str) -> Path:
    scenario = tiny_policy_scenario(trust={"n_schools": 2, "students_per_year_group": 20,
                                           "size_cv": 0.0})
    (tmp / "tiny.yaml").write_text(yaml.safe_dump(scenario))
    exp = {"name": "lab", "scenario": "tiny.yaml", "baseline": "none", "replications": 2,
           "seed": 1, "outcomes": ["attendance", {
               "name": "att2", "label": label, "statistic": "mean", "of": "attendance_rate",
               "scale": "share"}],
           "variants": {"texts": {}, "none": {"policy": None}}}
    (tmp / "exp.yaml").write_text(yaml.safe_dump(exp, sort_keys=False))
    return tmp / "exp.yaml"


# ------------------------------------------------------------------ TeX in figures
def test_a_figure_draws_dollar_signs_as_written():
    """Every srmsim figure (srmsim.figures.new_figure) reads no TeX: only the report page
    switched it off, so forest.png, fairness.png and the other figures raised."""
    from srmsim.figures import new_figure, png_bytes

    fig, ax = new_figure()
    ax.set_title(TEX)
    ax.plot([0, 1], [0, 1], label=TEX)
    ax.legend()
    fig.suptitle("$x")
    fig.tight_layout()
    assert png_bytes(fig)[:4] == b"\x89PNG"


def test_an_outcome_label_with_dollar_signs_is_not_a_traceback(tmp_path):
    """`srmsim experiment` drew the custom outcome's label on forest.png before the report:
    an unbalanced ``$`` was a ValueError traceback (exit 1), the effects never written."""
    label = TEX + " <script>alert(1)</script> =1+1"
    proc = cli("experiment", str(_experiment(tmp_path, label)), "--workers", "1", "--quiet",
               "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    assert (out / "forest.png").read_bytes()[:4] == b"\x89PNG"
    page = (out / "report.html").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    labels = [row[3] for row in read_csv_cells(out / "effects.csv")[1:]]
    assert label in labels  # not a formula: it does not start with one


def test_a_data_group_with_dollar_signs_is_drawn_as_written(tmp_path):
    """A --by group of the pupils' file (a value of the data) is a legend entry of
    fairness.png: ``$`` in it was a traceback (exit 1) and nothing was written."""
    df = students()
    df["sex"] = df["sex"].map({"F": TEX, "M": "m"})
    df.to_csv(tmp_path / "pupils.csv", index=False)
    proc = cli("thresholds", str(tmp_path / "pupils.csv"), "--score", "attendance_rate",
               "--outcome", "withdrawn", "--by", "sex", "--n-boot", "40", "--out",
               str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "fairness.png").read_bytes()[:4] == b"\x89PNG"
    assert f"{TEX}: flag" in proc.stdout


# ------------------------------------------------------------------ the terminal
def test_a_data_group_with_a_terminal_escape_is_printed_as_its_escape(tmp_path):
    """`srmsim thresholds --by` printed each group (a value of the pupils' file) raw: its
    ``\\x1b[2J`` cleared the terminal, ``\\u202e`` reordered the line, and matplotlib's warning
    about the legend's missing glyph echoed the escape on stderr."""
    df = students()
    df["sex"] = df["sex"].map({"F": "a\x1b[2Jb", "M": "c\u202ed"})
    df.to_csv(tmp_path / "pupils.csv", index=False)
    proc = cli("thresholds", str(tmp_path / "pupils.csv"), "--score", "attendance_rate",
               "--outcome", "withdrawn", "--by", "sex", "--n-boot", "40", "--out",
               str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    printed = proc.stdout + proc.stderr
    assert "\x1b" not in printed and "\u202e" not in printed
    assert "a\\x1b[2Jb: flag" in proc.stdout and "c\\u202ed: flag" in proc.stdout
