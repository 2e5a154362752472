"""A privacy attack on ``srmsim thresholds`` with ``--by`` columns of three or more groups.

docs/privacy.md: no count under 10 of pupils may be recovered by any arithmetic on what ONE
command prints and writes. A pupil export of a few hundred rows (3 schools, year groups 7 to
11, a 4-valued ethnicity), with 22 rows left out for a missing score or outcome, all in one
school, year group and ethnicity, is run through the real CLI with ``--by`` alone and two
together, and everything it prints and writes is attacked: the band cells (differences of
adjacent published thresholds, and the ends), the remainder group (overall minus the other
groups), the groups' ``n`` adding up to the rows used and the missing-rows line, rates times
their denominators, the unrounded gaps, the crossing of two ``--by`` columns (Frechet bounds of
each school x year group cell from the two margins) and the printed AUC. The same data is
attacked again with ethnicity blank for 142 pupils (a fifth group, ``(missing)``, holding every
row left out) and ``--direction above``, and with the score in steps of 0.02 (bands ending
inside ties). Each test asserts the attack pins nothing under 10 (none did: no leak found).
"""

from __future__ import annotations

import hashlib
import re
from itertools import combinations, product
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srmsim.cli import main

#: the module's every test reads one fixture of 14 CLI runs (17 s): built once, on one worker
pytestmark = pytest.mark.xdist_group("thresholds_multigroup")

MIN = 10
SCORE, OUTCOME = "attendance_rate", "withdrawn"
COUNTS = ("n", "n_pos", "flagged", "tp", "fp", "fn", "tn")
#: each rate and the counts it is a ratio of (numerator, denominator)
RATES = {"flag_rate": ("flagged", "n"), "sensitivity": ("tp", ("tp", "fn")),
         "specificity": ("tn", ("tn", "fp")), "precision": ("tp", ("tp", "fp")),
         "npv": ("tn", ("tn", "fn"))}
BY_SETS = [("year_group",), ("ethnicity",), ("school",), ("year_group", "ethnicity"),
           ("school", "year_group"), ("school", "ethnicity"),
           ("school", "year_group", "ethnicity")]


