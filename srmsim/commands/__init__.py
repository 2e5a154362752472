"""Sub-commands of the ``srmsim`` CLI; each module defines ``register(subparsers)``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: the key that marks each kind of study file (as `srmsim validate` tells them apart), and the
#: command that runs it
_MARKERS = (("trial", "randomise", "trial"), ("optimisation", "objectives", "optimise"),
            ("experiment", "variants", "experiment"))


def _kind(data: dict[str, Any]) -> tuple[str, str, str] | None:
    """(kind, the key that shows it, the command that runs it) of a file's top-level mapping,
    or ``None`` when it shows none (the validator then says what is wrong)."""
    for kind, key, command in _MARKERS:
        if key in data:
            return kind, key, command
    from srmsim.scenario import Scenario

    fields = {f.alias or n for n, f in Scenario.model_fields.items()} - {"name", "description",
                                                                         "seed"}
    shown = next((k for k in data if k in fields), None)
    if shown is not None and "scenario" not in data:
        return "scenario", str(shown), "run"
    # a column mapping's tables, in a file with no scenario key (no study file has them)
    shown = next((k for k in ("students", "observations") if k in data), None)
    if shown is not None and "scenario" not in data:
        return "data mapping", shown, "data import --mapping"
    return None


def wrong_kind(data: Any, path: str | Path, expected: str) -> str | None:
    """What is wrong with a file of another kind than ``expected`` ('scenario', 'experiment',
    'trial', 'optimisation', 'data mapping'), naming the command that takes it, or ``None``
    (``data`` is the file's parsed top level)."""
    kind = _kind(data) if isinstance(data, dict) else None
    if kind is None or kind[0] == expected:
        return None
    name, key, command = kind

    def a(word: str) -> str:
        return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"

    how = (f"pass it to `srmsim data validate` or `srmsim data import` as --mapping {path}"
           if command.startswith("data") else f"run it with `srmsim {command} {path}`")
    return f"{a(name)} file (it has '{key}:'), not {a(expected)}: {how}"


def check_file_kind(path: str | Path, expected: str) -> None:
    """Refuse a study file given to the wrong command in one line that names the right one:
    `srmsim run experiments/quickstart.yaml` listed five "unknown key" lines."""
    from srmsim.errors import ScenarioError
    from srmsim.scenario import read_yaml

    why = wrong_kind(read_yaml(path), path, expected)
    if why is not None:
        raise ScenarioError(str(path), why)
