"""The one YAML reader of srmsim: bounded, strict about keys, with short errors.

Every YAML file srmsim reads (scenarios, experiments, trials, mappings, calibration parameters,
stored run scenarios) goes through :func:`load_yaml_text` / :func:`read_yaml_file`, because YAML
from a user is hostile input:

- size: files above :data:`MAX_BYTES` are refused before they are read;
- aliases: at most :data:`MAX_ALIASES` aliases, and the document expanded through its aliases may
  hold at most :data:`MAX_NODES` nodes, so an alias bomb ("billion laughs") fails in
  milliseconds instead of exhausting memory;
- depth: nesting deeper than :data:`MAX_DEPTH` is refused (instead of a RecursionError);
- duplicate keys in one mapping are an error (YAML would silently keep the last), and so is a
  key given both by a merge (``<<: *base``) and by the mapping itself or another merge (YAML
  would silently keep the mapping's own, or the first merge's);
- a lone surrogate (``"\\ud800"``) in any text is an error: no UTF-8 file can hold it;
- mapping keys are always strings: a rule or variant named ``on``, ``no`` or ``1`` is the name
  ``"on"``, ``"no"``, ``"1"``, not a boolean or a number;
- only ``true``/``false`` are booleans (YAML 1.2): ``on``, ``off``, ``yes``, ``no`` are text
  (YAML 1.1 would read ``trigger: on`` as ``trigger: true``);
- numbers are YAML 1.2's too: ``010`` is ten (YAML 1.1: eight), ``1:30`` is text (YAML 1.1:
  ninety), ``1e-3`` is a number (YAML 1.1: text); ``=`` and ``<<`` as values are text;
- only the plain tags (``!!str``, ``!!int``, ``!!float``, ``!!bool``, ``!!null``, ``!!seq``,
  ``!!map``) are read: ``!!binary``, ``!!set``, ``!!timestamp``, ``!!python/...`` or a custom
  ``!tag`` is an error naming the tag (``!!binary`` made bytes, ``!!set`` a set);
- a number beyond 2**53 written to more digits than a float keeps (``9007199254740993.0``,
  also as ``9007199254740993.0e0``, which a float reads as ``9007199254740992.0``) is an error
  naming its key (:func:`rounded_number`): a rule ``t > 9007199254740992`` was silently false.
  ``1e30``, ``0.1`` or ``1e-3`` are read as always (a float keeps every digit they write, or,
  below 2**53, every whole number); a whole number (``9007199254740993``) stays exact, and
  where a model expects a float the model refuses it (:class:`srmsim.labels.StrictModel`);
- a file of ids and cell values (a data mapping) is read with ``numbers_as_text=True``: there
  ``010`` stays the text ``"010"`` (a school id), and :func:`yaml_number` reads a number from
  such text where one is needed.
"""

from __future__ import annotations

import fractions
import math
import re
from pathlib import Path
from typing import Any, cast

import yaml

from srmsim.errors import ScenarioError, SrmsimError
from srmsim.inputs import hint_clause, input_file_problem, not_utf8

#: PyYAML's pure-Python reader takes ~50 us a value and ~1 s a MB of text on the project's
#: machine: 20 MB and 1,000,000 values kept a hostile file busy for 25-90 s before refusing it.
#: The largest shipped file is 3 kB; these leave room for a policy of thousands of rules.
MAX_BYTES = 1_000_000
MAX_ALIASES = 1_000
MAX_NODES = 100_000
MAX_DEPTH = 64


class _Limit(yaml.YAMLError):
    def __init__(self, problem: str, mark: Any = None):
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


_MERGE = "tag:yaml.org,2002:merge"
_YAML_TAG = "tag:yaml.org,2002:"
#: the tags a file may give (explicitly or by its plain scalars): plain values, lists, mappings
_PLAIN_TAGS = frozenset(_YAML_TAG + t for t in ("str", "int", "float", "bool", "null", "seq",
                                                "map", "merge"))
#: a lone UTF-16 surrogate: YAML's "\ud800" escape makes one, and UTF-8 cannot encode it
_SURROGATE = re.compile("[\ud800-\udfff]")


