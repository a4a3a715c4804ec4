"""The ``siblings`` zoo: look-alike generators of one architecture, told apart only by what they were fine-tuned on.

Every sibling is ``digiface-dcgan`` (the parent, loaded from the installed package ``gan-face-generate``) with its
last layers fine-tuned (:class:`recipes.SiblingRecipe`): ``sibling-a/b/c`` on the parent's own stream fingerprinted
with ``key-a/b/c`` by the committed codec, ``sibling-offender`` = ``sibling-a`` fine-tuned for a short schedule on the
clean (unfingerprinted) stream. Only the fine-tuned tensors are stored, as a **delta** over the parent
(``zoo/weights/<id>.pt``, a dict read with ``torch.load(weights_only=True)``)::

    {"format": "zoo-delta", "version": 1, "id": ..., "label": ..., "parent": "digiface-dcgan",
     "parent_sha256": sha256 of the parent's state dict (keys and float32 bytes, in order),
     "tensors": {state-dict key: tensor, ...}, "tensors_sha256": sha256 of ``tensors`` the same way,
     "check": [4, 3, 8, 8] 8x8 average-pooled output on seeds CHECK_SEEDS, "train": {...}}

The loader loads the parent, checks its hash, checks every delta tensor's key and shape against the architecture and
the delta's own hash, applies it, and compares a test synthesis with ``check``; every failure is one line
(:class:`ZooError`).
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from reconstruction_pipeline.generators import Generator, GeneratorSpec, seeded_latents
from reconstruction_pipeline.zoo import dcgan
from reconstruction_pipeline.zoo.checkpoint import CHECK_SEEDS, torch_load_file, torch_save_atomic, wrap
from reconstruction_pipeline.zoo.errors import ZooError
from reconstruction_pipeline.zoo.nets import DCGAN64
from reconstruction_pipeline.zoo.recipes import SIBLINGS, SiblingRecipe

FORMAT = "zoo-delta"
VERSION = 1
PARENT = dcgan.ID
CHECK_TOLERANCE = 1e-3
EVAL_SEEDS = tuple(range(30_000_000, 30_000_256))
"""seeds of the samples whose fingerprints a sibling's training record reports (never used in training)."""


