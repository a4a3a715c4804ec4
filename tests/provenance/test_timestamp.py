"""★ RFC 3161 timestamps of checkpoints: rfc3161-client against a real ``openssl ts`` authority that the test starts
(an HTTP endpoint on a free port answering each query with ``openssl ts -reply``)."""

from __future__ import annotations

import datetime
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.local import free_port
from provenance.cli import main
from tests.provenance.helpers import make_export

OPENSSL = shutil.which("openssl")
# No `certs =` line: with extra certificates openssl writes SignedData.certificates as a SET not in DER order, which
# rfc3161-client's strict DER parser refuses; the token carries the TSA certificate and the verifier holds the root.
TSA_CONF = """
[ tsa ]
default_tsa = tsa_config1
[ tsa_config1 ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate | None,
          issuer_key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer.subject if issuer else name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2)))
    if issuer is None:
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
    else:
        b = (b.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True))
    return b.sign(issuer_key, hashes.SHA256())


def _authority(d: Path, name: str) -> Path:
    d.mkdir()
    ca_key, tsa_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _cert(f"{name} root", ca_key, None, ca_key)
    tsa = _cert(f"{name} tsa", tsa_key, ca, ca_key)
    pem = serialization.Encoding.PEM
    (d / "ca.pem").write_bytes(ca.public_bytes(pem))
    (d / "tsa.pem").write_bytes(tsa.public_bytes(pem))
    (d / "tsa.key").write_bytes(tsa_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
    (d / "serial").write_text("01\n")
    (d / "ts.cnf").write_text(TSA_CONF.format(dir=d))
    return d


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    if OPENSSL is None:
        pytest.fail("openssl not found: apt-get install -y openssl", pytrace=False)
    d = _authority(tmp_path_factory.mktemp("tsa") / "tsa", "test")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            query = self.rfile.read(int(self.headers["Content-Length"]))
            r = subprocess.run([str(OPENSSL), "ts", "-reply", "-config", str(d / "ts.cnf"), "-queryfile",
                                "/dev/stdin", "-out", "/dev/stdout"], input=query, capture_output=True, check=False)
            self.send_response(200 if r.returncode == 0 else 500)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.end_headers()
            self.wfile.write(r.stdout)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", d
    server.shutdown()


def test_checkpoint_timestamp_round_trip(tsa: tuple[str, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    url, d = tsa
    log, exp = make_export(tmp_path, 5)
    assert main(["timestamp", str(exp), "--tsa", url]) == 0
    assert "timestamped:" in capsys.readouterr().out and (exp / "checkpoint.tsr").is_file()
    assert main(["witness", str(tmp_path / "w"), str(exp), "--init", "w.example/1"]) == 0  # cosigning keeps it valid
    capsys.readouterr()
    assert main(["verify", str(exp), "--tsa-root", str(d / "ca.pem")]) == 0
    out = capsys.readouterr().out
    assert "timestamped 20" in out
    year = datetime.datetime.now(datetime.timezone.utc).year
    assert f"timestamped {year}" in out


def test_a_timestamp_of_another_checkpoint_or_authority_is_refused(tsa: tuple[str, Path], tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    url, d = tsa
    log, exp = make_export(tmp_path, 5)
    assert main(["timestamp", str(exp), "--tsa", url]) == 0
    tsr = (exp / "checkpoint.tsr").read_bytes()
    from provenance.log import export

    log.append([__import__("tests.provenance.helpers", fromlist=["entry"]).entry(9)])
    export(log, exp)  # a newer checkpoint, with the old timestamp left beside it
    (exp / "checkpoint.tsr").write_bytes(tsr)
    capsys.readouterr()
    assert main(["verify", str(exp), "--tsa-root", str(d / "ca.pem")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "timestamp does not verify" in err[0]
    other = _authority(tmp_path / "other", "other")
    assert main(["timestamp", str(exp), "--tsa", url]) == 0
    capsys.readouterr()
    assert main(["verify", str(exp), "--tsa-root", str(other / "ca.pem")]) == 1
    assert "timestamp does not verify" in capsys.readouterr().err
    (exp / "checkpoint.tsr").unlink()
    assert main(["verify", str(exp), "--tsa-root", str(d / "ca.pem")]) == 1
    assert "checkpoint.tsr: missing" in capsys.readouterr().err
    assert main(["timestamp", str(exp), "--tsa", f"http://127.0.0.1:{free_port()}/"]) == 1
    assert "timestamp authority" in capsys.readouterr().err
