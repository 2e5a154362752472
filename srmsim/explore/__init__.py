"""Exploratory modelling: global sensitivity, scenario discovery and policy optimisation.

These answer "which assumptions drive the answer?" (:mod:`~srmsim.explore.sensitivity`), "under
which conditions does the policy fail?" (:mod:`~srmsim.explore.discovery`) and "which settings give
the most benefit for the hours we have?" (:mod:`~srmsim.explore.optimise`). They need the
``explore`` extra (SALib, Optuna, scikit-learn): ``pip install 'srmsim[explore]'``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["sensitivity", "discover", "optimise", "load_optimisation"]

_WHERE = {"sensitivity": "sensitivity", "discover": "discovery", "optimise": "optimise",
          "load_optimisation": "optimise"}


def __getattr__(name: str) -> Any:  # lazy: importing srmsim must not need the explore extra
    if name in _WHERE:
        return getattr(import_module(f"srmsim.explore.{_WHERE[name]}"), name)
    raise AttributeError(name)


def require(package: str) -> Any:
    """Import an optional dependency of the explore extra, or explain how to install it."""
    from srmsim.errors import SrmsimError

    try:
        return import_module(package)
    except ImportError:
        raise SrmsimError(f"this needs {package.split('.')[0]}: pip install 'srmsim[explore]'"
                          ) from None
