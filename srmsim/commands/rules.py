"""``srmsim rules``: what a risk rule may use (fields, windows, functions), and the actions."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rules", help="list the profile fields, windows and functions rules use")
    p.add_argument("--actions", action="store_true", help="list the built-in action catalogue")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.actions:
        from srmsim.policy.actions import catalogue_table

        print(catalogue_table().drop(columns="source").to_string(index=False))
        return 0
    from srmsim.policy.compiled import POOL_FIELDS
    from srmsim.policy.profile import vocabulary
    from srmsim.policy.rules import describe_vocabulary

    print(describe_vocabulary(vocabulary(extra_fields=POOL_FIELDS)))
    return 0