def _merged_keys(node: Any, visiting: set[int]) -> list[str]:
    """The keys a merge (``<<: *a`` or ``<<: [*a, *b]``) brings, its own merges included; a value
    that is not a mapping is left to PyYAML's own error, a merge of itself adds nothing."""
    sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
    keys: list[str] = []
    for source in sources:
        if not isinstance(source, yaml.MappingNode) or id(source) in visiting:
            continue
        visiting.add(id(source))
        for key_node, value_node in source.value:
            if key_node.tag == _MERGE:
                keys.extend(_merged_keys(value_node, visiting))
            elif isinstance(key_node, yaml.ScalarNode):
                keys.append(str(key_node.value))
        visiting.discard(id(source))
    return keys


class RoundedNumber(Exception):
    """A number the file writes to more digits than a float keeps (:func:`rounded_number`):
    its ``path`` (``policy.parameters.t``, ``variants[2].x``), the text, the float it would be
    and its place in the file."""

    def __init__(self, path: str, written: str, rounded: float, mark: Any):
        super().__init__(written)
        self.path, self.written, self.rounded, self.mark = path, written, rounded, mark

    def problem(self, where: bool) -> str:
        """The message; ``where``: with the line and column (not for a one-line ``--set``)."""
        at = f" (line {self.mark.line + 1}, column {self.mark.column + 1})" if where else ""
        return (f"{_excerpt(self.written)}{at} is beyond 2**53, where a number has more "
                f"digits than a float keeps: it would be read as {self.rounded!r} without a "
                "word; give a number a float holds")


