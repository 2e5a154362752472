"""``srmsim rules``: what a risk rule may use (fields, windows, functions), and the actions."""

from __future__ import annotations

import argparse

#: the units of `srmsim rules --actions`' columns (the table alone printed bare numbers)
ACTION_UNITS = """
Weeks: length of a course; Take-up: share of the students offered it who take it up;
Staff minutes a week: a student's staff minutes a week, by role; Cost: £ a student a week.
Effect: over a full course, attainment in SD and reading in months of reading age; while it runs
  (fading after), absence as a shift of the weekly absence logit (negative helps), engagement and
  wellbeing in SD, incidents as a shift of the log rate of behaviour incidents.
Sources: docs/policies.md and srmsim/policy/actions.py."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rules", help="list the profile fields, windows and functions rules use")
    p.add_argument("--actions", action="store_true", help="list the built-in action catalogue")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.actions:
        from srmsim.experiment.compare import text_table
        from srmsim.policy.actions import catalogue_display

        table = catalogue_display()
        print(text_table(table, right={"Weeks", "Take-up", "Cost a week, per student"}))
        print(ACTION_UNITS)
        return 0
    from srmsim.policy.compiled import POOL_FIELDS
    from srmsim.policy.profile import vocabulary
    from srmsim.policy.rules import describe_vocabulary

    print(describe_vocabulary(vocabulary(extra_fields=POOL_FIELDS)))
    return 0
