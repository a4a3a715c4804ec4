"""Fingerprint keys: a registered key is a name and a bit string derived from it (SHA-256 of ``name``, expanded with
a counter), so a key is reproducible from its name alone, and a key table maps names to bit strings."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import torch

from reconstruction_pipeline.fingerprints.errors import FingerprintError


REGISTERED_KEYS: tuple[str, ...] = ("key-a", "key-b", "key-c", "key-d")
"""The registered key names (the ``siblings`` zoo's generators are trained on data fingerprinted with them)."""


def registered_keys(length: int, names: Sequence[str] | None = None) -> dict[str, tuple[int, ...]]:
    """name -> bits of the registered keys (all, or the named ones: an unknown name is one line)."""
    chosen = list(REGISTERED_KEYS if names is None else names)
    for n in chosen:
        if n not in REGISTERED_KEYS:
            raise FingerprintError(f"unknown fingerprint key {n!r}; registered keys: {', '.join(REGISTERED_KEYS)}")
    return {n: key_bits(n, length) for n in chosen}


def key_bits(name: str, length: int) -> tuple[int, ...]:
    """``length`` bits (0/1) derived from ``name``: the bits of sha256(name + ":" + counter), counter = 0, 1, ..."""
    if not name:
        raise FingerprintError("a fingerprint key needs a non-empty name")
    if length < 1:
        raise FingerprintError(f"fingerprint length must be >= 1, got {length}")
    out: list[int] = []
    counter = 0
    while len(out) < length:
        digest = hashlib.sha256(f"{name}:{counter}".encode()).digest()
        out.extend((byte >> (7 - i)) & 1 for byte in digest for i in range(8))
        counter += 1
    return tuple(out[:length])


def key_tensor(bits: Sequence[int]) -> torch.Tensor:
    return torch.tensor(list(bits), dtype=torch.float32)


def check_keys(keys: Mapping[str, Sequence[int]], length: int) -> None:
    """Every key has ``length`` bits, all 0 or 1, else one line naming the first bad key."""
    if not keys:
        raise FingerprintError("no fingerprint keys registered; register at least one key")
    for name, bits in keys.items():
        if len(bits) != length:
            raise FingerprintError(f"key {name!r} has {len(bits)} bits, the decoded fingerprints have {length}; "
                                   f"keys and codec must share one fingerprint length")
        if any(b not in (0, 1) for b in bits):
            raise FingerprintError(f"key {name!r} holds values other than 0 and 1")


def lookup_key(keys: Mapping[str, Sequence[int]], name: str) -> Sequence[int]:
    if name not in keys:
        raise FingerprintError(f"unknown fingerprint key {name!r}; registered keys: {', '.join(sorted(keys))}")
    return keys[name]
