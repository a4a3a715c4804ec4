"""contracts.atomic: whole files or nothing, with the permissions a plain write would give."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from contracts.atomic import atomic_write_bytes

def test_written_file_is_readable_like_a_plain_write(tmp_path: Path) -> None:
    # bundle images are served by a web server running as another user: a 0600 file would be a 403
    mask = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "a.png", b"x")
        plain = tmp_path / "plain.png"
        plain.write_bytes(b"x")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "a.png").stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o644

def test_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "manifest.json"
    atomic_write_bytes(target, b"old")

    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]
