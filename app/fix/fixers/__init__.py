"""Fixers: the ways a change gets made in a private checkout (autofix, agent CLI, model API)."""
