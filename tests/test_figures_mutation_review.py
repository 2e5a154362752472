"""Mutation review of the figures srmsim draws: srmsim.figures (the Agg figure, PNG bytes,
saving) and srmsim.risk.plots (roc.png, pr.png with and without the bootstrap band, the
published-points curves of real data, fairness.png, the value-of-pooling figure), and two
figures whose numbers no test read back: the forest plot of effects
(srmsim.experiment.compare.forest_plot, forest.png) and a run's weekly attendance chart
(srmsim.report.run.attendance_figure). Each test draws with the Agg canvas and reads the
artists back (line data, errorbar segments, filled areas, axis labels, titles, legends),
against numbers written into the input by hand: the effect and both ends of its interval, the variant on each row, shares in
percentage points, the zero and chance lines, the base rate, hidden (NaN) cells not drawn.

Mutations tried: 75 (risk.plots 43, figures 15, forest_plot 12, attendance_figure 5), each
alone, against tests/test_privacy_figures.py, test_risk_cli.py, test_summary_thresholds_privacy_review.py,
test_privacy_few_schools.py and the fairness test of test_resource_limits_review.py (risk.plots);
test_pages_injection_review.py, test_input_safety.py, test_privacy_figures.py and
test_risk_cli.py (figures); test_experiment_mutation_review.py and test_pages_injection_review.py
(forest_plot); test_report_mutation_review.py and test_reports_review.py (attendance_figure).
Killed by those: 11. Survived: 64, of which 61 are killed by the tests below and 3 are
equivalent; survivors left: 0. No defect was found.

Equivalent mutants, and why:
- fairness ``n`` read from a group's last row instead of its first: a group's n (pupils with a
  score and an outcome) is the same at every threshold.
- fairness gap per threshold ``.first()`` -> ``.last()``: the gap column holds one value per
  (by, threshold), repeated on every group's row.
- ``path.suffix.lower() == ".png"`` -> ``path.suffix == ".png"``: ``X.PNG`` then goes through
  ``fig.savefig``, which infers PNG from the suffix and writes the same bytes at the same dpi
  (the test here compares them).
"""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

import srmsim.risk.plots as plots
from srmsim.figures import new_figure, png_bytes, save
from srmsim.risk.curves import CurveBands


def xy(line) -> list[tuple[float, float]]:
    return [(round(float(x), 9), round(float(y), 9)) for x, y in line.get_xydata()]


def band_vertices(ax) -> set[tuple[float, float]]:
    """The corners of every filled area of an Axes (fill_between's polygon)."""
    return {(round(float(x), 9), round(float(y), 9))
            for coll in ax.collections for path in coll.get_paths() for x, y in path.vertices}


def legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def bands(**change) -> CurveBands:
    """Curves whose every number is written here: the point curve sits strictly inside its
    band, and the AUC, AP and their intervals are all different numbers."""
    roc = pd.DataFrame({"fpr": [0.0, 0.2, 0.5, 1.0], "tpr": [0.0, 0.6, 0.8, 1.0],
                        "tpr_low": [0.0, 0.5, 0.7, 1.0], "tpr_high": [0.0, 0.7, 0.9, 1.0]})
    pr = pd.DataFrame({"recall": [0.0, 0.5, 1.0], "precision": [0.9, 0.6, 0.3],
                       "precision_low": [0.8, 0.5, 0.25], "precision_high": [1.0, 0.7, 0.35]})
    kw = dict(roc=roc, pr=pr, auc=0.812, auc_low=0.701, auc_high=0.904,
              average_precision=0.523, ap_low=0.411, ap_high=0.634, n_boot=100,
              n_undefined=0, n_clusters=5, cluster="school", level=0.95, n_used=500,
              n_missing_score=0, n_missing_outcome=0, auc_samples=np.array([]),
              ap_samples=np.array([]))
    kw.update(change)
    return CurveBands(**kw)


