"""The study's door: participant input validated before oTree stores anything (devserver and prodserver alike).

oTree records whatever a visitor puts in ``participant_label`` (room links, ``/join/`` links, start links) and takes
a participant place for it, and its admin pages print labels unescaped. This ASGI middleware wraps oTree's app and
answers with a plain 400 page, before any place is taken, when a request carries:

* a ``participant_label``, ``STUDY_ID`` or ``SESSION_ID`` outside the crowd platform's id alphabet (per room, see
  :data:`ALPHABETS` and ``settings.PARTICIPANT_ID_RULES``), or no label where the room requires one; MTurk's
  ``workerId`` / ``assignmentId`` / ``hitId`` outside MTurk's;
* a control character (NUL included) anywhere in its path or query, or a query that is not UTF-8;
* a ``.``/``..`` path segment, encoded or not (oTree's static handler, Starlette 0.14, CVE-2023-29159, serves the
  sibling folders of ``_static`` through ``/static/..%2f_static_x/``);
* a websocket whose ``Origin`` is not the host it connects to (cross-site websocket hijacking of the admin's
  ``/export`` socket: browsers send the admin's cookie to any port of the same host).

Entry links (``GET /room/...`` and ``GET /join/...``; ``HEAD`` is the same request to Starlette, which answers it
with the GET handler, so every rule here treats it as GET) first get a small page that checks the screen
(:data:`MIN_SCREEN`): a visitor whose window is too small is told so and takes no place.

``settings.py`` calls :func:`install_on_import`; oTree builds its Starlette app in ``otree.asgi`` (imported by
uvicorn for both ``otree devserver`` and ``otree prodserver``, after settings.py), and the hook wraps that app's
middleware stack as soon as the module has run. Pure checks (:func:`problem`) are separate from the ASGI edge.
"""

from __future__ import annotations

import html
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from deploy.import_hook import after_import

ALPHABETS: dict[str, str] = {
    "prolific": r"[0-9a-fA-F]{24}",        # Prolific PID / STUDY_ID / SESSION_ID: 24 hex characters
    "mturk": r"[A-Z0-9]{8,64}",            # MTurk worker id
    "lab": r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}",  # lab and direct links (no leading '-': a spreadsheet formula)
}
CHECKED_PARAMS: tuple[str, ...] = ("participant_label", "STUDY_ID", "SESSION_ID")
MIN_SCREEN = (900, 500)                    # width, height in CSS pixels (study_app/static/study_app/study.css)
SCREEN_OK_PARAM = "screen_ok"
ENTRY_PREFIXES: tuple[str, ...] = ("/room/", "/join/")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
READS = ("GET", "HEAD")                    # Starlette's HTTPEndpoint serves HEAD with get(): oTree's entry too


@dataclass(frozen=True)
class RoomRule:
    """The id rule of one room: an alphabet (a name in :data:`ALPHABETS` or a regular expression) and whether the
    room refuses visitors without a ``participant_label``."""

    alphabet: str = "lab"
    label_required: bool = False

    @property
    def pattern(self) -> str:
        return ALPHABETS.get(self.alphabet, self.alphabet)

    def matches(self, value: str) -> bool:
        return re.fullmatch(self.pattern, value) is not None


DEFAULT_RULE = RoomRule("lab")
MTURK_PARAMS = {"workerId": RoomRule("mturk"), "assignmentId": RoomRule(r"[A-Za-z0-9_]{1,64}"),
                "hitId": RoomRule(r"[A-Za-z0-9]{1,64}")}


def _describe(rule: RoomRule) -> str:
    return {"prolific": "24 hexadecimal characters (a Prolific id)",
            "mturk": "8 to 64 capital letters or digits (an MTurk worker id)",
            "lab": "1 to 64 letters, digits, '_' or '-', not starting with '-'",
            }.get(rule.alphabet, f"the pattern {rule.pattern}")


