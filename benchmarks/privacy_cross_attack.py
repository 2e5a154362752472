"""Play the attacker on many ``data summary`` tables of one dataset at once, over random trusts.

Not a test (it takes about a minute a trust): the search that found the cross-table leaks the
tests in tests/test_privacy_attack.py now pin down. For each seed a small trust of three
schools (one of 1 to 24 pupils) is summarised by every grouping given; the attacker
(``pupil_pattern_attack``) solves all printed counts together for every count under 10.

    python benchmarks/privacy_cross_attack.py --seeds 0:20
    python benchmarks/privacy_cross_attack.py --seeds 9 --by school school,sen fsm,sen
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_privacy_attack import mixed_trust, pupil_pattern_attack  # noqa: E402

GROUPINGS = ["school", "fsm", "sen", "eal", "sex", "year_group", "school,sen", "school,eal",
             "school,fsm", "school,sex", "sex,fsm", "fsm,sen", "year_group,fsm",
             "school,year_group"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0:10", help="one seed or FIRST:STOP (default 0:10)")
    ap.add_argument("--by", nargs="+", default=GROUPINGS, help="the groupings published")
    args = ap.parse_args()
    first, _, stop = args.seeds.partition(":")
    seeds = range(int(first), int(stop) if stop else int(first) + 1)
    groupings = [g.split(",") for g in args.by]
    found = 0
    for seed in seeds:
        t = time.perf_counter()
        pinned = pupil_pattern_attack(mixed_trust(seed), groupings)
        found += bool(pinned)
        print(f"seed {seed}: {len(pinned)} count(s) under 10 pinned "
              f"({time.perf_counter() - t:.0f} s)", *pinned[:5], sep="\n  ", flush=True)
    print(f"{found} of {len(seeds)} trusts leaked")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