# ------------------------------------------------------------------ ROC and PR with bands
def test_the_roc_figure_draws_the_curve_its_band_and_the_chance_diagonal(tmp_path, figures):
    b = bands()
    plots.plot_roc(b, tmp_path / "roc.png", "ROC: x")
    ax = figures["roc.png"].axes[0]
    curve, diagonal = ax.get_lines()
    assert xy(curve) == [(0.0, 0.0), (0.2, 0.6), (0.5, 0.8), (1.0, 1.0)]
    # chance: as many true as false positives, the line from (0, 0) to (1, 1)
    assert xy(diagonal) == [(0.0, 0.0), (1.0, 1.0)]
    corners = band_vertices(ax)
    assert {(0.2, 0.5), (0.2, 0.7), (0.5, 0.7), (0.5, 0.9)} <= corners
    assert (0.2, 0.6) not in corners and (0.5, 0.8) not in corners  # the band's edges only
    assert ax.get_xlabel() == "false positive rate (1 - specificity)"
    assert ax.get_ylabel() == "true positive rate (recall)"
    assert ax.get_xlim() == (0.0, 1.0) and ax.get_ylim()[0] == 0.0
    assert ax.get_title() == "ROC: x"
    assert sorted(legend_texts(ax)) == ["AUC 0.812 (0.701-0.904)", "bootstrap band"]


def test_the_pr_figure_draws_precision_against_recall_and_the_base_rate(tmp_path, figures):
    plots.plot_pr(bands(), tmp_path / "pr.png", 0.25, "PR: x")
    ax = figures["pr.png"].axes[0]
    curve, base = ax.get_lines()
    assert xy(curve) == [(0.0, 0.9), (0.5, 0.6), (1.0, 0.3)]
    # the base rate: the precision of flagging everyone, a horizontal line at the prevalence
    assert [y for _, y in xy(base)] == [0.25, 0.25]
    assert [x for x, _ in xy(base)] == [0.0, 1.0]
    corners = band_vertices(ax)
    assert {(0.5, 0.5), (0.5, 0.7), (1.0, 0.25), (1.0, 0.35)} <= corners
    assert (0.5, 0.6) not in corners
    assert ax.get_xlabel() == "recall (sensitivity)" and ax.get_ylabel() == "precision"
    assert ax.get_xlim() == (0.0, 1.0) and ax.get_title() == "PR: x"
    assert sorted(legend_texts(ax)) == ["AP 0.523 (0.411-0.634)", "base rate 0.250",
                                        "bootstrap band"]


@pytest.mark.parametrize("prevalence", [None, float("nan")])
def test_an_unknown_base_rate_is_not_drawn(tmp_path, figures, prevalence):
    plots.plot_pr(bands(), tmp_path / "pr.png", prevalence)
    ax = figures["pr.png"].axes[0]
    assert len(ax.get_lines()) == 1
    assert not any("base rate" in t for t in legend_texts(ax))


def test_curves_without_an_interval_say_so_in_the_legend(tmp_path, figures):
    nan = float("nan")
    b = bands(auc_low=nan, auc_high=nan, ap_low=nan, ap_high=nan)
    plots.plot_roc(b, tmp_path / "roc.png")
    plots.plot_pr(b, tmp_path / "pr.png")
    assert "AUC 0.812 (no interval)" in legend_texts(figures["roc.png"].axes[0])
    assert "AP 0.523 (no interval)" in legend_texts(figures["pr.png"].axes[0])


# ------------------------------------------------------------------ published points only
def test_published_roc_points_are_drawn_in_order_between_the_corners(tmp_path, figures):
    # rows as a threshold table lists them (threshold ascending: fpr ascending for 'below'
    # scores, here shuffled), ties in fpr ordered by tpr
    points = pd.DataFrame({"fpr": [0.6, 0.1, 0.3, 0.3], "tpr": [0.9, 0.4, 0.8, 0.7]})
    plots.plot_roc_points(points, tmp_path / "roc.png", "t", label="3 published")
    ax = figures["roc.png"].axes[0]
    curve, diagonal = ax.get_lines()
    assert xy(curve) == [(0.0, 0.0), (0.1, 0.4), (0.3, 0.7), (0.3, 0.8), (0.6, 0.9),
                         (1.0, 1.0)]
    assert xy(diagonal) == [(0.0, 0.0), (1.0, 1.0)]
    assert not ax.collections  # no band
    assert legend_texts(ax) == ["3 published"]
    assert ax.get_xlabel().startswith("false positive rate")


