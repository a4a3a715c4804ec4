"""``python -m provenance init | append | checkpoint | export | verify | prove | consistency | witness | tiles``.

Exit codes: 0 success; 1 the log or export is wrong (one line names what); 2 a mistake in the command line or its
inputs; 3 a witness or verifier refused a rollback or a split view.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from contracts.cli import OneLineParser, add_commands
from provenance.c2pa_credentials import CredentialError
from provenance.timestamp import TimestampError
from provenance.log import Log, LogError, export, init_log, read_entries_file
from provenance.merkle import ProofError
from provenance.note import b64
from provenance.verify import VerifyError, consistency, find_image, inclusion, verify_export, witness, witness_init


def make_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m provenance", description="An append-only, signed, witnessed log of generations.")
    sub = add_commands(p)
    s = sub.add_parser("init", help="create a log, its Ed25519 key (LOG/key, mode 0600) and verifier key (LOG/vkey)")
    s.add_argument("log", type=Path, metavar="LOG")
    s.add_argument("--origin", required=True, help="the log's name in checkpoints, e.g. example.com/my-model-log")
    s.add_argument("--key-name", default=None, help="the signing key's name (default: the origin)")
    s.add_argument("--db", default="sqlite", help="sqlite (LOG/log.sqlite) or a postgresql:// URL")
    s = sub.add_parser("append", help="append the entry objects of a JSONL file (one durable batch)")
    s.add_argument("log", type=Path, metavar="LOG")
    s.add_argument("--entries", required=True, type=Path, metavar="FILE.jsonl")
    s = sub.add_parser("checkpoint", help="sign and store a checkpoint of the current size, print it")
    s.add_argument("log", type=Path, metavar="LOG")
    s = sub.add_parser("export", help="write entries.jsonl, checkpoint and vkey (what you publish)")
    s.add_argument("log", type=Path, metavar="LOG")
    s.add_argument("--out", required=True, type=Path)
    s = sub.add_parser("verify", help="recompute the root of an export and check its signature(s)")
    s.add_argument("dir", type=Path, metavar="DIR")
    s.add_argument("--vkey", type=Path, default=None,
                   help="the log's verifier key as you obtained it independently (default: DIR/vkey, which only "
                        "shows the export is self-consistent)")
    s.add_argument("--previous", type=Path, default=None, metavar="CHECKPOINT",
                   help="a checkpoint of this log seen earlier: the export must extend it")
    s.add_argument("--witness", type=Path, action="append", default=[], metavar="VKEY",
                   help="require a valid cosignature by this witness key (repeatable)")
    s.add_argument("--tsa-root", type=Path, default=None, metavar="ROOT.pem",
                   help="★ require DIR/checkpoint.tsr, an RFC 3161 timestamp of the checkpoint by a TSA under this root")
    s = sub.add_parser("prove", help="inclusion proof (JSON) of an entry against DIR's checkpoint")
    s.add_argument("dir", type=Path, metavar="DIR")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--index", type=int)
    g.add_argument("--image", type=Path, metavar="IMG", help="find the entry by the image's pixel hash")
    s.add_argument("--vkey", type=Path, default=None)
    s = sub.add_parser("consistency", help="consistency proof (JSON) from an older checkpoint to DIR's")
    s.add_argument("dir", type=Path, metavar="DIR")
    s.add_argument("--old", required=True, type=Path, metavar="CHECKPOINT_FILE")
    s.add_argument("--vkey", type=Path, default=None)
    s = sub.add_parser("witness", help="cosign DIR's checkpoint if it extends the last one cosigned (adds the line "
                                       "to DIR/checkpoint); refuses rollbacks and split views")
    s.add_argument("state", type=Path, metavar="STATE")
    s.add_argument("dir", type=Path, metavar="DIR")
    s.add_argument("--init", metavar="NAME", default=None,
                   help="first create a witness named NAME (key STATE/key, mode 0600; verifier key STATE/vkey)")
    s.add_argument("--no-write", action="store_true", help="print the cosigned checkpoint, leave DIR as it is")
    s = sub.add_parser("timestamp", help="★ RFC 3161: have a timestamp authority sign the time of DIR's checkpoint "
                                         "(DIR/checkpoint.tsr)")
    s.add_argument("dir", type=Path, metavar="DIR")
    s.add_argument("--tsa", required=True, metavar="URL", help="the timestamp authority's URL (HTTP POST)")
    s = sub.add_parser("keygen-c2pa", help="make a test CA and a C2PA signer certificate + key (keys mode 0600)")
    s.add_argument("dir", type=Path, metavar="DIR")
    s = sub.add_parser("inspect", help="show an image's C2PA manifest, its validation and its log inclusion")
    s.add_argument("image", type=Path, metavar="IMG")
    s.add_argument("--trust-anchor", type=Path, default=None, metavar="CA.pem",
                   help="trust this CA (otherwise a valid signature is reported as untrusted)")
    s.add_argument("--log", type=Path, default=None, metavar="DIR", help="an export: look the image's pixels up in it")
    s.add_argument("--vkey", type=Path, default=None)
    s = sub.add_parser("verify-tiles", help="a monitor: fetch a tiled mirror (URL or directory), check every tile, "
                                            "entry and the signature, recompute the root")
    s.add_argument("source", metavar="URL_OR_DIR")
    s.add_argument("--vkey", type=Path, required=True, help="the log's verifier key, obtained independently")
    s = sub.add_parser("tiles", help="write the C2SP tlog-tiles static layout of the log")
    s.add_argument("log", type=Path, metavar="LOG")
    s.add_argument("--out", required=True, type=Path)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        return _run(args)
    except (LogError, VerifyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except (CredentialError, TimestampError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except ProofError as e:  # a proof we made did not verify: the stored data is inconsistent
        print(f"error: {e}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    c = args.command
    if c == "init":
        log = init_log(args.log, origin=args.origin, key_name=args.key_name, db=args.db)
        print(f"log created: {args.log} (origin {log.origin}); verifier key: {log.signer.verifier.vkey()}")
        log.close()
        return 0
    if c == "witness":
        return _witness(args)
    if c in ("keygen-c2pa", "inspect"):
        return _c2pa_command(args)
    if c == "verify-tiles":
        from provenance.tiles import http_fetcher, read_tiles
        from provenance.verify import load_verifier

        src = args.source
        fetch = http_fetcher(src) if src.startswith(("http://", "https://")) else _file_fetcher(Path(src))
        sc, _, _ = read_tiles(fetch, load_verifier(args.vkey))
        cp = sc.checkpoint
        print(f"OK: {cp.origin}: {cp.size} entries from the tiles at {src}, root {b64(cp.root)}")
        return 0
    if c == "timestamp":
        from provenance.timestamp import stamp_export

        verify_export(args.dir)
        t = stamp_export(args.dir, args.tsa)
        print(f"timestamped: {args.dir}/checkpoint.tsr, time {t.isoformat()} by {args.tsa}")
        return 0
    if c in ("append", "checkpoint", "export", "tiles"):
        entries = read_entries_file(args.entries) if c == "append" else None  # checked before the log is opened
        with Log.open(args.log) as log:
            if c == "append":
                assert entries is not None
                idx = log.append(entries)
                print(f"appended {len(idx)} entries; log size {log.size} (sign it: python -m provenance checkpoint)")
            elif c == "checkpoint":
                print(log.checkpoint().render(), end="")
            elif c == "export":
                sc = export(log, args.out)
                print(f"exported {sc.checkpoint.size} entries to {args.out} (entries.jsonl, checkpoint, vkey)")
            else:
                from provenance.tiles import write_tiles

                n = write_tiles(log, args.out)
                print(f"tiles of size {log.size} in {args.out}: {n['tiles']} tiles and {n['entry_bundles']} "
                      "entry bundles written")
        return 0
    if c == "verify":
        v = verify_export(args.dir, vkey=args.vkey, previous=args.previous, witnesses=tuple(args.witness))
        cp = v.checkpoint.checkpoint
        extra = f"; extends {args.previous}" if args.previous else ""
        extra += f"; cosigned by {len(args.witness)} witness(es)" if args.witness else ""
        if args.tsa_root is not None:
            from provenance.timestamp import TSR_FILE, verify_timestamp

            tsr = args.dir / TSR_FILE
            if not tsr.is_file():
                raise VerifyError(f"{tsr}: missing (no RFC 3161 timestamp; make one with `timestamp DIR --tsa URL`)")
            t = verify_timestamp(tsr.read_bytes(), v.checkpoint.note.text.encode("utf-8"), args.tsa_root.read_bytes())
            extra += f"; timestamped {t.isoformat()}"
        key = (" (key from the export itself: pass --vkey with the key you obtained independently)"
               if v.vkey_from_export else "")
        print(f"OK: {cp.origin}: {cp.size} entries, root {b64(cp.root)}, signed by {v.verifier.name}{extra}{key}")
        return 0
    if c == "prove":
        v = verify_export(args.dir, vkey=args.vkey)
        if args.image is not None:
            from provenance.entry import image_pixel_hash

            try:
                digest, _ = image_pixel_hash(str(args.image))
            except (OSError, ValueError) as e:
                raise VerifyError(f"{args.image}: unreadable image ({type(e).__name__})", exit_code=2) from None
            found = find_image(v, digest)
            if not found:
                print(f"not in the log: no entry has the pixel hash {digest} of {args.image}", file=sys.stderr)
                return 1
            index = found[0]
        else:
            index = args.index
        print(json.dumps(inclusion(v, index)))
        return 0
    if c == "consistency":
        v = verify_export(args.dir, vkey=args.vkey)
        print(json.dumps(consistency(v, args.old)))
        return 0
    raise AssertionError(c)


def _witness(args: argparse.Namespace) -> int:
    if args.init is not None:
        vk = witness_init(args.state, args.init)
        print(f"witness created in {args.state}; its verifier key: {vk.vkey()}")
    cosigned, line = witness(args.state, args.dir)
    if args.no_write:
        print(cosigned.render(), end="")
    else:
        from contracts.atomic import atomic_write_text

        atomic_write_text(args.dir / "checkpoint", cosigned.render())
        cp = cosigned.checkpoint
        print(f"cosigned {cp.origin} size {cp.size}: {line.rstrip()}")
    return 0


def _c2pa_command(args: argparse.Namespace) -> int:
    from provenance.c2pa_credentials import describe, make_test_ca, read_credentials

    if args.command == "keygen-c2pa":
        p = make_test_ca(args.dir)
        print(f"test CA {p['ca']}; signer certificate chain {p['cert']} and key {p['key']} (mode 0600): "
              f"generate --c2pa-cert {p['cert']} --c2pa-key {p['key']}; verifiers trust it with "
              f"--trust-anchor {p['ca']}")
        return 0
    try:
        data = args.image.read_bytes()
    except OSError as e:
        raise VerifyError(f"{args.image}: unreadable ({type(e).__name__})", exit_code=2) from None
    anchor = args.trust_anchor.read_bytes() if args.trust_anchor is not None else None
    rc, lines = describe(read_credentials(data, trust_anchor=anchor), trusted_anchor=anchor is not None)
    for line in lines:
        print(line)
    if args.log is not None:
        from provenance.entry import image_pixel_hash

        v = verify_export(args.log, vkey=args.vkey)
        digest, _ = image_pixel_hash(str(args.image))
        found = find_image(v, digest)
        cp = v.checkpoint.checkpoint
        if found:
            inclusion(v, found[0])
            print(f"log: its pixels are entry #{found[0]} of {cp.origin} (size {cp.size}); inclusion proof verified")
        else:
            print(f"log: its pixels are NOT in {cp.origin} (size {cp.size})")
            rc = 1
    return rc


def _file_fetcher(root: Path) -> Callable[[str], bytes]:
    def fetch(path: str) -> bytes:
        try:
            return (root / path).read_bytes()
        except OSError as e:
            raise LogError(f"{root / path}: {type(e).__name__}") from None
    return fetch
