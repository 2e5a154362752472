"""Every notebook in notebooks/ runs top to bottom without an error, so none of them rots.

New notebooks are picked up automatically. They are executed in a fresh kernel with the
notebook's own folder as the working directory, exactly as a reader would run them. With
``$SRMSIM_EXECUTED_NOTEBOOKS`` set, each executed notebook is also written there under its own
name: the documentation site (docs/hooks.py) then shows the notebooks with their outputs.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from srmsim.outputs import write_file

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
    save_executed(nb, path.name)


def save_executed(nb, name: str) -> Path | None:
    """Keep the executed notebook in ``$SRMSIM_EXECUTED_NOTEBOOKS`` (when set) for the docs site,
    which renders it in place of the saved, output-free copy."""
    folder = os.environ.get("SRMSIM_EXECUTED_NOTEBOOKS")
    if not folder:
        return None
    Path(folder).mkdir(parents=True, exist_ok=True)
    target = Path(folder) / name
    write_file(target, nbformat.writes(nb))
    return target


def test_executed_notebook_is_kept_for_the_docs_when_asked(tmp_path, monkeypatch) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("1 + 1")]
    nb.cells[0].outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "2"})]
    monkeypatch.delenv("SRMSIM_EXECUTED_NOTEBOOKS", raising=False)
    assert save_executed(nb, "a.ipynb") is None
    monkeypatch.setenv("SRMSIM_EXECUTED_NOTEBOOKS", str(tmp_path / "executed"))
    written = save_executed(nb, "a.ipynb")
    assert written == tmp_path / "executed" / "a.ipynb"
    assert nbformat.read(written, as_version=4).cells[0].outputs[0]["data"]["text/plain"] == "2"


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
