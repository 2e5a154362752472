"""Every command and code block of the README.md files (the repository's, data/'s, ...) and
docs/*.md works as a newcomer would run it.

Each page is followed top to bottom in a fresh folder holding the shipped examples (what
``srmsim examples`` copies out):

- every ``srmsim ...`` line (``bash`` blocks, and the ``$ `` lines of transcripts) parses with the
  real argument parser, and the repository files it names exist; the cheap ones (``CHEAP``) are
  run in order and must exit 0, or the status a ``# exits N`` comment on the line announces;
- every ``python`` block runs in a fresh namespace;
- every ``yaml`` block validates as the scenario, experiment, trial or optimisation it is, or,
  marked ``<!-- docs-test: part of FILE -->``, merged into that shipped file.

A block too slow to run here is marked ``<!-- docs-test: skip (reason) -->`` on the line just above
its fence; a skipped python block still compiles, its imports resolve and its calls of imported
functions bind to their signatures, so a renamed function or option still fails here.
"""

from __future__ import annotations

import ast
import glob
import importlib
import inspect
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from srmsim.cli import build_parser, main
from srmsim.examples import FOLDERS
from srmsim.yamlio import load_yaml_text

ROOT = Path(__file__).resolve().parents[1]
# Another engineer keeps these two (measured timings, benchmark scripts): not checked here.
EXCLUDED = {"docs/performance.md", "benchmarks/README.md"}


def _readmes() -> list[str]:
    """Every README.md of the repository (data/, data/sample/, ...), not in hidden or build
    folders: a folder's README is where a newcomer starts, so its commands must work too."""
    found = []
    for path in ROOT.rglob("README.md"):
        folders = path.relative_to(ROOT).parts[:-1]
        if not any(f.startswith(".") or f in ("build", "dist", "node_modules") for f in folders):
            found.append(path.relative_to(ROOT).as_posix())
    return sorted(found, key=lambda page: (page != "README.md", page))


PAGES = [page for page in [*_readmes(), *sorted(p.relative_to(ROOT).as_posix()
                                                for p in (ROOT / "docs").rglob("*.md"))]
         if page not in EXCLUDED]

MARKER = re.compile(r"<!-- docs-test: (?:skip \((?P<reason>.+)\)|part of (?P<part>\S+)) -->")
FENCE = re.compile(r"^ *(?P<fence>`{3,}|~{3,})(?P<lang>[\w+-]*)")
# file names a command may give that must be in the repository (outputs such as out/ are made)
REPO_FOLDERS = ("scenarios/", "experiments/", "notebooks/", "data/", "benchmarks/", "tests/",
                "docs/")
# sub-commands run for real: a second or two each on the shipped scenarios. The others (long
# experiments, servers) are parsed only.
CHEAP = {"validate", "run", "data", "calibrate", "thresholds", "rules"}
# commands shown as a pattern for the reader's own files: parsed, never run
READERS_OWN = ("srmsim thresholds export.csv",)


@dataclass(frozen=True)
class Block:
    page: str
    line: int  # of the opening fence
    lang: str
    text: str
    skip: str | None = None  # why it is not run
    part_of: str | None = None  # the shipped file a yaml fragment belongs in

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


@dataclass(frozen=True)
class Command:
    block: Block
    words: tuple[str, ...]
    stdout: str | None  # `> FILE`
    status: int  # the exit status the page announces (`# exits 2`), else 0

    def __str__(self) -> str:
        return f"{self.block.where}: {shlex.join(self.words)}"


def blocks(page: str) -> list[Block]:
    lines = (ROOT / page).read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start, fence = i, match["fence"]
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            i += 1
        marker = MARKER.fullmatch(lines[start - 1].strip()) if start else None
        found.append(Block(page, start + 1, match["lang"],
                           textwrap.dedent("\n".join(lines[start + 1:i])) + "\n",
                           marker["reason"] if marker else None,
                           marker["part"] if marker else None))
        i += 1
    return found


ALL_BLOCKS = [block for page in PAGES for block in blocks(page)]


def _logical_lines(block: Block) -> list[str]:
    """Shell lines with their continuations joined; in transcripts only the ``$ `` lines."""
    text = block.text.replace("\\\n", " ")
    if block.lang == "bash":
        return [ln for ln in text.splitlines() if ln.strip()]
    return [ln.strip()[2:] for ln in text.splitlines() if ln.strip().startswith("$ ")]


def commands(block: Block) -> list[Command]:
    found = []
    for line in _logical_lines(block):
        exits = re.search(r"#\s*exits (\d+)", line)
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        segment: list[str] = []
        for word in [*lexer, ";"]:
            if word not in ("&&", "||", ";", "|"):
                segment.append(word)
                continue
            stdout = None
            if ">" in segment:
                stdout = segment[segment.index(">") + 1]
                segment = segment[:segment.index(">")]
            while segment and re.fullmatch(r"[A-Z_]+=\S*", segment[0]):  # VAR=value cmd
                segment.pop(0)
            if segment:
                found.append(Command(block, tuple(segment), stdout,
                                     int(exits[1]) if exits else 0))
            segment = []
    return found


