"""The one error this package raises for user-fixable problems (the CLI prints it and exits 2)."""

from __future__ import annotations


class ExpertError(RuntimeError):
    """Training/evaluation cannot start: missing weights, no GPU, bad data... The message says what to do."""
