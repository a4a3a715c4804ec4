"""A dress rehearsal before paying a crowd: N simulated participants play the study at once through the link the
crowd will get, against your own deployment; then answers/s, p50/p99 answer latency and errors, one line each.

    python -m study_app.rehearse https://study.example.org/room/prolific --participants 50 --rounds 20 \\
        --host-is-mine study.example.org
    python -m study_app.rehearse http://127.0.0.1:8000/join/fomukagi --participants 10 --rounds 5 --json

Each simulated participant is a browser as the server sees it (study_app/wire.py): it opens the link, consents,
reads the instructions, answers every practice round and then ``--rounds`` real rounds over the live websocket
(thinking ``--think-s`` seconds, 0.5x to 1.5x, before each answer), fetching each round's images as the page does.
The latency of an answer is the time from sending it to the server's acknowledgement.

The link: a room link (``/room/<name>``; each participant gets its own participant label, 24 random hexadecimal
characters, valid for every room rule of deploy/gate.py, and Prolific's ``{{%...%}}`` placeholders are filled in the
same way) or a session-wide link (``/join/<code>``). The rehearsal's participants are real participants of that
session: their answers are in its export. Rehearse on a session of its own and create a fresh one for the crowd.

Bounded and safe: at most 200 participants and 200 rounds each, a deadline for the whole run (``--deadline-s``); it
only talks to loopback (localhost, 127.0.0.0/8, ::1) or to a host you name with ``--host-is-mine HOST`` (the link's
host, typed again: say it only of a server you run; repeat it for a separate image host). Anything else, a
redirect or an image included, is refused. Exit status: 0 no errors, 1 errors, 2 bad input or unreachable server.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp

from contracts.cli import float_range, int_range, make_parser
from study_app.rounds import MAIN
from study_app.wire import HostRefused, Participant, ProtocolError, RateLimited, Shown, host_of

MAX_PARTICIPANTS = 200
MAX_ROUNDS = 200
MAX_DEADLINE_S = 3600.0
ENTRY_RETRY_S = 6.0    # deploy/nginx.conf.template admits 10 entries a minute per address
ENTRY_KINDS = {"room": "room link", "join": "session-wide link"}
LABEL_HEX = 24               # Prolific's id length; hexadecimal upper case also fits the lab and MTurk rules
ENTRY_CHECKS = {"screen_ok": "1", "welcome_page_ok": "1"}   # what the entry pages' JS adds in a browser


class BadInput(ValueError):
    """The command line or the link cannot be rehearsed (one line, shown as is)."""


# ------------------------------------------------------------------------------------------------- pure rules
def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Link:
    url: str
    kind: str                       # "room" | "join"
    allowed_hosts: frozenset[str]


def parse_link(url: str, *, hosts_mine: Collection[str] = ()) -> Link:
    """The link to rehearse and the hosts the rehearsal may talk to; BadInput says what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"{url!r} is not an http(s) URL with a host")
    host = parts.hostname.lower()
    mine = {h.lower().strip("[]") for h in hosts_mine}
    if not is_loopback(host) and host not in mine:
        raise BadInput(f"{host} is not loopback: rehearse only your own server, and say so with "
                       f"--host-is-mine {host}")
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) != 2 or segments[0] not in ENTRY_KINDS:
        raise BadInput(f"{parts.path or '/'} is not a room link (/room/NAME) or a session-wide link (/join/CODE): "
                       "use the link participants get, not an admin, start or participant page link")
    return Link(url, segments[0], frozenset({host, *mine}))


def entry_url(link: Link, rng: random.Random) -> str:
    """One participant's way in: the browser checks passed and, for a room, a participant label of its own (any
    ``{{%...%}}`` placeholder of a crowd platform's link filled with such an id too)."""
    parts = urlsplit(link.url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))

    def fresh() -> str:
        return "".join(rng.choice("0123456789ABCDEF") for _ in range(LABEL_HEX))
    query = {k: fresh() if "{{" in v else v for k, v in query.items()}
    if link.kind == "room":
        query["participant_label"] = fresh()
    query.update(ENTRY_CHECKS)
    return urlunsplit(parts._replace(query=urlencode(query)))


