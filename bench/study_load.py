"""Load benchmark: the idiomatic page-per-round oTree app vs our live_method app, images served by oTree vs nginx.

Everything on loopback, bounded in time. For each design (baseline | live) x (images by oTree | by nginx), one
oTree prodserver (deploy.launcher, PostgreSQL) and 200 simulated participants (study_app/wire.py) answering at
a human pace: think time uniform in [--think-min, --think-max] s, multiplied by each level of --scales (1 = a human
pace, 0.5 = twice as fast, ...; the default levels go from a light load, 4, which both designs serve within the
latency goal, to past the saturation of ours; a design stops at the first level whose p99 exceeds 2 s). A participant fetches each round's images like a browser (baseline: the page's 10
images; live: the next round's images, preloaded). Measured per level: answers/s, p50/p99 latency of an answer
(live: websocket answer -> ack; baseline: form POST -> next page). Also: session creation time for 300 participants,
both designs, SQLite and PostgreSQL (the PostgreSQL session is the one the load then runs on).

    .venv/bin/python -m bench.study_load                      # about 12 minutes on 2 cores
    .venv/bin/python -m bench.study_load --quick              # a smoke run (~1.5 min)

The LAST line is the ratio: ours (live, images by nginx) / baseline (page per round, images by oTree) in answers/s
where each one's p99 latency reaches 250 ms (interpolated between the two levels around it), else at the
saturation point (each one's highest answers/s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from contracts.bundle import Bundle
from contracts.cli import OneLineParser
from harness.bundle import make_bundle
from harness.local import (REPO, Nginx, OTreeServer, Postgres, create_session, production_env,
                          start_urls)
from study_app.rehearse import percentile
from study_app.wire import Participant, Shown, Timing

BASELINE_DIR = REPO / "bench" / "baseline_app"
STATIC_PREFIX = "/static/stimuli/"   # both apps link images here; nginx serves it from disk, or oTree does
P99_GOAL_S = 0.250
_IMG_SRC = re.compile(r'<img[^>]+src="([^"]+)"')


@dataclass(frozen=True)
class Design:
    app: str      # "baseline" | "live"
    images: str   # "otree" | "nginx"

    @property
    def name(self) -> str:
        return f"{self.app}/{self.images}"


@dataclass
class Level:
    scale: float
    answers: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def rate(self) -> float:
        return self.answers / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        return percentile(self.latencies, q)


@dataclass
class Result:
    design: Design
    create_s: float
    levels: list[Level]

    def best_under_goal(self) -> float | None:
        """Highest answers/s of a level whose p99 latency met the goal (None: no level did)."""
        ok = [lv.rate for lv in self.levels if lv.answers and lv.pct(0.99) < P99_GOAL_S]
        return max(ok) if ok else None

    def at_goal(self) -> tuple[float, bool] | None:
        """Answers/s at which the p99 latency reaches the goal, with the levels in order of increasing load:
        linear (in p99) between the last level before the first one over the goal and that one. ``(rate, True)``
        when no level went over the goal (a lower bound); None when the lightest level already did. A level's
        answers/s moves with the think time it was run at, so this does not depend on where the levels fall."""
        for i, lv in enumerate(self.levels):
            if lv.answers and lv.pct(0.99) < P99_GOAL_S:
                continue
            if i == 0:
                return None
            lo = self.levels[i - 1]
            if not lv.answers or lv.rate <= lo.rate:
                return lo.rate, False
            frac = (P99_GOAL_S - lo.pct(0.99)) / (lv.pct(0.99) - lo.pct(0.99))
            return lo.rate + frac * (lv.rate - lo.rate), False
        return (self.levels[-1].rate, True) if self.levels else None

    def saturation(self) -> float:
        """Highest answers/s at any level (the saturation point when the load exceeded capacity)."""
        return max((lv.rate for lv in self.levels), default=0.0)


# ------------------------------------------------------------------------------------------------- servers
def project_view(design_app: str, bundle: Bundle, into: Path) -> Path:
    """A private copy of the oTree project (symlinks) whose own _static/stimuli/ holds the images, so oTree can
    serve them and its SQLite file stays out of the checkout."""
    src = BASELINE_DIR if design_app == "baseline" else REPO
    into.mkdir(parents=True)
    for entry in src.iterdir():
        if entry.name in ("db.sqlite3", ".git", "_static", "bench") or entry.name.startswith(".venv"):
            continue
        (into / entry.name).symlink_to(entry.resolve())
    stimuli = into / "_static" / "stimuli"
    stimuli.mkdir(parents=True)
    for f in (bundle.root / "images").iterdir():
        try:
            os.link(f, stimuli / f.name)
        except OSError:
            shutil.copyfile(f, stimuli / f.name)
    return into


def server_for(view: Path, *, database_url: str, bundle: Bundle, rounds: int, log: Path) -> OTreeServer:
    extra = {"STIMULUS_BASE_URL": STATIC_PREFIX, "BASELINE_BUNDLE": str(bundle.root),
             "BASELINE_ROUNDS": str(rounds)}
    env = production_env(database_url=database_url, rest_key=secrets.token_hex(12), extra=extra)
    return OTreeServer(project_dir=view, env=env, log_path=log)


def create(server: OTreeServer, app: str, bundle: Bundle, *, participants: int, rounds: int) -> tuple[float, str]:
    t0 = time.perf_counter()
    if app == "baseline":
        s = create_session(server, config="baseline", participants=participants)
    else:
        s = create_session(server, config="attribution_study", participants=participants,
                           modified={"bundle": str(bundle.root), "rounds": rounds, "practice_rounds": 0})
    return time.perf_counter() - t0, str(s["code"])


# ------------------------------------------------------------------------------------------------- load
class BaselineParticipant:
    """One participant of bench/baseline_app (a page per round, the choice POSTed as a form field): the study's
    wire client (pages, images) without the live socket."""

    def __init__(self, http: aiohttp.ClientSession, start_url: str) -> None:
        self.p = Participant(http, start_url)

    @property
    def timing(self) -> Timing:
        return self.p.timing

    @property
    def page_url(self) -> str:
        return self.p.page_url

    async def enter(self) -> None:
        """Consent and instructions, then the first round's images."""
        await self.p.open()
        await self.after()

    def more(self) -> bool:
        return "/Round/" in self.p.page_url

    async def answer(self, rng: random.Random, response_ms: float = 1000.0) -> None:
        await self.p.submit({"choice": str(rng.randint(1, 9)), "response_ms": str(response_ms)})

    async def after(self) -> None:
        """The images of the page now open."""
        await self.p.fetch_images(_IMG_SRC.findall(self.p.html))

    async def close(self) -> None:
        """Nothing to close: no socket."""


