"""The log: append-only storage, durable batches, keys, proofs from an export, tiles, PostgreSQL."""

from __future__ import annotations

import base64
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from provenance.cli import main
from provenance.entry import canonical_json, image_pixel_hash
from provenance.log import Log, LogError, export, init_log
from provenance.merkle import leaf_hash, verify_consistency, verify_inclusion
from provenance.note import parse_checkpoint
from provenance.tiles import tile_index_path, write_tiles
from provenance.verify import verify_export
from tests.provenance.helpers import entry, make_export, make_log

ROOT = Path(__file__).resolve().parents[2]


def test_sqlite_triggers_refuse_update_and_delete(tmp_path: Path) -> None:
    make_log(tmp_path / "log", 3).close()
    db = sqlite3.connect(tmp_path / "log" / "log.sqlite")
    for sql in ("UPDATE entries SET leaf = x'00' WHERE idx = 1", "DELETE FROM entries WHERE idx = 2",
                "DELETE FROM entries", "UPDATE checkpoints SET note = 'x'", "DELETE FROM checkpoints"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only log"):
            db.execute(sql)
    assert db.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 3


def test_a_batch_with_one_bad_entry_appends_nothing(tmp_path: Path) -> None:
    log = make_log(tmp_path / "log", 2)
    bad = entry(5)
    bad["time"] = "2026-12-02 11:00:00"
    with pytest.raises(LogError, match="entry 2 of the batch: entry time"):
        log.append([entry(4), bad, entry(6)])
    assert log.size == 2 and Log.open(tmp_path / "log").size == 2


def test_key_is_private_and_never_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path / "log"), "--origin", "example.com/l"]) == 0
    out = capsys.readouterr().out
    key = (tmp_path / "log" / "key").read_text()
    assert (tmp_path / "log" / "key").stat().st_mode & 0o777 == 0o600
    # PRIVATE+KEY+<name>+<key hash>+<base64 key> (the base64 itself may contain '+')
    secret = key.strip().split("+", 4)[4]
    assert len(secret) > 40 and secret not in out and "PRIVATE" not in out
    os.chmod(tmp_path / "log" / "key", 0o644)
    assert main(["checkpoint", str(tmp_path / "log")]) == 1
    assert "readable by others" in capsys.readouterr().err


def test_init_refuses_a_used_directory_and_bad_origin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    assert main(["init", str(tmp_path / "used"), "--origin", "o"]) == 2
    assert main(["init", str(tmp_path / "l"), "--origin", "has space"]) == 2
    assert main(["init", str(tmp_path / "l2"), "--origin", "o", "--db", "mysql://x"]) == 2
    assert not (tmp_path / "l").exists() and not (tmp_path / "l2").exists()  # nothing half-made
    assert len(capsys.readouterr().err.strip().splitlines()) == 3


def test_append_cli_validates_the_whole_file_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_log(tmp_path / "log", 0).close()
    f = tmp_path / "e.jsonl"
    f.write_text(json.dumps(entry(0)) + "\n" + json.dumps({**entry(1), "extra": 1}) + "\n")
    assert main(["append", str(tmp_path / "log"), "--entries", str(f)]) == 2
    assert "line 2: entry keys: missing [], unexpected ['extra']" in capsys.readouterr().err
    assert Log.open(tmp_path / "log").size == 0


def test_appends_survive_kill_9_whole_batches_only(tmp_path: Path) -> None:
    """A writer killed mid-run leaves only whole batches, and every acknowledged batch is there."""
    make_log(tmp_path / "log", 0).close()
    script = (
        "import sys\n"
        "from provenance.log import Log\n"
        "from tests.provenance.helpers import entry\n"
        "log = Log.open(sys.argv[1])\n"
        "for b in range(10**6):\n"
        "    log.append([entry(b * 100 + i) for i in range(100)])\n"
        "    print(log.size, flush=True)\n")
    p = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "log")], stdout=subprocess.PIPE, text=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.stdout is not None
    acked = 0
    deadline = time.monotonic() + 60
    while acked < 500 and time.monotonic() < deadline:
        acked = int(p.stdout.readline())
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    log = Log.open(tmp_path / "log")
    assert log.size >= acked and log.size % 100 == 0
    export(log, tmp_path / "exp")
    assert verify_export(tmp_path / "exp").checkpoint.checkpoint.size == log.size


