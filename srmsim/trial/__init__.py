"""In-silico trials: randomise a policy inside the simulation, analyse it as a trust would, and
compare the estimate with the truth that only a simulator knows.

>>> from srmsim.trial import load_trial, run_trial                         # doctest: +SKIP
>>> result = run_trial(load_trial("experiments/trial_reading.yaml"))       # doctest: +SKIP
>>> print(result.table())                                                 # doctest: +SKIP
"""

from __future__ import annotations

from srmsim.trial.report import TrialResult, format_summary, summarise
from srmsim.trial.run import Replication, replicate, run_trial
from srmsim.trial.spec import PANEL_OUTCOMES, Trial, TrialConfig, load_trial, trial_from_dict

__all__ = [
    "PANEL_OUTCOMES",
    "Replication",
    "Trial",
    "TrialConfig",
    "TrialResult",
    "format_summary",
    "load_trial",
    "replicate",
    "run_trial",
    "summarise",
    "trial_from_dict",
]
