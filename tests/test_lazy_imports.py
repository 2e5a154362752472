"""Lazy packages (srmsim/lazy.py): every exported name works, type checkers see the same names,
and a simulation does not import the statistics stack it does not use."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LAZY_PACKAGES = ["srmsim.stats", "srmsim.risk", "srmsim.calibrate"]


def _type_checking_imports(package: str) -> dict[str, str]:
    """name -> module of the ``if TYPE_CHECKING:`` imports in a package's __init__.py."""
    path = REPO / Path(*package.split(".")) / "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom)
                module = "." * imp.level + (imp.module or "")
                if module.startswith(package + "."):
                    module = module[len(package):]
                for alias in imp.names:
                    found[alias.name] = module
    return found


@pytest.mark.parametrize("package", ["srmsim.stats", "srmsim.risk"])
def test_type_checkers_see_the_names_the_package_exports(package):
    module = importlib.import_module(package)
    table = {name: mod for mod, names in module._MODULES.items() for name in names}
    assert _type_checking_imports(package) == table


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_every_exported_name_is_the_object_of_its_module(package):
    module = importlib.import_module(package)
    assert module.__all__ == sorted(module.__all__) and module.__all__
    for name in module.__all__:
        value = getattr(module, name)
        assert value is not None
        assert name in dir(module)
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        module.not_a_name  # noqa: B018
    from srmsim.stats import regress
    from srmsim.stats.regression import regress as direct
    assert regress is direct


def test_a_submodule_is_an_attribute_of_its_lazy_package():
    code = ("import srmsim.stats, srmsim.risk\n"
            "print(srmsim.stats.discontinuity.__name__, srmsim.risk.irls.__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=120, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["srmsim.stats.discontinuity", "srmsim.risk.irls"]


def test_lazy_exports_refuses_a_name_exported_twice():
    from srmsim.lazy import lazy_exports

    with pytest.raises(ValueError, match="'x' exported by .a and .b"):
        lazy_exports("pkg", {".a": ("x",), ".b": ("x",)})


def test_a_run_with_a_pooled_risk_model_imports_no_statistics_stack():
    """The pool's termly logistic fits use srmsim.risk.irls: a run needs neither statsmodels nor
    scipy.stats nor matplotlib (about 1.5 s of imports in every run and worker process)."""
    code = (
        "import sys\n"
        "from srmsim.scenario import load_scenario\n"
        "from srmsim.model import TrustModel\n"
        "s = load_scenario('scenarios/pooling.yaml').with_overrides("
        "{'years': 1, 'trust.n_schools': 3}, 'test')\n"
        "m = TrustModel(s, seed=1)\n"
        "m.run()\n"
        "assert m.policy.pool_model.fits, 'the pool never fitted its model'\n"
        "print(sorted(k for k in ('statsmodels', 'scipy.stats', 'matplotlib', 'patsy')"
        " if k in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=120, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