def test_published_pr_points_are_drawn_in_recall_order(tmp_path, figures):
    points = pd.DataFrame({"recall": [0.9, 0.2, 0.5], "precision": [0.3, 0.8, 0.6]})
    plots.plot_pr_points(points, tmp_path / "pr.png", 0.2, "t", label="3 published")
    ax = figures["pr.png"].axes[0]
    curve, base = ax.get_lines()
    assert xy(curve) == [(0.2, 0.8), (0.5, 0.6), (0.9, 0.3)]
    assert [y for _, y in xy(base)] == [0.2, 0.2]
    assert legend_texts(ax) == ["3 published", "base rate 0.200"]
    assert ax.get_xlabel() == "recall (sensitivity)" and ax.get_ylabel() == "precision"


# ------------------------------------------------------------------ fairness
def fairness_table(groups: dict[str, list[float]], n: dict[str, float] | None = None,
                   by: str = "fsm") -> pd.DataFrame:
    """Rows per group at thresholds 0.8, 0.9: flag rate r, sensitivity r + 0.05."""
    rows = []
    for g, rates in groups.items():
        for t, r in zip((0.8, 0.9), rates, strict=True):
            rows.append({"by": by, "group": g, "threshold": t,
                         "n": (n or {}).get(g, 100.0), "flag_rate": r,
                         "sensitivity": r + 0.05 if np.isfinite(r) else np.nan})
    return pd.DataFrame(rows)


def with_gaps(table: pd.DataFrame) -> pd.DataFrame:
    """The largest gap between groups at each threshold, worked out here: max - min."""
    out = table.copy()
    for m in ("flag_rate", "sensitivity"):
        out[f"{m}_gap"] = out.groupby(["by", "threshold"])[m].transform(
            lambda s: s.max() - s.min())
    return out


def test_fairness_draws_each_group_on_its_own_line_with_its_numbers(tmp_path, figures):
    t = pd.concat([fairness_table({"10": [0.1, 0.3], "2": [0.2, np.nan]}, {"2": np.nan}),
                   fairness_table({"F": [0.15, 0.25], "M": [0.35, 0.55]}, by="sex")])
    t = with_gaps(t)
    t.attrs["score"] = "attendance_rate"
    plots.plot_fairness(t, tmp_path / "fairness.png")
    fig = figures["fairness.png"]
    axes = np.array(fig.axes).reshape(2, 2)
    # first row: fsm, its groups in the table's order ("10" before "2"), a hidden cell and a
    # hidden n (NaN in a protected table read back) not drawn
    rate, sens = axes[0]
    assert [ln.get_label() for ln in rate.get_lines()] == ["fsm=10 (n=100)", "fsm=2 (n=c)"]
    assert [xy(ln) for ln in rate.get_lines()] == [[(0.8, 0.1), (0.9, 0.3)], [(0.8, 0.2)]]
    assert [xy(ln) for ln in sens.get_lines()] == [[(0.8, 0.15), (0.9, 0.35)], [(0.8, 0.25)]]
    assert legend_texts(rate) == ["fsm=10 (n=100)", "fsm=2 (n=c)"]
    for ax, metric in zip(axes[0], ("flag rate", "sensitivity"), strict=True):
        assert ax.get_xlabel() == "threshold (attendance_rate)"
        assert ax.get_ylabel() == metric
    # largest gaps: flag rate 0.1 at 0.8 (0.2 - 0.1), 0.0 at 0.9 (one group): 0.100
    assert rate.get_title() == "flag rate by fsm (largest gap 0.100)"
    assert sens.get_title() == "sensitivity by fsm (largest gap 0.100)"
    # second row: sex; gaps 0.2 at 0.8 and 0.3 at 0.9: the largest is 0.300
    rate, sens = axes[1]
    assert [xy(ln) for ln in rate.get_lines()] == [[(0.8, 0.15), (0.9, 0.25)],
                                                   [(0.8, 0.35), (0.9, 0.55)]]
    assert [ln.get_label() for ln in sens.get_lines()] == ["sex=F (n=100)", "sex=M (n=100)"]
    assert rate.get_title() == "flag rate by sex (largest gap 0.300)"
    assert "the first" not in rate.get_title()


