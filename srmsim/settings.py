"""``--set key.path=value`` on the command line: scenario overrides, parsed safely.

Each value is read as a YAML scalar (``0.3``, ``true``, ``null``, ``reading``) or a flow list
(``[7, 8, 9]``) by srmsim's YAML reader (:mod:`srmsim.yamlio`, as in files), never evaluated; the overrides are then applied with
:meth:`srmsim.scenario.Scenario.with_overrides`, so they are validated exactly like the file.
"""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING, Any

from srmsim.errors import SrmsimError
from srmsim.yamlio import load_yaml_text

if TYPE_CHECKING:  # (pydantic stays out of `srmsim --help`)
    from pydantic import BaseModel

KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+){0,20}$")
MAX_VALUE = 10_000


def add_set_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
        help="override a scenario key, e.g. --set trust.n_schools=4 --set "
        "policy.parameters.attendance_threshold=0.92 (repeatable; saved in the resolved "
        "scenario)")


def parse_settings(items: list[str]) -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` -> ``{"a.b": 1, "c": "x"}``; a clear error for a malformed item."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep:
            raise SrmsimError(f"--set {item!r}: expected KEY=VALUE, e.g. trust.n_schools=4")
        if not KEY.match(key):
            raise SrmsimError(f"--set {item!r}: {key!r} is not a scenario key path "
                              "(names joined by dots, e.g. population.fsm_rate)")
        if key in out:
            raise SrmsimError(f"--set: {key} is given more than once")
        if len(text) > MAX_VALUE:
            raise SrmsimError(f"--set {key}: value longer than {MAX_VALUE:,} characters")
        # the files' reader: YAML 1.2 booleans and numbers (`on` is text, `010` is ten), bounded
        value = load_yaml_text(text, f"--set {key}") if text.strip() else ""
        if isinstance(value, dict):
            raise SrmsimError(f"--set {key}: give one key per --set (e.g. {key}.name=value), "
                              "not a mapping")
        if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
            raise SrmsimError(f"--set {key}: a list value may hold only plain values")
        out[key] = _input_file_from_here(key, value)
    return out


def refuse_study_keys(settings: dict[str, Any], study: type[BaseModel], kind: str,
                      hints: dict[str, str] | None = None) -> None:
    """``--set`` changes the study's scenario: a key of the study file itself (an experiment's
    ``replications``, ``variants``) was "unknown key (check the spelling; ...)", though spelt
    right. ``study``: the file's model; ``hints``: a key's own option (a trial's
    ``--replications``)."""
    from srmsim.scenario import Scenario

    scenario_keys = {f.alias or n for n, f in Scenario.model_fields.items()}
    study_keys = {f.alias or n for n, f in study.model_fields.items()}
    for key in settings:
        first = key.split(".", 1)[0]
        if first in study_keys and first not in scenario_keys:
            how = (hints or {}).get(first, f"change it in the {kind} file")
            raise SrmsimError(f"--set {key}: {first!r} is a key of the {kind} file, not of its "
                              f"scenario, which --set changes; {how}")


def _input_file_from_here(key: str, value: Any) -> Any:
    """An input file given on the command line (``population.records``, a request stream's
    ``arrivals.file``) read from the current folder, as a scenario file's are read from the
    file's folder: kept relative, the run's saved scenario.yaml named it relative to the folder
    it was read back from, and the run (or experiment) was refused afterwards as "copied or
    edited", its report never made."""
    from pathlib import Path

    from srmsim.scenario import expand_overrides

    if not isinstance(value, str):
        return value
    nested: Any = expand_overrides({key: value}, f"--set {key}", base_dir=Path.cwd())
    for part in key.split("."):
        nested = nested[part]
    return nested
