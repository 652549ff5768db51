"""The gateway daemon loads what it runs, not what other commands or off-by-default features
need (decision 74): a structural guard on the modules of a real ``iotgw gateway run`` process.

The daemon runs with its default configuration (detectors on) and no broker (it keeps retrying
a closed port, as it would while the broker is down), until systemd's notify protocol, a unix
datagram socket this test binds, reports READY=1; then it gets SIGTERM, stops gracefully and
prints the modules it had loaded. Nothing is timed.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.support.processes import ROOT, child_env, toml_text

#: Loaded by nothing the daemon runs by default: command-line pretty-printing (httpx's own
#: command-line client pulls these in when they are installed), the per-device detector's
#: numpy (``detect.device_detector``, off), the decode worker's multiprocessing
#: (``mqtt.decode_worker``, off), the SenML-CBOR codec's cbor2 until a CBOR payload arrives
#: (decision 83), and the other command groups.
ABSENT = ("rich", "pygments", "click", "typer", "numpy", "multiprocessing", "httpx._main",
          "cbor2", "cloud", "simulators", "iotgw.ops", "iotgw.demo", "iotgw.embedded_broker",
          "fastapi", "uvicorn", "sqlalchemy")

PROGRAM = """
import json, sys
from iotgw.cli import main
code = main(sys.argv[1:])
loaded = sorted(name for name, module in sys.modules.items() if module is not None)
print("MODULES " + json.dumps(loaded), flush=True)
sys.exit(code)
"""


def _wait_ready(sock: socket.socket, proc: subprocess.Popen[str], limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(TimeoutError):
            if "READY=1" in sock.recv(4096).decode():
                return
    proc.kill()
    raise AssertionError(f"the gateway never reported READY=1:\n{proc.communicate()[0][-3000:]}")


def test_gateway_run_loads_no_cli_pretty_printing_nor_off_features(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(toml_text({
        "gateway": {"id": "imports", "data_dir": str(tmp_path / "data")},
        "mqtt": {"url": "mqtt://127.0.0.1:9"},  # nothing listens: the intake keeps retrying
        "uplink": {"url": "http://127.0.0.1:9"},
        "health": {"port": 0},
        "log": {"level": "WARNING"},
    }))
    notify = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify))
    sock.settimeout(0.5)
    proc = subprocess.Popen(
        [sys.executable, "-c", PROGRAM, "gateway", "run", "--config", str(config)],
        cwd=ROOT, env=child_env({"NOTIFY_SOCKET": str(notify)}), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_ready(sock, proc, limit_s=120)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        sock.close()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-3000:]
    line = next(x for x in out.splitlines() if x.startswith("MODULES "))
    loaded = set(json.loads(line.removeprefix("MODULES ")))
    assert {"gateway.service", "gateway.detect.bank", "httpx", "paho.mqtt.client"} <= loaded
    present = sorted(m for m in loaded if any(m == a or m.startswith(a + ".") for a in ABSENT))
    assert present == [], f"the daemon loaded {present}"