@pytest.mark.parametrize("n_groups", [plots.MAX_FAIRNESS_GROUPS, plots.MAX_FAIRNESS_GROUPS + 1])
def test_fairness_draws_every_group_up_to_its_limit(tmp_path, figures, n_groups):
    t = with_gaps(fairness_table({f"g{i}": [i / 100, i / 50] for i in range(n_groups)}))
    plots.plot_fairness(t, tmp_path / "fairness.png")
    for ax in figures["fairness.png"].axes:
        lines = ax.get_lines()
        assert len(lines) == plots.MAX_FAIRNESS_GROUPS
        assert [ln.get_label() for ln in lines] == [f"fsm=g{i} (n=100)" for i in range(20)]
        cut = n_groups > plots.MAX_FAIRNESS_GROUPS
        assert (f"the first 20 of {n_groups} groups" in ax.get_title()) == cut


# ------------------------------------------------------------------ value of pooling
def test_value_of_pooling_draws_each_measure_and_record_kind_on_its_axes(tmp_path, figures):
    rows = []
    for coarsened in (True, False):  # coarsened first: the legend still says which is which
        for k in (1, 2, 3):
            a, c = (0.3, 0.1) if coarsened else (0.0, 0.0)
            rows.append({"coarsened": coarsened, "k": k,
                         "auc_mean": 0.6 + k / 20 - a, "auc_low": 0.5 + k / 20 - a,
                         "auc_high": 0.7 + k / 20 - a,
                         "precision_at_capacity_mean": 0.3 + k / 100 - c,
                         "precision_at_capacity_low": 0.2 + k / 100 - c,
                         "precision_at_capacity_high": 0.4 + k / 100 - c})
    result = pd.DataFrame(rows)
    result.attrs.update(holdout_schools=["a", "b"], capacity_rate=0.15)
    plots.plot_value_of_pooling(result, tmp_path / "vop.png")
    auc_ax, prec_ax = figures["vop.png"].axes
    lines = {ln.get_label(): xy(ln) for ln in auc_ax.get_lines()}
    assert lines == {"exact records": [(1, 0.65), (2, 0.7), (3, 0.75)],
                     "coarsened for privacy": [(1, 0.35), (2, 0.4), (3, 0.45)]}
    lines = {ln.get_label(): xy(ln) for ln in prec_ax.get_lines()}
    assert lines == {"exact records": [(1, 0.31), (2, 0.32), (3, 0.33)],
                     "coarsened for privacy": [(1, 0.21), (2, 0.22), (3, 0.23)]}
    assert {(1, 0.55), (1, 0.75), (1, 0.25), (3, 0.85)} <= band_vertices(auc_ax)
    assert (2, 0.7) not in band_vertices(auc_ax)
    assert {(1, 0.21), (1, 0.41)} <= band_vertices(prec_ax)
    assert auc_ax.get_ylabel() == "out-of-sample AUC"
    assert prec_ax.get_ylabel() == "precision at capacity"
    assert auc_ax.get_xlabel() == prec_ax.get_xlabel() == "contributing schools k"
    assert auc_ax.get_title() == "AUC on 2 held-out schools"
    assert prec_ax.get_title() == "precision, capacity 0.15 per school"
    assert sorted(legend_texts(auc_ax)) == ["coarsened for privacy", "exact records"]


