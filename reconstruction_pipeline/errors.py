"""The pipeline's user-facing failure (:class:`PipelineError`) and the one rule every pipeline command (``build``,
``attack``, ``zoo``, ``fingerprints`` ...) uses to turn a failure into one line on stderr and an exit code
(:func:`run_command`)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from contracts.cli import report


class PipelineError(Exception):
    """A user-facing failure: the message is one line saying what is wrong and what to do. ``exit_code`` 2 marks a
    mistake in the command line or its inputs, 1 a problem with the state on disk or the environment."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# (exception types, exit code or None = the exception's own ``exit_code`` (1 without one), prefix of the message)
Failure = tuple[tuple[type[BaseException], ...], "int | None", str]
INTERRUPTED_EXIT = 130


def run_command(command: Callable[[], int], failures: Sequence[Failure], *, interrupted: str) -> int:
    """``command()``; a failure of a type in ``failures`` (the first entry that matches) is printed as one line,
    ``error: PREFIX MESSAGE``, and returns its exit code; Ctrl-C prints ``interrupted`` and returns 130."""
    try:
        return command()
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return INTERRUPTED_EXIT
    except Exception as e:
        for types, code, prefix in failures:
            if isinstance(e, types):
                return report(f"{prefix}{e}", getattr(e, "exit_code", 1) if code is None else code)
        raise
