"""Exploratory modelling: global sensitivity, scenario discovery and policy optimisation.

These answer "which assumptions drive the answer?" (:mod:`srmsim.explore.sensitivity`), "under
which conditions does the policy fail?" (:mod:`srmsim.explore.discovery`, with
:mod:`srmsim.explore.prim`) and "which settings give the most benefit for the hours we have?"
(:mod:`srmsim.explore.optimise`). Sampling designs for ``uncertain:`` parameters are in
:mod:`srmsim.explore.design`. Beyond Latin hypercubes they need the ``explore`` extra (SALib,
Optuna, scikit-learn): ``pip install 'srmsim[explore]'``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any


def require(module: str) -> Any:
    """Import a module of the explore extra, or explain how to install it."""
    from srmsim.errors import SrmsimError

    try:
        return import_module(module)
    except ImportError:
        raise SrmsimError(f"this needs {module.split('.')[0]}: pip install 'srmsim[explore]'"
                          ) from None