# ------------------------------------------------------------------ srmsim.figures
def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def png_dpi(data: bytes) -> float:
    """Pixels per inch from a PNG's pHYs chunk (pixels per metre)."""
    i = data.index(b"pHYs")
    ppm = struct.unpack(">I", data[i + 4:i + 8])[0]
    return ppm * 0.0254


def test_a_new_figure_is_width_by_height_on_an_agg_canvas():
    fig, ax = new_figure()
    assert tuple(fig.get_size_inches()) == (6.4, 4.0)
    fig, axes = new_figure(3, 2, nrows=2, ncols=3)
    assert tuple(fig.get_size_inches()) == (3, 2) and axes.shape == (2, 3)
    assert type(fig.canvas) is FigureCanvasAgg


def test_png_bytes_keep_the_dpi_and_crop_to_what_is_drawn():
    fig, ax = new_figure(4, 4)
    ax.set_position([0.05, 0.05, 0.3, 0.3])  # a small axes in a corner of a 4 x 4 in figure
    data = png_bytes(fig, dpi=50)
    width, height = png_size(data)
    assert round(png_dpi(data)) == 50
    assert width < 4 * 50 * 0.7 and height < 4 * 50 * 0.7  # cropped ("tight")
    assert png_size(png_bytes(fig, dpi=100))[0] > 1.8 * width  # dpi scales the pixels


@pytest.mark.parametrize("name", ["x.png", "X.PNG"])
def test_save_writes_a_png_at_the_dpi_asked_into_a_new_folder(tmp_path, name):
    fig, ax = new_figure(2, 2)
    path = tmp_path / "new" / "folder" / name
    assert save(fig, path, dpi=60) == path
    data = path.read_bytes()
    assert round(png_dpi(data)) == 60
    assert data == png_bytes(fig, 60)


def test_save_infers_other_formats_and_writes_nothing_without_a_path(tmp_path):
    fig, ax = new_figure(2, 2)
    assert save(fig, None) is None
    path = tmp_path / "new" / "f.svg"
    assert save(fig, path, dpi=72) == path
    assert path.read_text().lstrip().startswith("<?xml")


def test_save_keeps_the_dpi_of_a_raster_format_other_than_png(tmp_path):
    from PIL import Image

    fig, ax = new_figure(2, 2)
    path = save(fig, tmp_path / "f.jpg", dpi=40)
    with Image.open(path) as im:
        assert im.format == "JPEG"
        small = im.size
    with Image.open(save(fig, tmp_path / "g.jpg", dpi=80)) as im:
        assert im.size[0] > 1.8 * small[0]


# ------------------------------------------------------------------ the forest plot
def forest_effects() -> pd.DataFrame:
    """Three variants against ``none`` on a share (attendance) and on money (cost); every
    interval lopsided, so swapped ends or a symmetric bar show."""
    rows = [("a", "attendance", 0.02, 0.01, 0.05, "better"),
            ("b", "attendance", -0.01, -0.03, 0.002, "no clear change"),
            ("c", "attendance", -0.04, -0.06, -0.035, "worse"),
            ("a", "cost", 1500.0, 1000.0, 2500.0, "no clear change"),
            ("b", "cost", -200.0, -900.0, 100.0, "no clear change"),
            ("c", "cost", 0.0, -50.0, 400.0, "no clear change")]
    return pd.DataFrame([{"variant": v, "outcome": o, "baseline": "none", "difference": d,
                          "ci_low": lo, "ci_high": hi, "verdict": ver}
                         for v, o, d, lo, hi, ver in rows])


def errorbars(ax) -> dict[str, tuple[float, float, float, str]]:
    """Each row's (point, low end, high end, colour) by the variant named on its row."""
    from matplotlib.colors import to_hex

    names = {round(t.get_position()[1]): t.get_text() for t in ax.get_yticklabels()}
    rows = {}
    for cont in ax.containers:
        line, _caps, (bars,) = cont.lines
        (x,), (y,) = line.get_data()
        (lo, y1), (hi, y2) = bars.get_segments()[0]
        assert y1 == y2 == y
        rows[names[round(y)]] = (round(float(x), 9), round(float(lo), 9), round(float(hi), 9),
                                 to_hex(line.get_color()))
    return rows


