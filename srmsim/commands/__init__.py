"""Sub-commands of the ``srmsim`` CLI; each module defines ``register(subparsers)``."""

from __future__ import annotations

from pathlib import Path


def check_file_kind(path: str | Path, expected: str) -> None:
    """Refuse a study file given to the wrong command in one line that names the right one:
    `srmsim run experiments/quickstart.yaml` listed five "unknown key" lines."""
    from srmsim.errors import ScenarioError
    from srmsim.inputs import wrong_kind
    from srmsim.scenario import read_yaml

    why = wrong_kind(read_yaml(path), path, expected)
    if why is not None:
        raise ScenarioError(str(path), why)


def check_resume_folder(out: Path, resume: bool) -> None:
    """Refuse ``--resume`` with an ``--out`` folder that does not exist. Why: a typo in the
    folder's name silently started a fresh study, when the user expected their earlier runs."""
    import os

    from srmsim.errors import SrmsimError

    if resume and not os.path.lexists(out):
        raise SrmsimError(f"{out}: no such folder to resume; leave out --resume to start a "
                          "new study there")
