"""Names and numbers every srmsim input file shares: one definition, used by every config model.

Names (scenario, experiment, trial, variant, arm, rule, workflow, action, staff role, parameter)
are labels, and some become folder or file names (``out/<scenario>``, ``runs/<variant>/``), so
they are restricted to a safe character set: a letter or digit first, then letters, digits,
``_``, ``.`` or ``-``, at most 64 characters. That excludes ``.``, ``..``, ``a/b``, absolute
paths, drive letters, spaces and control characters: a name can never leave the output folder.
Projects are shared across machines, so a name Windows cannot use as a folder is refused too:
the device names (``CON``, ``PRN``, ``AUX``, ``NUL``, ``COM0``-``COM9``, ``LPT0``-``LPT9``, in
any case, also with an extension: ``nul.txt``) and a name ending in a dot (Windows drops it,
so ``run.`` would be the folder ``run``).

Numbers: every config model derives from :class:`StrictModel`, which rejects NaN and +-inf in
every float field (``allow_inf_nan=False``), so a non-finite value never reaches a run, and is
strict: ``replications: true`` or ``seed: "7"`` are mistakes to report, not a 1 and a 7.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from typing import Annotated, Any, SupportsInt

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidatorFunctionWrapHandler,
    field_validator,
)

LABEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_LABEL = re.compile(LABEL_PATTERN)
LABEL_RULE = ("a name of 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit, "
              "not ending in '.' and not a Windows device name such as CON or NUL "
              "(it may become a folder name)")
#: names Windows reserves for devices, whatever the case and extension (``NUL``, ``com1.txt``;
#: ``COM¹`` and ``CONIN$`` too, which no label can spell but a folder name can)
_WINDOWS_DEVICE = re.compile(r"(?:CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³]|CONIN\$|CONOUT\$)"
                             r"(?:\..*)?", re.IGNORECASE)


def cut(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was: reports and messages never
    echo whole inputs (a 20 MB row, a 50,000-character id)."""
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)"


def excerpt(value: object, limit: int = 60) -> str:
    """``repr`` of a value cut to ``limit`` characters: error messages never echo whole inputs.
    A long text is quoted cut, with its own length (not its quoted ``repr``'s)."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}... ({len(value):,} characters)"
    try:
        text = repr(value)
    except ValueError:  # an int past Python's 4,300-digit limit (YAML's 0x followed by 10,000 f)
        if isinstance(value, int):
            return f"a whole number of about {len(format(abs(value), 'x')) * 1.2041:,.0f} digits"
        return f"a {type(value).__name__} holding a number too long to show"
    return cut(text, limit)


#: what identifies a pupil in a cell: a date (of birth), a long run of digits (a UPN, an
#: admission or phone number), a UK postcode
_DATE = r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}(?:[ T].*)?"
_DIGITS = r".*\d{6,}.*"
_POSTCODE = r"[A-Za-z]{1,2}\d[A-Za-z\d]?\s*\d[A-Za-z]{2}"
#: a header cell that is a value, not a column name: a number, or one of the above
_VALUE_LIKE = re.compile(rf"\s*(?:[-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?%?"
                         rf"|{_DATE}|{_DIGITS}|{_POSTCODE})\s*")
HEADER_OF_VALUES = ("not shown: the first row holds numbers, dates or ids where column names go "
                    "(a file without a header row?)")


def header_holds_values(names: Iterable[object]) -> bool:
    """Whether a file's column names include a value (:data:`_VALUE_LIKE`): a file exported
    without its header row, whose first row of data pandas or the reader took for the names.
    Why: listing the columns then printed one pupil's UPN, name and date of birth."""
    return any(isinstance(n, str) and _VALUE_LIKE.fullmatch(n) for n in names)


#: a cell of a plain data field (a year group, a sex, a score) that holds what identifies a
#: pupil instead, as in an export whose columns shifted: one of the above (a postcode anywhere
#: in it), two words (a name, an address), an e-mail
_MAY_IDENTIFY = re.compile(rf"\s*(?:{_DATE}|{_DIGITS}|.*{_POSTCODE}.*"
                           rf"|.*[^\W\d_]{{2,}}\s+[^\W\d_]{{2,}}.*|.*@.*)\s*", re.DOTALL)