def _repo_paths(command: Command) -> list[str]:
    names = []
    for word in command.words:
        name = word.split("=", 1)[1] if word.startswith("--") and "=" in word else word
        if name.startswith(REPO_FOLDERS):
            names.append(name)
    return names


def _examples(folder: Path) -> Path:
    """The shipped examples, as ``srmsim examples FOLDER`` gives them to a newcomer."""
    for name in FOLDERS:
        shutil.copytree(ROOT / name, folder / name,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    return folder


def _runs(command: Command) -> bool:
    """Transcripts (``$ `` lines) show the reader's own files: parsed, not run."""
    words = command.words
    if words[0] != "srmsim" or command.block.skip or command.block.lang != "bash":
        return False
    if shlex.join(words).startswith(READERS_OWN):
        return False
    return "--help" in words or (len(words) > 1 and words[1] in CHEAP)


# ----------------------------------------------------------------------------- the extraction
def test_commands_are_read_as_a_shell_reads_them() -> None:
    block = Block("x.md", 1, "bash", textwrap.dedent("""\
        srmsim data validate a.csv --mapping m.yaml   # exits 2: rejects
        srmsim calibrate out/s --out "out/my fit" \\
            --params a,b   # a comment
        python3 -c "import secrets; print(1)" > ~/k && A=1 srmsim run --set x=1
        """))
    assert [(c.words, c.stdout, c.status) for c in commands(block)] == [
        (("srmsim", "data", "validate", "a.csv", "--mapping", "m.yaml"), None, 2),
        (("srmsim", "calibrate", "out/s", "--out", "out/my fit", "--params", "a,b"), None, 0),
        (("python3", "-c", "import secrets; print(1)"), "~/k", 0),
        (("srmsim", "run", "--set", "x=1"), None, 0)]
    transcript = Block("x.md", 1, "", "$ srmsim validate a.yaml\nsrmsim: error: ...\n")
    assert [c.words for c in commands(transcript)] == [("srmsim", "validate", "a.yaml")]


def test_the_pages_are_all_read() -> None:
    """The extraction finds what the pages hold (a broken fence pattern would find nothing)."""
    langs = {b.lang for b in ALL_BLOCKS}
    assert {"bash", "python", "yaml"} <= langs
    shown = {c.words[:2] for b in ALL_BLOCKS for c in commands(b)}
    assert {("srmsim", "experiment"), ("srmsim", "run"), ("srmsim", "data"),
            ("srmsim", "validate")} <= shown
    assert not EXCLUDED & set(PAGES)
    assert {"README.md", "data/README.md", "data/sample/README.md"} <= set(PAGES)


def test_every_marker_is_just_above_a_fence() -> None:
    for page in PAGES:
        lines = (ROOT / page).read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            if "docs-test:" not in line:
                continue
            assert MARKER.fullmatch(line.strip()), f"{page}:{number}: malformed marker {line!r}"
            assert number < len(lines) and FENCE.match(lines[number]), \
                f"{page}:{number}: a docs-test marker must be on the line just above a fence"
    for block in ALL_BLOCKS:
        if block.part_of:
            assert block.lang == "yaml", f"{block.where}: 'part of' is for yaml fragments"
            assert (ROOT / block.part_of).is_file(), f"{block.where}: no file {block.part_of}"


# ----------------------------------------------------------------------------- commands
COMMAND_BLOCKS = [b for b in ALL_BLOCKS if commands(b)]


@pytest.mark.parametrize("block", COMMAND_BLOCKS, ids=[b.where for b in COMMAND_BLOCKS])
def test_every_command_parses_and_names_files_that_exist(block: Block, capsys) -> None:
    for command in commands(block):
        for name in _repo_paths(command):
            assert list(ROOT.glob(name)), f"{command}: {name} is not in the repository"
        if command.words[0] != "srmsim":
            continue
        try:
            build_parser().parse_args(list(command.words[1:]))
        except SystemExit as stop:
            assert stop.code == 0, f"{command}: {capsys.readouterr().err.strip()}"


def test_a_stale_option_a_missing_file_and_a_renamed_function_are_caught(capsys) -> None:
    for text in ("srmsim run --sed 7\n", "srmsim validate scenarios/no_such.yaml\n",
                 "srmsim simulate scenarios/default.yaml\n"):
        with pytest.raises(AssertionError):
            test_every_command_parses_and_names_files_that_exist(Block("x.md", 1, "bash", text),
                                                                 capsys)
    for text in ("from srmsim.stats import no_such_function\n",
                 "from srmsim.stats import mdes\nmdes('cluster2', 0.05, 0.8, 2)\n"):
        with pytest.raises(AssertionError):
            test_a_skipped_python_block_still_imports_and_calls_what_exists(
                Block("x.md", 1, "python", text, skip="slow"))


# ----------------------------------------------------------------------------- a page, in order
def _run(command: Command, home: Path, capsys) -> None:
    words = []
    for word in command.words:  # as the shell expands them
        word = str(home) + word[1:] if word.startswith("~/") else word
        words += sorted(glob.glob(word)) or [word] if glob.has_magic(word) else [word]
    if words[0] in ("python", "python3") and words[1:2] == ["-c"]:
        out = subprocess.run([sys.executable, "-c", words[2]], capture_output=True, text=True,
                             check=True).stdout
        if command.stdout:
            Path(command.stdout.replace("~", str(home), 1)).write_text(out)
        return
    if not _runs(command):
        return
    try:
        status = main(words[1:])
    except SystemExit as stop:  # --help
        status = int(stop.code or 0)
    err = capsys.readouterr().err
    assert status == command.status, f"{command}: exit {status}\n{err[-2000:]}"


def _exec(block: Block) -> None:
    import matplotlib.pyplot as plt

    try:
        exec(compile(block.text, block.where, "exec"), {"__name__": "__main__"})
    finally:
        plt.close("all")


RUN_PAGES = [page for page in PAGES
             if any((b.lang == "python" and not b.skip) or any(_runs(c) for c in commands(b))
                    for b in blocks(page))]


@pytest.mark.once
@pytest.mark.parametrize("page", RUN_PAGES)
def test_a_page_runs_as_written(page: str, tmp_path, monkeypatch, capsys) -> None:
    import matplotlib

    matplotlib.use("Agg")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(_examples(tmp_path / "work"))
    for block in blocks(page):
        for command in commands(block):
            _run(command, home, capsys)
        if block.lang == "python" and not block.skip:
            _exec(block)


# ----------------------------------------------------------------------------- skipped python
def _bound_calls(tree: ast.Module, names: dict[str, Any]) -> list[str]:
    """Calls of imported functions whose arguments do not fit the signature."""
    wrong = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute))):
            continue
        func = node.func
        target = None
        if isinstance(func, ast.Name):
            target = names.get(func.id)
        elif isinstance(func.value, ast.Name) and func.value.id in names:
            target = getattr(names[func.value.id], func.attr, None)
            assert target is not None, f"{func.value.id} has no {func.attr}"
        if target is None or not callable(target) or any(
                isinstance(a, ast.Starred) for a in node.args) or any(
                k.arg is None for k in node.keywords):
            continue
        try:
            signature = inspect.signature(target)
        except (TypeError, ValueError):
            continue
        try:
            signature.bind(*[None] * len(node.args), **{k.arg: None for k in node.keywords
                                                        if k.arg})
        except TypeError as err:
            wrong.append(f"{ast.unparse(node)[:80]}: {err}")
    return wrong


