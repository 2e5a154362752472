"""The shipped scenarios, experiments, notebooks and sample data, available after any install.

In the repository ``srmsim/examples/*`` are links to the top-level ``scenarios/``,
``experiments/``, ``notebooks/`` and ``data/`` folders; a wheel carries copies. ``srmsim examples
DIR`` copies them out with the same layout, so the experiments' relative paths still work.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from srmsim.errors import SrmsimError
from srmsim.labels import plural, printable, windows_name_problem
from srmsim.outputs import write_atomic

FOLDERS = ("scenarios", "experiments", "notebooks", "data")


def example_files() -> dict[str, resources.abc.Traversable]:
    """Relative path -> packaged file, for every shipped example."""
    root = resources.files("srmsim") / "examples"
    found: dict[str, resources.abc.Traversable] = {}

    def walk(node: resources.abc.Traversable, prefix: str) -> None:
        for child in node.iterdir():
            name = f"{prefix}/{child.name}"
            if child.is_dir():
                if child.name not in ("__pycache__", ".ipynb_checkpoints"):
                    walk(child, name)
            elif not child.name.endswith((".pyc", ".pyo")):
                found[name] = child

    for folder in FOLDERS:
        node = root / folder
        if node.is_dir():
            walk(node, folder)
    return found


def copy_examples(target: str | Path) -> list[Path]:
    """Copy every shipped example into ``target`` (created if needed); never overwrite a file."""
    target = Path(target)
    files = example_files()
    if not files:
        raise SrmsimError("this installation ships no examples (a broken install?)")
    # the folders this copy names or makes: `srmsim examples con` wrote a folder that cannot
    # be copied to Windows, which reserves CON, NUL, COM1... (any extension) for devices
    for folder in [target, *(p for p in target.parents if not os.path.lexists(p))]:
        why = windows_name_problem(folder.name) if folder.name not in ("", ".", "..") else None
        if why:
            raise SrmsimError(f"{folder}: is no folder name Windows can hold ({why}); choose "
                              "another name, so the examples can be copied to any machine")
    folders = {d for rel in files for d in (target / rel).parents}
    # the target and the folders inside it that exist: a symbolic link among them would take
    # the copy out of the folder named (a scenarios/ linked elsewhere was written through)
    links = sorted(d for d in folders if (d == target or target in d.parents) and d.is_symlink())
    if links:
        raise SrmsimError(f"{links[0]}: is a symbolic link; the examples are copied only into "
                          "real folders: choose an empty or new folder")
    # lexists: a dangling symbolic link is the user's too (exists() is False, and the copy
    # replaced the link itself)
    if target.is_dir():  # as --out is refused: `srmsim examples /` wrote data/ and the rest at /
        foreign = sorted(p.name for p in target.iterdir()
                         if p.name not in FOLDERS and not p.name.startswith("."))
        if foreign:
            raise SrmsimError(f"{target}: holds files other than the examples' folders (e.g. "
                              f"{printable(foreign[0])}); choose an empty or new folder")
    clashes = [rel for rel in files if os.path.lexists(target / rel)]
    if clashes:
        raise SrmsimError(f"{target}: would overwrite {plural(len(clashes), 'existing file')}, "
                          "e.g. "
                          f"{clashes[0]}; choose an empty or new folder")
    not_folders = sorted(d for d in folders if os.path.lexists(d) and not d.is_dir())
    if not_folders:  # a file where a folder goes: refused before anything is copied
        raise SrmsimError(f"{not_folders[0]}: is a file, not a folder; choose an empty or new "
                          "folder")
    # every folder this copy creates, the target's missing parents too, deepest first
    new_dirs = sorted((d for d in folders if not os.path.lexists(d)), key=lambda d: -len(d.parts))
    written: list[Path] = []
    try:
        for rel, source in sorted(files.items()):
            dest = target / rel

            def copy(tmp: str, data: bytes = source.read_bytes()) -> None:
                Path(tmp).write_bytes(data)

            write_atomic(dest, copy)
            written.append(dest)
    except BaseException:  # a full disk, Ctrl-C: take back what was copied, so a retry works
        for dest in written:
            dest.unlink(missing_ok=True)
        for folder in new_dirs:  # deepest first; only folders this copy created
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise
    return written