def value_may_identify(value: object) -> bool:
    """Whether a cell's text may identify a pupil whatever its column says
    (:data:`_MAY_IDENTIFY`, or longer than 24 characters): such a value is not echoed in a
    message or a reject report. Why: a shifted export put a date of birth in year_group and a
    name in sex, and the errors quoted them as the plain data those fields hold."""
    text = str(value)
    return len(text) > 24 or _MAY_IDENTIFY.fullmatch(text) is not None


def column_names(names: Iterable[object], limit: int = 20) -> str:
    """A file's column names for a message, at most ``limit`` (each cut), or
    :data:`HEADER_OF_VALUES` when they include a value (:func:`header_holds_values`)."""
    names = list(names)
    if header_holds_values(names):
        return f"({HEADER_OF_VALUES})"
    more = f" and {len(names) - limit:,} more" if len(names) > limit else ""
    return ", ".join(cut(printable(str(n)), 60) for n in names[:limit]) + more


def agree(n: SupportsInt, one: str, many: str | None = None) -> str:
    """The word for ``n`` things: ``one`` when ``n`` is 1, else ``many`` (default ``one + "s"``).
    Also for verbs: ``agree(n, "has", "have")``. Printed text says "1 school" and "3 schools",
    never "school(s)" or "1 schools"."""
    return one if int(n) == 1 else (many if many is not None else one + "s")


def with_article(word: str) -> str:
    """``word`` after ``a`` or ``an`` by its first letter (``an optimisation``, ``a run``):
    messages built from a kind printed "it holds a optimise"."""
    return f"{'an' if word[:1].lower() in ('a', 'e', 'i', 'o', 'u') else 'a'} {word}"


def plural(n: SupportsInt, one: str, many: str | None = None) -> str:
    """``n`` and the word for ``n`` things: ``"1 school"``, ``"2,400 students"``, ``"0 runs"``."""
    return f"{int(n):,} {agree(int(n), one, many)}"


def over_replications(used: SupportsInt, total: SupportsInt) -> str:
    """``"over 5 of 8 replications"``: a figure over the replications with a finite value says
    how many of them it had (the others, with no served student or no estimate, are left out)."""
    return f"over {int(used):,} of {plural(total, 'replication')}"


def percent(x: float | None, decimals: int = 1) -> str:
    """A share as a percentage (``0.173`` -> ``17.3%``) for readers of a report; a missing or
    non-finite value as ``n/a``."""
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:.{decimals}%}"


def percent_level(level: float) -> str:
    """An interval's level as people write it: 0.95 -> ``95%``, 0.995 -> ``99.5%``."""
    return f"{100 * level:g}%"


def percent_of_runs(x: float | None, decimals: int = 0) -> str:
    """A share of simulated runs or replications as a percentage that reads ``0%`` or ``100%``
    only when it is exactly so: a rare event is ``<1%`` and a near-certain one ``>99%`` (at 0
    decimals; ``<0.1%`` and ``>99.9%`` at 1). Not for shares of records: those print with
    :func:`percent`, whose rounding the privacy checks assume."""
    if x is None or not math.isfinite(x):
        return "n/a"
    text = f"{x:.{decimals}%}"
    step = f"{10.0 ** -decimals:.{decimals}f}"
    if x > 0 and float(text[:-1]) == 0:
        return f"<{step}%"
    if x < 1 and float(text[:-1]) == 100:
        return f">{100 - float(step):.{decimals}f}%"
    return text


def rounded(value: float, spec: str) -> str:
    """``value`` formatted with ``spec`` (``".2f"``, ``".3g"``), never as a negative zero: an
    index of -0.0004 prints ``0.00``, not ``-0.00`` (which reads as a real negative value)."""
    text = format(value, spec)
    digits = [c for c in text.split("e")[0] if c.isdigit()]  # "-inf" has none: kept
    if text.startswith("-") and digits and set(digits) == {"0"}:
        return text[1:]
    return text