SKIPPED_PYTHON = [b for b in ALL_BLOCKS if b.lang == "python" and b.skip]


@pytest.mark.parametrize("block", SKIPPED_PYTHON, ids=[b.where for b in SKIPPED_PYTHON])
def test_a_skipped_python_block_still_imports_and_calls_what_exists(block: Block) -> None:
    tree = ast.parse(block.text, block.where)
    names: dict[str, Any] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), \
                    f"{block.where}: {node.module} has no {alias.name}"
                names[alias.asname or alias.name] = getattr(module, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = \
                    importlib.import_module(alias.name.split(".")[0])
    assert _bound_calls(tree, names) == [], block.where


# ----------------------------------------------------------------------------- yaml
YAML_BLOCKS = [b for b in ALL_BLOCKS if b.lang == "yaml" and not b.skip]


def _merge(base: Any, part: Any) -> Any:
    if isinstance(base, dict) and isinstance(part, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in part.items()}}
    return part


@pytest.mark.parametrize("block", YAML_BLOCKS, ids=[b.where for b in YAML_BLOCKS])
def test_a_yaml_block_validates(block: Block, tmp_path, monkeypatch, capsys) -> None:
    import yaml

    data = load_yaml_text(block.text, block.where)
    assert isinstance(data, dict), f"{block.where}: not a mapping"
    monkeypatch.chdir(_examples(tmp_path))
    if block.part_of:
        data = _merge(load_yaml_text((ROOT / block.part_of).read_text(), block.part_of), data)
        target = tmp_path / Path(block.part_of).with_name("docs_block.yaml")
    else:  # a file naming its scenario is an experiment, trial or optimisation
        target = tmp_path / ("experiments" if "scenario" in data else "scenarios") / \
            "docs_block.yaml"
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    status = main(["validate", str(target)])
    assert status == 0, f"{block.where}: {capsys.readouterr().err}"
