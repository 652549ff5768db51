"""``mqtts://`` with a CA file, and user name/password, against a real TLS Mosquitto."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from iotgw.cli import main
from simulators.manifest import read_manifest
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.integration


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _certificates(d: Path) -> None:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=iotgw test CA", "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", "server.key", "-out", "server.csr", cwd=d)
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", "san.cnf", "-out", "server.pem", cwd=d)


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[Mosquitto, Path]]:
    if shutil.which("openssl") is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("needs `openssl` and `mosquitto_passwd` to set up a TLS broker")
    certs = tmp_path / "certs"
    certs.mkdir()
    _certificates(certs)
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), "sim", "s3cret"], check=True,
                   capture_output=True, timeout=60)
    passwd.chmod(0o600)
    broker = Mosquitto(tmp_path / "mosquitto", extra_config="\n".join([
        f"cafile {certs / 'ca.pem'}",
        f"certfile {certs / 'server.pem'}",
        f"keyfile {certs / 'server.key'}",
        f"password_file {passwd}",
        "allow_anonymous false",
    ]))
    broker.start()
    try:
        yield broker, certs / "ca.pem"
    finally:
        broker.kill()


def test_mqtts_with_ca_file_and_password(tls_broker: tuple[Mosquitto, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    broker, ca = tls_broker
    url = f"mqtts://127.0.0.1:{broker.port}"
    manifest = tmp_path / "m.jsonl"
    assert main(["sim", "run", "--broker", url, "--ca-file", str(ca), "--username", "sim",
                 "--password", "s3cret", "--count", "30", "--rate", "0",
                 "--manifest", str(manifest)]) == 0
    lines = list(read_manifest(manifest))
    assert len(lines) == 30 and all(ln["acked"] for ln in lines)

    assert main(["sim", "run", "--broker", url, "--ca-file", str(ca), "--username", "sim",
                 "--password", "wrong", "--count", "3"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "refused" in err[0]

    assert main(["sim", "run", "--broker", url, "--count", "3"]) == 3  # system CAs: untrusted
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot reach" in err[0] and "certificate" in err[0]
