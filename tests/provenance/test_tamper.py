"""Every tampering of the issue's list is caught by ``verify`` or ``witness`` with exactly one clear line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from provenance.cli import main
from provenance.log import Log, export, init_log
from provenance.note import Checkpoint, Signer, sign_checkpoint
from tests.provenance.helpers import entry, make_export


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def refused(capsys: pytest.CaptureFixture[str], *argv: str | Path, code: int = 1) -> str:
    rc, out, err = run(capsys, *argv)
    assert rc == code, (rc, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # one clear line, no traceback
    return lines[0]


@pytest.fixture
def exp(tmp_path: Path) -> Path:
    log, d = make_export(tmp_path, 10)
    log.close()
    shutil.copy(d / "vkey", tmp_path / "trusted.vkey")
    return d


def lines_of(d: Path) -> list[bytes]:
    return (d / "entries.jsonl").read_bytes().splitlines(keepends=True)


def write_lines(d: Path, lines: list[bytes]) -> None:
    (d / "entries.jsonl").write_bytes(b"".join(lines))


def test_untouched_export_verifies(capsys: pytest.CaptureFixture[str], exp: Path) -> None:
    rc, out, err = run(capsys, "verify", exp, "--vkey", exp.parent / "trusted.vkey")
    assert rc == 0 and out.startswith("OK: example.com/test-log: 10 entries") and not err


def test_one_byte_edited(capsys: pytest.CaptureFixture[str], exp: Path) -> None:
    ls = lines_of(exp)
    i = ls[4].index(b'"image_sha256":"') + 20
    ls[4] = ls[4][:i] + (b"0" if ls[4][i:i + 1] != b"0" else b"1") + ls[4][i + 1:]
    write_lines(exp, ls)
    assert "root mismatch" in refused(capsys, "verify", exp)


def test_one_byte_edited_breaking_json(capsys: pytest.CaptureFixture[str], exp: Path) -> None:
    ls = lines_of(exp)
    ls[2] = ls[2].replace(b'"v":1', b'"v":1,', 1)
    write_lines(exp, ls)
    assert refused(capsys, "verify", exp).startswith("error: entries.jsonl line 3: not valid UTF-8 JSON")


def test_entry_deleted(capsys: pytest.CaptureFixture[str], exp: Path) -> None:
    ls = lines_of(exp)
    del ls[3]
    write_lines(exp, ls)
    assert "holds 9 entries but the checkpoint commits to 10: entries were deleted" in refused(capsys, "verify", exp)


def test_entries_reordered(capsys: pytest.CaptureFixture[str], exp: Path) -> None:
    ls = lines_of(exp)
    ls[1], ls[6] = ls[6], ls[1]
    write_lines(exp, ls)
    assert "root mismatch" in refused(capsys, "verify", exp)


def test_entry_inserted(capsys: pytest.CaptureFixture[str], exp: Path) -> None:
    ls = lines_of(exp)
    ls.insert(5, json.dumps(entry(99, tag="inserted"), sort_keys=True, separators=(",", ":")).encode() + b"\n")
    write_lines(exp, ls)
    assert "holds 11 entries" in refused(capsys, "verify", exp)


def test_truncated(capsys: pytest.CaptureFixture[str], exp: Path) -> None:
    data = (exp / "entries.jsonl").read_bytes()
    (exp / "entries.jsonl").write_bytes(data[:-40])
    assert "truncated" in refused(capsys, "verify", exp)


def test_forged_entry_resigned_by_the_forger(capsys: pytest.CaptureFixture[str], exp: Path) -> None:
    """The forger replaces an entry and re-signs a checkpoint with their own key (and their own vkey in the export):
    a verifier holding the log's real key refuses it; the export alone is self-consistent, which is why the vkey
    must come from elsewhere."""
    ls = lines_of(exp)
    ls[7] = json.dumps(entry(7, tag="forged"), sort_keys=True, separators=(",", ":")).encode() + b"\n"
    write_lines(exp, ls)
    assert "root mismatch" in refused(capsys, "verify", exp)
    from provenance.merkle import root_of

    forger = Signer.generate("example.com/test-log")
    cp = Checkpoint("example.com/test-log", 10, root_of([x.rstrip(b"\n") for x in ls]))
    (exp / "checkpoint").write_text(sign_checkpoint(cp, forger).render())
    (exp / "vkey").write_text(forger.verifier.vkey() + "\n")
    line = refused(capsys, "verify", exp, "--vkey", exp.parent / "trusted.vkey")
    assert "checkpoint: no signature by key example.com/test-log+" in line


def test_checkpoint_signed_by_another_key(capsys: pytest.CaptureFixture[str], exp: Path) -> None:
    text = (exp / "checkpoint").read_text()
    other = Signer.generate("other.example/log")
    body = text.split("\n\n")[0] + "\n"
    (exp / "checkpoint").write_text(body + "\n" + other.sign_line(body))
    assert "no signature by key example.com/test-log" in refused(capsys, "verify", exp)


def test_checkpoint_body_edited(capsys: pytest.CaptureFixture[str], exp: Path) -> None:
    text = (exp / "checkpoint").read_text()
    (exp / "checkpoint").write_text(text.replace("\n10\n", "\n11\n", 1))
    assert "does not verify" in refused(capsys, "verify", exp)


def test_rolled_back_checkpoint(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    log = init_log(tmp_path / "log", origin="example.com/test-log")
    log.append([entry(i) for i in range(5)])
    export(log, tmp_path / "old")
    log.append([entry(i) for i in range(5, 10)])
    export(log, tmp_path / "new")
    shutil.copy(tmp_path / "new" / "checkpoint", tmp_path / "seen")
    assert run(capsys, "verify", tmp_path / "new", "--previous", tmp_path / "seen")[0] == 0
    # later the developer publishes the older state again
    assert "ROLLBACK" in refused(capsys, "verify", tmp_path / "old", "--previous", tmp_path / "seen", code=3)
    # and a witness that cosigned size 10 refuses size 5
    assert run(capsys, "witness", tmp_path / "w", tmp_path / "new", "--init", "w.example/1")[0] == 0
    assert "ROLLBACK" in refused(capsys, "witness", tmp_path / "w", tmp_path / "old", code=3)


def _fork(tmp_path: Path) -> tuple[Log, Log]:
    """One key, two histories: the log directory copied after 6 entries, then each copy appended differently."""
    log = init_log(tmp_path / "a", origin="example.com/test-log")
    log.append([entry(i) for i in range(6)])
    log.close()
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    a, b = Log.open(tmp_path / "a"), Log.open(tmp_path / "b")
    a.append([entry(i) for i in range(6, 10)])
    b.append([entry(i, tag="fork") for i in range(6, 10)])
    return a, b


def test_split_view_same_size_is_refused_loudly(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    a, b = _fork(tmp_path)
    export(a, tmp_path / "ea")
    export(b, tmp_path / "eb")
    assert run(capsys, "verify", tmp_path / "eb")[0] == 0  # each history alone verifies...
    assert run(capsys, "witness", tmp_path / "w", tmp_path / "ea", "--init", "w.example/1")[0] == 0
    before = (tmp_path / "eb" / "checkpoint").read_text()
    line = refused(capsys, "witness", tmp_path / "w", tmp_path / "eb", code=3)  # ...a witness sees both
    assert line.startswith("error: SPLIT VIEW: example.com/test-log: same size, other root")
    assert (tmp_path / "eb" / "checkpoint").read_text() == before  # not cosigned
    state = json.loads(next((tmp_path / "w" / "logs").glob("*.json")).read_text())
    assert state["checkpoint"] == (tmp_path / "ea" / "checkpoint").read_text().split("\u2014 w.example/1")[0]


def test_split_view_larger_fork_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    a, b = _fork(tmp_path)
    export(a, tmp_path / "ea")
    b.append([entry(i, tag="more") for i in range(3)])
    export(b, tmp_path / "eb")
    assert run(capsys, "witness", tmp_path / "w", tmp_path / "ea", "--init", "w.example/1")[0] == 0
    line = refused(capsys, "witness", tmp_path / "w", tmp_path / "eb", code=3)
    assert "SPLIT VIEW" in line and "size 10 is not a prefix of size 13" in line
    # the honest continuation is cosigned, and the cosignature verifies
    a.append([entry(i) for i in range(10, 13)])
    export(a, tmp_path / "ea")
    assert run(capsys, "witness", tmp_path / "w", tmp_path / "ea")[0] == 0
    rc, out, _ = run(capsys, "verify", tmp_path / "ea", "--witness", tmp_path / "w" / "vkey")
    assert rc == 0 and "cosigned by 1 witness" in out
    once = (tmp_path / "ea" / "checkpoint").read_text()
    assert run(capsys, "witness", tmp_path / "w", tmp_path / "ea")[0] == 0  # a re-run adds no second line
    assert (tmp_path / "ea" / "checkpoint").read_text() == once and once.count("\u2014 w.example/1 ") == 1


def test_witness_pins_the_log_key(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    log, d = make_export(tmp_path, 4)
    assert run(capsys, "witness", tmp_path / "w", d, "--init", "w.example/1")[0] == 0
    impostor = init_log(tmp_path / "imp", origin="example.com/test-log")
    impostor.append([entry(i) for i in range(8)])
    export(impostor, tmp_path / "e2")
    assert "no signature by key" in refused(capsys, "witness", tmp_path / "w", tmp_path / "e2")


def test_missing_cosignature_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    log, d = make_export(tmp_path, 3)
    assert run(capsys, "witness", tmp_path / "w", d, "--init", "w.example/1", "--no-write")[0] == 0
    assert "witness w.example/1: no signature" in refused(capsys, "verify", d, "--witness", tmp_path / "w" / "vkey")