def _refuse_rounded(root: Any) -> None:
    """Raise :class:`RoundedNumber` for the first float in the document that would be silently
    rounded (each node once: an alias repeats a node, not its checking)."""
    stack: list[tuple[Any, str]] = [(root, "")]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in reversed(node.value):
                if key_node.tag == _MERGE or not isinstance(key_node, yaml.ScalarNode):
                    stack.append((value_node, path))  # a merge's keys are this mapping's
                else:
                    key = _excerpt(str(key_node.value))
                    stack.append((value_node, f"{path}.{key}" if path else key))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{path}[{i}]") for i, item in reversed(list(
                enumerate(node.value))))
        elif node.tag == _YAML_TAG + "float":
            written = str(node.value)
            rounded = rounded_number(written)
            if rounded is not None:
                raise RoundedNumber(path, written, rounded, node.start_mark)


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader with alias, expansion and depth limits, duplicate-key checks, string keys,
    and no number silently rounded (:func:`rounded_number`)."""

    #: False where plain numbers are read as the text written (nothing is rounded there)
    numbers_are_numbers = True

    def __init__(self, stream: Any):
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._nodes = 0
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _Limit(f"more than {MAX_ALIASES} aliases", event.start_mark)
            node = super().compose_node(parent, index)
            self._nodes += self._sizes.get(id(node), 1)
            if self._nodes > MAX_NODES:
                raise _Limit(f"the document expands (through aliases) to more than {MAX_NODES:,} "
                             "values", event.start_mark)
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Limit(f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
        anchor = getattr(self.peek_event(), "anchor", None)
        before = self._nodes
        try:
            # always a node (it raises otherwise); the PyYAML stub says Node | None
            node = cast(yaml.Node, super().compose_node(parent, index))
        finally:
            self._depth -= 1
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _Limit(f"more than {MAX_NODES:,} values", node.start_mark)
        bad = _SURROGATE.search(node.value) if isinstance(node, yaml.ScalarNode) else None
        if bad is not None:
            # "\ud800" in quotes: no UTF-8 file can hold it, so a name or rule with one
            # crashed path resolution or the writing of scenario.yaml and report.html
            raise yaml.constructor.ConstructorError(
                None, None, f"U+{ord(bad.group()):04X} is half of a surrogate pair, not a "
                "character (a text cannot hold it alone)", node.start_mark)
        if anchor is not None:
            self._sizes[id(node)] = self._nodes - before
        return node

    def construct_document(self, node: Any) -> Any:
        if self.numbers_are_numbers:
            _refuse_rounded(node)
        return super().construct_document(node)

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        if node.tag not in _PLAIN_TAGS:  # !!binary made bytes, !!set a set, !x is unknown
            tag = str(node.tag)
            shown = "!!" + tag[len(_YAML_TAG):] if tag.startswith(_YAML_TAG) else tag
            raise yaml.constructor.ConstructorError(
                None, None, f"the tag {_excerpt(shown)} is not read here: give plain text, "
                "numbers, true/false, null, lists and mappings", node.start_mark)
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
            # an explicit tag on a value it cannot describe: `!!int abc`, `!!bool maybe`
            tag = str(node.tag).rsplit(":", 1)[-1]
            raise yaml.constructor.ConstructorError(
                None, None, f"{_excerpt(str(node.value))!r} is not a valid {tag}",
                node.start_mark) from None

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):
            return super().construct_mapping(node, deep=deep)
        seen: set[str] = set()
        merges = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merges.append((key_node, value_node))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a plain name, not a list or mapping",
                    key_node.start_mark)
            if key_node.value in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {_excerpt(key_node.value)!r}",
                    key_node.start_mark)
            seen.add(key_node.value)
        for key_node, value_node in merges:  # a merged key never silently loses to another
            for key in _merged_keys(value_node, set()):
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {_excerpt(key)!r} (given by the merge '<<' "
                        "and by the mapping itself or another merge)", key_node.start_mark)
                seen.add(key)
        self.flatten_mapping(node)
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            mapping[str(key_node.value)] = self.construct_object(value_node, deep=deep)
        return mapping


# YAML 1.2 (core schema) booleans and numbers. Booleans: only true/false, so `on`, `off`, `yes`,
# `no` are text (a rule or workflow may be named so). Numbers: YAML 1.1 read `n_schools: 010` as
# 8 (octal), `cooldown_weeks: 1:30` as 90 (base 60) and `1_000` as 1000, and `1e-3` as text;
# here 010 is 10, 1:30 and 1_000 are text (an error where a number is expected), 1e-3 is 0.001.
# Dates are text as well (a YAML 1.1 timestamp such as 2020-13-45 raised a ValueError); the one
# date srmsim reads (a mapping's reference_date) is parsed from text.
_CORE = ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
         "tag:yaml.org,2002:timestamp")
#: YAML 1.1's "value" type (a plain ``=``) has no constructor: ``missing_values: [=]`` failed
_VALUE = "tag:yaml.org,2002:value"
BoundedLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _CORE and tag != _VALUE]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
BoundedLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
BoundedLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"))
BoundedLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), list("-+.0123456789"))


def _int_of(text: str) -> int:
    if text.startswith(("0o", "0x")):
        return int(text[2:], 8 if text[1] == "o" else 16)
    return int(text, 10)  # "010" is ten


def _float_of(text: str) -> float:
    text = text.lower()
    if text.endswith(".inf"):
        return float("-inf") if text.startswith("-") else float("inf")
    if text == ".nan":
        return float("nan")
    return float(text)  # 1e400 is inf: refused later like any non-finite number


#: beyond 2**53 a float holds whole numbers only, and not all of them (2**53 + 1 is not one)
EXACT_FLOAT = 2**53
_DECIMAL = re.compile(r"^[-+]?([0-9]*)(?:\.([0-9]*))?(?:[eE]([-+]?[0-9]+))?$")


def rounded_number(text: str) -> float | None:
    """The float a number written as ``text`` would silently become, when ``text`` is beyond
    2**53 and gives a digit that float does not keep (``9007199254740993.0``, also written
    ``9007199254740993.0e0``, reads as ``9007199254740992.0``, so ``t > 9007199254740992`` was
    false); else ``None``. A number written to no more digits than a float keeps is not
    refused: ``1e30`` (one digit), ``0.1``, ``1e-3`` (below 2**53: no whole number is lost)."""
    try:
        value = _float_of(text)
    except ValueError:
        return None
    text = text.strip().replace("_", "")  # `!!float 9_007_199_254_740_993.0`: as float() reads it
    found = _DECIMAL.match(text)
    if not math.isfinite(value) or abs(value) < EXACT_FLOAT or found is None:
        return None  # (rounding is monotone: a number beyond 2**53 reads as 2**53 or beyond)
    whole, fraction, power = found.group(1), found.group(2) or "", int(found.group(3) or 0)
    digits = (whole + fraction).lstrip("0")
    last = power - len(fraction)  # 10**last: the place of the last digit written
    significant = digits.rstrip("0")
    if len(significant) > 400:
        # below 1e309 with 400 significant digits: a fraction below 1e-90, which the float
        # (a whole number here) cannot hold
        return value
    exact = fractions.Fraction(int(significant or "0")) * \
        fractions.Fraction(10) ** (last + len(digits) - len(significant))
    if text.startswith("-"):
        exact = -exact
    return value if abs(fractions.Fraction(value) - exact) >= fractions.Fraction(10) ** last \
        else None


def _core_int(loader: BoundedLoader, node: yaml.ScalarNode) -> int:
    return _int_of(str(loader.construct_scalar(node)))


def _core_float(loader: BoundedLoader, node: yaml.ScalarNode) -> float:
    return _float_of(str(loader.construct_scalar(node)))


def _text(loader: BoundedLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


BoundedLoader.add_constructor("tag:yaml.org,2002:int", _core_int)
BoundedLoader.add_constructor("tag:yaml.org,2002:float", _core_float)
BoundedLoader.add_constructor(_MERGE, _text)  # `<<` as a value (as a key it merges)


class _NumbersAsTextLoader(BoundedLoader):
    """BoundedLoader for files of ids and cell values: a plain number is the text written, so
    the school id ``010`` is ``"010"``, not ten, and ``1e3`` is ``"1e3"``, not 1000.0."""

    numbers_are_numbers = False


_NumbersAsTextLoader.add_constructor("tag:yaml.org,2002:int", _text)
_NumbersAsTextLoader.add_constructor("tag:yaml.org,2002:float", _text)


def yaml_number(text: str) -> int | float | None:
    """The number ``text`` is when written plainly in a srmsim YAML file (``07`` is 7, ``1e2``
    100.0, ``.nan`` NaN), or ``None`` when it is not one (``1_000``, ``12:30``): a file read
    with ``numbers_as_text`` turns the texts it needs as numbers into numbers by the same rules."""
    for tag, pattern in BoundedLoader.yaml_implicit_resolvers.get(text[:1], []):
        if pattern.match(text):  # the first match is the type, as the loader resolves it
            if tag == "tag:yaml.org,2002:int":
                return _int_of(text)
            return _float_of(text) if tag == "tag:yaml.org,2002:float" else None
    return None


class _Dumper(yaml.SafeDumper):
    """SafeDumper that quotes every text YAML 1.1 or srmsim's YAML 1.2 reader would not read
    back as text: a scenario named ``1e5`` or a description ``0o17`` stays text."""


for _first, _resolvers in BoundedLoader.yaml_implicit_resolvers.items():
    for _tag, _rx in _resolvers:
        if _tag in _CORE:
            _Dumper.add_implicit_resolver(_tag, _rx, [_first])


def dump_yaml(data: Any) -> str:
    """YAML text of plain data (keys in their order) that :func:`load_yaml_text` reads back
    equal: srmsim writes every YAML file it may read again (a run's scenario.yaml, a worker's
    scenario) with it."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False)


