"""The log entry of one generation (docs/provenance.md): validation, canonical bytes, seed commitments.

Canonical JSON = UTF-8 of ``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``. A leaf of
the tree is the canonical bytes of its entry; an entry holds only strings, integers and lists.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

ENTRY_KEYS = ("generator", "image_sha256", "model", "seed_commitment", "size", "time", "v")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
SALT_BYTES = 32


class EntryError(ValueError):
    """An entry does not follow the format; the message names the field."""


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def utc_now() -> str:
    """RFC 3339 UTC, seconds, ``Z`` suffix."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def validate_entry(obj: Any) -> dict[str, Any]:
    """Return ``obj`` if it is a well-formed entry, else raise :class:`EntryError` naming the first problem."""
    if not isinstance(obj, dict):
        raise EntryError("an entry is a JSON object")
    keys = tuple(sorted(obj))
    if keys != ENTRY_KEYS:
        missing = sorted(set(ENTRY_KEYS) - set(obj))
        extra = sorted(set(obj) - set(ENTRY_KEYS))
        raise EntryError(f"entry keys: missing {missing}, unexpected {extra}" if missing or extra else "entry keys")
    if obj["v"] != 1 or isinstance(obj["v"], bool):
        raise EntryError(f"entry v: expected 1, got {obj['v']!r}")
    g = obj["generator"]
    if not isinstance(g, str) or not g or len(g) > 200 or not g.isprintable():
        raise EntryError("entry generator: a non-empty printable string id (no control characters), at most 200")
    for k in ("model", "seed_commitment", "image_sha256"):
        if not isinstance(obj[k], str) or not _HEX64.fullmatch(obj[k]):
            raise EntryError(f"entry {k}: expected 64 lowercase hex digits (a SHA-256)")
    size = obj["size"]
    if (not isinstance(size, list) or len(size) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) and 0 < x <= 1 << 20 for x in size)):
        raise EntryError("entry size: expected [H, W], two positive integers")
    t = obj["time"]
    if not isinstance(t, str) or not _TIME.fullmatch(t):
        raise EntryError("entry time: expected RFC 3339 UTC with seconds and a Z suffix, e.g. 2026-01-31T12:00:00Z")
    if not _valid_time(t):
        raise EntryError(f"entry time {t!r}: not a valid date and time")
    return obj


@functools.lru_cache(maxsize=4096)  # a batch's entries mostly share their second; strptime is the slow part
def _valid_time(t: str) -> bool:
    try:
        datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ")
        return True
    except ValueError:
        return False


def entry_bytes(obj: Any) -> bytes:
    """The leaf bytes of a validated entry."""
    return canonical_json(validate_entry(obj))


def parse_leaf(line: bytes) -> dict[str, Any]:
    """An ``entries.jsonl`` line (without its newline) -> the entry; it must be exactly its canonical bytes."""
    try:
        obj = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise EntryError("not valid UTF-8 JSON") from None
    validate_entry(obj)
    if canonical_json(obj) != line:
        raise EntryError("not in canonical form (sorted keys, no spaces)")
    return obj  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Reveal:
    """What an audit discloses for one entry: the salt and the reveal object behind its seed commitment."""

    salt: bytes
    reveal: dict[str, Any]  # {"generator", "seed", "params"}

    def commitment(self) -> str:
        return seed_commitment(self.salt, self.reveal)


def seed_commitment(salt: bytes, reveal: dict[str, Any]) -> str:
    if len(salt) != SALT_BYTES:
        raise EntryError(f"salt must be {SALT_BYTES} bytes")
    return hashlib.sha256(salt + canonical_json(reveal)).hexdigest()


def make_reveal(generator: str, seed: int | list[float], params: dict[str, Any]) -> dict[str, Any]:
    return {"generator": generator, "seed": seed, "params": params}


def pixel_sha256(rgb: bytes) -> str:
    """SHA-256 of raw pixels: uint8 RGB, row-major H x W x 3."""
    return hashlib.sha256(rgb).hexdigest()


def image_pixel_hash(path: str) -> tuple[str, list[int]]:
    """The entry's ``image_sha256`` and ``size`` of an image file (Pillow, imported here only)."""
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        rgb = im.convert("RGB")
    return pixel_sha256(rgb.tobytes()), [rgb.height, rgb.width]
