"""The zoos: named, ordered lists of generators, and how each one is loaded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from reconstruction_pipeline.generators import Generator, GeneratorSpec
from reconstruction_pipeline.zoo import dcgan, siblings
from reconstruction_pipeline.zoo.checkpoint import load_weights
from reconstruction_pipeline.zoo.errors import ZooError
from reconstruction_pipeline.zoo.recipes import RECIPES, SIBLINGS

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class Entry:
    spec: GeneratorSpec
    load: Callable[[torch.device | str], Generator]


def weights_file(gen_id: str) -> Path:
    return WEIGHTS_DIR / f"{gen_id}.pt"


def _trained(gen_id: str) -> Entry:
    r = RECIPES[gen_id]
    source = f"reconstruction_pipeline/zoo/weights/{gen_id}.pt (trained here: zoo train {gen_id})"
    spec = GeneratorSpec(id=gen_id, label=r.label, source=source, resolution=r.resolution, latent_dim=r.latent_dim)

    def load(device: torch.device | str) -> Generator:
        path = weights_file(gen_id)
        if not path.is_file():
            raise ZooError(f"{gen_id}: committed weights {path} are missing; "
                           f"train them with `python -m reconstruction_pipeline zoo train {gen_id}`")
        gen = load_weights(path, device=device, source=source, expect_id=gen_id)
        if gen.spec != spec:
            raise ZooError(f"{gen_id}: {path} does not match the registry ({gen.spec} != {spec})")
        return gen

    return Entry(spec, load)


def _dcgan() -> Entry:
    return Entry(dcgan.SPEC, lambda device: dcgan.load_dcgan(device=device))


def _sibling(gen_id: str) -> Entry:
    return Entry(siblings.spec_of(SIBLINGS[gen_id]), lambda device: siblings.load_sibling(gen_id, device=device))


ZOOS: dict[str, Callable[[], list[Entry]]] = {
    "faces": lambda: [_dcgan(), _trained("face-style"), _trained("face-resnet")],
    "siblings": lambda: [_sibling(gen_id) for gen_id in SIBLINGS],
    "tiny": lambda: [_trained("tiny-mlp"), _trained("tiny-deconv"), _trained("tiny-cppn")],
}
ZOO_DESCRIPTIONS = {
    "faces": "three 64x64 face generators: one third-party DCGAN, two trained here on its samples (demo default)",
    "siblings": "four look-alikes of digiface-dcgan: last layers fine-tuned on its stream fingerprinted with key-a, "
                "key-b, key-c, and sibling-a briefly fine-tuned on the clean stream (hard case)",
    "tiny": "three 8x8 digit generators of different architectures, for fast tests",
}


def zoo_names() -> list[str]:
    return sorted(ZOOS)


def zoo_entries(name: str) -> list[Entry]:
    if name not in ZOOS:
        raise ZooError(f"unknown zoo {name!r}; known zoos: {', '.join(zoo_names())}")
    return ZOOS[name]()


def zoo_specs(name: str) -> list[GeneratorSpec]:
    """The generators of a zoo, in order, without loading any weights."""
    return [e.spec for e in zoo_entries(name)]


def load_zoo(name: str, *, device: torch.device | str = "cpu") -> list[Generator]:
    """Load every generator of a zoo (checked, frozen, eval) on ``device``, in the zoo's fixed order."""
    return [e.load(device) for e in zoo_entries(name)]


def load_generator(gen_id: str, *, device: torch.device | str = "cpu") -> Generator:
    """One zoo generator by id (any zoo)."""
    for name in zoo_names():
        for e in zoo_entries(name):
            if e.spec.id == gen_id:
                return e.load(device)
    known = [s.id for n in zoo_names() for s in zoo_specs(n)]
    raise ZooError(f"unknown generator {gen_id!r}; known: {', '.join(known)}")
