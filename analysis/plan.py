"""How many participants does a study need? A seeded simulation of a whole session with the app's own allocation.

``python -m analysis plan --targets N --votes-per-target K --rounds R [--allocation balanced|dynamic|random]``
simulates the crowd the way the app serves it (:func:`simulate_session`: each participant holds their current and
next round, participants answer in random interleaving, dropouts vanish mid-study and their targets return to the
pool after the dropout timeout, recruits replace them until every target is done) and prints the participants
needed, the paid rounds, the cost and the expected width of the 95% intervals of the agreement and of the mean
participant accuracy, over ``--replications`` simulated studies.

The crowd (:class:`Crowd`): careful participants of accuracy ~ Normal(89.8%, 5.8%) (the paper's kept
participants), clipped to [1/G, 1]; on a ``hard`` share of images careful people are drawn to one wrong generator
(the paper's humans were wrong on 39 of 631 images); careless participants click at random and fail the placebo
rounds; a ``dropout`` share leaves at a random round. Answers are *potential outcomes*: participant p's answer to
image t is a fixed draw (seeded by the crowd seed, p and t), so two allocations run on the same seed meet the same
people giving the same answers, arriving in the same order (what ``bench/dynamic_overlap.py`` compares).

"Done" per allocation: ``balanced`` and ``random``: every target has k answered votes; ``dynamic``: every
target's majority of k is settled (``study_app/allocation.settled``). Who is paid: participants who complete all
rounds (dropouts return the study, as on Prolific); recruiting stops when every target is done, and the
participants still active then finish and are paid.

Everything random derives from ``seed``; the allocation code is the app's (``analysis.app_rules``).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis import option_rules as rules
from analysis.app_rules import allocation as alloc
from analysis.option_rules import checked
from contracts.cli import EXIT_USAGE, report

PLACEBO_CHOICE = -1           # the chosen row of a placebo round's copies
TIMEOUT_S = 300.0             # dropout timeout of the simulated session (seconds of simulated time)


@dataclass(frozen=True)
class Crowd:
    """Who takes part (see the module docstring)."""

    skill_mean: float = 0.898
    skill_sd: float = 0.058
    careless: float = 0.05
    dropout: float = 0.15
    placebo: float = 0.05
    placebo_skill: float = 0.98
    hard: float = 0.05
    algorithm_accuracy: float = 0.976
    generators: int = 3

    def check(self) -> None:
        for name in ("careless", "dropout", "placebo", "placebo_skill", "hard", "algorithm_accuracy"):
            checked(name, rules.fraction, getattr(self, name))
        checked("skill_mean", rules.positive_fraction, self.skill_mean)
        checked("skill_sd", rules.fraction, self.skill_sd)
        checked("generators", rules.at_least(2), self.generators)


@dataclass
class _Person:
    index: int
    skill: float                     # 0 for careless
    careless: bool
    drop_at: int | None              # vanishes before answering this round (None: completes)
    placebo_rounds: frozenset[int]
    seen: set[int] = field(default_factory=set)
    served: list[tuple[int, bool]] = field(default_factory=list)   # (target, placebo) served, unanswered
    done: int = 0


@dataclass
class SessionRun:
    """One simulated session: every answer, and who was recruited, completed and dropped out."""

    allocation: str
    k: int
    rounds: int
    answers: pd.DataFrame            # participant, round, target, placebo, choice (generator index or -1), correct
    truth: np.ndarray                # per target: true generator index
    algo: np.ndarray                 # per target: the algorithm's generator index
    recruited: int
    completed: int
    dropouts: int
    finished: bool                   # every target done within the recruiting cap
    answers_until_done: int = 0      # non-placebo answers cast when the last target was done (all of them if never)

    @property
    def non_placebo_answers(self) -> int:
        return int((~self.answers["placebo"]).sum())


def _person(crowd: Crowd, seed: int, index: int, rounds: int) -> _Person:
    rng = random.Random(f"{seed}|person|{index}")
    careless = rng.random() < crowd.careless
    skill = 0.0 if careless else min(1.0, max(1.0 / crowd.generators, rng.gauss(crowd.skill_mean, crowd.skill_sd)))
    drop_at = rng.randint(1, rounds) if rng.random() < crowd.dropout else None
    placebo = [r for r in range(1, rounds + 1) if rng.random() < crowd.placebo] or [rng.randint(1, rounds)]
    return _Person(index, skill, careless, drop_at, frozenset(placebo))


def _targets(crowd: Crowd, seed: int, n_targets: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per target: truth, the generator careful people favour (the truth, or a decoy on hard images), algorithm."""
    rng = np.random.default_rng([seed, 1])
    g = crowd.generators
    truth = np.arange(n_targets) % g
    shift = rng.integers(1, g, size=n_targets)
    favoured = np.where(rng.random(n_targets) < crowd.hard, (truth + shift) % g, truth)
    right = rng.random(n_targets) < crowd.algorithm_accuracy
    algo = np.where(right, truth, (truth + rng.integers(1, g, n_targets)) % g)
    return truth, favoured, algo


