"""★ RFC 3161 timestamps of checkpoints (rfc3161-client): a third party's signed clock over the checkpoint body.

``timestamp DIR --tsa URL`` sends a TimeStampReq (SHA-256 imprint of the checkpoint *body*, ``origin\\nsize\\nroot\\n``,
with a nonce, asking for the TSA's certificate) to a timestamp authority over HTTP and stores the response as
``DIR/checkpoint.tsr``; witnesses adding cosignatures do not change the body, so the timestamp stays valid.
``verify DIR --tsa-root ROOT.pem`` checks the token's signature chain to that root and that it covers the body:
the tree of that size and root existed no later than the token's time.
"""

from __future__ import annotations

import datetime
import urllib.error
import urllib.request
from pathlib import Path

from contracts.atomic import atomic_write_bytes

TSR_FILE = "checkpoint.tsr"


class TimestampError(RuntimeError):
    """A timestamp could not be obtained or does not verify; one line."""


def _lib():  # type: ignore[no-untyped-def]
    try:
        import rfc3161_client
    except ImportError:
        raise TimestampError("RFC 3161 timestamps need rfc3161-client (see requirements.txt)") from None
    return rfc3161_client


def request_timestamp(message: bytes, url: str, *, timeout_s: float = 30.0) -> bytes:
    """Ask the TSA at ``url`` to timestamp ``message``; returns the DER TimeStampResp after checking it answers this
    request (status granted, same imprint, same nonce)."""
    r = _lib()
    req = r.TimestampRequestBuilder().data(message).nonce(nonce=True).cert_request(cert_request=True).build()
    http = urllib.request.Request(url, data=req.as_bytes(), method="POST",
                                  headers={"Content-Type": "application/timestamp-query"})
    try:
        with urllib.request.urlopen(http, timeout=timeout_s) as resp:
            data: bytes = resp.read()
    except (urllib.error.URLError, OSError) as e:
        raise TimestampError(f"timestamp authority {url}: {getattr(e, 'reason', e)}") from None
    try:
        tsr = r.decode_timestamp_response(data)
    except ValueError as e:
        raise TimestampError(f"timestamp authority {url}: not a TimeStampResp ({e})") from None
    if tsr.status not in (0, 1):  # granted, grantedWithMods
        raise TimestampError(f"timestamp authority {url} refused: status {tsr.status} {tsr.status_string}")
    if tsr.tst_info.message_imprint.message != req.message_imprint.message or tsr.tst_info.nonce != req.nonce:
        raise TimestampError(f"timestamp authority {url} answered another request (imprint or nonce differ)")
    return data


def verify_timestamp(tsr_der: bytes, message: bytes, root_pem: bytes) -> datetime.datetime:
    """The token's time if it is signed by a TSA chaining to ``root_pem`` and covers ``message``."""
    r = _lib()
    from cryptography import x509

    try:
        tsr = r.decode_timestamp_response(tsr_der)
        roots = x509.load_pem_x509_certificates(root_pem)
    except ValueError as e:
        raise TimestampError(f"timestamp: unreadable ({e})") from None
    builder = r.VerifierBuilder()
    for root in roots:
        builder = builder.add_root_certificate(root)
    try:
        builder.build().verify_message(tsr, message)
    except r.VerificationError as e:
        raise TimestampError(f"timestamp does not verify: {e}") from None
    return tsr.tst_info.gen_time


def stamp_export(directory: str | Path, url: str) -> datetime.datetime:
    from provenance.note import parse_checkpoint

    d = Path(directory)
    body = parse_checkpoint((d / "checkpoint").read_bytes()).note.text.encode("utf-8")
    data = request_timestamp(body, url)
    atomic_write_bytes(d / TSR_FILE, data)
    return _lib().decode_timestamp_response(data).tst_info.gen_time  # type: ignore[no-any-return]
