"""Risk rules: named true/false expressions over student profile fields.

A school writes rules such as ``count(attendance_rate < 0.9, incidents_term >= 3) >= min_factors``
in a scenario file. The text is parsed ONCE into a small tree of numpy operations and the tree is
evaluated every week over all students of the trust at once (one array element per student), so a
weekly check of a million students costs a handful of vectorised passes, not a Python loop.

Why a parser of our own and not ``eval``: rule text is user input. ``ast.parse(mode="eval")`` only
*parses* (nothing is executed); the tree is then walked against a strict whitelist, and anything
that is not on it -- attribute access, indexing, lambdas, strings, calls of anything but the
documented functions, unknown or ``__dunder__`` names -- is a :class:`~srmsim.errors.RuleError`
naming the rule and quoting the offending text with its column. Types (number vs true/false) are
checked at parse time too, so a mistake surfaces when the scenario is loaded, not in week 27.

The language (a subset of Python expression syntax)::

    comparisons    <  <=  >  >=  ==  !=     chained: 0.8 <= attendance_rate < 0.9
    logic          and  or  not             true, false (True, False also accepted)
    arithmetic     +  -  *  /  unary -      (x / 0 gives inf or NaN, never an error)
    functions      count(c1, c2, ...)       how many of the conditions are true
                   min(a, b, ...), max(a, b, ...), abs(x)
                   <window>(n)              a windowed measure over the last n weeks, e.g.
                                            attendance(4); n is a whole-number literal or
                                            parameter, 1 <= n <= max_window
    names          profile fields, scenario parameters, and (with :func:`parse_rules`) other
                   rules of the same scenario

Precedence is Python's: ``or`` < ``and`` < ``not`` < comparisons < ``+ -`` < ``* /`` < unary ``-``.

Missing values: numeric fields may hold NaN (no reading test yet, no logins recorded). Following
IEEE/numpy, every ordering comparison and ``==`` with NaN is *false* and ``!=`` with NaN is *true*;
so a student with no reading test is NOT flagged by ``reading_gap < -24``, but IS flagged by
``not (reading_gap >= -24)``. Arithmetic, ``abs``, ``min`` and ``max`` propagate NaN (unknown in,
unknown out). Write the rule the way round that means "flag only when we know".

The vocabulary (fields, windowed functions, parameters) is injected by the caller -- the engine
owns the list of profile fields -- via :class:`Vocabulary`. Parameters (thresholds) are checked to
exist when the rule is parsed but are read from the context at *evaluation* time, so an experiment
variant can change a threshold without re-parsing. The one exception is a parameter used as a window
length (``attendance(window_weeks)``): that is fixed when the rule is parsed, because the engine must
know which rolling sums to keep (:attr:`Rule.windows`).

The same language parses *scores* (:func:`parse_score`): numeric expressions such as a workflow's
priority ``-reading_gap``, evaluated to float64 instead of true/false.
"""

from __future__ import annotations

import ast
import difflib
import fractions
import functools
import keyword
import math
import numbers
import operator
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Set
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

import numpy as np

from srmsim.errors import DataError, RuleError

__all__ = [
    "BUILTIN_FUNCTIONS",
    "MAX_DEPTH",
    "MAX_RULE_LENGTH",
    "ArrayContext",
    "FieldSpec",
    "Rule",
    "RuleContext",
    "Vocabulary",
    "describe_vocabulary",
    "evaluate_rules",
    "parse_rule",
    "parse_rules",
    "parse_score",
]

Kind = Literal["number", "bool"]

#: Longest rule text accepted (characters); longer text is almost certainly a mistake.
MAX_RULE_LENGTH = 2000
#: Deepest expression nesting accepted; also keeps our own tree walks far from Python's stack limit.
MAX_DEPTH = 50

#: The functions every rule may call, with the one-line documentation shown to users.
BUILTIN_FUNCTIONS: dict[str, str] = {
    "count": "count(c1, c2, ...): how many of the true/false conditions are true (a number)",
    "min": "min(a, b, ...): the smallest of two or more numbers (NaN if any is NaN)",
    "max": "max(a, b, ...): the largest of two or more numbers (NaN if any is NaN)",
    "abs": "abs(x): the absolute value of a number",
}

_BOOL_NAMES = {"true": True, "false": False}
_RESERVED = set(BUILTIN_FUNCTIONS) | {"true", "false", "True", "False", "None"}
# Integer literals beyond 2**53 are errors: as floats they would compare wrongly, as int64 overflow.
_EXACT_INT = 2**53
_KIND_WORDS = {"number": "a number", "bool": "true/false"}
#: "did you mean" looks among the scenario's own parameters and rules only up to this many,
#: and only for the first rules with problems (the command line shows the first ten)
_MAX_SUGGESTED = 256
_MAX_SUGGESTED_PROBLEMS = 20


# ---------------------------------------------------------------------------------------------
# Vocabulary


@dataclass(frozen=True)
class FieldSpec:
    """What a name means: its kind ("number" or "bool") and a line of documentation for users."""

    kind: Kind
    doc: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("number", "bool"):
            raise RuleError(f"field kind must be 'number' or 'bool', got {self.kind!r}")


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """The names a rule may use, injected by the engine so this module hard-codes no field list.

    ``fields``: profile fields, one value per student (``attendance_rate``, ``enrolled``...).
    ``windows``: windowed functions called as ``name(n)``, a value per student over the last n
    weeks (``attendance(4)``, ``logins(2)``). A window may share its name with a field, the call
    syntax tells them apart. ``parameters``: scenario parameters (thresholds), numbers or bools.
    ``max_window``: the longest window in weeks (a term by default), bounding history buffers.
    """

    fields: Mapping[str, FieldSpec]
    windows: Mapping[str, FieldSpec] = field(default_factory=dict)
    parameters: Mapping[str, float | int | bool] = field(default_factory=dict)
    max_window: int = 13

    def __post_init__(self) -> None:
        problems: list[str] = []
        fields = dict(self.fields)
        windows = dict(self.windows)
        params: dict[str, float | int | bool] = {}
        for group, names in (("field", fields), ("window", windows)):
            for name, spec in names.items():
                problems += _name_problems(group, name)
                if not isinstance(spec, FieldSpec):
                    problems.append(
                        f"{group} {name!r}: expected a FieldSpec(kind, doc), got {spec!r}"
                    )
        for name, value in dict(self.parameters).items():
            problems += _name_problems("parameter", name)
            if name in fields or name in windows:
                problems.append(f"parameter {name!r} has the same name as a field or window")
            try:
                params[name] = _parameter_value(value)
            except ValueError as err:
                problems.append(f"parameter {name!r}: {err}")
        max_window = self.max_window
        if isinstance(max_window, bool) or not isinstance(max_window, numbers.Integral):
            problems.append(f"max_window must be a whole number of weeks, got {max_window!r}")
        elif max_window < 1:
            problems.append(f"max_window must be at least 1 week, got {max_window}")
        if problems:
            raise RuleError("invalid rule vocabulary: " + "; ".join(problems))
        object.__setattr__(self, "fields", fields)
        object.__setattr__(self, "windows", windows)
        object.__setattr__(self, "parameters", params)
        object.__setattr__(self, "max_window", int(max_window))

    def with_parameters(self, parameters: Mapping[str, float | int | bool]) -> Vocabulary:
        """A copy with some parameters changed or added: how an experiment variant is declared."""
        return replace(self, parameters={**self.parameters, **parameters})

    def functions(self) -> list[str]:
        """Every callable name: the built-ins, then the windowed functions."""
        return [*BUILTIN_FUNCTIONS, *sorted(self.windows)]


def _name_problems(group: str, name: object) -> list[str]:
    if not isinstance(name, str) or not name.isidentifier():
        return [f"{group} name {name!r} is not a valid name (letters, digits and _ only)"]
    if keyword.iskeyword(name) or name in _RESERVED:
        return [f"{group} name {name!r} is reserved"]
    if name.startswith("__"):
        return [f"{group} name {name!r} must not start with '__'"]
    return []


def _parameter_value(value: object) -> float | int | bool:
    """Normalise a parameter to a plain Python bool, int or float, or explain why it cannot be."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        value = int(value)
        if abs(value) > _EXACT_INT:
            raise ValueError("is beyond 2**53, where whole numbers cannot be compared exactly")
        return value
    if isinstance(value, numbers.Real):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value
    raise ValueError(f"must be a number or true/false, got {type(value).__name__} {value!r}")


def _kind_of_parameter(value: float | int | bool) -> Kind:
    return "bool" if isinstance(value, bool) else "number"


# ---------------------------------------------------------------------------------------------
# Evaluation context


class RuleContext(Protocol):
    """What a rule reads when it is evaluated: the engine's student table, or any stand-in."""

    def field(self, name: str) -> np.ndarray:
        """One value per student (bool dtype for "bool" fields, int or float for numbers)."""
        ...

    def window(self, name: str, n: int) -> np.ndarray:
        """The windowed measure over the last ``n`` weeks, one value per student."""
        ...

    def parameter(self, name: str) -> float | bool:
        """The current value of a scenario parameter."""
        ...


