"""Well-formed entries and small logs for the provenance tests."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from provenance.log import Log, export, init_log


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def entry(i: int, *, tag: str = "") -> dict[str, Any]:
    return {"v": 1, "generator": "tiny-mlp", "model": h("weights"), "seed_commitment": h(f"seed{tag}{i}"),
            "image_sha256": h(f"image{tag}{i}"), "size": [8, 8], "time": "2026-12-02T11:00:00Z"}


def make_log(path: Path, n: int, *, origin: str = "example.com/test-log", db: str = "sqlite") -> Log:
    log = init_log(path, origin=origin, db=db)
    if n:
        log.append([entry(i) for i in range(n)])
    return log


def make_export(tmp: Path, n: int = 10) -> tuple[Log, Path]:
    log = make_log(tmp / "log", n)
    export(log, tmp / "export")
    return log, tmp / "export"