def pupils(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """A real-looking export: 3 schools, year groups 7-11, 4 ethnicities; and 22 more pupils of
    year 11 at NFD (WBRI): 10 with the outcome and no score, 12 with a score and no outcome (so
    no part left out, overall or in a group, is 1 to 9: that is refused on its own)."""
    rng = np.random.default_rng(seed)
    att = np.round(rng.beta(12, 2, n), 3)
    yg = rng.choice([7, 8, 9, 10, 11], n)
    eth = rng.choice(["WBRI", "ASIA", "BLAC", "MIXD"], n, p=[.3, .25, .25, .2])
    school = rng.choice(["NFD", "RVS", "HLM"], n, p=[.4, .35, .25])
    p = 1 / (1 + np.exp(-(-0.7 - 12 * (att - 0.85) + 0.1 * (yg - 9))))
    y = (rng.random(n) < p).astype(object)
    df = pd.DataFrame({"upn": [f"A{i:05d}" for i in range(n)], "school": school,
                       "year_group": yg, "ethnicity": eth, SCORE: att, OUTCOME: y})
    extra = pd.DataFrame({"upn": [f"B{i:05d}" for i in range(22)], "school": "NFD",
                          "year_group": 11, "ethnicity": "WBRI",
                          SCORE: [np.nan] * 10 + list(np.round(rng.beta(12, 2, 12), 3)),
                          OUTCOME: [True] * 10 + [None] * 12})
    return pd.concat([df, extra], ignore_index=True)


def blanked() -> pd.DataFrame:
    """:func:`pupils` with ethnicity blank for 120 pupils and the 22 left out: a fifth group,
    ``(missing)``, holding every row left out."""
    df = pupils()
    rng = np.random.default_rng(11)
    df.loc[rng.choice(600, 120, replace=False), "ethnicity"] = np.nan
    df.loc[600:, "ethnicity"] = np.nan
    return df


def tied() -> pd.DataFrame:
    """:func:`pupils` with the score in steps of 0.02: few distinct values, each held by many
    pupils, so every distinct value is a candidate threshold and bands end inside ties."""
    df = pupils()
    df[SCORE] = (df[SCORE] / 0.02).round() * 0.02
    return df


#: (the data, --direction) of each variant attacked
VARIANTS = {"below": (pupils, "below"), "blank-above": (blanked, "above"),
            "tied": (tied, "below")}
CASES = [(v, by) for v in VARIANTS for by in BY_SETS]


def case_id(case: tuple) -> str:
    return f"{case[0]}:{'+'.join(case[1])}"


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("multigroup") / "export.csv"
    pupils().to_csv(path, index=False)
    return path


def run(export: Path, by: tuple[str, ...], capsys, *extra: str) -> tuple[str, Path]:
    # the extra arguments named by a digest (hundreds of thresholds make too long a name)
    tag = hashlib.sha256("\0".join(extra).encode()).hexdigest()[:12] if extra else ""
    out = export.parent / ("out_" + "_".join(by) + tag)
    status = main(["thresholds", str(export), "--score", SCORE, "--outcome", OUTCOME,
                   "--by", *by, "--out", str(out), "--n-boot", "40", "--capacity", "100",
                   "--cost-missed", "10", "--cost-needless", "1", *extra])
    assert status == 0
    return capsys.readouterr().out, out


def numeric(path: Path) -> pd.DataFrame:
    """A written table read back as an attacker would: every printed cell as a number."""
    df = pd.read_csv(path, dtype=str)
    for c in df.columns:
        if c not in ("by", "group"):
            df[c] = pd.to_numeric(df[c], errors="coerce")
    return df


def units(overall: pd.DataFrame, by_table: pd.DataFrame | None) -> list[pd.DataFrame]:
    out = [overall]
    if by_table is not None:
        out += [g for _, g in by_table.groupby(["by", "group"], sort=True)]
    return out


def bands(u: pd.DataFrame, direction: str = "below") -> list[tuple[int, int]]:
    """The (with, without the outcome) pupils of each band of scores, riskiest first: adjacent
    published thresholds differenced, and both ends."""
    u = u.sort_values("threshold", ascending=direction == "below")
    tp = np.r_[0, u["tp"].to_numpy(int), int(u["n_pos"].iloc[0])]
    fp = np.r_[0, u["fp"].to_numpy(int), int(u["n"].iloc[0] - u["n_pos"].iloc[0])]
    return list(zip(np.diff(tp).tolist(), np.diff(fp).tolist(), strict=True))


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict:
    """Every variant and --by set run once through the CLI in-process (capsys is
    function-scoped, so stdout is captured by hand): stdout, the folder, the two tables."""
    import contextlib
    import io

    got = {}
    for variant, (data, direction) in VARIANTS.items():
        folder = tmp_path_factory.mktemp(variant)
        data().to_csv(folder / "export.csv", index=False)
        for by in BY_SETS:
            out = folder / ("out_" + "_".join(by))
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                status = main(["thresholds", str(folder / "export.csv"), "--score", SCORE,
                               "--outcome", OUTCOME, "--by", *by, "--out", str(out),
                               "--direction", direction, "--n-boot", "40", "--capacity",
                               "100", "--cost-missed", "10", "--cost-needless", "1"])
            assert status == 0
            overall = numeric(out / "thresholds.csv")
            by_path = out / "thresholds_by_group.csv"
            by_table = numeric(by_path) if by_path.exists() else None
            got[variant, by] = (buf.getvalue(), out, overall, by_table, direction)
    return got


@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.once
def test_every_band_of_every_group_holds_ten_with_and_without(reports, case) -> None:
    text, out, overall, by_table, direction = reports[case]
    by = case[1]
    assert len(overall) >= 1
    for u in units(overall, by_table):
        for pos, neg in bands(u, direction):
            assert pos >= MIN and neg >= MIN, (by, u.iloc[0].to_dict(), bands(u, direction))
        assert (u[list(COUNTS)].to_numpy() >= MIN).all()


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_the_remainder_group_is_a_published_group(reports, case) -> None:
    """Overall minus every group but one gives that group's counts as published: nothing the
    tables did not already show, and at least 10 in every band."""
    _, _, overall, by_table, direction = reports[case]
    if by_table is None:
        return
    base = overall.set_index("threshold")
    for col, sub in by_table.groupby("by"):
        assert sub["group"].nunique() >= 3
        for g in sub["group"].unique():
            others = sub[sub["group"] != g].groupby("threshold")[list(COUNTS)].sum()
            remainder = base.loc[others.index, list(COUNTS)] - others  # the column's grid
            mine = sub[sub["group"] == g].set_index("threshold")[list(COUNTS)]
            assert (remainder == mine).all().all(), (col, g)
            left = remainder.reset_index()
            for pos, neg in bands(left, direction):
                assert pos >= MIN and neg >= MIN


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_rates_times_their_denominators_give_only_published_counts(reports, case) -> None:
    """A rate (4 decimals) times its printed denominator gives a numerator: it must be the
    published one (no count is hidden to recover) and at least 10."""
    _, _, overall, by_table, direction = reports[case]
    for u in units(overall, by_table):
        for rate, (num, den) in RATES.items():
            d = u[list(den)].sum(axis=1) if isinstance(den, tuple) else u[den]
            back = np.round(u[rate] * d).astype(int)
            assert (back == u[num]).all(), rate
            assert (back >= MIN).all()


@pytest.mark.parametrize("case", [c for c in CASES if len(c[1]) >= 2], ids=case_id)
def test_margins_bound_no_crossed_cell_below_ten_wide(reports, case) -> None:
    """Two or three --by columns are margins of a never-printed crossing (school x year group
    x ethnicity): in each band, among pupils with and without the outcome, every crossed
    cell's range from the margins (Frechet bounds: exact for a two-way table from its two
    margins) is at least 10 wide, for every pair of columns and, with three, the triple. Each
    column is on its own grid: the crossed bands are those of the thresholds they share."""
    _, _, overall, by_table, direction = reports[case]
    by = case[1]
    shown = sorted(by_table["by"].unique())
    assert shown == sorted(by)  # none withheld on this data: the crossing is attacked
    for size in range(2, len(shown) + 1):
        for cols in combinations(shown, size):
            # each column is on its own grid: its margins and the others' meet in the bands
            # of the thresholds they share
            shared = set.intersection(*(set(by_table.loc[by_table["by"] == c, "threshold"])
                                        for c in cols))

            def cut(u: pd.DataFrame, shared: set = shared) -> list[tuple[int, int]]:
                on = u[u["threshold"].isin(shared)]  # none shared: the whole group, one band
                return (bands(on, direction) if len(on) else
                        [(int(u["n_pos"].iloc[0]), int(u["n"].iloc[0] - u["n_pos"].iloc[0]))])

            total = cut(overall)
            margins = {c: [cut(u) for _, u in by_table[by_table["by"] == c].groupby("group")]
                       for c in cols}
            for k, (tot_pos, tot_neg) in enumerate(total):
                for side, big in ((0, tot_pos), (1, tot_neg)):
                    for cell in product(*(margins[c] for c in cols)):
                        sizes = [m[k][side] for m in cell]
                        lo = max(0, sum(sizes) - (len(sizes) - 1) * big)
                        hi = min(sizes)
                        assert hi - lo >= MIN, (cols, k, side, lo, hi)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_groups_and_the_missing_line_give_no_small_left_out_count(reports, case) -> None:
    """The groups' n add up to the rows used (no remainder of left-out rows per group), no
    per-group missing count is printed or written, and the missing-rows line's parts (rows
    left out, missing both) are 0 or at least 10."""
    text, _, overall, by_table, direction = reports[case]
    line = re.search(r"rows: ([\d,]+); used ([\d,]+); missing score (\S+); missing outcome "
                     r"(\S+) ", text)
    assert line, text
    rows, used = (int(line[i].replace(",", "")) for i in (1, 2))
    assert used == int(overall["n"].iloc[0])
    left = rows - used
    assert left == 0 or left >= MIN
    shown = [None if line[i] == "c" else int(line[i].replace(",", "")) for i in (3, 4)]
    if None not in shown:
        both = shown[0] + shown[1] - left
        for part in (*shown, both, shown[0] - both, shown[1] - both):
            assert part == 0 or part >= MIN, line[0]
    if by_table is not None:
        assert "n_missing" not in by_table.columns
        for _, sub in by_table.groupby(["by", "threshold"]):
            assert int(sub["n"].sum()) == used and int(sub["n_pos"].sum()) == int(
                overall["n_pos"].iloc[0])
    assert "missing " not in text.split("missing outcome")[1].split("\n", 1)[1]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_printed_counts_and_unrounded_gaps_add_nothing(reports, case) -> None:
    """Every whole number stdout prints (thresholds, rates and paths aside) is at least 10,
    and fairness_gaps.csv's unrounded gaps are differences of the published rates."""
    text, out, overall, by_table, direction = reports[case]
    body = text.replace(str(out), "").replace(str(out.parent), "")
    body = re.sub(r"\d+\.\d+%?|\d+(\.\d+)? pp|£[\d,.]+|threshold [\d.]+|AUC.*|average .*"
                  r"|\d+ of \d+ candidate|\d+ replicates|\d+ school clusters"
                  r"|--suppress-below \d+|at least \d+|fewer than \d+|year_group at"
                  r"|\b(7|8|9|10|11): ", "", body)
    body = re.sub(r"by [a-z_ ,]+at threshold[^:]*:", "", body)
    small = [int(m) for m in re.findall(r"\b\d+\b", body.replace(",", "")) if int(m) < MIN]
    assert small == [] or set(small) == {0}, body
    if by_table is None:
        return
    gaps = pd.read_csv(out / "fairness_gaps.csv")
    for (col, t), sub in by_table.groupby(["by", "threshold"]):
        g = gaps[(gaps["by"] == col) & np.isclose(gaps["threshold"], t)].iloc[0]
        for metric in ("flag_rate", "sensitivity"):
            spread = sub[metric].max() - sub[metric].min()
            assert abs(g[f"{metric}_gap"] - spread) <= 1e-4 + 1e-12


def banded_auc(u: pd.DataFrame, direction: str) -> float:
    """The AUC of the score in its published bands, from the published counts alone: pairs
    (with, without the outcome) in order, ties counted half (the riskier band flagged first,
    whichever the direction)."""
    b = bands(u, direction)  # riskiest band first
    pos = np.array([p for p, _ in b], float)
    neg = np.array([q for _, q in b], float)
    above = np.cumsum(neg[::-1])[::-1] - neg  # negatives in later (safer) bands
    return float((pos * above).sum() + 0.5 * (pos * neg).sum()) / (pos.sum() * neg.sum())


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_the_auc_printed_follows_from_the_published_counts(reports, case) -> None:
    text, _, overall, _, direction = reports[case]
    auc = float(re.search(r"AUC (\d\.\d+)", text)[1])
    assert abs(auc - banded_auc(overall, direction)) <= 0.0005 + 1e-9


def test_a_withheld_column_leaves_no_trace_of_its_groups(export, capsys) -> None:
    """A 5-valued column that fits no grid with year_group, or has a group too small, is
    withheld whole: none of its groups is named or counted in any output."""
    df = pupils()
    rng = np.random.default_rng(7)
    df["home_language"] = rng.choice(["ENG", "POL", "URD", "PAN", "SOM"], len(df),
                                     p=[.8, .05, .05, .05, .05])
    path = export.parent / "with_language.csv"
    df.to_csv(path, index=False)
    text, out = run(path, ("year_group", "home_language"), capsys)
    assert "by home_language: withheld" in text
    by_table = numeric(out / "thresholds_by_group.csv")
    assert set(by_table["by"]) == {"year_group"}
    written = "".join(p.read_text() for p in out.glob("*.csv")) + text
    for g in ("ENG", "POL", "URD", "PAN", "SOM"):
        assert g not in written


def test_adjacent_thresholds_given_are_published_only_ten_apart_in_every_group(
        export, capsys) -> None:
    """Thresholds a thousandth apart, between the scores (given to three decimals), asked for
    with --by year_group ethnicity: those kept cut bands of at least 10 with and 10 without in
    every group (the differences of adjacent published rows), and the remainder above the
    last. (Hundredths matched the grid by chance: where the grid's cuts fall depends on the
    scores, and on the fences of `srmsim.risk.protected.fence_plan` too.)"""
    ts = [f"{t:.4f}" for t in np.arange(0.7005, 0.99, 0.001)]
    text, out = run(export, ("year_group", "ethnicity"), capsys, "--thresholds", *ts)
    overall = numeric(out / "thresholds.csv")
    by_table = numeric(out / "thresholds_by_group.csv")
    assert 1 <= len(overall) < len(ts) and "not published" in text
    assert set(by_table["by"]) == {"year_group", "ethnicity"}
    for u in units(overall, by_table):
        for pos, neg in bands(u):
            # (0, 0): two given thresholds with no score between them flag the same pupils
            assert (pos, neg) == (0, 0) or (pos >= MIN and neg >= MIN)