class ArrayContext:
    """A :class:`RuleContext` over plain arrays: for notebooks, tests and a school's own export.

    ``fields`` maps a field name to an array (a dict of DataFrame columns works); ``windows`` maps
    ``(name, n)`` to an array; ``parameters`` maps names to values.
    """

    def __init__(
        self,
        fields: Mapping[str, Any],
        windows: Mapping[tuple[str, int], Any] | None = None,
        parameters: Mapping[str, float | int | bool] | None = None,
    ) -> None:
        self._fields = dict(fields)
        self._windows = dict(windows or {})
        self._parameters = dict(parameters or {})

    def field(self, name: str) -> np.ndarray:
        try:
            return np.asarray(self._fields[name])
        except KeyError:
            raise DataError(
                f"no data for field {name!r} (fields given: {', '.join(self._fields) or 'none'})"
            ) from None

    def window(self, name: str, n: int) -> np.ndarray:
        try:
            return np.asarray(self._windows[(name, n)])
        except KeyError:
            given = ", ".join(f"{w}({k})" for w, k in self._windows) or "none"
            raise DataError(f"no data for window {name}({n}) (windows given: {given})") from None

    def parameter(self, name: str) -> float | bool:
        try:
            return self._parameters[name]
        except KeyError:
            given = ", ".join(self._parameters) or "none"
            raise DataError(
                f"no value for parameter {name!r} (parameters given: {given})"
            ) from None


def _label(what: str, name: str, n: int) -> str:
    """A column as messages name it: ``field 'x'`` or ``window attendance(4)``."""
    return f"field {name!r}" if what == "field" else f"window {name}({n})"


class _Evaluation:
    """State of one evaluation pass: columns fetched once and checked, results of rules so far."""

    def __init__(self, ctx: RuleContext | None, size: int | None):
        self.ctx = ctx
        self.size = size
        self.size_from = "size=" if size is not None else ""
        self.rule = ""
        self.columns: dict[tuple[str, str, int], np.ndarray] = {}
        self.params: dict[str, float | int | bool] = {}
        self.results: dict[int, tuple[Any, bool]] = {}
        #: count() results by their text (and the rules it names): ``count(a, b) >= k`` as a
        #: trigger and ``count(a, b)`` as its priority add up the same conditions once
        self.counts: dict[tuple, Any] = {}

    def column(self, what: str, name: str, n: int, kind: Kind) -> np.ndarray:
        key = (what, name, n)
        cached = self.columns.get(key)
        if cached is not None:
            return cached
        if self.ctx is None:  # only constant folding runs without a context, and it reads no data
            raise RuntimeError(f"{_label(what, name, n)} read while folding constants")
        raw = self.ctx.field(name) if what == "field" else self.ctx.window(name, n)
        values = self._check_column(np.asarray(raw), (what, name, n), kind)
        self.columns[key] = values
        return values

    def _check_column(self, values: np.ndarray, source: tuple[str, str, int], kind: Kind
                      ) -> np.ndarray:
        """``values`` checked as the column ``source`` (what, name, n) of the rule being
        evaluated; its label is only written out for an error (this runs a few times a week)."""
        if values.ndim != 1:
            raise DataError(f"{self._where(source)} must be one value per student, got shape "
                            f"{values.shape}")
        if self.size is None:
            self.size, self.size_from = len(values), _label(*source)
        elif len(values) != self.size:
            raise DataError(
                f"{self._where(source)} has {len(values)} values but {self.size_from} has "
                f"{self.size}"
            )
        dtype = values.dtype
        if kind == "bool":
            if dtype.kind != "b":
                raise DataError(f"{self._where(source)} must be true/false (bool dtype), got "
                                f"{dtype}")
            return values
        # Numbers: signed integers and floats are used as they are (no copy): narrow ones (int16
        # incident counts, float32 scores) are compared in their own type where that gives the
        # same answer as 64 bits, and widened by arithmetic (see _narrow). Unsigned integers are
        # widened once so arithmetic cannot wrap around (uint8 0 - 1 == 255).
        if dtype.kind in "if":
            return values if dtype.itemsize <= 8 else values.astype(np.float64)
        if dtype.kind in "ub":
            wide = np.float64 if dtype.itemsize == 8 and dtype.kind == "u" else np.int64
            return values.astype(wide)
        raise DataError(f"{self._where(source)} must be numeric, got dtype {dtype}")

    def _where(self, source: tuple[str, str, int]) -> str:
        return f"rule {self.rule!r}: {_label(*source)}"

    def parameter(self, name: str, kind: Kind) -> float | int | bool:
        if name in self.params:
            return self.params[name]
        if self.ctx is None:  # only constant folding runs without a context, and it reads no data
            raise RuntimeError(f"parameter {name!r} read while folding constants")
        raw = self.ctx.parameter(name)
        try:
            value = _parameter_value(raw)
        except ValueError as err:
            raise RuleError(f"rule {self.rule!r}: parameter {name!r} {err}") from None
        if _kind_of_parameter(value) != kind:
            raise RuleError(
                f"rule {self.rule!r}: parameter {name!r} is {value!r} at evaluation but was "
                f"{_KIND_WORDS[kind]} when the rule was parsed"
            )
        self.params[name] = value
        return value


# ---------------------------------------------------------------------------------------------
# The compiled tree. Each node's run() returns (value, owned): value is a numpy array or a
# scalar; owned means the array was made by this evaluation and nobody else holds it, so the
# parent may write its result into it (out=) instead of allocating another n-element array.


def _ufunc2(ufunc: np.ufunc, a: Any, a_owned: bool, b: Any, b_owned: bool, dtype: Any) -> Any:
    """Apply a binary ufunc, reusing an owned operand of the result's dtype as the output."""
    out = None
    if a_owned and isinstance(a, np.ndarray) and a.dtype == dtype:
        out = a
    elif b_owned and isinstance(b, np.ndarray) and b.dtype == dtype:
        out = b
    return ufunc(a, b, out=out, dtype=dtype)


def _owned(value: Any) -> bool:
    return isinstance(value, np.ndarray)


def _narrow(value: Any) -> bool:
    """A column in a type narrower than 64 bits (int8-int32, float16/32), used as it is."""
    return isinstance(value, np.ndarray) and value.dtype.kind in "if" and value.dtype.itemsize < 8


def _wide(value: Any) -> Any:
    """int64 or float64 for arithmetic that must not wrap around or round (-x of int16)."""
    if _narrow(value):
        return value.astype(np.float64 if value.dtype.kind == "f" else np.int64)
    return value


@functools.lru_cache(maxsize=16)
def _int_range(dtype: np.dtype) -> tuple[int, int]:
    """An integer dtype's least and greatest values (``np.iinfo`` builds an object each call,
    and rules compare the same few column types every week)."""
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


def _holds(dtype: np.dtype, scalar: Any) -> bool:
    """Whether comparing a ``dtype`` array with ``scalar`` in numpy's promoted type gives the
    answer of 64-bit values, under any numpy >= 1.26 promotion rules: int16 against a whole
    number it can hold, float32 against a number it holds exactly (2, not 0.9)."""
    if isinstance(scalar, bool) or not isinstance(scalar, int | float):
        return False
    if dtype.kind == "i":
        low, high = _int_range(dtype)
        return isinstance(scalar, int) and low <= scalar <= high
    with np.errstate(all="ignore"):
        return float(dtype.type(scalar)) == scalar  # compared as Python numbers: exactly


def _whole_for(column: Any, scalar: Any) -> Any:
    """``scalar`` as an int when it is a float holding a whole number and ``column`` a narrow
    integer column: an integer compares with 2.0 exactly as with 2, and with an int the column
    is compared in its own type (``count(...) >= k`` with ``k`` given as 2.0 makes no widened
    copy of the counts)."""
    if (isinstance(scalar, float) and scalar.is_integer() and _narrow(column)
            and column.dtype.kind == "i"):
        return int(scalar)
    return scalar


def _comparable(a: Any, b: Any) -> tuple[Any, Any]:
    """Operands of one comparison, a narrow column widened only where its own type would not
    give the 64-bit answer. Two arrays promote exactly (int16 vs float32 is float32)."""
    if not isinstance(b, np.ndarray):
        b = _whole_for(a, b)
    if not isinstance(a, np.ndarray):
        a = _whole_for(b, a)
    if _narrow(a) and not isinstance(b, np.ndarray) and not _holds(a.dtype, b):
        a = _wide(a)
    if _narrow(b) and not isinstance(a, np.ndarray) and not _holds(b.dtype, a):
        b = _wide(b)
    return a, b


class _Node:
    __slots__ = ("kind",)
    kind: Kind
    children: tuple[_Node, ...] = ()

    def run(self, ev: _Evaluation) -> tuple[Any, bool]:  # pragma: no cover - abstract
        raise NotImplementedError

    def render(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


class _Const(_Node):
    __slots__ = ("value",)

    def __init__(self, value: float | int | bool):
        self.kind: Kind = "bool" if isinstance(value, bool) else "number"
        self.value = value

    def run(self, ev: _Evaluation) -> tuple[Any, bool]:
        return self.value, False

    def render(self) -> str:
        v = self.value
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float) and not math.isfinite(v):
            return "(0 / 0)" if math.isnan(v) else ("(1 / 0)" if v > 0 else "(-1 / 0)")
        text = repr(v)
        return f"({text})" if text.startswith("-") else text


