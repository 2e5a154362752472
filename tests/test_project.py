"""Project hygiene that can drift: one version, a licence that matches, a citation that matches."""

from __future__ import annotations

import json
import re
import tomllib
import unicodedata
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



def _extra_packages(extras: dict[str, list[str]], name: str) -> set[str]:
    """The distributions an extra installs, its ``srmsim[...]`` extras expanded."""
    found: set[str] = set()
    for requirement in extras[name]:
        own = re.fullmatch(r"srmsim\[(.+)\]", requirement)
        if own:
            for other in own.group(1).split(","):
                found |= _extra_packages(extras, other.strip())
        else:
            found.add(re.split(r"[<>=!~\[; ]", requirement)[0].lower())
    return found


def test_the_notebooks_extra_holds_what_every_notebook_runs_on() -> None:
    """The README and docs/notebooks.md say: `pip install -e ".[notebooks]"`, then open the
    notebooks. In such an environment 08 stopped with "4 runs failed (errors in failures/)"
    (its learned chooser needs scikit-learn) and 09 with "this needs SALib" (helper 245)."""
    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    code = {nb.name: "\n".join("".join(cell["source"]) for cell in json.loads(
        nb.read_text())["cells"] if cell["cell_type"] == "code")
        for nb in sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))}
    needs = {"learning": [n for n, c in code.items() if "learning.yaml" in c or "learned" in c],
             "explore": [n for n, c in code.items() if "srmsim.explore" in c]}
    assert needs["learning"] and needs["explore"], needs  # (the check still finds them)
    installed = _extra_packages(extras, "notebooks")
    for extra, notebooks in needs.items():
        missing = _extra_packages(extras, extra) - installed
        assert not missing, f"{notebooks} need {sorted(missing)} ({extra}), not in [notebooks]"

# ----------------------------------------------------------------------------- documentation links
# Pages docs/hooks.py generates at build time: a link to them is good though no file exists.
_GENERATED_PAGES = {"reference/files.md", "reference/cli.md", "changelog.md", "benchmarks.md",
                    *(f"notebooks/{p.name}" for p in (REPO_ROOT / "notebooks").glob("*.ipynb"))}
_FENCE = re.compile(r"^\s*(```|~~~).*?^\s*\1", re.M | re.S)
_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _documentation_pages() -> list[Path]:
    return [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]


def _anchors(page: Path) -> set[str]:
    """The heading anchors of a page, as MkDocs (toc) and GitHub both spell them."""
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M):
        plain = re.sub(r"[`*_]|\[([^]]*)\]\([^)]*\)", r"\1", heading)
        ascii_text = unicodedata.normalize("NFKD", plain).encode("ascii", "ignore").decode()
        mkdocs = re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", ascii_text).strip().lower())
        github = re.sub(r"[^\w\- ]", "", plain.strip().lower()).replace(" ", "-")
        for slug in {mkdocs, github}:
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            anchors.add(slug if n == 0 else f"{slug}_{n}")
            anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def _broken_links(page: Path) -> list[str]:
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)  # inline code is not a link
    broken = []
    for target in _LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        docs_page = linked.relative_to(REPO_ROOT / "docs").as_posix() \
            if linked.is_relative_to(REPO_ROOT / "docs") else None
        if not linked.exists() and docs_page not in _GENERATED_PAGES:
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and linked.exists() and anchor not in _anchors(linked):
            broken.append(f"{target}: no heading with anchor #{anchor}")
    return broken


def test_every_documentation_link_points_at_a_file_or_heading_that_exists() -> None:
    broken = {page.relative_to(REPO_ROOT).as_posix(): links
              for page in _documentation_pages() if (links := _broken_links(page))}
    assert broken == {}


def test_the_link_check_finds_a_missing_file_and_a_missing_heading(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## Step 2: run it\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text("[a](other.md#step-2-run-it) [b](missing.md) [c](other.md#nowhere)\n"
                    "`[d](not-a-link.md)` [e](https://example.org/x.md)\n"
                    "```text\n[f](inside-a-code-block.md)\n```\n", encoding="utf-8")
    assert _broken_links(page) == ["missing.md: no such file",
                                   "other.md#nowhere: no heading with anchor #nowhere"]
