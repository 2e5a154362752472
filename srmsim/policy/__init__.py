"""Policies: who gets flagged (risk rules), and what happens to them (actions and workflows)."""
