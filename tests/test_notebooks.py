"""Every notebook in notebooks/ runs top to bottom without an error, so none of them rots.

New notebooks are picked up automatically. They are executed in a fresh kernel with the
notebook's own folder as the working directory, exactly as a reader would run them. With
``$SRMSIM_EXECUTED_NOTEBOOKS`` set, each executed notebook is also written there under its own
name: the documentation site (docs/hooks.py) then shows the notebooks with their outputs.

A cell whose reply never comes while its kernel sits idle is run again, once, in a fresh kernel:
ipykernel 7 now and then loses a request between client and kernel (its issue #1554, "a request
arriving in that window is not read"); CI once waited 600 s on such a cell of notebook 01, whose
cells take 4 s in all. A cell that is still computing when the time is up fails at once.

The notebook runs are marked ``once``: CI runs them on the oldest Python only (see
tests/conftest.py; the executed notebooks for the docs come from the oldest).
"""

from __future__ import annotations

import os
import re
import time
import warnings
from html import unescape
from pathlib import Path

import nbformat
import psutil
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



def test_learning_curves_in_the_notebooks_are_in_the_choosers_units() -> None:
    """Notebook 08 printed its learning curves "in the chooser's target units", bare numbers,
    for trusts and analysts: its choosers all target reading, in months (helper 245). Every
    learning-curve table or figure a notebook makes is given the choosers' target."""
    import ast

    takes = {"format_learning_curve": 2, "plot_learning_curve": 3}  # arguments, target last
    calls = []
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                             for line in cell.source.splitlines())  # IPython's magics
            for node in ast.walk(ast.parse(code)):
                name = getattr(node, "func", None)
                if isinstance(node, ast.Call) and isinstance(name, ast.Name) \
                        and name.id in takes:
                    given = len(node.args) + len(node.keywords)
                    calls.append((path.name, name.id, given >= takes[name.id]))
    assert calls, "no notebook draws a learning curve: this test checks nothing"
    assert all(ok for *_, ok in calls), [c for c in calls if not c[-1]]

def test_notebooks_write_money_as_the_commands_do() -> None:
    """Notebook 05 wrote costs as "GBP 480" and "total cost (GBP)" over 12,345, where every
    command and report prints "£480" (:func:`srmsim.experiment.outcomes.format_value`'s money
    format): one money format everywhere."""
    written = [(path.name, i) for path in NOTEBOOKS
               for i, cell in enumerate(nbformat.read(path, as_version=4).cells)
               if re.search(r"\bGBP\b", cell.source)]
    assert not written, written


#: what formats a number other than a threshold's own formatter: a format spec (``:.3f``,
#: ``:.1%``), a share's or a number's helper, or ``str.format``
OTHER_FORMATS = frozenset({"percent", "points", "rounded", "significant", "plain_number",
                           "format_value", "format", "round"})


def thresholds_formatted_otherwise(sources: list[str]) -> list[tuple[int, str]]:
    """The code in a notebook's cells ``sources`` that prints a threshold other than by
    :func:`srmsim.risk.threshold_text` or :func:`srmsim.risk.readable_threshold_table`, by cell:
    an f-string's format spec, ``percent(...)``, ``"{:.3f}".format(...)``, ``.map(percent)``
    of a threshold column. A threshold is ``x.threshold``, a name or column with "threshold" in
    it, or a name given one (``cut = at_capacity.threshold``)."""
    import ast

    given: set[str] = set()
    found = []

    def is_threshold(node: ast.AST) -> bool:
        if isinstance(node, ast.Attribute):
            return "threshold" in node.attr
        if isinstance(node, ast.Name):
            return "threshold" in node.id or node.id in given
        return isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
            and "threshold" in str(node.slice.value)

    def holds_threshold(node: ast.AST) -> bool:
        return any(is_threshold(n) for n in ast.walk(node))

    def formatter(node: ast.AST) -> str:
        return getattr(node, "id", None) or getattr(node, "attr", None) or ""

    for i, source in enumerate(sources):
        code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                         for line in source.splitlines())  # IPython's magics
        tree = ast.parse(code)
        for node in ast.walk(tree):  # (a cell's names, before its formats are read)
            if isinstance(node, ast.Assign) and is_threshold(node.value):
                given.update(t.id for t in node.targets if isinstance(t, ast.Name))
        for node in ast.walk(tree):
            if isinstance(node, ast.FormattedValue) and node.format_spec is not None \
                    and holds_threshold(node.value):
                found.append((i, ast.get_source_segment(code, node.value) or ""))
            if not isinstance(node, ast.Call):
                continue
            name = formatter(node.func)
            if name in OTHER_FORMATS and any(holds_threshold(a) for a in node.args):
                found.append((i, ast.get_source_segment(code, node) or ""))
            elif name == "map" and isinstance(node.func, ast.Attribute) \
                    and holds_threshold(node.func.value) \
                    and any(formatter(a) in OTHER_FORMATS for a in node.args):
                found.append((i, ast.get_source_segment(code, node) or ""))
    return found


