"""srmsim: simulate and evaluate Student Relationship Management policies in schools and trusts."""

from __future__ import annotations

__version__ = "0.1.0"
