"""summary.json's contract numbers computed a second, independent way: plain loops over the rows read by
``contracts`` and the standard library's ``statistics``, no code shared with the analysis. The oracle of the
simulated-study test and of the end-to-end test."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from pathlib import Path

from contracts.bundle import read_bundle
from contracts.responses import PLACEBO, read_responses


def plain_summary(bundle_dir: Path, responses_csv: Path, *, threshold: float, min_votes: int) -> dict:
    bundle = read_bundle(bundle_dir)
    rows = read_responses(responses_csv)
    truth = {t.target_id: t.true_generator for t in bundle.targets}
    # The algorithm, by hand: smallest distance over attempts per generator, then smallest over generators,
    # ties to the alphabetically first generator.
    best: dict[str, dict[str, float]] = defaultdict(dict)
    for r in bundle.reconstructions:
        if r.generator not in best[r.target_id] or r.distance < best[r.target_id][r.generator]:
            best[r.target_id][r.generator] = r.distance
    algo = {}
    for tid, per in best.items():
        pick = None
        for g in sorted(per):
            if pick is None or per[g] < per[pick]:
                pick = g
        algo[tid] = pick

    placebo_seen: dict[str, list[int]] = defaultdict(list)
    answers: dict[str, list[int]] = defaultdict(list)
    people = set()
    for r in rows:
        people.add(r.participant_code)
        if r.is_placebo:
            placebo_seen[r.participant_code].append(1 if r.chosen_generator == PLACEBO else 0)
        else:
            answers[r.participant_code].append(1 if r.chosen_generator == truth[r.target_id] else 0)
    kept = {p for p in people if placebo_seen[p] and sum(placebo_seen[p]) / len(placebo_seen[p]) > threshold}
    accs = [sum(answers[p]) / len(answers[p]) for p in sorted(kept) if answers[p]]

    votes: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        if r.participant_code in kept and not r.is_placebo:
            votes[r.target_id].append(r.chosen_generator)
    per_image = [len(v) for v in votes.values()]
    matrix = {"human_correct_algo_correct": 0, "human_correct_algo_incorrect": 0,
              "human_incorrect_algo_correct": 0, "human_incorrect_algo_incorrect": 0}
    agree = ties = enough = 0
    for tid, v in votes.items():
        if len(v) < min_votes:
            continue
        enough += 1
        counts = Counter(v)
        top = max(counts.values())
        winners = sorted(g for g, c in counts.items() if c == top)
        if len(winners) > 1:
            ties += 1
        majority = winners[0]
        human = "correct" if majority == truth[tid] else "incorrect"
        machine = "correct" if algo[tid] == truth[tid] else "incorrect"
        matrix[f"human_{human}_algo_{machine}"] += 1
        agree += majority == algo[tid]
    return {
        "participants_total": len(people), "participants_valid": len(kept),
        "accuracy_mean": statistics.mean(accs) if accs else None,
        "accuracy_std": statistics.stdev(accs) if len(accs) > 1 else None,
        "votes_total": sum(per_image), "images_voted": len(per_image),
        "votes_per_image_mean": statistics.mean(per_image) if per_image else None,
        "votes_per_image_std": statistics.stdev(per_image) if len(per_image) > 1 else None,
        "images_with_min_votes": enough, "agreement_matrix": matrix,
        "label_agreement": agree / enough if enough else None, "majority_ties": ties,
    }