def significant(x: float, digits: int = 3) -> str:
    """``x`` to ``digits`` significant figures as a reader writes it: ``1,310`` and ``0.0123``,
    not the ``1.31e+03`` of a ``.3g`` format (which turns to an exponent from 1,000 at three
    figures); an exponent only beyond 10^15 or below 10^-4, where the figure needs one."""
    if not math.isfinite(x):
        return str(x)
    r = float(format(x, f".{digits}g"))
    if r != 0 and not 1e-4 <= abs(r) < 1e15:
        return rounded(r, f".{digits}g")
    # 15 digits, the most every such float keeps exactly: at 16, 0.815 printed as
    # 0.8149999999999999 (the float nearest 0.815 is a hair below it)
    return rounded(r, ",.15g")


def plain_number(value: float, digits: int = 4) -> str:
    """A number as a reader writes it: a whole one in full (``12,345``: a count is exact), any
    other to ``digits`` :func:`significant` figures (``0.9125``, ``1,235``)."""
    v = float(value)
    return f"{int(v):,}" if v.is_integer() and abs(v) < 1e15 else significant(v, digits)


def given_percent(x: float | None) -> str:
    """A share a user set (``share_treated``, a significance level) as a percentage with the
    digits it was given: 0.5 -> ``50%``, 0.975 -> ``97.5%`` (:func:`percent` rounds to fixed
    decimals, and 0.975 at 0 decimals, ``98%``, names another level)."""
    if x is None or not math.isfinite(x):
        return "n/a"
    text = f"{100 * x:.6g}"
    if text == "100" and x != 1:  # 1 - 1e-10 (a trial's alpha 1e-10) read "the 100% CI"
        from decimal import Decimal

        text = format((Decimal(repr(float(x))) * 100).normalize(), "f")
    return f"{text}%"


def p_text(p: float | None, decimals: int = 4) -> str:
    """A p-value to ``decimals`` places, one too small to show as ``<0.0001`` (at 4): the
    estimators' tables printed p = 3e-12 as ``0.0000``, read as a p-value of exactly zero."""
    if p is None or not math.isfinite(p):
        return "NaN"
    if p < 0.5 * 10.0 ** -decimals:  # what would round to 0 at these decimals
        return f"<{10.0 ** -decimals:.{decimals}f}"
    return f"{p:.{decimals}f}"


def points(gap: float | None, decimals: int = 1) -> str:
    """A gap between two shares in percentage points (``0.012`` -> ``1.2 pp``), the unit that
    goes with :func:`percent`; a gap that rounds to zero is ``0.0 pp``, never ``-0.0 pp``."""
    if gap is None or not math.isfinite(gap):
        return "n/a"
    return f"{rounded(gap * 100, f'.{decimals}f')} pp"


#: the unit of a scenario key a search or a table varies, by the key's pattern (first match;
#: ``*`` is any text): the optimisation's lever columns read
#: "pastoral 1,035.4" and "cooldown_weeks 5" with nothing to say minutes a week or weeks
KEY_UNITS: tuple[tuple[str, str], ...] = (
    ("policy.staff.school.*", "minutes a week per school"),
    ("policy.staff.per_school.*.*", "minutes a week in that school"),
    ("policy.staff.pool.*", "minutes a week, trust pool"),
    ("policy.actions.*.staff_minutes.*", "minutes a week per student"),
    ("policy.actions.*.take_up", "share taking it up, 0-1"),
    ("policy.actions.*.cost_per_week", "£ a week per student"),
    ("policy.actions.*.effect.reading", "months of reading age"),
    ("policy.actions.*.effect.attainment", "SD"),
    ("policy.actions.*.effect.engagement", "SD"),
    ("policy.actions.*.effect.wellbeing", "SD"),
    ("policy.actions.*.effect.absence", "shift of the absence log-odds"),
    ("policy.actions.*.effect.incidents", "shift of the log incident rate"),
    ("trust.n_schools", "schools"),
    ("trust.students_per_year_group", "students"),
    ("*weeks", "weeks"),
)

