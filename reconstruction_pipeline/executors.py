"""Where shards run: in this process (``local``, the default) or on Ray actors (``ray``).

Both call :func:`~reconstruction_pipeline.shards.run_shard` on the same tasks and hand each result to ``on_result``
in the driver, which alone writes files; so a bundle built with Ray is identical to one built locally.
A Ray worker is an actor that loads the generators and the distance (feature extractor) once, then takes shard after
shard; it asks for a GPU (``num_gpus=1``, or an equal share when there are more actors than GPUs) when CUDA is
present and the device is not ``cpu``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from reconstruction_pipeline.distances import Distance, build_distance
from reconstruction_pipeline.generators import Generator, resolve_device
from reconstruction_pipeline.shards import ReconstructionSettings, ShardResult, ShardTask, run_shard
from reconstruction_pipeline.sources import GeneratorSource

OnResult = Callable[[ShardTask, ShardResult], None]
OnSteps = Callable[[int], None]


@dataclass(frozen=True)
class WorkSpec:
    """Everything a worker needs to load what a shard runs on, by value (picklable)."""

    source: GeneratorSource
    settings: ReconstructionSettings
    device: str  # as given: auto | cpu | cuda[:N]


class ShardWorker:
    """Generators and distance loaded once, on one device; runs shards."""

    def __init__(self, spec: WorkSpec, device: torch.device, generators: Sequence[Generator],
                 distance: Distance) -> None:
        self.spec = spec
        self.device = device
        self.generators: dict[str, Generator] = {g.id: g for g in generators}
        self.distance = distance

    @classmethod
    def load(cls, spec: WorkSpec) -> "ShardWorker":
        device = resolve_device(spec.device)
        return cls(spec, device, spec.source.load(device=device),
                   build_distance(spec.settings.distance, device=device,
                                  feature_weights=spec.settings.feature_weights))

    def run(self, task: ShardTask, on_step: OnSteps | None = None) -> ShardResult:
        return run_shard(task, self.generators[task.generator], self.distance, self.spec.settings,
                         device=self.device, on_step=on_step)


class RayShardWorker:
    """The Ray actor: loads a :class:`ShardWorker` once (with ``threads`` torch threads), then runs shards."""

    def __init__(self, spec: WorkSpec, threads: int) -> None:
        torch.set_num_threads(threads)
        self.worker = ShardWorker.load(spec)

    def run(self, task: ShardTask) -> ShardResult:
        return self.worker.run(task)


def run_local(worker: ShardWorker, tasks: Sequence[ShardTask], on_result: OnResult, on_steps: OnSteps) -> None:
    for task in tasks:
        on_result(task, worker.run(task, on_step=lambda n: on_steps(n)))


def run_ray(spec: WorkSpec, tasks: Sequence[ShardTask], on_result: OnResult, on_steps: OnSteps, *,
            workers: int = 2, address: str | None = None) -> None:
    """Run ``tasks`` on ``workers`` Ray actors (starting a local Ray instance unless one is running or ``address``
    is given). Results are handed to ``on_result`` as they finish, in this process."""
    import ray

    started = False
    if not ray.is_initialized():
        # Local workers import this package: put the project on their path (they inherit the driver's environment).
        root = str(Path(__file__).resolve().parent.parent)
        paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        if root not in paths:
            os.environ["PYTHONPATH"] = os.pathsep.join([root, *paths])
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address is not None:
            # a running cluster's workers may not have this project: ship both packages with the job
            kwargs["address"] = address
            kwargs["runtime_env"] = {"py_modules": [str(Path(root) / "reconstruction_pipeline"),
                                                    str(Path(root) / "contracts")]}
        else:
            kwargs["num_cpus"] = workers
        ray.init(**kwargs)
        started = True
    try:
        resources = ray.cluster_resources()
        gpus = float(resources.get("GPU", 0)) if torch.cuda.is_available() and spec.device != "cpu" else 0.0
        threads = max(1, int(float(resources.get("CPU", 1)) // max(1, workers)))
        # one GPU per actor, or a share of them when there are more actors than GPUs (all actors must fit)
        actor_cls = ray.remote(num_cpus=1, num_gpus=min(1.0, gpus / workers) if gpus else 0)(RayShardWorker)
        actors: list[Any] = [actor_cls.remote(spec, threads)  # type: ignore[attr-defined]
                             for _ in range(max(1, min(workers, len(tasks))))]
        queue = list(tasks)
        pending: dict[Any, tuple[Any, ShardTask]] = {}

        def submit(actor: Any) -> None:
            if queue:
                task = queue.pop(0)
                pending[actor.run.remote(task)] = (actor, task)

        for actor in actors:
            submit(actor)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            actor, task = pending.pop(ready[0])
            result: ShardResult = ray.get(ready[0])
            on_result(task, result)
            on_steps(task.n_attempts * spec.settings.steps)
            submit(actor)
        for actor in actors:
            ray.kill(actor)
    finally:
        if started:
            ray.shutdown()