def test_notebooks_print_every_threshold_one_way() -> None:
    """Notebook 05 showed its thresholds as percentages in the capacity and per-school tables
    (``82.1%``) and as decimals elsewhere (``0.821``, ``f"{cut:.3f}"``): one threshold, two
    formats. Every threshold a notebook of srmsim.risk prints goes through
    ``risk.threshold_text`` (or ``risk.readable_threshold_table``), as `srmsim thresholds`
    prints them. (Notebook 01's slider of an attendance line in whole percent is no such
    threshold.)"""
    mixed, checked = [], []
    for path in NOTEBOOKS:
        cells = nbformat.read(path, as_version=4).cells
        code = [c.source if c.cell_type == "code" else "" for c in cells]
        if any("srmsim import risk" in s or "srmsim.risk" in s for s in code):
            checked.append(path.name)
            mixed += [(path.name, i, text) for i, text in thresholds_formatted_otherwise(code)]
    assert "05_calibrate_thresholds.ipynb" in checked, checked
    assert not mixed, mixed
    # the check sees each way notebook 05 had of printing one, and passes the one way
    assert sorted(thresholds_formatted_otherwise([
        'pd.Series({"below": percent(at_capacity.threshold)})\ncut = at_capacity.threshold',
        'print(f"at the capacity threshold {cut:.3f}, best {free.threshold:.1%}")\n'
        'per_school["own threshold for 75 places"].map(percent)\n'
        'rows = {"threshold": "{:.3f}".format(r.threshold)}\n'])) == [
        (0, "percent(at_capacity.threshold)"), (1, '"{:.3f}".format(r.threshold)'),
        (1, "cut"), (1, "free.threshold"),
        (1, 'per_school["own threshold for 75 places"].map(percent)')]
    assert not thresholds_formatted_otherwise([
        'cut = at_capacity.threshold\nat_cut = by_group[by_group["threshold"] == cut]',
        'print(f"below {risk.threshold_text(cut, scores)}: {at_capacity.precision:.0%} "\n'
        '      f"{at_cut[\'flag_rate\'].max():.0%}")\n'
        'risk.readable_threshold_table(at_cut[["threshold", "flag_rate"]])\n'])


# seconds a cell may take: the slowest takes ~6 s alone, ~15 s on a loaded 2-core CI machine,
# and over 45 s when other jobs share the two cores (load average 9): a hang still fails, the
# whole notebook stays inside pytest's 600 s
CELL_TIMEOUT = 120


class KernelWatch:
    """The CPU time the kernel (and any process it started) had used when the current cell was
    sent, so a timed-out cell can be told apart: kernel idle (the request was lost) or busy."""

    def __init__(self, km) -> None:
        self.km = km
        self.cell_index: int | None = None
        self.started: tuple[float, float] | None = None

    def cpu_seconds(self) -> float:
        kernel = psutil.Process(self.km.provisioner.pid)
        own = kernel.cpu_times()
        total = own.user + own.system + own.children_user + own.children_system
        for child in kernel.children(recursive=True):
            try:
                times = child.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def kernel_ready(self, notebook) -> None:
        """Before the first request (kernel info), which can be lost too."""
        self.cell_sent(None, None)

    def cell_sent(self, cell, cell_index: int | None) -> None:
        self.cell_index = cell_index
        try:
            self.started = (time.monotonic(), self.cpu_seconds())
        except psutil.Error:  # the kernel has gone: nbclient reports a dead kernel
            self.started = None

    def idle_since_cell_sent(self) -> bool:
        """Under 2% of one core used while the reply was awaited."""
        if self.started is None or not self.km.has_kernel:
            return False
        wall, cpu = self.started
        try:
            return self.cpu_seconds() - cpu < 0.02 * (time.monotonic() - wall)
        except psutil.Error:
            return False


