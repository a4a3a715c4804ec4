"""The seed formula of docs/pipeline.md written out independently of ``reconstruction_pipeline.targets``: the
reference the seed, target and reconstruction tests compare the module's values with.

derive_seed(seed, *keys) = the first 8 bytes, big-endian, of sha256("seed|key1|key2|...") shifted right by one bit.
"""

from __future__ import annotations

import hashlib


def by_the_docs(seed: int, *keys: object) -> int:
    text = "|".join([str(seed), *map(str, keys)]).encode("utf-8")
    return int(hashlib.sha256(text).hexdigest()[:16], 16) // 2