class _Field(_Node):
    __slots__ = ("name",)

    def __init__(self, name: str, kind: Kind):
        self.name, self.kind = name, kind

    def run(self, ev: _Evaluation) -> tuple[Any, bool]:
        return ev.column("field", self.name, 0, self.kind), False

    def render(self) -> str:
        return self.name


class _Window(_Node):
    __slots__ = ("name", "n", "param")

    def __init__(self, name: str, n: int, kind: Kind, param: str | None):
        self.name, self.n, self.kind, self.param = name, n, kind, param

    def run(self, ev: _Evaluation) -> tuple[Any, bool]:
        return ev.column("window", self.name, self.n, self.kind), False

    def render(self) -> str:
        return f"{self.name}({self.param or self.n})"


class _Param(_Node):
    __slots__ = ("name",)

    def __init__(self, name: str, kind: Kind):
        self.name, self.kind = name, kind

    def run(self, ev: _Evaluation) -> tuple[Any, bool]:
        return ev.parameter(self.name, self.kind), False

    def render(self) -> str:
        return self.name


class _RuleRef(_Node):
    __slots__ = ("name", "target")

    def __init__(self, name: str, kind: Kind = "bool"):
        self.name, self.kind = name, kind
        self.target: Rule | None = None  # linked by parse_rules once every rule is compiled

    def run(self, ev: _Evaluation) -> tuple[Any, bool]:
        # The target was evaluated earlier in topological order; its array is shared, not owned.
        value, _ = ev.results[id(self.target)]
        return value, False

    def render(self) -> str:
        return self.name


class _Not(_Node):
    __slots__ = ("children",)

    def __init__(self, operand: _Node):
        self.kind, self.children = "bool", (operand,)

    def run(self, ev: _Evaluation) -> tuple[Any, bool]:
        value, owned = self.children[0].run(ev)
        out = value if owned and isinstance(value, np.ndarray) else None
        result = np.logical_not(value, out=out)
        return result, _owned(result)

    def render(self) -> str:
        return f"(not {self.children[0].render()})"


class _Unary(_Node):
    __slots__ = ("op", "children")
    _UFUNCS = {"-": np.negative, "abs": np.absolute}

    def __init__(self, op: str, operand: _Node):
        self.op, self.kind, self.children = op, "number", (operand,)

    def run(self, ev: _Evaluation) -> tuple[Any, bool]:
        value, owned = self.children[0].run(ev)
        value = _wide(value)  # -x of an int16 -32768 must not wrap around (x is never owned)
        out = value if owned and isinstance(value, np.ndarray) else None
        result = self._UFUNCS[self.op](value, out=out)
        return result, _owned(result)

    def render(self) -> str:
        inner = self.children[0].render()
        return f"(-{inner})" if self.op == "-" else f"abs({inner})"


class _Logic(_Node):
    __slots__ = ("op", "children")

    def __init__(self, op: str, operands: list[_Node]):
        self.op, self.kind, self.children = op, "bool", tuple(operands)

    def run(self, ev: _Evaluation) -> tuple[Any, bool]:
        ufunc = np.logical_and if self.op == "and" else np.logical_or
        acc, acc_owned = self.children[0].run(ev)
        for child in self.children[1:]:
            value, owned = child.run(ev)
            acc = _ufunc2(ufunc, acc, acc_owned, value, owned, np.bool_)
            acc_owned = _owned(acc)
        return acc, acc_owned

    def render(self) -> str:
        return "(" + f" {self.op} ".join(c.render() for c in self.children) + ")"


class _Arith(_Node):
    __slots__ = ("op", "children")
    _UFUNCS = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.true_divide}

    def __init__(self, op: str, left: _Node, right: _Node):
        self.op, self.kind, self.children = op, "number", (left, right)

    def run(self, ev: _Evaluation) -> tuple[Any, bool]:
        a, a_owned = self.children[0].run(ev)
        b, b_owned = self.children[1].run(ev)
        # int64 at least: count() gives a narrow integer that arithmetic must not wrap around
        dtype = np.float64 if self.op == "/" else np.result_type(a, b, np.int64)
        ufunc = self._UFUNCS[self.op]
        if self.op != "/" and np.dtype(dtype).kind == "i" and not _fits_int64(self.op, a, b):
            # int64 wraps silently (1024 * 2**53 < 0): where it would, the float64 answer
            # (+ 0.0: an integer zero has no sign), else the exact int64 one as always
            wide = ufunc(a, b, dtype=np.float64)
            if np.any(np.abs(wide) >= 2.0**63):
                wide += 0.0
                return wide, _owned(wide)
        result = _ufunc2(ufunc, a, a_owned, b, b_owned, dtype)
        return result, _owned(result)

    def render(self) -> str:
        left, right = (c.render() for c in self.children)
        return f"({left} {self.op} {right})"


def _magnitude(value: Any) -> float:
    """The largest ``abs`` an integer operand can have: from its dtype (below 64 bits) or value."""
    if isinstance(value, np.ndarray):
        return float(2**63 if value.dtype.itemsize >= 8 else -np.iinfo(value.dtype).min)
    return abs(float(value))


def _fits_int64(op: str, a: Any, b: Any) -> bool:
    """Whether ``a op b`` cannot overflow int64, known without reading the data (int16 fields,
    counts and literals): then the overflow check costs nothing."""
    ma, mb = _magnitude(a), _magnitude(b)
    return (ma * mb if op == "*" else ma + mb) < 2.0**63


class _Compare(_Node):
    __slots__ = ("ops", "children")
    _UFUNCS = {
        "<": np.less,
        "<=": np.less_equal,
        ">": np.greater,
        ">=": np.greater_equal,
        "==": np.equal,
        "!=": np.not_equal,
    }

    def __init__(self, ops: list[str], operands: list[_Node]):
        self.ops, self.kind, self.children = tuple(ops), "bool", tuple(operands)

    def run(self, ev: _Evaluation) -> tuple[Any, bool]:
        if len(self.ops) == 1 and self.ops[0] in _FLIPPED:
            fast = self._rate_against_number(ev)
            if fast is not None:
                return fast, True
        # Each operand is evaluated once, as in Python: a < b < c is (a < b) and (b < c).
        left, _ = self.children[0].run(ev)
        acc: Any = None
        for op, child in zip(self.ops, self.children[1:], strict=True):
            right, _ = child.run(ev)
            step = self._UFUNCS[op](*_comparable(left, right))
            acc = (
                step
                if acc is None
                else _ufunc2(np.logical_and, acc, _owned(acc), step, _owned(step), np.bool_)
            )
            left = right
        return acc, _owned(acc)

    def _rate_against_number(self, ev: _Evaluation) -> np.ndarray | None:
        """``rate(n) < x`` (or <=, >, >=, either way round) without the float64 division, when
        the context gives the rate's integer parts (:meth:`ProfileContext.window_parts`): the
        parts divided in float32 and compared with a float32 threshold proved to give the
        float64 answer for every possible pair (see :func:`_float32_threshold`); else None."""
        parts_of = getattr(ev.ctx, "window_parts", None)
        if parts_of is None:
            return None
        (a, b), op = self.children, self.ops[0]
        if isinstance(b, _Window) and isinstance(a, _Const | _Param):
            a, b, op = b, a, _FLIPPED[op]
        if not isinstance(a, _Window) or not isinstance(b, _Const | _Param):
            return None
        value, _ = b.run(ev)
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or not math.isfinite(value) or float(value) != value):
            return None
        parts = parts_of(a.name, a.n)
        if parts is None:
            return None
        num, den, bound = parts
        strict = op in ("<", ">=")  # the threshold of "< x" (its complement is ">= x")
        t = _float32_threshold(float(value), strict, bound)
        if t is None:
            return None
        rate = np.divide(num, den, dtype=np.float32)  # (0 / 0 = NaN, x / 0 = +-inf, as float64)
        result = rate < t if op in ("<", "<=") else rate >= t
        return ev._check_column(result, ("window", a.name, a.n), "bool")

    def render(self) -> str:
        parts = [self.children[0].render()]
        for op, child in zip(self.ops, self.children[1:], strict=True):
            parts += [op, child.render()]
        return "(" + " ".join(parts) + ")"


_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


