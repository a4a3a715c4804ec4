"""★ C2PA content credentials (c2pa-python): a test CA, signed PNGs, validation states, edited and stripped images."""

from __future__ import annotations

import datetime
import io
import zlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image

from provenance.c2pa_credentials import (LOG_ASSERTION, TRAINED_ALGORITHMIC_MEDIA, C2paSigner, CredentialError,
                                         make_test_ca, manifest_definition, read_credentials, sign_png)
from provenance.cli import main


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_test_ca(tmp_path_factory.mktemp("c2pa") / "keys")


def _png(color: tuple[int, int, int] = (10, 200, 30)) -> bytes:
    buf = io.BytesIO()
    img = Image.new("RGB", (16, 16), color)
    img.putpixel((3, 4), (1, 2, 3))
    img.save(buf, "PNG")
    return buf.getvalue()


def _signed(keys: dict[str, Path], png: bytes) -> bytes:
    digest = __import__("hashlib").sha256(Image.open(io.BytesIO(png)).convert("RGB").tobytes()).hexdigest()
    return sign_png(png, C2paSigner.load(keys["cert"], keys["key"]),
                    manifest_definition(generator="tiny-mlp", origin="example.com/log", index=7, image_sha256=digest))


def test_keys_and_certificate_usages(keys: dict[str, Path]) -> None:
    assert keys["key"].stat().st_mode & 0o777 == 0o600
    leaf, ca = x509.load_pem_x509_certificates(keys["cert"].read_bytes())
    assert leaf.issuer == ca.subject != leaf.subject  # not self-signed
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value


def test_signed_png_reads_back_valid_untrusted_then_trusted(keys: dict[str, Path], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    png = _png()
    signed = _signed(keys, png)
    assert Image.open(io.BytesIO(signed)).convert("RGB").tobytes() == Image.open(io.BytesIO(png)).convert("RGB").tobytes()
    creds = read_credentials(signed)
    assert creds is not None and creds["state"] == "Valid"
    m = creds["manifest"]
    actions = next(a for a in m["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"]
    assert actions[0]["action"] == "c2pa.created" and actions[0]["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    log = next(a for a in m["assertions"] if a["label"] == LOG_ASSERTION)["data"]
    assert log["origin"] == "example.com/log" and log["index"] == 7
    (tmp_path / "s.png").write_bytes(signed)
    assert main(["inspect", str(tmp_path / "s.png")]) == 0
    out = capsys.readouterr().out
    assert "digitalSourceType trainedAlgorithmicMedia" in out and "VALID but UNTRUSTED" in out
    assert "log example.com/log, entry #7" in out
    assert main(["inspect", str(tmp_path / "s.png"), "--trust-anchor", str(keys["ca"])]) == 0
    assert "validation: TRUSTED" in capsys.readouterr().out


def test_edited_and_stripped_images_are_reported(keys: dict[str, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    signed = _signed(keys, _png())
    i = signed.index(b"IDAT")
    n = int.from_bytes(signed[i - 4:i], "big")
    raw = bytearray(zlib.decompress(signed[i + 4:i + 4 + n]))
    raw[5] ^= 0xFF  # one pixel value changed, every other byte (the manifest too) kept
    comp = zlib.compress(bytes(raw))
    edited = (signed[:i - 4] + len(comp).to_bytes(4, "big") + b"IDAT" + comp
              + zlib.crc32(b"IDAT" + comp).to_bytes(4, "big") + signed[i + 8 + n:])
    (tmp_path / "edited.png").write_bytes(edited)
    assert main(["inspect", str(tmp_path / "edited.png")]) == 1
    assert "INVALID: assertion.dataHash.mismatch (the image was edited after signing)" in capsys.readouterr().out
    Image.open(io.BytesIO(signed)).save(tmp_path / "resaved.png")  # re-saving drops the credentials
    assert main(["inspect", str(tmp_path / "resaved.png")]) == 1
    assert capsys.readouterr().out.startswith("no C2PA manifest")


def test_a_self_signed_signer_is_rejected(tmp_path: Path) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(5).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .sign(key, hashes.SHA256()))
    signer = C2paSigner(cert.public_bytes(serialization.Encoding.PEM),
                        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    with pytest.raises(CredentialError, match="certificate is invalid"):
        sign_png(_png(), signer, manifest_definition(generator="g", origin=None, index=None, image_sha256="0" * 64))


def test_keygen_refuses_to_overwrite(keys: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keygen-c2pa", str(keys["ca"].parent)]) == 1
    assert "already holds C2PA keys" in capsys.readouterr().err


def test_inspect_with_a_log_shows_the_entry_and_its_inclusion_or_says_not_in_the_log(
        keys: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``inspect IMG --log DIR``: the credentials, then one ``log:`` line. A signed image whose pixels are logged shows
    its entry index with a verified inclusion proof (exit 0); a signed image whose pixels are not logged says NOT in
    the log (exit 1, although its credentials are valid); a stripped copy of a logged image is still found by its
    pixels, but exits 1 because it carries no credentials (the exit code is 0 only when both checks pass)."""
    from provenance.entry import pixel_sha256
    from provenance.log import export

    from tests.provenance.helpers import entry, make_log

    png = _png()
    digest = pixel_sha256(Image.open(io.BytesIO(png)).convert("RGB").tobytes())
    log = make_log(tmp_path / "log", 5, origin="example.com/log")
    log.append([{**entry(5), "image_sha256": digest, "size": [16, 16]}])
    export(log, tmp_path / "pub")
    log.close()
    signer = C2paSigner.load(keys["cert"], keys["key"])
    (tmp_path / "logged.png").write_bytes(sign_png(png, signer, manifest_definition(
        generator="tiny-mlp", origin="example.com/log", index=5, image_sha256=digest)))
    other = _png((200, 10, 30))
    (tmp_path / "unlogged.png").write_bytes(sign_png(other, signer, manifest_definition(
        generator="tiny-mlp", origin="example.com/log", index=None,
        image_sha256=pixel_sha256(Image.open(io.BytesIO(other)).convert("RGB").tobytes()))))
    Image.open(tmp_path / "logged.png").save(tmp_path / "stripped.png")
    capsys.readouterr()

    assert main(["inspect", str(tmp_path / "logged.png"), "--log", str(tmp_path / "pub"),
                 "--vkey", str(tmp_path / "log" / "vkey")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "VALID but UNTRUSTED" in out[-2]
    assert out[-1] == "log: its pixels are entry #5 of example.com/log (size 6); inclusion proof verified"

    assert main(["inspect", str(tmp_path / "unlogged.png"), "--log", str(tmp_path / "pub")]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "VALID but UNTRUSTED" in out[-2]
    assert out[-1] == "log: its pixels are NOT in example.com/log (size 6)"

    assert main(["inspect", str(tmp_path / "stripped.png"), "--log", str(tmp_path / "pub")]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("no C2PA manifest")
    assert out[-1] == "log: its pixels are entry #5 of example.com/log (size 6); inclusion proof verified"

    # a tampered export is refused before any lookup: one error line, exit 1
    lines = (tmp_path / "pub" / "entries.jsonl").read_bytes().splitlines(keepends=True)
    (tmp_path / "pub" / "entries.jsonl").write_bytes(b"".join(lines[:5]))
    assert main(["inspect", str(tmp_path / "logged.png"), "--log", str(tmp_path / "pub")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds 5 entries but the checkpoint commits to 6" in err[0]