class LiveParticipant:
    """One participant of our live_method app: the study's wire client, answering over the live socket."""

    def __init__(self, http: aiohttp.ClientSession, start_url: str) -> None:
        self.p = Participant(http, start_url)
        self.state: dict[str, Any] = {}

    @property
    def timing(self) -> Timing:
        return self.p.timing

    async def enter(self) -> None:
        """Consent and instructions, then the first round's target, grid and preloaded images."""
        await self.p.enter()
        self.state = await self.p.state()
        first = Shown.of_message(self.state)
        await self.p.fetch_images([first.target, *first.images, *first.preload])

    def more(self) -> bool:
        return self.state.get("type") == "round"

    async def answer(self, rng: random.Random, response_ms: float = 1000.0) -> None:
        shown = Shown.of_message(self.state)
        reply = await self.p.answer(shown, rng.randint(1, len(shown.images)), response_ms=response_ms,
                                    reconnect=True)  # like the page JS: reopen a dropped socket, resend
        self.state = reply["state"]

    async def after(self) -> None:
        """The next round's images, preloaded as the page does."""
        await self.p.fetch_images(self.state["preload"])

    async def close(self) -> None:
        await self.p.close()


Player = LiveParticipant | BaselineParticipant
PLAYERS: dict[str, Callable[[aiohttp.ClientSession, str], Player]] = {"live": LiveParticipant,
                                                                      "baseline": BaselineParticipant}


class Clock:
    """The current level (think-time scale) and where answers are counted."""

    def __init__(self) -> None:
        self.level: Level | None = None
        self.counting = False
        self.stop = False
        self.entered = 0
        self.go = asyncio.Event()   # everybody has entered: start answering
        self.participants: list[Player] = []


