"""Verify an export (``entries.jsonl``, ``checkpoint``, ``vkey``), make proofs from it, and witness it.

Every check ends in :class:`VerifyError` with one line naming what is wrong. A witness (C2SP tlog-cosignature) keeps,
per origin, the log's pinned verifier key and the last checkpoint it cosigned; it cosigns a new checkpoint only if the
new tree extends that one (an RFC 9162 consistency proof), and refuses a rollback or a split view loudly.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.atomic import atomic_write_text
from provenance.entry import EntryError, parse_leaf
from provenance.log import EXPORT_CHECKPOINT, EXPORT_ENTRIES, EXPORT_VKEY, read_secret, write_secret
from provenance.merkle import ProofError, TreeHashes, leaf_hash, verify_consistency, verify_inclusion
from provenance.note import (ALG_COSIGNATURE_V1, NoteError, SignedCheckpoint, Signer, Verifier, b64,
                             open_checkpoint, parse_checkpoint, parse_skey, parse_vkey)


class VerifyError(Exception):
    """Verification failed. ``exit_code`` 1: the export is wrong; 2: bad input; 3: a witness refused (split view or
    rollback)."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Verified:
    checkpoint: SignedCheckpoint
    verifier: Verifier
    entries: list[dict[str, Any]]
    tree: TreeHashes
    vkey_from_export: bool  # True when the key came from the export itself (proves self-consistency only)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise VerifyError(f"{path}: missing ({what})", exit_code=2) from None
    except OSError as e:
        raise VerifyError(f"{path}: unreadable ({type(e).__name__})", exit_code=2) from None


def load_verifier(path: Path) -> Verifier:
    try:
        return parse_vkey(_read(path, "verifier key").decode("utf-8", "replace"))
    except NoteError as e:
        raise VerifyError(f"{path}: {e}", exit_code=2) from None


def verify_export(directory: str | Path, *, vkey: str | Path | Verifier | None = None, previous: str | Path | None = None,
                  witnesses: tuple[str | Path, ...] = ()) -> Verified:
    """Recompute the root from ``entries.jsonl`` and check the checkpoint's signature (and, if given, that it extends
    the ``previous`` checkpoint and carries a cosignature of every witness key)."""
    d = Path(directory)
    verifier = vkey if isinstance(vkey, Verifier) else load_verifier(Path(vkey) if vkey is not None else d / EXPORT_VKEY)
    try:
        sc = open_checkpoint(_read(d / EXPORT_CHECKPOINT, "the signed checkpoint"), verifier)
    except NoteError as e:
        raise VerifyError(f"checkpoint: {e}") from None
    data = _read(d / EXPORT_ENTRIES, "the log's entries")
    if data and not data.endswith(b"\n"):
        raise VerifyError(f"{EXPORT_ENTRIES}: last line has no newline (file truncated mid-entry?)")
    lines = data.split(b"\n")[:-1] if data else []
    entries: list[dict[str, Any]] = []
    tree = TreeHashes()
    for n, line in enumerate(lines, 1):
        try:
            entries.append(parse_leaf(line))
        except EntryError as e:
            raise VerifyError(f"{EXPORT_ENTRIES} line {n}: {e} (the entry was altered)") from None
        tree.append(leaf_hash(line))
    size = sc.checkpoint.size
    if tree.size < size:
        raise VerifyError(f"{EXPORT_ENTRIES} holds {tree.size} entries but the checkpoint commits to {size}: "
                          "entries were deleted or the file truncated")
    if tree.size > size:
        raise VerifyError(f"{EXPORT_ENTRIES} holds {tree.size} entries but the checkpoint commits to {size}: "
                          "entries were inserted or appended without a new checkpoint")
    if tree.root() != sc.checkpoint.root:
        raise VerifyError(f"root mismatch: {EXPORT_ENTRIES} hashes to {b64(tree.root())} but the checkpoint signs "
                          f"{b64(sc.checkpoint.root)}: entries were altered, reordered, replaced or inserted")
    if previous is not None:
        check_extends(tree, sc, _open_previous(Path(previous), verifier))
    for w in witnesses:
        wv = load_verifier(Path(w))
        try:
            sc.note.verify(wv)
        except NoteError as e:
            raise VerifyError(f"witness {wv.name}: {e}") from None
    return Verified(sc, verifier, entries, tree, vkey is None)


def _open_previous(path: Path, verifier: Verifier) -> SignedCheckpoint:
    try:
        return open_checkpoint(_read(path, "an earlier checkpoint"), verifier)
    except NoteError as e:
        raise VerifyError(f"{path}: {e}", exit_code=2) from None


