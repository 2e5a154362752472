"""One exception family so the CLI can turn every user mistake into a clear message and exit 2."""

from __future__ import annotations

#: the longest line the CLI prints of an error (:func:`srmsim.cli.short_message` wraps longer
#: ones between words), so a hint that must be followed word for word is written to fit
MAX_LINE = 300


class SrmsimError(Exception):
    """Base class: a problem with the user's input, reported without a traceback."""

    exit_code = 2


class ScenarioError(SrmsimError):
    """A scenario or experiment file is missing, malformed or invalid.

    The message always names the file, the key path (``population.fsm_rate``) and what is wrong.
    """

    def __init__(self, source: str, problems: list[tuple[str, str]] | str):
        if isinstance(problems, str):
            problems = [("", problems)]
        self.source = source
        self.problems = problems
        lines = [f"{source}: invalid" if len(problems) > 1 else f"{source}:"]
        for path, what in problems:
            lines.append(f"  {path}: {what}" if path else f"  {what}")
        msg = "\n".join(lines)
        if len(problems) == 1:
            path, what = problems[0]
            one = f"{source}: {path}: {what}" if path else f"{source}: {what}"
            # the CLI wraps a line past MAX_LINE: a problem too long to share a line with the
            # file's path goes on a line of its own, read whole rather than broken after the
            # path (an invalid variant name's rule was cut at "(it may become a folder na...")
            msg = one if len(one) <= MAX_LINE else msg
        super().__init__(msg)


class RuleError(SrmsimError):
    """A risk rule that cannot be parsed or uses something that is not allowed."""


class DataError(SrmsimError):
    """Input data (a school's export, a results file) that srmsim cannot use."""


class EstimationError(SrmsimError):
    """A statistical fit that failed or is unsound: raised instead of returning a wrong number."""
