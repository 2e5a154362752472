"""Project hygiene that can drift: one version, a licence that matches, a citation that matches."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

import srmsim

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_version_comes_from_one_place_and_the_citation_agrees() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"]["attr"] == "srmsim.__version__"
    citation = yaml.safe_load((REPO_ROOT / "CITATION.cff").read_text())
    assert citation["version"] == srmsim.__version__
    assert f"## [{srmsim.__version__}]" in (REPO_ROOT / "CHANGELOG.md").read_text()


def test_licence_file_matches_the_declared_licence() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    declared = pyproject["project"]["license"]  # an SPDX expression (PEP 639)
    assert pyproject["project"]["license-files"] == ["LICENSE"]
    citation = yaml.safe_load((REPO_ROOT / "CITATION.cff").read_text())
    assert declared == citation["license"] == "MIT"
    assert (REPO_ROOT / "LICENSE").read_text().startswith("MIT License")


def test_package_ships_type_information() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["srmsim"]
    assert (REPO_ROOT / "srmsim" / "py.typed").exists()
