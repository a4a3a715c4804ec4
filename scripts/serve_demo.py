"""Serve the demo study: oTree's devserver on localhost, one demo session, the links printed. Ctrl-C stops it.

Run by scripts/demo.sh (which builds the bundle first and sets STUDY_BUNDLE and OTREE_REST_KEY).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from deploy.launcher import port_in_use

ROOT = Path(__file__).resolve().parent.parent


def wait_for_server(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"demo: the oTree server exited with code {proc.returncode} (see its output above)")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"demo: the oTree server did not answer on {url} within {timeout:.0f} s")


def create_session(base: str, rest_key: str, participants: int) -> dict[str, str]:
    body = json.dumps({"session_config_name": "demo", "num_participants": participants}).encode()
    req = urllib.request.Request(f"{base}/api/sessions", data=body, method="POST",
                                 headers={"otree-rest-key": rest_key, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as e:
        lines = [line.strip() for line in e.read().decode(errors="replace").splitlines() if line.strip()]
        reason = lines[-1] if lines else f"HTTP {e.code}"  # oTree answers with a traceback: its last line says why
        raise SystemExit(f"demo: creating the session failed: {reason}") from None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--participants", type=int, default=4)
    args = ap.parse_args()
    env = dict(os.environ)
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    rest_key = env.setdefault("OTREE_REST_KEY", "demo-rest-key")
    base = f"http://localhost:{args.port}"
    if port_in_use("127.0.0.1", args.port):
        print(f"demo: port {args.port} is already in use (another demo or server?): stop it, or run with "
              f"PORT=<free port> scripts/demo.sh", file=sys.stderr)
        return 2
    proc = subprocess.Popen(["otree", "devserver", str(args.port)], cwd=ROOT, env=env, start_new_session=True)

    def stop(*_: object) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
    try:
        wait_for_server(base + "/", proc)
        session = create_session(base, rest_key, args.participants)
        print(f"""
==================================================================================================
 Demo study is live on {base} (oTree devserver: SQLite held in memory, written to ./db.sqlite3 only
 when the server stops cleanly with Ctrl-C; a crash or kill -9 loses every answer since the start. Never collect
 real data with it: docs/experimenter.md).

 Participant link (open in a browser; each visit is a new participant, {args.participants} in this session):
     {session['session_wide_url']}
 Admin (monitor, data, sessions):
     {session['admin_url']}
 Export in the browser: {base}/ExportIndex (the admin's "Data" tab) -> "study_app: custom_export"
     is the responses export (the contract's columns)
 Export from the command line:
     curl -s -H "otree-rest-key: {rest_key}" "{base}/api/export_app_custom?app=study_app" > responses.csv
 Analyse it:
     .venv/bin/python -m analysis report --bundle {os.environ.get('STUDY_BUNDLE', 'demo_bundle')} \\
         --responses responses.csv --out report
 Stop with Ctrl-C.
==================================================================================================
""", flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        print("\ndemo: stopping the server ...", flush=True)
        return 0
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main())