@functools.lru_cache(maxsize=1024)
def _float32_threshold(c: float, strict: bool, bound: int) -> np.float32 | None:
    """A float32 ``t`` with ``fl64(k / d) < c  <=>  fl32(k / d) < t`` (``strict``; else with
    ``<=`` on the left) for every integer ``k`` and every ``0 < |d| <= bound``, or None.

    For each ``d`` let ``k_d`` be the first ``k`` whose float64 quotient is past ``c`` (``>= c``,
    or ``> c``); the float64 test holds exactly for ``k < k_d`` (rounding is monotone). With
    ``t`` the least float32 quotient ``k_d / d``, the float32 test fails for every ``k >= k_d``,
    and holds for every ``k < k_d`` if it holds for ``k_d - 1``: checked for every ``d``.
    (Negative ``d`` are the same quotients, ``k / d = -k / -d``; ``d = 0`` gives +-inf or NaN in
    both types, which compare alike with any finite ``c`` and ``t``.) Quotients of distinct
    fractions with ``d <= bound`` differ by at least ``1 / bound**2``, so the check passes
    unless ``c`` is large or ``bound`` is beyond a few thousand."""
    if not math.isfinite(c) or abs(c) > 2.0**20 or bound < 1:
        return None
    d = np.arange(1, bound + 1, dtype=np.float64)

    def past(k: np.ndarray) -> np.ndarray:
        q = k / d  # float64 division of exact whole numbers: fl64(k / d), as numpy divides
        return q >= c if strict else q > c

    k = np.ceil(c * d)
    for _ in range(4):  # k within a step or two of k_d: move it there
        down = past(k - 1)
        up = ~past(k)
        if not down.any() and not up.any():
            break
        k = k - down + up
    else:
        return None
    t = np.float32((k.astype(np.float32) / d.astype(np.float32)).min())
    below = ((k - 1).astype(np.float32) / d.astype(np.float32)).max()
    if not (below < t) or np.abs(k).max() >= 2.0**24:  # (whole numbers exact in float32)
        return None
    return t


class _Count(_Node):
    __slots__ = ("children", "_key")

    def __init__(self, operands: list[_Node]):
        self.kind, self.children = "number", tuple(operands)
        self._key: tuple | None = None

    def run(self, ev: _Evaluation) -> tuple[Any, bool]:
        if self._key is None:
            # the same text means the same rules and window lengths only within one rule set
            # (``attendance(w)`` may be 3 weeks in one vocabulary and 4 in another); the rules
            # themselves, not their id(), so the key stays right in a worker that unpickled it
            self._key = (self.render(), tuple(n.target if isinstance(n, _RuleRef) else n.n
                                              for n in _walk(self)
                                              if isinstance(n, _RuleRef | _Window)))
        value = ev.counts.get(self._key)
        if value is None:
            value = ev.counts[self._key] = self._count(ev)
        return value, False  # shared with any other count() of the same conditions

    def _count(self, ev: _Evaluation) -> Any:
        # the narrowest integer that holds the count: adding bools into it is several times
        # cheaper than into int64 (arithmetic on the result widens, see _Arith)
        dtype = np.int8 if len(self.children) < 128 else np.int64
        acc: Any = 0
        acc_owned = False
        for child in self.children:
            value, _ = child.run(ev)
            if isinstance(value, np.ndarray) and value.dtype == np.bool_:
                value = value.view(np.int8)  # (0 or 1 each) int8 + int8: no cast per element
            if acc_owned:
                np.add(acc, value, out=acc)
            else:
                acc = np.add(acc, value, dtype=dtype)
                acc_owned = _owned(acc)
        if not acc_owned:  # every operand a constant: a plain Python int, as before
            acc = int(acc)
        return acc

    def render(self) -> str:
        return "count(" + ", ".join(c.render() for c in self.children) + ")"


class _MinMax(_Node):
    __slots__ = ("op", "children")

    def __init__(self, op: str, operands: list[_Node]):
        self.op, self.kind, self.children = op, "number", tuple(operands)

    def run(self, ev: _Evaluation) -> tuple[Any, bool]:
        ufunc = np.minimum if self.op == "min" else np.maximum  # both propagate NaN
        acc, acc_owned = self.children[0].run(ev)
        for child in self.children[1:]:
            value, owned = child.run(ev)
            acc = _ufunc2(ufunc, acc, acc_owned, value, owned, np.result_type(acc, value, np.int64))
            acc_owned = _owned(acc)
        return acc, acc_owned

    def render(self) -> str:
        return f"{self.op}(" + ", ".join(c.render() for c in self.children) + ")"


def _python_scalar(value: Any) -> float | int | bool:
    if isinstance(value, np.generic):
        value = value.item()
    return value


def _parameter_names(node: _Node) -> set[str]:
    """The parameters a (compiled) expression reads."""
    if isinstance(node, _Param):
        return {node.name}
    return set().union(*(_parameter_names(c) for c in node.children))


def _fold(node: _Node) -> _Node:
    """Replace a subtree whose inputs are all literals by its value, computed once at parse time."""
    if node.children and all(isinstance(c, _Const) for c in node.children):
        values = [c.value for c in node.children if isinstance(c, _Const)]
        if (isinstance(node, _Arith) and node.op != "/"
                and all(isinstance(v, int) and not isinstance(v, bool) for v in values)):
            # checked in Python's exact integers: int64 wraps without a warning (2**32 * 2**32
            # gave 0), so the overflow check below never saw it
            exact = {"+": operator.add, "-": operator.sub, "*": operator.mul}[node.op](*values)
            if abs(exact) > _EXACT_INT:
                raise _Problem("a constant part of the rule works out beyond 2**53, where whole "
                               "numbers cannot be compared exactly")
        try:
            with np.errstate(all="ignore", over="raise"):
                value, _ = node.run(_Evaluation(None, None))
        except FloatingPointError:
            raise _Problem("a constant part of the rule overflows (too large a number)") from None
        value = _python_scalar(value)
        if (isinstance(node, _Arith) and node.op != "/" and isinstance(value, float)
                and all(not isinstance(v, bool) for v in values)):
            # 9007199254740992.0 + 1 is ...992.0: the 1 lost, as the integers' sum is refused
            exact = {"+": operator.add, "-": operator.sub, "*": operator.mul}[node.op](
                *(fractions.Fraction(v) for v in values))
            if abs(exact) > _EXACT_INT and exact != value:
                raise _Problem("a constant part of the rule works out beyond 2**53, where whole "
                               "numbers cannot be compared exactly")
        if (isinstance(node, _Arith) and node.op in ("*", "/") and value == 0
                and all(v != 0 for v in values)):  # 1e-200 * 1e-200, as 1e200 * 1e200 above
            raise _Problem("a constant part of the rule works out below every float (it reads "
                           "as 0); use 0 or larger numbers")
        if not isinstance(value, bool) and isinstance(value, int) and abs(value) > _EXACT_INT:
            raise _Problem("a constant part of the rule works out beyond 2**53, where whole "
                           "numbers cannot be compared exactly")
        return _Const(value)
    return node


# ---------------------------------------------------------------------------------------------
# Parsing


def _whole(node: _Node, fields: Set[str]) -> bool:
    """Whether the expression ``node`` is a whole number wherever its ``fields`` are
    (:meth:`Rule.whole_numbers`)."""
    stack = [node]
    while stack:
        node = stack.pop()
        if isinstance(node, _Count):
            continue  # a whole number of true conditions, whatever they read
        if isinstance(node, _Const):
            v = node.value
            if isinstance(v, bool) or not math.isfinite(v) or v != int(v):
                return False
        elif isinstance(node, _Field):
            if node.name not in fields:
                return False
        elif not (isinstance(node, _Arith) and node.op != "/"
                  or isinstance(node, _Unary | _MinMax)):
            return False
        stack.extend(node.children)
    return True


def _linear(node: _Node, fields: Set[str]) -> tuple[float, float] | None:
    """``(a, b)``: ``node`` is ``a`` times a whole number plus ``b`` (``a`` 0: the constant
    ``b``), or None (:meth:`Rule.linear_whole`). The finest such line: ``3 * interventions +
    1`` is whole, but its ``(3, 1)`` gives the actions themselves."""
    if isinstance(node, _Const):
        v = node.value
        return (0.0, float(v)) if not isinstance(v, bool) and math.isfinite(v) else None
    form = None
    if isinstance(node, _Unary) and node.op == "-":
        inner = _linear(node.children[0], fields)
        form = None if inner is None else (-inner[0], -inner[1])
    elif isinstance(node, _Arith):
        left, right = (_linear(c, fields) for c in node.children)
        if left is not None and right is not None:
            form = _combine(node.op, left, right)
    if form is None and _whole(node, fields):
        return 1.0, 0.0
    return form


def _combine(op: str, left: tuple[float, float], right: tuple[float, float]
             ) -> tuple[float, float] | None:
    """The line of ``left op right`` (:func:`_linear`), None where it is not one."""
    (a1, b1), (a2, b2) = left, right
    if op == "*":
        if a1 == 0 or a2 == 0:  # a constant times a line
            c, (a, b) = (b1, right) if a1 == 0 else (b2, left)
            return a * c, b * c
        return None
    if op == "/":
        return (a1 / b2, b1 / b2) if a2 == 0 and b2 != 0 else None
    sign = 1.0 if op == "+" else -1.0
    if a1 == 0 or a2 == 0:
        return a1 + sign * a2, b1 + sign * b2
    # two lines: a1 W1 + a2 W2 is a1 (W1 + k W2) where a2 = k a1 for a whole k (or the same
    # the other way round), else no whole number's multiple
    for a, other in ((a1, a2), (a2, a1)):
        k = other / a
        if abs(k) >= 1 and math.isclose(k, round(k), rel_tol=0, abs_tol=1e-9):
            return a, b1 + sign * b2
    return None


class _Problem(Exception):
    """One thing wrong with one rule; turned into a RuleError naming the rule."""