async def play(p: Player, clock: Clock, rng: random.Random, think: tuple[float, float],
               gate: asyncio.Semaphore) -> None:
    """One participant: enters (``gate`` bounds how many at once); once everybody has entered: think, answer, note
    the latency in the current level, fetch the images a browser would, while rounds are left and the bench runs;
    then closes."""
    clock.participants.append(p)
    async with gate:
        await p.enter()
    clock.entered += 1
    await clock.go.wait()
    while not clock.stop and p.more():
        assert clock.level is not None
        await asyncio.sleep(rng.uniform(*think) * clock.level.scale)
        if clock.stop:
            break
        level, counting = clock.level, clock.counting
        t0 = time.perf_counter()
        try:
            await p.answer(rng)
        except Exception:
            level.errors += 1
            raise
        if counting and clock.counting and clock.level is level:
            level.answers += 1
            level.latencies.append(time.perf_counter() - t0)
        if p.more():
            await p.after()
    await p.close()


async def run_load(design: Design, starts: list[str], *, scales: list[float],
                   level_s: float, warmup_s: float, think: tuple[float, float], seed: int,
                   progress: bool) -> list[Level]:
    clock = Clock()
    clock.level = Level(scales[0])
    gate = asyncio.Semaphore(16)
    conn = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=120)
    levels: list[Level] = []
    reported: list[BaseException | None] = []
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as http:
        rngs = [random.Random(seed * 100_003 + i) for i in range(len(starts))]
        player = PLAYERS[design.app]
        tasks = [asyncio.create_task(play(player(http, u), clock, r, think, gate)) for u, r in zip(starts, rngs)]
        t_enter = time.perf_counter()
        while clock.entered + sum(t.done() for t in tasks) < len(tasks):  # everybody past consent
            await asyncio.sleep(0.2)
        clock.go.set()
        if progress:
            print(f"  {design.name:16s} {clock.entered} participants entered in "
                  f"{time.perf_counter() - t_enter:.1f} s", flush=True)
        for scale in scales:
            level = Level(scale)
            clock.level, clock.counting = level, False
            await asyncio.sleep(warmup_s)
            clock.counting = True
            t0 = time.perf_counter()
            await asyncio.sleep(level_s)
            clock.counting = False
            level.seconds = time.perf_counter() - t0
            levels.append(level)
            errs = [t.exception() for t in tasks if t.done() and not t.cancelled() and t.exception() is not None]
            failed = len(errs)
            for e in errs[len(reported):]:
                if len(reported) < 3:
                    print(f"  {design.name:16s} participant failed: {e!r}"[:400], flush=True)
                reported.append(e)
            if progress:
                print(f"  {design.name:16s} think x{scale:<5g} {level.rate:7.1f} answers/s  p50 "
                      f"{1000 * level.pct(0.5):7.1f} ms  p99 {1000 * level.pct(0.99):7.1f} ms  "
                      f"({level.answers} answers, {failed} participants failed, "
                      f"{sum(x.timing.reconnects for x in clock.participants)} websocket reconnects, "
                      f"{sum(x.timing.image_errors for x in clock.participants)} failed image requests)", flush=True)
            if level.pct(0.99) > 2.0:   # past saturation: higher levels only queue more
                break
        clock.stop = True
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return levels


