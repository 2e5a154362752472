"""The ``srmsim`` command. Each sub-command lives in its own module under ``srmsim.commands``.

A module there registers itself with ``register(subparsers)`` and sets ``func`` on its parser;
``func(args)`` returns an exit status. User errors (:class:`srmsim.errors.SrmsimError`) print one
clear message on stderr and exit with status 2, never a traceback.
"""

from __future__ import annotations

import _thread
import argparse
import contextlib
import functools
import importlib
import os
import pkgutil
import sys
from collections.abc import Iterator
from typing import Any, NoReturn

from srmsim import __version__
from srmsim.errors import MAX_LINE, SrmsimError
from srmsim.memory import keep_freed_memory


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose errors (a value of the wrong type, a choice not offered) quote
    the value cut as srmsim's own errors are: a 3,000-character ``--threads`` was echoed whole.
    Sub-commands' parsers are of this class too (``add_subparsers`` makes its parent's)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {short_message(message)}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="srmsim",
        description="Simulate and evaluate student-intervention policies in schools and trusts.",
    )
    parser.add_argument("--version", action="version", version=f"srmsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    import srmsim.commands as commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"srmsim.commands.{info.name}")
        module.register(sub)
    return parser


@functools.cache
def _parser() -> argparse.ArgumentParser:
    """The parser ``main`` uses, built once a process: a caller that runs several commands in
    one process (a notebook, the tests) rebuilt every sub-command's options each time."""
    return build_parser()


def main(argv: list[str] | None = None) -> int:
    # before the claim below: a Ctrl-C landing inside numpy's import (which this loads) came out
    # as numpy's ImportError, not a KeyboardInterrupt, and its traceback; here, before any
    # folder is made, it is an interrupted import as in any Python program
    keep_freed_memory()  # a big run's cost is fresh pages: see srmsim.memory
    _printable_anywhere()
    try:
        with _experiment_out_claimed(sys.argv[1:] if argv is None else argv):
            status = _main(argv)
            if status != 0:  # refused or interrupted: a folder the claim made goes
                raise _Ended(status)
        return status
    except _Ended as ended:
        return ended.status
    except KeyboardInterrupt:  # while srmsim's modules were imported (building the parser)
        # (was a traceback of the import it landed in, and the exit status of a SIGINT)
        print("srmsim: interrupted", file=sys.stderr)
        return 130


class _Ended(Exception):
    """A command's non-zero exit status, carried out of :func:`_experiment_out_claimed`."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


def _experiment_out(argv: list[str]) -> str | None:
    """The ``--out`` folder of ``srmsim experiment ... --out DIR`` (None for another command,
    no --out, or one its parser would refuse: :func:`srmsim.argtypes.out_argument`), read before the parser
    is built: building it imports every command's modules (1-4 s)."""
    if not argv or argv[0] != "experiment" or {"-h", "--help"} & set(argv):
        return None

    class Peek(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            raise ValueError(message)

    from srmsim.argtypes import out_argument

    peek = Peek(add_help=False, exit_on_error=False)
    # the command's own check of --out: a name it refuses (empty, unprintable, one Windows
    # cannot hold) is not made here (the claim made aux/ of `--out aux/new`, and the command
    # then took it as a folder of the user's that was already there)
    peek.add_argument("--out", type=out_argument)
    peek.add_argument("--resume", action="store_true")
    try:
        known = peek.parse_known_args(argv[1:])[0]
    except (ValueError, argparse.ArgumentError):
        return None
    out = known.out
    if known.resume and isinstance(out, str) and not os.path.lexists(out):
        return None  # not made: the command refuses to resume a folder that is not there
    return out if isinstance(out, str) else None


@contextlib.contextmanager
def _experiment_out_claimed(argv: list[str]) -> Iterator[None]:
    """``srmsim experiment FILE --out DIR`` holds DIR's lock (:func:`srmsim.outputs.folder_lock`)
    from its first moment: for the seconds it spent importing its modules nothing was on disk,
    and a ``srmsim compare DIR`` or ``report`` meanwhile said "no such folder" rather than that
    an experiment is starting there. The command takes the same lock again (nested, shared);
    where this claim cannot be had (in use, a link, a file) the command's own says why. An
    exception out of the block (a refusal, a Ctrl-C) removes the folders the lock made; a
    kill -9 leaves its lock file unheld, which the next command takes over."""
    out = _experiment_out(list(argv))
    if out is None:
        yield
        return
    from pathlib import Path

    from srmsim.outputs import folder_lock

    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(folder_lock(Path(out)))
        except Exception:  # noqa: BLE001 - the command's own lock refuses it by name
            pass
        yield


def _main(argv: list[str] | None) -> int:
    """:func:`main` once the folder of ``srmsim experiment --out DIR`` is claimed."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with _interrupts_kept():
            status = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below
        return status
    except BrokenPipeError:
        # `srmsim rules | head`: the reader has gone; stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except SrmsimError as err:
        print(f"srmsim: error: {short_message(str(err))}", file=sys.stderr)
        return err.exit_code
    except OSError as err:  # writing outputs: a full disk, no permission, a vanished folder
        print("srmsim: error: " + short_message(f"{_os_error(err)} (nothing half-written is "
                                                "left)"), file=sys.stderr)
        return 2
    except RuntimeError as err:  # Path.resolve() on a symbolic-link loop, Python 3.11 and 3.12
        if not str(err).startswith("Symlink loop from "):
            raise
        where = str(err).removeprefix("Symlink loop from ").strip("'")
        print(f"srmsim: error: {where}: symbolic links that form a loop", file=sys.stderr)
        return 2
    except MemoryError:  # past the estimates srmsim checks before the work
        print(f"srmsim: error: out of memory in 'srmsim {args.command}' (nothing "
              f"half-written is left): {_OUT_OF_MEMORY_HINTS.get(args.command, _SMALLER)}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("srmsim: interrupted", file=sys.stderr)
        return 130


def _os_error(err: OSError) -> str:
    """An OS error in the user's words: a file where a folder is needed said so (``--out
    notes.txt/r.html`` said "notes.txt: File exists"). (A file written through a temporary is
    named by :func:`srmsim.outputs.write_atomic` as the file, not the temporary.)"""
    import errno
    from pathlib import Path

    if not err.filename:
        return str(err.strerror or err)
    name = Path(os.fsdecode(err.filename))
    if err.errno in (errno.EEXIST, errno.ENOTDIR) and not name.is_dir():
        # the first file on the way that is not a folder
        file = next((p for p in reversed([name, *name.parents])
                     if p.exists() and not p.is_dir()), None)
        if file is not None:
            return f"{name}: {'' if file == name else f'{file} '}is a file, not a folder"
    return f"{name}: {err.strerror or err}"


@contextlib.contextmanager
def _interrupts_kept() -> Iterator[None]:
    """Ctrl-C stops the command even when it lands in a finaliser or a weak reference's
    callback (SQLAlchemy's, in a search's study): Python prints "Exception ignored" there and
    goes on, and the command ran to its end. The interrupt is raised again in the main thread,
    from a timer: raised at once it would land in this hook, and be ignored there too (one
    that lands in another finaliser comes back here; one still pending when the command ends is
    raised then, never in what the caller does next)."""
    import threading

    previous = sys.unraisablehook
    lock = threading.Lock()
    state = {"asked": 0, "raised": 0, "ended": False}

    def interrupt() -> None:
        with lock:  # once the command has ended, it raises what is left itself
            if not state["ended"]:
                state["raised"] += 1
                _thread.interrupt_main()

    def hook(unraisable: Any) -> None:
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
            with lock:
                state["asked"] += 1
            timer = threading.Timer(0.05, interrupt)
            timer.daemon = True
            timer.start()
        else:
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous
        with lock:
            state["ended"] = True
            pending = state["raised"] < state["asked"]
    if pending:
        raise KeyboardInterrupt


_SMALLER = "give it less to do (fewer schools or students, years, replications or --workers)"
#: what to make smaller when a command runs out of memory past srmsim's own estimates
_OUT_OF_MEMORY_HINTS = {
    "run": "use fewer schools or students, outputs.history: none, or fewer request-stream "
           "steps, reworks or arrivals",
    "data": "export fewer rows at a time (a term, or a group of schools)",
    "thresholds": "give fewer rows, fewer --thresholds or --by groups (a table row for each "
                  "group and threshold), or a smaller --n-boot",
}


def _printable_anywhere() -> None:
    """A terminal or pipe whose encoding lacks a character srmsim prints (an ASCII locale:
    LC_ALL=C with PYTHONUTF8=0 and no locale coercion) shows it as '?', rather than the
    command failing with UnicodeEncodeError after its files were written (the en dash of an
    effects table)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)  # absent on a replaced stream
        try:
            "£–×".encode(stream.encoding)
        except (UnicodeEncodeError, LookupError, TypeError):
            if reconfigure is not None:
                reconfigure(errors="replace")


