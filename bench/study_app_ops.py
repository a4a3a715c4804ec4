"""Server-side cost of the study app's two hot operations, measured in-process, side by side in one run.

1. Session creation for N participants (default 300): the app's lazy design (one Player per participant, Trial rows
   created when a round is served) versus what a naive design adds at creation (one row per participant x round,
   here emulated by creating those Trial rows right after, in the same run and database).
2. One answer through the live protocol (``study_app.live.handle_live``, what a websocket message runs under oTree's
   lock, plus the commit): CPU ms and SQL statements per answer, with a small bundle and a large one, to show
   they do not grow with the number of targets.

Not measured here: oTree's own per-message overhead (websocket, participant/page lookup) and HTTP; the end-to-end
load test is bench/study_load.py. Run from the repository root:

    OTREE_IN_MEMORY=1 .venv/bin/python -m bench.study_app_ops [--participants 300] [--targets 3000]
    DATABASE_URL=postgresql://... .venv/bin/python -m bench.study_app_ops   # against PostgreSQL (resetdb first)
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from contracts.bundle import Bundle


@dataclass(frozen=True)
class AnswerCosts:
    """One bundle's answers through the live protocol: CPU ms and SQL statements, one entry per answer."""
    targets: int
    cpu_ms: list[float]
    statements: list[int]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from contracts.cli import OneLineParser

    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=120)
    parser.add_argument("--targets", type=int, default=2000, help="targets in the large bundle (default 2000)")
    parser.add_argument("--answers", type=int, default=600, help="answers timed per bundle (default 600)")
    return parser.parse_args(argv)


def database_chosen() -> bool:
    """Whether the environment names a database; if not, says how on stderr."""
    if os.environ.get("OTREE_IN_MEMORY") or os.environ.get("DATABASE_URL"):
        return True
    print("set OTREE_IN_MEMORY=1 (SQLite in memory) or DATABASE_URL=postgresql://... (after otree resetdb)",
          file=sys.stderr)
    return False


def make_bundles(*, rounds: int, targets: int) -> tuple[Bundle, Bundle]:
    """The small bundle (a few targets more than rounds) and the large one, in a new temporary folder."""
    from harness.bundle import make_bundle

    tmp = Path(tempfile.mkdtemp(prefix="study_bench_"))
    t0 = time.perf_counter()
    small = make_bundle(tmp, n_targets=rounds + 10, name="small", image_size=4)
    large = make_bundle(tmp, n_targets=targets, name="large", image_size=4)
    print(f"bundles: {len(small.targets)} and {len(large.targets)} targets ({time.perf_counter() - t0:.1f} s)")
    return small, large


def set_up_otree(*, small: Bundle, large: Bundle, rounds: int) -> None:
    """oTree in this process: the study app on the small bundle, its session config on the large one."""
    os.environ["STUDY_BUNDLE"] = str(small.root)
    os.environ["STIMULUS_BASE_URL"] = "/stimuli/"
    os.environ["STUDY_ROUNDS"] = str(rounds)
    from otree.main import setup
    setup()
    from otree.session import SESSION_CONFIGS_DICT

    SESSION_CONFIGS_DICT["attribution_study"]["bundle"] = str(large.root)


def time_session_creation(*, participants: int, rounds: int) -> tuple[float, float]:
    """Seconds to create a session of ``participants`` (lazy, the app), and the seconds a naive design adds: one
    Trial row per participant x round, created right after in the same database (then deleted)."""
    from otree.database import db, session_scope
    from otree.session import create_session

    from study_app import Player, Trial
    from study_app.rounds import make_layout

    with session_scope():
        t0 = time.perf_counter()
        session = create_session("attribution_study", num_participants=participants)
        db.commit()
        lazy_s = time.perf_counter() - t0
        players = list(Player.objects_filter(session=session))
        rng = random.Random(0)
        gens = ("dcgan", "stylegan", "progan")
        t0 = time.perf_counter()
        for p in players:
            for r in range(1, rounds + 1):
                lay = make_layout(gens, 3, placebo=False, rng=rng)
                Trial.create(player=p, phase="naive", round_number=r, token="x", target_index=0, target_id="t000",
                             true_generator="dcgan", is_placebo=False, row_order=lay.row_order_text(),
                             layout=lay.encode(), served_at=0.0)
        db.commit()
        eager_extra_s = time.perf_counter() - t0
        for t in Trial.objects_filter(phase="naive"):
            db.delete(t)
        db.commit()
    return lazy_s, eager_extra_s


