"""Package namespaces that import a module on first use of one of its names (PEP 562).

Why: ``srmsim.stats`` pulls in scipy.stats, statsmodels and matplotlib (about 1.5 s), and a
simulation that only needs the risk model's logistic fit, or a worker process that only runs
weeks, should not pay for them. ``from srmsim.stats import regress`` and ``srmsim.stats.regress``
work as before; the module holding ``regress`` is imported the first time it is asked for.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(package: str, modules: Mapping[str, Sequence[str]]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package`` exporting, from each of its
    ``modules`` (names relative to the package, such as ``".designs"``), the names listed."""
    where: dict[str, str] = {}
    for module, names in modules.items():
        for name in names:
            if name in where:
                raise ValueError(f"{package}: {name!r} exported by {where[name]} and {module}")
            where[name] = module

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            # a submodule (``srmsim.stats.discontinuity``), as the eager package had imported it
            if name.startswith("__") or importlib.util.find_spec(f"{package}.{name}") is None:
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
            return importlib.import_module(f"{package}.{name}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)  # the next lookup is a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__, sorted(where)