_NOT_ALLOWED = {
    ast.Attribute: "attribute access",
    ast.Subscript: "indexing",
    ast.Slice: "slicing",
    ast.Lambda: "lambda",
    ast.IfExp: "if-else expression",
    ast.NamedExpr: "assignment (:=)",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.JoinedStr: "f-strings",
    ast.FormattedValue: "f-strings",
    ast.Tuple: "tuples",
    ast.List: "lists",
    ast.Set: "sets",
    ast.Dict: "dicts",
    ast.Starred: "'*' unpacking",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_ARITH_HINT = "arithmetic allowed: + - * /"
_BAD_BINOPS = {
    ast.Mod: ("%", _ARITH_HINT),
    ast.Pow: ("**", _ARITH_HINT),
    ast.FloorDiv: ("//", _ARITH_HINT),
    ast.MatMult: ("@", _ARITH_HINT),
    ast.BitAnd: ("&", "use 'and'"),
    ast.BitOr: ("|", "use 'or'"),
    ast.BitXor: ("^", _ARITH_HINT),
    ast.LShift: ("<<", _ARITH_HINT),
    ast.RShift: (">>", _ARITH_HINT),
}
_CMPOPS = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
}
_BAD_CMPOPS = {ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}
_ALLOWED_SUMMARY = (
    "allowed: comparisons, and/or/not, + - * /, numbers, true/false, fields, parameters and "
    "the functions "
)