def count_statements() -> list[int]:
    """A one-element counter of the SQL statements the engine executes from now on."""
    from otree.database import engine
    from sqlalchemy import event

    executed = [0]

    @event.listens_for(engine, "before_cursor_execute")
    def _count(*_: object) -> None:
        executed[0] += 1

    return executed


def time_answers(*, bundle: Bundle, answers: int, executed: list[int]) -> AnswerCosts:
    """CPU ms and SQL statements of ``answers`` answers through ``handle_live`` (the commit included), in a new
    session of 30 participants on ``bundle``, answering in turn."""
    from otree.database import db, session_scope
    from otree.session import SESSION_CONFIGS_DICT, create_session

    from study_app import Player
    from study_app.live import handle_live
    from study_app.rounds import MAIN

    SESSION_CONFIGS_DICT["attribution_study"]["bundle"] = str(bundle.root)
    with session_scope():
        session = create_session("attribution_study", num_participants=30)
        db.commit()
        codes = [p.id for p in Player.objects_filter(session=session)]
    cpu_ms: list[float] = []
    statements: list[int] = []
    states: dict[int, dict] = {}
    i = 0
    while len(cpu_ms) < answers:
        pid = codes[i % len(codes)]
        i += 1
        with session_scope():
            player = Player.objects_get(id=pid)
            state = states.get(pid) or handle_live(player, {"type": "state"}, MAIN)
            db.commit()
        if state["type"] != "round":
            continue
        with session_scope():
            player = Player.objects_get(id=pid)  # oTree loads the player per message, outside the timing
            c0, n0 = time.process_time(), executed[0]
            reply = handle_live(player, {"type": "answer", "round": state["round"], "token": state["token"],
                                         "choice": 1 + state["round"] % 9, "response_ms": 900.0}, MAIN)
            db.commit()
            cpu_ms.append((time.process_time() - c0) * 1000)
            statements.append(executed[0] - n0)
        assert reply["type"] == "ack", reply
        states[pid] = reply["state"]
    return AnswerCosts(targets=len(bundle.targets), cpu_ms=cpu_ms, statements=statements)


def report_creation(*, participants: int, rounds: int, lazy_s: float, eager_extra_s: float) -> None:
    print(f"session creation, {participants} participants: lazy {lazy_s:.2f} s; "
          f"a naive design adds {eager_extra_s:.2f} s for {participants * rounds} per-round rows")


def report_answers(costs: AnswerCosts) -> None:
    ms = costs.cpu_ms
    print(f"answer CPU, {costs.targets:5d} targets: median {statistics.median(ms):.2f} ms, "
          f"p90 {sorted(ms)[int(0.9 * len(ms))]:.2f} ms over {len(ms)} answers; SQL statements per answer "
          f"(the app's part, commit included): median {statistics.median(costs.statements):g}, "
          f"max {max(costs.statements)}")


def report_ratios(*, lazy_s: float, eager_extra_s: float, small: AnswerCosts, large: AnswerCosts) -> None:
    ratio = statistics.median(large.cpu_ms) / statistics.median(small.cpu_ms)
    print(f"ratio naive-extra / lazy creation: {eager_extra_s / lazy_s:.1f}x; "
          f"answer cost large/small bundle: {ratio:.2f}x")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not database_chosen():
        return 2
    small, large = make_bundles(rounds=args.rounds, targets=args.targets)
    set_up_otree(small=small, large=large, rounds=args.rounds)
    # 1. session creation: lazy (the app) vs the rows a naive design would add
    lazy_s, eager_extra_s = time_session_creation(participants=args.participants, rounds=args.rounds)
    report_creation(participants=args.participants, rounds=args.rounds, lazy_s=lazy_s, eager_extra_s=eager_extra_s)
    # 2. CPU and SQL statements per answer through the live protocol
    executed = count_statements()
    small_costs = time_answers(bundle=small, answers=args.answers, executed=executed)
    report_answers(small_costs)
    large_costs = time_answers(bundle=large, answers=args.answers, executed=executed)
    report_answers(large_costs)
    report_ratios(lazy_s=lazy_s, eager_extra_s=eager_extra_s, small=small_costs, large=large_costs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
