"""The seed formula of docs/pipeline.md, pinned: a change to derive_seed (byte order, separator, shift, key order)
silently changes every target and every initial seed of every published run, so these values are written by hand.

derive_seed(seed, *keys) = the first 8 bytes, big-endian, of sha256("seed|key1|key2|...") shifted right by one bit.
"""

from __future__ import annotations

import pytest

from reconstruction_pipeline.targets import derive_seed, init_seed, target_id
from tests.pipeline.seed_formula import by_the_docs



# sha256(b"0|target|tiny-mlp|0") starts 342ec14c08dd0d36; 0x342ec14c08dd0d36 >> 1 = 1880077635605661339
PINNED = [
    ((0, "target", "tiny-mlp", 0), 1880077635605661339),
    ((7, "init", "t0123456789", "dcgan", 2), 2873212468736583364),
    ((2**63 - 1, "target-id", "g", 5), 3645883965485042229),
]


@pytest.mark.parametrize("args, expected", PINNED)
def test_derive_seed_is_the_documented_formula(args: tuple[object, ...], expected: int) -> None:
    assert by_the_docs(*args) == expected  # the hand-written value is the formula's (guards this test itself)
    assert derive_seed(*args) == expected
    assert 0 <= derive_seed(*args) < 2**63


def test_init_seed_and_target_id_use_their_documented_keys() -> None:
    assert init_seed(1, "tabc", "dcgan", 0) == by_the_docs(1, "init", "tabc", "dcgan", 0) == 3364612040431331067
    assert target_id(0, "tiny-mlp", 3) == "t4eb16d17d0"
    assert target_id(0, "tiny-mlp", 3) == "t" + format(by_the_docs(0, "target-id", "tiny-mlp", 3), "016x")[:10]
    # different keys, different seeds: the key order and every key matter
    assert init_seed(1, "tabc", "dcgan", 0) != init_seed(1, "tabc", "dcgan", 1) != init_seed(1, "dcgan", "tabc", 0)