class _Compiler:
    """Turns one rule's syntax tree into a typed, folded _Node tree, recording what it uses."""

    def __init__(
        self,
        text: str,
        vocab: Vocabulary,
        name: str | None,
        rule_names: Mapping[str, Rule] | Iterable[str],
        suggest: bool = True,
        invalid: Set[str] = frozenset(),
    ):
        self.text = text
        self.suggest = suggest
        self.invalid = invalid
        self.vocab = vocab
        self.name = name
        # Looked up, never copied: parse_rules hands every rule the same set of names, and a
        # copy per rule made a policy of 8,000 rules take 90 s to load (n^2 work).
        self.rule_names: Mapping[str, Rule] | Set[str] = (
            rule_names if isinstance(rule_names, Mapping | Set) else frozenset(rule_names))
        self.fields: set[str] = set()
        self.windows: set[tuple[str, int]] = set()
        self.parameters: set[str] = set()
        self.references: set[str] = set()

    # -- helpers -----------------------------------------------------------------------------

    def token(self, node: ast.AST) -> str:
        """The offending source text, quoted, with its column, e.g. ``'x[0]' (column 5)``."""
        segment = ast.get_source_segment(self.text, node) or type(node).__name__
        if len(segment) > 60:
            segment = segment[:57] + "..."
        column = getattr(node, "col_offset", None)
        where = f" (column {self._column(column)})" if column is not None else ""
        return f"'{segment}'{where}"

    def _column(self, byte_offset: int) -> int:
        # ast offsets count UTF-8 bytes; users count characters.
        return len(self.text.encode("utf-8")[:byte_offset].decode("utf-8", "replace")) + 1

    def allowed(self) -> str:
        return _ALLOWED_SUMMARY + ", ".join(self.vocab.functions())

    def expect(self, node: ast.AST, compiled: _Node, kind: Kind, role: str) -> _Node:
        if compiled.kind != kind:
            raise _Problem(
                f"{role} needs {_KIND_WORDS[kind]}, but {self.token(node)} is "
                f"{_KIND_WORDS[compiled.kind]}"
                + (" (did you mean a comparison such as '... > 0'?)" if kind == "bool" else "")
            )
        return compiled

    # -- dispatch ----------------------------------------------------------------------------

    def compile(self, node: ast.AST) -> _Node:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            what = _NOT_ALLOWED.get(type(node), f"'{type(node).__name__}' syntax")
            raise _Problem(f"{what} {self.token(node)} is not allowed ({self.allowed()})")
        return _fold(method(node))

    def _BoolOp(self, node: ast.BoolOp) -> _Node:
        op = "and" if isinstance(node.op, ast.And) else "or"
        operands = [self.expect(v, self.compile(v), "bool", f"'{op}'") for v in node.values]
        return _Logic(op, operands)

    def _UnaryOp(self, node: ast.UnaryOp) -> _Node:
        operand = self.compile(node.operand)
        if isinstance(node.op, ast.Not):
            return _Not(self.expect(node.operand, operand, "bool", "'not'"))
        if isinstance(node.op, ast.Invert):
            raise _Problem(f"operator '~' in {self.token(node)} is not allowed (use 'not')")
        sign = "-" if isinstance(node.op, ast.USub) else "+"
        self.expect(node.operand, operand, "number", f"unary '{sign}'")
        return _Unary("-", operand) if sign == "-" else operand

    def _BinOp(self, node: ast.BinOp) -> _Node:
        op = _BINOPS.get(type(node.op))
        if op is None:
            symbol, hint = _BAD_BINOPS.get(type(node.op), (type(node.op).__name__, _ARITH_HINT))
            raise _Problem(f"operator '{symbol}' in {self.token(node)} is not allowed ({hint})")
        left = self.expect(node.left, self.compile(node.left), "number", f"'{op}'")
        right = self.expect(node.right, self.compile(node.right), "number", f"'{op}'")
        if op == "/" and isinstance(right, _Const) and right.value == 0:
            # 'x / 0' (or '1 / (2 - 2)') is infinite or NaN for every student, whatever the
            # data: a slip, which made a rule true or false for all and 1e400 is refused too
            raise _Problem(f"{self.token(node)} divides by zero: it is infinite or not a number "
                           "whatever the data; divide by a number that is not 0")
        if op == "/" and self._parameters_only(right) and self._value(right) == 0:
            # 'x / k' with the parameter k: 0 was infinite for every student as 'x / 0' is (a
            # rule 'attendance_rate < 1 / k' flagged everyone), and passed validate
            names = ", ".join(f"{n} = {self.vocab.parameters[n]!r}"
                              for n in sorted(_parameter_names(right)))
            raise _Problem(f"{self.token(node)} divides by zero with this scenario's parameters "
                           f"({names}): it is infinite or not a number whatever the data; "
                           "give the parameter a value that makes the divisor not 0")
        return _Arith(op, left, right)

    def _parameters_only(self, node: _Node) -> bool:
        """True when ``node`` reads parameters and constants only (no field, window, rule or
        count), so its value is known when the rule is parsed."""
        if isinstance(node, _Param):
            return node.name in self.vocab.parameters
        if isinstance(node, _Const):
            return True
        if isinstance(node, _Arith | _Unary | _MinMax):
            return all(self._parameters_only(c) for c in node.children)
        return False

    def _value(self, node: _Node) -> Any:
        """The value of a node :meth:`_parameters_only` accepts, with the scenario's
        parameters; None when it cannot be computed (an overflow: left to the evaluation)."""
        ctx = ArrayContext({}, parameters=self.vocab.parameters)
        try:
            with np.errstate(all="ignore"):
                value, _ = node.run(_Evaluation(ctx, 1))
        except (RuleError, DataError, FloatingPointError):
            return None
        return _python_scalar(value)

    def _Compare(self, node: ast.Compare) -> _Node:
        operands_ast = [node.left, *node.comparators]
        operands = [self.compile(o) for o in operands_ast]
        ops: list[str] = []
        for i, cmp in enumerate(node.ops):
            op = _CMPOPS.get(type(cmp))
            if op is None:
                bad = _BAD_CMPOPS.get(type(cmp), type(cmp).__name__)
                raise _Problem(
                    f"'{bad}' in {self.token(node)} is not allowed "
                    "(comparisons allowed: < <= > >= == !=)"
                )
            left, right = operands[i], operands[i + 1]
            if op in ("==", "!="):
                if left.kind != right.kind:
                    raise _Problem(
                        f"cannot compare {self.token(operands_ast[i])} "
                        f"({_KIND_WORDS[left.kind]}) with {self.token(operands_ast[i + 1])} "
                        f"({_KIND_WORDS[right.kind]}) using '{op}'"
                    )
            else:
                self.expect(operands_ast[i], left, "number", f"'{op}'")
                self.expect(operands_ast[i + 1], right, "number", f"'{op}'")
            ops.append(op)
        return _Compare(ops, operands)

    def _Call(self, node: ast.Call) -> _Node:
        if not isinstance(node.func, ast.Name):
            raise _Problem(
                f"{self.token(node.func)} cannot be called: only the functions "
                f"{', '.join(self.vocab.functions())} can"
            )
        fname = node.func.id
        vocab = self.vocab
        if fname not in BUILTIN_FUNCTIONS and fname not in vocab.windows:
            if fname in vocab.fields:
                raise _Problem(f"{self.token(node.func)} is a field, not a function")
            if fname in vocab.parameters:
                raise _Problem(f"{self.token(node.func)} is a parameter, not a function")
            raise _Problem(
                f"{self.token(node.func)} is not a known field, parameter or function "
                f"(known functions: {', '.join(vocab.functions())})"
                + self._suggest(fname, vocab.functions())
            )
        if node.keywords:
            kw = node.keywords[0]
            raise _Problem(
                f"keyword argument {self.token(kw)} is not allowed in {fname}(): "
                "pass arguments by position"
            )
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise _Problem(f"'*' unpacking {self.token(arg)} is not allowed in {fname}()")
        args = node.args
        if fname in BUILTIN_FUNCTIONS:
            return self._builtin(node, fname, args)
        return self._window(node, fname, args)

    def _builtin(self, node: ast.Call, fname: str, args: list[ast.expr]) -> _Node:
        if fname == "count":
            if not args:
                raise _Problem(f"{self.token(node)}: count() needs at least one condition")
            return _Count([self.expect(a, self.compile(a), "bool", "count()") for a in args])
        if fname == "abs":
            if len(args) != 1:
                raise _Problem(
                    f"{self.token(node)}: abs() takes exactly one number, got {len(args)}"
                )
            return _Unary("abs", self.expect(args[0], self.compile(args[0]), "number", "abs()"))
        if len(args) < 2:
            raise _Problem(
                f"{self.token(node)}: {fname}() needs at least two numbers, got {len(args)}"
            )
        return _MinMax(
            fname, [self.expect(a, self.compile(a), "number", f"{fname}()") for a in args]
        )

    def _window(self, node: ast.Call, fname: str, args: list[ast.expr]) -> _Node:
        spec = self.vocab.windows[fname]
        limit = self.vocab.max_window
        usage = f"{fname}() takes one argument: a whole number of weeks from 1 to {limit}"
        if len(args) != 1:
            raise _Problem(f"{self.token(node)}: {usage}, got {len(args)} arguments")
        arg = args[0]
        param: str | None = None
        if (
            isinstance(arg, ast.Constant)
            and isinstance(arg.value, int)
            and not isinstance(arg.value, bool)
        ):
            n = arg.value
        elif isinstance(arg, ast.Name) and arg.id in self.vocab.parameters:
            value = self.vocab.parameters[arg.id]
            # a scenario's parameters are read as floats (YAML `weeks: 4` arrives as 4.0)
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise _Problem(
                    f"{self.token(arg)} is {value!r}, but {usage} (a whole-number parameter)"
                )
            n, param = value, arg.id
            self.parameters.add(arg.id)
        else:
            raise _Problem(
                f"{self.token(arg)} is not allowed as a window length: {usage} "
                "(a literal such as 4, or an integer parameter)"
            )
        if not 1 <= n <= limit:
            raise _Problem(f"{self.token(arg)} is {n} weeks, but {usage}")
        self.windows.add((fname, n))
        return _Window(fname, n, spec.kind, param)

    def _Name(self, node: ast.Name) -> _Node:
        name = node.id
        vocab = self.vocab
        if name.startswith("__"):
            raise _Problem(
                f"{self.token(node)} is not allowed: names starting with '__' are reserved"
            )
        if name in _BOOL_NAMES:
            return _Const(_BOOL_NAMES[name])
        if name in vocab.fields:
            self.fields.add(name)
            return _Field(name, vocab.fields[name].kind)
        if name in vocab.parameters:
            self.parameters.add(name)
            return _Param(name, _kind_of_parameter(vocab.parameters[name]))
        if name == self.name:
            raise _Problem(f"{self.token(node)} refers to the rule itself")
        if name in self.rule_names:
            self.references.add(name)
            # rules are true/false; an already-parsed score (parse_score) may be a number
            rules = self.rule_names
            return _RuleRef(name, rules[name].kind if isinstance(rules, Mapping) else "bool")
        if name in self.invalid:
            raise _Problem(f"{self.token(node)} is a rule that is invalid (see its own error)")
        if name in vocab.windows:
            raise _Problem(
                f"{self.token(node)} is a windowed function: call it with a number of weeks, "
                f"e.g. {name}(4)"
            )
        if name in BUILTIN_FUNCTIONS:
            raise _Problem(f"{self.token(node)} is a function: call it, e.g. {name}(...)")
        raise _Problem(
            f"{self.token(node)} is not a known field, parameter or function "
            f"(known functions: {', '.join(vocab.functions())})" + self._suggest_name(name)
        )

    def _Constant(self, node: ast.Constant) -> _Node:
        value = node.value
        if isinstance(value, bool):
            return _Const(value)
        if isinstance(value, int):
            if abs(value) > _EXACT_INT:
                raise _Problem(f"the number {self.token(node)} is beyond 2**53, where "
                               "whole numbers cannot be compared exactly; use a smaller number")
            return _Const(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise _Problem(f"the number {self.token(node)} is too large (not finite)")
            written = ast.get_source_segment(self.text, node) or "0"
            digits = re.split(r"[eE]", written)[0]
            if digits == written and abs(fractions.Fraction(written.replace("_", ""))) > _EXACT_INT:
                # 9007199254740993.0 read as ...992.0, without a word, where 9007199254740993
                # is refused (1e30, written as a magnitude, is kept)
                raise _Problem(f"the number {self.token(node)} is beyond 2**53, where whole "
                               "numbers cannot be compared exactly; use a smaller number")
            if value == 0.0 and re.search(r"[1-9]", digits):  # 1e-400: below every float
                raise _Problem(f"the number {self.token(node)} is too small: it reads as 0; use "
                               "0 or a larger number")
            return _Const(value)
        what = {
            str: "text strings",
            bytes: "byte strings",
            complex: "complex numbers",
            type(None): "None",
            type(...): "'...'",
        }.get(type(value), type(value).__name__)
        raise _Problem(f"{what} {self.token(node)} are not allowed ({self.allowed()})")

    def _suggest_name(self, name: str) -> str:
        """"did you mean" among the names a rule may use; only the first rules with problems
        get one, and the scenario's own names only while they are few: difflib over 8,000 rule
        names for each of 8,000 bad rules kept a hostile file busy for a minute."""
        if not self.suggest:
            return ""
        vocab = self.vocab
        known = [*vocab.fields, *vocab.windows]
        if len(vocab.parameters) + len(self.rule_names) <= _MAX_SUGGESTED:
            known += [*vocab.parameters, *self.rule_names]
        return self._suggest(name, known)

    @staticmethod
    def _suggest(name: str, candidates: Iterable[str]) -> str:
        close = difflib.get_close_matches(name, list(candidates), n=1)
        return f"; did you mean '{close[0]}'?" if close else ""


def _syntax_tree(text: str) -> ast.Expression:
    """Parse (never execute) the text, turning every way the parser can fail into _Problem."""
    if len(text) > MAX_RULE_LENGTH:
        raise _Problem(f"is {len(text)} characters long; at most {MAX_RULE_LENGTH} are allowed")
    if not text.strip():
        raise _Problem("is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings about `1 is 1` etc.: we reject anyway
            tree = ast.parse(text, mode="eval")
    except SyntaxError as err:
        if err.offset and err.offset <= len(text):
            near = text[err.offset - 1 : err.offset + 19].strip()
            where = f"at column {err.offset} (near '{near}')"
        else:
            where = f"at the end of the rule (column {len(text) + 1})"
        raise _Problem(f"syntax error {where}: {err.msg}") from None
    except (RecursionError, MemoryError, ValueError) as err:
        raise _Problem(f"cannot be parsed ({type(err).__name__}: {err}); simplify it") from None
    # Measure nesting without recursion, so the compiler's recursion stays shallow.
    stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    ascii_text = text.isascii()  # then no name can have been rewritten
    while stack:
        node, depth = stack.pop()
        if isinstance(node, ast.Name) and not ascii_text:
            _check_spelling(text, node)
        if depth > MAX_DEPTH:
            segment = ast.get_source_segment(text, node) or ""
            raise _Problem(
                f"nests more than {MAX_DEPTH} levels deep (at '{segment[:40]}', column "
                f"{getattr(node, 'col_offset', 0) + 1}); split it into several named rules"
            )
        stack.extend(
            (child, depth + isinstance(child, ast.expr)) for child in ast.iter_child_nodes(node)
        )
    return tree


def _check_spelling(text: str, node: ast.Name) -> None:
    """Python reads identifiers in NFKC form, so ``ｔrue`` (a full-width t) or ``ﬁeld`` (a
    ligature) silently named ``true`` or ``field``: a look-alike in a rule is refused, not
    matched to the name it resembles."""
    written = ast.get_source_segment(text, node)
    if written is None or written == node.id:
        return
    # the text is one line (_compile joins a YAML block's lines); col_offset counts UTF-8 bytes
    column = len(text.encode("utf-8")[:node.col_offset].decode("utf-8", "replace")) + 1
    raise _Problem(f"'{written[:40]}' (column {column}) is written with look-alike characters "
                   f"that read as '{node.id[:40]}'; type names in plain letters")


@dataclass(frozen=True)
class _Parsed:
    name: str
    text: str
    root: _Node
    fields: frozenset[str]
    windows: frozenset[tuple[str, int]]
    parameters: frozenset[str]
    references: frozenset[str]


#: a comment: from '#' to the end of its line (the language has no strings that could hold '#')
_COMMENT = re.compile(r"#[^\r\n]*")


def _compile(
    name: str, text: object, vocab: Vocabulary, rule_names: Mapping[str, Rule] | Iterable[str],
    kind: Kind = "bool", suggest: bool = True, referable: bool = True,
    invalid: Set[str] = frozenset(),
) -> _Parsed:
    """Parse a rule (``kind="bool"``) or a score (``kind="number"``) into a typed tree;
    ``suggest``: say "did you mean" for an unknown name. ``referable``: other rules may use
    ``name`` (:func:`parse_rules`), so it must be a valid name that shadows nothing; otherwise it
    only labels messages (a goal named after a workflow such as ``reading-support``).
    ``invalid``: rules of the scenario that failed to parse, named as such when used."""
    if not isinstance(text, str):
        raise _Problem(text_problem(text, "rule" if kind == "bool" else "score") or "")
    if referable:
        problems = _name_problems("rule", name)
        if problems:
            raise _Problem(problems[0])
        if name in vocab.fields or name in vocab.parameters or name in vocab.windows:
            raise _Problem("has the same name as a field, window or parameter; rename the rule")
    # YAML block scalars may span lines; a newline inside an expression means a space. A comment
    # ends at its line: blanked first (same length, so columns stay right), or joining the lines
    # would make it swallow the rest of the rule ("x < 1  # note\nand fsm" read as "x < 1").
    flat = _COMMENT.sub(lambda m: " " * len(m.group()), text)
    flat = flat.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    tree = _syntax_tree(flat)
    compiler = _Compiler(flat, vocab, name if referable else None, rule_names, suggest, invalid)
    root = compiler.compile(tree.body)
    if root.kind != kind and kind == "bool":
        raise _Problem(
            f"{compiler.token(tree.body)} is a number, but a rule must be true/false "
            "(add a comparison, e.g. '... > 0')"
        )
    if root.kind != kind:
        raise _Problem(f"{compiler.token(tree.body)} is true/false, but a score is a number")
    return _Parsed(
        name,
        text,
        root,
        frozenset(compiler.fields),
        frozenset(compiler.windows),
        frozenset(compiler.parameters),
        frozenset(compiler.references),
    )


def text_problem(value: object, noun: str = "rule") -> str | None:
    """What a file's value is instead of a rule's (``noun="score"``: a priority's or measure's)
    text, in the words of someone writing YAML, or ``None`` for text: ``x:`` with nothing after
    it is empty (YAML's null) and ``x: [1, 2]`` a list, which were "expected the rule as text,
    got NoneType None" or "Input should be a mapping of keys to values"."""
    if isinstance(value, str):
        return None
    from srmsim.labels import excerpt  # (pydantic's module: only on an error)

    if value is None:
        got = "is empty"
    elif isinstance(value, bool):
        got = f"is {str(value).lower()}, a true/false value alone"
    elif isinstance(value, int | float):
        got = f"is the number {excerpt(value)}"
    elif isinstance(value, list | tuple):
        got = f"is a list ({excerpt(value)})"
    elif isinstance(value, dict):
        got = "is a mapping"
    else:
        got = f"is {excerpt(value)}"
    what = ("a true/false condition on a student's profile" if noun == "rule"
            else "a number worked out from a student's profile")
    example = '"attendance(4) < 0.9"' if noun == "rule" else '"-attendance(4)"'
    return f"{got}: a {noun} is {what}, written as text in quotes, e.g. {example}"


# ---------------------------------------------------------------------------------------------
# Rules


class Rule:
    """A parsed risk rule: evaluate it as often as you like, over all students at once.

    ``fields``, ``windows`` ((name, n) pairs) and ``parameters`` list everything the rule needs,
    including through the rules it refers to, so the engine knows which rolling sums to keep and
    how long its history buffers must be (:attr:`max_window`). ``references`` are the rules named
    directly in the text.
    """

    def __init__(self, parsed: _Parsed, references: Mapping[str, Rule]):
        self.name = parsed.name
        self.text = parsed.text
        self.references = parsed.references
        self._root = parsed.root
        self._dependencies = tuple(references[r] for r in sorted(parsed.references))
        for node in _walk(parsed.root):
            if isinstance(node, _RuleRef):
                node.target = references[node.name]
        fields, windows, parameters = (
            set(parsed.fields),
            set(parsed.windows),
            set(parsed.parameters),
        )
        for dep in self._dependencies:
            fields |= dep.fields
            windows |= dep.windows
            parameters |= dep.parameters
        self.fields: frozenset[str] = frozenset(fields)
        self.windows: frozenset[tuple[str, int]] = frozenset(windows)
        self.parameters: frozenset[str] = frozenset(parameters)

    @property
    def max_window(self) -> int:
        """Longest window (weeks) the rule reads; 0 if none: how much history the engine keeps."""
        return max((n for _, n in self.windows), default=0)

    @property
    def kind(self) -> Kind:
        """ "bool" for a rule, "number" for a score made by :func:`parse_score`."""
        return self._root.kind

    @property
    def constant(self) -> bool:
        """True when the rule reads no field or window, so it flags everyone or no-one."""
        return not self.fields and not self.windows

    @property
    def canonical(self) -> str:
        """The rule as srmsim understood it: fully parenthesised, constants folded."""
        return self._root.render()

    def whole_numbers(self, fields: Set[str]) -> bool:
        """Whether this score is a whole number for every student whose ``fields`` are: its
        constants whole, and only ``+``, ``-``, ``*``, ``abs``, ``min``, ``max`` and
        ``count()`` over them. Why: a mean of such a score over the students, times their
        number, is a whole count (a mean of ``incidents`` gives the incidents)."""
        return _whole(self._root, fields)

    def linear_whole(self, fields: Set[str]) -> tuple[float, float] | None:
        """``(a, b)`` where this score is ``a`` times a whole number plus ``b`` for every
        student whose ``fields`` are whole numbers (``incidents / 2`` is ``(0.5, 0)``,
        ``3 * incidents + 1`` is ``(3, 1)``); None where it is not such a line, or is a
        constant. Why: the mean of such a score, less ``b``, over ``a``, times the students is
        a count, as the mean of a whole-number score is (:meth:`whole_numbers`)."""
        form = _linear(self._root, fields)
        return None if form is None or form[0] == 0 else form

    @property
    def indicator(self) -> bool:
        """Whether this score is 1 or 0 for each student (``count(served)``, of one
        condition). Why: its mean is a share of the students, whose students without it are a
        count as much as those with it."""
        return isinstance(self._root, _Count) and len(self._root.children) == 1

    @property
    def conditions_counted(self) -> int:
        """How many conditions this score counts where it is ``count()`` of them (0
        otherwise): ``count(a, b)`` is 0 to 2 a student. Why: its mean's complement, the
        conditions not met (2 less the mean, times the students), is a count as much as the
        conditions met are."""
        return len(self._root.children) if isinstance(self._root, _Count) else 0

    @property
    def counted(self) -> tuple[str, ...]:
        """The conditions this score counts, each as srmsim understood it: those of
        ``count()`` (``count(a, b)``: ``a`` and ``b``), or the rule itself when it is true or
        false; none otherwise. Why: published counts of overlapping conditions are differenced
        (a mean of ``count(a, b)`` less one of ``count(a)`` gives those with ``b``)."""
        if isinstance(self._root, _Count):
            return tuple(c.render() for c in self._root.children)
        return (self.canonical,) if self._root.kind == "bool" else ()

    def never_missing(self, fields: Set[str]) -> bool:
        """Whether this score has a value for every student, given that ``fields`` are never
        missing: it reads no other field, no window or rule, and divides only by a non-zero
        constant (0 / 0 is missing). Why: a mean leaves the students without a value out, so
        only then is it a mean over all the students."""
        stack = [self._root]
        while stack:
            node = stack.pop()
            if node.kind == "bool" or isinstance(node, _Count):
                continue  # true or false (a comparison with a missing value is false)
            if isinstance(node, _Window | _RuleRef) or (
                    isinstance(node, _Field) and node.name not in fields):
                return False
            if isinstance(node, _Const) and not isinstance(node.value, bool) \
                    and not math.isfinite(node.value):
                return False
            if isinstance(node, _Arith) and node.op == "/" and not (
                    isinstance(node.children[1], _Const) and node.children[1].value != 0):
                return False
            stack.extend(node.children)
        return True

    def evaluate(self, ctx: RuleContext, size: int | None = None) -> np.ndarray:
        """One bool per student: True where the rule flags the student (a float64 for a score).

        ``size`` (number of students) is only needed when the rule reads no field or window
        (``false``, a bool parameter); passing it always is harmless and checks the columns.
        The returned array is new: changing it never changes the context's data.
        """
        return evaluate_rules({self.name: self}, ctx, size)[self.name]

    def __repr__(self) -> str:
        return f"Rule({self.name!r}, {self.text!r})"


def nonfinite_rows(rule: Rule, ctx: RuleContext, size: int) -> np.ndarray:
    """Rows (students, replications) where some number the rule computes on the way (a
    quotient, a product, a difference) is infinite or NaN: a comparison of it is then decided
    by IEEE rules (x / -0.0 is -inf, 0 / 0 fails every test), not by the data. For a caller
    that must judge every row, such as a discovery condition over a few hundred runs: each
    numeric part is computed again, which is cheap there."""
    ev = _Evaluation(ctx, size)
    bad = np.zeros(size, dtype=bool)
    with np.errstate(all="ignore"):
        for node in _walk(rule._root):
            if node.kind != "number" or isinstance(node, _RuleRef):
                continue
            value, _ = node.run(ev)
            bad |= ~np.isfinite(np.asarray(value, dtype=float))
    return bad


def _walk(root: _Node) -> Iterable[_Node]:
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.children)


@functools.lru_cache(maxsize=256)
def _topological(rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
    """Rules in an order where each comes after the rules it refers to (iterative DFS).

    Cached: the policy engine evaluates the same few sets of rules every week.
    """
    order: list[Rule] = []
    done: set[int] = set()
    for top in rules:
        stack: list[tuple[Rule, int]] = [(top, 0)]
        while stack:
            rule, i = stack.pop()
            if id(rule) in done:
                continue
            if i < len(rule._dependencies):
                stack.append((rule, i + 1))
                stack.append((rule._dependencies[i], 0))
            else:
                done.add(id(rule))
                order.append(rule)
    return tuple(order)


def evaluate_rules(
    rules: Mapping[str, Rule], ctx: RuleContext, size: int | None = None, *,
    scores_as_computed: bool = False,
) -> dict[str, np.ndarray]:
    """Evaluate several rules in one pass: each column is fetched once and each rule that others
    refer to is computed once. Returns one new bool array per rule, keyed like ``rules``.

    ``scores_as_computed`` leaves each score's array in the type it was computed in (int8 for a
    count) and possibly shared with the context's data, for a caller that reads a few students'
    values and converts only those (the policy engine's priorities).
    """
    ev = _Evaluation(ctx, size)
    with np.errstate(all="ignore"):  # x / 0 -> inf or NaN, by design, without warnings
        for rule in _topological(tuple(rules.values())):
            ev.rule = rule.name
            ev.results[id(rule)] = rule._root.run(ev)
    out: dict[str, np.ndarray] = {}
    for key, rule in rules.items():
        value, owned = ev.results[id(rule)]
        # Rules give bools; scores (parse_score) give float64 whatever their inputs' dtypes.
        dtype = np.bool_ if rule.kind == "bool" else np.float64
        if not isinstance(value, np.ndarray):
            if ev.size is None:
                raise RuleError(
                    f"rule {rule.name!r} reads no field or window, so evaluate() needs size= "
                    "(the number of students)"
                )
            value = np.full(ev.size, value, dtype=dtype)
        elif scores_as_computed and dtype is np.float64:
            pass
        elif value.dtype != dtype:
            value = value.astype(dtype)
        elif not owned:
            value = value.copy()  # a bare field or another rule's result: never hand out aliases
        if len(value) != ev.size:  # pragma: no cover - columns are checked on fetch
            raise DataError(f"rule {rule.name!r}: {len(value)} results for {ev.size} students")
        out[key] = value
    return out


def parse_rule(
    name: str,
    text: str,
    vocab: Vocabulary,
    *,
    rules: Mapping[str, Rule] | None = None,
    invalid: Set[str] = frozenset(),
) -> Rule:
    """Parse one rule. ``rules`` are already-parsed rules this one may refer to by name;
    ``name`` only labels messages (a goal's is made from its workflow's name). ``invalid``
    names the scenario's rules that failed to parse: using one says so, not "not a known
    field" (see the ``rules`` attribute of :func:`parse_rules`' error)."""
    known = dict(rules or {})
    try:
        parsed = _compile(name, text, vocab, known, referable=False, invalid=invalid)
    except _Problem as problem:
        raise RuleError(f"rule {name!r}: {problem}") from None
    return Rule(parsed, known)


def parse_rules(rules: Mapping[str, str], vocab: Vocabulary) -> dict[str, Rule]:
    """Parse a scenario's rules, which may refer to each other by name.

    Every problem is collected and reported together in one RuleError (one line per rule), and
    the error's ``problems`` attribute lists ``(rule name, message)`` pairs for callers that map
    them to scenario key paths, and its ``rules`` attribute the rules that did parse (a
    workflow's goal may still use them). Reference cycles (a -> b -> a) are errors.
    """
    problems: dict[str, str] = {}
    parsed: dict[str, _Parsed] = {}
    names = frozenset(rules)
    for name, text in rules.items():
        try:
            parsed[name] = _compile(name, text, vocab, names,
                                    suggest=len(problems) < _MAX_SUGGESTED_PROBLEMS)
        except _Problem as problem:
            problems[name] = f"rule {name!r}: {problem}"

    # Cycles: iterative three-colour DFS over the references that parsed.
    state: dict[str, int] = {}
    for start in parsed:
        if state.get(start):
            continue
        path: list[str] = []
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(parsed[start].references)))]
        state[start] = 1
        path.append(start)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif child in parsed and state.get(child) == 1:
                cycle = path[path.index(child) :] + [child]
                problems.setdefault(
                    child, f"rule {child!r}: refers to itself through {' -> '.join(cycle)}"
                )
            elif child in parsed and not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(parsed[child].references))))

    # Build each rule after the rules it refers to (depth first, so a chain of thousands of
    # rules listed last-first is one pass, not one pass per rule). Rules referring to a broken
    # rule cannot be built either; say so rather than drop them. Every cycle has a rule marked
    # above, and marked rules are never entered, so the walk ends.
    built: dict[str, Rule] = {}
    for start in rules:
        walk = [start] if start in parsed else []
        while walk:
            name = walk[-1]
            if name in built or name in problems:
                walk.pop()
                continue
            refs = sorted(parsed[name].references)
            todo = [r for r in refs if r in parsed and r not in built and r not in problems]
            if todo:
                walk.extend(todo)
                continue
            walk.pop()
            broken = [r for r in refs if r in problems]
            if broken:
                problems[name] = f"rule {name!r}: refers to rule {broken[0]!r}, which is invalid"
            else:
                built[name] = Rule(parsed[name], built)

    if problems:
        ordered = [(n, problems[n]) for n in rules if n in problems]
        if len(ordered) == 1:
            message = ordered[0][1]
        else:
            message = f"{len(ordered)} invalid rules:\n" + "\n".join(f"  {m}" for _, m in ordered)
        error = RuleError(message)
        error.problems = ordered  # type: ignore[attr-defined]
        error.rules = {n: built[n] for n in rules if n in built}  # type: ignore[attr-defined]
        raise error
    return {name: built[name] for name in rules}