def test_the_forest_plot_draws_each_effect_and_its_interval_on_its_variants_row():
    from matplotlib.colors import to_hex

    from srmsim.experiment.compare import forest_plot

    fig = forest_plot(forest_effects())
    att, cost = fig.axes
    green, red, blue = (to_hex(c) for c in ("tab:green", "tab:red", "tab:blue"))
    # a share in percentage points: 0.02 is 2 points
    assert errorbars(att) == {"a": (2.0, 1.0, 5.0, green), "b": (-1.0, -3.0, 0.2, blue),
                              "c": (-4.0, -6.0, -3.5, red)}
    assert errorbars(cost) == {"a": (1500.0, 1000.0, 2500.0, blue),
                               "b": (-200.0, -900.0, 100.0, blue),
                               "c": (0.0, -50.0, 400.0, blue)}
    for ax in (att, cost):
        # the variants top to bottom in the table's order
        ticks = sorted(ax.get_yticklabels(), key=lambda t: -t.get_position()[1])
        assert [t.get_text() for t in ticks] == ["a", "b", "c"]
        zero = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-"
                and len(set(ln.get_xdata())) == 1]
        assert [list(ln.get_xdata()) for ln in zero] == [[0, 0]]  # no effect: x = 0
    assert att.get_xlabel() == "difference from none (percentage points)"
    assert cost.get_xlabel() == "difference from none (£)"
    assert att.get_title(loc="left") == "Attendance" and cost.get_title(loc="left") == "Cost"
    assert "better: higher →" in [t.get_text() for t in att.texts]
    assert not cost.texts  # cost has no better direction
    assert "95% simulation intervals" in fig._suptitle.get_text()



def _overlapping_ticks(ax) -> list[tuple[str, str]]:
    """Neighbouring x tick labels whose drawn boxes overlap."""
    renderer = ax.figure.canvas.get_renderer()
    boxes = sorted(((t.get_window_extent(renderer), t.get_text())
                    for t in ax.get_xticklabels() if t.get_visible() and t.get_text()),
                   key=lambda b: b[0].x0)
    return [(a, b) for (box_a, a), (box_b, b) in zip(boxes, boxes[1:], strict=False)
            if box_a.x1 > box_b.x0]


def test_a_long_variant_name_leaves_the_panels_room_for_their_ticks():
    """A variant may be named in 64 characters; beside each row it took the panels' width and
    the cost axis's ticks ran into each other (£8,000£10,000£12,000)."""
    from srmsim.experiment.compare import forest_plot

    effects = forest_effects()
    effects["variant"] = effects["variant"].map({"a": "a" * 64, "b": "b" * 40, "c": "c"})
    effects.loc[effects["outcome"] == "cost", ["difference", "ci_low", "ci_high"]] = [
        [14483.0, 12000.0, 15000.0], [0.0, 0.0, 0.0], [7000.0, 6000.0, 8000.0]]
    fig = forest_plot(effects)
    fig.canvas.draw()
    for ax in fig.axes:
        assert not _overlapping_ticks(ax), ax.get_title(loc="left")


