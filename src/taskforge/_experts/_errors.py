"""The one error this package raises for user-fixable problems (the CLI prints it and exits 2)."""

from __future__ import annotations

from taskforge._errors import UsageError


class ExpertError(UsageError):
    """Training/evaluation cannot start: missing weights, no GPU, bad data... The message says what to do."""