def execute(path: Path, cell_timeout: float = CELL_TIMEOUT) -> nbformat.NotebookNode:
    """Run a notebook top to bottom in a fresh kernel, with its folder as working directory;
    once more if a cell timed out while its kernel sat idle (see the module docstring)."""
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError

    for attempt in (1, 2):
        nb = nbformat.read(path, as_version=4)
        km = AsyncKernelManager(kernel_name="python3")  # ours, so it outlives a timeout
        watch = KernelWatch(km)
        client = NotebookClient(nb, km=km, timeout=cell_timeout, kernel_name="python3",
                                on_notebook_start=watch.kernel_ready,
                                on_cell_execute=watch.cell_sent,
                                resources={"metadata": {"path": str(path.parent)}})
        try:
            client.execute()
            return nb
        except CellTimeoutError:
            if attempt == 2 or not watch.idle_since_cell_sent():
                raise
            what = ("the kernel-info request" if watch.cell_index is None
                    else f"cell {watch.cell_index}")
            warnings.warn(f"{path.name}: {what} had no reply after "
                          f"{cell_timeout:.0f} s while its kernel sat idle (a lost request); "
                          "ran the notebook again in a fresh kernel", stacklevel=2)
        finally:
            if client.kc is not None:
                client.kc.stop_channels()
            if km.has_kernel:
                run_sync(km.shutdown_kernel)(now=True)
    raise AssertionError("unreachable")


@pytest.mark.once
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path) -> None:
    from nbclient.exceptions import CellExecutionError

    try:
        nb = execute(path)
    except CellExecutionError as err:
        pytest.fail(f"{path.name} failed:\n{err}")
    noisy = warnings_in(nb)
    assert not noisy, f"{path.name} shows warnings or stderr output:\n" + "\n".join(noisy)
    unreadable = unreadable_tables(nb)
    assert not unreadable, f"{path.name} shows tables a newcomer cannot read:\n" + "\n".join(
        unreadable)
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


#: the effects frame's and the threshold tables' own column names: a displayed table shows its
#: headings in words (:func:`srmsim.experiment.compare.readable_effects`,
#: :func:`srmsim.risk.readable_threshold_table`: notebook 05 showed ``flag_rate``, ``tp``,
#: ``fp`` and ``sensitivity`` as fractions to 3 decimals)
INTERNAL_HEADINGS = frozenset({
    "mean_baseline", "mean_variant", "ci_low", "ci_high",
    "n_pos", "flag_rate", "tp", "fp", "fn", "tn", "sensitivity", "npv", "n_missing",
    "flag_rate_diff", "sensitivity_diff", "flag_rate_gap", "sensitivity_gap",
    "flag_rate_max_group", "flag_rate_min_group", "sensitivity_max_group",
    "sensitivity_min_group"})
#: a number with more than 4 decimals after its leading zeros (0.915029130142747, 0.934763,
#: 23015.700000); a small difference the outcomes' own formatter gives two significant digits
#: (``±0.00047 months``, not ``±0.00 months``) is readable
LONG_DECIMALS = re.compile(r"(?<![\w.])-?\d+\.0*[1-9]\d{4,}")


def outcome_names() -> frozenset[str]:
    """The built-in outcomes' names, but those that are also a column of the data they are
    measured from (``reading_gap_end``, ``incidents``: a students table shown as it is): a
    table headed ``regret``, ``oracle_match`` or ``reading_per_100h`` shows means as they are
    in the runs table (shares as raw fractions, no unit), where each outcome's label and
    ``format_value`` say them in words and units."""
    from srmsim.experiment.outcomes import OUTCOMES

    return frozenset(name for name, o in OUTCOMES.items() if name not in (o.columns or ()))


