"""Resumption does the missing work and only that: the shards a re-run recomputes are counted (the build's own
progress line, and which shard files were rewritten), not inferred from the final bundle being the same."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reconstruction_pipeline.cli import main

ARGS = ["build", "--zoo", "tiny", "--targets-per-generator", "2", "--attempts", "2", "--steps", "4", "--seed", "3",
        "--device", "cpu", "--targets-per-shard", "1", "--threads", "1"]  # 6 targets x 3 candidate generators: 18 shards
N_SHARDS = 18


def _files(shards: Path) -> dict[str, tuple[int, int]]:
    """Shard file -> (inode, mtime_ns): an atomic rewrite gives a new inode."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(shards.glob("*.npz"))}


def _to_do(err: str) -> tuple[int, int]:
    """The build's progress bar description: 'reconstructing (K of N shards to do)'."""
    found = re.findall(r"reconstructing \((\d+) of (\d+) shards to do\)", err)
    assert found, f"no progress line in stderr: {err[-500:]!r}"
    assert len(set(found)) == 1, found
    return int(found[0][0]), int(found[0][1])


def test_rerun_recomputes_exactly_the_missing_shards(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bundle"
    assert main([*ARGS, "--out", str(out)]) == 0
    assert _to_do(capsys.readouterr().err) == (N_SHARDS, N_SHARDS)
    shards = out / ".work" / "shards"
    first = _files(shards)
    assert len(first) == N_SHARDS

    # a finished build re-run: returns before any reconstruction (no progress bar at all), no shard file rewritten
    assert main([*ARGS, "--out", str(out)]) == 0
    assert "reconstructing" not in capsys.readouterr().err
    assert _files(shards) == first

    # two shards lost (as after a kill before they were written): exactly those two are recomputed
    lost = sorted(first)[1:3]
    for name in lost:
        (shards / name).unlink()
    (out / "manifest.json").unlink()   # killed before assembly: the bundle was never finished
    assert main([*ARGS, "--out", str(out)]) == 0
    assert _to_do(capsys.readouterr().err) == (2, N_SHARDS)
    now = _files(shards)
    assert sorted(now) == sorted(first)
    rewritten = sorted(name for name in now if now[name] != first.get(name))
    assert rewritten == lost, f"recomputed {rewritten}, expected only {lost}"
