"""contracts.jsonl: the one JSON Lines reader (provenance entry files, reveals.jsonl)."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.jsonl import JsonlError, read_jsonl


def _positive(value: object) -> int:
    if not isinstance(value, int) or value <= 0:
        raise ValueError(f"{value!r} is not a positive integer")
    return value


def test_reads_every_non_blank_line_with_its_number(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl"
    p.write_text('1\n\n  \n{"a": 2}\n', encoding="utf-8")
    assert read_jsonl(p, lambda v: v) == [(1, 1), (4, {"a": 2})]


@pytest.mark.parametrize("text, line, message", [
    ("1\n[oops\n", 2, "line 2: not valid JSON"),
    ("1\n-3\n", 2, "line 2: -3 is not a positive integer"),
])
def test_a_bad_line_names_the_file_and_the_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    p = tmp_path / "x.jsonl"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(JsonlError) as e:
        read_jsonl(p, _positive)
    assert e.value.line == line and str(e.value) == f"{p} {message}"


def test_an_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(JsonlError, match="no such file") as e:
        read_jsonl(tmp_path / "missing.jsonl", _positive)
    assert e.value.line is None
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(JsonlError, match=r"unreadable \(UnicodeDecodeError\)"):
        read_jsonl(bad, _positive)


def test_errors_outside_the_given_kinds_are_not_swallowed(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl"
    p.write_text("1\n", encoding="utf-8")

    def boom(value: object) -> None:
        raise KeyError("k")

    with pytest.raises(KeyError):
        read_jsonl(p, boom, (ValueError,))
