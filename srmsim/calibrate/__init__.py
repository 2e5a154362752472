"""Calibrate the simulator to a trust's own records by the method of simulated moments.

The pipeline, each step its own module:

- :mod:`~srmsim.calibrate.export`: a simulated run -> records in the schema (so simulated and
  real data are measured by the same code; it also makes the shipped sample in ``data/sample``);
- :mod:`~srmsim.calibrate.moments`: target moments from records (attendance distribution,
  persistent absence by FSM, between-school ICCs, attendance-attainment slope, reading gap);
- :mod:`~srmsim.calibrate.msm`: fit dynamics/population parameters so simulated moments match;
- :mod:`~srmsim.calibrate.report`: the fit report (tables, JSON, calibrated scenario YAML).

Typical use (``srmsim calibrate DATA_DIR --out DIR`` does the same)::

    from srmsim.calibrate import calibrate
    fit = calibrate("out/trust", params=["dynamics.absence_logit", "population.reading_gap_mean"])
    print(fit.format())
    fit.write("out/calibration")     # fit_moments.csv, fit_parameters.csv, fit.json, calibrated.yaml
"""

from __future__ import annotations

from srmsim.lazy import lazy_exports

# Lazy, so `python -m srmsim.calibrate.export` does not import its own module twice.
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".export": ("records_from_run", "write_records"),
    ".moments": ("MOMENTS", "MomentSpec", "bootstrap_se", "bootstrap_moments", "compute_moments",
                 "moments_from_run", "student_measures"),
    ".msm": ("DEFAULT_PARAMETERS", "Parameter", "calibrate", "parse_parameters"),
    ".report": ("CalibrationResult",),
})