def problem(*, method: str, path: str, query: bytes, rooms: Mapping[str, RoomRule],
            default: RoomRule = DEFAULT_RULE) -> str | None:
    """What is wrong with this request (one sentence for the 400 page), or None. ``path`` is percent-decoded."""
    if _CONTROL.search(path):
        return "The address contains a control character."
    if any(seg in (".", "..") for seg in path.split("/")) or "\\" in path:
        return "The address contains a '.' or '..' path segment."
    try:
        params = parse_qsl(query.decode("utf-8"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return "The address is not valid UTF-8."
    for key, value in params:
        if _CONTROL.search(key) or _CONTROL.search(value):
            return f"The parameter {key[:40]!r} contains a control character."
    rule = default
    room = path[len("/room/"):].strip("/") if path.startswith("/room/") else None
    if room is not None:
        rule = rooms.get(room, default)
    values = dict(params)
    for key, fixed in MTURK_PARAMS.items():  # oTree's MTurk entry stores these too (and shows them to the admin)
        if key in values and values[key] != "" and not fixed.matches(values[key]):
            return f"The {key} in this link is not valid: it must be {_describe(fixed)}."
    for key in CHECKED_PARAMS:
        if key in values and values[key] != "" and not rule.matches(values[key]):
            return f"The {key} in this link is not valid: it must be {_describe(rule)}."
    if room is not None and method in READS and rule.label_required and not values.get("participant_label"):
        return ("This link is missing your participant id (participant_label). Please open the study from the "
                "recruiting platform.")
    return None


def needs_screen_check(*, method: str, path: str, query: bytes) -> bool:
    return (method in READS and path.startswith(ENTRY_PREFIXES)
            and SCREEN_OK_PARAM not in dict(parse_qsl(query.decode("utf-8", "replace"))))


def error_page(message: str) -> bytes:
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Invalid link</title></head>"
            "<body style=\"font-family: sans-serif; margin: 3rem;\"><h2>This link is not valid</h2>"
            f"<p>{html.escape(message)}</p><p>Nothing was recorded. Please open the study again from the link you "
            "were given.</p></body></html>").encode()


def screen_page() -> bytes:
    """Checks the window size in the browser; continues to the same URL with ``screen_ok=1`` or explains why not."""
    w, h = MIN_SCREEN
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Starting the study</title></head>
<body style="font-family: sans-serif; margin: 3rem;"><p id="msg">Starting the study...</p>
<noscript>This study needs JavaScript.</noscript>
<script>
(function () {{
  var w = window.innerWidth, h = window.innerHeight;
  if (w >= {w} && h >= {h}) {{
    var q = new URLSearchParams(window.location.search);
    q.set('{SCREEN_OK_PARAM}', '1');
    window.location.replace(window.location.pathname + '?' + q.toString());
  }} else {{
    document.getElementById('msg').textContent = 'This study needs a browser window of at least {w} x {h} pixels ' +
      '(yours is ' + w + ' x ' + h + '): please open this link on a laptop or desktop computer, with the window ' +
      'maximised. Nothing was recorded and no place was taken; the same link works later.';
  }}
}})();
</script></body></html>""".encode()


Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _header(scope: Scope, name: bytes) -> str:
    for k, v in scope.get("headers", []):
        if k.lower() == name:
            return bytes(v).decode("latin-1")
    return ""


def cross_origin(scope: Scope) -> bool:
    """A websocket whose Origin names another host:port than the Host it connects to (none: not a browser)."""
    origin = _header(scope, b"origin")
    if not origin:
        return False
    return urlsplit(origin).netloc.lower() != _header(scope, b"host").lower()


class Gate:
    """ASGI middleware: refuses bad participant input (400) and cross-origin websockets, checks screens."""

    def __init__(self, app: ASGIApp, *, rooms: Mapping[str, RoomRule], default: RoomRule = DEFAULT_RULE) -> None:
        self.app = app
        self.rooms = dict(rooms)
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET") if kind == "http" else "GET"
        path, query = scope.get("path", ""), scope.get("query_string", b"")
        why = problem(method=method, path=path, query=query, rooms=self.rooms, default=self.default)
        if kind == "websocket":
            if why is None and cross_origin(scope):
                why = "cross-origin websocket"
            if why is not None:
                await receive()  # websocket.connect
                await send({"type": "websocket.close", "code": 1008})
                return
        elif why is not None:
            await _respond(send, 400, error_page(why))
            return
        elif method == "POST" and path.startswith("/room/"):  # oTree's JSON room API: labels in the body
            await _respond(send, 405, error_page("Joining a room by POST is not supported."))
            return
        elif needs_screen_check(method=method, path=path, query=query):
            await _respond(send, 200, screen_page())
            return
        await self.app(scope, receive, send)


async def _respond(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})


# ----------------------------------------------------------------------------------------------- installing
APP_MODULE = "otree.asgi"


def install(module: ModuleType, *, rooms: Mapping[str, RoomRule], default: RoomRule = DEFAULT_RULE) -> None:
    """Wrap the middleware stack of ``module.app`` (oTree's Starlette app) in a :class:`Gate`, once."""
    app = module.app
    if not isinstance(app.middleware_stack, Gate):
        app.middleware_stack = Gate(app.middleware_stack, rooms=rooms, default=default)


_CONFIGURED: dict[str, Any] = {"rooms": {}, "default": DEFAULT_RULE}


def rule_for(room: str | None) -> RoomRule:
    """The id rule of ``room`` (None: no room) as settings.py installed it: what the app checks the ids its own
    pages receive against (the consent form's STUDY_ID / SESSION_ID)."""
    rooms: Mapping[str, RoomRule] = _CONFIGURED["rooms"]
    return rooms.get(room, _CONFIGURED["default"]) if room is not None else _CONFIGURED["default"]


def install_on_import(*, rooms: Mapping[str, RoomRule], default: RoomRule = DEFAULT_RULE) -> None:
    """Wrap oTree's app when ``otree.asgi`` is imported (now, if it already is); :func:`rule_for` answers with
    these rules from now on."""
    _CONFIGURED.update(rooms=dict(rooms), default=default)
    after_import(APP_MODULE, lambda module: install(module, rooms=rooms, default=default), key=__name__)
