"""The fingerprints package's one error type: a bad key, length, image or checkpoint, said in one line."""

from __future__ import annotations


class FingerprintError(ValueError):
    """A fingerprint, key, image or codec checkpoint cannot be used; the message says what and what to do."""