def _answer(crowd: Crowd, seed: int, person: _Person, target: int, placebo: bool, favoured: int) -> int:
    """Participant ``person``'s fixed answer to ``target`` (the same in every allocation run on ``seed``)."""
    rng = random.Random(f"{seed}|answer|{person.index}|{target}|{int(placebo)}")
    g = crowd.generators
    if placebo:
        if person.careless:
            pick = rng.randrange(g + 1)
            return PLACEBO_CHOICE if pick == g else pick
        return PLACEBO_CHOICE if rng.random() < crowd.placebo_skill else rng.randrange(g)
    if person.careless:
        return rng.randrange(g)
    if rng.random() < person.skill:
        return favoured
    return (favoured + rng.randrange(1, g)) % g


def simulate_session(*, n_targets: int, k: int, rounds: int, allocation: str, crowd: Crowd = Crowd(), seed: int = 0,
                     concurrent: int = 10, max_recruits: int | None = None, allocation_seed: int = 0,
                     progress: Callable[[int], None] | None = None) -> SessionRun:
    """Run one session with the app's allocation (``study_app/allocation.py``) until every target is done.

    ``concurrent`` participants are in the study at once; each step one of them (at random) is served their
    current and next round and answers the current one, 1 s of simulated time per step. ``progress`` is called
    with 1 per recruited participant (a progress bar's ``update``). ``allocation_seed`` changes only the
    allocation's and the interleaving's randomness (the crowd and its answers stay those of ``seed``).
    """
    if allocation not in alloc.MODES:
        raise ValueError(f"allocation must be one of {', '.join(alloc.MODES)}, got {allocation!r}")
    for name, value in (("n_targets", n_targets), ("k", k), ("rounds", rounds), ("concurrent", concurrent)):
        checked(name, rules.at_least(1), value)
    rules.rounds_fit_targets(rounds, n_targets)
    crowd.check()
    floor = alloc.participants_needed(votes_per_target=k, n_targets=n_targets,
                                      answers_per_participant=max(1, rounds - math.ceil(rounds * crowd.placebo)))
    cap = max_recruits if max_recruits is not None else 20 * floor + 20
    truth, favoured, algo = _targets(crowd, seed, n_targets)
    rng = random.Random(f"{seed}|session|{allocation}|{allocation_seed}")
    g = crowd.generators
    votes = [0] * n_targets
    tallies: list[tuple[int, ...]] = [(0,) * g] * n_targets   # immutable: replaced on each vote, as in the app
    holds: alloc.Holds = {}
    rows: list[tuple[int, int, int, bool, int]] = []
    active: list[_Person] = []
    recruited = completed = dropouts = 0
    now = 0.0

    def done(t: int) -> bool:
        return alloc.settled(tallies[t], k) if allocation == "dynamic" else votes[t] >= k

    open_targets = set(range(n_targets))
    until_done = 0
    while True:
        recruiting = bool(open_targets) and recruited < cap
        while recruiting and len(active) < concurrent and recruited < cap:
            active.append(_person(crowd, seed, recruited, rounds))
            recruited += 1
            if progress is not None:
                progress(1)
        if not active:
            if not recruiting:
                break
            now += TIMEOUT_S  # everyone left dropped out: wait for their holds to expire, then recruit
            continue
        now += 1.0
        alloc.release_dropouts(holds, now=now, timeout_s=TIMEOUT_S)
        p = rng.choice(active)
        while len(p.served) < 2 and p.done + len(p.served) < rounds:
            rnd = p.done + len(p.served) + 1
            placebo = rnd in p.placebo_rounds
            prefer = "most" if placebo and allocation != "random" else "least"
            t = alloc.choose_target(alloc.loads(votes, holds), exclude=p.seen, rng=rng, mode=allocation,
                                    prefer=prefer, tallies=tallies, k=k)
            assert t is not None  # rounds <= targets
            p.seen.add(t)
            p.served.append((t, placebo))
        alloc.set_hold(holds, str(p.index), [t for t, pl in p.served if not pl], now=now)
        if p.drop_at == p.done + 1:
            active.remove(p)
            dropouts += 1
            continue
        t, placebo = p.served.pop(0)
        p.done += 1
        choice = _answer(crowd, seed, p, t, placebo, int(favoured[t]))
        rows.append((p.index, p.done, t, placebo, choice))
        if not placebo:
            votes[t] += 1
            tallies[t] = tuple(c + (j == choice) for j, c in enumerate(tallies[t]))
            if t in open_targets and done(t):
                open_targets.discard(t)
                if not open_targets:
                    until_done = sum(1 for r in rows if not r[3])
        alloc.set_hold(holds, str(p.index), [t for t, pl in p.served if not pl], now=now)
        if p.done == rounds:
            active.remove(p)
            completed += 1
    frame = pd.DataFrame(rows, columns=["participant", "round", "target", "placebo", "choice"])
    frame["placebo"] = frame["placebo"].astype(bool)
    frame["correct"] = np.where(frame["placebo"], frame["choice"] == PLACEBO_CHOICE,
                                frame["choice"].to_numpy() == truth[frame["target"].to_numpy()])
    return SessionRun(allocation, k, rounds, frame, truth, algo, recruited, completed, dropouts,
                      finished=not open_targets, answers_until_done=until_done or int((~frame["placebo"]).sum()))


