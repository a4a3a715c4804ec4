"""Drive one participant through the study in chromium, recording every byte the browser receives."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from playwright.sync_api import BrowserContext, Page, Route, WebSocket

from contracts.responses import PLACEBO
from study_app.wire import Shown

ROUND_TIMEOUT_MS = 15_000


@dataclass
class Received:
    """Every URL, header and body of every HTTP response, and every websocket frame, the browser received."""

    http: list[tuple[str, bytes]] = field(default_factory=list)   # (url, headers + body)
    frames: list[str] = field(default_factory=list)
    sent_frames: list[str] = field(default_factory=list)

    def attach(self, context: BrowserContext) -> None:
        context.route("**/*", self._route)

    def watch(self, page: Page) -> None:
        page.on("websocket", self._websocket)

    def _route(self, route: Route) -> None:
        resp = route.fetch(max_redirects=0)
        body = resp.body()
        headers = "\n".join(f"{k}: {v}" for k, v in resp.headers.items()).encode()
        self.http.append((route.request.url, route.request.url.encode() + b"\n" + headers + b"\n\n" + body))
        route.fulfill(response=resp, body=body)

    def _websocket(self, ws: WebSocket) -> None:
        self.frames.append(ws.url)
        ws.on("framereceived", lambda payload: self.frames.append(payload if isinstance(payload, str)
                                                                  else payload.decode("latin-1")))
        ws.on("framesent", lambda payload: self.sent_frames.append(str(payload)))

    def find(self, needles: list[str]) -> list[tuple[str, str, str]]:
        """(needle, where, context) for every case-insensitive occurrence of a needle."""
        hits = []
        for where, blob in [*self.http, *(("websocket frame", f.encode()) for f in self.frames)]:
            low = blob.lower()
            for n in needles:
                i = low.find(n.encode())
                if i >= 0:
                    hits.append((n, where, blob[max(0, i - 60): i + 60].decode("latin-1")))
        return hits


class Participant:
    """One participant's tab."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def consent_and_instructions(self) -> None:
        self.page.check("input[name=consent]")
        self.page.click("button.otree-btn-next")
        self.page.wait_for_selector("text=Worked example")
        self.page.click("button.otree-btn-next")

    def wait_round(self, k: int | None = None, *, timeout_ms: int = ROUND_TIMEOUT_MS) -> Shown:
        """Wait until a round (round ``k`` if given) is fully shown and clickable; return what is on screen (the
        phase from the page heading: "Practice ..." or not)."""
        pattern = rf"^Round {k} of \d+$" if k is not None else r"^Round \d+ of \d+$"
        self.page.wait_for_function(
            """(pattern) => {
                const p = document.getElementById('study-progress');
                const b = document.getElementById('study-board');
                return p && b && new RegExp(pattern).test(p.textContent.trim()) && !b.classList.contains('loading');
            }""", arg=pattern, timeout=timeout_ms)
        self.page.wait_for_timeout(50)  # one animation frame: the page starts its response clock
        info: dict[str, Any] = self.page.evaluate("""() => ({
            heading: document.querySelector('.study-header h1').textContent.trim(),
            progress: document.getElementById('study-progress').textContent.trim(),
            target: document.getElementById('study-target-img').src,
            images: Array.from(document.querySelectorAll('#study-grid button img')).map(i => i.src),
        })""")
        m = re.match(r"Round (\d+) of (\d+)", info["progress"])
        assert m, info
        phase = "practice" if info["heading"].startswith("Practice") else "main"
        return Shown(phase, int(m.group(1)), int(m.group(2)), info["target"], tuple(info["images"]))

    def click_slot(self, slot: int) -> None:
        self.page.click(f"#study-grid button[data-slot='{slot}']")

    def press_slot(self, slot: int) -> None:
        self.page.keyboard.press(str(slot))


def placebo_slots(shown: Shown) -> list[int]:
    """Slots showing the target itself (a placebo row): visible to anyone looking at the screen, by design."""
    return [i + 1 for i, url in enumerate(shown.images) if url == shown.target]


def rows_of(shown: Shown, generator_of: Any, cols: int = 3) -> list[str]:
    """Row order top to bottom as generator ids (PLACEBO for the copies row: ``tests.helpers.image_index``), from
    the bundle's ground truth."""
    out = []
    for r in range(len(shown.images) // cols):
        gens = {generator_of(u) for u in shown.images[r * cols:(r + 1) * cols]}
        assert len(gens) == 1, f"row {r} mixes generators: {gens}"
        g = gens.pop()
        out.append(g)
    return out
