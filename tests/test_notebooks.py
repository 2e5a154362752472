"""Every notebook in notebooks/ runs top to bottom without an error, so none of them rots.

New notebooks are picked up automatically. They are executed in a fresh kernel with the
notebook's own folder as the working directory, exactly as a reader would run them.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def test_there_is_a_notebook_to_run() -> None:
    assert any(p.name == "01_explore_a_trust.ipynb" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_saved_clean(path: Path) -> None:
    """Saved without outputs, so diffs stay readable and results always come from a fresh run."""
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: clear the outputs of cells {dirty} before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path) -> None:
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellExecutionError as err:
        pytest.fail(f"{path.name} failed:\n{err}")
    noisy = warnings_in(nb)
    assert not noisy, f"{path.name} shows warnings or stderr output:\n" + "\n".join(noisy)


def warnings_in(nb) -> list[str]:
    """Cells whose outputs a reader would see as warnings: stderr streams, or text naming a
    Warning (a FutureWarning printed by a library counts too)."""
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                text = out.get("text", "")
                if out.get("name") == "stderr" or "Warning:" in text:
                    found.append(f"cell {i}: {text.strip()[:300]}")
            for value in out.get("data", {}).values():
                if isinstance(value, str) and "Warning:" in value:
                    found.append(f"cell {i}: {value.strip()[:300]}")
    return found


def test_warning_check_sees_stderr_and_warnings() -> None:
    """The check above is not vacuous: it catches both ways a warning reaches a reader."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x")]
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stderr", text="careful\n")]
    assert warnings_in(nb)
    nb.cells[0].outputs = [nbformat.v4.new_output(
        "stream", name="stdout", text="a.py:3: FutureWarning: old\n")]
    assert warnings_in(nb)
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="fine\n")]
    assert not warnings_in(nb)
