"""Attacks on the server around the study (issue 10 #3 login, #4, #7): through the real nginx rendered from
deploy/nginx.conf.template, and directly against oTree (the gate inside oTree refuses them too)."""

from __future__ import annotations

import json
import time
import urllib.parse

from playwright.sync_api import Browser, BrowserContext

from deploy.nginx import ENTRY_BURST, ENTRY_RATE
from harness.local import Nginx
from tests.security.conftest import ADMIN_PASSWORD, SECRET_TEXT, Evil, Hardened, raw_get


def test_login_guesses_are_rate_limited_through_nginx(front: str) -> None:
    """#3: /login took 300 guesses in 1.3 s. Through nginx: 5 per minute per address after a burst of 5."""
    statuses = []
    for i in range(30):
        body = urllib.parse.urlencode({"username": "admin", "password": f"guess-{i}"}).encode()
        statuses.append(raw_get(front, "/login", {"Content-Type": "application/x-www-form-urlencoded"},
                                method="POST", body=body).status)
    assert statuses[0] != 429
    assert statuses.count(429) >= 20, statuses
    # the room and join links: 10 per minute per address after a burst of 3 (it was 10: one address took 11 places
    # at once with made-up ids); a participant's own 3 entry requests (screen check, welcome page, entry) all pass
    entry = [raw_get(front, f"/room/lab?participant_label=x{i}&screen_ok=1").status for i in range(25)]
    assert 429 not in entry[:ENTRY_BURST + 1] and entry.count(429) >= 25 - (ENTRY_BURST + 2), entry
    assert ENTRY_BURST == 3 and ENTRY_RATE == 10, "docs/experimenter.md and deploy/README.md state these numbers"


def _export_page(target_ws: str) -> str:
    """The attacker's page: opens the admin's export websocket on another port of the same host and reports
    what it reads."""
    return f"""<!DOCTYPE html><html><body><script>
window.result = {{opened: false, messages: [], closed: false}};
var ws = new WebSocket({json.dumps(target_ws)});
ws.onopen = function () {{ window.result.opened = true;
  ws.send(JSON.stringify({{app_name: 'study_app', is_custom: true, function_name: 'custom_export_trials'}})); }};
ws.onmessage = function (e) {{ window.result.messages.push(String(e.data).slice(0, 200)); }};
ws.onclose = function () {{ window.result.closed = true; }};
ws.onerror = function () {{ window.result.closed = true; }};
</script></body></html>"""


def _read_export(context: BrowserContext, page_url: str) -> dict:
    page = context.new_page()
    page.goto(page_url)
    deadline = time.monotonic() + 10
    result: dict = {}
    while time.monotonic() < deadline:
        result = page.evaluate("window.result")
        if result["messages"] or result["closed"]:
            break
        page.wait_for_timeout(100)
    page.close()
    return result


def test_cross_origin_page_cannot_read_the_admin_export_socket(hardened: Hardened, admin: BrowserContext,
                                                              evil: Evil) -> None:
    """#4: a page on the same host, another port, read the /export websocket with the admin's cookie."""
    hardened.session(1)
    base = admin.admin_base  # type: ignore[attr-defined]
    for target in (base, hardened.server.url):  # through nginx, and straight to oTree (loopback)
        evil.page = _export_page(target.replace("http://", "ws://") + "/export")
        result = _read_export(admin, f"{evil.origin}/evil.html")
        assert result["closed"] and not result["opened"] and not result["messages"], (target, result)
    # the admin's own pages still use their websockets: the same script from the admin origin reads the export
    same = admin.new_page()
    same.goto(f"{base}/ExportIndex")
    same.evaluate(f"""() => {{ document.body.innerHTML = ''; const s = document.createElement('script');
        s.textContent = {json.dumps(_export_page(base.replace('http://', 'ws://') + '/export')
                                     .split('<script>')[1].split('</script>')[0])}; document.body.appendChild(s); }}""")
    deadline = time.monotonic() + 10  # polled: wait_for_function would need eval, which the CSP forbids
    while not same.evaluate("() => window.result.messages.length") and time.monotonic() < deadline:
        same.wait_for_timeout(100)
    assert same.evaluate("() => window.result.messages.length"), "the admin's own export socket must still work"
    same.close()


def test_static_traversal_to_a_sibling_folder_is_refused(hardened: Hardened, front: str) -> None:
    """#7: Starlette 0.14's static handler (CVE-2023-29159) served _static's sibling folders."""
    for path in ("/static/..%2f_static_x/secret.txt", "/static/..%2F_static_x/secret.txt",
                 "/static/%2e%2e/_static_x/secret.txt", "/static/..%5c_static_x/secret.txt"):
        for base in (front, hardened.server.url):
            r = raw_get(base, path)
            assert r.status in (400, 404) and SECRET_TEXT not in r.text, (base, path, r.status)
    assert raw_get(front, "/static/favicon.ico").status == 200  # the real static files still work


def test_nginx_itself_refuses_traversal(evil: Evil) -> None:
    """#7, nginx alone: in front of an upstream that answers everything (the counting ``evil`` server, no gate),
    nginx refuses encoded and literal dot segments and backslashes itself. The template's regex once had dead
    branches (nginx turns a quoted "\\\\" into one backslash before PCRE sees it): "/static/../x" and the
    backslash variants went through to the upstream."""
    with Nginx(upstream_port=evil.port, static={}) as ng:
        for path in ("/static/..%2f_static_x/secret.txt", "/static/%2E%2E/_static_x/secret.txt",
                     "/static/../_static_x/secret.txt", "/static/./x", "/static/..",
                     "/static/..\\_static_x/secret.txt", "/static\\..\\_static_x\\secret.txt"):
            assert raw_get(ng.url, path).status == 400, path
        assert evil.hits == []
        for path in ("/static/favicon.ico", "/p/abc/study/Consent/1?next=/../x", "/a|b", "/.well-known/x"):
            assert raw_get(ng.url, path).status == 200, path
        assert len(evil.hits) == 4, evil.hits


def test_admin_pages_work_under_the_csp(hardened: Hardened, admin: BrowserContext) -> None:
    """Measured: oTree's admin pages need inline scripts and inline event handlers ('unsafe-inline'), but neither
    eval nor any foreign origin; none of them reports a CSP violation under the policy nginx sends."""
    code = hardened.session(1, room="lab")["code"]
    base = admin.admin_base  # type: ignore[attr-defined]
    page = admin.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{page.url}: {m.text}"))
    for path in ("/sessions", "/create_session", "/rooms", "/room_with_session/lab", "/ExportIndex", "/demo",
                 f"/SessionStartLinks/{code}", f"/SessionData/{code}", f"/AdminReport/{code}",
                 f"/SessionDescription/{code}", f"/SessionEditProperties/{code}"):
        resp = page.goto(base + path)
        assert resp is not None and resp.status == 200, path
        assert "default-src 'self'" in resp.headers.get("content-security-policy", ""), path
        page.wait_for_timeout(100)
    assert not [m for m in console if "Content Security Policy" in m], console


def test_admin_pages_carry_a_csp_without_foreign_origins(front: str) -> None:
    r = raw_get(front, "/login")
    csp = r.headers.get("content-security-policy", "")
    assert "default-src 'self'" in csp and "object-src 'none'" in csp and "http" not in csp
    assert "content-security-policy" not in raw_get(front, "/static/favicon.ico").headers
    assert ADMIN_PASSWORD not in r.text
