"""The report of a trial folder: the design in words, the estimate against the truth, bias,
coverage and power, each with its Monte-Carlo interval."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from srmsim.experiment.outcomes import COLUMN_SCALES, format_difference
from srmsim.report.page import Page
from srmsim.trial.report import summary_display


def _value(summary: pd.DataFrame, start: str) -> tuple[float, float, float] | None:
    hit = summary[summary["measure"].str.startswith(start)]
    if hit.empty:
        return None
    r = hit.iloc[0]
    return float(r["value"]), float(r["ci_low"]), float(r["ci_high"])


def headline(summary: pd.DataFrame, scale: str) -> list[str]:
    out = []
    est, truth, bias = (_value(summary, s) for s in ("mean estimate", "mean true effect (ITT)",
                                                     "bias"))
    if est and truth:
        out.append(f"The trial's analysis estimated {format_difference(est[0], scale)} on "
                   f"average; the true effect in the simulation was "
                   f"{format_difference(truth[0], scale)}.")
    if bias:
        out.append(f"Bias (estimate minus truth): {format_difference(bias[0], scale)} "
                   f"(Monte-Carlo interval {format_difference(bias[1], scale)} to "
                   f"{format_difference(bias[2], scale)}).")
    rejection = summary[summary["measure"].str.startswith("rejection")]
    null = not rejection.empty and "type I" in str(rejection["note"].iloc[0])
    tail = ("; with no true effect, this is the false-positive (type I error) rate." if null
            else "; this is the trial's power.")
    for start, words in (("coverage", "The 95% confidence interval covered the truth in"),
                         ("rejection", "The analysis found a significant effect in")):
        v = _value(summary, start)
        if v:
            out.append(f"{words} {100 * v[0]:.0f}% of replications (Monte-Carlo interval "
                       f"{100 * v[1]:.0f}% to {100 * v[2]:.0f}%)"
                       + (tail if start == "rejection" else "."))
    naive = _value(summary, "naive bias")
    if naive:
        out.append(f"A naive before/after comparison of the students served would be off by "
                   f"{format_difference(naive[0], scale)}.")
    return out


def build(path: Path) -> Page:
    from srmsim.trial.report import plot

    meta = json.loads((path / "trial.json").read_text(encoding="utf-8"))
    summary = pd.read_csv(path / "trial_summary.csv")
    runs = pd.read_csv(path / "trial_runs.csv")
    runs["error"] = runs["error"].astype("object").where(runs["error"].notna(), "").astype(str)
    settings = meta.get("settings", {})
    outcome = settings.get("outcome", "")
    scale = COLUMN_SCALES.get(outcome, "number")
    page = Page(f"Trial report: {meta.get('name', path.name)}", settings.get("description", ""))
    page.h2("What was run", "what")
    page.p(meta.get("design", ""))
    sc = path / "scenario.yaml"
    if sc.exists():
        from srmsim.report.words import describe_policy, describe_trust
        from srmsim.scenario import load_scenario

        scenario = load_scenario(sc)
        page.p(describe_trust(scenario))
        page.p(describe_policy(scenario))
    versions = meta.get("versions", {})
    page.definitions([("outcome", f"{outcome} ({scale if scale != 'number' else 'as recorded'})"),
                      ("replications", f"{len(runs):,}"), ("root seed", str(meta.get("root_seed"))),
                      ("srmsim version", versions.get("srmsim", "?")),
                      ("run time", f"{meta.get('seconds', 0):,.1f} s")])
    page.note("Each replication randomises the policy inside the simulation, analyses the "
              "result as a trust would, and compares the estimate with the true effect, which "
              "only a simulation knows (the same students, same seed, without the policy). "
              "Intervals here are Monte-Carlo intervals over replications: they show how precisely "
              "these replications pin down bias, coverage and power.")
    page.h2("Estimate against the truth", "headline")
    page.bullets(headline(summary, scale), "headline")
    page.table(summary_display(summary, scale), {"value"}, "trial_summary",
               raw=summary[["value"]])
    page.figure(plot(runs, title="Estimate and its 95% CI in each replication, against the "
                     "true effect"),
                "Left: each replication's estimate (blue when its CI covers the truth, red when "
                "not) and the true effect (black). Right: estimate minus truth over "
                "replications.")
    return page