def unreadable_tables(nb) -> list[str]:
    """Tables a cell displays (its HTML) that a newcomer cannot read: a heading that is an
    internal column name or an outcome's name (:func:`outcome_names`), or a number with more
    than 4 decimals (a share printed as the raw fraction 0.9423 is what a notebook must show
    as a percentage)."""
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            html = out.get("data", {}).get("text/html", "")
            if not isinstance(html, str) or "<table" not in html:
                continue
            cells = [unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in
                     re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", html, re.DOTALL)]
            headings = {unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in
                        re.findall(r"<th[^>]*>(.*?)</th>", html, re.DOTALL)}
            heads = sorted(INTERNAL_HEADINGS & set(cells))
            if heads:
                found.append(f"cell {i}: internal column names {heads}")
            named = sorted(outcome_names() & headings)
            if named:
                found.append(f"cell {i}: outcome names for headings {named} (use each "
                             "outcome's label and format_value)")
            long = [c for c in cells if LONG_DECIMALS.search(c)]
            if long:
                found.append(f"cell {i}: more than 4 decimals: {long[:3]}")
    return found


def test_table_check_sees_internal_headings_and_long_decimals() -> None:
    """The check above is not vacuous: it catches an effects frame shown as it is, a raw
    fraction and a long float in a text cell, and passes a readable table."""
    import pandas as pd

    from srmsim.experiment.compare import readable_effects

    def shown(frame: pd.DataFrame) -> list[str]:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell("table")]
        nb.cells[0].outputs = [nbformat.v4.new_output(
            "execute_result", data={"text/html": frame._repr_html_(), "text/plain": str(frame)},
            execution_count=1)]
        return unreadable_tables(nb)

    effects = pd.DataFrame({
        "variant": ["escalation"], "outcome": ["attendance"], "mean_baseline": [0.93],
        "mean_variant": [0.9423], "difference": [0.0123], "ci_low": [0.01], "ci_high": [0.0146],
        "relative_change": [0.0132], "verdict": ["better"], "replications": [8],
        "half_width": [0.0023]})
    assert shown(effects) == ["cell 0: internal column names ['ci_high', 'ci_low', "
                              "'mean_baseline', 'mean_variant']"]
    assert shown(pd.DataFrame({"Attendance": [0.934763]})) == [
        "cell 0: more than 4 decimals: ['0.934763']"]
    assert not shown(pd.DataFrame({"Half-width": ["±0.00047 months"], "Share": [0.9423]}))
    assert shown(pd.DataFrame({"Effect": ["attainment +0.12125", "reading +6"],
                               "Variance reduction": [0.000058, 23015.7]})) == [
        "cell 0: more than 4 decimals: ['attainment +0.12125', '23015.700000']"]
    readable = readable_effects(effects)
    assert not shown(readable) and list(readable.iloc[0])[2:5] == ["93.0%", "94.2%",
                                                                   "+1.23 pp"]
    # notebook 08's means by variant: headed by outcome names, a share as the fraction 0.213
    means = pd.DataFrame({"regret": [0.412], "oracle_match": [0.213],
                          "reading_per_100h": [73.2]}, index=pd.Index(["fixed"], name="variant"))
    assert shown(means) == ["cell 0: outcome names for headings ['oracle_match', "
                            "'reading_per_100h', 'regret'] (use each outcome's label and "
                            "format_value)"]
    assert not shown(pd.DataFrame({"Outcome": ["regret"], "Share": ["21.3%"]}))  # a cell: fine
    # notebook 05's threshold table, as it was shown and as risk.readable_threshold_table shows it
    from srmsim import risk

    pupils = pd.DataFrame({"score": [0.8, 0.85, 0.9, 0.95] * 5, "y": [1, 1, 0, 0] * 5,
                           "fsm": [True, False] * 10})
    table = risk.threshold_table(pupils, "score", "y", thresholds=[0.86])
    assert shown(table[["threshold", "flagged", "flag_rate", "tp", "fp", "sensitivity"]]
                 .round(3)) == ["cell 0: internal column names ['flag_rate', 'fp', "
                                "'sensitivity', 'tp']"]
    by = risk.threshold_table(pupils, "score", "y", thresholds=[0.86], by=["fsm"])
    assert shown(by[["by", "group", "n", "n_pos", "flag_rate_diff"]]) == [
        "cell 0: internal column names ['flag_rate_diff', 'n_pos']"]
    for frame in (table, by, risk.group_gaps(by)):
        readable = risk.readable_threshold_table(frame)
        assert not shown(readable), shown(readable)
    assert list(risk.readable_threshold_table(table).iloc[0])[:6] == [
        "0.86", "20", "10", "10", "50.0%", "10"]


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


def test_a_cell_lost_by_an_idle_kernel_runs_again_in_a_fresh_one(tmp_path) -> None:
    """The first kernel sits idle past the timeout (as when its request is lost); the second
    runs the notebook through, and the reader is told."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import pathlib, time\n"
        "mark = pathlib.Path('first-try')\n"
        "if not mark.exists():\n"
        "    mark.touch()\n"
        "    time.sleep(30)\n"
        "print('done')")]
    path = tmp_path / "idle.ipynb"
    nbformat.write(nb, path)
    with pytest.warns(UserWarning, match=r"idle.ipynb: cell 0 had no reply after 2 s"):
        executed = execute(path, cell_timeout=2)
    assert executed.cells[0].outputs[0]["text"] == "done\n"


def test_a_cell_still_computing_at_the_timeout_fails_at_once(tmp_path) -> None:
    from nbclient.exceptions import CellTimeoutError

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("while True:\n    pass")]
    path = tmp_path / "busy.ipynb"
    nbformat.write(nb, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "ran again" warning: one try only
        with pytest.raises(CellTimeoutError):
            execute(path, cell_timeout=2)