def test_two_writers_interleave_into_one_history(tmp_path: Path) -> None:
    a = make_log(tmp_path / "log", 0)
    b = Log.open(tmp_path / "log")
    assert a.append([entry(0), entry(1)]) == [0, 1]
    assert b.append([entry(2)]) == [2]
    assert a.append([entry(3)]) == [3]
    assert a.checkpoint().checkpoint.root == b.checkpoint().checkpoint.root
    export(b, tmp_path / "exp")
    assert verify_export(tmp_path / "exp").checkpoint.checkpoint.size == 4


def test_prove_and_consistency_cli_verify_independently(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = make_log(tmp_path / "log", 0)
    img = Image.new("RGB", (5, 3), (10, 20, 30))
    img.putpixel((1, 2), (200, 0, 7))
    img.save(tmp_path / "img.png")
    digest, size = image_pixel_hash(str(tmp_path / "img.png"))
    assert size == [3, 5]
    log.append([entry(0), {**entry(1), "image_sha256": digest, "size": size}, entry(2)])
    export(log, tmp_path / "e1")
    log.append([entry(i) for i in range(3, 11)])
    export(log, tmp_path / "e2")
    assert main(["prove", str(tmp_path / "e2"), "--image", str(tmp_path / "img.png")]) == 0
    p = json.loads(capsys.readouterr().out)
    cp = parse_checkpoint((tmp_path / "e2" / "checkpoint").read_text()).checkpoint
    leaf = (tmp_path / "e2" / "entries.jsonl").read_bytes().splitlines()[1]
    assert p["index"] == 1 and p["size"] == 11 and base64.b64decode(p["leaf_hash"]) == leaf_hash(leaf)
    verify_inclusion(1, 11, leaf_hash(leaf), [base64.b64decode(x) for x in p["path"]], cp.root)
    assert main(["consistency", str(tmp_path / "e2"), "--old", str(tmp_path / "e1" / "checkpoint")]) == 0
    c = json.loads(capsys.readouterr().out)
    old = parse_checkpoint((tmp_path / "e1" / "checkpoint").read_text()).checkpoint
    verify_consistency(c["old_size"], c["new_size"], old.root, cp.root, [base64.b64decode(x) for x in c["path"]])
    Image.new("RGB", (5, 3)).save(tmp_path / "other.png")
    assert main(["prove", str(tmp_path / "e2"), "--image", str(tmp_path / "other.png")]) == 1
    assert "not in the log" in capsys.readouterr().err


def test_export_is_exactly_the_format(tmp_path: Path) -> None:
    log, d = make_export(tmp_path, 3)
    assert (d / "entries.jsonl").read_bytes() == b"".join(canonical_json(entry(i)) + b"\n" for i in range(3))
    assert (d / "vkey").read_text() == log.signer.verifier.vkey() + "\n"
    text = (d / "checkpoint").read_text()
    assert text.split("\n")[:2] == ["example.com/test-log", "3"] and "\n\n\u2014 example.com/test-log " in text


def _tile_hashes(root: Path, level: int, count: int) -> list[bytes]:
    """An independent tile reader: the ``count`` hashes of a level, from full and partial tile files."""
    out: list[bytes] = []
    for n in range((count + 255) // 256):
        w = min(256, count - 256 * n)
        name = f"tile/{level}/{tile_index_path(n)}" + ("" if w == 256 else f".p/{w}")
        data = (root / name).read_bytes()
        assert len(data) == 32 * w
        out += [data[i:i + 32] for i in range(0, len(data), 32)]
    return out


def test_tiles_rebuild_the_checkpoint_root(tmp_path: Path) -> None:
    assert tile_index_path(1234067) == "x001/x234/067" and tile_index_path(5) == "005"
    log = make_log(tmp_path / "log", 600)
    write_tiles(log, tmp_path / "t")
    cp = parse_checkpoint((tmp_path / "t" / "checkpoint").read_text()).checkpoint
    assert cp.size == 600
    level0 = _tile_hashes(tmp_path / "t", 0, 600)
    level1 = _tile_hashes(tmp_path / "t", 1, 2)
    assert not (tmp_path / "t" / "tile" / "2").exists()
    from tests.provenance.test_merkle import mth

    # level-1 hashes are the roots of the full level-0 tiles
    def mth_of_hashes(hs: list[bytes]) -> bytes:
        import hashlib
        while len(hs) > 1:
            hs = [hashlib.sha256(b"\x01" + hs[i] + hs[i + 1]).digest() for i in range(0, len(hs), 2)]
        return hs[0]
    assert level1 == [mth_of_hashes(level0[0:256]), mth_of_hashes(level0[256:512])]
    leaves: list[bytes] = []
    for n, w in ((0, 256), (1, 256), (2, 88)):
        data = (tmp_path / "t" / ("tile/entries/" + tile_index_path(n) + ("" if w == 256 else f".p/{w}"))).read_bytes()
        i = 0
        while i < len(data):
            ln = int.from_bytes(data[i:i + 2], "big")
            leaves.append(data[i + 2:i + 2 + ln])
            i += 2 + ln
    assert [leaf_hash(x) for x in leaves] == level0
    assert mth(leaves) == cp.root
    log.append([entry(i, tag="b") for i in range(20)])  # grows: full tiles kept, partials added
    written = write_tiles(log, tmp_path / "t")
    assert written["entry_bundles"] == 1 and (tmp_path / "t" / "tile/0/002.p/108").is_file()


@pytest.mark.postgres
def test_postgres_log_is_append_only_and_exports_the_same_format(tmp_path: Path) -> None:
    psycopg2 = pytest.importorskip("psycopg2")
    from harness.local import PG_BIN, Postgres

    if not (PG_BIN / "initdb").exists():
        pytest.fail(f"PostgreSQL 15 not found at {PG_BIN}: run scripts/setup.sh --system", pytrace=False)
    with Postgres() as pg:
        url = pg.create_database("provlog")
        log = init_log(tmp_path / "log", origin="example.com/pg-log", db=url)
        assert (tmp_path / "log" / "config.json").stat().st_mode & 0o777 == 0o600
        log.append([entry(i) for i in range(5)])
        other = Log.open(tmp_path / "log")
        other.append([entry(i) for i in range(5, 7)])
        export(log, tmp_path / "exp")
        v = verify_export(tmp_path / "exp")
        assert v.checkpoint.checkpoint.size == 7
        sq = make_log(tmp_path / "sq", 7)
        assert v.checkpoint.checkpoint.root == sq.root()
        conn = psycopg2.connect(url)
        conn.autocommit = True
        for sql in ("UPDATE prov_entries SET leaf = '\\x00' WHERE idx = 1", "DELETE FROM prov_entries",
                    "TRUNCATE prov_entries", "DELETE FROM prov_checkpoints"):
            with pytest.raises(psycopg2.Error, match="append-only log"), conn.cursor() as cur:
                cur.execute(sql)
        conn.close()
        log.close()
        other.close()


def test_a_tiled_mirror_behind_nginx_verifies_and_tampering_is_caught(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """The scale-out path: the tiles are plain files behind a real nginx; a monitor reads only the mirror."""
    from harness.local import NGINX, Nginx, free_port

    if not Path(NGINX).exists():
        pytest.fail(f"nginx not found at {NGINX}: run scripts/setup.sh --system", pytrace=False)
    log = make_log(tmp_path / "log", 300)
    write_tiles(log, tmp_path / "mirror")
    vkey = str(tmp_path / "log" / "vkey")
    with Nginx(upstream_port=free_port(), static={"/mirror/": tmp_path / "mirror"}) as nginx:
        assert main(["verify-tiles", f"{nginx.url}/mirror/", "--vkey", vkey]) == 0
        assert capsys.readouterr().out.startswith("OK: example.com/test-log: 300 entries from the tiles")
        bundle = tmp_path / "mirror" / "tile" / "entries" / "001.p" / "44"
        data = bytearray(bundle.read_bytes())
        data[-5] ^= 1  # one byte of the last entry
        bundle.write_bytes(bytes(data))
        assert main(["verify-tiles", f"{nginx.url}/mirror/", "--vkey", vkey]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "entry 299" in err[0]
    log.append([entry(i, tag="x") for i in range(3)])
    write_tiles(log, tmp_path / "fresh")
    (tmp_path / "fresh" / "tile" / "1" / "000.p" / "1").write_bytes(bytes(32))
    assert main(["verify-tiles", str(tmp_path / "fresh"), "--vkey", vkey]) == 1
    assert "tile/1/000.p/1 does not match the tiles below it" in capsys.readouterr().err