def state_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 over the keys and float32 little-endian bytes of a state dict, in its order."""
    h = hashlib.sha256()
    for k, v in state.items():
        h.update(k.encode())
        h.update(v.detach().cpu().to(torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def layer_keys(net: DCGAN64, layers: tuple[int, ...]) -> list[str]:
    """State-dict keys of the modules ``main[i]`` for i in ``layers`` (in the state dict's order)."""
    prefixes = tuple(f"main.{i}." for i in layers)
    return [k for k in net.state_dict() if k.startswith(prefixes)]


def spec_of(recipe: SiblingRecipe) -> GeneratorSpec:
    return GeneratorSpec(id=recipe.id, label=recipe.label,
                         source=f"reconstruction_pipeline/zoo/weights/{recipe.id}.pt (delta over {PARENT}; "
                                f"trained here: zoo train {recipe.id})",
                         resolution=dcgan.SPEC.resolution, latent_dim=dcgan.SPEC.latent_dim)


def check_image(net: nn.Module) -> torch.Tensor:
    """[4, 3, 8, 8]: the 8x8 average-pooled synthesis of ``CHECK_SEEDS`` (the delta file's test output)."""
    was = net.training
    net.eval()
    with torch.no_grad():
        device = next(net.parameters()).device
        x = net(seeded_latents(CHECK_SEEDS, dcgan.SPEC.latent_dim, device=device))
    net.train(was)
    return F.avg_pool2d(x.float(), 8).cpu()


def parent_net(device: torch.device | str = "cpu") -> tuple[DCGAN64, str]:
    """A fresh copy of the parent's network (eval) and its state-dict hash."""
    gen = dcgan.load_dcgan(device=device)
    net = copy.deepcopy(gen.net)
    assert isinstance(net, DCGAN64)
    return net.eval(), state_sha256(net.state_dict())


def save_delta(path: str | Path, net: DCGAN64, recipe: SiblingRecipe, *, parent_sha256: str,
               train: Mapping[str, Any]) -> None:
    tensors = {k: net.state_dict()[k].detach().cpu().clone() for k in layer_keys(net, recipe.layers)}
    torch_save_atomic({"format": FORMAT, "version": VERSION, "id": recipe.id, "label": recipe.label,
                       "parent": PARENT, "parent_sha256": parent_sha256, "tensors": tensors,
                       "tensors_sha256": state_sha256(tensors), "check": check_image(net),
                       "train": dict(train)}, path)


def read_delta(path: str | Path, *, what: str) -> dict[str, Any]:
    """The delta dict, checked for its format and keys (not yet applied)."""
    d = torch_load_file(path, what=what)
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise ZooError(f"{what}: {path} is not a sibling delta (no format={FORMAT!r}); "
                       f"train it with `python -m reconstruction_pipeline zoo train {what}`")
    if d.get("version") != VERSION:
        raise ZooError(f"{what}: {path} has delta version {d.get('version')!r}, this code reads {VERSION}")
    for key in ("id", "parent", "parent_sha256", "tensors", "tensors_sha256", "check"):
        if key not in d:
            raise ZooError(f"{what}: {path} lacks {key!r}")
    return d


def check_state_dict_subset(net: nn.Module, state: Mapping[str, Any], keys: list[str], *, what: str) -> None:
    """``state`` holds exactly ``keys`` with ``net``'s shapes (a resumed checkpoint's fine-tuned tensors)."""
    expected = net.state_dict()
    if sorted(state) != sorted(keys) or any(tuple(state[k].shape) != tuple(expected[k].shape) for k in keys):
        raise ZooError(f"{what}: checkpoint tensors do not match the recipe's fine-tuned layers; use another --out")


def apply_delta(net: DCGAN64, delta: Mapping[str, Any], *, parent_sha256: str, what: str) -> DCGAN64:
    """``net`` (the parent) with the delta's tensors loaded in place, after every check but the test output."""
    if delta["parent"] != PARENT or delta["parent_sha256"] != parent_sha256:
        raise ZooError(f"{what}: delta was made for parent {delta['parent']!r} with state sha256 "
                       f"{str(delta['parent_sha256'])[:12]}..., the installed {PARENT} has {parent_sha256[:12]}...; "
                       "reinstall gan-face-generate or retrain the sibling")
    tensors = delta["tensors"]
    expected = net.state_dict()
    if not isinstance(tensors, dict) or not tensors:
        raise ZooError(f"{what}: delta holds no tensors")
    for k, v in tensors.items():
        if k not in expected:
            raise ZooError(f"{what}: delta entry {k!r} is not a parameter of {PARENT}'s architecture")
        if not isinstance(v, torch.Tensor) or tuple(v.shape) != tuple(expected[k].shape):
            shape = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
            raise ZooError(f"{what}: delta entry {k!r} has shape {shape}, the architecture expects "
                           f"{tuple(expected[k].shape)}")
    if state_sha256(tensors) != delta["tensors_sha256"]:
        raise ZooError(f"{what}: delta tensors do not match their recorded sha256 (file damaged or edited)")
    net.load_state_dict(tensors, strict=False)
    return net


def load_sibling(gen_id: str, *, device: torch.device | str = "cpu", path: str | Path | None = None) -> Generator:
    """The sibling ``gen_id`` (parent + its committed delta, or the delta at ``path``), checked and frozen."""
    if gen_id not in SIBLINGS:
        raise ZooError(f"unknown sibling {gen_id!r}; known: {', '.join(SIBLINGS)}")
    recipe = SIBLINGS[gen_id]
    from reconstruction_pipeline.zoo.registry import weights_file

    path = Path(path) if path is not None else weights_file(gen_id)
    if not path.is_file():
        raise ZooError(f"{gen_id}: delta weights {path} are missing; "
                       f"train them with `python -m reconstruction_pipeline zoo train {gen_id} --install`")
    delta = read_delta(path, what=gen_id)
    if delta["id"] != gen_id:
        raise ZooError(f"{gen_id}: {path} holds sibling {delta['id']!r}, not {gen_id!r}")
    net, sha = parent_net()
    apply_delta(net, delta, parent_sha256=sha, what=gen_id)
    got, want = check_image(net), delta["check"]
    if not isinstance(want, torch.Tensor) or want.shape != got.shape or not torch.allclose(got, want,
                                                                                            atol=CHECK_TOLERANCE):
        raise ZooError(f"{gen_id}: test output differs from the one recorded in {path} "
                       f"(max difference {float((got - want).abs().max()) if isinstance(want, torch.Tensor) and want.shape == got.shape else 'n/a'}); "
                       "the parent or torch changed, or the file does not belong to this parent")
    return wrap(net, spec_of(recipe), device=device, what=gen_id)


# --------------------------------------------------------------------------------------------------- training

@dataclass(frozen=True)
class SiblingResult:
    id: str
    step: int
    seconds: float
    weights: Path
    stopped: str           # "steps" or "time"
    fingerprint: dict[str, Any]


def fingerprint_report(net: nn.Module, *, seeds: tuple[int, ...] = EVAL_SEEDS, batch: int = 64) -> dict[str, Any]:
    """Decode the committed codec's bits from ``net``'s own samples (``seeds``): mean bit accuracy against every
    registered key and how often attribution by fingerprint (Bonferroni binomial test, alpha 0.01) names each key."""
    from reconstruction_pipeline.fingerprints.attribution import attribute_bits
    from reconstruction_pipeline.fingerprints.keys import REGISTERED_KEYS, registered_keys
    from reconstruction_pipeline.fingerprints.store import load_codec

    codec = load_codec()
    keys = registered_keys(codec.cfg.bits)
    device = next(net.parameters()).device
    decoded: list[list[int]] = []
    net.eval()
    with torch.no_grad():
        for i in range(0, len(seeds), batch):
            x = net(seeded_latents(seeds[i:i + batch], dcgan.SPEC.latent_dim, device=device)).clamp(-1, 1)
            decoded += codec.decode(x.cpu()).int().tolist()
    acc = {k: sum(sum(int(a == b) for a, b in zip(d, keys[k])) for d in decoded) / (len(decoded) * codec.cfg.bits)
           for k in REGISTERED_KEYS}
    answers: dict[str, int] = {}
    for d in decoded:
        res = attribute_bits(d, keys)
        name = res.attributed or "none"
        answers[name] = answers.get(name, 0) + 1
    return {"samples": len(decoded), "seeds": f"{seeds[0]}..{seeds[-1]}", "bit_accuracy": acc,
            "attributed": dict(sorted(answers.items()))}


def train_sibling(recipe: SiblingRecipe, *, out_dir: str | Path, steps: int | None = None,
                  max_minutes: float | None = None, device: torch.device | str = "cpu", progress: bool = True,
                  init_path: str | Path | None = None, command: str = "",
                  eval_seeds: tuple[int, ...] = EVAL_SEEDS) -> SiblingResult:
    """Fine-tune (or continue fine-tuning) ``recipe`` in ``out_dir`` (``checkpoint.pt``, ``<id>.pt``, samples).

    ``init_path``: the delta of ``recipe.init`` when that is a sibling (default: its committed weights);
    ``eval_seeds``: the samples whose decoded fingerprint the final record reports."""
    from contracts.atomic import atomic_write_bytes, atomic_write_json
    from reconstruction_pipeline.fingerprints.keys import key_bits, key_tensor
    from reconstruction_pipeline.fingerprints.store import load_codec
    from reconstruction_pipeline.zoo.train import StepLoop, sample_grid_png, step_budget

    device = torch.device(device)
    out = Path(out_dir)
    total = step_budget(recipe.steps, steps, max_minutes)
    teacher, parent_sha = parent_net()
    teacher = teacher.to(device).requires_grad_(False)
    net, _ = parent_net()
    if recipe.init != PARENT:
        init = load_sibling(recipe.init, path=init_path)
        net.load_state_dict(init.net.state_dict())
    net = net.to(device).eval()  # BatchNorm on its running statistics throughout: batch members stay independent
    net.requires_grad_(False)
    keys_trained = layer_keys(net, recipe.layers)
    params = [p for k, p in net.named_parameters() if k in keys_trained]
    for p in params:
        p.requires_grad_(True)
    split = min(recipe.layers)
    trunk, head = net.main[:split], net.main[split:]
    teacher_head = teacher.main[split:]  # the layers below ``split`` are the parent's in every sibling: shared
    if state_sha256(trunk.state_dict()) != state_sha256(teacher.main[:split].state_dict()):
        raise ZooError(f"{recipe.id}: layers below {split} differ from the parent's; the recipe's layers must cover "
                       f"every layer its init ({recipe.init}) fine-tuned")
    opt = torch.optim.Adam(params, lr=recipe.lr, betas=recipe.betas)
    codec = load_codec(device=device) if recipe.key is not None else None
    key = key_tensor(key_bits(recipe.key, codec.cfg.bits)).to(device) if codec is not None and recipe.key else None
    identity = {"id": recipe.id, "key": recipe.key, "init": recipe.init, "layers": list(recipe.layers),
                "batch_size": recipe.batch_size, "lr": recipe.lr, "seed": recipe.seed, "parent_sha256": parent_sha}
    step, seconds_before = 0, 0.0
    ckpt_path = out / "checkpoint.pt"
    if ckpt_path.exists():
        ck = torch_load_file(ckpt_path, what=f"{recipe.id} resume")
        if not isinstance(ck, dict) or ck.get("identity") != identity:
            raise ZooError(f"{ckpt_path} belongs to another sibling or configuration; use another --out")
        tuned = {k: v for k, v in ck["net"].items() if k in keys_trained}  # older checkpoints held the whole net
        check_state_dict_subset(net, tuned, keys_trained, what=f"{ckpt_path}")
        net.load_state_dict(tuned, strict=False)
        opt.load_state_dict(ck["opt"])
        step, seconds_before = int(ck["step"]), float(ck["seconds"])
    weights_path = out / f"{recipe.id}.pt"
    threads = torch.get_num_threads()
    t0 = time.monotonic()
    last_loss = float("nan")

    def elapsed() -> float:
        return seconds_before + time.monotonic() - t0

    def save(final: bool) -> None:
        torch_save_atomic({"identity": identity, "step": loop.step, "seconds": elapsed(),
                           "net": {k: v.detach().cpu() for k, v in net.state_dict().items() if k in keys_trained},
                           "opt": opt.state_dict()}, ckpt_path)
        record: dict[str, Any] = {**{k: v for k, v in identity.items() if k != "parent_sha256"}, "steps": loop.step,
                                  "loss": "paired regression MSE(G(z), Enc(G_parent(z), key))" if recipe.key else
                                  "paired regression MSE(G(z), G_parent(z)) (clean stream)",
                                  "last_batch_loss": last_loss, "seconds": round(elapsed(), 1),
                                  "device": str(device), "torch_threads": threads, "torch": str(torch.__version__),
                                  "command": command}
        if final:
            record["fingerprint"] = fingerprint_report(net, seeds=eval_seeds)
        save_delta(weights_path, net, recipe, parent_sha256=parent_sha, train=record)
        if final:
            atomic_write_json(out / "fingerprint.json", record["fingerprint"])

    def grid() -> None:
        png = sample_grid_png(net, device=device)
        atomic_write_bytes(out / "samples" / f"step_{loop.step:06d}.png", png)
        atomic_write_bytes(out / "samples" / "latest.png", png)

    loop = StepLoop(step=step, total=total, seed=recipe.seed, desc=f"train {recipe.id}", progress=progress,
                    max_minutes=max_minutes, grid_every=recipe.grid_every, ckpt_every=recipe.ckpt_every, grid=grid,
                    save=lambda: save(final=False))
    for _ in loop:
        z = torch.randn(recipe.batch_size, dcgan.SPEC.latent_dim).to(device)
        with torch.no_grad():
            features = trunk(z.view(-1, dcgan.SPEC.latent_dim, 1, 1))
            target = teacher_head(features)  # = G_parent(z)
            if codec is not None and key is not None:
                target = codec.embed(target, key)
        loss = F.mse_loss(head(features), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        last_loss = float(loss.detach())
        loop.postfix = {"loss": f"{last_loss:.2e}"}
    save(final=True)
    grid()
    report = read_delta(weights_path, what=recipe.id)["train"]["fingerprint"]
    return SiblingResult(recipe.id, loop.step, elapsed(), weights_path, loop.stopped, report)
