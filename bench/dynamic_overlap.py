"""Dynamic overlap vs full k = 3 on the same simulated crowd (issue 17): answers saved, outcomes kept, precision lost.

For each seed one crowd (analysis.plan.Crowd: accuracy 89.8% +- 5.8%, careless and hard-image shares, dropouts,
5% placebo rounds) takes the study three times, served by the app's own allocation code:

- ``full``: ``balanced`` until every target has k = 3 votes (every target gets exactly k: the full k = 3 study);
- ``dynamic``: until every target's majority of 3 is settled;
- ``full'``: ``balanced`` again with another allocation seed: the noise floor (the same crowd, the same answers,
  but other people on each image).

Outcome = the analysis' majority of kept participants (placebo filter) on targets entering the agreement analysis.
``replay`` applies the settling rule to the ``full`` run's own votes in arrival order (``stop_when_settled``): the
rule's effect alone, without the change of voters (not a session: its participant columns are left empty).

``full`` is not a strict k = 3 study: once every target has k votes, the participants still in the study finish
their rounds (they are paid for them), and ``balanced`` gives them 4th and later votes (also while a dropout's hold
waits for its release at the end); most targets end with more than k votes. ``full, first k`` keeps each target's
first k votes in arrival order: the strict k = 3 study on the same crowd. The paired comparison (same crowd, same
people, same votes, only the stopping differs) is ``replay`` against ``full, first k``; ``dynamic`` and ``full'``
against ``full`` compare sessions whose images went to other people, bounded by the noise floor (``full'``).

    nice -n 10 .venv/bin/python -m bench.dynamic_overlap [--targets 600 --rounds 60 --seeds 5]

prints a markdown section for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

from analysis.plan import Crowd, SessionRun, interval_widths, outcomes, simulate_session, stop_when_settled
from contracts.cli import OneLineParser


def _same(a: pd.Series, b: pd.Series, n_targets: int) -> tuple[float, float]:
    """(share of all targets with the same outcome in both -- a target missing in either counts as different,
    share among targets with an outcome in both)."""
    common = a.index.intersection(b.index)
    same = int((a.loc[common] == b.loc[common]).sum())
    return same / n_targets, (same / len(common) if len(common) else float("nan"))


def _matrix(run: SessionRun, out: pd.Series) -> dict[str, int]:
    idx = np.array([int(t[1:]) for t in out.index], dtype=np.int64)
    human = np.array([int(g[1:]) for g in out.to_numpy()], dtype=np.int64) == run.truth[idx]
    algo = run.algo[idx] == run.truth[idx]
    return {"hc_ac": int((human & algo).sum()), "hc_ai": int((human & ~algo).sum()),
            "hi_ac": int((~human & algo).sum()), "hi_ai": int((~human & ~algo).sum())}


def _accuracy(run: SessionRun, out: pd.Series) -> float:
    m = _matrix(run, out)
    n = sum(m.values())
    return (m["hc_ac"] + m["hc_ai"]) / n if n else float("nan")


def first_votes(run: SessionRun) -> SessionRun:
    """``run`` with only each target's first ``k`` non-placebo votes in arrival order (placebo rounds kept): the
    strict majority-of-k study on the same crowd and the same votes (not a session: completed left at 0)."""
    seen: dict[int, int] = {}
    keep = []
    for target, placebo in zip(run.answers["target"], run.answers["placebo"]):
        if not placebo:
            seen[int(target)] = seen.get(int(target), 0) + 1
        keep.append(bool(placebo) or seen[int(target)] <= run.k)
    answers = run.answers[np.asarray(keep, dtype=bool)].reset_index(drop=True)
    return SessionRun(run.allocation, run.k, run.rounds, answers, run.truth, run.algo, run.recruited, 0,
                      run.dropouts, run.finished, int((~answers["placebo"]).sum()))


def one_seed(seed: int, *, n_targets: int, rounds: int, k: int, crowd: Crowd, resamples: int) -> dict[str, Any]:
    runs = {
        "full": simulate_session(n_targets=n_targets, k=k, rounds=rounds, allocation="balanced", crowd=crowd,
                                 seed=seed),
        "dynamic": simulate_session(n_targets=n_targets, k=k, rounds=rounds, allocation="dynamic", crowd=crowd,
                                    seed=seed),
        "full2": simulate_session(n_targets=n_targets, k=k, rounds=rounds, allocation="balanced", crowd=crowd,
                                  seed=seed, allocation_seed=1),
    }
    runs["replay"] = stop_when_settled(runs["full"])
    runs["replay"].completed = 0  # not a session of its own: the full run's people, fewer of their votes
    first = {"full": first_votes(runs["full"]), "full2": first_votes(runs["full2"])}
    outs = {name: outcomes(run) for name, run in runs.items()}
    outs_k = {name: outcomes(run) for name, run in first.items()}
    row: dict[str, Any] = {"seed": seed}
    for name, run in runs.items():
        row[f"{name}_answers"] = run.answers_until_done
        row[f"{name}_completed"] = run.completed
        row[f"{name}_targets"] = len(outs[name])
        row[f"{name}_accuracy"] = _accuracy(run, outs[name])
        row[f"{name}_matrix"] = _matrix(run, outs[name])
        w = interval_widths(run, n_resamples=resamples, seed=seed)
        row[f"{name}_w_label"] = w["label_agreement"]
        row[f"{name}_w_wilson"] = w["label_agreement_wilson"]
        row[f"{name}_w_acc"] = w["accuracy_mean"]
    for name in ("dynamic", "full2", "replay"):
        row[f"same_{name}_all"], row[f"same_{name}_common"] = _same(outs["full"], outs[name], n_targets)
    # against the strict k = 3 study (each target's first k votes); full' likewise truncated for its noise floor
    for name, out in (("dynamic", outs["dynamic"]), ("full2", outs_k["full2"]), ("replay", outs["replay"])):
        row[f"samek_{name}_all"], row[f"samek_{name}_common"] = _same(outs_k["full"], out, n_targets)
    per_target = runs["full"].answers.loc[~runs["full"].answers["placebo"], "target"].value_counts()
    row["full_over_k"] = int((per_target > k).sum())
    row["full_k_targets"] = len(outs_k["full"])
    return row


def _m(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.fmean(float(r[key]) for r in rows if r[key] is not None and not np.isnan(r[key]))


def report(rows: list[dict[str, Any]], *, args: argparse.Namespace, seconds: float, crowd: Crowd) -> str:
    full = _m(rows, "full_answers")
    lines = [
        f"## Dynamic overlap vs full k = 3 on the same simulated crowd (`bench/dynamic_overlap.py`)",
        "",
        f"`nice -n 10 .venv/bin/python -m bench.dynamic_overlap --targets {args.targets} --rounds {args.rounds} "
        f"--seeds {args.seeds}` ({seconds:.0f} s on 2 CPU cores). Crowd per seed: careful accuracy "
        f"{crowd.skill_mean:.1%} ± {crowd.skill_sd:.1%}, {crowd.careless:.0%} careless, {crowd.hard:.0%} hard images "
        f"(careful people drawn to one wrong generator), {crowd.dropout:.0%} dropouts, {crowd.placebo:.0%} placebo "
        f"rounds, 10 participants at a time, {args.targets} targets, {args.rounds} rounds, k = {args.k}; means over "
        f"{args.seeds} seeds. Outcome: the analysis' majority of kept participants on the targets entering the "
        "agreement analysis (dynamic: settled majority). Full k = 3 is the session as run: once every target has "
        "k votes, the participants still in it finish their rounds, so most targets end with more than k votes; *strict "
        "k = 3* keeps each target's first k votes in arrival order. The paired comparison (same crowd, same people, "
        "same votes; only the stopping differs) is the replay against strict k = 3; `dynamic` and the other full run "
        "put other people on each image, so their agreement with full is bounded by the noise floor (full vs full).",
        "",
        "| | full k = 3 (`balanced`) | `dynamic` | full k = 3, other allocation seed | rule replayed on full's votes |",
        "|---|---|---|---|---|",
    ]

    def cells(fmt: str, key: str) -> str:
        return " | ".join(fmt.format(_m(rows, f"{n}_{key}")) for n in ("full", "dynamic", "full2", "replay"))

    lines += [
        f"| non-placebo answers until every target is done | {cells('{:.0f}', 'answers')} |",
        "| fewer than full | – | " + " | ".join(f"{1 - _m(rows, f'{n}_answers') / full:.1%}"
                                               for n in ("dynamic", "full2", "replay")) + " |",
        "| participants who completed (paid) | " + " | ".join(f"{_m(rows, f'{n}_completed'):.1f}"
                                                       for n in ("full", "dynamic", "full2")) + " | – |",
        f"| targets in the agreement analysis (of {args.targets}) | {cells('{:.1f}', 'targets')} |",
        f"| human majority correct on those | {cells('{:.2%}', 'accuracy')} |",
        "| same outcome as full, share of all targets | – | " + " | ".join(
            f"{_m(rows, f'same_{n}_all'):.2%}" for n in ("dynamic", "full2", "replay")) + " |",
        "| same outcome as full, among targets with an outcome in both | – | " + " | ".join(
            f"{_m(rows, f'same_{n}_common'):.2%}" for n in ("dynamic", "full2", "replay")) + " |",
        f"| targets of full with more than k votes (extra votes after the others reached k) | "
        f"{_m(rows, 'full_over_k'):.1f} | – | – | – |",
        f"| same outcome as strict k = 3 (full's first k votes per target; {_m(rows, 'full_k_targets'):.1f} targets "
        "with an outcome), among targets with an outcome in both | – | " + " | ".join(
            f"{_m(rows, f'samek_{n}_common'):.2%}" for n in ("dynamic", "full2", "replay")) + " |",
        "| same outcome as strict k = 3, share of all targets | – | " + " | ".join(
            f"{_m(rows, f'samek_{n}_all'):.2%}" for n in ("dynamic", "full2", "replay")) + " |",
        f"| 95% interval width, label agreement (jackknife), points | "
        + " | ".join(f"{100 * _m(rows, f'{n}_w_label'):.2f}" for n in ("full", "dynamic", "full2", "replay")) + " |",
        f"| 95% interval width, label agreement (Wilson over targets), points | "
        + " | ".join(f"{100 * _m(rows, f'{n}_w_wilson'):.2f}" for n in ("full", "dynamic", "full2", "replay")) + " |",
        f"| 95% interval width, mean participant accuracy (bootstrap), points | "
        + " | ".join(f"{100 * _m(rows, f'{n}_w_acc'):.2f}" for n in ("full", "dynamic", "full2")) + " | – |",
    ]
    mats = {n: {c: statistics.fmean(r[f"{n}_matrix"][c] for r in rows) for c in ("hc_ac", "hc_ai", "hi_ac", "hi_ai")}
            for n in ("full", "dynamic", "full2", "replay")}
    lines.append("| agreement matrix (both right, human only, algorithm only, both wrong) | " + " | ".join(
        f"{m['hc_ac']:.0f} / {m['hc_ai']:.1f} / {m['hi_ac']:.1f} / {m['hi_ai']:.1f}" for m in mats.values()) + " |")
    lines.append("")
    lines.append("Per seed (answers full → dynamic, dynamic's same outcome as full all / common, replay's as strict "
                 "k = 3 common): "
                 + "; ".join(f"{r['seed']}: {r['full_answers']} → {r['dynamic_answers']}, {r['same_dynamic_all']:.1%} / "
                             f"{r['same_dynamic_common']:.1%}, replay {r['samek_replay_common']:.2%}" for r in rows) + ".")
    return "\n".join(lines)


def serve_cost(n_targets: int = 3246, repeats: int = 300) -> dict[str, float]:
    """Milliseconds per choice of the next target (the app runs one per answer, under oTree's lock), balanced and
    dynamic side by side on the same mid-study state (paper scale: 3,246 targets, 120 seen)."""
    import random

    from analysis.app_rules import allocation

    rng = random.Random(0)
    tallies = [(rng.randint(0, 1), rng.randint(0, 1), 0) for _ in range(n_targets)]  # tuples, as the app keeps them
    load = [sum(c) + (rng.random() < 0.01) for c in tallies]
    seen = set(rng.sample(range(n_targets), 120))
    out = {}
    for mode in ("balanced", "dynamic", "balanced"):
        t = time.perf_counter()
        for _ in range(repeats):
            allocation.choose_target(load, exclude=seen, rng=rng, mode=mode, tallies=tallies, k=3)
        out[mode] = (time.perf_counter() - t) / repeats * 1e3
    return out


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", type=int, default=600)
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--resamples", type=int, default=200)
    args = ap.parse_args(argv)
    crowd = Crowd()
    t0 = time.perf_counter()
    rows = []
    for seed in range(args.seeds):
        rows.append(one_seed(seed, n_targets=args.targets, rounds=args.rounds, k=args.k, crowd=crowd,
                             resamples=args.resamples))
        print(f"seed {seed} done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    print(report(rows, args=args, seconds=time.perf_counter() - t0, crowd=crowd))
    cost = serve_cost()
    print(f"\nCost of one choice of the next target at paper scale (3,246 targets, 120 seen, measured side by side): "
          f"balanced {cost['balanced']:.2f} ms, dynamic {cost['dynamic']:.2f} ms "
          f"({cost['dynamic'] / cost['balanced']:.1f}x; one choice per answer, under oTree's lock).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