#: the unit of a policy parameter by what the rules compare it with (the dashboard's
#: :func:`srmsim.dashboard.settings.parameter_meanings`)
PARAMETER_UNITS = {"share": "share, 0-1", "whole": "count", "weeks": "weeks"}


def key_unit(key: str, parameter_meaning: str | None = None) -> str:
    """The unit of the scenario key ``key`` (:data:`KEY_UNITS`), ``""`` when none is known; a
    policy parameter's from ``parameter_meaning`` (``share``, ``whole`` or ``weeks``: how the
    rules use it), since its name alone does not say whether 0.9 is a rate or a count."""
    if key.startswith("policy.parameters."):
        return PARAMETER_UNITS.get(parameter_meaning or "", "")
    for pattern, unit in KEY_UNITS:
        if re.fullmatch(re.escape(pattern).replace(r"\*", ".+"), key):
            return unit
    return ""


def yes_no(value: object) -> str:
    """A yes/no value as ``yes`` / ``no``, not Python's ``True`` / ``False`` (also when a table
    holds them as the text ``"True"`` / ``"False"``); anything else as its text."""
    return {"True": "yes", "False": "no"}.get(str(value), str(value))


def setting(value: float | bool) -> str:
    """A policy parameter's value as a reader writes it: a switch as ``yes`` / ``no``, a number
    to 6 significant digits with thousands separators (``0.9``, ``-24``, ``1,000,000``), never
    Python's ``True`` or ``1e+06``."""
    if isinstance(value, bool):
        return yes_no(value)
    v = float(value)
    if v == int(v) and abs(v) < 1e15:
        return f"{int(v):,}"
    return f"{v:,.6g}"


#: Characters no identifier holds: C0 and C1 controls, DEL, Unicode line and paragraph
#: separators, and the bidirectional controls that reorder text on screen. In an id they would
#: end a line of a report or CSV early, drive a terminal (``\x1b[2J``) or disguise one id as
#: another; they are never part of a real one.
_CONTROLS = "\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
CONTROL_PATTERN = f"[{_CONTROLS}]"
_CONTROL = re.compile(CONTROL_PATTERN)


def control_character(text: str) -> str | None:
    """The first control character in ``text`` as ``U+XXXX`` (to name it without printing
    it), or ``None`` when there is none."""
    found = _CONTROL.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


def check_one_line(text: str) -> str:
    """Return ``text``, a name shown on one line (a trust's name), if it holds no control
    character, else raise ValueError naming it. Why: ``\x1b[2J`` in a name cleared the terminal
    `srmsim run` printed to, a NUL or newline broke the report's and the tables' lines."""
    bad = control_character(text)
    if bad:
        raise ValueError(f"holds the control character {bad}; write it as one line of plain "
                         "text")
    return text


#: what free text (a description) may not hold: the control characters but tab and line breaks,
#: which a YAML block of several lines has
_PROSE_CONTROL = re.compile(rf"(?![\t\n\r]){CONTROL_PATTERN}")


def check_prose(text: str) -> str:
    """Return ``text``, free text of lines (a description), if it holds no control character
    other than tabs and line breaks, else raise ValueError naming it (an ANSI escape drove the
    terminal, a NUL cut the report's text short)."""
    found = _PROSE_CONTROL.search(text)
    if found:
        raise ValueError(f"holds the control character U+{ord(found.group()):04X}; write "
                         "plain text (lines and tabs are kept)")
    return text


OneLine = Annotated[str, AfterValidator(check_one_line)]
"""A name shown on one line: no control character (:func:`check_one_line`)."""
Prose = Annotated[str, AfterValidator(check_prose)]
"""Free text such as a description: no control character but tabs and line breaks."""


def file_name_problem(name: str) -> str | None:
    """What makes ``name`` no file name (empty, or a control character: a NUL made path
    resolution crash), or ``None``; checked where a scenario names an input file."""
    if not name.strip():
        return "a file name cannot be empty"
    bad = control_character(name)
    return None if bad is None else f"the file name holds the control character {bad}"


