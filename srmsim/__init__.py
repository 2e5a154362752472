"""srmsim: simulate and evaluate Student Relationship Management policies in schools and trusts.

Quick use::

    import srmsim
    result = srmsim.run("scenarios/default.yaml", seed=1)   # or srmsim.run() for the default
    result.students.head()
"""

from __future__ import annotations

__version__ = "0.2.0"

__all__ = ["__version__", "run", "TrustModel", "load_scenario", "Scenario", "compare"]


def __getattr__(name: str):
    # Lazy, so `import srmsim` stays fast and the CLI starts quickly.
    if name in ("run", "TrustModel"):
        from srmsim import model

        return getattr(model, name)
    if name in ("load_scenario", "Scenario", "default_scenario"):
        from srmsim import scenario

        return getattr(scenario, name)
    if name == "compare":
        from srmsim.experiment.compare import compare

        return compare
    if name in ("stats", "risk", "data", "experiment", "trial", "calibrate", "privacy", "report"):
        import importlib

        return importlib.import_module(f"srmsim.{name}")
    raise AttributeError(f"module 'srmsim' has no attribute {name!r}")
