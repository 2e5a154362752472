"""Results a newcomer can read (helper 256): a small regret is not printed as none, the
sensitivity table's half-widths say what they are, an interval of a difference of shares stays
within what two shares can differ by, and a trial on records tells withheld from not measured."""

from __future__ import annotations

import pandas as pd

from srmsim.experiment.compare import compare_frame, format_effects
from srmsim.experiment.learning import regret_outcomes
from srmsim.experiment.outcomes import LEVEL_FORMATS, format_value


def test_a_small_regret_level_is_not_printed_as_no_regret() -> None:
    """A learned chooser's regret of 0.04 months printed "0.0 months" beside the oracle's 0, as
    if it had none: a level keeps two significant digits where its decimals would read 0, as a
    difference does (:func:`srmsim.experiment.outcomes.significant_decimals`); a share keeps
    0.1%, the rounding the privacy checks of records assume."""
    registry = regret_outcomes("reading")
    runs = pd.DataFrame({"variant": ["oracle", "oracle", "learned", "learned"],
                         "replication": [0, 1, 0, 1], "regret": [0.0, 0.0, 0.04, 0.05]})
    text = format_effects(compare_frame(runs, "oracle", ["regret"], registry=registry),
                          registry)
    row = next(line for line in text.splitlines() if line.startswith("learned"))
    assert "0.0 months 0.045 months +0.045 months" in " ".join(row.split()), row
    for scale in LEVEL_FORMATS:
        assert format_value(0.004, scale) not in (format_value(0.0, scale),
                                                  format_value(-0.004, scale)), scale
        assert format_value(-0.004, scale).startswith("-0.00"), scale
    assert [format_value(v, "months") for v in (2.2, -1.84, 0.04, 0.0)] == [
        "2.2 months", "-1.8 months", "0.040 months", "0.0 months"]
    assert format_value(4790.4, "hours") == "4,790 h" and format_value(0.4, "hours") == "0.40 h"
    assert format_value(0.0004, "share") == "0.0%"


def test_an_interval_of_a_difference_of_shares_stays_within_100_pp_and_covers_as_t_does(
        ) -> None:
    """With 2 replications the oracle match's difference read "-96.20 pp to +116.34 pp": two
    shares differ by at most 100 pp. The interval is cut at the bounds; on shares of a known
    truth (a baseline's 30%, a variant's shares drawn from Beta(4, 4), mean 50%: a true
    difference of +20 pp; 600 experiments of 2 replications) it covers the true difference
    exactly when the t interval does, near 95%, and many were cut, above and below. Values outside 0 to 1 (not
    a share) are not cut."""
    import numpy as np

    from srmsim.experiment.compare import bounds_note

    rng = np.random.default_rng(256)
    k, truth = 600, 0.5 - 0.3
    runs = pd.DataFrame({
        "variant": ["base"] * 2 + [f"v{i}" for i in range(k) for _ in range(2)],
        "replication": [0, 1] * (k + 1),
        "oracle_match": np.concatenate([[0.3, 0.3], rng.beta(4, 4, size=2 * k)])})
    eff = compare_frame(runs, "base", ["oracle_match"])
    d, half = eff["difference"].to_numpy(), eff["half_width"].to_numpy()
    t_low, t_high = d - half, d + half
    low, high = eff["ci_low"].to_numpy(), eff["ci_high"].to_numpy()
    assert ((low >= -1) & (high <= 1)).all() and ((low >= t_low) & (high <= t_high)).all()
    cut = (low > t_low) | (high < t_high)
    assert (high < t_high).sum() > 100 and (low > t_low).sum() > 20  # past +100 pp, -100 pp
    covered = (low <= truth) & (truth <= high)
    assert (covered == ((t_low <= truth) & (truth <= t_high))).all()
    assert 0.92 < covered.mean() < 0.98, covered.mean()  # 95% give or take 3 MC SEs
    assert (eff["verdict"] == ["better" if lo > 0 else "worse" if hi < 0 else "no clear change"
                               for lo, hi in zip(t_low, t_high, strict=True)]).all()
    note = bounds_note(eff)
    assert note.startswith(f"{int(cut.sum())} intervals of a difference of shares reached past")
    text = format_effects(eff)
    assert "+100.00 pp" in text and note in " ".join(text.split())
    # not a share: values outside 0 to 1 keep the t interval
    wide = compare_frame(runs.assign(oracle_match=runs["oracle_match"] * 4 + 1), "base",
                         ["oracle_match"])
    assert (wide["ci_high"] > 1).any() and bounds_note(wide) == ""