def test_one_replication_and_an_unmeasured_outcome_say_so_on_their_rows():
    """With one replication there is no interval and an outcome of an empty group has no
    difference: the rows showed a bare point and nothing at all (under a title promising
    intervals); each now carries its verdict, as the table does."""
    from srmsim.experiment.compare import forest_plot

    effects = forest_effects()
    effects["ci_low"] = effects["ci_high"] = np.nan
    effects["verdict"] = "one run: no interval"
    missing = (effects["outcome"] == "cost") & (effects["variant"] == "b")
    effects.loc[missing, ["difference", "verdict"]] = [np.nan, "not measured"]
    fig = forest_plot(effects)
    fig.canvas.draw()
    att, cost = fig.axes
    names = {round(t.get_position()[1]): t.get_text() for t in att.get_yticklabels()}
    words = {names[round(t.xy[1])]: t.get_text() for t in att.texts if hasattr(t, "xy")}
    assert words == dict.fromkeys("abc", "one run: no interval")
    rows = {round(t.xy[1] if hasattr(t, "xy") else t.get_position()[1]): t.get_text()
            for t in cost.texts}
    assert rows[next(y for y, n in names.items() if n == "b")] == "not measured"
    assert sorted(rows.values()) == ["not measured", "one run: no interval",
                                     "one run: no interval"]
    # each note inside its panel: beside its point, on the side with room
    renderer = fig.canvas.get_renderer()
    for ax in (att, cost):
        inside = ax.get_window_extent(renderer)
        for t in ax.texts:
            box = t.get_window_extent(renderer)
            assert inside.x0 <= box.x0 and box.x1 <= inside.x1, t.get_text()


def test_a_figure_saved_by_hand_draws_dollar_signs_as_written():
    """A figure srmsim returns (``ExperimentResult.forest``) saved the plain way, with neither
    tight layout nor a tight box: only its draw sees the texts, and an unbalanced ``$`` in a
    name must still be a character, not a ValueError."""
    import io

    fig, ax = new_figure()
    ax.set_title("a$\\frac{1}{$b")
    ax.plot([0, 1], [0, 1], label="$x")
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"
    # measured before it is ever drawn (what bbox_inches="tight" and layout tools ask)
    fig, ax = new_figure()
    ax.set_xlabel("a$\\frac{1}{$b")
    assert fig.get_tightbbox().width > 0


# ------------------------------------------------------------------ a run's weekly attendance
def test_the_weekly_attendance_chart_draws_each_school_and_the_trust_in_percent():
    """report.html of a run: one line per school and the trust's, in % of sessions, against
    the week of the run as the weekly table numbers it. The trust's week is its sessions
    attended over its sessions possible (a big school counts more), not a mean of rates."""
    from types import SimpleNamespace

    from srmsim.report.run import attendance_figure

    weekly = pd.DataFrame({
        "school": ["A", "A", "B", "B"], "run_week": [3, 4, 3, 4],
        "sessions_attended": [90, 80, 10, 5], "sessions_possible": [100, 100, 20, 10]})
    weekly["attendance_rate"] = weekly["sessions_attended"] / weekly["sessions_possible"]
    ax = attendance_figure(SimpleNamespace(weekly=weekly)).axes[0]
    lines = {ln.get_label(): xy(ln) for ln in ax.get_lines()}
    assert lines == {"school A": [(3, 90.0), (4, 80.0)], "school B": [(3, 50.0), (4, 50.0)],
                     "trust": [(3, round(10000 / 120, 9)), (4, round(8500 / 110, 9))]}
    assert ax.get_xlabel() == "week of the run"
    assert ax.get_ylabel() == "attendance (% of sessions)"
    assert legend_texts(ax) == ["school A", "school B", "trust"]


@pytest.mark.parametrize("groups", [[False, True], ["False", "True"]])
def test_fairness_legends_say_yes_and_no_as_the_terminal_does(tmp_path, figures, groups):
    """A flag's groups are "no" and "yes" in the legend, as `srmsim thresholds` prints them
    (they were ``fsm=False``, ``fsm=True``)."""
    t = with_gaps(fairness_table({groups[0]: [0.1, 0.3], groups[1]: [0.2, 0.4]}))
    plots.plot_fairness(t, tmp_path / "fairness.png")
    rate = figures["fairness.png"].axes[0]
    assert legend_texts(rate) == ["fsm=no (n=100)", "fsm=yes (n=100)"]


