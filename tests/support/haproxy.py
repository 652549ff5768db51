"""A real HAProxy (Debian's ``haproxy``) balancing cloud replicas on free loopback ports.

The config is generated into a throwaway directory: one HTTP frontend, one backend with the
replicas, health-checked on the cloud's ``/readyz`` every half second (down after 2 failures,
up after 2 successes), connection failures retried and redispatched to another replica. A
request that dies with its replica mid-flight fails with 502: the gateway retries it, and the
cloud's idempotent ingest makes the retry harmless.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from pathlib import Path

from iotgw.processes import LOOPBACK, free_port, http_ok
from tests.support.servers import _Server, need_binary

HAPROXY_HINT = ("install it with `sudo apt-get install haproxy` "
                "(or run `bash scripts/install-deps.sh`)")


def haproxy_config(port: int, backends: Sequence[tuple[str, int]], stats_port: int) -> str:
    """The balancer's config: ``backends`` are ``(host, port)`` of the cloud replicas."""
    servers = "\n".join(
        f"  server r{i} {host}:{p} check" for i, (host, p) in enumerate(backends))
    return f"""global
  maxconn 2000
  user {getpass.getuser()}

defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 10s
  retries 3
  option redispatch
  option httplog

frontend cloud
  bind {LOOPBACK}:{port}
  default_backend replicas

frontend stats
  bind {LOOPBACK}:{stats_port}
  http-request return status 200 content-type text/plain string ok if {{ path /ok }}
  stats enable
  stats uri /stats

backend replicas
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 500ms fall 2 rise 2
{servers}
"""


class HAProxy(_Server):
    """``haproxy -db -f haproxy.cfg`` in the foreground; ``url`` is the balanced cloud."""

    name = "haproxy"

    def __init__(self, workdir: Path, backends: Sequence[tuple[str, int]]) -> None:
        super().__init__(workdir)
        self.binary = need_binary("haproxy", HAPROXY_HINT)
        self.host = LOOPBACK
        self.port = free_port()
        self.stats_port = free_port()
        self.backends = list(backends)
        self.config_path = workdir / "haproxy.cfg"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        self.config_path.write_text(haproxy_config(self.port, self.backends, self.stats_port))
        return [self.binary, "-db", "-f", str(self.config_path)]

    def wait_ready(self) -> None:
        self.wait_port(self.port, 15.0)
        self.wait_for(lambda: http_ok(f"http://{LOOPBACK}:{self.stats_port}/ok", 1), 15.0,
                      "answer on its stats port")

    def check(self) -> None:
        """``haproxy -c``: the generated config is valid (raises with haproxy's message)."""
        import subprocess

        self.config_path.write_text(haproxy_config(self.port, self.backends, self.stats_port))
        out = subprocess.run([self.binary, "-c", "-f", str(self.config_path)],
                             capture_output=True, text=True, check=False, timeout=30)
        if out.returncode != 0:
            raise RuntimeError(f"haproxy -c failed: {out.stdout}{out.stderr}")
