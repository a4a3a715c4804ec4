"""Render deploy/nginx.conf.template: nginx serves static directories (stimulus images, oTree's static files) and
proxies the rest, websockets included, to the oTree server.

    python -m deploy.nginx --listen 80 --upstream 127.0.0.1:8000 --prefix /srv/study \\
        --public-origin https://study.example.org \\
        --static /study_images/=/srv/study/bundle/images --user www-data > /srv/study/nginx.conf

Room and ``/join/`` entries are limited per client address to ``--entry-rate`` a minute after a burst of
``--entry-burst`` (:data:`ENTRY_RATE`, :data:`ENTRY_BURST`); raise both for a lab whose computers share one address.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
import re

from contracts.cli import make_parser

TEMPLATE = Path(__file__).with_name("nginx.conf.template")
DEBIAN_MIME_TYPES = "/etc/nginx/mime.types"
_PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)\}")
ENTRY_RATE = 10    # /room/ and /join/ requests a minute per client address (nginx limit_req rate)
ENTRY_BURST = 3    # requests over the rate accepted at once (a participant needs at most 3)


def static_location(url_prefix: str, directory: Path) -> str:
    if not (url_prefix.startswith("/") and url_prefix.endswith("/")):
        raise ValueError(f"static URL prefix {url_prefix!r} must start and end with '/', e.g. /study_images/")
    return (f"        location {url_prefix} {{\n"
            f"            alias {directory.resolve()}/;\n"
            f"            expires 1y;\n"
            f"            add_header Cache-Control \"public, immutable\";\n"
            f"            access_log off;\n"
            f"            try_files $uri =404;\n"
            f"        }}\n")


PROXY = """            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
"""
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def check_origin(origin: str) -> str:
    """The public origin as browsers send it in ``Origin``: scheme://host[:port], no path, no trailing slash."""
    if not _ORIGIN.fullmatch(origin):
        raise ValueError(f"--public-origin {origin!r} must be scheme://host[:port] exactly as in the browser's "
                         "address bar, e.g. https://study.example.org (no path, no trailing slash)")
    return origin


def render(*, listen: str, upstream: str, prefix: Path, static: Mapping[str, Path], public_origin: str,
           user: str | None = None, workers: int | str = "auto", access_log: bool = False,
           mime_types: str = DEBIAN_MIME_TYPES, entry_rate: int = ENTRY_RATE, entry_burst: int = ENTRY_BURST) -> str:
    """The nginx.conf text. ``static`` maps URL prefixes ("/study_images/") to directories served from disk;
    ``public_origin`` is the only Origin allowed to open admin websockets; ``entry_rate`` (a minute) and
    ``entry_burst`` limit room and ``/join/`` requests per client address."""
    if entry_rate < 1 or entry_burst < 0:
        raise ValueError(f"--entry-rate must be >= 1 and --entry-burst >= 0, got {entry_rate} and {entry_burst}")
    locations = "".join(static_location(u, d) for u, d in static.items())
    values = dict(
        USER_LINE=f"user {user};" if user else "# (no user line: nginx keeps the user that started it)",
        WORKERS=str(workers), PREFIX=str(prefix), MIME_TYPES=mime_types,
        ACCESS_LOG=f"{prefix}/access.log" if access_log else "off",
        UPSTREAM=upstream, LISTEN=listen, STATIC_LOCATIONS=locations, PROXY=PROXY,
        PUBLIC_ORIGIN=check_origin(public_origin), ENTRY_RATE=str(entry_rate), ENTRY_BURST=str(entry_burst))
    # ${NAME} (upper case) are ours; nginx's own $variables pass through untouched.
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], TEMPLATE.read_text(encoding="utf-8"))


def _parse_static(items: list[str]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for item in items:
        url, sep, directory = item.partition("=")
        if not sep:
            raise ValueError(f"--static {item!r} must be URL_PREFIX=DIRECTORY, e.g. /study_images/=/srv/bundle/images")
        if not Path(directory).is_dir():
            raise ValueError(f"--static {item!r}: {directory} is not a directory")
        out[url] = Path(directory)
    return out


def main(argv: list[str] | None = None) -> int:
    p = make_parser("python -m deploy.nginx", "Render the study's nginx.conf to stdout")
    p.add_argument("--listen", default="80", help="nginx listen directive, e.g. 80 or 127.0.0.1:8080")
    p.add_argument("--upstream", default="127.0.0.1:8000", help="host:port of the oTree server")
    p.add_argument("--prefix", type=Path, required=True, help="directory for nginx's pid, logs and temp files")
    p.add_argument("--static", action="append", default=[], metavar="URL_PREFIX=DIR",
                   help="serve DIR at URL_PREFIX (repeatable)")
    p.add_argument("--public-origin", required=True,
                   help="the study's address as participants and the admin open it, e.g. https://study.example.org "
                        "(admin websockets from any other origin are refused)")
    p.add_argument("--user", default=None, help="user for worker processes (www-data on Debian)")
    p.add_argument("--access-log", action="store_true", help="write an access log under --prefix")
    p.add_argument("--entry-rate", type=int, default=ENTRY_RATE,
                   help="room and /join/ requests a minute per client address (raise for a lab behind one address)")
    p.add_argument("--entry-burst", type=int, default=ENTRY_BURST,
                   help="room and /join/ requests over the rate accepted at once per client address")
    args = p.parse_args(argv)
    try:
        text = render(listen=args.listen, upstream=args.upstream, prefix=args.prefix.resolve(),
                      static=_parse_static(args.static), public_origin=args.public_origin, user=args.user, access_log=args.access_log,
                      entry_rate=args.entry_rate, entry_burst=args.entry_burst)
    except ValueError as e:
        print(f"deploy.nginx: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
