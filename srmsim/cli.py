"""The ``srmsim`` command. Each sub-command lives in its own module under ``srmsim.commands``.

A module there registers itself with ``register(subparsers)`` and sets ``func`` on its parser;
``func(args)`` returns an exit status. User errors (:class:`srmsim.errors.SrmsimError`) print one
clear message on stderr and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from srmsim import __version__
from srmsim.errors import SrmsimError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SrmsimError as err:
        print(f"srmsim: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("srmsim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
