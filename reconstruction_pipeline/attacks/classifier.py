"""The transfer attack of the paper's Fig. 9: a classifier that tells the zoo's generators apart, attacked with
torchattacks; its adversarial images are then given to the attribution.

The classifier follows Frank et al. (2020): a small CNN on the **2-D DCT-II** (orthonormal, per colour channel) of
the image, log-scaled (``log(|DCT| + 1e-4)``) and standardised per coefficient with statistics of its training
samples. The DCT is a matrix product, ``X = D x D^T`` with ``D[k, i] = s_k cos(pi (2i + 1) k / 2n)``, so the whole
model is differentiable for the attacks (tested against ``scipy.fft.dctn(norm="ortho")``). Four convolutions, as the
paper's substitute classifier.

It is trained on **unlimited samples** of the zoo's generators: every step draws fresh seeds (derived from the
training seed, the step and the generator), so it never sees an image twice; accuracy is measured on held-out seeds.
``python -m reconstruction_pipeline attack train-classifier --zoo faces`` trains and writes the weights and a model
card (JSON beside the weights; docs/attacks.md gives the command and the figures).
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from reconstruction_pipeline.attacks.budget import project_l2, project_linf
from reconstruction_pipeline.attacks.context import AttackBatch, AttackContext
from reconstruction_pipeline.attacks.spec import (AttackError, AttackKind, AttackOutput, ParamValue, positive_float,
                                                  register_attack)
from reconstruction_pipeline.generators import Generator, seeded_latents
from reconstruction_pipeline.targets import derive_seed

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
LOG_EPS = 1e-4


def weights_file(zoo: str) -> Path:
    return WEIGHTS_DIR / f"dct-{zoo}.pt"


def dct_matrix(n: int, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """[n, n] orthonormal DCT-II matrix: ``D @ v`` is ``scipy.fft.dct(v, norm="ortho")``."""
    k = torch.arange(n, dtype=torch.float64).view(-1, 1)
    i = torch.arange(n, dtype=torch.float64).view(1, -1)
    d = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    d[0] /= math.sqrt(2.0)
    return d.to(dtype)


def dct2(x: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """[..., n, n] -> 2-D DCT-II of the last two axes: ``D x D^T``."""
    return d @ x @ d.transpose(0, 1)


class DCTClassifier(nn.Module):
    """images [N, 3, R, R] in [-1, 1] -> logits [N, len(classes)] (one class per generator id)."""

    def __init__(self, classes: Sequence[str], resolution: int, *, width: int = 16) -> None:
        super().__init__()
        self.classes = tuple(classes)
        self.resolution, self.width = resolution, width
        self.register_buffer("dct", dct_matrix(resolution, dtype=torch.float32))
        self.register_buffer("mean", torch.zeros(3, resolution, resolution))
        self.register_buffer("std", torch.ones(3, resolution, resolution))
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(3, w, 3, padding=1), nn.ReLU(),                       # N x w x R x R
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),  # N x 2w x R/2 x R/2
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),  # N x 4w x R/4 x R/4
            nn.Conv2d(4 * w, 4 * w, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),                           # N x 4w
            nn.Linear(4 * w, len(self.classes)))

    def spectrum(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 3, R, R] -> log |DCT|, unstandardised."""
        d: torch.Tensor = self.dct  # type: ignore[assignment]
        return torch.log(dct2(x, d).abs() + LOG_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean: torch.Tensor = self.mean  # type: ignore[assignment]
        std: torch.Tensor = self.std  # type: ignore[assignment]
        s = (self.spectrum(x) - mean) / std
        out: torch.Tensor = self.net(s)
        return out


class On01(nn.Module):
    """The classifier on [0, 1] images, the range torchattacks works in."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x01: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(x01 * 2 - 1)
        return out


@dataclass(frozen=True)
class ClassifierCard:
    zoo: str
    classes: tuple[str, ...]
    resolution: int
    width: int
    steps: int
    batch_per_generator: int
    lr: float
    seed: int
    clean_accuracy: float
    test_images: int
    cpu_seconds: float
    wall_seconds: float
    command: str


def _samples(generators: Sequence[Generator], n: int, seed: int, *keys: object, device: torch.device
             ) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    with torch.no_grad():
        for label, g in enumerate(generators):
            z = seeded_latents([derive_seed(seed, *keys, g.id, i) for i in range(n)], g.latent_dim, device=device)
            xs.append(g.synthesize(z).clamp(-1, 1).float())
            ys.append(torch.full((n,), label, dtype=torch.long, device=device))
    return torch.cat(xs), torch.cat(ys)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch: int = 256) -> float:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + batch]).argmax(1) for i in range(0, x.shape[0], batch)])
    return float((pred == y).float().mean())


def train_classifier(generators: Sequence[Generator], *, zoo: str, steps: int = 300, batch_per_generator: int = 32,
                     lr: float = 1e-3, width: int = 16, seed: int = 0, test_per_generator: int = 200,
                     device: torch.device | str = "cpu", command: str = "",
                     on_step: Callable[[int, float], None] | None = None) -> tuple[DCTClassifier, ClassifierCard]:
    """Train on fresh samples every step (seeds ``derive_seed(seed, "classifier-train", step, generator, i)``),
    standardise with 64 samples per generator (``"classifier-norm"``), test on ``test_per_generator`` held-out
    seeds per generator (``"classifier-test"``). Returns the model (eval mode, CPU) and its card."""
    device = torch.device(device)
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    res = {g.resolution for g in generators}
    if len(res) != 1:
        raise ValueError("the classifier's generators must share a resolution")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "classifier-init"))
        model = DCTClassifier([g.id for g in generators], res.pop(), width=width).to(device)
    xn, _ = _samples(generators, 64, seed, "classifier-norm", device=device)
    with torch.no_grad():
        spec = model.spectrum(xn)
        mean: torch.Tensor = model.mean  # type: ignore[assignment]
        std: torch.Tensor = model.std  # type: ignore[assignment]
        mean.copy_(spec.mean(0))
        std.copy_(spec.std(0).clamp_min(1e-3))
    opt = torch.optim.Adam(model.net.parameters(), lr=lr)
    for step in range(steps):
        model.train()
        x, y = _samples(generators, batch_per_generator, seed, "classifier-train", step, device=device)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if on_step is not None:
            on_step(step, float(loss))
    xt, yt = _samples(generators, test_per_generator, seed, "classifier-test", device=device)
    acc = accuracy(model, xt, yt)
    model.eval()
    card = ClassifierCard(zoo, model.classes, model.resolution, width, steps, batch_per_generator, lr, seed, acc,
                          int(yt.numel()), round(time.process_time() - t_cpu, 1),
                          round(time.perf_counter() - t_wall, 1), command)
    return model.cpu(), card


def save_classifier(model: DCTClassifier, card: ClassifierCard) -> bytes:
    buf = io.BytesIO()
    torch.save({"format": "dct-classifier-1", "state_dict": model.state_dict(), "card": asdict(card)}, buf)
    return buf.getvalue()


def load_classifier(path: str | Path, *, device: torch.device | str = "cpu") -> tuple[DCTClassifier, dict[str, Any]]:
    """Load weights written by :func:`save_classifier`; a missing or foreign file is an :class:`AttackError`."""
    path = Path(path)
    if not path.is_file():
        raise AttackError(f"{path}: no classifier weights; train them with `python -m reconstruction_pipeline attack "
                          "train-classifier --zoo ZOO`")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same mistake
        raise AttackError(f"{path}: not a classifier weights file ({type(e).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != "dct-classifier-1":
        raise AttackError(f"{path}: not a classifier weights file (written by attack train-classifier)")
    card = data["card"]
    model = DCTClassifier(card["classes"], card["resolution"], width=card["width"])
    model.load_state_dict(data["state_dict"])
    model.requires_grad_(False)
    return model.eval().to(device), card


# --------------------------------------------------------------------------------------------------- attacks

def labels_for(model: DCTClassifier, batch: AttackBatch, device: torch.device) -> torch.Tensor:
    """The true generator's class where known, else the classifier's own prediction (untargeted attack on it)."""
    with torch.no_grad():
        pred = model(batch.images.to(device)).argmax(1).cpu()
    out = [model.classes.index(g) if g in model.classes else int(pred[i])
           for i, g in enumerate(batch.true_generators)]
    return torch.tensor(out, dtype=torch.long)


def transfer_attack(model: DCTClassifier, images: torch.Tensor, labels: torch.Tensor, method: str,
                    params: Mapping[str, float], *, device: torch.device | str = "cpu") -> torch.Tensor:
    """torchattacks against the classifier: ``fgsm`` (eps), ``pgd`` (eps; 10 steps of eps/4), ``pgdl2`` (l2; 10
    steps of l2/4), ``cw`` (c; l2, 50 Adam steps, lr 0.01). images [N, 3, R, R] in [-1, 1]; returns them attacked,
    within their budget exactly (CW has none: report its l2)."""
    import torchattacks

    device = torch.device(device)
    m = On01(model).to(device).eval()
    x01 = ((images.to(device) + 1) / 2).clamp(0, 1)
    y = labels.to(device)
    if method == "fgsm":
        atk: Any = torchattacks.FGSM(m, eps=params["eps"])
    elif method == "pgd":
        atk = torchattacks.PGD(m, eps=params["eps"], alpha=params["eps"] / 4, steps=10, random_start=False)
    elif method == "pgdl2":
        atk = torchattacks.PGDL2(m, eps=params["l2"], alpha=params["l2"] / 4, steps=10, random_start=False)
    elif method == "cw":
        atk = torchattacks.CW(m, c=params["c"], kappa=0, steps=50, lr=0.01)
    else:
        raise ValueError(f"unknown transfer attack {method!r}")
    adv = atk(x01, y).detach() * 2 - 1
    x = images.to(device)
    if "eps" in params:
        return project_linf(x, adv, params["eps"]).cpu()
    if "l2" in params:
        return project_l2(x, adv, params["l2"]).cpu()
    return adv.clamp(-1, 1).cpu()


def _runner(method: str) -> Callable[..., AttackOutput]:
    def run(ctx: AttackContext, batch: AttackBatch, params: Mapping[str, ParamValue], *, seed: int) -> AttackOutput:
        model = ctx.classifier
        if not isinstance(model, DCTClassifier):
            raise AttackError(f"clf-{method} needs the transfer classifier (attack run --classifier PATH, or train "
                              "one with attack train-classifier)")
        labels = labels_for(model, batch, ctx.device)
        imgs = transfer_attack(model, batch.images, labels, method,
                               {k: float(v) for k, v in params.items()}, device=ctx.device)
        return AttackOutput(imgs)
    return run


register_attack(AttackKind("clf-fgsm", {"eps": positive_float}, ("eps",), _runner("fgsm"),
                           "transfer: torchattacks FGSM on the DCT classifier (l-inf eps, [0,1] units)",
                           needs_classifier=True))
register_attack(AttackKind("clf-pgd", {"eps": positive_float}, ("eps",), _runner("pgd"),
                           "transfer: torchattacks PGD, 10 steps (l-inf eps)", needs_classifier=True))
register_attack(AttackKind("clf-pgdl2", {"l2": positive_float}, ("l2",), _runner("pgdl2"),
                           "transfer: torchattacks PGD-L2, 10 steps (l2 budget)", needs_classifier=True))
register_attack(AttackKind("clf-cw", {"c": positive_float}, ("c",), _runner("cw"),
                           "transfer: torchattacks CW-L2, 50 steps (constant c; report its l2)", needs_classifier=True))