# ----------------------------------------------------------------------------------- analysis of a simulated run

GENERATOR_IDS = tuple(f"g{i}" for i in range(26))


def stop_when_settled(run: SessionRun) -> SessionRun:
    """The votes ``dynamic`` would have kept of ``run``'s: each target's votes in arrival order up to the one that
    settles its majority of k (counting every vote, as the app does); placebo rounds kept. Isolates the settling
    rule from the allocation's own randomness."""
    tallies: dict[int, list[int]] = {}
    g = int(max(run.truth.max(), run.answers["choice"].max()) + 1) if len(run.answers) else 2
    keep = []
    for target, placebo, choice in zip(run.answers["target"], run.answers["placebo"], run.answers["choice"]):
        if placebo:
            keep.append(True)
            continue
        c = tallies.setdefault(int(target), [0] * g)
        if alloc.settled(c, run.k):
            keep.append(False)
            continue
        c[int(choice)] += 1
        keep.append(True)
    answers = run.answers[np.asarray(keep, dtype=bool)].reset_index(drop=True)
    return SessionRun("dynamic", run.k, run.rounds, answers, run.truth, run.algo, run.recruited, run.completed,
                      run.dropouts, run.finished, int((~answers["placebo"]).sum()))


def _gen(i: int) -> str:
    return GENERATOR_IDS[i] if i >= 0 else "PLACEBO"