def _excerpt(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _plain_yaml_problem(problem: str, context: str) -> tuple[str, bool] | None:
    """PyYAML's words for the commonest slips (a line indented out of step, a tab, a missing
    ':', an unclosed quote or bracket), which say nothing to someone who has not read the YAML
    grammar ("expected <block end>, but found '<block mapping start>'"), put plainly with what
    to check; and whether the place to name is where the construct *began* (an unclosed quote
    is noticed at the end of the file). ``None``: PyYAML's own words are kept."""
    if problem == "mapping values are not allowed here":
        return ("unexpected ':' (is this line indented deeper than the one above, or is the "
                "line above missing its ':'? a value holding ': ' needs quotes)", False)
    if problem.startswith(("expected <block end>", "did not find expected key",
                           "did not find expected '-'")):
        return ("this line does not line up with the lines above it (keys of one level start "
                "in the same column, indented with spaces)", False)
    if problem.startswith("found character '\\t'"):
        return "a tab character: indent YAML with spaces, not tabs", False
    if problem == "could not find expected ':'":
        return "this line has no ':' (each line of a mapping is 'key: value')", True
    if "quoted scalar" in context and "end of stream" in problem:
        return "a quote opened here is never closed", True
    if problem == "but found another document":  # PyYAML's context says what it expected
        return ("a second YAML document ('---' starts one): a file holds one document; "
                "remove the '---' line, or split the file", False)
    if problem.startswith(("expected ',' or ']'", "expected ',' or '}'")):
        bracket = "[" if "]" in problem[:20] else "{"
        return f"a '{bracket}' opened here is not closed (or its items lack commas)", True
    return None


def load_yaml_text(text: str, source: str = "<yaml>", numbers_as_text: bool = False) -> Any:
    """Parse YAML text with the limits above; every problem is a ScenarioError naming ``source``.
    With ``numbers_as_text`` every plain number is the text written (for ids: ``010``)."""
    if len(text) > MAX_BYTES:
        raise ScenarioError(source, f"larger than the {MAX_BYTES:,}-character limit for YAML")
    loader = _NumbersAsTextLoader if numbers_as_text else BoundedLoader
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader subclass
    except RoundedNumber as err:
        raise ScenarioError(source, [(err.path, err.problem("\n" in text.strip()))]) from None
    except yaml.reader.ReaderError as err:  # a control character: its place, not PyYAML's
        line = text.count("\n", 0, err.position) + 1
        column = err.position - text.rfind("\n", 0, err.position)
        code = err.character if isinstance(err.character, int) else ord(err.character)
        raise ScenarioError(source, f"malformed YAML: line {line}, column {column}: the "
                            f"character U+{code:04X} is not allowed in YAML text") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err)
        plain = _plain_yaml_problem(problem, getattr(err, "context", None) or "")
        if plain is not None:
            words, at_start = plain
            mark = (getattr(err, "context_mark", None) or mark) if at_start else mark
            problem = words
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ScenarioError(source, f"malformed YAML: {where}{_excerpt(problem, 200)}") from None
    except RecursionError:  # pragma: no cover - the depth limit comes first
        raise ScenarioError(source, "malformed YAML: nested too deeply") from None