def percentile(xs: Sequence[float], q: float) -> float:
    """The ``q`` quantile of ``xs`` (the value at index ``int(q * n)`` of the sorted values); nan when empty."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


@dataclass
class Report:
    participants: int
    rounds: int
    link_kind: str
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    finished: int = 0                # participants who reached the end of the study
    entries_throttled: int = 0       # entries the front end answered with 429 (retried)

    @property
    def answers(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.answers / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        def ms(q: float) -> float | None:
            v = percentile(self.latencies, q)
            return None if v != v else round(1000 * v, 1)
        return {"participants": self.participants, "rounds": self.rounds, "link": self.link_kind,
                "answers": self.answers, "seconds": round(self.seconds, 2), "answers_per_s": round(self.rate, 2),
                "p50_ms": ms(0.5), "p99_ms": ms(0.99), "errors": sum(self.errors.values()),
                "error_kinds": dict(self.errors), "finished": self.finished,
                "entries_throttled": self.entries_throttled}

    def lines(self) -> list[str]:
        d = self.as_dict()
        out = [f"rehearsal: {self.participants} participants x {self.rounds} rounds through the "
               f"{ENTRY_KINDS[self.link_kind]}: {self.answers} answers in {self.seconds:.1f} s, "
               f"{self.finished} reached the end of the study",
               f"answers/s: {self.rate:.1f}",
               f"p50 latency: {d['p50_ms']} ms", f"p99 latency: {d['p99_ms']} ms",
               f"errors: {d['errors']}"]
        out += [f"  {n} x {why}" for why, n in self.errors.most_common(5)]
        if self.entries_throttled:
            out.append(f"note: the front end rate-limited {self.entries_throttled} entries from this one address "
                       "(HTTP 429, retried); a crowd enters from many addresses, so entry waits are not in the "
                       "latencies")
        return out


# ------------------------------------------------------------------------------------------------- I/O
def _why(e: BaseException) -> str:
    """One line for an error, without what differs from participant to participant."""
    if isinstance(e, asyncio.TimeoutError):
        return "no answer from the server in time"
    if isinstance(e, aiohttp.ClientConnectorError):
        return f"cannot connect: {e.os_error.strerror or e}"
    text = " ".join(str(e).split()) or type(e).__name__
    return (text if isinstance(e, ProtocolError) else f"{type(e).__name__}: {text}")[:200]


async def _play(p: Participant, rng: random.Random, report: Report, *, think_s: float, images: bool) -> None:
    """One participant, its link already opened: consent, instructions, every practice round, ``report.rounds``
    real rounds (or up to the end of the study)."""
    try:
        await p.to_live_page()
        answered = 0
        while p.socket_path and answered < report.rounds:
            state = await p.state()
            if images and state.get("type") == "round":
                first = Shown.of_message(state)
                await p.fetch_images([first.target, *first.images, *first.preload])
            while state.get("type") == "round" and answered < report.rounds:
                shown = Shown.of_message(state)
                think = think_s * rng.uniform(0.5, 1.5)
                await asyncio.sleep(think)
                t0 = time.perf_counter()
                reply = await p.answer(shown, rng.randint(1, len(shown.images)), 1000 * think, reconnect=True)
                report.latencies.append(time.perf_counter() - t0)
                answered += shown.phase == MAIN
                state = reply["state"]
                if images and state.get("type") == "round":
                    await p.fetch_images(state.get("preload", []))
            if state.get("type") == "done":
                page = p.page_url
                await p.submit()      # as the page's JS does; the next page may be another live page
                if p.page_url == page:
                    raise ProtocolError(f"the {p.page} page refused its form after its last round")
            elif state.get("type") == "paused":
                raise ProtocolError(f"the session is paused: {state.get('message', '')}")
            elif state.get("type") != "round":
                raise ProtocolError(f"unexpected live message on the {p.page} page: {state}")
        report.finished += p.page == "Completion"
    finally:
        await p.close()


async def _open(p: Participant, link: Link, rng: random.Random, report: Report) -> None:
    """Open the link (the first participant's visit): an unreachable server, or a link that leads nowhere, fails
    here in one line before N participants fail with it."""
    try:
        await _enter(p, rng, report)
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ProtocolError) as e:
        raise BadInput(f"{link.url}: {_why(e)}") from None
    if not p.page:
        raise BadInput(f"{link.url} leads to {p.page_url}, not a study page (a room without a session? create one "
                       "in the admin)")


async def _enter(p: Participant, rng: random.Random, report: Report) -> None:
    """Open the link; while the front end answers 429 (its per-address entry limit: every simulated participant
    comes from this one machine, a real crowd from many addresses), wait as it asks (or ENTRY_RETRY_S) and try
    again. The waits are counted in the report, not as errors; the run's deadline bounds them."""
    while True:
        try:
            await p.open()
            return
        except RateLimited as e:
            report.entries_throttled += 1
            await asyncio.sleep((e.retry_after_s or ENTRY_RETRY_S) * rng.uniform(1.0, 1.5))


async def _visit(p: Participant, rng: random.Random, report: Report, *, think_s: float, images: bool) -> None:
    await _enter(p, rng, report)
    await _play(p, rng, report, think_s=think_s, images=images)


async def rehearse(link: Link, *, participants: int, rounds: int, think_s: float, images: bool, deadline_s: float,
                   timeout_s: float, seed: int) -> Report:
    report = Report(participants, rounds, link.kind)
    http = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(),   # every participant is a new visitor
                                 connector=aiohttp.TCPConnector(limit=0),
                                 timeout=aiohttp.ClientTimeout(total=timeout_s))
    async with http:
        rngs = [random.Random(seed * 100_003 + i) for i in range(participants)]
        ps = [Participant(http, entry_url(link, r), allowed_hosts=link.allowed_hosts, timeout_s=timeout_s)
              for r in rngs]
        t0 = time.perf_counter()
        try:   # the entry's 429 retries are bounded by the run's deadline too
            await asyncio.wait_for(_open(ps[0], link, rngs[0], report), timeout=deadline_s)
        except asyncio.TimeoutError:
            raise BadInput(f"{link.url}: not entered within --deadline-s {deadline_s:g} s (the front end kept "
                           f"answering HTTP 429, {report.entries_throttled} times)") from None
        tasks = [asyncio.create_task(_play(ps[0], rngs[0], report, think_s=think_s, images=images))]
        tasks += [asyncio.create_task(_visit(p, r, report, think_s=think_s, images=images))
                  for p, r in zip(ps[1:], rngs[1:])]
        done, pending = await asyncio.wait(tasks, timeout=deadline_s)
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        report.seconds = time.perf_counter() - t0
        report.errors.update(_why(e) for t in done if (e := t.exception()) is not None)
        if pending:
            report.errors[f"still playing at the deadline ({deadline_s:g} s)"] += len(pending)
    return report


