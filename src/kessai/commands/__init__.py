"""The parts of the `kessai` command (`kessai.cli` is its entry point and parser).

An expected failure (a setting kessai cannot use, a store it cannot reach, a port in use,
an unknown merchant) is a `CliError`: `kessai.cli.main` prints its one line to stderr and
exits 2. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class CliError(Exception):
    """One line saying what is wrong and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
