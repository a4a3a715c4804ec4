"""The command line of every command of the project (pipeline, zoo, attacks, fingerprints, analysis, provenance,
benchmarks): one parser class and the number types its options share. Standard library only, so both environments
import it.

A usage mistake is one line on stderr, ``PROG: error: MESSAGE (see --help)``, and exit code :data:`EXIT_USAGE` (2);
a failure the command itself reports is one line ``error: MESSAGE`` (:func:`report`).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import Any, NoReturn

EXIT_USAGE = 2
DEFAULTS_HELP = argparse.ArgumentDefaultsHelpFormatter


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (``prog: error: ...``) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def make_parser(prog: str | None = None, description: str | None = None, *,
                formatter_class: type[argparse.HelpFormatter] = DEFAULTS_HELP, **kwargs: Any) -> OneLineParser:
    """A :class:`OneLineParser`; its help lists each option's default unless ``formatter_class`` says otherwise."""
    return OneLineParser(prog=prog, description=description, formatter_class=formatter_class, **kwargs)


def add_commands(parser: argparse.ArgumentParser, **kwargs: Any) -> Any:
    """Required sub-commands (``args.command``) whose parsers are :class:`OneLineParser` too."""
    return parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser, **kwargs)


def int_range(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """An option type: an integer >= ``lo`` (and <= ``hi``)."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if v < lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"must be >= {lo}, got {v}" if hi is None
                                             else f"must be in {lo}..{hi}, got {v}")
        return v
    return parse


def float_range(lo: float, hi: float) -> Callable[[str], float]:
    """An option type: a number in ``lo``..``hi`` (so finite)."""
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be in {lo:g}..{hi:g}, got {text}")
        return v
    return parse


def positive_float(text: str) -> float:
    """An option type: a finite number > 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"{text} must be a finite number > 0")
    return v


def report(message: object, exit_code: int) -> int:
    """Print a command's failure as one line on stderr (``error: MESSAGE``); returns ``exit_code``."""
    print(f"error: {message}", file=sys.stderr)
    return exit_code