# ---------------------------------------------------------------------------------------------
# Documentation


def describe_vocabulary(vocab: Vocabulary) -> str:
    """Plain-text reference of everything a rule may use, for ``--help`` and notebooks."""

    def table(rows: list[tuple[str, str, str]]) -> list[str]:
        width = max((len(r[0]) for r in rows), default=0)
        kwidth = max((len(r[1]) for r in rows), default=0)
        return [f"  {a.ljust(width)}  {b.ljust(kwidth)}  {c}".rstrip() for a, b, c in rows]

    kinds = {"number": "number", "bool": "true/false"}
    lines = [
        "Risk rules are true/false expressions, e.g.",
        "  count(attendance_rate < 0.9, incidents_term >= 3) >= 2",
        "",
        "Fields (one value per student):",
    ]
    lines += table([(n, kinds[s.kind], s.doc) for n, s in sorted(vocab.fields.items())]) or [
        "  (none)"
    ]
    lines += ["", f"Windowed functions (n = whole number of weeks, 1 to {vocab.max_window}):"]
    lines += table(
        [(f"{n}(n)", kinds[s.kind], s.doc) for n, s in sorted(vocab.windows.items())]
    ) or ["  (none)"]
    lines += ["", "Parameters (scenario thresholds; experiment variants may change them):"]
    lines += table(
        [(n, kinds[_kind_of_parameter(v)], f"= {v!r}") for n, v in sorted(vocab.parameters.items())]
    ) or ["  (none)"]
    lines += ["", "Functions:"]
    lines += [f"  {doc}" for doc in BUILTIN_FUNCTIONS.values()]
    lines += [
        "",
        "Operators: or, and, not (lowest to highest), then < <= > >= == != (chainable,",
        "  e.g. 0.8 <= attendance_rate < 0.9), then + -, then * /, then unary -; parentheses.",
        "Constants: numbers, true, false. Other rules of the scenario may be used by name.",
        "Missing values (NaN): comparisons with NaN are false (!= is true), arithmetic gives NaN;",
        "  so 'reading_gap < -24' does not flag a student with no reading test yet.",
        "Dividing by a constant 0 (or by parameters that are 0: '1 / k' with k: 0) is an",
        "  error; a division by a value that is 0 for a student gives inf or NaN there.",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Scores (numeric expressions): workflow priorities


def parse_score(
    name: str,
    text: str,
    vocab: Vocabulary,
    *,
    rules: Mapping[str, Rule] | None = None,
    invalid: Set[str] = frozenset(),
) -> Rule:
    """Parse a numeric expression (e.g. a workflow's priority ``-reading_gap``) with the rule
    language; ``evaluate`` then returns float64 numbers (NaN where inputs are missing), not
    true/false. A score may use rules (``rules=``) but rules cannot refer to a score.
    ``invalid``: as for :func:`parse_rule`."""
    known = dict(rules or {})
    try:
        parsed = _compile(name, text, vocab, known, kind="number", referable=False,
                          invalid=invalid)
    except _Problem as problem:
        raise RuleError(f"score {name!r}: {problem}") from None
    return Rule(parsed, known)
