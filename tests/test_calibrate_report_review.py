"""The calibration report's moments table says what each number is in.

A newcomer's walk-through (2026-12-06): the reading gaps (months) and the attainment slope (SD
per 10 points of attendance) printed as bare numbers beside shares in % and pp.
"""

from __future__ import annotations

from srmsim.calibrate.moments import MOMENT_NAMES, moment_def
from srmsim.calibrate.report import _moment_value


def test_every_moment_not_a_share_or_an_icc_prints_its_unit() -> None:
    # months to 2 decimals: a reading gap to 1/10,000 of a month claimed a precision no
    # reading test has (printed "-3.0056 months" until 2026-12-07)
    assert _moment_value("reading_gap_mean", "target", -3.0056) == "-3.01 months"
    assert _moment_value("reading_gap_sd", "tolerance", 1.9355) == "1.94 months"
    assert _moment_value("attainment_attendance_slope", "simulated", 0.37) == "0.3700 SD"
    assert _moment_value("attendance", "target", 0.9148) == "91.48%"
    assert _moment_value("attendance", "difference", 0.0192) == "1.92 pp"
    assert _moment_value("attendance_icc", "target", 0.02) == "0.0200"  # a share of 0 to 1
    assert _moment_value("reading_gap_mean", "target", "x") == "x"  # withheld stays as it is
    for name in MOMENT_NAMES:
        m = moment_def(name)
        assert m.share or m.unit or name.endswith("_icc"), name
