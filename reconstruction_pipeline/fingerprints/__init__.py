"""Artificial fingerprints (Yu et al., ICCV 2021): a StegaStamp-style encoder/decoder, its training command, and
attribution by fingerprint (decoded bits -> the registered key at smallest Hamming distance, or "none of these").

Public API::

    CodecConfig, Codec                         # codec.py
    load_codec(path=DEFAULT_CODEC, device=...) # store.py
    attribute_bits(decoded, keys, alpha=...)   # attribution.py
    key_bits(name, length)                     # keys.py
    FingerprintError(ValueError)
"""

from reconstruction_pipeline.fingerprints.codec import Codec, CodecConfig
from reconstruction_pipeline.fingerprints.errors import FingerprintError

__all__ = ["Codec", "CodecConfig", "FingerprintError"]
