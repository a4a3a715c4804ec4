"""A simulated study with known truth: a bundle and a responses export written through :mod:`contracts`.

Used by the tests (a study of known skill, careless participants who fail placebo rounds, dropouts, ties) and by
``bench/analysis_report.py`` (paper scale). Randomness is an input: everything follows from ``seed``.

Answer model: a careful participant of skill ``s`` picks, in a non-placebo round, the row the reconstructions
favour (the algorithm's generator) with probability ``s`` when the algorithm is right, and when it is wrong picks
the algorithm's generator with probability ``follow_algorithm`` and the truth otherwise; every other answer goes
to a uniformly random other row. In placebo rounds a careful participant picks the PLACEBO row with probability
``placebo_skill``. A careless participant clicks uniformly at random. A dropout stops after a random number of
rounds. Wrong answers take ``slower_when_wrong`` times longer on average.

Distances: the true generator's attempt converges (is closest) with probability ``converge`` and is stuck otherwise,
so more attempts help (paper Fig. 5); on an ``algorithm_error`` share of targets another generator is closest on
every attempt.

Conditions (docs/contracts.md, conditions addendum): with ``conditions`` every source target exists under every condition (its
own target, ``source_target`` the clean id); the algorithm errs on a ``condition_algorithm_error[c]`` share of a
condition's targets (default ``algorithm_error``) and a careful participant's skill on a target of condition ``c``
is ``skill * condition_skill[c]`` (default 1): people with condition-dependent skill.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contracts.bundle import GeneratorInfo, Manifest, Reconstruction, ReconstructionConfig, Target, attribute
from contracts.conditions import CLEAN, Condition, builtin_category, canonical_condition, parse_condition
from contracts.responses import PLACEBO, Response, make_response, write_responses
from contracts.synthetic import PLACEHOLDER_IMAGE, write_synthetic_bundle

PAPER_GENERATORS: tuple[str, ...] = ("progan", "stylegan", "stylegan2")


@dataclass(frozen=True)
class SimulatedStudy:
    """The contract objects of a simulated study; rows carry no images yet (:func:`write_study` makes them)."""

    manifest: Manifest
    targets: tuple[Target, ...]
    reconstructions: tuple[Reconstruction, ...]
    responses: tuple[Response, ...]
    skill: dict[str, float]          # participant_code -> skill (0 for careless)
    careless: frozenset[str]


def simulate_study(*, n_targets: int = 60, generators: tuple[str, ...] = PAPER_GENERATORS, attempts: int = 3,
                   algorithm_error: float = 0.03, n_participants: int = 20, rounds: int = 30,
                   placebo_rate: float = 0.05, skill_range: tuple[float, float] = (0.8, 0.98),
                   careless: float = 0.1, dropout: float = 0.1, follow_algorithm: float = 0.9,
                   placebo_skill: float = 0.98, converge: float = 0.7, slower_when_wrong: float = 1.25,
                   seed: int = 0, conditions: Sequence[str] = (),
                   condition_skill: Mapping[str, float] | None = None,
                   condition_algorithm_error: Mapping[str, float] | None = None) -> SimulatedStudy:
    """Build the contract objects of a simulated study (no files; see :func:`write_study`). With ``conditions``
    (canonical names) ``n_targets`` counts source targets, each made under every condition."""
    if len(generators) < 2 or n_targets < 1 or attempts < 1 or n_participants < 1 or rounds < 1:
        raise ValueError("need >= 2 generators and >= 1 target, attempt, participant and round")
    rng = np.random.default_rng(seed)
    gens = tuple(generators)
    names = [canonical_condition(c) for c in conditions] or [CLEAN]
    if len(set(names)) != len(names):
        raise ValueError(f"conditions must be distinct, got {list(conditions)}")
    errors = dict(condition_algorithm_error or {})
    targets = []
    recs = []
    for i, (tid, truth, cond) in enumerate(
            (f"t{k:05d}" if c == CLEAN else f"t{k:05d}k{j}", gens[k % len(gens)], c)
            for k in range(n_targets) for j, c in enumerate(names)):
        targets.append(Target(tid, truth, PLACEHOLDER_IMAGE, condition=cond, source_target=tid.split("k")[0]))
        wrong = rng.random() < errors.get(cond, algorithm_error)
        other = gens[(gens.index(truth) + 1 + int(rng.integers(0, len(gens) - 1))) % len(gens)]
        for g in gens:
            for a in range(attempts):
                if wrong:       # another generator reconstructs it best, whatever the attempt
                    base = 0.03 if g == other else 0.08
                elif g == truth:  # the true generator converges on some attempts and is stuck on others
                    base = 0.05 if rng.random() < converge else 0.11
                else:
                    base = 0.08
                recs.append(Reconstruction(tid, g, a, float(base + 0.02 * rng.random()),
                                           PLACEHOLDER_IMAGE))
    algo = attribute((r.target_id, r.generator, r.distance) for r in recs)
    factor = {t.target_id: float((condition_skill or {}).get(t.condition, 1.0)) for t in targets}

    responses, skill, sloppy = simulate_responses(
        targets, algo, attempts=attempts, rng=rng, n_participants=n_participants, rounds=rounds,
        placebo_rate=placebo_rate, skill_range=skill_range, careless=careless, dropout=dropout,
        follow_algorithm=follow_algorithm, placebo_skill=placebo_skill, slower_when_wrong=slower_when_wrong,
        generators=gens, skill_factor=factor if conditions else None)
    manifest = Manifest(
        generators=tuple(GeneratorInfo(g, g.upper(), "simulated", 2, 8) for g in gens),
        reconstruction=ReconstructionConfig(steps=0, lr=0.0, attempts=attempts, distance="simulated", seed=seed),
        software="analysis.simulate",
        conditions=tuple(Condition(c, builtin_category(c), parse_condition(c)[1]) for c in names),
    )
    return SimulatedStudy(manifest, tuple(targets), tuple(recs), tuple(responses), skill, sloppy)


def simulate_responses(targets: Sequence[Target], algorithm: Mapping[str, str], *, attempts: int,
                       rng: np.random.Generator, n_participants: int = 20, rounds: int = 30,
                       placebo_rate: float = 0.05, skill_range: tuple[float, float] = (0.8, 0.98),
                       careless: float = 0.1, dropout: float = 0.1, follow_algorithm: float = 0.9,
                       placebo_skill: float = 0.98, slower_when_wrong: float = 1.25,
                       generators: Sequence[str] | None = None, skill_factor: Mapping[str, float] | None = None,
                       ) -> tuple[list[Response], dict[str, float], frozenset[str]]:
    """Simulated answers for the given targets (e.g. a real pipeline-built bundle's) under the module's answer
    model; ``algorithm`` is target_id -> the algorithm's generator; ``skill_factor`` (target_id -> factor, default
    1) scales a careful participant's skill on that target (condition-dependent skill). Returns (responses, skill,
    careless codes)."""
    gens = tuple(generators) if generators is not None else tuple(
        sorted({t.true_generator for t in targets} | set(algorithm.values())))
    n_targets = len(targets)
    responses: list[Response] = []
    skill: dict[str, float] = {}
    sloppy: set[str] = set()
    for p in range(n_participants):
        code = f"p{p:04d}"
        is_careless = rng.random() < careless
        s = 0.0 if is_careless else float(rng.uniform(*skill_range))
        skill[code] = s
        if is_careless:
            sloppy.add(code)
        n_rounds = int(rng.integers(1, rounds + 1)) if rng.random() < dropout else rounds
        for rnd in range(1, n_rounds + 1):
            t = targets[int(rng.integers(0, n_targets))]
            placebo = rng.random() < placebo_rate
            rows = list(gens) + ([PLACEBO] if placebo else [])
            order = [rows[j] for j in rng.permutation(len(rows))]
            if is_careless:
                chosen = order[int(rng.integers(0, len(order)))]
            elif placebo:
                others = [g for g in order if g != PLACEBO]
                chosen = PLACEBO if rng.random() < placebo_skill else others[int(rng.integers(0, len(others)))]
            else:
                pick = algorithm[t.target_id]
                favoured = (pick if pick == t.true_generator or rng.random() < follow_algorithm
                            else t.true_generator)
                if rng.random() < s * (skill_factor[t.target_id] if skill_factor is not None else 1.0):
                    chosen = favoured
                else:
                    others = [g for g in gens if g != favoured]
                    chosen = others[int(rng.integers(0, len(others)))]
            attempt = None if chosen == PLACEBO else int(rng.integers(0, attempts))
            right = chosen == (PLACEBO if placebo else t.true_generator)
            ms = float(int(rng.gamma(4.0, 900.0) * (1.0 if right else slower_when_wrong)) + 200)
            responses.append(make_response(
                participant_code=code, participant_label=f"W{p:05d}" if p % 3 else "", round_number=rnd,
                target_id=t.target_id, true_generator=t.true_generator, row_order=order, chosen_generator=chosen,
                chosen_attempt=attempt, response_ms=ms, condition=t.condition))
    return responses, skill, frozenset(sloppy)


def write_study(directory: str | Path, study: SimulatedStudy) -> tuple[Path, Path]:
    """Write ``directory/bundle`` (real tiny PNGs, content-hash names: :mod:`contracts.synthetic`) and
    ``directory/responses.csv``."""
    root = write_synthetic_bundle(Path(directory) / "bundle", study.manifest, study.targets,
                                  study.reconstructions).root
    responses = Path(directory) / "responses.csv"
    write_responses(responses, study.responses)
    return root, responses