def main(argv: list[str] | None = None) -> int:
    ap = make_parser("python -m study_app.rehearse", __doc__.split("\n\n")[0])
    ap.add_argument("url", help="the room link (/room/NAME) or session-wide link (/join/CODE) of your session")
    ap.add_argument("--participants", type=int_range(1, MAX_PARTICIPANTS), default=10,
                    help=f"simulated participants at once (at most {MAX_PARTICIPANTS})")
    ap.add_argument("--rounds", type=int_range(1, MAX_ROUNDS), default=10,
                    help=f"real rounds each participant answers (at most {MAX_ROUNDS}; practice rounds come first)")
    ap.add_argument("--think-s", type=float_range(0.0, 60.0), default=1.0,
                    help="think time before each answer, s (0.5x to 1.5x; 0: as fast as the server answers)")
    ap.add_argument("--host-is-mine", action="append", default=[], metavar="HOST",
                    help="a host that is not loopback but yours: the link's host (and an image host, if separate)")
    ap.add_argument("--no-images", action="store_true", help="do not fetch the rounds' images")
    ap.add_argument("--deadline-s", type=float_range(1.0, MAX_DEADLINE_S), default=600.0,
                    help="stop the whole rehearsal after this many seconds")
    ap.add_argument("--timeout-s", type=float_range(1.0, 300.0), default=30.0,
                    help="one request or live answer taking longer is an error")
    ap.add_argument("--seed", type=int, default=0, help="participants' choices, think times and labels")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the lines")
    args = ap.parse_args(argv)
    try:
        link = parse_link(args.url, hosts_mine=args.host_is_mine)
        report = asyncio.run(rehearse(link, participants=args.participants, rounds=args.rounds,
                                      think_s=args.think_s, images=not args.no_images, deadline_s=args.deadline_s,
                                      timeout_s=args.timeout_s, seed=args.seed))
    except (BadInput, HostRefused) as e:
        print(f"rehearse: {e}", file=sys.stderr)
        return 2
    print(json.dumps(report.as_dict()) if args.json else "\n".join(report.lines()), flush=True)
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
