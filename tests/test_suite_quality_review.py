"""The test suite's own quality: no assertion that cannot fail, no timed assertion.

The review that wrote this found `assert not list(...) or True` (tests/test_experiment.py) and
`pytest.raises(Exception)` around refusals that must be a ScenarioError (tests/test_admin.py).
These checks read every test file's syntax tree and fail on the shapes that can never fail, or
fail only on a slow machine, so they do not come back. Each rule is first shown to catch a
snippet written to break it (a checker that finds nothing would otherwise pass too).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
#: clocks: an assertion on their readings passes or fails with the machine's load
CLOCKS = {"perf_counter", "perf_counter_ns", "monotonic", "monotonic_ns", "process_time",
          "process_time_ns", "time", "time_ns", "thread_time"}


def _truthy_constant(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and bool(node.value)


def _clock_call(node: ast.AST) -> bool:
    """``time.perf_counter()`` and the like (``time.sleep`` is no reading)."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in CLOCKS and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "time")


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _timed_names(func: ast.AST) -> set[str]:
    """Names a function assigns from a clock reading, directly or through another such name."""
    timed: set[str] = set()
    assigns = [n for n in ast.walk(func) if isinstance(n, ast.Assign | ast.AugAssign)]
    changed = True
    while changed:
        changed = False
        for a in assigns:
            value = a.value
            if any(_clock_call(n) for n in ast.walk(value)) or _names(value) & timed:
                targets = a.targets if isinstance(a, ast.Assign) else [a.target]
                new = set().union(*(_names(t) for t in targets)) - timed
                if new:
                    timed |= new
                    changed = True
    return timed


def problems(source: str, where: str = "<snippet>") -> list[str]:
    """Each assertion in ``source`` that cannot fail or that times the machine, as
    ``where:line: why``."""
    found = []
    tree = ast.parse(source)
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        timed = _timed_names(func)
        for node in ast.walk(func):
            why = None
            if isinstance(node, ast.Assert):
                test = node.test
                if _truthy_constant(test):
                    why = "asserts a constant"
                elif isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or) and any(
                        _truthy_constant(v) for v in test.values):
                    why = "'or' with a true constant"
                elif (isinstance(test, ast.Compare) and len(test.ops) == 1
                      and isinstance(test.ops[0], ast.Eq | ast.LtE | ast.GtE | ast.Is)
                      and ast.dump(test.left) == ast.dump(test.comparators[0])
                      and not any(isinstance(n, ast.Call) for n in ast.walk(test.left))):
                    why = "compares a value with itself"  # (x != x, the NaN test, can fail)
                elif (isinstance(test, ast.Compare) and len(test.ops) == 1
                      and isinstance(test.ops[0], ast.GtE)
                      and isinstance(test.left, ast.Call)
                      and getattr(test.left.func, "id", "") == "len"
                      and isinstance(test.comparators[0], ast.Constant)
                      and test.comparators[0].value == 0):
                    why = "len(...) >= 0"
                elif any(_clock_call(n) for n in ast.walk(test)) or _names(test) & timed:
                    why = "asserts a clock reading (wall-clock or CPU time)"
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr == "raises" and node.args
                  and isinstance(node.args[0], ast.Name)
                  and node.args[0].id in ("Exception", "BaseException")):
                why = f"pytest.raises({node.args[0].id}) passes on any error, a traceback too"
            if why:
                found.append(f"{where}:{node.lineno}: {why}")
    return found


@pytest.mark.parametrize("snippet", [
    "def test_x():\n    assert True\n",
    "def test_x(p):\n    assert not list(p.glob('*')) or True\n",
    "def test_x(a):\n    assert a.b == a.b\n",
    "def test_x(a):\n    assert len(a) >= 0\n",
    "def test_x():\n    with pytest.raises(Exception):\n        f()\n",
    "def test_x():\n    start = time.perf_counter()\n    f()\n"
    "    took = time.perf_counter() - start\n    assert took < 2.0\n",
    "def test_x():\n    t0 = time.process_time()\n    f()\n    assert time.process_time() - t0 < 1\n",
])
def test_the_checker_catches_each_shape(snippet: str) -> None:
    assert len(problems(snippet)) == 1, problems(snippet)


@pytest.mark.parametrize("snippet", [
    "def test_x(a):\n    assert a != a  # NaN\n",
    "def test_x(f):\n    assert f(4) == f(4)  # a function of its arguments\n",
    "def test_x(a, b):\n    assert a or not b\n",
    "def test_x(a):\n    assert len(a) >= 1\n",
    "def test_x():\n    with pytest.raises(ScenarioError, match='x'):\n        f()\n",
    "def test_x(p):\n    deadline = time.monotonic() + 30\n"
    "    while time.monotonic() < deadline and not p.exists():\n        time.sleep(0.05)\n"
    "    assert p.exists()\n",
])
def test_the_checker_passes_what_can_fail(snippet: str) -> None:
    assert problems(snippet) == []


def test_no_test_holds_an_assertion_that_cannot_fail_or_times_the_machine() -> None:
    found = []
    for path in sorted(TESTS.glob("*.py")):
        found += problems(path.read_text(encoding="utf-8"), path.name)
    assert found == [], "\n".join(found)