def analysis_frames(run: SessionRun) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, ...]]:
    """The run as the analysis' tidy tables (``analysis.load``'s responses and targets frames)."""
    a = run.answers
    gens = tuple(_gen(i) for i in range(int(run.truth.max()) + 1 if len(run.truth) else 0))
    gens = gens if len(gens) >= 2 else GENERATOR_IDS[:2]
    responses = pd.DataFrame({
        "participant_code": [f"p{i:05d}" for i in a["participant"]],
        "participant_label": "",
        "round_number": a["round"].to_numpy(dtype=np.int64),
        "target_id": [f"t{i:06d}" for i in a["target"]],
        "true_generator": [_gen(int(run.truth[t])) for t in a["target"]],
        "is_placebo": a["placebo"].to_numpy(dtype=bool),
        "chosen_generator": [_gen(int(c)) for c in a["choice"]],
        "chosen_attempt": np.where(a["choice"].to_numpy() < 0, -1, 0),
        "correct": a["correct"].to_numpy(dtype=bool),
        "response_ms": 1000.0,
    })
    targets = pd.DataFrame({"target_id": [f"t{i:06d}" for i in range(len(run.truth))],
                            "true_generator": [_gen(int(x)) for x in run.truth],
                            "algo_generator": [_gen(int(x)) for x in run.algo]})
    targets["algo_correct"] = targets["algo_generator"] == targets["true_generator"]
    return responses, targets, gens


def outcomes(run: SessionRun, *, placebo_threshold: float = 0.80) -> pd.Series:
    """The analysis' human answer per target that enters the agreement analysis (kept participants' majority;
    for ``dynamic``, targets with a settled majority of k): target_id -> majority generator."""
    from analysis.participants import participant_table
    from analysis.votes import in_agreement, majority_vote, valid_votes

    responses, _, gens = analysis_frames(run)
    participants = participant_table(responses, placebo_threshold=placebo_threshold)
    majority = majority_vote(valid_votes(responses, participants), gens)
    entering = in_agreement(majority, min_votes=run.k, allocation=run.allocation)
    m = majority[entering]
    return pd.Series(m["majority_generator"].to_numpy(), index=m["target_id"].to_numpy(), name=run.allocation)


def interval_widths(run: SessionRun, *, n_resamples: int = 200, placebo_threshold: float = 0.80,
                    seed: int = 0) -> dict[str, float | None]:
    """Widths of the report's 95% intervals on this run: mean participant accuracy (participant bootstrap),
    label agreement (participant jackknife, and Wilson over targets), and the targets entering the agreement
    analysis. With ``dynamic`` the jackknife understates the uncertainty of label agreement: deleting a voter
    un-settles their images (they leave the set) instead of changing a majority; read the Wilson width there."""
    from analysis.bootstrap import participant_intervals
    from analysis.participants import participant_table
    from analysis.statistics import proportion
    from analysis.votes import valid_votes

    responses, targets, gens = analysis_frames(run)
    participants = participant_table(responses, placebo_threshold=placebo_threshold)
    votes = valid_votes(responses, participants)
    table = participant_intervals(participants, votes, targets, gens, min_votes=run.k, n_resamples=n_resamples,
                                  seed=seed, allocation=run.allocation).set_index("statistic")

    def width(name: str) -> float | None:
        lo, hi = table.loc[name, "ci_low"], table.loc[name, "ci_high"]
        return None if pd.isna(lo) or pd.isna(hi) else float(hi - lo)

    out = outcomes(run, placebo_threshold=placebo_threshold)
    algo = targets.set_index("target_id")["algo_generator"]
    agree = int((out == algo.reindex(out.index)).sum())
    wilson = proportion("label agreement", agree, len(out))
    return {"accuracy_mean": width("accuracy_mean"), "label_agreement": width("label_agreement"),
            "label_agreement_wilson": (None if len(out) == 0 else float(wilson["ci_high"] - wilson["ci_low"])),
            "agreement_targets": int(len(out))}


# ------------------------------------------------------------------------------------------------------ planner


def closed_form_participants(*, n_targets: int, k: int, rounds: int, placebo: float) -> int:
    """``balanced`` with nobody dropping out: ceil(k * targets / non-placebo answers per participant), with the
    expected placebo rounds rounded up (the app's admin report uses the same count)."""
    return int(alloc.participants_needed(votes_per_target=k, n_targets=n_targets,
                                         answers_per_participant=max(1, rounds - math.ceil(rounds * placebo))))


