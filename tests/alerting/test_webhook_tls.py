"""Webhook delivery over https to a receiver with a certificate from a private CA: the worker
connects to the address the SSRF check resolved (never resolving again) yet sends the URL's
host name as SNI and checks the certificate against it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from cloud.alerting.core.clock import ManualClock
from cloud.alerting.webhooks.ssrf import check_url
from common.settings import ConfigError
from tests.alerting.harness import T0, Cloud
from tests.alerting.receiver import Receiver
from tests.alerting.test_webhooks import cool, overheat, register
from tests.support.servers import free_port


def openssl(*args: str, cwd: Path) -> None:
    tool = shutil.which("openssl")
    if tool is None:
        pytest.skip("openssl is not installed (sudo apt-get install openssl)")
    subprocess.run([tool, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca_and_leaf(workdir: Path, name: str) -> tuple[Path, Path, Path]:
    """A private CA and a server certificate for ``name`` signed by it: (ca, cert, key)."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", "ca.key", "-out", "ca.pem", cwd=workdir)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
            "-keyout", "leaf.key", "-out", "leaf.csr", cwd=workdir)
    (workdir / "ext.cnf").write_text(f"subjectAltName=DNS:{name}\n"
                                     "extendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "leaf.pem",
            cwd=workdir)
    return workdir / "ca.pem", workdir / "leaf.pem", workdir / "leaf.key"


@pytest.mark.parametrize("cert_name", ["localhost", "other.example"])
def test_https_delivery_checks_the_certificate_against_the_urls_host(
        tmp_path: Path, cert_name: str) -> None:
    ca, cert, key = make_ca_and_leaf(tmp_path, cert_name)
    port = free_port()
    url = f"https://localhost:{port}/hook"
    address = check_url(url, allow_loopback=True, allow_private=False)[0]  # where it connects
    with Cloud(tmp_path / "cloud", ManualClock(T0), webhooks={"ca_file": str(ca)}) as cloud, \
            Receiver(lambda: cloud.clock.now_ms() / 1000, port=port, host=address,
                     tls=(str(cert), str(key))) as receiver:
        cloud.rule(name="hot", kind="threshold", op="above", limit=90.0, clear=80.0)
        hook = register(cloud, url, receiver)
        overheat(cloud)
        cool(cloud)
        cloud.deliver()
        deliveries = cloud.client.get(f"/v1/webhooks/{hook['id']}/deliveries").json()
        if cert_name == "localhost":  # the certificate names the URL's host: delivered
            assert [json.loads(r["body"])["type"] for r in receiver.received] == [
                "alert.firing", "alert.resolved"]
            assert all(r["valid"] for r in receiver.received)
            assert receiver.received[0]["headers"]["host"] == f"localhost:{port}"
            assert {d["state"] for d in deliveries} == {"delivered"}
        else:  # a certificate for another name: refused, kept for retry, nothing received
            assert receiver.received == []
            assert {d["state"] for d in deliveries} == {"pending"}
            errors = " ".join(a["error"] or "" for d in deliveries for a in d["attempt_log"])
            assert "CERTIFICATE_VERIFY_FAILED" in errors or "certificate" in errors.lower()


def test_a_missing_ca_file_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ca_file"):
        Cloud(tmp_path, ManualClock(T0), webhooks={"ca_file": str(tmp_path / "nope.pem")})
