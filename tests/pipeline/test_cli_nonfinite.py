"""Non-finite numbers on the command line: refused with one line naming the option, exit 2, nothing written
(``--lr inf`` used to be accepted while ``nan`` was refused)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconstruction_pipeline.cli import main

OK = ["--targets-per-generator", "1", "--attempts", "1", "--steps", "1", "--device", "cpu", "--no-progress"]


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:
        return int(e.code or 0)


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity", "nan", "NaN", "1e999"])
def test_build_refuses_non_finite_lr(tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str) -> None:
    out = tmp_path / "bundle"
    assert _run(["build", "--zoo", "tiny", *OK, f"--lr={value}", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "--lr" in err and "finite" in err, err
    assert not out.exists()


@pytest.mark.parametrize("value", ["inf", "nan"])
def test_attribute_refuses_non_finite_lr(tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str) -> None:
    image = tmp_path / "x.png"
    image.write_bytes(b"not read: the option is refused first")
    assert _run(["attribute", str(image), "--zoo", "tiny", f"--lr={value}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--lr" in err, err
