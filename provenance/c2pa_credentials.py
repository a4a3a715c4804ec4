"""★ C2PA content credentials for generated images (c2pa-python): a test CA and signer certificate, a signed
manifest in each PNG (``c2pa.created`` with digitalSourceType ``trainedAlgorithmicMedia`` and an assertion naming the
log origin and entry index), and inspection of an image's manifest and validation state.

Trust: a C2PA validator trusts a signature only if its certificate chains to a configured trust anchor. The CA made
by :func:`make_test_ca` is nobody's anchor, so an image signed with it reads as *valid but untrusted* unless
``inspect --trust-anchor CA.pem`` is given. Self-signed signer certificates are rejected by C2PA, hence the CA.
"""

from __future__ import annotations

import datetime
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
LOG_ASSERTION = "org.deepfake-attribution.provenance-log"
CA_CERT, CA_KEY, SIGNER_CERT, SIGNER_KEY = "ca.pem", "ca.key", "signer.pem", "signer.key"


class CredentialError(RuntimeError):
    """A C2PA step failed; the message is one line."""


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "deepfake-attribution-study (test)")])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_test_ca(directory: str | Path, *, days: int = 365) -> dict[str, Path]:
    """A test CA and an end-entity signer certificate (ES256) with the key usages C2PA requires: digitalSignature,
    extended key usage emailProtection, not a CA. Keys are written mode 0600."""
    from provenance.log import write_secret

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    if any((d / n).exists() for n in (CA_CERT, CA_KEY, SIGNER_CERT, SIGNER_KEY)):
        raise CredentialError(f"{d}: already holds C2PA keys; choose an empty directory")
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("test C2PA CA")).issuer_name(_name("test C2PA CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name("generator signer")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    write_secret(d / CA_KEY, _pem_key(ca_key).decode())
    write_secret(d / SIGNER_KEY, _pem_key(key).decode())
    (d / CA_CERT).write_bytes(ca.public_bytes(pem))
    (d / SIGNER_CERT).write_bytes(cert.public_bytes(pem) + ca.public_bytes(pem))  # the chain, leaf first
    return {"ca": d / CA_CERT, "cert": d / SIGNER_CERT, "key": d / SIGNER_KEY}


@dataclass(frozen=True)
class C2paSigner:
    cert_chain: bytes
    key: bytes

    @classmethod
    def load(cls, cert: str | Path, key: str | Path) -> "C2paSigner":
        try:
            return cls(Path(cert).read_bytes(), Path(key).read_bytes())
        except OSError as e:
            raise CredentialError(f"C2PA certificate or key unreadable: {e}") from None


def manifest_definition(*, generator: str, origin: str | None, index: int | None,
                        image_sha256: str) -> dict[str, Any]:
    log: dict[str, Any] = {"image_sha256": image_sha256, "generator": generator}
    if origin is not None:
        log.update({"origin": origin, "index": index})
    return {
        "claim_generator_info": [{"name": "deepfake-attribution-study", "version": "0.1.0"}],
        "title": f"generated by {generator}",
        "format": "image/png",
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [
                {"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                 "softwareAgent": {"name": "reconstruction_pipeline generate"}}]}},
            {"label": LOG_ASSERTION, "data": log},
        ],
    }


def _c2pa() -> Any:
    try:
        import c2pa
    except ImportError:
        raise CredentialError("C2PA needs c2pa-python (pip install c2pa-python, see requirements.txt)") from None
    return c2pa


def sign_png(png: bytes, signer: C2paSigner, definition: dict[str, Any]) -> bytes:
    """The PNG with a signed C2PA manifest embedded (pixels unchanged)."""
    c2pa = _c2pa()

    try:
        info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, signer.cert_chain, signer.key, None)
        with c2pa.Signer.from_info(info) as s, c2pa.Builder(json.dumps(definition)) as b:
            out = io.BytesIO()
            b.sign(s, "image/png", io.BytesIO(png), out)
            return out.getvalue()
    except c2pa.C2paError as e:
        raise CredentialError(f"C2PA signing failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None


def read_credentials(data: bytes, *, trust_anchor: bytes | None = None) -> dict[str, Any] | None:
    """The active manifest and validation of a PNG/JPEG, or None if it carries no C2PA manifest."""
    c2pa = _c2pa()

    settings: dict[str, Any] = {"verify": {"verify_trust": trust_anchor is not None}}
    if trust_anchor is not None:
        settings["trust"] = {"trust_anchors": trust_anchor.decode()}
    fmt = "image/png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "image/jpeg"
    try:
        with c2pa.Context.from_dict(settings) as ctx:
            reader = c2pa.Reader.try_create(fmt, io.BytesIO(data), context=ctx)
            if reader is None:
                return None
            with reader:
                return {"manifest": reader.get_active_manifest(), "state": reader.get_validation_state(),
                        "results": reader.get_validation_results()}
    except c2pa.C2paError as e:
        return {"manifest": None, "state": "Invalid", "results": None,
                "error": str(e).splitlines()[0] if str(e) else type(e).__name__}


def describe(creds: dict[str, Any] | None, *, trusted_anchor: bool) -> tuple[int, list[str]]:
    """``inspect``'s exit code and lines for the output of :func:`read_credentials`."""
    if creds is None:
        return 1, ["no C2PA manifest: the image was never signed, or its credentials were stripped (re-saving or "
                   "re-encoding an image usually drops them); its pixels can still be looked up in a log"]
    m = creds.get("manifest") or {}
    lines = []
    if m:
        sig = m.get("signature_info", {})
        actions = [a for x in m.get("assertions", []) if x.get("label", "").startswith("c2pa.actions")
                   for a in x.get("data", {}).get("actions", [])]
        created = [a for a in actions if a.get("action") == "c2pa.created"]
        dst = created[0].get("digitalSourceType", "?").rsplit("/", 1)[-1] if created else "none"
        lines.append(f"C2PA manifest: {m.get('title', '?')!s}; created, digitalSourceType {dst}; signed by "
                     f"{sig.get('common_name', '?')} ({sig.get('issuer', '?')}), {sig.get('alg', '?')}")
        log = next((x.get("data", {}) for x in m.get("assertions", []) if x.get("label") == LOG_ASSERTION), None)
        if log is not None:
            where = (f"log {log['origin']}, entry #{log.get('index')}" if log.get("origin") else "not logged")
            lines.append(f"provenance assertion: {where}; pixel sha256 {log.get('image_sha256')}")
    state = creds.get("state")
    failures = [f.get("code", "?") for f in
                ((creds.get("results") or {}).get("activeManifest") or {}).get("failure", [])]
    if state == "Trusted":
        lines.append("validation: TRUSTED (signature and content hash verify; the signer chains to the given "
                     "trust anchor)")
        return 0, lines
    if state == "Valid":
        lines.append("validation: VALID but UNTRUSTED: signature and content hash verify, but the signer's CA is "
                     "not a configured trust anchor" + ("" if trusted_anchor else " (pass --trust-anchor CA.pem)"))
        return 0, lines
    why = ", ".join(failures) or creds.get("error") or "unknown"
    edited = " (the image was edited after signing)" if "assertion.dataHash.mismatch" in failures else ""
    lines.append(f"validation: INVALID: {why}{edited}")
    return 1, lines
