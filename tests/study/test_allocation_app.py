"""Allocation as the app itself serves it: a crowd session played by oTree bots through the real serving code
(``creating_session``, ``handle_live`` -> ``_serve`` -> ``study_app.allocation``; tests/study/allocation_bots.py),
participants interleaved one answer per turn, on a simulated clock, with dropouts.

The served trials are then replayed against the documented rules (docs/experimenter.md, "Allocation"), computed
here from the trials alone: every real round gets an unseen target of least load (votes + outstanding servings of
participants active within the dropout timeout), every placebo round one of largest load, and a dropout's servings
stop counting once the timeout has passed. The replay does not call study_app.allocation, so it is an independent
check of the app, not of a copy of it (docs/testing.md lists the planted bugs it catches). The coverage claim (k votes
on every target with 5% more completed participants than the floor, despite 20% dropouts) is checked on the app's
own trials; under the paper's random allocation the same budget leaves about 9 of the 40 targets short in simulations
(test_allocation.py shows the contrast on its model, to keep this file to one oTree run)."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

from study_app.allocation import participants_needed
from tests.helpers import make_bundle

ROOT = Path(__file__).resolve().parents[2]
OTREE = str(Path(sys.executable).with_name("otree"))

N_TARGETS, K, ROUNDS, TIMEOUT = 40, 3, 14, 30.0
ANSWERS = ROUNDS - 1                                    # at most one placebo round each (probability 0.05 below)
COMPLETERS = math.ceil(1.05 * participants_needed(votes_per_target=K, n_targets=N_TARGETS,
                                                  answers_per_participant=ANSWERS))   # 11 (floor: 10)
DROPOUTS = {3: 3, 6: 6, 9: 8}                          # participant id in session -> round they vanish at (20%)
# The bots all start together and finish together, so a hold released after the crowd's last serves can never be
# re-served: the last dropout's hold must expire with rounds to spare (checked by the first test below). With 14
# participants one crowd round is ~12 ticks; a dropout at round 8 is released over 2 rounds before the end.
PARTICIPANTS = COMPLETERS + len(DROPOUTS)


def _project(where: Path) -> Path:
    """An oTree project whose study_app is the real one (file links) except tests.py = our bots."""
    where.mkdir()
    for name in ("contracts", "_static", "_templates"):
        (where / name).symlink_to(ROOT / name)
    (where / "settings.py").write_text(
        "import json, os\n"
        "_path = os.environ['ALLOC_REAL_SETTINGS']\n"
        "exec(compile(open(_path).read(), _path, 'exec'))\n"
        "SESSION_CONFIG_DEFAULTS.update(json.loads(os.environ['ALLOC_CONFIG']))\n")
    app = where / "study_app"
    app.mkdir()
    for entry in (ROOT / "study_app").iterdir():
        if entry.name not in ("tests.py", "__pycache__"):
            (app / entry.name).symlink_to(entry)
    (app / "tests.py").symlink_to(Path(__file__).with_name("allocation_bots.py"))
    return where


@dataclass(frozen=True)
class Trial:
    participant: str
    round: int
    target: str
    placebo: bool
    served: float
    active: tuple[float, ...]     # served, shown, answered times (the participant's messages)
    answered: float | None


def _play(tmp: Path, mode: str) -> tuple[list[Trial], list[str]]:
    project = _project(tmp / f"project-{mode}")
    bundle = make_bundle(tmp / f"bundle-{mode}", n_targets=N_TARGETS, generators=("dcgan", "stylegan", "progan"),
                         attempts=3, image_size=4)
    out = tmp / f"out-{mode}"
    out.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTREE_", "STUDY_", "STIMULUS_", "DATABASE_URL"))}
    env.update(STIMULUS_BASE_URL="/stimuli-test/", ALLOC_REAL_SETTINGS=str(ROOT / "settings.py"), ALLOC_OUT=str(out),
               ALLOC_DROPOUTS=json.dumps({str(k): v for k, v in DROPOUTS.items()}),
               ALLOC_CONFIG=json.dumps(dict(bundle=str(bundle.root), rounds=ROUNDS, practice_rounds=0,
                                            placebo_probability=0.05, allocation=mode, votes_per_target=K,
                                            dropout_timeout_s=TIMEOUT)),
               PYTHONPATH=str(project))
    proc = subprocess.run([OTREE, "test", "attribution_study", str(PARTICIPANTS)], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "Bots completed session" in proc.stdout + proc.stderr, \
        (proc.stdout + proc.stderr)[-3000:]
    dumps = sorted(out.glob("trials-*.csv"), key=lambda p: p.stat().st_size)
    assert len(dumps) == PARTICIPANTS
    with open(dumps[-1], newline="") as f:
        rows = list(csv.DictReader(f))

    def t(text: str) -> float | None:
        return float(text) if text else None

    trials = [Trial(r["participant_code"], int(r["round_number"]), r["target_id"], r["is_placebo"] == "1",
                    float(r["served_at"]), tuple(x for x in (t(r["served_at"]), t(r["shown_at"]), t(r["answered_at"]))
                                                  if x is not None), t(r["answered_at"]))
              for r in rows if r["phase"] == "main"]
    return trials, [t.target_id for t in bundle.targets]


@pytest.fixture(scope="module")
def balanced(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Trial], list[str]]:
    return _play(tmp_path_factory.mktemp("balanced"), "balanced")


def _votes(trials: list[Trial], targets: list[str]) -> dict[str, int]:
    votes = dict.fromkeys(targets, 0)
    for t in trials:
        if t.answered is not None and not t.placebo:
            votes[t.target] += 1
    return votes


def _replay(trials: list[Trial], targets: list[str]) -> list[str]:
    """Every serve checked against the documented rule; returns the violations (empty when the app follows it)."""
    events: list[tuple[float, int, Trial]] = []
    for t in trials:
        events.append((t.served, 1, t))                  # at one instant the answer is stored before the serves
        if t.answered is not None:
            events.append((t.answered, 0, t))
    events.sort(key=lambda e: (e[0], e[1], e[2].round))
    votes = dict.fromkeys(targets, 0)
    seen: dict[str, set[str]] = defaultdict(set)
    last: dict[str, float] = {}
    outstanding: dict[str, set[Trial]] = defaultdict(set)   # served, unanswered, non-placebo
    problems = []
    for now, kind, t in events:
        p = t.participant
        if kind == 0:
            votes[t.target] += 0 if t.placebo else 1
            outstanding[p].discard(t)
            last[p] = now
            continue
        load = dict(votes)
        for q, held in outstanding.items():
            if held and now - last[q] <= TIMEOUT:        # a dropout's servings count until the timeout
                for h in held:
                    load[h.target] += 1
        candidates = [x for x in targets if x not in seen[p]]
        best = (max if t.placebo else min)(load[x] for x in candidates)
        if load[t.target] != best:
            problems.append(f"{p} round {t.round} ({'placebo' if t.placebo else 'real'}) at {now:.0f}: served a "
                            f"target of load {load[t.target]}, the {'largest' if t.placebo else 'least'} was {best}")
        seen[p].add(t.target)
        last[p] = now
        if not t.placebo:
            outstanding[p].add(t)
    return problems


def test_app_serves_least_load_and_placebo_most_load(balanced: tuple[list[Trial], list[str]]) -> None:
    trials, targets = balanced
    placebo = [t for t in trials if t.placebo]
    assert placebo and len(trials) > PARTICIPANTS * 5
    problems = _replay(trials, targets)
    assert not problems, f"{len(problems)} of {len(trials)} serves break the rule:\n" + "\n".join(problems[:8])


def test_dropouts_are_real_and_their_held_targets_reach_k_votes(balanced: tuple[list[Trial], list[str]]) -> None:
    """Three participants vanished with servings unanswered (held), the rest completed every round; the targets
    the dropouts held still reach k votes (their holds were released; the replay above checks when)."""
    trials, targets = balanced
    by_participant: dict[str, list[Trial]] = defaultdict(list)
    for t in trials:
        by_participant[t.participant].append(t)
    dropped = {p: ts for p, ts in by_participant.items() if any(t.answered is None for t in ts)}
    assert sorted(len(ts) for ts in dropped.values()) == sorted(r + 1 for r in DROPOUTS.values())
    completers = [ts for p, ts in by_participant.items() if p not in dropped]
    assert len(completers) == COMPLETERS
    assert all(len(ts) == ROUNDS and all(t.answered for t in ts) for ts in completers)
    last_release = max(max(t.active) for ts in dropped.values() for t in ts) + TIMEOUT
    later_serves = [t for t in trials if t.served > last_release]
    assert len(later_serves) >= 2 * COMPLETERS, \
        f"test set-up: only {len(later_serves)} serves after the last hold expires; move the dropouts earlier"
    votes = _votes(trials, targets)
    held = {t.target for ts in dropped.values() for t in ts if t.answered is None and not t.placebo}
    assert held and all(votes[t] >= K for t in held), {t: votes[t] for t in held}


def test_balanced_covers_every_target_with_5_percent_more_than_the_floor(
        balanced: tuple[list[Trial], list[str]]) -> None:
    votes = _votes(*balanced)
    assert min(votes.values()) >= K, sorted(votes.values())[:10]
    assert max(votes.values()) <= K + 2   # no target hoards votes
