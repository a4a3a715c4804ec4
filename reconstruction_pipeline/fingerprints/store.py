"""The codec weights format (``fingerprint-codec`` v1) and its checked loader.

A codec file (``*.pt``, read with ``torch.load(weights_only=True)``) is a dict::

    {"format": "fingerprint-codec", "version": 1, "config": {bits, resolution, width, dec_width},
     "encoder": state_dict, "decoder": state_dict, "train": {...}, "eval": {...}}
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from reconstruction_pipeline.fingerprints.codec import Codec, config_from_dict
from reconstruction_pipeline.fingerprints.errors import FingerprintError
from reconstruction_pipeline.zoo.checkpoint import check_state_dict, torch_load_file, torch_save_atomic
from reconstruction_pipeline.zoo.errors import ZooError

FORMAT = "fingerprint-codec"
VERSION = 1
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_CODEC = WEIGHTS_DIR / "codec64.pt"


def save_codec(path: str | Path, codec: Codec, *, train: Mapping[str, Any], evaluation: Mapping[str, Any]) -> None:
    torch_save_atomic({"format": FORMAT, "version": VERSION, "config": codec.cfg.as_dict(),
                       "encoder": {k: v.detach().cpu().clone() for k, v in codec.encoder.state_dict().items()},
                       "decoder": {k: v.detach().cpu().clone() for k, v in codec.decoder.state_dict().items()},
                       "train": dict(train), "eval": dict(evaluation)}, path)


def read_codec_meta(path: str | Path) -> dict[str, Any]:
    try:
        ck = torch_load_file(path, what="fingerprint codec")
    except ZooError as e:
        raise FingerprintError(str(e)) from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise FingerprintError(f"{path} is not a fingerprint codec (no format={FORMAT!r}); "
                               "train one with `python -m reconstruction_pipeline fingerprints train`")
    if ck.get("version") != VERSION:
        raise FingerprintError(f"{path} has codec version {ck.get('version')!r}, this code reads {VERSION}")
    return ck


def load_codec(path: str | Path = DEFAULT_CODEC, *, device: torch.device | str = "cpu") -> Codec:
    """A checked, frozen, eval-mode codec."""
    ck = read_codec_meta(path)
    codec = Codec(config_from_dict(dict(ck["config"])))
    try:
        check_state_dict(codec.encoder, ck["encoder"], what=f"{path} encoder")
        check_state_dict(codec.decoder, ck["decoder"], what=f"{path} decoder")
    except ZooError as e:
        raise FingerprintError(str(e)) from None
    codec.encoder.load_state_dict(ck["encoder"])
    codec.decoder.load_state_dict(ck["decoder"])
    return codec.to(torch.device(device)).eval().requires_grad_(False)
