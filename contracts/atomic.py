"""Atomic file writes: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from collections.abc import Iterable
from typing import Any


def _process_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# The mode a plain open() would give a new file. mkstemp creates 0600 and os.replace keeps it, which would leave
# bundle images unreadable to a web server running as another user (nginx's www-data).
_FILE_MODE = 0o666 & ~_process_umask()


def atomic_write_chunks(path: str | Path, chunks: Iterable[bytes], *, mode: int | None = None) -> None:
    """Write ``chunks`` to ``path`` via a temporary file in the same directory, fsync and rename, so a file too
    large to hold in memory is written the same way. The file gets ``mode`` from its creation on (0600 for a secret:
    never readable by others, not even while it is written), or by default the permissions a plain
    ``open(path, "wb")`` would give it (0644 under the usual umask 022)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")   # created 0600
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), _FILE_MODE if mode is None else mode)
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_bytes(path: str | Path, data: bytes, *, mode: int | None = None) -> None:
    """:func:`atomic_write_chunks` of one piece of data."""
    atomic_write_chunks(path, (data,), mode=mode)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")