# ------------------------------------------------------------------------------------------------- main
@dataclass(frozen=True)
class Plan:
    """What one run measures, from the command line (checked)."""
    participants: int
    create_participants: int
    rounds: int
    think: tuple[float, float]
    scales: list[float]
    level_s: float
    warmup_s: float
    designs: list[Design]
    skip_sqlite: bool
    seed: int


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = OneLineParser(prog="python -m bench.study_load", description=__doc__.split("\n\n")[0],
                      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--participants", type=int, default=200, help="simulated participants answering at once")
    p.add_argument("--create-participants", type=int, default=300, help="participants per session (creation time)")
    p.add_argument("--rounds", type=int, default=120, help="rounds per participant (both apps)")
    p.add_argument("--think-min", type=float, default=2.0, help="think time lower bound, s")
    p.add_argument("--think-max", type=float, default=6.0, help="think time upper bound, s")
    p.add_argument("--scales", default="4,3,2.5,2,1.5,1.2,1,0.8,0.6,0.5,0.4",
                   help="think-time multipliers, one load level each, lightest load first")
    p.add_argument("--level-seconds", type=float, default=12.0, help="measured seconds per level")
    p.add_argument("--warmup-seconds", type=float, default=3.0, help="unmeasured seconds before each level")
    p.add_argument("--designs", default="baseline/otree,baseline/nginx,live/otree,live/nginx")
    p.add_argument("--skip-sqlite", action="store_true", help="skip the SQLite session-creation timings")
    p.add_argument("--quick", action="store_true", help="smoke run: 60 participants, 2 short levels")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.quick:
        args.participants, args.create_participants, args.rounds = 60, 60, 40
        args.scales, args.level_seconds, args.warmup_seconds = "1,0.25", 6.0, 2.0
    return args


def plan_from(args: argparse.Namespace) -> Plan | None:
    """The run ``args`` ask for; None (with one line on stderr) when they do not make sense."""
    try:
        scales = [float(x) for x in args.scales.split(",")]
        designs = [Design(*d.split("/")) for d in args.designs.split(",")]
    except (ValueError, TypeError):
        print(f"study_load: --scales must be numbers and --designs app/images pairs, got {args.scales!r}, "
              f"{args.designs!r}", file=sys.stderr)
        return None
    bad = [d.name for d in designs if d.app not in ("baseline", "live") or d.images not in ("otree", "nginx")]
    if bad or not scales or min(scales) <= 0 or args.participants > args.create_participants:
        print(f"study_load: bad --designs {bad} (app baseline|live, images otree|nginx), or --scales <= 0, or "
              "--participants > --create-participants", file=sys.stderr)
        return None
    if not 0 < args.think_min <= args.think_max:
        print("study_load: need 0 < --think-min <= --think-max", file=sys.stderr)
        return None
    return Plan(participants=args.participants, create_participants=args.create_participants, rounds=args.rounds,
                think=(args.think_min, args.think_max), scales=scales, level_s=args.level_seconds,
                warmup_s=args.warmup_seconds, designs=designs, skip_sqlite=args.skip_sqlite, seed=args.seed)


def time_sqlite_creation(*, plan: Plan, bundle: Bundle, tmp: Path) -> dict[str, float]:
    """Seconds to create a session of ``plan.create_participants`` on SQLite, per app of the planned designs."""
    sqlite_times: dict[str, float] = {}
    for app in dict.fromkeys(d.app for d in plan.designs):
        view = project_view(app, bundle, tmp / f"sqlite-{app}")
        with server_for(view, database_url="sqlite:///db.sqlite3", bundle=bundle,
                        rounds=plan.rounds, log=tmp / f"sqlite-{app}.log") as srv:
            sqlite_times[app], _ = create(srv, app, bundle, participants=plan.create_participants,
                                          rounds=plan.rounds)
        print(f"  session creation, {app}, SQLite, {plan.create_participants} participants: "
              f"{sqlite_times[app]:.2f} s", flush=True)
    return sqlite_times


def measure_design(*, plan: Plan, design: Design, index: int, pg: Postgres, bundle: Bundle, tmp: Path) -> Result:
    """One design on its own PostgreSQL database: the session's creation time, then the load levels."""
    view = project_view(design.app, bundle, tmp / f"pg-{index}")
    db = pg.create_database(f"load{index}")
    with server_for(view, database_url=db, bundle=bundle, rounds=plan.rounds, log=tmp / f"pg-{index}.log") as srv:
        create_s, code = create(srv, design.app, bundle, participants=plan.create_participants, rounds=plan.rounds)
        print(f"  session creation, {design.app}, PostgreSQL, {plan.create_participants} participants: "
              f"{create_s:.2f} s", flush=True)
        nginx = Nginx(upstream_port=srv.port, static={STATIC_PREFIX: bundle.root / "images"},
                      workers=1) if design.images == "nginx" else None
        try:
            base = nginx.start().url if nginx else srv.url
            starts = start_urls(srv, code, base_url=base)[:plan.participants]
            levels = asyncio.run(run_load(
                design, starts, scales=plan.scales, level_s=plan.level_s, warmup_s=plan.warmup_s,
                think=plan.think, seed=plan.seed, progress=True))
        finally:
            if nginx:
                nginx.stop()
    return Result(design, create_s, levels)


def measure(plan: Plan) -> tuple[list[Result], dict[str, float]]:
    """Every planned design's results and the SQLite creation times (per app), in a temporary folder removed after."""
    tmp = Path(tempfile.mkdtemp(prefix="study_load_"))
    results: list[Result] = []
    sqlite_times: dict[str, float] = {}
    try:
        print(f"bundle: {plan.rounds + 5} targets x 3 generators x 3 attempts (64 px PNGs) ...", flush=True)
        bundle = make_bundle(tmp, n_targets=plan.rounds + 5, image_size=64, seed=plan.seed)
        with Postgres() as pg:
            if not plan.skip_sqlite:
                sqlite_times = time_sqlite_creation(plan=plan, bundle=bundle, tmp=tmp)
            for i, d in enumerate(plan.designs):
                results.append(measure_design(plan=plan, design=d, index=i, pg=pg, bundle=bundle, tmp=tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return results, sqlite_times


def report_levels(*, plan: Plan, results: list[Result], total_s: float) -> None:
    print()
    print(f"{plan.participants} participants, think {plan.think[0]:g}-{plan.think[1]:g} s x scale, "
          f"{plan.level_s:g} s per level, loopback, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}, total {total_s:.0f} s")
    print(f"{'design':18s} {'scale':>6s} {'answers/s':>10s} {'p50 ms':>8s} {'p99 ms':>8s} {'answers':>8s} "
          f"{'errors':>7s}")
    for r in results:
        for lv in r.levels:
            print(f"{r.design.name:18s} {lv.scale:6g} {lv.rate:10.1f} {1000 * lv.pct(0.5):8.1f} "
                  f"{1000 * lv.pct(0.99):8.1f} {lv.answers:8d} {lv.errors:7d}")
    print()


def report_creation(*, plan: Plan, results: list[Result], sqlite_times: dict[str, float]) -> None:
    for app in dict.fromkeys(r.design.app for r in results):
        pg_s = [r.create_s for r in results if r.design.app == app]
        sq = f"{sqlite_times[app]:.2f} s" if app in sqlite_times else "-"
        print(f"session creation, {plan.create_participants} participants, {app:8s}: SQLite {sq}, PostgreSQL "
              f"{statistics.median(pg_s):.2f} s (median of {len(pg_s)})")


def report_capacity(results: list[Result]) -> None:
    """Per design: answers/s under the goal, where p99 reaches it, and the highest; then the ratio (last line)."""
    ok = {r.design.name: r.best_under_goal() for r in results}
    goal = {r.design.name: r.at_goal() for r in results}
    sat = {r.design.name: r.saturation() for r in results}
    for name in ok:
        under = f"{ok[name]:.1f}" if ok[name] is not None else "never"
        g = goal[name]
        at = "-" if g is None else f"{'>= ' if g[1] else ''}{g[0]:.1f}"
        print(f"{name:18s} answers/s: best level with p99 < 250 ms {under:>6s}; where p99 reaches 250 ms "
              f"{at:>8s}; highest {sat[name]:.1f}")
    ours, base = "live/nginx", "baseline/otree"
    g_ours, g_base = goal.get(ours), goal.get(base)
    if ours not in sat or base not in sat or not sat[base]:
        print(f"ratio: not measured (needs designs {ours} and {base})")
    elif g_ours is not None and g_base is not None:
        bound = " (at least: ours never reached 250 ms)" if g_ours[1] and not g_base[1] else ""
        print(f"ratio ours ({ours}) / baseline ({base}) answers/s where p99 reaches 250 ms: "
              f"{g_ours[0] / g_base[0]:.2f}x{bound}")
    else:
        print(f"ratio ours ({ours}) / baseline ({base}) answers/s at the saturation point: "
              f"{sat[ours] / sat[base]:.2f}x")


def main(argv: list[str] | None = None) -> int:
    plan = plan_from(parse_args(argv))
    if plan is None:
        return 2
    t_start = time.perf_counter()
    results, sqlite_times = measure(plan)
    report_levels(plan=plan, results=results, total_s=time.perf_counter() - t_start)
    report_creation(plan=plan, results=results, sqlite_times=sqlite_times)
    report_capacity(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
