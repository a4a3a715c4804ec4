"""Synthetic stimulus bundles of known truth: the one writer of made-up bundles, used by the analysis simulator
(``analysis.simulate``) and by every test that needs a bundle on disk.

The caller decides the rows (targets, their truth and conditions, the reconstructions' distances); this module
gives every row its own display image -- a distinct tiny PNG named by its content hash, exactly as a
pipeline-built bundle names them, so the bundle passes :func:`contracts.bundle.read_bundle` including its
opaque-name check -- and writes the three contract files through :func:`contracts.bundle.write_bundle`.

It lives in ``contracts`` because both environments import it (the study/analysis one and the pipeline one) and
the simulator is product code; it is standard library only (``zlib``), which also keeps a paper-scale bundle
(60,000 images) fast to write.
"""

from __future__ import annotations

import dataclasses
import random
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

from contracts.bundle import IMAGES_DIR, Bundle, Manifest, Reconstruction, Target, content_name, write_bundle

INDEX_BYTES = 12          # the first four RGB pixels spell the image's index
PLACEHOLDER_IMAGE = ""    # what callers put in a row's ``image`` before :func:`write_synthetic_bundle` fills it


def tiny_png(index: int, *, size: int = 2, noise: random.Random | None = None) -> bytes:
    """A valid ``size`` x ``size`` RGB PNG, distinct for every ``index``: the first four pixels spell the index
    (12 bytes, big-endian), the remaining pixels are bytes drawn from ``noise`` (black without it)."""
    if size < 2 or index < 0:
        raise ValueError(f"need size >= 2 and index >= 0, got size {size}, index {index}")
    rest = size * size * 3 - INDEX_BYTES
    pixels = index.to_bytes(INDEX_BYTES, "big") + (noise.randbytes(rest) if noise is not None else bytes(rest))
    row = 3 * size
    raw = b"".join(b"\x00" + pixels[row * y:row * y + row] for y in range(size))  # filter byte 0 per scanline

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def write_synthetic_bundle(root: str | Path, manifest: Manifest, targets: Sequence[Target],
                           reconstructions: Sequence[Reconstruction], *, image_size: int = 2,
                           seed: int | None = None) -> Bundle:
    """Write a bundle under ``root`` whose rows are ``targets`` and ``reconstructions`` as given, except that each
    row's ``image`` is replaced by a new image of its own (:func:`tiny_png`, indices 0, 1, ... over the targets and
    then the reconstructions, in order; ``seed``: the pixels beyond the index are seeded noise). Returns the bundle
    as read back."""
    root = Path(root)
    images = root / IMAGES_DIR
    images.mkdir(parents=True, exist_ok=True)
    noise = random.Random(seed) if seed is not None else None
    counter = 0

    def new_image() -> str:
        nonlocal counter
        data = tiny_png(counter, size=image_size, noise=noise)
        counter += 1
        name = content_name(data)
        (images / name).write_bytes(data)
        return f"{IMAGES_DIR}/{name}"

    shown = [dataclasses.replace(t, image=new_image()) for t in targets]
    recs = [dataclasses.replace(r, image=new_image()) for r in reconstructions]
    return write_bundle(root, manifest, shown, recs)
