"""``srmsim examples DIR``: copy the shipped scenarios, experiments, notebooks and data out."""

from __future__ import annotations

import argparse
import shlex

from srmsim.argtypes import path_argument
from srmsim.labels import plural


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("examples", help="copy the shipped scenarios, experiments, notebooks and "
                       "sample data into a folder")
    p.add_argument("dir", type=path_argument,
                   help="folder to copy them into (created; existing files are never "
                   "overwritten)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from srmsim.examples import FOLDERS, copy_examples

    written = copy_examples(args.dir)
    # the folder quoted for a shell: "cd my examples && ..." failed when pasted (and a name
    # holding ';' or '$(...)' ran as a command)
    print(f"copied {plural(len(written), 'file')} into {args.dir}/ ({', '.join(FOLDERS)}); try:\n"
          f"  cd {shlex.quote(args.dir)} && srmsim experiment experiments/quickstart.yaml")
    return 0
