"""The zoo's checkpoint format and the one loader that checks what it loaded.

A zoo weights file (``*.pt``, read with ``torch.load(weights_only=True)``) is a dict::

    {"format": "zoo-generator", "version": 1, "arch": "style64", "config": {...}, "spec": {...},
     "state_dict": {...}, "train": {...}}

``arch`` + ``config`` rebuild the network (:func:`nets.build_net`), ``spec`` is the :class:`GeneratorSpec`
(``source`` is filled in by the loader), ``train`` records how it was trained (for model cards).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from contracts.atomic import atomic_write_bytes
from reconstruction_pipeline.generators import Generator, GeneratorSpec, seeded_latents
from reconstruction_pipeline.zoo.errors import ZooError
from reconstruction_pipeline.zoo.nets import ZooNet, build_net

FORMAT = "zoo-generator"
VERSION = 1
CHECK_SEEDS = (0, 1, 2, 3)


def torch_save_atomic(obj: Any, path: str | Path) -> None:
    """``torch.save`` to memory, then an atomic write: a reader never sees half a checkpoint."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def torch_load_file(path: str | Path, *, what: str) -> Any:
    """``torch.load(weights_only=True)`` on CPU with a one-line error for a missing or unreadable file."""
    path = Path(path)
    if not path.is_file():
        raise ZooError(f"{what}: checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types (pickle, zip, RuntimeError) for a bad file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ZooError(f"{what}: cannot read checkpoint {path} ({first[:200]}); is it a torch file?") from e


def check_state_dict(net: nn.Module, state: Mapping[str, Any], *, what: str) -> None:
    """Same keys and shapes as ``net`` expects, else one line naming the first mismatches."""
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {missing[:3]}{' ...' if len(missing) > 3 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:3]}{' ...' if len(unexpected) > 3 else ''}")
        raise ZooError(f"{what}: state dict does not match the architecture ({'; '.join(parts)})")
    for k, v in expected.items():
        got = state[k]
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(v.shape):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise ZooError(f"{what}: state dict entry {k!r} has shape {shape}, architecture expects {tuple(v.shape)}")


def check_output(gen: Generator, *, what: str) -> None:
    """A test synthesis from fixed seeds has shape [N, 3, R, R], is finite and lies in [-1, 1]."""
    z = seeded_latents(CHECK_SEEDS, gen.latent_dim, device=gen.device)
    try:
        with torch.no_grad():
            x = gen.synthesize(z)
    except Exception as e:
        raise ZooError(f"{what}: test synthesis failed ({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''})") from e
    want = (len(CHECK_SEEDS), 3, gen.resolution, gen.resolution)
    if not isinstance(x, torch.Tensor) or tuple(x.shape) != want:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ZooError(f"{what}: test output has shape {got}, expected {want} ([N, 3, resolution, resolution])")
    if not torch.isfinite(x).all():
        raise ZooError(f"{what}: test output contains NaN or inf")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1.0 - 1e-4 or hi > 1.0 + 1e-4:
        raise ZooError(f"{what}: test output lies in [{lo:.3f}, {hi:.3f}], expected within [-1, 1] (end with tanh?)")


def wrap(net: nn.Module, spec: GeneratorSpec, *, device: torch.device | str, what: str) -> Generator:
    """Frozen eval-mode :class:`Generator` on ``device``, checked with a test synthesis."""
    gen = Generator(spec, net).to(torch.device(device))  # Generator() freezes and sets eval mode
    check_output(gen, what=what)
    return gen


def save_weights(path: str | Path, net: ZooNet, *, arch: str, spec: GeneratorSpec, train: Mapping[str, Any]) -> None:
    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    torch_save_atomic({"format": FORMAT, "version": VERSION, "arch": arch, "config": net.config(),
                       "spec": {"id": spec.id, "label": spec.label, "resolution": spec.resolution,
                                "latent_dim": spec.latent_dim},
                       "state_dict": state, "train": dict(train)}, path)


def read_weights_meta(path: str | Path, *, what: str) -> dict[str, Any]:
    """The checkpoint dict, checked for the format's keys (weights not yet put into a network)."""
    ckpt = torch_load_file(path, what=what)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ZooError(f"{what}: {path} is not a zoo generator checkpoint (no format={FORMAT!r})")
    if ckpt.get("version") != VERSION:
        raise ZooError(f"{what}: {path} has checkpoint version {ckpt.get('version')!r}, this code reads {VERSION}")
    for key in ("arch", "config", "spec", "state_dict"):
        if key not in ckpt:
            raise ZooError(f"{what}: {path} lacks {key!r}")
    return ckpt


def load_weights(path: str | Path, *, device: torch.device | str = "cpu", source: str | None = None,
                 expect_id: str | None = None) -> Generator:
    """Load a zoo weights file into a checked, frozen :class:`Generator`."""
    what = expect_id or str(path)
    ckpt = read_weights_meta(path, what=what)
    try:
        net = build_net(str(ckpt["arch"]), dict(ckpt["config"]))
    except (TypeError, ValueError) as e:
        raise ZooError(f"{what}: cannot build architecture {ckpt['arch']!r} from {path} ({e})") from e
    check_state_dict(net, ckpt["state_dict"], what=what)
    net.load_state_dict(ckpt["state_dict"])
    s = ckpt["spec"]
    if expect_id is not None and s.get("id") != expect_id:
        raise ZooError(f"{what}: {path} holds generator {s.get('id')!r}, not {expect_id!r}")
    if int(s["resolution"]) != net.resolution or int(s["latent_dim"]) != net.latent_dim:
        raise ZooError(f"{what}: {path} spec disagrees with its network (resolution/latent_dim)")
    spec = GeneratorSpec(id=str(s["id"]), label=str(s["label"]), source=source or str(path),
                         resolution=net.resolution, latent_dim=net.latent_dim)
    return wrap(net, spec, device=device, what=what)
