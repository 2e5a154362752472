"""MkDocs hooks: pages generated from the code, so the reference cannot drift from it.

- ``reference/files.md``: every key of scenario, policy, experiment and trial files, read from
  the pydantic models that validate them (type, default, limits, meaning);
- ``reference/cli.md``: every command's ``--help``, from the argument parser itself;
- ``changelog.md`` and ``benchmarks.md``: the repository's ``CHANGELOG.md`` and
  ``benchmarks/README.md``;
- ``notebooks/*.ipynb``: the notebooks, with their outputs when the test suite has executed them
  into ``$SRMSIM_EXECUTED_NOTEBOOKS`` (CI does; ``tests/test_notebooks.py`` writes them) from the
  notebook's current code, else as saved (without outputs).
"""

from __future__ import annotations

import json
import os
import types
import typing
from pathlib import Path
from typing import Any

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- file formats
def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is typing.Literal:
        return " / ".join(f"`{a}`" for a in args)
    if origin in (list, tuple, set):
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping of {_type_name(args[0])} to {_type_name(args[1])}" if args else "mapping"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _limits(field: Any) -> str:
    words = []
    for meta in field.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"),
                           ("min_length", "length >="), ("max_length", "length <=")):
            value = getattr(meta, attr, None)
            if value is not None:
                words.append(f"{sign} {value}")
    return ", ".join(words)


def _default(field: Any) -> str:
    from pydantic_core import PydanticUndefined

    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if hasattr(value, "model_dump"):
        return "(section)"
    if value == {} or value == []:
        return "empty"
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return f"`{text}`" if len(text) < 40 else "(long)"


def _models_in(annotation: Any) -> list[tuple[str, type]]:
    """Pydantic models reachable from a field: itself, Optional[...], dict values, list items."""
    from pydantic import BaseModel

    found: list[tuple[str, type]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [("", annotation)]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _models_in(args[0])
    if origin in (typing.Union, types.UnionType):
        for a in args:
            found += _models_in(a)
    elif origin is dict and len(args) == 2:
        found += [(".<name>" + suffix, m) for suffix, m in _models_in(args[1])]
    elif origin in (list, tuple) and args:
        found += [("[]" + suffix, m) for suffix, m in _models_in(args[0])]
    return found


def _rows(model: type, prefix: str, seen: set[type]) -> list[str]:
    rows: list[str] = []
    nested: list[tuple[str, type]] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        description = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{key}` | {_type_name(field.annotation).replace('|', '/')} | "
                    f"{_default(field)} | {_limits(field)} | {description} |")
        for suffix, sub in _models_in(field.annotation):
            if sub not in seen:
                nested.append((f"{key}{suffix}.", sub))
    for sub_prefix, sub in nested:
        seen.add(sub)
        rows += _rows(sub, sub_prefix, seen)
    return rows


def _format_reference() -> str:
    from srmsim.experiment.spec import ExperimentConfig
    from srmsim.scenario import Scenario
    from srmsim.trial.spec import TrialConfig

    parts = ["# File formats\n",
             "Generated from the pydantic models that validate each file, so it always matches "
             "the code. Unknown keys are errors; a key path such as `trust.n_schools` is written "
             "as nested YAML. `<name>` stands for a name you choose (a rule, an action, a "
             "workflow, a variant).\n"]
    for title, model, intro in [
        ("Scenario files", Scenario, "A scenario (`scenarios/*.yaml`): the trust, its students, "
         "their dynamics, what is recorded, and the policy (rules, actions, workflows, staff)."),
        ("Experiment files", ExperimentConfig, "An experiment (`experiments/*.yaml`): a "
         "scenario, variants that override its keys, replications and outcomes."),
        ("Trial files", TrialConfig, "An in-silico trial: a scenario, how students or schools "
         "are randomised, and how the trial is analysed."),
    ]:
        parts.append(f"## {title}\n\n{intro}\n")
        doc = (model.__doc__ or "").strip()
        if doc:
            parts.append(doc.split("\n\n")[0] + "\n")
        parts.append("| key | type | default | limits | meaning |\n|---|---|---|---|---|")
        parts.append("\n".join(_rows(model, "", {model})) + "\n")
    return "\n".join(parts)


# ----------------------------------------------------------------------------- command line
def _cli_reference() -> str:
    import argparse

    from srmsim.cli import build_parser

    os.environ["COLUMNS"] = "100"
    parser = build_parser()
    parts = ["# Command line\n",
             "Generated from srmsim's argument parser. Every command exits 0 on success, 2 on "
             "bad input (one line naming the file, key or row; no traceback), 1 when some runs "
             "failed.\n", "```text", parser.format_help().rstrip(), "```\n"]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in sorted(action.choices.items()):
                parts += [f"## `srmsim {name}`\n", "```text", sub.format_help().rstrip(), "```\n"]
    return "\n".join(parts)


# ----------------------------------------------------------------------------- the hook
def _generated(config: Any, uri: str, content: str | bytes) -> File:
    return File.generated(config, uri, content=content)


@event_priority(100)  # before mkdocs-jupyter, so it sees the notebooks added here
def on_files(files: Files, config: Any) -> Files:
    files.append(_generated(config, "reference/files.md", _format_reference()))
    files.append(_generated(config, "reference/cli.md", _cli_reference()))
    files.append(_generated(config, "changelog.md", (ROOT / "CHANGELOG.md").read_text()))
    files.append(_generated(config, "benchmarks.md", (ROOT / "benchmarks" / "README.md").read_text()))
    executed = os.environ.get("SRMSIM_EXECUTED_NOTEBOOKS")
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        run = Path(executed) / path.name if executed else None
        source = run if run is not None and _same_cells(run, path) else path
        files.append(_generated(config, f"notebooks/{path.name}", source.read_bytes()))
    return files


def _same_cells(executed: Path, saved: Path) -> bool:
    """The executed copy was run from the saved notebook's current cells: a copy left over from
    an older version would show outputs its code no longer makes."""
    def cells(path: Path) -> list[tuple[str, str]]:
        nb = json.loads(path.read_text(encoding="utf-8"))
        return [(c["cell_type"], "".join(c["source"])) for c in nb.get("cells", [])]

    try:
        return cells(executed) == cells(saved)
    except (OSError, ValueError, KeyError, TypeError):
        return False