def refuse_empty(data: Any, source: str, kind: str, hint: str = "",
                 error: type[ScenarioError] = ScenarioError) -> Any:
    """``data`` unless it is ``None``: a file holding nothing (no text, only comments, ``null``,
    ``---`` or ``~``) is refused naming the kind of file expected ("is empty: no experiment
    keys"), not read as the defaults or told it is "not a mapping". ``hint``: how to get what
    an empty file might have been meant to give (``srmsim run`` with no file)."""
    if data is None:
        raise error(source, f"is empty: no {kind} keys" + (f" ({hint})" if hint else ""))
    return data


def read_yaml_file(path: str | Path, error: type[SrmsimError] = ScenarioError,
                   numbers_as_text: bool = False) -> Any:
    """Read and parse a YAML file; a missing, huge, binary or malformed file is ``error``, any
    :class:`SrmsimError` class (a :class:`ScenarioError` is given the file and the problems;
    another, such as :class:`DataError`, the one message a ScenarioError would print).
    ``numbers_as_text`` as for :func:`load_yaml_text`."""
    path = Path(path)
    source = str(path)

    def fail(problems: list[tuple[str, str]] | str) -> SrmsimError:
        if issubclass(error, ScenarioError):
            return error(source, problems)
        return error(str(ScenarioError(source, problems)))

    def not_found() -> SrmsimError:
        return fail(f"file not found{hint_clause(path)}")

    try:
        if path.is_dir():
            raise fail("is a directory, not a YAML file")
        problem = input_file_problem(path)
        if problem == "file not found":
            raise not_found()
        if problem:
            raise fail(problem)
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise fail(f"{size:,} bytes: larger than the {MAX_BYTES:,}-byte limit for YAML "
                       "files")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise not_found() from None
    except OSError as err:
        raise fail(f"cannot read: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise fail(f"{not_utf8(raw[:2], err)}: save it as UTF-8") from None
    try:
        return load_yaml_text(text, source, numbers_as_text)
    except ScenarioError as err:
        if type(err) is error:
            raise
        raise fail(err.problems) from None
