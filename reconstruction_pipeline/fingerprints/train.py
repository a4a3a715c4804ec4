"""Training of the fingerprint codec (``fingerprints train``): resumable, time-boxed, tqdm, atomic checkpoints.

Loss (the paper's shape): ``BCE(decoder(noise(x + encoder(x, bits))), bits) + w * MSE(x + residual, x)`` with
``w = 0`` until the running bit accuracy passes ``threshold``, then ramped linearly to ``w_max`` over ``ramp`` steps.
The noise layers (kornia, :mod:`noise`) switch on at the same moment: first the message gets through, then
fidelity and robustness are learned. Data: a fresh batch of ``digiface-dcgan`` faces at every step (the zoo's
unlimited stream), fresh random bits per image. Every step's randomness is seeded from (seed, step).

Run directory ``OUT/``: ``checkpoint.pt`` (codec, optimiser, step, seconds, switch step, running accuracy) and
``codec.pt`` (the exported codec, :mod:`store` format, with its held-out evaluation).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from reconstruction_pipeline.fingerprints.codec import Codec, CodecConfig, psnr
from reconstruction_pipeline.fingerprints.errors import FingerprintError
from reconstruction_pipeline.fingerprints.noise import EVAL_PERTURBATIONS, TRAIN_NOISES
from reconstruction_pipeline.fingerprints.store import save_codec
from reconstruction_pipeline.generators import seeded_latents
from reconstruction_pipeline.zoo.checkpoint import torch_load_file, torch_save_atomic

ImageSampler = Callable[[int], torch.Tensor]  # n -> [n, 3, R, R] in [-1, 1]
EVAL_SEED0 = 10_000_000  # held-out faces: seeds never drawn by training (training draws latents from the RNG)


@dataclass(frozen=True)
class TrainOptions:
    steps: int = 4000
    batch_size: int = 32
    lr: float = 1e-3
    threshold: float = 0.9
    w_max: float = 10.0
    ramp: int = 1000
    noises: tuple[str, ...] = ("identity", "blur", "noise", "jpeg", "crop")
    seed: int = 0
    ckpt_every: int = 100
    eval_images: int = 256
    pool: int = 0  # 0: a fresh batch of faces at every step; N: N faces drawn once (seeded) and reused


@dataclass(frozen=True)
class TrainResult:
    step: int
    seconds: float
    weights: Path
    stopped: str
    evaluation: dict[str, Any]


def teacher_stream(resolution: int, device: torch.device) -> tuple[ImageSampler, Callable[[int], torch.Tensor]]:
    """(training sampler from the global RNG, held-out images by count) of digiface-dcgan faces at ``resolution``."""
    from reconstruction_pipeline.zoo.dcgan import load_dcgan

    teacher = load_dcgan(device=device)

    def fit(x: torch.Tensor) -> torch.Tensor:
        return x if x.shape[-1] == resolution else F.interpolate(x, size=(resolution, resolution), mode="area")

    def sample(n: int) -> torch.Tensor:
        with torch.no_grad():
            return fit(teacher.synthesize(torch.randn(n, teacher.latent_dim).to(device)))

    def held_out(n: int) -> torch.Tensor:
        with torch.no_grad():
            z = seeded_latents(range(EVAL_SEED0, EVAL_SEED0 + n), teacher.latent_dim, device=device)
            return torch.cat([fit(teacher.synthesize(z[i:i + 64])) for i in range(0, n, 64)])

    return sample, held_out


@torch.no_grad()
def evaluate_codec(codec: Codec, images: torch.Tensor, *, seed: int = 1) -> dict[str, Any]:
    """Bit accuracy (clean and per evaluation perturbation), PSNR and SSIM of fingerprinted vs clean images,
    on ``images`` with random bits drawn from ``seed``."""
    was = codec.training
    codec.eval()
    g = torch.Generator().manual_seed(seed)
    bits = torch.randint(0, 2, (images.shape[0], codec.cfg.bits), generator=g).to(images.device)
    marked = torch.cat([codec.embed(images[i:i + 64], bits[i:i + 64]) for i in range(0, len(images), 64)])
    res: dict[str, Any] = {"images": int(images.shape[0]),
                           "psnr_db": float(psnr(marked, images).mean()),
                           "ssim": _ssim((marked + 1) / 2, (images + 1) / 2)}
    acc: dict[str, float] = {}
    for name, fn in EVAL_PERTURBATIONS.items():
        y = fn(marked)
        dec = torch.cat([codec.decode(y[i:i + 64]) for i in range(0, len(y), 64)])
        acc[name] = float((dec == bits.bool()).float().mean())
    res["bit_accuracy"] = acc
    codec.train(was)
    return res


def pooled(sample: ImageSampler, n: int, path: Path, *, seed: int) -> ImageSampler:
    """A sampler drawing (with the global RNG) from ``n`` faces of ``sample``, drawn once from ``seed`` and kept in
    ``path`` (so a resumed run reuses the same pool)."""
    if path.is_file():
        pool = torch_load_file(path, what="face pool")
    else:
        state = torch.get_rng_state()
        torch.manual_seed(seed + 7_919)
        pool = torch.cat([sample(min(64, n - i)) for i in range(0, n, 64)]).cpu()
        torch.set_rng_state(state)
        torch_save_atomic(pool, path)
    if not isinstance(pool, torch.Tensor) or pool.shape[0] != n:
        raise FingerprintError(f"{path} is not a pool of {n} faces; delete it or use another --out")

    def draw(k: int) -> torch.Tensor:
        return pool[torch.randint(n, (k,))]

    return draw


def _ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    from torchmetrics.functional.image import structural_similarity_index_measure as ssim

    out = ssim(a, b, data_range=1.0)
    assert isinstance(out, torch.Tensor)
    return float(out)


def train_codec(cfg: CodecConfig, opts: TrainOptions, *, out_dir: str | Path, device: torch.device,
                max_minutes: float | None = None, progress: bool = True, command: str = "",
                stream: tuple[ImageSampler, Callable[[int], torch.Tensor]] | None = None) -> TrainResult:
    cfg.check()
    for n in opts.noises:
        if n not in TRAIN_NOISES:
            raise FingerprintError(f"unknown noise layer {n!r}; known: {', '.join(TRAIN_NOISES)}")
    out = Path(out_dir)
    torch.manual_seed(opts.seed)
    codec = Codec(cfg).to(device)
    opt = torch.optim.Adam(codec.parameters(), lr=opts.lr)
    step, seconds_before, switch_step, acc_ema, cpu_before = 0, 0.0, -1, 0.5, 0.0
    ident = {"config": cfg.as_dict(), "options": {k: v for k, v in asdict(opts).items()
                                                  if k not in ("steps", "ckpt_every", "eval_images")}}
    ckpt_path = out / "checkpoint.pt"
    if ckpt_path.exists():
        ck = torch_load_file(ckpt_path, what="fingerprint codec resume")
        if not isinstance(ck, dict) or ck.get("ident") != _jsonable(ident):
            raise FingerprintError(f"{ckpt_path} belongs to another codec configuration or options; use another --out")
        codec.load_state_dict(ck["codec"])
        opt.load_state_dict(ck["opt"])
        step, seconds_before = int(ck["step"]), float(ck["seconds"])
        switch_step, acc_ema = int(ck["switch_step"]), float(ck["acc_ema"])
        cpu_before = float(ck.get("cpu_seconds", 0.0))
    sample, held_out = stream or teacher_stream(cfg.resolution, device)
    if opts.pool:
        sample = pooled(sample, opts.pool, out / "pool.pt", seed=opts.seed)
    threads = torch.get_num_threads()
    t0, c0 = time.monotonic(), time.process_time()

    def elapsed() -> float:
        return seconds_before + time.monotonic() - t0

    def cpu() -> float:  # CPU time of this process (all threads), over all resumed runs
        return cpu_before + time.process_time() - c0

    def save(final: bool) -> dict[str, Any]:
        torch_save_atomic({"ident": _jsonable(ident), "codec": codec.state_dict(), "opt": opt.state_dict(),
                           "step": step, "seconds": elapsed(), "switch_step": switch_step, "acc_ema": acc_ema,
                           "cpu_seconds": cpu()},
                          ckpt_path)
        ev = evaluate_codec(codec, held_out(opts.eval_images)) if final else {}
        save_codec(out / "codec.pt", codec, evaluation=ev, train={
            **ident["options"], "noises": list(opts.noises), "steps": step, "switch_step": switch_step,
            "seconds": round(elapsed(), 1), "cpu_seconds": round(cpu(), 1), "device": str(device), "torch_threads": threads,
            "torch": str(torch.__version__), "command": command})
        return ev

    from tqdm import tqdm

    stopped = "steps"
    bar = tqdm(total=opts.steps, initial=min(step, opts.steps), desc="train fingerprint codec",
               disable=not progress, dynamic_ncols=True)
    codec.train()
    try:
        while step < opts.steps:
            if max_minutes is not None and time.monotonic() - t0 > max_minutes * 60.0:
                stopped = "time"
                break
            torch.manual_seed(opts.seed * 1_000_003 + step)
            x = sample(opts.batch_size).to(device)
            bits = torch.randint(0, 2, (opts.batch_size, cfg.bits)).float().to(device)
            y = codec.embed_train(x, bits)
            on = switch_step >= 0
            if on:
                y_seen = TRAIN_NOISES[opts.noises[int(torch.randint(len(opts.noises), ()))]](y)
            else:
                y_seen = y
            logits = codec.decoder(y_seen)
            bce = F.binary_cross_entropy_with_logits(logits, bits)
            mse = F.mse_loss(y, x)
            w = opts.w_max * min(1.0, (step - switch_step) / max(1, opts.ramp)) if on else 0.0
            loss = bce + w * mse
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            acc = float(((logits.detach() > 0) == bits.bool()).float().mean())
            acc_ema = 0.95 * acc_ema + 0.05 * acc
            if not on and acc_ema >= opts.threshold:
                switch_step = step
            step += 1
            bar.update(1)
            if step % 10 == 0:
                bar.set_postfix(acc=f"{acc_ema:.3f}", psnr=f"{float(psnr(y.detach(), x).mean()):.1f}",
                                w=f"{w:.2f}")
            if step % opts.ckpt_every == 0 and step < opts.steps:
                save(final=False)
    finally:
        bar.close()
    ev = save(final=True)
    return TrainResult(step, elapsed(), out / "codec.pt", stopped, ev)


def _jsonable(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _jsonable(v) for k, v in d.items()}
    if isinstance(d, (list, tuple)):
        return [_jsonable(v) for v in d]
    return d