def _mean(values: Sequence[float | None]) -> float | None:
    xs = [v for v in values if v is not None]
    return statistics.fmean(xs) if xs else None


WIDTHS = {"width_label_agreement": "label_agreement", "width_label_agreement_wilson": "label_agreement_wilson",
          "width_accuracy_mean": "accuracy_mean"}


def _widths(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean interval widths over the simulated studies, leaving out *degenerate* ones: a width of exactly 0 (a
    jackknife SE of 0, or every bootstrap resample equal: no participant's removal or resampling moves the
    statistic, as on tiny studies) is not a precise estimate, so it is counted in ``<key>_degenerate`` and the
    mean is over the others (None when none is left)."""
    out: dict[str, Any] = {}
    for key, name in WIDTHS.items():
        values = [r[name] for r in runs]
        out[key] = _mean([v for v in values if v is not None and v != 0.0])
        out[f"{key}_degenerate"] = sum(1 for v in values if v == 0.0)
    return out


def plan(*, n_targets: int, k: int, rounds: int, allocation: str, crowd: Crowd = Crowd(), fee: float = 2.0,
         replications: int = 3, seed: int = 0, n_resamples: int = 200, concurrent: int = 10,
         progress: bool = True) -> dict[str, Any]:
    """Simulate ``replications`` sessions (seeds ``seed``, ``seed + 1``, ...) and average what an experimenter
    pays and gets. Pure apart from the progress bar on stderr."""
    from tqdm import tqdm

    checked("replications", rules.at_least(1), replications)
    closed = closed_form_participants(n_targets=n_targets, k=k, rounds=rounds, placebo=crowd.placebo)
    runs: list[dict[str, Any]] = []
    with tqdm(total=replications, desc=f"simulating {allocation} studies", unit="study", disable=not progress,
              file=sys.stderr) as bar:
        for r in range(replications):
            run = simulate_session(n_targets=n_targets, k=k, rounds=rounds, allocation=allocation, crowd=crowd,
                                   seed=seed + r, concurrent=concurrent)
            widths = interval_widths(run, n_resamples=n_resamples, seed=seed + r)
            runs.append({"completed": run.completed, "recruited": run.recruited, "dropouts": run.dropouts,
                         "answers": run.non_placebo_answers, "finished": run.finished, **widths})
            bar.update(1)
    completed = _mean([r["completed"] for r in runs]) or 0.0
    return {
        "allocation": allocation, "targets": n_targets, "votes_per_target": k, "rounds": rounds,
        "replications": replications, "seed": seed, "crowd": crowd.__dict__,
        "participants_needed": completed, "participants_needed_max": max(r["completed"] for r in runs),
        "recruited": _mean([r["recruited"] for r in runs]), "dropouts": _mean([r["dropouts"] for r in runs]),
        "paid_rounds": completed * rounds, "cost": completed * fee, "fee": fee,
        "non_placebo_answers": _mean([r["answers"] for r in runs]),
        "agreement_targets": _mean([r["agreement_targets"] for r in runs]),
        **_widths(runs),
        "all_finished": all(r["finished"] for r in runs),
        "closed_form_balanced_participants": closed,
    }


def format_plan(p: dict[str, Any]) -> str:
    reasons = {"width_label_agreement": "jackknife SE exactly 0: removing any one participant leaves the agreement "
                                        "unchanged, as on a tiny study",
               "width_accuracy_mean": "every bootstrap resample gives the same mean accuracy",
               "width_label_agreement_wilson": "zero width"}

    def pct(key: str) -> str:
        v, bad, n = p[key], p.get(f"{key}_degenerate", 0), p["replications"]
        if v is None:
            return (f"n/a (degenerate in {'the' if n == 1 else f'all {n}'} simulated stud{'y' if n == 1 else 'ies'}: "
                    f"{reasons[key]}; a zero width is not a precision)" if bad else
                    "n/a (not defined: too few kept participants or targets)")
        return f"{100 * v:.1f} points" + (f" (mean over {n - bad} of {n} simulated studies; degenerate in the "
                                          f"other{'s' if bad > 1 else ''}: {reasons[key]})" if bad else "")

    unfinished = ("" if p["all_finished"] else
                  "\nWARNING: some simulated studies did not get every target done within 20x the balanced count "
                  "(random allocation needs far more participants than balanced)")
    return (
        f"plan: {p['targets']} targets, k = {p['votes_per_target']} votes, {p['rounds']} rounds, "
        f"{p['allocation']} allocation ({p['replications']} simulated studies, seed {p['seed']})\n"
        f"participants needed (completing):  {p['participants_needed']:.1f} (max {p['participants_needed_max']})\n"
        f"participants recruited:            {p['recruited']:.1f} ({p['dropouts']:.1f} drop out, not paid)\n"
        f"paid rounds:                       {p['paid_rounds']:.0f}\n"
        f"expected cost:                     {p['cost']:.2f} (fee {p['fee']:.2f} per completing participant)\n"
        f"non-placebo answers:               {p['non_placebo_answers']:.0f}\n"
        f"targets in the agreement analysis: {p['agreement_targets']:.1f} of {p['targets']}\n"
        f"95% interval width, label agreement (participant jackknife): {pct('width_label_agreement')}"
        f"{' (understated under dynamic: read Wilson)' if p['allocation'] == 'dynamic' else ''}\n"
        f"95% interval width, label agreement (Wilson over targets):   {pct('width_label_agreement_wilson')}\n"
        f"95% interval width, mean participant accuracy (bootstrap):  {pct('width_accuracy_mean')}\n"
        f"closed form, balanced without dropouts: ceil(k * targets / answers per participant) = "
        f"{p['closed_form_balanced_participants']} participants{unfinished}"
    )


def add_plan_parser(sub: Any) -> None:
    """The ``plan`` subcommand (argument types from :mod:`analysis.option_rules`, as ``report``'s: one line on bad
    input)."""
    fraction, at_least = rules.fraction_type(), rules.int_at_least_type
    pl = sub.add_parser("plan", help="participants, paid rounds, cost and interval widths a study needs "
                                     "(seeded simulation with the app's allocation)",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    pl.add_argument("--targets", required=True, type=at_least(2), help="targets (images) in the study")
    pl.add_argument("--votes-per-target", required=True, type=at_least(1), help="k: votes per target")
    pl.add_argument("--rounds", required=True, type=at_least(1), help="real rounds per participant")
    pl.add_argument("--allocation", choices=tuple(alloc.MODES), default="balanced", help="the session's allocation")
    pl.add_argument("--skill", type=rules.positive_fraction_type(), default=0.898, help="mean accuracy of careful participants")
    pl.add_argument("--skill-sd", type=fraction, default=0.058, help="sd of careful participants' accuracy")
    pl.add_argument("--careless", type=fraction, default=0.05, help="share of participants clicking at random")
    pl.add_argument("--placebo", type=fraction, default=0.05, help="placebo probability per round")
    pl.add_argument("--dropout", type=fraction, default=0.15, help="share of participants leaving mid-study")
    pl.add_argument("--fee", type=rules.amount_type(), default=2.0, help="payment per completing participant")
    pl.add_argument("--generators", type=at_least(2), default=3, help="generators (rows of the grid)")
    pl.add_argument("--replications", type=at_least(1), default=3, help="simulated studies to average")
    pl.add_argument("--seed", type=at_least(0), default=0, help="simulation seed")


def run_plan(args: argparse.Namespace) -> int:
    try:
        rules.rounds_fit_targets(args.rounds, args.targets)
    except ValueError as e:
        return report(f"--rounds, --targets: {e}", EXIT_USAGE)
    crowd = Crowd(skill_mean=args.skill, skill_sd=args.skill_sd, careless=args.careless, dropout=args.dropout,
                  placebo=args.placebo, generators=args.generators)
    result = plan(n_targets=args.targets, k=args.votes_per_target, rounds=args.rounds, allocation=args.allocation,
                  crowd=crowd, fee=args.fee, replications=args.replications, seed=args.seed)
    print(format_plan(result))
    return 0