def test_the_pareto_plot_draws_each_objective_by_its_label_in_its_unit():
    """pareto.png (the optimisation report's figure) drew attendance as a share, 0.938 to
    0.944, under "attendance (maximise)", and "staff_hours (minimise)" with no unit, beside a
    table of 93.8% and 139 h."""
    from types import SimpleNamespace

    from srmsim.explore.optimise import pareto_plot

    table = pd.DataFrame({"trial": [0, 1, 2], "attendance": [0.938, 0.94, 0.944],
                          "staff_hours": [139.0, 556.0, 980.0],
                          "feasible": [True, True, False], "pareto": [True, True, False]})
    opt = SimpleNamespace(name="o", config=SimpleNamespace(
        objectives={"attendance": "maximise", "staff_hours": "minimise"}))
    fig = pareto_plot(opt, table)
    (ax,) = fig.axes
    assert ax.get_xlabel() == "Attendance (%, maximise)"
    assert ax.get_ylabel() == "Staff hours (hours, minimise)"
    (front,) = [ln for ln in ax.get_lines() if ln.get_label() == "Pareto front"]
    assert xy(front) == [(93.8, 139.0), (94.0, 556.0)]
    assert table["attendance"].tolist() == [0.938, 0.94, 0.944]  # the caller's table unchanged
    opt.config.objectives = {"staff_hours": "minimise"}
    assert pareto_plot(opt, table).axes[0].get_ylabel() == "Staff hours (hours, minimise)"


def _trial_runs(n: int) -> pd.DataFrame:
    est = np.linspace(0.01, 0.02, n)
    return pd.DataFrame({"error": [""] * n, "estimate": est, "ci_low": est - 0.005,
                         "ci_high": est + 0.005, "covered": [True] * n,
                         "true_effect": [0.012] * n, "naive": [np.nan] * n,
                         "naive_truth": [np.nan] * n})


def test_the_trial_figure_gives_its_unit_and_level_and_whole_replications():
    """trial.png read "effect" and "error" with no unit (a share's 0.01 beside a report of
    +1.00 pp), its legend "CI" at no level (analysis.alpha 0.1 draws 90% CIs), and one
    replication on an axis of -0.04, -0.02, 0.00..."""
    from srmsim.trial.report import plot

    fig = plot(_trial_runs(1), scale="share", level="90%")
    ax, ax2 = fig.axes
    assert ax.get_ylabel() == "effect (percentage points)"
    assert ax2.get_xlabel() == "error (percentage points)"
    assert "estimate, 90% CI covers truth" in ax.get_legend_handles_labels()[1]
    (true,) = [ln for ln in ax.get_lines() if ln.get_label() == "true effect (ITT)"]
    assert xy(true) == [(0.0, 1.2)]  # in points, as the report prints it
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0"]
    fig = plot(_trial_runs(4), scale="months")
    assert fig.axes[0].get_ylabel() == "effect (months)"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["0", "1", "2", "3"]


def test_a_log_axis_draws_its_powers_of_ten_as_numbers_beside_literal_names():
    """Texts are drawn as written (a name's ``$`` is a character), but a log axis's own tick
    labels are matplotlib's mathtext: the request report's waiting-time axis read
    "$\\mathdefault{10^{1}}$" where 10¹ belongs. A name with an unbalanced ``$`` on the other
    axis is still a character, not a ValueError."""
    fig, ax = new_figure(6, 3)
    ax.plot([1, 1000], [0, 1])
    ax.set_xscale("log")
    ax.set_yticks([0, 1], ["a$\\frac{1}{$b", "$x$"])
    assert png_bytes(fig)[:4] == b"\x89PNG"
    renderer = fig.canvas.get_renderer()
    powers = [t for t in ax.get_xticklabels() if t.get_text().startswith("$\\mathdefault{10^")
              and t.get_visible()]
    assert powers
    for t in powers:  # drawn as 10 with a raised power: a few characters wide, not 22
        assert t.get_window_extent(renderer).width < 8 * t.get_fontsize(), t.get_text()
    literal = {t.get_text(): t.get_window_extent(renderer).width for t in ax.get_yticklabels()}
    assert literal["$x$"] > 2 * t.get_fontsize()  # three characters, dollars included
