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


def plain_by_condition(bundle_dir: Path, responses_csv: Path, *, threshold: float, min_votes: int) -> dict:
    """summary.json's ``by_condition`` (docs/contracts.md addendum), computed plainly the same way: per condition,
    loops over that condition's targets and the votes on them."""
    bundle = read_bundle(bundle_dir)
    rows = read_responses(responses_csv)
    truth = {t.target_id: t.true_generator for t in bundle.targets}
    condition = {t.target_id: t.condition for t in bundle.targets}
    best: dict[str, dict[str, float]] = defaultdict(dict)
    for r in bundle.reconstructions:
        if r.generator not in best[r.target_id] or r.distance < best[r.target_id][r.generator]:
            best[r.target_id][r.generator] = r.distance
    algo = {tid: sorted(per, key=lambda g: (per[g], g))[0] for tid, per in best.items()}

    placebo: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        if r.is_placebo:
            placebo[r.participant_code].append(r.chosen_generator == PLACEBO)
    kept = {p for p, seen in placebo.items() if sum(seen) / len(seen) > threshold}

    out = {}
    for c in bundle.manifest.condition_names:
        mine = [t.target_id for t in bundle.targets if t.condition == c]
        votes: dict[str, list[str]] = defaultdict(list)
        per_person: dict[str, list[int]] = defaultdict(list)
        for r in rows:
            if r.participant_code in kept and not r.is_placebo and condition[r.target_id] == c:
                votes[r.target_id].append(r.chosen_generator)
                per_person[r.participant_code].append(1 if r.chosen_generator == truth[r.target_id] else 0)
        accs = [sum(v) / len(v) for v in per_person.values()]
        matrix = {"human_correct_algo_correct": 0, "human_correct_algo_incorrect": 0,
                  "human_incorrect_algo_correct": 0, "human_incorrect_algo_incorrect": 0}
        agree = enough = 0
        for tid, v in votes.items():
            if len(v) < min_votes:
                continue
            enough += 1
            counts = Counter(v)
            majority = sorted(counts, key=lambda g: (-counts[g], g))[0]
            human = "correct" if majority == truth[tid] else "incorrect"
            machine = "correct" if algo[tid] == truth[tid] else "incorrect"
            matrix[f"human_{human}_algo_{machine}"] += 1
            agree += majority == algo[tid]
        out[c] = {
            "targets": len(mine),
            "algorithm_accuracy": sum(algo[t] == truth[t] for t in mine) / len(mine) if mine else None,
            "votes_total": sum(len(v) for v in votes.values()), "images_voted": len(votes),
            "accuracy_mean": statistics.mean(accs) if accs else None,
            "accuracy_std": statistics.stdev(accs) if len(accs) > 1 else None,
            "images_with_min_votes": enough, "agreement_matrix": matrix,
            "label_agreement": agree / enough if enough else None,
        }
    return out


def plain_drop_differences(bundle_dir: Path, responses_csv: Path, *, threshold: float, condition: str) -> list[float]:
    """The robustness test's paired differences, plainly: per source target voted on both clean and under
    ``condition``, (human drop) - (algorithm drop), human = share of correct votes, algorithm = 0/1."""
    bundle = read_bundle(bundle_dir)
    rows = read_responses(responses_csv)
    truth = {t.target_id: t.true_generator for t in bundle.targets}
    algo = bundle.algorithm_attribution()
    placebo: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        if r.is_placebo:
            placebo[r.participant_code].append(r.chosen_generator == PLACEBO)
    kept = {p for p, seen in placebo.items() if sum(seen) / len(seen) > threshold}
    right: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        if r.participant_code in kept and not r.is_placebo:
            right[r.target_id].append(int(r.chosen_generator == truth[r.target_id]))
    by_source: dict[str, dict[str, str]] = defaultdict(dict)
    for t in bundle.targets:
        by_source[t.source_target][t.condition] = t.target_id
    diffs = []
    for source in sorted(by_source):
        pair = by_source[source]
        if "clean" not in pair or condition not in pair or not right[pair["clean"]] or not right[pair[condition]]:
            continue
        a, b = pair["clean"], pair[condition]
        human_drop = sum(right[a]) / len(right[a]) - sum(right[b]) / len(right[b])
        algo_drop = int(algo[a] == truth[a]) - int(algo[b] == truth[b])
        diffs.append(human_drop - algo_drop)
    return diffs
