"""C2SP signed notes with Ed25519 (c2sp.org/signed-note), checkpoints (tlog-checkpoint) and witness cosignatures
(tlog-cosignature, Ed25519 ``cosignature/v1``), via ``cryptography``.

A note is its text (newline-terminated lines), an empty line, then signature lines
``— <key name> <base64(key id ‖ signature)>``. Key id = ``SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4]`` with type
0x01 for a note signer and 0x04 for a cosigner; a verifier key (vkey) is ``name+<hex key id>+<base64(type ‖ key)>``.
A log signature is Ed25519 over the text; a cosignature is Ed25519 over ``cosignature/v1\\ntime <t>\\n`` ‖ text and
carries the 8-byte big-endian time before the signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
DASH = "\u2014"
MAX_TIMESTAMP = 2**63 - 1


class NoteError(ValueError):
    """A note, key or checkpoint is malformed or does not verify; the message is one line."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise NoteError(f"{what}: not valid base64") from None


def check_key_name(name: str) -> str:
    if not name or any(c.isspace() for c in name) or "+" in name:
        raise NoteError(f"key name {name!r}: must be non-empty with no spaces and no '+'")
    return name


def key_id(name: str, alg: int, public: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([alg]) + public).digest()[:4]


def _raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Verifier:
    """A verifier key: ``alg`` 0x01 (note signer) or 0x04 (Ed25519 cosigner)."""

    name: str
    alg: int
    public: bytes

    @property
    def id(self) -> bytes:
        return key_id(self.name, self.alg, self.public)

    def vkey(self) -> str:
        return f"{self.name}+{self.id.hex()}+{b64(bytes([self.alg]) + self.public)}"

    def verify_raw(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
            return True
        except InvalidSignature:
            return False


def parse_vkey(text: str) -> Verifier:
    parts = text.strip().split("+", 2)  # base64 may hold '+'
    if len(parts) != 3:
        raise NoteError("verifier key: expected NAME+KEYID+BASE64 (a C2SP vkey)")
    name, hex_id, blob = parts
    check_key_name(name)
    raw = unb64(blob, "verifier key")
    if len(raw) != 33 or raw[0] not in (ALG_ED25519, ALG_COSIGNATURE_V1):
        raise NoteError("verifier key: not an Ed25519 key (type 0x01 or 0x04 followed by 32 bytes)")
    v = Verifier(name, raw[0], raw[1:])
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id) or bytes.fromhex(hex_id) != v.id:
        raise NoteError(f"verifier key {name}: key id {hex_id} does not match the key")
    return v


@dataclass(frozen=True)
class Signer:
    """An Ed25519 private key with its key name and type (0x01 log signer, 0x04 cosigner)."""

    name: str
    key: Ed25519PrivateKey
    alg: int = ALG_ED25519

    @classmethod
    def generate(cls, name: str, alg: int = ALG_ED25519) -> "Signer":
        return cls(check_key_name(name), Ed25519PrivateKey.generate(), alg)

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, self.alg, _raw_public(self.key))

    def skey(self) -> str:
        """The private key as a line ``PRIVATE+KEY+name+keyid+base64(type ‖ 32-byte seed)`` (golang.org/x/mod/sumdb/note's
        encoding). Secret: keep the file 0600."""
        seed = self.key.private_bytes_raw()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.id.hex()}+{b64(bytes([self.alg]) + seed)}"

    def sign_line(self, text: str, *, timestamp: int | None = None) -> str:
        """The signature line for note ``text``; a cosigner (0x04) needs ``timestamp`` (POSIX seconds)."""
        if self.alg == ALG_COSIGNATURE_V1:
            if timestamp is None or not 0 <= timestamp <= MAX_TIMESTAMP:
                raise NoteError("a cosignature needs a timestamp in 0..2^63-1")
            t = timestamp.to_bytes(8, "big")
            sig = self.key.sign(cosigned_message(text, timestamp))
            return f"{DASH} {self.name} {b64(self.verifier.id + t + sig)}\n"
        return f"{DASH} {self.name} {b64(self.verifier.id + self.key.sign(text.encode('utf-8')))}\n"


def parse_skey(text: str) -> Signer:
    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise NoteError("private key file: expected PRIVATE+KEY+NAME+KEYID+BASE64")
    name, hex_id, blob = parts[2:]
    raw = unb64(blob, "private key file")
    if len(raw) != 33 or raw[0] not in (ALG_ED25519, ALG_COSIGNATURE_V1):
        raise NoteError("private key file: not an Ed25519 key")
    s = Signer(check_key_name(name), Ed25519PrivateKey.from_private_bytes(raw[1:]), raw[0])
    if s.verifier.id.hex() != hex_id:
        raise NoteError(f"private key file {name}: key id {hex_id} does not match the key")
    return s


