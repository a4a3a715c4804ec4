"""Signed notes, vkeys, checkpoints and cosignatures against the C2SP example and by round trip."""

from __future__ import annotations

import pytest

from provenance.note import (ALG_COSIGNATURE_V1, Checkpoint, NoteError, Signer, cosigned_message, open_checkpoint,
                             parse_checkpoint, parse_note, parse_skey, parse_vkey, sign_checkpoint)

# c2sp.org/signed-note's example (docs/provenance.md)
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = ("This is an example message.\n\n\u2014 example.com/foo "
             "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n")


def test_c2sp_signed_note_example_verifies() -> None:
    v = parse_vkey(C2SP_VKEY)
    assert v.name == "example.com/foo" and v.id.hex() == "530d903a" and v.vkey() == C2SP_VKEY
    note = parse_note(C2SP_NOTE)
    assert note.text == "This is an example message.\n"
    note.verify(v)
    assert note.render() == C2SP_NOTE
    with pytest.raises(NoteError, match="does not verify"):
        parse_note(C2SP_NOTE.replace("example message", "exemple message")).verify(v)


def test_vkey_with_wrong_key_id_is_refused() -> None:
    with pytest.raises(NoteError, match="key id"):
        parse_vkey(C2SP_VKEY.replace("530d903a", "530d903b"))


def test_checkpoint_round_trip_and_foreign_key() -> None:
    s = Signer.generate("example.com/log")
    cp = Checkpoint("example.com/log", 7, bytes(range(32)))
    text = sign_checkpoint(cp, s).render()
    assert text.startswith("example.com/log\n7\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\n\u2014 example.com/log ")
    assert open_checkpoint(text, s.verifier).checkpoint == cp
    other = Signer.generate("example.com/log")  # same name, other key
    with pytest.raises(NoteError, match="no signature by key"):
        open_checkpoint(sign_checkpoint(cp, other).render(), s.verifier)
    assert parse_skey(s.skey()).verifier == s.verifier


def test_cosignature_signs_the_c2sp_v1_message() -> None:
    w = Signer.generate("witness.example/w1", ALG_COSIGNATURE_V1)
    assert w.verifier.vkey().split("+")[2].startswith("B")  # type byte 0x04
    sc = sign_checkpoint(Checkpoint("o", 3, bytes(32)), Signer.generate("o"))
    line = w.sign_line(sc.note.text, timestamp=1679315147)
    note = sc.note.with_signature(line)
    sig = note.verify(w.verifier)
    assert int.from_bytes(sig.blob[:8], "big") == 1679315147
    assert w.verifier.verify_raw(cosigned_message(sc.note.text, 1679315147), sig.blob[8:])
    assert cosigned_message("o\n3\nx\n", 5) == b"cosignature/v1\ntime 5\no\n3\nx\n"
    assert parse_checkpoint(note.render()).note.verify(w.verifier)


def test_malformed_checkpoints_are_named() -> None:
    with pytest.raises(NoteError, match="tree size"):
        parse_checkpoint("o\n-1\nAAAA\n\n\u2014 o AAAAAAAA\n")
    with pytest.raises(NoteError, match="no empty line"):
        parse_checkpoint("o\n1\n")
