"""The provenance log: a directory holding its configuration, its Ed25519 key, its verifier key and (by default) its
SQLite database.

``LOG/config.json`` (origin, key name, database), ``LOG/key`` (the private key, mode 0600, never printed),
``LOG/vkey`` (the C2SP verifier key, public), ``LOG/log.sqlite``. :meth:`Log.append` validates every entry of a batch
before writing any and returns once the batch is durable; :meth:`Log.checkpoint` signs the current size; :meth:`export`
writes what a developer publishes (``entries.jsonl``, ``checkpoint``, ``vkey``).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.atomic import atomic_write_chunks, atomic_write_text
from contracts.jsonl import JsonlError, read_jsonl
from provenance.entry import EntryError, entry_bytes
from provenance.merkle import TreeHashes, leaf_hash
from provenance.note import Checkpoint, NoteError, SignedCheckpoint, Signer, parse_checkpoint, parse_skey, sign_checkpoint
from provenance.store import Store, StoreError, open_store

CONFIG = "config.json"
KEY = "key"
VKEY = "vkey"
EXPORT_ENTRIES, EXPORT_CHECKPOINT, EXPORT_VKEY = "entries.jsonl", "checkpoint", "vkey"


class LogError(RuntimeError):
    """A user-facing failure of a log operation; the message is one line. ``exit_code`` 2: bad input."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def write_secret(path: Path, text: str) -> None:
    """Create ``path`` with mode 0600 (never wider, whatever the umask), refusing to overwrite."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def read_secret(path: Path) -> str:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise LogError(f"{path}: private key missing") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise LogError(f"{path}: private key is readable by others (mode {stat.S_IMODE(mode):o}); chmod 600 {path}")
    return path.read_text(encoding="utf-8")


def init_log(path: str | Path, *, origin: str, key_name: str | None = None, db: str = "sqlite") -> "Log":
    """Create a log directory with a new key; refuses an existing non-empty directory."""
    path = Path(path)
    if not origin or any(c.isspace() for c in origin):
        raise LogError("--origin: a non-empty name without spaces, e.g. example.com/my-model-log", exit_code=2)
    try:
        signer = Signer.generate(key_name or origin)
    except NoteError as e:
        raise LogError(f"--key-name: {e}", exit_code=2) from None
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise LogError(f"{path}: exists and is not an empty directory; choose a new LOG path", exit_code=2)
    created = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    try:
        try:
            store = open_store(db, path, create=True)
        except StoreError as e:
            raise LogError(str(e), exit_code=2) from None
        store.close()
        write_secret(path / KEY, signer.skey() + "\n")
        atomic_write_text(path / VKEY, signer.verifier.vkey() + "\n")
        atomic_write_text(path / CONFIG, json.dumps({"format": 1, "origin": origin, "key_name": signer.name,
                                                     "db": db}, indent=2) + "\n")  # last: its presence means "ready"
        if db != "sqlite":
            os.chmod(path / CONFIG, 0o600)  # the URL may hold a password
    except BaseException:
        if created:
            shutil.rmtree(path, ignore_errors=True)  # nothing half-made is left behind
        raise
    log = Log.open(path)
    log.checkpoint()  # the empty tree's signed checkpoint
    return log


@dataclass
class Log:
    path: Path
    origin: str
    signer: Signer
    store: Store
    tree: TreeHashes

    @classmethod
    def open(cls, path: str | Path) -> "Log":
        path = Path(path)
        try:
            config = json.loads((path / CONFIG).read_text(encoding="utf-8"))
            origin, db = str(config["origin"]), str(config["db"])
        except FileNotFoundError:
            raise LogError(f"{path}: not a provenance log (no {CONFIG}); create one with `python -m provenance init`",
                           exit_code=2) from None
        except (OSError, ValueError, KeyError, TypeError):
            raise LogError(f"{path / CONFIG}: unreadable log configuration") from None
        try:
            signer = parse_skey(read_secret(path / KEY))
            store = open_store(db, path)
        except (NoteError, StoreError) as e:
            raise LogError(str(e)) from None
        return cls(path, origin, signer, store, TreeHashes(store.leaf_hashes()))

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "Log":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def size(self) -> int:
        return self.tree.size

    def _sync(self) -> None:
        """Catch up with appends made by other processes since this log was opened."""
        self.tree.extend(self.store.leaf_hashes(self.tree.size))

    def append(self, entries: Iterable[dict[str, Any]]) -> list[int]:
        """Validate every entry, then append them as one durable batch; returns their indices."""
        rows: list[tuple[bytes, bytes]] = []
        for i, e in enumerate(entries):
            try:
                leaf = entry_bytes(e)
            except EntryError as err:
                raise LogError(f"entry {i + 1} of the batch: {err}; nothing was appended", exit_code=2) from None
            rows.append((leaf, leaf_hash(leaf)))
        if not rows:
            return []
        try:
            start = self.store.append(rows)
        except StoreError as e:
            raise LogError(str(e)) from None
        if start == self.tree.size:
            self.tree.extend(h for _, h in rows)
        else:
            self._sync()  # another writer appended in between: read their leaves too
        return list(range(start, start + len(rows)))

    def root(self, size: int | None = None) -> bytes:
        return self.tree.root(size)

    def checkpoint(self) -> SignedCheckpoint:
        """Sign and store a checkpoint of the current size."""
        self._sync()
        sc = sign_checkpoint(Checkpoint(self.origin, self.tree.size, self.tree.root()), self.signer)
        try:
            self.store.add_checkpoint(sc.checkpoint.size, sc.render())
        except StoreError as e:
            raise LogError(str(e)) from None
        return sc

    def latest_checkpoint(self) -> SignedCheckpoint | None:
        note = self.store.latest_checkpoint()
        return None if note is None else parse_checkpoint(note)

    def current_checkpoint(self) -> SignedCheckpoint:
        """The latest stored checkpoint if it covers the whole log, else a new one."""
        self._sync()
        latest = self.latest_checkpoint()
        if latest is not None and latest.checkpoint.size == self.tree.size:
            return latest
        return self.checkpoint()

    def leaves(self, start: int, end: int) -> list[bytes]:
        return self.store.leaves(start, end)

    def iter_leaves(self, size: int, chunk: int = 50_000) -> Iterable[bytes]:
        for start in range(0, size, chunk):
            yield from self.store.leaves(start, min(size, start + chunk))


def export(log: Log, out: str | Path) -> SignedCheckpoint:
    """Write ``entries.jsonl``, ``checkpoint`` (the latest, covering every entry) and ``vkey`` into ``out``.

    Entries first, checkpoint last, each atomically; re-exporting into the same directory updates it."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise LogError(f"--out {out}: exists and is not a directory", exit_code=2)
    out.mkdir(parents=True, exist_ok=True)
    sc = log.current_checkpoint()
    atomic_write_chunks(out / EXPORT_ENTRIES, (leaf + b"\n" for leaf in log.iter_leaves(sc.checkpoint.size)))
    atomic_write_text(out / EXPORT_VKEY, log.signer.verifier.vkey() + "\n")
    atomic_write_text(out / EXPORT_CHECKPOINT, sc.render())
    return sc


def read_entries_file(path: Path) -> Sequence[dict[str, Any]]:
    """A JSONL file of entry objects (the ``append`` command's input), each validated; one line per problem."""
    from provenance.entry import validate_entry

    try:
        return [entry for _, entry in read_jsonl(path, validate_entry, (EntryError,))]
    except JsonlError as e:
        raise LogError(str(e) if e.line is None else f"{e}; nothing was appended", exit_code=2) from None