def check_file_name(name: str) -> str:
    """Return ``name`` if :func:`file_name_problem` finds nothing, else raise ValueError."""
    problem = file_name_problem(name)
    if problem:
        raise ValueError(problem)
    return name


FileName = Annotated[str, AfterValidator(check_file_name)]
"""A file a config names (an experiment's ``scenario``): not empty, no control character (a
NUL made ``Path.resolve`` raise ValueError, a traceback)."""


#: The invisible characters: Unicode's default-ignorable code points (DerivedCoreProperties:
#: the soft hyphen U+00AD, the combining grapheme joiner U+034F, the Hangul fillers, Khmer
#: inherent vowels U+17B4-U+17B5, Mongolian and other variation selectors, zero-width space and
#: joiners U+200B-U+200D, word joiner and invisible operators U+2060-U+206F, the byte-order mark
#: U+FEFF, the tag characters U+E0000-U+E0FFF) and the other format characters (category Cf:
#: Arabic number signs, interlinear annotation marks, Egyptian hieroglyph format controls).
#: ``S01`` and ``S01`` + U+E0041 were two schools that printed alike.
_INVISIBLE = ("\u00ad\u034f\u0600-\u0605\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160"
              "\u17b4\u17b5\u180b-\u180f\u200b-\u200d\u2060-\u206f\u3164\ufe00-\ufe0f"
              "\ufeff\uffa0\ufff0-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
              "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff")
#: What no identifier (a student or school id) holds: the control characters and the invisible
#: ones, with which ``S1`` and ``S1\u200b`` were two schools that print alike.
IDENTIFIER_FORBIDDEN_PATTERN = f"[{_CONTROLS}{_INVISIBLE}]"
#: What printed text writes as escapes: the same characters, which make two different names
#: look alike in a table and push its columns out of line.
_UNSHOWN = re.compile(IDENTIFIER_FORBIDDEN_PATTERN)


def identifier_character(text: str) -> str | None:
    """The first control or invisible character in ``text`` as ``U+XXXX`` (named, never
    printed), or ``None``: what an identifier may not hold."""
    found = _UNSHOWN.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


def printable(text: str) -> str:
    """``text`` with each control or invisible character written as its escape (``\\x1b``,
    ``\\n``, ``\\u200b``): a report printed to a terminal is never driven by, or cut short
    by, the data it quotes, and what it shows is what the data holds."""
    return _UNSHOWN.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


#: line breaks and tabs are spaces on a page anyway (HTML collapses them)
_SPACES = str.maketrans({"\n": " ", "\r": " ", "\t": " "})


def page_text(text: str) -> str:
    """``text`` for a web page (a report, the dashboard): line breaks and tabs as spaces, every
    other control, bidirectional or invisible character as its escape (:func:`printable`)."""
    return printable(text.translate(_SPACES))


def windows_name_problem(name: str) -> str | None:
    """Why Windows could not hold a folder or file named ``name``, or ``None`` (a label's
    check, and the folders `srmsim examples` makes, which are copied between machines)."""
    if _WINDOWS_DEVICE.fullmatch(name):
        return f"Windows reserves {name.split('.')[0].upper()} for a device"
    if name.endswith((".", " ")):
        return "Windows drops a final dot or space from a name"
    return None


def is_label(name: object) -> bool:
    return (isinstance(name, str) and _LABEL.fullmatch(name) is not None
            and windows_name_problem(name) is None)


def check_label(name: object) -> str:
    """Return ``name`` if it is a safe label, else raise ValueError saying what a label is."""
    if not is_label(name):
        # Windows' reason only for a name otherwise allowed: '..' was "not a valid name
        # (Windows drops a final dot or space from a folder name)", as if that were all
        why = (windows_name_problem(name) if isinstance(name, str) and _LABEL.fullmatch(name)
               else None)
        raise ValueError(f"{excerpt(name)} is not a valid name"
                         f"{f' ({why})' if why else ''}: use {LABEL_RULE}")
    return name  # type: ignore[return-value]