def short_message(text: str, max_lines: int = 12, max_line: int = MAX_LINE) -> str:
    """An error message kept to a readable size: never the whole of a hostile input, and never
    a control character from one (an id's ``\x1b[2J`` would clear the terminal).

    A line longer than ``max_line`` is wrapped at word boundaries, its continuation indented
    under it, not cut: a cut lost the line's end, often what to do (a long temporary path, a
    list of valid choices). The message keeps a bound of about ``max_lines`` x ``max_line``
    characters: a line past its share is shortened in the middle (its start and end kept),
    and a word too long for a line (a 1 MB key name) likewise, with an ellipsis."""
    from srmsim.labels import (  # here: pydantic, which labels loads, is slow to load
        plural,
        printable,
    )

    lines = [printable(ln) for ln in text.splitlines()] or [""]
    kept, rest = lines[:max_lines], lines[max_lines:]
    share = max(max_line, max_lines * max_line // len(kept))  # each kept line's characters
    out = [wrapped for ln in kept for wrapped in _wrapped(ln, max_line, share)]
    if rest:  # a problem's continuation lines (indented further, a list of names) are its own
        more = sum(not ln.startswith("    ") for ln in rest)
        out.append(f"  ... and {plural(more, 'more problem')}" if more else "  ...")
    return "\n".join(out)


def _wrapped(line: str, width: int, most: int) -> list[str]:
    """``line`` as lines of at most ``width`` characters, broken between words (a path or
    command is never split), continuations indented two spaces under it; a word longer than
    a line, and a line longer than ``most`` characters, shortened in the middle."""
    import textwrap

    if len(line) <= width:
        return [line]
    text = line.lstrip(" ")
    lead = " " * min(len(line) - len(text), 12)  # a deeper indent (hostile) is not kept
    line, indent = lead + text, lead + "  "
    room = width - len(indent)
    words = [w if len(w) <= room else _middle_cut(w, room, "...") for w in line.split(" ")]
    line = _middle_cut(" ".join(words), most)
    return textwrap.wrap(line, width, subsequent_indent=indent, break_long_words=False,
                         break_on_hyphens=False) or [line[:width]]


def _middle_cut(text: str, limit: int, gap: str = "") -> str:
    """``text`` in at most about ``limit`` characters: its start and end, joined by ``gap``
    (by default an ellipsis that says how much is left out); cut between words where a space
    is near."""
    if len(text) <= limit:
        return text
    room = max(limit - len(gap or " ... (1,000,000,000 characters left out) ... "), 2)
    head, tail = text[:room * 2 // 3], text[len(text) - (room - room * 2 // 3):]
    near = max(8, room // 10)  # how far back a word's end may be looked for
    space = head.rfind(" ", len(head) - near)
    head = head[:space] if space > 0 else head
    space = tail.find(" ", 0, near)
    tail = tail[space + 1:] if space >= 0 else tail
    left_out = len(text) - len(head) - len(tail)
    return head + (gap or f" ... ({left_out:,} characters left out) ... ") + tail

if __name__ == "__main__":
    sys.exit(main())
