"""The C2SP tlog-tiles static layout of a log: ``checkpoint``, ``tile/<L>/<N>[.p/<W>]`` and
``tile/entries/<N>[.p/<W>]`` as plain files, so a public mirror is a static web server or a CDN.

A tile at level L holds up to 256 consecutive hashes of complete subtrees of 256**L leaves (level 0: leaf hashes);
a partial tile (width W < 256) exists only at the right edge. An entry bundle holds the leaves of the matching
level-0 tile, each prefixed by its length as a big-endian uint16. Full tiles are immutable: one already on disk is
kept if identical and is an error if not (the log would have changed its history).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from contracts.atomic import atomic_write_bytes, atomic_write_text
from provenance.log import Log, LogError
from provenance.merkle import HASH_SIZE, TreeHashes
from provenance.note import SignedCheckpoint, Verifier

TILE_WIDTH = 256
TILE_HEIGHT = 8


def tile_index_path(n: int) -> str:
    """1234067 -> ``x001/x234/067``."""
    groups = []
    while True:
        groups.append(n % 1000)
        n //= 1000
        if n == 0:
            break
    groups.reverse()
    return "/".join([f"x{g:03d}" for g in groups[:-1]] + [f"{groups[-1]:03d}"])


def tile_path(level: int | str, n: int, width: int = TILE_WIDTH) -> str:
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/{level}/{tile_index_path(n)}{suffix}"


def tile_hashes(tree: TreeHashes, level: int, size: int) -> bytes:
    """The concatenated hashes at tile level ``level`` for a tree of ``size`` leaves (complete subtrees only)."""
    k = level * TILE_HEIGHT
    count = size >> k
    if k >= len(tree.levels):
        return b""
    return bytes(tree.levels[k][:count * HASH_SIZE])


def _put_immutable(path: Path, data: bytes) -> bool:
    if path.is_file():
        if path.read_bytes() != data:
            raise LogError(f"{path}: a published tile differs from the log: the log's history changed")
        return False
    atomic_write_bytes(path, data)
    return True


def write_tiles(log: Log, out: str | Path) -> dict[str, int]:
    """Write (or update) the tiles of the log's current checkpoint under ``out``; returns counts of files written."""
    out = Path(out)
    sc = log.current_checkpoint()
    size = sc.checkpoint.size
    written = {"tiles": 0, "entry_bundles": 0}
    level = 0
    while (size >> (level * TILE_HEIGHT)) > 0:
        hashes = tile_hashes(log.tree, level, size)
        count = len(hashes) // HASH_SIZE
        for n in range(0, (count + TILE_WIDTH - 1) // TILE_WIDTH):
            w = min(TILE_WIDTH, count - n * TILE_WIDTH)
            data = hashes[n * TILE_WIDTH * HASH_SIZE:(n * TILE_WIDTH + w) * HASH_SIZE]
            written["tiles"] += _put_immutable(out / tile_path(level, n, w), data)
        level += 1
    for n in range(0, (size + TILE_WIDTH - 1) // TILE_WIDTH):
        start = n * TILE_WIDTH
        leaves = log.leaves(start, min(size, start + TILE_WIDTH))
        for leaf in leaves:
            if len(leaf) >= 1 << 16:
                raise LogError(f"an entry of {len(leaf)} bytes does not fit an entry bundle (< 65536 bytes)")
        bundle = b"".join(len(leaf).to_bytes(2, "big") + leaf for leaf in leaves)
        written["entry_bundles"] += _put_immutable(out / tile_path("entries", n, len(leaves)), bundle)
    atomic_write_text(out / "vkey", log.signer.verifier.vkey() + "\n")
    atomic_write_text(out / "checkpoint", sc.render())  # last: it names a size whose tiles now all exist
    return written


def read_tiles(fetch: Callable[[str], bytes], verifier: Verifier) -> tuple[SignedCheckpoint, TreeHashes, list[bytes]]:
    """A mirror's reader (a monitor): fetch ``checkpoint`` and every tile and entry bundle it implies through
    ``fetch(path)`` (HTTP or files), check the signature, that each entry hashes to its level-0 tile hash, that the
    higher tiles match, and that the root is the checkpoint's. Raises :class:`LogError` naming the first problem."""
    from provenance.entry import EntryError, parse_leaf
    from provenance.merkle import leaf_hash
    from provenance.note import NoteError, open_checkpoint

    try:
        sc = open_checkpoint(fetch("checkpoint"), verifier)
    except NoteError as e:
        raise LogError(f"checkpoint: {e}") from None
    size = sc.checkpoint.size
    hashes: list[bytes] = []
    leaves: list[bytes] = []
    for n in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
        w = min(TILE_WIDTH, size - n * TILE_WIDTH)
        tile = fetch(tile_path(0, n, w))
        bundle = fetch(tile_path("entries", n, w))
        if len(tile) != w * HASH_SIZE:
            raise LogError(f"{tile_path(0, n, w)}: {len(tile)} bytes, expected {w * HASH_SIZE}")
        i = 0
        for k in range(w):
            if i + 2 > len(bundle):
                raise LogError(f"{tile_path('entries', n, w)}: holds fewer than {w} entries")
            ln = int.from_bytes(bundle[i:i + 2], "big")
            leaf = bundle[i + 2:i + 2 + ln]
            i += 2 + ln
            try:
                parse_leaf(leaf)
            except EntryError as e:
                raise LogError(f"entry {n * TILE_WIDTH + k}: {e}") from None
            h = tile[k * HASH_SIZE:(k + 1) * HASH_SIZE]
            if leaf_hash(leaf) != h:
                raise LogError(f"entry {n * TILE_WIDTH + k} does not hash to its level-0 tile hash")
            leaves.append(leaf)
            hashes.append(h)
        if i != len(bundle):
            raise LogError(f"{tile_path('entries', n, w)}: trailing bytes after {w} entries")
    tree = TreeHashes(hashes)
    level = 1
    while (size >> (level * TILE_HEIGHT)) > 0:
        want = tile_hashes(tree, level, size)
        count = len(want) // HASH_SIZE
        for n in range((count + TILE_WIDTH - 1) // TILE_WIDTH):
            w = min(TILE_WIDTH, count - n * TILE_WIDTH)
            if fetch(tile_path(level, n, w)) != want[n * TILE_WIDTH * HASH_SIZE:(n * TILE_WIDTH + w) * HASH_SIZE]:
                raise LogError(f"{tile_path(level, n, w)} does not match the tiles below it")
        level += 1
    if tree.root() != sc.checkpoint.root:
        raise LogError("the tiles' root is not the checkpoint's: the mirror is inconsistent or tampered with")
    return sc, tree, leaves


def http_fetcher(base_url: str, *, timeout_s: float = 30.0) -> Callable[[str], bytes]:
    import urllib.error
    import urllib.request

    base = base_url if base_url.endswith("/") else base_url + "/"

    def fetch(path: str) -> bytes:
        try:
            with urllib.request.urlopen(base + path, timeout=timeout_s) as r:
                data: bytes = r.read()
                return data
        except (urllib.error.URLError, OSError) as e:
            raise LogError(f"{base + path}: {getattr(e, 'reason', e)}") from None
    return fetch