Label = Annotated[str, AfterValidator(check_label)]
"""A validated name (see the module docstring)."""


def check_room_for(name: str, suffixes: tuple[str, ...]) -> str:
    """Return the label ``name`` if ``name + suffix`` is a label too for every suffix, else raise
    ValueError: a command that writes a file named after the user's name plus a suffix
    (``<name>_calibrated``, ``<name>_front``) checks it before its work, not after it."""
    for suffix in suffixes:
        if not is_label(name + suffix):
            longest = 64 - max(map(len, suffixes))
            shown = name if len(name) <= 12 else name[:8] + "..."
            raise ValueError(f"at most {longest} characters (got {len(name)}): it names a "
                             f"result {shown}{suffix}, which must be a valid name too")
    return name


def folded(name: str) -> str:
    """The form of a name that case and look-alike characters do not change: NFKC, then
    casefold, so ``Base``, ``BASE`` and the full-width ``Ｂａｓｅ`` are all ``base``."""
    return unicodedata.normalize("NFKC", name).casefold()


def look_alikes(names: Iterable[str]) -> list[str]:
    """The names (sorted) that differ from another only in case or by look-alike characters:
    on a case-insensitive file system ``runs/Base`` and ``runs/base`` are one folder, and in a
    table or report two such rows cannot be told apart."""
    names = list(dict.fromkeys(names))
    counts = Counter(folded(n) for n in names)
    return sorted(n for n in names if counts[folded(n)] > 1)


def check_distinct(names: Iterable[str], what: str) -> None:
    """Raise ValueError when two of ``names`` (of ``what``: "variant", "rule") differ only in
    case or by look-alike characters; the one rule for every user-named thing."""
    clash = look_alikes(names)
    if clash:
        raise ValueError(f"{what} names {clash} differ only in case (or by look-alike "
                         "characters); rename one")


FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


def _pair(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


#: ``[low, high]`` (a YAML list) of finite numbers, for the strict models
Range = Annotated[tuple[FiniteFloat, FiniteFloat], BeforeValidator(_pair)]


def rounded_whole(given: object, made: object) -> tuple[str, int, float] | None:
    """Where (``""``, ``"[2]"``, ``"[x]"``) a whole number beyond 2**53 in ``given`` became a
    float of another value in ``made`` (pydantic makes the int 2**53 + 1 the float 2**53, even
    when strict), that number and that float; or ``None``. The YAML reader keeps a whole
    number exact (a seed may be up to 2**63 - 1): only the model knows a float was expected."""
    if isinstance(given, int) and not isinstance(given, bool):
        if isinstance(made, float) and abs(given) > 2**53 and made != given:
            return "", given, made
        return None
    if isinstance(given, list | tuple) and isinstance(made, list | tuple) \
            and len(given) == len(made):
        pairs: Iterable[tuple[object, object, object]] = (
            (i, g, m) for i, (g, m) in enumerate(zip(given, made, strict=True)))
    elif isinstance(given, dict) and isinstance(made, dict):
        pairs = ((k, v, made[k]) for k, v in given.items() if k in made)
    else:
        return None
    for key, g, m in pairs:
        found = rounded_whole(g, m)
        if found is not None:
            return (f"[{excerpt(key)}]{found[0]}", *found[1:])
    return None


class StrictModel(BaseModel):
    """Base of srmsim's config models: unknown keys are errors, floats must be finite, and no
    value is coerced (a boolean or a text is not a number), not even silently rounded."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    @field_validator("*", mode="wrap")
    @classmethod
    def _exact_floats(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """A whole number beyond 2**53 where a float is expected is refused, not rounded to
        the nearest float (9007199254740993 read as 9007199254740992.0)."""
        made = handler(value)
        found = rounded_whole(value, made)
        if found is not None:
            where, given, rounded = found
            raise ValueError(
                f"{excerpt(given)}{f' (at {where})' if where else ''} is beyond 2**53, where a "
                f"float cannot hold every whole number: it would be read as {rounded!r} "
                "without a word; give a number a float holds")
        return made

