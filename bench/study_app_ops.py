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

import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from contracts.cli import OneLineParser

    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=120)
    parser.add_argument("--targets", type=int, default=2000, help="targets in the large bundle (default 2000)")
    parser.add_argument("--answers", type=int, default=600, help="answers timed per bundle (default 600)")
    args = parser.parse_args(argv)
    if not os.environ.get("OTREE_IN_MEMORY") and not os.environ.get("DATABASE_URL"):
        print("set OTREE_IN_MEMORY=1 (SQLite in memory) or DATABASE_URL=postgresql://... (after otree resetdb)",
              file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="study_bench_"))
    from harness.bundle import make_bundle

    t0 = time.perf_counter()
    small = make_bundle(tmp, n_targets=args.rounds + 10, name="small", image_size=4)
    large = make_bundle(tmp, n_targets=args.targets, name="large", image_size=4)
    print(f"bundles: {len(small.targets)} and {len(large.targets)} targets ({time.perf_counter() - t0:.1f} s)")

    os.environ["STUDY_BUNDLE"] = str(small.root)
    os.environ["STIMULUS_BASE_URL"] = "/stimuli/"
    os.environ["STUDY_ROUNDS"] = str(args.rounds)
    from otree.main import setup
    setup()
    from otree.database import db, session_scope
    from otree.session import SESSION_CONFIGS_DICT, create_session

    import study_app
    from study_app import Player, Trial
    from study_app.live import handle_live
    from study_app.rounds import MAIN, make_layout

    SESSION_CONFIGS_DICT["attribution_study"]["bundle"] = str(large.root)

    # ---- 1. session creation: lazy (the app) vs the rows a naive design would add
    with session_scope():
        t0 = time.perf_counter()
        session = create_session("attribution_study", num_participants=args.participants)
        db.commit()
        lazy_s = time.perf_counter() - t0
        players = list(Player.objects_filter(session=session))
        rng = random.Random(0)
        gens = ("dcgan", "stylegan", "progan")
        t0 = time.perf_counter()
        for p in players:
            for r in range(1, args.rounds + 1):
                lay = make_layout(gens, 3, placebo=False, rng=rng)
                Trial.create(player=p, phase="naive", round_number=r, token="x", target_index=0, target_id="t000",
                             true_generator="dcgan", is_placebo=False, row_order=lay.row_order_text(),
                             layout=lay.encode(), served_at=0.0)
        db.commit()
        eager_extra_s = time.perf_counter() - t0
        for t in Trial.objects_filter(phase="naive"):
            db.delete(t)
        db.commit()
    print(f"session creation, {args.participants} participants: lazy {lazy_s:.2f} s; "
          f"a naive design adds {eager_extra_s:.2f} s for {args.participants * args.rounds} per-round rows")

    # ---- 2. CPU and SQL statements per answer through the live protocol
    from sqlalchemy import event
    from otree.database import engine
    executed = [0]

    @event.listens_for(engine, "before_cursor_execute")
    def _count(*_: object) -> None:
        executed[0] += 1

    statements: list[int] = []

    def per_answer_ms(bundle_root: Path) -> list[float]:
        SESSION_CONFIGS_DICT["attribution_study"]["bundle"] = str(bundle_root)
        with session_scope():
            session = create_session("attribution_study", num_participants=30)
            db.commit()
            codes = [p.id for p in Player.objects_filter(session=session)]
        out: list[float] = []
        states: dict[int, dict] = {}
        i = 0
        while len(out) < args.answers:
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
                out.append((time.process_time() - c0) * 1000)
                statements.append(executed[0] - n0)
            assert reply["type"] == "ack", reply
            states[pid] = reply["state"]
        return out

    results = {}
    for name, b in (("small", small), ("large", large)):
        ms = per_answer_ms(b.root)
        results[name] = ms
        print(f"answer CPU, {len(b.targets):5d} targets: median {statistics.median(ms):.2f} ms, "
              f"p90 {sorted(ms)[int(0.9 * len(ms))]:.2f} ms over {len(ms)} answers; SQL statements per answer "
              f"(the app's part, commit included): median {statistics.median(statements[-len(ms):]):g}, "
              f"max {max(statements[-len(ms):])}")
    ratio = statistics.median(results["large"]) / statistics.median(results["small"])
    print(f"ratio naive-extra / lazy creation: {eager_extra_s / lazy_s:.1f}x; "
          f"answer cost large/small bundle: {ratio:.2f}x")
    _ = study_app
    return 0


if __name__ == "__main__":
    sys.exit(main())
