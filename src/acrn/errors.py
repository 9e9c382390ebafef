"""User-facing errors: the CLI prints their message on one line, never a traceback."""

from __future__ import annotations


class AcrnError(Exception):
    """Bad input or a failed precondition that the user can fix; the message says what and where."""


class InputError(AcrnError, ValueError):
    """A file, row, key or value is not what was expected (the message names file and row/key)."""