def check_extends(tree: TreeHashes, new: SignedCheckpoint, old: SignedCheckpoint) -> None:
    """``new`` (whose full tree is ``tree``) must extend ``old``: same origin, not smaller, consistent."""
    o, n = old.checkpoint, new.checkpoint
    if o.origin != n.origin:
        raise VerifyError(f"the earlier checkpoint is of another log ({o.origin!r}, not {n.origin!r})", exit_code=2)
    if n.size < o.size:
        raise VerifyError(f"ROLLBACK: the checkpoint is of size {n.size}, an earlier one of this log was of size "
                          f"{o.size}: the log was rolled back", exit_code=3)
    try:
        verify_consistency(o.size, n.size, o.root, n.root, tree.consistency_proof(o.size))
    except ProofError as e:
        kind = "same size, other root" if o.size == n.size else f"size {o.size} is not a prefix of size {n.size}"
        raise VerifyError(f"SPLIT VIEW: {n.origin}: {kind} ({e}); the log has shown two different histories — keep "
                          "both checkpoints as evidence", exit_code=3) from None


# ----------------------------------------------------------------------------------------------------- proofs

def inclusion(v: Verified, index: int) -> dict[str, Any]:
    """The inclusion proof of leaf ``index`` against the export's checkpoint (verified before it is returned)."""
    size = v.checkpoint.checkpoint.size
    if not 0 <= index < size:
        raise VerifyError(f"--index {index}: the log holds entries 0..{size - 1}", exit_code=2)
    lh = v.tree.leaf(index)
    path = v.tree.inclusion_proof(index)
    verify_inclusion(index, size, lh, path, v.checkpoint.checkpoint.root)
    return {"index": index, "size": size, "leaf_hash": b64(lh), "path": [b64(h) for h in path]}


def find_image(v: Verified, image_sha256: str) -> list[int]:
    return [i for i, e in enumerate(v.entries) if e["image_sha256"] == image_sha256]


def consistency(v: Verified, old_path: str | Path) -> dict[str, Any]:
    old = _open_previous(Path(old_path), v.verifier)
    check_extends(v.tree, v.checkpoint, old)
    path = v.tree.consistency_proof(old.checkpoint.size)
    return {"old_size": old.checkpoint.size, "new_size": v.checkpoint.checkpoint.size,
            "path": [b64(h) for h in path]}


# ---------------------------------------------------------------------------------------------------- witness

def _state_file(state: Path, origin: str) -> Path:
    return state / "logs" / f"{hashlib.sha256(origin.encode('utf-8')).hexdigest()[:32]}.json"


def witness_init(state: str | Path, name: str) -> Verifier:
    state = Path(state)
    if (state / "key").exists():
        raise VerifyError(f"{state}: a witness already lives here", exit_code=2)
    try:
        signer = Signer.generate(name, ALG_COSIGNATURE_V1)
    except NoteError as e:
        raise VerifyError(f"--name: {e}", exit_code=2) from None
    (state / "logs").mkdir(parents=True, exist_ok=True)
    write_secret(state / "key", signer.skey() + "\n")
    atomic_write_text(state / "vkey", signer.verifier.vkey() + "\n")
    return signer.verifier


def witness(state: str | Path, directory: str | Path, *, now: int | None = None) -> tuple[SignedCheckpoint, str]:
    """Cosign ``directory``'s checkpoint if it extends the last one this witness cosigned for its origin.

    The first checkpoint seen for an origin pins the export's ``vkey`` (trust on first use); later ones must be
    signed by that key. Returns the cosigned checkpoint and the cosignature line; updates the witness's state."""
    state = Path(state)
    try:
        signer = parse_skey(read_secret(state / "key"))
    except Exception as e:  # LogError (missing / wide permissions) or NoteError
        raise VerifyError(f"witness state {state}: {e} (create one with `witness --init NAME`)", exit_code=2) from None
    d = Path(directory)
    sc0 = _peek_origin(d)
    sfile = _state_file(state, sc0)
    known: dict[str, Any] | None = json.loads(sfile.read_text(encoding="utf-8")) if sfile.is_file() else None
    if known is None:
        v = verify_export(d)
        pinned = v.verifier.vkey()
    else:
        pinned = known["vkey"]
        v = verify_export(d, vkey=parse_vkey(pinned))
        old = parse_checkpoint(known["checkpoint"])
        check_extends(v.tree, v.checkpoint, old)
    try:  # cosigned already (a re-run): keep the checkpoint as it is
        mine = v.checkpoint.note.verify(signer.verifier)
        return v.checkpoint, mine.line()
    except NoteError:
        pass
    t = int(time.time()) if now is None else now
    line = signer.sign_line(v.checkpoint.note.text, timestamp=t)
    cosigned = SignedCheckpoint(v.checkpoint.checkpoint, v.checkpoint.note.with_signature(line))
    sfile.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(sfile, json.dumps({"origin": v.checkpoint.checkpoint.origin, "vkey": pinned,
                                         "checkpoint": v.checkpoint.render()}, indent=2) + "\n")
    return cosigned, line


def _peek_origin(d: Path) -> str:
    try:
        return parse_checkpoint(_read(d / EXPORT_CHECKPOINT, "the signed checkpoint")).checkpoint.origin
    except NoteError as e:
        raise VerifyError(f"checkpoint: {e}") from None

