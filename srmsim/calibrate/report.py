"""The calibration's report: moments (target vs simulated, with tolerance), estimates, files.

Written by :meth:`CalibrationResult.write`:

- ``fit_moments.csv``: one row per moment: ``moment, description, target, simulated,
  difference, se, tolerance, within, used, n, events``. ``se`` is the data moment's bootstrap
  standard error; ``tolerance`` is ``2 se sqrt(1 + 1/R)`` (data and simulation noise, R
  replications); ``within`` says ``|difference| <= tolerance``; ``used`` whether the moment was
  in the objective; ``n`` the students it is based on, ``events`` the students counted for a
  share (e.g. persistently absent).
- ``fit_parameters.csv``: ``parameter, start, estimate, se, lower, upper, at_bound``.
- ``fit.json``: both tables, the optimiser's status, the moment spec, notes.
- ``calibrated.yaml``: the base scenario with the fitted values and ``population.records``
  (relative to the YAML file, so the two can move together).

**Small counts.** When the dataset holds real pupils' records (every dataset but an unchanged
public one, whatever ``dataset.json`` says: :func:`srmsim.data.dataset.read_dataset`), the
moments' counts are audited together (:mod:`srmsim.calibrate.disclosure`): a count below 10,
or one that would let a small count be worked out, is printed ``c``; a moment based on fewer than 10 students, or a share with a hidden
count, is withheld (target and difference ``low``, its other values ``x``, a ``note`` saying
so) and was left out of the fit. The in-memory ``fit`` frame keeps the numbers (the analyst's
own session).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from srmsim.calibrate.disclosure import Withheld, apply, protect_moments
from srmsim.calibrate.moments import MOMENT_NAMES, MomentSpec, moment_def
from srmsim.labels import percent, plural, points, yes_no
from srmsim.outputs import holds_only, json_dumps
from srmsim.privacy import DEFAULT_THRESHOLD
from srmsim.scenario import Scenario
from srmsim.yamlio import dump_yaml

_DECIMALS = 4
REPORT_FILES = {"moments": "fit_moments.csv", "parameters": "fit_parameters.csv",
                "json": "fit.json", "scenario": "calibrated.yaml"}
RECORDS_FILE = "population_records.parquet"
#: an earlier calibration's folder (holding nothing else), which a new one replaces
REPLACEABLE = holds_only(("fit.json", "calibrated.yaml"), (*REPORT_FILES.values(), RECORDS_FILE))


@dataclass
class CalibrationResult:
    """What :func:`srmsim.calibrate.calibrate` found. ``scenario`` is ready to run."""

    data: str
    scenario: Scenario
    base: Scenario
    estimates: pd.DataFrame
    fit: pd.DataFrame
    spec: MomentSpec
    optimiser: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    records_path: str = ""
    real_data: bool = True
    moments_used: list[str] = field(default_factory=list)
    withheld: Withheld | None = None

    # ----------------------------------------------------------------- views
    @property
    def params(self) -> pd.Series:
        """Fitted values by parameter name."""
        return self.estimates.set_index("parameter")["estimate"]

    @property
    def all_within(self) -> bool:
        """Every moment used in the fit lies within its tolerance."""
        used = self.fit[self.fit["used"]]
        return bool(used["within"].all())

    def fit_table(self, suppress: bool | None = None,
                  threshold: int = DEFAULT_THRESHOLD) -> pd.DataFrame:
        """The moments table, with small counts suppressed if the data are real records."""
        table = self.fit.copy()
        table["n"] = table["n"].astype("Int64")
        table["events"] = table["events"].astype("Int64")
        if suppress is None:
            suppress = self.real_data
        if not suppress:
            return table
        withheld = self.withheld
        if withheld is None or withheld.threshold != threshold:
            counts = table[["moment", "n", "events", "target"]].rename(
                columns={"target": "value"})
            withheld = protect_moments(counts, table["moment"], threshold,
                                       population=dict(withheld.population)
                                       if withheld is not None else None,
                                       sessions=withheld.sessions
                                       if withheld is not None else None)
        return apply(table, withheld)

    # ----------------------------------------------------------------- text
    def format(self) -> str:
        """The printed report: moments, parameters, optimiser status, notes."""
        o = self.optimiser
        table = self.fit_table()
        shown = table[["moment", "target", "simulated", "difference", "tolerance", "within",
                       "used", "n"]].copy()
        for c in ("target", "simulated", "difference", "tolerance"):
            shown[c] = [_moment_value(m, c, v) for m, v in zip(shown["moment"], shown[c],
                                                               strict=True)]
        for c in ("within", "used"):
            shown[c] = [yes_no(v) for v in shown[c]]
        lines = [f"calibration of {self.base.name} to {self.data}",
                 f"{o['method']}: {'converged' if o['success'] else 'NOT converged'} "
                 f"({o['message']}); {plural(o['evaluations'], 'evaluation')} "
                 f"(+{o['se_evaluations']} for standard errors) x "
                 f"{plural(o['replications'], 'run')} "
                 f"(common random numbers, seed {o['seed']}), {o['seconds']} s; objective "
                 "(the moments' squared misses, each over its standard error squared: lower is "
                 "closer) "
                 f"{o['start_objective']:.2f} -> {o['objective']:.2f}",
                 "", "moments (target = data, simulated = mean of the runs; shares of sessions "
                 "or students in %, their differences and tolerances in percentage points, pp; "
                 "ICCs (intraclass correlations: the share of the spread that lies between "
                 "schools) as shares of 0 to 1; the slope in SD of attainment per 10 points of "
                 "attendance; reading gaps, reading age minus age, in months):",
                 shown.to_string(index=False), ""]
        if self.real_data:
            lines.append("c = count below 10 (or hidden to protect one); low = value based on "
                         "a suppressed count; x = not available or withheld")
            gone = [m for m, note in zip(table["moment"], table["note"], strict=True) if note]
            if gone:
                lines.append(f"withheld (based on a count below 10, or it would reveal one; "
                             f"not used in the fit): {', '.join(gone)}")
            lines.append("")
        est = self.estimates.copy()
        for c in ("start", "estimate", "se", "lower", "upper"):
            est[c] = [("nan" if not math.isfinite(v) else f"{v:.4g}") for v in est[c]]
        if "at_bound" in est.columns:
            est["at_bound"] = [yes_no(v) for v in est["at_bound"]]
        lines += ["parameters (se: standard error, approximate):", est.to_string(index=False)]
        used = self.fit[self.fit["used"]]
        lines.append("")
        lines.append(f"{int(used['within'].sum())} of {plural(len(used), 'moment')} within "
                     "tolerance")
        if self.notes:
            lines += ["", "notes:"] + [f"- {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()

    def to_dict(self) -> dict[str, Any]:
        table = self.fit_table()
        return {
            "data": self.data, "base_scenario": self.base.name, "real_data": self.real_data,
            "suppressed": self.real_data,
            "moments": json.loads(table.to_json(orient="records")),
            "parameters": json.loads(self.estimates.to_json(orient="records")),
            "optimiser": self.optimiser, "spec": self.spec.to_dict(),
            "moments_used": self.moments_used, "notes": self.notes,
            "records": self.records_path,
        }

    # ----------------------------------------------------------------- files
    def calibrated_yaml(self, relative_to: str | Path | None = None) -> str:
        """The calibrated scenario as YAML, with ``population.records`` relative if asked."""
        data = self.scenario.to_dict()
        if relative_to is not None:
            data["population"]["records"] = os.path.relpath(self.records_path, Path(relative_to))
        head = [f"# Calibrated by srmsim calibrate to {self.data}",
                f"# {plural(len(self.estimates), 'parameter')} fitted by "
                f"{self.optimiser['method']}; "
                f"objective {self.optimiser['objective']:.3f}; see fit.json"]
        for r in self.estimates.itertuples():
            se = "" if not math.isfinite(r.se) else f" (se {r.se:.3g})"
            head.append(f"#   {r.parameter}: {r.estimate:.6g}{se}")
        return "\n".join(head) + "\n" + dump_yaml(data)

    def write(self, out: str | Path, staged: Path | None = None) -> dict[str, Path]:
        """Write the report files into ``out``; returns their paths.

        The folder is replaced whole (an earlier calibration's, or a new one): no stale file
        survives and a failure leaves it as it was. Fitted to real records, it is owner-only
        (0700, files 0600) like every output built from them: the owner checks it before
        sharing it. The records copy that calibrated.yaml
        points at (``population_records.parquet``, with ``ignore_prior_attainment``) comes from
        ``staged``, or is carried over from the old folder.
        """
        from srmsim.outputs import replace_dir, write_csv, write_file

        final = Path(os.path.abspath(out))
        records = Path(self.records_path)
        keep = (RECORDS_FILE,) if records == final / RECORDS_FILE else ()
        with replace_dir(final, private=self.real_data, replaceable=REPLACEABLE,
                         keep=keep) as tmp:
            if staged is not None and (staged / RECORDS_FILE).exists():
                os.replace(staged / RECORDS_FILE, tmp / RECORDS_FILE)
            write_csv(self.fit_table(), tmp / "fit_moments.csv")
            write_csv(self.estimates, tmp / "fit_parameters.csv")
            write_file(tmp / "fit.json", json_dumps(self.to_dict(), indent=2,
                                                    default=_json_default) + "\n")
            write_file(tmp / "calibrated.yaml", self.calibrated_yaml(relative_to=final))
        return {key: final / name for key, name in REPORT_FILES.items()}


def _moment_value(moment: str, column: str, value: object) -> str:
    """A cell of the printed moments table: a share (attendance, absence) as a percentage and a
    difference or tolerance of one in percentage points, to the same 4 decimals of a fraction
    as the ICCs and the slope; reading gaps in months to 2; a suppressed cell (``c``, ``low``,
    ``x``) as it is."""
    if isinstance(value, str):
        return value
    v = float(value)  # type: ignore[arg-type]
    if moment in MOMENT_NAMES and moment_def(moment).share:
        decimals = _DECIMALS - 2
        return percent(v, decimals) if column in ("target", "simulated") else points(v, decimals)
    unit = moment_def(moment).unit if moment in MOMENT_NAMES else ""
    # a reading gap to 1/10,000 of a month claimed a precision no reading test has (its SE is
    # about a month): months to 2 decimals; fit_moments.csv keeps every digit
    decimals = 2 if unit == "months" else _DECIMALS
    return f"{v:.{decimals}f}" + (f" {unit}" if unit else "")


def _json_default(v: Any) -> Any:
    if isinstance(v, np.integer | np.bool_):
        return v.item()
    if isinstance(v, np.floating):
        return None if not np.isfinite(v) else float(v)
    return str(v)