def cosigned_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode("utf-8") + text.encode("utf-8")


@dataclass(frozen=True)
class Signature:
    name: str
    key_id: bytes
    blob: bytes  # after the key id: the signature (log) or timestamp ‖ signature (cosignature)

    def line(self) -> str:
        return f"{DASH} {self.name} {b64(self.key_id + self.blob)}\n"


@dataclass(frozen=True)
class Note:
    text: str  # newline-terminated lines, the signed bytes
    signatures: tuple[Signature, ...]

    def render(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)

    def verify(self, verifier: Verifier) -> Signature:
        """The signature by ``verifier`` that verifies; raises :class:`NoteError` otherwise."""
        mine = [s for s in self.signatures if s.name == verifier.name and s.key_id == verifier.id]
        if not mine:
            names = ", ".join(sorted({s.name for s in self.signatures})) or "none"
            raise NoteError(f"no signature by key {verifier.name}+{verifier.id.hex()} (signed by: {names})")
        for s in mine:
            if verifier.alg == ALG_COSIGNATURE_V1:
                if len(s.blob) != 72:
                    continue
                t = int.from_bytes(s.blob[:8], "big")
                if verifier.verify_raw(cosigned_message(self.text, t), s.blob[8:]):
                    return s
            elif verifier.verify_raw(self.text.encode("utf-8"), s.blob):
                return s
        raise NoteError(f"the signature by key {verifier.name}+{verifier.id.hex()} does not verify "
                        "(the note was altered or signed by another key of the same name)")

    def with_signature(self, line: str) -> "Note":
        sig = _parse_signature_line(line.rstrip("\n"))
        return Note(self.text, self.signatures + (sig,))


def _parse_signature_line(line: str) -> Signature:
    m = re.fullmatch(DASH + r" (\S+) (\S+)", line)
    if not m:
        raise NoteError(f"malformed signature line {line[:60]!r}: expected '{DASH} NAME BASE64'")
    raw = unb64(m.group(2), "signature line")
    if len(raw) < 5:
        raise NoteError("signature line too short")
    return Signature(m.group(1), raw[:4], raw[4:])


def parse_note(data: str | bytes) -> Note:
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("note is not UTF-8") from None
    if "\r" in data:
        raise NoteError("note contains a carriage return (CRLF line endings?)")
    cut = data.rfind("\n\n")
    if cut < 0:
        raise NoteError("note has no empty line before its signatures")
    text, sigs = data[:cut + 1], data[cut + 2:]
    if not sigs.endswith("\n") or not sigs.strip():
        raise NoteError("note has no signature lines (or its last line lacks a newline)")
    return Note(text, tuple(_parse_signature_line(line) for line in sigs[:-1].split("\n")))


# -------------------------------------------------------------------------------------------- checkpoints

@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        return "".join(f"{line}\n" for line in (self.origin, str(self.size), b64(self.root), *self.extensions))


def parse_checkpoint_body(text: str) -> Checkpoint:
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise NoteError("checkpoint body: expected origin, tree size and root hash lines")
    origin, size, root = lines[0], lines[1], lines[2]
    if not origin:
        raise NoteError("checkpoint: empty origin line")
    if not re.fullmatch(r"0|[1-9][0-9]{0,19}", size):
        raise NoteError(f"checkpoint: tree size {size[:30]!r} is not a decimal integer")
    rh = unb64(root, "checkpoint root hash")
    if len(rh) != 32:
        raise NoteError("checkpoint: root hash is not 32 bytes")
    return Checkpoint(origin, int(size), rh, tuple(lines[3:-1]))


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    note: Note

    def render(self) -> str:
        return self.note.render()


def sign_checkpoint(cp: Checkpoint, signer: Signer) -> SignedCheckpoint:
    text = cp.body()
    return SignedCheckpoint(cp, Note(text, (_parse_signature_line(signer.sign_line(text).rstrip("\n")),)))


def parse_checkpoint(data: str | bytes) -> SignedCheckpoint:
    note = parse_note(data)
    return SignedCheckpoint(parse_checkpoint_body(note.text), note)


def open_checkpoint(data: str | bytes, verifier: Verifier) -> SignedCheckpoint:
    """Parse a checkpoint and check the log's signature; raises :class:`NoteError` naming what is wrong."""
    sc = parse_checkpoint(data)
    sc.note.verify(verifier)
    return sc
