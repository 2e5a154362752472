"""Command-line argument types shared by the sub-commands (kept free of heavy imports)."""

from __future__ import annotations

import argparse

#: seeds are 63-bit: larger ones would silently wrap in the 64-bit random-number keys
MAX_SEED = 2**63 - 1


def seed_argument(text: str) -> int:
    """argparse type of ``--seed``: a whole number from 0 to 2**63 - 1 (never wrapped)."""
    try:
        value = int(text)
    except ValueError:
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise argparse.ArgumentTypeError(f"{shown!r} is not a whole number") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError("must be from 0 to 2**63 - 1")
    return value
