"""A long threshold bootstrap shows its progress (a helper's probe, 2026-12-06: --n-boot
100,000 on 3 million rows ran for about half an hour printing nothing), with the same bands."""

from __future__ import annotations

import numpy as np
import pandas as pd

from srmsim.risk import curves


def _data(n: int = 2_000) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    score = rng.random(n)
    return pd.DataFrame({"school": rng.integers(0, 20, n), "score": score,
                         "outcome": (rng.random(n) < 0.2 + 0.5 * (score < 0.3)).astype(int)})


def test_a_long_bootstrap_shows_a_bar_and_gives_the_same_bands(monkeypatch, capsys) -> None:
    df = _data()
    quiet = curves.bootstrap_curves(df, "score", "outcome", n_boot=60, seed=3)
    assert "bootstrap" not in capsys.readouterr().err
    monkeypatch.setattr(curves, "LONG_BOOTSTRAP", 60 * len(df))  # this one counts as long
    shown = curves.bootstrap_curves(df, "score", "outcome", n_boot=60, seed=3, progress=True)
    assert "bootstrap" in capsys.readouterr().err
    assert (shown.auc, shown.auc_low, shown.auc_high) == (quiet.auc, quiet.auc_low,
                                                          quiet.auc_high)
    pd.testing.assert_frame_equal(shown.roc, quiet.roc)
    pd.testing.assert_frame_equal(shown.pr, quiet.pr)
    monkeypatch.setattr(curves, "LONG_BOOTSTRAP", 60 * len(df) + 1)  # just short of long
    curves.bootstrap_curves(df, "score", "outcome", n_boot=60, seed=3, progress=True)
    assert "bootstrap" not in capsys.readouterr().err