def test_a_trial_on_records_tells_withheld_from_not_measured(tmp_path) -> None:
    """A trial from records showed every blank group difference as withheld (``low``, ``c``):
    trial_groups.csv could not tell withheld from not measured. Its ``withheld`` column names
    the numbers withheld; the report shows ``low`` there and "not measured" where nothing was
    measured (the whole arm's reading here). A group's value not measured where the arm's is
    (0 of its students tested) is withheld with its partition, as a small count is. A mark
    naming a number that is shown is refused; a file without the column (an older srmsim's)
    reads every blank as withheld, as before."""
    import numpy as np
    import pytest

    from srmsim.errors import SrmsimError
    from srmsim.report.page import Page
    from srmsim.report.trial import _withheld_marks, truth_sections
    from srmsim.trial.groups import (
        ALL,
        TRUTH_OUTCOMES,
        WITHHELD_COLUMN,
        truth_effects,
        withhold_small_groups,
    )

    n = 80
    students = pd.DataFrame({"fsm": np.arange(n) < 30, "sen": np.arange(n) % 2 == 0,
                             "eal": np.arange(n) % 3 == 0, "school": np.arange(n) % 2})
    sizes = {ALL: n, "FSM": 30, "not FSM": 50, "SEN": 40, "not SEN": 40, "EAL": 27,
             "not EAL": 53, "school 0": 40, "school 1": 40}
    rows = [{"group": g, "outcome": o, "trial": v, "counterfactual": v, "students": k,
             WITHHELD_COLUMN: ""} for g, k in sizes.items()
            for o, v in (("attendance", 0.9), ("reading_gap_end", np.nan),
                         ("attainment", np.nan if g == "school 1" else 0.1))]
    analysed = np.ones(n, dtype=bool)
    analysed[[0, 1, 2]] = False  # 3 FSM pupils left out: FSM's partition withheld
    analysed[30:50] = False  # and 20 not FSM: the arm (23) stays
    out = withhold_small_groups(pd.DataFrame(rows), students, students, np.ones(n, dtype=bool),
                                analysed, all_analysed_ok=True).set_index(["group", "outcome"])
    marks = out[WITHHELD_COLUMN]
    assert (marks.loc[["FSM", "not FSM"]] == "trial counterfactual students").all()
    assert marks.loc[(ALL, "reading_gap_end")] == "" and marks.loc[(ALL, "attendance")] == ""
    assert out.loc[("SEN", "reading_gap_end"), "trial"] != out.loc[("SEN", "reading_gap_end"),
                                                                   "trial"]  # blank, unmarked
    assert marks.loc[("SEN", "reading_gap_end")] == ""
    # school 1's attainment not measured where the arm's is: both schools' withheld
    assert (marks.loc[[("school 0", "attainment"), ("school 1", "attainment")]]
            == "trial counterfactual").all()
    assert out.loc[("school 0", "attainment"), ["trial", "counterfactual"]].isna().all()

    # the report, from a trial_groups.csv of two replications (every outcome the trial keeps)
    table = []
    for rep in (0, 1):
        for g, k in ((ALL, 200.0), ("FSM", np.nan), ("not FSM", np.nan)):
            for o in TRUTH_OUTCOMES:
                value = np.nan if np.isnan(k) or o in ("reading_gap_end", "staff_hours") \
                    else 0.5 + 0.01 * rep
                table.append({"replication": rep, "group": g, "outcome": o, "trial": value,
                              "counterfactual": 0.0 if o == "students_served"
                              and not np.isnan(k) else value,
                              "students": k,
                              WITHHELD_COLUMN: "trial counterfactual students" if np.isnan(k)
                              else "trial counterfactual" if o == "staff_hours" else ""})
    table = pd.DataFrame(table)
    eff = truth_effects(table.drop(columns=WITHHELD_COLUMN))
    page = Page("t")
    truth_sections(page, eff, "attendance", records=True,
                   marks=_withheld_marks(table, tmp_path / "trial_groups.csv", True))
    html = page.render()
    reading = html[html.index("Reading gap"):][:3000]
    assert "not measured" in reading and ">low<" not in reading.split("FSM")[0]
    assert ">low<" in html and "is withheld" in html
    cost = html[html.index("Cost and staff hours"):html.index("True effects by group")]
    assert ">low<" in cost.split("staff hours<")[-1][:400]  # staff hours: withheld
    older = Page("t")  # without the column: every blank withheld, as before
    truth_sections(older, eff, "attendance", records=True)
    assert "not measured" not in older.render()
    edited = table.assign(**{WITHHELD_COLUMN: table[WITHHELD_COLUMN].where(
        table.index != 0, "trial")})  # names a number that is shown
    with pytest.raises(SrmsimError, match=r"trial_groups.csv: line 2: column 'withheld'"):
        _withheld_marks(edited, tmp_path / "trial_groups.csv", True)
