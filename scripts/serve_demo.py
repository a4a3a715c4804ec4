"""Serve the demo study: oTree's devserver on localhost, one demo session, the links printed. Ctrl-C stops it.

Run by scripts/demo.sh (which builds the bundle first and sets STUDY_BUNDLE and OTREE_REST_KEY).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from contracts.cli import int_range, make_parser
from deploy.launcher import port_in_use, stop_group
from harness.local import LocalServerError, RestApi, RestError, create_session, wait_for_port

ROOT = Path(__file__).resolve().parent.parent


EXPORT_PAGE = "/ExportIndex"   # the admin's "Data" tab (tests/security: oTree serves it)


def banner(base: str, session: dict[str, str], *, rest_key: str, participants: int, bundle: str) -> str:
    """What the demo prints once its session is live: the links, the exports and the analysis command."""
    return f"""
==================================================================================================
 Demo study is live on {base} (oTree devserver: SQLite held in memory, written to ./db.sqlite3 only
 when the server stops cleanly with Ctrl-C; a crash or kill -9 loses every answer since the start. Never collect
 real data with it: docs/experimenter.md).

 Participant link (open in a browser; each visit is a new participant, {participants} in this session):
     {session['session_wide_url']}
 Admin (monitor, data, sessions):
     {session['admin_url']}
 Export in the browser: {base}{EXPORT_PAGE} (the admin's "Data" tab) -> "study_app: custom_export"
     is the responses export (the contract's columns)
 Export from the command line:
     curl -s -H "otree-rest-key: {rest_key}" "{base}/api/export_app_custom?app=study_app" > responses.csv
     curl -s -H "otree-rest-key: {rest_key}" \\
         "{base}/api/export_app_custom?app=study_app&function_name=custom_export_trials" > trials.csv
 Analyse it (the trial export tells the practice targets apart: without it they count as images with 0 votes):
     .venv/bin/python -m analysis report --bundle {bundle} \\
         --responses responses.csv --trials trials.csv --out report
 Stop with Ctrl-C.
==================================================================================================
"""


def main() -> int:
    ap = make_parser("scripts/serve_demo.py", __doc__)
    ap.add_argument("--port", type=int_range(1, 65535), default=8000, help="the devserver's port on localhost")
    ap.add_argument("--participants", type=int_range(1), default=4, help="places in the demo session")
    args = ap.parse_args()
    env = dict(os.environ)
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    rest_key = env.setdefault("OTREE_REST_KEY", "demo-rest-key")
    base = f"http://localhost:{args.port}"
    api = RestApi(base, rest_key)
    if port_in_use("127.0.0.1", args.port):
        print(f"demo: port {args.port} is already in use (another demo or server?): stop it, or run with "
              f"PORT=<free port> scripts/demo.sh", file=sys.stderr)
        return 2
    proc = subprocess.Popen(["otree", "devserver", str(args.port)], cwd=ROOT, env=env, start_new_session=True)

    def stop() -> None:
        if proc.poll() is None:
            stop_group(proc)

    # SIGTERM ends main() through its `finally` (the handler itself must not wait for the server: the main thread is
    # inside proc.wait(), which holds the lock any other wait on it needs)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        try:
            wait_for_port(args.port, timeout_s=60, proc=proc, what="the oTree server")
            session = create_session(api, config="demo", participants=args.participants)
        except RestError as e:
            raise SystemExit(f"demo: creating the session failed: {e.reason}") from None
        except LocalServerError as e:
            raise SystemExit(f"demo: {str(e).strip()} (see its output above)") from None
        print(banner(base, session, rest_key=rest_key, participants=args.participants,
                     bundle=os.environ.get("STUDY_BUNDLE", "demo_bundle")), flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        print("\ndemo: stopping the server ...", flush=True)
        return 0
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main())
