"""A verifiable provenance log of generations (paper §VII): RFC 9162 Merkle tree, C2SP checkpoints and cosignatures.

Torch-free (standard library + ``cryptography``), importable from both environments. Formats:
docs/provenance.md. CLI: ``python -m provenance``.
"""
