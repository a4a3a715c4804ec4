"""contracts.cli: the parser and option types every command of the project shares."""

from __future__ import annotations

import argparse

import pytest

from contracts.cli import EXIT_USAGE, add_commands, float_range, int_range, make_parser, positive_float, report


def _parser() -> argparse.ArgumentParser:
    p = make_parser("prog", "a test command")
    sub = add_commands(p)
    s = sub.add_parser("sub")
    s.add_argument("--n", type=int_range(1, 5), default=1)
    s.add_argument("--x", type=positive_float, default=1.0)
    s.add_argument("--s", type=float_range(0.0, 60.0), default=1.0)
    return p


@pytest.mark.parametrize("argv, message", [
    (["sub", "--n", "0"], "argument --n: must be in 1..5, got 0"),
    (["sub", "--n", "two"], "argument --n: 'two' is not an integer"),
    (["sub", "--x", "inf"], "argument --x: inf must be a finite number > 0"),
    (["sub", "--x", "-1"], "argument --x: -1 must be a finite number > 0"),
    (["sub", "--s", "61"], "argument --s: must be in 0..60, got 61"),
    (["sub", "--s", "nan"], "argument --s: must be in 0..60, got nan"),
    (["sub", "--s", "soon"], "argument --s: 'soon' is not a number"),
    (["nope"], "argument command: invalid choice"),
    ([], "the following arguments are required: command"),
])
def test_a_usage_mistake_is_one_line_with_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str],
                                                 message: str) -> None:
    with pytest.raises(SystemExit) as e:
        _parser().parse_args(argv)
    assert e.value.code == EXIT_USAGE == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith(" (see --help)\n"), err
    assert err.startswith("prog sub: error: " if argv and argv[0] == "sub" else "prog: error: "), err
    assert message in err, err


def test_good_values_parse() -> None:
    args = _parser().parse_args(["sub", "--n", "5", "--x", "0.5", "--s", "0"])
    assert (args.command, args.n, args.x, args.s) == ("sub", 5, 0.5, 0.0)
    assert int_range(0)("0") == 0


def test_report_prints_one_error_line_and_returns_the_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert report("no such file x", 1) == 1
    assert capsys.readouterr().err == "error: no such file x\n"
